#define LOG_MODULE "transport"

#include "iron/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iron/log.h"
#include "iron/udp.h"

#define STUN_HEADER_LEN	  20
#define STUN_MAGIC_COOKIE 0x2112a442u

struct transport {
	uv_loop_t *loop;
	struct transport_callbacks cb;
	struct udp_socket *sockets[TRANSPORT_MAX_SOCKETS];
	size_t nsockets;
	struct transport_stats own; /* this module's counters; UDP's are summed on demand */
};

enum transport_datagram transport_classify(const uint8_t *data, size_t len)
{
	if (len == 0)
		return TRANSPORT_UNKNOWN;
	/* A long header (0x80) or the fixed bit (0x40): QUIC. Without either
	 * it may still be QUIC, a short header whose fixed bit the peer
	 * greased (RFC 9287), so that is what is left at the end. */
	if (data[0] & 0xc0)
		return TRANSPORT_QUIC;
	if (len >= TRANSPORT_IRON_MAGIC_LEN &&
	    memcmp(data, TRANSPORT_IRON_MAGIC, TRANSPORT_IRON_MAGIC_LEN) == 0)
		return TRANSPORT_IRON;
	if (len >= STUN_HEADER_LEN) {
		uint32_t cookie = (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 |
				  (uint32_t)data[6] << 8 | data[7];
		/* The message length (bytes 2-3) counts the attributes, in
		 * 4-byte units, and must match what arrived. */
		size_t body = (size_t)data[2] << 8 | data[3];
		if (cookie == STUN_MAGIC_COOKIE && body % 4 == 0 && body + STUN_HEADER_LEN == len)
			return TRANSPORT_STUN;
	}
	return TRANSPORT_QUIC;
}

static void on_udp_recv(void *user, struct udp_socket *sock, const struct sockaddr *remote,
			const uint8_t *data, size_t len)
{
	struct transport *t = user;
	const struct sockaddr *local = udp_local(sock);
	enum transport_datagram kind = transport_classify(data, len);
	switch (kind) {
	case TRANSPORT_QUIC:
		t->cb.quic(t->cb.user, local, remote, data, len);
		return;
	case TRANSPORT_STUN:
		t->own.received_stun++;
		break;
	case TRANSPORT_IRON:
		t->own.received_iron++;
		break;
	case TRANSPORT_UNKNOWN:
		t->own.received_unknown++;
		return;
	}
	if (t->cb.other)
		t->cb.other(t->cb.user, kind, local, remote, data, len);
	else
		t->own.received_unwanted++;
}

int transport_new(uv_loop_t *loop, const struct transport_callbacks *callbacks,
		  struct transport **out)
{
	struct transport *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->cb = *callbacks;
	*out = t;
	return 0;
}

void transport_del(struct transport *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsockets; i++)
		udp_close(t->sockets[i]);
	free(t);
}

int transport_listen(struct transport *t, const struct sockaddr *addr)
{
	if (t->nsockets == TRANSPORT_MAX_SOCKETS)
		return -ENOSPC;
	const struct udp_callbacks ucb = {.user = t, .recv = on_udp_recv};
	int rc = udp_open(t->loop, addr, &ucb, &t->sockets[t->nsockets]);
	if (rc < 0)
		return rc;
	t->nsockets++;
	return 0;
}

size_t transport_local_count(const struct transport *t)
{
	return t->nsockets;
}

const struct sockaddr *transport_local(const struct transport *t, size_t i)
{
	return i < t->nsockets ? udp_local(t->sockets[i]) : NULL;
}

int transport_pick_local(const struct transport *t, const struct sockaddr *remote,
			 struct netaddr *local, struct netaddr *remote_out)
{
	uint32_t relay, slot;
	if (netaddr_relay_parts(remote, &relay, &slot) == 0) {
		/* A relayed path: its local end is the relay's own placeholder
		 * (slot 0), so that moving to a direct path changes the local
		 * address, as ngtcp2 0.12.1's migration requires. */
		netaddr_relay(relay, 0, local);
		return netaddr_set(remote_out, remote);
	}
	for (size_t i = 0; i < t->nsockets; i++) {
		if (udp_normalize(t->sockets[i], remote, remote_out) == 0)
			return netaddr_set(local, udp_local(t->sockets[i]));
	}
	return -EAFNOSUPPORT;
}

static struct udp_socket *socket_of(const struct transport *t, const struct sockaddr *local)
{
	for (size_t i = 0; i < t->nsockets; i++)
		if (netaddr_equal(udp_local(t->sockets[i]), local))
			return t->sockets[i];
	return NULL;
}

int transport_send(struct transport *t, const struct sockaddr *local, const struct sockaddr *remote,
		   const uint8_t *data, size_t len)
{
	int rc;
	if (netaddr_is_relay(remote)) {
		/* Relay links come with the relay client. */
		t->own.no_relay_link++;
		rc = -ENETUNREACH;
		goto failed;
	}
	struct udp_socket *sock = socket_of(t, local);
	if (!sock) {
		/* A path whose socket is gone (or a local address from the
		 * wildcard socket's point of view): the first that can reach
		 * remote. */
		struct netaddr l, r;
		if (transport_pick_local(t, remote, &l, &r) < 0) {
			rc = -EAFNOSUPPORT;
			goto failed;
		}
		sock = socket_of(t, &l.sa);
	}
	rc = udp_send(sock, remote, data, len);
	if (rc == 0)
		return 0;
failed:
	t->own.send_failed++;
	return rc;
}

void transport_flush(struct transport *t)
{
	for (size_t i = 0; i < t->nsockets; i++)
		udp_flush(t->sockets[i]);
}

void transport_get_stats(const struct transport *t, struct transport_stats *out)
{
	*out = t->own;
	for (size_t i = 0; i < t->nsockets; i++) {
		struct udp_stats u;
		udp_get_stats(t->sockets[i], &u);
		out->datagrams_received += u.datagrams_received;
		out->datagrams_sent += u.datagrams_sent;
		out->bytes_received += u.bytes_received;
		out->bytes_sent += u.bytes_sent;
		out->send_errors += u.send_errors;
		out->send_dropped += u.send_dropped;
		out->batches_sent += u.batches_sent;
	}
}
