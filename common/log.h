/* Logging: one output handler, levels, and per-module debug switches
 * (CBUILD_DEBUG=parser,layer or CBUILD_DEBUG=all). Library code returns
 * errors; it logs only warnings and debug traces. */
#ifndef CB_LOG_H
#define CB_LOG_H

typedef enum { CB_LOG_ERROR, CB_LOG_WARN, CB_LOG_INFO, CB_LOG_DEBUG } cb_log_level_t;

typedef void (*cb_log_handler_t)(cb_log_level_t level, const char *module, const char *msg);

void cb_log_set_handler(cb_log_handler_t h); /* NULL restores the stderr handler */
void cb_log_set_quiet(int quiet);            /* drop INFO and WARN */
void cb_log(cb_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cb_log_debug_enabled(const char *module);

#define cb_warn(module, ...) cb_log(CB_LOG_WARN, module, __VA_ARGS__)
#define cb_info(module, ...) cb_log(CB_LOG_INFO, module, __VA_ARGS__)
#define cb_debug(module, ...)                          \
    do {                                               \
        if (cb_log_debug_enabled(module))              \
            cb_log(CB_LOG_DEBUG, module, __VA_ARGS__); \
    } while (0)

#endif
