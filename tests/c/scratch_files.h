/*
 * scratch_files.h — the replay tests' files, in a temporary folder of their own: `dir`
 * (the test fills it with mkdtemp, or scratch_make), put() writes a file there, path_of()
 * names one (four names can be in use at once, as one call's arguments).
 */
#ifndef SCRATCH_FILES_H
#define SCRATCH_FILES_H

#include <stdio.h>
#include <stdlib.h>

#include "text_file.h"

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
	write_text(path_of(name), text);
}

/* The folder made (/tmp/NAME_XXXXXX), or exit 2; and removed with what is in it. */
static inline void scratch_make(const char *name)
{
	snprintf(dir, sizeof dir, "/tmp/%s_XXXXXX", name);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
}

static inline void scratch_remove(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

#endif
