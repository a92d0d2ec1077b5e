/*
 * identity.c — parse an equipment identifier into its parts (3GPP TS 23.003 §6.2).
 *
 * Accepted forms (after trimming surrounding white space; spaces and hyphens anywhere):
 *   14 digits  IMEI without CD      15 digits  IMEI            16 digits  IMEISV
 *   imei-<15 digits>, imeisv-<16 digits>   the 5G PEI strings of TS 29.571
 *   14 hex digits with RR >= A0 (+ optional hex CD), or 18 decimal digits (+ CD): MEID
 *   8 hex digits, or 11 decimal digits: ESN
 * Errors name what is wrong and where (1-based position in the input).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "imei_identity.h"
#include "identity_luhn15.h"

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static enum imei_err fail(struct imei_error *err, enum imei_err code, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum imei_err fail(struct imei_error *err, enum imei_err code, size_t pos, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		err->pos = pos;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A byte shown in a message: 'x' when printable, \xNN otherwise. */
static const char *show_byte(unsigned char c, char buf[8])
{
	if (c >= 0x20 && c < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "\\x%02X", c);
	return buf;
}

static bool prefix_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)prefix[i])
			return false;
	}
	return true;
}

static enum imei_junk junk_of(const char key[14])
{
	/* Android SDK emulator default IMEI 358240051111110 */
	if (memcmp(key, "35824005111111", 14) == 0)
		return IMEI_JUNK_EMULATOR;
	bool same = true, up = true, down = true;
	for (int i = 1; i < 14 && (same || up || down); i++) { /* most keys are none by their 3rd digit */
		int prev = key[i - 1] - '0', d = key[i] - '0';
		same &= d == prev;
		up &= d == (prev + 1) % 10;
		down &= d == (prev + 9) % 10;
	}
	if (same)
		return key[0] == '0' ? IMEI_JUNK_ALL_ZEROS : IMEI_JUNK_REPEATED;
	if (up || down)
		return IMEI_JUNK_SEQUENCE;
	return IMEI_JUNK_NONE;
}

/* The parts of an IMEI kind from its digits; cd_expected is the check digit its 14-digit
 * body calls for. */
static void fill_imei(struct imei_id *id, char cd_expected)
{
	memcpy(id->key, id->digits, 14);
	id->key[14] = 0;
	memcpy(id->tac, id->digits, 8);
	id->tac[8] = 0;
	memcpy(id->snr, id->digits + 8, 6);
	id->snr[6] = 0;
	memcpy(id->rbi, id->digits, 2);
	id->rbi[2] = 0;
	id->cd_expected = cd_expected;
	if (id->kind == IMEI_KIND_IMEI) {
		id->cd = id->digits[14];
		id->cd_ok = id->cd == id->cd_expected;
	} else if (id->kind == IMEI_KIND_IMEISV) {
		memcpy(id->svn, id->digits + 14, 2);
		id->svn[2] = 0;
	}
	id->junk = junk_of(id->key);
}

static uint64_t decimal_value(const char *s, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	return v;
}

/* MEID in decimal: 10 digits of manufacturer code (32 bits) + 8 of serial (24 bits). */
static enum imei_err meid_from_decimal(struct imei_id *id, struct imei_error *err)
{
	uint64_t manufacturer = decimal_value(id->digits, 10), serial = decimal_value(id->digits + 10, 8);
	if (manufacturer > 0xFFFFFFFFu || serial > 0xFFFFFFu)
		return fail(err, IMEI_ERR_LENGTH, 0,
		            "18-digit decimal MEID out of range (manufacturer code > 2^32 or serial > 2^24)");
	/* the hex form must be a MEID too: regional code RR A0..FF; below is IMEI space */
	if (manufacturer < 0xA0000000u)
		return fail(err, IMEI_ERR_LENGTH, 0,
		            "decimal MEID in IMEI space: its regional code %02X is below A0",
		            (unsigned)(manufacturer >> 24));
	/* the decimal form has its own check digit: decimal Luhn over the 18 digits */
	id->cd_expected = imei_check_digit(id->digits, 18);
	if (id->ndigits == 19) {
		id->cd = id->digits[18];
		id->cd_ok = id->cd == id->cd_expected;
	}
	char hex[19];
	snprintf(hex, sizeof hex, "%08X%06X", (unsigned)manufacturer, (unsigned)serial);
	memcpy(id->digits, hex, 14);
	id->ndigits = 14;
	id->digits[14] = 0;
	id->decimal_form = true;
	return IMEI_OK;
}

