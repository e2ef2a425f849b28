/* The registry flags that pull, login, logout and build share:
 *
 *   --tls-verify[=BOOL]  --cert-dir DIR  --creds USER[:PASS]  --authfile FILE
 *   --default-registry HOST[:PORT]
 *
 * A command puts CB_REGISTRY_CLI_LONGOPTS in its getopt table and hands
 * every option getopt returns to cb_registry_cli_option first. */
#ifndef CB_BUILDER_REGISTRY_CLI_H
#define CB_BUILDER_REGISTRY_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"
#include "push/auth.h"
#include "push/client.h"
#include "push/http.h"
#include "push/pull.h"

enum {
    CB_OPT_TLS_VERIFY = 3000,
    CB_OPT_CERT_DIR,
    CB_OPT_CREDS,
    CB_OPT_AUTHFILE,
    CB_OPT_DEFAULT_REGISTRY,
};

#define CB_REGISTRY_CLI_LONGOPTS                                              \
    {"tls-verify", optional_argument, NULL, CB_OPT_TLS_VERIFY},               \
        {"cert-dir", required_argument, NULL, CB_OPT_CERT_DIR},               \
        {"creds", required_argument, NULL, CB_OPT_CREDS},                     \
        {"authfile", required_argument, NULL, CB_OPT_AUTHFILE},               \
        {"default-registry", required_argument, NULL, CB_OPT_DEFAULT_REGISTRY}

#define CB_REGISTRY_CLI_USAGE                                                                   \
    "      --tls-verify=false    do not check registry certificates (and allow plain http)\n"  \
    "      --cert-dir DIR        CA certificates (*.crt) and client keys for the registry\n"   \
    "      --creds USER[:PASS]   registry credentials (else the auth file's)\n"                \
    "      --authfile FILE       the auth file to read (and login/logout to write)\n"          \
    "      --default-registry R  registry for short names (else registries.conf, docker.io)\n"

typedef struct cb_registry_cli {
    bool tls_verify;
    char *cert_dir;
    char *authfile;
    char *default_registry;
    cb_creds_t creds; /* username NULL without --creds */
} cb_registry_cli_t;

#define CB_REGISTRY_CLI_INIT {.tls_verify = true}

/* 1 when opt was one of the registry flags (taken), 0 when not, < 0 on a
 * bad value. */
int cb_registry_cli_option(cb_registry_cli_t *o, int opt, const char *arg, cb_error_t **err);
void cb_registry_cli_clear(cb_registry_cli_t *o);
/* --default-registry, else cbuild.conf's default-registry, else NULL. */
const char *cb_registry_cli_default_registry(const cb_registry_cli_t *o);

/* "USER:PASS", or "USER" alone (the password is then asked for on the
 * terminal, without echo). */
int cb_registry_parse_creds(const char *s, cb_creds_t *out, cb_error_t **err);
/* Reads a line from the terminal without echo (or from stdin when it is not
 * one); the newline is dropped. Caller frees (and wipes). */
int cb_registry_read_secret(const char *prompt, char **out, cb_error_t **err);

/* The transport these flags describe. */
int cb_registry_cli_http(const cb_registry_cli_t *o, cb_http_t **out, cb_error_t **err);
/* Client options over a transport (o must outlive them). */
cb_client_opts_t cb_registry_cli_client(const cb_registry_cli_t *o, cb_http_t *http);

#endif
