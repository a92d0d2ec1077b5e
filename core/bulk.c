/*
 * bulk.c — validate newline-separated identifiers in one pass (see imei_bulk.h).
 * The common line, 15 digits and '\n', takes the SWAR fast path (identity_luhn15.h) with no parse,
 * valid or not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imei_bulk.h"
#include "identity_luhn15.h"

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
	/* counters in locals: stores through st could alias buf and out (char) otherwise */
	size_t lines = 0, valid = 0, fast = 0, invalid = 0, by_kind[6] = { 0 };
	size_t o = 0, pos = 0;
	int stopped = 0;
	while (pos < len) {
		const char *line = buf + pos;
		size_t rest = len - pos, n;
		lines++;
		if (rest >= 16 && line[15] == '\n') {
			/* the common line: 15 digits and LF, decided without a parse */
			int r = imei_luhn15(line);
			if (r > 0) {
				fast++;
				if (out) {
					memcpy(out + o, line, 16);
					o += 16;
				}
				pos += 16;
				continue;
			}
			if (r == 0) { /* 15 digits, wrong check digit: the reason the parse would give */
				invalid++;
				pos += 16;
				if (bad) {
					char why[40];
					memcpy(why, "wrong check digit ? (expected ?)", 33);
					why[18] = line[14];
					why[30] = imei_check_digit(line, 14);
					if (bad(ud, lines, why)) {
						stopped = 1;
						break;
					}
				}
				continue;
			}
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
			invalid++;
			if (bad && bad(ud, lines, reason)) {
				stopped = 1;
				break;
			}
			continue;
		}
		valid++;
		by_kind[id.kind]++;
		if (out) {
			memcpy(out + o, id.digits, id.ndigits);
			o += id.ndigits;
			out[o++] = '\n';
		}
	}
	by_kind[IMEI_KIND_IMEI] += fast;
	st->lines = lines;
	st->valid = valid + fast;
	st->invalid = invalid;
	memcpy(st->by_kind, by_kind, sizeof st->by_kind);
	if (outlen)
		*outlen = o;
	return stopped;
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
#ifdef MAP_POPULATE
	int flags = MAP_PRIVATE | MAP_POPULATE; /* one pass over every page: fault them in at once */
#else
	int flags = MAP_PRIVATE;
#endif
	void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, flags, fd, 0);
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
