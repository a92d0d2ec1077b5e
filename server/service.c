#define _GNU_SOURCE /* sigtimedwait is POSIX; keep glibc's full set for pthread names */
/*
 * service.c — the protocol-neutral server (service.h): opens the shared objects (TAC
 * image, lists, store), reports each list's load, creates one engine and thread per
 * worker, runs the front ends, and in the main thread takes signals and keeps watch:
 *   SIGHUP   reload lists, TAC image and policy in a thread of its own; a reload that
 *            fails keeps the old ones, one that runs past --reload-timeout is refused
 *            (counted "hung", never applied); /health and /metrics count both;
 *   SIGTERM  graceful stop: front ends drain, workers end within --grace; a worker
 *            still stuck after that does not hold the process: it exits anyway;
 *   SIGUSR1  reopen the access log;
 *   watchdog every 50 ms: a worker in one check longer than --watchdog gets its
 *            request answered with on_error (by its front end, on the socket), its
 *            connections shut down, and a fresh worker in its slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imei_lists.h"
#include "service.h"
#include "imei_tacdb.h"

void eird_logf(struct eird_server *srv, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&srv->log_lock);
	fprintf(stderr, "imei-eird: %s\n", line);
	pthread_mutex_unlock(&srv->log_lock);
}

void eird_policy_name(struct eird_server *srv, char *buf, size_t len)
{
	pthread_mutex_lock(&srv->state_lock);
	snprintf(buf, len, "%s", srv->policy_name);
	pthread_mutex_unlock(&srv->state_lock);
}

int eird_add_frontend(struct eird_server *srv, struct eird_frontend *fe)
{
	if (srv->nfe == EIRD_MAX_FRONTENDS)
		return -1;
	fe->slot = (unsigned)srv->nfe;
	srv->fe[srv->nfe++] = fe;
	return 0;
}

static int open_log(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(STDOUT_FILENO);
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static void reopen_log(struct eird_server *srv)
{
	if (srv->log_fd < 0 || strcmp(srv->cfg.access_log, "-") == 0)
		return;
	int fd = open_log(srv->cfg.access_log);
	if (fd < 0) {
		eird_logf(srv, "cannot reopen the access log %s: %s", srv->cfg.access_log, strerror(errno));
		return;
	}
	dup2(fd, srv->log_fd); /* atomically: workers keep writing to the same descriptor */
	close(fd);
}

/* ---- load reports (issue 10 §5) ----------------------------------------------------- */

/* Each list's report as one JSON array (for /health) and one line each on stderr. */
static void lists_report(struct eird_server *srv, const struct imei_lists *ls, struct ebuf *json, bool log)
{
	ebuf_str(json, "[");
	size_t n = imei_lists_count(ls);
	for (size_t i = 0; i < n; i++) {
		struct imei_list *l = imei_lists_at(ls, i);
		const struct imei_list_report *r = imei_lists_report(ls, i);
		const char *name = imei_list_name(l);
		const char *path = imei_list_path(l);
		ebuf_str(json, i ? ",{\"name\":" : "{\"name\":");
		ebuf_json_str(json, name, strlen(name));
		if (path) {
			ebuf_str(json, ",\"path\":");
			ebuf_json_str(json, path, strlen(path));
		}
		ebuf_printf(json, ",\"kind\":\"%s\",\"rows\":%zu,\"accepted\":%zu,\"rejected\":%zu,\"duplicates\":%zu,"
		                  "\"warnings\":%zu,\"rejected_by_reason\":{",
		            imei_list_kind_name(imei_list_kind(l)), r->rows, r->loaded, r->rejected, r->duplicates,
		            r->warnings);
		/* reasons of the first rejected rows, counted (the report keeps the first ones) */
		bool done[IMEI_LIST_MAX_ERRORS] = { false };
		size_t nerr = r->nerrors < IMEI_LIST_MAX_ERRORS ? r->nerrors : IMEI_LIST_MAX_ERRORS;
		char reasons[512] = "";
		size_t used = 0;
		bool first = true;
		for (size_t e = 0; e < nerr; e++) {
			if (done[e])
				continue;
			size_t count = 0;
			for (size_t k = e; k < nerr; k++)
				if (!done[k] && strcmp(r->errors[k].reason, r->errors[e].reason) == 0) {
					done[k] = true;
					count++;
				}
			if (!first)
				ebuf_str(json, ",");
			first = false;
			ebuf_json_str(json, r->errors[e].reason, strnlen(r->errors[e].reason, sizeof r->errors[e].reason));
			ebuf_printf(json, ":%zu", count);
			int k = snprintf(reasons + used, sizeof reasons - used, "%s%zu x line %zu: %.96s", used ? "; " : "",
			                 count, r->errors[e].line, r->errors[e].reason);
			if (k > 0 && (size_t)k < sizeof reasons - used)
				used += (size_t)k;
		}
		ebuf_str(json, "}");
		if (r->rejected > nerr)
			ebuf_printf(json, ",\"rejected_unclassified\":%zu", r->rejected - nerr);
		ebuf_str(json, "}");
		if (log)
			eird_logf(srv, "list %s (%s): %zu rows, %zu accepted, %zu rejected, %zu duplicates, %zu warnings%s%s",
			          name, path ? path : "-", r->rows, r->loaded, r->rejected, r->duplicates, r->warnings,
			          used ? "; rejected: " : "", reasons);
	}
	ebuf_str(json, "]");
}

