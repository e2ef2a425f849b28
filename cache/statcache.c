#include "cache/statcache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/store.h"
#include "common/log.h"
#include "common/util.h"

#define SC_MAGIC "CBSTATC" /* with its NUL: 8 bytes */
#define SC_VERSION 2
#define SC_PLAIN 1u    /* the file had no xattrs when hashed */
#define SC_VOLATILE 2u /* for this run only: racy when handed in (cb_statcache_put), not saved */
#define READ_CHUNK (128 * 1024)
#define NS_PER_S 1000000000LL

/* On disk and in memory alike: the header, then the records. */
typedef struct sc_header {
    char magic[8];
    uint32_t version;
    uint32_t record_size;
    uint32_t run; /* the run that wrote the file */
    uint32_t reserved;
    uint64_t count;
    uint8_t body_sha256[32]; /* of the count records that follow */
} sc_header_t;

typedef struct sc_record {
    uint64_t dev, ino;
    int64_t size, mtime_ns, ctime_ns;
    uint32_t mode;
    uint32_t last_run; /* the last run that saved with this entry used */
    uint32_t flags;    /* SC_PLAIN */
    uint32_t reserved;
    uint8_t sha256[32];
} sc_record_t;

_Static_assert(sizeof(sc_header_t) == 64, "statcache header layout");
_Static_assert(sizeof(sc_record_t) == 88, "statcache record layout");

struct cb_statcache {
    char *path;
    /* sc_header_t then cap records, so a save writes one buffer. */
    unsigned char *buf;
    size_t n, cap;
    /* Open addressing on (dev, ino): 0 is empty, else record index + 1. */
    uint32_t *slots;
    size_t nslots; /* a power of two, at least twice n */
    uint32_t run;
    size_t max;
    bool dirty;
    cb_sha256_t *hash;
    char *chunk; /* READ_CHUNK bytes, for misses */
    int64_t wanted_ns; /* the clock at the last cb_statcache_wants */
    cb_statcache_stats_t stats;
};

static sc_record_t *recs(const cb_statcache_t *c) {
    return (sc_record_t *)(void *)(c->buf + sizeof(sc_header_t));
}

