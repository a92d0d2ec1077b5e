/*
 * lua_replay_compare.c — Lua binding of a replay's what-if results (imei_replay.h,
 * replay_compare.c), for lua/imei/classify/compare.lua, which shapes them into the
 * report (docs/classify.md, "What-if"):
 *   r:compare([tacdb]) -> nil without a compared policy, else
 *     { devices = {…}, subscribers = {…}, transitions = { {old =, new =, devices =}, … },
 *       conditions = { {name =, in_new =, in_old =, old = {devices =, devices_blocked =,
 *                       devices_grace =, pairs =}, newly_matched =, …}, … },
 *       operators = { [name] = changes }, rbi = { ["35"] = changes }, brands = { [brand] = changes },
 *       examples = { {device =, imsi =, operator =, changes = {…}, old = {…}, new = {…}}, … },
 *       failures_old = n }
 *   r:network_pairs() -> { n1, …, nN, national }  pairs each operator policy decided
 */
#include <string.h>

#include "imei_lua_host.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"

static void set_int(lua_State *L, const char *k, uint64_t v)
{
	lua_pushinteger(L, (lua_Integer)v);
	lua_setfield(L, -2, k);
}

static void push_changes(lua_State *L, const struct imei_replay_changes *c)
{
	lua_createtable(L, 0, 5);
	set_int(L, "devices_changed", c->changed);
	set_int(L, "newly_blocked", c->newly_blocked);
	set_int(L, "unblocked", c->unblocked);
	set_int(L, "block_date", c->block_date);
	set_int(L, "notification", c->notification);
}

/* Condition names of a mask, by the side's names. */
static void push_names(lua_State *L, const struct imei_replay *r, uint64_t mask, bool old)
{
	lua_newtable(L);
	lua_Integer k = 0;
	for (size_t b = 0; mask; b++, mask >>= 1) {
		if (!(mask & 1))
			continue;
		const char *name = old ? imei_replay_old_condition_name(r, b) : imei_replay_condition_name(r, b);
		if (name) {
			lua_pushstring(L, name);
			lua_rawseti(L, -2, ++k);
		}
	}
}

static void push_side(lua_State *L, const struct imei_replay *r, uint8_t status, int32_t day, bool notify,
                      uint64_t conds, bool old)
{
	lua_createtable(L, 0, 4);
	lua_pushstring(L, imei_status_name((enum imei_status)status));
	lua_setfield(L, -2, "status");
	if (day != IMEI_REPLAY_NO_DAY) {
		char d[9];
		imei_dump_day_str(day, d);
		lua_pushstring(L, d);
		lua_setfield(L, -2, "block_date");
	}
	lua_pushboolean(L, notify);
	lua_setfield(L, -2, "notify");
	push_names(L, r, conds, old);
	lua_setfield(L, -2, "reasons");
}

