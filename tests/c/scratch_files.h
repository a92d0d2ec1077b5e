/*
 * scratch_files.h — the replay tests' files, in a temporary folder of their own: `dir`
 * (the test fills it with mkdtemp), put() writes a file there, path_of() names one (four
 * names can be in use at once, as one call's arguments).
 */
#ifndef SCRATCH_FILES_H
#define SCRATCH_FILES_H

#include <stdio.h>
#include <stdlib.h>

static char dir[64];

static inline const char *path_of(const char *name)
{
	static char path[4][128];
	static int k;
	k = (k + 1) % 4;
	snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
	return path[k];
}

static inline void put(const char *name, const char *text)
{
	const char *path = path_of(name);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

#endif
