/*
 * test_sandbox.c — containment that only C can see (docs/sandbox.md): memory moving
 * between size classes after a huge check, bulk C work cut by the deadline, a request
 * field larger than the memory cap, the bounded policy log, sealed shared lists, the
 * rebuild of a degraded state, hanging loads and reloads, the C stack overflow message.
 * After each hostile case the next good check must still find the stolen device.
 * Time bounds here are loose (5 s) upper bounds on runs cut at tens of milliseconds of CPU:
 * they fail only when a run is not cut at all.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#include "check.h"
#include "imei_engine.h"
#include "imei_lists.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"
#define STOLEN "490154203237518"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char dir[64];

static void write_file(const char *path, const char *text)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(tmp);
		exit(2);
	}
	rename(tmp, path);
}

/* A policy: stolen devices are BLACKLISTED; BODY runs in a second condition for the
 * device 000000000000000 only. */
static void write_policy(const char *path, const char *body)
{
	char text[4096];
	snprintf(text, sizeof text,
	         "local P = policy.new { name = 't', version = '1' }\n"
	         "P:condition { name = 'stolen', status = 'BLACKLISTED', when = function(d) return "
	         "lists.stolen:has(d.key) end }\n"
	         "P:condition { name = 'x', status = 'GREYLISTED', when = function(d, r)\n"
	         "  if d.key ~= '00000000000000' then return false end\n"
	         "  %s\n"
	         "end }\n"
	         "return P\n",
	         body);
	write_file(path, text);
}

static struct imei_lists *stolen_lists(void)
{
	char err[256];
	const char *csv = "imei\n" STOLEN "\n";
	struct imei_lists *ls = imei_lists_new();
	struct imei_list *l = imei_list_load_buffer(csv, strlen(csv), "stolen", NULL, err, sizeof err);
	if (!ls || !l || imei_lists_add(ls, l) != 0) {
		fprintf(stderr, "lists: %s\n", err);
		exit(2);
	}
	imei_list_unref(l);
	return ls;
}

struct log_count {
	size_t lines;
	char last[300];
};

static void count_line(void *ud, const char *policy, const char *line, size_t len)
{
	(void)policy;
	struct log_count *log = ud;
	log->lines++;
	snprintf(log->last, sizeof log->last, "%.*s", (int)len, line);
}

static struct imei_engine *engine_with(const char *body, struct imei_sandbox_limits limits, struct log_count *log,
                                       char *err, size_t errlen)
{
	char path[128];
	snprintf(path, sizeof path, "%s/p.lua", dir);
	write_policy(path, body);
	struct imei_lists *ls = stolen_lists();
	struct imei_engine_config cfg = { 0 };
	cfg.policy = path;
	cfg.lua_path = LUA_PATH;
	cfg.lists = ls;
	cfg.limits = limits;
	cfg.log = count_line;
	cfg.log_ud = log;
	struct imei_engine *e = imei_engine_new(&cfg, err, errlen);
	imei_lists_unref(ls);
	return e;
}

static bool stolen_is_blacklisted(struct imei_engine *e)
{
	struct imei_request req = { .pei = STOLEN, .time = 1767225600 };
	struct imei_verdict v = IMEI_VERDICT_INIT;
	bool ok = imei_engine_check(e, &req, &v) == 0 && !v.failed && v.status == IMEI_STATUS_BLACKLISTED;
	imei_verdict_release(&v);
	return ok;
}

/* The hostile check: its condition failed alone (the fail-safe verdict: reported as a
 * failed reason with why, deciding nothing), error matching want; then good checks. */
