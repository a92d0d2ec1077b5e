/*
 * tacdb_image.c — frozen TAC database images in and out: open (mmap, or a copy for
 * long-running hosts), copy in, save
 * (temporary file + fsync + rename), reference counting (C11 atomics), statistics.
 * Every image taken in goes through imei_tac_validate() first. Layout in tacdb_format.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tacdb_format.h"

static bool fail(struct imei_tacdb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(struct imei_tacdb_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* Put "prefix: " in front of the message already in err. */
static void prefix_error(struct imei_tacdb_error *err, const char *prefix)
{
	if (!err)
		return;
	char msg[sizeof err->msg];
	memcpy(msg, err->msg, sizeof msg);
	msg[sizeof msg - 1] = '\0';
	size_t cap = sizeof err->msg - 1, n = 0;
	for (const char *parts[3] = { prefix, ": ", msg }, **p = parts; p < parts + 3; p++) {
		size_t k = strlen(*p);
		if (k > cap - n)
			k = cap - n;
		memcpy(err->msg + n, *p, k);
		n += k;
	}
	err->msg[n] = '\0';
}

static void release(unsigned char *base, size_t size, bool mapped)
{
	if (mapped)
		munmap(base, size);
	else
		free(base);
}

struct imei_tacdb *imei_tac_image_adopt(unsigned char *base, size_t size, bool mapped, struct imei_tacdb_error *err)
{
	struct imei_tacdb *db = calloc(1, sizeof *db);
	if (!db) {
		release(base, size, mapped);
		fail(err, "out of memory");
		return NULL;
	}
	atomic_init(&db->refs, 1);
	db->base = base;
	db->size = size;
	db->mapped = mapped;
	if (!imei_tac_validate(db, err)) {
		release(base, size, mapped);
		free(db);
		return NULL;
	}
	return db;
}

/* ---- in and out -------------------------------------------------------------------- */

struct imei_tacdb *imei_tacdb_from_image(const void *buf, size_t len, struct imei_tacdb_error *err)
{
	unsigned char *copy = malloc(len ? len : 1);
	if (!copy) {
		fail(err, "TAC image: out of memory for %zu bytes", len);
		return NULL;
	}
	if (len)
		memcpy(copy, buf, len);
	struct imei_tacdb *db = imei_tac_image_adopt(copy, len, false, err);
	if (!db)
		prefix_error(err, "TAC image");
	return db;
}

struct imei_tacdb *imei_tacdb_open(const char *path, struct imei_tacdb_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		fail(err, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		fail(err, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (sb.st_size == 0) {
		fail(err, "%s: empty file, not a TAC image", path);
		close(fd);
		return NULL;
	}
	size_t size = (size_t)sb.st_size;
	int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
	flags |= MAP_POPULATE; /* the checksum reads every page anyway */
#endif
	void *map = mmap(NULL, size, PROT_READ, flags, fd, 0);
	int e = errno;
	close(fd);
	if (map == MAP_FAILED) {
		fail(err, "%s: %s", path, strerror(e));
		return NULL;
	}
	struct imei_tacdb *db = imei_tac_image_adopt(map, size, true, err);
	if (!db)
		prefix_error(err, path);
#ifdef MADV_DONTNEED
	else /* checked: the pages leave the process (the page cache keeps them) and only those
	      * lookups read come back, e.g. ~0.3 of 1.9 MiB for the 417,825 pairs of a 10 M-row
	      * replay, whose peaks no longer hold the whole image (docs/classify.md, "Memory") */
		madvise(map, size, MADV_DONTNEED);
#endif
	return db;
}

/* The same, read into memory rather than mapped: for long-running hosts (imei-eird,
 * engines from imei_engine_config_open). A file overwritten in place under a mapping (cp
 * over it) changes or truncates the pages under the readers, and a truncated page kills
 * the process with SIGBUS; a copy cannot be touched. A file changed while being read
 * fails the size and time check or the checksum and is refused. */
struct imei_tacdb *imei_tacdb_open_copy(const char *path, struct imei_tacdb_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) {
		int e = errno;
		fail(err, "%s: %s", path,
		     !S_ISREG(sb.st_mode) ? "not a regular file" : sb.st_size == 0 ? "empty file, not a TAC image" : strerror(e));
		close(fd);
		return NULL;
	}
	size_t size = (size_t)sb.st_size;
	unsigned char *buf = malloc(size);
	if (!buf) {
		fail(err, "%s: out of memory for %zu bytes", path, size);
		close(fd);
		return NULL;
	}
	size_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				fail(err, "%s: %s", path, strerror(errno));
			else
				fail(err, "%s: the file shrank while being read (%zu of %zu bytes): being replaced?", path, got,
				     size);
			free(buf);
			close(fd);
			return NULL;
		}
		got += (size_t)n;
	}
	struct stat after;
	bool changed = fstat(fd, &after) != 0 || after.st_size != sb.st_size ||
	               after.st_mtim.tv_sec != sb.st_mtim.tv_sec || after.st_mtim.tv_nsec != sb.st_mtim.tv_nsec;
	close(fd);
	if (changed) {
		fail(err, "%s: the file changed while being read: being replaced? (write the new image beside it and "
		          "rename it over)",
		     path);
		free(buf);
		return NULL;
	}
	struct imei_tacdb *db = imei_tac_image_adopt(buf, size, false, err);
	if (!db)
		prefix_error(err, path);
	return db;
}

