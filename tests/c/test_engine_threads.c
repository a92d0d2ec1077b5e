/*
 * test_engine_threads.c — the thread model of the embedding API (imei_engine.h): several
 * worker threads, each with its own engine, share one frozen TAC database, one lists
 * collection and one sightings store. Every verdict is the one expected while the main
 * thread reloads every engine's policy over and over; a lists swap takes effect in every
 * engine; sightings recorded from all threads land in the one store; the objects outlive
 * the configuration that opened them. Also imei_engine_config_open()'s errors.
 * Run from the repository root (policies/ and lua/ are read from there).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imei_engine.h"
#include "imei_lists.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"
#include "tacdb_fixture.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"
#define POLICY "policies/example-country.lua"
#define NTHREADS 4
#define ROUNDS 400
#define T_2026_06_01 1780272000LL

/* What each request should get. registered: whether the lists in force register the
 * first IMEI. */
struct expect {
	const char *pei;
	enum imei_status status;
	const char *first_reason; /* NULL: none */
};

static const struct expect before_swap[] = {
	{ "imei-490154203237518", IMEI_STATUS_WHITELISTED, NULL },                   /* registered */
	{ "imei-352099001761481", IMEI_STATUS_BLACKLISTED, "stolen" },               /* stolen list */
	{ "000000000000000", IMEI_STATUS_BLACKLISTED, "junk_imei" },
	{ "A0000000002329", IMEI_STATUS_UNKNOWN, "not_an_imei" },                    /* a MEID */
	{ "imei-356938035643809", IMEI_STATUS_GREYLISTED, "gsma_not_found" },       /* TAC not in the db */
};

static const struct expect after_swap[] = {
	{ "imei-490154203237518", IMEI_STATUS_GREYLISTED, "not_on_registration_list" }, /* no longer */
	{ "imei-352099001761481", IMEI_STATUS_BLACKLISTED, "stolen" },
	{ "000000000000000", IMEI_STATUS_BLACKLISTED, "junk_imei" },
	{ "A0000000002329", IMEI_STATUS_UNKNOWN, "not_an_imei" },
	{ "imei-356938035643809", IMEI_STATUS_GREYLISTED, "gsma_not_found" },
};

#define NEXPECT (sizeof before_swap / sizeof before_swap[0])

struct worker {
	struct imei_engine *engine;
	const struct expect *expect;
	int id;
	int wrong, failed, checks;
	char first_wrong[256];
};

static atomic_int running;

static void *work(void *arg)
{
	struct worker *w = arg;
	char imsi[16];
	struct imei_verdict v = IMEI_VERDICT_INIT;
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t i = 0; i < NEXPECT; i++) {
			const struct expect *x = &w->expect[i];
			/* the stolen device is used with many SIMs: 50 distinct IMSIs per thread, all
			 * recorded in the shared store (the others keep one SIM) */
			snprintf(imsi, sizeof imsi, "41001%04d%06d", w->id, i == 1 ? round % 50 : 0);
			struct imei_request req = { .pei = x->pei, .imsi = imsi, .operator_id = "410-01", .time = T_2026_06_01 };
			int rc = imei_engine_check(w->engine, &req, &v);
			w->checks++;
			if (rc != 0 || v.failed) {
				w->failed++;
				continue;
			}
			bool ok = v.status == x->status &&
			          (x->first_reason ? v.nreasons > 0 && strcmp(v.reasons[0].condition, x->first_reason) == 0
			                           : v.nreasons == 0);
			if (!ok && w->wrong++ == 0)
				snprintf(w->first_wrong, sizeof w->first_wrong, "%s: %s (%s), want %s (%s)", x->pei,
				         imei_status_name(v.status), v.nreasons ? v.reasons[0].condition : "no reason",
				         imei_status_name(x->status), x->first_reason ? x->first_reason : "no reason");
		}
	}
	imei_verdict_release(&v);
	atomic_fetch_sub(&running, 1);
	return NULL;
}

static struct imei_list *list_of(const char *name, const char *csv)
{
	char err[256];
	struct imei_list *l = imei_list_load_buffer(csv, strlen(csv), name, NULL, err, sizeof err);
	if (!l)
		fprintf(stderr, "list %s: %s\n", name, err);
	return l;
}

static struct imei_lists *lists_of(bool registered)
{
	struct imei_lists *ls = imei_lists_new();
	struct imei_list *reg = list_of("registration", registered ? "approved_imei\n490154203237518\n"
	                                                             : "approved_imei\n111111111111116\n");
	struct imei_list *stolen = list_of("stolen", "imei,reporting_date\n352099001761481,20260101\n");
	if (!ls || !reg || !stolen || imei_lists_add(ls, reg) != 0 || imei_lists_add(ls, stolen) != 0) {
		fprintf(stderr, "cannot build the lists\n");
		exit(2);
	}
	imei_list_unref(reg);
	imei_list_unref(stolen);
	return ls;
}


