/*
 * store_aggs.h — the replay tests' view of a sightings store: every aggregate it holds,
 * in key, IMSI, MSISDN order, so that two stores can be compared with memcmp.
 */
#ifndef STORE_AGGS_H
#define STORE_AGGS_H

#include <stdlib.h>

#include "check.h"
#include "imei_sightings.h"

static inline int store_agg_cmp(const void *a, const void *b)
{
	const struct imei_sighting_agg *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->imsi != y->imsi)
		return x->imsi < y->imsi ? -1 : 1;
	return x->msisdn < y->msisdn ? -1 : x->msisdn > y->msisdn;
}

/* Every aggregate of st into out (at most cap), sorted; how many. */
static inline size_t all_aggs(struct imei_store *st, struct imei_sighting_agg *out, size_t cap)
{
	struct imei_store_error se;
	struct imei_store_iter *it = imei_store_iter_open(st, IMEI_ITER_SIGHTINGS, &se);
	CHECK(it != NULL);
	size_t n = 0;
	struct imei_sighting_agg a;
	while (it && n < cap && imei_store_iter_next(it, &a, &se) == 1)
		out[n++] = a;
	imei_store_iter_close(it);
	qsort(out, n, sizeof *out, store_agg_cmp);
	return n;
}

#endif
