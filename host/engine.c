/*
 * engine.c — the EIR engine (imei_engine.h): owns the sandboxed policy instance,
 * turns requests into verdicts, reloads by building a new instance on the side and
 * swapping it in between two checks.
 *
 * An instance is a sandbox in which the trusted runtime (imei.policy.runtime) has
 * loaded the policy; the engine keeps registry references to the runtime's closures.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "engine_request.h"
#include "imei_engine.h"
#include "imei_identity.h"
#include "imei_lists.h"
#include "imei_lua.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"
#include "verdict.h"

/* What a policy file looked like when loaded: refresh() reloads when it changes; its
 * text, from which a degraded state is rebuilt without reading the file again. */
struct file_stamp {
	char *path;
	char *text;
	size_t len;
	struct stat st;
};

struct instance {
	struct imei_sandbox *sb;
	int inst_ref, check_ref, set_lists_ref;
	int call_ref; /* call_check, with the request's keys as upvalues (engine_request.h) */
	struct imei_request_values values; /* the request values it keeps */
	char name[128];
	struct file_stamp *files; /* the policy and the files it extends */
	size_t nfiles;
	struct imei_list_needs needs; /* the lists it cannot do without (core/lists_needs.c) */
	uint64_t failures;        /* failed checks on this state */
	bool no_memory_rebuild;   /* the policy alone holds more than the rebuild threshold */
	bool check_unhooked;      /* the runtime's check starts unhooked (imei_sandbox_unhook) */
};

struct imei_engine {
	pthread_mutex_t lock;        /* held by a check, and by the swap of a reload */
	pthread_mutex_t reload_lock; /* serialises reloads and list swaps */
	struct instance *current;
	char *policy, *lua_path;
	struct imei_tacdb *tacdb;
	struct imei_lists *lists;
	struct imei_store *store;
	struct imei_sandbox_limits limits;
	enum imei_status on_error;
	bool record, skip_examples, quiet, allow_missing_lists;
	void (*log)(void *ud, const char *policy, const char *line, size_t len);
	void *log_ud;
	struct imei_engine_stats stats;
};

static void instance_free(struct instance *inst)
{
	if (!inst)
		return;
	imei_sandbox_free(inst->sb);
	for (size_t i = 0; i < inst->nfiles; i++) {
		free(inst->files[i].path);
		free(inst->files[i].text);
	}
	free(inst->files);
	imei_list_needs_free(&inst->needs);
	free(inst);
}

/* The lists the policy needs: those it declares (P:requires_list, read raw from the
 * instance's policy table) and those its files name (lists.NAME). 0, or -1 and err. */
