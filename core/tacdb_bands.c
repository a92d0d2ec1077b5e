/*
 * tacdb_bands.c — the radio access technologies of a device, from the free text of the
 * GSMA TAC database "Bands" column ("GSM 1800, GSM850 (GSM800), WCDMA FDD Band I,
 * LTE FDD BAND 3, NR n78"). Policies use it for inconsistent-RAT checks (a device seen
 * on a RAT its model lacks).
 *
 * The text is cut into words: runs of letters, digits and '_'. A word names a technology
 * by its start, case-insensitively:
 *   2G  GSM…, GPRS…, EDGE…
 *   3G  WCDMA…, HSPA…, HSDPA…, HSUPA…, UMTS…, TD-SCDMA (a word TDSCDMA…, TD_SCDMA… or SCDMA…
 *       as in "TD-SCDMA"), CDMA2000…, EVDO… (or "EV-DO")
 *   4G  LTE…, CA_… (carrier aggregation), DC_… (dual connectivity)
 *   5G  NR, NR followed by a digit or '_', 5GNR…
 * Everything else is ignored.
 */
#include <string.h>

#include "imei_tacdb.h"

static bool is_word(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* w[0..n) upper-cased, at most 16 bytes kept: enough for every prefix above. */
static bool starts(const char *w, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && memcmp(w, prefix, k) == 0;
}

static unsigned classify(const char *w, size_t n, const char *prev, size_t nprev)
{
	if (starts(w, n, "GSM") || starts(w, n, "GPRS") || starts(w, n, "EDGE"))
		return IMEI_TAC_RAT_2G;
	if (starts(w, n, "WCDMA") || starts(w, n, "HSPA") || starts(w, n, "HSDPA") || starts(w, n, "HSUPA") ||
	    starts(w, n, "UMTS") || starts(w, n, "TDSCDMA") || starts(w, n, "TD_SCDMA") || starts(w, n, "SCDMA") ||
	    starts(w, n, "CDMA2000") || starts(w, n, "EVDO"))
		return IMEI_TAC_RAT_3G;
	if (n == 2 && memcmp(w, "DO", 2) == 0 && nprev == 2 && memcmp(prev, "EV", 2) == 0)
		return IMEI_TAC_RAT_3G;
	if (starts(w, n, "LTE") || starts(w, n, "CA_") || starts(w, n, "DC_"))
		return IMEI_TAC_RAT_4G;
	if (starts(w, n, "5GNR") || (starts(w, n, "NR") && (n == 2 || (w[2] >= '0' && w[2] <= '9') || w[2] == '_')))
		return IMEI_TAC_RAT_5G;
	return 0;
}

unsigned imei_tac_rat_from_bands(const char *bands, size_t len)
{
	unsigned rat = 0;
	char word[16], prev[16];
	size_t nprev = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && !is_word((unsigned char)bands[i]))
			i++;
		size_t n = 0, start = i;
		for (; i < len && is_word((unsigned char)bands[i]); i++) {
			unsigned char c = (unsigned char)bands[i];
			if (i - start < sizeof word)
				word[n++] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
		}
		if (n == 0)
			break;
		rat |= classify(word, n, prev, nprev);
		memcpy(prev, word, n);
		nprev = n;
	}
	return rat;
}
