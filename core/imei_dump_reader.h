/*
 * imei_dump_reader.h — operator dumps, the input of batch replay (docs/classify.md): one row per
 * distinct date–IMEI–IMSI–MSISDN, `date,imei,imsi,msisdn[,rat]` by default, as DIRBS
 * operator data files are. Plain or gzip (detected from the bytes, not the name).
 *
 * Two parts:
 *   - a row parser: a line and a column layout in, a normalised row or the precise
 *     reason for refusing it out (which field, what is wrong), never a guess;
 *   - a line reader over a file or stdin, plain or gzip (zlib), in bounded memory.
 *
 * What a row is made of:
 *   date    YYYYMMDD (or YYYY-MM-DD), a real calendar date, 2000-01-01 .. 2099-12-31
 *   imei    any text of 1..32 printable ASCII characters. An IMEI, IMEI without CD or
 *           IMEISV (3GPP TS 23.003 §6.2; separators and the 5G PEI prefixes of TS 29.571
 *           allowed) becomes its 14-digit key, the device identity (TS 29.272 §6.2.1.3),
 *           and keeps the form it was written in; anything else (a MEID, an ESN, a
 *           malformed value) is kept as text: the policy decides what it is worth, as
 *           DIRBS classifies malformed IMEIs rather than dropping them.
 *   imsi    6..15 digits (TS 23.003 §2.2)
 *   msisdn  3..15 digits with an optional '+' (E.164), or empty
 *   rat     empty, a RAT name or a TS 29.274 §8.17 RAT Type number (as the store takes)
 * Fields are separated by one delimiter byte (',' by default); a field may be enclosed
 * in double quotes ("" for a quote); a quoted field cannot span lines. Spaces and tabs
 * around a field are ignored. Lines end with LF, CRLF or a lone CR (the file's first line
 * end decides which).
 */
#ifndef IMEI_DUMP_READER_H
#define IMEI_DUMP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imei_identity.h"

/* What a column holds. */
enum imei_dump_col {
	IMEI_DUMP_COL_SKIP = 0,
	IMEI_DUMP_COL_DATE,
	IMEI_DUMP_COL_IMEI,
	IMEI_DUMP_COL_IMSI,
	IMEI_DUMP_COL_MSISDN,
	IMEI_DUMP_COL_RAT
};

#define IMEI_DUMP_MAX_COLS 32
#define IMEI_DUMP_MAX_LINE 4096  /* longer lines are refused (and skipped whole) */
#define IMEI_DUMP_MAX_IDENT 32   /* longest equipment identity text kept */
#define IMEI_DUMP_MIN_DAY 10957  /* 2000-01-01 */
#define IMEI_DUMP_MAX_DAY 47482  /* 2099-12-31 */

struct imei_dump_layout {
	uint8_t col[IMEI_DUMP_MAX_COLS]; /* enum imei_dump_col of each field */
	uint8_t ncols;                   /* fields a row has ... */
	uint8_t min_cols;                /* ... or at least this many (the default layout: rat is optional) */
	char delim;
};

/* The default layout: date,imei,imsi,msisdn[,rat], comma-separated. */
void imei_dump_layout_default(struct imei_dump_layout *lay);

/* A layout from a list of column names separated by ',' ("date,imei,imsi,msisdn,rat";
 * "-" or "skip" for a column to ignore; names as in imei_dump_col_from_name). date, imei
 * and imsi are required, each column at most once. 0, or -1 and why in err. */
int imei_dump_layout_parse(const char *spec, char delim, struct imei_dump_layout *lay, char *err, size_t errlen);

/* The column a header name stands for (case-insensitive): date | triplet_date | day,
 * imei | imei_norm | pei, imsi | supi, msisdn | gpsi, rat | rat_type; else SKIP. */
enum imei_dump_col imei_dump_col_from_name(const char *s, size_t len);
const char *imei_dump_col_name(enum imei_dump_col c);

/* A header line: the first field is not a date and the line has an ASCII letter.
 * imei_dump_header_layout() builds the layout it names (unknown names: skipped
 * columns); -1 and why when a required column is missing or named twice. */
