/*
 * lists_file.c — one membership list (imei_lists.h): a DIRBS-style CSV file read with the
 * RFC 4180 reader (csv.c), every row checked, and the good ones frozen into a hash set
 * (u64set.c) of numbers:
 *   KEYS   the 14-digit key (TAC+SNR, TS 23.003 §6.2) as a number < 10^14
 *   TACS   the 8-digit TAC as a number
 *   PAIRS  (key, IMSI) where the IMSI (TS 23.003 §2.2: 6-15 digits here) is coded as
 *          value + digits·10^15, so "001010123456" and "1010123456" differ; plus the
 *          set of the pairs' keys, so "is this device paired with anyone" is one probe.
 * The file is read with read(2), not mapped (a file truncated while it is being read
 * must never give a SIGBUS), a chunk at a time (a record a chunk cuts is read again with
 * the next), so a list never needs its file's size in memory. The chunk and the vector
 * of values (reserved from the file's size, so it is not copied as it grows; only what
 * is written becomes resident) are anonymous mappings of their own, unmapped once the
 * list is frozen: a list keeps only its sets resident, and malloc's heap is left as it
 * was (a large block freed there would stay in the process's memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "imei_digest.h"
#include "imei_csv.h"
#include "imei_identity.h"
#include "imei_lists.h"
#include "imei_pages.h"
#include "imei_u64set.h"

#define NO_COLUMN SIZE_MAX
#define TEN15 UINT64_C(1000000000000000)

struct stamp {
	bool valid;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

struct imei_list {
	atomic_size_t refs;
	enum imei_list_kind kind;
	struct imei_u64set set;       /* KEYS: keys; TACS: TACs; PAIRS: the keys of the pairs */
	struct imei_u64pairset pairs; /* PAIRS only */
	char *name, *path;
	struct stamp stamp;
	struct imei_list_report report;
};

/* ---- numbers from digits ----------------------------------------------------------- */

/* The n digits at s as a number, or UINT64_MAX when one of them is not a digit. Stops
 * at the first non-digit, so a shorter NUL-terminated string is never read past. */
static uint64_t digits_value(const char *s, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';
		if (d > 9)
			return UINT64_MAX;
		v = v * 10 + d;
	}
	return v;
}

/* Eight ASCII digits (already checked) as a number: three multiplies instead of a chain
 * of eight (the SWAR conversion of simdjson / Lemire), on little-endian machines. */
static inline uint64_t eight_digits(const char *s)
{
	uint64_t v;
	memcpy(&v, s, 8);
	v -= UINT64_C(0x3030303030303030);
	v = v * 10 + (v >> 8);
	return ((v & UINT64_C(0x000000FF000000FF)) * (100 + (UINT64_C(1000000) << 32)) +
	        ((v >> 16) & UINT64_C(0x000000FF000000FF)) * (1 + (UINT64_C(10000) << 32))) >> 32;
}

/* A 14-digit key as a number, or UINT64_MAX. The digits are checked one by one first, so
 * a shorter NUL-terminated string is never read past; only then are they converted. */
static inline uint64_t key_value(const char *s)
{
	for (size_t i = 0; i < 14; i++)
		if ((unsigned)(unsigned char)s[i] - '0' > 9)
			return UINT64_MAX;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return eight_digits(s) * 1000000 + eight_digits(s + 6) % 1000000;
#else
	return digits_value(s, 14);
#endif
}

/* An IMSI of 6-15 digits as value + length·10^15, or UINT64_MAX. */
static uint64_t imsi_code(const char *s, size_t n)
{
	if (n < 6 || n > 15)
		return UINT64_MAX;
	uint64_t v = digits_value(s, n);
	return v == UINT64_MAX ? v : v + (uint64_t)n * TEN15;
}

/* ---- errors and reports ------------------------------------------------------------ */

static void fmt(char *out, size_t cap, const char *f, va_list ap) __attribute__((format(printf, 3, 0)));
static void fmt(char *out, size_t cap, const char *f, va_list ap)
{
	if (out && cap)
		vsnprintf(out, cap, f, ap);
}

static void set_err(char *err, size_t errlen, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	fmt(err, errlen, f, ap);
	va_end(ap);
}

