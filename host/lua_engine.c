/*
 * lua_engine.c — Lua binding of the engine (imei_engine.h):
 *   engine_new(opts) -> engine | nil, err
 *   engine:check(request) -> verdict      engine:reload() -> true | nil, err
 *   engine:set_lists(lists) -> true | nil, err
 *   engine:refresh() -> false | "policy" | "lists" | "policy,lists" | nil, err
 *   engine:stats() -> table               engine:info() -> table
 *   engine:examples() -> { total, passed, failed = { {at, message}, … } }
 *   engine:explain(request) -> report | nil, err   engine:explain_json(request) -> text | nil, err
 * The request table is copied into the sandbox (plain data only); the verdict comes
 * back through struct imei_verdict, the same path a C host uses.
 */
#include <stdlib.h>
#include <string.h>

#include "imei_engine.h"
#include "imei_lua_host.h"

#define ENGINE_MT "imei.engine"
#define COPY_DEPTH 6

struct engine_box {
	struct imei_engine *e;
	struct imei_verdict v; /* the last verdict: its buffers are reused check after check */
};

static struct imei_engine *check_engine(lua_State *L, int idx)
{
	struct engine_box *box = luaL_checkudata(L, idx, ENGINE_MT);
	if (!box->e)
		luaL_error(L, "the engine is closed");
	return box->e;
}

/* Copy a plain value (nil, boolean, number, string, table of those) from one state to
 * another; anything else becomes nil. Raw access only: no metamethod runs. */
static void copy_value(lua_State *from, int idx, lua_State *to, int depth)
{
	idx = lua_absindex(from, idx);
	switch (lua_type(from, idx)) {
	case LUA_TBOOLEAN:
		lua_pushboolean(to, lua_toboolean(from, idx));
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(from, idx))
			lua_pushinteger(to, lua_tointeger(from, idx));
		else
			lua_pushnumber(to, lua_tonumber(from, idx));
		break;
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(from, idx, &len);
		lua_pushlstring(to, s, len);
		break;
	}
	case LUA_TTABLE:
		if (depth <= 0) {
			lua_pushnil(to);
			break;
		}
		/* never raise in 'from' here: this runs inside the sandbox's protected call */
		if (!lua_checkstack(from, 4) || !lua_checkstack(to, 4)) {
			lua_pushnil(to);
			break;
		}
		lua_newtable(to);
		lua_pushnil(from);
		while (lua_next(from, idx)) {
			int kt = lua_type(from, -2);
			if (kt == LUA_TSTRING || kt == LUA_TNUMBER) {
				copy_value(from, -2, to, 0);
				copy_value(from, -1, to, depth - 1);
				if (lua_isnil(to, -1))
					lua_pop(to, 2);
				else
					lua_rawset(to, -3);
			}
			lua_pop(from, 1);
		}
		break;
	default:
		lua_pushnil(to);
	}
}

struct host_request {
	lua_State *host;
	int idx;
};

static void push_host_request(lua_State *L, void *ud)
{
	struct host_request *hr = ud;
	copy_value(hr->host, hr->idx, L, COPY_DEPTH);
}

static void set_string(lua_State *L, const char *field, const char *value)
{
	if (value) {
		lua_pushstring(L, value);
		lua_setfield(L, -2, field);
	}
}

static void set_flag(lua_State *L, const char *field, bool on)
{
	if (on) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, field);
	}
}

