/*
 * dump_parse_bench.c — the cost of reading and parsing operator dumps alone (core/dump_reader.c),
 * without the replay's recording: every line of the files named through imei_dump_next, a
 * header through imei_dump_is_header / imei_dump_header_layout, every other line through
 * imei_dump_parse. Prints rows per CPU-second (this thread's CPU time) for reading lines
 * only and for reading + parsing, and a digest of everything parsed (rows, refusals by
 * reason, and each row's fields), so that two builds run on the same files can be
 * compared for speed and for identical results. bench/dump_parse_bench.sh runs it
 * against a peer build (main) in the same script.
 *
 * Usage: dump_parse_bench MODE FILE...   MODE: lines | parse
 * Built with -DPEER_BEFORE_PARSE_ROW for a peer older than imei_dump_parse_row (parses each
 * row with imei_dump_parse, as its replay did).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imei_dump_reader.h"

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* the digest of what was parsed: a word at a time, FNV-1a over the bytes of texts */
static uint64_t mix64(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 29);
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "lines") != 0 && strcmp(argv[1], "parse") != 0)) {
		fprintf(stderr, "usage: %s lines|parse FILE...\n", argv[0]);
		return 2;
	}
	bool parse = strcmp(argv[1], "parse") == 0;
	uint64_t lines = 0, rows = 0, refused[IMEI_DUMP_NREJECT] = { 0 }, digest = 0xcbf29ce484222325ULL;
	char scratch[IMEI_DUMP_MAX_IDENT * 2 + IMEI_MAX_DIGITS + 8];
	double t0 = cpu_now();
	for (int a = 2; a < argc; a++) {
		char err[600];
		struct imei_dump_file *f = imei_dump_open(argv[a], err, sizeof err);
		if (!f) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		struct imei_dump_layout lay;
		imei_dump_layout_default(&lay);
		bool first = true;
#ifndef PEER_BEFORE_PARSE_ROW
		struct imei_dump_dates dates = { .ymd = 0 };
#endif
		const char *line;
		size_t len, lineno;
		bool too_long;
		int rc;
		while ((rc = imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err)) == 1) {
			lines++;
			if (!parse) {
				digest = mix64(digest, len);
				continue;
			}
			if (first) {
				first = false;
				if (imei_dump_is_header(line, len, lay.delim)) {
					if (imei_dump_header_layout(line, len, lay.delim, &lay, err, sizeof err) < 0) {
						fprintf(stderr, "%s: %s\n", argv[a], err);
						return 1;
					}
					continue;
				}
			}
			rows++;
			struct imei_dump_row row;
			struct imei_dump_problem why;
#ifdef PEER_BEFORE_PARSE_ROW
			enum imei_dump_reject r = imei_dump_parse(&lay, line, len, &row, scratch, &why);
#else
			enum imei_dump_reject r = imei_dump_parse_row(&lay, &dates, line, len, &row, scratch, &why);
#endif
			if (r != IMEI_DUMP_OK) {
				refused[r < IMEI_DUMP_NREJECT ? r : 0]++;
				digest = mix(digest, &why.field, sizeof why.field);
				digest = mix(digest, why.msg, strlen(why.msg));
				continue;
			}
			/* the fields mixed side by side, then added in at the line's place: no chain of
			 * multiplications through the row, so the digest costs little beside the parse */
			uint64_t m = ((uint64_t)row.day * 0x9E3779B97F4A7C15ULL) ^ (row.key * 0xC2B2AE3D27D4EB4FULL) ^
			             (row.imsi * 0x165667B19E3779F9ULL) ^ (row.msisdn * 0xD6E8FEB86659FD93ULL) ^
			             (((uint64_t)row.form << 16 | (uint64_t)row.kind << 8 | row.rat) * 0xFF51AFD7ED558CCDULL) ^
			             ((uint64_t)row.ident_len << 40);
			digest += (m ^ (m >> 31)) * (2 * lines + 1);
			if (row.form == IMEI_DUMP_FORM_TEXT)
				digest = mix(digest, row.ident, row.ident_len);
		}
		imei_dump_close(f);
		if (rc < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}
	double cpu = cpu_now() - t0;
	uint64_t nref = 0;
	for (int i = 0; i < IMEI_DUMP_NREJECT; i++)
		nref += refused[i];
	printf("mode=%s lines=%llu rows=%llu refused=%llu cpu_s=%.3f rows_per_cpu_s=%.0f ns_per_line=%.1f "
	       "digest=%016llx\n",
	       argv[1], (unsigned long long)lines, (unsigned long long)rows, (unsigned long long)nref, cpu,
	       cpu > 0 ? (double)lines / cpu : 0.0, lines ? cpu * 1e9 / (double)lines : 0.0,
	       (unsigned long long)digest);
	return 0;
}
