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

/* "name:tag" split as docker prints it; a ':' before the last '/' is a port. */
static void split_name(const char *name, cb_buf_t *repo, cb_buf_t *tag) {
    const char *colon = strrchr(name, ':');
    const char *slash = strrchr(name, '/');
    if (colon && slash && colon < slash)
        colon = NULL;
    cb_buf_add(repo, name, colon ? (size_t)(colon - name) : strlen(name));
    cb_buf_puts(tag, colon ? colon + 1 : "<none>");
}

int cb_cmd_images(int argc, char **argv) {
    cb_store_args_t a = {0};
    int rc = cb_cli_store_args("images",
                               "Usage: cbuild images [--root DIR] [--format table|json] [--no-trunc]\n\n"
                               "List the images in the local store: repository, tag, image ID (the config\n"
                               "digest), when it was created and its stored size.\n\n"
                               "      --format table|json   a table (default) or a JSON array\n"
                               "      --no-trunc            print the whole image ID\n",
                               CB_STORE_OPT_FORMAT | CB_STORE_OPT_NO_TRUNC | CB_STORE_NO_OPERANDS, argc, argv,
                               &a);
    if (rc >= 0)
        return rc;
    cb_autoerr cb_error_t *err = NULL;
    cb_image_info_t *infos = NULL;
    size_t n = 0;
    if (cb_cli_list_images(a.root, &infos, &n, &err) < 0)
        return cb_cli_fail(err);
    if (a.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            cb_autobuf cb_buf_t repo = CB_BUF_INIT, tag = CB_BUF_INIT;
            if (infos[i].name)
                split_name(infos[i].name, &repo, &tag);
            json_array_append_new(
                arr, json_pack("{s:o,s:o,s:o,s:s,s:s,s:o,s:I}", "name",
                               infos[i].name ? json_string(infos[i].name) : json_null(), "repository",
                               infos[i].name ? json_string(cb_buf_str(&repo)) : json_null(), "tag",
                               infos[i].name ? json_string(cb_buf_str(&tag)) : json_null(), "id", infos[i].id,
                               "digest", infos[i].manifest_digest, "created",
                               infos[i].created ? json_string(infos[i].created) : json_null(), "size",
                               (json_int_t)infos[i].size));
        }
        cb_cli_print_json(arr);
    } else {
        int idw = a.no_trunc ? 71 : 12;
        printf("%-40s %-12s %-*s %-22s %s\n", "REPOSITORY", "TAG", idw, "IMAGE ID", "CREATED", "SIZE");
        for (size_t i = 0; i < n; i++) {
            cb_autobuf cb_buf_t repo = CB_BUF_INIT, tag = CB_BUF_INIT;
            split_name(infos[i].name ? infos[i].name : "<none>:<none>", &repo, &tag);
            char size[32], since[48];
            cb_cli_human_size(infos[i].size, size);
            cb_cli_human_since(infos[i].created, since);
            const char *id = a.no_trunc ? infos[i].id : infos[i].id + 7;
            printf("%-40s %-12s %-*.*s %-22s %s\n", cb_buf_str(&repo), cb_buf_str(&tag), idw, idw, id, since,
                   size);
        }
    }
    cb_image_infos_free(infos, n);
    return 0;
}

int cb_cmd_inspect(int argc, char **argv) {
    cb_store_args_t a = {0};
    int rc = cb_cli_store_args("inspect", "Usage: cbuild inspect [--root DIR] IMAGE...\n\n"
                                         "Print the manifest and config of images (by name, ID or digest) as JSON.\n",
                              0, argc, argv, &a);
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
    cb_cli_print_json(arr);
    return 0;
}

int cb_cmd_tag(int argc, char **argv) {
    cb_store_args_t a = {0};
    int rc = cb_cli_store_args("tag", "Usage: cbuild tag [--root DIR] IMAGE NEWNAME...\n\n"
                                     "Give an image in the local store more names.\n",
                              0, argc, argv, &a);
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
    cb_store_args_t a = {0};
    int rc = cb_cli_store_args("rmi", "Usage: cbuild rmi [--root DIR] IMAGE...\n\n"
                                     "Remove names (or, by ID, every name of an image) from the local store.\n",
                              0, argc, argv, &a);
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
