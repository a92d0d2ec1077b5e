/*
 * sightings_lmdb.c — the persistent sightings backend on LMDB (Debian liblmdb-dev): the
 * default store (docs/sightings.md). PATH is an LMDB environment directory (data.mdb, lock.mdb)
 * that many processes may open at once; LMDB itself is crash-safe (copy-on-write pages,
 * a commit is atomic and fsync'd).
 *
 * Layout: three named databases — "sightings" (24-byte key -> aggregate, see
 * sightings_wire.c), "pairings" (key+IMSI -> MSISDN) and "meta" ("format" =
 * "imei-sightings/1"; "counters" = committed sightings, aggregates, keys, pairings).
 *
 * Batching: record(), pair() and unpair() queue in memory; flush() (or a full queue)
 * commits the queue in ONE write transaction: sightings grouped by (key, IMSI, MSISDN) so
 * each aggregate is read and written once, its sightings applied in the order they were
 * recorded — the same merge as the memory backend — then pairing changes, the last one
 * of a pair winning. flush() returning 0 is the acknowledgement: all that was queued
 * before it is durable. Queries read a pooled read transaction (MDB_NOTLS: not tied to a
 * thread) and apply the queued entries of the key on top, so they see everything. The
 * store's lock (sightings.c) keeps queue and commit consistent with queries.
 *
 * LMDB forbids opening one environment twice in a process; an open-file-description lock
 * on byte <pid> of PATH/imei.lock detects that (no process-global table needed).
 */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imei_lmdb_pages.h"
#include "imei_sightings.h"

#define FORMAT "imei-sightings/1"
#define DEFAULT_MAP_SIZE ((size_t)8 << 30)
#define DEFAULT_BATCH 65536
#define MAX_BATCH ((size_t)1 << 24)
#define POOL 16
#define NONE UINT32_MAX

enum { Q_SIGHTING, Q_PAIR, Q_UNPAIR }; /* what a queued entry is */

enum { C_COMMITTED, C_AGGREGATES, C_KEYS, C_PAIRINGS, NCOUNTERS };

struct reader {
	MDB_txn *txn;
	MDB_cursor *cur;
};

struct lm {
	MDB_env *env;
	MDB_dbi sdb, pdb, mdb;
	int lockfd;
	bool read_only;
	size_t map_size;
	/* the queue of recorded, uncommitted sightings */
	struct imei_sighting *pend; /* sightings, and pairing changes (key, imsi, msisdn) */
	uint8_t *kind;              /* Q_* of each */
	uint32_t *prev;  /* the previous queued entry of the same key, or NONE */
	uint32_t *order; /* scratch for sorting at commit */
	uint32_t *pidx;  /* key -> its last queued sighting (open addressing) */
	size_t npend, batch, pmask;
	uint64_t recorded;
	/* read transactions ready for renewal */
	pthread_mutex_t pool_lock;
	struct reader pool[POOL];
	size_t npool;
	char path[];
};

struct lm_iter {
	enum imei_iter_kind kind;
	MDB_txn *txn;
	MDB_cursor *cur;
	bool started;
	uint64_t last_key;
};

/* ---- errors -------------------------------------------------------------------- */

static int lm_fail(const struct lm *l, struct imei_store_error *err, int rc, const char *doing)
{
	const char *path = l ? l->path : "?";
	switch (rc) {
	case MDB_MAP_FULL:
		return imei_store_fail(err, IMEI_STORE_EFULL,
		                       "lmdb:%s: %s: the store is full, its map size of %zu bytes is reached "
		                       "(MDB_MAP_FULL); open it with a larger map_size",
		                       path, doing, l ? l->map_size : 0);
	case ENOSPC:
		return imei_store_fail(err, IMEI_STORE_EFULL, "lmdb:%s: %s: the disk is full (ENOSPC)", path, doing);
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PANIC:
	case MDB_BAD_TXN:
		return imei_store_fail(err, IMEI_STORE_ECORRUPT, "lmdb:%s: %s: damaged store (%s)", path, doing,
		                       mdb_strerror(rc));
	case ENOMEM:
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: %s: out of memory", path, doing);
	default:
		return imei_store_fail(err, IMEI_STORE_EIO, "lmdb:%s: %s: %s", path, doing, mdb_strerror(rc));
	}
}

static int damaged(const struct lm *l, struct imei_store_error *err, const char *what, const MDB_val *k,
                   const char *why)
{
	char hex[3 * 24 + 1] = "";
	const unsigned char *p = k->mv_data;
	for (size_t i = 0; i < k->mv_size && i < 24; i++)
		snprintf(hex + 2 * i, 3, "%02x", p[i]);
	return imei_store_fail(err, IMEI_STORE_ECORRUPT, "lmdb:%s: damaged %s record (key %s): %s", l->path, what, hex,
	                       why);
}

