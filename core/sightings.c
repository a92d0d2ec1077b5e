/*
 * sightings.c — the sightings store handle (imei_sightings.h): opens a backend by spec, counts
 * references atomically (C11 stdatomic), holds the read-write lock that makes one store
 * safe for many threads, checks every input, and answers every query from the aggregates
 * a backend fetches (sightings_agg.c), so "memory" and "lmdb:" answer alike (docs/sightings.md).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "imei_sightings.h"

struct imei_store {
	const struct imei_store_ops *ops;
	void *be;
	atomic_size_t refs;
	pthread_rwlock_t lock;
	atomic_bool frozen; /* set once, under the write lock; then queries skip the lock */
	bool read_only;
	char spec[];
};

struct imei_store_iter {
	struct imei_store *st;
	void *it;
};

struct imei_store *imei_store_open(const char *spec, const struct imei_store_opts *opts,
                                   struct imei_store_error *err)
{
	const struct imei_store_ops *ops;
	void *be;
	if (!spec)
		spec = "";
	if (strcmp(spec, "memory") == 0) {
		ops = &imei_store_mem_ops;
		be = imei_store_mem_open(opts, err);
	} else if (strncmp(spec, "lmdb:", 5) == 0 && spec[5]) {
		ops = &imei_store_lmdb_ops;
		be = imei_store_lmdb_open(spec + 5, opts, err);
	} else if (strncmp(spec, "redis", 5) == 0 && strstr(spec, "://")) {
		ops = &imei_store_redis_ops;
		be = imei_store_redis_open(spec, opts, err);
	} else {
		imei_store_fail(err, IMEI_STORE_EINVAL,
		                "store '%.200s': not \"memory\", \"lmdb:PATH\" or a redis:// URL", spec);
		return NULL;
	}
	if (!be)
		return NULL;
	char shown[1024];
	if (ops == &imei_store_redis_ops) {
		imei_store_redis_redact(spec, shown, sizeof shown);
		spec = shown;
	}
	size_t len = strlen(spec);
	struct imei_store *st = malloc(sizeof *st + len + 1);
	if (!st) {
		ops->close(be);
		imei_store_fail(err, IMEI_STORE_ENOMEM, "store '%.200s': out of memory", spec);
		return NULL;
	}
	if (pthread_rwlock_init(&st->lock, NULL) != 0) {
		free(st);
		ops->close(be);
		imei_store_fail(err, IMEI_STORE_ENOMEM, "store '%.200s': cannot create its lock", spec);
		return NULL;
	}
	st->ops = ops;
	st->be = be;
	atomic_init(&st->refs, 1);
	atomic_init(&st->frozen, false);
	st->read_only = opts && opts->read_only;
	memcpy(st->spec, spec, len + 1);
	return st;
}

struct imei_store *imei_store_retain(struct imei_store *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
	return st;
}

