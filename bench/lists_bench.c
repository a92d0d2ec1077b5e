/*
 * lists_bench.c — membership lists (lists_file.c, u64set.c) against the obvious peer, a sorted
 * array of the same 64-bit keys searched with bsearch(3) (and with an inlined binary
 * search, the peer at its best), in the same run, on the same random queries (half
 * members, half not, in random order):
 *   - from a 14-digit key string (imei_list_has_key vs digits -> number -> search),
 *   - from a 15-digit IMEI in any form (imei_list_has, which parses),
 *   - the bare number (imei_u64set_has vs the searches),
 *   - key + IMSI pairs (imei_list_has_pair vs a sorted array of 16-byte pairs).
 * Also the load rate (CSV rows/s into a frozen list) and bytes per entry.
 * Then the compact sets (core/u64set.c) beside the open-addressing sets they replaced
 * (bench/u64set_open.h), 400 k and 4 M values, 118 k and 1 M pairs: hits and misses
 * apart, each as independent lookups (throughput) and as a chain where each lookup
 * waits for the last one's answer (latency, as the decide path uses them).
 * Best of 5 runs per figure; prints, asserts nothing.
 *
 *   bench/lists_bench [MAX_ENTRIES]      (default 4000000; sizes 10k, 1M and MAX)
 *   bench/lists_bench sets               (the compact sets beside the old ones only)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imei_lists.h"
#include "imei_u64set.h"
#include "u64set_open.h"

#define RUNS 5
#define QUERIES 2000000

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

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_pair(const void *a, const void *b)
{
	const struct imei_u64pair *x = a, *y = b;
	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	return x->b < y->b ? -1 : x->b > y->b;
}

/* the peer at its best: a branch-light lower bound, inlined */
static inline bool in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
	const uint64_t *base = v;
	while (n > 1) {
		size_t half = n / 2;
		base = base[half - 1] < x ? base + half : base;
		n -= half;
	}
	return n == 1 && *base == x;
}

static uint64_t digits(const char *s, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9)
			return UINT64_MAX;
		v = v * 10 + d;
	}
	return v;
}

