/* libFuzzer target: the headers and error bodies of registry answers.
 *
 * Input: a raw HTTP response head as libcurl hands it over, line by line
 * ('\n' ends a line, the "\r\n" stays on it), then after the first empty
 * line the body. Status lines start a new response, as after a redirect.
 * What reads the result is what the registry client reads: header lookups
 * (several values of one name), Retry-After (seconds or an HTTP date), an
 * upload session's Range and Location, and the error JSON of a refusal.
 * Findings besides crashes, leaks and UB: a looked-up value with leading
 * blanks or outside the kept lines, a Retry-After outside [-1, 60 s], a
 * negative Range offset, an error message that is empty.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/curl_lazy.h"
#include "common/error.h"
#include "common/util.h"
#include "push/errors.h"
#include "push/http.h"
#include "push/upload.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char *const names[] = {"Location", "Range", "Retry-After", "WWW-Authenticate",
                                    "Content-Type", "Docker-Content-Digest", "Content-Length"};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    cb_error_t *err = NULL;
    if (cb_curl_load(&err) < 0)
        abort(); /* the Location check needs libcurl's URL parser */
    return 0;
}

/* v must point into one of the kept lines, past "Name:" and the blanks. */
static void check_value(const cb_http_response_t *rs, const char *v) {
    if (*v == ' ' || *v == '\t')
        abort();
    for (size_t i = 0; i < rs->headers.len; i++) {
        const char *l = rs->headers.items[i];
        if (v > l && v <= l + strlen(l))
            return;
    }
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    cb_http_response_t rs = CB_HTTP_RESPONSE_INIT;
    rs.status = 401;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        bool blank = (n == 1 && *p == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n');
        /* libcurl hands over NUL-free lines; the collected ones are C strings. */
        if (!blank && !memchr(p, '\0', n))
            cb_http_response_add_header(&rs, p, n);
        p += n;
        if (blank)
            break;
    }
    cb_buf_add(&rs.body, p, (size_t)(end - p));

    for (size_t i = 0; i < CB_ARRAY_LEN(names); i++)
        for (size_t k = 0; k < 4; k++) {
            const char *v = cb_http_header(&rs, names[i], k);
            if (!v)
                break;
            check_value(&rs, v);
        }
    long ra = cb_http_retry_after_ms(&rs);
    if (ra < -1 || ra > 60000)
        abort();
    if (cb_upload_range_held(cb_http_header(&rs, "Range", 0)) < 0)
        abort();
    const char *loc = cb_http_header(&rs, "Location", 0);
    if (loc)
        free(cb_upload_location_url("http://registry.test:5000", loc));

    free(cb_registry_error_text(&rs));
    (void)cb_registry_error_has(&rs, "BLOB_UNKNOWN");
    cb_error_t *err = NULL;
    int rc = cb_registry_fail(&err, &rs, "%s", "fuzz");
    if (rc != -1)
        abort();
    fuzz_check_error(rc, err);
    cb_http_response_clear(&rs);
    return 0;
}
