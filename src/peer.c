#define LOG_MODULE "peer"

#include "iron/peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <sodium.h>

#include "iron/log.h"
#include "iron/objpool.h"

/* Enough that the chains stay short with 10 000 peers (issue 16); the
 * array is calloc'd, so buckets never used are never resident. */
#define PEER_BUCKETS	 16384
#define PEER_PENDING_MAX 64
#define PEER_PACKET_MAX	 1500
#define PEER_MAX_PACKET	 1420
#define PEER_BACKOFF_MIN (250ull * 1000000)
/* A direct path that went silent is not tried again before this. */
#define PEER_FALLBACK_HOLD_NS (2000ull * 1000000)
#define PEER_BACKOFF_MAX      (4ull * 1000000000)
#define PEER_TICK_NS	      (250ull * 1000000)
/* Housekeeping visits every peer once a tick, PEER_SLICE peers a turn,
 * the turns spread over the tick: with 10 000 peers a whole visit held
 * the loop for ~8 ms (an established peer's packets wait behind it);
 * 256 peers take well under 0.5 ms. A few hundred peers take one turn a
 * tick. */
#define PEER_SLICE 256
/* A quiet peer (peer_quiet) is looked at every PEER_QUIET_TICKS ticks
 * only: at 10 000 idle peers, reaching each one's connection four times a
 * second was a fifth of the node's CPU (cache misses, issue 16). What a
 * visit finds for such a peer can wait a second: a keep-alive gone
 * unanswered, a direct path to move a relayed connection to. */
#define PEER_QUIET_TICKS 4
/* Peers a block of the table's pool (~55 KB). */
#define PEER_POOL_BLOCK 64
/* Connections no peer uses are looked at for idleness this often (a walk
 * of all connections, PEER_SLICE a turn; the idle limit is minutes). */
#define PEER_IDLE_SWEEP_NS (2ull * 1000000000)
/* A peer with no connection, no static address and no traffic for this long
 * is forgotten. */
#define PEER_FORGET_NS (10ull * 60 * 1000000000)
/* Where a peer's connection came from is a candidate for this long after
 * the connection is gone. */
#define PEER_LEARNED_TTL_NS PEER_FORGET_NS
/* A path a dial failed on is skipped for backoff << failures, up to this. */
#define PEER_PATH_PENALTY_MAX (60ull * 1000000000)
/* Connections kept per peer that can carry our packets: our dials and the
 * peer's iron/packet/1 ones (a peer racing its own dials has two). */
#define PEER_MAX_CONNS 4
/* The path in use is taken for dead when nothing came back on it for this
 * long (plus three round trips) after we sent something that asks for an
 * answer. */
#define PEER_STALL_NS (1000ull * 1000000)
/* While packets flow (some within PEER_BUSY_NS), the connection in use
 * sends a PING after PEER_BUSY_KEEPALIVE_NS without traffic, not only
 * after the configured keep-alive: a path gone dead is then noticed by
 * both ends within a second or two (the dialler by its PINGs going
 * unanswered; the accepting side's PING shows the dialler where the
 * accepting side's NAT now sends from). Two seconds, not ten: each
 * packet of a peer that is otherwise quiet made its connection send ten
 * PINGs, which on a node with 10 000 such peers was 10 000 PINGs a second
 * and their acknowledgements (issue 16); now one or two. */
#define PEER_BUSY_NS	       (2ull * 1000000000)
#define PEER_BUSY_KEEPALIVE_NS (1000ull * 1000000)
/* Rounds of hole-punching probes after candidates arrive (one each tick). */
#define PEER_PUNCH_ROUNDS 5
/* A lookup is started again after a failed dial at most this often, and
 * packets wait for one at most this long. */
#define PEER_RELOOKUP_NS     (10ull * 1000000000)
#define PEER_LOOKUP_LIMIT_NS (15ull * 1000000000)
/* QUIC connections at once, handshaking ones included: room for 10 000
 * peers (issue 16) and their redials; at ~50 KB per idle connection this
 * bounds the daemon near 800 MB. The registry (REGISTRY_DEFAULT_CAPACITY)
 * holds an address for each. */
#define PEER_MAX_CONNECTIONS 16384

struct pending_packet {
	uint16_t len;
	uint8_t data[PEER_PACKET_MAX];
};

struct peer_path {
	struct netaddr addr;
	enum peer_path_kind kind;
	enum peer_path_source source;
	uint64_t expires; /* 0: never */
	uint64_t rtt_ns;
	uint64_t skip_until; /* a dial failed on it: others first until then */
	uint64_t hold_until; /* we fell back from it: not before then, news or not */
	unsigned failures;
	uint8_t rank; /* among equals, lower first: a peer's local candidate is 1 */
};

struct peer {
	struct iron_id id;
	LIST_ENTRY(peer) in_bucket;

	/* What housekeeping reads of every peer every tick (the idle close,
	 * peer_quiet) comes first and together: at 10 000 peers each cache
	 * line of it is a miss per peer per tick. */
	LIST_ENTRY(peer) in_table;
	/* The connection packets to this peer are sent on: an iron/packet/1
	 * connection in either direction, or one we dialled (while it
	 * handshakes, packets wait in pending). */
	struct quic_conn *conn;
	/* Our dial through a relay racing the direct one in conn. */
	struct quic_conn *race;
	/* Our connection whose direct path went silent with no relay to move
	 * to: kept (the path may come back) until a new dial replaces it. */
	struct quic_conn *stalled;
	/* The connection whose keep-alive follows the traffic, and its
	 * interval now. */
	struct quic_conn *keepalive_conn;
	uint64_t keepalive_ns;
	uint64_t last_activity;
	/* When conn first sent something the peer has not answered yet
	 * (seen at housekeeping); 0: all answered. */
	uint64_t unanswered_since;
	int probe_path; /* the path a migration is validating, or -1 */
	/* Rounds of hole-punching probes still to send, the next at
	 * punch_next. */
	unsigned punch_rounds;
	/* Packets held while no dial may start (backoff), oldest dropped. */
	unsigned pending_head, pending_count;
	/* A lookup of its paths (cb.lookup) is in flight since lookup_at. */
	bool looking_up;
	/* Visits skipped since the last one while it was quiet. */
	uint8_t quiet_skips;

	struct peer_table *table;
	bool is_static;
	struct peer_path paths[PEER_MAX_PATHS];
	unsigned npaths;
	int dialled_path; /* the path of the dial in progress, or -1 */
	int race_path;	  /* the path of the relay dial racing it, or -1 */

	uint64_t redialled_at;
	/* Established connections that could carry our packets, conn among
	 * them: the next one takes over when conn closes. */
	struct quic_conn *conns[PEER_MAX_CONNS];
	unsigned nlive;
	unsigned nconns; /* all connections with this peer, accepted /0 included */

	uint64_t backoff, retry_at;
	bool dial_failed_recently;
	uint64_t lookup_at;
	uint64_t punch_next;
	struct pending_packet *pending;
};

LIST_HEAD(peer_list, peer);

struct peer_table {
	struct peer_table_config config;
	struct peer_callbacks cb;
	struct quic_endpoint *quic;
	struct peer_list buckets[PEER_BUCKETS];
	struct peer_list all;
	size_t npeers;
	/* Where peers come from (objpool.h: a peer outlives its connection,
	 * and one by one in the heap they kept the connections' freed memory
	 * in pieces). */
	struct objpool pool;
	uint64_t next_tick;
	/* Housekeeping: the next peer to visit (NULL: the next turn starts
	 * a new visit), when the visit started, when connections were last
	 * swept for idleness. */
	struct peer *sweep;
	uint64_t sweep_start, idle_sweep_at;
	/* The time of the call being served, for the QUIC callbacks. */
	uint64_t now;
	struct peer_table_stats stats;
	/* This node's candidates message (empty: none known). */
	uint8_t candidates[3 + PUNCH_MAX_CANDIDATES * 20];
	size_t candidates_len;
	/* The inbound allow-list; NULL: open to every node. */
	struct allow_list *allow;
	/* Buckets by a keyed hash: IDs are chosen by whoever makes the key,
	 * and grinding keys into one bucket would make every lookup walk
	 * all the connections. */
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	/* The peer the last packet was sent to: a burst to one peer hashes
	 * its ID once, not per packet (the hash was ~1.7 % of a sender). */
	struct peer *recent;
};

