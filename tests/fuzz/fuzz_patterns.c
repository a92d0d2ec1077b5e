/*
 * fuzz_patterns.c — libFuzzer target for the budgeted pattern functions
 * (sandbox_patterns.c, docs/sandbox.md): random subjects and patterns through find, match,
 * gmatch and gsub with a small budget. No crash, no sanitizer report; the budget error
 * leaves the budget marked exceeded; and when the budgeted call finishes within the
 * budget (so the original cannot be catastrophic on this input), Lua's own string
 * function gives the same results or the same error message.
 *
 * Input: byte 0 the operation and options, byte 1 the init (signed), byte 2 how many
 * times the subject repeats (1..64), bytes 3-4 the pattern length (little endian,
 * clipped), then the pattern, then the subject.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "sandbox_patterns.h"

#define BUDGET 50000
#define BUDGET_MSG "pattern matching budget exceeded"
#define MAX_ITER 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	char *p;
	size_t len, cap;
};

static void out_add(struct out *o, const void *s, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = (o->cap ? o->cap * 2 : 256) + n;
		char *p = realloc(o->p, cap);
		if (!p)
			abort();
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* the values from index first to the top, with their types */
static void out_values(lua_State *L, int first, struct out *o)
{
	int top = lua_gettop(L);
	char tag = (char)('0' + (top - first + 1));
	out_add(o, &tag, 1);
	for (int i = first; i <= top; i++) {
		size_t n;
		tag = (char)lua_type(L, i);
		if (lua_isinteger(L, i))
			tag = 'i';
		out_add(o, &tag, 1);
		if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER) {
			const char *s = lua_tolstring(L, i, &n);
			out_add(o, &n, sizeof n);
			out_add(o, s, n);
		}
	}
}

/* replacement functions for gsub */
static int repl_first(lua_State *L)
{
	lua_settop(L, 1);
	return 1;
}

static int repl_count(lua_State *L)
{
	lua_pushinteger(L, lua_gettop(L));
	return 1;
}

/* Run operation op with lib[name] (lib at index 1): serialise the outcome into o;
 * return the Lua status. */
static int run(lua_State *L, int op, const char *subj, size_t ls, const char *pat, size_t lp,
               lua_Integer init, struct out *o)
{
	static const char *const names[] = { "find", "match", "gmatch", "gsub" };
	int fn = op & 3, status;
	lua_settop(L, 1);
	lua_getfield(L, 1, names[fn]);
	lua_pushlstring(L, subj, ls);
	lua_pushlstring(L, pat, lp);
	if (fn == 3) { /* gsub: a replacement, and a max count from init */
		switch ((op >> 2) & 7) {
		case 0: lua_pushliteral(L, "<%0>"); break;
		case 1: lua_pushliteral(L, "%1-%2"); break;
		case 2: lua_pushliteral(L, "%%"); break;
		case 3: lua_pushliteral(L, ""); break;
		case 4: lua_newtable(L); lua_pushliteral(L, "T"); lua_setfield(L, -2, "a"); break;
		case 5: lua_pushcfunction(L, repl_first); break;
		case 6: lua_pushcfunction(L, repl_count); break;
		default: lua_pushinteger(L, init); break;
		}
		if (op & 0x20)
			lua_pushinteger(L, init);
		else
			lua_pushnil(L);
	} else {
		if (op & 0x20)
			lua_pushinteger(L, init);
		else
			lua_pushnil(L);
		lua_pushboolean(L, (op & 0x40) != 0); /* find's plain flag */
	}
	status = lua_pcall(L, 4, LUA_MULTRET, 0);
	if (status == LUA_OK && fn == 2) { /* gmatch: run the iterator */
		int it = lua_gettop(L);
		for (int n = 0; n < MAX_ITER && status == LUA_OK; n++) {
			int base = lua_gettop(L);
			lua_pushvalue(L, it);
			status = lua_pcall(L, 0, LUA_MULTRET, 0);
			if (status != LUA_OK)
				break;
			out_values(L, base + 1, o);
			if (lua_gettop(L) == base)
				break;
			lua_settop(L, base);
		}
	} else if (status == LUA_OK) {
		out_values(L, 2, o);
	}
	if (status != LUA_OK) {
		size_t n;
		const char *msg = lua_tolstring(L, -1, &n);
		out_add(o, "E", 1);
		if (msg)
			out_add(o, msg, n);
	}
	return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	int op = data[0];
	lua_Integer init = (int8_t)data[1];
	size_t reps = (size_t)(data[2] & 63) + 1;
	size_t lp = (size_t)data[3] | (size_t)data[4] << 8;
	data += 5;
	size = size - 5;
	if (lp > size)
		lp = size;
	const char *pat = (const char *)data;
	size_t lunit = size - lp, ls = lunit * reps;
	char *subj = malloc(ls + 1);
	if (!subj)
		return 0;
	for (size_t i = 0; i < reps; i++)
		memcpy(subj + i * lunit, data + lp, lunit);

	lua_State *L = luaL_newstate();
	if (!L)
		abort();
	luaL_requiref(L, "_G", luaopen_base, 0);
	luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1); /* the original */
	lua_settop(L, 0);

	struct imei_budget budget = { BUDGET, 0 };
	struct out got = { 0 }, want = { 0 };
	lua_newtable(L);
	imei_sandbox_patterns_install(L, 1, &budget);
	int st = run(L, op, subj, ls, pat, lp, init, &got);
	const char *msg = st != LUA_OK ? lua_tostring(L, -1) : NULL;
	if (budget.exceeded) {
		/* stopped by the budget: with its message, and the budget spent */
		if (st == LUA_OK || !msg || strcmp(msg, BUDGET_MSG) != 0 || budget.remaining > 0)
			abort();
	} else {
		if (budget.remaining <= 0 || budget.remaining > BUDGET)
			abort();
		/* finished within the budget: the original must agree */
		lua_settop(L, 0);
		lua_getglobal(L, LUA_STRLIBNAME);
		run(L, op, subj, ls, pat, lp, init, &want);
		if (got.len != want.len || memcmp(got.p, want.p, got.len) != 0)
			abort();
	}
	lua_close(L);
	free(got.p);
	free(want.p);
	free(subj);
	return 0;
}
