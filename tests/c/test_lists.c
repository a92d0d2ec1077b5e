/*
 * test_lists.c — membership lists (imei_lists.h): the RFC 4180 reader, the frozen hash
 * sets, DIRBS-style list files (tests/fixtures/lists/, every bad row asserted with its
 * line and reason), file-level errors, membership in every identifier form, collections,
 * reload detection, threads sharing a list, and a generated list of 1,000,000 keys whose
 * every member and many non-members are checked against a sorted reference array.
 * Run from the repository root (tests/run does).
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "check.h"
#include "imei_csv.h"
#include "imei_lists.h"
#include "imei_lua.h"

int imei_luaopen_core(lua_State *L);

#define FIX "tests/fixtures/lists/"


/* xorshift64*: seeded, so a failure repeats */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* ---- the CSV reader ------------------------------------------------------------------ */

struct rec {
	size_t line, n;
	char v[8][32];
	const char *error;
};

/* Read buf into at most max records of at most 8 fields each; returns the count. */
static size_t read_all(const char *buf, struct rec *r, size_t max)
{
	struct imei_csv c;
	struct imei_csv_field f;
	enum imei_csv_step st;
	size_t n = 0;
	imei_csv_init(&c, buf, strlen(buf));
	while (n < max && (st = imei_csv_field(&c, &f)) != IMEI_CSV_EOF) {
		r[n].line = c.record_line;
		r[n].n = 0;
		r[n].error = NULL;
		for (;;) {
			if (f.error && !r[n].error)
				r[n].error = f.error;
			if (r[n].n < 8)
				imei_csv_value(&f, r[n].v[r[n].n], sizeof r[n].v[0]);
			r[n].n++;
			if (st == IMEI_CSV_LAST)
				break;
			st = imei_csv_field(&c, &f);
		}
		n++;
	}
	return n;
}

static void test_csv(void)
{
	struct rec r[8];
	size_t n = read_all("a,b,c\n1,2,3", r, 8);
	CHECK_INT(n, 2);
	CHECK_INT(r[0].n, 3);
	CHECK_STR(r[0].v[2], "c");
	CHECK_INT(r[1].line, 2);
	CHECK_STR(r[1].v[2], "3"); /* the last record needs no line end */

	/* quoting: separators, doubled quotes, line ends inside, spaces outside the quotes */
	n = read_all("\"a,b\",\"say \"\"hi\"\"\", \"x\" ,\"l1\r\nl2\"\r\nnext", r, 8);
	CHECK_INT(n, 2);
	CHECK_INT(r[0].n, 4);
	CHECK_STR(r[0].v[0], "a,b");
	CHECK_STR(r[0].v[1], "say \"hi\"");
	CHECK_STR(r[0].v[2], "x");
	CHECK_STR(r[0].v[3], "l1\r\nl2");
	CHECK(r[0].error == NULL);
	CHECK_INT(r[1].line, 3); /* the quoted line end counts */
	CHECK_STR(r[1].v[0], "next");

	/* BOM, CRLF, lone CR, trimming, empty fields, a trailing separator */
	n = read_all("\xEF\xBB\xBF  id \t,x\r\n1,\r2,,\n\n", r, 8);
	CHECK_INT(n, 4);
	CHECK_STR(r[0].v[0], "id");
	CHECK_INT(r[1].line, 2);
	CHECK_INT(r[1].n, 2);
	CHECK_STR(r[1].v[1], "");
	CHECK_INT(r[2].line, 3);
	CHECK_INT(r[2].n, 3);
	CHECK_INT(r[3].line, 4); /* an empty line is one empty field */
	CHECK_INT(r[3].n, 1);

	/* malformed: text after a closing quote, then the reader goes on with the next record */
	n = read_all("\"ab\"c,d\nok", r, 8);
	CHECK_INT(n, 2);
	CHECK_HAS(r[0].error, "after a closing quote");
	CHECK_INT(r[0].n, 2);
	CHECK_STR(r[1].v[0], "ok");
	/* an unterminated quote runs to the end */
	n = read_all("x\n\"never closed\nmore", r, 8);
	CHECK_INT(n, 2);
	CHECK_HAS(r[1].error, "unterminated");
	CHECK_INT(r[1].line, 2);
	n = read_all("\"", r, 8);
	CHECK_INT(n, 1);
	CHECK_HAS(r[0].error, "unterminated");
	/* a quote inside an unquoted field is a character */
	n = read_all("6\" screen,b", r, 8);
	CHECK_STR(r[0].v[0], "6\" screen");
	CHECK(r[0].error == NULL);

	/* cut values say their full length */
	struct imei_csv c;
	struct imei_csv_field f;
	char small[4];
	imei_csv_init(&c, "abcdef", 6);
	CHECK_INT(imei_csv_field(&c, &f), IMEI_CSV_LAST);
	CHECK_INT(imei_csv_value(&f, small, sizeof small), 6);
	CHECK_STR(small, "abc");
	CHECK_INT(imei_csv_field(&c, &f), IMEI_CSV_EOF);
	/* an empty buffer has no record; a lone BOM neither */
	imei_csv_init(&c, "", 0);
	CHECK_INT(imei_csv_field(&c, &f), IMEI_CSV_EOF);
	imei_csv_init(&c, "\xEF\xBB\xBF", 3);
	CHECK_INT(imei_csv_field(&c, &f), IMEI_CSV_EOF);
}

/* The bytes of a list's sets (imei_u64set.h): n values, or n pairs. */
static size_t set_bytes(size_t n)
{
	return 8 * (n + n / 8 + 1 + 16 + n / 256 + 8); /* home slots, slack, padding */
}

static size_t pairset_bytes(size_t n)
{
	return 16 * n + 4 * (n / 4 + 2);
}

/* ---- list files ---------------------------------------------------------------------- */

static struct imei_list *load(const char *file, struct imei_list_report *rep)
{
	char err[256] = "";
	struct imei_list *l = imei_list_load(file, NULL, rep, err, sizeof err);
	if (!l)
		fprintf(stderr, "load %s: %s\n", file, err);
	return l;
}

static void check_error(const struct imei_list_report *r, size_t i, size_t line, const char *reason)
{
	CHECK(i < r->nerrors);
	if (i >= r->nerrors)
		return;
	CHECK_INT(r->errors[i].line, line);
	CHECK_HAS(r->errors[i].reason, reason);
}

static bool has(const struct imei_list *l, const char *s)
{
	return imei_list_has(l, s, strlen(s), NULL, 0);
}

static bool has_pair(const struct imei_list *l, const char *s, const char *imsi)
{
	return imei_list_has(l, s, strlen(s), imsi, strlen(imsi));
}

