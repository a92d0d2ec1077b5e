/*
 * replay_state.h — private to host/replay*.c: the state of one batch replay
 * (struct imei_replay) and the calls its files make to each other. Not installed.
 *
 * The replay is split by job, one file each:
 *   replay.c          setup, the files of the run, teardown
 *   replay_pool.c     the text pool: identities that are not IMEIs, kept as text
 *   replay_pairs.c    the pair table the rows are folded into, and its sorted result
 *   replay_ingest.c   the reader and the recorder (dumps in, sightings recorded)
 *   replay_eval.c     the evaluation: one engine per thread, a verdict per pair
 *   replay_tally.c    the per-device decisions and every count of the report
 *   replay_results.c  what the caller reads afterwards
 *   replay_compare.c  what-if: a second policy's verdicts tallied beside the first's
 */
#ifndef IMEI_REPLAY_STATE_H
#define IMEI_REPLAY_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "imei_engine.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"

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
	struct imei_engine *old_engine;                                  /* --compare's, or NULL */
	struct imei_engine *net_engines[IMEI_REPLAY_MAX_NETWORKS];       /* operator policies */
	uint64_t net_pairs[IMEI_REPLAY_MAX_NETWORKS + 1];                 /* pairs each decided */
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

	/* what-if (replay_compare.c): OLD's verdict of every pair, its condition names */
	struct replay_outcome *old;
	char *old_cond_names[IMEI_REPLAY_MAX_CONDITIONS];
	enum imei_status old_cond_status[IMEI_REPLAY_MAX_CONDITIONS];
	_Atomic size_t old_ncond;
	struct replay_compare *cmp;
	/* operator policies: the home networks that have one, the pairs each decided
	 * (index nnetworks: the national policy) */
	char *networks[IMEI_REPLAY_MAX_NETWORKS];
	size_t nnetworks;
	uint64_t network_pairs[IMEI_REPLAY_MAX_NETWORKS + 1];
};

/* A verdict as the tally reads it: a pair's own (NEW) or the compared policy's (OLD). */
struct replay_outcome {
	uint64_t matched, blocked, grace; /* bits: condition indexes of its side */
	int32_t block_day;
	uint8_t status, flags;            /* IMEI_REPLAY_NOTIFY, IMEI_REPLAY_FAILED */
};

/* What the device rules decide for one device from its pairs' verdicts. */
struct replay_device {
	enum imei_status status;              /* the most severe of its pairs' */
	bool blocked, notify;                 /* notify: a pair not BLACKLISTED to notify */
	int32_t block_day;                    /* the earliest of its pairs', or NO_DAY */
	uint64_t matched, blocked_conds, grace;
};

/* A pair goes on its operator's notification list: not BLACKLISTED, a condition in grace. */
static inline bool replay_pair_notified(unsigned status, unsigned flags)
{
	return status != IMEI_STATUS_BLACKLISTED && (flags & IMEI_REPLAY_NOTIFY);
}

static inline double replay_seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

/* ms milliseconds from now on the realtime clock, for pthread_cond_timedwait. */
static inline struct timespec replay_deadline(unsigned ms)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static inline bool replay_stopped(const struct imei_replay *r)
{
	return r->cfg.stop && *r->cfg.stop;
}

static inline const char *replay_pool_text(const struct text_pool *p, size_t i)
{
	return p->arena + p->offs[i];
}

/* The severity of a status: the worst verdict of several wins (imei_status.h). */
static inline int replay_severity(unsigned status)
{
	return imei_status_severity((enum imei_status)(status & 3));
}

/* replay_pool.c */
long imei_replay_pool_find(const struct text_pool *p, const char *s, size_t n, size_t *slot);
long imei_replay_pool_intern(struct text_pool *p, const char *s, size_t n, uint8_t kind);
/* replay_pairs.c */
int imei_replay_fold_rows(struct imei_replay *r, struct pending *rows, size_t n);
int imei_replay_finish_ingest(struct imei_replay *r, char *err, size_t errlen);
/* replay_ingest.c */
void imei_replay_stop_reader(struct imei_replay *r);
/* replay_eval.c */
void imei_replay_stop_workers(struct imei_replay *r);
/* replay_tally.c */
int imei_replay_tally(struct imei_replay *r, char *err, size_t errlen);
/* The device rules over the pairs [i, j) of one device: their own verdicts (alt NULL) or
 * alt[i..j). The one place these rules are written. */
void imei_replay_decide_device(const struct imei_replay_pair *pairs, const struct replay_outcome *alt, size_t i,
                               size_t j, struct replay_device *d);
/* replay_compare.c */
int imei_replay_compare_tally(struct imei_replay *r, char *err, size_t errlen);
void imei_replay_compare_free(struct imei_replay *r);
int imei_replay_networks_set(struct imei_replay *r, const struct imei_replay_eval_config *cfg, char *err,
                             size_t errlen);

#endif
