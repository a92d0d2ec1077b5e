/*
 * service.h — the protocol-neutral half of imei-eird: worker threads, one engine per
 * worker, the check service (eird_check: verdicts, failures, latency, access log),
 * metrics, reload on SIGHUP, the watchdog and the graceful stop. A protocol (N5g-eir
 * over HTTP in http_*.c; S13 Diameter next) plugs in as a front end (struct
 * eird_frontend): it owns its listening sockets and connections on each worker's event
 * loop, turns requests into struct imei_request, calls eird_check(), and answers in its
 * own protocol. Nothing here knows HTTP. docs/serve.md "Adding a protocol".
 *
 * Threads: the main thread owns startup, signals (SIGHUP reload, SIGTERM/SIGINT graceful
 * stop, SIGUSR1 log reopen), the watchdog and shutdown; each worker thread runs its own
 * libev loop and its own engine (imei_engine.h: one engine per thread) and serves its
 * connections start to end. Workers share only frozen or thread-safe objects (TAC image,
 * lists, store) and the server's counters: each worker writes its own slots (struct
 * eird_metrics), /metrics reads them with relaxed atomics and never takes another
 * worker's engine lock (a hung engine cannot stall /metrics).
 */
#ifndef EIRD_SERVICE_H
#define EIRD_SERVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <ev.h>

#include "imei_engine.h"
#include "ebuf.h"

struct eird_config {
	const char *policy, *tacdb, *lists, *store, *lua_path;
	const char *access_log; /* NULL: none, "-": stdout */
	unsigned workers;
	unsigned max_connections;  /* over all workers and front ends */
	unsigned max_per_client;   /* open connections from one client address */
	double grace;              /* seconds: graceful stop, then the process ends */
	double watchdog;           /* seconds: the watchdog recycles a worker stuck in a check this long */
	double reload_timeout;     /* seconds: a reload running longer is refused */
	bool record, tacdb_temporary, quiet;
	struct imei_sandbox_limits limits;
};

#define EIRD_NBUCKETS 14 /* latency histogram buckets, the last one +Inf */
#define EIRD_MAX_REASONS 128
#define EIRD_MAX_FRONTENDS 4

/* Per-worker counters: only the owning worker writes them (single writer), anyone reads. */
struct eird_reason_slot {
	char condition[64];
	int status; /* enum imei_status of the reason */
	_Atomic uint64_t count;
	_Atomic uint64_t failed; /* of which the condition failed (error, budget) */
};

struct eird_metrics {
	_Atomic uint64_t verdicts[4];         /* by enum imei_status */
	_Atomic uint64_t failures;            /* checks where the policy failed */
	_Atomic uint64_t failed_conditions;   /* conditions reported as failed */
	_Atomic uint64_t hist[EIRD_NBUCKETS]; /* check time */
	_Atomic uint64_t hist_sum_ns, hist_count;
	_Atomic uint64_t conns_accepted, conns_rejected, conns_open;
	_Atomic uint64_t reasons_dropped;     /* more distinct reasons than slots */
	_Atomic size_t nreasons;              /* published slots (release/acquire) */
	/* the worker's engine, copied on its tick (0.25 s) so no one else takes its lock */
	_Atomic uint64_t budget_exceeded, memory_exceeded, sightings_unrecorded;
	_Atomic size_t memory_used;
	struct eird_reason_slot reasons[EIRD_MAX_REASONS];
};

struct eird_server;
struct eird_worker;

/* A protocol front end. Callbacks named worker_* run on that worker's thread unless
 * said otherwise. The server calls them for every front end in registration order. */
struct eird_frontend {
	const char *name; /* "http", "s13" */
	void *state;      /* the front end's own (configuration, listeners) */
	unsigned slot;    /* set by eird_add_frontend: its index in each worker's fe_state[] */
	/* main thread, before any worker runs: open listeners; 0 or -1 (logged by it) */
	int (*open)(struct eird_frontend *fe, struct eird_server *srv);
	/* main thread, before the worker's thread starts: add watchers to w->loop */
	int (*worker_start)(struct eird_frontend *fe, struct eird_worker *w);
	/* graceful stop: stop accepting, let requests in flight finish */
	void (*worker_drain)(struct eird_frontend *fe, struct eird_worker *w);
	/* close every connection now (end of the grace period, or the thread's end) */
	void (*worker_close)(struct eird_frontend *fe, struct eird_worker *w);
	/* WATCHDOG thread, the worker hung in a check: shut down its sockets (shutdown(2)
	 * only: the stuck thread still owns the memory) so clients go elsewhere */
	void (*worker_abandon)(struct eird_frontend *fe, struct eird_worker *w);
	/* any thread: append this front end's counters to /metrics (Prometheus text) */
	void (*metrics)(struct eird_frontend *fe, struct eird_server *srv, struct ebuf *out);
	/* main thread, at exit: close listeners, free state */
	void (*close)(struct eird_frontend *fe);
};

