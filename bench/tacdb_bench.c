/*
 * tacdb_bench.c — the TAC database from C (imei_tacdb.h), against the obvious peer in the same
 * run: the same TACs as a sorted uint32 array, searched with bsearch(3) and with an inlined
 * binary search (the peer at its best). For each compiled image given:
 *   - open (mmap + full validation): best and median of 20;
 *   - bytes of index per TAC, bytes of image per record;
 *   - lookups per second on the same random queries (90% TACs of the db, 10% absent):
 *     imei_tacdb_lookup_tac (a number), imei_tacdb_lookup_tacs (256 numbers per call),
 *     imei_tacdb_lookup (15-digit IMEI strings),
 *     imei_tacdb_lookup_str (the same strings, as an identifier), the two peers, and
 *     lookup_tac from 2 threads at once (one db shared, no locks);
 *   - build: the records added to a new builder and frozen again.
 * Best of 5 runs per lookup figure. Prints, asserts nothing.
 *
 *   tacdb_bench IMAGE...
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imei_tacdb.h"

#define RUNS 5
#define QUERIES 4000000 /* a multiple of 256 */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static inline long inline_search(const uint32_t *a, size_t n, uint32_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo] == key ? (long)lo : -1;
}

struct bench {
	const struct imei_tacdb *db;
	const uint32_t *q;     /* numeric queries */
	const char *imeis;     /* QUERIES strings of 15 digits, 16 bytes apart */
	const uint32_t *sorted;/* the peer */
	size_t nsorted;
};

enum which { TACDB_NUM, TACDB_BATCH, TACDB_STR, TACDB_ID, PEER_BSEARCH, PEER_INLINE };

static double run_once(const struct bench *b, enum which w, size_t *hits)
{
	size_t found = 0;
	double t0 = now();
	switch (w) {
	case TACDB_NUM:
		for (size_t i = 0; i < QUERIES; i++)
			found += imei_tacdb_lookup_tac(b->db, b->q[i]) != IMEI_TACDB_NONE;
		break;
	case TACDB_BATCH: {
		uint32_t out[256];
		for (size_t i = 0; i < QUERIES; i += 256) {
			imei_tacdb_lookup_tacs(b->db, b->q + i, 256, out);
			for (size_t k = 0; k < 256; k++)
				found += out[k] != IMEI_TACDB_NONE;
		}
		break;
	}
	case TACDB_STR:
		for (size_t i = 0; i < QUERIES; i++)
			found += imei_tacdb_lookup(b->db, b->imeis + 16 * i, 15) != IMEI_TACDB_NONE;
		break;
	case TACDB_ID:
		for (size_t i = 0; i < QUERIES; i++) {
			uint32_t idx;
			found += imei_tacdb_lookup_str(b->db, b->imeis + 16 * i, 15, &idx, NULL) == 0 && idx != IMEI_TACDB_NONE;
		}
		break;
	case PEER_BSEARCH:
		for (size_t i = 0; i < QUERIES; i++)
			found += bsearch(&b->q[i], b->sorted, b->nsorted, sizeof *b->sorted, cmp_u32) != NULL;
		break;
	case PEER_INLINE:
		for (size_t i = 0; i < QUERIES; i++)
			found += inline_search(b->sorted, b->nsorted, b->q[i]) >= 0;
		break;
	}
	double dt = now() - t0;
	*hits = found;
	return dt;
}

/* Million lookups per second, best of RUNS. */
static double rate(const struct bench *b, enum which w, size_t *hits)
{
	double best = 1e30;
	for (int r = 0; r < RUNS; r++) {
		double dt = run_once(b, w, hits);
		if (dt < best)
			best = dt;
	}
	return QUERIES / best / 1e6;
}

struct thread_arg {
	const struct bench *b;
	double seconds;
	size_t hits;
};

static void *thread_run(void *p)
{
	struct thread_arg *a = p;
	a->seconds = run_once(a->b, TACDB_NUM, &a->hits);
	return NULL;
}

static double two_threads(const struct bench *b)
{
	double best = 0;
	for (int r = 0; r < RUNS; r++) {
		struct thread_arg a[2] = { { b, 0, 0 }, { b, 0, 0 } };
		pthread_t t[2];
		double t0 = now();
		for (int i = 0; i < 2; i++)
			if (pthread_create(&t[i], NULL, thread_run, &a[i]) != 0)
				return 0;
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		double r2 = 2.0 * QUERIES / (now() - t0) / 1e6;
		if (r2 > best)
			best = r2;
	}
	return best;
}

static void open_times(const char *path, double *best, double *median)
{
	double t[20];
	for (int i = 0; i < 20; i++) {
		struct imei_tacdb_error err;
		double t0 = now();
		struct imei_tacdb *db = imei_tacdb_open(path, &err);
		t[i] = (now() - t0) * 1e3;
		imei_tacdb_unref(db);
	}
	qsort(t, 20, sizeof *t, cmp_double);
	*best = t[0];
	*median = t[10];
}

