/* The `--config FILE` format of `iron serve` (SPEC section 7): the same
 * settings as the command line, in a WireGuard-like file.
 *
 *     # comment (a '#' starts a comment anywhere on a line)
 *     [Interface]              # optional: keys before any section are
 *                              # Interface keys too
 *     Listen = [::]:4766       # repeatable, numeric ADDR:PORT
 *     TunName = iron0
 *     MTU = 1420               # 1280 .. 1420
 *     DnsPort = 5333
 *     DnsUpstream = 9.9.9.9:53 # repeatable, numeric ADDR:PORT
 *     NoDnsConfig = true       # true/false, yes/no, on/off, 1/0
 *     LogLevel = info          # trace, debug, info, warn, error
 *     LogFilter = quic=debug   # IRON_LOG syntax
 *     StateDir = /var/lib/iron
 *
 *     [Peer]                   # repeatable, one per static peer
 *     ID = <node ID: base32, hex or domain form>
 *     Endpoint = 192.0.2.1:4766   # or [2001:db8::1]:4766 or host.example:4766
 *
 *     [Allow]                  # inbound allow-list: its presence closes the
 *     ID = <node ID>           # node to all but these IDs and the [Peer]s;
 *                              # ID repeatable, the section too
 *
 * Section and key names are case-insensitive; values are not. Whitespace
 * around names and values is ignored, CRLF line ends are accepted, a UTF-8
 * byte order mark at the start is skipped. Unknown sections and keys,
 * singular keys given twice, a second [Interface], a [Peer] without ID or
 * Endpoint, the same peer ID twice and the same allowed ID twice are
 * errors. A file is at most CONFIG_MAX_SIZE bytes and a line at most
 * CONFIG_LINE_MAX characters.
 *
 * Precedence, applied by config_merge(): a setting given on the command
 * line wins over the file. Peers are the union: command-line --peer entries
 * are added to the file's [Peer] list (a --peer with an ID the file also
 * lists replaces that entry's endpoint). --listen and --dns-upstream, when
 * given at all, replace the file's Listen and DnsUpstream lists. The
 * allow-list is the union of --allow and [Allow]; the policy is on when
 * either is given (an empty [Allow] admits only the static peers). */
#ifndef IRON_CONFIG_H
#define IRON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iron/id.h"
#include "iron/log.h"
#include "iron/netaddr.h"

/* The settings of `iron serve`: defaults, then the command line, then
 * the file (config_merge()). */
#define DAEMON_MAX_LISTEN    8
#define DAEMON_MAX_PEERS     256
#define DAEMON_MAX_UPSTREAMS 8
#define DAEMON_HOST_MAX	     256
#define DAEMON_MAX_RELAYS    8
#define DAEMON_URL_MAX	     256
#define DAEMON_MAX_STUN	     8
#define DAEMON_MAX_ALLOW     1024 /* --allow IDs; [Allow] IDs of a file */

struct daemon_peer_config {
	struct iron_id id;
	char host[DAEMON_HOST_MAX]; /* numeric address or name; "" when none */
	uint16_t port;
	char relay[DAEMON_URL_MAX]; /* the peer's relay URL; "" when none */
	bool from_cli;		    /* a --peer (kept across reloads), not the file's */
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
	bool tun_offload;	/* IRON_TUN_OFFLOAD=0 turns TUN offloads off */
	bool quic_retry_always; /* IRON_QUIC_RETRY=always (tests) */
	unsigned relay_slots;	/* IRON_RELAY_SLOTS=N: fewer relay slots (tests); 0: all */
	const char *log_env;	/* IRON_LOG, else RUST_LOG: the log filter */
	struct netaddr listen[DAEMON_MAX_LISTEN];
	size_t nlisten;
	struct daemon_peer_config peers[DAEMON_MAX_PEERS];
	size_t npeers;
	struct netaddr dns_upstream[DAEMON_MAX_UPSTREAMS];
	size_t nupstream;
	/* The relay map: --relay-url, Relay =; "none" gives nrelays 0 with
	 * relays_set; nothing given: the default map (iroh's N0 relays). */
	char relays[DAEMON_MAX_RELAYS][DAEMON_URL_MAX];
	size_t nrelays;
	bool relays_set;
	const char *ca_file; /* SSL_CERT_FILE: more CAs for TLS relays, or NULL */
	/* Discovery: --pkarr-url, PkarrUrl =; --dns-origin, DnsOrigin =;
	 * "" for none; not set: iroh's N0 defaults. --no-lan-discovery,
	 * LanDiscovery = false. */
	char pkarr_url[DAEMON_URL_MAX];
	bool pkarr_url_set;
	char dns_origin[DAEMON_HOST_MAX];
	bool dns_origin_set;
	bool no_lan_discovery;
	/* STUN servers (--stun HOST:PORT, Stun =); "none" gives nstun 0 with
	 * stun_set; not set: port 3478 of each relay of the map. */
	char stun[DAEMON_MAX_STUN][DAEMON_HOST_MAX];
	size_t nstun;
	bool stun_set;
	bool no_port_mapping; /* --no-port-mapping, PortMapping = false */
	/* The inbound allow-list: the --allow IDs (the first nallow_cli,
	 * kept across reloads), then the file's [Allow] IDs not among them.
	 * allow_on: --allow or [Allow] was given; off, every node may
	 * connect. */
	struct iron_id allow[2 * DAEMON_MAX_ALLOW];
	size_t nallow, nallow_cli;
	bool allow_on;
};