static unsigned bucket_of(const struct peer_table *table, const struct iron_id *id)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, id->bytes, IRON_ID_LEN, table->hash_key);
	return (unsigned)(h & (PEER_BUCKETS - 1));
}

static struct peer *peer_find(const struct peer_table *table, const struct iron_id *id)
{
	struct peer *p = table->recent;
	if (p && id_equal(&p->id, id))
		return p;
	LIST_FOREACH(p, &table->buckets[bucket_of(table, id)], in_bucket)
	if (id_equal(&p->id, id))
		return p;
	return NULL;
}

static struct peer *peer_get(struct peer_table *table, const struct iron_id *id, uint64_t now)
{
	struct peer *p = peer_find(table, id);
	if (p)
		return p;
	p = objpool_alloc(&table->pool);
	if (!p)
		return NULL;
	p->id = *id;
	p->table = table;
	p->last_activity = now;
	p->dialled_path = -1;
	p->race_path = -1;
	p->probe_path = -1;
	LIST_INSERT_HEAD(&table->buckets[bucket_of(table, id)], p, in_bucket);
	LIST_INSERT_HEAD(&table->all, p, in_table);
	table->npeers++;
	return p;
}

static void peer_free(struct peer *p)
{
	if (p->table->sweep == p)
		p->table->sweep = LIST_NEXT(p, in_table);
	if (p->table->recent == p)
		p->table->recent = NULL;
	p->table->npeers--;
	LIST_REMOVE(p, in_bucket);
	LIST_REMOVE(p, in_table);
	free(p->pending);
	objpool_free(&p->table->pool, p);
}

static void short_id(const struct iron_id *id, char *out)
{
	char b32[IRON_ID_BASE32_LEN + 1];
	id_to_base32(id, b32);
	memcpy(out, b32, 10);
	out[10] = '\0';
}

const char *peer_path_kind_name(enum peer_path_kind kind)
{
	return kind == PEER_PATH_RELAY ? "relay" : "direct";
}

const char *peer_path_source_name(enum peer_path_source source)
{
	switch (source) {
	case PEER_SOURCE_STATIC:
		return "static";
	case PEER_SOURCE_LAN:
		return "lan";
	case PEER_SOURCE_DISCOVERED:
		return "discovered";
	case PEER_SOURCE_CANDIDATE:
		return "candidate";
	case PEER_SOURCE_LEARNED:
		return "learned";
	}
	return "unknown";
}

static bool path_expired(const struct peer_path *path, uint64_t now)
{
	return path->expires != 0 && now >= path->expires;
}

/* Paths are kept in canonical form (netaddr_canonical()): the dual-stack
 * socket's v4-mapped form of an IPv4 address is the same path. */
static int path_find(const struct peer *p, const struct sockaddr *addr)
{
	struct netaddr canon;
	if (netaddr_canonical(addr, &canon) < 0)
		return -1;
	for (unsigned i = 0; i < p->npaths; i++)
		if (netaddr_equal(&p->paths[i].addr.sa, &canon.sa))
			return (int)i;
	return -1;
}

/* The path the sending connection runs on, or -1. */
static int path_active(const struct peer *p)
{
	return p->conn ? path_find(p, quic_conn_remote(p->conn)) : -1;
}

/* Keeps a path index valid when path i is removed (the last moves to i). */
static void path_index_fix(int *index, unsigned i, unsigned last)
{
	if (*index == (int)last)
		*index = (int)i;
	else if (*index == (int)i)
		*index = -1;
}

static void path_remove(struct peer *p, unsigned i)
{
	p->paths[i] = p->paths[--p->npaths];
	path_index_fix(&p->dialled_path, i, p->npaths);
	path_index_fix(&p->race_path, i, p->npaths);
	path_index_fix(&p->probe_path, i, p->npaths);
}

/* A path in use or in a dial or probe may not be dropped. */
static bool path_busy(const struct peer *p, int i, int active)
{
	return i == active || i == p->dialled_path || i == p->race_path || i == p->probe_path;
}

/* Is a better than b to dial? Direct before relay; then a path that did
 * not just fail; then fewer failed dials in a row (so that failing paths
 * take turns); then the lower measured RTT; then the source. */
static bool path_better(const struct peer_path *a, const struct peer_path *b, uint64_t now)
{
	if (a->kind != b->kind)
		return a->kind == PEER_PATH_DIRECT;
	bool a_skip = now < a->skip_until, b_skip = now < b->skip_until;
	if (a_skip != b_skip)
		return !a_skip;
	if (a_skip && a->skip_until != b->skip_until)
		return a->skip_until < b->skip_until;
	if (a->failures != b->failures)
		return a->failures < b->failures;
	if (a->rank != b->rank)
		return a->rank < b->rank;
	if (a->rtt_ns && b->rtt_ns && a->rtt_ns != b->rtt_ns)
		return a->rtt_ns < b->rtt_ns;
	return a->source < b->source;
}

/* The candidate of a kind (or of any kind: -1) to use now, or -1 when
 * there is none. */
static int path_choose_kind(const struct peer *p, int kind, uint64_t now)
{
	int best = -1;
	for (unsigned i = 0; i < p->npaths; i++) {
		if (path_expired(&p->paths[i], now) || (kind >= 0 && (int)p->paths[i].kind != kind))
			continue;
		if (best < 0 || path_better(&p->paths[i], &p->paths[best], now))
			best = (int)i;
	}
	return best;
}

static int path_choose(const struct peer *p, uint64_t now)
{
	return path_choose_kind(p, -1, now);
}

static bool peer_has_path(const struct peer *p, uint64_t now)
{
	return path_choose(p, now) >= 0;
}

/* Makes room for one more candidate: an expired one goes first, else the
 * least preferred that is neither static nor in use. */
static int path_make_room(struct peer *p, enum peer_path_source source, uint64_t now)
{
	int active = path_active(p), victim = -1;
	for (unsigned i = 0; i < p->npaths; i++) {
		if (path_busy(p, (int)i, active))
			continue;
		if (path_expired(&p->paths[i], now)) {
			victim = (int)i;
			break;
		}
		if (p->paths[i].source == PEER_SOURCE_STATIC || p->paths[i].source < source)
			continue;
		if (victim < 0 || path_better(&p->paths[victim], &p->paths[i], now))
			victim = (int)i;
	}
	if (victim < 0)
		return -ENOSPC;
	path_remove(p, (unsigned)victim);
	return 0;
}

static int path_add(struct peer *p, const struct sockaddr *addr, enum peer_path_source source,
		    uint64_t ttl_ns, uint64_t now)
{
	if (netaddr_len(addr) == 0)
		return -EAFNOSUPPORT;
	int i = path_find(p, addr);
	bool fresh = i < 0 || source < p->paths[i].source;
	if (i < 0) {
		if (p->npaths == PEER_MAX_PATHS && path_make_room(p, source, now) < 0)
			return -ENOSPC;
		i = (int)p->npaths++;
		memset(&p->paths[i], 0, sizeof(p->paths[i]));
		netaddr_canonical(addr, &p->paths[i].addr);
		p->paths[i].kind = netaddr_is_relay(addr) ? PEER_PATH_RELAY : PEER_PATH_DIRECT;
	}
	struct peer_path *path = &p->paths[i];
	if (fresh) {
		/* New, or now known from a better source: its lifetime is this
		 * source's. */
		path->source = source;
		path->expires = source == PEER_SOURCE_STATIC || ttl_ns == 0 ? 0 : now + ttl_ns;
	} else if (source == path->source && path->expires != 0) {
		/* The same source again: it lives on, never shorter. */
		if (ttl_ns == 0)
			path->expires = 0;
		else if (now + ttl_ns > path->expires)
			path->expires = now + ttl_ns;
	}
	return 0;
}

