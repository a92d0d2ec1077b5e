/*
 * metrics.c — imei-eird's counters in the Prometheus text exposition format (0.0.4):
 * responses by code and protocol, verdicts by status, reasons by condition and status,
 * policy failures, a latency histogram of equipment-status requests, connections,
 * reloads, and each worker engine's memory. Each worker writes only its own counters;
 * rendering sums them over the workers.
 */
#include <stdio.h>
#include <string.h>

#include "eird.h"

const double eird_buckets[EIRD_NBUCKETS - 1] = { 5e-6,   10e-6,  20e-6, 50e-6, 100e-6, 250e-6, 500e-6,
                                                 1e-3,   2.5e-3, 5e-3,  10e-3, 50e-3,  250e-3 };

static const int code_values[EIRD_NCODES] = { 200, 400, 404, 405, 413, 414, 431, 500, 503, 0 };

int eird_code_slot(int status)
{
	for (int i = 0; i < EIRD_COTHER; i++)
		if (code_values[i] == status)
			return i;
	return EIRD_COTHER;
}

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
	atomic_store_explicit(&m->nreasons, n + 1, memory_order_release); /* publish the slot */
	return s;
}

void eird_count_verdict(struct eird_metrics *m, const struct imei_verdict *v)
{
	eird_inc(&m->verdicts[v->status & 3]);
	if (v->failed)
		eird_inc(&m->failures);
	for (size_t i = 0; i < v->nreasons; i++) {
		struct eird_reason_slot *s = reason_slot(m, v->reasons[i].condition, (int)v->reasons[i].status);
		if (s)
			eird_inc(&s->count);
		else
			eird_inc(&m->reasons_dropped);
	}
}