static char luhn(const char *body)
{
	int sum = 0;
	for (int i = 0; i < 14; i++) {
		int d = body[13 - i] - '0';
		if (i % 2 == 0) {
			d *= 2;
			d = d / 10 + d % 10;
		}
		sum += d;
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fprintf(stderr, "lists_bench: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* Everything one size needs; the cases below read it. */
struct ctx {
	const struct imei_list *l, *pl;
	const struct imei_u64set *bare;
	const uint64_t *keys;
	size_t n;
	const struct imei_u64pair *pairs;
	size_t npairs;
	char (*q14)[16], (*q15)[16], (*qk)[16], (*qi)[16];
	const uint64_t *qn;
};

enum {
	C_LIST_KEY14, C_PEER_BSEARCH_KEY14, C_PEER_INLINE_KEY14, C_LIST_IMEI15, C_SET_NUMBER,
	C_PEER_BSEARCH_NUMBER, C_PEER_INLINE_NUMBER, C_LIST_PAIR, C_PEER_BSEARCH_PAIR, NCASES
};

static const char *const case_name[NCASES] = {
	"list_has_key(key14)", "peer: digits + bsearch(3)", "peer: digits + inline binary search",
	"list_has(15-digit IMEI, any form, parsed)", "u64set_has(number)", "peer: bsearch(3)(number)",
	"peer: inline binary search(number)", "list_has_pair(key14, imsi)", "peer: digits + bsearch(3) on pairs",
};

/* One pass of QUERIES queries of one case; returns the hits. */
static size_t run_case(int c, const struct ctx *x)
{
	size_t hits = 0;
	switch (c) {
	case C_LIST_KEY14:
		for (size_t q = 0; q < QUERIES; q++)
			hits += imei_list_has_key(x->l, x->q14[q]);
		break;
	case C_PEER_BSEARCH_KEY14:
		for (size_t q = 0; q < QUERIES; q++) {
			uint64_t k = digits(x->q14[q], 14);
			hits += bsearch(&k, x->keys, x->n, sizeof *x->keys, cmp_u64) != NULL;
		}
		break;
	case C_PEER_INLINE_KEY14:
		for (size_t q = 0; q < QUERIES; q++)
			hits += in_sorted(x->keys, x->n, digits(x->q14[q], 14));
		break;
	case C_LIST_IMEI15:
		for (size_t q = 0; q < QUERIES; q++)
			hits += imei_list_has(x->l, x->q15[q], 15, NULL, 0);
		break;
	case C_SET_NUMBER:
		for (size_t q = 0; q < QUERIES; q++)
			hits += imei_u64set_has(x->bare, x->qn[q]);
		break;
	case C_PEER_BSEARCH_NUMBER:
		for (size_t q = 0; q < QUERIES; q++)
			hits += bsearch(&x->qn[q], x->keys, x->n, sizeof *x->keys, cmp_u64) != NULL;
		break;
	case C_PEER_INLINE_NUMBER:
		for (size_t q = 0; q < QUERIES; q++)
			hits += in_sorted(x->keys, x->n, x->qn[q]);
		break;
	case C_LIST_PAIR:
		for (size_t q = 0; q < QUERIES; q++)
			hits += imei_list_has_pair(x->pl, x->qk[q], x->qi[q], 15);
		break;
	case C_PEER_BSEARCH_PAIR:
		for (size_t q = 0; q < QUERIES; q++) {
			struct imei_u64pair p = { digits(x->qk[q], 14), 15 * 1000000000000000ULL + digits(x->qi[q], 15) };
			hits += bsearch(&p, x->pairs, x->npairs, sizeof *x->pairs, cmp_pair) != NULL;
		}
		break;
	}
	return hits;
}

/* The cases alternate within each round (so drift and neighbours hit all alike); the
 * best round of each counts. Fills ns[] per query. */
static void measure(const struct ctx *x, const int *cases, int ncases, double *ns)
{
	for (int i = 0; i < ncases; i++)
		ns[i] = 1e30;
	for (int r = 0; r < RUNS; r++) {
		for (int i = 0; i < ncases; i++) {
			double t0 = now();
			size_t hits = run_case(cases[i], x);
			double t = (now() - t0) * 1e9 / QUERIES;
			if (hits != QUERIES / 2) { /* the queries are half members by construction */
				fprintf(stderr, "lists_bench: %s found %zu of %d members\n", case_name[cases[i]], hits,
				        QUERIES / 2);
				exit(1);
			}
			if (t < ns[i])
				ns[i] = t;
		}
	}
	for (int i = 0; i < ncases; i++)
		printf("  %-44s %7.1f ns/op  %6.1f M/s\n", case_name[cases[i]], ns[i], 1e3 / ns[i]);
}

static void bench_keys(size_t n)
{
	uint64_t seed = 0x1234567 + n;
	uint64_t *keys = xmalloc(n * sizeof *keys);
	char *csv = xmalloc(n * 16 + 8);
	struct ctx x = { 0 };
	x.q14 = xmalloc(QUERIES * sizeof *x.q14);
	x.q15 = xmalloc(QUERIES * sizeof *x.q15);
	uint64_t *qn = xmalloc(QUERIES * sizeof *qn);
	size_t len = (size_t)sprintf(csv, "imei\n");
	for (size_t i = 0; i < n; i++) {
		keys[i] = rnd(&seed) % 100000000000000ULL;
		len += (size_t)sprintf(csv + len, "%014llu\n", (unsigned long long)keys[i]);
	}
	char err[256];
	struct imei_list_report rep;
	double t0 = now();
	struct imei_list *l = imei_list_load_buffer(csv, len, "bench", &rep, err, sizeof err);
	double load = now() - t0;
	free(csv);
	if (!l) {
		fprintf(stderr, "lists_bench: %s\n", err);
		exit(1);
	}
	t0 = now();
	qsort(keys, n, sizeof *keys, cmp_u64);
	double sort = now() - t0;
	size_t distinct = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || keys[i] != keys[i - 1])
			keys[distinct++] = keys[i];
	for (size_t q = 0; q < QUERIES; q++) { /* members and non-members alternate */
		uint64_t k;
		if (q % 2) {
			k = keys[rnd(&seed) % distinct];
		} else {
			do
				k = rnd(&seed) % 100000000000000ULL;
			while (in_sorted(keys, distinct, k));
		}
		qn[q] = k;
		snprintf(x.q14[q], sizeof x.q14[q], "%014llu", (unsigned long long)k);
		memcpy(x.q15[q], x.q14[q], 14);
		x.q15[q][14] = luhn(x.q14[q]);
		x.q15[q][15] = 0;
	}
	printf("\n%zu keys (%zu distinct): load %.0f ms (%.2f M rows/s; peer: qsort alone %.0f ms)\n", n, distinct,
	       load * 1e3, (double)n / load / 1e6, sort * 1e3);
	printf("  memory: list %.1f bytes/entry (%zu bytes), sorted array 8.0 bytes/entry\n",
	       (double)imei_list_bytes(l) / (double)imei_list_size(l), imei_list_bytes(l));
	struct imei_u64set bare;
	size_t dups;
	if (imei_u64set_build(&bare, keys, distinct, &dups) != 0)
		exit(1);
	x.l = l;
	x.bare = &bare;
	x.keys = keys;
	x.n = distinct;
	x.qn = qn;
	static const int from_text[] = { C_LIST_KEY14, C_PEER_BSEARCH_KEY14, C_PEER_INLINE_KEY14, C_LIST_IMEI15 };
	static const int from_number[] = { C_SET_NUMBER, C_PEER_BSEARCH_NUMBER, C_PEER_INLINE_NUMBER };
	double ns[4];
	measure(&x, from_text, 4, ns);
	printf("  -> list_has_key: %.1fx bsearch(3), %.1fx inline binary search\n", ns[1] / ns[0], ns[2] / ns[0]);
	measure(&x, from_number, 3, ns);
	printf("  -> u64set_has: %.1fx bsearch(3), %.1fx inline binary search\n", ns[1] / ns[0], ns[2] / ns[0]);
	imei_u64set_free(&bare);
	imei_list_unref(l);
	free(keys);
	free(x.q14);
	free(x.q15);
	free(qn);
}

static void bench_pairs(size_t n)
{
	uint64_t seed = 99 + n;
	struct imei_u64pair *pairs = xmalloc(n * sizeof *pairs);
	char *csv = xmalloc(n * 34 + 32);
	struct ctx x = { 0 };
	x.qk = xmalloc(QUERIES * sizeof *x.qk);
	x.qi = xmalloc(QUERIES * sizeof *x.qi);
	size_t len = (size_t)sprintf(csv, "imei,imsi,msisdn\n");
	for (size_t i = 0; i < n; i++) {
		pairs[i].a = rnd(&seed) % 100000000000000ULL;
		pairs[i].b = 410000000000000ULL + rnd(&seed) % 10000000000ULL;
		len += (size_t)sprintf(csv + len, "%014llu,%015llu,\n", (unsigned long long)pairs[i].a,
		                       (unsigned long long)pairs[i].b);
	}
	char err[256];
	struct imei_list_report rep;
	double t0 = now();
	struct imei_list *l = imei_list_load_buffer(csv, len, "pairs", &rep, err, sizeof err);
	double load = now() - t0;
	free(csv);
	if (!l) {
		fprintf(stderr, "lists_bench: %s\n", err);
		exit(1);
	}
	for (size_t i = 0; i < n; i++) /* the peer codes the IMSI the same way: value + 15·10^15 */
		pairs[i].b += 15 * 1000000000000000ULL;
	qsort(pairs, n, sizeof *pairs, cmp_pair);
	for (size_t q = 0; q < QUERIES; q++) {
		struct imei_u64pair p = pairs[rnd(&seed) % n];
		if (q % 2 == 0) /* a member's IMEI with an IMSI outside the generated range */
			p.b = 15 * 1000000000000000ULL + 420000000000000ULL + rnd(&seed) % 1000;
		snprintf(x.qk[q], sizeof x.qk[q], "%014llu", (unsigned long long)p.a);
		snprintf(x.qi[q], sizeof x.qi[q], "%015llu", (unsigned long long)(p.b - 15 * 1000000000000000ULL));
	}
	printf("\n%zu pairs (imei,imsi): load %.0f ms (%.2f M rows/s)\n", n, load * 1e3, (double)n / load / 1e6);
	printf("  memory: list %.1f bytes/pair (pairs + the set of their keys), sorted array 16.0 bytes/pair\n",
	       (double)imei_list_bytes(l) / (double)imei_list_size(l));
	x.pl = l;
	x.pairs = pairs;
	x.npairs = n;
	static const int cases[] = { C_LIST_PAIR, C_PEER_BSEARCH_PAIR };
	double ns[2];
	measure(&x, cases, 2, ns);
	printf("  -> list_has_pair: %.1fx bsearch(3)\n", ns[1] / ns[0]);
	imei_list_unref(l);
	free(pairs);
	free(x.qk);
	free(x.qi);
}

/* ---- the compact sets beside the open-addressing ones ---------------------------------- */

enum { SET_COMPACT, SET_OPEN };

struct sets {
	struct imei_u64set compact;
	struct open_set open;
	struct imei_u64pairset compact_pairs;
	struct open_pairset open_pairs;
	const uint64_t *q;              /* values */
	const struct imei_u64pair *qp;  /* pairs */
	uint64_t zero;                  /* 0, unknown to the compiler: chains the lookups */
};

/* QUERIES lookups of one kind: free (independent: as many in flight as the CPU allows),
 * or chained (each query's value depends on the last answer: one lookup's latency).
 * One loop per kind, so each is compiled as tight as a caller's would be. */
#define SET_LOOP(has)                                                                               \
	do {                                                                                            \
		if (chained) {                                                                              \
			for (size_t q = 0; q < QUERIES; q++) {                                                  \
				bool r_ = has;                                                                      \
				last = r_ & z;                                                                      \
				hits += r_;                                                                         \
			}                                                                                       \
		} else {                                                                                    \
			for (size_t q = 0; q < QUERIES; q++)                                                    \
				hits += has;                                                                        \
		}                                                                                           \
	} while (0)

static size_t run_set(const struct sets *s, int which, bool pairs, bool chained)
{
	size_t hits = 0;
	uint64_t last = 0, z = s->zero; /* last stays 0 when free */
	const uint64_t *v = s->q;
	const struct imei_u64pair *p = s->qp;
	if (pairs && which == SET_COMPACT)
		SET_LOOP(imei_u64pairset_has(&s->compact_pairs, p[q].a ^ last, p[q].b));
	else if (pairs)
		SET_LOOP(open_pairset_has(&s->open_pairs, p[q].a ^ last, p[q].b));
	else if (which == SET_COMPACT)
		SET_LOOP(imei_u64set_has(&s->compact, v[q] ^ last));
	else
		SET_LOOP(open_set_has(&s->open, v[q] ^ last));
	return hits;
}

/* compact and open alternate within each round; best round each; hits: every query is
 * a member (or none is) */
static void measure_sets(struct sets *s, bool pairs, bool member, const char *what)
{
	for (int chained = 0; chained < 2; chained++) {
		double best[2] = { 1e30, 1e30 };
		for (int r = 0; r < RUNS; r++)
			for (int w = 0; w < 2; w++) {
				double t0 = now();
				size_t hits = run_set(s, w, pairs, chained);
				double t = (now() - t0) * 1e9 / QUERIES;
				if (hits != (member ? (size_t)QUERIES : 0)) {
					fprintf(stderr, "lists_bench: %s: %zu hits of %d\n", what, hits, QUERIES);
					exit(1);
				}
				if (t < best[w])
					best[w] = t;
			}
		printf("  %-7s %-7s %-8s compact %6.1f ns, open %6.1f ns: compact/open %.2f\n", what,
		       member ? "hits" : "misses", chained ? "chained" : "free", best[0], best[1], best[0] / best[1]);
	}
}

static void bench_set_sizes(size_t n)
{
	uint64_t seed = 0x5e75 + n;
	uint64_t *v = xmalloc(n * sizeof *v), *hit = xmalloc(QUERIES * sizeof *hit), *miss = xmalloc(QUERIES * sizeof *miss);
	for (size_t i = 0; i < n; i++) /* 14-digit keys; the rare repeat is left to the sets */
		v[i] = rnd(&seed) % 100000000000000ULL;
	struct sets s = { .zero = (uint64_t)(now() < 0) };
	size_t dups;
	double t0 = now();
	if (imei_u64set_build(&s.compact, v, n, &dups) != 0)
		exit(1);
	double t_compact = now() - t0;
	/* the open set wants distinct values: take them from the compact set's queries */
	qsort(v, n, sizeof *v, cmp_u64);
	size_t d = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || v[i] != v[i - 1])
			v[d++] = v[i];
	t0 = now();
	if (!open_set_build(&s.open, v, d))
		exit(1);
	double t_open = now() - t0;
	for (size_t q = 0; q < QUERIES; q++) {
		hit[q] = v[rnd(&seed) % d];
		do
			miss[q] = rnd(&seed) % 100000000000000ULL;
		while (in_sorted(v, d, miss[q]));
	}
	printf("\n%zu values: compact %.2f bytes/value (build %.0f ms), open %.2f bytes/value (build %.0f ms, "
	       "distinct input)\n", d, (double)imei_u64set_bytes(&s.compact) / (double)d, t_compact * 1e3,
	       (double)s.open.bytes / (double)d, t_open * 1e3);
	s.q = hit;
	measure_sets(&s, false, true, "values");
	s.q = miss;
	measure_sets(&s, false, false, "values");
	imei_u64set_free(&s.compact);
	free(s.open.slots);
	free(v);
	free(hit);
	free(miss);
}

static void bench_pairset_sizes(size_t n)
{
	uint64_t seed = 0x9a1 + n;
	struct imei_u64pair *v = xmalloc(n * sizeof *v), *hit = xmalloc(QUERIES * sizeof *hit),
	                    *miss = xmalloc(QUERIES * sizeof *miss);
	for (size_t i = 0; i < n; i++) /* a key and an IMSI coded as the lists code it */
		v[i] = (struct imei_u64pair){ rnd(&seed) % 100000000000000ULL,
		                              15 * 1000000000000000ULL + 410000000000000ULL + rnd(&seed) % 10000000000ULL };
	struct sets s = { .zero = (uint64_t)(now() < 0) };
	size_t dups;
	double t0 = now();
	if (imei_u64pairset_build(&s.compact_pairs, v, n, &dups) != 0)
		exit(1);
	double t_compact = now() - t0;
	qsort(v, n, sizeof *v, cmp_pair);
	size_t d = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || cmp_pair(&v[i], &v[d - 1]) != 0)
			v[d++] = v[i];
	t0 = now();
	if (!open_pairset_build(&s.open_pairs, v, d))
		exit(1);
	double t_open = now() - t0;
	for (size_t q = 0; q < QUERIES; q++) {
		hit[q] = miss[q] = v[rnd(&seed) % d];
		miss[q].b += 20000000000ULL; /* a member's key with an IMSI outside the generated range */
	}
	printf("\n%zu pairs: compact %.2f bytes/pair (build %.0f ms), open %.2f bytes/pair (build %.0f ms, distinct "
	       "input)\n", d, (double)imei_u64pairset_bytes(&s.compact_pairs) / (double)d, t_compact * 1e3,
	       (double)s.open_pairs.bytes / (double)d, t_open * 1e3);
	s.qp = hit;
	measure_sets(&s, true, true, "pairs");
	s.qp = miss;
	measure_sets(&s, true, false, "pairs");
	imei_u64pairset_free(&s.compact_pairs);
	free(s.open_pairs.slots);
	free(v);
	free(hit);
	free(miss);
}

static void bench_sets(void)
{
	printf("\ncompact sets (core/u64set.c) beside the open-addressing sets before them (%d queries; best of %d; "
	       "ns per lookup)\n", QUERIES, RUNS);
	bench_set_sizes(400000);
	bench_set_sizes(4000000);
	bench_pairset_sizes(118000);
	bench_pairset_sizes(1000000);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "sets") == 0) {
		bench_sets();
		return 0;
	}
	size_t max = argc > 1 ? strtoull(argv[1], NULL, 10) : 4000000;
	printf("membership lists vs a sorted array (%d random queries, half members; best of %d)\n", QUERIES, RUNS);
	bench_keys(10000);
	bench_keys(1000000);
	if (max > 1000000)
		bench_keys(max);
	bench_pairs(1000000);
	bench_sets();
	return 0;
}
