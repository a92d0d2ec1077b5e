/*
 * lua_lists.c — Lua binding of lists_file.c and lists_collection.c (imei_lists.h):
 *   list_load(path [, name])   -> list, report | nil, err
 *   list_load_string(csv [, name]) -> list, report | nil, err (the same from a string)
 *   lists_load_dir(dir)        -> lists | nil, err
 *   lists_new{list, ...}       -> lists | nil, err (two lists of one name)
 *   list:has(key_or_imei [, imsi]) -> boolean (false for anything that does not parse)
 *   list:kind() list:name() list:report() list:path() list:changed() list:bytes()
 *   #list tostring(list)
 *   lists:get(name) -> list | nil     lists.NAME (when NAME is not a method)
 *   lists:names() lists:report(name) lists:dir() lists:changed([dir]) #lists
 * A userdata holds one reference to the frozen C object: any number of lua_States (and
 * threads) share the list itself, and a membership test creates no Lua value. __gc and
 * __close release the reference; a closed list raises on use. The metatables are
 * registered by name and made on first use in any state; __metatable = false hides them
 * from sandboxed code.
 */
#include <errno.h>
#include <string.h>

#include "imei_lists.h"
#include "imei_lua.h"

#define LIST_MT "imei.list"
#define LISTS_MT "imei.lists"

struct ud_list {
	struct imei_list *l;
};
struct ud_lists {
	struct imei_lists *ls;
};

static void push_lists_mt(lua_State *L);
static void push_list_mt(lua_State *L);

/* ---- reports ----------------------------------------------------------------------- */

static void set_int(lua_State *L, const char *field, size_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, field);
}

static void push_report(lua_State *L, const struct imei_list_report *r)
{
	lua_createtable(L, 0, 7);
	set_int(L, "rows", r->rows);
	set_int(L, "loaded", r->loaded);
	set_int(L, "rejected", r->rejected);
	set_int(L, "duplicates", r->duplicates);
	set_int(L, "warnings", r->warnings);
	set_int(L, "bytes", (size_t)r->bytes);
	lua_pushstring(L, r->sha256);
	lua_setfield(L, -2, "sha256");
	lua_createtable(L, 0, 2);
	for (int k = 0; k < IMEI_LIST_NREJECT; k++)
		if (r->rejected_by[k])
			set_int(L, imei_list_reject_name((enum imei_list_reject)k), r->rejected_by[k]);
	lua_setfield(L, -2, "rejected_by");
	lua_createtable(L, (int)r->nerrors, 0);
	for (size_t i = 0; i < r->nerrors; i++) {
		lua_createtable(L, 0, 2);
		set_int(L, "line", r->errors[i].line);
		lua_pushstring(L, r->errors[i].reason);
		lua_setfield(L, -2, "reason");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "errors");
	lua_createtable(L, (int)r->nwarning_lines, 0);
	for (size_t i = 0; i < r->nwarning_lines; i++) {
		lua_createtable(L, 0, 2);
		set_int(L, "line", r->warning_lines[i].line);
		lua_pushstring(L, r->warning_lines[i].reason);
		lua_setfield(L, -2, "reason");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "warning_lines");
}

/* ---- list userdata ----------------------------------------------------------------- */

void imei_lua_push_list(lua_State *L, struct imei_list *l)
{
	if (!l) {
		lua_pushnil(L);
		return;
	}
	struct ud_list *u = lua_newuserdatauv(L, sizeof *u, 0);
	u->l = NULL;
	push_list_mt(L);
	lua_setmetatable(L, -2);
	u->l = imei_list_ref(l);
}

struct imei_list *imei_lua_check_list(lua_State *L, int idx)
{
	struct ud_list *u = luaL_checkudata(L, idx, LIST_MT);
	if (!u->l)
		luaL_argerror(L, idx, "the list is closed");
	return u->l;
}

