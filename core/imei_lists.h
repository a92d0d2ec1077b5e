/*
 * imei_lists.h — the lists EIR policies test membership against: block (stolen/lost),
 * allow (registration, golden), exceptions/pairing (key + IMSI), barred TACs, monitoring.
 *
 * A list is loaded from a CSV file with DIRBS column names (docs/lists.md) into a frozen
 * hash set of numbers: immutable once loaded, so any thread may test membership at any
 * time, and reference-counted with C11 atomics, so many lua_States and threads can share
 * one list. A collection (struct imei_lists) names several lists, e.g. every *.csv of a
 * --lists DIR; it is immutable too. Reloading builds a new collection and the host swaps
 * the pointer; whoever still holds the old one keeps a consistent view until it unrefs.
 *
 * Identity (3GPP TS 23.003 §6.2, TS 29.272 §6.2.1.3): a device is its 14-digit key
 * (TAC + SNR). Every IMEI form in a file (14, 15 or 16 digits, separators, the 5G PEI
 * prefixes imei-/imeisv- of TS 29.571) goes through imei_parse() and is stored as its key;
 * a 15-digit IMEI with a wrong check digit keeps its key and is counted as a warning.
 *
 * Columns (case-insensitive; others are ignored):
 *   imei | approved_imei | golden_imei   the key column       -> IMEI_LIST_KEYS
 *   + imsi (6-15 digits)                  key + IMSI pairs    -> IMEI_LIST_PAIRS
 *   tac (8 digits), without a key column  barred TACs         -> IMEI_LIST_TACS
 * Bad rows are rejected and counted with their line and reason; the file still loads.
 */
#ifndef IMEI_LISTS_H
#define IMEI_LISTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imei_list_kind {
	IMEI_LIST_KEYS = 1, /* 14-digit keys: stolen, registration, golden, monitoring, barred */
	IMEI_LIST_PAIRS,    /* key + IMSI: DIRBS pairing / exception lists (imei,imsi,msisdn) */
	IMEI_LIST_TACS      /* 8-digit TACs: DIRBS barred_tac_list */
};

struct imei_list;  /* one frozen set, immutable after load, atomically ref-counted */
struct imei_lists; /* a named collection of lists (e.g. a --lists DIR), immutable, ref-counted */

#define IMEI_LIST_MAX_ERRORS 20

/* Why a row was rejected (report.rejected_by[]); imei_list_reject_name() gives the short
 * stable name used in reports ("fields", "quote", ...). */
enum imei_list_reject {
	IMEI_LIST_R_FIELDS = 0, /* "fields"    not as many fields as the header */
	IMEI_LIST_R_QUOTE,      /* "quote"     a quoted field that never ends, text after a quote */
	IMEI_LIST_R_EMPTY,      /* "empty"     an empty key, IMSI or TAC */
	IMEI_LIST_R_KEY,        /* "key"       a key that is not an IMEI (malformed, too long) */
	IMEI_LIST_R_MEID,       /* "meid_esn"  a 3GPP2 MEID or ESN in a key column */
	IMEI_LIST_R_IMSI,       /* "imsi"      an IMSI that is not 6 to 15 digits */
	IMEI_LIST_R_TAC,        /* "tac"       a TAC that is not 8 digits */
	IMEI_LIST_NREJECT
};
const char *imei_list_reject_name(enum imei_list_reject r);

/* What a load did. rows = data records (the header and empty lines are not rows);
 * rows == loaded + rejected + duplicates; loaded == imei_list_size(). */
struct imei_list_report {
	size_t rows, loaded, rejected, duplicates;
	size_t rejected_by[IMEI_LIST_NREJECT]; /* rejected rows by reason: they add up to rejected */
	unsigned long long bytes;              /* the size of what was read */
	char sha256[65];                       /* SHA-256 of those bytes, lower-case hex (FIPS 180-4) */
	size_t nerrors; /* entries used in errors[]: the first rejected rows */
	struct {
		size_t line; /* 1-based physical line where the record starts */
		char reason[96];
	} errors[IMEI_LIST_MAX_ERRORS];
	/* Rows that were loaded but deserve a look: a 15-digit IMEI whose check digit is
	 * wrong (its key is kept, TS 29.272 §6.2.1.3). */
	size_t warnings;
	size_t nwarning_lines;
	struct {
		size_t line;
		char reason[96];
	} warning_lines[IMEI_LIST_MAX_ERRORS];
};

