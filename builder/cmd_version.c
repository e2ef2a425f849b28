/* cbuild --version: cbuild's version and, for each library, the version it
 * was compiled against and the one loaded now (they differ after a library
 * upgrade without a rebuild, which is what a bug report needs to know). */
#include "common/archive_lazy.h"
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "builder/commands.h"

#define CB_STR2(x) #x
#define CB_STR(x) CB_STR2(x)

static void library(const char *name, const char *built, const char *running) {
    if (strcmp(built, running) == 0)
        printf("  %-11s %s\n", name, built);
    else
        printf("  %-11s %s (running with %s)\n", name, built, running);
}

int cb_cmd_version(int argc, char **argv) {
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("Usage: cbuild version (or cbuild --version)\n\n"
               "Print cbuild's version and the versions of the libraries it was built with.\n");
        return 0;
    }
    const struct scmp_version *sv = seccomp_version();
    char seccomp_now[48];
    snprintf(seccomp_now, sizeof seccomp_now, "%u.%u.%u", sv->major, sv->minor, sv->micro);
    const char *ssl_now = OpenSSL_version(OPENSSL_VERSION_STRING);
    const char *archive_now = archive_version_string();
    if (strncmp(archive_now, "libarchive ", 11) == 0)
        archive_now += 11;

    printf("cbuild %s\n", CBUILD_VERSION);
    printf("libraries (built with; running with when it differs):\n");
    library("libarchive", ARCHIVE_VERSION_ONLY_STRING, archive_now);
    library("libcurl", LIBCURL_VERSION, curl_version_info(CURLVERSION_NOW)->version);
    library("OpenSSL", OPENSSL_VERSION_STR, ssl_now);
    library("jansson", JANSSON_VERSION, jansson_version_str());
    library("zstd", ZSTD_VERSION_STRING, ZSTD_versionString());
    library("zlib", ZLIB_VERSION, zlibVersion());
    library("libseccomp",
            CB_STR(SCMP_VER_MAJOR) "." CB_STR(SCMP_VER_MINOR) "." CB_STR(SCMP_VER_MICRO), seccomp_now);
    return 0;
}
