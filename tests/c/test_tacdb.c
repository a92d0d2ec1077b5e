/*
 * test_tacdb.c — the TAC database core (imei_tacdb.h): longest-prefix lookups over keys of 1 to
 * 14 digits (exact TAC beats a range, a device key beats its TAC), the empty database,
 * duplicates, bad input to the builder, records and extra columns, the RAT mask from
 * bands, identifiers as people write them, images (save, open, copy in), every truncation
 * and every flipped byte of a small image refused with a message, crafted images with a
 * valid checksum but broken structure, reference counting, threads sharing one db, and
 * one db pushed into two lua_States. Run from the repository root (tests/run does).
 */
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
#include "imei_lua.h"
#include "tacdb_format.h"
#include "imei_tacdb.h"

int imei_luaopen_core(lua_State *L);


static struct imei_tac_fields named(const char *brand, const char *model)
{
	struct imei_tac_fields f = { 0 };
	f.str[IMEI_TAC_BRAND] = brand;
	f.len[IMEI_TAC_BRAND] = brand ? strlen(brand) : 0;
	f.str[IMEI_TAC_MODEL] = model;
	f.len[IMEI_TAC_MODEL] = model ? strlen(model) : 0;
	return f;
}

static int add(struct imei_tacdb_builder *b, const char *key, const char *brand, uint32_t tag)
{
	struct imei_tac_fields f = named(brand, NULL);
	struct imei_tacdb_error err;
	return imei_tacdb_builder_add(b, key, strlen(key), &f, tag, NULL, &err);
}

/* The brand of the record a query finds, or "-" when none. */
static const char *brand_of(const struct imei_tacdb *db, const char *query)
{
	uint32_t idx = imei_tacdb_lookup(db, query, strlen(query));
	struct imei_tac_record rec;
	if (idx == IMEI_TACDB_NONE || !imei_tacdb_record(db, idx, &rec))
		return "-";
	return rec.str[IMEI_TAC_BRAND];
}

static struct imei_tacdb *freeze(struct imei_tacdb_builder *b)
{
	struct imei_tacdb_error err;
	struct imei_tacdb *db = imei_tacdb_freeze(b, &err);
	if (!db)
		fprintf(stderr, "freeze: %s\n", err.msg);
	return db;
}

/* ---- lookups ------------------------------------------------------------------------- */

