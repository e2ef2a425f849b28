/* Small shared helpers: allocation, growable buffers, string vectors and
 * cleanup attributes.
 *
 * OOM policy: cbuild is a CLI, so allocation failure aborts (cb_x* functions)
 * instead of being threaded through every error path.
 */
#ifndef CB_UTIL_H
#define CB_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void *cb_xmalloc(size_t n);
void *cb_xcalloc(size_t n, size_t size);
void *cb_xrealloc(void *p, size_t n);
char *cb_xstrdup(const char *s);
char *cb_xstrndup(const char *s, size_t n);
char *cb_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cb_xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* A growable, always NUL-terminated byte buffer. CB_BUF_INIT is an empty
 * buffer with nothing allocated; cb_buf_steal hands the bytes to the caller
 * (never NULL) and leaves the buffer empty. */
typedef struct cb_buf {
    char *data;
    size_t len;
    size_t cap;
} cb_buf_t;
#define CB_BUF_INIT {NULL, 0, 0}

void cb_buf_reserve(cb_buf_t *b, size_t extra);
void cb_buf_add(cb_buf_t *b, const void *data, size_t n);
void cb_buf_puts(cb_buf_t *b, const char *s);
void cb_buf_putc(cb_buf_t *b, char c);
void cb_buf_printf(cb_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cb_buf_truncate(cb_buf_t *b, size_t len);
const char *cb_buf_str(const cb_buf_t *b); /* "" when empty */
char *cb_buf_steal(cb_buf_t *b);
void cb_buf_free(cb_buf_t *b);

/* A growable NULL-terminated vector of owned strings. */
typedef struct cb_strv {
    char **items;
    size_t len;
    size_t cap;
} cb_strv_t;
#define CB_STRV_INIT {NULL, 0, 0}

void cb_strv_push(cb_strv_t *v, const char *s);  /* copies s */
void cb_strv_take(cb_strv_t *v, char *s);        /* takes ownership of s */
void cb_strv_free(cb_strv_t *v);
bool cb_strv_contains(const cb_strv_t *v, const char *s);

/* Cleanup attributes: every resource has one owner and one cleanup path. */
static inline void cb_freep(void *p) {
    free(*(void **)p);
}
static inline void cb_closep(int *fd) {
    if (*fd >= 0)
        close(*fd);
}
static inline void cb_fclosep(FILE **f) {
    if (*f)
        fclose(*f);
}
static inline void cb_closedirp(DIR **d) {
    if (*d)
        closedir(*d);
}
#define cb_autofree __attribute__((cleanup(cb_freep)))
#define cb_autoclose __attribute__((cleanup(cb_closep)))
#define cb_autofclose __attribute__((cleanup(cb_fclosep)))
#define cb_autoclosedir __attribute__((cleanup(cb_closedirp)))
#define cb_autobuf __attribute__((cleanup(cb_buf_free)))
#define cb_autostrv __attribute__((cleanup(cb_strv_free)))

/* Hands a pointer out of a cleanup variable: returns it and NULLs the variable. */
#define cb_steal_pointer(pp) \
    ({                       \
        __typeof__(*(pp)) _p = *(pp); \
        *(pp) = NULL;        \
        _p;                  \
    })
/* The same for a file descriptor. */
static inline int cb_steal_fd(int *fd) {
    int r = *fd;
    *fd = -1;
    return r;
}

#define CB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

bool cb_str_has_prefix(const char *s, const char *prefix);
bool cb_str_has_suffix(const char *s, const char *suffix);
bool cb_str_ieq(const char *a, const char *b);
/* Levenshtein distance between a[0..alen) and b, ASCII case folded, for
 * "did you mean" hints. */
size_t cb_edit_distance(const char *a, size_t alen, const char *b);

#endif
