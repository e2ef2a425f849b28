/* --chown (names looked up in the image's /etc/passwd and /etc/group, as
 * BuildKit does for COPY) and --chmod (octal or chmod(1)-style symbolic). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "builder/copy_private.h"
#include "builder/user.h"
#include "common/util.h"

#define MAX_DB_SIZE (16 * 1024 * 1024)

/* Reads etc/passwd or etc/group from the image root, resolved inside it.
 * A missing file gives an empty buffer. */
static int read_db(int rootfd, const char *path, cb_buf_t *out, cb_error_t **err) {
    copy_resolved_t r;
    if (copy_resolve(rootfd, path, true, &r, err) < 0)
        return cb_error_wrap(err, "reading %s of the image", path);
    if (!r.exists || !S_ISREG(r.st.st_mode)) {
        copy_resolved_clear(&r);
        return 0;
    }
    cb_autoclose int dirfd = -1;
    const char *base = NULL;
    int rc = copy_open_parent(rootfd, r.path, &dirfd, &base, err);
    cb_autoclose int fd = rc < 0 ? -1 : openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    copy_resolved_clear(&r);
    if (rc < 0)
        return -1;
    if (fd < 0)
        return cb_error_set(err, errno, "open %s of the image", path);
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return cb_error_set(err, errno, "read %s of the image", path);
        if (n == 0)
            break;
        if (out->len + (size_t)n > MAX_DB_SIZE)
            return cb_error_kind_set(err, CB_ERR_INPUT, "%s of the image is too large", path);
        cb_buf_add(out, chunk, (size_t)n);
    }
    return 0;
}

static bool parse_id(const char *s, uint32_t *out) {
    if (s[0] < '0' || s[0] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX - 1)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Finds name in a passwd/group database: field id_field (and, for passwd,
 * the next field, the primary gid) of the first line whose first field is
 * name. Returns 1 when found. */
static int db_lookup(const cb_buf_t *db, const char *name, int id_field, uint32_t *id,
                     uint32_t *next) {
    const char *p = cb_buf_str(db);
    size_t nlen = strlen(name);
    while (*p) {
        const char *eol = strchrnul(p, '\n');
        if ((size_t)(eol - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == ':') {
            cb_autofree char *line = cb_xstrndup(p, (size_t)(eol - p));
            char *fields[4] = {0};
            char *f = line;
            /* strtok would merge empty fields (an empty password). */
            for (int i = 0; i < 4 && f; i++) {
                fields[i] = f;
                char *colon = strchr(f, ':');
                if (colon)
                    *colon = '\0';
                f = colon ? colon + 1 : NULL;
            }
            if (fields[id_field] && parse_id(fields[id_field], id) &&
                (!next || (fields[id_field + 1] && parse_id(fields[id_field + 1], next))))
                return 1;
            return 0;
        }
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}

int copy_parse_chown(const char *spec, int rootfd, uint32_t *uid, uint32_t *gid,
                     cb_error_t **err) {
    cb_autofree char *user = cb_xstrdup(spec);
    char *group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    if (user[0] == '\0' || (group && group[0] == '\0') || (group && strchr(group, ':')))
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "invalid --chown value '%s': expected user[:group]", spec);
    bool user_numeric = parse_id(user, uid);
    bool have_primary = false;
    uint32_t primary = 0;
    if (!user_numeric) {
        cb_autobuf cb_buf_t passwd = CB_BUF_INIT;
        if (read_db(rootfd, "/etc/passwd", &passwd, err) < 0)
            return -1;
        if (db_lookup(&passwd, user, 2, uid, &primary) != 1)
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "--chown: unable to find user %s: no matching entries in "
                                     "the image's /etc/passwd",
                                     user);
        have_primary = true;
    }
    if (group == NULL) {
        *gid = have_primary ? primary : *uid;
        return 0;
    }
    if (parse_id(group, gid))
        return 0;
    cb_autobuf cb_buf_t groups = CB_BUF_INIT;
    if (read_db(rootfd, "/etc/group", &groups, err) < 0)
        return -1;
    if (db_lookup(&groups, group, 2, gid, NULL) != 1)
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "--chown: unable to find group %s: no matching entries in the "
                                 "image's /etc/group",
                                 group);
    return 0;
}