/* ---- counters --------------------------------------------------------------------- */

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)(v & 0xFF);
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int read_counters(struct lm *l, MDB_txn *txn, uint64_t c[NCOUNTERS], struct imei_store_error *err)
{
	MDB_val k = { 8, "counters" }, v;
	int rc = mdb_get(txn, l->mdb, &k, &v);
	if (rc == MDB_NOTFOUND) {
		memset(c, 0, NCOUNTERS * sizeof *c);
		return 0;
	}
	if (rc)
		return lm_fail(l, err, rc, "reading the counters");
	if (v.mv_size != NCOUNTERS * 8)
		return damaged(l, err, "meta", &k, "counters are not 32 bytes");
	for (int i = 0; i < NCOUNTERS; i++)
		c[i] = get_le64((const unsigned char *)v.mv_data + 8 * i);
	return 0;
}

static int write_counters(struct lm *l, MDB_txn *txn, const uint64_t c[NCOUNTERS], struct imei_store_error *err)
{
	unsigned char buf[NCOUNTERS * 8];
	for (int i = 0; i < NCOUNTERS; i++)
		put_le64(buf + 8 * i, c[i]);
	MDB_val k = { 8, "counters" }, v = { sizeof buf, buf };
	int rc = mdb_put(txn, l->mdb, &k, &v, 0);
	return rc ? lm_fail(l, err, rc, "writing the counters") : 0;
}

/* ---- the queue -------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* The slot for key in pidx: holding its last queued entry, or NONE. */
static size_t pend_slot(const struct lm *l, uint64_t key)
{
	size_t i = (size_t)mix64(key) & l->pmask;
	while (l->pidx[i] != NONE && l->pend[l->pidx[i]].key != key)
		i = (i + 1) & l->pmask;
	return i;
}

static void pend_clear(struct lm *l)
{
	l->npend = 0;
	memset(l->pidx, 0xFF, (l->pmask + 1) * sizeof *l->pidx);
}

static void pend_push(struct lm *l, const struct imei_sighting *s, uint8_t kind)
{
	size_t slot = pend_slot(l, s->key);
	uint32_t i = (uint32_t)l->npend++;
	l->pend[i] = *s;
	l->kind[i] = kind;
	l->prev[i] = l->pidx[slot];
	l->pidx[slot] = i;
}

/* The queued entries of key, oldest first, into idx (n of them; malloc'd when more
 * than fit in small). NULL when out of memory. */
static uint32_t *pend_of(const struct lm *l, uint64_t key, uint32_t *small, size_t nsmall, size_t *n)
{
	*n = 0;
	if (l->npend == 0)
		return small;
	uint32_t last = l->pidx[pend_slot(l, key)];
	for (uint32_t i = last; i != NONE; i = l->prev[i])
		(*n)++;
	uint32_t *idx = *n <= nsmall ? small : malloc(*n * sizeof *idx);
	if (!idx)
		return NULL;
	size_t m = *n;
	for (uint32_t i = last; i != NONE; i = l->prev[i])
		idx[--m] = i;
	return idx;
}

/* ---- commit ----------------------------------------------------------------------- */

/* Sightings first, grouped by (key, IMSI, MSISDN); then pairing changes grouped by
 * (key, IMSI); each group in the order it was queued. */
static int cmp_pend(const struct lm *l, uint32_t a, uint32_t b)
{
	const struct imei_sighting *x = &l->pend[a], *y = &l->pend[b];
	bool px = l->kind[a] != Q_SIGHTING, py = l->kind[b] != Q_SIGHTING;
	if (px != py)
		return px ? 1 : -1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->imsi != y->imsi)
		return x->imsi < y->imsi ? -1 : 1;
	if (!px && x->msisdn != y->msisdn)
		return x->msisdn < y->msisdn ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* A merge sort of indices (qsort has no context argument in C11). */
static void sort_order(const struct lm *l, uint32_t *v, uint32_t *tmp, size_t n)
{
	if (n < 2)
		return;
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			uint32_t x = v[i];
			size_t j = i;
			for (; j > 0 && cmp_pend(l, v[j - 1], x) > 0; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
		return;
	}
	size_t h = n / 2;
	sort_order(l, v, tmp, h);
	sort_order(l, v + h, tmp, n - h);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		tmp[k++] = cmp_pend(l, v[i], v[j]) <= 0 ? v[i++] : v[j++];
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof *v);
}

