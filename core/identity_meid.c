/*
 * identity_meid.c — the pseudo-ESN of a MEID (3GPP2 X.S0008 / C.S0072): the reserved
 * manufacturer code 0x80 followed by the low 24 bits of SHA-1 over the 7 MEID octets.
 * SHA-1 comes from Debian's nettle.
 */
#include <nettle/sha1.h>

#include "imei_identity.h"

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c & ~0x20) - 'A' + 10;
}

uint32_t imei_meid_pesn(const char *hex14)
{
	uint8_t octets[7], digest[SHA1_DIGEST_SIZE];
	for (int i = 0; i < 7; i++)
		octets[i] = (uint8_t)(hexval(hex14[2 * i]) << 4 | hexval(hex14[2 * i + 1]));
	struct sha1_ctx ctx;
	sha1_init(&ctx);
	sha1_update(&ctx, sizeof octets, octets);
	sha1_digest(&ctx, sizeof digest, digest);
	return 0x80000000u | (uint32_t)digest[17] << 16 | (uint32_t)digest[18] << 8 | digest[19];
}
