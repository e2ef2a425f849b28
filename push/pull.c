/* Pulling images (push/pull.h). */
#include "push/pull.h"

#include <stdlib.h>
#include <string.h>

#include "cache/blob.h"
#include "cache/index.h"
#include "common/log.h"
#include "common/workers.h"
#include "push/meter.h"
#include "push/push_sources.h"
#include "push/reference.h"

#define DEFAULT_JOBS 4
#define MAX_INDEX_DEPTH 4

int cb_pull_policy_parse(const char *s, cb_pull_policy_t *out, cb_error_t **err) {
    if (strcmp(s, "missing") == 0 || strcmp(s, "ifmissing") == 0)
        *out = CB_PULL_MISSING;
    else if (strcmp(s, "always") == 0 || strcmp(s, "true") == 0)
        *out = CB_PULL_ALWAYS;
    else if (strcmp(s, "never") == 0 || strcmp(s, "false") == 0)
        *out = CB_PULL_NEVER;
    else
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "--pull=%s: expected missing, always or never", s);
    return 0;
}

void cb_pull_result_clear(cb_pull_result_t *r) {
    cb_oci_descriptor_clear(&r->manifest);
    free(r->name);
    free(r->ref_digest);
    *r = (cb_pull_result_t){0};
}

/* The store's image for a parsed reference: 0 found, 1 not. */
static int find_local(const cb_store_t *store, const cb_ref_t *r, const cb_oci_platform_t *want,
                      cb_pull_result_t *out, cb_error_t **err) {
    cb_oci_descriptor_t d = {0};
    if (r->digest) {
        if (!cb_blob_exists(store, r->digest))
            return 1;
        cb_autofree char *data = NULL;
        size_t len = 0;
        if (cb_blob_read_all(store, r->digest, -1, CB_OCI_MAX_DOC_SIZE, &data, &len, err) < 0)
            return -1;
        cb_autojson json_t *j = json_loadb(data, len, 0, NULL);
        const char *target = r->digest;
        cb_autoindex cb_oci_index_t *idx = NULL;
        cb_autoerr cb_error_t *ignored = NULL;
        if (json_object_get(j, "manifests")) {
            if (cb_oci_index_decode(data, len, r->digest, NULL, &idx, &ignored) < 0)
                return 1;
            int k = cb_oci_index_pick_platform(idx, want, r->digest, &ignored);
            if (k < 0)
                return 1;
            target = idx->manifests[k].digest;
        }
        int f = cb_index_find_digest(store, target, &d, err);
        if (f != 0) {
            cb_oci_descriptor_clear(&d);
            return f;
        }
        out->ref_digest = cb_xstrdup(r->digest);
    } else {
        cb_autofree char *name = cb_ref_store_name(r);
        cb_autoerr cb_error_t *missing = NULL;
        if (cb_index_resolve(store, name, &d, &missing) < 0)
            return 1;
        if (d.has_platform && !cb_oci_platform_match(want, &d.platform)) {
            cb_oci_descriptor_clear(&d);
            return 1;
        }
        out->name = cb_steal_pointer(&name);
        out->ref_digest = cb_xstrdup(d.digest);
    }
    out->manifest = d;
    return 0;
}

/* A memory sink for small documents. */
typedef struct mem_sink {
    cb_buf_t b;
} mem_sink_t;

static int mem_write(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    mem_sink_t *m = ctx;
    if (m->b.len + n > CB_OCI_MAX_DOC_SIZE)
        return cb_error_kind_set(err, CB_ERR_INPUT, "document larger than %u bytes",
                                 CB_OCI_MAX_DOC_SIZE);
    cb_buf_add(&m->b, buf, n);
    return 0;
}

static int mem_restart(void *ctx, cb_error_t **err) {
    cb_buf_truncate(&((mem_sink_t *)ctx)->b, 0);
    return 0;
}

