/*
 * verdict.c — the verdict a policy returned, copied out of its sandbox (verdict.h).
 *
 * A verdict owns growable buffers (struct imei_verdict_buffers): one for its strings and
 * one for its reasons, kept from one check to the next so that a steady stream of checks
 * into the same struct allocates nothing. While a table is read, strings are recorded as
 * offsets (a buffer may move as it grows) and turned into pointers at the end. Reasons
 * are laid out v->reason_size bytes apart, as the caller's struct imei_reason is.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "verdict.h"

#define NO_STR SIZE_MAX

struct reason_off {
	size_t condition, text, block_date, overruled_by, error;
	int status; /* enum imei_status, or -1: the verdict's */
	bool informative, overruled, sticky, notify, failed;
};

struct imei_verdict_buffers {
	char *str;
	size_t str_used, str_cap;
	struct reason_off *offs;
	size_t offs_cap;
	unsigned char *reasons;
	size_t reasons_cap; /* bytes */
};

static size_t verdict_size(const struct imei_verdict *v)
{
	return v->size ? v->size : sizeof *v;
}

static size_t reason_size(const struct imei_verdict *v)
{
	return v->reason_size ? v->reason_size : sizeof(struct imei_reason);
}

/* Does the caller's struct have this field? */
#define HAS(v, field) (offsetof(struct imei_verdict, field) + sizeof((v)->field) <= verdict_size(v))

void imei_verdict_release(struct imei_verdict *v)
{
	if (!v)
		return;
	struct imei_verdict_buffers *b = HAS(v, buffers) ? v->buffers : NULL;
	if (b) {
		free(b->str);
		free(b->offs);
		free(b->reasons);
		free(b);
	}
	size_t size = verdict_size(v), rsize = reason_size(v);
	memset(v, 0, size);
	v->size = size;
	v->reason_size = rsize;
}

/* Layouts this library knows: today's (and 0, a zeroed struct). Anything else is a struct
 * the caller did not start with IMEI_VERDICT_INIT: start it afresh rather than trust its
 * pointers (its earlier buffers, if any, are the caller's leak, never a crash). A later
 * version adds the sizes of the layouts it still serves here. */
static void settle(struct imei_verdict *v)
{
	if (v->size != 0 && v->size != sizeof *v) {
		v->size = sizeof *v;
		v->reason_size = sizeof(struct imei_reason);
		v->buffers = NULL;
	}
	if (v->reason_size != 0 && (v->reason_size < offsetof(struct imei_reason, informative) + sizeof(bool) ||
	                            v->reason_size > sizeof(struct imei_reason))) {
		v->reason_size = sizeof(struct imei_reason);
		v->buffers = NULL;
	}
}

static struct imei_verdict_buffers *buffers_of(struct imei_verdict *v)
{
	settle(v);
	if (!HAS(v, buffers))
		return NULL;
	if (!v->buffers)
		v->buffers = calloc(1, sizeof *v->buffers);
	return v->buffers;
}

static bool grow(void **p, size_t *cap, size_t need, size_t unit)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 16;
	while (n < need) {
		if (n > SIZE_MAX / 2 / unit)
			return false;
		n *= 2;
	}
	void *q = realloc(*p, n * unit);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

/* Copy a string into the verdict's string buffer; its offset, or NO_STR when memory is short. */
static size_t put_str(struct imei_verdict_buffers *b, const char *s, size_t len, bool *oom)
{
	if (len >= SIZE_MAX - b->str_used - 1 || !grow((void **)&b->str, &b->str_cap, b->str_used + len + 1, 1)) {
		*oom = true;
		return NO_STR;
	}
	size_t off = b->str_used;
	memcpy(b->str + off, s, len);
	b->str[off + len] = 0;
	b->str_used += len + 1;
	return off;
}

static const char *str_at(const struct imei_verdict_buffers *b, size_t off)
{
	return off == NO_STR ? NULL : b->str + off;
}

