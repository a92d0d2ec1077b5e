/*
 * sightings_mem.c — the in-memory sightings backend: for tests, batch jobs and replays.
 *
 * Aggregates (sightings_agg.c) live in 48-byte records, packed (a key fits in 47 bits,
 * an encoded IMSI in 51), in chunks of one 2 MiB huge page each, so that random access
 * costs no TLB misses where the kernel grants transparent huge pages (madvise). The last
 * chunk is only as large as its records need: it grows from small by doubling, or is
 * sized exactly by reserve (imei_store_reserve), and is never a huge page that it would
 * fill only in part. One open-addressing index (linear probing, load <= 3/4) of 32-bit
 * slots — a 28-bit record id and 4 hash bits to skip most wrong records unread — finds
 * them: a device's first record (its "head") is indexed by the key alone, every other by
 * (key, IMSI, MSISDN); the records of one key are chained from the head. So a record is
 * one probe for most devices, two for a clone, and all records of a key are one chain
 * walk. The index has any number of slots, not only a power of two (a hash's top 32 bits
 * times the slot count, shifted: Lemire's range reduction), so reserve sizes it to 4/3 of
 * what it will hold; growing one by one doubles it. Pairings are a second, small table.
 * Per aggregate: 48 bytes + 5.3 bytes of index when reserved (to 10.7 grown).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "imei_sightings.h"

#define HUGE_PAGE ((size_t)2 << 20)
#define CHUNK (HUGE_PAGE / 48) /* records per chunk: 43690, one huge page */
#define FIRST_CHUNK 1024        /* the last chunk starts this small and doubles up to CHUNK */
#define MIN_SLOTS 1024
#define PAGE 4096
#define PREFETCH 8              /* record_many looks this far ahead */
#define ID_BITS 28
#define ID_MASK ((1u << ID_BITS) - 1)
#define MAX_RECORDS ((size_t)ID_MASK) /* ids 0 .. ID_MASK-1; all ones means empty */
#define EMPTY 0xFFFFFFFFu
#define NO_NEXT 0xFFFFFFFFu
#define KEY_BITS 47
#define KEY_MASK ((1ULL << KEY_BITS) - 1)
#define HEAD_BIT (1ULL << 63)
#define IMSI_BITS 51
#define IMSI_MASK ((1ULL << IMSI_BITS) - 1)
#define PAIR_EMPTY UINT64_MAX

struct mrec {
	uint64_t kw;     /* key | days seen << 47 | head << 63 */
	uint64_t iw;     /* IMSI | RATs << 51 */
	uint64_t msisdn;
	uint64_t days;
	uint32_t first, last, op, next;
};
_Static_assert(sizeof(struct mrec) == 48, "a memory record is 48 bytes");

struct mpair {
	uint64_t key, imsi, msisdn; /* key PAIR_EMPTY: a free slot */
};

struct mem {
	struct mrec **chunks; /* each CHUNK records but the last */
	size_t nchunks, chunks_cap;
	size_t last_cap; /* records the last chunk has room for */
	size_t n;        /* records */
	size_t keys;     /* head records */
	uint32_t *slots; /* index */
	size_t nslots;
	struct mpair *pairs;
	size_t pmask, npairs;
	uint64_t recorded;
	bool read_only;
};

