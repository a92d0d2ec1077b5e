/*
 * replay_outcomes.c — the run's table of verdict outcomes (replay_state.h): which
 * conditions a pair's verdict matched, blocked and left in grace, and its block date.
 * A pair keeps only an index into this table (struct imei_replay_pair, 4 bytes instead of
 * 28), because most pairs match nothing (index 0) and those that do share a few distinct
 * outcomes: each outcome is kept once (interned), whatever the number of pairs, threads
 * or policies (the what-if's OLD verdicts use the same table).
 *
 * The evaluation threads intern under the table's lock; each keeps its last outcome in a
 * cache of its own, so a run of pairs with the same outcome takes no lock. The table is
 * read without the lock only once the threads are joined.
 */
#include <stdlib.h>
#include <string.h>

#include "replay_state.h"

static const struct imei_replay_outcome NOTHING = { 0, 0, 0, IMEI_REPLAY_NO_DAY };

static bool same(const struct imei_replay_outcome *a, const struct imei_replay_outcome *b)
{
	return a->matched == b->matched && a->blocked == b->blocked && a->grace == b->grace &&
	       a->block_day == b->block_day;
}

static size_t hash_of(const struct imei_replay_outcome *o)
{
	uint64_t h = o->matched * 0x9E3779B97F4A7C15ULL;
	h = (h ^ (h >> 29) ^ o->blocked) * 0xBF58476D1CE4E5B9ULL;
	h = (h ^ (h >> 31) ^ o->grace) * 0x94D049BB133111EBULL;
	h = (h ^ (h >> 30) ^ (uint32_t)o->block_day) * 0x9E3779B97F4A7C15ULL;
	return (size_t)(h ^ (h >> 32));
}

void imei_replay_outcomes_init(struct replay_outcomes *t)
{
	memset(t, 0, sizeof *t);
	t->max = REPLAY_MAX_OUTCOMES;
	pthread_mutex_init(&t->lock, NULL);
}

void imei_replay_outcomes_free(struct replay_outcomes *t)
{
	free(t->v);
	free(t->slots);
	pthread_mutex_destroy(&t->lock);
	t->v = NULL;
	t->slots = NULL;
	t->n = t->cap = t->nslots = 0;
}

/* The slots rebuilt at twice the size (kept at most half full). false: out of memory. */
static bool grow_slots(struct replay_outcomes *t)
{
	size_t nslots = t->nslots ? t->nslots * 2 : 64;
	uint32_t *slots = calloc(nslots, sizeof *slots);
	if (!slots)
		return false;
	for (size_t i = 0; i < t->n; i++) {
		size_t s = hash_of(&t->v[i]) & (nslots - 1);
		while (slots[s])
			s = (s + 1) & (nslots - 1);
		slots[s] = (uint32_t)(i + 1);
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
	return true;
}

/* Under the lock: the index of o, added when new; REPLAY_OUTCOME_NONE when it cannot be. */
static uint32_t intern_locked(struct replay_outcomes *t, const struct imei_replay_outcome *o)
{
	size_t h = hash_of(o);
	if (t->nslots) {
		for (size_t s = h & (t->nslots - 1); t->slots[s]; s = (s + 1) & (t->nslots - 1))
			if (same(&t->v[t->slots[s] - 1], o))
				return t->slots[s]; /* entry i is outcome i + 1 (0 is NOTHING) */
	}
	if (t->n >= t->max || t->n >= REPLAY_MAX_OUTCOMES)
		return REPLAY_OUTCOME_NONE;
	if ((t->n + 1) * 2 > t->nslots && !grow_slots(t))
		return REPLAY_OUTCOME_NONE;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct imei_replay_outcome *v = realloc(t->v, cap * sizeof *v);
		if (!v)
			return REPLAY_OUTCOME_NONE;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = *o;
	size_t s = h & (t->nslots - 1);
	while (t->slots[s])
		s = (s + 1) & (t->nslots - 1);
	t->slots[s] = (uint32_t)t->n;
	return (uint32_t)t->n;
}

uint32_t imei_replay_outcomes_intern(struct replay_outcomes *t, struct replay_outcome_cache *c,
                                const struct imei_replay_outcome *o)
{
	if (same(o, &NOTHING))
		return 0;
	if (c && c->index && same(o, &c->last))
		return c->index;
	pthread_mutex_lock(&t->lock);
	uint32_t i = intern_locked(t, o);
	pthread_mutex_unlock(&t->lock);
	if (c && i != REPLAY_OUTCOME_NONE) {
		c->last = *o;
		c->index = i;
	}
	return i;
}

const struct imei_replay_outcome *imei_replay_outcome_at(const struct replay_outcomes *t, uint32_t i)
{
	return i == 0 ? &NOTHING : &t->v[i - 1]; /* i came from imei_replay_outcomes_intern */
}

const struct imei_replay_outcome *imei_replay_pair_outcome(const struct imei_replay *r,
                                                           const struct imei_replay_pair *p)
{
	return imei_replay_outcome_at(&r->outcomes, p->outcome);
}
