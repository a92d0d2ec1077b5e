/*
 * imei_replay.h — batch replay of operator dumps through a policy (docs/classify.md):
 * what a national CEIR runs before a policy goes live and every day after.
 *
 *   1. ingest   dumps are read (imei_dump_reader.h), every row checked; a refused row is
 *               counted with its reason, file and line, never dropped silently. Each
 *               accepted row is recorded in the sightings store (the history the policy
 *               asks about) and folded into the run's table of observed pairs.
 *   2. evaluate every observed (device, IMSI) pair is decided by the policy at the
 *               run's date, as an EIR would decide a check of that subscriber with that
 *               device: so IMEI–IMSI pairing and first-seen exemptions work (DIRBS).
 *               One engine (its own sandboxed lua_State) per thread.
 *   3. results  the pairs, sorted by device then IMSI, with their verdicts, and counts
 *               by reason, status, condition, operator and TAC for the report. The lists
 *               themselves are written by the caller (lua/imei/classify).
 *
 * A device is its 14-digit key (TAC + SNR; TS 29.272 §6.2.1.3) for the IMEI kinds; any
 * other identity (a MEID, an ESN, a malformed value) is kept as its text, an "ident"
 * numbered from IMEI_REPLAY_TEXT_BASE up, so that the policy can classify it (malformed
 * IMEIs are blocked by DIRBS, not ignored).
 *
 * Memory: the dumps stream through fixed buffers; what grows is the table of distinct
 * (device, IMSI) pairs of the run (48 bytes each) and the store.
 * Threads: ingest may parse in a thread of its own while the calling thread records into
 * the store (the two heaviest steps, overlapped); evaluation runs N threads. All calls
 * below are made from one thread; the stop flag may be set from a signal handler.
 */
#ifndef IMEI_REPLAY_H
#define IMEI_REPLAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imei_dump_reader.h"
#include "imei_engine.h"

struct imei_store;
struct imei_tacdb;
struct imei_replay;

#define IMEI_REPLAY_MAX_OPERATORS 64
#define IMEI_REPLAY_MAX_CONDITIONS 64
#define IMEI_REPLAY_MAX_READERS 64
#define IMEI_REPLAY_EXAMPLES 5                      /* examples kept per refusal reason */
#define IMEI_REPLAY_TEXT_BASE 100000000000000ULL    /* idents >= this are texts, not keys */
#define IMEI_REPLAY_NO_DAY INT32_MIN

struct imei_replay_config {
	struct imei_store *store;          /* required; the replay takes its own reference */
	struct imei_tacdb *tacdb;          /* optional: devices per TAC record for the report */
	struct imei_dump_layout layout;    /* for files without a header, or always when explicit */
	bool layout_explicit;              /* a header line is then skipped, not read */
	int32_t run_day;                   /* the run's date (UTC day number), or NO_DAY: the latest date seen */
	bool reader_thread;                /* parse in threads of their own ... */
	unsigned readers;                  /* ... this many (0: one); files, and byte ranges of
	                                    * large plain files, are read in parallel, and the
	                                    * results are the same for any number */
	uint64_t chunk_bytes;              /* the size of those ranges (0: 4 MiB; tests make it small) */
	const _Atomic int *stop;           /* non-zero: stop at the next occasion; a signal handler
	                                    * stores the signal's number (sent on to the reader thread) */
	bool freeze_store;                 /* the store is the run's own: frozen when the evaluation
	                                    * starts (imei_store_freeze: its queries skip the lock,
	                                    * any later write fails); false: a store the caller goes
	                                    * on writing stays writable, its queries locked */
};

struct imei_replay *imei_replay_new(const struct imei_replay_config *cfg, char *err, size_t errlen);
void imei_replay_free(struct imei_replay *r);

/* An operator's name, as a dump's file name or --operator gives it: 1 to
 * IMEI_REPLAY_MAX_OPERATOR_NAME letters, digits, '.', '_' or '-' (it names list files). */
#define IMEI_REPLAY_MAX_OPERATOR_NAME 64
bool imei_replay_operator_ok(const char *name);

/* Queue a dump (path "-": standard input) from operator `name` (letters, digits, . _ -;
 * at most IMEI_REPLAY_MAX_OPERATORS distinct names). Rows dated outside first..last
 * (UTC days; NO_DAY: no bound) are refused. Returns the file's index or -1 with err. */
int imei_replay_add_file(struct imei_replay *r, const char *path, const char *name, int32_t first, int32_t last,
                         char *err, size_t errlen);

enum {
	IMEI_REPLAY_DONE = 0,
	IMEI_REPLAY_MORE = 1,
	IMEI_REPLAY_ERROR = -1,  /* err says what: a file that cannot be read, a store failure */
	IMEI_REPLAY_STOPPED = -2 /* the stop flag was raised */
};

