/*
 * test_u64set.c — the compact frozen sets (imei_u64set.h) on their edges: no value, one,
 * two; repeats; UINT64_MAX refused and never a member; values whose hashes share their
 * top bits (all in one bucket, large enough to be sorted by qsort), buckets left empty
 * between full ones, hashes 0 and UINT64_MAX (the sentinel's value); pairs alike; and
 * random sets against a sorted reference. Values with a chosen hash are made with the
 * inverse of the mixer, so every case is placed where it is meant to be.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imei_u64set.h"

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* The inverse of an odd multiplier mod 2^64 (Newton: each step doubles the good bits). */
static uint64_t inverse(uint64_t c)
{
	uint64_t x = c;
	for (int i = 0; i < 6; i++)
		x *= 2 - c * x;
	return x;
}

/* The value whose mixed hash is h: imei_u64_mix run backwards (x ^= x >> 33 is its own
 * inverse on 64 bits). */
static uint64_t unmix(uint64_t h)
{
	h ^= h >> 33;
	h *= inverse(UINT64_C(0xc4ceb9fe1a85ec53));
	h ^= h >> 33;
	h *= inverse(UINT64_C(0xff51afd7ed558ccd));
	h ^= h >> 33;
	return h;
}

static size_t set_bytes(size_t n)
{
	return 8 * (n + n / 8 + 1 + 16 + n / 256 + 8); /* home slots, slack, padding */
}

static void test_unmix(void)
{
	uint64_t s = 7;
	size_t bad = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = rnd(&s);
		bad += unmix(imei_u64_mix(x)) != x || imei_u64_mix(unmix(x)) != x;
	}
	CHECK_INT(bad, 0);
}

static void test_small(void)
{
	struct imei_u64set s;
	size_t dups = 99;

	CHECK_INT(imei_u64set_build(&s, NULL, 0, &dups), 0); /* no value */
	CHECK_INT(s.n, 0);
	CHECK_INT(dups, 0);
	CHECK(!imei_u64set_has(&s, 0));
	CHECK(!imei_u64set_has(&s, unmix(UINT64_MAX)));
	CHECK(!imei_u64set_has(&s, UINT64_MAX));
	CHECK_INT(imei_u64set_bytes(&s), set_bytes(0));
	imei_u64set_free(&s);
	CHECK_INT(imei_u64set_bytes(&s), 0);

	uint64_t one = 42;
	CHECK_INT(imei_u64set_build(&s, &one, 1, &dups), 0);
	CHECK_INT(s.n, 1);
	CHECK(imei_u64set_has(&s, 42));
	CHECK(!imei_u64set_has(&s, 41));
	CHECK(!imei_u64set_has(&s, 43));
	CHECK(!imei_u64set_has(&s, 0));
	CHECK(!imei_u64set_has(&s, UINT64_MAX));
	imei_u64set_free(&s);

	uint64_t two[] = { 0, UINT64_MAX - 1 };
	CHECK_INT(imei_u64set_build(&s, two, 2, &dups), 0);
	CHECK_INT(s.n, 2);
	CHECK(imei_u64set_has(&s, 0));
	CHECK(imei_u64set_has(&s, UINT64_MAX - 1));
	CHECK(!imei_u64set_has(&s, 1));
	CHECK(!imei_u64set_has(&s, UINT64_MAX));
	imei_u64set_free(&s);

	/* repeats: counted, and the set sized for the distinct values */
	uint64_t v[] = { 5, 7, 5, 0, 99999999999999ULL, 7, 7 };
	CHECK_INT(imei_u64set_build(&s, v, 7, &dups), 0);
	CHECK_INT(s.n, 4);
	CHECK_INT(dups, 3);
	CHECK_INT(imei_u64set_bytes(&s), set_bytes(4));
	CHECK(imei_u64set_has(&s, 0));
	CHECK(imei_u64set_has(&s, 5));
	CHECK(imei_u64set_has(&s, 7));
	CHECK(imei_u64set_has(&s, 99999999999999ULL));
	CHECK(!imei_u64set_has(&s, 6));
	imei_u64set_free(&s);

	/* UINT64_MAX is refused, the set left empty */
	uint64_t bad[] = { 1, UINT64_MAX, 2 };
	errno = 0;
	CHECK_INT(imei_u64set_build(&s, bad, 3, &dups), -1);
	CHECK_INT(errno, EINVAL);
	CHECK(s.slots == NULL && s.n == 0);
	CHECK(!imei_u64set_has(&s, 1));
	imei_u64set_free(&s);

	errno = 0; /* too many: refused before the input is read */
	CHECK_INT(imei_u64set_build(&s, &one, IMEI_U64SET_MAX + 1, &dups), -1);
	CHECK_INT(errno, E2BIG);
}

