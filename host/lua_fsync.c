/*
 * lua_fsync.c — many files made durable at once, for imei classify's publish
 * (docs/classify.md: every file on disk before --out is touched):
 *   fsync_files({ path, ... }) -> true | nil, err, errno, index (of the file that failed)
 * The files are synced by a few threads side by side, not one after the other: a file
 * system commits the concurrent syncs together (one journal commit, one cache flush for
 * several files), where a loop of fsync(2) waits for one commit per file — 20-45 ms for
 * the ~20 files of a replay on ext4, a few ms side by side. The result is the loop's:
 * every file is synced (or tried) and the first failure in the list's order is the one
 * reported, as host.fsync reports it ("path: fsync: reason", errno).
 * The threads touch only the call's own array of paths and result slots; the call
 * returns after joining them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imei_lua_host.h"

#define SYNC_THREADS 8 /* enough for the commits to be shared; more only add threads */

struct sync_batch {
	const char **paths;
	int *err;         /* 0 synced, else the errno of its open or fsync */
	size_t n;
	_Atomic size_t next; /* the next file a thread takes */
};

static int sync_one(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int rc = fsync(fd) < 0 ? errno : 0;
	close(fd);
	return rc;
}

static void *sync_thread(void *arg)
{
	struct sync_batch *b = arg;
	for (size_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;)
		b->err[i] = sync_one(b->paths[i]);
	return NULL;
}

static int l_fsync_files(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer len = luaL_len(L, 1);
	if (len < 0 || (lua_Unsigned)len > SIZE_MAX / (sizeof(char *) + sizeof(int)))
		return luaL_error(L, "fsync_files: too many files");
	size_t n = (size_t)len;
	/* the paths stay on the Lua stack (alive) until the threads are joined */
	luaL_checkstack(L, n > INT_MAX - 8 ? INT_MAX : (int)n + 8, "fsync_files: too many files");
	struct sync_batch b = { .n = n };
	atomic_init(&b.next, 0);
	b.paths = calloc(n ? n : 1, sizeof *b.paths);
	b.err = calloc(n ? n : 1, sizeof *b.err);
	if (!b.paths || !b.err) {
		free(b.paths);
		free(b.err);
		return luaL_error(L, "fsync_files: out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		lua_geti(L, 1, (lua_Integer)i + 1);
		b.paths[i] = lua_tostring(L, -1);
		if (!b.paths[i]) {
			free(b.paths);
			free(b.err);
			return luaL_error(L, "fsync_files: entry %d is not a path", (int)i + 1);
		}
	}
	pthread_t threads[SYNC_THREADS];
	size_t started = 0;
	size_t want = n < SYNC_THREADS ? n : SYNC_THREADS;
	for (; started + 1 < want; started++) /* the caller's thread is one of them */
		if (pthread_create(&threads[started], NULL, sync_thread, &b) != 0)
			break; /* fewer threads: the others take the rest */
	sync_thread(&b);
	for (size_t t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	for (size_t i = 0; i < n; i++)
		if (b.err[i] != 0) {
			int e = b.err[i];
			lua_pushnil(L);
			lua_pushfstring(L, "%s: fsync: %s", b.paths[i], strerror(e));
			lua_pushinteger(L, e);
			lua_pushinteger(L, (lua_Integer)i + 1);
			free(b.paths);
			free(b.err);
			return 4;
		}
	free(b.paths);
	free(b.err);
	lua_pushboolean(L, 1);
	return 1;
}

void imei_lua_fsync(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "fsync_files", l_fsync_files },
		{ NULL, NULL },
	};
	luaL_setfuncs(L, funcs, 0);
}
