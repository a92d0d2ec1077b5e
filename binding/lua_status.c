/*
 * lua_status.c — the verdict statuses for Lua (imei_status.h), so the policy library
 * takes names and severity from the one C table:
 *   imei.core.STATUS   = { "WHITELISTED", "BLACKLISTED", "GREYLISTED", "UNKNOWN" } (by C value + 1)
 *   imei.core.SEVERITY = { WHITELISTED = 0, UNKNOWN = 1, GREYLISTED = 2, BLACKLISTED = 3 }
 */
#include "imei_status.h"
#include "imei_lua.h"

void imei_lua_status(lua_State *L)
{
	lua_createtable(L, IMEI_STATUS_COUNT, 0);
	lua_createtable(L, 0, IMEI_STATUS_COUNT);
	for (int s = 0; s < IMEI_STATUS_COUNT; s++) {
		lua_pushstring(L, imei_status_name((enum imei_status)s));
		lua_rawseti(L, -3, s + 1);
		lua_pushinteger(L, imei_status_severity((enum imei_status)s));
		lua_setfield(L, -2, imei_status_name((enum imei_status)s));
	}
	lua_setfield(L, -3, "SEVERITY");
	lua_setfield(L, -2, "STATUS");
}
