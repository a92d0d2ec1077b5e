/*
 * s13.c — imei-eird's S13 front end (s13.h): options, the generated freeDiameter
 * configuration, the hand-off from freeDiameter's dispatch threads to the workers, the
 * ME-Identity-Check answer (TS 29.272 §5.2.4, §7.2.19–7.2.20), its counters and stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "service.h"
#include "s13.h"
#include "s13_dict.h"
#include "s13_ident.h"

/* ---- options ------------------------------------------------------------------------- */

enum {
	S_IDENTITY = EIRD_S13_OPT_BASE, S_REALM, S_LISTEN, S_PEER, S_ACCEPT, S_TLS_CERT, S_TLS_KEY, S_TLS_CA,
	S_TLS_PORT, S_THREADS, S_TC, S_SCTP, S_VERBOSE, S_CONF, S_EXT_DIR
};

const struct option eird_s13_long_options[] = {
	{ "s13-identity", required_argument, NULL, S_IDENTITY },
	{ "s13-realm", required_argument, NULL, S_REALM },
	{ "s13-listen", required_argument, NULL, S_LISTEN },
	{ "s13-peer", required_argument, NULL, S_PEER },
	{ "s13-accept", required_argument, NULL, S_ACCEPT },
	{ "s13-tls-cert", required_argument, NULL, S_TLS_CERT },
	{ "s13-tls-key", required_argument, NULL, S_TLS_KEY },
	{ "s13-tls-ca", required_argument, NULL, S_TLS_CA },
	{ "s13-tls-port", required_argument, NULL, S_TLS_PORT },
	{ "s13-threads", required_argument, NULL, S_THREADS },
	{ "s13-tc", required_argument, NULL, S_TC },
	{ "s13-sctp", no_argument, NULL, S_SCTP },
	{ "s13-verbose", no_argument, NULL, S_VERBOSE },
	{ "s13-conf", required_argument, NULL, S_CONF },
	{ "s13-extensions", required_argument, NULL, S_EXT_DIR },
};

size_t eird_s13_noptions(void)
{
	return sizeof eird_s13_long_options / sizeof eird_s13_long_options[0];
}

const char eird_s13_usage[] =
	"S13 (ME-Identity-Check over Diameter, 3GPP TS 29.272; docs/s13.md), on when --s13-identity is given:\n"
	"  --s13-identity FQDN    Diameter identity of the EIR (Origin-Host)\n"
	"  --s13-realm REALM      Diameter realm (default: the identity after its first dot)\n"
	"  --s13-listen HOST:PORT numeric address and port for Diameter (default 127.0.0.1:3868)\n"
	"  --s13-peer ID@HOST[:PORT]  a peer (MME) the EIR connects to; repeatable\n"
	"  --s13-accept FQDN      a peer allowed to connect in ('*.realm' for a whole domain); repeatable\n"
	"  --s13-tls-cert FILE, --s13-tls-key FILE, --s13-tls-ca FILE   TLS credentials (PEM)\n"
	"  --s13-tls-port PORT    port for TLS connections (default 5868 with a certificate)\n"
	"  --s13-threads N        freeDiameter dispatch threads handing ECRs to the workers (default 2)\n"
	"  --s13-tc SEC           seconds between connection attempts to a peer (default 30)\n"
	"  --s13-sctp             SCTP as well as TCP\n"
	"  --s13-conf FILE        use this freeDiameter configuration instead of the flags above\n"
	"  --s13-extensions DIR   freeDiameter extensions (default /usr/lib/freeDiameter)\n"
	"  --s13-verbose          freeDiameter's notices on stderr\n";

void eird_s13_config_init(struct eird_s13_config *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->host, sizeof c->host, "127.0.0.1");
	snprintf(c->port, sizeof c->port, "3868");
	c->tc_timer = 30;
	c->ext_dir = "/usr/lib/freeDiameter";
}

bool eird_s13_enabled(const struct eird_s13_config *c)
{
	return c->identity || c->conf;
}

/* A Diameter identity or realm: letters, digits, '-', '.', '_' (RFC 6733 §4.3 DiamIdent is
 * an FQDN); also keeps the generated configuration free of quotes and newlines. */
static bool fqdn_ok(const char *s, bool wildcard)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255)
		return false;
	if (wildcard && strncmp(s, "*.", 2) == 0)
		s += 2;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.' || *s == '_'))
			return false;
	return true;
}

static bool port_ok(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 65535 || s[0] == '-' || s[0] == '+')
		return false;
	*out = (unsigned)v;
	return true;
}

/* "HOST:PORT" or "[V6]:PORT" into host and port; host numeric or a name of safe characters. */
static bool split_host_port(const char *s, char *host, size_t hlen, unsigned *port, bool port_optional)
{
	const char *h = s, *colon;
	size_t n;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (close[1] != ':' && !(port_optional && close[1] == 0)))
			return false;
		h = s + 1;
		n = (size_t)(close - h);
		colon = close[1] ? close + 1 : NULL;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return false; /* a bare IPv6 address: it needs brackets */
		n = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (n == 0 || n >= hlen)
		return false;
	memcpy(host, h, n);
	host[n] = 0;
	for (const char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.' || *p == '_' || *p == ':'))
			return false;
	if (!colon)
		return port_optional;
	return port_ok(colon + 1, port);
}

