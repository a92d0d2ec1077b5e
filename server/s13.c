/*
 * s13.c — imei-eird's S13 interface (s13.h): options, the generated freeDiameter
 * configuration, the engine pool of the dispatch threads, the ME-Identity-Check handler
 * (TS 29.272 §5.2.4, §7.2.19–7.2.20), its counters, access log and stop.
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

#include "eird.h"
#include "imei_lists.h"
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
	"  --s13-threads N        dispatch threads, one engine each (default: --workers)\n"
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

/* ---- the running interface ----------------------------------------------------------- */

/* Answers by outcome, as counter slots. */
enum { R_WHITE, R_BLACK, R_GREY, R_UNKNOWN, R_5004, R_5005, R_5012, R_NRESULTS };
static const char *const result_label[R_NRESULTS][2] = {
	{ "2001", "WHITELISTED" }, { "2001", "BLACKLISTED" }, { "2001", "GREYLISTED" },
	{ "5422", "UNKNOWN" },     { "5004", "" },            { "5005", "" },           { "5012", "" },
};

/* One dispatch thread's engine, counters and log buffer. A slot normally has one thread;
 * the lock makes a shared one (more dispatch threads than engines) correct too. */
struct s13_slot {
	pthread_mutex_t lock;
	struct imei_engine *engine;
	_Atomic uint64_t results[R_NRESULTS];
	_Atomic uint64_t failures;            /* checks where the policy failed (answered 5012) */
	_Atomic uint64_t hist[EIRD_NBUCKETS]; /* handler time, request parsed to answer queued */
	_Atomic uint64_t hist_sum_ns, hist_count;
	struct ebuf log;
	long long log_since_ms;               /* when the oldest unflushed line was written */
};

struct eird_s13 {
	struct eird_server *srv;
	struct eird_s13_config cfg;
	struct s13_dict d;
	struct disp_hdl *hdl;
	struct fd_hook_hdl *hook;
	pthread_key_t key;
	bool key_made, core_up;
	_Atomic unsigned next_slot;
	size_t nslots;
	struct s13_slot *slots;
	_Atomic uint64_t peer_up, peer_down;
	/* the log flusher thread */
	pthread_t flusher;
	bool flusher_up, flusher_stop;
	pthread_mutex_t flock;
	pthread_cond_t fcond;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct s13_slot *my_slot(struct eird_s13 *s)
{
	struct s13_slot *sl = pthread_getspecific(s->key);
	if (!sl) {
		unsigned i = atomic_fetch_add(&s->next_slot, 1);
		sl = &s->slots[i % s->nslots];
		pthread_setspecific(s->key, sl);
	}
	return sl;
}

static void flush_slot(struct eird_s13 *s, struct s13_slot *sl)
{
	struct ebuf *b = &sl->log;
	size_t off = 0;
	while (off < b->len && s->srv->log_fd >= 0) {
		ssize_t n = write(s->srv->log_fd, b->data + off, b->len - off);
		if (n <= 0)
			break; /* a full disk loses log lines, never answers */
		off += (size_t)n;
	}
	b->len = 0;
	b->failed = false;
}

static void *flusher_main(void *arg)
{
	struct eird_s13 *s = arg;
	pthread_mutex_lock(&s->flock);
	while (!s->flusher_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->fcond, &s->flock, &ts);
		pthread_mutex_unlock(&s->flock);
		for (size_t i = 0; i < s->nslots; i++) {
			pthread_mutex_lock(&s->slots[i].lock);
			flush_slot(s, &s->slots[i]);
			pthread_mutex_unlock(&s->slots[i].lock);
		}
		pthread_mutex_lock(&s->flock);
	}
	pthread_mutex_unlock(&s->flock);
	return NULL;
}

