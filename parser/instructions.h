/* Typed instructions: the layer between the syntax tree (parser/ast.h) and
 * the build (after BuildKit's frontend/dockerfile/instructions).
 *
 * cb_program_from_ast() turns every node into one typed struct, checks each
 * instruction's --flags against the flags it allows, checks --mount specs,
 * and groups instructions into the ARGs before the first FROM ("meta ARGs")
 * and stages. Nothing is expanded here: values hold $VARS as written;
 * parser/eval.h expands them in place, stage by stage, at build time.
 *
 * Every typed struct starts with cb_instr_t, so a cb_instr_t * can be cast
 * to the struct its kind names (cb_instr_copy_t for COPY and ADD, ...).
 * Instructions borrow their node and file name from the AST: keep the AST
 * alive as long as the program.
 */
#ifndef CB_PARSER_INSTRUCTIONS_H
#define CB_PARSER_INSTRUCTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/util.h"
#include "parser/ast.h"
#include "parser/mount.h"

typedef enum cb_instr_kind {
    CB_INSTR_FROM,
    CB_INSTR_ARG,
    CB_INSTR_RUN,
    CB_INSTR_CMD,
    CB_INSTR_ENTRYPOINT,
    CB_INSTR_SHELL,
    CB_INSTR_COPY,
    CB_INSTR_ADD,
    CB_INSTR_ENV,
    CB_INSTR_LABEL,
    CB_INSTR_EXPOSE,
    CB_INSTR_USER,
    CB_INSTR_WORKDIR,
    CB_INSTR_VOLUME,
    CB_INSTR_STOPSIGNAL,
    CB_INSTR_HEALTHCHECK,
    CB_INSTR_ONBUILD,
    CB_INSTR_MAINTAINER,
} cb_instr_kind_t;

/* The common header. */
typedef struct cb_instr {
    cb_instr_kind_t kind;
    const cb_node_t *node; /* original text, lines, column, raw flags, heredocs */
    const char *file;
    /* Filled by eval: the build args this instruction depends on, as
     * "NAME=VALUE" ("NAME" when declared without a value). Cache keys use it. */
    cb_strv_t used_args;
    bool expanded; /* eval has expanded this instruction's values */
    /* A base image's ONBUILD trigger that eval spliced in after FROM; its
     * node (parsed from the trigger text) carries the FROM's lines. */
    bool from_onbuild;
} cb_instr_t;

typedef struct cb_kv {
    char *key;
    char *value;    /* NULL for ARG NAME without a default */
    bool legacy;    /* ENV/LABEL "key value" form (no '=') */
} cb_kv_t;

typedef struct cb_instr_from {
    cb_instr_t base;
    char *image;    /* base image or stage name, expanded with the meta ARGs */
    char *name;     /* "AS name", lower-cased; NULL when unnamed */
    char *platform; /* --platform value or NULL */
} cb_instr_from_t;

typedef struct cb_instr_arg { /* ARG */
    cb_instr_t base;
    cb_kv_t *args;
    size_t nargs;
} cb_instr_arg_t;

typedef struct cb_instr_run {
    cb_instr_t base;
    cb_strv_t cmd;      /* exec form: argv; shell form: one string */
    bool shell_form;
    cb_strv_t mount_specs; /* --mount values as written */
    cb_mount_t *mounts; /* parsed specs; fully checked once expanded */
    size_t nmounts;
    char *network;  /* default | none | host, or NULL */
    char *security; /* insecure | sandbox, or NULL */
    cb_strv_t devices;
    /* Filled by eval: proxy build args (HTTP_PROXY...) given on the command
     * line, "NAME=VALUE"; in RUN's environment, never in cache keys. */
    cb_strv_t proxy_env;
} cb_instr_run_t;

typedef struct cb_instr_exec { /* CMD, ENTRYPOINT, SHELL */
    cb_instr_t base;
    cb_strv_t cmd;
    bool shell_form;
} cb_instr_exec_t;