/* ---- --chmod ---- */

static int chmod_error(cb_error_t **err, const char *spec) {
    return cb_error_kind_set(err, CB_ERR_INPUT,
                             "invalid chmod parameter: '%s'. it should be octal string and "
                             "between 0 and 07777, or symbolic like u=rwX,go=rX",
                             spec);
}

/* One pass over a symbolic mode; with cur NULL it only checks the syntax. */
static bool symbolic_apply(const char *spec, uint32_t *cur, bool is_dir) {
    uint32_t m = cur ? *cur : 0;
    const char *p = spec;
    for (;;) {
        uint32_t who = 0;
        bool sticky_ok = false;
        for (; *p && strchr("ugoa", *p); p++) {
            switch (*p) {
            case 'u': who |= 04700; break;
            case 'g': who |= 02070; break;
            case 'o': who |= 00007; sticky_ok = true; break;
            default: who |= 07777; sticky_ok = true; break;
            }
        }
        if (who == 0) {
            who = 07777;
            sticky_ok = true;
        }
        if (!*p || !strchr("+-=", *p))
            return false;
        while (*p && strchr("+-=", *p)) {
            char op = *p++;
            uint32_t bits = 0;
            if (*p && strchr("ugo", *p)) {
                /* Copy another class's bits: "g=u". */
                int shift = *p == 'u' ? 6 : *p == 'g' ? 3 : 0;
                uint32_t b = (m >> shift) & 7;
                bits = (b << 6 | b << 3 | b) & who & 0777;
                p++;
            } else {
                for (; *p && strchr("rwxXst", *p); p++) {
                    switch (*p) {
                    case 'r': bits |= 0444; break;
                    case 'w': bits |= 0222; break;
                    case 'x': bits |= 0111; break;
                    case 'X':
                        if (is_dir || (m & 0111))
                            bits |= 0111;
                        break;
                    case 's': bits |= 06000; break;
                    default:
                        if (sticky_ok)
                            bits |= 01000;
                        break;
                    }
                }
                bits &= who | (sticky_ok ? 01000u : 0u);
            }
            if (op == '+')
                m |= bits;
            else if (op == '-')
                m &= ~bits;
            else
                m = (m & ~(who & 06777)) | bits;
        }
        if (*p == '\0')
            break;
        if (*p != ',')
            return false;
        p++;
    }
    if (cur)
        *cur = m & 07777;
    return true;
}

int copy_parse_chmod(const char *spec, copy_chmod_t *out, cb_error_t **err) {
    memset(out, 0, sizeof *out);
    if (spec == NULL || spec[0] == '\0')
        return spec ? chmod_error(err, spec) : 0;
    if (strspn(spec, "0123456789") == strlen(spec)) {
        if (strspn(spec, "01234567") != strlen(spec) || strlen(spec) > 6)
            return chmod_error(err, spec);
        unsigned long v = strtoul(spec, NULL, 8);
        if (v > 07777)
            return chmod_error(err, spec);
        out->kind = COPY_CHMOD_OCTAL;
        out->mode = (uint32_t)v;
        return 0;
    }
    if (!symbolic_apply(spec, NULL, false))
        return chmod_error(err, spec);
    out->kind = COPY_CHMOD_SYMBOLIC;
    out->spec = cb_xstrdup(spec);
    return 0;
}

uint32_t copy_chmod_apply(const copy_chmod_t *c, uint32_t st_mode) {
    uint32_t m = st_mode & 07777;
    if (c->kind == COPY_CHMOD_OCTAL)
        return c->mode;
    if (c->kind == COPY_CHMOD_SYMBOLIC)
        symbolic_apply(c->spec, &m, S_ISDIR(st_mode));
    return m;
}

void copy_chmod_clear(copy_chmod_t *c) {
    free(c->spec);
    memset(c, 0, sizeof *c);
}

/* ---- USER (RUN) ---- */

/* The passwd line whose field key_field equals key: fields 0..6 into f
 * (pointing into *line, which the caller frees). 1 when found. */
