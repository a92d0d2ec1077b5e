/*
 * imei_csv.h — an RFC 4180 CSV reader over an in-memory buffer, field by field.
 *
 * What it accepts: fields separated by ',', records ended by LF, CRLF or a lone CR
 * (the last record may lack its line end), fields optionally enclosed in double quotes
 * with "" for a quote inside, line ends inside quoted fields, a UTF-8 byte order mark
 * at the very start, and spaces or tabs around a field (also around a quoted one).
 * What it reports instead of guessing: a quoted field that never ends, and text after
 * a closing quote. A '"' inside an unquoted field is kept as a literal character.
 *
 * Nothing is copied: a field is a span of the buffer; imei_csv_value() unquotes and
 * trims one into a caller's buffer when its value is wanted. NUL bytes are data.
 */
#ifndef IMEI_CSV_H
#define IMEI_CSV_H

#include <stdbool.h>
#include <stddef.h>

struct imei_csv {
	const char *p, *end; /* the unread rest of the buffer */
	size_t line;         /* the 1-based physical line p is on */
	size_t record_line;  /* the line the current record started on */
	bool at_record_start;
};

/* One field as it stands in the buffer. */
struct imei_csv_field {
	const char *raw; /* between the quotes for a quoted field; untrimmed otherwise */
	size_t len;
	bool quoted;
	const char *error; /* NULL, or why the field is malformed (static text) */
};

enum imei_csv_step {
	IMEI_CSV_EOF = 0, /* no more records; returned only at the start of a record */
	IMEI_CSV_MORE,    /* a field; more fields follow in the same record */
	IMEI_CSV_LAST     /* a field; it ends its record */
};

/* Start reading buf[0..len); a leading UTF-8 BOM is skipped. */
void imei_csv_init(struct imei_csv *c, const char *buf, size_t len);

/* The next field. At the start of a record, sets c->record_line. A record always has
 * at least one field (an empty line is one empty unquoted field). A malformed field
 * sets f->error and is still returned; the reader resynchronises at the next record
 * (an unterminated quote runs to the end of the buffer). */
enum imei_csv_step imei_csv_field(struct imei_csv *c, struct imei_csv_field *f);

/* The value of f, unquoted ("" -> ") and with surrounding spaces and tabs removed, into
 * out[0..cap) NUL-terminated (cap >= 1). Returns the full length of the value; a return
 * >= cap means it was cut to cap - 1 bytes. */
size_t imei_csv_value(const struct imei_csv_field *f, char *out, size_t cap);

#endif
