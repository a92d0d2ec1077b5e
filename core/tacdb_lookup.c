/*
 * tacdb_lookup.c — longest-prefix lookup in a frozen TAC database, and record access.
 *
 * Two indexes share one key space (decimal prefixes of 1 to 14 digits):
 *   - 8-digit TACs (TS 23.003 §6.2.1), nearly all keys, in a hashed bucket table: the TAC
 *     picks one of at least as many buckets as there are TACs (tac_bucket), and the
 *     bucket's few TACs, stored ascending as uint32, are scanned; a TAC's position is its
 *     record index. 4 bytes per TAC plus 4 to 8 for the bucket table; two cache lines
 *     per lookup.
 *   - every other length (a range rule of 6 digits, a serial range, a 14-digit device) in
 *     a 10-ary trie with compact nodes: a child bitmap and the index of the first child.
 * The answer is the longest matching key: a key of 9-14 digits, else the 8-digit TAC,
 * else a key of 1-7 digits. The trie is walked only when keys of those lengths exist.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tacdb_format.h"

const uint64_t imei_tac_pow10[15] = {
	1ULL,           10ULL,           100ULL,           1000ULL,           10000ULL,
	100000ULL,      1000000ULL,      10000000ULL,      100000000ULL,      1000000000ULL,
	10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
};

static const char *const field_names[IMEI_TAC_NFIELDS] = {
	[IMEI_TAC_BRAND] = "brand",
	[IMEI_TAC_MODEL] = "model",
	[IMEI_TAC_MARKETING_NAME] = "marketing_name",
	[IMEI_TAC_MANUFACTURER] = "manufacturer",
	[IMEI_TAC_DEVICE_TYPE] = "device_type",
	[IMEI_TAC_OS] = "os",
	[IMEI_TAC_BANDS] = "bands",
};

const char *imei_tac_field_name(enum imei_tac_field f)
{
	return (unsigned)f < IMEI_TAC_NFIELDS ? field_names[f] : NULL;
}

size_t imei_tac_key_digits(uint64_t key, char out[IMEI_TACDB_KEY_MAX + 1])
{
	size_t len = tac_key_len(key);
	uint64_t v = tac_key_value(key);
	if (len > IMEI_TACDB_KEY_MAX)
		len = IMEI_TACDB_KEY_MAX;
	for (size_t i = len; i-- > 0;) {
		out[i] = (char)('0' + v % 10);
		v /= 10;
	}
	out[len] = '\0';
	return len;
}

/* The record of 8-digit TAC tac (< 10^8), or IMEI_TACDB_NONE. */
static inline uint32_t dense_find(const struct imei_tacdb *db, uint32_t tac)
{
	uint32_t b = tac_bucket(tac, db->bits);
	uint32_t i = db->top[b], last = db->top[b + 1];
	while (i < last && db->tacs[i] < tac)
		i++;
	return i < last && db->tacs[i] == tac ? i : IMEI_TACDB_NONE;
}

/* Walk the trie along d[0..n): the record of the longest key of fewer than 8 digits
 * (*short_rec) and of more than 8 (*long_rec), IMEI_TACDB_NONE when there is none. */
static void trie_walk(const struct imei_tacdb *db, const char *d, size_t n, uint32_t *short_rec, uint32_t *long_rec)
{
	const struct tac_node *nodes = db->nodes;
	uint32_t node = 0;
	*short_rec = *long_rec = IMEI_TACDB_NONE;
	for (size_t i = 0; i < n; i++) {
		unsigned digit = (unsigned)(d[i] - '0');
		uint32_t bits = nodes[node].bits;
		if (!(bits & (1u << digit)))
			return;
		node = nodes[node].first + (uint32_t)__builtin_popcount(bits & ((1u << digit) - 1));
		uint32_t rec = nodes[node].rec;
		if (rec != IMEI_TACDB_NONE) {
			if (i + 1 < 8)
				*short_rec = rec;
			else
				*long_rec = rec;
		}
	}
}

static inline uint32_t eight_digits(const char *d)
{
	uint32_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v * 10 + (uint32_t)(d[i] - '0');
	return v;
}

uint32_t imei_tacdb_lookup(const struct imei_tacdb *db, const char *digits, size_t len)
{
	size_t n = 0;
	while (n < len && n < IMEI_TACDB_KEY_MAX && digits[n] >= '0' && digits[n] <= '9')
		n++;
	uint32_t short_rec = IMEI_TACDB_NONE, long_rec = IMEI_TACDB_NONE;
	bool walked = false;
	if (db->long_keys && n > 8) {
		trie_walk(db, digits, n, &short_rec, &long_rec);
		if (long_rec != IMEI_TACDB_NONE)
			return long_rec;
		walked = true;
	}
	if (n >= 8) {
		uint32_t rec = dense_find(db, eight_digits(digits));
		if (rec != IMEI_TACDB_NONE)
			return rec;
	}
	if (db->short_keys && !walked)
		trie_walk(db, digits, n < 7 ? n : 7, &short_rec, &long_rec);
	return short_rec;
}

/* A TAC that dense_find missed: the longest key of 1-7 digits that starts it. */
static uint32_t short_prefix(const struct imei_tacdb *db, uint32_t tac)
{
	char d[8];
	for (int i = 7; i >= 0; i--, tac /= 10)
		d[i] = (char)('0' + tac % 10);
	uint32_t short_rec, long_rec;
	trie_walk(db, d, 7, &short_rec, &long_rec);
	return short_rec;
}