/* ---- one list ---------------------------------------------------------------------- */

/* Load a CSV file. name NULL: the file name without its directory and ".csv". rep may be
 * NULL (the list keeps its own copy, see imei_list_report). Returns a list holding one
 * reference, or NULL and a message "PATH[:LINE]: why" in err on a file-level error:
 * missing, unreadable, not a regular file, no usable header, out of memory. */
struct imei_list *imei_list_load(const char *path, const char *name, struct imei_list_report *rep, char *err,
                                 size_t errlen);

/* The same from memory; the loader behind imei_list_load. name NULL: "list". The buffer
 * is not kept. */
struct imei_list *imei_list_load_buffer(const char *buf, size_t len, const char *name,
                                        struct imei_list_report *rep, char *err, size_t errlen);

/* References (atomic; NULL is accepted and ignored). The last unref frees the list. */
struct imei_list *imei_list_ref(struct imei_list *l);
void imei_list_unref(struct imei_list *l);

enum imei_list_kind imei_list_kind(const struct imei_list *l);
const char *imei_list_kind_name(enum imei_list_kind kind); /* "keys", "pairs", "tacs" */
const char *imei_list_name(const struct imei_list *l);
size_t imei_list_size(const struct imei_list *l); /* distinct entries */
const struct imei_list_report *imei_list_report(const struct imei_list *l);
/* Bytes of the membership index (PAIRS: the pairs and the set of their keys). */
size_t imei_list_bytes(const struct imei_list *l);
/* The file the list was loaded from, or NULL (a buffer). */
const char *imei_list_path(const struct imei_list *l);

/* Membership. Malformed arguments give false, never a read past what they describe:
 * key14 is read up to 14 bytes and must be 14 digits, tac8 up to 8 bytes.
 * KEYS: the key is listed.  TACS: the key's TAC (first 8 digits) is listed.
 * PAIRS: the key is listed with at least one IMSI. */
bool imei_list_has_key(const struct imei_list *l, const char *key14);
/* PAIRS: this key with this IMSI (6-15 digits; leading zeros count). KEYS and TACS
 * lists carry no IMSI: the IMSI is ignored and this is imei_list_has_key. */
bool imei_list_has_pair(const struct imei_list *l, const char *key14, const char *imsi, size_t imsi_len);
/* TACS: the TAC is listed. False for other kinds. */
bool imei_list_has_tac(const struct imei_list *l, const char *tac8);
/* Any identifier form s[0..len) that imei_parse accepts as an IMEI kind (and, for a TACS
 * list, also a bare 8-digit TAC); imsi NULL tests the key alone. False when s does not
 * parse. The test behind list:has() in Lua. */
bool imei_list_has(const struct imei_list *l, const char *s, size_t len, const char *imsi, size_t imsi_len);

/* A hint before a lookup of a 14-digit key's value (the number the key's digits spell,
 * as has_key reads it): the slots that lookup reads start on their way into the cache.
 * Changes no answer; any value is safe. */
void imei_list_prefetch_key(const struct imei_list *l, uint64_t key);

/* 1 if the file at path is not the one l was loaded from (missing, another inode, or
 * another size, mtime or ctime), 0 if it is. path NULL: the list's own path; a list
 * loaded from a buffer never changes (0). */
int imei_list_changed(const struct imei_list *l, const char *path);

/* ---- collections ------------------------------------------------------------------- */

/* Every regular file DIR/NAME.csv (suffix case-insensitive, names starting with '.'
 * skipped), as list NAME, in name order. All or nothing: NULL and "DIR/FILE: why" in
 * err when the directory or any file fails at file level; rejected rows do not fail the
 * load (see the per-list reports). An empty directory gives an empty collection. */
struct imei_lists *imei_lists_load_dir(const char *dir, char *err, size_t errlen);

/* For building from explicit paths: an empty collection, then add. imei_lists_add takes
 * its own reference to l (the caller keeps and releases its own) and returns 0, or -1
 * with errno EEXIST (a list of that name is already in) or ENOMEM. Add only before the
 * collection is shared: after that it is read-only. */
struct imei_lists *imei_lists_new(void);
int imei_lists_add(struct imei_lists *ls, struct imei_list *l);

