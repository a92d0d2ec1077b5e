/*
 * sandbox.c — the policy sandbox (see imei_sandbox.h; DESIGN.md §4).
 *
 * Containment, and how each part holds:
 *  - memory: the state's allocator refuses to grow past the cap; Lua turns that into a
 *    "not enough memory" error, and the state stays usable after it.
 *  - time: a count hook charges the budget every HOOK_EVERY instructions. Once spent, it
 *    re-arms itself to fire on every instruction of whichever coroutine runs, so a pcall
 *    that catches the error cannot go on: the very next instruction raises again. New
 *    coroutines inherit the hook, and the budget is one counter for all of them.
 *  - C functions that could run long on their own (pattern matching) charge the same
 *    budget (sandbox_patterns.c); the others are bounded by the memory cap.
 *  - finalizers: setmetatable refuses a metatable with __gc, so no policy code runs at
 *    collection time, outside any budget.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "imei_lua.h"
#include "imei_sandbox.h"

#define HOOK_EVERY 1000

/* Small blocks (most of a check's allocations: tables, short strings, closures) come
 * from per-sandbox free lists in 16-byte classes, carved from 64 KiB chunks; larger ones
 * from malloc. The cap counts chunks and large blocks. Under AddressSanitizer the pool
 * is off, so use-after-free in the Lua heap stays visible. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_MAX 0
#endif
#endif
#ifndef POOL_MAX
#define POOL_MAX 256
#endif
#define POOL_STEP 16
#define POOL_CLASSES (256 / POOL_STEP)
#define POOL_CHUNK ((size_t)64 << 10)

struct pool_chunk {
	struct pool_chunk *next;
	max_align_t align[]; /* the blocks */
};

struct imei_sandbox {
	lua_State *L;
	size_t used, limit;
	struct imei_budget budget;
	long long check_budget, load_budget;
	int armed;
	void *free_list[POOL_CLASSES]; /* per class: freed blocks, linked through their first word */
	struct pool_chunk *chunks;
	char *bump; /* the unused tail of the newest chunk */
	size_t bump_left;
};

int luaopen_imei_core(lua_State *L);

static size_t pool_class(size_t n)
{
	return (n + POOL_STEP - 1) / POOL_STEP - 1;
}

/* A block of class c; force = ignore the cap (Lua requires that shrinking never fails). */
static void *pool_get(struct imei_sandbox *sb, size_t c, int force)
{
	void *p = sb->free_list[c];
	if (p) {
		memcpy(&sb->free_list[c], p, sizeof(void *));
		return p;
	}
	size_t size = (c + 1) * POOL_STEP;
	if (sb->bump_left < size) {
		size_t bytes = sizeof(struct pool_chunk) + POOL_CHUNK;
		if (!force && sb->used + bytes > sb->limit)
			return NULL;
		struct pool_chunk *chunk = malloc(bytes);
		if (!chunk)
			return NULL;
		chunk->next = sb->chunks;
		sb->chunks = chunk;
		sb->used += bytes;
		sb->bump = (char *)chunk->align;
		sb->bump_left = POOL_CHUNK;
	}
	p = sb->bump;
	sb->bump += size;
	sb->bump_left -= size;
	return p;
}

static void pool_put(struct imei_sandbox *sb, void *p, size_t c)
{
	memcpy(p, &sb->free_list[c], sizeof(void *));
	sb->free_list[c] = p;
}

static void release(struct imei_sandbox *sb, void *p, size_t size)
{
	if (size <= POOL_MAX) {
		pool_put(sb, p, pool_class(size));
	} else {
		free(p);
		sb->used -= size;
	}
}

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct imei_sandbox *sb = ud;
	size_t old = ptr ? osize : 0;
	bool old_small = ptr && old <= POOL_MAX, new_small = nsize <= POOL_MAX;
	if (nsize == 0) {
		if (ptr)
			release(sb, ptr, old);
		return NULL;
	}
	if (old_small && new_small && pool_class(old) == pool_class(nsize))
		return ptr;
	if (ptr && !old_small && !new_small) { /* large to large */
		if (nsize > old && sb->used - old + nsize > sb->limit)
			return NULL;
		void *p = realloc(ptr, nsize);
		if (!p)
			return nsize <= old ? ptr : NULL; /* a shrink must not fail: keep the block */
		sb->used = sb->used - old + nsize;
		return p;
	}
	int shrink = ptr && nsize <= old;
	void *p = NULL;
	if (new_small) {
		p = pool_get(sb, pool_class(nsize), shrink);
	} else if (sb->used + nsize <= sb->limit && (p = malloc(nsize)) != NULL) {
		sb->used += nsize;
	}
	if (!p)
		return shrink ? ptr : NULL;
	if (ptr) {
		memcpy(p, ptr, old < nsize ? old : nsize);
		release(sb, ptr, old);
	}
	return p;
}

static struct imei_sandbox *sandbox_of(lua_State *L)
{
	return *(struct imei_sandbox **)lua_getextraspace(L);
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	struct imei_sandbox *sb = sandbox_of(L);
	if (!sb->armed)
		return;
	if (!sb->budget.exceeded) {
		int every = lua_gethookcount(L);
		sb->budget.remaining -= every;
		if (sb->budget.remaining > 0) {
			if (every != HOOK_EVERY) /* a coroutine still on the per-instruction hook of an earlier call */
				lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
			return;
		}
		sb->budget.exceeded = 1;
	}
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	luaL_error(L, "instruction budget exceeded");
}

