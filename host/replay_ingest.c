/*
 * replay_ingest.c — the ingest of a replay (replay_state.h): readers (read, gunzip, split,
 * parse, check every row; a refused row is counted with its reason) and a recorder (number
 * the text identities, fold into the pair table; imei_store_record_many for a store that is
 * not private), helped by a folder thread that folds the pair table's second part.
 *
 * The input is cut into chunks: a file each, and a large plain file into byte ranges
 * (CHUNK_BYTES each) cut at line boundaries (gzip and pipes stay whole: they cannot be
 * entered in the middle). With reader_thread, readers take the chunks in order, each
 * handing its chunk's rows over in batches with the chunk's counts and first examples; the
 * recorder (the caller's thread) takes the chunks in order, so rows are folded, numbered
 * and recorded in file order and every count, example and line number is the one a
 * single reader gives, for any number of readers. Memory stays bounded: a reader owns
 * READER_BATCHES batches and waits for the recorder to give one back. Without
 * reader_thread, the caller's thread reads each file whole and records as it goes.
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

/* The folder through every batch handed to it (or at once after an abort), and joined. */
static void folder_join(struct imei_replay *r)
{
	if (!r->folder_started)
		return;
	pthread_mutex_lock(&r->qlock);
	r->fq_end = true;
	pthread_cond_broadcast(&r->fq_filled);
	pthread_mutex_unlock(&r->qlock);
	pthread_join(r->folder, NULL);
	r->folder_started = false;
}

/* Stop the reader threads and join them. When a signal raised the stop flag (it holds
 * the signal's number), a reader may sit in a read() of a pipe that no more data will
 * come through: the same signal sent to its thread interrupts the read (the handler is
 * installed without SA_RESTART), so the join never hangs on an idle input. */
