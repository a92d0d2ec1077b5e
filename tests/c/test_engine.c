/*
 * test_engine.c — the engine through its C API: verdicts, failures, and reload under
 * concurrent checks (no check lost or failed while the policy is swapped many times).
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "imei_engine.h"
#include "text_file.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"

static const char *policy_text =
	"local P = policy.new { name = 'c', version = '%d' }\n"
	"P:condition { name = 'junk', status = 'BLACKLISTED', when = function(d) return d.junk ~= nil end }\n"
	"P:condition { name = 'loop', status = 'BLACKLISTED', when = function(_, r)\n"
	"  if r.hang == 'yes' then while true do end end return false end }\n"
	"P:example { pei = '000000000000000', expect = 'BLACKLISTED' }\n"
	"return P\n";

static char policy_path[64];

static void write_policy(int version)
{
	char tmp[80], text[1024];
	snprintf(tmp, sizeof tmp, "%s.tmp", policy_path);
	snprintf(text, sizeof text, policy_text, version);
	write_text(tmp, text);
	rename(tmp, policy_path); /* atomic: a reload never reads half a file */
}

static struct imei_engine *engine_at(const char *path)
{
	struct imei_engine_config cfg = { 0 };
	char err[512];
	cfg.policy = path;
	cfg.lua_path = LUA_PATH;
	struct imei_engine *e = imei_engine_new(&cfg, err, sizeof err);
	if (!e)
		fprintf(stderr, "engine: %s\n", err);
	return e;
}

static struct imei_engine *new_engine(void)
{
	return engine_at(policy_path);
}

static void test_verdicts(struct imei_engine *e)
{
	struct imei_verdict v = IMEI_VERDICT_INIT;
	struct imei_request req = { .pei = "000000000000000", .imsi = "001010000000001" };
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_BLACKLISTED);
	CHECK_INT(v.nreasons, 1);
	CHECK_STR(v.reasons[0].condition, "junk");
	CHECK_STR(v.policy, "c@1");

	req.pei = "490154203237518";
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_WHITELISTED);
	CHECK_INT(v.nreasons, 0);

	/* a condition that runs out of budget fails alone: reported, and it decides nothing */
	const char *extras[] = { "hang", "yes" };
	req.nextras = 1;
	req.extras = extras;
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK(v.failed);
	CHECK_INT(v.nfailed, 1);
	CHECK_INT(v.status, IMEI_STATUS_WHITELISTED);
	CHECK_INT(v.nreasons, 1);
	CHECK_STR(v.reasons[0].condition, "loop");
	CHECK(v.reasons[0].failed && v.reasons[0].informative);
	CHECK(v.reasons[0].error && strstr(v.reasons[0].error, "instruction budget"));
	CHECK(v.error && strstr(v.error, "instruction budget"));

	/* ... and the others still decide: the junk device stays BLACKLISTED */
	req.pei = "000000000000000";
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_BLACKLISTED);
	CHECK_INT(v.nreasons, 2);
	CHECK_STR(v.reasons[0].condition, "junk");
	CHECK(!v.reasons[0].failed);
	CHECK(v.reasons[1].failed);

	struct imei_engine_stats st;
	imei_engine_stats(e, &st);
	CHECK_INT(st.checks, 4);
	CHECK_INT(st.failures, 0);
	CHECK_INT(st.condition_failures, 2);
	CHECK_INT(st.by_status[IMEI_STATUS_BLACKLISTED], 2);
	imei_verdict_release(&v);
}

struct worker {
	struct imei_engine *e;
	int checks, failed, wrong;
};

static void *check_loop(void *arg)
{
	struct worker *w = arg;
	struct imei_verdict v = IMEI_VERDICT_INIT;
	struct imei_request req = { .pei = "000000000000000" };
	for (int i = 0; i < 3000; i++) {
		if (imei_engine_check(w->e, &req, &v) != 0 || v.failed)
			w->failed++;
		else if (v.status != IMEI_STATUS_BLACKLISTED)
			w->wrong++;
		w->checks++;
	}
	imei_verdict_release(&v);
	return NULL;
}

static void test_reload_under_load(struct imei_engine *e)
{
	enum { THREADS = 4 };
	pthread_t threads[THREADS];
	struct worker workers[THREADS];
	for (int i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){ .e = e };
		pthread_create(&threads[i], NULL, check_loop, &workers[i]);
	}
	int reloads = 0, reload_failures = 0;
	char err[512];
	for (int i = 0; i < 25; i++) {
		write_policy(2 + i);
		if (imei_engine_reload(e, err, sizeof err) == 0)
			reloads++;
		else {
			reload_failures++;
			fprintf(stderr, "reload: %s\n", err);
		}
	}
	int checks = 0, failed = 0, wrong = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(threads[i], NULL);
		checks += workers[i].checks;
		failed += workers[i].failed;
		wrong += workers[i].wrong;
	}
	CHECK_INT(reloads, 25);
	CHECK_INT(reload_failures, 0);
	CHECK_INT(checks, THREADS * 3000);
	CHECK_INT(failed, 0);
	CHECK_INT(wrong, 0);
	CHECK_STR(imei_engine_policy_name(e), "c@26");

	/* a broken policy: reload fails, the last good one stays */
	write_text(policy_path, "local P = ");
	CHECK_INT(imei_engine_reload(e, err, sizeof err), -1);
	CHECK(strstr(err, "policy") != NULL || strstr(err, "expected") != NULL);
	CHECK_STR(imei_engine_policy_name(e), "c@26");
}

