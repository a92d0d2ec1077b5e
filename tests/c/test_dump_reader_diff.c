/*
 * test_dump_reader_diff.c — the row parser (imei_dump_parse, imei_dump_parse_row with its
 * remembered date) against the plain reference it replaced (dump_parse_ref.h) on random
 * lines: every line gives both the same verdict, and a refused one the same reason, field
 * and message, an accepted one the same row. The lines are built from the pieces dumps are
 * made of and the ways they go wrong (blanks, quotes, "" inside quotes, control bytes, CR,
 * NUL, bytes above 0x7F, long digit runs, wrong field counts, every delimiter kind), under
 * several layouts, in random order of dates (the remembered date must never leak into
 * another row). DUMP_DIFF_LINES lines (default 200,000; a seed in DUMP_DIFF_SEED).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dump_parse_ref.h"
#include "imei_dump_reader.h"

static uint64_t rng_state;
static unsigned wild; /* how often things go wrong in the line being made: 1 in wild */

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

struct buf {
	char s[6000];
	size_t n;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n > sizeof b->s)
		n = sizeof b->s - b->n;
	memcpy(b->s + b->n, s, n);
	b->n += n;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void digits(struct buf *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char c = (char)('0' + rnd(10));
		put(b, &c, 1);
	}
}

static const char *const odd_bytes[] = { "\0", "\r", "\x01", "\x1f", "\x7f", "\x80", "\xff", "\t", " ", "\"",
	                                     "\"\"", "+", "-", "a", "Z", "'", "\xc3\xa9" };

