/*
 * lua_kv.c — the Lua face of imei_kv.h (core/kv_lmdb.c) in imei.host, for the national
 * register (lua/imei/classify/register.lua):
 *   host.kv_open(dir[, read_only]) -> kv | nil, err
 *   kv:begin() kv:commit() kv:abort() -> true | nil, err
 *   kv:get(key) -> value | nil        kv:put(key, value)   kv:del(key)
 *   kv:scan(prefix) -> { key1, value1, key2, value2, ... } in key order
 *   kv:stat() -> entries, bytes       kv:close()
 *   kv:put_snapshot(key, store)       the store's sightings snapshot written straight into
 *                                     the value (core/sightings_snapshot.c): no copy of it
 *   kv:restore_snapshot(key, store) -> true, found | nil, err
 *                                     a snapshot kept under key put into a memory store,
 *                                     read where LMDB maps it: no copy either
 * Errors of get/put/del/scan/put_snapshot raise (a damaged or full state must stop the
 * run); restore_snapshot says why a snapshot is refused (a damaged one).
 */
#include <string.h>

#include "imei_lua.h"
#include "imei_sightings.h"

#include "imei_kv.h"
#include "imei_lua_host.h"

#define KV_MT "imei.kv"

struct ud_kv {
	struct imei_kv *kv;
};

static struct imei_kv *check_kv(lua_State *L)
{
	struct ud_kv *u = luaL_checkudata(L, 1, KV_MT);
	if (!u->kv)
		luaL_error(L, "imei.kv: closed");
	return u->kv;
}