/* An identifier argument as a string: strings and numbers; NULL for anything else. */
static const char *opt_id(lua_State *L, int idx, size_t *len)
{
	int t = lua_type(L, idx);
	if (t == LUA_TSTRING || t == LUA_TNUMBER)
		return lua_tolstring(L, idx, len);
	return NULL;
}

/* The hot path: the metatable is the method's upvalue, so checking self costs a pointer
 * comparison instead of a registry lookup by name; anything else takes the full check
 * (and its error message). */
static struct imei_list *self_list(lua_State *L)
{
	struct ud_list *u = imei_lua_touserdata_mt(L, 1, lua_upvalueindex(1));
	if (u && u->l)
		return u->l;
	return imei_lua_check_list(L, 1);
}

static int l_list_has(lua_State *L)
{
	struct imei_list *l = self_list(L);
	size_t len = 0, imsi_len = 0;
	const char *s = opt_id(L, 2, &len), *imsi = NULL;
	if (!lua_isnoneornil(L, 3) && !(imsi = opt_id(L, 3, &imsi_len)))
		s = NULL; /* an IMSI that is not a string or number matches nothing */
	lua_pushboolean(L, s && imei_list_has(l, s, len, imsi, imsi_len));
	return 1;
}

static int l_list_kind(lua_State *L)
{
	lua_pushstring(L, imei_list_kind_name(imei_list_kind(imei_lua_check_list(L, 1))));
	return 1;
}

static int l_list_name(lua_State *L)
{
	lua_pushstring(L, imei_list_name(imei_lua_check_list(L, 1)));
	return 1;
}

static int l_list_path(lua_State *L)
{
	lua_pushstring(L, imei_list_path(imei_lua_check_list(L, 1))); /* nil for a buffer */
	return 1;
}

static int l_list_report(lua_State *L)
{
	push_report(L, imei_list_report(imei_lua_check_list(L, 1)));
	return 1;
}

static int l_list_changed(lua_State *L)
{
	struct imei_list *l = imei_lua_check_list(L, 1);
	lua_pushboolean(L, imei_list_changed(l, luaL_optstring(L, 2, NULL)) != 0);
	return 1;
}

static int l_list_bytes(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)imei_list_bytes(imei_lua_check_list(L, 1)));
	return 1;
}

static int l_list_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)imei_list_size(imei_lua_check_list(L, 1)));
	return 1;
}

static int l_list_tostring(lua_State *L)
{
	struct ud_list *u = luaL_checkudata(L, 1, LIST_MT);
	if (!u->l)
		lua_pushliteral(L, "imei.list (closed)");
	else
		lua_pushfstring(L, "imei.list %s (%s, %I entries)", imei_list_name(u->l),
		                imei_list_kind_name(imei_list_kind(u->l)), (lua_Integer)imei_list_size(u->l));
	return 1;
}

static int l_list_gc(lua_State *L)
{
	struct ud_list *u = luaL_checkudata(L, 1, LIST_MT);
	imei_list_unref(u->l);
	u->l = NULL;
	return 0;
}