/* One field's text, of the kind col holds (or any). */
static void field_text(struct buf *b, int col, char delim)
{
	static const char *const dates[] = { "20260101", "2026-01-31", "20240229", "20250229", "21000229", "20000229",
		                                 "19991231", "20991231", "21000101", "20261301", "20260100", "20260431",
		                                 "2026013",  "2026-0131", "2026O131", "0000-01-01", "00000101", "2026-1-31",
		                                 "2026-01-3", "2026/01/31", "99999999", "20260132", "2026-13-01",
		                                 "2026--1-01", "+2026010", "20260101 " };
	static const char *const rats[] = { "EUTRAN", "eutran", "NR", "nr", "Nr", "UTRAN", "GERAN", "WLAN", "GAN", "HSPA",
		                                "VIRTUAL", "NB-IOT", "nb-iot", "LTE-M", "2G", "3G", "4G", "5G", "LTE", "lte",
		                                "NBIOT", "LTEM", "EUTRAN-NB-IOT", "HSPA-EVOLUTION", "E-UTRAN", "e-utran", "0",
		                                "1", "6", "10", "11", "010", "006", "0006", "1000", "EUTRA", "EUTRANX", "N",
		                                "R", "6G", "HSPA-EVOLUTIO", "HSPA-EVOLUTIONS", "UTRAN ", "5g" };
	static const char *const idents[] = { "35-209900-176148-1", "352099001761481", "35209900176148", "3520990017614823",
		                                  "imei-352099001761481", "imeisv-3520990017614823", "A0000000002329",
		                                  "a0000000002329", "270113177609606898", "80A1B2C3", "12345678901",
		                                  "not an imei", "35 209900 176148 1", "35209900176148x", "x",
		                                  "012345678901234567890123456789012", "01234567890123456789012345678901" };
	int kind = col >= 0 ? col : (int)rnd(6);
	switch (rnd(wild) == 0 ? 99 : kind) {
	case IMEI_DUMP_COL_DATE:
		if (rnd(3) == 0) {
			char d[16];
			snprintf(d, sizeof d, "%04u%02u%02u", 1995 + rnd(110), rnd(14), rnd(33));
			if (rnd(4) == 0)
				snprintf(d, sizeof d, "%04u-%02u-%02u", 1995 + rnd(110), rnd(14), rnd(33));
			puts_(b, d);
		} else if (rnd(wild) == 0) {
			digits(b, rnd(12));
		} else if (rnd(2)) {
			puts_(b, dates[rnd(sizeof dates / sizeof dates[0])]);
		} else { /* sorted dumps: the same few days again and again */
			char d[16];
			snprintf(d, sizeof d, rnd(8) ? "202601%02u" : "2026-01-%02u", 1 + rnd(4));
			puts_(b, d);
		}
		break;
	case IMEI_DUMP_COL_IMEI:
		if (rnd(wild) == 0)
			puts_(b, idents[rnd(sizeof idents / sizeof idents[0])]);
		else
			digits(b, rnd(wild) == 0 ? rnd(20) : 14 + rnd(3));
		break;
	case IMEI_DUMP_COL_IMSI:
		digits(b, rnd(wild) == 0 ? rnd(20) : 6 + rnd(10));
		break;
	case IMEI_DUMP_COL_MSISDN:
		if (rnd(3) == 0)
			puts_(b, "+");
		digits(b, rnd(wild) == 0 ? rnd(20) : 3 + rnd(13));
		break;
	case IMEI_DUMP_COL_RAT:
		if (rnd(4) == 0)
			digits(b, rnd(4));
		else if (rnd(2))
			puts_(b, rats[rnd(sizeof rats / sizeof rats[0])]);
		else
			puts_(b, rats[rnd(6)]);
		break;
	default: /* anything */
		for (unsigned i = 0, n = rnd(40); i < n; i++) {
			char c = rnd(3) ? (char)('0' + rnd(10)) : (char)(0x20 + rnd(0x5f));
			put(b, &c, 1);
		}
		if (rnd(8) == 0)
			for (unsigned i = 0, n = rnd(5000); i < n; i++)
				put(b, "9", 1);
		break;
	}
	/* now and then a byte that is out of place */
	if (rnd(wild) == 0) {
		const char *o = odd_bytes[rnd(sizeof odd_bytes / sizeof odd_bytes[0])];
		size_t at = b->n > 0 ? b->n - rnd(4) % (b->n + 1) : 0, n = o[0] ? strlen(o) : 1;
		if (b->n + n < sizeof b->s) {
			memmove(b->s + at + n, b->s + at, b->n - at);
			memcpy(b->s + at, o, n);
			b->n += n;
		}
	}
	if (rnd(3 * wild) == 0)
		put(b, &delim, 1);
}

/* A field as it stands in the line: blanks around it, quoting, "" inside. */
static void field(struct buf *line, int col, char delim)
{
	struct buf v = { .n = 0 };
	field_text(&v, col, delim);
	if (rnd(wild) == 0)
		puts_(line, rnd(2) ? " " : "\t");
	unsigned q = rnd(wild > 8 ? 30 : 8);
	if (q == 0 || q == 1) {
		put(line, "\"", 1);
		for (size_t i = 0; i < v.n; i++) {
			put(line, v.s + i, 1);
			if (v.s[i] == '"' && rnd(4))
				put(line, "\"", 1);
		}
		if (q == 1 && rnd(3) == 0)
			put(line, "\"\"", 2);
		if (rnd(2 * wild))
			put(line, "\"", 1);
		if (rnd(2 * wild) == 0)
			puts_(line, rnd(2) ? "x" : "\"");
	} else {
		put(line, v.s, v.n);
	}
	if (rnd(wild) == 0)
		puts_(line, rnd(3) ? " " : rnd(2) ? "\t" : "\r");
}

