/*
 * fuzz_n5g_query.c — libFuzzer target for the N5g-eir query parser of imei-eird
 * (server/n5g.c: percent-decoding, PEI/SUPI/GPSI shapes of TS 29.571, ProblemDetails).
 * The server is not part of the core the fuzz runner links, so its one parser file is
 * included here. Beyond "no crash, no read past the input":
 *   - a query the parser accepts has a pei, and every value passes its own shape check;
 *   - a rejected query names at least one parameter and always a reason;
 *   - percent-decoding never grows the input and never yields a NUL byte;
 *   - the response bodies are printable ASCII whatever the input (JSON-escaped).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../server/ebuf.c"
#include "../../server/n5g.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct n5g_query q;
	n5g_parse_query(s, size, &q);
	if (q.ninvalid == 0) {
		if (!q.has_pei || n5g_pei_problem(q.pei, strlen(q.pei)) != NULL)
			abort();
		if (q.has_supi && n5g_supi_problem(q.supi, strlen(q.supi)) != NULL)
			abort();
		if (q.has_gpsi && n5g_gpsi_problem(q.gpsi, strlen(q.gpsi)) != NULL)
			abort();
	} else {
		for (size_t i = 0; i < q.ninvalid; i++)
			if (!q.invalid[i].param || !q.invalid[i].reason || !q.invalid[i].reason[0])
				abort();
		if (q.mandatory_missing == q.has_pei)
			abort();
	}

	char *out = malloc(size + 1);
	if (!out)
		return 0;
	long n = n5g_pct_decode(s, size, out);
	if (n > (long)size || (n > 0 && memchr(out, 0, (size_t)n)))
		abort();
	free(out);

	struct ebuf b;
	ebuf_init(&b);
	struct n5g_invalid inv = { "query pei", s };
	char *reason = malloc(size + 1);
	if (!reason)
		return 0;
	memcpy(reason, s, size);
	reason[size] = 0;
	inv.reason = reason;
	n5g_problem_body(&b, 400, "Bad Request", reason, "X", &inv, 1);
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] < 0x20 || (unsigned char)b.data[i] >= 0x7f)
			abort();
	ebuf_free(&b);
	free(reason);
	return 0;
}
