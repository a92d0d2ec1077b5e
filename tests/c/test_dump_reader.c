/*
 * test_dump_reader.c — operator dump rows (imei_dump_reader.h): dates, layouts and headers,
 * every reason a row is refused, identity forms against imei_parse, and the line reader
 * over plain and gzip files (CRLF, BOM, long lines, truncated streams) and the inputs
 * that must never go missing silently: CR-only line ends, a gzip file with a second
 * member or with bytes after its end, UTF-16 text, a file that ends mid-line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "imei_dump_reader.h"

static void test_dates(void)
{
	int32_t day;
	CHECK(imei_dump_date("19700101", 8, &day) && day == 0);
	CHECK(imei_dump_date("20260131", 8, &day) && day == 20484);
	CHECK(imei_dump_date("2026-01-31", 10, &day) && day == 20484);
	CHECK(imei_dump_date("20240229", 8, &day));  /* leap year */
	CHECK(!imei_dump_date("20250229", 8, &day)); /* not one */
	CHECK(imei_dump_date("20000229", 8, &day));  /* divisible by 400 */
	CHECK(!imei_dump_date("21000229", 8, &day)); /* by 100, not 400 */
	CHECK(!imei_dump_date("20261301", 8, &day));
	CHECK(!imei_dump_date("20260100", 8, &day));
	CHECK(!imei_dump_date("20260431", 8, &day));
	CHECK(!imei_dump_date("2026013", 7, &day));
	CHECK(!imei_dump_date("2026-0131", 9, &day));
	CHECK(!imei_dump_date("2026O131", 8, &day));
	/* every day of 1990..2110 goes there and back */
	int bad = 0;
	for (int32_t d = 7305; d < 51500; d++) {
		char s[9];
		imei_dump_day_str(d, s);
		int32_t back;
		if (!imei_dump_date(s, 8, &back) || back != d)
			bad++;
	}
	CHECK_INT(bad, 0);
	char s[9];
	imei_dump_day_str(20484, s);
	CHECK_STR(s, "20260131");
}

static void test_layouts(void)
{
	struct imei_dump_layout lay;
	char err[200];
	CHECK_INT(imei_dump_layout_parse("imsi, msisdn ,date,IMEI,-", ';', &lay, err, sizeof err), 0);
	CHECK_INT(lay.ncols, 5);
	CHECK_INT(lay.min_cols, 5);
	CHECK_INT(lay.col[0], IMEI_DUMP_COL_IMSI);
	CHECK_INT(lay.col[3], IMEI_DUMP_COL_IMEI);
	CHECK_INT(lay.col[4], IMEI_DUMP_COL_SKIP);
	CHECK(lay.delim == ';');
	CHECK_INT(imei_dump_layout_parse("date,imei,msisdn", ',', &lay, err, sizeof err), -1);
	CHECK(strstr(err, "no 'imsi' column") != NULL);
	CHECK_INT(imei_dump_layout_parse("date,imei,imsi,imei", ',', &lay, err, sizeof err), -1);
	CHECK(strstr(err, "'imei' is given 2 times") != NULL);
	CHECK_INT(imei_dump_layout_parse("date,imei,imsi,cell", ',', &lay, err, sizeof err), -1);
	CHECK(strstr(err, "'cell' is not a column name") != NULL);

	const char *h = "Date , \"IMEI\",imsi,cell_id,msisdn";
	CHECK(imei_dump_is_header(h, strlen(h), ','));
	CHECK_INT(imei_dump_header_layout(h, strlen(h), ',', &lay, err, sizeof err), 0);
	CHECK_INT(lay.ncols, 5);
	CHECK_INT(lay.col[1], IMEI_DUMP_COL_IMEI);
	CHECK_INT(lay.col[3], IMEI_DUMP_COL_SKIP);
	CHECK_INT(lay.col[4], IMEI_DUMP_COL_MSISDN);
	const char *row = "20260101,352099001761481,410010000000001,923001234567";
	CHECK(!imei_dump_is_header(row, strlen(row), ','));
	const char *digits = "1,2,3";
	CHECK(!imei_dump_is_header(digits, strlen(digits), ','));
	const char *nohdr = "date,imei,msisdn";
	CHECK_INT(imei_dump_header_layout(nohdr, strlen(nohdr), ',', &lay, err, sizeof err), -1);
	CHECK(strstr(err, "header: no 'imsi' column") != NULL);
}

