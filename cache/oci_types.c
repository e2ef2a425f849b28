/* Media types and platforms. */
#include <string.h>

#include "cache/oci.h"
#include "common/util.h"

bool cb_oci_is_manifest_type(const char *mt) {
    return mt && (strcmp(mt, CB_MT_OCI_MANIFEST) == 0 || strcmp(mt, CB_MT_DOCKER_MANIFEST) == 0);
}

bool cb_oci_is_index_type(const char *mt) {
    return mt && (strcmp(mt, CB_MT_OCI_INDEX) == 0 || strcmp(mt, CB_MT_DOCKER_LIST) == 0);
}

bool cb_oci_is_config_type(const char *mt) {
    return mt && (strcmp(mt, CB_MT_OCI_CONFIG) == 0 || strcmp(mt, CB_MT_DOCKER_CONFIG) == 0);
}

bool cb_oci_is_layer_type(const char *mt, cb_layer_comp_t *comp) {
    static const struct {
        const char *type;
        cb_layer_comp_t comp;
    } known[] = {
        {CB_MT_OCI_LAYER, CB_LAYER_COMP_NONE},
        {CB_MT_OCI_LAYER_GZIP, CB_LAYER_COMP_GZIP},
        {CB_MT_OCI_LAYER_ZSTD, CB_LAYER_COMP_ZSTD},
        {CB_MT_OCI_LAYER_ND, CB_LAYER_COMP_NONE},
        {CB_MT_OCI_LAYER_ND_GZIP, CB_LAYER_COMP_GZIP},
        {CB_MT_OCI_LAYER_ND_ZSTD, CB_LAYER_COMP_ZSTD},
        {CB_MT_DOCKER_LAYER, CB_LAYER_COMP_NONE},
        {CB_MT_DOCKER_LAYER_GZIP, CB_LAYER_COMP_GZIP},
        {CB_MT_DOCKER_LAYER_ZSTD, CB_LAYER_COMP_ZSTD},
        {CB_MT_DOCKER_FOREIGN_GZIP, CB_LAYER_COMP_GZIP},
    };
    if (mt == NULL)
        return false;
    for (size_t i = 0; i < CB_ARRAY_LEN(known); i++) {
        if (strcmp(mt, known[i].type) == 0) {
            if (comp)
                *comp = known[i].comp;
            return true;
        }
    }
    return false;
}

/* Go's GOARCH names, which OCI platforms use, for the names uname gives. */
static const char *normalize_arch(const char *arch) {
    if (strcmp(arch, "x86_64") == 0 || strcmp(arch, "x86-64") == 0)
        return "amd64";
    if (strcmp(arch, "aarch64") == 0)
        return "arm64";
    return arch;
}

static bool valid_platform_word(const char *s, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

int cb_oci_platform_parse(const char *s, cb_oci_platform_t *out, cb_error_t **err) {
    memset(out, 0, sizeof *out);
    const char *p[3] = {NULL, NULL, NULL};
    size_t n[3] = {0, 0, 0};
    size_t count = 0;
    const char *start = s;
    for (const char *c = s;; c++) {
        if (*c == '/' || *c == '\0') {
            if (count == 3)
                return cb_error_set(err, 0, "platform '%s': expected os/arch[/variant]", s);
            p[count] = start;
            n[count] = (size_t)(c - start);
            if (!valid_platform_word(start, n[count]))
                return cb_error_set(err, 0, "platform '%s': expected os/arch[/variant]", s);
            count++;
            if (*c == '\0')
                break;
            start = c + 1;
        }
    }
    if (count < 2)
        return cb_error_set(err, 0, "platform '%s': expected os/arch[/variant]", s);
    out->os = cb_xstrndup(p[0], n[0]);
    char *arch = cb_xstrndup(p[1], n[1]);
    out->arch = cb_xstrdup(normalize_arch(arch));
    free(arch);
    if (count == 3)
        out->variant = cb_xstrndup(p[2], n[2]);
    return 0;
}

void cb_oci_platform_default(cb_oci_platform_t *out) {
    out->os = cb_xstrdup("linux");
    out->arch = cb_xstrdup("amd64");
    out->variant = NULL;
}

static bool variant_eq(const char *arch, const char *a, const char *b) {
    /* arm64 images are published both with variant "v8" and without. */
    if (strcmp(arch, "arm64") == 0) {
        if (a == NULL || strcmp(a, "v8") == 0)
            a = "";
        if (b == NULL || strcmp(b, "v8") == 0)
            b = "";
    }
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool cb_oci_platform_match(const cb_oci_platform_t *want, const cb_oci_platform_t *have) {
    if (!have->os || !have->arch || strcmp(want->os, have->os) != 0 ||
        strcmp(normalize_arch(want->arch), normalize_arch(have->arch)) != 0)
        return false;
    if (want->variant == NULL)
        return true;
    return variant_eq(normalize_arch(want->arch), want->variant, have->variant);
}

void cb_oci_platform_clear(cb_oci_platform_t *p) {
    free(p->os);
    free(p->arch);
    free(p->variant);
    memset(p, 0, sizeof *p);
}

char *cb_oci_platform_string(const cb_oci_platform_t *p) {
    if (p->variant)
        return cb_xasprintf("%s/%s/%s", p->os, p->arch, p->variant);
    return cb_xasprintf("%s/%s", p->os, p->arch);
}
