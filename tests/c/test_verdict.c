/*
 * test_verdict.c — the whole verdict crosses the C boundary (imei_engine.h): more reasons
 * than the old fixed array held, each with overruled (and by whom), sticky, notify and
 * failed; a condition's own on_error; a caller compiled with an older, smaller struct
 * imei_reason; buffers reused from one check to the next; the runtime's verdict as values
 * (imei_verdict_from_values), read by position.
 */
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <lauxlib.h>

#include "check.h"
#include "imei_engine.h"
#include "text_file.h"
#include "verdict.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"
#define MANY 40

static char policy_path[64];

static void write_policy(void)
{
	write_text(policy_path, "local P = policy.new { name = 'v', version = '1' }\n"
	           "for i = 1, 40 do\n"
	           "  P:condition { name = 'c' .. i, status = 'GREYLISTED', blocking = false,\n"
	           "    when = function(_, r) return r.many == 'yes' end }\n"
	           "end\n"
	           "P:condition { name = 'stolen', status = 'BLACKLISTED', sticky = true, on_error = 'BLACKLISTED',\n"
	           "  when = function(_, r) if r.broken then error('the list is gone') end return r.stolen == 'yes' end }\n"
	           "P:condition { name = 'graced', status = 'BLACKLISTED', grace_days = 10,\n"
	           "  when = function(_, r) return r.graced == 'yes' end }\n"
	           "P:condition { name = 'lab', status = 'WHITELISTED', final = true,\n"
	           "  when = function(_, r) return r.lab == 'yes' end }\n"
	           "P:example { pei = '490154203237518', expect = 'WHITELISTED' }\n"
	           "return P\n");
}

static void push_reason(lua_State *L, const char *condition, const char *status, bool failed, const char *error)
{
	lua_createtable(L, 0, 4);
	lua_pushstring(L, condition);
	lua_setfield(L, -2, "condition");
	if (status) {
		lua_pushstring(L, status);
		lua_setfield(L, -2, "status");
	}
	if (failed) {
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "failed");
		lua_pushboolean(L, 1);
		lua_setfield(L, -2, "informative");
		lua_pushstring(L, error);
		lua_setfield(L, -2, "error");
	}
}

/* The six values of the runtime's check (policy.decide): status, reasons or nil,
 * block_date, notify, failed, policy; a verdict table in the first place is a raw
 * check's; a first value that is no status is refused (the engine then fails closed). */
static void test_values(void)
{
	lua_State *L = luaL_newstate();
	struct imei_verdict v = IMEI_VERDICT_INIT;
	char why[256];

	lua_pushliteral(L, "WHITELISTED");
	for (int i = 0; i < 4; i++)
		lua_pushnil(L);
	lua_pushliteral(L, "p@1");
	CHECK_INT(imei_verdict_from_values(L, -6, &v, why, sizeof why), 0);
	CHECK_INT(v.status, IMEI_STATUS_WHITELISTED);
	CHECK_INT(v.nreasons, 0);
	CHECK_STR(v.policy, "p@1");
	CHECK(!v.failed && !v.notify && v.block_date == NULL && v.error == NULL);
	CHECK_INT(lua_gettop(L), 6); /* nothing left behind */

	lua_settop(L, 0);
	lua_pushliteral(L, "GREYLISTED");
	lua_createtable(L, 2, 0);
	push_reason(L, "late", "GREYLISTED", false, NULL);
	lua_pushliteral(L, "2026-01-11");
	lua_setfield(L, -2, "block_date");
	lua_rawseti(L, -2, 1);
	push_reason(L, "broken", NULL, true, "boom");
	lua_rawseti(L, -2, 2);
	lua_pushliteral(L, "2026-01-11");
	lua_pushboolean(L, 1);
	lua_pushboolean(L, 1);
	lua_pushliteral(L, "p@2");
	CHECK_INT(imei_verdict_from_values(L, 1, &v, why, sizeof why), 0);
	CHECK_INT(v.status, IMEI_STATUS_GREYLISTED);
	CHECK_STR(v.block_date, "2026-01-11");
	CHECK(v.notify && v.failed);
	CHECK_INT(v.nreasons, 2);
	CHECK_STR(v.reasons[0].block_date, "2026-01-11");
	CHECK(v.reasons[1].failed && v.reasons[1].informative);
	CHECK_INT(v.reasons[1].status, IMEI_STATUS_GREYLISTED); /* no status of its own: the verdict's */
	CHECK_STR(v.error, "boom");
	CHECK_STR(v.policy, "p@2");

	lua_settop(L, 0);
	lua_pushliteral(L, "MAYBE");
	for (int i = 0; i < 5; i++)
		lua_pushnil(L);
	CHECK_INT(imei_verdict_from_values(L, 1, &v, why, sizeof why), -1);
	CHECK_HAS(why, "no valid status");

	lua_settop(L, 0);
	lua_pushnil(L); /* the check returned nothing */
	CHECK_INT(imei_verdict_from_values(L, 1, &v, why, sizeof why), -1);
	CHECK_HAS(why, "not a verdict table");

	lua_settop(L, 0);
	lua_createtable(L, 0, 2); /* a raw check's table */
	lua_pushliteral(L, "BLACKLISTED");
	lua_setfield(L, -2, "status");
	lua_createtable(L, 1, 0);
	push_reason(L, "mine", NULL, false, NULL);
	lua_rawseti(L, -2, 1);
	lua_setfield(L, -2, "reasons");
	for (int i = 0; i < 5; i++)
		lua_pushnil(L);
	CHECK_INT(imei_verdict_from_values(L, 1, &v, why, sizeof why), 0);
	CHECK_INT(v.status, IMEI_STATUS_BLACKLISTED);
	CHECK_INT(v.nreasons, 1);
	CHECK_STR(v.reasons[0].condition, "mine");
	CHECK(v.policy == NULL);

	lua_settop(L, 0);
	lua_pushliteral(L, "BLACKLISTED");
	lua_createtable(L, 1, 0);
	lua_pushliteral(L, "not a table");
	lua_rawseti(L, -2, 1);
	CHECK_INT(imei_verdict_from_values(L, 1, &v, why, sizeof why), -1);
	CHECK_HAS(why, "reason 1");

	imei_verdict_release(&v);
	lua_close(L);
}

