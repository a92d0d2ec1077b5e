/*
 * test_redis_store.c — the Redis sightings backend against real servers it starts
 * (servers.h): the same answers as memory and LMDB on random workloads, standalone and
 * on a 3-master cluster with a slot moving under it (ASK, MOVED); and faults: Redis down
 * at start, killed mid-traffic, paused (slow), a full buffer; nothing acknowledged lost.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "check.h"
#include "servers.h"
#include "imei_sightings.h"

#define DAY 86400u

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t enc(const char *fmt, uint64_t n, bool msisdn)
{
	char buf[32];
	uint64_t v = 0;
	snprintf(buf, sizeof buf, fmt, (unsigned long long)n);
	if (msisdn)
		imei_sight_msisdn(buf, strlen(buf), &v, NULL);
	else
		imei_sight_imsi(buf, strlen(buf), &v, NULL);
	return v;
}

static uint64_t imsi_n(uint64_t n)
{
	return enc("41001%010llu", n % 10000000000ULL, false);
}

static uint64_t msisdn_n(uint64_t n)
{
	return enc("92300%07llu", n % 10000000ULL, true);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct imei_store *open_spec(const char *spec)
{
	struct imei_store_error err;
	struct imei_store *st = imei_store_open(spec, NULL, &err);
	if (!st)
		fprintf(stderr, "open %s: %s\n", spec, err.msg);
	return st;
}

/* ---- the same answers ----------------------------------------------------------------- */

static bool same_aggs(const struct imei_sighting_agg *a, size_t na, const struct imei_sighting_agg *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (a[i].key != b[i].key || a[i].imsi != b[i].imsi || a[i].msisdn != b[i].msisdn || a[i].days != b[i].days ||
		    a[i].first != b[i].first || a[i].last != b[i].last || a[i].op != b[i].op || a[i].rats != b[i].rats ||
		    a[i].ndays != b[i].ndays)
			return false;
	return true;
}

/* Every query on key at (days, now) answered alike by st[0] (the reference) and st[i];
 * returns the number of differences (printed). */
static size_t compare(struct imei_store **st, size_t n, const char **names, uint64_t key, uint32_t days, int64_t now,
                      uint64_t probe_imsi)
{
	struct imei_store_error err;
	size_t diffs = 0;
	for (size_t s = 1; s < n; s++) {
		const char *what = NULL;
		for (int f = 0; f < 2 && !what; f++) {
			size_t c0 = 0, c1 = 0;
			bool e0 = false, e1 = false;
			uint64_t *l0 = NULL, *l1 = NULL;
			int r0 = imei_store_distinct(st[0], key, f, days, now, &c0, &e0, &l0, &err);
			int r1 = imei_store_distinct(st[s], key, f, days, now, &c1, &e1, &l1, &err);
			if (r0 != r1 || c0 != c1 || e0 != e1 || (c0 && memcmp(l0, l1, c0 * sizeof *l0)))
				what = f ? "msisdns" : "imsis";
			free(l0);
			free(l1);
		}
		struct imei_store_daily d0, d1;
		int r0 = imei_store_daily(st[0], key, days, now, &d0, &err), r1 = imei_store_daily(st[s], key, days, now, &d1, &err);
		if (!what && (r0 != r1 || d0.days_seen != d1.days_seen || d0.total != d1.total || d0.exact != d1.exact))
			what = "daily";
		for (size_t i = 0; !what && r0 == 0 && i < d0.days_seen; i++)
			if (d0.days[i].day != d1.days[i].day || d0.days[i].imsis != d1.days[i].imsis)
				what = "daily";
		if (r0 == 0)
			free(d0.days);
		if (r1 == 0)
			free(d1.days);
		for (int last = 0; last < 2 && !what; last++) {
			struct imei_sighting_agg a, b;
			memset(&a, 0, sizeof a);
			memset(&b, 0, sizeof b);
			int x = last ? imei_store_last(st[0], key, &a, &err) : imei_store_first(st[0], key, &a, &err);
			int y = last ? imei_store_last(st[s], key, &b, &err) : imei_store_first(st[s], key, &b, &err);
			if (x != y || (x == 1 && !same_aggs(&a, 1, &b, 1)))
				what = last ? "last" : "first";
		}
		struct imei_sighting_agg *a0 = NULL, *a1 = NULL;
		size_t n0 = 0, n1 = 0;
		r0 = imei_store_sightings(st[0], key, &a0, &n0, &err);
		r1 = imei_store_sightings(st[s], key, &a1, &n1, &err);
		if (!what && (r0 != r1 || !same_aggs(a0, n0, a1, n1)))
			what = "sightings";
		free(a0);
		free(a1);
		struct imei_pairing *p0 = NULL, *p1 = NULL;
		r0 = imei_store_pairs_of(st[0], key, &p0, &n0, &err);
		r1 = imei_store_pairs_of(st[s], key, &p1, &n1, &err);
		if (!what && (r0 != r1 || n0 != n1 || (n0 && memcmp(p0, p1, n0 * sizeof *p0))))
			what = "pairs_of";
		free(p0);
		free(p1);
		uint64_t m0 = 0, m1 = 0;
		r0 = imei_store_is_paired(st[0], key, probe_imsi, &m0, &err);
		r1 = imei_store_is_paired(st[s], key, probe_imsi, &m1, &err);
		if (!what && (r0 != r1 || m0 != m1))
			what = "is_paired";
		if (what) {
			diffs++;
			fprintf(stderr, "%s and %s differ on %s of key %llu (days %u, now %lld)\n", names[0], names[s], what,
			        (unsigned long long)key, days, (long long)now);
		}
	}
	return diffs;
}