static void push_list_mt(lua_State *L)
{
	if (!luaL_newmetatable(L, LIST_MT))
		return;
	static const luaL_Reg methods[] = {
		{ "has", l_list_has },       { "kind", l_list_kind },       { "name", l_list_name },
		{ "path", l_list_path },     { "report", l_list_report },   { "changed", l_list_changed },
		{ "bytes", l_list_bytes },   { NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__len", l_list_len }, { "__tostring", l_list_tostring }, { "__gc", l_list_gc },
		{ "__close", l_list_gc }, { NULL, NULL },
	};
	luaL_setfuncs(L, meta, 0);
	luaL_newlibtable(L, methods);
	lua_pushvalue(L, -2); /* the metatable, upvalue of every method (see self_list) */
	luaL_setfuncs(L, methods, 1);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
}

/* ---- lists userdata ---------------------------------------------------------------- */

/* A lists userdata holding nothing yet: the caller sets u->ls. */
static struct ud_lists *new_lists_ud(lua_State *L)
{
	struct ud_lists *u = lua_newuserdatauv(L, sizeof *u, 1);
	u->ls = NULL;
	lua_newtable(L); /* user value 1: name -> list userdata, made once per name */
	lua_setiuservalue(L, -2, 1);
	push_lists_mt(L);
	lua_setmetatable(L, -2);
	return u;
}

void imei_lua_push_lists(lua_State *L, struct imei_lists *ls)
{
	if (!ls) {
		lua_pushnil(L);
		return;
	}
	new_lists_ud(L)->ls = imei_lists_ref(ls);
}

struct imei_lists *imei_lua_check_lists(lua_State *L, int idx)
{
	struct ud_lists *u = luaL_checkudata(L, idx, LISTS_MT);
	if (!u->ls)
		luaL_argerror(L, idx, "the lists are closed");
	return u->ls;
}

/* Push the list userdata of name (cached in the user value), or nil. */
static void push_named(lua_State *L, int idx, struct imei_lists *ls, const char *name)
{
	struct imei_list *l = imei_lists_get(ls, name);
	if (!l) {
		lua_pushnil(L);
		return;
	}
	lua_getiuservalue(L, idx, 1);
	if (lua_getfield(L, -1, name) == LUA_TUSERDATA) {
		struct ud_list *u = lua_touserdata(L, -1);
		if (u->l) { /* not closed by whoever got it before */
			lua_remove(L, -2);
			return;
		}
	}
	lua_pop(L, 1);
	imei_lua_push_list(L, l);
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	lua_remove(L, -2);
}

static int l_lists_get(lua_State *L)
{
	struct imei_lists *ls = imei_lua_check_lists(L, 1);
	push_named(L, 1, ls, luaL_checkstring(L, 2));
	return 1;
}

static int l_lists_names(lua_State *L)
{
	struct imei_lists *ls = imei_lua_check_lists(L, 1);
	size_t n = imei_lists_count(ls);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, imei_list_name(imei_lists_at(ls, i)));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int l_lists_report(lua_State *L)
{
	struct imei_lists *ls = imei_lua_check_lists(L, 1);
	const char *name = luaL_checkstring(L, 2);
	struct imei_list *l = imei_lists_get(ls, name);
	if (!l) {
		lua_pushnil(L);
		lua_pushfstring(L, "no list named '%s'", name);
		return 2;
	}
	push_report(L, imei_list_report(l));
	return 1;
}

static int l_lists_dir(lua_State *L)
{
	lua_pushstring(L, imei_lists_dir(imei_lua_check_lists(L, 1)));
	return 1;
}

static int l_lists_changed(lua_State *L)
{
	struct imei_lists *ls = imei_lua_check_lists(L, 1);
	const char *dir = luaL_optstring(L, 2, NULL);
	int rc = imei_lists_changed(ls, dir);
	if (rc < 0) {
		const char *why = strerror(errno);
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", dir ? dir : imei_lists_dir(ls), why);
		return 2;
	}
	lua_pushboolean(L, rc);
	return 1;
}

static int l_lists_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)imei_lists_count(imei_lua_check_lists(L, 1)));
	return 1;
}

static int l_lists_tostring(lua_State *L)
{
	struct ud_lists *u = luaL_checkudata(L, 1, LISTS_MT);
	if (!u->ls)
		lua_pushliteral(L, "imei.lists (closed)");
	else
		lua_pushfstring(L, "imei.lists (%I lists)", (lua_Integer)imei_lists_count(u->ls));
	return 1;
}

static int l_lists_gc(lua_State *L)
{
	struct ud_lists *u = luaL_checkudata(L, 1, LISTS_MT);
	imei_lists_unref(u->ls);
	u->ls = NULL;
	return 0;
}

