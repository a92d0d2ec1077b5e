/*
 * lua_replay.c — Lua binding of batch replay (imei_replay.h), for lua/imei/classify:
 *   replay_new{ store =, tacdb =, columns =, delimiter =, run_date = "YYYYMMDD",
 *               reader_thread = bool, readers = n } -> replay | nil, err
 *   r:add_file(path, operator [, first, last]) -> index | nil, err   (dates "YYYYMMDD")
 *   r:ingest(ms) -> "more" | "done" | "stopped" | nil, err
 *   r:evaluate{ policy =, tacdb =, lists =, store =, lua_path =, threads =, on_error =,
 *               memory =, instructions =, conditions = { {name =, status =}, … },
 *               compare = OLD_PATH, compare_conditions = { … },
 *               networks = { {network = "410-06", policy = PATH}, … } } -> true | nil, err
 *   r:wait(ms) -> "more" | "done" | "stopped" | nil, err
 *   r:progress(), r:totals(), r:files(), r:operators(), r:conditions(), r:rejections(),
 *   r:failures(), r:brands() -> tables for the report
 *   r:devices() -> iterator over the devices to list (blocked, or with a pair to notify)
 *   r:blocked() -> iterator: imei, reasons (condition bits), block_date, first_date of each
 *                  blocked device (its BLACKLISTED pairs'), in key order, no table each
 *   r:flagged() -> iterator: imei, imsi, msisdn, exception, notification, block_date,
 *                  grace (bits), operators (bits) of each pair on an exception or
 *                  notification list
 *   r:find(imei [, imsi]) -> the pair (or the device's first pair) as a table, or nil
 *   r:compare([tacdb]) -> what-if counts (lua_replay_compare.c), r:network_pairs()
 *   r:close()
 *   dump_date_ok(s) -> bool           operator_ok(name) -> bool   (the C rules, for early checks)
 * The stop flag the replay watches is the one imei.host.signals_catch() raises (lua_batchio.c).
 */
#include <stdlib.h>
#include <string.h>

#include "imei_lua_host.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"

#define REPLAY_MT "imei.replay"

struct lreplay {
	struct imei_replay *r;
};

static struct imei_replay *check_replay(lua_State *L, int idx)
{
	struct lreplay *lr = luaL_checkudata(L, idx, REPLAY_MT);
	if (!lr->r)
		luaL_error(L, "imei.replay: the replay is closed");
	return lr->r;
}

struct imei_replay *imei_lua_check_replay(lua_State *L, int idx)
{
	return check_replay(L, idx);
}

static int push_fail(lua_State *L, const char *msg)
{
	lua_pushnil(L);
	lua_pushstring(L, msg);
	return 2;
}

static int32_t opt_day(lua_State *L, int idx, const char *what)
{
	if (lua_isnoneornil(L, idx))
		return IMEI_REPLAY_NO_DAY;
	size_t len;
	const char *s = luaL_checklstring(L, idx, &len);
	int32_t day;
	if (!imei_dump_date(s, len, &day))
		luaL_error(L, "%s: '%s' is not a date YYYYMMDD", what, s);
	return day;
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
	if (v) {
		lua_pushstring(L, v);
		lua_setfield(L, -2, k);
	}
}

static void set_day(lua_State *L, const char *k, int32_t day)
{
	if (day != IMEI_REPLAY_NO_DAY) {
		char d[9];
		imei_dump_day_str(day, d);
		set_str(L, k, d);
	}
}