/* Random sightings, pairings and queries on every store at once. */
static void differential(struct imei_store **st, size_t n, const char **names, uint64_t seed, size_t count)
{
	struct imei_store_error err;
	const size_t nkeys = 120;
	const uint32_t base = 19500 * DAY;
	size_t diffs = 0, queries = 0, failed = 0;
	struct imei_sighting batch[32];
	size_t nb = 0;
	for (size_t i = 0; i < count; i++) {
		uint64_t r = rng_next(&seed);
		uint64_t key = 35000000000000ULL + (r % nkeys) * 1000003;
		uint64_t sub = (r % nkeys) % 8 == 0 ? (r >> 24) % 30 : (r >> 24) % 2;
		/* over 200 days, mostly in order; 1 in 16 out of order, some by more than 64 days */
		uint32_t t = base + (uint32_t)(i * (200ULL * DAY) / count) + (uint32_t)((r >> 9) % DAY);
		if ((r >> 40) % 16 == 0)
			t = base + (uint32_t)((r >> 8) % (200ULL * DAY));
		struct imei_sighting s = { key, imsi_n(key * 100 + sub), (r >> 50) % 3 ? msisdn_n(key + sub) : 0,
			                   (r >> 12) % 4 ? (1u << 21 | 410u << 10 | (uint32_t)((r >> 14) % 8)) : 0, t,
			                   (uint8_t)((r >> 17) % 11) };
		if ((r >> 44) % 3 == 0) {
			/* through record_many, in slices */
			batch[nb++] = s;
			if (nb == 32 || (r >> 46) % 4 == 0) {
				for (size_t k = 0; k < n; k++) {
					size_t done = 0;
					failed += imei_store_record_many(st[k], batch, nb, &done, &err) != 0 || done != nb;
				}
				nb = 0;
			}
		} else {
			for (size_t k = 0; k < n; k++)
				failed += imei_store_record(st[k], &s, &err) != 0;
		}
		if ((r >> 30) % 41 == 0) {
			uint64_t pi = imsi_n(key * 100 + (r >> 35) % 3);
			for (size_t k = 0; k < n; k++) {
				if ((r >> 38) % 4 == 0)
					failed += imei_store_unpair(st[k], key, pi, &err) < 0;
				else
					failed += imei_store_pair(st[k], key, pi, (r >> 39) % 2 ? msisdn_n(r >> 8) : 0, &err) < 0;
			}
		}
		if (i % 23 == 0) {
			uint64_t q = rng_next(&seed);
			uint64_t qkey = 35000000000000ULL + (q % nkeys) * 1000003;
			uint32_t days = (uint32_t)(1 + (q >> 8) % 120);
			int64_t now = (q >> 20) % 2 ? (int64_t)t : (int64_t)base + (int64_t)((q >> 24) % (220ULL * DAY));
			if ((q >> 30) % 8 == 0) /* a whole UTC day boundary exactly */
				now = (now / DAY) * DAY + ((q >> 33) % 2 ? 0 : DAY - 1);
			diffs += compare(st, n, names, qkey, days, now, imsi_n(qkey * 100 + (q >> 36) % 3));
			queries++;
		}
	}
	for (size_t k = 0; k < n; k++) {
		size_t done = 0;
		if (nb)
			failed += imei_store_record_many(st[k], batch, nb, &done, &err) != 0;
		failed += imei_store_flush(st[k], &err) != 0;
	}
	/* every device at the end, at the last day and far in the future */
	for (size_t k = 0; k < nkeys; k++) {
		uint64_t key = 35000000000000ULL + k * 1000003;
		diffs += compare(st, n, names, key, 30, base + 200 * DAY, imsi_n(key * 100));
		diffs += compare(st, n, names, key, 400, base + 300 * DAY, imsi_n(key * 100 + 1));
		queries += 2;
	}
	CHECK_INT(failed, 0);
	CHECK_INT(diffs, 0);
	CHECK(queries > 100);
	printf("differential (%s", names[0]);
	for (size_t k = 1; k < n; k++)
		printf(", %s", names[k]);
	printf("): %zu sightings, %zu query rounds, %zu differences\n", count, queries, diffs);
}

