/*
 * replay.c — batch replay (replay.h): dumps in, sightings recorded, every observed
 * (device, IMSI) pair decided by the policy at the run's date, counts for the report.
 *
 * Ingest runs as two stages: a reader (read, gunzip, split, parse, check) and a recorder
 * (fold into the pair table, imei_store_record). With reader_thread the reader has a
 * thread of its own and hands sightings over in fixed-size batches through a small ring,
 * so memory stays bounded and the two cores overlap; without, one thread does both.
 * Evaluation gives each thread its own engine (a sandboxed lua_State) and hands out
 * chunks of pairs from an atomic cursor. Nothing here depends on the thread count: the
 * pair table is written by the reader alone, in file order, and each verdict lands in
 * its own pair, so results are the same with 1 or N threads.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "imei_engine.h"
#include "replay.h"
#include "sightings.h"
#include "tacdb.h"

#define BATCH_ROWS 8192
#define NBATCHES 4
#define SLICE_LINES 4096
#define EVAL_CHUNK 256
#define MAX_FAILURES 5


struct text_pool {
	char *arena;
	size_t used, cap;
	uint32_t *offs; /* offset of text i */
	uint8_t *kinds;
	size_t n, ncap;
	uint32_t *slots; /* open addressing: text index + 1, 0 empty */
	size_t nslots;
};

/* A pair while the dumps are read (the hash table's slots). */
struct pin {
	uint64_t ident, imsi, msisdn, ops; /* imsi 0: empty slot */
	int32_t first, last;
	uint32_t rows;
	uint8_t form, rat, op;
};

/* A row on its way into the pair table: rows are folded in batches, their slots
 * prefetched first, because the table is far larger than the caches and a miss per row
 * was the largest single cost of the ingest. */
#define FOLD_BATCH 64

struct pending {
	uint64_t ident, imsi, msisdn;
	size_t slot;
	int32_t day;
	uint32_t opcode; /* the store's operator code of the file, or 0 */
	uint8_t form, rat, op;
};

/* Accepted rows handed from the reader to the recorder. */
struct sbatch {
	size_t n;
	struct pending rows[BATCH_ROWS];
};

struct file_entry {
	struct imei_replay_file_stats st;
	char *path;
	uint32_t opcode; /* the store's encoding when the operator is named by MCC-MNC, else 0 */
	uint64_t size;   /* of a regular file, when added; 0: unknown (a pipe, standard input) */
};

struct worker {
	struct imei_replay *r;
	struct imei_engine *engine;
	pthread_t thread;
	bool started;
};

struct imei_replay {
	struct imei_replay_config cfg;
	struct imei_store *store;
	struct imei_tacdb *tacdb;

	struct file_entry *files;
	size_t nfiles;
	struct imei_replay_operator_stats ops[IMEI_REPLAY_MAX_OPERATORS];
	char *op_names[IMEI_REPLAY_MAX_OPERATORS];
	size_t nops;

	/* reader state (the reader thread alone touches these during ingest) */
	size_t cur_file;
	struct imei_dump_file *cur;
	struct imei_dump_layout layout;
	bool header_pending;
	uint64_t bytes_before; /* sizes of the files already read */
	struct text_pool pool;
	/* recorder state (the calling thread's): the pair table, a batch of sightings */
	struct pin *tab;
	size_t tab_cap, tab_n;
	struct imei_sighting *sightings;
	struct imei_replay_totals totals;
	struct imei_replay_example examples[IMEI_DUMP_NREJECT][IMEI_REPLAY_EXAMPLES];
	size_t nexamples[IMEI_DUMP_NREJECT];
	int32_t max_day, min_day;
	struct sbatch *fill; /* the batch being filled */
	char scratch[IMEI_DUMP_MAX_IDENT * 2 + IMEI_MAX_DIGITS + 8];
	char reader_err[600];

	/* the hand-over ring */
	pthread_mutex_t qlock;
	pthread_cond_t q_filled, q_freed;
	struct sbatch *filled[NBATCHES + 1];
	size_t fhead, fcount;
	struct sbatch *free_list[NBATCHES + 1];
	size_t nfree;
	struct sbatch *all_batches[NBATCHES + 1];
	bool reader_done, abort, thread_started;
	int reader_rc;
	pthread_t reader;
	bool ingest_started, ingest_done;
	struct timespec t_ingest;

	/* progress (read by the caller while the reader runs) */
	_Atomic uint64_t p_rows, p_rejected, p_bytes, p_pairs_done;
	_Atomic size_t p_file;

	/* results */
	struct imei_replay_pair *pairs;
	size_t npairs;

