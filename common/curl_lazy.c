/* libcurl, loaded on first use.
 *
 * libcurl and its dependency tree (TLS, IDN, Kerberos, LDAP, HTTP/2, ...)
 * are 26 of cbuild's shared objects; mapping and relocating them at every
 * start costs more than a whole cached rebuild does otherwise, while only
 * registry traffic and ADD of a URL need them. So cbuild is not linked
 * against libcurl: this file defines the libcurl functions cbuild calls,
 * and the first call dlopen()s the library and forwards to it. Callers use
 * <curl/curl.h> as usual; cb_curl_load() gives a clear error when the
 * library cannot be loaded (the stand-ins then fail as libcurl's own do on
 * failed initialisation).
 *
 * The executable must not export these names (no -rdynamic), or libcurl's
 * internal calls through its PLT could land here. */
#include "common/curl_lazy.h"
#include "common/digest.h"

/* curl.h's type-checking macros would rename the definitions below. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/* libcurl's SONAME since 7.16 (2006). */
#define CB_LIBCURL_SONAME "libcurl.so.4"

/* Every forwarded function: X(return type, name, (params), (args), failure value). */
#define CB_CURL_FUNCS(X)                                                                           \
    X(CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT)                        \
    X(char *, curl_version, (void), (), NULL)                                                      \
    X(curl_version_info_data *, curl_version_info, (CURLversion v), (v), NULL)                     \
    X(CURL *, curl_easy_init, (void), (), NULL)                                                    \
    X(CURLcode, curl_easy_perform, (CURL * h), (h), CURLE_FAILED_INIT)                             \
    X(CURL *, curl_easy_duphandle, (CURL * h), (h), NULL)                                          \
    X(const char *, curl_easy_strerror, (CURLcode c), (c), "libcurl is not loaded")                \
    X(char *, curl_easy_escape, (CURL * h, const char *s, int n), (h, s, n), NULL)                 \
    X(char *, curl_easy_unescape, (CURL * h, const char *s, int n, int *o), (h, s, n, o), NULL)    \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s), NULL) \
    X(CURLM *, curl_multi_init, (void), (), NULL)                                                  \
    X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * h), (m, h), CURLM_INTERNAL_ERROR)       \
    X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * h), (m, h), CURLM_INTERNAL_ERROR)    \
    X(CURLMcode, curl_multi_perform, (CURLM * m, int *running), (m, running), CURLM_INTERNAL_ERROR) \
    X(CURLMcode, curl_multi_poll, (CURLM * m, struct curl_waitfd * f, unsigned n, int ms, int *r), \
      (m, f, n, ms, r), CURLM_INTERNAL_ERROR)                                                      \
    X(CURLMcode, curl_multi_wait, (CURLM * m, struct curl_waitfd * f, unsigned n, int ms, int *r), \
      (m, f, n, ms, r), CURLM_INTERNAL_ERROR)                                                      \
    X(CURLMcode, curl_multi_wakeup, (CURLM * m), (m), CURLM_INTERNAL_ERROR)                        \
    X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left), NULL)                    \
    X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m), CURLM_INTERNAL_ERROR)                       \
    X(const char *, curl_multi_strerror, (CURLMcode c), (c), "libcurl is not loaded")             \
    X(CURLSH *, curl_share_init, (void), (), NULL)                                                 \
    X(CURLSHcode, curl_share_cleanup, (CURLSH * s), (s), CURLSHE_NOT_BUILT_IN)                     \
    X(const char *, curl_share_strerror, (CURLSHcode c), (c), "libcurl is not loaded")            \
    X(CURLU *, curl_url, (void), (), NULL)                                                         \
    X(CURLU *, curl_url_dup, (CURLU * u), (u), NULL)                                          \
    X(CURLUcode, curl_url_get, (CURLU * u, CURLUPart p, char **out, unsigned int f),          \
      (u, p, out, f), CURLUE_OUT_OF_MEMORY)                                                        \
    X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart p, const char *s, unsigned int f),            \
      (u, p, s, f), CURLUE_OUT_OF_MEMORY)                                                          \
    X(time_t, curl_getdate, (const char *s, const time_t *unused), (s, unused), -1)

/* Functions without a result worth reporting: forwarded when loaded. */
#define CB_CURL_VOID_FUNCS(X)                                                                      \
    X(curl_global_cleanup, (void), ())                                                             \
    X(curl_easy_cleanup, (CURL * h), (h))                                                          \
    X(curl_easy_reset, (CURL * h), (h))                                                            \
    X(curl_free, (void *p), (p))                                                                   \
    X(curl_slist_free_all, (struct curl_slist * l), (l))                                           \
    X(curl_url_cleanup, (CURLU * u), (u))

