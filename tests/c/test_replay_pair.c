/*
 * test_replay_pair.c — the replay's 48-byte pair record (imei_replay.h): its 16-bit days
 * hold the first and last days a row may carry (2000-01-01, 2099-12-31) and a row dated
 * outside them is refused, never wrapped; its verdict's outcome, kept out of line in the
 * run's table (host/replay_outcomes.c), comes back whole for the highest condition
 * index (63) and the grace bits and block date, the same with 1 and 2 threads, and for
 * the compared policy's (OLD) verdicts; equal outcomes share one entry, and the table
 * gives each of many distinct outcomes interned by two threads at once one index; a run
 * whose outcomes find no room fails instead of publishing verdicts without them.
 * While the dumps are read a pair keeps its latest MSISDN as a reference to the triple
 * holding it and its operators as a set of its part's table (replay_state.h, struct
 * pin): both come back as the numbers, for a latest MSISDN in the pair's first triple,
 * in another one, back in the first, none, and for a text identity (no triples), with
 * each pair's own operators, the same with the rows folded by one thread and by two.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "replay_run.h"
#include "replay_state.h"
#include "scratch_files.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"
#define NCOND IMEI_REPLAY_MAX_CONDITIONS

/* 64 conditions: c00..c61 never match; c62 blocks after 10 days' notice the pairs whose
 * IMSI ends in 2, c63 blocks those whose IMSI ends in 1. */
static const char *policy =
	"local P = policy.new { name = 'wide', version = '1' }\n"
	"for i = 0, 61 do\n"
	"  P:condition { name = string.format('c%02d', i), status = 'BLACKLISTED', when = function() return false end }\n"
	"end\n"
	"P:condition { name = 'c62', status = 'BLACKLISTED', grace_days = 10,\n"
	"  when = function(_, r) return r.imsi:sub(-1) == '2' end }\n"
	"P:condition { name = 'c63', status = 'BLACKLISTED', when = function(_, r) return r.imsi:sub(-1) == '1' end }\n"
	"return P\n";

static const char *dump =
	"date,imei,imsi,msisdn\n"
	"20260101,352099001761481,410010000000001,\n"
	"20260102,352099001761481,410010000000002,\n"
	"20260103,352099001761481,410010000000003,\n"
	"20260103,490154203237518,410010000000011,\n"
	"20260103,490154203237518,410010000000022,\n";

/* One pair's rows at the edges of the days a run keeps, and past them. */
static const char *dump_edges =
	"date,imei,imsi,msisdn\n"
	"21500101,352099001761481,410010000000001,\n"
	"19691231,352099001761481,410010000000001,\n"
	"20991231,352099001761481,410010000000001,\n"
	"20000101,352099001761481,410010000000001,\n"
	"21491231,352099001761481,410010000000001,\n";

/* Four operators' dumps (files in this order: operator i is index i) of two devices and
 * an MEID; the comments say what each pair's latest row is. */
static const char *dump_ops[4] = {
	"date,imei,imsi,msisdn\n"
	"20260101,352099001761481,410010000000001,923000000001\n"
	"20260102,352099001761481,410010000000002,923000000021\n"
	"20260101,490154203237518,410010000000022,923000000221\n"
	"20260101,490154203237518,410010000000033,\n"
	"20260101,A0000000002329,410010000000044,923000000441\n",
	"date,imei,imsi,msisdn\n"
	"20260105,352099001761481,410010000000001,923000000002\n"
	"20260103,490154203237518,410010000000011,923000000111\n"
	"20260102,490154203237518,410010000000022,923000000222\n"
	"20260101,A0000000002329,410010000000044,923000000443\n",
	"date,imei,imsi,msisdn\n"
	"20260103,352099001761481,410010000000001,923000000003\n"
	"20260104,352099001761481,410010000000002,923000000022\n"
	"20260103,490154203237518,410010000000022,923000000221\n",
	"date,imei,imsi,msisdn\n"
	"20260105,352099001761481,410010000000001,\n"
	"20260101,490154203237518,410010000000011,923000000112\n"
	"20260102,A0000000002329,410010000000044,923000000442\n",
};

