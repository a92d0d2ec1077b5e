/*
 * sightings_redis.c — the Redis / Redis Cluster sightings backend: many gateways, one
 * view of each device (docs/sightings.md "Redis").
 *
 * Specs:  redis://[user:password@]host[:port][/db][?options]    rediss://… (TLS)
 *         redis+cluster://[user:password@]host:port,host:port[?options]   rediss+cluster://…
 *         redis+unix://[user:password@]/path/to/socket[?db=N&options]
 * Options: timeout_ms (each call, default 25: keep it under the engine's check deadline,
 * 50 ms by default), connect_timeout_ms (25), retry_ms (1000:
 * how long a failed node is left alone), ttl_days (400: data expire this long after a
 * device's last sighting; longer than any policy window), buffer (100000 unwritten
 * sightings held while Redis is away), batch (1024 sightings per pipeline), linger_ms (2),
 * cache_ms (2: one device's log and pairings, read in one round trip, answer every
 * question asked about it this long, so one check costs one round trip; this handle's
 * own writes drop it), prefix (imei), tls_ca, tls_cert, tls_key, tls_sni, tls_verify (1).
 *
 * Layout. Everything of one device is in one hash slot, under the hash tag of its 14-digit
 * key, so one command reads it and a cluster never splits it:
 *   PREFIX:{KEY14}    a string: a log of fixed-size records, appended (APPEND) by every
 *                     gateway, read whole (GET, one round trip) and folded into the
 *                     aggregates by sightings_agg.c, the same code as every backend:
 *                       'S' IMSI u64, MSISDN u64, time u32, operator u32, RAT u8  (26 B)
 *                       'A' IMSI u64, MSISDN u64, the aggregate's 25 wire bytes  (42 B)
 *                     A reader that finds many 'S' records replaces the folded prefix by
 *                     its 'A' records (a server-side script that checks the prefix is
 *                     unchanged by its SHA-1), so a log stays short. PEXPIRE ttl on each
 *                     write: a device unseen for ttl_days is forgotten.
 *   PREFIX:{KEY14}:p  a hash IMSI -> MSISDN (encoded, decimal): the pairings; no expiry.
 * Writes are pipelined APPEND + PEXPIRE; an online check's sighting rides in the same
 * pipeline as its read. A retried APPEND may land twice: folding a sighting twice changes
 * nothing (imei_agg_apply is idempotent for one sighting), so delivery is at least once.
 *
 * Failures. Sightings that cannot be written stay in a bounded buffer (counted) and are
 * sent again with the next call or by the flusher thread, once Redis is back; one that
 * does not fit is refused and counted as dropped. Reads fail fast with the reason (the
 * caller turns that into a failed condition); a node that failed is not retried for
 * retry_ms, so calls do not each wait for a timeout.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nettle/sha1.h>

#include "sightings_redis_conn.h"
#include "imei_sightings.h"

#define REC_S 26
#define REC_A 42
#define FOLD_AFTER 16        /* 'S' records a reader folds into 'A' records */
#define FOLD_BYTES 4096      /* a log this long after an APPEND is folded too */
#define MAX_FOLDS 256        /* folds waiting for the next pipeline */
#define SCAN_COUNT "512"
#define READ_CACHE 64        /* devices whose last read is kept for cache_ms */
#define TTL_CACHE 65536      /* devices whose expiry this handle refreshed today */

struct fold {
	uint64_t key;
	size_t plen;     /* bytes of the log folded */
	char sha[41];    /* SHA-1 of those bytes, hex */
	char *blob;      /* the 'A' records that replace them */
	size_t blen;
};

/* One device's last read: its log and its pairings, answered in the same round trip, so
 * the several questions one check asks about one device cost one round trip. */
struct cached {
	uint64_t key;
	int64_t until; /* monotonic ms; 0: empty */
	unsigned char *log;
	size_t loglen;
	struct imei_sighting_agg *pairs;
	size_t npairs;
};

struct rbe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t flusher;
	bool stop, has_thread;
	struct rc *rc;
	char prefix[64];
	char ttl_ms[24];
	size_t buffer, batch;
	unsigned linger_ms, retry_ms;
	struct imei_sighting *pend;
	size_t npend;
	uint64_t *grow; /* keys whose log grew past FOLD_BYTES, to fold */
	size_t ngrow;
	struct fold folds[MAX_FOLDS];
	size_t nfolds;
	char last_err[200];
	int64_t next_try; /* monotonic ms: a writer does not retry a failed send before this */
	/* PEXPIRE once a UTC day per device and handle is enough for a TTL of ttl_days:
	 * a direct-mapped cache of (key, day) refreshed, so a busy device costs one APPEND */
	uint64_t *ttl_key;
	uint32_t *ttl_day;
	unsigned cache_ms;
	struct cached cache[READ_CACHE];
	atomic_uint_fast64_t recorded, written, dropped, buffered, folded;
};

struct riter {
	enum imei_iter_kind kind;
	int nodes[64];
	size_t nnodes, node;
	char cursor[32];
	bool node_done;
	struct imei_agg_buf buf;
	size_t pos;
};

/* ---- the spec ------------------------------------------------------------------------- */

static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], 0 };
			c = (char)strtol(hex, NULL, 16);
			i += 2;
		}
		if (k + 1 >= cap)
			return -1;
		out[k++] = c;
	}
	out[k] = 0;
	return 0;
}

static int uint_opt(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	if (!isdigit((unsigned char)*v))
		return -1;
	unsigned long x = strtoul(v, &end, 10);
	if (*end || x < lo || x > hi)
		return -1;
	*out = x;
	return 0;
}

struct ropts {
	unsigned long ttl_days, buffer, batch, linger_ms, cache_ms;
	char prefix[64];
};

