/*
 * imei_bulk.h — validate and normalise many identifiers in one call: a buffer or file
 * of newline-separated values (LF or CRLF). A value is valid as imei_valid() says.
 * Nothing is dropped: every line is counted as valid or invalid, and every invalid one
 * is reported to the callback with its 1-based line number and the reason.
 */
#ifndef IMEI_BULK_H
#define IMEI_BULK_H

#include <stddef.h>

#include "imei_identity.h"

struct imei_bulk_stats {
	size_t lines;
	size_t valid;
	size_t invalid;
	size_t by_kind[6]; /* valid lines by enum imei_kind */
};

/* Called once per invalid line; return non-zero to stop early. */
typedef int (*imei_bulk_bad_fn)(void *ud, size_t line, const char *reason);

/* Validate buf[0..len). When out is not NULL it receives the normalised digits of each
 * valid line, one per line ('\n'-terminated); it must hold len + 1 bytes, and *outlen
 * is set to the bytes written. Returns 0, or 1 when the callback stopped the run. */
int imei_bulk_validate(const char *buf, size_t len, struct imei_bulk_stats *st, imei_bulk_bad_fn bad, void *ud,
                       char *out, size_t *outlen);

/* The same over a file (memory-mapped). Returns 0, 1 when stopped, or -1 with errno
 * set and a message in errbuf when the file cannot be read. */
int imei_bulk_validate_file(const char *path, struct imei_bulk_stats *st, imei_bulk_bad_fn bad, void *ud,
                            char *errbuf, size_t errlen);

#endif
