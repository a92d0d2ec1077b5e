/*
 * sightings_bench.c — the sightings store (core/sightings*.c) against SQLite doing the same
 * upserts in the same run (docs/architecture.md "Targets": the ratio is the figure that counts).
 *
 * Workload (seeded, generated before timing): N sightings of N/4 devices over 90 days in
 * time order; 9 in 10 sightings of a device carry its own IMSI, the rest one of a few
 * others (every 20th device is a clone with many); 2 in 3 carry an MSISDN; operator and
 * RAT vary. Measured on one thread:
 *   - sightings recorded per second, by wall clock and by this thread's CPU time (the
 *     machine may be busy with other work): memory one by one and with record_many();
 *     LMDB batched (record_many, flush() every 16384 or 262144, each an fsync'd commit);
 *     SQLite (WAL, synchronous=FULL, one transaction per 16384 or 262144, an INSERT …
 *     ON CONFLICT DO UPDATE doing the same merge, day bitmap included);
 *   - bytes per stored aggregate (memory: allocated; LMDB and SQLite: file size);
 *   - query latency: distinct IMSIs of a random device in 30 days, mean and p99.
 * Usage: sightings_bench DIR [N]   (DIR: a scratch folder for the LMDB and SQLite files)
 */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imei_sightings.h"
#include "sightings_workload.h"