static int collect_needs(struct instance *inst, lua_State *L, int idx, char *err, size_t errlen)
{
	lua_pushliteral(L, "policy");
	lua_rawget(L, idx);
	lua_pushliteral(L, "required_lists");
	if (lua_istable(L, -2))
		lua_rawget(L, -2);
	else
		lua_pushnil(L);
	size_t n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
	for (size_t i = 1; i <= n; i++) {
		struct imei_list_need need = { .declared = true, .max_rejected = IMEI_LIST_DEFAULT_MAX_REJECTED };
		lua_rawgeti(L, -1, (lua_Integer)i);
		if (lua_istable(L, -1)) {
			lua_pushliteral(L, "name");
			lua_rawget(L, -2);
			lua_pushliteral(L, "at");
			lua_rawget(L, -3);
			lua_pushliteral(L, "min_rows");
			lua_rawget(L, -4);
			lua_pushliteral(L, "max_rejected");
			lua_rawget(L, -5);
			lua_pushliteral(L, "optional");
			lua_rawget(L, -6);
			const char *name = lua_type(L, -5) == LUA_TSTRING ? lua_tostring(L, -5) : "";
			snprintf(need.name, sizeof need.name, "%s", name);
			snprintf(need.where, sizeof need.where, "%s", lua_type(L, -4) == LUA_TSTRING ? lua_tostring(L, -4) : "?");
			lua_Integer min = lua_isinteger(L, -3) ? lua_tointeger(L, -3) : 0;
			need.min_rows = min > 0 ? (size_t)min : 0;
			if (lua_type(L, -2) == LUA_TNUMBER)
				need.max_rejected = lua_tonumber(L, -2);
			need.optional = lua_toboolean(L, -1);
			lua_pop(L, 5);
			if (strlen(name) >= sizeof need.name || imei_list_needs_add(&inst->needs, &need) != 0) {
				snprintf(err, errlen, "requires_list: cannot note list '%.64s'", name);
				lua_pop(L, 3);
				return -1;
			}
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
	for (size_t i = 0; i < inst->nfiles; i++)
		if (imei_list_needs_scan_file(&inst->needs, inst->files[i].path, err, errlen) != 0)
			return -1;
	return 0;
}

/* Note the policy files the runtime loaded (inst.state.files) and their stat. */
static bool stamp_files(struct instance *inst, lua_State *L, int idx)
{
	lua_getfield(L, idx, "state");
	lua_getfield(L, -1, "files");
	size_t n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
	inst->files = n ? calloc(n, sizeof *inst->files) : NULL;
	if (n && !inst->files) {
		lua_pop(L, 2);
		return false;
	}
	lua_getfield(L, -1, "texts");
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, -2, (lua_Integer)i + 1);
		lua_rawgeti(L, -2, (lua_Integer)i + 1);
		const char *path = lua_tostring(L, -2);
		size_t len = 0;
		const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
		struct file_stamp *f = &inst->files[inst->nfiles];
		if (path && (f->path = strdup(path))) {
			if (stat(path, &f->st) != 0)
				memset(&f->st, 0, sizeof f->st);
			if (text && (f->text = malloc(len + 1))) {
				memcpy(f->text, text, len + 1);
				f->len = len;
			}
			inst->nfiles++;
		}
		lua_pop(L, 2);
	}
	lua_pop(L, 3);
	return true;
}

static bool files_changed(const struct instance *inst)
{
	for (size_t i = 0; i < inst->nfiles; i++) {
		struct stat st;
		const struct stat *was = &inst->files[i].st;
		if (stat(inst->files[i].path, &st) != 0)
			return true;
		if (st.st_ino != was->st_ino || st.st_size != was->st_size || st.st_mtim.tv_sec != was->st_mtim.tv_sec ||
		    st.st_mtim.tv_nsec != was->st_mtim.tv_nsec)
			return true;
	}
	return false;
}

/* A policy state's TAC record cache holds at most 1/4 of its memory cap (a record table
 * is ~0.5 KB): 32,768 records at the default 64 MiB, below the rebuild threshold (3/4),
 * so that a whole Osmocom database (25,000 TACs) has a slot per record. A cache that
 * evicts makes garbage of old record tables: under the generational collector each
 * eviction is old garbage, which only a major (full) collection frees, and at 1/8 (the
 * cache direct-mapped over 16,384 slots) that brought a major collection of the whole
 * state every ~60,000 checks, 8-14 ms, the check's worst case (docs/serve.md). */
#define TACDB_CACHE_SHARE 4
#define TACDB_RECORD_BYTES 512

/* Push runtime.new's options table; from: the instance being rebuilt (its texts), or NULL.
 * memory_limit: the sandbox's cap. */
static void push_options(lua_State *L, const struct imei_engine *e, const struct instance *from, size_t memory_limit)
{
	lua_createtable(L, 0, 9);
	if (from) {
		lua_createtable(L, 0, (int)from->nfiles);
		for (size_t i = 0; i < from->nfiles; i++) {
			if (from->files[i].text) {
				lua_pushlstring(L, from->files[i].text, from->files[i].len);
				lua_setfield(L, -2, from->files[i].path);
			}
		}
		lua_setfield(L, -2, "sources");
	}
	lua_pushstring(L, e->policy);
	lua_setfield(L, -2, "policy");
	if (e->tacdb) {
		imei_lua_push_tacdb(L, e->tacdb);
		imei_lua_tacdb_cache(L, -1, memory_limit / TACDB_CACHE_SHARE / TACDB_RECORD_BYTES);
		lua_setfield(L, -2, "tacdb");
	}
	if (e->lists) {
		imei_lua_push_lists(L, e->lists);
		lua_setfield(L, -2, "lists");
	}
	if (e->store) {
		imei_lua_push_store(L, e->store, 1); /* read-only: the engine records in C */
		lua_setfield(L, -2, "store");
	}
	lua_pushboolean(L, 1); /* the examples run in a state of their own (run_examples) */
	lua_setfield(L, -2, "skip_examples");
}

