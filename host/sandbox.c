/*
 * sandbox.c — the policy sandbox (see imei_sandbox.h; docs/sandbox.md).
 *
 * Containment, and how each part holds (the full table is in docs/sandbox.md):
 *  - memory: the state's allocator refuses to grow past the cap; Lua turns that into a
 *    "not enough memory" error, and the state stays usable after it. Small blocks come
 *    from per-class slabs that are given back once empty, so memory one size class
 *    used is there for the others afterwards.
 *  - work: a count hook charges the budget every HOOK_EVERY instructions. Once spent, it
 *    re-arms itself to fire on every instruction of whichever coroutine runs, so a pcall
 *    that catches the error cannot go on: the very next instruction raises again. New
 *    coroutines inherit the hook, and the budget is one counter for all of them.
 *  - C functions that do bulk work charge the same budget for it before they do it
 *    (sandbox_patterns.c, sandbox_lib.c), and so does every large allocation.
 *  - time: the coarse clock is read when a call starts, at each hook and after every
 *    LOOK_EVERY units charged from C; when it says the deadline has passed, the thread's
 *    CPU clock confirms it (a busy machine does not fail a check), and the call stops as
 *    when the budget is spent. When the instructions between two looks were slow (bulk work the
 *    budget underprices), the hook fires on every instruction for the rest of the call.
 *  - finalizers: setmetatable refuses a metatable with __gc, so no policy code runs at
 *    collection time, outside any budget; the shared objects' __close does nothing.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "imei_lua.h"
#include "imei_sandbox.h"

#define HOOK_EVERY 1000
#define LOOK_EVERY 20000           /* units charged from C between two looks at the clock */
#define LARGE_LOOK ((size_t)1 << 18) /* an allocation this large looks at the clock */
#define MEMORY_STRIKES 16          /* refusals at the cap in one call before it is stopped */

/* The collector: generational, with a minor collection each time the heap has grown by
 * GC_MINOR_MUL % since the last one (Lua's default is 20 %, 1 % the least it takes). A
 * check leaves ~1.7 KB of garbage (example-country policy) and a policy state holds 4 to
 * 10 MB, so at 20 % a minor collection came every few hundred checks and swept ~1 MB at
 * once: a pause of about 1 ms (~1 us per KB), the p99.9 of a check. At 1 % it comes every
 * few dozen checks and sweeps 1/20 as much, so the pause is 50-200 us (it moves into the
 * p99 instead), and the total work is no larger: it is proportional to the garbage, the
 * same either way (bench/engine_bench.c). A major (full) collection still runs when the heap has
 * doubled since the last one (GC_MAJOR_MUL, Lua's default): a pause of ~1 ms per MB of
 * state, so nothing a check does should leave old garbage behind (objects that outlived
 * two minor collections and then were dropped). The TAC record cache evicting records did
 * (host/engine.c, TACDB_CACHE_SHARE). Incremental mode in small steps was measured too:
 * no major pauses, but 15-30 % fewer checks per CPU second. The memory cap is the
 * allocator's and does not depend on the collector's pace. */
#define GC_MINOR_MUL 1
#define GC_MAJOR_MUL 100

/* Small blocks (up to POOL_MAX bytes: most of a check's allocations, tables, short
 * strings, closures) come from slabs: 64 KiB chunks, aligned on their size, each
 * serving one 16-byte class and keeping its own free list and count of blocks in use. A slab whose last block is
 * freed goes back to malloc unless it is its class's only slab with room, so memory
 * moves between classes (a check that filled the cap with one class does not starve
 * the others afterwards). Larger blocks come from malloc. The cap counts slabs and large
 * blocks. Under AddressSanitizer the pool is off, so use-after-free in the Lua heap
 * stays visible. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_MAX 0
#endif
#endif
#ifndef POOL_MAX
#define POOL_MAX 512
#endif
#define POOL_STEP 16
#define POOL_CLASSES (512 / POOL_STEP)
/* Blocks larger than this are charged to the budget (alloc_charge), pooled or not. A
 * device record's hash (16 nodes, 384 bytes) is pooled: one per check. */