static int passwd_find(const cb_buf_t *db, int key_field, const char *key, char **line, char *f[7]) {
    const char *p = cb_buf_str(db);
    while (*p) {
        const char *eol = strchrnul(p, '\n');
        char *l = cb_xstrndup(p, (size_t)(eol - p));
        char *cur = l;
        int n = 0;
        for (; n < 7 && cur; n++) {
            f[n] = cur;
            char *colon = strchr(cur, ':');
            if (colon)
                *colon = '\0';
            cur = colon ? colon + 1 : NULL;
        }
        if (n >= 4 && strcmp(f[key_field], key) == 0) {
            for (; n < 7; n++)
                f[n] = (char *)"";
            *line = l;
            return 1;
        }
        free(l);
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}

/* Groups of /etc/group whose member list names user. */
static void member_groups(const cb_buf_t *db, const char *user, cb_user_t *u) {
    const char *p = cb_buf_str(db);
    while (*p) {
        const char *eol = strchrnul(p, '\n');
        cb_autofree char *l = cb_xstrndup(p, (size_t)(eol - p));
        char *f[4] = {0};
        char *cur = l;
        int n = 0;
        for (; n < 4 && cur; n++) {
            f[n] = cur;
            char *colon = strchr(cur, ':');
            if (colon)
                *colon = '\0';
            cur = colon ? colon + 1 : NULL;
        }
        uint32_t gid;
        if (n == 4 && parse_id(f[2], &gid)) {
            char *save = NULL;
            for (char *m = strtok_r(f[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
                if (strcmp(m, user) == 0 && gid != u->gid) {
                    u->groups = cb_xrealloc(u->groups, (u->ngroups + 1) * sizeof *u->groups);
                    u->groups[u->ngroups++] = gid;
                    break;
                }
        }
        p = *eol ? eol + 1 : eol;
    }
}

void cb_user_clear(cb_user_t *u) {
    free(u->groups);
    free(u->home);
    memset(u, 0, sizeof *u);
}

int cb_user_resolve(int rootfd, const char *spec, cb_user_t *out, cb_error_t **err) {
    memset(out, 0, sizeof *out);
    cb_autofree char *user = cb_xstrdup(spec && *spec ? spec : "0");
    char *group = strchr(user, ':');
    if (group)
        *group++ = '\0';
    cb_autobuf cb_buf_t passwd = CB_BUF_INIT;
    if (read_db(rootfd, "/etc/passwd", &passwd, err) < 0)
        return -1;
    bool numeric = parse_id(user, &out->uid);
    cb_autofree char *line = NULL;
    char *f[7];
    const char *name = numeric ? NULL : user;
    if (passwd_find(&passwd, numeric ? 2 : 0, user, &line, f)) {
        if (!parse_id(f[2], &out->uid) || !parse_id(f[3], &out->gid))
            return cb_error_kind_set(err, CB_ERR_INPUT, "USER %s: its /etc/passwd entry has bad ids", spec);
        out->home = cb_xstrdup(f[5][0] ? f[5] : "/");
        name = f[0];
    } else if (!numeric) {
        return cb_error_kind_set(err, CB_ERR_INPUT,
                                 "unable to find user %s: no matching entries in the image's /etc/passwd",
                                 user);
    } else {
        out->home = cb_xstrdup("/");
    }
    cb_autobuf cb_buf_t groups = CB_BUF_INIT;
    if (read_db(rootfd, "/etc/group", &groups, err) < 0) {
        cb_user_clear(out);
        return -1;
    }
    if (group) {
        if (!parse_id(group, &out->gid) && db_lookup(&groups, group, 2, &out->gid, NULL) != 1) {
            cb_user_clear(out);
            return cb_error_kind_set(err, CB_ERR_INPUT,
                                     "unable to find group %s: no matching entries in the image's /etc/group",
                                     group);
        }
    }
    out->groups = cb_xmalloc(sizeof *out->groups);
    out->groups[0] = out->gid;
    out->ngroups = 1;
    if (!group && name)
        member_groups(&groups, name, out);
    return 0;
}
