/*
 * test_api.c — the public C API (include/imei/imei.h): version, error codes, options,
 * the size-carrying query, answers, and that the public declarations agree with the
 * library's own (both headers are included: a mismatch fails to compile).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "imei/imei.h"
#include "imei_engine.h" /* the library's own declarations: must match the public ones */
#include "imei_identity.h"

int main(void)
{
	/* version: the macros and the loaded library agree */
	CHECK_STR(imei_version(), IMEI_VERSION_STRING);
	CHECK_INT(imei_version_number(), IMEI_VERSION_NUMBER);
	char v[32];
	snprintf(v, sizeof v, "%d.%d.%d", IMEI_VERSION_MAJOR, IMEI_VERSION_MINOR, IMEI_VERSION_PATCH);
	CHECK_STR(v, IMEI_VERSION_STRING);

	/* every code has its own text; out of range is said so, never NULL */
	for (int i = 0; i < IMEI_NCODES; i++) {
		CHECK(imei_strerror(i) != NULL && strcmp(imei_strerror(i), "unknown error code") != 0);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(imei_strerror(i), imei_strerror(j)) != 0);
	}
	CHECK_STR(imei_strerror(-1), "unknown error code");
	CHECK_STR(imei_strerror(IMEI_NCODES), "unknown error code");

	/* identifiers */
	CHECK(imei_valid("490154203237518", 15));
	CHECK(!imei_valid("490154203237519", 15));
	CHECK_INT(imei_check_digit("49015420323751", 14), '8');

	/* options: bad names and values are refused */
	struct imei_options *o = imei_options_new();
	CHECK(o != NULL);
	CHECK_INT(imei_options_set(o, "nope", "1"), IMEI_EINVAL);
	CHECK_INT(imei_options_set(o, "instructions", "999"), IMEI_EINVAL);
	CHECK_INT(imei_options_set(o, "instructions", "-5000"), IMEI_EINVAL);
	CHECK_INT(imei_options_set(o, "memory", "1000"), IMEI_EINVAL);
	CHECK_INT(imei_options_set(o, "on_error", "grey"), IMEI_EINVAL);
	CHECK_INT(imei_options_set(o, "record", "yes"), IMEI_EINVAL);
	CHECK_INT(imei_options_set(o, NULL, "x"), IMEI_EINVAL);
	CHECK_INT(imei_options_set(o, "on_error", "GREYLISTED"), IMEI_EOK);
	CHECK_INT(imei_options_set(o, "lua_path", "lua/?.lua;lua/?/init.lua"), IMEI_EOK);
	char err[512] = "";
	struct imei_engine *e = (struct imei_engine *)1;
	CHECK_INT(imei_engine_open(&e, o, err, sizeof err), IMEI_EINVAL); /* no policy yet */
	CHECK(e == NULL);
	CHECK_HAS(err, "no policy");
	CHECK_INT(imei_options_set(o, "policy", "/nonexistent/policy.lua"), IMEI_EOK);
	CHECK_INT(imei_engine_open(&e, o, err, sizeof err), IMEI_EIO);
	CHECK_HAS(err, "/nonexistent/policy.lua");
	imei_options_free(o);

	/* a policy that fails on one request: the on_error status, failed, and why */
	char path[] = "/tmp/imei_test_api_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	/* a raw check is one condition: when it raises, the policy as a whole has failed */
	static const char pol[] = "local P = policy.new { name = 'api', version = '1' }\n"
	                          "P:check(function(_, r)\n"
	                          "  if r.imsi == '001010000000666' then error('boom') end return 'WHITELISTED' end)\n"
	                          "return P\n";
	CHECK(write(fd, pol, sizeof pol - 1) == (ssize_t)(sizeof pol - 1));
	close(fd);
	o = imei_options_new();
	imei_options_set(o, "policy", path);
	imei_options_set(o, "lua_path", "lua/?.lua;lua/?/init.lua");
	imei_options_set(o, "on_error", "GREYLISTED");
	CHECK_INT(imei_engine_open(&e, o, err, sizeof err), IMEI_EOK);
	CHECK_INT(imei_options_set(o, "record", "true"), IMEI_ESTATE); /* frozen once used */
	struct imei_engine *e2;
	CHECK_INT(imei_engine_open(&e2, o, err, sizeof err), IMEI_EOK); /* a second, sharing */
	imei_options_free(o);
	CHECK_STR(imei_engine_policy_name(e), "api@1");

	struct imei_answer *a = imei_answer_new();
	struct imei_query q = IMEI_QUERY_INIT;
	q.pei = "imei-490154203237518";
	CHECK_INT(imei_engine_query(e, &q, a), IMEI_EOK);
	CHECK_INT(imei_answer_status(a), IMEI_STATUS_WHITELISTED);
	CHECK(!imei_answer_failed(a));
	CHECK_STR(imei_answer_policy(a), "api@1");
	CHECK_INT(imei_engine_query(e2, &q, a), IMEI_EOK);

	q.imsi = "001010000000666";
	CHECK_INT(imei_engine_query(e, &q, a), IMEI_EPOLICY);
	CHECK_INT(imei_answer_status(a), IMEI_STATUS_GREYLISTED);
	CHECK(imei_answer_failed(a));
	CHECK_HAS(imei_answer_error(a), "boom");

	/* sizes it cannot read: refused without running the policy, never WHITELISTED */
	q.size = sizeof q + 8;
	CHECK_INT(imei_engine_query(e, &q, a), IMEI_ESIZE);
	CHECK_INT(imei_answer_status(a), IMEI_STATUS_UNKNOWN);
	CHECK(imei_answer_failed(a));
	q.size = 3;
	CHECK_INT(imei_engine_query(e, &q, a), IMEI_ESIZE);
	q.size = sizeof q;
	q.pei = NULL;
	CHECK_INT(imei_engine_query(e, &q, a), IMEI_EINVAL);
	CHECK_INT(imei_answer_status(a), IMEI_STATUS_UNKNOWN);
	CHECK_INT(imei_engine_query(NULL, &q, a), IMEI_EINVAL);
	CHECK_INT(imei_answer_reason(a, 0, NULL, NULL, NULL), IMEI_EINVAL);

	imei_answer_free(a);
	imei_engine_free(e);
	imei_engine_free(e2);
	unlink(path);
	return CHECK_DONE("test_api");
}
