/*
 * test_sandbox_patterns.c — the budgeted pattern functions (sandbox_patterns.c,
 * docs/sandbox.md): same results and error messages as Lua 5.4's string.find, match,
 * gmatch and gsub on a corpus of subjects × patterns × init values × replacements
 * (the reference is the real string library in the same state); then the budget
 * itself: exact step accounting, catastrophic patterns stopped with the budget error,
 * an exceeded budget that pcall cannot swallow, and MAXCCALLS still in force.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "check.h"
#include "sandbox_patterns.h"

#define BUDGET_MSG "pattern matching budget exceeded"

struct str {
	const char *s;
	size_t len;
};
#define S(lit) { lit, sizeof(lit) - 1 }

static const struct str subjects[] = {
	S(""), S("a"), S("aaa"), S("aaab"), S("abcabc"), S("hello world"),
	S("  x = 10, y = 20  "), S("(foo(bar))baz("), S("THE (quick) fox"),
	S("35209900176148"), S("358240051111110"), S("490154203237518 extra"),
	S("a\0b\0c"), S("f(a,b) g(c)"), S("\xc3\xbc" "ber"), S("key=val; k2=v2;k3 = v3"),
	S("\n\t x\r\n"), S("ab12cd345ef6"), S("[[x]]"), S("%d%%"), S("..--..$^"),
	S("THE END."), S("x"), S("xyxyxyx"), S("alo xyzK"), S("254 K"), S("abc\0efg"),
	S("one two  three"), S("(a)(b)((c))"), S("\xff\x80\x01"),
};

static const struct str patterns[] = {
	/* literals, anchors, any */
	S(""), S("a"), S("b"), S("aa"), S("^a"), S("a$"), S("^$"), S("^"), S("$"), S("$$"), S("^^a"),
	S("a$b"), S("."), S(".."), S("^.$"), S("x"), S("xy"), S("K"), S("a\0b"), S("\0"),
	/* repetitions */
	S("a*"), S("a+"), S("a-"), S("a?"), S("^a*$"), S(".*"), S(".+"), S(".-"), S(".-$"), S("a.-b"),
	S("a*b"), S("a-b"), S("a?b"), S("x*"), S("^(.-)%s*$"), S("(.-)%s"), S("%s*(.-)%s*$"),
	S("a+b?c*d-"), S("[xy]-x"), S("y*x+"),
	/* captures and position captures */
	S("(a)"), S("(a*)"), S("()"), S("()a()"), S("(a)(b)"), S("((a)(b))"), S("(()a)"),
	S("(h)(e)(l)(l)(o)"), S("(%w+)%s*=%s*(%w+)"), S("()(%d+)()"), S("(.)(.)"), S("(%a+) ?"),
	/* classes */
	S("%d"), S("%d+"), S("^35%d%d%d%d%d%d"), S("^35%d%d%d%d%d%d$"), S("^%d+$"), S("%a+"),
	S("%A+"), S("%s*"), S("%S+"), S("%w+"), S("%W"), S("%p"), S("%P+"), S("%l%u"), S("%u+"),
	S("%x+"), S("%X"), S("%c"), S("%C+"), S("%g+"), S("%G"), S("%z"), S("%Z+"), S("%."),
	S("%%"), S("%]"), S("%q"), S("%$"), S("%^"), S("%("),
	/* sets */
	S("[abc]"), S("[^abc]"), S("[a-c]+"), S("[%a_][%w_]*"), S("[%]]"), S("[]]"), S("[^]]"),
	S("[a-]"), S("[-a]"), S("[%-]"), S("[a%-z]"), S("[%d%s]+"), S("[^%d%s]+"), S("[z-a]"),
	S("[%a-z]"), S("[a-%%]"), S("[\0]"), S("[^\0]+"), S("[\x80-\xff]+"), S("[.]"), S("[^%]]+"),
	S("[%w%p]+"), S("[]"), S("[]a]"), S("[^]"), S("[^]a]"),
	/* balance, frontier, back-references */
	S("%bxy"), S("%b()"), S("%b(("), S("%b)("), S("%b[]"), S("%b()%b()"), S("%f[%w]%w+"),
	S("%f[%W]"), S("%f[%a]"), S("%f[^%z]"), S("%f[%z]"), S("%f[%S].-%f[%s].-%f[%S]"),
	S("THE (%f[%a]%a+)"), S("(a)%1"), S("(.)%1"), S("(a*)%1"), S("(.-)%1"), S("(%w)(%w)%2%1"),
	S("(x)y%1"), S("()%1"), S("%0"),
	/* malformed */
	S("%"), S("a%"), S("["), S("[a"), S("[^"), S("[%"), S("[a%"), S("[%]"), S("("), S("a("),
	S(")"), S("a)"), S("%1"), S("(%1)"), S("(a)%2"), S("%b"), S("%ba"), S("%f"), S("%fa"),
	S("%f["), S("(()"), S("((a)"), S("[a-"), S("(%b"), S("%g("), S("(a)(b"), S("())"),
	S("(()())"), S("%f[a]%"), S("[^%"),
};