#define CHARGE_ABOVE 256
#define POOL_CHUNK ((size_t)64 << 10)

struct slab {
	struct slab *prev, *next; /* in its class's list of slabs with room */
	void *free;               /* freed blocks, linked through their first word */
	char *bump, *end;         /* the never-used tail */
	size_t live;              /* blocks handed out */
	bool listed;
};
#define SLAB_HEAD ((sizeof(struct slab) + POOL_STEP - 1) / POOL_STEP * POOL_STEP)

struct log_line {
	size_t len;
	char text[IMEI_SANDBOX_LOG_LINE];
};

struct imei_sandbox {
	lua_State *L;
	size_t used, limit;
	struct imei_budget budget;
	long long check_budget, load_budget;
	long long check_deadline_ns, load_deadline_ns;
	int armed;
	/* the running call */
	enum imei_sandbox_stop stop;
	long long deadline_ns, t_start, t_last, longest_gap, since_look;
	long long cpu_start; /* the thread's CPU clock at the call's start, 0 until the first look */
	int period;       /* the hook's count for this call: HOOK_EVERY, or 1 once slow */
	int strikes;      /* refusals at the memory cap */
	struct slab *avail[POOL_CLASSES]; /* per class: slabs with room */
	size_t log_n, log_dropped;
	struct log_line log[IMEI_SANDBOX_LOG_LINES];
};

int imei_luaopen_core(lua_State *L);

/* The coarse monotonic clock: a few nanoseconds to read (CLOCK_MONOTONIC costs about
 * 100 ns on some virtual machines, the thread's CPU clock microseconds), ticking every
 * few milliseconds, which is fine against deadlines of tens of milliseconds. */
static long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void budget_hook(lua_State *L, lua_Debug *ar);

/* Stop the running call: every budgeted function raises from now on, and the main
 * thread's hook fires on its next instruction (a coroutine's at its next hook). */
static void stop_call(struct imei_sandbox *sb, enum imei_sandbox_stop why)
{
	if (sb->stop == IMEI_SANDBOX_OK)
		sb->stop = why;
	sb->budget.exceeded = 1;
	lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, 1);
}

/* Look at the clock: true once past the deadline. After a slow stretch (more than an
 * eighth of the deadline since the last look: instructions doing bulk work the budget
 * underprices, or the thread was descheduled) the hook looks 16 times as often; after a
 * quick one, half as often again, down to every HOOK_EVERY instructions. */
static bool past_deadline(struct imei_sandbox *sb)
{
	long long now = mono_ns(), gap = now - sb->t_last;
	if (gap > sb->longest_gap)
		sb->longest_gap = gap;
	if (!sb->cpu_start) { /* the first look of a long call: note the thread's CPU clock, as if
	                       * the call had had the CPU all along except for its longest gap
	                       * (forgiven below too; at the first look, the whole stretch) */
		long long ran = now - sb->t_start - sb->longest_gap;
		sb->cpu_start = (thread_cpu_ns() - (ran > 0 ? ran : 0)) | 1;
	}
	/* the longest gap between two looks is forgiven: one stall (the thread descheduled on
	 * a loaded machine, a lock held by a descheduled thread) is not the policy's doing;
	 * steady slowness is */
	if (now - sb->t_start - sb->longest_gap > sb->deadline_ns) {
		/* past in wall time, but was it this thread's work? (microseconds to ask on some
		 * machines, so only now) If not, move the start so that wall time tracks the
		 * CPU time again. */
		long long cpu = thread_cpu_ns() - sb->cpu_start;
		if (cpu > sb->deadline_ns)
			return true;
		sb->t_start = now - cpu;
		sb->longest_gap = 0;
	}
	if (gap > sb->deadline_ns / 8)
		sb->period = sb->period > 16 ? sb->period / 16 : 1;
	else if (sb->period < HOOK_EVERY)
		sb->period = sb->period * 2 < HOOK_EVERY ? sb->period * 2 : HOOK_EVERY;
	sb->t_last = now;
	return false;
}

/* Work done inside the allocator: large blocks are charged (about one unit per 32 bytes
 * written), and a large one looks at the clock. Never raises; stops the call instead. */