/* Apply the queued sightings order[0..n): one search and one write per aggregate. */
static int apply_sightings(struct lm *l, MDB_txn *txn, size_t n, uint64_t c[NCOUNTERS],
                           struct imei_store_error *err)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, l->sdb, &cur);
	if (rc)
		return lm_fail(l, err, rc, "committing");
	uint64_t known_key = UINT64_MAX; /* the last key known to be in the store */
	for (size_t i = 0; i < n;) {
		const struct imei_sighting *s = &l->pend[l->order[i]];
		unsigned char kb[IMEI_WIRE_SKEY], vb[IMEI_WIRE_SVAL];
		imei_wire_skey(s->key, s->imsi, s->msisdn, kb);
		MDB_val k = { sizeof kb, kb }, v;
		struct imei_sighting_agg a;
		const char *why;
		size_t j = i;
		/* the first record >= this one: this one, or tells whether its key is there */
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		bool found = rc == 0 && k.mv_size == sizeof kb && memcmp(k.mv_data, kb, sizeof kb) == 0;
		if (rc && rc != MDB_NOTFOUND) {
			mdb_cursor_close(cur);
			return lm_fail(l, err, rc, "committing");
		}
		if (!found && known_key != s->key) {
			bool there = rc == 0 && k.mv_size >= 8 && imei_wire_get64be(k.mv_data) == s->key;
			MDB_val pk, pv;
			if (!there && mdb_cursor_get(cur, &pk, &pv, rc == 0 ? MDB_PREV : MDB_LAST) == 0)
				there = pk.mv_size >= 8 && imei_wire_get64be(pk.mv_data) == s->key;
			if (there)
				known_key = s->key;
		}
		if (found) {
			known_key = s->key;
			if (!imei_wire_sdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &a, &why)) {
				mdb_cursor_close(cur);
				return damaged(l, err, "sighting", &k, why);
			}
		} else {
			imei_agg_init(&a, s);
			j++;
		}
		for (; j < n; j++) {
			const struct imei_sighting *t = &l->pend[l->order[j]];
			if (t->key != s->key || t->imsi != s->imsi || t->msisdn != s->msisdn)
				break;
			imei_agg_apply(&a, t);
		}
		imei_wire_sval(&a, vb);
		k = (MDB_val){ sizeof kb, kb };
		v = (MDB_val){ sizeof vb, vb };
		rc = mdb_cursor_put(cur, &k, &v, found ? MDB_CURRENT : 0);
		if (rc) {
			mdb_cursor_close(cur);
			return lm_fail(l, err, rc, "committing");
		}
		if (!found) {
			c[C_AGGREGATES]++;
			if (known_key != s->key)
				c[C_KEYS]++;
			known_key = s->key;
		}
		i = j;
	}
	mdb_cursor_close(cur);
	c[C_COMMITTED] += n;
	return 0;
}

/* Apply the queued pairing changes order[from..npend): the last change of a pair wins. */
static int apply_pairings(struct lm *l, MDB_txn *txn, size_t from, uint64_t c[NCOUNTERS],
                          struct imei_store_error *err)
{
	for (size_t i = from; i < l->npend; i++) {
		uint32_t q = l->order[i];
		if (i + 1 < l->npend) {
			const struct imei_sighting *x = &l->pend[q], *y = &l->pend[l->order[i + 1]];
			if (x->key == y->key && x->imsi == y->imsi)
				continue; /* a later change of the same pair follows */
		}
		const struct imei_sighting *p = &l->pend[q];
		unsigned char kb[IMEI_WIRE_PKEY], vb[IMEI_WIRE_PVAL];
		imei_wire_pkey(p->key, p->imsi, kb);
		MDB_val k = { sizeof kb, kb }, v;
		int rc = mdb_get(txn, l->pdb, &k, &v);
		if (rc && rc != MDB_NOTFOUND)
			return lm_fail(l, err, rc, "reading a pairing");
		bool had = rc == 0;
		if (l->kind[q] == Q_PAIR) {
			imei_wire_pval(p->msisdn, vb);
			v = (MDB_val){ sizeof vb, vb };
			rc = mdb_put(txn, l->pdb, &k, &v, 0);
			c[C_PAIRINGS] += !had;
		} else {
			rc = had ? mdb_del(txn, l->pdb, &k, NULL) : 0;
			c[C_PAIRINGS] -= had && c[C_PAIRINGS] > 0;
		}
		if (rc)
			return lm_fail(l, err, rc, "writing a pairing");
	}
	return 0;
}

/* Commit the queue in one write transaction; 0 or -1. On failure nothing changes in the
 * store and the queue is kept. */
static int commit(struct lm *l, struct imei_store_error *err)
{
	if (l->npend == 0)
		return 0;
	MDB_txn *txn;
	uint64_t c[NCOUNTERS];
	for (size_t i = 0; i < l->npend; i++)
		l->order[i] = (uint32_t)i;
	sort_order(l, l->order, l->order + l->batch, l->npend);
	size_t nsight = 0;
	while (nsight < l->npend && l->kind[l->order[nsight]] == Q_SIGHTING)
		nsight++;
	int rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return lm_fail(l, err, rc, "starting a write transaction");
	if (read_counters(l, txn, c, err) < 0 || apply_sightings(l, txn, nsight, c, err) < 0 ||
	    apply_pairings(l, txn, nsight, c, err) < 0 || write_counters(l, txn, c, err) < 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_txn_commit(txn); /* frees txn, also on failure */
	if (rc)
		return lm_fail(l, err, rc, "committing");
	pend_clear(l);
	return 0;
}

/* ---- the read pool --------------------------------------------------------------- */

static int reader_get(struct lm *l, struct reader *r, struct imei_store_error *err)
{
	pthread_mutex_lock(&l->pool_lock);
	bool have = l->npool > 0;
	if (have)
		*r = l->pool[--l->npool];
	pthread_mutex_unlock(&l->pool_lock);
	int rc;
	if (have) {
		rc = mdb_txn_renew(r->txn);
		if (rc == 0)
			rc = mdb_cursor_renew(r->txn, r->cur);
		if (rc == 0)
			return 0;
		mdb_cursor_close(r->cur);
		mdb_txn_abort(r->txn);
		return lm_fail(l, err, rc, "renewing a read transaction");
	}
	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &r->txn);
	if (rc)
		return lm_fail(l, err, rc, "starting a read transaction");
	rc = mdb_cursor_open(r->txn, l->sdb, &r->cur);
	if (rc) {
		mdb_txn_abort(r->txn);
		return lm_fail(l, err, rc, "opening a cursor");
	}
	return 0;
}

