/* The user's defaults: ${XDG_CONFIG_HOME:-~/.config}/cbuild/cbuild.conf.
 *
 *   # comment
 *   root = /srv/cbuild
 *   compression = zstd        # gzip | zstd | none
 *   jobs = 4                  # 1..64
 *   network = none            # host | none
 *   default-registry = registry.example.com
 *   max-layer-size = 32GB     # a layer's uncompressed bytes; 0: no limit
 *
 * One `key = value` per line; blank lines and lines starting with '#' are
 * ignored, as is a " #" comment after a value; a value may be in double
 * quotes (then '#' is literal). An unknown key, a repeated key, a line
 * without '=' or a bad value is an error at FILE:LINE. The command line
 * wins over the file, and $CBUILD_ROOT over its root. */
#ifndef CB_CONFIG_H
#define CB_CONFIG_H

#include "common/error.h"

typedef struct cb_config {
    char *path;             /* the file read, NULL when there was none */
    char *root;
    char *compression;      /* "gzip", "zstd" or "none" */
    unsigned jobs;          /* 0: not set */
    char *network;          /* "host" or "none" */
    char *default_registry; /* for pulls and pushes of short names */
    char *max_layer_size;   /* as written; the builder parses it (cb_build_max_layer_size) */
    int max_layer_size_line;
} cb_config_t;

/* Parses one file into *cfg (zeroed first); a missing file is an error. */
int cb_config_parse_file(const char *path, cb_config_t *cfg, cb_error_t **err);
void cb_config_clear(cb_config_t *cfg);

/* The path the process reads: $XDG_CONFIG_HOME/cbuild/cbuild.conf, else
 * $HOME/.config/cbuild/cbuild.conf; NULL without either; caller frees. */
char *cb_config_default_path(void);
/* Loads the default file once per process (a missing one is no error). */
int cb_config_load(cb_error_t **err);
/* The loaded configuration (empty before cb_config_load or without a file). */
const cb_config_t *cb_config(void);
/* default-registry, or NULL when the file sets none. */
const char *cb_config_default_registry(void);

#endif
