/*
 * tac_image.c — frozen TAC database images: validate, open (mmap), copy in, save
 * (temporary file + rename), reference counting, statistics. Layout in tac_format.h.
 *
 * Everything a lookup will touch is checked when an image is taken in, so lookups need no
 * checks of their own: sizes and offsets of every section, the bucket table, the bucket
 * and order of every TAC, every trie link and key, every string offset (the pool ends with a
 * NUL, so a string at any offset inside it ends inside it), every extra-column range.
 * The checksum comes first, so a damaged file is reported as such rather than as the
 * first inconsistency it happens to contain.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tac_format.h"

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

/* Put "prefix: " in front of the message already in err. */
static void prefix_error(struct imei_tacdb_error *err, const char *prefix)
{
	if (!err)
		return;
	char msg[sizeof err->msg];
	memcpy(msg, err->msg, sizeof msg);
	msg[sizeof msg - 1] = '\0';
	size_t cap = sizeof err->msg - 1, n = 0;
	for (const char *parts[3] = { prefix, ": ", msg }, **p = parts; p < parts + 3; p++) {
		size_t k = strlen(*p);
		if (k > cap - n)
			k = cap - n;
		memcpy(err->msg + n, *p, k);
		n += k;
	}
	err->msg[n] = '\0';
}

/* ---- checksum ---------------------------------------------------------------------- */

#define P1 11400714785074694791ULL
#define P2 14029467366897019727ULL
#define P3 1609587929392839161ULL
#define P4 9650029242287828579ULL
#define P5 2870177450012600261ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t mix(uint64_t acc, uint64_t in)
{
	return rotl64(acc + in * P2, 31) * P1;
}