/* iroh's N0 preset: where records are published and looked up. */
#define DAEMON_DEFAULT_PKARR_URL  "https://dns.iroh.link/pkarr"
#define DAEMON_DEFAULT_DNS_ORIGIN "dns.iroh.link"

#define CONFIG_MAX_SIZE	    65536
#define CONFIG_LINE_MAX	    1024
#define CONFIG_MTU_MIN	    1280
#define CONFIG_MTU_MAX	    1420
#define CONFIG_TUN_NAME_MAX 15 /* IFNAMSIZ - 1 */
#define CONFIG_FILTER_MAX   511
#define CONFIG_PATH_MAX	    1024

/* One bit per setting, used both for "the file set it" (config_file.set)
 * and for "the command line set it" (the cli_set argument of
 * config_merge()). */
enum config_setting {
	CONFIG_LISTEN = 1u << 0,
	CONFIG_TUN_NAME = 1u << 1,
	CONFIG_MTU = 1u << 2,
	CONFIG_DNS_PORT = 1u << 3,
	CONFIG_DNS_UPSTREAM = 1u << 4,
	CONFIG_NO_DNS_CONFIG = 1u << 5,
	CONFIG_LOG_LEVEL = 1u << 6,
	CONFIG_LOG_FILTER = 1u << 7,
	CONFIG_STATE_DIR = 1u << 8,
	CONFIG_PEERS = 1u << 9,
	CONFIG_RELAYS = 1u << 10,
	CONFIG_PKARR_URL = 1u << 11,
	CONFIG_DNS_ORIGIN = 1u << 12,
	CONFIG_LAN_DISCOVERY = 1u << 13,
	CONFIG_STUN = 1u << 14,
	CONFIG_PORT_MAPPING = 1u << 15,
	CONFIG_ALLOW = 1u << 16, /* an [Allow] section, --allow */
};

/* A parsed file: the values, and which of them the file gave. A plain
 * value type, but large (about 110 KiB, mostly the peer and allow lists):
 * keep it in static or heap storage rather than on a small stack. */
struct config_file {
	unsigned set; /* enum config_setting bits */
	char tun_name[CONFIG_TUN_NAME_MAX + 1];
	unsigned mtu;
	unsigned dns_port;
	int no_dns_config;
	enum log_level log_level;
	char log_filter[CONFIG_FILTER_MAX + 1];
	char state_dir[CONFIG_PATH_MAX];
	struct netaddr listen[DAEMON_MAX_LISTEN];
	size_t nlisten;
	struct netaddr dns_upstream[DAEMON_MAX_UPSTREAMS];
	size_t nupstream;
	struct daemon_peer_config peers[DAEMON_MAX_PEERS];
	size_t npeers;
	char relays[DAEMON_MAX_RELAYS][DAEMON_URL_MAX];
	size_t nrelays;			  /* 0 with CONFIG_RELAYS set: Relay = none */
	char pkarr_url[DAEMON_URL_MAX];	  /* "" for none */
	char dns_origin[DAEMON_HOST_MAX]; /* "" for none */
	bool no_lan_discovery;
	char stun[DAEMON_MAX_STUN][DAEMON_HOST_MAX];
	size_t nstun; /* 0 with CONFIG_STUN set: Stun = none */
	bool no_port_mapping;
	struct iron_id allow[DAEMON_MAX_ALLOW]; /* [Allow] IDs; CONFIG_ALLOW: a section */
	size_t nallow;
};

