/* A port mapping on the gateway, so that peers behind any NAT can reach
 * this node's UDP port directly, by NAT-PMP or UPnP-IGD, as iroh's port
 * mapper does (it prefers PCP, then NAT-PMP, then UPnP, the most deployed
 * and the least reliable).
 *
 * NAT-PMP (RFC 6886; libnatpmp): asked of the IPv4 default route's
 * gateway. The mapping is asked for PORTMAP_LIFETIME_S, renewed at half
 * its lifetime, asked again after a failure with backoff (5 s doubling to
 * 5 min), and removed (lifetime 0) by portmap_del().
 *
 * UPnP-IGD (upnp.h; miniupnpc, on libuv's thread pool): searched for from
 * the start alongside NAT-PMP, and used while NAT-PMP does not answer
 * (has not yet, or failed since). A gateway that answers NAT-PMP does so
 * within milliseconds and the UPnP search takes a second, so with both
 * NAT-PMP is used; should NAT-PMP answer later, the UPnP mapping is
 * deleted. */
#ifndef IRON_PORTMAP_H
#define IRON_PORTMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "iron/netaddr.h"
#include "iron/upnp.h"

#define PORTMAP_LIFETIME_S 7200

struct portmap;

enum portmap_protocol { PORTMAP_NONE, PORTMAP_NATPMP, PORTMAP_UPNP };

/* changed(user) runs when the mapping appears, changes or goes. Returns
 * 0, -ENOMEM, or -ENETUNREACH (no IPv4 default gateway: nothing to ask;
 * no object). */
int portmap_new(uv_loop_t *loop, uint16_t private_port, void (*changed)(void *user), void *user,
		struct portmap **out);
/* Removes the mapping from the gateway and frees everything once libuv
 * has closed the handles: NAT-PMP's at once (waiting at most 300 ms for its
 * answer), UPnP's on the thread pool, which the loop runs until it is done
 * (see upnp_del()). NULL is fine. */
void portmap_del(struct portmap *pm);
/* The mapped public address and port, when there is one. */
bool portmap_get(const struct portmap *pm, struct netaddr *out);

struct portmap_info {
	bool mapped;
	enum portmap_protocol protocol; /* of the mapping; PORTMAP_NONE when none */
	struct netaddr external;
	struct in_addr gateway;
	uint32_t lifetime_s;	     /* of the mapping; 0 for a permanent UPnP one */
	uint64_t requests, failures; /* both protocols */
	int last_error;		     /* libnatpmp's code of the last failure; 0: none */
	struct upnp_info upnp;
};
/* "nat-pmp", "upnp", or NULL for PORTMAP_NONE. */
const char *portmap_protocol_name(enum portmap_protocol protocol);
void portmap_get_info(const struct portmap *pm, struct portmap_info *out);

#endif
