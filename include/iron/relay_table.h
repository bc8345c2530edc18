/* The relay server's bookkeeping that needs no I/O (`iron relay`,
 * relay_server.h): which connection receives the datagrams for each node
 * ID, which nodes must hear that a node has gone, and the per-client byte
 * budget. Pure: connections are opaque pointers owned by the caller, the
 * clock and the hash key are passed in, so tests drive it directly.
 *
 * The rules are iroh-relay 1.x's (server/clients.rs): a node may hold
 * several connections, only the newest is active (receives datagrams); the
 * older ones stay connected, inactive, and the newest of them becomes
 * active again when the active one goes. When a node's last connection
 * goes, the nodes it exchanged datagrams with are told (EndpointGone). */
#ifndef IRON_RELAY_TABLE_H
#define IRON_RELAY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_TABLE_ID_LEN   32
#define RELAY_TABLE_HASH_KEY 16
/* Peers remembered per node for EndpointGone, by default. */
#define RELAY_TABLE_DEFAULT_PEERS 64
/* Connections kept per node ID (one active, the rest inactive). */
#define RELAY_TABLE_MAX_CONNS 8

struct relay_table;

/* An empty table. hash_key: random bytes that key the hash of node IDs
 * (IDs are chosen by clients). max_peers: how many peers each node
 * remembers for EndpointGone; when more, the oldest is forgotten (at least
 * 1). Returns 0 or -ENOMEM. */
int relay_table_new(const uint8_t hash_key[RELAY_TABLE_HASH_KEY], size_t max_peers,
		    struct relay_table **out);

/* Frees the table (not the connections). NULL ok. */
void relay_table_del(struct relay_table *t);

/* Makes conn (borrowed, not NULL) the active connection of id. The
 * connection that was active for id, if any, becomes inactive and is
 * returned in *displaced (else NULL). When id already holds
 * RELAY_TABLE_MAX_CONNS connections, the oldest inactive one is dropped
 * from the table and returned in *evicted (else NULL): the caller closes
 * it (and must not call relay_table_remove() for it). Returns 0 or -ENOMEM
 * (nothing changed). */
int relay_table_add(struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN], void *conn,
		    void **displaced, void **evicted);

/* Called by relay_table_remove() for each connection that must be told
 * that gone_id has gone. */
typedef void relay_table_gone_fn(void *user, void *peer_conn,
				 const uint8_t gone_id[RELAY_TABLE_ID_LEN]);

/* Takes conn out of id's connections (nothing happens when it is not
 * there). When conn was active and an inactive one remains, the newest of
 * those becomes active and is returned in *promoted (else NULL). When id
 * has no connection left, gone(user, c, id) is called for the active
 * connection c of every node that id sent datagrams to or received
 * datagrams from (and that is still connected), and id is forgotten. gone
 * must not change the table. */
void relay_table_remove(struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN], void *conn,
			void **promoted, relay_table_gone_fn *gone, void *user);

/* The active connection of id, or NULL. */
void *relay_table_active(const struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN]);

/* Records that src (connected) relayed a datagram to dst (connected), so
 * that each hears when the other goes. Cheap when the pair was the last
 * one noted for src. Nothing happens when either is not in the table. */
void relay_table_note_sent(struct relay_table *t, const uint8_t src[RELAY_TABLE_ID_LEN],
			   const uint8_t dst[RELAY_TABLE_ID_LEN]);

/* Node IDs with at least one connection. */
size_t relay_table_nodes(const struct relay_table *t);

/* Bytes the table holds (its index, entries and peer sets). */
size_t relay_table_memory(const struct relay_table *t);

/* A token bucket of bytes: the receive rate limit of one client. A plain
 * value embedded in its owner. Reading goes into debt (the bytes have
 * arrived already); the owner stops reading until the debt is paid. */
struct relay_bucket {
	uint64_t rate;	    /* bytes per second, 0: unlimited */
	int64_t scaled;	    /* the balance, in bytes times 1e9 */
	int64_t max_scaled; /* the burst in the same unit */
	uint64_t last_ns;
};

/* rate bytes per second (0: no limit, at most 2^32) with bursts of burst
 * bytes (at least 1, at most 2^32). Starts full at now_ns. */
void relay_bucket_init(struct relay_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);

/* Takes n bytes at now_ns. Returns 0 when the balance is not negative
 * afterwards, else the nanoseconds until it is back at zero (at least 1).
 * A clock that goes backwards earns nothing. */
uint64_t relay_bucket_take(struct relay_bucket *b, uint64_t n, uint64_t now_ns);

#endif
