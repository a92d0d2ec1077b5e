/*
 * kv_lmdb.c — imei_kv.h on LMDB: one unnamed database in an environment directory. The
 * write transaction is the unit of durability (a kill before imei_kv_commit loses
 * nothing that was committed before and leaves no half of this one); reads happen inside
 * it while it is open, else in a short read transaction each.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imei_kv.h"
#include "imei_lmdb_pages.h"

#define DEFAULT_MAP ((size_t)4 << 30)

struct imei_kv {
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *wtxn; /* the open write transaction, or NULL */
	MDB_txn *rtxn; /* the read transaction of the last get outside a write */
	bool read_only;
	char dir[];
};

static int fail(const struct imei_kv *kv, char *err, size_t errlen, const char *doing, int rc)
{
	if (rc == MDB_MAP_FULL)
		snprintf(err, errlen, "%s: %s: the state is full (MDB_MAP_FULL)", kv->dir, doing);
	else if (rc == ENOSPC)
		snprintf(err, errlen, "%s: %s: disk full (ENOSPC)", kv->dir, doing);
	else
		snprintf(err, errlen, "%s: %s: %s", kv->dir, doing, mdb_strerror(rc));
	return -1;
}

struct imei_kv *imei_kv_open(const char *dir, bool read_only, size_t map_size, char *err, size_t errlen)
{
	size_t n = strlen(dir);
	struct imei_kv *kv = calloc(1, sizeof *kv + n + 1);
	if (!kv) {
		snprintf(err, errlen, "%s: out of memory", dir);
		return NULL;
	}
	memcpy(kv->dir, dir, n + 1);
	kv->read_only = read_only;
	struct stat st;
	if (stat(dir, &st) != 0) {
		if (read_only || errno != ENOENT || mkdir(dir, 0777) != 0) {
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			free(kv);
			return NULL;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		free(kv);
		return NULL;
	}
	int rc = mdb_env_create(&kv->env);
	if (rc != 0) {
		fail(kv, err, errlen, "create", rc);
		free(kv);
		return NULL;
	}
	MDB_txn *txn = NULL;
	uint64_t have = 0, need = 0;
	if ((rc = mdb_env_set_mapsize(kv->env, map_size ? map_size : DEFAULT_MAP)) != 0 ||
	    (rc = mdb_env_open(kv->env, dir, MDB_NOTLS | (read_only ? MDB_RDONLY : 0), 0666)) != 0 ||
	    (rc = imei_lmdb_truncated(kv->env, dir, &have, &need) != 0 ? MDB_CORRUPTED : 0) != 0 ||
	    (rc = mdb_txn_begin(kv->env, NULL, read_only ? MDB_RDONLY : 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, NULL, 0, &kv->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
		if (txn && rc != 0)
			mdb_txn_abort(txn);
		if (have < need)
			snprintf(err, errlen, "%s: damaged: data.mdb has %llu bytes, its pages need %llu (truncated?)", dir,
			         (unsigned long long)have, (unsigned long long)need);
		else
			fail(kv, err, errlen, "open", rc);
		mdb_env_close(kv->env);
		free(kv);
		return NULL;
	}
	return kv;
}

static void end_read(struct imei_kv *kv)
{
	if (kv->rtxn) {
		mdb_txn_abort(kv->rtxn);
		kv->rtxn = NULL;
	}
}

void imei_kv_close(struct imei_kv *kv)
{
	if (!kv)
		return;
	imei_kv_abort(kv);
	end_read(kv);
	mdb_env_close(kv->env);
	free(kv);
}

bool imei_kv_writing(const struct imei_kv *kv)
{
	return kv->wtxn != NULL;
}

int imei_kv_begin(struct imei_kv *kv, char *err, size_t errlen)
{
	if (kv->read_only) {
		snprintf(err, errlen, "%s: opened read-only", kv->dir);
		return -1;
	}
	if (kv->wtxn)
		return 0;
	end_read(kv);
	int rc = mdb_txn_begin(kv->env, NULL, 0, &kv->wtxn);
	if (rc != 0) {
		kv->wtxn = NULL;
		return fail(kv, err, errlen, "begin", rc);
	}
	return 0;
}

int imei_kv_commit(struct imei_kv *kv, char *err, size_t errlen)
{
	if (!kv->wtxn)
		return 0;
	int rc = mdb_txn_commit(kv->wtxn); /* frees it, also on failure */
	kv->wtxn = NULL;
	return rc == 0 ? 0 : fail(kv, err, errlen, "commit", rc);
}

void imei_kv_abort(struct imei_kv *kv)
{
	if (kv->wtxn) {
		mdb_txn_abort(kv->wtxn);
		kv->wtxn = NULL;
	}
}

/* The transaction reads go through: the write one, else a fresh read one. */
static MDB_txn *reader(struct imei_kv *kv, char *err, size_t errlen)
{
	if (kv->wtxn)
		return kv->wtxn;
	end_read(kv);
	int rc = mdb_txn_begin(kv->env, NULL, MDB_RDONLY, &kv->rtxn);
	if (rc != 0) {
		kv->rtxn = NULL;
		fail(kv, err, errlen, "read", rc);
		return NULL;
	}
	return kv->rtxn;
}

int imei_kv_get(struct imei_kv *kv, const void *key, size_t klen, const void **val, size_t *vlen, char *err,
                size_t errlen)
{
	MDB_txn *txn = reader(kv, err, errlen);
	if (!txn)
		return -1;
	MDB_val k = { klen, (void *)key }, v;
	int rc = mdb_get(txn, kv->dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return fail(kv, err, errlen, "get", rc);
	*val = v.mv_data;
	*vlen = v.mv_size;
	return 1;
}

static int need_write(struct imei_kv *kv, char *err, size_t errlen)
{
	if (kv->wtxn)
		return 0;
	snprintf(err, errlen, "%s: write outside a transaction (begin first)", kv->dir);
	return -1;
}

/* One put in the write transaction: v as given (flags 0) or room reserved (MDB_RESERVE). */
static int put_value(struct imei_kv *kv, const void *key, size_t klen, MDB_val *v, unsigned flags, char *err,
                     size_t errlen)
{
	if (need_write(kv, err, errlen) < 0)
		return -1;
	if (klen == 0 || klen > 511) {
		snprintf(err, errlen, "%s: a key of %zu bytes (1 to 511)", kv->dir, klen);
		return -1;
	}
	MDB_val k = { klen, (void *)key };
	int rc = mdb_put(kv->wtxn, kv->dbi, &k, v, flags);
	return rc == 0 ? 0 : fail(kv, err, errlen, "put", rc);
}

int imei_kv_put(struct imei_kv *kv, const void *key, size_t klen, const void *val, size_t vlen, char *err,
                size_t errlen)
{
	MDB_val v = { vlen, (void *)val };
	return put_value(kv, key, klen, &v, 0, err, errlen);
}

int imei_kv_reserve(struct imei_kv *kv, const void *key, size_t klen, size_t vlen, void **val, char *err,
                    size_t errlen)
{
	MDB_val v = { vlen, NULL };
	if (put_value(kv, key, klen, &v, MDB_RESERVE, err, errlen) < 0)
		return -1;
	*val = v.mv_data;
	return 0;
}

int imei_kv_del(struct imei_kv *kv, const void *key, size_t klen, char *err, size_t errlen)
{
	if (need_write(kv, err, errlen) < 0)
		return -1;
	if (klen == 0 || klen > 511)
		return 0;
	MDB_val k = { klen, (void *)key };
	int rc = mdb_del(kv->wtxn, kv->dbi, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc == 0 ? 0 : fail(kv, err, errlen, "del", rc);
}

int imei_kv_scan(struct imei_kv *kv, const void *prefix, size_t plen, imei_kv_fn fn, void *ctx, char *err,
                 size_t errlen)
{
	MDB_txn *txn = reader(kv, err, errlen);
	if (!txn)
		return -1;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, kv->dbi, &cur);
	if (rc != 0)
		return fail(kv, err, errlen, "scan", rc);
	MDB_val k = { plen, (void *)prefix }, v;
	int result = 0;
	rc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		result = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
		if (result != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return fail(kv, err, errlen, "scan", rc);
	return result;
}

int imei_kv_stat(struct imei_kv *kv, size_t *entries, size_t *bytes, char *err, size_t errlen)
{
	MDB_txn *txn = reader(kv, err, errlen);
	if (!txn)
		return -1;
	MDB_stat st;
	int rc = mdb_stat(txn, kv->dbi, &st);
	if (rc != 0)
		return fail(kv, err, errlen, "stat", rc);
	*entries = st.ms_entries;
	*bytes = (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages + 1) * (size_t)st.ms_psize;
	return 0;
}
