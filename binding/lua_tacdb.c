/*
 * lua_tacdb.c — Lua binding of the TAC database (imei_tacdb.h).
 *
 * Module functions (imei.core; the public API is lua/imei/tacdb/init.lua):
 *   tacdb_builder(["last"|"first"]) -> builder
 *   tacdb_open(path) -> db | nil, err        tacdb_from_image(bytes) -> db | nil, err
 *   tacdb_rat(bands) -> RAT bitmask          tacdb_magic: the first bytes of an image
 * builder:add(key, tag, fields) -> true | false, previous tag (key seen before) | nil, err
 *   fields = { brand=, model=, marketing_name=, manufacturer=, device_type=, os=, bands=,
 *              allocation_date = YYYYMMDD, rat = mask (default: from bands),
 *              extra = { name1, value1, name2, value2, … } }
 * builder:freeze() -> db | nil, err;  #builder;  builder:close()
 * db:lookup(id) -> record | nil | nil, err   db:record(i) -> record (1-based)
 * db:index(id) -> i | nil | nil, err (the record number, no table built)
 * db:cache([n]) -> the most record tables kept (default 262144); sets it to n
 * db:lookup_many(lines) -> { lines, found, not_found, invalid }
 * db:save(path) -> true | nil, err;  db:stats() -> table;  db:image() -> bytes
 * #db;  tostring(db);  db:close() (also __close, __gc)
 *
 * A db userdata holds one reference to a frozen imei_tacdb, so the same db can live in
 * several lua_States at once (imei_lua_push_tacdb). Record tables are built on first use
 * and cached in the userdata's user value (up to db:cache() of them, see CACHE_DEFAULT):
 * repeated lookups allocate nothing, and callers must treat records as read-only.
 */
#include <stdio.h>
#include <string.h>

#include "imei_lua.h"
#include "imei_tacdb.h"

#define TACDB_MT "imei.tacdb"
#define BUILDER_MT "imei.tacdb_builder"
#define MAX_EXTRA 256

/* Record tables cached per db object: a direct-mapped cache of slots = min(#db, db:cache())
 * entries, record idx in slot idx % slots. With the default bound every record of a db of
 * up to 2^18 records (the GSMA's whole database) has a slot of its own, so after its first
 * lookup a record costs one array read, and nothing is ever thrown away; past the bound, a
 * record only evicts the one record sharing its slot (never the whole cache). A record table
 * is ~0.45 KB (11 fields), so the cache holds at most ~0.5 KB x slots of Lua heap (~120 MB
 * for 250,000 records; 12 MB for the 25,000 of the Osmocom file), built as records are
 * looked up. A record in use stays valid after eviction: it is an ordinary table. */
#define CACHE_DEFAULT 262144

/* Strings longer than Lua's short strings are not interned by Lua: this db's Lua strings
 * for them are kept by image address (user value 3), created once per distinct string. */
#define LONG_STRING 40

/* Lookups by a TAC string (db:lookup("35209900")) also go through a table keyed by the
 * address of the Lua string (user value 5, light userdata -> record): a short Lua string
 * is interned, so the same TAC text is the same object, and a hit reads one hash node:
 * neither the string's bytes nor the index are touched (a plain table keyed by TAC reads
 * the string's hash, then its node). The strings are kept alive in an array (user value
 * 6), so an address cannot be reused while it is a key. Only a string of exactly the 8
 * digits of a record's TAC is kept, and only while every record has a cache slot of its
 * own (the default up to CACHE_DEFAULT records; nothing is evicted then): at most one
 * string per TAC record, 42-52 bytes each (1.3 MB for the Osmocom file's 25,121 TACs,
 * 10 MB for the GSMA's 250,000), built as TAC strings are looked up; dropped with the
 * record cache (db:cache(n)). */
enum { UV_CACHE = 1, UV_RATS, UV_INTERN, UV_TAGS, UV_BYSTR, UV_KEEP, UV_N };

struct db_box {
	struct imei_tacdb *db;
	uint32_t *tags;        /* tags[slot] = record index + 1 of the cached record, 0 = none;
	                          NULL when every record has a slot of its own */
	size_t slots;          /* cache slots allocated (0: none yet) */
	lua_Integer cache_max; /* db:cache() */
	lua_Integer nkept;     /* strings in the string cache (0: none, no tables yet) */
};