static enum imei_err finish_meid(struct imei_id *id, struct imei_error *err)
{
	id->kind = IMEI_KIND_MEID;
	if (id->ndigits >= 18) {
		enum imei_err e = meid_from_decimal(id, err);
		if (e)
			return e;
	} else {
		/* hex form: base-16 Luhn; digits keeps the 14-digit MEID, the CD is reported apart */
		id->cd_expected = imei_meid_check_digit(id->digits);
		if (id->ndigits == 15) {
			id->cd = id->digits[14];
			id->cd_ok = id->cd == id->cd_expected;
			id->digits[14] = 0;
			id->ndigits = 14;
		}
	}
	id->pesn = imei_meid_pesn(id->digits);
	return IMEI_OK;
}

static enum imei_err finish_esn(struct imei_id *id, struct imei_error *err)
{
	id->kind = IMEI_KIND_ESN;
	if (id->ndigits == 11) { /* decimal: 3 digits manufacturer (8 bits) + 8 digits serial (24 bits) */
		uint64_t manufacturer = decimal_value(id->digits, 3), serial = decimal_value(id->digits + 3, 8);
		if (manufacturer > 0xFF || serial > 0xFFFFFF)
			return fail(err, IMEI_ERR_LENGTH, 0,
			            "11-digit decimal ESN out of range (manufacturer code > 255 or serial > 2^24)");
		id->pesn = (uint32_t)(manufacturer << 24 | serial);
		snprintf(id->digits, sizeof id->digits, "%08X", (unsigned)id->pesn);
		id->ndigits = 8;
		id->decimal_form = true;
	} else {
		uint32_t v = 0;
		for (int i = 0; i < 8; i++) {
			char c = id->digits[i];
			v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'A' + 10);
		}
		id->pesn = v;
	}
	return IMEI_OK;
}

enum imei_err imei_parse(const char *s, size_t len, struct imei_id *id, struct imei_error *err)
{
	memset(id, 0, sizeof *id);
	if (err) {
		err->code = IMEI_OK;
		err->pos = 0;
		err->msg[0] = 0;
	}
	/* the usual input, 15 plain digits: an IMEI, as the loop below would find it, and its
	 * check digit from the same sum imei_valid decides by (no loop per digit) */
	int sum = len == 15 ? imei_luhn15_sum(s) : -1;
	if (sum >= 0) {
		memcpy(id->digits, s, 15);
		id->ndigits = 15;
		id->kind = IMEI_KIND_IMEI;
		unsigned body = (unsigned)sum + 10 - (unsigned)(s[14] - '0'); /* the body's sum, + 10: never below 0 */
		fill_imei(id, (char)('0' + (10 - body % 10) % 10));
		return IMEI_OK;
	}
	size_t start = 0, end = len;
	while (start < end && is_space((unsigned char)s[start]))
		start++;
	while (end > start && is_space((unsigned char)s[end - 1]))
		end--;
	if (start == end)
		return fail(err, IMEI_ERR_EMPTY, 0, "empty identifier");

	/* 5G PEI prefixes (TS 29.571 §5.3.2): imei-, imeisv-; mac- and eui- are not ours */
	const char *p = s + start;
	size_t n = end - start, skip = 0;
	if (p[0] >= '0' && p[0] <= '9') {
		/* a digit (the usual case): every prefix starts with a letter */
	} else if (prefix_ci(p, n, "imeisv-")) {
		id->pei = IMEI_PEI_IMEISV;
		skip = 7;
	} else if (prefix_ci(p, n, "imei-")) {
		id->pei = IMEI_PEI_IMEI;
		skip = 5;
	} else if (prefix_ci(p, n, "mac-") || prefix_ci(p, n, "eui-")) {
		return fail(err, IMEI_ERR_NOT_EQUIPMENT, start + 1,
		            "a '%.3s' PEI at position %zu (TS 29.571) is a MAC or EUI-64 address, not an IMEI", p,
		            start + 1);
	}