	/* evaluation */
	struct worker *workers;
	unsigned nworkers;
	_Atomic size_t next_pair;
	unsigned running;
	pthread_mutex_t elock;
	pthread_cond_t edone;
	bool eval_started, eval_done;
	struct timespec t_eval;
	int32_t run_day;
	char *cond_names[IMEI_REPLAY_MAX_CONDITIONS];
	enum imei_status cond_status[IMEI_REPLAY_MAX_CONDITIONS];
	_Atomic size_t ncond;
	pthread_mutex_t clock_;
	struct imei_replay_condition_stats cond_stats[IMEI_REPLAY_MAX_CONDITIONS];
	char *failures[MAX_FAILURES];
	size_t nfailures;
	uint32_t *tac_devices, *tac_blocked, *tac_notified;
	size_t ntacs;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static bool stopped(const struct imei_replay *r)
{
	return r->cfg.stop && *r->cfg.stop;
}

/* ---- setup ----------------------------------------------------------------------- */

struct imei_replay *imei_replay_new(const struct imei_replay_config *cfg, char *err, size_t errlen)
{
	if (!cfg || !cfg->store) {
		snprintf(err, errlen, "replay: a sightings store is required");
		return NULL;
	}
	struct imei_replay *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "replay: out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	if (r->cfg.layout.ncols == 0)
		imei_dump_layout_default(&r->cfg.layout);
	r->store = imei_store_retain(cfg->store);
	r->tacdb = cfg->tacdb ? imei_tacdb_ref(cfg->tacdb) : NULL;
	pthread_mutex_init(&r->qlock, NULL);
	pthread_cond_init(&r->q_filled, NULL);
	pthread_cond_init(&r->q_freed, NULL);
	pthread_mutex_init(&r->elock, NULL);
	pthread_cond_init(&r->edone, NULL);
	pthread_mutex_init(&r->clock_, NULL);
	r->max_day = INT32_MIN;
	r->min_day = INT32_MAX;
	r->run_day = cfg->run_day;
	r->totals.run_day = r->totals.first_day = r->totals.last_day = IMEI_REPLAY_NO_DAY;
	r->sightings = malloc(BATCH_ROWS * sizeof *r->sightings);
	if (!r->sightings) {
		imei_replay_free(r);
		snprintf(err, errlen, "replay: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < NBATCHES; i++) {
		r->all_batches[i] = malloc(sizeof(struct sbatch));
		if (!r->all_batches[i]) {
			imei_replay_free(r);
			snprintf(err, errlen, "replay: out of memory");
			return NULL;
		}
		r->all_batches[i]->n = 0;
		r->free_list[r->nfree++] = r->all_batches[i];
	}
	return r;
}

/* Stop the reader thread and join it. When a signal raised the stop flag (it holds the
 * signal's number), the reader may sit in a read() of a pipe that no more data will
 * come through: the same signal sent to its thread interrupts the read (the handler
 * is installed without SA_RESTART), so the join never hangs on an idle input. */
static void stop_reader(struct imei_replay *r)
{
	if (!r->thread_started)
		return;
	pthread_mutex_lock(&r->qlock);
	r->abort = true;
	pthread_cond_broadcast(&r->q_freed);
	pthread_cond_broadcast(&r->q_filled);
	int sig = r->cfg.stop ? (int)*r->cfg.stop : 0;
	struct sigaction sa;
	if (sig > 0 && (sigaction(sig, NULL, &sa) < 0 || sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
		sig = 0; /* only a handled signal can be sent on without harm */
	while (!r->reader_done) {
		if (sig > 0)
			pthread_kill(r->reader, sig);
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += 50000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->q_filled, &r->qlock, &t);
	}
	pthread_mutex_unlock(&r->qlock);
	pthread_join(r->reader, NULL);
	r->thread_started = false;
}

static void stop_workers(struct imei_replay *r)
{
	if (!r->workers)
		return;
	atomic_store(&r->next_pair, r->npairs); /* nothing more to hand out */
	for (unsigned i = 0; i < r->nworkers; i++)
		if (r->workers[i].started) {
			pthread_join(r->workers[i].thread, NULL);
			r->workers[i].started = false;
		}
	for (unsigned i = 0; i < r->nworkers; i++)
		imei_engine_free(r->workers[i].engine);
	free(r->workers);
	r->workers = NULL;
	r->nworkers = 0;
}

void imei_replay_free(struct imei_replay *r)
{
	if (!r)
		return;
	stop_reader(r);
	stop_workers(r);
	imei_dump_close(r->cur);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	for (size_t i = 0; i < r->nops; i++)
		free(r->op_names[i]);
	free(r->pool.arena);
	free(r->pool.offs);
	free(r->pool.kinds);
	free(r->pool.slots);
	free(r->tab);
	free(r->sightings);
	free(r->pairs);
	for (size_t i = 0; i < NBATCHES; i++)
		free(r->all_batches[i]);
	for (size_t i = 0; i < atomic_load(&r->ncond); i++)
		free(r->cond_names[i]);
	for (size_t i = 0; i < r->nfailures; i++)
		free(r->failures[i]);
	free(r->tac_devices);
	free(r->tac_blocked);
	free(r->tac_notified);
	if (r->tacdb)
		imei_tacdb_unref(r->tacdb);
	imei_store_release(r->store);
	pthread_mutex_destroy(&r->qlock);
	pthread_cond_destroy(&r->q_filled);
	pthread_cond_destroy(&r->q_freed);
	pthread_mutex_destroy(&r->elock);
	pthread_cond_destroy(&r->edone);
	pthread_mutex_destroy(&r->clock_);
	free(r);
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

int imei_replay_add_file(struct imei_replay *r, const char *path, const char *name, int32_t first, int32_t last,
                         char *err, size_t errlen)
{
	if (r->ingest_started) {
		snprintf(err, errlen, "replay: files must be added before the ingest starts");
		return -1;
	}
	if (!name || !name_ok(name) || strlen(name) > 64) {
		snprintf(err, errlen, "%s: operator name '%s': use 1 to 64 letters, digits, '.', '_' or '-'", path,
		         name ? name : "");
		return -1;
	}
	size_t op;
	for (op = 0; op < r->nops; op++)
		if (strcmp(r->op_names[op], name) == 0)
			break;
	if (op == r->nops) {
		if (r->nops == IMEI_REPLAY_MAX_OPERATORS) {
			snprintf(err, errlen, "%s: more than %d operators in one run", path, IMEI_REPLAY_MAX_OPERATORS);
			return -1;
		}
		if (!(r->op_names[op] = strdup(name))) {
			snprintf(err, errlen, "replay: out of memory");
			return -1;
		}
		r->ops[op].name = r->op_names[op];
		r->nops++;
	}
	struct file_entry *grown = realloc(r->files, (r->nfiles + 1) * sizeof *grown);
	if (!grown) {
		snprintf(err, errlen, "replay: out of memory");
		return -1;
	}
	r->files = grown;
	struct file_entry *f = &r->files[r->nfiles];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path))) {
		snprintf(err, errlen, "replay: out of memory");
		return -1;
	}
	f->st.path = f->path;
	f->st.op = op;
	f->st.first = first;
	f->st.last = last;
	f->st.seen_first = f->st.seen_last = IMEI_REPLAY_NO_DAY;
	uint32_t code;
	if (imei_sight_operator(name, strlen(name), &code, NULL) == 0)
		f->opcode = code;
	struct stat st;
	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
		f->size = (uint64_t)st.st_size;
	return (int)r->nfiles++;
}

/* ---- the text pool ----------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static const char *pool_text(const struct text_pool *p, size_t i)
{
	return p->arena + p->offs[i];
}

static long pool_find(const struct text_pool *p, const char *s, size_t n, size_t *slot)
{
	if (!p->nslots)
		return -1;
	size_t mask = p->nslots - 1, i = (size_t)hash_bytes(s, n) & mask;
	for (;; i = (i + 1) & mask) {
		uint32_t v = p->slots[i];
		if (!v) {
			if (slot)
				*slot = i;
			return -1;
		}
		const char *t = pool_text(p, v - 1);
		if (strlen(t) == n && memcmp(t, s, n) == 0)
			return (long)(v - 1);
	}
}

static int pool_grow_slots(struct text_pool *p)
{
	size_t n = p->nslots ? p->nslots * 2 : 1024;
	uint32_t *slots = calloc(n, sizeof *slots);
	if (!slots)
		return -1;
	for (size_t i = 0; i < p->n; i++) {
		const char *t = pool_text(p, i);
		size_t j = (size_t)hash_bytes(t, strlen(t)) & (n - 1);
		while (slots[j])
			j = (j + 1) & (n - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(p->slots);
	p->slots = slots;
	p->nslots = n;
	return 0;
}

/* The index of text s (added when new), or -1 when out of memory. */
static long pool_intern(struct text_pool *p, const char *s, size_t n, uint8_t kind)
{
	size_t slot;
	long found = pool_find(p, s, n, &slot);
	if (found >= 0)
		return found;
	if ((p->n + 1) * 4 >= p->nslots * 3) {
		if (pool_grow_slots(p) < 0)
			return -1;
		pool_find(p, s, n, &slot);
	}
	if (p->used + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 65536;
		while (cap < p->used + n + 1)
			cap *= 2;
		if (cap > UINT32_MAX)
			return -1;
		char *a = realloc(p->arena, cap);
		if (!a)
			return -1;
		p->arena = a;
		p->cap = cap;
	}
	if (p->n == p->ncap) {
		size_t ncap = p->ncap ? p->ncap * 2 : 256;
		uint32_t *offs = realloc(p->offs, ncap * sizeof *offs);
		if (!offs)
			return -1;
		p->offs = offs;
		uint8_t *kinds = realloc(p->kinds, ncap);
		if (!kinds)
			return -1;
		p->kinds = kinds;
		p->ncap = ncap;
	}
	memcpy(p->arena + p->used, s, n);
	p->arena[p->used + n] = 0;
	p->offs[p->n] = (uint32_t)p->used;
	p->kinds[p->n] = kind;
	p->used += n + 1;
	p->slots[slot] = (uint32_t)p->n + 1;
	return (long)p->n++;
}

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
static int fold_rows(struct imei_replay *r, struct pending *rows, size_t n)
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

/* ---- the reader -------------------------------------------------------------------- */

static void sanitize(const char *s, size_t n, char *out, size_t cap)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 4 < cap; i++)
		out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (n > k && k + 4 <= cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = 0;
}