/* The options of an instance for examples only: the texts of inst, and no live data. */
static void push_example_options(lua_State *L, const struct imei_engine *e, const struct instance *inst)
{
	lua_createtable(L, 0, 4);
	lua_createtable(L, 0, (int)inst->nfiles);
	for (size_t i = 0; i < inst->nfiles; i++) {
		if (inst->files[i].text) {
			lua_pushlstring(L, inst->files[i].text, inst->files[i].len);
			lua_setfield(L, -2, inst->files[i].path);
		}
	}
	lua_setfield(L, -2, "sources");
	lua_pushstring(L, e->policy);
	lua_setfield(L, -2, "policy");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "skip_examples");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "examples");
}

/* ---- policy output ------------------------------------------------------------- */

struct log_ctx {
	struct imei_engine *e;
	const char *policy;
};

static void log_line(void *ud, const char *line, size_t len)
{
	struct log_ctx *ctx = ud;
	struct imei_engine *e = ctx->e;
	e->stats.log_lines++;
	if (e->quiet)
		return;
	if (e->log)
		e->log(e->log_ud, ctx->policy, line, len);
	else
		fprintf(stderr, "imei: policy %s: %.*s\n", ctx->policy, (int)len, line);
}

/* Pass the policy's output on, and say how much was dropped. */
static void drain_log(struct imei_engine *e, struct instance *inst)
{
	struct log_ctx ctx = { e, inst->name[0] ? inst->name : e->policy };
	size_t dropped = imei_sandbox_log_drain(inst->sb, log_line, &ctx);
	if (dropped) {
		e->stats.log_dropped += dropped;
		char line[96];
		int n = snprintf(line, sizeof line, "(%zu more lines of policy output dropped)", dropped);
		log_line(&ctx, line, (size_t)n);
		e->stats.log_lines--; /* that line is the host's, not the policy's */
	}
}

static int call_check(lua_State *L);

/* call_check with the request's keys as upvalues, made once per state (lua_pcall'ed:
 * a memory error is an error of the load). */
static int make_call_check(lua_State *L)
{
	imei_request_push_keys(L);
	lua_pushcclosure(L, call_check, IMEI_REQUEST_NKEYS);
	return 1;
}

static int ref_field(lua_State *L, int idx, const char *name)
{
	lua_getfield(L, idx, name);
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* An instance with its sandbox, the runtime loaded and the state locked; the runtime's
 * module table is on the stack top. NULL and err on failure. */
static struct instance *runtime_instance(struct imei_engine *e, char *err, size_t errlen)
{
	struct instance *inst = calloc(1, sizeof *inst);
	if (!inst) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	inst->sb = imei_sandbox_new(&e->limits, err, errlen);
	if (!inst->sb) {
		free(inst);
		return NULL;
	}
	lua_State *L = imei_sandbox_state(inst->sb);
	if (e->lua_path) {
		lua_getglobal(L, "package");
		lua_pushstring(L, e->lua_path);
		lua_setfield(L, -2, "path");
		lua_pop(L, 1);
	}
	lua_getglobal(L, "require");
	lua_pushliteral(L, "imei.policy.runtime");
	char why[512];
	if (imei_sandbox_call(inst->sb, 1, 1, imei_sandbox_load_budget(inst->sb), why, sizeof why) != LUA_OK) {
		snprintf(err, errlen, "cannot load the policy runtime: %s", why);
		instance_free(inst);
		return NULL;
	}
	imei_sandbox_lock(inst->sb);
	return inst;
}

/* Run a load-phase call in inst's sandbox; on a stop (budget, deadline, memory) say
 * which policy and what it was doing. */
static int run_load(struct imei_engine *e, struct instance *inst, int nargs, int nresults, const char *doing,
                    char *err, size_t errlen)
{
	imei_sandbox_seal_shared(inst->sb); /* the TAC db and store classes exist now */
	int rc = imei_sandbox_run(inst->sb, nargs, nresults, IMEI_SANDBOX_LOAD, err, errlen);
	drain_log(e, inst);
	if (rc != LUA_OK && imei_sandbox_last_stop(inst->sb) != IMEI_SANDBOX_OK) { /* say which policy hung */
		char why[256];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "%s: %s: %s", e->policy, doing, why);
	}
	return rc;
}

