/*
 * test_mobile_identity.c — TBCD Mobile Identity decode/encode: TS 24.008 §10.5.1.4,
 * TS 24.501 §9.11.3.4 and the MAP TBCD IMEI of TS 29.002.
 *
 * Vectors are libosmocore's (tests/gsm0408) and 3GPP TS 24.008 §10.5.1.4; on top, a differential
 * run against libosmocore's own decoder and encoder (osmo_mobile_identity_decode /
 * _encode_buf), loaded with dlopen so that the test links like every other one.
 * Every decode runs on a heap buffer of exactly the given size, so ASan sees any read
 * past it.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <osmocom/gsm/gsm48.h>

#include "check.h"
#include "imei_mobile_identity.h"

static uint64_t rng_state = 0x243F6A8885A308D3ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Decode from an exact-size heap copy. */
static enum imei_err decode(const uint8_t *bytes, size_t n, enum imei_mi_spec spec, struct imei_mi *mi,
                            struct imei_error *err)
{
	uint8_t *copy = malloc(n ? n : 1);
	if (!copy) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	if (n)
		memcpy(copy, bytes, n);
	enum imei_err e = imei_mi_decode(copy, n, spec, mi, err);
	free(copy);
	return e;
}

static bool bytes_equal(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	return na == nb && memcmp(a, b, na) == 0;
}

/* The error message names the octet it reports, as "octet N". */
static bool names_octet(const struct imei_error *err)
{
	char want[24];
	snprintf(want, sizeof want, "octet %zu", err->pos);
	return err->pos > 0 && strstr(err->msg, want) != NULL;
}

struct vector {
	enum imei_mi_spec spec;
	enum imei_mi_type type;
	const char *digits;
	size_t n;
	uint8_t bytes[IMEI_MI_MAX_OCTETS];
};

static const struct vector vectors[] = {
	/* TS 24.008, libosmocore's test vectors */
	{ IMEI_MI_24008, IMEI_MI_IMEI, "123456789012345", 8, { 0x1a, 0x32, 0x54, 0x76, 0x98, 0x10, 0x32, 0x54 } },
	{ IMEI_MI_24008, IMEI_MI_IMEI, "12345678901234", 8, { 0x12, 0x32, 0x54, 0x76, 0x98, 0x10, 0x32, 0xf4 } },
	{ IMEI_MI_24008, IMEI_MI_IMEISV, "9876543210987654", 9,
	  { 0x93, 0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0xf4 } },
	{ IMEI_MI_24008, IMEI_MI_IMEI, "490154203237518", 8, { 0x4a, 0x09, 0x51, 0x24, 0x30, 0x32, 0x57, 0x81 } },
	{ IMEI_MI_24008, IMEI_MI_IMSI, "901700000004620", 8, { 0x99, 0x10, 0x07, 0x00, 0x00, 0x00, 0x64, 0x02 } },
	{ IMEI_MI_24008, IMEI_MI_IMSI, "123456", 4, { 0x11, 0x32, 0x54, 0xf6 } },
	{ IMEI_MI_24008, IMEI_MI_IMSI, "262420000000001", 8, { 0x29, 0x26, 0x24, 0x00, 0x00, 0x00, 0x00, 0x10 } },
	/* TS 24.501: IMEI is type 3, IMEISV type 5 (TS 24.501 §9.11.3.4) */
	{ IMEI_MI_24501, IMEI_MI_IMEI, "490154203237518", 8, { 0x4b, 0x09, 0x51, 0x24, 0x30, 0x32, 0x57, 0x81 } },
	{ IMEI_MI_24501, IMEI_MI_IMEI, "49015420323751", 8, { 0x43, 0x09, 0x51, 0x24, 0x30, 0x32, 0x57, 0xf1 } },
	{ IMEI_MI_24501, IMEI_MI_IMEISV, "3520990017614899", 9,
	  { 0x35, 0x25, 0x90, 0x09, 0x10, 0x67, 0x41, 0x98, 0xf9 } },
	/* MAP TBCD-STRING (SIZE (8)): with the SVN, and without (digit 0 and a filler) */
	{ IMEI_MI_MAP, IMEI_MI_IMEISV, "3520990017614899", 8, { 0x53, 0x02, 0x99, 0x00, 0x71, 0x16, 0x84, 0x99 } },
	{ IMEI_MI_MAP, IMEI_MI_IMEI, "352099001761480", 8, { 0x53, 0x02, 0x99, 0x00, 0x71, 0x16, 0x84, 0xf0 } },
};
#define NVECTORS (sizeof vectors / sizeof vectors[0])

