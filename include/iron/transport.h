/* The transport owns every datagram path of the daemon: the UDP sockets
 * today, relay links next (DESIGN section 5). Above it, QUIC sees only
 * (local, remote) address pairs; below it, a destination that is a relay
 * placeholder (netaddr_is_relay()) goes into that relay's link and a real
 * address goes out of the UDP socket bound to the local address.
 *
 * Received datagrams are told apart by their first bytes
 * (transport_classify()): QUIC goes to the quic callback; STUN, iron's own
 * control datagrams (hole-punching probes, LAN announcements) go to the
 * other callback, so they have somewhere to go without reaching ngtcp2. */
#ifndef IRON_TRANSPORT_H
#define IRON_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "iron/id.h"
#include "iron/identity.h"
#include "iron/netaddr.h"
#include "iron/relay_client.h"
#include "iron/resolver.h"

#define TRANSPORT_MAX_SOCKETS 8
#define TRANSPORT_MAX_RELAYS  8

/* The 8 bytes that start iron's own control datagrams. Their first byte
 * has QUIC's long-header bit (0x80) and fixed bit (0x40) clear. A QUIC
 * short-header packet can start that way too: peers that negotiated
 * greasing the fixed bit (RFC 9287; ngtcp2 and quinn both offer it) clear
 * it at random. Such a packet carries our own 8-byte connection ID next,
 * so it looks like this magic only by a 2^-56 chance; no STUN message
 * does (its bytes 4-7 are the magic cookie). */
#define TRANSPORT_IRON_MAGIC	 "\x00iron-v1"
#define TRANSPORT_IRON_MAGIC_LEN 8

enum transport_datagram {
	TRANSPORT_QUIC,	   /* anything that is not one of the two below */
	TRANSPORT_STUN,	   /* RFC 8489: top two bits 0, magic cookie, consistent length */
	TRANSPORT_IRON,	   /* starts with TRANSPORT_IRON_MAGIC */
	TRANSPORT_UNKNOWN, /* empty: dropped and counted */
};

/* What the first bytes say a datagram is. Pure. */
enum transport_datagram transport_classify(const uint8_t *data, size_t len);

struct transport;

struct transport_callbacks {
	void *user;
	/* A QUIC datagram arrived on the path (local, remote). data is valid
	 * only during the call. */
	void (*quic)(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		     const uint8_t *data, size_t len);
	/* A STUN or iron control datagram arrived. May be NULL (dropped and
	 * counted). */
	void (*other)(void *user, enum transport_datagram kind, const struct sockaddr *local,
		      const struct sockaddr *remote, const uint8_t *data, size_t len);
};

int transport_new(uv_loop_t *loop, const struct transport_callbacks *callbacks,
		  struct transport **out);

/* Closes every path; the sockets are freed once libuv has closed them.
 * NULL is fine. */
void transport_del(struct transport *t);

/* Opens a UDP socket bound to addr (an IPv6 wildcard is dual-stack).
 * Returns 0, -ENOSPC (TRANSPORT_MAX_SOCKETS open), or the -errno of
 * udp_open() (-EADDRINUSE when the port is taken). */
int transport_listen(struct transport *t, const struct sockaddr *addr);

/* The bound local addresses, with the real port when 0 was asked for. */
size_t transport_local_count(const struct transport *t);
const struct sockaddr *transport_local(const struct transport *t, size_t i);

/* Chooses the local address to reach remote from: the first socket whose
 * family can reach it. remote_out gets remote in that socket's form (IPv4
 * as v4-mapped on a dual-stack socket). A relay placeholder is returned as
 * it is, with the relay's placeholder local address. Returns 0 or
 * -EAFNOSUPPORT. */
int transport_pick_local(const struct transport *t, const struct sockaddr *remote,
			 struct netaddr *local, struct netaddr *remote_out);

/* Queues one datagram on the path (local, remote); it leaves at the next
 * transport_flush() or when a batch is full. Returns 0; -ENETUNREACH for a
 * relay placeholder with no relay link; -EAFNOSUPPORT or -EMSGSIZE when the
 * socket cannot take it. Every failure is counted in send_failed. */