struct builder_box {
	struct imei_tacdb_builder *b;
};

/* ---- the db userdata ---------------------------------------------------------------- */

/* Methods carry the metatable as upvalue 1: checking self is a pointer comparison. */
static struct db_box *self_box(lua_State *L)
{
	struct db_box *box = imei_lua_touserdata_mt(L, 1, lua_upvalueindex(1));
	if (!box)
		luaL_typeerror(L, 1, TACDB_MT);
	return box;
}

static struct imei_tacdb *self_db(lua_State *L)
{
	struct db_box *box = self_box(L);
	if (!box->db)
		luaL_argerror(L, 1, "the TAC database is closed");
	return box->db;
}

struct imei_tacdb *imei_lua_check_tacdb(lua_State *L, int idx)
{
	struct db_box *box = luaL_checkudata(L, idx, TACDB_MT);
	if (!box->db)
		luaL_argerror(L, idx, "the TAC database is closed");
	return box->db;
}

/* Push string s of the image: a long one from this db's intern table (user value 3, by
 * address: the image stores each distinct string once), a short one as Lua interns it. */
static void push_image_string(lua_State *L, const char *s)
{
	size_t len = strlen(s);
	if (len <= LONG_STRING) {
		lua_pushlstring(L, s, len);
		return;
	}
	lua_getiuservalue(L, 1, UV_INTERN);
	if (lua_rawgetp(L, -1, s) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_pushlstring(L, s, len);
		lua_pushvalue(L, -1);
		lua_rawsetp(L, -3, s);
	}
	lua_remove(L, -2);
}

/* Push the allocation date YYYYMMDD as "YYYY-MM-DD", one string per date (user value 3,
 * by the integer date). */
static void push_date(lua_State *L, uint32_t date)
{
	lua_getiuservalue(L, 1, UV_INTERN);
	if (lua_rawgeti(L, -1, (lua_Integer)date) == LUA_TNIL) {
		char text[16];
		int n = snprintf(text, sizeof text, "%04u-%02u-%02u", (unsigned)(date / 10000), (unsigned)(date / 100 % 100),
		                 (unsigned)(date % 100));
		lua_pop(L, 1);
		lua_pushlstring(L, text, (size_t)n);
		lua_pushvalue(L, -1);
		lua_rawseti(L, -3, (lua_Integer)date);
	}
	lua_remove(L, -2);
}

/* Push the rats set of a RAT mask: one shared table per mask and db object (user value
 * 2), so that records do not each carry their own. */
static void push_rats(lua_State *L, unsigned rat)
{
	static const char *const rat_names[] = { "2G", "3G", "4G", "5G" };
	lua_getiuservalue(L, 1, UV_RATS);
	if (lua_rawgeti(L, -1, (lua_Integer)rat + 1) == LUA_TNIL) {
		lua_pop(L, 1);
		lua_createtable(L, 0, 4);
		for (int i = 0; i < 4; i++) {
			if (rat & (1u << i)) {
				lua_pushboolean(L, 1);
				lua_setfield(L, -2, rat_names[i]);
			}
		}
		lua_pushvalue(L, -1);
		lua_rawseti(L, -3, (lua_Integer)rat + 1);
	}
	lua_remove(L, -2);
}

/* Push a new record table; the db object is at stack index 1. Sized for its fields, its
 * strings shared with the other records (push_image_string, push_date, push_rats). */