/* What to answer if the check in progress hangs: set by the front end before
 * eird_check (eird_check_on_hang), run by the watchdog thread with the on_error verdict
 * while the worker is stuck; it writes to the socket and shuts it down. */
struct eird_hang_answer {
	void (*answer)(void *ctx, const struct imei_verdict *v);
	void *ctx;
};

enum { EIRD_CHECK_IDLE = 0, EIRD_CHECK_RUNNING = 1, EIRD_CHECK_HUNG = 2 };

struct eird_worker {
	struct eird_server *srv;
	unsigned id;         /* slot number */
	unsigned generation; /* 0 at start, +1 each time the watchdog recycles the slot */
	pthread_t thread;
	bool started;
	_Atomic int exited; /* the thread has returned */
	struct ev_loop *loop;
	ev_async wake;
	ev_timer tick;        /* access log flush, engine stats */
	ev_timer grace_timer; /* forced close at the end of a graceful stop */
	struct imei_engine *engine;
	struct eird_metrics m;
	size_t nconns; /* open connections, all front ends */
	bool stopping;
	_Atomic int abandoned;          /* the watchdog gave up on this worker */
	_Atomic int check_state;        /* EIRD_CHECK_* */
	_Atomic uint64_t check_started; /* CLOCK_MONOTONIC ns of the check running */
	_Atomic int hang_answered;      /* the watchdog has finished answering */
	struct eird_hang_answer hang;
	struct ebuf log;
	void *fe_state[EIRD_MAX_FRONTENDS]; /* each front end's per-worker state */
	struct eird_worker *retired_next;
};

struct eird_load_report; /* lists' load reports, for /health (service.c) */

struct eird_server {
	struct eird_config cfg;
	int log_fd; /* -1: no access log */
	struct imei_engine_config ecfg; /* shared objects: one reference each */
	/* ecfg.lists and ecfg.tacdb: the ones in force (a reload swaps them under state_lock) */
	struct stat tacdb_stat;         /* the TAC image file in force: a reload reads it when it changed */
	struct eird_frontend *fe[EIRD_MAX_FRONTENDS];
	size_t nfe;
	size_t nworkers;
	struct eird_worker **workers;  /* slots; the watchdog replaces a hung one */
	struct eird_worker *retired;   /* hung workers given up on (their counters still count) */
	pthread_rwlock_t workers_lock; /* slots and retired list: readers render metrics */
	_Atomic int stopping;
	_Atomic unsigned conns_total; /* open connections, all workers */
	_Atomic uint64_t reloads_ok, reloads_failed, reloads_hung, watchdog_recycles;
	long long started; /* UTC seconds */
	pthread_mutex_t log_lock;   /* serialises diagnostic lines on stderr */
	pthread_mutex_t state_lock; /* ecfg's objects, policy name, reload error, load report */
	char policy_name[160];
	char reload_error[1024];
	struct ebuf lists_json; /* the load report of the lists in force, as JSON */
	struct eird_admit *admit;
	/* Fault injection for the tests of the watchdog and the reload timeout, from the
	 * environment (IMEI_EIRD_FAULT=hang-check:PEI or hang-reload); NULL / false in use. */
	const char *fault_hang_pei;
	bool fault_hang_reload;
};

/* A condition that failed (error, budget) and decided nothing: the per-reason flag of
 * issue 10 §3; the one place the server reads it from. */
static inline bool eird_reason_failed(const struct imei_reason *r)
{
	return r->failed;
}

/* ---- the check service (check.c) ------------------------------------------------------ */

/* Decide one request on the worker's engine: counts the verdict, failures, failed
 * conditions and latency, logs failures (rate-limited), and arms the watchdog for the
 * duration. Always fills *v (on failure: the on_error status, v->failed). Returns 0, -1
 * when the policy failed, or EIRD_CHECK_ABANDONED when the watchdog answered it meanwhile
 * (hung): the front end must then not answer, nor touch the connection again. */
#define EIRD_CHECK_ABANDONED (-2)
int eird_check(struct eird_worker *w, const struct imei_request *req, struct imei_verdict *v);
/* The watchdog's arming around any call into the worker's engine (eird_check, eird_explain):
 * begin returns the start time; end is false when the watchdog took the call over. */
