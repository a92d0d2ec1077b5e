/*
 * tacdb_intern.c — the string table of a TAC database: every distinct string stored once,
 * NUL-terminated, addressed by its 32-bit offset. Brands, device types, operating systems
 * and band lists repeat across thousands of TACs, so interning keeps images small.
 * Offset 0 is always the empty string. Open addressing, linear probing, FNV-1a.
 */
#include <stdlib.h>
#include <string.h>

#include "tacdb_format.h"

#define POOL_LIMIT ((size_t)UINT32_MAX) /* offsets are 32 bits */

void imei_tac_intern_init(struct tac_intern *t)
{
	memset(t, 0, sizeof *t);
}

void imei_tac_intern_free(struct tac_intern *t)
{
	free(t->pool);
	free(t->slots);
	memset(t, 0, sizeof *t);
}

static uint32_t hash_of(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h ? h : 1;
}

static bool grow_slots(struct tac_intern *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 1024;
	struct tac_slot *slots = calloc(n, sizeof *slots);
	if (!slots)
		return false;
	for (size_t i = 0; i < t->nslots; i++) {
		if (!t->slots[i].off)
			continue;
		size_t j = t->slots[i].hash & (n - 1);
		while (slots[j].off)
			j = (j + 1) & (n - 1);
		slots[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = n;
	return true;
}

static bool reserve_pool(struct tac_intern *t, size_t more)
{
	if (more > POOL_LIMIT - t->len)
		return false;
	size_t need = t->len + more;
	if (need <= t->cap)
		return true;
	size_t cap = t->cap ? t->cap : 4096;
	while (cap < need)
		cap = cap > POOL_LIMIT / 2 ? POOL_LIMIT : cap * 2;
	char *pool = realloc(t->pool, cap);
	if (!pool)
		return false;
	t->pool = pool;
	t->cap = cap;
	return true;
}

bool imei_tac_intern(struct tac_intern *t, const char *s, size_t len, uint32_t *off)
{
	if (t->len == 0) {
		if (!reserve_pool(t, 1))
			return false;
		t->pool[t->len++] = '\0';
	}
	if (len == 0) {
		*off = 0;
		return true;
	}
	if ((t->count + 1) * 4 > t->nslots * 3 && !grow_slots(t))
		return false;
	uint32_t h = hash_of(s, len);
	size_t mask = t->nslots - 1, j = h & mask;
	for (; t->slots[j].off; j = (j + 1) & mask) {
		size_t at = t->slots[j].off;
		const char *p = t->pool + at;
		if (t->slots[j].hash == h && t->len - at > len && memcmp(p, s, len) == 0 && p[len] == '\0') {
			*off = t->slots[j].off;
			return true;
		}
	}
	if (!reserve_pool(t, len + 1))
		return false;
	uint32_t at = (uint32_t)t->len;
	memcpy(t->pool + at, s, len);
	t->pool[at + len] = '\0';
	t->len += len + 1;
	t->slots[j].off = at;
	t->slots[j].hash = h;
	t->count++;
	*off = at;
	return true;
}
