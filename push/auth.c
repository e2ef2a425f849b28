/* Challenges, tokens and Basic credentials (push/auth.h). */
#include "push/auth.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/oci.h"
#include "common/util.h"
#include "push/errors.h"

#define TOKEN_MIN_LIFE_S 60
#define TOKEN_MARGIN_S 10
#define TOKEN_MAX_LIFE_S (24 * 3600)
#define MAX_TOKEN_RESPONSE (1u << 20)

/* RFC 7230 tchar */
static bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static size_t token_len(const char *p) {
    size_t n = 0;
    while (is_tchar(p[n]))
        n++;
    return n;
}

/* A quoted-string at p (after the opening quote is checked); *end after it. */
static char *quoted(const char *p, const char **end) {
    cb_buf_t b = CB_BUF_INIT;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        cb_buf_putc(&b, *p);
    }
    if (*p != '"') {
        cb_buf_free(&b);
        return NULL;
    }
    *end = p + 1;
    return cb_buf_steal(&b);
}

void cb_auth_challenge_clear(cb_auth_challenge_t *c) {
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    *c = (cb_auth_challenge_t){0};
}

int cb_auth_challenge_parse(const char *header, cb_auth_challenge_t *out, cb_error_t **err) {
    cb_auth_challenge_t best = {0};
    const char *p = header;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = token_len(p);
        if (!n)
            break;
        cb_auth_challenge_t c = {0};
        if (n == 6 && strncasecmp(p, "Bearer", 6) == 0)
            c.scheme = CB_AUTH_BEARER;
        else if (n == 5 && strncasecmp(p, "Basic", 5) == 0)
            c.scheme = CB_AUTH_BASIC;
        p = skip_ws(p + n);
        /* auth-params until something that is not name=value: the next scheme */
        for (;;) {
            const char *start = p;
            size_t kn = token_len(p);
            const char *q = skip_ws(p + kn);
            if (!kn || *q != '=') {
                p = start;
                break;
            }
            q = skip_ws(q + 1);
            char *val;
            if (*q == '"') {
                val = quoted(q, &q);
                if (!val) {
                    cb_auth_challenge_clear(&c);
                    cb_auth_challenge_clear(&best);
                    return cb_error_kind_set(err, CB_ERR_INPUT,
                                             "WWW-Authenticate \"%s\": unterminated quoted "
                                             "string",
                                             header);
                }
            } else {
                size_t vn = token_len(q);
                val = cb_xstrndup(q, vn);
                q += vn;
            }
            char **slot = kn == 5 && strncasecmp(p, "realm", 5) == 0     ? &c.realm
                          : kn == 7 && strncasecmp(p, "service", 7) == 0 ? &c.service
                          : kn == 5 && strncasecmp(p, "scope", 5) == 0   ? &c.scope
                          : kn == 5 && strncasecmp(p, "error", 5) == 0   ? &c.error
                                                                         : NULL;
            if (slot) {
                free(*slot);
                *slot = val;
            } else {
                free(val);
            }
            p = skip_ws(q);
            if (*p != ',')
                break;
            p = skip_ws(p + 1);
        }
        if (c.scheme > best.scheme) {
            cb_auth_challenge_clear(&best);
            best = c;
        } else {
            cb_auth_challenge_clear(&c);
        }
        if (*p && *p != ',' && !is_tchar(*p))
            break;
    }
    if (best.scheme == CB_AUTH_NONE)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "WWW-Authenticate \"%s\": no Bearer or Basic challenge", header);
    if (best.scheme == CB_AUTH_BEARER && !best.realm) {
        cb_auth_challenge_clear(&best);
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "WWW-Authenticate \"%s\": a Bearer challenge without a realm",
                                 header);
    }
    *out = best;
    return 0;
}

void cb_creds_clear(cb_creds_t *c) {
    free(c->username);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    *c = (cb_creds_t){0};
}

char *cb_base64_encode(const void *data, size_t len) {
    char *out = cb_xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return out;
}

