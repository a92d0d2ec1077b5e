/*
 * imei_engine.h — the EIR engine: a policy in its own sandboxed lua_State, answering
 * equipment checks with WHITELISTED / GREYLISTED / BLACKLISTED / UNKNOWN.
 *
 * Thread model: an engine is used by one thread at a time for checks (its lua_State
 * is single-threaded; a mutex inside makes a stray concurrent call wait, not crash).
 * Give each worker thread its own engine: they share the frozen TAC database, the
 * frozen lists and the store, which are immutable or thread-safe and reference-counted.
 * imei_engine_reload() and imei_engine_set_lists() may be called from any thread while
 * checks run: the new policy is loaded and self-tested on the side, then swapped in
 * between two checks; a check in flight finishes on the policy it started with.
 *
 * Link with libimei.a and -llua5.4.
 *
 * Walk-through for a multi-threaded host (docs/embed_example.c, docs/serve.md):
 *   struct imei_engine_config cfg;                    // 1. the shared objects, once
 *   imei_engine_config_open(&cfg, &(struct imei_engine_paths){ .policy = "p.lua",
 *       .tacdb = "tacs.img", .lists = "lists/", .store = "memory",
 *       .lua_path = "lua/?.lua;lua/?/init.lua" }, err, sizeof err);
 *   e[i] = imei_engine_new(&cfg, err, sizeof err);    // 2. one engine per worker thread
 *   imei_engine_check(e[i], &req, &v);                // 3. in worker i only, any number
 *   imei_engine_set_lists(e[i], lists, …); imei_engine_reload(e[i], …); // 4. any thread
 *   imei_engine_free(e[i]); imei_engine_config_release(&cfg);          // 5. any order
 * Each engine holds its own references, so the config may be released as soon as the
 * engines exist; the TAC image, lists and store live until the last holder lets go.
 * What is shared and how: the TAC image and the lists are immutable after load (lookups
 * take no lock); the store has its own reader/writer lock (recording, with record =
 * true, from many engines at once is safe); an engine's lua_State is never shared.
 * A verdict owns its strings and reasons until the next check into it or its release.
 * Tested with several threads, each with its own engine, on one TAC image, one lists
 * collection and one store, with reloads and list swaps during the checks
 * (tests/c/test_engine_threads.c).
 */
#ifndef IMEI_ENGINE_H
#define IMEI_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imei/imei.h"
#include "imei_sandbox.h"

struct imei_tacdb;
struct imei_lists;
struct imei_store;

#include "imei_status.h"

struct imei_request {
	const char *pei;         /* PEI or IMEI in any form imei_parse() takes (required) */
	const char *imsi;        /* or SUPI; optional */
	const char *msisdn;      /* or GPSI; optional */
	const char *operator_id; /* MCC-MNC; optional */
	const char *rat;         /* optional */
	long long time;          /* UTC seconds; 0 = now */
	size_t nextras;          /* free-form key/value pairs the policy sees in r */
	const char *const *extras; /* key0, value0, key1, value1, … */
};

/* One condition's part in a verdict. Every reason the policy gave is kept (no cap). */
struct imei_reason {
	const char *condition;    /* the condition that produced it */
	const char *text;         /* its reason text */
	enum imei_status status;  /* what it asked for, after its grace period (a failed one: its on_error) */
	const char *block_date;   /* "YYYY-MM-DD" or NULL */
	bool informative;         /* reported, decided nothing (blocking = false, or failed without on_error) */
	bool overruled;           /* matched, but a final condition decided instead */
	bool sticky;              /* once blocked, stays blocked (for list generation) */
	bool notify;              /* in its grace period: notify the subscriber */
	bool failed;              /* the condition raised or ran out of its budget share */
	const char *overruled_by; /* the final condition that overruled it, or NULL */
	const char *error;        /* why it failed, or NULL */
};

/* A verdict. The caller owns the struct (on its stack, say) and starts it with
 * IMEI_VERDICT_INIT; the engine fills it and owns the buffers behind the pointers, which
 * grow as a verdict needs and are kept for the next check into the same struct. Give
 * them back with imei_verdict_release(). Strings and reasons stay valid until the next
 * check into this struct or the release.
 * ABI: `size` and `reason_size` record the layout the caller was compiled with; a later
 * library only writes the fields that layout has, and lays reasons out reason_size bytes
 * apart, so new fields can be appended to either struct. A struct whose size the library
 * does not know (one not started with IMEI_VERDICT_INIT) is started afresh, never trusted. */