bool eird_s13_option(struct eird_s13_config *c, int opt, const char *arg, char *err, size_t errlen)
{
	unsigned u;
	char host[256];
	switch (opt) {
	case S_IDENTITY:
		if (!fqdn_ok(arg, false) || !strchr(arg, '.')) {
			snprintf(err, errlen, "--s13-identity: '%s' is not an FQDN", arg);
			return false;
		}
		c->identity = arg;
		return true;
	case S_REALM:
		if (!fqdn_ok(arg, false)) {
			snprintf(err, errlen, "--s13-realm: '%s' is not a realm (a domain name)", arg);
			return false;
		}
		c->realm = arg;
		return true;
	case S_LISTEN:
		if (!split_host_port(arg, host, sizeof host, &u, false)) {
			snprintf(err, errlen, "--s13-listen: '%s' is not HOST:PORT (port 1-65535)", arg);
			return false;
		}
		snprintf(c->host, sizeof c->host, "%s", host);
		snprintf(c->port, sizeof c->port, "%u", u);
		return true;
	case S_PEER: {
		const char *at = strchr(arg, '@');
		char id[256];
		if (!at || (size_t)(at - arg) >= sizeof id) {
			snprintf(err, errlen, "--s13-peer: '%s' is not ID@HOST[:PORT]", arg);
			return false;
		}
		memcpy(id, arg, (size_t)(at - arg));
		id[at - arg] = 0;
		u = 0;
		if (!fqdn_ok(id, false) || !split_host_port(at + 1, host, sizeof host, &u, true)) {
			snprintf(err, errlen, "--s13-peer: '%s' is not ID@HOST[:PORT]", arg);
			return false;
		}
		if (c->npeers == EIRD_S13_MAX_PEERS) {
			snprintf(err, errlen, "--s13-peer: at most %d peers", EIRD_S13_MAX_PEERS);
			return false;
		}
		c->peers[c->npeers++] = arg;
		return true;
	}
	case S_ACCEPT:
		if (!fqdn_ok(arg, true)) {
			snprintf(err, errlen, "--s13-accept: '%s' is not an FQDN or *.DOMAIN", arg);
			return false;
		}
		if (c->naccept == EIRD_S13_MAX_PEERS) {
			snprintf(err, errlen, "--s13-accept: at most %d names", EIRD_S13_MAX_PEERS);
			return false;
		}
		c->accept[c->naccept++] = arg;
		return true;
	case S_TLS_CERT: c->tls_cert = arg; return true;
	case S_TLS_KEY: c->tls_key = arg; return true;
	case S_TLS_CA: c->tls_ca = arg; return true;
	case S_TLS_PORT:
		if (!port_ok(arg, &c->tls_port)) {
			snprintf(err, errlen, "--s13-tls-port: '%s' is not a port", arg);
			return false;
		}
		return true;
	case S_THREADS:
		if (!port_ok(arg, &u) || u > 64) {
			snprintf(err, errlen, "--s13-threads: '%s' is not 1 to 64", arg);
			return false;
		}
		c->threads = u;
		return true;
	case S_TC:
		if (!port_ok(arg, &u) || u > 3600) {
			snprintf(err, errlen, "--s13-tc: '%s' is not 1 to 3600 seconds", arg);
			return false;
		}
		c->tc_timer = u;
		return true;
	case S_SCTP: c->sctp = true; return true;
	case S_VERBOSE: c->verbose = true; return true;
	case S_CONF: c->conf = arg; return true;
	case S_EXT_DIR:
		if (strchr(arg, '"') || strchr(arg, '\n')) {
			snprintf(err, errlen, "--s13-extensions: a quote or newline in the path");
			return false;
		}
		c->ext_dir = arg;
		return true;
	default:
		snprintf(err, errlen, "unknown S13 option");
		return false;
	}
}

/* ---- the front end ------------------------------------------------------------------------ */

/* Answers by outcome, as counter slots. */
enum { R_WHITE, R_BLACK, R_GREY, R_UNKNOWN, R_5004, R_5005, R_5012, R_NRESULTS };
static const char *const result_label[R_NRESULTS][2] = {
	{ "2001", "WHITELISTED" }, { "2001", "BLACKLISTED" }, { "2001", "GREYLISTED" },
	{ "5422", "UNKNOWN" },     { "5004", "" },            { "5005", "" },           { "5012", "" },
};
static const int result_code[R_NRESULTS] = { 2001, 2001, 2001, 5422, 5004, 5005, 5012 };

/* An ECR handed from a freeDiameter dispatch thread to a worker. */
struct s13_job {
	struct s13_job *next;
	struct msg *req;
};

struct s13_wstate;

/* The requests waiting for worker slot i, and the worker serving the slot now (NULL
 * while none: before it starts, after it ends or was abandoned by the watchdog). */
struct s13_queue {
	pthread_mutex_t lock;
	struct s13_job *head, *tail;
	struct s13_wstate *ws;
};

/* One worker's part: the watcher the dispatch threads wake it with. */
struct s13_wstate {
	ev_async async;
	struct eird_s13 *s;
	struct eird_worker *w;
	struct s13_queue *q;
};

struct eird_s13 {
	struct eird_frontend fe;
	struct eird_server *srv;
	struct eird_s13_config cfg;
	struct s13_dict d;
	struct disp_hdl *hdl;
	struct fd_hook_hdl *hook;
	bool core_up, core_stopping;
	pthread_mutex_t stop_lock;
	size_t nq;
	struct s13_queue *q; /* one per worker slot */
	_Atomic unsigned rr; /* round robin over the slots */
	_Atomic uint64_t results[R_NRESULTS];
	_Atomic uint64_t no_worker; /* answered 5012 for want of a running worker */
	_Atomic uint64_t peer_up, peer_down;
};