/* setmetatable for policies: no __gc, so no code runs outside a budgeted call. */
static int safe_setmetatable(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	int t = lua_type(L, 2);
	luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
	if (t == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: __gc metamethods are not allowed in policies");
		lua_pop(L, 1);
	}
	if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
		return luaL_error(L, "cannot change a protected metatable");
	lua_settop(L, 2);
	lua_setmetatable(L, 1);
	return 1;
}

/* The message handler: keep string errors, describe the others by type only (calling a
 * hostile __tostring here would run outside the budget's reach of a pcall). */
static int message_handler(lua_State *L)
{
	if (lua_type(L, 1) == LUA_TSTRING)
		return 1;
	lua_pushfstring(L, "policy raised a non-string error (a %s value)", luaL_typename(L, 1));
	return 1;
}

struct imei_sandbox *imei_sandbox_new(const struct imei_sandbox_limits *limits, char *err, size_t errlen)
{
	struct imei_sandbox *sb = calloc(1, sizeof *sb);
	if (!sb) {
		snprintf(err, errlen, "out of memory creating the policy sandbox");
		return NULL;
	}
	sb->limit = limits && limits->memory ? limits->memory : (size_t)64 << 20;
	sb->check_budget = limits && limits->check_budget ? limits->check_budget : 1000000;
	sb->load_budget = limits && limits->load_budget ? limits->load_budget : 200000000;
	sb->L = lua_newstate(sandbox_alloc, sb);
	if (!sb->L) {
		snprintf(err, errlen, "out of memory creating the policy sandbox");
		free(sb);
		return NULL;
	}
	*(struct imei_sandbox **)lua_getextraspace(sb->L) = sb;
	lua_State *L = sb->L;
	lua_gc(L, LUA_GCGEN, 0, 0);
	luaL_openlibs(L);
	luaL_requiref(L, "imei.core", luaopen_imei_core, 0);
	lua_pop(L, 1);
	return sb;
}

void imei_sandbox_free(struct imei_sandbox *sb)
{
	if (!sb)
		return;
	sb->armed = 0;
	lua_close(sb->L);
	while (sb->chunks) {
		struct pool_chunk *next = sb->chunks->next;
		free(sb->chunks);
		sb->chunks = next;
	}
	free(sb);
}

lua_State *imei_sandbox_state(struct imei_sandbox *sb)
{
	return sb->L;
}

void imei_sandbox_lock(struct imei_sandbox *sb)
{
	lua_State *L = sb->L;
	/* the real string table: no dump, budgeted patterns */
	lua_getglobal(L, "string");
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	imei_sandbox_patterns_install(L, lua_gettop(L), &sb->budget);
	/* the string metatable: getmetatable("") answers "locked", setmetatable cannot reach it */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_pushliteral(L, "locked");
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
	lua_pushcfunction(L, safe_setmetatable);
	lua_setglobal(L, "setmetatable");
	static const char *const removed[] = { "io", "debug", "package", "require", "load", "loadfile",
	                                       "dofile", "collectgarbage", NULL };
	for (int i = 0; removed[i]; i++) {
		lua_pushnil(L);
		lua_setglobal(L, removed[i]);
	}
	/* os: only the clock and the calendar */
	lua_getglobal(L, "os");
	lua_createtable(L, 0, 3);
	static const char *const kept[] = { "time", "date", "clock", "difftime", NULL };
	for (int i = 0; kept[i]; i++) {
		lua_getfield(L, -2, kept[i]);
		lua_setfield(L, -2, kept[i]);
	}
	lua_setglobal(L, "os");
	lua_pop(L, 1);
}

int imei_sandbox_call(struct imei_sandbox *sb, int nargs, int nresults, long long budget, char *err,
                      size_t errlen)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, message_handler);
	lua_insert(L, base);
	sb->budget.remaining = budget;
	sb->budget.exceeded = 0;
	sb->armed = 1;
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
	int status = lua_pcall(L, nargs, nresults, base);
	sb->armed = 0;
	lua_sethook(L, NULL, 0, 0);
	lua_remove(L, base);
	if (status == LUA_OK && !sb->budget.exceeded)
		return LUA_OK;
	if (status == LUA_OK) { /* caught inside and yet finished: still a failure */
		lua_pop(L, nresults == LUA_MULTRET ? lua_gettop(L) - base + 1 : nresults);
		status = LUA_ERRRUN;
		lua_pushliteral(L, "");
	}
	if (status == LUA_ERRMEM)
		snprintf(err, errlen, "memory limit of %zu MiB exceeded", sb->limit >> 20);
	else if (sb->budget.exceeded)
		snprintf(err, errlen, "instruction budget of %lld exceeded", budget);
	else
		snprintf(err, errlen, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "unknown error");
	lua_pop(L, 1);
	lua_gc(L, LUA_GCCOLLECT, 0); /* give back what a failed call may have piled up */
	return status;
}

long long imei_sandbox_check_budget(const struct imei_sandbox *sb)
{
	return sb->check_budget;
}

long long imei_sandbox_load_budget(const struct imei_sandbox *sb)
{
	return sb->load_budget;
}

size_t imei_sandbox_memory_used(const struct imei_sandbox *sb)
{
	return sb->used;
}

size_t imei_sandbox_memory_limit(const struct imei_sandbox *sb)
{
	return sb->limit;
}
