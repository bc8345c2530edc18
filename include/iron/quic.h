/* iron's QUIC transport (SPEC section 10): an endpoint that owns many
 * connections, dialled and accepted, over ngtcp2 with TLS from tls.h.
 *
 * The endpoint is pure: it never touches a socket or a clock. Datagrams and
 * timestamps (nanoseconds, any monotonic origin) go in through
 * quic_endpoint_receive() and the timer functions; datagrams come out through
 * the send callback. The caller drives it like this:
 *
 *     for each datagram read:   quic_endpoint_receive(...)
 *     after each batch:         quic_endpoint_flush(ep, now)
 *     timer at next_expiry():   quic_endpoint_handle_expiry(ep, now)
 *                               (which flushes)
 *
 * Callbacks may call quic_conn_send_packet(), quic_conn_close(),
 * quic_connect(), quic_conn_migrate() (from path_validated) and the
 * accessors, but must not delete the endpoint;
 * receive, flush and handle_expiry called from a callback do nothing. A
 * connection is handed to the user by the established callback (or by
 * quic_connect() for dialled ones) and stays valid until its closed
 * callback returns.
 *
 * Application protocols: on iron/packet/1 every IP packet is one DATAGRAM
 * frame, in both directions, unless the path cannot carry it in one: then,
 * to a peer that says it takes them (below), it goes on a new
 * bidirectional stream ended by FIN, which the receiver reads to its end
 * and finishes empty, as on /0. On iron/packet/0 (the original's protocol)
 * the dialling side sends each packet on a new bidirectional stream ended
 * by FIN; the accepting side only receives.
 *
 * Path MTU: every connection measures the UDP payload its path carries
 * (pmtu.h) with DATAGRAM probes, and sizes all it sends to that (1200
 * bytes, QUIC's minimum, until a probe proves more; see
 * quic_conn_max_packet_size()). A probe holds an IPv6 packet with no
 * payload (next header 59) from our overlay address to the peer's, then a
 * marker: "IRON", version 1, flags (1: "send me packets too large for a
 * datagram on streams"). On /1 a 48-byte one (a hello) also goes once
 * after the handshake, since on a small path the first probes are lost.
 * A receiver that delivers such a packet, as an older iron does, has its
 * kernel discard it; iron drops it on arrival and takes note of the
 * flags. */
#ifndef IRON_QUIC_H
#define IRON_QUIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "iron/id.h"
#include "iron/identity.h"

struct quic_endpoint;
struct quic_conn;

enum quic_alpn { QUIC_ALPN_NONE, QUIC_ALPN_PACKET1, QUIC_ALPN_PACKET0 };
#define QUIC_ALPN_FLAG(alpn) (1u << (alpn))
#define QUIC_ALPN_DEFAULT    (QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1) | QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0))

enum quic_cc { QUIC_CC_CUBIC, QUIC_CC_BBR, QUIC_CC_RENO };

/* quic_config.retry_half_open: validate every new client's address. */
#define QUIC_RETRY_ALWAYS SIZE_MAX

/* Largest UDP payload iron sends (a 1500-byte IPv6 path); with 8-byte
 * connection IDs a 1420-byte IP packet fits one DATAGRAM frame in it. */
#define QUIC_MAX_UDP_PAYLOAD 1452
/* Largest IP packet carried on iron/packet/0 (the receiver's limit). */
#define QUIC_MAX_STREAM_PACKET 1500
/* iron's own messages between iron/packet/1 peers (hole-punching
 * candidates) travel on unidirectional streams, one message per stream,
 * at most this long; each side lets the other send 32 over a connection's
 * life (ngtcp2 0.12.1 never returns a peer's stream credit; a message
 * queued past that waits, replaced by newer ones, and is never sent). A
 * peer that allows none (an older iron, iroh) is simply sent none. */
#define QUIC_CONTROL_MAX 1024

/* Error codes of the closed callback besides 0 (closed by us):
 * -ECONNRESET closed or reset by the peer; -ETIMEDOUT idle or handshake
 * timeout; -EKEYREJECTED the peer's key was not the one dialled or not an
 * acceptable key; -EACCES the peer refused our key (TLS alert
 * access_denied: we are not on its allow-list); -EPROTO handshake or
 * protocol failure; -ENOMEM. */