/* A string field of the table at idx, raw. */
static size_t raw_str(lua_State *L, int idx, const char *field, struct imei_verdict_buffers *b, bool *oom)
{
	size_t off = NO_STR;
	lua_pushstring(L, field);
	if (lua_rawget(L, idx) == LUA_TSTRING) {
		size_t len;
		const char *s = lua_tolstring(L, -1, &len);
		off = put_str(b, s, len, oom);
	}
	lua_pop(L, 1);
	return off;
}

static bool raw_bool(lua_State *L, int idx, const char *field)
{
	lua_pushstring(L, field);
	lua_rawget(L, idx);
	bool on = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return on;
}

static int raw_status(lua_State *L, int idx, const char *field)
{
	int status = -1;
	lua_pushstring(L, field);
	if (lua_rawget(L, idx) == LUA_TSTRING)
		status = imei_status_from_name(lua_tostring(L, -1));
	lua_pop(L, 1);
	return status;
}

static bool key_is(const char *k, size_t klen, const char *want, size_t wlen)
{
	return klen == wlen && memcmp(k, want, wlen) == 0;
}
#define KEY_IS(lit) key_is(k, klen, lit, sizeof lit - 1)

/* One reason table at idx, in one pass over its fields (no key is pushed: a verdict with
 * many reasons costs a walk each, not a dozen lookups). Raw access only. */
static void read_reason(lua_State *L, int idx, struct reason_off *o, struct imei_verdict_buffers *b, bool *oom)
{
	*o = (struct reason_off){ NO_STR, NO_STR, NO_STR, NO_STR, NO_STR, -1, false, false, false, false, false };
	size_t error = NO_STR;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) == LUA_TSTRING) {
			size_t klen, vlen = 0;
			const char *k = lua_tolstring(L, -2, &klen);
			bool str = lua_type(L, -1) == LUA_TSTRING, on = lua_toboolean(L, -1);
			const char *val = str ? lua_tolstring(L, -1, &vlen) : NULL;
			if (KEY_IS("condition")) {
				if (str)
					o->condition = put_str(b, val, vlen, oom);
			} else if (KEY_IS("text")) {
				if (str)
					o->text = put_str(b, val, vlen, oom);
			} else if (KEY_IS("status")) {
				int st = str ? imei_status_from_name(val) : -1;
				if (st >= 0)
					o->status = st;
			} else if (KEY_IS("block_date")) {
				if (str)
					o->block_date = put_str(b, val, vlen, oom);
			} else if (KEY_IS("informative")) {
				o->informative = on;
			} else if (KEY_IS("sticky")) {
				o->sticky = on;
			} else if (KEY_IS("notify")) {
				o->notify = on;
			} else if (KEY_IS("failed")) {
				o->failed = on;
			} else if (KEY_IS("overruled")) {
				o->overruled = o->overruled || on;
			} else if (KEY_IS("overruled_by")) {
				if (str) {
					o->overruled_by = put_str(b, val, vlen, oom);
					o->overruled = true;
				}
			} else if (KEY_IS("error")) {
				if (str)
					error = put_str(b, val, vlen, oom);
			}
		}
		lua_pop(L, 1);
	}
	if (o->condition == NO_STR)
		o->condition = put_str(b, "", 0, oom);
	o->error = o->failed ? error : NO_STR;
}

static void set_reason(struct imei_verdict *v, size_t i, const struct imei_reason *r)
{
	size_t rsize = reason_size(v);
	memcpy((unsigned char *)v->reasons + i * rsize, r, rsize < sizeof *r ? rsize : sizeof *r);
}

