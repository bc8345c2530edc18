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
#define DAEMON_HOST_MAX	     256

struct daemon_peer_config {
	struct iron_id id;
	char host[DAEMON_HOST_MAX]; /* numeric address or name */
	uint16_t port;
};

struct daemon_config {
	const char *config_path; /* --config FILE, reloaded on SIGHUP; or NULL */
	unsigned cli_set;	 /* enum config_setting bits given on the command line */
	int cli_log_level;	 /* -l/--log-level, or -1 */
	const char *ctl_group;	 /* --ctl-group: the control socket's group, or NULL */
	const char *state_dir;	 /* NULL: the default rule */
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

struct config_file;

/* Sets the log level and filter from the command line, IRON_LOG/RUST_LOG
 * and the config file (may be NULL), in that order of precedence. */
void daemon_apply_log_settings(const struct daemon_config *config, const struct config_file *file);

/* Runs the daemon until SIGINT/SIGTERM. Returns the process exit code. */
int daemon_run(const struct daemon_config *config);

#endif
