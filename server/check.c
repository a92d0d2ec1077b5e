/*
 * check.c — the check service every front end calls: one equipment check on the
 * worker's engine, with the counters (verdicts, failures, failed conditions, check time)
 * and the watchdog's arming around it (service.h). Protocol-neutral: the front end maps
 * its request to struct imei_request before and the verdict to its answer after.
 */
#include <string.h>
#include <time.h>

#include "service.h"

uint64_t eird_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Arm the watchdog: it may take the engine call over (RUNNING -> HUNG) once it runs past
 * --watchdog; the release store publishes w->hang and the connection's state. */
uint64_t eird_engine_call_begin(struct eird_worker *w, const char *pei)
{
	uint64_t t0 = eird_now_ns();
	atomic_store_explicit(&w->check_started, t0, memory_order_relaxed);
	atomic_store_explicit(&w->check_state, EIRD_CHECK_RUNNING, memory_order_release);
	if (w->srv->fault_hang_pei && pei && strcmp(pei, w->srv->fault_hang_pei) == 0)
		for (;;) { /* the test of the watchdog: a thread stuck in C for good */
			struct timespec ts = { 1, 0 };
			nanosleep(&ts, NULL);
		}
	return t0;
}

/* Disarm it: false when the watchdog answered this request and gave up on the worker
 * meanwhile (then wait, bounded, until it is done with the sockets, and let the worker's
 * loop end). */
bool eird_engine_call_end(struct eird_worker *w)
{
	int expect = EIRD_CHECK_RUNNING;
	bool ours = atomic_compare_exchange_strong_explicit(&w->check_state, &expect, EIRD_CHECK_IDLE,
	                                                    memory_order_acq_rel, memory_order_acquire);
	if (!ours) {
		for (int i = 0; i < 2000 && !atomic_load(&w->hang_answered); i++) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL); /* at most 2 s: the watchdog's writes are bounded */
		}
		ev_break(w->loop, EVBREAK_ALL);
	}
	w->hang.answer = NULL;
	return ours;
}

int eird_check(struct eird_worker *w, const struct imei_request *req, struct imei_verdict *v)
{
	uint64_t t0 = eird_engine_call_begin(w, req->pei);
	int rc = imei_engine_check(w->engine, req, v);
	if (!eird_engine_call_end(w))
		return EIRD_CHECK_ABANDONED;
	uint64_t ns = eird_now_ns() - t0;
	eird_count_verdict(&w->m, v);
	size_t b = 0;
	while (b < EIRD_NBUCKETS - 1 && (double)ns > eird_buckets[b] * 1e9)
		b++;
	eird_inc(&w->m.hist[b]);
	eird_add(&w->m.hist_sum_ns, ns);
	eird_inc(&w->m.hist_count);
	for (size_t i = 0; i < v->nreasons; i++) {
		if (!eird_reason_failed(&v->reasons[i]))
			continue;
		/* A condition failed and decided nothing; the others still did (issue 10 §3).
		 * Counted by eird_count_verdict; said on stderr at the 1st, 2nd, 4th… */
		uint64_t n = atomic_load_explicit(&w->m.failed_conditions, memory_order_relaxed);
		if ((n & (n - 1)) == 0)
			eird_logf(w->srv, "worker %u: condition %s failed (%llu failed conditions so far): %s", w->id,
			          v->reasons[i].condition ? v->reasons[i].condition : "?", (unsigned long long)n,
			          v->reasons[i].error ? v->reasons[i].error : "?");
	}
	if (rc < 0) {
		/* The policy failed: the engine answers with its on_error status; say why once
		 * in a while (the access log has every request). */
		uint64_t n = atomic_load_explicit(&w->m.failures, memory_order_relaxed);
		if ((n & (n - 1)) == 0)
			eird_logf(w->srv, "worker %u: policy failed (%llu so far): %s", w->id, (unsigned long long)n,
			          v->error ? v->error : "?");
	}
	return rc;
}
