/*
 * test_sightings_freeze.c — a store's two bulk-use calls (imei_sightings.h):
 * imei_store_freeze (after it every query answers, from many threads at once without the
 * lock, and every write fails with a message that says "frozen", changing nothing) and
 * imei_store_reserve (the memory store sized once for what is coming: the puts after it
 * allocate nothing, and it holds no more than its records and an index at load 3/4).
 */
#include <pthread.h>
#include <stdlib.h>

#include "check.h"
#include "imei_sightings.h"
#include "scratch_files.h"

#define T0 1700000000u

static uint64_t imsi_n(uint64_t n)
{
	char buf[32];
	uint64_t v = 0;
	snprintf(buf, sizeof buf, "41001%010llu", (unsigned long long)(n % 10000000000ULL));
	imei_sight_imsi(buf, strlen(buf), &v, NULL);
	return v;
}

static struct imei_sighting sighting(uint64_t key, uint64_t imsi, uint32_t t)
{
	struct imei_sighting s = { .key = key, .imsi = imsi, .time = t };
	return s;
}

static size_t distinct(struct imei_store *st, uint64_t key)
{
	size_t n = 0;
	struct imei_store_error err;
	if (imei_store_distinct(st, key, IMEI_FIELD_IMSI, 30, T0, &n, NULL, NULL, &err) < 0)
		return (size_t)-1;
	return n;
}

/* -1 with EREADONLY and "frozen" in its message: a write the freeze refused. */
static bool refused(int rc, const struct imei_store_error *err)
{
	return rc == -1 && err->code == IMEI_STORE_EREADONLY && strstr(err->msg, "frozen") != NULL;
}

struct reader {
	struct imei_store *st;
	size_t wrong;
};

/* Keys 1..100 hold key % 4 + 1 IMSIs each: every query from every thread must say so. */
static void *read_frozen(void *arg)
{
	struct reader *rd = arg;
	struct imei_store_error err;
	struct imei_sighting_agg a;
	for (unsigned round = 0; round < 200; round++)
		for (uint64_t key = 1; key <= 100; key++) {
			if (distinct(rd->st, key) != key % 4 + 1)
				rd->wrong++;
			if (imei_store_first(rd->st, key, &a, &err) != 1 || a.imsi != imsi_n(key * 10))
				rd->wrong++;
		}
	return NULL;
}