/* The smallest hash whose home among cap slots is m or later (by bisection; UINT64_MAX
 * when there is none), what a free slot m - 1 must hold. */
static uint64_t first_of_home(size_t m, size_t cap)
{
	uint64_t lo = 0, hi = (uint64_t)1 << 32; /* the answer's top 32 bits lie in [lo, hi] */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (imei_u64set_home(mid << 32, cap) >= m)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo >> 32 ? UINT64_MAX : lo << 32;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Values by their hashes: hashes h[0..n) must be found, hashes g[0..m) must not. */
static size_t wrong_by_hash(const uint64_t *h, size_t n, const uint64_t *g, size_t m, size_t *dups)
{
	uint64_t *v = calloc(n ? n : 1, sizeof *v);
	if (!v)
		return SIZE_MAX;
	for (size_t i = 0; i < n; i++)
		v[i] = unmix(h[i]);
	struct imei_u64set s;
	size_t wrong = 0;
	if (imei_u64set_build_seeded(&s, v, n, 0, dups) != 0) {
		free(v);
		return SIZE_MAX;
	}
	for (size_t i = 0; i < n; i++)
		wrong += !imei_u64set_has(&s, v[i]);
	for (size_t i = 0; i < m; i++)
		wrong += imei_u64set_has(&s, unmix(g[i]));
	/* the layout: sorted, every member at or after its home (a free slot holds a hash
	 * of the next home), the padding UINT64_MAX */
	for (size_t i = 1; i < s.len; i++)
		wrong += s.slots[i] < s.slots[i - 1];
	uint64_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
	if (!sorted)
		return SIZE_MAX;
	memcpy(sorted, h, n * sizeof *h);
	qsort(sorted, n, sizeof *sorted, cmp_u64);
	for (size_t i = 0; i + IMEI_U64SET_PAD < s.len; i++) { /* a member at or after its home, or free */
		bool member = i < s.end && bsearch(&s.slots[i], sorted, n, sizeof *sorted, cmp_u64);
		wrong += member ? imei_u64set_home(s.slots[i], s.cap) > i : s.slots[i] != first_of_home(i + 1, s.cap);
	}
	free(sorted);
	for (size_t i = s.len - IMEI_U64SET_PAD; i < s.len; i++)
		wrong += s.slots[i] != UINT64_MAX;
	imei_u64set_free(&s);
	free(v);
	return wrong;
}

static void test_buckets(void)
{
	enum { N = 1000 };
	static uint64_t h[3 * N], g[3 * N];
	size_t dups;

	/* all in one bucket (the top 32 bits alike), every other hash, shuffled; absent: the
	 * hashes between, below and above them in that bucket */
	uint64_t top = UINT64_C(0x9abcdef0) << 32, s = 3;
	for (size_t i = 0; i < N; i++) {
		h[i] = top | (2 * i + 2);
		g[i] = top | (2 * i + 1);
	}
	g[N] = top | (2 * N + 2);
	g[N + 1] = top | UINT32_MAX;
	g[N + 2] = top - 1;
	for (size_t i = N - 1; i > 0; i--) {
		size_t j = rnd(&s) % (i + 1);
		uint64_t t = h[i];
		h[i] = h[j];
		h[j] = t;
	}
	CHECK_INT(wrong_by_hash(h, N, g, N + 3, &dups), 0);
	CHECK_INT(dups, 0);

	/* the same bucket, every value three times */
	for (size_t i = 0; i < N; i++)
		h[N + i] = h[2 * N + i] = h[i];
	CHECK_INT(wrong_by_hash(h, 3 * N, g, N + 3, &dups), 0);
	CHECK_INT(dups, 2 * N);

	/* the extremes: hash 0, hash UINT64_MAX (the sentinel's value), and their absence */
	uint64_t ends[] = { 0, UINT64_MAX }, none[] = { 1, UINT64_MAX - 1 };
	CHECK_INT(wrong_by_hash(ends, 2, none, 2, &dups), 0);
	CHECK_INT(wrong_by_hash(ends, 1, ends + 1, 1, &dups), 0);
	CHECK_INT(wrong_by_hash(ends + 1, 1, ends, 1, &dups), 0);
	uint64_t hi[] = { UINT64_MAX - 5, UINT64_MAX - 3 }, not_hi[] = { UINT64_MAX, UINT64_MAX - 4, UINT64_MAX - 1 };
	CHECK_INT(wrong_by_hash(hi, 2, not_hi, 3, &dups), 0);

	/* clusters with empty buckets between: 64 values in each of 4 narrow ranges of the
	 * hash (n/4 + 1 buckets, most of them empty); absent: hashes in the empty buckets and
	 * beside each member */
	size_t n = 0, m = 0;
	for (uint64_t c = 0; c < 4; c++)
		for (uint64_t i = 0; i < 64; i++) {
			uint64_t base = (c * 5 + 1) * (UINT64_MAX / 21);
			h[n++] = base + 4 * i;
			g[m++] = base + 4 * i + 1;
			g[m++] = base + 4 * i - 1;
			g[m++] = base + (c + 1) * (UINT64_MAX / 42);
		}
	CHECK_INT(wrong_by_hash(h, n, g, m, &dups), 0);
}

static void test_random(void)
{
	enum { N = 100000 };
	uint64_t *v = malloc(N * sizeof *v), *sorted = malloc(N * sizeof *v), s = 11;
	CHECK(v && sorted);
	if (!v || !sorted) {
		free(v);
		free(sorted);
		return;
	}
	for (size_t i = 0; i < N; i++) /* 14-digit keys, some repeated */
		v[i] = i % 10 == 9 ? v[i / 2] : rnd(&s) % 100000000000000ULL;
	memcpy(sorted, v, N * sizeof *v);
	qsort(sorted, N, sizeof *v, cmp_u64);
	size_t distinct = 0;
	for (size_t i = 0; i < N; i++)
		if (i == 0 || sorted[i] != sorted[i - 1])
			sorted[distinct++] = sorted[i];
	struct imei_u64set set;
	size_t dups;
	CHECK_INT(imei_u64set_build(&set, v, N, &dups), 0);
	CHECK_INT(set.n, distinct);
	CHECK_INT(dups, N - distinct);
	CHECK_INT(imei_u64set_bytes(&set), set_bytes(distinct));
	size_t wrong = 0;
	for (size_t i = 0; i < N; i++)
		wrong += !imei_u64set_has(&set, v[i]);
	for (size_t i = 0; i < 4 * N; i++) {
		uint64_t x = i % 2 ? rnd(&s) % 100000000000000ULL : v[i % N] + 1;
		wrong += imei_u64set_has(&set, x) != (bsearch(&x, sorted, distinct, sizeof x, cmp_u64) != NULL);
	}
	CHECK_INT(wrong, 0);
	imei_u64set_free(&set);
	free(v);
	free(sorted);
}

/* The pair (a, b) with pair hash h: a from b. */
static struct imei_u64pair pair_with_hash(uint64_t h, uint64_t b)
{
	return (struct imei_u64pair){ unmix(h) ^ imei_u64_mix(b + UINT64_C(0x9e3779b97f4a7c15)), b };
}

static void test_pairs(void)
{
	struct imei_u64pairset ps;
	size_t dups;
	CHECK_INT(imei_u64pairset_build(&ps, NULL, 0, &dups), 0);
	CHECK(!imei_u64pairset_has(&ps, 0, 0));
	imei_u64pairset_free(&ps);

	struct imei_u64pair p[] = { { 1, 2 }, { 2, 1 }, { 1, 2 }, { 1, 3 }, { 0, UINT64_MAX } };
	CHECK_INT(imei_u64pairset_build(&ps, p, 5, &dups), 0);
	CHECK_INT(ps.n, 4);
	CHECK_INT(dups, 1);
	CHECK_INT(imei_u64pairset_bytes(&ps), 16 * 4 + 4 * (4 / 4 + 2));
	CHECK(imei_u64pairset_has(&ps, 1, 2));
	CHECK(imei_u64pairset_has(&ps, 2, 1));
	CHECK(imei_u64pairset_has(&ps, 1, 3));
	CHECK(imei_u64pairset_has(&ps, 0, UINT64_MAX));
	CHECK(!imei_u64pairset_has(&ps, 2, 2));
	CHECK(!imei_u64pairset_has(&ps, 3, 1));
	CHECK(!imei_u64pairset_has(&ps, UINT64_MAX, 0));
	imei_u64pairset_free(&ps);

	struct imei_u64pair bad[] = { { 1, 2 }, { UINT64_MAX, 2 } };
	errno = 0;
	CHECK_INT(imei_u64pairset_build(&ps, bad, 2, &dups), -1);
	CHECK_INT(errno, EINVAL);
	CHECK(ps.pairs == NULL && ps.n == 0);

	/* 1000 pairs in one bucket, each twice, and 40 absent pairs of that bucket */
	enum { N = 1000 };
	static struct imei_u64pair v[2 * N];
	uint64_t top = UINT64_C(0x12345678) << 32;
	for (size_t i = 0; i < N; i++)
		v[i] = v[N + i] = pair_with_hash(top | i, 410010000000000ULL + i % 7);
	CHECK_INT(imei_u64pairset_build_seeded(&ps, v, 2 * N, 0, &dups), 0);
	CHECK_INT(ps.n, N);
	CHECK_INT(dups, N);
	size_t wrong = 0;
	for (size_t i = 0; i < N; i++)
		wrong += !imei_u64pairset_has(&ps, v[i].a, v[i].b);
	for (size_t i = 0; i < 40; i++) {
		struct imei_u64pair q = pair_with_hash(top | (N + i), 410010000000000ULL + i % 7);
		wrong += imei_u64pairset_has(&ps, q.a, q.b);
		wrong += imei_u64pairset_has(&ps, v[i].a, v[i].b + 7); /* a member's key, another b */
	}
	CHECK_INT(wrong, 0);
	imei_u64pairset_free(&ps);

	/* random pairs, members and near misses */
	enum { M = 50000 };
	uint64_t s = 5;
	struct imei_u64pair *w = malloc(M * sizeof *w);
	CHECK(w != NULL);
	if (!w)
		return;
	for (size_t i = 0; i < M; i++)
		w[i] = (struct imei_u64pair){ rnd(&s) % 1000, 410000000000000ULL + rnd(&s) % 100000 };
	CHECK_INT(imei_u64pairset_build(&ps, w, M, &dups), 0);
	wrong = 0;
	for (size_t i = 0; i < M; i++) {
		wrong += !imei_u64pairset_has(&ps, w[i].a, w[i].b);
		wrong += imei_u64pairset_has(&ps, w[i].a, w[i].b + 100000); /* outside the generated range */
	}
	CHECK_INT(wrong, 0);
	CHECK_INT(ps.n + dups, M);
	imei_u64pairset_free(&ps);
	free(w);
}

/* How far past their homes the members of s sit, on average (in slots): a lookup reads
 * that far. */
static double mean_distance(const struct imei_u64set *s)
{
	size_t sum = 0, members = 0;
	for (size_t i = 0; i < s->end; i++) {
		size_t home = imei_u64set_home(s->slots[i], s->cap);
		if (home <= i && imei_u64set_has(s, unmix(s->slots[i]) ^ s->seed)) {
			sum += i - home;
			members++;
		}
	}
	return members ? (double)sum / (double)members : 0;
}

/* The seed: values crafted to share one home under seed 0 (a list written to make every
 * lookup scan) pile up under it, and are spread under a set's own random seed; pairs
 * alike. Every value is a member under both. */
static void test_seeds(void)
{
	enum { N = 1000 };
	static uint64_t v[N];
	static struct imei_u64pair pv[N];
	uint64_t top = UINT64_C(0x9abcdef0) << 32;
	for (size_t i = 0; i < N; i++) {
		v[i] = unmix(top | (2 * i + 2));
		pv[i] = pair_with_hash(top | i, 410010000000000ULL + i % 7);
	}
	struct imei_u64set crafted, own, other;
	size_t dups, wrong = 0;
	CHECK_INT(imei_u64set_build_seeded(&crafted, v, N, 0, &dups), 0);
	CHECK_INT(imei_u64set_build(&own, v, N, &dups), 0);
	CHECK_INT(imei_u64set_build(&other, v, N, &dups), 0);
	CHECK(own.seed != other.seed); /* 2^-64 to be alike */
	for (size_t i = 0; i < N; i++)
		wrong += !imei_u64set_has(&crafted, v[i]) + !imei_u64set_has(&own, v[i]) + !imei_u64set_has(&other, v[i]);
	CHECK_INT(wrong, 0);
	CHECK(mean_distance(&crafted) > N / 3); /* one home, a run of N: (N - 1) / 2 on average */
	CHECK(mean_distance(&own) < 16 && mean_distance(&other) < 16); /* about 5 at load 8/9 */
	imei_u64set_free(&crafted);
	imei_u64set_free(&own);
	imei_u64set_free(&other);

	struct imei_u64pairset pcrafted, pown;
	CHECK_INT(imei_u64pairset_build_seeded(&pcrafted, pv, N, 0, &dups), 0);
	CHECK_INT(imei_u64pairset_build(&pown, pv, N, &dups), 0);
	size_t largest[2] = { 0, 0 };
	const struct imei_u64pairset *sets[2] = { &pcrafted, &pown };
	for (size_t k = 0; k < 2; k++)
		for (size_t b = 0; b < sets[k]->nbuckets; b++) {
			size_t size = sets[k]->offsets[b + 1] - sets[k]->offsets[b];
			if (size > largest[k])
				largest[k] = size;
		}
	CHECK_INT(largest[0], N);
	CHECK(largest[1] < 32);
	for (size_t i = 0; i < N; i++)
		wrong += !imei_u64pairset_has(&pown, pv[i].a, pv[i].b);
	CHECK_INT(wrong, 0);
	imei_u64pairset_free(&pcrafted);
	imei_u64pairset_free(&pown);
}

int main(void)
{
	test_unmix();
	test_small();
	test_buckets();
	test_random();
	test_pairs();
	test_seeds();
	return CHECK_DONE("test_u64set");
}