static void test_longest_prefix(void)
{
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	CHECK(b != NULL);
	CHECK_INT(add(b, "3", "one-digit", 1), 0);
	CHECK_INT(add(b, "35", "rbi-35", 2), 0);
	CHECK_INT(add(b, "356789", "range-6", 3), 0);
	CHECK_INT(add(b, "35678901", "tac", 4), 0);
	CHECK_INT(add(b, "3567890112", "serial-range", 5), 0);
	CHECK_INT(add(b, "35678901123456", "device", 6), 0);
	CHECK_INT(add(b, "49015420", "other-tac", 7), 0);
	CHECK_INT(add(b, "00000000", "zero-tac", 8), 0);
	CHECK_INT(add(b, "99999999", "last-tac", 9), 0);
	CHECK_INT((long long)imei_tacdb_builder_count(b), 9);
	struct imei_tacdb *db = freeze(b);
	CHECK(db != NULL);
	if (!db) {
		imei_tacdb_builder_free(b);
		return;
	}
	CHECK_INT((long long)imei_tacdb_count(db), 9);
	/* exact TAC beats the 6-digit range and the shorter prefixes */
	CHECK_STR(brand_of(db, "35678901"), "tac");
	CHECK_STR(brand_of(db, "356789019999997"), "tac");
	/* a TAC not in the db falls back to the range, then to the reporting body, then to 3 */
	CHECK_STR(brand_of(db, "35678902"), "range-6");
	CHECK_STR(brand_of(db, "356780001234563"), "rbi-35");
	CHECK_STR(brand_of(db, "3999"), "one-digit");
	CHECK_STR(brand_of(db, "3"), "one-digit");
	CHECK_STR(brand_of(db, "4"), "-");
	CHECK_STR(brand_of(db, ""), "-");
	/* keys longer than the TAC: a serial range and a single device beat the TAC */
	CHECK_STR(brand_of(db, "356789011299999"), "serial-range");
	CHECK_STR(brand_of(db, "35678901123456"), "device");
	CHECK_STR(brand_of(db, "356789011234567"), "device");  /* CD ignored */
	CHECK_STR(brand_of(db, "3567890112345699"), "device"); /* SVN ignored */
	CHECK_STR(brand_of(db, "35678901123457"), "serial-range");
	CHECK_STR(brand_of(db, "3567890113"), "tac");
	/* a query shorter than a key does not match it */
	CHECK_STR(brand_of(db, "3567890"), "range-6");
	CHECK_STR(brand_of(db, "356789011"), "tac");
	/* the first and the last possible TAC */
	CHECK_STR(brand_of(db, "000000001234567"), "zero-tac");
	CHECK_STR(brand_of(db, "99999999"), "last-tac");
	CHECK_STR(brand_of(db, "490154203237518"), "other-tac");
	/* only leading digits count */
	CHECK_STR(brand_of(db, "35678901x"), "tac");
	CHECK_STR(brand_of(db, "3567x8901"), "rbi-35");
	/* numeric TAC lookups */
	struct imei_tac_record rec;
	CHECK(imei_tacdb_record(db, imei_tacdb_lookup_tac(db, 35678901), &rec));
	CHECK_STR(rec.str[IMEI_TAC_BRAND], "tac");
	CHECK(imei_tacdb_record(db, imei_tacdb_lookup_tac(db, 35678955), &rec));
	CHECK_STR(rec.str[IMEI_TAC_BRAND], "range-6");
	CHECK(imei_tacdb_record(db, imei_tacdb_lookup_tac(db, 0), &rec));
	CHECK_STR(rec.str[IMEI_TAC_BRAND], "zero-tac");
	CHECK_INT(imei_tacdb_lookup_tac(db, 100000000), IMEI_TACDB_NONE);
	CHECK_INT(imei_tacdb_lookup_tac(db, 12345678), IMEI_TACDB_NONE);
	/* many at once: the same answers, in groups and the odd rest */
	uint32_t many[37], got[37];
	for (int i = 0; i < 37; i++)
		many[i] = i % 5 == 0 ? 35678901u : i % 5 == 1 ? 35678955u : i % 5 == 2 ? 12345678u
		        : i % 5 == 3 ? 4000000000u : (uint32_t)i * 2702701u;
	imei_tacdb_lookup_tacs(db, many, 37, got);
	int same = 0;
	for (int i = 0; i < 37; i++)
		same += got[i] == imei_tacdb_lookup_tac(db, many[i]);
	CHECK_INT(same, 37);
	CHECK(got[0] != IMEI_TACDB_NONE && got[1] != IMEI_TACDB_NONE && got[0] != got[1]);
	CHECK_INT(got[3], IMEI_TACDB_NONE);
	/* records: the TACs first (in index order), then the rest in digit order */
	const char *order[] = { "3", "35", "356789", "3567890112", "35678901123456" };
	int tacs_seen = 0;
	for (uint32_t i = 0; i < 4; i++) {
		CHECK(imei_tacdb_record(db, i, &rec));
		CHECK_INT((long long)rec.key_len, 8);
		CHECK_INT(imei_tacdb_lookup(db, rec.key, 8), i);
		tacs_seen |= (strcmp(rec.key, "00000000") == 0) | (strcmp(rec.key, "35678901") == 0) << 1 |
		             (strcmp(rec.key, "49015420") == 0) << 2 | (strcmp(rec.key, "99999999") == 0) << 3;
	}
	CHECK_INT(tacs_seen, 15);
	for (uint32_t i = 4; i < 9; i++) {
		CHECK(imei_tacdb_record(db, i, &rec));
		CHECK_STR(rec.key, order[i - 4]);
		CHECK_INT((long long)rec.key_len, (long long)strlen(order[i - 4]));
	}
	CHECK(!imei_tacdb_record(db, 9, &rec));
	struct imei_tacdb_stats st;
	imei_tacdb_stats(db, &st);
	CHECK_INT((long long)st.records, 9);
	CHECK_INT((long long)st.tacs, 4);
	CHECK_INT((long long)st.other_keys, 5);
	CHECK_INT((long long)st.bucket_bits, 2); /* at least as many buckets as TACs */
	CHECK_INT((long long)st.index_bytes, 5 * 4 + 4 * 4 + (long long)st.trie_nodes * 12 + 5 * 8);
	CHECK(!st.mapped);
	imei_tacdb_unref(db);
	imei_tacdb_builder_free(b);
}

