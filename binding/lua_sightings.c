/*
 * lua_sightings.c — Lua binding of the sightings store (imei_sightings.h; docs/sightings.md):
 *   sightings_open("memory" | "lmdb:PATH" [, opts]) -> store | nil, err
 *   store:record{key=, imsi=, msisdn=, time=, operator=, rat=} -> true | nil, err
 *   store:record_many{row, …} -> n | nil, err, n_recorded
 *   store:imsis(key, days [, now]) -> n, exact     store:imsi_list(...) -> {imsi…}, exact
 *   store:msisdns(...), store:msisdn_list(...)      store:daily(key, days [, now]) -> t
 *   store:first_imsi(key), store:last_imsi(key) -> imsi, time | nil
 *   store:sightings(key [, days [, now]]) -> {t…} (with days: those seen in the window)
 *                    store:each() / keys() / pairings()
 *   store:pair(key, imsi [, msisdn]), unpair(key, imsi), is_paired(key, imsi), pairs_of(key)
 *   store:flush(), stats(), check(), close(), read_only(), read_only_view()
 *   store:snapshot() -> bytes, store:restore(bytes): every aggregate and pairing, and back
 *                    into a memory store (the sightings of imei classify's state)
 * A store userdata holds one reference (imei_store_retain); read-only userdata (what the
 * policy engine hands to sandboxed policies) refuses every write. Data errors return
 * nil, err; misuse (wrong argument types, writing through a read-only store) raises.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imei_lua.h"
#include "imei_sightings.h"

#define STORE_MT "imei.sightings.store"
#define ITER_MT "imei.sightings.iterator"

struct lstore {
	struct imei_store *st; /* NULL once closed */
	int read_only;
};

struct liter {
	struct imei_store_iter *it; /* NULL once finished */
	enum imei_iter_kind kind;
};

static int push_error(lua_State *L, const struct imei_store_error *err)
{
	lua_pushnil(L);
	lua_pushstring(L, err->msg);
	return 2;
}

/* A method's self is checked against the metatable, the methods' upvalue: a pointer
 * comparison instead of luaL_checkudata's registry lookup by name (a policy asks the
 * store on every check); anything else takes the full check and its error message. */
static struct lstore *check_lstore(lua_State *L, int idx)
{
	struct lstore *ls = idx == 1 ? imei_lua_touserdata_mt(L, 1, lua_upvalueindex(1)) : NULL;
	if (!ls)
		ls = luaL_checkudata(L, idx, STORE_MT);
	if (!ls->st)
		luaL_error(L, "imei.sightings: the store is closed");
	return ls;
}

struct imei_store *imei_lua_check_store(lua_State *L, int idx)
{
	return check_lstore(L, idx)->st;
}

static struct imei_store *check_writable(lua_State *L, int idx)
{
	struct lstore *ls = check_lstore(L, idx);
	if (ls->read_only)
		luaL_error(L, "imei.sightings: this store is read-only (policies read sightings, they do not write them)");
	return ls->st;
}

/* ---- arguments ------------------------------------------------------------------- */

static int64_t opt_now(lua_State *L, int idx)
{
	if (lua_isnoneornil(L, idx))
		return (int64_t)time(NULL);
	lua_Integer now = luaL_checkinteger(L, idx);
	if (now < 0)
		luaL_argerror(L, idx, "now must be UTC seconds >= 0");
	return (int64_t)now;
}

static uint32_t check_days(lua_State *L, int idx)
{
	lua_Integer days = luaL_checkinteger(L, idx);
	if (days < 1 || days > (lua_Integer)UINT32_MAX)
		luaL_argerror(L, idx, "days must be a whole number of days >= 1");
	return (uint32_t)days;
}

/* A key argument: any IMEI form. Wrong type raises; a bad value is a data error. */
static int arg_key(lua_State *L, int idx, uint64_t *key, struct imei_store_error *err)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, idx, &len);
	return imei_sight_key(s, len, key, err);
}