bool imei_dump_is_header(const char *line, size_t len, char delim);
int imei_dump_header_layout(const char *line, size_t len, char delim, struct imei_dump_layout *lay, char *err,
                            size_t errlen);

/* IMEI forms: how the identity of a row was written, enough to give the policy the same
 * digits back. */
#define IMEI_DUMP_FORM_IMEI14 0          /* 14 digits, no check digit */
#define IMEI_DUMP_FORM_IMEI 1            /* 1 + CD (1..10): 15 digits */
#define IMEI_DUMP_FORM_IMEISV 11         /* 11 + SVN (11..110): 16 digits */
#define IMEI_DUMP_FORM_TEXT 255          /* not an IMEI kind: see ident/ident_len */

/* Write the digits of key in form into out (at least 17 bytes); returns the length. */
size_t imei_dump_form_digits(uint64_t key, uint8_t form, char *out);

/* Why a row is refused. */
enum imei_dump_reject {
	IMEI_DUMP_OK = 0,
	IMEI_DUMP_R_FIELDS,     /* not as many fields as the layout has */
	IMEI_DUMP_R_QUOTE,      /* a quote that does not close, or text after a closing quote */
	IMEI_DUMP_R_LONG,       /* a line longer than IMEI_DUMP_MAX_LINE */
	IMEI_DUMP_R_CONTROL,    /* a NUL or another control byte in the line */
	IMEI_DUMP_R_DATE,       /* the date is not a date */
	IMEI_DUMP_R_DATE_RANGE, /* a date outside the years accepted, the file's period or the run */
	IMEI_DUMP_R_IMEI_EMPTY, /* no equipment identity */
	IMEI_DUMP_R_IMEI_TEXT,  /* an identity too long, or with bytes that are not printable ASCII */
	IMEI_DUMP_R_IMSI,
	IMEI_DUMP_R_MSISDN,
	IMEI_DUMP_R_RAT,
	IMEI_DUMP_NREJECT
};

/* A short stable name for a reason ("fields", "date", "imsi", …) and a description. */
const char *imei_dump_reject_name(enum imei_dump_reject r);
const char *imei_dump_reject_text(enum imei_dump_reject r);

/* A parsed row. Strings point into the line given, or into scratch. */
struct imei_dump_row {
	int32_t day;       /* UTC day number (days since 1970-01-01) */
	uint64_t key;      /* IMEI kinds: the 14-digit key as a number; else 0 */
	uint8_t form;      /* IMEI_DUMP_FORM_*; FORM_TEXT: ident holds the identity */
	uint8_t kind;      /* enum imei_kind; IMEI_KIND_NONE for a value that is no identifier */
	const char *ident; /* FORM_TEXT: normalised identity text (MEID/ESN: the parser's digits) */
	size_t ident_len;
	uint64_t imsi;     /* 10^len + value (the store's encoding) */
	uint64_t msisdn;   /* likewise, 0 = none */
	uint8_t rat;       /* TS 29.274 RAT Type, 0 = none */
};

/* Why a row was refused: the reason, the 1-based field, and a message naming the field
 * and the value ("imsi: '41001x' has a non-digit at 6"). */
struct imei_dump_problem {
	enum imei_dump_reject reason;
	unsigned field;
	char msg[160];
};

/* Parse one line (without its line end). scratch holds an unquoted identity (at least
 * IMEI_DUMP_MAX_IDENT + 1 bytes, and IMEI_MAX_DIGITS + 1). Returns IMEI_DUMP_OK and fills
 * *row, or a reason and fills *why. Date ranges other than the years accepted are the
 * caller's to check. */
enum imei_dump_reject imei_dump_parse(const struct imei_dump_layout *lay, const char *line, size_t len,
                                      struct imei_dump_row *row, char *scratch, struct imei_dump_problem *why);

