/*
 * imei_u64set.h — frozen sets of 64-bit values, and of pairs of them, compact.
 *
 * Built once from a vector of values and never changed afterwards, so any number of
 * threads may look up at once.
 * A set of values keeps each value x as its mixed hash h = mix(x ^ seed) (mix is a
 * bijection of 64-bit words, so h stands for x exactly), in ordered linear probing: the hashes in
 * increasing order, each in the first free slot at or after its home slot (a range
 * reduction of h's top 32 bits over cap = n + n/8 + 1 slots: load 8/9), and every slot
 * left free holding the smallest hash whose home lies after it, so the whole table is
 * sorted. A lookup reads from h's home slot on: h is there or a few slots later, before
 * the first larger value. One random read (usually one or two adjacent cache lines),
 * counted without a branch among 8 slots; about 9 bytes a value.
 * A set of pairs keeps the pairs themselves, grouped by bucket of the pair's hash (about
 * 4 a bucket), with the offset of every bucket and the next: 16·n + 4·(n/4 + 2) bytes
 * (about 17 a pair).
 * UINT64_MAX is never a member (a value, or a pair's first value).
 * Each set draws its own random seed when built (getrandom(2)): values crafted to share
 * a home under one seed (a list written to make lookups scan far) are spread under
 * another. Nothing a set answers depends on its seed, only where values sit.
 * Lookups are static inline: they are the hot path of every list membership test.
 */
#ifndef IMEI_U64SET_H
#define IMEI_U64SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMEI_U64SET_EMPTY UINT64_MAX
#define IMEI_U64SET_MAX ((size_t)1 << 31) /* values at most (offsets are 32 bits) */
#define IMEI_U64SET_PAD 8                 /* UINT64_MAX slots after the table: a lookup reads 8 at once */

struct imei_u64pair {
	uint64_t a, b;
};

struct imei_u64set {
	uint64_t *slots; /* len: sorted, the members' hashes in [0, end), then IMEI_U64SET_PAD x UINT64_MAX */
	size_t cap;      /* home slots (<= 2^32) */
	size_t end;      /* no member at or after end */
	size_t len;
	size_t n; /* members */
	uint64_t seed;
};

struct imei_u64pairset {
	struct imei_u64pair *pairs; /* n, grouped by bucket in bucket order */
	uint32_t *offsets;          /* nbuckets + 1: bucket b is pairs[offsets[b] .. offsets[b + 1]) */
	size_t nbuckets;
	size_t n;
	uint64_t seed;
};

/* Build from v[0..n) (duplicates allowed; none may be IMEI_U64SET_EMPTY), with a seed of
 * its own. *dups receives how many values repeated an earlier one. Returns 0, or -1
 * (errno ENOMEM, E2BIG for more than IMEI_U64SET_MAX values, EINVAL for a value
 * IMEI_U64SET_EMPTY). The set owns its memory; free with _free. */
int imei_u64set_build(struct imei_u64set *set, const uint64_t *v, size_t n, size_t *dups);
/* The same with the seed given (the tests place values by their hashes under seed 0). */
int imei_u64set_build_seeded(struct imei_u64set *set, const uint64_t *v, size_t n, uint64_t seed, size_t *dups);
void imei_u64set_free(struct imei_u64set *set);
/* The bytes the set holds. */
size_t imei_u64set_bytes(const struct imei_u64set *set);
int imei_u64pairset_build(struct imei_u64pairset *set, const struct imei_u64pair *v, size_t n, size_t *dups);
int imei_u64pairset_build_seeded(struct imei_u64pairset *set, const struct imei_u64pair *v, size_t n, uint64_t seed,
                                 size_t *dups);
void imei_u64pairset_free(struct imei_u64pairset *set);
size_t imei_u64pairset_bytes(const struct imei_u64pairset *set);

/* A 64-bit mixer (the murmur3 finaliser): every input bit moves every output bit, and
 * every step (xor-shift by 33, multiply by an odd constant) is invertible. */
static inline uint64_t imei_u64_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= UINT64_C(0xff51afd7ed558ccd);
	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	x ^= x >> 33;
	return x;
}

/* A value's hash in a set of that seed. */
static inline uint64_t imei_u64set_hash(uint64_t x, uint64_t seed)
{
	return imei_u64_mix(x ^ seed);
}

/* A pair's hash in a set of that seed: pairs alike in a ^ f(b) for one seed are not for
 * another (the seed goes in with b, through the mixer). */
static inline uint64_t imei_u64pair_hash(uint64_t a, uint64_t b, uint64_t seed)
{
	return imei_u64_mix(a ^ imei_u64_mix((b ^ seed) + UINT64_C(0x9e3779b97f4a7c15)));
}

/* The bucket of hash h among nb <= 2^32 buckets (Lemire's range reduction of the top 32
 * bits): monotone in h, so hashes sorted are buckets in order. */
static inline size_t imei_u64set_home(uint64_t h, size_t nb)
{
	return (size_t)(((h >> 32) * (uint64_t)nb) >> 32);
}

static inline bool imei_u64set_has(const struct imei_u64set *set, uint64_t x)
{
	if (x == IMEI_U64SET_EMPTY || set->n == 0)
		return false;
	uint64_t h = imei_u64set_hash(x, set->seed);
	size_t i = imei_u64set_home(h, set->cap);
	const uint64_t *p = set->slots + i;
	/* how many of the 8 slots from home are below h, without a branch (the table is
	 * sorted, so they come first; the padding keeps the reads inside): h's place */
	size_t k = (size_t)(p[0] < h) + (p[1] < h) + (p[2] < h) + (p[3] < h) + (p[4] < h) + (p[5] < h) + (p[6] < h) +
	           (p[7] < h);
	if (k == IMEI_U64SET_PAD)
		while (p[k] < h) /* ends: the padding is not below any hash */
			k++;
	/* a free slot at or after h's home holds a hash larger than h; past end, the
	 * padding (UINT64_MAX, a hash a member may have) is no member */
	return (p[k] == h) & (i + k < set->end);
}

/* Start fetching the slots a lookup of x would read, ahead of it: a hint, which changes
 * no answer (a batch that knows its next keys hides the lookups' cache misses). */
static inline void imei_u64set_prefetch(const struct imei_u64set *set, uint64_t x)
{
	if (set->n)
		__builtin_prefetch(set->slots + imei_u64set_home(imei_u64set_hash(x, set->seed), set->cap));
}

static inline bool imei_u64pairset_has(const struct imei_u64pairset *set, uint64_t a, uint64_t b)
{
	if (a == IMEI_U64SET_EMPTY || set->n == 0)
		return false;
	size_t bucket = imei_u64set_home(imei_u64pair_hash(a, b, set->seed), set->nbuckets);
	const struct imei_u64pair *p = set->pairs + set->offsets[bucket], *end = set->pairs + set->offsets[bucket + 1];
	for (; p != end; p++)
		if (p->a == a && p->b == b)
			return true;
	return false;
}

#endif