void imei_store_release(struct imei_store *st)
{
	if (!st || atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct imei_store_error err;
	if (!st->read_only)
		st->ops->flush(st->be, &err); /* best effort: flush first to see errors */
	st->ops->close(st->be);
	pthread_rwlock_destroy(&st->lock);
	free(st);
}

const char *imei_store_spec(const struct imei_store *st)
{
	return st->spec;
}

bool imei_store_read_only(const struct imei_store *st)
{
	return st->read_only;
}

/* A query's shared lock, or none once the store is frozen: whatever was written before
 * the freeze is visible (the freeze's release store pairs with this acquire load). Returns
 * whether it locked, for rdunlock. */
static bool rdlock(struct imei_store *st)
{
	if (atomic_load_explicit(&st->frozen, memory_order_acquire))
		return false;
	pthread_rwlock_rdlock(&st->lock);
	return true;
}

static void rdunlock(struct imei_store *st, bool locked)
{
	if (locked)
		pthread_rwlock_unlock(&st->lock);
}

static void wrlock(struct imei_store *st)
{
	pthread_rwlock_wrlock(&st->lock);
}

static void unlock(struct imei_store *st)
{
	pthread_rwlock_unlock(&st->lock);
}

static int refuse_write(const struct imei_store *st, struct imei_store_error *err)
{
	return imei_store_fail(err, IMEI_STORE_EREADONLY, "store '%.200s' is read-only", st->spec);
}

/* The write lock for a write, or -1 (err set, not locked) when the store is frozen:
 * checked under the lock, so no write slips in after imei_store_freeze returned. */
static int wrlock_writable(struct imei_store *st, struct imei_store_error *err)
{
	wrlock(st);
	if (!atomic_load_explicit(&st->frozen, memory_order_relaxed))
		return 0;
	unlock(st);
	return imei_store_fail(err, IMEI_STORE_EREADONLY,
	                       "store '%.200s' is frozen: it answers queries only (imei_store_freeze), a write "
	                       "after the freeze is refused",
	                       st->spec);
}

int imei_store_freeze(struct imei_store *st, struct imei_store_error *err)
{
	wrlock(st);
	int rc = 0;
	if (!atomic_load_explicit(&st->frozen, memory_order_relaxed)) {
		if (!st->read_only)
			rc = st->ops->flush(st->be, err);
		if (rc == 0)
			atomic_store_explicit(&st->frozen, true, memory_order_release);
	}
	unlock(st);
	return rc;
}

bool imei_store_frozen(const struct imei_store *st)
{
	return atomic_load_explicit(&st->frozen, memory_order_acquire);
}

void imei_store_prefetch(struct imei_store *st, uint64_t far, uint64_t near)
{
	if (st->ops->prefetch && atomic_load_explicit(&st->frozen, memory_order_acquire))
		st->ops->prefetch(st->be, far, near);
}

int imei_store_reserve(struct imei_store *st, size_t n, struct imei_store_error *err)
{
	if (st->read_only)
		return refuse_write(st, err);
	if (wrlock_writable(st, err) < 0)
		return -1;
	int rc = st->ops->reserve ? st->ops->reserve(st->be, n, err) : 0;
	unlock(st);
	return rc;
}

static int check_key(uint64_t key, struct imei_store_error *err)
{
	if (imei_sight_key_ok(key))
		return 0;
	return imei_store_fail(err, IMEI_STORE_EINVAL, "key: %llu has more than 14 digits", (unsigned long long)key);
}

static int check_ids(uint64_t key, uint64_t imsi, uint64_t msisdn, struct imei_store_error *err)
{
	if (check_key(key, err) < 0)
		return -1;
	if (!imei_sight_digits_ok(imsi, IMEI_SIGHT_IMSI_MIN, IMEI_SIGHT_IMSI_MAX))
		return imei_store_fail(err, IMEI_STORE_EINVAL, "imsi: %llu is not an encoded IMSI (imei_sight_imsi)",
		                       (unsigned long long)imsi);
	if (msisdn && !imei_sight_digits_ok(msisdn, IMEI_SIGHT_MSISDN_MIN, IMEI_SIGHT_MSISDN_MAX))
		return imei_store_fail(err, IMEI_STORE_EINVAL,
		                       "msisdn: %llu is not an encoded MSISDN (imei_sight_msisdn)",
		                       (unsigned long long)msisdn);
	return 0;
}

static int check_sighting(const struct imei_sighting *s, struct imei_store_error *err)
{
	if (check_ids(s->key, s->imsi, s->msisdn, err) < 0)
		return -1;
	if (s->op && !imei_sight_operator_ok(s->op))
		return imei_store_fail(err, IMEI_STORE_EINVAL, "operator: %lu is not an encoded operator",
		                       (unsigned long)s->op);
	if (s->rat > IMEI_SIGHT_RAT_MAX)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "rat: %u is not a TS 29.274 RAT Type (1..10)",
		                       (unsigned)s->rat);
	return 0;
}

int imei_store_record_many(struct imei_store *st, const struct imei_sighting *s, size_t n, size_t *done,
                           struct imei_store_error *err)
{
	struct imei_store_error bad;
	size_t ok = 0;
	int rc = 0;
	*done = 0;
	if (st->read_only)
		return refuse_write(st, err);
	while (ok < n && check_sighting(&s[ok], &bad) == 0)
		ok++;
	if (wrlock_writable(st, err) < 0)
		return -1;
	if (st->ops->record_many) {
		rc = st->ops->record_many(st->be, s, ok, done, err);
	} else {
		for (; *done < ok && rc == 0; (*done)++)
			rc = st->ops->record(st->be, &s[*done], err);
		if (rc < 0)
			(*done)--;
	}
	unlock(st);
	if (rc < 0)
		return -1;
	if (ok < n)
		return imei_store_fail(err, bad.code, "sighting %zu: %s", ok, bad.msg);
	return 0;
}

