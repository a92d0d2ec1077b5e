/*
 * imei_digest.h — SHA-256 (FIPS 180-4) of a whole file, read in a streaming pass, for
 * the audit trail of a batch run: what exactly a report was computed from (imei classify
 * records and --verify recomputes these digests).
 */
#ifndef IMEI_DIGEST_H
#define IMEI_DIGEST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define IMEI_SHA256_HEX_SIZE 65 /* 64 lower-case hex digits and the terminating NUL */
#define IMEI_DIGEST_NOT_REGULAR (-2) /* imei_file_sha256 of a pipe or a device: not read */

/* Lower-case hex of a 32-byte SHA-256 digest into hex[IMEI_SHA256_HEX_SIZE]. */
void imei_sha256_hex(const uint8_t digest[32], char hex[IMEI_SHA256_HEX_SIZE]);

/* The SHA-256 of every byte of the file at path (as stored: a .gz file's compressed
 * bytes) and its size in bytes. Reads in 1 MiB steps; retries reads cut short by a
 * signal; gives up between two steps once *stop (when not NULL) is non-zero. Returns 0;
 * IMEI_DIGEST_NOT_REGULAR for a pipe or a device, which it does not open (another
 * reader's data stays whole, a FIFO's writer is not woken); or -1 with a message naming the path and the
 * cause in err (missing, unreadable, a directory, out of memory, a read error, stopped). */
int imei_file_sha256(const char *path, char hex[IMEI_SHA256_HEX_SIZE], uint64_t *bytes,
                     const _Atomic int *stop, char *err, size_t errlen);

#endif