static void pending_push(struct peer_table *table, struct peer *p, const uint8_t *pkt, size_t len)
{
	if (!p->pending) {
		p->pending = malloc(sizeof(*p->pending) * PEER_PENDING_MAX);
		if (!p->pending) {
			table->stats.queue_dropped++;
			return;
		}
	}
	if (p->pending_count == PEER_PENDING_MAX) {
		p->pending_head = (p->pending_head + 1) % PEER_PENDING_MAX;
		p->pending_count--;
		table->stats.queue_dropped++;
	}
	struct pending_packet *slot =
	    &p->pending[(p->pending_head + p->pending_count) % PEER_PENDING_MAX];
	slot->len = (uint16_t)len;
	memcpy(slot->data, pkt, len);
	p->pending_count++;
}

/* Moves held packets into the connection (or reports them unreachable). */
static void pending_drain(struct peer_table *table, struct peer *p, uint64_t now, bool failed)
{
	while (p->pending_count > 0) {
		struct pending_packet *slot = &p->pending[p->pending_head];
		if (failed || !p->conn)
			table->cb.unreachable(table->cb.user, &p->id, slot->data, slot->len);
		else if (quic_conn_send_packet(p->conn, slot->data, slot->len, now) < 0)
			table->stats.queue_dropped++;
		p->pending_head = (p->pending_head + 1) % PEER_PENDING_MAX;
		p->pending_count--;
	}
	free(p->pending);
	p->pending = NULL;
	p->pending_head = 0;
}

/* Marks the path a dial just failed on, so the next dial tries another. */
static void path_failed(struct peer *p, int i, uint64_t now)
{
	if (i < 0 || (unsigned)i >= p->npaths)
		return;
	struct peer_path *path = &p->paths[i];
	uint64_t penalty = PEER_BACKOFF_MIN << (path->failures < 8 ? path->failures : 8);
	path->failures++;
	path->skip_until =
	    now + (penalty < PEER_PATH_PENALTY_MAX ? penalty : PEER_PATH_PENALTY_MAX);
}

/* Starts a dial on path i. */
static int dial_path(struct peer_table *table, struct peer *p, int i, uint64_t now,
		     struct quic_conn **out)
{
	struct netaddr local, remote;
	struct quic_conn *conn;
	char name[11], where[NETADDR_STR_SIZE];
	int rc = table->cb.route(table->cb.user, &p->paths[i].addr.sa, &local, &remote);
	short_id(&p->id, name);
	if (rc < 0) {
		path_failed(p, i, now);
		return rc;
	}
	rc = quic_connect(table->quic, &p->id, &local.sa, &remote.sa, now, &conn);
	if (rc < 0) {
		log_warn("cannot dial %s at %s: %s", name,
			 netaddr_format(&remote.sa, where, sizeof(where)), strerror(-rc));
		path_failed(p, i, now);
		return rc;
	}
	log_debug("dialling %s at %s (%s, %s)", name,
		  netaddr_format(&remote.sa, where, sizeof(where)),
		  peer_path_kind_name(p->paths[i].kind), peer_path_source_name(p->paths[i].source));
	quic_conn_set_user(conn, p);
	quic_conn_set_keepalive(conn, table->config.keepalive_ns);
	p->nconns++;
	table->stats.dials++;
	*out = conn;
	return 0;
}

/* Dials path i; when that is a direct one and a relay path is known too,
 * dials through the relay at the same time: the first handshake wins and
 * the other dial is closed. Packets wait in pending until then. */
static int dial_via(struct peer_table *table, struct peer *p, int i, uint64_t now)
{
	struct quic_conn *conn;
	if (i < 0)
		return -EHOSTUNREACH;
	int rc = dial_path(table, p, i, now, &conn);
	if (rc < 0) {
		int j = path_choose_kind(p, PEER_PATH_RELAY, now);
		if (j < 0 || j == i || dial_path(table, p, j, now, &conn) < 0)
			return rc;
		i = j;
	}
	p->conn = conn;
	p->dialled_path = i;
	if (p->paths[i].kind != PEER_PATH_DIRECT)
		return 0;
	int j = path_choose_kind(p, PEER_PATH_RELAY, now);
	if (j >= 0 && now >= p->paths[j].skip_until && dial_path(table, p, j, now, &conn) == 0) {
		p->race = conn;
		p->race_path = j;
		table->stats.races++;
	}
	return 0;
}

/* Dials the best path (dial_via). */
static int dial(struct peer_table *table, struct peer *p, uint64_t now)
{
	return dial_via(table, p, path_choose(p, now), now);
}

/* Asks the owner to look up the peer's paths. Returns whether it will
 * answer with peer_table_lookup_result(). */
static bool lookup_start(struct peer_table *table, struct peer *p, uint64_t now)
{
	if (!table->cb.lookup || p->looking_up)
		return p->looking_up;
	p->lookup_at = now;
	if (table->cb.lookup(table->cb.user, &p->id) < 0)
		return false;
	p->looking_up = true;
	table->stats.lookups++;
	return true;
}

void peer_table_lookup_result(struct peer_table *table, const struct iron_id *id, bool done,
			      uint64_t now)
{
	struct peer *p = peer_find(table, id);
	table->now = now;
	if (!p)
		return;
	if (done)
		p->looking_up = false;
	if (p->conn || p->pending_count == 0)
		return;
	if (peer_has_path(p, now)) {
		if (now >= p->retry_at && dial(table, p, now) < 0 && !p->looking_up)
			pending_drain(table, p, now, true);
	} else if (!p->looking_up) {
		pending_drain(table, p, now, true); /* nothing found: unreachable */
	}
}

int peer_table_send(struct peer_table *table, const struct iron_id *id, const uint8_t *pkt,
		    size_t len, uint64_t now)
{
	struct peer *p = peer_find(table, id);
	table->recent = p;
	table->now = now;
	if (len > PEER_PACKET_MAX)
		return -EMSGSIZE;
	if (!p || (!p->conn && !peer_has_path(p, now))) {
		/* No address: the packets wait while the owner looks the peer
		 * up (peer_table_lookup_result() ends the wait). */
		if (p && p->looking_up) {
			pending_push(table, p, pkt, len);
			return 0;
		}
		if (!table->cb.lookup ||
		    (p && now - p->lookup_at < PEER_RELOOKUP_NS && p->lookup_at != 0))
			return -EHOSTUNREACH;
		if (!p && !(p = peer_get(table, id, now)))
			return -ENOMEM;
		if (!lookup_start(table, p, now))
			return -EHOSTUNREACH;
		pending_push(table, p, pkt, len);
		return 0;
	}
	p->last_activity = now;
	if (p->conn && quic_conn_is_established(p->conn))
		return quic_conn_send_packet(p->conn, pkt, len, now) == -EMSGSIZE ? -EMSGSIZE : 0;
	if (p->conn || now < p->retry_at) {
		/* A dial is handshaking (maybe two racing), or may not start
		 * yet: the packet waits for the connection that wins. */
		pending_push(table, p, pkt, len);
		return 0;
	}
	if (dial(table, p, now) < 0)
		return -EHOSTUNREACH;
	pending_push(table, p, pkt, len);
	return 0;
}