static void test_freeze_memory(void)
{
	struct imei_store_error err;
	struct imei_store *st = imei_store_open("memory", NULL, &err);
	CHECK(st != NULL);
	if (!st)
		return;
	for (uint64_t key = 1; key <= 100; key++)
		for (uint64_t i = 0; i <= key % 4; i++) {
			struct imei_sighting s = sighting(key, imsi_n(key * 10 + i), (uint32_t)(T0 - 1000 + i));
			CHECK_INT(imei_store_record(st, &s, &err), 0);
		}
	CHECK_INT(imei_store_pair(st, 7, imsi_n(70), 0, &err), 1);
	CHECK(!imei_store_frozen(st));
	CHECK_INT(imei_store_freeze(st, &err), 0);
	CHECK(imei_store_frozen(st));
	CHECK_INT(imei_store_freeze(st, &err), 0); /* again: still frozen, no error */
	CHECK(imei_store_frozen(st));

	/* queries answer */
	CHECK_INT(distinct(st, 3), 4);
	CHECK_INT(imei_store_is_paired(st, 7, imsi_n(70), NULL, &err), 1);
	struct imei_store_stats before, after;
	CHECK_INT(imei_store_stats(st, &before, &err), 0);
	CHECK_INT(before.aggregates, 250);
	CHECK_INT(imei_store_check(st, &err), 0);
	unsigned char *snap = NULL;
	size_t snap_len = 0;
	CHECK_INT(imei_store_snapshot(st, &snap, &snap_len, &err), 0);

	/* every write fails loudly and changes nothing */
	struct imei_sighting s = sighting(1, imsi_n(999), T0);
	size_t done = 99;
	CHECK(refused(imei_store_record(st, &s, &err), &err));
	CHECK(strstr(err.msg, "memory") != NULL); /* names the store */
	CHECK(refused(imei_store_record_many(st, &s, 1, &done, &err), &err));
	CHECK_INT(done, 0);
	CHECK(refused(imei_store_pair(st, 1, imsi_n(999), 0, &err), &err));
	CHECK(refused(imei_store_unpair(st, 7, imsi_n(70), &err), &err));
	struct imei_sighting_agg a;
	imei_agg_init(&a, &s);
	CHECK(refused(imei_store_put_aggs(st, &a, 1, &err), &err));
	CHECK(refused(imei_store_reserve(st, 10, &err), &err));
	CHECK(snap && refused(imei_store_restore(st, snap, snap_len, &err), &err));
	CHECK_INT(imei_store_flush(st, &err), 0); /* nothing to flush: not an error */
	CHECK_INT(imei_store_stats(st, &after, &err), 0);
	CHECK_INT(after.aggregates, before.aggregates);
	CHECK_INT(after.pairings, 1);
	CHECK_INT(after.recorded, before.recorded);
	CHECK_INT(distinct(st, 1), 2);
	CHECK_INT(imei_store_check(st, &err), 0);
	free(snap);

	/* many threads query the frozen store at once (no lock taken; TSan/ASan builds see it) */
	enum { NT = 4 };
	pthread_t th[NT];
	struct reader rd[NT];
	for (unsigned i = 0; i < NT; i++) {
		rd[i] = (struct reader){ imei_store_retain(st), 0 };
		CHECK_INT(pthread_create(&th[i], NULL, read_frozen, &rd[i]), 0);
	}
	for (unsigned i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(rd[i].wrong, 0);
		imei_store_release(rd[i].st);
	}
	/* an iterator still walks it all */
	struct imei_store_iter *it = imei_store_iter_open(st, IMEI_ITER_SIGHTINGS, &err);
	CHECK(it != NULL);
	size_t n = 0;
	while (it && imei_store_iter_next(it, &a, &err) == 1)
		n++;
	imei_store_iter_close(it);
	CHECK_INT(n, 250);
	imei_store_release(st);
}

/* LMDB: the freeze commits what is queued first; a write after it is refused. */
static void test_freeze_lmdb(void)
{
	char spec[128];
	scratch_make("imei-freeze");
	snprintf(spec, sizeof spec, "lmdb:%s", dir);
	struct imei_store_opts o = { .batch = 100000 };
	struct imei_store_error err;
	struct imei_store *st = imei_store_open(spec, &o, &err);
	CHECK(st != NULL);
	if (st) {
		struct imei_sighting s = sighting(42, imsi_n(1), T0);
		CHECK_INT(imei_store_record(st, &s, &err), 0);
		CHECK_INT(imei_store_reserve(st, 1000, &err), 0); /* LMDB needs no room: nothing done */
		struct imei_store_stats ss;
		CHECK_INT(imei_store_stats(st, &ss, &err), 0);
		CHECK_INT(ss.pending, 1);
		CHECK_INT(imei_store_freeze(st, &err), 0);
		CHECK_INT(imei_store_stats(st, &ss, &err), 0);
		CHECK_INT(ss.pending, 0);
		CHECK_INT(ss.committed, 1);
		CHECK(refused(imei_store_record(st, &s, &err), &err));
		CHECK(refused(imei_store_reserve(st, 1, &err), &err));
		CHECK_INT(distinct(st, 42), 1);
		imei_store_release(st);
	}
	scratch_remove();
}

/* n aggregates: keys in runs of 1..3 triples (as a replay puts them); lasts moved by shift. */
static struct imei_sighting_agg *make_aggs(size_t n, uint32_t shift)
{
	struct imei_sighting_agg *v = malloc(n * sizeof *v);
	if (!v)
		return NULL;
	uint64_t key = 1000;
	for (size_t i = 0; i < n; key++)
		for (uint64_t k = 0; k <= key % 3 && i < n; k++, i++) {
			struct imei_sighting s = sighting(key, imsi_n(key * 4 + k), T0 + shift);
			imei_agg_init(&v[i], &s);
		}
	return v;
}

static int put_all(struct imei_store *st, const struct imei_sighting_agg *v, size_t n)
{
	struct imei_store_error err;
	for (size_t i = 0; i < n; i += 256)
		if (imei_store_put_aggs(st, &v[i], n - i < 256 ? n - i : 256, &err) < 0)
			return -1;
	return 0;
}

