/* The data plane of `iron serve`: packets from the TUN to peers and from
 * peers to the TUN, with the router's decisions (router.h), the in-tunnel
 * DNS server, ICMPv6 errors back to local programs, and `iron ping`'s
 * replies taken out on the way. It owns none of the objects it uses. */
#ifndef IRON_DATAPLANE_H
#define IRON_DATAPLANE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "iron/dns_server.h"
#include "iron/id.h"
#include "iron/peer.h"
#include "iron/pinger.h"
#include "iron/registry.h"
#include "iron/tun.h"

struct dataplane_config {
	struct in6_addr own; /* this node's overlay address */
	struct tun_device *tun;
	struct peer_table *peers;
	struct registry *registry;
	struct dns_server *dns;
	struct pinger *pinger; /* may be NULL */
};

struct dataplane_stats {
	uint64_t to_peers, out_not_ipv6, out_malformed, out_bad_source, out_unreachable;
	uint64_t in_not_ipv6, in_malformed, in_spoofed, in_not_for_us;
	uint64_t icmp_errors_sent, icmp_errors_limited;
	uint64_t registry_refused; /* a peer's address could not be registered */
};

struct dataplane;

int dataplane_new(const struct dataplane_config *config, struct dataplane **out);
/* Stops answering in-tunnel DNS queries still in flight and frees. NULL is
 * fine. */
void dataplane_del(struct dataplane *dp);

/* One packet read from the TUN. */
void dataplane_from_tun(struct dataplane *dp, const uint8_t *pkt, size_t len, uint64_t now);

/* One packet from an authenticated peer. */
void dataplane_from_peer(struct dataplane *dp, const struct iron_id *from, const uint8_t *pkt,
			 size_t len, uint64_t now);

/* A packet the peer table could not deliver: an ICMPv6 unreachable for
 * its sender. */
void dataplane_unreachable(struct dataplane *dp, const uint8_t *pkt, size_t len, uint64_t now);

void dataplane_get_stats(const struct dataplane *dp, struct dataplane_stats *out);

#endif