static void push_record(lua_State *L, const struct imei_tacdb *db, uint32_t idx)
{
	struct imei_tac_record r;
	imei_tacdb_record(db, idx, &r);
	int nfields = 3 + (r.date != 0) + (r.nextra > 0); /* tac, rat, rats, allocation_date, extra */
	for (int f = 0; f < IMEI_TAC_NFIELDS; f++)
		nfields += r.str[f][0] != '\0';
	lua_createtable(L, 0, nfields);
	lua_pushlstring(L, r.key, r.key_len);
	lua_setfield(L, -2, "tac");
	for (int f = 0; f < IMEI_TAC_NFIELDS; f++) {
		if (r.str[f][0]) {
			push_image_string(L, r.str[f]);
			lua_setfield(L, -2, imei_tac_field_name((enum imei_tac_field)f));
		}
	}
	if (r.date) {
		push_date(L, r.date);
		lua_setfield(L, -2, "allocation_date");
	}
	lua_pushinteger(L, r.rat);
	lua_setfield(L, -2, "rat");
	push_rats(L, r.rat & 0xF);
	lua_setfield(L, -2, "rats");
	/* extra columns with a value (an empty value is as good as none) */
	bool extra = false;
	for (size_t i = 0; i < r.nextra; i++) {
		const char *key, *value;
		if (imei_tacdb_extra(db, idx, i, &key, &value) && value[0]) {
			if (!extra) {
				lua_createtable(L, 0, (int)(r.nextra < 64 ? r.nextra : 64));
				lua_pushvalue(L, -1);
				lua_setfield(L, -3, "extra");
				extra = true;
			}
			push_image_string(L, value);
			lua_setfield(L, -2, key);
		}
	}
	if (extra)
		lua_pop(L, 1);
}

/* Drop the record cache; the next lookup allocates it again at the current bound. */
static void cache_reset(lua_State *L, int box_idx, struct db_box *box)
{
	lua_pushnil(L);
	lua_setiuservalue(L, box_idx, UV_CACHE);
	lua_pushnil(L);
	lua_setiuservalue(L, box_idx, UV_TAGS);
	lua_pushnil(L);
	lua_setiuservalue(L, box_idx, UV_BYSTR);
	lua_pushnil(L);
	lua_setiuservalue(L, box_idx, UV_KEEP);
	box->tags = NULL;
	box->slots = 0;
	box->nkept = 0;
}

/* Allocate the cache (the db object at stack index 1): its slots, and their tags when
 * there are fewer slots than records (with a slot per record, slot = record: no tags). */
static void cache_alloc(lua_State *L, struct db_box *box)
{
	size_t count = imei_tacdb_count(box->db), n = count;
	if ((size_t)box->cache_max < n)
		n = (size_t)box->cache_max;
	uint32_t *tags = NULL;
	if (n < count) {
		tags = lua_newuserdatauv(L, n * sizeof *tags, 0);
		memset(tags, 0, n * sizeof *tags);
		lua_setiuservalue(L, 1, UV_TAGS);
	}
	lua_createtable(L, (int)n, 0);
	lua_setiuservalue(L, 1, UV_CACHE);
	box->tags = tags; /* set last: a memory error above leaves no cache, not half of one */
	box->slots = n;
}

/* Push the (cached) record table of record idx of the db at stack index 1. */
static void push_cached(lua_State *L, struct db_box *box, uint32_t idx)
{
	if (box->cache_max == 0) {
		push_record(L, box->db, idx);
		return;
	}
	if (box->slots == 0) {
		cache_alloc(L, box);
		if (box->slots == 0) { /* an empty db: nothing to cache */
			push_record(L, box->db, idx);
			return;
		}
	}
	size_t slot = box->tags ? idx % box->slots : idx;
	lua_getiuservalue(L, 1, UV_CACHE);
	bool hit = box->tags ? box->tags[slot] == idx + 1 : lua_rawgeti(L, -1, (lua_Integer)slot + 1) != LUA_TNIL;
	if (box->tags && hit) {
		lua_rawgeti(L, -1, (lua_Integer)slot + 1);
	} else if (!hit) {
		if (!box->tags)
			lua_pop(L, 1); /* the nil */
		push_record(L, box->db, idx);
		lua_pushvalue(L, -1);
		lua_rawseti(L, -3, (lua_Integer)slot + 1);
		if (box->tags)
			box->tags[slot] = idx + 1;
	}
	lua_remove(L, -2);
}

/* Keep the record on top of the stack under the string at index 2, the exact 8 digits of
 * record idx's TAC. */