static void test_empty(void)
{
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	struct imei_tacdb *db = freeze(b);
	imei_tacdb_builder_free(b);
	CHECK(db != NULL);
	if (!db)
		return;
	CHECK_INT((long long)imei_tacdb_count(db), 0);
	CHECK_STR(brand_of(db, "35678901"), "-");
	CHECK_STR(brand_of(db, "356789011234567"), "-");
	CHECK_INT(imei_tacdb_lookup_tac(db, 35678901), IMEI_TACDB_NONE);
	struct imei_tac_record rec;
	CHECK(!imei_tacdb_record(db, 0, &rec));
	size_t len;
	const void *img = imei_tacdb_image(db, &len);
	struct imei_tacdb_error err;
	struct imei_tacdb *copy = imei_tacdb_from_image(img, len, &err);
	CHECK(copy != NULL);
	if (copy) {
		CHECK_INT((long long)imei_tacdb_count(copy), 0);
		imei_tacdb_unref(copy);
	}
	imei_tacdb_unref(db);
}

static void test_lookup_str(void)
{
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	add(b, "49015420", "tac", 1);
	add(b, "49015420323751", "device", 2);
	struct imei_tacdb *db = freeze(b);
	imei_tacdb_builder_free(b);
	if (!db)
		return;
	struct {
		const char *in;
		int rc;
		const char *brand; /* or the message */
	} cases[] = {
		{ "49015420", 0, "tac" },
		{ "490154203237518", 0, "device" },
		{ "49015420323751", 0, "device" },
		{ "4901542032375199", 0, "device" },
		{ "49-015420-323751-8", 0, "device" },
		{ " 49 015420 323751 8\r\n", 0, "device" },
		{ "imei-490154203237518", 0, "device" },
		{ "IMEISV-4901542032375199", 0, "device" },
		{ "490154209999994", 0, "tac" },
		{ "4901542", 0, "-" },
		{ "12345678", 0, "-" },
		{ "", -1, "no digits" },
		{ " - ", -1, "no digits" },
		{ "49015420323751899", -1, "more than 16 digits" },
		{ "4901542x", -1, "'x' at position 8 is not a digit" },
		{ "49015420\x01", -1, "byte \\x01 at position 9" },
		{ "mac-00-11-22-33-44-55", -1, "'m' at position 1" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint32_t idx = 12345;
		struct imei_tacdb_error err = { { 0 } };
		int rc = imei_tacdb_lookup_str(db, cases[i].in, strlen(cases[i].in), &idx, &err);
		CHECK_INT(rc, cases[i].rc);
		if (rc == 0) {
			struct imei_tac_record rec;
			CHECK_STR(idx == IMEI_TACDB_NONE ? "-" : (imei_tacdb_record(db, idx, &rec), rec.str[IMEI_TAC_BRAND]),
			          cases[i].brand);
		} else {
			CHECK_HAS(err.msg, cases[i].brand);
		}
	}
	const char lines[] = "49015420\n490154203237518\r\n12345678\nbad\n\n4901542032375199";
	struct imei_tacdb_bulk bulk;
	imei_tacdb_lookup_lines(db, lines, sizeof lines - 1, &bulk);
	CHECK_INT((long long)bulk.lines, 6);
	CHECK_INT((long long)bulk.found, 3);
	CHECK_INT((long long)bulk.not_found, 1);
	CHECK_INT((long long)bulk.invalid, 2);
	imei_tacdb_lookup_lines(db, "", 0, &bulk);
	CHECK_INT((long long)bulk.lines, 0);
	imei_tacdb_unref(db);
}

/* ---- building ------------------------------------------------------------------------ */

static void test_duplicates_and_bad_input(void)
{
	struct imei_tacdb_error err;
	uint32_t prev = 0;
	for (int keep_first = 0; keep_first < 2; keep_first++) {
		struct imei_tacdb_builder *b =
		    imei_tacdb_builder_new(keep_first ? IMEI_TACDB_KEEP_FIRST : IMEI_TACDB_KEEP_LAST);
		struct imei_tac_fields f1 = named("First", "A"), f2 = named("Second", "B");
		CHECK_INT(imei_tacdb_builder_add(b, "35678901", 8, &f1, 10, &prev, &err), 0);
		CHECK_INT(imei_tacdb_builder_add(b, "35678901", 8, &f2, 20, &prev, &err), 1);
		CHECK_INT(prev, 10);
		CHECK_INT(imei_tacdb_builder_add(b, "35678901", 8, &f2, 30, &prev, &err), 1);
		CHECK_INT(prev, keep_first ? 10 : 20);
		/* same digits, other length: another key */
		CHECK_INT(imei_tacdb_builder_add(b, "3567890", 7, &f2, 40, &prev, &err), 0);
		CHECK_INT(imei_tacdb_builder_add(b, "035678901", 9, &f2, 50, &prev, &err), 0);
		CHECK_INT((long long)imei_tacdb_builder_count(b), 3);
		struct imei_tacdb *db = freeze(b);
		if (db) {
			CHECK_STR(brand_of(db, "35678901"), keep_first ? "First" : "Second");
			imei_tacdb_unref(db);
		}
		imei_tacdb_builder_free(b);
	}

	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	struct imei_tac_fields f = named("X", "Y");
	CHECK_INT(imei_tacdb_builder_add(b, "", 0, &f, 1, NULL, &err), -1);
	CHECK_HAS(err.msg, "1 to 14");
	CHECK_INT(imei_tacdb_builder_add(b, "123456789012345", 15, &f, 1, NULL, &err), -1);
	CHECK_HAS(err.msg, "15 digits");
	CHECK_INT(imei_tacdb_builder_add(b, "3567A901", 8, &f, 1, NULL, &err), -1);
	CHECK_HAS(err.msg, "character 5");
	struct imei_tac_fields nul = named("Bad\0Brand", NULL);
	nul.len[IMEI_TAC_BRAND] = 9;
	CHECK_INT(imei_tacdb_builder_add(b, "35678901", 8, &nul, 1, NULL, &err), -1);
	CHECK_HAS(err.msg, "brand contains a NUL byte");
	struct imei_tac_fields date = named("X", NULL);
	date.date = 20130229;
	CHECK_INT(imei_tacdb_builder_add(b, "35678901", 8, &date, 1, NULL, &err), -1);
	CHECK_HAS(err.msg, "20130229");
	date.date = 20120229; /* a leap year */
	CHECK_INT(imei_tacdb_builder_add(b, "35678901", 8, &date, 1, NULL, &err), 0);
	struct imei_tac_fields rat = named("X", NULL);
	rat.rat = 16;
	CHECK_INT(imei_tacdb_builder_add(b, "35678902", 8, &rat, 1, NULL, &err), -1);
	CHECK_HAS(err.msg, "RAT");
	struct imei_tac_kv kv = { "", 0, "v", 1 };
	struct imei_tac_fields ex = named("X", NULL);
	ex.extra = &kv;
	ex.nextra = 1;
	CHECK_INT(imei_tacdb_builder_add(b, "35678903", 8, &ex, 1, NULL, &err), -1);
	CHECK_HAS(err.msg, "no name");
	CHECK_INT((long long)imei_tacdb_builder_count(b), 1);
	imei_tacdb_builder_free(b);
	imei_tacdb_builder_free(NULL);
}

static void test_records(void)
{
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	struct imei_tac_fields f = { 0 };
	const char *s[IMEI_TAC_NFIELDS] = { "Great", "Phone4", "Awesome Phone1", "Best IT4", "Handheld", "Not Known",
		                                "GSM 1800, WCDMA FDD Band I, LTE 2100" };
	for (int i = 0; i < IMEI_TAC_NFIELDS; i++) {
		f.str[i] = s[i];
		f.len[i] = strlen(s[i]);
	}
	f.date = 20130426;
	f.rat = imei_tac_rat_from_bands(s[IMEI_TAC_BANDS], strlen(s[IMEI_TAC_BANDS]));
	struct imei_tac_kv kv[] = { { "Country Code", 12, "404", 3 }, { "NFC", 3, "", 0 } };
	f.extra = kv;
	f.nextra = 2;
	struct imei_tacdb_error err;
	CHECK_INT(imei_tacdb_builder_add(b, "41277777", 8, &f, 2, NULL, &err), 0);
	struct imei_tac_kv kv2[] = { { "Country Code", 12, "310", 3 }, { "NFC", 3, "Yes", 3 } };
	f.extra = kv2;
	CHECK_INT(imei_tacdb_builder_add(b, "41277778", 8, &f, 3, NULL, &err), 0);
	struct imei_tac_fields plain = named("Plain", NULL);
	CHECK_INT(imei_tacdb_builder_add(b, "41277779", 8, &plain, 4, NULL, &err), 0);
	struct imei_tacdb *db = freeze(b);
	imei_tacdb_builder_free(b);
	if (!db)
		return;
	uint32_t first = imei_tacdb_lookup(db, "41277777", 8), second = imei_tacdb_lookup(db, "41277778", 8),
	         third = imei_tacdb_lookup(db, "41277779", 8);
	struct imei_tac_record rec;
	CHECK(imei_tacdb_record(db, first, &rec));
	for (int i = 0; i < IMEI_TAC_NFIELDS; i++)
		CHECK_STR(rec.str[i], s[i]);
	CHECK_INT(rec.date, 20130426);
	CHECK_INT(rec.rat, IMEI_TAC_RAT_2G | IMEI_TAC_RAT_3G | IMEI_TAC_RAT_4G);
	CHECK_INT((long long)rec.nextra, 2);
	const char *k, *v;
	CHECK(imei_tacdb_extra(db, first, 0, &k, &v));
	CHECK_STR(k, "Country Code");
	CHECK_STR(v, "404");
	CHECK(imei_tacdb_extra(db, first, 1, &k, &v));
	CHECK_STR(k, "NFC");
	CHECK_STR(v, "");
	CHECK(!imei_tacdb_extra(db, first, 2, &k, &v));
	CHECK(imei_tacdb_extra(db, second, 1, &k, &v));
	CHECK_STR(v, "Yes");
	CHECK(imei_tacdb_record(db, third, &rec));
	CHECK_STR(rec.str[IMEI_TAC_BRAND], "Plain");
	CHECK_STR(rec.str[IMEI_TAC_MODEL], "");
	CHECK_INT(rec.date, 0);
	CHECK_INT((long long)rec.nextra, 0);
	CHECK(!imei_tacdb_extra(db, third, 0, &k, &v));
	CHECK(!imei_tacdb_extra(db, 3, 0, &k, &v));
	/* the two records with extras share one list of column names */
	CHECK_INT(db->nschemas, 2);
	CHECK_INT(db->ncols, 2);
	imei_tacdb_unref(db);
	CHECK_STR(imei_tac_field_name(IMEI_TAC_MARKETING_NAME), "marketing_name");
	CHECK(imei_tac_field_name(IMEI_TAC_NFIELDS) == NULL);
}

static void test_rat_from_bands(void)
{
	struct {
		const char *bands;
		unsigned rat;
	} cases[] = {
		{ "", 0 },
		{ "GSM 1800, GSM 1900, GSM 900, GSM850 (GSM800)", IMEI_TAC_RAT_2G },
		{ "gsm900,gprs", IMEI_TAC_RAT_2G },
		{ "EDGE", IMEI_TAC_RAT_2G },
		{ "WCDMA FDD Band I", IMEI_TAC_RAT_3G },
		{ "HSDPA, HSUPA", IMEI_TAC_RAT_3G },
		{ "HSPA+", IMEI_TAC_RAT_3G },
		{ "UMTS 2100", IMEI_TAC_RAT_3G },
		{ "TD-SCDMA", IMEI_TAC_RAT_3G },
		{ "CDMA2000 1xEV-DO", IMEI_TAC_RAT_3G },
		{ "EV-DO Rev A", IMEI_TAC_RAT_3G },
		{ "CDMA 800", 0 }, /* cdmaOne is not on the list */
		{ "LTE FDD BAND 3", IMEI_TAC_RAT_4G },
		{ "CA_1A-3A", IMEI_TAC_RAT_4G },
		{ "DC_3A_n78A", IMEI_TAC_RAT_4G },
		{ "NR n78", IMEI_TAC_RAT_5G },
		{ "NR_N41", IMEI_TAC_RAT_5G },
		{ "5GNR", IMEI_TAC_RAT_5G },
		{ "NRZ coding", 0 },
		{ "BLUETOOTH, WLAN, NFC", 0 },
		{ "GSM 900, WCDMA FDD Band I, LTE 2100, NR n78",
		  IMEI_TAC_RAT_2G | IMEI_TAC_RAT_3G | IMEI_TAC_RAT_4G | IMEI_TAC_RAT_5G },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		unsigned got = imei_tac_rat_from_bands(cases[i].bands, strlen(cases[i].bands));
		if (got != cases[i].rat)
			fprintf(stderr, "bands \"%s\"\n", cases[i].bands);
		CHECK_INT(got, cases[i].rat);
	}
	/* a length that cuts a word: only what is inside counts */
	CHECK_INT(imei_tac_rat_from_bands("LTE", 2), 0);
	CHECK_INT(imei_tac_rat_from_bands(NULL, 0), 0);
}

/* ---- images -------------------------------------------------------------------------- */

static struct imei_tacdb *small_db(void)
{
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	add(b, "35678901", "tac", 1);
	add(b, "356789", "range", 2);
	add(b, "35678901123456", "device", 3);
	struct imei_tac_fields f = named("Extra", "X");
	struct imei_tac_kv kv = { "aka", 3, "other", 5 };
	f.extra = &kv;
	f.nextra = 1;
	struct imei_tacdb_error err;
	imei_tacdb_builder_add(b, "49015420", 8, &f, 4, NULL, &err);
	struct imei_tacdb *db = freeze(b);
	imei_tacdb_builder_free(b);
	return db;
}

static void test_save_open(void)
{
	struct imei_tacdb *db = small_db();
	if (!db)
		return;
	char dir[] = "/tmp/test_tacdb.XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], other[256];
	snprintf(path, sizeof path, "%s/tacs.img", dir);
	struct imei_tacdb_error err;
	CHECK_INT(imei_tacdb_save(db, path, &err), 0);
	struct imei_tacdb *back = imei_tacdb_open(path, &err);
	CHECK(back != NULL);
	if (back) {
		struct imei_tacdb_stats st;
		imei_tacdb_stats(back, &st);
		CHECK(st.mapped);
		CHECK_INT((long long)imei_tacdb_count(back), 4);
		const char *queries[] = { "35678901", "356789011234567", "35678999", "490154203237518", "1" };
		for (size_t i = 0; i < 5; i++)
			CHECK_STR(brand_of(back, queries[i]), brand_of(db, queries[i]));
		size_t a, b;
		const void *ia = imei_tacdb_image(db, &a), *ib = imei_tacdb_image(back, &b);
		CHECK(a == b && memcmp(ia, ib, a) == 0);
		imei_tacdb_unref(back);
	}
	/* errors name the file and the reason */
	snprintf(other, sizeof other, "%s/missing.img", dir);
	CHECK(imei_tacdb_open(other, &err) == NULL);
	CHECK_HAS(err.msg, other);
	CHECK_HAS(err.msg, "No such file");
	CHECK(imei_tacdb_open(dir, &err) == NULL);
	CHECK_HAS(err.msg, "not a regular file");
	FILE *f = fopen(other, "wb");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	CHECK(imei_tacdb_open(other, &err) == NULL);
	CHECK_HAS(err.msg, "empty file");
	f = fopen(other, "wb");
	if (f) {
		fputs("tac,name,name\n35678901,A,B\n", f);
		fclose(f);
	}
	CHECK(imei_tacdb_open(other, &err) == NULL);
	CHECK_HAS(err.msg, "not a TAC image");
	CHECK_HAS(err.msg, other);
	/* saving into a folder that does not exist fails, and leaves nothing behind */
	snprintf(other, sizeof other, "%s/no/such/dir/x.img", dir);
	CHECK_INT(imei_tacdb_save(db, other, &err), -1);
	CHECK_HAS(err.msg, "temporary file");
	/* replacing a file: the new content, no temporary file left */
	CHECK_INT(imei_tacdb_save(db, path, &err), 0);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) = 2 && rm -rf '%s'", dir, dir);
	CHECK(system(cmd) == 0);
	imei_tacdb_unref(db);
}

