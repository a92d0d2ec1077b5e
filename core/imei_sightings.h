/*
 * imei_sightings.h — the sightings store: which subscribers used a device identity, when, and
 * which subscriber owns it (docs/sightings.md). Policies ask it for cloned-IMEI evidence: distinct
 * IMSIs of a key within N days, daily averages, the first-seen IMSI, IMEI–IMSI pairings.
 *
 * Model. A sighting is (key, IMSI, MSISDN, operator, RAT, time). The store keeps one
 * AGGREGATE per (key, IMSI, MSISDN) triple: first and last seen (UTC seconds), the number
 * of distinct UTC days seen, a bitmap of the 64 UTC days ending with the last-seen day,
 * the RATs seen (a set) and the operator of the latest sighting that named one.
 *   - key: the 14-digit device identity, TAC + SNR (3GPP TS 29.272 §6.2.1.3: the EIR
 *     identifies equipment by the first 14 digits), as a number < 10^14 < 2^47.
 *   - IMSI (TS 23.003 §2.2, 6..15 digits) and MSISDN (E.164, 3..15 digits) are encoded
 *     as 10^len + value < 2^51, so leading zeros survive and 0 means "none".
 *   - operator: MCC (3 digits) + MNC (2 or 3 digits), encoded in 22 bits, 0 = none.
 *   - RAT: TS 29.274 §8.17 RAT Type values 1..10 (UTRAN, GERAN, WLAN, GAN, HSPA, EUTRAN,
 *     Virtual, NB-IoT, LTE-M, NR), as used by operator dumps.
 *   - time: UTC seconds, 0 .. 2^32-1 (1970 .. 2106).
 *
 * Windows. A window of N days at `now` is the N UTC calendar days ending with the day
 * that contains `now` (that whole day included). A sighting at 00:00:00 of the first of
 * those days counts; one a second earlier does not.
 * Exactness. Queries are computed from the aggregates, the same code for every backend,
 * so backends give identical answers. They are exact whenever each aggregate's history
 * in the window is known: a window that reaches an aggregate's first or last seen day,
 * or lies within the 64 days ending with its last seen day. In particular imsis() and
 * msisdns() are exact for ANY N when `now` is on or after the data (live checks, replays
 * in time order), and daily() is exact for N <= 64 (IMEI_SIGHT_HORIZON_DAYS). Otherwise
 * the answer counts only what is known and says so (exact = false).
 * days_seen is exact while a triple's sightings arrive at most 64 days out of order; an
 * older sighting on a day that may already be counted is counted as a new day.
 *
 * Backends (one C interface, struct imei_store_ops below):
 *   "memory"      sightings_mem.c: open addressing, 48 bytes per aggregate + index.
 *   "lmdb:PATH"   sightings_lmdb.c: persistent; PATH is a directory (created if missing)
 *                 shared by processes; sightings are batched (see durability).
 *   "redis://…"   sightings_redis.c: Redis or Redis Cluster shared by many gateways;
 *                 sightings are pipelined, buffered (bounded, counted) while Redis is
 *                 away; acknowledged once flush() returns 0 (written to Redis, whose own
 *                 persistence settings then decide durability).
 *
 * Durability (LMDB). imei_store_record(), _pair() and _unpair() queue a change; it is
 * ACKNOWLEDGED — durable, fsync'd, surviving a crash of the process or the machine —
 * once imei_store_flush() returns 0 after it, and not before. A full queue (opts.batch)
 * is committed on its own too, but only flush() acknowledges. A commit is atomic: after
 * a crash the store holds exactly the changes of the commits before it. Queries see
 * queued changes too. Stats count committed aggregates, keys and pairings.
 * The memory backend is never durable; flush() is a no-op there.
 *
 * Threads. Every function below may be called from any thread on one shared store: a
 * read-write lock in the store serialises writes and lets queries run in parallel, and
 * LMDB read transactions are pooled (MDB_NOTLS), not tied to threads. An iterator must
 * be used by one thread at a time. A frozen store (imei_store_freeze) is only read, by any
 * number of threads without the lock. imei_store_retain()/release() are atomic, so several
 * lua_States and threads may share one store. One LMDB directory may be open in many
 * processes at once, but only ONCE per process (an LMDB rule): open it once and share
 * the handle; a second open in the same process is refused with a clear error.
 *
 * Errors: functions return -1 (or NULL) and fill a struct imei_store_error, whose msg
 * says what failed, where and why. Bad input never crashes and never changes the store.
 */
