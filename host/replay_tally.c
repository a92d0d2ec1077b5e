/*
 * replay_tally.c — after the verdicts (replay_state.h): the per-device decisions of a
 * replay and every count of the report. The list rules are decided here and nowhere
 * else: a device is blocked when one of its pairs is BLACKLISTED; a pair of a blocked
 * device that is not BLACKLISTED itself is an exception; a pair that is not BLACKLISTED
 * and has a condition in its grace period is a notification (IMEI_REPLAY_EXCEPTION,
 * IMEI_REPLAY_NOTIFICATION). lua/imei/classify/lists.lua writes the lists from these flags.
 * The pass is the run's last over every pair before the lists: it is split into parts of
 * whole devices counted on the evaluation's number of threads (the run's processors
 * would otherwise idle but one), then summed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "replay_state.h"

void imei_replay_decide_device(const struct imei_replay *r, const struct replay_decision *alt, size_t i, size_t j,
                               struct replay_device *d)
{
	int worst = -1;
	d->status = IMEI_STATUS_WHITELISTED;
	d->notify = false;
	d->block_day = IMEI_REPLAY_NO_DAY;
	d->matched = d->blocked_conds = d->grace = 0;
	for (size_t k = i; k < j; k++) {
		const struct imei_replay_pair *p = &r->pairs[k];
		struct replay_decision v = alt ? alt[k] : (struct replay_decision){ p->outcome, p->status, p->flags };
		const struct imei_replay_outcome *o = imei_replay_outcome_at(&r->outcomes, v.outcome);
		int sev = replay_severity(v.status);
		if (sev > worst) {
			worst = sev;
			d->status = (enum imei_status)v.status;
		}
		d->matched |= o->matched;
		if (v.status == IMEI_STATUS_BLACKLISTED)
			d->blocked_conds |= o->blocked;
		else
			d->grace |= o->grace;
		d->notify |= replay_pair_notified(v.status, v.flags);
		if (o->block_day != IMEI_REPLAY_NO_DAY && (d->block_day == IMEI_REPLAY_NO_DAY || o->block_day < d->block_day))
			d->block_day = o->block_day;
	}
	d->blocked = d->status == IMEI_STATUS_BLACKLISTED;
}

/* What one part of the pairs (whole devices: [from, to)) adds to the counts. The parts
 * are counted side by side and summed into the replay's counts after: sums do not depend
 * on the order, so any number of parts gives the counts one part gives. */
struct tally_part {
	struct imei_replay *r;
	size_t from, to, ncond;
	struct imei_replay_totals t;
	struct imei_replay_condition_stats cond[IMEI_REPLAY_MAX_CONDITIONS];
	struct imei_replay_operator_stats ops[IMEI_REPLAY_MAX_OPERATORS];
	uint32_t *tac_devices, *tac_blocked, *tac_notified; /* the replay's own for part 0 */
	pthread_t thread;
	bool started;
};

