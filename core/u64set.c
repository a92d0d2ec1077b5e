/*
 * u64set.c — build frozen open-addressing hash sets of 64-bit values and of pairs
 * (see imei_u64set.h). Built in two steps when the input repeats values: insert into
 * 2·n slots counting the repeats, then, if any, move the distinct values into 2·distinct
 * slots so the load factor is exactly 0.5 whatever the input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imei_u64set.h"

static size_t slots_for(size_t n)
{
	return n < 1 ? 2 : 2 * n;
}

static uint64_t *new_slots(size_t cap)
{
	uint64_t *s = malloc(cap * sizeof *s); /* cap <= 2^32: no overflow */
	if (s)
		memset(s, 0xff, cap * sizeof *s); /* all IMEI_U64SET_EMPTY */
	return s;
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
	struct imei_u64pair *s = malloc(cap * sizeof *s);
	if (s)
		memset(s, 0xff, cap * sizeof *s);
	return s;
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