#ifndef IMEI_SIGHTINGS_H
#define IMEI_SIGHTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMEI_SIGHT_KEY_LIMIT 100000000000000ULL /* keys are < 10^14 */
#define IMEI_SIGHT_DAY 86400u
#define IMEI_SIGHT_HORIZON_DAYS 64 /* days of per-day history kept per aggregate */
#define IMEI_SIGHT_IMSI_MIN 6
#define IMEI_SIGHT_IMSI_MAX 15
#define IMEI_SIGHT_MSISDN_MIN 3
#define IMEI_SIGHT_MSISDN_MAX 15
#define IMEI_SIGHT_RAT_MAX 10

/* TS 29.274 §8.17 RAT Type values. */
enum imei_rat {
	IMEI_RAT_NONE = 0,
	IMEI_RAT_UTRAN = 1,
	IMEI_RAT_GERAN = 2,
	IMEI_RAT_WLAN = 3,
	IMEI_RAT_GAN = 4,
	IMEI_RAT_HSPA = 5,
	IMEI_RAT_EUTRAN = 6,
	IMEI_RAT_VIRTUAL = 7,
	IMEI_RAT_NBIOT = 8,
	IMEI_RAT_LTEM = 9,
	IMEI_RAT_NR = 10
};

enum imei_store_errcode {
	IMEI_STORE_OK = 0,
	IMEI_STORE_EINVAL,    /* bad input: a field, a spec, an option */
	IMEI_STORE_ENOMEM,
	IMEI_STORE_EIO,       /* the file system or LMDB failed */
	IMEI_STORE_EFULL,     /* no room: LMDB map size reached, or the disk is full */
	IMEI_STORE_ECORRUPT,  /* a damaged file or record */
	IMEI_STORE_EREADONLY, /* a write to a store opened read-only */
	IMEI_STORE_EBUSY      /* the LMDB directory is already open in this process */
};

struct imei_store_error {
	enum imei_store_errcode code;
	char msg[320];
};

/* One sighting, as recorded. */
struct imei_sighting {
	uint64_t key;    /* < 10^14 */
	uint64_t imsi;   /* encoded, required */
	uint64_t msisdn; /* encoded, 0 = none */
	uint32_t op;     /* encoded, 0 = none */
	uint32_t time;   /* UTC seconds */
	uint8_t rat;     /* enum imei_rat, 0 = none */
};

/* The aggregate of one (key, IMSI, MSISDN) triple. */
struct imei_sighting_agg {
	uint64_t key, imsi, msisdn;
	uint64_t days;        /* bit i: seen on UTC day (last / 86400) - i */
	uint32_t first, last; /* UTC seconds */
	uint32_t op;          /* operator of the latest sighting that named one */
	uint16_t rats;        /* bit r-1 set for each RAT r seen */
	uint16_t ndays;       /* distinct UTC days seen */
};

struct imei_pairing {
	uint64_t key, imsi, msisdn; /* msisdn 0 = none */
};

/* ---- identifiers (sightings_codec.c) ---------------------------------------------- */

/* The 14-digit key of any IMEI form imei_parse() accepts (IMEI, IMEI without CD, IMEISV,
 * PEI): an IMEI and an IMEISV of one device give one key. MEID/ESN are refused. */
int imei_sight_key(const char *s, size_t len, uint64_t *key, struct imei_store_error *err);
/* IMSI / MSISDN digits (an MSISDN may start with '+'); field names the field in errors. */
int imei_sight_imsi(const char *s, size_t len, uint64_t *out, struct imei_store_error *err);
int imei_sight_msisdn(const char *s, size_t len, uint64_t *out, struct imei_store_error *err);
/* "MCC-MNC" or "MCCMNC" (5 or 6 digits). */
int imei_sight_operator(const char *s, size_t len, uint32_t *out, struct imei_store_error *err);
/* A RAT name (GERAN, 2G, UTRAN, 3G, EUTRAN, LTE, 4G, NR, 5G, WLAN, GAN, HSPA, VIRTUAL,
 * NB-IOT, LTE-M; any case) or its TS 29.274 number 1..10 ("6", "006"). */
int imei_sight_rat(const char *s, size_t len, uint8_t *out, struct imei_store_error *err);
const char *imei_sight_rat_name(unsigned rat); /* NULL when out of range */

/* Validity of encoded values (for decoders, which must not trust stored bytes). */
bool imei_sight_key_ok(uint64_t key);
bool imei_sight_digits_ok(uint64_t enc, unsigned min, unsigned max);
bool imei_sight_operator_ok(uint32_t op);