static void make_line(struct buf *line, const struct imei_dump_layout *lay)
{
	line->n = 0;
	wild = rnd(2) ? 8 : 200;
	unsigned shape = rnd(5 * wild);
	if (shape == 0) { /* bytes from a small alphabet */
		static const char alpha[] = "0123456789,;|\t \"+-aZ\r\x01";
		for (unsigned i = 0, n = rnd(80); i < n; i++)
			put(line, &alpha[rnd(sizeof alpha - 1)], 1);
		return;
	}
	size_t nf = lay->ncols;
	if (shape == 1)
		nf = rnd(IMEI_DUMP_MAX_COLS + 3);
	else if (shape == 2 && nf > 0)
		nf = lay->min_cols - 1 + rnd(3);
	for (size_t i = 0; i < nf; i++) {
		if (i)
			put(line, &lay->delim, 1);
		field(line, i < lay->ncols && rnd(3 * wild) ? lay->col[i] : -1, lay->delim);
	}
	if (rnd(50) == 0)
		put(line, &lay->delim, 1);
}

static unsigned long mismatches;

static void compare(const struct imei_dump_layout *lay, struct imei_dump_dates *dates, const char *line, size_t len)
{
	char sa[IMEI_DUMP_MAX_IDENT * 2 + IMEI_MAX_DIGITS + 8], sb[sizeof sa];
	struct imei_dump_row a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	struct imei_dump_problem wa, wb;
	memset(&wa, 0, sizeof wa);
	memset(&wb, 0, sizeof wb);
	enum imei_dump_reject ra = ref_parse(lay, line, len, &a, sa, &wa);
	enum imei_dump_reject rb =
		dates ? imei_dump_parse_row(lay, dates, line, len, &b, sb, &wb) : imei_dump_parse(lay, line, len, &b, sb, &wb);
	bool same = ra == rb;
	if (same && ra != IMEI_DUMP_OK)
		same = wa.reason == wb.reason && wa.field == wb.field && strcmp(wa.msg, wb.msg) == 0;
	if (same && ra == IMEI_DUMP_OK)
		same = a.day == b.day && a.key == b.key && a.form == b.form && a.kind == b.kind && a.imsi == b.imsi &&
		       a.msisdn == b.msisdn && a.rat == b.rat && a.ident_len == b.ident_len &&
		       (a.ident == NULL) == (b.ident == NULL) && (!a.ident || memcmp(a.ident, b.ident, a.ident_len) == 0);
	if (!same && ++mismatches <= 10) {
		fprintf(stderr, "mismatch (delim 0x%02X, %s): '", (unsigned char)lay->delim, dates ? "dates" : "plain");
		for (size_t i = 0; i < len && i < 200; i++)
			fprintf(stderr, line[i] >= 0x20 && line[i] < 0x7f ? "%c" : "\\x%02X", (unsigned char)line[i]);
		fprintf(stderr, "'\n  ref: %d field %u '%s'", ra, wa.field, ra ? wa.msg : "");
		if (ra == IMEI_DUMP_OK)
			fprintf(stderr, " day %d key %llu form %u imsi %llu msisdn %llu rat %u", a.day,
			        (unsigned long long)a.key, a.form, (unsigned long long)a.imsi, (unsigned long long)a.msisdn, a.rat);
		fprintf(stderr, "\n  new: %d field %u '%s'", rb, wb.field, rb ? wb.msg : "");
		if (rb == IMEI_DUMP_OK)
			fprintf(stderr, " day %d key %llu form %u imsi %llu msisdn %llu rat %u", b.day,
			        (unsigned long long)b.key, b.form, (unsigned long long)b.imsi, (unsigned long long)b.msisdn, b.rat);
		fprintf(stderr, "\n");
	}
}

