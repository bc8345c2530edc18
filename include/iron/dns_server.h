/* The DNS listeners around dns_answer() (SPEC section 5): UDP and TCP on
 * loopback, queries handed over by the router (in-tunnel DNS), and
 * forwarding of names outside .iron to upstream servers, all on one libuv
 * loop and without blocking.
 *
 * Limits: at most max_in_flight forwarded queries at a time (beyond that
 * queries are dropped and counted), at most max_tcp_conns TCP connections
 * (beyond that a new one closes the connection idle the longest, the one
 * with the oldest query among those not waiting on an upstream; when all
 * wait, the new one is closed at once), TCP messages of at most
 * DNS_SERVER_TCP_QUERY_MAX bytes, idle TCP connections closed after
 * tcp_idle_timeout_ms (a client that sends half a message and stops is
 * idle). A TCP message shorter than a DNS header or longer than the limit,
 * or that is a response, closes the connection. Queries are forwarded over
 * UDP only; a truncated upstream reply is passed on as it is.
 *
 * Against blind spoofing (as unbound does): each attempt at an upstream
 * leaves from a new socket, connected to that upstream, on a port the
 * kernel picks at random, with a random ID; a reply is taken only when it
 * comes from that upstream, carries that ID and echoes the question (one
 * question: the name in any case, the type, the class). Anything else,
 * error replies without a question included, is ignored and counted. */
#ifndef IRON_DNS_SERVER_H
#define IRON_DNS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "iron/id.h"
#include "iron/netaddr.h"

#define DNS_SERVER_LISTEN_MAX	       8
#define DNS_SERVER_UPSTREAM_MAX	       8
#define DNS_SERVER_TAG_MAX	       64
#define DNS_SERVER_TCP_QUERY_MAX       4096
#define DNS_SERVER_UPSTREAM_TIMEOUT_MS 3000
#define DNS_SERVER_TCP_IDLE_MS	       10000
#define DNS_SERVER_IN_FLIGHT_MAX       256
#define DNS_SERVER_TCP_CONNS_MAX       64
/* Replies are counted per rcode 0..16 (16 is BADVERS). */
#define DNS_SERVER_RCODE_SLOTS 17

struct dns_server;

struct dns_server_config {
	uv_loop_t *loop;
	/* Port of every listener; 0 picks a free port, the same for all of
	 * them (read it back with dns_server_port()). */
	uint16_t port;
	/* IP literals to listen on, UDP and TCP each; NULL (or n_listen 0)
	 * means 127.0.0.1 and ::1. An IPv6 address that cannot be bound
	 * because IPv6 is disabled is skipped with a warning. */
	const char *const *listen;
	size_t n_listen;
	/* Upstream servers for names outside .iron, tried in order (copied).
	 * None: such names are REFUSED. */
	const struct netaddr *upstreams;
	size_t n_upstreams;
	/* Limits; 0 selects the DNS_SERVER_* default. */
	unsigned upstream_timeout_ms;
	unsigned tcp_idle_timeout_ms;
	unsigned max_in_flight;
	unsigned max_tcp_conns;
	/* Called with the node ID of every AAAA answer given for a valid
	 * <id>.iron name (the daemon registers it). May be NULL. Must not
	 * close the server. */
	void (*on_node)(void *user, const struct iron_id *id);
	void *user;
};

struct dns_server_stats {
	uint64_t queries;			  /* messages received, every path */
	uint64_t answers[DNS_SERVER_RCODE_SLOTS]; /* replies sent, by rcode */
	uint64_t truncated;			  /* replies sent with TC */
	uint64_t dropped;			  /* messages given no reply, for any reason */
	uint64_t dropped_in_flight;		  /* of which: over the in-flight cap */
	uint64_t forwarded;			  /* queries sent upstream (first attempt) */
	uint64_t upstream_timeouts;		  /* attempts that timed out */
	uint64_t upstream_mismatched;		  /* upstream datagrams not taken as the answer */
	uint64_t tcp_accepted;
	uint64_t tcp_rejected; /* closed at once: too many connections, all busy */
	uint64_t tcp_evicted;  /* idle ones closed to make room for a new one */
	uint64_t tcp_timeouts; /* closed for being idle */
	uint64_t tcp_garbage;  /* closed for a bad message */
	unsigned in_flight;    /* forwarded queries waiting now */
	unsigned tcp_conns;    /* open connections now */
};

/* Called with the answer to a dns_server_query(): tag is the caller's tag
 * (a copy, valid during the call), answer/len the reply to send back. */
typedef void dns_server_reply_fn(void *user, const void *tag, const uint8_t *answer, size_t len);

/* Binds every listener and starts serving on config->loop. Returns 0 and the server in *out, or
 * -errno with nothing left open: -EADDRINUSE when the port is taken,
 * -EINVAL for a bad listen address or configuration, -EADDRNOTAVAIL when no
 * address could be bound, other -errno from the system. */
int dns_server_new(const struct dns_server_config *config, struct dns_server **out);

/* The port the listeners are bound to. */
uint16_t dns_server_port(const struct dns_server *server);

/* Answers a query that did not come through the listeners (the router's
 * in-tunnel DNS), with UDP size rules. reply is called exactly once when
 * this returns 0: before this returns for names of .iron (and REFUSED or
 * errors), later for forwarded names (with SERVFAIL when every upstream
 * failed). tag (at most DNS_SERVER_TAG_MAX bytes) is copied and given back
 * to reply, so the caller can address the answer. Returns 0; -EBADMSG when
 * the message gets no reply at all; -ENOBUFS when dropped over the
 * in-flight cap; -EINVAL when tag_len is too large; -ESHUTDOWN once the
 * server is closing. In the last four cases reply is not called. */
int dns_server_query(struct dns_server *server, const uint8_t *query, size_t len, const void *tag,
		     size_t tag_len, dns_server_reply_fn *reply, void *user);

/* A snapshot of the counters. */
void dns_server_stats(const struct dns_server *server, struct dns_server_stats *out);

/* Closes every listener, connection and timer; forwarded queries still
 * waiting get no answer. The server is freed once libuv has closed all its
 * handles, after which closed(user) is called if not NULL. The server must
 * not be used after this call. */
void dns_server_close(struct dns_server *server, void (*closed)(void *user), void *user);

#endif
