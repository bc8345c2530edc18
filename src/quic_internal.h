/* What quic_endpoint.c and quic_conn.c share, and nothing else uses.
 *
 * The endpoint (quic_endpoint.c) owns the indexes over connections: the
 * list of all, the connection ID and reset token maps, the timer heap and
 * the list of connections with work for the next flush. It routes received
 * datagrams, answers what belongs to no connection (version negotiation,
 * Retry, stateless reset) and decides whether to accept a new client.
 *
 * A connection (quic_conn.c) owns its ngtcp2 connection, TLS session,
 * queues and buffers: it reads, writes, closes and reports to the user. */
#ifndef IRON_QUIC_INTERNAL_H
#define IRON_QUIC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>
#include <sodium.h>

#include "iron/cidmap.h"
#include "iron/netaddr.h"
#include "iron/pmtu.h"
#include "iron/quic.h"
#include "iron/ratelimit.h"
#include "iron/timerheap.h"

/* Length of the connection IDs we issue; short-header packets to us carry
 * exactly this many DCID bytes. */
#define QUIC_CID_LEN 8

/* Free packet buffers kept for reuse, so the hot path does not allocate. */
#define QUIC_POOL_MAX 1024

/* One IP packet, queued for sending or held while ngtcp2 may still need it
 * (stream data on /0 until acknowledged), or a /0 stream being received. */
struct quic_buf {
	struct quic_buf *next, *prev;
	int64_t stream_id; /* -1 when not on a stream */
	uint16_t len;
	uint16_t offset; /* /0 sending: bytes handed to ngtcp2 */
	uint8_t data[QUIC_MAX_STREAM_PACKET];
};

struct quic_buf_queue {
	struct quic_buf *head, *tail;
	size_t count;
};

/* A stream the peer opened, from its first frame until ngtcp2 forgets it
 * (stream_close) or the connection ends: what bounds the memory peers can
 * pin with streams (quic_config.stream_deadline_ns and max_peer_streams).
 * It is the stream's user data in ngtcp2. */
enum quic_stream_state {
	QUIC_STREAM_RECEIVING, /* the packet or message is not complete */
	QUIC_STREAM_DONE,      /* delivered; our FIN may wait for its ack */
	QUIC_STREAM_STOPPED,   /* refused, reset or past the deadline */
};

struct quic_stream {
	struct quic_stream *prev, *next;	   /* an endpoint list, by since */
	struct quic_stream *conn_prev, *conn_next; /* qc->streams */
	struct quic_conn *qc;
	struct quic_buf *buf; /* the bytes so far of a packet that came in pieces */
	int64_t id;
	uint64_t opened; /* first frame */
	uint64_t since;	 /* opened, or stopped */
	enum quic_stream_state state;
	/* In ep->streams_active (receiving or done) or ep->streams_stopped;
	 * not once its connection is closing. */
	bool listed;
};

struct quic_stream_list {
	struct quic_stream *head, *tail;
};

enum quic_close_kind { QUIC_CLOSE_NONE, QUIC_CLOSE_APPLICATION, QUIC_CLOSE_TRANSPORT };

/* A path validation's outcome, kept until the next flush tells the user
 * (ngtcp2 reports it from inside its calls, where the user may not call
 * back into ngtcp2, e.g. to migrate elsewhere). */
struct quic_path_event {
	struct netaddr local, remote;
	bool ok;
};
#define QUIC_PATH_EVENTS 2

struct quic_conn {
	struct quic_endpoint *ep;
	struct quic_conn *prev, *next;		   /* ep->conns */
	struct quic_conn *dirty_prev, *dirty_next; /* ep->dirty_head */
	bool dirty;
	struct timerheap_node timer; /* in ep->timers, by ngtcp2_conn_get_expiry() */

	ngtcp2_conn *conn;
	struct tls_session *tls;
	struct cidmap_entry *cids;   /* ours, in ep->cids */
	struct cidmap_entry *tokens; /* the peer's reset tokens, in ep->tokens */

	struct iron_id peer;
	enum quic_alpn alpn;
	bool is_client;
	bool half_open;	  /* accepted, not yet established */
	bool established; /* announced to the user */
	bool announced;	  /* the user knows this connection */
	bool confirmed;	  /* client: handshake confirmed (migration allowed) */
	bool finishing;	  /* the closed callback is running */
	bool stateless_reset;
	bool tls_done; /* the TLS session is no longer needed */
	uint64_t established_ns;

