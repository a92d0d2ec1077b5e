/*
 * replay_pairs.c — the pair table of a replay (replay_state.h): every accepted row is
 * folded into its (device, IMSI) pair, and into the sightings aggregate of its (device,
 * IMSI, MSISDN) triple, in one of two parts of the table (replay_part_of: each part
 * folded by one thread, in file order). At the end of the ingest the pairs are ranked by
 * device then IMSI, a private store gets every triple's aggregate (the same as recording
 * every row: sightings_agg.c applied in the same order, from the store's own aggregate),
 * and the pins become the run's pairs in place: the second part's pins move after the
 * first's, each pin is rewritten as its (smaller) pair, and the pairs are permuted into
 * rank order. The run's peak is then the pins (or the pairs), not both: with 10 M rows,
 * 417,825 pairs, a copy into a second table cost 35 MiB more at the peak. (Putting the
 * aggregates on a thread of their own while the pairs are ranked saved about 0.04 s of
 * 10 M rows and cost 20-26 MiB more at the peak: not done.)
 */
#define _GNU_SOURCE /* mremap */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "replay_state.h"

/* ---- the pair table ---------------------------------------------------------------- */

_Static_assert(FOLD_PARTS == 2, "replay_part_of gives 0 or 1");

/* Pins and the index live on 2 MiB pages where the kernel grants them (madvise): the
 * table is far larger than the caches and a TLB miss per row doubled the cost of a miss. */
#define HUGE_PAGE ((size_t)2 << 20)
#define LOOKAHEAD 32 /* rows ahead whose index slot is prefetched; their pin at half that */
#define FOLD_SPAN 1024 /* rows looked through at a time for those of a part */

uint64_t imei_replay_pair_hash(uint64_t ident, uint64_t imsi)
{
	uint64_t h = ident * 0x9E3779B97F4A7C15ULL ^ (imsi + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 29;
	return h;
}

static struct pin *pin_at(const struct fold_part *fp, uint64_t id)
{
	return &fp->pins[id];
}

/* size bytes (a multiple of HUGE_PAGE) of their own mapping: given back to the system
 * when freed (malloc keeps freed blocks for the process), zeroed, on huge pages where the
 * kernel grants them. */
static void *map_huge(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, size, MADV_HUGEPAGE);
#endif
	return p;
}

