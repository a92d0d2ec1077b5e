/*
 * sandbox_patterns.h — budgeted string.find / match / gmatch / gsub for the policy sandbox
 * (docs/sandbox.md: no way for a policy to stall the host inside a C function).
 *
 * The instruction-count hook only fires while Lua code runs; Lua's pattern matcher is C
 * and can backtrack for hours (string.find(("a"):rep(30000), ".-.-.-.-.-b")). These
 * replacements have exactly Lua 5.4's semantics and error messages, but charge every
 * unit of matcher work to a budget shared with the sandbox's instruction hook and raise
 * "pattern matching budget exceeded" when it runs out. See docs/sandbox.md.
 *
 * Needs Lua 5.4 (link with -llua5.4, or load into a Lua host). The object sits in
 * libimei.a, but a C program that never calls these functions does not pull it in.
 */
#ifndef IMEI_SANDBOX_PATTERNS_H
#define IMEI_SANDBOX_PATTERNS_H

#include <lua.h>

/* A work budget shared by the sandbox's instruction hook and the pattern matcher. */
struct imei_budget {
	long long remaining; /* steps left; the matcher raises when it reaches <= 0 */
	int exceeded;        /* set when it ran out; every later call raises at once */
};

/* Replace find, match, gmatch, gsub in the table at index idx (the sandbox's real string
 * table) with budgeted versions whose upvalue is a light userdata pointing to *budget.
 * *budget must outlive every function installed (and every gmatch iterator they make);
 * the host re-fills remaining and clears exceeded before each check. */
void imei_sandbox_patterns_install(lua_State *L, int idx, struct imei_budget *budget);

/* The same, for a budget that lives inside a Lua value (a full userdata, say): each
 * function, and each gmatch iterator, also keeps the value at index anchor as a second
 * upvalue, so the budget cannot be collected while any of them is reachable. */
void imei_sandbox_patterns_install_anchored(lua_State *L, int idx, struct imei_budget *budget,
                                            int anchor);

#endif