struct mem_iter {
	enum imei_iter_kind kind;
	size_t pos;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_key(uint64_t key)
{
	return mix64(key ^ 0x9e3779b97f4a7c15ULL);
}

static uint64_t hash_triple(uint64_t key, uint64_t imsi, uint64_t msisdn)
{
	return mix64(key ^ mix64(imsi ^ mix64(msisdn + 0x632be59bd9b4e019ULL)));
}

static struct mrec *rec(const struct mem *m, uint32_t id)
{
	return &m->chunks[id / CHUNK][id % CHUNK];
}

/* size bytes, its whole 2 MiB stretches on huge pages (a hint the kernel may ignore);
 * the rest on small pages, so that a tail is never a huge page used in part. */
static void *alloc_big(size_t size)
{
	void *p = NULL;
	size_t huge = (size + PAGE - 1) / PAGE * PAGE / HUGE_PAGE * HUGE_PAGE;
	if (!huge)
		return malloc(size);
	if (posix_memalign(&p, HUGE_PAGE, size) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	madvise(p, huge, MADV_HUGEPAGE);
#endif
	return p;
}

static uint64_t rkey(const struct mrec *r)
{
	return r->kw & KEY_MASK;
}

static bool is_head(const struct mrec *r)
{
	return (r->kw & HEAD_BIT) != 0;
}

static void to_agg(const struct mrec *r, struct imei_sighting_agg *a)
{
	a->key = rkey(r);
	a->ndays = (uint16_t)(r->kw >> KEY_BITS & 0xFFFF);
	a->imsi = r->iw & IMSI_MASK;
	a->rats = (uint16_t)(r->iw >> IMSI_BITS);
	a->msisdn = r->msisdn;
	a->days = r->days;
	a->first = r->first;
	a->last = r->last;
	a->op = r->op;
}

static void from_agg(struct mrec *r, const struct imei_sighting_agg *a, bool head)
{
	r->kw = a->key | (uint64_t)a->ndays << KEY_BITS | (head ? HEAD_BIT : 0);
	r->iw = a->imsi | (uint64_t)a->rats << IMSI_BITS;
	r->msisdn = a->msisdn;
	r->days = a->days;
	r->first = a->first;
	r->last = a->last;
	r->op = a->op;
}

/* A hash's slot: its top 32 bits scaled to [0, nslots) (Lemire's range reduction; no
 * power of two needed), and its 4 tag bits taken from elsewhere (bits 28..31). */
static size_t home_of(uint64_t h, size_t nslots)
{
	return (size_t)((h >> 32) * (uint64_t)nslots >> 32);
}

static uint32_t tag_of(uint64_t h)
{
	return (uint32_t)h >> 28;
}

static size_t next_slot(size_t i, size_t nslots)
{
	return i + 1 == nslots ? 0 : i + 1;
}

static uint32_t slot_of(uint64_t h, size_t id)
{
	return tag_of(h) << ID_BITS | (uint32_t)id;
}

static void index_put(uint32_t *slots, size_t nslots, uint64_t h, size_t id)
{
	size_t i = home_of(h, nslots);
	while (slots[i] != EMPTY)
		i = next_slot(i, nslots);
	slots[i] = slot_of(h, id);
}

/* Index slots for n records at load <= 3/4. */
static size_t slots_for(size_t n)
{
	size_t s = n / 3 * 4 + (n % 3 * 4 + 2) / 3;
	return s < MIN_SLOTS ? MIN_SLOTS : s;
}

static uint64_t home_hash(const struct mrec *r)
{
	return is_head(r) ? hash_key(rkey(r)) : hash_triple(rkey(r), r->iw & IMSI_MASK, r->msisdn);
}

static int index_resize(struct mem *m, size_t cap, struct imei_store_error *err)
{
	uint32_t *slots = alloc_big(cap * sizeof *slots);
	if (!slots)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory for an index of %zu slots",
		                       cap);
	memset(slots, 0xFF, cap * sizeof *slots);
	for (size_t id = 0; id < m->n; id++)
		index_put(slots, cap, home_hash(rec(m, (uint32_t)id)), id);
	free(m->slots);
	m->slots = slots;
	m->nslots = cap;
	return 0;
}

/* The head record of key, or EMPTY. */
static uint32_t find_head(const struct mem *m, uint64_t key)
{
	uint64_t h = hash_key(key);
	uint32_t tag = tag_of(h);
	for (size_t i = home_of(h, m->nslots);; i = next_slot(i, m->nslots)) {
		uint32_t s = m->slots[i];
		if (s == EMPTY)
			return EMPTY;
		if (s >> ID_BITS != tag)
			continue;
		const struct mrec *r = rec(m, s & ID_MASK);
		if (is_head(r) && rkey(r) == key)
			return s & ID_MASK;
	}
}

static uint32_t find_other(const struct mem *m, uint64_t key, uint64_t imsi, uint64_t msisdn)
{
	uint64_t h = hash_triple(key, imsi, msisdn);
	uint32_t tag = tag_of(h);
	for (size_t i = home_of(h, m->nslots);; i = next_slot(i, m->nslots)) {
		uint32_t s = m->slots[i];
		if (s == EMPTY)
			return EMPTY;
		if (s >> ID_BITS != tag)
			continue;
		const struct mrec *r = rec(m, s & ID_MASK);
		if (!is_head(r) && rkey(r) == key && (r->iw & IMSI_MASK) == imsi && r->msisdn == msisdn)
			return s & ID_MASK;
	}
}

/* Records the chunks have room for. */
static size_t rec_cap(const struct mem *m)
{
	return m->nchunks ? (m->nchunks - 1) * CHUNK + m->last_cap : 0;
}

/* The last chunk grown to cap records (<= CHUNK): a full one moves onto a huge page. */
static int grow_last(struct mem *m, size_t cap, struct imei_store_error *err)
{
	struct mrec *old = m->chunks[m->nchunks - 1], *c;
	if (cap == CHUNK) {
		c = alloc_big(CHUNK * sizeof *c);
		if (c) {
			memcpy(c, old, m->last_cap * sizeof *c);
			free(old);
		}
	} else {
		c = realloc(old, cap * sizeof *c);
	}
	if (!c)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory for %zu aggregates",
		                       rec_cap(m) - m->last_cap + cap);
	m->chunks[m->nchunks - 1] = c;
	m->last_cap = cap;
	return 0;
}

