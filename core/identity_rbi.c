/*
 * identity_rbi.c — Reporting Body Identifiers: the first two TAC digits (GSMA TS.06 §6.2,
 * 3GPP TS 23.003 §6.2.1). 35 BABT, 86 TAF China, 01 PTCRB, 99 GHA (multi-RAT
 * 3GPP2/3GPP); 00 and 02-09 are test IMEIs; 98 is reserved; the rest are legacy.
 */
#include <string.h>

#include "imei_identity.h"

struct rbi_entry {
	char code[3];
	const char *name;
};

static const struct rbi_entry rbis[] = {
	{ "00", "test IMEI" },
	{ "01", "PTCRB" },
	{ "02", "test IMEI" }, { "03", "test IMEI" }, { "04", "test IMEI" }, { "05", "test IMEI" },
	{ "06", "test IMEI" }, { "07", "test IMEI" }, { "08", "test IMEI" }, { "09", "test IMEI" },
	{ "10", "DECT (legacy)" },
	{ "30", "Iridium (legacy)" },
	{ "33", "DGPT France (legacy)" },
	{ "35", "BABT" },
	{ "44", "BABT (legacy)" },
	{ "45", "NTA Denmark (legacy)" },
	{ "49", "BZT/BAPT Germany (legacy)" },
	{ "50", "BZT ETS Germany (legacy)" },
	{ "51", "Cetecom ICT Germany (legacy)" },
	{ "52", "Cetecom Germany (legacy)" },
	{ "53", "TUV Germany (legacy)" },
	{ "54", "Phoenix Test Lab Germany (legacy)" },
	{ "86", "TAF China" },
	{ "91", "MSAI India (legacy)" },
	{ "98", "reserved" },
	{ "99", "GHA (multi-RAT 3GPP2/3GPP)" },
};

const char *imei_rbi_name(const char rbi[2])
{
	for (size_t i = 0; i < sizeof rbis / sizeof rbis[0]; i++)
		if (rbis[i].code[0] == rbi[0] && rbis[i].code[1] == rbi[1])
			return rbis[i].name;
	return NULL;
}

bool imei_rbi_is_test(const char rbi[2])
{
	return rbi[0] == '0' && rbi[1] >= '0' && rbi[1] <= '9' && rbi[1] != '1';
}
