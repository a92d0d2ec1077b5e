/*
 * http.h — the N5g-eir front end of imei-eird (TS 29.511 Equipment Identity Check over
 * HTTP/2 and HTTP/1.1): its listener and connections (http_conn.c) and what it answers
 * (http_handler.c: routing, the N5g-eir mapping, /health, /metrics). It plugs into the
 * protocol-neutral server (service.h) as a struct eird_frontend.
 */
#ifndef EIRD_HTTP_H
#define EIRD_HTTP_H

#include "n5g.h"
#include "service.h"

struct eird_http_config {
	char host[256];
	char port[16];
	const char *port_file;   /* write the bound port here once listening */
	double idle_timeout;     /* seconds without traffic: close */
	double header_timeout;   /* seconds: a request's header block must be complete within it (slowloris) */
	size_t max_target, max_header_bytes, max_body;
	size_t max_output;       /* answers buffered for one connection; above it reading pauses */
	unsigned h2_max_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS */
	size_t h2_header_table;  /* SETTINGS_HEADER_TABLE_SIZE (HPACK dynamic table) */
	size_t h2_memory;        /* nghttp2's memory for one connection: over it, GOAWAY */
	/* TS 29.511 details (docs/serve.md "Status codes"): */
	bool policy_error_500;   /* the policy failed as a whole: 500 ProblemDetails, not the on_error verdict */
	unsigned max_queue;      /* equipment checks one worker takes per event-loop pass; more: 503 */
	bool metrics_only;       /* this listener serves /metrics and /health only (--metrics-listen) */
	bool no_metrics;         /* /metrics is served on another listener: 404 here */
	bool admin_only;         /* this listener serves /explain and /health only (--admin-listen) */
	char admin_host[256], admin_port[16]; /* --admin-listen; admin_port[0] = 0: none */
	const char *admin_port_file;
	char metrics_host[256], metrics_port[16]; /* --metrics-listen; metrics_port[0] = 0: none */
	const char *metrics_port_file;
	size_t h2_memory_total;  /* the same over all connections */
};

/* HTTP status codes the front end answers with, as counter slots. */
enum { EIRD_C200, EIRD_C400, EIRD_C404, EIRD_C405, EIRD_C408, EIRD_C413, EIRD_C414, EIRD_C431, EIRD_C500,
       EIRD_C503, EIRD_COTHER, EIRD_NCODES };

/* Per worker: the listener's watcher, the connections, the counters. */
struct http_conn;
struct http_worker {
	struct eird_worker *w;
	struct http_front *hf;
	ev_io listen_io;
	ev_timer accept_pause; /* out of file descriptors: stop accepting a moment */
	struct http_conn *conns;
	long date_sec;
	char date[40]; /* IMF-fixdate of date_sec, for the Date header (HTTP/1.1 and HTTP/2) */
	ev_prepare queue_reset; /* before the loop waits: the pass is over, queued = 0 */
	unsigned queued;        /* equipment checks taken in this loop pass (the worker's queue) */
	char rbuf[16384];
	_Atomic uint64_t responses[EIRD_NCODES][2]; /* [code][0 HTTP/1.1, 1 HTTP/2] */
	_Atomic uint64_t header_timeouts, h2_refused_streams, h2_memory_closes, read_pauses;
	size_t h2_used, h2_reserved;   /* HTTP/2 memory of this worker's connections; its share of h2_total */
	_Atomic size_t h2_used_pub;    /* h2_used, for /metrics */
	struct http_worker *all_next; /* every http_worker ever made (counters survive recycling) */
};

struct http_front {
	struct eird_frontend fe;
	struct eird_http_config cfg;
	int listen_fd;
	pthread_mutex_t lock; /* the all list */
	struct http_worker *all;
	_Atomic size_t h2_total; /* bytes reserved by the workers for HTTP/2 sessions and streams */
	size_t h2_total_cap;
	bool wrote_port_file;
};

/* The front end with its configuration (copied); NULL when out of memory. */
struct eird_frontend *eird_http_frontend(const struct eird_http_config *cfg);
void eird_http_frontend_free(struct eird_frontend *fe); /* after eird_run */

/* ---- requests (http_handler.c) ------------------------------------------------------ */

enum eird_method { EIRD_GET, EIRD_HEAD, EIRD_OTHER };

struct eird_request {
	enum eird_method method;
	const char *method_name; /* as received, for the log */
	size_t method_len;
	const char *target; /* path and query as received */
	size_t target_len;
	int proto;          /* 0 HTTP/1.1, 1 HTTP/2 */
	const char *peer;   /* "ADDR:PORT" */
	int forced_status;  /* the transport already decided: 400, 408, 413, 414, 431; 0 = route it */
};

struct eird_reply {
	int status;
	const char *content_type;
	const char *allow; /* Allow header of a 405 */
	unsigned retry_after; /* seconds, for a 503 (0: no Retry-After) */
	struct ebuf body;
};

/* Answer one request: route, check, fill rp (rp->body initialised here), count, log.
 * Returns false when the watchdog took the check over (EIRD_CHECK_ABANDONED): answer
 * nothing, touch the connection no more. Before a check, the caller has set what the
 * watchdog would answer (eird_check_on_hang). */
bool eird_http_handle(struct http_worker *hw, const struct eird_request *rq, struct eird_reply *rp);
const char *eird_reason_phrase(int status);
int eird_code_slot(int status);
/* The equipment-status answer of a verdict: 200, 404 for UNKNOWN, or 500 ProblemDetails
 * when the policy failed as a whole (policy_failed) and the front end is configured so
 * (cfg->policy_error_500). Also the watchdog's answer to a hung check. */
void eird_http_status_body(struct ebuf *b, const struct imei_verdict *v, bool policy_failed,
                           const struct eird_http_config *cfg, int *http_status);
/* The IMF-fixdate of now for the Date header (RFC 9110 §6.6.1), cached per second. */
const char *eird_http_date(struct http_worker *hw);

#endif