static void refuse(struct imei_replay *r, struct file_entry *f, size_t lineno, const struct imei_dump_problem *why,
                   const char *line, size_t len)
{
	enum imei_dump_reject reason = why->reason;
	f->st.rejected++;
	f->st.by_reason[reason]++;
	r->totals.rejected++;
	r->totals.by_reason[reason]++;
	r->ops[f->st.op].rejected++;
	size_t k = r->nexamples[reason];
	if (k < IMEI_REPLAY_EXAMPLES) {
		struct imei_replay_example *ex = &r->examples[reason][k];
		ex->file = r->cur_file;
		ex->line = lineno;
		ex->field = why->field;
		snprintf(ex->msg, sizeof ex->msg, "%s", why->msg);
		sanitize(line, len, ex->text, sizeof ex->text);
		r->nexamples[reason] = k + 1;
	}
}

/* The recorder's part: fold a batch into the pair table and record its IMEI rows in the
 * store. In the recorder thread when there is one: the two memory-bound steps there,
 * reading and parsing in the reader. */
static int record_batch(struct imei_replay *r, struct sbatch *b, char *err, size_t errlen)
{
	for (size_t i = 0; i < b->n; i += FOLD_BATCH) {
		size_t n = b->n - i < FOLD_BATCH ? b->n - i : FOLD_BATCH;
		if (fold_rows(r, b->rows + i, n) < 0) {
			snprintf(err, errlen, "replay: out of memory (%zu pairs)", r->tab_n);
			return -1;
		}
	}
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct pending *p = &b->rows[i];
		if (p->ident >= IMEI_REPLAY_TEXT_BASE)
			continue; /* not an IMEI: no sighting */
		r->sightings[n++] = (struct imei_sighting){
			.key = p->ident, .imsi = p->imsi, .msisdn = p->msisdn, .op = p->opcode,
			.time = (uint32_t)p->day * IMEI_SIGHT_DAY, .rat = p->rat,
		};
	}
	b->n = 0;
	struct imei_store_error se;
	size_t done;
	if (n && imei_store_record_many(r->store, r->sightings, n, &done, &se) < 0) {
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return -1;
	}
	return 0;
}

