#include "builder/image_config.h"

#include <jansson.h>
#include <string.h>

struct cb_image_config {
    json_t *root;
    /* ENTRYPOINT resets CMD only when CMD came from the base image. */
    bool cmd_set_in_stage;
    /* Triggers inherited from the base image, moved out of the config. */
    cb_strv_t inherited_onbuild;
};

static json_t *section(cb_image_config_t *cfg) {
    json_t *c = json_object_get(cfg->root, "config");
    if (!json_is_object(c)) {
        c = json_object();
        json_object_set_new(cfg->root, "config", c);
    }
    return c;
}

static const json_t *csection(const cb_image_config_t *cfg) {
    return json_object_get(cfg->root, "config");
}

static json_t *child_object(json_t *parent, const char *key) {
    json_t *o = json_object_get(parent, key);
    if (!json_is_object(o)) {
        o = json_object();
        json_object_set_new(parent, key, o);
    }
    return o;
}

static json_t *child_array(json_t *parent, const char *key) {
    json_t *a = json_object_get(parent, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(parent, key, a);
    }
    return a;
}

static json_t *strv_to_json(char *const *argv) {
    json_t *a = json_array();
    for (size_t i = 0; argv && argv[i]; i++)
        json_array_append_new(a, json_string(argv[i]));
    return a;
}

static void json_to_strv(const json_t *a, cb_strv_t *out) {
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v) {
        if (json_is_string(v))
            cb_strv_push(out, json_string_value(v));
    }
}

void cb_format_time(time_t t, char out[32]) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

cb_image_config_t *cb_image_config_new(const char *os, const char *arch, const char *variant) {
    cb_image_config_t *cfg = cb_xcalloc(1, sizeof *cfg);
    cfg->root = json_object();
    json_object_set_new(cfg->root, "architecture", json_string(arch ? arch : "amd64"));
    json_object_set_new(cfg->root, "os", json_string(os ? os : "linux"));
    if (variant && *variant)
        json_object_set_new(cfg->root, "variant", json_string(variant));
    json_object_set_new(cfg->root, "config", json_object());
    json_t *rootfs = json_object();
    json_object_set_new(rootfs, "type", json_string("layers"));
    json_object_set_new(rootfs, "diff_ids", json_array());
    json_object_set_new(cfg->root, "rootfs", rootfs);
    json_object_set_new(cfg->root, "history", json_array());
    return cfg;
}

int cb_image_config_parse(const char *data, size_t len, cb_image_config_t **out, cb_error_t **err) {
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (root == NULL)
        return cb_error_kind_set(err, CB_ERR_INPUT, "image config: invalid JSON at line %d column %d: %s",
                                 jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "os")) ||
        !json_is_string(json_object_get(root, "architecture"))) {
        json_decref(root);
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "image config: not an image config (needs \"os\" and \"architecture\")");
    }
    json_t *rootfs = json_object_get(root, "rootfs");
    if (rootfs != NULL && (!json_is_object(rootfs) ||
                           !json_is_array(json_object_get(rootfs, "diff_ids")))) {
        json_decref(root);
        return cb_error_kind_set(err, CB_ERR_INPUT, "image config: \"rootfs\" has no \"diff_ids\" array");
    }
    cb_image_config_t *cfg = cb_xcalloc(1, sizeof *cfg);
    cfg->root = root;
    if (rootfs == NULL) {
        rootfs = json_object();
        json_object_set_new(rootfs, "type", json_string("layers"));
        json_object_set_new(rootfs, "diff_ids", json_array());
        json_object_set_new(root, "rootfs", rootfs);
    }
    json_t *c = json_object_get(root, "config");
    json_t *onbuild = json_is_object(c) ? json_object_get(c, "OnBuild") : NULL;
    if (json_is_array(onbuild)) {
        json_to_strv(onbuild, &cfg->inherited_onbuild);
        json_object_del(c, "OnBuild");
    }
    *out = cfg;
    return 0;
}

cb_image_config_t *cb_image_config_clone(const cb_image_config_t *src) {
    cb_image_config_t *cfg = cb_xcalloc(1, sizeof *cfg);
    cfg->root = json_deep_copy(src->root);
    cfg->cmd_set_in_stage = src->cmd_set_in_stage;
    for (size_t i = 0; i < src->inherited_onbuild.len; i++)
        cb_strv_push(&cfg->inherited_onbuild, src->inherited_onbuild.items[i]);
    return cfg;
}

void cb_image_config_free(cb_image_config_t *cfg) {
    if (cfg == NULL)
        return;
    json_decref(cfg->root);
    cb_strv_free(&cfg->inherited_onbuild);
    free(cfg);
}

char *cb_image_config_serialize(const cb_image_config_t *cfg) {
    char *s = json_dumps(cfg->root, JSON_COMPACT | JSON_SORT_KEYS);
    if (s == NULL)
        abort(); /* jansson fails only on allocation failure */
    return s;
}

