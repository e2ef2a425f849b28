#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static cb_log_handler_t handler;
static int quiet;

static void stderr_handler(cb_log_level_t level, const char *module, const char *msg) {
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level == CB_LOG_INFO)
        fprintf(stderr, "%s\n", msg);
    else
        fprintf(stderr, "cbuild: %s%s%s: %s\n", names[level], module ? " " : "", module ? module : "",
                msg);
}

void cb_log_set_handler(cb_log_handler_t h) {
    handler = h;
}

void cb_log_set_quiet(int q) {
    quiet = q;
}

int cb_log_debug_enabled(const char *module) {
    const char *spec = getenv("CBUILD_DEBUG");
    if (spec == NULL || *spec == '\0')
        return 0;
    if (strcmp(spec, "all") == 0 || strcmp(spec, "1") == 0)
        return 1;
    size_t n = strlen(module);
    for (const char *p = spec; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, module, n) == 0)
            return 1;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return 0;
}

void cb_log(cb_log_level_t level, const char *module, const char *fmt, ...) {
    if (quiet && (level == CB_LOG_INFO || level == CB_LOG_WARN))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = cb_xvasprintf(fmt, ap);
    va_end(ap);
    (handler ? handler : stderr_handler)(level, module, msg);
    free(msg);
}
