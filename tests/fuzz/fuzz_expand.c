/* libFuzzer target: shell-word expansion (parser/expand.h).
 *
 * Input: one mode byte, then the text (up to the first NUL, as the API takes
 * a C string). Mode bit 0 picks cb_expand_words (word splitting) over
 * cb_expand_word; bit 1 picks '`' as the escape character. The environment
 * is the one BuildKit's envVarTest vectors use plus values with spaces,
 * glob characters and escapes, so splitting and pattern operators have
 * something to chew on. The lookup callback checks that every name it is
 * given is a C string.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "fuzz_check.h"
#include "parser/expand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_env[][2] = {
    {"PWD", "/home"},
    {"SHELL", "bash"},
    {"KOREAN", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"},
    {"NULL", ""},
    {"SPACES", "  a b\tc  "},
    {"GLOB", "*.c?[ab]\\x"},
    {"PATH", "/usr/local/bin:/usr/bin:/bin"},
    {"X", "x"},
};

static void on_lookup(void *ctx, const char *name, bool found) {
    size_t *count = ctx;
    (*count) += strlen(name) + found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    cb_autofree char *text = cb_xstrndup((const char *)data + 1, size - 1);

    cb_env_t env = CB_ENV_INIT;
    for (size_t i = 0; i < CB_ARRAY_LEN(fuzz_env); i++)
        cb_env_set(&env, fuzz_env[i][0], fuzz_env[i][1]);
    size_t lookups = 0;
    cb_expand_opts_t opts = {.escape = (mode & 2) ? '`' : '\\', .on_lookup = on_lookup, .ctx = &lookups};

    cb_error_t *err = NULL;
    int rc;
    if (mode & 1) {
        cb_strv_t words = CB_STRV_INIT;
        rc = cb_expand_words(text, &env, &opts, &words, &err);
        if (rc >= 0) {
            for (size_t i = 0; i < words.len; i++)
                if (!words.items[i])
                    abort();
            if (words.len && words.items[words.len] != NULL)
                abort(); /* the vector is NULL-terminated */
        }
        cb_strv_free(&words);
    } else {
        char *out = NULL;
        rc = cb_expand_word(text, &env, &opts, &out, &err);
        if (rc >= 0 && !out)
            abort();
        free(out);
    }
    fuzz_check_error(rc, err);
    cb_env_free(&env);
    return 0;
}