static void unmap_huge(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

/* The large arrays of the table (its index, the ranking's): a mapping of their own from
 * one huge page up, given back to the system when freed (freed malloc blocks that large
 * stay with the process, and the run's peak comes later), else malloc'd. */
static void *big_alloc(size_t bytes, bool zeroed)
{
	if (bytes >= HUGE_PAGE)
		return map_huge(bytes);
	return zeroed ? calloc(1, bytes) : malloc(bytes);
}

static void big_free(void *p, size_t bytes)
{
	if (bytes >= HUGE_PAGE)
		unmap_huge(p, bytes);
	else
		free(p);
}

static size_t index_bytes(size_t nslots)
{
	return nslots * sizeof(uint64_t);
}

static void index_free(uint64_t *slots, size_t nslots)
{
	big_free(slots, index_bytes(nslots));
}

static uint64_t slot_tag(uint64_t hash)
{
	return hash & 0xFFFFFFFF00000000ULL;
}

static int index_grow(struct fold_part *fp)
{
	size_t cap = fp->nslots ? fp->nslots * 2 : 1u << 15;
	uint64_t *slots = big_alloc(index_bytes(cap), true);
	if (!slots)
		return -1;
	for (size_t id = 0; id < fp->n; id++) {
		const struct pin *e = pin_at(fp, id);
		uint64_t h = imei_replay_pair_hash(e->agg.key, e->agg.imsi);
		size_t j = h & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = slot_tag(h) | (id + 1);
	}
	index_free(fp->slots, fp->nslots);
	fp->slots = slots;
	fp->nslots = cap;
	return 0;
}

/* Room for one more pin: the mapping doubles (mremap moves its pages, it copies nothing;
 * the pins move, so nothing keeps a pointer to one across a fold_one). */
static struct pin *pin_new(struct fold_part *fp)
{
	if ((fp->n + 1) * sizeof(struct pin) > fp->map_bytes) {
		if (fp->n >= UINT32_MAX - 1)
			return NULL;
		size_t bytes = fp->map_bytes ? fp->map_bytes * 2 : HUGE_PAGE;
		void *p;
		if (!fp->pins) {
			p = map_huge(bytes);
		} else {
			p = mremap(fp->pins, fp->map_bytes, bytes, MREMAP_MAYMOVE);
			p = p == MAP_FAILED ? NULL : p;
		}
		if (!p)
			return NULL;
		fp->pins = p;
		fp->map_bytes = bytes;
	}
	return pin_at(fp, fp->n);
}

/* A triple's aggregate with its first row of the run: the store's, when it held one
 * (a private store only: nobody else writes it meanwhile), advanced by the row. */
static int agg_start(struct imei_replay *r, struct imei_sighting_agg *a, const struct imei_sighting *s, char *err,
                     size_t errlen)
{
	struct imei_store_error se;
	int found = r->seed_aggs ? imei_store_get_agg(r->store, s->key, s->imsi, s->msisdn, a, &se) : 0;
	if (found < 0) {
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return -1;
	}
	if (found)
		imei_agg_apply(a, s);
	else
		imei_agg_init(a, s);
	return 0;
}

/* The row into its pair's triple with the row's MSISDN (a new triple when none). */
static int fold_triple(struct imei_replay *r, struct fold_part *fp, struct pin *e, const struct imei_sighting *s,
                       char *err, size_t errlen)
{
	if (e->agg.msisdn == s->msisdn) {
		imei_agg_apply(&e->agg, s);
		return 0;
	}
	for (uint32_t x = e->more; x; x = fp->extra[x - 1].next)
		if (fp->extra[x - 1].agg.msisdn == s->msisdn) {
			imei_agg_apply(&fp->extra[x - 1].agg, s);
			return 0;
		}
	if (fp->nextra == fp->extra_cap) {
		size_t cap = fp->extra_cap ? fp->extra_cap * 2 : 1024;
		struct xtrip *grown = cap < UINT32_MAX ? realloc(fp->extra, cap * sizeof *grown) : NULL;
		if (!grown) {
			snprintf(err, errlen, "replay: out of memory (%zu triples)", fp->nextra);
			return -1;
		}
		fp->extra = grown;
		fp->extra_cap = cap;
	}
	struct xtrip *x = &fp->extra[fp->nextra];
	if (agg_start(r, &x->agg, s, err, errlen) < 0)
		return -1;
	x->next = e->more;
	e->more = (uint32_t)++fp->nextra;
	return 0;
}

static int fold_one(struct imei_replay *r, struct fold_part *fp, const struct pending *row, uint64_t hash, char *err,
                    size_t errlen)
{
	size_t mask = fp->nslots - 1, i = hash & mask;
	uint64_t tag = slot_tag(hash);
	bool sighting = r->fold_aggs && row->ident < IMEI_REPLAY_TEXT_BASE;
	struct imei_sighting s = {
		.key = row->ident, .imsi = row->imsi, .msisdn = row->msisdn, .op = r->op_codes[row->op],
		.time = (uint32_t)row->day * IMEI_SIGHT_DAY, .rat = row->rat,
	};
	for (;; i = (i + 1) & mask) {
		uint64_t slot = fp->slots[i];
		if (!slot)
			break;
		if (slot_tag(slot) != tag)
			continue;
		struct pin *e = pin_at(fp, (slot & 0xFFFFFFFFu) - 1);
		if (e->agg.key != row->ident || e->agg.imsi != row->imsi)
			continue;
		e->ops |= 1ULL << row->op;
		e->rows++;
		if (row->day < e->first)
			e->first = row->day;
		if (row->day >= e->last) {
			/* the latest row speaks for the pair */
			e->last = row->day;
			if (row->msisdn)
				e->msisdn = row->msisdn;
			e->form = row->form;
			if (row->rat)
				e->rat = row->rat;
			e->op = row->op;
		}
		return sighting ? fold_triple(r, fp, e, &s, err, errlen) : 0;
	}
	struct pin *e = pin_new(fp);
	if (!e) {
		snprintf(err, errlen, "replay: out of memory (%zu pairs)", fp->n);
		return -1;
	}
	memset(e, 0, sizeof *e);
	if (sighting) {
		if (agg_start(r, &e->agg, &s, err, errlen) < 0)
			return -1;
	} else {
		e->agg.key = row->ident;
		e->agg.imsi = row->imsi;
		e->agg.msisdn = row->msisdn;
	}
	e->msisdn = row->msisdn;
	e->ops = 1ULL << row->op;
	e->first = e->last = row->day;
	e->rows = 1;
	e->form = row->form;
	e->rat = row->rat;
	e->op = row->op;
	fp->slots[i] = tag | (fp->n + 1);
	fp->n++;
	return 0;
}

int imei_replay_fold_part(struct imei_replay *r, unsigned k, const struct pending *rows, size_t n, char *err,
                          size_t errlen)
{
	struct fold_part *fp = &r->parts[k];
	while ((fp->n + n) * 4 >= fp->nslots * 3)
		if (index_grow(fp) < 0) {
			snprintf(err, errlen, "replay: out of memory (%zu pairs)", fp->n);
			return -1;
		}
	size_t mask = fp->nslots - 1;
	/* this part's rows, then: the index slot of a row LOOKAHEAD ahead, and the pin its
	 * slot names at half that, so that the misses of several rows overlap */
	uint32_t mine[FOLD_SPAN];
	uint64_t hash[FOLD_SPAN];
	for (size_t at = 0; at < n; at += FOLD_SPAN) {
		size_t m = 0, end = n - at < FOLD_SPAN ? n : at + FOLD_SPAN;
		for (size_t i = at; i < end; i++)
			if (replay_part_of(rows[i].ident, rows[i].imsi) == k) {
				hash[m] = imei_replay_pair_hash(rows[i].ident, rows[i].imsi);
				mine[m++] = (uint32_t)i;
			}
		for (size_t j = 0; j < m; j++) {
			if (j + LOOKAHEAD < m)
				__builtin_prefetch(&fp->slots[hash[j + LOOKAHEAD] & mask]);
			if (j + LOOKAHEAD / 2 < m) {
				uint64_t slot = fp->slots[hash[j + LOOKAHEAD / 2] & mask];
				if (slot) {
					const char *e = (const char *)pin_at(fp, (slot & 0xFFFFFFFFu) - 1);
					__builtin_prefetch(e, 1);
					__builtin_prefetch(e + sizeof(struct pin) - 1, 1);
				}
			}
			if (fold_one(r, fp, &rows[mine[j]], hash[j], err, errlen) < 0)
				return -1;
		}
	}
	return 0;
}

void imei_replay_pairs_free(struct imei_replay *r)
{
	unmap_huge(r->pairs, r->pairs_bytes);
	r->pairs = NULL;
	r->pairs_bytes = 0;
	r->npairs = 0;
}

void imei_replay_parts_free(struct imei_replay *r)
{
	for (size_t k = 0; k < FOLD_PARTS; k++) {
		struct fold_part *fp = &r->parts[k];
		unmap_huge(fp->pins, fp->map_bytes);
		index_free(fp->slots, fp->nslots);
		free(fp->extra);
		memset(fp, 0, sizeof *fp);
	}
}

/* ---- end of ingest: the pairs in order --------------------------------------------- */

struct pair_ref {
	uint64_t ident, imsi;
	size_t at; /* the pin's number over the parts, in order */
};

static int ref_cmp(const void *a, const void *b)
{
	const struct pair_ref *x = a, *y = b;
	if (x->ident != y->ident)
		return x->ident < y->ident ? -1 : 1;
	if (x->imsi != y->imsi)
		return x->imsi < y->imsi ? -1 : 1;
	return 0;
}

#define PUT_BATCH 256 /* aggregates put in the store at a time */
#define RADIX_BITS 12
#define RADIX_PASSES 4 /* 48 bits: keys are below 10^14 and text numbers just above it */

/* ref[0..n) sorted by ident, then IMSI: a stable radix sort on the ident (LSD, a pass
 * skipped when every ident has the same digit there), then each run of one ident by IMSI
 * (a device has a few, a cloned one many). qsort when an ident does not fit. */
static int sort_refs(struct pair_ref *ref, size_t n)
{
	uint64_t all = 0;
	for (size_t i = 0; i < n; i++)
		all |= ref[i].ident;
	if (all >> (RADIX_BITS * RADIX_PASSES)) {
		qsort(ref, n, sizeof *ref, ref_cmp);
		return 0;
	}
	struct pair_ref *tmp = big_alloc(n * sizeof *tmp, false);
	size_t(*count)[1u << RADIX_BITS] = calloc(RADIX_PASSES, sizeof *count);
	if (!tmp || !count) {
		big_free(tmp, n * sizeof *tmp);
		free(count);
		return -1;
	}
	const uint64_t mask = (1u << RADIX_BITS) - 1;
	for (size_t i = 0; i < n; i++)
		for (unsigned p = 0; p < RADIX_PASSES; p++)
			count[p][ref[i].ident >> (p * RADIX_BITS) & mask]++;
	struct pair_ref *from = ref, *to = tmp;
	for (unsigned p = 0; p < RADIX_PASSES; p++) {
		size_t *c = count[p], sum = 0;
		if (c[from[0].ident >> (p * RADIX_BITS) & mask] == n)
			continue; /* one digit for all: nothing to do */
		for (size_t d = 0; d <= mask; d++) {
			size_t k = c[d];
			c[d] = sum;
			sum += k;
		}
		for (size_t i = 0; i < n; i++)
			to[c[from[i].ident >> (p * RADIX_BITS) & mask]++] = from[i];
		struct pair_ref *t = from;
		from = to;
		to = t;
	}
	if (from != ref)
		memcpy(ref, from, n * sizeof *ref);
	big_free(tmp, n * sizeof *tmp);
	free(count);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && ref[j].ident == ref[i].ident;)
			j++;
		if (j - i > 1)
			qsort(ref + i, j - i, sizeof *ref, ref_cmp);
	}
	return 0;
}

