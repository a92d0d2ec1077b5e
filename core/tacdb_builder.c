/*
 * tacdb_builder.c — the mutable side of the TAC database: records are added (or replaced)
 * by key, strings interned, until imei_tacdb_freeze() turns the lot into an image.
 * Keys are 1 to 14 decimal digits, packed with their length into 64 bits, and found
 * through an open-addressing hash table of (key, entry number). The string table is the
 * one the frozen image gets: strings of records later replaced stay in it, a small cost
 * for not interning everything twice.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tacdb_format.h"

struct imei_tacdb_builder {
	enum imei_tacdb_dup dup;
	struct tac_entry *ent;
	size_t nent, capent;
	struct bslot {
		uint64_t key;
		uint32_t ent; /* entry index + 1, 0 = free */
	} *slots;
	size_t nslots;
	struct tac_kv *kv;
	size_t nkv, capkv;
	struct tac_intern strings;
};

static int fail(struct imei_tacdb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct imei_tacdb_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

struct imei_tacdb_builder *imei_tacdb_builder_new(enum imei_tacdb_dup dup)
{
	struct imei_tacdb_builder *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->dup = dup;
	imei_tac_intern_init(&b->strings);
	uint32_t empty;
	if (!imei_tac_intern(&b->strings, "", 0, &empty)) {
		free(b);
		return NULL;
	}
	return b;
}

void imei_tacdb_builder_free(struct imei_tacdb_builder *b)
{
	if (!b)
		return;
	free(b->ent);
	free(b->slots);
	free(b->kv);
	imei_tac_intern_free(&b->strings);
	free(b);
}

size_t imei_tacdb_builder_count(const struct imei_tacdb_builder *b)
{
	return b->nent;
}

void imei_tac_builder_view(const struct imei_tacdb_builder *b, const struct tac_entry **ent, size_t *nent,
                      const struct tac_kv **kv, const char **pool, size_t *pool_size)
{
	*ent = b->ent;
	*nent = b->nent;
	*kv = b->kv;
	*pool = b->strings.pool;
	*pool_size = b->strings.len;
}

static size_t slot_of(uint64_t key, size_t nslots)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & (nslots - 1);
}

static bool grow_slots(struct imei_tacdb_builder *b)
{
	size_t n = b->nslots ? b->nslots * 2 : 1024;
	struct bslot *slots = calloc(n, sizeof *slots);
	if (!slots)
		return false;
	for (size_t i = 0; i < b->nslots; i++) {
		if (!b->slots[i].ent)
			continue;
		size_t j = slot_of(b->slots[i].key, n);
		while (slots[j].ent)
			j = (j + 1) & (n - 1);
		slots[j] = b->slots[i];
	}
	free(b->slots);
	b->slots = slots;
	b->nslots = n;
	return true;
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 256;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / size)
		return false;
	void *q = realloc(*p, n * size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

static bool valid_date(uint32_t date)
{
	static const unsigned char mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (date == 0)
		return true;
	uint32_t y = date / 10000, m = date / 100 % 100, d = date % 100;
	if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return !(m == 2 && d == 29 && !leap);
}

static int intern_checked(struct imei_tacdb_builder *b, const char *s, size_t len, const char *what, uint32_t *off,
                          struct imei_tacdb_error *err)
{
	if (len && !s)
		return fail(err, "%s: NULL with length %zu", what, len);
	if (len && memchr(s, '\0', len))
		return fail(err, "%s contains a NUL byte", what);
	if (!imei_tac_intern(&b->strings, s, len, off))
		return fail(err, "out of memory (string table)");
	return 0;
}

int imei_tacdb_builder_add(struct imei_tacdb_builder *b, const char *key, size_t key_len,
                           const struct imei_tac_fields *f, uint32_t tag, uint32_t *prev_tag,
                           struct imei_tacdb_error *err)
{
	if (key_len < 1 || key_len > IMEI_TACDB_KEY_MAX)
		return fail(err, "key of %zu digits: a key has 1 to %d", key_len, IMEI_TACDB_KEY_MAX);
	uint64_t value = 0;
	for (size_t i = 0; i < key_len; i++) {
		if (key[i] < '0' || key[i] > '9')
			return fail(err, "key: character %zu is not a decimal digit", i + 1);
		value = value * 10 + (uint64_t)(key[i] - '0');
	}
	if (!valid_date(f->date))
		return fail(err, "allocation date %u is not a date YYYYMMDD", (unsigned)f->date);
	if (f->rat > 0xF)
		return fail(err, "RAT mask 0x%x has unknown bits", (unsigned)f->rat);
	uint64_t packed = tac_key_pack(value, (unsigned)key_len);

	if ((b->nent + 1) * 2 > b->nslots && !grow_slots(b))
		return fail(err, "out of memory (key table)");
	size_t j = slot_of(packed, b->nslots);
	while (b->slots[j].ent && b->slots[j].key != packed)
		j = (j + 1) & (b->nslots - 1);
	struct tac_entry *e = NULL;
	int status = 0;
	if (b->slots[j].ent) {
		e = &b->ent[b->slots[j].ent - 1];
		if (prev_tag)
			*prev_tag = e->tag;
		if (b->dup == IMEI_TACDB_KEEP_FIRST)
			return 1;
		status = 1;
	}

	struct tac_entry n = { .key = packed, .date = f->date, .rat = f->rat, .tag = tag };
	for (int i = 0; i < IMEI_TAC_NFIELDS; i++)
		if (intern_checked(b, f->str[i], f->len[i], imei_tac_field_name((enum imei_tac_field)i), &n.str[i], err))
			return -1;
	if (f->nextra > UINT32_MAX || b->nkv + f->nextra > UINT32_MAX)
		return fail(err, "too many extra columns");
	if (!grow((void **)&b->kv, &b->capkv, b->nkv + f->nextra, sizeof *b->kv))
		return fail(err, "out of memory (extra columns)");
	n.kv_first = (uint32_t)b->nkv;
	n.kv_n = (uint32_t)f->nextra;
	for (size_t i = 0; i < f->nextra; i++) {
		const struct imei_tac_kv *kv = &f->extra[i];
		if (kv->key_len == 0)
			return fail(err, "extra column %zu has no name", i + 1);
		if (intern_checked(b, kv->key, kv->key_len, "extra column name", &b->kv[b->nkv + i].key, err) ||
		    intern_checked(b, kv->value, kv->value_len, "extra column value", &b->kv[b->nkv + i].value, err))
			return -1;
	}
	if (!e) {
		if (b->nent >= UINT32_MAX - 1)
			return fail(err, "too many records");
		if (!grow((void **)&b->ent, &b->capent, b->nent + 1, sizeof *b->ent))
			return fail(err, "out of memory (records)");
		b->slots[j].key = packed;
		b->slots[j].ent = (uint32_t)b->nent + 1;
		e = &b->ent[b->nent++];
	}
	b->nkv += f->nextra;
	*e = n;
	return status;
}