/* Hand the filled batch over (threaded) or record it (inline). */
static int emit_batch(struct imei_replay *r)
{
	struct sbatch *b = r->fill;
	if (!b || b->n == 0)
		return 0;
	if (!r->cfg.reader_thread) {
		return record_batch(r, b, r->reader_err, sizeof r->reader_err);
	}
	pthread_mutex_lock(&r->qlock);
	r->filled[(r->fhead + r->fcount) % (NBATCHES + 1)] = b;
	r->fcount++;
	pthread_cond_signal(&r->q_filled);
	while (r->nfree == 0 && !r->abort)
		pthread_cond_wait(&r->q_freed, &r->qlock);
	if (r->abort) {
		r->fill = NULL;
		pthread_mutex_unlock(&r->qlock);
		return -2;
	}
	r->fill = r->free_list[--r->nfree];
	r->fill->n = 0;
	pthread_mutex_unlock(&r->qlock);
	return 0;
}

static void publish_progress(struct imei_replay *r)
{
	atomic_store_explicit(&r->p_rows, r->totals.rows, memory_order_relaxed);
	atomic_store_explicit(&r->p_rejected, r->totals.rejected, memory_order_relaxed);
	atomic_store_explicit(&r->p_file, r->cur_file, memory_order_relaxed);
	uint64_t in_file = r->cur ? imei_dump_offset(r->cur) : 0;
	atomic_store_explicit(&r->p_bytes, r->bytes_before + in_file, memory_order_relaxed);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* One line of the current file. 0, or -1 with reader_err (a file-level problem). */
static int take_line(struct imei_replay *r, struct file_entry *f, const char *line, size_t len, size_t lineno,
                     bool too_long)
{
	struct imei_dump_problem why;
	if (too_long) {
		f->st.rows++;
		r->totals.rows++;
		r->ops[f->st.op].rows++;
		why.reason = IMEI_DUMP_R_LONG;
		why.field = 0;
		snprintf(why.msg, sizeof why.msg, "a line of more than %d bytes", IMEI_DUMP_MAX_LINE);
		refuse(r, f, lineno, &why, line, len);
		return 0;
	}
	if (blank(line, len)) {
		f->st.blank++;
		r->totals.blank++;
		return 0;
	}
	if (r->header_pending) {
		r->header_pending = false;
		if (imei_dump_is_header(line, len, r->cfg.layout.delim)) {
			f->st.header = true;
			r->totals.headers++;
			if (!r->cfg.layout_explicit) {
				char why_h[300];
				if (imei_dump_header_layout(line, len, r->cfg.layout.delim, &r->layout, why_h, sizeof why_h) < 0) {
					snprintf(r->reader_err, sizeof r->reader_err, "%s:%zu: %s (or give the layout with --columns)",
					         f->path, lineno, why_h);
					return -1;
				}
			}
			return 0;
		}
	}
	f->st.rows++;
	r->totals.rows++;
	r->ops[f->st.op].rows++;
	struct imei_dump_row row;
	if (imei_dump_parse(&r->layout, line, len, &row, r->scratch, &why) != IMEI_DUMP_OK) {
		refuse(r, f, lineno, &why, line, len);
		return 0;
	}
	if ((f->st.first != IMEI_REPLAY_NO_DAY && row.day < f->st.first) ||
	    (f->st.last != IMEI_REPLAY_NO_DAY && row.day > f->st.last)) {
		char d[9], a[9], b[9];
		imei_dump_day_str(row.day, d);
		imei_dump_day_str(f->st.first, a);
		imei_dump_day_str(f->st.last, b);
		why.reason = IMEI_DUMP_R_DATE_RANGE;
		why.field = 0;
		for (size_t i = 0; i < r->layout.ncols; i++)
			if (r->layout.col[i] == IMEI_DUMP_COL_DATE)
				why.field = (unsigned)i + 1;
		snprintf(why.msg, sizeof why.msg, "date: %s is outside the file's period %s-%s", d, a, b);
		refuse(r, f, lineno, &why, line, len);
		return 0;
	}
	if (r->cfg.run_day != IMEI_REPLAY_NO_DAY && row.day > r->cfg.run_day) {
		char d[9], a[9];
		imei_dump_day_str(row.day, d);
		imei_dump_day_str(r->cfg.run_day, a);
		why.reason = IMEI_DUMP_R_DATE_RANGE;
		why.field = 0;
		for (size_t i = 0; i < r->layout.ncols; i++)
			if (r->layout.col[i] == IMEI_DUMP_COL_DATE)
				why.field = (unsigned)i + 1;
		snprintf(why.msg, sizeof why.msg, "date: %s is after the run's date %s", d, a);
		refuse(r, f, lineno, &why, line, len);
		return 0;
	}
	uint64_t ident = row.key;
	if (row.form == IMEI_DUMP_FORM_TEXT) {
		long id = pool_intern(&r->pool, row.ident, row.ident_len, row.kind);
		if (id < 0) {
			snprintf(r->reader_err, sizeof r->reader_err, "replay: out of memory (identity texts)");
			return -1;
		}
		ident = IMEI_REPLAY_TEXT_BASE + (uint64_t)id;
	}
	struct pending *p = &r->fill->rows[r->fill->n++];
	p->ident = ident;
	p->imsi = row.imsi;
	p->msisdn = row.msisdn;
	p->day = row.day;
	p->opcode = f->opcode;
	p->form = row.form;
	p->rat = row.rat;
	p->op = (uint8_t)f->st.op;
	f->st.accepted++;
	r->totals.accepted++;
	if (row.day > r->max_day)
		r->max_day = row.day;
	if (row.day < r->min_day)
		r->min_day = row.day;
	if (f->st.seen_first == IMEI_REPLAY_NO_DAY || row.day < f->st.seen_first)
		f->st.seen_first = row.day;
	if (f->st.seen_last == IMEI_REPLAY_NO_DAY || row.day > f->st.seen_last)
		f->st.seen_last = row.day;
	if (row.form != IMEI_DUMP_FORM_TEXT)
		r->totals.sightings++;
	if (r->fill->n == BATCH_ROWS) {
		int rc = emit_batch(r);
		if (rc == -2)
			return -2;
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int read_lines(struct imei_replay *r, size_t max);

/* Read up to max lines. 1 more to do, 0 all files read, -1 error (reader_err), -2 stopped. */
static int reader_step(struct imei_replay *r, size_t max)
{
	return read_lines(r, max);
}

static int read_lines(struct imei_replay *r, size_t max)
{
	for (size_t n = 0; n < max;) {
		if (!r->cur) {
			if (r->cur_file == r->nfiles)
				return 0;
			struct file_entry *f = &r->files[r->cur_file];
			r->cur = imei_dump_open(f->path, r->reader_err, sizeof r->reader_err);
			if (!r->cur)
				return -1;
			f->st.gzip = imei_dump_gzip(r->cur);
			r->layout = r->cfg.layout;
			r->header_pending = true;
		}
		struct file_entry *f = &r->files[r->cur_file];
		const char *line;
		size_t len, lineno;
		bool too_long;
		int rc = imei_dump_next(r->cur, &line, &len, &lineno, &too_long, r->reader_err, sizeof r->reader_err);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			uint64_t size = imei_dump_size(r->cur);
			f->st.bytes = size ? size : imei_dump_offset(r->cur);
			f->st.unterminated_line = imei_dump_unterminated(r->cur);
			f->st.done = true;
			r->bytes_before += f->st.bytes;
			imei_dump_close(r->cur);
			r->cur = NULL;
			r->cur_file++;
			continue;
		}
		n++;
		rc = take_line(r, f, line, len, lineno, too_long);
		if (rc < 0)
			return rc;
	}
	return 1;
}

static void *reader_main(void *arg)
{
	struct imei_replay *r = arg;
	int rc;
	for (;;) {
		rc = reader_step(r, SLICE_LINES);
		publish_progress(r);
		if (rc != 1)
			break;
		if (stopped(r)) {
			rc = -2;
			break;
		}
		pthread_mutex_lock(&r->qlock);
		bool aborted = r->abort;
		pthread_mutex_unlock(&r->qlock);
		if (aborted) {
			rc = -2;
			break;
		}
	}
	if (rc == 0 && emit_batch(r) == -2)
		rc = -2;
	pthread_mutex_lock(&r->qlock);
	r->reader_done = true;
	r->reader_rc = rc;
	pthread_cond_broadcast(&r->q_filled);
	pthread_mutex_unlock(&r->qlock);
	return NULL;
}

/* ---- end of ingest: the pairs in order --------------------------------------------- */

struct order {
	uint64_t ident, imsi;
	size_t slot;
};

static int order_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;
	if (x->ident != y->ident)
		return x->ident < y->ident ? -1 : 1;
	if (x->imsi != y->imsi)
		return x->imsi < y->imsi ? -1 : 1;
	return 0;
}

static int finish_ingest(struct imei_replay *r, char *err, size_t errlen)
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
	size_t n = r->tab_n;
	struct order *ord = n ? malloc(n * sizeof *ord) : NULL;
	r->pairs = n ? malloc(n * sizeof *r->pairs) : NULL;
	if (n && (!ord || !r->pairs)) {
		free(ord);
		snprintf(err, errlen, "replay: out of memory sorting %zu pairs", n);
		return IMEI_REPLAY_ERROR;
	}
	size_t k = 0;
	for (size_t i = 0; i < r->tab_cap; i++)
		if (r->tab[i].imsi)
			ord[k++] = (struct order){ r->tab[i].ident, r->tab[i].imsi, i };
	if (n)
		qsort(ord, n, sizeof *ord, order_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct pin *e = &r->tab[ord[i].slot];
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
		if (i == 0 || ord[i - 1].ident != e->ident)
			p->flags |= IMEI_REPLAY_DEVICE;
	}
	free(ord);
	free(r->tab);
	r->tab = NULL;
	r->tab_cap = 0;
	r->npairs = n;
	r->totals.pairs = n;
	r->totals.ingest_seconds = seconds_since(&r->t_ingest);
	r->ingest_done = true;
	return IMEI_REPLAY_DONE;
}