size_t peer_table_max_packet(const struct peer_table *table, const struct iron_id *id)
{
	const struct peer *p = peer_find(table, id);

	/* The connection's measure of its path; without one, what a full
	 * 1452-byte UDP payload carries in one datagram. */
	if (p && p->conn && quic_conn_is_established(p->conn))
		return quic_conn_max_packet_size(p->conn);
	return PEER_MAX_PACKET;
}

/* Which node dialled conn. */
static const struct iron_id *dialler(const struct peer_table *table, const struct peer *p,
				     const struct quic_conn *conn)
{
	return quic_conn_is_client(conn) ? &table->config.identity->id : &p->id;
}

/* Remembers an established connection that can carry our packets; with
 * the list full, the oldest one not in use makes room. */
static void live_add(struct peer_table *table, struct peer *p, struct quic_conn *conn)
{
	if (p->nlive == PEER_MAX_CONNS) {
		for (unsigned i = 0; i < p->nlive; i++) {
			if (p->conns[i] == p->conn)
				continue;
			quic_conn_close(p->conns[i], 0, table->now);
			memmove(&p->conns[i], &p->conns[i + 1],
				(p->nlive - i - 1) * sizeof(p->conns[0]));
			p->nlive--;
			break;
		}
	}
	p->conns[p->nlive++] = conn;
}

static void live_remove(struct peer *p, const struct quic_conn *conn)
{
	for (unsigned i = 0; i < p->nlive; i++) {
		if (p->conns[i] != conn)
			continue;
		memmove(&p->conns[i], &p->conns[i + 1], (p->nlive - i - 1) * sizeof(p->conns[0]));
		p->nlive--;
		return;
	}
}

/* Our dial conn completed its handshake: it wins a race with our other
 * dial, which is closed. Returns false when conn is a dial we already gave
 * up. */
static bool dial_won(struct peer_table *table, struct peer *p, struct quic_conn *conn)
{
	int i = path_find(p, quic_conn_remote(conn));
	if (i >= 0) {
		p->paths[i].failures = 0;
		p->paths[i].skip_until = 0;
	}
	if (conn != p->conn && conn != p->race)
		return false;
	struct quic_conn *loser = conn == p->conn ? p->race : p->conn;
	if (loser && quic_conn_is_client(loser) && !quic_conn_is_established(loser)) {
		char name[11];
		short_id(&p->id, name);
		log_debug("dial to %s through %s won the race", name,
			  conn == p->race ? "the relay" : "the direct path");
		quic_conn_close(loser, 0, table->now);
		if (loser == p->conn)
			p->conn = NULL;
	}
	if (conn == p->race && !p->conn)
		p->conn = conn;
	p->race = NULL;
	p->dialled_path = p->race_path = -1;
	if (p->stalled && p->stalled != conn) {
		/* It replaces the connection given up for dead. */
		quic_conn_close(p->stalled, 0, table->now);
		p->stalled = NULL;
	}
	return true;
}

/* Our candidates, to a peer on an iron/packet/1 connection, and, on a
 * direct path, where we see it. */
static void send_candidates(struct peer_table *table, struct quic_conn *conn)
{
	uint8_t msg[sizeof(table->candidates) + PUNCH_OBSERVED_LEN];
	const struct sockaddr *remote = quic_conn_remote(conn);
	int len = (int)table->candidates_len;
	if (quic_conn_alpn(conn) != QUIC_ALPN_PACKET1)
		return;
	if (len)
		memcpy(msg, table->candidates, (size_t)len);
	else
		len = punch_encode(NULL, 0, msg, sizeof(msg)); /* none of our own */
	if (len > 0 && !netaddr_is_relay(remote))
		len = punch_append_observed(msg, (size_t)len, sizeof(msg), remote);
	if (len > 3 && quic_conn_send_control(conn, msg, (size_t)len) == 0)
		table->stats.candidates_sent++;
}

/* One round of probes to the peer's candidates, so that our NAT lets its
 * packets in. */
static void punch_round(struct peer_table *table, struct peer *p, uint64_t now)
{
	uint8_t probe[PUNCH_PROBE_LEN];
	struct netaddr local, remote;
	punch_write_probe(probe);
	for (unsigned i = 0; i < p->npaths; i++) {
		struct peer_path *path = &p->paths[i];
		if (path->source != PEER_SOURCE_CANDIDATE || path_expired(path, now) ||
		    table->cb.route(table->cb.user, &path->addr.sa, &local, &remote) < 0)
			continue;
		table->cb.send(table->cb.user, &local.sa, &remote.sa, probe, sizeof(probe));
		table->stats.probes_sent++;
		if (log_enabled("peer", LOG_DEBUG)) {
			char where[NETADDR_STR_SIZE];
			log_debug("probe to %s", netaddr_format(&remote.sa, where, sizeof(where)));
		}
	}
	if (p->punch_rounds)
		p->punch_rounds--;
	p->punch_next = now + PEER_TICK_NS;
}

static void paths_watch(struct peer_table *table, struct peer *p, uint64_t now);

/* A peer's candidates arrived: they become its paths, fresh (a failure on
 * them before says nothing now that the peer probes us), and both sides
 * punch. */
static void on_control(void *user, struct quic_conn *conn, const uint8_t *data, size_t len)
{
	struct peer_table *table = user;
	struct peer *p = quic_conn_user(conn);
	struct punch_candidate c[PUNCH_MAX_CANDIDATES];
	struct netaddr observed;
	uint64_t now = table->now;
	char name[11];
	int n = punch_parse(data, len, c, PUNCH_MAX_CANDIDATES, &observed);
	if (!p || n < 0)
		return;
	/* Where the peer sees us counts only on a direct path (through a
	 * relay it would be the relay's placeholder). */
	if (observed.sa.sa_family != AF_UNSPEC && !netaddr_is_relay(quic_conn_remote(conn)) &&
	    table->cb.observed)
		table->cb.observed(table->cb.user, &observed.sa);
	if (n == 0)
		return;
	short_id(&p->id, name);
	table->stats.candidates_received++;
	log_debug("%s sent %d candidate%s", name, n, n == 1 ? "" : "s");
	for (int k = 0; k < n; k++) {
		if (path_add(p, &c[k].addr.sa, PEER_SOURCE_CANDIDATE, PEER_LEARNED_TTL_NS, now) < 0)
			continue;
		int i = path_find(p, &c[k].addr.sa);
		if (i < 0 || p->paths[i].source != PEER_SOURCE_CANDIDATE)
			continue;
		p->paths[i].rank = c[k].kind == PUNCH_LOCAL ? 1 : 0;
		if ((int)i != path_active(p)) {
			/* Candidates come again while a path is dead (each side
			 * sends its own when it hears from the other): that is
			 * no news of the path, and clearing its hold made the
			 * connection leave the relay for it again and again. */
			p->paths[i].failures = 0;
			p->paths[i].skip_until =
			    now < p->paths[i].hold_until ? p->paths[i].hold_until : 0;
		}
	}
	if (p->conn && netaddr_is_relay(quic_conn_remote(p->conn))) {
		p->punch_rounds = PEER_PUNCH_ROUNDS;
		punch_round(table, p, now);
		paths_watch(table, p, now);
	}
}

void peer_table_set_candidates(struct peer_table *table, const struct punch_candidate *c, size_t n)
{
	uint8_t msg[sizeof(table->candidates)];
	int len = n ? punch_encode(c, n, msg, sizeof(msg)) : 0;
	if (len < 0 || ((size_t)len == table->candidates_len &&
			memcmp(msg, table->candidates, (size_t)len) == 0))
		return;
	memcpy(table->candidates, msg, (size_t)len);
	table->candidates_len = (size_t)len;
	struct peer *p;
	LIST_FOREACH(p, &table->all, in_table)
	for (unsigned i = 0; i < p->nlive; i++)
		if (quic_conn_is_established(p->conns[i]))
			send_candidates(table, p->conns[i]);
}

