/*
 * tacdb_fixture.h — a small frozen TAC database for the tests that need one beside what
 * they test: the TACs given, brand "Example" (and a device type when given), record i + 1
 * for the i-th; a failure to build it ends the test binary (its set-up, not its subject).
 */
#ifndef TACDB_FIXTURE_H
#define TACDB_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imei_tacdb.h"

static inline struct imei_tacdb *tacdb_fixture(const char *const *tacs, size_t n, const char *device_type)
{
	struct imei_tacdb_error terr;
	struct imei_tacdb_builder *b = imei_tacdb_builder_new(IMEI_TACDB_KEEP_LAST);
	struct imei_tac_fields f = { 0 };
	f.str[IMEI_TAC_BRAND] = "Example";
	f.len[IMEI_TAC_BRAND] = 7;
	if (device_type) {
		f.str[IMEI_TAC_DEVICE_TYPE] = device_type;
		f.len[IMEI_TAC_DEVICE_TYPE] = strlen(device_type);
	}
	for (size_t i = 0; i < n; i++)
		if (!b || imei_tacdb_builder_add(b, tacs[i], 8, &f, (uint32_t)i + 1, NULL, &terr) < 0) {
			fprintf(stderr, "tacdb builder failed\n");
			exit(2);
		}
	struct imei_tacdb *db = imei_tacdb_freeze(b, &terr);
	imei_tacdb_builder_free(b);
	if (!db) {
		fprintf(stderr, "tacdb: %s\n", terr.msg);
		exit(2);
	}
	return db;
}

#endif
