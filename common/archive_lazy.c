#define CB_ARCHIVE_LAZY_IMPL
#include "common/archive_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* The soname of the libarchive cbuild is built against (Debian 12:
 * libarchive13). */
#define CB_LIBARCHIVE_SONAME "libarchive.so.13"

const cb_archive_api_t *cb_archive_api_loaded;

static cb_archive_api_t api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *h = dlopen(CB_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "cbuild: cannot load libarchive: %s\n", dlerror());
        exit(1);
    }
#define CB_ARCHIVE_LOAD(name)                                                                      \
    if ((*(void **)&api.name = dlsym(h, #name)) == NULL) {                                         \
        fprintf(stderr, "cbuild: %s has no %s (too old a libarchive)\n", CB_LIBARCHIVE_SONAME, #name); \
        exit(1);                                                                                   \
    }
    CB_ARCHIVE_FUNCS(CB_ARCHIVE_LOAD)
#undef CB_ARCHIVE_LOAD
    /* The handle stays open for the life of the process. */
    __atomic_store_n(&cb_archive_api_loaded, &api, __ATOMIC_RELEASE);
}

const cb_archive_api_t *cb_archive_api_load(void) {
    pthread_once(&once, load);
    return &api;
}