struct quic_callbacks {
	void *user;
	/* Send one UDP datagram from local to remote. */
	void (*send)(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		     const uint8_t *data, size_t len);
	/* What send() queued should leave now, not at the end of the batch
	 * of reads being handled: an ACK for a peer that is losing packets.
	 * May be NULL. */
	void (*flush)(void *user);
	/* Handshake done and peer authenticated (client: handshake confirmed,
	 * or earlier when the server's data arrives first; server: handshake
	 * completed). Return 0 to keep the connection, negative to close it
	 * (the tie-break between simultaneous dials). */
	int (*established)(void *user, struct quic_conn *conn);
	/* One IP packet arrived (a DATAGRAM frame on /1, a finished stream on
	 * /0). The data is only valid during the call. */
	void (*packet)(void *user, struct quic_conn *conn, const uint8_t *data, size_t len);
	/* The connection is gone; it is freed right after this returns. Only
	 * for connections the user has: dialled ones, and accepted ones once
	 * established (failed incoming handshakes are only logged). error is 0
	 * for a close by us, else one of the codes above; reason is a short
	 * text for humans ("closed by peer (application code 0)", "idle
	 * timeout", "handshake failed: peer key mismatch"). */
	void (*closed)(void *user, struct quic_conn *conn, int error, const char *reason);
	/* A path validation ended (RFC 9000 §8.2), reported at the flush after
	 * the read or timer that decided it: on a client, of the path given to
	 * quic_conn_migrate(); on a server, of a path the client moved to
	 * (the server sends on the new path at once and falls back to the
	 * old one if it fails). ok: validated, and the connection now uses
	 * (local, remote), which quic_conn_local()/quic_conn_remote() show;
	 * else it failed or was given up for a newer migration, and the
	 * connection stays on its path. May be NULL. */
	void (*path_validated)(void *user, struct quic_conn *conn, const struct sockaddr *local,
			       const struct sockaddr *remote, bool ok);
	/* A control message (quic_conn_send_control()) arrived on an
	 * iron/packet/1 connection. May be NULL (ignored). */
	void (*control)(void *user, struct quic_conn *conn, const uint8_t *data, size_t len);
	/* Access control on accepted connections: asked during the handshake,
	 * once the client has proved it holds the key of peer; false refuses
	 * it with the TLS alert access_denied, so the connection is never
	 * established (the refusal is logged like other refused clients). It
	 * runs inside the TLS stack: it may only look at the caller's own
	 * state, and must call nothing of this interface. May be NULL: every
	 * key is admitted. */
	bool (*admit)(void *user, const struct iron_id *peer);
};

struct quic_config {
	/* Our key. NULL makes a client-only endpoint that presents no key
	 * (servers refuse it; for tests). Borrowed; must outlive the endpoint. */
	const struct iron_identity *identity;
	uint64_t idle_timeout_ns;      /* 0: 30 s */
	uint64_t handshake_timeout_ns; /* 0: 10 s */
	uint64_t initial_rtt_ns;       /* 0: 50 ms (ngtcp2's 333 ms delays the first packets) */
	enum quic_cc congestion_control;
	size_t max_connections; /* 0: 4096 */
	size_t max_half_open;	/* accepted connections still handshaking; 0: 256 */
	/* From this many half-open connections on, a client must first prove
	 * its address with a Retry round trip (RFC 9000 §8.1.2) before we
	 * keep any state for it; 0: max_half_open / 4; QUIC_RETRY_ALWAYS:
	 * every new client; max_half_open or more: never. */
	size_t retry_half_open;
	size_t send_queue_len; /* packets queued per connection; 0: 256 */
	/* Largest packet taken from an iron/packet/0 stream (a longer stream
	 * is reset and dropped); 0 or more than 1500: 1500. */
	size_t max_stream_packet;
	/* Streams a peer opens (an iron/packet/0 packet each, iron/packet/1
	 * control messages, and those we refuse) hold memory from their first
	 * frame until both sides are done with them. Such a stream must be
	 * done within stream_deadline_ns (0: 5 s), else it is stopped
	 * (STOP_SENDING and RESET_STREAM); a stopped stream the peer has not
	 * reset within stream_grace_ns more (0: 3 s) closes its connection.
	 * At most max_peer_streams (0: 4096) such streams exist on the
	 * endpoint at once: at that many, the connection holding the oldest
	 * is closed to make room for a new one. A connection has at most 100
	 * at once (our transport parameters; iroh's own limit), and each costs
	 * at most the packet so far plus ngtcp2's state for it. */
	uint64_t stream_deadline_ns;
	uint64_t stream_grace_ns;
	size_t max_peer_streams;
	/* QUIC_ALPN_FLAG() bits offered when dialling; 0 with no extra
	 * protocol: both. */
	unsigned client_alpns;
	/* One more protocol name offered when dialling (tests); NULL: none. */
	const char *client_extra_alpn;
	/* Non-zero: connection IDs and other non-secret randomness come from
	 * this seed, so tests are repeatable. 0: from the system. TLS keys are
	 * always random. */
	uint64_t seed;
};

