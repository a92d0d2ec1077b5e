/*
 * identity_luhn15.h — the 15-digit IMEI check (TS 23.003 Annex B) as an inline function, for the
 * hot paths that want it without a call: imei_valid15 (identity_luhn.c), imei_valid (identity.c)
 * and the bulk validator (bulk.c). Private to the core; not installed.
 *
 * imei_luhn15(s) reads exactly s[0..15) and returns 1 when the 15 bytes are ASCII digits
 * with a correct check digit, 0 when they are digits with a wrong one, -1 otherwise;
 * imei_luhn15_sum(s) the sum it decides by (imei_parse's fast path derives the expected
 * check digit from it).
 * Eight bytes at a time (SWAR), no branch per digit.
 */
#ifndef IMEI_LUHN15_H
#define IMEI_LUHN15_H

#include <stdint.h>
#include <string.h>

#define IMEI_SWAR_ONES  0x0101010101010101ULL
#define IMEI_SWAR_HIGHS 0x8080808080808080ULL

static inline uint64_t imei_swar_load(const char *p)
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
static inline uint64_t imei_swar_nondigits(uint64_t x)
{
	return ((x - IMEI_SWAR_ONES * 0x30) | (x + IMEI_SWAR_ONES * 0x46) | x) & IMEI_SWAR_HIGHS;
}

/* Per byte: the digit-sum of 2*d for digit values d = 0..9: 2d - 9 when d >= 5. */
static inline uint64_t imei_swar_doubled(uint64_t d)
{
	uint64_t ge5 = ((d + IMEI_SWAR_ONES * 0x7B) >> 7) & IMEI_SWAR_ONES; /* 1 where d >= 5 */
	return (d << 1) - ge5 * 9;
}

/* The Luhn sum of the 15 bytes (the check digit's own value included: TS 23.003 Annex B
 * wants it to be 0 mod 10), or -1 when they are not all ASCII digits. */
static inline int imei_luhn15_sum(const char *s)
{
	/* bytes 0..7 and 7..14: two overlapping loads cover the 15 digits in bounds */
	uint64_t a = imei_swar_load(s), b = imei_swar_load(s + 7);
	if (imei_swar_nondigits(a) | imei_swar_nondigits(b))
		return -1;
	a -= IMEI_SWAR_ONES * 0x30;
	b -= IMEI_SWAR_ONES * 0x30;
	/* From the right of 15 digits, odd string indices (1,3,…,13) are doubled.
	 * In a, byte i = s[i]: even bytes plain, odd bytes doubled.
	 * In b, byte j = s[7+j]: j = 0 is s[7], already counted; odd j plain; j = 2,4,6 doubled. */
	uint64_t lanes = (a & 0x00FF00FF00FF00FFULL) + (imei_swar_doubled(a) & 0xFF00FF00FF00FF00ULL) +
	                 (b & 0xFF00FF00FF00FF00ULL) + (imei_swar_doubled(b) & 0x00FF00FF00FF0000ULL);
	return (int)((lanes * IMEI_SWAR_ONES) >> 56); /* at most 15 * 9 = 135: no overflow */
}

static inline int imei_luhn15(const char *s)
{
	int sum = imei_luhn15_sum(s);
	return sum < 0 ? -1 : sum % 10 == 0;
}

#endif
