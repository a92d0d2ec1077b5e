/*
 * replay_pool.c — the text pool of a replay (replay_state.h): identities that are not
 * IMEIs (a MEID, an ESN, a malformed value) kept once each as text, numbered from
 * IMEI_REPLAY_TEXT_BASE up, so a pair can name them with one number.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replay_state.h"

/* ---- the text pool ----------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

long imei_replay_pool_find(const struct text_pool *p, const char *s, size_t n, size_t *slot)
{
	if (!p->nslots)
		return -1;
	size_t mask = p->nslots - 1, i = (size_t)hash_bytes(s, n) & mask;
	for (;; i = (i + 1) & mask) {
		uint32_t v = p->slots[i];
		if (!v) {
			if (slot)
				*slot = i;
			return -1;
		}
		const char *t = replay_pool_text(p, v - 1);
		if (strlen(t) == n && memcmp(t, s, n) == 0)
			return (long)(v - 1);
	}
}

static int pool_grow_slots(struct text_pool *p)
{
	size_t n = p->nslots ? p->nslots * 2 : 1024;
	uint32_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const char *t = replay_pool_text(p, i);
		size_t j = (size_t)hash_bytes(t, strlen(t)) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(p->slots);
	p->slots = slots;
	p->nslots = n;
	return 0;
}

/* The index of text s (added when new), or -1 when out of memory. */
long imei_replay_pool_intern(struct text_pool *p, const char *s, size_t n, uint8_t kind)
{
	size_t slot;
	long found = imei_replay_pool_find(p, s, n, &slot);
	if (found >= 0)
		return found;
	if ((p->n + 1) * 4 >= p->nslots * 3) {
		if (pool_grow_slots(p) < 0)
			return -1;
		imei_replay_pool_find(p, s, n, &slot);
	}
	if (p->used + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 65536;
		while (cap < p->used + n + 1)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -1;
		char *a = realloc(p->arena, cap);
		if (!a)
			return -1;
		p->arena = a;
		p->cap = cap;
	}
	if (p->n == p->ncap) {
		size_t ncap = p->ncap ? p->ncap * 2 : 256;
		uint32_t *offs = realloc(p->offs, ncap * sizeof *offs);
		if (!offs)
			return -1;
		p->offs = offs;
		uint8_t *kinds = realloc(p->kinds, ncap);
		if (!kinds)
			return -1;
		p->kinds = kinds;
		p->ncap = ncap;
	}
	memcpy(p->arena + p->used, s, n);
	p->arena[p->used + n] = 0;
	p->offs[p->n] = (uint32_t)p->used;
	p->kinds[p->n] = kind;
	p->used += n + 1;
	p->slots[slot] = (uint32_t)p->n + 1;
	return (long)p->n++;
}
