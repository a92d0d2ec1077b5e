/*
 * u64set.c — build the compact frozen sets of 64-bit values and of pairs (see
 * imei_u64set.h). A counting sort by bucket (two passes over the input: count, then
 * place), a sort of each small bucket, the repeats dropped; then the bucket offsets.
 * Linear in the input, and the only memory besides the set itself is the input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

int imei_u64set_build(struct imei_u64set *set, const uint64_t *v, size_t n, size_t *dups)
{
	memset(set, 0, sizeof *set);
	*dups = 0;
	if (n > IMEI_U64SET_MAX) {
		errno = E2BIG;
		return -1;
	}
	size_t nb = buckets_for(n);
	uint32_t *start = calloc(nb + 1, sizeof *start); /* n <= 2^31: no overflow below */
	uint64_t *h = new_table((n + IMEI_U64SET_PAD) * sizeof *h);
	if (!start || !h)
		return fail(ENOMEM, start, h);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == IMEI_U64SET_EMPTY)
			return fail(EINVAL, start, h);
		start[imei_u64set_home(imei_u64_mix(v[i]), nb) + 1]++;
	}
	for (size_t b = 1; b <= nb; b++) /* start[b]: where bucket b begins */
		start[b] += start[b - 1];
	for (size_t i = 0; i < n; i++) { /* afterwards start[b]: where bucket b ends */
		uint64_t x = imei_u64_mix(v[i]);
		h[start[imei_u64set_home(x, nb)]++] = x;
	}
	for (size_t b = 0, from = 0; b < nb; from = start[b++])
		sort_u64(h + from, start[b] - from);
	size_t d = 0; /* the hashes are sorted: repeats are neighbours */
	for (size_t i = 0; i < n; i++)
		if (d == 0 || h[i] != h[d - 1])
			h[d++] = h[i];
	if (d < n) { /* the set is sized for its distinct values */
		uint64_t *h2 = new_table((d + IMEI_U64SET_PAD) * sizeof *h2);
		if (!h2)
			return fail(ENOMEM, start, h);
		memcpy(h2, h, d * sizeof *h);
		free(h);
		h = h2;
		nb = buckets_for(d);
	}
	for (size_t i = 0; i < IMEI_U64SET_PAD; i++) /* the sentinels */
		h[d + i] = UINT64_MAX;
	for (size_t b = 0, j = 0; b < nb; b++) { /* offsets[b]: the first hash of bucket >= b */
		while (j < d && imei_u64set_home(h[j], nb) < b)
			j++;
		start[b] = (uint32_t)j;
	}
	uint32_t *off = realloc(start, nb * sizeof *off); /* smaller after repeats */
	set->hashes = h;
	set->offsets = off ? off : start;
	set->nbuckets = nb;
	set->n = d;
	*dups = n - d;
	return 0;
}

void imei_u64set_free(struct imei_u64set *set)
{
	free(set->hashes);
	free(set->offsets);
	memset(set, 0, sizeof *set);
}

size_t imei_u64set_bytes(const struct imei_u64set *set)
{
	return set->hashes ? (set->n + IMEI_U64SET_PAD) * sizeof *set->hashes + set->nbuckets * sizeof *set->offsets : 0;
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
		start[imei_u64set_home(imei_u64pair_hash(v[i].a, v[i].b), nb) + 1]++;
	}
	for (size_t b = 1; b <= nb; b++)
		start[b] += start[b - 1];
	for (size_t i = 0; i < n; i++)
		p[start[imei_u64set_home(imei_u64pair_hash(v[i].a, v[i].b), nb)]++] = v[i];
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
		int rc = imei_u64pairset_build(set, p, d, dups);
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