static struct {
#define FIELD(ret, name, params, args, fail) ret(*name) params;
#define VOID_FIELD(name, params, args) void(*name) params;
    CB_CURL_FUNCS(FIELD)
    CB_CURL_VOID_FUNCS(VOID_FIELD)
#undef FIELD
#undef VOID_FIELD
    CURLcode (*curl_easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*curl_easy_getinfo)(CURL *, CURLINFO, ...);
    CURLMcode (*curl_multi_setopt)(CURLM *, CURLMoption, ...);
    CURLSHcode (*curl_share_setopt)(CURLSH *, CURLSHoption, ...);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;
static char load_error[512];

static void load(void) {
    /* libcurl's TLS (libssl) takes OpenSSL's system configuration, which
     * the hashing init left out (common/digest.c). */
    cb_crypto_load_config();
    void *h = dlopen(CB_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(load_error, sizeof load_error, "%s", dlerror());
        return;
    }
    const char *missing = NULL;
#define LOAD(name)                                                                                 \
    if ((*(void **)&fn.name = dlsym(h, #name)) == NULL && missing == NULL)                         \
        missing = #name;
#define LOAD_FUNC(ret, name, params, args, fail) LOAD(name)
#define LOAD_VOID(name, params, args) LOAD(name)
    CB_CURL_FUNCS(LOAD_FUNC)
    CB_CURL_VOID_FUNCS(LOAD_VOID)
    LOAD(curl_easy_setopt)
    LOAD(curl_easy_getinfo)
    LOAD(curl_multi_setopt)
    LOAD(curl_share_setopt)
#undef LOAD_FUNC
#undef LOAD_VOID
#undef LOAD
    if (missing) {
        snprintf(load_error, sizeof load_error, "%s has no %s (too old a libcurl)", CB_LIBCURL_SONAME,
                 missing);
        dlclose(h);
        return;
    }
    loaded = true; /* h stays open for the life of the process */
}

static bool ready(void) {
    pthread_once(&once, load);
    return loaded;
}

int cb_curl_load(cb_error_t **err) {
    if (ready())
        return 0;
    return cb_error_kind_set(err, CB_ERR_LIBRARY, "cannot load libcurl (%s): %s", CB_LIBCURL_SONAME,
                             load_error);
}

#define DEFINE_FUNC(ret, name, params, args, fail)                                                 \
    ret name params {                                                                              \
        return ready() ? fn.name args : (fail);                                                    \
    }
#define DEFINE_VOID(name, params, args)                                                            \
    void name params {                                                                             \
        if (ready())                                                                               \
            fn.name args;                                                                          \
    }
CB_CURL_FUNCS(DEFINE_FUNC)
CB_CURL_VOID_FUNCS(DEFINE_VOID)

/* The variadic setters take one argument whose type libcurl derives from the
 * option number's range (curl.h's CURLOPTTYPE_*): read it with that type and
 * pass it on. Object and function pointers and blobs are all pointer-sized. */
#define DEFINE_TYPED_SETOPT(name, handle_t, option_t, code_t, fail)                                \
    code_t name(handle_t *h, option_t opt, ...) {                                                  \
        if (!ready())                                                                              \
            return fail;                                                                           \
        va_list ap;                                                                                \
        va_start(ap, opt);                                                                         \
        code_t rc;                                                                                 \
        if (opt < CURLOPTTYPE_OBJECTPOINT)                                                         \
            rc = fn.name(h, opt, va_arg(ap, long));                                                \
        else if (opt >= CURLOPTTYPE_OFF_T && opt < CURLOPTTYPE_BLOB)                               \
            rc = fn.name(h, opt, va_arg(ap, curl_off_t));                                          \
        else                                                                                       \
            rc = fn.name(h, opt, va_arg(ap, void *));                                              \
        va_end(ap);                                                                                \
        return rc;                                                                                 \
    }
DEFINE_TYPED_SETOPT(curl_easy_setopt, CURL, CURLoption, CURLcode, CURLE_FAILED_INIT)
DEFINE_TYPED_SETOPT(curl_multi_setopt, CURLM, CURLMoption, CURLMcode, CURLM_INTERNAL_ERROR)

/* Every CURLINFO takes one pointer. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
    if (!ready())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, info);
    void *p = va_arg(ap, void *);
    va_end(ap);
    return fn.curl_easy_getinfo(h, info, p);
}

/* CURLSHOPT_SHARE/UNSHARE take a curl_lock_data (an int); the rest pointers. */
CURLSHcode curl_share_setopt(CURLSH *s, CURLSHoption opt, ...) {
    if (!ready())
        return CURLSHE_NOT_BUILT_IN;
    va_list ap;
    va_start(ap, opt);
    CURLSHcode rc;
    if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE)
        rc = fn.curl_share_setopt(s, opt, va_arg(ap, int));
    else
        rc = fn.curl_share_setopt(s, opt, va_arg(ap, void *));
    va_end(ap);
    return rc;
}
