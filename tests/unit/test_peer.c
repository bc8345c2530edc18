/* The peer table over an in-memory network: real QUIC and TLS between
 * peer tables in one process, datagrams carried by a queue with a fixed
 * latency, simulated time. Path choice and moving on after a failed dial,
 * the pending queue, backoff, the tie-break between simultaneous dials,
 * the bounded candidate set, the inbound allow-list, and NAT rebinding on
 * either side. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iron/addr.h"
#include "iron/allow.h"
#include "iron/identity.h"
#include "iron/ipv6.h"
#include "iron/peer.h"
#include "iron/punch.h"

#define MS	  1000000ull
#define SEC	  (1000 * MS)
#define LATENCY	  (2 * MS)
#define MAX_NODES 3
#define QUEUE_MAX 4096

struct node {
	struct peer_table *table;
	struct iron_identity identity;
	struct netaddr addr; /* where it receives */
	struct netaddr pub;  /* its NAT's address for it (addr when none) */
	unsigned delivered, unreachable, connected, dial_failed, observed_calls;
	struct netaddr observed; /* where a peer last said it sees us */
	uint8_t last[1500];
	size_t last_len;
};

struct datagram {
	uint64_t at;
	struct netaddr from, to;
	uint16_t len;
	uint8_t data[1500];
};

static struct node nodes[MAX_NODES];
static struct datagram *queue;
static size_t queued;
static uint64_t now = 1 * SEC;

static void on_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	if (queued == QUEUE_MAX || len > sizeof(queue[0].data))
		return;
	struct node *n = user;
	struct datagram *d = &queue[queued++];
	d->at = now + LATENCY;
	netaddr_set(&d->from, netaddr_equal(local, &n->addr.sa) ? &n->pub.sa : local);
	netaddr_set(&d->to, remote);
	d->len = (uint16_t)len;
	memcpy(d->data, data, len);
}

static int on_route(void *user, const struct sockaddr *remote, struct netaddr *local,
		    struct netaddr *remote_out)
{
	struct node *n = user;
	*local = n->addr;
	return netaddr_set(remote_out, remote);
}

static void on_deliver(void *user, const struct iron_id *from, const uint8_t *pkt, size_t len)
{
	struct node *n = user;
	(void)from;
	n->delivered++;
	n->last_len = len;
	memcpy(n->last, pkt, len);
}

static void on_unreachable(void *user, const struct iron_id *to, const uint8_t *pkt, size_t len)
{
	struct node *n = user;
	(void)to;
	(void)pkt;
	(void)len;
	n->unreachable++;
}

static void on_connection(void *user, const struct iron_id *peer, bool connected)
{
	struct node *n = user;
	(void)peer;
	if (connected)
		n->connected++;
}

static void on_dial_failed(void *user, const struct iron_id *peer)
{
	struct node *n = user;
	(void)peer;
	n->dial_failed++;
}

static void on_observed(void *user, const struct sockaddr *addr)
{
	struct node *n = user;
	n->observed_calls++;
	netaddr_set(&n->observed, addr);
}

/* node_init() with the idle close (0: 120 s) and the protocols offered
 * when dialling (0: both). */
static void node_init_with(struct node *n, uint8_t seed_byte, const char *addr,
			   uint64_t idle_close_ns, unsigned client_alpns);

static void node_init(struct node *n, uint8_t seed_byte, const char *addr)
{
	node_init_with(n, seed_byte, addr, 0, 0);
}

/* alpns: what the node offers when it dials (QUIC_ALPN_FLAG bits), 0: both. */
static void node_init_alpns(struct node *n, uint8_t seed_byte, const char *addr, unsigned alpns)
{
	node_init_with(n, seed_byte, addr, 0, alpns);
}

