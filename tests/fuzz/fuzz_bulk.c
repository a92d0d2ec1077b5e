/*
 * fuzz_bulk.c — libFuzzer target for imei_bulk_validate: any buffer is split into lines
 * (LF, an optional CR before it), every line is counted once, and the verdicts and the
 * normalised output are exactly those of imei_valid / imei_parse applied line by line.
 * The output buffer is the documented len + 1 bytes on the heap, so ASan catches overruns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_bulk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t calls, last_line;
};

static int on_bad(void *ud, size_t line, const char *reason)
{
	struct seen *s = ud;
	if (line <= s->last_line || reason == NULL || reason[0] == 0)
		abort();
	s->last_line = line;
	s->calls++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char *out = malloc(size + 1);
	char *want = malloc(size + 1);
	if (!out || !want)
		abort();
	struct imei_bulk_stats st;
	struct seen seen = { 0, 0 };
	size_t outlen = 0;
	if (imei_bulk_validate(buf, size, &st, on_bad, &seen, out, &outlen) != 0)
		abort();
	if (st.lines != st.valid + st.invalid || seen.calls != st.invalid || outlen > size + 1)
		abort();
	size_t kinds = 0;
	for (size_t k = 0; k < sizeof st.by_kind / sizeof st.by_kind[0]; k++)
		kinds += st.by_kind[k];
	if (kinds != st.valid)
		abort();

	/* the same, line by line */
	size_t lines = 0, valid = 0, wlen = 0, pos = 0;
	while (pos < size) {
		const char *nl = memchr(buf + pos, '\n', size - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : size - pos;
		size_t m = n;
		if (m > 0 && buf[pos + m - 1] == '\r')
			m--;
		lines++;
		if (imei_valid(buf + pos, m)) {
			struct imei_id id;
			if (imei_parse(buf + pos, m, &id, NULL) != IMEI_OK)
				abort();
			valid++;
			memcpy(want + wlen, id.digits, id.ndigits);
			wlen += id.ndigits;
			want[wlen++] = '\n';
		}
		pos += nl ? n + 1 : n;
	}
	if (lines != st.lines || valid != st.valid || wlen != outlen || memcmp(out, want, wlen) != 0)
		abort();
	free(out);
	free(want);
	return 0;
}
