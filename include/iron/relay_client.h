/* One node's connection to one relay (iroh-relay 1.x, SPEC section 11
 * item 2): resolves the relay's host, connects (TLS for https://, checked
 * against the system's CA store; plain TCP for http://), upgrades to
 * WebSocket at /relay, answers the challenge with the node key, then
 * carries QUIC datagrams to and from peers by node ID. It keeps itself
 * alive (a Ping every 15 s, a Pong due within 5 s), and reconnects with
 * backoff (10 ms doubling to 16 s) after any failure, forever, until
 * deleted. Everything runs on the loop. */
#ifndef IRON_RELAY_CLIENT_H
#define IRON_RELAY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/identity.h"
#include "iron/resolver.h"

#define RELAY_URL_MAX  256
#define RELAY_HOST_MAX 254

/* A relay URL: http:// or https://, a host (name, IPv4, or [IPv6]), an
 * optional port, an optional path (ignored: the relay endpoint is /relay,
 * as iroh's). */
struct relay_url {
	bool tls;
	char host[RELAY_HOST_MAX]; /* without brackets or a trailing dot */
	uint16_t port;		   /* 80 or 443 unless given */
	char text[RELAY_URL_MAX];  /* as given, for display and matching */
};

/* Parses text into out. Returns 0, or -EINVAL with a one-line reason in
 * err (scheme not http/https, empty or bad host, bad port, too long,
 * user info, control characters). */
int relay_url_parse(const char *text, struct relay_url *out, char *err, size_t err_cap);

/* Whether two URLs name the same relay (scheme, host case-insensitive,
 * port). */
bool relay_url_same(const struct relay_url *a, const struct relay_url *b);

struct relay_client;

struct relay_client_callbacks {
	void *user;
	/* A datagram from peer src (authenticated by the relay); data valid
	 * during the call only. */
	void (*receive)(void *user, struct relay_client *rc, const uint8_t src[32],
			const uint8_t *data, size_t len);
	/* Connected (authenticated) or lost. May be NULL. */
	void (*state)(void *user, struct relay_client *rc, bool connected);
	/* The relay says peer is gone (its EndpointGone frame). May be NULL. */
	void (*peer_gone)(void *user, struct relay_client *rc, const uint8_t peer[32]);
};

/* Starts connecting. identity and resolver must outlive the client.
 * Returns 0 or -ENOMEM. */
int relay_client_new(uv_loop_t *loop, struct resolver *resolver,
		     const struct iron_identity *identity, const struct relay_url *url,
		     const struct relay_client_callbacks *cb, struct relay_client **out);

/* Closes the connection and frees the client (memory released once libuv
 * has closed its handles). NULL ok. */
void relay_client_del(struct relay_client *rc);

/* Queues a datagram for peer dst; packets queued for the same peer before
 * relay_client_flush() that have one size (the last may be shorter) go
 * out as one batch frame. Returns 0, -ENOTCONN (not connected now:
 * dropped, like a datagram on a dead link), -EMSGSIZE, or -ENOBUFS (the
 * connection's queue is full: dropped). */
int relay_client_send(struct relay_client *rc, const uint8_t dst[32], const uint8_t *data,
		      size_t len);
void relay_client_flush(struct relay_client *rc);

struct relay_client_info {
	const struct relay_url *url;
	bool connected;
	uint64_t rtt_ns; /* the last Ping's round trip; 0 before one */
	uint64_t connected_since_ns;
	unsigned connects, failures;
	uint64_t datagrams_sent, datagrams_received, bytes_sent, bytes_received;
	uint64_t send_dropped;
	const char *last_error; /* the last failure, or NULL */
	const char *protocol;	/* "iroh-relay-v2" or "iroh-relay-v1" when connected */
};
void relay_client_get_info(const struct relay_client *rc, struct relay_client_info *out);

#endif
