/* The peer table: one entry per node we talk to, owning the QUIC endpoint.
 * It dials on the first packet for a peer, keeps one connection per pair of
 * nodes for iron/packet/1 (SPEC section 10 tie-break), follows the
 * iron/packet/0 rules (only the dialling side sends), keeps connections
 * alive while in use, closes them after two minutes without traffic and
 * redials with backoff after a failure. */
#ifndef IRON_PEER_H
#define IRON_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iron/allow.h"
#include "iron/id.h"
#include "iron/identity.h"
#include "iron/netaddr.h"
#include "iron/punch.h"
#include "iron/quic.h"

/* Paths: each peer has a small set of candidate addresses, each with the
 * kind of path it is and where it came from. Every source (the
 * configuration, a peer's own connection, discovery, the LAN) adds
 * candidates through peer_table_add_path(); the table chooses among them
 * when it dials, and moves to the next when a dial fails. */
#define PEER_MAX_PATHS 8

enum peer_path_kind {
	PEER_PATH_DIRECT, /* UDP to the peer's address */
	PEER_PATH_RELAY,  /* through a relay (a netaddr_is_relay() placeholder) */
};

/* In order of preference when nothing else (RTT, failures) tells paths
 * apart. */
enum peer_path_source {
	PEER_SOURCE_STATIC,	/* --peer, the config file: never expires */
	PEER_SOURCE_LAN,	/* announced on the local network */
	PEER_SOURCE_DISCOVERED, /* looked up by ID (DNS, pkarr) */
	PEER_SOURCE_CANDIDATE,	/* told by the peer over a connection (hole punching) */
	PEER_SOURCE_LEARNED,	/* where the peer's own connection came from */
};

const char *peer_path_kind_name(enum peer_path_kind kind);
const char *peer_path_source_name(enum peer_path_source source);

struct peer_table;

struct peer_callbacks {
	void *user;
	/* Sends a datagram on a path (the QUIC endpoint's output). */
	void (*send)(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		     const uint8_t *data, size_t len);
	/* Sends what send() queued now (see quic_callbacks.flush). May be NULL. */
	void (*flush)(void *user);
	/* Chooses the local address for dialling remote and writes the remote
	 * address in the form the transport reports it. Returns 0 or
	 * -EAFNOSUPPORT. */
	int (*route)(void *user, const struct sockaddr *remote, struct netaddr *local,
		     struct netaddr *remote_out);
	/* An IP packet arrived from an authenticated peer. */
	void (*deliver)(void *user, const struct iron_id *from, const uint8_t *pkt, size_t len);
	/* A packet could not be sent: no address known, or the dial failed.
	 * pkt is (the start of) that packet, for an ICMPv6 error. */
	void (*unreachable)(void *user, const struct iron_id *to, const uint8_t *pkt, size_t len);
	/* The peer got (connected = true) or lost its last connection. */
	void (*connection)(void *user, const struct iron_id *peer, bool connected);
	/* A dial to the peer failed (the handshake did not complete). May be
	 * NULL. The owner of a static host name resolves it again here. */
	void (*dial_failed)(void *user, const struct iron_id *peer);
	/* A packet is for a peer without an address, or a dial failed (then
	 * at most every 10 s): look its paths up, add them, and answer with
	 * peer_table_lookup_result(), never from inside this call. Returns 0,
	 * or a negative errno when no lookup starts (the packet is then
	 * unreachable at once). May be NULL: no lookups. */
	int (*lookup)(void *user, const struct iron_id *peer);
	/* A peer connected to us on a direct path says where it sees us (our
	 * address after any NAT): a candidate to publish and offer. May be
	 * NULL. */
	void (*observed)(void *user, const struct sockaddr *addr);
};

struct peer_table_config {
	const struct iron_identity *identity;
	unsigned client_alpns;	/* QUIC_ALPN_* bits offered when dialling; 0 = both */
	uint64_t idle_close_ns; /* close after this long without traffic (2 min) */
	uint64_t keepalive_ns;	/* keep-alive interval while in use (5 s) */
	bool quic_retry_always; /* every new client through a Retry (tests) */
};

int peer_table_new(const struct peer_table_config *config, const struct peer_callbacks *callbacks,
		   struct peer_table **out);
/* Frees everything without sending anything (use peer_table_shutdown first). */
void peer_table_del(struct peer_table *table);

/* Adds a candidate path to a peer, or refreshes it: its expiry moves to
 * now + ttl_ns (0: never expires), and a source earlier in enum
 * peer_path_source replaces a later one. A full set makes room by
 * dropping an expired candidate, else the least preferred one that is not
 * static and not in use; -ENOSPC when there is none. A relay placeholder
 * is a relay path, anything else direct. Returns 0, -ENOMEM, -ENOSPC or
 * -EAFNOSUPPORT. */
int peer_table_add_path(struct peer_table *table, const struct iron_id *id,
			const struct sockaddr *addr, enum peer_path_source source, uint64_t ttl_ns,
			uint64_t now);

/* Replaces the peer's static candidates with addrs (n may be 0: none), so
 * a host name that resolves elsewhere or an endpoint changed in the config
 * file leaves no stale address behind. The peer is kept (never forgotten)
 * from now on. Returns as peer_table_add_path(). */
int peer_table_set_static(struct peer_table *table, const struct iron_id *id,
			  const struct netaddr *addrs, size_t n);

/* What a lookup found was added (done false), or the lookup ended (done
 * true): packets waiting for the peer go on a dial, or, when the lookup
 * ended without a path, are reported unreachable. */
