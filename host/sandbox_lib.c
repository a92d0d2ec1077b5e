/*
 * sandbox_lib.c — budgeted versions of the standard library functions a policy can reach
 * that do bulk work in C (docs/sandbox.md, "What each function costs").
 *
 * The sandbox's count hook only sees Lua instructions: string.rep("", 1e18) or
 * table.move over a huge range is one instruction that runs for hours. Each function
 * here charges the sandbox budget (imei_sandbox_charge) for the work it is about to do,
 * computed from its arguments, before doing any of it; the charge raises when the budget
 * is spent or the call's deadline has passed. Then it calls Lua's own function (an
 * upvalue), or, where Lua's own function reads the length twice or loops on a length a
 * lying __len gave (table.insert, table.remove, table.sort), a copy that reads it once.
 *
 * One unit is about one VM instruction: one per value pushed, one per 32 bytes copied
 * (large allocations are charged by the allocator in the same units), eight per element
 * moved through lua_geti / lua_seti and per comparison of table.sort (each may go
 * through a C metamethod, which no hook sees).
 */
#include <limits.h>
#include <stdbool.h>

#include <lauxlib.h>

#include "imei_sandbox.h"

#define UNITS_MAX 1e18

/* A cost computed in double (no overflow), as units. */
static long long units(double x)
{
	if (!(x > 0))
		return 0;
	return x >= UNITS_MAX ? (long long)UNITS_MAX : (long long)x;
}

/* Elements from i to j inclusive (0 when j < i), without overflow. */
static double span(lua_Integer i, lua_Integer j)
{
	return j < i ? 0 : (double)j - (double)i + 1;
}

static size_t string_arg_bytes(lua_State *L, int from)
{
	size_t total = 0;
	for (int i = from, n = lua_gettop(L); i <= n; i++)
		if (lua_type(L, i) == LUA_TSTRING)
			total += lua_rawlen(L, i);
	return total;
}

/* string.sub / byte / utf8.codepoint's range over a string of length l, like lstrlib's posrelat. */
static double string_range(lua_State *L, size_t l, int arg_i, lua_Integer def_i, int arg_j, lua_Integer def_j)
{
	lua_Integer i = luaL_optinteger(L, arg_i, def_i);
	lua_Integer j = arg_j ? luaL_optinteger(L, arg_j, def_j == LUA_MININTEGER ? i : def_j) : (lua_Integer)l;
	lua_Integer len = (lua_Integer)l;
	if (i < 0)
		i = i < -len ? 1 : len + i + 1;
	else if (i == 0)
		i = 1;
	if (j < 0)
		j = j < -len ? 0 : len + j + 1;
	else if (j > len)
		j = len;
	return span(i, j);
}

/* ---- cost functions: the arguments are the wrapper's, left as they are --------------- */

static long long cost_rep(lua_State *L)
{
	size_t l, lsep;
	luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	luaL_optlstring(L, 3, "", &lsep);
	if (n <= 0)
		return 1;
	return units((double)n * (1.0 + ((double)l + (double)lsep) / 32.0));
}

static long long cost_sub(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	return 1 + units(string_range(L, l, 2, 1, 3, -1) / 32.0);
}

static long long cost_byte(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	return 1 + units(string_range(L, l, 2, 1, 3, LUA_MININTEGER));
}

static long long cost_bytes_of_first(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	return 1 + units((double)l / 32.0);
}

static long long cost_args(lua_State *L)
{
	return 1 + lua_gettop(L);
}

static long long cost_format(lua_State *L)
{
	return 1 + lua_gettop(L) + units((double)string_arg_bytes(L, 1) / 16.0);
}

static long long cost_strings(lua_State *L)
{
	return 1 + units((double)string_arg_bytes(L, 1) / 8.0);
}

static long long cost_tonumber(lua_State *L)
{
	return 1 + (lua_type(L, 1) == LUA_TSTRING ? units((double)lua_rawlen(L, 1) / 32.0) : 0);
}

static long long cost_utf8_codepoint(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	return 1 + units(string_range(L, l, 2, 1, 3, LUA_MININTEGER));
}

static long long cost_utf8_len(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	return 1 + units(string_range(L, l, 2, 1, 3, -1) / 4.0);
}

static long long cost_utf8_offset(lua_State *L)
{
	size_t l;
	luaL_checklstring(L, 1, &l);
	return 1 + units((double)l / 4.0);
}

