/*
 * fuzz_mobile_identity.c — libFuzzer target for imei_mi_decode / imei_mi_encode
 * (TS 24.008 §10.5.1.4, TS 24.501 §9.11.3.4, TS 29.002 MAP IMEI). For each of the three
 * specs: decode the input (never reading past it); an error is reported consistently;
 * a decoded IMSI/IMEI/IMEISV re-encodes to the very same octets (MAP: except a digit other
 * than 0 before the filler, which encode writes as the canonical 0), an IMEI/IMEISV parses
 * with imei_parse, and other types come back as hex of the remaining octets. Then the input
 * as a digit string: whatever encodes decodes back to the same digits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imei_mobile_identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_decode(const uint8_t *data, size_t size, enum imei_mi_spec spec)
{
	struct imei_mi mi;
	struct imei_error err;
	enum imei_err e = imei_mi_decode(data, size, spec, &mi, &err);
	if (e != IMEI_OK) {
		if (err.code != e || err.msg[0] == 0 || err.pos > size)
			abort();
		return;
	}
	if (mi.type != IMEI_MI_IMSI && mi.type != IMEI_MI_IMEI && mi.type != IMEI_MI_IMEISV) {
		if (spec == IMEI_MI_MAP || mi.nraw != size - 1 || strlen(mi.digits) != 2 * (size - 1))
			abort();
		for (size_t i = 1; i < size; i++) {
			char two[3];
			snprintf(two, sizeof two, "%02x", data[i]);
			if (memcmp(mi.digits + 2 * (i - 1), two, 2) != 0)
				abort();
		}
		return;
	}
	if (strlen(mi.digits) != mi.ndigits)
		abort();
	if (mi.type != IMEI_MI_IMSI) {
		struct imei_id id;
		if (imei_parse(mi.digits, mi.ndigits, &id, NULL) != IMEI_OK)
			abort();
		if ((mi.type == IMEI_MI_IMEISV) != (id.kind == IMEI_KIND_IMEISV))
			abort();
	}
	uint8_t out[IMEI_MI_MAX_OCTETS];
	size_t n = imei_mi_encode(mi.type, mi.digits, mi.ndigits, spec, out, NULL);
	if (n == 0)
		abort();
	if (spec == IMEI_MI_MAP && mi.type == IMEI_MI_IMEI && mi.digits[14] != '0') {
		if (n != 8 || memcmp(out, data, 7) != 0 || out[7] != 0xF0)
			abort();
		return;
	}
	if (n != size || memcmp(out, data, size) != 0)
		abort();
}

static void check_encode(const uint8_t *data, size_t size)
{
	static const enum imei_mi_type types[] = { IMEI_MI_IMSI, IMEI_MI_IMEI, IMEI_MI_IMEISV, IMEI_MI_TMSI };
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		for (int spec = IMEI_MI_24008; spec <= IMEI_MI_MAP; spec++) {
			uint8_t out[IMEI_MI_MAX_OCTETS];
			struct imei_error err;
			size_t n = imei_mi_encode(types[t], (const char *)data, size, (enum imei_mi_spec)spec, out, &err);
			if (n == 0) {
				if (err.msg[0] == 0)
					abort();
				continue;
			}
			if (n > IMEI_MI_MAX_OCTETS)
				abort();
			struct imei_mi mi;
			if (imei_mi_decode(out, n, (enum imei_mi_spec)spec, &mi, NULL) != IMEI_OK)
				abort();
			if (spec == IMEI_MI_MAP && types[t] == IMEI_MI_IMEI) {
				if (mi.ndigits != 15 || memcmp(mi.digits, data, 14) != 0 || mi.digits[14] != '0')
					abort();
			} else if (mi.type != types[t] || mi.ndigits != size || memcmp(mi.digits, data, size) != 0) {
				abort();
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int spec = IMEI_MI_24008; spec <= IMEI_MI_MAP; spec++)
		check_decode(data, size, (enum imei_mi_spec)spec);
	check_encode(data, size);
	return 0;
}
