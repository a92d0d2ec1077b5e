/*
 * lists_needs.c — the lists a policy cannot do without, and whether a collection has them
 * (imei_lists.h): needs declared by the policy or found in its source, the one check that
 * every host runs before it answers with a policy (imei check, classify, the server, a
 * reload, a swap of lists), and the lists' load reports as JSON and text for hosts.
 *
 * Why here and once: a policy reading lists.stolen from a folder without stolen.csv (or
 * with a header only, or with every row rejected) would answer every stolen device "not
 * listed" and say nothing. The rule lives in C, in the lists layer, so that all hosts get
 * the same answer and the same message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imei_lists.h"

/* ---- the set of needs ------------------------------------------------------------ */

const struct imei_list_need *imei_list_needs_get(const struct imei_list_needs *ns, const char *name)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].name, name) == 0)
			return &ns->v[i];
	return NULL;
}

int imei_list_needs_add(struct imei_list_needs *ns, const struct imei_list_need *need)
{
	size_t len = strnlen(need->name, sizeof need->name);
	if (len == 0 || len >= sizeof need->name) {
		errno = EINVAL;
		return -1;
	}
	struct imei_list_need *have = (struct imei_list_need *)imei_list_needs_get(ns, need->name);
	if (have) {
		if (need->declared && !have->declared)
			*have = *need;
		return 0;
	}
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 8;
		struct imei_list_need *v = realloc(ns->v, cap * sizeof *v);
		if (!v) {
			errno = ENOMEM;
			return -1;
		}
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n++] = *need;
	return 0;
}

void imei_list_needs_free(struct imei_list_needs *ns)
{
	free(ns->v);
	ns->v = NULL;
	ns->n = ns->cap = 0;
}

/* ---- finding needs in Lua source ----------------------------------------------------- */

static bool ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

struct scanner {
	const char *s, *end;
	size_t line;
};

/* The level of a long bracket at p ("[[", "[==["), or -1. */
static int long_bracket(const struct scanner *sc, const char *p)
{
	if (p >= sc->end || *p != '[')
		return -1;
	int level = 0;
	for (p++; p < sc->end && *p == '='; p++)
		level++;
	return p < sc->end && *p == '[' ? level : -1;
}

/* Skip a long string or comment body opened at p with the given level. */
static const char *skip_long(struct scanner *sc, const char *p, int level)
{
	p += level + 2;
	for (; p < sc->end; p++) {
		if (*p == '\n')
			sc->line++;
		if (*p == ']') {
			const char *q = p + 1;
			int n = 0;
			while (q < sc->end && *q == '=') {
				n++;
				q++;
			}
			if (n == level && q < sc->end && *q == ']')
				return q + 1;
		}
	}
	return sc->end;
}

/* Skip spaces, line ends and comments. */
static const char *skip_space(struct scanner *sc, const char *p)
{
	for (;;) {
		while (p < sc->end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\f' || *p == '\v')) {
			if (*p == '\n')
				sc->line++;
			p++;
		}
		if (p + 1 < sc->end && p[0] == '-' && p[1] == '-') {
			int level = long_bracket(sc, p + 2);
			if (level >= 0) {
				p = skip_long(sc, p + 2, level);
			} else {
				while (p < sc->end && *p != '\n')
					p++;
			}
			continue;
		}
		return p;
	}
}

/* A short string at p ('...' or "..."): its end, and its text in out when it is a plain
 * word (no escapes); out[0] = 0 otherwise. */
static const char *short_string(struct scanner *sc, const char *p, char *out, size_t cap)
{
	char q = *p++;
	size_t n = 0;
	bool plain = true;
	for (; p < sc->end && *p != q; p++) {
		if (*p == '\n') {
			sc->line++;
			plain = false;
		}
		if (*p == '\\') {
			plain = false;
			if (p + 1 < sc->end) {
				if (p[1] == '\n')
					sc->line++;
				p++;
			}
			continue;
		}
		if (n + 1 < cap)
			out[n++] = *p;
		else
			plain = false;
	}
	out[plain ? n : 0] = 0;
	return p < sc->end ? p + 1 : p;
}

static int found(struct imei_list_needs *ns, const char *name, size_t len, const char *file, size_t line)
{
	struct imei_list_need need = { .min_rows = 1, .max_rejected = IMEI_LIST_DEFAULT_MAX_REJECTED };
	if (len == 0 || len >= sizeof need.name)
		return 0;
	memcpy(need.name, name, len);
	need.name[len] = 0;
	snprintf(need.where, sizeof need.where, "%s:%zu", file, line);
	return imei_list_needs_add(ns, &need);
}

