#include "layer/pgzip.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"

_Static_assert(CB_PGZIP_BLOCK >= CB_PGZIP_DICT, "a block must hold the next block's dictionary");

/* One block of input and its deflated form. buf holds the dictionary right
 * before the data: [CB_PGZIP_DICT - dict_len unused][dict][data]. */
typedef struct pgz_slot {
    unsigned char *buf;
    size_t dict_len, len;
    bool last;
    unsigned char *out;
    size_t out_len, out_cap;
    uLong crc;
    int zerr; /* deflate's error code, 0 when the block is fine */
    bool done; /* guarded by the mutex once the block is queued */
} pgz_slot_t;

typedef struct pgz_worker {
    cb_pgzip_t *owner;
    z_stream strm;
    bool strm_live;
    pthread_t thread;
} pgz_worker_t;

struct cb_pgzip {
    int level;
    cb_pgzip_out_fn out;
    void *out_ctx;

    pgz_slot_t *slots;
    size_t nslots;
    /* Sequence numbers of blocks: [emitted, queued) are with the workers or
     * waiting to be written out; block `queued` is the one being filled. */
    uint64_t queued, emitted;

    pgz_worker_t *workers; /* nstreams deflate states; nworkers of them run threads */
    int nstreams, nworkers;
    int want_workers; /* threads to start with the second block */
    bool inline_mode;

    pthread_mutex_t mu;
    pthread_cond_t work; /* a block was queued, or stop */
    pthread_cond_t done; /* a block finished */
    uint64_t next_job;   /* next queued block a worker takes (mutex) */
    bool stop;           /* mutex */

    bool header_done, failed, finished;
    uLong crc;
    uint64_t isize;
};

static pgz_slot_t *slot_of(cb_pgzip_t *z, uint64_t seq) {
    return &z->slots[seq % z->nslots];
}

/* Deflates one block into its out buffer (growing it if deflateBound was
 * not enough) and computes its CRC. Runs in a worker without the lock. */
static void deflate_block(z_stream *s, pgz_slot_t *b) {
    b->zerr = 0;
    b->out_len = 0;
    int r = deflateReset(s);
    const unsigned char *data = b->buf + CB_PGZIP_DICT;
    if (r == Z_OK && b->dict_len > 0)
        r = deflateSetDictionary(s, data - b->dict_len, (uInt)b->dict_len);
    if (r != Z_OK) {
        b->zerr = r;
        return;
    }
    int flush = b->last ? Z_FINISH : Z_SYNC_FLUSH;
    s->next_in = (Bytef *)data;
    s->avail_in = (uInt)b->len;
    for (;;) {
        s->next_out = b->out + b->out_len;
        s->avail_out = (uInt)(b->out_cap - b->out_len);
        r = deflate(s, flush);
        b->out_len = b->out_cap - s->avail_out;
        if (r == Z_STREAM_ERROR) {
            b->zerr = r;
            return;
        }
        /* Done when Z_FINISH reports the end, or a sync flush left room
         * (zlib's rule: a full output buffer may hide pending bytes). */
        if (flush == Z_FINISH ? r == Z_STREAM_END : s->avail_out != 0)
            break;
        b->out_cap *= 2;
        b->out = cb_xrealloc(b->out, b->out_cap);
    }
    b->crc = crc32(0, data, (uInt)b->len);
}

