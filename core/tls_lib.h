/*
 * tls_lib.h — OpenSSL's libssl as a table of the functions the Redis store's TLS uses
 * (sightings_redis_conn.c), loaded with dlopen when a TLS store is opened instead of
 * linked: the library's relocations alone keep ~1.7 MiB resident in every process that
 * links it, at every peak of `imei classify` and in every server, though only a Redis
 * store over TLS (rediss://) ever calls it. One table per connection object: no global
 * state; RTLD_NODELETE, as OpenSSL stays initialised once loaded.
 */
#ifndef IMEI_TLS_LIB_H
#define IMEI_TLS_LIB_H

#include <stddef.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* X(return type, name, parameters): every function called through the table */
#define IMEI_TLS_FUNCTIONS(X)                                                                        \
	X(const SSL_METHOD *, TLS_client_method, (void))                                             \
	X(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *))                                              \
	X(void, SSL_CTX_free, (SSL_CTX *))                                                           \
	X(int, SSL_CTX_load_verify_locations, (SSL_CTX *, const char *, const char *))               \
	X(int, SSL_CTX_set_default_verify_paths, (SSL_CTX *))                                        \
	X(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *, const char *))                        \
	X(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *, const char *, int))                          \
	X(void, SSL_CTX_set_verify, (SSL_CTX *, int, SSL_verify_cb))                                 \
	X(long, SSL_CTX_ctrl, (SSL_CTX *, int, long, void *))                                        \
	X(SSL *, SSL_new, (SSL_CTX *))                                                               \
	X(void, SSL_free, (SSL *))                                                                   \
	X(int, SSL_set_fd, (SSL *, int))                                                             \
	X(long, SSL_ctrl, (SSL *, int, long, void *))                                                \
	X(int, SSL_set1_host, (SSL *, const char *))                                                 \
	X(int, SSL_connect, (SSL *))                                                                 \
	X(int, SSL_get_error, (const SSL *, int))                                                    \
	X(long, SSL_get_verify_result, (const SSL *))                                                \
	X(int, SSL_write, (SSL *, const void *, int))                                                \
	X(int, SSL_read, (SSL *, void *, int))                                                       \
	X(int, SSL_pending, (const SSL *))                                                           \
	X(void, ERR_clear_error, (void))                                                             \
	X(unsigned long, ERR_get_error, (void))                                                      \
	X(unsigned long, ERR_peek_last_error, (void))                                                \
	X(const char *, ERR_reason_error_string, (unsigned long))                                    \
	X(const char *, X509_verify_cert_error_string, (long))

struct imei_tls_lib {
	void *handle; /* NULL: not loaded */
#define IMEI_TLS_FIELD(ret, name, params) ret(*name) params;
	IMEI_TLS_FUNCTIONS(IMEI_TLS_FIELD)
#undef IMEI_TLS_FIELD
};

/* Load libssl (the major version the headers are of) and every function of the table.
 * 0, or -1 with why in err (the library or the function missing). */
int imei_tls_lib_open(struct imei_tls_lib *t, char *err, size_t errlen);
/* Unload (a table never opened, or already closed, is left as it is). */
void imei_tls_lib_close(struct imei_tls_lib *t);

#endif
