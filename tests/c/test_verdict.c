/*
 * test_verdict.c — the whole verdict crosses the C boundary (imei_engine.h): more reasons
 * than the old fixed array held, each with overruled (and by whom), sticky, notify and
 * failed; a condition's own on_error; a caller compiled with an older, smaller struct
 * imei_reason; buffers reused from one check to the next.
 */
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "imei_engine.h"

#define LUA_PATH "lua/?.lua;lua/?/init.lua"
#define MANY 40

static char policy_path[64];

static void write_policy(void)
{
	FILE *f = fopen(policy_path, "w");
	if (!f) {
		perror(policy_path);
		exit(2);
	}
	fputs("local P = policy.new { name = 'v', version = '1' }\n"
	      "for i = 1, 40 do\n"
	      "  P:condition { name = 'c' .. i, status = 'GREYLISTED', blocking = false,\n"
	      "    when = function(_, r) return r.many == 'yes' end }\n"
	      "end\n"
	      "P:condition { name = 'stolen', status = 'BLACKLISTED', sticky = true, on_error = 'BLACKLISTED',\n"
	      "  when = function(_, r) if r.broken then error('the list is gone') end return r.stolen == 'yes' end }\n"
	      "P:condition { name = 'graced', status = 'BLACKLISTED', grace_days = 10,\n"
	      "  when = function(_, r) return r.graced == 'yes' end }\n"
	      "P:condition { name = 'lab', status = 'WHITELISTED', final = true,\n"
	      "  when = function(_, r) return r.lab == 'yes' end }\n"
	      "P:example { pei = '490154203237518', expect = 'WHITELISTED' }\n"
	      "return P\n",
	      f);
	fclose(f);
}

/* An older caller's reason: the fields up to informative only. */
struct old_reason {
	const char *condition, *text;
	enum imei_status status;
	const char *block_date;
	bool informative;
};

int main(void)
{
	snprintf(policy_path, sizeof policy_path, "/tmp/imei-test-verdict-%d.lua", (int)getpid());
	write_policy();
	struct imei_engine_config cfg = { .policy = policy_path, .lua_path = LUA_PATH };
	char err[512];
	struct imei_engine *e = imei_engine_new(&cfg, err, sizeof err);
	if (!e) {
		fprintf(stderr, "engine: %s\n", err);
		return 1;
	}
	struct imei_verdict v = IMEI_VERDICT_INIT;

	/* every reason, no cap */
	const char *many[] = { "many", "yes" };
	struct imei_request req = { .pei = "490154203237518", .time = 1767225600, .nextras = 1, .extras = many };
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.nreasons, MANY);
	CHECK_STR(v.reasons[MANY - 1].condition, "c40");
	CHECK(v.reasons[MANY - 1].informative && !v.reasons[MANY - 1].failed);
	CHECK(!v.failed);

	/* sticky and the final condition's overruling, said by the runtime, not guessed */
	const char *lab[] = { "stolen", "yes", "lab", "yes" };
	req.nextras = 2;
	req.extras = lab;
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_WHITELISTED);
	CHECK_INT(v.nreasons, 2);
	CHECK_STR(v.reasons[0].condition, "stolen");
	CHECK(v.reasons[0].sticky && v.reasons[0].overruled);
	CHECK_STR(v.reasons[0].overruled_by, "lab");
	CHECK(!v.reasons[1].overruled && v.reasons[1].overruled_by == NULL);

	/* notify while in its grace period */
	const char *graced[] = { "graced", "yes" };
	req.nextras = 1;
	req.extras = graced;
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_GREYLISTED);
	CHECK(v.notify && v.nreasons == 1 && v.reasons[0].notify);
	CHECK_STR(v.reasons[0].block_date, "2026-01-11");

	/* a failing condition with its own on_error decides with it */
	const char *broken[] = { "broken", "yes" };
	req.extras = broken;
	CHECK_INT(imei_engine_check(e, &req, &v), 0);
	CHECK_INT(v.status, IMEI_STATUS_BLACKLISTED);
	CHECK(v.failed && v.nfailed == 1 && v.nreasons == 1);
	CHECK(v.reasons[0].failed && !v.reasons[0].informative);
	CHECK(v.reasons[0].error && strstr(v.reasons[0].error, "the list is gone"));
	CHECK_INT(v.reasons[0].status, IMEI_STATUS_BLACKLISTED);
	imei_verdict_release(&v);
	CHECK(v.buffers == NULL && v.nreasons == 0 && v.size == sizeof v);

	/* a caller built against a smaller struct imei_reason gets reasons at its stride */
	struct imei_verdict old = IMEI_VERDICT_INIT;
	old.reason_size = sizeof(struct old_reason);
	req.extras = many;
	CHECK_INT(imei_engine_check(e, &req, &old), 0);
	CHECK_INT(old.nreasons, MANY);
	const struct old_reason *r = (const struct old_reason *)(void *)old.reasons;
	CHECK_STR(r[0].condition, "c1");
	CHECK_STR(r[MANY - 1].condition, "c40");
	CHECK(r[MANY - 1].informative);
	imei_verdict_release(&old);

	/* a struct the caller forgot to start with IMEI_VERDICT_INIT: started afresh, not trusted */
	struct imei_verdict junk;
	memset(&junk, 0xab, sizeof junk);
	CHECK_INT(imei_engine_check(e, &req, &junk), 0);
	CHECK_INT(junk.nreasons, MANY);
	CHECK_STR(junk.reasons[MANY - 1].condition, "c40");
	imei_verdict_release(&junk);

	imei_engine_free(e);
	unlink(policy_path);
	return CHECK_DONE("test_verdict");
}
