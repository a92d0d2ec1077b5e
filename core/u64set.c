/*
 * u64set.c — build the compact frozen sets of 64-bit values and of pairs (see
 * imei_u64set.h). A counting sort by bucket (two passes over the input: count, then
 * place), a sort of each small bucket, the repeats dropped; then, for values, the
 * sorted hashes placed in their slots, in place; for pairs, the bucket offsets.
 * Linear in the input; besides the input, the set and a small count per bucket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#include "imei_u64set.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define SMALL_BUCKET 32 /* sorted by insertion up to this size, by qsort(3) above */

/* About 4 values a bucket: 1 byte of offsets a value. */
static size_t buckets_for(size_t n)
{
	return n / 4 + 1;
}

/* Table memory. Tables of 2 MiB and more are aligned to 2 MiB and their whole 2 MiB
 * pages offered transparent huge pages: a random probe then costs a cache miss, not
 * also a TLB miss (bench/lists_bench.c); the tail stays in small pages (no rounding up). */
static void *new_table(size_t bytes)
{
	if (bytes < HUGE_PAGE)
		return malloc(bytes ? bytes : 1);
	void *p;
	if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, bytes / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
	return p;
}

/* A set's seed: from the kernel's random source; should that fail (no getrandom(2), or
 * its pool not ready this early), from the clock and the set's address, which still
 * differ from run to run. */
static uint64_t fresh_seed(const void *set)
{
	uint64_t seed;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == (ssize_t)sizeof seed)
		return seed;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return imei_u64_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)set);
}

static int fail(int err, void *a, void *b)
{
	free(a);
	free(b);
	errno = err;
	return -1;
}