static void alloc_charge(struct imei_sandbox *sb, size_t bytes)
{
	if (!sb->armed || sb->stop)
		return;
	sb->budget.remaining -= (long long)(bytes >> 5);
	if (sb->budget.remaining <= 0)
		stop_call(sb, IMEI_SANDBOX_BUDGET);
	else if (bytes >= LARGE_LOOK && past_deadline(sb))
		stop_call(sb, IMEI_SANDBOX_DEADLINE);
}

/* The cap refused a block: after MEMORY_STRIKES refusals in one call (a policy catching
 * "not enough memory" and trying again), or past the deadline, the call is stopped. */
static void alloc_refused(struct imei_sandbox *sb)
{
	if (!sb->armed || sb->stop)
		return;
	if (++sb->strikes >= MEMORY_STRIKES)
		stop_call(sb, IMEI_SANDBOX_MEMORY);
	else if (past_deadline(sb))
		stop_call(sb, IMEI_SANDBOX_DEADLINE);
}

static size_t pool_class(size_t n)
{
	return (n + POOL_STEP - 1) / POOL_STEP - 1;
}

static void slab_list(struct imei_sandbox *sb, struct slab *s, size_t c)
{
	s->prev = NULL;
	s->next = sb->avail[c];
	if (s->next)
		s->next->prev = s;
	sb->avail[c] = s;
	s->listed = true;
}

static void slab_unlist(struct imei_sandbox *sb, struct slab *s, size_t c)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		sb->avail[c] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
	s->listed = false;
}

/* A block of class c; force = ignore the cap (Lua requires that shrinking never fails). */
static void *pool_get(struct imei_sandbox *sb, size_t c, int force)
{
	size_t size = (c + 1) * POOL_STEP;
	struct slab *s = sb->avail[c];
	if (!s) {
		if (!force && sb->used + POOL_CHUNK > sb->limit) {
			alloc_refused(sb);
			return NULL;
		}
		s = aligned_alloc(POOL_CHUNK, POOL_CHUNK);
		if (!s)
			return NULL;
		memset(s, 0, sizeof *s);
		s->bump = (char *)s + SLAB_HEAD;
		s->end = (char *)s + POOL_CHUNK;
		sb->used += POOL_CHUNK;
		slab_list(sb, s, c);
	}
	void *p = s->free;
	if (p) {
		memcpy(&s->free, p, sizeof(void *));
	} else {
		p = s->bump;
		s->bump += size;
	}
	s->live++;
	if (!s->free && (size_t)(s->end - s->bump) < size)
		slab_unlist(sb, s, c);
	return p;
}

static void pool_put(struct imei_sandbox *sb, void *p, size_t c)
{
	struct slab *s = (struct slab *)((uintptr_t)p & ~(uintptr_t)(POOL_CHUNK - 1));
	memcpy(p, &s->free, sizeof(void *));
	s->free = p;
	s->live--;
	if (!s->listed) {
		slab_list(sb, s, c);
	} else if (s->live == 0 && (s->prev || s->next)) { /* empty, and not the class's only room */
		slab_unlist(sb, s, c);
		free(s);
		sb->used -= POOL_CHUNK;
	}
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
		if (nsize > old && sb->used - old + nsize > sb->limit) {
			alloc_refused(sb);
			return NULL;
		}
		void *p = realloc(ptr, nsize);
		if (!p)
			return nsize <= old ? ptr : NULL; /* a shrink must not fail: keep the block */
		sb->used = sb->used - old + nsize;
		if (nsize > old)
			alloc_charge(sb, nsize);
		return p;
	}
	int shrink = ptr && nsize <= old;
	void *p = NULL;
	if (new_small) {
		p = pool_get(sb, pool_class(nsize), shrink);
		if (p && nsize > CHARGE_ABOVE)
			alloc_charge(sb, nsize);
	} else if (sb->used + nsize > sb->limit) {
		alloc_refused(sb);
	} else if ((p = malloc(nsize)) != NULL) {
		sb->used += nsize;
		alloc_charge(sb, nsize);
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

static const char *stop_reason(enum imei_sandbox_stop why)
{
	switch (why) {
	case IMEI_SANDBOX_DEADLINE:
		return "time limit exceeded";
	case IMEI_SANDBOX_MEMORY:
		return "memory limit exceeded";
	default:
		return "instruction budget exceeded";
	}
}

static int raise_stop(lua_State *L, struct imei_sandbox *sb)
{
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	return luaL_error(L, "%s", stop_reason(sb->stop));
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
		if (sb->budget.remaining <= 0) {
			stop_call(sb, IMEI_SANDBOX_BUDGET);
		} else if (past_deadline(sb)) {
			stop_call(sb, IMEI_SANDBOX_DEADLINE);
		} else {
			if (every != sb->period) /* slow now, or a coroutine still on an earlier call's setting */
				lua_sethook(L, budget_hook, LUA_MASKCOUNT, sb->period);
			return;
		}
	}
	raise_stop(L, sb);
}

