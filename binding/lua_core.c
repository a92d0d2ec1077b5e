/*
 * lua_core.c — luaopen_imei_core: the C module `imei.core` behind `require "imei"`: the
 * data objects only — the identifier functions, lists, the TAC database, the sightings
 * store. It is the only module a policy's sandbox opens (host/sandbox.c); the engine,
 * replay and OS helpers are the separate module imei.host (host/lua_host.c), which this
 * layer never calls. Logic lives in the C core; the bindings only convert between Lua and C.
 */
#include "imei_lua.h"

const char *imei_lua_checkstring(lua_State *L, int arg, size_t *len)
{
	if (lua_type(L, arg) != LUA_TSTRING)
		luaL_typeerror(L, arg, "string");
	return lua_tolstring(L, arg, len);
}

void imei_lua_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction close,
                        lua_CFunction tostring)
{
	if (luaL_newmetatable(L, name)) {
		lua_newtable(L);
		luaL_setfuncs(L, methods, 0);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, close);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushboolean(L, 0); /* getmetatable() answers false: policies cannot reach it */
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
}

int luaopen_imei_core(lua_State *L)
{
	lua_newtable(L);
	imei_lua_identity(L);
	imei_lua_mobile_identity(L);
	imei_lua_bulk(L);
	imei_lua_lists(L);
	imei_lua_tacdb(L);
	imei_lua_sightings(L);
	return 1;
}
