/* The image configuration a stage builds up, instruction by instruction.
 *
 * The JSON is the OCI image config with the Docker extensions that BuildKit
 * also writes into OCI-typed configs (Healthcheck, OnBuild, Shell,
 * ArgsEscaped): OCI consumers ignore unknown fields, and keeping them means
 * ONBUILD triggers and health checks survive whichever format is written.
 *
 * The serialised JSON is compact with sorted keys, so the same config gives
 * the same bytes (and digest) however it was built up.
 */
#ifndef CB_BUILDER_IMAGE_CONFIG_H
#define CB_BUILDER_IMAGE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "common/util.h"

typedef struct cb_image_config cb_image_config_t;

/* A config for FROM scratch: linux/amd64 (or the given platform), no layers. */
cb_image_config_t *cb_image_config_new(const char *os, const char *arch, const char *variant);
/* Parses a base image's config blob; the ONBUILD triggers it carries are
 * returned by cb_image_config_take_onbuild so the child build can run them. */
int cb_image_config_parse(const char *json, size_t len, cb_image_config_t **out, cb_error_t **err);
/* A deep copy (FROM <stage> starts from the stage's result). */
cb_image_config_t *cb_image_config_clone(const cb_image_config_t *cfg);
void cb_image_config_free(cb_image_config_t *cfg);
static inline void cb_image_config_freep(cb_image_config_t **p) {
    cb_image_config_free(*p);
}
#define cb_autoimage_config __attribute__((cleanup(cb_image_config_freep)))

/* Canonical JSON (compact, sorted keys); caller frees. */
char *cb_image_config_serialize(const cb_image_config_t *cfg);

/* Env keeps its order; setting an existing name replaces it in place. */
void cb_image_config_set_env(cb_image_config_t *cfg, const char *name, const char *value);
const char *cb_image_config_get_env(const cb_image_config_t *cfg, const char *name);
/* The whole Env as "K=V" strings, in order. */
void cb_image_config_env_list(const cb_image_config_t *cfg, cb_strv_t *out);

void cb_image_config_set_label(cb_image_config_t *cfg, const char *key, const char *value);
/* "80", "80/tcp", "53/udp": stored as "80/tcp" keys of ExposedPorts. */
int cb_image_config_expose(cb_image_config_t *cfg, const char *port, cb_error_t **err);
void cb_image_config_add_volume(cb_image_config_t *cfg, const char *path);
void cb_image_config_set_user(cb_image_config_t *cfg, const char *user);
const char *cb_image_config_get_user(const cb_image_config_t *cfg);
void cb_image_config_set_workdir(cb_image_config_t *cfg, const char *dir);
const char *cb_image_config_get_workdir(const cb_image_config_t *cfg);
void cb_image_config_set_stopsignal(cb_image_config_t *cfg, const char *sig);
void cb_image_config_set_author(cb_image_config_t *cfg, const char *author);

/* Docker's rule: an ENTRYPOINT set in this build drops a CMD inherited from
 * the base image (a CMD set earlier in the same stage stays). args_escaped
 * records the shell form, as Docker does. NULL argv clears the field. */
void cb_image_config_set_entrypoint(cb_image_config_t *cfg, char *const *argv, bool shell_form);
void cb_image_config_set_cmd(cb_image_config_t *cfg, char *const *argv, bool shell_form);
void cb_image_config_get_cmd(const cb_image_config_t *cfg, cb_strv_t *out);
void cb_image_config_get_entrypoint(const cb_image_config_t *cfg, cb_strv_t *out);
void cb_image_config_set_shell(cb_image_config_t *cfg, char *const *argv);
/* The SHELL for shell-form commands: the config's Shell, else /bin/sh -c. */
void cb_image_config_get_shell(const cb_image_config_t *cfg, cb_strv_t *out);

typedef struct cb_healthcheck {
    char *const *test; /* ["NONE"], ["CMD", ...] or ["CMD-SHELL", "..."] */
    int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns; /* 0 = default */
    int retries;                                                          /* 0 = default */
} cb_healthcheck_t;
void cb_image_config_set_healthcheck(cb_image_config_t *cfg, const cb_healthcheck_t *hc);

void cb_image_config_add_onbuild(cb_image_config_t *cfg, const char *trigger);
/* Moves the inherited triggers out (they run once, in the child, and are not
 * inherited further, as in Docker). */
void cb_image_config_take_onbuild(cb_image_config_t *cfg, cb_strv_t *out);

/* History and layers. created is seconds since the epoch. */
void cb_image_config_add_history(cb_image_config_t *cfg, const char *created_by, bool empty_layer,
                                 time_t created, const char *comment);
void cb_image_config_add_layer(cb_image_config_t *cfg, const char *diff_id);
size_t cb_image_config_layer_count(const cb_image_config_t *cfg);
const char *cb_image_config_layer(const cb_image_config_t *cfg, size_t i);
void cb_image_config_set_created(cb_image_config_t *cfg, time_t created);
/* Every time that is `from` (the image's created, history entries) becomes `to`. */
void cb_image_config_retime(cb_image_config_t *cfg, time_t from, time_t to);
/* Marks the start of a new build stage on this config: CMD now counts as
 * inherited for the ENTRYPOINT rule. */
void cb_image_config_begin_stage(cb_image_config_t *cfg);

const char *cb_image_config_os(const cb_image_config_t *cfg);
const char *cb_image_config_arch(const cb_image_config_t *cfg);

/* RFC 3339 in UTC, "2006-01-02T15:04:05Z"; out needs 21 bytes. */
void cb_format_time(time_t t, char out[32]);

#endif
