/*
 * explain.c — why the engine decides what it decides (imei_engine.h, docs/explain.md).
 *
 * An explanation runs in the engine's sandbox, under the engine's lock, with a check's
 * limits, through the runtime's inst.explain (lua/imei/explain/trace.lua): the same
 * evaluation a check runs, on traced copies of the conditions and recording proxies of
 * the data. Nothing here is on the check's path: a check costs the same whether or not
 * anyone ever asks for an explanation. An explanation records no sighting.
 *
 * The report leaves the sandbox either through a caller's callback (the Lua binding
 * copies it) or as JSON written here from the sandbox's table (imei-eird's admin
 * listener and `imei explain --json`: one writer, one shape).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "imei_engine.h"

#define JSON_DEPTH 12            /* deeper tables are written as null */
#define JSON_MAX (4u << 20)      /* an explanation larger than this is refused */

struct explain_pusher {
	void (*push)(lua_State *L, void *ud);
	void *ud;
};

/* Inside the protected run: build the request there (a memory error is this run's), then
 * call the runtime's explain with it. */
static int call_explain(lua_State *L)
{
	struct explain_pusher *p = lua_touserdata(L, 2);
	lua_settop(L, 1);
	p->push(L, p->ud);
	lua_call(L, 1, 1);
	return 1;
}

int imei_engine_explain_with(struct imei_engine *e, void (*push_request)(lua_State *L, void *ud), void *ud,
                             int (*out)(lua_State *S, int idx, void *ud), void *out_ud, char *err, size_t errlen)
{
	imei_engine_lock(e);
	struct imei_sandbox *sb = imei_engine_sandbox(e);
	lua_State *S = imei_sandbox_state(sb);
	int top = lua_gettop(S);
	int ref = imei_engine_instance_ref(e);
	struct explain_pusher pusher = { push_request, ud };
	int rc = LUA_ERRMEM;
	if (lua_checkstack(S, 8)) {
		lua_pushcfunction(S, call_explain);
		lua_rawgeti(S, LUA_REGISTRYINDEX, ref);
		lua_getfield(S, -1, "explain"); /* the runtime's own table: no metamethod */
		lua_remove(S, -2);
		lua_pushlightuserdata(S, &pusher);
		rc = imei_sandbox_run(sb, 2, 1, IMEI_SANDBOX_CHECK, err, errlen);
		/* always: the data go back to the checks even when the run was cut short */
		char why[256];
		lua_rawgeti(S, LUA_REGISTRYINDEX, ref);
		lua_getfield(S, -1, "explain_finish");
		lua_remove(S, -2);
		if (imei_sandbox_run(sb, 0, 0, IMEI_SANDBOX_LOAD, why, sizeof why) != LUA_OK && rc == LUA_OK) {
			snprintf(err, errlen, "explain: %s", why);
			rc = LUA_ERRRUN;
		}
	} else {
		snprintf(err, errlen, "explain: out of memory");
	}
	int result = -1;
	if (rc == LUA_OK) {
		if (lua_istable(S, -1))
			result = out(S, lua_gettop(S), out_ud);
		else
			snprintf(err, errlen, "explain: the runtime gave no report");
	}
	lua_settop(S, top);
	imei_engine_unlock(e);
	return result;
}

/* ---- a C request ---------------------------------------------------------------- */

static void push_field(lua_State *L, const char *name, const char *value)
{
	if (value) {
		lua_pushstring(L, value);
		lua_setfield(L, -2, name);
	}
}

static void push_request(lua_State *L, void *ud)
{
	const struct imei_request *req = ud;
	const char *const fields[][2] = {
		{ "pei", req->pei }, { "imsi", req->imsi }, { "msisdn", req->msisdn },
		{ "operator", req->operator_id }, { "rat", req->rat },
	};
	lua_createtable(L, 0, 8);
	for (size_t i = 0; req->extras && i < req->nextras; i++)
		if (req->extras[2 * i] && req->extras[2 * i + 1])
			push_field(L, req->extras[2 * i], req->extras[2 * i + 1]);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		push_field(L, fields[i][0], fields[i][1]); /* an extra never stands for a field */
	lua_pushinteger(L, req->time > 0 ? req->time : (long long)time(NULL));
	lua_setfield(L, -2, "time");
}

/* ---- JSON (RFC 8259) from the sandbox's table ------------------------------------ */

struct jbuf {
	char *data;
	size_t len, cap;
	bool failed;
};

static void jput(struct jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n > JSON_MAX - b->len) {
		b->failed = true;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

static void jlit(struct jbuf *b, const char *s)
{
	jput(b, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (!len || len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	if (len == 3 && ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0)))
		return 0; /* overlong, or a UTF-16 surrogate */
	if (len == 4 && ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90)))
		return 0;
	return len;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD (a policy's text may be anything). */
static void jstring(struct jbuf *b, const char *s, size_t n)
{
	jput(b, "\"", 1);
	size_t i = 0;
	while (i < n && !b->failed) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jput(b, esc, 2);
			i++;
		} else if (c == '\n' || c == '\t' || c == '\r') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			jput(b, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7F) {
			snprintf(esc, sizeof esc, "\\u%04x", c);
			jput(b, esc, 6);
			i++;
		} else {
			size_t len = utf8_len((const unsigned char *)s + i, n - i);
			if (len) {
				jput(b, s + i, len);
				i += len;
			} else {
				jlit(b, "\\ufffd");
				i++;
			}
		}
	}
	jput(b, "\"", 1);
}

