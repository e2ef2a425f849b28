/* cbuild history IMAGE: the image's history as `docker history` prints it,
 * newest first, each entry with the layer it made (if any). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "cache/images.h"
#include "common/util.h"

#define CREATED_BY_WIDTH 45 /* docker's truncation */

/* created_by with docker's "/bin/sh -c #(nop) " noise kept: it is what the
 * config says. Tabs and newlines of heredocs become spaces in the table. */
static char *one_line(const char *s, bool trunc) {
    cb_autobuf cb_buf_t b = CB_BUF_INIT;
    for (const char *p = s; *p; p++)
        cb_buf_putc(&b, *p == '\n' || *p == '\t' ? ' ' : *p);
    if (trunc && b.len > CREATED_BY_WIDTH) {
        cb_buf_truncate(&b, CREATED_BY_WIDTH - 3);
        cb_buf_puts(&b, "...");
    }
    return cb_buf_steal(&b);
}

static const char *str_field(json_t *o, const char *key) {
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

int cb_cmd_history(int argc, char **argv) {
    cb_store_args_t a = {0};
    int rc = cb_cli_store_args("history",
                               "Usage: cbuild history [--root DIR] [--format table|json] [--no-trunc] IMAGE\n\n"
                               "Show how an image was made, newest step first: the image ID (top row), when,\n"
                               "the instruction (CREATED BY), the size of its layer as stored (compressed;\n"
                               "0 B for steps that made none) and the comment.\n\n"
                               "      --format table|json   a table (default) or a JSON array\n"
                               "      --no-trunc            do not shorten IDs and instructions\n",
                               CB_STORE_OPT_FORMAT | CB_STORE_OPT_NO_TRUNC, argc, argv, &a);
    if (rc >= 0)
        return rc;
    bool json = a.json;
    if (argc - a.first != 1) {
        fprintf(stderr, "cbuild history: expected one IMAGE\n");
        return 2;
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    cb_oci_descriptor_t d = {0};
    cb_automanifest cb_oci_manifest_t *m = NULL;
    cb_autoconfig cb_oci_config_t *cfg = NULL;
    if (cb_cli_open_store(a.root, &root, &store, &err) < 0 || cb_images_find(store, argv[a.first], &d, &err) < 0 ||
        cb_images_load(store, &d, &m, &cfg, &err) < 0) {
        cb_oci_descriptor_clear(&d);
        return cb_cli_fail(err);
    }
    cb_oci_descriptor_clear(&d);

    json_t *hist = json_object_get(cfg->root, "history");
    size_t n = json_array_size(hist);
    /* Entries that made a layer take the manifest's layers in order. */
    int64_t *sizes = cb_xcalloc(n + 1, sizeof *sizes);
    size_t layer = 0;
    for (size_t i = 0; i < n; i++) {
        if (json_is_true(json_object_get(json_array_get(hist, i), "empty_layer")))
            continue;
        if (layer < m->nlayers)
            sizes[i] = m->layers[layer].size;
        layer++;
    }
    const char *id = m->config.digest;
    json_t *rows = json_array();
    if (!json)
        printf("%-12s %-22s %-*s %-10s %s\n", "IMAGE", "CREATED", a.no_trunc ? 0 : CREATED_BY_WIDTH, "CREATED BY",
               "SIZE", "COMMENT");
    for (size_t k = n; k-- > 0;) {
        json_t *h = json_array_get(hist, k);
        const char *created = str_field(h, "created"), *by = str_field(h, "created_by");
        const char *comment = str_field(h, "comment");
        bool empty = json_is_true(json_object_get(h, "empty_layer"));
        if (json) {
            json_array_append_new(rows, json_pack("{s:o,s:s,s:s,s:I,s:s,s:b}", "id",
                                                  k == n - 1 ? json_string(id) : json_null(), "created", created,
                                                  "created_by", by, "size", (json_int_t)sizes[k], "comment",
                                                  comment, "empty_layer", empty));
            continue;
        }
        char size[32], since[48];
        cb_cli_human_size(sizes[k], size);
        cb_cli_human_since(created, since);
        cb_autofree char *line = one_line(by, !a.no_trunc);
        const char *shown = k == n - 1 ? (a.no_trunc ? id : id + 7) : "<missing>";
        printf("%-12.*s %-22s %-*s %-10s %s\n", a.no_trunc ? 71 : 12, shown, since,
               a.no_trunc ? 0 : CREATED_BY_WIDTH, line, size, comment);
    }
    free(sizes);
    if (json)
        cb_cli_print_json(rows);
    else
        json_decref(rows);
    return 0;
}