static size_t slot_of(const cb_statcache_t *c, uint64_t dev, uint64_t ino) {
    uint64_t h = ino * 0x9E3779B97F4A7C15ull ^ (dev + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    h ^= h >> 31;
    return (size_t)h & (c->nslots - 1);
}

/* The slot holding (dev, ino), or the empty one where it would go. */
static uint32_t *find_slot(const cb_statcache_t *c, uint64_t dev, uint64_t ino) {
    const sc_record_t *r = recs(c);
    for (size_t i = slot_of(c, dev, ino);; i = (i + 1) & (c->nslots - 1)) {
        uint32_t s = c->slots[i];
        if (s == 0 || (r[s - 1].dev == dev && r[s - 1].ino == ino))
            return &c->slots[i];
    }
}

static void reindex(cb_statcache_t *c) {
    size_t want = 1024;
    while (want < 2 * (c->n + 1))
        want *= 2;
    free(c->slots);
    c->nslots = want;
    c->slots = cb_xcalloc(want, sizeof *c->slots);
    for (size_t i = 0; i < c->n; i++)
        *find_slot(c, recs(c)[i].dev, recs(c)[i].ino) = (uint32_t)(i + 1);
}

static void reserve(cb_statcache_t *c, size_t n) {
    if (n <= c->cap && c->buf)
        return;
    size_t cap = c->cap ? c->cap : 256;
    while (cap < n)
        cap *= 2;
    c->buf = cb_xrealloc(c->buf, sizeof(sc_header_t) + cap * sizeof(sc_record_t));
    c->cap = cap;
}

static void body_sha256(cb_statcache_t *c, size_t n, uint8_t out[32]) {
    char hex[CB_DIGEST_STR_LEN + 1];
    cb_sha256_reset(c->hash);
    cb_sha256_update(c->hash, recs(c), n * sizeof(sc_record_t));
    cb_sha256_final(c->hash, hex);
    cb_digest_to_raw(hex, out);
}

/* Why the loaded bytes can't be used, or NULL when they can. */
static const char *check_file(cb_statcache_t *c, size_t len) {
    const sc_header_t *h = (const sc_header_t *)(const void *)c->buf;
    if (len < sizeof *h)
        return "shorter than its header";
    if (memcmp(h->magic, SC_MAGIC, sizeof h->magic) != 0)
        return "no statcache magic";
    if (h->version != SC_VERSION || h->record_size != sizeof(sc_record_t))
        return "another version";
    size_t body = len - sizeof *h;
    if (body % sizeof(sc_record_t) != 0 || h->count != body / sizeof(sc_record_t))
        return "truncated or padded";
    uint8_t sum[32];
    body_sha256(c, (size_t)h->count, sum);
    if (memcmp(sum, h->body_sha256, sizeof sum) != 0)
        return "checksum mismatch";
    for (size_t i = 0; i < h->count; i++)
        if (!S_ISREG(recs(c)[i].mode))
            return "a record that is not a regular file";
    return NULL;
}

static void start_empty(cb_statcache_t *c) {
    free(c->buf);
    c->buf = NULL;
    c->n = c->cap = 0;
    reserve(c, 0);
}

static void load(cb_statcache_t *c) {
    char *data = NULL;
    size_t len = 0;
    cb_autoerr cb_error_t *err = NULL;
    size_t limit = sizeof(sc_header_t) + (size_t)CB_STATCACHE_MAX_ENTRIES * sizeof(sc_record_t);
    if (cb_read_file(c->path, limit, &data, &len, &err) < 0) {
        if (err->kind != CB_ERR_SYSTEM || err->status != ENOENT) {
            cb_autofree char *msg = cb_error_message(err);
            cb_debug("cache", "stat cache ignored: %s", msg);
        }
        start_empty(c);
        return;
    }
    c->buf = (unsigned char *)data;
    c->cap = len >= sizeof(sc_header_t) ? (len - sizeof(sc_header_t)) / sizeof(sc_record_t) : 0;
    const char *why = check_file(c, len);
    if (why) {
        cb_debug("cache", "stat cache %s ignored: %s", c->path, why);
        start_empty(c);
        return;
    }
    const sc_header_t *h = (const sc_header_t *)(const void *)c->buf;
    c->n = (size_t)h->count;
    c->run = h->run + 1;
}

int cb_statcache_open(const char *path, cb_statcache_t **out, cb_error_t **err) {
    if (path == NULL || path[0] == '\0')
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "stat cache: no path");
    cb_statcache_t *c = cb_xcalloc(1, sizeof *c);
    c->path = cb_xstrdup(path);
    c->max = CB_STATCACHE_MAX_ENTRIES;
    c->run = 1;
    c->hash = cb_sha256_new();
    load(c);
    reindex(c);
    /* A file with (dev, ino) twice was not written by us. */
    size_t distinct = 0;
    for (size_t i = 0; i < c->nslots; i++)
        distinct += c->slots[i] != 0;
    if (distinct != c->n) {
        cb_debug("cache", "stat cache %s ignored: duplicate entries", path);
        start_empty(c);
        reindex(c);
    }
    c->stats.entries = c->n;
    *out = c;
    return 0;
}

static bool matches(const sc_record_t *r, const struct stat *st) {
    return r->size == (int64_t)st->st_size &&
           r->mtime_ns == (int64_t)st->st_mtim.tv_sec * NS_PER_S + st->st_mtim.tv_nsec &&
           r->ctime_ns == (int64_t)st->st_ctim.tv_sec * NS_PER_S + st->st_ctim.tv_nsec &&
           r->mode == (uint32_t)st->st_mode;
}

static int u32_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Drops entries, those used in the oldest runs first and never one used in
 * this run, until at most `keep` remain. */
static void evict(cb_statcache_t *c, size_t keep) {
    if (c->n <= keep)
        return;
    size_t drop = c->n - keep;
    sc_record_t *r = recs(c);
    uint32_t *ages = cb_xmalloc(c->n * sizeof *ages);
    for (size_t i = 0; i < c->n; i++)
        ages[i] = c->run - r[i].last_run;
    qsort(ages, c->n, sizeof *ages, u32_desc);
    uint32_t cutoff = ages[drop - 1]; /* the youngest age that must go */
    size_t older = 0;                 /* entries strictly older: all go */
    while (older < c->n && ages[older] > cutoff)
        older++;
    free(ages);
    size_t ties = cutoff == 0 ? 0 : drop - older; /* of age == cutoff */
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        uint32_t age = c->run - r[i].last_run;
        bool go = age > 0 && (age > cutoff || (age == cutoff && ties > 0));
        if (go && age == cutoff)
            ties--;
        if (!go)
            r[w++] = r[i];
    }
    cb_debug("cache", "stat cache: %zu entries evicted", c->n - w);
    c->n = w;
    c->dirty = true;
    reindex(c);
}

