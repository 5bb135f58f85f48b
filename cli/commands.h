/* The subcommands of the nearkit program. Each takes argv with argv[0] the command's name and
 * returns the process exit code (CLI_EXIT_*). */
#ifndef NEARKIT_CLI_COMMANDS_H
#define NEARKIT_CLI_COMMANDS_H

int cmd_build(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_kinds(int argc, char **argv);

/* Shared help text describing the input file formats. */
extern const char cli_formats_help[];

#endif
