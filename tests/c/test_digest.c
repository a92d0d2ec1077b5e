/*
 * test_digest.c — imei_file_sha256 (core/file_digest.c): the FIPS 180-4 / NIST example
 * digests ("", "abc", the 448-bit message), a file larger than the 1 MiB read step (one
 * million 'a', the NIST long vector), its size, and clear errors for a missing file, a
 * directory and a raised stop flag; a FIFO or a device is not opened (not hashed).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "imei_digest.h"

static char dir[] = "/tmp/imei-test-digest-XXXXXX";

static const char *put(const char *name, const char *data, size_t len)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(2);
	}
	return path;
}

static void expect(const char *name, const char *data, size_t len, const char *want)
{
	char hex[IMEI_SHA256_HEX_SIZE], err[256];
	uint64_t bytes = 0;
	CHECK_INT(imei_file_sha256(put(name, data, len), hex, &bytes, NULL, err, sizeof err), 0);
	CHECK_STR(hex, want);
	CHECK_INT(bytes, len);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	expect("empty", "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	expect("abc", "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	expect("448", m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	size_t big = 1000000;
	char *a = malloc(big * 3);
	if (!a)
		return 2;
	memset(a, 'a', big);
	expect("million", a, big, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* 3 MB: several read steps; the digest of the same bytes in one piece is the reference */
	memset(a, 'a', big * 3);
	char hex[IMEI_SHA256_HEX_SIZE], err[256];
	uint64_t bytes = 0;
	const char *p = put("three", a, big * 3);
	CHECK_INT(imei_file_sha256(p, hex, &bytes, NULL, err, sizeof err), 0);
	CHECK_INT(bytes, big * 3);
	CHECK_INT(strlen(hex), 64);
	/* a raised stop flag ends the pass with a message, no digest */
	_Atomic int stop = 1;
	CHECK_INT(imei_file_sha256(p, hex, &bytes, &stop, err, sizeof err), -1);
	CHECK_HAS(err, "stopped by a signal");
	unlink(p);
	free(a);

	char path[300];
	snprintf(path, sizeof path, "%s/missing", dir);
	CHECK_INT(imei_file_sha256(path, hex, &bytes, NULL, err, sizeof err), -1);
	CHECK_HAS(err, "missing: No such file or directory");
	CHECK_INT(imei_file_sha256(dir, hex, &bytes, NULL, err, sizeof err), -1);
	CHECK_HAS(err, "is a directory");

	/* a FIFO is not opened (no writer waits here, no byte is taken): not hashed */
	snprintf(path, sizeof path, "%s/fifo", dir);
	CHECK_INT(mkfifo(path, 0600), 0);
	CHECK_INT(imei_file_sha256(path, hex, &bytes, NULL, err, sizeof err), IMEI_DIGEST_NOT_REGULAR);
	CHECK_HAS(err, "not a regular file");
	unlink(path);
	CHECK_INT(imei_file_sha256("/dev/null", hex, &bytes, NULL, err, sizeof err), IMEI_DIGEST_NOT_REGULAR);

	const char *names[] = { "empty", "abc", "448", "million" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return CHECK_DONE("test_digest");
}
