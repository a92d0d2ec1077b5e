/*
 * lua_bulk.c — Lua binding of bulk.c:
 *   validate_lines(buf [, opts]) -> report
 *   validate_file(path [, opts]) -> report | nil, err
 * report = { lines, valid, invalid, kinds = {imei = n, …}, bad_lines = {n, …},
 *            errors = { {line = n, reason = "…"}, … } (the first opts.max_errors, default 100),
 *            normalised = "…\n…" (validate_lines with opts.normalise) }
 */
#include "imei_bulk.h"
#include "imei_lua.h"

struct collect {
	lua_State *L;
	int bad_idx, err_idx;
	lua_Integer nbad, nerr, max_errors;
};

static int on_bad(void *ud, size_t line, const char *reason)
{
	struct collect *c = ud;
	lua_State *L = c->L;
	lua_pushinteger(L, (lua_Integer)line);
	lua_rawseti(L, c->bad_idx, ++c->nbad);
	if (c->nerr < c->max_errors) {
		lua_createtable(L, 0, 2);
		lua_pushinteger(L, (lua_Integer)line);
		lua_setfield(L, -2, "line");
		lua_pushstring(L, reason);
		lua_setfield(L, -2, "reason");
		lua_rawseti(L, c->err_idx, ++c->nerr);
	}
	return 0;
}

static lua_Integer opt_max_errors(lua_State *L, int opts)
{
	if (lua_isnoneornil(L, opts))
		return 100;
	luaL_checktype(L, opts, LUA_TTABLE);
	lua_getfield(L, opts, "max_errors");
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return 100;
	}
	int isint = 0;
	lua_Integer n = lua_tointegerx(L, -1, &isint);
	lua_pop(L, 1);
	if (!isint || n < 0)
		luaL_argerror(L, opts, "max_errors must be an integer >= 0");
	return n;
}

static bool opt_flag(lua_State *L, int opts, const char *name)
{
	if (lua_isnoneornil(L, opts))
		return false;
	lua_getfield(L, opts, name);
	bool on = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return on;
}

/* Leaves the report table on the stack with bad_lines and errors filled later. */
static void begin_report(lua_State *L, struct collect *c, lua_Integer max_errors)
{
	c->L = L;
	c->nbad = c->nerr = 0;
	c->max_errors = max_errors;
	lua_createtable(L, 0, 8);
	lua_newtable(L);
	c->bad_idx = lua_gettop(L);
	lua_newtable(L);
	c->err_idx = lua_gettop(L);
}

static void end_report(lua_State *L, const struct imei_bulk_stats *st)
{
	/* stack: report, bad_lines, errors */
	lua_setfield(L, -3, "errors");
	lua_setfield(L, -2, "bad_lines");
	lua_pushinteger(L, (lua_Integer)st->lines);
	lua_setfield(L, -2, "lines");
	lua_pushinteger(L, (lua_Integer)st->valid);
	lua_setfield(L, -2, "valid");
	lua_pushinteger(L, (lua_Integer)st->invalid);
	lua_setfield(L, -2, "invalid");
	lua_createtable(L, 0, 3);
	for (int k = IMEI_KIND_IMEI; k <= IMEI_KIND_IMEISV; k++) {
		lua_pushinteger(L, (lua_Integer)st->by_kind[k]);
		lua_setfield(L, -2, imei_kind_name((enum imei_kind)k));
	}
	lua_setfield(L, -2, "kinds");
}

static int l_validate_lines(lua_State *L)
{
	size_t len;
	const char *buf = imei_lua_checkstring(L, 1, &len);
	lua_Integer max_errors = opt_max_errors(L, 2);
	bool normalise = opt_flag(L, 2, "normalise");
	/* the output buffer is a userdata, so a Lua error while collecting (out of memory)
	 * cannot leak it; lua_newuserdatauv raises on allocation failure */
	char *out = normalise ? lua_newuserdatauv(L, len + 1, 0) : NULL;
	struct collect c;
	struct imei_bulk_stats st;
	size_t outlen = 0;
	begin_report(L, &c, max_errors);
	imei_bulk_validate(buf, len, &st, on_bad, &c, out, &outlen);
	end_report(L, &st);
	if (out) {
		lua_pushlstring(L, out, outlen);
		lua_setfield(L, -2, "normalised");
	}
	return 1; /* the report, above the output buffer */
}

static int l_validate_file(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	lua_Integer max_errors = opt_max_errors(L, 2);
	struct collect c;
	struct imei_bulk_stats st;
	char errbuf[256];
	begin_report(L, &c, max_errors);
	if (imei_bulk_validate_file(path, &st, on_bad, &c, errbuf, sizeof errbuf) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, errbuf);
		return 2;
	}
	end_report(L, &st);
	return 1;
}

void imei_lua_bulk(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "validate_lines", l_validate_lines },
		{ "validate_file", l_validate_file },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, fns, 0);
}