static int parse_option(const char *kv, size_t len, struct imei_redis_cfg *c, struct ropts *o, struct imei_store_error *err)
{
	char k[32], v[256];
	const char *eq = memchr(kv, '=', len);
	size_t kl = eq ? (size_t)(eq - kv) : len;
	if (!eq || kl >= sizeof k)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "redis option '%.*s': not NAME=VALUE", (int)(len > 60 ? 60 : len), kv);
	memcpy(k, kv, kl);
	k[kl] = 0;
	if (pct_decode(eq + 1, len - kl - 1, v, sizeof v) < 0)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "redis option %s: value too long", k);
	unsigned long x = 0;
	int bad = 0;
	if (strcmp(k, "timeout_ms") == 0)
		bad = uint_opt(v, 1, 600000, &x), c->timeout_ms = (unsigned)x;
	else if (strcmp(k, "connect_timeout_ms") == 0)
		bad = uint_opt(v, 1, 600000, &x), c->connect_timeout_ms = (unsigned)x;
	else if (strcmp(k, "retry_ms") == 0)
		bad = uint_opt(v, 0, 3600000, &x), c->retry_ms = (unsigned)x;
	else if (strcmp(k, "db") == 0)
		bad = uint_opt(v, 0, 65535, &x), c->db = (int)x;
	else if (strcmp(k, "ttl_days") == 0)
		bad = uint_opt(v, 1, 100000, &o->ttl_days);
	else if (strcmp(k, "buffer") == 0)
		bad = uint_opt(v, 1, 100000000, &o->buffer);
	else if (strcmp(k, "batch") == 0)
		bad = uint_opt(v, 1, 1000000, &o->batch);
	else if (strcmp(k, "linger_ms") == 0)
		bad = uint_opt(v, 0, 60000, &o->linger_ms);
	else if (strcmp(k, "cache_ms") == 0)
		bad = uint_opt(v, 0, 1000, &o->cache_ms);
	else if (strcmp(k, "tls_verify") == 0)
		bad = uint_opt(v, 0, 1, &x), c->tls_verify = x == 1;
	else if (strcmp(k, "prefix") == 0) {
		bad = !*v || strlen(v) >= sizeof o->prefix || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(v);
		if (!bad)
			memcpy(o->prefix, v, strlen(v) + 1); /* shorter than o->prefix: checked above */
	} else if (strcmp(k, "tls_ca") == 0)
		snprintf(c->tls_ca, sizeof c->tls_ca, "%s", v);
	else if (strcmp(k, "tls_cert") == 0)
		snprintf(c->tls_cert, sizeof c->tls_cert, "%s", v);
	else if (strcmp(k, "tls_key") == 0)
		snprintf(c->tls_key, sizeof c->tls_key, "%s", v);
	else if (strcmp(k, "tls_sni") == 0)
		snprintf(c->tls_sni, sizeof c->tls_sni, "%s", v);
	else
		return imei_store_fail(err, IMEI_STORE_EINVAL,
		                       "redis option '%s': unknown (timeout_ms, connect_timeout_ms, retry_ms, db, ttl_days, "
		                       "buffer, batch, linger_ms, cache_ms, prefix, tls_ca, tls_cert, tls_key, tls_sni, tls_verify)",
		                       k);
	if (bad)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "redis option %s: '%.60s' is out of range", k, v);
	return 0;
}

static int parse_hostport(const char *s, size_t n, char *host, size_t hcap, int *port, struct imei_store_error *err)
{
	const char *colon = NULL;
	if (n && s[0] == '[') { /* [v6]:port */
		const char *rb = memchr(s, ']', n);
		if (!rb)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis address '%.*s': no ']'", (int)n, s);
		if ((size_t)(rb - s - 1) >= hcap)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis address: host too long");
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = 0;
		colon = rb + 1 < s + n && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		for (size_t i = n; i > 0; i--)
			if (s[i - 1] == ':') {
				colon = s + i - 1;
				break;
			}
		size_t hl = colon ? (size_t)(colon - s) : n;
		if (hl == 0 || hl >= hcap)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis address '%.*s': no host", (int)(n > 80 ? 80 : n), s);
		memcpy(host, s, hl);
		host[hl] = 0;
	}
	*port = 6379;
	if (colon) {
		char pb[8];
		size_t pl = (size_t)(s + n - colon - 1);
		unsigned long p;
		if (pl == 0 || pl >= sizeof pb)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis address '%.*s': bad port", (int)n, s);
		memcpy(pb, colon + 1, pl);
		pb[pl] = 0;
		if (uint_opt(pb, 1, 65535, &p) < 0)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis address '%.*s': port not 1..65535", (int)n, s);
		*port = (int)p;
	}
	return 0;
}

static int parse_spec(const char *spec, struct imei_redis_cfg *c, struct ropts *o, struct imei_store_error *err)
{
	memset(c, 0, sizeof *c);
	c->timeout_ms = 25; /* within a check's deadline (50 ms by default) */
	c->connect_timeout_ms = 25;
	c->retry_ms = 1000;
	c->tls_verify = true;
	o->ttl_days = 400;
	o->buffer = 100000;
	o->batch = 1024;
	o->linger_ms = 2;
	o->cache_ms = 2;
	snprintf(o->prefix, sizeof o->prefix, "imei");
	const char *rest;
	bool is_unix = false;
	if (strncmp(spec, "redis://", 8) == 0)
		rest = spec + 8;
	else if (strncmp(spec, "rediss://", 9) == 0)
		rest = spec + 9, c->tls = true;
	else if (strncmp(spec, "redis+cluster://", 16) == 0)
		rest = spec + 16, c->cluster = true;
	else if (strncmp(spec, "rediss+cluster://", 17) == 0)
		rest = spec + 17, c->cluster = c->tls = true;
	else if (strncmp(spec, "redis+unix://", 13) == 0)
		rest = spec + 13, is_unix = true;
	else
		return imei_store_fail(err, IMEI_STORE_EINVAL, "store '%.80s': not a redis spec", spec);
	const char *q = strchr(rest, '?');
	size_t mlen = q ? (size_t)(q - rest) : strlen(rest);
	/* user:password@ */
	const char *at = memchr(rest, '@', mlen);
	if (at) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		if (colon) {
			if (pct_decode(rest, (size_t)(colon - rest), c->user, sizeof c->user) < 0 ||
			    pct_decode(colon + 1, (size_t)(at - colon - 1), c->pass, sizeof c->pass) < 0)
				return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: user or password too long");
		} else if (pct_decode(rest, (size_t)(at - rest), c->pass, sizeof c->pass) < 0) {
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: password too long");
		}
		if (!c->pass[0])
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: empty password before '@'");
		mlen -= (size_t)(at + 1 - rest);
		rest = at + 1;
	}
	if (is_unix) {
		if (mlen == 0 || rest[0] != '/' || mlen >= sizeof c->unix_path)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis+unix spec: wants an absolute socket path (%zu bytes at most)",
			                       sizeof c->unix_path - 1);
		memcpy(c->unix_path, rest, mlen);
		c->unix_path[mlen] = 0;
	} else {
		const char *slash = memchr(rest, '/', mlen);
		size_t alen = slash ? (size_t)(slash - rest) : mlen;
		if (slash && !c->cluster && slash + 1 < rest + mlen) {
			char db[8];
			size_t dl = (size_t)(rest + mlen - slash - 1);
			unsigned long d;
			if (dl >= sizeof db)
				return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: database number too long");
			memcpy(db, slash + 1, dl);
			db[dl] = 0;
			if (uint_opt(db, 0, 65535, &d) < 0)
				return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: database '%s' is not a number", db);
			c->db = (int)d;
		} else if (slash && slash + 1 < rest + mlen) {
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis+cluster spec: a cluster has only database 0");
		}
		for (size_t i = 0; i < alen;) {
			size_t j = i;
			while (j < alen && rest[j] != ',')
				j++;
			if (c->nseeds == RC_MAX_SEEDS)
				return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: more than %d addresses", RC_MAX_SEEDS);
			if (!c->cluster && c->nseeds == 1)
				return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: several addresses need redis+cluster://");
			if (parse_hostport(rest + i, j - i, c->seeds[c->nseeds].host, sizeof c->seeds[0].host,
			                   &c->seeds[c->nseeds].port, err) < 0)
				return -1;
			c->nseeds++;
			i = j + 1;
		}
		if (c->nseeds == 0)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec '%.80s': no host", spec);
	}
	for (const char *p = q ? q + 1 : NULL; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len && parse_option(p, len, c, o, err) < 0)
			return -1;
		p = amp ? amp + 1 : NULL;
	}
	if (c->cluster && c->db)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "redis+cluster spec: a cluster has only database 0");
	if (!c->tls && (c->tls_ca[0] || c->tls_cert[0] || c->tls_key[0]))
		return imei_store_fail(err, IMEI_STORE_EINVAL, "redis spec: tls_* options need rediss://");
	return 0;
}