/* What the handler read from the request. */
struct ecr {
	const uint8_t *origin_host;
	size_t origin_host_len;
	const uint8_t *origin_realm;
	size_t origin_realm_len;
	bool has_ass;
	int32_t ass;
	struct avp *imei, *sv, *meid, *user_name; /* for Failed-AVP */
	struct s13_ident_in in;
};

static const union avp_value *value_of(struct avp *a, struct avp_hdr **hp)
{
	struct avp_hdr *h = NULL;
	if (fd_msg_avp_hdr(a, &h) != 0 || !h)
		return NULL;
	*hp = h;
	return h->avp_value;
}

static void read_terminal_information(struct avp *ti, struct ecr *e)
{
	struct avp *c = NULL;
	if (fd_msg_browse(ti, MSG_BRW_FIRST_CHILD, &c, NULL) != 0)
		return;
	for (; c; fd_msg_browse(c, MSG_BRW_NEXT, &c, NULL) == 0 ? (void)0 : (void)(c = NULL)) {
		struct avp_hdr *h = NULL;
		const union avp_value *v = value_of(c, &h);
		if (!h || !(h->avp_flags & AVP_FLAG_VENDOR) || h->avp_vendor != S13_VENDOR_3GPP || !v)
			continue;
		const uint8_t *data = v->os.data ? v->os.data : (const uint8_t *)"";
		if (h->avp_code == S13_AVP_IMEI && !e->in.imei) {
			e->imei = c;
			e->in.imei = data;
			e->in.imei_len = v->os.len;
		} else if (h->avp_code == S13_AVP_SOFTWARE_VERSION && !e->in.software_version) {
			e->sv = c;
			e->in.software_version = data;
			e->in.software_version_len = v->os.len;
		} else if (h->avp_code == S13_AVP_MEID && !e->in.meid) {
			e->meid = c;
			e->in.meid = data;
			e->in.meid_len = v->os.len;
		}
	}
}

static void read_ecr(struct msg *req, struct ecr *e)
{
	memset(e, 0, sizeof *e);
	struct avp *a = NULL;
	if (fd_msg_browse(req, MSG_BRW_FIRST_CHILD, &a, NULL) != 0)
		return;
	for (; a; fd_msg_browse(a, MSG_BRW_NEXT, &a, NULL) == 0 ? (void)0 : (void)(a = NULL)) {
		struct avp_hdr *h = NULL;
		const union avp_value *v = value_of(a, &h);
		if (!h)
			continue;
		uint32_t vendor = (h->avp_flags & AVP_FLAG_VENDOR) ? h->avp_vendor : 0;
		if (vendor == S13_VENDOR_3GPP && h->avp_code == S13_AVP_TERMINAL_INFORMATION) {
			if (!e->in.has_terminal_information) {
				e->in.has_terminal_information = true;
				read_terminal_information(a, e);
			}
			continue;
		}
		if (vendor != 0 || !v)
			continue;
		switch (h->avp_code) {
		case 1: /* User-Name */
			if (!e->in.user_name) {
				e->user_name = a;
				e->in.user_name = v->os.data ? v->os.data : (const uint8_t *)"";
				e->in.user_name_len = v->os.len;
			}
			break;
		case 264: /* Origin-Host */
			e->origin_host = v->os.data;
			e->origin_host_len = v->os.len;
			break;
		case 296: /* Origin-Realm */
			e->origin_realm = v->os.data;
			e->origin_realm_len = v->os.len;
			break;
		case 277: /* Auth-Session-State */
			e->has_ass = true;
			e->ass = v->i32;
			break;
		default:
			break;
		}
	}
}

/* A copy of the AVP a (or an empty AVP of model when a is NULL) for Failed-AVP. */
static int failed_avp(struct s13_dict *d, struct msg *ans, struct dict_object *outer, struct dict_object *model,
                      struct avp *a)
{
	struct avp *f = NULL, *inner = NULL;
	int rc = fd_msg_avp_new(d->failed_avp, 0, &f);
	if (rc != 0)
		return rc;
	if (outer) { /* an empty grouped AVP: Terminal-Information when it is missing */
		rc = fd_msg_avp_new(outer, 0, &inner);
		if (rc == 0 && (rc = fd_msg_avp_add(f, MSG_BRW_LAST_CHILD, inner)) != 0)
			fd_msg_free(inner);
	} else {
		struct avp_hdr *h = NULL;
		const union avp_value *v = a ? value_of(a, &h) : NULL;
		/* RFC 6733 §7.5: a missing AVP is given with a value of the minimum length (empty) */
		rc = s13_add_os(f, model, v ? v->os.data : (const uint8_t *)"", v ? v->os.len : 0);
	}
	if (rc == 0)
		rc = fd_msg_avp_add(ans, MSG_BRW_LAST_CHILD, f);
	if (rc != 0)
		fd_msg_free(f);
	return rc;
}

