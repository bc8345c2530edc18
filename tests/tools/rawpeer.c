/* A malicious (or merely curious) authenticated peer for the end-to-end
 * tests: dials a daemon with iron's own QUIC code and its own key, then
 * sends hand-made IP packets as DATAGRAM frames on iron/packet/1.
 *
 *   rawpeer --key FILE --peer ID --connect ADDR:PORT [--count N]
 *           [--spoof ADDR] [--other ADDR] [--timeout S] KIND...
 *
 * KIND is one of
 *   ipv4        an IPv4 ICMP echo request (not IPv6)
 *   short       2 bytes, 0x60 0x00 (IPv6 version, no header)
 *   badlen      an IPv6 echo request whose payload length is off by one
 *   spoofed     an IPv6 echo request from --spoof (someone else's overlay
 *               address; default a random one) to the daemon
 *   not-for-us  an IPv6 echo request from our address to --other (not the
 *               daemon's address; default a random overlay address)
 *   echo        a valid IPv6 echo request from our address to the daemon's
 *
 * Each KIND is sent N times (default 1), in the order given. Every echo
 * reply that comes back is printed ("reply: ..."), and so is every other
 * packet. Exit status: 0 when every echo request was answered (and nothing
 * else came back), 1 when not, 2 on bad usage, 3 when the connection failed
 * or closed. Each run makes one connection, so a run is also a test that a
 * new peer can still connect. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iron/addr.h"
#include "iron/identity.h"
#include "iron/ipv6.h"
#include "iron/log.h"
#include "iron/quic.h"
#include "iron/netaddr.h"
#include "iron/udp.h"

#define KINDS_MAX	   16
#define RECV_BATCH	   64
#define ECHO_DATA_LEN	   32
#define CLOSE_GRACE_NS	   (200ull * 1000000)
#define DEFAULT_TIMEOUT_NS (10ull * 1000000000)

struct rawpeer {
	int fd;
	struct netaddr local, remote;
	struct quic_endpoint *ep;
	struct quic_conn *conn;
	bool established, closed;
	int close_error;
	struct in6_addr own_addr, peer_addr;
	uint16_t echo_ident;
	unsigned echo_sent, echo_replies, other_packets;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	struct rawpeer *rp = user;
	(void)local;
	if (sendto(rp->fd, data, len, 0, remote, netaddr_len(remote)) < 0)
		fprintf(stderr, "rawpeer: sendto: %s\n", strerror(errno));
}

static int on_established(void *user, struct quic_conn *conn)
{
	struct rawpeer *rp = user;
	(void)conn;
	rp->established = true;
	return 0;
}

static void on_packet(void *user, struct quic_conn *conn, const uint8_t *data, size_t len)
{
	struct rawpeer *rp = user;
	struct ipv6_info info;
	struct ipv6_echo echo;
	char src[ADDR_STR_SIZE], dst[ADDR_STR_SIZE];
	(void)conn;

	if (ipv6_parse(data, len, &info) != 0) {
		rp->other_packets++;
		printf("reply: %zu bytes, not a valid IPv6 packet\n", len);
		return;
	}
	addr_format(&info.src, src);
	addr_format(&info.dst, dst);
	if (info.protocol == IPV6_PROTO_ICMPV6 && ipv6_echo_parse(data, &info, &echo) == 0 &&
	    echo.type == IPV6_ICMP_ECHO_REPLY && echo.identifier == rp->echo_ident &&
	    memcmp(&info.src, &rp->peer_addr, sizeof(info.src)) == 0 &&
	    memcmp(&info.dst, &rp->own_addr, sizeof(info.dst)) == 0) {
		rp->echo_replies++;
		printf("reply: echo reply from %s to %s, id %u seq %u, %zu bytes of data\n", src,
		       dst, echo.identifier, echo.sequence, echo.data_len);
		return;
	}
	rp->other_packets++;
	printf("reply: %zu-byte IPv6 packet from %s to %s, next header %u, type %u\n", len, src,
	       dst, info.protocol, len > info.payload_offset ? data[info.payload_offset] : 0);
}

static void on_closed(void *user, struct quic_conn *conn, int error, const char *reason)
{
	struct rawpeer *rp = user;
	(void)conn;
	rp->closed = true;
	rp->close_error = error;
	rp->conn = NULL;
	if (error != 0)
		fprintf(stderr, "rawpeer: connection closed: %s\n", reason);
}

/* Runs the endpoint until done() or the deadline. Returns true if done(). */
static bool run_until(struct rawpeer *rp, bool (*done)(const struct rawpeer *), uint64_t deadline)
{
	uint8_t buf[RECV_BATCH][2048];
	for (;;) {
		uint64_t now = now_ns();
		if (done(rp))
			return true;
		if (now >= deadline)
			return false;
		uint64_t expiry = quic_endpoint_next_expiry(rp->ep);
		uint64_t until = expiry < deadline ? expiry : deadline;
		int timeout_ms = until <= now ? 0 : (int)((until - now + 999999) / 1000000);
		struct pollfd pfd = {.fd = rp->fd, .events = POLLIN};
		int n = poll(&pfd, 1, timeout_ms);
		now = now_ns();
		if (n > 0) {
			for (int i = 0; i < RECV_BATCH; i++) {
				struct sockaddr_storage from;
				socklen_t from_len = sizeof(from);
				ssize_t len = recvfrom(rp->fd, buf[i], sizeof(buf[i]), MSG_DONTWAIT,
						       (struct sockaddr *)&from, &from_len);
				if (len < 0)
					break;
				quic_endpoint_receive(rp->ep, &rp->local.sa,
						      (struct sockaddr *)&from, buf[i], (size_t)len,
						      now);
			}
			quic_endpoint_flush(rp->ep, now);
		}
		if (quic_endpoint_next_expiry(rp->ep) <= now)
			quic_endpoint_handle_expiry(rp->ep, now);
	}
}