/* Back to text ("MCC-MNC" for an operator) into buffers of at least 16 bytes.
 * Return the length written (0 for "none" or an invalid value). */
size_t imei_sight_key_str(uint64_t key, char *buf);
size_t imei_sight_digits_str(uint64_t enc, char *buf);
size_t imei_sight_operator_str(uint32_t op, char *buf);

/* ---- aggregates (sightings_agg.c) -------------------------------------------------- */

enum imei_seen { IMEI_SEEN_NO = 0, IMEI_SEEN_YES, IMEI_SEEN_UNKNOWN };

void imei_agg_init(struct imei_sighting_agg *a, const struct imei_sighting *s);
/* Merge sighting s of the same triple into a. */
void imei_agg_apply(struct imei_sighting_agg *a, const struct imei_sighting *s);
/* Seen on any UTC day d0..d1 (d0 <= d1) / on day d. */
enum imei_seen imei_agg_seen_between(const struct imei_sighting_agg *a, int64_t d0, int64_t d1);
enum imei_seen imei_agg_seen_on(const struct imei_sighting_agg *a, int64_t day);
/* Invariants every stored aggregate keeps; false with a reason when one is broken. */
bool imei_agg_valid(const struct imei_sighting_agg *a, const char **why);

/* ---- stored bytes (sightings_wire.c) ------------------------------------------------ */
/* Fixed layouts for persistent backends: keys big-endian (so a device's aggregates are
 * adjacent and sorted), values little-endian with a version byte. Decoders check every
 * field and return false with a reason for bytes that no encoder produces. */

#define IMEI_WIRE_SKEY 24 /* key, IMSI, MSISDN */
#define IMEI_WIRE_SVAL 25 /* version, first, last, days, op, rats, ndays */
#define IMEI_WIRE_PKEY 16 /* key, IMSI */
#define IMEI_WIRE_PVAL 9  /* version, MSISDN */

void imei_wire_skey(uint64_t key, uint64_t imsi, uint64_t msisdn, unsigned char out[IMEI_WIRE_SKEY]);
void imei_wire_sval(const struct imei_sighting_agg *a, unsigned char out[IMEI_WIRE_SVAL]);
bool imei_wire_sdecode(const void *k, size_t klen, const void *v, size_t vlen, struct imei_sighting_agg *a,
                       const char **why);
void imei_wire_pkey(uint64_t key, uint64_t imsi, unsigned char out[IMEI_WIRE_PKEY]);
void imei_wire_pval(uint64_t msisdn, unsigned char out[IMEI_WIRE_PVAL]);
bool imei_wire_pdecode(const void *k, size_t klen, const void *v, size_t vlen, struct imei_pairing *p,
                       const char **why);
uint64_t imei_wire_get64be(const unsigned char *p);

/* ---- the store --------------------------------------------------------------------- */

struct imei_store_opts {
	size_t map_size; /* LMDB: map size in bytes, the most the store may hold (default 8 GiB) */
	size_t batch;    /* LMDB: queued changes committed on their own (default 65536) */
	size_t capacity; /* memory: aggregates to make room for up front (default small) */
	bool read_only;  /* refuse writes; LMDB: open with MDB_RDONLY, the store must exist */
};

struct imei_store_stats {
	uint64_t aggregates; /* (key, IMSI, MSISDN) triples */
	uint64_t keys;       /* distinct keys */
	uint64_t pairings;
	uint64_t recorded;   /* sightings recorded through this handle */
	uint64_t committed;  /* sightings durable in the store (LMDB: by every process); memory: recorded */
	uint64_t pending;    /* queued, not yet durable */
	uint64_t bytes;      /* memory: bytes allocated; LMDB: bytes of the data file in use */
};

/* What a store did with the sightings given to it, for /metrics; read without any I/O
 * and without the store's lock. memory and LMDB: written = recorded, the rest 0 (LMDB:
 * buffered = queued, not yet committed). Redis: see sightings_redis.c. */
struct imei_store_counters {
	uint64_t recorded;   /* sightings accepted (buffered or written) */
	uint64_t written;    /* sightings the backend's server acknowledged */
	uint64_t buffered;   /* accepted, not yet written (Redis away, or in a batch) */
	uint64_t dropped;    /* refused because the buffer was full: never written */
	uint64_t failures;   /* connections that failed or timed out */
	uint64_t redirects;  /* Redis Cluster MOVED/ASK answers followed */
	uint64_t reconnects; /* connection attempts */
	uint64_t folded;     /* Redis logs folded into aggregates */
};