/* Layers fetched by a few threads; the first failure cancels the others. */
typedef struct fetch {
    cb_client_t *client;
    const cb_store_t *store;
    const cb_oci_descriptor_t *layers;
    size_t n;
    bool quiet;
    cb_meter_t *meter;
    atomic_int cancel;
    atomic_int fetched, present;
    cb_blob_writer_t **sealed; /* per layer: verified, not yet published */
} fetch_t;

/* libcurl hands a body over 16 KiB at a time (CURL_MAX_WRITE_SIZE,
 * whatever its receive buffer): gathered into SINK_BUF before they reach
 * the blob file, a layer takes a sixteenth of the write calls. */
#define SINK_BUF (256 * 1024)

typedef struct blob_sink {
    const cb_store_t *store;
    cb_blob_writer_t *w;
    cb_meter_t *meter;
    int64_t written; /* by this attempt, taken back from the meter on a restart */
    unsigned char *buf;
    size_t len;
} blob_sink_t;

static int sink_flush(blob_sink_t *s, cb_error_t **err) {
    size_t n = s->len;
    s->len = 0;
    return n ? cb_blob_write(s->w, s->buf, n, err) : 0;
}

static int blob_write(void *ctx, const void *buf, size_t n, cb_error_t **err) {
    blob_sink_t *s = ctx;
    s->written += (int64_t)n;
    cb_meter_moved(s->meter, (int64_t)n);
    if (s->len + n > SINK_BUF && sink_flush(s, err) < 0)
        return -1;
    if (n >= SINK_BUF)
        return cb_blob_write(s->w, buf, n, err);
    memcpy(s->buf + s->len, buf, n);
    s->len += n;
    return 0;
}

static int blob_restart(void *ctx, cb_error_t **err) {
    blob_sink_t *s = ctx;
    cb_meter_moved(s->meter, -s->written);
    s->written = 0;
    s->len = 0;
    cb_blob_abort(s->w);
    s->w = NULL;
    return cb_blob_begin(s->store, &s->w, err);
}

/* Downloads d into a new writer of the store: *w holds every byte, not yet
 * sealed; NULL after a failure. */
static int download(cb_client_t *c, const cb_store_t *store, const cb_oci_descriptor_t *d,
                    cb_meter_t *meter, const atomic_int *cancel, cb_blob_writer_t **w,
                    cb_error_t **err) {
    blob_sink_t s = {.store = store, .meter = meter, .buf = cb_xmalloc(SINK_BUF)};
    int rc = cb_blob_begin(store, &s.w, err);
    if (rc == 0)
        rc = cb_client_get_blob(c, d->digest, d->size, blob_write, blob_restart, &s, cancel, err);
    if (rc == 0)
        rc = sink_flush(&s, err);
    free(s.buf);
    if (rc < 0) {
        cb_blob_abort(s.w);
        s.w = NULL;
    }
    *w = s.w;
    return rc;
}

static int fetch_one(fetch_t *f, size_t i, cb_error_t **err) {
    const cb_oci_descriptor_t *d = &f->layers[i];
    if (cb_blob_exists(f->store, d->digest)) {
        f->present++;
        cb_meter_blob_done(f->meter, (uint64_t)d->size, true);
        if (!f->quiet)
            cb_info("pull", "Copying blob %s skipped: already exists", d->digest);
        return 0;
    }
    cb_blob_writer_t *w;
    if (download(f->client, f->store, d, f->meter, &f->cancel, &w, err) < 0)
        return -1;
    if (cb_blob_seal(w, d->digest, d->size, NULL, NULL, err) < 0) {
        cb_blob_abort(w);
        return cb_error_wrap(err, "%s: blob %s", cb_client_name(f->client), d->digest);
    }
    f->sealed[i] = w;
    f->fetched++;
    cb_meter_blob_done(f->meter, (uint64_t)d->size, false);
    if (!f->quiet)
        cb_info("pull", "Copying blob %s done (%lld bytes)", d->digest, (long long)d->size);
    return 0;
}