static void hostile(const char *body, const char *want, struct imei_sandbox_limits limits)
{
	char err[512];
	struct log_count log = { 0 };
	struct imei_engine *e = engine_with(body, limits, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e) {
		fprintf(stderr, "  %s: %s\n", body, err);
		return;
	}
	struct imei_request req = { .pei = "000000000000000", .time = 1767225600 };
	struct imei_verdict v = IMEI_VERDICT_INIT;
	double t0 = now_s();
	int rc = imei_engine_check(e, &req, &v);
	double took = now_s() - t0;
	CHECK_INT(rc, 0);
	CHECK(v.failed);
	CHECK_INT(v.status, IMEI_STATUS_WHITELISTED);
	CHECK(v.error && strstr(v.error, want));
	CHECK(v.nreasons == 1 && v.reasons[0].failed && strcmp(v.reasons[0].condition, "x") == 0);
	CHECK(took < 5.0);
	if (!v.error || !strstr(v.error, want) || took >= 5.0)
		fprintf(stderr, "  %s: %s after %.3f s\n", body, v.error ? v.error : "(no error)", took);
	CHECK(stolen_is_blacklisted(e));
	CHECK(stolen_is_blacklisted(e));
	imei_verdict_release(&v);
	imei_engine_free(e);
}

/* A C function the budget knows nothing about: spins for n microseconds. */
static int spin(lua_State *L)
{
	double until = now_s() + (double)luaL_checkinteger(L, 1) * 1e-6;
	while (now_s() < until)
		;
	return 0;
}

/* Bulk work charged far below its cost: one unit per microsecond. */
static int spin_charged(lua_State *L)
{
	lua_Integer n = luaL_checkinteger(L, 1);
	for (lua_Integer i = 0; i < n; i++) {
		double until = now_s() + 1e-6;
		while (now_s() < until)
			;
		imei_sandbox_charge(L, 1);
	}
	return 0;
}

