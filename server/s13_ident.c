/*
 * s13_ident.c — from the identity AVPs of an ME-Identity-Check-Request to the PEI and
 * IMSI the policy sees (TS 29.272 §5.2.4, §7.3.3–7.3.6; s13_ident.h).
 */
#include <stdio.h>
#include <string.h>

#include "s13_ident.h"

static bool all_digits(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static bool is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

bool s13_meid_decode(const uint8_t *p, size_t n, char hex[15])
{
	static const char digit[] = "0123456789ABCDEF";
	/* octet 3: digit 1 in bits 8-5, odd/even in bit 4 (14 digits: even, 0), type 101 (MEID) */
	if (n != 8 || (p[0] & 0x0f) != 0x05)
		return false;
	hex[0] = digit[p[0] >> 4];
	size_t k = 1;
	for (size_t i = 1; i < 8; i++) {
		hex[k++] = digit[p[i] & 0x0f];
		if (i < 7)
			hex[k++] = digit[p[i] >> 4];
		else if ((p[i] >> 4) != 0x0f) /* the filler after the 14th digit */
			return false;
	}
	hex[14] = 0;
	return true;
}

static unsigned nibble(char c)
{
	return c >= '0' && c <= '9' ? (unsigned)(c - '0')
	       : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
	       : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
	                              : 0;
}

void s13_meid_encode(const char hex[14], uint8_t out[8])
{
	out[0] = (uint8_t)(nibble(hex[0]) << 4 | 0x05);
	for (size_t i = 1; i < 8; i++) {
		unsigned lo = nibble(hex[2 * i - 1]);
		unsigned hi = i < 7 ? nibble(hex[2 * i]) : 0x0f;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
}

static enum s13_ident_fault fail(struct s13_ident *out, enum s13_ident_fault f, const char *why)
{
	out->fault = f;
	out->why = why;
	out->pei[0] = 0;
	return f;
}

enum s13_ident_fault s13_ident_read(const struct s13_ident_in *in, struct s13_ident *out)
{
	memset(out, 0, sizeof *out);
	if (!in->has_terminal_information)
		return fail(out, S13_ID_NO_TERMINAL_INFORMATION, "Terminal-Information is missing");
	if (in->user_name) {
		/* the IMSI: MCC + MNC + MSIN, at most 15 digits (TS 23.003 §2.2) */
		if (in->user_name_len < 6 || in->user_name_len > 15 || !all_digits(in->user_name, in->user_name_len))
			return fail(out, S13_ID_BAD_USER_NAME, "User-Name is not an IMSI (6 to 15 digits)");
		memcpy(out->imsi, in->user_name, in->user_name_len);
		out->imsi[in->user_name_len] = 0;
	}
	if (in->imei) {
		if ((in->imei_len != 14 && in->imei_len != 15) || !all_digits(in->imei, in->imei_len))
			return fail(out, S13_ID_BAD_IMEI, "IMEI is not 14 or 15 decimal digits");
		if (in->software_version) {
			if (in->software_version_len != 2 || !all_digits(in->software_version, 2))
				return fail(out, S13_ID_BAD_SOFTWARE_VERSION, "Software-Version is not 2 decimal digits");
			/* IMEISV: the first 14 digits of the IMEI and the SVN (TS 23.003 §6.2.2) */
			snprintf(out->pei, sizeof out->pei, "imeisv-%.14s%.2s", (const char *)in->imei,
			         (const char *)in->software_version);
		} else if (in->imei_len == 15) {
			snprintf(out->pei, sizeof out->pei, "imei-%.15s", (const char *)in->imei);
		} else {
			snprintf(out->pei, sizeof out->pei, "%.14s", (const char *)in->imei);
		}
		return S13_ID_OK;
	}
	if (in->meid) {
		char hex[15];
		if (s13_meid_decode(in->meid, in->meid_len, hex)) {
			memcpy(out->pei, hex, sizeof hex);
			return S13_ID_OK;
		}
		/* some MMEs send the 14 hex digits as text */
		bool text = in->meid_len == 14;
		for (size_t i = 0; text && i < 14; i++)
			text = is_hex(in->meid[i]);
		if (!text)
			return fail(out, S13_ID_BAD_MEID, "3GPP2-MEID is neither an A.S0022 Mobile Identity nor 14 hex digits");
		for (size_t i = 0; i < 14; i++) {
			char c = (char)in->meid[i];
			out->pei[i] = c >= 'a' ? (char)(c - 'a' + 'A') : c;
		}
		out->pei[14] = 0;
		return S13_ID_OK;
	}
	return fail(out, S13_ID_NO_IDENTITY, "Terminal-Information has neither IMEI nor 3GPP2-MEID");
}