static void test_truncated_and_flipped(void)
{
	struct imei_tacdb *db = small_db();
	if (!db)
		return;
	size_t len;
	const unsigned char *img = imei_tacdb_image(db, &len);
	unsigned char *buf = malloc(len);
	if (!buf) {
		imei_tacdb_unref(db);
		return;
	}
	struct imei_tacdb_error err;
	/* every truncation: refused, with a message; never a read past the end (ASan) */
	int refused = 0, explained = 0;
	for (size_t n = 0; n < len; n++) {
		unsigned char *part = malloc(n ? n : 1);
		if (!part)
			break;
		memcpy(part, img, n);
		err.msg[0] = '\0';
		struct imei_tacdb *bad = imei_tacdb_from_image(part, n, &err);
		refused += bad == NULL;
		explained += check_contains(err.msg, "truncated") || (n == 0 && check_contains(err.msg, "not a TAC image"));
		imei_tacdb_unref(bad);
		free(part);
	}
	CHECK_INT(refused, (long long)len);
	CHECK_INT(explained, (long long)len);
	/* every byte flipped: refused with a message */
	refused = explained = 0;
	for (size_t i = 0; i < len; i++) {
		memcpy(buf, img, len);
		buf[i] ^= 0xFF;
		err.msg[0] = '\0';
		struct imei_tacdb *bad = imei_tacdb_from_image(buf, len, &err);
		refused += bad == NULL;
		explained += err.msg[0] != '\0';
		imei_tacdb_unref(bad);
	}
	CHECK_INT(refused, (long long)len);
	CHECK_INT(explained, (long long)len);
	memcpy(buf, img, len);
	buf[len - 1] ^= 1;
	CHECK(imei_tacdb_from_image(buf, len, &err) == NULL);
	CHECK_HAS(err.msg, "checksum mismatch");
	buf[len - 1] ^= 1;
	buf[0] = 'X';
	CHECK(imei_tacdb_from_image(buf, len, &err) == NULL);
	CHECK_HAS(err.msg, "not a TAC image");
	/* a longer buffer than the header says */
	unsigned char *longer = calloc(1, len + 8);
	if (longer) {
		memcpy(longer, img, len);
		CHECK(imei_tacdb_from_image(longer, len + 8, &err) == NULL);
		CHECK_HAS(err.msg, "trailing bytes");
		free(longer);
	}
	free(buf);
	imei_tacdb_unref(db);
}