static void node_init_with(struct node *n, uint8_t seed_byte, const char *addr,
			   uint64_t idle_close_ns, unsigned client_alpns)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	memset(n, 0, sizeof(*n));
	memset(seed, seed_byte, sizeof(seed));
	identity_from_seed(seed, &n->identity);
	CHECK_INT(netaddr_parse(addr, &n->addr), 0);
	n->pub = n->addr;
	const struct peer_table_config config = {
	    .identity = &n->identity,
	    .idle_close_ns = idle_close_ns ? idle_close_ns : 120 * SEC,
	    .keepalive_ns = 5 * SEC,
	    .client_alpns = client_alpns,
	};
	const struct peer_callbacks callbacks = {
	    .user = n,
	    .send = on_send,
	    .route = on_route,
	    .deliver = on_deliver,
	    .unreachable = on_unreachable,
	    .connection = on_connection,
	    .dial_failed = on_dial_failed,
	    .observed = on_observed,
	};
	CHECK_INT(peer_table_new(&config, &callbacks, &n->table), 0);
}

static void node_free(struct node *n)
{
	peer_table_del(n->table);
	n->table = NULL;
}

static struct node *node_at(const struct sockaddr *addr)
{
	for (size_t i = 0; i < MAX_NODES; i++)
		if (nodes[i].table && netaddr_equal(&nodes[i].pub.sa, addr))
			return &nodes[i];
	return NULL; /* nobody there: the datagram is lost */
}

static void flush_all(void)
{
	for (size_t i = 0; i < MAX_NODES; i++)
		if (nodes[i].table)
			peer_table_flush(nodes[i].table, now);
}

/* Advances time to `until`, delivering datagrams and running timers. */
static void run(uint64_t until)
{
	while (now < until) {
		uint64_t next = until;
		for (size_t i = 0; i < queued; i++)
			if (queue[i].at < next)
				next = queue[i].at;
		for (size_t i = 0; i < MAX_NODES; i++)
			if (nodes[i].table) {
				uint64_t e = peer_table_next_expiry(nodes[i].table);
				if (e < next)
					next = e;
			}
		if (next > now)
			now = next;
		for (size_t i = 0; i < queued;) {
			if (queue[i].at > now) {
				i++;
				continue;
			}
			struct datagram d = queue[i];
			queue[i] = queue[--queued];
			struct node *to = node_at(&d.to.sa);
			if (to)
				peer_table_receive(to->table, &to->addr.sa, &d.from.sa, d.data,
						   d.len, now);
		}
		for (size_t i = 0; i < MAX_NODES; i++)
			if (nodes[i].table && peer_table_next_expiry(nodes[i].table) <= now)
				peer_table_timer(nodes[i].table, now);
		flush_all();
	}
}

/* An ICMPv6 echo request from a to b, as a program would send it. */
static size_t echo(const struct node *a, const struct node *b, uint16_t seq, uint8_t *out,
		   size_t cap)
{
	struct in6_addr src, dst;
	uint8_t payload[16] = {0};
	addr_from_id(&a->identity.id, &src);
	addr_from_id(&b->identity.id, &dst);
	struct ipv6_echo e = {.type = IPV6_ICMP_ECHO_REQUEST,
			      .identifier = 7,
			      .sequence = seq,
			      .data = payload,
			      .data_len = sizeof(payload)};
	ssize_t n = ipv6_build_echo(&src, &dst, &e, out, cap);
	CHECK(n > 0);
	return n > 0 ? (size_t)n : 0;
}

static const struct peer_path_info *find_path(const struct peer_info *info, const char *addr)
{
	char text[NETADDR_STR_SIZE];
	for (size_t i = 0; i < info->npaths; i++)
		if (strcmp(netaddr_format(&info->paths[i].addr.sa, text, sizeof(text)), addr) == 0)
			return &info->paths[i];
	return NULL;
}

static void reset(void)
{
	for (size_t i = 0; i < MAX_NODES; i++)
		if (nodes[i].table)
			node_free(&nodes[i]);
	queued = 0;
}