/* Append s to the log: printable ASCII except '"' and '\' as is, others \xHH (as handler.c). */
static void log_escaped(struct ebuf *b, const uint8_t *p, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	bool cut = n > max;
	if (cut)
		n = max;
	if (!ebuf_reserve(b, n * 4 + 3))
		return;
	char *o = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '"' || p[i] == '\\') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[p[i] >> 4];
			*o++ = hex[p[i] & 15];
		} else {
			*o++ = (char)p[i];
		}
	}
	if (cut) {
		memcpy(o, "...", 3);
		o += 3;
	}
	b->len = (size_t)(o - b->data);
}

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
		if (h->avp_code == S13_AVP_IMEI && !e->in.imei) {
			e->imei = c;
			e->in.imei = v->os.data ? v->os.data : (const uint8_t *)"";
			e->in.imei_len = v->os.len;
		} else if (h->avp_code == S13_AVP_SOFTWARE_VERSION && !e->in.software_version) {
			e->sv = c;
			e->in.software_version = v->os.data ? v->os.data : (const uint8_t *)"";
			e->in.software_version_len = v->os.len;
		} else if (h->avp_code == S13_AVP_MEID && !e->in.meid) {
			e->meid = c;
			e->in.meid = v->os.data ? v->os.data : (const uint8_t *)"";
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

/* Build the ECA (TS 29.272 §7.2.20) into ans. */
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
	} else {
		uint32_t code = outcome == R_5004 ? S13_INVALID_AVP_VALUE
		                : outcome == R_5005 ? S13_MISSING_AVP
		                : outcome == R_5012 ? S13_UNABLE_TO_COMPLY
		                                    : S13_SUCCESS;
		if ((rc = s13_add_u32(ans, d->result_code, code)) != 0)
			return rc;
	}
	/* Auth-Session-State as the request had it; S13 keeps no state (NO_STATE_MAINTAINED, 1) */
	if ((rc = s13_add_i32(ans, d->auth_session_state, e->has_ass ? e->ass : 1)) != 0)
		return rc;
	if ((rc = fd_msg_add_origin(ans, 0)) != 0)
		return rc;
	if (outcome <= R_GREY && (rc = s13_add_i32(ans, d->equipment_status, (int32_t)outcome)) != 0)
		return rc;
	if (error_message && (rc = s13_add_os(ans, d->error_message, error_message, strlen(error_message))) != 0)
		return rc;
	switch (id->fault) {
	case S13_ID_NO_TERMINAL_INFORMATION: return failed_avp(d, ans, d->terminal_information, NULL, NULL);
	case S13_ID_NO_IDENTITY: return failed_avp(d, ans, NULL, d->imei, NULL);
	case S13_ID_BAD_IMEI: return failed_avp(d, ans, NULL, d->imei, e->imei);
	case S13_ID_BAD_SOFTWARE_VERSION: return failed_avp(d, ans, NULL, d->software_version, e->sv);
	case S13_ID_BAD_MEID: return failed_avp(d, ans, NULL, d->meid, e->meid);
	case S13_ID_BAD_USER_NAME: return failed_avp(d, ans, NULL, d->user_name, e->user_name);
	default: return 0;
	}
}

