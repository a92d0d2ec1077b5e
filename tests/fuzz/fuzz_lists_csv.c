/*
 * fuzz_lists_csv.c — libFuzzer target for the list loader (imei_list_load_buffer, which
 * imei_list_load also uses) and the RFC 4180 reader under it. For any buffer:
 *   - a NULL list comes with a message that names the list;
 *   - the report adds up (rows = loaded + rejected + duplicates), keeps the first 20
 *     errors with increasing line numbers inside the buffer and non-empty reasons;
 *   - every row that a plain re-reading finds well formed is a member afterwards
 *     (the loader rejects nothing it should keep);
 *   - membership tests on arbitrary bytes stay inside them.
 * The input lives in a heap copy of exactly its size, so ASan catches any overread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_csv.h"
#include "imei_identity.h"
#include "imei_lists.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t count_lines(const char *s, size_t n)
{
	size_t lines = 1;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n' || (s[i] == '\r' && !(i + 1 < n && s[i + 1] == '\n')))
			lines++;
	return lines;
}

static void check_lines(size_t n, size_t count, size_t first_line, size_t max_line, const size_t *lines,
                        size_t stride, const char *reasons)
{
	if (n != (count < IMEI_LIST_MAX_ERRORS ? count : IMEI_LIST_MAX_ERRORS))
		abort();
	size_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		size_t line = *(const size_t *)(const void *)((const char *)lines + i * stride);
		const char *reason = reasons + i * stride;
		if (line < first_line || line <= prev || line > max_line || reason[0] == 0 || !memchr(reason, 0, 96))
			abort();
		prev = line;
	}
}

static bool is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Re-read the buffer plainly and require every well-formed row to be a member. */
static void check_members(const struct imei_list *l, const char *buf, size_t len)
{
	struct imei_csv c;
	struct imei_csv_field f, kf, sf;
	enum imei_csv_step st;
	size_t key_col = SIZE_MAX, imsi_col = SIZE_MAX, tac_col = SIZE_MAX, ncols = 0;
	bool header = false;
	char v[64];
	imei_csv_init(&c, buf, len);
	while ((st = imei_csv_field(&c, &f)) != IMEI_CSV_EOF) {
		size_t nf = 0;
		bool bad = false, blank = !f.quoted;
		for (size_t i = 0; i < f.len; i++)
			blank &= f.raw[i] == ' ' || f.raw[i] == '\t';
		memset(&kf, 0, sizeof kf);
		memset(&sf, 0, sizeof sf);
		for (;; nf++) {
			bad |= f.error != NULL;
			if (!header) {
				size_t n = imei_csv_value(&f, v, sizeof v);
				for (size_t i = 0; i < n && i < sizeof v; i++)
					if (v[i] >= 'A' && v[i] <= 'Z')
						v[i] = (char)(v[i] - 'A' + 'a');
				if (n < sizeof v && (!strcmp(v, "imei") || !strcmp(v, "approved_imei") ||
				                     !strcmp(v, "golden_imei")) && strlen(v) == n)
					key_col = nf;
				else if (n == 4 && !strcmp(v, "imsi"))
					imsi_col = nf;
				else if (n == 3 && !strcmp(v, "tac"))
					tac_col = nf;
			}
			if (nf == key_col || (key_col == SIZE_MAX && nf == tac_col))
				kf = f;
			if (nf == imsi_col)
				sf = f;
			if (st == IMEI_CSV_LAST)
				break;
			st = imei_csv_field(&c, &f);
		}
		nf++;
		if (nf == 1 && blank)
			continue;
		if (!header) {
			header = true;
			ncols = nf;
			continue;
		}
		if (bad || nf != ncols || !kf.raw)
			continue;
		size_t n = imei_csv_value(&kf, v, sizeof v);
		if (n >= sizeof v)
			continue;
		if (imei_list_kind(l) == IMEI_LIST_TACS) {
			if (n == 8 && is_digits(v, 8) && !imei_list_has_tac(l, v))
				abort();
			continue;
		}
		struct imei_id id;
		if (imei_parse(v, n, &id, NULL) != IMEI_OK ||
		    (id.kind != IMEI_KIND_IMEI && id.kind != IMEI_KIND_IMEI14 && id.kind != IMEI_KIND_IMEISV))
			continue;
		if (imei_list_kind(l) == IMEI_LIST_KEYS) {
			if (!imei_list_has_key(l, id.key) || !imei_list_has(l, v, n, NULL, 0))
				abort();
			continue;
		}
		char s[32];
		size_t m = sf.raw ? imei_csv_value(&sf, s, sizeof s) : 0;
		if (m >= 6 && m <= 15 && is_digits(s, m) &&
		    (!imei_list_has_pair(l, id.key, s, m) || !imei_list_has_key(l, id.key)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	char err[256] = "";
	struct imei_list_report rep;
	struct imei_list *l = imei_list_load_buffer(buf, size, "fuzz", &rep, err, sizeof err);
	if (!l) {
		if (strncmp(err, "fuzz", 4) != 0 || rep.rows != 0)
			abort();
		free(buf);
		return 0;
	}
	size_t max_line = count_lines(buf, size);
	if (rep.rows != rep.loaded + rep.rejected + rep.duplicates || imei_list_size(l) != rep.loaded ||
	    rep.warnings > rep.rows)
		abort();
	check_lines(rep.nerrors, rep.rejected, 2, max_line, &rep.errors[0].line, sizeof rep.errors[0],
	            rep.errors[0].reason);
	check_lines(rep.nwarning_lines, rep.warnings, 2, max_line, &rep.warning_lines[0].line,
	            sizeof rep.warning_lines[0], rep.warning_lines[0].reason);
	enum imei_list_kind kind = imei_list_kind(l);
	if (kind != IMEI_LIST_KEYS && kind != IMEI_LIST_PAIRS && kind != IMEI_LIST_TACS)
		abort();
	size_t slots = rep.loaded + rep.loaded / 8 + 1 + 16 + rep.loaded / 256 + 8; /* home slots, slack, padding */
	if (kind != IMEI_LIST_PAIRS && (imei_list_bytes(l) < 8 * slots || imei_list_bytes(l) > 8 * (slots + rep.loaded)))
		abort();
	check_members(l, buf, size);

	/* membership on arbitrary bytes: bounded by the given lengths, NUL-terminated copies */
	(void)imei_list_has(l, buf, size, buf, size);
	(void)imei_list_has(l, buf, size, NULL, 0);
	char s[24];
	size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
	memcpy(s, buf, n);
	s[n] = 0;
	(void)imei_list_has_key(l, s);
	(void)imei_list_has_tac(l, s);
	(void)imei_list_has_pair(l, s, s, n);
	imei_list_unref(l);
	free(buf);
	return 0;
}