struct imei_store;
struct imei_store_iter;

/* spec: "memory", "lmdb:PATH", or a Redis URL: redis://[user:password@]host[:port][/db],
 * rediss://… (TLS), redis+cluster://host:port,host:port…, redis+unix:///path, each with
 * ?options (sightings_redis.c, docs/sightings.md). opts may be NULL. NULL on failure. */
struct imei_store *imei_store_open(const char *spec, const struct imei_store_opts *opts,
                                   struct imei_store_error *err);
/* Reference counting (atomic): open gives one reference; the last release flushes
 * (errors are lost: flush first to see them) and closes. */
struct imei_store *imei_store_retain(struct imei_store *st);
void imei_store_release(struct imei_store *st);
const char *imei_store_spec(const struct imei_store *st); /* the spec, any password shown as *** */
/* Never blocks on I/O: safe to call from a metrics endpoint while the server is away. */
void imei_store_counters(struct imei_store *st, struct imei_store_counters *out);
bool imei_store_read_only(const struct imei_store *st);
/* Freeze: from now on the store only answers queries. Each query then skips the store's
 * lock (many threads read a frozen store without touching a shared cache line), and
 * every write (record, pair, unpair, put, restore, reserve) fails with
 * IMEI_STORE_EREADONLY and a message that says the store is frozen. One way: there is
 * no thaw. Queued writes are flushed first (0 / -1, the store then not frozen). A replay
 * freezes its store once its ingest is done, before its evaluation threads start. */
int imei_store_freeze(struct imei_store *st, struct imei_store_error *err);
bool imei_store_frozen(const struct imei_store *st);
/* A hint for a loop over keys known ahead (a replay's pairs): on a frozen memory store,
 * far's index slot is fetched into the cache, and near's record (near: a far of an earlier
 * call, its slot cached by now), so that their queries then find both there. Does nothing
 * on a store not frozen or of another backend; keys of more than 14 digits are skipped. */
void imei_store_prefetch(struct imei_store *st, uint64_t far, uint64_t near);
/* Room for n more aggregates, made once: the memory backend sizes its index and its
 * records for them (no index rebuild, no chunk added while they are put or recorded;
 * when they are all new the store holds no empty room after them). Other backends need
 * no room: 0, nothing done. 0 / -1 (out of memory, more than the memory store's limit of
 * 2^28 - 1 aggregates, a read-only or frozen store). */
int imei_store_reserve(struct imei_store *st, size_t n, struct imei_store_error *err);

int imei_store_record(struct imei_store *st, const struct imei_sighting *s, struct imei_store_error *err);
/* s[0..n) in order, as one write (one lock), faster than one by one (the memory backend
 * overlaps the cache misses). On a bad sighting the ones before it are recorded, *done
 * says how many, and the message starts with "sighting <index>: ". */
int imei_store_record_many(struct imei_store *st, const struct imei_sighting *s, size_t n, size_t *done,
                           struct imei_store_error *err);
int imei_store_flush(struct imei_store *st, struct imei_store_error *err);

/* Distinct IMSIs (field 0) or MSISDNs (field 1) of key seen in the window of `days` days at
 * `now`. *count gets the number; *exact (may be NULL) whether it is exact; when list is not
 * NULL, *list gets them sorted (malloc'd, free() it; NULL when empty). */
enum imei_store_field { IMEI_FIELD_IMSI = 0, IMEI_FIELD_MSISDN = 1 };
int imei_store_distinct(struct imei_store *st, uint64_t key, enum imei_store_field field, uint32_t days,
                        int64_t now, size_t *count, bool *exact, uint64_t **list, struct imei_store_error *err);

/* Per-day counts over the window: for each UTC day the key was seen, the distinct IMSIs
 * that day; days_seen, their total and exactness. */
struct imei_store_day {
	int64_t day; /* UTC day number (seconds / 86400) */
	uint32_t imsis;
};
struct imei_store_daily {
	size_t days_seen;
	uint64_t total;
	bool exact;
	struct imei_store_day *days; /* days_seen entries, ascending; free() it */
};
int imei_store_daily(struct imei_store *st, uint64_t key, uint32_t days, int64_t now, struct imei_store_daily *out,
                     struct imei_store_error *err);

