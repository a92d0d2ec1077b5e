/*
 * test_replay_oom.c — out of memory at every large mapping of a replay's ingest and finish
 * (replay_pairs.c: each part's pins and their doublings by mremap, the ranking's keys,
 * the second part's pins joined after the first's): the ingest ends ERROR with "out of
 * memory", and the replay is freed without a crash and gives every mapping back (the
 * sanitizers do not see mappings: this test counts them). Inline and with 3 readers, a
 * seeded memory store, text identities and pairs of several MSISDNs among 140,000 pairs.
 *
 * The test's own mmap, mremap and munmap stand in for the C library's (the library is
 * linked statically into it): the n-th large anonymous mmap or growing mremap fails.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "scratch_files.h"

#define BIG ((size_t)2 << 20) /* the replay's own mappings are this large or larger */
#define MAX_LIVE 64

/* the large anonymous mappings alive, and which call fails (the harness's state) */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
struct mapping {
	char *at;
	size_t len;
};
static struct mapping live[MAX_LIVE];
static size_t nlive, calls, fail_at;
static int untracked; /* a mapping the table had no room for, or an unmap it could not place */

static bool fail_now(void)
{
	return ++calls == fail_at;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	static void *(*real)(void *, size_t, int, int, int, off_t);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "mmap");
	if (!(flags & MAP_ANONYMOUS) || len < BIG)
		return real(addr, len, prot, flags, fd, off);
	pthread_mutex_lock(&lock);
	void *p = MAP_FAILED;
	if (fail_now())
		errno = ENOMEM;
	else if ((p = real(addr, len, prot, flags, fd, off)) != MAP_FAILED) {
		if (nlive < MAX_LIVE)
			live[nlive++] = (struct mapping){ p, len };
		else
			untracked++;
	}
	pthread_mutex_unlock(&lock);
	return p;
}

void *mremap(void *old, size_t olen, size_t nlen, int flags, ...)
{
	static void *(*real)(void *, size_t, size_t, int, ...);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "mremap");
	void *fixed = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		fixed = va_arg(ap, void *);
		va_end(ap);
	}
	pthread_mutex_lock(&lock);
	void *p = MAP_FAILED;
	if (nlen > olen && nlen >= BIG && fail_now())
		errno = ENOMEM;
	else if ((p = real(old, olen, nlen, flags, fixed)) != MAP_FAILED) {
		size_t i = 0;
		while (i < nlive && live[i].at != old)
			i++;
		if (i < nlive)
			live[i] = (struct mapping){ p, nlen };
	}
	pthread_mutex_unlock(&lock);
	return p;
}

int munmap(void *addr, size_t len)
{
	static int (*real)(void *, size_t);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "munmap");
	pthread_mutex_lock(&lock);
	char *a = addr;
	for (size_t i = 0; i < nlive; i++) {
		if (a < live[i].at || a >= live[i].at + live[i].len)
			continue;
		if (a == live[i].at && len >= live[i].len)
			live[i] = live[--nlive]; /* all of it */
		else if (a + len >= live[i].at + live[i].len)
			live[i].len = (size_t)(a - live[i].at); /* its tail */
		else
			untracked++;
		break;
	}
	pthread_mutex_unlock(&lock);
	return real(addr, len);
}

static void arm(size_t n)
{
	pthread_mutex_lock(&lock);
	calls = 0;
	fail_at = n;
	pthread_mutex_unlock(&lock);
}

static void disarm(void)
{
	pthread_mutex_lock(&lock);
	fail_at = 0;
	pthread_mutex_unlock(&lock);
}

static size_t calls_made(void)
{
	pthread_mutex_lock(&lock);
	size_t n = calls;
	pthread_mutex_unlock(&lock);
	return n;
}

static size_t mappings_alive(void)
{
	pthread_mutex_lock(&lock);
	size_t n = nlive + (size_t)untracked;
	pthread_mutex_unlock(&lock);
	return n;
}

enum { PAIRS = 140000, TEXTS = 40 };

/* 140,000 pairs (each part's pins double twice; the ranking's keys, 16 bytes a pair,
 * need a mapping of their own from about 131,000), one in ten seen again with another
 * MSISDN, some text identities. */
static void write_dump(void)
{
	FILE *f = fopen(path_of("oom.csv"), "wb");
	if (!f)
		exit(2);
	fputs("date,imei,imsi,msisdn\n", f);
	for (unsigned p = 0; p < PAIRS; p++) {
		if (p % (PAIRS / TEXTS) == 0)
			fprintf(f, "20260103,junk-%u,41001%010u,\n", p, p);
		fprintf(f, "20260104,35209%09u,41001%010u,92300%07u\n", (p * 7919u) % 30011u, p, p);
		if (p % 10 == 0)
			fprintf(f, "20260105,35209%09u,41001%010u,92399%07u\n", (p * 7919u) % 30011u, p, p);
	}
	fclose(f);
}

