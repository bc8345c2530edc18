/* The subcommands, one file each (src/cmd_<name>.c). */
#ifndef IRON_COMMANDS_H
#define IRON_COMMANDS_H

#include "iron/cli.h"

/* iron self [--hex|--base32|--domain|--ipv6|-f json|--exists] */
cli_command_fn cmd_self;
/* iron convert VALUE [--to hex|base32|domain|iron|ipv6] [-f json] */
cli_command_fn cmd_convert;
/* iron key info|validate|export|import|generate|reset */
cli_command_fn cmd_key;
/* iron vanity PREFIX [--threads N] [--max-attempts N] [--save] [--output FILE] ... */
cli_command_fn cmd_vanity;
/* iron resolve NAME [--server ADDR:PORT] [--timeout S] [-f json] */
cli_command_fn cmd_resolve;
cli_command_fn cmd_resolve_addr;
/* iron status [-f json]: the running daemon's state (control socket) */
cli_command_fn cmd_status;
/* iron peers [-f json]: the running daemon's peers */
cli_command_fn cmd_peers;
/* iron ping PEER [-c N] [-i S] [-W S] [-f json]: overlay round trips via the daemon */
cli_command_fn cmd_ping;
cli_command_fn cmd_serve;
/* iron relay [OPTIONS] | iron relay status [-f json]: the relay server */
cli_command_fn cmd_relay;
/* iron dns-server [OPTIONS] | iron dns-server status [-f json]: pkarr relay and DNS */
cli_command_fn cmd_dns_server;

#endif