static void reader_put(struct lm *l, struct reader *r)
{
	mdb_txn_reset(r->txn);
	pthread_mutex_lock(&l->pool_lock);
	bool kept = l->npool < POOL;
	if (kept)
		l->pool[l->npool++] = *r;
	pthread_mutex_unlock(&l->pool_lock);
	if (!kept) {
		mdb_cursor_close(r->cur);
		mdb_txn_abort(r->txn);
	}
}

/* ---- the interface ------------------------------------------------------------------ */

static int refuse(const struct lm *l, struct imei_store_error *err)
{
	return imei_store_fail(err, IMEI_STORE_EREADONLY, "lmdb:%s: opened read-only", l->path);
}

/* Room for one more queued entry: a full queue is committed first. */
static int make_room(struct lm *l, struct imei_store_error *err)
{
	return l->npend == l->batch ? commit(l, err) : 0;
}

static int lm_record(void *be, const struct imei_sighting *s, struct imei_store_error *err)
{
	struct lm *l = be;
	if (l->read_only)
		return refuse(l, err);
	if (make_room(l, err) < 0)
		return -1;
	pend_push(l, s, Q_SIGHTING);
	l->recorded++;
	return 0;
}

static int lm_flush(void *be, struct imei_store_error *err)
{
	struct lm *l = be;
	if (l->read_only)
		return 0;
	return commit(l, err);
}

static int lm_fetch(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err)
{
	struct lm *l = be;
	struct reader r;
	if (reader_get(l, &r, err) < 0)
		return -1;
	unsigned char kb[IMEI_WIRE_SKEY];
	imei_wire_skey(key, 0, 0, kb);
	MDB_val k = { sizeof kb, kb }, v;
	int rc = mdb_cursor_get(r.cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == IMEI_WIRE_SKEY && imei_wire_get64be(k.mv_data) == key) {
		struct imei_sighting_agg a;
		const char *why;
		if (!imei_wire_sdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &a, &why)) {
			damaged(l, err, "sighting", &k, why);
			reader_put(l, &r);
			return -1;
		}
		if (!imei_agg_buf_push(out, &a)) {
			reader_put(l, &r);
			return imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", l->path);
		}
		rc = mdb_cursor_get(r.cur, &k, &v, MDB_NEXT);
	}
	reader_put(l, &r);
	if (rc && rc != MDB_NOTFOUND)
		return lm_fail(l, err, rc, "reading sightings");
	/* the queued sightings of key on top, oldest first */
	uint32_t small[64];
	size_t n;
	uint32_t *idx = pend_of(l, key, small, 64, &n);
	if (!idx)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", l->path);
	int result = 0;
	for (size_t j = 0; j < n && result == 0; j++) {
		if (l->kind[idx[j]] != Q_SIGHTING)
			continue;
		const struct imei_sighting *s = &l->pend[idx[j]];
		struct imei_sighting_agg *a = NULL, fresh;
		for (size_t q = 0; q < out->n && !a; q++)
			if (out->v[q].imsi == s->imsi && out->v[q].msisdn == s->msisdn)
				a = &out->v[q];
		if (a) {
			imei_agg_apply(a, s);
			continue;
		}
		imei_agg_init(&fresh, s);
		if (!imei_agg_buf_push(out, &fresh))
			result = imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", l->path);
	}
	if (idx != small)
		free(idx);
	return result;
}

