/*
 * engine_request.h — the request table a policy sees, made from a struct imei_request
 * (engine_request.c) with less work per check: its keys are made once per policy state
 * (upvalues of the engine's check function), and the short values that repeat from
 * check to check (operator, RAT, a replay's operator name) are interned once and kept
 * in the state's registry instead of hashed and interned again by every check.
 */
#ifndef IMEI_ENGINE_REQUEST_H
#define IMEI_ENGINE_REQUEST_H

#include <stdint.h>

#include <lua.h>

#include "imei_engine.h"

/* Values of at most this many bytes are kept: names, not identities (an IMSI, a SUPI
 * or a GPSI is longer, and differs from check to check). */
#define IMEI_REQUEST_VALUE_MAX 12
#define IMEI_REQUEST_VALUES 16

/* The request's fixed keys, in upvalue order. */
#define IMEI_REQUEST_NKEYS 6

/* Where a kept value is pushed: each place remembers the slot it found last, which is
 * tried first (a replay's operator, RAT and network repeat from pair to pair). */
enum { IMEI_REQUEST_AT_OPERATOR, IMEI_REQUEST_AT_RAT, IMEI_REQUEST_AT_EXTRA_KEY, IMEI_REQUEST_AT_EXTRA, IMEI_REQUEST_NAT };

/* The kept values of one policy state: registry references, replaced round-robin. */
struct imei_request_values {
	struct {
		uint64_t text[2]; /* its bytes, zero-padded: compared as two words */
		int ref;          /* 0: empty */
	} slot[IMEI_REQUEST_VALUES];
	unsigned next;
	unsigned char last[IMEI_REQUEST_NAT]; /* a slot index per place: a guess, checked */
};

/* Push the IMEI_REQUEST_NKEYS keys (for the check function's upvalues). */
void imei_request_push_keys(lua_State *L);

/* Push the request table of req. Called by a C function whose first
 * IMEI_REQUEST_NKEYS upvalues are imei_request_push_keys's strings, in a protected call
 * (a memory error raises); vals: the state's kept values. */
void imei_request_push(lua_State *L, const struct imei_request *req, struct imei_request_values *vals);

#endif
