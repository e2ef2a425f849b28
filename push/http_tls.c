/* Per-host TLS material (push/http_tls.h). */
#include "push/http_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/store.h"
#include "common/fsutil.h"
#include "common/util.h"

#define MAX_PEM (16u << 20)

typedef struct host_tls {
    char *hostport;
    char *ca;      /* system bundle + the host's *.crt; NULL: the default bundle */
    size_t ca_len;
    char *cert;    /* client certificate file or NULL */
    char *key;
} host_tls_t;

struct cb_http_tls {
    char *cert_dir;
    pthread_mutex_t lock;
    host_tls_t *hosts;
    size_t nhosts;
};

cb_http_tls_t *cb_http_tls_new(const char *cert_dir) {
    cb_http_tls_t *t = cb_xcalloc(1, sizeof(*t));
    t->cert_dir = cert_dir ? cb_xstrdup(cert_dir) : NULL;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void cb_http_tls_free(cb_http_tls_t *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->nhosts; i++) {
        free(t->hosts[i].hostport);
        free(t->hosts[i].ca);
        free(t->hosts[i].cert);
        free(t->hosts[i].key);
    }
    free(t->hosts);
    pthread_mutex_destroy(&t->lock);
    free(t->cert_dir);
    free(t);
}

/* The certs.d directory for host[:port], or NULL when none exists. */
static char *host_dir(const cb_http_tls_t *t, const char *hostport) {
    if (t->cert_dir)
        return cb_xstrdup(t->cert_dir);
    const char *home = getenv("HOME");
    char *cands[3] = {
        home && *home ? cb_xasprintf("%s/.config/containers/certs.d/%s", home, hostport) : NULL,
        cb_xasprintf("/etc/containers/certs.d/%s", hostport),
        cb_xasprintf("/etc/docker/certs.d/%s", hostport),
    };
    char *found = NULL;
    for (size_t i = 0; i < CB_ARRAY_LEN(cands); i++) {
        if (!found && cands[i] && access(cands[i], R_OK | X_OK) == 0)
            found = cb_steal_pointer(&cands[i]);
        free(cands[i]);
    }
    return found;
}

static int load_host(host_tls_t *ht, const char *dir, CURL *e, cb_error_t **err) {
    cb_autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cb_error_set(err, errno, "open %s", dir);
    cb_autostrv cb_strv_t names = CB_STRV_INIT;
    if (cb_dir_list_sorted(fd, dir, &names, err) < 0)
        return -1;
    cb_autobuf cb_buf_t extra = CB_BUF_INIT;
    for (size_t i = 0; i < names.len; i++) {
        const char *n = names.items[i];
        cb_autofree char *path = cb_xasprintf("%s/%s", dir, n);
        if (cb_str_has_suffix(n, ".crt")) {
            cb_autofree char *pem = NULL;
            size_t len = 0;
            if (cb_read_file(path, MAX_PEM, &pem, &len, err) < 0)
                return -1;
            cb_buf_add(&extra, pem, len);
            cb_buf_putc(&extra, '\n');
        } else if (cb_str_has_suffix(n, ".cert")) {
            cb_autofree char *key = cb_xasprintf("%.*s.key", (int)(strlen(path) - 5), path);
            if (access(key, R_OK) != 0)
                return cb_error_kind_set(err, CB_ERR_INPUT,
                                         "client certificate %s has no key %s", path, key);
            free(ht->cert);
            free(ht->key);
            ht->cert = cb_steal_pointer(&path);
            ht->key = cb_steal_pointer(&key);
        }
    }
    if (!extra.len)
        return 0;
    /* CAINFO_BLOB replaces the default bundle, so the system's goes first. */
    cb_autobuf cb_buf_t all = CB_BUF_INIT;
    char *sys = NULL;
    curl_easy_getinfo(e, CURLINFO_CAINFO, &sys);
    const char *sys_path = sys ? sys : "/etc/ssl/certs/ca-certificates.crt";
    cb_autofree char *pem = NULL;
    size_t len = 0;
    cb_error_t *ignored = NULL;
    if (cb_read_file(sys_path, MAX_PEM, &pem, &len, &ignored) == 0) {
        cb_buf_add(&all, pem, len);
        cb_buf_putc(&all, '\n');
    }
    cb_error_free(ignored);
    cb_buf_add(&all, extra.data, extra.len);
    ht->ca_len = all.len;
    ht->ca = cb_buf_steal(&all);
    return 0;
}

/* host[:port] of an https URL; NULL for anything else. */
static char *https_hostport(const char *url) {
    if (!cb_str_has_prefix(url, "https://"))
        return NULL;
    const char *h = url + 8;
    size_t n = strcspn(h, "/?#");
    return cb_xstrndup(h, n);
}

int cb_http_tls_apply(cb_http_tls_t *t, CURL *e, const char *url, bool verify,
                      cb_error_t **err) {
    cb_autofree char *hp = https_hostport(url);
    if (!hp)
        return 0;
    if (!verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    pthread_mutex_lock(&t->lock);
    host_tls_t *ht = NULL;
    for (size_t i = 0; i < t->nhosts && !ht; i++)
        if (strcmp(t->hosts[i].hostport, hp) == 0)
            ht = &t->hosts[i];
    int r = 0;
    if (!ht) {
        host_tls_t fresh = {.hostport = cb_xstrdup(hp)};
        cb_autofree char *dir = host_dir(t, hp);
        if (dir && load_host(&fresh, dir, e, err) < 0) {
            r = cb_error_wrap(err, "certificates for %s", hp);
            free(fresh.hostport);
            free(fresh.ca);
            free(fresh.cert);
            free(fresh.key);
        } else {
            t->hosts = cb_xrealloc(t->hosts, (t->nhosts + 1) * sizeof(*t->hosts));
            t->hosts[t->nhosts] = fresh;
            ht = &t->hosts[t->nhosts++];
        }
    }
    if (ht) {
        if (ht->ca) {
            struct curl_blob b = {.data = ht->ca, .len = ht->ca_len, .flags = CURL_BLOB_NOCOPY};
            curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
        }
        if (ht->cert) {
            curl_easy_setopt(e, CURLOPT_SSLCERT, ht->cert);
            curl_easy_setopt(e, CURLOPT_SSLKEY, ht->key);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return r;
}