struct imei_verdict {
	size_t size;                /* sizeof(struct imei_verdict) as the caller compiled it */
	size_t reason_size;         /* sizeof(struct imei_reason) likewise */
	enum imei_status status;
	bool notify;                /* some condition is in its grace period: notify the subscriber */
	bool failed;                /* the policy failed (status is the engine's on_error), or a condition did */
	const char *block_date;     /* the earliest block date, or NULL */
	const char *policy;         /* "name@version" */
	const char *error;          /* why it (or its first failed condition) failed, or NULL */
	size_t nreasons;            /* entries in reasons */
	struct imei_reason *reasons;
	size_t nfailed;             /* reasons whose condition failed */
	struct imei_verdict_buffers *buffers; /* private: what reasons and the strings live in */
};

#define IMEI_VERDICT_INIT                                                                             \
	{                                                                                             \
		.size = sizeof(struct imei_verdict), .reason_size = sizeof(struct imei_reason)         \
	}

/* Give back a verdict's buffers; it may then be reused (it is as IMEI_VERDICT_INIT left it). */
void imei_verdict_release(struct imei_verdict *v);

struct imei_engine_config {
	const char *policy;              /* policy file (required) */
	struct imei_tacdb *tacdb;        /* optional; the engine takes its own reference */
	struct imei_lists *lists;        /* optional; likewise */
	struct imei_store *store;        /* optional; likewise */
	const char *lua_path;            /* package.path for the runtime (lua/imei/...); NULL: $LUA_PATH or the default */
	struct imei_sandbox_limits limits;
	enum imei_status on_error;       /* the status when the policy fails on a request; default WHITELISTED */
	bool record;                     /* record each check's sighting in the store before deciding */
	bool skip_examples;              /* load without running the examples (imei policy test runs them itself) */
	bool allow_missing_lists;        /* load although a list the policy needs is missing, empty or damaged
	                                    (imei policy test/lint: examples bring their own lists). Otherwise
	                                    new, reload and set_lists refuse, naming the list and why
	                                    (imei_lists_check_needs, docs/lists.md) */
	/* Where the policy's print/log lines go (after each check or load, in the caller's
	 * thread; at most IMEI_SANDBOX_LOG_LINES per call, the rest counted as dropped and
	 * said in one line). NULL: stderr, as "imei: policy NAME@VERSION: LINE". */
	void (*log)(void *ud, const char *policy, const char *line, size_t len);
	void *log_ud;
	bool quiet;                      /* discard policy output (still counted) */
};

struct imei_engine;

/* Load the policy and run its examples. NULL and a message (file, line, reason) in err
 * on any failure. */
struct imei_engine *imei_engine_new(const struct imei_engine_config *cfg, char *err, size_t errlen);
void imei_engine_free(struct imei_engine *e);

/* Decide one request. Always fills *v, which must have been started with IMEI_VERDICT_INIT
 * (and may hold an earlier verdict: its buffers are reused). A condition that fails is a
 * reason with failed = true (and v->failed); the others still decide. When the policy as
 * a whole fails, v->status is the on_error status, v->failed is set, v->error says why,
 * and the call returns -1; otherwise 0. Out of memory for the verdict's buffers counts as
 * a failure of the whole policy. */
int imei_engine_check(struct imei_engine *e, const struct imei_request *req, struct imei_verdict *v);

/* The same with the request table built by a callback in the sandbox's state (the Lua
 * binding copies a Lua host's table this way). */
int imei_engine_check_with(struct imei_engine *e, void (*push_request)(lua_State *L, void *ud), void *ud,
                           struct imei_verdict *v);

/* Run the policy's examples in a state of their own (a fresh sandbox, the texts of the
 * policy in force, no live data) and hand their results table ({ total, passed, failed = {…} }) to
 * out, on the top of that state's stack, before it is thrown away. Returns 0, or -1 and
 * err when the policy cannot be loaded or the run fails (its budget, say). */
int imei_engine_examples(struct imei_engine *e, void (*out)(lua_State *S, void *ud), void *ud, char *err,
                         size_t errlen);

/* Explain a verdict (host/explain.c, docs/explain.md): the same evaluation as a check,
 * traced, with the check's limits and no sighting recorded. The report table (each
 * condition in order: matched, exempted by its unless and why, overruled, failed; grace
 * dates; the facts the conditions looked at) is handed to out at idx of the sandbox's
 * state; out returns 0 or -1. Returns out's result, or -1 and err when the run failed. */
int imei_engine_explain_with(struct imei_engine *e, void (*push_request)(lua_State *L, void *ud), void *ud,
                             int (*out)(lua_State *S, int idx, void *ud), void *out_ud, char *err, size_t errlen);
/* The same as JSON (RFC 8259, UTF-8), in *json (malloc'd, *len bytes, NUL-terminated;
 * free() it). 0, or -1 and err. */
int imei_engine_explain_json(struct imei_engine *e, const struct imei_request *req, char **json, size_t *len,
                             char *err, size_t errlen);