/* lists.NAME: a method first, else the list of that name (or nil). */
static int l_lists_index(lua_State *L)
{
	lua_pushvalue(L, 2);
	if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
		return 1;
	if (lua_type(L, 2) != LUA_TSTRING)
		return 1; /* nil */
	push_named(L, 1, imei_lua_check_lists(L, 1), lua_tostring(L, 2));
	return 1;
}

static void push_lists_mt(lua_State *L)
{
	if (!luaL_newmetatable(L, LISTS_MT))
		return;
	static const luaL_Reg methods[] = {
		{ "get", l_lists_get },   { "names", l_lists_names },     { "report", l_lists_report },
		{ "dir", l_lists_dir },   { "changed", l_lists_changed }, { NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__len", l_lists_len }, { "__tostring", l_lists_tostring }, { "__gc", l_lists_gc },
		{ "__close", l_lists_gc }, { NULL, NULL },
	};
	luaL_setfuncs(L, meta, 0);
	luaL_newlib(L, methods);
	lua_pushcclosure(L, l_lists_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
}

/* ---- module functions -------------------------------------------------------------- */

static int l_list_load(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1), *name = luaL_optstring(L, 2, NULL);
	/* the userdata comes first, so a Lua error (memory) later cannot leak the list */
	struct ud_list *u = lua_newuserdatauv(L, sizeof *u, 0);
	u->l = NULL;
	push_list_mt(L);
	lua_setmetatable(L, -2);
	struct imei_list_report rep;
	char err[512];
	if (!(u->l = imei_list_load(path, name, &rep, err, sizeof err))) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	push_report(L, &rep);
	return 2;
}

static int l_list_load_string(lua_State *L)
{
	size_t len;
	const char *csv = luaL_checklstring(L, 1, &len), *name = luaL_optstring(L, 2, NULL);
	struct ud_list *u = lua_newuserdatauv(L, sizeof *u, 0);
	u->l = NULL;
	push_list_mt(L);
	lua_setmetatable(L, -2);
	struct imei_list_report rep;
	char err[512];
	if (!(u->l = imei_list_load_buffer(csv, len, name, &rep, err, sizeof err))) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	push_report(L, &rep);
	return 2;
}

static int l_lists_load_dir(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	struct ud_lists *u = new_lists_ud(L);
	char err[512];
	if (!(u->ls = imei_lists_load_dir(dir, err, sizeof err))) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int l_lists_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 1);
	for (lua_Integer i = 1; i <= n; i++) { /* check every argument before allocating */
		lua_geti(L, 1, i);
		if (!luaL_testudata(L, -1, LIST_MT))
			luaL_argerror(L, 1, lua_pushfstring(L, "item %I is not an imei.list", i));
		imei_lua_check_list(L, -1);
		lua_pop(L, 1);
	}
	struct ud_lists *u = new_lists_ud(L); /* frees the collection on any error */
	struct imei_lists *ls = u->ls = imei_lists_new();
	if (!ls)
		return luaL_error(L, "out of memory");
	for (lua_Integer i = 1; i <= n; i++) {
		lua_geti(L, 1, i);
		struct imei_list *l = ((struct ud_list *)lua_touserdata(L, -1))->l;
		lua_pop(L, 1);
		if (imei_lists_add(ls, l) != 0) {
			lua_pushnil(L);
			if (errno == EEXIST)
				lua_pushfstring(L, "two lists named '%s'", imei_list_name(l));
			else
				lua_pushliteral(L, "out of memory");
			return 2;
		}
	}
	return 1;
}

void imei_lua_lists(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "list_load", l_list_load },
		{ "list_load_string", l_list_load_string },
		{ "lists_load_dir", l_lists_load_dir },
		{ "lists_new", l_lists_new },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, fns, 0);
	push_list_mt(L); /* made now, so they exist in every state that opened imei.core */
	push_lists_mt(L);
	lua_pop(L, 2);
}
