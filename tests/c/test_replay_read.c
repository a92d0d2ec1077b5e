/*
 * test_replay_read.c — the readers of batch replay (replay_ingest.c) give the same ingest
 * for any number of threads and any cut of the files into byte ranges: rows, refusals by
 * reason, the first examples with their file and line, per-file counts, the pair table
 * (text identities numbered alike) and the store. Files with refused rows spread through
 * them, one without a trailing line end, one with CR LF line ends, one gzip (read whole),
 * and one with a header naming its columns in another order.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "scratch_files.h"
#include "store_aggs.h"

/* Line i of a dump (1-based, after the header), with a refused row every 37th line and
 * other oddities at fixed places. */
static void line_of(unsigned i, const char *eol, char *out, size_t cap)
{
	unsigned dev = i % 211, day = 1 + i % 28;
	if (i % 37 == 0)
		snprintf(out, cap, "202601%02u,35209900%06u,41001000000%04ux,923000%06u%s", day, dev, i % 10000, i, eol);
	else if (i % 101 == 0)
		snprintf(out, cap, "202601%02u,35209900%06u%s", day, dev, eol); /* too few fields */
	else if (i % 151 == 0)
		snprintf(out, cap, "   %s", eol);
	else if (i % 173 == 0)
		snprintf(out, cap, "202601%02u,A0000000%06X,41001%010u,%s", day, dev, i % 97, eol); /* a MEID */
	else if (i % 191 == 0)
		snprintf(out, cap, "202601%02u,junk-%u,41001%010u,%s", day, i % 7, i % 89, eol); /* text */
	else
		snprintf(out, cap, "202601%02u,35209900%06u,41001%010u,923000%06u%s", day, dev, i % 389, i, eol);
}

static void write_dump(const char *name, unsigned lines, const char *eol, bool last_eol, bool gz, bool long_lines)
{
	FILE *f = gz ? NULL : fopen(path_of(name), "wb");
	gzFile z = gz ? gzopen(path_of(name), "wb") : NULL;
	if (!f && !z) {
		perror(name);
		exit(2);
	}
	static char big[6000];
	char line[128];
	const char *head = "date,imei,imsi,msisdn";
	for (unsigned i = 0; i <= lines; i++) {
		const char *text = line;
		if (i == 0)
			snprintf(line, sizeof line, "%s%s", head, eol);
		else if (long_lines && i % 509 == 0) {
			memset(big, 'x', 5000);
			snprintf(big + 5000, sizeof big - 5000, "%s", eol);
			text = big;
		} else
			line_of(i, i == lines && !last_eol ? "" : eol, line, sizeof line);
		if (z)
			gzputs(z, text);
		else
			fputs(text, f);
	}
	if (z)
		gzclose(z);
	else
		fclose(f);
}

/* A replay of the default layout into st: with reader threads (readers of them, the files
 * cut into ranges of chunk bytes) or not. */
static struct imei_replay_config config_for(struct imei_store *st, bool thread, unsigned readers, uint64_t chunk)
{
	struct imei_replay_config cfg = { 0 };
	cfg.store = st;
	imei_dump_layout_default(&cfg.layout);
	cfg.run_day = IMEI_REPLAY_NO_DAY;
	cfg.reader_thread = thread;
	cfg.readers = readers;
	cfg.chunk_bytes = chunk;
	return cfg;
}

struct ingest_result {
	struct imei_store *st;
	struct imei_replay *r;
};

