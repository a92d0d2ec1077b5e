/*
 * lua_mobile_identity.c — Lua binding of mobile_identity.c:
 *   decode_mobile_identity(bytes [, "24.008"|"24.501"|"map"]) -> table | nil, err
 *   encode_mobile_identity(id [, spec [, "imsi"|"imei"|"imeisv"]]) -> bytes | nil, err
 */
#include <string.h>

#include "imei_mobile_identity.h"
#include "imei_lua.h"

static enum imei_mi_spec check_spec(lua_State *L, int arg)
{
	static const char *const names[] = { "24.008", "24.501", "map", NULL };
	return (enum imei_mi_spec)luaL_checkoption(L, arg, "24.008", names);
}

static int l_decode(lua_State *L)
{
	size_t len;
	const char *bytes = imei_lua_checkstring(L, 1, &len);
	enum imei_mi_spec spec = check_spec(L, 2);
	struct imei_mi mi;
	struct imei_error err;
	if (imei_mi_decode((const uint8_t *)bytes, len, spec, &mi, &err) != IMEI_OK) {
		lua_pushnil(L);
		lua_pushstring(L, err.msg);
		return 2;
	}
	lua_createtable(L, 0, 4);
	lua_pushstring(L, imei_mi_type_name(mi.type));
	lua_setfield(L, -2, "type");
	if (spec != IMEI_MI_MAP) {
		lua_pushinteger(L, mi.type_code);
		lua_setfield(L, -2, "type_code");
	}
	if (mi.type != IMEI_MI_IMSI && mi.type != IMEI_MI_IMEI && mi.type != IMEI_MI_IMEISV) {
		/* not a digit identity: its octets after the first, in hex (possibly none) */
		lua_pushstring(L, mi.digits);
		lua_setfield(L, -2, "hex");
		return 1;
	}
	lua_pushlstring(L, mi.digits, mi.ndigits);
	lua_setfield(L, -2, "digits");
	/* the 5G PEI string (TS 29.571) for a 15-digit IMEI or an IMEISV */
	if ((mi.type == IMEI_MI_IMEI && mi.ndigits == 15) || mi.type == IMEI_MI_IMEISV) {
		lua_pushfstring(L, "%s-%s", mi.type == IMEI_MI_IMEI ? "imei" : "imeisv", mi.digits);
		lua_setfield(L, -2, "pei");
	}
	return 1;
}

static int l_encode(lua_State *L)
{
	size_t len;
	const char *value = imei_lua_checkstring(L, 1, &len);
	enum imei_mi_spec spec = check_spec(L, 2);
	static const char *const types[] = { "auto", "imsi", "imei", "imeisv", NULL };
	int type_opt = luaL_checkoption(L, 3, "auto", types);
	enum imei_mi_type type;
	const char *digits = value;
	size_t n = len;
	struct imei_id id;
	struct imei_error err;
	if (type_opt == 1) {
		type = IMEI_MI_IMSI;
	} else {
		if (imei_parse(value, len, &id, &err) != IMEI_OK) {
			lua_pushnil(L);
			lua_pushstring(L, err.msg);
			return 2;
		}
		if (id.kind != IMEI_KIND_IMEI && id.kind != IMEI_KIND_IMEI14 && id.kind != IMEI_KIND_IMEISV) {
			lua_pushnil(L);
			lua_pushfstring(L, "a %s has no mobile identity encoding here", imei_kind_name(id.kind));
			return 2;
		}
		type = id.kind == IMEI_KIND_IMEISV ? IMEI_MI_IMEISV : IMEI_MI_IMEI;
		if (type_opt == 2 && type != IMEI_MI_IMEI)
			return luaL_argerror(L, 1, "type 'imei' needs 14 or 15 digits");
		if (type_opt == 3 && type != IMEI_MI_IMEISV)
			return luaL_argerror(L, 1, "type 'imeisv' needs 16 digits");
		digits = id.digits;
		n = id.ndigits;
	}
	uint8_t out[IMEI_MI_MAX_OCTETS];
	size_t olen = imei_mi_encode(type, digits, n, spec, out, &err);
	if (olen == 0) {
		lua_pushnil(L);
		lua_pushstring(L, err.msg);
		return 2;
	}
	lua_pushlstring(L, (const char *)out, olen);
	return 1;
}

void imei_lua_mobile_identity(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "decode_mobile_identity", l_decode },
		{ "encode_mobile_identity", l_encode },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, fns, 0);
}
