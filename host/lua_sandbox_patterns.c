/*
 * lua_sandbox_patterns.c — a test hook for sandbox_patterns.c (budgeted pattern matching
 * for the policy sandbox, docs/sandbox.md), not a public API:
 *   _budgeted_string(steps) -> { find, match, gmatch, gsub, remaining, refill }
 * find/match/gmatch/gsub behave as string.* but share a fresh budget of `steps` steps;
 * remaining() -> steps left, exceeded (boolean); refill(steps) re-arms the budget.
 */
#include "imei_lua_host.h"
#include "sandbox_patterns.h"

static struct imei_budget *upvalue_budget(lua_State *L)
{
	return (struct imei_budget *)lua_touserdata(L, lua_upvalueindex(1));
}

static int budget_remaining(lua_State *L)
{
	struct imei_budget *b = upvalue_budget(L);
	lua_pushinteger(L, (lua_Integer)b->remaining);
	lua_pushboolean(L, b->exceeded);
	return 2;
}

static int budget_refill(lua_State *L)
{
	struct imei_budget *b = upvalue_budget(L);
	b->remaining = (long long)luaL_checkinteger(L, 1);
	b->exceeded = 0;
	return 0;
}

static int budgeted_string(lua_State *L)
{
	lua_Integer steps = luaL_checkinteger(L, 1);
	struct imei_budget *b = (struct imei_budget *)lua_newuserdatauv(L, sizeof *b, 0);
	b->remaining = (long long)steps;
	b->exceeded = 0;
	lua_newtable(L);
	/* the functions and their gmatch iterators keep the budget's userdata alive */
	imei_sandbox_patterns_install_anchored(L, -1, b, -2);
	lua_pushvalue(L, -2);
	lua_pushcclosure(L, budget_remaining, 1);
	lua_setfield(L, -2, "remaining");
	lua_pushvalue(L, -2);
	lua_pushcclosure(L, budget_refill, 1);
	lua_setfield(L, -2, "refill");
	return 1;
}

void imei_lua_sandbox_patterns(lua_State *L)
{
	lua_pushcfunction(L, budgeted_string);
	lua_setfield(L, -2, "_budgeted_string");
}
