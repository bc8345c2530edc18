/* The QUIC transport in one process: endpoints with real GnuTLS raw keys
 * joined by an in-memory network (a queue of datagrams with a fixed
 * latency and optional deterministic loss) under a fake clock.
 *
 * IRON_QUIC_BENCH=N sets the number of datagrams of the throughput
 * measurement (default 20000); IRON_QUIC_CORPUS=DIR writes captured
 * datagrams there as a corpus for fuzz_quic_recv. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "iron/identity.h"
#include "iron/log.h"
#include "iron/quic.h"

#define MS  1000000ull
#define SEC 1000000000ull

/* ---------------------------------------------------------------------- */
/* The in-memory network */

#define NET_CAP	  65536
#define LATENCY	  (5 * MS)
#define MAX_NODES 4

struct datagram {
	uint64_t at;
	struct sockaddr_in6 from, to;
	uint16_t len;
	uint8_t data[1500];
};

struct node {
	struct quic_endpoint *ep;
	struct sockaddr_in6 addr;
	struct iron_identity identity;
	int established;
	struct quic_conn *conn; /* the last established or dialled */
	int closed;
	int close_error;
	char close_reason[160];
	uint64_t closed_at;
	size_t packets;
	size_t packet_bytes;
	uint8_t last_packet[1500];
	size_t last_len;
	unsigned char *seen; /* /0 test: which sequence numbers arrived */
	size_t seen_dups;
	int refuse; /* established returns this */
	/* The admit callback: how often asked, the last key, and its answer. */
	unsigned admit_calls;
	struct iron_id admit_seen;
	bool refuse_keys;
	/* More addresses the network delivers to this node. */
	struct sockaddr_in6 aliases[2];
	size_t naliases;
	/* path_validated calls: how many, and the last one's arguments. */
	int paths_ok, paths_failed;
	struct sockaddr_in6 path_local, path_remote;
};

static struct {
	struct datagram *q;
	size_t head, count;
	unsigned loss_percent;
	uint64_t rng;
	uint64_t sent, lost;
	/* Capture of datagrams sent by one address (for corpus and replays). */
	struct sockaddr_in6 capture_from;
	struct datagram captured[8];
	size_t ncaptured;
	/* Loss applies only to datagrams from this port when non-zero. */
	uint16_t loss_from_port;
	/* Datagrams to this address vanish (a path that does not work). */
	struct sockaddr_in6 blackhole;
	uint64_t blackholed;
	/* Datagrams sent from this address are counted (port 0: none). */
	struct sockaddr_in6 count_from;
	uint64_t counted;
	uint64_t flushes; /* quic_callbacks.flush calls */
	/* Datagrams longer than this vanish (a path MTU black hole); 0: none. */
	size_t max_len;
	uint64_t too_long;
	/* Intercept: sent datagrams are kept here instead of delivered. */
	bool intercept;
	struct datagram intercepted[4];
	size_t nintercepted;
} net;

static struct node *nodes[MAX_NODES];

/* The sequence number fill() puts into a test packet. */
static uint32_t seq_of(const uint8_t *p)
{
	return (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static size_t nnodes;
static uint64_t now_ns = 1 * SEC;

static uint64_t net_rand(void)
{
	net.rng ^= net.rng << 13;
	net.rng ^= net.rng >> 7;
	net.rng ^= net.rng << 17;
	return net.rng;
}

static bool same_addr(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b)
{
	return a->sin6_port == b->sin6_port &&
	       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

/* The network delivers at once: a flush only counts. */
static void on_flush(void *user)
{
	(void)user;
	net.flushes++;
}

static void on_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	struct datagram *d;

	(void)user;
	CHECK(len <= 1452);
	net.sent++;
	if (net.count_from.sin6_port &&
	    same_addr((const struct sockaddr_in6 *)local, &net.count_from))
		net.counted++;
	if (net.ncaptured < 8 && same_addr((const struct sockaddr_in6 *)local, &net.capture_from)) {
		d = &net.captured[net.ncaptured++];
		memcpy(&d->from, local, sizeof(d->from));
		memcpy(&d->to, remote, sizeof(d->to));
		d->len = (uint16_t)len;
		memcpy(d->data, data, len);
	}
	if (net.intercept) {
		if (net.nintercepted < 4) {
			d = &net.intercepted[net.nintercepted++];
			memcpy(&d->from, local, sizeof(d->from));
			memcpy(&d->to, remote, sizeof(d->to));
			d->len = (uint16_t)len;
			memcpy(d->data, data, len);
		}
		return;
	}
	if (same_addr((const struct sockaddr_in6 *)remote, &net.blackhole)) {
		net.blackholed++;
		return;
	}
	if (net.max_len && len > net.max_len) {
		net.too_long++;
		return;
	}
	if (net.loss_percent &&
	    (!net.loss_from_port ||
	     ((const struct sockaddr_in6 *)local)->sin6_port == htons(net.loss_from_port)) &&
	    net_rand() % 100 < net.loss_percent) {
		net.lost++;
		return;
	}
	if (net.count == NET_CAP || len > sizeof(d->data)) {
		net.lost++;
		return;
	}
	d = &net.q[(net.head + net.count++) % NET_CAP];
	d->at = now_ns + LATENCY;
	memcpy(&d->from, local, sizeof(d->from));
	memcpy(&d->to, remote, sizeof(d->to));
	d->len = (uint16_t)len;
	memcpy(d->data, data, len);
}

static int on_established(void *user, struct quic_conn *conn)
{
	struct node *n = user;
	n->established++;
	n->conn = conn;
	return n->refuse;
}

static void on_packet(void *user, struct quic_conn *conn, const uint8_t *data, size_t len)
{
	struct node *n = user;
	(void)conn;
	n->packets++;
	n->packet_bytes += len;
	memcpy(n->last_packet, data, len < sizeof(n->last_packet) ? len : sizeof(n->last_packet));
	n->last_len = len;
	if (n->seen && len >= 4) {
		uint32_t seq = seq_of(data);
		if (seq < 100000) {
			if (n->seen[seq])
				n->seen_dups++;
			n->seen[seq] = 1;
		}
	}
}

static void on_closed(void *user, struct quic_conn *conn, int error, const char *reason)
{
	struct node *n = user;
	n->closed++;
	n->close_error = error;
	snprintf(n->close_reason, sizeof(n->close_reason), "%s", reason);
	n->closed_at = now_ns;
	if (n->conn == conn)
		n->conn = NULL;
}

static bool on_admit(void *user, const struct iron_id *peer)
{
	struct node *n = user;
	n->admit_calls++;
	n->admit_seen = *peer;
	return !n->refuse_keys;
}

static void on_path_validated(void *user, struct quic_conn *conn, const struct sockaddr *local,
			      const struct sockaddr *remote, bool ok)
{
	struct node *n = user;
	(void)conn;
	if (ok)
		n->paths_ok++;
	else
		n->paths_failed++;
	CHECK_INT(local->sa_family, AF_INET6);
	CHECK_INT(remote->sa_family, AF_INET6);
	memcpy(&n->path_local, local, sizeof(n->path_local));
	memcpy(&n->path_remote, remote, sizeof(n->path_remote));
}

static struct node *node_new(uint8_t key_byte, uint16_t port, const struct quic_config *base)
{
	struct node *n = calloc(1, sizeof(*n));
	struct quic_config config = {0};
	struct quic_callbacks cb = {
	    .user = n,
	    .send = on_send,
	    .flush = on_flush,
	    .established = on_established,
	    .packet = on_packet,
	    .closed = on_closed,
	    .path_validated = on_path_validated,
	    .admit = on_admit,
	};
	uint8_t seed[IDENTITY_SEED_LEN];

	if (base)
		config = *base;
	memset(seed, key_byte, sizeof(seed));
	identity_from_seed(seed, &n->identity);
	if (key_byte && !config.identity)
		config.identity = &n->identity;
	if (!config.seed)
		config.seed = 1000 + port;
	n->addr.sin6_family = AF_INET6;
	n->addr.sin6_port = htons(port);
	inet_pton(AF_INET6, "fd00::1", &n->addr.sin6_addr);
	n->addr.sin6_addr.s6_addr[15] = (uint8_t)port;
	CHECK_INT(quic_endpoint_new(&config, &cb, &n->ep), 0);
	nodes[nnodes++] = n;
	return n;
}

static void node_del(struct node *n)
{
	for (size_t i = 0; i < nnodes; i++) {
		if (nodes[i] == n) {
			nodes[i] = nodes[--nnodes];
			break;
		}
	}
	quic_endpoint_del(n->ep);
	free(n->seen);
	free(n);
}

static const struct sockaddr *sa(const struct node *n)
{
	return (const struct sockaddr *)&n->addr;
}

static void net_reset(void)
{
	net.head = net.count = 0;
	net.sent = net.lost = 0;
	memset(&net.count_from, 0, sizeof(net.count_from));
	net.counted = 0;
	net.loss_from_port = 0;
	net.intercept = false;
	net.nintercepted = 0;
	net.loss_percent = 0;
	memset(&net.blackhole, 0, sizeof(net.blackhole));
	net.blackholed = 0;
	net.max_len = 0;
	net.too_long = 0;
}

static struct node *node_at(const struct sockaddr_in6 *addr)
{
	for (size_t i = 0; i < nnodes; i++) {
		if (same_addr(&nodes[i]->addr, addr))
			return nodes[i];
		for (size_t j = 0; j < nodes[i]->naliases; j++)
			if (same_addr(&nodes[i]->aliases[j], addr))
				return nodes[i];
	}
	return NULL;
}

/* Runs the network and the timers until done() is true or max_ns of fake
 * time have passed. Returns done()'s last value. */
static bool pump(bool (*done)(void), uint64_t max_ns)
{
	uint64_t deadline = now_ns + max_ns;
	unsigned long rounds = 0;

	for (;;) {
		uint64_t next = UINT64_MAX;

		if (done && done())
			return true;
		if (++rounds > 50000000) {
			fprintf(stderr, "pump does not make progress\n");
			CHECK(0);
			return false;
		}
		/* Deliver what is due, then flush everyone once per batch. */
		while (net.count && net.q[net.head].at <= now_ns) {
			struct datagram *d = &net.q[net.head];
			struct node *to = node_at(&d->to);
			net.head = (net.head + 1) % NET_CAP;
			net.count--;
			if (to)
				quic_endpoint_receive(to->ep, (const struct sockaddr *)&d->to,
						      (const struct sockaddr *)&d->from, d->data,
						      d->len, now_ns);
		}
		for (size_t i = 0; i < nnodes; i++)
			quic_endpoint_flush(nodes[i]->ep, now_ns);
		for (size_t i = 0; i < nnodes; i++) {
			uint64_t e = quic_endpoint_next_expiry(nodes[i]->ep);
			if (e <= now_ns)
				quic_endpoint_handle_expiry(nodes[i]->ep, now_ns);
			e = quic_endpoint_next_expiry(nodes[i]->ep);
			if (e < next)
				next = e;
		}
		if (net.count && net.q[net.head].at < next)
			next = net.q[net.head].at;
		if (next <= now_ns)
			continue;
		if (done && done())
			return true;
		if (next > deadline) {
			now_ns = deadline;
			return done ? done() : true;
		}
		now_ns = next;
	}
}

/* ---------------------------------------------------------------------- */
/* Scenarios */

static struct node *client, *server;

static bool both_established(void)
{
	return client->established > 0 && server->established > 0;
}

static bool client_closed(void)
{
	return client->closed > 0;
}

static bool both_closed(void)
{
	return client->closed > 0 && server->closed > 0;
}

static bool server_closed(void)
{
	return server->closed > 0;
}

static struct quic_conn *dial(struct node *from, struct node *to, const struct iron_id *id)
{
	struct quic_conn *conn = NULL;
	CHECK_INT(
	    quic_connect(from->ep, id ? id : &to->identity.id, sa(from), sa(to), now_ns, &conn), 0);
	from->conn = conn;
	return conn;
}

static void setup_pair(const struct quic_config *client_config,
		       const struct quic_config *server_config)
{
	net_reset();
	client = node_new(0x11, 1, client_config);
	server = node_new(0x22, 2, server_config);
}

static void teardown(void)
{
	while (nnodes)
		node_del(nodes[0]);
	net_reset();
}

static void test_handshake(void)
{
	struct quic_conn *c;
	uint64_t start;

	setup_pair(NULL, NULL);
	net.capture_from = client->addr;
	net.ncaptured = 0;
	c = dial(client, server, NULL);
	CHECK(!quic_conn_is_established(c));
	CHECK(quic_conn_is_client(c));
	start = now_ns;
	CHECK(pump(both_established, 5 * SEC));
	printf("handshake took %.1f ms of fake time (one-way latency %llu ms)\n",
	       (double)(now_ns - start) / 1e6, LATENCY / MS);
	CHECK(now_ns - start <= 4 * LATENCY + 5 * MS);
	CHECK(client->conn == c);
	CHECK(quic_conn_is_established(c));
	CHECK_MEM(quic_conn_peer(c)->bytes, server->identity.id.bytes, 32);
	CHECK(server->conn != NULL);
	if (server->conn) {
		CHECK_MEM(quic_conn_peer(server->conn)->bytes, client->identity.id.bytes, 32);
		CHECK(!quic_conn_is_client(server->conn));
		CHECK_INT(quic_conn_alpn(server->conn), QUIC_ALPN_PACKET1);
		CHECK(same_addr((const struct sockaddr_in6 *)quic_conn_remote(server->conn),
				&client->addr));
	}
	CHECK_INT(quic_conn_alpn(c), QUIC_ALPN_PACKET1);
	CHECK_INT(client->closed + server->closed, 0);
	/* The server asked about the client's key, once; a client asks nothing. */
	CHECK_INT(server->admit_calls, 1);
	CHECK_MEM(server->admit_seen.bytes, client->identity.id.bytes, 32);
	CHECK_INT(client->admit_calls, 0);
	CHECK(net.ncaptured > 0 && net.captured[0].len >= 1200);
	CHECK(net.captured[0].data[0] & 0x80); /* a long-header Initial */

	/* Write the corpus of fuzz_quic_recv when asked. */
	const char *dir = getenv("IRON_QUIC_CORPUS");
	if (dir) {
		for (size_t i = 0; i < net.ncaptured; i++) {
			char path[512];
			snprintf(path, sizeof(path), "%s/client-%zu.bin", dir, i);
			FILE *f = fopen(path, "wb");
			if (f) {
				fwrite(net.captured[i].data, 1, net.captured[i].len, f);
				fclose(f);
			}
		}
	}
	teardown();
}

static void test_key_mismatch(void)
{
	struct node *other;

	setup_pair(NULL, NULL);
	other = node_new(0x33, 3, NULL);
	/* Dial other's ID at server's address. */
	dial(client, server, &other->identity.id);
	CHECK(pump(client_closed, 15 * SEC));
	CHECK_INT(client->close_error, -EKEYREJECTED);
	CHECK(strstr(client->close_reason, "peer key mismatch") != NULL);
	printf("mismatch: \"%s\"\n", client->close_reason);
	CHECK_INT(client->established, 0);
	CHECK_INT(server->established, 0);
	CHECK_INT(client->packets + server->packets, 0);
	/* The server forgets the failed attempt at once (the client told it). */
	pump(NULL, 100 * MS);
	struct quic_endpoint_stats st;
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.connections, 0);
	teardown();
}

/* The server's admission check refuses the client's key (an allow-list):
 * the handshake fails with the TLS alert access_denied, the client learns
 * -EACCES at once (no timeout), and the server never hands the connection
 * over nor keeps it. */
static void test_admission_refused(void)
{
	struct quic_endpoint_stats st;
	uint64_t start;

	setup_pair(NULL, NULL);
	server->refuse_keys = true;
	start = now_ns;
	dial(client, server, NULL);
	CHECK(pump(client_closed, 15 * SEC));
	CHECK_INT(client->close_error, -EACCES);
	printf("refused by the server: \"%s\"\n", client->close_reason);
	CHECK(strstr(client->close_reason, "handshake failed") != NULL);
	CHECK(now_ns - start < 1 * SEC); /* told, not timed out */
	CHECK_INT(server->admit_calls, 1);
	CHECK_MEM(server->admit_seen.bytes, client->identity.id.bytes, 32);
	CHECK_INT(client->established, 0);
	CHECK_INT(server->established, 0);
	CHECK_INT(server->closed, 0); /* never the user's */
	CHECK_INT(client->packets + server->packets, 0);
	pump(NULL, 100 * MS);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.connections, 0);
	CHECK_INT(st.half_open, 0);
	/* The same client admitted again: it gets in. */
	server->refuse_keys = false;
	client->closed = 0;
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	CHECK_INT(server->admit_calls, 2);
	teardown();
}

