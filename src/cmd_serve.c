/* iron serve: parses the daemon's options and hands over to daemon_run(). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "iron/commands.h"
#include "iron/config.h"
#include "iron/daemon.h"
#include "iron/id.h"
#include "iron/netaddr.h"

static void serve_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: iron serve [OPTIONS]\n\n"
	    "Runs the iron daemon: creates the TUN interface, answers DNS for .iron and\n"
	    "carries packets to peers over QUIC. Needs root or CAP_NET_ADMIN.\n\n"
	    "Options:\n"
	    "      --listen ADDR:PORT     UDP address to listen on (repeatable; default "
	    "[::]:4766)\n"
	    "      --peer ID@HOST:PORT    static address of a peer (repeatable; ID in any form)\n"
	    "      --peer ID@RELAY-URL    reach a peer through its relay (https:// or http://)\n"
	    "      --allow ID             only this node (repeatable) and the static peers may\n"
	    "                             connect in; without --allow or [Allow] any node can\n"
	    "                             (see 'Who can reach your node' in the README)\n"
	    "      --relay-url URL        relay to keep a connection to (repeatable; replaces\n"
	    "                             n0's public relays; 'none': no relays)\n"
	    "      --pkarr-url URL        publish this node's addresses there and look peers\n"
	    "                             up there (default " DAEMON_DEFAULT_PKARR_URL ";\n"
	    "                             'none': neither)\n"
	    "      --dns-origin NAME      look peers up as TXT _iroh.<id>.NAME (default\n"
	    "                             " DAEMON_DEFAULT_DNS_ORIGIN "; 'none': no DNS lookups)\n"
	    "      --stun HOST:PORT       STUN server telling this node its public address\n"
	    "                             (repeatable; default port 3478 of each relay;\n"
	    "                             'none': no STUN)\n"
	    "      --no-port-mapping      do not ask the gateway (NAT-PMP, UPnP-IGD) to\n"
	    "                             forward this node's UDP port\n"
	    "      --no-lan-discovery     neither announce this node on the LAN (mDNS) nor\n"
	    "                             look for peers there\n"
	    "      --dns-upstream ADDR:PORT  forward non-.iron DNS names there (repeatable)\n"
	    "      --no-dns-config        do not touch the system DNS configuration\n"
	    "      --tun-name NAME        name of the TUN interface (default iron0)\n"
	    "      --mtu N                MTU of the TUN interface (default 1420)\n"
	    "      --config FILE          read settings and peers from FILE (see iron(8));\n"
	    "                             the command line wins; SIGHUP reloads it\n"
	    "      --ctl-group GROUP      let GROUP use the control socket (mode 0660)\n"
	    "  -h, --help                 show this help\n");
}

int cmd_serve(const struct cli_globals *globals, int argc, char **argv)
{
	static const struct option options[] = {
	    {"listen", required_argument, NULL, 'L'},
	    {"peer", required_argument, NULL, 'P'},
	    {"allow", required_argument, NULL, 'A'},
	    {"dns-upstream", required_argument, NULL, 'U'},
	    {"no-dns-config", no_argument, NULL, 'N'},
	    {"tun-name", required_argument, NULL, 'T'},
	    {"mtu", required_argument, NULL, 'M'},
	    {"config", required_argument, NULL, 'C'},
	    {"ctl-group", required_argument, NULL, 'G'},
	    {"relay-url", required_argument, NULL, 'R'},
	    {"pkarr-url", required_argument, NULL, 'K'},
	    {"dns-origin", required_argument, NULL, 'O'},
	    {"no-lan-discovery", no_argument, NULL, 'D'},
	    {"stun", required_argument, NULL, 'S'},
	    {"no-port-mapping", no_argument, NULL, 'X'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct daemon_config *config = calloc(1, sizeof(*config));
	struct config_file *file = NULL;
	int opt, rc = CLI_USAGE;

	if (!config) {
		cli_error("serve: out of memory");
		return CLI_FAIL;
	}
	config->state_dir = globals->state_dir;
	config->socket_path = globals->socket_path;
	config->dns_port = globals->dns_port;
	config->tun_name = "iron0";
	config->mtu = 1420;
	/* The environment is read here, once, and nowhere below the command
	 * layer. IRON_TUN_OFFLOAD=0 keeps a plain TUN (to compare, or to get
	 * around a kernel that misbehaves); IRON_QUIC_RETRY=always sends every
	 * new client through a Retry round trip (interop tests);
	 * IRON_RELAY_SLOTS=N keeps N slots for peers seen through relays
	 * instead of 8192, so that tests can fill them. */
	const char *env = getenv("IRON_TUN_OFFLOAD");
	config->tun_offload = !(env && strcmp(env, "0") == 0);
	env = getenv("IRON_QUIC_RETRY");
	config->quic_retry_always = env && strcmp(env, "always") == 0;
	env = getenv("IRON_RELAY_SLOTS");
	config->relay_slots = env ? (unsigned)strtoul(env, NULL, 10) : 0;
	config->log_env = getenv("IRON_LOG");
	/* A private relay's CA, the variable OpenSSL and curl read too. */
	config->ca_file = getenv("SSL_CERT_FILE");
	if (!config->log_env || !*config->log_env)
		config->log_env = getenv("RUST_LOG");
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (opt) {
		case 'L':
			if (config->nlisten == DAEMON_MAX_LISTEN) {
				cli_error("serve: --listen: at most %d addresses",
					  DAEMON_MAX_LISTEN);
				goto out;
			}
			if (netaddr_parse(optarg, &config->listen[config->nlisten]) != 0) {
				cli_error("serve: --listen '%s': expected IP:PORT or [IPv6]:PORT",
					  optarg);
				goto out;
			}
			config->nlisten++;
			config->cli_set |= CONFIG_LISTEN;
			break;
		case 'P':
			if (config->npeers == DAEMON_MAX_PEERS) {
				cli_error("serve: --peer: at most %d static peers",
					  DAEMON_MAX_PEERS);
				goto out;
			}
			if (config_parse_peer(optarg, &config->peers[config->npeers]) != 0) {
				cli_error(
				    "serve: --peer '%s': expected ID@HOST:PORT or ID@RELAY-URL "
				    "with a valid node ID",
				    optarg);
				cli_hint("e.g. --peer "
					 "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@192."
					 "0.2.1:4766");
				goto out;
			}
			config->peers[config->npeers].from_cli = true;
			config->npeers++;
			config->cli_set |= CONFIG_PEERS;
			break;
		case 'A': {
			struct iron_id id;
			if (id_parse(optarg, &id, NULL) != 0) {
				cli_error("serve: --allow '%s': not a node ID (expected 52 base32 "
					  "characters, 64 hex digits or <base32>.iron)",
					  optarg);
				goto out;
			}
			if (config_allow_add(config->allow, &config->nallow_cli, DAEMON_MAX_ALLOW,
					     &id) < 0) {
				cli_error("serve: --allow: at most %d nodes", DAEMON_MAX_ALLOW);
				goto out;
			}
			config->nallow = config->nallow_cli;
			config->allow_on = true;
			config->cli_set |= CONFIG_ALLOW;
			break;
		}
		case 'R': {
			char err[300];
			if (strcmp(optarg, "none") == 0) {
				if (config->nrelays > 0) {
					cli_error(
					    "serve: --relay-url none: cannot go with a relay URL");
					goto out;
				}
				config->relays_set = true;
				config->cli_set |= CONFIG_RELAYS;
				break;
			}
			if (config->relays_set && config->nrelays == 0) {
				cli_error("serve: --relay-url none: cannot go with a relay URL");
				goto out;
			}
			if (config->nrelays == DAEMON_MAX_RELAYS) {
				cli_error("serve: --relay-url: at most %d relays",
					  DAEMON_MAX_RELAYS);
				goto out;
			}
			if (config_parse_relay_url(optarg, config->relays[config->nrelays], err,
						   sizeof(err)) != 0) {
				cli_error("serve: --relay-url: %s", err);
				goto out;
			}
			config->nrelays++;
			config->relays_set = true;
			config->cli_set |= CONFIG_RELAYS;
			break;
		}
		case 'K': {
			char err[300];
			if (config_parse_pkarr_url(optarg, config->pkarr_url, err, sizeof(err)) !=
			    0) {
				cli_error("serve: --pkarr-url: %s", err);
				goto out;
			}
			config->pkarr_url_set = true;
			config->cli_set |= CONFIG_PKARR_URL;
			break;
		}
		case 'O': {
			char err[300];
			if (config_parse_dns_origin(optarg, config->dns_origin, err, sizeof(err)) !=
			    0) {
				cli_error("serve: --dns-origin: %s", err);
				goto out;
			}
			config->dns_origin_set = true;
			config->cli_set |= CONFIG_DNS_ORIGIN;
			break;
		}
		case 'S': {
			char err[300];
			if (strcmp(optarg, "none") == 0 ||
			    (config->stun_set && config->nstun == 0)) {
				if (config->nstun > 0 || strcmp(optarg, "none") != 0) {
					cli_error("serve: --stun none: cannot go with a server");
					goto out;
				}
				config->stun_set = true;
				config->cli_set |= CONFIG_STUN;
				break;
			}
			if (config->nstun == DAEMON_MAX_STUN) {
				cli_error("serve: --stun: at most %d servers", DAEMON_MAX_STUN);
				goto out;
			}
			if (config_parse_stun(optarg, config->stun[config->nstun], err,
					      sizeof(err)) != 0) {
				cli_error("serve: --stun: %s", err);
				goto out;
			}
			config->nstun++;
			config->stun_set = true;
			config->cli_set |= CONFIG_STUN;
			break;
		}
		case 'X':
			config->no_port_mapping = true;
			config->cli_set |= CONFIG_PORT_MAPPING;
			break;
		case 'D':
			config->no_lan_discovery = true;
			config->cli_set |= CONFIG_LAN_DISCOVERY;
			break;
		case 'U':
			if (config->nupstream == DAEMON_MAX_UPSTREAMS) {
				cli_error("serve: --dns-upstream: at most %d servers",
					  DAEMON_MAX_UPSTREAMS);
				goto out;
			}
			if (netaddr_parse(optarg, &config->dns_upstream[config->nupstream]) != 0) {
				cli_error(
				    "serve: --dns-upstream '%s': expected IP:PORT or [IPv6]:PORT",
				    optarg);
				goto out;
			}
			config->nupstream++;
			config->cli_set |= CONFIG_DNS_UPSTREAM;
			break;
		case 'N':
			config->no_dns_config = 1;
			config->cli_set |= CONFIG_NO_DNS_CONFIG;
			break;
		case 'T':
			if (!*optarg || strlen(optarg) >= 16 || strchr(optarg, '/') ||
			    strchr(optarg, ' ')) {
				cli_error("serve: --tun-name '%s': expected an interface name of 1 "
					  "to 15 characters",
					  optarg);
				goto out;
			}
			config->tun_name = optarg;
			config->cli_set |= CONFIG_TUN_NAME;
			break;
		case 'M': {
			char *end = NULL;
			long mtu = strtol(optarg, &end, 10);
			if (*end || mtu < 1280 || mtu > 1420) {
				cli_error("serve: --mtu '%s': expected a number from 1280 (the "
					  "IPv6 minimum) to 1420",
					  optarg);
				goto out;
			}
			config->mtu = (unsigned)mtu;
			config->cli_set |= CONFIG_MTU;
			break;
		}
		case 'C':
			config->config_path = optarg;
			break;
		case 'G':
			if (!*optarg) {
				cli_error("serve: --ctl-group: expected a group name");
				goto out;
			}
			config->ctl_group = optarg;
			break;
		case 'h':
			serve_usage(stdout);
			rc = CLI_OK;
			goto out;
		default:
			cli_error("serve: unknown or incomplete option '%s'", argv[optind - 1]);
			cli_hint("run 'iron serve --help'");
			goto out;
		}
	}
	if (optind < argc) {
		cli_error("serve: unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (config->nlisten == 0) {
		netaddr_parse("[::]:4766", &config->listen[0]);
		config->nlisten = 1;
	}
	if (globals->dns_port_given)
		config->cli_set |= CONFIG_DNS_PORT;
	if (globals->log_level_given)
		config->cli_set |= CONFIG_LOG_LEVEL;
	config->cli_log_level = globals->log_level_given ? (int)globals->log_level : -1;
	if (globals->state_dir)
		config->cli_set |= CONFIG_STATE_DIR;
	if (config->config_path) {
		struct config_error err = {0};
		file = calloc(1, sizeof(*file));
		if (!file) {
			cli_error("serve: out of memory");
			rc = CLI_FAIL;
			goto out;
		}
		int r = config_load(config->config_path, file, &err);
		if (r < 0) {
			cli_error("serve: %s: %s", config->config_path,
				  err.message[0] ? err.message : strerror(-r));
			rc = CLI_FAIL;
			goto out;
		}
		if (config_merge(config, config->cli_set, file) < 0) {
			cli_error("serve: %s: too many peers (at most %d with the command line's)",
				  config->config_path, DAEMON_MAX_PEERS);
			rc = CLI_FAIL;
			goto out;
		}
		daemon_apply_log_settings(config, file);
	}
	rc = daemon_run(config);
out:
	free(file);
	free(config);
	return rc;
}