static int arg_imsi(lua_State *L, int idx, uint64_t *imsi, struct imei_store_error *err)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, idx, &len);
	return imei_sight_imsi(s, len, imsi, err);
}

/* A field of a record table: a string, or absent. "" counts as absent for optional ones.
 * The value stays on the stack (read_sighting() drops them all at the end). */
static int field_string(lua_State *L, int t, const char *name, bool required, const char **s, size_t *len,
                        struct imei_store_error *err)
{
	*s = NULL;
	int type = lua_getfield(L, t, name);
	if (type == LUA_TNIL)
		return required ? imei_store_fail(err, IMEI_STORE_EINVAL, "%s: missing", name) : 0;
	if (type != LUA_TSTRING)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "%s: expected a string, got %s", name,
		                       lua_typename(L, type));
	*s = lua_tolstring(L, -1, len);
	if (*len == 0 && !required)
		*s = NULL;
	return 0;
}

static int read_fields(lua_State *L, int t, struct imei_sighting *s, struct imei_store_error *err);

static int read_sighting(lua_State *L, int t, struct imei_sighting *s, struct imei_store_error *err)
{
	int top = lua_gettop(L);
	luaL_checkstack(L, 8, "reading a sighting");
	int rc = read_fields(L, t, s, err);
	lua_settop(L, top);
	return rc;
}

static int read_fields(lua_State *L, int t, struct imei_sighting *s, struct imei_store_error *err)
{
	const char *v;
	size_t len;
	memset(s, 0, sizeof *s);
	if (field_string(L, t, "key", true, &v, &len, err) < 0 || imei_sight_key(v, len, &s->key, err) < 0)
		return -1;
	if (field_string(L, t, "imsi", true, &v, &len, err) < 0 || imei_sight_imsi(v, len, &s->imsi, err) < 0)
		return -1;
	if (field_string(L, t, "msisdn", false, &v, &len, err) < 0 || (v && imei_sight_msisdn(v, len, &s->msisdn, err) < 0))
		return -1;
	if (field_string(L, t, "operator", false, &v, &len, err) < 0 || (v && imei_sight_operator(v, len, &s->op, err) < 0))
		return -1;
	int type = lua_getfield(L, t, "rat");
	if (type == LUA_TNUMBER) {
		int isint;
		lua_Integer r = lua_tointegerx(L, -1, &isint);
		if (!isint || r < 1 || r > IMEI_SIGHT_RAT_MAX)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "rat: %s is not a TS 29.274 RAT Type (1..10)",
			                       isint ? "the number" : "a fraction");
		s->rat = (uint8_t)r;
	} else {
		if (type != LUA_TNIL && type != LUA_TSTRING)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "rat: expected a string or number, got %s",
			                       lua_typename(L, type));
		if (field_string(L, t, "rat", false, &v, &len, err) < 0 || (v && imei_sight_rat(v, len, &s->rat, err) < 0))
			return -1;
	}
	type = lua_getfield(L, t, "time");
	if (type == LUA_TNIL) {
		s->time = (uint32_t)time(NULL);
	} else {
		int isint;
		lua_Integer tm = lua_tointegerx(L, -1, &isint);
		if (type != LUA_TNUMBER || !isint)
			return imei_store_fail(err, IMEI_STORE_EINVAL, "time: expected whole UTC seconds, got %s",
			                       type == LUA_TNUMBER ? "a fraction" : lua_typename(L, type));
		if (tm < 0 || tm > (lua_Integer)UINT32_MAX)
			return imei_store_fail(err, IMEI_STORE_EINVAL,
			                       "time: %lld is out of range (0 .. 4294967295 UTC seconds, 1970 .. 2106)",
			                       (long long)tm);
		s->time = (uint32_t)tm;
	}
	return 0;
}

/* ---- results ---------------------------------------------------------------------- */

static void set_digits(lua_State *L, const char *field, uint64_t enc)
{
	char buf[24];
	size_t n = imei_sight_digits_str(enc, buf);
	if (n) {
		lua_pushlstring(L, buf, n);
		lua_setfield(L, -2, field);
	}
}

