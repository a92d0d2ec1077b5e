/*
 * test_replay_compare.c — what-if and operator policies of a replay (imei_replay.h,
 * replay_compare.c): a policy compared with itself changes nothing; a policy change moves
 * exactly the devices it should, counted by condition, operator and RBI; the results are
 * the same with 1 and 2 threads; an operator policy decides its own network's pairs only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "replay_run.h"
#include "scratch_files.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"

/* NEW: junk IMEIs blocked; RBI 35 devices blocked after 10 days' notice. */
static const char *new_policy =
	"local P = policy.new { name = 'new', version = '2' }\n"
	"P:condition { name = 'junk', status = 'BLACKLISTED', when = function(d) return d.junk ~= nil end }\n"
	"P:condition { name = 'rbi35', status = 'BLACKLISTED', grace_days = 10,\n"
	"  when = function(d) return d.rbi == '35' end }\n"
	"return P\n";

/* OLD: no junk rule; 20 days' notice. */
static const char *old_policy =
	"local P = policy.new { name = 'old', version = '1' }\n"
	"P:condition { name = 'rbi35', status = 'BLACKLISTED', grace_days = 20,\n"
	"  when = function(d) return d.rbi == '35' end }\n"
	"P:condition { name = 'gone', status = 'BLACKLISTED', when = function() return false end }\n"
	"return P\n";

/* An operator's policy: every pair of its network blocked. */
static const char *op_policy =
	"local P = policy.new { name = 'op', version = '1' }\n"
	"P:condition { name = 'op_all', status = 'BLACKLISTED', when = function() return true end }\n"
	"return P\n";

/* four devices: junk (410-01), RBI 35 (410-06), RBI 49 (a roamer, 234-15), RBI 35 (410-01) */
static const char *dump =
	"date,imei,imsi,msisdn\n"
	"20260110,000000000000000,410010000000001,923000000001\n"
	"20260110,352099001761481,410060000000002,923000000002\n"
	"20260111,490154203237518,234150000000003,447000000003\n"
	"20260112,356938035643809,410010000000004,923000000004\n";

static const struct imei_replay_condition new_conds[] = {
	{ "junk", IMEI_STATUS_BLACKLISTED }, { "rbi35", IMEI_STATUS_BLACKLISTED },
};
static const struct imei_replay_condition old_conds[] = {
	{ "rbi35", IMEI_STATUS_BLACKLISTED }, { "gone", IMEI_STATUS_BLACKLISTED },
};

/* The dump read into a replay, and an evaluation of it by new.lua to start. */
static struct imei_replay *ingest(struct imei_store *st, unsigned threads, struct imei_replay_eval_config *ec)
{
	struct imei_replay *r = replay_read(st, path_of("dump.csv"));
	memset(ec, 0, sizeof *ec);
	ec->engine.policy = path_of("new.lua");
	ec->engine.lua_path = LUA_PATH;
	ec->engine.store = st;
	ec->threads = threads;
	ec->conditions = new_conds;
	ec->nconditions = 2;
	return r;
}