/* A new last chunk of cap records (the one before it full). */
static int add_chunk(struct mem *m, size_t cap, struct imei_store_error *err)
{
	if (m->nchunks == m->chunks_cap) {
		size_t ncap = m->chunks_cap * 2;
		struct mrec **chunks = realloc(m->chunks, ncap * sizeof *chunks);
		if (!chunks)
			return imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory");
		m->chunks = chunks;
		m->chunks_cap = ncap;
	}
	struct mrec *c = cap == CHUNK ? alloc_big(CHUNK * sizeof *c) : malloc(cap * sizeof *c);
	if (!c)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory for %zu aggregates",
		                       rec_cap(m) + cap);
	m->chunks[m->nchunks++] = c;
	m->last_cap = cap;
	return 0;
}

/* Room for want records in all. exact: chunks of just that room (the last one sized to
 * what is left); else the last chunk doubles (from FIRST_CHUNK) up to a full one. */
static int room_for(struct mem *m, size_t want, bool exact, struct imei_store_error *err)
{
	while (rec_cap(m) < want) {
		size_t base = m->nchunks ? (m->nchunks - 1) * CHUNK : 0;
		size_t cap = exact ? want - base : (m->last_cap ? m->last_cap * 2 : FIRST_CHUNK);
		if (m->nchunks && m->last_cap < CHUNK) {
			if (grow_last(m, cap < CHUNK ? cap : CHUNK, err) < 0)
				return -1;
			continue;
		}
		if (!exact)
			cap = FIRST_CHUNK; /* a chunk after a full one starts small too */
		else if (m->nchunks)
			cap = want - base - CHUNK;
		if (add_chunk(m, cap < CHUNK ? cap : CHUNK, err) < 0)
			return -1;
	}
	return 0;
}

/* Room for one more record: a chunk and index space. The new id is m->n. */
static int reserve(struct mem *m, struct imei_store_error *err)
{
	if (m->n >= MAX_RECORDS)
		return imei_store_fail(err, IMEI_STORE_EFULL, "memory store: full at %zu aggregates", m->n);
	if ((m->n + 1) * 4 > m->nslots * 3 && index_resize(m, m->nslots * 2, err) < 0)
		return -1;
	return room_for(m, m->n + 1, false, err);
}

/* Room for n more records at once: the index sized to hold them all at load <= 3/4 (no
 * rebuild while they come) and chunks for exactly them. */
static int mem_reserve(void *be, size_t n, struct imei_store_error *err)
{
	struct mem *m = be;
	if (m->read_only)
		return imei_store_fail(err, IMEI_STORE_EREADONLY, "memory store: opened read-only");
	if (n > MAX_RECORDS - m->n)
		return imei_store_fail(err, IMEI_STORE_EFULL,
		                       "memory store: no room for %zu more aggregates (%zu held, at most %zu)", n, m->n,
		                       MAX_RECORDS);
	size_t want = m->n + n, slots = slots_for(want);
	if (slots > m->nslots && index_resize(m, slots, err) < 0)
		return -1;
	return room_for(m, want, true, err);
}

/* A new record for aggregate a (its triple not in the store): chained after the key's
 * head, or the head itself. */
