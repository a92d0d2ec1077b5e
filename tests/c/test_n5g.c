/*
 * test_n5g.c — the N5g-eir request parsing of imei-eird (server/n5g.c): percent-decoding
 * (RFC 3986 §2.1), the PEI / SUPI / GPSI shapes of TS 29.571 §5.3.2, the invalidParams
 * and causes of TS 29.500 / TS 29.571, and the JSON bodies (valid, ASCII-only output).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "n5g.h"

static struct n5g_query q;

static void parse(const char *query)
{
	n5g_parse_query(query, query ? strlen(query) : 0, &q);
}

static void test_decode(void)
{
	char out[64];
	CHECK_INT(n5g_pct_decode("imei-%34", 8, out), 6);
	CHECK(memcmp(out, "imei-4", 6) == 0);
	CHECK_INT(n5g_pct_decode("a%2Bb+c", 7, out), 5);
	CHECK(memcmp(out, "a+b+c", 5) == 0);
	CHECK_INT(n5g_pct_decode("%41%6a", 6, out), 2);
	CHECK(memcmp(out, "Aj", 2) == 0);
	CHECK_INT(n5g_pct_decode("%", 1, out), -1);
	CHECK_INT(n5g_pct_decode("ab%4", 4, out), -1);
	CHECK_INT(n5g_pct_decode("%G1", 3, out), -1);
	CHECK_INT(n5g_pct_decode("%1G", 3, out), -1);
	CHECK_INT(n5g_pct_decode("%00", 3, out), -1); /* a decoded NUL */
	CHECK_INT(n5g_pct_decode("", 0, out), 0);
}

static void test_shapes(void)
{
#define PEI_OK(s) CHECK(n5g_pei_problem((s), strlen(s)) == NULL)
#define PEI_BAD(s) CHECK(n5g_pei_problem((s), strlen(s)) != NULL)
	PEI_OK("imei-490154203237518");
	PEI_OK("imei-490154203237519"); /* a wrong check digit is the policy's business */
	PEI_OK("imeisv-4901542032375181");
	PEI_OK("mac-00-1a-2B-3c-4d-5e");
	PEI_OK("mac-00-1a-2B-3c-4d-5e-untrusted");
	PEI_OK("eui-00-11-22-33-44-55-66-77");
	PEI_OK("490154203237518"); /* other forms go to the policy */
	PEI_OK("A0000000002329");
	PEI_BAD("");
	PEI_BAD("imei-12345");
	PEI_BAD("imei-4901542032375180");
	PEI_BAD("imei-49015420323751x");
	PEI_BAD("imeisv-490154203237518");
	PEI_BAD("mac-00-1a-2b-3c-4d");
	PEI_BAD("mac-00-1a-2b-3c-4d-5e-trusted");
	PEI_BAD("eui-00-11-22-33-44-55-66");
	PEI_BAD("imei 490154203237518");
	PEI_BAD("imei-49015420323751\x01");
	PEI_BAD("imei-4901542032375\xc3\xa9");
	PEI_BAD("0123456789012345678901234567890123456789012345678901234567890123456789"); /* > 64 */

#define SUPI_OK(s) CHECK(n5g_supi_problem((s), strlen(s)) == NULL)
#define SUPI_BAD(s) CHECK(n5g_supi_problem((s), strlen(s)) != NULL)
	SUPI_OK("imsi-410010000000001");
	SUPI_OK("imsi-41001");
	SUPI_OK("nai-user@example.org");
	SUPI_OK("gci-x");
	SUPI_OK("gli-y");
	SUPI_BAD("imsi-4100");
	SUPI_BAD("imsi-4100100000000011");
	SUPI_BAD("imsi-41001x");
	SUPI_BAD("nai-");
	SUPI_BAD("410010000000001");
	SUPI_BAD("suci-0-001-01-0-0-0-0000000001");
	SUPI_BAD("");

#define GPSI_OK(s) CHECK(n5g_gpsi_problem((s), strlen(s)) == NULL)
#define GPSI_BAD(s) CHECK(n5g_gpsi_problem((s), strlen(s)) != NULL)
	GPSI_OK("msisdn-923001234567");
	GPSI_OK("extid-dev@example.org");
	GPSI_BAD("msisdn-92");
	GPSI_BAD("extid-nodomain");
	GPSI_BAD("extid-a@b@c");
	GPSI_BAD("extid-@b");
	GPSI_BAD("923001234567");
}

static bool has_invalid(const char *param)
{
	for (size_t i = 0; i < q.ninvalid; i++)
		if (strcmp(q.invalid[i].param, param) == 0)
			return true;
	return false;
}

