/*
 * tacdb_validate.c — taking a TAC database image in: everything a lookup or a record read
 * will touch is checked once, here, so that they need no checks of their own:
 *   - size against the header, magic, byte order, version, the checksum;
 *   - the place and size of every section;
 *   - the bucket table and the bucket and order of every TAC;
 *   - every trie link (children after their parent: no cycles) and key;
 *   - every string offset (the pool ends with a NUL, so a string at any offset inside it
 *     ends inside it) and every extra-column range.
 * One pass over the image computes the checksum and checks the records and extra values
 * in the same cache-sized chunks, so a 22 MB image is read from memory once. A damaged
 * file is reported as a checksum mismatch rather than as whatever inconsistency it
 * happens to contain: structural errors are reported only when the checksum is right.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tacdb_format.h"

#define CHUNK (256 * 1024) /* bytes checksummed, then checked, at a time; a multiple of 64 */

static bool fail(struct imei_tacdb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct imei_tacdb_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return false;
}

static const char *const section_name[TAC_NSEC] = {
	"bucket table", "TACs", "trie", "trie keys", "records", "extra-column lists", "extra-column names",
	"extra-column values", "string table",
};

/* What can be known before reading past the header. */
static bool check_basics(const unsigned char *base, size_t size, struct tac_header *h, struct imei_tacdb_error *err)
{
	size_t nmagic = size < TAC_MAGIC_LEN ? size : TAC_MAGIC_LEN;
	if (memcmp(base, TAC_MAGIC, nmagic) != 0)
		return fail(err, "not a TAC image (the file does not start with the IMEITAC magic)");
	if (size < sizeof *h)
		return fail(err, "truncated: %zu bytes, the header alone has %zu", size, sizeof *h);
	memcpy(h, base, sizeof *h);
	if (h->byte_order != TAC_BYTE_ORDER) {
		if (h->byte_order == 0x04030201u)
			return fail(err, "written on a machine of the other byte order; compile it again here");
		return fail(err, "corrupt header: byte order mark 0x%08x", (unsigned)h->byte_order);
	}
	if (h->version != TAC_VERSION)
		return fail(err, "image version %u, this build reads version %u; compile it again", (unsigned)h->version,
		            TAC_VERSION);
	if (h->size > size)
		return fail(err, "truncated: %zu bytes, the header says %llu", size, (unsigned long long)h->size);
	if (h->size < size)
		return fail(err, "%zu bytes, the header says %llu: trailing bytes after the image", size,
		            (unsigned long long)h->size);
	return true;
}

static bool check_sections(const struct tac_header *h, size_t size, struct imei_tacdb_error *err)
{
	if (h->bits > TAC_MAX_BITS)
		return fail(err, "corrupt header: 2^%u buckets (at most 2^%u)", (unsigned)h->bits, TAC_MAX_BITS);
	if (h->nnodes == 0 || h->nschemas == 0 || h->pool_size == 0)
		return fail(err, "corrupt header: no trie root, no empty column list or no string table");
	if (h->ndense > h->nrecords)
		return fail(err, "corrupt header: %u TACs but only %u records", (unsigned)h->ndense, (unsigned)h->nrecords);
	const uint64_t want[TAC_NSEC] = {
		[TAC_SEC_TOP] = (((uint64_t)1 << h->bits) + 1) * sizeof(uint32_t),
		[TAC_SEC_TACS] = (uint64_t)h->ndense * sizeof(uint32_t),
		[TAC_SEC_NODES] = (uint64_t)h->nnodes * sizeof(struct tac_node),
		[TAC_SEC_OKEYS] = (uint64_t)(h->nrecords - h->ndense) * sizeof(uint64_t),
		[TAC_SEC_RECORDS] = (uint64_t)h->nrecords * sizeof(struct tac_rec),
		[TAC_SEC_SCHEMAS] = (uint64_t)h->nschemas * sizeof(struct tac_schema),
		[TAC_SEC_COLS] = (uint64_t)h->ncols * sizeof(uint32_t),
		[TAC_SEC_XVAL] = (uint64_t)h->nxval * sizeof(uint32_t),
		[TAC_SEC_POOL] = h->pool_size,
	};
	uint64_t end = sizeof *h;
	for (int s = 0; s < TAC_NSEC; s++) {
		uint64_t off = h->sec[s].off, len = h->sec[s].len;
		if (len != want[s])
			return fail(err, "corrupt header: %s of %llu bytes, expected %llu", section_name[s],
			            (unsigned long long)len, (unsigned long long)want[s]);
		if (off % 8 != 0 || off < end || off > size || len > size - off)
			return fail(err, "corrupt header: %s at %llu+%llu is misplaced in an image of %zu bytes",
			            section_name[s], (unsigned long long)off, (unsigned long long)len, size);
		end = off + len;
	}
	return true;
}

