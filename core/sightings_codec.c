/*
 * sightings_codec.c — the identifiers of a sighting as compact integers, and back to text.
 *   key       the 14-digit TAC+SNR of any IMEI form (TS 23.003 §6.2; TS 29.272 §6.2.1.3)
 *   IMSI      6..15 digits (TS 23.003 §2.2), MSISDN 3..15 digits (E.164, optional '+'):
 *             10^len + value, so leading zeros survive (test PLMN 001-01) and 0 = none
 *   operator  MCC (3 digits) + MNC (2 or 3 digits; TS 23.003 §2.2): 1<<21 | three<<20 |
 *             MCC<<10 | MNC, so "410-01" and "410-001" stay different
 *   RAT       TS 29.274 §8.17 RAT Type 1..10
 * Error messages name the field, the offending character and its 1-based position.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "imei_identity.h"
#include "imei_sightings.h"

int imei_store_fail(struct imei_store_error *err, enum imei_store_errcode code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static const uint64_t pow10_table[17] = {
	1ULL,
	10ULL,
	100ULL,
	1000ULL,
	10000ULL,
	100000ULL,
	1000000ULL,
	10000000ULL,
	100000000ULL,
	1000000000ULL,
	10000000000ULL,
	100000000000ULL,
	1000000000000ULL,
	10000000000000ULL,
	100000000000000ULL,
	1000000000000000ULL,
	10000000000000000ULL,
};

/* A value shown in a message: at most 24 bytes, non-printable bytes as '?'. */
static void show(const char *s, size_t len, char out[32])
{
	size_t n = len < 24 ? len : 24, i;
	for (i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
	if (len > n) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = 0;
}

static int digits(const char *field, const char *what, const char *s, size_t len, unsigned min, unsigned max,
                  bool plus, uint64_t *out, struct imei_store_error *err)
{
	char shown[32];
	size_t start = plus && len > 0 && s[0] == '+' ? 1 : 0;
	size_t n = len - start;
	show(s, len, shown);
	if (len == 0)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "%s: empty, %s has %u to %u digits", field, what, min, max);
	for (size_t i = start; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < '0' || c > '9')
			return imei_store_fail(err, IMEI_STORE_EINVAL, "%s: '%s': character %zu (0x%02X) is not a digit",
			                       field, shown, i + 1, c);
	}
	if (n < min || n > max)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "%s: '%s' has %zu digits, %s has %u to %u", field, shown,
		                       n, what, min, max);
	uint64_t v = 0;
	for (size_t i = start; i < len; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	*out = pow10_table[n] + v;
	return 0;
}

int imei_sight_imsi(const char *s, size_t len, uint64_t *out, struct imei_store_error *err)
{
	return digits("imsi", "an IMSI (TS 23.003 §2.2)", s, len, IMEI_SIGHT_IMSI_MIN, IMEI_SIGHT_IMSI_MAX, false,
	              out, err);
}

int imei_sight_msisdn(const char *s, size_t len, uint64_t *out, struct imei_store_error *err)
{
	return digits("msisdn", "an MSISDN (E.164)", s, len, IMEI_SIGHT_MSISDN_MIN, IMEI_SIGHT_MSISDN_MAX, true,
	              out, err);
}

int imei_sight_key(const char *s, size_t len, uint64_t *key, struct imei_store_error *err)
{
	uint64_t v = 0;
	if (len == 14) { /* the usual key, a device's d.key: 14 decimal digits parse as themselves */
		size_t i = 0;
		while (i < 14 && s[i] >= '0' && s[i] <= '9')
			v = v * 10 + (uint64_t)(s[i++] - '0');
		if (i == 14) {
			*key = v;
			return 0;
		}
		v = 0;
	}
	struct imei_id id;
	struct imei_error perr;
	char shown[32];
	if (imei_parse(s, len, &id, &perr) != IMEI_OK) {
		show(s, len, shown);
		return imei_store_fail(err, IMEI_STORE_EINVAL, "key: '%s': %s", shown, perr.msg);
	}
	if (id.kind != IMEI_KIND_IMEI && id.kind != IMEI_KIND_IMEI14 && id.kind != IMEI_KIND_IMEISV) {
		show(s, len, shown);
		return imei_store_fail(err, IMEI_STORE_EINVAL,
		                       "key: '%s' is a %s, not an IMEI (sightings are keyed by the 14-digit TAC+SNR)",
		                       shown, imei_kind_name(id.kind));
	}
	for (int i = 0; i < 14; i++)
		v = v * 10 + (uint64_t)(id.key[i] - '0');
	*key = v;
	return 0;
}