static void test_stolen(void)
{
	struct imei_list_report rep;
	struct imei_list *l = load(FIX "stolen.csv", &rep);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(imei_list_kind(l), IMEI_LIST_KEYS);
	CHECK_STR(imei_list_name(l), "stolen");
	CHECK_STR(imei_list_path(l), FIX "stolen.csv");
	CHECK_INT(rep.rows, 9);
	CHECK_INT(rep.loaded, 7);
	CHECK_INT(rep.rejected, 0);
	CHECK_INT(rep.duplicates, 2);
	CHECK_INT(imei_list_size(l), 7);
	CHECK_INT(imei_list_bytes(l), set_bytes(7));
	/* a wrong check digit keeps the key (TS 29.272 §6.2.1.3) and is a warning */
	CHECK_INT(rep.warnings, 2);
	CHECK_INT(rep.nwarning_lines, 2);
	CHECK_INT(rep.warning_lines[0].line, 8);
	CHECK_HAS(rep.warning_lines[0].reason, "check digit 0, expected 4");
	CHECK_INT(rep.warning_lines[1].line, 10);
	CHECK(memcmp(imei_list_report(l), &rep, sizeof rep) == 0);

	/* every key of the file, in every form */
	const char *members[] = { "35209900176148", "49015420323751", "26053179311383", "35693803564380",
		                      "35332211000001", "35332211000002", "86012345678901" };
	for (size_t i = 0; i < sizeof members / sizeof *members; i++)
		CHECK(imei_list_has_key(l, members[i]));
	CHECK(has(l, "352099001761481"));
	CHECK(has(l, "352099001761480"));  /* spare digit 0 (TS 23.003 §6.2.1) */
	CHECK(has(l, "352099001761489"));  /* any 15th digit */
	CHECK(has(l, "3520990017614801")); /* IMEISV */
	CHECK(has(l, "imei-352099001761481"));
	CHECK(has(l, "imeisv-3520990017614812"));
	CHECK(has(l, " 35-209900-176148-1 "));
	CHECK(has(l, "490154203237518"));
	/* not members */
	CHECK(!imei_list_has_key(l, "35209900176149"));
	CHECK(!has(l, "352099001761499"));
	CHECK(!has(l, "00000000000000"));
	/* malformed input is not a member, and is never read past */
	CHECK(!imei_list_has_key(l, "3520990017614"));
	CHECK(!imei_list_has_key(l, ""));
	CHECK(!imei_list_has_key(l, NULL));
	CHECK(!imei_list_has_key(l, "3520990017614x"));
	CHECK(!has(l, ""));
	CHECK(!has(l, "abc"));
	CHECK(!has(l, "A0000000002329")); /* a MEID */
	CHECK(!has(l, "35209900"));       /* 8 digits: an ESN, not a key */
	CHECK(!imei_list_has(l, NULL, 5, NULL, 0));
	CHECK(!imei_list_has(l, "35209900176148", 13, NULL, 0)); /* the length is honoured */
	/* a KEYS list has no TACs; an IMSI does not narrow it */
	CHECK(!imei_list_has_tac(l, "35209900"));
	CHECK(imei_list_has_pair(l, "35209900176148", "410010000000001", 15));
	CHECK(has_pair(l, "352099001761481", "whatever"));
	imei_list_unref(l);
}

static void test_pairing(void)
{
	struct imei_list_report rep;
	struct imei_list *l = load(FIX "pairing.csv", &rep);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(imei_list_kind(l), IMEI_LIST_PAIRS);
	CHECK_INT(rep.rows, 6);
	CHECK_INT(rep.loaded, 5);
	CHECK_INT(rep.duplicates, 1);
	CHECK_INT(rep.rejected, 0);
	CHECK_INT(imei_list_size(l), 5);
	CHECK_INT(imei_list_bytes(l), pairset_bytes(5) + set_bytes(3)); /* pairs + the set of their 3 keys */
	CHECK(imei_list_has_pair(l, "35209900176148", "410010000000001", 15));
	CHECK(imei_list_has_pair(l, "35209900176148", "410010000000002", 15));
	CHECK(!imei_list_has_pair(l, "35209900176148", "410010000000003", 15));
	CHECK(!imei_list_has_pair(l, "49015420323751", "410010000000001", 15));
	/* leading zeros count: 001010123456789 and 1010123456789 are two IMSIs */
	CHECK(imei_list_has_pair(l, "49015420323751", "001010123456789", 15));
	CHECK(imei_list_has_pair(l, "49015420323751", "1010123456789", 13));
	CHECK(!imei_list_has_pair(l, "49015420323751", "01010123456789", 14));
	/* the IMSI length is honoured, and bad IMSIs match nothing */
	CHECK(!imei_list_has_pair(l, "49015420323751", "001010123456789", 14));
	CHECK(!imei_list_has_pair(l, "35209900176148", "41001", 5));
	CHECK(!imei_list_has_pair(l, "35209900176148", "4100100000000011", 16));
	CHECK(!imei_list_has_pair(l, "35209900176148", "41001000000000x", 15));
	CHECK(!imei_list_has_pair(l, "35209900176148", NULL, 15));
	/* any IMEI form for the key */
	CHECK(has_pair(l, "imeisv-3520990017614899", "410010000000002"));
	CHECK(has_pair(l, "260531793113837", "410010000000001"));
	CHECK(!has_pair(l, "260531793113837", "410010000000002"));
	/* the key alone: paired with anyone? */
	CHECK(imei_list_has_key(l, "26053179311383"));
	CHECK(has(l, "490154203237518"));
	CHECK(!imei_list_has_key(l, "35693803564380"));
	CHECK(!imei_list_has_tac(l, "35209900"));
	imei_list_unref(l);
}

static void test_tacs(void)
{
	struct imei_list_report rep;
	struct imei_list *l = load(FIX "barred_tac.csv", &rep);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(imei_list_kind(l), IMEI_LIST_TACS);
	CHECK_INT(rep.rows, 4);
	CHECK_INT(rep.loaded, 3);
	CHECK_INT(rep.duplicates, 1);
	CHECK(imei_list_has_tac(l, "35209900"));
	CHECK(imei_list_has_tac(l, "01234500")); /* leading zero */
	CHECK(!imei_list_has_tac(l, "1234500"));
	CHECK(!imei_list_has_tac(l, "35209901"));
	CHECK(!imei_list_has_tac(l, "3520990"));
	CHECK(!imei_list_has_tac(l, NULL));
	/* a device whose TAC is barred */
	CHECK(imei_list_has_key(l, "35209900176148"));
	CHECK(imei_list_has_key(l, "01234500000017"));
	CHECK(!imei_list_has_key(l, "49015420323751"));
	CHECK(has(l, "860123456789014"));
	CHECK(has(l, "imei-012345000000179"));
	CHECK(has(l, "35209900")); /* a bare TAC */
	CHECK(has(l, "3520 9900"));
	CHECK(!has(l, "35209901"));
	CHECK(!has(l, "A0B1C2D3")); /* a hex ESN is no TAC */
	CHECK(has_pair(l, "352099001761481", "410010000000001"));
	imei_list_unref(l);
}

static void test_registration(void)
{
	/* BOM, CRLF, "Approved_IMEI" in any case, quoted fields with separators, "" and a line
	 * end inside, spaces around quotes, an empty line, no final line end */
	struct imei_list_report rep;
	struct imei_list *l = load(FIX "registration.csv", &rep);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(imei_list_kind(l), IMEI_LIST_KEYS);
	CHECK_INT(rep.rows, 5);
	CHECK_INT(rep.loaded, 5);
	CHECK_INT(rep.rejected, 0);
	CHECK_INT(rep.warnings, 0);
	CHECK(has(l, "352099001761481"));
	CHECK(has(l, "490154203237518"));
	CHECK(has(l, "260531793113837"));
	CHECK(has(l, "356938035643809"));
	CHECK(has(l, "353322110000016"));
	imei_list_unref(l);
}

