/*
 * engine_paths.c — the convenience half of the C embedding API (imei_engine.h): open
 * the objects that engines share (compiled TAC image, lists folder, sightings store)
 * from their paths into one struct imei_engine_config, from which a host creates one
 * engine per worker thread, and release them again.
 */
#include <stdio.h>
#include <string.h>

#include "imei_engine.h"
#include "imei_lists.h"
#include "imei_sightings.h"
#include "imei_tacdb.h"

int imei_engine_config_open(struct imei_engine_config *cfg, const struct imei_engine_paths *paths, char *err,
                            size_t errlen)
{
	memset(cfg, 0, sizeof *cfg);
	if (!paths || !paths->policy) {
		snprintf(err, errlen, "no policy file given");
		return -1;
	}
	cfg->policy = paths->policy;
	cfg->lua_path = paths->lua_path;
	if (paths->tacdb) {
		struct imei_tacdb_error terr;
		cfg->tacdb = imei_tacdb_open_copy(paths->tacdb, &terr); /* a copy: cp over the file cannot touch it */
		if (!cfg->tacdb) {
			snprintf(err, errlen, "tacdb: %s", terr.msg);
			goto fail;
		}
	}
	if (paths->lists) {
		char why[512];
		cfg->lists = imei_lists_load_dir(paths->lists, why, sizeof why);
		if (!cfg->lists) {
			snprintf(err, errlen, "lists: %s", why);
			goto fail;
		}
	}
	if (paths->store) {
		struct imei_store_error serr;
		cfg->store = imei_store_open(paths->store, NULL, &serr);
		if (!cfg->store) {
			snprintf(err, errlen, "store %s: %s", paths->store, serr.msg);
			goto fail;
		}
	}
	return 0;
fail:
	imei_engine_config_release(cfg);
	return -1;
}

void imei_engine_config_release(struct imei_engine_config *cfg)
{
	if (cfg->tacdb)
		imei_tacdb_unref(cfg->tacdb);
	if (cfg->lists)
		imei_lists_unref(cfg->lists);
	if (cfg->store)
		imei_store_release(cfg->store);
	cfg->tacdb = NULL;
	cfg->lists = NULL;
	cfg->store = NULL;
}
