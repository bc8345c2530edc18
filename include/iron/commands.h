/* The subcommands, one file each (src/cmd_<name>.c). */
#ifndef IRON_COMMANDS_H
#define IRON_COMMANDS_H

#include "iron/cli.h"

/* iron resolve NAME [--server ADDR:PORT] [--timeout S] [-f json] */
cli_command_fn cmd_resolve;

#endif