void imei_replay_stop_reader(struct imei_replay *r)
{
	if (r->folder_started) { /* the folder first: it stops at once on the abort */
		pthread_mutex_lock(&r->qlock);
		r->abort = true;
		pthread_mutex_unlock(&r->qlock);
		folder_join(r);
	}
	if (!r->threads_started)
		return;
	pthread_mutex_lock(&r->qlock);
	r->abort = true;
	pthread_cond_broadcast(&r->q_freed);
	pthread_cond_broadcast(&r->q_filled);
	int sig = r->cfg.stop ? (int)*r->cfg.stop : 0;
	struct sigaction sa;
	if (sig > 0 && (sigaction(sig, NULL, &sa) < 0 || sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
		sig = 0; /* only a handled signal can be sent on without harm */
	for (;;) {
		bool running = false;
		for (unsigned i = 0; i < r->nreaders; i++)
			if (r->readers[i].started && !r->readers[i].exited) {
				running = true;
				if (sig > 0)
					pthread_kill(r->readers[i].thread, sig);
			}
		if (!running)
			break;
		struct timespec t = replay_deadline(50);
		pthread_cond_timedwait(&r->q_filled, &r->qlock, &t);
	}
	pthread_mutex_unlock(&r->qlock);
	for (unsigned i = 0; i < r->nreaders; i++)
		if (r->readers[i].started) {
			pthread_join(r->readers[i].thread, NULL);
			r->readers[i].started = false;
		}
	r->threads_started = false;
}

/* ---- the readers ------------------------------------------------------------------- */

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

/* A refused row: counted with its reason, one of the chunk's first examples. 0, or -1
 * with rd->err when out of memory for the examples. */
static int refuse(struct reader *rd, struct chunk *ch, size_t lineno, const struct imei_dump_problem *why,
                  const char *line, size_t len)
{
	enum imei_dump_reject reason = why->reason;
	struct chunk_counts *c = &ch->c;
	c->rejected++;
	c->by_reason[reason]++;
	size_t k = c->nexamples[reason];
	if (k < IMEI_REPLAY_EXAMPLES) {
		if (!c->examples && !(c->examples = calloc(IMEI_DUMP_NREJECT, sizeof *c->examples))) {
			snprintf(rd->err, sizeof rd->err, "replay: out of memory (refused rows' examples)");
			return -1;
		}
		struct imei_replay_example *ex = &c->examples[reason][k];
		ex->file = ch->file;
		ex->line = lineno;
		ex->field = why->field;
		snprintf(ex->msg, sizeof ex->msg, "%s", why->msg);
		sanitize(line, len, ex->text, sizeof ex->text);
		c->nexamples[reason] = k + 1;
	}
	return 0;
}

/* The recorder's part: number the batch's texts, in the order read (a text row's ident,
 * and so its pair, is known only then), and record the batch's IMEI rows in a store that
 * is not private (a private one gets the aggregates at the end, replay_pairs.c). */
static int number_and_record(struct imei_replay *r, struct sbatch *b, char *err, size_t errlen)
{
	for (size_t i = 0; i < b->n && b->ntext; i++) {
		struct pending *p = &b->rows[i];
		if (p->form != IMEI_DUMP_FORM_TEXT)
			continue;
		const char *t = b->text + p->ident;
		long id = imei_replay_pool_intern(&r->pool, t + 2, (unsigned char)t[1], (uint8_t)t[0]);
		if (id < 0) {
			snprintf(err, errlen, "replay: out of memory (identity texts)");
			return -1;
		}
		p->ident = IMEI_REPLAY_TEXT_BASE + (uint64_t)id;
	}
	if (r->fold_aggs)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < b->n; i++) {
		const struct pending *p = &b->rows[i];
		if (p->ident >= IMEI_REPLAY_TEXT_BASE)
			continue; /* not an IMEI: no sighting */
		r->sightings[n++] = (struct imei_sighting){
			.key = p->ident, .imsi = p->imsi, .msisdn = p->msisdn, .op = r->op_codes[p->op],
			.time = (uint32_t)p->day * IMEI_SIGHT_DAY, .rat = p->rat,
		};
	}
	struct imei_store_error se;
	size_t done;
	if (n && imei_store_record_many(r->store, r->sightings, n, &done, &se) < 0) {
		snprintf(err, errlen, "sightings store: %s", se.msg);
		return -1;
	}
	return 0;
}

/* Without reader threads: the batch numbered and folded whole, in the caller's thread. */
static int record_batch(struct imei_replay *r, struct sbatch *b, char *err, size_t errlen)
{
	int rc = number_and_record(r, b, err, errlen);
	for (unsigned k = 0; k < FOLD_PARTS && rc == 0; k++)
		rc = imei_replay_fold_part(r, k, b->rows, b->n, err, errlen);
	b->n = b->ntext = 0;
	return rc;
}

/* A batch a part is through with: back to its reader once every part is. */
static void batch_done(struct imei_replay *r, struct sbatch *b)
{
	pthread_mutex_lock(&r->qlock);
	if (--b->holds == 0) {
		b->owner->free_list[b->owner->nfree++] = b;
		pthread_cond_broadcast(&r->q_freed);
	}
	pthread_mutex_unlock(&r->qlock);
}

#define FQ_CAP (IMEI_REPLAY_MAX_READERS * READER_BATCHES) /* every batch there is: never full */

static void *folder_main(void *arg)
{
	struct imei_replay *r = arg;
	char err[sizeof r->fold_err];
	for (;;) {
		pthread_mutex_lock(&r->qlock);
		while (r->fq_count == 0 && !r->fq_end && !r->abort)
			pthread_cond_wait(&r->fq_filled, &r->qlock);
		if (r->abort || r->fq_count == 0) {
			pthread_mutex_unlock(&r->qlock);
			break;
		}
		struct sbatch *b = r->fq[r->fq_head];
		r->fq_head = (r->fq_head + 1) % FQ_CAP;
		r->fq_count--;
		pthread_mutex_unlock(&r->qlock);
		if (!atomic_load(&r->fold_failed) && imei_replay_fold_part(r, 1, b->rows, b->n, err, sizeof err) < 0) {
			memcpy(r->fold_err, err, sizeof err);
			atomic_store(&r->fold_failed, true);
		}
		batch_done(r, b);
	}
	return NULL;
}

/* With reader threads: the batch numbered (in file order), part 1 handed to the folder,
 * part 0 folded here. */
static int record_threaded(struct imei_replay *r, struct sbatch *b, char *err, size_t errlen)
{
	int rc = number_and_record(r, b, err, errlen);
	if (rc == 0 && r->folder_started) {
		pthread_mutex_lock(&r->qlock);
		b->holds = 2;
		r->fq[(r->fq_head + r->fq_count) % FQ_CAP] = b;
		r->fq_count++;
		pthread_cond_signal(&r->fq_filled);
		pthread_mutex_unlock(&r->qlock);
		rc = imei_replay_fold_part(r, 0, b->rows, b->n, err, errlen);
	} else {
		b->holds = 1;
		for (unsigned k = 0; k < FOLD_PARTS && rc == 0; k++)
			rc = imei_replay_fold_part(r, k, b->rows, b->n, err, errlen);
	}
	batch_done(r, b);
	if (rc == 0 && atomic_load(&r->fold_failed)) {
		snprintf(err, errlen, "%s", r->fold_err);
		rc = -1;
	}
	return rc;
}

/* Hand the filled batch over (threaded) or record it (inline). 0, -1 (rd->err), -2 stopped. */
static int emit_batch(struct reader *rd, struct chunk *ch)
{
	struct imei_replay *r = rd->r;
	struct sbatch *b = rd->fill;
	if (!b || b->n == 0)
		return 0;
	if (!r->cfg.reader_thread)
		return record_batch(r, b, rd->err, sizeof rd->err);
	pthread_mutex_lock(&r->qlock);
	ch->q[(ch->qhead + ch->qcount) % READER_BATCHES] = b;
	ch->qcount++;
	pthread_cond_broadcast(&r->q_filled);
	while (rd->nfree == 0 && !r->abort)
		pthread_cond_wait(&r->q_freed, &r->qlock);
	if (r->abort) {
		rd->fill = NULL;
		pthread_mutex_unlock(&r->qlock);
		return -2;
	}
	rd->fill = rd->free_list[--rd->nfree];
	rd->fill->n = rd->fill->ntext = 0;
	pthread_mutex_unlock(&r->qlock);
	return 0;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* A row refused for its date, outside the file's period or after the run's date. */
/* A pair keeps its days in 16 bits (struct imei_replay_pair): every day a row may carry
 * into the run (the dump reader refuses the others, reason IMEI_DUMP_R_DATE_RANGE) fits. */
_Static_assert(IMEI_DUMP_MIN_DAY >= 0 && IMEI_DUMP_MAX_DAY <= IMEI_REPLAY_MAX_PAIR_DAY,
               "a row's day fits a pair's 16-bit days");

static int refuse_date(struct reader *rd, struct chunk *ch, size_t lineno, const char *msg, const char *line,
                        size_t len)
{
	struct imei_dump_problem why;
	why.reason = IMEI_DUMP_R_DATE_RANGE;
	why.field = 0;
	for (size_t i = 0; i < rd->layout.ncols; i++)
		if (rd->layout.col[i] == IMEI_DUMP_COL_DATE)
			why.field = (unsigned)i + 1;
	snprintf(why.msg, sizeof why.msg, "%s", msg);
	return refuse(rd, ch, lineno, &why, line, len);
}

/* One line of the chunk. 0, -1 with rd->err (a file-level problem), -2 stopped. */
static int take_line(struct reader *rd, struct chunk *ch, const struct file_entry *f, const char *line, size_t len,
                     size_t lineno, bool too_long)
{
	struct imei_replay *r = rd->r;
	struct chunk_counts *c = &ch->c;
	struct imei_dump_problem why;
	if (too_long) {
		c->rows++;
		why.reason = IMEI_DUMP_R_LONG;
		why.field = 0;
		snprintf(why.msg, sizeof why.msg, "a line of more than %d bytes", IMEI_DUMP_MAX_LINE);
		return refuse(rd, ch, lineno, &why, line, len);
	}
	if (blank(line, len)) {
		c->blank++;
		return 0;
	}
	if (rd->header_pending) {
		rd->header_pending = false;
		if (imei_dump_is_header(line, len, r->cfg.layout.delim)) {
			c->header = true;
			if (!r->cfg.layout_explicit) {
				char why_h[300];
				if (imei_dump_header_layout(line, len, r->cfg.layout.delim, &rd->layout, why_h, sizeof why_h) < 0) {
					snprintf(rd->err, sizeof rd->err, "%s:%zu: %s (or give the layout with --columns)", f->path,
					         lineno, why_h);
					return -1;
				}
			}
			return 0;
		}
	}
	c->rows++;
	struct imei_dump_row row;
	if (imei_dump_parse_row(&rd->layout, &rd->dates, line, len, &row, rd->scratch, &why) != IMEI_DUMP_OK) {
		return refuse(rd, ch, lineno, &why, line, len);
	}
	if ((f->st.first != IMEI_REPLAY_NO_DAY && row.day < f->st.first) ||
	    (f->st.last != IMEI_REPLAY_NO_DAY && row.day > f->st.last)) {
		char d[9], a[9], b[9], msg[160];
		imei_dump_day_str(row.day, d);
		imei_dump_day_str(f->st.first, a);
		imei_dump_day_str(f->st.last, b);
		snprintf(msg, sizeof msg, "date: %s is outside the file's period %s-%s", d, a, b);
		return refuse_date(rd, ch, lineno, msg, line, len);
	}
	if (r->cfg.run_day != IMEI_REPLAY_NO_DAY && row.day > r->cfg.run_day) {
		char d[9], a[9], msg[160];
		imei_dump_day_str(row.day, d);
		imei_dump_day_str(r->cfg.run_day, a);
		snprintf(msg, sizeof msg, "date: %s is after the run's date %s", d, a);
		return refuse_date(rd, ch, lineno, msg, line, len);
	}
	uint64_t ident = row.key;
	if (row.form == IMEI_DUMP_FORM_TEXT) {
		/* the text travels with the batch: the recorder numbers it, in file order */
		if (rd->fill->ntext + 2 + row.ident_len > BATCH_TEXT) {
			int rc = emit_batch(rd, ch);
			if (rc < 0)
				return rc;
		}
		struct sbatch *b = rd->fill;
		ident = b->ntext;
		b->text[b->ntext] = (char)row.kind;
		b->text[b->ntext + 1] = (char)row.ident_len;
		memcpy(b->text + b->ntext + 2, row.ident, row.ident_len);
		b->ntext += 2 + row.ident_len;
	}
	struct pending *p = &rd->fill->rows[rd->fill->n++];
	p->ident = ident;
	p->imsi = row.imsi;
	p->msisdn = row.msisdn;
	p->day = row.day;
	p->form = row.form;
	p->rat = row.rat;
	p->op = (uint8_t)f->st.op;
	c->accepted++;
	if (row.day > c->max_day)
		c->max_day = row.day;
	if (row.day < c->min_day)
		c->min_day = row.day;
	if (row.form != IMEI_DUMP_FORM_TEXT)
		c->sightings++;
	if (rd->fill->n == BATCH_ROWS)
		return emit_batch(rd, ch);
	return 0;
}

/* Read up to max lines of the chunk. 1 more to do, 0 the chunk is read (its last batch
 * not yet handed over), -1 error (rd->err), -2 stopped. */
static int read_chunk(struct reader *rd, struct chunk *ch, size_t max)
{
	struct imei_replay *r = rd->r;
	const struct file_entry *f = &r->files[ch->file];
	if (!rd->cur) {
		rd->cur = imei_dump_open_range(f->path, ch->from, ch->to, ch->sep, rd->err, sizeof rd->err);
		if (!rd->cur)
			return -1;
		ch->c.gzip = imei_dump_gzip(rd->cur);
		rd->layout = ch->first ? r->cfg.layout : ch->layout;
		rd->dates = (struct imei_dump_dates){ .ymd = 0 };
		rd->header_pending = ch->first;
	}
	for (size_t n = 0; n < max; n++) {
		const char *line;
		size_t len, lineno;
		bool too_long;
		int rc = imei_dump_next(rd->cur, &line, &len, &lineno, &too_long, rd->err, sizeof rd->err);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			/* the file ended in the middle of a line: of the last chunk, or of one before
			 * it whose last line ran to the end of the file (longer than the last range) */
			ch->c.unterminated = imei_dump_unterminated(rd->cur);
			if (ch->last) {
				uint64_t size = imei_dump_size(rd->cur);
				ch->c.bytes = size ? size : imei_dump_offset(rd->cur);
			}
			imei_dump_close(rd->cur);
			rd->cur = NULL;
			return 0;
		}
		ch->c.lines = lineno;
		rc = take_line(rd, ch, f, line, len, lineno, too_long);
		if (rc < 0)
			return rc;
	}
	return 1;
}

/* Read a whole chunk (a reader thread). 0, -1, -2 as read_chunk. */
static int read_whole_chunk(struct reader *rd, struct chunk *ch)
{
	struct imei_replay *r = rd->r;
	int rc;
	for (;;) {
		rc = read_chunk(rd, ch, SLICE_LINES);
		atomic_store_explicit(&ch->p_rows, ch->c.rows, memory_order_relaxed);
		atomic_store_explicit(&ch->p_rejected, ch->c.rejected, memory_order_relaxed);
		atomic_store_explicit(&ch->p_bytes, rd->cur ? imei_dump_offset(rd->cur) : 0, memory_order_relaxed);
		if (rc != 1)
			break;
		if (replay_stopped(r))
			return -2;
		pthread_mutex_lock(&r->qlock);
		bool aborted = r->abort;
		pthread_mutex_unlock(&r->qlock);
		if (aborted)
			return -2;
	}
	if (rc == 0)
		rc = emit_batch(rd, ch);
	return rc;
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct imei_replay *r = rd->r;
	for (;;) {
		pthread_mutex_lock(&r->qlock);
		size_t k = r->abort ? r->nchunks : r->next_chunk;
		if (k < r->nchunks)
			r->next_chunk++;
		pthread_mutex_unlock(&r->qlock);
		if (k >= r->nchunks)
			break;
		struct chunk *ch = &r->chunks[k];
		int rc = read_whole_chunk(rd, ch);
		if (rd->cur) {
			imei_dump_close(rd->cur);
			rd->cur = NULL;
		}
		char *why = rc == -1 ? strdup(rd->err) : NULL; /* the recorder says it (NULL: no memory to) */
		pthread_mutex_lock(&r->qlock);
		ch->err = why;
		ch->rc = rc;
		ch->done = true;
		pthread_cond_broadcast(&r->q_filled);
		pthread_mutex_unlock(&r->qlock);
		if (rc != 0)
			break; /* the recorder reports it when it comes to this chunk, then stops the rest */
	}
	pthread_mutex_lock(&r->qlock);
	rd->exited = true;
	pthread_cond_broadcast(&r->q_filled);
	pthread_mutex_unlock(&r->qlock);
	return NULL;
}

/* ---- the plan: the chunks ---------------------------------------------------------- */

static int add_chunk(struct imei_replay *r, size_t *cap, size_t file, uint64_t from, uint64_t to, bool first,
                     bool last, const struct imei_dump_layout *lay, char sep)
{
	if (r->nchunks == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct chunk *grown = realloc(r->chunks, ncap * sizeof *grown);
		if (!grown)
			return -1;
		r->chunks = grown;
		*cap = ncap;
	}
	struct chunk *ch = &r->chunks[r->nchunks++];
	memset(ch, 0, sizeof *ch);
	ch->file = file;
	ch->from = from;
	ch->to = to;
	ch->first = first;
	ch->last = last;
	ch->layout = *lay;
	ch->sep = sep;
	ch->c.min_day = INT32_MAX;
	ch->c.max_day = INT32_MIN;
	return 0;
}

/* How a file is read: in ranges from the offsets at[0..n) (at[0] = 0), with the layout and
 * line end the ranges after the first need (what its first line says) — a plain file of
 * at least two chunk_bytes read by several readers; else whole (n = 1). The first row or
 * header is read in the first range, whatever the chunk size. The count, or 0 when out of
 * memory. */
static size_t plan_file(struct imei_replay *r, const struct file_entry *f, struct imei_dump_layout *lay, char *sep,
                        uint64_t **at)
{
	uint64_t chunk = r->cfg.chunk_bytes ? r->cfg.chunk_bytes : CHUNK_BYTES;
	*lay = r->cfg.layout;
	size_t n = 1;
	uint64_t head_end = 0;
	if (r->cfg.reader_thread && r->nreaders > 1 && f->size / 2 >= chunk) {
		char err[600];
		struct imei_dump_file *d = imei_dump_open(f->path, err, sizeof err);
		if (d && !imei_dump_gzip(d)) {
			const char *line;
			size_t len, lineno;
			bool too_long;
			for (int i = 0; i < 64; i++) {
				if (imei_dump_next(d, &line, &len, &lineno, &too_long, err, sizeof err) != 1)
					break;
				if (too_long || blank(line, len))
					continue;
				n = (size_t)(f->size / chunk);
				head_end = imei_dump_line_offset(d);
				if (!r->cfg.layout_explicit && imei_dump_is_header(line, len, r->cfg.layout.delim) &&
				    imei_dump_header_layout(line, len, r->cfg.layout.delim, lay, err, sizeof err) < 0)
					n = 1; /* the first range's reader says why */
				*sep = imei_dump_line_end(d);
				break;
			}
		}
		imei_dump_close(d);
	}
	if (!(*at = malloc(n * sizeof **at)))
		return 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t b = f->size / n * k;
		(*at)[k] = k == 0 ? 0 : b > head_end ? b : head_end;
	}
	return n;
}