/* Pairings of key committed in the store, appended to out. */
static int stored_pairs(struct lm *l, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err)
{
	struct reader r;
	MDB_cursor *cur;
	if (reader_get(l, &r, err) < 0)
		return -1;
	int rc = mdb_cursor_open(r.txn, l->pdb, &cur), result = 0;
	if (rc) {
		reader_put(l, &r);
		return lm_fail(l, err, rc, "opening a cursor");
	}
	unsigned char kb[IMEI_WIRE_PKEY];
	imei_wire_pkey(key, 0, kb);
	MDB_val k = { sizeof kb, kb }, v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 8 && imei_wire_get64be(k.mv_data) == key) {
		struct imei_pairing p;
		const char *why;
		if (!imei_wire_pdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &p, &why)) {
			result = damaged(l, err, "pairing", &k, why);
			break;
		}
		struct imei_sighting_agg a;
		memset(&a, 0, sizeof a);
		a.key = p.key;
		a.imsi = p.imsi;
		a.msisdn = p.msisdn;
		if (!imei_agg_buf_push(out, &a)) {
			result = imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", l->path);
			break;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (result == 0 && rc && rc != MDB_NOTFOUND)
		result = lm_fail(l, err, rc, "reading pairings");
	mdb_cursor_close(cur);
	reader_put(l, &r);
	return result;
}

/* The pairings of key: the store's, with the queued changes on top. */
static int lm_pairs_of(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err)
{
	struct lm *l = be;
	size_t base = out->n;
	if (stored_pairs(l, key, out, err) < 0)
		return -1;
	uint32_t small[64];
	size_t n;
	uint32_t *idx = pend_of(l, key, small, 64, &n);
	if (!idx)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", l->path);
	int result = 0;
	for (size_t j = 0; j < n && result == 0; j++) {
		uint8_t kind = l->kind[idx[j]];
		const struct imei_sighting *p = &l->pend[idx[j]];
		if (kind == Q_SIGHTING)
			continue;
		size_t q = base;
		while (q < out->n && out->v[q].imsi != p->imsi)
			q++;
		if (kind == Q_UNPAIR) {
			if (q < out->n)
				out->v[q] = out->v[--out->n];
		} else if (q < out->n) {
			out->v[q].msisdn = p->msisdn;
		} else {
			struct imei_sighting_agg a;
			memset(&a, 0, sizeof a);
			a.key = p->key;
			a.imsi = p->imsi;
			a.msisdn = p->msisdn;
			if (!imei_agg_buf_push(out, &a))
				result = imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", l->path);
		}
	}
	if (idx != small)
		free(idx);
	return result;
}

static int lm_is_paired(void *be, uint64_t key, uint64_t imsi, uint64_t *msisdn, struct imei_store_error *err)
{
	struct lm *l = be;
	/* the latest queued change of the pair decides */
	if (l->npend) {
		for (uint32_t i = l->pidx[pend_slot(l, key)]; i != NONE; i = l->prev[i]) {
			if (l->kind[i] == Q_SIGHTING || l->pend[i].imsi != imsi)
				continue;
			if (l->kind[i] == Q_UNPAIR)
				return 0;
			if (msisdn)
				*msisdn = l->pend[i].msisdn;
			return 1;
		}
	}
	struct reader r;
	if (reader_get(l, &r, err) < 0)
		return -1;
	unsigned char kb[IMEI_WIRE_PKEY];
	imei_wire_pkey(key, imsi, kb);
	MDB_val k = { sizeof kb, kb }, v;
	int rc = mdb_get(r.txn, l->pdb, &k, &v), result = 0;
	if (rc == 0) {
		struct imei_pairing p;
		const char *why;
		if (!imei_wire_pdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &p, &why)) {
			result = damaged(l, err, "pairing", &k, why);
		} else {
			if (msisdn)
				*msisdn = p.msisdn;
			result = 1;
		}
	} else if (rc != MDB_NOTFOUND) {
		result = lm_fail(l, err, rc, "reading a pairing");
	}
	reader_put(l, &r);
	return result;
}

static int queue_pairing(struct lm *l, const struct imei_pairing *p, uint8_t kind, struct imei_store_error *err)
{
	if (l->read_only)
		return refuse(l, err);
	int had = lm_is_paired(l, p->key, p->imsi, NULL, err);
	if (had < 0)
		return -1;
	if (kind == Q_UNPAIR && !had)
		return 0;
	if (make_room(l, err) < 0)
		return -1;
	struct imei_sighting s;
	memset(&s, 0, sizeof s);
	s.key = p->key;
	s.imsi = p->imsi;
	s.msisdn = p->msisdn;
	pend_push(l, &s, kind);
	return kind == Q_PAIR ? !had : had;
}

static int lm_pair(void *be, const struct imei_pairing *p, struct imei_store_error *err)
{
	return queue_pairing(be, p, Q_PAIR, err);
}

static int lm_unpair(void *be, uint64_t key, uint64_t imsi, struct imei_store_error *err)
{
	struct imei_pairing p = { key, imsi, 0 };
	return queue_pairing(be, &p, Q_UNPAIR, err);
}

static int lm_stats(void *be, struct imei_store_stats *out, struct imei_store_error *err)
{
	struct lm *l = be;
	struct reader r;
	uint64_t c[NCOUNTERS];
	if (reader_get(l, &r, err) < 0)
		return -1;
	int rc = read_counters(l, r.txn, c, err);
	reader_put(l, &r);
	if (rc < 0)
		return -1;
	MDB_envinfo info;
	MDB_stat st;
	mdb_env_info(l->env, &info);
	mdb_env_stat(l->env, &st);
	out->aggregates = c[C_AGGREGATES];
	out->keys = c[C_KEYS];
	out->pairings = c[C_PAIRINGS];
	out->committed = c[C_COMMITTED];
	out->recorded = l->recorded;
	out->pending = l->npend;
	out->bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
	return 0;
}

