/*
 * verdict.h — filling a struct imei_verdict (imei_engine.h) from the verdict table a
 * policy returned, and from a failure: the whole verdict crosses the C boundary, every
 * reason with its flags, into buffers the verdict owns and grows.
 */
#ifndef IMEI_HOST_VERDICT_H
#define IMEI_HOST_VERDICT_H

#include <stddef.h>

#include <lua.h>

#include "imei_engine.h"

/* Read the verdict table at idx (raw access only: no policy metamethod runs) into *v.
 * Returns 0; -1 and why when the table is malformed or memory is short. */
int imei_verdict_from_lua(lua_State *L, int idx, struct imei_verdict *v, char *why, size_t whylen);

/* The same from the values of the runtime's check (lua/imei/policy/runtime.lua, from
 * policy.decide), idx the first of six: status, reasons (an array, or nil: none),
 * block_date, notify, failed, policy; or a verdict table at idx (a raw check's). */
#define IMEI_VERDICT_VALUES 6
int imei_verdict_from_values(lua_State *L, int idx, struct imei_verdict *v, char *why, size_t whylen);

/* Make *v the answer of a failed policy: status, failed, error and policy, no reasons. */
void imei_verdict_fail(struct imei_verdict *v, enum imei_status status, const char *error, const char *policy);

#endif