/* Rebuild the db from its records: seconds to add them all, and to freeze. */
static void build_times(const struct imei_tacdb *db, double *add_s, double *freeze_s)
{
	*add_s = *freeze_s = 0;
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	if (!b)
		return;
	size_t n = imei_tacdb_count(db);
	struct imei_tac_kv kv[64];
	double t0 = now();
	for (uint32_t i = 0; i < n; i++) {
		struct imei_tac_record rec;
		imei_tacdb_record(db, i, &rec);
		struct imei_tac_fields f = { .date = rec.date, .rat = rec.rat, .extra = kv };
		for (int k = 0; k < IMEI_TAC_NFIELDS; k++) {
			f.str[k] = rec.str[k];
			f.len[k] = strlen(rec.str[k]);
		}
		for (size_t j = 0; j < rec.nextra && j < 64; j++, f.nextra++) {
			imei_tacdb_extra(db, i, j, &kv[j].key, &kv[j].value);
			kv[j].key_len = strlen(kv[j].key);
			kv[j].value_len = strlen(kv[j].value);
		}
		struct imei_tacdb_error err;
		imei_tacdb_builder_add(b, rec.key, rec.key_len, &f, i, NULL, &err);
	}
	double t1 = now();
	struct imei_tacdb_error err;
	struct imei_tacdb *again = imei_tacdb_freeze(b, &err);
	double t2 = now();
	*add_s = t1 - t0;
	*freeze_s = t2 - t1;
	imei_tacdb_unref(again);
	imei_tacdb_builder_free(b);
}

static int bench_image(const char *path)
{
	struct imei_tacdb_error err;
	struct imei_tacdb *db = imei_tacdb_open(path, &err);
	if (!db) {
		fprintf(stderr, "tacdb_bench: %s\n", err.msg);
		return 1;
	}
	struct imei_tacdb_stats st;
	imei_tacdb_stats(db, &st);
	size_t n = st.tacs;
	uint32_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
	uint32_t *q = malloc(QUERIES * sizeof *q);
	char *imeis = malloc((size_t)QUERIES * 16);
	if (!sorted || !q || !imeis || n == 0) {
		fprintf(stderr, "tacdb_bench: %s: out of memory or no TACs\n", path);
		free(sorted), free(q), free(imeis);
		imei_tacdb_unref(db);
		return 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct imei_tac_record rec;
		imei_tacdb_record(db, i, &rec);
		sorted[i] = (uint32_t)strtoul(rec.key, NULL, 10);
	}
	/* the queries come from the TACs in record order (which is the index's), the peer
	 * gets them sorted */
	uint64_t seed = 0x9E3779B97F4A7C15ULL;
	for (size_t i = 0; i < QUERIES; i++)
		q[i] = rnd(&seed) % 10 == 0 ? (uint32_t)(rnd(&seed) % 100000000u) : sorted[rnd(&seed) % n];
	qsort(sorted, n, sizeof *sorted, cmp_u32);
	for (size_t i = 0; i < QUERIES; i++) {
		snprintf(imeis + 16 * i, 16, "%08u%06u%u", (unsigned)q[i], (unsigned)(rnd(&seed) % 1000000),
		         (unsigned)(rnd(&seed) % 10));
	}
	struct bench b = { db, q, imeis, sorted, n };

	double open_best, open_median;
	open_times(path, &open_best, &open_median);
	printf("== tacdb (C) %s: %zu records, %zu TACs, image %zu bytes\n", path, st.records, st.tacs, st.image_bytes);
	printf("  index             %.2f bytes per TAC (2^%zu buckets of 4 bytes + 4 bytes per TAC)\n",
	       (double)st.index_bytes / (double)(st.records ? st.records : 1), st.bucket_bits);
	printf("  image             %.1f bytes per record (records %zu, extra columns %zu, strings %zu bytes)\n",
	       (double)st.image_bytes / (double)(st.records ? st.records : 1), st.record_bytes, st.extra_bytes,
	       st.string_bytes);
	printf("  open (mmap+check) %.2f ms best, %.2f ms median of 20\n", open_best, open_median);
	size_t h0, h1, h2, h3, h4, h5;
	double num = rate(&b, TACDB_NUM, &h1), str = rate(&b, TACDB_STR, &h2), id = rate(&b, TACDB_ID, &h3);
	double batch = rate(&b, TACDB_BATCH, &h0);
	double bs = rate(&b, PEER_BSEARCH, &h4), in = rate(&b, PEER_INLINE, &h5);
	printf("  lookup_tac (uint32 TAC)         %7.1f M/s  (%zu of %d found)\n", num, h1, QUERIES);
	printf("  lookup_tacs (256 at a time)     %7.1f M/s  (%zu found)\n", batch, h0);
	printf("  lookup (15-digit IMEI)          %7.1f M/s  (%zu found)\n", str, h2);
	printf("  lookup_str (15-digit IMEI)      %7.1f M/s  (%zu found)\n", id, h3);
	printf("  peer: bsearch, sorted uint32    %7.1f M/s  (%zu found) -> tacdb lookup_tac %.1fx\n", bs, h4, num / bs);
	printf("  peer: inlined binary search     %7.1f M/s  (%zu found) -> tacdb lookup_tac %.1fx, lookup_tacs %.1fx\n",
	       in, h5, num / in, batch / in);
	printf("  lookup_tac, 2 threads, one db   %7.1f M/s\n", two_threads(&b));
	double add_s, freeze_s;
	build_times(db, &add_s, &freeze_s);
	printf("  build: add %zu records %.3f s (%.2f M/s), freeze %.3f s\n", st.records, add_s,
	       (double)st.records / add_s / 1e6, freeze_s);
	free(sorted);
	free(q);
	free(imeis);
	imei_tacdb_unref(db);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: tacdb_bench IMAGE...\n");
		return 2;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++)
		rc |= bench_image(argv[i]);
	return rc;
}
