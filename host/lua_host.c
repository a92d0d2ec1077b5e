/*
 * lua_host.c — imei_luaopen_host (Lua finds it as luaopen_imei_host, lua_host_module.c): the C module `imei.host` (imei_lua_host.h), the engine,
 * batch replay and the OS helpers of batch commands, for trusted Lua hosts only. It opens
 * imei.core first, so the data objects it takes and gives (lists, TAC db, store) have
 * their classes in the state. No policy sandbox ever opens this module.
 */
#include "imei_lua_host.h"

int imei_luaopen_host(lua_State *L)
{
	luaL_requiref(L, "imei.core", imei_luaopen_core, 0);
	lua_pop(L, 1);
	lua_newtable(L);
	imei_lua_engine(L);
	imei_lua_replay(L);
	imei_lua_sandbox_patterns(L);
	imei_lua_batchio(L);
	imei_lua_kv(L);
	imei_lua_csv_lines(L);
	imei_lua_digest(L);
	imei_lua_fsync(L);
	imei_lua_sort(L);
	return 1;
}
