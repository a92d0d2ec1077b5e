/*
 * file_digest.c — SHA-256 (FIPS 180-4) of a file in one streaming pass, for the audit trail
 * of imei classify (docs/classify.md, "Audit trail"): the digest of every input and
 * every published list is written into report.json and recomputed by --verify.
 * A separate pass over the file rather than a hook in the dump reader, so that it can
 * run on its own thread beside the reading and costs nothing to the reader's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* nettle's SHA-256 (SHA extensions used where the CPU has them). OpenSSL's took ~10 % less
 * CPU over the 598 MiB of the replay bench's dumps (0.03-0.04 s), but linking libcrypto
 * kept 1.4 MiB more resident at the run's peaks (its relocations): not worth it. */
#include <nettle/sha2.h>

#include "imei_digest.h"
#include "imei_pages.h"

/* Bytes read at a time: 256 KiB costs the 578 MiB of a 10 M-row replay's dumps ~2,300
 * reads (a few ms of system time, on the digest's own thread) and the run's last peak
 * (its audit hashes the TAC image and the policy's files then) a quarter of what 1 MiB
 * did; a smaller file gets a buffer of its size. */
#define STEP ((size_t)256 << 10)
#define PAGE ((size_t)4096)

/* The read buffer is a mapping of its own (imei_pages.h), unmapped when the file is
 * hashed: a malloc'd megabyte freed on the digest thread stayed in that thread's arena
 * for the rest of the run. */

void imei_sha256_hex(const uint8_t digest[32], char hex[IMEI_SHA256_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < 32; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 15];
	}
	hex[64] = '\0';
}

int imei_file_sha256(const char *path, char hex[IMEI_SHA256_HEX_SIZE], uint64_t *bytes,
                     const _Atomic int *stop, char *err, size_t errlen)
{
	/* A pipe or a device is never opened: even a moment's reader of a FIFO would let its
	 * writer start, and then die of SIGPIPE when that reader closes before the real one
	 * opens. stat first; O_NONBLOCK and fstat below cover a file swapped in between. */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file (a pipe or a device): not hashed", path);
		return IMEI_DIGEST_NOT_REGULAR;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: is a directory", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) { /* a pipe, a device: what it gives is gone once read */
		snprintf(err, errlen, "%s: not a regular file (a pipe or a device): not hashed", path);
		close(fd);
		return IMEI_DIGEST_NOT_REGULAR;
	}
	size_t step = (size_t)st.st_size < STEP ? ((size_t)st.st_size + PAGE) / PAGE * PAGE : STEP;
	uint8_t *buf = imei_pages_new(step);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	struct sha256_ctx sha;
	sha256_init(&sha);
	uint64_t total = 0;
	int rc = 0;
	for (;;) {
		if (stop && *stop) {
			snprintf(err, errlen, "%s: stopped by a signal", path);
			rc = -1;
			break;
		}
		ssize_t n = read(fd, buf, step);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		sha256_update(&sha, (size_t)n, buf);
		total += (uint64_t)n;
	}
	imei_pages_free(buf, step);
	close(fd);
	uint8_t digest[SHA256_DIGEST_SIZE];
	if (rc != 0)
		return rc;
	sha256_digest(&sha, sizeof digest, digest);
	imei_sha256_hex(digest, hex);
	*bytes = total;
	return 0;
}
