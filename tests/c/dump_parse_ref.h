/*
 * dump_parse_ref.h — the reference for the row parser's differential test: the row parser
 * of core/dump_reader.c as it was before its single-pass rewrite (a line split with memchr,
 * then each field checked on its own, RAT names compared one by one), kept verbatim
 * apart from its names, which carry the prefix ref_ so that it links beside the
 * library's. Slow and plain on purpose: ref_parse(lay, line, len, row,
 * scratch, why) must give what imei_dump_parse gives, reason, field, message and row.
 * Test-only: no rule is read from here by the library.
 */
#ifndef DUMP_PARSE_REF_H
#define DUMP_PARSE_REF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "imei_dump_reader.h"
#include "imei_identity.h"
#include "imei_sightings.h"

static const char *const ref_rat_names[IMEI_SIGHT_RAT_MAX + 1] = {
	NULL, "UTRAN", "GERAN", "WLAN", "GAN", "HSPA", "EUTRAN", "VIRTUAL", "NB-IOT", "LTE-M", "NR",
};

static const struct {
	const char *name;
	uint8_t rat;
} ref_rat_aliases[] = {
	{ "2G", IMEI_RAT_GERAN },   { "3G", IMEI_RAT_UTRAN },  { "4G", IMEI_RAT_EUTRAN },
	{ "LTE", IMEI_RAT_EUTRAN }, { "5G", IMEI_RAT_NR },     { "NBIOT", IMEI_RAT_NBIOT },
	{ "LTEM", IMEI_RAT_LTEM },  { "EUTRAN-NB-IOT", IMEI_RAT_NBIOT }, { "HSPA-EVOLUTION", IMEI_RAT_HSPA },
	{ "E-UTRAN", IMEI_RAT_EUTRAN },
};

static bool ref_rat_same_ci(const char *s, size_t len, const char *name)
{
	if (strlen(name) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != name[i])
			return false;
	}
	return true;
}

static int ref_rat(const char *s, size_t len, uint8_t *out)
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
	for (unsigned r = 1; r <= IMEI_SIGHT_RAT_MAX; r++)
		if (ref_rat_same_ci(s, len, ref_rat_names[r])) {
			*out = (uint8_t)r;
			return 0;
		}
	for (size_t i = 0; i < sizeof ref_rat_aliases / sizeof ref_rat_aliases[0]; i++)
		if (ref_rat_same_ci(s, len, ref_rat_aliases[i].name)) {
			*out = ref_rat_aliases[i].rat;
			return 0;
		}
bad:
	return -1;
}

static bool ref_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int ref_num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool ref_date(const char *s, size_t len, int32_t *day)
{
	int y, m, d;
	if (len == 8) {
		y = ref_num(s, 4), m = ref_num(s + 4, 2), d = ref_num(s + 6, 2);
	} else if (len == 10 && s[4] == '-' && s[7] == '-') {
		y = ref_num(s, 4), m = ref_num(s + 5, 2), d = ref_num(s + 8, 2);
	} else {
		return false;
	}
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 0 || m < 1 || m > 12 || d < 1)
		return false;
	if (d > mdays[m - 1] + (m == 2 && ref_leap(y)))
		return false;
	*day = imei_dump_day_from_ymd(y, (unsigned)m, (unsigned)d);
	return true;
}

static void ref_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
		(*len)--;
}

/* A value shown in a message: at most 24 bytes, non-printable bytes as '?'. */
static void ref_show(const char *s, size_t len, char out[32])
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

static enum imei_dump_reject ref_problem(struct imei_dump_problem *why, enum imei_dump_reject r, unsigned field,
                                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum imei_dump_reject ref_problem(struct imei_dump_problem *why, enum imei_dump_reject r, unsigned field,
                                     const char *fmt, ...)
{
	if (why) {
		va_list ap;
		why->reason = r;
		why->field = field;
		va_start(ap, fmt);
		vsnprintf(why->msg, sizeof why->msg, fmt, ap);
		va_end(ap);
	}
	return r;
}

static const uint64_t ref_pow10_u64[17] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
	1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
	100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
};