/* Work on the ingest for about ms milliseconds. MORE, DONE (every file read, the store
 * flushed, the pairs sorted), ERROR or STOPPED. ERROR and STOPPED are final: later
 * calls give them again. */
int imei_replay_ingest(struct imei_replay *r, unsigned ms, char *err, size_t errlen);

struct imei_replay_progress {
	uint64_t bytes, bytes_total; /* bytes_total 0 when a size is unknown (a pipe) */
	uint64_t rows, rejected;
	uint64_t pairs_done, pairs;  /* evaluation */
	size_t file;                 /* the file being read */
};
void imei_replay_progress(struct imei_replay *r, struct imei_replay_progress *p);

/* ---- evaluation ------------------------------------------------------------------- */

struct imei_replay_condition {
	const char *name;
	enum imei_status status; /* as declared: what it asks for once any grace period ends */
};

/* An operator's own policy, for the pairs whose IMSI's home network is `network`. */
#define IMEI_REPLAY_MAX_NETWORKS 64
struct imei_replay_network_policy {
	const char *network;               /* "MCC-MNC" (imei_replay_home_network's form) */
	struct imei_engine_config engine;  /* its policy and data */
};

struct imei_replay_eval_config {
	struct imei_engine_config engine; /* policy, tacdb, lists, store, lua_path, limits, on_error */
	unsigned threads;                 /* engines evaluating at once (>= 1) */
	const struct imei_replay_condition *conditions; /* the policy's, in order: their indexes */
	size_t nconditions;
	/* what-if (optional): a second policy, OLD, decides every pair in the same pass; its
	 * verdicts are compared, never listed (imei_replay_compare_result) */
	const struct imei_engine_config *compare;
	const struct imei_replay_condition *compare_conditions; /* OLD's, in order */
	size_t ncompare_conditions;
	/* operator policies (optional): a pair whose IMSI's home network is one of these is
	 * decided by that network's policy instead of `engine`'s */
	const struct imei_replay_network_policy *networks;
	size_t nnetworks;
};

/* Create the engines (errors come back here, e.g. a policy that does not load) and start
 * evaluating. Then imei_replay_eval_wait until DONE. With freeze_store (the store is the
 * run's own) the store is frozen first (imei_store_freeze): it is only read from here on,
 * by any thread without its lock, and a write into it later (a second replay's ingest, a
 * record) fails saying so. Without it, the evaluation's queries take the store's lock. */
int imei_replay_eval_start(struct imei_replay *r, const struct imei_replay_eval_config *cfg, char *err,
                           size_t errlen);
int imei_replay_eval_wait(struct imei_replay *r, unsigned ms, char *err, size_t errlen);

/* ---- results ------------------------------------------------------------------------ */

#define IMEI_REPLAY_NOTIFY 0x01      /* some condition is in its grace period */
#define IMEI_REPLAY_FAILED 0x02      /* the policy failed on this pair (status is on_error's) */
#define IMEI_REPLAY_DEVICE 0x04      /* the first pair of its device */
#define IMEI_REPLAY_DEV_BLOCKED 0x08 /* (first pair) the device has a BLACKLISTED pair */
#define IMEI_REPLAY_DEV_NOTIFY 0x10  /* (first pair) the device has a pair to notify */
/* The list rules, decided here once (replay_tally.c) and only written out by the caller
 * (lua/imei/classify/lists.lua), for every operator the pair was seen on: */
#define IMEI_REPLAY_EXCEPTION 0x20    /* a pair of a blocked device whose own verdict is not
                                       * BLACKLISTED: on the operator's exception list */
#define IMEI_REPLAY_NOTIFICATION 0x40 /* a pair not BLACKLISTED with a condition in its grace
                                       * period: on the operator's notification list */

/* One observed (device, IMSI) pair and its verdict: 48 bytes, as a national run keeps
 * hundreds of thousands of them at once (docs/classify.md, "Memory"). What the verdict
 * matched and its block date are out of line (most pairs match nothing):
 * imei_replay_pair_outcome. */
struct imei_replay_pair {
	uint64_t ident;         /* the key, or IMEI_REPLAY_TEXT_BASE + text number */
	uint64_t imsi;          /* 10^len + value */
	uint64_t msisdn;        /* of the latest row; 0 = none */
	uint64_t ops;           /* bit i: seen in a dump of operator i */
	uint16_t first, last;   /* UTC days seen (in this run): days since 1970 fit 16 bits until
	                         * 2149-06-06; a row dated outside the years 2000 to 2099 is refused
	                         * where it enters the run, never wrapped (replay_ingest.c asserts) */
	uint32_t rows;          /* rows of the pair */
	uint32_t outcome;       /* its verdict's outcome in the run's table; 0: nothing matched,
	                         * no block date */
	uint8_t form;           /* IMEI_DUMP_FORM_* of the latest row */
	uint8_t rat;            /* of the latest row that named one */
	uint8_t flags;          /* IMEI_REPLAY_* */
	unsigned op : 6;        /* operator of the latest row (< IMEI_REPLAY_MAX_OPERATORS) */
	unsigned status : 2;    /* enum imei_status of the verdict */
};
#define IMEI_REPLAY_MAX_PAIR_DAY UINT16_MAX

