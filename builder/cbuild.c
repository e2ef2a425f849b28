/* cbuild's entry point: a table of subcommands (crun's layout). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/opensslv.h>
#include <seccomp.h>
#include <zstd.h>

#include "builder/commands.h"

static const cb_command_t commands[] = {
    {"build", cb_cmd_build, "build an image from a Containerfile (also: cbuild [OPTIONS] CONTEXT)"},
    {"images", cb_cmd_images, "list the images in the local store"},
    {"inspect", cb_cmd_inspect, "print an image's manifest and config as JSON"},
    {"tag", cb_cmd_tag, "give an image in the local store another name"},
    {"rmi", cb_cmd_rmi, "remove image names from the local store"},
    {"prune", cb_cmd_prune, "remove unused build cache, blobs and leftovers from the root"},
    {"push", cb_cmd_push, "push an image of the local store to a registry"},
    {"pull", cb_cmd_pull, "pull an image from a registry into the local store"},
    {"login", cb_cmd_login, "check and save credentials for a registry"},
    {"logout", cb_cmd_logout, "remove a registry's saved credentials"},
    {"parse", cb_cmd_parse, "parse a Containerfile and print its syntax tree or instruction graph"},
};

static void usage(FILE *out) {
    fprintf(out, "Usage: cbuild COMMAND [OPTIONS]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'cbuild COMMAND --help' for a command's options.\n");
}

static void version(void) {
    const struct scmp_version *sv = seccomp_version();
    printf("cbuild %s\n", CBUILD_VERSION);
    printf("  %s, %s, jansson %s, zstd %s, libcurl %s, libseccomp %u.%u.%u\n",
           archive_version_string(), OPENSSL_VERSION_TEXT, JANSSON_VERSION, ZSTD_versionString(),
           curl_version_info(CURLVERSION_NOW)->version, sv->major, sv->minor, sv->micro);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        version();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    /* `cbuild -t app:dev .` and `cbuild .` build, as `docker build` would. */
    struct stat st;
    if (argv[1][0] == '-' || stat(argv[1], &st) == 0)
        return cb_cmd_build(argc, argv);
    fprintf(stderr, "cbuild: unknown command '%s' (and no such build context)\n", argv[1]);
    usage(stderr);
    return 2;
}
