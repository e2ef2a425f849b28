#include "common/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define LINE_MAX_BYTES 4096

static cb_config_t loaded;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* The value after '=': quoted, or up to a " #" comment. NULL when a quote is unclosed. */
static char *value_of(char *v) {
    v = trim(v);
    if (*v == '"') {
        char *end = strchr(v + 1, '"');
        if (end == NULL || *trim(end + 1) != '\0')
            return NULL;
        *end = '\0';
        return v + 1;
    }
    for (char *p = v; *p; p++)
        if (*p == '#' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    return trim(v);
}

static int set_string(char **slot, const char *value, const char *const *allowed, const char *path, int line,
                      const char *key, cb_error_t **err) {
    if (*value == '\0')
        return cb_error_at(err, path, line, 0, "%s: empty value", key);
    if (allowed) {
        bool ok = false;
        cb_autobuf cb_buf_t list = CB_BUF_INIT;
        for (size_t i = 0; allowed[i]; i++) {
            ok |= strcmp(value, allowed[i]) == 0;
            cb_buf_printf(&list, "%s%s", i ? ", " : "", allowed[i]);
        }
        if (!ok)
            return cb_error_at(err, path, line, 0, "%s = %s: expected one of %s", key, value, cb_buf_str(&list));
    }
    *slot = cb_xstrdup(value);
    return 0;
}

static int set_key(cb_config_t *cfg, const char *key, const char *value, const char *path, int line,
                   cb_error_t **err) {
    static const char *const compressions[] = {"gzip", "zstd", "none", NULL};
    static const char *const networks[] = {"host", "none", NULL};
    char **slot = NULL;
    const char *const *allowed = NULL;
    if (strcmp(key, "root") == 0) {
        slot = &cfg->root;
    } else if (strcmp(key, "compression") == 0) {
        slot = &cfg->compression;
        allowed = compressions;
    } else if (strcmp(key, "network") == 0) {
        slot = &cfg->network;
        allowed = networks;
    } else if (strcmp(key, "default-registry") == 0) {
        slot = &cfg->default_registry;
    } else if (strcmp(key, "max-layer-size") == 0) {
        slot = &cfg->max_layer_size;
        if (!*slot)
            cfg->max_layer_size_line = line;
    } else if (strcmp(key, "jobs") == 0) {
        if (cfg->jobs)
            return cb_error_at(err, path, line, 0, "jobs is set twice");
        char *end = NULL;
        errno = 0;
        long n = strtol(value, &end, 10);
        if (*value == '\0' || *end || errno || n < 1 || n > 64)
            return cb_error_at(err, path, line, 0, "jobs = %s: expected a number from 1 to 64", value);
        cfg->jobs = (unsigned)n;
        return 0;
    } else {
        static const char *const keys[] = {"root", "compression", "jobs", "network", "default-registry",
                                           "max-layer-size"};
        const char *best = NULL;
        size_t best_d = 3;
        for (size_t i = 0; i < CB_ARRAY_LEN(keys); i++) {
            size_t d = cb_edit_distance(key, strlen(key), keys[i]);
            if (d < best_d) {
                best_d = d;
                best = keys[i];
            }
        }
        if (best)
            return cb_error_at(err, path, line, 0, "unknown key %s (did you mean %s?)", key, best);
        return cb_error_at(err, path, line, 0,
                           "unknown key %s (known: root, compression, jobs, network, default-registry, "
                           "max-layer-size)",
                           key);
    }
    if (*slot)
        return cb_error_at(err, path, line, 0, "%s is set twice", key);
    return set_string(slot, value, allowed, path, line, key, err);
}

int cb_config_parse_file(const char *path, cb_config_t *cfg, cb_error_t **err) {
    memset(cfg, 0, sizeof *cfg);
    cb_autofclose FILE *f = fopen(path, "re");
    if (f == NULL)
        return cb_error_set(err, errno, "open %s", path);
    char buf[LINE_MAX_BYTES];
    int line = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        size_t n = strlen(buf);
        if (n == sizeof buf - 1 && buf[n - 1] != '\n' && !feof(f)) {
            cb_config_clear(cfg);
            return cb_error_at(err, path, line, 0, "line longer than %d bytes", LINE_MAX_BYTES - 2);
        }
        char *s = trim(buf);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            cb_config_clear(cfg);
            return cb_error_at(err, path, line, 0, "expected key = value, got: %s", s);
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = value_of(eq + 1);
        int rc = 0;
        if (*key == '\0')
            rc = cb_error_at(err, path, line, 0, "a value without a key");
        else if (value == NULL)
            rc = cb_error_at(err, path, line, 0, "%s: unclosed quote", key);
        else
            rc = set_key(cfg, key, value, path, line, err);
        if (rc < 0) {
            cb_config_clear(cfg);
            return -1;
        }
    }
    if (ferror(f)) {
        cb_config_clear(cfg);
        return cb_error_set(err, errno ? errno : EIO, "read %s", path);
    }
    cfg->path = cb_xstrdup(path);
    return 0;
}

void cb_config_clear(cb_config_t *cfg) {
    free(cfg->path);
    free(cfg->root);
    free(cfg->compression);
    free(cfg->network);
    free(cfg->default_registry);
    free(cfg->max_layer_size);
    memset(cfg, 0, sizeof *cfg);
}

char *cb_config_default_path(void) {
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg == '/')
        return cb_xasprintf("%s/cbuild/cbuild.conf", xdg);
    const char *home = getenv("HOME");
    if (home && *home)
        return cb_xasprintf("%s/.config/cbuild/cbuild.conf", home);
    return NULL;
}

int cb_config_load(cb_error_t **err) {
    cb_config_clear(&loaded);
    cb_autofree char *path = cb_config_default_path();
    if (path == NULL)
        return 0;
    cb_autoerr cb_error_t *why = NULL;
    if (cb_config_parse_file(path, &loaded, &why) < 0) {
        if (why->kind == CB_ERR_SYSTEM && why->status == ENOENT)
            return 0;
        *err = cb_steal_pointer(&why);
        return -1;
    }
    return 0;
}

const cb_config_t *cb_config(void) {
    return &loaded;
}

const char *cb_config_default_registry(void) {
    return loaded.default_registry;
}