/* The ECA (TS 29.272 §7.2.20) into ans. e and id may be NULL (5012 without a parse). */
static int build_answer(struct eird_s13 *s, struct msg *ans, const struct ecr *e, const struct s13_ident *id,
                        int outcome, const char *error_message)
{
	struct s13_dict *d = &s->d;
	struct avp *g = NULL;
	int rc;
	/* Vendor-Specific-Application-Id { Vendor-Id 10415, Auth-Application-Id 16777252 } */
	if ((rc = fd_msg_avp_new(d->vsai, 0, &g)) != 0)
		return rc;
	if ((rc = s13_add_u32(g, d->vendor_id, S13_VENDOR_3GPP)) != 0 ||
	    (rc = s13_add_u32(g, d->auth_application_id, S13_APP_ID)) != 0 ||
	    (rc = fd_msg_avp_add(ans, MSG_BRW_LAST_CHILD, g)) != 0) {
		fd_msg_free(g);
		return rc;
	}
	if (outcome == R_UNKNOWN) {
		/* Experimental-Result { Vendor-Id 10415, Experimental-Result-Code 5422 } (§7.4.3) */
		if ((rc = fd_msg_avp_new(d->experimental_result, 0, &g)) != 0)
			return rc;
		if ((rc = s13_add_u32(g, d->vendor_id, S13_VENDOR_3GPP)) != 0 ||
		    (rc = s13_add_u32(g, d->experimental_result_code, S13_ERROR_EQUIPMENT_UNKNOWN)) != 0 ||
		    (rc = fd_msg_avp_add(ans, MSG_BRW_LAST_CHILD, g)) != 0) {
			fd_msg_free(g);
			return rc;
		}
	} else if ((rc = s13_add_u32(ans, d->result_code, (uint32_t)result_code[outcome])) != 0) {
		return rc;
	}
	/* Auth-Session-State as the request had it; S13 keeps no state (NO_STATE_MAINTAINED, 1) */
	if ((rc = s13_add_i32(ans, d->auth_session_state, e && e->has_ass ? e->ass : 1)) != 0)
		return rc;
	if ((rc = fd_msg_add_origin(ans, 0)) != 0)
		return rc;
	if (outcome <= R_GREY && (rc = s13_add_i32(ans, d->equipment_status, (int32_t)outcome)) != 0)
		return rc;
	if (error_message && (rc = s13_add_os(ans, d->error_message, error_message, strlen(error_message))) != 0)
		return rc;
	switch (id ? id->fault : S13_ID_OK) {
	case S13_ID_NO_TERMINAL_INFORMATION: return failed_avp(d, ans, d->terminal_information, NULL, NULL);
	case S13_ID_NO_IDENTITY: return failed_avp(d, ans, NULL, d->imei, NULL);
	case S13_ID_BAD_IMEI: return failed_avp(d, ans, NULL, d->imei, e->imei);
	case S13_ID_BAD_SOFTWARE_VERSION: return failed_avp(d, ans, NULL, d->software_version, e->sv);
	case S13_ID_BAD_MEID: return failed_avp(d, ans, NULL, d->meid, e->meid);
	case S13_ID_BAD_USER_NAME: return failed_avp(d, ans, NULL, d->user_name, e->user_name);
	default: return 0;
	}
}

/* Answer the request *req (consumed) and count the answer. Any thread. On a failure to
 * build it, the request is answered by freeDiameter's own error path when we are still
 * in the dispatch callback (act != NULL), else dropped with a log line (out of memory). */
static void answer(struct eird_s13 *s, struct msg **req, const struct ecr *e, const struct s13_ident *id,
                   int outcome, const char *error_message, enum disp_action *act)
{
	struct msg *q = *req;
	int rc = fd_msg_new_answer_from_req(s->d.dict, req, 0);
	if (rc == 0 && (rc = build_answer(s, *req, e, id, outcome, error_message)) == 0) {
		atomic_fetch_add_explicit(&s->results[outcome], 1, memory_order_relaxed);
		if (act) {
			*act = DISP_ACT_SEND;
			return;
		}
		if ((rc = fd_msg_send(req, NULL, NULL)) == 0)
			return;
	}
	if (*req != q) { /* the half-built answer: take the request back */
		struct msg *ans = *req;
		if (fd_msg_answ_detach(ans) == 0) {
			fd_msg_free(ans);
			*req = q;
		}
	}
	if (act) {
		*act = DISP_ACT_ERROR; /* freeDiameter answers DIAMETER_UNABLE_TO_COMPLY */
		atomic_fetch_add_explicit(&s->results[R_5012], 1, memory_order_relaxed);
		return;
	}
	eird_logf(s->srv, "s13: cannot answer an ECR: %s", strerror(rc));
	if (*req)
		fd_msg_free(*req);
	*req = NULL;
}

/* The watchdog's answer for an ECR whose check hung: 5012, from its thread. */
struct hang_ctx {
	struct eird_s13 *s;
	struct msg *req;
	const struct ecr *e;
};

static void on_hang(void *ctx, const struct imei_verdict *v)
{
	(void)v;
	struct hang_ctx *h = ctx;
	answer(h->s, &h->req, h->e, NULL, R_5012, "the equipment check did not finish in time", NULL);
}

/* One ECR on worker w (its thread). false: the watchdog took the worker over (hung
 * check, answered by on_hang): stop using w's engine. */
