/* iron self: this node's identity, read from the key file. Never creates a
 * key: that is `iron key generate --save` or `iron serve`. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "iron/addr.h"
#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/identity.h"

enum self_output { SELF_BLOCK, SELF_HEX, SELF_BASE32, SELF_DOMAIN, SELF_IPV6, SELF_JSON };

static void self_usage(FILE *f)
{
	fprintf(f,
		"Usage: iron self [--hex | --base32 | --domain | --ipv6 | -f json | --exists]\n\n"
		"Shows this node's identity from its key file (<state>/secret.key),\n"
		"without the daemon. Never creates a key.\n\n"
		"Options:\n"
		"      --hex           print only the node ID in hex\n"
		"      --base32        print only the node ID in base32\n"
		"      --domain        print only the name <base32>.iron\n"
		"      --ipv6          print only the overlay IPv6 address\n"
		"  -f, --format FMT    text (default) or json\n"
		"      --exists        print nothing; exit 0 if a valid key file exists, else 1\n"
		"  -h, --help          show this help\n");
}

int cmd_self(const struct cli_globals *globals, int argc, char **argv)
{
	static const struct option options[] = {
	    {"hex", no_argument, NULL, 'x'},	      {"base32", no_argument, NULL, 'b'},
	    {"domain", no_argument, NULL, 'd'},	      {"ipv6", no_argument, NULL, '6'},
	    {"format", required_argument, NULL, 'f'}, {"exists", no_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	enum self_output output = SELF_BLOCK;
	int outputs = 0, exists = 0, c, err;
	char path[PATH_MAX], text[IRON_ID_DOMAIN_SIZE + ADDR_STR_SIZE];
	struct iron_identity identity;
	struct in6_addr addr;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", options, NULL)) != -1) {
		switch (c) {
		case 'x':
			output = SELF_HEX, outputs++;
			break;
		case 'b':
			output = SELF_BASE32, outputs++;
			break;
		case 'd':
			output = SELF_DOMAIN, outputs++;
			break;
		case '6':
			output = SELF_IPV6, outputs++;
			break;
		case 'e':
			exists = 1;
			break;
		case 'f':
			if (strcmp(optarg, "json") == 0)
				output = SELF_JSON, outputs++;
			else if (strcmp(optarg, "text") != 0)
				return cli_usage_error("self", "unknown format '%s' (text or json)",
						       optarg);
			break;
		case 'h':
			self_usage(stdout);
			return CLI_OK;
		default:
			return cli_option_error("self", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("self", "unexpected argument '%s'", argv[optind]);
	if (outputs > 1 || (exists && outputs > 0))
		return cli_usage_error("self", "choose one of --hex, --base32, --domain, --ipv6, "
					       "-f json and --exists");

	if (exists) {
		/* Silent by contract: scripts test the exit code only. */
		char dir[PATH_MAX];
		err = identity_state_dir(globals->state_dir, dir, sizeof(dir), NULL);
		if (err == 0)
			err = identity_key_path(dir, path, sizeof(path));
		if (err == 0)
			err = identity_load(path, &identity);
		identity_wipe(&identity);
		return err == 0 ? CLI_OK : CLI_FAIL;
	}
	if (cli_key_path(globals, path, sizeof(path)) != 0)
		return CLI_FAIL;
	err = identity_load(path, &identity);
	if (err == -ENOENT) {
		cli_error("self: no key file at %s", path);
		cli_hint("create one with 'iron key generate --save', or start 'iron serve'");
		return CLI_FAIL;
	}
	if (err) {
		cli_identity_error(path, err);
		return CLI_FAIL;
	}

	switch (output) {
	case SELF_BLOCK:
		cli_print_identity(stdout, path, &identity.id);
		break;
	case SELF_HEX:
		id_to_hex(&identity.id, text), puts(text);
		break;
	case SELF_BASE32:
		id_to_base32(&identity.id, text), puts(text);
		break;
	case SELF_DOMAIN:
		id_to_domain(&identity.id, text), puts(text);
		break;
	case SELF_IPV6:
		addr_from_id(&identity.id, &addr);
		puts(addr_format(&addr, text));
		break;
	case SELF_JSON:
		fputs("{\"key_file\": ", stdout);
		cli_json_string(stdout, path);
		fputs(", ", stdout);
		cli_json_identity(stdout, &identity.id);
		fputs("}\n", stdout);
		break;
	}
	identity_wipe(&identity);
	return CLI_OK;
}