/* A connection of ours to the peer is open or being dialled. */
static bool has_own_dial(const struct peer *p)
{
	if ((p->conn && quic_conn_is_client(p->conn)) || p->race)
		return true;
	for (unsigned i = 0; i < p->nlive; i++)
		if (quic_conn_is_client(p->conns[i]))
			return true;
	return false;
}

/* Whether the node may hold a connection it dialled to us (the policy of
 * peer_table_set_allow()). */
static bool admitted(const struct peer_table *table, const struct iron_id *id)
{
	const struct peer *p;
	if (!table->allow || allow_list_contains(table->allow, id))
		return true;
	p = peer_find(table, id);
	return p && has_own_dial(p);
}

/* Inside the TLS handshake of an accepted connection: only counts, the
 * endpoint logs the refusal (rate-limited, with the node's ID). */
static bool on_admit(void *user, const struct iron_id *peer)
{
	struct peer_table *table = user;
	if (admitted(table, peer))
		return true;
	table->stats.refused++;
	return false;
}

static int on_established(void *user, struct quic_conn *conn)
{
	struct peer_table *table = user;
	const struct iron_id *peer_id = quic_conn_peer(conn);
	enum quic_alpn alpn = quic_conn_alpn(conn);
	uint64_t now = table->now;
	char name[11], where[NETADDR_STR_SIZE];
	struct peer *p = quic_conn_user(conn);

	short_id(peer_id, name);
	if (!p) {
		/* An accepted connection: the peer is known from its key. */
		p = peer_get(table, peer_id, now);
		if (!p)
			return -ENOMEM;
		quic_conn_set_user(conn, p);
		p->nconns++;
	}
	if (!quic_conn_is_client(conn)) {
		/* Learn where the peer is, so we can dial it back (iron/packet/0). */
		if (path_add(p, quic_conn_remote(conn), PEER_SOURCE_LEARNED, PEER_LEARNED_TTL_NS,
			     now) < 0)
			log_debug("no room to remember where %s connected from", name);
	} else if (!dial_won(table, p, conn)) {
		return -ECANCELED;
	}
	log_info("connected to %s (%s, %s, %s)", name,
		 netaddr_format(quic_conn_remote(conn), where, sizeof(where)),
		 quic_conn_is_client(conn) ? "dialled" : "accepted",
		 alpn == QUIC_ALPN_PACKET1 ? "iron/packet/1" : "iron/packet/0");
	p->backoff = 0;
	p->retry_at = 0;
	p->last_activity = now;

	if (alpn == QUIC_ALPN_PACKET0 && !quic_conn_is_client(conn)) {
		/* The peer sends to us on it; we may not send on it. */
		table->cb.connection(table->cb.user, &p->id, true);
		return 0;
	}
	if (p->conn && p->conn != conn && quic_conn_alpn(p->conn) == QUIC_ALPN_PACKET1 &&
	    alpn == QUIC_ALPN_PACKET1 && quic_conn_is_established(p->conn)) {
		/* Two iron/packet/1 connections: the one dialled by the node with
		 * the smaller ID wins (SPEC section 10). With the same dialler
		 * (it raced its dials, or it restarted) we send on the newer
		 * one and close neither: the dialler closes the one it gave
		 * up, and the other takes over if it was that one. */
		const struct iron_id *old_dialler = dialler(table, p, p->conn);
		const struct iron_id *new_dialler = dialler(table, p, conn);
		if (memcmp(old_dialler->bytes, new_dialler->bytes, IRON_ID_LEN) == 0) {
			p->conn = conn;
		} else {
			bool new_wins =
			    memcmp(new_dialler->bytes, old_dialler->bytes, IRON_ID_LEN) < 0;
			table->stats.tie_breaks++;
			log_debug("two connections with %s: keeping the %s one", name,
				  new_wins ? "new" : "old");
			if (!new_wins)
				return -EEXIST;
			struct quic_conn *old = p->conn;
			p->conn = conn;
			live_remove(p, old);
			quic_conn_close(old, 0, now);
		}
	} else if (p->conn && p->conn != conn && alpn == QUIC_ALPN_PACKET1 &&
		   !quic_conn_is_established(p->conn)) {
		/* Our own dial is still handshaking; the peer's established
		 * connection decides once ours completes. Send on this one
		 * meanwhile only if it would win. */
		const struct iron_id *ours = &table->config.identity->id;
		if (memcmp(p->id.bytes, ours->bytes, IRON_ID_LEN) < 0) {
			table->stats.tie_breaks++;
			log_info("two connections with %s: its dial wins, ours is dropped", name);
			quic_conn_close(p->conn, 0, now);
			if (p->race)
				quic_conn_close(p->race, 0, now);
			p->conn = conn;
			p->race = NULL;
			p->dialled_path = p->race_path = -1;
		}
	} else if (!p->conn) {
		p->conn = conn;
	}
	live_add(table, p, conn);
	quic_conn_set_keepalive(conn, table->config.keepalive_ns);
	send_candidates(table, conn);
	table->cb.connection(table->cb.user, &p->id, true);
	if (p->conn && quic_conn_is_established(p->conn))
		pending_drain(table, p, now, false);
	return 0;
}

static void on_packet(void *user, struct quic_conn *conn, const uint8_t *data, size_t len)
{
	struct peer_table *table = user;
	struct peer *p = quic_conn_user(conn);
	if (p) {
		p->last_activity = table->now;
		/* iron/packet/1: answer on the connection the peer sends on. Of
		 * two it dialled at once it keeps one and closes the other, so
		 * a reply sent on the other could be lost with it. Not while
		 * our own dial is handshaking: that one wins the tie-break
		 * (else it would have been closed already), and moving off it
		 * would orphan it, so that when it completes it is dropped as
		 * a lost race, and the peer drops the other: no connection. */
		if (conn != p->conn && quic_conn_alpn(conn) == QUIC_ALPN_PACKET1 &&
		    (!p->conn || quic_conn_is_established(p->conn)))
			for (unsigned i = 0; i < p->nlive; i++)
				if (p->conns[i] == conn)
					p->conn = conn;
	}
	table->cb.deliver(table->cb.user, quic_conn_peer(conn), data, len);
}

static void on_closed(void *user, struct quic_conn *conn, int error, const char *reason)
{
	struct peer_table *table = user;
	struct peer *p = quic_conn_user(conn);
	char name[11];
	if (!p)
		return; /* never got past the handshake as a server */
	short_id(&p->id, name);
	p->nconns--;
	live_remove(p, conn);
	bool established = quic_conn_is_established(conn);
	if (p->conn == conn) {
		p->probe_path = -1; /* a migration of this connection */
		/* Another connection takes over: the newest established one,
		 * else our dial still racing. */
		p->conn = p->nlive ? p->conns[p->nlive - 1] : p->race;
		if (p->conn == p->race) {
			p->race = NULL;
			p->dialled_path = p->race_path;
			p->race_path = -1;
		}
	} else if (p->race == conn) {
		p->race = NULL;
	}
	if (p->stalled == conn)
		p->stalled = NULL;
	if (p->keepalive_conn == conn)
		p->keepalive_conn = NULL;
	if (quic_conn_is_client(conn) && !established) {
		int i = path_find(p, quic_conn_remote(conn));
		if (error != 0)
			path_failed(p, i, table->now);
		if (p->dialled_path == i)
			p->dialled_path = -1;
		if (p->race_path == i)
			p->race_path = -1;
	}
	if (error != 0 && quic_conn_is_client(conn) && !established && p->conn) {
		log_debug("dial to %s failed (%s); the other one goes on", name, reason);
		table->stats.dial_failures++;
	} else if (error != 0 && quic_conn_is_client(conn) && !established) {
		uint64_t now = table->now;
		table->stats.dial_failures++;
		p->backoff = p->backoff ? p->backoff * 2 : PEER_BACKOFF_MIN;
		if (p->backoff > PEER_BACKOFF_MAX)
			p->backoff = PEER_BACKOFF_MAX;
		p->retry_at = now + p->backoff;
		log_warn("connection to %s failed: %s (retry in %llu ms)", name,
			 error == -EACCES ? "refused: this node is not on its allow-list" : reason,
			 (unsigned long long)(p->backoff / 1000000));
		pending_drain(table, p, now, true);
		if (table->cb.dial_failed)
			table->cb.dial_failed(table->cb.user, &p->id);
		/* The addresses may be stale: look again (rarely). */
		if (now - p->lookup_at >= PEER_RELOOKUP_NS || p->lookup_at == 0)
			lookup_start(table, p, now);
	} else if (!established) {
		log_debug("dial to %s abandoned: %s", name, reason);
	} else {
		log_info("connection with %s closed: %s", name, reason);
	}
	if (p->conn && quic_conn_is_established(p->conn) && p->pending_count)
		pending_drain(table, p, table->now, false);
	if (p->nconns == 0)
		table->cb.connection(table->cb.user, &p->id, false);
}