static void test_client_without_key(void)
{
	struct quic_config anonymous = {.identity = NULL};
	struct quic_endpoint_stats st;

	/* key byte 0: the endpoint gets no identity and presents no key. */
	net_reset();
	client = node_new(0, 1, &anonymous);
	server = node_new(0x22, 2, NULL);
	dial(client, server, &server->identity.id);
	CHECK(pump(client_closed, 15 * SEC));
	CHECK(client->close_error != 0);
	printf("anonymous client: \"%s\"\n", client->close_reason);
	CHECK(strstr(client->close_reason, "handshake failed") != NULL);
	CHECK_INT(client->established, 0);
	CHECK_INT(server->established, 0);
	pump(NULL, 100 * MS);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.connections, 0);
	/* Nor can it accept: its Initials are dropped, the dialler times out. */
	CHECK_INT(quic_connect(server->ep, &client->identity.id, sa(server), sa(client), now_ns,
			       &server->conn),
		  0);
	CHECK(pump(server_closed, 15 * SEC));
	CHECK_STR(server->close_reason, "handshake timeout");
	quic_endpoint_get_stats(client->ep, &st);
	CHECK_INT(st.connections, 0);
	CHECK(st.datagrams_dropped > 0);
	teardown();
}

/* Test packets start like IPv6 (version 6, a 24-bit sequence number where
 * the flow label goes, next header UDP): a /1 stream that starts so carries
 * a packet, and a datagram with next header 59 would be a path MTU probe. */
static uint8_t pattern(uint32_t seq, size_t i)
{
	return i == 6 ? 17 : (uint8_t)(seq * 31 + i);
}

static void fill(uint8_t *buf, size_t len, uint32_t seq)
{
	buf[0] = 0x60;
	buf[1] = (uint8_t)(seq >> 16);
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	for (size_t i = 4; i < len; i++)
		buf[i] = pattern(seq, i);
}

static bool intact(const uint8_t *buf, size_t len)
{
	uint32_t seq = seq_of(buf);
	for (size_t i = 4; i < len; i++)
		if (buf[i] != pattern(seq, i))
			return false;
	return true;
}

static bool settled(const struct node *n)
{
	struct quic_conn_stats st;
	if (!n->conn)
		return false;
	quic_conn_get_stats(n->conn, &st);
	return st.path_mtu_settled;
}

static bool both_settled(void)
{
	return settled(client) && settled(server);
}

static size_t want_packets;
static bool server_got_all(void)
{
	return server->packets >= want_packets;
}
static bool client_got_all(void)
{
	return client->packets >= want_packets;
}

static void test_datagrams(void)
{
	uint8_t pkt[1500];
	struct quic_conn *c, *s;
	struct quic_conn_stats st;

	setup_pair(NULL, NULL);
	c = dial(client, server, NULL);
	/* Queued before the handshake, sent once it completes. */
	fill(pkt, 100, 7);
	CHECK_INT(quic_conn_send_packet(c, pkt, 100, now_ns), 0);
	CHECK(pump(both_established, 5 * SEC));
	want_packets = 1;
	CHECK(pump(server_got_all, 1 * SEC));
	CHECK_INT(server->last_len, 100);
	CHECK(intact(server->last_packet, 100));
	s = server->conn;

	/* One probe of the full size settles the path MTU search. */
	CHECK(pump(both_settled, 1 * SEC));
	printf("max packet size: client %zu, server %zu\n", quic_conn_max_packet_size(c),
	       quic_conn_max_packet_size(s));
	CHECK_INT(quic_conn_max_packet_size(c), 1420);
	CHECK_INT(quic_conn_max_packet_size(s), 1420);
	quic_conn_get_stats(c, &st);
	CHECK_INT(st.path_mtu, 1452);
	CHECK_INT(st.pmtu_probes_sent, 1);
	CHECK_INT(st.pmtu_probes_lost, 0);
	CHECK_INT(st.max_datagram, 1420);
	CHECK(st.peer_stream_packets);
	/* An IPv6 packet of the tunnel's MTU fits, both ways. */
	fill(pkt, 1420, 8);
	CHECK_INT(quic_conn_send_packet(c, pkt, 1420, now_ns), 0);
	fill(pkt, 1420, 9);
	CHECK_INT(quic_conn_send_packet(s, pkt, 1420, now_ns), 0);
	CHECK_INT(quic_conn_send_packet(c, pkt, 1421, now_ns), -EMSGSIZE);
	CHECK_INT(quic_conn_send_packet(s, pkt, quic_conn_max_packet_size(s) + 1, now_ns),
		  -EMSGSIZE);
	want_packets = 2;
	CHECK(pump(server_got_all, 1 * SEC));
	want_packets = 1;
	CHECK(pump(client_got_all, 1 * SEC));
	CHECK_INT(server->last_len, 1420);
	CHECK(intact(server->last_packet, 1420));
	CHECK_INT(client->last_len, 1420);
	CHECK(intact(client->last_packet, 1420));
	uint32_t seq = seq_of(client->last_packet);
	CHECK_INT(seq, 9);

	/* The largest size is exact: it fits, one more does not. */
	size_t max = quic_conn_max_packet_size(c);
	fill(pkt, max, 10);
	CHECK_INT(quic_conn_send_packet(c, pkt, max, now_ns), 0);
	want_packets = 3;
	CHECK(pump(server_got_all, 1 * SEC));
	CHECK_INT(server->last_len, max);

	/* A burst beyond the queue: the oldest are dropped and counted. */
	for (uint32_t i = 0; i < 300; i++) {
		fill(pkt, 200, 100 + i);
		CHECK_INT(quic_conn_send_packet(c, pkt, 200, now_ns), 0);
	}
	want_packets = 3 + 256;
	CHECK(pump(server_got_all, 2 * SEC));
	pump(NULL, 100 * MS);
	CHECK_INT(server->packets, 3 + 256);
	seq = seq_of(server->last_packet);
	CHECK_INT(seq, 399);
	quic_conn_get_stats(c, &st);
	CHECK_INT(st.packets_dropped, 44);
	CHECK_INT(st.packets_sent, 3 + 256);
	CHECK(st.rtt_ns >= 2 * LATENCY && st.rtt_ns < 2 * LATENCY + 30 * MS);
	CHECK(st.min_rtt_ns >= 2 * LATENCY);
	CHECK(st.bytes_sent > 256 * 200);
	CHECK_INT(st.stream_packets_sent, 0);
	quic_conn_get_stats(s, &st);
	CHECK_INT(st.packets_received, 3 + 256);
	printf("rtt %.1f ms, min %.1f ms\n", (double)st.rtt_ns / 1e6, (double)st.min_rtt_ns / 1e6);

	/* On a quiet connection a small packet leaves as one QUIC packet:
	 * the tail probe rides in it rather than in a second packet. */
	pump(NULL, 1 * SEC);
	uint64_t before = net.sent;
	fill(pkt, 100, 11);
	CHECK_INT(quic_conn_send_packet(c, pkt, 100, now_ns), 0);
	quic_endpoint_flush(client->ep, now_ns);
	CHECK_INT(net.sent - before, 1);
	want_packets = 3 + 256 + 1;
	CHECK(pump(server_got_all, 1 * SEC));

	/* Small packets queued together leave in a QUIC packet each, as a
	 * WireGuard tunnel sends them: packed together, one loss took a
	 * whole burst of the inner TCP's ACKs (issue 15). The client sends
	 * 8 packets of 80 bytes (and at most a tail probe); they used to
	 * share one. */
	uint64_t sent_before = net.sent;
	for (uint32_t i = 0; i < 8; i++) {
		fill(pkt, 80, 20 + i);
		CHECK_INT(quic_conn_send_packet(c, pkt, 80, now_ns), 0);
	}
	quic_endpoint_flush(client->ep, now_ns);
	printf("8 small packets queued together: %llu UDP datagrams\n",
	       (unsigned long long)(net.sent - sent_before));
	CHECK(net.sent - sent_before >= 8);
	want_packets = 3 + 256 + 1 + 8;
	CHECK(pump(server_got_all, 1 * SEC));

	teardown();
}

