/*
 * u64set_open.h — the peer of the compact sets in bench/lists_bench.c: the frozen
 * open-addressing sets the lists used before (linear probing, 2 slots per value, load
 * 0.5, tables of 2 MiB and more in 2 MiB huge pages; 16 bytes a value, 32 a pair), kept
 * here only to be measured beside core/u64set.c in the same run.
 */
#ifndef BENCH_U64SET_OPEN_H
#define BENCH_U64SET_OPEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "imei_u64set.h"

struct open_set {
	uint64_t *slots; /* UINT64_MAX: empty */
	size_t cap, bytes;
};

struct open_pairset {
	struct imei_u64pair *slots;
	size_t cap, bytes;
};

static void *open_table(size_t bytes, size_t *held)
{
	size_t huge = (size_t)2 << 20, rounded = bytes < huge ? bytes : (bytes + huge - 1) / huge * huge;
	void *p = bytes < huge ? malloc(bytes) : aligned_alloc(huge, rounded);
	if (!p)
		return NULL;
	if (bytes >= huge)
		madvise(p, rounded, MADV_HUGEPAGE);
	memset(p, 0xff, bytes);
	*held = rounded;
	return p;
}

/* v: distinct values, none UINT64_MAX */
static bool open_set_build(struct open_set *s, const uint64_t *v, size_t n)
{
	s->cap = n ? 2 * n : 2;
	if (!(s->slots = open_table(s->cap * sizeof *s->slots, &s->bytes)))
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t j = imei_u64set_home(imei_u64_mix(v[i]), s->cap);
		while (s->slots[j] != UINT64_MAX)
			j = j + 1 == s->cap ? 0 : j + 1;
		s->slots[j] = v[i];
	}
	return true;
}

static inline bool open_set_has(const struct open_set *s, uint64_t x)
{
	if (x == UINT64_MAX)
		return false;
	for (size_t i = imei_u64set_home(imei_u64_mix(x), s->cap);;) {
		uint64_t v = s->slots[i];
		if (v == x)
			return true;
		if (v == UINT64_MAX)
			return false;
		if (++i == s->cap)
			i = 0;
	}
}

/* v: distinct pairs */
static bool open_pairset_build(struct open_pairset *s, const struct imei_u64pair *v, size_t n)
{
	s->cap = n ? 2 * n : 2;
	if (!(s->slots = open_table(s->cap * sizeof *s->slots, &s->bytes)))
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t j = imei_u64set_home(imei_u64pair_hash(v[i].a, v[i].b, 0), s->cap);
		while (s->slots[j].a != UINT64_MAX)
			j = j + 1 == s->cap ? 0 : j + 1;
		s->slots[j] = v[i];
	}
	return true;
}

static inline bool open_pairset_has(const struct open_pairset *s, uint64_t a, uint64_t b)
{
	if (a == UINT64_MAX)
		return false;
	for (size_t i = imei_u64set_home(imei_u64pair_hash(a, b, 0), s->cap);;) {
		const struct imei_u64pair *p = &s->slots[i];
		if (p->a == a && p->b == b)
			return true;
		if (p->a == UINT64_MAX)
			return false;
		if (++i == s->cap)
			i = 0;
	}
}

#endif