static int plan_chunks(struct imei_replay *r, char *err, size_t errlen)
{
	size_t cap = 0;
	for (size_t i = 0; i < r->nfiles; i++) {
		struct imei_dump_layout lay;
		char sep = 0;
		uint64_t *at;
		size_t n = plan_file(r, &r->files[i], &lay, &sep, &at);
		int rc = n ? 0 : -1;
		for (size_t k = 0; k < n && rc == 0; k++)
			rc = add_chunk(r, &cap, i, at[k], k == n - 1 ? UINT64_MAX : at[k + 1], k == 0, k == n - 1, &lay, sep);
		free(at);
		if (rc < 0) {
			snprintf(err, errlen, "replay: out of memory");
			return -1;
		}
	}
	return 0;
}

/* ---- the recorder ------------------------------------------------------------------ */

/* A chunk read through: its counts into the run's, its examples after those before it,
 * its line numbers after its file's earlier chunks'. */
static void merge_chunk(struct imei_replay *r, struct chunk *ch)
{
	struct chunk_counts *c = &ch->c;
	struct file_entry *f = &r->files[ch->file];
	if (ch->first) {
		r->line_base = 0;
		f->st.gzip = c->gzip;
	}
	f->st.rows += c->rows;
	f->st.accepted += c->accepted;
	f->st.rejected += c->rejected;
	f->st.blank += c->blank;
	r->totals.rows += c->rows;
	r->totals.accepted += c->accepted;
	r->totals.rejected += c->rejected;
	r->totals.blank += c->blank;
	r->totals.sightings += c->sightings;
	r->ops[f->st.op].rows += c->rows;
	r->ops[f->st.op].rejected += c->rejected;
	if (c->header) {
		f->st.header = true;
		r->totals.headers++;
	}
	for (size_t why = 0; why < IMEI_DUMP_NREJECT; why++) {
		f->st.by_reason[why] += c->by_reason[why];
		r->totals.by_reason[why] += c->by_reason[why];
		for (size_t i = 0; i < c->nexamples[why] && r->nexamples[why] < IMEI_REPLAY_EXAMPLES; i++) {
			struct imei_replay_example *ex = &r->examples[why][r->nexamples[why]++];
			*ex = c->examples[why][i];
			ex->line += r->line_base;
		}
	}
	if (c->min_day <= c->max_day) {
		if (c->max_day > r->max_day)
			r->max_day = c->max_day;
		if (c->min_day < r->min_day)
			r->min_day = c->min_day;
		if (f->st.seen_first == IMEI_REPLAY_NO_DAY || c->min_day < f->st.seen_first)
			f->st.seen_first = c->min_day;
		if (f->st.seen_last == IMEI_REPLAY_NO_DAY || c->max_day > f->st.seen_last)
			f->st.seen_last = c->max_day;
	}
	if (c->unterminated)
		f->st.unterminated_line = r->line_base + c->unterminated;
	r->line_base += c->lines;
	free(c->examples);
	c->examples = NULL;
	if (ch->last) {
		f->st.bytes = c->bytes;
		f->st.done = true;
		r->bytes_before += c->bytes;
	}
}