uint64_t tac_checksum(const unsigned char *img, size_t size)
{
	uint64_t v1 = P1 + P2, v2 = P2, v3 = 0, v4 = 0 - P1;
	size_t i = 0;
	uint64_t w[4];
	if (size >= 32) {
		/* the first block holds the checksum field itself (bytes 24..31): read as 0 */
		memcpy(w, img, 32);
		w[offsetof(struct tac_header, checksum) / 8] = 0;
		v1 = mix(v1, w[0]), v2 = mix(v2, w[1]), v3 = mix(v3, w[2]), v4 = mix(v4, w[3]);
		i = 32;
	}
	for (; i + 32 <= size; i += 32) {
		memcpy(w, img + i, 32);
		v1 = mix(v1, w[0]), v2 = mix(v2, w[1]), v3 = mix(v3, w[2]), v4 = mix(v4, w[3]);
	}
	uint64_t h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18) + (uint64_t)size * P5;
	for (; i + 8 <= size; i += 8) {
		memcpy(w, img + i, 8);
		h ^= mix(0, w[0]);
		h = rotl64(h, 27) * P1 + P4;
	}
	for (; i < size; i++) {
		h ^= img[i] * P5;
		h = rotl64(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

/* ---- validation -------------------------------------------------------------------- */

static const char *const section_name[TAC_NSEC] = {
	"bucket table", "TACs", "trie", "trie keys", "records", "extra-column lists", "extra-column names",
	"extra-column values", "string table",
};

static bool check_header(const unsigned char *base, size_t size, struct tac_header *h, struct imei_tacdb_error *err)
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
	uint64_t sum = tac_checksum(base, size);
	if (sum != h->checksum)
		return fail(err, "checksum mismatch (stored %016llx, computed %016llx): the image is corrupt",
		            (unsigned long long)h->checksum, (unsigned long long)sum);
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

static bool check_index(struct imei_tacdb *db, struct imei_tacdb_error *err)
{
	uint32_t nbuckets = (uint32_t)1 << db->bits;
	if (db->top[0] != 0 || db->top[nbuckets] != db->ndense)
		return fail(err, "corrupt index: the bucket table does not span the %u TACs", (unsigned)db->ndense);
	for (uint32_t b = 0; b < nbuckets; b++) {
		uint32_t first = db->top[b], last = db->top[b + 1];
		if (last < first || last > db->ndense)
			return fail(err, "corrupt index: bucket %u runs from %u to %u", (unsigned)b, (unsigned)first,
			            (unsigned)last);
		/* each TAC in its own bucket, ascending, below 10^8: what the lookup relies on */
		unsigned bad = 0;
		for (uint32_t i = first; i < last; i++)
			bad |= (db->tacs[i] >= 100000000u) | (tac_bucket(db->tacs[i], db->bits) != b) |
			       (i > first && db->tacs[i] <= db->tacs[i - 1]);
		if (bad)
			return fail(err, "corrupt index: the TACs of bucket %u are out of place or order", (unsigned)b);
	}
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
		if (len < 1 || len > IMEI_TACDB_KEY_MAX || len == 8 || tac_key_value(db->okeys[i]) >= tac_pow10[len])
			return fail(err, "corrupt trie key %u", (unsigned)i);
		db->short_keys |= len < 8;
		db->long_keys |= len > 8;
	}
	return true;
}

/* Whether any of v[0..n) is >= limit. Four independent accumulators and no branch, so
 * the loop runs at memory speed. */
static bool any_at_least(const uint32_t *v, size_t n, uint32_t limit)
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

static bool check_records(struct imei_tacdb *db, struct imei_tacdb_error *err)
{
	if (db->pool[db->pool_size - 1] != '\0')
		return fail(err, "corrupt string table: it does not end with a NUL");
	if (any_at_least(db->cols, db->ncols, db->pool_size) || any_at_least(db->xval, db->nxval, db->pool_size))
		return fail(err, "corrupt extra columns: a name or value lies outside the string table");
	if (db->schemas[0].n != 0)
		return fail(err, "corrupt extra-column list 0: not empty");
	for (uint32_t i = 0; i < db->nschemas; i++)
		if (db->schemas[i].first > db->ncols || db->schemas[i].n > db->ncols - db->schemas[i].first)
			return fail(err, "corrupt extra-column list %u: out of range", (unsigned)i);
	unsigned bad = 0;
	for (uint32_t i = 0; i < db->nrecords; i++) {
		const struct tac_rec *r = &db->recs[i];
		for (int f = 0; f < IMEI_TAC_NFIELDS; f++)
			bad |= r->str[f] >= db->pool_size;
		if (r->schema >= db->nschemas)
			return fail(err, "corrupt record %u: extra-column list %u does not exist", (unsigned)i,
			            (unsigned)r->schema);
		/* unsigned: when xval > nxval the difference wraps, and the first test catches it */
		bad |= (r->xval > db->nxval) | (db->schemas[r->schema].n > db->nxval - r->xval);
	}
	if (bad)
		return fail(err, "corrupt records: a field or extra column lies outside its table");
	return true;
}

static void release(unsigned char *base, size_t size, bool mapped)
{
	if (mapped)
		munmap(base, size);
	else
		free(base);
}

struct imei_tacdb *tac_image_adopt(unsigned char *base, size_t size, bool mapped, struct imei_tacdb_error *err)
{
	struct tac_header h;
	if (!check_header(base, size, &h, err)) {
		release(base, size, mapped);
		return NULL;
	}
	struct imei_tacdb *db = calloc(1, sizeof *db);
	if (!db) {
		release(base, size, mapped);
		fail(err, "out of memory");
		return NULL;
	}
	atomic_init(&db->refs, 1);
	db->base = base;
	db->size = size;
	db->mapped = mapped;
	db->top = (const uint32_t *)(base + h.sec[TAC_SEC_TOP].off);
	db->tacs = (const uint32_t *)(base + h.sec[TAC_SEC_TACS].off);
	db->nodes = (const struct tac_node *)(base + h.sec[TAC_SEC_NODES].off);
	db->okeys = (const uint64_t *)(base + h.sec[TAC_SEC_OKEYS].off);
	db->recs = (const struct tac_rec *)(base + h.sec[TAC_SEC_RECORDS].off);
	db->schemas = (const struct tac_schema *)(base + h.sec[TAC_SEC_SCHEMAS].off);
	db->cols = (const uint32_t *)(base + h.sec[TAC_SEC_COLS].off);
	db->xval = (const uint32_t *)(base + h.sec[TAC_SEC_XVAL].off);
	db->pool = (const char *)(base + h.sec[TAC_SEC_POOL].off);
	db->nrecords = h.nrecords;
	db->ndense = h.ndense;
	db->nnodes = h.nnodes;
	db->nschemas = h.nschemas;
	db->ncols = h.ncols;
	db->nxval = h.nxval;
	db->pool_size = h.pool_size;
	db->bits = h.bits;
	if (!check_records(db, err) || !check_index(db, err)) {
		release(base, size, mapped);
		free(db);
		return NULL;
	}
	return db;
}

/* ---- in and out -------------------------------------------------------------------- */

struct imei_tacdb *imei_tacdb_from_image(const void *buf, size_t len, struct imei_tacdb_error *err)
{
	unsigned char *copy = malloc(len ? len : 1);
	if (!copy) {
		fail(err, "TAC image: out of memory for %zu bytes", len);
		return NULL;
	}
	if (len)
		memcpy(copy, buf, len);
	struct imei_tacdb *db = tac_image_adopt(copy, len, false, err);
	if (!db)
		prefix_error(err, "TAC image");
	return db;
}

struct imei_tacdb *imei_tacdb_open(const char *path, struct imei_tacdb_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		fail(err, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		fail(err, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (sb.st_size == 0) {
		fail(err, "%s: empty file, not a TAC image", path);
		close(fd);
		return NULL;
	}
	size_t size = (size_t)sb.st_size;
	int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
	flags |= MAP_POPULATE; /* the checksum reads every page anyway */
#endif
	void *map = mmap(NULL, size, PROT_READ, flags, fd, 0);
	int e = errno;
	close(fd);
	if (map == MAP_FAILED) {
		fail(err, "%s: %s", path, strerror(e));
		return NULL;
	}
	struct imei_tacdb *db = tac_image_adopt(map, size, true, err);
	if (!db)
		prefix_error(err, path);
	return db;
}

static bool write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

int imei_tacdb_save(const struct imei_tacdb *db, const char *path, struct imei_tacdb_error *err)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof ".XXXXXX");
	if (!tmp) {
		fail(err, "%s: out of memory", path);
		return -1;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".XXXXXX", sizeof ".XXXXXX");
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fail(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	const char *step = "write";
	bool ok = write_all(fd, db->base, db->size);
	if (ok && (step = "chmod", fchmod(fd, 0644) != 0))
		ok = false;
	if (ok && (step = "fsync", fsync(fd) != 0))
		ok = false;
	int e = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		step = "close";
		e = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		step = "rename";
		e = errno;
	}
	if (!ok) {
		fail(err, "%s: %s failed: %s", path, step, strerror(e));
		unlink(tmp);
	}
	free(tmp);
	return ok ? 0 : -1;
}

const void *imei_tacdb_image(const struct imei_tacdb *db, size_t *len)
{
	*len = db->size;
	return db->base;
}

struct imei_tacdb *imei_tacdb_ref(struct imei_tacdb *db)
{
	atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);
	return db;
}