/* digits[0..len) of min..max digits as 10^len + value; -1 at the first non-digit (its
 * 0-based index in *at), -2 for a wrong length. */
static int ref_encode_digits(const char *s, size_t len, unsigned min, unsigned max, uint64_t *out, size_t *at)
{
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9) {
			*at = i;
			return -1;
		}
		v = v * 10 + d;
		if (i >= 16)
			return -2;
	}
	if (len < min || len > max)
		return -2;
	*out = ref_pow10_u64[len] + v;
	return 0;
}

struct ref_span {
	const char *s;
	size_t len;
	bool escaped; /* quoted with "" inside: unescape before use */
};

static size_t ref_unescape(const struct ref_span *f, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < f->len && n + 1 < cap; i++) {
		out[n++] = f->s[i];
		if (f->s[i] == '"' && i + 1 < f->len && f->s[i + 1] == '"')
			i++;
	}
	out[n] = 0;
	return n;
}

static enum imei_dump_reject ref_parse_ident(struct ref_span f, unsigned field, struct imei_dump_row *row, char *scratch,
                                         struct imei_dump_problem *why)
{
	char shown[32];
	if (f.escaped) {
		if (f.len > IMEI_DUMP_MAX_IDENT * 2)
			return ref_problem(why, IMEI_DUMP_R_IMEI_TEXT, field, "imei: %zu bytes, more than the %d an identity may have",
			               f.len, IMEI_DUMP_MAX_IDENT);
		f.len = ref_unescape(&f, scratch, IMEI_DUMP_MAX_IDENT * 2 + 1);
		f.s = scratch;
		ref_trim(&f.s, &f.len);
	}
	if (f.len == 0)
		return ref_problem(why, IMEI_DUMP_R_IMEI_EMPTY, field, "imei: empty");
	const unsigned char *s = (const unsigned char *)f.s;
	/* the common case: 14, 15 or 16 decimal digits (TS 23.003 §6.2) */
	if (f.len >= 14 && f.len <= 16) {
		uint64_t key = 0;
		size_t i;
		for (i = 0; i < f.len; i++) {
			unsigned d = (unsigned)s[i] - '0';
			if (d > 9)
				break;
			if (i < 14)
				key = key * 10 + d;
		}
		if (i == f.len) {
			row->key = key;
			if (f.len == 14) {
				row->form = IMEI_DUMP_FORM_IMEI14;
				row->kind = IMEI_KIND_IMEI14;
			} else if (f.len == 15) {
				row->form = (uint8_t)(IMEI_DUMP_FORM_IMEI + (s[14] - '0'));
				row->kind = IMEI_KIND_IMEI;
			} else {
				row->form = (uint8_t)(IMEI_DUMP_FORM_IMEISV + (s[14] - '0') * 10 + (s[15] - '0'));
				row->kind = IMEI_KIND_IMEISV;
			}
			row->ident = NULL;
			row->ident_len = 0;
			return IMEI_DUMP_OK;
		}
	}
	if (f.len > IMEI_DUMP_MAX_IDENT) {
		ref_show(f.s, f.len, shown);
		return ref_problem(why, IMEI_DUMP_R_IMEI_TEXT, field, "imei: '%s' has %zu characters, more than %d", shown,
		               f.len, IMEI_DUMP_MAX_IDENT);
	}
	for (size_t i = 0; i < f.len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e) {
			ref_show(f.s, f.len, shown);
			return ref_problem(why, IMEI_DUMP_R_IMEI_TEXT, field,
			               "imei: '%s': byte %zu (0x%02X) is not printable ASCII", shown, i + 1, s[i]);
		}
	struct imei_id id;
	if (imei_parse(f.s, f.len, &id, NULL) == IMEI_OK) {
		if (id.kind == IMEI_KIND_IMEI || id.kind == IMEI_KIND_IMEI14 || id.kind == IMEI_KIND_IMEISV) {
			uint64_t key = 0;
			for (int i = 0; i < 14; i++)
				key = key * 10 + (uint64_t)(id.key[i] - '0');
			row->key = key;
			row->kind = (uint8_t)id.kind;
			if (id.kind == IMEI_KIND_IMEI14)
				row->form = IMEI_DUMP_FORM_IMEI14;
			else if (id.kind == IMEI_KIND_IMEI)
				row->form = (uint8_t)(IMEI_DUMP_FORM_IMEI + (id.digits[14] - '0'));
			else
				row->form = (uint8_t)(IMEI_DUMP_FORM_IMEISV + (id.digits[14] - '0') * 10 + (id.digits[15] - '0'));
			row->ident = NULL;
			row->ident_len = 0;
			return IMEI_DUMP_OK;
		}
		/* a MEID or an ESN: not an IMEI, but an identity the policy can name */
		memcpy(scratch, id.digits, (size_t)id.ndigits + 1);
		row->key = 0;
		row->kind = (uint8_t)id.kind;
		row->form = IMEI_DUMP_FORM_TEXT;
		row->ident = scratch;
		row->ident_len = id.ndigits;
		return IMEI_DUMP_OK;
	}
	/* not an identifier at all: kept as written, for the policy to call malformed */
	if (f.s != scratch)
		memmove(scratch, f.s, f.len);
	scratch[f.len] = 0;
	row->key = 0;
	row->kind = IMEI_KIND_NONE;
	row->form = IMEI_DUMP_FORM_TEXT;
	row->ident = scratch;
	row->ident_len = f.len;
	return IMEI_DUMP_OK;
}

