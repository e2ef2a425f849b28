/* Shell-word expansion exactly as BuildKit's shell lexer does it:
 * quotes, escapes, $VAR, ${VAR}, ${VAR:-w} ${VAR-w} ${VAR:+w} ${VAR+w}
 * ${VAR:?msg} ${VAR?msg} ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p}
 * ${VAR/p/r} ${VAR//p/r}. No command substitution, no arithmetic.
 */
#ifndef CB_PARSER_EXPAND_H
#define CB_PARSER_EXPAND_H

#include <stdbool.h>

#include "common/error.h"
#include "common/util.h"

/* An ordered list of NAME=VALUE pairs; later entries shadow earlier ones
 * with the same name. Lookups are exact (case-sensitive). */
typedef struct cb_env {
    cb_strv_t vars; /* "NAME=VALUE" */
} cb_env_t;
#define CB_ENV_INIT {CB_STRV_INIT}

void cb_env_set(cb_env_t *env, const char *name, const char *value);
/* NULL when unset; "" when set and empty. */
const char *cb_env_get(const cb_env_t *env, const char *name);
void cb_env_unset(cb_env_t *env, const char *name);
void cb_env_copy(cb_env_t *dst, const cb_env_t *src);
void cb_env_free(cb_env_t *env);

typedef struct cb_expand_opts {
    char escape;    /* '\\' (default when 0) or '`' */
    /* Called for every variable looked up (set or not), so callers can
     * record which build args an instruction uses (cache keys). */
    void (*on_lookup)(void *ctx, const char *name, bool found);
    void *ctx;
    /* An allowance shared by many calls, spent as they go; each call still
     * gets at most CB_EXPAND_MAX_WORK. NULL: CB_EXPAND_MAX_WORK per call. */
    size_t *work;
} cb_expand_opts_t;

/* Bounds of one expansion. BuildKit's lexer has none (Go's heap is the
 * limit), so nested ${V//p/${V//p/...}} or ENV A=$A$A lines grow a value
 * geometrically. A value that expansion builds (a ${...} result, an
 * operand, the whole result) may not exceed CB_EXPAND_MAX_VALUE bytes, or the
 * input word's own length if that is larger; and one word's expansion may
 * copy and pattern-match at most CB_EXPAND_MAX_WORK bytes (cells) in all.
 * Both fail with CB_ERR_INPUT, "expansion of ... exceeds N bytes". */
#define CB_EXPAND_MAX_VALUE ((size_t)1 << 20)
#define CB_EXPAND_MAX_WORK ((size_t)8 << 20)
/* The allowance of a whole Containerfile's evaluation (cb_expand_opts_t.work):
 * without it, every line could spend CB_EXPAND_MAX_WORK on one large ENV. */
#define CB_EXPAND_MAX_TOTAL_WORK ((size_t)128 << 20)

/* ProcessWord: one word in, one string out, no word splitting.
 * opts may be NULL. *out is newly allocated on success. */
int cb_expand_word(const char *word, const cb_env_t *env, const cb_expand_opts_t *opts,
                   char **out, cb_error_t **err);

/* ProcessWords: with word splitting of unquoted expansions on whitespace. */
int cb_expand_words(const char *text, const cb_env_t *env, const cb_expand_opts_t *opts,
                    cb_strv_t *out, cb_error_t **err);

#endif