/* A path that drops every datagram over max_len bytes, silently: the
 * handshake fits (1200 bytes until the path is measured), the search finds
 * max_len to the byte, packets up to max(room, 1280) get through both ways
 * (those too large for a datagram on streams) and a larger one is refused
 * with the size an ICMPv6 Packet Too Big should announce. */
static void check_small_path(size_t max_len, bool lossy)
{
	uint8_t pkt[1500];
	struct quic_conn_stats st;
	struct quic_conn *c, *s;
	size_t room = max_len - 24 - 8, mtu = room < 1280 ? 1280 : room;
	uint64_t start;

	setup_pair(NULL, NULL);
	net.max_len = max_len;
	if (lossy)
		net.loss_percent = 5;
	c = dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	s = server->conn;
	start = now_ns;
	CHECK(pump(both_settled, 10 * SEC));
	quic_conn_get_stats(c, &st);
	printf("path of %zu bytes%s: settled at %llu after %.1f ms (rtt 10 ms), %llu probes, "
	       "%llu lost; datagrams hold %llu, Packet Too Big says %llu\n",
	       max_len, lossy ? " with 5 % loss" : "", (unsigned long long)st.path_mtu,
	       (double)(now_ns - start) / 1e6, (unsigned long long)st.pmtu_probes_sent,
	       (unsigned long long)st.pmtu_probes_lost, (unsigned long long)st.max_datagram,
	       (unsigned long long)st.max_packet);
	CHECK_INT(st.path_mtu, max_len);
	CHECK_INT(st.max_datagram, room);
	CHECK_INT(quic_conn_max_packet_size(c), mtu);
	CHECK_INT(quic_conn_max_packet_size(s), mtu);
	CHECK_INT(quic_conn_send_packet(c, pkt, mtu + 1, now_ns), -EMSGSIZE);
	CHECK_INT(quic_conn_send_packet(s, pkt, mtu + 1, now_ns), -EMSGSIZE);
	net.loss_percent = 0;

	/* Sizes around the datagram's room and the largest, both ways. */
	size_t sizes[] = {100, room, room + 1, mtu};
	size_t nsizes = room < mtu ? 4 : 2;
	uint32_t seq = 0;
	for (size_t i = 0; i < nsizes; i++) {
		fill(pkt, sizes[i], seq++);
		CHECK_INT(quic_conn_send_packet(c, pkt, sizes[i], now_ns), 0);
		CHECK_INT(quic_conn_send_packet(s, pkt, sizes[i], now_ns), 0);
		want_packets = seq;
		CHECK(pump(server_got_all, 1 * SEC));
		CHECK(pump(client_got_all, 1 * SEC));
		CHECK_INT(server->last_len, sizes[i]);
		CHECK(intact(server->last_packet, sizes[i]));
		CHECK_INT(client->last_len, sizes[i]);
		CHECK(intact(client->last_packet, sizes[i]));
	}
	/* A stream of the largest packets, as a bulk transfer sends. */
	for (uint32_t i = 0; i < 2000; i++) {
		fill(pkt, mtu, seq++);
		CHECK_INT(quic_conn_send_packet(c, pkt, mtu, now_ns), 0);
		if (i % 200 == 199) {
			want_packets = seq;
			CHECK(pump(server_got_all, 2 * SEC));
		}
	}
	CHECK_INT(server->packets, seq);
	quic_conn_get_stats(c, &st);
	CHECK_INT(st.packets_dropped, 0);
	CHECK_INT(st.stream_packets_sent, room < mtu ? 2000 + 2 : 0);
	CHECK_INT(server->packets, seq);
	printf(
	    "  2000 packets of %zu bytes: %s, %llu datagrams over %zu bytes dropped by the path\n",
	    mtu, room < mtu ? "on streams" : "as datagrams", (unsigned long long)net.too_long,
	    max_len);
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

static void test_path_mtu(void)
{
	check_small_path(1232, false); /* an IPv6 path of 1280 */
	check_small_path(1252, false); /* IPv4, 1280 */
	check_small_path(1372, false); /* IPv4, 1400 */
	check_small_path(1300, true);
}

/* The search starts again on a larger path after PMTU_RAISE_NS, and a
 * connection that moves to another path measures it anew. */
static void test_path_mtu_raise(void)
{
	struct quic_conn_stats st;

	setup_pair(NULL, NULL);
	net.max_len = 1300;
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	quic_conn_set_keepalive(client->conn, 5 * SEC);
	CHECK(pump(both_settled, 5 * SEC));
	quic_conn_get_stats(client->conn, &st);
	CHECK_INT(st.path_mtu, 1300);
	net.max_len = 0;
	pump(NULL, 590 * SEC);
	quic_conn_get_stats(client->conn, &st);
	CHECK_INT(st.path_mtu, 1300);
	pump(NULL, 20 * SEC);
	quic_conn_get_stats(client->conn, &st);
	printf("after the raise timer: path MTU %llu, %llu probes\n",
	       (unsigned long long)st.path_mtu, (unsigned long long)st.pmtu_probes_sent);
	CHECK_INT(st.path_mtu, 1452);
	CHECK_INT(quic_conn_max_packet_size(client->conn), 1420);
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

/* After the handshake the TLS session is freed; key updates must still
 * work (they only use the negotiated hash and AEAD), in both directions,
 * and with BBR as congestion control. */
static void test_key_update_and_bbr(void)
{
	struct quic_config bbr = {.congestion_control = QUIC_CC_BBR};
	uint8_t pkt[1000];

	setup_pair(&bbr, &bbr);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	pump(NULL, 100 * MS);
	CHECK_INT(quic_conn_update_keys(client->conn, now_ns), 0);
	CHECK_INT(quic_conn_update_keys(client->conn, now_ns), -EAGAIN);
	for (uint32_t seq = 0; seq < 50; seq++) {
		fill(pkt, sizeof(pkt), seq);
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
		CHECK_INT(quic_conn_send_packet(server->conn, pkt, sizeof(pkt), now_ns), 0);
	}
	want_packets = 50;
	CHECK(pump(server_got_all, 2 * SEC));
	CHECK(pump(client_got_all, 2 * SEC));
	/* Then the server starts one, once ngtcp2 has confirmed the first
	 * and prepared the next keys (which takes a packet or two). */
	int rv = -EAGAIN, tries = 0;
	while (rv == -EAGAIN && tries++ < 3) {
		pump(NULL, 1 * SEC);
		rv = quic_conn_update_keys(server->conn, now_ns);
		fill(pkt, sizeof(pkt), 100000);
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	}
	CHECK_INT(rv, 0);
	client->packets = 0;
	want_packets = 0;
	for (uint32_t seq = 0; seq < 1000; seq++) {
		fill(pkt, sizeof(pkt), seq);
		CHECK_INT(quic_conn_send_packet(server->conn, pkt, sizeof(pkt), now_ns), 0);
		if (seq % 100 == 99) {
			want_packets = seq + 1;
			CHECK(pump(client_got_all, 2 * SEC));
		}
	}
	CHECK_INT(client->packets, 1000);
	CHECK(intact(client->last_packet, client->last_len));
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

static void test_packet0(void)
{
	struct quic_config only0 = {.client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0)};
	uint8_t pkt[1500];
	struct quic_conn *c;
	const uint32_t total = 5000;

	setup_pair(&only0, NULL);
	server->seen = calloc(100000, 1);
	c = dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	CHECK_INT(quic_conn_alpn(c), QUIC_ALPN_PACKET0);
	CHECK_INT(quic_conn_alpn(server->conn), QUIC_ALPN_PACKET0);
	CHECK_INT(quic_conn_max_packet_size(c), 1500);
	/* Only the dialling side sends on /0. */
	CHECK_INT(quic_conn_send_packet(server->conn, pkt, 100, now_ns), -EPERM);
	/* Larger than a datagram could carry, up to the receiver's limit. */
	fill(pkt, 1500, 0);
	CHECK_INT(quic_conn_send_packet(c, pkt, 1500, now_ns), 0);
	CHECK_INT(quic_conn_send_packet(c, pkt, 1501, now_ns), -EMSGSIZE);
	for (uint32_t seq = 1; seq < total; seq++) {
		size_t len = 40 + (seq * 7) % 1400;
		fill(pkt, len, seq);
		CHECK_INT(quic_conn_send_packet(c, pkt, len, now_ns), 0);
		if (seq % 200 == 0) {
			want_packets = seq + 1;
			CHECK(pump(server_got_all, 5 * SEC));
		}
	}
	want_packets = total;
	CHECK(pump(server_got_all, 10 * SEC));
	CHECK_INT(server->packets, total);
	size_t missing = 0;
	for (uint32_t seq = 0; seq < total; seq++)
		missing += !server->seen[seq];
	CHECK_INT(missing, 0);
	CHECK_INT(server->seen_dups, 0);
	CHECK_INT(client->packets, 0);
	/* Streams are finished by both sides and forgotten: nothing lingers. */
	pump(NULL, 1 * SEC);
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

/* A /0 stream longer than the receiver takes is reset and dropped; the
 * connection goes on. */
static void test_packet0_oversize(void)
{
	struct quic_config only0 = {.client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0)};
	struct quic_config small = {.max_stream_packet = 1000};
	uint8_t pkt[1500];
	struct quic_conn_stats st;

	setup_pair(&only0, &small);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	fill(pkt, 1400, 1);
	CHECK_INT(quic_conn_send_packet(client->conn, pkt, 1400, now_ns), 0);
	fill(pkt, 1000, 2);
	CHECK_INT(quic_conn_send_packet(client->conn, pkt, 1000, now_ns), 0);
	pump(NULL, 500 * MS);
	CHECK_INT(server->packets, 1);
	CHECK_INT(server->last_len, 1000);
	CHECK(intact(server->last_packet, 1000));
	quic_conn_get_stats(server->conn, &st);
	CHECK_INT(st.packets_dropped, 1);
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

/* Sends a 1500-byte /0 packet from `from` and gives `to` only the first
 * datagram of it: a stream with part of a packet, the rest on its way (or
 * lost for good, with net.blackhole). Returns the datagrams the packet
 * took. */
static size_t send_first_part(struct node *from, struct node *to, uint32_t seq)
{
	uint8_t pkt[1500];
	struct datagram *d;
	size_t n;

	fill(pkt, sizeof(pkt), seq);
	net.intercept = true;
	net.nintercepted = 0;
	CHECK_INT(quic_conn_send_packet(from->conn, pkt, sizeof(pkt), now_ns), 0);
	quic_endpoint_flush(from->ep, now_ns);
	net.intercept = false;
	n = net.nintercepted;
	d = &net.intercepted[0];
	quic_endpoint_receive(to->ep, (const struct sockaddr *)&d->to,
			      (const struct sockaddr *)&d->from, d->data, d->len, now_ns);
	quic_endpoint_flush(to->ep, now_ns);
	return n;
}

static struct quic_endpoint_stats server_stats(void)
{
	struct quic_endpoint_stats st;
	quic_endpoint_get_stats(server->ep, &st);
	return st;
}

/* A peer's stream that never ends (issue 15): stopped at the deadline,
 * and its connection closed when the peer does not answer with
 * RESET_STREAM within the grace; a peer that does answer keeps its
 * connection. */
static void test_stream_deadline(void)
{
	struct quic_config only0 = {.client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0)};
	struct quic_config quick = {.stream_deadline_ns = 1 * SEC, .stream_grace_ns = 1 * SEC};
	uint8_t pkt[100];

	/* The peer goes silent after the first part of a packet. */
	setup_pair(&only0, &quick);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	CHECK(send_first_part(client, server, 1) >= 2);
	CHECK_INT(server_stats().peer_streams, 1);
	CHECK_INT(server->packets, 0);
	net.blackhole = server->addr;
	pump(NULL, 1 * SEC + 100 * MS);
	CHECK_INT(server_stats().streams_expired, 1);
	CHECK_INT(server->closed, 0);
	CHECK(pump(server_closed, 1 * SEC));
	CHECK_STR(server->close_reason, "a stream it was asked to stop is still open");
	CHECK_INT(server_stats().stream_stuck_closes, 1);
	CHECK_INT(server_stats().peer_streams, 0);
	CHECK_INT(server->packets, 0);
	teardown();

	/* The peer is away past the deadline, then answers STOP_SENDING. */
	setup_pair(&only0, &quick);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	CHECK(send_first_part(client, server, 2) >= 2);
	net.blackhole = server->addr;
	pump(NULL, 1 * SEC + 100 * MS);
	CHECK_INT(server_stats().streams_expired, 1);
	memset(&net.blackhole, 0, sizeof(net.blackhole));
	pump(NULL, 3 * SEC);
	CHECK_INT(server->closed + client->closed, 0);
	CHECK_INT(server_stats().peer_streams, 0);
	CHECK_INT(server_stats().stream_stuck_closes, 0);
	CHECK_INT(server->packets, 0);
	/* Later packets get through. */
	fill(pkt, sizeof(pkt), 3);
	CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	want_packets = 1;
	CHECK(pump(server_got_all, 1 * SEC));
	CHECK(intact(server->last_packet, server->last_len));
	teardown();

	/* A packet whose parts come apart, and in time, is delivered whole,
	 * its stream gone once both sides are done. */
	setup_pair(&only0, &quick);
	server->seen = calloc(100000, 1);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	CHECK(send_first_part(client, server, 4) >= 2);
	want_packets = 1;
	CHECK(pump(server_got_all, 900 * MS));
	CHECK_INT(server->last_len, 1500);
	CHECK(intact(server->last_packet, server->last_len));
	pump(NULL, 3 * SEC);
	CHECK_INT(server_stats().peer_streams, 0);
	CHECK_INT(server_stats().streams_expired, 0);
	CHECK_INT(server->closed + client->closed, 0);
	teardown();
}

/* At max_peer_streams, the connection holding the oldest stream is
 * closed to make room; the others go on. */
static void test_stream_budget(void)
{
	struct quic_config only0 = {.client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0)};
	struct quic_config budget = {.max_peer_streams = 1};
	struct node *holder, *other;

	setup_pair(&only0, &budget);
	holder = client;
	other = node_new(0x33, 3, &only0);
	dial(holder, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	dial(other, server, NULL);
	server->established = 0;
	client = other;
	CHECK(pump(both_established, 5 * SEC));
	net.blackhole = server->addr; /* the rest of the parts stay away */
	send_first_part(holder, server, 1);
	CHECK_INT(server_stats().peer_streams, 1);
	send_first_part(other, server, 2);
	CHECK_INT(server_stats().stream_budget_closes, 1);
	CHECK_INT(server_stats().peer_streams, 1);
	memset(&net.blackhole, 0, sizeof(net.blackhole));
	client = holder;
	CHECK(pump(client_closed, 1 * SEC));
	CHECK_STR(server->close_reason, "holds the oldest of too many open streams");
	CHECK_INT(holder->close_error, -ECONNRESET);
	/* The other one's packet arrives whole (its last part is sent
	 * again). */
	want_packets = 1;
	CHECK(pump(server_got_all, 2 * SEC));
	CHECK_INT(server->last_len, 1500);
	CHECK(intact(server->last_packet, server->last_len));
	CHECK_INT(other->closed, 0);
	CHECK_INT(server->closed, 1);
	teardown();
}

/* One whole walk of quic_endpoint_close_idle, one connection a call. */
static size_t close_idle_all(struct quic_endpoint *ep, uint64_t idle_ns)
{
	size_t closed = 0, calls = 0;
	bool finished = false;
	while (!finished && calls++ < 100)
		closed += quic_endpoint_close_idle(ep, idle_ns, now_ns, 1, &finished);
	CHECK(finished);
	return closed;
}

/* quic_endpoint_close_idle(): an accepted iron/packet/0 connection that
 * carries no packet is closed, whatever keeps it alive; one that carries
 * packets is not. */
static void test_close_idle(void)
{
	struct quic_config only0 = {.client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0)};
	uint8_t pkt[100];

	setup_pair(&only0, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	quic_conn_set_keepalive(client->conn, 5 * SEC);
	CHECK_INT(close_idle_all(server->ep, 60 * SEC), 0);
	pump(NULL, 50 * SEC);
	fill(pkt, sizeof(pkt), 1);
	CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	want_packets = 1;
	CHECK(pump(server_got_all, 1 * SEC));
	pump(NULL, 50 * SEC);
	CHECK_INT(close_idle_all(server->ep, 60 * SEC), 0);
	pump(NULL, 11 * SEC);
	CHECK_INT(server->closed + client->closed, 0);
	CHECK_INT(close_idle_all(server->ep, 60 * SEC), 1);
	CHECK(pump(both_closed, 1 * SEC));
	CHECK_STR(server->close_reason, "idle");
	CHECK_INT(server->close_error, 0);
	CHECK_INT(client->close_error, -ECONNRESET);
	teardown();
}

static bool server_has_three(void)
{
	return server->established >= 3;
}

static bool server_has_one(void)
{
	return server_stats().connections == 1;
}

/* The idle walk looks at budget connections a call and goes on where it
 * stopped, also when the connection under its cursor is freed between
 * two calls (ASan would see the use after free). */
static void test_close_idle_slices(void)
{
	struct node *c[3];
	bool finished = true;

	setup_pair(NULL, NULL);
	c[0] = client;
	c[1] = node_new(0x33, 3, NULL);
	c[2] = node_new(0x44, 4, NULL);
	for (int i = 0; i < 3; i++)
		dial(c[i], server, NULL);
	CHECK(pump(server_has_three, 5 * SEC));
	for (int i = 0; i < 3; i++)
		quic_conn_set_keepalive(c[i]->conn, 5 * SEC);
	pump(NULL, 61 * SEC);
	CHECK_INT(server_stats().connections, 3);
	/* Newest first: the connection of c[2], then c[1]'s, then c[0]'s. */
	CHECK_INT(quic_endpoint_close_idle(server->ep, 60 * SEC, now_ns, 1, &finished), 1);
	CHECK(!finished);
	pump(NULL, 100 * MS);
	CHECK_INT(c[2]->closed, 1);
	CHECK_INT(c[1]->closed + c[0]->closed, 0);
	/* c[1] leaves: its connection on the server, under the cursor,
	 * drains and is freed. */
	quic_conn_close(c[1]->conn, 0, now_ns);
	CHECK(pump(server_has_one, 5 * SEC));
	CHECK_INT(c[0]->closed, 0);
	CHECK_INT(quic_endpoint_close_idle(server->ep, 60 * SEC, now_ns, 1, &finished), 1);
	CHECK(finished);
	CHECK(pump(both_closed, 1 * SEC));
	CHECK_STR(server->close_reason, "idle");
	/* A new walk: nothing left to close. */
	CHECK_INT(quic_endpoint_close_idle(server->ep, 60 * SEC, now_ns, 10, &finished), 0);
	CHECK(finished);
	teardown();
}

static bool handshake_over(void)
{
	return (client->established && server->established) || client->closed;
}

static void test_alpn(void)
{
	uint64_t start;
	struct quic_config only1 = {.client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1)};
	struct quic_config unknown = {.client_extra_alpn = "iron/packet/9"};
	struct quic_config both_and_unknown = {.client_alpns = QUIC_ALPN_DEFAULT,
					       .client_extra_alpn = "iron/packet/9"};

	setup_pair(&only1, NULL);
	dial(client, server, NULL);
	CHECK(pump(handshake_over, 5 * SEC));
	CHECK_INT(quic_conn_alpn(client->conn), QUIC_ALPN_PACKET1);
	teardown();

	setup_pair(&both_and_unknown, NULL);
	dial(client, server, NULL);
	CHECK(pump(handshake_over, 5 * SEC));
	CHECK(client->conn && quic_conn_alpn(client->conn) == QUIC_ALPN_PACKET1);
	teardown();

	/* A protocol the server does not speak: refused cleanly, at once. */
	setup_pair(&unknown, NULL);
	start = now_ns;
	dial(client, server, NULL);
	CHECK(pump(handshake_over, 5 * SEC));
	CHECK_INT(client->established, 0);
	CHECK_INT(server->established, 0);
	CHECK_INT(client->closed, 1);
	CHECK_INT(client->close_error, -EPROTO);
	printf("unknown ALPN: \"%s\"\n", client->close_reason);
	CHECK(strstr(client->close_reason, "application protocol") != NULL);
	CHECK(now_ns - start < 100 * MS);
	teardown();
}

static void test_idle_and_keepalive(void)
{
	uint64_t start;
	uint8_t pkt[100] = {0};

	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	start = now_ns;
	CHECK(pump(both_closed, 40 * SEC));
	CHECK_INT(client->close_error, -ETIMEDOUT);
	CHECK_INT(server->close_error, -ETIMEDOUT);
	CHECK_STR(client->close_reason, "idle timeout");
	CHECK_STR(server->close_reason, "idle timeout");
	printf("idle close after %.3f s (client), %.3f s (server)\n",
	       (double)(client->closed_at - start) / 1e9,
	       (double)(server->closed_at - start) / 1e9);
	CHECK(client->closed_at - start >= 29 * SEC && client->closed_at - start <= 31 * SEC);
	CHECK(server->closed_at - start >= 29 * SEC && server->closed_at - start <= 31 * SEC);
	teardown();

	/* Dialling an address where nobody answers gives up after the
	 * handshake timeout. */
	setup_pair(NULL, NULL);
	struct node *nobody = node_new(0x55, 5, NULL);
	struct sockaddr_in6 nowhere = nobody->addr;
	struct iron_id nobody_id = nobody->identity.id;
	node_del(nobody);
	struct quic_conn *c = NULL;
	CHECK_INT(quic_connect(client->ep, &nobody_id, sa(client),
			       (const struct sockaddr *)&nowhere, now_ns, &c),
		  0);
	start = now_ns;
	CHECK(pump(client_closed, 15 * SEC));
	CHECK_INT(client->close_error, -ETIMEDOUT);
	CHECK_STR(client->close_reason, "handshake timeout");
	CHECK(client->closed_at - start >= 10 * SEC &&
	      client->closed_at - start <= 10 * SEC + 10 * MS);
	teardown();

	/* With keep-alive on one side, both stay up. */
	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	quic_conn_set_keepalive(client->conn, 5 * SEC);
	pump(NULL, 120 * SEC);
	CHECK_INT(client->closed + server->closed, 0);
	CHECK(client->conn && server->conn);
	if (client->conn) {
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
		want_packets = 1;
		CHECK(pump(server_got_all, 1 * SEC));
		/* Off again: idle timeout applies. */
		quic_conn_set_keepalive(client->conn, 0);
		CHECK(pump(both_closed, 40 * SEC));
		CHECK_STR(client->close_reason, "idle timeout");
	}
	teardown();
}

static void test_close(void)
{
	uint64_t start;

	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	start = now_ns;
	quic_conn_close(client->conn, 42, now_ns);
	CHECK_INT(client->closed, 0); /* at the next flush */
	CHECK_INT(quic_conn_send_packet(client->conn, (const uint8_t *)"x", 1, now_ns), -ENOTCONN);
	CHECK(pump(both_closed, 1 * SEC));
	CHECK_INT(client->close_error, 0);
	CHECK_INT(server->close_error, -ECONNRESET);
	CHECK_STR(server->close_reason, "closed by peer (application code 42)");
	CHECK(server->closed_at - start <= LATENCY + 1 * MS);
	teardown();

	/* Shutdown: close_all sends CONNECTION_CLOSE on every connection. */
	setup_pair(NULL, NULL);
	struct node *third = node_new(0x33, 3, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	dial(third, server, NULL);
	CHECK(pump(NULL, 100 * MS));
	CHECK_INT(server->established, 2);
	start = now_ns;
	quic_endpoint_close_all(server->ep, now_ns);
	CHECK_INT(server->closed, 2);
	CHECK(pump(client_closed, 1 * SEC));
	pump(NULL, 20 * MS);
	CHECK_INT(third->closed, 1);
	CHECK_STR(client->close_reason, "closed by peer (application code 0)");
	CHECK_STR(third->close_reason, "closed by peer (application code 0)");
	CHECK(client->closed_at - start <= LATENCY + 1 * MS);
	teardown();

	/* The established callback refusing (the tie-break) closes it. */
	setup_pair(NULL, NULL);
	server->refuse = -1;
	dial(client, server, NULL);
	CHECK(pump(client_closed, 5 * SEC));
	CHECK_INT(server->closed, 1);
	CHECK_INT(server->close_error, 0);
	CHECK_INT(client->close_error, -ECONNRESET);
	teardown();
}

static void test_loss(void)
{
	struct quic_config only0 = {.client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0)};
	uint8_t pkt[1500];
	const uint32_t total = 500;

	/* Streams (/0) are reliable under 10 % loss. */
	setup_pair(&only0, NULL);
	server->seen = calloc(100000, 1);
	dial(client, server, NULL);
	net.loss_percent = 10;
	CHECK(pump(both_established, 10 * SEC));
	for (uint32_t seq = 0; seq < total; seq++) {
		fill(pkt, 1000, seq);
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, 1000, now_ns), 0);
		if (seq % 100 == 99) {
			want_packets = seq + 1;
			CHECK(pump(server_got_all, 10 * SEC));
		}
	}
	want_packets = total;
	CHECK(pump(server_got_all, 20 * SEC));
	CHECK_INT(server->packets, total);
	CHECK_INT(server->seen_dups, 0);
	printf("/0 under loss: %llu of %llu datagrams lost, all %u packets delivered\n",
	       (unsigned long long)net.lost, (unsigned long long)net.sent, total);
	teardown();

	/* Datagrams (/1) are best effort. */
	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	net.loss_percent = 10;
	CHECK(pump(both_established, 10 * SEC));
	for (uint32_t seq = 0; seq < total; seq++) {
		fill(pkt, 1000, seq);
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, 1000, now_ns), 0);
		if (seq % 10 == 9)
			pump(NULL, 50 * MS);
	}
	pump(NULL, 2 * SEC);
	struct quic_conn_stats st;
	quic_conn_get_stats(client->conn, &st);
	printf("/1 under loss: %zu of %llu packets sent delivered (%llu dropped from the queue)\n",
	       server->packets, (unsigned long long)st.packets_sent,
	       (unsigned long long)st.packets_dropped);
	CHECK_INT(st.packets_sent + st.packets_dropped, total);
	CHECK(st.packets_sent >= total / 2);
	CHECK(server->packets >= st.packets_sent * 80 / 100);
	CHECK(server->packets <= st.packets_sent);
	CHECK(intact(server->last_packet, server->last_len));
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