/* Creates an endpoint. Returns 0, -EINVAL (bad configuration, TLS setup
 * failure) or -ENOMEM. */
int quic_endpoint_new(const struct quic_config *config, const struct quic_callbacks *callbacks,
		      struct quic_endpoint **out);

/* Frees the endpoint and every connection, sending nothing and calling no
 * callback. NULL is fine. */
void quic_endpoint_del(struct quic_endpoint *ep);

/* Feeds one received UDP datagram: to its connection by destination
 * connection ID, or to a new accepted connection (an Initial; under load,
 * only one carrying the token of our Retry), or answered with a Retry,
 * version negotiation or a stateless reset. Bad input is dropped and
 * counted. Call quic_endpoint_flush() after a batch. */
void quic_endpoint_receive(struct quic_endpoint *ep, const struct sockaddr *local,
			   const struct sockaddr *remote, const uint8_t *data, size_t len,
			   uint64_t now_ns);

/* Dials peer at remote from local. The first packets leave at the next
 * flush. *out is valid until its closed callback. Returns 0, -EINVAL (not an
 * IPv4/IPv6 address, TLS or ngtcp2 setup failure), -EMFILE (max_connections
 * reached) or -ENOMEM. */
int quic_connect(struct quic_endpoint *ep, const struct iron_id *peer, const struct sockaddr *local,
		 const struct sockaddr *remote, uint64_t now_ns, struct quic_conn **out);

/* Queues one IP packet for the peer: a DATAGRAM frame on /1 (or a
 * stream when none holds it, see above); a new
 * bidirectional stream ended by FIN on /0 (dialled connections only).
 * Allowed before the handshake completes. The queue is bounded: when full
 * the oldest packet is dropped (counted in packets_dropped). A packet
 * the path turns out unable to carry (no stream to the peer) is dropped
 * and counted too. Returns 0; -EMSGSIZE when it is larger than
 * quic_conn_max_packet_size(); -EPERM on an accepted /0 connection;
 * -ENOTCONN when the connection is closing. */
int quic_conn_send_packet(struct quic_conn *conn, const uint8_t *data, size_t len, uint64_t now_ns);

/* The largest IP packet quic_conn_send_packet() takes now: what an ICMPv6
 * Packet Too Big should announce for a larger one. On /0: 1500. On /1:
 * once the path MTU search has settled, the largest packet a DATAGRAM
 * frame holds on this path, but never less than 1280 (IPv6's minimum
 * link MTU: a peer that takes streams gets 1201..1280-byte packets on
 * them); while it runs, 1500 to a peer that takes streams (larger packets
 * wait on streams, none is refused on a guess), else the size a 1452-byte
 * UDP payload holds, as before path MTU discovery. Before the handshake
 * the latter. */
size_t quic_conn_max_packet_size(const struct quic_conn *conn);

/* Writes everything pending on every connection that has something to send,
 * and carries out closes. Call once after each batch of receives/sends. */
void quic_endpoint_flush(struct quic_endpoint *ep, uint64_t now_ns);

/* When quic_endpoint_handle_expiry() must run next; UINT64_MAX if never,
 * 0 when a flush is due (quic_endpoint_flush() was not called after a
 * receive or send). */
uint64_t quic_endpoint_next_expiry(const struct quic_endpoint *ep);

/* Runs the timers that are due (retransmission, acknowledgement, pacing,
 * keep-alive, idle and handshake timeouts), then flushes. */