static void push_key(lua_State *L, uint64_t key)
{
	char buf[24];
	size_t n = imei_sight_key_str(key, buf);
	lua_pushlstring(L, buf, n);
}

static void set_int(lua_State *L, const char *field, lua_Integer v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, field);
}

static void push_agg(lua_State *L, const struct imei_sighting_agg *a)
{
	char buf[24];
	lua_createtable(L, 0, 8);
	push_key(L, a->key);
	lua_setfield(L, -2, "key");
	set_digits(L, "imsi", a->imsi);
	set_digits(L, "msisdn", a->msisdn);
	size_t n = imei_sight_operator_str(a->op, buf);
	if (n) {
		lua_pushlstring(L, buf, n);
		lua_setfield(L, -2, "operator");
	}
	lua_createtable(L, 2, 0);
	lua_Integer k = 0;
	for (unsigned r = 1; r <= IMEI_SIGHT_RAT_MAX; r++)
		if (a->rats >> (r - 1) & 1) {
			lua_pushstring(L, imei_sight_rat_name(r));
			lua_rawseti(L, -2, ++k);
		}
	lua_setfield(L, -2, "rats");
	set_int(L, "first_seen", a->first);
	set_int(L, "last_seen", a->last);
	set_int(L, "days_seen", a->ndays);
	/* bit i: seen on UTC day (last_seen / 86400) - i (imei_sightings.h); as it is, for
	 * those who list the days (imei history) */
	set_int(L, "days_bitmap", (lua_Integer)a->days);
}

static void push_pairing(lua_State *L, uint64_t key, uint64_t imsi, uint64_t msisdn)
{
	lua_createtable(L, 0, 3);
	push_key(L, key);
	lua_setfield(L, -2, "key");
	set_digits(L, "imsi", imsi);
	set_digits(L, "msisdn", msisdn);
}

/* ---- methods ------------------------------------------------------------------------ */

static int l_record(lua_State *L)
{
	struct imei_store *st = check_writable(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	struct imei_sighting s;
	struct imei_store_error err;
	if (read_sighting(L, 2, &s, &err) < 0 || imei_store_record(st, &s, &err) < 0)
		return push_error(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/* record_many{row, …} -> n | nil, err, n: rows in order, one write; on a bad row the rows
 * before it are recorded and err names the row (1-based) and the field. */
static int l_record_many(lua_State *L)
{
	struct imei_store *st = check_writable(L, 1);
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 2), ok = 0;
	struct imei_store_error err, bad;
	if (n < 0)
		n = 0;
	if ((lua_Unsigned)n > SIZE_MAX / sizeof(struct imei_sighting))
		return luaL_error(L, "imei.sightings: too many rows");
	/* scratch owned by Lua: freed by the collector whatever happens */
	struct imei_sighting *v = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *v, 0);
	bool failed = false;
	for (; ok < n; ok++) {
		int type = lua_rawgeti(L, 2, ok + 1);
		int rc = type == LUA_TTABLE ? read_sighting(L, lua_gettop(L), &v[ok], &bad)
		                            : imei_store_fail(&bad, IMEI_STORE_EINVAL, "expected a table, got %s",
		                                              lua_typename(L, type));
		lua_pop(L, 1);
		if (rc < 0) {
			failed = true;
			break;
		}
	}
	size_t done = 0;
	if (imei_store_record_many(st, v, (size_t)ok, &done, &err) < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err.msg);
		lua_pushinteger(L, (lua_Integer)done);
		return 3;
	}
	if (failed) {
		lua_pushnil(L);
		lua_pushfstring(L, "sighting %I: %s", (lua_Integer)ok + 1, bad.msg);
		lua_pushinteger(L, ok);
		return 3;
	}
	lua_pushinteger(L, ok);
	return 1;
}