static bool write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

int imei_tacdb_save(const struct imei_tacdb *db, const char *path, struct imei_tacdb_error *err)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof ".XXXXXX");
	if (!tmp) {
		fail(err, "%s: out of memory", path);
		return -1;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".XXXXXX", sizeof ".XXXXXX");
	int fd = mkstemp(tmp);
	if (fd < 0) {
		fail(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
		free(tmp);
		return -1;
	}
	const char *step = "write";
	bool ok = write_all(fd, db->base, db->size);
	if (ok && (step = "chmod", fchmod(fd, 0644) != 0))
		ok = false;
	if (ok && (step = "fsync", fsync(fd) != 0))
		ok = false;
	int e = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		step = "close";
		e = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		step = "rename";
		e = errno;
	}
	if (!ok) {
		fail(err, "%s: %s failed: %s", path, step, strerror(e));
		unlink(tmp);
	}
	free(tmp);
	return ok ? 0 : -1;
}

const void *imei_tacdb_image(const struct imei_tacdb *db, size_t *len)
{
	*len = db->size;
	return db->base;
}

struct imei_tacdb *imei_tacdb_ref(struct imei_tacdb *db)
{
	atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);
	return db;
}

void imei_tacdb_unref(struct imei_tacdb *db)
{
	if (!db || atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) != 1)
		return;
	release(db->base, db->size, db->mapped);
	free(db);
}

size_t imei_tacdb_count(const struct imei_tacdb *db)
{
	return db->nrecords;
}

void imei_tacdb_stats(const struct imei_tacdb *db, struct imei_tacdb_stats *st)
{
	memset(st, 0, sizeof *st);
	st->records = db->nrecords;
	st->tacs = db->ndense;
	st->other_keys = db->nrecords - db->ndense;
	st->trie_nodes = db->nnodes;
	st->bucket_bits = db->bits;
	st->index_bytes = (((size_t)1 << db->bits) + 1) * sizeof(uint32_t) + (size_t)db->ndense * sizeof(uint32_t) +
	                  (size_t)db->nnodes * sizeof(struct tac_node) +
	                  (size_t)(db->nrecords - db->ndense) * sizeof(uint64_t);
	st->record_bytes = (size_t)db->nrecords * sizeof(struct tac_rec);
	st->extra_bytes = (size_t)db->nschemas * sizeof(struct tac_schema) + (size_t)db->ncols * sizeof(uint32_t) +
	                  (size_t)db->nxval * sizeof(uint32_t);
	st->string_bytes = db->pool_size;
	st->image_bytes = db->size;
	st->mapped = db->mapped;
}
