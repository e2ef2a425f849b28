#include "parser/text.h"

size_t cb_utf8_decode(const char *str, size_t n, uint32_t *rune) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char b0 = s[0];
    if (b0 < 0x80) {
        *rune = b0;
        return 1;
    }
    /* Second-byte bounds per lead byte reject overlong forms, surrogates
     * and code points above U+10FFFF, as Go does. */
    unsigned char lo = 0x80, hi = 0xBF;
    size_t width;
    uint32_t r;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        width = 2;
        r = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        width = 3;
        r = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        width = 4;
        r = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        *rune = CB_RUNE_ERROR;
        return 1;
    }
    if (n < width || s[1] < lo || s[1] > hi) {
        *rune = CB_RUNE_ERROR;
        return 1;
    }
    for (size_t i = 1; i < width; i++) {
        if (i > 1 && (s[i] < 0x80 || s[i] > 0xBF)) {
            *rune = CB_RUNE_ERROR;
            return 1;
        }
        r = (r << 6) | (s[i] & 0x3F);
    }
    *rune = r;
    return width;
}

void cb_utf8_put(cb_buf_t *b, uint32_t r) {
    char tmp[4];
    if (r < 0x80 && b->len + 1 < b->cap) {
        b->data[b->len++] = (char)r;
        b->data[b->len] = '\0';
        return;
    }
    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        r = CB_RUNE_ERROR;
    if (r < 0x80) {
        cb_buf_putc(b, (char)r);
    } else if (r < 0x800) {
        tmp[0] = (char)(0xC0 | (r >> 6));
        tmp[1] = (char)(0x80 | (r & 0x3F));
        cb_buf_add(b, tmp, 2);
    } else if (r < 0x10000) {
        tmp[0] = (char)(0xE0 | (r >> 12));
        tmp[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (r & 0x3F));
        cb_buf_add(b, tmp, 3);
    } else {
        tmp[0] = (char)(0xF0 | (r >> 18));
        tmp[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((r >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (r & 0x3F));
        cb_buf_add(b, tmp, 4);
    }
}

bool cb_go_isspace(uint32_t r) {
    switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

static bool in_table(const cb_rune_range_t *t, size_t n, uint32_t r) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r < t[mid].lo)
            hi = mid;
        else if (r > t[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

bool cb_go_isprint(uint32_t r) {
    if (r < 0x80)
        return r >= 0x20 && r < 0x7F;
    return in_table(cb_unicode_print, cb_unicode_print_len, r);
}

bool cb_go_isletter_or_digit(uint32_t r) {
    if (r < 0x80)
        return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9');
    return in_table(cb_unicode_word, cb_unicode_word_len, r);
}

size_t cb_go_space_prefix(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t r;
        size_t w = cb_utf8_decode(s + i, n - i, &r);
        if (!cb_go_isspace(r))
            break;
        i += w;
    }
    return i;
}

size_t cb_go_trim_right_len(const char *s, size_t n) {
    while (n > 0 && (unsigned char)s[n - 1] < 0x80) {
        if (!cb_go_isspace((unsigned char)s[n - 1]))
            return n;
        n--;
    }
    /* A forward scan finds the same runes as Go's backward one: a space's
     * first byte is never a continuation byte, so no earlier sequence can
     * swallow it. */
    size_t end = 0;
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t w = cb_utf8_decode(s + i, n - i, &r);
        i += w;
        if (!cb_go_isspace(r))
            end = i;
    }
    return end;
}

void cb_go_quote(cb_buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    cb_buf_reserve(b, n + 2);
    cb_buf_putc(b, '"');
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t w = cb_utf8_decode(s + i, n - i, &r);
        unsigned char c = (unsigned char)s[i];
        if (w == 1 && r == CB_RUNE_ERROR) {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xF]};
            cb_buf_add(b, esc, 4);
        } else if (r == '"' || r == '\\') {
            char esc[2] = {'\\', (char)r};
            cb_buf_add(b, esc, 2);
        } else if (cb_go_isprint(r)) {
            cb_buf_add(b, s + i, w);
        } else {
            switch (r) {
            case '\a': cb_buf_puts(b, "\\a"); break;
            case '\b': cb_buf_puts(b, "\\b"); break;
            case '\f': cb_buf_puts(b, "\\f"); break;
            case '\n': cb_buf_puts(b, "\\n"); break;
            case '\r': cb_buf_puts(b, "\\r"); break;
            case '\t': cb_buf_puts(b, "\\t"); break;
            case '\v': cb_buf_puts(b, "\\v"); break;
            default:
                if (r < ' ' || r == 0x7F)
                    cb_buf_printf(b, "\\x%c%c", hex[r >> 4], hex[r & 0xF]);
                else if (r < 0x10000)
                    cb_buf_printf(b, "\\u%04x", (unsigned)r);
                else
                    cb_buf_printf(b, "\\U%08x", (unsigned)r);
            }
        }
        i += w;
    }
    cb_buf_putc(b, '"');
}