static enum imei_dump_reject parse(const char *line, struct imei_dump_row *row, struct imei_dump_problem *why)
{
	static char scratch[128];
	struct imei_dump_layout lay;
	imei_dump_layout_default(&lay);
	return imei_dump_parse(&lay, line, strlen(line), row, scratch, why);
}

static void test_rows(void)
{
	struct imei_dump_row row;
	struct imei_dump_problem why;
	CHECK_INT(parse("20260131,352099001761481,410010000000001,923001234567,EUTRAN", &row, &why), IMEI_DUMP_OK);
	CHECK_INT(row.day, 20484);
	CHECK(row.key == 35209900176148ULL);
	CHECK_INT(row.form, IMEI_DUMP_FORM_IMEI + 1);
	CHECK_INT(row.kind, IMEI_KIND_IMEI);
	CHECK(row.imsi == 1000000000000000ULL + 410010000000001ULL);
	CHECK(row.msisdn == 1000000000000ULL + 923001234567ULL);
	CHECK_INT(row.rat, 6);
	/* four fields (no rat), an empty MSISDN, spaces, quotes, a leading '+' */
	CHECK_INT(parse(" 20260131 , \"35209900176148\" ,010010000000001,", &row, &why), IMEI_DUMP_OK);
	CHECK_INT(row.form, IMEI_DUMP_FORM_IMEI14);
	CHECK(row.imsi == 1000000000000000ULL + 10010000000001ULL); /* the leading zero kept */
	CHECK(row.msisdn == 0);
	CHECK_INT(parse("2026-01-31,3520990017614823,410010000000001,+923001234567,5G", &row, &why), IMEI_DUMP_OK);
	CHECK_INT(row.form, IMEI_DUMP_FORM_IMEISV + 23);
	CHECK_INT(row.rat, 10);
	/* other spellings of an IMEI become its key */
	CHECK_INT(parse("20260131,imei-352099001761481,410010000000001,923001234567", &row, &why), IMEI_DUMP_OK);
	CHECK(row.key == 35209900176148ULL && row.form == IMEI_DUMP_FORM_IMEI + 1);
	CHECK_INT(parse("20260131,35-209900-176148-1,410010000000001,923001234567", &row, &why), IMEI_DUMP_OK);
	CHECK(row.key == 35209900176148ULL && row.form == IMEI_DUMP_FORM_IMEI + 1 && row.ident == NULL);
	CHECK_INT(parse("20260131,\"35209900176148\"\"1\",410010000000001,923001234567", &row, &why), IMEI_DUMP_OK);
	CHECK_INT(row.form, IMEI_DUMP_FORM_TEXT); /* 35209900176148"1 is no identifier: kept as text */
	CHECK(row.ident_len == 16 && memcmp(row.ident, "35209900176148\"1", 16) == 0);
	/* a MEID is an identity, not an IMEI */
	CHECK_INT(parse("20260131,a0000000002329,410010000000001,923001234567", &row, &why), IMEI_DUMP_OK);
	CHECK_INT(row.form, IMEI_DUMP_FORM_TEXT);
	CHECK_INT(row.kind, IMEI_KIND_MEID);
	CHECK(row.ident_len == 14 && memcmp(row.ident, "A0000000002329", 14) == 0);
	CHECK_INT(parse("20260131,UNKNOWN,410010000000001,923001234567", &row, &why), IMEI_DUMP_OK);
	CHECK_INT(row.kind, IMEI_KIND_NONE);
	CHECK(row.ident_len == 7 && memcmp(row.ident, "UNKNOWN", 7) == 0);

	struct {
		const char *line;
		enum imei_dump_reject reason;
		unsigned field;
		const char *msg;
	} bad[] = {
		{ "20260131,352099001761481,410010000000001", IMEI_DUMP_R_FIELDS, 0, "3 fields, expected 4 to 5" },
		{ "20260131,352099001761481,410010000000001,9,EUTRAN,x", IMEI_DUMP_R_FIELDS, 0, "6 fields" },
		{ "20260131,\"352099001761481,410010000000001,923001234567", IMEI_DUMP_R_QUOTE, 2, "does not close" },
		{ "20260131,\"3520\"x,410010000000001,923001234567", IMEI_DUMP_R_QUOTE, 2, "after the closing quote" },
		{ "20260131,35209900" "\x07" "61481,410010000000001,923001234567", IMEI_DUMP_R_CONTROL, 0, "0x07" },
		{ "20261301,352099001761481,410010000000001,923001234567", IMEI_DUMP_R_DATE, 1, "'20261301' is not a date" },
		{ "19991231,352099001761481,410010000000001,923001234567", IMEI_DUMP_R_DATE_RANGE, 1, "2000 to 2099" },
		{ "20260131,,410010000000001,923001234567", IMEI_DUMP_R_IMEI_EMPTY, 2, "imei: empty" },
		{ "20260131,\"  \",410010000000001,923001234567", IMEI_DUMP_R_IMEI_EMPTY, 2, "imei: empty" },
		{ "20260131,123456789012345678901234567890123,410010000000001,9", IMEI_DUMP_R_IMEI_TEXT, 2, "33 characters" },
		{ "20260131,35209900\xC3\xA9,410010000000001,923001234567", IMEI_DUMP_R_IMEI_TEXT, 2, "not printable" },
		{ "20260131,352099001761481,,923001234567", IMEI_DUMP_R_IMSI, 3, "imsi: empty" },
		{ "20260131,352099001761481,41001x,923001234567", IMEI_DUMP_R_IMSI, 3, "character 6 is not a digit" },
		{ "20260131,352099001761481,41001,923001234567", IMEI_DUMP_R_IMSI, 3, "has 5 digits" },
		{ "20260131,352099001761481,4100100000000012,923001234567", IMEI_DUMP_R_IMSI, 3, "has 16 digits" },
		{ "20260131,352099001761481,410010000000001,92", IMEI_DUMP_R_MSISDN, 4, "has 2 digits" },
		{ "20260131,352099001761481,410010000000001,+92-30", IMEI_DUMP_R_MSISDN, 4, "character 4 is not a digit" },
		{ "20260131,352099001761481,410010000000001,923001234567,6G", IMEI_DUMP_R_RAT, 5, "'6G' is not a RAT" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum imei_dump_reject got = parse(bad[i].line, &row, &why);
		if (got != bad[i].reason || why.field != bad[i].field || !strstr(why.msg, bad[i].msg)) {
			fprintf(stderr, "row %zu: got %s field %u \"%s\"\n", i, imei_dump_reject_name(got), why.field, why.msg);
			CHECK(0);
		} else {
			CHECK(1);
		}
	}
	CHECK_STR(imei_dump_reject_name(IMEI_DUMP_R_IMEI_TEXT), "imei_text");
}

/* The fast path for 14-16 digits agrees with imei_parse on random values. */
static void test_forms(void)
{
	unsigned seed = 12345;
	int bad = 0;
	for (int i = 0; i < 200000; i++) {
		char line[80], digits[17];
		int n = 14 + i % 3;
		for (int k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			digits[k] = (char)('0' + (seed >> 16) % 10);
		}
		digits[n] = 0;
		snprintf(line, sizeof line, "20260131,%s,410010000000001,923001234567", digits);
		struct imei_dump_row row;
		struct imei_dump_problem why;
		struct imei_id id;
		if (parse(line, &row, &why) != IMEI_DUMP_OK || imei_parse(digits, (size_t)n, &id, NULL) != IMEI_OK) {
			bad++;
			continue;
		}
		uint64_t key = strtoull(id.key, NULL, 10);
		char back[20];
		imei_dump_form_digits(row.key, row.form, back);
		if (row.key != key || row.kind != id.kind || strcmp(back, digits) != 0)
			bad++;
	}
	CHECK_INT(bad, 0);
}

static char tmpl[64];

static const char *write_file(const char *content, size_t len, bool gzip)
{
	snprintf(tmpl, sizeof tmpl, "/tmp/test_dump_reader_XXXXXX");
	int fd = mkstemp(tmpl);
	if (fd < 0)
		return NULL;
	if (gzip) {
		gzFile gz = gzdopen(fd, "wb");
		gzwrite(gz, content, (unsigned)len);
		gzclose(gz);
	} else {
		if (write(fd, content, len) != (ssize_t)len)
			fprintf(stderr, "short write\n");
		close(fd);
	}
	return tmpl;
}

static void test_reader(bool gzip)
{
	char *big = malloc(IMEI_DUMP_MAX_LINE * 3);
	memset(big, 'x', IMEI_DUMP_MAX_LINE * 3);
	char content[IMEI_DUMP_MAX_LINE * 4];
	size_t n = 0;
	n += (size_t)sprintf(content + n, "\xEF\xBB\xBF" "date,imei\r\nrow2\n\n");
	memcpy(content + n, big, IMEI_DUMP_MAX_LINE * 2);
	n += IMEI_DUMP_MAX_LINE * 2;
	n += (size_t)sprintf(content + n, "\nrow5\r\nlast");
	free(big);
	const char *path = write_file(content, n, gzip);
	CHECK(path != NULL);
	if (!path)
		return;
	char err[300];
	struct imei_dump_file *f = imei_dump_open(path, err, sizeof err);
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(imei_dump_gzip(f) == gzip);
	const char *line;
	size_t len, lineno;
	bool too_long;
	CHECK_INT(imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err), 1);
	CHECK(len == 9 && memcmp(line, "date,imei", 9) == 0 && lineno == 1 && !too_long);
	CHECK_INT(imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err), 1);
	CHECK(len == 4 && memcmp(line, "row2", 4) == 0 && lineno == 2);
	CHECK_INT(imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err), 1);
	CHECK(len == 0 && lineno == 3);
	CHECK_INT(imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err), 1);
	CHECK(too_long && len == IMEI_DUMP_MAX_LINE && lineno == 4);
	CHECK_INT(imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err), 1);
	CHECK(len == 4 && memcmp(line, "row5", 4) == 0 && lineno == 5 && !too_long);
	CHECK_INT(imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err), 1);
	CHECK(len == 4 && memcmp(line, "last", 4) == 0 && lineno == 6);
	CHECK_INT(imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err), 0);
	CHECK(imei_dump_offset(f) > 0);
	imei_dump_close(f);
	unlink(path);
}

