/* OCI (and Docker schema2) JSON models: descriptors, image manifests, image
 * indexes and image configs, decoded with validation and encoded canonically.
 *
 * Decoding checks what a reader of the document relies on: schemaVersion 2,
 * a known mediaType, "sha256:<64 hex>" digests, non-negative sizes and the
 * required fields. A failure names the document (the `what` argument, usually
 * its digest or file name) and the field.
 *
 * Canonical encoding: jansson with JSON_COMPACT | JSON_SORT_KEYS. This is not
 * byte-for-byte what Go tools emit (they keep struct field order), but a
 * digest only has to be stable: the same model always gives the same bytes.
 * Documents read from elsewhere are never re-encoded; their bytes are kept so
 * that their digests do not change.
 */
#ifndef CB_CACHE_OCI_H
#define CB_CACHE_OCI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CB_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CB_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define CB_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define CB_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define CB_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define CB_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define CB_MT_OCI_LAYER_ND "application/vnd.oci.image.layer.nondistributable.v1.tar"
#define CB_MT_OCI_LAYER_ND_GZIP "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
#define CB_MT_OCI_LAYER_ND_ZSTD "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
#define CB_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define CB_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define CB_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define CB_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define CB_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define CB_MT_DOCKER_LAYER_ZSTD "application/vnd.docker.image.rootfs.diff.tar.zstd"
#define CB_MT_DOCKER_FOREIGN_GZIP "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

#define CB_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define CB_ANNOTATION_CREATED "org.opencontainers.image.created"

/* JSON documents (manifests, configs, indexes) larger than this are refused:
 * they are read into memory, and no real one comes close. */
#define CB_OCI_MAX_DOC_SIZE (8u << 20)

typedef enum {
    CB_LAYER_COMP_NONE,
    CB_LAYER_COMP_GZIP,
    CB_LAYER_COMP_ZSTD,
} cb_layer_comp_t;

bool cb_oci_is_manifest_type(const char *mt); /* OCI or Docker image manifest */
bool cb_oci_is_index_type(const char *mt);    /* OCI index or Docker manifest list */
bool cb_oci_is_config_type(const char *mt);
/* A known layer media type; *comp (if not NULL) gets its compression. */
bool cb_oci_is_layer_type(const char *mt, cb_layer_comp_t *comp);

typedef struct cb_oci_platform {
    char *os;
    char *arch;
    char *variant; /* NULL when absent */
} cb_oci_platform_t;

/* "os/arch[/variant]"; "x86_64" and "aarch64" are taken as amd64 and arm64. */
int cb_oci_platform_parse(const char *s, cb_oci_platform_t *out, cb_error_t **err);
/* linux/amd64, the default platform. */
void cb_oci_platform_default(cb_oci_platform_t *out);
/* A candidate matches when os and arch are equal and, if want has a variant,
 * the variants are equal (arm64's "v8" and no variant count as the same). */
bool cb_oci_platform_match(const cb_oci_platform_t *want, const cb_oci_platform_t *have);
void cb_oci_platform_clear(cb_oci_platform_t *p);
char *cb_oci_platform_string(const cb_oci_platform_t *p); /* caller frees */

typedef struct cb_oci_descriptor {
    char *media_type;
    char *digest;
    int64_t size;
    bool has_platform;
    cb_oci_platform_t platform;
    json_t *annotations; /* an object of strings, or NULL */
} cb_oci_descriptor_t;

/* Decodes a descriptor object; `what` names it in errors ("layer 2"). */
int cb_oci_descriptor_decode(const json_t *j, const char *what, cb_oci_descriptor_t *out,
                             cb_error_t **err);
json_t *cb_oci_descriptor_encode(const cb_oci_descriptor_t *d);
void cb_oci_descriptor_clear(cb_oci_descriptor_t *d);
void cb_oci_descriptor_copy(cb_oci_descriptor_t *dst, const cb_oci_descriptor_t *src);
/* The annotation's value or NULL. */
const char *cb_oci_descriptor_annotation(const cb_oci_descriptor_t *d, const char *key);
void cb_oci_descriptor_set_annotation(cb_oci_descriptor_t *d, const char *key, const char *value);

typedef struct cb_oci_manifest {
    char *media_type; /* the document's mediaType; OCI when it had none */
    cb_oci_descriptor_t config;
    cb_oci_descriptor_t *layers;
    size_t nlayers;
    json_t *annotations; /* object or NULL */
} cb_oci_manifest_t;

/* Decodes an image manifest. expected_type (may be NULL) is the mediaType the
 * referring descriptor announced; a document that says otherwise is refused. */
int cb_oci_manifest_decode(const char *json, size_t len, const char *what,
                           const char *expected_type, cb_oci_manifest_t **out, cb_error_t **err);
/* Canonical bytes; *len gets the length; caller frees. */
char *cb_oci_manifest_encode(const cb_oci_manifest_t *m, size_t *len);
void cb_oci_manifest_free(cb_oci_manifest_t *m);

typedef struct cb_oci_index {
    char *media_type; /* OCI index when the document had none */
    cb_oci_descriptor_t *manifests;
    size_t nmanifests;
} cb_oci_index_t;

int cb_oci_index_decode(const char *json, size_t len, const char *what, const char *expected_type,
                        cb_oci_index_t **out, cb_error_t **err);
/* Index of the manifest entry for the platform, or -1 with an error listing
 * the platforms on offer. Entries without a platform are skipped. */
int cb_oci_index_pick_platform(const cb_oci_index_t *idx, const cb_oci_platform_t *want,
                               const char *what, cb_error_t **err);
void cb_oci_index_free(cb_oci_index_t *idx);

typedef struct cb_oci_config {
    cb_oci_platform_t platform;
    char *created; /* RFC 3339 or NULL */
    char **diff_ids;
    size_t ndiff_ids;
    json_t *root; /* the whole document */
} cb_oci_config_t;

int cb_oci_config_decode(const char *json, size_t len, const char *what, cb_oci_config_t **out,
                         cb_error_t **err);
void cb_oci_config_free(cb_oci_config_t *c);

/* Parses JSON text into an object, naming `what` and the line:column on error. */
int cb_oci_json_parse(const char *json, size_t len, const char *what, json_t **out,
                      cb_error_t **err);
/* JSON_COMPACT | JSON_SORT_KEYS; caller frees. */
char *cb_oci_json_canonical(const json_t *j, size_t *len);

static inline void cb_oci_manifest_freep(cb_oci_manifest_t **p) {
    cb_oci_manifest_free(*p);
}
static inline void cb_oci_index_freep(cb_oci_index_t **p) {
    cb_oci_index_free(*p);
}
static inline void cb_oci_config_freep(cb_oci_config_t **p) {
    cb_oci_config_free(*p);
}
#define cb_automanifest __attribute__((cleanup(cb_oci_manifest_freep)))
#define cb_autoindex __attribute__((cleanup(cb_oci_index_freep)))
#define cb_autoconfig __attribute__((cleanup(cb_oci_config_freep)))

static inline void cb_json_decrefp(json_t **j) {
    if (*j)
        json_decref(*j);
}
#define cb_autojson __attribute__((cleanup(cb_json_decrefp)))

#endif
