/*
 * check.h — the smallest test harness for the C core: CHECK* record a failure with its
 * place and go on; CHECK_DONE() prints "NAME: N passed, N failed" and returns the status.
 */
#ifndef IMEI_CHECK_H
#define IMEI_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                       \
	do {                                                                                  \
		if (cond) {                                                                       \
			check_passed++;                                                               \
		} else {                                                                          \
			check_failed++;                                                               \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
		}                                                                                 \
	} while (0)

#define CHECK_STR(got, want)                                                              \
	do {                                                                                  \
		const char *g_ = (got), *w_ = (want);                                             \
		if (g_ && w_ && strcmp(g_, w_) == 0) {                                            \
			check_passed++;                                                               \
		} else {                                                                          \
			check_failed++;                                                               \
			fprintf(stderr, "%s:%d: CHECK_STR failed: %s is \"%s\", want \"%s\"\n",       \
			        __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_ ? w_ : "(null)");    \
		}                                                                                 \
	} while (0)

#define CHECK_INT(got, want)                                                              \
	do {                                                                                  \
		long long g_ = (long long)(got), w_ = (long long)(want);                          \
		if (g_ == w_) {                                                                   \
			check_passed++;                                                               \
		} else {                                                                          \
			check_failed++;                                                               \
			fprintf(stderr, "%s:%d: CHECK_INT failed: %s is %lld, want %lld\n", __FILE__, \
			        __LINE__, #got, g_, w_);                                              \
		}                                                                                 \
	} while (0)

#define CHECK_DONE(name)                                                                  \
	(printf("%s: %d passed, %d failed\n", (name), check_passed, check_failed),           \
	 check_failed ? 1 : 0)

#endif
