#include "digest.h"

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

struct cb_sha256 {
    EVP_MD_CTX *ctx;
};

/* Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up in its
 * providers at every init, which costs more than hashing a small file.
 * Without being told otherwise, the first fetch also parses openssl.cnf
 * (about a quarter of libcrypto's start-up): nothing in it concerns sha256,
 * so it is left for cb_crypto_load_config, which TLS users call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void) {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* What OpenSSL's own first use would have loaded: the default file
 * (OPENSSL_CONF or openssl.cnf), its default section, a missing file or a
 * failing module being no error, as OpenSSL's init treats them. */
static void load_config(void) {
    pthread_once(&sha256_once, fetch_sha256);
    CONF_modules_load_file(NULL, NULL,
                           CONF_MFLAGS_DEFAULT_SECTION | CONF_MFLAGS_IGNORE_MISSING_FILE |
                               CONF_MFLAGS_IGNORE_RETURN_CODES);
    ERR_clear_error();
}

void cb_crypto_load_config(void) {
    pthread_once(&config_once, load_config);
}

static const EVP_MD *sha256(void) {
    pthread_once(&sha256_once, fetch_sha256);
    return sha256_md ? sha256_md : EVP_sha256();
}

cb_sha256_t *cb_sha256_new(void) {
    cb_sha256_t *h = cb_xcalloc(1, sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, sha256(), NULL) != 1) {
        fprintf(stderr, "cbuild: libcrypto cannot initialise sha256\n");
        abort();
    }
    return h;
}

void cb_sha256_update(cb_sha256_t *h, const void *data, size_t n) {
    if (n)
        EVP_DigestUpdate(h->ctx, data, n);
}

void cb_sha256_final(cb_sha256_t *h, char out[CB_DIGEST_STR_LEN + 1]) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(h->ctx, md, &len);
    cb_digest_from_raw(md, out);
}

void cb_digest_from_raw(const uint8_t raw[32], char out[CB_DIGEST_STR_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[raw[i] >> 4];
        out[7 + 2 * i + 1] = hex[raw[i] & 15];
    }
    out[CB_DIGEST_STR_LEN] = '\0';
}

void cb_digest_to_raw(const char *digest, uint8_t raw[32]) {
    const char *hex = digest + 7;
    for (unsigned i = 0; i < 32; i++) {
        unsigned v = 0;
        for (unsigned k = 0; k < 2; k++) {
            char ch = hex[2 * i + k];
            v = v * 16 + (unsigned)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
        }
        raw[i] = (uint8_t)v;
    }
}

void cb_sha256_reset(cb_sha256_t *h) {
    EVP_DigestInit_ex(h->ctx, sha256(), NULL);
}

void cb_sha256_free(cb_sha256_t *h) {
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void cb_sha256_digest(const void *data, size_t n, char out[CB_DIGEST_STR_LEN + 1]) {
    cb_sha256_t *h = cb_sha256_new();
    cb_sha256_update(h, data, n);
    cb_sha256_final(h, out);
    cb_sha256_free(h);
}

int cb_digest_valid(const char *s) {
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != CB_DIGEST_STR_LEN)
        return 0;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}
