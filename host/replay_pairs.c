/*
 * replay_pairs.c — the pair table of a replay (replay_state.h): every accepted row is
 * folded into its (device, IMSI) pair in an open-addressing hash table; at the end of
 * the ingest the pairs are sorted by device then IMSI into the run's result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_state.h"

/* ---- the pair table ---------------------------------------------------------------- */

static size_t pair_hash(uint64_t ident, uint64_t imsi)
{
	uint64_t h = ident * 0x9E3779B97F4A7C15ULL ^ (imsi + 0x632BE59BD9B4E019ULL) * 0xC2B2AE3D27D4EB4FULL;
	h ^= h >> 31;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 29;
	return (size_t)h;
}

static int tab_grow(struct imei_replay *r)
{
	size_t cap = r->tab_cap ? r->tab_cap * 2 : 1u << 16;
	struct pin *tab = calloc(cap, sizeof *tab);
	if (!tab)
		return -1;
	for (size_t i = 0; i < r->tab_cap; i++) {
		struct pin *e = &r->tab[i];
		if (!e->imsi)
			continue;
		size_t j = pair_hash(e->ident, e->imsi) & (cap - 1);
		while (tab[j].imsi)
			j = (j + 1) & (cap - 1);
		tab[j] = *e;
	}
	free(r->tab);
	r->tab = tab;
	r->tab_cap = cap;
	return 0;
}

static void fold_one(struct imei_replay *r, const struct pending *row)
{
	size_t mask = r->tab_cap - 1, i = row->slot;
	for (;; i = (i + 1) & mask) {
		struct pin *e = &r->tab[i];
		if (!e->imsi) {
			e->ident = row->ident;
			e->imsi = row->imsi;
			e->msisdn = row->msisdn;
			e->ops = 1ULL << row->op;
			e->first = e->last = row->day;
			e->rows = 1;
			e->form = row->form;
			e->rat = row->rat;
			e->op = row->op;
			r->tab_n++;
			return;
		}
		if (e->ident == row->ident && e->imsi == row->imsi) {
			e->ops |= 1ULL << row->op;
			e->rows++;
			if (row->day < e->first)
				e->first = row->day;
			if (row->day >= e->last) {
				/* the latest row speaks for the pair */
				e->last = row->day;
				if (row->msisdn)
					e->msisdn = row->msisdn;
				e->form = row->form;
				if (row->rat)
					e->rat = row->rat;
				e->op = row->op;
			}
			return;
		}
	}
}

/* Fold rows into the pair table, in their order. -1 when out of memory. */
int imei_replay_fold_rows(struct imei_replay *r, struct pending *rows, size_t n)
{
	if (!n)
		return 0;
	while ((r->tab_n + n) * 10 >= r->tab_cap * 7)
		if (tab_grow(r) < 0)
			return -1;
	size_t mask = r->tab_cap - 1;
	for (size_t i = 0; i < n; i++) {
		struct pending *p = &rows[i];
		p->slot = pair_hash(p->ident, p->imsi) & mask;
		__builtin_prefetch(&r->tab[p->slot], 1);
	}
	for (size_t i = 0; i < n; i++)
		fold_one(r, &rows[i]);
	return 0;
}

/* ---- end of ingest: the pairs in order --------------------------------------------- */

static int pin_cmp(const void *a, const void *b)
{
	const struct pin *x = a, *y = b;
	if (x->ident != y->ident)
		return x->ident < y->ident ? -1 : 1;
	if (x->imsi != y->imsi)
		return x->imsi < y->imsi ? -1 : 1;
	return 0;
}

int imei_replay_finish_ingest(struct imei_replay *r, char *err, size_t errlen)
{
	struct imei_store_error se;
	if (imei_store_flush(r->store, &se) < 0) {
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return IMEI_REPLAY_ERROR;
	}
	if (r->run_day == IMEI_REPLAY_NO_DAY && r->max_day != INT32_MIN)
		r->run_day = r->max_day;
	r->totals.run_day = r->run_day;
	if (r->max_day != INT32_MIN) {
		r->totals.first_day = r->min_day;
		r->totals.last_day = r->max_day;
	}
	/* the table's pairs moved to its front and sorted there, the rest given back, before
	 * the result is made: the peak is the pairs twice over, not the whole table and them */
	size_t n = 0;
	for (size_t i = 0; i < r->tab_cap; i++)
		if (r->tab[i].imsi)
			r->tab[n++] = r->tab[i];
	if (n && n < r->tab_cap) {
		struct pin *shrunk = realloc(r->tab, n * sizeof *shrunk);
		if (shrunk)
			r->tab = shrunk; /* else it stays as large: no harm */
	}
	r->tab_cap = n;
	if (n)
		qsort(r->tab, n, sizeof *r->tab, pin_cmp);
	r->pairs = n ? malloc(n * sizeof *r->pairs) : NULL;
	if (n && !r->pairs) {
		snprintf(err, errlen, "replay: out of memory sorting %zu pairs", n);
		return IMEI_REPLAY_ERROR;
	}
	for (size_t i = 0; i < n; i++) {
		const struct pin *e = &r->tab[i];
		struct imei_replay_pair *p = &r->pairs[i];
		memset(p, 0, sizeof *p);
		p->ident = e->ident;
		p->imsi = e->imsi;
		p->msisdn = e->msisdn;
		p->ops = e->ops;
		p->first = e->first;
		p->last = e->last;
		p->rows = e->rows;
		p->form = e->form;
		p->rat = e->rat;
		p->op = e->op;
		p->status = IMEI_STATUS_WHITELISTED;
		p->block_day = IMEI_REPLAY_NO_DAY;
		if (i == 0 || r->tab[i - 1].ident != e->ident)
			p->flags |= IMEI_REPLAY_DEVICE;
	}
	free(r->tab);
	r->tab = NULL;
	r->tab_cap = 0;
	r->npairs = n;
	r->totals.pairs = n;
	r->totals.ingest_seconds = replay_seconds_since(&r->t_ingest);
	r->ingest_done = true;
	return IMEI_REPLAY_DONE;
}
