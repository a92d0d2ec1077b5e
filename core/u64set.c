/*
 * u64set.c — build frozen open-addressing hash sets of 64-bit values and of pairs
 * (see imei_u64set.h). Built in two steps when the input repeats values: insert into
 * 2·n slots counting the repeats, then, if any, move the distinct values into 2·distinct
 * slots so the load factor is exactly 0.5 whatever the input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "imei_u64set.h"

static size_t slots_for(size_t n)
{
	return n < 1 ? 2 : 2 * n;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* Table memory, filled with 0xff bytes (every slot IMEI_U64SET_EMPTY). Tables of 2 MiB
 * and more are aligned to 2 MiB and offered transparent huge pages: a random probe then
 * costs a cache miss, not also a TLB miss (measured in bench/lists_bench.c). */
static void *new_table(size_t bytes)
{
	void *p;
	if (bytes < HUGE_PAGE) {
		p = malloc(bytes);
	} else {
		size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
		p = aligned_alloc(HUGE_PAGE, rounded);
#ifdef MADV_HUGEPAGE
		if (p)
			madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
	}
	if (p)
		memset(p, 0xff, bytes);
	return p;
}

static uint64_t *new_slots(size_t cap)
{
	return new_table(cap * sizeof(uint64_t)); /* cap <= 2^32: no overflow */
}

/* Insert x; true if it was new. */
static bool put(uint64_t *slots, size_t cap, uint64_t x)
{
	size_t i = imei_u64set_home(imei_u64_mix(x), cap);
	for (;;) {
		if (slots[i] == x)
			return false;
		if (slots[i] == IMEI_U64SET_EMPTY) {
			slots[i] = x;
			return true;
		}
		if (++i == cap)
			i = 0;
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
	size_t cap = slots_for(n), distinct = 0;
	uint64_t *slots = new_slots(cap);
	if (!slots) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		distinct += put(slots, cap, v[i]);
	if (distinct < n) {
		size_t cap2 = slots_for(distinct);
		uint64_t *slots2 = new_slots(cap2);
		if (!slots2) {
			free(slots);
			errno = ENOMEM;
			return -1;
		}
		for (size_t i = 0; i < cap; i++)
			if (slots[i] != IMEI_U64SET_EMPTY)
				put(slots2, cap2, slots[i]);
		free(slots);
		slots = slots2;
		cap = cap2;
	}
	set->slots = slots;
	set->cap = cap;
	set->n = distinct;
	*dups = n - distinct;
	return 0;
}

void imei_u64set_free(struct imei_u64set *set)
{
	free(set->slots);
	memset(set, 0, sizeof *set);
}

static struct imei_u64pair *new_pair_slots(size_t cap)
{
	return new_table(cap * sizeof(struct imei_u64pair));
}

static bool put_pair(struct imei_u64pair *slots, size_t cap, struct imei_u64pair x)
{
	size_t i = imei_u64set_home(imei_u64pair_hash(x.a, x.b), cap);
	for (;;) {
		if (slots[i].a == x.a && slots[i].b == x.b)
			return false;
		if (slots[i].a == IMEI_U64SET_EMPTY) {
			slots[i] = x;
			return true;
		}
		if (++i == cap)
			i = 0;
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
	size_t cap = slots_for(n), distinct = 0;
	struct imei_u64pair *slots = new_pair_slots(cap);
	if (!slots) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		distinct += put_pair(slots, cap, v[i]);
	if (distinct < n) {
		size_t cap2 = slots_for(distinct);
		struct imei_u64pair *slots2 = new_pair_slots(cap2);
		if (!slots2) {
			free(slots);
			errno = ENOMEM;
			return -1;
		}
		for (size_t i = 0; i < cap; i++)
			if (slots[i].a != IMEI_U64SET_EMPTY)
				put_pair(slots2, cap2, slots[i]);
		free(slots);
		slots = slots2;
		cap = cap2;
	}
	set->slots = slots;
	set->cap = cap;
	set->n = distinct;
	*dups = n - distinct;
	return 0;
}

void imei_u64pairset_free(struct imei_u64pairset *set)
{
	free(set->slots);
	memset(set, 0, sizeof *set);
}
