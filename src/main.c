/* iron: the command-line front end. Global options are taken out of argv
 * wherever they stand, then the subcommand's handler gets the rest. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/log.h"
#include "iron/sysdns.h"
#include "iron/version.h"

struct command {
	const char *name;
	cli_command_fn *run;
	const char *summary;
};

static const struct command commands[] = {
    {"serve", cmd_serve, "Run the daemon (TUN, DNS, QUIC transport)"},
    {"self", cmd_self, "Show this node's identity (from the key file)"},
    {"convert", cmd_convert, "Convert a node ID between hex, base32, domain and IPv6"},
    {"key", cmd_key, "Manage the key: info, validate, export, import, generate, reset"},
    {"vanity", cmd_vanity, "Search for a key whose ID starts with a chosen prefix"},
    {"resolve", cmd_resolve, "Look up <node-id>.iron with the daemon's DNS"},
    {"status", cmd_status, "Show the running daemon's state and its peers"},
    {"peers", cmd_peers, "List the running daemon's peers"},
    {"ping", cmd_ping, "Measure the round trip to a peer through the overlay"},
    {"relay", cmd_relay, "Run a relay server (iroh's relay protocol, STUN); relay status"},
    {"dns-server", cmd_dns_server, "Run a pkarr relay and DNS server for lookup by ID; status"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: iron [OPTIONS] <COMMAND> [ARGS]\n\n"
		   "iron is a peer-to-peer IPv6 overlay network: every node has an Ed25519\n"
		   "identity, an address in fd69:726f::/32 and a name <node-id>.iron.\n\n"
		   "Commands:\n");
	for (const struct command *c = commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "  %-10s %s\n", "help", "Show this help");
	fprintf(
	    f,
	    "\nGlobal options (before or after the command):\n"
	    "  -l, --log-level LEVEL  trace, debug, info, warn or error (default info)\n"
	    "      --dns-port PORT    port of the local DNS responder (default 5333)\n"
	    "      --state-dir DIR    where the key and state live\n"
	    "      --socket PATH      control socket of the daemon\n"
	    "  -h, --help             show help (also: iron <command> --help)\n"
	    "  -V, --version          show the version\n"
	    "\nEnvironment: IRON_LOG (or RUST_LOG) sets per-module log levels,\n"
	    "e.g. IRON_LOG=quic=trace,dns=debug,info. IRON_STATE_DIR sets the state directory.\n"
	    "\nRun 'iron <command> --help' for the options of a command; 'man 8 iron' for all.\n");
}

/* Matches "--name VALUE", "--name=VALUE" or (short) "-x VALUE"/"-xVALUE".
 * Returns 1 and sets *value (consuming the next argument when needed), 0 when
 * argv[*i] is not this option, -1 when the value is missing. */