static bool handle(struct eird_s13 *s, struct eird_worker *w, struct msg *req)
{
	uint64_t t0 = eird_now_ns();
	struct ecr e;
	struct s13_ident id;
	struct imei_verdict v = IMEI_VERDICT_INIT;
	bool checked = false;
	int outcome;
	const char *em = NULL;

	read_ecr(req, &e);
	char oh[256];
	snprintf(oh, sizeof oh, "%.*s", (int)(e.origin_host_len < 255 ? e.origin_host_len : 255),
	         e.origin_host ? (const char *)e.origin_host : "-");
	switch (s13_ident_read(&e.in, &id)) {
	case S13_ID_OK: {
		char orl[256];
		snprintf(orl, sizeof orl, "%.*s", (int)(e.origin_realm_len < 255 ? e.origin_realm_len : 255),
		         e.origin_realm ? (const char *)e.origin_realm : "");
		const char *extras[] = { "interface", "s13", "origin_host", oh, "origin_realm", orl };
		struct imei_request r = { .pei = id.pei, .imsi = id.imsi[0] ? id.imsi : NULL, .nextras = 3,
		                          .extras = extras };
		struct hang_ctx hc = { s, req, &e };
		eird_check_on_hang(w, on_hang, &hc);
		int rc = eird_check(w, &r, &v);
		if (rc == EIRD_CHECK_ABANDONED) {
			imei_verdict_release(&v);
			return false; /* on_hang answered it */
		}
		checked = true;
		if (rc < 0) {
			/* the policy failed as a whole (a condition failing alone still leaves a
			 * verdict, v.failed with rc 0: that one is answered) */
			outcome = R_5012;
			em = "the equipment policy failed on this request";
		} else {
			outcome = (int)v.status; /* WHITELISTED 0, BLACKLISTED 1, GREYLISTED 2, UNKNOWN 3 */
		}
		break;
	}
	case S13_ID_NO_TERMINAL_INFORMATION:
	case S13_ID_NO_IDENTITY:
		outcome = R_5005;
		em = id.why;
		break;
	default:
		outcome = R_5004;
		em = id.why;
		break;
	}
	/* the log record before the answer: the request's AVPs live until it is sent */
	char target[200];
	if (id.fault == S13_ID_OK)
		snprintf(target, sizeof target, "pei=%s%s%s", id.pei, id.imsi[0] ? " imsi=" : "", id.imsi);
	else
		snprintf(target, sizeof target, "%s", id.why);
	answer(s, &req, &e, &id, outcome, em, NULL);
	struct eird_log_record rec = {
		.protocol = "S13", .peer = oh, .op = "ECR", .op_len = 3, .target = target, .target_len = strlen(target),
		.result = result_code[outcome], .bytes = 0, .v = checked ? &v : NULL, .ns = eird_now_ns() - t0,
	};
	eird_log_write(w, &rec);
	imei_verdict_release(&v);
	return true;
}

/* Take what waits in q and unbind it from ws (when ws is still the one serving it). */
static struct s13_job *unbind(struct s13_queue *q, struct s13_wstate *ws)
{
	pthread_mutex_lock(&q->lock);
	struct s13_job *jobs = NULL;
	if (q->ws == ws) {
		q->ws = NULL;
		jobs = q->head;
		q->head = q->tail = NULL;
	}
	pthread_mutex_unlock(&q->lock);
	return jobs;
}

static void answer_all_5012(struct eird_s13 *s, struct s13_job *j, const char *why)
{
	while (j) {
		struct s13_job *next = j->next;
		answer(s, &j->req, NULL, NULL, R_5012, why, NULL);
		free(j);
		j = next;
	}
}

/* Run the jobs on w; after a hung check, the rest get 5012 (the engine is given up). */
static bool run_jobs(struct eird_s13 *s, struct eird_worker *w, struct s13_job *j)
{
	bool alive = true;
	while (j) {
		struct s13_job *next = j->next;
		struct msg *req = j->req;
		free(j);
		if (alive)
			alive = handle(s, w, req);
		else
			answer(s, &req, NULL, NULL, R_5012, "the worker was replaced", NULL);
		j = next;
	}
	return alive;
}

static void on_async(struct ev_loop *loop, ev_async *a, int revents)
{
	(void)loop;
	(void)revents;
	struct s13_wstate *ws = a->data;
	pthread_mutex_lock(&ws->q->lock);
	struct s13_job *jobs = ws->q->ws == ws ? ws->q->head : NULL;
	if (jobs)
		ws->q->head = ws->q->tail = NULL;
	pthread_mutex_unlock(&ws->q->lock);
	run_jobs(ws->s, ws->w, jobs);
}

/* The ECR handler, on a freeDiameter dispatch thread: hand the request to a worker, the
 * slots in turn (a busy one gets no more than its share); without any, answer 5012. */
static int on_ecr(struct msg **msg, struct avp *avp, struct session *sess, void *opaque, enum disp_action *act)
{
	(void)avp;
	(void)sess;
	struct eird_s13 *s = opaque;
	struct s13_job *j = malloc(sizeof *j);
	if (j) {
		j->next = NULL;
		j->req = *msg;
		unsigned start = atomic_fetch_add_explicit(&s->rr, 1, memory_order_relaxed);
		for (size_t k = 0; k < s->nq; k++) {
			struct s13_queue *q = &s->q[(start + k) % s->nq];
			pthread_mutex_lock(&q->lock);
			if (q->ws) {
				bool wake = q->head == NULL;
				if (q->tail)
					q->tail->next = j;
				else
					q->head = j;
				q->tail = j;
				if (wake)
					ev_async_send(q->ws->w->loop, &q->ws->async);
				pthread_mutex_unlock(&q->lock);
				*msg = NULL; /* the worker answers it */
				return 0;
			}
			pthread_mutex_unlock(&q->lock);
		}
		free(j);
	}
	atomic_fetch_add_explicit(&s->no_worker, 1, memory_order_relaxed);
	answer(s, msg, NULL, NULL, R_5012, "no worker is running (stopping)", act);
	return 0;
}

/* Peer connections, for the log and the counters. */
static void on_peer(enum fd_hook_type type, struct msg *msg, struct peer_hdr *peer, void *other,
                    struct fd_hook_permsgdata *pmd, void *regdata)
{
	(void)msg;
	(void)pmd;
	struct eird_s13 *s = regdata;
	const char *who = peer && peer->info.pi_diamid ? peer->info.pi_diamid : "?";
	if (type == HOOK_PEER_CONNECT_SUCCESS) {
		atomic_fetch_add(&s->peer_up, 1);
		if (!s->srv->cfg.quiet)
			eird_logf(s->srv, "s13: peer %s connected", who);
	} else {
		atomic_fetch_add(&s->peer_down, 1);
		if (!s->srv->cfg.quiet)
			eird_logf(s->srv, "s13: peer %s: %s", who, other ? (const char *)other : "connection failed or lost");
	}
}

