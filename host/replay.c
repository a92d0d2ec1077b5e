/*
 * replay.c — batch replay (imei_replay.h): dumps in, sightings recorded, every observed
 * (device, IMSI) pair decided by the policy at the run's date, counts for the report.
 *
 * Ingest runs as two stages: readers (read, gunzip, split, parse, check) and a recorder
 * (fold into the pair table, imei_store_record). With reader_thread the readers have
 * threads of their own, each reading chunks (a file, or a byte range of a large plain
 * one) and handing rows over in fixed-size batches, so memory stays bounded and the cores
 * overlap; the recorder takes the chunks in file order. Without, one thread does both.
 * Evaluation gives each thread its own engine (a sandboxed lua_State) and hands out
 * chunks of pairs from an atomic cursor. Nothing here depends on the thread count: the
 * pair table is written by the recorder alone, in file order, and each verdict lands in
 * its own pair, so results are the same with 1 or N threads.
 *
 * This file: setup, the files of a run and teardown; the other jobs are in replay_*.c
 * (replay_state.h lists them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "imei_pages.h"
#include "replay_state.h"

/* ---- setup ----------------------------------------------------------------------- */

/* The ingest's buffers (the readers' batches: 2.3 MiB with two readers; the batch of
 * sightings a shared store records), given back to the system once every row is folded,
 * before the finish turns the pins into pairs and fills the store: the run's peaks (the
 * finish, the lists) no longer hold them. The readers are joined. */
void imei_replay_release_ingest(struct imei_replay *r)
{
	for (unsigned i = 0; r->readers && i < r->nreaders; i++) {
		struct reader *rd = &r->readers[i];
		for (size_t k = 0; k < READER_BATCHES; k++) {
			if (rd->batches[k])
				imei_pages_free(rd->batches[k], sizeof(struct sbatch));
			rd->batches[k] = NULL;
		}
		rd->nfree = 0;
		rd->fill = NULL;
	}
	free(r->sightings);
	r->sightings = NULL;
}

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
	pthread_cond_init(&r->fq_filled, NULL);
	pthread_mutex_init(&r->elock, NULL);
	pthread_cond_init(&r->edone, NULL);
	pthread_mutex_init(&r->clock_, NULL);
	imei_replay_outcomes_init(&r->outcomes);
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
	unsigned nreaders = cfg->reader_thread && cfg->readers > 1 ? cfg->readers : 1;
	if (nreaders > IMEI_REPLAY_MAX_READERS)
		nreaders = IMEI_REPLAY_MAX_READERS;
	if (!(r->readers = calloc(nreaders, sizeof *r->readers))) {
		imei_replay_free(r);
		snprintf(err, errlen, "replay: out of memory");
		return NULL;
	}
	r->nreaders = nreaders;
	for (unsigned i = 0; i < nreaders; i++) {
		struct reader *rd = &r->readers[i];
		rd->r = r;
		for (size_t k = 0; k < READER_BATCHES; k++) {
			/* a mapping of its own (imei_pages.h), given back by release_ingest */
			if (!(rd->batches[k] = imei_pages_new(sizeof(struct sbatch)))) {
				imei_replay_free(r);
				snprintf(err, errlen, "replay: out of memory");
				return NULL;
			}
			rd->batches[k]->owner = rd;
			rd->free_list[rd->nfree++] = rd->batches[k];
		}
	}
	return r;
}

void imei_replay_free(struct imei_replay *r)
{
	if (!r)
		return;
	imei_replay_stop_reader(r);
	imei_replay_stop_workers(r);
	for (unsigned i = 0; r->readers && i < r->nreaders; i++)
		imei_dump_close(r->readers[i].cur);
	imei_replay_release_ingest(r);
	free(r->readers);
	for (size_t i = 0; i < r->nchunks; i++) {
		free(r->chunks[i].c.examples);
		free(r->chunks[i].err);
	}
	free(r->chunks);
	for (size_t i = 0; i < r->nfiles; i++)
		free(r->files[i].path);
	free(r->files);
	for (size_t i = 0; i < r->nops; i++)
		free(r->op_names[i]);
	free(r->pool.arena);
	free(r->pool.offs);
	free(r->pool.kinds);
	free(r->pool.slots);
	imei_replay_parts_free(r);
	imei_replay_pairs_free(r);
	for (size_t i = 0; i < atomic_load(&r->ncond); i++)
		free(r->cond_names[i]);
	for (size_t i = 0; i < r->nfailures; i++)
		free(r->failures[i]);
	free(r->tac_devices);
	free(r->tac_blocked);
	free(r->tac_notified);
	imei_replay_compare_free(r);
	imei_replay_outcomes_free(&r->outcomes);
	if (r->tacdb)
		imei_tacdb_unref(r->tacdb);
	imei_store_release(r->store);
	pthread_mutex_destroy(&r->qlock);
	pthread_cond_destroy(&r->q_filled);
	pthread_cond_destroy(&r->q_freed);
	pthread_cond_destroy(&r->fq_filled);
	pthread_mutex_destroy(&r->elock);
	pthread_cond_destroy(&r->edone);
	pthread_mutex_destroy(&r->clock_);
	free(r);
}

bool imei_replay_operator_ok(const char *s)
{
	if (!s || !*s || strlen(s) > IMEI_REPLAY_MAX_OPERATOR_NAME)
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
	if (!imei_replay_operator_ok(name)) {
		snprintf(err, errlen, "%s: operator name '%s': use 1 to %d letters, digits, '.', '_' or '-'", path,
		         name ? name : "", IMEI_REPLAY_MAX_OPERATOR_NAME);
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
		uint32_t code;
		r->op_codes[op] = imei_sight_operator(name, strlen(name), &code, NULL) == 0 ? code : 0;
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
	struct stat st;
	if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
		f->size = (uint64_t)st.st_size;
	return (int)r->nfiles++;
}
