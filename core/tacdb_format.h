/*
 * tacdb_format.h — private: the layout of a frozen TAC database image (version 3), and the
 * pieces shared by the files that build, validate and search it. See docs/tacdb.md.
 *
 *   header (208 bytes)
 *   top      uint32[2^bits + 1]    bucket starts: the 8-digit TACs t with tac_bucket(t) = b
 *                                  sit at positions top[b] .. top[b+1]-1
 *   tacs     uint32[ndense]        those TACs, ascending within a bucket; position i is
 *                                  record i
 *   nodes    struct tac_node[]     10-ary trie of the keys of other lengths, breadth first
 *   okeys    uint64[nrecords - ndense]  those keys (digits | length << 48), record ndense + i
 *   records  struct tac_rec[]      8-digit TACs first (ascending), then the others
 *   schemas  struct tac_schema[]   distinct lists of extra-column names; 0 is the empty list
 *   cols     uint32[]              the names of all schemas (string offsets)
 *   xval     uint32[]              extra-column values of all records (string offsets)
 *   pool     char[]                interned NUL-terminated strings; offset 0 is ""
 * Sections are 8-byte aligned and in this order. All integers are in the byte order of
 * the machine that wrote the image, stated by header.byte_order; a reader on a machine of
 * the other order refuses the image. The checksum covers every byte.
 */
#ifndef IMEI_TAC_FORMAT_H
#define IMEI_TAC_FORMAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imei_tacdb.h"

#define TAC_MAGIC "IMEITAC\x1a"
#define TAC_MAGIC_LEN 8
#define TAC_VERSION 3u
#define TAC_BYTE_ORDER 0x01020304u
#define TAC_KEY_LEN_SHIFT 48 /* key = digits as a number | length << 48 */
#define TAC_DATE_MASK 0x07FFFFFFu /* tac_rec.date_rat: YYYYMMDD (< 2^27) | rat << 27 */
#define TAC_RAT_SHIFT 27
#define TAC_MAX_BITS 27 /* more buckets than 8-digit TACs exist make no sense */

enum tac_section {
	TAC_SEC_TOP,
	TAC_SEC_TACS,
	TAC_SEC_NODES,
	TAC_SEC_OKEYS,
	TAC_SEC_RECORDS,
	TAC_SEC_SCHEMAS,
	TAC_SEC_COLS,
	TAC_SEC_XVAL,
	TAC_SEC_POOL,
	TAC_NSEC
};

struct tac_header {
	char magic[TAC_MAGIC_LEN];
	uint32_t byte_order;
	uint32_t version;
	uint64_t size;     /* the whole image, header included */
	uint64_t checksum; /* imei_tac_checksum() of the image, this field read as zero */
	uint32_t nrecords, ndense, nnodes, nschemas, ncols, nxval;
	uint32_t bits;     /* 2^bits buckets, 0 to TAC_MAX_BITS */
	uint32_t pool_size;
	struct {
		uint64_t off, len;
	} sec[TAC_NSEC];
};

struct tac_node {
	uint32_t first; /* index of the first child; children are contiguous, in digit order */
	uint32_t rec;   /* record of the key ending here, or IMEI_TACDB_NONE */
	uint32_t bits;  /* bit d set: a child for digit d */
};

struct tac_rec {
	uint32_t str[IMEI_TAC_NFIELDS];
	uint32_t date_rat;
	uint32_t schema; /* its extra-column names */
	uint32_t xval;   /* its values: xval[xval .. xval + schema length - 1] */
};

struct tac_schema {
	uint32_t first, n; /* names at cols[first .. first + n - 1] */
};

_Static_assert(sizeof(struct tac_header) == 64 + 16 * TAC_NSEC, "header layout");
_Static_assert(sizeof(struct tac_node) == 12, "node layout");
_Static_assert(sizeof(struct tac_rec) == 40, "record layout");
_Static_assert(sizeof(struct tac_schema) == 8, "schema layout");

