/* Registry authentication: challenges, tokens and Basic credentials.
 *
 * A registry answers 401 with WWW-Authenticate. For "Bearer realm=R,
 * service=S, scope=X" the client gets a token from R (GET R?service=S&scope=X,
 * with Basic credentials when it has them, anonymously otherwise; the JSON
 * answer carries "token" or "access_token", "expires_in" (60 s when absent)
 * and maybe "issued_at") and sends "Authorization: Bearer <token>". A token
 * is reused for its scope until 10 s before it expires. For "Basic" the
 * client sends the credentials on every request.
 *
 * A cb_auth_t belongs to one registry and may be used from several threads.
 */
#ifndef CB_PUSH_AUTH_H
#define CB_PUSH_AUTH_H

#include <stddef.h>

#include "common/error.h"
#include "push/http.h"

typedef enum { CB_AUTH_NONE, CB_AUTH_BASIC, CB_AUTH_BEARER } cb_auth_scheme_t;

typedef struct cb_auth_challenge {
    cb_auth_scheme_t scheme;
    char *realm;   /* NULL when absent */
    char *service;
    char *scope;
    char *error;   /* "insufficient_scope", "invalid_token", ... */
} cb_auth_challenge_t;

/* Parses one WWW-Authenticate value (which may list several challenges:
 * Bearer is taken over Basic, other schemes are skipped). Quoted strings may
 * hold commas and backslash escapes. No usable challenge is an error. */
int cb_auth_challenge_parse(const char *header, cb_auth_challenge_t *out, cb_error_t **err);
void cb_auth_challenge_clear(cb_auth_challenge_t *c);

typedef struct cb_creds {
    char *username;
    char *password;
} cb_creds_t;
void cb_creds_clear(cb_creds_t *c); /* wipes the password */

typedef struct cb_auth cb_auth_t;

/* registry names the registry in errors; creds may be NULL (anonymous). */
cb_auth_t *cb_auth_new(cb_http_t *http, const char *registry, const cb_creds_t *creds);
void cb_auth_free(cb_auth_t *a);

/* Learns the registry's challenge from a 401 response's WWW-Authenticate.
 * Fails when there is none or it cannot be used (Basic without creds). */
int cb_auth_learn(cb_auth_t *a, const cb_http_response_t *resp, cb_error_t **err);
/* True once a challenge is known (requests then carry the header up front). */
bool cb_auth_ready(const cb_auth_t *a);
/* The "Authorization: ..." header line for a request needing scope
 * ("repository:NAME:pull" or "repository:NAME:pull,push"; several scopes
 * separated by spaces), fetching a token when needed; *line is NULL when the
 * registry asked for no authentication. Caller frees. */
int cb_auth_header(cb_auth_t *a, const char *scope, char **line, cb_error_t **err);
/* Forgets the cached token of a scope (the registry refused it). */
void cb_auth_forget(cb_auth_t *a, const char *scope);

/* A token server's JSON answer: the "Authorization: Bearer <token>" line
 * ("token", else "access_token"), and in *life_s how long it lasts
 * ("expires_in", at least 60 s, at most a day); NULL when it has no token.
 * Caller frees. */
char *cb_auth_token_decode(const char *body, size_t len, long *life_s);

/* Standard base64 (with padding); caller frees. decode fails on bad input. */
char *cb_base64_encode(const void *data, size_t len);
int cb_base64_decode(const char *s, char **out, size_t *len);

#endif
