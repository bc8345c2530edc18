/* LAN discovery, compatible with iroh's local discovery (crate
 * iroh-mdns-address-lookup 0.4, on swarm-discovery 0.6 and hickory-proto
 * 0.26): mDNS on 224.0.0.251 and ff02::fb port 5353. docs/lan-discovery.md
 * has the details and where each fact comes from. What goes on the wire:
 *
 * - Service "_irohv1._udp.local."; instance "<ID>._irohv1._udp.local."
 *   where <ID> is the 52-character RFC 4648 base32 of the node ID without
 *   padding, lowercase (iroh reads it in any case; not z-base-32).
 * - Query: ID 0, no flags, one question PTR IN "_irohv1._udp.local.". The
 *   unicast-response bit must stay clear: iroh (hickory without its mdns
 *   feature) reads class 0x8001 as an unknown class and ignores it.
 * - Response: ID 0, QR and AA set, no question. Answers: one SRV per port
 *   (priority 0, weight 0, target "<ID>-<port>.local.", written
 *   uncompressed) and one TXT ("relay=<url>", "user-data=<text>"; key=value
 *   strings, the first of a key wins). Additional: the A/AAAA records of
 *   each target. iroh reads SRV and TXT only from the answers and A/AAAA
 *   only from the additional section, needs the target to be one label
 *   under "local.", and drops a node without an address.
 * - Records: class IN without the cache-flush bit (iroh ignores records
 *   whose class is 0x8001). iroh writes TTL 0 everywhere and ignores TTLs:
 *   a node stays known while it keeps answering queries (it is dropped
 *   after about 3 s without one). iron writes TTL LAN_TTL, adds a PTR
 *   record "_irohv1._udp.local." -> instance first in the answers (iroh
 *   skips it; DNS-SD browsers need it), and writes a TXT record (an empty
 *   string when there is no relay) always.
 * - Cadence (iroh's "interactive" settings, tau 0.7 s, phi 2.5): an iroh
 *   node multicasts the query over IPv4 (IPv6 only without IPv4) when it
 *   has heard none for 0.7 s plus a random part; every node answers a
 *   query after a random 0-100 ms (more in large swarms), in the family
 *   the query came in, unless two answers were heard first. iroh never
 *   announces unasked. iron answers queries the same way (at most one
 *   answer per interface and family every LAN_ANSWER_GAP_MS), queries at
 *   start, and also announces: at start, 1 s and 3 s later, then every
 *   LAN_ANNOUNCE_MS.
 *
 * A node found is reported with its addresses; the QUIC handshake still
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
#define MDNS_PORT     5353
/* The TTL iron writes in its records (seconds; RFC 6762 section 10's for
 * host records), and the one it uses for records received with TTL 0 (as
 * iroh sends them: alive while repeated). */
#define LAN_TTL	     120
#define LAN_ZERO_TTL 30
/* TTL in replies to legacy unicast queries (RFC 6762 section 6.7). */
#define MDNS_LEGACY_TTL	  10
#define LAN_ANNOUNCE_MS	  10000
#define LAN_ANSWER_GAP_MS 500
/* Nodes remembered at most (the oldest is forgotten for a new one). */
#define LAN_MAX_NODES 64

/* One node as announced on the LAN. */
struct lan_node {
	struct iron_id id;
	uint16_t port;			     /* of the first SRV record */
	struct netaddr addrs[LAN_MAX_ADDRS]; /* with port set */
	size_t naddrs;
	char relay[PKARR_URL_MAX]; /* "" when none */
	/* Seconds. mdns_parse(): the smallest TTL of the node's records, as
	 * announced (0 from iroh). mdns_encode_*(): written in every record.
	 * lan callbacks: how long the addresses stay good (LAN_ZERO_TTL for 0). */
	uint32_t ttl;
};

/* Builds an mDNS response announcing node (all its records; an address
 * with port 0 takes node->port). Returns the length, -EMSGSIZE, or
 * -EINVAL when the node has no address with a port (nothing to announce:
 * iroh ignores such nodes). */
int mdns_encode_announce(const struct lan_node *node, uint8_t *out, size_t cap);
/* Builds the reply to a legacy unicast query (a service query sent from a
 * port other than 5353, e.g. by dig; RFC 6762 section 6.7): the query's ID
 * and question, node's records with TTL at most MDNS_LEGACY_TTL. Returns
 * the length, -EMSGSIZE, or -EINVAL (no address, or query is not a service
 * query). */
int mdns_encode_unicast_reply(const struct lan_node *node, const uint8_t *query, size_t qlen,
			      uint8_t *out, size_t cap);
/* Builds the query for the service's PTR. Returns the length, or
 * -EMSGSIZE. */
int mdns_encode_query(uint8_t *out, size_t cap);
/* Reads the nodes announced in an mDNS response (all sections; SRV owners
 * "<base32 ID>._irohv1._udp.local." with a valid key, their TXT and the
 * A/AAAA of their targets; the first 16 such SRV records). Nodes without
 * an address are left out, as iroh does: out gets the first max nodes
 * with one, in order of their first SRV record.
 * Returns how many went into out, 0 for a query or a message about
 * something else (or with a non-zero opcode or rcode), -EBADMSG when
 * malformed (a bad name, a record past the end, a bad A/AAAA/SRV/PTR/TXT
 * record data). */
int mdns_parse(const uint8_t *msg, size_t len, struct lan_node *out, size_t max);
/* Whether msg is a query (QR clear, opcode 0) with a question PTR or ANY,
 * class IN or ANY (either value of the unicast-response bit), for the
 * service: one to answer. */
bool mdns_is_service_query(const uint8_t *msg, size_t len);

struct lan;

struct lan_callbacks {
	void *user;
	/* A node was found, changed, or is still there with half of its TTL
	 * gone since it was last reported. Link-local IPv6 addresses carry
	 * the scope of the interface they were heard on. */
	void (*found)(void *user, const struct lan_node *node);
};

/* Joins the groups on every multicast-capable interface (up, not
 * loopback) except the ones named in exclude (a comma-separated list, e.g.
 * iron's own TUN; NULL for none), and looks for new interfaces every few
 * seconds. Announces self, queries, and announces again every
 * LAN_ANNOUNCE_MS; answers queries. With self->naddrs 0 it announces, on
 * each interface, that interface's own addresses (IPv4, and IPv6 other
 * than link-local) with self->port. Nodes found with our own ID are
 * ignored. Returns 0 or a negative errno (no socket could be bound). */
int lan_new(uv_loop_t *loop, const struct lan_node *self, const char *exclude,
	    const struct lan_callbacks *cb, struct lan **out);
/* Changes what we announce (addresses, relay), announcing it at once. */
void lan_update(struct lan *lan, const struct lan_node *self);
/* Stops; the memory is freed once libuv has closed the handles. NULL is
 * fine. */
void lan_del(struct lan *lan);

struct lan_stats {
	uint64_t sent, received, malformed, nodes_found;
	uint64_t answered;   /* queries answered (multicast or unicast) */
	uint64_t interfaces; /* interfaces joined now */
};
void lan_get_stats(const struct lan *lan, struct lan_stats *out);

#endif
