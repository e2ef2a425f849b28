#include "builder/cli.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "builder/build.h"
#include "common/config.h"
#include "common/util.h"

const char *cb_cli_suggest(const struct option *opts, const char *bad) {
    while (*bad == '-')
        bad++;
    size_t blen = strcspn(bad, "=");
    char *name = cb_xstrndup(bad, blen);
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (const struct option *o = opts; o->name; o++) {
        size_t d = cb_edit_distance(name, strlen(name), o->name);
        if (d < best_d) {
            best_d = d;
            best = o->name;
        }
    }
    /* Close enough to be a typo: at most a third of the word, and at least 1. */
    size_t limit = blen / 3 > 2 ? blen / 3 : 2;
    free(name);
    return best_d <= limit ? best : NULL;
}

void cb_cli_bad_option(const char *cmd, const struct option *opts, char **argv, int optind_now) {
    const char *bad = argv[optind_now - 1];
    const char *hint = bad && bad[0] == '-' && bad[1] == '-' ? cb_cli_suggest(opts, bad) : NULL;
    if (hint && strcmp(hint, bad + 2) == 0)
        fprintf(stderr, "cbuild %s: option %s needs a value\n", cmd, bad);
    else if (hint)
        fprintf(stderr, "cbuild %s: unknown option %s (did you mean --%s?)\n", cmd, bad, hint);
    else
        fprintf(stderr, "cbuild %s: unknown or incomplete option %s\n", cmd, bad ? bad : "");
    fprintf(stderr, "Run 'cbuild %s --help' for usage.\n", cmd);
}

int cb_cli_open_store(const char *root_opt, cb_root_t **root, cb_store_t **store, cb_error_t **err) {
    if (cb_root_open(root_opt, root, err) < 0)
        return -1;
    if (cb_store_open((*root)->store, (*root)->tmp, store, err) < 0) {
        cb_root_free(*root);
        *root = NULL;
        return -1;
    }
    return 0;
}

int cb_cli_list_images(const char *root_opt, cb_image_info_t **infos, size_t *n, cb_error_t **err) {
    cb_autoroot cb_root_t *root = NULL;
    cb_autostore cb_store_t *store = NULL;
    if (cb_cli_open_store(root_opt, &root, &store, err) < 0)
        return -1;
    return cb_images_list(store, infos, n, err);
}

int cb_cli_fail(cb_error_t *err) {
    cb_error_print(err, stderr);
    return cb_error_exit_code(err);
}

enum { OPT_ROOT = 1000, OPT_FORMAT, OPT_NO_TRUNC };

int cb_cli_store_args(const char *cmd, const char *usage, unsigned allowed, int argc, char **argv,
                      cb_store_args_t *a) {
    struct option opts[5];
    size_t n = 0;
    opts[n++] = (struct option){"root", required_argument, NULL, OPT_ROOT};
    if (allowed & CB_STORE_OPT_FORMAT)
        opts[n++] = (struct option){"format", required_argument, NULL, OPT_FORMAT};
    if (allowed & CB_STORE_OPT_NO_TRUNC)
        opts[n++] = (struct option){"no-trunc", no_argument, NULL, OPT_NO_TRUNC};
    opts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    opts[n] = (struct option){NULL, 0, NULL, 0};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_ROOT:
            a->root = optarg;
            break;
        case OPT_FORMAT:
            a->json = strcmp(optarg, "json") == 0;
            if (!a->json && strcmp(optarg, "table") != 0) {
                fprintf(stderr, "cbuild %s: --format %s: expected table or json\n", cmd, optarg);
                return 2;
            }
            break;
        case OPT_NO_TRUNC:
            a->no_trunc = true;
            break;
        case 'h':
            printf("%s", usage);
            return 0;
        default:
            cb_cli_bad_option(cmd, opts, argv, optind);
            return 2;
        }
    }
    a->first = optind;
    if ((allowed & CB_STORE_NO_OPERANDS) && optind < argc) {
        fprintf(stderr, "cbuild %s: unexpected argument %s\n", cmd, argv[optind]);
        return 2;
    }
    return -1;
}