static void test_vectors(void)
{
	for (size_t i = 0; i < NVECTORS; i++) {
		const struct vector *v = &vectors[i];
		struct imei_mi mi;
		struct imei_error err;
		CHECK_INT(decode(v->bytes, v->n, v->spec, &mi, &err), IMEI_OK);
		CHECK_INT(mi.type, v->type);
		CHECK_STR(mi.digits, v->digits);
		CHECK_INT(mi.ndigits, strlen(v->digits));
		if (v->spec != IMEI_MI_MAP)
			CHECK_INT(mi.type_code, v->bytes[0] & 7);
		uint8_t out[IMEI_MI_MAX_OCTETS];
		size_t n = imei_mi_encode(v->type, v->digits, strlen(v->digits), v->spec, out, &err);
		CHECK(bytes_equal(out, n, v->bytes, v->n));
	}
	/* MAP without SVN from a 14-digit body or a 15-digit IMEI: the CD is not carried */
	uint8_t out[IMEI_MI_MAX_OCTETS];
	const uint8_t map_no_svn[8] = { 0x53, 0x02, 0x99, 0x00, 0x71, 0x16, 0x84, 0xf0 };
	size_t n = imei_mi_encode(IMEI_MI_IMEI, "35209900176148", 14, IMEI_MI_MAP, out, NULL);
	CHECK(bytes_equal(out, n, map_no_svn, 8));
	n = imei_mi_encode(IMEI_MI_IMEI, "352099001761481", 15, IMEI_MI_MAP, out, NULL);
	CHECK(bytes_equal(out, n, map_no_svn, 8));
	/* MAP SVN 99 */
	struct imei_mi mi;
	CHECK_INT(decode((const uint8_t *)"\x53\x02\x99\x00\x71\x16\x84\x99", 8, IMEI_MI_MAP, &mi, NULL), IMEI_OK);
	CHECK_STR(mi.digits + 14, "99");
	CHECK_STR(imei_mi_type_name(IMEI_MI_IMEISV), "imeisv");
	CHECK_STR(imei_mi_type_name(IMEI_MI_GUTI), "5g-guti");
}

/* Every truncation of every vector: an error, and no read past the (heap) buffer. */
static void test_truncations(void)
{
	for (size_t i = 0; i < NVECTORS; i++) {
		const struct vector *v = &vectors[i];
		for (size_t n = 0; n < v->n; n++) {
			struct imei_mi mi;
			struct imei_error err;
			enum imei_err e = decode(v->bytes, n, v->spec, &mi, &err);
			/* an IMSI may legitimately be shorter; the IMEI kinds may not */
			if (v->type == IMEI_MI_IMSI && n >= 4 && e == IMEI_OK)
				CHECK(mi.ndigits < strlen(v->digits));
			else
				CHECK(e != IMEI_OK && err.code == e && err.msg[0]);
		}
		/* and the vector with one more octet */
		uint8_t longer[IMEI_MI_MAX_OCTETS + 1];
		memcpy(longer, v->bytes, v->n);
		longer[v->n] = 0x11;
		struct imei_mi mi;
		CHECK(decode(longer, v->n + 1, v->spec, &mi, NULL) != IMEI_OK);
	}
}

