/*
 * test_s13_ident.c — what an S13 ME-Identity-Check-Request identifies (server/s13_ident.c):
 * IMEI of 14 or 15 digits, IMEI + Software-Version as an IMEISV from the first 14 digits
 * (TS 29.272 §5.2.4, §7.3.3–7.3.5), 3GPP2-MEID (§7.3.6) binary or as text, User-Name as
 * the IMSI, and which AVP is named as failed for each fault.
 */
#include <string.h>

#include "check.h"
#include "s13_ident.h"

static struct s13_ident id;

static enum s13_ident_fault run(const char *imei, const char *sv, const char *user)
{
	struct s13_ident_in in = { .has_terminal_information = true };
	if (imei) {
		in.imei = (const uint8_t *)imei;
		in.imei_len = strlen(imei);
	}
	if (sv) {
		in.software_version = (const uint8_t *)sv;
		in.software_version_len = strlen(sv);
	}
	if (user) {
		in.user_name = (const uint8_t *)user;
		in.user_name_len = strlen(user);
	}
	return s13_ident_read(&in, &id);
}

static enum s13_ident_fault run_meid(const uint8_t *p, size_t n)
{
	struct s13_ident_in in = { .has_terminal_information = true, .meid = p, .meid_len = n };
	return s13_ident_read(&in, &id);
}

static void test_imei(void)
{
	CHECK_INT(run("490154203237518", NULL, NULL), S13_ID_OK);
	CHECK_STR(id.pei, "imei-490154203237518");
	CHECK_STR(id.imsi, "");
	CHECK_INT(run("49015420323751", NULL, NULL), S13_ID_OK);
	CHECK_STR(id.pei, "49015420323751");
	/* with a Software-Version: the first 14 digits and the SVN; a 15th digit is dropped */
	CHECK_INT(run("49015420323751", "07", NULL), S13_ID_OK);
	CHECK_STR(id.pei, "imeisv-4901542032375107");
	CHECK_INT(run("490154203237519", "12", NULL), S13_ID_OK);
	CHECK_STR(id.pei, "imeisv-4901542032375112");
	CHECK_INT(run("490154203237518", NULL, "001010123456789"), S13_ID_OK);
	CHECK_STR(id.imsi, "001010123456789");
	CHECK(id.why == NULL);
}

static void test_bad(void)
{
	CHECK_INT(run("4901542032375", NULL, NULL), S13_ID_BAD_IMEI);         /* 13 digits */
	CHECK(id.why != NULL && id.pei[0] == 0);
	CHECK_INT(run("4901542032375180", NULL, NULL), S13_ID_BAD_IMEI);      /* 16: an IMEISV is not an IMEI */
	CHECK_INT(run("49015420323751a", NULL, NULL), S13_ID_BAD_IMEI);
	CHECK_INT(run("", NULL, NULL), S13_ID_BAD_IMEI);                      /* present but empty */
	CHECK_INT(run("4901542032 3751", NULL, NULL), S13_ID_BAD_IMEI);
	CHECK_INT(run("49015420323751", "7", NULL), S13_ID_BAD_SOFTWARE_VERSION);
	CHECK_INT(run("49015420323751", "0x", NULL), S13_ID_BAD_SOFTWARE_VERSION);
	CHECK_INT(run("49015420323751", "", NULL), S13_ID_BAD_SOFTWARE_VERSION);
	CHECK_INT(run("49015420323751", NULL, "12345"), S13_ID_BAD_USER_NAME);
	CHECK_INT(run("49015420323751", NULL, "0010101234567890"), S13_ID_BAD_USER_NAME);
	CHECK_INT(run("49015420323751", NULL, "00101O123456789"), S13_ID_BAD_USER_NAME);
	/* nothing to identify */
	CHECK_INT(run(NULL, NULL, NULL), S13_ID_NO_IDENTITY);
	CHECK_INT(run(NULL, "07", NULL), S13_ID_NO_IDENTITY);
	struct s13_ident_in none = { 0 };
	CHECK_INT(s13_ident_read(&none, &id), S13_ID_NO_TERMINAL_INFORMATION);
	CHECK(id.why != NULL);
}

static void test_meid(void)
{
	uint8_t b[8];
	char hex[15];
	s13_meid_encode("A10000009296F2", b);
	CHECK_INT(b[0], 0xA5); /* digit 1 = A, even, type 101 */
	CHECK_INT(b[7], 0xF2); /* the 14th digit and the filler */
	CHECK(s13_meid_decode(b, 8, hex));
	CHECK_STR(hex, "A10000009296F2");
	CHECK_INT(run_meid(b, 8), S13_ID_OK);
	CHECK_STR(id.pei, "A10000009296F2");
	CHECK_INT(run_meid((const uint8_t *)"a10000009296f2", 14), S13_ID_OK); /* as text */
	CHECK_STR(id.pei, "A10000009296F2");
	b[0] = 0xA2; /* type IMEI: not a MEID */
	CHECK(!s13_meid_decode(b, 8, hex));
	CHECK_INT(run_meid(b, 8), S13_ID_BAD_MEID);
	s13_meid_encode("A10000009296F2", b);
	b[7] = 0x02; /* no filler */
	CHECK(!s13_meid_decode(b, 8, hex));
	CHECK_INT(run_meid(b, 7), S13_ID_BAD_MEID);
	CHECK_INT(run_meid((const uint8_t *)"A10000009296G2", 14), S13_ID_BAD_MEID);
	/* an IMEI wins over a MEID in the same Terminal-Information */
	struct s13_ident_in both = { .has_terminal_information = true, .imei = (const uint8_t *)"49015420323751",
	                             .imei_len = 14, .meid = (const uint8_t *)"x", .meid_len = 1 };
	CHECK_INT(s13_ident_read(&both, &id), S13_ID_OK);
	CHECK_STR(id.pei, "49015420323751");
}

int main(void)
{
	test_imei();
	test_bad();
	test_meid();
	return CHECK_DONE("test_s13_ident");
}
