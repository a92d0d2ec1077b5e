/*
 * replay_compare.c — what-if (docs/classify.md, "--compare"): a second policy, OLD,
 * decided every pair in the same evaluation pass as the policy of the run (replay_eval.c);
 * here both sets of verdicts go through the same device rules (imei_replay_decide_device)
 * and every device and pair whose verdict, block date or notification differs is counted,
 * by condition, operator, RBI and TAC record, with the first examples. Only the run's own
 * verdicts make lists: nothing here changes them.
 *
 * Also the operator policies' table: the home networks (MCC-MNC, TS 23.003 §2.2) that
 * have a policy of their own, and the pairs each one decided.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay_state.h"

struct replay_compare {
	struct imei_replay_compare pub;
};

/* A set of condition indexes of the union table (NEW's names, then OLD's others). */
struct cset {
	uint64_t w[2];
};

static void cset_add(struct cset *s, size_t u)
{
	s->w[u / 64] |= 1ULL << (u % 64);
}

static bool cset_has(const struct cset *s, size_t u)
{
	return (s->w[u / 64] >> (u % 64)) & 1;
}

/* NEW's indexes are the union's first ones; OLD's are mapped. */
static struct cset from_new(uint64_t m)
{
	return (struct cset){ { m, 0 } };
}

static struct cset from_old(uint64_t m, const int *old_to_union)
{
	struct cset s = { { 0, 0 } };
	for (size_t b = 0; m; b++, m >>= 1)
		if (m & 1)
			cset_add(&s, (size_t)old_to_union[b]);
	return s;
}

/* Each condition in exactly one of the two sets: counted as added (in now) or removed. */
static void count_diff(struct imei_replay_condition_change *conds, size_t n, const struct cset *now,
                       const struct cset *before, size_t added_off, size_t removed_off)
{
	for (size_t u = 0; u < n; u++) {
		bool a = cset_has(now, u), b = cset_has(before, u);
		if (a == b)
			continue;
		uint64_t *field = (uint64_t *)((char *)&conds[u] + (a ? added_off : removed_off));
		(*field)++;
	}
}