int imei_sight_operator(const char *s, size_t len, uint32_t *out, struct imei_store_error *err)
{
	char shown[32], d[6];
	size_t nd = 0;
	bool hyphen = false;
	show(s, len, shown);
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '-' && i == 3 && !hyphen) {
			hyphen = true;
			continue;
		}
		if (c < '0' || c > '9' || nd == 6)
			goto bad;
		d[nd++] = c;
	}
	if (nd != 5 && nd != 6)
		goto bad;
	unsigned mcc = (unsigned)((d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0'));
	unsigned mnc = 0;
	for (size_t i = 3; i < nd; i++)
		mnc = mnc * 10 + (unsigned)(d[i] - '0');
	*out = (uint32_t)(1u << 21 | (nd == 6 ? 1u : 0u) << 20 | mcc << 10 | mnc);
	return 0;
bad:
	return imei_store_fail(err, IMEI_STORE_EINVAL,
	                       "operator: '%s' is not MCC-MNC (3 digits, an optional '-', 2 or 3 digits; "
	                       "TS 23.003 §2.2)",
	                       shown);
}

/* The words a RAT is written as (any case): first the TS 29.274 §8.17 name of each RAT Type
 * 1..10, in order (imei_sight_rat_name), then the other names dumps use. Each word has a
 * key made when compiling: its length and first seven letters in one number, so that a
 * dump row's RAT costs one comparison per word (and a longer word, the rest of it). */
#define RAT_CH(s, i) ((uint64_t)(unsigned char)((i) < sizeof s - 1 ? s[(i) < sizeof s - 1 ? (i) : 0] : 0) << 8 * (i))
#define RAT_KEY(s) \
	(RAT_CH(s, 0) | RAT_CH(s, 1) | RAT_CH(s, 2) | RAT_CH(s, 3) | RAT_CH(s, 4) | RAT_CH(s, 5) | RAT_CH(s, 6) | \
	 (uint64_t)(sizeof s - 1) << 56)
#define RAT_WORD(s, r) { s, RAT_KEY(s), r }
#define RAT_KEY_CHARS 7
static const struct {
	char name[15];
	uint64_t key;
	uint8_t rat;
} rat_words[] = {
	RAT_WORD("UTRAN", IMEI_RAT_UTRAN),   RAT_WORD("GERAN", IMEI_RAT_GERAN),   RAT_WORD("WLAN", IMEI_RAT_WLAN),
	RAT_WORD("GAN", IMEI_RAT_GAN),       RAT_WORD("HSPA", IMEI_RAT_HSPA),     RAT_WORD("EUTRAN", IMEI_RAT_EUTRAN),
	RAT_WORD("VIRTUAL", IMEI_RAT_VIRTUAL), RAT_WORD("NB-IOT", IMEI_RAT_NBIOT), RAT_WORD("LTE-M", IMEI_RAT_LTEM),
	RAT_WORD("NR", IMEI_RAT_NR),
	RAT_WORD("2G", IMEI_RAT_GERAN),      RAT_WORD("3G", IMEI_RAT_UTRAN),      RAT_WORD("4G", IMEI_RAT_EUTRAN),
	RAT_WORD("LTE", IMEI_RAT_EUTRAN),    RAT_WORD("5G", IMEI_RAT_NR),         RAT_WORD("NBIOT", IMEI_RAT_NBIOT),
	RAT_WORD("LTEM", IMEI_RAT_LTEM),     RAT_WORD("EUTRAN-NB-IOT", IMEI_RAT_NBIOT),
	RAT_WORD("HSPA-EVOLUTION", IMEI_RAT_HSPA), RAT_WORD("E-UTRAN", IMEI_RAT_EUTRAN),
};
#undef RAT_WORD
#undef RAT_KEY
#undef RAT_CH
#define NRAT_WORDS (sizeof rat_words / sizeof rat_words[0])

/* The order the words are tried in: the RATs dumps are mostly made of first (EUTRAN, then
 * UTRAN, GERAN, NR), every word once. */
static const uint8_t rat_try[] = { 5, 0, 1, 9, 13, 12, 11, 10, 14, 2, 3, 4, 6, 7, 8, 15, 16, 17, 18, 19 };
_Static_assert(sizeof rat_try == NRAT_WORDS, "every RAT word is tried");

static char upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* The key of s[0..len) (1 <= len < 15): as RAT_KEY, in upper case. Eight bytes at once
 * where the CPU is little-endian (two overlapping loads, every letter upper-cased in one
 * go: a byte of 'a'..'z' loses 0x20), else byte by byte. */
static uint64_t rat_key(const char *s, size_t len)
{
	size_t n = len < RAT_KEY_CHARS ? len : RAT_KEY_CHARS;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t x;
	if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		x = a | (uint64_t)b << 8 * (n - 4);
	} else if (n >= 2) {
		uint16_t a, b;
		memcpy(&a, s, 2);
		memcpy(&b, s + n - 2, 2);
		x = a | (uint64_t)b << 8 * (n - 2);
	} else {
		x = (unsigned char)s[0];
	}
	uint64_t low7 = x & 0x7F7F7F7F7F7F7F7FULL;
	uint64_t from_a = low7 + 0x1F1F1F1F1F1F1F1FULL, past_z = low7 + 0x0505050505050505ULL;
	uint64_t letters = from_a & ~past_z & ~x & 0x8080808080808080ULL;
	return (x ^ letters >> 2) | (uint64_t)len << 56;
#else
	uint64_t key = (uint64_t)len << 56;
	for (size_t i = 0; i < n; i++)
		key |= (uint64_t)(unsigned char)upper(s[i]) << 8 * i;
	return key;
#endif
}