/* A replay of the dump, evaluated by new.lua (with old compared, networks when given). */
static struct imei_replay *run(struct imei_store *st, unsigned threads, const char *old,
                               const struct imei_replay_network_policy *nets, size_t nnets)
{
	struct imei_replay_eval_config ec;
	struct imei_replay *r = ingest(st, threads, &ec);
	char err[1024];
	int rc;
	struct imei_engine_config oc = ec.engine;
	if (old) {
		oc.policy = path_of(old);
		ec.compare = &oc;
		ec.compare_conditions = strcmp(old, "old.lua") == 0 ? old_conds : new_conds;
		ec.ncompare_conditions = 2;
	}
	ec.networks = nets;
	ec.nnetworks = nnets;
	rc = imei_replay_eval_start(r, &ec, err, sizeof err);
	if (rc < 0)
		fprintf(stderr, "eval_start: %s\n", err);
	CHECK_INT(rc, 0);
	while ((rc = imei_replay_eval_wait(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	return r;
}

static void test_itself(struct imei_store *st)
{
	struct imei_replay *r = run(st, 2, "new.lua", NULL, 0);
	const struct imei_replay_compare *x = imei_replay_compare_result(r);
	CHECK(x != NULL);
	if (!x)
		return;
	CHECK_INT(x->devices, 4);
	CHECK_INT(x->pairs, 4);
	CHECK_INT(x->changed, 0);
	CHECK_INT(x->pairs_changed, 0);
	CHECK_INT(x->imsis_changed, 0);
	CHECK_INT(x->nexamples, 0);
	CHECK_INT(x->blocked_old, x->blocked_new);
	CHECK_INT(x->blocked_new, 1);
	CHECK_INT(x->notified_new, 2);
	CHECK_INT(x->nconditions, 2);
	for (size_t i = 0; i < x->nconditions; i++) {
		const struct imei_replay_condition_change *c = &x->conditions[i];
		const struct imei_replay_condition_stats *n = imei_replay_condition(r, (size_t)c->new_index);
		CHECK(c->new_index >= 0 && c->old_index >= 0);
		CHECK_INT(c->old.devices, n->devices);
		CHECK_INT(c->old.devices_blocked, n->devices_blocked);
		CHECK_INT(c->old.devices_grace, n->devices_grace);
		CHECK_INT(c->old.pairs, n->pairs);
		CHECK_INT(c->newly_matched + c->no_longer_matched + c->newly_blocked + c->no_longer_blocked +
		              c->newly_grace + c->no_longer_grace,
		          0);
	}
	imei_replay_free(r);
}

static const struct imei_replay_condition_change *cond(const struct imei_replay_compare *x, const char *name)
{
	for (size_t i = 0; i < x->nconditions; i++)
		if (strcmp(x->conditions[i].name, name) == 0)
			return &x->conditions[i];
	return NULL;
}

/* The change, with a summary of every count to compare runs with other thread counts. */
static void test_change(struct imei_store *st, unsigned threads, char *summary, size_t len)
{
	struct imei_replay *r = run(st, threads, "old.lua", NULL, 0);
	const struct imei_replay_compare *x = imei_replay_compare_result(r);
	CHECK(x != NULL);
	if (!x)
		return;
	CHECK_INT(x->devices, 4);
	/* the junk IMEI is newly blocked; the two RBI 35 devices keep their notice, with
	 * 10 days instead of 20: their block date moves; the roamer's RBI 49 device is as it was */
	CHECK_INT(x->changed, 3);
	CHECK_INT(x->verdict, 1);
	CHECK_INT(x->newly_blocked, 1);
	CHECK_INT(x->unblocked, 0);
	CHECK_INT(x->block_date, 2); /* an immediate block has no block date, under either */
	CHECK_INT(x->notification, 0);
	CHECK_INT(x->blocked_old, 0);
	CHECK_INT(x->blocked_new, 1);
	CHECK_INT(x->notified_old, 2);
	CHECK_INT(x->notified_new, 2);
	CHECK_INT(x->transitions[IMEI_STATUS_WHITELISTED][IMEI_STATUS_BLACKLISTED], 1);
	CHECK_INT(x->pairs_changed, 3);
	CHECK_INT(x->imsis_changed, 3);
	CHECK_INT(x->ops[0].changed, 3);
	CHECK_INT(x->ops[0].newly_blocked, 1);
	CHECK_INT(x->rbi[0].changed, 1);
	CHECK_INT(x->rbi[0].newly_blocked, 1);
	CHECK_INT(x->rbi[35].changed, 2);
	CHECK_INT(x->rbi[35].block_date, 2);
	CHECK_INT(x->rbi[49].changed, 0);
	const struct imei_replay_condition_change *junk = cond(x, "junk"), *rbi = cond(x, "rbi35"),
	                                          *gone = cond(x, "gone");
	CHECK(junk && rbi && gone);
	if (junk && rbi && gone) {
		CHECK(junk->new_index >= 0 && junk->old_index < 0);
		CHECK_INT(junk->newly_blocked, 1);
		CHECK_INT(junk->newly_matched, 1);
		CHECK(rbi->new_index >= 0 && rbi->old_index >= 0);
		CHECK_INT(rbi->old.devices, 2);
		CHECK_INT(rbi->old.devices_grace, 2);
		CHECK_INT(rbi->newly_matched + rbi->no_longer_matched + rbi->newly_grace + rbi->no_longer_grace, 0);
		CHECK(gone->new_index < 0 && gone->old_index >= 0);
		CHECK_INT(gone->old.devices, 0);
	}
	CHECK_INT(x->nexamples, 3);
	const struct imei_replay_compare_example *e = &x->examples[0];
	CHECK_INT(e->changes, IMEI_REPLAY_CHANGE_VERDICT);
	CHECK_INT(e->old_status, IMEI_STATUS_WHITELISTED);
	CHECK_INT(e->new_status, IMEI_STATUS_BLACKLISTED);
	CHECK_INT(x->examples[1].changes, IMEI_REPLAY_CHANGE_BLOCK_DATE);
	CHECK(x->examples[1].new_block_day != IMEI_REPLAY_NO_DAY &&
	      x->examples[1].old_block_day == x->examples[1].new_block_day + 10);
	/* only NEW's verdicts are the pairs': the lists are unchanged by comparing */
	CHECK_INT(imei_replay_totals(r)->devices_by_status[IMEI_STATUS_BLACKLISTED], 1);
	snprintf(summary, len, "%llu %llu %llu %llu %llu %d %d", (unsigned long long)x->changed,
	         (unsigned long long)x->block_date, (unsigned long long)x->pairs_changed,
	         (unsigned long long)x->rbi[35].changed, (unsigned long long)rbi->old.devices, x->examples[1].old_block_day,
	         x->examples[2].new_block_day);
	imei_replay_free(r);
}

static void test_networks(struct imei_store *st, unsigned threads, char *summary, size_t len)
{
	struct imei_replay_network_policy nets[1] = { { .network = "410-06" } };
	nets[0].engine.policy = path_of("op.lua");
	nets[0].engine.lua_path = LUA_PATH;
	nets[0].engine.store = st;
	struct imei_replay *r = run(st, threads, NULL, nets, 1);
	CHECK(imei_replay_compare_result(r) == NULL);
	CHECK_INT(imei_replay_nnetworks(r), 1);
	CHECK_INT(imei_replay_network_pairs(r, 0), 1); /* 410-06 */
	CHECK_INT(imei_replay_network_pairs(r, 1), 3); /* the national policy: 410-01 and the roamer */
	const struct imei_replay_pair *p = imei_replay_pairs(r);
	size_t n = imei_replay_npairs(r);
	CHECK_INT(n, 4);
	char statuses[8] = "";
	for (size_t i = 0; i < n && i < 4; i++) {
		char net[8];
		imei_replay_home_network(p[i].imsi, net);
		if (strcmp(net, "410-06") == 0)
			CHECK_INT(p[i].status, IMEI_STATUS_BLACKLISTED); /* op_all */
		else if (p[i].ident == 0)
			CHECK_INT(p[i].status, IMEI_STATUS_BLACKLISTED); /* junk, the national policy */
		else
			CHECK(p[i].status != IMEI_STATUS_BLACKLISTED);
		statuses[i] = (char)('0' + p[i].status);
	}
	snprintf(summary, len, "%s", statuses);
	imei_replay_free(r);
}

static void test_bad_network(struct imei_store *st)
{
	struct imei_replay_network_policy nets[2] = { { .network = "41006" }, { .network = "410-06" } };
	struct imei_replay_eval_config ec;
	struct imei_replay *r = ingest(st, 1, &ec);
	char err[1024];
	ec.networks = nets;
	ec.nnetworks = 2;
	CHECK_INT(imei_replay_eval_start(r, &ec, err, sizeof err), -1);
	CHECK(strstr(err, "'41006' is not a home network") != NULL);
	imei_replay_free(r);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/test_replay_compare_XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	put("dump.csv", dump);
	put("new.lua", new_policy);
	put("old.lua", old_policy);
	put("op.lua", op_policy);
	/* a store per replay: a replay may freeze its store once its ingest is done (freeze_store) */
	struct imei_store_error se;
	struct imei_store *st = imei_store_open("memory", NULL, &se);
	test_itself(st);
	imei_store_release(st);
	char s1[128] = "", s2[128] = "";
	for (unsigned threads = 1; threads <= 2; threads++) {
		st = imei_store_open("memory", NULL, &se);
		test_change(st, threads, threads == 1 ? s1 : s2, sizeof s1);
		imei_store_release(st);
	}
	CHECK_STR(s1, s2);
	for (unsigned threads = 1; threads <= 2; threads++) {
		st = imei_store_open("memory", NULL, &se);
		test_networks(st, threads, threads == 1 ? s1 : s2, sizeof s1);
		imei_store_release(st);
	}
	CHECK_STR(s1, s2);
	st = imei_store_open("memory", NULL, &se);
	test_bad_network(st);
	imei_store_release(st);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return CHECK_DONE("replay_compare");
}