static void test_decode_errors(void)
{
	struct imei_mi mi;
	struct imei_error err;
	CHECK_INT(decode(NULL, 0, IMEI_MI_24008, &mi, &err), IMEI_ERR_EMPTY);
	CHECK_INT(decode(NULL, 0, IMEI_MI_MAP, &mi, &err), IMEI_ERR_EMPTY);
	/* type 0 (no identity) in both specs; 24.008 types 6 and 7 are unassigned */
	CHECK_INT(decode((const uint8_t *)"\x10\x32", 2, IMEI_MI_24008, &mi, &err), IMEI_ERR_CHAR);
	CHECK_INT(err.pos, 1);
	CHECK(strstr(err.msg, "octet 1") != NULL);
	CHECK_INT(decode((const uint8_t *)"\x10\x32", 2, IMEI_MI_24501, &mi, &err), IMEI_ERR_CHAR);
	CHECK_INT(decode((const uint8_t *)"\x16\x32", 2, IMEI_MI_24008, &mi, &err), IMEI_ERR_CHAR);
	/* a nibble above 9 inside the digits, at each octet */
	for (size_t at = 0; at < 8; at++) {
		uint8_t b[8] = { 0x1a, 0x32, 0x54, 0x76, 0x98, 0x10, 0x32, 0x54 };
		b[at] = at == 0 ? (uint8_t)(0xc0 | (b[0] & 0x0f)) : (uint8_t)((b[at] & 0xf0) | 0x0b);
		CHECK_INT(decode(b, 8, IMEI_MI_24008, &mi, &err), IMEI_ERR_CHAR);
		CHECK_INT(err.pos, at + 1);
		CHECK(names_octet(&err));
		/* the filler 0xF in the middle is not a digit either */
		static const uint8_t orig[8] = { 0x1a, 0x32, 0x54, 0x76, 0x98, 0x10, 0x32, 0x54 };
		b[at] = at == 0 ? 0xfa : (uint8_t)((orig[at] & 0x0f) | 0xf0);
		CHECK_INT(decode(b, 8, IMEI_MI_24008, &mi, &err), IMEI_ERR_CHAR);
		CHECK(names_octet(&err));
	}
	/* even count with a digit where the filler belongs */
	CHECK_INT(decode((const uint8_t *)"\x12\x32\x54\x76\x98\x10\x32\x54", 8, IMEI_MI_24008, &mi, &err),
	          IMEI_ERR_CHAR);
	CHECK_INT(err.pos, 8);
	CHECK(strstr(err.msg, "filler") != NULL);
	/* odd count ending in the filler */
	CHECK_INT(decode((const uint8_t *)"\x1a\x32\x54\x76\x98\x10\x32\xf4", 8, IMEI_MI_24008, &mi, &err),
	          IMEI_ERR_CHAR);
	CHECK_INT(err.pos, 8);
	/* wrong digit counts for the type: 13-digit IMEI, 15-digit IMEISV, 5-digit IMSI */
	CHECK_INT(decode((const uint8_t *)"\x1a\x32\x54\x76\x98\x10\x32", 7, IMEI_MI_24008, &mi, &err), IMEI_ERR_LENGTH);
	CHECK_INT(decode((const uint8_t *)"\x9b\x78\x56\x34\x12\x90\x78\x56", 8, IMEI_MI_24008, &mi, &err),
	          IMEI_ERR_LENGTH);
	CHECK_INT(decode((const uint8_t *)"\x19\x32\x54", 3, IMEI_MI_24008, &mi, &err), IMEI_ERR_LENGTH);
	CHECK(strstr(err.msg, "5 digits") != NULL);
	/* too long for any digit identity */
	CHECK_INT(decode((const uint8_t *)"\x19\x32\x54\x76\x98\x10\x32\x54\x76\x98", 10, IMEI_MI_24008, &mi, &err),
	          IMEI_ERR_TOO_LONG);
	/* an even count in one octet */
	CHECK_INT(decode((const uint8_t *)"\x12", 1, IMEI_MI_24008, &mi, &err), IMEI_ERR_CHAR);
	/* MAP: exactly 8 octets of digits; the filler only as the very last nibble */
	CHECK_INT(decode((const uint8_t *)"\x53\x02\x99\x00\x71\x16\x84", 7, IMEI_MI_MAP, &mi, &err), IMEI_ERR_LENGTH);
	CHECK_INT(decode((const uint8_t *)"\x53\x02\x99\x00\x71\x16\xf4\xf0", 8, IMEI_MI_MAP, &mi, &err), IMEI_ERR_CHAR);
	CHECK_INT(err.pos, 7);
	CHECK_INT(decode((const uint8_t *)"\x53\x02\x99\x00\x71\x16\x84\x0f", 8, IMEI_MI_MAP, &mi, &err), IMEI_ERR_CHAR);
	CHECK_INT(err.pos, 8);
}