void quic_endpoint_handle_expiry(struct quic_endpoint *ep, uint64_t now_ns);

/* Closes a connection with an application CONNECTION_CLOSE so the peer
 * learns at once. The frame is written and the closed callback (error 0)
 * called at the next flush. */
void quic_conn_close(struct quic_conn *conn, uint64_t app_error_code, uint64_t now_ns);

/* Calls fn for every connection the user has (dialled ones, and accepted
 * ones once established). fn may quic_conn_close() the connection it is
 * given (carried out at the next flush); it must not dial. */
void quic_endpoint_foreach(struct quic_endpoint *ep, void (*fn)(void *ctx, struct quic_conn *conn),
			   void *ctx);

/* Closes every connection as quic_conn_close(conn, 0) does, and flushes
 * (shutdown). */
void quic_endpoint_close_all(struct quic_endpoint *ep, uint64_t now_ns);

/* Closes, as quic_conn_close(conn, 0) does, every established connection
 * that has carried no IP packet in either direction for idle_ns (counted
 * from its establishment when it never has), dialled or accepted, on
 * either protocol. Keep-alives and stream frames without a packet do not
 * count. Looks at no more than budget connections a call, going on where
 * the previous call stopped (one walk of 10 000 connections held the loop
 * for 3-8 ms); *finished tells whether this call reached the last one, so
 * that the next starts over. Connections that arrive during a walk wait
 * for the next. Returns how many it closed. */
size_t quic_endpoint_close_idle(struct quic_endpoint *ep, uint64_t idle_ns, uint64_t now_ns,
				size_t budget, bool *finished);

/* Sends a PING when nothing was sent for interval_ns, keeping the
 * connection and NAT bindings alive; 0 turns it off (the default). */
void quic_conn_set_keepalive(struct quic_conn *conn, uint64_t interval_ns);

/* Starts a key update (RFC 9001 §6): both directions move to fresh keys.
 * ngtcp2 also starts one as a key nears its usage limit; this is for
 * operators and tests. Returns 0, -ENOTCONN (not established or closing)
 * or -EAGAIN (the previous update is not confirmed yet). */
int quic_conn_update_keys(struct quic_conn *conn, uint64_t now_ns);

/* Moves a dialled connection to a new path (RFC 9000 §9): a PATH_CHALLENGE
 * goes out on (local, remote) at the next flush, and once the peer answers,
 * the connection continues there; path_validated tells the outcome. Until
 * then, and if validation fails (after about three PTOs), it stays on its
 * current path. ngtcp2 0.12.1 needs a local address other than the current
 * one: a relayed path uses placeholder addresses (netaddr_relay()) for both
 * ends. A migration started while another is pending replaces it (the
 * earlier one is reported as failed). Returns 0; -EPERM on an accepted
 * connection; -ENOTCONN before the handshake is confirmed or once closing;
 * -EINVAL when local equals the current local address (ngtcp2 compares
 * family, address and port) or an address is not IPv4/IPv6; -EAGAIN when
 * the peer has given us no spare connection ID (yet); -EOPNOTSUPP when the
 * peer disabled active migration; -ENOMEM. */
int quic_conn_migrate(struct quic_conn *conn, const struct sockaddr *local,
		      const struct sockaddr *remote, uint64_t now_ns);

/* The same, but the connection moves at once, before the new path
 * validates, with a fresh congestion state there; if validation fails it
 * stays on the new path all the same. For leaving a path that went
 * silent: with quic_conn_migrate() the old path's window, full of packets
 * nobody will acknowledge, held the PATH_CHALLENGE back (ngtcp2 0.12.1
 * writes it only below the congestion window, or in a PTO probe, and the
 * PTO backs off while the path is dead), often until the validation timed
 * out. Same return values. */
int quic_conn_migrate_now(struct quic_conn *conn, const struct sockaddr *local,
			  const struct sockaddr *remote, uint64_t now_ns);

/* Accessors. The peer is the dialled ID on a dialled connection before the
 * handshake, and the authenticated ID once established. */
/* Sends a control message on a new unidirectional stream of an
 * established iron/packet/1 connection; it replaces one queued and not yet
 * started. Returns 0, -EINVAL (another ALPN, or len 0 or over
 * QUIC_CONTROL_MAX) or -ENOMEM. */
