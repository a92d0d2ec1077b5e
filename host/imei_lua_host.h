/*
 * imei_lua_host.h — the parts of the Lua module imei.host (imei_luaopen_host, lua_host.c):
 * what a trusted Lua host (the CLI, classify, a test) may use and a policy never may —
 * the engine, batch replay, the OS helpers of batch commands and the sandbox's test hook.
 * Each host/lua_*.c file adds its functions to the module table on the stack top.
 *
 * The direction is one way: imei.host uses imei.core's data objects (imei_lua.h), and
 * imei.core knows nothing of the host. A policy's sandbox opens imei.core alone, so no
 * function of this module exists in a policy's lua_State (tests/c/test_layers.c).
 */
#ifndef IMEI_LUA_HOST_H
#define IMEI_LUA_HOST_H

#include <stdatomic.h>

#include "imei_lua.h"

/* The module table of imei.host; luaopen_imei_host (lua_host_module.c) returns it: the
 * library keeps only imei_ names. */
int imei_luaopen_host(lua_State *L);

void imei_lua_engine(lua_State *L);            /* lua_engine.c: engine_new */
void imei_lua_replay(lua_State *L);            /* lua_replay.c: replay_new */
struct imei_replay *imei_lua_check_replay(lua_State *L, int idx); /* lua_replay.c */
struct imei_tacdb;
/* The brand a report names for TAC database record idx (its manufacturer when it has no
 * brand), or NULL for no such record. lua_replay.c */
const char *imei_lua_replay_brand(struct imei_tacdb *db, size_t idx);
int imei_lua_replay_compare(lua_State *L);      /* lua_replay_compare.c: r:compare([tacdb]) */
int imei_lua_replay_network_pairs(lua_State *L); /* lua_replay_compare.c: r:network_pairs() */
void imei_lua_sandbox_patterns(lua_State *L);  /* lua_sandbox_patterns.c: _budgeted_string */
void imei_lua_batchio(lua_State *L);           /* lua_batchio.c: signals, mkdir, durable_rename… */
void imei_lua_kv(lua_State *L);                /* lua_kv.c: kv_open (the register's LMDB table) */
void imei_lua_csv_lines(lua_State *L);         /* lua_csv_lines.c: csv_lines (the lists' CSV) */
void imei_lua_digest(lua_State *L);            /* lua_digest.c: file SHA-256 for the audit trail */
void imei_lua_fsync(lua_State *L);             /* lua_fsync.c: fsync_files (many files side by side) */
void imei_lua_sort(lua_State *L);              /* lua_sort.c: sort_strings (byte order, in C) */

/* The flag the signal handler of lua_batchio.c raises (it holds the signal's number),
 * watched by the replay. */
const _Atomic int *imei_lua_stop_flag(void);

#endif
