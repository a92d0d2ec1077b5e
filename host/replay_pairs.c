/*
 * replay_pairs.c — the pair table of a replay (replay_state.h): every accepted row is
 * folded into its (device, IMSI) pair, and into the sightings aggregate of its (device,
 * IMSI, MSISDN) triple, in one of two parts of the table (replay_part_of: each part
 * folded by one thread, in file order). At the end of the ingest the pins become the
 * run's pairs in place, sorted by device then IMSI, and a private store gets every
 * triple's aggregate (the same as recording every row: sightings_agg.c applied in the
 * same order, from the store's own aggregate). Each pin's 16-byte ranking key is taken
 * and each part's keys are sorted (an in-place radix sort: no second array) on a thread
 * of their own, the caller's and a helper's, while the second part's pins move after the
 * first's; the two sorted parts are merged from both ends at once into the ranking, and
 * the keys given back as one pass over the pins puts pin m's aggregates in the store and
 * rewrites pin m as its (smaller) pair m, while the helper plans the moves into order
 * (the permutation's cycles) beside the pass's first part (see "The ranking on two
 * threads" below). The whole pages between the pairs written and the pins left are
 * given back as the pass goes, so the run holds the pairs written, the pins left and the
 * store so far, never all the pins and the whole store at once, nor the keys beside the
 * store. The pairs then move into order, each once, their cache misses overlapping. (A
 * copy into a second table cost 35 MiB more at the peak, with 10 M rows and 417,825
 * pairs; putting the aggregates on a thread while 24-byte refs were ranked with a second
 * array, before the pins were rewritten, cost 20-26 MiB more; the whole ranking beside
 * the pass instead of the join, 2-6 MiB more at the run's peak, which was then in the
 * pass, for 20-40 ms; the sort on one thread, the other idle, 40-60 ms more.)
 */
#define _GNU_SOURCE /* mremap */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "imei_pages.h"
#include "replay_state.h"

/* ---- the pair table ---------------------------------------------------------------- */

_Static_assert(FOLD_PARTS == 2, "replay_part_of gives 0 or 1");

/* Pins and the index live on 2 MiB pages where the kernel grants them (madvise): the
 * table is far larger than the caches and a TLB miss per row doubled the cost of a miss. */
#define HUGE_PAGE ((size_t)2 << 20)
#define LOOKAHEAD 32 /* rows ahead whose index slot is prefetched; their pin at half that */
#define FOLD_SPAN 1024 /* rows looked through at a time for those of a part */
#define GROW_AHEAD 16  /* pins ahead whose new slot is prefetched when the index grows */

/* Inlined in the fold's loops: called through the exported name, a shared library's call
 * goes through the PLT (the name may be interposed), ~2 % of the read phase's CPU. */
static inline uint64_t pair_hash(uint64_t ident, uint64_t imsi)
{
	uint64_t h = ident * 0x9E3779B97F4A7C15ULL ^ (imsi + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 29;
	return h;
}

uint64_t imei_replay_pair_hash(uint64_t ident, uint64_t imsi)
{
	return pair_hash(ident, imsi);
}

static struct pin *pin_at(const struct fold_part *fp, uint64_t id)
{
	return &fp->pins[id];
}

/* size bytes (the pins': a multiple of HUGE_PAGE) of their own mapping: given back to the system
 * when freed (malloc keeps freed blocks for the process), zeroed, on huge pages where the
 * kernel grants them. */
static void *map_huge(size_t size)
{
	void *p = imei_pages_new(size);
	if (!p)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, size, MADV_HUGEPAGE);
#endif
	return p;
}