/* Env entries are "NAME=VALUE"; returns the index of name or -1. */
static ssize_t env_index(const json_t *env, const char *name) {
    size_t n = strlen(name), i;
    const json_t *v;
    json_array_foreach(env, i, v) {
        const char *s = json_string_value(v);
        if (s && strncmp(s, name, n) == 0 && (s[n] == '=' || s[n] == '\0'))
            return (ssize_t)i;
    }
    return -1;
}

void cb_image_config_set_env(cb_image_config_t *cfg, const char *name, const char *value) {
    json_t *env = child_array(section(cfg), "Env");
    char *entry = cb_xasprintf("%s=%s", name, value);
    ssize_t i = env_index(env, name);
    if (i >= 0)
        json_array_set_new(env, (size_t)i, json_string(entry));
    else
        json_array_append_new(env, json_string(entry));
    free(entry);
}

const char *cb_image_config_get_env(const cb_image_config_t *cfg, const char *name) {
    const json_t *env = json_object_get(csection(cfg), "Env");
    ssize_t i = env_index(env, name);
    if (i < 0)
        return NULL;
    const char *s = json_string_value(json_array_get(env, (size_t)i));
    const char *eq = strchr(s, '=');
    return eq ? eq + 1 : "";
}

void cb_image_config_env_list(const cb_image_config_t *cfg, cb_strv_t *out) {
    json_to_strv(json_object_get(csection(cfg), "Env"), out);
}

void cb_image_config_set_label(cb_image_config_t *cfg, const char *key, const char *value) {
    json_object_set_new(child_object(section(cfg), "Labels"), key, json_string(value));
}

int cb_image_config_expose(cb_image_config_t *cfg, const char *port, cb_error_t **err) {
    /* Docker accepts PORT, PORT/PROTO and PORT-PORT ranges; proto tcp|udp|sctp. */
    const char *slash = strchr(port, '/');
    size_t numlen = slash ? (size_t)(slash - port) : strlen(port);
    const char *proto = slash ? slash + 1 : "tcp";
    if (numlen == 0 || strspn(port, "0123456789-") != numlen || port[0] == '-' ||
        port[numlen - 1] == '-')
        return cb_error_kind_set(err, CB_ERR_INPUT, "EXPOSE: invalid port %s", port);
    char lower[8];
    size_t pl = strlen(proto);
    if (pl == 0 || pl >= sizeof lower)
        return cb_error_kind_set(err, CB_ERR_INPUT, "EXPOSE: invalid protocol in %s", port);
    for (size_t i = 0; i <= pl; i++)
        lower[i] = (char)((proto[i] >= 'A' && proto[i] <= 'Z') ? proto[i] + 32 : proto[i]);
    if (strcmp(lower, "tcp") && strcmp(lower, "udp") && strcmp(lower, "sctp"))
        return cb_error_kind_set(err, CB_ERR_INPUT, "EXPOSE: invalid protocol in %s (tcp, udp or sctp)", port);
    char *key = cb_xasprintf("%.*s/%s", (int)numlen, port, lower);
    json_object_set_new(child_object(section(cfg), "ExposedPorts"), key, json_object());
    free(key);
    return 0;
}

void cb_image_config_add_volume(cb_image_config_t *cfg, const char *path) {
    json_object_set_new(child_object(section(cfg), "Volumes"), path, json_object());
}

static void set_string(cb_image_config_t *cfg, const char *key, const char *value) {
    json_object_set_new(section(cfg), key, json_string(value));
}

static const char *get_string(const cb_image_config_t *cfg, const char *key) {
    return json_string_value(json_object_get(csection(cfg), key));
}

void cb_image_config_set_user(cb_image_config_t *cfg, const char *user) {
    set_string(cfg, "User", user);
}

const char *cb_image_config_get_user(const cb_image_config_t *cfg) {
    return get_string(cfg, "User");
}

void cb_image_config_set_workdir(cb_image_config_t *cfg, const char *dir) {
    set_string(cfg, "WorkingDir", dir);
}

const char *cb_image_config_get_workdir(const cb_image_config_t *cfg) {
    return get_string(cfg, "WorkingDir");
}

void cb_image_config_set_stopsignal(cb_image_config_t *cfg, const char *sig) {
    set_string(cfg, "StopSignal", sig);
}

void cb_image_config_set_author(cb_image_config_t *cfg, const char *author) {
    json_object_set_new(cfg->root, "author", json_string(author));
}

static void set_argv(cb_image_config_t *cfg, const char *key, char *const *argv) {
    if (argv == NULL)
        json_object_del(section(cfg), key);
    else
        json_object_set_new(section(cfg), key, strv_to_json(argv));
}

static void set_args_escaped(cb_image_config_t *cfg, bool shell_form) {
    /* Docker records that a shell-form command line was pre-joined. */
    if (shell_form)
        json_object_set_new(section(cfg), "ArgsEscaped", json_true());
    else
        json_object_del(section(cfg), "ArgsEscaped");
}

void cb_image_config_set_entrypoint(cb_image_config_t *cfg, char *const *argv, bool shell_form) {
    set_argv(cfg, "Entrypoint", argv);
    if (!cfg->cmd_set_in_stage)
        json_object_del(section(cfg), "Cmd");
    set_args_escaped(cfg, shell_form);
}

