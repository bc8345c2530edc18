/* Shared pieces of the command-line front end. */
#ifndef IRON_CLI_H
#define IRON_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "iron/id.h"
#include "iron/log.h"

/* Exit codes. */
#define CLI_OK	  0
#define CLI_FAIL  1
#define CLI_USAGE 2

#define CLI_DEFAULT_DNS_PORT 5333

/* Options accepted before or after any subcommand. */
struct cli_globals {
	const char *state_dir;	 /* --state-dir, or NULL */
	const char *socket_path; /* --socket, or NULL */
	unsigned dns_port;	 /* --dns-port */
	enum log_level log_level;
	bool log_level_given; /* -l/--log-level was on the command line */
	bool dns_port_given;  /* --dns-port was on the command line */
};

/* Prints "iron: <message>" and a newline on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a second line with the fix ("  hint: ..."), on stderr. */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* True when colours and symbols may be used on this stream. */
bool cli_is_terminal(FILE *stream);

/* Copies text from outside (a daemon's reply) for the terminal: control
 * characters, which could move the cursor or recolour the screen, become
 * '?'; cut to fit out_cap (at least 1). NULL gives "". Returns out. */
char *cli_printable(const char *in, char *out, size_t out_cap);

/* Writes s as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s);

/* Reports a getopt_long() failure of a subcommand: c is getopt's return
 * value ('?' for an unknown option, ':' for a missing value; the optstring
 * must start with ':'). Prints "iron: <command>: unknown option '--x'" and a
 * hint to run 'iron <command> --help'. Returns CLI_USAGE. */
int cli_option_error(const char *command, int c, char **argv);

/* Parses the value of -f/--format: "json" sets *json, "text" clears it.
 * Returns 0, or prints the usage error and returns CLI_USAGE. */
int cli_parse_format(const char *command, const char *value, bool *json);

/* Prints "iron: <command>: <message>" and the --help hint. Returns
 * CLI_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resolves this node's key file, "<state>/secret.key" (SPEC section 1).
 * On failure (HOME unset, path too long) prints the error and the fix.
 * Returns 0 or -errno. */
int cli_key_path(const struct cli_globals *globals, char *out, size_t out_cap);

/* Finds the daemon's control socket by the rule of ctl_socket_path() from
 * the global options (--socket, --state-dir, $IRON_STATE_DIR). On failure
 * prints "iron: <command>: ..." and the fix. Returns 0 or -errno. */
int cli_ctl_socket(const struct cli_globals *globals, const char *command, char *out,
		   size_t out_cap);

/* Prints the error of identity_load()/identity_save() for the key file at
 * path ("iron: <path>: <why>") and, where there is one, the exact fix. */
void cli_identity_error(const char *path, int err);

/* Prints the text forms of a node ID as a labelled block (hex, base32,
 * domain, ipv6), preceded by a "key file" line when key_file is not NULL.
 * Colour only when f is a terminal. */
void cli_print_identity(FILE *f, const char *key_file, const struct iron_id *id);

/* Prints one "label     value" line of such a block. */
void cli_print_field(FILE *f, const char *label, const char *value);

/* Writes the members "node_id": {"hex", "base32"}, "network": {"domain",
 * "ipv6"} of a JSON object (no surrounding braces). */
void cli_json_identity(FILE *f, const struct iron_id *id);

/* Asks a yes/no question on stderr and reads the answer from stdin, which
 * must be a terminal. Returns 1 for y/yes (any case), 0 otherwise (also at
 * end of input), -ENOTTY when stdin is not a terminal. */
int cli_confirm(const char *question);

/* Decides whether a command may write over the key file at path (SPEC
 * section 4): returns 0 when nothing is there, 1 when a key exists and
 * force is set or the user said yes on the terminal. Returns -1 after
 * printing why when it must not: the user said no, stdin is not a terminal
 * and force is not set (the hint names force_flag), or the path cannot be
 * written (a symbolic link, a directory, a state directory that is a
 * file). */
int cli_may_replace(const char *command, const char *path, int force, const char *force_flag);

/* A subcommand: argv[0] is the subcommand's name; global options have been
 * removed. Returns the exit code. */
typedef int cli_command_fn(const struct cli_globals *globals, int argc, char **argv);

#endif