static void *tally_part(void *arg)
{
	struct tally_part *tp = arg;
	const struct imei_replay *r = tp->r;
	struct imei_replay_totals *t = &tp->t;
	size_t ncond = tp->ncond;
	for (size_t i = tp->from; i < tp->to;) {
		size_t j = i;
		uint64_t ops = 0;
		while (j < tp->to && r->pairs[j].ident == r->pairs[i].ident) {
			const struct imei_replay_pair *p = &r->pairs[j];
			ops |= p->ops;
			t->pairs_by_status[p->status & 3]++;
			if (p->flags & IMEI_REPLAY_FAILED)
				t->failures++;
			uint64_t matched = imei_replay_outcome_at(&r->outcomes, p->outcome)->matched;
			for (size_t c = 0; c < ncond; c++)
				if (matched & (1ULL << c))
					tp->cond[c].pairs++;
			j++;
		}
		struct replay_device dev;
		imei_replay_decide_device(r, NULL, i, j, &dev);
		enum imei_status dev_status = dev.status;
		bool dev_blocked = dev.blocked, notify = dev.notify;
		uint64_t matched = dev.matched, blocked = dev.blocked_conds, grace = dev.grace;
		for (size_t k = i; k < j; k++) {
			struct imei_replay_pair *p = &r->pairs[k];
			if (replay_pair_notified(p->status, p->flags))
				p->flags |= IMEI_REPLAY_NOTIFICATION;
			if (dev_blocked && p->status != IMEI_STATUS_BLACKLISTED)
				p->flags |= IMEI_REPLAY_EXCEPTION;
			for (size_t o = 0; o < r->nops; o++)
				if (p->ops & (1ULL << o))
					tp->ops[o].pairs++;
		}
		struct imei_replay_pair *first = &r->pairs[i];
		if (dev_blocked)
			first->flags |= IMEI_REPLAY_DEV_BLOCKED;
		if (notify)
			first->flags |= IMEI_REPLAY_DEV_NOTIFY;
		t->devices++;
		t->devices_by_status[dev_status & 3]++;
		if (notify && !dev_blocked)
			t->devices_notified++;
		for (size_t c = 0; c < ncond; c++) {
			uint64_t bit = 1ULL << c;
			if (matched & bit)
				tp->cond[c].devices++;
			if (blocked & bit)
				tp->cond[c].devices_blocked++;
			if (grace & bit)
				tp->cond[c].devices_grace++;
		}
		for (size_t o = 0; o < r->nops; o++)
			if (ops & (1ULL << o)) {
				tp->ops[o].devices++;
				tp->ops[o].devices_by_status[dev_status & 3]++;
			}
		if (first->ident >= IMEI_REPLAY_TEXT_BASE) {
			t->devices_by_kind[imei_replay_text_kind(r, first->ident)]++;
		} else {
			uint8_t form = first->form;
			t->devices_by_kind[form == IMEI_DUMP_FORM_IMEI14 ? IMEI_KIND_IMEI14
			                   : form < IMEI_DUMP_FORM_IMEISV ? IMEI_KIND_IMEI
			                                                  : IMEI_KIND_IMEISV]++;
			if (r->tacdb) {
				char digits[16];
				imei_dump_form_digits(first->ident, IMEI_DUMP_FORM_IMEI14, digits);
				uint32_t idx = imei_tacdb_lookup(r->tacdb, digits, 14);
				if (idx == IMEI_TACDB_NONE || idx >= r->ntacs) {
					t->unknown_tac++;
				} else {
					tp->tac_devices[idx]++;
					if (dev_blocked)
						tp->tac_blocked[idx]++;
					else if (notify)
						tp->tac_notified[idx]++;
				}
			}
		}
		i = j;
	}
	return NULL;
}

/* A part's counts into the replay's. */
static void tally_add(struct imei_replay *r, const struct tally_part *tp)
{
	struct imei_replay_totals *t = &r->totals;
	const struct imei_replay_totals *pt = &tp->t;
	t->devices += pt->devices;
	t->devices_notified += pt->devices_notified;
	t->failures += pt->failures;
	t->unknown_tac += pt->unknown_tac;
	for (size_t s = 0; s < 4; s++) {
		t->devices_by_status[s] += pt->devices_by_status[s];
		t->pairs_by_status[s] += pt->pairs_by_status[s];
	}
	for (size_t k = 0; k < sizeof t->devices_by_kind / sizeof t->devices_by_kind[0]; k++)
		t->devices_by_kind[k] += pt->devices_by_kind[k];
	for (size_t c = 0; c < tp->ncond; c++) {
		r->cond_stats[c].pairs += tp->cond[c].pairs;
		r->cond_stats[c].devices += tp->cond[c].devices;
		r->cond_stats[c].devices_blocked += tp->cond[c].devices_blocked;
		r->cond_stats[c].devices_grace += tp->cond[c].devices_grace;
	}
	for (size_t o = 0; o < r->nops; o++) {
		r->ops[o].pairs += tp->ops[o].pairs;
		r->ops[o].devices += tp->ops[o].devices;
		for (size_t s = 0; s < 4; s++)
			r->ops[o].devices_by_status[s] += tp->ops[o].devices_by_status[s];
	}
	if (r->tacdb && tp->tac_devices != r->tac_devices)
		for (size_t k = 0; k <= r->ntacs; k++) {
			r->tac_devices[k] += tp->tac_devices[k];
			r->tac_blocked[k] += tp->tac_blocked[k];
			r->tac_notified[k] += tp->tac_notified[k];
		}
}