/* A migration ended (on our connections; the peer's moves are only
 * logged). */
static void on_path_validated(void *user, struct quic_conn *conn, const struct sockaddr *local,
			      const struct sockaddr *remote, bool ok)
{
	struct peer_table *table = user;
	struct peer *p = quic_conn_user(conn);
	char name[11], where[NETADDR_STR_SIZE];
	(void)local;
	if (!p)
		return;
	short_id(&p->id, name);
	netaddr_format(remote, where, sizeof(where));
	if (!quic_conn_is_client(conn)) {
		log_info("%s moved its connection to %s%s", name, where,
			 ok ? "" : ": the path did not validate");
		if (ok && quic_conn_is_established(conn))
			send_candidates(table, conn); /* it is somewhere else now */
		return;
	}
	int i = path_find(p, remote);
	if (i == p->probe_path)
		p->probe_path = -1;
	if (!ok) {
		table->stats.migrations_failed++;
		path_failed(p, i, table->now);
		log_debug("path to %s via %s did not validate", name, where);
		return;
	}
	table->stats.migrations++;
	if (i >= 0) {
		p->paths[i].failures = 0;
		p->paths[i].skip_until = 0;
		p->paths[i].hold_until = 0;
	}
	log_info("connection with %s moved to %s (%s)", name, where,
		 netaddr_is_relay(remote) ? "relay" : "direct");
}

static void on_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	struct peer_table *table = user;
	table->cb.send(table->cb.user, local, remote, data, len);
}

static void on_flush(void *user)
{
	struct peer_table *table = user;
	if (table->cb.flush)
		table->cb.flush(table->cb.user);
}

int peer_table_new(const struct peer_table_config *config, const struct peer_callbacks *callbacks,
		   struct peer_table **out)
{
	struct peer_table *table = calloc(1, sizeof(*table));
	if (!table)
		return -ENOMEM;
	table->config = *config;
	table->cb = *callbacks;
	objpool_init(&table->pool, sizeof(struct peer), PEER_POOL_BLOCK);
	randombytes_buf(table->hash_key, sizeof(table->hash_key));
	struct quic_config qc = {
	    .identity = config->identity,
	    .client_alpns = config->client_alpns,
	    /* BBR, not cubic: measured through iron between two namespaces
	     * (iperf3, 6 s, same run), 1 stream 1927-1942 Mbit/s against
	     * 1266-1480 with cubic, 4 streams 1623-1669 against 1165-1521
	     * with fewer retransmits; the inner TCP does its own congestion
	     * control, and cubic's reaction to the drops it causes halved the
	     * tunnel's rate. */
	    .congestion_control = QUIC_CC_BBR,
	    .max_connections = PEER_MAX_CONNECTIONS,
	};
	/* For tests: every new client through a Retry round trip, not only
	 * under load (interop with other QUIC stacks' Retry). */
	if (config->quic_retry_always)
		qc.retry_half_open = QUIC_RETRY_ALWAYS;
	struct quic_callbacks qcb = {
	    .user = table,
	    .send = on_send,
	    .flush = on_flush,
	    .established = on_established,
	    .packet = on_packet,
	    .closed = on_closed,
	    .path_validated = on_path_validated,
	    .control = on_control,
	    .admit = on_admit,
	};
	int rc = quic_endpoint_new(&qc, &qcb, &table->quic);
	if (rc < 0) {
		free(table);
		return rc;
	}
	*out = table;
	return 0;
}

void peer_table_del(struct peer_table *table)
{
	if (!table)
		return;
	quic_endpoint_del(table->quic);
	while (!LIST_EMPTY(&table->all))
		peer_free(LIST_FIRST(&table->all));
	objpool_release(&table->pool);
	allow_list_del(table->allow);
	free(table);
}

int peer_table_add_path(struct peer_table *table, const struct iron_id *id,
			const struct sockaddr *addr, enum peer_path_source source, uint64_t ttl_ns,
			uint64_t now)
{
	if (netaddr_len(addr) == 0)
		return -EAFNOSUPPORT;
	struct peer *p = peer_get(table, id, now);
	if (!p)
		return -ENOMEM;
	if (source == PEER_SOURCE_STATIC)
		p->is_static = true;
	return path_add(p, addr, source, ttl_ns, now);
}

int peer_table_set_static(struct peer_table *table, const struct iron_id *id,
			  const struct netaddr *addrs, size_t n)
{
	struct peer *p = peer_get(table, id, table->now);
	int rc = 0;
	if (!p)
		return -ENOMEM;
	p->is_static = true;
	for (unsigned i = p->npaths; i-- > 0;) {
		if (p->paths[i].source != PEER_SOURCE_STATIC)
			continue;
		bool kept = false;
		for (size_t j = 0; j < n && !kept; j++)
			kept = path_find(p, &addrs[j].sa) == (int)i;
		if (!kept)
			path_remove(p, i);
	}
	for (size_t j = 0; j < n; j++) {
		int was = path_find(p, &addrs[j].sa);
		bool fresh = was < 0 || p->paths[was].source != PEER_SOURCE_STATIC;
		int r = path_add(p, &addrs[j].sa, PEER_SOURCE_STATIC, 0, table->now);
		if (r < 0 && rc == 0)
			rc = r;
		/* Newly configured: failures seen before (a punch that did not
		 * go through) say nothing about it now. */
		int i = path_find(p, &addrs[j].sa);
		if (r == 0 && fresh && i >= 0) {
			p->paths[i].failures = 0;
			p->paths[i].skip_until = 0;
		}
	}
	return rc;
}

void peer_table_receive(struct peer_table *table, const struct sockaddr *local,
			const struct sockaddr *remote, const uint8_t *data, size_t len,
			uint64_t now)
{
	table->now = now;
	quic_endpoint_receive(table->quic, local, remote, data, len, now);
}

void peer_table_flush(struct peer_table *table, uint64_t now)
{
	table->now = now;
	quic_endpoint_flush(table->quic, now);
}

uint64_t peer_table_next_expiry(const struct peer_table *table)
{
	uint64_t q = quic_endpoint_next_expiry(table->quic);
	return q < table->next_tick ? q : table->next_tick;
}

/* Where the peer's packets for conn come from when not from its path
 * (its NAT gave it a new port), if one came in after since: a path to
 * try, fresh. Returns its index, or -1. */