static void test_standalone_same_answers(int port)
{
	char spec[128], lmdir[] = "/tmp/imei-redis-lmdb-XXXXXX", lspec[80];
	snprintf(spec, sizeof spec, "redis://127.0.0.1:%d/3?prefix=diff&timeout_ms=5000&connect_timeout_ms=5000", port);
	if (!mkdtemp(lmdir)) {
		CHECK(!"mkdtemp");
		return;
	}
	snprintf(lspec, sizeof lspec, "lmdb:%s", lmdir);
	struct imei_store *st[3] = { open_spec("memory"), open_spec(lspec), open_spec(spec) };
	const char *names[3] = { "memory", "lmdb", "redis" };
	CHECK(st[0] && st[1] && st[2]);
	if (st[0] && st[1] && st[2])
		differential(st, 3, names, 42, 8000);
	if (st[2]) {
		struct imei_store_error err;
		CHECK_INT(imei_store_check(st[2], &err), 0);
		struct imei_store_stats s;
		CHECK_INT(imei_store_stats(st[2], &s, &err), 0);
		CHECK(s.keys >= 120); /* 120 devices, and the pairing hashes */
		struct imei_store_iter *it = imei_store_iter_open(st[2], IMEI_ITER_KEYS, &err);
		struct imei_sighting_agg a;
		size_t nkeys = 0;
		while (it && imei_store_iter_next(it, &a, &err) == 1)
			nkeys++;
		imei_store_iter_close(it);
		CHECK_INT(nkeys, 120);
		struct imei_store_counters c;
		imei_store_counters(st[2], &c);
		CHECK(c.recorded > 7000 && c.written == c.recorded && c.buffered == 0 && c.dropped == 0);
		CHECK(c.folded > 0); /* long logs were folded into aggregates */
		CHECK(strstr(imei_store_spec(st[2]), "redis://127.0.0.1") != NULL);
	}
	for (int i = 0; i < 3; i++)
		imei_store_release(st[i]);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", lmdir);
	CHECK_INT(system(cmd), 0);
}

/* ---- specs ---------------------------------------------------------------------------- */

static void test_specs(int port)
{
	struct imei_store_error err;
	const char *bad[] = { "redis://", "redis://:6379", "redis://host:0", "redis://host:99999", "redis://h/x",
		              "redis://h?nope=1", "redis://h?timeout_ms=0", "redis://a:1,b:2", "redis+unix://rel/path",
		              "redis+cluster://h:1/2", "redis://h?tls_ca=/x", "redis://user:@h", "redis://h?prefix=a*b" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct imei_store *st = imei_store_open(bad[i], NULL, &err);
		CHECK(st == NULL);
		if (st) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			imei_store_release(st);
		} else {
			CHECK_INT(err.code, IMEI_STORE_EINVAL);
		}
	}
	/* a wrong password is refused at open, and the spec never shows it */
	char spec[160];
	snprintf(spec, sizeof spec, "redis://nobody:sekret@127.0.0.1:%d", port);
	struct imei_store *st = imei_store_open(spec, NULL, &err);
	CHECK(st == NULL);
	CHECK(st == NULL && (strstr(err.msg, "AUTH") || strstr(err.msg, "WRONGPASS")));
	CHECK(strstr(err.msg, "sekret") == NULL);
	char shown[200];
	imei_store_redis_redact("rediss://u:p%40ss@h:1/2?tls_ca=/x", shown, sizeof shown);
	CHECK_STR(shown, "rediss://u:***@h:1/2?tls_ca=/x");
}

