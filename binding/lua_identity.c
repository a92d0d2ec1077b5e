/*
 * lua_identity.c — Lua binding of identity.c and identity_luhn.c:
 *   parse(s) -> table | nil, err     valid(s) -> boolean
 *   luhn(digits) -> boolean          check_digit(body) -> "d" | nil, err
 *   device_facts(s) -> kind, key, cd_ok, spare, test, junk | nil, err | false (s not a string)
 * device_facts gives the fields of parse(s) a check reads on every device, without the
 * table and its strings: the policy runtime (lua/imei/policy/runtime.lua) builds its
 * device record from them and fills in the rest from parse(s) only when a policy asks.
 */
#include <stdio.h>
#include <string.h>

#include "imei_identity.h"
#include "imei_lua.h"

static void set_str(lua_State *L, const char *field, const char *value)
{
	lua_pushstring(L, value);
	lua_setfield(L, -2, field);
}

static void set_char(lua_State *L, const char *field, char c)
{
	lua_pushlstring(L, &c, 1);
	lua_setfield(L, -2, field);
}

static void set_bool(lua_State *L, const char *field, bool value)
{
	lua_pushboolean(L, value);
	lua_setfield(L, -2, field);
}

/* TS 23.003 §6.2.1: a handset sends a spare 0 in place of the CD. */
static bool spare_cd(const struct imei_id *id)
{
	return id->cd == '0' && !id->cd_ok;
}

static void push_imei_fields(lua_State *L, const struct imei_id *id)
{
	set_str(L, "key", id->key);
	set_str(L, "tac", id->tac);
	set_str(L, "snr", id->snr);
	set_str(L, "rbi", id->rbi);
	const char *rbi_name = imei_rbi_name(id->rbi);
	if (rbi_name)
		set_str(L, "rbi_name", rbi_name);
	set_bool(L, "test", imei_rbi_is_test(id->rbi));
	set_char(L, "cd_expected", id->cd_expected);
	if (id->kind == IMEI_KIND_IMEI) {
		set_char(L, "cd", id->cd);
		set_bool(L, "cd_ok", id->cd_ok);
		set_bool(L, "spare", spare_cd(id));
		lua_pushfstring(L, "imei-%s", id->digits);
		lua_setfield(L, -2, "pei");
	} else if (id->kind == IMEI_KIND_IMEISV) {
		set_str(L, "svn", id->svn);
		/* TS 23.003 §6.2.2: SVN 99 is reserved for future use */
		set_bool(L, "svn_reserved", id->svn[0] == '9' && id->svn[1] == '9');
		lua_pushfstring(L, "imeisv-%s", id->digits);
		lua_setfield(L, -2, "pei");
	}
	const char *junk = imei_junk_name(id->junk);
	if (junk)
		set_str(L, "junk", junk);
}

static void push_3gpp2_fields(lua_State *L, const struct imei_id *id)
{
	char buf[16];
	if (id->kind == IMEI_KIND_MEID) {
		set_char(L, "cd_expected", id->cd_expected);
		if (id->cd) {
			set_char(L, "cd", id->cd);
			set_bool(L, "cd_ok", id->cd_ok);
		}
		snprintf(buf, sizeof buf, "%08X", (unsigned)id->pesn);
		set_str(L, "pesn", buf);
	} else {
		/* decimal form of an ESN: 3 digits manufacturer code, 8 digits serial */
		snprintf(buf, sizeof buf, "%03u%08u", (unsigned)(id->pesn >> 24), (unsigned)(id->pesn & 0xFFFFFF));
		set_str(L, "decimal", buf);
	}
	set_bool(L, "decimal_form", id->decimal_form);
}

/* Parse argument 1 into id; false (with nil, err pushed) when it does not parse. */
static bool parse_arg(lua_State *L, struct imei_id *id)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, 1, &len);
	struct imei_error err;
	if (imei_parse(s, len, id, &err) == IMEI_OK)
		return true;
	lua_pushnil(L);
	lua_pushstring(L, err.msg);
	return false;
}

