/* TLS settings per registry host for push/http.c: verification on or off,
 * the system CA bundle plus the host's certs.d *.crt files, and a client
 * certificate (*.cert with the *.key of the same stem). A host's directory is
 * read once per transport and kept. */
#ifndef CB_PUSH_HTTP_TLS_H
#define CB_PUSH_HTTP_TLS_H

#include <curl/curl.h>
#include <stdbool.h>

#include "common/error.h"

typedef struct cb_http_tls cb_http_tls_t;

/* cert_dir, when not NULL, replaces every host's certs.d directory. */
cb_http_tls_t *cb_http_tls_new(const char *cert_dir);
void cb_http_tls_free(cb_http_tls_t *t);
/* Sets the easy handle's TLS options for url's host (nothing for http://). */
int cb_http_tls_apply(cb_http_tls_t *t, CURL *e, const char *url, bool verify,
                      cb_error_t **err);

#endif
