/*
 * worker.c — one imei-eird worker thread: its libev loop, its engine, the access log
 * buffer, the engine statistics it copies for /metrics, and the graceful stop (front
 * ends stop accepting and drain, what is left is closed after the grace period). The
 * front ends put their own watchers (listeners, connections) on the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service.h"

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	struct eird_worker *w = t->data;
	eird_log_flush(w);
	/* the engine's counters, copied here so /metrics never waits on this engine */
	struct imei_engine_stats st;
	imei_engine_stats(w->engine, &st);
	atomic_store_explicit(&w->m.budget_exceeded, st.budget_exceeded, memory_order_relaxed);
	atomic_store_explicit(&w->m.memory_exceeded, st.memory_exceeded, memory_order_relaxed);
	atomic_store_explicit(&w->m.sightings_unrecorded, st.sightings_unrecorded, memory_order_relaxed);
	atomic_store_explicit(&w->m.memory_used, st.memory_used, memory_order_relaxed);
}

static void close_all(struct eird_worker *w)
{
	for (size_t i = 0; i < w->srv->nfe; i++)
		if (w->srv->fe[i]->worker_close)
			w->srv->fe[i]->worker_close(w->srv->fe[i], w);
}

static void on_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct eird_worker *w = t->data;
	if (w->nconns)
		eird_logf(w->srv, "worker %u: grace period over, closing %zu connection(s)", w->id, w->nconns);
	close_all(w);
	ev_break(loop, EVBREAK_ONE);
}

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)revents;
	struct eird_worker *w = a->data;
	if (!atomic_load(&w->srv->stopping) || w->stopping)
		return;
	w->stopping = true;
	ev_timer_set(&w->grace_timer, w->srv->cfg.grace, 0.);
	ev_timer_start(loop, &w->grace_timer);
	for (size_t i = 0; i < w->srv->nfe; i++)
		if (w->srv->fe[i]->worker_drain)
			w->srv->fe[i]->worker_drain(w->srv->fe[i], w);
	if (w->nconns == 0)
		ev_break(loop, EVBREAK_ONE);
}

struct eird_worker *eird_worker_new(struct eird_server *srv, unsigned id, char *err, size_t errlen)
{
	struct eird_worker *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->srv = srv;
	w->id = id;
	ebuf_init(&w->log);
	pthread_mutex_lock(&srv->state_lock); /* a reload may be swapping ecfg's objects */
	w->engine = imei_engine_new(&srv->ecfg, err, errlen);
	pthread_mutex_unlock(&srv->state_lock);
	if (!w->engine) {
		free(w);
		return NULL;
	}
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!w->loop) {
		snprintf(err, errlen, "cannot create the event loop of worker %u", id);
		imei_engine_free(w->engine);
		free(w);
		return NULL;
	}
	ev_async_init(&w->wake, on_wake);
	w->wake.data = w;
	ev_timer_init(&w->tick, on_tick, 0.25, 0.25);
	w->tick.data = w;
	ev_init(&w->grace_timer, on_grace);
	w->grace_timer.data = w;
	ev_async_start(w->loop, &w->wake);
	ev_timer_start(w->loop, &w->tick);
	return w;
}

static void *worker_main(void *arg)
{
	struct eird_worker *w = arg;
	ev_run(w->loop, 0);
	if (!atomic_load(&w->abandoned))
		close_all(w);
	/* an abandoned worker leaves its connections to eird_worker_free (the watchdog shut
	 * their sockets down; the memory is still this worker's) */
	eird_log_flush(w);
	atomic_store(&w->exited, 1);
	return NULL;
}

int eird_worker_start(struct eird_worker *w)
{
	for (size_t i = 0; i < w->srv->nfe; i++)
		if (w->srv->fe[i]->worker_start && w->srv->fe[i]->worker_start(w->srv->fe[i], w) != 0)
			return -1;
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
		return -1;
	w->started = true;
	return 0;
}

void eird_worker_stop(struct eird_worker *w)
{
	ev_async_send(w->loop, &w->wake);
}

void eird_worker_free(struct eird_worker *w)
{
	if (!w)
		return;
	if (w->loop) {
		close_all(w);
		ev_loop_destroy(w->loop);
	}
	ebuf_free(&w->log);
	imei_engine_free(w->engine);
	free(w);
}