static void str_cache_put(lua_State *L, struct db_box *box, uint32_t idx)
{
	struct imei_tac_record r;
	imei_tacdb_record(box->db, idx, &r);
	size_t len;
	const char *s = lua_tolstring(L, 2, &len);
	if (r.key_len != len || memcmp(r.key, s, len) != 0)
		return;
	if (box->nkept == 0) {
		lua_newtable(L);
		lua_setiuservalue(L, 1, UV_BYSTR);
		lua_newtable(L);
		lua_setiuservalue(L, 1, UV_KEEP);
	}
	lua_getiuservalue(L, 1, UV_KEEP);
	lua_pushvalue(L, 2);
	lua_rawseti(L, -2, box->nkept + 1); /* alive before it is a key */
	box->nkept++;
	lua_getiuservalue(L, 1, UV_BYSTR);
	lua_pushvalue(L, -3);
	lua_rawsetp(L, -2, lua_topointer(L, 2));
	lua_pop(L, 2);
}

static int l_lookup(lua_State *L)
{
	struct db_box *box = self_box(L);
	const struct imei_tacdb *db = box->db;
	if (!db)
		luaL_argerror(L, 1, "the TAC database is closed");
	if (box->nkept && lua_type(L, 2) == LUA_TSTRING) { /* its address only, not read */
		lua_getiuservalue(L, 1, UV_BYSTR);
		if (lua_rawgetp(L, -1, lua_topointer(L, 2)) != LUA_TNIL)
			return 1;
		lua_pop(L, 2);
	}
	size_t len;
	const char *s = imei_lua_checkstring(L, 2, &len);
	uint32_t idx;
	struct imei_tacdb_error err;
	if (imei_tacdb_lookup_str(db, s, len, &idx, &err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err.msg);
		return 2;
	}
	if (idx == IMEI_TACDB_NONE) {
		lua_pushnil(L);
		return 1;
	}
	push_cached(L, box, idx);
	if (len == 8 && box->slots && !box->tags) /* a cache slot for every record: no eviction */
		str_cache_put(L, box, idx);
	return 1;
}

static int l_index(lua_State *L)
{
	const struct imei_tacdb *db = self_db(L);
	size_t len;
	const char *s = imei_lua_checkstring(L, 2, &len);
	uint32_t idx;
	struct imei_tacdb_error err;
	if (imei_tacdb_lookup_str(db, s, len, &idx, &err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err.msg);
		return 2;
	}
	if (idx == IMEI_TACDB_NONE)
		lua_pushnil(L);
	else
		lua_pushinteger(L, (lua_Integer)idx + 1);
	return 1;
}

static int l_cache(lua_State *L)
{
	struct db_box *box = self_box(L);
	lua_pushinteger(L, box->cache_max);
	if (!lua_isnoneornil(L, 2)) {
		lua_Integer n = luaL_checkinteger(L, 2);
		luaL_argcheck(L, n >= 0 && n <= INT32_MAX, 2, "a number of records from 0 to 2^31-1");
		if (n != box->cache_max)
			cache_reset(L, 1, box);
		box->cache_max = n;
	}
	return 1;
}

static int l_record(lua_State *L)
{
	struct db_box *box = self_box(L);
	const struct imei_tacdb *db = self_db(L);
	lua_Integer i = luaL_checkinteger(L, 2);
	luaL_argcheck(L, i >= 1 && (size_t)i <= imei_tacdb_count(db), 2, "record index out of range");
	push_cached(L, box, (uint32_t)(i - 1));
	return 1;
}

static void set_integer(lua_State *L, const char *field, size_t value)
{
	lua_pushinteger(L, (lua_Integer)value);
	lua_setfield(L, -2, field);
}

static int l_lookup_many(lua_State *L)
{
	const struct imei_tacdb *db = self_db(L);
	size_t len;
	const char *buf = imei_lua_checkstring(L, 2, &len);
	struct imei_tacdb_bulk out;
	imei_tacdb_lookup_lines(db, buf, len, &out);
	lua_createtable(L, 0, 4);
	set_integer(L, "lines", out.lines);
	set_integer(L, "found", out.found);
	set_integer(L, "not_found", out.not_found);
	set_integer(L, "invalid", out.invalid);
	return 1;
}