/* What a pair's verdict says beside its status. */
struct imei_replay_outcome {
	uint64_t matched;       /* conditions that matched (bit = condition index), overruled ones left out */
	uint64_t blocked;       /* of which asking for BLACKLISTED now */
	uint64_t grace;         /* of which in their grace period */
	int32_t block_day;      /* the verdict's block date, or NO_DAY */
};
/* Valid while the replay is (after the evaluation). */
const struct imei_replay_outcome *imei_replay_pair_outcome(const struct imei_replay *r,
                                                           const struct imei_replay_pair *p);

size_t imei_replay_npairs(const struct imei_replay *r);
const struct imei_replay_pair *imei_replay_pairs(const struct imei_replay *r);

/* The text of an ident (the 14 digits of a key, or the identity text) into out (at
 * least IMEI_DUMP_MAX_IDENT + 1 bytes); returns its length. */
size_t imei_replay_ident_str(const struct imei_replay *r, uint64_t ident, char *out);
/* The kind of a text ident (IMEI_KIND_MEID, _ESN or _NONE). */
enum imei_kind imei_replay_text_kind(const struct imei_replay *r, uint64_t ident);
/* The ident of a text as lists write it: an IMEI kind gives its key; another text is
 * found among the run's texts. false when the run has no such device. */
bool imei_replay_ident_of(const struct imei_replay *r, const char *s, size_t len, uint64_t *ident);
/* The index of the pair (ident, imsi), or of the first pair of ident when imsi is 0;
 * -1 when not observed. */
long imei_replay_find(const struct imei_replay *r, uint64_t ident, uint64_t imsi);

/* What a blocked device's BLACKLISTED pairs say (its block list row): the conditions
 * asking for BLACKLISTED (bits), the earliest block date and the earliest day seen among
 * those pairs (IMEI_REPLAY_NO_DAY: none); its pairs are [first pair, end). */
struct imei_replay_block {
	uint64_t reasons;
	int32_t block_day, first_day;
	size_t end;
};
/* The index of the first pair of the next blocked device at or after pair i, its block
 * in *b; npairs when there is none. */
size_t imei_replay_next_blocked(const struct imei_replay *r, size_t i, struct imei_replay_block *b);
/* The index of the next pair at or after i on a list of its own (IMEI_REPLAY_EXCEPTION or
 * IMEI_REPLAY_NOTIFICATION); npairs when there is none. */
size_t imei_replay_next_flagged(const struct imei_replay *r, size_t i);

/* The home network "MCC-MNC" of an IMSI (TS 23.003 §2.2: a 3-digit MNC for the MCCs
 * that use them, else 2) into out (at least 8 bytes). */
void imei_replay_home_network(uint64_t imsi, char *out);

/* Condition names (the configured ones first, then any other a verdict named). */
size_t imei_replay_nconditions(const struct imei_replay *r);
const char *imei_replay_condition_name(const struct imei_replay *r, size_t i);

/* ---- counts for the report ---------------------------------------------------------- */

struct imei_replay_example {
	size_t file;
	size_t line;
	unsigned field;
	char msg[160];
	char text[96]; /* the start of the line, non-printable bytes as '?' */
};

struct imei_replay_file_stats {
	const char *path;
	size_t op;
	int32_t first, last;      /* the period from its name, or NO_DAY */
	int32_t seen_first, seen_last;
	uint64_t rows, accepted, rejected, blank;
	uint64_t bytes;
	bool header, gzip, done;
	uint64_t by_reason[IMEI_DUMP_NREJECT];
	size_t unterminated_line; /* the file ended in the middle of this line (no line end), or 0 */
};

struct imei_replay_operator_stats {
	const char *name;
	uint64_t rows, rejected;
	uint64_t devices, pairs;
	uint64_t devices_by_status[4];
};

struct imei_replay_condition_stats {
	uint64_t devices;         /* devices with a pair the condition matched */
	uint64_t devices_blocked; /* ... where it asks for BLACKLISTED now */
	uint64_t devices_grace;   /* ... where it is in its grace period */
	uint64_t pairs;
};