int imei_replay_ingest(struct imei_replay *r, unsigned ms, char *err, size_t errlen)
{
	if (r->ingest_done)
		return IMEI_REPLAY_DONE;
	if (stopped(r)) {
		stop_reader(r);
		return IMEI_REPLAY_STOPPED;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!r->ingest_started) {
		r->ingest_started = true;
		r->t_ingest = t0;
		r->fill = r->free_list[--r->nfree];
		r->fill->n = 0;
		if (r->cfg.reader_thread) {
			int rc = pthread_create(&r->reader, NULL, reader_main, r);
			if (rc != 0) {
				snprintf(err, errlen, "replay: cannot start the reader thread: %s", strerror(rc));
				return IMEI_REPLAY_ERROR;
			}
			r->thread_started = true;
		}
	}
	double budget = ms / 1000.0;
	if (!r->cfg.reader_thread) {
		for (;;) {
			int rc = reader_step(r, SLICE_LINES);
			publish_progress(r);
			if (rc < 0) {
				snprintf(err, errlen, "%s", r->reader_err);
				return IMEI_REPLAY_ERROR;
			}
			if (rc == 0)
				break;
			if (stopped(r))
				return IMEI_REPLAY_STOPPED;
			if (seconds_since(&t0) >= budget)
				return IMEI_REPLAY_MORE;
		}
		if (emit_batch(r) < 0) {
			snprintf(err, errlen, "%s", r->reader_err);
			return IMEI_REPLAY_ERROR;
		}
		return finish_ingest(r, err, errlen);
	}
	/* threaded: record what the reader hands over, until the time is up */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	for (;;) {
		if (stopped(r)) {
			stop_reader(r);
			return IMEI_REPLAY_STOPPED;
		}
		pthread_mutex_lock(&r->qlock);
		int wrc = 0;
		while (r->fcount == 0 && !r->reader_done && wrc != ETIMEDOUT)
			wrc = pthread_cond_timedwait(&r->q_filled, &r->qlock, &deadline);
		if (r->fcount > 0) {
			struct sbatch *b = r->filled[r->fhead];
			r->fhead = (r->fhead + 1) % (NBATCHES + 1);
			r->fcount--;
			pthread_mutex_unlock(&r->qlock);
			int rc = record_batch(r, b, err, errlen);
			pthread_mutex_lock(&r->qlock);
			r->free_list[r->nfree++] = b;
			pthread_cond_signal(&r->q_freed);
			pthread_mutex_unlock(&r->qlock);
			if (rc < 0) {
				stop_reader(r);
				return IMEI_REPLAY_ERROR;
			}
			if (seconds_since(&t0) >= budget)
				return IMEI_REPLAY_MORE;
			continue;
		}
		if (r->reader_done) {
			int rrc = r->reader_rc;
			pthread_mutex_unlock(&r->qlock);
			pthread_join(r->reader, NULL);
			r->thread_started = false;
			if (rrc == -1) {
				snprintf(err, errlen, "%s", r->reader_err);
				return IMEI_REPLAY_ERROR;
			}
			if (rrc == -2)
				return IMEI_REPLAY_STOPPED;
			return finish_ingest(r, err, errlen);
		}
		pthread_mutex_unlock(&r->qlock);
		return IMEI_REPLAY_MORE; /* timed out */
	}
}

