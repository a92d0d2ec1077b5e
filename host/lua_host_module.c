/*
 * lua_host_module.c — the entry point Lua's require looks for in imei/host.so. Built into
 * the Lua module only: libimei (static and shared) exports imei_ names alone, and a C host
 * opens the module table with imei_luaopen_host().
 */
#include "imei_lua_host.h"

int luaopen_imei_host(lua_State *L);

int luaopen_imei_host(lua_State *L)
{
	return imei_luaopen_host(L);
}