int imei_store_record(struct imei_store *st, const struct imei_sighting *s, struct imei_store_error *err)
{
	if (st->read_only)
		return refuse_write(st, err);
	if (check_sighting(s, err) < 0 || wrlock_writable(st, err) < 0)
		return -1;
	int rc = st->ops->record(st->be, s, err);
	unlock(st);
	return rc;
}

int imei_store_flush(struct imei_store *st, struct imei_store_error *err)
{
	if (st->read_only || imei_store_frozen(st))
		return 0; /* frozen: flushed by the freeze, nothing written since */
	wrlock(st);
	int rc = st->ops->flush(st->be, err);
	unlock(st);
	return rc;
}

static int fetch(struct imei_store *st, uint64_t key, struct imei_agg_buf *buf, struct imei_store_error *err)
{
	imei_agg_buf_init(buf);
	if (check_key(key, err) < 0)
		return -1;
	bool locked = rdlock(st);
	int rc = st->ops->fetch(st->be, key, buf, err);
	rdunlock(st, locked);
	if (rc < 0)
		imei_agg_buf_free(buf);
	return rc;
}

static int window(uint32_t days, int64_t now, int64_t *d0, int64_t *d1, struct imei_store_error *err)
{
	if (days < 1)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "days: a window has at least 1 day");
	if (now < 0)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "now: %lld is before 1970", (long long)now);
	*d1 = now / IMEI_SIGHT_DAY;
	*d0 = *d1 - (int64_t)days + 1;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static size_t sort_unique(uint64_t *v, size_t n)
{
	if (n < 2)
		return n;
	qsort(v, n, sizeof *v, cmp_u64);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (v[i] != v[k - 1])
			v[k++] = v[i];
	return k;
}

static bool contains(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo] == x;
}

int imei_store_distinct(struct imei_store *st, uint64_t key, enum imei_store_field field, uint32_t days,
                        int64_t now, size_t *count, bool *exact, uint64_t **list, struct imei_store_error *err)
{
	int64_t d0 = 0, d1 = 0;
	struct imei_agg_buf buf;
	uint64_t small[32], *yes = small;
	if (list)
		*list = NULL;
	if (window(days, now, &d0, &d1, err) < 0 || fetch(st, key, &buf, err) < 0)
		return -1;
	if (buf.n * 2 > sizeof small / sizeof small[0] && !(yes = malloc(buf.n * 2 * sizeof *yes))) {
		imei_agg_buf_free(&buf);
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory for %zu sightings", buf.n);
	}
	uint64_t *unk = yes + buf.n;
	size_t ny = 0, nu = 0;
	for (size_t i = 0; i < buf.n; i++) {
		const struct imei_sighting_agg *a = &buf.v[i];
		uint64_t v = field == IMEI_FIELD_MSISDN ? a->msisdn : a->imsi;
		if (!v)
			continue;
		enum imei_seen seen = imei_agg_seen_between(a, d0, d1);
		if (seen == IMEI_SEEN_YES)
			yes[ny++] = v;
		else if (seen == IMEI_SEEN_UNKNOWN)
			unk[nu++] = v;
	}
	imei_agg_buf_free(&buf);
	ny = sort_unique(yes, ny);
	bool ok = true;
	for (size_t i = 0; i < nu && ok; i++)
		ok = contains(yes, ny, unk[i]);
	*count = ny;
	if (exact)
		*exact = ok;
	int rc = 0;
	if (list && ny) {
		*list = malloc(ny * sizeof **list);
		if (*list)
			memcpy(*list, yes, ny * sizeof **list);
		else
			rc = imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory for %zu values", ny);
	}
	if (yes != small)
		free(yes);
	return rc;
}

struct day_imsi {
	int64_t day;
	uint64_t imsi;
};