int cb_pull_fetch_blob(cb_client_t *c, const cb_store_t *store, const cb_oci_descriptor_t *d, cb_error_t **err) {
    if (cb_blob_exists(store, d->digest))
        return 0;
    cb_blob_writer_t *w;
    if (download(c, store, d, NULL, NULL, &w, err) < 0)
        return -1;
    return cb_blob_commit(w, d->digest, d->size, NULL, NULL, err);
}

static int fetch_item(void *ctx, size_t i, cb_error_t **err) {
    return fetch_one(ctx, i, err);
}

static int fetch_layers(cb_client_t *c, const cb_store_t *store, const char *refstr, const cb_oci_manifest_t *m,
                        const cb_pull_opts_t *o, cb_pull_result_t *out, cb_error_t **err) {
    fetch_t f = {.client = c, .store = store, .layers = m->layers, .n = m->nlayers,
                 .quiet = o->quiet, .sealed = cb_xcalloc(m->nlayers + 1, sizeof(cb_blob_writer_t *))};
    if (!o->quiet) {
        uint64_t total = 0;
        for (size_t i = 0; i < m->nlayers; i++)
            total += (uint64_t)m->layers[i].size;
        f.meter = cb_meter_start("pull", refstr);
        cb_meter_expect(f.meter, (unsigned)m->nlayers, total);
    }
    /* The first failure cancels the other downloads (cb_client_get_blob watches f.cancel). */
    int failed = cb_workers_run(m->nlayers, o->jobs > 0 ? (size_t)o->jobs : DEFAULT_JOBS, fetch_item, &f,
                                &f.cancel, err);
    out->blobs_fetched += f.fetched;
    out->blobs_present += f.present;
    /* Every layer verified: publish them all, or none when one failed. */
    int rc = failed;
    for (size_t i = 0; i < m->nlayers; i++) {
        if (!f.sealed[i])
            continue;
        if (rc < 0)
            cb_blob_abort(f.sealed[i]);
        else if (cb_blob_commit(f.sealed[i], NULL, -1, NULL, NULL, err) < 0)
            rc = -1;
    }
    free(f.sealed);
    cb_meter_end(f.meter, rc == 0);
    return rc;
}

int cb_pull_fetch_doc(cb_client_t *c, const cb_oci_descriptor_t *d, char **data, size_t *len,
                      cb_error_t **err) {
    mem_sink_t m = {CB_BUF_INIT};
    if (cb_client_get_blob(c, d->digest, d->size, mem_write, mem_restart, &m, NULL, err) < 0) {
        cb_buf_free(&m.b);
        return -1;
    }
    *len = m.b.len;
    *data = cb_buf_steal(&m.b);
    return 0;
}

/* A push to another repository of this registry can then mount these blobs
 * instead of uploading them; failing to record costs only that. */
static void record_sources(const char *root_dir, const cb_ref_t *r, const cb_oci_manifest_t *m) {
    for (size_t i = 0; i <= m->nlayers; i++) {
        const char *d = i < m->nlayers ? m->layers[i].digest : m->config.digest;
        cb_autoerr cb_error_t *e = NULL;
        if (cb_blob_source_add(root_dir, d, r->registry, r->repository, &e) < 0)
            cb_debug("pull", "recording where %s came from: %s", d, e->msg);
    }
}

