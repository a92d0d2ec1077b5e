/*
 * replay_eval.c — the evaluation of a replay (replay_state.h): every observed (device,
 * IMSI) pair is decided by the policy at the run's date, as an EIR would decide a check of
 * that subscriber with that device. Each thread has its own engine (a sandboxed lua_State)
 * and takes chunks of pairs from an atomic cursor; each verdict lands in its own pair, so
 * results are the same with 1 or N threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lua.h>

#include "imei_sandbox.h"
#include "replay_state.h"

/* ---- evaluation ------------------------------------------------------------------ */


/* A table of condition names: NEW's (the replay's own) or OLD's (--compare). */
struct cond_table {
	char **names;
	enum imei_status *status;
	_Atomic size_t *n;
};

static struct cond_table new_table(struct imei_replay *r)
{
	return (struct cond_table){ r->cond_names, r->cond_status, &r->ncond };
}

static struct cond_table old_table(struct imei_replay *r)
{
	return (struct cond_table){ r->old_cond_names, r->old_cond_status, &r->old_ncond };
}

/* The index of a condition name, adding it when new; -1 when the table is full. */
static int cond_index(struct imei_replay *r, const struct cond_table *t, const char *name)
{
	size_t n = atomic_load_explicit(t->n, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (strcmp(t->names[i], name) == 0)
			return (int)i;
	pthread_mutex_lock(&r->clock_);
	n = atomic_load_explicit(t->n, memory_order_acquire);
	int found = -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(t->names[i], name) == 0)
			found = (int)i;
	if (found < 0 && n < IMEI_REPLAY_MAX_CONDITIONS) {
		char *copy = strdup(name);
		if (copy) {
			t->names[n] = copy;
			t->status[n] = IMEI_STATUS_BLACKLISTED;
			atomic_store_explicit(t->n, n + 1, memory_order_release);
			found = (int)n;
		}
	}
	pthread_mutex_unlock(&r->clock_);
	return found;
}

static int32_t parse_iso_day(const char *s)
{
	int32_t day;
	if (s && imei_dump_date(s, strlen(s), &day))
		return day;
	return IMEI_REPLAY_NO_DAY;
}

static size_t digits_of(uint64_t enc, char *out)
{
	return imei_sight_digits_str(enc, out);
}

/* MCCs whose MNCs have 3 digits (ITU-T E.212 assignments): North America and the
 * Caribbean, India's 405 series, and a few in Latin America. */
static bool three_digit_mnc(unsigned mcc)
{
	switch (mcc) {
	case 302: case 310: case 311: case 312: case 313: case 314: case 315: case 316:
	case 334: case 338: case 342: case 344: case 346: case 348: case 354: case 356:
	case 358: case 360: case 365: case 376: case 405: case 708: case 722: case 732:
		return true;
	default:
		return false;
	}
}