/* freeDiameter's own messages, on stderr with our prefix, from its level on. */
static void fd_logger(int level, const char *fmt, va_list ap)
{
	if (level < fd_g_debug_lvl)
		return;
	if (fd_g_debug_lvl > FD_LOG_NOTICE && strncmp(fmt, "Initiating freeDiameter shutdown", 32) == 0)
		return; /* our own stop, said otherwise */
	char line[1024];
	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "imei-eird: diameter: %s\n", line);
}

/* ---- configuration file ------------------------------------------------------------------ */

static int write_temp(char *path, size_t plen, const char *what, const struct ebuf *b, char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	snprintf(path, plen, "%s/imei-eird-%s.XXXXXX", dir && *dir ? dir : "/tmp", what);
	int fd = mkstemp(path);
	if (fd < 0) {
		snprintf(err, errlen, "s13: cannot create %s: %s", path, strerror(errno));
		path[0] = 0;
		return -1;
	}
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n <= 0) {
			snprintf(err, errlen, "s13: cannot write %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			path[0] = 0;
			return -1;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0) {
		snprintf(err, errlen, "s13: cannot write %s: %s", path, strerror(errno));
		unlink(path);
		path[0] = 0;
		return -1;
	}
	return 0;
}

/* The freeDiameter configuration for the flags (docs/s13.md shows one). */
static int generate_conf(const struct eird_s13_config *c, unsigned threads, char *conf, size_t clen, char *acl,
                         size_t alen, char *err, size_t errlen)
{
	struct ebuf b;
	ebuf_init(&b);
	bool tls = c->tls_cert != NULL;
	const char *realm = c->realm ? c->realm : strchr(c->identity, '.') + 1;
	ebuf_printf(&b, "# generated by imei-eird from its --s13-* flags\n");
	ebuf_printf(&b, "Identity = \"%s\";\nRealm = \"%s\";\n", c->identity, realm);
	ebuf_printf(&b, "Port = %s;\nSecPort = %u;\n", c->port, tls ? (c->tls_port ? c->tls_port : 5868) : 0);
	ebuf_printf(&b, "TcTimer = %u;\nAppServThreads = %u;\nNoRelay;\n", c->tc_timer, threads);
	if (!c->sctp)
		ebuf_str(&b, "No_SCTP;\n");
	else
		ebuf_str(&b, "Prefer_TCP;\n");
	if (tls) {
		if (!c->tls_key || strchr(c->tls_cert, '"') || strchr(c->tls_key, '"') ||
		    (c->tls_ca && strchr(c->tls_ca, '"'))) {
			snprintf(err, errlen, "s13: TLS needs --s13-tls-cert and --s13-tls-key (paths without quotes)");
			ebuf_free(&b);
			return -1;
		}
		ebuf_printf(&b, "TLS_Cred = \"%s\", \"%s\";\n", c->tls_cert, c->tls_key);
		if (c->tls_ca)
			ebuf_printf(&b, "TLS_CA = \"%s\";\n", c->tls_ca);
	}
	acl[0] = 0;
	if (c->naccept) {
		/* acl_wl (a freeDiameter extension): peers that may connect in. ALLOW_IPSEC admits
		 * them without TLS (protection assumed below Diameter); without it, TLS only. */
		struct ebuf a;
		ebuf_init(&a);
		ebuf_str(&a, tls ? "" : "ALLOW_IPSEC");
		for (size_t i = 0; i < c->naccept; i++)
			ebuf_printf(&a, " %s", c->accept[i]);
		ebuf_str(&a, "\n");
		int rc = a.failed ? -1 : write_temp(acl, alen, "acl", &a, err, errlen);
		ebuf_free(&a);
		if (rc != 0) {
			ebuf_free(&b);
			return -1;
		}
		ebuf_printf(&b, "LoadExtension = \"%s/acl_wl.fdx\" : \"%s\";\n", c->ext_dir, acl);
	}
	for (size_t i = 0; i < c->npeers; i++) {
		const char *p = c->peers[i], *at = strchr(p, '@');
		char host[256];
		unsigned port = 0;
		split_host_port(at + 1, host, sizeof host, &port, true); /* checked by eird_s13_option */
		ebuf_printf(&b, "ConnectPeer = \"%.*s\" { ConnectTo = \"%s\"; ", (int)(at - p), p, host);
		if (port)
			ebuf_printf(&b, "Port = %u; ", port);
		ebuf_str(&b, tls ? "};\n" : "No_TLS; };\n");
	}
	int rc = b.failed ? -1 : write_temp(conf, clen, "conf", &b, err, errlen);
	if (b.failed)
		snprintf(err, errlen, "s13: out of memory");
	if (c->verbose && rc == 0)
		fprintf(stderr, "imei-eird: s13: freeDiameter configuration:\n%.*s", (int)b.len, b.data);
	ebuf_free(&b);
	if (rc != 0 && acl[0]) {
		unlink(acl);
		acl[0] = 0;
	}
	return rc;
}

/* freeDiameter 1.2 drops loopback addresses given with ListenOn; add the listen address
 * ourselves, marked as configured (and exempt from that filter). */