	/* A close we decided on, carried out at the next flush. */
	enum quic_close_kind close_kind;
	uint64_t close_code;
	int close_error;
	const char *close_reason;

	struct quic_buf_queue send_queue;   /* IP packets waiting for ngtcp2 */
	struct quic_buf_queue stream_queue; /* /1: packets too large for a datagram */
	struct quic_buf *held;		    /* bufs attached to streams */
	struct quic_buf *tx_current;	    /* the packet stream being written */
	struct quic_buf *ctl_pending;	    /* /1: a control message not yet on a stream */
	struct quic_buf *ctl_current;	    /* /1: the control stream being written */
	int64_t *fin_ids;		    /* /0 server: streams to finish */
	size_t nfin, fin_cap;
	struct quic_stream *streams; /* the peer's */
	unsigned dgram_refused;	     /* fresh packets the head datagram missed */
	bool tail_exposed;	     /* datagrams sent since the last tail probe */
	/* While datagrams wait for the window with packets in flight: when
	 * the next stall probe is due (0: not waiting). */
	uint64_t stall_probe_at;

	/* Path MTU discovery (pmtu.h), on the path in pmtu_local/remote. */
	struct pmtu_search pmtu;
	struct netaddr pmtu_local, pmtu_remote;
	uint64_t probe_seq; /* the last probe's DATAGRAM id (regular ones are 0) */
	/* /1: our hello (quic.h) is still to be sent; the peer's hello or
	 * probes said it takes packets on streams. */
	bool hello_pending;
	bool peer_stream_packets;
	unsigned rx_unacked;   /* packets read since the last write */
	uint64_t last_loss_ns; /* when ngtcp2 last declared a datagram of ours lost (0: never) */

	struct quic_path_event path_events[QUIC_PATH_EVENTS];
	uint8_t npath_events;

	/* Client: the last address a packet for this connection came from
	 * other than its path, and when (0: never). */
	struct netaddr stray;
	uint64_t stray_ns;

	struct quic_conn_stats stats;
	void *user;
};

struct quic_endpoint {
	struct quic_config config;
	struct quic_callbacks cb;
	struct tls_context *tls;
	bool has_key;
	bool trace;
	bool busy; /* inside receive, flush or expiry handling */

	struct quic_conn *conns;
	size_t nconns, nhalf_open;
	/* The next connection quic_endpoint_close_idle looks at; idle_walk:
	 * a walk is under way (else the next call starts at conns). */
	struct quic_conn *idle_cursor;
	bool idle_walk;
	struct quic_conn *dirty_head, *dirty_tail;
	struct timerheap timers;
	struct cidmap cids;   /* our connection IDs and clients' first DCIDs */
	struct cidmap tokens; /* the peers' stateless reset tokens */

	struct quic_buf *pool;
	size_t npool;

	/* Every connection's peer streams: being received or waiting to
	 * close (deadline stream_deadline_ns), and stopped (deadline
	 * stream_grace_ns), each oldest first. */
	struct quic_stream_list streams_active, streams_stopped;
	size_t nstreams; /* in both lists */
	struct quic_stream *stream_pool;
	size_t nstream_pool;
	struct ratelimit stream_log; /* info lines about connections closed for their streams */

	bool rng_seeded;
	uint8_t rng_key[crypto_stream_chacha20_KEYBYTES];
	uint64_t rng_counter;
	uint8_t reset_secret[32];
	uint8_t retry_secret[32];
	size_t retry_threshold; /* half-open connections from which we send Retry */
	double reset_tokens;
	uint64_t reset_last_ns;
	struct ratelimit refused_log; /* info lines about refused clients */

	/* New clients' first datagrams beyond QUIC_ACCEPT_BURST a turn wait
	 * here (a ring, allocated at the first use) for the next turns, so
	 * that a crowd of handshakes does not hold up established peers. */
	struct quic_deferred *deferred;
	size_t deferred_head, ndeferred;
	unsigned accepts; /* connections accepted this turn */