static int lm_check(void *be, struct imei_store_error *err)
{
	struct lm *l = be;
	MDB_txn *txn;
	MDB_cursor *cur;
	uint64_t c[NCOUNTERS], aggs = 0, keys = 0, pairs = 0, prev_key = UINT64_MAX;
	int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return lm_fail(l, err, rc, "starting a read transaction");
	int result = read_counters(l, txn, c, err);
	MDB_val k, v;
	if (result == 0 && (rc = mdb_cursor_open(txn, l->sdb, &cur)) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct imei_sighting_agg a;
			const char *why;
			if (!imei_wire_sdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &a, &why)) {
				result = damaged(l, err, "sighting", &k, why);
				break;
			}
			aggs++;
			keys += a.key != prev_key;
			prev_key = a.key;
		}
		mdb_cursor_close(cur);
	}
	if (result == 0 && rc && rc != MDB_NOTFOUND)
		result = lm_fail(l, err, rc, "checking sightings");
	if (result == 0 && (rc = mdb_cursor_open(txn, l->pdb, &cur)) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct imei_pairing p;
			const char *why;
			if (!imei_wire_pdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &p, &why)) {
				result = damaged(l, err, "pairing", &k, why);
				break;
			}
			pairs++;
		}
		mdb_cursor_close(cur);
	}
	if (result == 0 && rc && rc != MDB_NOTFOUND)
		result = lm_fail(l, err, rc, "checking pairings");
	mdb_txn_abort(txn);
	if (result == 0 && (aggs != c[C_AGGREGATES] || keys != c[C_KEYS] || pairs != c[C_PAIRINGS]))
		result = imei_store_fail(err, IMEI_STORE_ECORRUPT,
		                         "lmdb:%s: counters say %llu aggregates, %llu keys, %llu pairings; the store "
		                         "holds %llu, %llu, %llu",
		                         l->path, (unsigned long long)c[C_AGGREGATES], (unsigned long long)c[C_KEYS],
		                         (unsigned long long)c[C_PAIRINGS], (unsigned long long)aggs,
		                         (unsigned long long)keys, (unsigned long long)pairs);
	return result;
}

static void *lm_iter_open(void *be, enum imei_iter_kind kind, struct imei_store_error *err)
{
	struct lm *l = be;
	struct lm_iter *it = calloc(1, sizeof *it);
	if (!it) {
		imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", l->path);
		return NULL;
	}
	it->kind = kind;
	int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &it->txn);
	if (rc == 0) {
		rc = mdb_cursor_open(it->txn, kind == IMEI_ITER_PAIRINGS ? l->pdb : l->sdb, &it->cur);
		if (rc)
			mdb_txn_abort(it->txn);
	}
	if (rc) {
		free(it);
		lm_fail(l, err, rc, "starting an iteration");
		return NULL;
	}
	return it;
}

static int lm_iter_next(void *be, void *itp, struct imei_sighting_agg *out, struct imei_store_error *err)
{
	struct lm *l = be;
	struct lm_iter *it = itp;
	MDB_val k, v;
	int rc;
	const char *why;
	unsigned char kb[IMEI_WIRE_SKEY];
	if (!it->started) {
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_FIRST);
		it->started = true;
	} else if (it->kind == IMEI_ITER_KEYS) {
		if (it->last_key + 1 >= IMEI_SIGHT_KEY_LIMIT)
			return 0;
		imei_wire_skey(it->last_key + 1, 0, 0, kb);
		k = (MDB_val){ sizeof kb, kb };
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lm_fail(l, err, rc, "iterating");
	if (it->kind == IMEI_ITER_PAIRINGS) {
		struct imei_pairing p;
		if (!imei_wire_pdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, &p, &why))
			return damaged(l, err, "pairing", &k, why);
		memset(out, 0, sizeof *out);
		out->key = p.key;
		out->imsi = p.imsi;
		out->msisdn = p.msisdn;
		return 1;
	}
	if (!imei_wire_sdecode(k.mv_data, k.mv_size, v.mv_data, v.mv_size, out, &why))
		return damaged(l, err, "sighting", &k, why);
	it->last_key = out->key;
	return 1;
}

static void lm_iter_close(void *be, void *itp)
{
	struct lm_iter *it = itp;
	(void)be;
	mdb_cursor_close(it->cur);
	mdb_txn_abort(it->txn);
	free(it);
}

static void lm_close(void *be)
{
	struct lm *l = be;
	for (size_t i = 0; i < l->npool; i++) {
		mdb_cursor_close(l->pool[i].cur);
		mdb_txn_abort(l->pool[i].txn);
	}
	if (l->env)
		mdb_env_close(l->env);
	if (l->lockfd >= 0)
		close(l->lockfd);
	pthread_mutex_destroy(&l->pool_lock);
	free(l->pend);
	free(l->kind);
	free(l->prev);
	free(l->order);
	free(l->pidx);
	free(l);
}