struct imei_replay_totals {
	int32_t run_day, first_day, last_day;
	uint64_t rows, accepted, rejected, blank, headers;
	uint64_t by_reason[IMEI_DUMP_NREJECT];
	uint64_t sightings;          /* rows recorded in the store (IMEI kinds) */
	uint64_t devices, pairs;
	uint64_t devices_by_status[4], pairs_by_status[4];
	uint64_t devices_by_kind[6]; /* enum imei_kind (NONE: not an identifier) */
	uint64_t failures;           /* pairs where the policy failed */
	uint64_t devices_notified;
	uint64_t unknown_tac;        /* IMEI devices whose TAC is not in the database */
	unsigned threads;
	double ingest_seconds, eval_seconds;
};

const struct imei_replay_totals *imei_replay_totals(const struct imei_replay *r);
size_t imei_replay_nfiles(const struct imei_replay *r);
const struct imei_replay_file_stats *imei_replay_file(const struct imei_replay *r, size_t i);
size_t imei_replay_noperators(const struct imei_replay *r);
const struct imei_replay_operator_stats *imei_replay_operator(const struct imei_replay *r, size_t i);
const struct imei_replay_condition_stats *imei_replay_condition(const struct imei_replay *r, size_t i);
/* The first examples of rows refused for a reason. */
size_t imei_replay_examples(const struct imei_replay *r, enum imei_dump_reject reason,
                            const struct imei_replay_example **out);
/* The first policy failures: "ident/imsi: message". */
size_t imei_replay_failures(const struct imei_replay *r, const char *const **out);
/* Devices per TAC database record (index), for the report's brands: total, blocked,
 * notified. Arrays of imei_tacdb_count() entries, or NULL without a database. */
void imei_replay_tac_counts(const struct imei_replay *r, const uint32_t **devices, const uint32_t **blocked,
                            const uint32_t **notified, size_t *n);

/* ---- what-if and operator policies (replay_compare.c) -------------------------------- */

/* Devices that changed, in a group (an operator, an RBI, a TAC record). */
struct imei_replay_changes {
	uint64_t changed;        /* status, block date or notification differs */
	uint64_t newly_blocked;  /* BLACKLISTED under NEW only */
	uint64_t unblocked;      /* BLACKLISTED under OLD only */
	uint64_t block_date, notification;
};

/* A condition (by name) under both policies: devices it matches, blocks, has in grace. */
struct imei_replay_condition_change {
	const char *name;
	int new_index, old_index; /* in NEW's and OLD's condition names; -1: not there */
	struct imei_replay_condition_stats old; /* the same counts as the report's for NEW */
	uint64_t newly_matched, no_longer_matched, newly_blocked, no_longer_blocked, newly_grace, no_longer_grace;
};

#define IMEI_REPLAY_CHANGE_VERDICT 0x01
#define IMEI_REPLAY_CHANGE_BLOCK_DATE 0x02
#define IMEI_REPLAY_CHANGE_NOTIFICATION 0x04
#define IMEI_REPLAY_COMPARE_EXAMPLES 20 /* kept per kind of change (its first: verdict, block date, notification) */

struct imei_replay_compare_example {
	size_t first, pair;   /* the device's first pair, the pair shown (indexes in the pairs) */
	unsigned changes;     /* IMEI_REPLAY_CHANGE_* of the device */
	uint8_t old_status, new_status;
	int32_t old_block_day, new_block_day;
	bool old_notify, new_notify;
	uint64_t old_conds, new_conds; /* conditions that decided the device, each side's indexes */
};

struct imei_replay_compare {
	uint64_t devices, changed, verdict, block_date, notification;
	uint64_t newly_blocked, unblocked, newly_notified, no_longer_notified;
	uint64_t blocked_old, blocked_new, notified_old, notified_new;
	uint64_t pairs, pairs_changed, pair_verdict, pair_block_date, pair_notification, imsis_changed;
	uint64_t transitions[4][4];  /* changed devices by [OLD status][NEW status] */
	uint64_t failures_old;       /* pairs where OLD failed */
	struct imei_replay_changes ops[IMEI_REPLAY_MAX_OPERATORS];
	struct imei_replay_changes rbi[100];
	const struct imei_replay_changes *tacs; /* per TAC database record; NULL without one */
	size_t ntacs;
	struct imei_replay_condition_change *conditions; /* NEW's order, then OLD's others */
	size_t nconditions;
	struct imei_replay_compare_example examples[3 * IMEI_REPLAY_COMPARE_EXAMPLES]; /* in device order */
	size_t nexamples;
};

/* After a DONE evaluation with a compare policy: the comparison; NULL without one. */
const struct imei_replay_compare *imei_replay_compare_result(const struct imei_replay *r);
/* OLD's condition names (its indexes), as imei_replay_condition_name gives NEW's. */
const char *imei_replay_old_condition_name(const struct imei_replay *r, size_t i);
/* Pairs decided by operator policy i (i < nnetworks), or by the national one (i = nnetworks). */
uint64_t imei_replay_network_pairs(const struct imei_replay *r, size_t i);
size_t imei_replay_nnetworks(const struct imei_replay *r);

#endif
