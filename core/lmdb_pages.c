/*
 * lmdb_pages.c — refuse an LMDB data file shorter than its pages in use
 * (imei_lmdb_pages.h): a read of a page past the end of the mapped file is SIGBUS, not an
 * error code, so the length is checked before anything is read.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "imei_lmdb_pages.h"

int imei_lmdb_truncated(MDB_env *env, const char *dir, uint64_t *have, uint64_t *need)
{
	char file[4096];
	struct stat st;
	MDB_envinfo info;
	MDB_stat ms;
	snprintf(file, sizeof file, "%s/data.mdb", dir);
	if (stat(file, &st) != 0)
		return -1;
	mdb_env_info(env, &info);
	mdb_env_stat(env, &ms);
	*have = (uint64_t)st.st_size;
	*need = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	return *have < *need ? 1 : 0;
}
