/* manypeers: fills a daemon's peer table. Dials the daemon from N fresh
 * keys, one QUIC connection each (at most W handshakes at a time), and
 * closes each connection once its handshake completes; the daemon keeps
 * an entry for every one of those peers for ten minutes.
 *
 *   manypeers --peer ID --connect ADDR:PORT -n N [-w W]
 *
 * Prints "N connected, M failed in S s". Exit status 0 when every dial
 * connected, 1 when not, 2 on bad usage. */
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iron/identity.h"
#include "iron/log.h"
#include "iron/netaddr.h"
#include "iron/quic.h"

#define WINDOW_MAX 256
#define RECV_BATCH 32

struct slot {
	bool busy, established, closed;
	int fd;
	struct netaddr local;
	struct iron_identity identity;
	struct quic_endpoint *ep;
	struct quic_conn *conn;
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
	struct slot *s = user;
	(void)local;
	sendto(s->fd, data, len, 0, remote, netaddr_len(remote));
}

static int on_established(void *user, struct quic_conn *conn)
{
	struct slot *s = user;
	(void)conn;
	s->established = true;
	return 0;
}

static void on_packet(void *user, struct quic_conn *conn, const uint8_t *data, size_t len)
{
	(void)user;
	(void)conn;
	(void)data;
	(void)len;
}

static void on_closed(void *user, struct quic_conn *conn, int error, const char *reason)
{
	struct slot *s = user;
	(void)conn;
	(void)error;
	(void)reason;
	s->closed = true;
	s->conn = NULL;
}

static void slot_end(struct slot *s)
{
	if (s->conn) {
		quic_conn_close(s->conn, 0, now_ns());
		quic_endpoint_flush(s->ep, now_ns());
	}
	quic_endpoint_del(s->ep);
	close(s->fd);
	identity_wipe(&s->identity);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

static int slot_start(struct slot *s, const struct iron_id *peer, const struct netaddr *remote)
{
	struct quic_config config = {
	    .identity = &s->identity,
	    .client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1),
	};
	struct quic_callbacks callbacks = {
	    .user = s,
	    .send = on_send,
	    .established = on_established,
	    .packet = on_packet,
	    .closed = on_closed,
	};
	socklen_t len;
	memset(s, 0, sizeof(*s));
	identity_generate(&s->identity);
	s->fd = socket(remote->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	s->local.sa.sa_family = remote->sa.sa_family;
	len = netaddr_len(&s->local.sa);
	if (s->fd < 0 || bind(s->fd, &s->local.sa, len) != 0 ||
	    getsockname(s->fd, &s->local.sa, &len) != 0)
		return -errno;
	int rc = quic_endpoint_new(&config, &callbacks, &s->ep);
	if (rc == 0)
		rc = quic_connect(s->ep, peer, &s->local.sa, &remote->sa, now_ns(), &s->conn);
	if (rc < 0)
		return rc;
	quic_endpoint_flush(s->ep, now_ns());
	s->busy = true;
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: manypeers --peer ID --connect ADDR:PORT -n N [-w W]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct slot slots[WINDOW_MAX];
	struct pollfd pfds[WINDOW_MAX];
	const char *peer_text = NULL, *connect_text = NULL;
	unsigned long total = 0, window = 32, started = 0, connected = 0, failed = 0;
	struct iron_id peer;
	struct netaddr remote;
	uint8_t buf[2048];

	if (sodium_init() < 0)
		return 1;
	log_configure(LOG_ERROR, NULL);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--peer") == 0)
			peer_text = argv[i + 1];
		else if (strcmp(argv[i], "--connect") == 0)
			connect_text = argv[i + 1];
		else if (strcmp(argv[i], "-n") == 0)
			total = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "-w") == 0)
			window = strtoul(argv[i + 1], NULL, 10);
		else
			return usage();
	}
	if (argc % 2 == 0 || !peer_text || !connect_text || total == 0 || window == 0 ||
	    window > WINDOW_MAX || id_parse(peer_text, &peer, NULL) != 0 ||
	    netaddr_parse(connect_text, &remote) != 0)
		return usage();
	for (size_t i = 0; i < WINDOW_MAX; i++)
		slots[i].fd = -1;

	uint64_t t0 = now_ns();
	while (connected + failed < total) {
		uint64_t now = now_ns(), next = UINT64_MAX;
		nfds_t n = 0;
		for (size_t i = 0; i < window; i++) {
			struct slot *s = &slots[i];
			if (s->busy && (s->established || s->closed)) {
				if (s->established && !s->closed)
					connected++;
				else
					failed++;
				slot_end(s);
			}
			if (!s->busy && started < total) {
				started++;
				if (slot_start(s, &peer, &remote) < 0) {
					failed++;
					slot_end(s);
					continue;
				}
			}
			if (!s->busy)
				continue;
			uint64_t expiry = quic_endpoint_next_expiry(s->ep);
			if (expiry < next)
				next = expiry;
			pfds[n++] = (struct pollfd){.fd = s->fd, .events = POLLIN};
		}
		if (n == 0)
			break;
		int timeout_ms = next == UINT64_MAX ? 1000
				 : next <= now	    ? 0
						    : (int)((next - now + 999999) / 1000000);
		poll(pfds, n, timeout_ms);
		now = now_ns();
		for (size_t i = 0; i < window; i++) {
			struct slot *s = &slots[i];
			if (!s->busy)
				continue;
			for (int k = 0; k < RECV_BATCH; k++) {
				struct sockaddr_storage from;
				socklen_t from_len = sizeof(from);
				ssize_t len = recvfrom(s->fd, buf, sizeof(buf), 0,
						       (struct sockaddr *)&from, &from_len);
				if (len < 0)
					break;
				quic_endpoint_receive(s->ep, &s->local.sa, (struct sockaddr *)&from,
						      buf, (size_t)len, now);
			}
			if (quic_endpoint_next_expiry(s->ep) <= now)
				quic_endpoint_handle_expiry(s->ep, now);
			quic_endpoint_flush(s->ep, now);
		}
	}
	for (size_t i = 0; i < window; i++)
		if (slots[i].busy)
			slot_end(&slots[i]);
	printf("%lu connected, %lu failed in %.1f s\n", connected, failed,
	       (double)(now_ns() - t0) / 1e9);
	return failed == 0 ? 0 : 1;
}
