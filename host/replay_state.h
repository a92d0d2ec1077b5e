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
 *   replay_outcomes.c the verdicts' outcomes (conditions, block date), each kept once
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
#include "imei_lists.h"
#include "imei_replay.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"

#define BATCH_ROWS 32768
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

/* A pair while the dumps are read: what the report says of it, and the sightings
 * aggregate (sightings_agg.c) of its first (key, IMSI, MSISDN) triple; the pair's other
 * triples (rows with another MSISDN) are in its part's extras, chained from `more`.
 * 72 bytes (10 M rows: 417,825 pins): what a pair needs that a row can only grow is kept
 * as a reference, resolved when the pin becomes its pair (replay_pairs.c). The latest
 * row's MSISDN is its triple's (a row with an MSISDN folds into the triple of that
 * MSISDN): 0 none yet, 1 the pin's own agg, x + 1 its part's extra[x - 1]; a pin without
 * aggregates (a text identity, a shared store) keeps it in agg.msisdn (msisdn 1). The
 * operators seen are a set of its part's table (struct op_sets); the days, 16 bits as
 * in the pair. */
struct pin {
	struct imei_sighting_agg agg; /* agg.key: the ident; agg.msisdn: that triple's */
	uint32_t msisdn;              /* the triple holding the latest row's MSISDN (above) */
	uint32_t ops;                 /* operators seen: index in the part's op_sets */
	uint16_t first, last;         /* UTC days (asserted to fit in replay_ingest.c) */
	uint32_t rows;
	uint32_t more;                /* extras index + 1 of the next triple; 0 none */
	uint8_t form, rat, op;
};
_Static_assert(sizeof(struct pin) == 72, "a pin is 72 bytes (docs/classify.md, Memory)");

/* The distinct sets of operators the pins of a part have seen (a run has a handful), each
 * a mask (bit per operator index) once, found by an open-addressing index of set + 1. */
struct op_sets {
	uint64_t *mask;
	uint32_t n, cap;
	uint32_t *slots;
	uint32_t nslots; /* a power of two, 0 before the first set */
	uint32_t one[IMEI_REPLAY_MAX_OPERATORS]; /* set + 1 of operator i alone (a new pin's); 0 not yet */
};

struct xtrip {
	struct imei_sighting_agg agg;
	uint32_t next; /* extras index + 1; 0 none */
};

/* The pair table is cut in FOLD_PARTS parts (replay_part_of), each folded by its own
 * thread (replay_pairs.c): every row of a pair, and of its triples, goes to one part in
 * file order, so each part's result is the one a single thread gives. A part is an index
 * of hash tag | pin id + 1 (linear probing from the hash's low half scaled to the table,
 * which grows by half) over its pins, kept in one mapping of their own that doubles
 * (mremap: the pages move, nothing is copied) and, at the end of the ingest, becomes the
 * run's pairs in place; and its table of operator sets. */
#define FOLD_PARTS 2

struct fold_part {
	uint64_t *slots;
	size_t nslots;
	struct pin *pins;   /* pins[0..n): a mapping of map_bytes */
	size_t n, map_bytes;
	struct xtrip *extra;
	size_t nextra, extra_cap;
	struct op_sets sets;
};

/* A row on its way into the pair table (32 bytes: every row crosses from its reader's
 * core to the folding ones). The part a row goes to is replay_part_of(ident, imsi); the
 * file's operator code, op_codes[op]. */
struct pending {
	uint64_t ident, imsi, msisdn;
	int32_t day;
	uint8_t form, rat, op;
};
_Static_assert(sizeof(struct pending) == 32, "a pending row is 32 bytes");

/* Accepted rows handed from a reader to the recorder, with the identities of its text
 * rows (a kind byte, a length byte, the text; a text row's ident is its offset here until
 * the recorder numbers it in the text pool, in file order). */
#define BATCH_TEXT (BATCH_ROWS * 4)

struct sbatch {
	size_t n, ntext;
	struct reader *owner; /* whose batch it is: it goes back to that reader once recorded */
	unsigned holds;       /* parts still folding it (the queue's lock) */
	struct pending rows[BATCH_ROWS];
	char text[BATCH_TEXT];
};

