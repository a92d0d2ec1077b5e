/*
 * lua_bindings.h — the parts of the Lua module imei.core. Each lua_*.c file binds one
 * concept of the C core and adds its functions to the module table on the stack top.
 */
#ifndef IMEI_LUA_BINDINGS_H
#define IMEI_LUA_BINDINGS_H

#include <lauxlib.h>
#include <lua.h>

void imei_lua_identity(lua_State *L);
void imei_lua_mobile_identity(lua_State *L);
void imei_lua_bulk(lua_State *L);
void imei_lua_sandbox_patterns(lua_State *L);

/* A string argument, strictly (no number coercion): misuse raises. */
const char *imei_lua_checkstring(lua_State *L, int arg, size_t *len);

#endif