static int l_replay_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	struct imei_replay_config cfg;
	memset(&cfg, 0, sizeof cfg);
	lua_getfield(L, 1, "store");
	cfg.store = imei_lua_check_store(L, -1);
	if (lua_getfield(L, 1, "tacdb") != LUA_TNIL)
		cfg.tacdb = imei_lua_check_tacdb(L, -1);
	char delim = ',';
	if (lua_getfield(L, 1, "delimiter") != LUA_TNIL) {
		size_t n;
		const char *d = luaL_checklstring(L, -1, &n);
		if (n != 1 || d[0] == '"' || d[0] == '\n' || d[0] == '\r')
			return luaL_argerror(L, 1, "delimiter must be one byte (not a quote or a line end)");
		delim = d[0];
	}
	char err[512];
	if (lua_getfield(L, 1, "columns") != LUA_TNIL) {
		if (imei_dump_layout_parse(luaL_checkstring(L, -1), delim, &cfg.layout, err, sizeof err) < 0)
			return push_fail(L, err);
		cfg.layout_explicit = true;
	} else {
		imei_dump_layout_default(&cfg.layout);
		cfg.layout.delim = delim;
	}
	lua_getfield(L, 1, "run_date");
	cfg.run_day = opt_day(L, -1, "run_date");
	lua_getfield(L, 1, "reader_thread");
	cfg.reader_thread = lua_toboolean(L, -1);
	lua_getfield(L, 1, "readers");
	lua_Integer readers = luaL_optinteger(L, -1, 1);
	cfg.readers = readers < 1 ? 1 : readers > IMEI_REPLAY_MAX_READERS ? IMEI_REPLAY_MAX_READERS : (unsigned)readers;
	lua_getfield(L, 1, "freeze_store");
	cfg.freeze_store = lua_toboolean(L, -1);
	cfg.stop = imei_lua_stop_flag();
	struct lreplay *lr = lua_newuserdatauv(L, sizeof *lr, 0);
	lr->r = NULL;
	luaL_setmetatable(L, REPLAY_MT);
	lr->r = imei_replay_new(&cfg, err, sizeof err);
	if (!lr->r)
		return push_fail(L, err);
	return 1;
}

static int l_add_file(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	const char *path = luaL_checkstring(L, 2);
	const char *op = luaL_checkstring(L, 3);
	int32_t first = opt_day(L, 4, "first date"), last = opt_day(L, 5, "last date");
	char err[600];
	int idx = imei_replay_add_file(r, path, op, first, last, err, sizeof err);
	if (idx < 0)
		return push_fail(L, err);
	lua_pushinteger(L, idx + 1);
	return 1;
}

static int push_step(lua_State *L, int rc, const char *err)
{
	switch (rc) {
	case IMEI_REPLAY_MORE: lua_pushliteral(L, "more"); return 1;
	case IMEI_REPLAY_DONE: lua_pushliteral(L, "done"); return 1;
	case IMEI_REPLAY_STOPPED: lua_pushliteral(L, "stopped"); return 1;
	default: return push_fail(L, err);
	}
}

static int l_ingest(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	lua_Integer ms = luaL_optinteger(L, 2, 100);
	char err[700] = "";
	int rc = imei_replay_ingest(r, (unsigned)(ms < 1 ? 1 : ms > 60000 ? 60000 : ms), err, sizeof err);
	return push_step(L, rc, err);
}

/* args[2][field] = { {name =, status =}, ... } into out; -1 when more than the limit. */
static int read_conditions(lua_State *L, const char *field, struct imei_replay_condition *out, size_t *nout)
{
	*nout = 0;
	if (lua_getfield(L, 2, field) != LUA_TTABLE) {
		lua_pop(L, 1);
		return 0;
	}
	int t = lua_gettop(L);
	size_t n = lua_rawlen(L, t);
	if (n > IMEI_REPLAY_MAX_CONDITIONS) {
		lua_pop(L, 1);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		lua_rawgeti(L, t, (lua_Integer)i + 1);
		luaL_checktype(L, -1, LUA_TTABLE);
		lua_getfield(L, -1, "name");
		out[i].name = luaL_checkstring(L, -1);
		lua_getfield(L, -2, "status");
		int s = imei_status_from_name(luaL_optstring(L, -1, "BLACKLISTED"));
		out[i].status = s < 0 ? IMEI_STATUS_BLACKLISTED : (enum imei_status)s;
		lua_pop(L, 3); /* the strings stay anchored in the conditions table (argument 2) */
	}
	lua_pop(L, 1);
	*nout = n;
	return 0;
}

