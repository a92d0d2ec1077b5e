/*
 * tacdb_freeze.c — turn a builder into a frozen image (layout in tacdb_format.h): records in
 * index order (8-digit TACs first, by bucket, then the other keys in digit order), the
 * builder's string table, each distinct list of extra-column names once, the TAC bucket
 * table, and a breadth-first 10-ary trie of the other keys. The same builder always gives the same
 * bytes. The finished image goes through the same validation as a file read from disk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tacdb_format.h"

static void *fail(struct imei_tacdb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void *fail(struct imei_tacdb_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return NULL;
}

/* A growable array of n elements of a fixed size. */
struct vec {
	void *p;
	size_t n, cap;
};

static bool vec_reserve(struct vec *v, size_t more, size_t size)
{
	if (more > SIZE_MAX / size - v->n)
		return false;
	size_t need = v->n + more;
	if (need <= v->cap)
		return true;
	size_t cap = v->cap ? v->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 / size ? need : cap * 2;
	void *p = realloc(v->p, cap * size);
	if (!p)
		return false;
	v->p = p;
	v->cap = cap;
	return true;
}

struct order {
	uint64_t sort; /* 8-digit keys: bucket << 32 | TAC; others: 2^62 + the digits padded to 14 */
	uint32_t len;
	uint32_t ent;
};

static int cmp_order(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->sort != y->sort)
		return x->sort < y->sort ? -1 : 1;
	return (x->len > y->len) - (x->len < y->len);
}

/* ---- the trie of keys other than 8 digits -------------------------------------------- */

/* A temporary trie: nodes with ten child links (0 = none; the root is never a child). */
struct tmp_node {
	uint32_t child[10];
	uint32_t rec;
};

static bool tmp_new_node(struct vec *t, uint32_t *at)
{
	if (t->n >= UINT32_MAX || !vec_reserve(t, 1, sizeof(struct tmp_node)))
		return false;
	struct tmp_node *n = (struct tmp_node *)t->p + t->n;
	memset(n, 0, sizeof *n);
	n->rec = IMEI_TACDB_NONE;
	*at = (uint32_t)t->n++;
	return true;
}

static bool tmp_insert(struct vec *t, const char *digits, size_t len, uint32_t rec)
{
	uint32_t node = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(digits[i] - '0');
		if (!((struct tmp_node *)t->p)[node].child[d]) {
			uint32_t child;
			if (!tmp_new_node(t, &child))
				return false;
			((struct tmp_node *)t->p)[node].child[d] = child;
		}
		node = ((struct tmp_node *)t->p)[node].child[d];
	}
	((struct tmp_node *)t->p)[node].rec = rec;
	return true;
}

/* Lay the temporary trie out breadth first into out[t->n]. */
static bool tmp_flatten(const struct vec *t, struct tac_node *out)
{
	const struct tmp_node *nodes = t->p;
	uint32_t *queue = malloc(t->n * sizeof *queue);
	if (!queue)
		return false;
	size_t qlen = 1;
	queue[0] = 0;
	for (size_t qi = 0; qi < qlen; qi++) {
		const struct tmp_node *n = &nodes[queue[qi]];
		out[qi].first = 0;
		out[qi].rec = n->rec;
		out[qi].bits = 0;
		for (unsigned d = 0; d < 10; d++) {
			if (n->child[d]) {
				if (!out[qi].bits)
					out[qi].first = (uint32_t)qlen;
				out[qi].bits |= 1u << d;
				queue[qlen++] = n->child[d];
			}
		}
	}
	free(queue);
	return true;
}

/* ---- extra-column name lists ---------------------------------------------------------- */

struct schemas {
	struct vec s;    /* struct tac_schema; [0] is the empty list */
	struct vec hash; /* uint32_t, one per schema */
	struct vec cols; /* uint32_t names */
	uint32_t *slots; /* schema id + 1, 0 = free */
	size_t nslots;
};

static uint32_t hash_names(const uint32_t *names, uint32_t n)
{
	uint32_t h = 2166136261u ^ n;
	for (uint32_t i = 0; i < n; i++)
		h = (h ^ names[i]) * 16777619u;
	return h;
}

