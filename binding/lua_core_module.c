/*
 * lua_core_module.c — the entry point Lua's require looks for in imei/core.so. Built into the
 * Lua module only: libimei (static and shared) exports imei_ names alone, and a C host
 * opens the module table with imei_luaopen_core().
 */
#include "imei_lua.h"

int luaopen_imei_core(lua_State *L);

int luaopen_imei_core(lua_State *L)
{
	return imei_luaopen_core(L);
}