static int pull_from(const cb_store_t *store, const cb_ref_t *r, const cb_pull_opts_t *o,
                     const cb_oci_platform_t *want, cb_pull_result_t *out, cb_error_t **err) {
    cb_autoclient cb_client_t *c = NULL;
    if (cb_client_open(&o->client, r, "pull", &c, err) < 0)
        return -1;
    cb_autofree char *refstr = cb_ref_string(r);
    cb_manifest_blob_t top = {0}, cur = {0};
    cb_automanifest cb_oci_manifest_t *m = NULL;
    cb_autoconfig cb_oci_config_t *cfg = NULL;
    cb_autofree char *cdata = NULL;
    cb_autofree char *cwhat = NULL;
    size_t clen = 0;
    int rc = -1;
    if (cb_client_get_manifest(c, cb_ref_manifest_ref(r), &top, err) < 0)
        goto out;
    out->ref_digest = cb_xstrdup(top.digest);
    bool by_platform = false;
    cur = top;
    top = (cb_manifest_blob_t){0};
    for (int depth = 0; cb_oci_is_index_type(cur.media_type); depth++) {
        cb_autoindex cb_oci_index_t *idx = NULL;
        if (depth == MAX_INDEX_DEPTH) {
            cb_error_kind_set(err, CB_ERR_INPUT, "%s: image indexes nested too deep", refstr);
            goto out;
        }
        if (cb_oci_index_decode(cur.data, cur.len, refstr, cur.media_type, &idx, err) < 0)
            goto out;
        int k = cb_oci_index_pick_platform(idx, want, refstr, err);
        if (k < 0)
            goto out;
        const cb_oci_descriptor_t *d = &idx->manifests[k];
        if (depth == 0)
            top = cur; /* kept (as served) once the image is in */
        else
            cb_manifest_blob_clear(&cur);
        cur = (cb_manifest_blob_t){0};
        cb_manifest_blob_t next = {0};
        if (cb_client_get_manifest(c, d->digest, &next, err) < 0)
            goto out;
        if (strcmp(next.media_type, d->media_type) != 0) {
            cb_error_kind_set(err, CB_ERR_INPUT, "%s: %s is a %s, the index said %s", refstr,
                              d->digest, next.media_type, d->media_type);
            cb_manifest_blob_clear(&next);
            goto out;
        }
        cur = next;
        by_platform = true;
    }
    if (!cb_oci_is_manifest_type(cur.media_type)) {
        cb_error_kind_set(err, CB_ERR_INPUT, "%s: %s is a %s, not an image", refstr, cur.digest,
                          cur.media_type);
        goto out;
    }
    if (cb_oci_manifest_decode(cur.data, cur.len, refstr, NULL, &m, err) < 0)
        goto out;
    for (size_t i = 0; i < m->nlayers; i++) {
        if (!cb_oci_is_layer_type(m->layers[i].media_type, NULL)) {
            cb_error_kind_set(err, CB_ERR_INPUT, "%s: layer %zu has media type %s, not a layer",
                              refstr, i + 1, m->layers[i].media_type);
            goto out;
        }
    }
    bool have_config = cb_blob_exists(store, m->config.digest);
    int got_config = have_config ? cb_blob_read_all(store, m->config.digest, m->config.size,
                                                     CB_OCI_MAX_DOC_SIZE, &cdata, &clen, err)
                                 : cb_pull_fetch_doc(c, &m->config, &cdata, &clen, err);
    if (got_config < 0)
        goto out;
    cwhat = cb_xasprintf("%s: config %s", refstr, m->config.digest);
    if (cb_oci_config_decode(cdata, clen, cwhat, &cfg, err) < 0)
        goto out;
    if (cfg->ndiff_ids != m->nlayers) {
        cb_error_kind_set(err, CB_ERR_INPUT, "%s: %zu layers but the config has %zu diff_ids",
                          refstr, m->nlayers, cfg->ndiff_ids);
        goto out;
    }
    if (!by_platform && !cb_oci_platform_match(want, &cfg->platform)) {
        cb_autofree char *w = cb_oci_platform_string(want);
        cb_autofree char *h = cb_oci_platform_string(&cfg->platform);
        cb_warn("pull", "image %s is for %s, not %s", refstr, h, w);
    }
    if (fetch_layers(c, store, refstr, m, o, out, err) < 0)
        goto out;
    /* Every layer is in: now the documents, and last the name. */
    if (!have_config && cb_blob_put(store, cdata, clen, NULL, err) < 0)
        goto out;
    if (cb_blob_put(store, cur.data, cur.len, NULL, err) < 0)
        goto out;
    /* The index too, so a pull by its digest finds it. */
    if (top.data && !cb_blob_exists(store, top.digest) &&
        cb_blob_put(store, top.data, top.len, NULL, err) < 0)
        goto out;
    cb_oci_descriptor_t *d = &out->manifest;
    d->media_type = cb_xstrdup(m->media_type);
    d->digest = cb_xstrdup(cur.digest);
    d->size = (int64_t)cur.len;
    d->has_platform = true;
    d->platform.os = cb_xstrdup(cfg->platform.os);
    d->platform.arch = cb_xstrdup(cfg->platform.arch);
    d->platform.variant = cfg->platform.variant ? cb_xstrdup(cfg->platform.variant) : NULL;
    if (r->tag) {
        out->name = cb_ref_store_name(r);
        if (cb_index_tag(store, out->name, d, err) < 0)
            goto out;
    } else if (cb_index_put(store, NULL, d, err) < 0) {
        goto out;
    }
    out->pulled = true;
    rc = 0;
    if (o->root_dir)
        record_sources(o->root_dir, r, m);
out:
    cb_manifest_blob_clear(&top);
    cb_manifest_blob_clear(&cur);
    return rc;
}