static void push_verdict(lua_State *L, const struct imei_verdict *v)
{
	lua_createtable(L, 0, 8);
	set_string(L, "status", imei_status_name(v->status));
	set_string(L, "policy", v->policy);
	set_string(L, "block_date", v->block_date);
	set_flag(L, "notify", v->notify);
	if (v->failed) {
		set_flag(L, "failed", true);
		set_string(L, "error", v->error);
	}
	luaL_checkstack(L, 4, "verdict");
	lua_createtable(L, v->nreasons < 1024 ? (int)v->nreasons : 1024, 0);
	for (size_t i = 0; i < v->nreasons; i++) {
		const struct imei_reason *r = &v->reasons[i];
		lua_createtable(L, 0, 6);
		set_string(L, "condition", r->condition);
		set_string(L, "text", r->text);
		set_string(L, "status", imei_status_name(r->status));
		set_string(L, "block_date", r->block_date);
		set_flag(L, "informative", r->informative);
		set_flag(L, "overruled", r->overruled);
		set_string(L, "overruled_by", r->overruled_by);
		set_flag(L, "sticky", r->sticky);
		set_flag(L, "notify", r->notify);
		if (r->failed) {
			set_flag(L, "failed", true);
			set_string(L, "error", r->error);
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "reasons");
}

static void *opt_object(lua_State *L, int opts, const char *field, void *(*check)(lua_State *, int))
{
	void *obj = NULL;
	if (lua_getfield(L, opts, field) != LUA_TNIL)
		obj = check(L, lua_gettop(L));
	lua_pop(L, 1);
	return obj;
}

static void *check_tacdb_any(lua_State *L, int idx)
{
	return imei_lua_check_tacdb(L, idx);
}

static void *check_lists_any(lua_State *L, int idx)
{
	return imei_lua_check_lists(L, idx);
}

static void *check_store_any(lua_State *L, int idx)
{
	return imei_lua_check_store(L, idx);
}

static lua_Integer opt_int_field(lua_State *L, int opts, const char *field)
{
	lua_getfield(L, opts, field);
	lua_Integer n = luaL_optinteger(L, -1, 0);
	if (n < 0)
		luaL_error(L, "engine option '%s' must be >= 0", field);
	lua_pop(L, 1);
	return n;
}

static int l_engine_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	struct imei_engine_config cfg;
	memset(&cfg, 0, sizeof cfg);
	lua_getfield(L, 1, "policy");
	cfg.policy = luaL_optstring(L, -1, NULL);
	if (!cfg.policy)
		return luaL_argerror(L, 1, "'policy' (a policy file path) is required");
	lua_getfield(L, 1, "lua_path");
	cfg.lua_path = luaL_optstring(L, -1, NULL);
	lua_getfield(L, 1, "on_error");
	const char *on_error = luaL_optstring(L, -1, "WHITELISTED");
	int st = imei_status_from_name(on_error);
	if (st < 0)
		return luaL_argerror(L, 1, "on_error must be WHITELISTED, GREYLISTED, BLACKLISTED or UNKNOWN");
	cfg.on_error = (enum imei_status)st;
	lua_getfield(L, 1, "record");
	cfg.record = lua_toboolean(L, -1);
	lua_getfield(L, 1, "skip_examples");
	cfg.skip_examples = lua_toboolean(L, -1);
	lua_getfield(L, 1, "allow_missing_lists");
	cfg.allow_missing_lists = lua_toboolean(L, -1);
	cfg.tacdb = opt_object(L, 1, "tacdb", check_tacdb_any);
	cfg.lists = opt_object(L, 1, "lists", check_lists_any);
	cfg.store = opt_object(L, 1, "store", check_store_any);
	cfg.limits.memory = (size_t)opt_int_field(L, 1, "memory");
	cfg.limits.check_budget = opt_int_field(L, 1, "instructions");
	cfg.limits.load_budget = opt_int_field(L, 1, "load_instructions");
	cfg.limits.check_deadline_us = opt_int_field(L, 1, "deadline_us");
	cfg.limits.load_deadline_us = opt_int_field(L, 1, "load_deadline_us");
	cfg.limits.rebuild_failures = (unsigned)opt_int_field(L, 1, "rebuild_failures");
	lua_getfield(L, 1, "quiet");
	cfg.quiet = lua_toboolean(L, -1);

	struct engine_box *box = lua_newuserdatauv(L, sizeof *box, 0);
	box->e = NULL;
	box->v = (struct imei_verdict)IMEI_VERDICT_INIT;
	luaL_setmetatable(L, ENGINE_MT);
	char err[1024];
	box->e = imei_engine_new(&cfg, err, sizeof err);
	if (!box->e) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int l_check(lua_State *L)
{
	struct imei_engine *e = check_engine(L, 1);
	struct engine_box *box = lua_touserdata(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	struct host_request hr = { L, 2 };
	imei_engine_check_with(e, push_host_request, &hr, &box->v);
	push_verdict(L, &box->v); /* may raise (memory): the box still owns the buffers */
	return 1;
}

static int l_reload(lua_State *L)
{
	struct imei_engine *e = check_engine(L, 1);
	char err[1024];
	if (imei_engine_reload(e, err, sizeof err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

/* engine:refresh() -> false (nothing changed) | "policy" | "lists" | "policy,lists" | nil, err */
static int l_refresh(lua_State *L)
{
	struct imei_engine *e = check_engine(L, 1);
	char err[1024];
	int rc = imei_engine_refresh(e, err, sizeof err);
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	if (rc == 0)
		lua_pushboolean(L, 0);
	else if (rc == (IMEI_REFRESH_POLICY | IMEI_REFRESH_LISTS))
		lua_pushliteral(L, "policy,lists");
	else
		lua_pushstring(L, rc == IMEI_REFRESH_POLICY ? "policy" : "lists");
	return 1;
}

static int l_set_lists(lua_State *L)
{
	struct imei_engine *e = check_engine(L, 1);
	struct imei_lists *lists = lua_isnoneornil(L, 2) ? NULL : imei_lua_check_lists(L, 2);
	char err[512];
	if (imei_engine_set_lists(e, lists, err, sizeof err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static void set_count(lua_State *L, const char *field, lua_Integer n)
{
	lua_pushinteger(L, n);
	lua_setfield(L, -2, field);
}

static int l_stats(lua_State *L)
{
	struct imei_engine *e = check_engine(L, 1);
	struct imei_engine_stats st;
	imei_engine_stats(e, &st);
	lua_createtable(L, 0, 16);
	set_count(L, "checks", (lua_Integer)st.checks);
	set_count(L, "failures", (lua_Integer)st.failures);
	set_count(L, "condition_failures", (lua_Integer)st.condition_failures);
	set_count(L, "budget_exceeded", (lua_Integer)st.budget_exceeded);
	set_count(L, "memory_exceeded", (lua_Integer)st.memory_exceeded);
	set_count(L, "reloads", (lua_Integer)st.reloads);
	set_count(L, "reload_failures", (lua_Integer)st.reload_failures);
	set_count(L, "memory_used", (lua_Integer)st.memory_used);
	set_count(L, "memory_limit", (lua_Integer)st.memory_limit);
	set_count(L, "deadline_exceeded", (lua_Integer)st.deadline_exceeded);
	set_count(L, "rebuilds", (lua_Integer)st.rebuilds);
	set_count(L, "rebuild_failures", (lua_Integer)st.rebuild_failures);
	set_count(L, "log_lines", (lua_Integer)st.log_lines);
	set_count(L, "log_dropped", (lua_Integer)st.log_dropped);
	set_count(L, "sightings_unrecorded", (lua_Integer)st.sightings_unrecorded);
	lua_createtable(L, 0, 4);
	for (int s = 0; s < 4; s++)
		set_count(L, imei_status_name((enum imei_status)s), (lua_Integer)st.by_status[s]);
	lua_setfield(L, -2, "by_status");
	return 1;
}

/* Call a method of the runtime instance inside the sandbox and copy its result out. */
static int call_instance(lua_State *L, const char *method)
{
	struct imei_engine *e = check_engine(L, 1);
	char err[1024];
	imei_engine_lock(e);
	struct imei_sandbox *sb = imei_engine_sandbox(e);
	lua_State *S = imei_sandbox_state(sb);
	int top = lua_gettop(S);
	lua_rawgeti(S, LUA_REGISTRYINDEX, imei_engine_instance_ref(e));
	lua_getfield(S, -1, method);
	lua_insert(S, -2);
	int rc = imei_sandbox_run(sb, 1, 1, IMEI_SANDBOX_LOAD, err, sizeof err);
	if (rc == LUA_OK)
		copy_value(S, -1, L, COPY_DEPTH);
	lua_settop(S, top);
	imei_engine_unlock(e);
	if (rc != LUA_OK) {
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	return 1;
}

static int l_info(lua_State *L)
{
	return call_instance(L, "info");
}

struct examples_out {
	lua_State *host;
	int status;
};

static int copy_examples_protected(lua_State *L)
{
	lua_State *S = lua_touserdata(L, 1);
	copy_value(S, -1, L, COPY_DEPTH);
	return 1;
}

/* Copied under a protected call of the host's state: a memory error there must not jump
 * out of the engine, which holds a lock and the examples' sandbox meanwhile. */
static void copy_examples(lua_State *S, void *ud)
{
	struct examples_out *o = ud;
	lua_pushcfunction(o->host, copy_examples_protected);
	lua_pushlightuserdata(o->host, S);
	o->status = lua_pcall(o->host, 1, 1, 0);
}

/* engine:examples() runs them in a state of their own (imei_engine_examples), never in the
 * live one: a run cut short leaves nothing behind. */
/* After an engine call that copied its result out under a protected call of the host's
 * state: nil and err when the call failed (the stack cut back to its first `keep`
 * values), the copy's error raised when the copy failed, else the copy. */
static int copied_result(lua_State *L, int rc, int copy_status, const char *err, int keep)
{
	if (rc != 0) {
		lua_settop(L, keep);
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	if (copy_status != LUA_OK)
		return lua_error(L); /* the copy's error, now that the engine is out of the way */
	return 1;
}

static int l_examples(lua_State *L)
{
	struct imei_engine *e = check_engine(L, 1);
	char err[1024];
	struct examples_out o = { L, LUA_OK };
	lua_settop(L, 1);
	int rc = imei_engine_examples(e, copy_examples, &o, err, sizeof err);
	return copied_result(L, rc, o.status, err, 1);
}

#define EXPLAIN_DEPTH 12 /* the report's rows of sightings sit 7 deep */

struct explain_out {
	lua_State *host, *S;
	int idx, status;
	bool json;
	char *text; /* the JSON, freed by explain() whatever happened */
};

static int copy_explain_protected(lua_State *L)
{
	struct explain_out *o = lua_touserdata(L, 1);
	if (o->json) {
		size_t len;
		if (imei_explain_json_of(o->S, o->idx, &o->text, &len) != 0)
			return luaL_error(L, "explain: the report is too large or memory ran out");
		lua_pushlstring(L, o->text, len);
		return 1;
	}
	copy_value(o->S, o->idx, L, EXPLAIN_DEPTH);
	return 1;
}

/* Under a protected call of the host's state, as copy_examples. */
static int copy_explain(lua_State *S, int idx, void *ud)
{
	struct explain_out *o = ud;
	o->S = S;
	o->idx = idx;
	lua_pushcfunction(o->host, copy_explain_protected);
	lua_pushlightuserdata(o->host, o);
	o->status = lua_pcall(o->host, 1, 1, 0);
	return 0;
}

static int explain(lua_State *L, bool json)
{
	struct imei_engine *e = check_engine(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	struct host_request hr = { L, 2 };
	struct explain_out o = { .host = L, .status = LUA_OK, .json = json };
	char err[1024];
	int rc = imei_engine_explain_with(e, push_host_request, &hr, copy_explain, &o, err, sizeof err);
	free(o.text);
	return copied_result(L, rc, o.status, err, 2);
}

static int l_explain(lua_State *L)
{
	return explain(L, false);
}

static int l_explain_json(lua_State *L)
{
	return explain(L, true);
}

static int l_policy_name(lua_State *L)
{
	struct imei_engine *e = check_engine(L, 1);
	imei_engine_lock(e);
	lua_pushstring(L, imei_engine_policy_name(e));
	imei_engine_unlock(e);
	return 1;
}

static int l_close(lua_State *L)
{
	struct engine_box *box = luaL_checkudata(L, 1, ENGINE_MT);
	imei_engine_free(box->e);
	box->e = NULL;
	imei_verdict_release(&box->v);
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct engine_box *box = luaL_checkudata(L, 1, ENGINE_MT);
	if (!box->e) {
		lua_pushliteral(L, "imei.engine (closed)");
		return 1;
	}
	imei_engine_lock(box->e);
	lua_pushfstring(L, "imei.engine (%s)", imei_engine_policy_name(box->e));
	imei_engine_unlock(box->e);
	return 1;
}

void imei_lua_engine(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "check", l_check },
		{ "reload", l_reload },
		{ "set_lists", l_set_lists },
		{ "refresh", l_refresh },
		{ "stats", l_stats },
		{ "info", l_info },
		{ "examples", l_examples },
		{ "explain", l_explain },
		{ "explain_json", l_explain_json },
		{ "policy_name", l_policy_name },
		{ "close", l_close },
		{ NULL, NULL },
	};
	imei_lua_new_class(L, ENGINE_MT, methods, l_close, l_tostring);
	lua_pushcfunction(L, l_engine_new);
	lua_setfield(L, -2, "engine_new");
}
