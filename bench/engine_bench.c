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
 * like the checks, in blocks interleaved with the checks' blocks, so that both see the
 * same machine. On a shared or virtual machine its p99 is not its p50 either, and no
 * check can look better than that. */
static unsigned long noise_calibrate(double target_s)
{
	volatile unsigned long sink = 0;
	unsigned long iters = 1000;
	for (int k = 0; k < 20; k++) { /* calibrate iters to target_s (on-CPU) */
		double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		for (unsigned long i = 0; i < iters; i++)
			sink += i * i;
		double t = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
		if (t > 0)
			iters = (unsigned long)((double)iters * (target_s / t) * 0.5 + (double)iters * 0.5) + 1;
	}
	(void)sink;
	return iters;
}

static void noise_block(unsigned long iters, clockid_t id, size_t n, double *lat)
{
	volatile unsigned long sink = 0;
	for (size_t j = 0; j < n; j++) {
		double t0 = clock_s(id);
		for (unsigned long i = 0; i < iters; i++)
			sink += i * i;
		lat[j] = clock_s(id) - t0;
	}
	(void)sink;
}

struct pct {
	double p50, p90, p99, p999, max, mean;
};

static struct pct percentiles(double *lat, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof *lat, cmp_double);
#define PCT(p) (lat[(size_t)((double)(n - 1) * (p))] * 1e6)
	return (struct pct){ PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999), lat[n - 1] * 1e6, sum / (double)n * 1e6 };
#undef PCT
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

	/* One thread, every check timed: wall-clock time per check, then (twice) on-CPU time
	 * per check, which leaves out the time the thread was preempted on a shared machine
	 * (and costs a syscall each). Each pass alternates blocks of BLOCK checks with blocks
	 * of BLOCK noise loops as long as the median check. */
	enum { BLOCK = 1000 };
	double *lat = malloc(checks * sizeof *lat), *nlat = malloc(checks * sizeof *nlat);
	if (!lat || !nlat)
		return 2;
	struct run warm = { engines[0], peis, npeis, 20000, 0, lat, CLOCK_THREAD_CPUTIME_ID, 0, { 0 } };
	run_checks(&warm);
	unsigned long iters = noise_calibrate(percentiles(lat, warm.checks).p50 * 1e-6);
	struct run one = { engines[0], peis, npeis, 0, 0, NULL, CLOCK_MONOTONIC, 0, { 0 } };
	struct imei_engine_stats st0, st1;
	imei_engine_stats(engines[0], &st0);
	for (int pass = 0; pass < 3; pass++) {
		clockid_t id = pass ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
		double seconds = 0, cpu = 0;
		for (size_t done = 0; done < checks; done += BLOCK) {
			size_t n = checks - done < BLOCK ? checks - done : BLOCK;
			one.checks = n;
			one.offset = done;
			one.lat = lat + done;
			one.clock = id;
			double cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
			run_checks(&one);
			cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
			seconds += one.seconds;
			noise_block(iters, id, n, nlat + done);
		}
		if (pass == 0)
			printf("engine, 1 thread: %zu checks of %zu PEIs in %.2f s: %.0f checks/s (%.0f per CPU second)\n", checks,
			       npeis, seconds, (double)checks / seconds, (double)checks / cpu);
		struct pct c = percentiles(lat, checks), f = percentiles(nlat, checks);
		const char *what = pass ? "on-CPU time" : "wall time  ";
		printf("  %s per check: p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us (mean %.1f)\n", what,
		       c.p50, c.p90, c.p99, c.p999, c.max, c.mean);
		printf("  %s noise floor (a constant loop of the median check's length, interleaved): p50 %.1f us, p99 %.1f "
		       "us, p99.9 %.1f us -> check p99.9 / noise p99.9 = %.1fx\n",
		       what, f.p50, f.p99, f.p999, c.p999 / f.p999);
	}
	imei_engine_stats(engines[0], &st1);
	printf("  policy state: %.1f MB of Lua heap (cap %.0f MB); %llu checks, %llu failed\n",
	       (double)st1.memory_used / (1 << 20), (double)st1.memory_limit / (1 << 20),
	       (unsigned long long)(st1.checks - st0.checks), (unsigned long long)(st1.failures - st0.failures));
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
	free(nlat);
	for (size_t i = 0; i < npeis; i++)
		free(peis[i]);
	free(peis);
	return 0;
}
