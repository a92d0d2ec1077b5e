/*
 * bulk.c — validate newline-separated identifiers in one pass (see imei_bulk.h).
 * The common line, 15 digits and '\n', takes the SWAR fast path with no parse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imei_bulk.h"

/* Why a line that parsed is still not a valid IMEI. */
static const char *invalid_reason(const struct imei_id *id, char *buf, size_t cap)
{
	if (id->kind == IMEI_KIND_IMEI) {
		snprintf(buf, cap, "wrong check digit %c (expected %c)", id->cd, id->cd_expected);
		return buf;
	}
	snprintf(buf, cap, "not an IMEI: a %s", imei_kind_name(id->kind));
	return buf;
}

int imei_bulk_validate(const char *buf, size_t len, struct imei_bulk_stats *st, imei_bulk_bad_fn bad, void *ud,
                       char *out, size_t *outlen)
{
	memset(st, 0, sizeof *st);
	size_t o = 0, pos = 0;
	while (pos < len) {
		const char *line = buf + pos;
		size_t rest = len - pos, n;
		st->lines++;
		if (rest >= 16 && line[15] == '\n' && imei_valid15(line, 15)) {
			st->valid++;
			st->by_kind[IMEI_KIND_IMEI]++;
			if (out) {
				memcpy(out + o, line, 16);
				o += 16;
			}
			pos += 16;
			continue;
		}
		const char *nl = memchr(line, '\n', rest);
		n = nl ? (size_t)(nl - line) : rest;
		pos += nl ? n + 1 : n;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		struct imei_id id;
		struct imei_error err;
		char why[96];
		const char *reason = NULL;
		if (imei_parse(line, n, &id, &err) != IMEI_OK)
			reason = err.msg;
		else if (!(id.kind == IMEI_KIND_IMEI14 || id.kind == IMEI_KIND_IMEISV ||
		           (id.kind == IMEI_KIND_IMEI && id.cd_ok)))
			reason = invalid_reason(&id, why, sizeof why);
		if (reason) {
			st->invalid++;
			if (bad && bad(ud, st->lines, reason)) {
				if (outlen)
					*outlen = o;
				return 1;
			}
			continue;
		}
		st->valid++;
		st->by_kind[id.kind]++;
		if (out) {
			memcpy(out + o, id.digits, id.ndigits);
			o += id.ndigits;
			out[o++] = '\n';
		}
	}
	if (outlen)
		*outlen = o;
	return 0;
}

int imei_bulk_validate_file(const char *path, struct imei_bulk_stats *st, imei_bulk_bad_fn bad, void *ud,
                            char *errbuf, size_t errlen)
{
	memset(st, 0, sizeof *st);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		int e = errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(e));
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(errbuf, errlen, "%s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (sb.st_size == 0) {
		close(fd);
		return 0;
	}
	void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	int e = errno;
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
	int rc = imei_bulk_validate(map, (size_t)sb.st_size, st, bad, ud, NULL, NULL);
	munmap(map, (size_t)sb.st_size);
	return rc;
}