uint64_t eird_engine_call_begin(struct eird_worker *w, const char *pei);
bool eird_engine_call_end(struct eird_worker *w);
/* Explain a request on the worker's engine (host/explain.c) into out as JSON: 0, -1 with
 * why in err, or EIRD_CHECK_ABANDONED. Only the admin listener calls it. */
int eird_explain(struct eird_worker *w, const struct imei_request *req, struct ebuf *out, char *err, size_t errlen);
/* Set what the watchdog answers if the next eird_check hangs (cleared by eird_check). */
static inline void eird_check_on_hang(struct eird_worker *w, void (*answer)(void *, const struct imei_verdict *),
                                      void *ctx)
{
	w->hang.answer = answer;
	w->hang.ctx = ctx;
}

/* ---- the access log (access_log.c) ------------------------------------------------------ */

/* One protocol-neutral record: every text field is escaped (printable ASCII but '"' and
 * '\' as is, other bytes \xHH), so neither a client nor a policy can forge a line:
 *   TIME PEER "OP TARGET PROTOCOL" RESULT BYTES VERDICT REASONS DURATIONus
 * REASONS lists the verdict's conditions, a failed one with a '!' suffix. */
struct eird_log_record {
	const char *protocol;  /* "HTTP/1.1", "HTTP/2", "S13" */
	const char *peer;      /* "ADDR:PORT" */
	const char *op;        /* method or command name; NULL: "-" */
	size_t op_len;
	const char *target;    /* what was asked (path and query, the IMEI…); NULL: "-" */
	size_t target_len;
	int result;            /* HTTP status, Diameter Result-Code */
	size_t bytes;          /* answer body size */
	const struct imei_verdict *v; /* NULL: no check */
	uint64_t ns;           /* handling time */
};
void eird_log_write(struct eird_worker *w, const struct eird_log_record *r);
void eird_log_flush(struct eird_worker *w);
/* Append s escaped as above (at most max input bytes, "..." when cut). */
void eird_log_escape(struct ebuf *b, const char *s, size_t n, size_t max);

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

void eird_count_verdict(struct eird_metrics *m, const struct imei_verdict *v);
void eird_metrics_render(struct eird_server *srv, struct ebuf *out);
/* build_info and the process_* metrics (metrics_process.c) */
void eird_metrics_process(struct eird_server *srv, struct ebuf *out);
/* Sum of one per-worker counter over every worker, retired ones included; offset is
 * offsetof(struct eird_metrics, field) of an _Atomic uint64_t. Takes workers_lock. */
uint64_t eird_metrics_sum(struct eird_server *srv, size_t offset);
/* The /health document (JSON): status, policy, reloads, lists' load reports. */
void eird_health_render(struct eird_server *srv, struct ebuf *out, bool *up);

/* ---- connections and admission (admit.c) ---------------------------------------------- */

/* Admit a new connection from addr: under --max-connections and --max-per-client.
 * true: admitted, counted (call eird_conn_closed at its end); false: refused, counted. */
bool eird_conn_admit(struct eird_worker *w, const struct sockaddr *addr);
void eird_conn_closed(struct eird_worker *w, const struct sockaddr *addr);
struct eird_admit *eird_admit_new(void);
void eird_admit_free(struct eird_admit *a);
/* "ADDR:PORT" of a socket address */
void eird_peer_name(const struct sockaddr *sa, char *buf, size_t len);
/* A listening TCP socket on host:port (port "0": any free); the bound address in bound. */
int eird_listen_tcp(struct eird_server *srv, const char *host, const char *port, char *bound, size_t blen,
                    char *bound_port, size_t plen);

/* ---- the worker loop (worker.c) and the server (service.c) ------------------------------ */

struct eird_worker *eird_worker_new(struct eird_server *srv, unsigned id, char *err, size_t errlen);
int eird_worker_start(struct eird_worker *w); /* front ends' worker_start, then the thread */
void eird_worker_stop(struct eird_worker *w); /* any thread: begin the graceful stop */
void eird_worker_free(struct eird_worker *w);

/* Register a front end (before eird_run). */
int eird_add_frontend(struct eird_server *srv, struct eird_frontend *fe);
/* Open the shared objects, start the workers, serve until SIGTERM/SIGINT; the exit status. */
int eird_run(struct eird_server *srv);

void eird_logf(struct eird_server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The policy in force ("name@version"), copied. */
void eird_policy_name(struct eird_server *srv, char *buf, size_t len);
uint64_t eird_now_ns(void);

#endif
