/* cbuild images, inspect, tag, rmi: the local store as docker and buildah
 * users know it. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "cache/blob.h"
#include "cache/images.h"
#include "cache/index.h"
#include "cache/refname.h"
#include "common/util.h"

enum { OPT_ROOT = 1000, OPT_FORMAT };

static const struct option store_opts[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct store_args {
    char *root;
    char *format;
    int first; /* index of the first operand */
} store_args_t;

/* Parses the options every store command shares; returns -1 to go on, else an exit code. */
static int parse_store_args(const char *cmd, const char *usage, int argc, char **argv, store_args_t *a) {
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", store_opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT:
            a->root = optarg;
            break;
        case OPT_FORMAT:
            a->format = optarg;
            break;
        case 'h':
            printf("%s", usage);
            return 0;
        default:
            cb_cli_bad_option(cmd, store_opts, argv, optind);
            return 2;
        }
    }
    a->first = optind;
    return -1;
}

static void human_size(int64_t n, char out[32]) {
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u + 1 < CB_ARRAY_LEN(units)) {
        v /= 1000;
        u++;
    }
    snprintf(out, 32, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
}

int cb_cmd_images(int argc, char **argv) {
    store_args_t a = {0};
    int rc = parse_store_args("images", "Usage: cbuild images [--root DIR] [--format table|json]\n\n"
                                        "List the images in the local store.\n",
                              argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.format && strcmp(a.format, "json") && strcmp(a.format, "table")) {
        fprintf(stderr, "cbuild images: --format %s: expected table or json\n", a.format);
        return 2;
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    cb_image_info_t *infos = NULL;
    size_t n = 0;
    if (cb_cli_open_store(a.root, &root, &store, &err) < 0 || cb_images_list(store, &infos, &n, &err) < 0)
        return cb_cli_fail(err);
    if (a.format && strcmp(a.format, "json") == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "name", infos[i].name ? json_string(infos[i].name) : json_null());
            json_object_set_new(o, "id", json_string(infos[i].id));
            json_object_set_new(o, "digest", json_string(infos[i].manifest_digest));
            json_object_set_new(o, "created", infos[i].created ? json_string(infos[i].created) : json_null());
            json_object_set_new(o, "size", json_integer(infos[i].size));
            json_array_append_new(arr, o);
        }
        char *s = json_dumps(arr, JSON_INDENT(2));
        puts(s);
        free(s);
        json_decref(arr);
    } else {
        printf("%-40s %-12s %-14s %-22s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
        for (size_t i = 0; i < n; i++) {
            const char *name = infos[i].name ? infos[i].name : "<none>:<none>";
            const char *tag = strrchr(name, ':');
            const char *slash = strrchr(name, '/');
            if (tag && slash && tag < slash)
                tag = NULL;
            char size[32];
            human_size(infos[i].size, size);
            printf("%-40.*s %-12s %-14.12s %-22s %s\n", tag ? (int)(tag - name) : (int)strlen(name), name,
                   tag ? tag + 1 : "<none>", infos[i].id + 7, infos[i].created ? infos[i].created : "", size);
        }
    }
    cb_image_infos_free(infos, n);
    return 0;
}

int cb_cmd_inspect(int argc, char **argv) {
    store_args_t a = {0};
    int rc = parse_store_args("inspect", "Usage: cbuild inspect [--root DIR] IMAGE...\n\n"
                                         "Print the manifest and config of images (by name, ID or digest) as JSON.\n",
                              argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.first >= argc) {
        fprintf(stderr, "cbuild inspect: expected an IMAGE\n");
        return 2;
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    if (cb_cli_open_store(a.root, &root, &store, &err) < 0)
        return cb_cli_fail(err);
    json_t *arr = json_array();
    for (int i = a.first; i < argc; i++) {
        cb_oci_descriptor_t d = {0};
        cb_automanifest cb_oci_manifest_t *m = NULL;
        cb_autoconfig cb_oci_config_t *cfg = NULL;
        if (cb_images_find(store, argv[i], &d, &err) < 0 || cb_images_load(store, &d, &m, &cfg, &err) < 0) {
            cb_oci_descriptor_clear(&d);
            json_decref(arr);
            return cb_cli_fail(err);
        }
        json_t *o = json_object();
        json_object_set_new(o, "Name", json_string(argv[i]));
        json_object_set_new(o, "Id", json_string(m->config.digest + 7));
        json_object_set_new(o, "Digest", json_string(d.digest));
        json_object_set_new(o, "ManifestType", json_string(d.media_type));
        cb_autofree char *raw = NULL;
        size_t rawlen = 0;
        if (cb_blob_read_all(store, d.digest, d.size, CB_OCI_MAX_DOC_SIZE, &raw, &rawlen, &err) < 0) {
            cb_oci_descriptor_clear(&d);
            json_decref(o);
            json_decref(arr);
            return cb_cli_fail(err);
        }
        json_object_set_new(o, "Manifest", json_loadb(raw, rawlen, 0, NULL));
        json_object_set_new(o, "Config", json_deep_copy(cfg->root));
        json_array_append_new(arr, o);
        cb_oci_descriptor_clear(&d);
    }
    char *s = json_dumps(arr, JSON_INDENT(2));
    puts(s);
    free(s);
    json_decref(arr);
    return 0;
}

int cb_cmd_tag(int argc, char **argv) {
    store_args_t a = {0};
    int rc = parse_store_args("tag", "Usage: cbuild tag [--root DIR] IMAGE NEWNAME...\n\n"
                                     "Give an image in the local store more names.\n",
                              argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (argc - a.first < 2) {
        fprintf(stderr, "cbuild tag: expected IMAGE and at least one NEWNAME\n");
        return 2;
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    cb_oci_descriptor_t d = {0};
    if (cb_cli_open_store(a.root, &root, &store, &err) < 0 || cb_images_find(store, argv[a.first], &d, &err) < 0)
        return cb_cli_fail(err);
    rc = 0;
    for (int i = a.first + 1; i < argc && rc == 0; i++) {
        cb_autofree char *name = NULL;
        if (cb_refname_normalize(argv[i], &name, &err) < 0 || cb_index_tag(store, name, &d, &err) < 0)
            rc = cb_cli_fail(err);
    }
    cb_oci_descriptor_clear(&d);
    return rc;
}

int cb_cmd_rmi(int argc, char **argv) {
    store_args_t a = {0};
    int rc = parse_store_args("rmi", "Usage: cbuild rmi [--root DIR] IMAGE...\n\n"
                                     "Remove names (or, by ID, every name of an image) from the local store.\n",
                              argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.first >= argc) {
        fprintf(stderr, "cbuild rmi: expected an IMAGE\n");
        return 2;
    }
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    if (cb_cli_open_store(a.root, &root, &store, &err) < 0)
        return cb_cli_fail(err);
    for (int i = a.first; i < argc; i++) {
        if (cb_images_remove(store, argv[i], &err) < 0)
            return cb_cli_fail(err);
        printf("Untagged %s\n", argv[i]);
    }
    return 0;
}