int cb_pull(const cb_store_t *store, const char *ref, const cb_pull_opts_t *o,
            cb_pull_result_t *out, cb_error_t **err) {
    cb_oci_platform_t def = {0};
    cb_oci_platform_default(&def);
    const cb_oci_platform_t *want = o->platform ? o->platform : &def;
    cb_autostrv cb_strv_t regs = CB_STRV_INIT;
    cb_autoref cb_ref_t first = {0};
    int rc = -1;
    cb_autobuf cb_buf_t tried = CB_BUF_INIT;
    if (cb_ref_parse(ref, o->default_registry, &first, err) < 0)
        goto out;
    if (first.short_name && !(o->default_registry && *o->default_registry)) {
        if (cb_ref_search_registries(o->registries_conf, &regs, err) < 0)
            goto out;
    }
    if (!regs.len)
        cb_strv_push(&regs, first.registry);

    cb_ref_t *cands = cb_xcalloc(regs.len, sizeof(*cands));
    for (size_t i = 0; i < regs.len; i++) {
        if (cb_ref_parse(ref, regs.items[i], &cands[i], err) < 0)
            goto free_cands;
    }
    if (o->policy != CB_PULL_ALWAYS) {
        for (size_t i = 0; i < regs.len; i++) {
            int f = find_local(store, &cands[i], want, out, err);
            if (f < 0)
                goto free_cands;
            if (f == 0) {
                rc = 0;
                goto free_cands;
            }
            cb_pull_result_clear(out);
        }
    }
    if (o->policy == CB_PULL_NEVER) {
        cb_autofree char *s = cb_ref_string(&cands[0]);
        cb_error_kind_set(err, CB_ERR_INPUT, "image %s not found in the local store (--pull=never)",
                          s);
        goto free_cands;
    }
    for (size_t i = 0; i < regs.len; i++) {
        cb_error_t *e = NULL;
        if (pull_from(store, &cands[i], o, want, out, &e) == 0) {
            rc = 0;
            goto free_cands;
        }
        cb_pull_result_clear(out);
        if (regs.len == 1) {
            *err = e;
            goto free_cands;
        }
        cb_autofree char *msg = cb_error_message(e);
        cb_buf_printf(&tried, "%s%s", tried.len ? "; " : "", msg);
        cb_error_free(e);
    }
    cb_error_kind_set(err, CB_ERR_INPUT, "%s: no search registry has it: %s", ref,
                      cb_buf_str(&tried));
free_cands:
    for (size_t i = 0; i < regs.len; i++)
        cb_ref_clear(&cands[i]);
    free(cands);
out:
    cb_oci_platform_clear(&def);
    return rc;
}
