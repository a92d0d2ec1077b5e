/*
 * replay_ingest.c — the ingest of a replay (replay_state.h): a reader (read, gunzip,
 * split, parse, check every row; a refused row is counted with its reason) and a recorder
 * (fold into the pair table, imei_store_record_many). With reader_thread the reader has a
 * thread of its own and hands rows over in fixed-size batches through a small ring, so
 * memory stays bounded and the two cores overlap; without, one thread does both.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay_state.h"

/* Stop the reader thread and join it. When a signal raised the stop flag (it holds the
 * signal's number), the reader may sit in a read() of a pipe that no more data will
 * come through: the same signal sent to its thread interrupts the read (the handler
 * is installed without SA_RESTART), so the join never hangs on an idle input. */
void imei_replay_stop_reader(struct imei_replay *r)
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
		struct timespec t = replay_deadline(50);
		pthread_cond_timedwait(&r->q_filled, &r->qlock, &t);
	}
	pthread_mutex_unlock(&r->qlock);
	pthread_join(r->reader, NULL);
	r->thread_started = false;
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
		if (imei_replay_fold_rows(r, b->rows + i, n) < 0) {
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
		long id = imei_replay_pool_intern(&r->pool, row.ident, row.ident_len, row.kind);
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
		if (replay_stopped(r)) {
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

int imei_replay_ingest(struct imei_replay *r, unsigned ms, char *err, size_t errlen)
{
	if (r->ingest_done)
		return IMEI_REPLAY_DONE;
	if (replay_stopped(r)) {
		imei_replay_stop_reader(r);
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
			if (replay_stopped(r))
				return IMEI_REPLAY_STOPPED;
			if (replay_seconds_since(&t0) >= budget)
				return IMEI_REPLAY_MORE;
		}
		if (emit_batch(r) < 0) {
			snprintf(err, errlen, "%s", r->reader_err);
			return IMEI_REPLAY_ERROR;
		}
		return imei_replay_finish_ingest(r, err, errlen);
	}
	/* threaded: record what the reader hands over, until the time is up */
	struct timespec deadline = replay_deadline(ms);
	for (;;) {
		if (replay_stopped(r)) {
			imei_replay_stop_reader(r);
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
				imei_replay_stop_reader(r);
				return IMEI_REPLAY_ERROR;
			}
			if (replay_seconds_since(&t0) >= budget)
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
			return imei_replay_finish_ingest(r, err, errlen);
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