static bool schemas_rehash(struct schemas *ss)
{
	size_t n = ss->nslots ? ss->nslots * 2 : 64;
	uint32_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return false;
	const uint32_t *hash = ss->hash.p;
	for (size_t i = 1; i < ss->s.n; i++) {
		size_t j = hash[i] & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(ss->slots);
	ss->slots = slots;
	ss->nslots = n;
	return true;
}

static bool schemas_init(struct schemas *ss)
{
	memset(ss, 0, sizeof *ss);
	if (!vec_reserve(&ss->s, 1, sizeof(struct tac_schema)) || !vec_reserve(&ss->hash, 1, sizeof(uint32_t)))
		return false;
	((struct tac_schema *)ss->s.p)[ss->s.n++] = (struct tac_schema){ 0, 0 };
	((uint32_t *)ss->hash.p)[ss->hash.n++] = 0;
	return true;
}

static void schemas_free(struct schemas *ss)
{
	free(ss->s.p);
	free(ss->hash.p);
	free(ss->cols.p);
	free(ss->slots);
}

/* The id of the list names[0..n), added if new. false when out of memory. */
static bool schema_id(struct schemas *ss, const uint32_t *names, uint32_t n, uint32_t *id)
{
	if (n == 0) {
		*id = 0;
		return true;
	}
	if ((ss->s.n + 1) * 2 > ss->nslots && !schemas_rehash(ss))
		return false;
	uint32_t h = hash_names(names, n);
	const struct tac_schema *s = ss->s.p;
	const uint32_t *hash = ss->hash.p, *cols = ss->cols.p;
	size_t j = h & (ss->nslots - 1);
	for (; ss->slots[j]; j = (j + 1) & (ss->nslots - 1)) {
		uint32_t k = ss->slots[j] - 1;
		if (hash[k] == h && s[k].n == n && memcmp(cols + s[k].first, names, n * sizeof *names) == 0) {
			*id = k;
			return true;
		}
	}
	if (ss->s.n >= UINT32_MAX - 1 || ss->cols.n + n > UINT32_MAX || !vec_reserve(&ss->s, 1, sizeof *s) ||
	    !vec_reserve(&ss->hash, 1, sizeof *hash) || !vec_reserve(&ss->cols, n, sizeof *cols))
		return false;
	uint32_t k = (uint32_t)ss->s.n;
	((struct tac_schema *)ss->s.p)[ss->s.n++] = (struct tac_schema){ (uint32_t)ss->cols.n, n };
	((uint32_t *)ss->hash.p)[ss->hash.n++] = h;
	memcpy((uint32_t *)ss->cols.p + ss->cols.n, names, n * sizeof *names);
	ss->cols.n += n;
	ss->slots[j] = k + 1;
	*id = k;
	return true;
}

/* ---- freezing ------------------------------------------------------------------------ */

/* At least as many buckets as TACs: a bucket holds one TAC on average, and the index
 * costs 4 bytes per TAC plus 4 to 8 for the bucket table. */
static unsigned bits_for(size_t ndense)
{
	unsigned bits = 0;
	while (bits < TAC_MAX_BITS && ((size_t)1 << bits) < ndense)
		bits++;
	return bits;
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Records, their extras, the trie. false when out of memory or past 2^32 values. */
static bool fill_records(const struct tac_entry *ent, const struct tac_kv *bkv, const struct order *ord, size_t nent,
                         struct tac_rec *recs, uint64_t *okeys, size_t ndense, struct schemas *ss, struct vec *xval,
                         struct vec *trie)
{
	struct vec names = { 0 };
	bool ok = true;
	for (size_t i = 0; i < nent && ok; i++) {
		const struct tac_entry *e = &ent[ord[i].ent];
		struct tac_rec *r = &recs[i];
		r->date_rat = e->date | e->rat << TAC_RAT_SHIFT;
		memcpy(r->str, e->str, sizeof r->str);
		ok = vec_reserve(&names, e->kv_n, sizeof(uint32_t)) && vec_reserve(xval, e->kv_n, sizeof(uint32_t)) &&
		     xval->n + e->kv_n <= UINT32_MAX;
		if (!ok)
			break;
		r->xval = (uint32_t)xval->n;
		for (uint32_t j = 0; j < e->kv_n; j++) {
			((uint32_t *)names.p)[j] = bkv[e->kv_first + j].key;
			((uint32_t *)xval->p)[xval->n + j] = bkv[e->kv_first + j].value;
		}
		xval->n += e->kv_n;
		ok = schema_id(ss, names.p, e->kv_n, &r->schema);
		if (ok && ord[i].len != 8) {
			char digits[IMEI_TACDB_KEY_MAX + 1];
			size_t len = imei_tac_key_digits(e->key, digits);
			okeys[i - ndense] = e->key;
			ok = tmp_insert(trie, digits, len, (uint32_t)i);
		}
	}
	free(names.p);
	return ok;
}

struct imei_tacdb *imei_tacdb_freeze(const struct imei_tacdb_builder *b, struct imei_tacdb_error *err)
{
	const struct tac_entry *ent;
	const struct tac_kv *bkv;
	const char *pool;
	size_t nent, pool_size;
	imei_tac_builder_view(b, &ent, &nent, &bkv, &pool, &pool_size);

	struct order *ord = malloc((nent ? nent : 1) * sizeof *ord);
	struct tac_rec *recs = calloc(nent ? nent : 1, sizeof *recs);
	uint64_t *okeys = calloc(nent ? nent : 1, sizeof *okeys);
	struct vec xval = { 0 }, trie = { 0 };
	struct schemas ss;
	unsigned char *img = NULL;
	struct imei_tacdb *db = NULL;
	uint32_t root;
	bool ok = schemas_init(&ss);
	if (!ok || !ord || !recs || !okeys || !tmp_new_node(&trie, &root)) {
		fail(err, "out of memory");
		goto out;
	}

	size_t ndense = 0;
	for (size_t i = 0; i < nent; i++)
		ndense += tac_key_len(ent[i].key) == 8;
	unsigned bits = bits_for(ndense);
	for (size_t i = 0; i < nent; i++) {
		unsigned len = tac_key_len(ent[i].key);
		uint64_t v = tac_key_value(ent[i].key);
		ord[i].len = len;
		ord[i].ent = (uint32_t)i;
		ord[i].sort = len == 8 ? (uint64_t)tac_bucket((uint32_t)v, bits) << 32 | v
		                       : ((uint64_t)1 << 62) + v * imei_tac_pow10[14 - len];
	}
	qsort(ord, nent, sizeof *ord, cmp_order);
	if (!fill_records(ent, bkv, ord, nent, recs, okeys, ndense, &ss, &xval, &trie)) {
		fail(err, "out of memory, or more than 2^32 extra values");
		goto out;
	}

	/* layout */
	size_t nbuckets = (size_t)1 << bits;
	const void *src[TAC_NSEC] = {
		[TAC_SEC_OKEYS] = okeys, [TAC_SEC_RECORDS] = recs, [TAC_SEC_SCHEMAS] = ss.s.p,
		[TAC_SEC_COLS] = ss.cols.p, [TAC_SEC_XVAL] = xval.p,  [TAC_SEC_POOL] = pool,
	};
	uint64_t len[TAC_NSEC] = {
		[TAC_SEC_TOP] = (nbuckets + 1) * sizeof(uint32_t),
		[TAC_SEC_TACS] = ndense * sizeof(uint32_t),
		[TAC_SEC_NODES] = trie.n * sizeof(struct tac_node),
		[TAC_SEC_OKEYS] = (nent - ndense) * sizeof(uint64_t),
		[TAC_SEC_RECORDS] = nent * sizeof(struct tac_rec),
		[TAC_SEC_SCHEMAS] = ss.s.n * sizeof(struct tac_schema),
		[TAC_SEC_COLS] = ss.cols.n * sizeof(uint32_t),
		[TAC_SEC_XVAL] = xval.n * sizeof(uint32_t),
		[TAC_SEC_POOL] = pool_size,
	};
	struct tac_header h = { .byte_order = TAC_BYTE_ORDER, .version = TAC_VERSION, .bits = bits };
	memcpy(h.magic, TAC_MAGIC, TAC_MAGIC_LEN);
	uint64_t at = sizeof h;
	for (int s = 0; s < TAC_NSEC; s++) {
		h.sec[s].off = at;
		h.sec[s].len = len[s];
		at = align8(at + len[s]);
	}
	if (at > UINT32_MAX) {
		fail(err, "the image would exceed 4 GiB");
		goto out;
	}
	h.size = at;
	h.nrecords = (uint32_t)nent;
	h.ndense = (uint32_t)ndense;
	h.nnodes = (uint32_t)trie.n;
	h.nschemas = (uint32_t)ss.s.n;
	h.ncols = (uint32_t)ss.cols.n;
	h.nxval = (uint32_t)xval.n;
	h.pool_size = (uint32_t)pool_size;
	img = calloc(1, (size_t)at);
	if (!img) {
		fail(err, "out of memory for an image of %llu bytes", (unsigned long long)at);
		goto out;
	}

	uint32_t *top = (uint32_t *)(img + h.sec[TAC_SEC_TOP].off);
	uint32_t *tacs = (uint32_t *)(img + h.sec[TAC_SEC_TACS].off);
	for (size_t i = 0; i < ndense; i++) {
		tacs[i] = (uint32_t)tac_key_value(ent[ord[i].ent].key);
		top[tac_bucket(tacs[i], bits) + 1]++;
	}
	for (size_t bkt = 0; bkt < nbuckets; bkt++)
		top[bkt + 1] += top[bkt];
	if (!tmp_flatten(&trie, (struct tac_node *)(img + h.sec[TAC_SEC_NODES].off))) {
		fail(err, "out of memory");
		goto out;
	}
	for (int s = TAC_SEC_OKEYS; s < TAC_NSEC; s++)
		if (len[s])
			memcpy(img + h.sec[s].off, src[s], len[s]);
	memcpy(img, &h, sizeof h);
	h.checksum = imei_tac_checksum(img, (size_t)at);
	memcpy(img + offsetof(struct tac_header, checksum), &h.checksum, sizeof h.checksum);

	db = imei_tac_image_adopt(img, (size_t)at, false, err); /* takes img, even on failure */
	img = NULL;
	if (!db && err) {
		struct imei_tacdb_error inner = *err;
		fail(err, "internal error: the frozen image does not validate: %s", inner.msg);
	}
out:
	free(img);
	free(ord);
	free(recs);
	free(okeys);
	free(xval.p);
	free(trie.p);
	schemas_free(&ss);
	return db;
}
