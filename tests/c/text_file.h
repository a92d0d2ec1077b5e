/*
 * text_file.h — the C tests' fixture files: write_text(path, text) writes one whole, or
 * says why and exits 2 (a test that cannot set up has not run).
 */
#ifndef TEXT_FILE_H
#define TEXT_FILE_H

#include <stdio.h>
#include <stdlib.h>

static inline void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

#endif