/* The examples' own state: a sandbox of its own, the texts of inst (the policy as it was
 * loaded), no live data; thrown away afterwards, so a run cut short leaves nothing behind.
 * With out: their results table is handed to out (on that state's stack top); without: a
 * failing example fails the call, with every failure in err. */
static int run_examples(struct imei_engine *e, const struct instance *inst, void (*out)(lua_State *S, void *ud),
                        void *ud, char *err, size_t errlen)
{
	struct instance *ex = runtime_instance(e, err, errlen);
	if (!ex)
		return -1;
	lua_State *L = imei_sandbox_state(ex->sb);
	int rc;
	if (!out) {
		lua_getfield(L, -1, "self_test");
		push_example_options(L, e, inst);
		rc = run_load(e, ex, 1, 0, "running its examples", err, errlen);
	} else {
		lua_getfield(L, -1, "new");
		push_example_options(L, e, inst);
		rc = run_load(e, ex, 1, 1, "loading the policy for its examples", err, errlen);
		if (rc == LUA_OK) {
			lua_getfield(L, -1, "run_examples");
			lua_insert(L, -2);
			rc = run_load(e, ex, 1, 1, "running its examples", err, errlen);
			if (rc == LUA_OK)
				out(L, ud);
		}
	}
	instance_free(ex);
	return rc == LUA_OK ? 0 : -1;
}

int imei_engine_examples(struct imei_engine *e, void (*out)(lua_State *S, void *ud), void *ud, char *err,
                         size_t errlen)
{
	pthread_mutex_lock(&e->reload_lock); /* the instance in force stays while its texts are read */
	int rc = run_examples(e, e->current, out, ud, err, errlen);
	pthread_mutex_unlock(&e->reload_lock);
	return rc;
}

/* A fresh instance: sandbox, runtime, policy, then (unless skip_examples) its examples in
 * a state of their own, on the texts it loaded. NULL and err on failure. With from, a
 * rebuild of that instance: its texts, no examples, its file stamps taken over. */
static struct instance *instance_new(struct imei_engine *e, struct instance *from, char *err, size_t errlen)
{
	struct instance *inst = runtime_instance(e, err, errlen);
	if (!inst)
		return NULL;
	lua_State *L = imei_sandbox_state(inst->sb);
	lua_getfield(L, -1, "new");
	push_options(L, e, from, imei_sandbox_memory_limit(inst->sb));
	if (run_load(e, inst, 1, 1, "loading the policy", err, errlen) != LUA_OK) {
		instance_free(inst);
		return NULL;
	}
	int idx = lua_gettop(L);
	inst->check_ref = ref_field(L, idx, "check");
	lua_getfield(L, idx, "check_unhooked"); /* the runtime's word, read once: no policy reaches inst */
	inst->check_unhooked = lua_toboolean(L, -1);
	lua_pop(L, 1);
	inst->set_lists_ref = ref_field(L, idx, "set_lists");
	lua_getfield(L, idx, "policy");
	lua_getfield(L, -1, "name");
	lua_getfield(L, -2, "version");
	snprintf(inst->name, sizeof inst->name, "%s@%s", lua_tostring(L, -2), lua_tostring(L, -1));
	lua_pop(L, 3);
	if (from) { /* the same files: keep their stamps, so refresh() still sees a change */
		inst->files = from->files;
		inst->nfiles = from->nfiles;
		from->files = NULL;
		from->nfiles = 0;
	} else if (!stamp_files(inst, L, idx)) {
		snprintf(err, errlen, "out of memory");
		instance_free(inst);
		return NULL;
	}
	if (from) { /* the same policy: the same needs */
		inst->needs = from->needs;
		memset(&from->needs, 0, sizeof from->needs);
	} else if (collect_needs(inst, L, idx, err, errlen) != 0) {
		instance_free(inst);
		return NULL;
	}
	lua_pushcfunction(L, make_call_check);
	if (lua_pcall(L, 0, 1, 0) != LUA_OK) {
		snprintf(err, errlen, "out of memory");
		instance_free(inst);
		return NULL;
	}
	inst->call_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	inst->inst_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_settop(L, 0);
	if (!from && !e->skip_examples && run_examples(e, inst, NULL, NULL, err, errlen) != 0) {
		instance_free(inst);
		return NULL;
	}
	return inst;
}