static enum imei_dump_reject ref_parse(const struct imei_dump_layout *lay, const char *line, size_t len,
                                      struct imei_dump_row *row, char *scratch, struct imei_dump_problem *why)
{
	struct ref_span fields[IMEI_DUMP_MAX_COLS];
	size_t nf = 0, pos = 0;
	char shown[32];
	const char delim = lay->delim;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 && c != '\t')
			return ref_problem(why, IMEI_DUMP_R_CONTROL, 0, "byte 0x%02X at column %zu: control bytes have no place "
			               "in a dump row", c, i + 1);
	}
	/* split */
	for (;;) {
		size_t start = pos;
		while (start < len && (line[start] == ' ' || line[start] == '\t'))
			start++;
		struct ref_span f = { line + start, 0, false };
		size_t next;
		if (start < len && line[start] == '"') {
			size_t q = start + 1;
			bool closed = false;
			while (q < len) {
				if (line[q] == '"') {
					if (q + 1 < len && line[q + 1] == '"') {
						f.escaped = true;
						q += 2;
						continue;
					}
					closed = true;
					break;
				}
				q++;
			}
			if (!closed)
				return ref_problem(why, IMEI_DUMP_R_QUOTE, (unsigned)nf + 1,
				               "the quote at column %zu does not close on this line", start + 1);
			f.s = line + start + 1;
			f.len = q - start - 1;
			next = q + 1;
			while (next < len && (line[next] == ' ' || line[next] == '\t'))
				next++;
			if (next < len && line[next] != delim)
				return ref_problem(why, IMEI_DUMP_R_QUOTE, (unsigned)nf + 1,
				               "text after the closing quote, at column %zu", next + 1);
			ref_trim(&f.s, &f.len);
		} else {
			const char *d = memchr(line + start, delim, len - start);
			next = d ? (size_t)(d - line) : len;
			f.len = next - start;
			ref_trim(&f.s, &f.len);
		}
		if (nf < IMEI_DUMP_MAX_COLS)
			fields[nf] = f;
		nf++;
		if (next >= len)
			break;
		pos = next + 1;
	}
	if (nf > lay->ncols || nf < lay->min_cols) {
		char names[IMEI_DUMP_MAX_COLS * 8];
		size_t n = 0;
		for (size_t i = 0; i < lay->ncols && n + 10 < sizeof names; i++)
			n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? "," : "", imei_dump_col_name((enum imei_dump_col)lay->col[i]));
		if (lay->min_cols < lay->ncols)
			return ref_problem(why, IMEI_DUMP_R_FIELDS, 0, "%zu fields, expected %u to %u (%s)", nf, lay->min_cols,
			               lay->ncols, names);
		return ref_problem(why, IMEI_DUMP_R_FIELDS, 0, "%zu fields, expected %u (%s)", nf, lay->ncols, names);
	}

	row->msisdn = 0;
	row->rat = 0;
	for (size_t i = 0; i < nf; i++) {
		struct ref_span f = fields[i];
		unsigned field = (unsigned)i + 1;
		size_t at;
		int rc;
		switch (lay->col[i]) {
		case IMEI_DUMP_COL_DATE:
			if (!ref_date(f.s, f.len, &row->day)) {
				ref_show(f.s, f.len, shown);
				return ref_problem(why, IMEI_DUMP_R_DATE, field, "date: '%s' is not a date (YYYYMMDD)", shown);
			}
			if (row->day < IMEI_DUMP_MIN_DAY || row->day > IMEI_DUMP_MAX_DAY) {
				ref_show(f.s, f.len, shown);
				return ref_problem(why, IMEI_DUMP_R_DATE_RANGE, field,
				               "date: %s is outside the years 2000 to 2099", shown);
			}
			break;
		case IMEI_DUMP_COL_IMEI:
			rc = ref_parse_ident(f, field, row, scratch, why);
			if (rc != IMEI_DUMP_OK)
				return (enum imei_dump_reject)rc;
			break;
		case IMEI_DUMP_COL_IMSI:
			rc = ref_encode_digits(f.s, f.len, 6, 15, &row->imsi, &at);
			if (rc < 0) {
				ref_show(f.s, f.len, shown);
				if (f.len == 0)
					return ref_problem(why, IMEI_DUMP_R_IMSI, field, "imsi: empty");
				if (rc == -1)
					return ref_problem(why, IMEI_DUMP_R_IMSI, field, "imsi: '%s': character %zu is not a digit",
					               shown, at + 1);
				return ref_problem(why, IMEI_DUMP_R_IMSI, field, "imsi: '%s' has %zu digits, an IMSI has 6 to 15",
				               shown, f.len);
			}
			break;
		case IMEI_DUMP_COL_MSISDN:
			if (f.len == 0)
				break;
			{
				size_t skip = f.s[0] == '+';
				rc = ref_encode_digits(f.s + skip, f.len - skip, 3, 15, &row->msisdn, &at);
				if (rc < 0) {
					ref_show(f.s, f.len, shown);
					if (rc == -1)
						return ref_problem(why, IMEI_DUMP_R_MSISDN, field,
						               "msisdn: '%s': character %zu is not a digit", shown, at + 1 + skip);
					return ref_problem(why, IMEI_DUMP_R_MSISDN, field,
					               "msisdn: '%s' has %zu digits, an MSISDN has 3 to 15", shown, f.len - skip);
				}
			}
			break;
		case IMEI_DUMP_COL_RAT:
			if (f.len == 0)
				break;
			if (ref_rat(f.s, f.len, &row->rat) < 0) {
				ref_show(f.s, f.len, shown);
				return ref_problem(why, IMEI_DUMP_R_RAT, field,
				               "rat: '%s' is not a RAT (GERAN/2G, UTRAN/3G, EUTRAN/LTE/4G, NR/5G, ... or 1..10)",
				               shown);
			}
			break;
		default:
			break;
		}
	}
	return IMEI_DUMP_OK;
}

#endif