static void test_damaged(void)
{
	struct imei_list_report rep;
	struct imei_list *l = load(FIX "damaged.csv", &rep);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(rep.rows, 13);
	CHECK_INT(rep.loaded, 2);
	CHECK_INT(rep.rejected, 11);
	CHECK_INT(rep.nerrors, 11);
	CHECK_INT(rep.rows, rep.loaded + rep.rejected + rep.duplicates);
	check_error(&rep, 0, 3, "invalid character 'X' at position 15");
	check_error(&rep, 1, 4, "wrong length: 13 digits");
	check_error(&rep, 2, 5, "empty imei");
	check_error(&rep, 3, 6, "2 fields, the header has 3");
	check_error(&rep, 4, 7, "4 fields, the header has 3");
	check_error(&rep, 5, 8, "MEID, not an IMEI");
	check_error(&rep, 6, 9, "text after a closing quote");
	check_error(&rep, 7, 12, "MAC or EUI-64");
	check_error(&rep, 8, 13, "too long");
	check_error(&rep, 9, 15, "ESN, not an IMEI");
	check_error(&rep, 10, 16, "unterminated quoted field");
	CHECK(has(l, "352099001761481"));
	CHECK(has(l, "490154203237518")); /* the good row after the multi-line field */
	imei_list_unref(l);

	l = load(FIX "damaged_pairs.csv", &rep);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(rep.rows, 8);
	CHECK_INT(rep.loaded, 2);
	CHECK_INT(rep.rejected, 6);
	check_error(&rep, 0, 3, "empty imsi");
	check_error(&rep, 1, 4, "imsi \"41001000000000A\": not all decimal digits");
	check_error(&rep, 2, 5, "5 digits, an IMSI has 6 to 15");
	check_error(&rep, 3, 6, "16 digits, an IMSI has 6 to 15");
	check_error(&rep, 4, 7, "2 fields, the header has 3");
	check_error(&rep, 5, 8, "imei \"xyz\": invalid character 'x'");
	CHECK(has_pair(l, "352099001761481", "410010000000004")); /* trimmed */
	imei_list_unref(l);

	l = load(FIX "damaged_tac.csv", &rep);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(rep.rows, 6); /* the line of a tab is empty: no row */
	CHECK_INT(rep.loaded, 2);
	CHECK_INT(rep.rejected, 4);
	check_error(&rep, 0, 3, "tac \"3520990\": a TAC is 8 decimal digits");
	check_error(&rep, 1, 4, "tac \"352099001\"");
	check_error(&rep, 2, 5, "tac \"3520990A\"");
	check_error(&rep, 3, 6, "empty tac"); /* "" is a field, not an empty line */
	CHECK(imei_list_has_tac(l, "86012345"));
	imei_list_unref(l);
}

static void test_header_only(void)
{
	struct imei_list_report rep;
	struct imei_list *l = load(FIX "header_only.csv", &rep);
	CHECK(l != NULL);
	if (l) {
		CHECK_INT(imei_list_kind(l), IMEI_LIST_PAIRS);
		CHECK_INT(imei_list_size(l), 0);
		CHECK_INT(rep.rows, 0);
		CHECK(!imei_list_has_key(l, "35209900176148"));
		CHECK(!imei_list_has_pair(l, "35209900176148", "410010000000001", 15));
		imei_list_unref(l);
	}
	l = load(FIX "header_only_bom_crlf.csv", &rep);
	CHECK(l != NULL);
	if (l) {
		CHECK_INT(imei_list_kind(l), IMEI_LIST_TACS);
		CHECK_INT(imei_list_size(l), 0);
		CHECK(!imei_list_has_tac(l, "35209900"));
		imei_list_unref(l);
	}
}

static void expect_fail(const char *path, const char *msg)
{
	char err[256] = "";
	struct imei_list_report rep;
	memset(&rep, 0x5a, sizeof rep);
	struct imei_list *l = imei_list_load(path, NULL, &rep, err, sizeof err);
	CHECK(l == NULL);
	imei_list_unref(l);
	CHECK_HAS(err, path); /* where */
	CHECK_HAS(err, msg);  /* why */
	CHECK_INT(rep.rows, 0);
}

static void test_file_errors(void)
{
	expect_fail(FIX "missing.csv", "cannot open: No such file or directory");
	expect_fail(FIX "dir", "is a directory");
	expect_fail(FIX "stolen.csv/x.csv", "Not a directory");
	expect_fail("/dev/null", "not a regular file");
	expect_fail(FIX "empty.csv", "no header row (the file is empty)");
	expect_fail(FIX "noheader.csv", ":1: no 'imei', 'approved_imei', 'golden_imei' or 'tac' column");
	expect_fail(FIX "noheader.csv", "(the header row seems to be missing)");
	expect_fail(FIX "badheader.csv", "in the header \"serial,date\"");
	expect_fail(FIX "delta.csv", ":1: a 'change_type' column marks a DIRBS delta file");
	expect_fail(FIX "twokeys.csv", "two key columns, 'imei' (column 1) and 'approved_imei' (column 3)");
	expect_fail(FIX "imsi_no_imei.csv", "an 'imsi' column needs an 'imei' column");

	/* unreadable: a read(2) that fails (Linux: /proc/self/mem opens, then reading at
	 * address 0 gives EIO), and a file without read permission (not for root) */
	if (access("/proc/self/mem", F_OK) == 0)
		expect_fail("/proc/self/mem", "cannot read: Input/output error");
	if (geteuid() != 0) {
		char path[] = "/tmp/imei-lists-XXXXXX";
		int fd = mkstemp(path);
		CHECK(fd >= 0);
		if (fd >= 0) {
			CHECK(write(fd, "imei\n", 5) == 5);
			close(fd);
			chmod(path, 0);
			expect_fail(path, "Permission denied");
			unlink(path);
		}
	}
	/* a small error buffer is filled, cut, and terminated */
	char tiny[8];
	CHECK(imei_list_load(FIX "missing.csv", NULL, NULL, tiny, sizeof tiny) == NULL);
	CHECK_INT(strlen(tiny), 7);
}