/* ngtcp2 0.12.1 arms no probe timeout for packets with only DATAGRAM frames:
 * a lost tail of datagrams filled the congestion window for good. */
static void test_datagram_tail_loss(void)
{
	uint8_t pkt[1200];
	struct quic_conn_stats st;

	setup_pair(NULL, NULL);
	server->seen = calloc(100000, 1);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	/* Everything the client sends is lost for a while: a congestion
	 * window's worth of datagrams. */
	net.loss_percent = 100;
	net.loss_from_port = 1;
	for (uint32_t seq = 0; seq < 60; seq++) {
		fill(pkt, sizeof(pkt), seq);
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	}
	pump(NULL, 50 * MS);
	CHECK(net.lost >= 10);
	net.loss_percent = 0;
	pump(NULL, 2 * SEC);
	for (uint32_t seq = 100; seq < 110; seq++) {
		fill(pkt, sizeof(pkt), seq);
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	}
	pump(NULL, 2 * SEC);
	for (uint32_t seq = 100; seq < 110; seq++)
		CHECK(server->seen[seq]);
	quic_conn_get_stats(client->conn, &st);
	CHECK_INT(st.packets_dropped, 0);
	CHECK_INT(st.packets_sent, 70);
	teardown();
}

/* A steady load from the client: up to backlog packets of 1420 bytes kept
 * queued, until total have been queued (total > 0) or duration has passed,
 * 1 ms of fake time at a time. Stops early when nothing arrives for 10 s or
 * the connection is gone. */