/* Change a copy of the image with edit(), fix the checksum, and expect refusal with msg. */
static void crafted(const unsigned char *img, size_t len, void (*edit)(unsigned char *), const char *msg)
{
	unsigned char *buf = malloc(len);
	if (!buf)
		return;
	memcpy(buf, img, len);
	edit(buf);
	uint64_t sum = imei_tac_checksum(buf, len);
	memcpy(buf + offsetof(struct tac_header, checksum), &sum, sizeof sum);
	struct imei_tacdb_error err = { { 0 } };
	struct imei_tacdb *db = imei_tacdb_from_image(buf, len, &err);
	CHECK(db == NULL);
	CHECK_HAS(err.msg, msg);
	imei_tacdb_unref(db);
	free(buf);
}

static struct tac_header *hdr(unsigned char *img)
{
	return (struct tac_header *)img;
}

static void swap_order(unsigned char *img) { hdr(img)->byte_order = 0x04030201u; }
static void bad_version(unsigned char *img) { hdr(img)->version = 1; }
static void bad_bits(unsigned char *img) { hdr(img)->bits = 40; }
static void more_records(unsigned char *img) { hdr(img)->nrecords += 1; }
static void section_out(unsigned char *img) { hdr(img)->sec[TAC_SEC_POOL].off += 4096; }
static void bucket_back(unsigned char *img)
{
	uint32_t *top = (uint32_t *)(img + hdr(img)->sec[TAC_SEC_TOP].off);
	top[1] = 1000;
}
static void tac_swapped(unsigned char *img)
{
	/* the first non-empty bucket said to be empty: its TACs fall into the next bucket's
	 * range, the table still ascends, the order is kept, the buckets are wrong */
	uint32_t *top = (uint32_t *)(img + hdr(img)->sec[TAC_SEC_TOP].off);
	for (uint32_t b = 0; b < (1u << hdr(img)->bits); b++) {
		if (top[b + 1] > top[b]) {
			top[b + 1] = top[b];
			return;
		}
	}
}
static void tac_moved(unsigned char *img)
{
	uint32_t *tacs = (uint32_t *)(img + hdr(img)->sec[TAC_SEC_TACS].off);
	tacs[0] = 100000000; /* not a TAC */
}
static void record_string(unsigned char *img)
{
	struct tac_rec *r = (struct tac_rec *)(img + hdr(img)->sec[TAC_SEC_RECORDS].off);
	r[1].str[IMEI_TAC_MODEL] = hdr(img)->pool_size;
}
static void record_schema(unsigned char *img)
{
	struct tac_rec *r = (struct tac_rec *)(img + hdr(img)->sec[TAC_SEC_RECORDS].off);
	r[0].schema = 7;
}
static void trie_loop(unsigned char *img)
{
	struct tac_node *n = (struct tac_node *)(img + hdr(img)->sec[TAC_SEC_NODES].off);
	n[1].first = 0;
}
static void trie_record(unsigned char *img)
{
	struct tac_node *n = (struct tac_node *)(img + hdr(img)->sec[TAC_SEC_NODES].off);
	for (uint32_t i = 0; i < hdr(img)->nnodes; i++)
		if (n[i].rec != IMEI_TACDB_NONE)
			n[i].rec = 0; /* a TAC record, not a trie one */
}
static void pool_end(unsigned char *img)
{
	img[hdr(img)->sec[TAC_SEC_POOL].off + hdr(img)->pool_size - 1] = 'x';
}