static long long cost_move(lua_State *L)
{
	lua_Integer f = luaL_checkinteger(L, 2);
	lua_Integer e = luaL_checkinteger(L, 3);
	return 1 + units(span(f, e) * 8.0);
}

static long long cost_date(lua_State *L)
{
	return 1 + (lua_type(L, 1) == LUA_TSTRING ? units((double)lua_rawlen(L, 1) * 4.0) : 0);
}

typedef long long (*cost_fn)(lua_State *L);

struct charged {
	const char *lib; /* NULL: a global function */
	const char *name;
	cost_fn cost;
};

static const struct charged charged[] = {
	{ "string", "rep", cost_rep },
	{ "string", "sub", cost_sub },
	{ "string", "byte", cost_byte },
	{ "string", "char", cost_args },
	{ "string", "upper", cost_bytes_of_first },
	{ "string", "lower", cost_bytes_of_first },
	{ "string", "reverse", cost_bytes_of_first },
	{ "string", "format", cost_format },
	{ "string", "pack", cost_strings },
	{ "string", "packsize", cost_strings },
	{ "string", "unpack", cost_strings },
	{ "table", "move", cost_move },
	{ "table", "pack", cost_args },
	{ "utf8", "char", cost_args },
	{ "utf8", "codepoint", cost_utf8_codepoint },
	{ "utf8", "len", cost_utf8_len },
	{ "utf8", "offset", cost_utf8_offset },
	{ "os", "date", cost_date },
	{ NULL, "select", cost_args },
	{ NULL, "tonumber", cost_tonumber },
	{ NULL, NULL, NULL },
};

