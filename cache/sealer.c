#include "cache/sealer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

typedef enum { JOB_BLOB, JOB_RECORD, JOB_CALL } job_kind_t;

typedef struct job {
    struct job *next;
    job_kind_t kind;
    char *what;
    /* JOB_BLOB */
    cb_blob_writer_t *writer;
    char digest[CB_DIGEST_STR_LEN + 1];
    int64_t size;
    /* JOB_RECORD */
    const cb_root_t *root;
    char key[CB_DIGEST_STR_LEN + 1];
    cb_cache_record_t rec;
    /* JOB_CALL */
    int (*fn)(void *ctx, cb_error_t **err);
    void *ctx;
} job_t;

struct cb_sealer {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a job queued or done, or the end */
    job_t *head, **tail; /* not started (mutex) */
    bool thread_on;      /* the thread runs (mutex, and the owner's) */
    bool no_thread;      /* pthread_create failed: jobs run in the submitter */
    bool end;            /* the thread is to end once the queue is empty (mutex) */
    bool abandoned;      /* jobs not started are dropped (mutex) */
    /* The first failure (mutex): stops the queue. */
    bool failed;
    cb_error_kind_t fail_kind;
    int fail_status;
    char *fail_msg;
    cb_strv_t warnings; /* records that could not be written (mutex) */
    pthread_t thread;
};

static void job_free(job_t *j) {
    cb_blob_abort(j->writer); /* a dropped blob: its temp file goes */
    cb_cache_record_clear(&j->rec);
    free(j->what);
    free(j);
}

/* A job's work, in the thread (or the submitter). Record failures become
 * warnings (out), not errors. */
static int run_job(job_t *j, char **warning, cb_error_t **err) {
    switch (j->kind) {
    case JOB_BLOB: {
        cb_blob_writer_t *w = cb_steal_pointer(&j->writer);
        if (cb_blob_commit(w, j->digest, j->size, NULL, NULL, err) < 0)
            return cb_error_wrap(err, "%s", j->what);
        return 0;
    }
    case JOB_RECORD: {
        cb_autoerr cb_error_t *e = NULL;
        if (cb_cache_record_put(j->root, j->key, &j->rec, &e) < 0) {
            cb_autofree char *msg = cb_error_message(e);
            *warning = cb_xasprintf("cannot record step %s: %s", j->rec.created_by, msg);
        }
        return 0;
    }
    case JOB_CALL:
        return j->fn(j->ctx, err);
    }
    return 0;
}

/* mutex held */
static void note_result(cb_sealer_t *s, int r, cb_error_t *e, char *warning) {
    if (warning)
        cb_strv_take(&s->warnings, warning);
    if (r < 0 && !s->failed) {
        s->failed = true;
        const cb_error_t *root = cb_error_root(e);
        s->fail_kind = root ? root->kind : CB_ERR_INTERNAL;
        s->fail_status = root ? root->status : 0;
        s->fail_msg = e ? cb_error_message(e) : cb_xstrdup("failed");
    }
}

static void *sealer_main(void *arg) {
    cb_sealer_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->head == NULL && !s->end)
            pthread_cond_wait(&s->cond, &s->mu);
        job_t *j = s->head;
        if (j == NULL)
            break;
        s->head = j->next;
        if (s->head == NULL)
            s->tail = &s->head;
        bool skip = s->failed || s->abandoned;
        pthread_mutex_unlock(&s->mu);
        cb_error_t *e = NULL;
        char *warning = NULL;
        int r = skip ? 0 : run_job(j, &warning, &e);
        job_free(j);
        pthread_mutex_lock(&s->mu);
        note_result(s, r, e, warning);
        cb_error_free(e);
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

cb_sealer_t *cb_sealer_new(void) {
    cb_sealer_t *s = cb_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->tail = &s->head;
    return s;
}

/* The first failure as a new error (mutex held). */
static int failure(const cb_sealer_t *s, cb_error_t **err) {
    int r = cb_error_kind_set(err, s->fail_kind, "%s", s->fail_msg);
    if (err && *err)
        (*err)->status = s->fail_status;
    return r;
}