static const char *op_names[4] = { "Alpha", "Beta", "Gamma", "Delta" };

struct want {
	const char *msisdn; /* "": none */
	uint64_t ops;
	const char *first, *last;
	uint32_t rows;
	unsigned op;
};

static const struct want want_refs[6] = {
	/* 1: its latest MSISDN in its second triple (Beta's; Delta's later row has none) */
	{ "923000000002", 0xF, "20260101", "20260105", 4, 3 },
	/* 2: in its second triple (Gamma's) */
	{ "923000000022", 0x5, "20260102", "20260104", 2, 2 },
	/* 11: in its first (Beta's), a later triple's row earlier */
	{ "923000000111", 0xA, "20260101", "20260103", 2, 1 },
	/* 22: its first triple again, after the second's row */
	{ "923000000221", 0x7, "20260101", "20260103", 3, 2 },
	/* 33: none */
	{ "", 0x1, "20260101", "20260101", 1, 0 },
	/* the MEID (no triples: the number kept in the pin) */
	{ "923000000442", 0xB, "20260101", "20260102", 3, 3 },
};

static void check_refs(bool thread)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	struct imei_replay_config cfg = { 0 };
	char err[1024];
	cfg.store = st;
	imei_dump_layout_default(&cfg.layout);
	cfg.run_day = IMEI_REPLAY_NO_DAY;
	cfg.reader_thread = thread;
	cfg.readers = thread ? 2 : 0;
	struct imei_replay *r = imei_replay_new(&cfg, err, sizeof err);
	CHECK(r != NULL);
	if (!r) {
		imei_store_release(st);
		return;
	}
	for (int f = 0; f < 4; f++) {
		char name[32];
		snprintf(name, sizeof name, "ops%d.csv", f);
		CHECK_INT(imei_replay_add_file(r, path_of(name), op_names[f], IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
		                               sizeof err), f);
	}
	int rc;
	while ((rc = imei_replay_ingest(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	CHECK_INT(imei_replay_npairs(r), 6);
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	for (size_t i = 0; i < 6 && i < imei_replay_npairs(r); i++) {
		const struct want *w = &want_refs[i];
		uint64_t msisdn = 0;
		if (*w->msisdn)
			CHECK_INT(imei_sight_msisdn(w->msisdn, strlen(w->msisdn), &msisdn, &se), 0);
		int32_t first, last;
		imei_dump_date(w->first, 8, &first);
		imei_dump_date(w->last, 8, &last);
		CHECK(p[i].msisdn == msisdn);
		CHECK(p[i].ops == w->ops);
		CHECK_INT(p[i].first, first);
		CHECK_INT(p[i].last, last);
		CHECK_INT(p[i].rows, w->rows);
		CHECK_INT(p[i].op, w->op);
	}
	CHECK(p[5].ident >= IMEI_REPLAY_TEXT_BASE);
	/* the triples' aggregates are all in the store: pair 1's three numbers and none */
	uint64_t key = p[0].ident, imsi = p[0].imsi;
	const char *nums[3] = { "923000000001", "923000000002", "923000000003" };
	for (int t = 0; t < 3; t++) {
		uint64_t m;
		struct imei_sighting_agg a;
		CHECK_INT(imei_sight_msisdn(nums[t], strlen(nums[t]), &m, &se), 0);
		CHECK_INT(imei_store_get_agg(st, key, imsi, m, &a, &se), 1);
		CHECK_INT(a.ndays, 1);
	}
	imei_replay_free(r);
	imei_store_release(st);
}

static void test_refs(void)
{
	check_refs(false);
	check_refs(true);
}

static void test_days(void)
{
	CHECK_INT(sizeof(struct imei_replay_pair), 48);
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	struct imei_replay *r = replay_read(st, path_of("edges.csv"));
	const struct imei_replay_totals *t = imei_replay_totals(r);
	CHECK_INT(t->accepted, 2);
	CHECK_INT(t->by_reason[IMEI_DUMP_R_DATE_RANGE], 3); /* 2150, 1969 and 2149: none wraps */
	const struct imei_replay_example *ex;
	CHECK_INT(imei_replay_examples(r, IMEI_DUMP_R_DATE_RANGE, &ex), 3);
	CHECK(strstr(ex[0].msg, "21500101") != NULL);
	CHECK_INT(imei_replay_npairs(r), 1);
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	int32_t first, last;
	imei_dump_date("20000101", 8, &first);
	imei_dump_date("20991231", 8, &last);
	CHECK_INT(p[0].first, first);
	CHECK_INT(p[0].last, last);
	CHECK_INT(p[0].rows, 2);
	CHECK_INT(t->first_day, first);
	CHECK_INT(t->last_day, last);
	imei_replay_free(r);
	imei_store_release(st);
}

static bool eq(const struct imei_replay_outcome *a, const struct imei_replay_outcome *b)
{
	return a->matched == b->matched && a->blocked == b->blocked && a->grace == b->grace &&
	       a->block_day == b->block_day;
}

struct seen {
	uint8_t status[5];
	struct imei_replay_outcome o[5];
	uint32_t index[5];
};

static void evaluate(unsigned threads, bool compare, struct seen *s)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	struct imei_replay *r = replay_read(st, path_of("a.csv"));
	static char names[NCOND][16];
	struct imei_replay_condition conds[NCOND];
	for (unsigned i = 0; i < NCOND; i++) {
		snprintf(names[i], sizeof names[i], "c%02u", i);
		conds[i] = (struct imei_replay_condition){ names[i], IMEI_STATUS_BLACKLISTED };
	}
	struct imei_replay_eval_config ec = {
		.engine = { .policy = path_of("policy.lua"), .lua_path = LUA_PATH, .store = st },
		.threads = threads, .conditions = conds, .nconditions = NCOND,
	};
	if (compare) { /* OLD: the same policy, so its verdicts are NEW's */
		ec.compare = &ec.engine;
		ec.compare_conditions = conds;
		ec.ncompare_conditions = NCOND;
	}
	CHECK_INT(replay_decide(r, &ec), IMEI_REPLAY_DONE);
	CHECK_INT(imei_replay_npairs(r), 5);
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	for (int i = 0; i < 5; i++) {
		s->status[i] = p[i].status;
		s->o[i] = *imei_replay_pair_outcome(r, &p[i]);
		s->index[i] = p[i].outcome;
	}
	CHECK_INT(imei_replay_condition(r, 63)->pairs, 2);
	CHECK_INT(imei_replay_condition(r, 63)->devices_blocked, 2);
	CHECK_INT(imei_replay_condition(r, 62)->devices_grace, 2);
	struct imei_replay_block b;
	CHECK_INT(imei_replay_next_blocked(r, 0, &b), 0);
	CHECK(b.reasons == 1ULL << 63);
	CHECK_INT(b.end, 3);
	if (compare) {
		const struct imei_replay_compare *x = imei_replay_compare_result(r);
		CHECK(x != NULL);
		if (x) {
			CHECK_INT(x->changed, 0);
			CHECK_INT(x->pairs_changed, 0);
			CHECK_INT(x->nconditions, NCOND);
			CHECK_INT(x->conditions[63].old.pairs, 2);
			CHECK_INT(x->conditions[63].old.devices_blocked, 2);
			CHECK_INT(x->conditions[62].old.pairs, 2);
		}
	}
	imei_replay_free(r);
	imei_store_release(st);
}

static void test_outcomes(void)
{
	struct seen s1, s2, sc;
	memset(&s1, 0, sizeof s1);
	memset(&s2, 0, sizeof s2);
	memset(&sc, 0, sizeof sc);
	evaluate(1, false, &s1);
	evaluate(2, false, &s2);
	evaluate(2, true, &sc);
	int32_t day1, day3; /* the devices' first days: the notice runs from them */
	imei_dump_date("20260101", 8, &day1);
	imei_dump_date("20260103", 8, &day3);
	/* pairs: 3520…/…001 (c63), …/…002 (c62, in grace), …/…003, 4901…/…011 (c63), …/…022 (c62) */
	for (int i = 0; i < 5; i++) {
		CHECK(eq(&s1.o[i], &s2.o[i]) && eq(&s1.o[i], &sc.o[i]));
		CHECK_INT(s1.status[i], s2.status[i]);
	}
	CHECK_INT(s1.status[0], IMEI_STATUS_BLACKLISTED);
	CHECK(s1.o[0].matched == 1ULL << 63 && s1.o[0].blocked == 1ULL << 63 && s1.o[0].grace == 0);
	CHECK_INT(s1.status[1], IMEI_STATUS_GREYLISTED);
	CHECK(s1.o[1].matched == 1ULL << 62 && s1.o[1].blocked == 0 && s1.o[1].grace == 1ULL << 62);
	CHECK_INT(s1.o[1].block_day, day1 + 10);
	CHECK_INT(s1.o[4].block_day, day3 + 10);
	CHECK_INT(s1.status[2], IMEI_STATUS_WHITELISTED);
	CHECK(s1.o[2].matched == 0 && s1.o[2].blocked == 0 && s1.o[2].grace == 0);
	CHECK_INT(s1.o[2].block_day, IMEI_REPLAY_NO_DAY);
	CHECK_INT(s1.index[2], 0); /* nothing matched: no entry */
	/* the same outcome, one entry (…001 and …011); another block date, another (…002, …022) */
	CHECK(s1.index[0] != 0 && s1.index[0] == s1.index[3] && s2.index[0] == s2.index[3]);
	CHECK(s1.index[1] != 0 && s1.index[4] != 0 && s1.index[1] != s1.index[4] && s1.index[1] != s1.index[0]);
	CHECK(s1.o[4].matched == 1ULL << 62 && s1.o[4].grace == 1ULL << 62);
}

/* A run whose outcomes find no room in its table fails: nothing is published without
 * its conditions (the table holds one outcome here; the pairs have two, and nothing). */
static void test_no_room(void)
{
	struct imei_store_error se;
	for (unsigned threads = 1; threads <= 2; threads++) {
		struct imei_store *st = imei_store_open("memory", NULL, &se); /* a store per replay */
		struct imei_replay *r = replay_read(st, path_of("a.csv"));
		r->outcomes.max = 1;
		struct imei_replay_condition conds[] = { { "c62", IMEI_STATUS_BLACKLISTED } };
		struct imei_replay_eval_config ec = {
			.engine = { .policy = path_of("policy.lua"), .lua_path = LUA_PATH, .store = st },
			.threads = threads, .conditions = conds, .nconditions = 1,
		};
		char err[300];
		CHECK_INT(imei_replay_eval_start(r, &ec, err, sizeof err), 0);
		int rc;
		while ((rc = imei_replay_eval_wait(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
			;
		CHECK_INT(rc, IMEI_REPLAY_ERROR);
		CHECK(strstr(err, "no room for the verdicts' outcomes") != NULL);
		CHECK_INT(imei_replay_eval_wait(r, 50, err, sizeof err), IMEI_REPLAY_ERROR); /* final */
		imei_replay_free(r);
		imei_store_release(st);
	}
}

/* A run whose outcomes find no room stops handing out pairs: what the threads have in
 * hand is finished, the rest is not decided in vain (every pair here has an outcome, so
 * the first one decided fails the run; a thread may take one more chunk as it happens). */
static void test_no_room_stops(void)
{
	enum { CHUNKS = 16 };
	FILE *f = fopen(path_of("many.csv"), "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs("date,imei,imsi,msisdn\n", f);
	for (int i = 0; i < CHUNKS * EVAL_CHUNK; i++) /* one device, IMSIs ending in 1: c63 */
		fprintf(f, "20260103,352099001761481,4100100%07d1,\n", i);
	fclose(f);
	struct imei_store_error se;
	for (unsigned threads = 1; threads <= 2; threads++) {
		struct imei_store *st = imei_store_open("memory", NULL, &se);
		struct imei_replay *r = replay_read(st, path_of("many.csv"));
		CHECK_INT(imei_replay_npairs(r), CHUNKS * EVAL_CHUNK);
		r->outcomes.max = 0;
		struct imei_replay_eval_config ec = {
			.engine = { .policy = path_of("policy.lua"), .lua_path = LUA_PATH, .store = st },
			.threads = threads,
		};
		CHECK_INT(replay_decide(r, &ec), IMEI_REPLAY_ERROR);
		struct imei_replay_progress p;
		imei_replay_progress(r, &p);
		if (threads == 1)
			CHECK_INT(p.pairs_done, EVAL_CHUNK);
		else
			CHECK(p.pairs_done >= EVAL_CHUNK && p.pairs_done <= 3 * EVAL_CHUNK);
		imei_replay_free(r);
		imei_store_release(st);
	}
}

/* The table alone: two threads intern the same many outcomes, each in its own order. */
#define MANY 5000
static struct replay_outcomes table;
static uint32_t got[2][MANY];
static size_t cache_misses[2]; /* the cache's answer differed (counted: CHECK is not for threads) */

static struct imei_replay_outcome nth(size_t i)
{
	return (struct imei_replay_outcome){ 1ULL << (i % 64), i, (uint64_t)i << 32, (int32_t)(i % 7) - 3 };
}

static void *intern_all(void *arg)
{
	size_t t = (size_t)arg;
	struct replay_outcome_cache cache = { .index = 0 };
	for (size_t k = 0; k < MANY; k++) {
		size_t i = t ? MANY - 1 - k : k;
		struct imei_replay_outcome o = nth(i);
		got[t][i] = imei_replay_outcomes_intern(&table, &cache, &o);
		if (k % 3 == 0) /* again at once: the thread's cache answers */
			cache_misses[t] += imei_replay_outcomes_intern(&table, &cache, &o) != got[t][i];
	}
	return NULL;
}

static void test_table(void)
{
	imei_replay_outcomes_init(&table);
	struct imei_replay_outcome nothing = { 0, 0, 0, IMEI_REPLAY_NO_DAY };
	CHECK_INT(imei_replay_outcomes_intern(&table, NULL, &nothing), 0);
	pthread_t th[2];
	for (size_t t = 0; t < 2; t++)
		CHECK_INT(pthread_create(&th[t], NULL, intern_all, (void *)t), 0);
	for (size_t t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	size_t bad = 0;
	for (size_t i = 0; i < MANY; i++) {
		struct imei_replay_outcome o = nth(i);
		bad += got[0][i] != got[1][i] || got[0][i] == 0 || got[0][i] > MANY ||
		       !eq(imei_replay_outcome_at(&table, got[0][i]), &o);
	}
	CHECK_INT(bad, 0);
	CHECK_INT(cache_misses[0] + cache_misses[1], 0);
	CHECK_INT(table.n, MANY);
	CHECK(imei_replay_outcome_at(&table, 0)->block_day == IMEI_REPLAY_NO_DAY);
	imei_replay_outcomes_free(&table);
}

int main(void)
{
	scratch_make("test_replay_pair");
	put("a.csv", dump);
	put("edges.csv", dump_edges);
	put("policy.lua", policy);
	for (int f = 0; f < 4; f++) {
		char name[32];
		snprintf(name, sizeof name, "ops%d.csv", f);
		put(name, dump_ops[f]);
	}
	test_refs();
	test_days();
	test_outcomes();
	test_no_room();
	test_no_room_stops();
	test_table();
	scratch_remove();
	return CHECK_DONE("replay_pair");
}