static uint64_t rd(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
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

void eird_metrics_render(struct eird_server *srv, struct ebuf *b)
{
	size_t nw = srv->nworkers;

	help(b, "imei_eir_http_responses_total", "counter", "HTTP responses by status code and protocol.");
	for (int c = 0; c < EIRD_NCODES; c++)
		for (int p = 0; p < 2; p++) {
			uint64_t sum = 0;
			for (size_t i = 0; i < nw; i++)
				sum += rd(&srv->workers[i].m.responses[c][p]);
			if (sum == 0 && c != EIRD_C200)
				continue;
			if (c == EIRD_COTHER)
				ebuf_printf(b, "imei_eir_http_responses_total{code=\"other\",protocol=\"%s\"} %llu\n",
				            p ? "h2" : "http/1.1", (unsigned long long)sum);
			else
				ebuf_printf(b, "imei_eir_http_responses_total{code=\"%d\",protocol=\"%s\"} %llu\n",
				            code_values[c], p ? "h2" : "http/1.1", (unsigned long long)sum);
		}

	help(b, "imei_eir_checks_total", "counter", "Equipment checks by the verdict's status.");
	for (int s = 0; s < 4; s++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < nw; i++)
			sum += rd(&srv->workers[i].m.verdicts[s]);
		ebuf_printf(b, "imei_eir_checks_total{status=\"%s\"} %llu\n", imei_status_name((enum imei_status)s),
		            (unsigned long long)sum);
	}

	help(b, "imei_eir_check_reasons_total", "counter",
	     "Reasons given in verdicts, by the policy condition and the status it asked for.");
	for (size_t i = 0; i < nw; i++) {
		struct eird_metrics *m = &srv->workers[i].m;
		size_t n = atomic_load_explicit(&m->nreasons, memory_order_acquire);
		for (size_t r = 0; r < n; r++) {
			const struct eird_reason_slot *s = &m->reasons[r];
			/* sum this (condition, status) over the workers, once: at its first worker */
			bool seen = false;
			for (size_t j = 0; j < i && !seen; j++) {
				struct eird_metrics *o = &srv->workers[j].m;
				size_t on = atomic_load_explicit(&o->nreasons, memory_order_acquire);
				for (size_t k = 0; k < on; k++)
					if (o->reasons[k].status == s->status && strcmp(o->reasons[k].condition, s->condition) == 0)
						seen = true;
			}
			if (seen)
				continue;
			uint64_t sum = 0;
			for (size_t j = i; j < nw; j++) {
				struct eird_metrics *o = &srv->workers[j].m;
				size_t on = atomic_load_explicit(&o->nreasons, memory_order_acquire);
				for (size_t k = 0; k < on; k++)
					if (o->reasons[k].status == s->status && strcmp(o->reasons[k].condition, s->condition) == 0)
						sum += rd(&o->reasons[k].count);
			}
			ebuf_str(b, "imei_eir_check_reasons_total{condition=\"");
			label(b, s->condition);
			ebuf_printf(b, "\",status=\"%s\"} %llu\n", imei_status_name((enum imei_status)s->status),
			            (unsigned long long)sum);
		}
	}

	uint64_t failures = 0, dropped = 0, accepted = 0, rejected = 0, open = 0, count = 0, sum_ns = 0;
	uint64_t hist[EIRD_NBUCKETS] = { 0 };
	for (size_t i = 0; i < nw; i++) {
		struct eird_metrics *m = &srv->workers[i].m;
		failures += rd(&m->failures);
		dropped += rd(&m->reasons_dropped);
		accepted += rd(&m->conns_accepted);
		rejected += rd(&m->conns_rejected);
		open += rd(&m->conns_open);
		count += rd(&m->hist_count);
		sum_ns += rd(&m->hist_sum_ns);
		for (int k = 0; k < EIRD_NBUCKETS; k++)
			hist[k] += rd(&m->hist[k]);
	}
	help(b, "imei_eir_check_failures_total", "counter",
	     "Checks where the policy failed (error, instruction budget, memory cap); answered with on_error.");
	ebuf_printf(b, "imei_eir_check_failures_total %llu\n", (unsigned long long)failures);
	help(b, "imei_eir_check_reasons_dropped_total", "counter", "Reasons not counted: too many distinct ones.");
	ebuf_printf(b, "imei_eir_check_reasons_dropped_total %llu\n", (unsigned long long)dropped);

	help(b, "imei_eir_request_duration_seconds", "histogram",
	     "Time to answer an equipment-status request, from the complete request to the queued response.");
	uint64_t cum = 0;
	for (int k = 0; k < EIRD_NBUCKETS - 1; k++) {
		cum += hist[k];
		ebuf_printf(b, "imei_eir_request_duration_seconds_bucket{le=\"%g\"} %llu\n", eird_buckets[k],
		            (unsigned long long)cum);
	}
	cum += hist[EIRD_NBUCKETS - 1];
	ebuf_printf(b, "imei_eir_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	ebuf_printf(b, "imei_eir_request_duration_seconds_sum %.9f\n", (double)sum_ns / 1e9);
	ebuf_printf(b, "imei_eir_request_duration_seconds_count %llu\n", (unsigned long long)count);

	help(b, "imei_eir_connections_accepted_total", "counter", "Connections accepted.");
	ebuf_printf(b, "imei_eir_connections_accepted_total %llu\n", (unsigned long long)accepted);
	help(b, "imei_eir_connections_rejected_total", "counter", "Connections closed at once: over --max-connections.");
	ebuf_printf(b, "imei_eir_connections_rejected_total %llu\n", (unsigned long long)rejected);
	help(b, "imei_eir_connections_open", "gauge", "Connections open now.");
	ebuf_printf(b, "imei_eir_connections_open %llu\n", (unsigned long long)open);

	help(b, "imei_eir_reloads_total", "counter", "Reloads (SIGHUP) of policy and lists, by result.");
	ebuf_printf(b, "imei_eir_reloads_total{result=\"ok\"} %llu\nimei_eir_reloads_total{result=\"failed\"} %llu\n",
	            (unsigned long long)atomic_load(&srv->reloads_ok),
	            (unsigned long long)atomic_load(&srv->reloads_failed));

	help(b, "imei_eir_engine_memory_bytes", "gauge", "Memory held by each worker's policy sandbox.");
	uint64_t budget = 0, memory = 0;
	for (size_t i = 0; i < nw; i++) {
		struct imei_engine_stats st;
		imei_engine_stats(srv->workers[i].engine, &st);
		budget += st.budget_exceeded;
		memory += st.memory_exceeded;
		ebuf_printf(b, "imei_eir_engine_memory_bytes{worker=\"%zu\"} %zu\n", i, st.memory_used);
	}
	help(b, "imei_eir_policy_budget_exceeded_total", "counter", "Checks stopped by the instruction budget.");
	ebuf_printf(b, "imei_eir_policy_budget_exceeded_total %llu\n", (unsigned long long)budget);
	help(b, "imei_eir_policy_memory_exceeded_total", "counter", "Checks stopped by the memory cap.");
	ebuf_printf(b, "imei_eir_policy_memory_exceeded_total %llu\n", (unsigned long long)memory);

	char name[160];
	eird_policy_name(&srv->workers[0], name, sizeof name);
	help(b, "imei_eir_policy_info", "gauge", "The policy in force (name@version).");
	ebuf_str(b, "imei_eir_policy_info{policy=\"");
	label(b, name);
	ebuf_str(b, "\"} 1\n");
	help(b, "imei_eir_workers", "gauge", "Worker threads, each with its own engine.");
	ebuf_printf(b, "imei_eir_workers %zu\n", nw);
	help(b, "imei_eir_start_time_seconds", "gauge", "Start time of the process, UTC seconds.");
	ebuf_printf(b, "imei_eir_start_time_seconds %lld\n", srv->started);
	if (srv->s13)
		eird_s13_metrics_render(srv->s13, b);
}
