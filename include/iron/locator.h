/* Where this node is, and where its peers are: ties address publishing
 * and lookup by ID (discovery.h: pkarr and DNS, as iroh's N0 preset) and
 * LAN discovery (lan.h: mDNS) to the transport and the peer table.
 *
 * - This node's record is its home relay (transport_home_relay()) and its
 *   direct addresses: its reflexive address (what STUN servers see: a
 *   Binding request from the QUIC socket to each every 25 s, 3 s until one
 *   answers) and the addresses of its interfaces (not loopback,
 *   link-local, or the overlay's TUN) with the UDP port it listens on. It
 *   is checked every LOCATOR_CHECK_MS, and at once when the network
 *   changes (netwatch.h: STUN is asked again then), and published (pkarr PUT, LAN
 *   announce, hole-punching candidates to connected peers) when it
 *   changed; discovery.h republishes it every 5 min.
 * - A lookup (the peer table's callbacks.lookup) feeds every address and
 *   relay found into the peer's paths as source "discovered" for the
 *   record's TTL (a relay not in the map is connected to as a peer's
 *   relay), then tells the peer table, which dials direct and relay at
 *   once. Nodes heard on the LAN get "lan" paths the same way, unasked. */
#ifndef IRON_LOCATOR_H
#define IRON_LOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/config.h"
#include "iron/discovery.h"
#include "iron/identity.h"
#include "iron/lan.h"
#include "iron/peer.h"
#include "iron/pkarr.h"
#include "iron/portmap.h"
#include "iron/resolver.h"
#include "iron/transport.h"

#define LOCATOR_CHECK_MS 2000

struct locator;

struct locator_config {
	uv_loop_t *loop;
	struct resolver *resolver;
	const struct iron_identity *identity;
	struct transport *transport;
	struct peer_table *peers;
	const char *pkarr_url;	/* NULL or "": no publishing, no pkarr lookups */
	const char *dns_origin; /* NULL or "": no DNS lookups */
	bool lan;		/* LAN discovery */
	const char *tun_name;	/* our TUN: not a LAN, not an address to publish */
	/* STUN servers ("HOST:PORT"); with stun_set false: port 3478 of
	 * each relay of the map. */
	const char (*stun)[DAEMON_HOST_MAX];
	size_t nstun;
	bool stun_set;
	bool port_mapping; /* ask the gateway for one (portmap.h) */
};

/* Everything borrowed must outlive the locator. Returns 0 or a negative
 * errno (-EINVAL for a URL or origin discovery.h refuses); LAN discovery
 * that cannot start (no socket) is logged and left off. */
int locator_new(const struct locator_config *config, struct locator **out);
/* Stops everything; no callback into the peer table after this. NULL is
 * fine. */
void locator_del(struct locator *l);

/* The peer table's callbacks.lookup: looks id up. Returns 0 (the answer
 * comes through peer_table_lookup_result()) or a negative errno (no
 * lookup: -ENOTSUP when neither pkarr nor DNS is configured). */
int locator_lookup(struct locator *l, const struct iron_id *id);

/* A STUN datagram arrived on the QUIC socket (the transport's other
 * callback): a Binding response to one of our requests gives this node's
 * reflexive address. */
void locator_stun_input(struct locator *l, const struct sockaddr *remote, const uint8_t *data,
			size_t len);

/* A peer connected on a direct path says where it sees this node
 * (peer.h, callbacks.observed): like a reflexive address, published and
 * offered to peers for 10 minutes (the newest LOCATOR_MAX_OBSERVED). A
 * peer may lie; a wrong address costs a failed path validation. */
void locator_observed(struct locator *l, const struct sockaddr *addr);

#define LOCATOR_MAX_REFLEXIVE 2
#define LOCATOR_MAX_OBSERVED  2

struct locator_info {
	const char *pkarr_url;	       /* NULL: none */
	const char *dns_origin;	       /* NULL: none */
	bool lan;		       /* LAN discovery running */
	struct pkarr_record published; /* what this node announces now */
	struct discovery_info discovery;
	struct lan_stats lan_stats;
	uint64_t lan_nodes;				 /* nodes heard on the LAN (reports) */
	struct netaddr reflexive[LOCATOR_MAX_REFLEXIVE]; /* as STUN servers see us */
	size_t nreflexive;
	struct netaddr observed[LOCATOR_MAX_OBSERVED]; /* as peers told us */
	size_t nobserved;
	uint64_t stun_sent, stun_answers;
	uint64_t network_changes; /* bursts of rtnetlink events (netwatch.h) */
	bool port_mapping;
	struct portmap_info portmap;
};
void locator_get_info(const struct locator *l, struct locator_info *out);

#endif