/* Charge the cost, then call the original (upvalue 1) with the same arguments. */
static int charged_call(lua_State *L)
{
	const struct charged *c = &charged[lua_tointeger(L, lua_upvalueindex(2))];
	imei_sandbox_charge(L, c->cost(L));
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* ---- table functions that read the length once --------------------------------------- */

/* ltablib's checktab: a table, or something with the metamethods the function needs. */
static void check_table(lua_State *L, int arg)
{
	if (lua_type(L, arg) == LUA_TTABLE)
		return;
	if (lua_getmetatable(L, arg)) {
		int mt = lua_gettop(L);
		bool ok = true;
		static const char *const need[] = { "__index", "__newindex", "__len" };
		for (int i = 0; i < 3; i++) {
			lua_pushstring(L, need[i]);
			ok = ok && lua_rawget(L, mt) != LUA_TNIL;
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
		if (ok)
			return;
	}
	luaL_checktype(L, arg, LUA_TTABLE);
}

static int tinsert(lua_State *L)
{
	check_table(L, 1);
	lua_Integer e = luaL_len(L, 1);
	e = (lua_Integer)((lua_Unsigned)e + 1u); /* first empty element */
	lua_Integer pos;
	switch (lua_gettop(L)) {
	case 2:
		pos = e;
		imei_sandbox_charge(L, 1);
		break;
	case 3:
		pos = luaL_checkinteger(L, 2);
		/* check whether 'pos' is in [1, e] */
		luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
		imei_sandbox_charge(L, 1 + units(span(pos, e) * 8.0));
		for (lua_Integer i = e; i > pos; i--) { /* move up elements */
			lua_geti(L, 1, i - 1);
			lua_seti(L, 1, i); /* t[i] = t[i - 1] */
		}
		break;
	default:
		return luaL_error(L, "wrong number of arguments to 'insert'");
	}
	lua_seti(L, 1, pos); /* t[pos] = v */
	return 0;
}

static int tremove(lua_State *L)
{
	check_table(L, 1);
	lua_Integer size = luaL_len(L, 1);
	lua_Integer pos = luaL_optinteger(L, 2, size);
	if (pos != size) /* validate 'pos' if given; check whether 'pos' is in [1, size + 1] */
		luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
	imei_sandbox_charge(L, 1 + units(span(pos, size) * 8.0));
	lua_geti(L, 1, pos); /* result = t[pos] */
	for (; pos < size; pos++) {
		lua_geti(L, 1, pos + 1);
		lua_seti(L, 1, pos); /* t[pos] = t[pos + 1] */
	}
	lua_pushnil(L);
	lua_seti(L, 1, pos); /* remove entry t[pos] */
	return 1;
}

/* table.concat and table.unpack: the range made explicit (the length read once, here),
 * charged, then Lua's own function, which reads no length when given both ends. */
static int tconcat(lua_State *L)
{
	check_table(L, 1);
	size_t lsep;
	luaL_optlstring(L, 2, "", &lsep);
	lua_Integer i = luaL_optinteger(L, 3, 1);
	lua_Integer last = lua_isnoneornil(L, 4) ? luaL_len(L, 1) : luaL_checkinteger(L, 4);
	imei_sandbox_charge(L, 1 + units(span(i, last) * (4.0 + (double)lsep / 32.0)));
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	if (lua_isnoneornil(L, 2))
		lua_pushliteral(L, "");
	else
		lua_pushvalue(L, 2);
	lua_pushinteger(L, i);
	lua_pushinteger(L, last);
	lua_call(L, 4, 1);
	return 1;
}

static int tunpack(lua_State *L)
{
	lua_Integer i = luaL_optinteger(L, 2, 1);
	lua_Integer e = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
	imei_sandbox_charge(L, 1 + units(span(i, e) * 2.0));
	int base = lua_gettop(L);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_pushinteger(L, i);
	lua_pushinteger(L, e);
	lua_call(L, 3, LUA_MULTRET);
	return lua_gettop(L) - base;
}

/* table.sort: a heapsort (n log n comparisons whatever the order function says; each
 * comparison charged), reading and writing through lua_geti / lua_seti as Lua's does. */
static int sort_less(lua_State *L, int a, int b)
{
	a = lua_absindex(L, a);
	b = lua_absindex(L, b);
	imei_sandbox_charge(L, 8);
	if (lua_isnil(L, 2))
		return lua_compare(L, a, b, LUA_OPLT);
	lua_pushvalue(L, 2);
	lua_pushvalue(L, a);
	lua_pushvalue(L, b);
	lua_call(L, 2, 1);
	int less = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return less;
}

static void sift_down(lua_State *L, lua_Integer root, lua_Integer n)
{
	while (root <= n / 2) {
		lua_Integer child = 2 * root;
		lua_geti(L, 1, child);
		if (child < n) {
			lua_geti(L, 1, child + 1);
			if (sort_less(L, -2, -1)) {
				lua_remove(L, -2);
				child++;
			} else {
				lua_pop(L, 1);
			}
		}
		lua_geti(L, 1, root); /* stack: the larger child, the root */
		if (!sort_less(L, -1, -2)) {
			lua_pop(L, 2);
			return;
		}
		lua_seti(L, 1, child); /* t[child] = root */
		lua_seti(L, 1, root);  /* t[root] = the child */
		root = child;
	}
}

static int tsort(lua_State *L)
{
	check_table(L, 1);
	lua_Integer n = luaL_len(L, 1);
	if (n > 1) {
		luaL_argcheck(L, n < INT_MAX, 1, "array too big");
		if (!lua_isnoneornil(L, 2))
			luaL_checktype(L, 2, LUA_TFUNCTION);
		lua_settop(L, 2);
		luaL_checkstack(L, 8, "sorting");
		for (lua_Integer i = n / 2; i >= 1; i--)
			sift_down(L, i, n);
		for (lua_Integer end = n; end > 1; end--) {
			lua_geti(L, 1, 1);
			lua_geti(L, 1, end);
			lua_seti(L, 1, 1);   /* t[1] = t[end] */
			lua_seti(L, 1, end); /* t[end] = the old t[1] */
			sift_down(L, 1, end - 1);
		}
	}
	return 0;
}

/* ---- installing ------------------------------------------------------------------ */

static void push_lib(lua_State *L, const char *lib)
{
	if (lib)
		lua_getglobal(L, lib);
	else
		lua_pushglobaltable(L);
}

static void replace(lua_State *L, const char *lib, const char *name, lua_CFunction f)
{
	push_lib(L, lib);
	if (lua_istable(L, -1)) {
		lua_getfield(L, -1, name);
		lua_pushcclosure(L, f, 1);
		lua_setfield(L, -2, name);
	}
	lua_pop(L, 1);
}

void imei_sandbox_lib_install(lua_State *L)
{
	for (int i = 0; charged[i].name; i++) {
		push_lib(L, charged[i].lib);
		if (lua_istable(L, -1) && lua_getfield(L, -1, charged[i].name) == LUA_TFUNCTION) {
			lua_pushinteger(L, i);
			lua_pushcclosure(L, charged_call, 2);
			lua_setfield(L, -2, charged[i].name);
		} else if (lua_istable(L, -1)) {
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
	replace(L, "table", "insert", tinsert);
	replace(L, "table", "remove", tremove);
	replace(L, "table", "concat", tconcat);
	replace(L, "table", "unpack", tunpack);
	replace(L, "table", "sort", tsort);
}