const char *cb_cli_plural(size_t n, const char *one, const char *many) {
    return n == 1 ? one : many;
}

void cb_cli_human_size(int64_t n, char out[32]) {
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1000 && u + 1 < CB_ARRAY_LEN(units)) {
        v /= 1000;
        u++;
    }
    snprintf(out, 32, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
}

void cb_cli_human_since(const char *rfc3339, char out[48]) {
    out[0] = '\0';
    struct tm tm = {0};
    const char *end = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (end == NULL)
        return;
    time_t then = timegm(&tm); /* fractions and a zone other than Z do not matter at this resolution */
    double s = difftime(time(NULL), then);
    /* docker's units.HumanDuration, roughly. */
    static const struct {
        double limit, unit;
        const char *one, *many;
    } steps[] = {
        {60, 1, "1 second", "seconds"},
        {3600, 60, "About a minute", "minutes"},
        {48 * 3600, 3600, "About an hour", "hours"},
        {14 * 86400, 86400, "1 day", "days"},
        {60 * 86400, 7 * 86400, "1 week", "weeks"},
        {730 * 86400, 30 * 86400, "1 month", "months"},
        {1e300, 365 * 86400, "1 year", "years"},
    };
    if (s < 1) {
        snprintf(out, 48, "Less than a second ago");
        return;
    }
    for (size_t i = 0; i < CB_ARRAY_LEN(steps); i++) {
        if (s >= steps[i].limit)
            continue;
        long v = (long)(s / steps[i].unit);
        if (v <= 1)
            snprintf(out, 48, "%s ago", steps[i].one);
        else
            snprintf(out, 48, "%ld %s ago", v, steps[i].many);
        return;
    }
}

void cb_cli_print_json(json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2));
    puts(s);
    free(s);
    json_decref(j);
}

/* buildah's choice: -f as given, else Containerfile, else Dockerfile in CONTEXT. */
int cb_cli_find_containerfile(const char *context, const char *file, char **out, cb_error_t **err) {
    struct stat st;
    if (file) {
        *out = cb_xstrdup(file);
        return 0;
    }
    if (stat(context, &st) < 0)
        return cb_error_set(err, errno, "build context %s", context);
    if (!S_ISDIR(st.st_mode))
        return cb_error_set(err, 0, "build context %s is not a directory", context);
    static const char *const names[] = {"Containerfile", "Dockerfile"};
    for (size_t i = 0; i < CB_ARRAY_LEN(names); i++) {
        char *p = cb_xasprintf("%s/%s", context, names[i]);
        if (stat(p, &st) == 0) {
            *out = p;
            return 0;
        }
        free(p);
    }
    return cb_error_set(err, 0, "no Containerfile or Dockerfile in %s (use -f FILE)", context);
}

/* Checked here as well as in the parser so the message is the same whoever
 * reads the file; each names the file first, as compilers do. */
int cb_cli_check_containerfile(const char *path, cb_error_t **err) {
    struct stat st;
    if (stat(path, &st) < 0) {
        cb_error_set(err, errno, "cannot read the Containerfile");
        return cb_error_locate(err, path, 0, 0);
    }
    if (S_ISDIR(st.st_mode)) {
        cb_error_set(err, 0, "is a directory, not a Containerfile");
        return cb_error_locate(err, path, 0, 0);
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0) {
        cb_error_set(err, 0, "the Containerfile is empty: no instructions to parse");
        return cb_error_locate(err, path, 1, 0);
    }
    return 0;
}

void cb_cli_build_defaults(cb_build_opts_t *o) {
    const cb_config_t *c = cb_config();
    if (c->compression)
        o->compression = strcmp(c->compression, "zstd") == 0   ? CB_COMPRESS_ZSTD
                         : strcmp(c->compression, "none") == 0 ? CB_COMPRESS_NONE
                                                               : CB_COMPRESS_GZIP;
    if (c->jobs)
        o->jobs = c->jobs;
    if (c->network)
        o->network = cb_xstrdup(c->network);
}
