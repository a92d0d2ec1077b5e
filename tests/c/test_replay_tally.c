/*
 * test_replay_tally.c — the counts after the verdicts (host/replay_tally.c) are counted in
 * parts of whole devices on the evaluation's threads: a replay large enough to be split
 * (over 2 x 65,536 pairs, devices of 1 to 3 pairs so that the cut falls inside devices)
 * gives with 2 threads (two parts) exactly the counts, per-pair list flags and per-TAC counts
 * it gives with 1, and those counts are the ones the generator knows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"
#include "replay_run.h"
#include "tacdb_fixture.h"
#include "scratch_files.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"
#define DEVICES 70000

/* RBI 86 blocked; a device seen with 3 SIMs in grace (a notification); the rest allowed. */
static const char *policy =
	"local P = policy.new { name = 'tally', version = '1' }\n"
	"P:condition { name = 'rbi86', status = 'BLACKLISTED', when = function(d) return d.rbi == '86' end }\n"
	"P:condition(policy.duplicate_threshold { name = 'dup', imsis = 3, days = 30, grace_days = 10 })\n"
	"return P\n";

static const char *const tacs[] = { "35209900", "49015420", "86000000", "35999999" }; /* the last: unknown */

/* Device k: TAC tacs[k % 4], 1 + k % 3 SIMs; every fifth device's first SIM also on Beta. */
static void write_dumps(size_t *pairs, size_t *beta_pairs)
{
	FILE *a = fopen(path_of("alpha.csv"), "w"), *b = fopen(path_of("beta.csv"), "w");
	if (!a || !b) {
		perror("dump");
		exit(2);
	}
	fputs("date,imei,imsi,msisdn\n", a);
	fputs("date,imei,imsi,msisdn\n", b);
	*pairs = *beta_pairs = 0;
	for (unsigned k = 0; k < DEVICES; k++) {
		for (unsigned s = 0; s <= k % 3; s++) {
			fprintf(a, "202601%02u,%s%06u,4100100%08u,92300%07u\n", 10 + s, tacs[k % 4], k, k * 3 + s, k * 3 + s);
			++*pairs;
		}
		if (k % 5 == 0) {
			fprintf(b, "20260120,%s%06u,4100100%08u,92300%07u\n", tacs[k % 4], k, k * 3, k * 3);
			++*beta_pairs;
		}
	}
	if (fclose(a) != 0 || fclose(b) != 0) {
		perror("dump");
		exit(2);
	}
}


struct counts {
	struct imei_replay_totals t;
	struct imei_replay_condition_stats cond[2];
	struct imei_replay_operator_stats ops[2];
	uint8_t *flags; /* per pair */
	uint32_t *tac[3];
	size_t ntacs, npairs;
};

