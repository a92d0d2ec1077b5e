/*
 * n5g.h — the N5g-eir Equipment Identity Check API (3GPP TS 29.511) as plain functions:
 * query parsing with percent-decoding (RFC 3986 §2.1), the PEI / SUPI / GPSI shapes of
 * TS 29.571 §5.3.2, and the response bodies: EirResponseData and ProblemDetails with
 * InvalidParam (TS 29.571 §5.2.4.1). No I/O here, so tests and fuzz targets can drive it.
 */
#ifndef EIRD_N5G_H
#define EIRD_N5G_H

#include <stdbool.h>
#include <stddef.h>

#include "ebuf.h"


#define N5G_PATH "/n5g-eir-eic/v1/equipment-status"
#define N5G_VALUE_MAX 128 /* bytes of a decoded query value we keep */
#define N5G_PEI_MAX 64    /* a longer PEI is malformed */

/* Percent-decode src[0..n) into dst (room for n bytes); returns the decoded length, or
 * -1 for a '%' not followed by two hex digits or a decoded NUL byte. '+' stays '+'
 * (RFC 3986 query, not HTML forms). */
long n5g_pct_decode(const char *src, size_t n, char *dst);

struct n5g_invalid {
	const char *param;  /* "query pei" (TS 29.571: "query " + the parameter's name) */
	const char *reason; /* for people */
};

#define N5G_MAX_INVALID 6

struct n5g_query {
	char pei[N5G_VALUE_MAX + 1], supi[N5G_VALUE_MAX + 1], gpsi[N5G_VALUE_MAX + 1];
	bool has_pei, has_supi, has_gpsi;
	/* what is wrong with the query: empty when it may be checked */
	size_t ninvalid;
	struct n5g_invalid invalid[N5G_MAX_INVALID];
	bool mandatory_missing;   /* no pei */
	bool mandatory_incorrect; /* pei given but malformed */
	/* the request fields derived from a valid query */
	char imsi[16], msisdn[16];
	bool not_equipment; /* a well-formed MAC or EUI-64 PEI: no mobile equipment to check */
};

/* Parse and validate the query string (the part after '?', without it; NULL or empty for
 * none). Fills q; q->ninvalid == 0 means the request may go to the engine. */
void n5g_parse_query(const char *query, size_t len, struct n5g_query *q);

/* Shape checks of TS 29.571 §5.3.2 on decoded values: NULL when acceptable, else why. */
const char *n5g_pei_problem(const char *pei, size_t len);
const char *n5g_supi_problem(const char *supi, size_t len);
const char *n5g_gpsi_problem(const char *gpsi, size_t len);

/* Bodies. */
void n5g_status_body(struct ebuf *b, const char *status);
/* ProblemDetails: title, status, detail, cause, and invalidParams when n > 0. */
void n5g_problem_body(struct ebuf *b, int http_status, const char *title, const char *detail, const char *cause,
                      const struct n5g_invalid *inv, size_t n);

#endif
