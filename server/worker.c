#define _GNU_SOURCE /* accept4 */
/*
 * worker.c — one imei-eird worker thread: its libev loop, its engine, accepting from the
 * shared listening socket, the access log buffer, and the graceful stop (stop accepting,
 * drain connections, force-close what is left after the grace period).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eird.h"

static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
		port = ntohs(in->sin_port);
		snprintf(buf, len, "%s:%u", addr, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
		port = ntohs(in6->sin6_port);
		snprintf(buf, len, "[%s]:%u", addr, port);
	} else {
		snprintf(buf, len, "-");
	}
}

static void on_accept_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct eird_worker *w = t->data;
	if (!w->stopping)
		ev_io_start(loop, &w->listen_io);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)revents;
	struct eird_worker *w = io->data;
	struct eird_server *srv = w->srv;
	for (int i = 0; i < 64 && !w->stopping; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of descriptors: pause accepting rather than spin on the listener */
				eird_logf(srv, "worker %u: accept: %s; pausing accepts for 1 s", w->id, strerror(errno));
				ev_io_stop(loop, &w->listen_io);
				ev_timer_set(&w->accept_pause, 1.0, 0.);
				ev_timer_start(loop, &w->accept_pause);
			}
			return; /* EAGAIN: another worker took it */
		}
		eird_inc(&w->m.conns_accepted);
		if (atomic_fetch_add(&srv->conns_total, 1) >= srv->cfg.max_connections) {
			atomic_fetch_sub(&srv->conns_total, 1);
			eird_inc(&w->m.conns_rejected);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		char peer[64];
		peer_name(&ss, peer, sizeof peer);
		eird_conn_accept(w, fd, peer);
	}
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)loop;
	(void)revents;
	eird_log_flush(t->data);
}

static void on_grace(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct eird_worker *w = t->data;
	if (w->nconns)
		eird_logf(w->srv, "worker %u: grace period over, closing %zu connection(s)", w->id, w->nconns);
	eird_conn_close_all(w);
	ev_break(loop, EVBREAK_ONE);
}

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)revents;
	struct eird_worker *w = a->data;
	if (!atomic_load(&w->srv->stopping) || w->stopping)
		return;
	w->stopping = true;
	ev_io_stop(loop, &w->listen_io);
	ev_timer_stop(loop, &w->accept_pause);
	ev_timer_set(&w->grace_timer, w->srv->cfg.grace, 0.);
	ev_timer_start(loop, &w->grace_timer);
	eird_conn_drain_all(w);
	if (w->nconns == 0)
		ev_break(loop, EVBREAK_ONE);
}

int eird_worker_init(struct eird_worker *w, struct eird_server *srv, unsigned id)
{
	w->srv = srv;
	w->id = id;
	ebuf_init(&w->log);
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (!w->loop)
		return -1;
	ev_io_init(&w->listen_io, on_accept, srv->listen_fd, EV_READ);
	w->listen_io.data = w;
	ev_async_init(&w->wake, on_wake);
	w->wake.data = w;
	ev_timer_init(&w->tick, on_tick, 0.25, 0.25);
	w->tick.data = w;
	ev_init(&w->grace_timer, on_grace);
	w->grace_timer.data = w;
	ev_init(&w->accept_pause, on_accept_resume);
	w->accept_pause.data = w;
	ev_io_start(w->loop, &w->listen_io);
	ev_async_start(w->loop, &w->wake);
	ev_timer_start(w->loop, &w->tick);
	return 0;
}

void *eird_worker_main(void *arg)
{
	struct eird_worker *w = arg;
	ev_run(w->loop, 0);
	eird_conn_close_all(w);
	eird_log_flush(w);
	return NULL;
}

void eird_worker_stop(struct eird_worker *w)
{
	ev_async_send(w->loop, &w->wake);
}

void eird_worker_fini(struct eird_worker *w)
{
	if (w->loop)
		ev_loop_destroy(w->loop);
	w->loop = NULL;
	ebuf_free(&w->log);
	imei_engine_free(w->engine);
	w->engine = NULL;
}