static void test_truncated_gzip(void)
{
	char content[20000];
	for (size_t i = 0; i < sizeof content; i++)
		content[i] = (char)(i % 61 == 60 ? '\n' : '0' + (char)(i * 7 % 10));
	const char *path = write_file(content, sizeof content, true);
	CHECK(path != NULL);
	if (!path)
		return;
	FILE *fp = fopen(path, "r+");
	CHECK(fp != NULL);
	if (!fp)
		return;
	fseek(fp, 0, SEEK_END);
	long size = ftell(fp);
	fclose(fp);
	CHECK(truncate(path, size / 2) == 0);
	char err[300];
	struct imei_dump_file *f = imei_dump_open(path, err, sizeof err);
	CHECK(f != NULL);
	if (!f)
		return;
	const char *line;
	size_t len, lineno;
	bool too_long;
	int rc;
	while ((rc = imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err)) == 1)
		;
	CHECK_INT(rc, -1);
	CHECK(strstr(err, "truncated") != NULL);
	CHECK(strstr(err, path) != NULL);
	imei_dump_close(f);
	unlink(path);
	f = imei_dump_open("/nonexistent/dump.csv", err, sizeof err);
	CHECK(f == NULL);
	CHECK(strstr(err, "/nonexistent/dump.csv: No such file") != NULL);
	f = imei_dump_open("/tmp", err, sizeof err);
	CHECK(f == NULL);
	CHECK(strstr(err, "is a directory") != NULL);
}


