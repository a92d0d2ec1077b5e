/*
 * lists_collection.c — a named collection of frozen lists (imei_lists.h): every *.csv of a
 * directory, or lists added one by one; and the check a host runs to decide whether
 * to reload (a file added, removed, replaced or modified).
 *
 * A reload never changes a collection: the host loads a new one (all or nothing) and
 * swaps its pointer, so a check in flight keeps the consistent set it started with.
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "imei_lists.h"

struct imei_lists {
	atomic_size_t refs;
	size_t n, cap;
	struct imei_list **v;
	char *dir; /* imei_lists_load_dir, else NULL */
};

struct imei_lists *imei_lists_new(void)
{
	struct imei_lists *ls = calloc(1, sizeof *ls);
	if (ls)
		atomic_init(&ls->refs, 1);
	return ls;
}

static void lists_free(struct imei_lists *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		imei_list_unref(ls->v[i]);
	free(ls->v);
	free(ls->dir);
	free(ls);
}

void imei_lists_prefetch_key(const struct imei_lists *ls, uint64_t key)
{
	if (!ls || key == UINT64_MAX)
		return;
	for (size_t i = 0; i < ls->n; i++)
		imei_list_prefetch_key(ls->v[i], key);
}

struct imei_lists *imei_lists_ref(struct imei_lists *ls)
{
	if (ls)
		atomic_fetch_add_explicit(&ls->refs, 1, memory_order_relaxed);
	return ls;
}

void imei_lists_unref(struct imei_lists *ls)
{
	if (ls && atomic_fetch_sub_explicit(&ls->refs, 1, memory_order_acq_rel) == 1)
		lists_free(ls);
}

int imei_lists_add(struct imei_lists *ls, struct imei_list *l)
{
	if (imei_lists_get(ls, imei_list_name(l))) {
		errno = EEXIST;
		return -1;
	}
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? 2 * ls->cap : 8;
		struct imei_list **v = realloc(ls->v, cap * sizeof *v);
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		ls->v = v;
		ls->cap = cap;
	}
	ls->v[ls->n++] = imei_list_ref(l);
	return 0;
}

size_t imei_lists_count(const struct imei_lists *ls)
{
	return ls->n;
}

struct imei_list *imei_lists_at(const struct imei_lists *ls, size_t i)
{
	return i < ls->n ? ls->v[i] : NULL;
}

struct imei_list *imei_lists_get(const struct imei_lists *ls, const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < ls->n; i++) /* a handful of lists: a scan beats a hash */
		if (strcmp(imei_list_name(ls->v[i]), name) == 0)
			return ls->v[i];
	return NULL;
}

const struct imei_list_report *imei_lists_report(const struct imei_lists *ls, size_t i)
{
	return i < ls->n ? imei_list_report(ls->v[i]) : NULL;
}

const char *imei_lists_dir(const struct imei_lists *ls)
{
	return ls->dir;
}

/* ---- directories ------------------------------------------------------------------- */

/* A list file: NAME.csv (any case), NAME not empty and not starting with '.'. */
static bool is_list_file(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 4 && strcasecmp(name + n - 4, ".csv") == 0;
}

static char *join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	bool slash = a > 0 && dir[a - 1] == '/';
	char *p = malloc(a + b + 2);
	if (p) {
		memcpy(p, dir, a);
		if (!slash)
			p[a++] = '/';
		memcpy(p + a, name, b + 1);
	}
	return p;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct names {
	char **v;
	size_t n;
};

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

/* The list files of dir, sorted. 0, or -1 with errno (and the reason in err). */
static int scan(const char *dir, struct names *ns, char *err, size_t errlen)
{
	ns->v = NULL;
	ns->n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	size_t cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!is_list_file(de->d_name))
			continue;
		if (ns->n == cap) {
			size_t c2 = cap ? 2 * cap : 16;
			char **v = realloc(ns->v, c2 * sizeof *v);
			if (!v)
				goto oom;
			ns->v = v;
			cap = c2;
		}
		size_t len = strlen(de->d_name) + 1;
		if (!(ns->v[ns->n] = malloc(len)))
			goto oom;
		memcpy(ns->v[ns->n++], de->d_name, len);
		errno = 0;
	}
	if (errno) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(e));
		closedir(d);
		names_free(ns);
		errno = e;
		return -1;
	}
	closedir(d);
	if (ns->n)
		qsort(ns->v, ns->n, sizeof *ns->v, by_name);
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory", dir);
	closedir(d);
	names_free(ns);
	errno = ENOMEM;
	return -1;
}

struct imei_lists *imei_lists_load_dir(const char *dir, char *err, size_t errlen)
{
	struct names ns;
	if (scan(dir, &ns, err, errlen) != 0)
		return NULL;
	struct imei_lists *ls = imei_lists_new();
	char *path = NULL;
	if (!ls || !(ls->dir = malloc(strlen(dir) + 1)))
		goto oom;
	memcpy(ls->dir, dir, strlen(dir) + 1);
	for (size_t i = 0; i < ns.n; i++) {
		if (!(path = join(dir, ns.v[i])))
			goto oom;
		struct stat sb;
		if (stat(path, &sb) != 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (!S_ISREG(sb.st_mode)) { /* a directory named x.csv is not a list */
			free(path);
			path = NULL;
			continue;
		}
		struct imei_list *l = imei_list_load(path, NULL, NULL, err, errlen);
		if (!l)
			goto fail;
		int rc = imei_lists_add(ls, l);
		if (rc != 0 && errno == EEXIST)
			snprintf(err, errlen, "%s: list '%s' is already loaded from another file (names ignore the "
			                      ".csv case)", path, imei_list_name(l));
		else if (rc != 0)
			snprintf(err, errlen, "%s: out of memory", path);
		imei_list_unref(l);
		if (rc != 0)
			goto fail;
		free(path);
		path = NULL;
	}
	names_free(&ns);
	return ls;
oom:
	snprintf(err, errlen, "%s: out of memory", dir);
fail:
	free(path);
	names_free(&ns);
	imei_lists_unref(ls);
	return NULL;
}

int imei_lists_changed(const struct imei_lists *ls, const char *dir)
{
	if (!dir)
		dir = ls->dir;
	if (!dir) { /* built from explicit files: ask each */
		for (size_t i = 0; i < ls->n; i++)
			if (imei_list_changed(ls->v[i], NULL))
				return 1;
		return 0;
	}
	struct names ns;
	char err[8];
	if (scan(dir, &ns, err, sizeof err) != 0)
		return -1;
	size_t files = 0;
	int changed = 0;
	for (size_t i = 0; i < ns.n && !changed; i++) {
		char *path = join(dir, ns.v[i]);
		if (!path) {
			names_free(&ns);
			errno = ENOMEM;
			return -1;
		}
		struct stat sb;
		if (stat(path, &sb) != 0) {
			changed = 1; /* a dangling link: a reload will say why */
		} else if (S_ISREG(sb.st_mode)) {
			files++;
			ns.v[i][strlen(ns.v[i]) - 4] = 0; /* the list name */
			const struct imei_list *l = imei_lists_get(ls, ns.v[i]);
			changed = !l || imei_list_changed(l, path);
		}
		free(path);
	}
	names_free(&ns);
	return changed || files != ls->n;
}
