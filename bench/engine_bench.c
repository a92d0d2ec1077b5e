/*
 * engine_bench.c — in-process engine checks through the C API (imei_engine.h): checks per
 * second and the latency of each check (clock_gettime around every imei_engine_check),
 * p50 / p90 / p99 / p99.9 / max, on one thread; then the aggregate rate of T threads, each
 * with its own engine on the shared TAC image, lists and store (the thread model). It
 * measures; it asserts nothing (target, docs/architecture.md "Targets": p99 <= 20 us in-process).
 *
 *   engine_bench POLICY TAC-IMAGE LISTS-DIR PEI-FILE [CHECKS [THREADS]]
 * Run from the repository root (lua/ is read from there). PEI-FILE: one PEI per line.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imei_engine.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct run {
	struct imei_engine *engine;
	char **peis;
	size_t npeis, checks, offset;
	double *lat; /* seconds, one per check (NULL: not kept) */
	clockid_t clock; /* what lat measures: CLOCK_MONOTONIC (wall) or the thread's CPU time */
	double seconds;
	unsigned long long by_status[4];
};

static void *run_checks(void *arg)
{
	struct run *r = arg;
	char imsi[16];
	struct imei_verdict v = IMEI_VERDICT_INIT; /* reused: its buffers grow once */
	double t_start = now();
	for (size_t i = 0; i < r->checks; i++) {
		size_t k = (i + r->offset) % r->npeis;
		snprintf(imsi, sizeof imsi, "41001%010zu", k % 1000);
		struct imei_request req = { .pei = r->peis[k], .imsi = imsi, .operator_id = "410-01" };
		double t0 = r->lat ? clock_s(r->clock) : 0;
		imei_engine_check(r->engine, &req, &v);
		double t1 = r->lat ? clock_s(r->clock) : 0;
		if (r->lat)
			r->lat[i] = t1 - t0;
		r->by_status[v.status & 3]++;
	}
	r->seconds = now() - t_start;
	imei_verdict_release(&v);
	return NULL;
}

/* The machine's noise floor: a loop of constant work as long as a median check, timed
 * like the checks. On a shared or virtual machine its p99 is not its p50 either, and no
 * check can look better than that. */
static void noise_floor(double target_s, size_t n, double *lat)
{
	volatile unsigned long sink = 0;
	unsigned long iters = 1000;
	for (int k = 0; k < 20; k++) { /* calibrate iters to target_s */
		double t0 = clock_s(CLOCK_MONOTONIC);
		for (unsigned long i = 0; i < iters; i++)
			sink += i * i;
		double t = clock_s(CLOCK_MONOTONIC) - t0;
		if (t > 0)
			iters = (unsigned long)((double)iters * (target_s / t) * 0.5 + (double)iters * 0.5) + 1;
	}
	for (int pass = 0; pass < 2; pass++) {
		clockid_t id = pass ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
		for (size_t j = 0; j < n; j++) {
			double t0 = clock_s(id);
			for (unsigned long i = 0; i < iters; i++)
				sink += i * i;
			lat[j] = clock_s(id) - t0;
		}
		qsort(lat, n, sizeof *lat, cmp_double);
		printf("  noise floor, %s (a constant loop of the median check's length): p50 %.1f us, p99 %.1f us, "
		       "p99.9 %.1f us\n",
		       pass ? "on-CPU" : "wall  ", lat[n / 2] * 1e6, lat[(size_t)((double)(n - 1) * 0.99)] * 1e6,
		       lat[(size_t)((double)(n - 1) * 0.999)] * 1e6);
	}
}