void cb_image_config_set_cmd(cb_image_config_t *cfg, char *const *argv, bool shell_form) {
    set_argv(cfg, "Cmd", argv);
    cfg->cmd_set_in_stage = true;
    set_args_escaped(cfg, shell_form);
}

void cb_image_config_get_cmd(const cb_image_config_t *cfg, cb_strv_t *out) {
    json_to_strv(json_object_get(csection(cfg), "Cmd"), out);
}

void cb_image_config_get_entrypoint(const cb_image_config_t *cfg, cb_strv_t *out) {
    json_to_strv(json_object_get(csection(cfg), "Entrypoint"), out);
}

void cb_image_config_set_shell(cb_image_config_t *cfg, char *const *argv) {
    set_argv(cfg, "Shell", argv);
}

void cb_image_config_get_shell(const cb_image_config_t *cfg, cb_strv_t *out) {
    const json_t *shell = json_object_get(csection(cfg), "Shell");
    if (json_is_array(shell) && json_array_size(shell) > 0) {
        json_to_strv(shell, out);
        return;
    }
    cb_strv_push(out, "/bin/sh");
    cb_strv_push(out, "-c");
}

void cb_image_config_set_healthcheck(cb_image_config_t *cfg, const cb_healthcheck_t *hc) {
    json_t *h = json_object();
    json_object_set_new(h, "Test", strv_to_json(hc->test));
    if (hc->interval_ns)
        json_object_set_new(h, "Interval", json_integer(hc->interval_ns));
    if (hc->timeout_ns)
        json_object_set_new(h, "Timeout", json_integer(hc->timeout_ns));
    if (hc->start_period_ns)
        json_object_set_new(h, "StartPeriod", json_integer(hc->start_period_ns));
    if (hc->start_interval_ns)
        json_object_set_new(h, "StartInterval", json_integer(hc->start_interval_ns));
    if (hc->retries)
        json_object_set_new(h, "Retries", json_integer(hc->retries));
    json_object_set_new(section(cfg), "Healthcheck", h);
}

void cb_image_config_add_onbuild(cb_image_config_t *cfg, const char *trigger) {
    json_array_append_new(child_array(section(cfg), "OnBuild"), json_string(trigger));
}

void cb_image_config_take_onbuild(cb_image_config_t *cfg, cb_strv_t *out) {
    for (size_t i = 0; i < cfg->inherited_onbuild.len; i++)
        cb_strv_push(out, cfg->inherited_onbuild.items[i]);
    cb_strv_free(&cfg->inherited_onbuild);
}

void cb_image_config_add_history(cb_image_config_t *cfg, const char *created_by, bool empty_layer,
                                 time_t created, const char *comment) {
    json_t *h = json_object();
    char ts[32];
    cb_format_time(created, ts);
    json_object_set_new(h, "created", json_string(ts));
    if (created_by)
        json_object_set_new(h, "created_by", json_string(created_by));
    if (comment)
        json_object_set_new(h, "comment", json_string(comment));
    if (empty_layer)
        json_object_set_new(h, "empty_layer", json_true());
    json_array_append_new(child_array(cfg->root, "history"), h);
}

void cb_image_config_add_layer(cb_image_config_t *cfg, const char *diff_id) {
    json_array_append_new(child_array(child_object(cfg->root, "rootfs"), "diff_ids"),
                          json_string(diff_id));
}

size_t cb_image_config_layer_count(const cb_image_config_t *cfg) {
    return json_array_size(json_object_get(json_object_get(cfg->root, "rootfs"), "diff_ids"));
}

const char *cb_image_config_layer(const cb_image_config_t *cfg, size_t i) {
    return json_string_value(
        json_array_get(json_object_get(json_object_get(cfg->root, "rootfs"), "diff_ids"), i));
}

void cb_image_config_set_created(cb_image_config_t *cfg, time_t created) {
    char ts[32];
    cb_format_time(created, ts);
    json_object_set_new(cfg->root, "created", json_string(ts));
}

static bool is_time(json_t *v, const char *ts) {
    const char *s = json_string_value(v);
    return s && strcmp(s, ts) == 0;
}

void cb_image_config_retime(cb_image_config_t *cfg, time_t from, time_t to) {
    char was[32], now[32];
    cb_format_time(from, was);
    cb_format_time(to, now);
    if (is_time(json_object_get(cfg->root, "created"), was))
        json_object_set_new(cfg->root, "created", json_string(now));
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(cfg->root, "history"), i, h) {
        if (is_time(json_object_get(h, "created"), was))
            json_object_set_new(h, "created", json_string(now));
    }
}

void cb_image_config_begin_stage(cb_image_config_t *cfg) {
    cfg->cmd_set_in_stage = false;
}

const char *cb_image_config_os(const cb_image_config_t *cfg) {
    return json_string_value(json_object_get(cfg->root, "os"));
}

const char *cb_image_config_arch(const cb_image_config_t *cfg) {
    return json_string_value(json_object_get(cfg->root, "architecture"));
}
