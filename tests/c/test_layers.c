/*
 * test_layers.c — a policy cannot reach the host.
 *
 * The functions of the module imei.host (engine, replay, OS helpers such as mkdir,
 * durable_rename and signals_catch, the sandbox's test hook) are found as the C functions
 * of a state that opened imei.host and not of one that opened imei.core alone. Then the
 * whole lua_State of an engine's sandbox — every table, key, metatable, upvalue and user
 * value reachable from its registry and the string metatable, a superset of what the
 * policy's environment reaches — is searched: none of those functions may be in it, no
 * key may bear one of their names, and imei.host must not be loaded there. The search is
 * shown to work by finding the identifier functions the policy does get (imei.parse).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imei_engine.h"
#include "imei_lua_host.h"
#include "imei_sandbox.h"
#include <lualib.h>

#define LUA_PATH "lua/?.lua;lua/?/init.lua"
#define MAX_DEPTH 200

/* What one search found: the C functions and the string keys, and the objects seen. */
struct found {
	lua_CFunction *fns;
	size_t nfns, capfns;
	char **keys;
	size_t nkeys, capkeys;
	const void **seen; /* open addressing, capacity a power of two */
	size_t nseen, capseen;
	bool too_deep, oom;
};

static bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 256;
	void *g = realloc(*v, c * size);
	if (!g)
		return false;
	*v = g;
	*cap = c;
	return true;
}

static size_t slot_of(const void *p, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL;
	return (size_t)(h >> 17) & (cap - 1);
}

/* true the first time p is seen */
static bool first_visit(struct found *f, const void *p)
{
	if ((f->nseen + 1) * 2 > f->capseen) {
		size_t cap = f->capseen ? f->capseen * 2 : 1024;
		const void **s = calloc(cap, sizeof *s);
		if (!s) {
			f->oom = true;
			return false;
		}
		for (size_t i = 0; i < f->capseen; i++)
			if (f->seen[i]) {
				size_t j = slot_of(f->seen[i], cap);
				while (s[j])
					j = (j + 1) & (cap - 1);
				s[j] = f->seen[i];
			}
		free(f->seen);
		f->seen = s;
		f->capseen = cap;
	}
	size_t j = slot_of(p, f->capseen);
	for (; f->seen[j]; j = (j + 1) & (f->capseen - 1))
		if (f->seen[j] == p)
			return false;
	f->seen[j] = p;
	f->nseen++;
	return true;
}

static void add_fn(struct found *f, lua_CFunction fn)
{
	if (!grow((void **)&f->fns, &f->capfns, f->nfns, sizeof *f->fns)) {
		f->oom = true;
		return;
	}
	f->fns[f->nfns++] = fn;
}

static void add_key(struct found *f, const char *k)
{
	char *copy = strdup(k);
	if (!copy || !grow((void **)&f->keys, &f->capkeys, f->nkeys, sizeof *f->keys)) {
		free(copy);
		f->oom = true;
		return;
	}
	f->keys[f->nkeys++] = copy;
}

static bool has_fn(const struct found *f, lua_CFunction fn)
{
	for (size_t i = 0; i < f->nfns; i++)
		if (f->fns[i] == fn)
			return true;
	return false;
}

static bool has_key(const struct found *f, const char *k)
{
	for (size_t i = 0; i < f->nkeys; i++)
		if (strcmp(f->keys[i], k) == 0)
			return true;
	return false;
}

static void walk(lua_State *L, int idx, struct found *f, int depth);

static void walk_metatable(lua_State *L, int idx, struct found *f, int depth)
{
	if (lua_getmetatable(L, idx)) {
		walk(L, lua_gettop(L), f, depth + 1);
		lua_pop(L, 1);
	}
}

/* Everything reachable from the value at idx (an absolute index). */
static void walk(lua_State *L, int idx, struct found *f, int depth)
{
	if (depth > MAX_DEPTH) {
		f->too_deep = true;
		return;
	}
	if (!lua_checkstack(L, 8)) {
		f->oom = true;
		return;
	}
	switch (lua_type(L, idx)) {
	case LUA_TFUNCTION: {
		if (lua_iscfunction(L, idx))
			add_fn(f, lua_tocfunction(L, idx));
		const void *p = lua_topointer(L, idx);
		if (p && !first_visit(f, p))
			return;
		for (int n = 1; lua_getupvalue(L, idx, n); n++) {
			walk(L, lua_gettop(L), f, depth + 1);
			lua_pop(L, 1);
		}
		return;
	}
	case LUA_TTABLE:
		if (!first_visit(f, lua_topointer(L, idx)))
			return;
		lua_pushnil(L);
		while (lua_next(L, idx)) {
			int v = lua_gettop(L), k = v - 1;
			if (lua_type(L, k) == LUA_TSTRING)
				add_key(f, lua_tostring(L, k));
			else
				walk(L, k, f, depth + 1);
			walk(L, v, f, depth + 1);
			lua_pop(L, 1);
		}
		walk_metatable(L, idx, f, depth);
		return;
	case LUA_TUSERDATA:
		if (!first_visit(f, lua_topointer(L, idx)))
			return;
		walk_metatable(L, idx, f, depth);
		for (int n = 1; lua_getiuservalue(L, idx, n) != LUA_TNONE; n++) {
			walk(L, lua_gettop(L), f, depth + 1);
			lua_pop(L, 1);
		}
		lua_pop(L, 1); /* the LUA_TNONE that ended the loop pushed a nil */
		return;
	default:
		return;
	}
}

/* Search a whole state: its registry (globals, loaded modules, class metatables) and the
 * metatable of strings, which lives outside the registry. */