struct load_result {
	size_t queued;		  /* packets handed to the connection */
	uint64_t longest_gap;	  /* the longest time without a new packet at the server */
	uint64_t gaps_over_100ms; /* deliveries that ended a wait of over 100 ms */
	uint64_t elapsed;
};

static void load_client(size_t total, uint64_t duration, size_t backlog, struct load_result *r)
{
	uint8_t pkt[1420];
	struct quic_conn_stats cst;
	uint64_t start = now_ns, last_progress = now_ns;
	size_t delivered = server->packets;

	memset(r, 0, sizeof(*r));
	while (client->conn && (total ? r->queued < total : now_ns - start < duration)) {
		quic_conn_get_stats(client->conn, &cst);
		size_t queued = r->queued - (size_t)(cst.packets_sent + cst.packets_dropped);
		while (queued < backlog && (!total || r->queued < total)) {
			fill(pkt, sizeof(pkt), (uint32_t)r->queued++);
			CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
			queued++;
		}
		pump(NULL, 1 * MS);
		if (server->packets > delivered) {
			if (now_ns - last_progress > 100 * MS)
				r->gaps_over_100ms++;
			delivered = server->packets;
			last_progress = now_ns;
		}
		if (now_ns - last_progress > r->longest_gap)
			r->longest_gap = now_ns - last_progress;
		/* Stalled: give up rather than loop for ever. */
		if (now_ns - last_progress > 10 * SEC)
			break;
	}
	r->elapsed = now_ns - start;
}

/* Sustained datagram load through 5 % random loss each way, the send queue
 * kept full (IRON_QUIC_LOSS=N datagrams, default 20000). Datagram-only
 * packets do not arm ngtcp2 0.12.1's probe timeout, so a lost tail of them
 * could hold the congestion window shut for good. The connection must keep
 * delivering to the end, nothing may be dropped from the queue (the window,
 * not the packet size, is what holds a datagram back), and once the load
 * stops every lost packet must be declared lost: bytes in flight drain. */
