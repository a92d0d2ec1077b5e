/*
 * embed_example.c — a C host of the imei engine through its public API (imei/imei.h):
 * set the options once, give each worker thread its own engine, check queries, reload,
 * free. It needs nothing but the installed library:
 *
 *   cc embed_example.c $(pkg-config --cflags imei) $(pkg-config --libs imei) -lpthread
 *   ./a.out [POLICY [TAC-IMAGE [LISTS-DIR]]]
 *
 * (defaults: policies/example-country.lua, no TAC image, no lists; `make` builds it
 * into build/embed_example to run from the repository root). It checks a few identities
 * in two threads and prints each verdict with its reasons.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <imei/imei.h>

struct worker {
	struct imei_engine *engine; /* this thread's own: engines are not shared */
	const char *const *peis;
	int checked, failed;
};

static void print_answer(const char *pei, const struct imei_answer *a)
{
	const char *policy = imei_answer_policy(a);
	printf("%-24s %-12s %s%s\n", pei, imei_status_name(imei_answer_status(a)), policy ? policy : "",
	       imei_answer_failed(a) ? "  (policy failed)" : "");
	for (size_t i = 0; i < imei_answer_reasons(a); i++) {
		const char *condition, *text;
		enum imei_status status;
		if (imei_answer_reason(a, i, &condition, &text, &status) == IMEI_EOK)
			printf("    %-26s %-12s %s\n", condition ? condition : "", imei_status_name(status),
			       text ? text : "");
	}
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct imei_answer *a = imei_answer_new(); /* reused for every query */
	if (!a)
		return NULL;
	for (const char *const *p = w->peis; *p; p++) {
		struct imei_query q = IMEI_QUERY_INIT;
		q.pei = *p;
		q.imsi = "410010000000001";
		q.operator_id = "410-01";
		if (imei_engine_query(w->engine, &q, a) != IMEI_EOK)
			w->failed++;
		w->checked++;
	}
	imei_answer_free(a);
	return NULL;
}

int main(int argc, char **argv)
{
	char err[1024];
	if (strcmp(imei_version(), IMEI_VERSION_STRING) != 0)
		fprintf(stderr, "embed_example: built with imei %s, running with %s\n", IMEI_VERSION_STRING,
		        imei_version());
	/* 1. The options, and through them the objects all engines share (opened once). */
	struct imei_options *o = imei_options_new();
	if (!o)
		return 2;
	const char *opts[][2] = {
		{ "policy", argc > 1 ? argv[1] : "policies/example-country.lua" },
		{ "tacdb", argc > 2 && argv[2][0] ? argv[2] : NULL }, /* "" for none */
		{ "lists", argc > 3 ? argv[3] : NULL },
		{ "store", "memory" },
		{ "instructions", "1000000" }, /* per check; the default too */
	};
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		int rc = opts[i][1] ? imei_options_set(o, opts[i][0], opts[i][1]) : IMEI_EOK;
		if (rc != IMEI_EOK) {
			fprintf(stderr, "embed_example: option %s: %s\n", opts[i][0], imei_strerror(rc));
			return 2;
		}
	}

	/* 2. One engine per worker thread, all from the same options. */
	enum { NWORKERS = 2 };
	static const char *const peis[] = { "imei-490154203237518", "imei-352099001761481", "000000000000000",
	                                    "A0000000002329", "4901542032375", NULL };
	struct worker workers[NWORKERS] = { { 0 } };
	for (int i = 0; i < NWORKERS; i++) {
		int rc = imei_engine_open(&workers[i].engine, o, err, sizeof err);
		if (rc != IMEI_EOK) {
			fprintf(stderr, "embed_example: %s: %s\n", imei_strerror(rc), err);
			return 2;
		}
		workers[i].peis = peis;
	}
	imei_options_free(o); /* the engines hold their own references */

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
	struct imei_answer *a = imei_answer_new();
	if (!a)
		return 2;
	for (const char *const *p = peis; *p; p++) {
		struct imei_query q = IMEI_QUERY_INIT;
		q.pei = *p;
		q.imsi = "410010000000001";
		q.operator_id = "410-01";
		imei_engine_query(workers[0].engine, &q, a);
		print_answer(*p, a);
	}
	imei_answer_free(a);

	/* 5. Free. */
	for (int i = 0; i < NWORKERS; i++) {
		printf("engine %d: %d checks, %d failed, policy %s\n", i, workers[i].checked, workers[i].failed,
		       imei_engine_policy_name(workers[i].engine));
		imei_engine_free(workers[i].engine);
	}
	printf("imei %s\n", imei_version());
	return 0;
}