static int add_listen_address(const struct eird_s13_config *c, char *err, size_t errlen)
{
	if (strcmp(c->host, "*") == 0 || strcmp(c->host, "0.0.0.0") == 0 || strcmp(c->host, "::") == 0)
		return 0; /* every address: freeDiameter's default */
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE }, *ai = NULL;
	int rc = getaddrinfo(c->host, NULL, &hints, &ai);
	if (rc != 0 || !ai) {
		snprintf(err, errlen, "--s13-listen: '%s' is not a numeric address: %s", c->host, gai_strerror(rc));
		return -1;
	}
	rc = fd_ep_add_merge(&fd_g_config->cnf_endpoints, ai->ai_addr, ai->ai_addrlen, EP_FL_CONF | EP_ACCEPTALL);
	freeaddrinfo(ai);
	if (rc != 0) {
		snprintf(err, errlen, "s13: cannot use the listen address %s: %s", c->host, strerror(rc));
		return -1;
	}
	return 0;
}

/* ---- the front end's callbacks ------------------------------------------------------------ */

static int fe_open(struct eird_frontend *fe, struct eird_server *srv)
{
	struct eird_s13 *s = fe->state;
	const struct eird_s13_config *cfg = &s->cfg;
	char err[1024];
	s->srv = srv;
	if (cfg->conf && (cfg->identity || cfg->npeers || cfg->naccept || cfg->tls_cert)) {
		eird_logf(srv, "--s13-conf replaces --s13-identity/-peer/-accept/-tls-*: give one or the other");
		return -1;
	}
	s->nq = srv->nworkers;
	s->q = calloc(s->nq, sizeof *s->q);
	if (!s->q) {
		eird_logf(srv, "s13: out of memory");
		return -1;
	}
	for (size_t i = 0; i < s->nq; i++)
		pthread_mutex_init(&s->q[i].lock, NULL);
	unsigned threads = cfg->threads ? cfg->threads : 2;
	char conf[512] = "", acl[512] = "";
	if (!cfg->conf && generate_conf(cfg, threads, conf, sizeof conf, acl, sizeof acl, err, sizeof err) != 0) {
		eird_logf(srv, "%s", err);
		return -1;
	}
	fd_g_debug_lvl = cfg->verbose ? FD_LOG_NOTICE : FD_LOG_ERROR;
	fd_log_handler_register(fd_logger);
	int rc = fd_core_initialize();
	if (rc == 0) {
		s->core_up = true;
		rc = fd_core_parseconf(cfg->conf ? cfg->conf : conf);
	}
	if (conf[0])
		unlink(conf);
	if (acl[0])
		unlink(acl); /* acl_wl read it while loading */
	if (rc != 0) {
		eird_logf(srv, "s13: the freeDiameter configuration %s was refused (%s); --s13-verbose says why",
		          cfg->conf ? cfg->conf : "(generated)", strerror(rc));
		return -1;
	}
	if (!cfg->conf && add_listen_address(cfg, err, sizeof err) != 0) {
		eird_logf(srv, "%s", err);
		return -1;
	}
	if (cfg->threads)
		fd_g_config->cnf_dispthr = (uint16_t)threads;
	if (s13_dict_init(&s->d, err, sizeof err) != 0) {
		eird_logf(srv, "%s", err);
		return -1;
	}
	struct disp_when when = { .app = s->d.app, .command = s->d.ecr };
	if ((rc = fd_disp_register(on_ecr, DISP_HOW_CC, &when, s, &s->hdl)) != 0 ||
	    (rc = fd_disp_app_support(s->d.app, s->d.vendor, 1, 0)) != 0 ||
	    (rc = fd_hook_register(HOOK_MASK(HOOK_PEER_CONNECT_SUCCESS, HOOK_PEER_CONNECT_FAILED), on_peer, s, NULL,
	                           &s->hook)) != 0) {
		eird_logf(srv, "s13: cannot register the S13 handler: %s", strerror(rc));
		return -1;
	}
	/* requests that come before the workers run wait in the slots' queues */
	if ((rc = fd_core_start()) != 0 || (rc = fd_core_waitstartcomplete()) != 0) {
		eird_logf(srv, "s13: freeDiameter did not start (%s): is %s:%s free?", strerror(rc), cfg->host, cfg->port);
		return -1;
	}
	if (!srv->cfg.quiet)
		eird_logf(srv, "s13: Diameter identity %s realm %.*s on %s:%s, %u dispatch threads handing to %zu workers",
		          fd_g_config->cnf_diamid, (int)fd_g_config->cnf_diamrlm_len, fd_g_config->cnf_diamrlm,
		          cfg->conf ? "(conf)" : cfg->host, cfg->conf ? "-" : cfg->port, fd_g_config->cnf_dispthr, s->nq);
	return 0;
}

static int fe_worker_start(struct eird_frontend *fe, struct eird_worker *w)
{
	struct eird_s13 *s = fe->state;
	if (w->id >= s->nq)
		return -1;
	struct s13_wstate *ws = calloc(1, sizeof *ws);
	if (!ws)
		return -1;
	ws->s = s;
	ws->w = w;
	ws->q = &s->q[w->id];
	ev_async_init(&ws->async, on_async);
	ws->async.data = ws;
	ev_async_start(w->loop, &ws->async);
	w->fe_state[fe->slot] = ws;
	pthread_mutex_lock(&ws->q->lock);
	ws->q->ws = ws;
	if (ws->q->head)
		ev_async_send(w->loop, &ws->async); /* waiting since before: run them first thing */
	pthread_mutex_unlock(&ws->q->lock);
	return 0;
}

/* Graceful stop: DPR to the peers (RFC 6733 §5.4) so they send their next requests to
 * another EIR; the ones already queued are still answered by the workers. */
