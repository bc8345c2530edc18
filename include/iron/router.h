/* The router's decisions (SPEC section 7), as pure functions over packet
 * bytes: which outbound packets go to a peer, which inbound packets may
 * enter the TUN. The daemon does the I/O. */
#ifndef IRON_ROUTER_H
#define IRON_ROUTER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "iron/id.h"

enum router_out {
	ROUTER_OUT_PEER,	/* send to the node owning *dst */
	ROUTER_OUT_DNS,		/* a query for the in-tunnel DNS server */
	ROUTER_OUT_NOT_IPV6,	/* drop, count */
	ROUTER_OUT_MALFORMED,	/* drop, count */
	ROUTER_OUT_MULTICAST,	/* drop silently */
	ROUTER_OUT_BAD_SOURCE,	/* source is not our address: drop, count */
	ROUTER_OUT_NOT_OVERLAY, /* destination outside the node range: unreachable */
};

enum router_in {
	ROUTER_IN_ACCEPT,
	ROUTER_IN_NOT_IPV6,
	ROUTER_IN_MALFORMED,
	ROUTER_IN_SPOOFED,    /* source is not the sender's derived address */
	ROUTER_IN_NOT_FOR_US, /* destination is not our address */
};

/* Classifies a packet read from the TUN. own is this node's address. */
enum router_out router_outbound(const uint8_t *pkt, size_t len, const struct in6_addr *own,
				struct in6_addr *dst);

/* Checks a packet received from the authenticated peer sender. */
enum router_in router_inbound(const uint8_t *pkt, size_t len, const struct iron_id *sender,
			      const struct in6_addr *own);

#endif