void imei_sandbox_charge(lua_State *L, long long n)
{
	struct imei_sandbox *sb = sandbox_of(L);
	if (!sb || !sb->armed)
		return;
	if (sb->budget.exceeded || (sb->budget.remaining -= n) <= 0) {
		stop_call(sb, IMEI_SANDBOX_BUDGET);
		raise_stop(L, sb);
	}
	if ((sb->since_look += n) >= LOOK_EVERY) {
		sb->since_look = 0;
		if (past_deadline(sb)) {
			stop_call(sb, IMEI_SANDBOX_DEADLINE);
			raise_stop(L, sb);
		}
	}
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

/* pcall_budget(f, ...) -> true, results… | false, message, kind ("error", "budget",
 * "deadline" or "memory"). Runs f in a protected call that may use at most half of what
 * remains of the current call's instruction budget and half of its remaining time, and
 * charges what it used to it. A sub-call that runs out (budget, time, the memory cap's
 * strikes) ends alone: the call is re-armed for its caller with the other half. The policy
 * runtime gives each condition its own protected call with this (docs/policies.md,
 * fail-safe verdicts); policy code never sees it. */
static int l_pcall_budget(lua_State *L)
{
	struct imei_sandbox *sb = sandbox_of(L);
	luaL_checktype(L, 1, LUA_TFUNCTION);
	int nargs = lua_gettop(L) - 1;
	if (!sb->armed || sb->stop != IMEI_SANDBOX_OK) { /* outside a budgeted call: a plain pcall */
		int st = lua_pcall(L, nargs, LUA_MULTRET, 0);
		if (st == LUA_OK) {
			lua_pushboolean(L, 1);
			lua_insert(L, 1);
			return lua_gettop(L);
		}
		lua_pushboolean(L, 0);
		lua_insert(L, -2);
		lua_pushstring(L, st == LUA_ERRMEM ? "memory" : "error");
		return 3;
	}
	/* called from the runtime's unhooked stretch (imei_sandbox_unhook): the sub-call runs hooked */
	bool unhooked = lua_gethookmask(L) == 0;
	if (unhooked)
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, sb->period);
	long long now = mono_ns();
	long long saved = sb->budget.remaining, share = saved / 2;
	long long saved_deadline = sb->deadline_ns, saved_start = sb->t_start, saved_gap = sb->longest_gap;
	long long saved_cpu = sb->cpu_start;
	long long time_left = saved_deadline - (now - saved_start - saved_gap);
	int saved_strikes = sb->strikes;
	sb->budget.remaining = share;
	sb->deadline_ns = time_left > 1 ? time_left / 2 : 1;
	sb->t_start = now;
	sb->longest_gap = 0;
	sb->cpu_start = 0; /* the sub-call's own CPU clock, from its first look */
	int st = lua_pcall(L, nargs, LUA_MULTRET, 0);
	enum imei_sandbox_stop stop = sb->stop;
	if (stop == IMEI_SANDBOX_OK && sb->budget.exceeded)
		stop = IMEI_SANDBOX_BUDGET; /* the pattern matcher spent the share: it marks only the budget */
	long long used = share - sb->budget.remaining;
	/* back to the caller's call: its clock, its budget less what was used (at most the share) */
	long long gap = sb->longest_gap;
	sb->deadline_ns = saved_deadline;
	sb->t_start = saved_start;
	sb->cpu_start = saved_cpu;
	sb->longest_gap = saved_gap > gap ? saved_gap : gap;
	sb->budget.remaining = saved - (stop != IMEI_SANDBOX_OK || used > share ? share : used);
	if (stop != IMEI_SANDBOX_OK) {
		sb->stop = IMEI_SANDBOX_OK;
		sb->budget.exceeded = 0;
		sb->strikes = saved_strikes;
		/* the caller keeps the other half of its time, even if one C operation ran past
		 * the share before the stop was seen (a check takes at most twice its limit) */
		long long later = mono_ns();
		sb->t_start = later - (saved_deadline - (time_left > 1 ? time_left / 2 : 1));
		sb->longest_gap = 0;
		sb->cpu_start = 0;
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, sb->period);
		if (L != sb->L)
			lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, sb->period);
	}
	if (unhooked && sb->stop == IMEI_SANDBOX_OK && !sb->budget.exceeded)
		lua_sethook(L, NULL, 0, 0); /* back to the caller's unhooked stretch */
	if (st == LUA_OK && stop == IMEI_SANDBOX_OK) {
		lua_pushboolean(L, 1);
		lua_insert(L, 1);
		return lua_gettop(L);
	}
	int err_idx = lua_gettop(L);
	if (st == LUA_ERRMEM || stop == IMEI_SANDBOX_MEMORY)
		lua_gc(L, LUA_GCCOLLECT, 0); /* room for the message */
	lua_pushboolean(L, 0);
	switch (stop) {
	case IMEI_SANDBOX_BUDGET:
		lua_pushfstring(L, "instruction budget exceeded (its share: %I)", (lua_Integer)share);
		lua_pushliteral(L, "budget");
		break;
	case IMEI_SANDBOX_DEADLINE:
		lua_pushfstring(L, "time limit exceeded (its share: %I us)", (lua_Integer)(time_left / 2000));
		lua_pushliteral(L, "deadline");
		break;
	case IMEI_SANDBOX_MEMORY:
		lua_pushfstring(L, "memory limit of %I MiB exceeded", (lua_Integer)(sb->limit >> 20));
		lua_pushliteral(L, "memory");
		break;
	default:
		if (st == LUA_ERRMEM) {
			lua_pushfstring(L, "memory limit of %I MiB exceeded", (lua_Integer)(sb->limit >> 20));
			lua_pushliteral(L, "memory");
		} else {
			if (lua_type(L, err_idx) == LUA_TSTRING) /* never a metamethod of a policy's error object */
				lua_pushvalue(L, err_idx);
			else
				lua_pushfstring(L, "policy raised a non-string error (a %s value)", luaL_typename(L, err_idx));
			lua_pushliteral(L, "error");
		}
	}
	return 3;
}

