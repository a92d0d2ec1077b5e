/*
 * mobile_identity.c — TBCD Mobile Identity encode/decode (TS 24.008 §10.5.1.4,
 * TS 24.501 §9.11.3.4, TS 29.002 MAP IMEI). See imei_mobile_identity.h for the layouts.
 * Every read is checked against the buffer length first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "imei_mobile_identity.h"

static enum imei_err mi_fail(struct imei_error *err, enum imei_err code, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum imei_err mi_fail(struct imei_error *err, enum imei_err code, size_t pos, const char *fmt, ...)
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

/* Type codes of the two NAS specs, by the code in bits 3-1. */
static const enum imei_mi_type types_24008[8] = {
	IMEI_MI_NONE, IMEI_MI_IMSI, IMEI_MI_IMEI, IMEI_MI_IMEISV, IMEI_MI_TMSI, IMEI_MI_TMGI, IMEI_MI_NONE, IMEI_MI_NONE
};
static const enum imei_mi_type types_24501[8] = {
	IMEI_MI_NONE, IMEI_MI_SUCI, IMEI_MI_GUTI, IMEI_MI_IMEI, IMEI_MI_S_TMSI, IMEI_MI_IMEISV, IMEI_MI_MAC, IMEI_MI_EUI64
};

static uint8_t code_of(enum imei_mi_type type, enum imei_mi_spec spec)
{
	const enum imei_mi_type *table = spec == IMEI_MI_24501 ? types_24501 : types_24008;
	for (uint8_t c = 1; c < 8; c++)
		if (table[c] == type)
			return c;
	return 0;
}

const char *imei_mi_type_name(enum imei_mi_type type)
{
	static const char *const names[] = { "none", "imsi", "imei", "imeisv", "tmsi", "suci",
	                                     "5g-guti", "5g-s-tmsi", "mac", "eui-64", "tmgi" };
	return (unsigned)type < sizeof names / sizeof names[0] ? names[type] : "none";
}

/* One TBCD digit; pos is the 1-based octet it sits in, for the message. */
static enum imei_err tbcd_digit(uint8_t nibble, size_t octet, struct imei_mi *mi, struct imei_error *err)
{
	if (nibble > 9)
		return mi_fail(err, IMEI_ERR_CHAR, octet, "nibble 0x%X in octet %zu is not a digit", nibble, octet);
	mi->digits[mi->ndigits++] = (char)('0' + nibble);
	return IMEI_OK;
}

static enum imei_err check_digit_count(struct imei_mi *mi, struct imei_error *err)
{
	unsigned n = mi->ndigits;
	bool ok = (mi->type == IMEI_MI_IMEI && (n == 14 || n == 15)) || (mi->type == IMEI_MI_IMEISV && n == 16) ||
	          (mi->type == IMEI_MI_IMSI && n >= 6 && n <= 15);
	if (!ok)
		return mi_fail(err, IMEI_ERR_LENGTH, 0, "%s with %u digits (IMEI: 14 or 15, IMEISV: 16, IMSI: 6-15)",
		               imei_mi_type_name(mi->type), n);
	mi->digits[n] = 0;
	return IMEI_OK;
}

static enum imei_err decode_nas(const uint8_t *buf, size_t len, enum imei_mi_spec spec, struct imei_mi *mi,
                                struct imei_error *err)
{
	uint8_t code = buf[0] & 7;
	bool odd = buf[0] & 8;
	mi->type_code = code;
	mi->type = (spec == IMEI_MI_24501 ? types_24501 : types_24008)[code];
	if (mi->type == IMEI_MI_NONE)
		return mi_fail(err, IMEI_ERR_CHAR, 1, "type %u in octet 1 is no identity", code);

	if (mi->type != IMEI_MI_IMSI && mi->type != IMEI_MI_IMEI && mi->type != IMEI_MI_IMEISV) {
		/* not digits: keep the octets after the first as hex for the caller */
		size_t n = len - 1;
		if (n * 2 >= sizeof mi->digits)
			return mi_fail(err, IMEI_ERR_TOO_LONG, 0, "%s of %zu octets is longer than %zu",
			               imei_mi_type_name(mi->type), len, sizeof mi->digits / 2);
		for (size_t i = 0; i < n; i++)
			snprintf(mi->digits + 2 * i, 3, "%02x", buf[1 + i]);
		mi->nraw = (uint8_t)n;
		return IMEI_OK;
	}

