/* A UDP port mapping on a UPnP Internet Gateway Device (UPnP-IGD: what
 * most home routers without NAT-PMP offer), through miniupnpc.
 *
 * Every miniupnpc call blocks (the SSDP search listens UPNP_SEARCH_MS for
 * answers, the SOAP requests are HTTP), so each runs on libuv's thread
 * pool, one at a time, and its result is taken on the loop.
 *
 * While wanted (upnp_want()) the object searches for an IGD, again with
 * backoff (5 s doubling to 5 min) while none answers or after a request
 * fails, and holds a mapping on the one it found: for the node's own
 * port as the external port when the IGD has it free, else any port it
 * gives; for UPNP_LEASE_S, renewed at half of it, or for good where the
 * IGD grants only permanent leases (renewed as often, and deleted all the
 * same). The mapping is deleted when no longer wanted and by upnp_del(). */
#ifndef IRON_UPNP_H
#define IRON_UPNP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "iron/netaddr.h"

#define UPNP_SEARCH_MS 1000
#define UPNP_LEASE_S   3600
/* How often a permanent mapping is asked for again (the IGD may have
 * restarted and forgotten it). */
#define UPNP_PERMANENT_RENEW_S 1800

struct upnp;

/* changed(user) runs on the loop when an IGD is found, and when the
 * mapping appears, changes or goes; never after upnp_del(). Returns 0 or
 * -ENOMEM. */
int upnp_new(uv_loop_t *loop, uint16_t private_port, void (*changed)(void *user), void *user,
	     struct upnp **out);
/* Searches for an IGD and asks it for a mapping (true), or deletes the one
 * held (false). Starts out false: nothing is sent until then. */
void upnp_want(struct upnp *u, bool want);
/* Deletes the mapping on the IGD, if there is one, and frees everything
 * once the call in flight and the delete are done: the loop runs until
 * then (a second or two with an IGD that answers; miniupnpc's socket
 * timeouts, 3 s to connect and 5 s per read, bound it with one that does
 * not). NULL is fine. */
void upnp_del(struct upnp *u);
/* The mapped public address and port, when there is one. */
bool upnp_get(const struct upnp *u, struct netaddr *out);

struct upnp_info {
	bool found;	   /* an IGD answered the last search */
	char gateway[256]; /* its description URL; "" when none */
	uint32_t lease_s;  /* of the mapping; 0: permanent */
	uint64_t requests, failures;
	int last_error; /* the UPnP error code or miniupnpc's of the last failure; 0: none */
};
void upnp_get_info(const struct upnp *u, struct upnp_info *out);

#endif