	size_t first_hex = 0; /* 1-based position of the first hex letter */
	unsigned nd = 0;
	char buf[8];
	for (size_t i = start + skip; i < end; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '-')
			continue;
		bool digit = c >= '0' && c <= '9';
		bool hex = (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
		if (!digit && !hex) {
			if (c == 0)
				return fail(err, IMEI_ERR_CHAR, i + 1, "NUL byte at position %zu", i + 1);
			return fail(err, IMEI_ERR_CHAR, i + 1, "invalid character %s at position %zu",
			            show_byte(c, buf), i + 1);
		}
		if (nd == IMEI_MAX_DIGITS)
			return fail(err, IMEI_ERR_TOO_LONG, i + 1,
			            "too long: more than %d digits (at position %zu)", IMEI_MAX_DIGITS, i + 1);
		if (hex && !first_hex)
			first_hex = i + 1;
		id->digits[nd++] = (char)(hex && c >= 'a' ? c - 'a' + 'A' : c);
	}
	id->digits[nd] = 0;
	id->ndigits = (uint8_t)nd;
	if (nd == 0)
		return fail(err, IMEI_ERR_EMPTY, 0, "no digits in identifier");

	if (id->pei != IMEI_PEI_NONE) {
		unsigned want = id->pei == IMEI_PEI_IMEI ? 15 : 16;
		const char *what = id->pei == IMEI_PEI_IMEI ? "imei-" : "imeisv-";
		if (first_hex)
			return fail(err, IMEI_ERR_HEX, first_hex, "hex digit %s at position %zu: a PEI '%s' value is decimal",
			            show_byte((unsigned char)s[first_hex - 1], buf), first_hex, what);
		if (nd != want)
			return fail(err, IMEI_ERR_PEI, 0, "PEI prefix '%s' needs %u digits, got %u", what, want, nd);
	}

	if (first_hex) {
		if (nd == 8)
			return finish_esn(id, err);
		if (nd == 14 || nd == 15) {
			/* MEID: the regional code RR is A0..FF; lower values are IMEI space */
			if (id->digits[0] >= 'A')
				return finish_meid(id, err);
			return fail(err, IMEI_ERR_HEX, first_hex,
			            "hex digit %s at position %zu: an IMEI is decimal and a MEID starts with A0-FF",
			            show_byte((unsigned char)s[first_hex - 1], buf), first_hex);
		}
		return fail(err, IMEI_ERR_HEX, first_hex,
		            "hex digit %s at position %zu of %u digits: no IMEI, MEID (14-15 hex) or ESN (8 hex)",
		            show_byte((unsigned char)s[first_hex - 1], buf), first_hex, nd);
	}

	switch (nd) {
	case 14: id->kind = IMEI_KIND_IMEI14; break;
	case 15: id->kind = IMEI_KIND_IMEI; break;
	case 16: id->kind = IMEI_KIND_IMEISV; break;
	case 8:  return finish_esn(id, err);  /* 8 decimal digits are a valid hex ESN */
	case 11: return finish_esn(id, err);
	case 18:
	case 19: return finish_meid(id, err);
	default:
		return fail(err, IMEI_ERR_LENGTH, 0, "wrong length: %u digits (an IMEI has 14, 15 or 16)", nd);
	}
	fill_imei(id, imei_check_digit(id->digits, 14));
	return IMEI_OK;
}

bool imei_valid(const char *s, size_t len)
{
	/* the common case: exactly 15 bytes. 15 digits are decided here; anything else of
	 * 15 bytes (14 digits and a separator, surrounding white space) gets a full parse. */
	if (len == 15) {
		int r = imei_luhn15(s);
		if (r >= 0)
			return r > 0;
	}
	struct imei_id id;
	if (imei_parse(s, len, &id, NULL) != IMEI_OK)
		return false;
	switch (id.kind) {
	case IMEI_KIND_IMEI: return id.cd_ok;
	case IMEI_KIND_IMEI14:
	case IMEI_KIND_IMEISV: return true;
	default: return false;
	}
}

const char *imei_kind_name(enum imei_kind kind)
{
	switch (kind) {
	case IMEI_KIND_IMEI: return "imei";
	case IMEI_KIND_IMEI14: return "imei14";
	case IMEI_KIND_IMEISV: return "imeisv";
	case IMEI_KIND_MEID: return "meid";
	case IMEI_KIND_ESN: return "esn";
	default: return "none";
	}
}

const char *imei_junk_name(enum imei_junk junk)
{
	switch (junk) {
	case IMEI_JUNK_EMULATOR: return "emulator";
	case IMEI_JUNK_ALL_ZEROS: return "all_zeros";
	case IMEI_JUNK_REPEATED: return "repeated_digit";
	case IMEI_JUNK_SEQUENCE: return "sequence";
	default: return NULL;
	}
}