/* Progress, from the recorded chunks and the one being recorded (what its reader has
 * read of it so far: a gzip file or a pipe is one chunk, and --max-rejected must not wait
 * for its end). */
static void publish_progress(struct imei_replay *r, const struct reader *inline_rd)
{
	uint64_t rows = r->totals.rows, rejected = r->totals.rejected, bytes = r->bytes_before;
	size_t file = r->nfiles ? r->nfiles - 1 : 0;
	if (r->rec_chunk < r->nchunks) {
		const struct chunk *ch = &r->chunks[r->rec_chunk];
		file = ch->file;
		if (inline_rd) {
			rows += ch->c.rows;
			rejected += ch->c.rejected;
			bytes += inline_rd->cur ? imei_dump_offset(inline_rd->cur) : 0;
		} else {
			rows += atomic_load_explicit(&ch->p_rows, memory_order_relaxed);
			rejected += atomic_load_explicit(&ch->p_rejected, memory_order_relaxed);
			bytes += ch->first ? atomic_load_explicit(&ch->p_bytes, memory_order_relaxed) : ch->from;
		}
	}
	atomic_store_explicit(&r->p_rows, rows, memory_order_relaxed);
	atomic_store_explicit(&r->p_rejected, rejected, memory_order_relaxed);
	atomic_store_explicit(&r->p_file, file, memory_order_relaxed);
	atomic_store_explicit(&r->p_bytes, bytes, memory_order_relaxed);
}