/* Types that are not digit strings are reported with their octets in hex. */
static void test_other_types(void)
{
	struct imei_mi mi;
	struct imei_error err;
	/* 24.008 TMSI: f4 + 4 octets */
	CHECK_INT(decode((const uint8_t *)"\xf4\xde\xad\xbe\xef", 5, IMEI_MI_24008, &mi, &err), IMEI_OK);
	CHECK_INT(mi.type, IMEI_MI_TMSI);
	CHECK_STR(mi.digits, "deadbeef");
	CHECK_INT(mi.nraw, 4);
	/* 24.501: SUCI 1, 5G-GUTI 2, 5G-S-TMSI 4, MAC 6, EUI-64 7 */
	static const enum imei_mi_type t501[8] = { IMEI_MI_NONE, IMEI_MI_SUCI, IMEI_MI_GUTI, IMEI_MI_IMEI,
		                                       IMEI_MI_S_TMSI, IMEI_MI_IMEISV, IMEI_MI_MAC, IMEI_MI_EUI64 };
	for (uint8_t code = 1; code < 8; code++) {
		if (code == 3 || code == 5)
			continue;
		uint8_t b[7] = { (uint8_t)(0xf0 | code), 0x00, 0x11, 0x22, 0x33, 0x44, 0x55 };
		CHECK_INT(decode(b, 7, IMEI_MI_24501, &mi, &err), IMEI_OK);
		CHECK_INT(mi.type, t501[code]);
		CHECK_INT(mi.type_code, code);
		CHECK_STR(mi.digits, "001122334455");
	}
	/* 24.501 IMSI is not a type there: code 1 is SUCI */
	CHECK_INT(decode((const uint8_t *)"\x99\x10\x07\x00\x00\x00\x64\x02", 8, IMEI_MI_24501, &mi, &err), IMEI_OK);
	CHECK_INT(mi.type, IMEI_MI_SUCI);
	/* a non-digit identity too long for the hex buffer is refused, not truncated */
	uint8_t big[12] = { 0xf4 };
	CHECK_INT(decode(big, sizeof big, IMEI_MI_24008, &mi, &err), IMEI_ERR_TOO_LONG);
	CHECK_INT(decode(big, 10, IMEI_MI_24008, &mi, &err), IMEI_OK);
	CHECK_INT(strlen(mi.digits), 18);
}

static void test_encode_errors(void)
{
	uint8_t out[IMEI_MI_MAX_OCTETS];
	struct imei_error err;
	CHECK_INT(imei_mi_encode(IMEI_MI_IMEI, "3520990017614a", 14, IMEI_MI_24008, out, &err), 0);
	CHECK_INT(err.code, IMEI_ERR_CHAR);
	CHECK_INT(err.pos, 14);
	CHECK(strstr(err.msg, "position 14") != NULL);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMEI, "3520990017614", 13, IMEI_MI_24008, out, &err), 0);
	CHECK_INT(err.code, IMEI_ERR_LENGTH);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMEI, "3520990017614899", 16, IMEI_MI_24008, out, &err), 0);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMEISV, "352099001761481", 15, IMEI_MI_24501, out, &err), 0);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMSI, "12345", 5, IMEI_MI_24008, out, &err), 0);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMSI, "1234567890123456", 16, IMEI_MI_24008, out, &err), 0);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMSI, "262420000000001", 15, IMEI_MI_24501, out, &err), 0);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMSI, "262420000000001", 15, IMEI_MI_MAP, out, &err), 0);
	CHECK_INT(imei_mi_encode(IMEI_MI_TMSI, "12345678", 8, IMEI_MI_24008, out, &err), 0);
	CHECK_INT(imei_mi_encode(IMEI_MI_IMEI, "", 0, IMEI_MI_24008, out, &err), 0);
	CHECK(err.msg[0] != 0);
}