/* What a reader counted in one chunk, merged into the run by the recorder in chunk order
 * (line numbers are the chunk's own until then). */
struct chunk_counts {
	uint64_t rows, accepted, rejected, blank, sightings;
	uint64_t by_reason[IMEI_DUMP_NREJECT];
	/* the first refused rows of each reason: allocated at the chunk's first refusal and
	 * freed once merged, so that a run of many chunks costs little for them */
	struct imei_replay_example (*examples)[IMEI_REPLAY_EXAMPLES];
	size_t nexamples[IMEI_DUMP_NREJECT];
	int32_t min_day, max_day;     /* of the accepted rows; INT32_MAX / INT32_MIN: none */
	size_t lines, unterminated;   /* lines read; the last one had no line end: its number */
	bool header, gzip;
	uint64_t bytes;               /* the file's size or bytes read (the file's last chunk) */
};

/* A piece of the input read by one reader: a whole file (gzip, a pipe, a small file) or
 * the lines starting in a byte range of a plain one (dump_reader.h). */
/* A chunk is smaller than what its reader may read ahead (READER_BATCHES batches of
 * BATCH_ROWS rows: 131,072 rows, about 7.6 MB of a dump's ~58-byte rows), so that the reader
 * of the next chunk reads it whole while the recorder still takes the current one's rows:
 * with 8 MiB chunks and 8,192-row batches (32,768 rows ahead) it stopped after four
 * batches, one reader worked at a time and the recorder waited for rows 60% of the read.
 * Each chunk and batch costs a hand-over (locks, wake-ups, an open and a seek); at 1 MiB
 * and 8,192 rows (626 chunks, 1,250 batches for the 10 M-row dump) these cost the read
 * phase 10-15 % of its wall time against 4 MiB and 32,768 rows (157 chunks, 2 batches
 * each; bench/classify_bench.sh, docs/classify.md). */
#define CHUNK_BYTES (1u << 22)
/* Batches each reader owns: what it may have read ahead. Memory: 4 x 1.1 MiB a reader at
 * most (mapped, touched as they fill): 9 MiB with 2 readers, 288 MiB at the 64 readers' most. */
#define READER_BATCHES 4

struct chunk {
	size_t file;
	uint64_t from, to;                /* to: UINT64_MAX for the whole file */
	bool first, last;                 /* the file's first and last chunks */
	struct imei_dump_layout layout;   /* of a chunk after the first: the one its header set */
	char sep;                         /* its line end, for a chunk after the first */
	struct sbatch *q[READER_BATCHES]; /* read, not yet recorded (the queue's lock) */
	size_t qhead, qcount;
	bool done;                        /* its reader is through (the queue's lock) */
	int rc;                           /* then: 0, -1 (err), -2 stopped */
	struct chunk_counts c;
	_Atomic uint64_t p_rows, p_rejected, p_bytes; /* the reader's progress in it so far */
	char *err;                        /* rc -1: why, a copy of its reader's (NULL: out of memory) */
};

/* A reader: a thread (or the caller's, without reader_thread) reading chunks. */
struct reader {
	struct imei_replay *r;
	pthread_t thread;
	bool started, exited;              /* exited: the queue's lock */
	struct imei_dump_file *cur;        /* the chunk being read */
	struct imei_dump_layout layout;
	struct imei_dump_dates dates;      /* the date of the row before (imei_dump_parse_row) */
	bool header_pending;
	struct sbatch *fill;               /* the batch being filled */
	struct sbatch *free_list[READER_BATCHES];
	size_t nfree;
	struct sbatch *batches[READER_BATCHES];
	char scratch[IMEI_DUMP_MAX_IDENT * 2 + IMEI_MAX_DIGITS + 8];
	char err[600];                     /* why the chunk it reads failed (a chunk keeps a copy) */
};

struct file_entry {
	struct imei_replay_file_stats st;
	char *path;
	uint64_t size;   /* of a regular file, when added; 0: unknown (a pipe, standard input) */
};