int transport_send(struct transport *t, const struct sockaddr *local, const struct sockaddr *remote,
		   const uint8_t *data, size_t len);

/* Sends everything queued. */
void transport_flush(struct transport *t);

/* Relay links. transport_add_relay() starts a relay client for url (or
 * finds the one already there) and gives its number, the relay part of
 * its placeholder addresses (1..TRANSPORT_MAX_RELAYS). The client
 * connects, and reconnects, by itself; datagrams from a peer through it
 * arrive at the quic callback from the path (local (number, 0), remote
 * (number, slot of the peer)). Returns 0, -ENOSPC or -ENOMEM. */
int transport_add_relay(struct transport *t, uv_loop_t *loop, struct resolver *resolver,
			const struct iron_identity *identity, const struct relay_url *url,
			uint32_t *number);

/* The same for a relay that is not in the map: a peer's home relay,
 * reached to dial it. It is never our home relay (unless the map adds
 * it). */
int transport_add_peer_relay(struct transport *t, uv_loop_t *loop, struct resolver *resolver,
			     const struct iron_identity *identity, const struct relay_url *url,
			     uint32_t *number);
/* Whether relay number is running and in the map. */
bool transport_relay_in_map(const struct transport *t, uint32_t number);

/* The placeholder remote address of peer through relay number; pin: for
 * the daemon's life (a static peer's), so its slot is never given to
 * another peer (relay_slots.h). Returns 0, -ENOENT (no such relay) or
 * -ENOSPC (every slot taken and none idle). */
int transport_relay_path(struct transport *t, uint32_t relay, const struct iron_id *peer, bool pin,
			 struct netaddr *remote);

/* Fewer relay slots than RELAY_SLOTS_MAX (tests), before any is used.
 * Returns 0 or -EINVAL. */
int transport_set_relay_slots(struct transport *t, unsigned max);

/* peer completed a handshake with us: its relay slot, if it has one, is
 * no longer a stranger's (relay_slots.h). */
void transport_relay_peer_known(struct transport *t, const struct iron_id *peer);

/* Stops the relay client of a relay no longer in the map (SIGHUP); its
 * number stays, and transport_add_relay() with its URL starts it again.
 * Datagrams to its placeholders fail with -ENETUNREACH meanwhile. */
void transport_remove_relay(struct transport *t, uint32_t number);

/* Relays ever added, removed ones included. */
size_t transport_relay_count(const struct transport *t);
/* Relay i (0-based; its number is i + 1). Returns false for a removed one
 * (out then has only its URL). */
bool transport_relay_info(const struct transport *t, size_t i, struct relay_client_info *out);
/* The number of the connected relay of the map with the lowest round
 * trip; 0: none. */
uint32_t transport_home_relay(const struct transport *t);

struct transport_stats {
	/* The UDP sockets together. */
	uint64_t datagrams_received, datagrams_sent, bytes_received, bytes_sent;
	uint64_t send_errors;	       /* refused by the kernel or the socket */
	uint64_t send_dropped;	       /* socket buffer full */
	uint64_t batches_sent;	       /* GSO sends */
	uint64_t send_calls;	       /* sendmsg and sendmmsg system calls */
	uint64_t gro_batches_received; /* reads that held several datagrams */
	/* This module's own. */
	uint64_t send_failed;	    /* transport_send() calls that returned an error */
	uint64_t no_relay_link;	    /* of those: a relay placeholder without a link */
	uint64_t received_stun;	    /* STUN datagrams received */
	uint64_t received_iron;	    /* iron control datagrams received */
	uint64_t received_unknown;  /* neither QUIC, STUN nor iron: dropped */
	uint64_t received_unwanted; /* STUN or iron with no one to take them: dropped */
	uint64_t relay_datagrams_sent, relay_datagrams_received;
	uint64_t relay_received_dropped; /* from a peer when no slot could be had */
	uint64_t relay_slot_stale; /* sends to a placeholder whose slot went to another peer */
	uint64_t relay_slots_used, relay_slots_reused; /* relay_slots.h */
};
void transport_get_stats(const struct transport *t, struct transport_stats *out);

#endif