static int insert_rec(struct mem *m, const struct imei_sighting_agg *a, uint32_t head, struct imei_store_error *err)
{
	if (reserve(m, err) < 0)
		return -1;
	/* reserve() may have rebuilt the index; head ids stay valid */
	size_t nid = m->n++;
	struct mrec *r = rec(m, (uint32_t)nid);
	from_agg(r, a, head == EMPTY);
	if (head == EMPTY) {
		r->next = NO_NEXT;
		index_put(m->slots, m->nslots, hash_key(a->key), nid);
		m->keys++;
	} else {
		struct mrec *h = rec(m, head);
		r->next = h->next;
		h->next = (uint32_t)nid;
		index_put(m->slots, m->nslots, hash_triple(a->key, a->imsi, a->msisdn), nid);
	}
	return 0;
}

static int mem_record(void *be, const struct imei_sighting *s, struct imei_store_error *err)
{
	struct mem *m = be;
	struct imei_sighting_agg a;
	if (m->read_only)
		return imei_store_fail(err, IMEI_STORE_EREADONLY, "memory store: opened read-only");
	uint32_t head = find_head(m, s->key);
	uint32_t id = EMPTY;
	if (head != EMPTY) {
		struct mrec *h = rec(m, head);
		if ((h->iw & IMSI_MASK) == s->imsi && h->msisdn == s->msisdn)
			id = head;
		else
			id = find_other(m, s->key, s->imsi, s->msisdn);
	}
	if (id != EMPTY) {
		struct mrec *r = rec(m, id);
		to_agg(r, &a);
		imei_agg_apply(&a, s);
		uint32_t next = r->next;
		from_agg(r, &a, id == head);
		r->next = next;
		m->recorded++;
		return 0;
	}
	imei_agg_init(&a, s);
	if (insert_rec(m, &a, head, err) < 0)
		return -1;
	m->recorded++;
	return 0;
}

/* Put a whole aggregate (a snapshot being restored): it replaces the triple's. head: its
 * key's head record, or EMPTY when the key has none. Returns the key's head after (the
 * new record when it is the first), or EMPTY with err. */
static uint32_t put_agg(struct mem *m, const struct imei_sighting_agg *a, uint32_t head,
                        struct imei_store_error *err)
{
	uint32_t id = EMPTY;
	if (head != EMPTY) {
		const struct mrec *h = rec(m, head);
		id = (h->iw & IMSI_MASK) == a->imsi && h->msisdn == a->msisdn ? head
		                                                               : find_other(m, a->key, a->imsi, a->msisdn);
	}
	if (id != EMPTY) {
		struct mrec *r = rec(m, id);
		uint32_t next = r->next;
		from_agg(r, a, id == head);
		r->next = next;
		return head;
	}
	if (insert_rec(m, a, head, err) < 0)
		return EMPTY;
	return head != EMPTY ? head : (uint32_t)(m->n - 1);
}

/* For a batch: the index slot of a key far ahead, and the record the slot of a key nearer
 * ahead names (its slot fetched by then), so that the cache misses of several overlap.
 * NULL: none that far. write: the record is about to be written (else only read: a line
 * other threads share stays shared). */
/* Inlined always: GCC takes a function that only prefetches for one without effects (a
 * "const" function, IPA pure-const) and deletes its calls, prefetches and all. */
#define PREFETCHER static inline __attribute__((always_inline)) void

PREFETCHER prefetch_ahead(const struct mem *m, const uint64_t *far, const uint64_t *near, bool write)
{
	if (far)
		__builtin_prefetch(&m->slots[home_of(hash_key(*far), m->nslots)]);
	if (near) {
		uint32_t slot = m->slots[home_of(hash_key(*near), m->nslots)];
		if (slot == EMPTY)
			return;
		if (write)
			__builtin_prefetch(rec(m, slot & ID_MASK), 1);
		else
			__builtin_prefetch(rec(m, slot & ID_MASK), 0);
	}
}

/* imei_store_prefetch: the store is frozen (nothing moves under it). */
static void mem_prefetch(void *be, uint64_t far, uint64_t near)
{
	const struct mem *m = be;
	prefetch_ahead(m, imei_sight_key_ok(far) ? &far : NULL, imei_sight_key_ok(near) ? &near : NULL, false);
}

/* put_aggs' look-ahead: an aggregate's index slot PREFETCH ahead — its key's, or, when
 * it follows another of its key (that key's head then known), its triple's — and the head
 * record of a new key PREFETCH / 2 ahead. */
