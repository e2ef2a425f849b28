/* RUN --mount specifications: a CSV record of key=value fields. */
#include "parser/mount.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

static const char *const type_names[] = {"bind", "cache", "tmpfs", "secret", "ssh"};
static const char *const sharing_names[] = {"", "shared", "private", "locked"};

const char *cb_mount_type_name(cb_mount_type_t t) {
    return (size_t)t < CB_ARRAY_LEN(type_names) ? type_names[t] : "?";
}

const char *cb_mount_sharing_name(cb_mount_sharing_t s) {
    return (size_t)s < CB_ARRAY_LEN(sharing_names) ? sharing_names[s] : "?";
}

void cb_mount_clear(cb_mount_t *m) {
    free(m->target);
    free(m->source);
    free(m->from);
    free(m->id);
    free(m->env);
    memset(m, 0, sizeof *m);
    m->mode = m->uid = m->gid = -1;
}

/* One CSV record as Go's encoding/csv reads it: a field may be wrapped in
 * double quotes (then commas are literal and "" is a quote); a quote inside
 * an unquoted field is an error. */
static int split_csv(const char *s, cb_strv_t *out, cb_error_t **err) {
    cb_autobuf cb_buf_t field = CB_BUF_INIT;
    for (;;) {
        cb_buf_truncate(&field, 0);
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0')
                    return cb_error_set(err, 0, "invalid mount: unterminated quote");
                if (*s == '"' && s[1] == '"') {
                    cb_buf_putc(&field, '"');
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    cb_buf_putc(&field, *s++);
                }
            }
            if (*s != ',' && *s != '\0')
                return cb_error_set(err, 0, "invalid mount: extraneous character after quoted field");
        } else {
            while (*s && *s != ',') {
                if (*s == '"')
                    return cb_error_set(err, 0, "invalid mount: bare \" in unquoted field");
                cb_buf_putc(&field, *s++);
            }
        }
        cb_strv_push(out, cb_buf_str(&field));
        if (*s == '\0')
            return 0;
        s++; /* the comma */
    }
}

char *cb_mount_spec_value(const char *spec, const char *key) {
    cb_autostrv cb_strv_t fields = CB_STRV_INIT;
    cb_autoerr cb_error_t *err = NULL;
    if (split_csv(spec, &fields, &err) < 0)
        return NULL;
    size_t klen = strlen(key);
    char *found = NULL;
    for (size_t i = 0; i < fields.len; i++)
        if (strncasecmp(fields.items[i], key, klen) == 0 && fields.items[i][klen] == '=') {
            free(found);
            found = cb_xstrdup(fields.items[i] + klen + 1);
        }
    return found;
}

static int parse_type(const char *v, cb_mount_type_t *out, cb_error_t **err) {
    for (size_t i = 0; i < CB_ARRAY_LEN(type_names); i++)
        if (strcasecmp(v, type_names[i]) == 0) {
            *out = (cb_mount_type_t)i;
            return 0;
        }
    return cb_error_set(err, 0, "unsupported mount type \"%s\" (bind, cache, tmpfs, secret or ssh)", v);
}

static int parse_bool(const char *key, const char *v, bool *out, cb_error_t **err) {
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < CB_ARRAY_LEN(yes); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return cb_error_set(err, 0, "invalid value for %s: %s", key, v);
}

static int parse_uint(const char *key, const char *v, int base, int64_t *out, cb_error_t **err) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, base);
    if (*v == '\0' || *v == '-' || *v == '+' || isspace((unsigned char)*v) || *end != '\0' ||
        errno != 0 || n > UINT32_MAX)
        return cb_error_set(err, 0, "invalid value %s for %s", v, key);
    *out = (int64_t)n;
    return 0;
}

/* docker/go-units RAMInBytes: "64m", "1.5GiB", "512" (bytes), binary units. */
static int parse_size(const char *v, int64_t *out, cb_error_t **err) {
    char *end = NULL;
    if (!isdigit((unsigned char)*v))
        goto bad;
    errno = 0;
    double n = strtod(v, &end);
    if (errno != 0)
        goto bad;
    if (*end == ' ')
        end++;
    double mult = 1;
    const char *units = "kmgtp";
    if (*end && strchr(units, tolower((unsigned char)*end))) {
        for (const char *u = units; *u; u++) {
            mult *= 1024;
            if (*u == tolower((unsigned char)*end))
                break;
        }
        end++;
    }
    if (*end == 'i' || *end == 'I')
        end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0' || n * mult > 9.2e18)
        goto bad;
    *out = (int64_t)(n * mult);
    return 0;
bad:
    return cb_error_set(err, 0, "invalid value for size: %s", v);
}

static const char *const known_keys[] = {
    "type", "from", "source", "src", "target", "dst", "destination", "readonly", "ro", "readwrite",
    "rw", "required", "id", "sharing", "mode", "uid", "gid", "size", "env",
};