/* ---- open ----------------------------------------------------------------------- */

static int open_dir(struct lm *l, struct imei_store_error *err)
{
	struct stat st;
	if (stat(l->path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return imei_store_fail(err, IMEI_STORE_EINVAL, "lmdb:%s: not a directory", l->path);
		return 0;
	}
	if (errno != ENOENT || l->read_only)
		return imei_store_fail(err, IMEI_STORE_EIO, "lmdb:%s: %s", l->path, strerror(errno));
	if (mkdir(l->path, 0777) != 0)
		return imei_store_fail(err, IMEI_STORE_EIO, "lmdb:%s: cannot create the directory: %s", l->path,
		                       strerror(errno));
	return 0;
}

/* One open per process: an OFD write lock on byte <pid> of PATH/imei.lock conflicts with
 * another open of the same directory in this process only. */
static int lock_once(struct lm *l, struct imei_store_error *err)
{
	l->lockfd = -1;
#ifdef F_OFD_SETLK
	char file[4096];
	if ((size_t)snprintf(file, sizeof file, "%s/imei.lock", l->path) >= sizeof file)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "lmdb:%s: path too long", l->path);
	l->lockfd = open(file, O_RDWR | O_CLOEXEC | (l->read_only ? 0 : O_CREAT), 0666);
	if (l->lockfd < 0) {
		if (l->read_only && (errno == EACCES || errno == EROFS || errno == ENOENT))
			return 0; /* cannot check; a read-only open does not write */
		return imei_store_fail(err, IMEI_STORE_EIO,
		                       "lmdb:%s: cannot open %s: %s (a writable store needs a writable directory)",
		                       l->path, file, strerror(errno));
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)getpid(), .l_len = 1 };
	if (fcntl(l->lockfd, F_OFD_SETLK, &fl) != 0) {
		if (errno == EAGAIN || errno == EACCES)
			return imei_store_fail(err, IMEI_STORE_EBUSY,
			                       "lmdb:%s: already open in this process; share the open store instead "
			                       "(LMDB forbids opening an environment twice in one process)",
			                       l->path);
		if (errno != EINVAL) /* EINVAL: the kernel lacks OFD locks; no check then */
			return imei_store_fail(err, IMEI_STORE_EIO, "lmdb:%s: cannot lock %s: %s", l->path, file,
			                       strerror(errno));
	}
#else
	(void)err;
#endif
	return 0;
}

/* A file shorter than the pages LMDB says are in use would fault on read: refuse it. */
static int check_size(struct lm *l, struct imei_store_error *err)
{
	uint64_t have, need;
	int t = imei_lmdb_truncated(l->env, l->path, &have, &need);
	if (t < 0)
		return imei_store_fail(err, IMEI_STORE_EIO, "lmdb:%s: data.mdb: %s", l->path, strerror(errno));
	if (t > 0)
		return imei_store_fail(err, IMEI_STORE_ECORRUPT,
		                       "lmdb:%s: damaged store: data.mdb has %llu bytes, its pages need %llu (truncated?)",
		                       l->path, (unsigned long long)have, (unsigned long long)need);
	return 0;
}

static int open_dbs(struct lm *l, struct imei_store_error *err)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(l->env, NULL, l->read_only ? MDB_RDONLY : 0, &txn);
	if (rc)
		return lm_fail(l, err, rc, "opening");
	rc = mdb_dbi_open(txn, "meta", 0, &l->mdb);
	if (rc == MDB_NOTFOUND) {
		MDB_dbi main;
		MDB_stat ms;
		rc = mdb_dbi_open(txn, NULL, 0, &main);
		if (rc == 0)
			rc = mdb_stat(txn, main, &ms);
		if (rc)
			goto lmdb_error;
		if (ms.ms_entries != 0) {
			mdb_txn_abort(txn);
			return imei_store_fail(err, IMEI_STORE_EINVAL,
			                       "lmdb:%s: an LMDB environment that is not a sightings store", l->path);
		}
		if (l->read_only) {
			mdb_txn_abort(txn);
			return imei_store_fail(err, IMEI_STORE_EINVAL,
			                       "lmdb:%s: no sightings store there (opened read-only, so none is created)",
			                       l->path);
		}
		MDB_val k = { 6, "format" }, v = { strlen(FORMAT), FORMAT };
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &l->mdb);
		if (rc == 0)
			rc = mdb_dbi_open(txn, "sightings", MDB_CREATE, &l->sdb);
		if (rc == 0)
			rc = mdb_dbi_open(txn, "pairings", MDB_CREATE, &l->pdb);
		if (rc == 0)
			rc = mdb_put(txn, l->mdb, &k, &v, 0);
		if (rc)
			goto lmdb_error;
	} else if (rc == 0) {
		MDB_val k = { 6, "format" }, v;
		rc = mdb_get(txn, l->mdb, &k, &v);
		if (rc == MDB_NOTFOUND || (rc == 0 && (v.mv_size != strlen(FORMAT) || memcmp(v.mv_data, FORMAT, v.mv_size)))) {
			mdb_txn_abort(txn);
			return imei_store_fail(err, IMEI_STORE_ECORRUPT,
			                       "lmdb:%s: not a sightings store of format %s (its format record is %s)",
			                       l->path, FORMAT, rc == MDB_NOTFOUND ? "missing" : "different");
		}
		if (rc == 0)
			rc = mdb_dbi_open(txn, "sightings", 0, &l->sdb);
		if (rc == 0)
			rc = mdb_dbi_open(txn, "pairings", 0, &l->pdb);
		if (rc)
			goto lmdb_error;
	} else {
		goto lmdb_error;
	}
	rc = mdb_txn_commit(txn);
	return rc ? lm_fail(l, err, rc, "opening") : 0;