/* replay_outcomes.c: the run's distinct verdict outcomes; a pair holds an index (0: the
 * outcome of nothing matched and no block date, never stored). */
#define REPLAY_OUTCOME_NONE UINT32_MAX           /* what intern gives when out of memory or full */
#define REPLAY_MAX_OUTCOMES (UINT32_MAX - 1)
struct replay_outcomes {
	struct imei_replay_outcome *v; /* outcome i is v[i - 1] */
	size_t n, cap;
	uint32_t *slots;               /* open addressing: outcome index, 0 empty; at most half full */
	size_t nslots;
	size_t max;                    /* outcomes it may hold: REPLAY_MAX_OUTCOMES (tests make it small) */
	pthread_mutex_t lock;          /* the evaluation threads intern at once */
};
/* A thread's last outcome and its index (0: none yet): the same outcome again needs no lock. */
struct replay_outcome_cache {
	struct imei_replay_outcome last;
	uint32_t index;
};
void imei_replay_outcomes_init(struct replay_outcomes *t);
void imei_replay_outcomes_free(struct replay_outcomes *t);
uint32_t imei_replay_outcomes_intern(struct replay_outcomes *t, struct replay_outcome_cache *c,
                                const struct imei_replay_outcome *o);
const struct imei_replay_outcome *imei_replay_outcome_at(const struct replay_outcomes *t, uint32_t i);

struct worker {
	struct imei_replay *r;
	struct replay_outcome_cache cache;
	struct imei_engine *engine;
	struct imei_engine *old_engine;                                  /* --compare's, or NULL */
	struct imei_engine *net_engines[IMEI_REPLAY_MAX_NETWORKS];       /* operator policies */
	uint64_t net_pairs[IMEI_REPLAY_MAX_NETWORKS + 1];                 /* pairs each decided */
	pthread_t thread;
	bool started;
	/* its engines are made on its own thread, all threads at once; eval_start waits for
	 * them (ec and cfg are its own and its caller's) and says the first failure */
	const struct imei_engine_config *ec;
	const struct imei_replay_eval_config *ecfg;
	/* the lists its engines read (they hold a reference while they live): the next
	 * pairs' keys are looked up there ahead, as the store's records are */
	const struct imei_lists *lists;
	int made; /* 1 made, -1 failed (made_err) */
	char made_err[1024];
};

struct imei_replay {
	struct imei_replay_config cfg;
	struct imei_store *store;
	struct imei_tacdb *tacdb;

	struct file_entry *files;
	size_t nfiles;
	struct imei_replay_operator_stats ops[IMEI_REPLAY_MAX_OPERATORS];
	char *op_names[IMEI_REPLAY_MAX_OPERATORS];
	uint32_t op_codes[IMEI_REPLAY_MAX_OPERATORS]; /* the store's encoding of a name that is an MCC-MNC, else 0 */
	size_t nops;

	/* the readers and the chunks they read, taken in order from next_chunk */
	struct reader *readers;
	unsigned nreaders;
	struct chunk *chunks;
	size_t nchunks, next_chunk;
	/* recorder state (the calling thread's): the chunk whose rows it records next, the
	 * pair table, the text pool, a batch of sightings, what the run counted */
	size_t rec_chunk;
	uint64_t line_base;    /* lines of the recorded chunks of rec_chunk's file */
	uint64_t bytes_before; /* sizes of the files already read */
	struct text_pool pool;
	struct fold_part parts[FOLD_PARTS];
	bool fold_aggs;   /* a private store: the parts keep the triples' aggregates, put at the end */
	bool seed_aggs;   /* and it held sightings before: a triple starts from the store's aggregate */
	struct imei_sighting *sightings;
	struct imei_replay_totals totals;
	struct imei_replay_example examples[IMEI_DUMP_NREJECT][IMEI_REPLAY_EXAMPLES];
	size_t nexamples[IMEI_DUMP_NREJECT];
	int32_t max_day, min_day;