static void *worker_main(void *arg) {
    pgz_worker_t *w = arg;
    cb_pgzip_t *z = w->owner;
    pthread_mutex_lock(&z->mu);
    for (;;) {
        while (!z->stop && z->next_job == z->queued)
            pthread_cond_wait(&z->work, &z->mu);
        if (z->stop)
            break;
        pgz_slot_t *b = slot_of(z, z->next_job++);
        pthread_mutex_unlock(&z->mu);
        deflate_block(&w->strm, b);
        pthread_mutex_lock(&z->mu);
        b->done = true;
        pthread_cond_signal(&z->done);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

static int send_out(cb_pgzip_t *z, const void *buf, size_t n, cb_error_t **err) {
    if (z->out(z->out_ctx, buf, n, err) < 0) {
        z->failed = true;
        return -1;
    }
    return 0;
}

/* The 10-byte header zlib itself writes for these settings: no name, mtime
 * 0, XFL as zlib sets it for the level, OS 3 (Unix), so level-for-level the
 * header matches `gzip`'s and zlib's bytes. */
static int write_header(cb_pgzip_t *z, cb_error_t **err) {
    unsigned char h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    h[8] = z->level == 9 ? 2 : z->level == 1 ? 4 : 0;
    z->header_done = true;
    return send_out(z, h, sizeof h, err);
}

static int emit_block(cb_pgzip_t *z, pgz_slot_t *b, cb_error_t **err) {
    if (b->zerr != 0) {
        z->failed = true;
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "gzip: deflate failed (%d)", b->zerr);
    }
    if (!z->header_done && write_header(z, err) < 0)
        return -1;
    z->crc = crc32_combine(z->crc, b->crc, (z_off_t)b->len);
    z->isize += b->len;
    return send_out(z, b->out, b->out_len, err);
}

/* Writes out finished blocks in order: waits for every block below `until`,
 * then takes whatever else is already done without waiting. */
static int drain(cb_pgzip_t *z, uint64_t until, cb_error_t **err) {
    while (z->emitted < z->queued) {
        pgz_slot_t *b = slot_of(z, z->emitted);
        bool ready;
        if (z->inline_mode) {
            ready = true;
        } else {
            pthread_mutex_lock(&z->mu);
            while (!b->done && z->emitted < until)
                pthread_cond_wait(&z->done, &z->mu);
            ready = b->done;
            pthread_mutex_unlock(&z->mu);
        }
        if (!ready)
            return 0;
        if (emit_block(z, b, err) < 0)
            return -1;
        z->emitted++;
    }
    return 0;
}

/* Fewer threads change the speed, not the bytes; none at all means the
 * caller goes on deflating (workers[0]'s stream is still there). Blocks
 * deflated inline so far are already written out. */
static void start_workers(cb_pgzip_t *z) {
    for (int i = 0; i < z->want_workers; i++) {
        if (pthread_create(&z->workers[i].thread, NULL, worker_main, &z->workers[i]) != 0)
            break;
        z->nworkers++;
    }
    z->want_workers = 0;
    z->inline_mode = z->nworkers == 0;
}

/* Hands the block being filled to a worker (or deflates it here) and
 * prepares the next one, primed with this block's last 32 KiB. */
static int submit(cb_pgzip_t *z, bool last, cb_error_t **err) {
    if (!last && z->want_workers > 0)
        start_workers(z);
    uint64_t seq = z->queued;
    pgz_slot_t *b = slot_of(z, seq);
    b->last = last;
    b->done = false;
    if (!last) {
        /* The next slot must be written out before it is refilled. */
        uint64_t need = seq + 2 > z->nslots ? seq + 2 - z->nslots : 0;
        if (drain(z, need, err) < 0)
            return -1;
        pgz_slot_t *next = slot_of(z, seq + 1);
        memcpy(next->buf, b->buf + CB_PGZIP_DICT + b->len - CB_PGZIP_DICT, CB_PGZIP_DICT);
        next->dict_len = CB_PGZIP_DICT;
        next->len = 0;
    }
    if (z->inline_mode) {
        deflate_block(&z->workers[0].strm, b);
        b->done = true;
        z->queued++;
    } else {
        pthread_mutex_lock(&z->mu);
        z->queued++;
        pthread_cond_signal(&z->work);
        pthread_mutex_unlock(&z->mu);
    }
    return drain(z, 0, err);
}

static int dead(cb_error_t **err) {
    return cb_error_kind_set(err, CB_ERR_INTERNAL, "gzip: stream used after a failure or finish");
}

int cb_pgzip_write(cb_pgzip_t *z, const void *buf, size_t n, cb_error_t **err) {
    if (z->failed || z->finished)
        return dead(err);
    const unsigned char *p = buf;
    while (n > 0) {
        pgz_slot_t *b = slot_of(z, z->queued);
        size_t k = CB_PGZIP_BLOCK - b->len;
        if (k > n)
            k = n;
        memcpy(b->buf + CB_PGZIP_DICT + b->len, p, k);
        b->len += k;
        p += k;
        n -= k;
        if (b->len == CB_PGZIP_BLOCK && submit(z, false, err) < 0)
            return -1;
    }
    return 0;
}

int cb_pgzip_finish(cb_pgzip_t *z, cb_error_t **err) {
    if (z->failed || z->finished)
        return dead(err);
    if (submit(z, true, err) < 0 || drain(z, z->queued, err) < 0)
        return -1;
    unsigned char t[8];
    uint32_t crc = (uint32_t)z->crc, isize = (uint32_t)z->isize; /* ISIZE is mod 2^32 */
    for (int i = 0; i < 4; i++) {
        t[i] = (unsigned char)(crc >> (8 * i));
        t[4 + i] = (unsigned char)(isize >> (8 * i));
    }
    if (send_out(z, t, sizeof t, err) < 0)
        return -1;
    z->finished = true;
    return 0;
}

int cb_pgzip_threads(const cb_pgzip_t *z) {
    return z->inline_mode ? 0 : z->nworkers;
}

static int init_stream(z_stream *s, int level, cb_error_t **err) {
    /* Raw deflate (-15): the gzip wrapper is ours. memLevel 8 as zlib's and
     * gzip's default, so sizes match `gzip -<level>`. */
    int r = deflateInit2(s, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    if (r != Z_OK)
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "gzip: deflateInit2 failed (%d)", r);
    return 0;
}

int cb_pgzip_new(cb_pgzip_t **out, int level, int threads, cb_pgzip_out_fn fn, void *ctx,
                 cb_error_t **err) {
    if (level < 1 || level > 9)
        return cb_error_kind_set(err, CB_ERR_INPUT, "gzip level %d out of range (1-9)", level);
    if (threads > CB_PGZIP_MAX_THREADS)
        threads = CB_PGZIP_MAX_THREADS;
    cb_pgzip_t *z = cb_xcalloc(1, sizeof *z);
    z->level = level;
    z->out = fn;
    z->out_ctx = ctx;
    z->crc = crc32(0, NULL, 0);
    z->inline_mode = threads <= 1;
    z->nstreams = z->inline_mode ? 1 : threads;
    z->nslots = z->inline_mode ? 2 : 2 * (size_t)threads + 2;
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->work, NULL);
    pthread_cond_init(&z->done, NULL);
    z->workers = cb_xcalloc((size_t)z->nstreams, sizeof *z->workers);
    for (int i = 0; i < z->nstreams; i++) {
        z->workers[i].owner = z;
        if (init_stream(&z->workers[i].strm, level, err) < 0) {
            cb_pgzip_free(z);
            return -1;
        }
        z->workers[i].strm_live = true;
    }
    size_t cap = deflateBound(&z->workers[0].strm, CB_PGZIP_BLOCK) + 64; /* + sync flush */
    z->slots = cb_xcalloc(z->nslots, sizeof *z->slots);
    for (size_t i = 0; i < z->nslots; i++) {
        z->slots[i].buf = cb_xmalloc(CB_PGZIP_DICT + CB_PGZIP_BLOCK);
        z->slots[i].out_cap = cap;
        z->slots[i].out = cb_xmalloc(cap);
    }
    /* Workers start with the stream's second block (start_workers): most
     * layers of RUN steps are one block, and threads would cost more than
     * they save. */
    z->want_workers = z->inline_mode ? 0 : z->nstreams;
    z->inline_mode = true;
    *out = z;
    return 0;
}

void cb_pgzip_free(cb_pgzip_t *z) {
    if (z == NULL)
        return;
    pthread_mutex_lock(&z->mu);
    z->stop = true;
    pthread_cond_broadcast(&z->work);
    pthread_mutex_unlock(&z->mu);
    for (int i = 0; i < z->nworkers; i++)
        pthread_join(z->workers[i].thread, NULL);
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->work);
    pthread_cond_destroy(&z->done);
    for (int i = 0; i < z->nstreams; i++) {
        if (z->workers[i].strm_live)
            deflateEnd(&z->workers[i].strm);
    }
    for (size_t i = 0; z->slots && i < z->nslots; i++) {
        free(z->slots[i].buf);
        free(z->slots[i].out);
    }
    free(z->slots);
    free(z->workers);
    free(z);
}