static void test_buffers(void)
{
	char err[256] = "";
	struct imei_list_report rep;
	const char *csv = "IMEI\n490154203237518\n";
	struct imei_list *l = imei_list_load_buffer(csv, strlen(csv), NULL, &rep, err, sizeof err);
	CHECK(l != NULL);
	if (l) {
		CHECK_STR(imei_list_name(l), "list");
		CHECK(imei_list_path(l) == NULL);
		CHECK_INT(imei_list_changed(l, NULL), 0);
		CHECK(has(l, "49015420323751"));
		imei_list_unref(l);
	}
	/* the length is honoured: the second row is outside it */
	l = imei_list_load_buffer(csv, 5 + 13, "cut", &rep, err, sizeof err);
	CHECK(l != NULL);
	if (l) {
		CHECK_STR(imei_list_name(l), "cut");
		CHECK_INT(rep.rejected, 1);
		check_error(&rep, 0, 2, "wrong length: 13 digits");
		imei_list_unref(l);
	}
	CHECK(imei_list_load_buffer(NULL, 10, "nothing", &rep, err, sizeof err) == NULL);
	CHECK_HAS(err, "nothing: no header row");
	/* golden lists (DIRBS golden_imei), NUL bytes in data, more than 20 bad rows */
	char big[4096];
	size_t n = (size_t)snprintf(big, sizeof big, "golden_imei\n");
	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "bad%d\n", i);
	static const char tail[] = "4901542\0003237518\n490154203237518\n"; /* a NUL inside a row */
	memcpy(big + n, tail, sizeof tail - 1);
	n += sizeof tail - 1;
	l = imei_list_load_buffer(big, n, "golden", &rep, err, sizeof err);
	CHECK(l != NULL);
	if (l) {
		CHECK_INT(rep.rows, 32);
		CHECK_INT(rep.rejected, 31);
		CHECK_INT(rep.nerrors, IMEI_LIST_MAX_ERRORS);
		check_error(&rep, 19, 21, "golden_imei \"bad19\"");
		CHECK_INT(rep.loaded, 1);
		imei_list_unref(l);
	}
	/* a NUL byte inside a header cell does not end its name */
	static const char nul_header[] = "imei\0x,tac\n,35209900\n";
	l = imei_list_load_buffer(nul_header, sizeof nul_header - 1, NULL, &rep, err, sizeof err);
	CHECK(l != NULL);
	if (l) {
		CHECK_INT(imei_list_kind(l), IMEI_LIST_TACS);
		CHECK(imei_list_has_tac(l, "35209900"));
		imei_list_unref(l);
	}
	/* a row with every field quoted and a header with extra columns in odd case */
	csv = "\"Reporting_Date\",\"IMEI\",\"Status\"\n\"20240101\",\"35-209900-176148-1\",\"\"\n";
	l = imei_list_load_buffer(csv, strlen(csv), NULL, &rep, err, sizeof err);
	CHECK(l != NULL);
	if (l) {
		CHECK(imei_list_has_key(l, "35209900176148"));
		imei_list_unref(l);
	}
}

/* ---- references and collections ------------------------------------------------------ */

static void test_refs(void)
{
	struct imei_list *l = load(FIX "stolen.csv", NULL);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK(imei_list_ref(l) == l);
	imei_list_unref(l);
	CHECK(imei_list_has_key(l, "35209900176148")); /* still one reference */
	CHECK(imei_list_ref(NULL) == NULL);
	imei_list_unref(NULL);

	struct imei_lists *ls = imei_lists_new();
	CHECK(ls != NULL);
	if (!ls) {
		imei_list_unref(l);
		return;
	}
	CHECK_INT(imei_lists_add(ls, l), 0);
	imei_list_unref(l); /* the collection keeps it alive */
	struct imei_list *p = load(FIX "pairing.csv", NULL);
	CHECK_INT(imei_lists_add(ls, p), 0);
	CHECK_INT(imei_lists_add(ls, p), -1);
	CHECK_INT(errno, EEXIST);
	imei_list_unref(p);
	CHECK_INT(imei_lists_count(ls), 2);
	CHECK(imei_lists_get(ls, "stolen") == imei_lists_at(ls, 0));
	CHECK(imei_list_has_key(imei_lists_get(ls, "stolen"), "35209900176148"));
	CHECK(imei_lists_get(ls, "nope") == NULL);
	CHECK(imei_lists_get(ls, NULL) == NULL);
	CHECK(imei_lists_at(ls, 2) == NULL);
	CHECK(imei_lists_report(ls, 2) == NULL);
	CHECK_INT(imei_lists_report(ls, 1)->duplicates, 1);
	CHECK(imei_lists_dir(ls) == NULL);
	CHECK_INT(imei_lists_changed(ls, NULL), 0);
	CHECK(imei_lists_ref(ls) == ls);
	imei_lists_unref(ls);
	imei_lists_unref(ls);
	imei_lists_unref(NULL);
}

static void test_dir(void)
{
	char err[256] = "";
	struct imei_lists *ls = imei_lists_load_dir(FIX "dir", err, sizeof err);
	CHECK(ls != NULL);
	if (!ls) {
		fprintf(stderr, "%s\n", err);
		return;
	}
	/* sorted by name; .draft.csv and notes.txt are not lists; .CSV is */
	CHECK_INT(imei_lists_count(ls), 3);
	CHECK_STR(imei_list_name(imei_lists_at(ls, 0)), "barred_tac");
	CHECK_STR(imei_list_name(imei_lists_at(ls, 1)), "pairing");
	CHECK_STR(imei_list_name(imei_lists_at(ls, 2)), "stolen");
	CHECK_INT(imei_list_kind(imei_lists_get(ls, "barred_tac")), IMEI_LIST_TACS);
	CHECK_INT(imei_list_kind(imei_lists_get(ls, "pairing")), IMEI_LIST_PAIRS);
	CHECK(imei_list_has_key(imei_lists_get(ls, "stolen"), "49015420323751"));
	CHECK_INT(imei_lists_report(ls, 2)->loaded, 2);
	CHECK_STR(imei_lists_dir(ls), FIX "dir");
	CHECK_INT(imei_lists_changed(ls, NULL), 0);
	CHECK_INT(imei_lists_changed(ls, FIX "dir"), 0);
	CHECK_INT(imei_lists_changed(ls, FIX), 1);          /* another directory, other files */
	CHECK_INT(imei_lists_changed(ls, FIX "none"), -1);  /* unreadable: a reload would say why */
	imei_lists_unref(ls);

	CHECK(imei_lists_load_dir(FIX "none", err, sizeof err) == NULL);
	CHECK_HAS(err, FIX "none: No such file or directory");
	/* one file that fails at file level fails the whole directory, and is named */
	CHECK(imei_lists_load_dir(FIX, err, sizeof err) == NULL);
	CHECK_HAS(err, FIX "badheader.csv:1:");
}

/* write a file in place (no rename): the same inode */
static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A file read from disk: rows fewer than lines (a quoted cell over two lines, blank
 * lines), no line end at the end, an empty file; the same rows as from a buffer. */
