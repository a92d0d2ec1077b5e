/*
 * test_bulk.c — imei_bulk_validate / imei_bulk_validate_file: every line counted, every
 * bad line reported with its number, normalised output, and agreement line by line
 * with imei_valid()/imei_parse(). Buffers are exact-size heap copies (ASan).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "imei_bulk.h"

static uint64_t rng_state = 0x13198A2E03707344ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	return p;
}

#define MAX_BAD 4096
struct bad_lines {
	size_t n, line[MAX_BAD];
	char reason[MAX_BAD][96];
	size_t stop_after; /* 0: never stop */
};

static int on_bad(void *ud, size_t line, const char *reason)
{
	struct bad_lines *b = ud;
	if (b->n < MAX_BAD) {
		b->line[b->n] = line;
		snprintf(b->reason[b->n], sizeof b->reason[0], "%s", reason);
	}
	b->n++;
	return b->stop_after && b->n >= b->stop_after;
}

/* Run the bulk validator on an exact-size heap copy of text[0..len). */
static int run(const char *text, size_t len, struct imei_bulk_stats *st, struct bad_lines *bad, char **out,
               size_t *outlen)
{
	char *copy = xmalloc(len);
	if (len)
		memcpy(copy, text, len);
	*out = xmalloc(len + 1);
	memset(bad, 0, sizeof *bad);
	int rc = imei_bulk_validate(copy, len, st, on_bad, bad, *out, outlen);
	free(copy);
	return rc;
}

static void test_mixed_buffer(void)
{
	static const char text[] =
		"490154203237518\n"           /* 1 valid, fast path */
		"490154203237510\n"           /* 2 spare 0: wrong check digit */
		"35209900176148\n"            /* 3 imei14 */
		"3520990017614899\r\n"        /* 4 imeisv, SVN 99, CRLF */
		"35-209900-176148-1\n"        /* 5 separators */
		"\n"                          /* 6 empty line */
		"AF0123450ABCDE\n"            /* 7 MEID: not an IMEI */
		"8016B128\n"                  /* 8 ESN */
		"4901542032\0" "37518\n"      /* 9 NUL */
		"imei-260531793113837\n"      /* 10 PEI */
		"  352099001761481  \n"       /* 11 surrounding spaces */
		"1234567890123\n"             /* 12 13 digits */
		"260531793113837";            /* 13 last line, no newline */
	struct imei_bulk_stats st;
	struct bad_lines bad;
	char *out;
	size_t outlen = 0;
	CHECK_INT(run(text, sizeof text - 1, &st, &bad, &out, &outlen), 0);
	CHECK_INT(st.lines, 13);
	CHECK_INT(st.valid, 7);
	CHECK_INT(st.invalid, 6);
	CHECK_INT(st.valid + st.invalid, st.lines);
	CHECK_INT(st.by_kind[IMEI_KIND_IMEI], 5);
	CHECK_INT(st.by_kind[IMEI_KIND_IMEI14], 1);
	CHECK_INT(st.by_kind[IMEI_KIND_IMEISV], 1);
	CHECK_INT(st.by_kind[IMEI_KIND_MEID], 0);
	CHECK_INT(bad.n, 6);
	static const size_t want_bad[] = { 2, 6, 7, 8, 9, 12 };
	for (size_t i = 0; i < 6 && i < bad.n; i++)
		CHECK_INT(bad.line[i], want_bad[i]);
	CHECK(strstr(bad.reason[0], "check digit 0") && strstr(bad.reason[0], "expected 8"));
	CHECK(strstr(bad.reason[1], "empty") != NULL);
	CHECK(strstr(bad.reason[2], "meid") != NULL);
	CHECK(strstr(bad.reason[3], "esn") != NULL);
	CHECK(strstr(bad.reason[4], "NUL") && strstr(bad.reason[4], "position 11"));
	CHECK(strstr(bad.reason[5], "13 digits") != NULL);
	static const char want_out[] = "490154203237518\n35209900176148\n3520990017614899\n352099001761481\n"
	                               "260531793113837\n352099001761481\n260531793113837\n";
	CHECK_INT(outlen, sizeof want_out - 1);
	CHECK(outlen == sizeof want_out - 1 && memcmp(out, want_out, outlen) == 0);
	free(out);
}

static void test_edges(void)
{
	struct imei_bulk_stats st;
	struct bad_lines bad;
	char *out;
	size_t outlen = 99;
	/* empty buffer: no lines */
	CHECK_INT(run("", 0, &st, &bad, &out, &outlen), 0);
	CHECK_INT(st.lines, 0);
	CHECK_INT(outlen, 0);
	free(out);
	/* a trailing newline ends the last line and opens none */
	CHECK_INT(run("490154203237518\n", 16, &st, &bad, &out, &outlen), 0);
	CHECK_INT(st.lines, 1);
	CHECK_INT(st.valid, 1);
	free(out);
	/* 15 digits at the very end, no newline: the fast path must not read a 16th byte */
	CHECK_INT(run("490154203237518", 15, &st, &bad, &out, &outlen), 0);
	CHECK_INT(st.valid, 1);
	CHECK_INT(outlen, 16);
	CHECK(memcmp(out, "490154203237518\n", 16) == 0);
	free(out);
	/* a lone CR line, blank lines: counted, reported */
	CHECK_INT(run("\r\n\n\n", 4, &st, &bad, &out, &outlen), 0);
	CHECK_INT(st.lines, 3);
	CHECK_INT(st.invalid, 3);
	CHECK_INT(bad.n, 3);
	free(out);
	/* NULL callback and NULL output are allowed */
	CHECK_INT(imei_bulk_validate("x\n490154203237518\n", 18, &st, NULL, NULL, NULL, NULL), 0);
	CHECK_INT(st.lines, 2);
	CHECK_INT(st.invalid, 1);
	/* the callback stops the run: the stats cover the lines seen so far */
	const char *text = "1\n2\n490154203237518\n3\n4\n";
	char *copy = xmalloc(strlen(text));
	memcpy(copy, text, strlen(text));
	memset(&bad, 0, sizeof bad);
	bad.stop_after = 2;
	CHECK_INT(imei_bulk_validate(copy, strlen(text), &st, on_bad, &bad, NULL, NULL), 1);
	CHECK_INT(bad.n, 2);
	CHECK_INT(st.lines, 2);
	free(copy);
}