	if (len > 9)
		return mi_fail(err, IMEI_ERR_TOO_LONG, 0, "%s of %zu octets: at most 9", imei_mi_type_name(mi->type), len);
	enum imei_err e = tbcd_digit(buf[0] >> 4, 1, mi, err);
	for (size_t i = 1; e == IMEI_OK && i < len; i++) {
		e = tbcd_digit(buf[i] & 0x0F, i + 1, mi, err);
		if (e)
			break;
		uint8_t high = buf[i] >> 4;
		if (i == len - 1 && !odd) {
			if (high != 0xF)
				return mi_fail(err, IMEI_ERR_CHAR, i + 1,
				               "even digit count but octet %zu ends in 0x%X, not the filler 0xF", i + 1, high);
			break;
		}
		e = tbcd_digit(high, i + 1, mi, err);
	}
	if (e)
		return e;
	if (len == 1 && !odd)
		return mi_fail(err, IMEI_ERR_CHAR, 1, "even digit count in a single octet");
	return check_digit_count(mi, err);
}

/* MAP: 8 octets, low nibble first; the last octet holds the SVN, or digit 0 + filler. */
static enum imei_err decode_map(const uint8_t *buf, size_t len, struct imei_mi *mi, struct imei_error *err)
{
	if (len != 8)
		return mi_fail(err, IMEI_ERR_LENGTH, 0, "MAP IMEI is 8 octets, got %zu", len);
	enum imei_err e = IMEI_OK;
	for (size_t i = 0; e == IMEI_OK && i < 8; i++) {
		e = tbcd_digit(buf[i] & 0x0F, i + 1, mi, err);
		if (e == IMEI_OK && !(i == 7 && buf[i] >> 4 == 0xF))
			e = tbcd_digit(buf[i] >> 4, i + 1, mi, err);
	}
	if (e)
		return e;
	mi->type = mi->ndigits == 16 ? IMEI_MI_IMEISV : IMEI_MI_IMEI;
	mi->digits[mi->ndigits] = 0;
	return IMEI_OK;
}

enum imei_err imei_mi_decode(const uint8_t *buf, size_t len, enum imei_mi_spec spec, struct imei_mi *mi,
                             struct imei_error *err)
{
	memset(mi, 0, sizeof *mi);
	if (len == 0)
		return mi_fail(err, IMEI_ERR_EMPTY, 0, "empty mobile identity");
	if (spec == IMEI_MI_MAP)
		return decode_map(buf, len, mi, err);
	return decode_nas(buf, len, spec, mi, err);
}

size_t imei_mi_encode(enum imei_mi_type type, const char *digits, size_t n, enum imei_mi_spec spec,
                      uint8_t out[IMEI_MI_MAX_OCTETS], struct imei_error *err)
{
	for (size_t i = 0; i < n; i++)
		if (digits[i] < '0' || digits[i] > '9') {
			mi_fail(err, IMEI_ERR_CHAR, i + 1, "not a digit at position %zu", i + 1);
			return 0;
		}
	bool ok = (type == IMEI_MI_IMEI && (n == 14 || n == 15)) || (type == IMEI_MI_IMEISV && n == 16) ||
	          (type == IMEI_MI_IMSI && n >= 6 && n <= 15 && spec == IMEI_MI_24008);
	if (!ok) {
		mi_fail(err, IMEI_ERR_LENGTH, 0, "cannot encode %s of %zu digits as %s", imei_mi_type_name(type), n,
		        spec == IMEI_MI_MAP ? "MAP IMEI" : spec == IMEI_MI_24501 ? "TS 24.501" : "TS 24.008");
		return 0;
	}
	if (spec == IMEI_MI_MAP) {
		/* 14 digits of TAC+SNR, then SVN or "0 + filler" (TS 29.002 IMEI) */
		uint8_t nib[16];
		for (size_t i = 0; i < 14; i++)
			nib[i] = (uint8_t)(digits[i] - '0');
		if (type == IMEI_MI_IMEISV) {
			nib[14] = (uint8_t)(digits[14] - '0');
			nib[15] = (uint8_t)(digits[15] - '0');
		} else {
			nib[14] = 0;
			nib[15] = 0xF;
		}
		for (size_t i = 0; i < 8; i++)
			out[i] = (uint8_t)(nib[2 * i] | nib[2 * i + 1] << 4);
		return 8;
	}
	uint8_t code = code_of(type, spec);
	out[0] = (uint8_t)((digits[0] - '0') << 4 | (n & 1) << 3 | code);
	size_t o = 1;
	for (size_t i = 1; i < n; i += 2) {
		uint8_t low = (uint8_t)(digits[i] - '0');
		uint8_t high = i + 1 < n ? (uint8_t)(digits[i + 1] - '0') : 0xF;
		out[o++] = (uint8_t)(low | high << 4);
	}
	return o;
}