static int distinct(lua_State *L, enum imei_store_field field, bool want_list)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	uint64_t key, *list = NULL;
	struct imei_store_error err;
	uint32_t days = check_days(L, 3);
	int64_t now = opt_now(L, 4);
	size_t count;
	bool exact;
	if (arg_key(L, 2, &key, &err) < 0 ||
	    imei_store_distinct(st, key, field, days, now, &count, &exact, want_list ? &list : NULL, &err) < 0)
		return push_error(L, &err);
	if (!want_list) {
		lua_pushinteger(L, (lua_Integer)count);
		lua_pushboolean(L, exact);
		return 2;
	}
	lua_createtable(L, (int)count, 0);
	for (size_t i = 0; i < count; i++) {
		char buf[24];
		size_t n = imei_sight_digits_str(list[i], buf);
		lua_pushlstring(L, buf, n);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(list);
	lua_pushboolean(L, exact);
	return 2;
}

static int l_imsis(lua_State *L)
{
	return distinct(L, IMEI_FIELD_IMSI, false);
}

static int l_imsi_list(lua_State *L)
{
	return distinct(L, IMEI_FIELD_IMSI, true);
}

static int l_msisdns(lua_State *L)
{
	return distinct(L, IMEI_FIELD_MSISDN, false);
}

static int l_msisdn_list(lua_State *L)
{
	return distinct(L, IMEI_FIELD_MSISDN, true);
}

static int l_daily(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	uint64_t key;
	struct imei_store_error err;
	struct imei_store_daily d;
	uint32_t days = check_days(L, 3);
	int64_t now = opt_now(L, 4);
	if (arg_key(L, 2, &key, &err) < 0 || imei_store_daily(st, key, days, now, &d, &err) < 0)
		return push_error(L, &err);
	lua_createtable(L, 0, 5);
	set_int(L, "days_seen", (lua_Integer)d.days_seen);
	set_int(L, "total", (lua_Integer)d.total);
	lua_pushnumber(L, d.days_seen ? (lua_Number)d.total / (lua_Number)d.days_seen : 0.0);
	lua_setfield(L, -2, "average");
	lua_pushboolean(L, d.exact);
	lua_setfield(L, -2, "exact");
	lua_createtable(L, (int)d.days_seen, 0);
	for (size_t i = 0; i < d.days_seen; i++) {
		char date[32];
		time_t t = (time_t)(d.days[i].day * IMEI_SIGHT_DAY);
		struct tm tm;
		lua_createtable(L, 0, 3);
		set_int(L, "day", (lua_Integer)d.days[i].day);
		if (gmtime_r(&t, &tm) && strftime(date, sizeof date, "%Y-%m-%d", &tm)) {
			lua_pushstring(L, date);
			lua_setfield(L, -2, "date");
		}
		set_int(L, "imsis", d.days[i].imsis);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "days");
	free(d.days);
	return 1;
}

static int pick(lua_State *L, bool last)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	uint64_t key;
	struct imei_store_error err;
	struct imei_sighting_agg a;
	int rc;
	if (arg_key(L, 2, &key, &err) < 0 ||
	    (rc = last ? imei_store_last(st, key, &a, &err) : imei_store_first(st, key, &a, &err)) < 0)
		return push_error(L, &err);
	if (rc == 0) {
		lua_pushnil(L);
		return 1;
	}
	char buf[24];
	size_t n = imei_sight_digits_str(a.imsi, buf);
	lua_pushlstring(L, buf, n);
	lua_pushinteger(L, last ? a.last : a.first);
	return 2;
}

static int l_first_imsi(lua_State *L)
{
	return pick(L, false);
}

static int l_last_imsi(lua_State *L)
{
	return pick(L, true);
}

static int l_sightings(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	uint64_t key;
	struct imei_store_error err;
	struct imei_sighting_agg *list;
	size_t n;
	if (arg_key(L, 2, &key, &err) < 0)
		return push_error(L, &err);
	if (lua_isnoneornil(L, 3) ? imei_store_sightings(st, key, &list, &n, &err) < 0
	                          : imei_store_sightings_in(st, key, check_days(L, 3), opt_now(L, 4), &list, &n, &err) < 0)
		return push_error(L, &err);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		push_agg(L, &list[i]);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(list);
	return 1;
}

