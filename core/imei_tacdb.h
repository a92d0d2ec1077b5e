/*
 * imei_tacdb.h — the TAC database: device records keyed by decimal prefixes of 1 to 14 digits,
 * looked up by longest prefix.
 *
 * A TAC (Type Allocation Code) is the first 8 digits of an IMEI (3GPP TS 23.003 §6.2.1);
 * the GSMA allocates them and publishes one record per TAC. Besides exact 8-digit TACs the
 * database holds shorter prefixes (a 6-digit range rule, a 2-digit reporting body) and
 * longer ones (a serial range of 9 to 13 digits, a single device of 14 digits = TAC + SNR).
 * A lookup returns the record of the longest key that is a prefix of the query: an exact
 * 8-digit TAC beats a 6-digit range, and a 14-digit device key beats its TAC.
 *
 * Life cycle:
 *   builder (mutable)  --imei_tacdb_freeze-->  frozen db (immutable image)
 *   frozen db  --imei_tacdb_save-->  file  --imei_tacdb_open (mmap)-->  frozen db
 * A frozen db is one contiguous, position-independent image (offsets, never pointers),
 * the same bytes in memory and on disk: a versioned header with magic, byte order and
 * checksum, then the index and the records. Opening validates all of it, so a truncated,
 * corrupt or foreign file is refused with a message and never read past its end.
 *
 * Threads: a frozen db is immutable; any number of threads and Lua states may look up in
 * it at once. Its reference count is atomic: imei_tacdb_ref() for each new holder,
 * imei_tacdb_unref() when done; the last unref frees (or unmaps) it.
 * A builder is not shared: one thread at a time.
 */
#ifndef IMEI_TACDB_H
#define IMEI_TACDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMEI_TACDB_KEY_MAX 14        /* longest key: TAC + SNR, the device identity */
#define IMEI_TACDB_NONE UINT32_MAX   /* "no record" from the lookups */

/* The string fields of a record. */
enum imei_tac_field {
	IMEI_TAC_BRAND = 0,
	IMEI_TAC_MODEL,
	IMEI_TAC_MARKETING_NAME,
	IMEI_TAC_MANUFACTURER,
	IMEI_TAC_DEVICE_TYPE,
	IMEI_TAC_OS,
	IMEI_TAC_BANDS,
	IMEI_TAC_NFIELDS
};

/* Radio access technologies, as a bitmask derived from the GSMA "Bands" text. */
enum imei_tac_rat {
	IMEI_TAC_RAT_2G = 1 << 0, /* GSM, GPRS, EDGE */
	IMEI_TAC_RAT_3G = 1 << 1, /* WCDMA, HSPA, UMTS, TD-SCDMA, CDMA2000, EVDO */
	IMEI_TAC_RAT_4G = 1 << 2, /* LTE, CA_ (carrier aggregation), DC_ (dual connectivity) */
	IMEI_TAC_RAT_5G = 1 << 3  /* NR */
};

/* The RAT bitmask of a bands text such as "GSM 900, WCDMA FDD Band I, LTE FDD BAND 3".
 * Words (runs of letters, digits and '_') are matched case-insensitively; any input is
 * safe, unknown words are ignored. */
unsigned imei_tac_rat_from_bands(const char *bands, size_t len);

/* The name of a field ("brand", "model", "marketing_name", …), NULL when out of range. */
const char *imei_tac_field_name(enum imei_tac_field f);

/* Every failing call fills one of these (when not NULL) with what, where and why. */
struct imei_tacdb_error {
	char msg[256];
};

/* ---- building ---------------------------------------------------------------------- */

struct imei_tacdb_builder;

