/*
 * config.c — imei-eird's configuration file: a Lua chunk of assignments (or one returned
 * table), read in a state of its own with no library at all, a memory cap and an
 * instruction budget, text chunks only. Every key is the name of a command-line option
 * (access_log or "access-log" for --access-log) and every value a string, a number or a
 * boolean; main.c applies them before the command line, which overrides them.
 *
 *   -- /etc/imei/eird.conf
 *   policy = "/usr/share/imei/policies/example-country.lua"
 *   listen = "127.0.0.1:8080"
 *   workers = 2
 *   record = false
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "eird_config.h"

#define CONF_MEMORY (4u << 20)    /* bytes the reading state may hold */
#define CONF_BUDGET 1000000       /* VM instructions, counted by 1000 */

struct limits {
	size_t used;
	long long left; /* instruction budget */
};

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct limits *lim = ud;
	if (!ptr)
		osize = 0;
	if (nsize == 0) {
		lim->used -= osize;
		free(ptr);
		return NULL;
	}
	if (nsize > osize && lim->used + (nsize - osize) > CONF_MEMORY)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		lim->used = lim->used - osize + nsize;
	return p;
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct limits *lim;
	lua_getallocf(L, (void **)&lim);
	lim->left -= 1000;
	if (lim->left <= 0)
		luaL_error(L, "instruction budget exceeded (a loop?)");
}

void eird_conffile_free(struct eird_conffile *cf)
{
	for (size_t i = 0; i < cf->n; i++) {
		free(cf->names[i]);
		free(cf->values[i]);
	}
	free(cf->names);
	free(cf->values);
	memset(cf, 0, sizeof *cf);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The pairs of the table on the stack top, into cf (names with '-' for '_', sorted). */
static int collect(lua_State *L, const char *path, struct eird_conffile *cf, char *err, size_t errlen)
{
	size_t cap = 0;
	lua_pushnil(L);
	while (lua_next(L, -2)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen, "%s: a key that is not a name (%s)", path, luaL_typename(L, -2));
			return -1;
		}
		size_t klen;
		const char *key = lua_tolstring(L, -2, &klen);
		if (strlen(key) != klen) {
			snprintf(err, errlen, "%s: a key with a NUL byte", path);
			return -1;
		}
		char value[64];
		const char *v;
		switch (lua_type(L, -1)) {
		case LUA_TSTRING: {
			size_t len;
			v = lua_tolstring(L, -1, &len);
			if (strlen(v) != len) { /* a path cut short at a NUL would name another file */
				snprintf(err, errlen, "%s: %s: a string with a NUL byte", path, key);
				return -1;
			}
			break;
		}
		case LUA_TBOOLEAN: v = lua_toboolean(L, -1) ? "true" : "false"; break;
		case LUA_TNUMBER:
			if (lua_isinteger(L, -1))
				snprintf(value, sizeof value, "%lld", (long long)lua_tointeger(L, -1));
			else
				snprintf(value, sizeof value, "%.17g", lua_tonumber(L, -1));
			v = value;
			break;
		default:
			snprintf(err, errlen, "%s: %s: a string, number or boolean, not a %s", path, key,
			         luaL_typename(L, -1));
			return -1;
		}
		if (cf->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nn = realloc(cf->names, ncap * sizeof *nn);
			if (nn)
				cf->names = nn;
			char **nv = nn ? realloc(cf->values, ncap * sizeof *nv) : NULL;
			if (nv)
				cf->values = nv;
			if (!nn || !nv) {
				snprintf(err, errlen, "%s: out of memory", path);
				return -1;
			}
			cap = ncap;
		}
		char *name = strdup(key), *val = strdup(v);
		if (!name || !val) {
			free(name);
			free(val);
			snprintf(err, errlen, "%s: out of memory", path);
			return -1;
		}
		for (char *p = name; *p; p++)
			if (*p == '_')
				*p = '-';
		cf->names[cf->n] = name;
		cf->values[cf->n] = val;
		cf->n++;
		lua_pop(L, 1);
	}
	/* sort the pairs by name (names and values move together) */
	for (size_t i = 1; i < cf->n; i++)
		for (size_t j = i; j > 0 && by_name(&cf->names[j - 1], &cf->names[j]) > 0; j--) {
			char *t = cf->names[j];
			cf->names[j] = cf->names[j - 1];
			cf->names[j - 1] = t;
			t = cf->values[j];
			cf->values[j] = cf->values[j - 1];
			cf->values[j - 1] = t;
		}
	return 0;
}

int eird_conffile_read(const char *path, struct eird_conffile *cf, char *err, size_t errlen)
{
	memset(cf, 0, sizeof *cf);
	struct limits lim = { 0, CONF_BUDGET };
	lua_State *L = lua_newstate(capped_alloc, &lim);
	if (!L) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	int rc = -1;
	int st = luaL_loadfilex(L, path, "t"); /* text only: no precompiled chunks */
	if (st != LUA_OK) {
		snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot load");
		if (st == LUA_ERRFILE && !strstr(err, path))
			snprintf(err, errlen, "%s: cannot read", path);
		goto out;
	}
	lua_newtable(L); /* the chunk's whole world: an empty _ENV */
	lua_pushvalue(L, -1);
	lua_setupvalue(L, -3, 1);
	lua_insert(L, -2); /* env, chunk */
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1000);
	if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
		const char *m = lua_tostring(L, -1);
		snprintf(err, errlen, "%s: %s", path, m ? m : "error (not a string)");
		if (m && strncmp(m, path, strlen(path)) == 0)
			snprintf(err, errlen, "%s", m);
		goto out;
	}
	lua_sethook(L, NULL, 0, 0);
	if (lua_type(L, -1) == LUA_TTABLE) {
		lua_remove(L, -2); /* return { … }: the returned table */
	} else if (lua_isnil(L, -1)) {
		lua_pop(L, 1); /* assignments: the environment */
	} else {
		snprintf(err, errlen, "%s: returns a %s; assign options or return one table", path, luaL_typename(L, -1));
		goto out;
	}
	if (collect(L, path, cf, err, errlen) != 0) {
		eird_conffile_free(cf);
		goto out;
	}
	rc = 0;
out:
	lua_close(L);
	return rc;
}
