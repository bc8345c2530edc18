/* Hole punching between iron nodes: the messages. Pure and bounds-checked.
 *
 * Candidates: on an iron/packet/1 connection each node tells the other
 * where it may be reached directly, in one control message (quic.h,
 * quic_conn_send_control()): its interface addresses, the address a STUN
 * server saw it at (reflexive) and a port mapping of its gateway, each
 * with its kind. Layout: version (1), type (1: candidates), count (at most
 * PUNCH_MAX_CANDIDATES), then per candidate: kind (1), family (4 or 6),
 * the address (4 or 16 bytes), the port (2, big-endian). Then, when the
 * connection is on a direct path, what the sender sees as the receiver's
 * address on it (as QUIC address discovery does): the tag
 * PUNCH_TAG_OBSERVED, family, address, port. A reader ignores messages of
 * another version or type (they are for newer nodes), candidates of a kind
 * it does not know, and what follows that it does not know.
 *
 * Probe: a UDP datagram a node sends to the other's candidates so that its
 * own NAT lets the other's packets in: TRANSPORT_IRON_MAGIC, then type 1.
 * The receiver drops it. */
#ifndef IRON_PUNCH_H
#define IRON_PUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "iron/netaddr.h"

#define PUNCH_VERSION	      1
#define PUNCH_TYPE_CANDIDATES 1
#define PUNCH_MAX_CANDIDATES  16
#define PUNCH_PROBE_LEN	      9
#define PUNCH_TAG_OBSERVED    0x4f
#define PUNCH_OBSERVED_LEN    20 /* the most punch_append_observed() adds */

enum punch_kind {
	PUNCH_LOCAL = 1,     /* an interface address */
	PUNCH_REFLEXIVE = 2, /* seen by a STUN server */
	PUNCH_MAPPED = 3,    /* a port mapping of the gateway */
};

struct punch_candidate {
	enum punch_kind kind;
	struct netaddr addr; /* with its port */
};

/* Writes the candidates message. Returns its length, -EMSGSIZE (cap too
 * small, or n over PUNCH_MAX_CANDIDATES) or -EAFNOSUPPORT (an address
 * neither IPv4 nor IPv6). */
int punch_encode(const struct punch_candidate *c, size_t n, uint8_t *out, size_t cap);

/* Appends the observed address to a message of len bytes written by
 * punch_encode(). Returns the new length, -EMSGSIZE or -EAFNOSUPPORT. */
int punch_append_observed(uint8_t *msg, size_t len, size_t cap, const struct sockaddr *observed);

/* Reads a candidates message into out (at most max), skipping kinds it
 * does not know, and the observed address into *observed (family
 * AF_UNSPEC when there is none). Returns how many candidates, 0 for a
 * message of another version or type, -EBADMSG when malformed (cut short,
 * an unknown family, port 0). */
int punch_parse(const uint8_t *msg, size_t len, struct punch_candidate *out, size_t max,
		struct netaddr *observed);

/* Writes a probe (PUNCH_PROBE_LEN bytes). */
void punch_write_probe(uint8_t out[PUNCH_PROBE_LEN]);

const char *punch_kind_name(enum punch_kind kind);

#endif