static int l_save(lua_State *L)
{
	const struct imei_tacdb *db = self_db(L);
	const char *path = imei_lua_checkstring(L, 2, NULL);
	struct imei_tacdb_error err;
	if (imei_tacdb_save(db, path, &err) != 0) {
		lua_pushnil(L);
		lua_pushstring(L, err.msg);
		return 2;
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int l_image(lua_State *L)
{
	const struct imei_tacdb *db = self_db(L);
	size_t len;
	const void *img = imei_tacdb_image(db, &len);
	lua_pushlstring(L, img, len);
	return 1;
}

static int l_stats(lua_State *L)
{
	const struct imei_tacdb *db = self_db(L);
	struct imei_tacdb_stats st;
	imei_tacdb_stats(db, &st);
	lua_createtable(L, 0, 14);
	set_integer(L, "records", st.records);
	set_integer(L, "tacs", st.tacs);
	set_integer(L, "other_keys", st.other_keys);
	set_integer(L, "trie_nodes", st.trie_nodes);
	set_integer(L, "bucket_bits", st.bucket_bits);
	set_integer(L, "index_bytes", st.index_bytes);
	set_integer(L, "record_bytes", st.record_bytes);
	set_integer(L, "extra_bytes", st.extra_bytes);
	set_integer(L, "string_bytes", st.string_bytes);
	set_integer(L, "image_bytes", st.image_bytes);
	lua_pushnumber(L, st.records ? (lua_Number)st.index_bytes / (lua_Number)st.records : 0);
	lua_setfield(L, -2, "index_bytes_per_key");
	lua_pushnumber(L, st.records ? (lua_Number)st.image_bytes / (lua_Number)st.records : 0);
	lua_setfield(L, -2, "image_bytes_per_key");
	lua_pushboolean(L, st.mapped);
	lua_setfield(L, -2, "mapped");
	return 1;
}

static int l_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)imei_tacdb_count(self_db(L)));
	return 1;
}

static int l_tostring(lua_State *L)
{
	struct db_box *box = self_box(L);
	if (!box->db) {
		lua_pushliteral(L, "imei.tacdb (closed)");
		return 1;
	}
	struct imei_tacdb_stats st;
	imei_tacdb_stats(box->db, &st);
	lua_pushfstring(L, "imei.tacdb (%I records, %I bytes%s)", (lua_Integer)st.records, (lua_Integer)st.image_bytes,
	                st.mapped ? ", mapped" : "");
	return 1;
}

static int l_close(lua_State *L)
{
	struct db_box *box = self_box(L);
	imei_tacdb_unref(box->db);
	box->db = NULL;
	return 0;
}

/* Push the db metatable, creating and registering it in this state if needed. */
static void push_db_metatable(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "lookup", l_lookup },
		{ "index", l_index },
		{ "cache", l_cache },
		{ "lookup_many", l_lookup_many },
		{ "record", l_record },
		{ "save", l_save },
		{ "stats", l_stats },
		{ "image", l_image },
		{ "close", l_close },
		{ NULL, NULL },
	};
	static const luaL_Reg meta[] = {
		{ "__len", l_len },
		{ "__tostring", l_tostring },
		{ "__gc", l_close },
		{ "__close", l_close },
		{ NULL, NULL },
	};
	if (!luaL_newmetatable(L, TACDB_MT))
		return;
	lua_newtable(L);
	lua_pushvalue(L, -2);
	luaL_setfuncs(L, methods, 1);
	lua_setfield(L, -2, "__index");
	lua_pushvalue(L, -1);
	luaL_setfuncs(L, meta, 1);
	lua_pushliteral(L, "locked");
	lua_setfield(L, -2, "__metatable");
}

/* Push a new db userdata holding no db yet: whatever may raise happens here, before a
 * reference is put in it, so a memory error cannot leak one. */
static struct db_box *new_box(lua_State *L)
{
	struct db_box *box = lua_newuserdatauv(L, sizeof *box, UV_N - 1);
	box->db = NULL;
	push_db_metatable(L);
	lua_setmetatable(L, -2);
	box->tags = NULL;
	box->slots = 0;
	box->cache_max = CACHE_DEFAULT;
	box->nkept = 0;
	lua_createtable(L, 16, 0); /* RAT mask + 1 -> shared rats set */
	lua_setiuservalue(L, -2, UV_RATS);
	lua_newtable(L); /* image address -> long string, date -> date string */
	lua_setiuservalue(L, -2, UV_INTERN);
	return box;
}

