#define LOG_MODULE "transport"

#include "iron/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "iron/log.h"
#include "iron/relay_client.h"
#include "iron/relay_slots.h"
#include "iron/udp.h"

#define STUN_HEADER_LEN	  20
#define STUN_MAGIC_COOKIE 0x2112a442u

/* A peer seen through relays gets one slot, the same on every relay: its
 * placeholder is (relay, slot value); see relay_slots.h. */

struct transport_relay {
	struct transport *t;
	uint32_t number;	     /* 1-based: the relay part of its placeholders */
	struct relay_client *client; /* NULL: removed from the map */
	struct relay_url url;
	bool in_map; /* from the relay map, not only a peer's */
};

struct transport {
	uv_loop_t *loop;
	struct transport_callbacks cb;
	struct udp_socket *sockets[TRANSPORT_MAX_SOCKETS];
	size_t nsockets;
	struct transport_relay relays[TRANSPORT_MAX_RELAYS];
	size_t nrelays;
	struct relay_slots *slots;
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
	if (sodium_init() < 0)
		return -EIO;
	struct transport *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (relay_slots_new(&t->slots) < 0) {
		free(t);
		return -ENOMEM;
	}
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
	for (size_t i = 0; i < t->nrelays; i++)
		relay_client_del(t->relays[i].client);
	relay_slots_del(t->slots);
	free(t);
}

static void on_relay_receive(void *user, struct relay_client *rc, const uint8_t src[32],
			     const uint8_t *data, size_t len)
{
	struct transport_relay *r = user;
	struct transport *t = r->t;
	(void)rc;
	uint32_t slot = relay_slots_get(t->slots, src, true, false, uv_now(t->loop));
	if (slot == 0) {
		t->own.relay_received_dropped++;
		return;
	}
	struct netaddr local, remote;
	netaddr_relay(r->number, 0, &local);
	netaddr_relay(r->number, slot, &remote);
	t->own.relay_datagrams_received++;
	enum transport_datagram kind = transport_classify(data, len);
	if (kind == TRANSPORT_QUIC) {
		t->cb.quic(t->cb.user, &local.sa, &remote.sa, data, len);
		return;
	}
	if (kind != TRANSPORT_UNKNOWN && t->cb.other)
		t->cb.other(t->cb.user, kind, &local.sa, &remote.sa, data, len);
	else
		t->own.received_unwanted++;
}

static int add_relay(struct transport *t, uv_loop_t *loop, struct resolver *resolver,
		     const struct iron_identity *identity, const struct relay_url *url, bool in_map,
		     uint32_t *number)
{
	/* A relay keeps its number, removed and added again included: its
	 * placeholders may still be in use by connections. */
	struct transport_relay *r = NULL;
	for (size_t i = 0; i < t->nrelays && !r; i++)
		if (relay_url_same(&t->relays[i].url, url))
			r = &t->relays[i];
	if (!r) {
		if (t->nrelays == TRANSPORT_MAX_RELAYS)
			return -ENOSPC;
		r = &t->relays[t->nrelays];
		r->t = t;
		r->number = (uint32_t)t->nrelays + 1;
		r->url = *url;
		r->client = NULL;
		t->nrelays++;
	}
	*number = r->number;
	if (r->client) {
		r->in_map = r->in_map || in_map;
		return 0;
	}
	r->in_map = in_map;
	const struct relay_client_callbacks cb = {.user = r, .receive = on_relay_receive};
	return relay_client_new(loop, resolver, identity, &r->url, &cb, &r->client);
}

int transport_add_relay(struct transport *t, uv_loop_t *loop, struct resolver *resolver,
			const struct iron_identity *identity, const struct relay_url *url,
			uint32_t *number)
{
	return add_relay(t, loop, resolver, identity, url, true, number);
}

int transport_add_peer_relay(struct transport *t, uv_loop_t *loop, struct resolver *resolver,
			     const struct iron_identity *identity, const struct relay_url *url,
			     uint32_t *number)
{
	return add_relay(t, loop, resolver, identity, url, false, number);
}

bool transport_relay_in_map(const struct transport *t, uint32_t number)
{
	return number >= 1 && number <= t->nrelays && t->relays[number - 1].in_map &&
	       t->relays[number - 1].client;
}

void transport_remove_relay(struct transport *t, uint32_t number)
{
	if (number == 0 || number > t->nrelays)
		return;
	relay_client_del(t->relays[number - 1].client);
	t->relays[number - 1].client = NULL;
	t->relays[number - 1].in_map = false;
}

int transport_relay_path(struct transport *t, uint32_t relay, const struct iron_id *peer, bool pin,
			 struct netaddr *remote)
{
	if (relay == 0 || relay > t->nrelays)
		return -ENOENT;
	uint32_t slot = relay_slots_get(t->slots, peer->bytes, true, true, uv_now(t->loop));
	if (slot == 0)
		return -ENOSPC;
	if (pin)
		relay_slots_pin(t->slots, slot);
	netaddr_relay(relay, slot, remote);
	return 0;
}

int transport_set_relay_slots(struct transport *t, unsigned max)
{
	return relay_slots_set_max(t->slots, max);
}

void transport_relay_peer_known(struct transport *t, const struct iron_id *peer)
{
	relay_slots_known(t->slots, peer->bytes);
}

size_t transport_relay_count(const struct transport *t)
{
	return t->nrelays;
}

bool transport_relay_info(const struct transport *t, size_t i, struct relay_client_info *out)
{
	const struct transport_relay *r = &t->relays[i];
	if (r->client) {
		relay_client_get_info(r->client, out);
		return true;
	}
	*out = (struct relay_client_info){.url = &r->url};
	return false;
}

uint32_t transport_home_relay(const struct transport *t)
{
	uint32_t best = 0;
	uint64_t best_rtt = UINT64_MAX;
	for (size_t i = 0; i < t->nrelays; i++) {
		struct relay_client_info info;
		if (!t->relays[i].in_map || !transport_relay_info(t, i, &info) || !info.connected)
			continue;
		uint64_t rtt = info.rtt_ns ? info.rtt_ns : UINT64_MAX - 1;
		if (rtt < best_rtt) {
			best_rtt = rtt;
			best = t->relays[i].number;
		}
	}
	return best;
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
	uint32_t relay, slot;
	if (netaddr_relay_parts(remote, &relay, &slot) == 0) {
		if (relay == 0 || relay > t->nrelays || !t->relays[relay - 1].client) {
			t->own.no_relay_link++;
			rc = -ENETUNREACH;
			goto failed;
		}
		const uint8_t *id = relay_slots_sent(t->slots, slot, uv_now(t->loop));
		if (!id) {
			/* Given to another peer since (or never made). */
			t->own.relay_slot_stale++;
			rc = -ENETUNREACH;
			goto failed;
		}
		rc = relay_client_send(t->relays[relay - 1].client, id, data, len);
		if (rc == 0) {
			t->own.relay_datagrams_sent++;
			return 0;
		}
		if (rc == -ENOTCONN)
			t->own.no_relay_link++;
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
	for (size_t i = 0; i < t->nrelays; i++)
		if (t->relays[i].client)
			relay_client_flush(t->relays[i].client);
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
		out->send_calls += u.send_calls;
		out->gro_batches_received += u.gro_batches_received;
	}
	struct relay_slots_stats rs;
	relay_slots_get_stats(t->slots, &rs);
	out->relay_slots_used = rs.used;
	out->relay_slots_reused = rs.reused;
}