/* Out of line: the message's buffer and formatting stay off the path of a RAT that is one. */
static __attribute__((noinline)) int rat_refused(const char *s, size_t len, struct imei_store_error *err)
{
	char shown[32];
	show(s, len, shown);
	return imei_store_fail(err, IMEI_STORE_EINVAL,
	                       "rat: '%s' is not a RAT (GERAN/2G, UTRAN/3G, EUTRAN/LTE/4G, NR/5G, WLAN, GAN, HSPA, "
	                       "VIRTUAL, NB-IOT, LTE-M, or TS 29.274 §8.17 RAT Type 1..10)",
	                       shown);
}

int imei_sight_rat(const char *s, size_t len, uint8_t *out, struct imei_store_error *err)
{
	if (len > 0 && len <= 3) {
		unsigned v = 0;
		size_t i;
		for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			v = v * 10 + (unsigned)(s[i] - '0');
		if (i == len) {
			if (v >= 1 && v <= IMEI_SIGHT_RAT_MAX) {
				*out = (uint8_t)v;
				return 0;
			}
			goto bad;
		}
	}
	if (len > 0 && len < sizeof rat_words[0].name) {
		uint64_t key = rat_key(s, len);
		for (size_t k = 0; k < NRAT_WORDS; k++) {
			size_t w = rat_try[k];
			if (rat_words[w].key != key)
				continue;
			size_t i = RAT_KEY_CHARS;
			while (i < len && upper(s[i]) == rat_words[w].name[i])
				i++;
			if (i >= len) {
				*out = rat_words[w].rat;
				return 0;
			}
		}
	}
bad:
	return rat_refused(s, len, err);
}

const char *imei_sight_rat_name(unsigned rat)
{
	return rat >= 1 && rat <= IMEI_SIGHT_RAT_MAX ? rat_words[rat - 1].name : NULL;
}

bool imei_sight_key_ok(uint64_t key)
{
	return key < IMEI_SIGHT_KEY_LIMIT;
}

static unsigned digits_len(uint64_t enc)
{
	for (unsigned n = 15; n >= 1; n--)
		if (enc >= pow10_table[n])
			return enc < 2 * pow10_table[n] ? n : 0;
	return 0;
}

bool imei_sight_digits_ok(uint64_t enc, unsigned min, unsigned max)
{
	unsigned n = digits_len(enc);
	return n >= min && n <= max;
}

bool imei_sight_operator_ok(uint32_t op)
{
	if (op >> 21 != 1)
		return false;
	unsigned mcc = (op >> 10) & 0x3FF, mnc = op & 0x3FF;
	return mcc <= 999 && mnc <= ((op >> 20) & 1 ? 999u : 99u);
}

size_t imei_sight_key_str(uint64_t key, char *buf)
{
	if (!imei_sight_key_ok(key)) {
		buf[0] = 0;
		return 0;
	}
	for (int i = 13; i >= 0; i--) {
		buf[i] = (char)('0' + key % 10);
		key /= 10;
	}
	buf[14] = 0;
	return 14;
}

size_t imei_sight_digits_str(uint64_t enc, char *buf)
{
	unsigned n = digits_len(enc);
	if (n == 0) {
		buf[0] = 0;
		return 0;
	}
	/* two digits per division: a replay writes an IMSI and an MSISDN per decided pair */
	static const char pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	                            "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	                            "8081828384858687888990919293949596979899";
	uint64_t v = enc - pow10_table[n];
	unsigned i = n;
	for (; i >= 2; i -= 2) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		memcpy(buf + i - 2, pairs + 2 * r, 2);
	}
	if (i)
		buf[0] = (char)('0' + v);
	buf[n] = 0;
	return n;
}

size_t imei_sight_operator_str(uint32_t op, char *buf)
{
	if (!imei_sight_operator_ok(op)) {
		buf[0] = 0;
		return 0;
	}
	unsigned mcc = (op >> 10) & 0x3FF, mnc = op & 0x3FF;
	int n = (op >> 20) & 1 ? snprintf(buf, 16, "%03u-%03u", mcc, mnc) : snprintf(buf, 16, "%03u-%02u", mcc, mnc);
	return (size_t)n;
}