/* The JSON writer of the above, on any plain Lua value (raw access; never raises):
 * 0, or -1 when memory ran out or the text would pass 4 MiB. */
int imei_explain_json_of(lua_State *S, int idx, char **json, size_t *len);

/* Reload the policy file(s) into a fresh sandbox, self-test, swap. On failure (also a
 * policy that hangs: the load is cut at its deadline) the old policy stays in force and
 * err says why; returns 0 or -1.
 *
 * Separately, the engine rebuilds its state from the texts of the loaded policy (no file
 * is read again, the examples are not run again) when, after a check, the state holds
 * more than 3/4 of its memory cap after a full collection, or when
 * limits.rebuild_failures checks have failed on it: a state cannot degrade for good. */
int imei_engine_reload(struct imei_engine *e, char *err, size_t errlen);

/* Swap in new lists (a new frozen collection) without reloading the policy. Refused (-1,
 * the lists in force stay) when they do not meet the policy's needs. */
int imei_engine_set_lists(struct imei_engine *e, struct imei_lists *lists, char *err, size_t errlen);

/* Give the engine another TAC database (a new image after a SIGHUP, say). The policy in
 * force keeps the one it was loaded with; the next imei_engine_reload() builds the new
 * policy instance with this one. The engine takes its own reference. */
void imei_engine_set_tacdb(struct imei_engine *e, struct imei_tacdb *tacdb);

/* The file-watch path for long-running hosts: reload the policy if any of its files
 * changed (stat: inode, size, mtime), and the lists if their folder changed. Cheap when
 * nothing changed (a few stat calls): call it every second or on SIGHUP. Returns a mask
 * of IMEI_REFRESH_* (0: nothing changed), or -1 with err (the old policy/lists stay). */
#define IMEI_REFRESH_POLICY 1
#define IMEI_REFRESH_LISTS 2
int imei_engine_refresh(struct imei_engine *e, char *err, size_t errlen);

struct imei_engine_stats {
	uint64_t checks;
	uint64_t by_status[4];     /* by enum imei_status */
	uint64_t failures;         /* checks where the policy failed */
	uint64_t condition_failures; /* conditions that failed (the others decided) */
	uint64_t budget_exceeded;  /* of which: instruction budget */
	uint64_t memory_exceeded;  /* of which: memory cap */
	uint64_t reloads, reload_failures;
	size_t memory_used, memory_limit;
	uint64_t deadline_exceeded; /* of the failures: the time limit */
	uint64_t rebuilds;          /* states rebuilt (memory or failed checks over the threshold) */
	uint64_t rebuild_failures;  /* rebuilds that failed (the old state stays) */
	uint64_t log_lines, log_dropped; /* policy output lines passed on / dropped */
	uint64_t sightings_unrecorded; /* with record: checks whose sighting could not be recorded
	                                * (a field the store refuses, or the store's error: full,
	                                * frozen, read-only); the check is decided all the same */
};
void imei_engine_stats(struct imei_engine *e, struct imei_engine_stats *st);

/* The loaded policy's "name@version" (valid until the next reload). */
const char *imei_engine_policy_name(struct imei_engine *e);

/* The sandbox of the current policy, for the Lua binding's introspection (info,
 * examples); use under imei_engine_lock(). */
struct imei_sandbox *imei_engine_sandbox(struct imei_engine *e);
void imei_engine_lock(struct imei_engine *e);
void imei_engine_unlock(struct imei_engine *e);
/* Registry reference of the runtime instance in the sandbox (a table). */
int imei_engine_instance_ref(struct imei_engine *e);

/* ---- convenience: the shared objects from paths (engine_paths.c) ---------------- */

struct imei_engine_paths {
	const char *policy;   /* policy file (required) */
	const char *tacdb;    /* a compiled TAC image (`imei tac compile`), or NULL */
	const char *lists;    /* a folder of CSV lists (imei_lists_load_dir), or NULL */
	const char *store;    /* "memory" or "lmdb:PATH" (imei_store_open), or NULL */
	const char *lua_path; /* package.path for the runtime, or NULL ($LUA_PATH / default) */
};

/* Clear *cfg and open the objects named in *paths into it; policy and lua_path are borrowed
 * (keep the strings while creating engines). The caller may then set limits, on_error,
 * record… and create one engine per worker thread from the same cfg. cfg holds one
 * reference to each object: imei_engine_config_release() drops them (engines keep their
 * own). Returns 0, or -1 with "tacdb: PATH: why" (or lists:, store) in err and nothing held. */
int imei_engine_config_open(struct imei_engine_config *cfg, const struct imei_engine_paths *paths, char *err,
                            size_t errlen);
void imei_engine_config_release(struct imei_engine_config *cfg);

#endif
