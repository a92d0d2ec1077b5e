/*
 * imei/imei.h — the public, stable C API of libimei: version, error codes, identifier
 * checks (TS 23.003 §6.2, Annex B) and the EIR engine (a Lua policy in a sandbox).
 *
 * Compile with `pkg-config --cflags imei`, link with `pkg-config --libs imei` (shared) or
 * `pkg-config --static --libs imei`. This header needs nothing but the C library's and
 * imei_status.h, installed beside it.
 *
 * ABI rules, kept within one major version (the SONAME is libimei.so.IMEI_VERSION_MAJOR):
 * - handles are opaque (struct imei_options, struct imei_engine, struct imei_answer):
 *   created and freed by the library, read through functions;
 * - the one struct the caller fills, struct imei_query, starts with its size: set it with
 *   IMEI_QUERY_INIT; new fields are only ever appended, and the library reads none past
 *   the size the caller says (a caller built against a newer header with unknown fields
 *   gets IMEI_ESIZE, never a misread);
 * - functions that can fail return an enum imei_code (0 is success) and, where a message
 *   helps, fill a caller's buffer with what, where and why; imei_strerror() names a code.
 *
 * Thread model: one engine per thread (an engine is single-threaded; a stray concurrent
 * call waits, never crashes). Engines opened from the same options share the TAC image,
 * the lists and the store, which are immutable or thread-safe. imei_engine_reload() may be
 * called from any thread while checks run. The identifier functions are pure.
 *
 *   struct imei_options *o = imei_options_new();
 *   imei_options_set(o, "policy", "/usr/share/imei/policies/example-country.lua");
 *   struct imei_engine *e;
 *   if (imei_engine_open(&e, o, err, sizeof err) != IMEI_EOK) ... err says why
 *   struct imei_query q = IMEI_QUERY_INIT;
 *   q.pei = "imei-490154203237518";
 *   struct imei_answer *a = imei_answer_new();
 *   imei_engine_query(e, &q, a);   then imei_answer_status(a), imei_answer_reason(a, i, …)
 *   imei_answer_free(a); imei_engine_free(e); imei_options_free(o);
 * docs/embed_example.c is a complete program.
 */
#ifndef IMEI_IMEI_H
#define IMEI_IMEI_H

#include <stdbool.h>
#include <stddef.h>

#include "imei_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ---------------------------------------------------------------------- */

#define IMEI_VERSION_MAJOR 0
#define IMEI_VERSION_MINOR 5
#define IMEI_VERSION_PATCH 0
#define IMEI_VERSION_STRING "0.5.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for #if comparisons */
#define IMEI_VERSION_NUMBER (IMEI_VERSION_MAJOR * 10000 + IMEI_VERSION_MINOR * 100 + IMEI_VERSION_PATCH)

/* The version of the library actually loaded ("0.5.0"); compare with IMEI_VERSION_STRING
 * to detect a program run against another build than it was compiled with. */
const char *imei_version(void);
/* The same as IMEI_VERSION_NUMBER of the loaded library. */
unsigned imei_version_number(void);

/* ---- error codes ------------------------------------------------------------------ */

enum imei_code {
	IMEI_EOK = 0,
	IMEI_EINVAL = 1,  /* a bad argument: NULL handle, unknown option, value out of range */
	IMEI_ENOMEM = 2,  /* out of memory */
	IMEI_EIO = 3,     /* a file could not be opened or read */
	IMEI_EFORMAT = 4, /* a file's contents are not what they should be (TAC image, list) */
	IMEI_EPOLICY = 5, /* the policy failed: to load, its examples, or on this request */
	IMEI_ESIZE = 6,   /* a struct size this library does not know (built for a newer one) */
	IMEI_ESTATE = 7   /* not possible in this state (options already in use) */
};
#define IMEI_NCODES 8

/* A short English description of a code ("out of memory"); never NULL. */
const char *imei_strerror(int code);

/* ---- identifiers (pure functions, any thread) --------------------------------------- */

/* An IMEI kind (IMEI, IMEISV, 14-digit IMEI, a 5G PEI "imei-…"/"imeisv-…"), and a
 * 15-digit value has the right check digit. Spaces and hyphens are allowed. */
bool imei_valid(const char *s, size_t len);
/* Luhn over a decimal digit string (the last digit is the check digit). */
bool imei_luhn(const char *s, size_t len);
/* The Luhn check digit ('0'..'9') of a decimal body (TS 23.003 Annex B for a 14-digit
 * IMEI body), or 0 when the body has a non-digit. */
char imei_check_digit(const char *body, size_t len);