/* Queues j (taking it), starting the thread when it is not running. */
static int submit(cb_sealer_t *s, job_t *j, cb_error_t **err) {
    pthread_mutex_lock(&s->mu);
    if (s->failed || s->abandoned) {
        int r = s->failed ? failure(s, err) : cb_error_kind_set(err, CB_ERR_INTERNAL, "sealer used after abandon");
        pthread_mutex_unlock(&s->mu);
        job_free(j);
        return r;
    }
    if (!s->thread_on && !s->no_thread) {
        s->end = false;
        if (pthread_create(&s->thread, NULL, sealer_main, s) == 0)
            s->thread_on = true;
        else
            s->no_thread = true;
    }
    if (s->no_thread) {
        pthread_mutex_unlock(&s->mu);
        cb_error_t *e = NULL;
        char *warning = NULL;
        int r = run_job(j, &warning, &e);
        job_free(j);
        pthread_mutex_lock(&s->mu);
        note_result(s, r, e, warning);
        pthread_mutex_unlock(&s->mu);
        if (r < 0) {
            if (err) {
                cb_error_free(*err);
                *err = e;
            } else {
                cb_error_free(e);
            }
        }
        return r;
    }
    *s->tail = j;
    s->tail = &j->next;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int cb_sealer_blob(cb_sealer_t *s, cb_blob_writer_t *w, const char *digest, int64_t size, const char *what,
                   cb_error_t **err) {
    job_t *j = cb_xcalloc(1, sizeof *j);
    j->kind = JOB_BLOB;
    j->writer = w;
    j->what = cb_xstrdup(what ? what : "a blob");
    if (digest == NULL || !cb_digest_valid(digest)) {
        job_free(j);
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "%s: sealed without its digest", what ? what : "a blob");
    }
    memcpy(j->digest, digest, sizeof j->digest);
    j->size = size;
    return submit(s, j, err);
}

int cb_sealer_record(cb_sealer_t *s, const cb_root_t *root, const char *key, const cb_cache_record_t *rec,
                     cb_error_t **err) {
    if (key == NULL || !cb_digest_valid(key))
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "cache key \"%s\" is not sha256:<hex>", key ? key : "(null)");
    job_t *j = cb_xcalloc(1, sizeof *j);
    j->kind = JOB_RECORD;
    j->root = root;
    memcpy(j->key, key, sizeof j->key);
    j->rec.empty_layer = rec->empty_layer;
    if (rec->layer.digest) /* none for an empty layer */
        cb_oci_descriptor_copy(&j->rec.layer, &rec->layer);
    j->rec.diff_id = rec->diff_id ? cb_xstrdup(rec->diff_id) : NULL;
    j->rec.created_by = rec->created_by ? cb_xstrdup(rec->created_by) : NULL;
    return submit(s, j, err);
}

int cb_sealer_call(cb_sealer_t *s, int (*fn)(void *ctx, cb_error_t **err), void *ctx, cb_error_t **err) {
    job_t *j = cb_xcalloc(1, sizeof *j);
    j->kind = JOB_CALL;
    j->fn = fn;
    j->ctx = ctx;
    return submit(s, j, err);
}

/* Lets the thread end once the queue is empty, joins it, and logs the
 * records' warnings. */
static void stop(cb_sealer_t *s) {
    pthread_mutex_lock(&s->mu);
    bool on = s->thread_on;
    s->end = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (on) {
        pthread_join(s->thread, NULL);
        s->thread_on = false;
    }
    for (size_t i = 0; i < s->warnings.len; i++)
        cb_warn("cache", "%s", s->warnings.items[i]);
    cb_strv_free(&s->warnings);
}

int cb_sealer_wait(cb_sealer_t *s, cb_error_t **err) {
    if (s == NULL)
        return 0;
    stop(s);
    /* The thread is gone: nothing else touches s. */
    return s->failed ? failure(s, err) : 0;
}

void cb_sealer_abandon(cb_sealer_t *s) {
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->abandoned = true;
    pthread_mutex_unlock(&s->mu);
}

void cb_sealer_free(cb_sealer_t *s) {
    if (s == NULL)
        return;
    cb_sealer_abandon(s);
    stop(s);
    while (s->head) {
        job_t *j = s->head;
        s->head = j->next;
        job_free(j);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s->fail_msg);
    free(s);
}
