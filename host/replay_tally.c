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
		uint64_t matched = 0, blocked = 0, grace = 0, ops = 0;
		int worst = -1;
		enum imei_status dev_status = IMEI_STATUS_WHITELISTED;
		bool notify = false;
		while (j < r->npairs && r->pairs[j].ident == r->pairs[i].ident) {
			const struct imei_replay_pair *p = &r->pairs[j];
			int sev = replay_severity(p->status);
			if (sev > worst) {
				worst = sev;
				dev_status = (enum imei_status)p->status;
			}
			matched |= p->matched;
			ops |= p->ops;
			t->pairs_by_status[p->status & 3]++;
			if (p->flags & IMEI_REPLAY_FAILED)
				t->failures++;
			for (size_t c = 0; c < ncond; c++)
				if (p->matched & (1ULL << c))
					r->cond_stats[c].pairs++;
			j++;
		}
		bool dev_blocked = dev_status == IMEI_STATUS_BLACKLISTED;
		for (size_t k = i; k < j; k++) {
			struct imei_replay_pair *p = &r->pairs[k];
			bool pair_blocked = p->status == IMEI_STATUS_BLACKLISTED;
			if (pair_blocked)
				blocked |= p->blocked;
			else
				grace |= p->grace;
			bool pair_notify = !pair_blocked && (p->flags & IMEI_REPLAY_NOTIFY);
			notify |= pair_notify;
			if (pair_notify)
				p->flags |= IMEI_REPLAY_NOTIFICATION;
			if (dev_blocked && !pair_blocked)
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
