/* The subcommands, one file each (src/cmd_<name>.c). */
#ifndef IRON_COMMANDS_H
#define IRON_COMMANDS_H

#include "iron/cli.h"

#endif