size_t imei_store_redis_redact(const char *spec, char *out, size_t cap)
{
	const char *s = strstr(spec, "://");
	const char *q = s ? strchr(s, '?') : NULL;
	const char *at = s ? strchr(s, '@') : NULL;
	if (!s || !at || (q && at > q) || !cap)
		return (size_t)snprintf(out, cap, "%s", spec);
	const char *colon = memchr(s + 3, ':', (size_t)(at - s - 3));
	const char *cut = colon ? colon + 1 : s + 3;
	return (size_t)snprintf(out, cap, "%.*s***%s", (int)(cut - spec), spec, at);
}

/* ---- records -------------------------------------------------------------------------- */

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void enc_s(const struct imei_sighting *s, unsigned char *p)
{
	p[0] = 'S';
	put_le(p + 1, s->imsi, 8);
	put_le(p + 9, s->msisdn, 8);
	put_le(p + 17, s->time, 4);
	put_le(p + 21, s->op, 4);
	p[25] = s->rat;
}

static void enc_a(const struct imei_sighting_agg *a, unsigned char *p)
{
	p[0] = 'A';
	put_le(p + 1, a->imsi, 8);
	put_le(p + 9, a->msisdn, 8);
	imei_wire_sval(a, p + 17);
}

static struct imei_sighting_agg *find_triple(struct imei_agg_buf *b, size_t from, uint64_t imsi, uint64_t msisdn)
{
	for (size_t i = from; i < b->n; i++)
		if (b->v[i].imsi == imsi && b->v[i].msisdn == msisdn)
			return &b->v[i];
	return NULL;
}

/* Fold a log into aggregates appended to out; *nsight gets the 'S' records seen. */
static int fold_log(uint64_t key, const unsigned char *p, size_t len, struct imei_agg_buf *out, size_t *nsight,
                    struct imei_store_error *err)
{
	size_t base = out->n, pos = 0;
	bool seen_s = false;
	*nsight = 0;
	while (pos < len) {
		const char *why = NULL;
		if (p[pos] == 'S' && len - pos >= REC_S) {
			struct imei_sighting s = { key, get_le(p + pos + 1, 8), get_le(p + pos + 9, 8),
				                   (uint32_t)get_le(p + pos + 21, 4), (uint32_t)get_le(p + pos + 17, 4),
				                   p[pos + 25] };
			if (!imei_sight_digits_ok(s.imsi, IMEI_SIGHT_IMSI_MIN, IMEI_SIGHT_IMSI_MAX) ||
			    (s.msisdn && !imei_sight_digits_ok(s.msisdn, IMEI_SIGHT_MSISDN_MIN, IMEI_SIGHT_MSISDN_MAX)) ||
			    (s.op && !imei_sight_operator_ok(s.op)) || s.rat > IMEI_SIGHT_RAT_MAX)
				why = "a sighting record with an invalid field";
			else {
				struct imei_sighting_agg *a = find_triple(out, base, s.imsi, s.msisdn);
				if (a) {
					imei_agg_apply(a, &s);
				} else {
					struct imei_sighting_agg n;
					imei_agg_init(&n, &s);
					if (!imei_agg_buf_push(out, &n))
						return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
				}
				(*nsight)++;
				seen_s = true;
				pos += REC_S;
				continue;
			}
		} else if (p[pos] == 'A' && len - pos >= REC_A && !seen_s) {
			unsigned char k[IMEI_WIRE_SKEY];
			struct imei_sighting_agg a;
			uint64_t imsi = get_le(p + pos + 1, 8), msisdn = get_le(p + pos + 9, 8);
			imei_wire_skey(key, imsi, msisdn, k);
			/* a fold writes each triple once (no search here: a clone may have
			 * thousands of SIMs); check() finds a triple twice */
			if (imei_wire_sdecode(k, sizeof k, p + pos + 17, IMEI_WIRE_SVAL, &a, &why)) {
				if (!imei_agg_buf_push(out, &a))
					return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
				pos += REC_A;
				continue;
			}
		} else {
			why = p[pos] == 'A' ? "an aggregate after a sighting, or cut short"
			      : p[pos] == 'S' ? "a sighting record cut short" : "an unknown record type";
		}
		char ks[16];
		imei_sight_key_str(key, ks);
		return imei_store_fail(err, IMEI_STORE_ECORRUPT, "redis: device %s: byte %zu of its log: %s", ks, pos, why);
	}
	return 0;
}

/* ---- keys ----------------------------------------------------------------------------- */

static void skey(const struct rbe *b, uint64_t key, char *out, size_t cap)
{
	snprintf(out, cap, "%s:{%014llu}", b->prefix, (unsigned long long)key);
}

static void pkey(const struct rbe *b, uint64_t key, char *out, size_t cap)
{
	snprintf(out, cap, "%s:{%014llu}:p", b->prefix, (unsigned long long)key);
}

/* The device key of "PREFIX:{KEY14}" (pairing: with ":p"), or false. */
static bool parse_key(const struct rbe *b, const char *s, size_t len, bool pairing, uint64_t *key)
{
	size_t pl = strlen(b->prefix);
	size_t want = pl + 2 + 14 + 1 + (pairing ? 2 : 0);
	if (len != want || memcmp(s, b->prefix, pl) != 0 || s[pl] != ':' || s[pl + 1] != '{' || s[pl + 16] != '}')
		return false;
	if (pairing && (s[pl + 17] != ':' || s[pl + 18] != 'p'))
		return false;
	uint64_t k = 0;
	for (size_t i = pl + 2; i < pl + 16; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		k = k * 10 + (uint64_t)(s[i] - '0');
	}
	*key = k;
	return true;
}

/* ---- pipelines ------------------------------------------------------------------------ */

/* A pipeline under construction: commands, and what each one is for. */
enum ckind { K_APPEND, K_EXPIRE, K_FOLD, K_GROWGET, K_OTHER };
struct pipe {
	struct imei_redis_cmd *c;
	enum ckind *kind;
	size_t *from, *to; /* K_APPEND: the pending sightings it carries */
	size_t n, cap;
	bool oom;
};

static void pipe_free(struct pipe *p)
{
	for (size_t i = 0; i < p->n; i++)
		imei_redis_cmd_clear(&p->c[i]);
	free(p->c);
	free(p->kind);
	free(p->from);
	free(p->to);
	memset(p, 0, sizeof *p);
}

