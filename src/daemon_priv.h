/* The daemon's state, shared by daemon.c (start-up, packet paths, shutdown)
 * and daemon_ctl.c (control socket commands). Not a public interface. */
#ifndef IRON_DAEMON_PRIV_H
#define IRON_DAEMON_PRIV_H

#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "iron/config.h"
#include "iron/ctl.h"
#include "iron/daemon.h"
#include "iron/dns_server.h"
#include "iron/identity.h"
#include "iron/offload.h"
#include "iron/peer.h"
#include "iron/ratelimit.h"
#include "iron/registry.h"
#include "iron/sysdns.h"
#include "iron/udp.h"

#define TUN_BATCH 64
/* Packets (TSO segments included) read from the TUN per wake-up: one
 * offloaded read can bring 45 of them, and all wait in the QUIC send
 * queues (256 per connection) until the flush at the end of the
 * iteration. */
#define TUN_SEGMENT_BUDGET 128
#define REGISTRY_SAVE_MS   (60 * 1000)
#define IDLE_CLOSE_NS	   (120ull * 1000000000)
#define KEEPALIVE_NS	   (5ull * 1000000000)

struct dns_tag {
	struct in6_addr client;
	uint16_t client_port;
};

struct daemon_stats {
	uint64_t tun_rx, tun_tx, tun_tx_dropped, out_not_ipv6, out_malformed, out_bad_source,
	    out_unreachable, in_not_ipv6, in_malformed, in_spoofed, in_not_for_us, to_peers;
	/* Offloads: reads that brought more than one packet, the packets they
	 * brought, and reads or writes the offload code or the kernel
	 * refused. */
	uint64_t tun_gso_reads, tun_segments_split, tun_offload_errors;
};

#define DAEMON_MAX_PINGS 64

/* An `iron ping` round trip in flight: an ICMPv6 echo request of the
 * daemon's own, answered on the control socket when its reply comes. */
struct daemon_ping {
	struct ctl_reply *reply; /* NULL: slot free */
	struct iron_id peer;
	uint16_t sequence;
	uint64_t sent_ns, deadline_ns;
	int64_t seq_echo; /* the client's "seq" */
};

struct daemon {
	uv_loop_t loop;
	const struct daemon_config *config;
	struct iron_identity identity;
	struct in6_addr own_addr;
	char state_dir[PATH_MAX];
	char peers_path[PATH_MAX];

	struct registry *registry;
	struct dns_server *dns;
	struct peer_table *peers;
	struct udp_socket *udp[DAEMON_MAX_LISTEN];
	size_t nudp;

	int tun_fd;
	char tun_name[IFNAMSIZ];
	uv_poll_t tun_poll;
	bool tun_poll_started;
	/* Packets went into the TUN in this loop iteration: the kernel may
	 * have answered them already (see on_flush). */
	bool tun_written;
	/* IFF_VNET_HDR: every read and write carries a virtio_net_hdr, and
	 * what goes into the TUN passes the coalescer. */
	bool tun_vnet_hdr;
	unsigned tun_offloads; /* TUN_OFFLOAD_* */
	struct offload_coalescer *coalescer;

	uv_timer_t peer_timer;
	uv_timer_t save_timer;
	uv_check_t flush_check;
	uv_signal_t sig_int, sig_term, sig_hup;
	bool handles_started;
	bool stopping;

	struct ratelimit icmp_limit;
	struct daemon_stats stats;

	struct ctl_server *ctl;
	char ctl_path[108];
	struct sysdns_state sysdns;
	bool sysdns_configured;
	struct config_file *reload_file; /* the config as last (re)loaded */
	uint64_t started_ns;

	uint16_t ping_ident;
	uint16_t ping_next_seq;
	struct daemon_ping pings[DAEMON_MAX_PINGS];
	uv_timer_t ping_timer;
	uint8_t tun_buf[OFFLOAD_READ_MAX];
	/* A coalesced write the kernel refused, split again (tun_write_vnet). */
	uint8_t fallback_buf[OFFLOAD_VNET_HDR_LEN + OFFLOAD_COALESCE_MAX];
	uint8_t out_buf[4200];
};

uint64_t daemon_now(const struct daemon *d);

/* The control socket's request handler (daemon_ctl.c). */
void daemon_ctl_handle(void *user, const struct ctl_request *req, struct ctl_reply *reply);

/* An ICMPv6 echo reply from peer: true when it answered one of our pings
 * (and was consumed). */
bool daemon_ping_reply(struct daemon *d, const struct iron_id *from, const uint8_t *pkt,
		       size_t len);

/* Times out pings whose deadline passed; re-arms ping_timer. */
void daemon_ping_expire(struct daemon *d);

/* Fails every ping still waiting (at shutdown). */
void daemon_ping_cancel_all(struct daemon *d);

#endif