uint32_t imei_tacdb_lookup_tac(const struct imei_tacdb *db, uint32_t tac)
{
	if (tac > 99999999u)
		return IMEI_TACDB_NONE;
	uint32_t rec = dense_find(db, tac);
	if (rec != IMEI_TACDB_NONE || !db->short_keys)
		return rec;
	return short_prefix(db, tac);
}

void imei_tacdb_lookup_tacs(const struct imei_tacdb *db, const uint32_t *tacs, size_t n, uint32_t *out)
{
	/* in groups: all bucket starts of a group are fetched before any is used, then all
	 * first TACs, so the cache misses of a group overlap instead of queueing */
	enum { GROUP = 16 };
	for (size_t base = 0; base < n; base += GROUP) {
		size_t m = n - base < GROUP ? n - base : GROUP;
		uint32_t b[GROUP], first[GROUP], last[GROUP];
		for (size_t k = 0; k < m; k++) {
			uint32_t tac = tacs[base + k];
			b[k] = tac_bucket(tac <= 99999999u ? tac : 0, db->bits);
			__builtin_prefetch(&db->top[b[k]]);
		}
		for (size_t k = 0; k < m; k++) {
			first[k] = db->top[b[k]];
			last[k] = db->top[b[k] + 1];
			__builtin_prefetch(&db->tacs[first[k]]);
		}
		for (size_t k = 0; k < m; k++) {
			uint32_t tac = tacs[base + k], i = first[k];
			while (i < last[k] && db->tacs[i] < tac)
				i++;
			uint32_t rec = tac <= 99999999u && i < last[k] && db->tacs[i] == tac ? i : IMEI_TACDB_NONE;
			if (rec == IMEI_TACDB_NONE && db->short_keys && tac <= 99999999u)
				rec = short_prefix(db, tac);
			out[base + k] = rec;
		}
	}
}

static int str_error(struct imei_tacdb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int str_error(struct imei_tacdb_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool prefix_ci(const char *s, size_t len, const char *prefix, size_t plen)
{
	if (len < plen)
		return false;
	for (size_t i = 0; i < plen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)prefix[i])
			return false;
	}
	return true;
}

int imei_tacdb_lookup_str(const struct imei_tacdb *db, const char *s, size_t len, uint32_t *idx,
                          struct imei_tacdb_error *err)
{
	/* the common case: nothing but digits */
	size_t n = 0;
	while (n < len && s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == len && n >= 1 && n <= 16) {
		*idx = imei_tacdb_lookup(db, s, n);
		return 0;
	}
	/* as people write it: spaces, hyphens, a 5G PEI prefix (TS 29.571) */
	char d[16];
	size_t i = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (prefix_ci(s + i, len - i, "imeisv-", 7))
		i += 7;
	else if (prefix_ci(s + i, len - i, "imei-", 5))
		i += 5;
	n = 0;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '-' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c < '0' || c > '9') {
			if (c >= 0x20 && c < 0x7f)
				return str_error(err, "'%c' at position %zu is not a digit", c, i + 1);
			return str_error(err, "byte \\x%02X at position %zu is not a digit", c, i + 1);
		}
		if (n == sizeof d)
			return str_error(err, "more than 16 digits: not a TAC, IMEI or IMEISV");
		d[n++] = (char)c;
	}
	if (n == 0)
		return str_error(err, "no digits: expected a TAC, IMEI or IMEISV");
	*idx = imei_tacdb_lookup(db, d, n);
	return 0;
}

void imei_tacdb_lookup_lines(const struct imei_tacdb *db, const char *buf, size_t len, struct imei_tacdb_bulk *out)
{
	memset(out, 0, sizeof *out);
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - buf) : len, n = end - i;
		if (n && buf[end - 1] == '\r')
			n--;
		uint32_t idx;
		out->lines++;
		if (imei_tacdb_lookup_str(db, buf + i, n, &idx, NULL) != 0)
			out->invalid++;
		else if (idx == IMEI_TACDB_NONE)
			out->not_found++;
		else
			out->found++;
		i = end + 1;
	}
}

uint64_t imei_tac_record_key(const struct imei_tacdb *db, uint32_t idx)
{
	if (idx >= db->ndense)
		return db->okeys[idx - db->ndense];
	return tac_key_pack(db->tacs[idx], 8);
}

bool imei_tacdb_record(const struct imei_tacdb *db, uint32_t idx, struct imei_tac_record *rec)
{
	if (idx >= db->nrecords)
		return false;
	const struct tac_rec *r = &db->recs[idx];
	rec->key_len = imei_tac_key_digits(imei_tac_record_key(db, idx), rec->key);
	for (int f = 0; f < IMEI_TAC_NFIELDS; f++)
		rec->str[f] = db->pool + r->str[f];
	rec->date = r->date_rat & TAC_DATE_MASK;
	rec->rat = r->date_rat >> TAC_RAT_SHIFT;
	rec->nextra = db->schemas[r->schema].n;
	return true;
}

bool imei_tacdb_extra(const struct imei_tacdb *db, uint32_t idx, size_t i, const char **key, const char **value)
{
	if (idx >= db->nrecords)
		return false;
	const struct tac_rec *r = &db->recs[idx];
	const struct tac_schema *s = &db->schemas[r->schema];
	if (i >= s->n)
		return false;
	*key = db->pool + db->cols[s->first + i];
	*value = db->pool + db->xval[r->xval + i];
	return true;
}