/* The aggregate seen first (earliest first-seen) / last (latest last-seen); ties go to
 * the lowest encoded IMSI, then MSISDN. 1 found, 0 the key has no sightings, -1 error. */
int imei_store_first(struct imei_store *st, uint64_t key, struct imei_sighting_agg *out,
                     struct imei_store_error *err);
int imei_store_last(struct imei_store *st, uint64_t key, struct imei_sighting_agg *out,
                    struct imei_store_error *err);

/* Every aggregate of key, sorted by IMSI then MSISDN (malloc'd, free() it). */
int imei_store_sightings(struct imei_store *st, uint64_t key, struct imei_sighting_agg **list, size_t *n,
                         struct imei_store_error *err);
/* The same, only the aggregates seen within the window of `days` days at `now` (the rule
 * imei_store_distinct counts by): what a policy's sequence and threshold rules read. */
int imei_store_sightings_in(struct imei_store *st, uint64_t key, uint32_t days, int64_t now,
                            struct imei_sighting_agg **list, size_t *n, struct imei_store_error *err);

/* Pairings (key, IMSI) -> MSISDN. pair: 1 added, 0 was there (MSISDN replaced).
 * unpair: 1 removed, 0 was not there. is_paired: 1 / 0, *msisdn (may be NULL) set.
 * pairs_of: sorted by IMSI (malloc'd, free() it). */
int imei_store_pair(struct imei_store *st, uint64_t key, uint64_t imsi, uint64_t msisdn,
                    struct imei_store_error *err);
int imei_store_unpair(struct imei_store *st, uint64_t key, uint64_t imsi, struct imei_store_error *err);
int imei_store_is_paired(struct imei_store *st, uint64_t key, uint64_t imsi, uint64_t *msisdn,
                         struct imei_store_error *err);
int imei_store_pairs_of(struct imei_store *st, uint64_t key, struct imei_pairing **list, size_t *n,
                        struct imei_store_error *err);

int imei_store_stats(struct imei_store *st, struct imei_store_stats *out, struct imei_store_error *err);
/* Verify every record and the store's own bookkeeping; -1 with the first problem. */
int imei_store_check(struct imei_store *st, struct imei_store_error *err);

/* Iteration over all aggregates, one aggregate per distinct key (the keys), or all
 * pairings (returned in a->key, a->imsi, a->msisdn). LMDB: flushes, then iterates a
 * snapshot. Memory: aggregates in insertion order, and ones recorded meanwhile are seen.
 * next: 1 got one, 0 end, -1 error. The iterator holds a reference to the store. */
enum imei_iter_kind { IMEI_ITER_SIGHTINGS = 0, IMEI_ITER_KEYS, IMEI_ITER_PAIRINGS };

/* Snapshots (sightings_snapshot.c): every aggregate and pairing of a store as one byte
 * string (a fixed little-endian layout with a checksum), and back into a memory store —
 * how `imei classify` keeps the sightings of a run in its state at memory speed.
 * snapshot: *out is malloc'd (free it), 0 / -1. restore: the store must be a memory
 * store; a damaged snapshot is refused before anything is put. */
int imei_store_snapshot(struct imei_store *st, unsigned char **out, size_t *len, struct imei_store_error *err);
/* The same written into the caller's memory (an LMDB value reserved for it): its size
 * now, then the snapshot into exactly that many bytes (-1 if the store changed between). */
int imei_store_snapshot_size(struct imei_store *st, size_t *len, struct imei_store_error *err);
int imei_store_snapshot_into(struct imei_store *st, unsigned char *dst, size_t len, struct imei_store_error *err);
int imei_store_restore(struct imei_store *st, const unsigned char *buf, size_t len, struct imei_store_error *err);
/* a[0..n) put, as one write (one lock; the memory backend overlaps the cache misses). */
int imei_store_put_aggs(struct imei_store *st, const struct imei_sighting_agg *a, size_t n,
                        struct imei_store_error *err);
/* Whether only this process can write the store (the memory backend): then an aggregate
 * read with imei_store_get_agg, advanced with imei_agg_apply and put back is the same as
 * recording the sightings one by one (how a replay records a run's rows). */
bool imei_store_private(const struct imei_store *st);
/* The aggregate of one (key, IMSI, MSISDN) triple: 1 found, 0 none, -1 error. */
int imei_store_get_agg(struct imei_store *st, uint64_t key, uint64_t imsi, uint64_t msisdn,
                       struct imei_sighting_agg *out, struct imei_store_error *err);