static void set_lists_report(struct eird_server *srv, const struct imei_lists *ls)
{
	struct ebuf j;
	ebuf_init(&j);
	if (ls)
		lists_report(srv, ls, &j, !srv->cfg.quiet);
	pthread_mutex_lock(&srv->state_lock);
	ebuf_free(&srv->lists_json);
	if (!j.failed)
		srv->lists_json = j;
	else
		ebuf_free(&j);
	pthread_mutex_unlock(&srv->state_lock);
}

static void set_policy_name(struct eird_server *srv, struct imei_engine *e)
{
	imei_engine_lock(e);
	pthread_mutex_lock(&srv->state_lock);
	snprintf(srv->policy_name, sizeof srv->policy_name, "%s", imei_engine_policy_name(e));
	pthread_mutex_unlock(&srv->state_lock);
	imei_engine_unlock(e);
}

/* ---- reload (SIGHUP) ---------------------------------------------------------------- */

struct reload_job {
	struct eird_server *srv;
	pthread_t thread;
	bool running;
	_Atomic int done;
	_Atomic int timed_out; /* the main thread gave up: apply nothing */
	uint64_t started;
	bool counted;
	char err[1024];
	int ok;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The reload itself, in its own thread: new lists and TAC image (when their files
 * changed), a trial engine on them (the policy loads and passes its examples), then each
 * worker's engine. Nothing is applied once the main thread has given up on it. */
static void *reload_main(void *arg)
{
	struct reload_job *job = arg;
	struct eird_server *srv = job->srv;
	char err[1024] = "";
	struct imei_lists *lists = NULL;
	struct imei_tacdb *tacdb = NULL;
	struct stat tst = srv->tacdb_stat; /* only the reload thread writes it after startup */
	job->ok = 0;
	while (srv->fault_hang_reload) { /* the test of the reload timeout: a load stuck for good */
		struct timespec ts = { 1, 0 };
		nanosleep(&ts, NULL);
	}
	if (srv->cfg.lists) {
		lists = imei_lists_load_dir(srv->cfg.lists, err, sizeof err);
		if (!lists) {
			snprintf(job->err, sizeof job->err, "lists kept: %.900s", err);
			goto out;
		}
	}
	if (srv->cfg.tacdb && !srv->cfg.tacdb_temporary) {
		struct stat st;
		if (stat(srv->cfg.tacdb, &st) != 0) {
			snprintf(job->err, sizeof job->err, "TAC image kept: %s: %.900s", srv->cfg.tacdb, strerror(errno));
			goto out;
		}
		if (!same_file(&st, &srv->tacdb_stat)) {
			struct imei_tacdb_error terr;
			tacdb = imei_tacdb_open_copy(srv->cfg.tacdb, &terr);
			if (!tacdb) {
				snprintf(job->err, sizeof job->err, "TAC image kept: %.900s", terr.msg);
				goto out;
			}
			tst = st;
		}
	}
	/* the trial: a throwaway engine with the new objects */
	pthread_mutex_lock(&srv->state_lock);
	struct imei_engine_config tc = srv->ecfg;
	pthread_mutex_unlock(&srv->state_lock);
	if (lists)
		tc.lists = lists;
	if (tacdb)
		tc.tacdb = tacdb;
	struct imei_engine *trial = imei_engine_new(&tc, err, sizeof err);
	if (!trial) {
		snprintf(job->err, sizeof job->err, "policy kept: %.900s", err);
		goto out;
	}
	imei_engine_free(trial);
	if (atomic_load(&job->timed_out))
		goto out;
	/* the engines of the workers in the slots now (a retired one may be stuck: skipped) */
	pthread_rwlock_rdlock(&srv->workers_lock);
	size_t n = srv->nworkers;
	struct imei_engine **engines = malloc(n * sizeof *engines);
	for (size_t i = 0; engines && i < n; i++)
		engines[i] = srv->workers[i]->engine;
	pthread_rwlock_unlock(&srv->workers_lock);
	if (!engines) {
		snprintf(job->err, sizeof job->err, "out of memory");
		goto out;
	}
	job->ok = 1;
	for (size_t i = 0; i < n; i++) {
		if (tacdb)
			imei_engine_set_tacdb(engines[i], tacdb);
		if (lists && imei_engine_set_lists(engines[i], lists, err, sizeof err) != 0) {
			snprintf(job->err, sizeof job->err, "worker %zu: lists kept: %.900s", i, err);
			job->ok = 0;
		}
		if (imei_engine_reload(engines[i], err, sizeof err) != 0) {
			snprintf(job->err, sizeof job->err, "worker %zu: policy kept: %.900s", i, err);
			job->ok = 0;
		}
	}
	if (n)
		set_policy_name(srv, engines[0]);
	free(engines);
	/* the shared config follows, so workers the watchdog creates get the same */
	pthread_mutex_lock(&srv->state_lock);
	if (lists) {
		if (srv->ecfg.lists)
			imei_lists_unref(srv->ecfg.lists);
		srv->ecfg.lists = imei_lists_ref(lists);
	}
	if (tacdb) {
		if (srv->ecfg.tacdb)
			imei_tacdb_unref(srv->ecfg.tacdb);
		srv->ecfg.tacdb = imei_tacdb_ref(tacdb);
		srv->tacdb_stat = tst;
	}
	pthread_mutex_unlock(&srv->state_lock);
	if (lists)
		set_lists_report(srv, lists);
out:
	if (lists)
		imei_lists_unref(lists);
	if (tacdb)
		imei_tacdb_unref(tacdb);
	atomic_store(&job->done, 1);
	return NULL;
}

static void reload_start(struct eird_server *srv, struct reload_job *job)
{
	if (job->running) {
		atomic_fetch_add(&srv->reloads_failed, 1);
		eird_logf(srv, "reload refused: the previous reload is still running (hung)");
		return;
	}
	memset(job, 0, sizeof *job);
	job->srv = srv;
	job->started = eird_now_ns();
	if (pthread_create(&job->thread, NULL, reload_main, job) != 0) {
		atomic_fetch_add(&srv->reloads_failed, 1);
		eird_logf(srv, "reload refused: cannot start its thread");
		return;
	}
	job->running = true;
}

static void record_reload_error(struct eird_server *srv, const char *msg)
{
	pthread_mutex_lock(&srv->state_lock);
	snprintf(srv->reload_error, sizeof srv->reload_error, "%.1000s", msg);
	pthread_mutex_unlock(&srv->state_lock);
}

/* Called every watch round: a finished reload is counted; one past its time, refused. */
static void reload_poll(struct eird_server *srv, struct reload_job *job)
{
	if (!job->running)
		return;
	if (atomic_load(&job->done)) {
		pthread_join(job->thread, NULL);
		job->running = false;
		if (job->counted) { /* refused already: whatever it did was not applied */
			eird_logf(srv, "reload: the refused reload ended after all; nothing of it was applied");
			return;
		}
		if (job->ok) {
			atomic_fetch_add(&srv->reloads_ok, 1);
			record_reload_error(srv, "");
		} else {
			atomic_fetch_add(&srv->reloads_failed, 1);
			record_reload_error(srv, job->err);
			eird_logf(srv, "reload: %s", job->err);
		}
		if (!srv->cfg.quiet) {
			char name[160];
			eird_policy_name(srv, name, sizeof name);
			eird_logf(srv, "reload %s: policy %s", job->ok ? "done" : "FAILED (old policy or lists kept)", name);
		}
		return;
	}
	if (!job->counted && (double)(eird_now_ns() - job->started) > srv->cfg.reload_timeout * 1e9) {
		atomic_store(&job->timed_out, 1);
		job->counted = true;
		atomic_fetch_add(&srv->reloads_hung, 1);
		char msg[200];
		snprintf(msg, sizeof msg, "reload hung: still loading after %.1f s; refused, the old policy stays",
		         srv->cfg.reload_timeout);
		record_reload_error(srv, msg);
		eird_logf(srv, "%s", msg);
	}
}

/* ---- the watchdog ------------------------------------------------------------------- */

static void recycle(struct eird_server *srv, size_t slot)
{
	struct eird_worker *w = srv->workers[slot];
	int expect = EIRD_CHECK_RUNNING;
	if (!atomic_compare_exchange_strong(&w->check_state, &expect, EIRD_CHECK_HUNG))
		return; /* it finished meanwhile */
	atomic_store(&w->abandoned, 1);
	/* the hung request: the on_error verdict, answered by the front end */
	struct imei_verdict v = IMEI_VERDICT_INIT; /* no buffers: its one string is msg */
	char msg[128];
	v.status = srv->ecfg.on_error;
	v.failed = true;
	snprintf(msg, sizeof msg, "watchdog: the check ran past %.3f s", srv->cfg.watchdog);
	v.error = msg;
	if (w->hang.answer)
		w->hang.answer(w->hang.ctx, &v);
	for (size_t i = 0; i < srv->nfe; i++)
		if (srv->fe[i]->worker_abandon)
			srv->fe[i]->worker_abandon(srv->fe[i], w);
	/* the access-log lines it buffered before it hung: the worker thread touches its buffer
	 * again only after hang_answered, so writing them out here races with nothing */
	eird_log_flush(w);
	atomic_store(&w->hang_answered, 1);
	atomic_fetch_add(&srv->watchdog_recycles, 1);
	eird_logf(srv, "watchdog: worker %u stuck in a check for over %.3f s: answered %s (on_error), its connections "
	               "closed, replacing it",
	          w->id, srv->cfg.watchdog, imei_status_name(v.status));
	char err[1024];
	struct eird_worker *fresh = eird_worker_new(srv, w->id, err, sizeof err);
	if (fresh) {
		fresh->generation = w->generation + 1;
		if (atomic_load(&srv->stopping) || eird_worker_start(fresh) != 0) {
			eird_worker_free(fresh);
			fresh = NULL;
		}
	}
	if (!fresh) {
		eird_logf(srv, "watchdog: cannot replace worker %u: %s", w->id, err);
		return; /* the slot keeps the abandoned worker (its counters still count) */
	}
	pthread_rwlock_wrlock(&srv->workers_lock);
	srv->workers[slot] = fresh;
	w->retired_next = srv->retired;
	srv->retired = w;
	pthread_rwlock_unlock(&srv->workers_lock);
}

static void watch(struct eird_server *srv)
{
	uint64_t now = eird_now_ns();
	for (size_t i = 0; i < srv->nworkers; i++) {
		struct eird_worker *w = srv->workers[i];
		if (atomic_load(&w->abandoned) || atomic_load_explicit(&w->check_state, memory_order_acquire) !=
		                                          EIRD_CHECK_RUNNING)
			continue;
		uint64_t t = atomic_load_explicit(&w->check_started, memory_order_relaxed);
		if (now > t && (double)(now - t) > srv->cfg.watchdog * 1e9)
			recycle(srv, i);
	}
}

/* ---- run ---------------------------------------------------------------------------- */

/* Wait for every worker thread, at most until deadline (monotonic ns); false when some
 * are still running then (stuck in a check). */
static bool join_workers(struct eird_server *srv, uint64_t deadline)
{
	for (;;) {
		bool all = true;
		for (size_t i = 0; i < srv->nworkers; i++)
			if (srv->workers[i] && srv->workers[i]->started && !atomic_load(&srv->workers[i]->exited))
				all = false;
		for (struct eird_worker *w = srv->retired; w; w = w->retired_next)
			if (w->started && !atomic_load(&w->exited))
				all = false;
		if (all)
			break;
		if (eird_now_ns() > deadline)
			return false;
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	for (size_t i = 0; i < srv->nworkers; i++)
		if (srv->workers[i] && srv->workers[i]->started)
			pthread_join(srv->workers[i]->thread, NULL);
	for (struct eird_worker *w = srv->retired; w; w = w->retired_next)
		if (w->started)
			pthread_join(w->thread, NULL);
	return true;
}

int eird_run(struct eird_server *srv)
{
	const struct eird_config *cfg = &srv->cfg;
	pthread_mutex_init(&srv->log_lock, NULL);
	pthread_mutex_init(&srv->state_lock, NULL);
	pthread_rwlock_init(&srv->workers_lock, NULL);
	srv->log_fd = -1;
	srv->started = (long long)time(NULL);
	int status = 1;
	struct reload_job job = { 0 };

	/* Signals are taken by the main thread only (sigtimedwait); workers inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	const char *fault = getenv("IMEI_EIRD_FAULT");
	if (fault && strncmp(fault, "hang-check:", 11) == 0)
		srv->fault_hang_pei = fault + 11;
	srv->fault_hang_reload = fault && strcmp(fault, "hang-reload") == 0;
	if (fault)
		eird_logf(srv, "fault injection for tests: %s", fault);

	char err[1024];
	struct imei_engine_paths paths = { .policy = cfg->policy, .tacdb = cfg->tacdb, .lists = cfg->lists,
	                                   .store = cfg->store, .lua_path = cfg->lua_path };
	if (cfg->tacdb && stat(cfg->tacdb, &srv->tacdb_stat) != 0)
		memset(&srv->tacdb_stat, 0, sizeof srv->tacdb_stat);
	if (imei_engine_config_open(&srv->ecfg, &paths, err, sizeof err) != 0) {
		eird_logf(srv, "%s", err);
		return 2;
	}
	if (cfg->tacdb && cfg->tacdb_temporary)
		unlink(cfg->tacdb); /* read: the file is no longer needed */
	srv->ecfg.limits = cfg->limits;
	srv->ecfg.record = cfg->record;
	if (srv->ecfg.lists)
		set_lists_report(srv, srv->ecfg.lists);
	srv->admit = eird_admit_new();
	srv->nworkers = cfg->workers;
	srv->workers = calloc(srv->nworkers, sizeof *srv->workers);
	if (!srv->workers || !srv->admit) {
		eird_logf(srv, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < srv->nworkers; i++) {
		srv->workers[i] = eird_worker_new(srv, (unsigned)i, err, sizeof err);
		if (!srv->workers[i]) {
			eird_logf(srv, "%s", err);
			status = 2;
			goto out;
		}
	}
	set_policy_name(srv, srv->workers[0]->engine);
	if (cfg->access_log) {
		srv->log_fd = open_log(cfg->access_log);
		if (srv->log_fd < 0) {
			eird_logf(srv, "cannot open the access log %s: %s", cfg->access_log, strerror(errno));
			status = 2;
			goto out;
		}
	}
	for (size_t i = 0; i < srv->nfe; i++)
		if (srv->fe[i]->open && srv->fe[i]->open(srv->fe[i], srv) != 0) {
			status = 2;
			goto out;
		}
	for (size_t i = 0; i < srv->nworkers; i++) {
		if (eird_worker_start(srv->workers[i]) != 0) {
			eird_logf(srv, "cannot start worker %zu", i);
			atomic_store(&srv->stopping, 1);
			goto join;
		}
	}
	if (!cfg->quiet) {
		char name[160];
		eird_policy_name(srv, name, sizeof name);
		eird_logf(srv, "%zu workers, policy %s; watchdog %.3f s per check", srv->nworkers, name, cfg->watchdog);
	}

	for (;;) {
		struct timespec tick = { 0, 50 * 1000000 };
		siginfo_t si;
		int sig = sigtimedwait(&sigs, &si, &tick);
		watch(srv);
		reload_poll(srv, &job);
		if (sig < 0)
			continue; /* EAGAIN: the watch round; EINTR */
		if (sig == SIGHUP) {
			reload_start(srv, &job);
			reopen_log(srv);
		} else if (sig == SIGUSR1) {
			reopen_log(srv);
		} else {
			if (!cfg->quiet)
				eird_logf(srv, "%s: stopping (grace %.1f s)", sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg->grace);
			break;
		}
	}
	atomic_store(&srv->stopping, 1);
	status = 0;
join:
	for (size_t i = 0; i < srv->nworkers; i++)
		if (srv->workers[i] && srv->workers[i]->started)
			eird_worker_stop(srv->workers[i]);
	/* the grace period, and one second more for the forced closes */
	if (!join_workers(srv, eird_now_ns() + (uint64_t)((cfg->grace + 1.0) * 1e9))) {
		eird_logf(srv, "a worker is stuck in a check past the grace period: exiting without it");
		for (size_t i = 0; i < srv->nfe; i++)
			if (srv->fe[i]->close)
				srv->fe[i]->close(srv->fe[i]);
		if (!cfg->quiet && status == 0)
			eird_logf(srv, "stopped");
		_exit(status == 0 ? 0 : status); /* its engine cannot be freed while it runs */
	}
	if (job.running) { /* a reload in its thread: give it the same bound */
		for (int i = 0; i < 100 && !atomic_load(&job.done); i++) {
			struct timespec ts = { 0, 20 * 1000000 };
			nanosleep(&ts, NULL);
		}
		if (!atomic_load(&job.done)) {
			eird_logf(srv, "a reload is still running: exiting without it");
			_exit(status);
		}
		pthread_join(job.thread, NULL);
	}
out:
	if (srv->workers) {
		for (size_t i = 0; i < srv->nworkers; i++)
			eird_worker_free(srv->workers[i]);
		free(srv->workers);
	}
	while (srv->retired) {
		struct eird_worker *w = srv->retired;
		srv->retired = w->retired_next;
		eird_worker_free(w);
	}
	for (size_t i = 0; i < srv->nfe; i++)
		if (srv->fe[i]->close)
			srv->fe[i]->close(srv->fe[i]);
	if (srv->log_fd >= 0)
		close(srv->log_fd);
	eird_admit_free(srv->admit);
	ebuf_free(&srv->lists_json);
	imei_engine_config_release(&srv->ecfg);
	if (!cfg->quiet && status == 0)
		eird_logf(srv, "stopped");
	pthread_rwlock_destroy(&srv->workers_lock);
	pthread_mutex_destroy(&srv->state_lock);
	pthread_mutex_destroy(&srv->log_lock);
	return status;
}
