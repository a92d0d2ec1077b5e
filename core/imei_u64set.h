/*
 * imei_u64set.h — frozen hash sets of 64-bit values, and of pairs of them.
 *
 * Open addressing with linear probing, built once from a vector of values and never
 * changed afterwards, so any number of threads may look up at once. The table has
 * exactly 2·n slots (n = distinct values; load factor 0.5, at least 2 slots), indexed by
 * multiply-shift range reduction of a mixed hash, so a set of n values takes 16·n bytes
 * (pairs: 32·n). UINT64_MAX marks an empty slot and is never a member.
 * Lookups are static inline: they are the hot path of every list membership test.
 */
#ifndef IMEI_U64SET_H
#define IMEI_U64SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMEI_U64SET_EMPTY UINT64_MAX
#define IMEI_U64SET_MAX ((size_t)1 << 31) /* distinct values at most (2^32 slots) */

struct imei_u64pair {
	uint64_t a, b;
};

struct imei_u64set {
	uint64_t *slots;
	size_t cap; /* slots; <= 2^32 */
	size_t n;   /* members */
};

struct imei_u64pairset {
	struct imei_u64pair *slots; /* a == IMEI_U64SET_EMPTY: empty */
	size_t cap;
	size_t n;
};

/* Build from v[0..n) (duplicates allowed; none may be IMEI_U64SET_EMPTY). *dups receives
 * how many values repeated an earlier one. Returns 0, or -1 (errno ENOMEM, or E2BIG for
 * more than IMEI_U64SET_MAX values). The set owns its memory; free with _free. */
int imei_u64set_build(struct imei_u64set *set, const uint64_t *v, size_t n, size_t *dups);
void imei_u64set_free(struct imei_u64set *set);
int imei_u64pairset_build(struct imei_u64pairset *set, const struct imei_u64pair *v, size_t n, size_t *dups);
void imei_u64pairset_free(struct imei_u64pairset *set);

/* A 64-bit mixer (the murmur3 finaliser): every input bit moves every output bit. */
static inline uint64_t imei_u64_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

static inline uint64_t imei_u64pair_hash(uint64_t a, uint64_t b)
{
	return imei_u64_mix(a ^ imei_u64_mix(b + UINT64_C(0x9e3779b97f4a7c15)));
}

/* The home slot of hash h in a table of cap <= 2^32 slots (Lemire's range reduction). */
static inline size_t imei_u64set_home(uint64_t h, size_t cap)
{
	return (size_t)(((h >> 32) * (uint64_t)cap) >> 32);
}

static inline bool imei_u64set_has(const struct imei_u64set *set, uint64_t x)
{
	if (x == IMEI_U64SET_EMPTY || set->n == 0)
		return false;
	const uint64_t *slots = set->slots;
	size_t cap = set->cap, i = imei_u64set_home(imei_u64_mix(x), cap);
	for (;;) { /* ends: at least half the slots are empty */
		uint64_t v = slots[i];
		if (v == x)
			return true;
		if (v == IMEI_U64SET_EMPTY)
			return false;
		if (++i == cap)
			i = 0;
	}
}

static inline bool imei_u64pairset_has(const struct imei_u64pairset *set, uint64_t a, uint64_t b)
{
	if (a == IMEI_U64SET_EMPTY || set->n == 0)
		return false;
	const struct imei_u64pair *slots = set->slots;
	size_t cap = set->cap, i = imei_u64set_home(imei_u64pair_hash(a, b), cap);
	for (;;) {
		const struct imei_u64pair *s = &slots[i];
		if (s->a == a && s->b == b)
			return true;
		if (s->a == IMEI_U64SET_EMPTY)
			return false;
		if (++i == cap)
			i = 0;
	}
}

#endif
