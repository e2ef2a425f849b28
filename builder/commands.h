/* The CLI's subcommands: each is a thin handler that parses its arguments
 * and calls the library code; it returns the process exit code. */
#ifndef CB_BUILDER_COMMANDS_H
#define CB_BUILDER_COMMANDS_H

typedef int (*cb_command_fn)(int argc, char **argv);

typedef struct cb_command {
    const char *name;
    cb_command_fn run;
    const char *summary;
} cb_command_t;

int cb_cmd_parse(int argc, char **argv);
int cb_cmd_build(int argc, char **argv);
int cb_cmd_images(int argc, char **argv);
int cb_cmd_inspect(int argc, char **argv);
int cb_cmd_tag(int argc, char **argv);
int cb_cmd_rmi(int argc, char **argv);
int cb_cmd_prune(int argc, char **argv);
int cb_cmd_fsck(int argc, char **argv);
int cb_cmd_history(int argc, char **argv);
int cb_cmd_df(int argc, char **argv);
int cb_cmd_graph(int argc, char **argv);
int cb_cmd_version(int argc, char **argv);
int cb_cmd_push(int argc, char **argv);
int cb_cmd_pull(int argc, char **argv);
int cb_cmd_login(int argc, char **argv);
int cb_cmd_logout(int argc, char **argv);

#endif
