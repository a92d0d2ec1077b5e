/*
 * check.h — the smallest test harness for the C core: CHECK* record a failure with its
 * place and go on; CHECK_DONE() prints "NAME: N passed, N failed" and returns the status.
 */
#ifndef IMEI_CHECK_H
#define IMEI_CHECK_H

#include <stdbool.h>
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

/* CHECK_HAS(hay, needle): a message contains a piece of text. */
static inline bool check_contains(const char *hay, const char *needle)
{
	return hay && needle && strstr(hay, needle) != NULL;
}

#define CHECK_HAS(hay, needle)                                                                  \
	do {                                                                                        \
		const char *h_ = (hay), *n_ = (needle);                                                 \
		if (check_contains(h_, n_)) {                                                           \
			check_passed++;                                                                     \
		} else {                                                                                \
			check_failed++;                                                                     \
			fprintf(stderr, "%s:%d: CHECK_HAS failed: \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, \
			        h_ ? h_ : "(null)", n_);                                                    \
		}                                                                                       \
	} while (0)

#define CHECK_DONE(name)                                                                  \
	(printf("%s: %d passed, %d failed\n", (name), check_passed, check_failed),           \
	 check_failed ? 1 : 0)

#endif