void imei_lua_push_tacdb(lua_State *L, struct imei_tacdb *db)
{
	new_box(L)->db = imei_tacdb_ref(db);
}

void imei_lua_tacdb_cache(lua_State *L, int idx, size_t records)
{
	idx = lua_absindex(L, idx);
	struct db_box *box = luaL_checkudata(L, idx, TACDB_MT);
	lua_Integer n = records < (size_t)INT32_MAX ? (lua_Integer)records : INT32_MAX;
	if (n != box->cache_max)
		cache_reset(L, idx, box);
	box->cache_max = n;
}

/* The result of a call that made a db (owned by the box on success), or nil, err. */
static int box_or_error(lua_State *L, struct db_box *box, struct imei_tacdb *db, const struct imei_tacdb_error *err)
{
	if (!db) {
		lua_pushnil(L);
		lua_pushstring(L, err->msg);
		return 2;
	}
	box->db = db;
	return 1;
}

static int l_open(lua_State *L)
{
	const char *path = imei_lua_checkstring(L, 1, NULL);
	struct db_box *box = new_box(L);
	struct imei_tacdb_error err;
	return box_or_error(L, box, imei_tacdb_open(path, &err), &err);
}

static int l_from_image(lua_State *L)
{
	size_t len;
	const char *bytes = imei_lua_checkstring(L, 1, &len);
	struct db_box *box = new_box(L);
	struct imei_tacdb_error err;
	return box_or_error(L, box, imei_tacdb_from_image(bytes, len, &err), &err);
}

static int l_rat(lua_State *L)
{
	size_t len;
	const char *bands = imei_lua_checkstring(L, 1, &len);
	lua_pushinteger(L, (lua_Integer)imei_tac_rat_from_bands(bands, len));
	return 1;
}

/* ---- the builder userdata ------------------------------------------------------------ */

static struct imei_tacdb_builder *check_builder(lua_State *L)
{
	struct builder_box *box = luaL_checkudata(L, 1, BUILDER_MT);
	if (!box->b)
		luaL_argerror(L, 1, "the builder is closed");
	return box->b;
}

static const char *opt_field(lua_State *L, int t, const char *name, size_t *len)
{
	int type = lua_getfield(L, t, name);
	const char *s = NULL;
	*len = 0;
	if (type == LUA_TSTRING)
		s = lua_tolstring(L, -1, len); /* stays alive: the fields table holds it */
	else if (type != LUA_TNIL)
		luaL_error(L, "bad field '%s' (string expected, got %s)", name, luaL_typename(L, -1));
	lua_pop(L, 1);
	return s;
}

static uint32_t opt_u32(lua_State *L, int t, const char *name, uint32_t dflt)
{
	int type = lua_getfield(L, t, name);
	uint32_t v = dflt;
	if (type != LUA_TNIL) {
		int isnum;
		lua_Integer n = lua_tointegerx(L, -1, &isnum);
		if (!isnum || n < 0 || n > (lua_Integer)UINT32_MAX)
			luaL_error(L, "bad field '%s' (integer from 0 to 2^32-1 expected)", name);
		v = (uint32_t)n;
	}
	lua_pop(L, 1);
	return v;
}

