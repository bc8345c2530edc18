/* LAN discovery, compatible with iroh's local discovery (crate
 * iroh-mdns-address-lookup, on swarm-discovery): mDNS on 224.0.0.251 and
 * ff02::fb port 5353, service "_irohv1._udp.local.". Each node answers
 * and periodically announces PTR _irohv1._udp.local. -> <lowercase base32
 * ID>._irohv1._udp.local., SRV of that -> <name>.local. port, A/AAAA of
 * its addresses, TXT relay= / user-data=, and queries for the others. A
 * node found is reported with its addresses; the QUIC handshake still
 * authenticates it, so a liar on the LAN can only cause failed dials.
 *
 * mdns_*: the pure codec (bounds-checked, fuzzed). lan_*: the socket side
 * on the loop. */
#ifndef IRON_LAN_H
#define IRON_LAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/id.h"
#include "iron/netaddr.h"
#include "iron/pkarr.h"

#define LAN_MAX_ADDRS 8

/* One node as announced on the LAN. */
struct lan_node {
	struct iron_id id;
	uint16_t port;
	struct netaddr addrs[LAN_MAX_ADDRS]; /* with port set */
	size_t naddrs;
	char relay[PKARR_URL_MAX]; /* "" when none */
	uint32_t ttl;		   /* seconds, as announced */
};

/* Builds an mDNS response announcing node (all its records). Returns the
 * length or -EMSGSIZE. */
int mdns_encode_announce(const struct lan_node *node, uint8_t *out, size_t cap);
/* Builds the query for the service's PTR. Returns the length. */
int mdns_encode_query(uint8_t *out, size_t cap);
/* Reads the nodes announced in an mDNS message (answers and additional
 * records together). Returns how many went into out (at most max), 0 for
 * a query or a message about something else, -EBADMSG when malformed. */
int mdns_parse(const uint8_t *msg, size_t len, struct lan_node *out, size_t max);
/* Whether msg is a query for the service (to be answered). */
bool mdns_is_service_query(const uint8_t *msg, size_t len);

struct lan;

struct lan_callbacks {
	void *user;
	void (*found)(void *user, const struct lan_node *node);
};

/* Joins the groups on every multicast-capable interface except the ones
 * named in exclude (iron's own TUN), announces self, queries, and
 * announces again every 10 s or so; answers queries. Nodes found with our
 * own ID are ignored. Returns 0 or a negative errno (nothing usable). */
int lan_new(uv_loop_t *loop, const struct lan_node *self, const char *exclude,
	    const struct lan_callbacks *cb, struct lan **out);
/* Changes what we announce (addresses, relay), announcing it at once. */
void lan_update(struct lan *lan, const struct lan_node *self);
void lan_del(struct lan *lan);

struct lan_stats {
	uint64_t sent, received, malformed, nodes_found;
};
void lan_get_stats(const struct lan *lan, struct lan_stats *out);

#endif