/* replacement values for gsub, as Lua expressions */
static const char *repls[] = {
	"'%0'", "'<%1>'", "'[%2]'", "'%%'", "'x%'", "'%a'", "''", "'[%1|%2]'", "7", "0.5",
	"'%1%1%1'", "'%9'",
	"{ a = 'A', ['1'] = 'one', aaa = false, x = 3, b = {} }",
	"function(a, b) return b or a:upper() end",
	"function() return false end",
	"function() end",
	"function(a) return a == 'a' and {} or nil end",
	"function(...) return select('#', ...) end",
	"setmetatable({}, { __index = function(_, k) return '<' .. tostring(k) .. '>' end })",
};

/* The driver, loaded with (original string table, budgeted copy): compare(kind, s, p,
 * a, b) runs one call through each and returns equal, original, budgeted, where a
 * result is serialised (values with their types, or the error message). */
static const char driver[] =
	"local orig, bud, repls = ...\n"
	"local function ser(...)\n"
	"  local n = select('#', ...)\n"
	"  local t = { tostring(n) }\n"
	"  for i = 1, n do\n"
	"    local v = select(i, ...)\n"
	"    if type(v) == 'string' then t[#t + 1] = string.format('%q', v)\n"
	"    else t[#t + 1] = (math.type(v) or type(v)) .. ':' .. tostring(v) end\n"
	"  end\n"
	"  return table.concat(t, ' ')\n"
	"end\n"
	"local function call(lib, kind, s, p, a, b)\n"
	"  if kind == 'find' then return ser(pcall(lib.find, s, p, a, b))\n"
	"  elseif kind == 'match' then return ser(pcall(lib.match, s, p, a))\n"
	"  elseif kind == 'gmatch' then\n"
	"    return ser(pcall(function()\n"
	"      local out, it = {}, lib.gmatch(s, p, a)\n"
	"      for _ = 1, 64 do\n"
	"        local r = ser(it())\n"
	"        out[#out + 1] = r\n"
	"        if r == '0' then break end\n"
	"      end\n"
	"      return table.concat(out, '; ')\n"
	"    end))\n"
	"  else return ser(pcall(lib.gsub, s, p, repls[a], b)) end\n"
	"end\n"
	"return function(kind, s, p, a, b)\n"
	"  local x, y = call(orig, kind, s, p, a, b), call(bud, kind, s, p, a, b)\n"
	"  return x == y, x, y\n"
	"end\n";

static void die(lua_State *L, const char *what)
{
	fprintf(stderr, "%s: %s\n", what, lua_tostring(L, -1));
	exit(2);
}

static void dostring(lua_State *L, const char *code, int nargs, int nres)
{
	if (luaL_loadbuffer(L, code, strlen(code), "=driver") != LUA_OK)
		die(L, "load");
	lua_insert(L, -1 - nargs);
	if (lua_pcall(L, nargs, nres, 0) != LUA_OK)
		die(L, "run");
}