static int cmp_day_imsi(const void *a, const void *b)
{
	const struct day_imsi *x = a, *y = b;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return x->imsi < y->imsi ? -1 : x->imsi > y->imsi;
}

int imei_store_daily(struct imei_store *st, uint64_t key, uint32_t days, int64_t now, struct imei_store_daily *out,
                     struct imei_store_error *err)
{
	int64_t d0 = 0, d1 = 0;
	struct imei_agg_buf buf;
	memset(out, 0, sizeof *out);
	out->exact = true;
	if (window(days, now, &d0, &d1, err) < 0 || fetch(st, key, &buf, err) < 0)
		return -1;
	/* every day an aggregate is known to be seen: its first day and its bitmap */
	size_t cap = buf.n * (IMEI_SIGHT_HORIZON_DAYS + 1), n = 0;
	struct day_imsi *v = cap ? malloc(cap * sizeof *v) : NULL;
	if (cap && !v) {
		imei_agg_buf_free(&buf);
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory for %zu sightings", buf.n);
	}
	for (size_t i = 0; i < buf.n; i++) {
		const struct imei_sighting_agg *a = &buf.v[i];
		int64_t fd = a->first / IMEI_SIGHT_DAY, ld = a->last / IMEI_SIGHT_DAY;
		if (fd >= d0 && fd <= d1 && ld - fd >= IMEI_SIGHT_HORIZON_DAYS)
			v[n++] = (struct day_imsi){ fd, a->imsi };
		for (uint64_t bits = a->days; bits; bits &= bits - 1) {
			int64_t d = ld - __builtin_ctzll(bits);
			if (d >= d0 && d <= d1)
				v[n++] = (struct day_imsi){ d, a->imsi };
		}
		/* the days this aggregate's bitmap no longer covers */
		int64_t u0 = d0 > fd + 1 ? d0 : fd + 1;
		int64_t u1 = d1 < ld - IMEI_SIGHT_HORIZON_DAYS ? d1 : ld - IMEI_SIGHT_HORIZON_DAYS;
		if (u0 <= u1 && imei_agg_seen_between(a, u0, u1) == IMEI_SEEN_UNKNOWN)
			out->exact = false;
	}
	imei_agg_buf_free(&buf);
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_day_imsi);
	/* compact in place into days: v[k] becomes (day, distinct IMSIs) */
	size_t nd = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint32_t count = 0;
		for (; j < n && v[j].day == v[i].day; j++)
			if (j == i || v[j].imsi != v[j - 1].imsi)
				count++;
		out->total += count;
		v[nd].day = v[i].day;
		v[nd].imsi = count;
		nd++;
		i = j;
	}
	out->days_seen = nd;
	if (nd) {
		out->days = malloc(nd * sizeof *out->days);
		if (!out->days) {
			free(v);
			out->days_seen = 0;
			return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory for %zu days", nd);
		}
		for (size_t i = 0; i < nd; i++) {
			out->days[i].day = v[i].day;
			out->days[i].imsis = (uint32_t)v[i].imsi;
		}
	}
	free(v);
	return 0;
}

/* Ties: the lowest IMSI, then the lowest MSISDN. */
static bool before(const struct imei_sighting_agg *a, const struct imei_sighting_agg *b)
{
	return a->imsi != b->imsi ? a->imsi < b->imsi : a->msisdn < b->msisdn;
}

static int pick(struct imei_store *st, uint64_t key, bool last, struct imei_sighting_agg *out,
                struct imei_store_error *err)
{
	struct imei_agg_buf buf;
	if (fetch(st, key, &buf, err) < 0)
		return -1;
	const struct imei_sighting_agg *best = NULL;
	for (size_t i = 0; i < buf.n; i++) {
		const struct imei_sighting_agg *a = &buf.v[i];
		if (!best)
			best = a;
		else if (last ? a->last != best->last : a->first != best->first)
			best = (last ? a->last > best->last : a->first < best->first) ? a : best;
		else if (before(a, best))
			best = a;
	}
	if (best)
		*out = *best;
	imei_agg_buf_free(&buf);
	return best != NULL;
}

int imei_store_first(struct imei_store *st, uint64_t key, struct imei_sighting_agg *out,
                     struct imei_store_error *err)
{
	return pick(st, key, false, out, err);
}