/* After the word `lists` (p just past it): .NAME, ["NAME"], :get("NAME"). */
static int after_lists(struct imei_list_needs *ns, struct scanner *sc, const char *p, const char *file)
{
	size_t line = sc->line;
	char word[64];
	p = skip_space(sc, p);
	if (p < sc->end && *p == '.' && !(p + 1 < sc->end && p[1] == '.')) {
		p = skip_space(sc, p + 1);
		const char *w = p;
		while (p < sc->end && ident_char(*p))
			p++;
		if (p > w && ident_start(*w))
			return found(ns, w, (size_t)(p - w), file, line);
		return 0;
	}
	if (p < sc->end && *p == '[' && long_bracket(sc, p) < 0) {
		p = skip_space(sc, p + 1);
		if (p < sc->end && (*p == '"' || *p == '\'')) {
			struct scanner tmp = *sc;
			short_string(&tmp, p, word, sizeof word);
			if (word[0])
				return found(ns, word, strlen(word), file, line);
		}
		return 0;
	}
	if (p < sc->end && *p == ':') {
		p = skip_space(sc, p + 1);
		if (sc->end - p >= 3 && memcmp(p, "get", 3) == 0 && !(p + 3 < sc->end && ident_char(p[3]))) {
			p = skip_space(sc, p + 3);
			if (p < sc->end && *p == '(')
				p = skip_space(sc, p + 1);
			if (p < sc->end && (*p == '"' || *p == '\'')) {
				struct scanner tmp = *sc;
				short_string(&tmp, p, word, sizeof word);
				if (word[0])
					return found(ns, word, strlen(word), file, line);
			}
		}
	}
	return 0;
}

int imei_list_needs_scan(struct imei_list_needs *ns, const char *src, size_t len, const char *file)
{
	struct scanner sc = { src, src + len, 1 };
	const char *p = src;
	char prev = 0; /* the last significant character before p */
	char ignored[2];
	while ((p = skip_space(&sc, p)) < sc.end) {
		char c = *p;
		if (c == '"' || c == '\'') {
			p = short_string(&sc, p, ignored, sizeof ignored);
			prev = c;
			continue;
		}
		int level = long_bracket(&sc, p);
		if (level >= 0) {
			p = skip_long(&sc, p, level);
			prev = ']';
			continue;
		}
		if (ident_start(c)) {
			const char *w = p;
			while (p < sc.end && ident_char(*p))
				p++;
			/* `lists` itself, not a field x.lists or a method x:lists */
			if (p - w == 5 && memcmp(w, "lists", 5) == 0 && prev != '.' && prev != ':') {
				struct scanner at = sc;
				if (after_lists(ns, &at, p, file) != 0)
					return -1;
			}
			prev = 'a';
			continue;
		}
		if (c >= '0' && c <= '9') { /* a number, 1.5e3 included: never a name */
			while (p < sc.end && (ident_char(*p) || *p == '.'))
				p++;
			prev = '0';
			continue;
		}
		if (c == '.' && p + 1 < sc.end && p[1] == '.') { /* .. and ... are operators, not a field */
			while (p < sc.end && *p == '.')
				p++;
			prev = '+';
			continue;
		}
		prev = c;
		p++;
	}
	return 0;
}

int imei_list_needs_scan_file(struct imei_list_needs *ns, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			fclose(f);
			snprintf(err, errlen, "%s: out of memory", path);
			return -1;
		}
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *more = cap > ((size_t)1 << 30) ? NULL : realloc(buf, cap * 2);
		if (!more) {
			free(buf);
			buf = NULL;
			continue;
		}
		buf = more;
		cap *= 2;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		snprintf(err, errlen, "%s: cannot read", path);
		return -1;
	}
	int rc = imei_list_needs_scan(ns, buf, n, path);
	free(buf);
	if (rc != 0)
		snprintf(err, errlen, "%s: out of memory", path);
	return rc;
}

/* ---- the check --------------------------------------------------------------------- */

struct out {
	char *s;
	size_t cap, n;
};

static void put(struct out *o, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int k = vsnprintf(o->n < o->cap ? o->s + o->n : NULL, o->n < o->cap ? o->cap - o->n : 0, f, ap);
	va_end(ap);
	if (k > 0)
		o->n += (size_t)k;
}

static const char *list_file(const struct imei_list *l)
{
	return imei_list_path(l) ? imei_list_path(l) : imei_list_name(l);
}