static int run(struct imei_sandbox *sb, const char *code, char *err, size_t errlen)
{
	lua_State *L = imei_sandbox_state(sb);
	if (luaL_loadstring(L, code) != LUA_OK) {
		snprintf(err, errlen, "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
		return -1;
	}
	return imei_sandbox_run(sb, 0, 0, IMEI_SANDBOX_CHECK, err, errlen);
}

static void test_deadline(void)
{
	struct imei_sandbox_limits limits = { .check_budget = 1000000000, .check_deadline_us = 50000 };
	char err[256];
	struct imei_sandbox *sb = imei_sandbox_new(&limits, err, sizeof err);
	CHECK(sb != NULL);
	if (!sb)
		return;
	imei_sandbox_lock(sb);
	lua_State *L = imei_sandbox_state(sb);
	lua_register(L, "spin", spin);
	lua_register(L, "spin_charged", spin_charged);
	/* instructions that each take a millisecond: the count hook alone would take a second per look */
	double t0 = now_s();
	CHECK(run(sb, "while true do spin(1000) end", err, sizeof err) != LUA_OK);
	double took = now_s() - t0;
	CHECK(strstr(err, "time limit of 50 ms exceeded") != NULL);
	CHECK_INT(imei_sandbox_last_stop(sb), IMEI_SANDBOX_DEADLINE);
	CHECK(took < 5.0);
	fprintf(stderr, "test_sandbox: slow instructions cut after %.3f s (%s)\n", took, err);
	/* one C call charging too little: cut from inside the call */
	t0 = now_s();
	CHECK(run(sb, "spin_charged(10000000)", err, sizeof err) != LUA_OK);
	took = now_s() - t0;
	CHECK(strstr(err, "time limit") != NULL);
	CHECK(took < 5.0);
	/* caught with pcall: still a failure, and the next call is fresh */
	CHECK(run(sb, "while true do pcall(spin_charged, 10000000) end", err, sizeof err) != LUA_OK);
	CHECK(strstr(err, "time limit") != NULL);
	CHECK_INT(run(sb, "local x = 0 for i = 1, 1000 do x = x + i end", err, sizeof err), LUA_OK);
	CHECK_INT(imei_sandbox_last_stop(sb), IMEI_SANDBOX_OK);
	imei_sandbox_free(sb);
}

/* After a check that filled the cap with one size class, others get the memory back. */
static void test_memory_moves_between_classes(void)
{
	struct imei_sandbox_limits limits = { .memory = (size_t)8 << 20, .check_budget = 1000000000,
	                                      .check_deadline_us = 20000000 }; /* memory, not time, here */
	char err[256];
	struct imei_sandbox *sb = imei_sandbox_new(&limits, err, sizeof err);
	CHECK(sb != NULL);
	if (!sb)
		return;
	imei_sandbox_lock(sb);
	size_t base = imei_sandbox_memory_used(sb);
	/* 64-byte blocks (empty tables) up to the cap */
	CHECK(run(sb, "local t = {} for i = 1, 1e8 do t[#t + 1] = {} end", err, sizeof err) != LUA_OK);
	CHECK(strstr(err, "memory limit") != NULL);
	CHECK(imei_sandbox_memory_used(sb) < base + ((size_t)1 << 20));
	/* then 80,000 32-byte blocks (short strings): they fit again */
	CHECK_INT(run(sb, "local t = {} for i = 1, 80000 do t[i] = 'k' .. i end", err, sizeof err), LUA_OK);
	/* and the other way round */
	CHECK(run(sb, "local t = {} for i = 1, 1e8 do t[#t + 1] = 's' .. i end", err, sizeof err) != LUA_OK);
	CHECK_INT(run(sb, "local t = {} for i = 1, 50000 do t[i] = {} end", err, sizeof err), LUA_OK);
	imei_sandbox_free(sb);

	/* the same through the engine: a huge check, then normal checks pass */
	struct imei_sandbox_limits el = { .memory = (size_t)8 << 20, .check_budget = 100000000, .check_deadline_us = 20000000 };
	struct log_count log = { 0 };
	struct imei_engine *e = engine_with("if r.big then local t = {} for i = 1, 1e8 do t[i] = {} end end return false",
	                                    el, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	const char *extras[] = { "big", "yes" };
	struct imei_request req = { .pei = "000000000000000", .time = 1767225600, .nextras = 1, .extras = extras };
	struct imei_verdict v = IMEI_VERDICT_INIT;
	CHECK_INT(imei_engine_check(e, &req, &v), 0); /* the condition failed alone */
	CHECK(v.failed && v.nfailed == 1);
	CHECK(v.error && strstr(v.error, "memory limit"));
	for (int i = 0; i < 50; i++)
		CHECK(stolen_is_blacklisted(e));
	imei_verdict_release(&v);
	imei_engine_free(e);
}

/* A request field larger than the memory cap: a failed check, not an abort. */
static void test_giant_request(void)
{
	struct imei_sandbox_limits limits = { .memory = (size_t)4 << 20 };
	char err[512];
	struct log_count log = { 0 };
	struct imei_engine *e = engine_with("return false", limits, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	size_t n = (size_t)16 << 20;
	char *big = malloc(n + 1);
	if (!big)
		exit(2);
	memset(big, 'x', n);
	big[n] = 0;
	const char *extras[] = { "note", big };
	struct imei_request req = { .pei = STOLEN, .time = 1767225600, .nextras = 1, .extras = extras };
	struct imei_verdict v = IMEI_VERDICT_INIT;
	CHECK_INT(imei_engine_check(e, &req, &v), -1);
	CHECK(v.failed);
	CHECK(v.error && strstr(v.error, "memory limit"));
	req.pei = big; /* as the PEI itself */
	req.nextras = 0;
	CHECK_INT(imei_engine_check(e, &req, &v), -1);
	CHECK(v.failed);
	free(big);
	CHECK(stolen_is_blacklisted(e));
	imei_verdict_release(&v);
	imei_engine_free(e);
}

/* print on every check: bounded, counted, and the state does not grow. */
static void test_log_flood(void)
{
	struct imei_sandbox_limits limits = { .memory = (size_t)4 << 20 };
	char err[512];
	struct log_count log = { 0 };
	struct imei_engine *e = engine_with("return false", limits, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	/* a line cannot forge another in the host's log */
	struct imei_request one = { .pei = "000000000000000", .time = 1767225600 };
	struct imei_verdict v1 = IMEI_VERDICT_INIT;
	imei_engine_free(e);
	e = engine_with("log('a\\nFAKE line', 7, nil) return false", limits, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	CHECK_INT(imei_engine_check(e, &one, &v1), 0);
	CHECK_STR(log.last, "a\\x0aFAKE line 7 nil");
	imei_verdict_release(&v1);
	imei_engine_free(e);
	e = engine_with("for i = 1, 100 do print('flood', i, string.rep('y', 300)) end log('x') return false", limits, &log,
	                err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	struct imei_request req = { .pei = "000000000000000", .time = 1767225600 };
	struct imei_verdict v = IMEI_VERDICT_INIT;
	struct imei_engine_stats st;
	imei_engine_stats(e, &st);
	size_t before = st.memory_used;
	log.lines = 0;
	for (int i = 0; i < 2000; i++) {
		CHECK_INT(imei_engine_check(e, &req, &v), 0);
		if (v.failed)
			break;
	}
	imei_engine_stats(e, &st);
	CHECK_INT(st.failures, 0);
	CHECK_INT(st.log_lines, (uint64_t)2000 * IMEI_SANDBOX_LOG_LINES);
	CHECK_INT(st.log_dropped, (uint64_t)2000 * (101 - IMEI_SANDBOX_LOG_LINES));
	CHECK_INT(log.lines, (size_t)2000 * (IMEI_SANDBOX_LOG_LINES + 1)); /* + one "dropped" line each */
	CHECK(st.memory_used < before + ((size_t)1 << 20));
	CHECK(stolen_is_blacklisted(e));
	imei_verdict_release(&v);
	imei_engine_free(e);
}

/* Rebuilds: after failed checks, and when the state holds too much memory. The rebuild
 * reads no file: a broken file on disk does not matter, and refresh() still sees it. */
static void test_rebuild(void)
{
	struct imei_sandbox_limits limits = { .rebuild_failures = 3 };
	char err[512];
	struct log_count log = { 0 };
	struct imei_engine *e = engine_with("error('a bug')", limits, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	char path[128];
	snprintf(path, sizeof path, "%s/p.lua", dir);
	struct imei_request req = { .pei = "000000000000000", .time = 1767225600 };
	struct imei_verdict v = IMEI_VERDICT_INIT;
	struct imei_engine_stats st;
	/* the condition fails alone (rc 0, v.failed), and counts toward a rebuild */
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK(v.failed);
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	imei_engine_stats(e, &st);
	CHECK_INT(st.rebuilds, 0);
	sleep(1); /* a different mtime */
	write_file(path, "broken(");
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK(v.failed);
	imei_engine_stats(e, &st);
	CHECK_INT(st.rebuilds, 1);
	CHECK_INT(st.rebuild_failures, 0);
	CHECK_STR(imei_engine_policy_name(e), "t@1");
	CHECK(stolen_is_blacklisted(e));
	CHECK_INT(imei_engine_refresh(e, err, sizeof err), -1); /* the broken file is seen, and refused */
	CHECK(stolen_is_blacklisted(e));
	imei_engine_free(e);

	/* a policy that keeps something from every check: rebuilt before it fills the cap */
	struct imei_sandbox_limits small = { .memory = (size_t)4 << 20 };
	e = engine_with("KEEP = KEEP or {} KEEP[#KEEP + 1] = string.rep('k', 100000) .. r.time return false", small,
	                &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	for (int i = 0; i < 200; i++) {
		req.time = 1767225600 + i;
		imei_engine_check(e, &req, &v);
	}
	imei_engine_stats(e, &st);
	CHECK_INT(st.failures, 0);
	CHECK(st.rebuilds >= 1);
	CHECK(stolen_is_blacklisted(e));
	imei_verdict_release(&v);
	imei_engine_free(e);
}

/* Loads and reloads that hang end at the load deadline; a failed reload keeps the old policy. */
static void test_hanging_loads(void)
{
	char err[512];
	struct log_count log = { 0 };
	struct imei_sandbox_limits limits = { .load_budget = 100000000000LL, .load_deadline_us = 300000 };
	struct imei_engine *e = engine_with("return false", limits, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	char path[128];
	snprintf(path, sizeof path, "%s/p.lua", dir);
	write_file(path, "local function g() end\n"
	                 "local function f(...) for i = 1, 1e12 do g(...) end end\n"
	                 "f(string.byte(string.rep('x', 100000), 1, -1))\n");
	double t0 = now_s();
	CHECK_INT(imei_engine_reload(e, err, sizeof err), -1);
	double took = now_s() - t0;
	CHECK(strstr(err, "time limit of 300 ms exceeded") != NULL);
	CHECK(strstr(err, path) != NULL);
	CHECK(took < 5.0);
	fprintf(stderr, "test_sandbox: hanging reload refused after %.3f s: %s\n", took, err);
	CHECK_STR(imei_engine_policy_name(e), "t@1");
	CHECK(stolen_is_blacklisted(e));
	struct imei_engine_stats st;
	imei_engine_stats(e, &st);
	CHECK_INT(st.reload_failures, 1);
	imei_engine_free(e);

	/* at load: the examples hang (default load limits) */
	write_file(path, "local P = policy.new { name = 'h', version = '1' }\n"
	                 "P:condition { name = 'x', status = 'BLACKLISTED', when = function()\n"
	                 "  while true do local s = ('x'):rep(1e5) end end }\n"
	                 "P:example { pei = '" STOLEN "', expect = 'BLACKLISTED' }\n"
	                 "return P\n");
	struct imei_engine_config cfg = { 0 };
	cfg.policy = path;
	cfg.lua_path = LUA_PATH;
	t0 = now_s();
	e = imei_engine_new(&cfg, err, sizeof err);
	took = now_s() - t0;
	CHECK(e == NULL);
	CHECK(strstr(err, "exceeded") != NULL);
	CHECK(took < 30.0); /* the default 2 s of CPU, on a loaded machine under the sanitizers */
	imei_engine_free(e);
}

/* Policy code cannot close the shared list, nor overflow the C stack without being told so. */
static void test_shared_and_stack(void)
{
	struct imei_sandbox_limits limits = { 0 };
	char err[512];
	struct log_count log = { 0 };
	struct imei_engine *e = engine_with("local x <close> = lists.stolen return false", limits, &log, err, sizeof err);
	CHECK(e != NULL);
	if (!e)
		return;
	struct imei_request req = { .pei = "000000000000000", .time = 1767225600 };
	struct imei_verdict v = IMEI_VERDICT_INIT;
	for (int i = 0; i < 3; i++) {
		CHECK_INT(imei_engine_check(e, &req, &v), 0);
		CHECK(stolen_is_blacklisted(e));
	}
	imei_verdict_release(&v);
	imei_engine_free(e);
	hostile("return lists.stolen:close()", "close", limits);
	hostile("local function f() return string.gsub('x', 'x', f) end return f() ~= nil", "C stack overflow", limits);
	hostile("local t = setmetatable({}, {}) getmetatable(t).__index = function(t, k) return t[k] end return t.x",
	        "stack overflow", limits);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_sandbox.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	struct imei_sandbox_limits none = { 0 };
	/* the red-team classes that are the sandbox's, with default limits */
	hostile("return #string.rep('', 1 << 62) > 0", "budget", none);
	hostile("return table.move({}, 1, 1 << 50, 2) ~= nil", "budget", none);
	hostile("local t = setmetatable({}, { __len = function() return 1 << 60 end }) table.insert(t, 1, 1)", "budget",
	        none);
	hostile("local t = setmetatable({}, { __len = function() return 1 << 60 end }) return table.remove(t, 1)",
	        "budget", none);
	hostile("local t = setmetatable({}, { __len = function() return 1 << 60 end }) return table.concat(t) ~= nil",
	        "budget", none);
	hostile("local t = setmetatable({}, { __len = function() return 1 << 40 end }) return select('#', "
	        "table.unpack(t)) > 0",
	        "budget", none);
	hostile("local t = setmetatable({}, { __len = function() return 1 << 30 end, __index = rawlen }) table.sort(t)",
	        "exceeded", none);
	hostile("for i = 1, 1e9 do local s = string.rep('x', 2.5e7) end", "budget", none);
	hostile("local s = string.rep('x', 1 << 24) for i = 1, 1e9 do local t = s .. '' end", "budget", none);
	hostile("local function g() end local function f(...) for i = 1, 1e9 do g(...) end end "
	        "f(string.byte(string.rep('x', 150000), 1, -1))",
	        "exceeded", none);
	test_deadline();
	test_memory_moves_between_classes();
	test_giant_request();
	test_log_flood();
	test_rebuild();
	test_hanging_loads();
	test_shared_and_stack();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_DONE("test_sandbox");
}