static bool is_established(const struct rawpeer *rp)
{
	return rp->established || rp->closed;
}

static bool all_answered(const struct rawpeer *rp)
{
	return rp->closed || rp->echo_replies >= rp->echo_sent;
}

static bool never(const struct rawpeer *rp)
{
	(void)rp;
	return false;
}

/* An ICMPv6 echo request from src to dst, sequence seq. */
static ssize_t build_echo(const struct rawpeer *rp, const struct in6_addr *src,
			  const struct in6_addr *dst, uint16_t seq, uint8_t *out, size_t cap)
{
	uint8_t data[ECHO_DATA_LEN];
	memset(data, 0xa5, sizeof(data));
	struct ipv6_echo echo = {
	    .type = IPV6_ICMP_ECHO_REQUEST,
	    .identifier = rp->echo_ident,
	    .sequence = seq,
	    .data = data,
	    .data_len = sizeof(data),
	};
	return ipv6_build_echo(src, dst, &echo, out, cap);
}

/* An IPv4 ICMP echo request, 10.0.0.1 -> 10.0.0.2 (header checksum 0:
 * nobody should look that far). */
static size_t build_ipv4(uint8_t *out)
{
	static const uint8_t pkt[] = {
	    0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x0a, 0x00,
	    0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x00,
	};
	memcpy(out, pkt, sizeof(pkt));
	return sizeof(pkt);
}

static void random_overlay(struct in6_addr *out)
{
	struct iron_id id;
	crypto_core_ed25519_random(id.bytes);
	addr_from_id(&id, out);
}

/* Builds packet number seq of kind. Returns its length, or -EINVAL for an
 * unknown kind. */
static ssize_t build(struct rawpeer *rp, const char *kind, uint16_t seq,
		     const struct in6_addr *spoof, const struct in6_addr *other, uint8_t *out,
		     size_t cap)
{
	if (strcmp(kind, "ipv4") == 0)
		return (ssize_t)build_ipv4(out);
	if (strcmp(kind, "short") == 0) {
		out[0] = 0x60;
		out[1] = 0x00;
		return 2;
	}
	if (strcmp(kind, "badlen") == 0) {
		ssize_t n = build_echo(rp, &rp->own_addr, &rp->peer_addr, seq, out, cap);
		if (n > 0)
			out[5]++; /* payload length one more than there is */
		return n;
	}
	if (strcmp(kind, "spoofed") == 0)
		return build_echo(rp, spoof, &rp->peer_addr, seq, out, cap);
	if (strcmp(kind, "not-for-us") == 0)
		return build_echo(rp, &rp->own_addr, other, seq, out, cap);
	if (strcmp(kind, "echo") == 0) {
		rp->echo_sent++;
		return build_echo(rp, &rp->own_addr, &rp->peer_addr, seq, out, cap);
	}
	return -EINVAL;
}

