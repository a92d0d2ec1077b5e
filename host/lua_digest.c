/*
 * lua_digest.c — file digests for the audit trail of imei classify (docs/classify.md):
 *   file_sha256(path) -> hex, bytes | nil, err    one file, now
 *   digest_files({ path, ... }) -> job           the same for many files on a thread of
 *                                                its own, while the caller reads them
 *   job:wait() -> { { path =, sha256 =, bytes = } | { path =, not_regular = true }
 *                   | { path =, error = }, ... }      (not_regular: a pipe, a device)
 *   job:close()  (also __close, __gc)              stop it (within a MiB) and join it
 *   realpath(path) -> absolute path | nil, err
 * The thread touches nothing but the job's own copies of the paths, its result slots and
 * its stop flag: close() sets it, and so does wait() when lua_batchio.c has caught a
 * SIGINT/SIGTERM/SIGHUP (it waits in steps and looks); wait() (or close) joins the
 * thread before any of them is read or freed. So a job may start long before its result
 * is needed (imei classify hashes the dumps while it loads the policy and lists) and be
 * dropped at once when the run stops early.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imei_digest.h"
#include "imei_lua_host.h"

#define JOB_MT "imei.host.digest_job"

struct digest_result {
	char hex[IMEI_SHA256_HEX_SIZE];
	uint64_t bytes;
	int rc; /* imei_file_sha256's */
	char err[256];
};

struct digest_job {
	pthread_t thread;
	int running; /* started and not yet joined */
	size_t n;
	_Atomic int stop; /* ends the pass: close(), or a caught signal seen by wait() */
	pthread_mutex_t lock;
	pthread_cond_t finished;
	bool done, sync; /* done: the thread is through (lock); sync: lock and finished made */
	char **paths;
	struct digest_result *res;
};

static int l_file_sha256(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char hex[IMEI_SHA256_HEX_SIZE], err[256];
	uint64_t bytes = 0;
	if (imei_file_sha256(path, hex, &bytes, NULL, err, sizeof err) != 0) { /* a pipe too: an error here */
		lua_pushnil(L);
		lua_pushstring(L, err);
		return 2;
	}
	lua_pushstring(L, hex);
	lua_pushinteger(L, (lua_Integer)bytes);
	return 2;
}

static int l_realpath(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char *abs = realpath(path, NULL);
	if (!abs) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", path, strerror(errno));
		return 2;
	}
	lua_pushstring(L, abs);
	free(abs);
	return 1;
}

static void *digest_thread(void *arg)
{
	struct digest_job *job = arg;
	for (size_t i = 0; i < job->n; i++) {
		struct digest_result *r = &job->res[i];
		r->rc = imei_file_sha256(job->paths[i], r->hex, &r->bytes, &job->stop, r->err, sizeof r->err);
	}
	pthread_mutex_lock(&job->lock);
	job->done = true;
	pthread_cond_signal(&job->finished);
	pthread_mutex_unlock(&job->lock);
	return NULL;
}

static void job_join(struct digest_job *job)
{
	if (job->running) {
		pthread_join(job->thread, NULL);
		job->running = 0;
	}
}

/* Until the thread is through, looking at the signal flag every 50 ms. */
static void job_wait(struct digest_job *job)
{
	if (!job->running)
		return;
	const _Atomic int *caught = imei_lua_stop_flag();
	pthread_mutex_lock(&job->lock);
	while (!job->done) {
		if (*caught)
			job->stop = 1;
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += 50 * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&job->finished, &job->lock, &t);
	}
	pthread_mutex_unlock(&job->lock);
	job_join(job);
}

static int l_job_gc(lua_State *L)
{
	struct digest_job *job = luaL_checkudata(L, 1, JOB_MT);
	job->stop = 1;
	job_join(job);
	if (job->sync) {
		pthread_mutex_destroy(&job->lock);
		pthread_cond_destroy(&job->finished);
		job->sync = false;
	}
	if (job->paths)
		for (size_t i = 0; i < job->n; i++)
			free(job->paths[i]);
	free(job->paths);
	free(job->res);
	job->paths = NULL;
	job->res = NULL;
	job->n = 0;
	return 0;
}

static int l_digest_files(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 1);
	if (n < 0 || (lua_Unsigned)n > SIZE_MAX / sizeof(struct digest_result))
		return luaL_error(L, "digest_files: too many files");
	struct digest_job *job = lua_newuserdatauv(L, sizeof *job, 0);
	memset(job, 0, sizeof *job);
	luaL_setmetatable(L, JOB_MT);
	size_t count = (size_t)n;
	pthread_mutex_init(&job->lock, NULL);
	pthread_cond_init(&job->finished, NULL);
	job->sync = true;
	job->paths = calloc(count ? count : 1, sizeof *job->paths);
	job->res = calloc(count ? count : 1, sizeof *job->res);
	if (!job->paths || !job->res)
		return luaL_error(L, "digest_files: out of memory");
	for (size_t i = 0; i < count; i++) {
		lua_geti(L, 1, (lua_Integer)i + 1);
		const char *p = lua_tostring(L, -1);
		if (!p)
			return luaL_error(L, "digest_files: entry %d is not a path", (int)i + 1);
		job->paths[i] = strdup(p);
		if (!job->paths[i])
			return luaL_error(L, "digest_files: out of memory");
		job->n = i + 1; /* __gc frees what is there */
		lua_pop(L, 1);
	}
	job->n = count;
	int e = pthread_create(&job->thread, NULL, digest_thread, job);
	if (e != 0) { /* no thread: hash here, now */
		digest_thread(job);
		return 1;
	}
	job->running = 1;
	return 1;
}

static int l_job_wait(lua_State *L)
{
	struct digest_job *job = luaL_checkudata(L, 1, JOB_MT);
	job_wait(job);
	lua_createtable(L, (int)job->n, 0);
	for (size_t i = 0; i < job->n; i++) {
		const struct digest_result *r = &job->res[i];
		lua_createtable(L, 0, 3);
		lua_pushstring(L, job->paths[i]);
		lua_setfield(L, -2, "path");
		if (r->rc == 0) {
			lua_pushstring(L, r->hex);
			lua_setfield(L, -2, "sha256");
			lua_pushinteger(L, (lua_Integer)r->bytes);
			lua_setfield(L, -2, "bytes");
		} else if (r->rc == IMEI_DIGEST_NOT_REGULAR) {
			lua_pushboolean(L, 1);
			lua_setfield(L, -2, "not_regular");
		} else {
			lua_pushstring(L, r->err);
			lua_setfield(L, -2, "error");
		}
		lua_rawseti(L, -2, (lua_Integer)i + 1);
	}
	return 1;
}

void imei_lua_digest(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "file_sha256", l_file_sha256 },
		{ "realpath", l_realpath },
		{ "digest_files", l_digest_files },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, JOB_MT)) {
		lua_createtable(L, 0, 2);
		lua_pushcfunction(L, l_job_wait);
		lua_setfield(L, -2, "wait");
		lua_pushcfunction(L, l_job_gc);
		lua_setfield(L, -2, "close");
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_job_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_job_gc);
		lua_setfield(L, -2, "__close");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
}