/* Lift the count hook for the rest of the current call, on the call's own thread, until
 * pcall_budget runs a sub-call (hooked) and lifts it again afterwards. The hook makes
 * every Lua instruction stop in the VM's hook path; the policy runtime's own code between
 * a check's start and its conditions' protected call (device record, evaluation set-up,
 * verdict) is bounded, runs no policy code and reads nothing a policy can change, so the
 * engine lifts the hook right before it calls that check (host/engine.c, when the
 * runtime marks its check check_unhooked: lua/imei/policy/runtime.lua). Policy code
 * always runs hooked: inside pcall_budget. A call being stopped keeps its hook, and a
 * stop from C (a charge, the allocator) hooks the thread again. */
void imei_sandbox_unhook(lua_State *L)
{
	struct imei_sandbox *sb = sandbox_of(L);
	if (sb && sb->armed && L == sb->L && sb->stop == IMEI_SANDBOX_OK && !sb->budget.exceeded)
		lua_sethook(L, NULL, 0, 0);
}

static int open_sandbox_module(lua_State *L)
{
	lua_createtable(L, 0, 1);
	lua_pushcfunction(L, l_pcall_budget);
	lua_setfield(L, -2, "pcall_budget");
	return 1;
}

/* print and log for the runtime: the arguments, as tostring shows them, joined by a
 * space, into the bounded buffer. Nothing is kept in the Lua heap. */
