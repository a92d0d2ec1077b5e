/*
 * lua_core.c — imei_luaopen_core (Lua finds it as luaopen_imei_core, lua_core_module.c):
 * the C module `imei.core` behind `require "imei"`: the data objects only — the
 * identifier functions, lists, the TAC database, the sightings store. It is the only module a policy's sandbox opens (host/sandbox.c); the engine,
 * replay and OS helpers are the separate module imei.host (host/lua_host.c), which this
 * layer never calls. Logic lives in the C core; the bindings only convert between Lua and C.
 */
#include "imei/imei.h"
#include "imei_lua.h"

int imei_luaopen_core(lua_State *L)
{
	lua_newtable(L);
	imei_lua_identity(L);
	imei_lua_mobile_identity(L);
	imei_lua_bulk(L);
	imei_lua_lists(L);
	imei_lua_status(L);
	imei_lua_tacdb(L);
	imei_lua_sightings(L);
	lua_pushstring(L, imei_version()); /* the library's version: `imei --version` */
	lua_setfield(L, -2, "version");
	return 1;
}
