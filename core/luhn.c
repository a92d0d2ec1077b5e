/*
 * luhn.c — the Luhn check digit (3GPP TS 23.003 Annex B), decimal and base 16.
 *
 * Annex B: double every second digit from the right of the body, add the digits of
 * the products and the undoubled digits, CD = (10 - sum mod 10) mod 10. Example from
 * the spec: body 26053179311383 -> CD 7.
 *
 * imei_valid15() is the hot path of every check and every bulk job: it validates the
 * 15 digits eight bytes at a time (SWAR) with no branch per digit.
 */
#include <string.h>

#include "imei_id.h"

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

/* --- the 15-digit fast path ------------------------------------------------------ */

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load64le(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Non-zero if any byte of x is not an ASCII digit. A byte below '0' sets its own high
 * bit in x - 0x30…; above '9' in x + 0x46…; non-ASCII in x. The lowest offending byte
 * is always computed exactly (no borrow or carry reaches it), which is all we need. */
static inline uint64_t nondigit_bytes(uint64_t x)
{
	return ((x - ONES * 0x30) | (x + ONES * 0x46) | x) & HIGHS;
}

/* Per byte: the digit-sum of 2*d for digit values d = 0..9: 2d - 9 when d >= 5. */
static inline uint64_t luhn_doubled(uint64_t d)
{
	uint64_t ge5 = ((d + ONES * 0x7B) >> 7) & ONES; /* 1 where d >= 5 */
	return (d << 1) - ge5 * 9;
}

bool imei_valid15(const char *s, size_t len)
{
	if (len != 15)
		return false;
	/* bytes 0..7 and 7..14: two overlapping loads cover the 15 digits in bounds */
	uint64_t a = load64le(s), b = load64le(s + 7);
	if (nondigit_bytes(a) | nondigit_bytes(b))
		return false;
	a -= ONES * 0x30;
	b -= ONES * 0x30;
	/* From the right of 15 digits, odd string indices (1,3,…,13) are doubled.
	 * In a, byte i = s[i]: even bytes plain, odd bytes doubled.
	 * In b, byte j = s[7+j]: j = 0 is s[7], already counted; odd j plain; j = 2,4,6 doubled. */
	uint64_t lanes = (a & 0x00FF00FF00FF00FFULL) + (luhn_doubled(a) & 0xFF00FF00FF00FF00ULL) +
	                 (b & 0xFF00FF00FF00FF00ULL) + (luhn_doubled(b) & 0x00FF00FF00FF0000ULL);
	unsigned sum = (unsigned)((lanes * ONES) >> 56); /* at most 8 * 27 = 216: no overflow */
	return sum % 10 == 0;
}
