/*
 * imei_kv.h — a small crash-safe key-value table on LMDB (kv_lmdb.c), for state that
 * must survive runs and never be half-written: the national register of `imei classify`
 * (lua/imei/classify/register.lua). Keys and values are byte strings (keys at most 511
 * bytes, LMDB's limit). Writes go into ONE write transaction opened by imei_kv_begin and
 * made durable, all or nothing, by imei_kv_commit (LMDB: copy-on-write pages, fsync'd
 * meta page): a run killed before the commit leaves the table exactly as it was.
 */
#ifndef IMEI_KV_H
#define IMEI_KV_H

#include <stdbool.h>
#include <stddef.h>

struct imei_kv;

/* Open (creating the directory when missing and !read_only) the environment in dir. */
struct imei_kv *imei_kv_open(const char *dir, bool read_only, size_t map_size, char *err, size_t errlen);
void imei_kv_close(struct imei_kv *kv); /* aborts an open write transaction */

int imei_kv_begin(struct imei_kv *kv, char *err, size_t errlen);  /* the write transaction */
int imei_kv_commit(struct imei_kv *kv, char *err, size_t errlen); /* durable, or an error */
void imei_kv_abort(struct imei_kv *kv);
bool imei_kv_writing(const struct imei_kv *kv);

/* 1 found (*val, *vlen valid until the next call), 0 absent, -1 error. Reads see the
 * open write transaction's writes. */
int imei_kv_get(struct imei_kv *kv, const void *key, size_t klen, const void **val, size_t *vlen, char *err,
                size_t errlen);
int imei_kv_put(struct imei_kv *kv, const void *key, size_t klen, const void *val, size_t vlen, char *err,
                size_t errlen);
/* Room for a value of vlen bytes under key, for the caller to fill (*val) before the next
 * call: a large value written once, not copied (LMDB's MDB_RESERVE). */
int imei_kv_reserve(struct imei_kv *kv, const void *key, size_t klen, size_t vlen, void **val, char *err,
                    size_t errlen);
int imei_kv_del(struct imei_kv *kv, const void *key, size_t klen, char *err, size_t errlen); /* absent: 0 */

/* Every entry whose key starts with prefix, in key order: fn returns 0 to go on, non-zero
 * to stop (returned). -1 on error. fn must not write. */
typedef int (*imei_kv_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
int imei_kv_scan(struct imei_kv *kv, const void *prefix, size_t plen, imei_kv_fn fn, void *ctx, char *err,
                 size_t errlen);

/* Entries and bytes in use (pages * page size). */
int imei_kv_stat(struct imei_kv *kv, size_t *entries, size_t *bytes, char *err, size_t errlen);

#endif
