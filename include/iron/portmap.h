/* A port mapping on the gateway, so that peers behind any NAT can reach
 * this node's UDP port directly: NAT-PMP (RFC 6886; libnatpmp, which
 * miniupnpd and most home routers answer). The gateway is the IPv4
 * default route's. The mapping is asked for PORTMAP_LIFETIME_S, renewed
 * at half its lifetime, asked again after a failure with backoff (5 s
 * doubling to 5 min), and removed (lifetime 0) by portmap_del(). */
#ifndef IRON_PORTMAP_H
#define IRON_PORTMAP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "iron/netaddr.h"

#define PORTMAP_LIFETIME_S 7200

struct portmap;

/* changed(user) runs when the mapping appears, changes or goes. Returns
 * 0, -ENOMEM, or -ENETUNREACH (no IPv4 default gateway: nothing to ask;
 * no object). */
int portmap_new(uv_loop_t *loop, uint16_t private_port, void (*changed)(void *user), void *user,
		struct portmap **out);
/* Removes the mapping from the gateway (waiting at most 300 ms for its
 * answer) and frees everything once libuv has closed the handles. NULL is
 * fine. */
void portmap_del(struct portmap *pm);
/* The mapped public address and port, when there is one. */
bool portmap_get(const struct portmap *pm, struct netaddr *out);

struct portmap_info {
	bool mapped;
	struct netaddr external;
	struct in_addr gateway;
	uint32_t lifetime_s;
	uint64_t requests, failures;
	int last_error; /* libnatpmp's code of the last failure; 0: none */
};
void portmap_get_info(const struct portmap *pm, struct portmap_info *out);

#endif
