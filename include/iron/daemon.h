/* The daemon, `iron serve`: start-up, the event loop, shutdown. */
#ifndef IRON_DAEMON_H
#define IRON_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iron/id.h"

#define DAEMON_MAX_LISTEN    8
#define DAEMON_MAX_PEERS     256
#define DAEMON_MAX_UPSTREAMS 8
#define DAEMON_HOST_MAX      256

struct daemon_peer_config {
	struct iron_id id;
	char host[DAEMON_HOST_MAX]; /* numeric address or name */
	uint16_t port;
};

struct daemon_config {
	const char *state_dir;   /* NULL: the default rule */
	const char *socket_path; /* NULL: the default rule */
	const char *tun_name;
	unsigned mtu;
	unsigned dns_port;
	int no_dns_config;
	struct sockaddr_storage listen[DAEMON_MAX_LISTEN];
	size_t nlisten;
	struct daemon_peer_config peers[DAEMON_MAX_PEERS];
	size_t npeers;
	struct sockaddr_storage dns_upstream[DAEMON_MAX_UPSTREAMS];
	size_t nupstream;
};

/* Parses "ID@HOST:PORT" (ID in any encoding, HOST an IPv4 address, a
 * bracketed IPv6 address or a name). Returns 0 or -EINVAL. */
int daemon_parse_peer(const char *text, struct daemon_peer_config *out);

/* Runs the daemon until SIGINT/SIGTERM. Returns the process exit code. */
int daemon_run(const struct daemon_config *config);

#endif
