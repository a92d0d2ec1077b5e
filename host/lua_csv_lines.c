/*
 * lua_csv_lines.c — the CSV lines batch replay writes (its lists and notices), built in C
 * because a list has a line per device and Lua would build each cell, then each line, as
 * a string of its own:
 *   csv_lines(rows, i, j, n [, controls]) -> text | nil, k
 * text: the lines of rows[i..j] (each row an array; its cells 1..n, nil as empty, any
 * other value as tostring gives it), each ended by "\n". A cell holding a comma, a quote,
 * CR or LF is quoted, its quotes doubled (RFC 4180 §2, rules 6 and 7): the one place the
 * quoting rule lives (lua/imei/classify/text.lua writes through it). controls = true: a
 * row with a control character in a cell (a byte below 32, or 127) is refused — nil and
 * its index k, nothing of the chunk returned — since a reader of one record per line
 * could not read it back. The text stays the size of the chunk of rows asked for.
 */
#include <stdbool.h>
#include <string.h>

#include "imei_lua_host.h"

static bool needs_quotes(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n')
			return true;
	return false;
}

static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 32 || c == 127)
			return true;
	}
	return false;
}

/* The text being built: a userdata at a fixed stack slot, replaced by a larger one when
 * full (the garbage collector frees it, also when a cell's __tostring raises). */
struct out {
	lua_State *L;
	int slot;
	char *p;
	size_t len, cap;
};

static void reserve(struct out *o, size_t more)
{
	if (o->cap - o->len >= more)
		return;
	size_t cap = o->cap * 2;
	if (cap - o->len < more)
		cap = o->len + more;
	if (cap < o->len) /* wrapped */
		luaL_error(o->L, "csv_lines: out of memory");
	char *p = lua_newuserdatauv(o->L, cap, 0);
	memcpy(p, o->p, o->len);
	lua_replace(o->L, o->slot);
	o->p = p;
	o->cap = cap;
}

static void put(struct out *o, const char *s, size_t len)
{
	reserve(o, len);
	memcpy(o->p + o->len, s, len);
	o->len += len;
}

static void put_cell(struct out *o, const char *s, size_t len)
{
	if (!needs_quotes(s, len)) {
		put(o, s, len);
		return;
	}
	reserve(o, 2 * len + 2);
	o->p[o->len++] = '"';
	for (size_t x = 0; x < len; x++) {
		if (s[x] == '"')
			o->p[o->len++] = '"';
		o->p[o->len++] = s[x];
	}
	o->p[o->len++] = '"';
}

static int l_csv_lines(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer i = luaL_checkinteger(L, 2), j = luaL_checkinteger(L, 3), n = luaL_checkinteger(L, 4);
	bool controls = lua_toboolean(L, 5);
	luaL_argcheck(L, n >= 0 && n <= 4096, 4, "0 to 4096 cells");
	luaL_argcheck(L, j < LUA_MAXINTEGER, 3, "out of range"); /* k <= j, then k + 1: no overflow */
	lua_settop(L, 5);
	struct out o = { L, 6, NULL, 0, 4096 };
	o.p = lua_newuserdatauv(L, o.cap, 0); /* slot 6 */
	for (lua_Integer k = i; k <= j; k++) {
		if (lua_rawgeti(L, 1, k) != LUA_TTABLE)
			return luaL_error(L, "csv_lines: row %d is not a table", (int)k);
		for (lua_Integer c = 1; c <= n; c++) {
			size_t len = 0;
			const char *s = "";
			int t = lua_rawgeti(L, 7, c);
			if (t == LUA_TSTRING)
				s = lua_tolstring(L, -1, &len);
			else if (t != LUA_TNIL)
				s = luaL_tolstring(L, -1, &len); /* pushes the text above the cell */
			if (controls && has_control(s, len)) {
				lua_pushnil(L);
				lua_pushinteger(L, k);
				return 2;
			}
			if (c > 1)
				put(&o, ",", 1);
			put_cell(&o, s, len);
			lua_settop(L, 7);
		}
		put(&o, "\n", 1);
		lua_settop(L, 6);
	}
	lua_pushlstring(L, o.p, o.len);
	return 1;
}

void imei_lua_csv_lines(lua_State *L)
{
	lua_pushcfunction(L, l_csv_lines);
	lua_setfield(L, -2, "csv_lines");
}
