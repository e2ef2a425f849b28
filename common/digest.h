/* sha256 digests in OCI form ("sha256:<64 hex>"), streaming over libcrypto. */
#ifndef CB_DIGEST_H
#define CB_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CB_SHA256_HEX_LEN 64
#define CB_DIGEST_STR_LEN (7 + CB_SHA256_HEX_LEN) /* "sha256:" + hex */

typedef struct cb_sha256 cb_sha256_t;

cb_sha256_t *cb_sha256_new(void);
void cb_sha256_update(cb_sha256_t *h, const void *data, size_t n);
/* Writes "sha256:<hex>" into out (CB_DIGEST_STR_LEN + 1 bytes); the hasher
 * may be reused after cb_sha256_reset. */
void cb_sha256_final(cb_sha256_t *h, char out[CB_DIGEST_STR_LEN + 1]);
void cb_sha256_reset(cb_sha256_t *h);
void cb_sha256_free(cb_sha256_t *h);
static inline void cb_sha256_freep(cb_sha256_t **h) {
    cb_sha256_free(*h);
}
#define cb_autosha256 __attribute__((cleanup(cb_sha256_freep)))

/* Loads OpenSSL's configuration file, once per process: hashing does not
 * (it initialises libcrypto without it), TLS must, so whatever opens a TLS
 * connection (libcurl, common/curl_lazy.c) calls this first. */
void cb_crypto_load_config(void);

/* One-shot digest of a buffer. */
void cb_sha256_digest(const void *data, size_t n, char out[CB_DIGEST_STR_LEN + 1]);
/* True when s is "sha256:" followed by exactly 64 lower-case hex digits. */
int cb_digest_valid(const char *s);
/* The 32 bytes of a sha256 as "sha256:<hex>", and back (for a digest that
 * cb_digest_valid accepts): for files that keep digests in binary. */
void cb_digest_from_raw(const uint8_t raw[32], char out[CB_DIGEST_STR_LEN + 1]);
void cb_digest_to_raw(const char *digest, uint8_t raw[32]);

#endif
