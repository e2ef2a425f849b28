/* libFuzzer target: what a registry's authentication answers carry.
 *
 * Input: a WWW-Authenticate value, then (after the first NUL, if any) the
 * JSON body of a token server's answer. The value goes to
 * cb_auth_challenge_parse, the body to cb_auth_token_decode. Findings besides
 * crashes and leaks: a broken error contract (a failure sets one error with a
 * message and leaves *out empty; a success sets none), a Bearer challenge
 * without a realm, a scheme that is neither Bearer nor Basic, a token line
 * that is not one header line, a token life outside [60 s, 1 day].
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "push/auth.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void challenge(const char *header) {
    cb_auth_challenge_t c = {0};
    cb_error_t *err = NULL;
    int rc = cb_auth_challenge_parse(header, &c, &err);
    if (rc < 0 && (c.scheme != CB_AUTH_NONE || c.realm || c.service || c.scope || c.error))
        abort();
    fuzz_check_error(rc, err);
    if (rc < 0)
        return;
    if (c.scheme != CB_AUTH_BEARER && c.scheme != CB_AUTH_BASIC)
        abort();
    if (c.scheme == CB_AUTH_BEARER && !c.realm)
        abort();
    cb_auth_challenge_clear(&c);
}

static void token(const char *body, size_t len) {
    long life = -1;
    char *line = cb_auth_token_decode(body, len, &life);
    if (!line)
        return;
    if (!cb_str_has_prefix(line, "Authorization: Bearer ") || strpbrk(line, "\r\n"))
        abort();
    if (life < 60 || life > 24 * 3600)
        abort();
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cb_autofree char *text = cb_xstrndup((const char *)data, size);
    size_t hlen = strlen(text);
    challenge(text);
    if (hlen < size)
        token((const char *)data + hlen + 1, size - hlen - 1);
    return 0;
}