static void walk_state(lua_State *L, struct found *f)
{
	int top = lua_gettop(L);
	lua_pushvalue(L, LUA_REGISTRYINDEX);
	walk(L, lua_gettop(L), f, 0);
	lua_pushliteral(L, "");
	walk_metatable(L, lua_gettop(L), f, 0);
	lua_settop(L, top);
}

static void found_free(struct found *f)
{
	for (size_t i = 0; i < f->nkeys; i++)
		free(f->keys[i]);
	free(f->keys);
	free(f->fns);
	free(f->seen);
	memset(f, 0, sizeof *f);
}

/* The C functions and names that imei.host adds to what imei.core has. */
struct host_face {
	lua_CFunction *fns;
	size_t nfns;
	char **names; /* the module table's keys */
	size_t nnames;
	lua_CFunction parse; /* imei.core.parse, which a policy does get */
};

static void host_face(struct host_face *h)
{
	memset(h, 0, sizeof *h);
	struct found core = { 0 }, host = { 0 };

	lua_State *C = luaL_newstate();
	luaL_openlibs(C);
	luaL_requiref(C, "imei.core", imei_luaopen_core, 0);
	lua_getfield(C, -1, "parse");
	h->parse = lua_tocfunction(C, -1);
	lua_settop(C, 0);
	walk_state(C, &core);

	lua_State *H = luaL_newstate();
	luaL_openlibs(H);
	luaL_requiref(H, "imei.host", imei_luaopen_host, 0);
	int mod = lua_gettop(H);
	lua_pushnil(H);
	while (lua_next(H, mod)) {
		if (lua_type(H, -2) == LUA_TSTRING) {
			h->names = realloc(h->names, (h->nnames + 1) * sizeof *h->names);
			CHECK(h->names != NULL);
			if (h->names)
				h->names[h->nnames++] = strdup(lua_tostring(H, -2));
		}
		lua_pop(H, 1);
	}
	lua_settop(H, 0);
	walk_state(H, &host);
	CHECK(!core.oom && !host.oom && !core.too_deep && !host.too_deep);

	for (size_t i = 0; i < host.nfns; i++)
		if (!has_fn(&core, host.fns[i])) {
			h->fns = realloc(h->fns, (h->nfns + 1) * sizeof *h->fns);
			CHECK(h->fns != NULL);
			if (h->fns)
				h->fns[h->nfns++] = host.fns[i];
		}
	found_free(&core);
	found_free(&host);
	lua_close(C);
	lua_close(H);
}

static const char *policy_text =
	"local P = policy.new { name = 'layers', version = '1' }\n"
	"P:condition { name = 'bad', status = 'BLACKLISTED', when = function(d) return not d.valid end }\n"
	"return P\n";

int main(void)
{
	struct host_face h;
	host_face(&h);
	/* the search sees the host: its module's functions are there, and none is in imei.core */
	CHECK(h.nfns >= 20);
	CHECK(h.nnames >= 15);
	const char *must[] = { "engine_new", "replay_new", "mkdir", "durable_rename", "signals_catch", "lock_dir" };
	for (size_t i = 0; i < sizeof must / sizeof *must; i++) {
		bool named = false;
		for (size_t j = 0; j < h.nnames; j++)
			named |= strcmp(h.names[j], must[i]) == 0;
		CHECK(named);
	}
	CHECK(h.parse != NULL);

	char path[] = "/tmp/imei-test-layers-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	FILE *pf = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!pf)
		return 2;
	fputs(policy_text, pf);
	fclose(pf);

	struct imei_engine_config cfg = { 0 };
	char err[512];
	cfg.policy = path;
	cfg.lua_path = LUA_PATH;
	struct imei_engine *e = imei_engine_new(&cfg, err, sizeof err);
	if (!e)
		fprintf(stderr, "engine: %s\n", err);
	CHECK(e != NULL);
	if (e) {
		/* one check first, so whatever a check creates lazily is there too */
		struct imei_request req = { .pei = "490154203237518", .imsi = "001010000000001" };
		struct imei_verdict v = IMEI_VERDICT_INIT;
		CHECK_INT(imei_engine_check(e, &req, &v), 0);
		CHECK_INT(v.status, IMEI_STATUS_WHITELISTED);
		imei_verdict_release(&v);

		imei_engine_lock(e);
		lua_State *L = imei_sandbox_state(imei_engine_sandbox(e));
		struct found sb = { 0 };
		walk_state(L, &sb);
		CHECK(!sb.oom && !sb.too_deep);
		CHECK(has_fn(&sb, h.parse)); /* the search reaches what the policy is given */
		size_t reached = 0;
		for (size_t i = 0; i < h.nfns; i++)
			if (has_fn(&sb, h.fns[i])) {
				reached++;
				fprintf(stderr, "a host function (%p) is reachable in the policy's state\n",
				        (void *)(uintptr_t)h.fns[i]);
			}
		CHECK_INT(reached, 0);
		for (size_t i = 0; i < h.nnames; i++)
			if (has_key(&sb, h.names[i])) {
				fprintf(stderr, "a key '%s' (a name of imei.host) is in the policy's state\n", h.names[i]);
				CHECK(!has_key(&sb, h.names[i]));
			}
		lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
		lua_getfield(L, -1, "imei.host");
		CHECK(lua_isnil(L, -1));
		lua_pop(L, 2);
		found_free(&sb);
		imei_engine_unlock(e);
		imei_engine_free(e);
	}
	remove(path);
	for (size_t i = 0; i < h.nnames; i++)
		free(h.names[i]);
	free(h.names);
	free(h.fns);
	return CHECK_DONE("test_layers");
}