static uint64_t store_bytes(struct imei_store *st)
{
	struct imei_store_stats s;
	struct imei_store_error err;
	return imei_store_stats(st, &s, &err) == 0 ? s.bytes : 0;
}

static void test_reserve(void)
{
	enum { N = 100000 };
	struct imei_store_error err;
	struct imei_store *st = imei_store_open("memory", NULL, &err);
	struct imei_sighting_agg *v = make_aggs(N, 0), *w = make_aggs(N, 60);
	CHECK(st && v && w);
	if (!st || !v || !w) {
		free(v);
		free(w);
		if (st)
			imei_store_release(st);
		return;
	}
	uint64_t b0 = store_bytes(st);
	CHECK_INT(imei_store_reserve(st, N, &err), 0);
	uint64_t b1 = store_bytes(st);
	/* records for exactly N, an index of N * 4/3 slots (not the next power of two) */
	CHECK(b1 >= b0 + (uint64_t)N * 48);
	CHECK(b1 <= b0 + (uint64_t)N * 48 + ((uint64_t)N * 4 + 2) / 3 * 4);
	CHECK_INT(put_all(st, v, N), 0);
	CHECK_INT(store_bytes(st), b1); /* the puts allocated nothing more */
	struct imei_store_stats s;
	CHECK_INT(imei_store_stats(st, &s, &err), 0);
	CHECK_INT(s.aggregates, N);
	CHECK_INT(imei_store_check(st, &err), 0);
	/* the same triples again: replaced, not added */
	CHECK_INT(put_all(st, w, N), 0);
	CHECK_INT(imei_store_stats(st, &s, &err), 0);
	CHECK_INT(s.aggregates, N);
	CHECK_INT(store_bytes(st), b1);
	struct imei_sighting_agg got;
	CHECK_INT(imei_store_get_agg(st, w[N - 1].key, w[N - 1].imsi, 0, &got, &err), 1);
	CHECK_INT(got.last, T0 + 60);
	CHECK_INT(imei_store_get_agg(st, w[1].key, w[1].imsi, 0, &got, &err), 1);
	CHECK_INT(got.last, T0 + 60);
	/* one beyond the room: the store grows as before */
	struct imei_sighting one = sighting(99999999, imsi_n(5), T0);
	CHECK_INT(imei_store_record(st, &one, &err), 0);
	CHECK(store_bytes(st) > b1);
	CHECK_INT(imei_store_check(st, &err), 0);
	/* more than a memory store can hold: refused, nothing changed */
	CHECK_INT(imei_store_reserve(st, (size_t)1 << 28, &err), -1);
	CHECK_INT(err.code, IMEI_STORE_EFULL);
	CHECK_INT(imei_store_check(st, &err), 0);
	imei_store_release(st);

	/* opts.capacity is the same room from the start */
	struct imei_store_opts o = { .capacity = N };
	st = imei_store_open("memory", &o, &err);
	CHECK(st != NULL);
	if (st) {
		CHECK_INT(store_bytes(st), b1);
		CHECK_INT(put_all(st, v, N), 0);
		CHECK_INT(store_bytes(st), b1);
		CHECK_INT(imei_store_check(st, &err), 0);
		imei_store_release(st);
	}

	/* without reserve, grown one at a time: the same aggregates, the same answers */
	st = imei_store_open("memory", NULL, &err);
	CHECK(st != NULL);
	if (st) {
		for (size_t i = 0; i < N; i++)
			CHECK_INT(imei_store_put_aggs(st, &v[i], 1, &err), 0);
		CHECK_INT(imei_store_stats(st, &s, &err), 0);
		CHECK_INT(s.aggregates, N);
		CHECK(s.bytes >= b1);
		CHECK_INT(imei_store_check(st, &err), 0);
		CHECK_INT(distinct(st, 1001), 3); /* 1001 % 3 + 1 IMSIs */
		imei_store_release(st);
	}
	free(v);
	free(w);
}

int main(void)
{
	test_freeze_memory();
	test_freeze_lmdb();
	test_reserve();
	return CHECK_DONE("test_sightings_freeze");
}
