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

static bool key_is(const char *k, size_t klen, const char *want, size_t wlen)
{
	return klen == wlen && memcmp(k, want, wlen) == 0;
}
#define KEY_IS(lit) key_is(f->k, f->klen, lit, sizeof lit - 1)

/* One string-keyed field of a table being walked; val is NULL unless it is a string. */
struct field {
	const char *k, *val;
	size_t klen, vlen;
	bool on; /* its truth */
};

/* Walk the table at idx once, raw, handing each string-keyed field to one(): a table
 * costs a walk over the few fields it has, not a lookup (and a pushed key) per field. */
static void walk(lua_State *L, int idx, void (*one)(const struct field *f, void *ctx), void *ctx)
{
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) == LUA_TSTRING) {
			struct field f = { .on = lua_toboolean(L, -1) };
			f.k = lua_tolstring(L, -2, &f.klen);
			if (lua_type(L, -1) == LUA_TSTRING)
				f.val = lua_tolstring(L, -1, &f.vlen);
			one(&f, ctx);
		}
		lua_pop(L, 1);
	}
}

struct reason_ctx {
	struct reason_off *o;
	size_t error;
	struct imei_verdict_buffers *b;
	bool *oom;
};

static void reason_field(const struct field *f, void *ud)
{
	struct reason_ctx *c = ud;
	struct reason_off *o = c->o;
	if (KEY_IS("condition")) {
		if (f->val)
			o->condition = put_str(c->b, f->val, f->vlen, c->oom);
	} else if (KEY_IS("text")) {
		if (f->val)
			o->text = put_str(c->b, f->val, f->vlen, c->oom);
	} else if (KEY_IS("status")) {
		int st = f->val ? imei_status_from_name(f->val) : -1;
		if (st >= 0)
			o->status = st;
	} else if (KEY_IS("block_date")) {
		if (f->val)
			o->block_date = put_str(c->b, f->val, f->vlen, c->oom);
	} else if (KEY_IS("informative")) {
		o->informative = f->on;
	} else if (KEY_IS("sticky")) {
		o->sticky = f->on;
	} else if (KEY_IS("notify")) {
		o->notify = f->on;
	} else if (KEY_IS("failed")) {
		o->failed = f->on;
	} else if (KEY_IS("overruled")) {
		o->overruled = o->overruled || f->on;
	} else if (KEY_IS("overruled_by")) {
		if (f->val) {
			o->overruled_by = put_str(c->b, f->val, f->vlen, c->oom);
			o->overruled = true;
		}
	} else if (KEY_IS("error")) {
		if (f->val)
			c->error = put_str(c->b, f->val, f->vlen, c->oom);
	}
}

/* One reason table at idx. Raw access only. */
static void read_reason(lua_State *L, int idx, struct reason_off *o, struct imei_verdict_buffers *b, bool *oom)
{
	*o = (struct reason_off){ NO_STR, NO_STR, NO_STR, NO_STR, NO_STR, -1, false, false, false, false, false };
	struct reason_ctx c = { o, NO_STR, b, oom };
	walk(L, idx, reason_field, &c);
	if (o->condition == NO_STR)
		o->condition = put_str(b, "", 0, oom);
	o->error = o->failed ? c.error : NO_STR;
}

/* The verdict's own fields (all but its reasons). */
struct top_off {
	size_t block_date, policy, error;
	int status; /* -1: none, or not a status name */
	bool notify, failed;
	struct imei_verdict_buffers *b;
	bool *oom;
};

static void top_field(const struct field *f, void *ud)
{
	struct top_off *o = ud;
	if (KEY_IS("status")) {
		o->status = f->val ? imei_status_from_name(f->val) : -1;
	} else if (KEY_IS("block_date")) {
		if (f->val)
			o->block_date = put_str(o->b, f->val, f->vlen, o->oom);
	} else if (KEY_IS("policy")) {
		if (f->val)
			o->policy = put_str(o->b, f->val, f->vlen, o->oom);
	} else if (KEY_IS("error")) {
		if (f->val)
			o->error = put_str(o->b, f->val, f->vlen, o->oom);
	} else if (KEY_IS("notify")) {
		o->notify = f->on;
	} else if (KEY_IS("failed")) {
		o->failed = f->on;
	}
}

