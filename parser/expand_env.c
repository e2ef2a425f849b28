/* cb_env_t: the ordered NAME=VALUE list that expansion reads. */
#include <string.h>

#include "parser/expand.h"

static ssize_t find(const cb_env_t *env, const char *name) {
    size_t n = strlen(name);
    for (size_t i = env->vars.len; i-- > 0;) {
        const char *v = env->vars.items[i];
        if (strncmp(v, name, n) == 0 && v[n] == '=')
            return (ssize_t)i;
    }
    return -1;
}

void cb_env_set(cb_env_t *env, const char *name, const char *value) {
    ssize_t i = find(env, name);
    /* Not cb_xasprintf: glibc's printf copies a %s byte by byte, and every
     * instruction's evaluation sets each ENV again (test_eval with 160 lines
     * under a 1 MiB ENV: 3.2 s, 0.26 s with memcpy). */
    size_t n = strlen(name), v = strlen(value);
    char *entry = cb_xmalloc(n + v + 2);
    memcpy(entry, name, n);
    entry[n] = '=';
    memcpy(entry + n + 1, value, v + 1);
    if (i >= 0) {
        free(env->vars.items[i]);
        env->vars.items[i] = entry;
    } else {
        cb_strv_take(&env->vars, entry);
    }
}

const char *cb_env_get(const cb_env_t *env, const char *name) {
    ssize_t i = find(env, name);
    return i < 0 ? NULL : env->vars.items[i] + strlen(name) + 1;
}

void cb_env_unset(cb_env_t *env, const char *name) {
    ssize_t i = find(env, name);
    if (i < 0)
        return;
    free(env->vars.items[i]);
    memmove(&env->vars.items[i], &env->vars.items[i + 1],
            (env->vars.len - (size_t)i) * sizeof *env->vars.items); /* moves the NULL too */
    env->vars.len--;
}

void cb_env_copy(cb_env_t *dst, const cb_env_t *src) {
    for (size_t i = 0; i < src->vars.len; i++)
        cb_strv_push(&dst->vars, src->vars.items[i]);
}

void cb_env_free(cb_env_t *env) {
    cb_strv_free(&env->vars);
}