int imei_store_last(struct imei_store *st, uint64_t key, struct imei_sighting_agg *out,
                    struct imei_store_error *err)
{
	return pick(st, key, true, out, err);
}

static int cmp_agg(const void *a, const void *b)
{
	const struct imei_sighting_agg *x = a, *y = b;
	return before(x, y) ? -1 : before(y, x);
}

/* Move a buffer's contents into a malloc'd array the caller frees. */
static int take(struct imei_agg_buf *buf, struct imei_sighting_agg **list, size_t *n, struct imei_store_error *err)
{
	*list = NULL;
	*n = buf->n;
	if (buf->n > 1)
		qsort(buf->v, buf->n, sizeof *buf->v, cmp_agg);
	if (buf->n == 0)
		return 0;
	if (buf->v != buf->small) {
		*list = buf->v;
		buf->v = buf->small;
		return 0;
	}
	*list = malloc(buf->n * sizeof **list);
	if (!*list) {
		*n = 0;
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
	}
	memcpy(*list, buf->v, buf->n * sizeof **list);
	return 0;
}

int imei_store_sightings(struct imei_store *st, uint64_t key, struct imei_sighting_agg **list, size_t *n,
                         struct imei_store_error *err)
{
	struct imei_agg_buf buf;
	*list = NULL;
	*n = 0;
	if (fetch(st, key, &buf, err) < 0)
		return -1;
	int rc = take(&buf, list, n, err);
	imei_agg_buf_free(&buf);
	return rc;
}

int imei_store_sightings_in(struct imei_store *st, uint64_t key, uint32_t days, int64_t now,
                            struct imei_sighting_agg **list, size_t *n, struct imei_store_error *err)
{
	int64_t d0 = 0, d1 = 0;
	if (window(days, now, &d0, &d1, err) < 0 || imei_store_sightings(st, key, list, n, err) < 0)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) /* the window rule of imei_store_distinct: seen for sure */
		if (imei_agg_seen_between(&(*list)[i], d0, d1) == IMEI_SEEN_YES)
			(*list)[k++] = (*list)[i];
	*n = k;
	if (k == 0) {
		free(*list);
		*list = NULL;
	}
	return 0;
}

int imei_store_pair(struct imei_store *st, uint64_t key, uint64_t imsi, uint64_t msisdn,
                    struct imei_store_error *err)
{
	if (st->read_only)
		return refuse_write(st, err);
	if (check_ids(key, imsi, msisdn, err) < 0)
		return -1;
	struct imei_pairing p = { key, imsi, msisdn };
	if (wrlock_writable(st, err) < 0)
		return -1;
	int rc = st->ops->pair(st->be, &p, err);
	unlock(st);
	return rc;
}

int imei_store_unpair(struct imei_store *st, uint64_t key, uint64_t imsi, struct imei_store_error *err)
{
	if (st->read_only)
		return refuse_write(st, err);
	if (check_ids(key, imsi, 0, err) < 0 || wrlock_writable(st, err) < 0)
		return -1;
	int rc = st->ops->unpair(st->be, key, imsi, err);
	unlock(st);
	return rc;
}

int imei_store_is_paired(struct imei_store *st, uint64_t key, uint64_t imsi, uint64_t *msisdn,
                         struct imei_store_error *err)
{
	if (check_ids(key, imsi, 0, err) < 0)
		return -1;
	bool locked = rdlock(st);
	int rc = st->ops->is_paired(st->be, key, imsi, msisdn, err);
	rdunlock(st, locked);
	return rc;
}

int imei_store_pairs_of(struct imei_store *st, uint64_t key, struct imei_pairing **list, size_t *n,
                        struct imei_store_error *err)
{
	struct imei_agg_buf buf;
	struct imei_sighting_agg *aggs = NULL;
	*list = NULL;
	*n = 0;
	imei_agg_buf_init(&buf);
	if (check_key(key, err) < 0)
		return -1;
	bool locked = rdlock(st);
	int rc = st->ops->pairs_of(st->be, key, &buf, err);
	rdunlock(st, locked);
	if (rc == 0)
		rc = take(&buf, &aggs, n, err);
	imei_agg_buf_free(&buf);
	if (rc < 0 || *n == 0)
		return rc;
	*list = malloc(*n * sizeof **list);
	if (!*list) {
		free(aggs);
		*n = 0;
		return imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < *n; i++)
		(*list)[i] = (struct imei_pairing){ aggs[i].key, aggs[i].imsi, aggs[i].msisdn };
	free(aggs);
	return 0;
}

