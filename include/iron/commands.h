/* The subcommands, one file each (src/cmd_<name>.c). */
#ifndef IRON_COMMANDS_H
#define IRON_COMMANDS_H

#include "iron/cli.h"

/* Each returns the exit code: CLI_OK, CLI_FAIL or CLI_USAGE. */
int cmd_self(const struct cli_globals *globals, int argc, char **argv);
int cmd_convert(const struct cli_globals *globals, int argc, char **argv);
int cmd_key(const struct cli_globals *globals, int argc, char **argv);
int cmd_vanity(const struct cli_globals *globals, int argc, char **argv);

#endif
