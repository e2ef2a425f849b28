#include "common/behind.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MAX_SLOTS 16

struct cb_behind {
    cb_behind_fn fn;
    void *ctx;
    size_t chunk_size;
    int slots;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a chunk queued or consumed, or the end */
    char *chunk[MAX_SLOTS];
    size_t len[MAX_SLOTS];
    uint64_t queued, consumed; /* chunks handed over / done (mutex) */
    bool end;                  /* nothing more will be queued (mutex) */
    bool abandon;              /* drop what is queued (mutex) */
    bool failed;               /* the callback failed (mutex) */
    cb_error_t *error;         /* its error, until the producer takes it (mutex) */
    size_t fill;               /* producer: bytes in chunk[queued % slots] */
};

static void *behind_main(void *arg) {
    cb_behind_t *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->end && !b->abandon && b->consumed == b->queued)
            pthread_cond_wait(&b->cond, &b->mu);
        if (b->abandon || b->consumed == b->queued)
            break;
        int slot = (int)(b->consumed % (uint64_t)b->slots);
        bool skip = b->failed;
        pthread_mutex_unlock(&b->mu);
        cb_error_t *e = NULL;
        int r = skip ? 0 : b->fn(b->ctx, b->chunk[slot], b->len[slot], &e);
        pthread_mutex_lock(&b->mu);
        if (r < 0 && !b->failed) {
            b->failed = true;
            b->error = e;
            e = NULL;
        }
        cb_error_free(e);
        b->consumed++;
        pthread_cond_broadcast(&b->cond);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

cb_behind_t *cb_behind_start(size_t chunk, int slots, cb_behind_fn fn, void *ctx) {
    cb_behind_t *b = cb_xcalloc(1, sizeof *b);
    b->fn = fn;
    b->ctx = ctx;
    b->chunk_size = chunk;
    b->slots = slots < 2 ? 2 : slots > MAX_SLOTS ? MAX_SLOTS : slots;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cond, NULL);
    if (pthread_create(&b->thread, NULL, behind_main, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cond);
        free(b);
        return NULL;
    }
    return b;
}

/* The callback's error for the producer (mutex held): once, then a plain
 * "failed earlier". */
static int take_error(cb_behind_t *b, cb_error_t **err) {
    cb_error_t *e = cb_steal_pointer(&b->error);
    if (e == NULL)
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "stream used after a failure");
    if (err) {
        cb_error_free(*err);
        *err = e;
    } else {
        cb_error_free(e);
    }
    return -1;
}

/* Hands the chunk being filled over (if any) and waits for a free slot. */
static int queue_fill(cb_behind_t *b, cb_error_t **err) {
    pthread_mutex_lock(&b->mu);
    if (b->fill > 0) {
        b->len[b->queued % (uint64_t)b->slots] = b->fill;
        b->queued++;
        b->fill = 0;
        pthread_cond_broadcast(&b->cond);
    }
    while (!b->failed && b->queued - b->consumed >= (uint64_t)b->slots)
        pthread_cond_wait(&b->cond, &b->mu);
    int r = b->failed ? take_error(b, err) : 0;
    pthread_mutex_unlock(&b->mu);
    return r;
}

int cb_behind_write(cb_behind_t *b, const void *buf, size_t n, cb_error_t **err) {
    const char *p = buf;
    while (n > 0) {
        char **chunk = &b->chunk[b->queued % (uint64_t)b->slots];
        if (*chunk == NULL)
            *chunk = cb_xmalloc(b->chunk_size);
        size_t k = b->chunk_size - b->fill < n ? b->chunk_size - b->fill : n;
        memcpy(*chunk + b->fill, p, k);
        b->fill += k;
        p += k;
        n -= k;
        if (b->fill == b->chunk_size && queue_fill(b, err) < 0)
            return -1;
    }
    return 0;
}

static void stop(cb_behind_t *b, bool abandon) {
    pthread_mutex_lock(&b->mu);
    b->end = true;
    b->abandon = abandon;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cond);
    for (int i = 0; i < b->slots; i++)
        free(b->chunk[i]);
    cb_error_free(b->error);
    free(b);
}

int cb_behind_finish(cb_behind_t *b, cb_error_t **err) {
    int r = queue_fill(b, err);
    if (r == 0) {
        pthread_mutex_lock(&b->mu);
        while (!b->failed && b->consumed < b->queued)
            pthread_cond_wait(&b->cond, &b->mu);
        r = b->failed ? take_error(b, err) : 0;
        pthread_mutex_unlock(&b->mu);
    }
    stop(b, r < 0);
    return r;
}

void cb_behind_abandon(cb_behind_t *b) {
    if (b != NULL)
        stop(b, true);
}