static int start_ingest(struct imei_replay *r, char *err, size_t errlen)
{
	if (plan_chunks(r, err, errlen) < 0)
		return -1;
	r->fold_aggs = imei_store_private(r->store);
	if (r->fold_aggs) {
		struct imei_store_stats st;
		struct imei_store_error se;
		if (imei_store_stats(r->store, &st, &se) < 0) {
			snprintf(err, errlen, "sightings store: %s", se.msg);
			return -1;
		}
		r->seed_aggs = st.aggregates > 0;
	}
	for (unsigned i = 0; i < r->nreaders; i++) {
		struct reader *rd = &r->readers[i];
		rd->fill = rd->free_list[--rd->nfree];
		rd->fill->n = rd->fill->ntext = 0;
	}
	if (!r->cfg.reader_thread)
		return 0;
	unsigned n = r->nreaders;
	if ((size_t)n > r->nchunks)
		n = r->nchunks ? (unsigned)r->nchunks : 1;
	for (unsigned i = 0; i < n; i++) {
		int rc = pthread_create(&r->readers[i].thread, NULL, reader_main, &r->readers[i]);
		if (rc != 0) {
			snprintf(err, errlen, "replay: cannot start a reader thread: %s", strerror(rc));
			imei_replay_stop_reader(r);
			return -1;
		}
		r->readers[i].started = true;
		r->threads_started = true;
	}
	/* the folder, when there are cores to spare for it; without, the recorder folds both */
	if (n > 1 && pthread_create(&r->folder, NULL, folder_main, r) == 0)
		r->folder_started = true;
	return 0;
}