/* A value as shown in a message: at most 24 bytes, non-printable bytes as '?'. */
static const char *show(const char *v, size_t n, char out[32])
{
	size_t k = 0;
	for (size_t i = 0; i < n && k < 24; i++) {
		unsigned char ch = (unsigned char)v[i];
		out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (n > 24) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = 0;
	return out;
}

struct loader {
	const char *where; /* the path, or the list name for a buffer */
	struct imei_list_report *rep;
	enum imei_list_kind kind;
	size_t ncols, key_col, imsi_col, tac_col, change_col;
	char key_name[32]; /* the key column as named in the header */
	uint64_t *keys;    /* KEYS, TACS */
	struct imei_u64pair *pairs;
	size_t n, cap;
};

static const char *const reject_names[IMEI_LIST_NREJECT] = {
	"fields", "quote", "empty", "key", "meid_esn", "imsi", "tac",
};

const char *imei_list_reject_name(enum imei_list_reject r)
{
	return (unsigned)r < IMEI_LIST_NREJECT ? reject_names[r] : "?";
}

static void reject(struct loader *ld, enum imei_list_reject why, size_t line, const char *f, ...)
	__attribute__((format(printf, 4, 5)));
static void reject(struct loader *ld, enum imei_list_reject why, size_t line, const char *f, ...)
{
	struct imei_list_report *r = ld->rep;
	r->rejected++;
	r->rejected_by[why]++;
	if (r->nerrors < IMEI_LIST_MAX_ERRORS) {
		va_list ap;
		va_start(ap, f);
		r->errors[r->nerrors].line = line;
		fmt(r->errors[r->nerrors].reason, sizeof r->errors[0].reason, f, ap);
		va_end(ap);
		r->nerrors++;
	}
}

static void warn(struct loader *ld, size_t line, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void warn(struct loader *ld, size_t line, const char *f, ...)
{
	struct imei_list_report *r = ld->rep;
	r->warnings++;
	if (r->nwarning_lines < IMEI_LIST_MAX_ERRORS) {
		va_list ap;
		va_start(ap, f);
		r->warning_lines[r->nwarning_lines].line = line;
		fmt(r->warning_lines[r->nwarning_lines].reason, sizeof r->warning_lines[0].reason, f, ap);
		va_end(ap);
		r->nwarning_lines++;
	}
}

/* ---- the header -------------------------------------------------------------------- */

static bool is_blank_field(const struct imei_csv_field *f)
{
	if (f->quoted)
		return false;
	for (size_t i = 0; i < f->len; i++)
		if (f->raw[i] != ' ' && f->raw[i] != '\t')
			return false;
	return true;
}

/* Note column i named v[0..n) (lower case) in the header; 0, or -1 with err set.
 * Names compare with their length: a NUL byte in a header cell is no end of name. */
static int header_column(struct loader *ld, size_t line, size_t i, const char *v, size_t n, char *err,
                         size_t errlen)
{
	size_t *slot = NULL;
#define IS(name) (n == sizeof name - 1 && memcmp(v, name, n) == 0)
	if (IS("imei") || IS("approved_imei") || IS("golden_imei")) {
		if (ld->key_col != NO_COLUMN) {
			set_err(err, errlen, "%s:%zu: two key columns, '%s' (column %zu) and '%s' (column %zu)", ld->where,
			        line, ld->key_name, ld->key_col + 1, v, i + 1);
			return -1;
		}
		snprintf(ld->key_name, sizeof ld->key_name, "%s", v);
		slot = &ld->key_col;
	} else if (IS("imsi")) {
		slot = &ld->imsi_col;
	} else if (IS("tac")) {
		slot = &ld->tac_col;
	} else if (IS("change_type")) {
		slot = &ld->change_col;
	}
#undef IS
	if (!slot)
		return 0;
	if (*slot != NO_COLUMN) {
		set_err(err, errlen, "%s:%zu: column '%s' appears twice (columns %zu and %zu)", ld->where, line, v,
		        *slot + 1, i + 1);
		return -1;
	}
	*slot = i;
	return 0;
}

static int read_header(struct loader *ld, struct imei_csv *c, char *err, size_t errlen)
{
	struct imei_csv_field f;
	char v[32], first[32] = "", shown[32];
	const char *start;
	enum imei_csv_step st;
	size_t line, nf;
	bool blank;
	do { /* empty lines before the header are skipped */
		ld->key_col = ld->imsi_col = ld->tac_col = ld->change_col = NO_COLUMN;
		start = c->p;
		if ((st = imei_csv_field(c, &f)) == IMEI_CSV_EOF) {
			set_err(err, errlen, "%s: no header row (the file is empty); a list needs a header such as "
			                     "'imei', 'imei,imsi,msisdn' or 'tac'", ld->where);
			return -1;
		}
		line = c->record_line;
		blank = is_blank_field(&f);
		for (nf = 0;; nf++) {
			if (f.error) {
				set_err(err, errlen, "%s:%zu: header: %s", ld->where, line, f.error);
				return -1;
			}
			size_t n = imei_csv_value(&f, v, sizeof v);
			if (nf == 0)
				show(v, n < sizeof v ? n : sizeof v - 1, first);
			for (size_t k = 0; k < n && k < sizeof v; k++)
				if (v[k] >= 'A' && v[k] <= 'Z')
					v[k] = (char)(v[k] - 'A' + 'a');
			if (n < sizeof v && header_column(ld, line, nf, v, n, err, errlen) != 0)
				return -1;
			if (st == IMEI_CSV_LAST)
				break;
			blank = false;
			st = imei_csv_field(c, &f);
		}
	} while (nf == 0 && blank);
	ld->ncols = nf + 1;

	if (ld->change_col != NO_COLUMN) {
		set_err(err, errlen, "%s:%zu: a 'change_type' column marks a DIRBS delta file; load the full list",
		        ld->where, line);
		return -1;
	}
	if (ld->key_col != NO_COLUMN) {
		ld->kind = ld->imsi_col != NO_COLUMN ? IMEI_LIST_PAIRS : IMEI_LIST_KEYS;
		return 0;
	}
	if (ld->tac_col != NO_COLUMN) {
		if (ld->imsi_col != NO_COLUMN) {
			set_err(err, errlen, "%s:%zu: an 'imsi' column needs an 'imei' column (pairs are key + IMSI)",
			        ld->where, line);
			return -1;
		}
		ld->kind = IMEI_LIST_TACS;
		ld->key_col = ld->tac_col;
		snprintf(ld->key_name, sizeof ld->key_name, "tac");
		return 0;
	}
	size_t len = (size_t)(c->p - start);
	while (len && (start[len - 1] == '\n' || start[len - 1] == '\r'))
		len--;
	struct imei_id id;
	bool data = imei_parse(first, strlen(first), &id, NULL) == IMEI_OK;
	set_err(err, errlen, "%s:%zu: no 'imei', 'approved_imei', 'golden_imei' or 'tac' column in the header \"%s\"%s",
	        ld->where, line, show(start, len, shown),
	        data ? " (the header row seems to be missing)" : "");
	return -1;
}

/* ---- transient memory ----------------------------------------------------------- */

/* The loader's vector: its element size, its bytes for cap elements. */
static size_t elem_size(const struct loader *ld)
{
	return ld->kind == IMEI_LIST_PAIRS ? sizeof *ld->pairs : sizeof *ld->keys;
}

static void vector_free(struct loader *ld)
{
	imei_pages_free(ld->kind == IMEI_LIST_PAIRS ? (void *)ld->pairs : (void *)ld->keys, ld->cap * elem_size(ld));
	ld->keys = NULL;
	ld->pairs = NULL;
	ld->n = ld->cap = 0;
}

/* Room for cap elements (cap > n, at most IMEI_U64SET_MAX): 0, or -1 with errno. */
static int vector_reserve(struct loader *ld, size_t cap)
{
	size_t size = elem_size(ld);
	void *old = ld->kind == IMEI_LIST_PAIRS ? (void *)ld->pairs : (void *)ld->keys;
	void *p = imei_pages_new(cap * size); /* cap <= 2^31: no overflow */
	if (!p)
		return -1;
	if (ld->n)
		memcpy(p, old, ld->n * size);
	imei_pages_free(old, ld->cap * size);
	if (ld->kind == IMEI_LIST_PAIRS)
		ld->pairs = p;
	else
		ld->keys = p;
	ld->cap = cap;
	return 0;
}

/* At most this many rows can be pushed from bytes of input: a kept row has at least a
 * key (14 digits; a TAC: 8) and a line end, a pair also an IMSI (6 digits) and a comma.
 * Only an estimate for the vector's reservation (of address space: pages are resident
 * once written); a longer file grows the vector. */
static size_t rows_at_most(enum imei_list_kind kind, uint64_t bytes)
{
	uint64_t min_row = kind == IMEI_LIST_TACS ? 9 : kind == IMEI_LIST_PAIRS ? 22 : 15, n = bytes / min_row + 2;
	return n < IMEI_U64SET_MAX ? (size_t)n : IMEI_U64SET_MAX;
}

/* ---- the input: a caller's buffer, or a file read in chunks ------------------------- */

#define CHUNK ((size_t)1 << 20)

/* A file is read with read(2), never mapped (a file cut short under the reader is an
 * error or an early end, never a SIGBUS), a chunk at a time into an anonymous mapping
 * of its own: the rows of a chunk are taken, and a record the chunk cuts is read again
 * whole with the next one, so a list file never needs its size in memory. */
struct source {
	int fd;            /* -1: all of the input is in data */
	const char *where; /* for messages */
	const char *data;  /* data[0..len): the bytes at hand */
	char *own;         /* a file's chunk mapping (cap bytes), else NULL */
	size_t cap, len;
	bool eof; /* nothing after data[len) */
	uint64_t total;
	struct sha256_ctx sha;
};

/* Read into the chunk until it is full or the file ends: 0, or -1 with err set. */
static int fill(struct source *s, char *err, size_t errlen)
{
	while (s->len < s->cap && !s->eof) {
		ssize_t got = read(s->fd, s->own + s->len, s->cap - s->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			set_err(err, errlen, "%s: cannot read: %s", s->where, strerror(errno));
			return -1;
		}
		if (got == 0) {
			s->eof = true;
			break;
		}
		sha256_update(&s->sha, (size_t)got, (const uint8_t *)s->own + s->len);
		s->len += (size_t)got;
		s->total += (uint64_t)got;
	}
	return 0;
}

/* Keep data[from..len), moved to the front, and read on; when the whole chunk is one
 * unfinished record (from 0), the chunk doubles. 0, or -1 with err set. */
static int refill(struct source *s, size_t from, char *err, size_t errlen)
{
	if (from == 0 && s->len == s->cap) {
		char *more = s->cap > SIZE_MAX / 2 ? NULL : imei_pages_new(s->cap * 2);
		if (!more) {
			set_err(err, errlen, "%s: out of memory (a record of more than %zu bytes)", s->where, s->cap);
			return -1;
		}
		memcpy(more, s->own, s->len);
		imei_pages_free(s->own, s->cap);
		s->own = more;
		s->cap *= 2;
	} else {
		memmove(s->own, s->own + from, s->len - from);
		s->len -= from;
	}
	s->data = s->own;
	return fill(s, err, errlen);
}

static void source_close(struct source *s)
{
	imei_pages_free(s->own, s->cap);
	s->own = NULL;
	s->data = NULL;
	s->len = s->cap = 0;
}

/* ---- rows -------------------------------------------------------------------------- */

static int push(struct loader *ld, uint64_t a, uint64_t b)
{
	if (ld->n == ld->cap) { /* past the estimate from the file's size: a file that grew */
		size_t cap = ld->cap ? 2 * ld->cap : 1024;
		if (cap > IMEI_U64SET_MAX) {
			if (ld->cap >= IMEI_U64SET_MAX) {
				errno = E2BIG;
				return -1;
			}
			cap = IMEI_U64SET_MAX;
		}
		if (vector_reserve(ld, cap) != 0)
			return -1;
	}
	if (ld->kind == IMEI_LIST_PAIRS)
		ld->pairs[ld->n++] = (struct imei_u64pair){ a, b };
	else
		ld->keys[ld->n++] = a;
	return 0;
}

/* The key of the row, or UINT64_MAX when rejected. */
static uint64_t row_key(struct loader *ld, size_t line, const struct imei_csv_field *f)
{
	char v[64], shown[32];
	size_t n = imei_csv_value(f, v, sizeof v);
	if (n == 0) {
		reject(ld, IMEI_LIST_R_EMPTY, line, "empty %s", ld->key_name);
		return UINT64_MAX;
	}
	if (n >= sizeof v) {
		reject(ld, ld->kind == IMEI_LIST_TACS ? IMEI_LIST_R_TAC : IMEI_LIST_R_KEY, line, "%s too long (%zu characters)",
		       ld->key_name, n);
		return UINT64_MAX;
	}
	if (ld->kind == IMEI_LIST_TACS) {
		uint64_t tac = n == 8 ? digits_value(v, 8) : UINT64_MAX;
		if (tac == UINT64_MAX)
			reject(ld, IMEI_LIST_R_TAC, line, "tac \"%s\": a TAC is 8 decimal digits", show(v, n, shown));
		return tac;
	}
	uint64_t key;
	if ((n == 14 || n == 15) && (key = key_value(v)) != UINT64_MAX &&
	    (n == 14 || (unsigned)(unsigned char)v[14] - '0' <= 9)) {
		/* the fast path of imei_parse (as imei_list_has): 14 digits, or a 15-digit IMEI */
		if (n == 15) {
			char cd = imei_check_digit(v, 14);
			if (cd != v[14]) /* TS 29.272 §6.2.1.3: the key is the first 14 digits */
				warn(ld, line, "%s \"%s\": check digit %c, expected %c; kept as key %.14s", ld->key_name,
				     show(v, n, shown), v[14], cd, v);
		}
		return key;
	}
	struct imei_id id;
	struct imei_error e;
	if (imei_parse(v, n, &id, &e) != IMEI_OK) {
		reject(ld, IMEI_LIST_R_KEY, line, "%s \"%s\": %s", ld->key_name, show(v, n, shown), e.msg);
		return UINT64_MAX;
	}
	if (id.kind == IMEI_KIND_MEID || id.kind == IMEI_KIND_ESN) {
		reject(ld, IMEI_LIST_R_MEID, line, "%s \"%s\": reads as a 3GPP2 %s, not an IMEI (14-16 digits)", ld->key_name,
		       show(v, n, shown), id.kind == IMEI_KIND_MEID ? "MEID" : "ESN");
		return UINT64_MAX;
	}
	if (id.kind == IMEI_KIND_IMEI && !id.cd_ok) /* TS 29.272 §6.2.1.3: the key is the first 14 digits */
		warn(ld, line, "%s \"%s\": check digit %c, expected %c; kept as key %s", ld->key_name, show(v, n, shown), id.cd,
		     id.cd_expected, id.key);
	return digits_value(id.key, 14);
}

static uint64_t row_imsi(struct loader *ld, size_t line, const struct imei_csv_field *f)
{
	char v[32], shown[32];
	size_t n = imei_csv_value(f, v, sizeof v);
	if (n == 0) {
		reject(ld, IMEI_LIST_R_EMPTY, line, "empty imsi");
		return UINT64_MAX;
	}
	if (n >= sizeof v) {
		reject(ld, IMEI_LIST_R_IMSI, line, "imsi too long (%zu characters)", n);
		return UINT64_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9') {
			reject(ld, IMEI_LIST_R_IMSI, line, "imsi \"%s\": not all decimal digits", show(v, n, shown));
			return UINT64_MAX;
		}
	}
	uint64_t code = imsi_code(v, n);
	if (code == UINT64_MAX)
		reject(ld, IMEI_LIST_R_IMSI, line, "imsi \"%s\": %zu digits, an IMSI has 6 to 15", show(v, n, shown), n);
	return code;
}

/* Read on from the record at start (on line `line`), with what follows it in the file. */
static int reread(struct imei_csv *c, struct source *s, const char *start, size_t line, char *err, size_t errlen)
{
	if (refill(s, (size_t)(start - s->data), err, errlen) != 0)
		return -1;
	c->p = s->data;
	c->end = s->data + s->len;
	c->line = line;
	c->at_record_start = true;
	return 0;
}

static int read_rows(struct loader *ld, struct imei_csv *c, struct source *s, char *err, size_t errlen)
{
	struct imei_csv_field f, kf, sf;
	enum imei_csv_step st;
	for (;;) {
		const char *start = c->p; /* where the record starts, to read it again whole */
		size_t start_line = c->line;
		if ((st = imei_csv_field(c, &f)) == IMEI_CSV_EOF) {
			if (s->eof)
				break;
			if (reread(c, s, start, start_line, err, errlen) != 0)
				return -1;
			continue;
		}
		size_t line = c->record_line, nf = 0;
		const char *csv_error = NULL;
		bool blank = is_blank_field(&f);
		memset(&kf, 0, sizeof kf);
		memset(&sf, 0, sizeof sf);
		for (;; nf++) {
			if (f.error && !csv_error)
				csv_error = f.error;
			if (nf == ld->key_col)
				kf = f;
			else if (nf == ld->imsi_col)
				sf = f;
			if (st == IMEI_CSV_LAST)
				break;
			st = imei_csv_field(c, &f);
		}
		if (c->p == c->end && !s->eof) { /* the chunk may cut it: once more with the rest */
			if (reread(c, s, start, start_line, err, errlen) != 0)
				return -1;
			continue;
		}
		nf++;
		if (nf == 1 && blank) /* an empty line carries no row */
			continue;
		ld->rep->rows++;
		if (csv_error) {
			reject(ld, IMEI_LIST_R_QUOTE, line, "%s", csv_error);
			continue;
		}
		if (nf != ld->ncols) {
			reject(ld, IMEI_LIST_R_FIELDS, line, "%zu field%s, the header has %zu", nf, nf == 1 ? "" : "s", ld->ncols);
			continue;
		}
		uint64_t key = row_key(ld, line, &kf), imsi = 0;
		if (key == UINT64_MAX)
			continue;
		if (ld->kind == IMEI_LIST_PAIRS && (imsi = row_imsi(ld, line, &sf)) == UINT64_MAX)
			continue;
		if (push(ld, key, imsi) != 0) {
			set_err(err, errlen, "%s: %s", ld->where, errno == E2BIG ? "more than 2^31 entries" : "out of memory");
			return -1;
		}
	}
	return 0;
}

/* ---- building a list --------------------------------------------------------------- */

static void list_free(struct imei_list *l)
{
	imei_u64set_free(&l->set);
	imei_u64pairset_free(&l->pairs);
	free(l->name);
	free(l->path);
	free(l);
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}

/* The frozen sets from the loader's vector. */
static int freeze(struct imei_list *l, struct loader *ld)
{
	size_t dups = 0, key_dups;
	if (ld->kind != IMEI_LIST_PAIRS) {
		if (imei_u64set_build(&l->set, ld->keys, ld->n, &dups) != 0)
			return -1;
		l->report.loaded = l->set.n;
	} else {
		if (imei_u64pairset_build(&l->pairs, ld->pairs, ld->n, &dups) != 0)
			return -1;
		l->report.loaded = l->pairs.n;
		/* the keys of the pairs, reusing the vector's memory: pairs are 16 bytes, keys 8 */
		uint64_t *keys = (uint64_t *)(void *)ld->pairs;
		for (size_t i = 0; i < ld->n; i++)
			keys[i] = ld->pairs[i].a;
		int rc = imei_u64set_build(&l->set, keys, ld->n, &key_dups);
		vector_free(ld);
		if (rc != 0)
			return -1;
	}
	l->report.duplicates = dups;
	return 0;
}

/* The header, whole: while the chunk may cut it, read it again from the start of a
 * larger one. 0, or -1 with err set. */
static int header(struct loader *ld, struct imei_csv *c, struct source *s, char *err, size_t errlen)
{
	for (;;) {
		imei_csv_init(c, s->data, s->len);
		int rc = read_header(ld, c, err, errlen);
		if (s->eof || c->p != c->end)
			return rc;
		if (refill(s, 0, err, errlen) != 0)
			return -1;
	}
}

static struct imei_list *load(struct source *s, uint64_t size, const char *name, const char *path,
                              const struct stamp *stamp, struct imei_list_report *rep, char *err, size_t errlen)
{
	const char *where = s->where;
	struct imei_list *l = calloc(1, sizeof *l);
	if (!l) {
		set_err(err, errlen, "%s: out of memory", where);
		return NULL;
	}
	struct loader ld = { .where = where, .rep = &l->report };
	struct imei_csv c;
	if (header(&ld, &c, s, err, errlen) != 0)
		goto fail;
	l->kind = ld.kind;
	if (vector_reserve(&ld, rows_at_most(ld.kind, size)) != 0) {
		set_err(err, errlen, "%s: out of memory", where);
		goto fail;
	}
	if (read_rows(&ld, &c, s, err, errlen) != 0)
		goto fail;
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_digest(&s->sha, sizeof digest, digest);
	imei_sha256_hex(digest, l->report.sha256);
	l->report.bytes = s->total;
	source_close(s); /* the chunk is not needed while the sets are built */
	if (freeze(l, &ld) != 0) {
		set_err(err, errlen, "%s: %s", where, errno == E2BIG ? "more than 2^31 entries" : "out of memory");
		goto fail;
	}
	vector_free(&ld);
	l->name = dup_str(name);
	l->path = path ? dup_str(path) : NULL;
	if (!l->name || (path && !l->path)) {
		set_err(err, errlen, "%s: out of memory", where);
		goto fail;
	}
	if (stamp)
		l->stamp = *stamp;
	atomic_init(&l->refs, 1);
	if (rep)
		*rep = l->report;
	return l;
fail:
	vector_free(&ld);
	if (rep)
		memset(rep, 0, sizeof *rep);
	list_free(l);
	return NULL;
}

struct imei_list *imei_list_load_buffer(const char *buf, size_t len, const char *name,
                                        struct imei_list_report *rep, char *err, size_t errlen)
{
	if (!name)
		name = "list";
	if (!buf)
		len = 0;
	struct source s = { .fd = -1, .where = name, .data = buf ? buf : "", .len = len, .eof = true, .total = len };
	sha256_init(&s.sha);
	for (size_t done = 0; done < len;) { /* nettle takes a size_t, but stay in bounded steps */
		size_t step = len - done < ((size_t)1 << 30) ? len - done : ((size_t)1 << 30);
		sha256_update(&s.sha, step, (const uint8_t *)buf + done);
		done += step;
	}
	return load(&s, len, name, NULL, NULL, rep, err, errlen);
}

/* Open a list file for reading in chunks (a regular file only), with the stamp of what
 * is read and its size when opened: 0, or -1 with err set. */
static int open_file(const char *path, struct source *s, uint64_t *size, struct stamp *stamp, char *err,
                     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		set_err(err, errlen, "%s: %s", path, S_ISDIR(sb.st_mode) ? "is a directory, not a list file"
		                                                          : "not a regular file");
		close(fd);
		return -1;
	}
	*stamp = (struct stamp){ true, sb.st_dev, sb.st_ino, sb.st_size, sb.st_mtim, sb.st_ctim };
	*size = (uint64_t)sb.st_size;
	*s = (struct source){ .fd = fd, .where = path, .cap = CHUNK };
	sha256_init(&s->sha);
	if (!(s->own = imei_pages_new(CHUNK))) {
		set_err(err, errlen, "%s: out of memory (%zu bytes)", path, CHUNK);
		close(fd);
		return -1;
	}
	s->data = s->own;
	if (fill(s, err, errlen) != 0) {
		source_close(s);
		close(fd);
		return -1;
	}
	return 0;
}

