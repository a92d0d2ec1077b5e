/*
 * s13_ident.h — what an ME-Identity-Check-Request identifies (3GPP TS 29.272 §5.2.4),
 * as plain functions with no Diameter library, so tests and fuzz targets can drive them.
 *
 * Terminal-Information (§7.3.3) carries IMEI (§7.3.4: 14 digits, TAC + SNR, "may also
 * include a 15th digit") with an optional Software-Version (§7.3.5: the 2-digit SVN; with
 * it the identity is an IMEISV, TS 23.003 §6.2.2), or 3GPP2-MEID (§7.3.6: the octets 3 to
 * 10 of the Mobile Identity of 3GPP2 A.S0022, i.e. 14 hex digits in TBCD with a type of
 * identity of 5). The EIR identifies the ME by the first 14 digits of the IMEI (§5.2.4.1);
 * a 15th digit is kept for the policy, which reports a wrong check digit and ignores it.
 * User-Name (RFC 6733 §8.14; TS 29.272 §5.2.4.1.1) carries the IMSI: 6 to 15 digits
 * (TS 23.003 §2.2).
 */
#ifndef EIRD_S13_IDENT_H
#define EIRD_S13_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the request carried; a NULL pointer is an absent AVP (an empty one is present). */
struct s13_ident_in {
	bool has_terminal_information;
	const uint8_t *imei, *software_version, *meid, *user_name;
	size_t imei_len, software_version_len, meid_len, user_name_len;
};

enum s13_ident_fault {
	S13_ID_OK = 0,
	S13_ID_NO_TERMINAL_INFORMATION, /* 5005, Failed-AVP: an empty Terminal-Information */
	S13_ID_NO_IDENTITY,             /* 5005, Failed-AVP: an empty IMEI */
	S13_ID_BAD_IMEI,                /* 5004, Failed-AVP: the IMEI as received */
	S13_ID_BAD_SOFTWARE_VERSION,    /* 5004, Failed-AVP: the Software-Version */
	S13_ID_BAD_MEID,                /* 5004, Failed-AVP: the 3GPP2-MEID */
	S13_ID_BAD_USER_NAME            /* 5004, Failed-AVP: the User-Name */
};

struct s13_ident {
	enum s13_ident_fault fault;
	const char *why;     /* for the Error-Message AVP and the log; NULL when fault is OK */
	char pei[32];        /* "imei-<15>", "<14 digits>", "imeisv-<16>" or "<14 hex>" (MEID) */
	char imsi[16];       /* the User-Name's digits, or "" */
};

/* Decide what the request identifies. Always fills *out; returns out->fault. */
enum s13_ident_fault s13_ident_read(const struct s13_ident_in *in, struct s13_ident *out);

/* The 14 hex digits of a MEID in the A.S0022 Mobile Identity layout (8 octets, type 5).
 * Returns true and fills hex[15] ('0'..'9', 'A'..'F' and a NUL), or false. */
bool s13_meid_decode(const uint8_t *p, size_t n, char hex[15]);

/* The same 14 hex digits encoded into 8 octets (the test MME sends them). */
void s13_meid_encode(const char hex[14], uint8_t out[8]);

#endif
