#include "error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int cb_error_vnew(cb_error_t **err, cb_error_kind_t kind, int status, const char *fmt, va_list ap) {
    if (err == NULL)
        return -1;
    cb_error_t *e = cb_xcalloc(1, sizeof *e);
    e->kind = kind;
    e->status = status;
    e->msg = cb_xvasprintf(fmt, ap);
    if (kind == CB_ERR_SYSTEM && status != 0) {
        char *full = cb_xasprintf("%s: %s", e->msg, strerror(status));
        free(e->msg);
        e->msg = full;
    }
    /* An error set over an existing one keeps the old one as its cause, so no
     * message is ever lost or leaked. */
    e->cause = *err;
    *err = e;
    return -1;
}

int cb_error_set(cb_error_t **err, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cb_error_vnew(err, status ? CB_ERR_SYSTEM : CB_ERR_INPUT, status, fmt, ap);
    va_end(ap);
    return -1;
}

int cb_error_kind_set(cb_error_t **err, cb_error_kind_t kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cb_error_vnew(err, kind, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int cb_error_at(cb_error_t **err, const char *file, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cb_error_vnew(err, CB_ERR_SYNTAX, 0, fmt, ap);
    va_end(ap);
    if (err && *err) {
        (*err)->file = file ? cb_xstrdup(file) : NULL;
        (*err)->line = line;
        (*err)->col = col;
    }
    return -1;
}

int cb_error_wrap(cb_error_t **err, const char *fmt, ...) {
    if (err == NULL || *err == NULL)
        return -1;
    cb_error_t *cause = *err;
    cb_error_t *e = cb_xcalloc(1, sizeof *e);
    va_list ap;
    va_start(ap, fmt);
    e->msg = cb_xvasprintf(fmt, ap);
    va_end(ap);
    e->kind = cause->kind;
    e->status = cause->status;
    e->cause = cause;
    *err = e;
    return -1;
}

int cb_error_locate(cb_error_t **err, const char *file, int line, int col) {
    if (err == NULL || *err == NULL)
        return -1;
    for (const cb_error_t *e = *err; e; e = e->cause)
        if (e->file || e->line)
            return -1;
    cb_error_t *e = *err;
    e->file = file ? cb_xstrdup(file) : NULL;
    e->line = line;
    e->col = col;
    return -1;
}

const cb_error_t *cb_error_root(const cb_error_t *err) {
    while (err && err->cause)
        err = err->cause;
    return err;
}

char *cb_error_message(const cb_error_t *err) {
    cb_buf_t b = CB_BUF_INIT;
    for (const cb_error_t *e = err; e; e = e->cause) {
        if (e != err)
            cb_buf_puts(&b, ": ");
        cb_buf_puts(&b, e->msg ? e->msg : "(no message)");
    }
    return cb_buf_steal(&b);
}

static const cb_error_t *located(const cb_error_t *err) {
    for (const cb_error_t *e = err; e; e = e->cause)
        if (e->file || e->line)
            return e;
    return NULL;
}

void cb_error_print(const cb_error_t *err, FILE *out) {
    if (err == NULL)
        return;
    char *msg = cb_error_message(err);
    const cb_error_t *loc = located(err);
    if (loc && loc->file && loc->line && loc->col)
        fprintf(out, "%s:%d:%d: %s\n", loc->file, loc->line, loc->col, msg);
    else if (loc && loc->file && loc->line)
        fprintf(out, "%s:%d: %s\n", loc->file, loc->line, msg);
    else if (loc && loc->file)
        fprintf(out, "%s: %s\n", loc->file, msg);
    else
        fprintf(out, "cbuild: %s\n", msg);
    free(msg);
    /* The one system error whose cure is the user's, not cbuild's. */
    const cb_error_t *root = cb_error_root(err);
    if (root->kind == CB_ERR_SYSTEM && (root->status == ENOSPC || root->status == EDQUOT))
        fprintf(out, "cbuild: the file system named above is full: free space there ('cbuild prune' "
                     "removes what no image or cache record uses) and run again\n");
}

int cb_error_exit_code(const cb_error_t *err) {
    const cb_error_t *root = cb_error_root(err);
    if (root == NULL)
        return 0;
    if (root->kind == CB_ERR_INTERRUPTED) /* as a shell reports a job the signal killed */
        return 128 + (root->status > 0 ? root->status : 2);
    return (root->kind == CB_ERR_SYNTAX || root->kind == CB_ERR_INPUT) ? 2 : 1;
}

void cb_error_free(cb_error_t *err) {
    while (err) {
        cb_error_t *next = err->cause;
        free(err->msg);
        free(err->file);
        free(err);
        err = next;
    }
}