	/* the hand-over (chunks' queues, readers' free batches) */
	pthread_mutex_t qlock;
	pthread_cond_t q_filled, q_freed;
	bool abort, threads_started;
	/* the folder: a thread folding part 1 of each recorded batch, in the order recorded
	 * (with reader threads and more than one reader; else the recorder folds both) */
	pthread_t folder;
	bool folder_started, fq_end;
	pthread_cond_t fq_filled;
	struct sbatch *fq[IMEI_REPLAY_MAX_READERS * READER_BATCHES];
	size_t fq_head, fq_count;
	_Atomic bool fold_failed;
	char fold_err[600];
	bool ingest_started, ingest_done;
	char ingest_err[600]; /* why the ingest failed: final (imei_replay_ingest) */
	bool ingest_stopped;  /* it was stopped: final too */
	struct timespec t_ingest;

	/* progress (read by the caller while the reader runs) */
	_Atomic uint64_t p_rows, p_rejected, p_bytes, p_pairs_done;
	_Atomic size_t p_file;

	/* results */
	struct imei_replay_pair *pairs;
	size_t npairs, pairs_bytes;

	/* evaluation */
	struct worker *workers;
	unsigned nworkers;
	_Atomic size_t next_pair;
	unsigned running;
	unsigned made; /* workers through making their engines (elock) */
	int go;        /* 0 until all are: then 1 decide, -1 stop (elock, edone) */
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

	struct replay_outcomes outcomes;  /* of the verdicts, NEW's and OLD's */
	_Atomic bool outcomes_failed;     /* an evaluation thread could not add one (out of memory) */

	/* what-if (replay_compare.c): OLD's verdict of every pair, its condition names */
	struct replay_decision *old;
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

/* A verdict as the evaluation makes it: its outcome (bits: condition indexes of its
 * policy's table), its status and flags (IMEI_REPLAY_NOTIFY, IMEI_REPLAY_FAILED). */
struct replay_verdict {
	struct imei_replay_outcome o;
	uint8_t status, flags;
};
/* ... and as the compared policy's (OLD) is kept for every pair: the outcome's index. */
struct replay_decision {
	uint32_t outcome;
	uint8_t status, flags;
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
uint64_t imei_replay_pair_hash(uint64_t ident, uint64_t imsi);
/* The part of the pair table a pair is folded in: every text pair in part 0 (the part
 * whose thread numbers the texts), the others by a bit of the pair cheaper than its hash
 * (both its numbers are near uniform in their low bits). */
static inline unsigned replay_part_of(uint64_t ident, uint64_t imsi)
{
	return ident >= IMEI_REPLAY_TEXT_BASE ? 0 : (unsigned)((ident ^ imsi) & 1);
}
/* Fold the rows of part k among rows[0..n), in their order. 0, or -1 with err. */
int imei_replay_fold_part(struct imei_replay *r, unsigned k, const struct pending *rows, size_t n, char *err,
                          size_t errlen);
void imei_replay_parts_free(struct imei_replay *r);
void imei_replay_pairs_free(struct imei_replay *r); /* the result's pairs (a mapping of their own) */
int imei_replay_finish_ingest(struct imei_replay *r, char *err, size_t errlen);
/* replay_ingest.c */
void imei_replay_stop_reader(struct imei_replay *r);
/* The ingest's buffers given back, once the readers are joined and every row folded. */
void imei_replay_release_ingest(struct imei_replay *r);
/* replay_eval.c */
void imei_replay_stop_workers(struct imei_replay *r);
/* replay_tally.c */
int imei_replay_tally(struct imei_replay *r, char *err, size_t errlen);
/* The device rules over the pairs [i, j) of one device: their own verdicts (alt NULL) or
 * alt[i..j). The one place these rules are written. */
void imei_replay_decide_device(const struct imei_replay *r, const struct replay_decision *alt, size_t i, size_t j,
                               struct replay_device *d);
/* replay_compare.c */
int imei_replay_compare_tally(struct imei_replay *r, char *err, size_t errlen);
void imei_replay_compare_free(struct imei_replay *r);
int imei_replay_networks_set(struct imei_replay *r, const struct imei_replay_eval_config *cfg, char *err,
                             size_t errlen);

#endif