static int learn_stray(struct peer *p, struct quic_conn *conn, uint64_t since, uint64_t now)
{
	uint64_t at;
	const struct sockaddr *stray = quic_conn_stray_remote(conn, &at);
	char name[11], where[NETADDR_STR_SIZE];
	if (!stray || at <= since || netaddr_is_relay(stray) ||
	    path_add(p, stray, PEER_SOURCE_LEARNED, PEER_LEARNED_TTL_NS, now) < 0)
		return -1;
	int i = path_find(p, stray);
	if (i < 0 || i == path_active(p))
		return -1;
	short_id(&p->id, name);
	log_info("%s now sends from %s", name, netaddr_format(stray, where, sizeof(where)));
	p->paths[i].failures = 0;
	p->paths[i].skip_until = 0;
	return i;
}

/* The direct path of our connection went silent and there is no relay to
 * move to: dial again on the best path from every source (one the peer's
 * packets now come from, static, discovered, candidates; the silent one
 * last) and ask for fresh addresses. The connection is kept meanwhile (the
 * path may come back) and closed once the new one is established
 * (dial_won). At most one such dial per backoff, which doubles while they
 * fail, unless the peer shows a new address (redial_watch). */
static void redial(struct peer_table *table, struct peer *p, int stray, uint64_t now)
{
	struct quic_conn *old = p->stalled ? p->stalled : p->conn;
	char name[11];
	if (stray < 0 && now < p->retry_at)
		return;
	short_id(&p->id, name);
	if (old == p->conn) {
		log_info("direct path to %s silent for %llu ms: dialling again", name,
			 (unsigned long long)((now - p->unanswered_since) / 1000000));
		path_failed(p, path_active(p), now);
	}
	p->backoff = p->backoff ? p->backoff * 2 : PEER_BACKOFF_MIN;
	if (p->backoff > PEER_BACKOFF_MAX)
		p->backoff = PEER_BACKOFF_MAX;
	p->retry_at = now + p->backoff;
	if (now - p->lookup_at >= PEER_RELOOKUP_NS || p->lookup_at == 0)
		lookup_start(table, p, now);
	if (p->conn != old) {
		/* The dial it replaces goes where the peer is not. */
		path_failed(p, p->dialled_path, now);
		quic_conn_close(p->conn, 0, now);
		if (p->race)
			quic_conn_close(p->race, 0, now);
		p->race = NULL;
		p->dialled_path = p->race_path = -1;
	}
	p->conn = NULL;
	if (dial_via(table, p, stray >= 0 ? stray : path_choose(p, now), now) < 0) {
		p->conn = old;
		p->stalled = NULL;
		log_debug("cannot dial %s again", name);
		return;
	}
	p->stalled = old;
	p->redialled_at = now;
	table->stats.redials++;
}

/* While a dial replaces a silent connection: when the peer's packets on
 * that connection show a new address, the dial goes there at once. */
static void redial_watch(struct peer_table *table, struct peer *p, uint64_t now)
{
	if (!p->stalled || !p->conn || p->conn == p->stalled || quic_conn_is_established(p->conn))
		return;
	if (now - p->redialled_at < PEER_BACKOFF_MIN)
		return;
	int i = learn_stray(p, p->stalled, p->redialled_at, now);
	if (i >= 0 && i != p->dialled_path)
		redial(table, p, i, now);
}

/* On a connection we dialled (only the client may migrate): moves it to
 * a direct path once one validates; when the direct path in use goes
 * silent while packets are in flight, back to a relay, or with none known,
 * dials again. One migration at a time; a path that fails to validate
 * waits out its penalty. */
static void paths_watch(struct peer_table *table, struct peer *p, uint64_t now)
{
	struct quic_conn *conn = p->conn;
	struct quic_conn_stats cs;
	struct netaddr local, remote;
	char name[11];
	int target = -1;
	bool fallback = false;

	if (!conn || !quic_conn_is_client(conn) || !quic_conn_is_established(conn) ||
	    p->probe_path >= 0)
		return;
	quic_conn_get_stats(conn, &cs);
	if (cs.last_received_ns >= p->unanswered_since)
		p->unanswered_since = 0;
	if (!p->unanswered_since && cs.last_sent_ns > cs.last_received_ns)
		p->unanswered_since = cs.last_sent_ns;
	if (netaddr_is_relay(quic_conn_remote(conn))) {
		int i = path_choose_kind(p, PEER_PATH_DIRECT, now);
		if (i >= 0 && now >= p->paths[i].skip_until)
			target = i;
		/* A punched path: the peer probes again when it hears from
		 * us, and so do we. */
		if (target >= 0 && p->paths[i].source == PEER_SOURCE_CANDIDATE &&
		    !p->punch_rounds) {
			send_candidates(table, conn);
			p->punch_rounds = PEER_PUNCH_ROUNDS;
			punch_round(table, p, now);
		}
	} else if (p->unanswered_since &&
		   now - p->unanswered_since > PEER_STALL_NS + 3 * cs.rtt_ns) {
		/* News only: not what the last dial already saw. */
		uint64_t since =
		    cs.last_received_ns > p->redialled_at ? cs.last_received_ns : p->redialled_at;
		int stray = learn_stray(p, conn, since, now);
		target = path_choose_kind(p, PEER_PATH_RELAY, now);
		fallback = target >= 0;
		if (!fallback) {
			redial(table, p, stray, now);
			return;
		}
	}
	if (target < 0)
		return;
	short_id(&p->id, name);
	int rc = table->cb.route(table->cb.user, &p->paths[target].addr.sa, &local, &remote);
	if (rc == 0)
		rc = fallback ? quic_conn_migrate_now(conn, &local.sa, &remote.sa, now)
			      : quic_conn_migrate(conn, &local.sa, &remote.sa, now);
	if (rc < 0) {
		log_debug("cannot move the connection with %s: %s", name, strerror(-rc));
		path_failed(p, target, now);
		return;
	}
	p->probe_path = target;
	if (fallback) {
		table->stats.fallbacks++;
		int dead = path_active(p);
		path_failed(p, dead, now);
		/* Going back to it too soon would stall the traffic again
		 * (a migration sends on the new path before it validates). */
		if (dead >= 0) {
			p->paths[dead].hold_until = now + PEER_FALLBACK_HOLD_NS;
			if (p->paths[dead].skip_until < p->paths[dead].hold_until)
				p->paths[dead].skip_until = p->paths[dead].hold_until;
		}
		log_info("direct path to %s silent for %llu ms: moving to its relay", name,
			 (unsigned long long)((now - p->unanswered_since) / 1000000));
	}
	p->unanswered_since = 0;
}

/* The keep-alive of the connection in use: PEER_BUSY_KEEPALIVE_NS while
 * packets flow, else the configured one (also on a connection no longer
 * in use). */
static void keepalive_follow(struct peer_table *table, struct peer *p, uint64_t now)
{
	/* Not a dial: on_established sets its keep-alive again. */
	struct quic_conn *conn = p->conn && quic_conn_is_established(p->conn) ? p->conn : NULL;
	uint64_t want = table->config.keepalive_ns;
	if (want > PEER_BUSY_KEEPALIVE_NS && now - p->last_activity < PEER_BUSY_NS)
		want = PEER_BUSY_KEEPALIVE_NS;
	if (p->keepalive_conn == conn && (!conn || want == p->keepalive_ns))
		return;
	if (p->keepalive_conn && p->keepalive_conn != conn)
		quic_conn_set_keepalive(p->keepalive_conn, table->config.keepalive_ns);
	if (conn)
		quic_conn_set_keepalive(conn, want);
	p->keepalive_conn = conn;
	p->keepalive_ns = want;
}

/* Nothing for housekeeping to follow but an established connection at
 * rest: its keep-alive settled at the configured interval, no traffic for
 * PEER_BUSY_NS, nothing unanswered, no dial, migration, punching, lookup
 * or waiting packet. Reads the peer only, not its connection. */