static void test_file_rows(void)
{
	char dir[] = "/tmp/imei-lists-XXXXXX", err[256] = "", path[512];
	CHECK(mkdtemp(dir) != NULL);
	const char *text = "imei,note\n352099001761481,\"two\nlines\"\n\n\n490154203237518,x\r\n260531793113837,last";
	put(dir, "stolen.csv", text);
	snprintf(path, sizeof path, "%s/stolen.csv", dir);
	struct imei_list_report rep, brep;
	struct imei_list *l = imei_list_load(path, NULL, &rep, err, sizeof err);
	struct imei_list *b = imei_list_load_buffer(text, strlen(text), "stolen", &brep, err, sizeof err);
	CHECK(l != NULL && b != NULL);
	if (l && b) {
		CHECK_INT(rep.rows, 3);
		CHECK_INT(rep.loaded, 3);
		CHECK_INT(brep.loaded, 3);
		CHECK_STR(rep.sha256, brep.sha256);
		CHECK(imei_list_has_key(l, "35209900176148") && imei_list_has_key(l, "49015420323751") &&
		      imei_list_has_key(l, "26053179311383"));
	}
	imei_list_unref(l);
	imei_list_unref(b);
	put(dir, "stolen.csv", "");
	l = imei_list_load(path, NULL, &rep, err, sizeof err);
	CHECK(l == NULL); /* no header: refused, and said so */
	CHECK_HAS(err, "stolen.csv");
	imei_list_unref(l);
	remove(path);
	rmdir(dir);
}

/* A growing text for the chunk test. */
struct text {
	char *s;
	size_t len, cap;
};