/* The last date accepted and its day number. Dumps come sorted by day, so most rows repeat
 * the date of the row before: with this, that costs one comparison. It only remembers
 * (any order of dates gives the same rows). Zero it before the first row of a reader. */
struct imei_dump_dates {
	uint64_t text8; /* its 8 bytes when written YYYYMMDD, else 0 */
	uint32_t ymd;   /* YYYYMMDD as a number, 0 = none */
	int32_t day;
};

/* imei_dump_parse with the date of the row before remembered in *dates (NULL: none):
 * what a reader of many rows calls. */
enum imei_dump_reject imei_dump_parse_row(const struct imei_dump_layout *lay, struct imei_dump_dates *dates,
                                          const char *line, size_t len, struct imei_dump_row *row, char *scratch,
                                          struct imei_dump_problem *why);

/* Day numbers and dates. */
bool imei_dump_date(const char *s, size_t len, int32_t *day); /* YYYYMMDD or YYYY-MM-DD */
int32_t imei_dump_day_from_ymd(int y, unsigned m, unsigned d);
void imei_dump_ymd(int32_t day, int *y, unsigned *m, unsigned *d);
/* "YYYYMMDD" into out (at least 9 bytes). */
void imei_dump_day_str(int32_t day, char *out);

/* ---- the line reader ---------------------------------------------------------------- */

struct imei_dump_file;

/* Open path ("-" is standard input), plain or gzip. NULL and "PATH: why" in err. */
struct imei_dump_file *imei_dump_open(const char *path, char *err, size_t errlen);
void imei_dump_close(struct imei_dump_file *f);

/* A byte range of a plain file, for reading one file on several threads: the lines that
 * start at a byte in [from, to) (the last may end after to). from 0 is imei_dump_open
 * (the file's start: byte order mark, encoding) with the range's end; from > 0 needs the
 * file's line end, sep ('\n' or '\r', imei_dump_line_end of a reader that read its first
 * line), and skips the rest of the line before from. Line numbers count from 1 in the
 * range; the ranges of a file cut at any bytes together give every line once. */
struct imei_dump_file *imei_dump_open_range(const char *path, uint64_t from, uint64_t to, char sep, char *err,
                                            size_t errlen);
/* The file's line end once its first line is read: '\n' (LF or CR LF) or '\r'; else 0. */
char imei_dump_line_end(const struct imei_dump_file *f);
/* A plain file: the byte just after the last line returned (where the next one starts). */
uint64_t imei_dump_line_offset(const struct imei_dump_file *f);

/* The next line, without its line end, and its 1-based line number. The line end is the
 * one the file's first line uses: LF, CR LF, or a lone CR (a line end of another kind later
 * stays in the line, where the row parser refuses it as a control byte: never a silent
 * merge). A line longer than IMEI_DUMP_MAX_LINE comes back cut, with *too_long set; the
 * rest of it is skipped. A UTF-8 byte order mark at the start of the file is skipped.
 * A gzip file is read member after member (RFC 1952 §2.2, as gzip -d does).
 * Returns 1 for a line, 0 at the end, -1 with "PATH: byte N (after line L): why" in err:
 * a damaged or truncated gzip stream, bytes after the gzip data that are not another
 * member, an I/O error; or "PATH: the file is UTF-16 ..." for a UTF-16 or UTF-32 text (a
 * byte order mark, or NUL bytes between the characters), which no row could come from. */
int imei_dump_next(struct imei_dump_file *f, const char **line, size_t *len, size_t *lineno, bool *too_long,
                   char *err, size_t errlen);

/* After the last line: its number if the file ended in the middle of it (no line end:
 * possibly a copy cut short), else 0. The line itself was returned as it stands. */
size_t imei_dump_unterminated(const struct imei_dump_file *f);

/* Bytes of the file consumed so far (compressed bytes for gzip) and the file's size
 * (0 when unknown: a pipe, standard input). */
uint64_t imei_dump_offset(const struct imei_dump_file *f);
uint64_t imei_dump_size(const struct imei_dump_file *f);
bool imei_dump_gzip(const struct imei_dump_file *f);

#endif
