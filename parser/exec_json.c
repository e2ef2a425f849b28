#include "parser/exec_json.h"

#include <jansson.h>
#include <string.h>

#include "parser/text.h"

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The \uXXXX code unit at s (n bytes left), or -1. */
static long u_escape(const char *s, size_t n) {
    if (n < 6 || s[0] != '\\' || s[1] != 'u')
        return -1;
    long v = 0;
    for (int i = 2; i < 6; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Rewrites what Go's decoder replaces by U+FFFD (invalid UTF-8 and unpaired
 * surrogates inside strings) so that jansson, which rejects them, agrees. */
static void normalise(const char *s, size_t n, cb_buf_t *out) {
    bool in_string = false;
    cb_buf_reserve(out, n);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (!in_string || c == '"') {
            in_string = in_string ? false : c == '"';
            cb_buf_putc(out, (char)c);
            i++;
        } else if (c == '\\') {
            long v = u_escape(s + i, n - i);
            if (v >= 0xD800 && v <= 0xDBFF) {
                long lo = u_escape(s + i + 6, n - i - 6);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cb_buf_add(out, s + i, 12);
                    i += 12;
                } else {
                    cb_buf_puts(out, "\\ufffd");
                    i += 6;
                }
            } else if (v >= 0xDC00 && v <= 0xDFFF) {
                cb_buf_puts(out, "\\ufffd");
                i += 6;
            } else {
                size_t k = i + 1 < n ? 2 : 1; /* keep the escaped character with its backslash */
                cb_buf_add(out, s + i, k);
                i += k;
            }
        } else if (c >= 0x80) {
            uint32_t r;
            size_t w = cb_utf8_decode(s + i, n - i, &r);
            if (w == 1 && r == CB_RUNE_ERROR)
                cb_buf_puts(out, "\xEF\xBF\xBD");
            else
                cb_buf_add(out, s + i, w);
            i += w;
        } else {
            cb_buf_putc(out, (char)c);
            i++;
        }
    }
}

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    default: return "a string";
    }
}

int cb_exec_json(const char *s, size_t n, cb_strv_t *args, size_t **lens, cb_error_t **err) {
    size_t lead = cb_go_space_prefix(s, n);
    s += lead;
    n -= lead;
    if (n == 0 || s[0] != '[')
        return 0;
    cb_autobuf cb_buf_t text = CB_BUF_INIT;
    normalise(s, n, &text);
    json_error_t jerr;
    /* Go decodes numbers as float64: huge integers are fine, out-of-range
     * reals are a decode error (shell form), as with jansson's reals. */
    json_t *root = json_loadb(cb_buf_str(&text), text.len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
                              &jerr);
    if (root == NULL)
        return 0;
    if (!json_is_array(root)) {
        json_decref(root);
        return 0;
    }
    size_t count = json_array_size(root);
    bool has_nul = false;
    for (size_t i = 0; i < count; i++) {
        json_t *v = json_array_get(root, i);
        if (!json_is_string(v)) {
            int rc = cb_error_kind_set(err, CB_ERR_SYNTAX,
                                       "when using JSON array syntax, arrays must be comprised of "
                                       "strings only: element %zu is %s",
                                       i + 1, type_name(v));
            json_decref(root);
            return rc;
        }
        has_nul |= strlen(json_string_value(v)) != json_string_length(v);
    }
    size_t base = args->len;
    for (size_t i = 0; i < count; i++) {
        json_t *v = json_array_get(root, i);
        cb_strv_take(args, cb_xstrndup(json_string_value(v), json_string_length(v)));
    }
    if (has_nul) {
        *lens = cb_xcalloc(base + count, sizeof **lens);
        for (size_t i = 0; i < base; i++)
            (*lens)[i] = strlen(args->items[i]);
        for (size_t i = 0; i < count; i++)
            (*lens)[base + i] = json_string_length(json_array_get(root, i));
    }
    json_decref(root);
    return 1;
}