static void random_digits(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('0' + rnd() % 10);
	out[n] = 0;
}

/* encode then decode gives the digits back, in all three specs. */
static void test_round_trips(void)
{
	long bad = 0;
	for (int round = 0; round < 100000; round++) {
		char d[17];
		static const struct {
			enum imei_mi_type type;
			size_t lo, hi;
		} shapes[] = { { IMEI_MI_IMEI, 14, 15 }, { IMEI_MI_IMEISV, 16, 16 }, { IMEI_MI_IMSI, 6, 15 } };
		int s = (int)(rnd() % 3);
		size_t n = shapes[s].lo + rnd() % (shapes[s].hi - shapes[s].lo + 1);
		random_digits(d, n);
		for (int spec = IMEI_MI_24008; spec <= IMEI_MI_MAP; spec++) {
			uint8_t out[IMEI_MI_MAX_OCTETS];
			size_t olen = imei_mi_encode(shapes[s].type, d, n, (enum imei_mi_spec)spec, out, NULL);
			if (shapes[s].type == IMEI_MI_IMSI && spec != IMEI_MI_24008) {
				bad += olen != 0;
				continue;
			}
			struct imei_mi mi;
			if (olen == 0 || decode(out, olen, (enum imei_mi_spec)spec, &mi, NULL) != IMEI_OK) {
				bad++;
				continue;
			}
			if (spec == IMEI_MI_MAP && shapes[s].type == IMEI_MI_IMEI) {
				/* TS 29.002: the 14-digit body, then digit 0 where the CD would be */
				bad += mi.type != IMEI_MI_IMEI || mi.ndigits != 15 || memcmp(mi.digits, d, 14) != 0 ||
				       mi.digits[14] != '0';
			} else {
				bad += mi.type != shapes[s].type || strcmp(mi.digits, d) != 0;
			}
			/* octet count: NAS 1 + digits/2, MAP always 8 */
			bad += olen != (spec == IMEI_MI_MAP ? 8 : 1 + n / 2);
		}
	}
	CHECK_INT(bad, 0);
}

/* decode then encode gives the same octets back, for every digit identity that decodes. */
static void test_reencode_random(void)
{
	long decoded = 0, bad = 0;
	for (int round = 0; round < 300000; round++) {
		uint8_t b[10];
		size_t n = 1 + rnd() % 10;
		for (size_t i = 0; i < sizeof b; i++) {
			uint64_t r = rnd();
			/* mostly BCD octets so that many decode */
			b[i] = r % 8 ? (uint8_t)(((r >> 8) % 10) << 4 | (r >> 16) % 10) : (uint8_t)(r >> 24);
		}
		if (rnd() % 2)
			b[n - 1] |= 0xf0;
		enum imei_mi_spec spec = (enum imei_mi_spec)(rnd() % 3);
		if (spec == IMEI_MI_MAP)
			n = 8;
		struct imei_mi mi;
		if (decode(b, n, spec, &mi, NULL) != IMEI_OK)
			continue;
		if (mi.type != IMEI_MI_IMSI && mi.type != IMEI_MI_IMEI && mi.type != IMEI_MI_IMEISV)
			continue;
		decoded++;
		uint8_t out[IMEI_MI_MAX_OCTETS];
		size_t olen = imei_mi_encode(mi.type, mi.digits, mi.ndigits, spec, out, NULL);
		if (spec == IMEI_MI_MAP && mi.type == IMEI_MI_IMEI && mi.digits[14] != '0') {
			/* a MAP IMEI that carried a digit other than 0 before the filler: encode
			 * writes the canonical 0, and nothing else changes */
			bad += olen != 8 || memcmp(out, b, 7) != 0 || out[7] != 0xf0;
			continue;
		}
		bad += !bytes_equal(out, olen, b, n);
	}
	CHECK(decoded > 30000);
	CHECK_INT(bad, 0);
}

