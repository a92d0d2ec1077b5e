/*
 * redis_bench.c — the Redis sightings store beside memory and LMDB in one run, on a
 * redis-server this bench starts on 127.0.0.1 (tests/redis/servers.h; no persistence,
 * the server's defaults otherwise). Asserts nothing; prints:
 *   - sightings recorded per second: memory (record_many), LMDB (record_many, an fsync'd
 *     commit every 16384), Redis (record_many, pipelined, flush() at the end: every
 *     sighting acknowledged by Redis);
 *   - imsis(key, 30 days) latency, mean and p99, on each store;
 *   - Redis memory per device and per aggregate (INFO memory before and after), and what
 *     100 M devices would take.
 * Usage: redis_bench DIR [N]   (DIR: a scratch folder for LMDB)
 */
#include <stdint.h>

#include "servers.h"
#include "imei_sightings.h"
#include "sightings_workload.h"


static int cmp_double(const void *a, const void *b);
#define cmp_double_fwd cmp_double

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double record_all(struct imei_store *st, const struct imei_sighting *w, size_t n, size_t flush_every)
{
	struct imei_store_error err;
	double t = now_s();
	for (size_t i = 0; i < n;) {
		size_t k = n - i < 1024 ? n - i : 1024, done;
		if (imei_store_record_many(st, &w[i], k, &done, &err) < 0) {
			fprintf(stderr, "record: %s\n", err.msg);
			return -1;
		}
		i += k;
		if (flush_every && (i % flush_every == 0) && imei_store_flush(st, &err) < 0) {
			fprintf(stderr, "flush: %s\n", err.msg);
			return -1;
		}
	}
	if (imei_store_flush(st, &err) < 0) {
		fprintf(stderr, "flush: %s\n", err.msg);
		return -1;
	}
	return now_s() - t;
}

/* The peer: the same commands (APPEND 26 bytes + PEXPIRE per sighting, 1024 sightings per
 * pipeline) straight through hiredis's own redisContext, no store around them. */
static double raw_hiredis(int port, const struct imei_sighting *w, size_t n)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	if (!c || c->err)
		return -1;
	double t = now_s();
	for (size_t i = 0; i < n;) {
		size_t k = n - i < 1024 ? n - i : 1024;
		for (size_t j = 0; j < k; j++) {
			char key[48];
			unsigned char rec[26] = { 'S' };
			memcpy(rec + 1, &w[i + j].imsi, 8);
			memcpy(rec + 9, &w[i + j].msisdn, 8);
			memcpy(rec + 17, &w[i + j].time, 4);
			snprintf(key, sizeof key, "raw:{%014llu}", (unsigned long long)w[i + j].key);
			redisAppendCommand(c, "APPEND %s %b", key, rec, sizeof rec);
			redisAppendCommand(c, "PEXPIRE %s 34560000000", key);
		}
		for (size_t j = 0; j < 2 * k; j++) {
			void *r;
			if (redisGetReply(c, &r) != REDIS_OK) {
				redisFree(c);
				return -1;
			}
			freeReplyObject(r);
		}
		i += k;
	}
	t = now_s() - t;
	redisFree(c);
	return t;
}

/* The peer of a query: one GET round trip through hiredis's redisContext. */
static void raw_get_latency(int port, size_t devices, size_t q, double *v)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	if (!c || c->err)
		return;
	uint64_t seed = 99;
	double total = 0;
	for (size_t i = 0; i < q; i++) {
		uint64_t key = 35000000000000ULL + (rng(&seed) % devices) * 37;
		double t = now_s();
		redisReply *r = redisCommand(c, "GET imei:{%014llu}", (unsigned long long)key);
		v[i] = now_s() - t;
		total += v[i];
		if (r)
			freeReplyObject(r);
	}
	redisFree(c);
	qsort(v, q, sizeof *v, cmp_double_fwd);
	printf("%-28s %10.1f %10.1f\n", "peer: GET via redisCommand", total / (double)q * 1e6, v[q * 99 / 100] * 1e6);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void latency(struct imei_store *st, const char *name, size_t devices, size_t q, int64_t qnow, double *v)
{
	struct imei_store_error err;
	uint64_t seed = 99;
	double total = 0;
	size_t sum = 0, failed = 0;
	for (size_t i = 0; i < q; i++) {
		uint64_t key = 35000000000000ULL + (rng(&seed) % devices) * 37;
		size_t c = 0;
		double t = now_s();
		failed += imei_store_distinct(st, key, IMEI_FIELD_IMSI, 30, qnow, &c, NULL, NULL, &err) != 0;
		v[i] = now_s() - t;
		total += v[i];
		sum += c;
	}
	qsort(v, q, sizeof *v, cmp_double);
	printf("%-28s %10.1f %10.1f %10zu %s\n", name, total / (double)q * 1e6, v[q * 99 / 100] * 1e6, sum,
	       failed ? "(failures!)" : "");
}