static void test_crafted(void)
{
	struct imei_tacdb *db = small_db();
	if (!db)
		return;
	size_t len;
	const unsigned char *img = imei_tacdb_image(db, &len);
	crafted(img, len, swap_order, "other byte order");
	crafted(img, len, bad_version, "image version 1, this build reads version 3");
	crafted(img, len, bad_bits, "2^40 buckets");
	crafted(img, len, more_records, "corrupt header");
	crafted(img, len, section_out, "string table");
	crafted(img, len, bucket_back, "bucket table");
	crafted(img, len, tac_swapped, "out of its bucket or out of order");
	crafted(img, len, tac_moved, "out of its bucket or out of order");
	crafted(img, len, record_string, "outside");
	crafted(img, len, record_schema, "corrupt records");
	crafted(img, len, trie_loop, "links outside");
	crafted(img, len, trie_record, "names record 0");
	crafted(img, len, pool_end, "NUL");
	imei_tacdb_unref(db);
}

/* ---- sharing ------------------------------------------------------------------------- */

struct worker {
	struct imei_tacdb *db;
	long found;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int round = 0; round < 20000; round++) {
		w->found += imei_tacdb_lookup(w->db, "356789011234567", 15) != IMEI_TACDB_NONE;
		w->found += imei_tacdb_lookup_tac(w->db, 35678901) != IMEI_TACDB_NONE;
		imei_tacdb_unref(imei_tacdb_ref(w->db));
	}
	imei_tacdb_unref(w->db); /* the reference the thread was given */
	return NULL;
}