/* An ACL user and a password: redis://user:password@… */
static void test_acl(int port)
{
	redisReply *r = rs_cmd(port, "ACL SETUSER gw on >gw-pass ~acl:* +get +append +pexpire +hget +hgetall +hset +hdel +eval +set +scan +dbsize +ping");
	CHECK(r && r->type == REDIS_REPLY_STATUS);
	if (r)
		freeReplyObject(r);
	char spec[160];
	snprintf(spec, sizeof spec, "redis://gw:gw-pass@127.0.0.1:%d?prefix=acl&timeout_ms=5000", port);
	struct imei_store *st = open_spec(spec);
	CHECK(st != NULL);
	if (!st)
		return;
	struct imei_store_error err;
	struct imei_sighting s = { 35000000000001ULL, imsi_n(1), 0, 0, 1700000000, 6 };
	CHECK_INT(imei_store_record(st, &s, &err), 0);
	CHECK_INT(imei_store_flush(st, &err), 0);
	size_t n = 0;
	CHECK_INT(imei_store_distinct(st, s.key, IMEI_FIELD_IMSI, 1, s.time, &n, NULL, NULL, &err), 0);
	CHECK_INT(n, 1);
	CHECK(strstr(imei_store_spec(st), "gw-pass") == NULL);
	imei_store_release(st);
	/* keys outside the user's patterns are refused by Redis, and said so */
	snprintf(spec, sizeof spec, "redis://gw:gw-pass@127.0.0.1:%d?prefix=other", port);
	st = open_spec(spec);
	CHECK(st != NULL);
	if (st) {
		CHECK_INT(imei_store_distinct(st, s.key, IMEI_FIELD_IMSI, 1, s.time, &n, NULL, NULL, &err), -1);
		CHECK(strstr(err.msg, "NOPERM") != NULL || strstr(err.msg, "permission") != NULL);
		imei_store_release(st);
	}
}

/* ---- faults --------------------------------------------------------------------------- */

static size_t count_imsis(struct imei_store *st, uint64_t key, int64_t now, int *rc, struct imei_store_error *err)
{
	size_t n = 0;
	*rc = imei_store_distinct(st, key, IMEI_FIELD_IMSI, 400, now, &n, NULL, NULL, err);
	return n;
}

/* Down at start, then up: sightings buffered meanwhile are written; reads fail fast. */
/* Bytes no encoder writes: a query on that device and check() say what and where. */
static void test_damaged(int port)
{
	char spec[160];
	snprintf(spec, sizeof spec, "redis://127.0.0.1:%d/4?timeout_ms=5000", port);
	struct imei_store *st = open_spec(spec);
	CHECK(st != NULL);
	if (!st)
		return;
	struct imei_store_error err;
	struct imei_sighting x = { 35000000000400ULL, imsi_n(4), 0, 0, 1700000000, 6 };
	CHECK_INT(imei_store_record(st, &x, &err), 0);
	CHECK_INT(imei_store_flush(st, &err), 0);
	CHECK_INT(imei_store_check(st, &err), 0);
	redisContext *c = redisConnect("127.0.0.1", port);
	redisReply *r = c ? redisCommand(c, "SELECT 4") : NULL;
	if (r)
		freeReplyObject(r);
	r = c ? redisCommand(c, "APPEND imei:{35000000000400} %b", "Sxyz", (size_t)4) : NULL; /* cut short */
	CHECK(r && r->type == REDIS_REPLY_INTEGER);
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	rs_sleep_ms(5); /* past cache_ms */
	size_t n = 0;
	CHECK_INT(imei_store_distinct(st, x.key, IMEI_FIELD_IMSI, 1, x.time, &n, NULL, NULL, &err), -1);
	CHECK_INT(err.code, IMEI_STORE_ECORRUPT);
	CHECK_HAS(err.msg, "35000000000400");
	CHECK_HAS(err.msg, "cut short");
	CHECK_INT(imei_store_check(st, &err), -1);
	CHECK_INT(err.code, IMEI_STORE_ECORRUPT);
	imei_store_release(st);
}

