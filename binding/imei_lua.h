/*
 * imei_lua.h — the parts of the Lua module imei.core (luaopen_imei_core, lua_core.c).
 * Each binding/lua_<concept>.c binds one concept of the C core (core/imei_<concept>.h) and
 * adds its functions to the module table on the stack top. Nothing here calls the host.
 */
#ifndef IMEI_LUA_BINDINGS_H
#define IMEI_LUA_BINDINGS_H

#include <lauxlib.h>
#include <lua.h>

/* The module table of imei.core (lua_core.c); luaopen_imei_core (lua_core_module.c) returns it:
 * the library keeps only imei_ names. */
int imei_luaopen_core(lua_State *L);

void imei_lua_identity(lua_State *L);
void imei_lua_mobile_identity(lua_State *L);
void imei_lua_bulk(lua_State *L);
void imei_lua_lists(lua_State *L);
void imei_lua_status(lua_State *L);

/* Lists (lua_lists.c): push a userdata holding a NEW reference (nil for NULL); check
 * returns the borrowed C object and raises on a wrong or closed argument. */
struct imei_list;
struct imei_lists;
void imei_lua_push_list(lua_State *L, struct imei_list *l);
void imei_lua_push_lists(lua_State *L, struct imei_lists *ls);
struct imei_list *imei_lua_check_list(lua_State *L, int idx);
struct imei_lists *imei_lua_check_lists(lua_State *L, int idx);

/* TAC database (lua_tacdb.c): push a userdata holding a NEW reference; check returns
 * the borrowed C object and raises on a wrong or closed argument. The metatable is
 * registered by name ("imei.tacdb"), so a db can be pushed into any lua_State. */
void imei_lua_tacdb(lua_State *L);
struct imei_tacdb;
void imei_lua_push_tacdb(lua_State *L, struct imei_tacdb *db);
struct imei_tacdb *imei_lua_check_tacdb(lua_State *L, int idx);
/* Bound the record cache of the db userdata at idx to that many records (db:cache(n)):
 * what a state with a memory cap sets (a record table is ~0.5 KB). */
void imei_lua_tacdb_cache(lua_State *L, int idx, size_t records);

/* Sightings store (lua_sightings.c): push a userdata holding a NEW reference; a
 * read_only one refuses every write with an error. check returns the borrowed store and
 * raises on a wrong or closed argument. The metatable is registered by name
 * ("imei.sightings.store"), so a store can be pushed into any lua_State. */
void imei_lua_sightings(lua_State *L);
struct imei_store;
void imei_lua_push_store(lua_State *L, struct imei_store *store, int read_only);
struct imei_store *imei_lua_check_store(lua_State *L, int idx);

/* Register the metatable of a userdata class by name: methods as __index, close as
 * __gc and __close, tostring as __tostring, and a hidden metatable. */
void imei_lua_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close,
                        lua_CFunction tostring);

/* A string argument, strictly (no number coercion): misuse raises. */
const char *imei_lua_checkstring(lua_State *L, int arg, size_t *len);
/* The full userdata at idx when its metatable is the table at mt (a pseudo-index, e.g. a
 * method's upvalue holding its class's metatable), else NULL: the hot methods' check of
 * self, a pointer comparison instead of luaL_checkudata's registry lookup by name. */
void *imei_lua_touserdata_mt(lua_State *L, int idx, int mt);

#endif
