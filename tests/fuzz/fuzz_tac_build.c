/*
 * fuzz_tac_build.c — libFuzzer target for the C side of loading a TAC database: the
 * builder (keys, strings, extra columns, duplicates), freezing, the RAT parser of the
 * bands text, and identifier parsing in lookups. The input is split at '\n' into rows;
 * each row is split at '|' into key|brand|bands|extra name|extra value (missing fields
 * are empty). For any input:
 *   - a refused row comes with a message, an accepted one is counted;
 *   - the frozen db holds exactly the accepted distinct keys, and each of them looked up
 *     finds a record with that very key (the longest prefix of a key is the key);
 *   - the image copied in again gives the same bytes and the same answers;
 *   - the bands parser and the identifier parser accept any bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_tacdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROWS 256

struct row {
	const char *f[5];
	size_t len[5];
};

static size_t split_rows(const char *s, size_t n, struct row *rows)
{
	size_t count = 0, i = 0;
	while (i <= n && count < MAX_ROWS) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - s) : n;
		struct row *r = &rows[count++];
		memset(r, 0, sizeof *r);
		size_t k = 0, start = i;
		for (size_t j = i; j <= end && k < 5; j++) {
			if (j == end || s[j] == '|') {
				r->f[k] = s + start;
				r->len[k++] = j - start;
				start = j + 1;
			}
		}
		if (!nl)
			break;
		i = end + 1;
	}
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	struct row *rows = malloc(MAX_ROWS * sizeof *rows);
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(size && (data[0] & 1) ? IMEI_TACDB_KEEP_FIRST
	                                                                           : IMEI_TACDB_KEEP_LAST);
	if (!text || !rows || !b)
		goto out;
	memcpy(text, data, size);
	size_t nrows = split_rows(text, size, rows);
	size_t added = 0;
	for (size_t i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		struct imei_tac_fields f = { 0 };
		f.str[IMEI_TAC_BRAND] = r->f[1];
		f.len[IMEI_TAC_BRAND] = r->len[1];
		f.str[IMEI_TAC_BANDS] = r->f[2];
		f.len[IMEI_TAC_BANDS] = r->len[2];
		f.rat = imei_tac_rat_from_bands(r->f[2], r->len[2]);
		if (f.rat > 0xF)
			abort();
		struct imei_tac_kv kv = { r->f[3], r->len[3], r->f[4], r->len[4] };
		if (r->len[3]) {
			f.extra = &kv;
			f.nextra = 1;
		}
		struct imei_tacdb_error err = { { 0 } };
		uint32_t prev = UINT32_MAX;
		int rc = imei_tacdb_builder_add(b, r->f[0] ? r->f[0] : "", r->len[0], &f, (uint32_t)i, &prev, &err);
		if (rc < 0 && err.msg[0] == '\0')
			abort();
		if (rc == 1 && prev >= i)
			abort();
		added += rc == 0;
	}
	if (imei_tacdb_builder_count(b) != added)
		abort();
	struct imei_tacdb_error err;
	struct imei_tacdb *db = imei_tacdb_freeze(b, &err);
	if (!db)
		goto out; /* only out of memory */
	if (imei_tacdb_count(db) != added)
		abort();
	size_t len;
	const void *img = imei_tacdb_image(db, &len);
	struct imei_tacdb *copy = imei_tacdb_from_image(img, len, &err);
	if (!copy)
		abort();
	size_t len2;
	const void *img2 = imei_tacdb_image(copy, &len2);
	if (len2 != len || memcmp(img, img2, len) != 0)
		abort();
	for (uint32_t i = 0; i < added; i++) {
		struct imei_tac_record rec, got;
		if (!imei_tacdb_record(db, i, &rec))
			abort();
		uint32_t idx = imei_tacdb_lookup(copy, rec.key, rec.key_len);
		if (idx == IMEI_TACDB_NONE || !imei_tacdb_record(copy, idx, &got) || strcmp(got.key, rec.key) != 0)
			abort();
	}
	uint32_t idx;
	if (imei_tacdb_lookup_str(db, text, size, &idx, &err) == 0 && idx != IMEI_TACDB_NONE && idx >= added)
		abort();
	imei_tacdb_unref(copy);
	imei_tacdb_unref(db);
out:
	imei_tacdb_builder_free(b);
	free(rows);
	free(text);
	return 0;
}
