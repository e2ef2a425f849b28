/* Credentials in auth files, as podman, buildah and docker keep them:
 *
 *   {"auths": {"registry.example:5000": {"auth": base64("user:password")}}}
 *
 * Reading (cb_authfile_lookup): the --authfile when given, else each of
 * $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
 * ~/.config/containers/auth.json and ~/.docker/config.json that exists, in
 * that order; the first with an entry for the registry wins. An entry's key
 * may be the bare host[:port] or a URL form ("https://host/v1/"); docker.io
 * also matches "https://index.docker.io/v1/". Other fields of the files are
 * never touched.
 *
 * Writing (cbuild login/logout): the --authfile, else $REGISTRY_AUTH_FILE,
 * else ${XDG_RUNTIME_DIR}/containers/auth.json, else
 * ~/.config/containers/auth.json. The file is replaced atomically with mode
 * 0600 (its directory made 0700 when missing); the rest of its JSON is kept.
 */
#ifndef CB_PUSH_AUTHFILE_H
#define CB_PUSH_AUTHFILE_H

#include "common/error.h"
#include "push/auth.h"

/* 0 and *out filled when found, 1 when no file has the registry. */
int cb_authfile_lookup(const char *authfile, const char *registry, cb_creds_t *out,
                       cb_error_t **err);
/* The file login writes; caller frees. NULL with an error when neither
 * XDG_RUNTIME_DIR nor HOME is set. */
int cb_authfile_path(const char *authfile, char **out, cb_error_t **err);
int cb_authfile_store(const char *authfile, const char *registry, const cb_creds_t *c,
                      cb_error_t **err);
/* 0 when removed, 1 when the file had no entry for the registry. */
int cb_authfile_remove(const char *authfile, const char *registry, cb_error_t **err);

#endif
