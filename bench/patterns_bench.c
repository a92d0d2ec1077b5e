/*
 * patterns_bench.c — the cost of the pattern budget (sandbox_patterns.c, docs/sandbox.md):
 * Lua 5.4's own string.find/match/gmatch/gsub against the budgeted versions, on the
 * patterns policies use (IMEI/TAC shapes, digit runs, separators stripped with gsub)
 * and on long failing searches that are all matcher work. Each case is a Lua loop of
 * calls in one lua_State; the two loops alternate, best of 9 runs each; prints ns per
 * call and the ratio budgeted / original.
 *
 *   bench/patterns_bench [ITERATIONS]      (default 500000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "sandbox_patterns.h"

#define ROUNDS 9

struct bcase {
	const char *name;
	const char *setup; /* locals for the loop */
	const char *call;  /* one call, with the library in S */
};

static const struct bcase cases[] = {
	{ "match ^35%d%d%d%d%d%d$ (TAC)", "local s = '35209900'",
	  "S.match(s, '^35%d%d%d%d%d%d$')" },
	{ "match ^%d+$ (15 digits)", "local s = '358240051111110'", "S.match(s, '^%d+$')" },
	{ "find %d+ (short text)", "local s = 'imei 490154203237518 seen'", "S.find(s, '%d+')" },
	{ "match ^imei%-(%d+)$ (PEI)", "local s = 'imei-490154203237518'",
	  "S.match(s, '^imei%-(%d+)$')" },
	{ "match 3 captures (CSV row)", "local s = '35209900,Acme,Phone X'",
	  "S.match(s, '^([^,]*),([^,]*),(.*)$')" },
	{ "gsub [%s%-] -> '' (short)", "local s = '35-209900-176148-1'",
	  "S.gsub(s, '[%s%-]', '')" },
	{ "gsub %s -> _ (short)", "local s = 'a b c d'", "S.gsub(s, '%s', '_')" },
	{ "find plain (short)", "local s = 'operator=26201;rat=5G'",
	  "S.find(s, 'rat=', 1, true)" },
	{ "gmatch (%w+)=(%w+) x3", "local s = 'a=1, b=2, c=3'",
	  "for k, v in S.gmatch(s, '(%w+)=(%w+)') do end" },
	{ "find %d{15} fails, 1 KB", "local s = ('a1'):rep(512)",
	  "S.find(s, '%d%d%d%d%d%d%d%d%d%d%d%d%d%d%d')" },
	{ "match .-x fails, 1 KB", "local s = ('ab'):rep(512)", "S.match(s, '^(.-)x')" },
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* load the case's loop with S = the global lib; leaves the chunk on the stack */
static void load(lua_State *L, const struct bcase *c, const char *lib)
{
	char code[1024];
	snprintf(code, sizeof code,
	         "local S, n = %s, ...\n%s\nfor _ = 1, n do %s end", lib, c->setup, c->call);
	if (luaL_loadstring(L, code) != LUA_OK) {
		fprintf(stderr, "%s\n", lua_tostring(L, -1));
		exit(1);
	}
}

/* ns per call of one run of the chunk at idx */
static double run(lua_State *L, int idx, const char *name, long iters)
{
	lua_pushvalue(L, idx);
	lua_pushinteger(L, iters);
	double t0 = now();
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		fprintf(stderr, "%s: %s\n", name, lua_tostring(L, -1));
		exit(1);
	}
	return (now() - t0) * 1e9 / (double)iters;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 500000;
	lua_State *L = luaL_newstate();
	if (!L)
		return 1;
	luaL_openlibs(L);
	struct imei_budget budget = { 1LL << 62, 0 };
	lua_newtable(L);
	imei_sandbox_patterns_install(L, -1, &budget);
	lua_setglobal(L, "budgeted");

	printf("pattern budget overhead, %ld calls per case, best of %d (ns per call)\n", iters, ROUNDS);
	printf("%-32s %10s %10s %8s\n", "case", "string.*", "budgeted", "ratio");
	double sum_ratio = 0;
	size_t n = sizeof cases / sizeof *cases;
	for (size_t i = 0; i < n; i++) {
		long it = strstr(cases[i].name, "1 KB") ? iters / 50 : iters;
		double a = 1e30, b = 1e30;
		load(L, &cases[i], "string");
		load(L, &cases[i], "budgeted");
		/* interleaved, so that a burst of load elsewhere hits both; best of ROUNDS */
		for (int r = 0; r < ROUNDS; r++) {
			double ta = run(L, -2, cases[i].name, it);
			double tb = run(L, -1, cases[i].name, it);
			a = ta < a ? ta : a;
			b = tb < b ? tb : b;
		}
		lua_pop(L, 2);
		printf("%-32s %10.1f %10.1f %8.3f\n", cases[i].name, a, b, b / a);
		sum_ratio += b / a;
	}
	printf("mean ratio budgeted/string.*: %.3f\n", sum_ratio / (double)n);
	lua_close(L);
	return budget.exceeded;
}