typedef struct cb_instr_copy { /* COPY and ADD */
    cb_instr_t base;
    cb_strv_t sources; /* heredoc sources stay "<<NAME" */
    char *dest;
    char *from;     /* COPY --from: stage name, index or image */
    char *chown;
    char *chmod;
    bool link;
    bool parents;   /* COPY --parents */
    cb_strv_t excludes;
    char *checksum; /* ADD --checksum */
    bool keep_git_dir; /* ADD --keep-git-dir */
    int unpack;     /* ADD --unpack: -1 when not given, else 0/1 */
    /* One body per node heredoc; eval expands those whose delimiter was
     * unquoted (quotes stay as written, as BuildKit does). */
    cb_strv_t heredocs;
} cb_instr_copy_t;

typedef struct cb_instr_kvs { /* ENV, LABEL */
    cb_instr_t base;
    cb_kv_t *pairs;
    size_t npairs;
} cb_instr_kvs_t;

typedef struct cb_instr_words { /* EXPOSE, VOLUME */
    cb_instr_t base;
    cb_strv_t words;
} cb_instr_words_t;

typedef struct cb_instr_value { /* USER, WORKDIR, STOPSIGNAL, MAINTAINER */
    cb_instr_t base;
    char *value;
} cb_instr_value_t;

typedef struct cb_instr_healthcheck {
    cb_instr_t base;
    bool none;          /* HEALTHCHECK NONE */
    cb_strv_t test;     /* ["CMD", argv...] or ["CMD-SHELL", line] */
    int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns; /* 0 = default */
    int retries;        /* 0 = default */
} cb_instr_healthcheck_t;

typedef struct cb_instr_onbuild {
    cb_instr_t base;
    cb_instr_t *trigger; /* checked now, run (and expanded) in the child build */
    char *expression;    /* the trigger as written, stored in the image config */
} cb_instr_onbuild_t;

typedef struct cb_stage {
    size_t index;
    cb_instr_from_t *from;
    cb_instr_t **instrs; /* after FROM, in file order */
    size_t ninstrs;
    bool evaluated;      /* eval ran over this stage */
} cb_stage_t;

typedef struct cb_program {
    const cb_ast_t *ast;
    cb_instr_arg_t **meta_args; /* ARGs before the first FROM */
    size_t nmeta;
    cb_stage_t *stages;
    size_t nstages;
    /* The trigger texts of base images, parsed by eval: the spliced
     * instructions borrow their nodes. Owned here, freed with the program. */
    cb_ast_t **trigger_asts;
    size_t ntrigger_asts;
} cb_program_t;

/* --flag parsing, as BuildKit's BFlags: each instruction declares its flags;
 * bool flags take no value or =true/=false, string flags need a value and
 * may appear once, list flags may repeat. */
typedef enum cb_flag_type { CB_FLAG_BOOL, CB_FLAG_STRING, CB_FLAG_LIST } cb_flag_type_t;
typedef struct cb_flag_def {
    const char *name;
    cb_flag_type_t type;
} cb_flag_def_t;
typedef struct cb_flag_val {
    bool set;
    bool b;          /* CB_FLAG_BOOL */
    char *str;       /* CB_FLAG_STRING */
    cb_strv_t list;  /* CB_FLAG_LIST */
} cb_flag_val_t;

/* vals has ndefs entries, zeroed by the caller; free with cb_flag_vals_clear. */
int cb_flags_parse(const cb_strv_t *flags, const cb_flag_def_t *defs, size_t ndefs,
                   cb_flag_val_t *vals, cb_error_t **err);
void cb_flag_vals_clear(cb_flag_val_t *vals, size_t n);

/* Go's time.ParseDuration ("1m30s", "500ms"), in nanoseconds. */
int cb_parse_duration(const char *s, int64_t *ns, cb_error_t **err);

int cb_instr_from_node(const cb_node_t *node, const char *file, cb_instr_t **out, cb_error_t **err);
void cb_instr_free(cb_instr_t *instr);
/* "FROM", "COPY", ... */
const char *cb_instr_kind_name(cb_instr_kind_t kind);

/* Errors carry FILE:LINE:COL of the offending instruction. */
int cb_program_from_ast(const cb_ast_t *ast, cb_program_t **out, cb_error_t **err);
void cb_program_free(cb_program_t *prog);

#endif