static int l_parse(lua_State *L)
{
	struct imei_id id;
	if (!parse_arg(L, &id))
		return 2;
	lua_createtable(L, 0, 24); /* room for the fields the policy runtime adds: no rehash */
	set_str(L, "kind", imei_kind_name(id.kind));
	lua_pushlstring(L, id.digits, id.ndigits);
	lua_setfield(L, -2, "digits");
	if (id.pei != IMEI_PEI_NONE)
		set_bool(L, "from_pei", true);
	if (id.kind == IMEI_KIND_MEID || id.kind == IMEI_KIND_ESN)
		push_3gpp2_fields(L, &id);
	else
		push_imei_fields(L, &id);
	return 1;
}

/* kind, key, cd_ok, spare, test, junk: each as parse(s) sets it, nil where it sets none;
 * false alone when s is not a string.
 * The kind names are the function's upvalues (upvalue k is imei_kind_name(k)): pushed
 * as they are, not looked up in Lua's string cache on every device. */
static int l_device_facts(lua_State *L)
{
	struct imei_id id;
	if (lua_type(L, 1) != LUA_TSTRING) { /* the caller says what a request without one is */
		lua_pushboolean(L, 0);
		return 1;
	}
	if (!parse_arg(L, &id))
		return 2;
	lua_pushvalue(L, lua_upvalueindex((int)id.kind));
	if (id.kind == IMEI_KIND_MEID || id.kind == IMEI_KIND_ESN) {
		lua_pushnil(L); /* key */
		if (id.kind == IMEI_KIND_MEID && id.cd)
			lua_pushboolean(L, id.cd_ok);
		else
			lua_pushnil(L);
		return 3;
	}
	lua_pushlstring(L, id.key, 14); /* an IMEI kind: the 14-digit TAC+SNR */
	if (id.kind == IMEI_KIND_IMEI) {
		lua_pushboolean(L, id.cd_ok);
		lua_pushboolean(L, spare_cd(&id));
	} else {
		lua_pushnil(L);
		lua_pushnil(L);
	}
	lua_pushboolean(L, imei_rbi_is_test(id.rbi));
	const char *junk = imei_junk_name(id.junk);
	if (junk)
		lua_pushstring(L, junk);
	else
		lua_pushnil(L);
	return 6;
}

static int l_valid(lua_State *L)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, 1, &len);
	lua_pushboolean(L, imei_valid(s, len));
	return 1;
}

static int l_luhn(lua_State *L)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, 1, &len);
	lua_pushboolean(L, imei_luhn(s, len));
	return 1;
}

static int l_check_digit(lua_State *L)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, 1, &len);
	char cd = imei_check_digit(s, len);
	if (!cd) {
		lua_pushnil(L);
		lua_pushstring(L, len == 0 ? "empty body" : "body must be decimal digits only");
		return 2;
	}
	lua_pushlstring(L, &cd, 1);
	return 1;
}

static int l_meid_check_digit(lua_State *L)
{
	size_t len;
	const char *s = imei_lua_checkstring(L, 1, &len);
	char cd = len == 14 ? imei_meid_check_digit(s) : 0;
	if (!cd) {
		lua_pushnil(L);
		lua_pushstring(L, "a MEID body is 14 hex digits");
		return 2;
	}
	lua_pushlstring(L, &cd, 1);
	return 1;
}

void imei_lua_identity(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "parse", l_parse },
		{ "valid", l_valid },
		{ "luhn", l_luhn },
		{ "check_digit", l_check_digit },
		{ "meid_check_digit", l_meid_check_digit },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, fns, 0);
	/* a parsed identifier has a kind: IMEI_KIND_IMEI (1) to IMEI_KIND_ESN */
	for (int k = IMEI_KIND_IMEI; k <= IMEI_KIND_ESN; k++)
		lua_pushstring(L, imei_kind_name((enum imei_kind)k));
	lua_pushcclosure(L, l_device_facts, IMEI_KIND_ESN);
	lua_setfield(L, -2, "device_facts");
}
