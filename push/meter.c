/* Transfer byte counts (push/meter.h). */
#include "push/meter.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common/util.h"

struct cb_meter {
    char *verb, *ref;
    double t0;
    atomic_int_fast64_t moved;   /* over the network, net of restarts */
    atomic_uint_fast64_t skipped; /* sizes of blobs that did not move */
    atomic_uint blobs_done;
    pthread_mutex_t lock;        /* the fields below, and one report at a time */
    unsigned blobs;
    uint64_t total;
    double last_report;          /* 0: none yet */
};

static _Atomic(cb_meter_hook_t) hook;

void cb_meter_set_hook(cb_meter_hook_t h) {
    atomic_store(&hook, h);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

cb_meter_t *cb_meter_start(const char *verb, const char *ref) {
    if (atomic_load(&hook) == NULL)
        return NULL;
    cb_meter_t *m = cb_xcalloc(1, sizeof *m);
    m->verb = cb_xstrdup(verb);
    m->ref = cb_xstrdup(ref);
    m->t0 = now_s();
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void cb_meter_expect(cb_meter_t *m, unsigned blobs, uint64_t bytes) {
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->blobs += blobs;
    m->total += bytes;
    pthread_mutex_unlock(&m->lock);
}

/* Called with the lock held. */
static void report(cb_meter_t *m, double now, bool last, bool ok) {
    cb_meter_hook_t h = atomic_load(&hook);
    if (h == NULL || m->total < CB_METER_MIN_BYTES)
        return;
    int64_t moved = atomic_load(&m->moved);
    uint64_t bytes = (moved > 0 ? (uint64_t)moved : 0) + atomic_load(&m->skipped);
    if (bytes > m->total || (last && ok))
        bytes = m->total;
    double elapsed = now - m->t0;
    cb_meter_report_t r = {
        .verb = m->verb,
        .ref = m->ref,
        .blobs_done = atomic_load(&m->blobs_done),
        .blobs = m->blobs,
        .bytes = bytes,
        .total = m->total,
        .rate = elapsed > 0 && moved > 0 ? (double)moved / elapsed : 0,
        .elapsed = elapsed,
        .last = last,
    };
    m->last_report = now;
    h(&r);
}

/* A report when the interval has passed since the start or the last one;
 * threads that find another reporting skip theirs. */
static void maybe_report(cb_meter_t *m) {
    double now = now_s();
    if (now - m->t0 < CB_METER_INTERVAL)
        return;
    if (pthread_mutex_trylock(&m->lock) != 0)
        return;
    if (now - m->last_report >= CB_METER_INTERVAL)
        report(m, now, false, false);
    pthread_mutex_unlock(&m->lock);
}

void cb_meter_moved(cb_meter_t *m, int64_t n) {
    if (m == NULL)
        return;
    atomic_fetch_add(&m->moved, n);
    maybe_report(m);
}

void cb_meter_blob_done(cb_meter_t *m, uint64_t size, bool skipped) {
    if (m == NULL)
        return;
    if (skipped)
        atomic_fetch_add(&m->skipped, size);
    atomic_fetch_add(&m->blobs_done, 1);
    maybe_report(m);
}

void cb_meter_end(cb_meter_t *m, bool ok) {
    if (m == NULL)
        return;
    double now = now_s();
    pthread_mutex_lock(&m->lock);
    if (m->last_report > 0 || now - m->t0 >= CB_METER_INTERVAL)
        report(m, now, true, ok);
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_destroy(&m->lock);
    free(m->verb);
    free(m->ref);
    free(m);
}
