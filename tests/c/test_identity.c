/*
 * test_identity.c — the identifier core: imei_parse, imei_valid, imei_valid15, Luhn
 * (TS 23.003 §6.2 and Annex B), MEID/ESN (3GPP2), RBI names and junk flags.
 *
 * Expected values come from the specs (TS 23.003 Annex B example), from python-stdnum
 * (MEID check digits, pESNs, decimal forms) or from the slow reference Luhn below,
 * never from the code under test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "imei_identity.h"

/* --- references ------------------------------------------------------------------ */

/* Luhn as TS 23.003 Annex B words it: double every second digit from the right of the
 * body, add the digits of the products and the undoubled digits. */
static int ref_cd(const char *body, size_t n)
{
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		int d = body[n - 1 - i] - '0';
		if (i % 2 == 0) {
			d *= 2;
			sum += d / 10 + d % 10;
		} else {
			sum += d;
		}
	}
	return (10 - sum % 10) % 10;
}

/* 15 arbitrary bytes: all ASCII digits, and the last is the Luhn digit of the first 14. */
static bool ref_valid15(const unsigned char *s)
{
	for (int i = 0; i < 15; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return ref_cd((const char *)s, 14) == s[14] - '0';
}

/* xorshift64*: a seeded generator so that failures repeat */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void random_digits(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)('0' + rnd() % 10);
}

/* A valid 15-digit IMEI from a random body, using the reference Luhn. */
static void random_imei(char out[16])
{
	random_digits(out, 14);
	out[14] = (char)('0' + ref_cd(out, 14));
	out[15] = 0;
}

static enum imei_err parse_cstr(const char *s, struct imei_id *id, struct imei_error *err)
{
	return imei_parse(s, strlen(s), id, err);
}

/* The error message names the position it reports, as "position N". */
static bool names_position(const struct imei_error *err)
{
	char want[32];
	snprintf(want, sizeof want, "position %zu", err->pos);
	return err->pos > 0 && strstr(err->msg, want) != NULL;
}

#define CHECK_PARSE_FAILS(s, len, want_code, want_pos)                                       \
	do {                                                                                     \
		struct imei_id id_;                                                                  \
		struct imei_error e_;                                                                \
		CHECK_INT(imei_parse((s), (len), &id_, &e_), (want_code));                           \
		CHECK_INT(e_.code, (want_code));                                                     \
		CHECK_INT(e_.pos, (want_pos));                                                       \
		CHECK(e_.msg[0] != 0);                                                               \
		if ((want_pos) > 0)                                                                  \
			CHECK(names_position(&e_));                                                      \
		CHECK(!imei_valid((s), (len)));                                                      \
	} while (0)

/* --- Annex B and the well-known vectors --------------------------------------------- */

static void test_check_digit_vectors(void)
{
	static const struct {
		const char *body;
		char cd;
	} v[] = {
		{ "26053179311383", '7' }, /* TS 23.003 Annex B */
		{ "49015420323751", '8' },
		{ "35209900176148", '1' },
		{ "00000000000000", '0' },
		{ "35824005111111", '0' }, /* the emulator IMEI 358240051111110 */
		{ "12345678901234", '7' },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char cd = imei_check_digit(v[i].body, 14);
		CHECK_INT(cd, v[i].cd);
		CHECK_INT(cd - '0', ref_cd(v[i].body, 14));
		char full[16];
		memcpy(full, v[i].body, 14);
		full[14] = v[i].cd;
		full[15] = 0;
		CHECK(imei_luhn(full, 15));
		CHECK(imei_valid15(full, 15));
		CHECK(imei_valid(full, 15));
		full[14] = (char)('0' + (v[i].cd - '0' + 1) % 10);
		CHECK(!imei_luhn(full, 15));
		CHECK(!imei_valid15(full, 15));
		CHECK(!imei_valid(full, 15));
	}
	/* other lengths: credit-card style 16 digits, and the degenerate ones */
	CHECK(imei_luhn("4111111111111111", 16));
	CHECK(!imei_luhn("4111111111111112", 16));
	CHECK(imei_luhn("0", 1));
	CHECK(!imei_luhn("1", 1));
	CHECK(!imei_luhn("", 0));
	CHECK(!imei_luhn("12a4", 4));
	CHECK_INT(imei_check_digit("", 0), 0);
	CHECK_INT(imei_check_digit("12 4", 4), 0);
	CHECK_INT(imei_check_digit("7", 1), '5'); /* 7*2 = 14 -> 1+4 = 5 -> (10-5) = 5 */
	/* the check digit makes any body Luhn-valid, at every length */
	for (int n = 1; n <= 30; n++) {
		char body[32];
		random_digits(body, (size_t)n);
		body[n] = imei_check_digit(body, (size_t)n);
		CHECK_INT(body[n] - '0', ref_cd(body, (size_t)n));
		CHECK(imei_luhn(body, (size_t)n + 1));
	}
}

/* --- imei_valid15 against the reference on millions of 15-byte strings ------------- */