/* Without reader threads: read and record in the caller's thread, for ms at most. */
static int ingest_inline(struct imei_replay *r, const struct timespec *t0, double budget, char *err, size_t errlen)
{
	struct reader *rd = &r->readers[0];
	while (r->rec_chunk < r->nchunks) {
		struct chunk *ch = &r->chunks[r->rec_chunk];
		int rc = read_chunk(rd, ch, SLICE_LINES);
		if (rc == 0)
			rc = emit_batch(rd, ch);
		publish_progress(r, rd);
		if (rc < 0) {
			snprintf(err, errlen, "%s", rd->err);
			return IMEI_REPLAY_ERROR;
		}
		if (rc == 0 && !rd->cur) {
			merge_chunk(r, ch);
			r->rec_chunk++;
			publish_progress(r, rd);
		}
		if (replay_stopped(r))
			return IMEI_REPLAY_STOPPED;
		if (replay_seconds_since(t0) >= budget)
			return IMEI_REPLAY_MORE;
	}
	imei_replay_release_ingest(r);
	return imei_replay_finish_ingest(r, err, errlen);
}

static int ingest_step(struct imei_replay *r, unsigned ms, char *err, size_t errlen)
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
		if (start_ingest(r, err, errlen) < 0)
			return IMEI_REPLAY_ERROR;
	}
	double budget = ms / 1000.0;
	if (!r->cfg.reader_thread)
		return ingest_inline(r, &t0, budget, err, errlen);
	/* threaded: record what the readers hand over, chunk after chunk, until the time is up */
	struct timespec deadline = replay_deadline(ms);
	while (r->rec_chunk < r->nchunks) {
		if (replay_stopped(r)) {
			imei_replay_stop_reader(r);
			return IMEI_REPLAY_STOPPED;
		}
		struct chunk *ch = &r->chunks[r->rec_chunk];
		pthread_mutex_lock(&r->qlock);
		int wrc = 0;
		while (ch->qcount == 0 && !ch->done && wrc != ETIMEDOUT)
			wrc = pthread_cond_timedwait(&r->q_filled, &r->qlock, &deadline);
		if (ch->qcount > 0) {
			struct sbatch *b = ch->q[ch->qhead];
			ch->qhead = (ch->qhead + 1) % READER_BATCHES;
			ch->qcount--;
			pthread_mutex_unlock(&r->qlock);
			int rc = record_threaded(r, b, err, errlen);
			publish_progress(r, NULL);
			if (rc < 0) {
				imei_replay_stop_reader(r);
				return IMEI_REPLAY_ERROR;
			}
			if (replay_seconds_since(&t0) >= budget)
				return IMEI_REPLAY_MORE;
			continue;
		}
		if (ch->done) {
			int rc = ch->rc;
			pthread_mutex_unlock(&r->qlock);
			if (rc == -1) {
				snprintf(err, errlen, "%s", ch->err ? ch->err : "replay: out of memory (a reader's error)");
				imei_replay_stop_reader(r);
				return IMEI_REPLAY_ERROR;
			}
			if (rc == -2) {
				imei_replay_stop_reader(r);
				return IMEI_REPLAY_STOPPED;
			}
			merge_chunk(r, ch);
			r->rec_chunk++;
			publish_progress(r, NULL);
			continue;
		}
		pthread_mutex_unlock(&r->qlock);
		return IMEI_REPLAY_MORE; /* timed out */
	}
	folder_join(r); /* through every batch */
	if (atomic_load(&r->fold_failed)) {
		snprintf(err, errlen, "%s", r->fold_err);
		imei_replay_stop_reader(r);
		return IMEI_REPLAY_ERROR;
	}
	imei_replay_stop_reader(r); /* all through: the readers have ended or are ending */
	imei_replay_release_ingest(r);
	return imei_replay_finish_ingest(r, err, errlen);
}

/* An ingest that failed or was stopped stays so: asked again, the same answer. Going on
 * would read on after the batch that failed, or without the readers (stopped, and the rows
 * they had not handed over with them), and could end DONE over part of the rows, or wait
 * for ever on a chunk no reader takes. */
int imei_replay_ingest(struct imei_replay *r, unsigned ms, char *err, size_t errlen)
{
	if (r->ingest_err[0]) {
		snprintf(err, errlen, "%s", r->ingest_err);
		return IMEI_REPLAY_ERROR;
	}
	if (r->ingest_stopped)
		return IMEI_REPLAY_STOPPED;
	int rc = ingest_step(r, ms, err, errlen);
	if (rc == IMEI_REPLAY_ERROR) {
		imei_replay_stop_reader(r);
		snprintf(r->ingest_err, sizeof r->ingest_err, "%s", errlen && err[0] ? err : "replay: the ingest failed");
	}
	r->ingest_stopped = rc == IMEI_REPLAY_STOPPED;
	return rc;
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