/* The files read into store st (a memory store when NULL). */
static struct ingest_result ingest_into(struct imei_store *st, bool thread, unsigned readers, uint64_t chunk)
{
	struct ingest_result res;
	struct imei_store_error se;
	char err[600];
	res.st = st ? st : imei_store_open("memory", NULL, &se);
	struct imei_replay_config cfg = config_for(res.st, thread, readers, chunk);
	res.r = imei_replay_new(&cfg, err, sizeof err);
	if (!res.r) {
		fprintf(stderr, "imei_replay_new: %s\n", err);
		exit(1);
	}
	const char *files[] = { "big.csv", "crlf.csv", "small.csv", "dump.csv.gz", "cols.csv", "big.csv" };
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		CHECK_INT(imei_replay_add_file(res.r, path_of(files[i]), i % 2 ? "Beta" : "Alpha", IMEI_REPLAY_NO_DAY,
		                               IMEI_REPLAY_NO_DAY, err, sizeof err), (long long)i);
	int rc;
	while ((rc = imei_replay_ingest(res.r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	if (rc != IMEI_REPLAY_DONE)
		fprintf(stderr, "ingest: %s\n", err);
	return res;
}

static struct ingest_result ingest(bool thread, unsigned readers, uint64_t chunk)
{
	return ingest_into(NULL, thread, readers, chunk);
}

static void done(struct ingest_result *res)
{
	imei_replay_free(res->r);
	imei_store_release(res->st);
}

static bool same_examples(const struct imei_replay *a, const struct imei_replay *b)
{
	for (int why = 1; why < IMEI_DUMP_NREJECT; why++) {
		const struct imei_replay_example *x, *y;
		size_t n = imei_replay_examples(a, why, &x);
		if (imei_replay_examples(b, why, &y) != n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (x[i].file != y[i].file || x[i].line != y[i].line || x[i].field != y[i].field ||
			    strcmp(x[i].msg, y[i].msg) != 0 || strcmp(x[i].text, y[i].text) != 0)
				return false;
	}
	return true;
}

static bool same_files(const struct imei_replay *a, const struct imei_replay *b)
{
	for (size_t i = 0; i < imei_replay_nfiles(a); i++) {
		const struct imei_replay_file_stats *x = imei_replay_file(a, i), *y = imei_replay_file(b, i);
		if (x->rows != y->rows || x->accepted != y->accepted || x->rejected != y->rejected || x->blank != y->blank ||
		    x->bytes != y->bytes || x->header != y->header || x->gzip != y->gzip || x->done != y->done ||
		    x->seen_first != y->seen_first || x->seen_last != y->seen_last ||
		    x->unterminated_line != y->unterminated_line ||
		    memcmp(x->by_reason, y->by_reason, sizeof x->by_reason) != 0)
			return false;
	}
	return true;
}

static bool same_pairs(const struct imei_replay *a, const struct imei_replay *b)
{
	size_t n = imei_replay_npairs(a);
	if (imei_replay_npairs(b) != n)
		return false;
	const struct imei_replay_pair *x = imei_replay_pairs(a), *y = imei_replay_pairs(b);
	for (size_t i = 0; i < n; i++) {
		char s[64], t[64];
		imei_replay_ident_str(a, x[i].ident, s);
		imei_replay_ident_str(b, y[i].ident, t);
		if (x[i].ident != y[i].ident || strcmp(s, t) != 0 || x[i].imsi != y[i].imsi || x[i].msisdn != y[i].msisdn ||
		    x[i].ops != y[i].ops || x[i].first != y[i].first || x[i].last != y[i].last || x[i].rows != y[i].rows ||
		    x[i].form != y[i].form || x[i].rat != y[i].rat || x[i].op != y[i].op || x[i].flags != y[i].flags)
			return false;
	}
	return true;
}

/* What one reader gives, checked against the dumps as written. */
static void test_one_reader(const struct imei_replay *r, struct imei_store *st)
{
	const struct imei_replay_totals *t = imei_replay_totals(r);
	CHECK_INT(t->headers, 6);
	CHECK(t->rejected > 100 && t->by_reason[IMEI_DUMP_R_IMSI] > 50 && t->by_reason[IMEI_DUMP_R_FIELDS] > 20);
	CHECK_INT(t->by_reason[IMEI_DUMP_R_LONG], 2 * (3000 / 509) + 1500 / 509);
	const struct imei_replay_example *ex;
	CHECK_INT(imei_replay_examples(r, IMEI_DUMP_R_IMSI, &ex), IMEI_REPLAY_EXAMPLES);
	CHECK_INT(ex[0].file, 0);
	CHECK_INT(ex[0].line, 38); /* line 37 of the rows, after the header */
	CHECK_INT(ex[4].line, 5 * 37 + 1);
	CHECK_INT(imei_replay_examples(r, IMEI_DUMP_R_LONG, &ex), IMEI_REPLAY_EXAMPLES);
	CHECK_INT(ex[0].line, 510);
	CHECK_INT(ex[4].line, 5 * 509 + 1);
	CHECK_INT(imei_replay_file(r, 0)->unterminated_line, 3001); /* big.csv ends without a line end */
	CHECK_INT(imei_replay_file(r, 1)->unterminated_line, 0);
	CHECK(imei_replay_file(r, 3)->gzip);
	CHECK_INT(imei_replay_file(r, 1)->rows, 2000 - 2000 / 151 + 2000 / (151 * 37) + 2000 / (151 * 101));
	CHECK_INT(imei_replay_file(r, 4)->rejected, 0); /* its header names the columns */
	size_t n;
	struct imei_store_error se;
	CHECK_INT(imei_store_distinct(st, 35209900000005ULL, IMEI_FIELD_IMSI, 60, 20485LL * 86400, &n, NULL, NULL, &se),
	          0);
	CHECK(n > 3);
}

static void test_same_for_any_readers(void)
{
	struct ingest_result one = ingest(false, 1, 0);
	test_one_reader(one.r, one.st);
	struct {
		unsigned readers;
		uint64_t chunk;
	} runs[] = { { 1, 0 }, { 2, 0 }, { 2, 4096 }, { 4, 1000 }, { 4, 97 }, { 3, 20000 } };
	for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
		struct ingest_result par = ingest(true, runs[i].readers, runs[i].chunk);
		const struct imei_replay_totals *a = imei_replay_totals(one.r), *b = imei_replay_totals(par.r);
		CHECK_INT(b->rows, a->rows);
		CHECK_INT(b->accepted, a->accepted);
		CHECK_INT(b->rejected, a->rejected);
		CHECK_INT(b->blank, a->blank);
		CHECK_INT(b->headers, a->headers);
		CHECK_INT(b->sightings, a->sightings);
		CHECK_INT(b->first_day, a->first_day);
		CHECK_INT(b->last_day, a->last_day);
		CHECK(memcmp(a->by_reason, b->by_reason, sizeof a->by_reason) == 0);
		CHECK(same_examples(one.r, par.r));
		CHECK(same_files(one.r, par.r));
		CHECK(same_pairs(one.r, par.r));
		for (int o = 0; o < 2; o++) {
			CHECK_INT(imei_replay_operator(par.r, o)->rows, imei_replay_operator(one.r, o)->rows);
			CHECK_INT(imei_replay_operator(par.r, o)->rejected, imei_replay_operator(one.r, o)->rejected);
		}
		size_t x, y;
		struct imei_store_error se;
		for (uint64_t key = 35209900000000ULL; key < 35209900000211ULL; key += 7) {
			CHECK_INT(imei_store_distinct(one.st, key, IMEI_FIELD_IMSI, 60, 20485LL * 86400, &x, NULL, NULL, &se), 0);
			CHECK_INT(imei_store_distinct(par.st, key, IMEI_FIELD_IMSI, 60, 20485LL * 86400, &y, NULL, NULL, &se), 0);
			CHECK_INT(y, x);
		}
		done(&par);
	}
	done(&one);
}

/* A file that cannot be read in the middle of the run: the same error, whatever the
 * readers, after the files before it; the readers still at work are stopped. */
static void error_of(bool thread, unsigned readers, uint64_t chunk, const char *bad, char *err, size_t errlen)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	struct imei_replay_config cfg = config_for(st, thread, readers, chunk);
	struct imei_replay *r = imei_replay_new(&cfg, err, errlen);
	const char *files[] = { "big.csv", bad, "crlf.csv", "big.csv" };
	for (size_t i = 0; i < 4; i++)
		CHECK_INT(imei_replay_add_file(r, path_of(files[i]), "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
		                               errlen), (long long)i);
	int rc;
	while ((rc = imei_replay_ingest(r, 50, err, errlen)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_ERROR);
	CHECK_INT(imei_replay_file(r, 0)->done, 1);
	CHECK_INT(imei_replay_file(r, 2)->done, 0);
	imei_replay_free(r);
	imei_store_release(st);
}

static void test_errors(void)
{
	const char *bad[] = { "cut.csv.gz", "header.csv" };
	for (size_t b = 0; b < 2; b++) {
		char one[600], par[600];
		error_of(false, 1, 0, bad[b], one, sizeof one);
		CHECK(strstr(one, bad[b]) != NULL);
		error_of(true, 4, 100, bad[b], par, sizeof par);
		CHECK_STR(par, one);
		error_of(true, 2, 0, bad[b], par, sizeof par);
		CHECK_STR(par, one);
	}
}

/* Progress while the readers work: rows and refusals never go back nor past the totals,
 * and end at them, with the gzip file (one chunk) counted as it is read. */
static void test_progress(void)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	struct imei_replay_config cfg = config_for(st, true, 2, 4096);
	char err[600];
	struct imei_replay *r = imei_replay_new(&cfg, err, sizeof err);
	CHECK_INT(imei_replay_add_file(r, path_of("dump.csv.gz"), "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), 0);
	CHECK_INT(imei_replay_add_file(r, path_of("big.csv"), "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), 1);
	struct imei_replay_progress p;
	uint64_t rows = 0, rejected = 0;
	bool ordered = true;
	int rc;
	while ((rc = imei_replay_ingest(r, 0, err, sizeof err)) == IMEI_REPLAY_MORE) {
		imei_replay_progress(r, &p);
		ordered = ordered && p.rows >= rows && p.rejected >= rejected && p.rejected <= p.rows;
		rows = p.rows;
		rejected = p.rejected;
	}
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	CHECK(ordered);
	imei_replay_progress(r, &p);
	CHECK_INT(p.rows, imei_replay_totals(r)->rows);
	CHECK_INT(p.rejected, imei_replay_totals(r)->rejected);
	CHECK(rows <= p.rows);
	imei_replay_free(r);
	imei_store_release(st);
}

/* Sightings kept from an earlier run, before and after the dumps' days, of triples the
 * dumps see again and of others, recorded into st. */
static void seed(struct imei_store *st)
{
	struct imei_store_error se;
	for (unsigned i = 0; i < 600; i++) {
		uint64_t imsi, msisdn;
		char text[32];
		snprintf(text, sizeof text, "41001%010u", i % 389);
		imei_sight_imsi(text, strlen(text), &imsi, &se);
		snprintf(text, sizeof text, "923000%06u", i * 7);
		imei_sight_msisdn(text, strlen(text), &msisdn, &se);
		/* 2025-12 (before the dumps), 2026-01 (among them), 2026-03 (after) */
		uint32_t day = i % 3 == 0 ? 20430 : i % 3 == 1 ? 20460 + i % 20 : 20520;
		struct imei_sighting s = { .key = 35209900000000ULL + i % 211, .imsi = imsi,
		                           .msisdn = i % 2 ? msisdn : 0, .time = day * 86400u + i };
		CHECK_INT(imei_store_record(st, &s, &se), 0);
	}
	CHECK_INT(imei_store_flush(st, &se), 0);
}

/* A store holding sightings already (the state of an earlier run): a memory store, which
 * the replay gives each triple's aggregate at the end, seeded from what it held (folded by
 * two threads with more than one reader), holds what an LMDB store given every row does,
 * for any readers and cut. */
static void test_seeded_store(void)
{
	enum { CAP = 40000 };
	struct imei_sighting_agg *want = malloc(CAP * sizeof *want), *got = malloc(CAP * sizeof *got);
	struct imei_store_error se;
	char spec[300];
	snprintf(spec, sizeof spec, "lmdb:%s", path_of("seeded-lmdb"));
	struct imei_store *lmdb = imei_store_open(spec, NULL, &se);
	if (!want || !got || !lmdb) {
		CHECK(!"the test's memory and LMDB store");
		free(want);
		free(got);
		if (lmdb)
			imei_store_release(lmdb);
		return;
	}
	seed(lmdb);
	struct ingest_result ref = ingest_into(lmdb, false, 1, 0);
	size_t n = all_aggs(lmdb, want, CAP);
	CHECK(n > 1000 && n < CAP);
	struct {
		bool thread;
		unsigned readers;
		uint64_t chunk;
	} runs[] = { { false, 1, 0 }, { true, 2, 0 }, { true, 3, 700 }, { true, 4, 97 } };
	for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
		struct imei_store *mem = imei_store_open("memory", NULL, &se);
		CHECK(mem && imei_store_private(mem));
		if (!mem)
			break;
		seed(mem);
		struct ingest_result res = ingest_into(mem, runs[i].thread, runs[i].readers, runs[i].chunk);
		CHECK_INT(all_aggs(mem, got, CAP), n);
		CHECK(memcmp(got, want, n * sizeof *got) == 0);
		CHECK(same_pairs(ref.r, res.r));
		done(&res);
	}
	imei_replay_free(ref.r);
	imei_store_release(lmdb);
	free(want);
	free(got);
}

/* A stop (SIGINT's flag) in the middle of the ingest, while the readers and the folder
 * work: the ingest ends STOPPED, the threads are joined and everything is freed (the
 * sanitized build checks), whatever the readers and the moment. */
static void test_stop_midway(void)
{
	for (unsigned readers = 2; readers <= 4; readers++)
		for (int calls = 1; calls <= 3; calls++) {
			for (int many = 0; many < 2; many++) {
			_Atomic int stop = 0;
			struct imei_store_error se;
			struct imei_store *st = imei_store_open("memory", NULL, &se);
			struct imei_replay_config cfg = config_for(st, true, readers, 211);
			char err[600];
			cfg.stop = &stop;
			struct imei_replay *r = imei_replay_new(&cfg, err, sizeof err);
			/* big files cut in many ranges, or many small files read whole */
			for (int k = 0; k < (many ? 200 : 4); k++)
				CHECK_INT(imei_replay_add_file(r, path_of(many ? "small.csv" : k % 2 ? "crlf.csv" : "big.csv"),
				                               "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err, sizeof err), k);
			int rc, n = 0;
			while ((rc = imei_replay_ingest(r, 0, err, sizeof err)) == IMEI_REPLAY_MORE && n < 100000)
				if (++n == calls)
					stop = SIGINT;
			/* done before the flag was seen is possible on a fast machine, never an error */
			CHECK(rc == IMEI_REPLAY_STOPPED || rc == IMEI_REPLAY_DONE);
			if (rc == IMEI_REPLAY_STOPPED) {
				/* stopped is final, the flag lowered or not: the readers are gone, and the
				 * rows they had not handed over with them (never MORE for ever, nor DONE) */
				stop = 0;
				n = 0;
				while ((rc = imei_replay_ingest(r, 1, err, sizeof err)) == IMEI_REPLAY_MORE && ++n < 500)
					;
				CHECK_INT(rc, IMEI_REPLAY_STOPPED);
			}
			imei_replay_free(r);
			imei_store_release(st);
			}
		}
}

/* Many pairs (each part's pins grow their mapping several times, and the pins become the
 * pairs in place): the same pairs with one reader inline and with three, sorted by device
 * then IMSI, each with its own rows, and the same aggregates put in the memory store;
 * text identities among them, and a cloned device of many IMSIs (ranked among
 * themselves by IMSI). */
static void read_many(bool thread, unsigned readers, struct ingest_result *res)
{
	struct imei_store_error se;
	char err[600];
	res->st = imei_store_open("memory", NULL, &se);
	struct imei_replay_config cfg = config_for(res->st, thread, readers, 65536);
	res->r = imei_replay_new(&cfg, err, sizeof err);
	CHECK(res->r != NULL);
	CHECK_INT(imei_replay_add_file(res->r, path_of("many.csv"), "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), 0);
	int rc;
	while ((rc = imei_replay_ingest(res->r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_DONE);
}

static void test_many_pairs(void)
{
	enum { PAIRS = 150000, TEXTS = 40, CLONES = 100 };
	FILE *f = fopen(path_of("many.csv"), "wb");
	if (!f)
		exit(2);
	for (unsigned round = 0; round < 2; round++) /* every pair twice, on two days */
		for (unsigned p = 0; p < PAIRS; p++) {
			if (p % (PAIRS / TEXTS) == 0)
				fprintf(f, "2026010%u,junk-%u,41001%010u,\n", 1 + round, p, p);
			fprintf(f, "2026010%u,35209%09u,41001%010u,92300%07u\n", 1 + round, (p * 7919u) % 60013u, p, p);
			if (p % (PAIRS / CLONES) == 0) /* the IMSIs of the cloned device, from the highest down */
				fprintf(f, "2026010%u,35209900000000,41002%010u,92301%07u\n", 1 + round, PAIRS - p, p);
		}
	fclose(f);
	struct ingest_result one, par;
	read_many(false, 1, &one);
	read_many(true, 3, &par);
	CHECK_INT(imei_replay_npairs(one.r), PAIRS + TEXTS + CLONES);
	CHECK(same_pairs(one.r, par.r));
	const struct imei_replay_pair *x = imei_replay_pairs(par.r);
	size_t n = imei_replay_npairs(par.r), bad_order = 0, bad_rows = 0, devices = 0, bad_aggs = 0, aggs = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && (x[i - 1].ident > x[i].ident || (x[i - 1].ident == x[i].ident && x[i - 1].imsi >= x[i].imsi)))
			bad_order++;
		bad_rows += x[i].rows != 2 || x[i].first != x[i].last - 1;
		devices += (x[i].flags & IMEI_REPLAY_DEVICE) != 0;
		if (x[i].ident >= IMEI_REPLAY_TEXT_BASE)
			continue; /* no sighting */
		/* its one triple's aggregate in both stores: its two days */
		struct imei_sighting_agg a, b;
		struct imei_store_error se;
		int fa = imei_store_get_agg(one.st, x[i].ident, x[i].imsi, x[i].msisdn, &a, &se);
		int fb = imei_store_get_agg(par.st, x[i].ident, x[i].imsi, x[i].msisdn, &b, &se);
		bad_aggs += fa != 1 || fb != 1 || memcmp(&a, &b, sizeof a) != 0 || a.ndays != 2;
		aggs++;
	}
	CHECK_INT(bad_order, 0);
	CHECK_INT(bad_rows, 0);
	CHECK_INT(devices, 60013 + TEXTS + 1);
	CHECK_INT(aggs, PAIRS + CLONES);
	CHECK_INT(bad_aggs, 0);
	done(&one);
	done(&par);
}

/* A file whose last line has no line end and is longer than a chunk: the line starts in
 * a range before the last one, whose reader reads it to the end of the file. The file
 * still ends in the middle of that line, whatever the cut: the same unterminated line,
 * and the same rows, as with one reader. The line a row (spaces after its last field), or
 * longer than a line may be (refused as too long, and the file still cut short). */
static void test_unterminated_across_cut(void)
{
	for (int too_long = 0; too_long < 2; too_long++) {
		FILE *f = fopen(path_of("tail.csv"), "wb");
		if (!f)
			exit(2);
		fputs("date,imei,imsi,msisdn\n", f);
		for (unsigned i = 1; i <= 300; i++)
			fprintf(f, "202601%02u,35209900%06u,41001%010u,923000%06u\n", 1 + i % 28, i % 211, i % 53, i);
		fprintf(f, "20260105,35209900000007,410010000000999,923000000999%*s", too_long ? 5000 : 600, "");
		fclose(f);
		uint64_t chunks[] = { 97, 211, 700, 4000 };
		struct ingest_result res[5];
		for (size_t i = 0; i < 5; i++) {
			struct imei_store_error se;
			char err[600];
			res[i].st = imei_store_open("memory", NULL, &se);
			struct imei_replay_config cfg = config_for(res[i].st, i > 0, i > 0 ? 3 : 1, i > 0 ? chunks[i - 1] : 0);
			res[i].r = imei_replay_new(&cfg, err, sizeof err);
			CHECK_INT(imei_replay_add_file(res[i].r, path_of("tail.csv"), "Alpha", IMEI_REPLAY_NO_DAY,
			                               IMEI_REPLAY_NO_DAY, err, sizeof err), 0);
			int rc;
			while ((rc = imei_replay_ingest(res[i].r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
				;
			CHECK_INT(rc, IMEI_REPLAY_DONE);
		}
		CHECK_INT(imei_replay_file(res[0].r, 0)->unterminated_line, 302);
		CHECK_INT(imei_replay_file(res[0].r, 0)->accepted, too_long ? 300 : 301);
		CHECK_INT(imei_replay_file(res[0].r, 0)->by_reason[IMEI_DUMP_R_LONG], too_long);
		for (size_t i = 1; i < 5; i++) {
			CHECK_INT(imei_replay_file(res[i].r, 0)->unterminated_line, 302);
			CHECK(same_files(res[0].r, res[i].r));
			CHECK(same_pairs(res[0].r, res[i].r));
		}
		for (size_t i = 0; i < 5; i++)
			done(&res[i]);
	}
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_replay_read_XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	write_dump("big.csv", 3000, "\n", false, false, true);
	write_dump("crlf.csv", 2000, "\r\n", true, false, false);
	write_dump("small.csv", 40, "\n", true, false, false);
	write_dump("dump.csv.gz", 1500, "\n", true, true, true);
	FILE *f = fopen(path_of("cols.csv"), "wb");
	if (!f)
		return 2;
	fputs("imsi,date,imei\n", f);
	for (unsigned i = 1; i <= 1500; i++)
		fprintf(f, "41001%010u,202601%02u,35209900%06u\n", i % 53, 1 + i % 28, i % 211);
	fclose(f);
	test_same_for_any_readers();
	test_many_pairs();
	test_seeded_store();
	test_stop_midway();
	test_progress();
	test_unterminated_across_cut();
	/* a gzip file cut short, and a large file whose header lacks a required column */
	write_dump("whole.csv.gz", 1500, "\n", true, true, false);
	FILE *in = fopen(path_of("whole.csv.gz"), "rb"), *out = fopen(path_of("cut.csv.gz"), "wb");
	if (!in || !out)
		return 2;
	char buf[4096];
	size_t got = fread(buf, 1, sizeof buf, in);
	fwrite(buf, 1, got / 2, out);
	fclose(in);
	fclose(out);
	f = fopen(path_of("header.csv"), "wb");
	if (!f)
		return 2;
	fputs("date,device,imsi\n", f);
	for (unsigned i = 1; i <= 500; i++)
		fprintf(f, "202601%02u,35209900%06u,41001%010u\n", 1 + i % 28, i % 211, i % 53);
	fclose(f);
	test_errors();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_DONE("replay_read");
}