static int l_pair(lua_State *L)
{
	struct imei_store *st = check_writable(L, 1);
	uint64_t key, imsi, msisdn = 0;
	struct imei_store_error err;
	int rc;
	if (arg_key(L, 2, &key, &err) < 0 || arg_imsi(L, 3, &imsi, &err) < 0)
		return push_error(L, &err);
	if (!lua_isnoneornil(L, 4)) {
		size_t len;
		const char *s = imei_lua_checkstring(L, 4, &len);
		if (len && imei_sight_msisdn(s, len, &msisdn, &err) < 0)
			return push_error(L, &err);
	}
	if ((rc = imei_store_pair(st, key, imsi, msisdn, &err)) < 0)
		return push_error(L, &err);
	lua_pushboolean(L, rc);
	return 1;
}

static int l_unpair(lua_State *L)
{
	struct imei_store *st = check_writable(L, 1);
	uint64_t key, imsi;
	struct imei_store_error err;
	int rc;
	if (arg_key(L, 2, &key, &err) < 0 || arg_imsi(L, 3, &imsi, &err) < 0 ||
	    (rc = imei_store_unpair(st, key, imsi, &err)) < 0)
		return push_error(L, &err);
	lua_pushboolean(L, rc);
	return 1;
}

static int l_is_paired(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	uint64_t key, imsi, msisdn = 0;
	struct imei_store_error err;
	int rc;
	if (arg_key(L, 2, &key, &err) < 0 || arg_imsi(L, 3, &imsi, &err) < 0 ||
	    (rc = imei_store_is_paired(st, key, imsi, &msisdn, &err)) < 0)
		return push_error(L, &err);
	lua_pushboolean(L, rc);
	if (rc && msisdn) {
		char buf[24];
		size_t n = imei_sight_digits_str(msisdn, buf);
		lua_pushlstring(L, buf, n);
		return 2;
	}
	return 1;
}

