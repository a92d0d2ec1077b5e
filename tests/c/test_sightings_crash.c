/*
 * test_sightings_crash.c — the LMDB sightings store survives SIGKILL (docs/sightings.md).
 *
 * A writer process (a fork of this one) runs a large deterministic ingest into one LMDB
 * store, resuming where the store stands, and reports every acknowledged batch (a flush()
 * that returned 0) on a pipe. The parent kills it with SIGKILL at a random moment, dozens
 * of times, and after every kill checks that the store opens, passes its own consistency
 * check, holds at least every acknowledged sighting, and is exactly the state after a
 * whole number of batches: identical, aggregate for aggregate and pairing for pairing, to
 * a memory store fed the same prefix of the workload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "imei_sightings.h"

#define ROUNDS 40
#define BATCH 5000
#define TOTAL 4000000ULL
#define NKEYS 30000ULL
#define BASE 1700000000u

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Sighting number i of the workload; *pair set when it also pairs its key and IMSI. */
static struct imei_sighting workload(uint64_t i, bool *pair)
{
	uint64_t h = mix(i + 1);
	struct imei_sighting s;
	memset(&s, 0, sizeof s);
	s.key = 35000000000000ULL + (h % NKEYS) * 7;
	/* encoded as 10^len + value: IMSI 41001 + 10 digits, MSISDN 923 + 9 digits */
	s.imsi = 1000000000000000ULL + 410010000000000ULL + s.key % 1000000000 * 10 + (h >> 40) % 4;
	s.msisdn = (h >> 20) % 3 ? 1000000000000ULL + 923000000000ULL + (h >> 24) % 1000000 : 0;
	s.time = BASE + (uint32_t)(i / 50) + (uint32_t)((h >> 50) % 3) * 86400u;
	s.rat = (uint8_t)((h >> 8) % 11);
	*pair = i % 777 == 0;
	return s;
}

static int apply(struct imei_store *st, uint64_t i, struct imei_store_error *err)
{
	bool pair;
	struct imei_sighting s = workload(i, &pair);
	if (imei_store_record(st, &s, err) < 0)
		return -1;
	if (pair && imei_store_pair(st, s.key, s.imsi, s.msisdn, err) < 0)
		return -1;
	return 0;
}

/* The writer: resume at the committed count, flush every BATCH, report each ack. */
static void writer(const char *spec, int fd)
{
	struct imei_store_opts o = { .batch = BATCH * 2 };
	struct imei_store_error err;
	struct imei_store_stats st;
	struct imei_store *s = imei_store_open(spec, &o, &err);
	if (!s || imei_store_stats(s, &st, &err) < 0) {
		fprintf(stderr, "writer: %s\n", err.msg);
		_exit(2);
	}
	for (uint64_t i = st.committed; i < TOTAL; i++) {
		if (apply(s, i, &err) < 0) {
			fprintf(stderr, "writer: %s\n", err.msg);
			_exit(3);
		}
		if ((i + 1) % BATCH == 0) {
			if (imei_store_flush(s, &err) < 0) {
				fprintf(stderr, "writer: %s\n", err.msg);
				_exit(4);
			}
			char line[32];
			int n = snprintf(line, sizeof line, "%llu\n", (unsigned long long)(i + 1));
			if (write(fd, line, (size_t)n) != n)
				_exit(5);
		}
	}
	imei_store_flush(s, &err);
	imei_store_release(s);
	_exit(0);
}

/* The last acknowledged count the writer reported. */
static uint64_t read_acks(int fd)
{
	char buf[4096];
	uint64_t last = 0, cur = 0;
	bool digits = false;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				cur = cur * 10 + (uint64_t)(buf[i] - '0');
				digits = true;
			} else if (buf[i] == '\n' && digits) {
				last = cur; /* only whole lines count */
				cur = 0;
				digits = false;
			}
		}
	}
	return last;
}

/* Wait (at most timeout_ms) for the writer's first acknowledgement and return it, reading
 * only that line: the rest stays in the pipe for read_acks. 0 if none came. */
static uint64_t first_ack(int fd, int timeout_ms)
{
	uint64_t cur = 0;
	bool digits = false;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (poll(&p, 1, timeout_ms) == 1) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (c >= '0' && c <= '9') {
			cur = cur * 10 + (uint64_t)(c - '0');
			digits = true;
		} else if (c == '\n' && digits) {
			return cur;
		}
	}
	return 0;
}