static long long used_memory(int port)
{
	redisReply *r = rs_cmd(port, "INFO memory");
	long long v = -1;
	const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
	if (p)
		v = atoll(p + 12);
	if (r)
		freeReplyObject(r);
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: redis_bench DIR [N]\n");
		return 2;
	}
	size_t n = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 1000000, devices = n / 4, q = 20000;
	struct imei_sighting *w = workload(n, devices);
	double *v = malloc(q * sizeof *v);
	struct rserver s;
	memset(&s, 0, sizeof s);
	const char *extra[] = { "--appendonly", "no", NULL };
	if (!w || !v || n < 1000 || rs_start(&s, 0, false, extra) < 0) {
		fprintf(stderr, "redis_bench: setup failed\n");
		return 1;
	}
	char lpath[1024], lspec[1100], rspec[200], cmd[1200];
	snprintf(lpath, sizeof lpath, "%s/redis-bench-lmdb", argv[1]);
	snprintf(lspec, sizeof lspec, "lmdb:%s", lpath);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", lpath);
	if (system(cmd) != 0) {
		rs_remove(&s);
		free(v);
		free(w);
		return 1;
	}
	snprintf(rspec, sizeof rspec, "redis://127.0.0.1:%d?timeout_ms=5000", s.port);
	struct imei_store_error err;
	struct imei_store_opts lo = { .batch = 16384 };
	struct imei_store *mem = imei_store_open("memory", NULL, &err), *lm = imei_store_open(lspec, &lo, &err),
	                  *rd = imei_store_open(rspec, NULL, &err);
	if (!mem || !lm || !rd) {
		fprintf(stderr, "open: %s\n", err.msg);
		imei_store_release(mem);
		imei_store_release(lm);
		imei_store_release(rd);
		rs_remove(&s);
		free(v);
		free(w);
		return 1;
	}
	printf("workload: %zu sightings of %zu devices over 90 days (bench/sightings_bench.c's), redis-server %d "
	       "on loopback\n\n",
	       n, devices, s.port);
	long long m0 = used_memory(s.port);
	double tm = record_all(mem, w, n, 0), tl = record_all(lm, w, n, 16384), tr = record_all(rd, w, n, 0);
	long long m1 = used_memory(s.port);

	struct imei_store_stats st;
	imei_store_stats(mem, &st, &err);
	double aggs = (double)st.aggregates, keys = (double)st.keys;
	/* let the flusher fold long logs: read every device once (what live checks do) */
	for (size_t d = 0; d < devices; d++) {
		size_t c;
		imei_store_distinct(rd, 35000000000000ULL + d * 37, IMEI_FIELD_IMSI, 1, T0 + 90 * DAY, &c, NULL, NULL, &err);
	}
	imei_store_flush(rd, &err);
	long long m2 = used_memory(s.port);
	double tp = raw_hiredis(s.port, w, n);
	printf("%-28s %12s %10s\n", "record (one thread)", "sightings/s", "x memory");
	printf("%-28s %12.0f %9.2fx\n", "memory, record_many", (double)n / tm, 1.0);
	printf("%-28s %12.0f %9.2fx\n", "lmdb, fsync per 16384", (double)n / tl, tm / tl);
	printf("%-28s %12.0f %9.2fx\n", "redis, pipelined, acked", (double)n / tr, tm / tr);
	printf("%-28s %12.0f %9.2fx   (the store: %.2fx the peer)\n", "peer: same commands, hiredis", (double)n / tp,
	       tm / tp, tp / tr);
	printf("target: redis >= 300000/s\n\n");
	printf("%-28s %10s %10s %10s\n", "imsis(key, 30 days)", "mean us", "p99 us", "checksum");
	int64_t qnow = (int64_t)w[n - 1].time;
	latency(mem, "memory", devices, q, qnow, v);
	latency(lm, "lmdb", devices, q, qnow, v);
	latency(rd, "redis (loopback)", devices, q, qnow, v);
	raw_get_latency(s.port, devices, q, v);
	printf("target: redis p99 < 300 us\n\n");
	printf("redis memory: %.0f devices, %.0f aggregates: %.1f bytes/device as written, %.1f after one read each "
	       "(logs folded), %.1f bytes/aggregate\n",
	       keys, aggs, (double)(m1 - m0) / keys, (double)(m2 - m0) / keys, (double)(m2 - m0) / aggs);
	printf("memory store: %.1f bytes/device; 100 M devices in redis: %.1f GiB (used_memory, before replicas "
	       "and fragmentation)\n",
	       (double)st.bytes / keys, (double)(m2 - m0) / keys * 1e8 / (1 << 30));
	struct imei_store_counters c;
	imei_store_counters(rd, &c);
	printf("redis counters: recorded %llu written %llu buffered %llu dropped %llu folded %llu\n",
	       (unsigned long long)c.recorded, (unsigned long long)c.written, (unsigned long long)c.buffered,
	       (unsigned long long)c.dropped, (unsigned long long)c.folded);
	imei_store_release(mem);
	imei_store_release(lm);
	imei_store_release(rd);
	rs_remove(&s);
	free(v);
	free(w);
	return system(cmd) == 0 ? 0 : 1;
}
