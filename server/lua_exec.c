/*
 * lua_exec.c — the Lua module imei.exec: exec(path, {arg1, …}) replaces the running
 * process (lua5.4 running bin/imei) with another program, keeping its pid, so that
 * `imei serve` becomes imei-eird and signals sent to it (SIGHUP, SIGTERM) reach the
 * server. Lua 5.4's standard library has no exec; this is the smallest one (POSIX execv).
 * Returns only on failure: nil and "PATH: why".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

static int l_exec(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 2);
	if (n < 0 || n > 4096)
		return luaL_argerror(L, 2, "too many arguments");
	char **argv = lua_newuserdatauv(L, sizeof(char *) * ((size_t)n + 2), 0);
	argv[0] = (char *)path;
	for (lua_Integer i = 1; i <= n; i++) {
		lua_geti(L, 2, i);
		if (lua_type(L, -1) != LUA_TSTRING)
			return luaL_argerror(L, 2, "arguments must be strings");
		argv[i] = (char *)lua_tostring(L, -1);
		lua_pop(L, 1); /* the string stays alive: the table holds it */
	}
	argv[n + 1] = NULL;
	fflush(NULL);
	execv(path, argv);
	int e = errno;
	luaL_pushfail(L);
	lua_pushfstring(L, "%s: %s", path, strerror(e));
	return 2;
}

int luaopen_imei_exec(lua_State *L)
{
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, l_exec);
	lua_setfield(L, -2, "exec");
	return 1;
}
