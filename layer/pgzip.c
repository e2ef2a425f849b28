#include "layer/pgzip.h"

#include <libdeflate.h>
#include <pthread.h>
#include <string.h>

#include "common/util.h"

#define GZ_HEADER 10
#define GZ_TRAILER 8
#define MIN_STORED_SEGMENT 4096

_Static_assert(CB_PGZIP_BLOCK % CB_PGZIP_SEGMENT == 0, "a block is whole segments");

/* One block of input and its gzip members. */
typedef struct pgz_slot {
    unsigned char *buf;
    size_t len;
    unsigned char *out;
    size_t out_len, out_cap;
    bool failed; /* libdeflate refused (never expected with the bound) */
    bool done;   /* guarded by the mutex once the block is queued */
} pgz_slot_t;

typedef struct pgz_worker {
    cb_pgzip_t *owner;
    struct libdeflate_compressor *deflate, *store;
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

    pgz_worker_t *workers; /* ncompressors compressor pairs; nworkers of them run threads */
    int ncompressors, nworkers;
    int want_workers; /* threads to start with the second block */
    bool inline_mode;

    pthread_mutex_t mu;
    pthread_cond_t work; /* a block was queued, or stop */
    pthread_cond_t done; /* a block finished */
    uint64_t next_job;   /* next queued block a worker takes (mutex) */
    bool stop;           /* mutex */

    bool failed, finished;
};

/* Compressors kept between streams: a RUN step's layer is usually one small
 * block, and a fresh libdeflate compressor (hash tables of a few hundred
 * KiB, cleared at each use) is fresh memory to fault in every time. */
#define SPARES 8
static struct spare {
    int level;
    struct libdeflate_compressor *c;
} spares[SPARES];
static pthread_mutex_t spares_mu = PTHREAD_MUTEX_INITIALIZER;

static struct libdeflate_compressor *get_compressor(int level) {
    struct libdeflate_compressor *c = NULL;
    pthread_mutex_lock(&spares_mu);
    for (int i = 0; i < SPARES && c == NULL; i++)
        if (spares[i].c && spares[i].level == level) {
            c = spares[i].c;
            spares[i].c = NULL;
        }
    pthread_mutex_unlock(&spares_mu);
    return c ? c : libdeflate_alloc_compressor(level);
}

static void put_compressor(int level, struct libdeflate_compressor *c) {
    if (c == NULL)
        return;
    pthread_mutex_lock(&spares_mu);
    for (int i = 0; i < SPARES && c; i++)
        if (spares[i].c == NULL) {
            spares[i] = (struct spare){.level = level, .c = c};
            c = NULL;
        }
    pthread_mutex_unlock(&spares_mu);
    libdeflate_free_compressor(c);
}

static pgz_slot_t *slot_of(cb_pgzip_t *z, uint64_t seq) {
    return &z->slots[seq % z->nslots];
}

/* Decided without the rest of the segment: once the counts so far already
 * put the statistic over the bound, more bytes cannot bring it back (see
 * cb_pgzip_incompressible). */
#define EARLY_STEP 4096

