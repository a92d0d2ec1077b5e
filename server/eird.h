/*
 * eird.h — imei-eird, the N5g-eir service (TS 29.511 Equipment Identity Check over
 * HTTP/2 and HTTP/1.1): the server, its worker threads and what they share.
 *
 * Threads: the main thread owns startup, signals (SIGHUP reload, SIGTERM/SIGINT graceful
 * stop) and shutdown; each worker thread runs its own libev loop and its own engine
 * (imei_engine.h: one engine per thread), accepts from the one listening socket and serves
 * its connections start to end. Workers share only frozen or thread-safe objects (TAC
 * image, lists, store) and the server's counters, which each worker writes to its own
 * slots (struct eird_metrics) and /metrics reads with relaxed atomics.
 */
#ifndef EIRD_H
#define EIRD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "imei_engine.h"
#include "n5g.h"
#include "s13.h"

struct eird_config {
	const char *policy, *tacdb, *lists, *store, *lua_path;
	char host[256];
	char port[16];
	const char *access_log; /* NULL: none, "-": stdout */
	const char *port_file;  /* write the bound port here once listening */
	unsigned workers;
	unsigned max_connections;  /* over all workers */
	double idle_timeout, grace; /* seconds */
	size_t max_target, max_header_bytes, max_body;
	bool record, tacdb_temporary, quiet;
	struct imei_sandbox_limits limits;
	struct eird_s13_config s13; /* S13 (Diameter) options: s13.h */
};

/* HTTP status codes the server answers with, as counter slots. */
enum { EIRD_C200, EIRD_C400, EIRD_C404, EIRD_C405, EIRD_C413, EIRD_C414, EIRD_C431, EIRD_C500, EIRD_C503,
       EIRD_COTHER, EIRD_NCODES };
#define EIRD_NBUCKETS 14 /* latency histogram buckets, the last one +Inf */
#define EIRD_MAX_REASONS 128

/* Per-worker counters: only the owning worker writes them (single writer), anyone reads. */
struct eird_reason_slot {
	char condition[64];
	int status; /* enum imei_status of the reason */
	_Atomic uint64_t count;
};

struct eird_metrics {
	_Atomic uint64_t responses[EIRD_NCODES][2]; /* [code][0 HTTP/1.1, 1 HTTP/2] */
	_Atomic uint64_t verdicts[4];               /* by enum imei_status */
	_Atomic uint64_t failures;                  /* checks where the policy failed */
	_Atomic uint64_t hist[EIRD_NBUCKETS];       /* equipment-status handling time */
	_Atomic uint64_t hist_sum_ns, hist_count;
	_Atomic uint64_t conns_accepted, conns_rejected, conns_open;
	_Atomic uint64_t reasons_dropped;           /* more distinct reasons than slots */
	_Atomic size_t nreasons;                    /* published slots (release/acquire) */
	struct eird_reason_slot reasons[EIRD_MAX_REASONS];
};

struct conn;
struct eird_server;

struct eird_worker {
	struct eird_server *srv;
	unsigned id;
	pthread_t thread;
	bool started;
	struct ev_loop *loop;
	ev_io listen_io;
	ev_async wake;
	ev_timer tick;         /* access log flush */
	ev_timer grace_timer;  /* forced close at the end of a graceful stop */
	ev_timer accept_pause; /* out of file descriptors: stop accepting a moment */
	struct imei_engine *engine;
	struct eird_metrics m;
	struct conn *conns;
	size_t nconns;
	bool stopping;
	struct ebuf log;
	long date_sec;
	char date[40]; /* IMF-fixdate of date_sec, for HTTP/1.1 Date */
	char rbuf[16384];
};

struct eird_server {
	struct eird_config cfg;
	int listen_fd;
	int log_fd; /* -1: no access log */
	struct imei_engine_config ecfg; /* shared objects: one reference each */
	struct imei_lists *lists;       /* the lists in force (reloads swap it) */
	size_t nworkers;
	struct eird_worker *workers;
	_Atomic int stopping;
	_Atomic unsigned conns_total; /* open connections, all workers */
	_Atomic uint64_t reloads_ok, reloads_failed;
	long long started; /* UTC seconds */
	pthread_mutex_t log_lock; /* serialises diagnostic lines on stderr */
	struct eird_s13 *s13;     /* the S13 interface, or NULL */
};

/* ---- requests (handler.c) ---------------------------------------------------------- */

enum eird_method { EIRD_GET, EIRD_HEAD, EIRD_OTHER };

struct eird_request {
	enum eird_method method;
	const char *method_name; /* as received, for the log */
	size_t method_len;
	const char *target; /* path and query as received */
	size_t target_len;
	int proto;          /* 0 HTTP/1.1, 1 HTTP/2 */
	const char *peer;   /* "ADDR:PORT" */
	int forced_status;  /* the transport already decided: 400, 413, 414, 431; 0 = route it */
};

struct eird_reply {
	int status;
	const char *content_type;
	const char *allow; /* Allow header of a 405 */
	struct ebuf body;
};

/* Answer one request: route, check, fill rp (rp->body initialised here), count, log. */
void eird_handle(struct eird_worker *w, const struct eird_request *rq, struct eird_reply *rp);
const char *eird_reason_phrase(int status);

/* ---- metrics (metrics.c) ----------------------------------------------------------- */

extern const double eird_buckets[EIRD_NBUCKETS - 1]; /* upper bounds in seconds */

static inline void eird_inc(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

static inline void eird_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

int eird_code_slot(int status);
void eird_count_verdict(struct eird_metrics *m, const struct imei_verdict *v);
void eird_metrics_render(struct eird_server *srv, struct ebuf *out);

/* ---- connections (conn.c) and the worker loop (worker.c) ---------------------------- */

void *eird_worker_main(void *arg);
int eird_worker_init(struct eird_worker *w, struct eird_server *srv, unsigned id);
void eird_worker_fini(struct eird_worker *w);
void eird_worker_stop(struct eird_worker *w); /* any thread */

void eird_conn_accept(struct eird_worker *w, int fd, const char *peer);
void eird_conn_drain_all(struct eird_worker *w);  /* graceful stop: GOAWAY / close idle */
void eird_conn_close_all(struct eird_worker *w);

/* ---- helpers ----------------------------------------------------------------------- */

void eird_logf(struct eird_server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void eird_log_flush(struct eird_worker *w);
void eird_policy_name(struct eird_worker *w, char *buf, size_t len);

#endif