static int l_evaluate(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	struct imei_replay_eval_config cfg;
	memset(&cfg, 0, sizeof cfg);
	lua_getfield(L, 2, "policy");
	cfg.engine.policy = luaL_checkstring(L, -1);
	lua_getfield(L, 2, "lua_path");
	cfg.engine.lua_path = luaL_optstring(L, -1, NULL);
	if (lua_getfield(L, 2, "tacdb") != LUA_TNIL)
		cfg.engine.tacdb = imei_lua_check_tacdb(L, -1);
	if (lua_getfield(L, 2, "lists") != LUA_TNIL)
		cfg.engine.lists = imei_lua_check_lists(L, -1);
	if (lua_getfield(L, 2, "store") != LUA_TNIL)
		cfg.engine.store = imei_lua_check_store(L, -1);
	lua_getfield(L, 2, "on_error");
	int st = imei_status_from_name(luaL_optstring(L, -1, "WHITELISTED"));
	if (st < 0)
		return luaL_argerror(L, 2, "on_error must be WHITELISTED, GREYLISTED, BLACKLISTED or UNKNOWN");
	cfg.engine.on_error = (enum imei_status)st;
	lua_getfield(L, 2, "memory");
	cfg.engine.limits.memory = (size_t)luaL_optinteger(L, -1, 0);
	lua_getfield(L, 2, "instructions");
	cfg.engine.limits.check_budget = luaL_optinteger(L, -1, 0);
	lua_getfield(L, 2, "threads");
	lua_Integer threads = luaL_optinteger(L, -1, 1);
	cfg.threads = (unsigned)(threads < 1 ? 1 : threads > 64 ? 64 : threads);
	struct imei_replay_condition conds[IMEI_REPLAY_MAX_CONDITIONS], old_conds[IMEI_REPLAY_MAX_CONDITIONS];
	if (read_conditions(L, "conditions", conds, &cfg.nconditions) < 0)
		return push_fail(L, "the policy has more than 64 conditions: batch replay counts at most 64");
	cfg.conditions = conds;
	/* what-if: OLD's policy file, with the same data as the policy's */
	struct imei_engine_config old_engine;
	if (lua_getfield(L, 2, "compare") != LUA_TNIL) {
		old_engine = cfg.engine;
		old_engine.policy = luaL_checkstring(L, -1);
		cfg.compare = &old_engine;
		if (read_conditions(L, "compare_conditions", old_conds, &cfg.ncompare_conditions) < 0)
			return push_fail(L, "the compared policy has more than 64 conditions: batch replay counts at most 64");
		cfg.compare_conditions = old_conds;
	}
	/* operator policies: { { network = "410-06", policy = "telenor.lua" }, ... } */
	struct imei_replay_network_policy nets[IMEI_REPLAY_MAX_NETWORKS];
	if (lua_getfield(L, 2, "networks") == LUA_TTABLE) {
		int t = lua_gettop(L);
		size_t n = lua_rawlen(L, t);
		if (n > IMEI_REPLAY_MAX_NETWORKS)
			return push_fail(L, "more than 64 operator policies");
		for (size_t i = 0; i < n; i++) {
			lua_rawgeti(L, t, (lua_Integer)i + 1);
			luaL_checktype(L, -1, LUA_TTABLE);
			lua_getfield(L, -1, "network");
			nets[i].network = luaL_checkstring(L, -1);
			nets[i].engine = cfg.engine;
			lua_getfield(L, -2, "policy");
			nets[i].engine.policy = luaL_checkstring(L, -1);
			lua_pop(L, 3); /* the strings stay anchored in argument 2 */
		}
		cfg.networks = nets;
		cfg.nnetworks = n;
	}
	char err[1024];
	if (imei_replay_eval_start(r, &cfg, err, sizeof err) < 0)
		return push_fail(L, err);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_wait(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	lua_Integer ms = luaL_optinteger(L, 2, 100);
	char err[512] = "";
	int rc = imei_replay_eval_wait(r, (unsigned)(ms < 1 ? 1 : ms > 60000 ? 60000 : ms), err, sizeof err);
	return push_step(L, rc, err);
}

static int l_progress(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	struct imei_replay_progress p;
	imei_replay_progress(r, &p);
	lua_createtable(L, 0, 7);
	set_int(L, "rows", (lua_Integer)p.rows);
	set_int(L, "rejected", (lua_Integer)p.rejected);
	set_int(L, "bytes", (lua_Integer)p.bytes);
	set_int(L, "bytes_total", (lua_Integer)p.bytes_total);
	set_int(L, "pairs", (lua_Integer)p.pairs);
	set_int(L, "pairs_done", (lua_Integer)p.pairs_done);
	set_int(L, "file", (lua_Integer)p.file + 1);
	return 1;
}

static const char *const status_keys[4] = { "WHITELISTED", "BLACKLISTED", "GREYLISTED", "UNKNOWN" };

static void push_by_status(lua_State *L, const uint64_t v[4])
{
	lua_createtable(L, 0, 4);
	for (int i = 0; i < 4; i++)
		set_int(L, status_keys[i], (lua_Integer)v[i]);
}

static int l_totals(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	const struct imei_replay_totals *t = imei_replay_totals(r);
	lua_createtable(L, 0, 24);
	set_day(L, "run_date", t->run_day);
	set_day(L, "first_date", t->first_day);
	set_day(L, "last_date", t->last_day);
	set_int(L, "rows", (lua_Integer)t->rows);
	set_int(L, "accepted", (lua_Integer)t->accepted);
	set_int(L, "rejected", (lua_Integer)t->rejected);
	set_int(L, "blank_lines", (lua_Integer)t->blank);
	set_int(L, "headers", (lua_Integer)t->headers);
	set_int(L, "sightings", (lua_Integer)t->sightings);
	set_int(L, "devices", (lua_Integer)t->devices);
	set_int(L, "pairs", (lua_Integer)t->pairs);
	set_int(L, "failures", (lua_Integer)t->failures);
	set_int(L, "devices_notified", (lua_Integer)t->devices_notified);
	set_int(L, "unknown_tac", (lua_Integer)t->unknown_tac);
	set_int(L, "threads", (lua_Integer)t->threads);
	lua_pushnumber(L, t->ingest_seconds);
	lua_setfield(L, -2, "ingest_seconds");
	lua_pushnumber(L, t->eval_seconds);
	lua_setfield(L, -2, "eval_seconds");
	push_by_status(L, t->devices_by_status);
	lua_setfield(L, -2, "devices_by_status");
	push_by_status(L, t->pairs_by_status);
	lua_setfield(L, -2, "pairs_by_status");
	lua_createtable(L, 0, 6);
	static const char *const kinds[6] = { "malformed", "imei", "imei14", "imeisv", "meid", "esn" };
	for (int i = 0; i < 6; i++)
		set_int(L, kinds[i], (lua_Integer)t->devices_by_kind[i]);
	lua_setfield(L, -2, "devices_by_kind");
	return 1;
}

static int l_files(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	size_t n = imei_replay_nfiles(r);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const struct imei_replay_file_stats *f = imei_replay_file(r, i);
		lua_createtable(L, 0, 14);
		set_str(L, "path", f->path);
		set_str(L, "operator", imei_replay_operator(r, f->op)->name);
		set_day(L, "period_first", f->first);
		set_day(L, "period_last", f->last);
		set_day(L, "first_date", f->seen_first);
		set_day(L, "last_date", f->seen_last);
		set_int(L, "rows", (lua_Integer)f->rows);
		set_int(L, "accepted", (lua_Integer)f->accepted);
		set_int(L, "rejected", (lua_Integer)f->rejected);
		set_int(L, "blank_lines", (lua_Integer)f->blank);
		set_int(L, "bytes", (lua_Integer)f->bytes);
		if (f->unterminated_line)
			set_int(L, "unterminated_line", (lua_Integer)f->unterminated_line);
		lua_pushboolean(L, f->header);
		lua_setfield(L, -2, "header");
		lua_pushboolean(L, f->gzip);
		lua_setfield(L, -2, "gzip");
		lua_createtable(L, 0, 4);
		for (int k = 1; k < IMEI_DUMP_NREJECT; k++)
			if (f->by_reason[k])
				set_int(L, imei_dump_reject_name((enum imei_dump_reject)k), (lua_Integer)f->by_reason[k]);
		lua_setfield(L, -2, "rejected_by_reason");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int l_operators(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	size_t n = imei_replay_noperators(r);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const struct imei_replay_operator_stats *o = imei_replay_operator(r, i);
		lua_createtable(L, 0, 8);
		set_str(L, "name", o->name);
		set_int(L, "rows", (lua_Integer)o->rows);
		set_int(L, "rejected", (lua_Integer)o->rejected);
		set_int(L, "devices", (lua_Integer)o->devices);
		set_int(L, "pairs", (lua_Integer)o->pairs);
		push_by_status(L, o->devices_by_status);
		lua_setfield(L, -2, "devices_by_status");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int l_conditions(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	size_t n = imei_replay_nconditions(r);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		const struct imei_replay_condition_stats *c = imei_replay_condition(r, i);
		lua_createtable(L, 0, 5);
		set_str(L, "name", imei_replay_condition_name(r, i));
		set_int(L, "devices", (lua_Integer)c->devices);
		set_int(L, "devices_blocked", (lua_Integer)c->devices_blocked);
		set_int(L, "devices_grace", (lua_Integer)c->devices_grace);
		set_int(L, "pairs", (lua_Integer)c->pairs);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int l_rejections(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	const struct imei_replay_totals *t = imei_replay_totals(r);
	lua_newtable(L);
	lua_Integer k = 0;
	for (int reason = 1; reason < IMEI_DUMP_NREJECT; reason++) {
		if (!t->by_reason[reason])
			continue;
		lua_createtable(L, 0, 4);
		set_str(L, "reason", imei_dump_reject_name((enum imei_dump_reject)reason));
		set_str(L, "text", imei_dump_reject_text((enum imei_dump_reject)reason));
		set_int(L, "count", (lua_Integer)t->by_reason[reason]);
		const struct imei_replay_example *ex;
		size_t n = imei_replay_examples(r, (enum imei_dump_reject)reason, &ex);
		lua_createtable(L, (int)n, 0);
		for (size_t i = 0; i < n; i++) {
			lua_createtable(L, 0, 5);
			set_str(L, "file", imei_replay_file(r, ex[i].file)->path);
			set_int(L, "line", (lua_Integer)ex[i].line);
			if (ex[i].field)
				set_int(L, "field", (lua_Integer)ex[i].field);
			set_str(L, "message", ex[i].msg);
			set_str(L, "text", ex[i].text);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		lua_setfield(L, -2, "examples");
		lua_rawseti(L, -2, ++k);
	}
	return 1;
}

static int l_failures(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	const char *const *msgs;
	size_t n = imei_replay_failures(r, &msgs);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, msgs[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

const char *imei_lua_replay_brand(struct imei_tacdb *db, size_t idx)
{
	struct imei_tac_record rec;
	if (!imei_tacdb_record(db, (uint32_t)idx, &rec))
		return NULL;
	const char *brand = rec.str[IMEI_TAC_BRAND];
	if (!brand || !*brand)
		brand = rec.str[IMEI_TAC_MANUFACTURER];
	if (!brand || !*brand)
		brand = "(no brand in the TAC database)";
	return brand;
}

/* Devices per brand of the TAC database: { [brand] = { devices =, blocked =, notified = } } */
static int l_brands(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	struct imei_tacdb *db = NULL;
	if (!lua_isnoneornil(L, 2))
		db = imei_lua_check_tacdb(L, 2);
	const uint32_t *dev, *blk, *ntf;
	size_t n;
	imei_replay_tac_counts(r, &dev, &blk, &ntf, &n);
	lua_newtable(L);
	if (!db || n == 0)
		return 1;
	int t = lua_gettop(L);
	for (size_t i = 0; i < n; i++) {
		if (!dev[i])
			continue;
		const char *brand = imei_lua_replay_brand(db, i);
		if (!brand)
			continue;
		if (lua_getfield(L, t, brand) != LUA_TTABLE) {
			lua_pop(L, 1);
			lua_createtable(L, 0, 3);
			set_int(L, "devices", 0);
			set_int(L, "blocked", 0);
			set_int(L, "notified", 0);
			lua_pushvalue(L, -1);
			lua_setfield(L, t, brand);
		}
		static const char *const fields[3] = { "devices", "blocked", "notified" };
		const uint32_t *src[3] = { dev, blk, ntf };
		for (int k = 0; k < 3; k++) {
			lua_getfield(L, -1, fields[k]);
			lua_Integer v = lua_tointeger(L, -1) + (lua_Integer)src[k][i];
			lua_pop(L, 1);
			set_int(L, fields[k], v);
		}
		lua_pop(L, 1);
	}
	return 1;
}

static void push_digits(lua_State *L, uint64_t enc)
{
	char buf[24];
	size_t n = imei_sight_digits_str(enc, buf);
	lua_pushlstring(L, buf, n);
}

/* A pair as a table. */
static void push_pair(lua_State *L, struct imei_replay *r, const struct imei_replay_pair *p)
{
	lua_createtable(L, 0, 12);
	push_digits(L, p->imsi);
	lua_setfield(L, -2, "imsi");
	if (p->msisdn) {
		push_digits(L, p->msisdn);
		lua_setfield(L, -2, "msisdn");
	}
	size_t nops = imei_replay_noperators(r);
	lua_createtable(L, 1, 0);
	lua_Integer k = 0;
	for (size_t o = 0; o < nops; o++)
		if (p->ops & (1ULL << o)) {
			lua_pushstring(L, imei_replay_operator(r, o)->name);
			lua_rawseti(L, -2, ++k);
		}
	lua_setfield(L, -2, "operators");
	set_str(L, "status", imei_status_name((enum imei_status)p->status));
	lua_pushboolean(L, (p->flags & IMEI_REPLAY_NOTIFY) != 0);
	lua_setfield(L, -2, "notify");
	lua_pushboolean(L, (p->flags & IMEI_REPLAY_NOTIFICATION) != 0);
	lua_setfield(L, -2, "notification");
	lua_pushboolean(L, (p->flags & IMEI_REPLAY_EXCEPTION) != 0);
	lua_setfield(L, -2, "exception");
	if (p->flags & IMEI_REPLAY_FAILED) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "failed");
	}
	const struct imei_replay_outcome *o = imei_replay_pair_outcome(r, p);
	set_day(L, "block_date", o->block_day);
	set_day(L, "first_date", p->first);
	set_day(L, "last_date", p->last);
	set_int(L, "rows", (lua_Integer)p->rows);
	set_int(L, "matched", (lua_Integer)o->matched);
	set_int(L, "blocked", (lua_Integer)o->blocked);
	set_int(L, "grace", (lua_Integer)o->grace);
}

/* The device whose first pair is at index i: { imei, status, blocked, notify, pairs }. */
static size_t push_device(lua_State *L, struct imei_replay *r, size_t i)
{
	const struct imei_replay_pair *pairs = imei_replay_pairs(r);
	size_t n = imei_replay_npairs(r), j = i;
	char id[IMEI_DUMP_MAX_IDENT + 1];
	size_t len = imei_replay_ident_str(r, pairs[i].ident, id);
	lua_createtable(L, 0, 6);
	lua_pushlstring(L, id, len);
	lua_setfield(L, -2, "imei");
	lua_pushboolean(L, (pairs[i].flags & IMEI_REPLAY_DEV_BLOCKED) != 0);
	lua_setfield(L, -2, "blocked");
	lua_pushboolean(L, (pairs[i].flags & IMEI_REPLAY_DEV_NOTIFY) != 0);
	lua_setfield(L, -2, "notify");
	lua_newtable(L);
	lua_Integer k = 0;
	while (j < n && pairs[j].ident == pairs[i].ident) {
		push_pair(L, r, &pairs[j]);
		lua_rawseti(L, -2, ++k);
		j++;
	}
	lua_setfield(L, -2, "pairs");
	return j;
}

static int devices_next(lua_State *L)
{
	struct imei_replay *r = check_replay(L, lua_upvalueindex(1));
	size_t i = (size_t)lua_tointeger(L, lua_upvalueindex(2));
	const struct imei_replay_pair *pairs = imei_replay_pairs(r);
	size_t n = imei_replay_npairs(r);
	bool all = lua_toboolean(L, lua_upvalueindex(3));
	while (i < n) {
		if ((pairs[i].flags & IMEI_REPLAY_DEVICE) &&
		    (all || (pairs[i].flags & (IMEI_REPLAY_DEV_BLOCKED | IMEI_REPLAY_DEV_NOTIFY)))) {
			size_t next = push_device(L, r, i);
			lua_pushinteger(L, (lua_Integer)next);
			lua_replace(L, lua_upvalueindex(2));
			return 1;
		}
		i++;
	}
	lua_pushinteger(L, (lua_Integer)n);
	lua_replace(L, lua_upvalueindex(2));
	return 0;
}

/* r:devices([all]) — devices in key order: by default those to list (blocked, or with a
 * pair to notify); all = true: every device. */
static int l_devices(lua_State *L)
{
	check_replay(L, 1);
	int all = lua_toboolean(L, 2);
	lua_pushvalue(L, 1);
	lua_pushinteger(L, 0);
	lua_pushboolean(L, all);
	lua_pushcclosure(L, devices_next, 3);
	return 1;
}

static void push_day_or_nil(lua_State *L, int32_t day)
{
	if (day == IMEI_REPLAY_NO_DAY) {
		lua_pushnil(L);
		return;
	}
	char d[9];
	imei_dump_day_str(day, d);
	lua_pushlstring(L, d, 8);
}

static void push_ident(lua_State *L, struct imei_replay *r, uint64_t ident)
{
	char id[IMEI_DUMP_MAX_IDENT + 1];
	size_t len = imei_replay_ident_str(r, ident, id);
	lua_pushlstring(L, id, len);
}

static int blocked_next(lua_State *L)
{
	struct imei_replay *r = check_replay(L, lua_upvalueindex(1));
	size_t i = (size_t)lua_tointeger(L, lua_upvalueindex(2));
	struct imei_replay_block b;
	i = imei_replay_next_blocked(r, i, &b);
	if (i >= imei_replay_npairs(r))
		return 0;
	lua_pushinteger(L, (lua_Integer)b.end);
	lua_replace(L, lua_upvalueindex(2));
	push_ident(L, r, imei_replay_pairs(r)[i].ident);
	lua_pushinteger(L, (lua_Integer)b.reasons);
	push_day_or_nil(L, b.block_day);
	push_day_or_nil(L, b.first_day);
	return 4;
}

static int flagged_next(lua_State *L)
{
	struct imei_replay *r = check_replay(L, lua_upvalueindex(1));
	size_t i = imei_replay_next_flagged(r, (size_t)lua_tointeger(L, lua_upvalueindex(2)));
	if (i >= imei_replay_npairs(r))
		return 0;
	lua_pushinteger(L, (lua_Integer)i + 1);
	lua_replace(L, lua_upvalueindex(2));
	const struct imei_replay_pair *p = &imei_replay_pairs(r)[i];
	push_ident(L, r, p->ident);
	push_digits(L, p->imsi);
	if (p->msisdn)
		push_digits(L, p->msisdn);
	else
		lua_pushnil(L);
	lua_pushboolean(L, (p->flags & IMEI_REPLAY_EXCEPTION) != 0);
	lua_pushboolean(L, (p->flags & IMEI_REPLAY_NOTIFICATION) != 0);
	const struct imei_replay_outcome *o = imei_replay_pair_outcome(r, p);
	push_day_or_nil(L, o->block_day);
	lua_pushinteger(L, (lua_Integer)o->grace);
	lua_pushinteger(L, (lua_Integer)p->ops);
	return 8;
}

static int iterate(lua_State *L, lua_CFunction next)
{
	check_replay(L, 1);
	lua_pushvalue(L, 1);
	lua_pushinteger(L, 0);
	lua_pushcclosure(L, next, 2);
	return 1;
}

/* r:blocked(), r:flagged(): the list entries, without a table each (lists.lua) */
static int l_blocked(lua_State *L)
{
	return iterate(L, blocked_next);
}

static int l_flagged(lua_State *L)
{
	return iterate(L, flagged_next);
}

/* r:find(imei [, imsi]) -> pair table (with .device = the device's facts) or nil */
static int l_find(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	size_t len;
	const char *s = luaL_checklstring(L, 2, &len);
	uint64_t ident, imsi = 0;
	if (!lua_isnoneornil(L, 3)) {
		size_t ilen;
		const char *is = luaL_checklstring(L, 3, &ilen);
		if (imei_sight_imsi(is, ilen, &imsi, NULL) < 0)
			return 0;
	}
	if (!imei_replay_ident_of(r, s, len, &ident))
		return 0;
	long i = imei_replay_find(r, ident, imsi);
	if (i < 0)
		return 0;
	const struct imei_replay_pair *pairs = imei_replay_pairs(r);
	push_pair(L, r, &pairs[i]);
	long first = imei_replay_find(r, ident, 0);
	lua_pushboolean(L, (pairs[first].flags & IMEI_REPLAY_DEV_BLOCKED) != 0);
	lua_setfield(L, -2, "device_blocked");
	return 1;
}

static int l_condition_names(lua_State *L)
{
	struct imei_replay *r = check_replay(L, 1);
	size_t n = imei_replay_nconditions(r);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		lua_pushstring(L, imei_replay_condition_name(r, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

static int l_close(lua_State *L)
{
	struct lreplay *lr = luaL_checkudata(L, 1, REPLAY_MT);
	if (lr->r) {
		imei_replay_free(lr->r);
		lr->r = NULL;
	}
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct lreplay *lr = luaL_checkudata(L, 1, REPLAY_MT);
	if (!lr->r)
		lua_pushliteral(L, "imei.replay (closed)");
	else
		lua_pushfstring(L, "imei.replay (%d pairs)", (int)imei_replay_npairs(lr->r));
	return 1;
}

/* dump_date_ok(s) -> bool: YYYYMMDD or YYYY-MM-DD, a real calendar date (imei_dump_date) */
static int l_dump_date_ok(lua_State *L)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, 1, &len);
	int32_t day;
	lua_pushboolean(L, imei_dump_date(s, len, &day));
	return 1;
}

/* operator_ok(name) -> bool: a name an operator may have (imei_replay_operator_ok) */
static int l_operator_ok(lua_State *L)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, 1, &len);
	lua_pushboolean(L, strlen(s) == len && imei_replay_operator_ok(s));
	return 1;
}

void imei_lua_replay(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "add_file", l_add_file },
		{ "ingest", l_ingest },
		{ "evaluate", l_evaluate },
		{ "wait", l_wait },
		{ "progress", l_progress },
		{ "totals", l_totals },
		{ "files", l_files },
		{ "operators", l_operators },
		{ "conditions", l_conditions },
		{ "condition_names", l_condition_names },
		{ "rejections", l_rejections },
		{ "failures", l_failures },
		{ "brands", l_brands },
		{ "devices", l_devices },
		{ "blocked", l_blocked },
		{ "flagged", l_flagged },
		{ "find", l_find },
		{ "compare", imei_lua_replay_compare },
		{ "network_pairs", imei_lua_replay_network_pairs },
		{ "close", l_close },
		{ NULL, NULL },
	};
	imei_lua_new_class(L, REPLAY_MT, methods, l_close, l_tostring);
	lua_pushcfunction(L, l_replay_new);
	lua_setfield(L, -2, "replay_new");
	lua_pushcfunction(L, l_dump_date_ok);
	lua_setfield(L, -2, "dump_date_ok");
	lua_pushcfunction(L, l_operator_ok);
	lua_setfield(L, -2, "operator_ok");
}