void imei_tacdb_unref(struct imei_tacdb *db)
{
	if (!db || atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) != 1)
		return;
	release(db->base, db->size, db->mapped);
	free(db);
}

size_t imei_tacdb_count(const struct imei_tacdb *db)
{
	return db->nrecords;
}

void imei_tacdb_stats(const struct imei_tacdb *db, struct imei_tacdb_stats *st)
{
	memset(st, 0, sizeof *st);
	st->records = db->nrecords;
	st->tacs = db->ndense;
	st->other_keys = db->nrecords - db->ndense;
	st->trie_nodes = db->nnodes;
	st->bucket_bits = db->bits;
	st->index_bytes = (((size_t)1 << db->bits) + 1) * sizeof(uint32_t) + (size_t)db->ndense * sizeof(uint32_t) +
	                  (size_t)db->nnodes * sizeof(struct tac_node) +
	                  (size_t)(db->nrecords - db->ndense) * sizeof(uint64_t);
	st->record_bytes = (size_t)db->nrecords * sizeof(struct tac_rec);
	st->extra_bytes = (size_t)db->nschemas * sizeof(struct tac_schema) + (size_t)db->ncols * sizeof(uint32_t) +
	                  (size_t)db->nxval * sizeof(uint32_t);
	st->string_bytes = db->pool_size;
	st->image_bytes = db->size;
	st->mapped = db->mapped;
}
