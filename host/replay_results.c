/*
 * replay_results.c — what the caller of a replay reads once it is done (imei_replay.h):
 * the pairs, the texts of identities, the counts.
 */
#include <stdatomic.h>
#include <string.h>

#include "replay_state.h"

/* ---- results ------------------------------------------------------------------------ */

size_t imei_replay_npairs(const struct imei_replay *r)
{
	return r->npairs;
}

const struct imei_replay_pair *imei_replay_pairs(const struct imei_replay *r)
{
	return r->pairs;
}

size_t imei_replay_ident_str(const struct imei_replay *r, uint64_t ident, char *out)
{
	if (ident < IMEI_REPLAY_TEXT_BASE)
		return imei_dump_form_digits(ident, IMEI_DUMP_FORM_IMEI14, out);
	size_t i = (size_t)(ident - IMEI_REPLAY_TEXT_BASE);
	if (i >= r->pool.n) {
		out[0] = 0;
		return 0;
	}
	const char *t = replay_pool_text(&r->pool, i);
	size_t n = strlen(t);
	memcpy(out, t, n + 1);
	return n;
}

enum imei_kind imei_replay_text_kind(const struct imei_replay *r, uint64_t ident)
{
	if (ident < IMEI_REPLAY_TEXT_BASE || ident - IMEI_REPLAY_TEXT_BASE >= r->pool.n)
		return IMEI_KIND_NONE;
	return (enum imei_kind)r->pool.kinds[ident - IMEI_REPLAY_TEXT_BASE];
}

bool imei_replay_ident_of(const struct imei_replay *r, const char *s, size_t len, uint64_t *ident)
{
	if (len >= 14 && len <= 16) {
		uint64_t key = 0;
		size_t i;
		for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (i < 14)
				key = key * 10 + (uint64_t)(s[i] - '0');
		if (i == len) {
			*ident = key;
			return true;
		}
	}
	long id = imei_replay_pool_find(&r->pool, s, len, NULL);
	if (id < 0)
		return false;
	*ident = IMEI_REPLAY_TEXT_BASE + (uint64_t)id;
	return true;
}

long imei_replay_find(const struct imei_replay *r, uint64_t ident, uint64_t imsi)
{
	size_t lo = 0, hi = r->npairs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct imei_replay_pair *p = &r->pairs[mid];
		if (p->ident < ident || (p->ident == ident && p->imsi < imsi))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->npairs && r->pairs[lo].ident == ident && (imsi == 0 || r->pairs[lo].imsi == imsi))
		return (long)lo;
	return -1;
}

size_t imei_replay_next_blocked(const struct imei_replay *r, size_t i, struct imei_replay_block *b)
{
	const struct imei_replay_pair *pairs = r->pairs;
	size_t n = r->npairs;
	while (i < n && !((pairs[i].flags & IMEI_REPLAY_DEVICE) && (pairs[i].flags & IMEI_REPLAY_DEV_BLOCKED)))
		i++;
	if (i == n)
		return n;
	b->reasons = 0;
	b->block_day = b->first_day = IMEI_REPLAY_NO_DAY;
	size_t j = i;
	for (; j < n && pairs[j].ident == pairs[i].ident; j++) {
		const struct imei_replay_pair *p = &pairs[j];
		if (p->status != IMEI_STATUS_BLACKLISTED)
			continue;
		const struct imei_replay_outcome *o = imei_replay_outcome_at(&r->outcomes, p->outcome);
		b->reasons |= o->blocked;
		if (o->block_day != IMEI_REPLAY_NO_DAY && (b->block_day == IMEI_REPLAY_NO_DAY || o->block_day < b->block_day))
			b->block_day = o->block_day;
		if (b->first_day == IMEI_REPLAY_NO_DAY || p->first < b->first_day) /* a pair's days are days */
			b->first_day = p->first;
	}
	b->end = j;
	return i;
}

size_t imei_replay_next_flagged(const struct imei_replay *r, size_t i)
{
	while (i < r->npairs && !(r->pairs[i].flags & (IMEI_REPLAY_EXCEPTION | IMEI_REPLAY_NOTIFICATION)))
		i++;
	return i < r->npairs ? i : r->npairs;
}

size_t imei_replay_nconditions(const struct imei_replay *r)
{
	return atomic_load(&((struct imei_replay *)r)->ncond);
}

const char *imei_replay_condition_name(const struct imei_replay *r, size_t i)
{
	return i < imei_replay_nconditions(r) ? r->cond_names[i] : NULL;
}

const struct imei_replay_totals *imei_replay_totals(const struct imei_replay *r)
{
	return &r->totals;
}

size_t imei_replay_nfiles(const struct imei_replay *r)
{
	return r->nfiles;
}

const struct imei_replay_file_stats *imei_replay_file(const struct imei_replay *r, size_t i)
{
	return i < r->nfiles ? &r->files[i].st : NULL;
}

size_t imei_replay_noperators(const struct imei_replay *r)
{
	return r->nops;
}

const struct imei_replay_operator_stats *imei_replay_operator(const struct imei_replay *r, size_t i)
{
	return i < r->nops ? &r->ops[i] : NULL;
}

const struct imei_replay_condition_stats *imei_replay_condition(const struct imei_replay *r, size_t i)
{
	return i < IMEI_REPLAY_MAX_CONDITIONS ? &r->cond_stats[i] : NULL;
}

size_t imei_replay_examples(const struct imei_replay *r, enum imei_dump_reject reason,
                            const struct imei_replay_example **out)
{
	if ((unsigned)reason >= IMEI_DUMP_NREJECT) {
		*out = NULL;
		return 0;
	}
	*out = r->examples[reason];
	return r->nexamples[reason];
}

size_t imei_replay_failures(const struct imei_replay *r, const char *const **out)
{
	*out = (const char *const *)r->failures;
	return r->nfailures;
}

void imei_replay_tac_counts(const struct imei_replay *r, const uint32_t **devices, const uint32_t **blocked,
                            const uint32_t **notified, size_t *n)
{
	*devices = r->tac_devices;
	*blocked = r->tac_blocked;
	*notified = r->tac_notified;
	*n = r->tac_devices ? r->ntacs : 0;
}
