/*
 * fuzz_tac_image.c — libFuzzer target for the TAC image reader (imei_tacdb_from_image,
 * which imei_tacdb_open also uses) and the lookups over whatever it accepts.
 * The first byte chooses the mode:
 *   - odd: the rest is taken as is (mostly refused by the checksum: magic, size and
 *     truncation checks get exercised);
 *   - even: the checksum of the rest is computed and written into it first, so the
 *     fuzzer reaches the structure checks behind it (sections, buckets, trie, records).
 * For any input: a refusal comes with a non-empty message; an accepted image answers
 * lookups (numeric, digit strings, the input's own bytes as an identifier), and every
 * record, string and extra column can be read without leaving the image (ASan checks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tacdb_format.h"
#include "imei_tacdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const struct imei_tacdb *db, const uint8_t *data, size_t size)
{
	size_t n = imei_tacdb_count(db);
	volatile size_t sink = 0;
	for (uint32_t i = 0; i < n && i < 4096; i++) {
		struct imei_tac_record rec;
		if (!imei_tacdb_record(db, i, &rec))
			abort();
		if (rec.key_len < 1 || rec.key_len > IMEI_TACDB_KEY_MAX || strlen(rec.key) != rec.key_len)
			abort();
		for (int f = 0; f < IMEI_TAC_NFIELDS; f++)
			sink += strlen(rec.str[f]);
		for (size_t j = 0; j < rec.nextra; j++) {
			const char *k, *v;
			if (!imei_tacdb_extra(db, i, j, &k, &v))
				abort();
			sink += strlen(k) + strlen(v);
		}
		/* any answer is a record of this db (the trie of a crafted image may disagree
		 * with its key list, so a key may find nothing, but never something outside) */
		uint32_t found = imei_tacdb_lookup(db, rec.key, rec.key_len);
		if (found != IMEI_TACDB_NONE && found >= n)
			abort();
	}
	uint32_t idx;
	struct imei_tacdb_error err;
	if (imei_tacdb_lookup_str(db, (const char *)data, size, &idx, &err) == 0 && idx != IMEI_TACDB_NONE && idx >= n)
		abort();
	for (uint32_t tac = 0; tac < 100000000u; tac += 9999991u)
		sink += imei_tacdb_lookup_tac(db, tac) != IMEI_TACDB_NONE;
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool fix = (data[0] & 1) == 0;
	data++;
	size--;
	/* a heap copy of exactly the input's size, so ASan sees any read past its end */
	unsigned char *img = malloc(size ? size : 1);
	if (!img)
		return 0;
	memcpy(img, data, size);
	if (fix && size >= sizeof(struct tac_header)) {
		uint64_t sum = imei_tac_checksum(img, size);
		memcpy(img + offsetof(struct tac_header, checksum), &sum, sizeof sum);
	}
	struct imei_tacdb_error err = { { 0 } };
	struct imei_tacdb *db = imei_tacdb_from_image(img, size, &err);
	if (!db) {
		if (err.msg[0] == '\0' || !memchr(err.msg, '\0', sizeof err.msg))
			abort();
	} else {
		exercise(db, img, size);
		imei_tacdb_unref(db);
	}
	free(img);
	return 0;
}