/* Random buffers: each line's verdict and normalised digits are imei_valid/imei_parse's. */
static void test_random_agreement(void)
{
	static const char alphabet[] = "0123456789 -\r\tAf";
	long bad_agreement = 0;
	for (int round = 0; round < 300; round++) {
		size_t cap = 64 * 1024, len = 0, nlines = 0;
		char *text = xmalloc(cap);
		char *want = xmalloc(cap + 1);
		size_t wlen = 0, want_valid = 0;
		while (len + 40 < cap) {
			char line[40];
			size_t n = 0;
			uint64_t shape = rnd() % 8;
			if (shape < 5) { /* a 15-digit IMEI, valid 9 times in 10 */
				for (int i = 0; i < 14; i++)
					line[n++] = (char)('0' + rnd() % 10);
				line[n++] = imei_check_digit(line, 14);
				if (rnd() % 10 == 0)
					line[14] = (char)('0' + (line[14] - '0' + 1) % 10);
			} else {
				size_t m = rnd() % 24;
				for (size_t i = 0; i < m; i++)
					line[n++] = rnd() % 3 ? (char)('0' + rnd() % 10) : alphabet[rnd() % (sizeof alphabet - 1)];
			}
			memcpy(text + len, line, n);
			len += n;
			nlines++;
			size_t check_len = n;
			if (check_len && line[check_len - 1] == '\r')
				check_len--; /* the validator drops one CR before LF */
			if (imei_valid(line, check_len)) {
				struct imei_id id;
				if (imei_parse(line, check_len, &id, NULL) != IMEI_OK)
					bad_agreement++;
				memcpy(want + wlen, id.digits, id.ndigits);
				wlen += id.ndigits;
				want[wlen++] = '\n';
				want_valid++;
			}
			if (n > 0 && rnd() % 50 == 0)
				break; /* sometimes the last line has no newline (an empty one would be no line) */
			text[len++] = '\n';
		}
		struct imei_bulk_stats st;
		struct bad_lines bad;
		char *out;
		size_t outlen;
		run(text, len, &st, &bad, &out, &outlen);
		bad_agreement += st.lines != nlines || st.valid != want_valid || st.invalid != nlines - want_valid ||
		                 bad.n != st.invalid || outlen != wlen || memcmp(out, want, wlen) != 0;
		/* reported line numbers are increasing and in range */
		for (size_t i = 0; i < bad.n && i < MAX_BAD; i++)
			bad_agreement += bad.line[i] < 1 || bad.line[i] > nlines || (i && bad.line[i] <= bad.line[i - 1]);
		free(out);
		free(text);
		free(want);
	}
	CHECK_INT(bad_agreement, 0);
}

static void test_file(void)
{
	char path[] = "/tmp/imei-test-bulk-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	static const char text[] = "490154203237518\n490154203237519\n3520990017614899\n";
	CHECK_INT(write(fd, text, sizeof text - 1), sizeof text - 1);
	close(fd);
	struct imei_bulk_stats st;
	struct bad_lines bad;
	char errbuf[256] = "";
	memset(&bad, 0, sizeof bad);
	CHECK_INT(imei_bulk_validate_file(path, &st, on_bad, &bad, errbuf, sizeof errbuf), 0);
	CHECK_INT(st.lines, 3);
	CHECK_INT(st.valid, 2);
	CHECK_INT(bad.n, 1);
	CHECK_INT(bad.line[0], 2);
	/* an empty file */
	fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	CHECK_INT(imei_bulk_validate_file(path, &st, on_bad, &bad, errbuf, sizeof errbuf), 0);
	CHECK_INT(st.lines, 0);
	unlink(path);
	/* errors name the path and the reason */
	CHECK_INT(imei_bulk_validate_file(path, &st, on_bad, &bad, errbuf, sizeof errbuf), -1);
	CHECK_INT(errno, ENOENT);
	CHECK(strstr(errbuf, path) && strstr(errbuf, "No such file"));
	CHECK_INT(imei_bulk_validate_file("/tmp", &st, on_bad, &bad, errbuf, sizeof errbuf), -1);
	CHECK(strstr(errbuf, "not a regular file") != NULL);
}

int main(void)
{
	test_mixed_buffer();
	test_edges();
	test_random_agreement();
	test_file();
	return CHECK_DONE("test_bulk");
}