/* A policy never runs on lists it cannot do without (imei_lists_check_needs). */
static bool needs_unmet(const struct imei_engine *e, const struct instance *inst, const struct imei_lists *lists,
                        char *err, size_t errlen)
{
	return !e->allow_missing_lists && imei_lists_check_needs(lists, &inst->needs, err, errlen) != 0;
}

struct imei_engine *imei_engine_new(const struct imei_engine_config *cfg, char *err, size_t errlen)
{
	if (!cfg || !cfg->policy) {
		snprintf(err, errlen, "no policy file given");
		return NULL;
	}
	struct imei_engine *e = calloc(1, sizeof *e);
	if (!e || !(e->policy = strdup(cfg->policy)) || (cfg->lua_path && !(e->lua_path = strdup(cfg->lua_path)))) {
		if (e) {
			free(e->policy);
			free(e);
		}
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->reload_lock, NULL);
	e->limits = cfg->limits;
	e->on_error = cfg->on_error;
	e->record = cfg->record;
	e->skip_examples = cfg->skip_examples;
	e->allow_missing_lists = cfg->allow_missing_lists;
	e->quiet = cfg->quiet;
	e->log = cfg->log;
	e->log_ud = cfg->log_ud;
	e->tacdb = cfg->tacdb ? imei_tacdb_ref(cfg->tacdb) : NULL;
	e->lists = cfg->lists ? imei_lists_ref(cfg->lists) : NULL;
	e->store = cfg->store ? imei_store_retain(cfg->store) : NULL;
	e->current = instance_new(e, NULL, err, errlen);
	if (!e->current || needs_unmet(e, e->current, e->lists, err, errlen)) {
		imei_engine_free(e);
		return NULL;
	}
	return e;
}

void imei_engine_free(struct imei_engine *e)
{
	if (!e)
		return;
	instance_free(e->current);
	if (e->tacdb)
		imei_tacdb_unref(e->tacdb);
	if (e->lists)
		imei_lists_unref(e->lists);
	if (e->store)
		imei_store_release(e->store);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->reload_lock);
	free(e->policy);
	free(e->lua_path);
	free(e);
}

/* --- verdicts ------------------------------------------------------------------ */

/* The request is built inside the protected call: a request field larger than the
 * memory cap is a memory error of this check, never a Lua panic that aborts the host. */
struct request_pusher {
	void (*push)(lua_State *L, void *ud); /* NULL: req, pushed by imei_request_push */
	void *ud;
	const struct imei_request *req;
	struct imei_request_values *values;
	struct imei_engine *e;
	bool unhook; /* the instance's check_unhooked */
};

/* A string field of the request table at idx, raw; NULL when absent or not a string. */
static const char *request_string(lua_State *L, int idx, const char *field, size_t *len)
{
	lua_pushstring(L, field);
	const char *s = lua_rawget(L, idx) == LUA_TSTRING ? lua_tolstring(L, -1, len) : NULL;
	lua_pop(L, 1); /* the table still holds the string */
	return s;
}

/* A sighting that could not be recorded: counted (stats.sightings_unrecorded, /metrics)
 * and said in the host's log for the first one and then at every power of two, so a full
 * disk or a frozen store is seen without a line per check. */