int imei_lists_check_needs(const struct imei_lists *ls, const struct imei_list_needs *ns, char *err, size_t errlen)
{
	struct out o = { err, errlen, 0 };
	if (errlen)
		err[0] = 0;
	size_t bad = 0;
	for (size_t i = 0; i < ns->n; i++) {
		const struct imei_list_need *need = &ns->v[i];
		const struct imei_list *l = ls ? imei_lists_get(ls, need->name) : NULL;
		const char *from = need->declared ? "required by the policy at" : "the policy reads it at";
		if (!l) {
			if (need->optional)
				continue;
			put(&o, "%slist '%s' (%s %s): ", bad++ ? "\n" : "", need->name, from, need->where);
			if (!ls)
				put(&o, "no lists are loaded: give the lists folder (--lists DIR)");
			else if (imei_lists_dir(ls))
				put(&o, "missing: there is no %s/%s.csv", imei_lists_dir(ls), need->name);
			else
				put(&o, "missing from the lists given");
			continue;
		}
		const struct imei_list_report *r = imei_list_report(l);
		size_t accepted = r->rows - r->rejected;
		if (accepted < need->min_rows) {
			put(&o, "%slist '%s' (%s %s): %s: ", bad++ ? "\n" : "", need->name, from, need->where, list_file(l));
			if (r->rows == 0)
				put(&o, "empty (no rows); if it may be empty, declare P:requires_list(\"%s\", { min_rows = 0 })",
				    need->name);
			else
				put(&o, "%zu row%s accepted of %zu, the policy needs at least %zu (min_rows)", accepted,
				    accepted == 1 ? "" : "s", r->rows, need->min_rows);
			continue;
		}
		if (r->rows > 0 && (double)r->rejected > need->max_rejected * (double)r->rows) {
			put(&o, "%slist '%s' (%s %s): %s: damaged: %zu of %zu rows rejected (%.1f%%), more than the %g%% "
			        "allowed (max_rejected)",
			    bad++ ? "\n" : "", need->name, from, need->where, list_file(l), r->rejected, r->rows,
			    100.0 * (double)r->rejected / (double)r->rows, 100.0 * need->max_rejected);
			if (r->nerrors)
				put(&o, "; first: line %zu: %s", r->errors[0].line, r->errors[0].reason);
		}
	}
	return bad ? -1 : 0;
}

/* ---- reports ------------------------------------------------------------------------- */

static void json_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static void report_json(struct out *o, const struct imei_list *l)
{
	const struct imei_list_report *r = imei_list_report(l);
	put(o, "{\"name\":");
	json_str(o, imei_list_name(l));
	put(o, ",\"file\":");
	if (imei_list_path(l))
		json_str(o, imei_list_path(l));
	else
		put(o, "null");
	put(o, ",\"kind\":\"%s\",\"rows\":%zu,\"loaded\":%zu,\"rejected\":%zu,\"duplicates\":%zu,\"warnings\":%zu,",
	    imei_list_kind_name(imei_list_kind(l)), r->rows, r->loaded, r->rejected, r->duplicates, r->warnings);
	put(o, "\"rejected_by\":{");
	for (int k = 0, first = 1; k < IMEI_LIST_NREJECT; k++)
		if (r->rejected_by[k]) {
			put(o, "%s\"%s\":%zu", first ? "" : ",", imei_list_reject_name((enum imei_list_reject)k),
			    r->rejected_by[k]);
			first = 0;
		}
	put(o, "},\"bytes\":%llu,\"sha256\":\"%s\",\"errors\":[", r->bytes, r->sha256);
	for (size_t i = 0; i < r->nerrors; i++) {
		put(o, "%s{\"line\":%zu,\"reason\":", i ? "," : "", r->errors[i].line);
		json_str(o, r->errors[i].reason);
		put(o, "}");
	}
	put(o, "]}");
}

size_t imei_list_report_json(const struct imei_list *l, char *out, size_t cap)
{
	struct out o = { out, cap, 0 };
	if (cap)
		out[0] = 0;
	report_json(&o, l);
	if (cap && o.n >= cap)
		out[cap - 1] = 0;
	return o.n;
}

size_t imei_lists_report_json(const struct imei_lists *ls, char *out, size_t cap)
{
	struct out o = { out, cap, 0 };
	if (cap)
		out[0] = 0;
	put(&o, "[");
	for (size_t i = 0; ls && i < imei_lists_count(ls); i++) {
		if (i)
			put(&o, ",");
		report_json(&o, imei_lists_at(ls, i));
	}
	put(&o, "]");
	if (cap && o.n >= cap)
		out[cap - 1] = 0;
	return o.n;
}

size_t imei_list_report_line(const struct imei_list *l, char *out, size_t cap)
{
	struct out o = { out, cap, 0 };
	if (cap)
		out[0] = 0;
	const struct imei_list_report *r = imei_list_report(l);
	put(&o, "%s: %s: %zu row%s, %zu loaded, %zu rejected", imei_list_name(l), list_file(l), r->rows,
	    r->rows == 1 ? "" : "s", r->loaded, r->rejected);
	if (r->rejected) {
		put(&o, " (");
		for (int k = 0, first = 1; k < IMEI_LIST_NREJECT; k++)
			if (r->rejected_by[k]) {
				put(&o, "%s%s %zu", first ? "" : ", ", imei_list_reject_name((enum imei_list_reject)k),
				    r->rejected_by[k]);
				first = 0;
			}
		put(&o, ")");
	}
	put(&o, ", %zu duplicates, %zu warnings, %llu bytes, sha256 %s", r->duplicates, r->warnings, r->bytes, r->sha256);
	if (cap && o.n >= cap)
		out[cap - 1] = 0;
	return o.n;
}
