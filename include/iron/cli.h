/* Shared pieces of the command-line front end. */
#ifndef IRON_CLI_H
#define IRON_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "iron/log.h"

/* Exit codes. */
#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2

#define CLI_DEFAULT_DNS_PORT 5333

/* Options accepted before or after any subcommand. */
struct cli_globals {
	const char *state_dir;   /* --state-dir, or NULL */
	const char *socket_path; /* --socket, or NULL */
	unsigned dns_port;       /* --dns-port */
	enum log_level log_level;
};

/* Prints "iron: <message>" and a newline on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a second line with the fix ("  hint: ..."), on stderr. */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when colours and symbols may be used on this stream. */
bool cli_is_terminal(FILE *stream);

/* Writes s as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s);

/* A subcommand: argv[0] is the subcommand's name; global options have been
 * removed. Returns the exit code. */
typedef int cli_command_fn(const struct cli_globals *globals, int argc, char **argv);

#endif