int imei_verdict_from_lua(lua_State *L, int idx, struct imei_verdict *v, char *why, size_t whylen)
{
	idx = lua_absindex(L, idx);
	struct imei_verdict_buffers *b = buffers_of(v);
	if (!b) {
		snprintf(why, whylen, "out of memory for the verdict");
		return -1;
	}
	b->str_used = 0;
	if (!lua_istable(L, idx)) {
		snprintf(why, whylen, "the policy returned a %s, not a verdict table", luaL_typename(L, idx));
		return -1;
	}
	int status = raw_status(L, idx, "status");
	if (status < 0) {
		snprintf(why, whylen, "the policy's verdict has no valid status");
		return -1;
	}
	bool oom = false;
	size_t block_date = raw_str(L, idx, "block_date", b, &oom);
	size_t policy = raw_str(L, idx, "policy", b, &oom);
	size_t error = raw_str(L, idx, "error", b, &oom);
	size_t n = 0, nfailed = 0;
	lua_pushliteral(L, "reasons");
	if (lua_rawget(L, idx) == LUA_TTABLE) {
		int reasons = lua_gettop(L);
		size_t len = lua_rawlen(L, reasons);
		if (!grow((void **)&b->offs, &b->offs_cap, len, sizeof *b->offs))
			oom = true;
		for (size_t i = 1; i <= len && !oom; i++) {
			if (lua_rawgeti(L, reasons, (lua_Integer)i) != LUA_TTABLE) {
				snprintf(why, whylen, "the policy's verdict has a %s as reason %zu", luaL_typename(L, -1), i);
				lua_pop(L, 2);
				return -1;
			}
			struct reason_off *o = &b->offs[n++];
			read_reason(L, lua_gettop(L), o, b, &oom);
			if (o->status < 0)
				o->status = status;
			if (o->failed) {
				nfailed++;
				if (error == NO_STR && o->error != NO_STR)
					error = o->error;
			}
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	size_t rsize = reason_size(v);
	if (!oom && (n > SIZE_MAX / rsize || !grow((void **)&b->reasons, &b->reasons_cap, n * rsize, 1)))
		oom = true;
	if (oom) {
		snprintf(why, whylen, "out of memory for the verdict");
		return -1;
	}
	v->status = (enum imei_status)status;
	v->notify = raw_bool(L, idx, "notify");
	v->failed = nfailed > 0 || raw_bool(L, idx, "failed");
	v->block_date = str_at(b, block_date);
	v->policy = str_at(b, policy);
	v->error = str_at(b, error);
	v->nreasons = n;
	v->reasons = (struct imei_reason *)(void *)b->reasons;
	if (HAS(v, nfailed))
		v->nfailed = nfailed;
	for (size_t i = 0; i < n; i++) {
		const struct reason_off *o = &b->offs[i];
		struct imei_reason r = {
			.condition = str_at(b, o->condition),
			.text = str_at(b, o->text),
			.status = (enum imei_status)o->status,
			.block_date = str_at(b, o->block_date),
			.informative = o->informative,
			.overruled = o->overruled,
			.sticky = o->sticky,
			.notify = o->notify,
			.failed = o->failed,
			.overruled_by = str_at(b, o->overruled_by),
			.error = str_at(b, o->error),
		};
		set_reason(v, i, &r);
	}
	return 0;
}

void imei_verdict_fail(struct imei_verdict *v, enum imei_status status, const char *error, const char *policy)
{
	struct imei_verdict_buffers *b = buffers_of(v);
	bool oom = false;
	size_t e = NO_STR, p = NO_STR;
	if (b) {
		b->str_used = 0;
		e = put_str(b, error, strlen(error), &oom);
		p = put_str(b, policy, strlen(policy), &oom);
	}
	v->status = status;
	v->notify = false;
	v->failed = true;
	v->block_date = NULL;
	v->error = b && e != NO_STR ? str_at(b, e) : "the policy failed (and memory is short)";
	v->policy = b && p != NO_STR ? str_at(b, p) : NULL;
	v->nreasons = 0;
	v->reasons = b ? (struct imei_reason *)(void *)b->reasons : NULL;
	if (HAS(v, nfailed))
		v->nfailed = 0;
}
