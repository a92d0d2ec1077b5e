/*
 * dump_reader.c — operator dump rows (imei_dump_reader.h): layouts, headers, the row parser
 * and a bounded line reader over plain or gzip files (zlib's inflate; RFC 1952 detected
 * from the magic bytes, so a gzip file needs no .gz name and a plain one reads as is).
 * The row parser runs once per row of dumps of many millions: a plain row is split and
 * valued in one pass (parse_plain), any other by the general splitter (split_line), which
 * says what is wrong; the rules of each column live once, in decode_field, for both.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "imei_dump_reader.h"
#include "imei_sightings.h"

/* ---- dates -------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
int32_t imei_dump_day_from_ymd(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + (int)doe - 719468);
}

void imei_dump_ymd(int32_t day, int *y, unsigned *m, unsigned *d)
{
	int z = day + 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int yy = (int)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

void imei_dump_day_str(int32_t day, char *out)
{
	int y;
	unsigned m, d;
	imei_dump_ymd(day, &y, &m, &d);
	if (y < 0 || y > 9999) {
		memcpy(out, "00000000", 9);
		return;
	}
	snprintf(out, 9, "%04d%02u%02u", y, m % 100, d % 100);
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* ---- digits ------------------------------------------------------------------------ */

static const uint64_t pow10_u64[17] = {
	1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
	1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
	100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SWAR_DIGITS 1
/* The value of 8 decimal digits already less '0' (each byte 0..9), the first in the lowest
 * byte: pairs, then quads, then the eight, with three multiplications. */
static inline uint64_t eight_digits(uint64_t y)
{
	y = y * 10 + (y >> 8);
	return (((y & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
	        (((y >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
}
#endif

/* How many decimal digits s[0..n) starts with, and their value in *value (exact up to 19
 * digits; only ever used up to 16). Eight bytes at a time where the CPU allows: a byte is
 * no digit when it is >= 0x80, below '0' (x - '0' borrows into its top bit) or above '9'
 * (x + 0x46 reaches 0x80); a borrow or carry only ever moves into a later byte, so the
 * lowest byte flagged is the first non-digit. */
static inline size_t digit_run(const char *s, size_t n, uint64_t *value)
{
	uint64_t v = 0;
	size_t i = 0;
#ifdef SWAR_DIGITS
	while (n - i >= 8) {
		uint64_t x;
		memcpy(&x, s + i, 8);
		uint64_t nd = (x | (x + 0x4646464646464646ULL) | (x - 0x3030303030303030ULL)) & 0x8080808080808080ULL;
		uint64_t y = x - 0x3030303030303030ULL;
		if (nd == 0) {
			v = v * 100000000ULL + eight_digits(y);
			i += 8;
			continue;
		}
		unsigned k = (unsigned)__builtin_ctzll(nd) / 8;
		if (k > 0) {
			v = v * pow10_u64[k] + eight_digits(y << (8 * (8 - k)));
			i += k;
		}
		*value = v;
		return i;
	}
#endif
	for (; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9)
			break;
		v = v * 10 + d;
	}
	*value = v;
	return i;
}

/* ---- dates ------------------------------------------------------------------------- */

/* A date field's YYYYMMDD as a number, from YYYYMMDD (lead digits worth v at its start) or
 * YYYY-MM-DD; 0 when it has neither shape (no date has month 0). */
static uint32_t date_number(const char *s, size_t len, size_t lead, uint64_t v)
{
	if (len == 8 && lead == 8)
		return (uint32_t)v;
	if (len == 10 && lead == 4 && s[4] == '-' && s[7] == '-') {
		uint64_t m, d;
		if (digit_run(s + 5, 2, &m) == 2 && digit_run(s + 8, 2, &d) == 2)
			return (uint32_t)(v * 10000 + m * 100 + d);
	}
	return 0;
}

/* The day of YYYYMMDD when it is a real calendar date. */
static bool date_day(uint32_t ymd, int32_t *day)
{
	static const unsigned char mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y = ymd / 10000, m = ymd / 100 % 100, d = ymd % 100;
	if (m < 1 || m > 12 || d < 1)
		return false;
	if (d > mdays[m - 1] + (m == 2 && leap(y) ? 1u : 0u))
		return false;
	*day = imei_dump_day_from_ymd((int)y, m, d);
	return true;
}

bool imei_dump_date(const char *s, size_t len, int32_t *day)
{
	uint64_t v;
	size_t lead = digit_run(s, len, &v);
	uint32_t ymd = date_number(s, len, lead, v);
	return ymd != 0 && date_day(ymd, day);
}

/* ---- layouts ------------------------------------------------------------------------ */

static const char *const col_names[] = { "-", "date", "imei", "imsi", "msisdn", "rat" };

const char *imei_dump_col_name(enum imei_dump_col c)
{
	return (unsigned)c < sizeof col_names / sizeof col_names[0] ? col_names[c] : "?";
}

static bool same_ci(const char *s, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (n != len)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != name[i])
			return false;
	}
	return true;
}

enum imei_dump_col imei_dump_col_from_name(const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum imei_dump_col col;
	} names[] = {
		{ "date", IMEI_DUMP_COL_DATE },     { "triplet_date", IMEI_DUMP_COL_DATE }, { "day", IMEI_DUMP_COL_DATE },
		{ "imei", IMEI_DUMP_COL_IMEI },     { "imei_norm", IMEI_DUMP_COL_IMEI },    { "pei", IMEI_DUMP_COL_IMEI },
		{ "imsi", IMEI_DUMP_COL_IMSI },     { "supi", IMEI_DUMP_COL_IMSI },         { "msisdn", IMEI_DUMP_COL_MSISDN },
		{ "gpsi", IMEI_DUMP_COL_MSISDN },   { "rat", IMEI_DUMP_COL_RAT },           { "rat_type", IMEI_DUMP_COL_RAT },
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (same_ci(s, len, names[i].name))
			return names[i].col;
	return IMEI_DUMP_COL_SKIP;
}

void imei_dump_layout_default(struct imei_dump_layout *lay)
{
	memset(lay, 0, sizeof *lay);
	lay->col[0] = IMEI_DUMP_COL_DATE;
	lay->col[1] = IMEI_DUMP_COL_IMEI;
	lay->col[2] = IMEI_DUMP_COL_IMSI;
	lay->col[3] = IMEI_DUMP_COL_MSISDN;
	lay->col[4] = IMEI_DUMP_COL_RAT;
	lay->ncols = 5;
	lay->min_cols = 4;
	lay->delim = ',';
}

static void trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
		(*len)--;
}

/* Check a layout: required columns, none twice. */
static int check_layout(const struct imei_dump_layout *lay, const char *what, char *err, size_t errlen)
{
	unsigned seen[6] = { 0 };
	for (size_t i = 0; i < lay->ncols; i++)
		seen[lay->col[i]]++;
	for (int c = IMEI_DUMP_COL_DATE; c <= IMEI_DUMP_COL_RAT; c++)
		if (seen[c] > 1) {
			snprintf(err, errlen, "%s: column '%s' is given %u times", what, col_names[c], seen[c]);
			return -1;
		}
	static const enum imei_dump_col required[] = { IMEI_DUMP_COL_DATE, IMEI_DUMP_COL_IMEI, IMEI_DUMP_COL_IMSI };
	for (size_t i = 0; i < 3; i++)
		if (!seen[required[i]]) {
			snprintf(err, errlen, "%s: no '%s' column (date, imei and imsi are required)", what,
			         col_names[required[i]]);
			return -1;
		}
	return 0;
}

int imei_dump_layout_parse(const char *spec, char delim, struct imei_dump_layout *lay, char *err, size_t errlen)
{
	memset(lay, 0, sizeof *lay);
	lay->delim = delim ? delim : ',';
	const char *p = spec;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *name = p;
		trim(&name, &n);
		if (lay->ncols == IMEI_DUMP_MAX_COLS) {
			snprintf(err, errlen, "columns: more than %d columns", IMEI_DUMP_MAX_COLS);
			return -1;
		}
		enum imei_dump_col c = imei_dump_col_from_name(name, n);
		if (c == IMEI_DUMP_COL_SKIP && !same_ci(name, n, "-") && !same_ci(name, n, "skip")) {
			snprintf(err, errlen,
			         "columns: '%.*s' is not a column name (date, imei, imsi, msisdn, rat, or - to skip one)",
			         (int)(n > 40 ? 40 : n), name);
			return -1;
		}
		lay->col[lay->ncols++] = (uint8_t)c;
		if (!comma)
			break;
		p = comma + 1;
	}
	lay->min_cols = lay->ncols;
	return check_layout(lay, "columns", err, errlen);
}

/* The span of field i (0-based) of a line, unquoted when it was quoted without "" in it;
 * for the header only (a header has no escapes worth keeping). */
bool imei_dump_is_header(const char *line, size_t len, char delim)
{
	const char *end = memchr(line, delim, len);
	size_t n = end ? (size_t)(end - line) : len;
	const char *first = line;
	trim(&first, &n);
	if (n >= 2 && first[0] == '"' && first[n - 1] == '"') {
		first++;
		n -= 2;
	}
	int32_t day;
	if (imei_dump_date(first, n, &day))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = line[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			return true;
	}
	return false;
}

int imei_dump_header_layout(const char *line, size_t len, char delim, struct imei_dump_layout *lay, char *err,
                            size_t errlen)
{
	memset(lay, 0, sizeof *lay);
	lay->delim = delim;
	size_t pos = 0;
	for (;;) {
		const char *start = line + pos;
		const char *end = memchr(start, delim, len - pos);
		size_t n = end ? (size_t)(end - start) : len - pos;
		const char *name = start;
		trim(&name, &n);
		if (n >= 2 && name[0] == '"' && name[n - 1] == '"') {
			name++;
			n -= 2;
			trim(&name, &n);
		}
		if (lay->ncols == IMEI_DUMP_MAX_COLS) {
			snprintf(err, errlen, "header: more than %d columns", IMEI_DUMP_MAX_COLS);
			return -1;
		}
		lay->col[lay->ncols++] = (uint8_t)imei_dump_col_from_name(name, n);
		if (!end)
			break;
		pos = (size_t)(end - line) + 1;
	}
	lay->min_cols = lay->ncols;
	return check_layout(lay, "header", err, errlen);
}

/* ---- forms ------------------------------------------------------------------------- */

size_t imei_dump_form_digits(uint64_t key, uint8_t form, char *out)
{
	for (int i = 13; i >= 0; i--) {
		out[i] = (char)('0' + key % 10);
		key /= 10;
	}
	size_t n = 14;
	if (form >= IMEI_DUMP_FORM_IMEI && form < IMEI_DUMP_FORM_IMEISV) {
		out[n++] = (char)('0' + (form - IMEI_DUMP_FORM_IMEI));
	} else if (form >= IMEI_DUMP_FORM_IMEISV && form < IMEI_DUMP_FORM_IMEISV + 100) {
		unsigned svn = (unsigned)(form - IMEI_DUMP_FORM_IMEISV);
		out[n++] = (char)('0' + svn / 10);
		out[n++] = (char)('0' + svn % 10);
	}
	out[n] = 0;
	return n;
}

/* ---- rejection reasons -------------------------------------------------------------- */

static const char *const reject_names[IMEI_DUMP_NREJECT] = {
	"ok", "fields", "quote", "long_line", "control_byte", "date", "date_range",
	"imei_empty", "imei_text", "imsi", "msisdn", "rat",
};

static const char *const reject_texts[IMEI_DUMP_NREJECT] = {
	"accepted",
	"wrong number of fields",
	"broken quoting",
	"line too long",
	"control byte (NUL, ...) in the line",
	"not a date",
	"date out of range",
	"no equipment identity",
	"equipment identity too long or not printable",
	"bad IMSI",
	"bad MSISDN",
	"unknown RAT",
};

const char *imei_dump_reject_name(enum imei_dump_reject r)
{
	return (unsigned)r < IMEI_DUMP_NREJECT ? reject_names[r] : "?";
}

const char *imei_dump_reject_text(enum imei_dump_reject r)
{
	return (unsigned)r < IMEI_DUMP_NREJECT ? reject_texts[r] : "?";
}

/* ---- the row parser ---------------------------------------------------------------- */

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

static enum imei_dump_reject problem(struct imei_dump_problem *why, enum imei_dump_reject r, unsigned field,
                                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum imei_dump_reject problem(struct imei_dump_problem *why, enum imei_dump_reject r, unsigned field,
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

/* A field of a row: where it is (trimmed, between its quotes when quoted), whether it was
 * quoted with "" inside (unescaped before use: the identity only), and the digits it
 * starts with (digit_run), found while the line is split. */
struct span {
	const char *s;
	size_t len;
	size_t lead;
	uint64_t v;
	bool escaped;
};

/* digits of min..max digits as 10^len + value (the store's encoding); -1 at the first
 * non-digit (its 0-based index in *at), -2 for a wrong length. A run of more than 16
 * digits is a wrong length, whatever follows it. */
static int encode_digits(size_t len, size_t lead, uint64_t v, unsigned min, unsigned max, uint64_t *out, size_t *at)
{
	if (lead < len && lead <= 16) {
		*at = lead;
		return -1;
	}
	if (len < min || len > max)
		return -2;
	*out = pow10_u64[len] + v;
	return 0;
}

/* An identity of 14, 15 or 16 decimal digits (TS 23.003 §6.2: IMEI without CD, IMEI,
 * IMEISV), the common case: its key and form into row. false for any other identity. */
static inline bool imei_digits(const struct span *f, struct imei_dump_row *row)
{
	if (f->lead != f->len || f->len < 14 || f->len > 16)
		return false;
	uint64_t v = f->v;
	if (f->len == 14) {
		row->key = v;
		row->form = IMEI_DUMP_FORM_IMEI14;
		row->kind = IMEI_KIND_IMEI14;
	} else if (f->len == 15) {
		row->key = v / 10;
		row->form = (uint8_t)(IMEI_DUMP_FORM_IMEI + v % 10);
		row->kind = IMEI_KIND_IMEI;
	} else {
		row->key = v / 100;
		row->form = (uint8_t)(IMEI_DUMP_FORM_IMEISV + v % 100);
		row->kind = IMEI_KIND_IMEISV;
	}
	row->ident = NULL;
	row->ident_len = 0;
	return true;
}

static size_t unescape(const struct span *f, char *out, size_t cap)
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

static enum imei_dump_reject parse_ident(struct span f, unsigned field, struct imei_dump_row *row, char *scratch,
                                         struct imei_dump_problem *why)
{
	char shown[32];
	if (f.escaped) {
		if (f.len > IMEI_DUMP_MAX_IDENT * 2)
			return problem(why, IMEI_DUMP_R_IMEI_TEXT, field, "imei: %zu bytes, more than the %d an identity may have",
			               f.len, IMEI_DUMP_MAX_IDENT);
		f.len = unescape(&f, scratch, IMEI_DUMP_MAX_IDENT * 2 + 1);
		f.s = scratch;
		trim(&f.s, &f.len);
		f.lead = digit_run(f.s, f.len, &f.v);
	}
	if (f.len == 0)
		return problem(why, IMEI_DUMP_R_IMEI_EMPTY, field, "imei: empty");
	if (imei_digits(&f, row))
		return IMEI_DUMP_OK;
	const unsigned char *s = (const unsigned char *)f.s;
	if (f.len > IMEI_DUMP_MAX_IDENT) {
		show(f.s, f.len, shown);
		return problem(why, IMEI_DUMP_R_IMEI_TEXT, field, "imei: '%s' has %zu characters, more than %d", shown,
		               f.len, IMEI_DUMP_MAX_IDENT);
	}
	for (size_t i = 0; i < f.len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e) {
			show(f.s, f.len, shown);
			return problem(why, IMEI_DUMP_R_IMEI_TEXT, field,
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

/* Split any line: quoting with "", blanks around fields. IMEI_DUMP_OK, or the refusal of
 * a line with a control byte, broken quoting or the wrong number of fields. */
static enum imei_dump_reject split_line(const struct imei_dump_layout *lay, const char *line, size_t len,
                                        struct span *fields, size_t *nfields, struct imei_dump_problem *why)
{
	size_t nf = 0, pos = 0;
	const char delim = lay->delim;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c < 0x20 && c != '\t')
			return problem(why, IMEI_DUMP_R_CONTROL, 0, "byte 0x%02X at column %zu: control bytes have no place "
			               "in a dump row", c, i + 1);
	}
	for (;;) {
		size_t start = pos;
		while (start < len && (line[start] == ' ' || line[start] == '\t'))
			start++;
		struct span f = { line + start, 0, 0, 0, false };
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
				return problem(why, IMEI_DUMP_R_QUOTE, (unsigned)nf + 1,
				               "the quote at column %zu does not close on this line", start + 1);
			f.s = line + start + 1;
			f.len = q - start - 1;
			next = q + 1;
			while (next < len && (line[next] == ' ' || line[next] == '\t'))
				next++;
			if (next < len && line[next] != delim)
				return problem(why, IMEI_DUMP_R_QUOTE, (unsigned)nf + 1,
				               "text after the closing quote, at column %zu", next + 1);
			trim(&f.s, &f.len);
		} else {
			const char *d = memchr(line + start, delim, len - start);
			next = d ? (size_t)(d - line) : len;
			f.len = next - start;
			trim(&f.s, &f.len);
		}
		f.lead = digit_run(f.s, f.len, &f.v);
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
			n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? "," : "", col_names[lay->col[i]]);
		if (lay->min_cols < lay->ncols)
			return problem(why, IMEI_DUMP_R_FIELDS, 0, "%zu fields, expected %u to %u (%s)", nf, lay->min_cols,
			               lay->ncols, names);
		return problem(why, IMEI_DUMP_R_FIELDS, 0, "%zu fields, expected %u (%s)", nf, lay->ncols, names);
	}
	*nfields = nf;
	return IMEI_DUMP_OK;
}

/* The value of one field, of the kind col, into row: the rules of each column, for both
 * ways a line is split (inlined in each: a call per field costs as much as the field).
 * IMEI_DUMP_OK, or why not (in *why unless NULL). */
static inline __attribute__((always_inline)) enum imei_dump_reject decode_field(enum imei_dump_col col, struct span f, unsigned field,
                                                 struct imei_dump_row *row, struct imei_dump_dates *dates,
                                                 char *scratch, struct imei_dump_problem *why)
{
	char shown[32];
	size_t at;
	int rc;
	switch (col) {
	case IMEI_DUMP_COL_DATE: {
		uint32_t ymd = date_number(f.s, f.len, f.lead, f.v);
		if (dates && ymd != 0 && ymd == dates->ymd) {
			row->day = dates->day; /* the date of the row before: dumps come sorted by day */
			return IMEI_DUMP_OK;
		}
		if (ymd == 0 || !date_day(ymd, &row->day)) {
			show(f.s, f.len, shown);
			return problem(why, IMEI_DUMP_R_DATE, field, "date: '%s' is not a date (YYYYMMDD)", shown);
		}
		if (row->day < IMEI_DUMP_MIN_DAY || row->day > IMEI_DUMP_MAX_DAY) {
			show(f.s, f.len, shown);
			return problem(why, IMEI_DUMP_R_DATE_RANGE, field, "date: %s is outside the years 2000 to 2099", shown);
		}
		if (dates) {
			dates->ymd = ymd;
			dates->day = row->day;
			dates->text8 = 0;
			if (f.len == 8 && !f.escaped)
				memcpy(&dates->text8, f.s, 8);
		}
		return IMEI_DUMP_OK;
	}
	case IMEI_DUMP_COL_IMEI:
		if (!f.escaped && imei_digits(&f, row))
			return IMEI_DUMP_OK; /* the common case, without a call */
		return parse_ident(f, field, row, scratch, why);
	case IMEI_DUMP_COL_IMSI:
		rc = encode_digits(f.len, f.lead, f.v, 6, 15, &row->imsi, &at);
		if (rc < 0) {
			show(f.s, f.len, shown);
			if (f.len == 0)
				return problem(why, IMEI_DUMP_R_IMSI, field, "imsi: empty");
			if (rc == -1)
				return problem(why, IMEI_DUMP_R_IMSI, field, "imsi: '%s': character %zu is not a digit", shown,
				               at + 1);
			return problem(why, IMEI_DUMP_R_IMSI, field, "imsi: '%s' has %zu digits, an IMSI has 6 to 15", shown,
			               f.len);
		}
		return IMEI_DUMP_OK;
	case IMEI_DUMP_COL_MSISDN: {
		if (f.len == 0)
			return IMEI_DUMP_OK;
		size_t skip = f.s[0] == '+';
		if (skip)
			f.lead = digit_run(f.s + 1, f.len - 1, &f.v);
		rc = encode_digits(f.len - skip, f.lead, f.v, 3, 15, &row->msisdn, &at);
		if (rc < 0) {
			show(f.s, f.len, shown);
			if (rc == -1)
				return problem(why, IMEI_DUMP_R_MSISDN, field, "msisdn: '%s': character %zu is not a digit", shown,
				               at + 1 + skip);
			return problem(why, IMEI_DUMP_R_MSISDN, field, "msisdn: '%s' has %zu digits, an MSISDN has 3 to 15",
			               shown, f.len - skip);
		}
		return IMEI_DUMP_OK;
	}
	case IMEI_DUMP_COL_RAT:
		if (f.len == 0)
			return IMEI_DUMP_OK;
		if (imei_sight_rat(f.s, f.len, &row->rat, NULL) < 0) {
			show(f.s, f.len, shown);
			return problem(why, IMEI_DUMP_R_RAT, field,
			               "rat: '%s' is not a RAT (GERAN/2G, UTRAN/3G, EUTRAN/LTE/4G, NR/5G, ... or 1..10)", shown);
		}
		return IMEI_DUMP_OK;
	default:
		return IMEI_DUMP_OK;
	}
}

/* The end of a plain field's unquoted rest, from q (not the delimiter) on: the next delim
 * or the line's end; NULL at a byte that makes the line not plain (below '!', or '"').
 * Eight bytes at a time where the CPU allows: a byte is flagged when it equals the
 * delimiter or '"' (x ^ c is then 0, and 0 - 1 borrows into its top bit) or is below '!'
 * (x - 0x21 borrows; a byte of 0x80 up is never flagged, ~x clears its top bit); a borrow
 * only ever moves into a later byte, so the lowest byte flagged is the first that is one.
 * The last bytes of the line are the last eight of it shifted down (line: its start), so
 * nothing before line or from end on is read. */
static inline const char *plain_end(const char *line, const char *q, const char *end, char delim)
{
#ifdef SWAR_DIGITS
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	const uint64_t d = ones * (unsigned char)delim, quote = ones * (unsigned char)'"';
	for (;;) {
		uint64_t x, keep = ~0ULL;
		size_t left = (size_t)(end - q);
		if (left >= 8) {
			memcpy(&x, q, 8);
		} else if (left > 0 && end - line >= 8) {
			memcpy(&x, end - 8, 8);
			x >>= 8 * (8 - left);
			keep = (1ULL << 8 * left) - 1;
		} else {
			break;
		}
		uint64_t e = x ^ d, t = x ^ quote;
		uint64_t hit = ((e - ones) & ~e) | ((t - ones) & ~t) | ((x - ones * 0x21) & ~x);
		hit &= high & keep;
		if (hit) {
			q += (unsigned)__builtin_ctzll(hit) / 8;
			return *q == delim ? q : NULL;
		}
		if (left <= 8)
			return end;
		q += 8;
	}
#else
	(void)line;
#endif
	for (; q < end && *q != delim; q++)
		if ((unsigned char)*q <= ' ' || *q == '"')
			return NULL;
	return q;
}

/* A plain line, the common one, in a single pass: each field split, its digits read
 * (digit_run) and its value taken (decode_field) before the next. Plain: no byte below
 * '!' (no blank, no control byte), fields unquoted or quoted without "" or blanks, as many
 * fields as the layout takes, each of them good. false for any other line: parse_line
 * then splits it and says what is wrong, so that both give the same row, and the same
 * refusal, for every line. */
static bool parse_plain(const struct imei_dump_layout *lay, struct imei_dump_dates *dates, const char *line,
                        size_t len, struct imei_dump_row *row, char *scratch)
{
	const char delim = lay->delim;
	const char *p = line, *end = line + len;
	size_t nf = 0;
	if ((unsigned char)delim <= ' ' || delim == '"' || (delim >= '0' && delim <= '9'))
		return false;
	row->msisdn = 0;
	row->rat = 0;
	for (;;) {
		if (nf == lay->ncols)
			return false;
		enum imei_dump_col col = (enum imei_dump_col)lay->col[nf++];
		const char *q;
		if (col == IMEI_DUMP_COL_DATE && dates && dates->text8 && end - p >= 8 && memcmp(p, &dates->text8, 8) == 0 &&
		    (end - p == 8 || p[8] == delim)) {
			/* the same 8 bytes as the date of the row before */
			row->day = dates->day;
			q = p + 8;
		} else {
			struct span f;
			if (p < end && *p == '"') {
				/* quoted: up to the closing quote, then the delimiter or the line's end */
				f.s = ++p;
				f.lead = digit_run(p, (size_t)(end - p), &f.v);
				for (q = p + f.lead; q < end && *q != '"'; q++)
					if ((unsigned char)*q <= ' ')
						return false;
				f.len = (size_t)(q - p);
				if (q == end || (++q < end && *q != delim))
					return false;
			} else {
				f.s = p;
				f.lead = digit_run(p, (size_t)(end - p), &f.v);
				q = p + f.lead;
				if (q < end && *q != delim && !(q = plain_end(line, q, end, delim)))
					return false;
				f.len = (size_t)(q - p);
			}
			f.escaped = false;
			if (decode_field(col, f, (unsigned)nf, row, dates, scratch, NULL) != IMEI_DUMP_OK)
				return false;
		}
		if (q == end)
			break;
		p = q + 1;
	}
	return nf >= lay->min_cols;
}

enum imei_dump_reject imei_dump_parse(const struct imei_dump_layout *lay, const char *line, size_t len,
                                      struct imei_dump_row *row, char *scratch, struct imei_dump_problem *why)
{
	return imei_dump_parse_row(lay, NULL, line, len, row, scratch, why);
}

enum imei_dump_reject imei_dump_parse_row(const struct imei_dump_layout *lay, struct imei_dump_dates *dates,
                                          const char *line, size_t len, struct imei_dump_row *row, char *scratch,
                                          struct imei_dump_problem *why)
{
	if (parse_plain(lay, dates, line, len, row, scratch))
		return IMEI_DUMP_OK;
	struct span fields[IMEI_DUMP_MAX_COLS];
	size_t nf = 0;
	enum imei_dump_reject r = split_line(lay, line, len, fields, &nf, why);
	if (r != IMEI_DUMP_OK)
		return r;
	row->msisdn = 0;
	row->rat = 0;
	for (size_t i = 0; i < nf; i++) {
		r = decode_field((enum imei_dump_col)lay->col[i], fields[i], (unsigned)i + 1, row, dates, scratch, why);
		if (r != IMEI_DUMP_OK)
			return r;
	}
	return IMEI_DUMP_OK;
}

/* ---- the line reader ---------------------------------------------------------------- */

/* The file is read with read(2) and, for gzip, inflated here (not with gzread): zlib's
 * gzread ignores whatever follows the last gzip member, and a dump with a second file
 * appended, or garbage after its end, must be read whole or refused, never cut short.
 * RFC 1952 §2.2: a gzip file is a series of members; each is read in turn. */

#define READ_CHUNK (1u << 18)
#define IN_CHUNK (1u << 18)
#define SNIFF 512 /* bytes looked at for the text encoding */
#define RANGE_TAIL 512 /* bytes read past a range's end at a time, for the line across it */

struct imei_dump_file {
	int fd;
	z_stream zs;
	bool zs_ready;      /* inflateInit2 done */
	bool member_done;   /* between two gzip members (or at the end) */
	unsigned char *in;  /* compressed input (gzip only) */
	uint64_t in_read;   /* bytes read from the file so far */
	unsigned char head[2];
	size_t nhead;       /* bytes of head[] read at open and not yet used */
	char *buf;
	size_t cap, start, end;
	size_t line;
	size_t unterminated; /* the last line had no line end: its number */
	uint64_t size;
	char sep;           /* the line end: '\n' (LF or CRLF) or '\r' (CR only); 0 until known */
	bool in_eof, eof, skipping, started, gzip;
	uint64_t limit;     /* a range's end: no line starting at or after it is returned */
	char path[512];
};

/* read(2) of at most n bytes; the count, or -1 with errno. A read interrupted by a signal
 * is not retried (EINTR): a handler installed without SA_RESTART asks for that, and a
 * replay stopped by SIGINT/SIGTERM sends the signal on to a reader sitting in a read() of
 * an idle pipe so that it ends (host/replay_ingest.c); a retry would wait for the pipe's
 * writer instead. */
static ssize_t read_some(int fd, void *p, size_t n)
{
	return read(fd, p, n);
}

struct imei_dump_file *imei_dump_open(const char *path, char *err, size_t errlen)
{
	int fd;
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "standard input" : path;
	if (is_stdin)
		fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
	else
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", name, S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
		close(fd);
		return NULL;
	}
	struct imei_dump_file *f = calloc(1, sizeof *f);
	if (!f || !(f->buf = malloc(READ_CHUNK + IMEI_DUMP_MAX_LINE + 2))) {
		free(f);
		close(fd);
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	f->fd = fd;
	f->limit = UINT64_MAX;
	f->cap = READ_CHUNK + IMEI_DUMP_MAX_LINE + 2;
	f->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	snprintf(f->path, sizeof f->path, "%s", name);
	/* gzip or not, from the first two bytes (RFC 1952 §2.3.1: ID1 0x1f, ID2 0x8b) */
	while (f->nhead < 2) {
		ssize_t got = read_some(fd, f->head + f->nhead, 2 - f->nhead);
		if (got < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
			imei_dump_close(f);
			return NULL;
		}
		if (got == 0) {
			f->in_eof = true;
			break;
		}
		f->nhead += (size_t)got;
		f->in_read += (uint64_t)got;
	}
	f->gzip = f->nhead == 2 && f->head[0] == 0x1f && f->head[1] == 0x8b;
	if (f->gzip) {
		if (!(f->in = malloc(IN_CHUNK)) || inflateInit2(&f->zs, 16 + MAX_WBITS) != Z_OK) {
			snprintf(err, errlen, "%s: cannot start reading (out of memory)", name);
			imei_dump_close(f);
			return NULL;
		}
		f->zs_ready = true;
		memcpy(f->in, f->head, 2);
		f->zs.next_in = f->in;
		f->zs.avail_in = 2;
		f->nhead = 0;
	}
	return f;
}

struct imei_dump_file *imei_dump_open_range(const char *path, uint64_t from, uint64_t to, char sep, char *err,
                                            size_t errlen)
{
	struct imei_dump_file *f = imei_dump_open(path, err, errlen);
	if (!f || from == 0) {
		if (f)
			f->limit = to;
		return f;
	}
	if (f->gzip || !f->size || (sep != '\n' && sep != '\r') || from > f->size) {
		snprintf(err, errlen, "%s: cannot read from byte %llu: not a plain file of that size", f->path,
		         (unsigned long long)from);
		imei_dump_close(f);
		return NULL;
	}
	/* from the byte before the range: the rest of the line it is part of (just its line
	 * end when a line starts at from) belongs to the range before */
	if (lseek(f->fd, (off_t)(from - 1), SEEK_SET) < 0) {
		snprintf(err, errlen, "%s: cannot seek to byte %llu: %s", f->path, (unsigned long long)from,
		         strerror(errno));
		imei_dump_close(f);
		return NULL;
	}
	f->nhead = 0;
	f->in_eof = false;
	f->in_read = from - 1;
	f->sep = sep;
	f->started = true;
	f->skipping = true;
	f->limit = to;
	return f;
}

char imei_dump_line_end(const struct imei_dump_file *f)
{
	return f->sep;
}

/* Where the next line starts; inlined in imei_dump_next, which asks it of every line of a
 * range (a call by the exported name goes through the shared library's PLT). */
static inline uint64_t line_offset(const struct imei_dump_file *f)
{
	return f->in_read - f->nhead - (f->end - f->start);
}

uint64_t imei_dump_line_offset(const struct imei_dump_file *f)
{
	return line_offset(f);
}

void imei_dump_close(struct imei_dump_file *f)
{
	if (!f)
		return;
	if (f->zs_ready)
		inflateEnd(&f->zs);
	close(f->fd);
	free(f->in);
	free(f->buf);
	free(f);
}

uint64_t imei_dump_offset(const struct imei_dump_file *f)
{
	return f->in_read - (f->gzip ? f->zs.avail_in : 0);
}

uint64_t imei_dump_size(const struct imei_dump_file *f)
{
	return f->size;
}

bool imei_dump_gzip(const struct imei_dump_file *f)
{
	return f->gzip;
}

size_t imei_dump_unterminated(const struct imei_dump_file *f)
{
	return f->unterminated;
}

/* More compressed input after what is left unread; 0, or -1 with err. */
static int read_in(struct imei_dump_file *f, char *err, size_t errlen)
{
	size_t left = f->zs.avail_in;
	if (left && f->zs.next_in != f->in)
		memmove(f->in, f->zs.next_in, left);
	ssize_t got = read_some(f->fd, f->in + left, IN_CHUNK - left);
	if (got < 0) {
		snprintf(err, errlen, "%s: byte %llu (after line %zu): cannot read: %s", f->path,
		         (unsigned long long)f->in_read, f->line, strerror(errno));
		return -1;
	}
	if (got == 0)
		f->in_eof = true;
	f->in_read += (uint64_t)got;
	f->zs.next_in = f->in;
	f->zs.avail_in = (uInt)(left + (size_t)got);
	return 0;
}

/* The lines complete in everything inflated so far (those returned and those still in
 * the buffer, up to produced bytes at the buffer's end): where in the text an error in
 * the compressed stream falls. */
static size_t lines_so_far(const struct imei_dump_file *f, size_t produced)
{
	size_t n = f->line;
	char sep = f->sep ? f->sep : '\n';
	const char *p = f->buf + f->start, *end = f->buf + f->end + produced;
	while (p < end && (p = memchr(p, sep, (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* Inflate into dst[0..room): at least one byte unless the last member has ended.
 * The byte offsets in messages are those of the compressed file. */
static int inflate_some(struct imei_dump_file *f, char *dst, size_t room, size_t *got, char *err, size_t errlen)
{
	z_stream *zs = &f->zs;
	zs->next_out = (unsigned char *)dst;
	zs->avail_out = (uInt)room;
	while (zs->avail_out == room) {
		if (f->member_done) {
			/* RFC 1952 §2.2: another member, or the end of the file; anything else is refused */
			if (zs->avail_in < 2 && !f->in_eof) {
				if (read_in(f, err, errlen) < 0)
					return -1;
				continue;
			}
			if (zs->avail_in == 0) {
				f->eof = true;
				break;
			}
			if (zs->avail_in >= 2 && zs->next_in[0] == 0x1f && zs->next_in[1] == 0x8b) {
				if (inflateReset(zs) != Z_OK) {
					snprintf(err, errlen, "%s: cannot restart inflating", f->path);
					return -1;
				}
				f->member_done = false;
				continue;
			}
			uint64_t at = imei_dump_offset(f);
			size_t lines = lines_so_far(f, room - zs->avail_out);
			char shown[32];
			show((const char *)zs->next_in, zs->avail_in, shown);
			snprintf(err, errlen,
			         "%s: byte %llu (after line %zu): %llu byte%s after the end of the gzip data that are not "
			         "another gzip member ('%s'): the file is damaged or something was appended to it",
			         f->path, (unsigned long long)at, lines,
			         (unsigned long long)(f->size > at ? f->size - at : zs->avail_in),
			         (f->size > at ? f->size - at : zs->avail_in) == 1 ? "" : "s", shown);
			return -1;
		}
		if (zs->avail_in == 0 && !f->in_eof) {
			if (read_in(f, err, errlen) < 0)
				return -1;
			continue;
		}
		int rc = inflate(zs, Z_NO_FLUSH);
		if (rc == Z_STREAM_END) {
			f->member_done = true;
			continue;
		}
		if (rc == Z_OK)
			continue;
		uint64_t at = imei_dump_offset(f);
		size_t lines = lines_so_far(f, room - zs->avail_out);
		if (rc == Z_BUF_ERROR && zs->avail_in == 0 && f->in_eof)
			snprintf(err, errlen, "%s: byte %llu (after line %zu): the gzip stream is truncated (the file ends "
			                      "inside a gzip member)", f->path, (unsigned long long)at, lines);
		else if (rc == Z_MEM_ERROR)
			snprintf(err, errlen, "%s: out of memory inflating", f->path);
		else
			snprintf(err, errlen, "%s: byte %llu (after line %zu): damaged gzip data (%s)", f->path,
			         (unsigned long long)at, lines, zs->msg ? zs->msg : "inflate error");
		return -1;
	}
	*got = room - zs->avail_out;
	return 0;
}

/* Read more into the buffer after compacting; -1 on a read error. */
static int fill(struct imei_dump_file *f, char *err, size_t errlen)
{
	if (f->start > 0) {
		memmove(f->buf, f->buf + f->start, f->end - f->start);
		f->end -= f->start;
		f->start = 0;
	}
	size_t room = f->cap - f->end - 1, n = 0;
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	if (f->gzip) {
		if (inflate_some(f, f->buf + f->end, room, &n, err, errlen) < 0)
			return -1;
	} else if (f->nhead) {
		memcpy(f->buf + f->end, f->head, f->nhead);
		n = f->nhead;
		f->nhead = 0;
	} else if (f->in_eof) {
		f->eof = true;
	} else {
		if (f->limit != UINT64_MAX) {
			/* a range: what is left of it and of the line across its end (a longer line
			 * takes more reads), not a buffer's worth of the range after, which that
			 * range's reader reads again (it doubled the copies out of the page cache
			 * with ranges as long as the buffer) */
			uint64_t want = (f->limit > f->in_read ? f->limit - f->in_read : 0) + RANGE_TAIL;
			if (want < room)
				room = (size_t)want;
		}
		ssize_t got = read_some(f->fd, f->buf + f->end, room);
		if (got < 0) {
			snprintf(err, errlen, "%s: byte %llu (after line %zu): cannot read: %s", f->path,
			         (unsigned long long)f->in_read, f->line, strerror(errno));
			return -1;
		}
		if (got == 0)
			f->eof = f->in_eof = true;
		n = (size_t)got;
		f->in_read += (uint64_t)got;
	}
	f->end += n;
	return 0;
}

/* The start of the text: what encoding it is in. A UTF-8 byte order mark is skipped;
 * UTF-16 and UTF-32 (byte order mark, or NUL bytes between ASCII characters) are refused
 * by name: read as bytes they would be rows of control bytes, none of them a row. */
static int sniff(struct imei_dump_file *f, char *err, size_t errlen)
{
	while (!f->eof && f->end - f->start < SNIFF)
		if (fill(f, err, errlen) < 0)
			return -1;
	const unsigned char *p = (const unsigned char *)f->buf + f->start;
	size_t n = f->end - f->start;
	const char *what = NULL, *how = NULL;
	if (n >= 4 && ((p[0] == 0xFF && p[1] == 0xFE && p[2] == 0 && p[3] == 0) ||
	               (p[0] == 0 && p[1] == 0 && p[2] == 0xFE && p[3] == 0xFF))) {
		what = "UTF-32", how = "from its byte order mark";
	} else if (n >= 2 && p[0] == 0xFF && p[1] == 0xFE) {
		what = "UTF-16 (little-endian)", how = "from its byte order mark FF FE";
	} else if (n >= 2 && p[0] == 0xFE && p[1] == 0xFF) {
		what = "UTF-16 (big-endian)", how = "from its byte order mark FE FF";
	} else {
		size_t even = 0, odd = 0, m = n < SNIFF ? n : SNIFF;
		for (size_t i = 0; i < m; i++)
			if (p[i] == 0)
				*(i % 2 ? &odd : &even) += 1;
		if (m >= 4 && (even + odd) * 4 >= m) {
			if (odd > 8 * even)
				what = "UTF-16 (little-endian)";
			else if (even > 8 * odd)
				what = "UTF-16 (big-endian)";
			else
				what = "binary (not text)";
			how = "from the NUL bytes between its characters";
		}
	}
	if (what) {
		snprintf(err, errlen, "%s: the %sfile is %s, %s; a dump is ASCII or UTF-8 text: convert it (e.g. "
		                      "iconv -f UTF-16 -t UTF-8)", f->path, f->gzip ? "uncompressed " : "", what, how);
		return -1;
	}
	if (n >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		f->start += 3;
	return 0;
}

/* Which line end the file uses, from its first one: LF (or CRLF), or a lone CR (old
 * Mac and some exporters). 0 when it is not known yet (more must be read). */
static char line_end(const struct imei_dump_file *f)
{
	const char *p = f->buf + f->start;
	size_t avail = f->end - f->start;
	const char *lf = memchr(p, '\n', avail), *cr = memchr(p, '\r', lf ? (size_t)(lf - p) : avail);
	if (cr) {
		size_t i = (size_t)(cr - p);
		if (i + 1 < avail)
			return p[i + 1] == '\n' ? '\n' : '\r';
		return f->eof ? '\r' : 0;
	}
	if (lf || f->eof || avail > IMEI_DUMP_MAX_LINE + 1)
		return '\n';
	return 0;
}

int imei_dump_next(struct imei_dump_file *f, const char **line, size_t *len, size_t *lineno, bool *too_long,
                   char *err, size_t errlen)
{
	if (!f->started) {
		if (sniff(f, err, errlen) < 0)
			return -1;
		f->started = true;
	}
	while (!f->sep) {
		if (!(f->sep = line_end(f)) && fill(f, err, errlen) < 0)
			return -1;
	}
	const char sep = f->sep;
	for (;;) {
		char *p = f->buf + f->start;
		size_t avail = f->end - f->start;
		char *nl = avail ? memchr(p, sep, avail) : NULL;
		if (f->skipping) {
			/* the rest of a line too long to keep */
			if (nl) {
				f->start += (size_t)(nl - p) + 1;
				f->skipping = false;
				continue;
			}
			f->start = f->end;
			if (f->eof) {
				/* the file ends in it: a line returned cut (a range's first skip, of
				 * the line before the range, is the range before's to report) */
				if (f->line)
					f->unterminated = f->line;
				return 0;
			}
			if (fill(f, err, errlen) < 0)
				return -1;
			continue;
		}
		if (f->limit != UINT64_MAX && line_offset(f) >= f->limit)
			return 0; /* the next line starts in the range after */
		if (nl || (f->eof && avail > 0) || avail > IMEI_DUMP_MAX_LINE) {
			size_t n = nl ? (size_t)(nl - p) : avail;
			bool cut = false;
			if (n > IMEI_DUMP_MAX_LINE) {
				cut = true;
				if (nl) {
					f->start += n + 1;
				} else {
					f->start = f->end;
					f->skipping = !f->eof;
				}
				n = IMEI_DUMP_MAX_LINE;
			} else {
				f->start += nl ? n + 1 : n;
			}
			if (sep == '\n' && n > 0 && p[n - 1] == '\r' && !cut)
				n--;
			*line = p;
			*len = n;
			*lineno = ++f->line;
			*too_long = cut;
			if (!nl && f->eof)
				f->unterminated = f->line;
			return 1;
		}
		if (f->eof)
			return 0;
		if (fill(f, err, errlen) < 0)
			return -1;
	}
}