static void test_down_at_start(void)
{
	struct rserver s;
	memset(&s, 0, sizeof s);
	int port = rs_free_port(false);
	char spec[160];
	snprintf(spec, sizeof spec, "redis://127.0.0.1:%d?timeout_ms=300&connect_timeout_ms=300&retry_ms=200", port);
	struct imei_store *st = open_spec(spec); /* nothing listens there yet */
	CHECK(st != NULL);
	if (!st)
		return;
	struct imei_store_error err;
	uint64_t key = 35000000000002ULL;
	for (uint64_t i = 0; i < 500; i++) {
		struct imei_sighting x = { key, imsi_n(i % 50), 0, 0, 1700000000 + (uint32_t)i, 6 };
		CHECK_INT(imei_store_record(st, &x, &err), 0);
	}
	int64_t t0 = now_ms();
	int rc;
	count_imsis(st, key, 1700001000, &rc, &err);
	CHECK_INT(rc, -1);
	CHECK_INT(err.code, IMEI_STORE_EIO);
	CHECK(strstr(err.msg, "unavailable") || strstr(err.msg, "refused"));
	CHECK(now_ms() - t0 < 2000); /* a check keeps its deadline: no hanging on a dead server */
	CHECK_INT(imei_store_flush(st, &err), -1);
	struct imei_store_counters c;
	imei_store_counters(st, &c);
	CHECK_INT(c.buffered, 500);
	CHECK_INT(c.written, 0);
	CHECK(rs_start(&s, port, false, NULL) == 0);
	/* the flusher writes them once the node may be retried; flush() does it now */
	rs_sleep_ms(250);
	CHECK_INT(imei_store_flush(st, &err), 0);
	imei_store_counters(st, &c);
	CHECK_INT(c.buffered, 0);
	CHECK_INT(c.written, 500);
	CHECK_INT(c.dropped, 0);
	CHECK_INT(count_imsis(st, key, 1700001000, &rc, &err), 50);
	CHECK_INT(rc, 0);
	imei_store_release(st);
	rs_remove(&s);
}

/* Killed mid-traffic and restarted: what flush() acknowledged survives (the server has
 * appendfsync always), what came meanwhile is buffered and written after; the answers
 * equal a memory store fed the same sightings. A full buffer drops, counted. */