/* ---- the EIR engine ---------------------------------------------------------------- */

/* The verdict: enum imei_status (WHITELISTED, BLACKLISTED, GREYLISTED — the values of the
 * Equipment-Status AVP, TS 29.272 §7.3.51, and of N5g-eir's EquipmentStatus, TS 29.511 —
 * and UNKNOWN, "equipment unknown"), imei_status_name(), imei_status_from_name() and
 * imei_status_severity(), in imei_status.h (installed beside this header). */

struct imei_options; /* how to build engines, and the objects they share */
struct imei_engine;  /* one policy in its sandbox; one per thread */
struct imei_answer;  /* a verdict with its reasons */

struct imei_options *imei_options_new(void); /* NULL when out of memory */
void imei_options_free(struct imei_options *o); /* engines opened from it live on */

/* Set one option by name, as text:
 *   policy        policy file (required)
 *   tacdb         a compiled TAC image (`imei tac compile`)
 *   lists         a folder of CSV lists
 *   store         sightings store: "memory" or "lmdb:PATH"
 *   lua_path      package.path of the policy runtime (default: $LUA_PATH, then Lua's)
 *   instructions  work budget of the policy per check (default 1000000; at least 1000)
 *   memory        memory cap of each sandbox in bytes (default 64 MiB; at least 1 MiB)
 *   on_error      the status when the policy fails on a request (default WHITELISTED)
 *   record        "true"/"false": record each check's sighting in the store
 * IMEI_EINVAL for an unknown name or a bad value; IMEI_ESTATE once an engine was opened
 * from these options (the shared objects are opened then, once). */
int imei_options_set(struct imei_options *o, const char *name, const char *value);

/* A new engine: the policy loaded in a fresh sandbox and its examples run. The first
 * call opens the shared objects named in the options. On failure *out is NULL, the code
 * says what kind and err (may be NULL) what, where and why. */
int imei_engine_open(struct imei_engine **out, struct imei_options *o, char *err, size_t errlen);
void imei_engine_free(struct imei_engine *e);

/* Reload the policy file(s) into a fresh sandbox, self-test, swap; any thread. On failure
 * (-1, err says why) the old policy stays in force; 0 on success. */
int imei_engine_reload(struct imei_engine *e, char *err, size_t errlen);
/* The loaded policy's "name@version" (valid until the next reload). */
const char *imei_engine_policy_name(struct imei_engine *e);

struct imei_query {
	size_t size;             /* sizeof(struct imei_query): use IMEI_QUERY_INIT */
	const char *pei;         /* PEI or IMEI in any form (required) */
	const char *imsi;        /* or SUPI; optional */
	const char *msisdn;      /* or GPSI; optional */
	const char *operator_id; /* MCC-MNC; optional */
	const char *rat;         /* optional */
	long long time;          /* UTC seconds; 0 = now */
};
#define IMEI_QUERY_INIT { sizeof(struct imei_query), NULL, NULL, NULL, NULL, NULL, 0 }

struct imei_answer *imei_answer_new(void); /* NULL when out of memory */
void imei_answer_free(struct imei_answer *a);

/* Decide one query into a (reusable). IMEI_EOK; IMEI_EPOLICY when the policy failed on
 * this request: a then holds the on_error status, imei_answer_failed() is true and
 * imei_answer_error() says why (the answer is always usable: never fail-open by
 * accident, the status is the configured one); IMEI_EINVAL (no engine, query or pei)
 * or IMEI_ESIZE (q->size unknown) without running the policy: a then says UNKNOWN, failed,
 * and why. */
int imei_engine_query(struct imei_engine *e, const struct imei_query *q, struct imei_answer *a);

enum imei_status imei_answer_status(const struct imei_answer *a);
bool imei_answer_failed(const struct imei_answer *a);
bool imei_answer_notify(const struct imei_answer *a);        /* a condition is in its grace period */
const char *imei_answer_policy(const struct imei_answer *a);     /* "name@version" or NULL */
const char *imei_answer_error(const struct imei_answer *a);      /* why it failed, or NULL */
const char *imei_answer_block_date(const struct imei_answer *a); /* "YYYY-MM-DD" or NULL */
size_t imei_answer_reasons(const struct imei_answer *a);
/* Reason i (< imei_answer_reasons()): its condition, text (either may be NULL) and the
 * status it asked for. IMEI_EINVAL when i is out of range. The strings live as long as
 * the answer is neither reused nor freed. */
int imei_answer_reason(const struct imei_answer *a, size_t i, const char **condition, const char **text,
                       enum imei_status *status);

#ifdef __cplusplus
}
#endif

#endif
