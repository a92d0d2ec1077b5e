/*
 * imei_identity.h — equipment identifiers: IMEI, IMEISV, MEID, ESN (3GPP TS 23.003 §6.2).
 *
 * The parser reports facts and never decides policy: a 15-digit IMEI with a wrong
 * check digit parses fine (cd_ok = false), because the network identifies a device
 * by its 14-digit body (TS 29.272 §6.2.1.3) and whether a bad CD is "malformed"
 * is for a policy to say.
 */
#ifndef IMEI_ID_H
#define IMEI_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum imei_kind {
	IMEI_KIND_NONE = 0,
	IMEI_KIND_IMEI,   /* 15 digits: TAC + SNR + CD */
	IMEI_KIND_IMEI14, /* 14 digits: TAC + SNR, the CD not given */
	IMEI_KIND_IMEISV, /* 16 digits: TAC + SNR + SVN */
	IMEI_KIND_MEID,   /* 3GPP2: 14 hex digits (RR >= A0), optional hex CD */
	IMEI_KIND_ESN     /* 3GPP2: 8 hex digits (32 bits) */
};

/* Well-known junk: Luhn-valid values that no real device should carry. */
enum imei_junk {
	IMEI_JUNK_NONE = 0,
	IMEI_JUNK_EMULATOR,   /* a default of an emulator (358240051111110) */
	IMEI_JUNK_ALL_ZEROS,  /* body 00000000000000 */
	IMEI_JUNK_REPEATED,   /* body is one digit repeated */
	IMEI_JUNK_SEQUENCE    /* body is a run 0123456789… or 9876543210… */
};

/* Where the value came from: a bare number or a 5G PEI string (TS 29.571). */
enum imei_pei { IMEI_PEI_NONE = 0, IMEI_PEI_IMEI, IMEI_PEI_IMEISV };

#define IMEI_MAX_DIGITS 19 /* the longest form accepted: an 18-digit decimal MEID + CD */

struct imei_id {
	enum imei_kind kind;
	enum imei_pei pei;
	enum imei_junk junk;
	uint8_t ndigits;                 /* length of digits[] */
	char digits[IMEI_MAX_DIGITS + 1];/* normalised: decimal, or upper-case hex (MEID, ESN) */
	char key[15];                    /* IMEI kinds: the 14-digit identity (TAC+SNR) */
	char tac[9];                     /* IMEI kinds */
	char snr[7];                     /* IMEI kinds */
	char svn[3];                     /* IMEISV only */
	char rbi[3];                     /* IMEI kinds: the reporting body, first two TAC digits */
	char cd;                         /* the check digit as given, 0 if absent */
	char cd_expected;                /* the check digit the body calls for (IMEI kinds, MEID) */
	bool cd_ok;                      /* cd present and equal to cd_expected */
	bool decimal_form;               /* MEID/ESN given in decimal (18 / 11 digits) */
	uint32_t pesn;                   /* MEID: the pseudo-ESN; ESN: the ESN itself */
};

/* Why a parse failed; pos is 1-based in the input, 0 when not about one place. */
enum imei_err {
	IMEI_OK = 0,
	IMEI_ERR_EMPTY,
	IMEI_ERR_CHAR,      /* a byte that is not a digit, space or hyphen */
	IMEI_ERR_HEX,       /* hex digits where an IMEI needs decimal ones */
	IMEI_ERR_LENGTH,
	IMEI_ERR_TOO_LONG,  /* more digits than any identifier has */
	IMEI_ERR_PEI,       /* a PEI prefix whose value does not fit it */
	IMEI_ERR_NOT_EQUIPMENT /* a PEI of another type (mac-, eui-) */
};

struct imei_error {
	enum imei_err code;
	size_t pos;
	char msg[96];
};

/* Parse s[0..len). Spaces and hyphens are allowed anywhere, surrounding white space is
 * ignored, and the PEI prefixes "imei-" and "imeisv-" are understood. Returns IMEI_OK
 * and fills *id, or an error code and fills *err (which may be NULL). */
enum imei_err imei_parse(const char *s, size_t len, struct imei_id *id, struct imei_error *err);

/* imei.valid(): an IMEI kind, and a 15-digit value has the right check digit. */
bool imei_valid(const char *s, size_t len);

/* The fast path: exactly 15 decimal digits with a correct Luhn check digit. */
bool imei_valid15(const char *s, size_t len);

/* Luhn over a decimal digit string of any length (the last digit is the check digit).
 * False for an empty string or any non-digit. */
bool imei_luhn(const char *s, size_t len);

/* The Luhn check digit ('0'..'9') for a decimal body of any length >= 1, or 0 when
 * the body has a non-digit. TS 23.003 Annex B for a 14-digit IMEI body. */
char imei_check_digit(const char *body, size_t len);

/* The Luhn check digit in base 16 for a 14-hex-digit MEID ('0'..'9', 'A'..'F'). */
char imei_meid_check_digit(const char *hex14);

/* The pseudo-ESN of a MEID: 0x80 in the top byte, then the low 24 bits of SHA-1
 * over the 7 MEID octets (3GPP2 X.S0008). */
uint32_t imei_meid_pesn(const char *hex14);

/* Reporting Body Identifier names (GSMA TS.06): "BABT", "TAF", … or NULL if unassigned. */
const char *imei_rbi_name(const char rbi[2]);
/* True for RBIs that only test equipment carries (00, 02–09). */
bool imei_rbi_is_test(const char rbi[2]);

const char *imei_kind_name(enum imei_kind kind);
const char *imei_junk_name(enum imei_junk junk);

#endif