static void read_top(lua_State *L, int idx, struct top_off *o, struct imei_verdict_buffers *b, bool *oom)
{
	*o = (struct top_off){ NO_STR, NO_STR, NO_STR, -1, false, false, b, oom };
	walk(L, idx, top_field, o);
}

static void set_reason(struct imei_verdict *v, size_t i, const struct imei_reason *r)
{
	size_t rsize = reason_size(v);
	memcpy((unsigned char *)v->reasons + i * rsize, r, rsize < sizeof *r ? rsize : sizeof *r);
}

/* A string value at idx into the buffer; NO_STR when it is not a string. */
static size_t value_str(lua_State *L, int idx, struct imei_verdict_buffers *b, bool *oom)
{
	size_t len;
	if (lua_type(L, idx) != LUA_TSTRING)
		return NO_STR;
	const char *s = lua_tolstring(L, idx, &len);
	return put_str(b, s, len, oom);
}

/* The rest of a verdict once its own fields are read (top): its reasons, from the array
 * at reasons (0: none), then *v. */
static int fill(lua_State *L, const struct top_off *top, int reasons, struct imei_verdict *v,
                struct imei_verdict_buffers *b, bool oom, char *why, size_t whylen)
{
	int status = top->status;
	if (status < 0) {
		snprintf(why, whylen, "the policy's verdict has no valid status");
		return -1;
	}
	size_t block_date = top->block_date, policy = top->policy, error = top->error;
	size_t n = 0, nfailed = 0;
	if (reasons) {
		size_t len = lua_rawlen(L, reasons);
		if (!grow((void **)&b->offs, &b->offs_cap, len, sizeof *b->offs))
			oom = true;
		for (size_t i = 1; i <= len && !oom; i++) {
			if (lua_rawgeti(L, reasons, (lua_Integer)i) != LUA_TTABLE) {
				snprintf(why, whylen, "the policy's verdict has a %s as reason %zu", luaL_typename(L, -1), i);
				lua_pop(L, 1);
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
	size_t rsize = reason_size(v);
	if (!oom && (n > SIZE_MAX / rsize || !grow((void **)&b->reasons, &b->reasons_cap, n * rsize, 1)))
		oom = true;
	if (oom) {
		snprintf(why, whylen, "out of memory for the verdict");
		return -1;
	}
	v->status = (enum imei_status)status;
	v->notify = top->notify;
	v->failed = nfailed > 0 || top->failed;
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
	bool oom = false;
	struct top_off top;
	read_top(L, idx, &top, b, &oom);
	lua_pushliteral(L, "reasons");
	int reasons = lua_rawget(L, idx) == LUA_TTABLE ? lua_gettop(L) : 0;
	int rc = fill(L, &top, reasons, v, b, oom, why, whylen);
	lua_pop(L, 1);
	return rc;
}

int imei_verdict_from_values(lua_State *L, int idx, struct imei_verdict *v, char *why, size_t whylen)
{
	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) != LUA_TSTRING)
		return imei_verdict_from_lua(L, idx, v, why, whylen);
	struct imei_verdict_buffers *b = buffers_of(v);
	if (!b) {
		snprintf(why, whylen, "out of memory for the verdict");
		return -1;
	}
	b->str_used = 0;
	bool oom = false;
	struct top_off top = { NO_STR, NO_STR, NO_STR, -1, false, false, b, &oom };
	top.status = imei_status_from_name(lua_tostring(L, idx));
	top.block_date = value_str(L, idx + 2, b, &oom);
	top.notify = lua_toboolean(L, idx + 3);
	top.failed = lua_toboolean(L, idx + 4);
	top.policy = value_str(L, idx + 5, b, &oom);
	return fill(L, &top, lua_type(L, idx + 1) == LUA_TTABLE ? idx + 1 : 0, v, b, oom, why, whylen);
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
