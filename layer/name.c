#include "layer/name.h"

#include <string.h>

#include "common/util.h"

int cb_layer_name_clean(const char *name, bool allow_absolute, char **out, cb_error_t **err) {
    if (name[0] == '/' && !allow_absolute)
        return cb_error_kind_set(err, CB_ERR_INTEGRITY, "absolute name");
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return cb_error_kind_set(err, CB_ERR_INTEGRITY, "'..' component");
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            if (b.len)
                cb_buf_putc(&b, '/');
            cb_buf_add(&b, p, n);
        }
        p = end;
    }
    *out = cb_buf_steal(&b);
    return 0;
}

const char *cb_layer_name_split(const char *name, char **dir) {
    const char *slash = strrchr(name, '/');
    if (slash == NULL) {
        *dir = cb_xstrdup("");
        return name;
    }
    *dir = cb_xstrndup(name, (size_t)(slash - name));
    return slash + 1;
}
