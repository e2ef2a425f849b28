/* Image references as Docker parses them (distribution's reference package):
 *
 *   [registry[:port]/]path[/path...][:tag][@sha256:<64 hex>]
 *
 * The first component is a registry when it has a "." or ":", is
 * "localhost", or has an upper-case letter; otherwise the reference is a
 * short name and takes the default registry. On docker.io a one-component
 * path gets "library/", and "index.docker.io" is docker.io. The path must be
 * lower case; tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; the name is at most
 * 255 characters. With neither tag nor digest the tag is "latest"; with both,
 * the digest decides what is pulled. Errors name the reference.
 *
 * Short names: --default-registry R wins; else the first entry of
 * registries.conf's unqualified-search-registries (cb_ref_search_registries);
 * else docker.io. A caller that tries every search registry in turn parses
 * the name once per registry with cb_ref_parse.
 */
#ifndef CB_PUSH_REFERENCE_H
#define CB_PUSH_REFERENCE_H

#include <stdbool.h>

#include "common/error.h"
#include "common/util.h"

#define CB_REF_DOCKER_HUB "docker.io"

typedef struct cb_ref {
    char *registry;   /* "docker.io", "localhost:5000", "[::1]:5000" */
    char *repository; /* "library/debian" */
    char *tag;        /* "latest" when the reference had neither tag nor digest; NULL
                         when it had only a digest */
    char *digest;     /* "sha256:<hex>" or NULL */
    bool short_name;  /* no registry was written; `registry` is the default */
} cb_ref_t;

/* Parses s; short names go to default_registry (NULL: docker.io). *out is
 * filled only on success; cb_ref_clear it. */
int cb_ref_parse(const char *s, const char *default_registry, cb_ref_t *out, cb_error_t **err);
void cb_ref_clear(cb_ref_t *r);
static inline void cb_ref_clearp(cb_ref_t *r) {
    cb_ref_clear(r);
}
#define cb_autoref __attribute__((cleanup(cb_ref_clearp)))

/* "registry/repository[:tag][@digest]", the fully qualified form. */
char *cb_ref_string(const cb_ref_t *r);
/* "registry/repository:tag", or "registry/repository@digest" without a tag:
 * the name a pulled image gets in the local store. */
char *cb_ref_store_name(const cb_ref_t *r);
/* The tag or digest to ask the registry's manifest endpoint for. */
const char *cb_ref_manifest_ref(const cb_ref_t *r);
/* The host[:port] to connect to: docker.io is served by registry-1.docker.io. */
const char *cb_ref_api_host(const cb_ref_t *r);

/* unqualified-search-registries from the registries.conf that applies:
 * $CONTAINERS_REGISTRIES_CONF, else ~/.config/containers/registries.conf,
 * else /etc/containers/registries.conf (conf_path, when not NULL, replaces
 * the lookup). An absent file or key leaves out empty. */
int cb_ref_search_registries(const char *conf_path, cb_strv_t *out, cb_error_t **err);
/* The same from registries.conf text; `what` names it in errors. */
int cb_ref_search_registries_parse(const char *text, const char *what, cb_strv_t *out,
                                   cb_error_t **err);

#endif