static void fe_worker_drain(struct eird_frontend *fe, struct eird_worker *w)
{
	(void)w;
	struct eird_s13 *s = fe->state;
	pthread_mutex_lock(&s->stop_lock);
	if (s->core_up && !s->core_stopping) {
		s->core_stopping = true;
		fd_core_shutdown();
	}
	pthread_mutex_unlock(&s->stop_lock);
}

/* The worker's end (its thread): answer what still waits for it, then let go. */
static void fe_worker_close(struct eird_frontend *fe, struct eird_worker *w)
{
	struct eird_s13 *s = fe->state;
	struct s13_wstate *ws = w->fe_state[fe->slot];
	if (!ws)
		return;
	struct s13_job *jobs = unbind(ws->q, ws);
	if (atomic_load(&w->abandoned))
		answer_all_5012(s, jobs, "the worker was replaced");
	else
		run_jobs(s, w, jobs);
	ev_async_stop(w->loop, &ws->async);
	free(ws);
	w->fe_state[fe->slot] = NULL;
}

/* The watchdog gave up on w (its thread is stuck): its queue goes to nobody until the
 * replacement starts; what waited there is answered 5012 now. ws stays allocated: the
 * stuck loop still holds its watcher. */
static void fe_worker_abandon(struct eird_frontend *fe, struct eird_worker *w)
{
	struct eird_s13 *s = fe->state;
	struct s13_wstate *ws = w->fe_state[fe->slot];
	if (ws)
		answer_all_5012(s, unbind(ws->q, ws), "the worker was replaced");
}

static void fe_metrics(struct eird_frontend *fe, struct eird_server *srv, struct ebuf *b)
{
	(void)srv;
	struct eird_s13 *s = fe->state;
	ebuf_str(b, "# HELP imei_eir_s13_answers_total S13 ME-Identity-Check answers by result code and "
	            "equipment status.\n# TYPE imei_eir_s13_answers_total counter\n");
	for (int r = 0; r < R_NRESULTS; r++)
		ebuf_printf(b, "imei_eir_s13_answers_total{result_code=\"%s\",status=\"%s\"} %llu\n", result_label[r][0],
		            result_label[r][1], (unsigned long long)atomic_load(&s->results[r]));
	ebuf_printf(b, "# HELP imei_eir_s13_no_worker_total ECRs answered 5012 because no worker was running.\n"
	               "# TYPE imei_eir_s13_no_worker_total counter\nimei_eir_s13_no_worker_total %llu\n",
	            (unsigned long long)atomic_load(&s->no_worker));
	uint64_t open = 0;
	if (s->core_up && !s->core_stopping && pthread_rwlock_rdlock(&fd_g_peers_rw) == 0) {
		for (struct fd_list *li = fd_g_peers.next; li != &fd_g_peers; li = li->next)
			if (fd_peer_get_state((struct peer_hdr *)li->o) == STATE_OPEN)
				open++;
		pthread_rwlock_unlock(&fd_g_peers_rw);
	}
	ebuf_printf(b, "# HELP imei_eir_s13_peers_open Diameter peers in the OPEN state.\n"
	               "# TYPE imei_eir_s13_peers_open gauge\nimei_eir_s13_peers_open %llu\n"
	               "# HELP imei_eir_s13_peer_events_total Diameter peer connections made, and failed or broken.\n"
	               "# TYPE imei_eir_s13_peer_events_total counter\n"
	               "imei_eir_s13_peer_events_total{event=\"connected\"} %llu\n"
	               "imei_eir_s13_peer_events_total{event=\"failed_or_broken\"} %llu\n",
	            (unsigned long long)open, (unsigned long long)atomic_load(&s->peer_up),
	            (unsigned long long)atomic_load(&s->peer_down));
}

/* At exit, the workers gone: the framework's shutdown (DPR if not done), then free. */
static void fe_close(struct eird_frontend *fe)
{
	struct eird_s13 *s = fe->state;
	pthread_mutex_lock(&s->stop_lock);
	bool up = s->core_up;
	if (up && !s->core_stopping) {
		s->core_stopping = true;
		fd_core_shutdown();
	}
	pthread_mutex_unlock(&s->stop_lock);
	if (up)
		fd_core_wait_shutdown_complete(); /* no dispatch thread runs after this */
	s->core_up = false;
	for (size_t i = 0; i < s->nq; i++) {
		/* the peers are gone: what is left cannot be answered */
		for (struct s13_job *j = s->q[i].head, *next; j; j = next) {
			next = j->next;
			fd_msg_free(j->req);
			free(j);
		}
		s->q[i].head = s->q[i].tail = NULL;
		pthread_mutex_destroy(&s->q[i].lock);
	}
	free(s->q);
	s->q = NULL;
	s->nq = 0;
}

struct eird_frontend *eird_s13_frontend(const struct eird_s13_config *cfg)
{
	struct eird_s13 *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->cfg = *cfg;
	pthread_mutex_init(&s->stop_lock, NULL);
	s->fe = (struct eird_frontend){
		.name = "s13",
		.state = s,
		.open = fe_open,
		.worker_start = fe_worker_start,
		.worker_drain = fe_worker_drain,
		.worker_close = fe_worker_close,
		.worker_abandon = fe_worker_abandon,
		.metrics = fe_metrics,
		.close = fe_close,
	};
	return &s->fe;
}

void eird_s13_frontend_free(struct eird_frontend *fe)
{
	if (!fe)
		return;
	struct eird_s13 *s = fe->state;
	pthread_mutex_destroy(&s->stop_lock);
	free(s);
}
