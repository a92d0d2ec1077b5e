/*
 * engine_request.c — the request table of a struct imei_request (engine_request.h).
 *
 * A check used to intern every key and value afresh: lua_setfield looks its key up in
 * Lua's string cache (a strcmp), and lua_pushlstring hashes and interns each value and
 * makes garbage of it after the check. The keys are now the check function's upvalues,
 * and a value that repeats (operator, RAT, a replay's operator name; a few distinct
 * values per run) is found in a small table of kept strings (push_value). The table a
 * policy sees is the same: the same keys, the same strings.
 */
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "engine_request.h"

static const char *const request_keys[IMEI_REQUEST_NKEYS] = { "pei", "imsi", "msisdn", "operator", "rat", "time" };
enum { K_PEI = 1, K_IMSI, K_MSISDN, K_OPERATOR, K_RAT, K_TIME };

void imei_request_push_keys(lua_State *L)
{
	for (int i = 0; i < IMEI_REQUEST_NKEYS; i++)
		lua_pushstring(L, request_keys[i]);
}

static bool slot_holds(const struct imei_request_values *vals, unsigned i, const uint64_t text[2])
{
	return vals->slot[i].ref > 0 && vals->slot[i].text[0] == text[0] && vals->slot[i].text[1] == text[1];
}

/* Push value: a kept string when it is one, else a new one (kept when short). at: the
 * place it is pushed for (IMEI_REQUEST_AT_…), whose last slot is tried first. A short
 * value is read once, into two zero-padded words, and compared with a slot in two
 * comparisons (no strlen, no memcmp: a replay pushes four a pair). */
static void push_value(lua_State *L, struct imei_request_values *vals, const char *value, unsigned at)
{
	union {
		uint64_t w[2];
		char c[16];
	} text = { { 0, 0 } };
	size_t len = 0;
	while (len <= IMEI_REQUEST_VALUE_MAX && value[len]) {
		if (len < IMEI_REQUEST_VALUE_MAX)
			text.c[len] = value[len];
		len++;
	}
	if (len > IMEI_REQUEST_VALUE_MAX) {
		lua_pushlstring(L, value, len + strlen(value + len));
		return;
	}
	unsigned last = vals->last[at] % IMEI_REQUEST_VALUES;
	if (slot_holds(vals, last, text.w)) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, vals->slot[last].ref);
		return;
	}
	for (unsigned i = 0; i < IMEI_REQUEST_VALUES; i++) {
		if (slot_holds(vals, i, text.w)) {
			vals->last[at] = (unsigned char)i;
			lua_rawgeti(L, LUA_REGISTRYINDEX, vals->slot[i].ref);
			return;
		}
	}
	lua_pushlstring(L, value, len);
	unsigned k = vals->next++ % IMEI_REQUEST_VALUES;
	int old = vals->slot[k].ref;
	vals->slot[k].ref = 0; /* empty while replaced: luaL_ref may raise (memory) */
	if (old > 0)
		luaL_unref(L, LUA_REGISTRYINDEX, old);
	lua_pushvalue(L, -1);
	int ref = luaL_ref(L, LUA_REGISTRYINDEX);
	if (ref > 0) {
		vals->slot[k].text[0] = text.w[0];
		vals->slot[k].text[1] = text.w[1];
		vals->slot[k].ref = ref;
		vals->last[at] = (unsigned char)k;
	}
}


/* An identity: differs from check to check, never kept. */
static void set_identity(lua_State *L, int key, const char *value)
{
	if (value) {
		lua_pushvalue(L, lua_upvalueindex(key));
		lua_pushlstring(L, value, strlen(value));
		lua_rawset(L, -3);
	}
}

/* A name: a kept string (push_value). */
static void set_name(lua_State *L, struct imei_request_values *vals, int key, const char *value, unsigned at)
{
	if (value) {
		lua_pushvalue(L, lua_upvalueindex(key));
		push_value(L, vals, value, at);
		lua_rawset(L, -3);
	}
}

void imei_request_push(lua_State *L, const struct imei_request *req, struct imei_request_values *vals)
{
	lua_createtable(L, 0, 8);
	set_identity(L, K_PEI, req->pei);
	set_identity(L, K_IMSI, req->imsi);
	set_identity(L, K_MSISDN, req->msisdn);
	set_name(L, vals, K_OPERATOR, req->operator_id, IMEI_REQUEST_AT_OPERATOR);
	set_name(L, vals, K_RAT, req->rat, IMEI_REQUEST_AT_RAT);
	lua_pushvalue(L, lua_upvalueindex(K_TIME));
	lua_pushinteger(L, req->time ? req->time : (long long)time(NULL));
	lua_rawset(L, -3);
	/* an extra's key is a name too (a replay's "network"): kept like the values; the table
	 * is fresh, without a metatable, so a raw set is what lua_setfield would do */
	for (size_t i = 0; i + 1 < req->nextras * 2 && req->extras; i += 2) {
		if (req->extras[i] && req->extras[i + 1]) {
			push_value(L, vals, req->extras[i], IMEI_REQUEST_AT_EXTRA_KEY);
			push_value(L, vals, req->extras[i + 1], IMEI_REQUEST_AT_EXTRA);
			lua_rawset(L, -3);
		}
	}
}