static void test_query(void)
{
	/* a MAC or EUI-64 PEI is well formed and names no mobile equipment (answered 404) */
	parse("pei=mac-00-1a-2B-3c-4d-5e");
	CHECK_INT(q.ninvalid, 0);
	CHECK(q.not_equipment);
	parse("pei=eui-00-11-22-33-44-55-66-77");
	CHECK(q.not_equipment);
	parse("pei=mac-00-1a-2b");
	CHECK(q.ninvalid > 0 && q.mandatory_incorrect); /* malformed: still a 400 */
	parse("pei=imei-490154203237518");
	CHECK(!q.not_equipment);
	parse("pei=imei-490154203237518&supi=imsi-410010000000001&gpsi=msisdn-923001234567");
	CHECK_INT(q.ninvalid, 0);
	CHECK_STR(q.pei, "imei-490154203237518");
	CHECK_STR(q.imsi, "410010000000001");
	CHECK_STR(q.msisdn, "923001234567");

	parse("pei=imei%2D490154203237518&supi=nai-a%40b"); /* encoded '-' and '@' */
	CHECK_INT(q.ninvalid, 0);
	CHECK_STR(q.pei, "imei-490154203237518");
	CHECK_STR(q.supi, "nai-a@b");
	CHECK_STR(q.imsi, ""); /* a NAI gives no IMSI */

	parse("foo=bar&pei=490154203237518&&x"); /* unknown parameters and empty pairs are ignored */
	CHECK_INT(q.ninvalid, 0);
	CHECK_STR(q.pei, "490154203237518");

	parse(NULL);
	CHECK_INT(q.ninvalid, 1);
	CHECK(q.mandatory_missing);
	CHECK(has_invalid("query pei"));

	parse("supi=imsi-410010000000001");
	CHECK(q.mandatory_missing);

	parse("pei=");
	CHECK(q.mandatory_incorrect && !q.mandatory_missing);

	parse("pei=imei-12345");
	CHECK_INT(q.ninvalid, 1);
	CHECK(q.mandatory_incorrect);
	CHECK_STR(q.invalid[0].param, "query pei");

	parse("pei=imei-490154203237518&supi=imsi-1");
	CHECK_INT(q.ninvalid, 1);
	CHECK(!q.mandatory_incorrect && !q.mandatory_missing);
	CHECK(has_invalid("query supi"));

	parse("pei=imei-490154203237518&gpsi=msisdn-1");
	CHECK(has_invalid("query gpsi"));

	parse("pei=imei-4901542032375%G8");
	CHECK(q.mandatory_incorrect);
	CHECK(strstr(q.invalid[0].reason, "percent") != NULL);

	parse("pei=imei-490154203237518%00");
	CHECK(q.mandatory_incorrect);

	parse("pei=imei-490154203237518&pei=imei-490154203237518");
	CHECK(q.mandatory_incorrect);
	CHECK(strstr(q.invalid[0].reason, "more than once") != NULL);

	/* a long value is refused, never copied past its buffer */
	char big[2048];
	memcpy(big, "pei=", 4);
	memset(big + 4, '1', sizeof big - 5);
	big[sizeof big - 1] = 0;
	parse(big);
	CHECK(q.mandatory_incorrect);
	memset(big + 4, '%', 3);
	parse(big);
	CHECK(q.mandatory_incorrect);

	/* names are percent-decoded too */
	parse("p%65i=imei-490154203237518");
	CHECK_INT(q.ninvalid, 0);
	CHECK_STR(q.pei, "imei-490154203237518");
}

static void test_bodies(void)
{
	struct ebuf b;
	ebuf_init(&b);
	n5g_status_body(&b, "WHITELISTED");
	ebuf_add(&b, "", 1);
	CHECK_STR(b.data, "{\"status\":\"WHITELISTED\"}");
	ebuf_free(&b);

	struct n5g_invalid inv[] = { { "query pei", "bad \"quote\" \\ \x01 \xc3\xa9" } };
	n5g_problem_body(&b, 400, "Bad Request", "d", "MANDATORY_QUERY_PARAM_INCORRECT", inv, 1);
	ebuf_add(&b, "", 1);
	CHECK_STR(b.data, "{\"title\":\"Bad Request\",\"status\":400,\"detail\":\"d\","
	                  "\"cause\":\"MANDATORY_QUERY_PARAM_INCORRECT\",\"invalidParams\":[{\"param\":\"query pei\","
	                  "\"reason\":\"bad \\\"quote\\\" \\\\ \\u0001 \\u00c3\\u00a9\"}]}");
	ebuf_free(&b);

	n5g_problem_body(&b, 404, "Not Found", NULL, "ERROR_EQUIPMENT_UNKNOWN", NULL, 0);
	ebuf_add(&b, "", 1);
	CHECK_STR(b.data, "{\"title\":\"Not Found\",\"status\":404,\"cause\":\"ERROR_EQUIPMENT_UNKNOWN\"}");
	ebuf_free(&b);

	/* a buffer grows past its first allocation */
	for (int i = 0; i < 1000; i++)
		ebuf_printf(&b, "%d,", i);
	CHECK(!b.failed && b.len > 3000);
	ebuf_free(&b);
}

int main(void)
{
	test_decode();
	test_shapes();
	test_query();
	test_bodies();
	return CHECK_DONE("test_n5g");
}
