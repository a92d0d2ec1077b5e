/*
 * s13.h — the S13 front end of imei-eird: ME-Identity-Check over Diameter (3GPP TS 29.272
 * §5.2.4) on freeDiameter (libfdcore, libfdproto), beside N5g-eir on the same workers,
 * engines, lists, TAC database, store, reload, watchdog, metrics, access log and stop
 * (service.h).
 *
 * freeDiameter owns transport, capabilities exchange (the S13 application is advertised
 * in CER/CEA), watchdog and failover; it calls the ECR handler on its own dispatch
 * threads, which hand each request to a worker (round robin over the worker slots, a
 * queue per slot and an ev_async wake-up). The worker checks it on its own engine through
 * eird_check() and sends the answer. Why a hand-off rather than an engine per dispatch
 * thread, and the rest of the design: docs/s13.md.
 *
 * freeDiameter is a process-wide singleton (fd_core_initialize once per process): one
 * struct eird_s13 per process.
 */
#ifndef EIRD_S13_H
#define EIRD_S13_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

struct eird_frontend;

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
	unsigned threads;       /* --s13-threads: freeDiameter dispatch threads (default 2) */
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

/* The S13 front end (service.h) with its configuration (copied); NULL when out of memory.
 * Register it before the HTTP one: its open() must be done before the port file is written. */
struct eird_frontend *eird_s13_frontend(const struct eird_s13_config *cfg);
void eird_s13_frontend_free(struct eird_frontend *fe); /* after eird_run */

#endif