/* LMDB and memory hold the same aggregates and pairings. */
static size_t differences(struct imei_store *lm, struct imei_store *mem)
{
	struct imei_store_error err;
	struct imei_sighting_agg a;
	size_t diff = 0, n = 0;
	struct imei_store_iter *it = imei_store_iter_open(lm, IMEI_ITER_KEYS, &err);
	if (!it)
		return 1;
	while (imei_store_iter_next(it, &a, &err) == 1) {
		struct imei_sighting_agg *x = NULL, *y = NULL;
		size_t nx = 0, ny = 0;
		imei_store_sightings(lm, a.key, &x, &nx, &err);
		imei_store_sightings(mem, a.key, &y, &ny, &err);
		diff += nx != ny || (nx && memcmp(x, y, nx * sizeof *x) != 0);
		free(x);
		free(y);
		struct imei_pairing *p = NULL, *q = NULL;
		imei_store_pairs_of(lm, a.key, &p, &nx, &err);
		imei_store_pairs_of(mem, a.key, &q, &ny, &err);
		diff += nx != ny || (nx && memcmp(p, q, nx * sizeof *p) != 0);
		free(p);
		free(q);
		n++;
	}
	imei_store_iter_close(it);
	struct imei_store_stats s1, s2;
	imei_store_stats(lm, &s1, &err);
	imei_store_stats(mem, &s2, &err);
	diff += n != s2.keys || s1.keys != s2.keys || s1.aggregates != s2.aggregates || s1.pairings != s2.pairings;
	return diff;
}

int main(void)
{
	char root[] = "/tmp/imei-crash-XXXXXX", spec[160], path[128];
	if (!mkdtemp(root))
		return 2;
	snprintf(path, sizeof path, "%s/store", root);
	snprintf(spec, sizeof spec, "lmdb:%s", path);
	struct imei_store_error err;
	struct imei_store *mem = imei_store_open("memory", NULL, &err);
	CHECK(mem != NULL);
	if (!mem)
		return CHECK_DONE("test_sightings_crash");
	uint64_t seed = 42, fed = 0, kills = 0, max_committed = 0;
	size_t bad_open = 0, bad_check = 0, lost = 0, partial = 0, diverged = 0;
	for (int round = 0; round < ROUNDS; round++) {
		int fds[2];
		if (pipe(fds) != 0)
			return 2;
		pid_t pid = fork();
		if (pid == 0) {
			close(fds[0]);
			writer(spec, fds[1]);
		}
		close(fds[1]);
		/* every fourth round lets the ingest get going first (a loaded machine may
		 * otherwise kill every writer before its first commit), then: */
		uint64_t early = round % 4 == 0 ? first_ack(fds[0], 30000) : 0;
		/* a random moment: 2..200 ms, mostly inside a commit or a batch */
		seed = mix(seed);
		struct timespec ts = { 0, (long)(2 + seed % 198) * 1000000L };
		nanosleep(&ts, NULL);
		kills += kill(pid, SIGKILL) == 0;
		int status;
		waitpid(pid, &status, 0);
		uint64_t acked = read_acks(fds[0]);
		if (acked < early)
			acked = early; /* acknowledgements are running totals */
		close(fds[0]);
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
			fprintf(stderr, "round %d: the writer failed (exit %d)\n", round, WEXITSTATUS(status));
			bad_open++;
			continue;
		}

		struct imei_store *lm = imei_store_open(spec, NULL, &err);
		if (!lm) {
			fprintf(stderr, "round %d: %s\n", round, err.msg);
			bad_open++;
			continue;
		}
		struct imei_store_stats st;
		if (imei_store_check(lm, &err) < 0) {
			fprintf(stderr, "round %d: %s\n", round, err.msg);
			bad_check++;
		}
		imei_store_stats(lm, &st, &err);
		/* every acknowledged sighting is there; commits are whole batches */
		lost += st.committed < acked;
		partial += st.committed % BATCH != 0 && st.committed != TOTAL;
		if (st.committed > max_committed)
			max_committed = st.committed;
		/* the same state as the memory store after that prefix */
		for (; fed < st.committed; fed++)
			apply(mem, fed, &err);
		size_t d = fed == st.committed ? differences(lm, mem) : 1;
		if (d)
			fprintf(stderr, "round %d: %zu differences at %llu sightings\n", round, d,
			        (unsigned long long)st.committed);
		diverged += d != 0;
		imei_store_release(lm);
	}
	CHECK_INT(kills, ROUNDS);
	CHECK_INT(bad_open, 0);
	CHECK_INT(bad_check, 0);
	CHECK_INT(lost, 0);
	CHECK_INT(partial, 0);
	CHECK_INT(diverged, 0);
	CHECK(max_committed >= 10 * BATCH); /* the ingest did get going */
	printf("test_sightings_crash: %d kills, %llu sightings committed in all\n", ROUNDS,
	       (unsigned long long)max_committed);
	imei_store_release(mem);
	char f[256];
	const char *files[] = { "data.mdb", "lock.mdb", "imei.lock" };
	for (int i = 0; i < 3; i++) {
		snprintf(f, sizeof f, "%s/%s", path, files[i]);
		unlink(f);
	}
	rmdir(path);
	rmdir(root);
	return CHECK_DONE("test_sightings_crash");
}
