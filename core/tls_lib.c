/*
 * tls_lib.c — load OpenSSL's libssl when a TLS Redis store is opened (tls_lib.h says why
 * it is not linked).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <openssl/opensslv.h>

#include "tls_lib.h"

#define STR2(x) #x
#define STR(x) STR2(x)
#define LIBSSL "libssl.so." STR(OPENSSL_VERSION_MAJOR)

_Static_assert(sizeof(void (*)(void)) == sizeof(void *), "a function pointer is read from dlsym's object pointer");

int imei_tls_lib_open(struct imei_tls_lib *t, char *err, size_t errlen)
{
	memset(t, 0, sizeof *t);
	void *h = dlopen(LIBSSL, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (!h) {
		const char *why = dlerror();
		snprintf(err, errlen, "TLS: cannot load %s (%s)", LIBSSL, why ? why : "not found");
		return -1;
	}
	/* dlsym on the handle searches libssl and what it depends on (libcrypto: ERR_, X509_);
	 * a function pointer is read from dlsym's object pointer as POSIX allows */
#define IMEI_TLS_LOAD(ret, name, params)                                                             \
	do {                                                                                         \
		void *sym = dlsym(h, #name);                                                         \
		if (!sym) {                                                                          \
			snprintf(err, errlen, "TLS: %s has no %s", LIBSSL, #name);                   \
			dlclose(h);                                                                  \
			memset(t, 0, sizeof *t);                                                     \
			return -1;                                                                   \
		}                                                                                    \
		memcpy(&t->name, &sym, sizeof sym);                                                  \
	} while (0);
	IMEI_TLS_FUNCTIONS(IMEI_TLS_LOAD)
#undef IMEI_TLS_LOAD
	t->handle = h;
	return 0;
}

void imei_tls_lib_close(struct imei_tls_lib *t)
{
	if (t->handle)
		dlclose(t->handle);
	memset(t, 0, sizeof *t);
}
