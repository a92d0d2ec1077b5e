/*
 * imei_sandbox.h — a lua_State for policy code (docs/sandbox.md): its own allocator with a
 * memory cap, a work budget and a time limit per call (an instruction-count hook that
 * pcall cannot swallow, shared with the budgeted library functions), text chunks only,
 * no __gc from policy code, shared userdata that cannot be closed, the string metatable
 * locked and string.dump gone. The containment table is in docs/sandbox.md.
 *
 * The sandbox does not build the policy's environment: the trusted runtime
 * (lua/imei/policy/runtime.lua) does, inside this state, from the whitelist there.
 * Requires Lua 5.4 (this is the policy host, not the Lua-free core).
 */
#ifndef IMEI_SANDBOX_H
#define IMEI_SANDBOX_H

#include <stddef.h>

#include <lua.h>

#include "sandbox_patterns.h"

struct imei_sandbox_limits {
	size_t memory;              /* bytes the state may hold; 0 = 64 MiB */
	long long check_budget;     /* work units (~VM instructions) per call; 0 = 1,000,000 */
	long long load_budget;      /* for loading a policy and running its examples; 0 = 200,000,000 */
	/* time limits, microseconds of the calling thread's CPU time (checked on the wall clock
	 * first, confirmed on the CPU clock: a busy machine fails neither a check nor a load) */
	long long check_deadline_us; /* one check; 0 = 50,000 (50 ms) */
	long long load_deadline_us;  /* loading a policy with its examples; 0 = 2,000,000 (2 s) */
	unsigned rebuild_failures;  /* failed checks after which the engine rebuilds the state; 0 = 64 */
};

/* What a call is: a check (check budget and deadline) or a load (load budget and deadline). */
enum imei_sandbox_phase { IMEI_SANDBOX_CHECK = 0, IMEI_SANDBOX_LOAD = 1 };

/* Why the last call was stopped by the sandbox itself (not by the policy's own error). */
enum imei_sandbox_stop {
	IMEI_SANDBOX_OK = 0,
	IMEI_SANDBOX_BUDGET,   /* the work budget ran out */
	IMEI_SANDBOX_DEADLINE, /* the time limit passed */
	IMEI_SANDBOX_MEMORY,   /* the memory cap, hit again and again */
};

struct imei_sandbox;

/* A new sandboxed state with the standard libraries and imei.core opened. NULL and a
 * message in err when memory is short. */
struct imei_sandbox *imei_sandbox_new(const struct imei_sandbox_limits *limits, char *err, size_t errlen);
void imei_sandbox_free(struct imei_sandbox *sb);

lua_State *imei_sandbox_state(struct imei_sandbox *sb);

/* Lock the state down after the trusted runtime has loaded: string metatable locked,
 * string.dump removed, budgeted pattern and library functions installed (sandbox_lib.c),
 * a setmetatable that refuses __gc, and the dangerous globals removed from the real
 * global table. */
void imei_sandbox_lock(struct imei_sandbox *sb);

/* Make the shared objects' classes (lists, TAC db, store) in this state impossible to
 * close from Lua: __close does nothing and the close methods are gone. Idempotent; call
 * after pushing such objects into the state for the first time. */
void imei_sandbox_seal_shared(struct imei_sandbox *sb);

/* Call the function below nargs arguments on the stack, like lua_pcall, with the budget
 * and the deadline of the phase armed. On failure returns the Lua status and writes a
 * clear one-line message to err: the policy's own message (with file:line), "instruction
 * budget of N exceeded", "time limit of N ms exceeded", "memory limit of N MiB exceeded",
 * "C stack overflow …", or the type of a non-string error object (whose metamethods are
 * never called). */
int imei_sandbox_run(struct imei_sandbox *sb, int nargs, int nresults, enum imei_sandbox_phase phase, char *err,
                     size_t errlen);

/* The same with an explicit budget; the deadline is the load one when budget is at least
 * the load budget, else the check one. */
int imei_sandbox_call(struct imei_sandbox *sb, int nargs, int nresults, long long budget, char *err,
                      size_t errlen);

/* Why the last call was stopped (IMEI_SANDBOX_OK when it was not). */
enum imei_sandbox_stop imei_sandbox_last_stop(const struct imei_sandbox *sb);

/* Lift the count hook for the rest of the running call, on its own thread (what the
 * policy runtime's check runs before its conditions' protected call: docs/sandbox.md);
 * nothing when no call is running or it is being stopped. The engine calls it before the
 * runtime's check when the runtime says its check may run so (check_unhooked). */
void imei_sandbox_unhook(lua_State *L);

/* Charge n work units to the running call's budget from a C function of the sandbox;
 * raises (never returns) when the budget is spent or the deadline has passed. */
void imei_sandbox_charge(lua_State *L, long long n);

/* Policy output (print, log): a bounded buffer outside the Lua heap. Lines longer than
 * IMEI_SANDBOX_LOG_LINE bytes are cut; when IMEI_SANDBOX_LOG_LINES are waiting, new ones
 * are dropped and counted. drain hands each waiting line to fn (if fn is not NULL) and
 * empties the buffer; it returns the number of lines dropped since the last drain. */
#define IMEI_SANDBOX_LOG_LINES 32
#define IMEI_SANDBOX_LOG_LINE 256
void imei_sandbox_log(struct imei_sandbox *sb, const char *line, size_t len);
size_t imei_sandbox_log_drain(struct imei_sandbox *sb, void (*fn)(void *ud, const char *line, size_t len), void *ud);

long long imei_sandbox_check_budget(const struct imei_sandbox *sb);
long long imei_sandbox_load_budget(const struct imei_sandbox *sb);
size_t imei_sandbox_memory_used(const struct imei_sandbox *sb);
size_t imei_sandbox_memory_limit(const struct imei_sandbox *sb);

/* Install the budgeted standard library functions (sandbox_lib.c) into the real global
 * tables of the state; imei_sandbox_lock calls it. */
void imei_sandbox_lib_install(lua_State *L);

#endif
