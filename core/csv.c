/*
 * csv.c — an RFC 4180 CSV reader over an in-memory buffer (see imei_csv.h).
 * Every read is bounded by c->end; the reader never looks past the buffer.
 */
#include <string.h>

#include "imei_csv.h"

void imei_csv_init(struct imei_csv *c, const char *buf, size_t len)
{
	c->p = buf;
	c->end = buf + len;
	c->line = 1;
	c->record_line = 1;
	c->at_record_start = true;
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		c->p += 3;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool ends_field(char ch)
{
	return ch == ',' || ch == '\n' || ch == '\r';
}

/* s is the end of a field: step over the separator or line end and say which. */
static enum imei_csv_step finish(struct imei_csv *c, const char *s)
{
	if (s < c->end && *s == ',') {
		c->p = s + 1;
		return IMEI_CSV_MORE;
	}
	if (s < c->end) { /* '\n', '\r\n' or a lone '\r' */
		if (*s == '\r' && s + 1 < c->end && s[1] == '\n')
			s++;
		s++;
		c->line++;
	}
	c->p = s;
	c->at_record_start = true;
	return IMEI_CSV_LAST;
}

enum imei_csv_step imei_csv_field(struct imei_csv *c, struct imei_csv_field *f)
{
	f->raw = c->p;
	f->len = 0;
	f->quoted = false;
	f->error = NULL;
	if (c->at_record_start) {
		if (c->p >= c->end)
			return IMEI_CSV_EOF;
		c->record_line = c->line;
		c->at_record_start = false;
	}
	const char *end = c->end, *s = c->p;
	while (s < end && is_blank(*s))
		s++;
	if (s == end || *s != '"') {
		/* unquoted: up to the separator; trimmed later by imei_csv_value */
		while (s < end && !ends_field(*s))
			s++;
		f->len = (size_t)(s - f->raw);
		return finish(c, s);
	}
	f->quoted = true;
	f->raw = ++s;
	for (;;) {
		if (s == end) {
			f->len = (size_t)(s - f->raw);
			f->error = "unterminated quoted field (no closing '\"' before the end of the file)";
			c->p = end;
			c->at_record_start = true;
			return IMEI_CSV_LAST;
		}
		if (*s == '"') {
			if (s + 1 < end && s[1] == '"') {
				s += 2;
				continue;
			}
			break;
		}
		if (*s == '\n' || (*s == '\r' && !(s + 1 < end && s[1] == '\n')))
			c->line++;
		s++;
	}
	f->len = (size_t)(s - f->raw);
	s++; /* the closing quote */
	while (s < end && is_blank(*s))
		s++;
	if (s < end && !ends_field(*s)) {
		f->error = "text after a closing quote (a '\"' inside a field must be doubled)";
		while (s < end && !ends_field(*s))
			s++;
	}
	return finish(c, s);
}

size_t imei_csv_value(const struct imei_csv_field *f, char *out, size_t cap)
{
	const char *s = f->raw, *e = f->raw + f->len;
	/* "" only ever yields '"', so trimming the raw span trims the value */
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	size_t n = 0;
	while (s < e) {
		char ch = *s++;
		if (f->quoted && ch == '"' && s < e && *s == '"')
			s++;
		if (n + 1 < cap)
			out[n] = ch;
		n++;
	}
	out[n < cap ? n : cap - 1] = 0;
	return n;
}