/* Lines a dump is made of, and their near misses, by hand: each through both parsers. */
static void fixed_lines(void)
{
	static const char *const lines[] = {
		"20260101,352099001761481,410011000000020,923010000001,EUTRAN",
		"20260101,352099001761481,410011000000020,923010000001",
		"20260101,352099001761481,410011000000020,,",
		"20260101,352099001761481,410011000000020,+923010000001,nr",
		"\"20260101\",\"352099001761481\",\"410011000000020\",\"923010000001\",\"EUTRAN\"",
		"\"20260101\" ,352099001761481,410011000000020,923010000001,EUTRAN",
		"20260101,\"35209900\"\"1761481\",410011000000020,923010000001,EUTRAN",
		"20260101,\"\"\"\",410011000000020,923010000001,EUTRAN",
		"20260101,\"352099001761481,410011000000020,923010000001,EUTRAN",
		"20260101,\"352099001761481\"x,410011000000020,923010000001,EUTRAN",
		"2026-01-01,35209900176148,410011000000020,923010000001,6",
		"20260101,3520990017614823,410011000000020,923010000001,10",
		"20260101,35209900176148231,410011000000020,923010000001,11",
		"20260101,352099001761481,41001100000002012345,923010000001,EUTRAN",
		"20260101,352099001761481,4100110000000201234x,923010000001,EUTRAN",
		"20260101,352099001761481,41001x,923010000001,EUTRAN",
		"20260101,352099001761481,410011000000020,92301000000112345678,EUTRAN",
		"20260101,352099001761481,410011000000020,+,EUTRAN",
		"20260101,,410011000000020,923010000001,EUTRAN",
		"20260101, ,410011000000020,923010000001,EUTRAN",
		"20260101,352099001761481,410011000000020,923010000001,EUTRAN,",
		"20260101,352099001761481,410011000000020,923010000001,EUTRAN\r",
		"20260101,352099001761481,410011000000020\x00,923010000001,EUTRAN",
		"19991231,352099001761481,410011000000020,923010000001,EUTRAN",
		"21000101,352099001761481,410011000000020,923010000001,EUTRAN",
		"20260230,352099001761481,410011000000020,923010000001,EUTRAN",
		"",
		" ",
		",,,,",
		"20260101,A0000000002329,410011000000020,923010000001,EUTRAN",
		"20260101,imei-352099001761481,410011000000020,923010000001,EUTRAN",
		"20260101,35-209900-176148-1,410011000000020,923010000001,EUTRAN",
		"20260101,\x80\x81,410011000000020,923010000001,EUTRAN",
	};
	struct imei_dump_layout lay;
	imei_dump_layout_default(&lay);
	struct imei_dump_dates dates = { .ymd = 0 };
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		size_t len = strlen(lines[i]);
		if (i == 22)
			len = sizeof "20260101,352099001761481,410011000000020\x00,923010000001,EUTRAN" - 1;
		char *copy = malloc(len ? len : 1); /* exactly the line: a sanitizer sees any read past it */
		CHECK(copy != NULL);
		if (!copy)
			return;
		memcpy(copy, lines[i], len);
		compare(&lay, NULL, copy, len);
		compare(&lay, &dates, copy, len);
		free(copy);
	}
}

/* imei_sight_rat (every caller's, the engine's too) against the reference on short
 * strings of the letters RAT words are made of, in both cases, and bytes no word has. */