PREFETCHER prefetch_put(const struct mem *m, const struct imei_sighting_agg *a, size_t n, size_t i)
{
	size_t f = i + PREFETCH, k = i + PREFETCH / 2;
	if (f < n) {
		const struct imei_sighting_agg *x = &a[f];
		uint64_t h = x->key == a[f - 1].key ? hash_triple(x->key, x->imsi, x->msisdn) : hash_key(x->key);
		__builtin_prefetch(&m->slots[home_of(h, m->nslots)]);
	}
	if (k < n && a[k].key != a[k - 1].key)
		prefetch_ahead(m, NULL, &a[k].key, true);
}

/* Many aggregates: the same as one by one, with cache misses overlapped (prefetch_put)
 * and the key's head looked up once for a run of aggregates of one key (a device's
 * triples come together). Room is made as they come (no guess: a put may replace); a
 * caller who knows how many are new reserves first (mem_reserve). */
static int mem_put_aggs(void *be, const struct imei_sighting_agg *a, size_t n, struct imei_store_error *err)
{
	struct mem *m = be;
	if (m->read_only)
		return imei_store_fail(err, IMEI_STORE_EREADONLY, "memory store: opened read-only");
	uint32_t head = EMPTY;
	for (size_t i = 0; i < n; i++) {
		prefetch_put(m, a, n, i);
		if (i == 0 || a[i].key != a[i - 1].key)
			head = find_head(m, a[i].key);
		if ((head = put_agg(m, &a[i], head, err)) == EMPTY)
			return -1;
	}
	return 0;
}

/* Many sightings: the same as one by one, with the index slot of a sighting a few ahead
 * prefetched, and the record it names, so that the cache misses overlap. */
static int mem_record_many(void *be, const struct imei_sighting *s, size_t n, size_t *done,
                           struct imei_store_error *err)
{
	struct mem *m = be;
	for (size_t i = 0; i < n; i++) {
		prefetch_ahead(m, i + PREFETCH < n ? &s[i + PREFETCH].key : NULL,
		               i + PREFETCH / 2 < n ? &s[i + PREFETCH / 2].key : NULL, true);
		if (mem_record(m, &s[i], err) < 0) {
			*done = i;
			return -1;
		}
	}
	*done = n;
	return 0;
}

static int mem_flush(void *be, struct imei_store_error *err)
{
	(void)be;
	(void)err;
	return 0;
}

static int mem_fetch(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err)
{
	struct mem *m = be;
	struct imei_sighting_agg a;
	for (uint32_t id = find_head(m, key); id != NO_NEXT && id != EMPTY; id = rec(m, id)->next) {
		to_agg(rec(m, id), &a);
		if (!imei_agg_buf_push(out, &a))
			return imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory");
	}
	return 0;
}

/* ---- pairings: linear probing on the key, backward-shift deletion ---------------- */

static size_t pair_home(const struct mem *m, uint64_t key)
{
	return (size_t)hash_key(key) & m->pmask;
}

static size_t pair_find(const struct mem *m, uint64_t key, uint64_t imsi)
{
	for (size_t i = pair_home(m, key);; i = (i + 1) & m->pmask) {
		if (m->pairs[i].key == PAIR_EMPTY)
			return i;
		if (m->pairs[i].key == key && m->pairs[i].imsi == imsi)
			return i;
	}
}

static int pairs_resize(struct mem *m, size_t cap, struct imei_store_error *err)
{
	struct mpair *p = malloc(cap * sizeof *p), *old = m->pairs;
	size_t oldcap = old ? m->pmask + 1 : 0;
	if (!p)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory for %zu pairings", cap);
	for (size_t i = 0; i < cap; i++)
		p[i].key = PAIR_EMPTY;
	m->pairs = p;
	m->pmask = cap - 1;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key != PAIR_EMPTY)
			m->pairs[pair_find(m, old[i].key, old[i].imsi)] = old[i];
	free(old);
	return 0;
}