/* Whether any of v[0..n) is >= limit: independent accumulators, no branch. */
static unsigned any_at_least(const uint32_t *v, size_t n, uint32_t limit)
{
	unsigned b0 = 0, b1 = 0, b2 = 0, b3 = 0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		b0 |= v[i] >= limit;
		b1 |= v[i + 1] >= limit;
		b2 |= v[i + 2] >= limit;
		b3 |= v[i + 3] >= limit;
	}
	for (; i < n; i++)
		b0 |= v[i] >= limit;
	return b0 | b1 | b2 | b3;
}

/* Records [from, to): string offsets inside the pool, extra-column list and values in
 * range (the lists themselves are checked later; only their lengths are read here). */
static inline uint32_t max2(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

static unsigned bad_records(const struct imei_tacdb *db, uint32_t from, uint32_t to)
{
	_Static_assert(IMEI_TAC_NFIELDS == 7, "the tree below takes 7 fields");
	uint32_t most = 0; /* the largest string offset; compared with the pool size once */
	unsigned bad = 0;
	for (uint32_t i = from; i < to; i++) {
		const uint32_t *f = db->recs[i].str;
		most = max2(most, max2(max2(max2(f[0], f[1]), max2(f[2], f[3])), max2(max2(f[4], f[5]), f[6])));
		const struct tac_rec *r = &db->recs[i];
		uint32_t s = r->schema < db->nschemas ? r->schema : 0; /* a bad one is flagged below */
		/* unsigned: when xval > nxval the difference wraps, and the first test catches it */
		bad |= (unsigned)(r->schema >= db->nschemas) | (unsigned)(r->xval > db->nxval) |
		       (unsigned)(db->schemas[s].n > db->nxval - r->xval);
	}
	return bad | (most >= db->pool_size);
}

/* How many whole elements of a section of n elements of a given size, starting at off,
 * lie below end. */
static uint32_t below(uint64_t off, size_t elem, uint32_t n, size_t end)
{
	if (end <= off)
		return 0;
	uint64_t k = (end - off) / elem;
	return k < n ? (uint32_t)k : n;
}

/* The checksum and the record and extra-value checks, in one pass over the image. */
static bool checksum_and_records(struct imei_tacdb *db, const struct tac_header *h, struct imei_tacdb_error *err)
{
	const unsigned char *base = db->base;
	size_t whole = db->size & ~(size_t)63;
	struct tac_ck ck;
	imei_tac_ck_init(&ck);
	uint32_t recs_done = 0, xval_done = 0;
	unsigned bad_rec = 0, bad_xval = 0;
	for (size_t off = 0; off < whole; off += CHUNK) {
		size_t end = whole - off < CHUNK ? whole : off + CHUNK;
		imei_tac_ck_blocks(&ck, base, off, end);
		uint32_t r = below(h->sec[TAC_SEC_RECORDS].off, sizeof(struct tac_rec), db->nrecords, end);
		bad_rec |= bad_records(db, recs_done, r);
		recs_done = r;
		uint32_t x = below(h->sec[TAC_SEC_XVAL].off, sizeof(uint32_t), db->nxval, end);
		bad_xval |= any_at_least(db->xval + xval_done, x - xval_done, db->pool_size);
		xval_done = x;
	}
	uint64_t sum = imei_tac_ck_final(&ck, base, db->size);
	if (sum != h->checksum)
		return fail(err, "checksum mismatch (stored %016llx, computed %016llx): the image is corrupt",
		            (unsigned long long)h->checksum, (unsigned long long)sum);
	/* the last few elements, in the tail after the last whole 64-byte block */
	bad_rec |= bad_records(db, recs_done, db->nrecords);
	bad_xval |= any_at_least(db->xval + xval_done, db->nxval - xval_done, db->pool_size);
	if (bad_rec)
		return fail(err, "corrupt records: a field or an extra-column range lies outside its table");
	if (bad_xval)
		return fail(err, "corrupt extra columns: a value lies outside the string table");
	return true;
}

static bool check_extras(const struct imei_tacdb *db, struct imei_tacdb_error *err)
{
	if (db->pool[db->pool_size - 1] != '\0')
		return fail(err, "corrupt string table: it does not end with a NUL");
	if (any_at_least(db->cols, db->ncols, db->pool_size))
		return fail(err, "corrupt extra columns: a name lies outside the string table");
	if (db->schemas[0].n != 0)
		return fail(err, "corrupt extra-column list 0: not empty");
	for (uint32_t i = 0; i < db->nschemas; i++)
		if (db->schemas[i].first > db->ncols || db->schemas[i].n > db->ncols - db->schemas[i].first)
			return fail(err, "corrupt extra-column list %u: out of range", (unsigned)i);
	return true;
}

static bool check_index(struct imei_tacdb *db, struct imei_tacdb_error *err)
{
	/* Two branch-free passes: the bucket table ascends from 0 to ndense; then each TAC is
	 * below 10^8, lies in the range of its own bucket, and the TACs ascend by (bucket,
	 * TAC). That is all the lookup relies on. */
	uint32_t nbuckets = (uint32_t)1 << db->bits;
	const uint32_t *top = db->top, *tacs = db->tacs;
	unsigned bad = top[0] != 0 || top[nbuckets] != db->ndense;
	for (uint32_t b = 0; b < nbuckets; b++)
		bad |= top[b + 1] < top[b];
	if (bad)
		return fail(err, "corrupt index: the bucket table does not run from 0 to the %u TACs",
		            (unsigned)db->ndense);
	uint64_t prev = 0;
	for (uint32_t i = 0; i < db->ndense; i++) {
		uint32_t tac = tacs[i] < 100000000u ? tacs[i] : 0;
		uint32_t b = tac_bucket(tac, db->bits);
		uint64_t key = (uint64_t)b << 32 | tacs[i];
		bad |= (unsigned)(tacs[i] >= 100000000u) | (unsigned)(top[b] > i) | (unsigned)(top[b + 1] <= i) |
		       (unsigned)(i > 0 && key <= prev);
		prev = key;
	}
	if (bad)
		return fail(err, "corrupt index: a TAC is out of its bucket or out of order");
	for (uint32_t n = 0; n < db->nnodes; n++) {
		const struct tac_node *node = &db->nodes[n];
		if (node->bits >= 1u << 10)
			return fail(err, "corrupt trie: node %u has bad child bits", (unsigned)n);
		unsigned nchild = (unsigned)__builtin_popcount(node->bits);
		/* children come after their parent (breadth first): no cycles, all in range */
		if (nchild && (node->first <= n || node->first > db->nnodes || nchild > db->nnodes - node->first))
			return fail(err, "corrupt trie: node %u links outside the trie", (unsigned)n);
		if (node->rec != IMEI_TACDB_NONE && (n == 0 || node->rec < db->ndense || node->rec >= db->nrecords))
			return fail(err, "corrupt trie: node %u names record %u", (unsigned)n, (unsigned)node->rec);
	}
	for (uint32_t i = 0; i < db->nrecords - db->ndense; i++) {
		unsigned len = tac_key_len(db->okeys[i]);
		if (len < 1 || len > IMEI_TACDB_KEY_MAX || len == 8 || tac_key_value(db->okeys[i]) >= imei_tac_pow10[len])
			return fail(err, "corrupt trie key %u", (unsigned)i);
		db->short_keys |= len < 8;
		db->long_keys |= len > 8;
	}
	return true;
}

static void view(struct imei_tacdb *db, const struct tac_header *h)
{
	const unsigned char *base = db->base;
	db->top = (const uint32_t *)(base + h->sec[TAC_SEC_TOP].off);
	db->tacs = (const uint32_t *)(base + h->sec[TAC_SEC_TACS].off);
	db->nodes = (const struct tac_node *)(base + h->sec[TAC_SEC_NODES].off);
	db->okeys = (const uint64_t *)(base + h->sec[TAC_SEC_OKEYS].off);
	db->recs = (const struct tac_rec *)(base + h->sec[TAC_SEC_RECORDS].off);
	db->schemas = (const struct tac_schema *)(base + h->sec[TAC_SEC_SCHEMAS].off);
	db->cols = (const uint32_t *)(base + h->sec[TAC_SEC_COLS].off);
	db->xval = (const uint32_t *)(base + h->sec[TAC_SEC_XVAL].off);
	db->pool = (const char *)(base + h->sec[TAC_SEC_POOL].off);
	db->nrecords = h->nrecords;
	db->ndense = h->ndense;
	db->nnodes = h->nnodes;
	db->nschemas = h->nschemas;
	db->ncols = h->ncols;
	db->nxval = h->nxval;
	db->pool_size = h->pool_size;
	db->bits = h->bits;
}

bool imei_tac_validate(struct imei_tacdb *db, struct imei_tacdb_error *err)
{
	struct tac_header h;
	if (!check_basics(db->base, db->size, &h, err))
		return false;
	struct imei_tacdb_error serr;
	if (!check_sections(&h, db->size, &serr)) {
		/* a damaged header is more likely a damaged file: say so when it is */
		uint64_t sum = imei_tac_checksum(db->base, db->size);
		if (sum != h.checksum)
			return fail(err, "checksum mismatch (stored %016llx, computed %016llx): the image is corrupt",
			            (unsigned long long)h.checksum, (unsigned long long)sum);
		if (err)
			*err = serr;
		return false;
	}
	view(db, &h);
	return checksum_and_records(db, &h, err) && check_extras(db, err) && check_index(db, err);
}