int imei_store_stats(struct imei_store *st, struct imei_store_stats *out, struct imei_store_error *err)
{
	memset(out, 0, sizeof *out);
	bool locked = rdlock(st);
	int rc = st->ops->stats(st->be, out, err);
	rdunlock(st, locked);
	return rc;
}

void imei_store_counters(struct imei_store *st, struct imei_store_counters *out)
{
	memset(out, 0, sizeof *out);
	if (st->ops->counters) {
		st->ops->counters(st->be, out);
		return;
	}
	struct imei_store_stats s;
	struct imei_store_error err;
	bool locked = rdlock(st);
	int rc = st->ops->stats(st->be, &s, &err);
	rdunlock(st, locked);
	if (rc == 0) {
		out->recorded = s.recorded;
		out->written = s.recorded - s.pending;
		out->buffered = s.pending;
	}
}

int imei_store_check(struct imei_store *st, struct imei_store_error *err)
{
	bool locked = rdlock(st);
	int rc = st->ops->check(st->be, err);
	rdunlock(st, locked);
	return rc;
}

struct imei_store_iter *imei_store_iter_open(struct imei_store *st, enum imei_iter_kind kind,
                                             struct imei_store_error *err)
{
	struct imei_store_iter *it = malloc(sizeof *it);
	if (!it) {
		imei_store_fail(err, IMEI_STORE_ENOMEM, "out of memory");
		return NULL;
	}
	int rc = 0;
	wrlock(st);
	if (!st->read_only && !atomic_load_explicit(&st->frozen, memory_order_relaxed))
		rc = st->ops->flush(st->be, err);
	it->it = rc < 0 ? NULL : st->ops->iter_open(st->be, kind, err);
	unlock(st);
	if (!it->it) {
		free(it);
		return NULL;
	}
	it->st = imei_store_retain(st);
	return it;
}

int imei_store_iter_next(struct imei_store_iter *it, struct imei_sighting_agg *out, struct imei_store_error *err)
{
	struct imei_store *st = it->st;
	if (!st->ops->iter_needs_lock)
		return st->ops->iter_next(st->be, it->it, out, err);
	bool locked = rdlock(st);
	int rc = st->ops->iter_next(st->be, it->it, out, err);
	rdunlock(st, locked);
	return rc;
}

int imei_store_put_aggs(struct imei_store *st, const struct imei_sighting_agg *a, size_t n,
                        struct imei_store_error *err)
{
	if (!st->ops->put_aggs)
		return imei_store_fail(err, IMEI_STORE_EINVAL, "%s store: cannot restore a snapshot (a memory store can)",
		                       st->ops->name);
	if (wrlock_writable(st, err) < 0)
		return -1;
	int rc = st->ops->put_aggs(st->be, a, n, err);
	unlock(st);
	return rc;
}

bool imei_store_private(const struct imei_store *st)
{
	return st->ops->put_aggs != NULL; /* the memory backend: no other process can reach it */
}

int imei_store_get_agg(struct imei_store *st, uint64_t key, uint64_t imsi, uint64_t msisdn,
                       struct imei_sighting_agg *out, struct imei_store_error *err)
{
	struct imei_agg_buf buf;
	if (fetch(st, key, &buf, err) < 0)
		return -1;
	int found = 0;
	for (size_t i = 0; i < buf.n && !found; i++)
		if (buf.v[i].imsi == imsi && buf.v[i].msisdn == msisdn) {
			*out = buf.v[i];
			found = 1;
		}
	imei_agg_buf_free(&buf);
	return found;
}

void imei_store_iter_close(struct imei_store_iter *it)
{
	if (!it)
		return;
	it->st->ops->iter_close(it->st->be, it->it);
	imei_store_release(it->st);
	free(it);
}