/* --- the corpus: the budgeted copy against string.* --------------------------------- */

enum { NONE = 0x7fff };

/* Run compare(kind, s, p, a, b) (NONE leaves a or b out as nil); on a difference record
 * it in *first_diff (once) and return 0. */
static int compare(lua_State *L, int cmp, const char *kind, const struct str *s,
                   const struct str *p, lua_Integer a, int a_nil, int b_kind, lua_Integer b,
                   char *first_diff, size_t difflen)
{
	lua_pushvalue(L, cmp);
	lua_pushstring(L, kind);
	lua_pushlstring(L, s->s, s->len);
	lua_pushlstring(L, p->s, p->len);
	if (a_nil)
		lua_pushnil(L);
	else
		lua_pushinteger(L, a);
	if (b_kind == 0)
		lua_pushnil(L);
	else if (b_kind == 1)
		lua_pushinteger(L, b);
	else
		lua_pushboolean(L, 1);
	if (lua_pcall(L, 5, 3, 0) != LUA_OK)
		die(L, "compare");
	int same = lua_toboolean(L, -3);
	if (!same && first_diff[0] == '\0')
		snprintf(first_diff, difflen, "%s a=%s%lld b=%lld\n    string.%s: %s\n    budgeted: %s",
		         kind, a_nil ? "nil/" : "", (long long)a, (long long)b, kind,
		         lua_tostring(L, -2), lua_tostring(L, -1));
	lua_pop(L, 3);
	return same;
}