static struct imei_redis_cmd *pipe_add(struct pipe *p, enum ckind kind, const char *key, int argc, const char **argv,
                               const size_t *lens)
{
	if (p->oom)
		return NULL;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct imei_redis_cmd *c = realloc(p->c, cap * sizeof *c);
		if (c)
			p->c = c;
		enum ckind *k = c ? realloc(p->kind, cap * sizeof *k) : NULL;
		if (k)
			p->kind = k;
		size_t *f = k ? realloc(p->from, cap * sizeof *f) : NULL;
		if (f)
			p->from = f;
		size_t *t = f ? realloc(p->to, cap * sizeof *t) : NULL;
		if (t)
			p->to = t;
		if (!t) {
			p->oom = true;
			return NULL;
		}
		p->cap = cap;
	}
	struct imei_redis_cmd *c = &p->c[p->n];
	if (imei_redis_cmd(c, key, argc, argv, lens) < 0) {
		p->oom = true;
		return NULL;
	}
	p->kind[p->n] = kind;
	p->from[p->n] = p->to[p->n] = 0;
	p->n++;
	return c;
}

static uint32_t utc_day(void)
{
	return (uint32_t)(time(NULL) / IMEI_SIGHT_DAY);
}

static size_t ttl_slot(uint64_t key)
{
	key ^= key >> 29;
	key *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(key >> 32) & (TTL_CACHE - 1);
}

/* Add APPEND + PEXPIRE for pending[0..m) (a run of one device's sightings: one APPEND;
 * no PEXPIRE when this handle refreshed the device's expiry today). */
static size_t add_writes(struct rbe *b, struct pipe *p, size_t m)
{
	uint32_t today = utc_day();
	unsigned char *recs = malloc((m ? m : 1) * REC_S);
	if (!recs) {
		p->oom = true;
		return 0;
	}
	size_t i = 0;
	while (i < m && !p->oom) {
		size_t j = i;
		while (j < m && b->pend[j].key == b->pend[i].key)
			enc_s(&b->pend[j], recs + (j - i) * REC_S), j++;
		char k[96];
		skey(b, b->pend[i].key, k, sizeof k);
		const char *av[3] = { "APPEND", k, (const char *)recs };
		size_t al[3] = { 6, strlen(k), (j - i) * REC_S };
		if (!pipe_add(p, K_APPEND, k, 3, av, al))
			break;
		p->from[p->n - 1] = i;
		p->to[p->n - 1] = j;
		size_t slot = ttl_slot(b->pend[i].key);
		if (b->ttl_key[slot] != b->pend[i].key || b->ttl_day[slot] != today) {
			const char *ev[3] = { "PEXPIRE", k, b->ttl_ms };
			if (!pipe_add(p, K_EXPIRE, k, 3, ev, NULL))
				break;
			p->from[p->n - 1] = (size_t)b->pend[i].key;
		}
		i = j;
	}
	free(recs);
	return p->oom ? 0 : m;
}

static const char FOLD_SCRIPT[] =
	"local v = redis.call('GET', KEYS[1]) "
	"local n = tonumber(ARGV[1]) "
	"if not v or #v < n or redis.sha1hex(string.sub(v, 1, n)) ~= ARGV[2] then return 0 end "
	"redis.call('SET', KEYS[1], ARGV[3] .. string.sub(v, n + 1), 'KEEPTTL') "
	"return 1";

static void add_folds(struct rbe *b, struct pipe *p)
{
	for (size_t i = 0; i < b->nfolds; i++) {
		struct fold *f = &b->folds[i];
		char k[96], n[24];
		skey(b, f->key, k, sizeof k);
		snprintf(n, sizeof n, "%zu", f->plen);
		const char *av[7] = { "EVAL", FOLD_SCRIPT, "1", k, n, f->sha, f->blob };
		size_t al[7] = { 4, sizeof FOLD_SCRIPT - 1, 1, strlen(k), strlen(n), 40, f->blen };
		pipe_add(p, K_FOLD, k, 7, av, al);
		free(f->blob);
	}
	b->nfolds = 0;
	for (size_t i = 0; i < b->ngrow; i++) {
		char k[96];
		skey(b, b->grow[i], k, sizeof k);
		const char *av[2] = { "GET", k };
		struct imei_redis_cmd *c = pipe_add(p, K_GROWGET, k, 2, av, NULL);
		if (c)
			p->from[p->n - 1] = (size_t)b->grow[i];
	}
	b->ngrow = 0;
}

static void queue_fold(struct rbe *b, uint64_t key, const unsigned char *log, size_t plen,
                       const struct imei_agg_buf *aggs, size_t from)
{
	if (b->nfolds == MAX_FOLDS)
		return;
	size_t na = aggs->n - from;
	struct fold *f = &b->folds[b->nfolds];
	f->blob = malloc(na * REC_A + 1);
	if (!f->blob)
		return;
	for (size_t i = 0; i < na; i++)
		enc_a(&aggs->v[from + i], (unsigned char *)f->blob + i * REC_A);
	f->blen = na * REC_A;
	f->key = key;
	f->plen = plen;
	struct sha1_ctx ctx;
	uint8_t d[SHA1_DIGEST_SIZE];
	sha1_init(&ctx);
	sha1_update(&ctx, plen, log);
	sha1_digest(&ctx, sizeof d, d);
	for (int i = 0; i < SHA1_DIGEST_SIZE; i++)
		snprintf(f->sha + 2 * i, 3, "%02x", d[i]);
	b->nfolds++;
}

/* Results of the write commands: drop the written sightings from pending, keep the rest
 * in order; note logs grown past FOLD_BYTES. Returns the number not written. */
