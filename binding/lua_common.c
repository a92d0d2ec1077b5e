/*
 * lua_common.c — what every binding file of imei.core shares (imei_lua.h): strict string
 * arguments, and the one way a userdata class is registered (methods, __gc/__close,
 * __tostring, a hidden metatable). Kept apart from the module's entry (lua_core.c), so
 * the binding files depend on it and it depends on none of them.
 */
#include <stdbool.h>

#include "imei_lua.h"

const char *imei_lua_checkstring(lua_State *L, int arg, size_t *len)
{
	if (lua_type(L, arg) != LUA_TSTRING)
		luaL_typeerror(L, arg, "string");
	return lua_tolstring(L, arg, len);
}

void *imei_lua_touserdata_mt(lua_State *L, int idx, int mt)
{
	if (lua_type(L, idx) != LUA_TUSERDATA || !lua_getmetatable(L, idx))
		return NULL;
	bool ours = lua_topointer(L, -1) == lua_topointer(L, mt); /* tables both: the same table */
	lua_pop(L, 1);
	return ours ? lua_touserdata(L, idx) : NULL;
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