static bool known_key(const char *k) {
    for (size_t i = 0; i < CB_ARRAY_LEN(known_keys); i++)
        if (strcmp(k, known_keys[i]) == 0)
            return true;
    return false;
}

static bool is_bare_key(const char *k) {
    return strcmp(k, "readonly") == 0 || strcmp(k, "ro") == 0 || strcmp(k, "readwrite") == 0 ||
           strcmp(k, "rw") == 0 || strcmp(k, "required") == 0;
}

int cb_mount_check(const char *spec, cb_error_t **err) {
    cb_autostrv cb_strv_t fields = CB_STRV_INIT;
    if (split_csv(spec, &fields, err) < 0)
        return -1;
    for (size_t i = 0; i < fields.len; i++) {
        const char *f = fields.items[i];
        const char *eq = strchr(f, '=');
        cb_autofree char *key = eq ? cb_xstrndup(f, (size_t)(eq - f)) : cb_xstrdup(f);
        for (char *p = key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (!known_key(key))
            return cb_error_set(err, 0, "unexpected key '%s' in '%s'", key, f);
        if (!eq && !is_bare_key(key))
            return cb_error_set(err, 0, "invalid field '%s' must be a key=value pair", f);
        if (eq && strcmp(key, "type") == 0 && !strchr(eq + 1, '$')) {
            cb_mount_type_t t;
            if (parse_type(eq + 1, &t, err) < 0)
                return -1;
        }
        /* from= names a stage or image; BuildKit resolves stages before any
         * variable is known, so it refuses variables here. */
        if (eq && strcmp(key, "from") == 0 && strchr(eq + 1, '$'))
            return cb_error_set(err, 0,
                                "'from' doesn't support variable expansion, define alias stage instead");
    }
    return 0;
}

static int set_field(cb_mount_t *m, const char *key, const char *v, bool *ro_auto,
                     cb_error_t **err) {
    if (strcmp(key, "type") == 0)
        return parse_type(v, &m->type, err);
    char **slot = NULL;
    if (strcmp(key, "from") == 0)
        slot = &m->from;
    else if (strcmp(key, "source") == 0 || strcmp(key, "src") == 0)
        slot = &m->source;
    else if (strcmp(key, "target") == 0 || strcmp(key, "dst") == 0 || strcmp(key, "destination") == 0)
        slot = &m->target;
    else if (strcmp(key, "id") == 0)
        slot = &m->id;
    else if (strcmp(key, "env") == 0)
        slot = &m->env;
    if (slot) {
        free(*slot);
        *slot = cb_xstrdup(v);
        return 0;
    }
    if (strcmp(key, "readonly") == 0 || strcmp(key, "ro") == 0) {
        *ro_auto = false;
        return parse_bool(key, v, &m->readonly, err);
    }
    if (strcmp(key, "readwrite") == 0 || strcmp(key, "rw") == 0) {
        bool rw;
        if (parse_bool(key, v, &rw, err) < 0)
            return -1;
        m->readonly = !rw;
        *ro_auto = false;
        return 0;
    }
    if (strcmp(key, "required") == 0) {
        if (m->type != CB_MOUNT_SECRET && m->type != CB_MOUNT_SSH)
            return cb_error_set(err, 0, "unexpected key 'required' for mount type '%s'",
                                cb_mount_type_name(m->type));
        return parse_bool(key, v, &m->required, err);
    }
    if (strcmp(key, "size") == 0) {
        if (m->type != CB_MOUNT_TMPFS)
            return cb_error_set(err, 0, "unexpected key 'size' for mount type '%s'",
                                cb_mount_type_name(m->type));
        return parse_size(v, &m->size, err);
    }
    if (strcmp(key, "sharing") == 0) {
        for (size_t i = 1; i < CB_ARRAY_LEN(sharing_names); i++)
            if (strcasecmp(v, sharing_names[i]) == 0) {
                m->sharing = (cb_mount_sharing_t)i;
                return 0;
            }
        return cb_error_set(err, 0, "unsupported sharing value \"%s\" (shared, private or locked)", v);
    }
    if (strcmp(key, "mode") == 0)
        return parse_uint(key, v, 8, &m->mode, err);
    if (strcmp(key, "uid") == 0)
        return parse_uint(key, v, 10, &m->uid, err);
    if (strcmp(key, "gid") == 0)
        return parse_uint(key, v, 10, &m->gid, err);
    return cb_error_set(err, 0, "unexpected key '%s'", key);
}

static const char *base_name(const char *p) {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    const char *s = p + n;
    while (s > p && s[-1] != '/')
        s--;
    return s;
}

/* The rules BuildKit applies once every value is known, and its defaults. */
static int validate(cb_mount_t *m, bool ro_auto, cb_error_t **err) {
    bool file_info = m->type == CB_MOUNT_SECRET || m->type == CB_MOUNT_SSH || m->type == CB_MOUNT_CACHE;
    if (!file_info && (m->mode >= 0 || m->uid >= 0 || m->gid >= 0))
        return cb_error_set(err, 0, "%s not allowed for \"%s\" type mounts",
                            m->mode >= 0 ? "mode" : m->uid >= 0 ? "uid" : "gid",
                            cb_mount_type_name(m->type));
    if (ro_auto)
        m->readonly = !(m->type == CB_MOUNT_CACHE || m->type == CB_MOUNT_TMPFS);
    if (m->sharing != CB_SHARING_DEFAULT && m->type != CB_MOUNT_CACHE)
        return cb_error_set(err, 0, "invalid cache sharing set for %s mount", cb_mount_type_name(m->type));
    if (m->env && m->type != CB_MOUNT_SECRET)
        return cb_error_set(err, 0, "unexpected key 'env' for mount type '%s'", cb_mount_type_name(m->type));
    if ((m->type == CB_MOUNT_TMPFS || m->type == CB_MOUNT_SECRET || m->type == CB_MOUNT_SSH) && m->from)
        return cb_error_set(err, 0, "%s mount should not have a from", cb_mount_type_name(m->type));
    switch (m->type) {
    case CB_MOUNT_BIND:
    case CB_MOUNT_TMPFS:
        break;
    case CB_MOUNT_CACHE:
        if (m->sharing == CB_SHARING_DEFAULT)
            m->sharing = CB_SHARING_SHARED;
        if (!m->id && m->target)
            m->id = cb_xstrdup(m->target);
        break;
    case CB_MOUNT_SECRET:
        if (m->source && m->id)
            return cb_error_set(err, 0, "both source and id can't be set");
        if (m->source) { /* for secrets, source is another name for id */
            m->id = m->source;
            m->source = NULL;
        }
        if (!m->id) {
            if (!m->target)
                return cb_error_set(err, 0, "invalid secret mount. one of source, target required");
            m->id = cb_xstrdup(base_name(m->target));
        }
        if (!m->target && !m->env)
            m->target = cb_xasprintf("/run/secrets/%s", base_name(m->id));
        break;
    case CB_MOUNT_SSH:
        if (!m->id)
            m->id = cb_xstrdup("default");
        break;
    }
    if (!m->target && m->type != CB_MOUNT_SSH && m->type != CB_MOUNT_SECRET)
        return cb_error_set(err, 0, "mount type %s needs a target", cb_mount_type_name(m->type));
    if (m->target && m->target[0] == '\0')
        return cb_error_set(err, 0, "mount target is empty");
    return 0;
}

int cb_mount_parse(const char *spec, cb_mount_expand_fn expand, void *ctx, cb_mount_t *out,
                   cb_error_t **err) {
    cb_mount_t m;
    memset(&m, 0, sizeof m);
    m.mode = m.uid = m.gid = -1;
    cb_autostrv cb_strv_t fields = CB_STRV_INIT;
    bool ro_auto = true;
    if (split_csv(spec, &fields, err) < 0)
        goto fail;
    /* The type decides which keys are valid, wherever it is written. */
    for (size_t i = 0; i < fields.len; i++) {
        const char *f = fields.items[i];
        if (strncasecmp(f, "type=", 5) != 0)
            continue;
        cb_autofree char *v = NULL;
        if (expand ? expand(ctx, f + 5, &v, err) < 0 : (v = cb_xstrdup(f + 5), 0))
            goto fail;
        if (parse_type(v, &m.type, err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < fields.len; i++) {
        const char *f = fields.items[i];
        const char *eq = strchr(f, '=');
        cb_autofree char *key = eq ? cb_xstrndup(f, (size_t)(eq - f)) : cb_xstrdup(f);
        for (char *p = key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (strcmp(key, "type") == 0)
            continue;
        if (!known_key(key)) {
            cb_error_set(err, 0, "unexpected key '%s' in '%s'", key, f);
            goto fail;
        }
        if (!eq) {
            if (!is_bare_key(key)) {
                cb_error_set(err, 0, "invalid field '%s' must be a key=value pair", f);
                goto fail;
            }
            if (set_field(&m, key, "true", &ro_auto, err) < 0)
                goto fail;
            continue;
        }
        cb_autofree char *v = NULL;
        if (expand && strcmp(key, "from") != 0) {
            if (expand(ctx, eq + 1, &v, err) < 0)
                goto fail;
        } else {
            v = cb_xstrdup(eq + 1);
        }
        if (set_field(&m, key, v, &ro_auto, err) < 0)
            goto fail;
    }
    if (validate(&m, ro_auto, err) < 0)
        goto fail;
    *out = m;
    return 0;
fail:
    cb_mount_clear(&m);
    *out = m;
    return -1;
}