static void test_killed_mid_traffic(void)
{
	struct rserver s;
	memset(&s, 0, sizeof s);
	if (rs_start(&s, 0, false, NULL) < 0) {
		CHECK(!"redis-server");
		return;
	}
	char spec[160];
	snprintf(spec, sizeof spec, "redis://127.0.0.1:%d?timeout_ms=300&connect_timeout_ms=300&retry_ms=100&buffer=3000",
	         s.port);
	struct imei_store *st = open_spec(spec), *mem = open_spec("memory");
	CHECK(st && mem);
	if (!st || !mem)
		return;
	struct imei_store_error err;
	uint64_t seed = 7;
	size_t refused = 0;
	for (int phase = 0; phase < 3; phase++) {
		for (int i = 0; i < 2000; i++) {
			uint64_t r = rng_next(&seed);
			struct imei_sighting x = { 35000000000100ULL + r % 40, imsi_n(r >> 20 & 15), 0, 0,
				                   1700000000 + (uint32_t)(phase * 2000 + i) * 60, 6 };
			if (imei_store_record(st, &x, &err) == 0)
				CHECK_INT(imei_store_record(mem, &x, &err), 0);
			else
				refused++;
		}
		if (phase == 0) {
			CHECK_INT(imei_store_flush(st, &err), 0); /* acknowledged */
			rs_stop(&s, SIGKILL);
		} else if (phase == 1) {
			/* down: 2000 more are buffered; reads fail with the reason */
			int rc;
			int64_t t0 = now_ms();
			count_imsis(st, 35000000000100ULL, 1800000000, &rc, &err);
			CHECK_INT(rc, -1);
			CHECK(now_ms() - t0 < 2000);
			struct imei_store_counters c;
			imei_store_counters(st, &c);
			CHECK_INT(c.buffered, 2000);
		}
	}
	/* phase 2 found the buffer full after 1000 more: those were refused and counted */
	struct imei_store_counters c;
	imei_store_counters(st, &c);
	CHECK_INT(refused, 1000);
	CHECK_INT(c.dropped, 1000);
	CHECK_INT(c.buffered, 3000);
	CHECK(rs_start(&s, s.port, false, NULL) == 0);
	rs_sleep_ms(150);
	CHECK_INT(imei_store_flush(st, &err), 0);
	imei_store_counters(st, &c);
	CHECK_INT(c.buffered, 0);
	CHECK_INT(c.written, 5000);
	struct imei_store *both[2] = { mem, st };
	const char *names[2] = { "memory", "redis after a crash" };
	size_t diffs = 0;
	for (uint64_t k = 0; k < 40; k++)
		diffs += compare(both, 2, names, 35000000000100ULL + k, 400, 1800000000, imsi_n(0));
	CHECK_INT(diffs, 0);
	imei_store_release(st);
	imei_store_release(mem);
	rs_remove(&s);
}

/* Slow: the server pauses every client for 1.5 s; a read times out within its deadline,
 * writes wait in the buffer and land once it resumes. */
static void test_slow(void)
{
	struct rserver s;
	memset(&s, 0, sizeof s);
	if (rs_start(&s, 0, false, NULL) < 0) {
		CHECK(!"redis-server");
		return;
	}
	char spec[160];
	snprintf(spec, sizeof spec, "redis://127.0.0.1:%d?timeout_ms=150&retry_ms=100", s.port);
	struct imei_store *st = open_spec(spec);
	CHECK(st != NULL);
	if (!st)
		return;
	struct imei_store_error err;
	uint64_t key = 35000000000200ULL;
	redisReply *r = rs_cmd(s.port, "CLIENT PAUSE 1500 ALL");
	CHECK(r && r->type == REDIS_REPLY_STATUS);
	if (r)
		freeReplyObject(r);
	for (int i = 0; i < 20; i++) {
		struct imei_sighting x = { key, imsi_n((uint64_t)i), 0, 0, 1700000000 + (uint32_t)i, 6 };
		CHECK_INT(imei_store_record(st, &x, &err), 0);
	}
	int64_t t0 = now_ms();
	int rc;
	count_imsis(st, key, 1700000100, &rc, &err);
	int64_t took = now_ms() - t0;
	CHECK_INT(rc, -1);
	CHECK(strstr(err.msg, "timed out") || strstr(err.msg, "unavailable"));
	CHECK(took < 1000); /* the deadline, not the pause */
	rs_sleep_ms(1700);
	CHECK_INT(imei_store_flush(st, &err), 0);
	CHECK_INT(count_imsis(st, key, 1700000100, &rc, &err), 20);
	CHECK_INT(rc, 0);
	struct imei_store_counters c;
	imei_store_counters(st, &c);
	CHECK(c.failures >= 1);
	imei_store_release(st);
	rs_remove(&s);
}

/* ---- cluster -------------------------------------------------------------------------- */

static int owner_of(struct rserver *s, unsigned slot)
{
	for (int i = 0; i < 3; i++) {
		redisReply *r = rs_cmd(s[i].port, "CLUSTER COUNTKEYSINSLOT %u", slot);
		if (r)
			freeReplyObject(r);
	}
	redisReply *r = rs_cmd(s[0].port, "CLUSTER SLOTS");
	int owner = -1;
	for (size_t k = 0; r && r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
		redisReply *e = r->element[k];
		if ((unsigned)e->element[0]->integer <= slot && slot <= (unsigned)e->element[1]->integer)
			for (int i = 0; i < 3; i++)
				if (e->element[2]->element[1]->integer == s[i].port)
					owner = i;
	}
	if (r)
		freeReplyObject(r);
	return owner;
}