static void unrecorded(struct imei_engine *e, const char *why)
{
	uint64_t n = ++e->stats.sightings_unrecorded;
	if (e->quiet || (n & (n - 1)) != 0)
		return;
	char line[400];
	int len = snprintf(line, sizeof line, "sighting not recorded (%llu so far): %s", (unsigned long long)n, why);
	if (len < 0)
		return;
	if ((size_t)len >= sizeof line)
		len = (int)sizeof line - 1;
	if (e->log)
		e->log(e->log_ud, "(host)", line, (size_t)len);
	else
		fprintf(stderr, "imei: %s\n", line);
}

/* Record the sighting of the request table at idx in the store, in C (as replay does):
 * the device's key and the IMSI are required (a request without them, or with an MEID or
 * ESN, has no sighting); one whose fields the store refuses, or that the store cannot
 * take, is counted as unrecorded (the policy still decides on it). */
static void record_sighting(struct imei_engine *e, lua_State *L, int idx)
{
	size_t len = 0, imsi_len = 0;
	const char *pei = request_string(L, idx, "pei", &len);
	if (!pei)
		pei = request_string(L, idx, "imei", &len);
	const char *imsi = request_string(L, idx, "imsi", &imsi_len);
	if (!pei || !imsi)
		return;
	struct imei_id id;
	struct imei_error perr;
	if (imei_parse(pei, len, &id, &perr) != IMEI_OK || id.kind == IMEI_KIND_MEID || id.kind == IMEI_KIND_ESN)
		return;
	struct imei_sighting s = { 0 };
	struct imei_store_error err;
	const char *v;
	if (imei_sight_key(id.key, strlen(id.key), &s.key, &err) < 0 || imei_sight_imsi(imsi, imsi_len, &s.imsi, &err) < 0 ||
	    ((v = request_string(L, idx, "msisdn", &len)) && imei_sight_msisdn(v, len, &s.msisdn, &err) < 0) ||
	    ((v = request_string(L, idx, "operator", &len)) && imei_sight_operator(v, len, &s.op, &err) < 0) ||
	    ((v = request_string(L, idx, "rat", &len)) && imei_sight_rat(v, len, &s.rat, &err) < 0)) {
		unrecorded(e, err.msg);
		return;
	}
	lua_pushliteral(L, "time");
	lua_rawget(L, idx);
	int isint = 0;
	lua_Integer t = lua_tointegerx(L, -1, &isint);
	lua_pop(L, 1);
	s.time = (uint32_t)(isint && t > 0 && t <= (lua_Integer)UINT32_MAX ? t : (lua_Integer)time(NULL));
	if (imei_store_record(e->store, &s, &err) < 0)
		unrecorded(e, err.msg);
}

static int call_check(lua_State *L)
{
	struct request_pusher *p = lua_touserdata(L, 2);
	lua_settop(L, 1); /* the runtime's check function */
	if (p->push)
		p->push(L, p->ud);
	else
		imei_request_push(L, p->req, p->values);
	if (p->e->record && p->e->store && lua_istable(L, 2))
		record_sighting(p->e, L, 2); /* before the policy decides, as replay does */
	if (p->unhook) /* the runtime's own stretch starts here: it lifts no hook of policy code */
		imei_sandbox_unhook(L);
	lua_call(L, 1, IMEI_VERDICT_VALUES); /* the verdict as values, or a raw check's table */
	return IMEI_VERDICT_VALUES;
}

/* After a check: rebuild the state from the policy's texts when it has failed too often
 * or holds too much memory even after a full collection (see imei_engine.h). */
