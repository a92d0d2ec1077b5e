/*
 * sightings_workload.h — the workload both store benches replay (sightings_bench.c over
 * memory, LMDB and SQLite; redis_bench.c over Redis): N sightings of a number of devices
 * over 90 days from 2025-01-01, most with one SIM, every 20th a clone with up to 200, the
 * same for every run (a fixed seed).
 */
#ifndef SIGHTINGS_WORKLOAD_H
#define SIGHTINGS_WORKLOAD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imei_sightings.h"

#define DAY 86400u
#define T0 1735689600u /* 2025-01-01 */

static uint64_t rng(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static struct imei_sighting *workload(size_t n, size_t devices)
{
	struct imei_sighting *w = malloc(n * sizeof *w);
	uint64_t seed = 7;
	if (!w)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		uint64_t r = rng(&seed), d = r % devices;
		uint64_t sub = (r >> 32) % 10 ? 0 : 1 + (r >> 40) % (d % 20 == 0 ? 200 : 3);
		uint64_t imsi_v = 410010000000000ULL + (d * 1000 + sub) % 10000000000ULL;
		struct imei_sighting *s = &w[i];
		memset(s, 0, sizeof *s);
		s->key = 35000000000000ULL + d * 37;
		s->imsi = 1000000000000000ULL + imsi_v;                              /* 15 digits */
		s->msisdn = (r >> 48) % 3 ? 1000000000000ULL + 923000000000ULL + imsi_v % 1000000000ULL : 0; /* 12 */
		s->op = 1u << 21 | 410u << 10 | (uint32_t)(1 + sub % 4);
		s->rat = (uint8_t)(1 + (r >> 56) % 10);
		s->time = T0 + (uint32_t)((uint64_t)i * 90 * DAY / n);
	}
	return w;
}

#endif
