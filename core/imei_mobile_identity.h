/*
 * imei_mobile_identity.h — binary encodings of equipment identities, as signalling stacks carry them.
 *
 *   TS 24.008 §10.5.1.4 Mobile Identity (value part, octet 3 onwards): digit 1 in bits
 *     8-5 of the first octet, odd/even in bit 4 (1 = odd), type in bits 3-1 (IMSI 1,
 *     IMEI 2, IMEISV 3, TMSI 4); then TBCD, two digits an octet, the earlier digit in the
 *     low nibble; an even count ends with filler 0xF in the last high nibble.
 *   TS 24.501 §9.11.3.4 5GS mobile identity: same layout for IMEI (type 3) and IMEISV
 *     (type 5); SUCI 1, 5G-GUTI 2, 5G-S-TMSI 4, MAC address 6, EUI-64 7.
 *   TS 29.002 MAP IMEI ::= TBCD-STRING (SIZE (8)): 14 digits, then the SVN, or the digit 0
 *     and a filler when there is no SVN.
 */
#ifndef IMEI_MI_H
#define IMEI_MI_H

#include <stddef.h>
#include <stdint.h>

#include "imei_identity.h"

enum imei_mi_spec { IMEI_MI_24008 = 0, IMEI_MI_24501, IMEI_MI_MAP };

/* Identity types, independent of the code a spec gives them. */
enum imei_mi_type {
	IMEI_MI_NONE = 0,
	IMEI_MI_IMSI,
	IMEI_MI_IMEI,
	IMEI_MI_IMEISV,
	IMEI_MI_TMSI,      /* 24.008 TMSI/P-TMSI/M-TMSI */
	IMEI_MI_SUCI,      /* 24.501: reported, not decoded */
	IMEI_MI_GUTI,      /* 24.501 5G-GUTI: reported, not decoded */
	IMEI_MI_S_TMSI,    /* 24.501 5G-S-TMSI: reported, not decoded */
	IMEI_MI_MAC,       /* 24.501 MAC address */
	IMEI_MI_EUI64,     /* 24.501 EUI-64 */
	IMEI_MI_TMGI       /* 24.008 TMGI: reported, not decoded */
};

#define IMEI_MI_MAX_OCTETS 16

struct imei_mi {
	enum imei_mi_type type;
	uint8_t type_code;      /* the code as found in the octet */
	uint8_t ndigits;        /* digits for IMSI/IMEI/IMEISV */
	char digits[20];        /* decimal digits, or lower-case hex for the other types */
	uint8_t nraw;           /* octets of value after the first, for non-digit types */
};

/* Decode the value part of a Mobile Identity. Never reads past buf[len). */
enum imei_err imei_mi_decode(const uint8_t *buf, size_t len, enum imei_mi_spec spec,
                             struct imei_mi *mi, struct imei_error *err);

/* Encode digits (IMSI, IMEI 14/15 digits, IMEISV 16) as spec lays them out.
 * Returns the number of octets written to out (at most IMEI_MI_MAX_OCTETS), or 0 and
 * fills *err. */
size_t imei_mi_encode(enum imei_mi_type type, const char *digits, size_t n, enum imei_mi_spec spec,
                      uint8_t out[IMEI_MI_MAX_OCTETS], struct imei_error *err);

const char *imei_mi_type_name(enum imei_mi_type type);

#endif