/* --- differential: libosmocore (TS 24.008 only; it knows neither 24.501 nor MAP) ---- */

typedef int (*osmo_decode_fn)(struct osmo_mobile_identity *mi, const uint8_t *data, uint8_t len, bool allow_hex);
typedef int (*osmo_encode_fn)(uint8_t *buf, size_t buflen, const struct osmo_mobile_identity *mi, bool allow_hex);

static const char *osmo_digits(const struct osmo_mobile_identity *om)
{
	switch (om->type) {
	case GSM_MI_TYPE_IMSI: return om->imsi;
	case GSM_MI_TYPE_IMEI: return om->imei;
	case GSM_MI_TYPE_IMEISV: return om->imeisv;
	default: return "";
	}
}

static void test_against_libosmocore(void)
{
	void *lib = dlopen("libosmogsm.so", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "cannot load libosmogsm.so (%s): run `make deps` (libosmocore-dev)\n", dlerror());
		CHECK(!"libosmogsm.so loads");
		return;
	}
	osmo_decode_fn osmo_decode;
	osmo_encode_fn osmo_encode;
	*(void **)&osmo_decode = dlsym(lib, "osmo_mobile_identity_decode");
	*(void **)&osmo_encode = dlsym(lib, "osmo_mobile_identity_encode_buf");
	CHECK(osmo_decode != NULL && osmo_encode != NULL);
	if (!osmo_decode || !osmo_encode) {
		dlclose(lib);
		return;
	}
	long agree = 0, disagree = 0, both_ok = 0;
	for (long round = 0; round < 1000000; round++) {
		uint8_t b[12];
		size_t n = rnd() % 4 ? 7 + rnd() % 3 : 1 + rnd() % 10; /* mostly IMEI/IMEISV sizes */
		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd();
			b[i] = r % 32 ? (uint8_t)(((r >> 8) % 10) << 4 | (r >> 16) % 10) : (uint8_t)(r >> 24);
		}
		if (rnd() % 3 == 0)
			b[n - 1] |= 0xf0;
		b[0] = (uint8_t)((b[0] & 0xf8) | rnd() % 4); /* none, IMSI, IMEI, IMEISV */
		struct osmo_mobile_identity om;
		memset(&om, 0, sizeof om);
		struct imei_mi mi;
		int orc = osmo_decode(&om, b, (uint8_t)n, false);
		enum imei_err e = decode(b, n, IMEI_MI_24008, &mi, NULL);
		bool same = (orc == 0) == (e == IMEI_OK) && (e != IMEI_OK || strcmp(osmo_digits(&om), mi.digits) == 0);
		if (same) {
			agree++;
			both_ok += e == IMEI_OK;
		} else if (disagree++ < 5) {
			fprintf(stderr, "libosmocore and we disagree on %zu octets starting %02x: osmo %d '%s', us %d '%s'\n",
			        n, b[0], orc, osmo_digits(&om), e, mi.digits);
		}
		if (e == IMEI_OK && orc == 0) {
			uint8_t ours[IMEI_MI_MAX_OCTETS], theirs[16];
			size_t olen = imei_mi_encode(mi.type, mi.digits, mi.ndigits, IMEI_MI_24008, ours, NULL);
			int tlen = osmo_encode(theirs, sizeof theirs, &om, false);
			if (!(tlen > 0 && (size_t)tlen == olen && memcmp(theirs, ours, olen) == 0) && disagree++ < 5)
				fprintf(stderr, "encodings differ for '%s'\n", mi.digits);
		}
	}
	CHECK_INT(disagree, 0);
	CHECK(both_ok > 50000); /* about one in ten decodes */
	dlclose(lib);
}

int main(void)
{
	test_vectors();
	test_truncations();
	test_decode_errors();
	test_other_types();
	test_encode_errors();
	test_round_trips();
	test_reencode_random();
	test_against_libosmocore();
	return CHECK_DONE("test_mobile_identity");
}
