/* The one error idiom of cbuild (docs/error-handling.md).
 *
 * A fallible function is `int f(..., cb_error_t **err)`. On success it returns
 * >= 0 and leaves *err alone. On failure it returns a negative value and sets
 * *err to a newly allocated error that the caller owns (cb_error_free, or the
 * cb_autoerr cleanup attribute). cb_error_set() returns -1, so a failure is a
 * one-line `return cb_error_set(err, errno, "open %s", path);`.
 *
 * cb_error_wrap() adds context on the way up: the old error becomes the cause
 * of a new one and the rendered message reads "context: cause".
 *
 * Errors about the Containerfile carry a location (file, line, column); the
 * CLI prints them as FILE:LINE:COL: message and exits 2.
 */
#ifndef CB_ERROR_H
#define CB_ERROR_H

#include <stdarg.h>
#include <stdio.h>

typedef enum cb_error_kind {
    CB_ERR_SYSTEM = 1, /* an OS call failed; status holds errno */
    CB_ERR_SYNTAX,     /* the Containerfile (or another input language) is malformed */
    CB_ERR_INPUT,      /* bad user input: missing file, bad flag value, unknown stage */
    CB_ERR_LIBRARY,    /* a library (libarchive, curl, jansson, openssl...) failed */
    CB_ERR_INTEGRITY,  /* a digest, size or signature did not match */
    CB_ERR_INTERNAL,   /* a bug in cbuild */
    CB_ERR_STEP,       /* a RUN step's command failed; status holds its exit code */
    CB_ERR_INTERRUPTED, /* a signal stopped the build; status holds it: exit 128 + status */
} cb_error_kind_t;

typedef struct cb_error {
    cb_error_kind_t kind;
    int status; /* errno for CB_ERR_SYSTEM, else 0 or a library code */
    char *msg;  /* this level's message, without the cause's */
    char *file; /* source location, NULL when none */
    int line;   /* 1-based, 0 when unknown */
    int col;    /* 1-based, 0 when unknown */
    struct cb_error *cause;
} cb_error_t;

int cb_error_set(cb_error_t **err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cb_error_kind_set(cb_error_t **err, cb_error_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cb_error_vnew(cb_error_t **err, cb_error_kind_t kind, int status, const char *fmt,
                  va_list ap) __attribute__((format(printf, 4, 0)));
/* A syntax error at file:line:col. */
int cb_error_at(cb_error_t **err, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Prefixes context; *err must hold an error. Keeps the cause's kind and location. */
int cb_error_wrap(cb_error_t **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Attaches a location to an error that has none (kind unchanged). */
int cb_error_locate(cb_error_t **err, const char *file, int line, int col);

/* The innermost error's kind and status decide exit codes. */
const cb_error_t *cb_error_root(const cb_error_t *err);
/* The whole chain as one line: "ctx: ctx: cause"; caller frees. */
char *cb_error_message(const cb_error_t *err);
/* FILE:LINE:COL: message when located, else "cbuild: message". */
void cb_error_print(const cb_error_t *err, FILE *out);
/* Exit code for the CLI: 2 for syntax and input errors, 1 otherwise. */
int cb_error_exit_code(const cb_error_t *err);
void cb_error_free(cb_error_t *err);

static inline void cb_error_freep(cb_error_t **p) {
    cb_error_free(*p);
    *p = NULL;
}
#define cb_autoerr __attribute__((cleanup(cb_error_freep)))

#endif
