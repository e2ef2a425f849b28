/* cbuild df: what the root holds and what prune would free, judged by
 * prune itself (a dry run), so the two never disagree. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "builder/cli.h"
#include "builder/commands.h"
#include "cache/images.h"
#include "cache/prune.h"

static json_t *row(size_t total, int64_t size, int64_t reclaimable) {
    return json_pack("{s:I,s:I,s:I}", "total", (json_int_t)total, "size", (json_int_t)size, "reclaimable",
                     (json_int_t)reclaimable);
}

static void print_row(const char *type, size_t total, int64_t size, int64_t reclaimable, const char *note) {
    char s[32], r[32];
    cb_cli_human_size(size, s);
    cb_cli_human_size(reclaimable, r);
    printf("%-13s %-7zu %-10s %s%s\n", type, total, s, r, note);
}

int cb_cmd_df(int argc, char **argv) {
    cb_store_args_t a = {0};
    int rc = cb_cli_store_args(
        "df",
        "Usage: cbuild df [--root DIR] [--format table|json]\n\n"
        "Show what the root holds: images (and the blobs they reach), all blobs, the build\n"
        "cache (records and the layers only they hold), and what 'cbuild prune' and\n"
        "'cbuild prune --all' would reclaim now (prune's own judgement, removing nothing).\n\n"
        "      --format table|json   a table (default) or a JSON object\n",
        CB_STORE_OPT_FORMAT | CB_STORE_NO_OPERANDS, argc, argv, &a);
    if (rc >= 0)
        return rc;
    cb_autoerr cb_error_t *err = NULL;
    cb_autoroot cb_root_t *root = NULL;
    cb_image_info_t *infos = NULL;
    size_t nimages = 0;
    if (cb_root_open(a.root, &root, &err) < 0 || cb_cli_list_images(a.root, &infos, &nimages, &err) < 0)
        return cb_cli_fail(err);
    size_t tagged = 0;
    for (size_t i = 0; i < nimages; i++)
        tagged += infos[i].name != NULL;
    cb_image_infos_free(infos, nimages);

    cb_prune_opts_t plain = {.keep_storage = -1, .until = -1, .dry_run = true};
    cb_prune_opts_t all = plain;
    all.all = true;
    cb_prune_report_t p, pa;
    if (cb_prune(root, &plain, &p, &err) < 0)
        return cb_cli_fail(err);
    if (cb_prune(root, &all, &pa, &err) < 0) {
        cb_prune_report_clear(&p);
        return cb_cli_fail(err);
    }
    /* Blobs nothing references (prune takes them) vs. the whole cache (--all). */
    int64_t unreferenced = p.bytes;
    int64_t cache_reclaim = pa.bytes - p.bytes;
    if (a.json) {
        json_t *o = json_pack("{s:o,s:o,s:o,s:I,s:I,s:I}", "images", row(nimages, p.image_blob_bytes, 0),
                              "blobs", row(p.total_blobs, p.total_blob_bytes, unreferenced), "build_cache",
                              row(p.total_records, p.total_cache_bytes, pa.bytes), "tagged", (json_int_t)tagged,
                              "reclaimable_prune", (json_int_t)p.bytes, "reclaimable_prune_all",
                              (json_int_t)pa.bytes);
        cb_cli_print_json(o);
    } else {
        printf("%-13s %-7s %-10s %s\n", "TYPE", "TOTAL", "SIZE", "RECLAIMABLE");
        print_row("Images", nimages, p.image_blob_bytes, 0, "");
        print_row("Blobs", p.total_blobs, p.total_blob_bytes, unreferenced, " (cbuild prune)");
        print_row("Build cache", p.total_records, p.total_cache_bytes, cache_reclaim, " (cbuild prune --all)");
        char r1[32], r2[32];
        cb_cli_human_size(p.bytes, r1);
        cb_cli_human_size(pa.bytes, r2);
        printf("\n'cbuild prune' would reclaim %s, 'cbuild prune --all' %s.\n", r1, r2);
        if (pa.running_build)
            printf("A build may be running (%s): what it may use is not counted.\n", pa.running_build);
    }
    cb_prune_report_clear(&p);
    cb_prune_report_clear(&pa);
    return 0;
}