static int l_pairs_of(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	uint64_t key;
	struct imei_store_error err;
	struct imei_pairing *list;
	size_t n;
	if (arg_key(L, 2, &key, &err) < 0 || imei_store_pairs_of(st, key, &list, &n, &err) < 0)
		return push_error(L, &err);
	lua_createtable(L, (int)n, 0);
	for (size_t i = 0; i < n; i++) {
		push_pairing(L, list[i].key, list[i].imsi, list[i].msisdn);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	free(list);
	return 1;
}

static int l_flush(lua_State *L)
{
	struct imei_store *st = check_writable(L, 1);
	struct imei_store_error err;
	struct imei_store_stats s;
	if (imei_store_flush(st, &err) < 0 || imei_store_stats(st, &s, &err) < 0)
		return push_error(L, &err);
	lua_pushinteger(L, (lua_Integer)s.committed);
	return 1;
}

/* store:snapshot() -> bytes: every aggregate and pairing (sightings_snapshot.c) */
static int l_snapshot(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	struct imei_store_error err;
	unsigned char *buf;
	size_t len;
	if (imei_store_snapshot(st, &buf, &len, &err) < 0)
		return push_error(L, &err);
	lua_pushlstring(L, (const char *)buf, len);
	free(buf);
	return 1;
}

/* store:restore(bytes) -> true: a snapshot put back into a memory store */
static int l_restore(lua_State *L)
{
	struct imei_store *st = check_writable(L, 1);
	size_t len;
	const char *buf = luaL_checklstring(L, 2, &len);
	struct imei_store_error err;
	if (imei_store_restore(st, (const unsigned char *)buf, len, &err) < 0)
		return push_error(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_stats(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	struct imei_store_error err;
	struct imei_store_stats s;
	if (imei_store_stats(st, &s, &err) < 0)
		return push_error(L, &err);
	lua_createtable(L, 0, 7);
	set_int(L, "aggregates", (lua_Integer)s.aggregates);
	set_int(L, "keys", (lua_Integer)s.keys);
	set_int(L, "pairings", (lua_Integer)s.pairings);
	set_int(L, "recorded", (lua_Integer)s.recorded);
	set_int(L, "committed", (lua_Integer)s.committed);
	set_int(L, "pending", (lua_Integer)s.pending);
	set_int(L, "bytes", (lua_Integer)s.bytes);
	return 1;
}

static int l_check(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	struct imei_store_error err;
	if (imei_store_check(st, &err) < 0)
		return push_error(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

/* A second userdata on the same store that refuses writes: what a host hands to code
 * that may read sightings but not record them. */
static int l_read_only_view(lua_State *L)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	imei_lua_push_store(L, st, 1);
	return 1;
}

static int l_read_only(lua_State *L)
{
	struct lstore *ls = check_lstore(L, 1);
	lua_pushboolean(L, ls->read_only || imei_store_read_only(ls->st));
	return 1;
}

/* close: flush (a writable userdata), then drop this reference. */
static int close_store(lua_State *L, struct lstore *ls, struct imei_store_error *err)
{
	int rc = 0;
	if (!ls->st)
		return 0;
	if (!ls->read_only)
		rc = imei_store_flush(ls->st, err);
	imei_store_release(ls->st);
	ls->st = NULL;
	(void)L;
	return rc;
}

static int l_close(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_MT);
	struct imei_store_error err;
	if (close_store(L, ls, &err) < 0)
		return push_error(L, &err);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_tbc_close(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_MT);
	struct imei_store_error err;
	if (close_store(L, ls, &err) < 0)
		return luaL_error(L, "imei.sightings: closing the store: %s", err.msg);
	return 0;
}

static int l_gc(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_MT);
	if (ls->st) {
		imei_store_release(ls->st);
		ls->st = NULL;
	}
	return 0;
}

static int l_tostring(lua_State *L)
{
	struct lstore *ls = luaL_checkudata(L, 1, STORE_MT);
	if (!ls->st)
		lua_pushliteral(L, "imei.sightings store (closed)");
	else
		lua_pushfstring(L, "imei.sightings store (%s%s)", imei_store_spec(ls->st),
		                ls->read_only || imei_store_read_only(ls->st) ? ", read-only" : "");
	return 1;
}

/* ---- iterators ------------------------------------------------------------------------ */

static int iter_close(lua_State *L)
{
	struct liter *li = luaL_checkudata(L, 1, ITER_MT);
	if (li->it) {
		imei_store_iter_close(li->it);
		li->it = NULL;
	}
	return 0;
}

static int iter_step(lua_State *L)
{
	struct liter *li = luaL_checkudata(L, lua_upvalueindex(1), ITER_MT);
	struct imei_sighting_agg a;
	struct imei_store_error err;
	if (!li->it)
		return 0;
	int rc = imei_store_iter_next(li->it, &a, &err);
	if (rc <= 0) {
		imei_store_iter_close(li->it);
		li->it = NULL;
		if (rc < 0)
			return luaL_error(L, "imei.sightings: iterating: %s", err.msg);
		return 0;
	}
	if (li->kind == IMEI_ITER_KEYS)
		push_key(L, a.key);
	else if (li->kind == IMEI_ITER_PAIRINGS)
		push_pairing(L, a.key, a.imsi, a.msisdn);
	else
		push_agg(L, &a);
	return 1;
}

static int iterate(lua_State *L, enum imei_iter_kind kind)
{
	struct imei_store *st = check_lstore(L, 1)->st;
	struct imei_store_error err;
	struct liter *li = lua_newuserdatauv(L, sizeof *li, 0);
	li->it = NULL;
	li->kind = kind;
	luaL_setmetatable(L, ITER_MT);
	li->it = imei_store_iter_open(st, kind, &err);
	if (!li->it)
		return luaL_error(L, "imei.sightings: iterating: %s", err.msg);
	lua_pushvalue(L, -1);
	lua_pushcclosure(L, iter_step, 1); /* ud, step */
	lua_insert(L, -2);                 /* step, ud */
	lua_pushnil(L);
	lua_pushnil(L);
	lua_rotate(L, -3, -1); /* step, nil, nil, ud: the ud closes the loop */
	return 4;
}

static int l_each(lua_State *L)
{
	return iterate(L, IMEI_ITER_SIGHTINGS);
}

static int l_keys(lua_State *L)
{
	return iterate(L, IMEI_ITER_KEYS);
}

static int l_pairings(lua_State *L)
{
	return iterate(L, IMEI_ITER_PAIRINGS);
}

/* ---- registration ------------------------------------------------------------------- */

static void ensure_metatables(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "record", l_record },
		{ "record_many", l_record_many },
		{ "imsis", l_imsis },
		{ "imsi_list", l_imsi_list },
		{ "msisdns", l_msisdns },
		{ "msisdn_list", l_msisdn_list },
		{ "daily", l_daily },
		{ "first_imsi", l_first_imsi },
		{ "last_imsi", l_last_imsi },
		{ "sightings", l_sightings },
		{ "pair", l_pair },
		{ "unpair", l_unpair },
		{ "is_paired", l_is_paired },
		{ "pairs_of", l_pairs_of },
		{ "each", l_each },
		{ "keys", l_keys },
		{ "pairings", l_pairings },
		{ "flush", l_flush },
		{ "stats", l_stats },
		{ "snapshot", l_snapshot },
		{ "restore", l_restore },
		{ "check", l_check },
		{ "read_only", l_read_only },
		{ "read_only_view", l_read_only_view },
		{ "close", l_close },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, STORE_MT)) {
		luaL_newlibtable(L, methods);
		lua_pushvalue(L, -2); /* the metatable, upvalue of every method (see check_lstore) */
		luaL_setfuncs(L, methods, 1);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_tbc_close);
		lua_setfield(L, -2, "__close");
		lua_pushcfunction(L, l_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, STORE_MT);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	if (luaL_newmetatable(L, ITER_MT)) {
		lua_pushcfunction(L, iter_close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, iter_close);
		lua_setfield(L, -2, "__close");
		lua_pushliteral(L, ITER_MT);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
}

