/*
 * test_sightings.c — the sightings store (core/sightings*.c): identifiers, window edges,
 * many IMSIs on one key, pairing changes, memory and LMDB giving the same answers to one
 * seeded random workload (and a brute-force model wherever they claim to be exact), bad
 * input, threads, and LMDB's failure modes: a full map, a damaged or truncated file, a
 * damaged record, a read-only directory, a second open in one process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "check.h"
#include "imei_sightings.h"

#define DAY 86400u

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t imsi_of(const char *s)
{
	uint64_t v = 0;
	struct imei_store_error err;
	if (imei_sight_imsi(s, strlen(s), &v, &err) < 0)
		fprintf(stderr, "bad test IMSI %s: %s\n", s, err.msg);
	return v;
}

static uint64_t msisdn_of(const char *s)
{
	uint64_t v = 0;
	imei_sight_msisdn(s, strlen(s), &v, NULL);
	return v;
}

/* IMSI number n as a 15-digit IMSI of PLMN 410-01. */
static uint64_t imsi_n(uint64_t n)
{
	char buf[32];
	snprintf(buf, sizeof buf, "41001%010llu", (unsigned long long)(n % 10000000000ULL));
	return imsi_of(buf);
}

static uint64_t msisdn_n(uint64_t n)
{
	char buf[32];
	snprintf(buf, sizeof buf, "92300%07llu", (unsigned long long)(n % 10000000ULL));
	return msisdn_of(buf);
}

static char tmp_root[64];

static void make_root(void)
{
	strcpy(tmp_root, "/tmp/imei-sightings-XXXXXX");
	if (!mkdtemp(tmp_root)) {
		perror("mkdtemp");
		exit(2);
	}
}

static void path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmp_root, name);
}

