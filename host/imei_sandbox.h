/*
 * imei_sandbox.h — a lua_State for policy code (DESIGN.md §4): its own allocator with a
 * memory cap, a work budget per call (an instruction-count hook that pcall cannot
 * swallow, shared with the budgeted pattern matcher), text chunks only, no __gc from
 * policy code, the string metatable locked and string.dump gone.
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
};

struct imei_sandbox;

/* A new sandboxed state with the standard libraries and imei.core opened. NULL and a
 * message in err when memory is short. */
struct imei_sandbox *imei_sandbox_new(const struct imei_sandbox_limits *limits, char *err, size_t errlen);
void imei_sandbox_free(struct imei_sandbox *sb);

lua_State *imei_sandbox_state(struct imei_sandbox *sb);

/* Lock the state down after the trusted runtime has loaded: string metatable locked,
 * string.dump removed, budgeted pattern functions installed, a setmetatable that
 * refuses __gc, and the dangerous globals removed from the real global table. */
void imei_sandbox_lock(struct imei_sandbox *sb);

/* Call the function below nargs arguments on the stack, like lua_pcall, with the given
 * work budget armed. On failure returns the Lua status and writes a clear one-line
 * message to err: the policy's own message (with file:line), "instruction budget
 * exceeded", "memory limit of N MiB exceeded", or the type of a non-string error
 * object (whose metamethods are never called). */
int imei_sandbox_call(struct imei_sandbox *sb, int nargs, int nresults, long long budget, char *err,
                      size_t errlen);

long long imei_sandbox_check_budget(const struct imei_sandbox *sb);
long long imei_sandbox_load_budget(const struct imei_sandbox *sb);
size_t imei_sandbox_memory_used(const struct imei_sandbox *sb);
size_t imei_sandbox_memory_limit(const struct imei_sandbox *sb);

#endif