/* A table whose keys are exactly 1..n is an array (an empty table too); else an object
 * with its string and number keys. Raw access only: no metamethod runs, nothing raises. */
static bool is_array(lua_State *S, int idx)
{
	size_t n = (size_t)lua_rawlen(S, idx), count = 0;
	lua_pushnil(S);
	while (lua_next(S, idx)) {
		lua_pop(S, 1);
		count++;
		if (count > n) {
			lua_pop(S, 1);
			return false;
		}
	}
	return count == n;
}

static void jvalue(struct jbuf *b, lua_State *S, int idx, int depth);

static void jkey(struct jbuf *b, lua_State *S, int idx)
{
	if (lua_type(S, idx) == LUA_TSTRING) {
		size_t n;
		const char *k = lua_tolstring(S, idx, &n);
		jstring(b, k, n);
	} else { /* a number key: written, never converted in place (lua_next needs it as it is) */
		char num[48];
		if (lua_isinteger(S, idx))
			snprintf(num, sizeof num, "\"%lld\"", (long long)lua_tointeger(S, idx));
		else
			snprintf(num, sizeof num, "\"%.17g\"", (double)lua_tonumber(S, idx));
		jlit(b, num);
	}
}

static void jtable(struct jbuf *b, lua_State *S, int idx, int depth)
{
	if (depth >= JSON_DEPTH || !lua_checkstack(S, 4)) {
		jlit(b, "null");
		return;
	}
	if (is_array(S, idx)) {
		size_t n = (size_t)lua_rawlen(S, idx);
		jput(b, "[", 1);
		for (size_t i = 1; i <= n && !b->failed; i++) {
			if (i > 1)
				jput(b, ",", 1);
			lua_rawgeti(S, idx, (lua_Integer)i);
			jvalue(b, S, lua_gettop(S), depth + 1);
			lua_pop(S, 1);
		}
		jput(b, "]", 1);
		return;
	}
	jput(b, "{", 1);
	bool first = true;
	lua_pushnil(S);
	while (lua_next(S, idx)) {
		int kt = lua_type(S, -2), vt = lua_type(S, -1);
		if ((kt == LUA_TSTRING || kt == LUA_TNUMBER) && vt != LUA_TFUNCTION && vt != LUA_TUSERDATA &&
		    vt != LUA_TLIGHTUSERDATA && vt != LUA_TTHREAD) {
			if (!first)
				jput(b, ",", 1);
			first = false;
			jkey(b, S, lua_gettop(S) - 1);
			jput(b, ":", 1);
			jvalue(b, S, lua_gettop(S), depth + 1);
		}
		lua_pop(S, 1);
	}
	jput(b, "}", 1);
}

static void jvalue(struct jbuf *b, lua_State *S, int idx, int depth)
{
	char num[48];
	switch (lua_type(S, idx)) {
	case LUA_TBOOLEAN: jlit(b, lua_toboolean(S, idx) ? "true" : "false"); break;
	case LUA_TNUMBER:
		if (lua_isinteger(S, idx)) {
			snprintf(num, sizeof num, "%lld", (long long)lua_tointeger(S, idx));
		} else {
			double d = (double)lua_tonumber(S, idx);
			if (isfinite(d))
				snprintf(num, sizeof num, "%.17g", d);
			else
				snprintf(num, sizeof num, "null");
		}
		jlit(b, num);
		break;
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(S, idx, &n);
		jstring(b, s, n);
		break;
	}
	case LUA_TTABLE: jtable(b, S, idx, depth); break;
	default: jlit(b, "null");
	}
}

int imei_explain_json_of(lua_State *S, int idx, char **json, size_t *len)
{
	struct jbuf b = { 0 };
	jvalue(&b, S, lua_absindex(S, idx), 0);
	jput(&b, "\n", 1);
	if (b.failed) {
		free(b.data);
		return -1;
	}
	*json = b.data;
	*len = b.len;
	return 0;
}

struct json_out {
	char *json;
	size_t len;
};

static int write_json(lua_State *S, int idx, void *ud)
{
	struct json_out *o = ud;
	return imei_explain_json_of(S, idx, &o->json, &o->len);
}

int imei_engine_explain_json(struct imei_engine *e, const struct imei_request *req, char **json, size_t *len,
                             char *err, size_t errlen)
{
	struct json_out o = { NULL, 0 };
	*json = NULL;
	*len = 0;
	if (!req || !req->pei) {
		snprintf(err, errlen, "explain: the request has no pei");
		return -1;
	}
	err[0] = 0;
	if (imei_engine_explain_with(e, push_request, (void *)req, write_json, &o, err, errlen) != 0) {
		if (!err[0])
			snprintf(err, errlen, "explain: the report is too large or memory ran out");
		return -1;
	}
	*json = o.json;
	*len = o.len;
	return 0;
}