/* The file name without directory and ".csv" (any case). */
static char *name_of_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 4 && strcasecmp(base + n - 4, ".csv") == 0)
		n -= 4;
	char *name = malloc(n + 1);
	if (name) {
		memcpy(name, base, n);
		name[n] = 0;
	}
	return name;
}

struct imei_list *imei_list_load(const char *path, const char *name, struct imei_list_report *rep, char *err,
                                 size_t errlen)
{
	if (rep)
		memset(rep, 0, sizeof *rep);
	struct stamp stamp;
	struct source s;
	uint64_t size;
	if (open_file(path, &s, &size, &stamp, err, errlen) != 0)
		return NULL;
	char *own_name = NULL;
	struct imei_list *l = NULL;
	if (!name && !(name = own_name = name_of_path(path)))
		set_err(err, errlen, "%s: out of memory", path);
	else
		l = load(&s, size, name, path, &stamp, rep, err, errlen);
	source_close(&s);
	close(s.fd);
	free(own_name);
	return l;
}

/* ---- references and queries ------------------------------------------------------- */

struct imei_list *imei_list_ref(struct imei_list *l)
{
	if (l)
		atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
	return l;
}

void imei_list_unref(struct imei_list *l)
{
	if (l && atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) == 1)
		list_free(l);
}