static void maybe_rebuild(struct imei_engine *e)
{
	struct instance *inst = e->current;
	unsigned max_failures = e->limits.rebuild_failures ? e->limits.rebuild_failures : 64;
	bool rebuild = inst->failures >= max_failures;
	size_t limit = imei_sandbox_memory_limit(inst->sb);
	if (!rebuild && !inst->no_memory_rebuild && imei_sandbox_memory_used(inst->sb) > limit / 4 * 3) {
		lua_gc(imei_sandbox_state(inst->sb), LUA_GCCOLLECT, 0);
		rebuild = imei_sandbox_memory_used(inst->sb) > limit / 4 * 3;
	}
	if (!rebuild)
		return;
	/* the shared objects (e->tacdb, e->lists) are swapped under reload_lock, which is taken
	 * before e->lock elsewhere: only try it here, and rebuild after a later check if busy */
	if (pthread_mutex_trylock(&e->reload_lock) != 0)
		return;
	char err[512];
	struct instance *fresh = instance_new(e, inst, err, sizeof err);
	pthread_mutex_unlock(&e->reload_lock);
	if (!fresh) {
		e->stats.rebuild_failures++;
		inst->failures = 0; /* try again after as many failures, not on every check */
		inst->no_memory_rebuild = true;
		return;
	}
	fresh->no_memory_rebuild = imei_sandbox_memory_used(fresh->sb) > limit / 4 * 3;
	e->current = fresh;
	e->stats.rebuilds++;
	instance_free(inst);
}

/* A check: the request pushed by push_request(ud), or req's (push_request NULL). */
static int engine_check(struct imei_engine *e, void (*push_request)(lua_State *L, void *ud), void *ud,
                        const struct imei_request *req, struct imei_verdict *v)
{
	char why[512];
	bool ok;

	pthread_mutex_lock(&e->lock);
	struct instance *inst = e->current;
	lua_State *L = imei_sandbox_state(inst->sb);
	int top = lua_gettop(L);
	struct request_pusher pusher = { push_request, ud, req, &inst->values, e, inst->check_unhooked };
	lua_rawgeti(L, LUA_REGISTRYINDEX, inst->call_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, inst->check_ref);
	lua_pushlightuserdata(L, &pusher);
	int rc = imei_sandbox_run(inst->sb, 2, IMEI_VERDICT_VALUES, IMEI_SANDBOX_CHECK, why, sizeof why);
	ok = rc == LUA_OK && imei_verdict_from_values(L, -IMEI_VERDICT_VALUES, v, why, sizeof why) == 0;
	lua_settop(L, top);
	drain_log(e, inst);
	e->stats.checks++;
	if (!ok) {
		imei_verdict_fail(v, e->on_error, why, inst->name);
		e->stats.failures++;
		inst->failures++;
		enum imei_sandbox_stop stop = imei_sandbox_last_stop(inst->sb);
		if (stop == IMEI_SANDBOX_DEADLINE)
			e->stats.deadline_exceeded++;
		else if (stop == IMEI_SANDBOX_BUDGET || (strstr(why, "budget") && rc != LUA_OK))
			e->stats.budget_exceeded++;
		else if (rc == LUA_ERRMEM || stop == IMEI_SANDBOX_MEMORY)
			e->stats.memory_exceeded++;
	} else if (v->failed) {
		e->stats.condition_failures += v->nfailed;
		inst->failures++; /* a state whose conditions keep failing is rebuilt too */
	}
	e->stats.by_status[v->status & 3]++;
	maybe_rebuild(e);
	pthread_mutex_unlock(&e->lock);
	return ok ? 0 : -1;
}

int imei_engine_check_with(struct imei_engine *e, void (*push_request)(lua_State *L, void *ud), void *ud,
                           struct imei_verdict *v)
{
	return engine_check(e, push_request, ud, NULL, v);
}

int imei_engine_check(struct imei_engine *e, const struct imei_request *req, struct imei_verdict *v)
{
	return engine_check(e, NULL, NULL, req, v);
}

/* --- reload -------------------------------------------------------------------- */

int imei_engine_reload(struct imei_engine *e, char *err, size_t errlen)
{
	pthread_mutex_lock(&e->reload_lock);
	struct instance *fresh = instance_new(e, NULL, err, errlen);
	if (fresh && needs_unmet(e, fresh, e->lists, err, errlen)) {
		instance_free(fresh);
		fresh = NULL;
	}
	if (!fresh) {
		pthread_mutex_lock(&e->lock);
		e->stats.reload_failures++;
		pthread_mutex_unlock(&e->lock);
		pthread_mutex_unlock(&e->reload_lock);
		return -1;
	}
	pthread_mutex_lock(&e->lock);
	struct instance *old = e->current;
	e->current = fresh;
	e->stats.reloads++;
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_unlock(&e->reload_lock);
	instance_free(old);
	return 0;
}