static int l_builder_add(lua_State *L)
{
	struct imei_tacdb_builder *b = check_builder(L);
	size_t klen;
	const char *key = imei_lua_checkstring(L, 2, &klen);
	lua_Integer tag = luaL_checkinteger(L, 3);
	luaL_argcheck(L, tag >= 0 && tag <= (lua_Integer)UINT32_MAX, 3, "tag out of range");
	luaL_checktype(L, 4, LUA_TTABLE);
	struct imei_tac_fields f = { 0 };
	for (int i = 0; i < IMEI_TAC_NFIELDS; i++)
		f.str[i] = opt_field(L, 4, imei_tac_field_name((enum imei_tac_field)i), &f.len[i]);
	f.date = opt_u32(L, 4, "allocation_date", 0);
	f.rat = opt_u32(L, 4, "rat",
	                f.str[IMEI_TAC_BANDS] ? imei_tac_rat_from_bands(f.str[IMEI_TAC_BANDS], f.len[IMEI_TAC_BANDS]) : 0);
	struct imei_tac_kv kv[MAX_EXTRA];
	int type = lua_getfield(L, 4, "extra");
	if (type == LUA_TTABLE) {
		lua_Integer n = luaL_len(L, -1);
		if (n % 2 != 0 || n / 2 > MAX_EXTRA)
			luaL_error(L, "bad field 'extra' (name, value pairs expected, at most %d)", MAX_EXTRA);
		for (lua_Integer i = 0; i < n / 2; i++) {
			struct imei_tac_kv *p = &kv[f.nextra++];
			lua_rawgeti(L, -1, 2 * i + 1);
			lua_rawgeti(L, -2, 2 * i + 2);
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "bad field 'extra' (pair %d is not two strings)", (int)i + 1);
			p->key = lua_tolstring(L, -2, &p->key_len);
			p->value = lua_tolstring(L, -1, &p->value_len);
			lua_pop(L, 2);
		}
	} else if (type != LUA_TNIL) {
		luaL_error(L, "bad field 'extra' (table expected, got %s)", luaL_typename(L, -1));
	}
	f.extra = kv;
	uint32_t prev = 0;
	struct imei_tacdb_error err;
	int rc = imei_tacdb_builder_add(b, key, klen, &f, (uint32_t)tag, &prev, &err);
	if (rc < 0) {
		lua_pushnil(L);
		lua_pushstring(L, err.msg);
		return 2;
	}
	lua_pushboolean(L, rc == 0);
	if (rc == 0)
		return 1;
	lua_pushinteger(L, prev);
	return 2;
}

static int l_builder_freeze(lua_State *L)
{
	struct imei_tacdb_builder *b = check_builder(L);
	struct db_box *box = new_box(L);
	struct imei_tacdb_error err;
	return box_or_error(L, box, imei_tacdb_freeze(b, &err), &err);
}

static int l_builder_len(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)imei_tacdb_builder_count(check_builder(L)));
	return 1;
}

static int l_builder_close(lua_State *L)
{
	struct builder_box *box = luaL_checkudata(L, 1, BUILDER_MT);
	imei_tacdb_builder_free(box->b);
	box->b = NULL;
	return 0;
}

static int l_builder(lua_State *L)
{
	static const char *const dups[] = { "last", "first", NULL };
	enum imei_tacdb_dup dup = luaL_checkoption(L, 1, "last", dups) == 0 ? IMEI_TACDB_KEEP_LAST : IMEI_TACDB_KEEP_FIRST;
	struct builder_box *box = lua_newuserdatauv(L, sizeof *box, 0);
	box->b = NULL;
	luaL_setmetatable(L, BUILDER_MT);
	box->b = imei_tacdb_builder_new(dup);
	if (!box->b)
		return luaL_error(L, "out of memory");
	return 1;
}

void imei_lua_tacdb(lua_State *L)
{
	static const luaL_Reg builder_methods[] = {
		{ "add", l_builder_add },
		{ "freeze", l_builder_freeze },
		{ "close", l_builder_close },
		{ NULL, NULL },
	};
	static const luaL_Reg builder_meta[] = {
		{ "__len", l_builder_len },
		{ "__gc", l_builder_close },
		{ "__close", l_builder_close },
		{ NULL, NULL },
	};
	static const luaL_Reg fns[] = {
		{ "tacdb_builder", l_builder },
		{ "tacdb_open", l_open },
		{ "tacdb_from_image", l_from_image },
		{ "tacdb_rat", l_rat },
		{ NULL, NULL },
	};
	push_db_metatable(L);
	lua_pop(L, 1);
	if (luaL_newmetatable(L, BUILDER_MT)) {
		luaL_setfuncs(L, builder_meta, 0);
		luaL_newlib(L, builder_methods);
		lua_setfield(L, -2, "__index");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, fns, 0);
	lua_pushliteral(L, "IMEITAC\x1a");
	lua_setfield(L, -2, "tacdb_magic");
}
