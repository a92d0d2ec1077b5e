/*
 * imei_lmdb_pages.h — is an LMDB data file as long as the pages its meta page says are in
 * use? LMDB reads through a memory map, so a data.mdb cut short (a copy that did not
 * finish, a full disk during a backup) would fault with SIGBUS on the first read of a
 * missing page. Every LMDB environment the project opens is checked with this first.
 */
#ifndef IMEI_LMDB_PAGES_H
#define IMEI_LMDB_PAGES_H

#include <lmdb.h>
#include <stdint.h>

/* 0: data.mdb in dir holds every page in use; 1: it is shorter (*have bytes, *need
 * needed); -1: it cannot be read (errno set). env: opened on dir. */
int imei_lmdb_truncated(MDB_env *env, const char *dir, uint64_t *have, uint64_t *need);

#endif