static void access_log(struct eird_s13 *s, struct s13_slot *sl, const struct ecr *e, const struct s13_ident *id,
                       int outcome, const struct imei_verdict *v, uint64_t ns)
{
	if (s->srv->log_fd < 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	struct ebuf *b = &sl->log;
	if (b->len == 0)
		sl->log_since_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ebuf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	            tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	if (e->origin_host_len)
		log_escaped(b, e->origin_host, e->origin_host_len, 128);
	else
		ebuf_str(b, "-");
	ebuf_str(b, " \"ECR ");
	if (id->fault == S13_ID_OK)
		ebuf_printf(b, "pei=%s", id->pei);
	else
		ebuf_str(b, id->why);
	if (id->imsi[0])
		ebuf_printf(b, " imsi=%s", id->imsi);
	ebuf_printf(b, " S13\" %s - %s ", result_label[outcome][0], v ? imei_status_name(v->status) : "-");
	size_t n = v ? v->nreasons : 0;
	if (n == 0)
		ebuf_str(b, "-");
	for (size_t i = 0; i < n; i++)
		ebuf_printf(b, "%s%s", i ? "," : "", v->reasons[i].condition);
	ebuf_printf(b, " %lluus\n", (unsigned long long)(ns / 1000));
	if (b->len >= 48 * 1024)
		flush_slot(s, sl);
}

/* The ME-Identity-Check handler, on a freeDiameter dispatch thread. */
static int on_ecr(struct msg **msg, struct avp *avp, struct session *sess, void *opaque, enum disp_action *act)
{
	(void)avp;
	(void)sess;
	struct eird_s13 *s = opaque;
	struct s13_slot *sl = my_slot(s);
	uint64_t t0 = now_ns();
	struct msg *req = *msg;
	struct ecr e;
	struct s13_ident id;
	struct imei_verdict v;
	bool checked = false;
	int outcome;
	const char *error_message = NULL;

	pthread_mutex_lock(&sl->lock);
	read_ecr(req, &e);
	switch (s13_ident_read(&e.in, &id)) {
	case S13_ID_OK: {
		char oh[256] = "", orl[256] = "";
		snprintf(oh, sizeof oh, "%.*s", (int)(e.origin_host_len < 255 ? e.origin_host_len : 255),
		         e.origin_host ? (const char *)e.origin_host : "");
		snprintf(orl, sizeof orl, "%.*s", (int)(e.origin_realm_len < 255 ? e.origin_realm_len : 255),
		         e.origin_realm ? (const char *)e.origin_realm : "");
		const char *extras[] = { "interface", "s13", "origin_host", oh, "origin_realm", orl };
		struct imei_request r = { .pei = id.pei, .imsi = id.imsi[0] ? id.imsi : NULL, .nextras = 3,
		                          .extras = extras };
		int rc = imei_engine_check(sl->engine, &r, &v);
		checked = true;
		if (rc < 0) {
			/* the policy failed as a whole: no verdict to give (RFC 6733 §7.1.5) */
			outcome = R_5012;
			error_message = "the equipment policy failed on this request";
			eird_inc(&sl->failures);
			uint64_t n = atomic_load_explicit(&sl->failures, memory_order_relaxed);
			if ((n & (n - 1)) == 0)
				eird_logf(s->srv, "s13: policy failed (%llu so far on this thread): %s", (unsigned long long)n,
				          v.error ? v.error : "?");
		} else {
			outcome = (int)v.status; /* WHITELISTED 0, BLACKLISTED 1, GREYLISTED 2, UNKNOWN 3 */
		}
		break;
	}
	case S13_ID_NO_TERMINAL_INFORMATION:
	case S13_ID_NO_IDENTITY:
		outcome = R_5005;
		error_message = id.why;
		break;
	default:
		outcome = R_5004;
		error_message = id.why;
		break;
	}

	int rc = fd_msg_new_answer_from_req(s->d.dict, msg, 0);
	if (rc == 0) {
		struct msg *ans = *msg;
		rc = build_answer(s, ans, &e, &id, outcome, error_message);
		if (rc != 0) {
			/* out of memory half-way: take the request back and let freeDiameter answer
			 * DIAMETER_UNABLE_TO_COMPLY rather than leave the MME without an answer */
			struct msg *q = NULL;
			if (fd_msg_answ_getq(ans, &q) == 0 && q && fd_msg_answ_detach(ans) == 0) {
				fd_msg_free(ans);
				*msg = q;
			}
			outcome = R_5012;
			*act = DISP_ACT_ERROR;
		} else {
			*act = DISP_ACT_SEND;
		}
	} else {
		outcome = R_5012;
		*act = DISP_ACT_ERROR;
	}
	uint64_t ns = now_ns() - t0;
	eird_inc(&sl->results[outcome]);
	if (checked) {
		size_t b = 0;
		while (b < EIRD_NBUCKETS - 1 && (double)ns > eird_buckets[b] * 1e9)
			b++;
		eird_inc(&sl->hist[b]);
		eird_add(&sl->hist_sum_ns, ns);
		eird_inc(&sl->hist_count);
	}
	access_log(s, sl, &e, &id, outcome, checked ? &v : NULL, ns);
	pthread_mutex_unlock(&sl->lock);
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

/* ---- start, reload, metrics, stop ----------------------------------------------------- */

static void free_slots(struct eird_s13 *s)
{
	for (size_t i = 0; i < s->nslots; i++) {
		imei_engine_free(s->slots[i].engine);
		ebuf_free(&s->slots[i].log);
		pthread_mutex_destroy(&s->slots[i].lock);
	}
	free(s->slots);
	s->slots = NULL;
	s->nslots = 0;
}

struct eird_s13 *eird_s13_start(struct eird_server *srv, const struct eird_s13_config *cfg, char *err,
                                size_t errlen)
{
	if (cfg->conf && (cfg->identity || cfg->npeers || cfg->naccept || cfg->tls_cert)) {
		snprintf(err, errlen, "--s13-conf replaces --s13-identity/-peer/-accept/-tls-*: give one or the other");
		return NULL;
	}
	struct eird_s13 *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "s13: out of memory");
		return NULL;
	}
	s->srv = srv;
	s->cfg = *cfg;
	unsigned threads = cfg->threads ? cfg->threads : (unsigned)srv->nworkers;
	s->slots = calloc(threads, sizeof *s->slots);
	if (!s->slots) {
		snprintf(err, errlen, "s13: out of memory");
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < threads; i++) {
		pthread_mutex_init(&s->slots[i].lock, NULL);
		ebuf_init(&s->slots[i].log);
		s->nslots = i + 1;
		s->slots[i].engine = imei_engine_new(&srv->ecfg, err, errlen);
		if (!s->slots[i].engine)
			goto fail_slots;
	}
	if (pthread_key_create(&s->key, NULL) != 0) {
		snprintf(err, errlen, "s13: pthread_key_create failed");
		goto fail_slots;
	}
	s->key_made = true;

	char conf[512] = "", acl[512] = "";
	if (!cfg->conf && generate_conf(cfg, threads, conf, sizeof conf, acl, sizeof acl, err, errlen) != 0)
		goto fail_key;
	fd_g_debug_lvl = cfg->verbose ? FD_LOG_NOTICE : FD_LOG_ERROR;
	fd_log_handler_register(fd_logger);
	int rc = fd_core_initialize();
	if (rc != 0) {
		snprintf(err, errlen, "s13: freeDiameter initialisation failed: %s", strerror(rc));
		goto fail_files;
	}
	s->core_up = true;
	rc = fd_core_parseconf(cfg->conf ? cfg->conf : conf);
	if (conf[0])
		unlink(conf);
	if (acl[0])
		unlink(acl); /* acl_wl read it while loading */
	conf[0] = acl[0] = 0;
	if (rc != 0) {
		snprintf(err, errlen, "s13: the freeDiameter configuration %s was refused (%s); --s13-verbose says why",
		         cfg->conf ? cfg->conf : "(generated)", strerror(rc));
		goto fail_core;
	}
	if (!cfg->conf && add_listen_address(cfg, err, errlen) != 0)
		goto fail_core;
	if (cfg->conf)
		fd_g_config->cnf_dispthr = (uint16_t)threads; /* one engine per dispatch thread */
	if (s13_dict_init(&s->d, err, errlen) != 0)
		goto fail_core;
	struct disp_when when = { .app = s->d.app, .command = s->d.ecr };
	if ((rc = fd_disp_register(on_ecr, DISP_HOW_CC, &when, s, &s->hdl)) != 0 ||
	    (rc = fd_disp_app_support(s->d.app, s->d.vendor, 1, 0)) != 0 ||
	    (rc = fd_hook_register(HOOK_MASK(HOOK_PEER_CONNECT_SUCCESS, HOOK_PEER_CONNECT_FAILED), on_peer, s, NULL,
	                           &s->hook)) != 0) {
		snprintf(err, errlen, "s13: cannot register the S13 handler: %s", strerror(rc));
		goto fail_core;
	}
	pthread_mutex_init(&s->flock, NULL);
	pthread_cond_init(&s->fcond, NULL);
	if (pthread_create(&s->flusher, NULL, flusher_main, s) != 0) {
		snprintf(err, errlen, "s13: cannot start the log flusher");
		goto fail_core;
	}
	s->flusher_up = true;
	if ((rc = fd_core_start()) != 0 || (rc = fd_core_waitstartcomplete()) != 0) {
		snprintf(err, errlen, "s13: freeDiameter did not start (%s): is %s:%s free?", strerror(rc), cfg->host,
		         cfg->port);
		goto fail_core;
	}
	if (!srv->cfg.quiet)
		eird_logf(srv, "s13: Diameter identity %s realm %.*s on %s:%s, %zu dispatch threads (one engine each)",
		          fd_g_config->cnf_diamid, (int)fd_g_config->cnf_diamrlm_len, fd_g_config->cnf_diamrlm,
		          cfg->conf ? "(conf)" : cfg->host, cfg->conf ? "-" : cfg->port, s->nslots);
	return s;

fail_core:
	eird_s13_stop(s);
	return NULL;
fail_files:
	if (conf[0])
		unlink(conf);
	if (acl[0])
		unlink(acl);
fail_key:
	pthread_key_delete(s->key);
fail_slots:
	free_slots(s);
	free(s);
	return NULL;
}

