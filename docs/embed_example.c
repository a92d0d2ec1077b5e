/*
 * embed_example.c — a C host of the imei engine through its embedding API
 * (host/imei_engine.h): open the shared objects once, give each worker thread its own
 * engine, check requests, reload, read statistics, free. Built by `make` into
 * build/embed_example; run it from the repository root:
 *
 *   build/embed_example [POLICY [TAC-IMAGE [LISTS-DIR]]]
 *
 * (defaults: policies/example-country.lua, no TAC image, no lists). It checks a few
 * identities in two threads and prints each verdict with its reasons.
 */
#include <pthread.h>
#include <stdio.h>

#include "imei_engine.h"

struct worker {
	struct imei_engine *engine; /* this thread's own: engines are not shared */
	const char *const *peis;
	int checked;
};

static void print_verdict(const char *pei, const struct imei_verdict *v)
{
	printf("%-24s %-12s %s%s\n", pei, imei_status_name(v->status), v->policy ? v->policy : "",
	       v->failed ? "  (policy failed)" : "");
	for (size_t i = 0; i < v->nreasons; i++)
		printf("    %-26s %-12s %s%s%s\n", v->reasons[i].condition, imei_status_name(v->reasons[i].status),
		       v->reasons[i].text ? v->reasons[i].text : "", v->reasons[i].block_date ? ", block on " : "",
		       v->reasons[i].block_date ? v->reasons[i].block_date : "");
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct imei_verdict v = IMEI_VERDICT_INIT; /* reused: it owns its strings and reasons */
	for (const char *const *p = w->peis; *p; p++) {
		struct imei_request req = { .pei = *p, .imsi = "410010000000001", .operator_id = "410-01" };
		imei_engine_check(w->engine, &req, &v);
		w->checked++;
	}
	imei_verdict_release(&v);
	return NULL;
}

int main(int argc, char **argv)
{
	char err[1024];
	/* 1. The objects engines share: opened once, from paths. */
	struct imei_engine_paths paths = {
		.policy = argc > 1 ? argv[1] : "policies/example-country.lua",
		.tacdb = argc > 2 ? argv[2] : NULL,
		.lists = argc > 3 ? argv[3] : NULL,
		.store = "memory",
		.lua_path = "lua/?.lua;lua/?/init.lua",
	};
	struct imei_engine_config cfg;
	if (imei_engine_config_open(&cfg, &paths, err, sizeof err) != 0) {
		fprintf(stderr, "embed_example: %s\n", err);
		return 2;
	}
	cfg.limits.check_budget = 1000000; /* per check; the default too */

	/* 2. One engine per worker thread, all from the same configuration. */
	enum { NWORKERS = 2 };
	static const char *const peis[] = { "imei-490154203237518", "imei-352099001761481", "000000000000000",
	                                    "A0000000002329", "4901542032375", NULL };
	struct worker workers[NWORKERS] = { { 0 } };
	for (int i = 0; i < NWORKERS; i++) {
		workers[i].engine = imei_engine_new(&cfg, err, sizeof err);
		workers[i].peis = peis;
		if (!workers[i].engine) {
			fprintf(stderr, "embed_example: %s\n", err);
			return 2;
		}
	}
	imei_engine_config_release(&cfg); /* the engines hold their own references */

	/* 3. Checks: each thread with its own engine. */
	pthread_t threads[NWORKERS];
	for (int i = 0; i < NWORKERS; i++)
		if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0)
			return 2;
	/* 4. A reload (what a SIGHUP handler does) may run while the threads check. */
	for (int i = 0; i < NWORKERS; i++)
		if (imei_engine_reload(workers[i].engine, err, sizeof err) != 0)
			fprintf(stderr, "embed_example: reload kept the old policy: %s\n", err);
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(threads[i], NULL);

	/* The verdicts themselves, from this thread with engine 0 (the threads are done). */
	for (const char *const *p = peis; *p; p++) {
		struct imei_request req = { .pei = *p, .imsi = "410010000000001", .operator_id = "410-01" };
		struct imei_verdict v = IMEI_VERDICT_INIT;
		imei_engine_check(workers[0].engine, &req, &v);
		print_verdict(*p, &v);
		imei_verdict_release(&v);
	}

	/* 5. Statistics, then free. */
	for (int i = 0; i < NWORKERS; i++) {
		struct imei_engine_stats st;
		imei_engine_stats(workers[i].engine, &st);
		printf("engine %d: %llu checks (%llu whitelisted, %llu greylisted, %llu blacklisted, %llu unknown), "
		       "%llu failed, %llu reloads, %zu KiB in its sandbox\n",
		       i, (unsigned long long)st.checks, (unsigned long long)st.by_status[IMEI_STATUS_WHITELISTED],
		       (unsigned long long)st.by_status[IMEI_STATUS_GREYLISTED],
		       (unsigned long long)st.by_status[IMEI_STATUS_BLACKLISTED],
		       (unsigned long long)st.by_status[IMEI_STATUS_UNKNOWN], (unsigned long long)st.failures,
		       (unsigned long long)st.reloads, st.memory_used / 1024);
		imei_engine_free(workers[i].engine);
	}
	return 0;
}