static void test_datagram_sustained_loss(void)
{
	const char *env = getenv("IRON_QUIC_LOSS");
	size_t total = env ? strtoul(env, NULL, 10) : 20000;
	struct quic_conn_stats cst, sst;
	struct load_result load;

	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	net.loss_percent = 5;
	load_client(total, 0, 200, &load);
	CHECK(client->conn != NULL);
	if (!client->conn) {
		teardown();
		return;
	}
	quic_conn_get_stats(client->conn, &cst);
	printf("/1 sustained 5 %% loss: %zu of %zu queued, %zu delivered in %.1f s (%.1f Mbit/s), "
	       "longest gap %.0f ms, cwnd %llu, in flight %llu\n",
	       load.queued, total, server->packets, (double)load.elapsed / 1e9,
	       (double)server->packets * 1420 * 8 / ((double)load.elapsed / 1e9) / 1e6,
	       (double)load.longest_gap / 1e6, (unsigned long long)cst.cwnd,
	       (unsigned long long)cst.bytes_in_flight);
	CHECK_INT(load.queued, total);
	CHECK(load.longest_gap < 1 * SEC);
	/* The load stops; the loss goes on. */
	want_packets = total;
	pump(NULL, 5 * SEC);
	quic_conn_get_stats(client->conn, &cst);
	quic_conn_get_stats(server->conn, &sst);
	printf("after 5 s without load: %zu delivered, %llu dropped from the queue, in flight %llu "
	       "(client) %llu (server)\n",
	       server->packets, (unsigned long long)cst.packets_dropped,
	       (unsigned long long)cst.bytes_in_flight, (unsigned long long)sst.bytes_in_flight);
	CHECK_INT(cst.packets_sent, total);
	CHECK_INT(cst.packets_dropped, 0);
	CHECK(server->packets >= total * 90 / 100);
	CHECK(server->packets <= total);
	CHECK_INT(cst.bytes_in_flight, 0);
	CHECK_INT(sst.bytes_in_flight, 0);
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

/* Issue 15: 30 % loss each way under a steady load. The window fills with
 * packets whose loss only an ACK can reveal, and ngtcp2's PTO doubles with
 * every probe lost (a probe and its ACK both arrive only half the time):
 * without stall probes the datagrams waited up to 475 ms at a time here,
 * beyond the inner TCP's 200 ms minimum RTO. With them, a probe goes out
 * every base PTO while the window has room. Fake time and a fixed seed,
 * so not a timing test. */
static void test_datagram_heavy_loss(void)
{
	struct quic_conn_stats cst;
	struct load_result load;

	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	net.rng = 0x9e3779b97f4a7c15ull;
	net.loss_percent = 30;
	load_client(0, 20 * SEC, 100, &load);
	CHECK(client->conn != NULL);
	if (!client->conn) {
		teardown();
		return;
	}
	quic_conn_get_stats(client->conn, &cst);
	printf("/1 30 %% loss each way for 20 s: %zu delivered, longest gap %.0f ms, %llu gaps "
	       "over 100 ms, %llu stall probes, cwnd %llu\n",
	       server->packets, (double)load.longest_gap / 1e6,
	       (unsigned long long)load.gaps_over_100ms, (unsigned long long)cst.stall_probes,
	       (unsigned long long)cst.cwnd);
	CHECK(server->packets > 1000);
	CHECK(cst.stall_probes > 0);
	/* RTT 10 ms here: the inner TCP's RTO would be 200 ms. Without the
	 * stall probes: longest gap 475 ms, 24 gaps over 100 ms; with them
	 * 154 ms and 4 (ngtcp2's PTO still decides once the window is full). */
	CHECK(load.longest_gap < 250 * MS);
	CHECK(load.gaps_over_100ms < 10);
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

/* A steady load from client to server, with a small packet back every
 * `back` milliseconds (0: none), as the inner TCP's ACKs would go, for
 * `duration`. Returns the datagrams the server sent per packet delivered
 * to it. */
static double acks_per_packet(uint64_t duration, unsigned back)
{
	uint8_t pkt[1420];
	struct quic_conn_stats cst;
	uint64_t start = now_ns;
	struct quic_conn_stats sst;
	size_t delivered = server->packets, back_seq = 0;

	quic_conn_get_stats(client->conn, &cst);
	size_t queued = (size_t)(cst.packets_sent + cst.packets_dropped);
	quic_conn_get_stats(server->conn, &sst);
	uint64_t back_sent = sst.packets_sent;

	net.count_from = server->addr;
	net.counted = 0;
	net.flushes = 0;
	while (client->conn && server->conn && now_ns - start < duration) {
		quic_conn_get_stats(client->conn, &cst);
		while (queued - (size_t)(cst.packets_sent + cst.packets_dropped) < 200) {
			fill(pkt, sizeof(pkt), (uint32_t)queued++);
			CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
		}
		if (back && (now_ns - start) / MS % back == 0) {
			fill(pkt, 80, (uint32_t)back_seq++);
			quic_conn_send_packet(server->conn, pkt, 80, now_ns);
		}
		pump(NULL, 1 * MS);
	}
	size_t got = server->packets - delivered;
	CHECK(got > 1000);
	/* The server's own packets are not acknowledgements. */
	quic_conn_get_stats(server->conn, &sst);
	uint64_t acks = net.counted - (sst.packets_sent - back_sent);
	return got ? (double)acks / (double)got : 0;
}

/* How often the receiver of a bulk transfer acknowledges (ACK_EVERY and
 * ACK_EVERY_CLEAN in quic_conn.c): every 32 packets it reads while its own
 * packets arrive, every 8 once they get lost, as 30 % loss needs (issue
 * 15), and those at once rather than at the end of the batch of reads.
 * Fake time and a fixed seed. */
static void test_ack_frequency(void)
{
	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	double clean = acks_per_packet(3 * SEC, 2);
	uint64_t clean_flushes = net.flushes;
	net.rng = 0x2545f4914f6cdd1dull;
	net.loss_percent = 2;
	double lossy = acks_per_packet(3 * SEC, 2);
	printf("server datagrams per packet received: %.3f on a clean path, %.3f at 2 %% loss "
	       "each way (%llu of them sent at once)\n",
	       clean, lossy, (unsigned long long)net.flushes);
	CHECK(clean < 0.06);
	CHECK(lossy > 0.1);
	/* A clean path's ACKs wait for the end of the batch of reads; a
	 * lossy one's leave at once. */
	CHECK_INT(clean_flushes, 0);
	CHECK(net.flushes > 100);
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

static void feed(struct node *to, const struct sockaddr_in6 *from, const uint8_t *data, size_t len)
{
	quic_endpoint_receive(to->ep, sa(to), (const struct sockaddr *)from, data, len, now_ns);
	quic_endpoint_flush(to->ep, now_ns);
}

static void test_garbage(void)
{
	uint8_t pkt[1500], buf[1500];
	struct datagram samples[16];
	size_t nsamples = 0;
	uint64_t rng = 99;

	setup_pair(NULL, NULL);
	net.capture_from = client->addr;
	net.ncaptured = 0;
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	for (size_t i = 0; i < net.ncaptured; i++)
		samples[nsamples++] = net.captured[i];
	/* Short-header packets from both sides. */
	net.ncaptured = 0;
	fill(pkt, 300, 1);
	quic_conn_send_packet(client->conn, pkt, 300, now_ns);
	quic_conn_send_packet(server->conn, pkt, 300, now_ns);
	CHECK(pump(NULL, 100 * MS));
	for (size_t i = 0; i < net.ncaptured && nsamples < 16; i++)
		samples[nsamples++] = net.captured[i];
	net.capture_from = server->addr;
	net.ncaptured = 0;
	quic_conn_send_packet(server->conn, pkt, 300, now_ns);
	CHECK(pump(NULL, 100 * MS));
	for (size_t i = 0; i < net.ncaptured && nsamples < 16; i++)
		samples[nsamples++] = net.captured[i];
	CHECK(nsamples >= 4);

	for (int round = 0; round < 20000; round++) {
		struct node *to = round % 2 ? client : server;
		struct node *from = round % 2 ? server : client;
		size_t len;
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		if (round % 3 == 0) {
			len = rng % 1500;
			for (size_t i = 0; i < len; i++)
				buf[i] = (uint8_t)(rng >> (i % 56));
		} else {
			const struct datagram *d = &samples[rng % nsamples];
			len = d->len;
			memcpy(buf, d->data, len);
			if (round % 3 == 1)
				len = (rng >> 8) % (len + 1);
			else
				buf[(rng >> 8) % len] ^= (uint8_t)(1u << ((rng >> 20) % 8));
		}
		feed(to, &from->addr, buf, len);
	}
	pump(NULL, 100 * MS);
	/* Both still work. */
	CHECK(client->conn && server->conn);
	size_t before = server->packets;
	if (client->conn)
		CHECK_INT(quic_conn_send_packet(client->conn, pkt, 300, now_ns), 0);
	want_packets = before + 1;
	CHECK(pump(server_got_all, 1 * SEC));
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

/* Sends one datagram both ways on the established pair and checks that
 * each arrives. */
static void exchange_datagram(void)
{
	uint8_t pkt[500];
	size_t before_server = server->packets, before_client = client->packets;

	CHECK(client->conn && server->conn);
	if (!client->conn || !server->conn)
		return;
	fill(pkt, sizeof(pkt), 7);
	CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	want_packets = before_server + 1;
	CHECK(pump(server_got_all, 1 * SEC));
	CHECK(server->last_len == sizeof(pkt) && intact(server->last_packet, sizeof(pkt)));
	CHECK_INT(quic_conn_send_packet(server->conn, pkt, sizeof(pkt), now_ns), 0);
	want_packets = before_client + 1;
	CHECK(pump(client_got_all, 1 * SEC));
	CHECK(client->last_len == sizeof(pkt) && intact(client->last_packet, sizeof(pkt)));
}

/* 10000 genuine, distinct Initials at the server, from 10000 source ports,
 * none of which ever answers. Returns the largest numbers of connections
 * and half-open ones seen. */
static void flood_initials(struct node *flood, size_t *max_conns, size_t *max_half)
{
	static struct datagram initials[200];
	struct quic_endpoint_stats st;
	struct sockaddr_in6 from;

	/* Intercepted instead of delivered. */
	for (size_t i = 0; i < 200; i++) {
		struct quic_conn *c;
		net.intercept = true;
		net.nintercepted = 0;
		CHECK_INT(quic_connect(flood->ep, &server->identity.id, sa(flood), sa(server),
				       now_ns, &c),
			  0);
		quic_endpoint_flush(flood->ep, now_ns);
		CHECK(net.nintercepted >= 1);
		initials[i] = net.intercepted[0];
		quic_conn_close(c, 0, now_ns);
		quic_endpoint_flush(flood->ep, now_ns);
		net.intercept = false;
	}
	*max_conns = *max_half = 0;
	from = flood->addr;
	for (uint32_t i = 0; i < 10000; i++) {
		const struct datagram *d = &initials[i % 200];
		from.sin6_port = htons((uint16_t)(10000 + i));
		quic_endpoint_receive(server->ep, sa(server), (const struct sockaddr *)&from,
				      d->data, d->len, now_ns);
		if (i % 16 == 0) {
			quic_endpoint_flush(server->ep, now_ns);
			/* As the daemon's loop does: handshakes beyond a
			 * turn's budget wait for the next. */
			if (quic_endpoint_next_expiry(server->ep) == 0)
				quic_endpoint_handle_expiry(server->ep, now_ns);
		}
		quic_endpoint_get_stats(server->ep, &st);
		if (st.connections > *max_conns)
			*max_conns = st.connections;
		if (st.half_open > *max_half)
			*max_half = st.half_open;
	}
	quic_endpoint_flush(server->ep, now_ns);
}

static void test_initial_flood(void)
{
	/* Retry off (at max_half_open): the hard bound alone. */
	struct quic_config limits = {
	    .max_half_open = 32, .max_connections = 100, .retry_half_open = 32};
	struct quic_endpoint_stats st;
	size_t max_conns, max_half;

	setup_pair(NULL, &limits);
	flood_initials(node_new(0x44, 4, NULL), &max_conns, &max_half);
	quic_endpoint_get_stats(server->ep, &st);
	printf("Initial flood without Retry: at most %zu connections (%zu half-open), %llu "
	       "Initials dropped\n",
	       max_conns, max_half, (unsigned long long)st.initials_dropped);
	CHECK(max_conns <= 32);
	CHECK(max_half <= 32);
	CHECK_INT(st.connections, 32);
	/* Beyond the first 32, every Initial is dropped except repeats of
	 * those 32 (50 each), which go to their connection. */
	CHECK_INT(st.initials_dropped, 10000 - 32 * 50);
	CHECK_INT(st.retries_sent, 0);
	CHECK_INT(server->established, 0);
	/* A real client is shut out until the half-open ones time out (and
	 * gives up itself after its 10 s handshake timeout). */
	dial(client, server, NULL);
	CHECK(!pump(both_established, 5 * SEC));
	pump(NULL, 6 * SEC);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.connections, 0);
	CHECK_INT(client->closed, 1);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	teardown();
}

/* A crowd of new clients in one turn (issue 16): the server starts at most
 * four handshakes a turn and keeps the rest for the next turns, which the
 * endpoint asks for at once (next expiry 0); a datagram of an established
 * peer in the same turn is read at once. */
static void test_accept_budget(void)
{
	static struct datagram initials[16];
	struct datagram mine;
	struct quic_endpoint_stats st;
	struct sockaddr_in6 from;
	struct node *crowd;
	uint8_t pkt[100];
	size_t before;

	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	crowd = node_new(0x45, 4, NULL);
	for (size_t i = 0; i < 16; i++) {
		struct quic_conn *c;
		net.intercept = true;
		net.nintercepted = 0;
		CHECK_INT(quic_connect(crowd->ep, &server->identity.id, sa(crowd), sa(server),
				       now_ns, &c),
			  0);
		quic_endpoint_flush(crowd->ep, now_ns);
		CHECK(net.nintercepted >= 1);
		initials[i] = net.intercepted[0];
		net.intercept = false;
	}
	fill(pkt, sizeof(pkt), 3);
	net.intercept = true;
	net.nintercepted = 0;
	CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	quic_endpoint_flush(client->ep, now_ns);
	net.intercept = false;
	CHECK_INT(net.nintercepted, 1);
	mine = net.intercepted[0];

	/* One turn: 16 new clients, then the established one. */
	from = crowd->addr;
	for (size_t i = 0; i < 16; i++) {
		from.sin6_port = htons((uint16_t)(20000 + i));
		quic_endpoint_receive(server->ep, sa(server), (const struct sockaddr *)&from,
				      initials[i].data, initials[i].len, now_ns);
	}
	before = server->packets;
	quic_endpoint_receive(server->ep, sa(server), (const struct sockaddr *)&mine.from,
			      mine.data, mine.len, now_ns);
	CHECK_INT(server->packets, before + 1);
	quic_endpoint_flush(server->ep, now_ns);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.half_open, 4);
	CHECK_INT(quic_endpoint_next_expiry(server->ep), 0);
	/* Each later turn, four more. */
	for (size_t turn = 2; turn <= 4; turn++) {
		quic_endpoint_handle_expiry(server->ep, now_ns);
		quic_endpoint_get_stats(server->ep, &st);
		CHECK_INT(st.half_open, 4 * turn);
	}
	CHECK(quic_endpoint_next_expiry(server->ep) > now_ns);
	CHECK_INT(st.initials_dropped, 0);
	teardown();
}

/* The same flood with Retry from a quarter of max_half_open (the default):
 * the spoofed Initials fill only that quarter, the rest are answered with
 * a Retry nobody follows, and a real client gets in at once through one. */
static void test_initial_flood_retry(void)
{
	struct quic_config limits = {.max_half_open = 32, .max_connections = 100};
	struct quic_endpoint_stats st0, st;
	size_t max_conns, max_half;
	uint64_t start;

	setup_pair(NULL, &limits);
	flood_initials(node_new(0x44, 4, NULL), &max_conns, &max_half);
	quic_endpoint_get_stats(server->ep, &st0);
	printf("Initial flood with Retry: at most %zu connections (%zu half-open), %llu Retries "
	       "sent, %llu Initials dropped\n",
	       max_conns, max_half, (unsigned long long)st0.retries_sent,
	       (unsigned long long)st0.initials_dropped);
	CHECK(max_half <= 8);
	CHECK_INT(st0.connections, 8);
	/* Every Initial beyond the first 8 is answered with a Retry, except
	 * the repeats of those 8 (50 each), which go to their connection. */
	CHECK_INT(st0.retries_sent, 10000 - 8 * 50);
	CHECK_INT(st0.initials_dropped, 0);
	CHECK_INT(st0.retry_tokens_invalid, 0);

	/* With the 8 still pending, a real client connects: one Retry, then a
	 * handshake that completes only if the server's transport parameters
	 * name the client's first DCID and the Retry's SCID (ngtcp2 checks). */
	start = now_ns;
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	printf("handshake through a Retry took %.1f ms of fake time\n",
	       (double)(now_ns - start) / 1e6);
	CHECK(now_ns - start <= 6 * LATENCY + 5 * MS);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.retries_sent, st0.retries_sent + 1);
	CHECK_INT(st.retry_tokens_invalid, 0);
	CHECK_INT(st.connections, 9);
	CHECK_INT(client->closed + server->closed, 0);
	if (server->conn)
		CHECK(same_addr((const struct sockaddr_in6 *)quic_conn_remote(server->conn),
				&client->addr));
	exchange_datagram();
	teardown();
}

/* Moves the one intercepted datagram to *out; false when there was not
 * exactly one. */
static bool take_intercepted(struct datagram *out)
{
	bool one = net.nintercepted == 1;
	if (one)
		*out = net.intercepted[0];
	net.nintercepted = 0;
	return one;
}

static void test_retry_tokens(void)
{
	struct quic_config always = {.retry_half_open = QUIC_RETRY_ALWAYS};
	struct quic_endpoint_stats st;
	struct datagram first, retry, second;
	struct sockaddr_in6 other;
	struct quic_conn *c;
	uint64_t start;

	/* Below the threshold: no Retry, the usual 1-RTT handshake. */
	setup_pair(NULL, NULL);
	start = now_ns;
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	CHECK(now_ns - start <= 4 * LATENCY + 5 * MS);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.retries_sent, 0);
	teardown();

	/* By hand, through the intercept: Initial, Retry, Initial with the
	 * token. */
	setup_pair(NULL, &always);
	net.intercept = true;
	c = dial(client, server, NULL);
	quic_endpoint_flush(client->ep, now_ns);
	CHECK(take_intercepted(&first));
	CHECK(first.len >= 1200 && (first.data[0] & 0xf0) == 0xc0); /* Initial */
	feed(server, &client->addr, first.data, first.len);
	CHECK(take_intercepted(&retry));
	/* A long-header Retry, far smaller than the Initial. */
	CHECK((retry.data[0] & 0xf0) == 0xf0);
	CHECK(retry.len < 200);
	printf("Retry: %u bytes in answer to a %u-byte Initial\n", retry.len, first.len);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.retries_sent, 1);
	CHECK_INT(st.connections, 0);
	feed(client, &server->addr, retry.data, retry.len);
	CHECK(take_intercepted(&second));
	CHECK(second.len >= 1200 && (second.data[0] & 0xf0) == 0xc0);
	CHECK(second.len > first.len - 100); /* carries the token */
	/* For fuzz_quic_recv's corpus: an Initial with a Retry token (which
	 * that endpoint's secret does not verify). */
	const char *dir = getenv("IRON_QUIC_CORPUS");
	if (dir) {
		char path[512];
		snprintf(path, sizeof(path), "%s/client-retry-token.bin", dir);
		FILE *f = fopen(path, "wb");
		if (f) {
			fwrite(second.data, 1, second.len, f);
			fclose(f);
		}
	}

	/* Replayed from another port, then another address: refused. */
	other = client->addr;
	other.sin6_port = htons(999);
	feed(server, &other, second.data, second.len);
	other = client->addr;
	other.sin6_addr.s6_addr[14] = 0x77;
	feed(server, &other, second.data, second.len);
	CHECK_INT(net.nintercepted, 0);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.retry_tokens_invalid, 2);
	CHECK_INT(st.connections, 0);
	CHECK_INT(st.retries_sent, 1);

	/* Forged: one bit of the token flipped (the token is checked before
	 * the packet is decrypted). */
	{
		struct datagram forged = second;
		size_t pos = 6 + forged.data[5];
		size_t token_len, token_at;
		pos += 1 + forged.data[pos];
		CHECK_INT(forged.data[pos] >> 6, 1); /* a 2-byte length */
		token_len = (size_t)(forged.data[pos] & 0x3f) << 8 | forged.data[pos + 1];
		token_at = pos + 2;
		CHECK(token_len > 32 && token_at + token_len < forged.len);
		CHECK_INT(forged.data[token_at], 0xb6); /* ngtcp2's Retry token magic */
		forged.data[token_at + token_len / 2] ^= 1;
		feed(server, &client->addr, forged.data, forged.len);
		CHECK_INT(net.nintercepted, 0);
		quic_endpoint_get_stats(server->ep, &st);
		CHECK_INT(st.retry_tokens_invalid, 3);
		CHECK_INT(st.connections, 0);
	}

	/* Expired: the same Initial 11 s later from the right address. */
	now_ns += 11 * SEC;
	feed(server, &client->addr, second.data, second.len);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.retry_tokens_invalid, 4);
	CHECK_INT(st.connections, 0);
	CHECK_INT(net.nintercepted, 0);
	now_ns -= 11 * SEC;

	/* In time and from the right address: accepted. */
	feed(server, &client->addr, second.data, second.len);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.retry_tokens_invalid, 4);
	CHECK_INT(st.connections, 1);
	CHECK(net.nintercepted > 0);
	quic_conn_close(c, 0, now_ns);
	net_reset();
	teardown();

	/* Every client through a Retry (QUIC_RETRY_ALWAYS): connects and
	 * carries datagrams both ways. */
	setup_pair(NULL, &always);
	start = now_ns;
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	printf("handshake through a forced Retry took %.1f ms of fake time\n",
	       (double)(now_ns - start) / 1e6);
	quic_endpoint_get_stats(server->ep, &st);
	CHECK_INT(st.retries_sent, 1);
	CHECK_INT(st.connections, 1);
	exchange_datagram();
	CHECK_INT(client->closed + server->closed, 0);
	teardown();
}