enum imei_list_kind imei_list_kind(const struct imei_list *l)
{
	return l->kind;
}

const char *imei_list_kind_name(enum imei_list_kind kind)
{
	switch (kind) {
	case IMEI_LIST_KEYS: return "keys";
	case IMEI_LIST_PAIRS: return "pairs";
	case IMEI_LIST_TACS: return "tacs";
	}
	return "unknown";
}

const char *imei_list_name(const struct imei_list *l)
{
	return l->name;
}

size_t imei_list_size(const struct imei_list *l)
{
	return l->kind == IMEI_LIST_PAIRS ? l->pairs.n : l->set.n;
}

const struct imei_list_report *imei_list_report(const struct imei_list *l)
{
	return &l->report;
}

size_t imei_list_bytes(const struct imei_list *l)
{
	return imei_u64set_bytes(&l->set) + imei_u64pairset_bytes(&l->pairs);
}

const char *imei_list_path(const struct imei_list *l)
{
	return l->path;
}

static inline bool has_key_value(const struct imei_list *l, uint64_t key)
{
	if (l->kind == IMEI_LIST_TACS)
		return imei_u64set_has(&l->set, key / 1000000); /* TAC = the first 8 of 14 digits */
	return imei_u64set_has(&l->set, key);
}

void imei_list_prefetch_key(const struct imei_list *l, uint64_t key)
{
	imei_u64set_prefetch(&l->set, l->kind == IMEI_LIST_TACS ? key / 1000000 : key);
}

