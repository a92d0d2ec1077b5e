/*
 * lua_fsync.c — many files made durable at once, for imei classify's publish
 * (docs/classify.md: every file on disk before --out is touched):
 *   fsync_files({ path, ... }) -> true | nil, err, errno, index (of the file that failed)
 *   fsync_start({ path, ... }) -> job     the same, begun on threads of its own while the
 *                                         caller goes on (the lists sync while the report
 *                                         is made)
 *   job:wait() -> fsync_files' answer     (again: the same answer)
 *   job:close()  (also __close, __gc)      wait for the threads (nothing is left running)
 * The files are synced by a few threads side by side, not one after the other: a file
 * system commits the concurrent syncs together (one journal commit, one cache flush for
 * several files), where a loop of fsync(2) waits for one commit per file — 20-45 ms for
 * the ~20 files of a replay on ext4, a few ms side by side. The result is the loop's:
 * every file is synced (or tried) and the first failure in the list's order is the one
 * reported, as host.fsync reports it ("path: fsync: reason", errno).
 * The threads touch only the call's (or the job's) own copies of the paths and result
 * slots; a call returns, and a job is closed, only after joining them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imei_lua_host.h"

#define SYNC_THREADS 8 /* enough for the commits to be shared; more only add threads */

struct sync_batch {
	char **paths;     /* copies, owned */
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

/* The batch of the paths in the table at idx, copied; NULL (and why, in why) when it is
 * not a list of paths or memory is short. */
static struct sync_batch *batch_new(lua_State *L, int idx, char *why, size_t whylen)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	lua_Integer len = luaL_len(L, idx);
	snprintf(why, whylen, "fsync_files: too many files");
	if (len < 0 || (lua_Unsigned)len > SIZE_MAX / (sizeof(char *) + sizeof(int)))
		return NULL;
	size_t n = (size_t)len;
	snprintf(why, whylen, "fsync_files: out of memory");
	struct sync_batch *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->paths = calloc(n ? n : 1, sizeof *b->paths);
	b->err = calloc(n ? n : 1, sizeof *b->err);
	atomic_init(&b->next, 0);
	if (!b->paths || !b->err)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		lua_geti(L, idx, (lua_Integer)i + 1);
		size_t plen;
		const char *p = lua_tolstring(L, -1, &plen);
		if (!p) {
			lua_pop(L, 1);
			snprintf(why, whylen, "fsync_files: entry %zu is not a path", i + 1);
			b->n = i;
			goto fail;
		}
		b->paths[i] = malloc(plen + 1);
		b->n = i + 1; /* freed from here on */
		if (b->paths[i])
			memcpy(b->paths[i], p, plen + 1);
		lua_pop(L, 1);
		if (!b->paths[i])
			goto fail;
	}
	b->n = n;
	return b;
fail:
	if (b->paths)
		for (size_t i = 0; i < b->n; i++)
			free(b->paths[i]);
	free(b->paths);
	free(b->err);
	free(b);
	return NULL;
}

static void batch_free(struct sync_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->paths[i]);
	free(b->paths);
	free(b->err);
	free(b);
}

/* true, or nil, message, errno, index of the first file that failed. */
static int push_result(lua_State *L, const struct sync_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->err[i] != 0) {
			lua_pushnil(L);
			lua_pushfstring(L, "%s: fsync: %s", b->paths[i], strerror(b->err[i]));
			lua_pushinteger(L, b->err[i]);
			lua_pushinteger(L, (lua_Integer)i + 1);
			return 4;
		}
	lua_pushboolean(L, 1);
	return 1;
}

#define JOB_MT "imei.host.fsync_job"

struct sync_job {
	struct sync_batch *b;
	pthread_t threads[SYNC_THREADS];
	size_t started; /* threads running until joined */
	bool done;      /* every file synced (or tried) */
};

/* Start up to `want` threads on b (fewer when the system refuses some). */
static size_t start_threads(struct sync_batch *b, pthread_t *threads, size_t want)
{
	size_t started = 0;
	while (started < want && pthread_create(&threads[started], NULL, sync_thread, b) == 0)
		started++;
	return started;
}

static void job_finish(struct sync_job *job)
{
	if (job->done || !job->b)
		return;
	sync_thread(job->b); /* whatever is left (every file, when no thread started) */
	for (size_t t = 0; t < job->started; t++)
		pthread_join(job->threads[t], NULL);
	job->started = 0;
	job->done = true;
}

static int l_fsync_files(lua_State *L)
{
	char why[96];
	struct sync_batch *b = batch_new(L, 1, why, sizeof why);
	if (!b)
		return luaL_error(L, "%s", why);
	pthread_t threads[SYNC_THREADS];
	size_t want = b->n < SYNC_THREADS ? b->n : SYNC_THREADS;
	size_t started = start_threads(b, threads, want ? want - 1 : 0); /* the caller's thread is one */
	sync_thread(b);
	for (size_t t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	int nret = push_result(L, b);
	batch_free(b);
	return nret;
}

static int l_fsync_start(lua_State *L)
{
	struct sync_job *job = lua_newuserdatauv(L, sizeof *job, 0);
	memset(job, 0, sizeof *job);
	luaL_setmetatable(L, JOB_MT);
	char why[96];
	if (!(job->b = batch_new(L, 1, why, sizeof why)))
		return luaL_error(L, "%s", why);
	job->started = start_threads(job->b, job->threads, job->b->n < SYNC_THREADS ? job->b->n : SYNC_THREADS);
	return 1;
}

static int l_job_wait(lua_State *L)
{
	struct sync_job *job = luaL_checkudata(L, 1, JOB_MT);
	if (!job->b)
		return luaL_error(L, "fsync job: closed");
	job_finish(job);
	return push_result(L, job->b);
}

static int l_job_close(lua_State *L)
{
	struct sync_job *job = luaL_checkudata(L, 1, JOB_MT);
	job_finish(job);
	batch_free(job->b);
	job->b = NULL;
	return 0;
}

void imei_lua_fsync(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "fsync_files", l_fsync_files },
		{ "fsync_start", l_fsync_start },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, JOB_MT)) {
		lua_createtable(L, 0, 2);
		lua_pushcfunction(L, l_job_wait);
		lua_setfield(L, -2, "wait");
		lua_pushcfunction(L, l_job_close);
		lua_setfield(L, -2, "close");
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_job_close);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_job_close);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
}
