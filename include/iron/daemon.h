/* The daemon, `iron serve`: start-up, the event loop, shutdown. */
#ifndef IRON_DAEMON_H
#define IRON_DAEMON_H

#include "iron/config.h"

struct config_file;

/* Sets the log level and filter from the command line, IRON_LOG/RUST_LOG
 * and the config file (may be NULL), in that order of precedence. */
void daemon_apply_log_settings(const struct daemon_config *config, const struct config_file *file);

/* Runs the daemon until SIGINT/SIGTERM. Returns the process exit code. */
int daemon_run(const struct daemon_config *config);

#endif