static void test_version_negotiation(void)
{
	uint8_t pkt[1200] = {0};
	static const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t scid[5] = {9, 10, 11, 12, 13};
	struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_port = htons(7777)};
	const struct datagram *vn;
	bool lists_v1 = false;

	setup_pair(NULL, NULL);
	pkt[0] = 0xc3;
	pkt[1] = 0xba, pkt[2] = 0xba, pkt[3] = 0xba, pkt[4] = 0xba;
	pkt[5] = sizeof(dcid);
	memcpy(pkt + 6, dcid, sizeof(dcid));
	pkt[14] = sizeof(scid);
	memcpy(pkt + 15, scid, sizeof(scid));
	net.intercept = true;
	net.nintercepted = 0;
	feed(server, &from, pkt, sizeof(pkt));
	CHECK_INT(net.nintercepted, 1);
	vn = &net.intercepted[0];
	CHECK(vn->len >= 7 + sizeof(dcid) + sizeof(scid) + 4);
	if (vn->len >= 7 + sizeof(dcid) + sizeof(scid) + 4) {
		CHECK(vn->data[0] & 0x80);
		CHECK_INT(vn->data[1] | vn->data[2] | vn->data[3] | vn->data[4], 0);
		/* The IDs are swapped: our SCID is its DCID. */
		CHECK_INT(vn->data[5], sizeof(scid));
		CHECK_MEM(vn->data + 6, scid, sizeof(scid));
		CHECK_INT(vn->data[6 + sizeof(scid)], sizeof(dcid));
		CHECK_MEM(vn->data + 7 + sizeof(scid), dcid, sizeof(dcid));
		for (size_t off = 7 + sizeof(scid) + sizeof(dcid); off + 4 <= vn->len; off += 4)
			if (!memcmp(vn->data + off, "\0\0\0\1", 4))
				lists_v1 = true;
		CHECK(lists_v1);
	}
	/* Too small to be a client's first datagram: no answer. */
	net.nintercepted = 0;
	feed(server, &from, pkt, 200);
	CHECK_INT(net.nintercepted, 0);
	/* A VN packet itself is never answered. */
	memset(pkt + 1, 0, 4);
	feed(server, &from, pkt, sizeof(pkt));
	CHECK_INT(net.nintercepted, 0);
	teardown();
}

static bool client_reset(void)
{
	return client->closed > 0;
}

static void test_stateless_reset(void)
{
	uint8_t pkt[100];
	struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_port = htons(7777)};
	const struct datagram *r;

	setup_pair(NULL, NULL);
	memset(pkt, 0x5a, sizeof(pkt));
	pkt[0] = 0x41; /* short header */
	net.intercept = true;
	net.nintercepted = 0;
	feed(server, &from, pkt, sizeof(pkt));
	CHECK_INT(net.nintercepted, 1);
	r = &net.intercepted[0];
	CHECK(r->len >= 21 && r->len < sizeof(pkt));
	CHECK_INT(r->data[0] & 0xc0, 0x40);
	/* Never as large as what triggered it, so never below 22 bytes in. */
	net.nintercepted = 0;
	feed(server, &from, pkt, 21);
	CHECK_INT(net.nintercepted, 0);
	feed(server, &from, pkt, 22);
	CHECK_INT(net.nintercepted, 1);
	CHECK(net.intercepted[0].len < 22);
	/* Rate limited. */
	net.nintercepted = 0;
	size_t sent = 0;
	for (int i = 0; i < 100; i++) {
		struct quic_endpoint_stats st0, st1;
		quic_endpoint_get_stats(server->ep, &st0);
		feed(server, &from, pkt, sizeof(pkt));
		quic_endpoint_get_stats(server->ep, &st1);
		sent += st1.stateless_resets_sent - st0.stateless_resets_sent;
	}
	CHECK(sent < 40);
	net.intercept = false;
	teardown();

	/* End to end: the server restarts with the same key and seed (so the
	 * same reset secret) and has forgotten the connection; the client's
	 * next packet is answered with a reset it recognises. */
	setup_pair(NULL, NULL);
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	node_del(server);
	server = node_new(0x22, 2, NULL);
	fill(pkt, sizeof(pkt), 1);
	CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
	uint64_t start = now_ns;
	CHECK(pump(client_reset, 5 * SEC));
	CHECK_INT(client->close_error, -ECONNRESET);
	CHECK_STR(client->close_reason, "reset by peer (stateless reset)");
	CHECK(now_ns - start < 100 * MS);
	teardown();
}

/* An address in the test network: fd00::<host>, port. */
static struct sockaddr_in6 test_addr(uint8_t host, uint16_t port)
{
	struct sockaddr_in6 a = {0};
	a.sin6_family = AF_INET6;
	a.sin6_port = htons(port);
	inet_pton(AF_INET6, "fd00::1", &a.sin6_addr);
	a.sin6_addr.s6_addr[15] = host;
	return a;
}

static bool same_sa(const struct sockaddr *a, const struct sockaddr_in6 *b)
{
	return a->sa_family == AF_INET6 && same_addr((const struct sockaddr_in6 *)a, b);
}

/* Datagrams both ways, one each per millisecond, numbered: flow_sent[0]
 * client to server, flow_sent[1] server to client. */
static uint32_t flow_sent[2];
static void flow(struct quic_conn *c, struct quic_conn *s, uint64_t duration)
{
	uint8_t pkt[600];
	for (uint64_t t = 0; t < duration; t += MS) {
		fill(pkt, sizeof(pkt), flow_sent[0]);
		CHECK_INT(quic_conn_send_packet(c, pkt, sizeof(pkt), now_ns), 0);
		flow_sent[0]++;
		fill(pkt, sizeof(pkt), flow_sent[1]);
		CHECK_INT(quic_conn_send_packet(s, pkt, sizeof(pkt), now_ns), 0);
		flow_sent[1]++;
		pump(NULL, MS);
	}
}

static size_t count_seen(const struct node *n, uint32_t upto)
{
	size_t got = 0;
	for (uint32_t i = 0; i < upto; i++)
		got += n->seen[i];
	return got;
}

static bool client_path_done(void)
{
	return client->paths_ok + client->paths_failed > 0;
}

/* Connection migration (RFC 9000 §9): the client moves to a new local
 * port and a second address of the server; both ends validate the path
 * and report it, and datagrams keep flowing both ways without a loss.
 * Then a migration toward an address that drops everything fails and the
 * connection stays on its path. */