#define QUERIES 200000

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU time of this thread: what a run costs, whatever else the machine is doing. */
static double cpu_s(void)
{
	return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

struct timing {
	double wall, cpu;
};

static struct timing start_timing(void)
{
	return (struct timing){ now_s(), cpu_s() };
}

static struct timing stop_timing(struct timing t)
{
	return (struct timing){ now_s() - t.wall, cpu_s() - t.cpu };
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct lat {
	double mean_ns, p99_ns;
	size_t checksum;
};

static struct lat latency(double *v, size_t n, double total, size_t checksum)
{
	qsort(v, n, sizeof *v, cmp_double);
	return (struct lat){ total / (double)n * 1e9, v[n * 99 / 100] * 1e9, checksum };
}

static uint64_t random_key(uint64_t *seed, size_t devices)
{
	return 35000000000000ULL + (rng(seed) % devices) * 37;
}

static struct lat query_store(struct imei_store *st, int64_t qnow, size_t devices, double *v)
{
	double total = 0;
	uint64_t seed = 99;
	size_t checksum = 0;
	struct imei_store_error err;
	for (size_t q = 0; q < QUERIES; q++) {
		uint64_t key = random_key(&seed, devices);
		size_t c = 0;
		double t = now_s();
		imei_store_distinct(st, key, IMEI_FIELD_IMSI, 30, qnow, &c, NULL, NULL, &err);
		v[q] = now_s() - t;
		total += v[q];
		checksum += c;
	}
	return latency(v, QUERIES, total, checksum);
}

static int sql(sqlite3 *db, const char *s)
{
	char *msg = NULL;
	if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "sqlite: %s: %s\n", s, msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* The same merge as imei_agg_apply(), as one upsert; ?4 is the time, ?4/86400 its day. */
static const char *UPSERT =
	"INSERT INTO s(key, imsi, msisdn, first, last, days, op, rats, ndays) "
	"VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5, ?6, 1) "
	"ON CONFLICT(key, imsi, msisdn) DO UPDATE SET "
	" days = CASE WHEN ?4/86400 > last/86400 THEN "
	"   CASE WHEN ?4/86400 - last/86400 >= 64 THEN 1 ELSE (days << (?4/86400 - last/86400)) | 1 END "
	"  WHEN ?4/86400 = last/86400 THEN days "
	"  WHEN last/86400 - ?4/86400 < 64 THEN days | (1 << (last/86400 - ?4/86400)) ELSE days END, "
	" ndays = ndays + CASE WHEN ?4/86400 > last/86400 THEN 1 WHEN ?4/86400 = last/86400 THEN 0 "
	"  WHEN last/86400 - ?4/86400 < 64 THEN ((days >> (last/86400 - ?4/86400)) & 1) = 0 "
	"  ELSE ?4/86400 < first/86400 END, "
	" first = min(first, ?4), last = max(last, ?4), rats = rats | ?6, "
	" op = CASE WHEN ?5 <> 0 AND (?4 >= last OR op = 0) THEN ?5 ELSE op END";

static double file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (double)st.st_size : 0;
}

struct result {
	const char *name;
	size_t batch;
	struct timing t;
	double aggregates, bytes;
};

static void print_result(const struct result *r, size_t n, const struct result *ref)
{
	char batch[24] = "-";
	if (r->batch)
		snprintf(batch, sizeof batch, "%zu", r->batch);
	printf("%-26s %7s %11.0f %11.0f %8.1fx %8.1fx %11.0f %7.1f\n", r->name, batch, (double)n / r->t.wall,
	       (double)n / r->t.cpu, ref ? ref->t.wall / r->t.wall : 1.0, ref ? ref->t.cpu / r->t.cpu : 1.0,
	       r->aggregates, r->bytes / r->aggregates);
}

static int run_memory(const struct imei_sighting *w, size_t n, bool many, struct result *r,
                      struct imei_store **keep)
{
	struct imei_store_error err;
	struct imei_store_stats st;
	struct imei_store *mem = imei_store_open("memory", NULL, &err);
	if (!mem)
		return fprintf(stderr, "%s\n", err.msg), -1;
	struct timing t = start_timing();
	for (size_t i = 0; i < n;) {
		size_t k = many ? (n - i < 1024 ? n - i : 1024) : 1, done;
		if ((many ? imei_store_record_many(mem, &w[i], k, &done, &err) : imei_store_record(mem, &w[i], &err)) < 0)
			return fprintf(stderr, "%s\n", err.msg), -1;
		i += k;
	}
	r->t = stop_timing(t);
	imei_store_stats(mem, &st, &err);
	r->name = many ? "memory, record_many" : "memory, one by one";
	r->batch = 0;
	r->aggregates = (double)st.aggregates;
	r->bytes = (double)st.bytes;
	if (keep)
		*keep = mem;
	else
		imei_store_release(mem);
	return 0;
}

/* record_many in slices of up to 1024, flush() at every batch boundary. */
static int run_lmdb(const char *dir, const struct imei_sighting *w, size_t n, size_t batch, struct result *r,
                    struct imei_store **keep)
{
	char path[1024], spec[1100], cmd[1200];
	snprintf(path, sizeof path, "%s/sightings-lmdb-%zu", dir, batch);
	snprintf(spec, sizeof spec, "lmdb:%s", path);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		return -1;
	struct imei_store_opts o = { .batch = batch };
	struct imei_store_error err;
	struct imei_store_stats st;
	struct imei_store *lm = imei_store_open(spec, &o, &err);
	if (!lm)
		return fprintf(stderr, "%s\n", err.msg), -1;
	struct timing t = start_timing();
	for (size_t i = 0; i < n;) {
		size_t to_flush = batch - i % batch, k = n - i, done;
		if (k > 1024)
			k = 1024;
		if (k > to_flush)
			k = to_flush;
		if (imei_store_record_many(lm, &w[i], k, &done, &err) < 0)
			return fprintf(stderr, "%s\n", err.msg), -1;
		i += k;
		if ((i % batch == 0 || i == n) && imei_store_flush(lm, &err) < 0)
			return fprintf(stderr, "%s\n", err.msg), -1;
	}
	r->t = stop_timing(t);
	imei_store_stats(lm, &st, &err);
	r->name = "lmdb, flush per batch";
	r->batch = batch;
	r->aggregates = (double)st.aggregates;
	strcat(path, "/data.mdb");
	r->bytes = file_size(path);
	if (keep)
		*keep = lm;
	else
		imei_store_release(lm);
	return 0;
}

static int run_sqlite(const char *dir, const struct imei_sighting *w, size_t n, size_t batch, struct result *r,
                      sqlite3 **keep)
{
	char path[1024], cmd[4200];
	snprintf(path, sizeof path, "%s/sightings-%zu.sqlite", dir, batch);
	snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", path, path, path);
	if (system(cmd) != 0)
		return -1;
	sqlite3 *db;
	sqlite3_stmt *up, *q;
	if (sqlite3_open(path, &db) != SQLITE_OK || sql(db, "PRAGMA journal_mode=WAL") < 0 ||
	    sql(db, "PRAGMA synchronous=FULL") < 0 ||
	    sql(db, "CREATE TABLE s(key INTEGER, imsi INTEGER, msisdn INTEGER, first INTEGER, last INTEGER, "
	            "days INTEGER, op INTEGER, rats INTEGER, ndays INTEGER, "
	            "PRIMARY KEY(key, imsi, msisdn)) WITHOUT ROWID") < 0 ||
	    sqlite3_prepare_v2(db, UPSERT, -1, &up, NULL) != SQLITE_OK)
		return fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db)), -1;
	struct timing t = start_timing();
	sql(db, "BEGIN");
	for (size_t i = 0; i < n; i++) {
		const struct imei_sighting *s = &w[i];
		sqlite3_bind_int64(up, 1, (sqlite3_int64)s->key);
		sqlite3_bind_int64(up, 2, (sqlite3_int64)s->imsi);
		sqlite3_bind_int64(up, 3, (sqlite3_int64)s->msisdn);
		sqlite3_bind_int64(up, 4, s->time);
		sqlite3_bind_int64(up, 5, s->op);
		sqlite3_bind_int64(up, 6, s->rat ? 1 << (s->rat - 1) : 0);
		if (sqlite3_step(up) != SQLITE_DONE)
			return fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db)), -1;
		sqlite3_reset(up);
		if ((i + 1) % batch == 0 && (sql(db, "COMMIT") < 0 || sql(db, "BEGIN") < 0))
			return -1;
	}
	if (sql(db, "COMMIT") < 0)
		return -1;
	r->t = stop_timing(t);
	sqlite3_finalize(up);
	sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
	r->name = "sqlite, WAL, sync FULL";
	r->batch = batch;
	r->aggregates = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM s", -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		r->aggregates = (double)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	r->bytes = file_size(path);
	if (keep)
		*keep = db;
	else
		sqlite3_close(db);
	return 0;
}