struct imei_store_iter *imei_store_iter_open(struct imei_store *st, enum imei_iter_kind kind,
                                             struct imei_store_error *err);
int imei_store_iter_next(struct imei_store_iter *it, struct imei_sighting_agg *out, struct imei_store_error *err);
void imei_store_iter_close(struct imei_store_iter *it);

/* ---- the backend interface ---------------------------------------------------------- */
/* A backend stores aggregates and pairings; the store (sightings.c) does locking,
 * reference counting and every query on top of fetch(), so all backends answer alike.
 * Calls come with the store's lock held: shared for fetch/is_paired/pairs_of/stats/
 * check/iter_next, exclusive for the rest; once the store is frozen (imei_store_freeze)
 * only the shared ones come, without the lock, from any number of threads at once.
 * Return 0 / -1 (with err) unless noted. */

struct imei_agg_buf {
	struct imei_sighting_agg *v;
	size_t n, cap;
	struct imei_sighting_agg small[8];
};
void imei_agg_buf_init(struct imei_agg_buf *b);
void imei_agg_buf_free(struct imei_agg_buf *b);
/* Append a copy; NULL when out of memory. */
struct imei_sighting_agg *imei_agg_buf_push(struct imei_agg_buf *b, const struct imei_sighting_agg *a);

struct imei_store_ops {
	const char *name;
	int (*record)(void *be, const struct imei_sighting *s, struct imei_store_error *err);
	/* optional: s[0..n) in order, *done of them recorded */
	int (*record_many)(void *be, const struct imei_sighting *s, size_t n, size_t *done,
	                   struct imei_store_error *err);
	int (*flush)(void *be, struct imei_store_error *err);
	/* Append every aggregate of key to out (any order). */
	int (*fetch)(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err);
	int (*pair)(void *be, const struct imei_pairing *p, struct imei_store_error *err);   /* 1 / 0 / -1 */
	int (*unpair)(void *be, uint64_t key, uint64_t imsi, struct imei_store_error *err);  /* 1 / 0 / -1 */
	int (*is_paired)(void *be, uint64_t key, uint64_t imsi, uint64_t *msisdn, struct imei_store_error *err);
	/* Append pairings of key to out, stored as aggregates (key, imsi, msisdn only). */
	int (*pairs_of)(void *be, uint64_t key, struct imei_agg_buf *out, struct imei_store_error *err);
	int (*stats)(void *be, struct imei_store_stats *out, struct imei_store_error *err);
	int (*check)(void *be, struct imei_store_error *err);
	void *(*iter_open)(void *be, enum imei_iter_kind kind, struct imei_store_error *err);
	int (*iter_next)(void *be, void *it, struct imei_sighting_agg *out, struct imei_store_error *err);
	void (*iter_close)(void *be, void *it);
	void (*close)(void *be);
	/* put a whole aggregate, replacing the triple's (a snapshot restored); NULL: unsupported */
	int (*put_aggs)(void *be, const struct imei_sighting_agg *a, size_t n, struct imei_store_error *err);
	/* optional: prefetch hints (imei_store_prefetch; a frozen store only, without lock) */
	void (*prefetch)(void *be, uint64_t far, uint64_t near);
	/* optional: room for n more aggregates (absent: none needed) */
	int (*reserve)(void *be, size_t n, struct imei_store_error *err);
	/* optional: the counters, without I/O (absent: from stats) */
	void (*counters)(void *be, struct imei_store_counters *out);
	/* iter_next needs the store's shared lock (memory) or works on its own snapshot (LMDB) */
	bool iter_needs_lock;
};

/* Backend constructors (used by imei_store_open). */
void *imei_store_mem_open(const struct imei_store_opts *opts, struct imei_store_error *err);
void *imei_store_lmdb_open(const char *path, const struct imei_store_opts *opts, struct imei_store_error *err);
extern const struct imei_store_ops imei_store_mem_ops;
extern const struct imei_store_ops imei_store_lmdb_ops;
void *imei_store_redis_open(const char *spec, const struct imei_store_opts *opts, struct imei_store_error *err);
extern const struct imei_store_ops imei_store_redis_ops;
/* spec with its password replaced by *** (for logs and imei_store_spec) */
size_t imei_store_redis_redact(const char *spec, char *out, size_t cap);
void imei_store_redis_counters(void *be, struct imei_store_counters *out);

/* printf-style error filler shared by the store files. Returns -1. */
int imei_store_fail(struct imei_store_error *err, enum imei_store_errcode code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
