/*
 * test_replay.c — batch replay through its C API (imei_replay.h): ingest of two dumps into a
 * memory store (rows, refusals and their examples, the pair table in order, text
 * identities), evaluation with 1, 2 and 4 threads giving the same verdicts, the
 * counts by condition and operator, lookups, and the stop flag; a policy that does not
 * load refused by eval_start, with 1 or 3 threads making engines; a private (memory)
 * store given each triple's aggregate at the end holds what a store given every row does.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "scratch_files.h"
#include "store_aggs.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"

/* A policy: junk IMEIs blocked, a device seen with 3 or more SIMs in grace for 10 days
 * (the first SIM exempt), anything not an IMEI unknown. */
static const char *policy =
	"local P = policy.new { name = 'replay', version = '1' }\n"
	"P:condition { name = 'not_an_imei', status = 'UNKNOWN', when = function(d) return not d.imei_kind end }\n"
	"P:condition { name = 'junk', status = 'BLACKLISTED', when = function(d) return d.junk ~= nil end }\n"
	"P:condition(policy.duplicate_threshold { name = 'dup', imsis = 3, days = 30, grace_days = 10 })\n"
	"return P\n";

static const char *dump_a =
	"date,imei,imsi,msisdn\n"
	"20260101,000000000000000,410010000000001,923000000001\n"
	"20260102,000000000000000,410010000000001,923000000001\n"
	"20260120,352099001761481,410010000000011,923000000011\n"
	"20260125,352099001761481,410010000000012,923000000012\n"
	"20260131,352099001761481,410010000000013,923000000013\n"
	"20260131,352099001761481,41001000000001x,923000000013\n"
	"\n"
	"20260131,A0000000002329,410010000000021,\n";

static const char *dump_b =
	"20260130,352099001761481,410010000000013,923000000099\n" /* the same pair, another operator */
	"20260130,490154203237518,410010000000031,923000000031,EUTRAN,extra\n";