static int usage(void)
{
	fprintf(stderr, "usage: rawpeer --key FILE --peer ID --connect ADDR:PORT [--count N]\n"
			"               [--spoof ADDR] [--other ADDR] [--timeout S] KIND...\n"
			"KIND: ipv4 short badlen spoofed not-for-us echo\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *key_path = NULL, *peer_text = NULL, *connect_text = NULL;
	const char *kinds[KINDS_MAX];
	size_t nkinds = 0;
	unsigned long count = 1;
	uint64_t timeout = DEFAULT_TIMEOUT_NS;
	struct in6_addr spoof, other;
	struct iron_identity identity;
	struct iron_id peer;
	struct rawpeer rp = {.fd = -1};
	struct quic_config config = {
	    .identity = &identity,
	    .client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1),
	    .send_queue_len = 4096,
	};
	struct quic_callbacks callbacks = {
	    .user = &rp,
	    .send = on_send,
	    .established = on_established,
	    .packet = on_packet,
	    .closed = on_closed,
	};
	socklen_t local_len;
	uint64_t deadline;
	uint8_t pkt[1500];
	int err, rc = 3;

	if (sodium_init() < 0)
		return 1;
	log_configure(LOG_WARN, NULL);
	random_overlay(&spoof);
	random_overlay(&other);
	for (int i = 1; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--key") == 0 && value)
			key_path = argv[++i];
		else if (strcmp(argv[i], "--peer") == 0 && value)
			peer_text = argv[++i];
		else if (strcmp(argv[i], "--connect") == 0 && value)
			connect_text = argv[++i];
		else if (strcmp(argv[i], "--count") == 0 && value)
			count = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--timeout") == 0 && value)
			timeout = strtoull(argv[++i], NULL, 10) * 1000000000ull;
		else if (strcmp(argv[i], "--spoof") == 0 && value) {
			if (inet_pton(AF_INET6, argv[++i], &spoof) != 1)
				return usage();
		} else if (strcmp(argv[i], "--other") == 0 && value) {
			if (inet_pton(AF_INET6, argv[++i], &other) != 1)
				return usage();
		} else if (argv[i][0] != '-' && nkinds < KINDS_MAX)
			kinds[nkinds++] = argv[i];
		else
			return usage();
	}
	if (!key_path || !peer_text || !connect_text || count == 0 || count > 10000 || timeout == 0)
		return usage();
	err = identity_load(key_path, &identity);
	if (err < 0) {
		fprintf(stderr, "rawpeer: %s: %s\n", key_path, strerror(-err));
		return 2;
	}
	if (id_parse(peer_text, &peer, NULL) != 0 || netaddr_parse(connect_text, &rp.remote) != 0) {
		rc = usage();
		goto out;
	}
	addr_from_id(&identity.id, &rp.own_addr);
	addr_from_id(&peer, &rp.peer_addr);
	rp.echo_ident = (uint16_t)getpid();
	/* Reject unknown kinds before connecting. */
	for (size_t k = 0; k < nkinds; k++) {
		if (build(&rp, kinds[k], 0, &spoof, &other, pkt, sizeof(pkt)) < 0) {
			fprintf(stderr, "rawpeer: unknown packet kind %s\n", kinds[k]);
			rc = usage();
			goto out;
		}
	}
	rp.echo_sent = 0;

	rp.fd = socket(rp.remote.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	rp.local.sa.sa_family = rp.remote.sa.sa_family;
	local_len = netaddr_len(&rp.local.sa);
	if (rp.fd < 0 || bind(rp.fd, &rp.local.sa, local_len) != 0 ||
	    getsockname(rp.fd, &rp.local.sa, &local_len) != 0) {
		fprintf(stderr, "rawpeer: socket: %s\n", strerror(errno));
		goto out;
	}
	/* Keep trying for the whole timeout: after a flood, a daemon takes no
	 * new connection until its half-open ones time out (10 s). */
	config.handshake_timeout_ns = timeout;
	err = quic_endpoint_new(&config, &callbacks, &rp.ep);
	if (err == 0)
		err = quic_connect(rp.ep, &peer, &rp.local.sa, &rp.remote.sa, now_ns(), &rp.conn);
	if (err < 0) {
		fprintf(stderr, "rawpeer: cannot dial: %s\n", strerror(-err));
		goto out;
	}
	quic_endpoint_flush(rp.ep, now_ns());

	deadline = now_ns() + timeout;
	if (!run_until(&rp, is_established, deadline) || rp.closed) {
		fprintf(stderr, "rawpeer: no connection to %s\n", connect_text);
		goto out;
	}
	printf("connected to %s at %s\n", peer_text, connect_text);
	fflush(stdout);

	for (size_t k = 0; k < nkinds; k++) {
		for (unsigned long i = 0; i < count; i++) {
			ssize_t n = build(&rp, kinds[k], (uint16_t)(i + 1), &spoof, &other, pkt,
					  sizeof(pkt));
			err = n < 0 ? (int)n
				    : quic_conn_send_packet(rp.conn, pkt, (size_t)n, now_ns());
			if (err < 0) {
				fprintf(stderr, "rawpeer: sending %s: %s\n", kinds[k],
					strerror(-err));
				goto out;
			}
		}
		printf("sent %lu %s\n", count, kinds[k]);
	}
	quic_endpoint_flush(rp.ep, now_ns());
	run_until(&rp, all_answered, deadline);
	/* A moment more, so that anything the daemon should not have sent
	 * back has a chance to show up. */
	run_until(&rp, never, now_ns() + CLOSE_GRACE_NS);
	printf("%u echo requests, %u replies, %u other packets\n", rp.echo_sent, rp.echo_replies,
	       rp.other_packets);
	if (rp.closed) {
		fprintf(stderr, "rawpeer: the daemon closed the connection\n");
		goto out;
	}
	rc = rp.echo_replies == rp.echo_sent && rp.other_packets == 0 ? 0 : 1;
	quic_conn_close(rp.conn, 0, now_ns());
	quic_endpoint_flush(rp.ep, now_ns());
out:
	quic_endpoint_del(rp.ep);
	if (rp.fd >= 0)
		close(rp.fd);
	identity_wipe(&identity);
	return rc;
}