/* A memory store holding sightings of some of the dump's triples already. */
static struct imei_store *seeded_store(void)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	if (!st)
		exit(2);
	for (unsigned p = 0; p < 2000; p += 3) {
		uint64_t imsi, msisdn;
		char text[32];
		snprintf(text, sizeof text, "41001%010u", p);
		imei_sight_imsi(text, strlen(text), &imsi, &se);
		snprintf(text, sizeof text, "92300%07u", p);
		imei_sight_msisdn(text, strlen(text), &msisdn, &se);
		struct imei_sighting s = { .key = 35209000000000ULL + (p * 7919u) % 30011u, .imsi = imsi,
		                           .msisdn = msisdn, .time = 20450u * 86400u };
		CHECK_INT(imei_store_record(st, &s, &se), 0);
	}
	CHECK_INT(imei_store_flush(st, &se), 0);
	return st;
}

/* The dump read with the n-th large mapping failing (0: none). The ingest's result; the
 * replay kept in *out when it is done, else freed here. */
static int ingest(bool thread, size_t fail, struct imei_replay **out, struct imei_store **st_out, char *err,
                  size_t errlen)
{
	struct imei_store *st = seeded_store();
	struct imei_replay_config cfg = { 0 };
	cfg.store = st;
	imei_dump_layout_default(&cfg.layout);
	cfg.run_day = IMEI_REPLAY_NO_DAY;
	cfg.reader_thread = thread;
	cfg.readers = thread ? 3 : 1;
	cfg.chunk_bytes = 65536;
	struct imei_replay *r = imei_replay_new(&cfg, err, errlen);
	if (!r)
		exit(2);
	CHECK_INT(imei_replay_add_file(r, path_of("oom.csv"), "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               errlen), 0);
	arm(fail);
	int rc;
	while ((rc = imei_replay_ingest(r, 50, err, errlen)) == IMEI_REPLAY_MORE)
		;
	disarm();
	if (rc == IMEI_REPLAY_ERROR) {
		/* the failure is final: asked again (memory to spare now), the same error, never a
		 * DONE over the rows read so far without those of the failed batch */
		char again[600];
		CHECK_INT(imei_replay_ingest(r, 50, again, sizeof again), IMEI_REPLAY_ERROR);
		CHECK_STR(again, err);
	}
	if (rc == IMEI_REPLAY_DONE && out) {
		*out = r;
		*st_out = st;
		return rc;
	}
	CHECK_INT(imei_replay_npairs(r), 0); /* no half-made result */
	imei_replay_free(r);
	imei_store_release(st);
	return rc;
}

static bool same_pairs(const struct imei_replay *a, const struct imei_replay *b)
{
	size_t n = imei_replay_npairs(a);
	if (imei_replay_npairs(b) != n)
		return false;
	const struct imei_replay_pair *x = imei_replay_pairs(a), *y = imei_replay_pairs(b);
	for (size_t i = 0; i < n; i++)
		if (memcmp(&x[i], &y[i], sizeof x[i]) != 0)
			return false;
	return true;
}

static void sweep(bool thread)
{
	char err[600];
	struct imei_replay *ref;
	struct imei_store *ref_st;
	CHECK_INT(ingest(thread, 0, &ref, &ref_st, err, sizeof err), IMEI_REPLAY_DONE);
	size_t total = calls_made();
	CHECK(total >= 8); /* each part's pins and their two doublings, the ranking's keys, the join */
	CHECK_INT(imei_replay_npairs(ref), PAIRS + TEXTS);
	imei_replay_free(ref);
	imei_store_release(ref_st);
	CHECK_INT(mappings_alive(), 0);
	/* the reference again, run the same way, kept to compare with */
	CHECK_INT(ingest(thread, 0, &ref, &ref_st, err, sizeof err), IMEI_REPLAY_DONE);
	size_t base = mappings_alive(); /* the reference's pairs */
	for (size_t n = 1; n <= total + 1; n++) {
		struct imei_replay *r = NULL;
		struct imei_store *st = NULL;
		err[0] = 0;
		int rc = ingest(thread, n, &r, &st, err, sizeof err);
		if (n <= total) {
			CHECK_INT(rc, IMEI_REPLAY_ERROR);
			CHECK_HAS(err, "out of memory");
		} else {
			CHECK_INT(rc, IMEI_REPLAY_DONE);
			CHECK(r && same_pairs(ref, r));
			imei_replay_free(r);
			imei_store_release(st);
		}
		CHECK_INT(mappings_alive(), base); /* every mapping of the failed run given back */
	}
	imei_replay_free(ref);
	imei_store_release(ref_st);
	CHECK_INT(mappings_alive(), 0);
}

int main(void)
{
	scratch_make("test_replay_oom");
	write_dump();
	sweep(false);
	sweep(true);
	scratch_remove();
	return CHECK_DONE("replay_oom");
}