bool imei_list_has_key(const struct imei_list *l, const char *key14)
{
	uint64_t key = key14 ? key_value(key14) : UINT64_MAX;
	return key != UINT64_MAX && has_key_value(l, key);
}

static bool has_pair_value(const struct imei_list *l, uint64_t key, const char *imsi, size_t imsi_len)
{
	if (l->kind != IMEI_LIST_PAIRS)
		return has_key_value(l, key);
	uint64_t code = imsi ? imsi_code(imsi, imsi_len) : UINT64_MAX;
	return code != UINT64_MAX && imei_u64pairset_has(&l->pairs, key, code);
}

bool imei_list_has_pair(const struct imei_list *l, const char *key14, const char *imsi, size_t imsi_len)
{
	uint64_t key = key14 ? key_value(key14) : UINT64_MAX;
	return key != UINT64_MAX && has_pair_value(l, key, imsi, imsi_len);
}

bool imei_list_has_tac(const struct imei_list *l, const char *tac8)
{
	uint64_t tac = tac8 ? digits_value(tac8, 8) : UINT64_MAX;
	return l->kind == IMEI_LIST_TACS && tac != UINT64_MAX && imei_u64set_has(&l->set, tac);
}

bool imei_list_has(const struct imei_list *l, const char *s, size_t len, const char *imsi, size_t imsi_len)
{
	if (!s)
		return false;
	uint64_t key;
	if ((len == 14 || len == 15) && (key = key_value(s)) != UINT64_MAX &&
	    (len == 14 || (unsigned)(unsigned char)s[14] - '0' <= 9)) {
		/* the fast path of imei_parse: 14 digits, or a 15-digit IMEI's key whatever its CD */
	} else {
		struct imei_id id;
		if (imei_parse(s, len, &id, NULL) != IMEI_OK)
			return false;
		if (id.kind == IMEI_KIND_ESN && l->kind == IMEI_LIST_TACS && id.ndigits == 8 && !id.decimal_form &&
		    (key = digits_value(id.digits, 8)) != UINT64_MAX) /* 8 decimal digits: a TAC here */
			return imei_u64set_has(&l->set, key);
		if (id.kind != IMEI_KIND_IMEI && id.kind != IMEI_KIND_IMEI14 && id.kind != IMEI_KIND_IMEISV)
			return false;
		key = digits_value(id.key, 14);
	}
	return imsi ? has_pair_value(l, key, imsi, imsi_len) : has_key_value(l, key);
}

int imei_list_changed(const struct imei_list *l, const char *path)
{
	if (!path)
		path = l->path;
	if (!path || !l->stamp.valid)
		return 0;
	struct stat sb;
	if (stat(path, &sb) != 0)
		return 1;
	const struct stamp *s = &l->stamp;
	return !(sb.st_dev == s->dev && sb.st_ino == s->ino && sb.st_size == s->size &&
	         sb.st_mtim.tv_sec == s->mtime.tv_sec && sb.st_mtim.tv_nsec == s->mtime.tv_nsec &&
	         sb.st_ctim.tv_sec == s->ctime.tv_sec && sb.st_ctim.tv_nsec == s->ctime.tv_nsec);
}