static size_t settle(struct rbe *b, struct pipe *p, size_t m)
{
	size_t keep = 0, failed = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct imei_redis_cmd *c = &p->c[i];
		bool ok = c->reply && c->reply->type != REDIS_REPLY_ERROR;
		if (!ok && c->err[0] == 0 && c->reply)
			snprintf(c->err, sizeof c->err, "redis: %.140s", c->reply->str);
		if (!ok)
			snprintf(b->last_err, sizeof b->last_err, "%s", c->err);
		if (p->kind[i] == K_APPEND) {
			if (ok) {
				atomic_fetch_add(&b->written, p->to[i] - p->from[i]);
				if (c->reply->type == REDIS_REPLY_INTEGER && c->reply->integer > FOLD_BYTES) {
					uint64_t *g = realloc(b->grow, (b->ngrow + 1) * sizeof *g);
					if (g && b->ngrow < MAX_FOLDS) {
						b->grow = g;
						g[b->ngrow++] = b->pend[p->from[i]].key;
					} else if (g) {
						b->grow = g;
					}
				}
			} else {
				for (size_t j = p->from[i]; j < p->to[i]; j++)
					b->pend[keep++] = b->pend[j];
				failed += p->to[i] - p->from[i];
			}
		} else if (p->kind[i] == K_EXPIRE && ok) {
			size_t slot = ttl_slot((uint64_t)p->from[i]);
			b->ttl_key[slot] = (uint64_t)p->from[i];
			b->ttl_day[slot] = utc_day();
		} else if (p->kind[i] == K_GROWGET && ok && c->reply->type == REDIS_REPLY_STRING) {
			struct imei_agg_buf ab;
			struct imei_store_error e;
			size_t ns;
			imei_agg_buf_init(&ab);
			if (fold_log((uint64_t)p->from[i], (const unsigned char *)c->reply->str, c->reply->len, &ab, &ns,
			             &e) == 0 && ns > 0)
				queue_fold(b, (uint64_t)p->from[i], (const unsigned char *)c->reply->str, c->reply->len, &ab,
				           0);
			imei_agg_buf_free(&ab);
		} else if (p->kind[i] == K_FOLD && ok && c->reply->type == REDIS_REPLY_INTEGER && c->reply->integer == 1) {
			atomic_fetch_add(&b->folded, 1);
		}
	}
	if (keep < m || m < b->npend) {
		memmove(b->pend + keep, b->pend + m, (b->npend - m) * sizeof *b->pend);
		b->npend = keep + (b->npend - m);
	}
	atomic_store(&b->buffered, b->npend);
	return failed;
}

/* Start a pipeline: up to `batch` pending sightings and the waiting folds. */
static size_t pipe_start(struct rbe *b, struct pipe *p)
{
	memset(p, 0, sizeof *p);
	size_t m = b->npend < b->batch ? b->npend : b->batch;
	m = add_writes(b, p, m);
	add_folds(b, p);
	return m;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send what is pending (all of it, batch by batch) unless a batch fails. -1 with err. */
static int send_pending(struct rbe *b, struct imei_store_error *err)
{
	int guard = 0;
	while ((b->npend || b->nfolds || b->ngrow) && guard++ < 1000000) {
		struct pipe p;
		size_t m = pipe_start(b, &p);
		if (p.oom) {
			pipe_free(&p);
			return imei_store_fail(err, IMEI_STORE_ENOMEM, "redis: out of memory for a pipeline");
		}
		imei_redis_exchange(b->rc, p.c, p.n);
		size_t failed = settle(b, &p, m);
		pipe_free(&p);
		if (failed) {
			b->next_try = mono_ms() + b->retry_ms;
			return imei_store_fail(err, IMEI_STORE_EIO, "%s; %zu sightings kept to send again", b->last_err,
			                       b->npend);
		}
	}
	return 0;
}

/* One round trip: pending writes, then the caller's commands at the end of p. */
static int run(struct rbe *b, struct pipe *p, size_t m, struct imei_store_error *err)
{
	if (p->oom)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "redis: out of memory for a pipeline");
	imei_redis_exchange(b->rc, p->c, p->n);
	settle(b, p, m);
	return 0;
}

/* The reply of the caller's command c, or -1 with the reason. */
static int reply_of(struct imei_redis_cmd *c, int want, struct imei_store_error *err)
{
	if (!c->reply)
		return imei_store_fail(err, IMEI_STORE_EIO, "%s", c->err);
	if (c->reply->type == REDIS_REPLY_ERROR)
		return imei_store_fail(err, IMEI_STORE_EIO, "redis: %.200s", c->reply->str);
	if (want >= 0 && c->reply->type != want && c->reply->type != REDIS_REPLY_NIL)
		return imei_store_fail(err, IMEI_STORE_EIO, "redis: an unexpected reply type %d", c->reply->type);
	return 0;
}

/* ---- the flusher thread --------------------------------------------------------------- */