int cb_base64_decode(const char *s, char **out, size_t *len) {
    size_t n = strlen(s);
    if (n % 4)
        return -1;
    unsigned char *buf = cb_xmalloc(n / 4 * 3 + 1);
    int r = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
    if (r < 0) {
        free(buf);
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes */
    size_t m = (size_t)r;
    for (size_t i = n; i > 0 && s[i - 1] == '=' && m > 0; i--)
        m--;
    buf[m] = '\0';
    *out = (char *)buf;
    *len = m;
    return 0;
}

char *cb_auth_token_decode(const char *body, size_t len, long *life_s) {
    cb_autojson json_t *j = json_loadb(body ? body : "", len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok || !*tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok || !*tok)
        return NULL;
    /* It becomes a header line: a CR or LF in it would add lines of the server's choosing. */
    for (const char *c = tok; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return NULL;
    json_int_t life = json_integer_value(json_object_get(j, "expires_in"));
    /* The cap keeps mono_now() + life from overflowing time_t; a day is far
     * beyond any token's life. */
    if (life < TOKEN_MIN_LIFE_S)
        life = TOKEN_MIN_LIFE_S;
    if (life > TOKEN_MAX_LIFE_S)
        life = TOKEN_MAX_LIFE_S;
    *life_s = (long)life;
    return cb_xasprintf("Authorization: Bearer %s", tok);
}

typedef struct token {
    char *scope;
    char *line;
    time_t expires; /* CLOCK_MONOTONIC seconds */
} token_t;

struct cb_auth {
    cb_http_t *http;
    char *registry;
    cb_creds_t creds;
    pthread_mutex_t lock;
    cb_auth_challenge_t ch;
    token_t *tokens;
    size_t ntokens;
};

static time_t mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

cb_auth_t *cb_auth_new(cb_http_t *http, const char *registry, const cb_creds_t *creds) {
    cb_auth_t *a = cb_xcalloc(1, sizeof(*a));
    a->http = http;
    a->registry = cb_xstrdup(registry);
    if (creds && creds->username) {
        a->creds.username = cb_xstrdup(creds->username);
        a->creds.password = cb_xstrdup(creds->password ? creds->password : "");
    }
    pthread_mutex_init(&a->lock, NULL);
    return a;
}

static void token_clear(token_t *t) {
    free(t->scope);
    if (t->line) {
        explicit_bzero(t->line, strlen(t->line));
        free(t->line);
    }
}

void cb_auth_free(cb_auth_t *a) {
    if (!a)
        return;
    for (size_t i = 0; i < a->ntokens; i++)
        token_clear(&a->tokens[i]);
    free(a->tokens);
    cb_auth_challenge_clear(&a->ch);
    cb_creds_clear(&a->creds);
    pthread_mutex_destroy(&a->lock);
    free(a->registry);
    free(a);
}

static char *basic_line(const cb_creds_t *c) {
    cb_autofree char *up = cb_xasprintf("%s:%s", c->username, c->password);
    cb_autofree char *b64 = cb_base64_encode(up, strlen(up));
    explicit_bzero(up, strlen(up));
    return cb_xasprintf("Authorization: Basic %s", b64);
}

int cb_auth_learn(cb_auth_t *a, const cb_http_response_t *resp, cb_error_t **err) {
    const char *h = cb_http_header(resp, "WWW-Authenticate", 0);
    if (!h)
        return cb_registry_fail(err, resp, "%s: unauthorized, and no WWW-Authenticate challenge",
                                a->registry);
    cb_auth_challenge_t c = {0};
    if (cb_auth_challenge_parse(h, &c, err) < 0)
        return cb_error_wrap(err, "%s", a->registry);
    if (c.scheme == CB_AUTH_BASIC && !a->creds.username) {
        cb_auth_challenge_clear(&c);
        return cb_registry_fail(err, resp,
                                "%s asks for a user name and password (cbuild login %s, or "
                                "--creds USER:PASS)",
                                a->registry, a->registry);
    }
    pthread_mutex_lock(&a->lock);
    cb_auth_challenge_clear(&a->ch);
    a->ch = c;
    pthread_mutex_unlock(&a->lock);
    return 0;
}

bool cb_auth_ready(const cb_auth_t *a) {
    return a->ch.scheme != CB_AUTH_NONE;
}

void cb_auth_forget(cb_auth_t *a, const char *scope) {
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->ntokens; i++) {
        if (strcmp(a->tokens[i].scope, scope) == 0) {
            token_clear(&a->tokens[i]);
            a->tokens[i] = a->tokens[--a->ntokens];
            break;
        }
    }
    pthread_mutex_unlock(&a->lock);
}

/* GET realm?service=...&scope=... ; the lock is held (one fetch at a time
 * also keeps parallel layer pulls from asking for the same token N times). */
static int fetch_token(cb_auth_t *a, const char *scope, token_t *out, cb_error_t **err) {
    cb_autobuf cb_buf_t url = CB_BUF_INIT;
    cb_buf_puts(&url, a->ch.realm);
    char sep = strchr(a->ch.realm, '?') ? '&' : '?';
    if (a->ch.service) {
        cb_autofree char *s = cb_http_query_escape(a->ch.service);
        cb_buf_printf(&url, "%cservice=%s", sep, s);
        sep = '&';
    }
    cb_autofree char *scopes = cb_xstrdup(scope);
    char *save = NULL;
    for (char *s = strtok_r(scopes, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
        cb_autofree char *e = cb_http_query_escape(s);
        cb_buf_printf(&url, "%cscope=%s", sep, e);
        sep = '&';
    }
    cb_autofree char *basic = a->creds.username ? basic_line(&a->creds) : NULL;
    const char *hdrs[] = {"Accept: application/json", basic, NULL};
    cb_http_request_t rq = CB_HTTP_REQUEST("GET", cb_buf_str(&url));
    rq.headers = hdrs;
    rq.max_body = MAX_TOKEN_RESPONSE;
    cb_autoresponse cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    int r = cb_http_do(a->http, &rq, &rs, err);
    if (basic)
        explicit_bzero(basic, strlen(basic));
    if (r < 0)
        return cb_error_wrap(err, "%s: token", a->registry);
    if (rs.status == 401 || rs.status == 403) {
        if (a->creds.username)
            return cb_registry_fail(err, &rs,
                                    "%s: authentication failed for user \"%s\" (wrong user name "
                                    "or password?)",
                                    a->registry, a->creds.username);
        return cb_registry_fail(err, &rs, "%s: anonymous access refused (cbuild login %s)",
                                a->registry, a->registry);
    }
    if (rs.status != 200)
        return cb_registry_fail(err, &rs, "%s: token server %s", a->registry, a->ch.realm);
    long life = 0;
    out->line = cb_auth_token_decode(rs.body.data, rs.body.len, &life);
    if (!out->line)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "%s: token server %s: the answer has no token", a->registry,
                                 a->ch.realm);
    out->scope = cb_xstrdup(scope);
    out->expires = mono_now() + (time_t)life - TOKEN_MARGIN_S;
    return 0;
}

int cb_auth_header(cb_auth_t *a, const char *scope, char **line, cb_error_t **err) {
    *line = NULL;
    pthread_mutex_lock(&a->lock);
    int r = 0;
    if (a->ch.scheme == CB_AUTH_BASIC) {
        *line = basic_line(&a->creds);
    } else if (a->ch.scheme == CB_AUTH_BEARER) {
        time_t now = mono_now();
        token_t *hit = NULL;
        for (size_t i = 0; i < a->ntokens && !hit; i++)
            if (strcmp(a->tokens[i].scope, scope) == 0)
                hit = &a->tokens[i];
        if (hit && hit->expires <= now) {
            token_clear(hit);
            *hit = a->tokens[--a->ntokens];
            hit = NULL;
        }
        if (!hit) {
            token_t t = {0};
            r = fetch_token(a, scope, &t, err);
            if (r == 0) {
                a->tokens = cb_xrealloc(a->tokens, (a->ntokens + 1) * sizeof(*a->tokens));
                a->tokens[a->ntokens] = t;
                hit = &a->tokens[a->ntokens++];
            }
        }
        if (hit)
            *line = cb_xstrdup(hit->line);
    }
    pthread_mutex_unlock(&a->lock);
    return r;
}