static char **read_lines(const char *path, size_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 1024;
	char **v = malloc(cap * sizeof *v);
	char line[256];
	*n = 0;
	if (!v) {
		fclose(f);
		return NULL;
	}
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0])
			continue;
		if (*n == cap) {
			char **nv = realloc(v, (cap *= 2) * sizeof *v);
			if (!nv) {
				free(v);
				fclose(f);
				return NULL;
			}
			v = nv;
		}
		if (!(v[*n] = strdup(line)))
			break;
		(*n)++;
	}
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: engine_bench POLICY TAC-IMAGE LISTS-DIR PEI-FILE [CHECKS [THREADS]]\n");
		return 2;
	}
	size_t checks = argc > 5 ? (size_t)strtoull(argv[5], NULL, 10) : 300000;
	int nthreads = argc > 6 ? atoi(argv[6]) : 2;
	if (checks < 1000 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "engine_bench: CHECKS >= 1000, THREADS 1..64\n");
		return 2;
	}
	size_t npeis;
	char **peis = read_lines(argv[4], &npeis);
	if (!peis || npeis == 0) {
		fprintf(stderr, "engine_bench: cannot read PEIs from %s\n", argv[4]);
		return 2;
	}
	char err[1024];
	struct imei_engine_config cfg;
	struct imei_engine_paths paths = { .policy = argv[1], .tacdb = argv[2], .lists = argv[3], .store = "memory",
	                                   .lua_path = "lua/?.lua;lua/?/init.lua" };
	if (imei_engine_config_open(&cfg, &paths, err, sizeof err) != 0) {
		fprintf(stderr, "engine_bench: %s\n", err);
		return 2;
	}
	struct imei_engine **engines = calloc((size_t)nthreads, sizeof *engines);
	for (int i = 0; engines && i < nthreads; i++)
		if (!(engines[i] = imei_engine_new(&cfg, err, sizeof err))) {
			fprintf(stderr, "engine_bench: %s\n", err);
			return 2;
		}
	imei_engine_config_release(&cfg);

	/* One thread, every check timed. */
	struct run warm = { engines[0], peis, npeis, 20000, 0, NULL, CLOCK_MONOTONIC, 0, { 0 } };
	run_checks(&warm);
	double *lat = malloc(checks * sizeof *lat);
	if (!lat)
		return 2;
	/* Wall-clock time per check, then on-CPU time per check: on a shared machine the
	 * second leaves out the time the thread was preempted (and costs a syscall each). */
	struct run one = { engines[0], peis, npeis, checks, 0, lat, CLOCK_MONOTONIC, 0, { 0 } };
	for (int pass = 0; pass < 2; pass++) {
		one.clock = pass ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
		double cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		run_checks(&one);
		double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
		double sum = 0;
		for (size_t i = 0; i < checks; i++)
			sum += lat[i];
		qsort(lat, checks, sizeof *lat, cmp_double);
#define PCT(p) (lat[(size_t)((double)(checks - 1) * (p))] * 1e6)
		if (pass == 0)
			printf("engine, 1 thread: %zu checks of %zu PEIs in %.2f s: %.0f checks/s (%.0f per CPU second)\n",
			       checks, npeis, one.seconds, (double)checks / one.seconds, (double)checks / cpu);
		printf("  %s per check: p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us (mean %.1f)\n",
		       pass ? "on-CPU time" : "wall time  ", PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999),
		       lat[checks - 1] * 1e6, sum / (double)checks * 1e6);
	}
	noise_floor(lat[checks / 2], checks < 100000 ? checks : 100000, lat);
	printf("  verdicts: %llu WHITELISTED, %llu GREYLISTED, %llu BLACKLISTED, %llu UNKNOWN\n",
	       one.by_status[IMEI_STATUS_WHITELISTED], one.by_status[IMEI_STATUS_GREYLISTED],
	       one.by_status[IMEI_STATUS_BLACKLISTED], one.by_status[IMEI_STATUS_UNKNOWN]);

	/* T threads, each with its own engine, untimed per check. */
	if (nthreads > 1) {
		struct run *runs = calloc((size_t)nthreads, sizeof *runs);
		pthread_t *th = calloc((size_t)nthreads, sizeof *th);
		if (!runs || !th)
			return 2;
		double t0 = now();
		for (int i = 0; i < nthreads; i++) {
			runs[i] = (struct run){ engines[i], peis, npeis, checks, (size_t)i * 7919, NULL, CLOCK_MONOTONIC, 0, { 0 } };
			pthread_create(&th[i], NULL, run_checks, &runs[i]);
		}
		for (int i = 0; i < nthreads; i++)
			pthread_join(th[i], NULL);
		double wall = now() - t0;
		printf("engine, %d threads (own engines, shared TAC image, lists, store): %.0f checks/s\n", nthreads,
		       (double)checks * nthreads / wall);
		free(runs);
		free(th);
	}
	for (int i = 0; i < nthreads; i++)
		imei_engine_free(engines[i]);
	free(engines);
	free(lat);
	for (size_t i = 0; i < npeis; i++)
		free(peis[i]);
	free(peis);
	return 0;
}