static int host_log(lua_State *L)
{
	struct imei_sandbox *sb = sandbox_of(L);
	char line[IMEI_SANDBOX_LOG_LINE];
	size_t len = 0;
	int n = lua_gettop(L);
	for (int i = 1; i <= n && len < sizeof line; i++) {
		size_t l;
		const char *s = luaL_tolstring(L, i, &l);
		if (i > 1)
			line[len++] = ' ';
		size_t room = sizeof line - len;
		memcpy(line + len, s, l < room ? l : room);
		len += l < room ? l : room;
		lua_pop(L, 1);
	}
	imei_sandbox_log(sb, line, len);
	return 0;
}

void imei_sandbox_log(struct imei_sandbox *sb, const char *line, size_t len)
{
	if (sb->log_n >= IMEI_SANDBOX_LOG_LINES) {
		sb->log_dropped++;
		return;
	}
	/* control characters as \xHH: a policy cannot forge lines in the host's log */
	struct log_line *out = &sb->log[sb->log_n++];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c >= 0x20 && c != 0x7f) {
			if (n + 1 > sizeof out->text)
				break;
			out->text[n++] = (char)c;
		} else {
			if (n + 4 > sizeof out->text)
				break;
			static const char hex[] = "0123456789abcdef";
			out->text[n++] = '\\';
			out->text[n++] = 'x';
			out->text[n++] = hex[c >> 4];
			out->text[n++] = hex[c & 15];
		}
	}
	out->len = n;
}

size_t imei_sandbox_log_drain(struct imei_sandbox *sb, void (*fn)(void *ud, const char *line, size_t len), void *ud)
{
	for (size_t i = 0; fn && i < sb->log_n; i++)
		fn(ud, sb->log[i].text, sb->log[i].len);
	size_t dropped = sb->log_dropped;
	sb->log_n = 0;
	sb->log_dropped = 0;
	return dropped;
}

/* Make the shared classes' metatables exist in this state now (they are made on first
 * use), so that imei_sandbox_seal_shared reaches them before any policy code runs. */
static void make_shared_classes(lua_State *L, int core)
{
	lua_getfield(L, core, "list_load_string");
	lua_pushliteral(L, "imei\n");
	lua_pushliteral(L, "sandbox");
	if (lua_pcall(L, 2, 0, 0) != LUA_OK)
		lua_pop(L, 1);
	lua_getfield(L, core, "lists_new");
	lua_newtable(L);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK)
		lua_pop(L, 1);
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
	sb->check_deadline_ns = (limits && limits->check_deadline_us ? limits->check_deadline_us : 50000) * 1000;
	sb->load_deadline_ns = (limits && limits->load_deadline_us ? limits->load_deadline_us : 2000000) * 1000;
	sb->L = lua_newstate(sandbox_alloc, sb);
	if (!sb->L) {
		snprintf(err, errlen, "out of memory creating the policy sandbox");
		free(sb);
		return NULL;
	}
	*(struct imei_sandbox **)lua_getextraspace(sb->L) = sb;
	lua_State *L = sb->L;
	lua_gc(L, LUA_GCGEN, GC_MINOR_MUL, GC_MAJOR_MUL);
	luaL_openlibs(L);
	luaL_requiref(L, "imei.core", imei_luaopen_core, 0);
	make_shared_classes(L, lua_gettop(L));
	lua_pop(L, 1);
	imei_sandbox_seal_shared(sb);
	/* the runtime takes this as its print and log, before the state is locked */
	lua_pushcfunction(L, host_log);
	lua_setglobal(L, "_IMEI_HOST_LOG");
	/* for the trusted runtime only: `require` is gone once the state is locked */
	luaL_requiref(L, "imei.sandbox", open_sandbox_module, 0);
	lua_pop(L, 1);
	return sb;
}