static int take_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
		      const char **value)
{
	const char *arg = argv[*i];
	size_t n = strlen(lng);
	if (strncmp(arg, lng, n) == 0 && arg[n] == '=') {
		*value = arg + n + 1;
		return 1;
	}
	if (strcmp(arg, lng) == 0 || (shrt && strcmp(arg, shrt) == 0)) {
		if (*i + 1 >= argc)
			return -1;
		*value = argv[++*i];
		return 1;
	}
	if (shrt && strncmp(arg, shrt, 2) == 0 && arg[2] != '\0') {
		*value = arg + 2;
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_globals globals = {.dns_port = CLI_DEFAULT_DNS_PORT, .log_level = LOG_INFO};
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	int nrest = 0, want_help = 0, want_version = 0, cleanup_dns = 0;
	int rc;

	if (!rest || sodium_init() < 0) {
		cli_error("cannot initialise: out of memory or no randomness");
		rc = CLI_FAIL;
		goto out;
	}
	for (int i = 1; i < argc; i++) {
		const char *value = NULL;
		int r;
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc)
				rest[nrest++] = argv[i++];
			break;
		}
		if ((r = take_value(argc, argv, &i, "--log-level", "-l", &value)) != 0) {
			int level = r > 0 ? log_level_parse(value) : -EINVAL;
			if (level < 0) {
				cli_error(
				    "--log-level: expected trace, debug, info, warn or error");
				rc = CLI_USAGE;
				goto out;
			}
			globals.log_level = (enum log_level)level;
			globals.log_level_given = true;
		} else if ((r = take_value(argc, argv, &i, "--dns-port", NULL, &value)) != 0) {
			char *end = NULL;
			long port = r > 0 ? strtol(value, &end, 10) : -1;
			if (port < 1 || port > 65535 || !end || *end) {
				cli_error("--dns-port: expected a port number from 1 to 65535");
				rc = CLI_USAGE;
				goto out;
			}
			globals.dns_port = (unsigned)port;
			globals.dns_port_given = true;
		} else if ((r = take_value(argc, argv, &i, "--state-dir", NULL, &value)) != 0) {
			if (r < 0 || !*value) {
				cli_error("--state-dir: expected a directory");
				rc = CLI_USAGE;
				goto out;
			}
			globals.state_dir = value;
		} else if ((r = take_value(argc, argv, &i, "--socket", NULL, &value)) != 0) {
			if (r < 0 || !*value) {
				cli_error("--socket: expected a path");
				rc = CLI_USAGE;
				goto out;
			}
			globals.socket_path = value;
		} else if (nrest == 0 && strcmp(argv[i], "--cleanup-dns") == 0) {
			cleanup_dns = 1;
		} else if (nrest == 0 &&
			   (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
			want_help = 1;
		} else if (nrest == 0 &&
			   (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0)) {
			want_version = 1;
		} else if (nrest == 0 && argv[i][0] == '-' && argv[i][1] != '\0') {
			/* Before the command every option is a global one. */
			cli_error("unknown option '%s'", argv[i]);
			cli_hint("run 'iron --help' for the global options");
			rc = CLI_USAGE;
			goto out;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	rest[nrest] = NULL;

	const char *filter = getenv("IRON_LOG");
	if (!filter || !*filter)
		filter = getenv("RUST_LOG");
	if (log_configure(globals.log_level, filter) != 0) {
		cli_error("IRON_LOG: cannot parse '%s'", filter);
		cli_hint("use e.g. IRON_LOG=quic=trace,dns=debug,info");
		rc = CLI_USAGE;
		goto out;
	}

	if (want_version) {
		printf("iron %s\n", IRON_VERSION);
		rc = CLI_OK;
		goto out;
	}
	if (cleanup_dns) {
		/* Only files carrying iron's marker are removed (SPEC section 6). */
		struct sysdns_options dns_opts = {.root = ""};
		unsigned removed = 0;
		int err = sysdns_cleanup(&dns_opts, &removed);
		if (err == -EPERM) {
			cli_error("--cleanup-dns: a DNS configuration file that iron did not write "
				  "is in the way; it was left alone");
			rc = CLI_FAIL;
		} else if (err < 0) {
			cli_error("--cleanup-dns: %s", strerror(-err));
			if (err == -EACCES)
				cli_hint("run it as root");
			rc = CLI_FAIL;
		} else {
			if (removed == 0)
				printf("no DNS configuration of iron found: nothing to remove\n");
			rc = CLI_OK;
		}
		goto out;
	}
	if (!want_help && nrest == 0) {
		/* A missing command is a usage error, like an unknown one: a script
		 * that lost its argument must not see success. */
		cli_error("expected a command");
		usage(stderr);
		rc = CLI_USAGE;
		goto out;
	}
	if (want_help || strcmp(rest[0], "help") == 0) {
		if (nrest > 1 && strcmp(rest[0], "help") == 0) {
			/* "iron help CMD" is "iron CMD --help". */
			char *argv2[] = {rest[1], "--help", NULL};
			for (const struct command *c = commands; c->name; c++)
				if (strcmp(c->name, rest[1]) == 0) {
					rc = c->run(&globals, 2, argv2);
					goto out;
				}
		}
		usage(stdout);
		rc = CLI_OK;
		goto out;
	}
	for (const struct command *c = commands; c->name; c++) {
		if (strcmp(c->name, rest[0]) == 0) {
			rc = c->run(&globals, nrest, rest);
			goto out;
		}
	}
	cli_error("unknown command '%s'", rest[0]);
	cli_hint("run 'iron --help' for the list of commands");
	rc = CLI_USAGE;
out:
	free(rest);
	return rc;
}
