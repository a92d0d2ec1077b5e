/*
 * api.c — the public, stable C API (include/imei/imei.h) over the engine (imei_engine.h):
 * opaque options and answers, a query struct that carries its size. Only conversion
 * lives here: every rule is the engine's. Version and error texts: core/version.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imei/imei.h"
#include "imei_engine.h"

/* Where make install puts the Lua modules (the Makefile passes -DIMEI_LUA_LMOD=…). */
#ifndef IMEI_LUA_LMOD
#define IMEI_LUA_LMOD "/usr/local/share/lua/5.4"
#endif

/* ---- options ----------------------------------------------------------------------- */

enum { OPT_POLICY, OPT_TACDB, OPT_LISTS, OPT_STORE, OPT_LUA_PATH, NSTR };
static const char *const str_names[NSTR] = { "policy", "tacdb", "lists", "store", "lua_path" };

struct imei_options {
	char *str[NSTR];
	struct imei_sandbox_limits limits;
	enum imei_status on_error;
	bool record;
	bool opened;                /* cfg holds the shared objects; the options are frozen */
	struct imei_engine_config cfg;
};

struct imei_options *imei_options_new(void)
{
	return calloc(1, sizeof(struct imei_options));
}

void imei_options_free(struct imei_options *o)
{
	if (!o)
		return;
	if (o->opened)
		imei_engine_config_release(&o->cfg);
	for (int i = 0; i < NSTR; i++)
		free(o->str[i]);
	free(o);
}