static void test_bad_config(void)
{
	struct imei_engine_config cfg = { 0 };
	char err[512];
	CHECK(imei_engine_new(&cfg, err, sizeof err) == NULL);
	CHECK(strstr(err, "no policy") != NULL);
	cfg.policy = "/nonexistent/policy.lua";
	cfg.lua_path = LUA_PATH;
	CHECK(imei_engine_new(&cfg, err, sizeof err) == NULL);
	CHECK(strstr(err, "/nonexistent/policy.lua") != NULL);
	CHECK_INT(imei_status_from_name("GREYLISTED"), IMEI_STATUS_GREYLISTED);
	CHECK_INT(imei_status_from_name("grey"), -1);
	CHECK_STR(imei_status_name(IMEI_STATUS_UNKNOWN), "UNKNOWN");
}

/* The request table a policy sees holds the request's values, check after check: short
 * ones repeat from a kept string (engine_request.c), the others are made afresh; values
 * written into the same buffer over and over, more distinct ones than are kept, and
 * longer ones than are kept must all come through as they are. */
static void test_request_fields(void)
{
	char path[80];
	snprintf(path, sizeof path, "/tmp/imei-test-engine-fields-%d.lua", (int)getpid());
	write_text(path, "local P = policy.new { name = 'fields', version = '1' }\n"
	           "P:condition { name = 'echo', status = 'GREYLISTED', reason = 'r', when = function() return true end,\n"
	           "  detail = function(_, r) return table.concat({ r.pei, r.imsi, r.msisdn or '-', r.operator or '-',\n"
	           "    r.rat or '-', tostring(r.time), r.network or '-', tostring(rawlen(r)) }, '|') end }\n"
	           "return P\n");
	struct imei_engine *e = engine_at(path);
	CHECK(e != NULL);
	if (!e) {
		unlink(path);
		return;
	}
	struct imei_verdict v = IMEI_VERDICT_INIT;
	char op[16], rat[24], net[32], imsi[24], want[256];
	const char *extras[] = { "network", net };
	for (int i = 0; i < 200; i++) {
		snprintf(op, sizeof op, "410-%02d", i % 40);           /* 40 distinct: more than are kept */
		switch (i % 4) { /* short, long, and either side of the longest value kept (12 bytes) */
		case 0: snprintf(rat, sizeof rat, "NR"); break;
		case 1: snprintf(rat, sizeof rat, "EUTRA-%d-and-more", i % 7); break;
		case 2: snprintf(rat, sizeof rat, "UTRAN-12ch-%d", i % 7); break;
		default: snprintf(rat, sizeof rat, "UTRAN-13chr-%d", i % 7); break;
		}
		snprintf(net, sizeof net, "Operator%d", i % 5);
		snprintf(imsi, sizeof imsi, "41001%010d", i);
		struct imei_request req = { .pei = "490154203237518", .imsi = imsi, .msisdn = i % 2 ? "923001234567" : NULL,
		                            .operator_id = i % 11 ? op : NULL, .rat = rat, .time = 1767225600 + i,
		                            .nextras = 1, .extras = extras };
		CHECK_INT(imei_engine_check(e, &req, &v), 0);
		snprintf(want, sizeof want, "r: 490154203237518|%s|%s|%s|%s|%d|%s|0", imsi, i % 2 ? "923001234567" : "-",
		         i % 11 ? op : "-", rat, 1767225600 + i, net);
		CHECK(v.nreasons == 1 && v.reasons[0].text && strcmp(v.reasons[0].text, want) == 0);
		if (v.nreasons != 1 || !v.reasons[0].text || strcmp(v.reasons[0].text, want) != 0) {
			fprintf(stderr, "check %d: got '%s', want '%s'\n", i, v.nreasons ? v.reasons[0].text : "(none)", want);
			break;
		}
	}
	imei_verdict_release(&v);
	imei_engine_free(e);
	unlink(path);
}

int main(void)
{
	snprintf(policy_path, sizeof policy_path, "/tmp/imei-test-engine-%d.lua", (int)getpid());
	write_policy(1);
	struct imei_engine *e = new_engine();
	CHECK(e != NULL);
	if (e) {
		test_verdicts(e);
		test_reload_under_load(e);
		imei_engine_free(e);
	}
	test_bad_config();
	test_request_fields();
	unlink(policy_path);
	return CHECK_DONE("test_engine");
}