static void remember(cb_statcache_t *c, const struct stat *st, const uint8_t sha[32], uint32_t flags) {
    uint32_t *slot = find_slot(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    if (*slot == 0) {
        if (c->n >= c->max) {
            /* Room for a while, so eviction is not paid per file. */
            evict(c, c->max * 3 / 4);
            if (c->n >= c->max)
                return; /* all used in this run */
            slot = find_slot(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
        }
        if (2 * (c->n + 1) > c->nslots) {
            reindex(c);
            slot = find_slot(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
        }
        reserve(c, c->n + 1);
        *slot = (uint32_t)(++c->n);
    }
    sc_record_t *r = &recs(c)[*slot - 1];
    *r = (sc_record_t){
        .dev = (uint64_t)st->st_dev,
        .ino = (uint64_t)st->st_ino,
        .size = (int64_t)st->st_size,
        .mtime_ns = (int64_t)st->st_mtim.tv_sec * NS_PER_S + st->st_mtim.tv_nsec,
        .ctime_ns = (int64_t)st->st_ctim.tv_sec * NS_PER_S + st->st_ctim.tv_nsec,
        .mode = (uint32_t)st->st_mode,
        .last_run = c->run,
        .flags = flags,
    };
    memcpy(r->sha256, sha, 32);
    c->dirty = true;
}

/* Could the file change again without its stat changing? Timestamps come
 * from the kernel's coarse clock (truncated to the file system's
 * granularity), so a change within the tick of ctime keeps ctime. */
static bool racy(const struct stat *st, int64_t now_ns) {
    int64_t ctime_ns = (int64_t)st->st_ctim.tv_sec * NS_PER_S + st->st_ctim.tv_nsec;
    int64_t margin = st->st_ctim.tv_nsec == 0 ? 2 * NS_PER_S : 10 * 1000 * 1000;
    return ctime_ns + margin >= now_ns;
}

int cb_statcache_digest(cb_statcache_t *c, int fd, const struct stat *st,
                        char out[CB_DIGEST_STR_LEN + 1], cb_error_t **err) {
    if (!S_ISREG(st->st_mode))
        return cb_error_kind_set(err, CB_ERR_INTERNAL, "stat cache: not a regular file");
    uint32_t slot = *find_slot(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    if (slot && matches(&recs(c)[slot - 1], st)) {
        sc_record_t *r = &recs(c)[slot - 1];
        r->last_run = c->run; /* saved along with the next change, not alone */
        cb_digest_from_raw(r->sha256, out);
        c->stats.hits++;
        return 0;
    }
    /* The clock before the first read: a change after it gets a later ctime. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (c->chunk == NULL)
        c->chunk = cb_xmalloc(READ_CHUNK);
    cb_sha256_reset(c->hash);
    uint64_t total = 0;
    for (;;) {
        ssize_t n = pread(fd, c->chunk, READ_CHUNK, (off_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cb_error_set(err, errno, "stat cache: reading a file to hash it");
        if (n == 0)
            break;
        cb_sha256_update(c->hash, c->chunk, (size_t)n);
        total += (uint64_t)n;
    }
    cb_sha256_final(c->hash, out);
    c->stats.misses++;
    c->stats.bytes_read += total;
    if (total != (uint64_t)st->st_size || racy(st, (int64_t)now.tv_sec * NS_PER_S + now.tv_nsec)) {
        c->stats.racy++;
    } else {
        uint8_t raw[32];
        cb_digest_to_raw(out, raw);
        remember(c, st, raw, 0);
    }
    c->stats.entries = c->n;
    return 0;
}

int cb_statcache_digest_cb(void *ctx, int fd, const struct stat *st,
                           char out[CB_DIGEST_STR_LEN + 1], cb_error_t **err) {
    return cb_statcache_digest(ctx, fd, st, out, err);
}

/* The entry that matches st, or NULL. */
static sc_record_t *matching(cb_statcache_t *c, const struct stat *st) {
    if (!S_ISREG(st->st_mode))
        return NULL;
    uint32_t slot = *find_slot(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    return slot && matches(&recs(c)[slot - 1], st) ? &recs(c)[slot - 1] : NULL;
}

/* The answer of the entry r: its digest, r used in this run. */
static bool answer(cb_statcache_t *c, sc_record_t *r, char out[CB_DIGEST_STR_LEN + 1]) {
    r->last_run = c->run; /* saved along with the next change, not alone */
    cb_digest_from_raw(r->sha256, out);
    c->stats.hits++;
    return true;
}

bool cb_statcache_known(cb_statcache_t *c, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]) {
    sc_record_t *r = matching(c, st);
    return r && (r->flags & SC_PLAIN) && answer(c, r, out);
}

void cb_statcache_set_plain(cb_statcache_t *c, const struct stat *st) {
    sc_record_t *r = matching(c, st);
    if (r && !(r->flags & SC_PLAIN)) {
        r->flags |= SC_PLAIN;
        c->dirty = true;
    }
}

bool cb_statcache_lookup(cb_statcache_t *c, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]) {
    sc_record_t *r = matching(c, st);
    return r && answer(c, r, out);
}

bool cb_statcache_wants(cb_statcache_t *c, const struct stat *st) {
    if (!S_ISREG(st->st_mode) || matching(c, st))
        return false;
    /* As in cb_statcache_digest: the clock before the first byte is read. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    c->wanted_ns = (int64_t)now.tv_sec * NS_PER_S + now.tv_nsec;
    return true;
}

static bool same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mode == b->st_mode &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

void cb_statcache_put(cb_statcache_t *c, const struct stat *st, const struct stat *after,
                      const char digest[CB_DIGEST_STR_LEN + 1], bool xattrs) {
    c->stats.given++;
    if (!S_ISREG(st->st_mode) || !same_file(st, after) || !cb_digest_valid(digest)) {
        /* Changed while being read: the digest is of bytes no stat stands for. */
        c->stats.changed++;
        return;
    }
    uint8_t raw[32];
    cb_digest_to_raw(digest, raw);
    bool volatile_entry = racy(st, c->wanted_ns);
    /* A racy file could still change without its stat changing: its digest
     * is kept for this run, where it is what the layer holds, but never
     * saved for a later one. */
    c->stats.racy += volatile_entry;
    remember(c, st, raw, (volatile_entry ? SC_VOLATILE : 0) | (xattrs ? 0 : SC_PLAIN));
    c->stats.entries = c->n;
}

bool cb_statcache_lookup_cb(void *ctx, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]) {
    return cb_statcache_lookup(ctx, st, out);
}

bool cb_statcache_wants_cb(void *ctx, const struct stat *st) {
    return cb_statcache_wants(ctx, st);
}

void cb_statcache_put_cb(void *ctx, const struct stat *st, const struct stat *after,
                         const char digest[CB_DIGEST_STR_LEN + 1], bool xattrs) {
    cb_statcache_put(ctx, st, after, digest, xattrs);
}

bool cb_statcache_known_cb(void *ctx, const struct stat *st, char out[CB_DIGEST_STR_LEN + 1]) {
    return cb_statcache_known(ctx, st, out);
}

void cb_statcache_set_plain_cb(void *ctx, const struct stat *st) {
    cb_statcache_set_plain(ctx, st);
}

/* Drops the entries kept for this run only. */
static void drop_volatile(cb_statcache_t *c) {
    sc_record_t *r = recs(c);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++)
        if (!(r[i].flags & SC_VOLATILE))
            r[w++] = r[i];
    if (w == c->n)
        return;
    c->n = w;
    reindex(c);
}

int cb_statcache_save(cb_statcache_t *c, cb_error_t **err) {
    const cb_statcache_stats_t *s = &c->stats;
    cb_debug("cache",
             "stat cache: %" PRIu64 " digests known, %" PRIu64 " files read (%" PRIu64 " bytes), %" PRIu64
             " digests handed in (%" PRIu64 " changed while read), %" PRIu64 " racy",
             s->hits, s->misses, s->bytes_read, s->given, s->changed, s->racy);
    if (!c->dirty)
        return 0;
    drop_volatile(c);
    sc_header_t *h = (sc_header_t *)(void *)c->buf;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, SC_MAGIC, sizeof h->magic);
    h->version = SC_VERSION;
    h->record_size = sizeof(sc_record_t);
    h->run = c->run;
    h->count = c->n;
    body_sha256(c, c->n, h->body_sha256);
    if (cb_write_file_atomic(c->path, c->buf, sizeof *h + c->n * sizeof(sc_record_t), 0600,
                             err) < 0)
        return cb_error_wrap(err, "saving the stat cache");
    c->dirty = false;
    return 0;
}

void cb_statcache_stats(const cb_statcache_t *c, cb_statcache_stats_t *out) {
    *out = c->stats;
    out->entries = c->n;
}

void cb_statcache_set_max_entries(cb_statcache_t *c, size_t max) {
    c->max = max ? max : 1;
    if (c->max > CB_STATCACHE_MAX_ENTRIES)
        c->max = CB_STATCACHE_MAX_ENTRIES;
    evict(c, c->max);
}

void cb_statcache_free(cb_statcache_t *c) {
    if (c == NULL)
        return;
    free(c->path);
    free(c->buf);
    free(c->slots);
    free(c->chunk);
    cb_sha256_free(c->hash);
    free(c);
}
