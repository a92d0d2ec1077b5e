/*
 * replay_tally.c — after the verdicts (replay_state.h): the per-device decisions of a
 * replay and every count of the report. The list rules are decided here and nowhere
 * else: a device is blocked when one of its pairs is BLACKLISTED; a pair of a blocked
 * device that is not BLACKLISTED itself is an exception; a pair that is not BLACKLISTED
 * and has a condition in its grace period is a notification (IMEI_REPLAY_EXCEPTION,
 * IMEI_REPLAY_NOTIFICATION). lua/imei/classify/lists.lua writes the lists from these flags.
 */
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

/* After the verdicts: per-device facts, and every count of the report. */
int imei_replay_tally(struct imei_replay *r, char *err, size_t errlen)
{
	struct imei_replay_totals *t = &r->totals;
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
	size_t ncond = atomic_load(&r->ncond);
	for (size_t i = 0; i < r->npairs;) {
		size_t j = i;
		uint64_t ops = 0;
		while (j < r->npairs && r->pairs[j].ident == r->pairs[i].ident) {
			const struct imei_replay_pair *p = &r->pairs[j];
			ops |= p->ops;
			t->pairs_by_status[p->status & 3]++;
			if (p->flags & IMEI_REPLAY_FAILED)
				t->failures++;
			uint64_t matched = imei_replay_outcome_at(&r->outcomes, p->outcome)->matched;
			for (size_t c = 0; c < ncond; c++)
				if (matched & (1ULL << c))
					r->cond_stats[c].pairs++;
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
					r->ops[o].pairs++;
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
				r->cond_stats[c].devices++;
			if (blocked & bit)
				r->cond_stats[c].devices_blocked++;
			if (grace & bit)
				r->cond_stats[c].devices_grace++;
		}
		for (size_t o = 0; o < r->nops; o++)
			if (ops & (1ULL << o)) {
				r->ops[o].devices++;
				r->ops[o].devices_by_status[dev_status & 3]++;
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
					r->tac_devices[idx]++;
					if (dev_blocked)
						r->tac_blocked[idx]++;
					else if (notify)
						r->tac_notified[idx]++;
				}
			}
		}
		i = j;
	}
	return 0;
}
