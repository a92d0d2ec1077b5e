/*
 * replay_run.h — the replay tests' common steps: one dump from operator "Alpha" read
 * into a replay to the end, and a replay decided to the end, each checked on the way.
 */
#ifndef REPLAY_RUN_H
#define REPLAY_RUN_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "imei_replay.h"

/* A new replay of st (and db, when given: the TAC counts), no period, the run's date the
 * latest; freeze: the store frozen for the evaluation (a run's own store). */
static inline struct imei_replay *replay_new_of(struct imei_store *st, struct imei_tacdb *db, bool freeze)
{
	struct imei_replay_config cfg = { 0 };
	char err[1024];
	cfg.store = st;
	cfg.tacdb = db;
	cfg.freeze_store = freeze;
	imei_dump_layout_default(&cfg.layout);
	cfg.run_day = IMEI_REPLAY_NO_DAY;
	struct imei_replay *r = imei_replay_new(&cfg, err, sizeof err);
	if (!r) {
		fprintf(stderr, "imei_replay_new: %s\n", err);
		exit(1);
	}
	return r;
}

/* The dump at path read into a new replay of st (no period, the run's date the latest). */
static inline struct imei_replay *replay_read(struct imei_store *st, const char *path)
{
	char err[1024];
	struct imei_replay *r = replay_new_of(st, NULL, false);
	CHECK_INT(imei_replay_add_file(r, path, "Alpha", IMEI_REPLAY_NO_DAY, IMEI_REPLAY_NO_DAY, err, sizeof err), 0);
	int rc;
	while ((rc = imei_replay_ingest(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	CHECK_INT(rc, IMEI_REPLAY_DONE);
	return r;
}

/* r decided by ec to the end: DONE, or what eval_start or eval_wait said. */
static inline int replay_decide(struct imei_replay *r, const struct imei_replay_eval_config *ec)
{
	char err[1024];
	int rc = imei_replay_eval_start(r, ec, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "eval_start: %s\n", err);
		return rc;
	}
	while ((rc = imei_replay_eval_wait(r, 50, err, sizeof err)) == IMEI_REPLAY_MORE)
		;
	if (rc != IMEI_REPLAY_DONE)
		fprintf(stderr, "eval_wait: %s\n", err);
	return rc;
}

#endif
