/* The byte count of a long transfer (a pull's layers, a push's blobs), for
 * the progress output: bytes done of the total, blobs done of the blobs, and
 * the rate. Worker threads add bytes as they move; a report goes to the one
 * process-wide hook (the CLI's, builder/progress.h) at most every
 * CB_METER_INTERVAL seconds, and a last one at the end. A transfer that ends
 * within the first interval, or of less than CB_METER_MIN_BYTES, reports
 * nothing: small pulls and pushes (a small base, the remote cache's records)
 * stay as quiet as they were, however long the registry's round trips take.
 *
 * bytes counts what went over the network (a pull's restarted blob takes its
 * bytes back; a push's resent part counts again) plus the whole size of blobs
 * the other side had; reports clamp it at the total, and a transfer that
 * succeeded ends at the total. */
#ifndef CB_PUSH_METER_H
#define CB_PUSH_METER_H

#include <stdbool.h>
#include <stdint.h>

#define CB_METER_INTERVAL 0.1
#define CB_METER_MIN_BYTES (1u << 20)

typedef struct cb_meter_report {
    const char *verb;          /* "pull" or "push" */
    const char *ref;           /* what moves: "registry/repository[:tag]" */
    unsigned blobs_done, blobs;
    uint64_t bytes, total;
    double rate;               /* bytes per second over the network since the start */
    double elapsed;            /* seconds since the start */
    bool last;                 /* the transfer is over (successful or not) */
} cb_meter_report_t;

typedef void (*cb_meter_hook_t)(const cb_meter_report_t *r);
/* NULL (the default): meters count nothing and report nothing. */
void cb_meter_set_hook(cb_meter_hook_t hook);

typedef struct cb_meter cb_meter_t;

/* A transfer starts; NULL when there is no hook (every call below takes NULL). */
cb_meter_t *cb_meter_start(const char *verb, const char *ref);
/* More blobs to move (a push learns an index's manifests one by one). */
void cb_meter_expect(cb_meter_t *m, unsigned blobs, uint64_t bytes);
/* Bytes moved over the network; negative when a restart dropped them. Any thread. */
void cb_meter_moved(cb_meter_t *m, int64_t n);
/* A blob is done; `skipped`: nothing moved (the other side had it), its size counts whole. */
void cb_meter_blob_done(cb_meter_t *m, uint64_t size, bool skipped);
/* The transfer is over: the last report (when any was made, or it took longer
 * than the interval), then the meter is freed. `ok` ends it at the total. */
void cb_meter_end(cb_meter_t *m, bool ok);

#endif
