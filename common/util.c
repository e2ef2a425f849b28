#include "util.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

static void oom(size_t n) {
    fprintf(stderr, "cbuild: out of memory (%zu bytes)\n", n);
    abort();
}

void *cb_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *cb_xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *cb_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *cb_xstrdup(const char *s) {
    return cb_xstrndup(s, strlen(s));
}

char *cb_xstrndup(const char *s, size_t n) {
    char *p = cb_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *cb_xvasprintf(const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        oom(0);
    char *p = cb_xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *cb_xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = cb_xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

void cb_buf_reserve(cb_buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return;
    if (extra > SIZE_MAX / 2 - b->len)
        oom(SIZE_MAX);
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = cb_xrealloc(b->data, cap);
    b->cap = cap;
}

void cb_buf_add(cb_buf_t *b, const void *data, size_t n) {
    cb_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cb_buf_puts(cb_buf_t *b, const char *s) {
    cb_buf_add(b, s, strlen(s));
}

void cb_buf_putc(cb_buf_t *b, char c) {
    cb_buf_add(b, &c, 1);
}

void cb_buf_printf(cb_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = cb_xvasprintf(fmt, ap);
    va_end(ap);
    cb_buf_puts(b, s);
    free(s);
}

void cb_buf_truncate(cb_buf_t *b, size_t len) {
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

const char *cb_buf_str(const cb_buf_t *b) {
    return b->data ? b->data : "";
}

char *cb_buf_steal(cb_buf_t *b) {
    char *p = b->data ? b->data : cb_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void cb_buf_free(cb_buf_t *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void cb_strv_take(cb_strv_t *v, char *s) {
    if (v->len + 2 > v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->items = cb_xrealloc(v->items, v->cap * sizeof *v->items);
    }
    v->items[v->len++] = s;
    v->items[v->len] = NULL;
}

void cb_strv_push(cb_strv_t *v, const char *s) {
    cb_strv_take(v, cb_xstrdup(s));
}

void cb_strv_free(cb_strv_t *v) {
    for (size_t i = 0; i < v->len; i++)
        free(v->items[i]);
    free(v->items);
    v->items = NULL;
    v->len = v->cap = 0;
}

bool cb_strv_contains(const cb_strv_t *v, const char *s) {
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->items[i], s) == 0)
            return true;
    return false;
}

bool cb_str_has_prefix(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool cb_str_has_suffix(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool cb_str_ieq(const char *a, const char *b) {
    return strcasecmp(a, b) == 0;
}

static char fold(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

size_t cb_edit_distance(const char *a, size_t alen, const char *b) {
    size_t blen = strlen(b);
    size_t *row = cb_xcalloc(blen + 1, sizeof *row);
    for (size_t j = 0; j <= blen; j++)
        row[j] = j;
    for (size_t i = 1; i <= alen; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= blen; j++) {
            size_t up = row[j];
            size_t best = diag + (fold(a[i - 1]) != fold(b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[blen];
    free(row);
    return d;
}