static void run(struct imei_tacdb *db, unsigned threads, struct counts *c)
{
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	CHECK(st != NULL);
	char err[1024];
	struct imei_replay *r = replay_new_of(st, db, true);
	CHECK_INT(imei_replay_add_file(r, path_of("alpha.csv"), "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), 0);
	CHECK_INT(imei_replay_add_file(r, path_of("beta.csv"), "Beta", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err,
	                               sizeof err), 1);
	int rc;
	while ((rc = imei_replay_ingest(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	struct imei_replay_condition conds[] = { { "rbi86", IMEI_STATUS_BLACKLISTED }, { "dup", IMEI_STATUS_BLACKLISTED } };
	struct imei_replay_eval_config ec = { 0 };
	ec.engine.policy = path_of("policy.lua");
	ec.engine.lua_path = LUA_PATH;
	ec.engine.store = st;
	ec.engine.tacdb = db;
	ec.threads = threads;
	ec.conditions = conds;
	ec.nconditions = 2;
	CHECK_INT(imei_replay_eval_start(r, &ec, err, sizeof err), 0);
	while ((rc = imei_replay_eval_wait(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	if (rc != IMEI_REPLAY_DONE)
		fprintf(stderr, "eval_wait: %s\n", err);
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	memset(c, 0, sizeof *c);
	c->t = *imei_replay_totals(r);
	CHECK_INT(c->t.threads, threads);
	for (size_t i = 0; i < 2; i++) {
		c->cond[i] = *imei_replay_condition(r, i);
		c->ops[i] = *imei_replay_operator(r, i);
	}
	c->npairs = imei_replay_npairs(r);
	c->flags = malloc(c->npairs ? c->npairs : 1);
	CHECK(c->flags != NULL);
	if (!c->flags)
		exit(2);
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	for (size_t i = 0; i < c->npairs; i++)
		c->flags[i] = (uint8_t)p[i].flags;
	const uint32_t *tac[3];
	imei_replay_tac_counts(r, &tac[0], &tac[1], &tac[2], &c->ntacs);
	for (int k = 0; k < 3; k++) {
		c->tac[k] = calloc(c->ntacs + 1, sizeof(uint32_t));
		CHECK(c->tac[k] != NULL && tac[k] != NULL);
		if (!c->tac[k] || !tac[k])
			exit(2);
		memcpy(c->tac[k], tac[k], c->ntacs * sizeof(uint32_t));
	}
	imei_replay_free(r);
	imei_store_release(st);
}

static void same(const struct counts *a, const struct counts *b)
{
	const struct imei_replay_totals *x = &a->t, *y = &b->t;
	CHECK_INT(y->devices, x->devices);
	CHECK_INT(y->devices_notified, x->devices_notified);
	CHECK_INT(y->failures, x->failures);
	CHECK_INT(y->unknown_tac, x->unknown_tac);
	for (int s = 0; s < 4; s++) {
		CHECK_INT(y->devices_by_status[s], x->devices_by_status[s]);
		CHECK_INT(y->pairs_by_status[s], x->pairs_by_status[s]);
	}
	CHECK(memcmp(x->devices_by_kind, y->devices_by_kind, sizeof x->devices_by_kind) == 0);
	CHECK(memcmp(a->cond, b->cond, sizeof a->cond) == 0);
	for (int o = 0; o < 2; o++) {
		CHECK_INT(b->ops[o].devices, a->ops[o].devices);
		CHECK_INT(b->ops[o].pairs, a->ops[o].pairs);
		CHECK(memcmp(a->ops[o].devices_by_status, b->ops[o].devices_by_status, sizeof a->ops[o].devices_by_status) ==
		      0);
	}
	CHECK_INT(b->npairs, a->npairs);
	CHECK(b->npairs == a->npairs && memcmp(a->flags, b->flags, a->npairs) == 0);
	CHECK_INT(b->ntacs, a->ntacs);
	for (int k = 0; k < 3; k++)
		CHECK(b->ntacs == a->ntacs && memcmp(a->tac[k], b->tac[k], a->ntacs * sizeof(uint32_t)) == 0);
}

static void counts_free(struct counts *c)
{
	free(c->flags);
	for (int k = 0; k < 3; k++)
		free(c->tac[k]);
}

int main(void)
{
	scratch_make("test_replay_tally");
	put("policy.lua", policy);
	size_t pairs, beta;
	write_dumps(&pairs, &beta);
	struct imei_tacdb *db = tacdb_fixture(tacs, 3, NULL);
	struct counts one, two;
	run(db, 1, &one);
	run(db, 2, &two);
	/* what the generator wrote */
	CHECK(pairs > 2 * 65536); /* large enough to be counted in parts */
	CHECK_INT(one.npairs, pairs);
	CHECK_INT(one.t.devices, DEVICES);
	CHECK_INT(one.ops[0].devices, DEVICES);
	CHECK_INT(one.ops[0].pairs, pairs);
	CHECK_INT(one.ops[1].devices, beta);
	CHECK_INT(one.ops[1].pairs, beta);
	CHECK_INT(one.t.unknown_tac, DEVICES / 4);                            /* TAC 35999999 */
	CHECK_INT(one.t.devices_by_status[IMEI_STATUS_BLACKLISTED], DEVICES / 4); /* TAC 86000000 */
	CHECK_INT(one.cond[0].devices_blocked, DEVICES / 4);
	/* 3 SIMs (k % 3 == 2) and not blocked: notified */
	size_t dup = 0;
	for (unsigned k = 0; k < DEVICES; k++)
		dup += k % 3 == 2 && k % 4 != 2;
	CHECK_INT(one.t.devices_notified, dup);
	CHECK(one.t.devices_notified > 0);
	size_t blocked_flags = 0;
	for (size_t i = 0; i < one.npairs; i++)
		blocked_flags += (one.flags[i] & IMEI_REPLAY_DEV_BLOCKED) != 0;
	CHECK_INT(blocked_flags, DEVICES / 4);
	/* the same with the pairs counted in 2 parts */
	same(&one, &two);
	counts_free(&one);
	counts_free(&two);
	imei_tacdb_unref(db);
	scratch_remove();
	return CHECK_DONE("replay_tally");
}