static void test_valid15_random(void)
{
	long mismatches = 0, valid_seen = 0;
	unsigned char *s = malloc(15); /* exactly 15 bytes: ASan sees any read past them */
	if (!s) {
		CHECK(!"out of memory");
		return;
	}
	for (long round = 0; round < 3000000; round++) {
		uint64_t r = rnd();
		switch (round % 4) {
		case 0: /* random bytes */
			for (int i = 0; i < 15; i++)
				s[i] = (unsigned char)(rnd() >> 32);
			break;
		case 1: /* random digits: one in ten is valid */
			random_digits((char *)s, 15);
			break;
		case 2: { /* a valid IMEI */
			char tmp[16];
			random_imei(tmp);
			memcpy(s, tmp, 15);
			break;
		}
		default: /* digits with bytes near the digit range: '/', ':', 0x30|0x80, 0xB9 … */
			random_digits((char *)s, 15);
			{
				static const unsigned char near[] = { '/', ':', 0x00, 0x7f, 0x80, 0xB0, 0xB9, 0xFF,
				                                      ' ', '-', 'A', 0x20 + 0x10, 0x3A, 0x2F };
				s[r % 15] = near[(r >> 8) % sizeof near];
			}
			break;
		}
		bool want = ref_valid15(s);
		valid_seen += want;
		if (imei_valid15((const char *)s, 15) != want) {
			if (mismatches++ < 5)
				fprintf(stderr, "imei_valid15 disagrees with the reference on %.15s\n", (const char *)s);
		}
	}
	CHECK_INT(mismatches, 0);
	CHECK(valid_seen > 700000); /* the generator really produced valid ones */
	free(s);
}

/* Every single-byte corruption (all 256 values at all 15 places) of many valid IMEIs. */
static void test_valid15_single_byte_exhaustive(void)
{
	long mismatches = 0, checked = 0;
	unsigned char *s = malloc(15);
	if (!s) {
		CHECK(!"out of memory");
		return;
	}
	for (int k = 0; k < 500; k++) {
		char imei[16];
		random_imei(imei);
		for (int pos = 0; pos < 15; pos++) {
			for (int b = 0; b < 256; b++) {
				memcpy(s, imei, 15);
				s[pos] = (unsigned char)b;
				bool want = ref_valid15(s);
				mismatches += imei_valid15((const char *)s, 15) != want;
				/* Luhn catches every single-digit error */
				if (b >= '0' && b <= '9' && b != imei[pos])
					CHECK(!want);
				checked++;
			}
		}
	}
	CHECK_INT(mismatches, 0);
	CHECK_INT(checked, 500L * 15 * 256);
	/* and adjacent transpositions of different digits, except 0<->9, which Luhn misses */
	long missed = 0;
	for (int k = 0; k < 20000; k++) {
		char imei[16];
		random_imei(imei);
		int pos = (int)(rnd() % 14);
		if (imei[pos] == imei[pos + 1])
			continue;
		char t = imei[pos];
		imei[pos] = imei[pos + 1];
		imei[pos + 1] = t;
		bool zero_nine = (t == '0' && imei[pos] == '9') || (t == '9' && imei[pos] == '0');
		CHECK_INT(imei_valid15(imei, 15), ref_valid15((unsigned char *)imei));
		if (!zero_nine && imei_valid15(imei, 15))
			missed++;
	}
	CHECK_INT(missed, 0);
	free(s);
	CHECK(!imei_valid15("49015420323751", 14));
	CHECK(!imei_valid15("4901542032375180", 16));
}

/* imei_valid agrees with imei_parse on every input (it has a fast path for 15 bytes). */
static bool valid_by_parse(const char *s, size_t n)
{
	struct imei_id id;
	if (imei_parse(s, n, &id, NULL) != IMEI_OK)
		return false;
	return id.kind == IMEI_KIND_IMEI14 || id.kind == IMEI_KIND_IMEISV || (id.kind == IMEI_KIND_IMEI && id.cd_ok);
}

static void test_valid_agrees_with_parse(void)
{
	static const char alphabet[] = "0123456789 -\tA";
	long mismatches = 0;
	char buf[24];
	for (long round = 0; round < 400000; round++) {
		size_t n = 12 + rnd() % 9; /* 12..20 bytes, many of them 15 */
		if (round % 3 == 0)
			n = 15;
		char imei[16];
		random_imei(imei);
		/* a valid IMEI or body with separators sprinkled in, sometimes other bytes */
		size_t j = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd() % 16;
			if (r < 12 && j < 15)
				buf[i] = imei[j++];
			else
				buf[i] = alphabet[rnd() % (sizeof alphabet - 1)];
		}
		if (imei_valid(buf, n) != valid_by_parse(buf, n)) {
			if (mismatches++ < 5)
				fprintf(stderr, "imei_valid disagrees with imei_parse on \"%.*s\"\n", (int)n, buf);
		}
	}
	CHECK_INT(mismatches, 0);
	/* the cases that exposed the 15-byte fast path: 14 digits and one separator */
	CHECK(imei_valid("4901-5420323751", 15));
	CHECK(imei_valid(" 49015420323751", 15));
	CHECK(imei_valid("49015420323751\n", 15));
	CHECK(imei_valid("4901-5420323752", 15)); /* any 14 digits */
	CHECK(!imei_valid("49015420323751 9", 16));
	CHECK(imei_valid("49015420323751 8", 16));
}