static void add_changes(struct imei_replay_changes *g, const struct imei_replay_changes *d)
{
	g->changed += d->changed;
	g->newly_blocked += d->newly_blocked;
	g->unblocked += d->unblocked;
	g->block_date += d->block_date;
	g->notification += d->notification;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool cset_empty_diff(const struct cset *a, const struct cset *b)
{
	return a->w[0] == b->w[0] && a->w[1] == b->w[1];
}

int imei_replay_compare_tally(struct imei_replay *r, char *err, size_t errlen)
{
	struct replay_compare *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "replay: out of memory");
		return -1;
	}
	r->cmp = c;
	struct imei_replay_compare *x = &c->pub;
	size_t ncn = atomic_load(&r->ncond), nco = atomic_load(&r->old_ncond);
	x->conditions = calloc(ncn + nco + 1, sizeof *x->conditions);
	uint64_t *imsis = calloc(r->npairs ? r->npairs : 1, sizeof *imsis);
	struct imei_replay_changes *tacs = r->tacdb ? calloc(r->ntacs + 1, sizeof *tacs) : NULL;
	if (!x->conditions || !imsis || (r->tacdb && !tacs)) {
		free(imsis);
		free(tacs);
		snprintf(err, errlen, "replay: out of memory");
		return -1;
	}
	x->tacs = tacs;
	x->ntacs = tacs ? r->ntacs : 0;
	/* the union of the two tables of condition names */
	int old_to_union[IMEI_REPLAY_MAX_CONDITIONS];
	for (size_t o = 0; o < nco; o++)
		old_to_union[o] = -1;
	size_t nu = 0;
	for (size_t i = 0; i < ncn; i++, nu++) {
		struct imei_replay_condition_change *cc = &x->conditions[nu];
		cc->name = r->cond_names[i];
		cc->new_index = (int)i;
		cc->old_index = -1;
		for (size_t o = 0; o < nco; o++)
			if (strcmp(r->old_cond_names[o], cc->name) == 0) {
				cc->old_index = (int)o;
				old_to_union[o] = (int)nu;
			}
	}
	for (size_t o = 0; o < nco; o++)
		if (old_to_union[o] < 0) {
			struct imei_replay_condition_change *cc = &x->conditions[nu];
			cc->name = r->old_cond_names[o];
			cc->new_index = -1;
			cc->old_index = (int)o;
			old_to_union[o] = (int)nu++;
		}
	x->nconditions = nu;

	size_t nimsis = 0, nkind[3] = { 0, 0, 0 };
	for (size_t i = 0; i < r->npairs;) {
		size_t j = i;
		uint64_t ops = 0;
		size_t shown = i;
		bool shown_set = false;
		while (j < r->npairs && r->pairs[j].ident == r->pairs[i].ident)
			j++;
		for (size_t k = i; k < j; k++) {
			const struct imei_replay_pair *p = &r->pairs[k];
			const struct replay_decision *o = &r->old[k];
			const struct imei_replay_outcome *oo = imei_replay_outcome_at(&r->outcomes, o->outcome);
			ops |= p->ops;
			x->pairs++;
			if (o->flags & IMEI_REPLAY_FAILED)
				x->failures_old++;
			for (uint64_t m = oo->matched, b = 0; m; b++, m >>= 1)
				if (m & 1)
					x->conditions[old_to_union[b]].old.pairs++;
			bool verdict = p->status != o->status;
			bool date = imei_replay_outcome_at(&r->outcomes, p->outcome)->block_day != oo->block_day;
			bool notif = replay_pair_notified(p->status, p->flags) != replay_pair_notified(o->status, o->flags);
			if (!verdict && !date && !notif)
				continue;
			x->pairs_changed++;
			x->pair_verdict += verdict;
			x->pair_block_date += date;
			x->pair_notification += notif;
			imsis[nimsis++] = p->imsi;
			if (!shown_set) {
				shown = k;
				shown_set = true;
			}
		}
		struct replay_device nd, od;
		imei_replay_decide_device(r, NULL, i, j, &nd);
		imei_replay_decide_device(r, r->old, i, j, &od);
		x->devices++;
		bool n_notified = nd.notify && !nd.blocked, o_notified = od.notify && !od.blocked;
		x->blocked_new += nd.blocked;
		x->blocked_old += od.blocked;
		x->notified_new += n_notified;
		x->notified_old += o_notified;
		/* per condition: OLD's own counts, and what moved */
		struct cset nm = from_new(nd.matched), om = from_old(od.matched, old_to_union);
		struct cset nb = from_new(nd.blocked_conds), ob = from_old(od.blocked_conds, old_to_union);
		struct cset ng = from_new(nd.grace), og = from_old(od.grace, old_to_union);
		for (size_t u = 0; u < nu; u++) {
			x->conditions[u].old.devices += cset_has(&om, u);
			x->conditions[u].old.devices_blocked += cset_has(&ob, u);
			x->conditions[u].old.devices_grace += cset_has(&og, u);
		}
		if (!cset_empty_diff(&nm, &om))
			count_diff(x->conditions, nu, &nm, &om, offsetof(struct imei_replay_condition_change, newly_matched),
			           offsetof(struct imei_replay_condition_change, no_longer_matched));
		if (!cset_empty_diff(&nb, &ob))
			count_diff(x->conditions, nu, &nb, &ob, offsetof(struct imei_replay_condition_change, newly_blocked),
			           offsetof(struct imei_replay_condition_change, no_longer_blocked));
		if (!cset_empty_diff(&ng, &og))
			count_diff(x->conditions, nu, &ng, &og, offsetof(struct imei_replay_condition_change, newly_grace),
			           offsetof(struct imei_replay_condition_change, no_longer_grace));
		unsigned changes = 0;
		if (nd.status != od.status)
			changes |= IMEI_REPLAY_CHANGE_VERDICT;
		if (nd.block_day != od.block_day)
			changes |= IMEI_REPLAY_CHANGE_BLOCK_DATE;
		if (n_notified != o_notified)
			changes |= IMEI_REPLAY_CHANGE_NOTIFICATION;
		if (changes) {
			struct imei_replay_changes d = {
				.changed = 1,
				.newly_blocked = nd.blocked && !od.blocked,
				.unblocked = od.blocked && !nd.blocked,
				.block_date = (changes & IMEI_REPLAY_CHANGE_BLOCK_DATE) != 0,
				.notification = (changes & IMEI_REPLAY_CHANGE_NOTIFICATION) != 0,
			};
			x->changed++;
			x->verdict += (changes & IMEI_REPLAY_CHANGE_VERDICT) != 0;
			x->block_date += d.block_date;
			x->notification += d.notification;
			x->newly_blocked += d.newly_blocked;
			x->unblocked += d.unblocked;
			x->newly_notified += n_notified && !o_notified;
			x->no_longer_notified += o_notified && !n_notified;
			if (changes & IMEI_REPLAY_CHANGE_VERDICT)
				x->transitions[od.status & 3][nd.status & 3]++;
			for (size_t op = 0; op < r->nops; op++)
				if (ops & (1ULL << op))
					add_changes(&x->ops[op], &d);
			uint64_t ident = r->pairs[i].ident;
			if (ident < IMEI_REPLAY_TEXT_BASE) {
				add_changes(&x->rbi[ident / 1000000000000ULL % 100], &d);
				if (tacs) {
					char digits[16];
					imei_dump_form_digits(ident, IMEI_DUMP_FORM_IMEI14, digits);
					uint32_t idx = imei_tacdb_lookup(r->tacdb, digits, 14);
					if (idx != IMEI_TACDB_NONE && idx < r->ntacs)
						add_changes(&tacs[idx], &d);
				}
			}
			unsigned kind = changes & IMEI_REPLAY_CHANGE_VERDICT      ? 0
			                : changes & IMEI_REPLAY_CHANGE_BLOCK_DATE ? 1
			                                                          : 2;
			if (nkind[kind] < IMEI_REPLAY_COMPARE_EXAMPLES) {
				nkind[kind]++;
				x->examples[x->nexamples++] = (struct imei_replay_compare_example){
					.first = i, .pair = shown, .changes = changes,
					.old_status = (uint8_t)od.status, .new_status = (uint8_t)nd.status,
					.old_block_day = od.block_day, .new_block_day = nd.block_day,
					.old_notify = o_notified, .new_notify = n_notified,
					.old_conds = od.matched, .new_conds = nd.matched,
				};
			}
		}
		i = j;
	}
	qsort(imsis, nimsis, sizeof *imsis, cmp_u64);
	for (size_t k = 0; k < nimsis; k++)
		x->imsis_changed += k == 0 || imsis[k] != imsis[k - 1];
	free(imsis);
	return 0;
}