int quic_conn_send_control(struct quic_conn *conn, const uint8_t *data, size_t len);

const struct iron_id *quic_conn_peer(const struct quic_conn *conn);
enum quic_alpn quic_conn_alpn(const struct quic_conn *conn);
bool quic_conn_is_client(const struct quic_conn *conn);
bool quic_conn_is_established(const struct quic_conn *conn);
void quic_conn_set_user(struct quic_conn *conn, void *user);
void *quic_conn_user(const struct quic_conn *conn);
/* The current path; it changes when a migration is validated (on either
 * side). The pointers stay valid as long as the connection. */
const struct sockaddr *quic_conn_remote(const struct quic_conn *conn);
const struct sockaddr *quic_conn_local(const struct quic_conn *conn);
/* A dialled connection: the last address a packet for it came from that
 * was not its current path, with the time it came in *at_ns; NULL when
 * none did. ngtcp2 drops such packets unread (only a client moves a
 * connection), so they prove nothing: anyone who saw the connection ID can
 * send one. Read as a hint: after the peer's NAT gave it a new port, its
 * packets come from there, and a new dial to it may get through. */
const struct sockaddr *quic_conn_stray_remote(const struct quic_conn *conn, uint64_t *at_ns);

struct quic_conn_stats {
	uint64_t rtt_ns; /* smoothed */
	uint64_t min_rtt_ns;
	uint64_t bytes_sent; /* UDP payload bytes */
	uint64_t bytes_received;
	uint64_t packets_sent;	   /* IP packets handed to QUIC */
	uint64_t packets_received; /* IP packets delivered */
	uint64_t packets_dropped;  /* IP packets dropped: queue full, too big */
	uint64_t stall_probes;	   /* probes sent while datagrams waited for the window */
	uint64_t last_activity_ns; /* last IP packet sent or received */
	uint64_t last_received_ns; /* last QUIC packet read on the current path */
	uint64_t last_sent_ns;	   /* last ack-eliciting packet sent; 0: none */
	uint64_t bytes_in_flight;  /* sent, neither acknowledged nor declared lost */
	uint64_t cwnd;		   /* congestion window */
	/* Path MTU: the largest UDP payload known to pass on the current
	 * path (1200 until a probe proves more), whether the search has
	 * settled, the probes sent and lost, the largest packet one
	 * DATAGRAM frame holds now, quic_conn_max_packet_size(), and the /1
	 * packets that went on streams for want of room in a datagram. */
	uint64_t path_mtu;
	bool path_mtu_settled;
	bool peer_stream_packets; /* the peer takes packets on streams */
	uint64_t pmtu_probes_sent, pmtu_probes_lost;
	uint64_t max_datagram;
	uint64_t max_packet;
	uint64_t stream_packets_sent;
};
void quic_conn_get_stats(const struct quic_conn *conn, struct quic_conn_stats *stats);
/* The smoothed RTT alone, in ns: what quic_conn_get_stats() gathers costs
 * ten times more, and housekeeping asks every peer's connection. */
uint64_t quic_conn_rtt(const struct quic_conn *conn);

struct quic_endpoint_stats {
	size_t connections;
	size_t half_open;
	uint64_t initials_dropped;  /* over max_half_open / max_connections */
	uint64_t datagrams_dropped; /* undecodable, unknown connection */
	uint64_t version_negotiations_sent;
	uint64_t stateless_resets_sent;
	uint64_t stale_resets_ignored; /* for connection IDs we retired (see quic_conn_read) */
	uint64_t retries_sent;	       /* Retry packets: Initials without a token under load */
	uint64_t retry_tokens_invalid; /* Initials dropped: forged, expired or other address */
	size_t peer_streams;	       /* streams peers opened that are not gone yet */
	uint64_t streams_expired;      /* stopped at stream_deadline_ns */
	uint64_t stream_stuck_closes;  /* connections closed: a stopped stream not reset */
	uint64_t stream_budget_closes; /* connections closed at max_peer_streams */
	uint64_t ack_flushes;	       /* ACKs sent at once for peers losing packets */
};
void quic_endpoint_get_stats(const struct quic_endpoint *ep, struct quic_endpoint_stats *stats);

#endif