static struct imei_replay *ingest_into(struct imei_store *st, bool thread, const _Atomic int *stop, bool freeze)
{
	struct imei_replay_config cfg = { 0 };
	char err[600];
	cfg.store = st;
	cfg.freeze_store = freeze;
	imei_dump_layout_default(&cfg.layout);
	cfg.run_day = IMEI_REPLAY_NO_DAY;
	cfg.reader_thread = thread;
	cfg.stop = stop;
	struct imei_replay *r = imei_replay_new(&cfg, err, sizeof err);
	if (!r) {
		fprintf(stderr, "imei_replay_new: %s\n", err);
		exit(1);
	}
	int32_t first, last;
	imei_dump_date("20260101", 8, &first);
	imei_dump_date("20260131", 8, &last);
	CHECK_INT(imei_replay_add_file(r, path_of("a.csv"), "Alpha", first, last, err, sizeof err), 0);
	CHECK_INT(imei_replay_add_file(r, path_of("b.csv"), "410-01", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), 1);
	CHECK_INT(imei_replay_add_file(r, path_of("b.csv"), "bad name!", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), -1);
	CHECK(strstr(err, "operator name 'bad name!'") != NULL);
	int rc;
	while ((rc = imei_replay_ingest(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, stop && *stop ? IMEI_REPLAY_STOPPED : IMEI_REPLAY_DONE);
	return r;
}

static struct imei_replay *ingest(struct imei_store *st, bool thread, const _Atomic int *stop)
{
	return ingest_into(st, thread, stop, false);
}

static void test_ingest(bool thread)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	struct imei_replay *r = ingest(st, thread, NULL);
	const struct imei_replay_totals *t = imei_replay_totals(r);
	CHECK_INT(t->rows, 9);
	CHECK_INT(t->accepted, 7);
	CHECK_INT(t->rejected, 2);
	CHECK_INT(t->blank, 1);
	CHECK_INT(t->headers, 1);
	CHECK_INT(t->sightings, 6); /* not the MEID */
	CHECK_INT(t->by_reason[IMEI_DUMP_R_IMSI], 1);
	CHECK_INT(t->by_reason[IMEI_DUMP_R_FIELDS], 1);
	CHECK_INT(t->run_day, 20484);
	const struct imei_replay_example *ex;
	CHECK_INT(imei_replay_examples(r, IMEI_DUMP_R_IMSI, &ex), 1);
	CHECK_INT(ex[0].line, 7);
	CHECK_INT(ex[0].field, 3);
	CHECK_INT(ex[0].file, 0);
	CHECK_INT(imei_replay_examples(r, IMEI_DUMP_R_FIELDS, &ex), 1);
	CHECK_INT(ex[0].line, 2);
	CHECK_INT(ex[0].file, 1);
	CHECK(strstr(ex[0].msg, "6 fields") != NULL);
	/* pairs in (device, IMSI) order; the MEID after the keys */
	CHECK_INT(imei_replay_npairs(r), 5);
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	CHECK(p[0].ident == 0 && (p[0].flags & IMEI_REPLAY_DEVICE));
	CHECK_INT(p[0].rows, 2);
	CHECK(p[1].ident == 35209900176148ULL && p[3].ident == 35209900176148ULL);
	CHECK(p[1].imsi < p[2].imsi && p[2].imsi < p[3].imsi);
	CHECK(!(p[2].flags & IMEI_REPLAY_DEVICE));
	CHECK(p[3].ops == 3); /* seen by both operators */
	CHECK(p[3].msisdn == 1000000000000ULL + 923000000013ULL); /* the latest row's */
	CHECK_INT(p[3].first, 20483);
	CHECK(p[4].ident >= IMEI_REPLAY_TEXT_BASE);
	char text[64];
	imei_replay_ident_str(r, p[4].ident, text);
	CHECK_STR(text, "A0000000002329");
	CHECK_INT(imei_replay_text_kind(r, p[4].ident), IMEI_KIND_MEID);
	uint64_t ident;
	CHECK(imei_replay_ident_of(r, "A0000000002329", 14, &ident) && ident == p[4].ident);
	CHECK(imei_replay_ident_of(r, "352099001761481", 15, &ident) && ident == 35209900176148ULL);
	CHECK(!imei_replay_ident_of(r, "nothing", 7, &ident));
	CHECK_INT(imei_replay_find(r, 35209900176148ULL, 0), 1);
	CHECK_INT(imei_replay_find(r, 35209900176148ULL, p[2].imsi), 2);
	CHECK_INT(imei_replay_find(r, 35209900176148ULL, 1), -1);
	/* the store has every IMEI row */
	size_t n;
	CHECK_INT(imei_store_distinct(st, 35209900176148ULL, IMEI_FIELD_IMSI, 30, 20484LL * 86400, &n, NULL, NULL, &se), 0);
	CHECK_INT(n, 3);
	char net[8];
	imei_replay_home_network(p[1].imsi, net);
	CHECK_STR(net, "410-01");
	imei_replay_home_network(1000000000000000ULL + 310150123456789ULL, net);
	CHECK_STR(net, "310-150");
	imei_replay_free(r);
	imei_store_release(st);
}

/* A replay's ingest into a frozen store: an error that says so, not a silent loss. */
static void again_frozen(struct imei_store *st)
{
	struct imei_replay_config cfg = { 0 };
	char err[600] = "";
	cfg.store = st;
	imei_dump_layout_default(&cfg.layout);
	cfg.run_day = IMEI_REPLAY_NO_DAY;
	struct imei_replay *r = imei_replay_new(&cfg, err, sizeof err);
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_INT(imei_replay_add_file(r, path_of("a.csv"), "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), 0);
	int rc;
	while ((rc = imei_replay_ingest(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_ERROR);
	CHECK(strstr(err, "frozen") != NULL);
	imei_replay_free(r);
}

static void evaluate(unsigned threads, uint8_t status[5], uint64_t grace[5])
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	/* with 4 threads, a store the caller goes on writing: not frozen */
	bool freeze = threads < 4;
	struct imei_replay *r = ingest_into(st, threads > 1, NULL, freeze);
	struct imei_replay_condition conds[] = {
		{ "not_an_imei", IMEI_STATUS_UNKNOWN }, { "junk", IMEI_STATUS_BLACKLISTED }, { "dup", IMEI_STATUS_BLACKLISTED },
	};
	struct imei_replay_eval_config ec = { 0 };
	ec.engine.policy = path_of("policy.lua");
	ec.engine.lua_path = LUA_PATH;
	ec.engine.store = st;
	ec.threads = threads;
	ec.conditions = conds;
	ec.nconditions = 3;
	char err[1024];
	CHECK_INT(imei_replay_eval_start(r, &ec, err, sizeof err), 0);
	int rc;
	while ((rc = imei_replay_eval_wait(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	for (int i = 0; i < 5; i++) {
		status[i] = p[i].status;
		grace[i] = imei_replay_pair_outcome(r, &p[i])->grace;
	}
	const struct imei_replay_totals *t = imei_replay_totals(r);
	CHECK_INT(t->devices, 3);
	CHECK_INT(t->devices_by_status[IMEI_STATUS_BLACKLISTED], 1);
	CHECK_INT(t->devices_by_status[IMEI_STATUS_GREYLISTED], 1);
	CHECK_INT(t->devices_by_status[IMEI_STATUS_UNKNOWN], 1);
	CHECK_INT(t->devices_by_status[IMEI_STATUS_WHITELISTED], 0);
	CHECK_INT(t->pairs_by_status[IMEI_STATUS_WHITELISTED], 1);
	CHECK_INT(t->failures, 0);
	const struct imei_replay_condition_stats *dup = imei_replay_condition(r, 2);
	CHECK_INT(dup->devices, 1);
	CHECK_INT(dup->devices_grace, 1);
	CHECK_INT(dup->pairs, 2);
	CHECK_STR(imei_replay_condition_name(r, 2), "dup");
	const struct imei_replay_operator_stats *alpha = imei_replay_operator(r, 0), *b = imei_replay_operator(r, 1);
	CHECK_STR(alpha->name, "Alpha");
	CHECK_INT(alpha->devices, 3);
	CHECK_INT(b->devices, 1);
	/* the list rules, decided once per pair: notifications on each operator it was seen on */
	size_t notified[2] = { 0, 0 };
	for (size_t i = 0; i < imei_replay_npairs(r); i++)
		for (size_t o = 0; o < 2; o++)
			if ((p[i].flags & IMEI_REPLAY_NOTIFICATION) && (p[i].ops & (1ULL << o)))
				notified[o]++;
	CHECK_INT(notified[0], 2);
	CHECK_INT(notified[1], 1);
	CHECK_INT(b->rejected, 1);
	CHECK(p[0].flags & IMEI_REPLAY_DEV_BLOCKED);
	CHECK(p[1].flags & IMEI_REPLAY_DEV_NOTIFY);
	imei_replay_free(r);
	/* the evaluation froze the run's own store: it answers, and a second replay into it fails
	 * loudly; a caller's store (freeze_store false) stays writable */
	CHECK(imei_store_frozen(st) == freeze);
	size_t n = 0;
	CHECK_INT(imei_store_distinct(st, 35209900176148ULL, IMEI_FIELD_IMSI, 30, 20484LL * 86400, &n, NULL, NULL, &se),
	          0);
	CHECK_INT(n, 3);
	if (threads == 1)
		again_frozen(st);
	if (!freeze) {
		struct imei_sighting s = { .key = 35209900176148ULL, .imsi = 1000000000000000ULL + 410010000000099ULL,
		                           .time = 20484U * 86400U };
		CHECK_INT(imei_store_record(st, &s, &se), 0);
		CHECK_INT(imei_store_distinct(st, 35209900176148ULL, IMEI_FIELD_IMSI, 30, 20484LL * 86400, &n, NULL, NULL,
		                              &se), 0);
		CHECK_INT(n, 4);
	}
	imei_store_release(st);
}

static void test_threads(void)
{
	uint8_t s1[5], s2[5], s4[5];
	uint64_t g1[5], g2[5], g4[5];
	evaluate(1, s1, g1);
	evaluate(2, s2, g2);
	evaluate(4, s4, g4);
	CHECK(memcmp(s1, s2, 5) == 0 && memcmp(s1, s4, 5) == 0);
	CHECK(memcmp(g1, g2, sizeof g1) == 0 && memcmp(g1, g4, sizeof g1) == 0);
	CHECK_INT(s1[0], IMEI_STATUS_BLACKLISTED);  /* junk */
	CHECK_INT(s1[1], IMEI_STATUS_WHITELISTED);  /* the first SIM of the clone */
	CHECK_INT(s1[2], IMEI_STATUS_GREYLISTED);   /* the others, in grace */
	CHECK_INT(s1[3], IMEI_STATUS_GREYLISTED);
	CHECK_INT(s1[4], IMEI_STATUS_UNKNOWN);      /* the MEID */
	CHECK(g1[2] == 4 && g1[3] == 4);            /* dup (index 2) in grace */
}

/* A memory store is private: the replay keeps each triple's aggregate and puts it at the
 * end, starting from what the store held. An LMDB store gets every row as it is read.
 * Both must hold the same aggregates afterwards, from empty and from earlier sightings
 * (one of them a triple the dumps see again, one older than the day bitmap reaches). */
static void test_private_store(bool thread)
{
	struct imei_store_error se;
	char spec[300];
	snprintf(spec, sizeof spec, "lmdb:%s", path_of(thread ? "store-t" : "store"));
	for (int seeded = 0; seeded < 2; seeded++) {
		struct imei_store *mem = imei_store_open("memory", NULL, &se);
		struct imei_store *lmdb = imei_store_open(spec, NULL, &se);
		if (!mem || !lmdb) {
			CHECK(!"the stores open");
			return;
		}
		CHECK(imei_store_private(mem) && !imei_store_private(lmdb));
		if (seeded) {
			uint64_t imsi13, msisdn13, imsi99;
			imei_sight_imsi("410010000000013", 15, &imsi13, &se);
			imei_sight_msisdn("923000000013", 12, &msisdn13, &se);
			imei_sight_imsi("410010000000099", 15, &imsi99, &se);
			const struct imei_sighting before[] = {
				{ .key = 35209900176148ULL, .imsi = imsi13, .msisdn = msisdn13, .time = 20400u * 86400 },
				{ .key = 35209900176148ULL, .imsi = imsi13, .msisdn = msisdn13, .time = 20300u * 86400 },
				{ .key = 35209900176148ULL, .imsi = imsi99, .time = 20480u * 86400 + 5 },
			};
			for (size_t i = 0; i < sizeof before / sizeof before[0]; i++) {
				CHECK_INT(imei_store_record(mem, &before[i], &se), 0);
				CHECK_INT(imei_store_record(lmdb, &before[i], &se), 0);
			}
			CHECK_INT(imei_store_flush(lmdb, &se), 0);
		}
		struct imei_replay *a = ingest(mem, thread, NULL), *b = ingest(lmdb, thread, NULL);
		CHECK_INT(imei_replay_npairs(a), 5);
		CHECK_INT(imei_replay_npairs(b), 5);
		struct imei_sighting_agg x[16] = { { 0 } }, y[16] = { { 0 } };
		size_t nx = all_aggs(mem, x, 16), ny = all_aggs(lmdb, y, 16);
		CHECK_INT(nx, seeded ? 6 : 5);
		CHECK_INT(ny, nx);
		for (size_t i = 0; i < nx && i < ny; i++)
			CHECK(memcmp(&x[i], &y[i], sizeof x[i]) == 0);
		imei_replay_free(a);
		imei_replay_free(b);
		imei_store_release(mem);
		imei_store_release(lmdb);
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", spec + 5);
		CHECK_INT(system(cmd), 0);
	}
}

static void test_stop(void)
{
	_Atomic int stop = SIGTERM;
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	for (int thread = 0; thread < 2; thread++) {
		struct imei_replay *r = ingest(st, thread, &stop);
		imei_replay_free(r);
	}
	imei_store_release(st);
}

/* A policy that does not load: each thread makes its engine beside the others, and
 * eval_start says why (the file and line), with no pair decided and no thread left; the
 * second call is refused. */
static void test_engines_fail(unsigned threads)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	struct imei_replay *r = ingest_into(st, false, NULL, true);
	struct imei_replay_condition conds[] = { { "junk", IMEI_STATUS_BLACKLISTED } };
	struct imei_replay_eval_config ec = { 0 };
	ec.engine.policy = path_of("broken.lua");
	ec.engine.lua_path = LUA_PATH;
	ec.engine.store = st;
	ec.threads = threads;
	ec.conditions = conds;
	ec.nconditions = 1;
	char err[1024] = "";
	CHECK_INT(imei_replay_eval_start(r, &ec, err, sizeof err), -1);
	CHECK(strstr(err, "broken.lua:3: unexpected symbol") != NULL);
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	for (size_t i = 0; i < imei_replay_npairs(r); i++)
		CHECK(p[i].outcome == 0 && !(p[i].flags & IMEI_REPLAY_NOTIFICATION));
	CHECK_INT(imei_replay_eval_start(r, &ec, err, sizeof err), -1);
	CHECK(strstr(err, "already evaluated") != NULL);
	imei_replay_free(r);
	imei_store_release(st);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_replay_XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	put("a.csv", dump_a);
	put("b.csv", dump_b);
	put("policy.lua", policy);
	put("broken.lua", "local P = policy.new { name = 'broken', version = '1' }\nP:condition { name = \n");
	test_ingest(false);
	test_ingest(true);
	test_threads();
	test_engines_fail(1);
	test_engines_fail(3);
	test_private_store(false);
	test_private_store(true);
	test_stop();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_DONE("replay");
}