static int mem_pair(void *be, const struct imei_pairing *p, struct imei_store_error *err)
{
	struct mem *m = be;
	if (m->read_only)
		return imei_store_fail(err, IMEI_STORE_EREADONLY, "memory store: opened read-only");
	size_t i = pair_find(m, p->key, p->imsi);
	if (m->pairs[i].key != PAIR_EMPTY) {
		m->pairs[i].msisdn = p->msisdn;
		return 0;
	}
	if ((m->npairs + 1) * 2 > m->pmask + 1) {
		if (pairs_resize(m, (m->pmask + 1) * 2, err) < 0)
			return -1;
		i = pair_find(m, p->key, p->imsi);
	}
	m->pairs[i].key = p->key;
	m->pairs[i].imsi = p->imsi;
	m->pairs[i].msisdn = p->msisdn;
	m->npairs++;
	return 1;
}

static int mem_unpair(void *be, uint64_t key, uint64_t imsi, struct imei_store_error *err)
{
	struct mem *m = be;
	if (m->read_only)
		return imei_store_fail(err, IMEI_STORE_EREADONLY, "memory store: opened read-only");
	size_t i = pair_find(m, key, imsi);
	if (m->pairs[i].key == PAIR_EMPTY)
		return 0;
	/* backward-shift deletion keeps every probe sequence unbroken */
	for (size_t j = i;;) {
		j = (j + 1) & m->pmask;
		if (m->pairs[j].key == PAIR_EMPTY)
			break;
		size_t k = pair_home(m, m->pairs[j].key);
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (!stays) {
			m->pairs[i] = m->pairs[j];
			i = j;
		}
	}
	m->pairs[i].key = PAIR_EMPTY;
	m->npairs--;
	return 1;
}

static int mem_is_paired(void *be, uint64_t key, uint64_t imsi, uint64_t *msisdn, struct imei_store_error *err)
{
	struct mem *m = be;
	(void)err;
	size_t i = pair_find(m, key, imsi);
	if (m->pairs[i].key == PAIR_EMPTY)
		return 0;
	if (msisdn)
		*msisdn = m->pairs[i].msisdn;
	return 1;
}

static int mem_pairs_of(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err)
{
	struct mem *m = be;
	struct imei_sighting_agg a;
	memset(&a, 0, sizeof a);
	for (size_t i = pair_home(m, key); m->pairs[i].key != PAIR_EMPTY; i = (i + 1) & m->pmask) {
		if (m->pairs[i].key != key)
			continue;
		a.key = key;
		a.imsi = m->pairs[i].imsi;
		a.msisdn = m->pairs[i].msisdn;
		if (!imei_agg_buf_push(out, &a))
			return imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory");
	}
	return 0;
}

static int mem_stats(void *be, struct imei_store_stats *out, struct imei_store_error *err)
{
	struct mem *m = be;
	(void)err;
	out->aggregates = m->n;
	out->keys = m->keys;
	out->pairings = m->npairs;
	out->recorded = m->recorded;
	out->committed = m->recorded;
	out->pending = 0;
	out->bytes = sizeof *m + rec_cap(m) * sizeof(struct mrec) + m->chunks_cap * sizeof(struct mrec *) +
	             m->nslots * sizeof(uint32_t) + (m->pmask + 1) * sizeof(struct mpair);
	return 0;
}

static int mem_check(void *be, struct imei_store_error *err)
{
	struct mem *m = be;
	struct imei_sighting_agg a;
	const char *why = "";
	size_t heads = 0, chained = 0, used = 0;
	for (size_t i = 0; i < m->nslots; i++)
		used += m->slots[i] != EMPTY;
	if (used != m->n)
		return imei_store_fail(err, IMEI_STORE_ECORRUPT, "memory store: index holds %zu records, not %zu", used,
		                       m->n);
	for (size_t id = 0; id < m->n; id++) {
		const struct mrec *r = rec(m, (uint32_t)id);
		to_agg(r, &a);
		if (!imei_agg_valid(&a, &why))
			return imei_store_fail(err, IMEI_STORE_ECORRUPT, "memory store: record %zu: %s", id, why);
		uint32_t found = is_head(r) ? find_head(m, a.key) : find_other(m, a.key, a.imsi, a.msisdn);
		if (found != id)
			return imei_store_fail(err, IMEI_STORE_ECORRUPT, "memory store: record %zu not found by its key", id);
		if (!is_head(r))
			continue;
		heads++;
		for (uint32_t c = (uint32_t)id; c != NO_NEXT; c = rec(m, c)->next) {
			if (c >= m->n || rkey(rec(m, c)) != a.key || ++chained > m->n)
				return imei_store_fail(err, IMEI_STORE_ECORRUPT, "memory store: broken chain of record %zu",
				                       id);
		}
	}
	if (heads != m->keys || chained != m->n)
		return imei_store_fail(err, IMEI_STORE_ECORRUPT,
		                       "memory store: %zu keys and %zu chained records, expected %zu and %zu", heads,
		                       chained, m->keys, m->n);
	size_t np = 0;
	for (size_t i = 0; i <= m->pmask; i++)
		if (m->pairs[i].key != PAIR_EMPTY) {
			np++;
			if (pair_find(m, m->pairs[i].key, m->pairs[i].imsi) != i)
				return imei_store_fail(err, IMEI_STORE_ECORRUPT, "memory store: pairing slot %zu unreachable",
				                       i);
		}
	if (np != m->npairs)
		return imei_store_fail(err, IMEI_STORE_ECORRUPT, "memory store: %zu pairings, expected %zu", np,
		                       m->npairs);
	return 0;
}

