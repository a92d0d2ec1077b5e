/*
 * identity_bench.c — validate 1,000,000 15-digit IMEIs from C (targets: docs/architecture.md "Targets"):
 *   imei_valid15(s, 15)          the fast path, length known (as a caller with a length has it)
 *   imei_valid15(s, strlen(s))   the same from a C string
 *   imei_valid(s, strlen(s))     the general entry point (parses whatever the fast path refuses)
 *   imei_bulk_validate(buf)      the bulk path over a newline-separated buffer of the same IMEIs
 *   osmo_imei_str_valid(s, true) libosmocore (TS 23.003 Luhn on a C string), the peer
 * in the same run, one core. Input: a realistic mix, 97% valid, 2% spare digit 0, 1% another
 * wrong check digit, random TACs from a few common RBIs. Best of 15 round-robin passes,
 * CPU time.
 * Prints rates in M/s and ratios to libosmocore; the last line is machine-readable for
 * bench/run: "c_rate_mps=<imei_valid15 rate> bulk_rate_mps=<bulk rate>".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <osmocom/gsm/gsm23003.h>

#include "imei_bulk.h"
#include "imei_identity.h"

#define N 1000000
#define PASSES 15

static uint64_t rng_state = 0xC0FFEE1234567ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

/* CPU time of this process: the machine may be shared, and time spent descheduled is not
 * the code's. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 16-byte slots: 15 digits and a NUL */
static char *make_imeis(size_t *nvalid)
{
	char *slots = malloc((size_t)N * 16);
	if (!slots)
		return NULL;
	static const char *const rbis[] = { "35", "86", "01", "99", "49", "52", "45" };
	*nvalid = 0;
	for (size_t i = 0; i < N; i++) {
		char *s = slots + i * 16;
		memcpy(s, rbis[rnd() % 7], 2);
		for (int k = 2; k < 14; k++)
			s[k] = (char)('0' + rnd() % 10);
		char cd = imei_check_digit(s, 14);
		unsigned r = (unsigned)(rnd() % 100);
		if (r < 97)
			s[14] = cd;
		else if (r < 99)
			s[14] = '0'; /* spare digit, right only when cd is 0 */
		else
			s[14] = (char)('0' + (cd - '0' + 1 + rnd() % 9) % 10);
		s[15] = 0;
		*nvalid += s[14] == cd;
	}
	return slots;
}

typedef size_t (*pass_fn)(const char *slots);

static size_t pass_valid15(const char *slots)
{
	size_t n = 0;
	for (size_t i = 0; i < N; i++)
		n += imei_valid15(slots + i * 16, 15);
	return n;
}

static size_t pass_valid15_strlen(const char *slots)
{
	size_t n = 0;
	for (size_t i = 0; i < N; i++) {
		const char *s = slots + i * 16;
		n += imei_valid15(s, strlen(s));
	}
	return n;
}

static size_t pass_valid(const char *slots)
{
	size_t n = 0;
	for (size_t i = 0; i < N; i++) {
		const char *s = slots + i * 16;
		n += imei_valid(s, strlen(s));
	}
	return n;
}

static size_t pass_osmo(const char *slots)
{
	size_t n = 0;
	for (size_t i = 0; i < N; i++)
		n += osmo_imei_str_valid(slots + i * 16, true);
	return n;
}

static const char *bulk_buf;
static size_t pass_bulk(const char *slots)
{
	(void)slots;
	struct imei_bulk_stats st;
	imei_bulk_validate(bulk_buf, (size_t)N * 16, &st, NULL, NULL, NULL, NULL);
	return st.valid;
}

struct variant {
	const char *name;
	pass_fn fn;
	double best; /* seconds */
};

/* Round-robin passes over all variants (so that a noisy moment hurts them alike); keeps
 * each one's best time, and checks that every pass counts the same valid IMEIs. */
static void measure(struct variant *v, size_t nv, const char *slots, size_t want)
{
	for (size_t i = 0; i < nv; i++)
		v[i].best = 1e9;
	for (int p = 0; p < PASSES; p++) {
		for (size_t i = 0; i < nv; i++) {
			double t0 = now();
			size_t n = v[i].fn(slots);
			double dt = now() - t0;
			if (n != want) {
				fprintf(stderr, "%s: counted %zu valid, expected %zu\n", v[i].name, n, want);
				exit(1);
			}
			if (dt < v[i].best)
				v[i].best = dt;
		}
	}
}

static double rate(const struct variant *v) { return N / v->best / 1e6; }

int main(void)
{
	size_t nvalid;
	char *slots = make_imeis(&nvalid);
	char *buf = malloc((size_t)N * 16);
	if (!slots || !buf) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < N; i++) {
		memcpy(buf + i * 16, slots + i * 16, 15);
		buf[i * 16 + 15] = '\n';
	}
	bulk_buf = buf;
	printf("C: validate %d 15-digit IMEIs (%zu valid), best of %d passes, one core (CPU time)\n", N, nvalid,
	       PASSES);
	struct variant v[] = {
		{ "libosmocore osmo_imei_str_valid(s,1)", pass_osmo, 0 },
		{ "imei_valid15(s, 15)", pass_valid15, 0 },
		{ "imei_valid15(s, strlen(s))", pass_valid15_strlen, 0 },
		{ "imei_valid(s, strlen(s))", pass_valid, 0 },
		{ "imei_bulk_validate (16 MB buffer)", pass_bulk, 0 },
	};
	measure(v, sizeof v / sizeof v[0], slots, nvalid);
	double osmo = rate(&v[0]);
	printf("  %-38s %8.1f M/s\n", v[0].name, osmo);
	for (size_t i = 1; i < sizeof v / sizeof v[0]; i++)
		printf("  %-38s %8.1f M/s  %5.1fx libosmocore%s\n", v[i].name, rate(&v[i]), rate(&v[i]) / osmo,
		       i == 1 ? "  (target >= 4x)" : "");
	printf("c_rate_mps=%.2f bulk_rate_mps=%.2f osmo_rate_mps=%.2f\n", rate(&v[1]), rate(&v[4]), osmo);
	free(slots);
	free(buf);
	return 0;
}