static void *flusher(void *arg)
{
	struct rbe *b = arg;
	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		unsigned wait = b->npend ? (b->linger_ms ? b->linger_ms : 1) : 1000;
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		if (b->stop)
			break;
		if (b->npend || b->nfolds || b->ngrow) {
			struct imei_store_error e;
			if (send_pending(b, &e) < 0) {
				/* Redis away: wait retry_ms before trying again */
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += b->retry_ms / 1000;
				ts.tv_nsec += (long)(b->retry_ms % 1000) * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				if (!b->stop)
					pthread_cond_timedwait(&b->cv, &b->mu, &ts);
			}
		}
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* ---- the backend ---------------------------------------------------------------------- */

void *imei_store_redis_open(const char *spec, const struct imei_store_opts *opts, struct imei_store_error *err)
{
	struct imei_redis_cfg cfg;
	struct ropts o;
	char msg[200];
	if (parse_spec(spec, &cfg, &o, err) < 0)
		return NULL;
	if (opts && opts->batch)
		o.batch = opts->batch;
	struct rbe *b = calloc(1, sizeof *b);
	if (!b) {
		imei_store_fail(err, IMEI_STORE_ENOMEM, "redis: out of memory");
		return NULL;
	}
	b->buffer = o.buffer;
	b->batch = o.batch < o.buffer ? o.batch : o.buffer;
	b->linger_ms = (unsigned)o.linger_ms;
	b->cache_ms = (unsigned)o.cache_ms;
	b->retry_ms = cfg.retry_ms;
	snprintf(b->prefix, sizeof b->prefix, "%s", o.prefix);
	snprintf(b->ttl_ms, sizeof b->ttl_ms, "%llu", (unsigned long long)o.ttl_days * 86400000ULL);
	b->pend = malloc(b->buffer * sizeof *b->pend);
	b->ttl_key = calloc(TTL_CACHE, sizeof *b->ttl_key);
	b->ttl_day = calloc(TTL_CACHE, sizeof *b->ttl_day);
	if (!b->pend || !b->ttl_key || !b->ttl_day) {
		free(b->pend);
		free(b->ttl_key);
		free(b->ttl_day);
		free(b);
		imei_store_fail(err, IMEI_STORE_ENOMEM, "redis: out of memory for a buffer of %zu sightings", o.buffer);
		return NULL;
	}
	b->rc = imei_redis_new(&cfg, msg, sizeof msg);
	if (!b->rc) {
		free(b->pend);
		free(b->ttl_key);
		free(b->ttl_day);
		free(b);
		imei_store_fail(err, IMEI_STORE_EINVAL, "redis: %s", msg);
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	/* One PING: a wrong password or a TLS failure is refused now; a server that is
	 * merely down is not (the store buffers until it is back). */
	struct pipe p;
	memset(&p, 0, sizeof p);
	const char *av[1] = { "PING" };
	struct imei_redis_cmd *c = pipe_add(&p, K_OTHER, NULL, 1, av, NULL);
	if (c) {
		imei_redis_exchange(b->rc, p.c, p.n);
		const char *e = c->reply ? (c->reply->type == REDIS_REPLY_ERROR ? c->reply->str : NULL) : c->err;
		if (e && (strstr(e, "AUTH") || strstr(e, "TLS") || strstr(e, "NOAUTH") || strstr(e, "WRONGPASS") ||
		          strstr(e, "SELECT") || strstr(e, "resolve"))) {
			imei_store_fail(err, IMEI_STORE_EINVAL, "%.250s", e);
			pipe_free(&p);
			imei_redis_free(b->rc);
			pthread_mutex_destroy(&b->mu);
			pthread_cond_destroy(&b->cv);
			free(b->pend);
			free(b->ttl_key);
			free(b->ttl_day);
			free(b);
			return NULL;
		}
	}
	pipe_free(&p);
	if (pthread_create(&b->flusher, NULL, flusher, b) == 0)
		b->has_thread = true;
	return b;
}

static struct cached *cache_of(struct rbe *b, uint64_t key)
{
	return &b->cache[(key * 0x9e3779b97f4a7c15ULL) >> 58];
}

static void cache_drop(struct rbe *b, uint64_t key)
{
	struct cached *c = cache_of(b, key);
	if (c->key == key)
		c->until = 0;
}

/* The cached read of key, or NULL when there is none fresh. */
static struct cached *cache_hit(struct rbe *b, uint64_t key)
{
	struct cached *c = cache_of(b, key);
	return c->until && c->key == key && mono_ms() < c->until ? c : NULL;
}

static int r_record_many(void *be, const struct imei_sighting *s, size_t n, size_t *done, struct imei_store_error *err)
{
	struct rbe *b = be;
	int rc = 0;
	*done = 0;
	pthread_mutex_lock(&b->mu);
	for (size_t i = 0; i < n; i++) {
		if (b->npend == b->buffer) {
			/* full: try to make room (unless a send failed just now), else refuse and count */
			struct imei_store_error e;
			int sent = mono_ms() >= b->next_try ? send_pending(b, &e)
			                                    : imei_store_fail(&e, IMEI_STORE_EIO, "%s", b->last_err);
			if (sent < 0 && b->npend == b->buffer) {
				atomic_fetch_add(&b->dropped, n - i);
				rc = imei_store_fail(err, IMEI_STORE_EIO,
				                     "redis %s: unavailable and %zu sightings already buffered: %zu dropped "
				                     "(counted): %s",
				                     imei_redis_name(b->rc), b->buffer, n - i, e.msg);
				break;
			}
		}
		b->pend[b->npend++] = s[i];
		cache_drop(b, s[i].key);
		atomic_fetch_add(&b->recorded, 1);
		(*done)++;
		if (b->npend >= b->batch && mono_ms() >= b->next_try) {
			struct imei_store_error e;
			send_pending(b, &e); /* a failure keeps them buffered */
		}
	}
	atomic_store(&b->buffered, b->npend);
	if (b->npend)
		pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static int r_record(void *be, const struct imei_sighting *s, struct imei_store_error *err)
{
	size_t done;
	return r_record_many(be, s, 1, &done, err);
}

static int r_flush(void *be, struct imei_store_error *err)
{
	struct rbe *b = be;
	pthread_mutex_lock(&b->mu);
	int rc = send_pending(b, err);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static int hash_pairs(uint64_t key, const redisReply *r, struct imei_agg_buf *out, struct imei_store_error *err);

/* Read key's log and pairings in one round trip (with the pending writes) into the cache. */
static struct cached *read_device(struct rbe *b, uint64_t key, struct imei_store_error *err)
{
	struct cached *hit = cache_hit(b, key);
	if (hit)
		return hit;
	struct pipe p;
	char k[96], pk[96];
	skey(b, key, k, sizeof k);
	pkey(b, key, pk, sizeof pk);
	size_t m = pipe_start(b, &p);
	const char *av[2] = { "GET", k }, *hv[2] = { "HGETALL", pk };
	pipe_add(&p, K_OTHER, k, 2, av, NULL);
	pipe_add(&p, K_OTHER, pk, 2, hv, NULL);
	struct cached *c = NULL;
	if (run(b, &p, m, err) == 0 && reply_of(&p.c[p.n - 2], REDIS_REPLY_STRING, err) == 0 &&
	    reply_of(&p.c[p.n - 1], REDIS_REPLY_ARRAY, err) == 0) {
		redisReply *g = p.c[p.n - 2].reply, *h = p.c[p.n - 1].reply;
		struct imei_agg_buf pairs;
		imei_agg_buf_init(&pairs);
		size_t len = g->type == REDIS_REPLY_STRING ? g->len : 0;
		unsigned char *log = malloc(len ? len : 1);
		struct imei_sighting_agg *pv = NULL;
		if (!log) {
			imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
		} else if (hash_pairs(key, h, &pairs, err) == 0 &&
		           (pairs.n == 0 || (pv = malloc(pairs.n * sizeof *pv)) != NULL)) {
			c = cache_of(b, key);
			free(c->log);
			free(c->pairs);
			if (len)
				memcpy(log, g->str, len);
			if (pairs.n)
				memcpy(pv, pairs.v, pairs.n * sizeof *pv);
			c->key = key;
			c->until = mono_ms() + b->cache_ms;
			c->log = log;
			c->loglen = len;
			c->pairs = pv;
			c->npairs = pairs.n;
		} else {
			if (pairs.n && !pv)
				imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
			free(log);
		}
		imei_agg_buf_free(&pairs);
	}
	pipe_free(&p);
	return c;
}

static int r_fetch(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err)
{
	struct rbe *b = be;
	pthread_mutex_lock(&b->mu);
	struct cached *c = read_device(b, key, err);
	int rc = -1;
	if (c) {
		size_t from = out->n, ns = 0;
		rc = fold_log(key, c->log, c->loglen, out, &ns, err);
		if (rc == 0 && ns > FOLD_AFTER) {
			queue_fold(b, key, c->log, c->loglen, out, from);
			c->until = 0; /* the log is about to change shape: read it again next time */
		}
	}
	if (b->cache_ms == 0 && c)
		c->until = 0;
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static int digits_reply(const redisReply *r, uint64_t *v)
{
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20)
		return -1;
	uint64_t x = 0;
	for (size_t i = 0; i < r->len; i++) {
		if (r->str[i] < '0' || r->str[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(r->str[i] - '0');
	}
	*v = x;
	return 0;
}

/* A one-command call on one device's pairing hash (after the pending writes). */
static int pair_call(struct rbe *b, uint64_t key, int argc, const char **argv, int want, struct pipe *p,
                     struct imei_store_error *err)
{
	char k[96];
	pkey(b, key, k, sizeof k);
	argv[1] = k;
	size_t m = pipe_start(b, p);
	pipe_add(p, K_OTHER, k, argc, argv, NULL);
	if (run(b, p, m, err) < 0)
		return -1;
	return reply_of(&p->c[p->n - 1], want, err);
}

static int r_pair(void *be, const struct imei_pairing *pr, struct imei_store_error *err)
{
	struct rbe *b = be;
	struct pipe p;
	char f[24], v[24];
	snprintf(f, sizeof f, "%llu", (unsigned long long)pr->imsi);
	snprintf(v, sizeof v, "%llu", (unsigned long long)pr->msisdn);
	const char *av[4] = { "HSET", NULL, f, v };
	pthread_mutex_lock(&b->mu);
	cache_drop(b, pr->key);
	int rc = pair_call(b, pr->key, 4, av, REDIS_REPLY_INTEGER, &p, err);
	if (rc == 0)
		rc = p.c[p.n - 1].reply->integer > 0;
	pipe_free(&p);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static int r_unpair(void *be, uint64_t key, uint64_t imsi, struct imei_store_error *err)
{
	struct rbe *b = be;
	struct pipe p;
	char f[24];
	snprintf(f, sizeof f, "%llu", (unsigned long long)imsi);
	const char *av[3] = { "HDEL", NULL, f };
	pthread_mutex_lock(&b->mu);
	cache_drop(b, key);
	int rc = pair_call(b, key, 3, av, REDIS_REPLY_INTEGER, &p, err);
	if (rc == 0)
		rc = p.c[p.n - 1].reply->integer > 0;
	pipe_free(&p);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static int r_is_paired(void *be, uint64_t key, uint64_t imsi, uint64_t *msisdn, struct imei_store_error *err)
{
	struct rbe *b = be;
	struct pipe p;
	char f[24];
	snprintf(f, sizeof f, "%llu", (unsigned long long)imsi);
	const char *av[3] = { "HGET", NULL, f };
	pthread_mutex_lock(&b->mu);
	struct cached *hit = cache_hit(b, key);
	if (hit) {
		int found = 0;
		for (size_t i = 0; i < hit->npairs && !found; i++)
			if (hit->pairs[i].imsi == imsi) {
				found = 1;
				if (msisdn)
					*msisdn = hit->pairs[i].msisdn;
			}
		pthread_mutex_unlock(&b->mu);
		return found;
	}
	int rc = pair_call(b, key, 3, av, REDIS_REPLY_STRING, &p, err);
	if (rc == 0) {
		redisReply *r = p.c[p.n - 1].reply;
		uint64_t v = 0;
		if (r->type == REDIS_REPLY_NIL)
			rc = 0;
		else if (digits_reply(r, &v) < 0 || (v && !imei_sight_digits_ok(v, IMEI_SIGHT_MSISDN_MIN, IMEI_SIGHT_MSISDN_MAX)))
			rc = imei_store_fail(err, IMEI_STORE_ECORRUPT, "redis: a pairing with a bad MSISDN");
		else {
			rc = 1;
			if (msisdn)
				*msisdn = v;
		}
	}
	pipe_free(&p);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

/* HGETALL reply -> pairings appended to out. */
static int hash_pairs(uint64_t key, const redisReply *r, struct imei_agg_buf *out, struct imei_store_error *err)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return imei_store_fail(err, IMEI_STORE_EIO, "redis: HGETALL did not answer pairs");
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		struct imei_sighting_agg a;
		memset(&a, 0, sizeof a);
		a.key = key;
		if (digits_reply(r->element[i], &a.imsi) < 0 || digits_reply(r->element[i + 1], &a.msisdn) < 0 ||
		    !imei_sight_digits_ok(a.imsi, IMEI_SIGHT_IMSI_MIN, IMEI_SIGHT_IMSI_MAX) ||
		    (a.msisdn && !imei_sight_digits_ok(a.msisdn, IMEI_SIGHT_MSISDN_MIN, IMEI_SIGHT_MSISDN_MAX)))
			return imei_store_fail(err, IMEI_STORE_ECORRUPT, "redis: a pairing that is not an encoded IMSI/MSISDN");
		if (!imei_agg_buf_push(out, &a))
			return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
	}
	return 0;
}

static int r_pairs_of(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err)
{
	struct rbe *b = be;
	struct pipe p;
	const char *av[2] = { "HGETALL", NULL };
	pthread_mutex_lock(&b->mu);
	struct cached *hit = cache_hit(b, key);
	if (hit) {
		int rc = 0;
		for (size_t i = 0; i < hit->npairs && rc == 0; i++)
			if (!imei_agg_buf_push(out, &hit->pairs[i]))
				rc = imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
		pthread_mutex_unlock(&b->mu);
		return rc;
	}
	int rc = pair_call(b, key, 2, av, REDIS_REPLY_ARRAY, &p, err);
	if (rc == 0)
		rc = hash_pairs(key, p.c[p.n - 1].reply, out, err);
	pipe_free(&p);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

static int r_stats(void *be, struct imei_store_stats *out, struct imei_store_error *err)
{
	struct rbe *b = be;
	out->recorded = atomic_load(&b->recorded);
	out->committed = atomic_load(&b->written);
	out->pending = atomic_load(&b->buffered);
	/* keys: DBSIZE over the masters (every key of the database, ours and others') */
	pthread_mutex_lock(&b->mu);
	int nodes[64];
	char msg[200];
	size_t nn = imei_redis_nodes(b->rc, nodes, 64, msg, sizeof msg);
	int rc = nn ? 0 : imei_store_fail(err, IMEI_STORE_EIO, "%s", msg);
	struct pipe p;
	memset(&p, 0, sizeof p);
	for (size_t i = 0; i < nn; i++) {
		const char *av[1] = { "DBSIZE" };
		struct imei_redis_cmd *c = pipe_add(&p, K_OTHER, NULL, 1, av, NULL);
		if (c)
			c->node = nodes[i];
	}
	if (rc == 0 && run(b, &p, 0, err) == 0) {
		for (size_t i = 0; i < p.n && rc == 0; i++)
			if ((rc = reply_of(&p.c[i], REDIS_REPLY_INTEGER, err)) == 0)
				out->keys += (uint64_t)p.c[i].reply->integer;
	} else {
		rc = -1;
	}
	pipe_free(&p);
	pthread_mutex_unlock(&b->mu);
	return rc;
}

void imei_store_redis_counters(void *be, struct imei_store_counters *out)
{
	struct rbe *b = be;
	struct imei_redis_counters c;
	imei_redis_counters(b->rc, &c);
	out->recorded = atomic_load(&b->recorded);
	out->written = atomic_load(&b->written);
	out->buffered = atomic_load(&b->buffered);
	out->dropped = atomic_load(&b->dropped);
	out->failures = c.failures;
	out->redirects = c.redirects;
	out->reconnects = c.reconnects;
	out->folded = atomic_load(&b->folded);
}

/* ---- iteration (SCAN over every master) ---------------------------------------------- */

static void *r_iter_open(void *be, enum imei_iter_kind kind, struct imei_store_error *err)
{
	struct rbe *b = be;
	struct riter *it = calloc(1, sizeof *it);
	char msg[200];
	if (!it) {
		imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
		return NULL;
	}
	it->kind = kind;
	snprintf(it->cursor, sizeof it->cursor, "0");
	imei_agg_buf_init(&it->buf);
	pthread_mutex_lock(&b->mu);
	it->nnodes = imei_redis_nodes(b->rc, it->nodes, 64, msg, sizeof msg);
	pthread_mutex_unlock(&b->mu);
	if (!it->nnodes) {
		free(it);
		imei_store_fail(err, IMEI_STORE_EIO, "%s", msg);
		return NULL;
	}
	return it;
}

/* One SCAN step on the current node and a pipelined read of the keys it names. */
static int scan_step(struct rbe *b, struct riter *it, struct imei_store_error *err)
{
	bool pairing = it->kind == IMEI_ITER_PAIRINGS;
	char match[96];
	snprintf(match, sizeof match, pairing ? "%s:{*}:p" : "%s:{*}", b->prefix);
	const char *av[6] = { "SCAN", it->cursor, "MATCH", match, "COUNT", SCAN_COUNT };
	struct pipe p;
	memset(&p, 0, sizeof p);
	struct imei_redis_cmd *c = pipe_add(&p, K_OTHER, NULL, 6, av, NULL);
	if (c)
		c->node = it->nodes[it->node];
	if (run(b, &p, 0, err) < 0 || reply_of(&p.c[0], REDIS_REPLY_ARRAY, err) < 0) {
		pipe_free(&p);
		return -1;
	}
	redisReply *r = p.c[0].reply;
	if (r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof it->cursor ||
	    r->element[1]->type != REDIS_REPLY_ARRAY) {
		pipe_free(&p);
		return imei_store_fail(err, IMEI_STORE_EIO, "redis: SCAN answered something else");
	}
	memcpy(it->cursor, r->element[0]->str, r->element[0]->len);
	it->cursor[r->element[0]->len] = 0;
	if (strcmp(it->cursor, "0") == 0)
		it->node_done = true;
	struct pipe q;
	memset(&q, 0, sizeof q);
	size_t nk = r->element[1]->elements;
	uint64_t *keys = malloc((nk ? nk : 1) * sizeof *keys);
	size_t kk = 0;
	for (size_t i = 0; keys && i < nk; i++) {
		redisReply *e = r->element[1]->element[i];
		uint64_t key;
		if (e->type != REDIS_REPLY_STRING || !parse_key(b, e->str, e->len, pairing, &key))
			continue;
		const char *gv[2] = { pairing ? "HGETALL" : "GET", e->str };
		size_t gl[2] = { pairing ? 7u : 3u, e->len };
		if (pipe_add(&q, K_OTHER, e->str, 2, gv, gl))
			keys[kk++] = key;
	}
	pipe_free(&p);
	int rc = keys ? 0 : imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
	if (rc == 0 && kk)
		rc = run(b, &q, 0, err);
	it->buf.n = 0;
	it->pos = 0;
	for (size_t i = 0; rc == 0 && i < kk; i++) {
		struct imei_redis_cmd *g = &q.c[i];
		if ((rc = reply_of(g, pairing ? REDIS_REPLY_ARRAY : REDIS_REPLY_STRING, err)) < 0)
			break;
		if (g->reply->type == REDIS_REPLY_NIL)
			continue; /* expired or deleted since SCAN */
		size_t from = it->buf.n, ns;
		if (pairing)
			rc = hash_pairs(keys[i], g->reply, &it->buf, err);
		else
			rc = fold_log(keys[i], (const unsigned char *)g->reply->str, g->reply->len, &it->buf, &ns, err);
		if (rc == 0 && it->kind == IMEI_ITER_KEYS && it->buf.n > from + 1)
			it->buf.n = from + 1;
	}
	free(keys);
	pipe_free(&q);
	return rc;
}

static int r_iter_next(void *be, void *itp, struct imei_sighting_agg *out, struct imei_store_error *err)
{
	struct rbe *b = be;
	struct riter *it = itp;
	int rc = 0;
	pthread_mutex_lock(&b->mu);
	while (it->pos == it->buf.n) {
		if (it->node_done) {
			if (++it->node >= it->nnodes) {
				pthread_mutex_unlock(&b->mu);
				return 0;
			}
			it->node_done = false;
			snprintf(it->cursor, sizeof it->cursor, "0");
		}
		if ((rc = scan_step(b, it, err)) < 0) {
			pthread_mutex_unlock(&b->mu);
			return -1;
		}
	}
	*out = it->buf.v[it->pos++];
	pthread_mutex_unlock(&b->mu);
	return 1;
}

static void r_iter_close(void *be, void *itp)
{
	struct riter *it = itp;
	(void)be;
	if (!it)
		return;
	imei_agg_buf_free(&it->buf);
	free(it);
}

/* Every record of every device decodes and every pairing is well formed. */
static int r_check(void *be, struct imei_store_error *err)
{
	for (int kind = IMEI_ITER_SIGHTINGS; kind <= IMEI_ITER_PAIRINGS; kind += IMEI_ITER_PAIRINGS) {
		void *it = r_iter_open(be, (enum imei_iter_kind)kind, err);
		struct imei_sighting_agg a;
		int rc;
		if (!it)
			return -1;
		struct imei_agg_buf dev; /* the current device's aggregates: no triple twice */
		imei_agg_buf_init(&dev);
		while ((rc = r_iter_next(be, it, &a, err)) == 1) {
			const char *why = NULL;
			if (kind != IMEI_ITER_SIGHTINGS)
				continue;
			if (dev.n && dev.v[0].key != a.key)
				dev.n = 0;
			if (!imei_agg_valid(&a, &why) || (find_triple(&dev, 0, a.imsi, a.msisdn) && (why = "a triple twice")) ||
			    (!imei_agg_buf_push(&dev, &a) && (why = "out of memory"))) {
				char ks[16];
				imei_sight_key_str(a.key, ks);
				imei_agg_buf_free(&dev);
				r_iter_close(be, it);
				return imei_store_fail(err, IMEI_STORE_ECORRUPT, "redis: device %s: %s", ks, why);
			}
		}
		imei_agg_buf_free(&dev);
		r_iter_close(be, it);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void r_close(void *be)
{
	struct rbe *b = be;
	if (b->has_thread) {
		pthread_mutex_lock(&b->mu);
		b->stop = true;
		pthread_cond_signal(&b->cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->flusher, NULL);
	}
	for (size_t i = 0; i < b->nfolds; i++)
		free(b->folds[i].blob);
	for (size_t i = 0; i < READ_CACHE; i++) {
		free(b->cache[i].log);
		free(b->cache[i].pairs);
	}
	imei_redis_free(b->rc);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b->grow);
	free(b->pend);
	free(b->ttl_key);
	free(b->ttl_day);
	free(b);
}

const struct imei_store_ops imei_store_redis_ops = {
	.name = "redis",
	.record = r_record,
	.record_many = r_record_many,
	.flush = r_flush,
	.fetch = r_fetch,
	.pair = r_pair,
	.unpair = r_unpair,
	.is_paired = r_is_paired,
	.pairs_of = r_pairs_of,
	.stats = r_stats,
	.check = r_check,
	.iter_open = r_iter_open,
	.iter_next = r_iter_next,
	.iter_close = r_iter_close,
	.close = r_close,
	.counters = imei_store_redis_counters,
	.iter_needs_lock = false,
};
