/*
 * ebuf.h — a growable byte buffer for imei-eird's answers, metrics and log lines; every
 * append checks its allocation and, on failure, marks the buffer failed instead of
 * writing past it. Shared by the protocol-neutral server and the front ends.
 */
#ifndef EIRD_EBUF_H
#define EIRD_EBUF_H

#include <stdbool.h>
#include <stddef.h>

/* A growable byte buffer; every append checks its allocation and sets failed. */
struct ebuf {
	char *data;
	size_t len, cap;
	bool failed; /* an allocation failed: the content is cut */
};

void ebuf_init(struct ebuf *b);
void ebuf_free(struct ebuf *b);
bool ebuf_reserve(struct ebuf *b, size_t more);
void ebuf_add(struct ebuf *b, const void *p, size_t n);
void ebuf_str(struct ebuf *b, const char *s);
void ebuf_printf(struct ebuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal (quotes included): control characters, quotes, backslashes and
 * bytes >= 0x7f escaped as \u00XX, so the output is ASCII whatever the input. */
void ebuf_json_str(struct ebuf *b, const char *s, size_t n);

#endif