/* A has two candidates for B: a static one where nobody answers, and a
 * discovered one where B is. The static one is preferred and tried first;
 * its dial fails, the packets held meanwhile are reported unreachable,
 * and the next dial takes the other path. */
static void test_path_choice_and_failover(void)
{
	struct node *a = &nodes[0], *b = &nodes[1];
	uint8_t pkt[200];
	struct peer_info info;
	struct netaddr dead, real;

	node_init(a, 1, "10.0.0.1:4766");
	node_init(b, 2, "10.0.0.2:4766");
	CHECK_INT(netaddr_parse("10.0.0.99:4766", &dead), 0);
	CHECK_INT(netaddr_parse("10.0.0.2:4766", &real), 0);
	CHECK_INT(peer_table_set_static(a->table, &b->identity.id, &dead, 1), 0);
	CHECK_INT(peer_table_add_path(a->table, &b->identity.id, &real.sa, PEER_SOURCE_DISCOVERED,
				      60 * SEC, now),
		  0);
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	CHECK_INT(info.npaths, 2);
	CHECK(info.has_path && !info.connected);
	CHECK_INT(info.path_source, PEER_SOURCE_STATIC); /* the next dial's */

	size_t n = echo(a, b, 1, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	flush_all();
	run(now + 15 * SEC); /* past the handshake timeout (10 s) */
	CHECK_INT(a->dial_failed, 1);
	CHECK_INT(b->delivered, 0);
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	const struct peer_path_info *d = find_path(&info, "10.0.0.99:4766");
	CHECK(d && d->failures == 1 && !d->active);
	CHECK_INT(info.path_source, PEER_SOURCE_DISCOVERED); /* the next dial's now */

	/* The next packet: the backoff is over, the other path is taken. */
	n = echo(a, b, 2, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	flush_all();
	run(now + 1 * SEC);
	CHECK_INT(b->delivered, 1);
	CHECK_INT(b->last_len, n);
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	CHECK(info.connected);
	CHECK_INT(info.path_kind, PEER_PATH_DIRECT);
	CHECK_INT(info.path_source, PEER_SOURCE_DISCOVERED);
	const struct peer_path_info *r = find_path(&info, "10.0.0.2:4766");
	CHECK(r && r->active && r->failures == 0);
	/* B learned where A is from A's connection. */
	CHECK_INT(peer_table_get(b->table, &a->identity.id, &info), 0);
	r = find_path(&info, "10.0.0.1:4766");
	CHECK(r && r->source == PEER_SOURCE_LEARNED && r->expires_ns > now && r->active);
	/* The RTT of the path in use is kept by the housekeeping tick. */
	run(now + 1 * SEC);
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	r = find_path(&info, "10.0.0.2:4766");
	CHECK(r && r->rtt_ns >= 2 * LATENCY && r->rtt_ns < 50 * MS);

	struct peer_table_stats st;
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.dials, 2);
	CHECK_INT(st.dial_failures, 1);
	reset();
}

/* Packets sent while a dial is held back by the backoff wait in a bounded
 * queue (the oldest dropped and counted) and go out once connected. */
static void test_pending_queue_and_backoff(void)
{
	struct node *a = &nodes[0], *b = &nodes[1];
	uint8_t pkt[200];
	struct netaddr baddr;
	struct peer_table_stats st;

	node_init(a, 1, "10.0.0.1:4766");
	node_init(b, 2, "10.0.0.2:4766");
	CHECK_INT(netaddr_parse("10.0.0.2:4766", &baddr), 0);
	CHECK_INT(
	    peer_table_add_path(a->table, &b->identity.id, &baddr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);
	/* B is down: the first dial fails, and a backoff starts. */
	node_free(b);
	size_t n = echo(a, b, 1, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	flush_all();
	for (int i = 0; i < 2000 && a->dial_failed == 0; i++)
		run(now + 10 * MS);
	CHECK_INT(a->dial_failed, 1);
	/* B comes back; during the backoff, 70 packets are held (64 kept). */
	node_init(b, 2, "10.0.0.2:4766");
	CHECK_INT(
	    peer_table_add_path(a->table, &b->identity.id, &baddr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);
	for (uint16_t seq = 0; seq < 70; seq++) {
		n = echo(a, b, seq, pkt, sizeof(pkt));
		CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	}
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.queue_dropped, 6);
	CHECK_INT(b->delivered, 0);
	run(now + 2 * SEC);
	CHECK_INT(b->delivered, 64);
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.dials, 2);
	reset();
}

/* Both nodes dial at the same moment: one connection is kept (the one the
 * node with the smaller ID dialled), the tie-break counted once on each
 * side that saw both, and packets flow both ways. */
static void test_tie_break(void)
{
	struct node *a = &nodes[0], *b = &nodes[1];
	uint8_t pkt[200];
	struct peer_info ia, ib;
	struct peer_table_stats sa, sb;

	node_init(a, 1, "10.0.0.1:4766");
	node_init(b, 2, "10.0.0.2:4766");
	CHECK_INT(
	    peer_table_add_path(a->table, &b->identity.id, &b->addr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);
	CHECK_INT(
	    peer_table_add_path(b->table, &a->identity.id, &a->addr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);
	size_t n = echo(a, b, 1, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	n = echo(b, a, 1, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(b->table, &a->identity.id, pkt, n, now), 0);
	flush_all();
	run(now + 3 * SEC);
	/* A packet that went into the dial the tie-break closed is lost with
	 * it (the inner protocol retransmits); the other one arrives. */
	CHECK(a->delivered + b->delivered >= 1);
	unsigned a_before = a->delivered, b_before = b->delivered;
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &ia), 0);
	CHECK_INT(peer_table_get(b->table, &a->identity.id, &ib), 0);
	CHECK(ia.connected && ib.connected);
	CHECK_INT(ia.connections, 1);
	CHECK_INT(ib.connections, 1);
	peer_table_get_stats(a->table, &sa);
	peer_table_get_stats(b->table, &sb);
	CHECK_INT(sa.dials, 1);
	CHECK_INT(sb.dials, 1);
	CHECK(sa.tie_breaks + sb.tie_breaks >= 1);
	/* Both keep sending on the same, surviving connection. */
	n = echo(a, b, 2, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	n = echo(b, a, 2, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(b->table, &a->identity.id, pkt, n, now), 0);
	flush_all();
	run(now + 1 * SEC);
	CHECK_INT(a->delivered, a_before + 1);
	CHECK_INT(b->delivered, b_before + 1);
	reset();
}

/* The candidate set is bounded: learned and discovered candidates make
 * room for each other, static ones stay; set_static replaces the static
 * ones only; expired candidates go. */
/* Candidates go to a connected peer whenever ours change, many times over
 * one connection (ngtcp2 0.12.1 never returns the credit of a peer's
 * stream: with two, the third message waited for ever), each with where
 * the sender sees the receiver. */
static void test_candidates_repeat(void)
{
	struct node *a = &nodes[0], *b = &nodes[1];
	uint8_t pkt[200];
	struct peer_table_stats sb;
	struct punch_candidate c = {.kind = PUNCH_REFLEXIVE};
	char text[32];

	node_init(a, 1, "10.0.0.1:4766");
	node_init(b, 2, "10.0.0.2:4766");
	CHECK_INT(
	    peer_table_add_path(a->table, &b->identity.id, &b->addr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);
	size_t n = echo(a, b, 1, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	flush_all();
	run(now + 1 * SEC);
	CHECK_INT(b->delivered, 1);
	for (int i = 0; i < 8; i++) {
		snprintf(text, sizeof(text), "203.0.113.%d:4766", i + 1);
		CHECK_INT(netaddr_parse(text, &c.addr), 0);
		peer_table_set_candidates(a->table, &c, 1);
		flush_all();
		run(now + 200 * MS);
	}
	peer_table_get_stats(b->table, &sb);
	CHECK_INT(sb.candidates_received, 8);
	/* B told A where it sees it: A's address (no NAT here). */
	CHECK(a->observed_calls >= 1);
	CHECK(netaddr_equal(&a->observed.sa, &a->addr.sa));
	reset();
}

static void test_candidate_bounds(void)
{
	struct node *a = &nodes[0];
	struct iron_identity other;
	uint8_t seed[IDENTITY_SEED_LEN];
	struct peer_info info;
	struct netaddr addr, statics[2];
	char text[32];

	node_init(a, 1, "10.0.0.1:4766");
	memset(seed, 9, sizeof(seed));
	identity_from_seed(seed, &other);
	const struct iron_id *id = &other.id;

	CHECK_INT(netaddr_parse("192.0.2.1:1", &statics[0]), 0);
	CHECK_INT(netaddr_parse("[2001:db8::1]:1", &statics[1]), 0);
	CHECK_INT(peer_table_set_static(a->table, id, statics, 2), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(text, sizeof(text), "198.51.100.%d:7", i + 1);
		CHECK_INT(netaddr_parse(text, &addr), 0);
		CHECK_INT(peer_table_add_path(a->table, id, &addr.sa, PEER_SOURCE_DISCOVERED,
					      30 * SEC, now),
			  0);
	}
	CHECK_INT(peer_table_get(a->table, id, &info), 0);
	CHECK_INT(info.npaths, PEER_MAX_PATHS);
	CHECK(find_path(&info, "192.0.2.1:1") != NULL);
	CHECK(find_path(&info, "[2001:db8::1]:1") != NULL);
	/* The v4-mapped form of a known address is the same candidate. */
	struct netaddr mapped;
	CHECK_INT(netaddr_to_v6(&statics[0].sa, &mapped), 0);
	CHECK_INT(peer_table_add_path(a->table, id, &mapped.sa, PEER_SOURCE_LEARNED, 30 * SEC, now),
		  0);
	CHECK_INT(peer_table_get(a->table, id, &info), 0);
	CHECK_INT(info.npaths, PEER_MAX_PATHS);
	const struct peer_path_info *p = find_path(&info, "192.0.2.1:1");
	CHECK(p && p->source == PEER_SOURCE_STATIC && p->expires_ns == 0);
	/* A relay placeholder is a relay path, and the least preferred. */
	struct netaddr relay;
	netaddr_relay(3, 4, &relay);
	CHECK_INT(
	    peer_table_add_path(a->table, id, &relay.sa, PEER_SOURCE_DISCOVERED, 30 * SEC, now), 0);
	CHECK_INT(peer_table_get(a->table, id, &info), 0);
	p = find_path(&info, "[100::3:0:4]:0");
	CHECK(p && p->kind == PEER_PATH_RELAY);
	CHECK_INT(info.path_kind, PEER_PATH_DIRECT);
	/* A new static list: the old static candidates go, others stay. */
	CHECK_INT(netaddr_parse("192.0.2.77:1", &addr), 0);
	CHECK_INT(peer_table_set_static(a->table, id, &addr, 1), 0);
	CHECK_INT(peer_table_get(a->table, id, &info), 0);
	CHECK(find_path(&info, "192.0.2.1:1") == NULL);
	CHECK(find_path(&info, "[2001:db8::1]:1") == NULL);
	CHECK(find_path(&info, "192.0.2.77:1") != NULL);
	/* After their lifetime, the discovered candidates are gone. */
	run(now + 31 * SEC);
	CHECK_INT(peer_table_get(a->table, id, &info), 0);
	CHECK_INT(info.npaths, 1);
	CHECK(info.is_static);
	/* Bad input. */
	struct sockaddr unknown = {.sa_family = AF_UNIX};
	CHECK_INT(peer_table_add_path(a->table, id, &unknown, PEER_SOURCE_LAN, 0, now),
		  -EAFNOSUPPORT);
	reset();
}

/* A sends B a packet every 20 ms for `span`; returns when the first one
 * arrived (0: none did). */
static uint64_t stream_for(struct node *a, struct node *b, uint64_t span)
{
	uint8_t pkt[200];
	uint64_t end = now + span, first = 0;
	unsigned before = b->delivered;
	for (uint16_t seq = 0; now < end; seq++) {
		size_t n = echo(a, b, seq, pkt, sizeof(pkt));
		peer_table_send(a->table, &b->identity.id, pkt, n, now);
		flush_all();
		run(now + 20 * MS);
		if (!first && b->delivered > before)
			first = now;
	}
	return first;
}

/* A and B, each behind a NAT (public 192.0.2.1:4766 and 192.0.2.2:4766),
 * A knowing B's public address. */
static void nat_pair(struct node *a, struct node *b)
{
	node_init(a, 1, "10.0.0.1:4766");
	node_init(b, 2, "10.0.0.2:4766");
	CHECK_INT(netaddr_parse("192.0.2.1:4766", &a->pub), 0);
	CHECK_INT(netaddr_parse("192.0.2.2:4766", &b->pub), 0);
	CHECK_INT(peer_table_set_static(a->table, &b->identity.id, &b->pub, 1), 0);
}

/* A dials B at B's NAT (192.0.2.2:4766). A's NAT gives A a new port: B
 * follows on the same connection. Then B's NAT gives B a new port: A's
 * packets to the old one are lost, B's come from the new one, so A dials
 * B again there (no relay to fall back to) and packets flow again within
 * two seconds; the silent connection is closed. */
static void test_rebinding(void)
{
	struct node *a = &nodes[0], *b = &nodes[1];
	struct peer_info info;
	struct peer_table_stats st;

	nat_pair(a, b);
	CHECK(stream_for(a, b, 1 * SEC) != 0);
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	CHECK(info.connected);

	/* The dialler's own NAT. */
	CHECK_INT(netaddr_parse("192.0.2.1:40000", &a->pub), 0);
	unsigned before = b->delivered;
	uint64_t t = now, first = stream_for(a, b, 2 * SEC);
	CHECK(first != 0 && first - t <= 100 * MS);
	CHECK(b->delivered >= before + 95); /* of 100 */
	CHECK_INT(peer_table_get(b->table, &a->identity.id, &info), 0);
	char text[NETADDR_STR_SIZE];
	CHECK_STR(netaddr_format(&info.remote.sa, text, sizeof(text)), "192.0.2.1:40000");
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.dials, 1);

	/* The accepting side's NAT. */
	CHECK_INT(netaddr_parse("192.0.2.2:5766", &b->pub), 0);
	t = now;
	first = stream_for(a, b, 5 * SEC);
	CHECK(first != 0 && first - t <= 2 * SEC); /* 1.52 s measured */
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.dials, 2);
	CHECK_INT(st.redials, 1);
	CHECK_INT(st.fallbacks, 0);
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	CHECK(info.connected);
	CHECK_STR(netaddr_format(&info.remote.sa, text, sizeof(text)), "192.0.2.2:5766");
	CHECK_INT(info.path_source, PEER_SOURCE_LEARNED);
	CHECK_INT(info.connections, 1); /* the silent one closed */
	const struct peer_path_info *old = find_path(&info, "192.0.2.2:4766");
	CHECK(old && old->failures >= 1 && !old->active);
	reset();
}

/* A peer at rest (an established connection, no traffic, nothing
 * pending) is looked at once a second, not every tick; a path that dies
 * under it is still noticed. B's NAT gives B a new port while the
 * connection is idle: A's next keep-alive goes unanswered, and A dials B
 * again where B's keep-alives now come from. */
static void test_quiet_rebinding(void)
{
	struct node *a = &nodes[0], *b = &nodes[1];
	struct peer_info info;
	struct peer_table_stats st;
	char text[NETADDR_STR_SIZE];

	nat_pair(a, b);
	CHECK(stream_for(a, b, 200 * MS) != 0);
	run(now + 20 * SEC); /* quiet: keep-alives only */
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	CHECK(info.connected);

	CHECK_INT(netaddr_parse("192.0.2.2:5766", &b->pub), 0);
	uint64_t t = now, moved = 0;
	while (!moved && now - t < 30 * SEC) {
		run(now + 100 * MS);
		if (peer_table_get(a->table, &b->identity.id, &info) == 0 && info.connected &&
		    !strcmp(netaddr_format(&info.remote.sa, text, sizeof(text)), "192.0.2.2:5766"))
			moved = now;
	}
	printf("idle connection redialled %.2f s after the peer's NAT moved\n",
	       moved ? (double)(moved - t) / 1e9 : -1.0);
	/* Two keep-alive intervals at most, the stall, a visit, a handshake. */
	CHECK(moved != 0 && moved - t <= 12 * SEC);
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.redials, 1);
	reset();
}

/* Sends one echo request from one node to another and runs the network
 * for a while. */
static void send_echo(struct node *from, struct node *to, uint16_t seq, uint64_t run_for)
{
	uint8_t pkt[200];
	size_t n = echo(from, to, seq, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(from->table, &to->identity.id, pkt, n, now), 0);
	flush_all();
	run(now + run_for);
}

static struct allow_list *allow_only(const struct node *n)
{
	struct allow_list *list = NULL;
	CHECK_INT(allow_list_new(4, &list), 0);
	if (list && n)
		CHECK_INT(allow_list_add(list, &n->identity.id), 0);
	return list;
}

/* A admits only B: B gets in; C's handshake is refused at once (counted,
 * and A never learns of C); A may still dial C, and C answers on that
 * connection. A new list that admits C and not B closes B's connection
 * and refuses B's next dial; an open policy lets B in again. */
static void test_allow_list(void)
{
	struct node *a = &nodes[0], *b = &nodes[1], *c = &nodes[2];
	struct peer_table_stats st;
	struct peer_info info;

	node_init(a, 1, "10.0.0.1:4766");
	node_init(b, 2, "10.0.0.2:4766");
	node_init(c, 3, "10.0.0.3:4766");
	CHECK(peer_table_allow(a->table) == NULL); /* open by default */
	struct allow_list *list = allow_only(b);
	peer_table_set_allow(a->table, list, now);
	CHECK(peer_table_allow(a->table) == list);
	CHECK_INT(
	    peer_table_add_path(b->table, &a->identity.id, &a->addr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);
	CHECK_INT(
	    peer_table_add_path(c->table, &a->identity.id, &a->addr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);

	send_echo(b, a, 1, 1 * SEC);
	CHECK_INT(a->delivered, 1);
	send_echo(c, a, 1, 1 * SEC);
	CHECK_INT(a->delivered, 1);
	CHECK_INT(c->dial_failed, 1); /* told by A's alert within the second */
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.refused, 1);
	CHECK_INT(st.revoked, 0);
	CHECK_INT(peer_table_get(a->table, &c->identity.id, &info), -ENOENT);

	/* Outbound is not filtered, and the peer dialled answers on it. */
	CHECK_INT(peer_table_add_path(a->table, &c->identity.id, &c->addr.sa,
				      PEER_SOURCE_DISCOVERED, 60 * SEC, now),
		  0);
	send_echo(a, c, 2, 1 * SEC);
	CHECK_INT(c->delivered, 1);
	send_echo(c, a, 3, 1 * SEC);
	CHECK_INT(a->delivered, 2);

	/* The list changes: B's accepted connection goes at once. */
	peer_table_set_allow(a->table, allow_only(c), now);
	run(now + 1 * SEC);
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.revoked, 1);
	CHECK_INT(peer_table_get(b->table, &a->identity.id, &info), 0);
	CHECK(!info.connected);
	CHECK_INT(peer_table_get(a->table, &b->identity.id, &info), 0);
	CHECK(!info.connected);
	unsigned failed_before = b->dial_failed;
	send_echo(b, a, 4, 1 * SEC);
	CHECK_INT(a->delivered, 2);
	CHECK_INT(b->dial_failed, failed_before + 1);
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.refused, 2);
	/* A's own connection to C was not touched. */
	CHECK_INT(peer_table_get(a->table, &c->identity.id, &info), 0);
	CHECK(info.connected);

	/* Open again: B's next dial (after its backoff) gets in. */
	peer_table_set_allow(a->table, NULL, now);
	CHECK(peer_table_allow(a->table) == NULL);
	run(now + 5 * SEC);
	send_echo(b, a, 5, 1 * SEC);
	CHECK_INT(a->delivered, 3);
	reset();
}

/* The reply half of the stateful rule: A (closed to everyone) dials C
 * offering only iron/packet/0, on which only the dialler sends, so C must
 * answer on a connection of its own: admitted while A's is open. */
static void test_allow_reply(void)
{
	struct node *a = &nodes[0], *c = &nodes[2];
	struct peer_table_stats st;

	node_init_alpns(a, 1, "10.0.0.1:4766", QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0));
	node_init(c, 3, "10.0.0.3:4766");
	peer_table_set_allow(a->table, allow_only(NULL), now);
	CHECK_INT(peer_table_add_path(a->table, &c->identity.id, &c->addr.sa,
				      PEER_SOURCE_DISCOVERED, 60 * SEC, now),
		  0);
	send_echo(a, c, 1, 1 * SEC);
	CHECK_INT(c->delivered, 1);
	send_echo(c, a, 2, 1 * SEC);
	CHECK_INT(a->delivered, 1);
	peer_table_get_stats(a->table, &st);
	CHECK_INT(st.refused, 0);
	reset();
}

/* An accepted iron/packet/0 connection carries packets only toward us,
 * so it is never the one we send on (p->conn); idle, it is closed all the
 * same, while its dialler's keep-alives would keep it up (issue 15). */
static void test_idle_accepted(void)
{
	struct node *a = &nodes[0], *b = &nodes[1];
	uint8_t pkt[200];
	struct netaddr baddr;
	struct peer_table_stats st;
	struct quic_endpoint_stats qs;

	node_init_with(a, 1, "10.0.0.1:4766", 1000 * SEC, QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0));
	node_init_with(b, 2, "10.0.0.2:4766", 60 * SEC, 0);
	CHECK_INT(netaddr_parse("10.0.0.2:4766", &baddr), 0);
	CHECK_INT(
	    peer_table_add_path(a->table, &b->identity.id, &baddr.sa, PEER_SOURCE_STATIC, 0, now),
	    0);
	size_t n = echo(a, b, 1, pkt, sizeof(pkt));
	CHECK_INT(peer_table_send(a->table, &b->identity.id, pkt, n, now), 0);
	flush_all();
	run(now + 1 * SEC);
	CHECK_INT(b->delivered, 1);
	peer_table_get_quic_stats(b->table, &qs);
	CHECK_INT(qs.connections, 1);
	run(now + 50 * SEC);
	peer_table_get_quic_stats(b->table, &qs);
	CHECK_INT(qs.connections, 1);
	run(now + 15 * SEC);
	peer_table_get_quic_stats(b->table, &qs);
	CHECK_INT(qs.connections, 0);
	peer_table_get_stats(b->table, &st);
	CHECK_INT(st.idle_closes, 1);
	reset();
}

int main(void)
{
	queue = calloc(QUEUE_MAX, sizeof(*queue));
	if (!queue)
		return 1;
	test_path_choice_and_failover();
	test_pending_queue_and_backoff();
	test_tie_break();
	test_candidate_bounds();
	test_candidates_repeat();
	test_allow_list();
	test_allow_reply();
	test_rebinding();
	test_quiet_rebinding();
	test_idle_accepted();
	free(queue);
	return check_done();
}