void imei_sandbox_free(struct imei_sandbox *sb)
{
	if (!sb)
		return;
	sb->armed = 0;
	lua_close(sb->L);
	for (size_t c = 0; c < POOL_CLASSES; c++) { /* every block is back: each slab is listed */
		while (sb->avail[c]) {
			struct slab *s = sb->avail[c];
			slab_unlist(sb, s, c);
			free(s);
		}
	}
	free(sb);
}

lua_State *imei_sandbox_state(struct imei_sandbox *sb)
{
	return sb->L;
}

static int do_nothing(lua_State *L)
{
	(void)L;
	return 0;
}

void imei_sandbox_seal_shared(struct imei_sandbox *sb)
{
	lua_State *L = sb->L;
	static const char *const classes[] = { "imei.list", "imei.lists", "imei.tacdb", "imei.sightings.store", NULL };
	for (int i = 0; classes[i]; i++) {
		if (luaL_getmetatable(L, classes[i]) == LUA_TTABLE) {
			lua_pushcfunction(L, do_nothing); /* `local x <close> = lists.stolen` closes nothing */
			lua_setfield(L, -2, "__close");
			if (lua_getfield(L, -1, "__index") == LUA_TTABLE) {
				lua_pushnil(L);
				lua_setfield(L, -2, "close");
			}
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
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
	                                       "dofile", "collectgarbage", "_IMEI_HOST_LOG", NULL };
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
	imei_sandbox_lib_install(L);
	imei_sandbox_seal_shared(sb);
}

static int call_armed(struct imei_sandbox *sb, int nargs, int nresults, long long budget, long long deadline_ns,
                      char *err, size_t errlen);

int imei_sandbox_run(struct imei_sandbox *sb, int nargs, int nresults, enum imei_sandbox_phase phase, char *err,
                     size_t errlen)
{
	bool load = phase == IMEI_SANDBOX_LOAD;
	return call_armed(sb, nargs, nresults, load ? sb->load_budget : sb->check_budget,
	                  load ? sb->load_deadline_ns : sb->check_deadline_ns, err, errlen);
}

int imei_sandbox_call(struct imei_sandbox *sb, int nargs, int nresults, long long budget, char *err,
                      size_t errlen)
{
	return call_armed(sb, nargs, nresults, budget,
	                  budget >= sb->load_budget ? sb->load_deadline_ns : sb->check_deadline_ns, err, errlen);
}

static int call_armed(struct imei_sandbox *sb, int nargs, int nresults, long long budget, long long deadline_ns,
                      char *err, size_t errlen)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs;
	lua_pushcfunction(L, message_handler);
	lua_insert(L, base);
	sb->budget.remaining = budget;
	sb->budget.exceeded = 0;
	sb->stop = IMEI_SANDBOX_OK;
	sb->deadline_ns = deadline_ns;
	sb->period = HOOK_EVERY;
	sb->strikes = 0;
	sb->since_look = 0;
	sb->t_start = sb->t_last = mono_ns();
	sb->longest_gap = 0;
	sb->cpu_start = 0;
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
	if (sb->stop == IMEI_SANDBOX_DEADLINE)
		snprintf(err, errlen, "time limit of %lld ms exceeded", sb->deadline_ns / 1000000);
	else if (sb->stop == IMEI_SANDBOX_MEMORY || status == LUA_ERRMEM)
		snprintf(err, errlen, "memory limit of %zu MiB exceeded", sb->limit >> 20);
	else if (sb->budget.exceeded)
		snprintf(err, errlen, "instruction budget of %lld exceeded", budget);
	else if (status == LUA_ERRERR)
		snprintf(err, errlen, "C stack overflow: calls nested too deeply (recursion through metamethods, "
		                      "pcall, coroutines or C functions), then again while handling that error");
	else
		snprintf(err, errlen, "%s", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "unknown error");
	lua_pop(L, 1);
	lua_gc(L, LUA_GCCOLLECT, 0); /* give back what a failed call may have piled up */
	return status;
}

enum imei_sandbox_stop imei_sandbox_last_stop(const struct imei_sandbox *sb)
{
	return sb->stop;
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
