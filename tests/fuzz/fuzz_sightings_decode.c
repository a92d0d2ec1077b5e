/*
 * fuzz_sightings_decode.c — libFuzzer target for what the sightings store reads from
 * outside: stored LMDB records (sightings_wire.c) and identifier text (sightings_codec.c).
 * No crash, no sanitizer report, and:
 *   - a record that decodes is valid (imei_agg_valid) and encodes back to the same bytes;
 *   - merging further sightings into a decoded aggregate keeps it valid, and its day
 *     questions answer consistently (seen on a day => seen in any window holding it);
 *   - an identifier that parses prints back to text that parses to the same value.
 *
 * Input: byte 0 picks the part; the rest is a record (24 + 25 bytes of sighting key and
 * value, 16 + 9 of a pairing; other lengths are fed as they are) or an identifier:
 * byte 0 / 3 modulo 5 picks IMSI, MSISDN, operator, RAT or key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_sightings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sighting(const uint8_t *p, size_t n)
{
	struct imei_sighting_agg a;
	const char *why = NULL;
	size_t klen = n < IMEI_WIRE_SKEY ? n : IMEI_WIRE_SKEY;
	if (!imei_wire_sdecode(p, klen, p + klen, n - klen, &a, &why)) {
		if (!why)
			abort(); /* a refusal names its reason */
		return;
	}
	if (!imei_agg_valid(&a, NULL))
		abort();
	unsigned char k[IMEI_WIRE_SKEY], v[IMEI_WIRE_SVAL];
	imei_wire_skey(a.key, a.imsi, a.msisdn, k);
	imei_wire_sval(&a, v);
	if (memcmp(k, p, IMEI_WIRE_SKEY) || memcmp(v, p + IMEI_WIRE_SKEY, IMEI_WIRE_SVAL))
		abort();
	/* day questions: a day seen is seen in every window around it */
	int64_t ld = a.last / IMEI_SIGHT_DAY;
	for (int64_t d = ld - 70; d <= ld + 1; d++) {
		enum imei_seen on = imei_agg_seen_on(&a, d);
		enum imei_seen around = imei_agg_seen_between(&a, d - 3, d + 3);
		if (on == IMEI_SEEN_YES && around != IMEI_SEEN_YES)
			abort();
	}
	/* sightings merged in, derived from the bytes, keep the aggregate valid */
	for (size_t i = 0; i < 4; i++) {
		struct imei_sighting s = { .key = a.key, .imsi = a.imsi, .msisdn = a.msisdn };
		uint32_t delta = (uint32_t)p[(i * 7) % n] << 16 | (uint32_t)p[(i * 11 + 3) % n] << 8;
		/* later than the last seen, or earlier than the first (any u32 is a time) */
		s.time = i % 2 ? a.last + delta * 3 : (a.first > delta * 5 ? a.first - delta * 5 : 0);
		s.rat = (uint8_t)(p[i % n] % (IMEI_SIGHT_RAT_MAX + 1));
		imei_agg_apply(&a, &s);
		if (!imei_agg_valid(&a, &why))
			abort();
	}
}

static void check_pairing(const uint8_t *p, size_t n)
{
	struct imei_pairing q;
	const char *why = NULL;
	size_t klen = n < IMEI_WIRE_PKEY ? n : IMEI_WIRE_PKEY;
	if (!imei_wire_pdecode(p, klen, p + klen, n - klen, &q, &why)) {
		if (!why)
			abort();
		return;
	}
	unsigned char k[IMEI_WIRE_PKEY], v[IMEI_WIRE_PVAL];
	imei_wire_pkey(q.key, q.imsi, k);
	imei_wire_pval(q.msisdn, v);
	if (memcmp(k, p, IMEI_WIRE_PKEY) || memcmp(v, p + IMEI_WIRE_PKEY, IMEI_WIRE_PVAL))
		abort();
}

static void check_text(uint8_t which, const char *s, size_t n)
{
	struct imei_store_error err;
	char buf[32];
	uint64_t v, w;
	uint32_t op, op2;
	uint8_t rat;
	switch (which % 5) {
	case 0:
		if (imei_sight_imsi(s, n, &v, &err) == 0) {
			size_t len = imei_sight_digits_str(v, buf);
			if (imei_sight_imsi(buf, len, &w, &err) != 0 || w != v)
				abort();
		}
		break;
	case 1:
		if (imei_sight_msisdn(s, n, &v, &err) == 0) {
			size_t len = imei_sight_digits_str(v, buf);
			if (imei_sight_msisdn(buf, len, &w, &err) != 0 || w != v)
				abort();
		}
		break;
	case 2:
		if (imei_sight_operator(s, n, &op, &err) == 0) {
			size_t len = imei_sight_operator_str(op, buf);
			if (imei_sight_operator(buf, len, &op2, &err) != 0 || op2 != op)
				abort();
		}
		break;
	case 3:
		if (imei_sight_rat(s, n, &rat, &err) == 0 && !imei_sight_rat_name(rat))
			abort();
		break;
	default:
		if (imei_sight_key(s, n, &v, &err) == 0) {
			size_t len = imei_sight_key_str(v, buf);
			if (len != 14 || imei_sight_key(buf, len, &w, &err) != 0 || w != v)
				abort();
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0:
		check_sighting(p, n);
		break;
	case 1:
		check_pairing(p, n);
		break;
	default:
		check_text(data[0] / 3, (const char *)p, n);
		break;
	}
	return 0;
}