static void *mem_iter_open(void *be, enum imei_iter_kind kind, struct imei_store_error *err)
{
	(void)be;
	struct mem_iter *it = malloc(sizeof *it);
	if (!it) {
		imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory");
		return NULL;
	}
	it->kind = kind;
	it->pos = 0;
	return it;
}

static int mem_iter_next(void *be, void *itp, struct imei_sighting_agg *out, struct imei_store_error *err)
{
	struct mem *m = be;
	struct mem_iter *it = itp;
	(void)err;
	if (it->kind == IMEI_ITER_PAIRINGS) {
		for (; it->pos <= m->pmask; it->pos++) {
			const struct mpair *p = &m->pairs[it->pos];
			if (p->key != PAIR_EMPTY) {
				memset(out, 0, sizeof *out);
				out->key = p->key;
				out->imsi = p->imsi;
				out->msisdn = p->msisdn;
				it->pos++;
				return 1;
			}
		}
		return 0;
	}
	for (; it->pos < m->n; it->pos++) {
		const struct mrec *r = rec(m, (uint32_t)it->pos);
		if (it->kind == IMEI_ITER_KEYS && !is_head(r))
			continue;
		to_agg(r, out);
		it->pos++;
		return 1;
	}
	return 0;
}

static void mem_iter_close(void *be, void *it)
{
	(void)be;
	free(it);
}

static void mem_close(void *be)
{
	struct mem *m = be;
	for (size_t i = 0; i < m->nchunks; i++)
		free(m->chunks[i]);
	free(m->chunks);
	free(m->slots);
	free(m->pairs);
	free(m);
}

void *imei_store_mem_open(const struct imei_store_opts *opts, struct imei_store_error *err)
{
	struct mem *m = calloc(1, sizeof *m);
	if (!m) {
		imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory");
		return NULL;
	}
	size_t want = opts && opts->capacity ? opts->capacity : 0;
	if (want > MAX_RECORDS)
		want = MAX_RECORDS;
	m->read_only = opts && opts->read_only;
	m->chunks = malloc(16 * sizeof *m->chunks);
	m->chunks_cap = 16;
	if (!m->chunks) {
		free(m);
		imei_store_fail(err, IMEI_STORE_ENOMEM, "memory store: out of memory");
		return NULL;
	}
	/* the index and the chunks sized for the capacity asked for (reserve) */
	if (index_resize(m, slots_for(want), err) < 0 || pairs_resize(m, 64, err) < 0 ||
	    (want && room_for(m, want, true, err) < 0)) {
		mem_close(m);
		return NULL;
	}
	return m;
}

const struct imei_store_ops imei_store_mem_ops = {
	.name = "memory",
	.record = mem_record,
	.record_many = mem_record_many,
	.flush = mem_flush,
	.fetch = mem_fetch,
	.pair = mem_pair,
	.unpair = mem_unpair,
	.is_paired = mem_is_paired,
	.pairs_of = mem_pairs_of,
	.stats = mem_stats,
	.check = mem_check,
	.iter_open = mem_iter_open,
	.iter_next = mem_iter_next,
	.iter_close = mem_iter_close,
	.close = mem_close,
	.put_aggs = mem_put_aggs,
	.reserve = mem_reserve,
	.prefetch = mem_prefetch,
	.iter_needs_lock = true,
};