	uint64_t now; /* time of the current receive/expiry/flush, for callbacks */
	struct quic_endpoint_stats stats;
	uint8_t tx[QUIC_MAX_UDP_PAYLOAD];
};

/* The connection as its timer heap node's owner. */
static inline struct quic_conn *quic_conn_of_timer(struct timerheap_node *node)
{
	return (struct quic_conn *)(void *)((char *)node - offsetof(struct quic_conn, timer));
}

/* Puts a connection on the endpoint's list of work for the next flush. */
static inline void quic_conn_mark_dirty(struct quic_conn *qc)
{
	struct quic_endpoint *ep = qc->ep;

	if (qc->dirty || qc->finishing)
		return;
	qc->dirty = true;
	qc->dirty_next = NULL;
	qc->dirty_prev = ep->dirty_tail;
	if (ep->dirty_tail)
		ep->dirty_tail->dirty_next = qc;
	else
		ep->dirty_head = qc;
	ep->dirty_tail = qc;
}

static inline void quic_conn_unmark_dirty(struct quic_conn *qc)
{
	struct quic_endpoint *ep = qc->ep;

	if (!qc->dirty)
		return;
	if (qc->dirty_prev)
		qc->dirty_prev->dirty_next = qc->dirty_next;
	else
		ep->dirty_head = qc->dirty_next;
	if (qc->dirty_next)
		qc->dirty_next->dirty_prev = qc->dirty_prev;
	else
		ep->dirty_tail = qc->dirty_prev;
	qc->dirty = false;
	qc->dirty_prev = qc->dirty_next = NULL;
}

/* ---------------------------------------------------------------------- */
/* quic_endpoint.c, for connections */

/* Fills out with randomness: seeded (repeatable) when the configuration
 * has a seed, else from the system. */
void quic_endpoint_random(struct quic_endpoint *ep, uint8_t *out, size_t len);

/* A fresh random connection ID of len bytes not in use on this endpoint.
 * Returns 0 or -EEXIST (eight tries collided). */
int quic_endpoint_new_cid(struct quic_endpoint *ep, ngtcp2_cid *cid, size_t len);

/* Enters a new connection in the endpoint's list and timer heap. Returns 0
 * or -ENOMEM. */
int quic_endpoint_attach(struct quic_endpoint *ep, struct quic_conn *qc);

/* Takes a connection out of everything attach and later work put it in:
 * the list, the heap, the flush list, both maps, the half-open count. */
void quic_endpoint_detach(struct quic_endpoint *ep, struct quic_conn *qc);

/* ---------------------------------------------------------------------- */
/* quic_conn.c, for the endpoint */

/* Creates the connection for a client's Initial (not read yet). odcid is
 * the client's first DCID recovered from a verified Retry token, or NULL.
 * Returns NULL on failure (nothing is left behind). */
struct quic_conn *quic_conn_accept(struct quic_endpoint *ep, const struct sockaddr *local,
				   const struct sockaddr *remote, const ngtcp2_pkt_hd *hd,
				   const ngtcp2_cid *odcid, uint64_t now);

/* Feeds one datagram to the connection; on a fatal error the connection
 * ends (and is freed). */
void quic_conn_read(struct quic_conn *qc, const struct sockaddr *local,
		    const struct sockaddr *remote, const uint8_t *data, size_t len, uint64_t now);

/* Writes what the connection has to send, reports path validations and
 * carries out a requested close. Returns false when the connection ended
 * (and is freed). */
bool quic_conn_write(struct quic_conn *qc, uint64_t now);

/* Runs the connection's ngtcp2 timers; on a fatal error the connection
 * ends (and is freed). */
void quic_conn_expire(struct quic_conn *qc, uint64_t now);

/* Frees a connection and everything it holds, without callbacks. */
void quic_conn_free(struct quic_conn *qc);

/* When the next peer stream reaches its deadline; UINT64_MAX if none. */
uint64_t quic_streams_next_deadline(const struct quic_endpoint *ep);

/* Stops the peer streams past stream_deadline_ns and closes the
 * connections of stopped ones past stream_grace_ns; the work goes out at
 * the next flush. */
void quic_streams_expire(struct quic_endpoint *ep, uint64_t now);

/* Frees the endpoint's spare stream records. */
void quic_streams_free_pool(struct quic_endpoint *ep);

#endif
