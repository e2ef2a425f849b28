#include "cache/images.h"

#include <string.h>

#include "cache/blob.h"
#include "cache/index.h"
#include "cache/refname.h"
#include "common/util.h"

int cb_images_load(const cb_store_t *s, const cb_oci_descriptor_t *d, cb_oci_manifest_t **m,
                   cb_oci_config_t **cfg, cb_error_t **err) {
    cb_autofree char *mdata = NULL;
    cb_autofree char *cdata = NULL;
    size_t mlen, clen;
    cb_autofree char *mwhat = cb_xasprintf("manifest %s", d->digest);
    cb_automanifest cb_oci_manifest_t *man = NULL;
    if (cb_blob_read_all(s, d->digest, d->size, CB_OCI_MAX_DOC_SIZE, &mdata, &mlen, err) < 0 ||
        cb_oci_manifest_decode(mdata, mlen, mwhat, d->media_type, &man, err) < 0)
        return -1;
    cb_autofree char *cwhat = cb_xasprintf("config %s", man->config.digest);
    if (cb_blob_read_all(s, man->config.digest, man->config.size, CB_OCI_MAX_DOC_SIZE, &cdata,
                         &clen, err) < 0 ||
        cb_oci_config_decode(cdata, clen, cwhat, cfg, err) < 0)
        return -1;
    *m = cb_steal_pointer(&man);
    return 0;
}

int cb_images_list(const cb_store_t *s, cb_image_info_t **out, size_t *n, cb_error_t **err) {
    cb_index_entry_t *e = NULL;
    size_t count = 0;
    if (cb_index_list(s, &e, &count, err) < 0)
        return -1;
    cb_image_info_t *infos = cb_xcalloc(count + 1, sizeof *infos);
    size_t k = 0;
    int r = 0;
    for (size_t i = 0; i < count && r == 0; i++) {
        if (!cb_oci_is_manifest_type(e[i].desc.media_type))
            continue; /* a nested index some other tool put here */
        cb_oci_manifest_t *m = NULL;
        cb_oci_config_t *cfg = NULL;
        r = cb_images_load(s, &e[i].desc, &m, &cfg, err);
        if (r < 0) {
            cb_error_wrap(err, "image %s", e[i].name ? e[i].name : e[i].desc.digest);
            break;
        }
        cb_image_info_t *info = &infos[k++];
        info->name = e[i].name ? cb_xstrdup(e[i].name) : NULL;
        info->manifest_digest = cb_xstrdup(e[i].desc.digest);
        info->id = cb_xstrdup(m->config.digest);
        info->created = cfg->created ? cb_xstrdup(cfg->created) : NULL;
        info->size = e[i].desc.size + m->config.size;
        for (size_t l = 0; l < m->nlayers; l++)
            info->size += m->layers[l].size;
        cb_oci_manifest_free(m);
        cb_oci_config_free(cfg);
    }
    cb_index_entries_free(e, count);
    if (r < 0) {
        cb_image_infos_free(infos, k);
        return -1;
    }
    *out = infos;
    *n = k;
    return 0;
}

void cb_image_infos_free(cb_image_info_t *infos, size_t n) {
    if (infos == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(infos[i].name);
        free(infos[i].manifest_digest);
        free(infos[i].id);
        free(infos[i].created);
    }
    free(infos);
}

static bool id_prefix(const char *ref, const char **hex, size_t *len) {
    const char *h = cb_str_has_prefix(ref, "sha256:") ? ref + 7 : ref;
    size_t n = strlen(h);
    if (n < 4 || n > CB_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    *hex = h;
    *len = n;
    return true;
}

/* The manifest digests of images whose manifest digest or ID starts with hex. */
static int match_ids(const cb_store_t *s, const char *hex, size_t len, cb_strv_t *digests,
                     cb_error_t **err) {
    cb_image_info_t *infos = NULL;
    size_t n = 0;
    if (cb_images_list(s, &infos, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((strncmp(infos[i].manifest_digest + 7, hex, len) == 0 ||
             strncmp(infos[i].id + 7, hex, len) == 0) &&
            !cb_strv_contains(digests, infos[i].manifest_digest))
            cb_strv_push(digests, infos[i].manifest_digest);
    }
    cb_image_infos_free(infos, n);
    return 0;
}

static int find_by_id(const cb_store_t *s, const char *ref, cb_strv_t *digests,
                      cb_error_t **err) {
    const char *hex;
    size_t len;
    if (!id_prefix(ref, &hex, &len))
        return cb_error_set(err, 0, "no image named %s", ref);
    if (match_ids(s, hex, len, digests, err) < 0)
        return -1;
    if (digests->len == 0)
        return cb_error_set(err, 0, "no image named or with ID %s", ref);
    return 0;
}

int cb_images_find(const cb_store_t *s, const char *ref, cb_oci_descriptor_t *out,
                   cb_error_t **err) {
    cb_autoerr cb_error_t *name_err = NULL;
    if (cb_index_resolve(s, ref, out, &name_err) == 0)
        return 0;
    cb_autostrv cb_strv_t digests = CB_STRV_INIT;
    if (find_by_id(s, ref, &digests, err) < 0)
        return -1;
    if (digests.len > 1)
        return cb_error_set(err, 0, "image ID %s is ambiguous: %s, %s%s", ref, digests.items[0],
                            digests.items[1], digests.len > 2 ? ", ..." : "");
    cb_index_entry_t *e = NULL;
    size_t n = 0;
    if (cb_index_list(s, &e, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e[i].desc.digest, digests.items[0]) == 0) {
            cb_oci_descriptor_copy(out, &e[i].desc);
            break;
        }
    }
    cb_index_entries_free(e, n);
    return 0;
}

int cb_images_remove(const cb_store_t *s, const char *ref, cb_error_t **err) {
    cb_autoerr cb_error_t *name_err = NULL;
    if (cb_index_untag(s, ref, &name_err) == 0)
        return 0;
    cb_autostrv cb_strv_t digests = CB_STRV_INIT;
    if (find_by_id(s, ref, &digests, err) < 0)
        return -1;
    if (digests.len > 1)
        return cb_error_set(err, 0, "image ID %s is ambiguous: %s, %s%s", ref, digests.items[0],
                            digests.items[1], digests.len > 2 ? ", ..." : "");
    cb_index_entry_t *e = NULL;
    size_t n = 0;
    if (cb_index_list(s, &e, &n, err) < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (e[i].name && strcmp(e[i].desc.digest, digests.items[0]) == 0)
            r = cb_index_untag(s, e[i].name, err);
    }
    cb_index_entries_free(e, n);
    return r;
}