static bool peer_quiet(const struct peer_table *table, const struct peer *p, uint64_t now)
{
	return p->conn && p->keepalive_conn == p->conn &&
	       p->keepalive_ns == table->config.keepalive_ns &&
	       now - p->last_activity >= PEER_BUSY_NS && !p->unanswered_since && !p->race &&
	       !p->stalled && p->probe_path < 0 && !p->punch_rounds && !p->looking_up &&
	       p->pending_count == 0;
}

/* One turn of housekeeping: the next slice of peers. Returns true when
 * the visit of all peers is complete. */
static bool housekeeping(struct peer_table *table, uint64_t now)
{
	size_t quota = PEER_SLICE;
	if (!table->sweep) {
		table->sweep = LIST_FIRST(&table->all);
		table->sweep_start = now;
	}
	/* glibc's <sys/queue.h> has no LIST_FOREACH_SAFE; peer_free moves
	 * the cursor past a peer it frees. */
	for (struct peer *p; (p = table->sweep) && quota > 0; quota--) {
		table->sweep = LIST_NEXT(p, in_table);
		if (p->conn && now - p->last_activity > table->config.idle_close_ns) {
			char name[11];
			short_id(&p->id, name);
			log_debug("closing the connection with %s: idle", name);
			table->stats.idle_closes++;
			quic_conn_close(p->conn, 0, now);
			continue;
		}
		if (peer_quiet(table, p, now) && ++p->quiet_skips < PEER_QUIET_TICKS)
			continue;
		p->quiet_skips = 0;
		int active = path_active(p);
		if (active >= 0 && quic_conn_is_established(p->conn)) {
			/* The path in use: its RTT, and a learned one lives on
			 * while the connection does. */
			p->paths[active].rtt_ns = quic_conn_rtt(p->conn);
			if (p->paths[active].expires)
				p->paths[active].expires = now + PEER_LEARNED_TTL_NS;
		}
		if (p->punch_rounds && now >= p->punch_next)
			punch_round(table, p, now);
		keepalive_follow(table, p, now);
		redial_watch(table, p, now);
		paths_watch(table, p, now);
		for (unsigned i = p->npaths; i-- > 0;)
			if (path_expired(&p->paths[i], now) && !path_busy(p, (int)i, active))
				path_remove(p, i);
		if (p->looking_up && now - p->lookup_at > PEER_LOOKUP_LIMIT_NS) {
			p->looking_up = false; /* the answer never came */
			peer_table_lookup_result(table, &p->id, true, now);
		}
		if (!p->conn && p->pending_count > 0 && now >= p->retry_at &&
		    peer_has_path(p, now)) {
			dial(table, p, now); /* the packets wait for its handshake */
			continue;
		}
		if (!p->is_static && p->nconns == 0 && p->pending_count == 0 && !p->looking_up &&
		    now - p->last_activity > PEER_FORGET_NS)
			peer_free(p);
	}
	/* Every other connection carrying nothing goes too: the peers'
	 * iron/packet/0 connections (we only receive on those), a second
	 * iron/packet/1 one. Without this, an accepted connection kept alive
	 * by its peer lived for ever. A slice of them a turn, as the peers. */
	if (table->config.idle_close_ns && now >= table->idle_sweep_at) {
		bool finished;
		table->stats.idle_closes += quic_endpoint_close_idle(
		    table->quic, table->config.idle_close_ns, now, PEER_SLICE, &finished);
		if (finished)
			table->idle_sweep_at = now + PEER_IDLE_SWEEP_NS;
	}
	return !table->sweep;
}

void peer_table_timer(struct peer_table *table, uint64_t now)
{
	table->now = now;
	quic_endpoint_handle_expiry(table->quic, now);
	if (now >= table->next_tick) {
		if (housekeeping(table, now))
			table->next_tick = table->sweep_start + PEER_TICK_NS;
		else {
			size_t turns = (table->npeers + PEER_SLICE - 1) / PEER_SLICE;
			table->next_tick = now + PEER_TICK_NS / (turns ? turns : 1);
		}
		if (table->next_tick <= now)
			table->next_tick = now + 1;
	}
}

/* A new allow-list: an accepted connection of a node it does not admit
 * goes, as WireGuard drops a removed peer (OpenSSH would keep the
 * session; for a network-wide door, closing is the safer choice). */
static void revoke_if_refused(void *ctx, struct quic_conn *conn)
{
	struct peer_table *table = ctx;
	const struct iron_id *id = quic_conn_peer(conn);
	char name[IRON_ID_BASE32_LEN + 1];
	if (quic_conn_is_client(conn) || admitted(table, id))
		return;
	id_to_base32(id, name);
	log_info("closing the connection of %s: not on the allow-list any more", name);
	table->stats.revoked++;
	quic_conn_close(conn, 0, table->now);
}

void peer_table_set_allow(struct peer_table *table, struct allow_list *list, uint64_t now)
{
	table->now = now;
	allow_list_del(table->allow);
	table->allow = list;
	if (list)
		quic_endpoint_foreach(table->quic, revoke_if_refused, table);
}

const struct allow_list *peer_table_allow(const struct peer_table *table)
{
	return table->allow;
}

void peer_table_shutdown(struct peer_table *table, uint64_t now)
{
	table->now = now;
	quic_endpoint_close_all(table->quic, now);
}

static void peer_info_fill(const struct peer *p, struct peer_info *info, uint64_t now)
{
	memset(info, 0, sizeof(*info));
	info->id = p->id;
	info->is_static = p->is_static;
	info->connections = p->nconns;
	int active = path_active(p);
	if (p->conn) {
		info->connected = quic_conn_is_established(p->conn);
		info->alpn = quic_conn_alpn(p->conn);
		/* ngtcp2 keeps the address in a buffer of its own size: copy
		 * only that (netaddr_set reads the family's length). */
		netaddr_set(&info->remote, quic_conn_remote(p->conn));
		info->has_path = true;
		info->path_kind =
		    netaddr_is_relay(&info->remote.sa) ? PEER_PATH_RELAY : PEER_PATH_DIRECT;
		info->path_source = active >= 0 ? p->paths[active].source : PEER_SOURCE_LEARNED;
		quic_conn_get_stats(p->conn, &info->stats);
	} else {
		int next = path_choose(p, now);
		if (next >= 0) {
			info->remote = p->paths[next].addr;
			info->has_path = true;
			info->path_kind = p->paths[next].kind;
			info->path_source = p->paths[next].source;
		}
	}
	info->npaths = p->npaths;
	for (unsigned i = 0; i < p->npaths; i++) {
		const struct peer_path *path = &p->paths[i];
		info->paths[i] = (struct peer_path_info){
		    .addr = path->addr,
		    .kind = path->kind,
		    .source = path->source,
		    .expires_ns = path->expires,
		    .rtt_ns = path->rtt_ns,
		    .failures = path->failures,
		    .active = (int)i == active,
		};
	}
}

void peer_table_foreach(const struct peer_table *table,
			void (*fn)(void *ctx, const struct peer_info *info), void *ctx)
{
	const struct peer *p;
	LIST_FOREACH(p, &table->all, in_table)
	{
		struct peer_info info;
		peer_info_fill(p, &info, table->now);
		fn(ctx, &info);
	}
}

int peer_table_get(const struct peer_table *table, const struct iron_id *id, struct peer_info *out)
{
	const struct peer *p = peer_find(table, id);
	if (!p)
		return -ENOENT;
	peer_info_fill(p, out, table->now);
	return 0;
}

void peer_table_get_stats(const struct peer_table *table, struct peer_table_stats *out)
{
	*out = table->stats;
}

void peer_table_get_quic_stats(const struct peer_table *table, struct quic_endpoint_stats *out)
{
	quic_endpoint_get_stats(table->quic, out);
}