void imei_lua_push_store(lua_State *L, struct imei_store *store, int read_only)
{
	ensure_metatables(L);
	struct lstore *ls = lua_newuserdatauv(L, sizeof *ls, 0);
	ls->st = NULL;
	ls->read_only = read_only;
	luaL_setmetatable(L, STORE_MT);
	ls->st = imei_store_retain(store);
}

static size_t opt_size(lua_State *L, int opts, const char *name)
{
	lua_getfield(L, opts, name);
	lua_Integer v = 0;
	if (!lua_isnil(L, -1)) {
		int isint;
		v = lua_tointegerx(L, -1, &isint);
		if (!isint || v < 1)
			luaL_error(L, "imei.sightings.open: opts.%s must be a whole number >= 1", name);
	}
	lua_pop(L, 1);
	return (size_t)v;
}

static int l_open(lua_State *L)
{
	const char *spec = luaL_checkstring(L, 1);
	struct imei_store_opts opts;
	struct imei_store_error err;
	memset(&opts, 0, sizeof opts);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		opts.map_size = opt_size(L, 2, "map_size");
		opts.batch = opt_size(L, 2, "batch");
		opts.capacity = opt_size(L, 2, "capacity");
		lua_getfield(L, 2, "read_only");
		opts.read_only = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	/* the userdata first, so that a memory error in Lua cannot leak the store */
	struct lstore *ls = lua_newuserdatauv(L, sizeof *ls, 0);
	ls->st = NULL;
	ls->read_only = opts.read_only;
	luaL_setmetatable(L, STORE_MT);
	ls->st = imei_store_open(spec, &opts, &err);
	if (!ls->st)
		return push_error(L, &err);
	return 1;
}

void imei_lua_sightings(lua_State *L)
{
	ensure_metatables(L);
	lua_pushcfunction(L, l_open);
	lua_setfield(L, -2, "sightings_open");
}