static void rat_words(void)
{
	static const char alpha[] = "EUTRANGWLHSPVIBOMevtrangwlhspibom-0123456789 \x80\xe0\x7f";
	static const char *const words[] = { "utran", "Geran", "wlan", "gAn", "hspa", "eutran", "virtual", "nb-iot",
		                                 "lte-m", "nR", "2g", "3G", "4g", "lte", "5g", "nbiot", "ltem", "eutran-nb-iot",
		                                 "hspa-evolution", "e-utran" };
	unsigned long bad = 0, found = 0;
	for (unsigned long i = 0; i < 300000; i++) {
		char s[20] = { 0 };
		size_t len = rnd(17);
		for (size_t k = 0; k < len; k++)
			s[k] = rnd(50) ? alpha[rnd(sizeof alpha - 1)] : (char)rnd(3);
		if (rnd(2)) { /* a word, in any case, now and then one byte off, cut or longer */
			const char *w = words[rnd(sizeof words / sizeof words[0])];
			len = strlen(w);
			for (size_t k = 0; k < len; k++)
				s[k] = rnd(2) && w[k] >= 'a' ? (char)(w[k] - 'a' + 'A') : w[k];
			if (rnd(4) == 0)
				s[rnd((uint32_t)len)] = alpha[rnd(sizeof alpha - 1)];
			if (rnd(8) == 0)
				len = len + rnd(3) - 1;
		}
		char *copy = malloc(len ? len : 1);
		if (!copy)
			break;
		memcpy(copy, s, len);
		uint8_t a = 0, b = 0;
		int ra = ref_rat(copy, len, &a), rb = imei_sight_rat(copy, len, &b, NULL);
		if (ra != rb || a != b)
			bad++;
		found += ra == 0;
		free(copy);
	}
	CHECK(found > 50000); /* the words were met, not only missed */
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		uint8_t a = 0, b = 0;
		CHECK(ref_rat(words[i], strlen(words[i]), &a) == 0 && imei_sight_rat(words[i], strlen(words[i]), &b, NULL) == 0 &&
		      a == b && a != 0);
	}
	CHECK_INT(bad, 0);
}

int main(void)
{
	const char *n_env = getenv("DUMP_DIFF_LINES"), *seed_env = getenv("DUMP_DIFF_SEED");
	unsigned long n = n_env ? strtoul(n_env, NULL, 10) : 200000;
	rng_state = seed_env ? strtoull(seed_env, NULL, 10) | 1 : 0x9E3779B97F4A7C15ULL;
	fixed_lines();
	CHECK_INT(mismatches, 0);
	rat_words();

	struct imei_dump_layout lays[8];
	size_t nlays = 0;
	char err[300];
	imei_dump_layout_default(&lays[nlays++]);
	static const struct {
		const char *spec;
		char delim;
	} specs[] = {
		{ "date,imei,imsi", ';' },           { "-,imei,date,skip,imsi,rat,msisdn", '|' },
		{ "imsi,date,imei,msisdn", '\t' },   { "date,imei,imsi,msisdn,rat", ' ' },
		{ "rat,msisdn,imsi,imei,date", '"' }, { "date,imei,imsi,msisdn,rat", '5' },
	};
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		int rc = imei_dump_layout_parse(specs[i].spec, specs[i].delim, &lays[nlays], err, sizeof err);
		CHECK_INT(rc, 0);
		if (rc == 0)
			nlays++;
	}
	CHECK(imei_dump_header_layout("day,PEI,supi,gpsi,-,rat_type", 28, ',', &lays[nlays], err, sizeof err) == 0);
	nlays++;

	struct imei_dump_dates dates[8];
	memset(dates, 0, sizeof dates);
	unsigned long accepted = 0, refused = 0;
	struct buf line;
	for (unsigned long i = 0; i < n; i++) {
		size_t k = rnd(3) ? 0 : rnd((uint32_t)nlays);
		make_line(&line, &lays[k]);
		char *copy = malloc(line.n ? line.n : 1);
		CHECK(copy != NULL);
		if (!copy)
			break;
		memcpy(copy, line.s, line.n);
		compare(&lays[k], NULL, copy, line.n);
		compare(&lays[k], &dates[k], copy, line.n);
		struct imei_dump_row row;
		char scratch[IMEI_DUMP_MAX_IDENT * 2 + IMEI_MAX_DIGITS + 8];
		if (imei_dump_parse(&lays[k], copy, line.n, &row, scratch, NULL) == IMEI_DUMP_OK)
			accepted++;
		else
			refused++;
		free(copy);
	}
	CHECK_INT(mismatches, 0);
	/* the lines reach both outcomes, in earnest */
	CHECK(accepted > n / 10);
	CHECK(refused > n / 10);
	printf("dump_reader_diff: %lu lines (%lu accepted, %lu refused), %lu mismatches\n", n, accepted, refused,
	       mismatches);
	return CHECK_DONE("dump_reader_diff");
}
