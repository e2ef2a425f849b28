/* cbuild login REGISTRY / cbuild logout REGISTRY: credentials in the auth
 * file (push/authfile.h). login checks them against the registry's /v2/
 * (and its token server) before anything is written. */
#include <getopt.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "builder/registry_cli.h"
#include "common/log.h"
#include "push/authfile.h"
#include "push/client.h"

enum { OPT_USERNAME = 1000, OPT_PASSWORD_STDIN };

static const struct option login_opts[] = {
    {"username", required_argument, NULL, 'u'},
    {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
    {"help", no_argument, NULL, 'h'},
    CB_REGISTRY_CLI_LONGOPTS,
    {NULL, 0, NULL, 0},
};

static const char login_usage[] =
    "Usage: cbuild login [OPTIONS] REGISTRY\n\n"
    "Check credentials against a registry and save them in the auth file.\n\n"
    "  -u, --username USER       the user (asked for when not given)\n"
    "      --password-stdin      read the password from standard input\n" CB_REGISTRY_CLI_USAGE;

static const char logout_usage[] = "Usage: cbuild logout [--authfile FILE] REGISTRY\n\n"
                                   "Remove a registry's credentials from the auth file.\n";

/* "https://host/v2/" or "host/path" as users paste them: the host[:port]. */
static char *registry_host(const char *arg) {
    if (cb_str_has_prefix(arg, "https://"))
        arg += 8;
    else if (cb_str_has_prefix(arg, "http://"))
        arg += 7;
    char *h = cb_xstrndup(arg, strcspn(arg, "/"));
    if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0) {
        free(h);
        h = cb_xstrdup("docker.io");
    }
    return h;
}

/* A session on the registry with these credentials, and one authenticated
 * request: the /v2/ probe, then a token (or Basic) for the catalog scope. */
static int verify(const cb_registry_cli_t *reg, const char *host, const cb_creds_t *creds,
                  cb_error_t **err) {
    cb_autohttp cb_http_t *http = NULL;
    if (cb_registry_cli_http(reg, &http, err) < 0)
        return -1;
    cb_client_opts_t co = cb_registry_cli_client(reg, http);
    co.creds = creds;
    cb_ref_t ref = {.registry = (char *)host, .repository = (char *)"cbuild-login-check"};
    cb_autoclient cb_client_t *c = NULL;
    if (cb_client_open(&co, &ref, "pull", &c, err) < 0)
        return -1;
    cb_http_request_t rq = CB_HTTP_REQUEST("GET", "/v2/");
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    if (cb_client_request(c, &rq, &rs, err) < 0)
        return -1;
    if (rs.status != 200)
        return cb_error_kind_set(err, CB_ERR_INPUT, "%s: login refused (HTTP %ld)", host,
                                 rs.status);
    return 0;
}

int cb_cmd_login(int argc, char **argv) {
    cb_autoerr cb_error_t *err = NULL;
    cb_registry_cli_t reg = CB_REGISTRY_CLI_INIT;
    cb_creds_t creds = {0};
    cb_autofree char *host = NULL;
    bool pw_stdin = false;
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:h", login_opts, NULL)) != -1) {
        int r = cb_registry_cli_option(&reg, c, optarg, &err);
        if (r < 0)
            goto fail;
        if (r > 0)
            continue;
        switch (c) {
        case 'u':
            free(creds.username);
            creds.username = cb_xstrdup(optarg);
            break;
        case OPT_PASSWORD_STDIN:
            pw_stdin = true;
            break;
        case 'h':
            fputs(login_usage, stdout);
            goto out;
        default:
            cb_cli_bad_option("login", login_opts, argv, optind);
            rc = 2;
            goto out;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "cbuild login: expected one REGISTRY\n%s", login_usage);
        rc = 2;
        goto out;
    }
    host = registry_host(argv[optind]);
    if (reg.creds.username) {
        creds.username = cb_xstrdup(reg.creds.username);
        creds.password = cb_xstrdup(reg.creds.password);
    }
    if (!creds.username) {
        if (pw_stdin) {
            fprintf(stderr, "cbuild login: --password-stdin needs --username\n");
            rc = 2;
            goto out;
        }
        fputs("Username: ", stderr);
        fflush(stderr);
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, stdin);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n <= 0) {
            free(line);
            cb_error_kind_set(&err, CB_ERR_INPUT, "login %s: no user name", host);
            goto fail;
        }
        creds.username = line;
    }
    if (!creds.password && cb_registry_read_secret("Password: ", &creds.password, &err) < 0)
        goto fail;
    if (!*creds.password) {
        cb_error_kind_set(&err, CB_ERR_INPUT, "login %s: empty password", host);
        goto fail;
    }
    if (verify(&reg, host, &creds, &err) < 0 ||
        cb_authfile_store(reg.authfile, host, &creds, &err) < 0) {
        cb_error_wrap(&err, "login %s", host);
        goto fail;
    }
    cb_info("login", "Login Succeeded!");
    goto out;
fail:
    rc = cb_cli_fail(err);
out:
    cb_creds_clear(&creds);
    cb_registry_cli_clear(&reg);
    return rc;
}

int cb_cmd_logout(int argc, char **argv) {
    static const struct option opts[] = {
        {"authfile", required_argument, NULL, CB_OPT_AUTHFILE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *authfile = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case CB_OPT_AUTHFILE:
            authfile = optarg;
            break;
        case 'h':
            fputs(logout_usage, stdout);
            return 0;
        default:
            cb_cli_bad_option("logout", opts, argv, optind);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "cbuild logout: expected one REGISTRY\n%s", logout_usage);
        return 2;
    }
    cb_autofree char *host = registry_host(argv[optind]);
    cb_autoerr cb_error_t *err = NULL;
    int r = cb_authfile_remove(authfile, host, &err);
    if (r < 0)
        return cb_cli_fail(err);
    if (r == 1) {
        cb_error_kind_set(&err, CB_ERR_INPUT, "logout %s: not logged in", host);
        return cb_cli_fail(err);
    }
    cb_info("logout", "Removed login credentials for %s", host);
    return 0;
}
