#include "common/workers.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/util.h"

typedef struct pool {
    size_t n;
    cb_workers_fn fn;
    void *ctx;
    atomic_int *stop;
    atomic_size_t next;
    pthread_mutex_t lock;
    cb_error_t *err; /* the failure to return */
} pool_t;

static bool interrupted(const cb_error_t *e) {
    return cb_error_root(e)->kind == CB_ERR_INTERRUPTED;
}

static void keep_failure(pool_t *p, cb_error_t *e) {
    pthread_mutex_lock(&p->lock);
    if (p->err == NULL || (interrupted(p->err) && !interrupted(e))) {
        cb_error_free(p->err);
        p->err = cb_steal_pointer(&e);
    }
    pthread_mutex_unlock(&p->lock);
    cb_error_free(e);
}

static void *work(void *arg) {
    pool_t *p = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || atomic_load(p->stop))
            return NULL;
        cb_error_t *e = NULL;
        if (p->fn(p->ctx, i, &e) < 0) {
            atomic_store(p->stop, 1);
            keep_failure(p, e);
            return NULL;
        }
    }
}

int cb_workers_run(size_t n, size_t jobs, cb_workers_fn fn, void *ctx, atomic_int *stop, cb_error_t **err) {
    atomic_int own_stop = 0;
    pool_t p = {.n = n, .fn = fn, .ctx = ctx, .stop = stop ? stop : &own_stop};
    pthread_mutex_init(&p.lock, NULL);
    if (jobs > n)
        jobs = n;
    pthread_t *tids = jobs > 1 ? cb_xcalloc(jobs - 1, sizeof *tids) : NULL;
    size_t started = 0;
    while (started + 1 < jobs && pthread_create(&tids[started], NULL, work, &p) == 0)
        started++;
    work(&p);
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    pthread_mutex_destroy(&p.lock);
    if (p.err) {
        *err = p.err;
        return -1;
    }
    return 0;
}