/* Run NTHREADS workers on their engines while the main thread reloads every engine. */
static void run_phase(struct worker *workers, const struct expect *expect, int reloads_each)
{
	pthread_t th[NTHREADS];
	atomic_store(&running, NTHREADS);
	for (int i = 0; i < NTHREADS; i++) {
		workers[i].expect = expect;
		workers[i].wrong = workers[i].failed = workers[i].checks = 0;
		if (pthread_create(&th[i], NULL, work, &workers[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(2);
		}
	}
	int reloads = 0, reload_failures = 0;
	char err[512];
	for (int r = 0; r < reloads_each && atomic_load(&running) > 0; r++)
		for (int i = 0; i < NTHREADS; i++) {
			reloads++;
			if (imei_engine_reload(workers[i].engine, err, sizeof err) != 0) {
				reload_failures++;
				fprintf(stderr, "reload: %s\n", err);
			}
		}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(reload_failures, 0);
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_INT(workers[i].checks, ROUNDS * (int)NEXPECT);
		CHECK_INT(workers[i].failed, 0);
		CHECK_INT(workers[i].wrong, 0);
		if (workers[i].wrong)
			fprintf(stderr, "worker %d: %d wrong verdicts, first: %s\n", i, workers[i].wrong, workers[i].first_wrong);
	}
	printf("phase: %d threads x %d checks, %d reloads during them\n", NTHREADS, ROUNDS * (int)NEXPECT, reloads);
}

static void test_threads(void)
{
	struct imei_store_error serr;
	struct imei_engine_config cfg = { 0 };
	cfg.policy = POLICY;
	cfg.lua_path = LUA_PATH;
	cfg.record = true;
	cfg.tacdb = tacdb_fixture((const char *const[]){ "49015420", "35209900" }, 2, "Smartphone");
	cfg.lists = lists_of(true);
	cfg.store = imei_store_open("memory", NULL, &serr);
	CHECK(cfg.store != NULL);
	if (!cfg.store)
		return;

	struct worker workers[NTHREADS] = { { 0 } };
	char err[512];
	for (int i = 0; i < NTHREADS; i++) {
		workers[i].id = i;
		workers[i].engine = imei_engine_new(&cfg, err, sizeof err);
		CHECK(workers[i].engine != NULL);
		if (!workers[i].engine) {
			fprintf(stderr, "engine: %s\n", err);
			exit(1);
		}
	}
	/* The engines hold their own references: the configuration's may go now. */
	struct imei_store *store = imei_store_retain(cfg.store); /* kept to look inside below */
	imei_tacdb_unref(cfg.tacdb);
	imei_lists_unref(cfg.lists);
	imei_store_release(cfg.store);

	run_phase(workers, before_swap, 3);

	/* A new lists collection, swapped into every engine (what a SIGHUP does). */
	struct imei_lists *fresh = lists_of(false);
	for (int i = 0; i < NTHREADS; i++)
		CHECK_INT(imei_engine_set_lists(workers[i].engine, fresh, err, sizeof err), 0);
	imei_lists_unref(fresh); /* the engines keep it */
	run_phase(workers, after_swap, 2);

	/* Every thread's sightings are in the one store: 50 IMSIs per thread on the stolen key. */
	size_t count = 0;
	bool exact = false;
	CHECK_INT(imei_store_distinct(store, 35209900176148ULL, IMEI_FIELD_IMSI, 120, T_2026_06_01, &count, &exact,
	                              NULL, &serr),
	          0);
	CHECK_INT(count, NTHREADS * 50);
	CHECK(exact);

	uint64_t total = 0;
	for (int i = 0; i < NTHREADS; i++) {
		struct imei_engine_stats st;
		imei_engine_stats(workers[i].engine, &st);
		CHECK_INT(st.failures, 0);
		CHECK(st.reloads >= 1);
		total += st.checks;
		imei_engine_free(workers[i].engine);
	}
	CHECK_INT(total, 2 * NTHREADS * ROUNDS * NEXPECT);
	imei_store_release(store);
}

static void test_config_open(void)
{
	struct imei_engine_config cfg;
	char err[512];
	struct imei_engine_paths p = { .policy = POLICY, .lua_path = LUA_PATH, .store = "memory" };
	CHECK_INT(imei_engine_config_open(&cfg, &p, err, sizeof err), 0);
	CHECK(cfg.store != NULL && cfg.tacdb == NULL && cfg.lists == NULL);
	CHECK_STR(cfg.policy, POLICY);
	/* no lists: the policy reads stolen and registration, so it is refused, saying why */
	struct imei_engine *e = imei_engine_new(&cfg, err, sizeof err);
	CHECK(e == NULL);
	CHECK_HAS(err, "list 'stolen' (required by the policy at policies/baseline.lua:");
	CHECK_HAS(err, "list 'registration' (the policy reads it at policies/example-country.lua:");
	CHECK_HAS(err, "no lists are loaded");
	cfg.allow_missing_lists = true; /* what imei policy test does */
	e = imei_engine_new(&cfg, err, sizeof err);
	CHECK(e != NULL);
	imei_engine_config_release(&cfg);
	CHECK(cfg.store == NULL);
	if (e) {
		struct imei_verdict v = IMEI_VERDICT_INIT;
		struct imei_request req = { .pei = "000000000000000" };
		CHECK_INT(imei_engine_check(e, &req, &v), 0);
		CHECK_INT(v.status, IMEI_STATUS_BLACKLISTED);
		imei_verdict_release(&v);
		imei_engine_free(e);
	}

	p.tacdb = "tests/no-such-image.img";
	CHECK_INT(imei_engine_config_open(&cfg, &p, err, sizeof err), -1);
	CHECK(strncmp(err, "tacdb: ", 7) == 0 && strstr(err, "no-such-image"));
	CHECK(cfg.store == NULL && cfg.tacdb == NULL);
	p.tacdb = NULL;
	p.lists = "tests/no-such-folder";
	CHECK_INT(imei_engine_config_open(&cfg, &p, err, sizeof err), -1);
	CHECK(strncmp(err, "lists: ", 7) == 0);
	p.lists = NULL;
	p.store = "redis:nowhere";
	CHECK_INT(imei_engine_config_open(&cfg, &p, err, sizeof err), -1);
	CHECK(strncmp(err, "store redis:nowhere: ", 21) == 0);
	p.policy = NULL;
	CHECK_INT(imei_engine_config_open(&cfg, &p, err, sizeof err), -1);
}

int main(void)
{
	test_config_open();
	test_threads();
	return CHECK_DONE("test_engine_threads");
}