static int push_result(lua_State *L, int rc, const char *err)
{
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int l_kv_open(lua_State *L)
{
	const char *dir = luaL_checkstring(L, 1);
	bool ro = lua_toboolean(L, 2);
	struct ud_kv *u = lua_newuserdatauv(L, sizeof *u, 0);
	u->kv = NULL;
	luaL_setmetatable(L, KV_MT);
	char err[512];
	u->kv = imei_kv_open(dir, ro, 0, err, sizeof err);
	if (!u->kv) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int l_kv_begin(lua_State *L)
{
	char err[512];
	int rc = imei_kv_begin(check_kv(L), err, sizeof err);
	return push_result(L, rc, err);
}

static int l_kv_commit(lua_State *L)
{
	char err[512];
	int rc = imei_kv_commit(check_kv(L), err, sizeof err);
	return push_result(L, rc, err);
}

static int l_kv_abort(lua_State *L)
{
	imei_kv_abort(check_kv(L));
	return 0;
}

/* The value under key, where LMDB maps it (until the next call): 1, or 0 absent; raises. */
static int get_value(lua_State *L, struct imei_kv *kv, const char *key, size_t klen, const void **val, size_t *vlen)
{
	char err[512];
	int rc = imei_kv_get(kv, key, klen, val, vlen, err, sizeof err);
	if (rc < 0)
		return luaL_error(L, "%s", err);
	return rc;
}

static int l_kv_get(lua_State *L)
{
	struct imei_kv *kv = check_kv(L);
	size_t klen;
	const char *key = luaL_checklstring(L, 2, &klen);
	const void *val;
	size_t vlen;
	int rc = get_value(L, kv, key, klen, &val, &vlen);
	if (rc == 0)
		lua_pushnil(L);
	else
		lua_pushlstring(L, val, vlen);
	return 1;
}

static int l_kv_put(lua_State *L)
{
	struct imei_kv *kv = check_kv(L);
	size_t klen, vlen;
	const char *key = luaL_checklstring(L, 2, &klen);
	const char *val = luaL_checklstring(L, 3, &vlen);
	char err[512];
	if (imei_kv_put(kv, key, klen, val, vlen, err, sizeof err) < 0)
		return luaL_error(L, "%s", err);
	return 0;
}

/* kv:X(key, store): the key's text and the store. */
static struct imei_store *key_and_store(lua_State *L, const char **key, size_t *klen)
{
	*key = luaL_checklstring(L, 2, klen);
	return imei_lua_check_store(L, 3);
}

static int l_kv_put_snapshot(lua_State *L)
{
	struct imei_kv *kv = check_kv(L);
	const char *key;
	size_t klen;
	struct imei_store *store = key_and_store(L, &key, &klen);
	struct imei_store_error se;
	size_t len;
	if (imei_store_snapshot_size(store, &len, &se) < 0)
		return luaL_error(L, "the sightings snapshot: %s", se.msg);
	void *dst;
	char err[512];
	if (imei_kv_reserve(kv, key, klen, len, &dst, err, sizeof err) < 0)
		return luaL_error(L, "%s", err);
	if (imei_store_snapshot_into(store, dst, len, &se) < 0)
		return luaL_error(L, "the sightings snapshot: %s", se.msg); /* the caller aborts the transaction */
	return 0;
}

static int l_kv_restore_snapshot(lua_State *L)
{
	struct imei_kv *kv = check_kv(L);
	const char *key;
	size_t klen;
	struct imei_store *store = key_and_store(L, &key, &klen);
	const void *val;
	size_t vlen;
	if (get_value(L, kv, key, klen, &val, &vlen) == 0) {
		lua_pushboolean(L, 1);
		lua_pushboolean(L, 0);
		return 2;
	}
	struct imei_store_error se;
	if (imei_store_restore(store, val, vlen, &se) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, se.msg);
		return 2;
	}
	lua_pushboolean(L, 1);
	lua_pushboolean(L, 1);
	return 2;
}

static int l_kv_del(lua_State *L)
{
	struct imei_kv *kv = check_kv(L);
	size_t klen;
	const char *key = luaL_checklstring(L, 2, &klen);
	char err[512];
	if (imei_kv_del(kv, key, klen, err, sizeof err) < 0)
		return luaL_error(L, "%s", err);
	return 0;
}

struct scan_ctx {
	lua_State *L;
	lua_Integer n;
};

static int scan_one(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct scan_ctx *c = ctx;
	if (!lua_checkstack(c->L, 2))
		return 1;
	lua_pushlstring(c->L, key, klen);
	lua_rawseti(c->L, -2, ++c->n);
	lua_pushlstring(c->L, val, vlen);
	lua_rawseti(c->L, -2, ++c->n);
	return 0;
}

static int l_kv_scan(lua_State *L)
{
	struct imei_kv *kv = check_kv(L);
	size_t plen = 0;
	const char *prefix = luaL_optlstring(L, 2, "", &plen);
	lua_newtable(L);
	struct scan_ctx c = { L, 0 };
	char err[512];
	int rc = imei_kv_scan(kv, prefix, plen, scan_one, &c, err, sizeof err);
	if (rc < 0)
		return luaL_error(L, "%s", err);
	if (rc > 0)
		return luaL_error(L, "imei.kv: scan: out of stack");
	return 1;
}

static int l_kv_stat(lua_State *L)
{
	size_t entries, bytes;
	char err[512];
	if (imei_kv_stat(check_kv(L), &entries, &bytes, err, sizeof err) < 0)
		return luaL_error(L, "%s", err);
	lua_pushinteger(L, (lua_Integer)entries);
	lua_pushinteger(L, (lua_Integer)bytes);
	return 2;
}

static int l_kv_close(lua_State *L)
{
	struct ud_kv *u = luaL_checkudata(L, 1, KV_MT);
	imei_kv_close(u->kv);
	u->kv = NULL;
	return 0;
}

void imei_lua_kv(lua_State *L)
{
	if (luaL_newmetatable(L, KV_MT)) {
		static const luaL_Reg methods[] = {
			{ "begin", l_kv_begin }, { "commit", l_kv_commit }, { "abort", l_kv_abort },
			{ "get", l_kv_get },     { "put", l_kv_put },       { "del", l_kv_del },
			{ "scan", l_kv_scan },   { "stat", l_kv_stat },     { "close", l_kv_close },
			{ "put_snapshot", l_kv_put_snapshot }, { "restore_snapshot", l_kv_restore_snapshot },
			{ NULL, NULL },
		};
		luaL_newlib(L, methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_kv_close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_kv_close);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	lua_pushcfunction(L, l_kv_open);
	lua_setfield(L, -2, "kv_open");
}
