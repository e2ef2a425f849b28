/* Shared registry flags (builder/registry_cli.h). */
#include "builder/registry_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"

#define MAX_SECRET 4096

static void replace(char **slot, const char *v) {
    free(*slot);
    *slot = cb_xstrdup(v);
}

int cb_registry_cli_option(cb_registry_cli_t *o, int opt, const char *arg, cb_error_t **err) {
    switch (opt) {
    case CB_OPT_TLS_VERIFY:
        if (!arg || strcmp(arg, "true") == 0)
            o->tls_verify = true;
        else if (strcmp(arg, "false") == 0)
            o->tls_verify = false;
        else
            return cb_error_kind_set(err, CB_ERR_INPUT, "--tls-verify=%s: expected true or false",
                                     arg);
        return 1;
    case CB_OPT_CERT_DIR:
        replace(&o->cert_dir, arg);
        return 1;
    case CB_OPT_AUTHFILE:
        replace(&o->authfile, arg);
        return 1;
    case CB_OPT_DEFAULT_REGISTRY:
        replace(&o->default_registry, arg);
        return 1;
    case CB_OPT_CREDS:
        cb_creds_clear(&o->creds);
        return cb_registry_parse_creds(arg, &o->creds, err) < 0 ? -1 : 1;
    default:
        return 0;
    }
}

const char *cb_registry_cli_default_registry(const cb_registry_cli_t *o) {
    if (o->default_registry && *o->default_registry)
        return o->default_registry;
    return cb_config_default_registry(); /* cbuild.conf's default-registry, or NULL */
}

void cb_registry_cli_clear(cb_registry_cli_t *o) {
    free(o->cert_dir);
    free(o->authfile);
    free(o->default_registry);
    cb_creds_clear(&o->creds);
}

int cb_registry_read_secret(const char *prompt, char **out, cb_error_t **err) {
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fputs(prompt, stderr);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) < 0)
            return cb_error_set(err, errno, "read the password: tcgetattr");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
            return cb_error_set(err, errno, "read the password: tcsetattr");
    }
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, stdin);
    int saved = errno;
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (n < 0) {
        free(line);
        return saved ? cb_error_set(err, saved, "read the password")
                     : cb_error_kind_set(err, CB_ERR_INPUT, "no password on standard input");
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n > MAX_SECRET) {
        explicit_bzero(line, (size_t)n);
        free(line);
        return cb_error_kind_set(err, CB_ERR_INPUT, "the password is longer than %d bytes",
                                 MAX_SECRET);
    }
    *out = line;
    return 0;
}

int cb_registry_parse_creds(const char *s, cb_creds_t *out, cb_error_t **err) {
    const char *colon = strchr(s, ':');
    if (colon == s || !*s)
        return cb_error_kind_set(err, CB_ERR_INPUT, "--creds: expected USER[:PASSWORD]");
    if (colon) {
        out->username = cb_xstrndup(s, (size_t)(colon - s));
        out->password = cb_xstrdup(colon + 1);
        return 0;
    }
    char *pw = NULL;
    if (cb_registry_read_secret("Password: ", &pw, err) < 0)
        return -1;
    out->username = cb_xstrdup(s);
    out->password = pw;
    return 0;
}

/* *out = $name when it is set: a whole number from min to max (unit names
 * them in the error); unchanged when it is unset or empty. */
static int env_long(const char *name, long min, long max, const char *unit, long *out,
                    cb_error_t **err) {
    const char *env = getenv(name);
    if (env == NULL || *env == '\0')
        return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(env, &end, 10);
    if (errno || *end || v < min || v > max)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s=%s: expected %s, %ld to %ld", name, env,
                                 unit, min, max);
    *out = v;
    return 0;
}

/* $CBUILD_REGISTRY_TIMEOUT: seconds without a byte moving (and to connect)
 * before a request is given up and retried; 60 (30 to connect) unless set.
 * $CBUILD_REGISTRY_RETRY_DELAY: milliseconds before the first retry of a
 * failed request (doubling after each); 250 unless set. The tests that
 * fault every request set both low, so that giving up takes seconds. */
static int http_env(cb_http_opts_t *ho, cb_error_t **err) {
    long stall = 0;
    if (env_long("CBUILD_REGISTRY_TIMEOUT", 1, 86400, "seconds", &stall, err) < 0 ||
        env_long("CBUILD_REGISTRY_RETRY_DELAY", 1, 60000, "milliseconds", &ho->retry_delay_ms,
                 err) < 0)
        return -1;
    if (stall > 0) {
        ho->stall_timeout_s = stall;
        ho->connect_timeout_s = stall;
    }
    return 0;
}

int cb_registry_cli_http(const cb_registry_cli_t *o, cb_http_t **out, cb_error_t **err) {
    cb_http_opts_t ho = CB_HTTP_OPTS_INIT;
    ho.tls_verify = o->tls_verify;
    ho.cert_dir = o->cert_dir;
    if (http_env(&ho, err) < 0)
        return -1;
    return cb_http_new(&ho, out, err);
}

cb_client_opts_t cb_registry_cli_client(const cb_registry_cli_t *o, cb_http_t *http) {
    return (cb_client_opts_t){
        .http = http,
        .tls_verify = o->tls_verify,
        .creds = o->creds.username ? &o->creds : NULL,
        .authfile = o->authfile,
    };
}