/* gzip bytes of content (one member). */
static size_t gz_member(const char *content, size_t len, unsigned char *out, size_t cap)
{
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (unsigned char *)(uintptr_t)content;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	int rc = deflate(&zs, Z_FINISH);
	size_t n = cap - zs.avail_out;
	deflateEnd(&zs);
	return rc == Z_STREAM_END ? n : 0;
}

/* Read a whole file: the lines joined with '|', the return of the last imei_dump_next
 * (0 or -1) and its message. */
static int read_all(const char *path, char *joined, size_t cap, size_t *lines, size_t *unterminated, char *err,
                    size_t errlen)
{
	struct imei_dump_file *f = imei_dump_open(path, err, errlen);
	if (!f)
		return -2;
	const char *line;
	size_t len, lineno, n = 0;
	bool too_long;
	int rc;
	*lines = 0;
	joined[0] = 0;
	while ((rc = imei_dump_next(f, &line, &len, &lineno, &too_long, err, errlen)) == 1) {
		if (n + len + 2 < cap) {
			if (n)
				joined[n++] = '|';
			memcpy(joined + n, line, len);
			n += len;
			joined[n] = 0;
		}
		(*lines)++;
	}
	*unterminated = imei_dump_unterminated(f);
	imei_dump_close(f);
	return rc;
}

