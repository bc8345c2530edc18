/* `iron relay`: a relay server speaking iroh-relay 1.x (subprotocols
 * iroh-relay-v2 and iroh-relay-v1), so that iroh and iron nodes relay
 * through it, plus a STUN Binding responder. One libuv loop.
 *
 * HTTP/1.1 on each listener (plain, or TLS from PEM files):
 *   GET /relay         WebSocket upgrade, then the relay protocol: the
 *                      server's challenge, the client's signed answer,
 *                      then datagrams routed by node ID (relay_table.h)
 *   GET /ping          200 (latency probes)
 *   GET /generate_204  204; X-Iroh-Challenge: c gives X-Iroh-Response:
 *                      "response c" (c: 1-63 of [A-Za-z0-9._-])
 *   GET /healthz       200 {"status":"ok",...}
 *   GET /, /index.html 200, a line of text;  GET /robots.txt: disallow all
 *   anything else      404
 *
 * Limits: connections (handshaking included) at most max_clients, more
 * are closed at once; a connection must finish its HTTP request, upgrade
 * and authentication within handshake_timeout_ms; a relaying client is
 * pinged when it has been quiet for 15 s plus 1-5 s of jitter and dropped
 * when the Pong does not come within 5 s; its reading is paused while its
 * receive budget (rate, burst) is in debt; datagrams for a client whose
 * send queue is full are dropped and counted, and a client that takes none
 * of its queue for write_stall_ms is dropped. Per client the server holds
 * at most one message being read (64 KiB and a head, 256 bytes before
 * authentication), one HTTP head (8 KiB, before the upgrade) and the send
 * queue. */
#ifndef IRON_RELAY_SERVER_H
#define IRON_RELAY_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/netaddr.h"

#define RELAY_SERVER_MAX_LISTEN		  8
#define RELAY_SERVER_DEFAULT_PORT	  3340 /* iroh-relay --dev */
#define RELAY_SERVER_DEFAULT_TLS_PORT	  443
#define RELAY_SERVER_DEFAULT_STUN	  3478
#define RELAY_SERVER_DEFAULT_CLIENTS	  10000
#define RELAY_SERVER_DEFAULT_QUEUE	  (256 * 1024) /* bytes */
#define RELAY_SERVER_DEFAULT_HANDSHAKE_MS 10000
#define RELAY_SERVER_DEFAULT_STALL_MS	  10000
#define RELAY_SERVER_PING_MS		  15000
#define RELAY_SERVER_PONG_MS		  5000

struct relay_server_config {
	struct netaddr listen[RELAY_SERVER_MAX_LISTEN]; /* plain HTTP */
	size_t nlisten;
	struct netaddr tls_listen[RELAY_SERVER_MAX_LISTEN]; /* HTTPS */
	size_t ntls_listen;
	const char *tls_cert, *tls_key; /* PEM files; needed with tls_listen */
	struct netaddr stun_listen[RELAY_SERVER_MAX_LISTEN];
	size_t nstun_listen;
	/* Node IDs allowed to relay (nallow 0: any); others are refused with
	 * ServerDeniesAuth. Borrowed for the server's lifetime. */
	const uint8_t (*allow)[32];
	size_t nallow;
	/* Bearer tokens (ntokens 0: none needed); a /relay request without
	 * one of them (Authorization: Bearer T, or ?token=T) gets 401.
	 * Borrowed. */
	const char *const *tokens;
	size_t ntokens;
	size_t max_clients;	       /* 0: RELAY_SERVER_DEFAULT_CLIENTS */
	uint64_t rate;		       /* bytes/s received per client; 0: no limit */
	uint64_t burst;		       /* bytes; 0: the larger of rate and 128 KiB */
	size_t queue_limit;	       /* bytes queued to one client; 0: default */
	unsigned handshake_timeout_ms; /* 0: default */
	unsigned write_stall_ms;       /* 0: default */
	unsigned ping_ms, pong_ms;     /* 0: RELAY_SERVER_PING_MS, _PONG_MS (tests) */
};

struct relay_server_stats {
	size_t connections;    /* open now, handshaking included */
	size_t clients;	       /* authenticated now */
	size_t nodes;	       /* distinct node IDs among them */
	size_t peak_clients;   /* most authenticated at once */
	uint64_t accepted;     /* TCP connections */
	uint64_t refused_full; /* closed at once: max_clients reached */
	uint64_t http_requests, http_bad;
	uint64_t upgrades; /* 101 sent */
	uint64_t auth_ok, auth_bad_signature, auth_denied, auth_bad_token;
	uint64_t replaced; /* a newer connection with the same node ID took over */
	uint64_t closed_handshake_timeout, closed_pong_timeout, closed_write_stall;
	uint64_t closed_protocol_error; /* bad WebSocket or relay frames */
	uint64_t bytes_in, bytes_out;	/* every byte of the streams (after TLS) */
	uint64_t datagrams_in;		/* packets clients sent to the relay */
	uint64_t datagrams_relayed;	/* packets queued to their destination */
	uint64_t dropped_no_destination, dropped_queue_full;
	uint64_t endpoint_gone_sent, pings_sent, pongs_received, rate_limited;
	uint64_t stun_requests, stun_responses, stun_bad, stun_dropped;
	uint64_t tls_reloads;
	size_t memory; /* bytes the server holds for its clients (an estimate) */
};

struct relay_server;

/* Binds every listener and starts serving on loop. Returns 0, or a
 * negative errno with a one-line reason in err (an address in use, a
 * certificate that does not load, ...); nothing is left open then. */
int relay_server_start(uv_loop_t *loop, const struct relay_server_config *config,
		       struct relay_server **out, char *err, size_t err_cap);

/* Loads the certificate and key files again (SIGHUP): new connections use
 * them, open ones keep theirs. Returns 0, -ENOENT when the server has no
 * TLS, or another negative errno with the reason in err (the old ones stay). */
int relay_server_reload_tls(struct relay_server *server, char *err, size_t err_cap);

/* Closes every listener and connection; the server is freed once libuv has
 * closed its handles. NULL ok. */
void relay_server_close(struct relay_server *server);

void relay_server_get_stats(const struct relay_server *server, struct relay_server_stats *out);

enum relay_server_kind { RELAY_SERVER_HTTP, RELAY_SERVER_HTTPS, RELAY_SERVER_STUN };

/* The bound address of the i-th listener of a kind (with the real port
 * when 0 was asked for), or NULL past the last. */
const struct sockaddr *relay_server_address(const struct relay_server *server,
					    enum relay_server_kind kind, size_t i);

#endif