static bool parse_count(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out)
{
	char *end;
	if (!s || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

int imei_options_set(struct imei_options *o, const char *name, const char *value)
{
	if (!o || !name || !value)
		return IMEI_EINVAL;
	if (o->opened)
		return IMEI_ESTATE;
	for (int i = 0; i < NSTR; i++) {
		if (strcmp(name, str_names[i]) == 0) {
			char *copy = strdup(value);
			if (!copy)
				return IMEI_ENOMEM;
			free(o->str[i]);
			o->str[i] = copy;
			return IMEI_EOK;
		}
	}
	unsigned long long n;
	if (strcmp(name, "instructions") == 0) {
		if (!parse_count(value, 1000, LLONG_MAX, &n))
			return IMEI_EINVAL;
		o->limits.check_budget = (long long)n;
	} else if (strcmp(name, "memory") == 0) {
		if (!parse_count(value, 1u << 20, SIZE_MAX, &n))
			return IMEI_EINVAL;
		o->limits.memory = (size_t)n;
	} else if (strcmp(name, "on_error") == 0) {
		int s = imei_status_from_name(value);
		if (s < 0)
			return IMEI_EINVAL;
		o->on_error = (enum imei_status)s;
	} else if (strcmp(name, "record") == 0) {
		if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
			return IMEI_EINVAL;
		o->record = value[0] == 't';
	} else {
		return IMEI_EINVAL;
	}
	return IMEI_EOK;
}

static void say(char *err, size_t errlen, const char *fmt, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, what);
}

/* A file that cannot be read is EIO; one that reads but is refused, EFORMAT. */
static int file_code(const char *path)
{
	return path && access(path, R_OK) != 0 ? IMEI_EIO : IMEI_EFORMAT;
}

static int open_shared(struct imei_options *o, char *err, size_t errlen)
{
	char why[1024];
	if (!o->str[OPT_POLICY]) {
		say(err, errlen, "%s", "options: no policy file given (imei_options_set(o, \"policy\", PATH))");
		return IMEI_EINVAL;
	}
	/* The runtime (lua/imei/policy/runtime.lua) where make install put it, unless the
	 * caller or $LUA_PATH says otherwise; then Lua's own default path. */
	static const char installed[] = IMEI_LUA_LMOD "/?.lua;" IMEI_LUA_LMOD "/?/init.lua;" LUA_PATH_DEFAULT;
	const char *lua_path = o->str[OPT_LUA_PATH];
	if (!lua_path && !getenv("LUA_PATH_5_4") && !getenv("LUA_PATH"))
		lua_path = installed;
	struct imei_engine_paths paths = {
		.policy = o->str[OPT_POLICY], .tacdb = o->str[OPT_TACDB], .lists = o->str[OPT_LISTS],
		.store = o->str[OPT_STORE], .lua_path = lua_path,
	};
	if (imei_engine_config_open(&o->cfg, &paths, why, sizeof why) != 0) {
		say(err, errlen, "%s", why);
		if (strstr(why, "out of memory"))
			return IMEI_ENOMEM;
		if (strncmp(why, "tacdb", 5) == 0)
			return file_code(paths.tacdb);
		if (strncmp(why, "lists", 5) == 0)
			return file_code(paths.lists);
		return IMEI_EIO; /* the store */
	}
	o->cfg.limits = o->limits;
	o->cfg.on_error = o->on_error;
	o->cfg.record = o->record;
	o->opened = true;
	return IMEI_EOK;
}

int imei_engine_open(struct imei_engine **out, struct imei_options *o, char *err, size_t errlen)
{
	if (!out)
		return IMEI_EINVAL;
	*out = NULL;
	if (!o) {
		say(err, errlen, "%s", "options: NULL");
		return IMEI_EINVAL;
	}
	if (!o->opened) {
		int rc = open_shared(o, err, errlen);
		if (rc != IMEI_EOK)
			return rc;
	}
	char why[1024];
	*out = imei_engine_new(&o->cfg, why, sizeof why);
	if (*out)
		return IMEI_EOK;
	say(err, errlen, "%s", why);
	if (strstr(why, "out of memory"))
		return IMEI_ENOMEM;
	return access(o->str[OPT_POLICY], R_OK) != 0 ? IMEI_EIO : IMEI_EPOLICY;
}

/* ---- queries and answers ----------------------------------------------------------- */

struct imei_answer {
	struct imei_verdict v; /* owns its strings and reasons between queries */
	char msg[96];          /* why a query was refused before the engine saw it */
};

struct imei_answer *imei_answer_new(void)
{
	struct imei_answer *a = calloc(1, sizeof *a);
	if (a)
		a->v = (struct imei_verdict)IMEI_VERDICT_INIT;
	return a;
}

void imei_answer_free(struct imei_answer *a)
{
	if (!a)
		return;
	imei_verdict_release(&a->v);
	free(a);
}

/* The first version's struct imei_query ends after `time`. */
#define QUERY_V1_SIZE (offsetof(struct imei_query, time) + sizeof(long long))

int imei_engine_query(struct imei_engine *e, const struct imei_query *q, struct imei_answer *a)
{
	if (!a)
		return IMEI_EINVAL;
	int rc = IMEI_EOK;
	if (!e || !q || (q->size >= QUERY_V1_SIZE && q->size <= sizeof *q && !q->pei))
		rc = IMEI_EINVAL;
	else if (q->size < QUERY_V1_SIZE || q->size > sizeof *q)
		rc = IMEI_ESIZE;
	if (rc != IMEI_EOK) { /* refused before the engine: UNKNOWN (never a fail-open WHITELISTED) */
		a->v.status = IMEI_STATUS_UNKNOWN;
		a->v.failed = true;
		a->v.notify = false;
		a->v.block_date = a->v.policy = NULL;
		a->v.nreasons = a->v.nfailed = 0;
		snprintf(a->msg, sizeof a->msg, "imei_engine_query: %s", imei_strerror(rc));
		a->v.error = a->msg;
		return rc;
	}
	struct imei_request req = {
		.pei = q->pei, .imsi = q->imsi, .msisdn = q->msisdn, .operator_id = q->operator_id,
		.rat = q->rat, .time = q->time,
	};
	return imei_engine_check(e, &req, &a->v) == 0 ? IMEI_EOK : IMEI_EPOLICY;
}

enum imei_status imei_answer_status(const struct imei_answer *a)
{
	return a->v.status;
}

bool imei_answer_failed(const struct imei_answer *a)
{
	return a->v.failed;
}

bool imei_answer_notify(const struct imei_answer *a)
{
	return a->v.notify;
}

const char *imei_answer_policy(const struct imei_answer *a)
{
	return a->v.policy;
}

const char *imei_answer_error(const struct imei_answer *a)
{
	return a->v.error;
}

const char *imei_answer_block_date(const struct imei_answer *a)
{
	return a->v.block_date;
}

size_t imei_answer_reasons(const struct imei_answer *a)
{
	return a->v.nreasons;
}

int imei_answer_reason(const struct imei_answer *a, size_t i, const char **condition, const char **text,
                       enum imei_status *status)
{
	if (!a || i >= a->v.nreasons)
		return IMEI_EINVAL;
	if (condition)
		*condition = a->v.reasons[i].condition;
	if (text)
		*text = a->v.reasons[i].text;
	if (status)
		*status = a->v.reasons[i].status;
	return IMEI_EOK;
}
