/*
 * identity_luhn.c — the Luhn check digit (3GPP TS 23.003 Annex B), decimal and base 16.
 *
 * Annex B: double every second digit from the right of the body, add the digits of
 * the products and the undoubled digits, CD = (10 - sum mod 10) mod 10. Example from
 * the spec: body 26053179311383 -> CD 7.
 *
 * imei_valid15() is the hot path of every check and every bulk job: it validates the
 * 15 digits eight bytes at a time (SWAR) with no branch per digit (identity_luhn15.h).
 */
#include <string.h>

#include "imei_identity.h"
#include "identity_luhn15.h"

/* Sum of the digits of 2*d, for d = 0..9 and for d = 0..15 in base 16. */
static const uint8_t doubled10[10] = { 0, 2, 4, 6, 8, 1, 3, 5, 7, 9 };

bool imei_luhn(const char *s, size_t len)
{
	if (len == 0)
		return false;
	unsigned sum = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[len - 1 - i] - '0';
		if (d > 9)
			return false;
		sum += (i & 1) ? doubled10[d] : d;
	}
	return sum % 10 == 0;
}

char imei_check_digit(const char *body, size_t len)
{
	if (len == 0)
		return 0;
	unsigned sum = 0;
	/* the check digit will sit at position 1 from the right, so the body's
	 * rightmost digit is the first one doubled */
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)body[len - 1 - i] - '0';
		if (d > 9)
			return 0;
		sum += (i & 1) ? d : doubled10[d];
	}
	return (char)('0' + (10 - sum % 10) % 10);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char imei_meid_check_digit(const char *hex14)
{
	unsigned sum = 0;
	for (size_t i = 0; i < 14; i++) {
		int d = hexval(hex14[13 - i]);
		if (d < 0)
			return 0;
		if (i & 1) {
			sum += (unsigned)d;
		} else {
			unsigned p = (unsigned)d * 2; /* digits of p in base 16 */
			sum += p / 16 + p % 16;
		}
	}
	unsigned cd = (16 - sum % 16) % 16;
	return "0123456789ABCDEF"[cd];
}

/* --- the 15-digit fast path (identity_luhn15.h) ------------------------------------------- */

bool imei_valid15(const char *s, size_t len)
{
	return len == 15 && imei_luhn15(s) > 0;
}