bool cb_pgzip_incompressible(const unsigned char *p, size_t n) {
    if (n < MIN_STORED_SEGMENT)
        return false;
    /* chi2 = sum (c - n/256)^2 / (n/256) = sum (256c - n)^2 / (256 n), in
     * integers so every machine decides alike; below 384 (1.5 x 255). */
    const uint64_t bound = 384u * 256u * (uint64_t)n;
    /* Four tables so consecutive equal bytes do not serialise on one
     * counter. */
    uint32_t h[4][256] = {{0}};
    size_t i = 0;
    while (i < n) {
        size_t stop = n - i > EARLY_STEP ? i + EARLY_STEP : n;
        for (; i + 4 <= stop; i += 4) {
            h[0][p[i]]++;
            h[1][p[i + 1]]++;
            h[2][p[i + 2]]++;
            h[3][p[i + 3]]++;
        }
        for (; i < stop; i++)
            h[0][p[i]]++;
        if (i == n)
            break;
        /* Counts only grow: a byte already counted more than n/256 times
         * adds at least (256c - n)^2 of the final sum. Most compressible
         * segments (text, code) are decided within the first 4-8 KiB; the
         * stored ones need every byte, as before. */
        uint64_t low = 0;
        for (int k = 0; k < 256; k++) {
            int64_t d = 256 * (int64_t)(h[0][k] + h[1][k] + h[2][k] + h[3][k]) - (int64_t)n;
            if (d > 0)
                low += (uint64_t)(d * d);
        }
        if (low >= bound)
            return false;
    }
    uint64_t sum = 0;
    for (int k = 0; k < 256; k++) {
        int64_t d = 256 * (int64_t)(h[0][k] + h[1][k] + h[2][k] + h[3][k]) - (int64_t)n;
        sum += (uint64_t)(d * d);
    }
    return sum < bound;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Room for a block's members in the worst case: one member per segment. */
static size_t out_bound(void) {
    return (CB_PGZIP_BLOCK / CB_PGZIP_SEGMENT) *
           (GZ_HEADER + GZ_TRAILER + libdeflate_deflate_compress_bound(NULL, CB_PGZIP_SEGMENT));
}

/* Appends one gzip member of in[0..n) to the slot's output. XFL as gzip
 * sets it for the level; OS 3 (Unix). */
static bool put_member(struct libdeflate_compressor *c, int level, const unsigned char *in,
                       size_t n, pgz_slot_t *b) {
    unsigned char *o = b->out + b->out_len;
    size_t room = b->out_cap - b->out_len;
    if (room < GZ_HEADER + GZ_TRAILER)
        return false;
    static const unsigned char head[GZ_HEADER] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(o, head, GZ_HEADER);
    o[8] = level == 9 ? 2 : level == 1 ? 4 : 0;
    size_t k = libdeflate_deflate_compress(c, in, n, o + GZ_HEADER, room - GZ_HEADER - GZ_TRAILER);
    if (k == 0)
        return false;
    put_le32(o + GZ_HEADER + k, libdeflate_crc32(0, in, n));
    put_le32(o + GZ_HEADER + k + 4, (uint32_t)n); /* ISIZE is mod 2^32; n is below */
    b->out_len += GZ_HEADER + k + GZ_TRAILER;
    return true;
}

/* Compresses one block into its members. Runs in a worker without the lock. */
static void compress_block(pgz_worker_t *w, int level, pgz_slot_t *b) {
    b->out_len = 0;
    b->failed = false;
    /* Made on first use: a small stream needs one compressor, not a pair
     * per thread. */
    if (w->deflate == NULL && (w->deflate = get_compressor(level)) == NULL) {
        b->failed = true;
        return;
    }
    const unsigned char *p = b->buf;
    if (b->len == 0) {
        b->failed = !put_member(w->deflate, level, p, 0, b);
        return;
    }
    /* Each segment classed once (a run's end was classed twice before). */
    enum { SEGS = CB_PGZIP_BLOCK / CB_PGZIP_SEGMENT };
    bool cls[SEGS];
    size_t nseg = (b->len + CB_PGZIP_SEGMENT - 1) / CB_PGZIP_SEGMENT;
    for (size_t i = 0; i < nseg; i++) {
        size_t off = i * CB_PGZIP_SEGMENT;
        size_t k = b->len - off < CB_PGZIP_SEGMENT ? b->len - off : CB_PGZIP_SEGMENT;
        cls[i] = cb_pgzip_incompressible(p + off, k);
    }
    for (size_t i = 0; i < nseg;) {
        size_t j = i + 1;
        while (j < nseg && cls[j] == cls[i])
            j++;
        bool stored = cls[i];
        size_t pos = i * CB_PGZIP_SEGMENT;
        size_t end = j * CB_PGZIP_SEGMENT < b->len ? j * CB_PGZIP_SEGMENT : b->len;
        if (stored && w->store == NULL && (w->store = get_compressor(0)) == NULL) {
            b->failed = true;
            return;
        }
        if (!put_member(stored ? w->store : w->deflate, level, p + pos, end - pos, b)) {
            b->failed = true;
            return;
        }
        i = j;
    }
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
        compress_block(w, z->level, b);
        pthread_mutex_lock(&z->mu);
        b->done = true;
        pthread_cond_signal(&z->done);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

static int emit_block(cb_pgzip_t *z, pgz_slot_t *b, cb_error_t **err) {
    if (b->failed) {
        z->failed = true;
        return cb_error_kind_set(err, CB_ERR_LIBRARY, "gzip: libdeflate failed on a block (out of memory?)");
    }
    if (z->out(z->out_ctx, b->out, b->out_len, err) < 0) {
        z->failed = true;
        return -1;
    }
    return 0;
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
 * caller goes on compressing (workers[0]'s compressors are still there).
 * Blocks compressed inline so far are already written out. */
static void start_workers(cb_pgzip_t *z) {
    for (int i = 0; i < z->want_workers; i++) {
        if (pthread_create(&z->workers[i].thread, NULL, worker_main, &z->workers[i]) != 0)
            break;
        z->nworkers++;
    }
    z->want_workers = 0;
    z->inline_mode = z->nworkers == 0;
}

/* A slot's buffers, allocated when the stream first reaches it (malloc'd,
 * not cleared: pages a small block never touches cost nothing). */
static void slot_ready(pgz_slot_t *b) {
    if (b->buf == NULL) {
        b->buf = cb_xmalloc(CB_PGZIP_BLOCK);
        b->out_cap = out_bound();
        b->out = cb_xmalloc(b->out_cap);
    }
}

/* Hands the block being filled to a worker (or compresses it here). */
static int submit(cb_pgzip_t *z, bool last, cb_error_t **err) {
    if (!last && z->want_workers > 0)
        start_workers(z);
    uint64_t seq = z->queued;
    pgz_slot_t *b = slot_of(z, seq);
    slot_ready(b);
    b->done = false;
    if (!last) {
        /* The next slot must be written out before it is refilled. */
        uint64_t need = seq + 2 > z->nslots ? seq + 2 - z->nslots : 0;
        if (drain(z, need, err) < 0)
            return -1;
        slot_of(z, seq + 1)->len = 0;
    }
    if (z->inline_mode) {
        compress_block(&z->workers[0], z->level, b);
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
        slot_ready(b);
        size_t k = CB_PGZIP_BLOCK - b->len;
        if (k > n)
            k = n;
        memcpy(b->buf + b->len, p, k);
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
    /* A partial last block, or the empty member of an empty stream. */
    bool pending = slot_of(z, z->queued)->len > 0 || z->queued == 0;
    if ((pending && submit(z, true, err) < 0) || drain(z, z->queued, err) < 0)
        return -1;
    z->finished = true;
    return 0;
}

int cb_pgzip_threads(const cb_pgzip_t *z) {
    return z->inline_mode ? 0 : z->nworkers;
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
    bool single = threads <= 1;
    z->ncompressors = single ? 1 : threads;
    z->nslots = single ? 2 : 2 * (size_t)threads + 2;
    pthread_mutex_init(&z->mu, NULL);
    pthread_cond_init(&z->work, NULL);
    pthread_cond_init(&z->done, NULL);
    z->workers = cb_xcalloc((size_t)z->ncompressors, sizeof *z->workers);
    z->slots = cb_xcalloc(z->nslots, sizeof *z->slots);
    z->inline_mode = true;
    for (int i = 0; i < z->ncompressors; i++)
        z->workers[i].owner = z;
    /* Workers start with the stream's second block (start_workers): most
     * layers of RUN steps are one block, and threads would cost more than
     * they save. */
    z->want_workers = single ? 0 : z->ncompressors;
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
    for (int i = 0; z->workers && i < z->ncompressors; i++) {
        put_compressor(z->level, z->workers[i].deflate);
        put_compressor(0, z->workers[i].store);
    }
    for (size_t i = 0; z->slots && i < z->nslots; i++) {
        free(z->slots[i].buf);
        free(z->slots[i].out);
    }
    free(z->slots);
    free(z->workers);
    free(z);
}
