/*
 * lua_sort.c — sort_strings(t): the strings t[1..#t] sorted in place in byte order, the
 * order of Lua's < on strings in the C locale (byte by byte, a prefix first; lua5.4 never
 * calls setlocale), for imei classify's lists (lua/imei/classify/lists.lua: the block
 * list and its delta, one row per device, sorted by their first cell). table.sort calls
 * its comparison through the Lua VM n·log n times — 7 to 8 ms for the 16,000 devices of
 * a national block list — where qsort with memcmp takes a fraction of it.
 * A value that is not a string is an error (as table.sort's comparison would be), and t
 * is then left as it was. Equal strings are equal values: the order is fully determined.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_lua_host.h"

struct entry {
	uint64_t head[2]; /* the first 16 bytes, big-endian, zero-padded: most comparisons end here */
	const char *s;
	uint32_t len; /* (a longer string: an error) */
	uint32_t at;  /* its index in the copy */
};                    /* 32 bytes: glibc's qsort moves it directly, not through pointers */

static void set_head(struct entry *e)
{
	unsigned char b[16] = { 0 };
	memcpy(b, e->s, e->len < 16 ? e->len : 16);
	for (int w = 0; w < 2; w++) {
		uint64_t v = 0;
		for (int k = 0; k < 8; k++)
			v = v << 8 | b[w * 8 + k];
		e->head[w] = v;
	}
}

static int by_bytes(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	for (int w = 0; w < 2; w++)
		if (x->head[w] != y->head[w])
			return x->head[w] < y->head[w] ? -1 : 1;
	/* the same first 16 bytes (a shorter string's padding is zeros: NUL bytes and the end
	 * tie here, and the bytes and the lengths decide) */
	int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

static int l_sort_strings(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 1);
	if (n <= 1)
		return 0;
	if ((lua_Unsigned)n > SIZE_MAX / sizeof(struct entry) || n > INT32_MAX)
		return luaL_error(L, "sort_strings: too many values");
	/* a copy of the values keeps every string alive while t is rewritten */
	lua_createtable(L, (int)n, 0);
	int copy = lua_gettop(L);
	/* the entries a userdata: whatever raises from here on (a value's metamethod, a
	 * memory error) leaves nothing to free */
	struct entry *e = lua_newuserdatauv(L, (size_t)n * sizeof *e, 0);
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_geti(L, 1, i) != LUA_TSTRING)
			return luaL_error(L, "sort_strings: value %d is a %s, not a string", (int)i, luaL_typename(L, -1));
		size_t len;
		e[i - 1].s = lua_tolstring(L, -1, &len);
		if (len > UINT32_MAX)
			return luaL_error(L, "sort_strings: value %d is longer than 4 GiB", (int)i);
		e[i - 1].len = (uint32_t)len;
		e[i - 1].at = (uint32_t)i;
		set_head(&e[i - 1]);
		lua_seti(L, copy, i);
	}
	qsort(e, (size_t)n, sizeof *e, by_bytes);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_geti(L, copy, (lua_Integer)e[i - 1].at);
		lua_seti(L, 1, i);
	}
	return 0;
}

void imei_lua_sort(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "sort_strings", l_sort_strings },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, funcs, 0);
}