static void pair_of(const struct pin *e, struct imei_replay_pair *p)
{
	memset(p, 0, sizeof *p);
	p->ident = e->agg.key;
	p->imsi = e->agg.imsi;
	p->msisdn = e->msisdn;
	p->ops = e->ops;
	p->first = (uint16_t)e->first; /* a row's day fits 16 bits (asserted in replay_ingest.c) */
	p->last = (uint16_t)e->last;
	p->rows = e->rows;
	p->form = e->form;
	p->rat = e->rat;
	p->op = e->op; /* < IMEI_REPLAY_MAX_OPERATORS (asserted below) */
	p->status = IMEI_STATUS_WHITELISTED;
	p->outcome = 0; /* nothing matched, no block date (until evaluated) */
}

/* Where each pin goes in the result, sorted by device then IMSI: rank[pin number]. */
static uint32_t *rank_pins(struct imei_replay *r, size_t n)
{
	struct pair_ref *ref = big_alloc(n * sizeof *ref, false);
	uint32_t *rank = malloc(n * sizeof *rank);
	if (!ref || !rank || n > UINT32_MAX) {
		big_free(ref, n * sizeof *ref);
		free(rank);
		return NULL;
	}
	size_t m = 0;
	for (size_t k = 0; k < FOLD_PARTS; k++)
		for (size_t id = 0; id < r->parts[k].n; id++, m++) {
			const struct pin *e = pin_at(&r->parts[k], id);
			ref[m] = (struct pair_ref){ e->agg.key, e->agg.imsi, m };
		}
	if (sort_refs(ref, n) < 0) {
		big_free(ref, n * sizeof *ref);
		free(rank);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		rank[ref[i].at] = (uint32_t)i;
	big_free(ref, n * sizeof *ref);
	return rank;
}

/* Every triple's aggregate into a private store, in the parts' order (the same for any
 * number of threads). 0, or -1 with *se. */
static int put_aggs(struct imei_replay *r, struct imei_store_error *se)
{
	struct imei_sighting_agg put[PUT_BATCH];
	size_t nput = 0;
	for (size_t k = 0; k < FOLD_PARTS; k++) {
		const struct fold_part *fp = &r->parts[k];
		for (size_t id = 0; id < fp->n; id++) {
			const struct pin *e = pin_at(fp, id);
			if (e->agg.key >= IMEI_REPLAY_TEXT_BASE)
				continue; /* not an IMEI: no sighting */
			const struct imei_sighting_agg *a = &e->agg; /* then its other triples, in order */
			for (uint32_t x = e->more;; x = fp->extra[x - 1].next) {
				if (nput == PUT_BATCH) {
					if (imei_store_put_aggs(r->store, put, nput, se) < 0)
						return -1;
					nput = 0;
				}
				put[nput++] = *a;
				if (!x)
					break;
				a = &fp->extra[x - 1].agg;
			}
		}
	}
	return nput ? imei_store_put_aggs(r->store, put, nput, se) : 0;
}

/* The second part's pins after the first's, in the first's mapping (grown: its pages
 * move), a huge page at a time, each given back once copied. -1: out of memory. */
static int join_parts(struct imei_replay *r)
{
	struct fold_part *a = &r->parts[0], *b = &r->parts[1];
	size_t need = (a->n + b->n) * sizeof(struct pin);
	if (need > a->map_bytes) {
		size_t bytes = (need + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
		void *p = a->pins ? mremap(a->pins, a->map_bytes, bytes, MREMAP_MAYMOVE) : map_huge(bytes);
		if (!p || p == MAP_FAILED)
			return -1;
		a->pins = p;
		a->map_bytes = bytes;
	}
	char *to = (char *)(a->pins + a->n), *from = (char *)b->pins;
	size_t left = b->n * sizeof(struct pin);
	for (size_t off = 0; off < left; off += HUGE_PAGE) {
		size_t len = left - off < HUGE_PAGE ? left - off : HUGE_PAGE;
		memcpy(to + off, from + off, len);
		madvise(from + off, len, MADV_DONTNEED); /* b's pages back to the system as it goes */
	}
	a->n += b->n;
	unmap_huge(b->pins, b->map_bytes);
	b->pins = NULL;
	b->n = b->map_bytes = 0;
	return 0;
}

_Static_assert(sizeof(struct imei_replay_pair) <= sizeof(struct pin), "a pair fits where its pin was");
_Static_assert(sizeof(struct imei_replay_pair) == 48, "a pair is 48 bytes (docs/classify.md, Memory)");
_Static_assert(IMEI_REPLAY_MAX_OPERATORS <= 64, "a pair's op has 6 bits, its ops 64");

/* pairs[0..n) moved to their ranks, in place: each swap puts one pair where it belongs
 * (rank is consumed: it ends as the identity). */
static void permute(struct imei_replay_pair *pairs, uint32_t *rank, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		while (rank[i] != i) {
			uint32_t j = rank[i];
			struct imei_replay_pair t = pairs[j];
			pairs[j] = pairs[i];
			pairs[i] = t;
			rank[i] = rank[j];
			rank[j] = j;
		}
	}
}

/* The parts' pins become r->pairs, sorted by device then IMSI, and a private store gets
 * their triples' aggregates (see the top of this file). */
static int take_pins(struct imei_replay *r, char *err, size_t errlen)
{
	size_t n = 0;
	for (size_t k = 0; k < FOLD_PARTS; k++) {
		index_free(r->parts[k].slots, r->parts[k].nslots);
		r->parts[k].slots = NULL;
		r->parts[k].nslots = 0;
		n += r->parts[k].n;
	}
	if (!n)
		return 0;
	if (n > UINT32_MAX) {
		snprintf(err, errlen, "replay: %zu pairs: at most %u in one run", n, UINT32_MAX);
		return -1;
	}
	uint32_t *rank = rank_pins(r, n);
	if (!rank) {
		snprintf(err, errlen, "replay: out of memory sorting %zu pairs", n);
		return -1;
	}
	/* the aggregates while each part's pins still name their part's extras */
	struct imei_store_error se;
	if (r->fold_aggs && put_aggs(r, &se) < 0) {
		free(rank);
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return -1;
	}
	if (join_parts(r) < 0) {
		free(rank);
		snprintf(err, errlen, "replay: out of memory sorting %zu pairs", n);
		return -1;
	}
	struct fold_part *fp = &r->parts[0];
	for (size_t k = 0; k < FOLD_PARTS; k++) {
		free(r->parts[k].extra);
		r->parts[k].extra = NULL;
		r->parts[k].nextra = r->parts[k].extra_cap = 0;
	}
	/* pin m into pair m: pair m ends before pin m + 1 starts (a pair is smaller) */
	struct imei_replay_pair *pairs = (struct imei_replay_pair *)(void *)fp->pins;
	for (size_t m = 0; m < n; m++) {
		struct pin e;
		memcpy(&e, &fp->pins[m], sizeof e);
		struct imei_replay_pair p;
		pair_of(&e, &p);
		memcpy(&pairs[m], &p, sizeof p);
	}
	permute(pairs, rank, n);
	free(rank);
	/* the mapping cut to the pairs (the pins' tail given back) */
	size_t keep = (n * sizeof *pairs + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	if (keep < fp->map_bytes) {
		munmap((char *)fp->pins + keep, fp->map_bytes - keep);
		fp->map_bytes = keep;
	}
	r->pairs = pairs;
	r->pairs_bytes = fp->map_bytes;
	fp->pins = NULL; /* the pairs' now */
	fp->map_bytes = fp->n = 0;
	imei_replay_parts_free(r);
	r->npairs = n;
	return 0;
}

int imei_replay_finish_ingest(struct imei_replay *r, char *err, size_t errlen)
{
	struct imei_store_error se;
	if (imei_store_flush(r->store, &se) < 0) {
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return IMEI_REPLAY_ERROR;
	}
	if (r->run_day == IMEI_REPLAY_NO_DAY && r->max_day != INT32_MIN)
		r->run_day = r->max_day;
	r->totals.run_day = r->run_day;
	if (r->max_day != INT32_MIN) {
		r->totals.first_day = r->min_day;
		r->totals.last_day = r->max_day;
	}
	if (take_pins(r, err, errlen) < 0)
		return IMEI_REPLAY_ERROR;
	for (size_t i = 0; i < r->npairs; i++)
		if (i == 0 || r->pairs[i - 1].ident != r->pairs[i].ident)
			r->pairs[i].flags |= IMEI_REPLAY_DEVICE;
	r->totals.pairs = r->npairs;
	r->totals.ingest_seconds = replay_seconds_since(&r->t_ingest);
	r->ingest_done = true;
	return IMEI_REPLAY_DONE;
}