/* One extra column kept with a record: a name and a value. */
struct imei_tac_kv {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

/* What a record says about a device. Strings need not be NUL-terminated; a NULL string
 * (or length 0) is empty. Strings must not contain NUL bytes. */
struct imei_tac_fields {
	const char *str[IMEI_TAC_NFIELDS];
	size_t len[IMEI_TAC_NFIELDS];
	uint32_t date;                  /* allocation date as YYYYMMDD, 0 when unknown */
	uint32_t rat;                   /* enum imei_tac_rat bits */
	const struct imei_tac_kv *extra;/* nextra extra columns, in their order */
	size_t nextra;
};

/* What to do when a key is added twice. */
enum imei_tacdb_dup {
	IMEI_TACDB_KEEP_LAST = 0, /* the later record replaces the earlier one */
	IMEI_TACDB_KEEP_FIRST     /* the earlier record stays, the later one is dropped */
};

/* NULL when out of memory. */
struct imei_tacdb_builder *imei_tacdb_builder_new(enum imei_tacdb_dup dup);
void imei_tacdb_builder_free(struct imei_tacdb_builder *b);

/* Add a record under key[0..key_len): 1 to 14 decimal digits. tag is the caller's (a line
 * number, say) and comes back when the key is added again.
 * Returns 0 when the key is new; 1 when it was already there (*prev_tag, if not NULL,
 * receives the tag of the record that was there; the dup policy decides which stays);
 * -1 on bad input or out of memory, with err filled. */
int imei_tacdb_builder_add(struct imei_tacdb_builder *b, const char *key, size_t key_len,
                           const struct imei_tac_fields *f, uint32_t tag, uint32_t *prev_tag,
                           struct imei_tacdb_error *err);

/* The number of distinct keys so far. */
size_t imei_tacdb_builder_count(const struct imei_tacdb_builder *b);

/* Freeze the builder's content into a new db (reference count 1); the builder is left as
 * it was. NULL with err filled when out of memory or the image would exceed 4 GiB. */
struct imei_tacdb *imei_tacdb_freeze(const struct imei_tacdb_builder *b, struct imei_tacdb_error *err);

/* ---- frozen images ----------------------------------------------------------------- */

struct imei_tacdb;

/* Map a compiled image read-only and validate it (size, magic, byte order, version,
 * checksum, every offset). NULL with err filled ("PATH: truncated: …", "PATH: not a TAC
 * image …") on any problem. */
struct imei_tacdb *imei_tacdb_open(const char *path, struct imei_tacdb_error *err);
/* The same, read into private memory instead of mapped: immune to the file being
 * overwritten in place (a mapping would see the new bytes, or SIGBUS past a truncation).
 * What long-running hosts use (imei_engine_config_open, imei-eird). A file changing
 * while it is read is refused ("changed while being read"). */
struct imei_tacdb *imei_tacdb_open_copy(const char *path, struct imei_tacdb_error *err);

/* The same from bytes in memory (copied, so buf may be freed afterwards and need not be
 * aligned). */
struct imei_tacdb *imei_tacdb_from_image(const void *buf, size_t len, struct imei_tacdb_error *err);

/* Write the image to path: a temporary file in the same folder, fsync, then rename, so a
 * crash never leaves a half-written file under path. 0, or -1 with err filled. */
int imei_tacdb_save(const struct imei_tacdb *db, const char *path, struct imei_tacdb_error *err);

/* The image bytes (what imei_tacdb_save writes). */
const void *imei_tacdb_image(const struct imei_tacdb *db, size_t *len);

/* Take one more reference (returns db); drop one (frees at zero; NULL is ignored).
 * Both are safe from any thread. */
struct imei_tacdb *imei_tacdb_ref(struct imei_tacdb *db);
void imei_tacdb_unref(struct imei_tacdb *db);

/* ---- lookups (any thread, no locks) ------------------------------------------------- */

/* The number of records (distinct keys). Record indexes run from 0 to count - 1, 8-digit
 * TACs first (in the order of the index), then the other keys in digit order. */
size_t imei_tacdb_count(const struct imei_tacdb *db);

/* The record of the longest key that is a prefix of digits[0..len), or IMEI_TACDB_NONE.
 * Only the leading decimal digits count, and at most 14 of them (TAC + SNR: the CD and
 * the SVN of a 15- or 16-digit value are not part of the identity, TS 23.003 §6.2). */
uint32_t imei_tacdb_lookup(const struct imei_tacdb *db, const char *digits, size_t len);

/* The same for an 8-digit TAC given as a number (0 to 99999999): the exact TAC, or the
 * longest shorter prefix. IMEI_TACDB_NONE when absent or out of range. */
uint32_t imei_tacdb_lookup_tac(const struct imei_tacdb *db, uint32_t tac);

/* imei_tacdb_lookup_tac for n TACs at once: out[i] for tacs[i]. Faster per TAC than
 * one call each on large databases (the memory accesses of 16 lookups overlap). */
void imei_tacdb_lookup_tacs(const struct imei_tacdb *db, const uint32_t *tacs, size_t n, uint32_t *out);

/* A lookup of an identifier as people write it: 1 to 16 digits (a prefix, a TAC, an IMEI
 * with or without CD, an IMEISV), spaces and hyphens ignored, an optional 5G PEI prefix
 * "imei-" or "imeisv-". Returns 0 and sets *idx (IMEI_TACDB_NONE when not found), or -1
 * with err filled when the text is not such an identifier. */
int imei_tacdb_lookup_str(const struct imei_tacdb *db, const char *s, size_t len, uint32_t *idx,
                          struct imei_tacdb_error *err);

/* Counts of imei_tacdb_lookup_lines(). */
struct imei_tacdb_bulk {
	size_t lines;     /* lines seen (LF or CRLF separated; a last line needs no LF) */
	size_t found;     /* a record matched */
	size_t not_found; /* a well-formed identifier without a record */
	size_t invalid;   /* not an identifier imei_tacdb_lookup_str() accepts (blank lines too) */
};

/* Look up every line of buf[0..len), as imei_tacdb_lookup_str() does, and count. */
void imei_tacdb_lookup_lines(const struct imei_tacdb *db, const char *buf, size_t len, struct imei_tacdb_bulk *out);

/* A record, with pointers into the image (valid while the caller holds a reference). */
struct imei_tac_record {
	char key[IMEI_TACDB_KEY_MAX + 1]; /* the key digits, NUL-terminated */
	size_t key_len;
	const char *str[IMEI_TAC_NFIELDS];/* NUL-terminated, "" when empty */
	uint32_t date;                    /* YYYYMMDD, 0 when unknown */
	uint32_t rat;
	size_t nextra;
};

/* Fill *rec for record idx; false when idx is out of range. */
bool imei_tacdb_record(const struct imei_tacdb *db, uint32_t idx, struct imei_tac_record *rec);

/* Extra column i (0 .. rec.nextra - 1) of record idx; false when out of range. */
bool imei_tacdb_extra(const struct imei_tacdb *db, uint32_t idx, size_t i, const char **key,
                      const char **value);

struct imei_tacdb_stats {
	size_t records;       /* distinct keys */
	size_t tacs;          /* 8-digit keys, in the fast TAC index */
	size_t other_keys;    /* keys of 1-7 and 9-14 digits, in the prefix trie */
	size_t trie_nodes;
	size_t bucket_bits;   /* the TAC index has 2^bucket_bits buckets */
	size_t index_bytes;   /* bucket table + TACs + trie nodes + trie keys */
	size_t record_bytes;
	size_t extra_bytes;   /* extra-column pairs */
	size_t string_bytes;  /* the interned string table */
	size_t image_bytes;   /* everything, header included */
	bool mapped;          /* opened from a file with mmap */
};

void imei_tacdb_stats(const struct imei_tacdb *db, struct imei_tacdb_stats *st);

#endif