/* --- parse: the fields ------------------------------------------------------------ */

static void test_parse_imei_fields(void)
{
	struct imei_id id;
	struct imei_error err;
	CHECK_INT(parse_cstr("260531793113837", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_IMEI);
	CHECK_INT(id.pei, IMEI_PEI_NONE);
	CHECK_INT(id.ndigits, 15);
	CHECK_STR(id.digits, "260531793113837");
	CHECK_STR(id.key, "26053179311383");
	CHECK_STR(id.tac, "26053179");
	CHECK_STR(id.snr, "311383");
	CHECK_STR(id.rbi, "26");
	CHECK_INT(id.cd, '7');
	CHECK_INT(id.cd_expected, '7');
	CHECK(id.cd_ok);
	CHECK_STR(id.svn, "");
	CHECK_INT(id.junk, IMEI_JUNK_NONE);

	/* spare digit 0 (TS 23.003 §6.2.1): same key, cd_ok false */
	CHECK_INT(parse_cstr("490154203237510", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_IMEI);
	CHECK_STR(id.key, "49015420323751");
	CHECK_INT(id.cd, '0');
	CHECK_INT(id.cd_expected, '8');
	CHECK(!id.cd_ok);
	CHECK(!imei_valid("490154203237510", 15));
	/* a body whose right check digit is 0: the spare digit happens to be right */
	CHECK_INT(parse_cstr("000000000000000", &id, &err), IMEI_OK);
	CHECK(id.cd_ok);
	CHECK_INT(id.junk, IMEI_JUNK_ALL_ZEROS);
	char zero_ok[16] = { 0 };
	do
		random_digits(zero_ok, 14);
	while (ref_cd(zero_ok, 14) != 0);
	zero_ok[14] = '0';
	CHECK_INT(parse_cstr(zero_ok, &id, &err), IMEI_OK);
	CHECK(id.cd_ok);

	/* a wrong check digit still parses: the key is the identity */
	CHECK_INT(parse_cstr("352099001761482", &id, &err), IMEI_OK);
	CHECK_STR(id.key, "35209900176148");
	CHECK_INT(id.cd, '2');
	CHECK_INT(id.cd_expected, '1');
	CHECK(!id.cd_ok);

	/* 14 digits: no CD given; cd_expected is still reported */
	CHECK_INT(parse_cstr("35209900176148", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_IMEI14);
	CHECK_STR(id.key, "35209900176148");
	CHECK_INT(id.cd, 0);
	CHECK_INT(id.cd_expected, '1');
	CHECK(!id.cd_ok);
	CHECK(imei_valid("35209900176148", 14));

	/* IMEISV, SVN 99 (reserved, TS 23.003 §6.2.2) and 00 */
	CHECK_INT(parse_cstr("3520990017614899", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_IMEISV);
	CHECK_STR(id.key, "35209900176148");
	CHECK_STR(id.svn, "99");
	CHECK_INT(id.cd, 0);
	CHECK(imei_valid("3520990017614899", 16));
	CHECK_INT(parse_cstr("35-209900-176148-00", &id, &err), IMEI_OK);
	CHECK_STR(id.svn, "00");
	CHECK_STR(id.digits, "3520990017614800");
}

static void test_parse_pei(void)
{
	struct imei_id id;
	struct imei_error err;
	CHECK_INT(parse_cstr("imei-490154203237518", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_IMEI);
	CHECK_INT(id.pei, IMEI_PEI_IMEI);
	CHECK_STR(id.digits, "490154203237518");
	CHECK(id.cd_ok);
	CHECK(imei_valid("imei-490154203237518", 20));
	CHECK_INT(parse_cstr("IMEISV-3520990017614899", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_IMEISV);
	CHECK_INT(id.pei, IMEI_PEI_IMEISV);
	/* TS 29.571's own example fails Luhn: it parses, with cd_ok false */
	CHECK_INT(parse_cstr("imei-012345678901234", &id, &err), IMEI_OK);
	CHECK(!id.cd_ok);
	CHECK(!imei_valid("imei-012345678901234", 20));
	/* the prefix fixes the length */
	CHECK_PARSE_FAILS("imei-49015420323751", 19, IMEI_ERR_PEI, 0);
	CHECK_PARSE_FAILS("imei-3520990017614899", 21, IMEI_ERR_PEI, 0);
	CHECK_PARSE_FAILS("imeisv-490154203237518", 22, IMEI_ERR_PEI, 0);
	CHECK_PARSE_FAILS("imei-", 5, IMEI_ERR_EMPTY, 0);
	CHECK_PARSE_FAILS("imei-A9015420323751B", 20, IMEI_ERR_HEX, 6);
	/* other PEI types are not equipment identities of ours */
	CHECK_PARSE_FAILS("mac-00-11-22-33-44-55", 21, IMEI_ERR_NOT_EQUIPMENT, 1);
	CHECK_PARSE_FAILS("  eui-0011223344556677", 22, IMEI_ERR_NOT_EQUIPMENT, 3);
	/* "imei" without its hyphen is not a prefix */
	CHECK_PARSE_FAILS("imei490154203237518", 19, IMEI_ERR_CHAR, 1);
}

/* --- lengths, separators, bytes ---------------------------------------------------- */

static void test_lengths(void)
{
	/* the same digit stream cut at every length 0..20 */
	const char *stream = "35209900176148123456"; /* 20 digits */
	for (size_t n = 0; n <= 20; n++) {
		struct imei_id id;
		struct imei_error err;
		enum imei_err e = imei_parse(stream, n, &id, &err);
		switch (n) {
		case 0:
			CHECK_INT(e, IMEI_ERR_EMPTY);
			break;
		case 8:
			CHECK_INT(e, IMEI_OK);
			CHECK_INT(id.kind, IMEI_KIND_ESN);
			break;
		case 11: /* decimal ESN: manufacturer code 352 > 255 */
			CHECK_INT(e, IMEI_ERR_LENGTH);
			CHECK(strstr(err.msg, "out of range") != NULL);
			break;
		case 14:
			CHECK_INT(e, IMEI_OK);
			CHECK_INT(id.kind, IMEI_KIND_IMEI14);
			break;
		case 15:
			CHECK_INT(e, IMEI_OK);
			CHECK_INT(id.kind, IMEI_KIND_IMEI);
			break;
		case 16:
			CHECK_INT(e, IMEI_OK);
			CHECK_INT(id.kind, IMEI_KIND_IMEISV);
			break;
		case 18:
		case 19: /* decimal MEID: serial 61481234 > 2^24 */
			CHECK_INT(e, IMEI_ERR_LENGTH);
			CHECK(strstr(err.msg, "out of range") != NULL);
			break;
		case 20:
			CHECK_INT(e, IMEI_ERR_TOO_LONG);
			CHECK_INT(err.pos, 20);
			CHECK(names_position(&err));
			break;
		default:
			CHECK_INT(e, IMEI_ERR_LENGTH);
			{
				char want[16];
				snprintf(want, sizeof want, "%zu digits", n);
				CHECK(strstr(err.msg, want) != NULL);
			}
		}
		CHECK_INT(imei_valid(stream, n), n == 14 || n == 15 || n == 16); /* 352099001761481 is right */
		if (e != IMEI_OK)
			CHECK_INT(err.code, e);
	}
}

static void test_separators(void)
{
	const char *imei = "490154203237518";
	char buf[128];
	/* one separator at every place, then each gap filled, then runs of them */
	for (int sep = 0; sep < 2; sep++) {
		char c = sep ? '-' : ' ';
		for (int at = 0; at <= 15; at++) {
			size_t n = 0;
			for (int i = 0; i <= 15; i++) {
				if (i == at)
					buf[n++] = c;
				if (i < 15)
					buf[n++] = imei[i];
			}
			struct imei_id id;
			CHECK_INT(imei_parse(buf, n, &id, NULL), IMEI_OK);
			CHECK_STR(id.digits, imei);
			CHECK(imei_valid(buf, n));
		}
		size_t n = 0;
		for (int i = 0; i < 15; i++) {
			buf[n++] = c;
			buf[n++] = c;
			buf[n++] = imei[i];
		}
		buf[n++] = c;
		struct imei_id id;
		CHECK_INT(imei_parse(buf, n, &id, NULL), IMEI_OK);
		CHECK_STR(id.digits, imei);
	}
	/* random mixes of both, and surrounding white space of every kind */
	for (int round = 0; round < 20000; round++) {
		size_t n = 0;
		static const char ws[] = " \t\r\n\v\f";
		for (uint64_t k = rnd() % 4; k > 0; k--)
			buf[n++] = ws[rnd() % 6];
		for (int i = 0; i < 15; i++) {
			for (uint64_t k = rnd() % 3; k > 0; k--)
				buf[n++] = rnd() & 1 ? ' ' : '-';
			buf[n++] = imei[i];
		}
		for (uint64_t k = rnd() % 4; k > 0; k--)
			buf[n++] = ws[rnd() % 6];
		struct imei_id id;
		CHECK_INT(imei_parse(buf, n, &id, NULL), IMEI_OK);
		CHECK_STR(id.digits, imei);
		CHECK(imei_valid(buf, n));
	}
	/* white space other than ' ' inside is a bad character at its position */
	CHECK_PARSE_FAILS("4901542\t03237518", 16, IMEI_ERR_CHAR, 8);
	CHECK_PARSE_FAILS("4901542\n03237518", 16, IMEI_ERR_CHAR, 8);
	CHECK_PARSE_FAILS("49015420_3237518", 16, IMEI_ERR_CHAR, 9);
	CHECK_PARSE_FAILS("4901542032.37518", 16, IMEI_ERR_CHAR, 11);
	CHECK_PARSE_FAILS(" - - ", 5, IMEI_ERR_EMPTY, 0);
	CHECK_PARSE_FAILS(" \t\r\n", 4, IMEI_ERR_EMPTY, 0);
}

static void test_bad_bytes(void)
{
	struct imei_id id;
	struct imei_error err;
	/* NUL anywhere, and the message says so */
	const char imei[] = "490154203237518";
	for (size_t at = 0; at < 15; at++) {
		char buf[16];
		memcpy(buf, imei, 15);
		buf[at] = 0;
		CHECK_INT(imei_parse(buf, 15, &id, &err), IMEI_ERR_CHAR);
		CHECK_INT(err.pos, at + 1);
		CHECK(strstr(err.msg, "NUL") != NULL);
		CHECK(names_position(&err));
		CHECK(!imei_valid(buf, 15));
		CHECK(!imei_valid15(buf, 15));
	}
	/* a trailing NUL is not white space either */
	CHECK_PARSE_FAILS("490154203237518\0", 16, IMEI_ERR_CHAR, 16);
	/* non-ASCII: UTF-8 'é', an en dash, a fullwidth digit, NBSP; shown as \xNN */
	CHECK_PARSE_FAILS("49015420323751\xC3\xA9", 16, IMEI_ERR_CHAR, 15);
	CHECK_INT(imei_parse("49015420323751\xC3\xA9", 16, &id, &err), IMEI_ERR_CHAR);
	CHECK(strstr(err.msg, "\\xC3") != NULL);
	CHECK_PARSE_FAILS("35\xE2\x80\x93" "209900\xE2\x80\x93" "176148\xE2\x80\x93" "1", 24, IMEI_ERR_CHAR, 3);
	CHECK_PARSE_FAILS("4901542032375\xEF\xBC\x91" "8", 17, IMEI_ERR_CHAR, 14);
	CHECK_PARSE_FAILS("\xC2\xA0" "490154203237518", 17, IMEI_ERR_CHAR, 1);
	/* every byte outside [0-9A-Fa-f -] and the white space trimmed at the ends is a CHAR error */
	for (int b = 0; b < 256; b++) {
		char buf[16] = "49015420X237518";
		buf[8] = (char)b;
		enum imei_err e = imei_parse(buf, 15, &id, &err);
		bool digit = b >= '0' && b <= '9', hex = (b >= 'A' && b <= 'F') || (b >= 'a' && b <= 'f');
		if (digit)
			CHECK_INT(e, IMEI_OK);
		else if (b == ' ' || b == '-')
			CHECK(e == IMEI_OK && id.kind == IMEI_KIND_IMEI14);
		else if (hex)
			CHECK(e == IMEI_ERR_HEX && err.pos == 9 && names_position(&err));
		else
			CHECK(e == IMEI_ERR_CHAR && err.pos == 9 && names_position(&err));
	}
	/* printable bad characters are quoted in the message */
	CHECK_INT(parse_cstr("4901542x3237518", &id, &err), IMEI_ERR_CHAR);
	CHECK(strstr(err.msg, "'x'") != NULL);
}

static void test_long_input(void)
{
	size_t big = 1 << 20;
	char *buf = malloc(big + 32);
	if (!buf) {
		CHECK(!"out of memory");
		return;
	}
	struct imei_id id;
	struct imei_error err;
	/* a megabyte of digits stops at the 20th */
	memset(buf, '7', big);
	CHECK_INT(imei_parse(buf, big, &id, &err), IMEI_ERR_TOO_LONG);
	CHECK_INT(err.pos, IMEI_MAX_DIGITS + 1);
	CHECK(names_position(&err));
	CHECK(!imei_valid(buf, big));
	/* a megabyte of separators around one IMEI is still that IMEI */
	memset(buf, ' ', big);
	memcpy(buf + big / 2, "490154203237518", 15);
	CHECK_INT(imei_parse(buf, big, &id, &err), IMEI_OK);
	CHECK_STR(id.digits, "490154203237518");
	memset(buf, '-', big);
	memcpy(buf + big / 3, "49015420", 8);
	memcpy(buf + 2 * (big / 3), "3237518", 7);
	CHECK_INT(imei_parse(buf, big, &id, &err), IMEI_OK);
	CHECK_STR(id.digits, "490154203237518");
	/* the position of a bad byte far in */
	buf[big - 5] = '#';
	CHECK_INT(imei_parse(buf, big, &id, &err), IMEI_ERR_CHAR);
	CHECK_INT(err.pos, big - 4);
	CHECK(names_position(&err));
	free(buf);
}

/* Every error message fits its buffer whole, even with 7-digit positions. */
static void test_messages_fit(void)
{
	static const char *const tails[] = {
		"", "x", "4901542032\00137518", "490154203237518\x80", "99999999999999999999999",
		"imei-4901542032375", "imei-A90154203237518", "imeisv-A901542032375181", "MAC-00-11-22-33-44-55",
		"3520990017614B", "AF01234", "12345", "429496729616777215", "268435455916777215", "25612345678",
		"4901542032375-8\t0", "Ab-Cd-Ef-01-23-45-67-89-AB",
	};
	size_t pad = 1000000;
	char *buf = malloc(pad + 64);
	if (!buf) {
		CHECK(!"out of memory");
		return;
	}
	memset(buf, ' ', pad);
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		for (int padded = 0; padded < 2; padded++) {
			size_t n = strlen(tails[i]);
			const char *s = tails[i];
			if (padded) {
				memcpy(buf + pad, tails[i], n);
				s = buf;
				n += pad;
			}
			struct imei_id id;
			struct imei_error err;
			if (imei_parse(s, n, &id, &err) == IMEI_OK) {
				CHECK(!"an error expected");
				continue;
			}
			if (strlen(err.msg) >= sizeof err.msg - 1)
				fprintf(stderr, "message may be cut: %s\n", err.msg);
			CHECK(strlen(err.msg) < sizeof err.msg - 1);
			if (err.pos)
				CHECK(names_position(&err));
		}
	}
	free(buf);
}

/* --- MEID and ESN ----------------------------------------------------------------- */

static void test_meid(void)
{
	struct imei_id id;
	struct imei_error err;
	/* values from python-stdnum: meid.calc_check_digit, to_pseudo_esn, format(dec) */
	static const struct {
		const char *hex, cd, *pesn, *dec;
	} v[] = {
		{ "AF0123450ABCDE", 'C', "8016B128", "293608736500703710" },
		{ "A0000000002329", '9', "8051F1AB", "268435456000009001" },
		{ "A10000009296F2", 'F', "8075B7ED", "270113177609606898" },
		{ "FFFFFFFFFFFFFF", 'E', "80056C08", "429496729516777215" },
		{ "A0000000000000", '6', "800E99EF", "268435456000000000" },
	};
	static const char dec_cd[] = { '0', '3', '4', '3', '4' }; /* Luhn of the decimal forms */
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		char buf[32], pesn[9];
		CHECK_INT(parse_cstr(v[i].hex, &id, &err), IMEI_OK);
		CHECK_INT(id.kind, IMEI_KIND_MEID);
		CHECK_STR(id.digits, v[i].hex);
		CHECK_INT(id.cd, 0);
		CHECK_INT(id.cd_expected, v[i].cd);
		CHECK_INT(imei_meid_check_digit(v[i].hex), v[i].cd);
		snprintf(pesn, sizeof pesn, "%08X", (unsigned)id.pesn);
		CHECK_STR(pesn, v[i].pesn);
		CHECK(!id.decimal_form);
		CHECK(!imei_valid(v[i].hex, 14));
		/* with its check digit, lower case, spaced */
		snprintf(buf, sizeof buf, "%s%c", v[i].hex, v[i].cd);
		for (char *p = buf; *p; p++)
			if (*p >= 'A' && *p <= 'F')
				*p = (char)(*p - 'A' + 'a');
		CHECK_INT(parse_cstr(buf, &id, &err), IMEI_OK);
		CHECK_INT(id.kind, IMEI_KIND_MEID);
		CHECK_STR(id.digits, v[i].hex); /* the MEID proper; the CD is reported apart */
		CHECK_INT(id.cd, v[i].cd);
		CHECK(id.cd_ok);
		/* a wrong hex check digit */
		buf[14] = v[i].cd == '0' ? '1' : '0';
		CHECK_INT(parse_cstr(buf, &id, &err), IMEI_OK);
		CHECK(!id.cd_ok);
		/* the decimal form, with and without its (decimal Luhn) check digit */
		CHECK_INT(parse_cstr(v[i].dec, &id, &err), IMEI_OK);
		CHECK_INT(id.kind, IMEI_KIND_MEID);
		CHECK(id.decimal_form);
		CHECK_STR(id.digits, v[i].hex);
		snprintf(pesn, sizeof pesn, "%08X", (unsigned)id.pesn);
		CHECK_STR(pesn, v[i].pesn);
		CHECK_INT(id.cd_expected, dec_cd[i]);
		CHECK_INT(id.cd_expected - '0', ref_cd(v[i].dec, 18));
		snprintf(buf, sizeof buf, "%.5s %.5s %.4s %.4s %c", v[i].dec, v[i].dec + 5, v[i].dec + 10, v[i].dec + 14,
		         dec_cd[i]);
		CHECK_INT(parse_cstr(buf, &id, &err), IMEI_OK);
		CHECK_STR(id.digits, v[i].hex);
		CHECK_INT(id.cd, dec_cd[i]);
		CHECK_INT(id.cd_expected, dec_cd[i]);
		CHECK(id.cd_ok);
		buf[strlen(buf) - 1] = (char)('0' + (dec_cd[i] - '0' + 1) % 10);
		CHECK_INT(parse_cstr(buf, &id, &err), IMEI_OK);
		CHECK(!id.cd_ok);
		CHECK(!imei_valid(buf, strlen(buf)));
	}
	/* hex base-16 Luhn against a reference on random MEIDs */
	for (int k = 0; k < 20000; k++) {
		char hex[15];
		for (int i = 0; i < 14; i++)
			hex[i] = "0123456789ABCDEF"[rnd() % 16];
		hex[14] = 0;
		unsigned sum = 0;
		for (int i = 0; i < 14; i++) {
			unsigned d = (unsigned)(hex[13 - i] <= '9' ? hex[13 - i] - '0' : hex[13 - i] - 'A' + 10);
			if (i % 2 == 0)
				d *= 2;
			sum += d / 16 + d % 16;
		}
		CHECK_INT(imei_meid_check_digit(hex), "0123456789ABCDEF"[(16 - sum % 16) % 16]);
	}
	/* RR below A0 is IMEI space: hex there is an error at the first hex letter */
	CHECK_PARSE_FAILS("9F0123450ABCDE", 14, IMEI_ERR_HEX, 2);
	CHECK_PARSE_FAILS("35209900176B48", 14, IMEI_ERR_HEX, 12);
	/* hex at lengths that no hex identifier has */
	CHECK_PARSE_FAILS("AF0123450ABCDEC0", 16, IMEI_ERR_HEX, 1);
	CHECK_PARSE_FAILS("AF01234", 7, IMEI_ERR_HEX, 1);
	/* a decimal MEID is decimal; out-of-range manufacturer code */
	CHECK_PARSE_FAILS("29360873650070371A", 18, IMEI_ERR_HEX, 18);
	CHECK_PARSE_FAILS("429496729616777215", 18, IMEI_ERR_LENGTH, 0);
	/* a decimal form whose hex form is in IMEI space (RR below A0) is no MEID either:
	 * 2684354559 = 0x9FFFFFFF, 2684354560 = 0xA0000000 (found by fuzz_parse: the digits
	 * of such a parse did not parse again) */
	CHECK_PARSE_FAILS("268435455916777215", 18, IMEI_ERR_LENGTH, 0);
	CHECK_PARSE_FAILS("000000000000000000", 18, IMEI_ERR_LENGTH, 0);
	CHECK_INT(parse_cstr("268435455916777215", &id, &err), IMEI_ERR_LENGTH);
	CHECK(strstr(err.msg, "below A0") != NULL);
	CHECK_INT(parse_cstr("268435456000000000", &id, &err), IMEI_OK);
	CHECK_STR(id.digits, "A0000000000000");
	CHECK_PARSE_FAILS("429496729516777216", 18, IMEI_ERR_LENGTH, 0);
}

static void test_esn(void)
{
	struct imei_id id;
	struct imei_error err;
	CHECK_INT(parse_cstr("8016b128", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_ESN);
	CHECK_STR(id.digits, "8016B128");
	CHECK_INT(id.pesn, 0x8016B128u);
	CHECK(!id.decimal_form);
	CHECK(!imei_valid("8016b128", 8));
	/* 8 decimal digits are a hex ESN too */
	CHECK_INT(parse_cstr("12345678", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_ESN);
	CHECK_INT(id.pesn, 0x12345678u);
	/* decimal form: 3 digits manufacturer code, 8 digits serial: 0x80 = 128, 0x16B128 = 1487144 */
	CHECK_INT(parse_cstr("128-01487144", &id, &err), IMEI_OK);
	CHECK_INT(id.kind, IMEI_KIND_ESN);
	CHECK(id.decimal_form);
	CHECK_STR(id.digits, "8016B128");
	CHECK_INT(id.pesn, 0x8016B128u);
	CHECK_PARSE_FAILS("25612345678", 11, IMEI_ERR_LENGTH, 0);
	CHECK_PARSE_FAILS("12816777216", 11, IMEI_ERR_LENGTH, 0);
	CHECK_PARSE_FAILS("128A1487144", 11, IMEI_ERR_HEX, 4);
}

/* --- RBI names and junk ------------------------------------------------------------- */

static void test_rbi_and_junk(void)
{
	CHECK_STR(imei_rbi_name("35"), "BABT");
	CHECK_STR(imei_rbi_name("86"), "TAF China");
	CHECK_STR(imei_rbi_name("01"), "PTCRB");
	CHECK(strstr(imei_rbi_name("99"), "GHA") != NULL);
	CHECK_STR(imei_rbi_name("98"), "reserved");
	CHECK(imei_rbi_name("12") == NULL);
	CHECK(imei_rbi_name("87") == NULL);
	const char *legacy[] = { "10", "30", "33", "44", "45", "49", "50", "51", "52", "53", "54", "91" };
	for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++)
		CHECK(imei_rbi_name(legacy[i]) != NULL);
	for (int d = 0; d <= 9; d++) {
		char rbi[2] = { '0', (char)('0' + d) };
		CHECK_INT(imei_rbi_is_test(rbi), d != 1);
	}
	CHECK(!imei_rbi_is_test("35"));
	CHECK(!imei_rbi_is_test("10"));

	static const struct {
		const char *s;
		enum imei_junk junk;
	} v[] = {
		{ "000000000000000", IMEI_JUNK_ALL_ZEROS },
		{ "00000000000000", IMEI_JUNK_ALL_ZEROS },
		{ "111111111111116", IMEI_JUNK_REPEATED },
		{ "9999999999999999", IMEI_JUNK_REPEATED },
		{ "123456789012347", IMEI_JUNK_SEQUENCE },
		{ "987654321098765", IMEI_JUNK_SEQUENCE },
		{ "012345678901234", IMEI_JUNK_SEQUENCE },
		{ "358240051111110", IMEI_JUNK_EMULATOR },
		{ "490154203237518", IMEI_JUNK_NONE },
		{ "111111111111126", IMEI_JUNK_NONE },
		{ "123456789012357", IMEI_JUNK_NONE },
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct imei_id id;
		CHECK_INT(parse_cstr(v[i].s, &id, NULL), IMEI_OK);
		CHECK_INT(id.junk, v[i].junk);
	}
	CHECK_STR(imei_junk_name(IMEI_JUNK_EMULATOR), "emulator");
	CHECK(imei_junk_name(IMEI_JUNK_NONE) == NULL);
	CHECK_STR(imei_kind_name(IMEI_KIND_IMEI), "imei");
	CHECK_STR(imei_kind_name(IMEI_KIND_IMEI14), "imei14");
	CHECK_STR(imei_kind_name(IMEI_KIND_IMEISV), "imeisv");
	CHECK_STR(imei_kind_name(IMEI_KIND_MEID), "meid");
	CHECK_STR(imei_kind_name(IMEI_KIND_ESN), "esn");
}

/* --- parse consistency on random well-formed input --------------------------------- */

static void test_parse_random(void)
{
	long bad = 0;
	for (int round = 0; round < 200000; round++) {
		char s[17];
		size_t n = 14 + (size_t)(rnd() % 3);
		random_digits(s, n);
		s[n] = 0;
		struct imei_id id;
		if (imei_parse(s, n, &id, NULL) != IMEI_OK) {
			bad++;
			continue;
		}
		bool ok = id.ndigits == n && memcmp(id.digits, s, n) == 0 && memcmp(id.key, s, 14) == 0 &&
		          memcmp(id.tac, s, 8) == 0 && memcmp(id.snr, s + 8, 6) == 0 && memcmp(id.rbi, s, 2) == 0 &&
		          id.cd_expected - '0' == ref_cd(s, 14);
		if (n == 15)
			ok = ok && id.kind == IMEI_KIND_IMEI && id.cd == s[14] && id.cd_ok == (s[14] - '0' == ref_cd(s, 14));
		else if (n == 16)
			ok = ok && id.kind == IMEI_KIND_IMEISV && memcmp(id.svn, s + 14, 2) == 0;
		else
			ok = ok && id.kind == IMEI_KIND_IMEI14 && id.cd == 0;
		bad += !ok;
		/* the normalised digits parse to the same thing */
		struct imei_id again;
		bad += imei_parse(id.digits, id.ndigits, &again, NULL) != IMEI_OK || again.kind != id.kind ||
		       strcmp(again.digits, id.digits) != 0 || strcmp(again.key, id.key) != 0 || again.cd_ok != id.cd_ok;
	}
	CHECK_INT(bad, 0);
}

/* 15 plain digits take imei_parse's fast path; the same digits with a hyphen inside take
 * the loop: both must fill in exactly the same struct (junk bodies and spare 0s included). */
static void test_parse_fast_path_agrees(void)
{
	static const char *const bodies[] = { "35824005111111", "00000000000000", "77777777777777",
	                                      "01234567890123", "98765432109876", "49015420323751" };
	long bad = 0;
	for (int round = 0; round < 100000; round++) {
		char s[16], hyphened[17];
		if (round < 60) { /* each fixed body with every check digit */
			memcpy(s, bodies[round / 10], 14);
			s[14] = (char)('0' + round % 10);
		} else {
			random_digits(s, 15);
		}
		s[15] = 0;
		size_t at = 1 + (size_t)(rnd() % 14);
		memcpy(hyphened, s, at);
		hyphened[at] = '-';
		memcpy(hyphened + at + 1, s + at, 15 - at);
		hyphened[16] = 0;
		struct imei_id fast, slow;
		struct imei_error e1, e2;
		bad += imei_parse(s, 15, &fast, &e1) != IMEI_OK || imei_parse(hyphened, 16, &slow, &e2) != IMEI_OK ||
		       memcmp(&fast, &slow, sizeof fast) != 0 || e1.code != e2.code || strcmp(e1.msg, e2.msg) != 0;
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	test_check_digit_vectors();
	test_valid15_random();
	test_valid15_single_byte_exhaustive();
	test_valid_agrees_with_parse();
	test_parse_imei_fields();
	test_parse_pei();
	test_lengths();
	test_separators();
	test_bad_bytes();
	test_long_input();
	test_messages_fit();
	test_meid();
	test_esn();
	test_rbi_and_junk();
	test_parse_random();
	test_parse_fast_path_agrees();
	return CHECK_DONE("test_identity");
}