void imei_replay_progress(struct imei_replay *r, struct imei_replay_progress *p)
{
	memset(p, 0, sizeof *p);
	p->rows = atomic_load_explicit(&r->p_rows, memory_order_relaxed);
	p->rejected = atomic_load_explicit(&r->p_rejected, memory_order_relaxed);
	p->bytes = atomic_load_explicit(&r->p_bytes, memory_order_relaxed);
	p->file = atomic_load_explicit(&r->p_file, memory_order_relaxed);
	uint64_t total = 0;
	for (size_t i = 0; i < r->nfiles; i++) {
		if (!r->files[i].size) {
			total = 0;
			break;
		}
		total += r->files[i].size;
	}
	p->bytes_total = total;
	p->pairs = r->npairs;
	p->pairs_done = atomic_load_explicit(&r->p_pairs_done, memory_order_relaxed);
}

/* ---- evaluation ------------------------------------------------------------------ */

static const int severity[4] = { 0 /* WHITELISTED */, 3 /* BLACKLISTED */, 2 /* GREYLISTED */, 1 /* UNKNOWN */ };

/* The index of a condition name, adding it when new; -1 when the table is full. */
static int cond_index(struct imei_replay *r, const char *name)
{
	size_t n = atomic_load_explicit(&r->ncond, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (strcmp(r->cond_names[i], name) == 0)
			return (int)i;
	pthread_mutex_lock(&r->clock_);
	n = atomic_load_explicit(&r->ncond, memory_order_acquire);
	int found = -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(r->cond_names[i], name) == 0)
			found = (int)i;
	if (found < 0 && n < IMEI_REPLAY_MAX_CONDITIONS) {
		char *copy = strdup(name);
		if (copy) {
			r->cond_names[n] = copy;
			r->cond_status[n] = IMEI_STATUS_BLACKLISTED;
			atomic_store_explicit(&r->ncond, n + 1, memory_order_release);
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

void imei_replay_home_network(uint64_t imsi, char *out)
{
	char d[24];
	size_t n = imei_sight_digits_str(imsi, d);
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

static void evaluate(struct imei_replay *r, struct imei_engine *e, struct imei_replay_pair *p)
{
	char pei[IMEI_DUMP_MAX_IDENT + 1], imsi[24], msisdn[24], net[8];
	if (p->ident < IMEI_REPLAY_TEXT_BASE)
		imei_dump_form_digits(p->ident, p->form, pei); /* as the device was written */
	else
		imei_replay_ident_str(r, p->ident, pei);
	digits_of(p->imsi, imsi);
	bool has_msisdn = p->msisdn && digits_of(p->msisdn, msisdn) > 0;
	imei_replay_home_network(p->imsi, net);
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
	struct imei_verdict v;
	int rc = imei_engine_check(e, &req, &v);
	p->status = (uint8_t)v.status;
	p->flags &= (uint8_t)~(IMEI_REPLAY_NOTIFY | IMEI_REPLAY_FAILED);
	p->matched = p->blocked = p->grace = 0;
	p->block_day = parse_iso_day(v.block_date);
	if (rc < 0 || v.failed) {
		p->flags |= IMEI_REPLAY_FAILED;
		note_failure(r, p, v.error);
		return;
	}
	if (v.notify)
		p->flags |= IMEI_REPLAY_NOTIFY;
	int vsev = severity[v.status & 3];
	for (size_t i = 0; i < v.nreasons; i++) {
		const struct imei_reason *reason = &v.reasons[i];
		int idx = cond_index(r, reason->condition ? reason->condition : "");
		if (idx < 0)
			continue;
		uint64_t bit = 1ULL << idx;
		if (reason->informative) {
			p->matched |= bit;
			continue;
		}
		if (severity[reason->status & 3] > vsev)
			continue; /* overruled by a final condition: it decided nothing */
		p->matched |= bit;
		if (reason->status == IMEI_STATUS_BLACKLISTED)
			p->blocked |= bit;
		else if (reason->status == IMEI_STATUS_GREYLISTED && reason->block_date) {
			int32_t bd = parse_iso_day(reason->block_date);
			if (r->cond_status[idx] != IMEI_STATUS_GREYLISTED || (bd != IMEI_REPLAY_NO_DAY && bd > r->run_day))
				p->grace |= bit;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct imei_replay *r = w->r;
	for (;;) {
		if (stopped(r))
			break;
		size_t i = atomic_fetch_add(&r->next_pair, EVAL_CHUNK);
		if (i >= r->npairs)
			break;
		size_t end = i + EVAL_CHUNK < r->npairs ? i + EVAL_CHUNK : r->npairs;
		for (size_t j = i; j < end; j++)
			evaluate(r, w->engine, &r->pairs[j]);
		atomic_fetch_add_explicit(&r->p_pairs_done, end - i, memory_order_relaxed);
	}
	pthread_mutex_lock(&r->elock);
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
	for (size_t i = 0; i < cfg->nconditions; i++) {
		int idx = cond_index(r, cfg->conditions[i].name);
		if (idx >= 0)
			r->cond_status[idx] = cfg->conditions[i].status;
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
	for (unsigned i = 0; i < threads; i++) {
		r->workers[i].r = r;
		r->workers[i].engine = imei_engine_new(&ec, err, errlen);
		if (!r->workers[i].engine) {
			r->nworkers = i;
			stop_workers(r);
			return -1;
		}
	}
	r->nworkers = threads;
	atomic_store(&r->next_pair, 0);
	r->running = threads;
	for (unsigned i = 0; i < threads; i++) {
		int rc = pthread_create(&r->workers[i].thread, NULL, worker_main, &r->workers[i]);
		if (rc != 0) {
			pthread_mutex_lock(&r->elock);
			r->running -= threads - i;
			pthread_mutex_unlock(&r->elock);
			stop_workers(r);
			snprintf(err, errlen, "replay: cannot start an evaluation thread: %s", strerror(rc));
			return -1;
		}
		r->workers[i].started = true;
	}
	return 0;
}

/* After the verdicts: per-device facts, and every count of the report. */
static int tally(struct imei_replay *r, char *err, size_t errlen)
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
			int sev = severity[p->status & 3];
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
			for (size_t o = 0; o < r->nops; o++) {
				if (!(p->ops & (1ULL << o)))
					continue;
				r->ops[o].pairs++;
				if (pair_notify)
					r->ops[o].notifications++;
				if (dev_blocked && !pair_blocked)
					r->ops[o].exceptions++;
			}
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

int imei_replay_eval_wait(struct imei_replay *r, unsigned ms, char *err, size_t errlen)
{
	if (r->eval_done)
		return IMEI_REPLAY_DONE;
	if (!r->eval_started) {
		snprintf(err, errlen, "replay: evaluation not started");
		return IMEI_REPLAY_ERROR;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->elock);
	int wrc = 0;
	while (r->running > 0 && wrc != ETIMEDOUT && !stopped(r))
		wrc = pthread_cond_timedwait(&r->edone, &r->elock, &deadline);
	unsigned running = r->running;
	pthread_mutex_unlock(&r->elock);
	if (stopped(r)) {
		stop_workers(r);
		return IMEI_REPLAY_STOPPED;
	}
	if (running > 0)
		return IMEI_REPLAY_MORE;
	stop_workers(r);
	r->totals.eval_seconds = seconds_since(&r->t_eval);
	if (tally(r, err, errlen) < 0)
		return IMEI_REPLAY_ERROR;
	r->eval_done = true;
	return IMEI_REPLAY_DONE;
}

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
	const char *t = pool_text(&r->pool, i);
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
	long id = pool_find(&r->pool, s, len, NULL);
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