static void test_corpus(void)
{
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	struct imei_budget budget = { 1000000000000LL, 0 };

	/* driver(string, copy, repls) */
	lua_getglobal(L, "string");
	lua_newtable(L);
	lua_getglobal(L, "string");
	lua_pushnil(L);
	while (lua_next(L, -2)) { /* copy every field, then replace the four */
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_settable(L, -5);
	}
	lua_pop(L, 1);
	imei_sandbox_patterns_install(L, -1, &budget);
	lua_newtable(L);
	for (size_t i = 0; i < sizeof repls / sizeof *repls; i++) {
		char code[256];
		snprintf(code, sizeof code, "return %s", repls[i]);
		dostring(L, code, 0, 1);
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	dostring(L, driver, 3, 1);
	int cmp = lua_gettop(L);

	size_t cases = 0;
	for (size_t i = 0; i < sizeof subjects / sizeof *subjects; i++) {
		for (size_t j = 0; j < sizeof patterns / sizeof *patterns; j++) {
			const struct str *s = &subjects[i], *p = &patterns[j];
			lua_Integer n = (lua_Integer)s->len;
			const lua_Integer inits[] = { NONE, 1, 2, 3, 0, -1, -2, -3, n, n + 1, n + 2,
			                              -n, -n - 1, 100, -100, LUA_MININTEGER,
			                              LUA_MAXINTEGER };
			char diff[2048] = "";
			int ok = 1;
			for (size_t k = 0; k < sizeof inits / sizeof *inits; k++) {
				lua_Integer a = inits[k];
				int a_nil = a == NONE;
				ok &= compare(L, cmp, "find", s, p, a, a_nil, 0, 0, diff, sizeof diff);
				ok &= compare(L, cmp, "find", s, p, a, a_nil, 2, 0, diff, sizeof diff);
				ok &= compare(L, cmp, "match", s, p, a, a_nil, 0, 0, diff, sizeof diff);
				ok &= compare(L, cmp, "gmatch", s, p, a, a_nil, 0, 0, diff, sizeof diff);
				cases += 4;
			}
			for (size_t r = 1; r <= sizeof repls / sizeof *repls; r++) {
				ok &= compare(L, cmp, "gsub", s, p, (lua_Integer)r, 0, 0, 0, diff, sizeof diff);
				cases++;
			}
			const lua_Integer maxes[] = { 0, 1, 2, -1, LUA_MININTEGER };
			for (size_t m = 0; m < sizeof maxes / sizeof *maxes; m++) {
				ok &= compare(L, cmp, "gsub", s, p, 2, 0, 1, maxes[m], diff, sizeof diff);
				cases++;
			}
			if (!ok)
				fprintf(stderr, "subject %zu, pattern %zu (\"%.*s\"): %s\n", i, j, (int)p->len,
				        p->s, diff);
			CHECK(ok);
		}
	}
	CHECK(cases > 300000);
	CHECK(budget.exceeded == 0);
	CHECK(budget.remaining < 1000000000000LL);
	lua_close(L);
}

/* --- errors that name the function: budgeted versions in the real string table ------ */

/* Each snippet runs in a state with the real string library and in one whose string
 * table (so also the string metatable's __index) has the budgeted functions; the
 * serialised outcomes must be the same, argument errors and method calls included. */
static const char *snippets[] = {
	"return string.find(nil, 'x')",
	"return string.find('x')",
	"return ('x'):find({})",
	"return ('abc'):find('b', 2.5)",
	"return ('abc'):find('b', '2')",
	"return ('abc'):find('b', '2.0')",
	"return ('abc'):find('b', 'z')",
	"return string.match(12345, 3)",
	"return string.match(1.5, '%.')",
	"return ('x'):match()",
	"return string.gmatch('abc')",
	"return string.gsub('x', 'x', true)",
	"return string.gsub('x', 'x')",
	"return string.gsub('abc', '%w', '%1', 1.5)",
	"return string.gsub('abc', '%w', '%2')",
	"return string.gsub('abc', '(%w)', function(c) return {} end)",
	"return ('hello world'):gsub('o', {o = 0})",
	"return ('x = 1, y = 2'):gsub('(%w+) = (%w+)', '%2 = %1')",
	("local t = {} for k, v in ('a=1, b=2'):gmatch('(%w+)=(%w+)') do t[#t+1] = k .. v end"
	 " return table.concat(t, ',')"),
	"local t = {} for w in string.gmatch('one two', '%a+') do t[#t+1] = w end return #t",
	"for w in ('abc'):gmatch('(') do end",
	"for w in ('abc'):gmatch('%') do end",
	"return ('abc'):find('[a')",
	"return ('abc'):gsub('%f', 'x')",
	"return select('#', ('abc'):find('b', 1, true))",
	"return pcall(string.find, 'abc', '(')",
	"return pcall(string.gsub, 'abc', '.', '%x')",
	"return string.find(('a'):rep(300), ('a?'):rep(300))",
	"return string.match('x', ('()'):rep(33))",
	"return string.match('x', ('()'):rep(32))",
	"return string.gsub('hello', '', '-')",
	"return string.gsub('abc', '.', {a = 1, b = true})",
	"local s = string.rep('ab', 3) return s:gsub('b', '%%')",
	"return tostring(string.find == ('').find)",
};

static const char ser_code[] =
	"local f = ...\n"
	"local function ser(...)\n"
	"  local t = { tostring(select('#', ...)) }\n"
	"  for i = 1, select('#', ...) do\n"
	"    local v = select(i, ...)\n"
	"    t[#t + 1] = (math.type(v) or type(v)) .. ':' .. tostring(v)\n"
	"  end\n"
	"  return table.concat(t, ' ')\n"
	"end\n"
	"return ser(pcall(f))\n";

static char *run_snippet(lua_State *L, const char *code)
{
	if (luaL_loadbuffer(L, code, strlen(code), "=snippet") != LUA_OK)
		die(L, "load snippet");
	dostring(L, ser_code, 1, 1);
	char *out = strdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	return out;
}

static void test_real_table(void)
{
	lua_State *plain = luaL_newstate(), *sand = luaL_newstate();
	struct imei_budget budget = { 1000000000LL, 0 };
	luaL_openlibs(plain);
	luaL_openlibs(sand);
	lua_getglobal(sand, "string");
	imei_sandbox_patterns_install(sand, -1, &budget);
	lua_pop(sand, 1);
	for (size_t i = 0; i < sizeof snippets / sizeof *snippets; i++) {
		char *want = run_snippet(plain, snippets[i]);
		char *got = run_snippet(sand, snippets[i]);
		if (strcmp(got, want) != 0)
			fprintf(stderr, "snippet %s\n", snippets[i]);
		CHECK_STR(got, want);
		free(want);
		free(got);
	}
	CHECK(budget.remaining < 1000000000LL);
	lua_close(plain);
	lua_close(sand);
}

/* --- the budget --------------------------------------------------------------------- */

struct bstate {
	lua_State *L;
	struct imei_budget budget;
};

static void bstate_open(struct bstate *b)
{
	b->L = luaL_newstate();
	luaL_openlibs(b->L);
	b->budget.remaining = 0;
	b->budget.exceeded = 0;
	/* global B: the budgeted functions */
	lua_newtable(b->L);
	imei_sandbox_patterns_install(b->L, -1, &b->budget);
	lua_setglobal(b->L, "B");
}

/* Run code with the budget set to steps; return the Lua status, the message (or the
 * first result as a string) in msg. */
static int bstate_run(struct bstate *b, long long steps, const char *code, char *msg, size_t len)
{
	b->budget.remaining = steps;
	b->budget.exceeded = 0;
	if (luaL_loadbuffer(b->L, code, strlen(code), "=case") != LUA_OK)
		die(b->L, "load case");
	int status = lua_pcall(b->L, 0, 1, 0);
	const char *m = lua_tostring(b->L, -1);
	snprintf(msg, len, "%s", m ? m : "(not a string)");
	lua_pop(b->L, 1);
	return status;
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* Hostile patterns: each would run for minutes or hours unbudgeted; with a budget of
 * 10^7 steps each must end with the budget error and an exceeded budget. */
static const char *catastrophic[] = {
	"local s = ('a'):rep(1e5) return B.find(s, ('.-'):rep(10) .. 'b')",
	"local s = ('a'):rep(30000) return B.find(s, '.-.-.-.-.-b')",
	"local s = ('a'):rep(1e5) return B.match(s, ('a*'):rep(20) .. 'b')",
	"local s = ('a'):rep(1e5) return B.match(s, '^' .. ('a?'):rep(100) .. ('a*'):rep(40) .. 'b')",
	"local s = ('a'):rep(1e5) return B.gsub(s, '.-.-.-b', '')",
	"local s = ('a'):rep(1e5) for x in B.gmatch(s, '.-.-.-b') do end",
	"local s = ('a'):rep(1e5) for x in B.gmatch(s, ('a*'):rep(10) .. 'b') do end",
	/* quadratic work hidden in one step of the original accounting */
	"local s = ('('):rep(2e5) return B.find(s, '%b()')",
	"local s = ('a'):rep(2e5) return B.find(s, '(.*)%1x')",
	"local s = ('a'):rep(1e6) return B.find(s, ('a'):rep(5e5) .. 'b', 1, true)",
	"local s = ('a'):rep(1e6) return B.find(s, ('a'):rep(5e5) .. 'b')",
	"local s = ('a'):rep(1e5) return B.find(s, '[' .. ('b'):rep(1e6) .. ']')",
	"local s = ('a'):rep(1e5) return B.find(s, '[' .. ('a'):rep(1e6) .. ']*c')",
	"local s = ('a'):rep(1e5) return B.find(s, '%f[' .. ('b'):rep(1e6) .. ']')",
	"return B.gsub(('x'):rep(1e4), '(x?)', ('%1'):rep(1e5))",
	"return B.gsub(('x'):rep(1e5), '', ('%%'):rep(1e4))",
};

static void test_catastrophic(void)
{
	struct bstate b;
	bstate_open(&b);
	for (size_t i = 0; i < sizeof catastrophic / sizeof *catastrophic; i++) {
		char msg[256];
		int status = bstate_run(&b, 10000000, catastrophic[i], msg, sizeof msg);
		if (status == LUA_OK || !ends_with(msg, BUDGET_MSG))
			fprintf(stderr, "catastrophic case %zu: %s\n", i, msg);
		CHECK(status != LUA_OK);
		CHECK(ends_with(msg, BUDGET_MSG));
		CHECK_INT(b.budget.exceeded, 1);
		CHECK(b.budget.remaining <= 0);
	}
	lua_close(b.L);
}

/* A call that needs k steps with an ample budget succeeds with k + 1 and fails with k:
 * the budget counts exactly, and raises when it reaches zero. */
static void test_exact_accounting(void)
{
	static const char *calls[] = {
		"return B.find('hello world', 'o w')",
		"return B.find('hello world', 'o%sw')",
		"return B.match('358240051111110', '^35%d%d%d%d%d%d$')",
		"return B.match('358240051111110', '^35%d%d%d%d%d%d')",
		"return B.match('  key = value  ', '^%s*(%w+)%s*=%s*(%w+)%s*$')",
		"return B.gsub('a b c', '%s', '_')",
		"return B.gsub('a b c', '(%w)', '%1%1')",
		"local n = 0 for w in B.gmatch('one two three', '%a+') do n = n + 1 end return n",
		"return B.find('(a(b)c)', '%b()')",
		"return B.find('abcabc', '(abc)%1')",
	};
	struct bstate b;
	bstate_open(&b);
	for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
		char want[256], msg[256];
		long long ample = 1000000;
		CHECK_INT(bstate_run(&b, ample, calls[i], want, sizeof want), LUA_OK);
		long long k = ample - b.budget.remaining;
		CHECK(k > 0);
		CHECK_INT(bstate_run(&b, k + 1, calls[i], msg, sizeof msg), LUA_OK);
		CHECK_STR(msg, want);
		CHECK_INT(b.budget.remaining, 1);
		CHECK_INT(b.budget.exceeded, 0);
		CHECK(bstate_run(&b, k, calls[i], msg, sizeof msg) != LUA_OK);
		CHECK(ends_with(msg, BUDGET_MSG));
		CHECK_INT(b.budget.exceeded, 1);
		CHECK_INT(b.budget.remaining, 0);
	}
	lua_close(b.L);
}

/* Once exceeded, every call raises at once, whatever catches the error. */
static void test_not_swallowed(void)
{
	static const char *cases[] = {
		/* caught by pcall, then a trivial match */
		"pcall(B.find, ('a'):rep(1e5), ('.-'):rep(10) .. 'b') return B.find('a', 'a')",
		"pcall(B.find, ('a'):rep(1e5), ('.-'):rep(10) .. 'b') return B.match('a', '.')",
		"pcall(B.find, ('a'):rep(1e5), ('.-'):rep(10) .. 'b') return B.gsub('a', '', '')",
		"pcall(B.find, ('a'):rep(1e5), ('.-'):rep(10) .. 'b') return B.gmatch('a', '.')",
		/* an iterator made before the budget ran out */
		("local it = B.gmatch('abc', '.') it()"
		 " pcall(B.find, ('a'):rep(1e5), ('.-'):rep(10) .. 'b') return it()"),
		/* a gsub callback that swallows the error: the next iteration raises */
		("return B.gsub('abc', '.', function(c)"
		 " pcall(B.find, ('a'):rep(1e5), ('.-'):rep(10) .. 'b') return c end)"),
		/* an error inside the callback of a table replacement's __index */
		("local t = setmetatable({}, {__index = function(_, k)"
		 " pcall(B.match, ('a'):rep(1e5), ('.-'):rep(10) .. 'b') return k end})"
		 " return B.gsub('abc', '.', t)"),
		/* a coroutine: the budget is shared */
		("local co = coroutine.wrap(function() pcall(B.find, ('a'):rep(1e5),"
		 " ('.-'):rep(10) .. 'b') coroutine.yield(1) return B.find('a', 'a') end)"
		 " co() return co()"),
	};
	struct bstate b;
	bstate_open(&b);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char msg[256];
		int status = bstate_run(&b, 1000000, cases[i], msg, sizeof msg);
		if (status == LUA_OK || !ends_with(msg, BUDGET_MSG))
			fprintf(stderr, "swallow case %zu: %s\n", i, msg);
		CHECK(status != LUA_OK);
		CHECK(ends_with(msg, BUDGET_MSG));
		CHECK_INT(b.budget.exceeded, 1);
	}

	/* exceeded set on entry: raise at once, leave remaining alone */
	char msg[256];
	b.budget.remaining = 1000;
	b.budget.exceeded = 1;
	lua_getglobal(b.L, "B");
	lua_getfield(b.L, -1, "find");
	lua_pushstring(b.L, "a");
	lua_pushstring(b.L, "a");
	CHECK(lua_pcall(b.L, 2, 1, 0) != LUA_OK);
	CHECK_STR(lua_tostring(b.L, -1), BUDGET_MSG);
	CHECK_INT(b.budget.remaining, 1000);
	lua_pop(b.L, 2);

	/* re-armed by the host: works again */
	CHECK_INT(bstate_run(&b, 1000, "return (B.find('abc', 'b'))", msg, sizeof msg), LUA_OK);
	CHECK_STR(msg, "2");
	/* an empty budget raises even for work that costs nothing */
	CHECK(bstate_run(&b, 0, "return B.find('abc', 'b', 10)", msg, sizeof msg) != LUA_OK);
	CHECK(ends_with(msg, BUDGET_MSG));
	CHECK_INT(b.budget.exceeded, 1);
	lua_close(b.L);
}

