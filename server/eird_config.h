/*
 * eird_config.h — imei-eird's configuration file (config.c): a Lua table of option names
 * to values, read in a sandbox; the command line overrides it.
 */
#ifndef EIRD_CONFIG_H
#define EIRD_CONFIG_H

#include <stddef.h>

struct eird_conffile {
	size_t n;
	char **names;  /* option names with '-' ("access-log"), sorted */
	char **values; /* as text: "8080", "true", "/var/lib/imei" */
};

/* Read path into *cf. 0, or -1 with "PATH:LINE: why" in err (a syntax error, a loop over
 * budget, a value of another type, memory over the cap). */
int eird_conffile_read(const char *path, struct eird_conffile *cf, char *err, size_t errlen);
void eird_conffile_free(struct eird_conffile *cf);

#endif
