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

#include "iron/id.h"
#include "iron/identity.h"
#include "iron/quic.h"

struct peer_table;

struct peer_callbacks {
	void *user;
	/* Sends a UDP datagram (the QUIC endpoint's output). */
	void (*send)(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		     const uint8_t *data, size_t len);
	/* Chooses the local socket address for dialling remote and writes the
	 * remote address in that socket's form. Returns 0 or -EAFNOSUPPORT. */
	int (*route)(void *user, const struct sockaddr *remote, struct sockaddr_storage *local,
		     struct sockaddr_storage *remote_out);
	/* An IP packet arrived from an authenticated peer. */
	void (*deliver)(void *user, const struct iron_id *from, const uint8_t *pkt, size_t len);
	/* A packet could not be sent: no address known, or the dial failed.
	 * pkt is (the start of) that packet, for an ICMPv6 error. */
	void (*unreachable)(void *user, const struct iron_id *to, const uint8_t *pkt, size_t len);
	/* The peer got (connected = true) or lost its last connection. */
	void (*connection)(void *user, const struct iron_id *peer, bool connected);
};

struct peer_table_config {
	const struct iron_identity *identity;
	unsigned client_alpns;	/* QUIC_ALPN_* bits offered when dialling; 0 = both */
	uint64_t idle_close_ns; /* close after this long without traffic (2 min) */
	uint64_t keepalive_ns;	/* keep-alive interval while in use (5 s) */
};

int peer_table_new(const struct peer_table_config *config, const struct peer_callbacks *callbacks,
		   struct peer_table **out);
/* Frees everything without sending anything (use peer_table_shutdown first). */
void peer_table_del(struct peer_table *table);

/* Adds or updates a static address for a peer (never forgotten). Returns 0,
 * -ENOMEM or -ENOSPC. */
int peer_table_add_static(struct peer_table *table, const struct iron_id *id,
			  const struct sockaddr *addr);

/* Sends an IP packet to a peer, dialling when there is no connection.
 * Returns 0 (sent or queued), -EHOSTUNREACH (no address known for it),
 * -EMSGSIZE (larger than the path carries; see peer_table_max_packet), or
 * -ENOMEM. */
int peer_table_send(struct peer_table *table, const struct iron_id *id, const uint8_t *pkt,
		    size_t len, uint64_t now);

/* The largest IP packet a connection can carry. */
size_t peer_table_max_packet(const struct peer_table *table);

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

/* Closes every connection with CONNECTION_CLOSE (at shutdown). */
void peer_table_shutdown(struct peer_table *table, uint64_t now);

struct peer_info {
	struct iron_id id;
	bool is_static, connected, direct;
	enum quic_alpn alpn;
	struct sockaddr_storage remote;
	bool has_remote;
	struct quic_conn_stats stats;
	unsigned connections;
};

/* Calls fn for each peer. */
void peer_table_foreach(const struct peer_table *table,
			void (*fn)(void *ctx, const struct peer_info *info), void *ctx);

/* Fills *out with what is known of one peer. Returns 0 or -ENOENT. */
int peer_table_get(const struct peer_table *table, const struct iron_id *id, struct peer_info *out);

struct peer_table_stats {
	uint64_t dials, dial_failures, tie_breaks, idle_closes, queue_dropped;
};
void peer_table_get_stats(const struct peer_table *table, struct peer_table_stats *out);

/* The QUIC endpoint's counters (connections, half-open handshakes, dropped
 * Initials and datagrams), for the status command. */
void peer_table_get_quic_stats(const struct peer_table *table, struct quic_endpoint_stats *out);

#endif
