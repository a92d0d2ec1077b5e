/*
 * sightings_agg.c — the aggregate of one (key, IMSI, MSISDN) triple (docs/sightings.md): merging
 * a sighting in, and which UTC days it was seen on. Every backend stores these and every
 * query is answered from them by this code, so all backends give the same answers.
 *
 * Days are UTC days: time / 86400. An aggregate knows its first and last seen day
 * exactly, every day of the 64 ending with the last (a bitmap, bit i = last day - i),
 * and how many days it was seen in all (ndays). Days older than the bitmap and after the
 * first are "unknown" unless ndays says the bitmap and the first day are all there is.
 */
#include <stdlib.h>
#include <string.h>

#include "imei_sightings.h"

#define HORIZON IMEI_SIGHT_HORIZON_DAYS

static int64_t day_of(uint32_t t)
{
	return (int64_t)(t / IMEI_SIGHT_DAY);
}

/* Bits for offsets lo..hi from the last day (0 <= lo <= hi < 64). */
static uint64_t offset_mask(int64_t lo, int64_t hi)
{
	uint64_t upto = hi >= 63 ? ~0ULL : (1ULL << (hi + 1)) - 1;
	return upto & ~((1ULL << lo) - 1);
}

/* Days known to be seen: those in the bitmap, and the first day when it is older. */
static unsigned known_days(const struct imei_sighting_agg *a)
{
	int64_t fd = day_of(a->first), ld = day_of(a->last);
	return (unsigned)__builtin_popcountll(a->days) + (ld - fd >= HORIZON ? 1u : 0u);
}

static uint16_t rat_bit(uint8_t rat)
{
	return rat >= 1 && rat <= IMEI_SIGHT_RAT_MAX ? (uint16_t)(1u << (rat - 1)) : 0;
}

void imei_agg_init(struct imei_sighting_agg *a, const struct imei_sighting *s)
{
	memset(a, 0, sizeof *a);
	a->key = s->key;
	a->imsi = s->imsi;
	a->msisdn = s->msisdn;
	a->first = a->last = s->time;
	a->days = 1;
	a->ndays = 1;
	a->op = s->op;
	a->rats = rat_bit(s->rat);
}

void imei_agg_apply(struct imei_sighting_agg *a, const struct imei_sighting *s)
{
	uint32_t t = s->time;
	int64_t d = day_of(t), fd = day_of(a->first), ld = day_of(a->last);
	a->rats |= rat_bit(s->rat);
	if (s->op && (t >= a->last || a->op == 0))
		a->op = s->op;
	if (d > ld) {
		int64_t shift = d - ld;
		a->days = shift >= HORIZON ? 1 : (a->days << shift) | 1;
		a->ndays++;
		a->last = t;
	} else if (d == ld) {
		if (t > a->last)
			a->last = t;
	} else {
		int64_t off = ld - d;
		if (off < HORIZON) {
			if (!(a->days >> off & 1)) {
				a->days |= 1ULL << off;
				a->ndays++;
			}
		} else if (d < fd) {
			a->ndays++; /* before the first day: certainly a new day */
		} else if (d > fd) {
			/* an unknown day: counted as new, but never more days than the span has */
			if (a->ndays < ld - fd + 1)
				a->ndays++;
		}
	}
	if (t < a->first)
		a->first = t;
}

enum imei_seen imei_agg_seen_between(const struct imei_sighting_agg *a, int64_t d0, int64_t d1)
{
	int64_t fd = day_of(a->first), ld = day_of(a->last);
	if (d1 < fd || d0 > ld || d0 > d1)
		return IMEI_SEEN_NO;
	if ((d0 <= fd && fd <= d1) || (d0 <= ld && ld <= d1))
		return IMEI_SEEN_YES;
	/* here fd < d0 <= d1 < ld */
	int64_t lo = d0 > ld - (HORIZON - 1) ? d0 : ld - (HORIZON - 1);
	if (d1 >= lo && (a->days & offset_mask(ld - d1, ld - lo)))
		return IMEI_SEEN_YES;
	if (d0 > ld - HORIZON)
		return IMEI_SEEN_NO; /* the whole window was in the bitmap */
	return a->ndays > known_days(a) ? IMEI_SEEN_UNKNOWN : IMEI_SEEN_NO;
}

enum imei_seen imei_agg_seen_on(const struct imei_sighting_agg *a, int64_t day)
{
	return imei_agg_seen_between(a, day, day);
}

bool imei_agg_valid(const struct imei_sighting_agg *a, const char **why)
{
	const char *bad = NULL;
	int64_t fd = day_of(a->first), ld = day_of(a->last);
	if (!imei_sight_key_ok(a->key))
		bad = "key out of range";
	else if (!imei_sight_digits_ok(a->imsi, IMEI_SIGHT_IMSI_MIN, IMEI_SIGHT_IMSI_MAX))
		bad = "IMSI not a valid encoding";
	else if (a->msisdn && !imei_sight_digits_ok(a->msisdn, IMEI_SIGHT_MSISDN_MIN, IMEI_SIGHT_MSISDN_MAX))
		bad = "MSISDN not a valid encoding";
	else if (a->op && !imei_sight_operator_ok(a->op))
		bad = "operator not a valid encoding";
	else if (a->rats >> IMEI_SIGHT_RAT_MAX)
		bad = "unknown RAT bits";
	else if (a->first > a->last)
		bad = "first seen after last seen";
	else if (!(a->days & 1))
		bad = "last seen day missing from the day bitmap";
	else if (ld - fd < HORIZON - 1 && (a->days >> (ld - fd) >> 1))
		bad = "day bitmap has days before the first seen day";
	else if (ld - fd < HORIZON && !(a->days >> (ld - fd) & 1))
		bad = "first seen day missing from the day bitmap";
	else if (a->ndays < known_days(a))
		bad = "fewer days seen than the day bitmap shows";
	else if (a->ndays > ld - fd + 1)
		bad = "more days seen than days between first and last seen";
	if (bad && why)
		*why = bad;
	return bad == NULL;
}

void imei_agg_buf_init(struct imei_agg_buf *b)
{
	b->v = b->small;
	b->n = 0;
	b->cap = sizeof b->small / sizeof b->small[0];
}

void imei_agg_buf_free(struct imei_agg_buf *b)
{
	if (b->v != b->small)
		free(b->v);
	imei_agg_buf_init(b);
}

struct imei_sighting_agg *imei_agg_buf_push(struct imei_agg_buf *b, const struct imei_sighting_agg *a)
{
	if (b->n == b->cap) {
		size_t cap = b->cap * 2;
		struct imei_sighting_agg *v;
		if (b->v == b->small) {
			v = malloc(cap * sizeof *v);
			if (v)
				memcpy(v, b->small, b->n * sizeof *v);
		} else {
			v = realloc(b->v, cap * sizeof *v);
		}
		if (!v)
			return NULL;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n] = *a;
	return &b->v[b->n++];
}