/* The home network of an IMSI given as its n digits d. */
static void home_network_of(const char *d, size_t n, char *out)
{
	if (n < 6) {
		out[0] = 0;
		return;
	}
	unsigned mcc = (unsigned)((d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0'));
	size_t mnc = three_digit_mnc(mcc) ? 3 : 2;
	memcpy(out, d, 3);
	out[3] = '-';
	memcpy(out + 4, d + 3, mnc);
	out[4 + mnc] = 0;
}

void imei_replay_home_network(uint64_t imsi, char *out)
{
	char d[24];
	size_t n = imei_sight_digits_str(imsi, d);
	home_network_of(d, n, out);
}

static void note_failure(struct imei_replay *r, const struct imei_replay_pair *p, const char *msg)
{
	pthread_mutex_lock(&r->clock_);
	if (r->nfailures < MAX_FAILURES) {
		char id[IMEI_DUMP_MAX_IDENT + 1], imsi[24], buf[600];
		imei_replay_ident_str(r, p->ident, id);
		digits_of(p->imsi, imsi);
		snprintf(buf, sizeof buf, "%s/%s: %s", id, imsi, msg ? msg : "the policy failed");
		r->failures[r->nfailures] = strdup(buf);
		if (r->failures[r->nfailures])
			r->nfailures++;
	}
	pthread_mutex_unlock(&r->clock_);
}

/* The engine that decides a pair: its subscriber's home network's policy, else the
 * national one (docs/classify.md, operator policies). */
static size_t network_of(const struct imei_replay *r, const char *net)
{
	for (size_t i = 0; i < r->nnetworks; i++)
		if (strcmp(r->networks[i], net) == 0)
			return i;
	return r->nnetworks;
}

static void evaluate(struct imei_replay *r, struct imei_engine *e, const struct cond_table *t,
                     struct imei_verdict *vp, const struct imei_replay_pair *p, struct replay_verdict *d)
{
	char pei[IMEI_DUMP_MAX_IDENT + 1], imsi[24], msisdn[24], net[8];
	if (p->ident < IMEI_REPLAY_TEXT_BASE)
		imei_dump_form_digits(p->ident, p->form, pei); /* as the device was written */
	else
		imei_replay_ident_str(r, p->ident, pei);
	size_t imsi_len = digits_of(p->imsi, imsi);
	home_network_of(imsi, imsi_len, net);
	bool has_msisdn = p->msisdn && digits_of(p->msisdn, msisdn) > 0;
	const char *extras[2] = { "network", r->op_names[p->op] };
	struct imei_request req = {
		.pei = pei,
		.imsi = imsi,
		.msisdn = has_msisdn ? msisdn : NULL,
		.operator_id = net[0] ? net : NULL,
		.rat = p->rat ? imei_sight_rat_name(p->rat) : NULL,
		.time = (long long)r->run_day * IMEI_SIGHT_DAY,
		.nextras = 1,
		.extras = extras,
	};
	int rc = imei_engine_check(e, &req, vp);
	const struct imei_verdict v = *vp;
	struct imei_replay_outcome *o = &d->o;
	d->status = (uint8_t)v.status;
	d->flags = 0;
	o->matched = o->blocked = o->grace = 0;
	o->block_day = parse_iso_day(v.block_date);
	if (rc < 0 || v.failed) {
		d->flags |= IMEI_REPLAY_FAILED;
		if (t->names == r->cond_names)
			note_failure(r, p, v.error); /* OLD's failures are counted, not listed */
		if (rc < 0)
			return; /* the whole policy failed: nothing decided */
	} /* else some conditions failed and decided nothing; the others still count */
	if (v.notify)
		d->flags |= IMEI_REPLAY_NOTIFY;
	for (size_t i = 0; i < v.nreasons; i++) {
		const struct imei_reason *reason = &v.reasons[i];
		int idx = cond_index(r, t, reason->condition ? reason->condition : "");
		if (idx < 0)
			continue;
		uint64_t bit = 1ULL << idx;
		if (reason->failed && reason->informative)
			continue; /* failed without an on_error status: it decided nothing */
		if (reason->informative) {
			o->matched |= bit;
			continue;
		}
		if (reason->overruled)
			continue; /* the runtime says a final condition decided instead: this one decided nothing */
		o->matched |= bit;
		if (reason->status == IMEI_STATUS_BLACKLISTED)
			o->blocked |= bit;
		else if (reason->status == IMEI_STATUS_GREYLISTED && reason->block_date) {
			int32_t bd = parse_iso_day(reason->block_date);
			if (t->status[idx] != IMEI_STATUS_GREYLISTED || (bd != IMEI_REPLAY_NO_DAY && bd > r->run_day))
				o->grace |= bit;
		}
	}
}

/* The index of an outcome in the run's table; when it cannot be added (out of memory, or
 * 2^32 - 2 distinct outcomes), the run fails (imei_replay_eval_wait): no verdict is
 * published without its conditions. */
static uint32_t keep_outcome(struct worker *w, const struct imei_replay_outcome *o)
{
	uint32_t i = imei_replay_outcomes_intern(&w->r->outcomes, &w->cache, o);
	if (i == REPLAY_OUTCOME_NONE) {
		atomic_store(&w->r->outcomes_failed, true);
		return 0;
	}
	return i;
}

/* One pair: by its policy (NEW, or its network's), and by OLD when comparing. */
static void evaluate_pair(struct worker *w, struct imei_verdict *vp, size_t j)
{
	struct imei_replay *r = w->r;
	struct imei_replay_pair *p = &r->pairs[j];
	struct imei_engine *e = w->engine;
	if (r->nnetworks) {
		char net[8];
		imei_replay_home_network(p->imsi, net);
		size_t k = network_of(r, net);
		if (k < r->nnetworks)
			e = w->net_engines[k];
		w->net_pairs[k]++;
	}
	struct cond_table t = new_table(r);
	struct replay_verdict d;
	evaluate(r, e, &t, vp, p, &d);
	p->status = d.status & 3;
	p->flags = (uint8_t)((p->flags & ~(IMEI_REPLAY_NOTIFY | IMEI_REPLAY_FAILED)) | d.flags);
	p->outcome = keep_outcome(w, &d.o);
	if (w->old_engine) {
		struct cond_table ot = old_table(r);
		evaluate(r, w->old_engine, &ot, vp, p, &d);
		r->old[j] = (struct replay_decision){ keep_outcome(w, &d.o), d.status, d.flags };
	}
}

/* The store key of pair j, or UINT64_MAX (past the end, or a text: no sightings). */
static uint64_t pair_key(const struct imei_replay *r, size_t j)
{
	if (j >= r->npairs || r->pairs[j].ident >= IMEI_REPLAY_TEXT_BASE)
		return UINT64_MAX;
	return r->pairs[j].ident;
}

/* A replay decides in bulk: throughput counts, not a check's pause. Its engines' states
 * collect at Lua's default pace (a minor collection when the heap has grown by 20 %),
 * not at the engine's (1 %, for the p99.9 of a live check: host/sandbox.c), whose fixed
 * cost per collection (the atomic phase over every old table a check touches) is paid
 * 20 times as often. Only the pace changes: the memory cap is the allocator's. */
static void batch_pace(struct imei_engine *e)
{
	if (e)
		lua_gc(imei_sandbox_state(imei_engine_sandbox(e)), LUA_GCGEN, 20, 100);
}

/* A thread's engines: the policy's, OLD's when comparing, each operator policy's. */
static int make_engines(struct worker *w, const struct imei_engine_config *ec, const struct imei_replay_eval_config *cfg,
                        char *err, size_t errlen)
{
	w->engine = imei_engine_new(ec, err, errlen);
	if (!w->engine)
		return -1;
	batch_pace(w->engine);
	if (cfg->compare) {
		struct imei_engine_config oc = *cfg->compare;
		oc.record = false;
		oc.skip_examples = true;
		w->old_engine = imei_engine_new(&oc, err, errlen);
		if (!w->old_engine)
			return -1;
		batch_pace(w->old_engine);
	}
	for (size_t k = 0; k < cfg->nnetworks; k++) {
		struct imei_engine_config nc = cfg->networks[k].engine;
		nc.record = false;
		nc.skip_examples = true;
		w->net_engines[k] = imei_engine_new(&nc, err, errlen);
		if (!w->net_engines[k])
			return -1;
		batch_pace(w->net_engines[k]);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct imei_replay *r = w->r;
	struct imei_verdict v = IMEI_VERDICT_INIT; /* its buffers serve every check of this worker */
	/* its engines (a policy load each), made beside the other workers', then the word of
	 * eval_start, which has seen them all made */
	int made = make_engines(w, w->ec, w->ecfg, w->made_err, sizeof w->made_err) < 0 ? -1 : 1;
	pthread_mutex_lock(&r->elock);
	w->made = made;
	r->made++;
	pthread_cond_broadcast(&r->edone);
	while (r->go == 0)
		pthread_cond_wait(&r->edone, &r->elock);
	bool go = r->go > 0;
	pthread_mutex_unlock(&r->elock);
	for (; go;) {
		/* a run whose outcomes found no room fails (imei_replay_eval_wait): the pairs
		 * not yet handed out are not decided in vain */
		if (replay_stopped(r) || atomic_load_explicit(&r->outcomes_failed, memory_order_relaxed))
			break;
		size_t i = atomic_fetch_add(&r->next_pair, EVAL_CHUNK);
		if (i >= r->npairs)
			break;
		size_t end = i + EVAL_CHUNK < r->npairs ? i + EVAL_CHUNK : r->npairs;
		for (size_t j = i; j < end; j++) {
			/* the sightings of the next pairs' devices on their way into the cache */
			imei_store_prefetch(r->store, pair_key(r, j + 2), pair_key(r, j + 1));
			imei_lists_prefetch_key(w->lists, pair_key(r, j + 2)); /* and their lists' slots */
			evaluate_pair(w, &v, j);
		}
		atomic_fetch_add_explicit(&r->p_pairs_done, end - i, memory_order_relaxed);
	}
	imei_verdict_release(&v);
	pthread_mutex_lock(&r->elock);
	for (size_t k = 0; k <= r->nnetworks; k++)
		r->network_pairs[k] += w->net_pairs[k];
	r->running--;
	pthread_cond_broadcast(&r->edone);
	pthread_mutex_unlock(&r->elock);
	return NULL;
}

int imei_replay_eval_start(struct imei_replay *r, const struct imei_replay_eval_config *cfg, char *err,
                           size_t errlen)
{
	if (!r->ingest_done) {
		snprintf(err, errlen, "replay: evaluate after the ingest is done");
		return -1;
	}
	if (r->eval_started) {
		snprintf(err, errlen, "replay: already evaluated");
		return -1;
	}
	if (cfg->nconditions > IMEI_REPLAY_MAX_CONDITIONS) {
		snprintf(err, errlen, "replay: the policy has %zu conditions, at most %d are counted", cfg->nconditions,
		         IMEI_REPLAY_MAX_CONDITIONS);
		return -1;
	}
	if (cfg->ncompare_conditions > IMEI_REPLAY_MAX_CONDITIONS) {
		snprintf(err, errlen, "replay: the compared policy has %zu conditions, at most %d are counted",
		         cfg->ncompare_conditions, IMEI_REPLAY_MAX_CONDITIONS);
		return -1;
	}
	if (imei_replay_networks_set(r, cfg, err, errlen) < 0)
		return -1;
	struct cond_table t = new_table(r), ot = old_table(r);
	for (size_t i = 0; i < cfg->nconditions; i++) {
		int idx = cond_index(r, &t, cfg->conditions[i].name);
		if (idx >= 0)
			r->cond_status[idx] = cfg->conditions[i].status;
	}
	for (size_t i = 0; cfg->compare && i < cfg->ncompare_conditions; i++) {
		int idx = cond_index(r, &ot, cfg->compare_conditions[i].name);
		if (idx >= 0)
			r->old_cond_status[idx] = cfg->compare_conditions[i].status;
	}
	if (cfg->compare && !r->old) {
		r->old = calloc(r->npairs ? r->npairs : 1, sizeof *r->old);
		if (!r->old) {
			snprintf(err, errlen, "replay: out of memory for the compared verdicts (%zu pairs)", r->npairs);
			return -1;
		}
	}
	/* the ingest wrote the store; from here on it is only read: a store of the run's own is
	 * frozen, so the evaluation threads' queries skip its lock (a write after this fails
	 * loudly); a caller's store that it goes on writing is left as it is */
	struct imei_store_error se;
	if (r->cfg.freeze_store && imei_store_freeze(r->store, &se) < 0) {
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return -1;
	}
	r->eval_started = true;
	clock_gettime(CLOCK_MONOTONIC, &r->t_eval);
	unsigned threads = cfg->threads ? cfg->threads : 1;
	if (threads > 64)
		threads = 64;
	if ((size_t)threads > (r->npairs + EVAL_CHUNK - 1) / EVAL_CHUNK)
		threads = (unsigned)((r->npairs + EVAL_CHUNK - 1) / EVAL_CHUNK);
	if (threads == 0)
		threads = 1;
	r->totals.threads = threads;
	r->workers = calloc(threads, sizeof *r->workers);
	if (!r->workers) {
		snprintf(err, errlen, "replay: out of memory");
		return -1;
	}
	struct imei_engine_config ec = cfg->engine;
	ec.record = false;      /* the ingest recorded every row already */
	ec.skip_examples = true; /* the caller loaded the policy once with its examples */
	r->nworkers = threads; /* freed by stop_workers from here on, whatever is made */
	atomic_store(&r->next_pair, 0);
	r->running = threads;
	r->made = 0;
	r->go = 0;
	unsigned started = 0;
	int create_rc = 0;
	for (unsigned i = 0; i < threads && create_rc == 0; i++) {
		r->workers[i].r = r;
		r->workers[i].ec = &ec;
		r->workers[i].ecfg = cfg;
		r->workers[i].lists = cfg->engine.lists;
		create_rc = pthread_create(&r->workers[i].thread, NULL, worker_main, &r->workers[i]);
		if (create_rc == 0) {
			r->workers[i].started = true;
			started++;
		}
	}
	/* every engine made (or not) before a pair is decided: a policy that does not load
	 * fails here, as the first worker's message, with no verdict written */
	const char *failed = NULL;
	pthread_mutex_lock(&r->elock);
	r->running -= threads - started;
	while (r->made < started)
		pthread_cond_wait(&r->edone, &r->elock);
	for (unsigned i = 0; i < started && !failed; i++)
		if (r->workers[i].made < 0)
			failed = r->workers[i].made_err;
	r->go = failed || create_rc != 0 ? -1 : 1;
	pthread_cond_broadcast(&r->edone);
	pthread_mutex_unlock(&r->elock);
	if (r->go < 0) {
		if (failed)
			snprintf(err, errlen, "%s", failed);
		else
			snprintf(err, errlen, "replay: cannot start an evaluation thread: %s", strerror(create_rc));
		imei_replay_stop_workers(r);
		return -1;
	}
	return 0;
}

void imei_replay_stop_workers(struct imei_replay *r)
{
	if (!r->workers)
		return;
	atomic_store(&r->next_pair, r->npairs); /* nothing more to hand out */
	for (unsigned i = 0; i < r->nworkers; i++)
		if (r->workers[i].started) {
			pthread_join(r->workers[i].thread, NULL);
			r->workers[i].started = false;
		}
	for (unsigned i = 0; i < r->nworkers; i++) {
		imei_engine_free(r->workers[i].engine);
		imei_engine_free(r->workers[i].old_engine);
		for (size_t k = 0; k < r->nnetworks; k++)
			imei_engine_free(r->workers[i].net_engines[k]);
	}
	free(r->workers);
	r->workers = NULL;
	r->nworkers = 0;
}

int imei_replay_eval_wait(struct imei_replay *r, unsigned ms, char *err, size_t errlen)
{
	if (r->eval_done)
		return IMEI_REPLAY_DONE;
	if (!r->eval_started) {
		snprintf(err, errlen, "replay: evaluation not started");
		return IMEI_REPLAY_ERROR;
	}
	struct timespec deadline = replay_deadline(ms);
	pthread_mutex_lock(&r->elock);
	int wrc = 0;
	while (r->running > 0 && wrc != ETIMEDOUT && !replay_stopped(r))
		wrc = pthread_cond_timedwait(&r->edone, &r->elock, &deadline);
	unsigned running = r->running;
	pthread_mutex_unlock(&r->elock);
	if (replay_stopped(r)) {
		imei_replay_stop_workers(r);
		return IMEI_REPLAY_STOPPED;
	}
	if (running > 0)
		return IMEI_REPLAY_MORE;
	imei_replay_stop_workers(r);
	if (atomic_load(&r->outcomes_failed)) {
		snprintf(err, errlen, "replay: no room for the verdicts' outcomes (out of memory)");
		return IMEI_REPLAY_ERROR;
	}
	r->totals.eval_seconds = replay_seconds_since(&r->t_eval);
	if (imei_replay_tally(r, err, errlen) < 0)
		return IMEI_REPLAY_ERROR;
	if (r->old && imei_replay_compare_tally(r, err, errlen) < 0)
		return IMEI_REPLAY_ERROR;
	r->eval_done = true;
	return IMEI_REPLAY_DONE;
}