static void test_line_ends(void)
{
	char got[256], err[400];
	size_t lines, unterm;
	/* CR only (old Mac exporters): three lines, not one long line */
	const char *path = write_file("date,imei\r20260101,1\r20260102,2\r", 32, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_STR(got, "date,imei|20260101,1|20260102,2");
	CHECK_INT(lines, 3);
	CHECK_INT(unterm, 0);
	unlink(path);
	/* CR only, gzip, the last line without its end: read, and its number reported */
	unsigned char gz[512];
	size_t n = gz_member("a\rb\rc", 5, gz, sizeof gz);
	path = write_file((const char *)gz, n, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_STR(got, "a|b|c");
	CHECK_INT(unterm, 3);
	unlink(path);
	/* LF file whose last line is cut: reported */
	path = write_file("x\ny\n20260101,35209", 19, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_INT(lines, 3);
	CHECK_INT(unterm, 3);
	unlink(path);
	/* the last line too long to keep, and cut (refused as too long, but the copy may be
	 * short all the same): reported; the same line with its end: not. A range starting in
	 * the middle of that line skips it (the range before reads it): nothing to report. */
	static char longer[2 + 3 * IMEI_DUMP_MAX_LINE + 1];
	memcpy(longer, "x\n", 2);
	memset(longer + 2, 'y', 3 * IMEI_DUMP_MAX_LINE);
	for (int ended = 0; ended < 2; ended++) {
		longer[2 + 3 * IMEI_DUMP_MAX_LINE - 1] = ended ? '\n' : 'y';
		path = write_file(longer, 2 + 3 * IMEI_DUMP_MAX_LINE, false);
		CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
		CHECK_INT(lines, 2);
		CHECK_INT(unterm, ended ? 0 : 2);
		struct imei_dump_file *f = imei_dump_open_range(path, 100, UINT64_MAX, '\n', err, sizeof err);
		CHECK(f != NULL);
		const char *line;
		size_t len, lineno;
		bool too_long;
		CHECK_INT(f ? imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err) : -1, 0);
		CHECK_INT(f ? imei_dump_unterminated(f) : 1, 0);
		imei_dump_close(f);
		unlink(path);
	}
	/* a lone CR inside an LF file stays in its line (the row parser refuses it) */
	path = write_file("a\nb\rc\n", 6, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_INT(lines, 2);
	CHECK_STR(got, "a|b\rc");
	unlink(path);
	/* empty file, one-byte file */
	path = write_file("", 0, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_INT(lines, 0);
	unlink(path);
	path = write_file("\r", 1, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_INT(lines, 1);
	CHECK_INT(unterm, 0);
	unlink(path);
}

static void test_gzip_members(void)
{
	char got[256], err[400];
	size_t lines, unterm;
	unsigned char buf[2048];
	/* two members: both read (RFC 1952 §2.2), as gzip -d does */
	size_t a = gz_member("one\ntwo\n", 8, buf, sizeof buf);
	size_t b = gz_member("three\nfour\n", 11, buf + a, sizeof buf - a);
	const char *path = write_file((const char *)buf, a + b, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_STR(got, "one|two|three|four");
	unlink(path);
	/* a member, then plain text: refused with the byte offset where it starts */
	memcpy(buf + a, "20260101,352099001761481,410010000000001,\n", 42);
	path = write_file((const char *)buf, a + 42, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), -1);
	char want[64];
	snprintf(want, sizeof want, "byte %zu", a);
	CHECK_HAS(err, want);
	CHECK_HAS(err, path);
	CHECK_HAS(err, "42 bytes after the end of the gzip data");
	CHECK_HAS(err, "not another gzip member");
	unlink(path);
	/* a single trailing byte, and a trailing 0x1f alone */
	buf[a] = 0x1f;
	path = write_file((const char *)buf, a + 1, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), -1);
	CHECK_HAS(err, "1 byte after the end of the gzip data");
	unlink(path);
	/* a second member cut short: truncated, with its offset */
	b = gz_member("three\nfour\n", 11, buf + a, sizeof buf - a);
	path = write_file((const char *)buf, a + b - 5, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), -1);
	CHECK_HAS(err, "truncated");
	CHECK_HAS(err, "byte ");
	unlink(path);
	/* damaged deflate data */
	a = gz_member("one\ntwo\n", 8, buf, sizeof buf);
	buf[12] ^= 0xff;
	buf[13] ^= 0xff;
	path = write_file((const char *)buf, a, false);
	int rc = read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err);
	CHECK_INT(rc, -1);
	CHECK_HAS(err, "gzip");
	unlink(path);
}

static void test_encodings(void)
{
	char got[256], err[400];
	size_t lines, unterm;
	/* UTF-16LE with its byte order mark */
	const char le[] = "\xFF\xFE" "d\0a\0t\0e\0\n\0" "2\0" "0\0";
	const char *path = write_file(le, sizeof le - 1, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), -1);
	CHECK_HAS(err, "UTF-16 (little-endian)");
	CHECK_HAS(err, "byte order mark");
	CHECK_HAS(err, path);
	CHECK_INT(lines, 0);
	unlink(path);
	/* UTF-16BE without one: found from the NUL bytes; and inside gzip */
	const char be[] = "\0d\0a\0t\0e\0,\0i\0m\0e\0i\0\n\0" "2\0" "0\0" "2\0" "6";
	unsigned char gz[512];
	size_t n = gz_member(be, sizeof be - 1, gz, sizeof gz);
	path = write_file((const char *)gz, n, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), -1);
	CHECK_HAS(err, "UTF-16 (big-endian)");
	CHECK_HAS(err, "NUL bytes");
	unlink(path);
	/* a stray NUL in ASCII text is a row problem, not an encoding */
	path = write_file("date,imei\n2026\0" "101,1\n", 21, false);
	CHECK_INT(read_all(path, got, sizeof got, &lines, &unterm, err, sizeof err), 0);
	CHECK_INT(lines, 2);
	unlink(path);
}

int main(void)
{
	test_dates();
	test_layouts();
	test_rows();
	test_forms();
	test_reader(false);
	test_reader(true);
	test_truncated_gzip();
	test_line_ends();
	test_gzip_members();
	test_encodings();
	return CHECK_DONE("dump_reader");
}