void imei_replay_compare_free(struct imei_replay *r)
{
	free(r->old);
	r->old = NULL;
	for (size_t i = 0; i < IMEI_REPLAY_MAX_CONDITIONS; i++)
		free(r->old_cond_names[i]);
	for (size_t i = 0; i < r->nnetworks; i++)
		free(r->networks[i]);
	if (r->cmp) {
		free((void *)r->cmp->pub.tacs);
		free(r->cmp->pub.conditions);
		free(r->cmp);
		r->cmp = NULL;
	}
}

/* "MCC-MNC": three digits, '-', two or three digits. */
static bool network_ok(const char *s)
{
	size_t n = strlen(s);
	if (n != 6 && n != 7)
		return false;
	for (size_t i = 0; i < n; i++)
		if (i == 3 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

int imei_replay_networks_set(struct imei_replay *r, const struct imei_replay_eval_config *cfg, char *err,
                             size_t errlen)
{
	if (cfg->nnetworks > IMEI_REPLAY_MAX_NETWORKS) {
		snprintf(err, errlen, "replay: %zu operator policies, at most %d", cfg->nnetworks, IMEI_REPLAY_MAX_NETWORKS);
		return -1;
	}
	for (size_t i = 0; i < cfg->nnetworks; i++) {
		const char *net = cfg->networks[i].network;
		if (!net || !network_ok(net)) {
			snprintf(err, errlen, "replay: operator policy %zu: '%s' is not a home network MCC-MNC (e.g. 410-06)",
			         i + 1, net ? net : "");
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->networks[k].network, net) == 0) {
				snprintf(err, errlen, "replay: network %s has two operator policies", net);
				return -1;
			}
	}
	for (size_t i = 0; i < cfg->nnetworks; i++) {
		r->networks[i] = strdup(cfg->networks[i].network);
		if (!r->networks[i]) {
			r->nnetworks = i;
			snprintf(err, errlen, "replay: out of memory");
			return -1;
		}
	}
	r->nnetworks = cfg->nnetworks;
	return 0;
}

const struct imei_replay_compare *imei_replay_compare_result(const struct imei_replay *r)
{
	return r->cmp ? &r->cmp->pub : NULL;
}

const char *imei_replay_old_condition_name(const struct imei_replay *r, size_t i)
{
	return i < atomic_load(&((struct imei_replay *)r)->old_ncond) ? r->old_cond_names[i] : NULL;
}

uint64_t imei_replay_network_pairs(const struct imei_replay *r, size_t i)
{
	return i <= r->nnetworks ? r->network_pairs[i] : 0;
}

size_t imei_replay_nnetworks(const struct imei_replay *r)
{
	return r->nnetworks;
}