void peer_table_lookup_result(struct peer_table *table, const struct iron_id *id, bool done,
			      uint64_t now);
/* This node's hole-punching candidates (punch.h), sent to every peer on
 * iron/packet/1 connections, now and as they are established. A peer's
 * candidates become its paths (source "candidate"); both sides then send
 * probes to them for about a second, and the side that dialled moves its
 * relayed connection to the first that validates; it tries again, with
 * backoff, after a failure or a fallback to the relay. */
void peer_table_set_candidates(struct peer_table *table, const struct punch_candidate *c, size_t n);
/* Sends an IP packet to a peer, dialling when there is no connection, and
 * looking the peer up first (callbacks.lookup) when it has no address.
 * Returns 0 (sent or queued), -EHOSTUNREACH (no address known for it),
 * -EMSGSIZE (larger than the peer's connection carries: answer with an
 * ICMPv6 Packet Too Big announcing peer_table_max_packet()), or -ENOMEM. */
int peer_table_send(struct peer_table *table, const struct iron_id *id, const uint8_t *pkt,
		    size_t len, uint64_t now);

/* The largest IP packet the connection to a peer carries now, as measured
 * on its path (quic_conn_max_packet_size(): at least 1280 once measured);
 * 1420 while there is no established connection. */
size_t peer_table_max_packet(const struct peer_table *table, const struct iron_id *id);

/* A UDP datagram arrived for the QUIC endpoint. */
void peer_table_receive(struct peer_table *table, const struct sockaddr *local,
			const struct sockaddr *remote, const uint8_t *data, size_t len,
			uint64_t now);

/* Writes what is pending; call after each batch of work. */
void peer_table_flush(struct peer_table *table, uint64_t now);

/* When peer_table_timer() must be called next (ns, UINT64_MAX: never). */
uint64_t peer_table_next_expiry(const struct peer_table *table);

/* Runs QUIC timers and the table's own housekeeping. */
void peer_table_timer(struct peer_table *table, uint64_t now);

/* The inbound policy (README "Who can reach your node"). list NULL: open,
 * every node may connect (the default, as the original). Else only the
 * nodes in list may complete a handshake with this node, and also, as
 * through a stateful firewall, a node this one has dialled (a connection
 * of ours to it, established or handshaking, is open): it may answer on a
 * connection of its own, as iron/packet/0 peers must. A refused node never
 * gets past the TLS handshake (alert access_denied) and is counted in
 * stats.refused. Connections we dialled are never refused: outbound
 * traffic is not filtered. Accepted connections of nodes the new policy
 * no longer admits are closed at once (counted in stats.revoked). Takes
 * ownership of list, frees the previous one. */
void peer_table_set_allow(struct peer_table *table, struct allow_list *list, uint64_t now);

/* The policy in force: NULL when open, else the list (borrowed, valid
 * until the next peer_table_set_allow()). */
const struct allow_list *peer_table_allow(const struct peer_table *table);

/* Closes every connection with CONNECTION_CLOSE (at shutdown). */
void peer_table_shutdown(struct peer_table *table, uint64_t now);

struct peer_path_info {
	struct netaddr addr;
	enum peer_path_kind kind;
	enum peer_path_source source;
	uint64_t expires_ns; /* 0: never */
	uint64_t rtt_ns;     /* last smoothed RTT measured on it; 0: none yet */
	unsigned failures;   /* dials that failed on it in a row */
	bool active;	     /* the connection packets go on uses it */
};

struct peer_info {
	struct iron_id id;
	bool is_static, connected;
	enum quic_alpn alpn;
	/* The path in use (connected), or the one the next dial takes. */
	bool has_path;
	struct netaddr remote;
	enum peer_path_kind path_kind;
	enum peer_path_source path_source;
	struct quic_conn_stats stats;
	unsigned connections;
	size_t npaths;
	struct peer_path_info paths[PEER_MAX_PATHS];
};

/* Calls fn for each peer. */
void peer_table_foreach(const struct peer_table *table,
			void (*fn)(void *ctx, const struct peer_info *info), void *ctx);

/* Fills *out with what is known of one peer. Returns 0 or -ENOENT. */
int peer_table_get(const struct peer_table *table, const struct iron_id *id, struct peer_info *out);

struct peer_table_stats {
	uint64_t dials, dial_failures, tie_breaks, idle_closes, queue_dropped;
	uint64_t races;		    /* a relay dial raced a direct one */
	uint64_t migrations;	    /* a connection of ours moved to another path */
	uint64_t migrations_failed; /* a path did not validate */
	uint64_t fallbacks;	    /* of the migrations: off a direct path gone silent */
	uint64_t redials;	  /* dials again after a direct path went silent, no relay known */
	uint64_t lookups;	  /* lookups asked of callbacks.lookup */
	uint64_t candidates_sent; /* candidates messages sent */
	uint64_t candidates_received;
	uint64_t probes_sent; /* hole-punching probes */
	uint64_t refused;     /* inbound handshakes refused by the allow-list */
	uint64_t revoked;     /* accepted connections closed by a new allow-list */
};
void peer_table_get_stats(const struct peer_table *table, struct peer_table_stats *out);

/* The QUIC endpoint's counters (connections, half-open handshakes, dropped
 * Initials and datagrams), for the status command. */
void peer_table_get_quic_stats(const struct peer_table *table, struct quic_endpoint_stats *out);

#endif