size_t imei_lists_count(const struct imei_lists *ls);
/* Borrowed pointers, valid while ls is: imei_list_ref() to keep one longer. */
struct imei_list *imei_lists_at(const struct imei_lists *ls, size_t i);
struct imei_list *imei_lists_get(const struct imei_lists *ls, const char *name);
const struct imei_list_report *imei_lists_report(const struct imei_lists *ls, size_t i);
/* The directory of imei_lists_load_dir, or NULL. */
const char *imei_lists_dir(const struct imei_lists *ls);

/* imei_list_prefetch_key on every list of ls (NULL: none); key UINT64_MAX: nothing. */
void imei_lists_prefetch_key(const struct imei_lists *ls, uint64_t key);

struct imei_lists *imei_lists_ref(struct imei_lists *ls);
void imei_lists_unref(struct imei_lists *ls);

/* Should the host reload? 1 if DIR's *.csv files differ from the collection's lists
 * (a file added, removed, replaced or modified), 0 if not, -1 with errno when DIR cannot
 * be read (a reload would fail and say why). dir NULL: the collection's own directory,
 * or, for a collection built with imei_lists_add, each list's own file. */
int imei_lists_changed(const struct imei_lists *ls, const char *dir);

/* ---- what a policy needs (core/lists_needs.c) --------------------------------------- */

/* A list a policy needs: declared by the policy (P:requires_list, docs/policies.md) or found
 * in its source (lists.NAME, lists["NAME"]). A host refuses to start, reload or swap lists
 * when a need is not met: a policy that reads a missing or broken stolen list would answer
 * every stolen device "not listed", which is fail-open. */
#define IMEI_LIST_DEFAULT_MAX_REJECTED 0.01 /* rejected rows / rows: more means a damaged file */

struct imei_list_need {
	char name[64];
	size_t min_rows;        /* accepted rows (rows - rejected) at least; found needs: 1 */
	double max_rejected;    /* rejected rows / rows at most */
	bool optional;          /* may be absent; when present the checks above apply */
	bool declared;          /* declared by the policy (else found in its source) */
	char where[160];        /* "FILE:LINE" of the declaration or the first reference */
};

struct imei_list_needs {
	size_t n, cap;
	struct imei_list_need *v;
};

/* Add a need. A declared need replaces a found one of the same name; a found one never
 * replaces anything. 0, or -1 (ENOMEM, or EINVAL for a name that is empty or longer than
 * 63 bytes). */
int imei_list_needs_add(struct imei_list_needs *ns, const struct imei_list_need *need);
/* The needs a Lua policy's source shows: every lists.NAME, lists["NAME"] and
 * lists:get("NAME") outside comments and strings, each with min_rows 1 and the default
 * max_rejected. file names them in `where`. 0, or -1 (ENOMEM). */
int imei_list_needs_scan(struct imei_list_needs *ns, const char *src, size_t len, const char *file);
/* The same from a file; -1 and "PATH: why" in err when it cannot be read. */
int imei_list_needs_scan_file(struct imei_list_needs *ns, const char *path, char *err, size_t errlen);
const struct imei_list_need *imei_list_needs_get(const struct imei_list_needs *ns, const char *name);
void imei_list_needs_free(struct imei_list_needs *ns);

/* Does the collection (NULL: no lists at all) meet every need? 0, or -1 and, in err, one
 * line per unmet need naming the list, the file, what is wrong and where the need comes
 * from. */
int imei_lists_check_needs(const struct imei_lists *ls, const struct imei_list_needs *ns, char *err, size_t errlen);

/* ---- reports for hosts (core/lists_needs.c) -------------------------------------------- */

/* One list's load report as one JSON object (name, file, kind, rows, loaded, rejected,
 * rejected_by, duplicates, warnings, bytes, sha256, first errors), and a collection's as
 * a JSON array; for /health and logs. Returns the length it needs (like snprintf): output
 * is cut, and still NUL-terminated, when cap is too small. */
size_t imei_list_report_json(const struct imei_list *l, char *out, size_t cap);
size_t imei_lists_report_json(const struct imei_lists *ls, char *out, size_t cap);
/* A one-line summary for a startup log: "stolen: lists/stolen.csv: 1000 rows, 998 loaded,
 * 2 rejected (key 2), 0 duplicates, sha256 ab12..." (the digest in full). */
size_t imei_list_report_line(const struct imei_list *l, char *out, size_t cap);

#endif
