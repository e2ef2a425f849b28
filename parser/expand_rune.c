/* UTF-8 runes the way Go reads them (expand_internal.h). */
#include <locale.h>
#include <pthread.h>
#include <string.h>
#include <wctype.h>

#include "common/match.h"
#include "parser/expand_internal.h"

size_t cb_rune_decode(const char *s, size_t len, int32_t *cp) {
    return cb_match_rune(s, len, cp);
}

void cb_rune_put(cb_buf_t *b, int32_t cp) {
    char tmp[4];
    size_t n;
    if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = CB_RUNE_ERROR;
    if (cp < 0x80) {
        tmp[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xC0 | (cp >> 6));
        tmp[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xE0 | (cp >> 12));
        tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        tmp[0] = (char)(0xF0 | (cp >> 18));
        tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    cb_buf_add(b, tmp, n);
}

bool cb_rune_is_space(int32_t cp) {
    return cb_match_isspace(cp);
}

bool cb_rune_is_digit(int32_t cp) {
    return cp >= '0' && cp <= '9';
}

/* Go accepts any Unicode letter or digit in a name. glibc's built-in C.UTF-8
 * locale classifies by Unicode, independent of the user's locale. */
static locale_t utf8_locale;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void) {
    utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

bool cb_rune_is_name(int32_t cp) {
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cb_rune_is_digit(cp) ||
               cp == '_';
    if (cp == CB_RUNE_ERROR)
        return false;
    pthread_once(&utf8_locale_once, utf8_locale_init);
    return utf8_locale != (locale_t)0 && iswalnum_l((wint_t)cp, utf8_locale);
}

void cb_runes_decode(cb_runes_t *r, const char *s) {
    size_t len = strlen(s);
    r->cp = cb_xcalloc(len + 1, sizeof *r->cp);
    r->off = cb_xcalloc(len + 1, sizeof *r->off);
    r->n = 0;
    for (size_t i = 0; i < len;) {
        r->off[r->n] = i;
        i += cb_rune_decode(s + i, len - i, &r->cp[r->n]);
        r->n++;
    }
    r->off[r->n] = len;
}

void cb_runes_free(cb_runes_t *r) {
    free(r->cp);
    free(r->off);
    r->cp = NULL;
    r->off = NULL;
    r->n = 0;
}