static void test_migration(void)
{
	struct sockaddr_in6 client_new = test_addr(1, 11), server_new = test_addr(12, 2);
	struct sockaddr_in6 client_third = test_addr(1, 13), nowhere = test_addr(99, 99);
	struct quic_conn *c, *s;
	struct quic_conn_stats st;

	setup_pair(NULL, NULL);
	client->aliases[client->naliases++] = client_new;
	client->aliases[client->naliases++] = client_third;
	server->aliases[server->naliases++] = server_new;
	client->seen = calloc(100000, 1);
	server->seen = calloc(100000, 1);
	flow_sent[0] = flow_sent[1] = 0;
	c = dial(client, server, NULL);
	/* Not before the handshake is confirmed. */
	CHECK_INT(quic_conn_migrate(c, (const struct sockaddr *)&client_new,
				    (const struct sockaddr *)&server_new, now_ns),
		  -ENOTCONN);
	CHECK(pump(both_established, 5 * SEC));
	s = server->conn;
	/* The server's spare connection IDs arrive with the handshake's end. */
	flow(c, s, 100 * MS);
	CHECK_INT(quic_conn_migrate(s, (const struct sockaddr *)&server_new, sa(client), now_ns),
		  -EPERM);
	/* ngtcp2 0.12.1 wants another local address. */
	CHECK_INT(quic_conn_migrate(c, sa(client), (const struct sockaddr *)&server_new, now_ns),
		  -EINVAL);
	CHECK_INT(client->paths_ok + client->paths_failed + server->paths_ok + server->paths_failed,
		  0);

	CHECK_INT(quic_conn_migrate(c, (const struct sockaddr *)&client_new,
				    (const struct sockaddr *)&server_new, now_ns),
		  0);
	/* Still on the old path until the new one answers. */
	CHECK(same_sa(quic_conn_local(c), &client->addr));
	uint64_t start = now_ns;
	while (!client_path_done() && now_ns - start < 2 * SEC)
		flow(c, s, 1 * MS);
	CHECK_INT(client->paths_ok, 1);
	CHECK_INT(client->paths_failed, 0);
	printf("migration validated after %.1f ms (one-way latency %llu ms)\n",
	       (double)(now_ns - start) / 1e6, LATENCY / MS);
	CHECK(now_ns - start <= 2 * LATENCY + 5 * MS);
	CHECK(same_addr(&client->path_local, &client_new));
	CHECK(same_addr(&client->path_remote, &server_new));
	CHECK(same_sa(quic_conn_local(c), &client_new));
	CHECK(same_sa(quic_conn_remote(c), &server_new));
	/* The server follows the client's first packet on the new path and
	 * validates it in turn. */
	flow(c, s, 200 * MS);
	CHECK_INT(server->paths_ok, 1);
	CHECK_INT(server->paths_failed, 0);
	CHECK(same_addr(&server->path_local, &server_new));
	CHECK(same_addr(&server->path_remote, &client_new));
	CHECK(same_sa(quic_conn_local(s), &server_new));
	CHECK(same_sa(quic_conn_remote(s), &client_new));
	/* Only the new path carries traffic now: nothing more goes to the
	 * old addresses. */
	uint64_t sent_before = net.sent;
	size_t old_path = 0;
	for (size_t i = 0; i < net.count; i++) {
		const struct datagram *d = &net.q[(net.head + i) % NET_CAP];
		old_path += same_addr(&d->to, &client->addr) || same_addr(&d->to, &server->addr);
	}
	CHECK_INT(old_path, 0);
	CHECK(net.sent > sent_before || net.count > 0);

	/* Nothing lost either way. */
	pump(NULL, 100 * MS);
	CHECK_INT(count_seen(server, flow_sent[0]), flow_sent[0]);
	CHECK_INT(count_seen(client, flow_sent[1]), flow_sent[1]);
	CHECK_INT(server->seen_dups + client->seen_dups, 0);
	quic_conn_get_stats(c, &st);
	CHECK_INT(st.packets_dropped, 0);
	quic_conn_get_stats(s, &st);
	CHECK_INT(st.packets_dropped, 0);
	printf("%u datagrams client to server, %u back, none lost across the migration\n",
	       flow_sent[0], flow_sent[1]);

	/* A path that drops everything: validation fails after about three
	 * PTOs, and the connection carries on where it was. */
	net.blackhole = nowhere;
	start = now_ns;
	CHECK_INT(quic_conn_migrate(c, (const struct sockaddr *)&client_third,
				    (const struct sockaddr *)&nowhere, now_ns),
		  0);
	while (client->paths_ok + client->paths_failed < 2 && now_ns - start < 10 * SEC)
		flow(c, s, 5 * MS);
	CHECK_INT(client->paths_ok, 1);
	CHECK_INT(client->paths_failed, 1);
	CHECK(net.blackholed > 0);
	printf("validation of a dead path failed after %.0f ms (%llu PATH_CHALLENGE datagrams)\n",
	       (double)(now_ns - start) / 1e6, (unsigned long long)net.blackholed);
	CHECK(same_addr(&client->path_local, &client_third));
	CHECK(same_addr(&client->path_remote, &nowhere));
	CHECK(same_sa(quic_conn_local(c), &client_new));
	CHECK(same_sa(quic_conn_remote(c), &server_new));
	CHECK(same_sa(quic_conn_local(s), &server_new));
	CHECK(same_sa(quic_conn_remote(s), &client_new));
	CHECK_INT(server->paths_ok + server->paths_failed, 1);
	flow(c, s, 100 * MS);
	pump(NULL, 100 * MS);
	CHECK_INT(count_seen(server, flow_sent[0]), flow_sent[0]);
	CHECK_INT(count_seen(client, flow_sent[1]), flow_sent[1]);
	CHECK_INT(client->closed + server->closed, 0);

	/* Each migration takes one of the peer's spare connection IDs (it
	 * gave us ACTIVE_CID_LIMIT - 1): without them, -EAGAIN. */
	int rv = 0, tries = 0;
	while (rv == 0 && tries < 10) {
		struct sockaddr_in6 local = test_addr(1, (uint16_t)(20 + tries));
		rv = quic_conn_migrate(c, (const struct sockaddr *)&local,
				       (const struct sockaddr *)&server_new, now_ns);
		tries++;
	}
	CHECK_INT(rv, -EAGAIN);
	CHECK(tries >= 2 && tries <= 4);
	/* The replaced ones are reported as failed at the next flush. */
	pump(NULL, 1 * MS);
	CHECK_INT(client->paths_failed, 1 + (tries - 2));
	quic_conn_close(c, 0, now_ns);
	CHECK(pump(both_closed, 1 * SEC));
	teardown();
}

/* Leaving a path that went silent while packets were in flight (peer.c's
 * fall back to the relay): the old path's window is full of packets
 * nobody will acknowledge. quic_conn_migrate_now() moves at once, with a
 * fresh congestion state, and the new path validates within a round trip
 * or two. quic_conn_migrate() keeps the old path's state until the new one
 * validates, and ngtcp2 0.12.1 writes the PATH_CHALLENGE only below the
 * window or in a PTO probe (backed off while the path was dead): that one
 * is only measured here. */
static void test_migration_dead_path(void)
{
	for (int immediate = 0; immediate < 2; immediate++) {
		struct sockaddr_in6 client_new = test_addr(1, 11), server_new = test_addr(12, 2);
		struct quic_conn_stats st;
		uint8_t pkt[600];

		setup_pair(NULL, NULL);
		client->aliases[client->naliases++] = client_new;
		server->aliases[server->naliases++] = server_new;
		struct quic_conn *c = dial(client, server, NULL);
		CHECK(pump(both_established, 5 * SEC));
		pump(NULL, 100 * MS); /* the server's spare connection IDs */
		memset(pkt, 0x5a, sizeof(pkt));
		net.blackhole = server->addr;
		for (int i = 0; i < 4000; i++) {
			(void)quic_conn_send_packet(c, pkt, sizeof(pkt), now_ns);
			pump(NULL, MS);
		}
		quic_conn_get_stats(c, &st);
		CHECK(st.bytes_in_flight >= st.cwnd);
		uint64_t start = now_ns;
		int rv = immediate
			     ? quic_conn_migrate_now(c, (const struct sockaddr *)&client_new,
						     (const struct sockaddr *)&server_new, now_ns)
			     : quic_conn_migrate(c, (const struct sockaddr *)&client_new,
						 (const struct sockaddr *)&server_new, now_ns);
		CHECK_INT(rv, 0);
		if (immediate)
			CHECK(same_sa(quic_conn_remote(c), &server_new));
		while (!client_path_done() && now_ns - start < 10 * SEC) {
			(void)quic_conn_send_packet(c, pkt, sizeof(pkt), now_ns);
			pump(NULL, MS);
		}
		uint64_t took = now_ns - start;
		printf("dead path, window full (%llu of %llu bytes): %s %s after %.0f ms\n",
		       (unsigned long long)st.bytes_in_flight, (unsigned long long)st.cwnd,
		       immediate ? "an immediate move" : "a validate-first move",
		       client->paths_ok ? "validated" : "did not validate", (double)took / 1e6);
		if (immediate) {
			CHECK_INT(client->paths_ok, 1);
			CHECK(took <= 2 * LATENCY + 5 * MS);
			CHECK(same_sa(quic_conn_remote(c), &server_new));
		}
		teardown();
	}
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void measure(void)
{
	const char *env = getenv("IRON_QUIC_BENCH");
	size_t total = env ? strtoul(env, NULL, 10) : 20000;
	uint8_t pkt[1400];
	struct quic_conn_stats st;
	size_t queued = 0;
	double t0, t1;
	struct mallinfo2 m0, m1;

	/* Heap of one idle, established connection (both ends in this
	 * process: half of the pair's total). */
	setup_pair(NULL, NULL);
	m0 = mallinfo2();
	dial(client, server, NULL);
	CHECK(pump(both_established, 5 * SEC));
	pump(NULL, 1 * SEC);
	m1 = mallinfo2();
	printf("heap of an idle established connection pair: %zu bytes (%.1f KiB per side)\n",
	       m1.uordblks - m0.uordblks, (double)(m1.uordblks - m0.uordblks) / 2048.0);

	/* CPU per 1400-byte datagram, sent and received, in memory. */
	t0 = cpu_seconds();
	for (size_t seq = 0; seq < total;) {
		quic_conn_get_stats(client->conn, &st);
		queued = seq - (size_t)(st.packets_sent + st.packets_dropped);
		while (queued < 200 && seq < total) {
			fill(pkt, sizeof(pkt), (uint32_t)seq++);
			CHECK_INT(quic_conn_send_packet(client->conn, pkt, sizeof(pkt), now_ns), 0);
			queued++;
		}
		pump(NULL, 1 * MS);
	}
	want_packets = total;
	pump(server_got_all, 10 * SEC);
	t1 = cpu_seconds();
	quic_conn_get_stats(client->conn, &st);
	printf("%zu datagrams of 1400 bytes: %.2f us CPU each (send + receive, both ends), %zu "
	       "delivered, %llu dropped\n",
	       total, (t1 - t0) * 1e6 / (double)total, server->packets,
	       (unsigned long long)st.packets_dropped);
	CHECK_INT(server->packets, total);
	teardown();
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	log_configure(LOG_WARN, getenv("IRON_LOG"));
	net.q = calloc(NET_CAP, sizeof(*net.q));
	net.rng = 0x1234567;

	test_handshake();
	test_key_mismatch();
	test_admission_refused();
	test_client_without_key();
	test_datagrams();
	test_path_mtu();
	test_path_mtu_raise();
	test_key_update_and_bbr();
	test_packet0();
	test_packet0_oversize();
	test_stream_deadline();
	test_stream_budget();
	test_close_idle();
	test_close_idle_slices();
	test_alpn();
	test_idle_and_keepalive();
	test_close();
	test_loss();
	test_datagram_tail_loss();
	test_datagram_sustained_loss();
	test_datagram_heavy_loss();
	test_ack_frequency();
	test_garbage();
	test_initial_flood();
	test_initial_flood_retry();
	test_accept_budget();
	test_retry_tokens();
	test_version_negotiation();
	test_stateless_reset();
	test_migration();
	test_migration_dead_path();
	measure();

	free(net.q);
	return check_done();
}