static char *node_id(int port)
{
	redisReply *r = rs_cmd(port, "CLUSTER MYID");
	char *id = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
	if (r)
		freeReplyObject(r);
	return id;
}

static bool ok_reply(redisReply *r)
{
	bool ok = r && r->type != REDIS_REPLY_ERROR;
	if (r && !ok)
		fprintf(stderr, "redis: %s\n", r->str);
	if (r)
		freeReplyObject(r);
	return ok;
}

/* Move the slot of one device from its owner to another master while a store writes
 * and reads it: ASK during the migration, MOVED after; no answer changes. */
static void test_slot_moves(struct rserver *s, struct imei_store *cl, struct imei_store *mem)
{
	struct imei_store_error err;
	uint64_t key = 35000000000300ULL;
	char kname[64];
	snprintf(kname, sizeof kname, "mv:{%014llu}", (unsigned long long)key);
	unsigned slot = 0;
	{
		/* the same CRC16 as Redis: ask it */
		redisReply *r = rs_cmd(s[0].port, "CLUSTER KEYSLOT %s", kname);
		if (r && r->type == REDIS_REPLY_INTEGER)
			slot = (unsigned)r->integer;
		if (r)
			freeReplyObject(r);
	}
	for (int i = 0; i < 40; i++) {
		struct imei_sighting x = { key, imsi_n((uint64_t)i % 7), 0, 0, 1700000000 + (uint32_t)i * 3600, 6 };
		CHECK_INT(imei_store_record(cl, &x, &err), 0);
		CHECK_INT(imei_store_record(mem, &x, &err), 0);
	}
	CHECK_INT(imei_store_pair(cl, key, imsi_n(1), 0, &err), 1);
	CHECK_INT(imei_store_pair(mem, key, imsi_n(1), 0, &err), 1);
	CHECK_INT(imei_store_flush(cl, &err), 0);
	int from = owner_of(s, slot), to = (from + 1) % 3;
	CHECK(from >= 0);
	if (from < 0)
		return;
	char *src = node_id(s[from].port), *dst = node_id(s[to].port);
	CHECK(src && dst);
	CHECK(ok_reply(rs_cmd(s[to].port, "CLUSTER SETSLOT %u IMPORTING %s", slot, src)));
	CHECK(ok_reply(rs_cmd(s[from].port, "CLUSTER SETSLOT %u MIGRATING %s", slot, dst)));
	/* move the sightings key only: the pairing hash stays behind, so a read of it is
	 * answered by the source while the sightings are ASKed from the target */
	char sk[64];
	snprintf(sk, sizeof sk, "mv:{%014llu}", (unsigned long long)key);
	CHECK(ok_reply(rs_cmd(s[from].port, "MIGRATE 127.0.0.1 %d %s 0 5000", s[to].port, sk)));
	struct imei_store_counters c0, c1;
	imei_store_counters(cl, &c0);
	struct imei_store *both[2] = { mem, cl };
	const char *names[2] = { "memory", "cluster (slot migrating)" };
	size_t diffs = 0;
	for (int i = 40; i < 60; i++) {
		struct imei_sighting x = { key, imsi_n((uint64_t)i % 9), 0, 0, 1700000000 + (uint32_t)i * 3600, 6 };
		CHECK_INT(imei_store_record(cl, &x, &err), 0);
		CHECK_INT(imei_store_record(mem, &x, &err), 0);
		diffs += compare(both, 2, names, key, 30, 1700000000 + 60 * 3600, imsi_n(1));
	}
	imei_store_counters(cl, &c1);
	CHECK(c1.redirects > c0.redirects); /* ASK followed */
	/* finish: the rest of the slot (the pairing hash), then the slot belongs to the target */
	snprintf(sk, sizeof sk, "mv:{%014llu}:p", (unsigned long long)key);
	CHECK(ok_reply(rs_cmd(s[from].port, "MIGRATE 127.0.0.1 %d %s 0 5000", s[to].port, sk)));
	for (int i = 0; i < 3; i++)
		CHECK(ok_reply(rs_cmd(s[i].port, "CLUSTER SETSLOT %u NODE %s", slot, dst)));
	imei_store_counters(cl, &c0);
	names[1] = "cluster (slot moved)";
	for (int i = 60; i < 70; i++) {
		struct imei_sighting x = { key, imsi_n((uint64_t)i % 11), 0, 0, 1700000000 + (uint32_t)i * 3600, 6 };
		CHECK_INT(imei_store_record(cl, &x, &err), 0);
		CHECK_INT(imei_store_record(mem, &x, &err), 0);
		diffs += compare(both, 2, names, key, 30, 1700000000 + 70 * 3600, imsi_n(1));
	}
	imei_store_counters(cl, &c1);
	CHECK(c1.redirects > c0.redirects); /* MOVED followed */
	CHECK_INT(diffs, 0);
	CHECK_INT(owner_of(s, slot), to);
	CHECK_INT(imei_store_flush(cl, &err), 0);
	free(src);
	free(dst);
}