static void push_examples(lua_State *L, struct imei_replay *r, const struct imei_replay_compare *x)
{
	const struct imei_replay_pair *pairs = imei_replay_pairs(r);
	lua_createtable(L, (int)x->nexamples, 0);
	for (size_t i = 0; i < x->nexamples; i++) {
		const struct imei_replay_compare_example *e = &x->examples[i];
		const struct imei_replay_pair *p = &pairs[e->pair];
		lua_createtable(L, 0, 6);
		char id[IMEI_DUMP_MAX_IDENT + 1], imsi[24];
		imei_replay_ident_str(r, p->ident, id);
		lua_pushstring(L, id);
		lua_setfield(L, -2, "device");
		size_t n = imei_sight_digits_str(p->imsi, imsi);
		lua_pushlstring(L, imsi, n);
		lua_setfield(L, -2, "imsi");
		lua_pushstring(L, imei_replay_operator(r, p->op)->name);
		lua_setfield(L, -2, "operator");
		lua_newtable(L);
		lua_Integer k = 0;
		static const char *const kinds[3] = { "verdict", "block_date", "notification" };
		for (unsigned b = 0; b < 3; b++)
			if (e->changes & (1u << b)) {
				lua_pushstring(L, kinds[b]);
				lua_rawseti(L, -2, ++k);
			}
		lua_setfield(L, -2, "changes");
		push_side(L, r, e->old_status, e->old_block_day, e->old_notify, e->old_conds, true);
		lua_setfield(L, -2, "old");
		push_side(L, r, e->new_status, e->new_block_day, e->new_notify, e->new_conds, false);
		lua_setfield(L, -2, "new");
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
}

/* { [brand] = changes } from the per-TAC-record counts. */
static void push_brands(lua_State *L, struct imei_tacdb *db, const struct imei_replay_compare *x)
{
	lua_newtable(L);
	if (!db || !x->tacs)
		return;
	int t = lua_gettop(L);
	for (size_t i = 0; i < x->ntacs; i++) {
		const struct imei_replay_changes *c = &x->tacs[i];
		if (!c->changed)
			continue;
		const char *brand = imei_lua_replay_brand(db, i);
		if (!brand)
			continue;
		struct imei_replay_changes sum = *c;
		if (lua_getfield(L, t, brand) == LUA_TTABLE) {
			static const char *const f[5] = { "devices_changed", "newly_blocked", "unblocked", "block_date",
				                          "notification" };
			uint64_t *dst[5] = { &sum.changed, &sum.newly_blocked, &sum.unblocked, &sum.block_date,
				             &sum.notification };
			for (int k = 0; k < 5; k++) {
				lua_getfield(L, -1, f[k]);
				*dst[k] += (uint64_t)lua_tointeger(L, -1);
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
		push_changes(L, &sum);
		lua_setfield(L, t, brand);
	}
}

static const char *const status_keys[4] = { "WHITELISTED", "BLACKLISTED", "GREYLISTED", "UNKNOWN" };

int imei_lua_replay_compare(lua_State *L)
{
	struct imei_replay *r = imei_lua_check_replay(L, 1);
	struct imei_tacdb *db = lua_isnoneornil(L, 2) ? NULL : imei_lua_check_tacdb(L, 2);
	const struct imei_replay_compare *x = imei_replay_compare_result(r);
	if (!x) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 10);
	lua_createtable(L, 0, 13);
	set_int(L, "total", x->devices);
	set_int(L, "changed", x->changed);
	set_int(L, "verdict", x->verdict);
	set_int(L, "block_date", x->block_date);
	set_int(L, "notification", x->notification);
	set_int(L, "newly_blocked", x->newly_blocked);
	set_int(L, "unblocked", x->unblocked);
	set_int(L, "newly_notified", x->newly_notified);
	set_int(L, "no_longer_notified", x->no_longer_notified);
	set_int(L, "blocked_old", x->blocked_old);
	set_int(L, "blocked_new", x->blocked_new);
	set_int(L, "notified_old", x->notified_old);
	set_int(L, "notified_new", x->notified_new);
	lua_setfield(L, -2, "devices");
	lua_createtable(L, 0, 6);
	set_int(L, "pairs", x->pairs);
	set_int(L, "pairs_changed", x->pairs_changed);
	set_int(L, "verdict", x->pair_verdict);
	set_int(L, "block_date", x->pair_block_date);
	set_int(L, "notification", x->pair_notification);
	set_int(L, "imsis_changed", x->imsis_changed);
	lua_setfield(L, -2, "subscribers");
	set_int(L, "failures_old", x->failures_old);
	lua_newtable(L);
	lua_Integer k = 0;
	for (int o = 0; o < 4; o++)
		for (int n = 0; n < 4; n++)
			if (x->transitions[o][n]) {
				lua_createtable(L, 0, 3);
				lua_pushstring(L, status_keys[o]);
				lua_setfield(L, -2, "old");
				lua_pushstring(L, status_keys[n]);
				lua_setfield(L, -2, "new");
				set_int(L, "devices", x->transitions[o][n]);
				lua_rawseti(L, -2, ++k);
			}
	lua_setfield(L, -2, "transitions");
	lua_createtable(L, (int)x->nconditions, 0);
	for (size_t i = 0; i < x->nconditions; i++) {
		const struct imei_replay_condition_change *c = &x->conditions[i];
		lua_createtable(L, 0, 10);
		lua_pushstring(L, c->name);
		lua_setfield(L, -2, "name");
		lua_pushboolean(L, c->new_index >= 0);
		lua_setfield(L, -2, "in_new");
		lua_pushboolean(L, c->old_index >= 0);
		lua_setfield(L, -2, "in_old");
		lua_createtable(L, 0, 4);
		set_int(L, "devices", c->old.devices);
		set_int(L, "devices_blocked", c->old.devices_blocked);
		set_int(L, "devices_grace", c->old.devices_grace);
		set_int(L, "pairs", c->old.pairs);
		lua_setfield(L, -2, "old");
		set_int(L, "newly_matched", c->newly_matched);
		set_int(L, "no_longer_matched", c->no_longer_matched);
		set_int(L, "newly_blocked", c->newly_blocked);
		set_int(L, "no_longer_blocked", c->no_longer_blocked);
		set_int(L, "newly_grace", c->newly_grace);
		set_int(L, "no_longer_grace", c->no_longer_grace);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	lua_setfield(L, -2, "conditions");
	lua_newtable(L);
	for (size_t o = 0; o < imei_replay_noperators(r); o++)
		if (x->ops[o].changed) {
			push_changes(L, &x->ops[o]);
			lua_setfield(L, -2, imei_replay_operator(r, o)->name);
		}
	lua_setfield(L, -2, "operators");
	lua_newtable(L);
	for (int i = 0; i < 100; i++)
		if (x->rbi[i].changed) {
			char rbi[3] = { (char)('0' + i / 10), (char)('0' + i % 10), 0 };
			push_changes(L, &x->rbi[i]);
			lua_setfield(L, -2, rbi);
		}
	lua_setfield(L, -2, "rbi");
	push_brands(L, db, x);
	lua_setfield(L, -2, "brands");
	push_examples(L, r, x);
	lua_setfield(L, -2, "examples");
	return 1;
}

int imei_lua_replay_network_pairs(lua_State *L)
{
	struct imei_replay *r = imei_lua_check_replay(L, 1);
	size_t n = imei_replay_nnetworks(r);
	lua_createtable(L, (int)n + 1, 0);
	for (size_t i = 0; i <= n; i++) {
		lua_pushinteger(L, (lua_Integer)imei_replay_network_pairs(r, i));
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}