/* Where and why parsing failed. line is 1-based, 0 for errors about the
 * whole file; message is one line, e.g.
 * "line 7: MTU: expected a number from 1280 to 1420". */
struct config_error {
	unsigned line;
	char message[256];
};

/* Parses len bytes of text (need not be NUL-terminated) into *out, which it
 * clears first. Returns 0; -EINVAL with *err filled on a syntax or value
 * error; -EFBIG when len > CONFIG_MAX_SIZE. err may be NULL. */
int config_parse(const char *text, size_t len, struct config_file *out, struct config_error *err);

/* Reads and parses the file at path. Returns 0, or the -errno of
 * config_parse(), or -EFBIG (larger than CONFIG_MAX_SIZE), -EISDIR/-EINVAL
 * (not a regular file: a FIFO is refused without blocking), -EPERM (owned
 * by a user other than root and us, or writable by group or others) or the
 * -errno of open/read; *err says why in every case (the message does not
 * repeat the path). */
int config_load(const char *path, struct config_file *out, struct config_error *err);

/* Applies a parsed file to a daemon configuration that already holds the
 * defaults and the command-line values. cli_set has the enum config_setting
 * bit of every setting the command line gave; those keep their command-line
 * value, every other setting the file gave replaces the default. Peers are
 * merged as described at the top, and so is the allow-list (the file's
 * [Allow] IDs are appended after the command line's, without repeats;
 * allow_on is set when the file has [Allow]). String fields of *config
 * end up pointing into *file, which must outlive *config. CONFIG_LOG_* and CONFIG_STATE_DIR
 * are not part of struct daemon_config except state_dir; see
 * config_log_settings() for the log settings. Returns 0, or -ENOSPC (and
 * *config unchanged) when the merged peer list exceeds DAEMON_MAX_PEERS. */
int config_merge(struct daemon_config *config, unsigned cli_set, const struct config_file *file);

/* The log settings to pass to log_configure(): the level is cli_level when
 * the command line gave one (cli_level >= 0), else the file's LogLevel,
 * else LOG_INFO; the filter is env_filter (IRON_LOG or RUST_LOG) when it is
 * set and not empty, else the file's LogFilter, else NULL. file may be
 * NULL. *filter points into env_filter or *file. */
void config_log_settings(const struct config_file *file, int cli_level, const char *env_filter,
			 enum log_level *level, const char **filter);

/* Parses "HOST:PORT" where HOST is an IPv4 address, a bracketed IPv6
 * address or a DNS name, and PORT is 1..65535. The host is stored without
 * brackets. Returns 0 or -EINVAL. */
int config_parse_endpoint(const char *text, char *host, size_t host_cap, uint16_t *port);

/* Adds id to list (of *n entries, room for cap) unless it is there.
 * Returns 1 when added, 0 when already there, -ENOSPC when full. */
int config_allow_add(struct iron_id *list, size_t *n, size_t cap, const struct iron_id *id);

/* Parses "ID@HOST:PORT" or "ID@RELAY-URL" (the --peer forms; ID in any
 * encoding; the URL http:// or https://) into *out. Returns 0 or -EINVAL. */
int config_parse_peer(const char *text, struct daemon_peer_config *out);

/* Checks a relay URL (relay_url_parse()) and copies it into out
 * (DAEMON_URL_MAX bytes). Returns 0 or -EINVAL with a reason in err. */
int config_parse_relay_url(const char *text, char *out, char *err, size_t err_cap);
/* Checks a pkarr relay URL (http:// or https://, as a relay URL) or
 * "none" (out ""), copying it into out (DAEMON_URL_MAX). Returns 0 or
 * -EINVAL with a one-line reason in err. */
int config_parse_pkarr_url(const char *text, char *out, char *err, size_t err_cap);
/* Checks a DNS origin (a domain name: labels of 1-63 letters, digits,
 * '-' or '_', at most 200 bytes, an optional final '.') or "none" (out
 * ""), copying it into out (DAEMON_HOST_MAX). Returns 0 or -EINVAL. */
int config_parse_dns_origin(const char *text, char *out, char *err, size_t err_cap);
/* Checks a STUN server "HOST:PORT" ([IPv6]:PORT, a name or an address,
 * port 1-65535), copying it into out (DAEMON_HOST_MAX). Returns 0 or
 * -EINVAL. */
int config_parse_stun(const char *text, char *out, char *err, size_t err_cap);

#endif