static void part_free(struct imei_replay *r, struct tally_part *tp)
{
	if (tp->tac_devices != r->tac_devices) {
		free(tp->tac_devices);
		free(tp->tac_blocked);
		free(tp->tac_notified);
	}
}

/* Pairs a part takes at least: below, a thread costs more than it saves. */
#define TALLY_PART_PAIRS 65536
#define TALLY_MAX_PARTS 8

/* After the verdicts: per-device facts, and every count of the report — on as many
 * threads as the evaluation had (at most TALLY_MAX_PARTS), each over whole devices. */
int imei_replay_tally(struct imei_replay *r, char *err, size_t errlen)
{
	if (r->tacdb) {
		r->ntacs = imei_tacdb_count(r->tacdb);
		r->tac_devices = calloc(r->ntacs + 1, sizeof(uint32_t));
		r->tac_blocked = calloc(r->ntacs + 1, sizeof(uint32_t));
		r->tac_notified = calloc(r->ntacs + 1, sizeof(uint32_t));
		if (!r->tac_devices || !r->tac_blocked || !r->tac_notified) {
			snprintf(err, errlen, "replay: out of memory");
			return -1;
		}
	}
	size_t nparts = r->totals.threads > 1 ? r->totals.threads : 1;
	if (nparts > TALLY_MAX_PARTS)
		nparts = TALLY_MAX_PARTS;
	if (nparts > r->npairs / TALLY_PART_PAIRS)
		nparts = r->npairs / TALLY_PART_PAIRS > 0 ? r->npairs / TALLY_PART_PAIRS : 1;
	struct tally_part *parts = calloc(nparts, sizeof *parts);
	if (!parts) {
		snprintf(err, errlen, "replay: out of memory");
		return -1;
	}
	size_t ncond = atomic_load(&r->ncond), from = 0;
	for (size_t k = 0; k < nparts; k++) {
		struct tally_part *tp = &parts[k];
		size_t to = k + 1 == nparts ? r->npairs : r->npairs / nparts * (k + 1);
		while (to > from && to < r->npairs && r->pairs[to].ident == r->pairs[to - 1].ident)
			to++; /* a device is counted whole, by one part */
		if (to < from)
			to = from;
		*tp = (struct tally_part){ .r = r, .from = from, .to = to, .ncond = ncond };
		from = to;
		if (!r->tacdb)
			continue;
		if (k == 0) {
			tp->tac_devices = r->tac_devices;
			tp->tac_blocked = r->tac_blocked;
			tp->tac_notified = r->tac_notified;
		} else {
			tp->tac_devices = calloc(r->ntacs + 1, sizeof(uint32_t));
			tp->tac_blocked = calloc(r->ntacs + 1, sizeof(uint32_t));
			tp->tac_notified = calloc(r->ntacs + 1, sizeof(uint32_t));
			if (!tp->tac_devices || !tp->tac_blocked || !tp->tac_notified) {
				for (size_t q = 0; q <= k; q++)
					part_free(r, &parts[q]);
				free(parts);
				snprintf(err, errlen, "replay: out of memory");
				return -1;
			}
		}
	}
	for (size_t k = 1; k < nparts; k++) /* the caller's thread counts part 0 */
		parts[k].started = pthread_create(&parts[k].thread, NULL, tally_part, &parts[k]) == 0;
	tally_part(&parts[0]);
	for (size_t k = 1; k < nparts; k++) {
		if (parts[k].started)
			pthread_join(parts[k].thread, NULL);
		else
			tally_part(&parts[k]); /* no thread: counted here */
	}
	for (size_t k = 0; k < nparts; k++) {
		tally_add(r, &parts[k]);
		part_free(r, &parts[k]);
	}
	free(parts);
	return 0;
}