/* An older caller's reason: the fields up to informative only. */
struct old_reason {
	const char *condition, *text;
	enum imei_status status;
	const char *block_date;
	bool informative;
};

int main(void)
{
	snprintf(policy_path, sizeof policy_path, "/tmp/imei-test-verdict-%d.lua", (int)getpid());
	write_policy();
	struct imei_engine_config cfg = { .policy = policy_path, .lua_path = LUA_PATH };
	char err[512];
	struct imei_engine *e = imei_engine_new(&cfg, err, sizeof err);
	if (!e) {
		fprintf(stderr, "engine: %s\n", err);
		return 1;
	}
	struct imei_verdict v = IMEI_VERDICT_INIT;

	/* every reason, no cap */
	const char *many[] = { "many", "yes" };
	struct imei_request req = { .pei = "490154203237518", .time = 1767225600, .nextras = 1, .extras = many };
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.nreasons, MANY);
	CHECK_STR(v.reasons[MANY - 1].condition, "c40");
	CHECK(v.reasons[MANY - 1].informative && !v.reasons[MANY - 1].failed);
	CHECK(!v.failed);

	/* sticky and the final condition's overruling, said by the runtime, not guessed */
	const char *lab[] = { "stolen", "yes", "lab", "yes" };
	req.nextras = 2;
	req.extras = lab;
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_WHITELISTED);
	CHECK_INT(v.nreasons, 2);
	CHECK_STR(v.reasons[0].condition, "stolen");
	CHECK(v.reasons[0].sticky && v.reasons[0].overruled);
	CHECK_STR(v.reasons[0].overruled_by, "lab");
	CHECK(!v.reasons[1].overruled && v.reasons[1].overruled_by == NULL);

	/* notify while in its grace period */
	const char *graced[] = { "graced", "yes" };
	req.nextras = 1;
	req.extras = graced;
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_GREYLISTED);
	CHECK(v.notify && v.nreasons == 1 && v.reasons[0].notify);
	CHECK_STR(v.reasons[0].block_date, "2026-01-11");

	/* a failing condition with its own on_error decides with it */
	const char *broken[] = { "broken", "yes" };
	req.extras = broken;
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_BLACKLISTED);
	CHECK(v.failed && v.nfailed == 1 && v.nreasons == 1);
	CHECK(v.reasons[0].failed && !v.reasons[0].informative);
	CHECK(v.reasons[0].error && strstr(v.reasons[0].error, "the list is gone"));
	CHECK_INT(v.reasons[0].status, IMEI_STATUS_BLACKLISTED);
	imei_verdict_release(&v);
	CHECK(v.buffers == NULL && v.nreasons == 0 && v.size == sizeof v);

	/* a caller built against a smaller struct imei_reason gets reasons at its stride */
	struct imei_verdict old = IMEI_VERDICT_INIT;
	old.reason_size = sizeof(struct old_reason);
	req.extras = many;
	CHECK_INT(imei_engine_check(e, &req, &old), 0);
	CHECK_INT(old.nreasons, MANY);
	const struct old_reason *r = (const struct old_reason *)(void *)old.reasons;
	CHECK_STR(r[0].condition, "c1");
	CHECK_STR(r[MANY - 1].condition, "c40");
	CHECK(r[MANY - 1].informative);
	imei_verdict_release(&old);

	/* a struct the caller forgot to start with IMEI_VERDICT_INIT: started afresh, not trusted */
	struct imei_verdict junk;
	memset(&junk, 0xab, sizeof junk);
	CHECK_INT(imei_engine_check(e, &req, &junk), 0);
	CHECK_INT(junk.nreasons, MANY);
	CHECK_STR(junk.reasons[MANY - 1].condition, "c40");
	imei_verdict_release(&junk);

	imei_engine_free(e);
	unlink(policy_path);
	test_values();
	return CHECK_DONE("test_verdict");
}