lmdb_error:
	mdb_txn_abort(txn);
	return lm_fail(l, err, rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc, "opening");
}

void *imei_store_lmdb_open(const char *path, const struct imei_store_opts *opts, struct imei_store_error *err)
{
	size_t len = strlen(path);
	struct lm *l = calloc(1, sizeof *l + len + 1);
	if (!l) {
		imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory", path);
		return NULL;
	}
	memcpy(l->path, path, len + 1);
	l->lockfd = -1;
	l->read_only = opts && opts->read_only;
	l->map_size = opts && opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
	l->batch = opts && opts->batch ? opts->batch : DEFAULT_BATCH;
	if (l->batch > MAX_BATCH)
		l->batch = MAX_BATCH;
	if (pthread_mutex_init(&l->pool_lock, NULL) != 0) {
		free(l);
		imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: cannot create a lock", path);
		return NULL;
	}
	if (!l->read_only) {
		size_t cap = 64;
		while (cap < l->batch * 2)
			cap *= 2;
		l->pmask = cap - 1;
		l->pend = malloc(l->batch * sizeof *l->pend);
		l->kind = malloc(l->batch);
		l->prev = malloc(l->batch * sizeof *l->prev);
		l->order = malloc(l->batch * 2 * sizeof *l->order);
		l->pidx = malloc(cap * sizeof *l->pidx);
		if (!l->pend || !l->kind || !l->prev || !l->order || !l->pidx) {
			lm_close(l);
			imei_store_fail(err, IMEI_STORE_ENOMEM, "lmdb:%s: out of memory for a batch of %zu", path, l->batch);
			return NULL;
		}
		pend_clear(l);
	}
	int rc;
	if (open_dir(l, err) < 0 || lock_once(l, err) < 0)
		goto fail;
	if ((rc = mdb_env_create(&l->env)) != 0) {
		l->env = NULL;
		lm_fail(l, err, rc, "creating the environment");
		goto fail;
	}
	if ((rc = mdb_env_set_maxdbs(l->env, 4)) != 0 || (rc = mdb_env_set_mapsize(l->env, l->map_size)) != 0) {
		lm_fail(l, err, rc, "configuring the environment");
		goto fail;
	}
	rc = mdb_env_open(l->env, l->path, MDB_NOTLS | (l->read_only ? MDB_RDONLY : 0), 0666);
	if (rc) {
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
			imei_store_fail(err, IMEI_STORE_ECORRUPT, "lmdb:%s: damaged store or not LMDB: %s", l->path,
			                mdb_strerror(rc));
		else if (rc == EACCES || rc == EROFS || rc == EPERM)
			imei_store_fail(err, IMEI_STORE_EIO, "lmdb:%s: cannot open: %s%s", l->path, mdb_strerror(rc),
			                l->read_only ? "" : " (a writable store needs a writable directory)");
		else
			lm_fail(l, err, rc, "opening the environment");
		goto fail;
	}
	if (check_size(l, err) < 0 || open_dbs(l, err) < 0)
		goto fail;
	int dead;
	mdb_reader_check(l->env, &dead); /* free the reader slots of processes that died */
	/* the map may be larger than asked, when the store was made with a larger one */
	MDB_envinfo info;
	mdb_env_info(l->env, &info);
	l->map_size = info.me_mapsize;
	return l;
fail:
	lm_close(l);
	return NULL;
}

const struct imei_store_ops imei_store_lmdb_ops = {
	.name = "lmdb",
	.record = lm_record,
	.flush = lm_flush,
	.fetch = lm_fetch,
	.pair = lm_pair,
	.unpair = lm_unpair,
	.is_paired = lm_is_paired,
	.pairs_of = lm_pairs_of,
	.stats = lm_stats,
	.check = lm_check,
	.iter_open = lm_iter_open,
	.iter_next = lm_iter_next,
	.iter_close = lm_iter_close,
	.close = lm_close,
	.iter_needs_lock = false,
};