static void unmap_huge(void *p, size_t size)
{
	imei_pages_free(p, size);
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

/* The index's mapping, its pages made at once: the rehash into it touches every one of them
 * at random, and a page fault each (~2,000 a part for 10 M rows, the index growing seven
 * times) costs more than one call making them all, most of all in a virtual machine. Where
 * the kernel cannot (before Linux 5.14, or short of memory) they come page by page. */
static uint64_t *index_map(size_t nslots)
{
	uint64_t *slots = map_huge(index_bytes(nslots));
#ifdef MADV_POPULATE_WRITE
	if (slots)
		(void)madvise(slots, index_bytes(nslots), MADV_POPULATE_WRITE);
#endif
	return slots;
}

/* The index is a mapping of its own at every size: a calloc'd one, freed, would raise
 * malloc's mmap threshold (glibc's is dynamic) and the run's later blocks of that size
 * would stay in the heap and the threads' arenas (7-8 MiB more through the evaluation). */
static void index_free(uint64_t *slots, size_t nslots)
{
	unmap_huge(slots, index_bytes(nslots));
}

static uint64_t slot_tag(uint64_t hash)
{
	return hash & 0xFFFFFFFF00000000ULL;
}

/* A hash's first slot among nslots (any number, below 2^32): its low 32 bits, which the
 * tag leaves, scaled to the table (Lemire's range reduction: a multiply, no division). */
static size_t slot_home(uint64_t hash, size_t nslots)
{
	return (size_t)(((hash & 0xFFFFFFFFu) * (uint64_t)nslots) >> 32);
}

#define INDEX_FIRST ((size_t)1 << 15)

/* The index grows by half (not doubled: 10 M rows give 209 k pins a part, 2.8 MiB of
 * slots at load 0.56 where a power of two took 4 MiB). */
static int index_grow(struct fold_part *fp)
{
	size_t cap = fp->nslots ? fp->nslots + fp->nslots / 2 : INDEX_FIRST;
	if (cap > UINT32_MAX)
		return -1;
	uint64_t *slots = index_map(cap);
	if (!slots)
		return -1;
	/* the pins in order, the new slots at random: the slot of the pin GROW_AHEAD ahead
	 * prefetched, so that the misses overlap */
	for (size_t id = 0; id < fp->n; id++) {
		if (id + GROW_AHEAD < fp->n) {
			const struct pin *a = pin_at(fp, id + GROW_AHEAD);
			__builtin_prefetch(&slots[slot_home(pair_hash(a->agg.key, a->agg.imsi), cap)], 1);
		}
		const struct pin *e = pin_at(fp, id);
		uint64_t h = pair_hash(e->agg.key, e->agg.imsi);
		size_t j = slot_home(h, cap);
		while (slots[j])
			j = j + 1 == cap ? 0 : j + 1;
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

/* ---- the operator sets of a part --------------------------------------------------- */

static uint32_t set_hash(uint64_t mask)
{
	return (uint32_t)((mask * 0x9E3779B97F4A7C15ULL) >> 32);
}

/* Room for one more set: its masks and an index at load <= 1/2. -1: out of memory. */
static int sets_room(struct op_sets *s)
{
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		uint64_t *mask = s->cap < UINT32_MAX / 4 ? realloc(s->mask, cap * sizeof *mask) : NULL;
		if (!mask)
			return -1;
		s->mask = mask;
		s->cap = cap;
	}
	if ((s->n + 1) * 2 > s->nslots) {
		uint32_t nslots = s->nslots ? s->nslots * 2 : 32;
		uint32_t *slots = calloc(nslots, sizeof *slots);
		if (!slots)
			return -1;
		for (uint32_t k = 0; k < s->n; k++) {
			uint32_t i = set_hash(s->mask[k]) & (nslots - 1);
			while (slots[i])
				i = (i + 1) & (nslots - 1);
			slots[i] = k + 1;
		}
		free(s->slots);
		s->slots = slots;
		s->nslots = nslots;
	}
	return 0;
}

/* The index of the set mask in *set, the set added when new. -1: out of memory. */
static int set_of(struct op_sets *s, uint64_t mask, uint32_t *set)
{
	uint32_t i = 0;
	if (s->nslots)
		for (i = set_hash(mask) & (s->nslots - 1); s->slots[i]; i = (i + 1) & (s->nslots - 1))
			if (s->mask[s->slots[i] - 1] == mask) {
				*set = s->slots[i] - 1;
				return 0;
			}
	if (sets_room(s) < 0)
		return -1;
	for (i = set_hash(mask) & (s->nslots - 1); s->slots[i]; i = (i + 1) & (s->nslots - 1))
		;
	s->mask[s->n] = mask;
	s->slots[i] = ++s->n;
	*set = s->n - 1;
	return 0;
}

static void sets_free(struct op_sets *s)
{
	free(s->mask);
	free(s->slots);
	memset(s, 0, sizeof *s);
}

/* ---- folding a row ----------------------------------------------------------------- */

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

/* The row into its pair's triple with the row's MSISDN (a new triple when none); *t: that
 * triple as the pin's msisdn names it (1: its own agg, x + 1: extra[x - 1]). */
static int fold_triple(struct imei_replay *r, struct fold_part *fp, struct pin *e, const struct imei_sighting *s,
                       uint32_t *t, char *err, size_t errlen)
{
	if (e->agg.msisdn == s->msisdn) {
		imei_agg_apply(&e->agg, s);
		*t = 1;
		return 0;
	}
	for (uint32_t x = e->more; x; x = fp->extra[x - 1].next)
		if (fp->extra[x - 1].agg.msisdn == s->msisdn) {
			imei_agg_apply(&fp->extra[x - 1].agg, s);
			*t = x + 1;
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
	*t = e->more + 1;
	return 0;
}

/* The pin's operators with op added (a set it had not: the common case, op already in,
 * is the fold's test). -1: out of memory. */
static int ops_add(struct fold_part *fp, struct pin *e, unsigned op)
{
	return set_of(&fp->sets, fp->sets.mask[e->ops] | 1ULL << op, &e->ops);
}

/* The row into its pin; hash: of its pair, whose first slot is home. */
static int fold_one(struct imei_replay *r, struct fold_part *fp, const struct pending *row, uint64_t hash, size_t home,
                    char *err, size_t errlen)
{
	size_t nslots = fp->nslots, i = home;
	uint64_t tag = slot_tag(hash);
	bool sighting = r->fold_aggs && row->ident < IMEI_REPLAY_TEXT_BASE;
	uint16_t day = (uint16_t)row->day; /* fits (asserted in replay_ingest.c) */
	struct imei_sighting s = {
		.key = row->ident, .imsi = row->imsi, .msisdn = row->msisdn, .op = r->op_codes[row->op],
		.time = (uint32_t)row->day * IMEI_SIGHT_DAY, .rat = row->rat,
	};
	for (;; i = i + 1 == nslots ? 0 : i + 1) {
		uint64_t slot = fp->slots[i];
		if (!slot)
			break;
		if (slot_tag(slot) != tag)
			continue;
		struct pin *e = pin_at(fp, (slot & 0xFFFFFFFFu) - 1);
		if (e->agg.key != row->ident || e->agg.imsi != row->imsi)
			continue;
		if (!(fp->sets.mask[e->ops] & 1ULL << row->op) && ops_add(fp, e, row->op) < 0) {
			snprintf(err, errlen, "replay: out of memory (%zu operator sets)", (size_t)fp->sets.n);
			return -1;
		}
		e->rows++;
		if (day < e->first)
			e->first = day;
		bool latest = day >= e->last;
		if (latest) {
			/* the latest row speaks for the pair */
			e->last = day;
			e->form = row->form;
			if (row->rat)
				e->rat = row->rat;
			e->op = row->op;
		}
		uint32_t t = 1;
		if (sighting && fold_triple(r, fp, e, &s, &t, err, errlen) < 0)
			return -1;
		if (latest && row->msisdn) {
			e->msisdn = t;
			if (!sighting)
				e->agg.msisdn = row->msisdn; /* no triples: the pin's own */
		}
		return 0;
	}
	struct pin *e = pin_new(fp);
	if (!e) {
		snprintf(err, errlen, "replay: out of memory (%zu pairs)", fp->n);
		return -1;
	}
	memset(e, 0, sizeof *e);
	uint32_t *one = &fp->sets.one[row->op];
	if (*one)
		e->ops = *one - 1;
	else if (set_of(&fp->sets, 1ULL << row->op, &e->ops) == 0)
		*one = e->ops + 1;
	else {
		snprintf(err, errlen, "replay: out of memory (%zu pairs)", fp->n);
		return -1;
	}
	if (sighting) {
		if (agg_start(r, &e->agg, &s, err, errlen) < 0)
			return -1;
	} else {
		e->agg.key = row->ident;
		e->agg.imsi = row->imsi;
		e->agg.msisdn = row->msisdn;
	}
	e->msisdn = row->msisdn ? 1 : 0;
	e->first = e->last = day;
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
	size_t nslots = fp->nslots;
	/* this part's rows, then: the index slot of a row LOOKAHEAD ahead, and the pin its
	 * slot names at half that, so that the misses of several rows overlap */
	uint32_t mine[FOLD_SPAN], home[FOLD_SPAN];
	uint64_t hash[FOLD_SPAN];
	for (size_t at = 0; at < n; at += FOLD_SPAN) {
		size_t m = 0, end = n - at < FOLD_SPAN ? n : at + FOLD_SPAN;
		for (size_t i = at; i < end; i++)
			if (replay_part_of(rows[i].ident, rows[i].imsi) == k) {
				hash[m] = pair_hash(rows[i].ident, rows[i].imsi);
				home[m] = (uint32_t)slot_home(hash[m], nslots);
				mine[m++] = (uint32_t)i;
			}
		for (size_t j = 0; j < m; j++) {
			if (j + LOOKAHEAD < m)
				__builtin_prefetch(&fp->slots[home[j + LOOKAHEAD]]);
			if (j + LOOKAHEAD / 2 < m) {
				uint64_t slot = fp->slots[home[j + LOOKAHEAD / 2]];
				if (slot) {
					const char *e = (const char *)pin_at(fp, (slot & 0xFFFFFFFFu) - 1);
					__builtin_prefetch(e, 1);
					__builtin_prefetch(e + sizeof(struct pin) - 1, 1);
				}
			}
			if (fold_one(r, fp, &rows[mine[j]], hash[j], home[j], err, errlen) < 0)
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
		sets_free(&fp->sets);
		memset(fp, 0, sizeof *fp);
	}
}

/* ---- end of ingest: the pairs in order --------------------------------------------- */

/* A pin's key in the ranking, 16 bytes: its ident (48 bits), IMSI (51: an IMSI of 15
 * digits is 10^15 + value, below 2^51) and number over the parts (29), in that order, so
 * that (hi, lo) orders as (ident, IMSI): each pair is one pin. A run whose numbers do not
 * fit there is ranked by rank_wide. */
struct rank_key {
	uint64_t hi, lo;
};

#define KEY_IDENT_BITS 48
#define KEY_IMSI_BITS 51
#define KEY_AT_BITS (128 - KEY_IDENT_BITS - KEY_IMSI_BITS)
#define KEY_IMSI_HI (64 - KEY_IDENT_BITS) /* the IMSI's top bits in hi, */
#define KEY_IMSI_LO (64 - KEY_AT_BITS)    /* its others in lo */
#define KEY_AT_MASK ((UINT64_C(1) << KEY_AT_BITS) - 1)

#define PUT_BATCH 256 /* aggregates put in the store at a time */
#define GIVE_BACK 4096 /* pins rewritten between two looks for dead pages */
#define RADIX_BITS 8
#define RADIX_SMALL 32 /* keys sorted by insertion below this many */
_Static_assert(KEY_IDENT_BITS % RADIX_BITS == 0, "the ident is whole digits");

/* the ident's digit at shift (its place in hi) */
static size_t key_digit(const struct rank_key *k, unsigned shift)
{
	return (size_t)(k->hi >> shift) & ((1u << RADIX_BITS) - 1);
}

static int key_cmp(const void *a, const void *b)
{
	const struct rank_key *x = a, *y = b;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void insertion_sort(struct rank_key *key, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct rank_key v = key[i];
		size_t j = i;
		for (; j > 0 && key_cmp(&key[j - 1], &v) > 0; j--)
			key[j] = key[j - 1];
		key[j] = v;
	}
}

/* key[0..n) sorted in place (no second array: the ranking runs while the store grows),
 * a radix sort on the ident from its top digit (shift: that digit's place in hi) down,
 * each digit's keys moved to their bucket by following cycles, a digit every key shares
 * skipped; a bucket of one ident (a device's IMSIs: a few, a cloned one's many) qsorted
 * by IMSI, a small one by insertion. */
static void sort_keys(struct rank_key *key, size_t n, unsigned shift)
{
	if (n < RADIX_SMALL) {
		insertion_sort(key, n);
		return;
	}
	enum { R = 1u << RADIX_BITS };
	size_t head[R], tail[R];
	for (;; shift -= RADIX_BITS) {
		if (shift < KEY_IMSI_HI) {
			qsort(key, n, sizeof *key, key_cmp); /* one ident */
			return;
		}
		memset(head, 0, sizeof head);
		for (size_t i = 0; i < n; i++)
			head[key_digit(&key[i], shift)]++;
		if (head[key_digit(&key[0], shift)] != n)
			break;
	}
	for (size_t d = 0, sum = 0; d < R; d++) {
		size_t c = head[d];
		head[d] = sum;
		tail[d] = sum += c;
	}
	for (size_t d = 0; d < R; d++)
		while (head[d] < tail[d]) {
			struct rank_key v = key[head[d]];
			size_t e = key_digit(&v, shift);
			while (e != d) { /* v to its bucket, whose key there moves on */
				struct rank_key t = key[head[e]];
				key[head[e]++] = v;
				v = t;
				e = key_digit(&v, shift);
			}
			key[head[d]++] = v;
		}
	for (size_t d = 0, at = 0; d < R; at = tail[d++])
		if (tail[d] - at > 1)
			sort_keys(key + at, tail[d] - at, shift - RADIX_BITS);
}

/* Pin e of part fp as its pair: its references resolved (the part's extras and sets). */
static void pair_of(const struct pin *e, const struct fold_part *fp, struct imei_replay_pair *p)
{
	memset(p, 0, sizeof *p);
	p->ident = e->agg.key;
	p->imsi = e->agg.imsi;
	p->msisdn = e->msisdn == 0 ? 0 : e->msisdn == 1 ? e->agg.msisdn : fp->extra[e->msisdn - 2].agg.msisdn;
	p->ops = fp->sets.mask[e->ops];
	p->first = e->first;
	p->last = e->last;
	p->rows = e->rows;
	p->form = e->form;
	p->rat = e->rat;
	p->op = e->op; /* < IMEI_REPLAY_MAX_OPERATORS (asserted below) */
	p->status = IMEI_STATUS_WHITELISTED;
	p->outcome = 0; /* nothing matched, no block date (until evaluated) */
}

/* The pairs' moves into their order, planned from src (src[i]: the pin whose pair goes to
 * i; consumed): the cycles of that permutation, each as its first position flagged
 * CYCLE_START, then the positions whose pairs move one place back along it (permute);
 * the pairs already in place are left out. Their number. */
#define CYCLE_START 0x80000000u
#define RUN_PAIRS_MAX ((size_t)CYCLE_START) /* positions below CYCLE_START */

static size_t plan_moves(uint32_t *src, size_t n, uint32_t *seq)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (src[i] == i)
			continue;
		seq[len++] = (uint32_t)i | CYCLE_START;
		uint32_t p = src[i];
		src[i] = (uint32_t)i;
		while (p != i) {
			seq[len++] = p;
			uint32_t q = src[p];
			src[p] = p;
			p = q;
		}
	}
	return len;
}

struct wide_ref {
	uint64_t ident, imsi;
	size_t at;
};

static int wide_cmp(const void *a, const void *b)
{
	const struct wide_ref *x = a, *y = b;
	if (x->ident != y->ident)
		return x->ident < y->ident ? -1 : 1;
	return x->imsi < y->imsi ? -1 : x->imsi > y->imsi;
}

/* Pin m of the run, numbered over the parts before they are joined (the first part's
 * n0 pins first): the number it has once they are. */
static const struct pin *pin_of(const struct fold_part *parts, size_t n0, size_t m)
{
	return m < n0 ? pin_at(&parts[0], m) : pin_at(&parts[1], m - n0);
}

/* src of pins that do not fit a rank_key, at once (qsort). -1: out of memory. */
static int rank_wide(const struct fold_part *parts, size_t n0, size_t n, uint32_t *src)
{
	struct wide_ref *ref = big_alloc(n * sizeof *ref, false);
	if (!ref)
		return -1;
	for (size_t m = 0; m < n; m++) {
		const struct pin *e = pin_of(parts, n0, m);
		ref[m] = (struct wide_ref){ e->agg.key, e->agg.imsi, m };
	}
	qsort(ref, n, sizeof *ref, wide_cmp);
	for (size_t i = 0; i < n; i++)
		src[i] = (uint32_t)ref[i].at;
	big_free(ref, n * sizeof *ref);
	return 0;
}

/* The keys of part fp's pins, numbered from base; *idents and *imsis: all their idents
 * and IMSIs or'ed (whether they fit a key). */
static void take_keys(const struct fold_part *fp, struct rank_key *key, size_t base, uint64_t *idents,
                      uint64_t *imsis)
{
	uint64_t id = 0, im = 0;
	for (size_t j = 0; j < fp->n; j++) {
		const struct pin *e = pin_at(fp, j);
		id |= e->agg.key;
		im |= e->agg.imsi;
		key[j] = (struct rank_key){ e->agg.key << KEY_IMSI_HI | e->agg.imsi >> KEY_IMSI_LO,
		                            e->agg.imsi << KEY_AT_BITS | (base + j) };
	}
	*idents = id;
	*imsis = im;
}

static bool key_less(const struct rank_key *x, const struct rank_key *y)
{
	return x->hi < y->hi || (x->hi == y->hi && x->lo < y->lo);
}

static uint32_t key_at(const struct rank_key *k)
{
	return (uint32_t)(k->lo & KEY_AT_MASK);
}

/* The two sorted runs a[0..na) and b[0..nb) merged, as the pins' numbers: the first count
 * into src[0..count) (merge_front), or the last count into their places at the end
 * (merge_back). No two keys are equal (each has its pin's number), so the two halves
 * meet exactly, each merged by its own thread. */
static void merge_front(const struct rank_key *a, size_t na, const struct rank_key *b, size_t nb, uint32_t *src,
                        size_t count)
{
	size_t i = 0, j = 0;
	for (size_t o = 0; o < count; o++)
		src[o] = j == nb || (i < na && key_less(&a[i], &b[j])) ? key_at(&a[i++]) : key_at(&b[j++]);
}

static void merge_back(const struct rank_key *a, size_t na, const struct rank_key *b, size_t nb, uint32_t *src,
                       size_t count)
{
	size_t i = na, j = nb;
	for (size_t o = na + nb; o > na + nb - count; o--)
		src[o - 1] = j == 0 || (i > 0 && key_less(&b[j - 1], &a[i - 1])) ? key_at(&a[--i]) : key_at(&b[--j]);
}

/* The whole huge pages from the end of the pairs written (at) to the start of the pins
 * left (to), past those given back before (*given): nothing reads them again (a page the
 * pairs reach later comes back zeroed, then written). Beyond the end all the pairs will
 * reach (end), nothing is written again either: there the pins passed go back a small
 * page at a time, which splits no huge page the pairs will use (the last third of the
 * pass: 1-2 MiB less at the run's peak, at its end). (Small pages given back everywhere
 * took the pass's peak 5 MiB lower but the pass 60-90 ms longer with 10 M rows: the pairs
 * then fault and miss on small pages.) */
#define SMALL_PAGE ((uintptr_t)4096)
static void give_back(const void *at, const void *to, const void *end, uintptr_t *given)
{
	uintptr_t lo = ((uintptr_t)at + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	uintptr_t hi = (uintptr_t)to & ~(uintptr_t)(HUGE_PAGE - 1);
	if ((uintptr_t)to > (uintptr_t)end) {
		uintptr_t small_lo = ((uintptr_t)((uintptr_t)at > (uintptr_t)end ? at : end) + SMALL_PAGE - 1) & ~(SMALL_PAGE - 1);
		uintptr_t small_hi = (uintptr_t)to & ~(SMALL_PAGE - 1);
		if (small_hi > hi) {
			hi = small_hi;
			if (lo > small_lo)
				lo = small_lo;
		}
	}
	if (lo < *given)
		lo = *given;
	if (hi > lo) {
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
		*given = hi;
	}
}

/* One pass over the joined pins (the first n0 were the first part's): for a private
 * store, pin m's aggregates (its own, then its part's extras it names) put in the store,
 * in the parts' order as each thread folded them (the same for any number of threads);
 * then pin m rewritten as pair m in place, pair m ending before pin m + 1 starts. So the
 * pins and the whole store are never held at once: the dead pages between the pairs and
 * the pins are given back as it goes, and the first part's extras once its pins are
 * passed. 0, or -1 with *se (the pins then partly pairs: only to be freed). */
struct finish;
static void plan_wait(struct finish *f);

static int pins_to_pairs(struct imei_replay *r, size_t n0, struct finish *f, struct imei_store_error *se)
{
	struct fold_part *fp = &r->parts[0];
	struct imei_replay_pair *pairs = (struct imei_replay_pair *)(void *)fp->pins;
	struct imei_sighting_agg put[PUT_BATCH];
	size_t nput = 0;
	uintptr_t given = 0;
	/* the store's room for them all at once: at most a triple per pin and per extra (the
	 * text pins have none, and a seeded store's triples already there take no more) */
	size_t most = fp->n + r->parts[0].nextra + r->parts[1].nextra;
	if (r->fold_aggs && imei_store_reserve(r->store, most, se) < 0)
		return -1;
	for (size_t m = 0; m < fp->n; m++) {
		struct pin e;
		memcpy(&e, &fp->pins[m], sizeof e);
		const struct fold_part *part = &r->parts[m < n0 ? 0 : 1];
		if (r->fold_aggs && e.agg.key < IMEI_REPLAY_TEXT_BASE) { /* else not an IMEI: no sighting */
			const struct xtrip *extra = part->extra;
			const struct imei_sighting_agg *a = &e.agg;
			for (uint32_t x = e.more;; x = extra[x - 1].next) {
				if (nput == PUT_BATCH) {
					if (imei_store_put_aggs(r->store, put, nput, se) < 0)
						return -1;
					nput = 0;
				}
				put[nput++] = *a;
				if (!x)
					break;
				a = &extra[x - 1].agg;
			}
		}
		struct imei_replay_pair p;
		pair_of(&e, part, &p); /* before the first part's extras go, below */
		memcpy(&pairs[m], &p, sizeof p);
		if (m + 1 == n0) {
			free(r->parts[0].extra); /* its copies in put[] are all it is needed for now */
			r->parts[0].extra = NULL;
			r->parts[0].nextra = r->parts[0].extra_cap = 0;
		}
		if (m % GIVE_BACK == GIVE_BACK - 1)
			give_back(&pairs[m + 1], &fp->pins[m + 1], &pairs[fp->n], &given);
		if (m == fp->n / 2)
			plan_wait(f); /* the plan's src given back before the pass's high point */
	}
	return nput ? imei_store_put_aggs(r->store, put, nput, se) : 0;
}

/* The ranking on two threads: the caller's (main) and a helper of the finish's own, when
 * the ingest may use one (without, the caller does both columns in turn):
 *   main                                      helper
 *   part 0's keys                             part 1's keys
 *   the parts joined, part 0's keys sorted    part 1's keys sorted
 *   the first half of the ranking merged      its second half merged (from the end)
 *   the keys given back, the pass             the moves planned
 * Each waits for what it reads (wait_step). The keys are given back before the pass
 * starts (by main: a helper held up would keep them beside the growing store). The plan
 * runs beside the pass's first half, where the run holds the least, and main waits for
 * it (plan_wait) halfway, so that its src array (4 bytes a pin) is given back before the
 * pass's high point (its third quarter, with 10 M rows 1-2 MiB above its end). Results
 * are the same either way: the sort of each part, the merge and the plan do not depend
 * on who does them, and the pass is main's alone (the store's puts are most of it;
 * shared, the two threads' page faults and give-backs of one address space cost more
 * than it saved). */
enum { STEP_KEYS = 1, STEP_SORTED, STEP_MERGED, STEP_PLANNED };

static int join_parts(struct imei_replay *r);

struct finish {
	struct imei_replay *r;
	struct rank_key *key;
	uint32_t *src, *seq;
	size_t n, n0, nseq;
	uint64_t idents[FOLD_PARTS], imsis[FOLD_PARTS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned main_at, help_at; /* the last step each has done */
	bool abort;                /* main gave up: the helper ends at its next wait */
	bool started;
	pthread_t thread;
};

static void step_done(struct finish *f, unsigned *at, unsigned step)
{
	pthread_mutex_lock(&f->lock);
	*at = step;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Wait until *at reaches step (false: main gave up first). */
static bool wait_step(struct finish *f, const unsigned *at, unsigned step)
{
	pthread_mutex_lock(&f->lock);
	while (*at < step && !f->abort)
		pthread_cond_wait(&f->cond, &f->lock);
	bool ok = *at >= step;
	pthread_mutex_unlock(&f->lock);
	return ok;
}

static void *finish_helper(void *arg)
{
	struct finish *f = arg;
	struct imei_replay *r = f->r;
	size_t n0 = f->n0, n = f->n;
	take_keys(&r->parts[1], f->key + n0, n0, &f->idents[1], &f->imsis[1]);
	step_done(f, &f->help_at, STEP_KEYS);
	if (!wait_step(f, &f->main_at, STEP_KEYS))
		return NULL;
	sort_keys(f->key + n0, n - n0, 64 - RADIX_BITS);
	step_done(f, &f->help_at, STEP_SORTED);
	if (!wait_step(f, &f->main_at, STEP_SORTED))
		return NULL;
	merge_back(f->key, n0, f->key + n0, n - n0, f->src, n - n / 2);
	step_done(f, &f->help_at, STEP_MERGED);
	if (!wait_step(f, &f->main_at, STEP_MERGED))
		return NULL;
	f->nseq = plan_moves(f->src, n, f->seq);
	free(f->src);
	f->src = NULL;
	step_done(f, &f->help_at, STEP_PLANNED);
	return NULL;
}

/* The plan done (by the helper, when it runs): its src is given back. */
static void plan_wait(struct finish *f)
{
	if (f->started)
		wait_step(f, &f->help_at, STEP_PLANNED);
}

/* The helper ended (told to, when main gives up) and joined. */
static void helper_end(struct finish *f, bool give_up)
{
	if (!f->started)
		return;
	if (give_up) {
		pthread_mutex_lock(&f->lock);
		f->abort = true;
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
	}
	pthread_join(f->thread, NULL);
	f->started = false;
}

static void finish_free(struct finish *f)
{
	helper_end(f, true);
	big_free(f->key, f->n * sizeof *f->key);
	free(f->src);
	free(f->seq);
	f->key = NULL;
	f->src = f->seq = NULL;
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
}

/* The ranking in f->src: keys taken, each part's sorted, merged (the helper's halves
 * where it runs). -1: out of memory. */
static int rank(struct finish *f)
{
	struct imei_replay *r = f->r;
	size_t n0 = f->n0, n = f->n;
	if (f->key) {
		take_keys(&r->parts[0], f->key, 0, &f->idents[0], &f->imsis[0]);
		if (!f->started)
			take_keys(&r->parts[1], f->key + n0, n0, &f->idents[1], &f->imsis[1]);
		else
			wait_step(f, &f->help_at, STEP_KEYS);
	}
	if (!f->key || (f->idents[0] | f->idents[1]) >> KEY_IDENT_BITS || (f->imsis[0] | f->imsis[1]) >> KEY_IMSI_BITS) {
		helper_end(f, true);
		big_free(f->key, n * sizeof *f->key);
		f->key = NULL;
		return rank_wide(r->parts, n0, n, f->src) < 0 || join_parts(r) < 0 ? -1 : 0;
	}
	step_done(f, &f->main_at, STEP_KEYS);
	/* the helper read part 1's pins: they may move */
	if (join_parts(r) < 0)
		return -1;
	if (!f->started) { /* one thread: all the keys sorted at once, nothing to merge */
		sort_keys(f->key, n, 64 - RADIX_BITS);
		for (size_t i = 0; i < n; i++)
			f->src[i] = key_at(&f->key[i]);
		big_free(f->key, n * sizeof *f->key);
		f->key = NULL;
		return 0;
	}
	sort_keys(f->key, n0, 64 - RADIX_BITS);
	step_done(f, &f->main_at, STEP_SORTED);
	wait_step(f, &f->help_at, STEP_SORTED);
	merge_front(f->key, n0, f->key + n0, n - n0, f->src, n / 2);
	wait_step(f, &f->help_at, STEP_MERGED);
	big_free(f->key, n * sizeof *f->key); /* here, before the pass grows the store */
	f->key = NULL;
	step_done(f, &f->main_at, STEP_MERGED);
	return 0;
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

#define MOVE_AHEAD 32 /* moves ahead whose pair is prefetched */

/* The pairs moved into their order, in place, along the cycles planned in seq[0..n)
 * (plan_moves): each pair moves once, and the one it goes from is known that many moves
 * ahead, so that their cache misses overlap. */
static void permute(struct imei_replay_pair *pairs, const uint32_t *seq, size_t n)
{
	for (size_t t = 0; t < n;) {
		uint32_t to = seq[t] & ~CYCLE_START;
		struct imei_replay_pair first = pairs[to];
		for (t++; t < n && !(seq[t] & CYCLE_START); t++) {
			if (t + MOVE_AHEAD < n) {
				const char *ahead = (const char *)&pairs[seq[t + MOVE_AHEAD] & ~CYCLE_START];
				__builtin_prefetch(ahead);
				__builtin_prefetch(ahead + sizeof *pairs - 1);
			}
			pairs[to] = pairs[seq[t]];
			to = seq[t];
		}
		pairs[to] = first;
	}
}

/* The parts' pins become r->pairs, sorted by device then IMSI, and a private store gets
 * their triples' aggregates (see the top of this file). */
static int take_pins(struct imei_replay *r, char *err, size_t errlen)
{
	size_t n = 0, n0 = r->parts[0].n;
	for (size_t k = 0; k < FOLD_PARTS; k++) {
		index_free(r->parts[k].slots, r->parts[k].nslots);
		r->parts[k].slots = NULL;
		r->parts[k].nslots = 0;
		n += r->parts[k].n;
	}
	if (!n)
		return 0;
	if (n > RUN_PAIRS_MAX) {
		snprintf(err, errlen, "replay: %zu pairs: at most %zu in one run", n, RUN_PAIRS_MAX);
		return -1;
	}
	struct finish f = { .r = r, .n = n, .n0 = n0 };
	if (pthread_mutex_init(&f.lock, NULL) != 0) {
		snprintf(err, errlen, "replay: out of memory sorting %zu pairs", n);
		return -1;
	}
	if (pthread_cond_init(&f.cond, NULL) != 0) {
		pthread_mutex_destroy(&f.lock);
		snprintf(err, errlen, "replay: out of memory sorting %zu pairs", n);
		return -1;
	}
	f.src = malloc(n * sizeof *f.src);
	f.seq = malloc(n * sizeof *f.seq);
	bool keys = n <= KEY_AT_MASK + 1; /* else ranked by rank_wide */
	if (f.src && f.seq && keys)
		f.key = big_alloc(n * sizeof *f.key, false);
	if (f.key && r->cfg.reader_thread && r->nreaders > 1)
		f.started = pthread_create(&f.thread, NULL, finish_helper, &f) == 0;
	if (!f.src || !f.seq || (keys && !f.key) || rank(&f) < 0) {
		finish_free(&f);
		snprintf(err, errlen, "replay: out of memory sorting %zu pairs", n);
		return -1;
	}
	if (!f.started) {
		f.nseq = plan_moves(f.src, n, f.seq);
		free(f.src);
		f.src = NULL;
	}
	struct imei_store_error se;
	int put = pins_to_pairs(r, n0, &f, &se);
	helper_end(&f, put < 0);
	struct fold_part *fp = &r->parts[0];
	if (put < 0) {
		finish_free(&f);
		fp->n = 0; /* pins and pairs mixed: the mapping is only to be freed, with the parts */
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return -1;
	}
	struct imei_replay_pair *pairs = (struct imei_replay_pair *)(void *)fp->pins;
	permute(pairs, f.seq, f.nseq);
	finish_free(&f);
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
