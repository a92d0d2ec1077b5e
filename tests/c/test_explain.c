/*
 * test_explain.c — the explain service through the C API (host/explain.c): the JSON of
 * imei_engine_explain_json (its verdict is the check's, every condition in order, no
 * sighting recorded), and the JSON writer on hostile values: escapes, bytes that are not
 * UTF-8, non-finite numbers, deep nesting, arrays and objects, the size bound.
 */
#include <stdlib.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "check.h"
#include "imei_engine.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"

static const char *policy_text =
	"local P = policy.new { name = 'x', version = '1' }\n"
	"P:condition { name = 'junk', status = 'BLACKLISTED', when = function(d) return d.junk ~= nil end,\n"
	"  unless = function(_, r) if r.imsi == '001010000000009' then return true, 'the \"lab\" SIM\\n' end end }\n"
	"P:condition { name = 'broken', status = 'GREYLISTED', when = function(_, r)\n"
	"  if r.msisdn == '1' then error('boom \\255') end return false end }\n"
	"return P\n";

/* The JSON of the value the chunk returns (a fresh plain Lua state). */
static char *json_of(const char *chunk, size_t *len, int *rc)
{
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	char *json = NULL;
	*rc = -2;
	if (luaL_dostring(L, chunk) == LUA_OK)
		*rc = imei_explain_json_of(L, -1, &json, len);
	else
		fprintf(stderr, "chunk: %s\n", lua_tostring(L, -1));
	lua_close(L);
	return json;
}

static void check_json(const char *chunk, const char *want)
{
	size_t len = 0;
	int rc;
	char *json = json_of(chunk, &len, &rc);
	CHECK_INT(rc, 0);
	CHECK_STR(json, want);
	CHECK_INT(json ? strlen(json) : 0, len);
	free(json);
}

static void test_writer(void)
{
	check_json("return { 1, 'two', true, false }", "[1,\"two\",true,false]\n");
	check_json("return {}", "[]\n");
	check_json("return { a = { b = 1.5 } }", "{\"a\":{\"b\":1.5}}\n");
	check_json("return 'q\"b\\\\c\\n\\1\\127'", "\"q\\\"b\\\\c\\n\\u0001\\u007f\"\n");
	check_json("return 'caf\\xc3\\xa9 \\xff \\xed\\xa0\\x80 \\xc0\\xaf'",
	           "\"caf\xc3\xa9 \\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd\"\n");
	check_json("return { 0/0, 1/0, -1/0, math.maxinteger }", "[null,null,null,9223372036854775807]\n");
	check_json("return { [1] = 'a', [3] = 'c' }", "{\"1\":\"a\",\"3\":\"c\"}\n");
	check_json("return { f = print, t = coroutine.create(print), n = 1 }", "{\"n\":1}\n");
	check_json("return setmetatable({}, { __index = function() error('lied') end, __len = function() return 5 end })",
	           "[]\n");
	/* deep nesting stops at the bound, as null; a long text over 4 MiB is refused */
	size_t len;
	int rc;
	char *json = json_of("local t = {} for _ = 1, 100 do t = { t } end return t", &len, &rc);
	CHECK_INT(rc, 0);
	CHECK(json && strstr(json, "[[[[[[[[[[[[null]]]]]]]]]]]]") != NULL);
	free(json);
	json = json_of("return string.rep('x', 5 << 20)", &len, &rc);
	CHECK_INT(rc, -1);
	CHECK(json == NULL);
}

static void test_engine(void)
{
	char path[] = "/tmp/test_explain_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, policy_text, strlen(policy_text)) != (ssize_t)strlen(policy_text)) {
		perror(path);
		exit(2);
	}
	close(fd);
	struct imei_engine_config cfg = { 0 };
	char err[512];
	cfg.policy = path;
	cfg.lua_path = LUA_PATH;
	struct imei_engine *e = imei_engine_new(&cfg, err, sizeof err);
	CHECK(e != NULL);
	if (!e) {
		fprintf(stderr, "engine: %s\n", err);
		unlink(path);
		return;
	}
	struct imei_request req = { .pei = "000000000000000", .imsi = "001010000000001", .time = 1767225600 };
	char *json = NULL;
	size_t len = 0;
	CHECK_INT(imei_engine_explain_json(e, &req, &json, &len, err, sizeof err), 0);
	CHECK_HAS(json, "\"status\":\"BLACKLISTED\"");
	CHECK_HAS(json, "\"result\":\"matched\"");
	CHECK_HAS(json, "\"date\":\"2026-01-01\"");
	free(json);
	req.imsi = "001010000000009"; /* the unless's label, escaped */
	CHECK_INT(imei_engine_explain_json(e, &req, &json, &len, err, sizeof err), 0);
	CHECK_HAS(json, "\"because\":\"the \\\"lab\\\" SIM\\n\"");
	CHECK_HAS(json, "\"status\":\"WHITELISTED\"");
	free(json);
	req.msisdn = "1"; /* a failing condition, its error not UTF-8 */
	CHECK_INT(imei_engine_explain_json(e, &req, &json, &len, err, sizeof err), 0);
	CHECK_HAS(json, "\"result\":\"failed\"");
	CHECK_HAS(json, "boom \\ufffd");
	free(json);
	/* the check after explanations is the check before them */
	struct imei_verdict v = IMEI_VERDICT_INIT;
	req.msisdn = NULL;
	req.imsi = "001010000000001";
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_BLACKLISTED);
	imei_verdict_release(&v);
	struct imei_request none = { 0 };
	CHECK_INT(imei_engine_explain_json(e, &none, &json, &len, err, sizeof err), -1);
	CHECK_HAS(err, "no pei");
	CHECK(json == NULL);
	imei_engine_free(e);
	unlink(path);
}

int main(void)
{
	test_writer();
	test_engine();
	return CHECK_DONE("explain");
}