static void test_threads(void)
{
	struct imei_tacdb *db = small_db();
	if (!db)
		return;
	struct worker w[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ imei_tacdb_ref(db), 0 };
		CHECK(pthread_create(&t[i], NULL, work, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(w[i].found, 40000);
	}
	CHECK_INT((long long)atomic_load(&db->refs), 1);
	imei_tacdb_unref(db);
}

static lua_State *state_with_core(void)
{
	lua_State *L = luaL_newstate();
	if (!L)
		return NULL;
	luaL_openlibs(L);
	luaL_requiref(L, "imei.core", imei_luaopen_core, 0);
	lua_pop(L, 1);
	return L;
}

static void test_lua_states(void)
{
	struct imei_tacdb *db = small_db();
	if (!db)
		return;
	lua_State *a = state_with_core(), *b = state_with_core();
	CHECK(a && b);
	if (a && b) {
		imei_lua_push_tacdb(a, db);
		lua_setglobal(a, "db");
		imei_lua_push_tacdb(b, db);
		lua_setglobal(b, "db");
		CHECK_INT((long long)atomic_load(&db->refs), 3);
		const char *chunk = "local r = db:lookup('356789011234567'); return r.brand .. ' ' .. r.tac .. ' ' .. #db";
		for (int i = 0; i < 2; i++) {
			lua_State *L = i ? b : a;
			CHECK_INT(luaL_dostring(L, chunk), LUA_OK);
			CHECK_STR(lua_tostring(L, -1), "device 35678901123456 4");
			lua_pop(L, 1);
			lua_getglobal(L, "db");
			CHECK(imei_lua_check_tacdb(L, -1) == db);
			lua_pop(L, 1);
		}
		/* closing in one state leaves the other working */
		CHECK_INT(luaL_dostring(a, "db:close(); return tostring(db)"), LUA_OK);
		CHECK_STR(lua_tostring(a, -1), "imei.tacdb (closed)");
		CHECK(luaL_dostring(a, "return db:lookup('35678901')") != LUA_OK);
		CHECK_HAS(lua_tostring(a, -1), "closed");
		CHECK_INT((long long)atomic_load(&db->refs), 2);
		CHECK_INT(luaL_dostring(b, "return db:lookup('49015420').extra.aka"), LUA_OK);
		CHECK_STR(lua_tostring(b, -1), "other");
	}
	if (a)
		lua_close(a);
	if (b)
		lua_close(b);
	CHECK_INT((long long)atomic_load(&db->refs), 1);
	imei_tacdb_unref(db);
}

int main(void)
{
	test_longest_prefix();
	test_empty();
	test_lookup_str();
	test_duplicates_and_bad_input();
	test_records();
	test_rat_from_bands();
	test_save_open();
	test_truncated_and_flipped();
	test_crafted();
	test_threads();
	test_lua_states();
	return CHECK_DONE("test_tacdb");
}