int eird_s13_reload(struct eird_s13 *s, struct imei_lists *fresh)
{
	char err[1024];
	int status = 0;
	for (size_t i = 0; i < s->nslots; i++) {
		struct imei_engine *e = s->slots[i].engine;
		if (fresh && imei_engine_set_lists(e, fresh, err, sizeof err) != 0) {
			eird_logf(s->srv, "reload: s13 engine %zu: lists kept: %s", i, err);
			status = -1;
		}
		if (imei_engine_reload(e, err, sizeof err) != 0) {
			eird_logf(s->srv, "reload: s13 engine %zu: policy kept: %s", i, err);
			status = -1;
		}
	}
	return status;
}

static uint64_t rd(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void eird_s13_metrics_render(struct eird_s13 *s, struct ebuf *b)
{
	ebuf_str(b, "# HELP imei_eir_s13_answers_total S13 ME-Identity-Check answers by result code and "
	            "equipment status.\n# TYPE imei_eir_s13_answers_total counter\n");
	for (int r = 0; r < R_NRESULTS; r++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < s->nslots; i++)
			sum += rd(&s->slots[i].results[r]);
		ebuf_printf(b, "imei_eir_s13_answers_total{result_code=\"%s\",status=\"%s\"} %llu\n", result_label[r][0],
		            result_label[r][1], (unsigned long long)sum);
	}
	uint64_t fails = 0;
	for (size_t i = 0; i < s->nslots; i++)
		fails += rd(&s->slots[i].failures);
	ebuf_printf(b, "# HELP imei_eir_s13_policy_failures_total S13 checks where the policy failed (answered "
	               "5012).\n# TYPE imei_eir_s13_policy_failures_total counter\n"
	               "imei_eir_s13_policy_failures_total %llu\n",
	            (unsigned long long)fails);
	ebuf_str(b, "# HELP imei_eir_s13_request_duration_seconds ECR handling time, request parsed to answer "
	            "queued.\n# TYPE imei_eir_s13_request_duration_seconds histogram\n");
	uint64_t cum = 0, sum_ns = 0, count = 0;
	for (int k = 0; k < EIRD_NBUCKETS; k++) {
		for (size_t i = 0; i < s->nslots; i++)
			cum += rd(&s->slots[i].hist[k]);
		if (k < EIRD_NBUCKETS - 1)
			ebuf_printf(b, "imei_eir_s13_request_duration_seconds_bucket{le=\"%g\"} %llu\n", eird_buckets[k],
			            (unsigned long long)cum);
		else
			ebuf_printf(b, "imei_eir_s13_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			            (unsigned long long)cum);
	}
	for (size_t i = 0; i < s->nslots; i++) {
		sum_ns += rd(&s->slots[i].hist_sum_ns);
		count += rd(&s->slots[i].hist_count);
	}
	ebuf_printf(b, "imei_eir_s13_request_duration_seconds_sum %.9f\nimei_eir_s13_request_duration_seconds_count %llu\n",
	            (double)sum_ns / 1e9, (unsigned long long)count);
	/* peers in the OPEN state, read from freeDiameter's peer list */
	uint64_t open = 0;
	if (pthread_rwlock_rdlock(&fd_g_peers_rw) == 0) {
		for (struct fd_list *li = fd_g_peers.next; li != &fd_g_peers; li = li->next)
			if (fd_peer_get_state((struct peer_hdr *)li->o) == STATE_OPEN)
				open++;
		pthread_rwlock_unlock(&fd_g_peers_rw);
	}
	ebuf_printf(b, "# HELP imei_eir_s13_peers_open Diameter peers in the OPEN state.\n"
	               "# TYPE imei_eir_s13_peers_open gauge\nimei_eir_s13_peers_open %llu\n"
	               "# HELP imei_eir_s13_peer_events_total Diameter peer connections made and lost.\n"
	               "# TYPE imei_eir_s13_peer_events_total counter\n"
	               "imei_eir_s13_peer_events_total{event=\"connected\"} %llu\n"
	               "imei_eir_s13_peer_events_total{event=\"failed_or_lost\"} %llu\n",
	            (unsigned long long)open, (unsigned long long)atomic_load(&s->peer_up),
	            (unsigned long long)atomic_load(&s->peer_down));
}

void eird_s13_stop(struct eird_s13 *s)
{
	if (!s)
		return;
	if (s->core_up) {
		/* DPR to every peer, then the framework's threads end (no handler runs after this) */
		fd_core_shutdown();
		fd_core_wait_shutdown_complete();
		s->core_up = false;
	}
	if (s->flusher_up) {
		pthread_mutex_lock(&s->flock);
		s->flusher_stop = true;
		pthread_cond_signal(&s->fcond);
		pthread_mutex_unlock(&s->flock);
		pthread_join(s->flusher, NULL);
		pthread_mutex_destroy(&s->flock);
		pthread_cond_destroy(&s->fcond);
	}
	for (size_t i = 0; i < s->nslots; i++)
		flush_slot(s, &s->slots[i]);
	if (s->key_made)
		pthread_key_delete(s->key);
	free_slots(s);
	free(s);
}
