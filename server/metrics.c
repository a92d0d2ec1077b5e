/*
 * metrics.c — imei-eird's protocol-neutral counters in the Prometheus text exposition
 * format (0.0.4): checks by verdict, reasons by condition and status (and how many of
 * them failed), policy failures, a histogram of check time, connections, reloads (done,
 * failed, hung), watchdog recycles and each worker engine's memory; then each front
 * end's own counters. Also the /health document. Each worker writes only its own
 * counters; rendering sums them over the workers (retired ones included, so counters
 * never go back) and takes no engine lock.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "imei_sightings.h"
#include "service.h"

const double eird_buckets[EIRD_NBUCKETS - 1] = { 5e-6,   10e-6,  20e-6, 50e-6, 100e-6, 250e-6, 500e-6,
                                                 1e-3,   2.5e-3, 5e-3,  10e-3, 50e-3,  250e-3 };

/* The slot of (condition, status), created on first sight; NULL when the table is full. */
static struct eird_reason_slot *reason_slot(struct eird_metrics *m, const char *cond, int status)
{
	size_t n = atomic_load_explicit(&m->nreasons, memory_order_relaxed);
	for (size_t i = 0; i < n; i++)
		if (m->reasons[i].status == status && strcmp(m->reasons[i].condition, cond) == 0)
			return &m->reasons[i];
	if (n == EIRD_MAX_REASONS)
		return NULL;
	struct eird_reason_slot *s = &m->reasons[n];
	snprintf(s->condition, sizeof s->condition, "%s", cond);
	s->status = status;
	atomic_store_explicit(&s->count, 0, memory_order_relaxed);
	atomic_store_explicit(&s->failed, 0, memory_order_relaxed);
	atomic_store_explicit(&m->nreasons, n + 1, memory_order_release); /* publish the slot */
	return s;
}

void eird_count_verdict(struct eird_metrics *m, const struct imei_verdict *v)
{
	eird_inc(&m->verdicts[v->status & 3]);
	if (v->failed)
		eird_inc(&m->failures);
	for (size_t i = 0; i < v->nreasons; i++) {
		const struct imei_reason *r = &v->reasons[i];
		struct eird_reason_slot *s = reason_slot(m, r->condition ? r->condition : "?", (int)r->status);
		bool failed = eird_reason_failed(r);
		if (failed)
			eird_inc(&m->failed_conditions);
		if (s) {
			eird_inc(&s->count);
			if (failed)
				eird_inc(&s->failed);
		} else {
			eird_inc(&m->reasons_dropped);
		}
	}
}

static uint64_t rd(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Every worker whose counters count: the slots, then the retired. Under workers_lock. */
#define FOR_EACH_WORKER(srv, w)                                                                                   \
	for (size_t i_ = 0; i_ <= (srv)->nworkers; i_++)                                                          \
		for (struct eird_worker *w = i_ < (srv)->nworkers ? (srv)->workers[i_] : (srv)->retired; w;       \
		     w = i_ < (srv)->nworkers ? NULL : w->retired_next)

uint64_t eird_metrics_sum(struct eird_server *srv, size_t offset)
{
	uint64_t sum = 0;
	pthread_rwlock_rdlock(&srv->workers_lock);
	FOR_EACH_WORKER(srv, w)
	sum += rd((const _Atomic uint64_t *)(const void *)((const char *)&w->m + offset));
	pthread_rwlock_unlock(&srv->workers_lock);
	return sum;
}

/* A label value: backslash, quote and newline escaped; other bytes as they are. */
static void label(struct ebuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			ebuf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			ebuf_str(b, "\\n");
		else
			ebuf_add(b, s, 1);
	}
}