/* A frozen database: a validated view over one image. */
struct imei_tacdb {
	atomic_size_t refs;
	unsigned char *base; /* the image: malloc'd, or mmap'd when mapped */
	size_t size;
	bool mapped;
	const uint32_t *top;
	const uint32_t *tacs;
	const struct tac_node *nodes;
	const uint64_t *okeys;
	const struct tac_rec *recs;
	const struct tac_schema *schemas;
	const uint32_t *cols;
	const uint32_t *xval;
	const char *pool;
	uint32_t nrecords, ndense, nnodes, nschemas, ncols, nxval, pool_size, bits;
	bool short_keys; /* some key has fewer than 8 digits */
	bool long_keys;  /* some key has more than 8 digits */
};

/* The bucket of an 8-digit TAC among 2^bits: Fibonacci hashing (the top bits of a
 * multiplication by 2^32/phi), which spreads the clustered TACs (most start with 35 or
 * 86) evenly. */
static inline uint32_t tac_bucket(uint32_t tac, uint32_t bits)
{
	return bits ? (uint32_t)(tac * 2654435769u) >> (32 - bits) : 0;
}

/* 10^n for n = 0..14. */
extern const uint64_t imei_tac_pow10[15];

static inline uint64_t tac_key_pack(uint64_t value, unsigned len)
{
	return value | (uint64_t)len << TAC_KEY_LEN_SHIFT;
}

static inline unsigned tac_key_len(uint64_t key)
{
	return (unsigned)(key >> TAC_KEY_LEN_SHIFT);
}

static inline uint64_t tac_key_value(uint64_t key)
{
	return key & (((uint64_t)1 << TAC_KEY_LEN_SHIFT) - 1);
}

/* The key of record idx (< nrecords). */
uint64_t imei_tac_record_key(const struct imei_tacdb *db, uint32_t idx);

/* Write the key's digits and a NUL into out[15]; returns the length. */
size_t imei_tac_key_digits(uint64_t key, char out[IMEI_TACDB_KEY_MAX + 1]);

/* The image checksum (tacdb_checksum.c): 64 bits, the header's checksum field read as 0.
 * Streaming: imei_tac_ck_blocks over whole 64-byte blocks [from, to), in order from 0, then
 * imei_tac_ck_final, which takes the bytes after the last whole block. */
struct tac_ck {
	uint64_t v[8];
};
void imei_tac_ck_init(struct tac_ck *c);
void imei_tac_ck_blocks(struct tac_ck *c, const unsigned char *img, size_t from, size_t to);
uint64_t imei_tac_ck_final(const struct tac_ck *c, const unsigned char *img, size_t size);
uint64_t imei_tac_checksum(const unsigned char *img, size_t size);

/* Check the image at db->base (db->size bytes) and fill in the rest of db (tacdb_validate.c).
 * false with err filled when the image is refused. */
bool imei_tac_validate(struct imei_tacdb *db, struct imei_tacdb_error *err);

/* Validate an image and make a db of it (refs = 1). The db owns base: it is freed (or
 * unmapped when mapped) with the db, and also on failure. NULL with err filled. */
struct imei_tacdb *imei_tac_image_adopt(unsigned char *base, size_t size, bool mapped, struct imei_tacdb_error *err);

/* A growable set of interned strings: pool[0] = '\0' is "", each string once. */
struct tac_intern {
	char *pool;
	size_t len, cap;
	struct tac_slot {
		uint32_t off, hash;
	} *slots;
	size_t nslots, count;
};

void imei_tac_intern_init(struct tac_intern *t);
void imei_tac_intern_free(struct tac_intern *t);
/* Intern s[0..len) (no NUL inside); false when out of memory or past 4 GiB. */
bool imei_tac_intern(struct tac_intern *t, const char *s, size_t len, uint32_t *off);

/* The builder's content, for freezing. */
struct tac_entry {
	uint64_t key;
	uint32_t str[IMEI_TAC_NFIELDS]; /* offsets into the builder's pool */
	uint32_t date, rat;
	uint32_t kv_first, kv_n;
	uint32_t tag;
};

/* An extra column of a builder entry: name and value offsets into the builder's pool. */
struct tac_kv {
	uint32_t key, value;
};

void imei_tac_builder_view(const struct imei_tacdb_builder *b, const struct tac_entry **ent, size_t *nent,
                      const struct tac_kv **kv, const char **pool, size_t *pool_size);

#endif
