/*
 * sightings_snapshot.c — a store's aggregates and pairings as one byte string, and back
 * into a memory store (imei_sightings.h). `imei classify` keeps the sightings of its runs
 * this way, inside the register's LMDB transaction (lua/imei/classify/register.lua): the
 * run records into a memory store at memory speed, and the state stays one atomic commit.
 *
 * Layout, little-endian: "IMEISNP1" | u64 aggregates | u64 pairings | aggregates (48 bytes:
 * key, imsi, msisdn, days u64; first, last, op u32; rats, ndays u16) | pairings (24 bytes:
 * key, imsi, msisdn u64) | u64 FNV-1a of everything before it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_sightings.h"

#define RESTORE_BATCH 256 /* aggregates put at a time: one lock, overlapped misses */

#define MAGIC "IMEISNP1"
#define HEAD 24
#define AGG 48
#define PAIR 24

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

struct buf {
	unsigned char *p;
	size_t n, cap;
	bool fixed; /* p is the caller's, cap bytes: it never grows */
};

static int grow(struct buf *b, size_t more, struct imei_store_error *err)
{
	if (b->n + more <= b->cap)
		return 0;
	if (b->fixed)
		return imei_store_fail(err, IMEI_STORE_EINVAL,
		                       "snapshot: the store holds more than when its size was taken (%zu bytes)", b->cap);
	size_t cap = b->cap ? b->cap : 1 << 16;
	while (cap < b->n + more)
		cap *= 2;
	unsigned char *p = realloc(b->p, cap);
	if (!p)
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "snapshot: out of memory for %zu bytes", cap);
	b->p = p;
	b->cap = cap;
	return 0;
}

/* Every entry of one kind appended; their count, or -1. */
static long long dump_kind(struct imei_store *st, enum imei_iter_kind kind, struct buf *b, struct imei_store_error *err)
{
	struct imei_store_iter *it = imei_store_iter_open(st, kind, err);
	if (!it)
		return -1;
	long long count = 0;
	struct imei_sighting_agg a;
	int rc;
	size_t size = kind == IMEI_ITER_PAIRINGS ? PAIR : AGG;
	while ((rc = imei_store_iter_next(it, &a, err)) == 1) {
		if (grow(b, size, err) < 0) {
			rc = -1;
			break;
		}
		unsigned char *p = b->p + b->n;
		put64(p, a.key);
		put64(p + 8, a.imsi);
		put64(p + 16, a.msisdn);
		if (kind == IMEI_ITER_PAIRINGS) {
			b->n += PAIR;
		} else {
			put64(p + 24, a.days);
			put32(p + 32, a.first);
			put32(p + 36, a.last);
			put32(p + 40, a.op);
			p[44] = (unsigned char)a.rats;
			p[45] = (unsigned char)(a.rats >> 8);
			p[46] = (unsigned char)a.ndays;
			p[47] = (unsigned char)(a.ndays >> 8);
			b->n += AGG;
		}
		count++;
	}
	imei_store_iter_close(it);
	return rc < 0 ? -1 : count;
}

/* The snapshot into b (from its start): the header, every aggregate, every pairing, the
 * checksum. */
static int take(struct imei_store *st, struct buf *b, struct imei_store_error *err)
{
	if (grow(b, HEAD, err) < 0)
		return -1;
	b->n = HEAD;
	long long naggs = dump_kind(st, IMEI_ITER_SIGHTINGS, b, err);
	long long npairs = naggs < 0 ? -1 : dump_kind(st, IMEI_ITER_PAIRINGS, b, err);
	if (npairs < 0 || grow(b, 8, err) < 0)
		return -1;
	memcpy(b->p, MAGIC, 8);
	put64(b->p + 8, (uint64_t)naggs);
	put64(b->p + 16, (uint64_t)npairs);
	put64(b->p + b->n, fnv1a(b->p, b->n));
	b->n += 8;
	return 0;
}

int imei_store_snapshot(struct imei_store *st, unsigned char **out, size_t *len, struct imei_store_error *err)
{
	struct buf b = { 0 };
	if (take(st, &b, err) < 0) {
		free(b.p);
		return -1;
	}
	*out = b.p;
	*len = b.n;
	return 0;
}

int imei_store_snapshot_size(struct imei_store *st, size_t *len, struct imei_store_error *err)
{
	struct imei_store_stats s;
	if (imei_store_stats(st, &s, err) < 0)
		return -1;
	if (s.aggregates > (SIZE_MAX - HEAD - 8) / 2 / AGG || s.pairings > (SIZE_MAX - HEAD - 8) / 2 / PAIR)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "snapshot: too large");
	*len = HEAD + (size_t)s.aggregates * AGG + (size_t)s.pairings * PAIR + 8;
	return 0;
}

int imei_store_snapshot_into(struct imei_store *st, unsigned char *dst, size_t len, struct imei_store_error *err)
{
	struct buf b = { .p = dst, .cap = len, .fixed = true };
	if (take(st, &b, err) < 0)
		return -1;
	if (b.n != len)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "snapshot: %zu bytes, not the %zu its size said", b.n, len);
	return 0;
}

int imei_store_restore(struct imei_store *st, const unsigned char *buf, size_t len, struct imei_store_error *err)
{
	if (len < HEAD + 8 || memcmp(buf, MAGIC, 8) != 0)
		return imei_store_fail(err, IMEI_STORE_ECORRUPT, "snapshot: not a sightings snapshot (%zu bytes)", len);
	uint64_t naggs = get64(buf + 8), npairs = get64(buf + 16);
	if (naggs > (len - HEAD - 8) / AGG || npairs > (len - HEAD - 8) / PAIR ||
	    HEAD + naggs * AGG + npairs * PAIR + 8 != len)
		return imei_store_fail(err, IMEI_STORE_ECORRUPT,
		                       "snapshot: %zu bytes do not hold the %llu aggregates and %llu pairings it announces", len,
		                       (unsigned long long)naggs, (unsigned long long)npairs);
	if (fnv1a(buf, len - 8) != get64(buf + len - 8))
		return imei_store_fail(err, IMEI_STORE_ECORRUPT, "snapshot: damaged (checksum mismatch)");
	/* room for them all at once (and a frozen store refuses here, before anything) */
	if (imei_store_reserve(st, (size_t)naggs, err) < 0)
		return -1;
	const unsigned char *p = buf + HEAD;
	struct imei_sighting_agg batch[RESTORE_BATCH];
	size_t nb = 0;
	for (uint64_t i = 0; i < naggs; i++, p += AGG) {
		batch[nb++] = (struct imei_sighting_agg){
			.key = get64(p), .imsi = get64(p + 8), .msisdn = get64(p + 16), .days = get64(p + 24),
			.first = get32(p + 32), .last = get32(p + 36), .op = get32(p + 40),
			.rats = (uint16_t)(p[44] | p[45] << 8), .ndays = (uint16_t)(p[46] | p[47] << 8),
		};
		if ((nb == RESTORE_BATCH || i + 1 == naggs) && imei_store_put_aggs(st, batch, nb, err) < 0)
			return -1;
		if (nb == RESTORE_BATCH)
			nb = 0;
	}
	for (uint64_t i = 0; i < npairs; i++, p += PAIR)
		if (imei_store_pair(st, get64(p), get64(p + 8), get64(p + 16), err) < 0)
			return -1;
	return 0;
}