static void rm_store(const char *dir)
{
	const char *files[] = { "data.mdb", "lock.mdb", "imei.lock" };
	char p[512];
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

static struct imei_store *open_store(const char *spec, size_t batch)
{
	struct imei_store_opts o = { .batch = batch };
	struct imei_store_error err;
	struct imei_store *st = imei_store_open(spec, &o, &err);
	if (!st)
		fprintf(stderr, "open %s: %s\n", spec, err.msg);
	return st;
}

static struct imei_sighting sighting(uint64_t key, uint64_t imsi, uint64_t msisdn, uint32_t t)
{
	struct imei_sighting s = { .key = key, .imsi = imsi, .msisdn = msisdn, .time = t };
	return s;
}

static size_t imsis(struct imei_store *st, uint64_t key, uint32_t days, int64_t now, bool *exact)
{
	size_t n = 0;
	struct imei_store_error err;
	if (imei_store_distinct(st, key, IMEI_FIELD_IMSI, days, now, &n, exact, NULL, &err) < 0) {
		fprintf(stderr, "imsis: %s\n", err.msg);
		return (size_t)-1;
	}
	return n;
}

/* ---- identifiers ---------------------------------------------------------------------- */

static void test_codec(void)
{
	struct imei_store_error err;
	uint64_t v, k1, k2, k3, k4;
	uint32_t op;
	uint8_t rat;
	char buf[32];

	/* an IMEI, its 14-digit body, the IMEISV and the PEI of one device share one key */
	CHECK_INT(imei_sight_key("352099001761481", 15, &k1, &err), 0);
	CHECK_INT(imei_sight_key("35209900176148", 14, &k2, &err), 0);
	CHECK_INT(imei_sight_key("3520990017614823", 16, &k3, &err), 0);
	CHECK_INT(imei_sight_key("imei-352099001761481", 20, &k4, &err), 0);
	CHECK_INT(k1, 35209900176148LL);
	CHECK(k1 == k2 && k2 == k3 && k3 == k4);
	CHECK_INT(imei_sight_key_str(k1, buf), 14);
	CHECK_STR(buf, "35209900176148");
	/* a key with leading zeros keeps them in text */
	CHECK_INT(imei_sight_key("01234567890128", 14, &v, &err), 0);
	CHECK_INT(imei_sight_key_str(v, buf), 14);
	CHECK_STR(buf, "01234567890128");
	/* MEIDs are not IMEIs */
	CHECK_INT(imei_sight_key("A0000000002329", 14, &v, &err), -1);
	CHECK_INT(err.code, IMEI_STORE_EINVAL);
	CHECK(strstr(err.msg, "key:") && strstr(err.msg, "meid"));
	CHECK_INT(imei_sight_key("12345", 5, &v, &err), -1);
	CHECK(strncmp(err.msg, "key: '12345'", 12) == 0);

	/* IMSIs: 6..15 digits, leading zeros survive (test PLMN 001-01) */
	CHECK_INT(imei_sight_imsi("001010000000001", 15, &v, &err), 0);
	CHECK_INT(imei_sight_digits_str(v, buf), 15);
	CHECK_STR(buf, "001010000000001");
	CHECK(imsi_of("001010000000001") != imsi_of("1010000000001"));
	CHECK_INT(imei_sight_imsi("123456", 6, &v, &err), 0);
	CHECK_INT(imei_sight_imsi("12345", 5, &v, &err), -1);
	CHECK(strstr(err.msg, "imsi: '12345' has 5 digits") != NULL);
	CHECK_INT(imei_sight_imsi("4100112345678901", 16, &v, &err), -1);
	CHECK(strstr(err.msg, "16 digits") != NULL);
	CHECK_INT(imei_sight_imsi("41001x", 6, &v, &err), -1);
	CHECK(strstr(err.msg, "character 6") != NULL);
	CHECK_INT(imei_sight_imsi("", 0, &v, &err), -1);
	CHECK(strstr(err.msg, "imsi: empty") != NULL);
	CHECK_INT(imei_sight_imsi("4100\0" "1234", 9, &v, &err), -1);
	CHECK(strstr(err.msg, "character 5 (0x00)") != NULL);
	/* MSISDN: optional '+', 3..15 digits */
	CHECK_INT(imei_sight_msisdn("+923001234567", 13, &v, &err), 0);
	CHECK_INT(imei_sight_digits_str(v, buf), 12);
	CHECK_STR(buf, "923001234567");
	/* every length, odd and even (digits_str writes two at a time), leading zeros kept */
	for (size_t n = 3; n <= 15; n++) {
		char in[16], out[24];
		for (size_t i = 0; i < n; i++)
			in[i] = (char)('0' + (i * 7 + n) % 10);
		in[0] = '0';
		CHECK_INT(imei_sight_msisdn(in, n, &v, &err), 0);
		CHECK_INT(imei_sight_digits_str(v, out), n);
		CHECK(memcmp(out, in, n) == 0 && out[n] == 0);
	}
	CHECK_INT(imei_sight_msisdn("+", 1, &v, &err), -1);
	CHECK(strncmp(err.msg, "msisdn:", 7) == 0);
	CHECK_INT(imei_sight_msisdn("92+3", 4, &v, &err), -1);
	/* the encodings round-trip and reject what no encoder makes */
	CHECK(imei_sight_digits_ok(imsi_of("999999999999999"), 6, 15));
	CHECK(!imei_sight_digits_ok(0, 6, 15));
	CHECK(!imei_sight_digits_ok(1999999, 6, 15) == false);
	CHECK(!imei_sight_digits_ok(2000000, 6, 15));
	CHECK(!imei_sight_digits_ok(UINT64_MAX, 6, 15));

	/* operators */
	CHECK_INT(imei_sight_operator("410-01", 6, &op, &err), 0);
	CHECK_INT(imei_sight_operator_str(op, buf), 6);
	CHECK_STR(buf, "410-01");
	uint32_t op2, op3;
	CHECK_INT(imei_sight_operator("41001", 5, &op2, &err), 0);
	CHECK_INT(op2, op);
	CHECK_INT(imei_sight_operator("310-260", 7, &op3, &err), 0);
	CHECK_INT(imei_sight_operator_str(op3, buf), 7);
	CHECK_STR(buf, "310-260");
	CHECK_INT(imei_sight_operator("410-001", 7, &op3, &err), 0);
	CHECK(op3 != op); /* a 3-digit MNC 001 is not the 2-digit 01 */
	CHECK_INT(imei_sight_operator("4100", 4, &op, &err), -1);
	CHECK(strstr(err.msg, "operator: '4100'") != NULL);
	CHECK_INT(imei_sight_operator("41-001", 6, &op, &err), -1);
	CHECK_INT(imei_sight_operator("4100011", 7, &op, &err), -1);
	CHECK(!imei_sight_operator_ok(1u << 21 | 1000u << 10));

	/* RATs */
	CHECK_INT(imei_sight_rat("EUTRAN", 6, &rat, &err), 0);
	CHECK_INT(rat, IMEI_RAT_EUTRAN);
	CHECK_INT(imei_sight_rat("lte", 3, &rat, &err), 0);
	CHECK_INT(rat, IMEI_RAT_EUTRAN);
	CHECK_INT(imei_sight_rat("5G", 2, &rat, &err), 0);
	CHECK_INT(rat, IMEI_RAT_NR);
	CHECK_INT(imei_sight_rat("002", 3, &rat, &err), 0);
	CHECK_INT(rat, IMEI_RAT_GERAN);
	CHECK_INT(imei_sight_rat("11", 2, &rat, &err), -1);
	CHECK_INT(imei_sight_rat("6G", 2, &rat, &err), -1);
	CHECK(strstr(err.msg, "rat: '6G'") != NULL);
	CHECK_STR(imei_sight_rat_name(IMEI_RAT_NBIOT), "NB-IOT");
	CHECK(imei_sight_rat_name(0) == NULL && imei_sight_rat_name(11) == NULL);
}

/* ---- aggregates and window edges ---------------------------------------------------- */

static void test_agg(void)
{
	struct imei_sighting_agg a;
	struct imei_sighting s = sighting(1, imsi_n(1), 0, 100 * DAY + 5);
	imei_agg_init(&a, &s);
	CHECK(imei_agg_valid(&a, NULL));
	CHECK_INT(imei_agg_seen_on(&a, 100), IMEI_SEEN_YES);
	CHECK_INT(imei_agg_seen_on(&a, 99), IMEI_SEEN_NO);
	/* later the same day: one day */
	s.time = 100 * DAY + 80000;
	imei_agg_apply(&a, &s);
	CHECK_INT(a.ndays, 1);
	CHECK_INT(a.first, 100 * DAY + 5);
	CHECK_INT(a.last, 100 * DAY + 80000);
	/* 10 days later, then one out of order in between */
	s.time = 110 * DAY;
	imei_agg_apply(&a, &s);
	s.time = 105 * DAY + 1;
	imei_agg_apply(&a, &s);
	s.time = 105 * DAY + 2;
	imei_agg_apply(&a, &s);
	CHECK_INT(a.ndays, 3);
	CHECK(imei_agg_valid(&a, NULL));
	CHECK_INT(imei_agg_seen_between(&a, 101, 104), IMEI_SEEN_NO);
	CHECK_INT(imei_agg_seen_between(&a, 101, 105), IMEI_SEEN_YES);
	CHECK_INT(imei_agg_seen_between(&a, 106, 109), IMEI_SEEN_NO);
	/* 200 days later: the old days leave the bitmap, ndays still knows them */
	s.time = 310 * DAY;
	imei_agg_apply(&a, &s);
	CHECK_INT(a.ndays, 4);
	CHECK(imei_agg_valid(&a, NULL));
	CHECK_INT(imei_agg_seen_on(&a, 100), IMEI_SEEN_YES);     /* the first day is kept */
	CHECK_INT(imei_agg_seen_on(&a, 105), IMEI_SEEN_UNKNOWN); /* somewhere in 101..246 */
	CHECK_INT(imei_agg_seen_between(&a, 250, 309), IMEI_SEEN_NO);
	CHECK_INT(imei_agg_seen_between(&a, 101, 309), IMEI_SEEN_UNKNOWN);
	/* an aggregate whose old days are all known answers NO, exactly */
	struct imei_sighting_agg b;
	s.time = 100 * DAY;
	imei_agg_init(&b, &s);
	s.time = 300 * DAY;
	imei_agg_apply(&b, &s);
	CHECK_INT(b.ndays, 2);
	CHECK_INT(imei_agg_seen_between(&b, 101, 299), IMEI_SEEN_NO);
	/* out of order and older than the first day */
	s.time = 50 * DAY;
	imei_agg_apply(&b, &s);
	CHECK_INT(b.ndays, 3);
	CHECK_INT(b.first, 50 * DAY);
	s.time = 50 * DAY + 7;
	imei_agg_apply(&b, &s);
	CHECK_INT(b.ndays, 3); /* the first day again: not a new day */
	CHECK(imei_agg_valid(&b, NULL));
	/* operators: the latest sighting naming one wins; RATs accumulate */
	struct imei_sighting_agg c;
	struct imei_sighting t = sighting(1, imsi_n(1), 0, 1000);
	imei_agg_init(&c, &t);
	t.op = 1u << 21 | 410u << 10 | 1;
	t.rat = IMEI_RAT_GERAN;
	t.time = 900;
	imei_agg_apply(&c, &t); /* older, but none known yet */
	CHECK_INT(c.op, t.op);
	uint32_t older = t.op;
	t.op = 1u << 21 | 410u << 10 | 3;
	t.rat = IMEI_RAT_NR;
	t.time = 800;
	imei_agg_apply(&c, &t);
	CHECK_INT(c.op, older);
	t.time = 2000;
	imei_agg_apply(&c, &t);
	CHECK_INT(c.op, t.op);
	CHECK_INT(c.rats, (1 << (IMEI_RAT_GERAN - 1)) | (1 << (IMEI_RAT_NR - 1)));
	/* broken invariants are named */
	const char *why = NULL;
	c.days = 0;
	CHECK(!imei_agg_valid(&c, &why));
	CHECK(why && strstr(why, "bitmap"));
	c.days = 1;
	c.first = c.last + 1;
	CHECK(!imei_agg_valid(&c, &why));
	CHECK(why && strstr(why, "first seen after last"));
}

static void test_window_edges(const char *spec)
{
	struct imei_store *st = open_store(spec, 0);
	struct imei_store_error err;
	bool exact;
	CHECK(st != NULL);
	if (!st)
		return;
	const uint32_t d = 20000; /* a day number: 2024-10-04 */
	/* IMSI 1 at 00:00:00 of day d, IMSI 2 one second earlier (23:59:59 of day d-1) */
	struct imei_sighting s1 = sighting(7, imsi_n(1), 0, d * DAY), s2 = sighting(7, imsi_n(2), 0, d * DAY - 1);
	CHECK_INT(imei_store_record(st, &s1, &err), 0);
	CHECK_INT(imei_store_record(st, &s2, &err), 0);
	/* a window of N days at any time of day d+N-1 starts at 00:00:00 of day d */
	for (uint32_t n = 1; n <= 130; n += 43) {
		int64_t start = (int64_t)(d + n - 1) * DAY, end = start + DAY - 1;
		CHECK_INT(imsis(st, 7, n, start, &exact), 1);
		CHECK(exact);
		CHECK_INT(imsis(st, 7, n, end, &exact), 1);
		/* one day more reaches the second before */
		CHECK_INT(imsis(st, 7, n + 1, end, &exact), 2);
		/* one day later, day d is out */
		CHECK_INT(imsis(st, 7, n, end + 1, &exact), 0);
	}
	/* now before both: a window never looks ahead of its last day */
	CHECK_INT(imsis(st, 7, 30, (int64_t)(d - 2) * DAY + 5, &exact), 0);
	CHECK_INT(imsis(st, 7, 1, (int64_t)(d - 1) * DAY, &exact), 1);
	/* daily over the two days */
	struct imei_store_daily dd;
	CHECK_INT(imei_store_daily(st, 7, 2, (int64_t)d * DAY + 10, &dd, &err), 0);
	CHECK_INT(dd.days_seen, 2);
	CHECK_INT(dd.total, 2);
	CHECK(dd.exact);
	if (dd.days_seen == 2) {
		CHECK_INT(dd.days[0].day, d - 1);
		CHECK_INT(dd.days[1].day, d);
	}
	free(dd.days);
	/* window arguments */
	CHECK_INT(imei_store_distinct(st, 7, IMEI_FIELD_IMSI, 0, 0, &(size_t){ 0 }, NULL, NULL, &err), -1);
	CHECK(strstr(err.msg, "days") != NULL);
	CHECK_INT(imei_store_distinct(st, 7, IMEI_FIELD_IMSI, 1, -1, &(size_t){ 0 }, NULL, NULL, &err), -1);
	CHECK(strstr(err.msg, "now") != NULL);
	imei_store_release(st);
}

/* ---- many IMSIs on one key, first and last ------------------------------------------- */

static void test_many_imsis(const char *spec)
{
	struct imei_store *st = open_store(spec, 1000);
	struct imei_store_error err;
	CHECK(st != NULL);
	if (!st)
		return;
	const size_t n = 20000;
	const uint32_t t0 = 1700000000;
	for (size_t i = 0; i < n; i++) {
		/* descending IMSIs, ascending time: the first seen is the highest IMSI */
		struct imei_sighting s = sighting(35209900176148ULL, imsi_n(n - i), msisdn_n(i % 50), t0 + (uint32_t)i);
		if (imei_store_record(st, &s, &err) < 0) {
			CHECK(!"record");
			break;
		}
		if (i == n / 2)
			CHECK_INT(imei_store_flush(st, &err), 0);
	}
	/* two more sightings of the first pair, and one other key */
	struct imei_sighting again = sighting(35209900176148ULL, imsi_n(n), msisdn_n(0), t0 + 3 * DAY);
	CHECK_INT(imei_store_record(st, &again, &err), 0);
	struct imei_sighting other = sighting(35209900176149ULL, imsi_n(1), 0, t0);
	CHECK_INT(imei_store_record(st, &other, &err), 0);
	bool exact = false;
	uint64_t *list = NULL;
	size_t count = 0;
	CHECK_INT(imei_store_distinct(st, 35209900176148ULL, IMEI_FIELD_IMSI, 30, t0 + 4 * DAY, &count, &exact, &list,
	                              &err),
	          0);
	CHECK_INT(count, n);
	CHECK(exact);
	bool sorted = list != NULL;
	for (size_t i = 1; list && i < count; i++)
		sorted &= list[i - 1] < list[i];
	CHECK(sorted);
	if (list)
		CHECK_INT(list[0], imsi_n(1));
	free(list);
	CHECK_INT(imei_store_distinct(st, 35209900176148ULL, IMEI_FIELD_MSISDN, 30, t0 + 4 * DAY, &count, &exact, NULL,
	                              &err),
	          0);
	CHECK_INT(count, 50);
	/* only the re-sighting is within 1 day of t0 + 3 days */
	CHECK_INT(imsis(st, 35209900176148ULL, 1, t0 + 3 * DAY, &exact), 1);
	struct imei_sighting_agg a;
	CHECK_INT(imei_store_first(st, 35209900176148ULL, &a, &err), 1);
	CHECK_INT(a.imsi, imsi_n(n));
	CHECK_INT(a.first, t0);
	CHECK_INT(imei_store_last(st, 35209900176148ULL, &a, &err), 1);
	CHECK_INT(a.imsi, imsi_n(n));
	CHECK_INT(a.last, t0 + 3 * DAY);
	CHECK_INT(a.ndays, 2);
	CHECK_INT(imei_store_first(st, 12345, &a, &err), 0);
	/* first/last ties go to the lowest IMSI */
	struct imei_sighting t1 = sighting(99, imsi_n(5), 0, t0), t2 = sighting(99, imsi_n(3), 0, t0);
	CHECK_INT(imei_store_record(st, &t1, &err), 0);
	CHECK_INT(imei_store_record(st, &t2, &err), 0);
	CHECK_INT(imei_store_first(st, 99, &a, &err), 1);
	CHECK_INT(a.imsi, imsi_n(3));
	CHECK_INT(imei_store_last(st, 99, &a, &err), 1);
	CHECK_INT(a.imsi, imsi_n(3));
	struct imei_sighting_agg *all = NULL;
	size_t nall = 0;
	CHECK_INT(imei_store_sightings(st, 35209900176148ULL, &all, &nall, &err), 0);
	CHECK_INT(nall, n);
	free(all);
	struct imei_store_stats stats;
	CHECK_INT(imei_store_flush(st, &err), 0); /* stats count what is committed */
	CHECK_INT(imei_store_stats(st, &stats, &err), 0);
	CHECK_INT(stats.aggregates, n + 3);
	CHECK_INT(stats.keys, 3);
	CHECK_INT(stats.recorded, n + 4);
	CHECK_INT(imei_store_check(st, &err), 0);
	imei_store_release(st);
}

/* ---- pairings ------------------------------------------------------------------------ */

static void test_pairings(const char *spec)
{
	struct imei_store *st = open_store(spec, 0);
	struct imei_store_error err;
	uint64_t m = 0;
	CHECK(st != NULL);
	if (!st)
		return;
	uint64_t key = 35209900176148ULL;
	CHECK_INT(imei_store_is_paired(st, key, imsi_n(1), &m, &err), 0);
	CHECK_INT(imei_store_pair(st, key, imsi_n(2), msisdn_n(2), &err), 1);
	CHECK_INT(imei_store_pair(st, key, imsi_n(1), 0, &err), 1);
	CHECK_INT(imei_store_is_paired(st, key, imsi_n(2), &m, &err), 1);
	CHECK_INT(m, msisdn_n(2));
	/* pairing again replaces the MSISDN */
	CHECK_INT(imei_store_pair(st, key, imsi_n(2), msisdn_n(7), &err), 0);
	CHECK_INT(imei_store_is_paired(st, key, imsi_n(2), &m, &err), 1);
	CHECK_INT(m, msisdn_n(7));
	struct imei_pairing *list = NULL;
	size_t n = 0;
	CHECK_INT(imei_store_pairs_of(st, key, &list, &n, &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_INT(list[0].imsi, imsi_n(1)); /* sorted by IMSI */
		CHECK_INT(list[0].msisdn, 0);
		CHECK_INT(list[1].imsi, imsi_n(2));
	}
	free(list);
	/* the paired subscriber moves: unpair, pair the new one */
	CHECK_INT(imei_store_unpair(st, key, imsi_n(2), &err), 1);
	CHECK_INT(imei_store_unpair(st, key, imsi_n(2), &err), 0);
	CHECK_INT(imei_store_is_paired(st, key, imsi_n(2), &m, &err), 0);
	CHECK_INT(imei_store_pair(st, key, imsi_n(3), 0, &err), 1);
	CHECK_INT(imei_store_pairs_of(st, key, &list, &n, &err), 0);
	CHECK_INT(n, 2);
	free(list);
	CHECK_INT(imei_store_pairs_of(st, key + 1, &list, &n, &err), 0);
	CHECK_INT(n, 0);
	CHECK(list == NULL);
	/* many keys with many pairings, half removed again: the rest stay findable */
	for (uint64_t k = 0; k < 3000; k++)
		for (uint64_t i = 0; i < 3; i++)
			imei_store_pair(st, k * 7919, imsi_n(k * 3 + i), 0, &err);
	for (uint64_t k = 0; k < 3000; k += 2)
		for (uint64_t i = 0; i < 3; i++)
			CHECK_INT(imei_store_unpair(st, k * 7919, imsi_n(k * 3 + i), &err), 1);
	size_t wrong = 0;
	for (uint64_t k = 0; k < 3000; k++) {
		imei_store_pairs_of(st, k * 7919, &list, &n, &err);
		wrong += n != (k % 2 ? 3u : 0u);
		free(list);
		wrong += imei_store_is_paired(st, k * 7919, imsi_n(k * 3 + 1), NULL, &err) != (int)(k % 2);
	}
	CHECK_INT(wrong, 0);
	struct imei_store_stats stats;
	CHECK_INT(imei_store_flush(st, &err), 0);
	CHECK_INT(imei_store_stats(st, &stats, &err), 0);
	CHECK_INT(stats.pairings, 2 + 1500 * 3);
	/* iterate pairings */
	struct imei_store_iter *it = imei_store_iter_open(st, IMEI_ITER_PAIRINGS, &err);
	struct imei_sighting_agg a;
	size_t seen = 0;
	while (it && imei_store_iter_next(it, &a, &err) == 1)
		seen++;
	imei_store_iter_close(it);
	CHECK_INT(seen, 2 + 1500 * 3);
	CHECK_INT(imei_store_check(st, &err), 0);
	/* bad input */
	CHECK_INT(imei_store_pair(st, IMEI_SIGHT_KEY_LIMIT, imsi_n(1), 0, &err), -1);
	CHECK(strncmp(err.msg, "key:", 4) == 0);
	CHECK_INT(imei_store_pair(st, key, 12345, 0, &err), -1);
	CHECK(strncmp(err.msg, "imsi:", 5) == 0);
	CHECK_INT(imei_store_pair(st, key, imsi_n(1), 7, &err), -1);
	CHECK(strncmp(err.msg, "msisdn:", 7) == 0);
	imei_store_release(st);
}

/* ---- both backends, one random workload, and a brute-force model ---------------------- */

struct raw {
	uint64_t key, imsi, msisdn;
	uint32_t t;
};

/* Distinct values of a field seen by key on days d0..d1, by brute force. */
static size_t brute_distinct(const struct raw *r, size_t n, uint64_t key, int field, int64_t d0, int64_t d1)
{
	uint64_t *v = malloc((n + 1) * sizeof *v);
	size_t k = 0;
	if (!v)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int64_t d = r[i].t / DAY;
		uint64_t x = field ? r[i].msisdn : r[i].imsi;
		if (r[i].key != key || d < d0 || d > d1 || !x)
			continue;
		bool dup = false;
		for (size_t j = 0; j < k && !dup; j++)
			dup = v[j] == x;
		if (!dup)
			v[k++] = x;
	}
	free(v);
	return k;
}

static bool same_aggs(const struct imei_sighting_agg *a, size_t na, const struct imei_sighting_agg *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void test_same_answers(const char *lmdb_dir)
{
	char spec[512];
	snprintf(spec, sizeof spec, "lmdb:%s", lmdb_dir);
	struct imei_store *mem = open_store("memory", 0), *lm = open_store(spec, 997), *many = open_store("memory", 0);
	struct imei_store_error err;
	CHECK(mem && lm && many);
	if (!mem || !lm || !many)
		return;
	const size_t n = 60000, nkeys = 400;
	struct raw *raws = malloc(n * sizeof *raws);
	if (!raws)
		return;
	uint64_t seed = 20261128;
	const uint32_t base = 19000 * DAY;
	size_t mismatches = 0, inexact = 0, wrong_exact = 0, queries = 0, exact_daily_wrong = 0, nslice = 0, done = 0;
	struct imei_sighting slice[64];
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng_next(&seed);
		uint64_t key = 35000000000000ULL + (r % nkeys) * 1000003;
		/* most devices have one subscriber; every 10th key is a clone with many */
		uint64_t sub = (r >> 20) % 10 == 0 || (r % nkeys) % 10 == 0 ? (r >> 24) % 40 : 0;
		/* times over 300 days, mostly increasing, 1 in 32 far out of order */
		uint32_t t = base + (uint32_t)(i * (300ULL * DAY) / n);
		if ((r >> 40) % 32 == 0)
			t = base + (uint32_t)((r >> 8) % (300ULL * DAY));
		struct imei_sighting s = sighting(key, imsi_n(key * 100 + sub), (r >> 50) % 3 ? msisdn_n(key + sub) : 0, t);
		s.op = (r >> 12) % 4 ? (1u << 21 | 410u << 10 | (uint32_t)((r >> 14) % 8)) : 0;
		s.rat = (uint8_t)((r >> 17) % 11);
		raws[i] = (struct raw){ s.key, s.imsi, s.msisdn, s.time };
		int a = imei_store_record(mem, &s, &err), b = imei_store_record(lm, &s, &err);
		/* a third store takes them through record_many(), in slices of 1..64 */
		slice[nslice++] = s;
		if (nslice == 64 || (r >> 7) % 16 == 0) {
			size_t done = 0;
			a |= imei_store_record_many(many, slice, nslice, &done, &err);
			a |= done != nslice;
			nslice = 0;
		}
		if (a != 0 || b != 0) {
			CHECK(!"record failed");
			fprintf(stderr, "%s\n", err.msg);
			break;
		}
		if ((r >> 33) % 5000 == 0)
			CHECK_INT(imei_store_flush(lm, &err), 0);
		if (i % 97 != 0)
			continue;
		/* a query on both, at a time around now or in the past */
		uint64_t q = rng_next(&seed);
		uint64_t qkey = 35000000000000ULL + (q % nkeys) * 1000003;
		uint32_t days = (uint32_t)(1 + (q >> 8) % 150);
		int64_t now = (q >> 20) % 2 ? (int64_t)t : (int64_t)base + (int64_t)((q >> 24) % (300ULL * DAY));
		for (int field = 0; field < 2; field++) {
			size_t c1, c2;
			bool e1, e2;
			uint64_t *l1 = NULL, *l2 = NULL;
			imei_store_distinct(mem, qkey, field, days, now, &c1, &e1, &l1, &err);
			imei_store_distinct(lm, qkey, field, days, now, &c2, &e2, &l2, &err);
			mismatches += c1 != c2 || e1 != e2 || (c1 && memcmp(l1, l2, c1 * sizeof *l1));
			free(l1);
			free(l2);
			int64_t d1 = now / DAY;
			size_t truth = brute_distinct(raws, i + 1, qkey, field, d1 - days + 1, d1);
			inexact += !e1;
			wrong_exact += e1 ? c1 != truth : c1 > truth;
			queries++;
		}
		struct imei_store_daily x, y;
		imei_store_daily(mem, qkey, days, now, &x, &err);
		imei_store_daily(lm, qkey, days, now, &y, &err);
		mismatches += x.days_seen != y.days_seen || x.total != y.total || x.exact != y.exact;
		for (size_t j = 0; j < x.days_seen && j < y.days_seen; j++)
			mismatches += x.days[j].day != y.days[j].day || x.days[j].imsis != y.days[j].imsis;
		if (x.exact) {
			/* exact per-day counts match brute force */
			for (size_t j = 0; j < x.days_seen; j++)
				exact_daily_wrong +=
					x.days[j].imsis != brute_distinct(raws, i + 1, qkey, 0, x.days[j].day, x.days[j].day);
			exact_daily_wrong += x.days_seen > days;
		}
		free(x.days);
		free(y.days);
		struct imei_sighting_agg f1, f2;
		int r1 = imei_store_first(mem, qkey, &f1, &err), r2 = imei_store_first(lm, qkey, &f2, &err);
		mismatches += r1 != r2 || (r1 == 1 && memcmp(&f1, &f2, sizeof f1));
		r1 = imei_store_last(mem, qkey, &f1, &err);
		r2 = imei_store_last(lm, qkey, &f2, &err);
		mismatches += r1 != r2 || (r1 == 1 && memcmp(&f1, &f2, sizeof f1));
	}
	CHECK_INT(mismatches, 0);
	CHECK_INT(wrong_exact, 0);
	CHECK_INT(exact_daily_wrong, 0);
	CHECK(queries > 1000);
	CHECK_INT(imei_store_record_many(many, slice, nslice, &done, &err), 0);
	CHECK(inexact > 0); /* the workload does reach past the horizon */
	fprintf(stderr, "same answers: %zu queries, %zu inexact\n", queries, inexact);
	/* every key's aggregates, and the counts */
	size_t diff_keys = 0;
	for (size_t k = 0; k < nkeys; k++) {
		struct imei_sighting_agg *a = NULL, *b = NULL;
		size_t na = 0, nb = 0;
		uint64_t key = 35000000000000ULL + k * 1000003;
		imei_store_sightings(mem, key, &a, &na, &err);
		imei_store_sightings(lm, key, &b, &nb, &err);
		diff_keys += !same_aggs(a, na, b, nb);
		free(b);
		imei_store_sightings(many, key, &b, &nb, &err);
		diff_keys += !same_aggs(a, na, b, nb);
		free(a);
		free(b);
	}
	CHECK_INT(diff_keys, 0);
	imei_store_release(many);
	struct imei_store_stats s1, s2;
	CHECK_INT(imei_store_flush(lm, &err), 0);
	CHECK_INT(imei_store_stats(mem, &s1, &err), 0);
	CHECK_INT(imei_store_stats(lm, &s2, &err), 0);
	CHECK_INT(s1.aggregates, s2.aggregates);
	CHECK_INT(s1.keys, s2.keys);
	CHECK_INT(s1.keys, nkeys);
	CHECK_INT(s2.committed, n);
	CHECK_INT(s2.pending, 0);
	/* iterating gives the same set: sum the aggregates in a order-free way */
	uint64_t h1 = 0, h2 = 0, c1 = 0, c2 = 0, keys1 = 0, keys2 = 0;
	struct imei_sighting_agg a;
	struct imei_store_iter *it = imei_store_iter_open(mem, IMEI_ITER_SIGHTINGS, &err);
	while (it && imei_store_iter_next(it, &a, &err) == 1) {
		h1 += a.key * 31 + a.imsi * 7 + a.msisdn + a.days + a.ndays + a.first;
		c1++;
	}
	imei_store_iter_close(it);
	it = imei_store_iter_open(lm, IMEI_ITER_SIGHTINGS, &err);
	while (it && imei_store_iter_next(it, &a, &err) == 1) {
		h2 += a.key * 31 + a.imsi * 7 + a.msisdn + a.days + a.ndays + a.first;
		c2++;
	}
	imei_store_iter_close(it);
	CHECK_INT(c1, s1.aggregates);
	CHECK_INT(c1, c2);
	CHECK(h1 == h2);
	it = imei_store_iter_open(mem, IMEI_ITER_KEYS, &err);
	while (it && imei_store_iter_next(it, &a, &err) == 1)
		keys1++;
	imei_store_iter_close(it);
	it = imei_store_iter_open(lm, IMEI_ITER_KEYS, &err);
	while (it && imei_store_iter_next(it, &a, &err) == 1)
		keys2++;
	imei_store_iter_close(it);
	CHECK_INT(keys1, nkeys);
	CHECK_INT(keys2, nkeys);
	CHECK_INT(imei_store_check(mem, &err), 0);
	CHECK_INT(imei_store_check(lm, &err), 0);
	imei_store_release(lm);
	/* reopened, the LMDB store still answers the same */
	lm = open_store(spec, 0);
	CHECK(lm != NULL);
	if (lm) {
		size_t diff = 0;
		for (size_t k = 0; k < nkeys; k += 7) {
			uint64_t key = 35000000000000ULL + k * 1000003;
			size_t x1, x2;
			imei_store_distinct(mem, key, IMEI_FIELD_IMSI, 90, base + 300 * DAY, &x1, NULL, NULL, &err);
			imei_store_distinct(lm, key, IMEI_FIELD_IMSI, 90, base + 300 * DAY, &x2, NULL, NULL, &err);
			diff += x1 != x2;
		}
		CHECK_INT(diff, 0);
		CHECK_INT(imei_store_check(lm, &err), 0);
		imei_store_release(lm);
	}
	imei_store_release(mem);
	free(raws);
}

/* ---- bad input, reference counts, specs ------------------------------------------------ */

static void test_bad_input(const char *spec)
{
	struct imei_store *st = open_store(spec, 0);
	struct imei_store_error err;
	struct imei_store_stats stats;
	CHECK(st != NULL);
	if (!st)
		return;
	struct imei_sighting ok = sighting(1, imsi_n(1), 0, 5);
	struct imei_sighting bad = ok;
	bad.key = IMEI_SIGHT_KEY_LIMIT;
	CHECK_INT(imei_store_record(st, &bad, &err), -1);
	CHECK_INT(err.code, IMEI_STORE_EINVAL);
	CHECK(strncmp(err.msg, "key:", 4) == 0);
	bad = ok;
	bad.imsi = 42;
	CHECK_INT(imei_store_record(st, &bad, &err), -1);
	CHECK(strncmp(err.msg, "imsi:", 5) == 0);
	bad = ok;
	bad.msisdn = 3;
	CHECK_INT(imei_store_record(st, &bad, &err), -1);
	CHECK(strncmp(err.msg, "msisdn:", 7) == 0);
	bad = ok;
	bad.op = 77;
	CHECK_INT(imei_store_record(st, &bad, &err), -1);
	CHECK(strncmp(err.msg, "operator:", 9) == 0);
	bad = ok;
	bad.rat = 11;
	CHECK_INT(imei_store_record(st, &bad, &err), -1);
	CHECK(strncmp(err.msg, "rat:", 4) == 0);
	CHECK_INT(imei_store_stats(st, &stats, &err), 0);
	CHECK_INT(stats.recorded, 0);
	/* many at once: the ones before a bad one are recorded, and the message names it */
	struct imei_sighting many[4] = { sighting(2, imsi_n(1), 0, 5), sighting(2, imsi_n(2), 0, 5), ok, ok };
	many[2].imsi = 7;
	size_t done = 99;
	CHECK_INT(imei_store_record_many(st, many, 4, &done, &err), -1);
	CHECK_INT(done, 2);
	CHECK(strncmp(err.msg, "sighting 2: imsi:", 17) == 0);
	CHECK_INT(imsis(st, 2, 1, 5, NULL), 2);
	CHECK_INT(imei_store_record_many(st, many, 2, &done, &err), 0);
	CHECK_INT(done, 2);
	CHECK_INT(imsis(st, 2, 1, 5, NULL), 2);
	CHECK_INT(imei_store_record(st, &ok, &err), 0);
	CHECK_INT(imsis(st, 1, 1, 5, NULL), 1);
	CHECK_INT(imei_store_distinct(st, IMEI_SIGHT_KEY_LIMIT, IMEI_FIELD_IMSI, 1, 5, &(size_t){ 0 }, NULL, NULL, &err),
	          -1);
	/* references: the store lives until the last release */
	struct imei_store *again = imei_store_retain(st);
	CHECK(again == st);
	imei_store_release(st);
	CHECK_INT(imsis(again, 1, 1, 5, NULL), 1);
	imei_store_release(again);
}

static void test_specs(void)
{
	struct imei_store_error err;
	CHECK(imei_store_open("redis:x", NULL, &err) == NULL);
	CHECK_INT(err.code, IMEI_STORE_EINVAL);
	CHECK(strstr(err.msg, "redis:x") && strstr(err.msg, "lmdb:PATH"));
	CHECK(imei_store_open("lmdb:", NULL, &err) == NULL);
	CHECK(imei_store_open(NULL, NULL, &err) == NULL);
	CHECK(imei_store_open("lmdb:/proc/version", NULL, &err) == NULL);
	CHECK(strstr(err.msg, "not a directory") != NULL);
	/* a read-only memory store refuses writes */
	struct imei_store_opts ro = { .read_only = true };
	struct imei_store *st = imei_store_open("memory", &ro, &err);
	CHECK(st != NULL);
	if (st) {
		struct imei_sighting s = sighting(1, imsi_n(1), 0, 5);
		CHECK_INT(imei_store_record(st, &s, &err), -1);
		CHECK_INT(err.code, IMEI_STORE_EREADONLY);
		CHECK_INT(imei_store_pair(st, 1, imsi_n(1), 0, &err), -1);
		CHECK(imei_store_read_only(st));
		imei_store_release(st);
	}
}

/* ---- threads -------------------------------------------------------------------------- */

struct worker {
	struct imei_store *st;
	unsigned id;
	size_t errors;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct imei_store_error err;
	for (uint64_t i = 0; i < 5000; i++) {
		uint64_t key = (uint64_t)w->id * 1000000 + i % 1000;
		struct imei_sighting s = sighting(key, imsi_n(i % 3 + w->id * 10), 0, 1700000000 + (uint32_t)i);
		w->errors += imei_store_record(w->st, &s, &err) != 0;
		if (i % 10 == 0) {
			/* a query from another thread's keys, and our own */
			size_t c;
			w->errors += imei_store_distinct(w->st, key, IMEI_FIELD_IMSI, 30, 1700000000 + 10 * DAY, &c, NULL,
			                                 NULL, &err) != 0;
			w->errors += c < 1 || c > 3;
		}
		if (i % 1500 == 0)
			w->errors += imei_store_flush(w->st, &err) != 0;
	}
	return NULL;
}

static void test_threads(const char *spec)
{
	struct imei_store *st = open_store(spec, 2000);
	struct imei_store_error err;
	CHECK(st != NULL);
	if (!st)
		return;
	enum { NT = 4 };
	pthread_t th[NT];
	struct worker w[NT];
	for (unsigned i = 0; i < NT; i++) {
		w[i] = (struct worker){ imei_store_retain(st), i + 1, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	size_t errors = 0;
	for (unsigned i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
		imei_store_release(w[i].st);
	}
	CHECK_INT(errors, 0);
	struct imei_store_stats s;
	CHECK_INT(imei_store_flush(st, &err), 0);
	CHECK_INT(imei_store_stats(st, &s, &err), 0);
	CHECK_INT(s.recorded, NT * 5000);
	CHECK_INT(s.keys, NT * 1000);
	CHECK_INT(s.aggregates, NT * 3000);
	for (unsigned i = 1; i <= NT; i++)
		CHECK_INT(imsis(st, (uint64_t)i * 1000000 + 7, 30, 1700000000 + 10 * DAY, NULL), 3);
	CHECK_INT(imei_store_check(st, &err), 0);
	imei_store_release(st);
}

/* ---- LMDB failure modes --------------------------------------------------------------- */

static int read_file(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*buf = malloc(n > 0 ? (size_t)n : 1);
	*len = *buf ? fread(*buf, 1, (size_t)n, f) : 0;
	fclose(f);
	return *buf ? 0 : -1;
}

static bool file_is(const char *path, const unsigned char *want, size_t len)
{
	unsigned char *got = NULL;
	size_t n = 0;
	bool same = read_file(path, &got, &n) == 0 && n == len && memcmp(got, want, len) == 0;
	free(got);
	return same;
}

static void fill_store(const char *spec, size_t n)
{
	struct imei_store *st = open_store(spec, 0);
	struct imei_store_error err;
	if (!st)
		return;
	for (size_t i = 0; i < n; i++) {
		struct imei_sighting s = sighting(1000 + i, imsi_n(i), 0, 1700000000);
		imei_store_record(st, &s, &err);
	}
	CHECK_INT(imei_store_flush(st, &err), 0);
	imei_store_release(st);
}

static void test_map_full(void)
{
	char dir[256], spec[300];
	path_in(dir, sizeof dir, "full");
	snprintf(spec, sizeof spec, "lmdb:%s", dir);
	struct imei_store_opts o = { .map_size = 256 * 1024, .batch = 500 };
	struct imei_store_error err;
	struct imei_store *st = imei_store_open(spec, &o, &err);
	CHECK(st != NULL);
	if (!st)
		return;
	size_t acked = 0, i = 0;
	int rc = 0;
	/* write batches until the map is full */
	for (; i < 200000 && rc == 0; i++) {
		struct imei_sighting s = sighting(i, imsi_n(i), msisdn_n(i), 1700000000);
		rc = imei_store_record(st, &s, &err);
		if (rc == 0 && i % 500 == 499) {
			rc = imei_store_flush(st, &err);
			if (rc == 0)
				acked = i + 1;
		}
	}
	CHECK_INT(rc, -1);
	CHECK_INT(err.code, IMEI_STORE_EFULL);
	CHECK(strstr(err.msg, "MDB_MAP_FULL") && strstr(err.msg, "map_size"));
	CHECK(acked > 0);
	/* the failure changed nothing: the store answers and checks */
	CHECK_INT(imei_store_check(st, &err), 0);
	CHECK_INT(imsis(st, 0, 1, 1700000000, NULL), 1);
	imei_store_release(st); /* its last flush fails too, quietly */
	/* reopened with room: every acknowledged sighting is there, nothing more */
	o.map_size = 64 << 20;
	st = imei_store_open(spec, &o, &err);
	CHECK(st != NULL);
	if (!st)
		return;
	struct imei_store_stats s;
	CHECK_INT(imei_store_check(st, &err), 0);
	CHECK_INT(imei_store_stats(st, &s, &err), 0);
	CHECK_INT(s.committed, acked);
	CHECK_INT(s.aggregates, acked);
	size_t missing = 0;
	for (size_t j = 0; j < acked; j++)
		missing += imsis(st, j, 1, 1700000000, NULL) != 1;
	CHECK_INT(missing, 0);
	/* and it takes more now */
	struct imei_sighting more = sighting(999999, imsi_n(1), 0, 1700000000);
	CHECK_INT(imei_store_record(st, &more, &err), 0);
	CHECK_INT(imei_store_flush(st, &err), 0);
	imei_store_release(st);
	rm_store(dir);
}

static void test_damaged(void)
{
	char dir[256], spec[300], data[300];
	path_in(dir, sizeof dir, "damaged");
	snprintf(spec, sizeof spec, "lmdb:%s", dir);
	snprintf(data, sizeof data, "%s/data.mdb", dir);
	struct imei_store_error err;
	fill_store(spec, 2000);
	unsigned char *orig = NULL, *bytes = NULL;
	size_t len = 0;
	CHECK_INT(read_file(data, &orig, &len), 0);
	if (!orig || len < 16384)
		return;

	/* 1. garbage over both meta pages */
	bytes = malloc(len);
	memcpy(bytes, orig, len);
	for (size_t i = 0; i < 8192; i++)
		bytes[i] = (unsigned char)(i * 131 + 7);
	FILE *f = fopen(data, "wb");
	fwrite(bytes, 1, len, f);
	fclose(f);
	CHECK(imei_store_open(spec, NULL, &err) == NULL);
	CHECK_INT(err.code, IMEI_STORE_ECORRUPT);
	CHECK(strstr(err.msg, dir) && strstr(err.msg, "damaged"));
	CHECK(file_is(data, bytes, len)); /* the failed open wrote nothing */

	/* 2. truncated */
	f = fopen(data, "wb");
	fwrite(orig, 1, len / 2, f);
	fclose(f);
	CHECK(imei_store_open(spec, NULL, &err) == NULL);
	CHECK_INT(err.code, IMEI_STORE_ECORRUPT);
	CHECK(strstr(err.msg, "truncated") != NULL);
	CHECK(file_is(data, orig, len / 2));

	/* 3. a valid LMDB file whose sighting record is damaged */
	f = fopen(data, "wb");
	fwrite(orig, 1, len, f);
	fclose(f);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	unsigned char kb[IMEI_WIRE_SKEY], vb[IMEI_WIRE_SVAL];
	imei_wire_skey(1005, imsi_n(5), 0, kb);
	memset(vb, 0xEE, sizeof vb);
	vb[0] = 1;
	MDB_val k = { sizeof kb, kb }, v = { sizeof vb, vb };
	int rc = mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 4);
	rc = rc ? rc : mdb_env_open(env, dir, 0, 0664);
	rc = rc ? rc : mdb_txn_begin(env, NULL, 0, &txn);
	rc = rc ? rc : mdb_dbi_open(txn, "sightings", 0, &dbi);
	rc = rc ? rc : mdb_put(txn, dbi, &k, &v, 0);
	rc = rc ? rc : mdb_txn_commit(txn);
	mdb_env_close(env);
	CHECK_INT(rc, 0);
	struct imei_store *st = imei_store_open(spec, NULL, &err);
	CHECK(st != NULL);
	if (st) {
		CHECK_INT(imsis(st, 1004, 1, 1700000000, NULL), 1); /* the others still answer */
		size_t c;
		CHECK_INT(imei_store_distinct(st, 1005, IMEI_FIELD_IMSI, 1, 1700000000, &c, NULL, NULL, &err), -1);
		CHECK_INT(err.code, IMEI_STORE_ECORRUPT);
		CHECK(strstr(err.msg, "damaged sighting record") != NULL);
		CHECK_INT(imei_store_check(st, &err), -1);
		CHECK(strstr(err.msg, "damaged sighting record") != NULL);
		/* recording on top of the damaged record fails the commit, and changes nothing */
		struct imei_sighting s = sighting(1005, imsi_n(5), 0, 1700000001);
		CHECK_INT(imei_store_record(st, &s, &err), 0);
		CHECK_INT(imei_store_flush(st, &err), -1);
		CHECK_INT(err.code, IMEI_STORE_ECORRUPT);
		imei_store_release(st);
	}

	/* 4. an LMDB environment that is not a sightings store */
	char other[256];
	path_in(other, sizeof other, "other");
	mkdir(other, 0777);
	rc = mdb_env_create(&env);
	rc = rc ? rc : mdb_env_open(env, other, 0, 0664);
	rc = rc ? rc : mdb_txn_begin(env, NULL, 0, &txn);
	rc = rc ? rc : mdb_dbi_open(txn, NULL, 0, &dbi);
	rc = rc ? rc : mdb_put(txn, dbi, &k, &v, 0);
	rc = rc ? rc : mdb_txn_commit(txn);
	mdb_env_close(env);
	CHECK_INT(rc, 0);
	char ospec[300];
	snprintf(ospec, sizeof ospec, "lmdb:%s", other);
	CHECK(imei_store_open(ospec, NULL, &err) == NULL);
	CHECK(strstr(err.msg, "not a sightings store") != NULL);
	rm_store(other);
	free(orig);
	free(bytes);
	rm_store(dir);
}

static void test_read_only(void)
{
	char dir[256], spec[300];
	struct imei_store_error err;
	struct imei_store_opts ro = { .read_only = true };
	path_in(dir, sizeof dir, "ro");
	snprintf(spec, sizeof spec, "lmdb:%s", dir);
	/* read-only open of nothing creates nothing */
	CHECK(imei_store_open(spec, &ro, &err) == NULL);
	CHECK(access(dir, F_OK) != 0);
	fill_store(spec, 10);
	struct imei_store *st = imei_store_open(spec, &ro, &err);
	CHECK(st != NULL);
	if (st) {
		CHECK_INT(imsis(st, 1003, 1, 1700000000, NULL), 1);
		struct imei_sighting s = sighting(1, imsi_n(1), 0, 5);
		CHECK_INT(imei_store_record(st, &s, &err), -1);
		CHECK_INT(err.code, IMEI_STORE_EREADONLY);
		CHECK_INT(imei_store_unpair(st, 1, imsi_n(1), &err), -1);
		CHECK_INT(imei_store_flush(st, &err), 0);
		imei_store_release(st);
	}
	rm_store(dir);

	/* a directory the process may not write: a clear error, nothing created. As root,
	 * a child drops to nobody first (root writes anywhere). */
	char rodir[256];
	path_in(rodir, sizeof rodir, "rodir");
	CHECK_INT(mkdir(rodir, 0555), 0);
	chmod(rodir, 0555);
	chmod(tmp_root, 0755);
	pid_t pid = fork();
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		char rspec[300];
		snprintf(rspec, sizeof rspec, "lmdb:%s", rodir);
		struct imei_store_error e;
		struct imei_store *s = imei_store_open(rspec, NULL, &e);
		if (s)
			_exit(4);
		if (!strstr(e.msg, rodir) || !strstr(e.msg, "Permission denied"))
			_exit(5);
		char sub[300];
		snprintf(rspec, sizeof rspec, "lmdb:%s/sub", rodir);
		snprintf(sub, sizeof sub, "%s/sub", rodir);
		if (imei_store_open(rspec, NULL, &e) || !strstr(e.msg, "cannot create the directory"))
			_exit(6);
		_exit(access(sub, F_OK) == 0 ? 7 : 0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
	/* nothing was created in it */
	char probe[300];
	snprintf(probe, sizeof probe, "%s/data.mdb", rodir);
	CHECK(access(probe, F_OK) != 0);
	snprintf(probe, sizeof probe, "%s/imei.lock", rodir);
	CHECK(access(probe, F_OK) != 0);
	chmod(rodir, 0755);
	rmdir(rodir);
}

static void test_open_twice(void)
{
	char dir[256], spec[300];
	struct imei_store_error err;
	path_in(dir, sizeof dir, "twice");
	snprintf(spec, sizeof spec, "lmdb:%s", dir);
	struct imei_store *a = open_store(spec, 0);
	CHECK(a != NULL);
	CHECK(imei_store_open(spec, NULL, &err) == NULL);
	CHECK_INT(err.code, IMEI_STORE_EBUSY);
	CHECK(strstr(err.msg, "already open in this process") != NULL);
	/* another process may open it at the same time */
	pid_t pid = fork();
	if (pid == 0) {
		struct imei_store_error e;
		struct imei_store *b = imei_store_open(spec, NULL, &e);
		if (!b)
			_exit(1);
		struct imei_sighting s = sighting(77, imsi_n(77), 0, 1700000000);
		int rc = imei_store_record(b, &s, &e) || imei_store_flush(b, &e);
		imei_store_release(b);
		_exit(rc ? 2 : 0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* and its committed sightings are visible here */
	if (a)
		CHECK_INT(imsis(a, 77, 1, 1700000000, NULL), 1);
	imei_store_release(a);
	/* closed: it opens again */
	struct imei_store *c = open_store(spec, 0);
	CHECK(c != NULL);
	imei_store_release(c);
	rm_store(dir);
}

int main(void)
{
	char dir[256], spec[300];
	make_root();
	path_in(dir, sizeof dir, "same");
	snprintf(spec, sizeof spec, "lmdb:%s", dir);

	test_codec();
	test_agg();
	test_specs();
	const char *backends[2] = { "memory", spec };
	for (int b = 0; b < 2; b++) {
		test_window_edges(backends[b]);
		rm_store(dir);
		test_many_imsis(backends[b]);
		rm_store(dir);
		test_pairings(backends[b]);
		rm_store(dir);
		test_bad_input(backends[b]);
		rm_store(dir);
		test_threads(backends[b]);
		rm_store(dir);
	}
	test_same_answers(dir);
	rm_store(dir);
	test_map_full();
	test_damaged();
	test_read_only();
	test_open_twice();
	rmdir(tmp_root);
	return CHECK_DONE("test_sightings");
}
