/*
 * lua_batchio.c — what batch commands (imei classify, imei gen) need from the operating
 * system and plain Lua lacks:
 *   signals_catch() / signals_restore() / signals_caught() -> signal number | nil
 *   signals_block(bool)            hold SIGINT/SIGTERM/SIGHUP back (while committing)
 *   signals_reraise(sig)           default action, then raise: die of the signal
 *   isatty(fd) -> bool             monotime() -> seconds      getpid() -> pid
 *   ncpu() -> processors online
 *   fsync(path) -> true | nil, err            (a file or a directory)
 *   durable_rename(from, to) -> true | nil, err  fsync the file, rename, fsync the folder
 *   mkdir(path) / rmdir(path) -> true | nil, err, errno
 *   listdir(path) -> { names } | nil, err     file_size(path) -> bytes | nil, err
 *   lock_dir(path) -> lock | nil, err         flock(2) on the directory itself, so no
 *                                             lock file is left behind; lock:unlock()
 *
 * Signals: the handler only stores the signal's number in a lock-free atomic int — the
 * one piece of process-wide mutable state here, because a signal handler can reach
 * nothing else; being atomic, the reader and digest threads that watch it read it
 * without a data race too (a volatile sig_atomic_t is safe for the handler only).
 * The replay (replay.c) watches it. Handlers are installed without SA_RESTART, so a read
 * blocked on an idle pipe returns EINTR and the job can stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "imei_lua_host.h"

static _Atomic int caught_signal;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler may store only into a lock-free atomic");
static const int watched[] = { SIGINT, SIGTERM, SIGHUP };
#define NWATCHED (sizeof watched / sizeof watched[0])
static struct sigaction saved[NWATCHED];
static int installed;

const _Atomic int *imei_lua_stop_flag(void)
{
	return &caught_signal;
}

static void on_signal(int sig)
{
	caught_signal = sig;
}

static int l_signals_catch(lua_State *L)
{
	if (!installed) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = 0; /* no SA_RESTART: see above */
		for (size_t i = 0; i < NWATCHED; i++)
			sigaction(watched[i], &sa, &saved[i]);
		installed = 1;
	}
	caught_signal = 0;
	lua_pushboolean(L, 1);
	return 1;
}

static int l_signals_restore(lua_State *L)
{
	(void)L;
	if (installed) {
		for (size_t i = 0; i < NWATCHED; i++)
			sigaction(watched[i], &saved[i], NULL);
		installed = 0;
	}
	return 0;
}

static int l_signals_caught(lua_State *L)
{
	int sig = caught_signal;
	if (!sig)
		return 0;
	lua_pushinteger(L, sig);
	lua_pushstring(L, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "signal");
	return 2;
}

static int l_signals_block(lua_State *L)
{
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < NWATCHED; i++)
		sigaddset(&set, watched[i]);
	sigprocmask(lua_toboolean(L, 1) ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
	return 0;
}

static int l_signals_reraise(lua_State *L)
{
	int sig = (int)luaL_checkinteger(L, 1);
	fflush(NULL);
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 0; /* not reached for the signals this is meant for */
}

static int l_isatty(lua_State *L)
{
	lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
	return 1;
}

static int l_monotime(lua_State *L)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	lua_pushnumber(L, (lua_Number)t.tv_sec + (lua_Number)t.tv_nsec * 1e-9);
	return 1;
}

static int l_ncpu(lua_State *L)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	lua_pushinteger(L, n > 0 ? n : 1);
	return 1;
}

static int l_getpid(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)getpid());
	return 1;
}

static int fail_errno(lua_State *L, const char *what, const char *path)
{
	int e = errno;
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s: %s", path, what, strerror(e));
	lua_pushinteger(L, e);
	return 3;
}

static int sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int l_fsync(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (sync_path(path) < 0)
		return fail_errno(L, "fsync", path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_durable_rename(lua_State *L)
{
	const char *from = luaL_checkstring(L, 1), *to = luaL_checkstring(L, 2);
	if (sync_path(from) < 0)
		return fail_errno(L, "fsync", from);
	if (rename(from, to) < 0)
		return fail_errno(L, "rename", to);
	/* the folder's entry: fsync the directory that holds `to` */
	const char *slash = strrchr(to, '/');
	char dir[4096];
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else if (slash == to)
		snprintf(dir, sizeof dir, "/");
	else
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - to), to);
	if (sync_path(dir) < 0)
		return fail_errno(L, "fsync", dir);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_mkdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (mkdir(path, 0777) < 0)
		return fail_errno(L, "mkdir", path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_rmdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (rmdir(path) < 0)
		return fail_errno(L, "rmdir", path);
	lua_pushboolean(L, 1);
	return 1;
}

static int l_listdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	DIR *d = opendir(path);
	if (!d)
		return fail_errno(L, "opendir", path);
	lua_newtable(L);
	lua_Integer n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		lua_pushstring(L, e->d_name);
		lua_rawseti(L, -2, ++n);
	}
	closedir(d);
	return 1;
}

static int l_file_size(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct stat st;
	if (stat(path, &st) < 0)
		return fail_errno(L, "stat", path);
	lua_pushinteger(L, (lua_Integer)st.st_size);
	lua_pushboolean(L, S_ISREG(st.st_mode));
	lua_pushboolean(L, S_ISDIR(st.st_mode));
	return 3;
}

#define LOCK_MT "imei.dirlock"

struct dirlock {
	int fd;
};

static int l_unlock(lua_State *L)
{
	struct dirlock *lk = luaL_checkudata(L, 1, LOCK_MT);
	if (lk->fd >= 0) {
		flock(lk->fd, LOCK_UN);
		close(lk->fd);
		lk->fd = -1;
	}
	return 0;
}

static int l_lock_dir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct dirlock *lk = lua_newuserdatauv(L, sizeof *lk, 0);
	lk->fd = -1;
	luaL_setmetatable(L, LOCK_MT);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail_errno(L, "open", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		lua_pushnil(L);
		if (e == EWOULDBLOCK)
			lua_pushfstring(L, "%s: another run is writing into this folder (it holds its lock)", path);
		else
			lua_pushfstring(L, "%s: flock: %s", path, strerror(e));
		return 2;
	}
	lk->fd = fd;
	return 1;
}

void imei_lua_batchio(lua_State *L)
{
	static const luaL_Reg funcs[] = {
		{ "signals_catch", l_signals_catch },
		{ "signals_restore", l_signals_restore },
		{ "signals_caught", l_signals_caught },
		{ "signals_block", l_signals_block },
		{ "signals_reraise", l_signals_reraise },
		{ "isatty", l_isatty },
		{ "monotime", l_monotime },
		{ "getpid", l_getpid },
		{ "ncpu", l_ncpu },
		{ "fsync", l_fsync },
		{ "durable_rename", l_durable_rename },
		{ "mkdir", l_mkdir },
		{ "rmdir", l_rmdir },
		{ "listdir", l_listdir },
		{ "file_size", l_file_size },
		{ "lock_dir", l_lock_dir },
		{ NULL, NULL },
	};
	if (luaL_newmetatable(L, LOCK_MT)) {
		lua_createtable(L, 0, 1);
		lua_pushcfunction(L, l_unlock);
		lua_setfield(L, -2, "unlock");
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, l_unlock);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, l_unlock);
		lua_setfield(L, -2, "__close");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	luaL_setfuncs(L, funcs, 0);
}