static void test_cluster(void)
{
	struct rserver s[3];
	memset(s, 0, sizeof s);
	if (rs_cluster(s) < 0) {
		CHECK(!"a 3-master cluster");
		for (int i = 0; i < 3; i++)
			rs_remove(&s[i]);
		return;
	}
	char spec[200];
	/* one seed is enough; the slot map comes from CLUSTER SLOTS */
	snprintf(spec, sizeof spec, "redis+cluster://127.0.0.1:%d?prefix=diff&timeout_ms=5000&connect_timeout_ms=5000", s[1].port);
	char lmdir[] = "/tmp/imei-redis-lmdb-XXXXXX", lspec[80];
	CHECK(mkdtemp(lmdir) != NULL);
	snprintf(lspec, sizeof lspec, "lmdb:%s", lmdir);
	struct imei_store *st[3] = { open_spec("memory"), open_spec(lspec), open_spec(spec) };
	const char *names[3] = { "memory", "lmdb", "redis cluster" };
	CHECK(st[0] && st[1] && st[2]);
	if (st[0] && st[1] && st[2])
		differential(st, 3, names, 4242, 4000);
	/* the devices are spread over the three masters */
	size_t spread = 0;
	for (int i = 0; i < 3; i++) {
		redisReply *r = rs_cmd(s[i].port, "DBSIZE");
		spread += r && r->type == REDIS_REPLY_INTEGER && r->integer > 10;
		if (r)
			freeReplyObject(r);
	}
	CHECK_INT(spread, 3);
	if (st[2]) {
		struct imei_store_error err;
		CHECK_INT(imei_store_check(st[2], &err), 0);
		struct imei_store_iter *it = imei_store_iter_open(st[2], IMEI_ITER_KEYS, &err);
		struct imei_sighting_agg a;
		size_t nkeys = 0;
		while (it && imei_store_iter_next(it, &a, &err) == 1)
			nkeys++;
		imei_store_iter_close(it);
		CHECK_INT(nkeys, 120);
	}
	snprintf(spec, sizeof spec, "redis+cluster://127.0.0.1:%d,127.0.0.1:%d?prefix=mv&timeout_ms=5000&connect_timeout_ms=5000", s[2].port,
	         s[0].port);
	struct imei_store *cl = open_spec(spec), *mem = open_spec("memory");
	CHECK(cl && mem);
	if (cl && mem)
		test_slot_moves(s, cl, mem);
	imei_store_release(cl);
	imei_store_release(mem);
	for (int i = 0; i < 3; i++) {
		imei_store_release(st[i]);
		rs_remove(&s[i]);
	}
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", lmdir);
	CHECK_INT(system(cmd), 0);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	const char *only = argc > 1 ? argv[1] : NULL;
	struct rserver s;
	memset(&s, 0, sizeof s);
	if (!only || strcmp(only, "standalone") == 0) {
		if (rs_start(&s, 0, false, NULL) < 0) {
			CHECK(!"redis-server starts");
		} else {
			test_specs(s.port);
			test_acl(s.port);
			test_standalone_same_answers(s.port);
			test_damaged(s.port);
		}
		rs_remove(&s);
	}
	if (!only || strcmp(only, "faults") == 0) {
		test_down_at_start();
		test_killed_mid_traffic();
		test_slow();
	}
	if (!only || strcmp(only, "cluster") == 0)
		test_cluster();
	return CHECK_DONE("redis store");
}