/* The recursion cap of the original still holds (C stack safety), and a deep but
 * legal pattern within it still matches. */
static void test_matchdepth(void)
{
	struct bstate b;
	char msg[256];
	bstate_open(&b);
	CHECK(bstate_run(&b, 1000000, "return B.match(('a'):rep(300), ('a?'):rep(300))", msg,
	                 sizeof msg) != LUA_OK);
	CHECK(ends_with(msg, "pattern too complex"));
	CHECK_INT(b.budget.exceeded, 0);
	CHECK_INT(bstate_run(&b, 1000000, "return #B.match(('a'):rep(150), ('a?'):rep(150))", msg,
	                     sizeof msg), LUA_OK);
	CHECK_STR(msg, "150");
	lua_close(b.L);
}

/* The anchored variant keeps a userdata budget alive through the functions and a
 * gmatch iterator that outlives them. */
static void test_anchored(void)
{
	lua_State *L = luaL_newstate();
	luaL_openlibs(L);
	struct imei_budget *b = (struct imei_budget *)lua_newuserdatauv(L, sizeof *b, 0);
	b->remaining = 100000;
	b->exceeded = 0;
	lua_newtable(L);
	imei_sandbox_patterns_install_anchored(L, -1, b, -2);
	lua_getfield(L, -1, "gmatch");
	lua_pushstring(L, "one two three");
	lua_pushstring(L, "%a+");
	lua_call(L, 2, 1); /* the iterator */
	lua_replace(L, 1); /* drop the userdata and the table: only the iterator holds it */
	lua_settop(L, 1);
	lua_gc(L, LUA_GCCOLLECT);
	lua_gc(L, LUA_GCCOLLECT);
	const char *words[] = { "one", "two", "three" };
	for (int i = 0; i < 3; i++) {
		lua_pushvalue(L, 1);
		lua_call(L, 0, 1);
		CHECK_STR(lua_tostring(L, -1), words[i]);
		lua_pop(L, 1);
	}
	lua_pushvalue(L, 1);
	lua_call(L, 0, 1);
	CHECK(lua_isnil(L, -1));
	lua_close(L);
}

int main(void)
{
	test_corpus();
	test_real_table();
	test_catastrophic();
	test_exact_accounting();
	test_not_swallowed();
	test_matchdepth();
	test_anchored();
	return CHECK_DONE("sandbox_patterns");
}