int imei_engine_set_lists(struct imei_engine *e, struct imei_lists *lists, char *err, size_t errlen)
{
	pthread_mutex_lock(&e->reload_lock);
	pthread_mutex_lock(&e->lock);
	struct instance *inst = e->current;
	if (needs_unmet(e, inst, lists, err, errlen)) { /* the lists in force stay */
		e->stats.reload_failures++;
		pthread_mutex_unlock(&e->lock);
		pthread_mutex_unlock(&e->reload_lock);
		return -1;
	}
	lua_State *L = imei_sandbox_state(inst->sb);
	lua_rawgeti(L, LUA_REGISTRYINDEX, inst->set_lists_ref);
	if (lists)
		imei_lua_push_lists(L, lists);
	else
		lua_pushnil(L);
	int rc = imei_sandbox_call(inst->sb, 1, 0, imei_sandbox_check_budget(inst->sb), err, errlen);
	if (rc == LUA_OK) {
		struct imei_lists *old = e->lists;
		e->lists = lists ? imei_lists_ref(lists) : NULL;
		if (old)
			imei_lists_unref(old);
	}
	pthread_mutex_unlock(&e->lock);
	pthread_mutex_unlock(&e->reload_lock);
	return rc == LUA_OK ? 0 : -1;
}

void imei_engine_set_tacdb(struct imei_engine *e, struct imei_tacdb *tacdb)
{
	pthread_mutex_lock(&e->reload_lock);
	struct imei_tacdb *old = e->tacdb;
	e->tacdb = tacdb ? imei_tacdb_ref(tacdb) : NULL;
	if (old)
		imei_tacdb_unref(old);
	pthread_mutex_unlock(&e->reload_lock);
}

int imei_engine_refresh(struct imei_engine *e, char *err, size_t errlen)
{
	int changed = 0;
	pthread_mutex_lock(&e->lock);
	bool policy_changed = files_changed(e->current);
	pthread_mutex_unlock(&e->lock);
	if (policy_changed) {
		if (imei_engine_reload(e, err, errlen) != 0)
			return -1;
		changed |= IMEI_REFRESH_POLICY;
	}
	pthread_mutex_lock(&e->reload_lock);
	struct imei_lists *lists = e->lists ? imei_lists_ref(e->lists) : NULL;
	pthread_mutex_unlock(&e->reload_lock);
	const char *dir = lists ? imei_lists_dir(lists) : NULL;
	if (dir && imei_lists_changed(lists, dir)) {
		struct imei_lists *fresh = imei_lists_load_dir(dir, err, errlen);
		int rc = fresh ? imei_engine_set_lists(e, fresh, err, errlen) : -1;
		if (fresh)
			imei_lists_unref(fresh);
		imei_lists_unref(lists);
		if (rc != 0)
			return -1;
		return changed | IMEI_REFRESH_LISTS;
	}
	if (lists)
		imei_lists_unref(lists);
	return changed;
}

void imei_engine_stats(struct imei_engine *e, struct imei_engine_stats *st)
{
	pthread_mutex_lock(&e->lock);
	*st = e->stats;
	st->memory_used = imei_sandbox_memory_used(e->current->sb);
	st->memory_limit = imei_sandbox_memory_limit(e->current->sb);
	pthread_mutex_unlock(&e->lock);
}

const char *imei_engine_policy_name(struct imei_engine *e)
{
	return e->current->name;
}

struct imei_sandbox *imei_engine_sandbox(struct imei_engine *e)
{
	return e->current->sb;
}

void imei_engine_lock(struct imei_engine *e)
{
	pthread_mutex_lock(&e->lock);
}

void imei_engine_unlock(struct imei_engine *e)
{
	pthread_mutex_unlock(&e->lock);
}

int imei_engine_instance_ref(struct imei_engine *e)
{
	return e->current->inst_ref;
}
