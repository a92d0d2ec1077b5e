/*
 * tacdb_checksum.c — the 64-bit checksum of a TAC database image: eight independent lanes,
 * one multiply and one rotation per 8-byte word (so as fast as memory delivers the
 * image), then a final mix (the xxHash64 avalanche). The rotation makes each lane depend
 * on the order of its words; any flipped byte changes the result. The header's checksum
 * field (bytes 24..31) is read as zero. Streaming, so that validation can check what the
 * checksum has just brought into the cache.
 */
#include <string.h>

#include "tacdb_format.h"

#define P1 11400714785074694791ULL
#define P2 14029467366897019727ULL
#define P3 1609587929392839161ULL
#define P4 9650029242287828579ULL
#define P5 2870177450012600261ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

void imei_tac_ck_init(struct tac_ck *c)
{
	const uint64_t seed[8] = { P1, P2, P3, P4, P5, P1 ^ P2, P2 ^ P3, P3 ^ P4 };
	memcpy(c->v, seed, sizeof seed);
}

void imei_tac_ck_blocks(struct tac_ck *c, const unsigned char *img, size_t from, size_t to)
{
	uint64_t v[8], w[8];
	memcpy(v, c->v, sizeof v);
	for (size_t i = from; i + 64 <= to; i += 64) {
		memcpy(w, img + i, 64);
		if (i == 0)
			w[offsetof(struct tac_header, checksum) / 8] = 0;
		for (int k = 0; k < 8; k++)
			v[k] = rotl64(v[k] + w[k] * P2, 31);
	}
	memcpy(c->v, v, sizeof v);
}

uint64_t imei_tac_ck_final(const struct tac_ck *c, const unsigned char *img, size_t size)
{
	uint64_t h = (uint64_t)size * P5;
	for (int k = 0; k < 8; k++)
		h = rotl64(h ^ (c->v[k] * P1), 27) * P1 + P4;
	for (size_t i = size & ~(size_t)63; i < size; i++) {
		unsigned char b = img[i];
		if (size < 64 && i >= offsetof(struct tac_header, checksum) && i < offsetof(struct tac_header, checksum) + 8)
			b = 0;
		h ^= b * P5;
		h = rotl64(h, 11) * P1;
	}
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	h ^= h >> 32;
	return h;
}

uint64_t imei_tac_checksum(const unsigned char *img, size_t size)
{
	struct tac_ck c;
	imei_tac_ck_init(&c);
	imei_tac_ck_blocks(&c, img, 0, size & ~(size_t)63);
	return imei_tac_ck_final(&c, img, size);
}
