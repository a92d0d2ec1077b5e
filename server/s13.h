/*
 * s13.h — the S13 interface of imei-eird: ME-Identity-Check over Diameter (3GPP TS 29.272
 * §5.2.4) on freeDiameter (libfdcore, libfdproto), beside N5g-eir and on the same engine
 * config, lists, TAC database, store, metrics, access log, reload and stop.
 *
 * freeDiameter owns transport, capabilities exchange (the S13 application is advertised
 * in CER/CEA), watchdog and failover; it calls the ECR handler on its own dispatch
 * threads. Each dispatch thread binds to an engine of its own at its first request (a
 * pool of --s13-threads engines, one per dispatch thread, built from the server's shared
 * engine config), so a check runs where the request was parsed: no hand-off, no queue.
 * Why, and the rest of the design: docs/s13.md.
 *
 * freeDiameter is a process-wide singleton (fd_core_initialize once per process): one
 * struct eird_s13 per process.
 */
#ifndef EIRD_S13_H
#define EIRD_S13_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

struct eird_server;
struct ebuf;
struct imei_lists;

#define EIRD_S13_MAX_PEERS 32

struct eird_s13_config {
	const char *identity;   /* --s13-identity: S13 is on when set (or --s13-conf) */
	const char *realm;      /* --s13-realm; default: the identity after its first dot */
	char host[256], port[8]; /* --s13-listen HOST:PORT, default 127.0.0.1:3868 */
	const char *peers[EIRD_S13_MAX_PEERS];  /* --s13-peer ID@HOST[:PORT]: connect to it */
	size_t npeers;
	const char *accept[EIRD_S13_MAX_PEERS]; /* --s13-accept FQDN|*.DOMAIN: let it connect */
	size_t naccept;
	const char *tls_cert, *tls_key, *tls_ca; /* --s13-tls-cert/-key/-ca */
	unsigned tls_port;      /* --s13-tls-port (TLS on its own port, RFC 6733 §2.1) */
	unsigned threads;       /* --s13-threads: dispatch threads = engines; 0: the HTTP workers' count */
	unsigned tc_timer;      /* --s13-tc: seconds between connection attempts to a peer */
	bool sctp;              /* --s13-sctp: SCTP too (default TCP only) */
	bool verbose;           /* --s13-verbose: freeDiameter's notices on stderr */
	const char *conf;       /* --s13-conf FILE: a freeDiameter configuration used as it is */
	const char *ext_dir;    /* --s13-extensions DIR: where acl_wl.fdx is */
};

/* The long options, their values from EIRD_S13_OPT_BASE on; main merges them into its own
 * table and hands any such value to eird_s13_option. */
#define EIRD_S13_OPT_BASE 1000
extern const struct option eird_s13_long_options[];
size_t eird_s13_noptions(void);
void eird_s13_config_init(struct eird_s13_config *c);
/* Apply one option; false with err filled when the value is not acceptable. */
bool eird_s13_option(struct eird_s13_config *c, int opt, const char *arg, char *err, size_t errlen);
bool eird_s13_enabled(const struct eird_s13_config *c);
/* The usage lines of the S13 options. */
extern const char eird_s13_usage[];

struct eird_s13;

/* Start S13: engines, dictionary, the freeDiameter core; returns once it listens and the
 * configured peers are being connected. NULL with err on failure (nothing left running). */
struct eird_s13 *eird_s13_start(struct eird_server *srv, const struct eird_s13_config *cfg, char *err,
                                size_t errlen);
/* SIGHUP: new lists (NULL: keep) and a fresh policy in every S13 engine; failures are
 * logged; returns 0, or -1 when something was kept. */
int eird_s13_reload(struct eird_s13 *s, struct imei_lists *fresh);
/* Prometheus text of the S13 counters (appended to /metrics). */
void eird_s13_metrics_render(struct eird_s13 *s, struct ebuf *b);
/* Graceful stop: DPR to the peers (freeDiameter's shutdown), flush the log, free. */
void eird_s13_stop(struct eird_s13 *s);

#endif