static void add(struct text *t, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->len + (size_t)n + 1) * 2;
		char *s = realloc(t->s, cap);
		if (!s) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		t->s = s;
		t->cap = cap;
	}
	va_start(ap, f);
	vsnprintf(t->s + t->len, (size_t)n + 1, f, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* Rows of a pairs list up to byte `at` (at least one row each time); bad: some bad rows
 * (at most 20 reasons are kept: they come last, so their line numbers count all before). */
static void rows_until(struct text *t, size_t at, size_t *k, bool bad)
{
	do {
		(*k)++;
		if (*k % 97 == 0)
			add(t, "%014zu,41001%09zu,\"note\non two lines\"\r\n", 10000000000000 + *k, *k);
		else if (bad && *k % 89 == 0)
			add(t, "%014zu,41A%09zu,bad imsi\n\n", 10000000000000 + *k, *k);
		else if (bad && *k % 83 == 0)
			add(t, "%014zu\n", 10000000000000 + *k); /* too few fields */
		else
			add(t, "%014zu,41001%09zu,%.*s\n", 10000000000000 + *k, *k, (int)(*k % 13), "xxxxxxxxxxxxx");
	} while (t->len < at);
}

/* The same bytes from a file (read in chunks of 1 MiB, core/lists_file.c) and from a
 * buffer give the same list: records cut by a chunk's end anywhere (a CR LF split, a
 * quoted line end, a record longer than a chunk, a header longer than one), every
 * report figure and every error's line alike. */
static void compare_file_buffer(const char *dir, const struct text *t, size_t nkeys)
{
	char err[256] = "", berr[256] = "", path[512];
	snprintf(path, sizeof path, "%s/pairs.csv", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_INT(fwrite(t->s, 1, t->len, f), t->len);
	fclose(f);
	struct imei_list_report rep, brep;
	struct imei_list *l = imei_list_load(path, NULL, &rep, err, sizeof err);
	struct imei_list *b = imei_list_load_buffer(t->s, t->len, "pairs", &brep, berr, sizeof berr);
	CHECK(l != NULL && b != NULL);
	if (l && b) {
		CHECK_INT(rep.bytes, t->len);
		CHECK_STR(rep.sha256, brep.sha256);
		CHECK_INT(rep.rows, brep.rows);
		CHECK_INT(rep.loaded, brep.loaded);
		CHECK_INT(rep.rejected, brep.rejected);
		CHECK_INT(rep.duplicates, brep.duplicates);
		CHECK_INT(rep.warnings, brep.warnings);
		CHECK(memcmp(rep.rejected_by, brep.rejected_by, sizeof rep.rejected_by) == 0);
		CHECK_INT(rep.nerrors, brep.nerrors);
		size_t bad = 0;
		for (size_t i = 0; i < rep.nerrors && i < brep.nerrors; i++)
			bad += rep.errors[i].line != brep.errors[i].line || strcmp(rep.errors[i].reason, brep.errors[i].reason);
		CHECK_INT(bad, 0);
		CHECK_INT(rep.nerrors, IMEI_LIST_MAX_ERRORS); /* the bad rows after the chunks' ends are counted */
		CHECK_INT(imei_list_size(l), imei_list_size(b));
		CHECK_INT(imei_list_bytes(l), imei_list_bytes(b));
		size_t wrong = 0;
		char key[16], imsi[16];
		for (size_t k = 1; k <= nkeys; k++) {
			snprintf(key, sizeof key, "%014zu", 10000000000000 + k);
			snprintf(imsi, sizeof imsi, "41001%09zu", k);
			wrong += imei_list_has_pair(l, key, imsi, 14) != imei_list_has_pair(b, key, imsi, 14);
		}
		CHECK_INT(wrong, 0);
		CHECK(rep.loaded > nkeys / 2);
	}
	imei_list_unref(l);
	imei_list_unref(b);
	remove(path);
}

static void test_file_chunks(void)
{
	enum { MiB = 1 << 20 };
	char dir[] = "/tmp/imei-lists-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	struct text t = { 0 };
	size_t k = 0;
	add(&t, "imei,imsi,note\n");
	rows_until(&t, MiB - 40, &k, false);
	while (t.len < MiB - 1) /* a CR at the chunk's last byte, its LF the next chunk's first */
		add(&t, "%.*s", (int)(MiB - 1 - t.len > 30 ? 30 : MiB - 1 - t.len), "                              ");
	t.len = MiB - 1; /* blank padding ends the last row's note: rewrite it as a row end */
	t.s[MiB - 2] = '\n';
	add(&t, "\r\n");
	rows_until(&t, 2 * MiB - 10, &k, false);
	add(&t, "%014d,410010000000001,\"a quoted\nline end across the chunk\"\n", 77);
	rows_until(&t, 2 * MiB + 100, &k, false);
	add(&t, "%014d,410010000000002,\"", 78); /* a record longer than a chunk */
	for (int i = 0; i < 3 * MiB / 2 / 64; i++)
		add(&t, "%s", "a note of sixty-four bytes, repeated to make a record long.....\n");
	add(&t, "\"\n");
	rows_until(&t, t.len + MiB, &k, false);
	rows_until(&t, t.len + 60000, &k, true);
	add(&t, "%014zu,410010000000003,\"never closed\n%014zu,410010000000004,\n", k + 1, k + 2);
	compare_file_buffer(dir, &t, k + 2);

	t.len = 0; /* a header longer than a chunk */
	add(&t, "imei,imsi,\"");
	for (int i = 0; i < 3 * MiB / 2 / 64; i++)
		add(&t, "%s", "a column name of sixty-four bytes, repeated to make it long.....");
	add(&t, "\"\n");
	k = 0;
	rows_until(&t, t.len + MiB / 2, &k, false);
	rows_until(&t, t.len + 60000, &k, true);
	compare_file_buffer(dir, &t, k);
	free(t.s);
	rmdir(dir);
}

static void test_reload(void)
{
	char dir[] = "/tmp/imei-lists-XXXXXX", err[256] = "", path[512], tmp[512];
	CHECK(mkdtemp(dir) != NULL);
	put(dir, "stolen.csv", "imei\n352099001761481\n");
	put(dir, "pairs.csv", "imei,imsi\n352099001761481,410010000000001\n");
	struct imei_lists *ls = imei_lists_load_dir(dir, err, sizeof err);
	CHECK(ls != NULL);
	if (!ls)
		return;
	CHECK_INT(imei_lists_count(ls), 2);
	CHECK_INT(imei_lists_changed(ls, NULL), 0);

	put(dir, ".stolen.csv.swp.csv", "x"); /* hidden: ignored */
	CHECK_INT(imei_lists_changed(ls, NULL), 0);
	put(dir, "README", "x");
	CHECK_INT(imei_lists_changed(ls, NULL), 0);

	put(dir, "stolen.csv", "imei\n352099001761481\n490154203237518\n"); /* modified in place */
	CHECK_INT(imei_lists_changed(ls, NULL), 1);
	struct imei_lists *ls2 = imei_lists_load_dir(dir, err, sizeof err);
	CHECK(ls2 != NULL);
	if (ls2) { /* the new collection sees the change; the old one is untouched */
		CHECK(imei_list_has_key(imei_lists_get(ls2, "stolen"), "49015420323751"));
		CHECK(!imei_list_has_key(imei_lists_get(ls, "stolen"), "49015420323751"));
		CHECK_INT(imei_lists_changed(ls2, NULL), 0);
		imei_lists_unref(ls);
		ls = ls2;
	}

	/* replaced by rename with the same size: another inode */
	snprintf(tmp, sizeof tmp, "%s/.new", dir);
	snprintf(path, sizeof path, "%s/stolen.csv", dir);
	FILE *f = fopen(tmp, "w");
	if (f) {
		fputs("imei\n352099001761481\n260531793113837\n", f);
		fclose(f);
	}
	CHECK_INT(rename(tmp, path), 0);
	CHECK_INT(imei_lists_changed(ls, NULL), 1);
	CHECK_INT(imei_list_changed(imei_lists_get(ls, "stolen"), NULL), 1);
	CHECK_INT(imei_list_changed(imei_lists_get(ls, "pairs"), NULL), 0);
	imei_lists_unref(ls);

	ls = imei_lists_load_dir(dir, err, sizeof err);
	CHECK(ls != NULL);
	if (!ls)
		return;
	CHECK_INT(imei_lists_changed(ls, NULL), 0);
	put(dir, "monitoring.csv", "imei\n"); /* added */
	CHECK_INT(imei_lists_changed(ls, NULL), 1);
	snprintf(path, sizeof path, "%s/monitoring.csv", dir);
	unlink(path);
	CHECK_INT(imei_lists_changed(ls, NULL), 0);
	snprintf(path, sizeof path, "%s/pairs.csv", dir);
	unlink(path); /* removed */
	CHECK_INT(imei_lists_changed(ls, NULL), 1);
	CHECK_INT(imei_list_changed(imei_lists_get(ls, "pairs"), NULL), 1);

	/* a bad file fails the reload and names itself; the current collection stays usable */
	put(dir, "broken.csv", "serial\n1\n");
	CHECK(imei_lists_load_dir(dir, err, sizeof err) == NULL);
	CHECK_HAS(err, "broken.csv:1: no 'imei'");
	CHECK(imei_list_has_key(imei_lists_get(ls, "stolen"), "26053179311383"));
	imei_lists_unref(ls);

	const char *names[] = { "stolen.csv", ".stolen.csv.swp.csv", "README", "broken.csv" };
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	CHECK_INT(rmdir(dir), 0);
}

/* ---- a large list ------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool in_sorted(const uint64_t *v, size_t n, uint64_t x)
{
	return bsearch(&x, v, n, sizeof *v, cmp_u64) != NULL;
}

struct share {
	const struct imei_list *l;
	const uint64_t *keys;
	size_t n, wrong;
};

static void *probe_all(void *arg)
{
	struct share *s = arg;
	char k[16];
	for (size_t i = 0; i < s->n; i++) {
		snprintf(k, sizeof k, "%014llu", (unsigned long long)s->keys[i]);
		s->wrong += !imei_list_has_key(s->l, k);
	}
	return NULL;
}

static void test_large(void)
{
	enum { N = 1000000 };
	uint64_t seed = 42, *keys = malloc(N * sizeof *keys);
	char *csv = malloc((size_t)N * 17 + 16);
	CHECK(keys && csv);
	if (!keys || !csv) {
		free(keys);
		free(csv);
		return;
	}
	/* half random keys, half runs of consecutive serial numbers (real lists have both) */
	size_t len = (size_t)sprintf(csv, "imei\n");
	for (size_t i = 0; i < N; i++) {
		keys[i] = i % 2 ? rnd(&seed) % 100000000000000ULL : 35000000000000ULL + i * 7;
		len += (size_t)sprintf(csv + len, "%014llu\n", (unsigned long long)keys[i]);
	}
	char err[256] = "";
	struct imei_list_report rep;
	struct imei_list *l = imei_list_load_buffer(csv, len, "big", &rep, err, sizeof err);
	free(csv);
	CHECK(l != NULL);
	if (!l) {
		free(keys);
		return;
	}
	qsort(keys, N, sizeof *keys, cmp_u64);
	size_t distinct = 0;
	for (size_t i = 0; i < N; i++)
		if (i == 0 || keys[i] != keys[i - 1])
			keys[distinct++] = keys[i];
	CHECK_INT(rep.rows, N);
	CHECK_INT(rep.rejected, 0);
	CHECK_INT(rep.loaded, distinct);
	CHECK_INT(rep.duplicates, N - distinct);
	CHECK_INT(imei_list_size(l), distinct);
	CHECK_INT(imei_list_bytes(l), set_bytes(distinct));

	size_t missing = 0, wrong = 0;
	char k[16];
	for (size_t i = 0; i < distinct; i++) {
		snprintf(k, sizeof k, "%014llu", (unsigned long long)keys[i]);
		missing += !imei_list_has_key(l, k);
	}
	CHECK_INT(missing, 0);
	/* non-members: neighbours of members and random keys, judged by the sorted array */
	for (size_t i = 0; i < 2000000; i++) {
		uint64_t x = i % 2 ? rnd(&seed) % 100000000000000ULL : keys[i % distinct] + 1;
		snprintf(k, sizeof k, "%014llu", (unsigned long long)x);
		wrong += imei_list_has_key(l, k) != in_sorted(keys, distinct, x);
	}
	CHECK_INT(wrong, 0);

	/* a prefetch ahead of a lookup (a replay's next pairs) changes no answer, whatever the
	 * value: members, neighbours, the largest 14-digit key, beyond it, UINT64_MAX */
	struct imei_lists *ls = imei_lists_new();
	CHECK(ls != NULL && imei_lists_add(ls, l) == 0);
	imei_lists_prefetch_key(NULL, 35000000000000ULL);
	uint64_t edge[] = { 0, 99999999999999ULL, 100000000000000ULL, UINT64_MAX - 1, UINT64_MAX };
	for (size_t i = 0; i < 20000 + sizeof edge / sizeof *edge; i++) {
		uint64_t x = i < 20000 ? (i % 2 ? keys[i % distinct] : keys[i % distinct] + 1) : edge[i - 20000];
		imei_lists_prefetch_key(ls, x);
		imei_list_prefetch_key(l, x);
		snprintf(k, sizeof k, "%014llu", (unsigned long long)(x % 100000000000000ULL));
		wrong += imei_list_has_key(l, k) != in_sorted(keys, distinct, x % 100000000000000ULL);
	}
	CHECK_INT(wrong, 0);
	imei_lists_unref(ls);

	/* four threads share the frozen list */
	pthread_t th[4];
	struct share sh[4];
	for (int t = 0; t < 4; t++) {
		sh[t] = (struct share){ l, keys + (size_t)t * (distinct / 4), distinct / 4, 0 };
		CHECK_INT(pthread_create(&th[t], NULL, probe_all, &sh[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		pthread_join(th[t], NULL);
		CHECK_INT(sh[t].wrong, 0);
	}
	imei_list_unref(l);
	free(keys);
}

static void test_large_pairs(void)
{
	enum { N = 200000 };
	char *csv = malloc((size_t)N * 40 + 16);
	CHECK(csv != NULL);
	if (!csv)
		return;
	size_t len = (size_t)sprintf(csv, "imei,imsi,msisdn\n");
	for (size_t i = 0; i < N; i++) /* key i/2 with two IMSIs that differ by leading zeros */
		len += (size_t)sprintf(csv + len, "%014zu,%s%013zu,\n", 10000000000000 + i / 2, i % 2 ? "00" : "",
		                       4100000000000 + i / 2);
	char err[256];
	struct imei_list_report rep;
	struct imei_list *l = imei_list_load_buffer(csv, len, "pairs", &rep, err, sizeof err);
	free(csv);
	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(rep.loaded, N);
	CHECK_INT(imei_list_bytes(l), pairset_bytes(N) + set_bytes(N / 2));
	size_t wrong = 0;
	char key[16], imsi[20];
	for (size_t i = 0; i < N / 2; i++) {
		snprintf(key, sizeof key, "%014zu", 10000000000000 + i);
		snprintf(imsi, sizeof imsi, "00%013zu", 4100000000000 + i);
		wrong += !imei_list_has_pair(l, key, imsi, 15);
		wrong += !imei_list_has_pair(l, key, imsi + 2, 13);
		wrong += imei_list_has_pair(l, key, imsi + 1, 14);
		wrong += !imei_list_has_key(l, key);
		snprintf(key, sizeof key, "%014zu", 10000000000000 + i + N);
		wrong += imei_list_has_key(l, key);
	}
	CHECK_INT(wrong, 0);
	imei_list_unref(l);
}

/* ---- the Lua binding in several states --------------------------------------------- */

/* Run chunk in L; its results are left on the stack. */
static bool run(lua_State *L, const char *chunk)
{
	if (luaL_dostring(L, chunk) == LUA_OK)
		return true;
	fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
	lua_pop(L, 1);
	return false;
}

static void test_lua_states(void)
{
	char err[256] = "";
	struct imei_lists *ls = imei_lists_load_dir(FIX "dir", err, sizeof err);
	CHECK(ls != NULL);
	lua_State *a = luaL_newstate(), *b = luaL_newstate();
	CHECK(a && b && ls);
	if (!a || !b || !ls) {
		imei_lists_unref(ls);
		return;
	}
	luaL_openlibs(a);
	luaL_openlibs(b);
	luaL_requiref(a, "imei.core", imei_luaopen_core, 0); /* a has the module, b does not */
	lua_pop(a, 1);
	imei_lua_push_lists(a, ls);
	CHECK(imei_lua_check_lists(a, -1) == ls);
	lua_setglobal(a, "lists");
	imei_lua_push_lists(b, ls);
	CHECK(imei_lua_check_lists(b, -1) == ls);
	lua_setglobal(b, "lists");
	imei_lua_push_list(b, imei_lists_get(ls, "pairing"));
	CHECK(imei_lua_check_list(b, -1) == imei_lists_get(ls, "pairing"));
	lua_setglobal(b, "pairing");
	imei_lua_push_list(b, NULL);
	CHECK(lua_isnil(b, -1));
	lua_pop(b, 1);
	imei_lists_unref(ls); /* the states hold their own references now */

	CHECK(run(a, "return lists.stolen:has('490154203237518'), getmetatable(lists), #lists"));
	CHECK(lua_toboolean(a, -3));
	CHECK(lua_isboolean(a, -2) && !lua_toboolean(a, -2));
	CHECK_INT(lua_tointeger(a, -1), 3);
	lua_settop(a, 0);
	lua_close(a); /* b's references keep the lists alive */
	CHECK(run(b, "return lists.stolen:has('490154203237518'), pairing:has('352099001761481', '410010000000001'),"
	             " getmetatable(pairing)"));
	CHECK(lua_toboolean(b, -3));
	CHECK(lua_toboolean(b, -2));
	CHECK(lua_isboolean(b, -1) && !lua_toboolean(b, -1));
	lua_settop(b, 0);
	/* misuse raises a Lua error (a lists userdata is no list), caught by the caller */
	CHECK(luaL_dostring(b, "return pairing.has(lists, '352099001761481')") != LUA_OK);
	CHECK_HAS(lua_tostring(b, -1), "imei.list expected, got imei.lists");
	lua_close(b);
}


/* The lists a policy needs: found in its source (comments and strings are not code). */
static void test_needs_scan(void)
{
	static const char src[] =
		"-- lists.in_a_comment:has(x)\n"
		"--[==[ lists.in_a_long_comment ]==]\n"
		"local s = \"lists.in_a_string\" .. [[lists.in_a_long_string]]\n"
		"P:condition { when = function(d) return lists.stolen:has(d.key) end }\n"
		"local x = lists [ 'golden' ] or lists:get(\"monitoring\") or lists\n"
		"  . barred_tac\n"
		"local y = cfg.lists.not_ours, t:lists(), 1 .. lists.pairing\n"
		"lists.stolen:has(1)\n";
	struct imei_list_needs ns = { 0 };
	CHECK_INT(imei_list_needs_scan(&ns, src, sizeof src - 1, "p.lua"), 0);
	CHECK_INT(ns.n, 5);
	const struct imei_list_need *n = imei_list_needs_get(&ns, "stolen");
	CHECK(n != NULL);
	if (n) {
		CHECK_STR(n->where, "p.lua:4"); /* the first reference */
		CHECK_INT(n->min_rows, 1);
		CHECK(!n->optional && !n->declared);
	}
	CHECK(imei_list_needs_get(&ns, "golden") != NULL);
	CHECK(imei_list_needs_get(&ns, "monitoring") != NULL);
	n = imei_list_needs_get(&ns, "barred_tac");
	CHECK(n != NULL && strcmp(n->where, "p.lua:5") == 0);
	CHECK(imei_list_needs_get(&ns, "pairing") != NULL);
	CHECK(imei_list_needs_get(&ns, "in_a_comment") == NULL);
	CHECK(imei_list_needs_get(&ns, "in_a_long_comment") == NULL);
	CHECK(imei_list_needs_get(&ns, "in_a_string") == NULL);
	CHECK(imei_list_needs_get(&ns, "not_ours") == NULL);
	/* a declaration sets the terms of a found need; a found one never undoes it */
	struct imei_list_need decl = { .name = "golden", .optional = true, .declared = true, .where = "p.lua:1" };
	CHECK_INT(imei_list_needs_add(&ns, &decl), 0);
	CHECK_INT(imei_list_needs_scan(&ns, "lists.golden", 12, "q.lua"), 0);
	n = imei_list_needs_get(&ns, "golden");
	CHECK(n && n->optional && n->declared && strcmp(n->where, "p.lua:1") == 0);
	struct imei_list_need bad = { .name = "" };
	CHECK_INT(imei_list_needs_add(&ns, &bad), -1);
	/* a source that ends inside a string or a comment is scanned to its end, no further */
	CHECK_INT(imei_list_needs_scan(&ns, "lists.x --[[", 12, "r.lua"), 0);
	CHECK_INT(imei_list_needs_scan(&ns, "'lists.y", 8, "r.lua"), 0);
	CHECK(imei_list_needs_get(&ns, "x") != NULL && imei_list_needs_get(&ns, "y") == NULL);
	imei_list_needs_free(&ns);
	char err[128];
	CHECK_INT(imei_list_needs_scan_file(&ns, "/nonexistent/p.lua", err, sizeof err), -1);
	CHECK_HAS(err, "/nonexistent/p.lua: No such file");
}

static struct imei_list *from(const char *csv, const char *name)
{
	char err[256];
	return imei_list_load_buffer(csv, strlen(csv), name, NULL, err, sizeof err);
}

/* The check every host runs: missing, empty, under min_rows, damaged; optional lists. */
static void test_needs_check(void)
{
	struct imei_lists *ls = imei_lists_new();
	struct imei_list *stolen = from("imei\n352099001761481\n", "stolen");
	struct imei_list *empty = from("imei\n", "golden");
	struct imei_list *damaged = from("imei\n352099001761481\nx\ny\n", "monitoring");
	CHECK(ls && stolen && empty && damaged);
	if (!ls || !stolen || !empty || !damaged)
		return;
	imei_lists_add(ls, stolen);
	imei_lists_add(ls, empty);
	imei_lists_add(ls, damaged);
	struct imei_list_needs ns = { 0 };
	struct imei_list_need need = { .name = "stolen", .min_rows = 1, .max_rejected = 0.01, .where = "p.lua:3" };
	imei_list_needs_add(&ns, &need);
	char err[1024];
	CHECK_INT(imei_lists_check_needs(ls, &ns, err, sizeof err), 0);
	CHECK_INT(imei_lists_check_needs(NULL, &ns, err, sizeof err), -1);
	CHECK_HAS(err, "list 'stolen' (the policy reads it at p.lua:3): no lists are loaded");
	/* more rows than there are */
	ns.v[0].min_rows = 2;
	ns.v[0].declared = true;
	CHECK_INT(imei_lists_check_needs(ls, &ns, err, sizeof err), -1);
	CHECK_HAS(err, "list 'stolen' (required by the policy at p.lua:3): stolen: 1 row accepted of 1, the policy "
	               "needs at least 2 (min_rows)");
	ns.v[0].min_rows = 1;
	/* empty, damaged, missing: each on its own line */
	struct imei_list_need g = { .name = "golden", .min_rows = 1, .max_rejected = 0.01, .where = "p.lua:4" };
	struct imei_list_need m = { .name = "monitoring", .min_rows = 1, .max_rejected = 0.5, .where = "p.lua:5" };
	struct imei_list_need b = { .name = "barred_tac", .min_rows = 1, .max_rejected = 0.01, .where = "p.lua:6" };
	imei_list_needs_add(&ns, &g);
	imei_list_needs_add(&ns, &m);
	imei_list_needs_add(&ns, &b);
	CHECK_INT(imei_lists_check_needs(ls, &ns, err, sizeof err), -1);
	CHECK_HAS(err, "list 'golden' (the policy reads it at p.lua:4): golden: empty (no rows)");
	CHECK_HAS(err, "\nlist 'monitoring' (the policy reads it at p.lua:5): monitoring: damaged: 2 of 3 rows rejected "
	               "(66.7%), more than the 50% allowed (max_rejected); first: line 3: imei \"x\"");
	CHECK_HAS(err, "\nlist 'barred_tac' (the policy reads it at p.lua:6): missing from the lists given");
	CHECK(strstr(err, "'stolen'") == NULL);
	/* optional: may be absent, or empty with min_rows 0; a damaged one is still refused */
	ns.v[1].optional = true, ns.v[1].min_rows = 0;
	ns.v[2].max_rejected = 0.7;
	ns.v[3].optional = true;
	CHECK_INT(imei_lists_check_needs(ls, &ns, err, sizeof err), 0);
	ns.v[2].optional = true, ns.v[2].max_rejected = 0.6;
	CHECK_INT(imei_lists_check_needs(ls, &ns, err, sizeof err), -1);
	CHECK_HAS(err, "damaged");
	/* a message longer than the buffer is cut, NUL-terminated */
	char small[16];
	CHECK_INT(imei_lists_check_needs(ls, &ns, small, sizeof small), -1);
	CHECK_INT(strlen(small), sizeof small - 1);
	imei_list_needs_free(&ns);

	/* the reports hosts print: JSON and one line, with the file's SHA-256 */
	char json[2048], line[512];
	size_t need_len = imei_list_report_json(damaged, json, sizeof json);
	CHECK_INT(need_len, strlen(json));
	CHECK_HAS(json, "{\"name\":\"monitoring\",\"file\":null,\"kind\":\"keys\",\"rows\":3,\"loaded\":1,\"rejected\":2,");
	CHECK_HAS(json, "\"rejected_by\":{\"key\":2}");
	CHECK_HAS(json, "\"errors\":[{\"line\":3,\"reason\":\"imei \\\"x\\\": ");
	imei_list_report_line(stolen, line, sizeof line);
	CHECK_STR(line, "stolen: stolen: 1 row, 1 loaded, 0 rejected, 0 duplicates, 0 warnings, 21 bytes, sha256 "
	                "1e9e40125c93c8535c371aee12ca695eca382fbc9aec29882b904500a8edc155");
	CHECK_INT(imei_lists_report_json(ls, json, sizeof json), strlen(json));
	CHECK(json[0] == '[' && json[strlen(json) - 1] == ']');
	char tiny[8];
	CHECK(imei_lists_report_json(ls, tiny, sizeof tiny) > sizeof tiny);
	CHECK_INT(strlen(tiny), sizeof tiny - 1);
	imei_list_unref(stolen);
	imei_list_unref(empty);
	imei_list_unref(damaged);
	imei_lists_unref(ls);
}

int main(void)
{
	test_csv();
	test_stolen();
	test_pairing();
	test_tacs();
	test_registration();
	test_damaged();
	test_header_only();
	test_file_errors();
	test_buffers();
	test_refs();
	test_dir();
	test_reload();
	test_file_rows();
	test_file_chunks();
	test_large();
	test_large_pairs();
	test_lua_states();
	test_needs_scan();
	test_needs_check();
	return CHECK_DONE("test_lists");
}
