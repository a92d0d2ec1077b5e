/*
 * fuzz_dump_reader.c — libFuzzer target for operator dump rows (imei_dump_reader.h): the row
 * parser under the default layout and under a layout read from the input's first line,
 * and the line reader over the same bytes written to a file. For any input:
 *   - a refused row has a reason, a field inside the row (0: the whole row) and a whole
 *     message that names it;
 *   - an accepted row is consistent: a date in range, an IMSI of 6-15 digits, an IMEI
 *     kind with a 14-digit key and digits that give the same key back, or a text
 *     identity of 1-32 printable bytes;
 *   - the parser gives what the plain reference it replaced gives (tests/c/dump_parse_ref.h):
 *     the same refusal (reason, field, message) or the same row, with and without the
 *     date of the row before remembered;
 *   - the reader returns every line of the input, in order, cut at the line limit, with
 *     line numbers that count up by one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../c/dump_parse_ref.h"
#include "imei_dump_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The same verdict as the reference, and with the date of the row before remembered. */
static void same_as_reference(const struct imei_dump_layout *lay, struct imei_dump_dates *dates, const char *line,
                              size_t len, enum imei_dump_reject r, const struct imei_dump_row *row,
                              const struct imei_dump_problem *why)
{
	char scratch[IMEI_DUMP_MAX_IDENT * 2 + IMEI_MAX_DIGITS + 8], scratch2[sizeof scratch];
	struct imei_dump_row rows[2];
	struct imei_dump_problem whys[2];
	memset(rows, 0, sizeof rows);
	memset(whys, 0, sizeof whys);
	enum imei_dump_reject rr[2] = {
		ref_parse(lay, line, len, &rows[0], scratch, &whys[0]),
		imei_dump_parse_row(lay, dates, line, len, &rows[1], scratch2, &whys[1]),
	};
	for (int i = 0; i < 2; i++) {
		if (rr[i] != r)
			abort();
		if (r != IMEI_DUMP_OK) {
			if (whys[i].reason != why->reason || whys[i].field != why->field || strcmp(whys[i].msg, why->msg) != 0)
				abort();
			continue;
		}
		const struct imei_dump_row *a = &rows[i];
		if (a->day != row->day || a->key != row->key || a->form != row->form || a->kind != row->kind ||
		    a->imsi != row->imsi || a->msisdn != row->msisdn || a->rat != row->rat || a->ident_len != row->ident_len ||
		    (a->ident == NULL) != (row->ident == NULL) || (a->ident && memcmp(a->ident, row->ident, a->ident_len) != 0))
			abort();
	}
}

static void check_row(const struct imei_dump_layout *lay, struct imei_dump_dates *dates, const char *line,
                      size_t len)
{
	char scratch[IMEI_DUMP_MAX_IDENT * 2 + IMEI_MAX_DIGITS + 8];
	struct imei_dump_row row;
	struct imei_dump_problem why;
	enum imei_dump_reject r = imei_dump_parse(lay, line, len, &row, scratch, &why);
	same_as_reference(lay, dates, line, len, r, &row, &why);
	if (r != IMEI_DUMP_OK) {
		size_t fields = 1;
		for (size_t i = 0; i < len; i++)
			fields += line[i] == lay->delim;
		if (r >= IMEI_DUMP_NREJECT || why.reason != r || why.field > fields || why.msg[0] == 0 ||
		    !memchr(why.msg, 0, sizeof why.msg))
			abort();
		return;
	}
	if (row.day < IMEI_DUMP_MIN_DAY || row.day > IMEI_DUMP_MAX_DAY)
		abort();
	if (row.imsi < 1000000ULL || row.imsi >= 2000000000000000ULL)
		abort();
	if (row.form == IMEI_DUMP_FORM_TEXT) {
		if (row.ident_len == 0 || row.ident_len > IMEI_DUMP_MAX_IDENT || row.key != 0)
			abort();
		for (size_t i = 0; i < row.ident_len; i++)
			if ((unsigned char)row.ident[i] < 0x20 || (unsigned char)row.ident[i] > 0x7e)
				abort();
	} else {
		if (row.key >= 100000000000000ULL || row.form > IMEI_DUMP_FORM_IMEISV + 99)
			abort();
		char digits[20];
		size_t n = imei_dump_form_digits(row.key, row.form, digits);
		struct imei_id id;
		if (imei_parse(digits, n, &id, NULL) != IMEI_OK || strtoull(id.key, NULL, 10) != row.key ||
		    id.kind != row.kind)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct imei_dump_layout lay, head;
	imei_dump_layout_default(&lay);
	const char *nl = memchr(s, '\n', size);
	size_t first = nl ? (size_t)(nl - s) : size;
	char err[300];
	bool have_head = imei_dump_header_layout(s, first, ',', &head, err, sizeof err) == 0;
	struct imei_dump_dates dates = { .ymd = 0 }, head_dates = { .ymd = 0 };
	/* every line through the parser */
	size_t pos = 0;
	while (pos <= size) {
		const char *e = memchr(s + pos, '\n', size - pos);
		size_t len = e ? (size_t)(e - (s + pos)) : size - pos;
		char *copy = malloc(len ? len : 1); /* exactly the line: ASan sees any overread */
		memcpy(copy, s + pos, len);
		check_row(&lay, &dates, copy, len);
		if (have_head)
			check_row(&head, &head_dates, copy, len);
		free(copy);
		if (!e)
			break;
		pos += len + 1;
	}
	/* the reader over the same bytes: for one input in 8 (a file and 1.3 MiB of buffers
	 * per input would otherwise slow the parser's fuzzing a hundredfold) */
	if (size == 0 || data[size - 1] % 8 != 0)
		return 0;
	char path[] = "/dev/shm/fuzz_dump_reader_XXXXXX"; /* memory: a file per input */
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	struct imei_dump_file *f = imei_dump_open(path, err, sizeof err);
	if (!f)
		abort();
	const char *line;
	size_t len, lineno, expect = 0;
	bool too_long;
	int rc;
	while ((rc = imei_dump_next(f, &line, &len, &lineno, &too_long, err, sizeof err)) == 1) {
		if (lineno != ++expect || len > IMEI_DUMP_MAX_LINE || (too_long && len != IMEI_DUMP_MAX_LINE))
			abort();
	}
	/* a plain text file reads to its end (a gzip one may be damaged, and UTF-16/32 or
	 * binary data is refused by name: then an error) */
	if (rc < 0 && !imei_dump_gzip(f) && !strstr(err, "a dump is ASCII or UTF-8 text"))
		abort();
	imei_dump_close(f);
	unlink(path);
	return 0;
}
