/*
 * test_replay_pair.c — the replay's 48-byte pair record (imei_replay.h): its 16-bit days
 * hold the first and last days a row may carry (2000-01-01, 2099-12-31) and a row dated
 * outside them is refused, never wrapped; its verdict's outcome, kept out of line in the
 * run's table (host/replay_outcomes.c), comes back whole for the highest condition
 * index (63) and the grace bits and block date, the same with 1 and 2 threads, and for
 * the compared policy's (OLD) verdicts; equal outcomes share one entry, and the table
 * gives each of many distinct outcomes interned by two threads at once one index; a run
 * whose outcomes find no room fails instead of publishing verdicts without them.
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
	test_days();
	test_outcomes();
	test_no_room();
	test_table();
	scratch_remove();
	return CHECK_DONE("replay_pair");
}
