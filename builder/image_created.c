/* The time of an image that was built before.
 *
 * A build without --timestamp/SOURCE_DATE_EPOCH stamps the image's created
 * and its new history entries with the time it started, so two builds of
 * unchanged inputs would differ in those times alone: a new config, a new
 * manifest, index.json rewritten, and a different image id where docker and
 * buildah give the same one. So the time is remembered per image content:
 * ROOT/cache/created/<hex>, named by the sha256 of the config with this
 * build's times set to 0, holds the time it was first built (decimal). A
 * rebuild that ends with the same content takes that time again and is the
 * same image, byte for byte; any change to a layer or the config gives
 * another name and the build's own time. The files are hints, written
 * without fsync: a lost or damaged one only means a new time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build_state.h"
#include "cache/root.h"
#include "cache/store.h"
#include "common/digest.h"
#include "common/fsutil.h"
#include "common/log.h"

static char *hint_path(const cb_build_t *b, const cb_image_config_t *cfg) {
    cb_autoimage_config cb_image_config_t *plain = cb_image_config_clone(cfg);
    cb_image_config_retime(plain, b->created, 0);
    cb_autofree char *json = cb_image_config_serialize(plain);
    char digest[CB_DIGEST_STR_LEN + 1];
    cb_sha256_digest(json, strlen(json), digest);
    return cb_xasprintf("%s/created/%s", b->root->cache, digest + 7);
}

static bool read_hint(const char *path, time_t *out) {
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    long long t = 0;
    char extra;
    bool ok = fscanf(f, "%lld%c", &t, &extra) == 2 && extra == '\n' && t > 0;
    fclose(f);
    if (ok)
        *out = (time_t)t;
    return ok;
}

static void write_hint(const cb_build_t *b, const char *path) {
    cb_autofree char *dir = cb_xasprintf("%s/created", b->root->cache);
    cb_autoerr cb_error_t *err = NULL;
    char text[32];
    int n = snprintf(text, sizeof text, "%lld\n", (long long)b->created);
    if (cb_mkdir_p(dir, 0700, &err) == 0)
        (void)cb_write_file_replace(path, text, (size_t)n, 0644, &err);
}

void cb_image_reuse_created(const cb_build_t *b, cb_image_config_t *cfg) {
    if (b->opts->has_timestamp)
        return; /* the time is an input already */
    cb_autofree char *path = hint_path(b, cfg);
    time_t was;
    if (!read_hint(path, &was)) {
        write_hint(b, path);
        return;
    }
    cb_debug("cache", "same image as one built at %lld: its time kept", (long long)was);
    cb_image_config_retime(cfg, b->created, was);
}
