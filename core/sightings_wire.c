/*
 * sightings_wire.c — the bytes a persistent backend stores for aggregates and pairings.
 *
 *   sighting key   24 bytes: key, IMSI, MSISDN as big-endian u64 (sorted by device)
 *   sighting value 25 bytes: version 1, first u32, last u32, days u64, operator u32,
 *                  RATs u16, days seen u16 (little-endian)
 *   pairing key    16 bytes: key, IMSI (big-endian u64)
 *   pairing value   9 bytes: version 1, MSISDN u64 (little-endian)
 *
 * Stored bytes are not trusted: a decoder checks lengths, the version and every field
 * (sightings_agg.c states the invariants) and says what is wrong.
 */
#include <string.h>

#include "imei_sightings.h"

#define WIRE_VERSION 1

static void put64be(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xFF);
		v >>= 8;
	}
}

uint64_t imei_wire_get64be(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++) {
		p[i] = (unsigned char)(v & 0xFF);
		v >>= 8;
	}
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void imei_wire_skey(uint64_t key, uint64_t imsi, uint64_t msisdn, unsigned char out[IMEI_WIRE_SKEY])
{
	put64be(out, key);
	put64be(out + 8, imsi);
	put64be(out + 16, msisdn);
}

void imei_wire_sval(const struct imei_sighting_agg *a, unsigned char out[IMEI_WIRE_SVAL])
{
	out[0] = WIRE_VERSION;
	put_le(out + 1, a->first, 4);
	put_le(out + 5, a->last, 4);
	put_le(out + 9, a->days, 8);
	put_le(out + 17, a->op, 4);
	put_le(out + 21, a->rats, 2);
	put_le(out + 23, a->ndays, 2);
}

static bool fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return false;
}

bool imei_wire_sdecode(const void *k, size_t klen, const void *v, size_t vlen, struct imei_sighting_agg *a,
                       const char **why)
{
	const unsigned char *kp = k, *vp = v;
	if (klen != IMEI_WIRE_SKEY)
		return fail(why, "sighting key is not 24 bytes");
	if (vlen != IMEI_WIRE_SVAL)
		return fail(why, "sighting value is not 25 bytes");
	if (vp[0] != WIRE_VERSION)
		return fail(why, "sighting value of an unknown version");
	a->key = imei_wire_get64be(kp);
	a->imsi = imei_wire_get64be(kp + 8);
	a->msisdn = imei_wire_get64be(kp + 16);
	a->first = (uint32_t)get_le(vp + 1, 4);
	a->last = (uint32_t)get_le(vp + 5, 4);
	a->days = get_le(vp + 9, 8);
	a->op = (uint32_t)get_le(vp + 17, 4);
	a->rats = (uint16_t)get_le(vp + 21, 2);
	a->ndays = (uint16_t)get_le(vp + 23, 2);
	return imei_agg_valid(a, why);
}

void imei_wire_pkey(uint64_t key, uint64_t imsi, unsigned char out[IMEI_WIRE_PKEY])
{
	put64be(out, key);
	put64be(out + 8, imsi);
}

void imei_wire_pval(uint64_t msisdn, unsigned char out[IMEI_WIRE_PVAL])
{
	out[0] = WIRE_VERSION;
	put_le(out + 1, msisdn, 8);
}

bool imei_wire_pdecode(const void *k, size_t klen, const void *v, size_t vlen, struct imei_pairing *p,
                       const char **why)
{
	const unsigned char *kp = k, *vp = v;
	if (klen != IMEI_WIRE_PKEY)
		return fail(why, "pairing key is not 16 bytes");
	if (vlen != IMEI_WIRE_PVAL)
		return fail(why, "pairing value is not 9 bytes");
	if (vp[0] != WIRE_VERSION)
		return fail(why, "pairing value of an unknown version");
	p->key = imei_wire_get64be(kp);
	p->imsi = imei_wire_get64be(kp + 8);
	p->msisdn = get_le(vp + 1, 8);
	if (!imei_sight_key_ok(p->key))
		return fail(why, "pairing key out of range");
	if (!imei_sight_digits_ok(p->imsi, IMEI_SIGHT_IMSI_MIN, IMEI_SIGHT_IMSI_MAX))
		return fail(why, "pairing IMSI not a valid encoding");
	if (p->msisdn && !imei_sight_digits_ok(p->msisdn, IMEI_SIGHT_MSISDN_MIN, IMEI_SIGHT_MSISDN_MAX))
		return fail(why, "pairing MSISDN not a valid encoding");
	return true;
}