/* ---- sets of values ------------------------------------------------------------------ */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static void sort_u64(uint64_t *v, size_t n)
{
	if (n > SMALL_BUCKET) {
		qsort(v, n, sizeof *v, cmp_u64);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		uint64_t x = v[i];
		size_t j = i;
		for (; j > 0 && v[j - 1] > x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* The home slots for n values: load 8/9. */
static size_t cap_for(size_t n)
{
	return n + n / 8 + 1;
}

/* Slots past the home slots for the members the last homes push out: a few on random
 * hashes; more (a larger table) only when the hashes crowd there. */
static size_t slack_for(size_t n)
{
	return 16 + n / 256;
}

/* What a free slot i holds: the smallest hash whose home is after i (UINT64_MAX when
 * none is), so the table stays sorted and a free slot stops a lookup from before it. */
static uint64_t gap_value(size_t i, size_t cap)
{
	uint64_t m = (uint64_t)i + 1;
	if (m >= cap)
		return UINT64_MAX;
	uint64_t top = ((m << 32) + cap - 1) / cap; /* the least t with (t·cap) >> 32 >= m */
	return top >> 32 ? UINT64_MAX : top << 32;
}

/* Where the members end: each goes to the first slot at or after its home that is
 * free (they come in increasing order, so after the one before). */
static size_t members_end(const uint64_t *h, size_t d, size_t cap)
{
	size_t pos = 0;
	for (size_t j = 0; j < d; j++) {
		size_t home = imei_u64set_home(h[j], cap);
		pos = (home > pos ? home : pos) + 1;
	}
	return pos;
}

/* The table from the sorted distinct hashes in its top d slots, in place: member j goes
 * to slot pos(j) <= j + (end - d) < len - d + j, so the writes stay below the hashes
 * still to be read. */
static void place(uint64_t *t, size_t len, size_t d, size_t cap)
{
	const uint64_t *h = t + (len - d);
	size_t pos = 0;
	for (size_t j = 0; j < d; j++) {
		uint64_t v = h[j];
		for (size_t home = imei_u64set_home(v, cap); pos < home; pos++)
			t[pos] = gap_value(pos, cap);
		t[pos++] = v;
	}
	for (; pos < len; pos++) /* from cap - 1 on: UINT64_MAX, the padding among them */
		t[pos] = gap_value(pos, cap);
}

int imei_u64set_build(struct imei_u64set *set, const uint64_t *v, size_t n, size_t *dups)
{
	return imei_u64set_build_seeded(set, v, n, fresh_seed(set), dups);
}

int imei_u64set_build_seeded(struct imei_u64set *set, const uint64_t *v, size_t n, uint64_t seed, size_t *dups)
{
	memset(set, 0, sizeof *set);
	*dups = 0;
	if (n > IMEI_U64SET_MAX) {
		errno = E2BIG;
		return -1;
	}
	/* the hashes sorted into the top of the table: a counting sort by bucket of about
	 * 4, then each bucket sorted */
	size_t len = cap_for(n) + slack_for(n) + IMEI_U64SET_PAD, nb = n / 4 + 1; /* n <= 2^31: no overflow */
	uint32_t *start = calloc(nb + 1, sizeof *start);
	uint64_t *t = new_table(len * sizeof *t);
	if (!start || !t)
		return fail(ENOMEM, start, t);
	uint64_t *h = t + (len - n);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == IMEI_U64SET_EMPTY)
			return fail(EINVAL, start, t);
		start[imei_u64set_home(imei_u64set_hash(v[i], seed), nb) + 1]++;
	}
	for (size_t b = 1; b <= nb; b++) /* start[b]: where bucket b begins */
		start[b] += start[b - 1];
	for (size_t i = 0; i < n; i++) { /* afterwards start[b]: where bucket b ends */
		uint64_t x = imei_u64set_hash(v[i], seed);
		h[start[imei_u64set_home(x, nb)]++] = x;
	}
	for (size_t b = 0, from = 0; b < nb; from = start[b++])
		sort_u64(h + from, start[b] - from);
	free(start);
	size_t d = 0; /* sorted: repeats are neighbours */
	for (size_t i = 0; i < n; i++)
		if (d == 0 || h[i] != h[d - 1])
			h[d++] = h[i];
	size_t cap = cap_for(d), end = members_end(h, d, cap);
	size_t want = (end > cap + slack_for(d) ? end : cap + slack_for(d)) + IMEI_U64SET_PAD;
	if (want != len) { /* repeats, or members pushed far past the homes: a table of its size */
		uint64_t *t2 = new_table(want * sizeof *t2);
		if (!t2)
			return fail(ENOMEM, t, NULL);
		memcpy(t2 + (want - d), h, d * sizeof *h);
		free(t);
		t = t2;
		len = want;
	} else {
		memmove(t + (len - d), h, d * sizeof *h);
	}
	place(t, len, d, cap);
	set->slots = t;
	set->cap = cap;
	set->end = end;
	set->len = len;
	set->n = d;
	set->seed = seed;
	*dups = n - d;
	return 0;
}

void imei_u64set_free(struct imei_u64set *set)
{
	free(set->slots);
	memset(set, 0, sizeof *set);
}

size_t imei_u64set_bytes(const struct imei_u64set *set)
{
	return set->len * sizeof *set->slots;
}

/* ---- sets of pairs --------------------------------------------------------------------- */

static int cmp_pair(const void *x, const void *y)
{
	const struct imei_u64pair *p = x, *q = y;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return p->b < q->b ? -1 : p->b > q->b;
}

static void sort_pairs(struct imei_u64pair *v, size_t n)
{
	if (n > SMALL_BUCKET) {
		qsort(v, n, sizeof *v, cmp_pair);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct imei_u64pair x = v[i];
		size_t j = i;
		for (; j > 0 && cmp_pair(&v[j - 1], &x) > 0; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

int imei_u64pairset_build(struct imei_u64pairset *set, const struct imei_u64pair *v, size_t n, size_t *dups)
{
	return imei_u64pairset_build_seeded(set, v, n, fresh_seed(set), dups);
}

int imei_u64pairset_build_seeded(struct imei_u64pairset *set, const struct imei_u64pair *v, size_t n, uint64_t seed,
                                 size_t *dups)
{
	memset(set, 0, sizeof *set);
	*dups = 0;
	if (n > IMEI_U64SET_MAX) {
		errno = E2BIG;
		return -1;
	}
	size_t nb = buckets_for(n);
	uint32_t *start = calloc(nb + 1, sizeof *start);
	struct imei_u64pair *p = new_table(n * sizeof *p);
	if (!start || !p)
		return fail(ENOMEM, start, p);
	for (size_t i = 0; i < n; i++) {
		if (v[i].a == IMEI_U64SET_EMPTY)
			return fail(EINVAL, start, p);
		start[imei_u64set_home(imei_u64pair_hash(v[i].a, v[i].b, seed), nb) + 1]++;
	}
	for (size_t b = 1; b <= nb; b++)
		start[b] += start[b - 1];
	for (size_t i = 0; i < n; i++)
		p[start[imei_u64set_home(imei_u64pair_hash(v[i].a, v[i].b, seed), nb)]++] = v[i];
	memmove(start + 1, start, nb * sizeof *start); /* back to where each bucket begins */
	start[0] = 0;
	size_t d = 0; /* sorted within their bucket, repeats are neighbours; kept in order */
	for (size_t b = 0; b < nb; b++) {
		size_t from = start[b], to = start[b + 1];
		sort_pairs(p + from, to - from);
		for (size_t i = from; i < to; i++)
			if (i == from || p[i].a != p[d - 1].a || p[i].b != p[d - 1].b)
				p[d++] = p[i];
	}
	if (d < n) { /* build again from the distinct pairs, sized for them */
		free(start);
		int rc = imei_u64pairset_build_seeded(set, p, d, seed, dups);
		int err = errno;
		free(p);
		errno = err;
		if (rc == 0)
			*dups = n - d;
		return rc;
	}
	set->pairs = p;
	set->offsets = start;
	set->nbuckets = nb;
	set->n = n;
	set->seed = seed;
	return 0;
}

void imei_u64pairset_free(struct imei_u64pairset *set)
{
	free(set->pairs);
	free(set->offsets);
	memset(set, 0, sizeof *set);
}

size_t imei_u64pairset_bytes(const struct imei_u64pairset *set)
{
	return set->pairs ? set->n * sizeof *set->pairs + (set->nbuckets + 1) * sizeof *set->offsets : 0;
}