static void help(struct ebuf *b, const char *name, const char *type, const char *text)
{
	ebuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static bool same_slot(const struct eird_reason_slot *a, const struct eird_reason_slot *b)
{
	return a->status == b->status && strcmp(a->condition, b->condition) == 0;
}

/* Reasons summed over the workers: each (condition, status) printed once, at its first
 * worker. Under workers_lock. */
static void render_reasons(struct eird_server *srv, struct ebuf *b, bool failed_only)
{
	size_t idx = 0;
	FOR_EACH_WORKER(srv, w)
	{
		size_t n = atomic_load_explicit(&w->m.nreasons, memory_order_acquire);
		for (size_t r = 0; r < n; r++) {
			const struct eird_reason_slot *s = &w->m.reasons[r];
			bool seen = false;
			uint64_t sum = 0;
			size_t jdx = 0;
			FOR_EACH_WORKER(srv, o)
			{
				size_t on = atomic_load_explicit(&o->m.nreasons, memory_order_acquire);
				for (size_t k = 0; k < on; k++) {
					if (!same_slot(&o->m.reasons[k], s))
						continue;
					if (jdx < idx)
						seen = true;
					else
						sum += rd(failed_only ? &o->m.reasons[k].failed : &o->m.reasons[k].count);
				}
				jdx++;
			}
			if (seen || (failed_only && sum == 0))
				continue;
			ebuf_str(b, failed_only ? "imei_eir_check_failed_conditions_by_condition_total{condition=\""
			                        : "imei_eir_check_reasons_total{condition=\"");
			label(b, s->condition);
			ebuf_printf(b, "\",status=\"%s\"} %llu\n", imei_status_name((enum imei_status)s->status),
			            (unsigned long long)sum);
		}
		idx++;
	}
}

#define SUM(field) eird_metrics_sum(srv, offsetof(struct eird_metrics, field))

/* The sightings store's counters (imei_store_counters: no I/O, so /metrics answers
 * while a Redis store is away). Nothing when the service has no store. */
static void store_metrics(struct ebuf *b, struct imei_store *st)
{
	if (!st)
		return;
	struct imei_store_counters c;
	imei_store_counters(st, &c);
	help(b, "imei_store_sightings_recorded", "counter", "Sightings accepted by the store.");
	ebuf_printf(b, "imei_store_sightings_recorded %llu\n", (unsigned long long)c.recorded);
	help(b, "imei_store_sightings_written", "counter", "Sightings the store's server acknowledged.");
	ebuf_printf(b, "imei_store_sightings_written %llu\n", (unsigned long long)c.written);
	help(b, "imei_store_sightings_buffered", "gauge", "Sightings accepted, not yet written (store away or batching).");
	ebuf_printf(b, "imei_store_sightings_buffered %llu\n", (unsigned long long)c.buffered);
	help(b, "imei_store_sightings_dropped", "counter", "Sightings refused because the buffer was full.");
	ebuf_printf(b, "imei_store_sightings_dropped %llu\n", (unsigned long long)c.dropped);
	help(b, "imei_store_connection_failures", "counter", "Store connections that failed or timed out.");
	ebuf_printf(b, "imei_store_connection_failures %llu\n", (unsigned long long)c.failures);
	help(b, "imei_store_redirects", "counter", "Redis Cluster MOVED/ASK redirects followed.");
	ebuf_printf(b, "imei_store_redirects %llu\n", (unsigned long long)c.redirects);
}

void eird_metrics_render(struct eird_server *srv, struct ebuf *b)
{
	help(b, "imei_eir_checks_total", "counter", "Equipment checks by the verdict's status.");
	for (int s = 0; s < 4; s++)
		ebuf_printf(b, "imei_eir_checks_total{status=\"%s\"} %llu\n", imei_status_name((enum imei_status)s),
		            (unsigned long long)eird_metrics_sum(srv, offsetof(struct eird_metrics, verdicts) +
		                                                          (size_t)s * sizeof(_Atomic uint64_t)));

	pthread_rwlock_rdlock(&srv->workers_lock);
	help(b, "imei_eir_check_reasons_total", "counter",
	     "Reasons given in verdicts, by the policy condition and the status it asked for.");
	render_reasons(srv, b, false);
	help(b, "imei_eir_check_failed_conditions_by_condition_total", "counter",
	     "Conditions that failed (error, budget) and decided nothing, by condition.");
	render_reasons(srv, b, true);
	pthread_rwlock_unlock(&srv->workers_lock);

	help(b, "imei_eir_check_failures_total", "counter",
	     "Checks where the policy failed (error, instruction budget, memory cap, watchdog); answered with "
	     "on_error.");
	ebuf_printf(b, "imei_eir_check_failures_total %llu\n",
	            (unsigned long long)(SUM(failures) + atomic_load(&srv->watchdog_recycles)));
	help(b, "imei_eir_check_failed_conditions_total", "counter",
	     "Conditions reported as failed in verdicts (each decided nothing; the others still decided).");
	ebuf_printf(b, "imei_eir_check_failed_conditions_total %llu\n", (unsigned long long)SUM(failed_conditions));
	help(b, "imei_eir_check_reasons_dropped_total", "counter", "Reasons not counted: too many distinct ones.");
	ebuf_printf(b, "imei_eir_check_reasons_dropped_total %llu\n", (unsigned long long)SUM(reasons_dropped));

	help(b, "imei_eir_request_duration_seconds", "histogram",
	     "Time of an equipment check on the engine (any protocol), from the request to the verdict.");
	uint64_t cum = 0;
	for (int k = 0; k < EIRD_NBUCKETS; k++) {
		cum += eird_metrics_sum(srv, offsetof(struct eird_metrics, hist) + (size_t)k * sizeof(_Atomic uint64_t));
		if (k < EIRD_NBUCKETS - 1)
			ebuf_printf(b, "imei_eir_request_duration_seconds_bucket{le=\"%g\"} %llu\n", eird_buckets[k],
			            (unsigned long long)cum);
	}
	ebuf_printf(b, "imei_eir_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	ebuf_printf(b, "imei_eir_request_duration_seconds_sum %.9f\n", (double)SUM(hist_sum_ns) / 1e9);
	ebuf_printf(b, "imei_eir_request_duration_seconds_count %llu\n", (unsigned long long)SUM(hist_count));

	help(b, "imei_eir_connections_accepted_total", "counter", "Connections accepted.");
	ebuf_printf(b, "imei_eir_connections_accepted_total %llu\n", (unsigned long long)SUM(conns_accepted));
	help(b, "imei_eir_connections_rejected_total", "counter",
	     "Connections closed at once: over --max-connections or --max-per-client.");
	ebuf_printf(b, "imei_eir_connections_rejected_total %llu\n", (unsigned long long)SUM(conns_rejected));
	help(b, "imei_eir_connections_open", "gauge", "Connections open now.");
	ebuf_printf(b, "imei_eir_connections_open %u\n", atomic_load(&srv->conns_total));

	help(b, "imei_eir_reloads_total", "counter",
	     "Reloads (SIGHUP) of policy, lists and TAC image, by result (hung: refused after --reload-timeout).");
	ebuf_printf(b,
	            "imei_eir_reloads_total{result=\"ok\"} %llu\nimei_eir_reloads_total{result=\"failed\"} %llu\n"
	            "imei_eir_reloads_total{result=\"hung\"} %llu\n",
	            (unsigned long long)atomic_load(&srv->reloads_ok),
	            (unsigned long long)atomic_load(&srv->reloads_failed),
	            (unsigned long long)atomic_load(&srv->reloads_hung));
	help(b, "imei_eir_watchdog_recycles_total", "counter",
	     "Workers stuck in a check past --watchdog: the check answered on_error, the worker replaced.");
	ebuf_printf(b, "imei_eir_watchdog_recycles_total %llu\n",
	            (unsigned long long)atomic_load(&srv->watchdog_recycles));

	help(b, "imei_eir_engine_memory_bytes", "gauge", "Memory held by each worker's policy sandbox.");
	pthread_rwlock_rdlock(&srv->workers_lock);
	for (size_t i = 0; i < srv->nworkers; i++)
		ebuf_printf(b, "imei_eir_engine_memory_bytes{worker=\"%zu\"} %zu\n", i,
		            atomic_load_explicit(&srv->workers[i]->m.memory_used, memory_order_relaxed));
	pthread_rwlock_unlock(&srv->workers_lock);
	help(b, "imei_eir_policy_budget_exceeded_total", "counter", "Checks stopped by the instruction budget.");
	ebuf_printf(b, "imei_eir_policy_budget_exceeded_total %llu\n", (unsigned long long)SUM(budget_exceeded));
	help(b, "imei_eir_policy_memory_exceeded_total", "counter", "Checks stopped by the memory cap.");
	ebuf_printf(b, "imei_eir_policy_memory_exceeded_total %llu\n", (unsigned long long)SUM(memory_exceeded));
	help(b, "imei_eir_sightings_unrecorded_total", "counter",
	     "Checks whose sighting (--record) could not be recorded: a field the store refuses, or the store's error.");
	ebuf_printf(b, "imei_eir_sightings_unrecorded_total %llu\n", (unsigned long long)SUM(sightings_unrecorded));

	char name[160];
	eird_policy_name(srv, name, sizeof name);
	help(b, "imei_eir_policy_info", "gauge", "The policy in force (name@version).");
	ebuf_str(b, "imei_eir_policy_info{policy=\"");
	label(b, name);
	ebuf_str(b, "\"} 1\n");
	help(b, "imei_eir_workers", "gauge", "Worker threads, each with its own engine.");
	ebuf_printf(b, "imei_eir_workers %zu\n", srv->nworkers);
	help(b, "imei_eir_start_time_seconds", "gauge", "Start time of the process, UTC seconds.");
	ebuf_printf(b, "imei_eir_start_time_seconds %lld\n", srv->started);
	store_metrics(b, srv->ecfg.store);
	eird_metrics_process(srv, b);

	for (size_t i = 0; i < srv->nfe; i++)
		if (srv->fe[i]->metrics)
			srv->fe[i]->metrics(srv->fe[i], srv, b);
}

void eird_health_render(struct eird_server *srv, struct ebuf *b, bool *up)
{
	bool stopping = atomic_load(&srv->stopping);
	*up = !stopping;
	ebuf_str(b, stopping ? "{\"status\":\"STOPPING\",\"policy\":" : "{\"status\":\"UP\",\"policy\":");
	pthread_mutex_lock(&srv->state_lock);
	ebuf_json_str(b, srv->policy_name, strlen(srv->policy_name));
	ebuf_printf(b, ",\"workers\":%zu,\"reloads\":%llu,\"reload_failures\":%llu,\"reloads_hung\":%llu", srv->nworkers,
	            (unsigned long long)atomic_load(&srv->reloads_ok),
	            (unsigned long long)atomic_load(&srv->reloads_failed),
	            (unsigned long long)atomic_load(&srv->reloads_hung));
	if (srv->reload_error[0]) {
		ebuf_str(b, ",\"last_reload_error\":");
		ebuf_json_str(b, srv->reload_error, strlen(srv->reload_error));
	}
	ebuf_printf(b, ",\"watchdog_recycles\":%llu", (unsigned long long)atomic_load(&srv->watchdog_recycles));
	if (srv->lists_json.len) {
		ebuf_str(b, ",\"lists\":");
		ebuf_add(b, srv->lists_json.data, srv->lists_json.len);
	}
	pthread_mutex_unlock(&srv->state_lock);
	ebuf_str(b, "}");
}