static struct lat query_sqlite(sqlite3 *db, int64_t qnow, size_t devices, double *v)
{
	sqlite3_stmt *q;
	double total = 0;
	uint64_t seed = 99;
	size_t checksum = 0;
	int64_t d0 = qnow / DAY - 30 + 1;
	/* seen in the window at a now after all the data: last seen on or after its first day */
	if (sqlite3_prepare_v2(db, "SELECT count(DISTINCT imsi) FROM s WHERE key = ?1 AND last / 86400 >= ?2", -1, &q,
	                       NULL) != SQLITE_OK)
		return (struct lat){ 0, 0, 0 };
	for (size_t i = 0; i < QUERIES; i++) {
		uint64_t key = random_key(&seed, devices);
		double t = now_s();
		sqlite3_bind_int64(q, 1, (sqlite3_int64)key);
		sqlite3_bind_int64(q, 2, d0);
		if (sqlite3_step(q) == SQLITE_ROW)
			checksum += (size_t)sqlite3_column_int64(q, 0);
		sqlite3_reset(q);
		v[i] = now_s() - t;
		total += v[i];
	}
	sqlite3_finalize(q);
	return latency(v, QUERIES, total, checksum);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sightings_bench DIR [N]\n");
		return 2;
	}
	const char *dir = argv[1];
	size_t n = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 2000000, devices = n / 4;
	const size_t batches[2] = { 16384, 262144 };
	struct imei_sighting *w = workload(n, devices);
	double *v = malloc(QUERIES * sizeof *v);
	if (!w || !v || n < 1000) {
		free(w);
		free(v);
		return 2;
	}
	printf("workload: %zu sightings of %zu devices over 90 days, in time order\n", n, devices);
	printf("rates per second: wall clock (includes fsync and other load) and this thread's CPU time\n\n");
	struct result mem1, memn, lm[2], sq[2];
	struct imei_store *mem, *lmq;
	sqlite3 *sqq;
	if (run_memory(w, n, false, &mem1, NULL) < 0 || run_memory(w, n, true, &memn, &mem) < 0 ||
	    run_lmdb(dir, w, n, batches[0], &lm[0], &lmq) < 0 || run_lmdb(dir, w, n, batches[1], &lm[1], NULL) < 0 ||
	    run_sqlite(dir, w, n, batches[0], &sq[0], &sqq) < 0 || run_sqlite(dir, w, n, batches[1], &sq[1], NULL) < 0) {
		free(w);
		free(v);
		return 1;
	}
	printf("%-26s %7s %11s %11s %9s %9s %11s %7s\n", "record (one thread)", "batch", "wall/s", "cpu/s",
	       "wall x", "cpu x", "aggregates", "B/aggr");
	print_result(&mem1, n, &sq[0]);
	print_result(&memn, n, &sq[0]);
	for (int i = 0; i < 2; i++)
		print_result(&lm[i], n, &sq[i]);
	for (int i = 0; i < 2; i++)
		print_result(&sq[i], n, NULL);
	printf("(x: how many times SQLite's rate, at the same batch; memory against SQLite at %zu)\n", batches[0]);
	printf("memory: %.1f bytes per aggregate, %.1f per recorded sighting\n", memn.bytes / memn.aggregates,
	       memn.bytes / (double)n);
	if (memn.aggregates != lm[0].aggregates || lm[0].aggregates != sq[0].aggregates)
		printf("NOTE: the stores disagree on the number of aggregates\n");

	int64_t qnow = (int64_t)w[n - 1].time;
	struct lat qm = query_store(mem, qnow, devices, v), ql = query_store(lmq, qnow, devices, v),
	           qs = query_sqlite(sqq, qnow, devices, v);
	printf("\n%-26s %10s %10s %10s\n", "imsis(key, 30 days)", "mean ns", "p99 ns", "x SQLite");
	printf("%-26s %10.0f %10.0f %9.1fx\n", "memory", qm.mean_ns, qm.p99_ns, qs.mean_ns / qm.mean_ns);
	printf("%-26s %10.0f %10.0f %9.1fx\n", "lmdb", ql.mean_ns, ql.p99_ns, qs.mean_ns / ql.mean_ns);
	printf("%-26s %10.0f %10.0f %9.1fx\n", "sqlite", qs.mean_ns, qs.p99_ns, 1.0);
	if (qm.checksum != ql.checksum || ql.checksum != qs.checksum)
		printf("NOTE: the answers differ (checksums %zu %zu %zu)\n", qm.checksum, ql.checksum, qs.checksum);
	printf("\ntargets: memory >= 2000000/s, lmdb >= 500000/s (batched), memory <= 64 bytes per aggregate\n");
	sqlite3_close(sqq);
	imei_store_release(lmq);
	imei_store_release(mem);
	free(v);
	free(w);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'/sightings-lmdb-* '%s'/sightings-*.sqlite*", dir, dir);
	return system(cmd) == 0 ? 0 : 1;
}
