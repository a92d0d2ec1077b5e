/*
 * fuzz_parse.c — libFuzzer target for imei_parse, imei_valid, imei_valid15, imei_luhn and
 * imei_check_digit (TS 23.003 §6.2, Annex B). Beyond "no crash, no read past the input":
 *   - an error fills err consistently (code, a whole message, a position inside the input);
 *   - imei_valid agrees with imei_parse (an IMEI kind, and cd_ok for 15 digits);
 *   - a successful parse's normalised digits parse again to the same identifier;
 *   - on 15 bytes, imei_valid15 agrees with "15 ASCII digits, parse ok, cd_ok";
 *   - imei_luhn and imei_check_digit agree with each other on digit strings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_imei_kind(enum imei_kind k)
{
	return k == IMEI_KIND_IMEI || k == IMEI_KIND_IMEI14 || k == IMEI_KIND_IMEISV;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct imei_id id;
	struct imei_error err;
	enum imei_err e = imei_parse(s, size, &id, &err);
	bool valid = imei_valid(s, size);

	if (e != IMEI_OK) {
		/* a message of sizeof - 1 characters may have been cut short */
		if (err.code != e || err.msg[0] == 0 || err.pos > size || strlen(err.msg) >= sizeof err.msg - 1)
			abort();
		if (valid)
			abort();
	} else {
		if (err.code != IMEI_OK || id.ndigits == 0 || id.ndigits > IMEI_MAX_DIGITS ||
		    strlen(id.digits) != id.ndigits)
			abort();
		if (valid != (is_imei_kind(id.kind) && (id.kind != IMEI_KIND_IMEI || id.cd_ok)))
			abort();
		if (is_imei_kind(id.kind)) {
			if (strlen(id.key) != 14 || memcmp(id.key, id.digits, 14) != 0 || memcmp(id.tac, id.digits, 8) != 0 ||
			    memcmp(id.snr, id.digits + 8, 6) != 0 || id.cd_expected != imei_check_digit(id.key, 14))
				abort();
			if (id.kind == IMEI_KIND_IMEI && id.cd_ok != imei_luhn(id.digits, 15))
				abort();
		}
		/* the normalised digits are a fixed point */
		struct imei_id again;
		if (imei_parse(id.digits, id.ndigits, &again, NULL) != IMEI_OK || again.kind != id.kind ||
		    strcmp(again.digits, id.digits) != 0 || strcmp(again.key, id.key) != 0 || again.pesn != id.pesn ||
		    again.junk != id.junk)
			abort();
		if (is_imei_kind(id.kind) && again.cd_ok != id.cd_ok)
			abort();
	}

	if (size == 15) {
		bool digits = true;
		for (size_t i = 0; i < 15; i++)
			digits &= data[i] >= '0' && data[i] <= '9';
		bool want = digits && e == IMEI_OK && id.kind == IMEI_KIND_IMEI && id.cd_ok;
		/* an exact-size copy, so that ASan catches a read past 15 bytes */
		char *copy = malloc(15);
		if (!copy)
			abort();
		memcpy(copy, data, 15);
		if (imei_valid15(copy, 15) != want)
			abort();
		free(copy);
	}

	/* Luhn over any length: appending the check digit makes a Luhn-valid string */
	char cd = imei_check_digit(s, size);
	if (cd) {
		char *buf = malloc(size + 1);
		if (!buf)
			abort();
		memcpy(buf, data, size);
		buf[size] = cd;
		if (!imei_luhn(buf, size + 1))
			abort();
		free(buf);
	} else if (imei_luhn(s, size)) {
		/* no check digit means empty or a non-digit, and then Luhn is false too */
		abort();
	}
	return 0;
}
