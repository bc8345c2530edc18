/* One QUIC connection over ngtcp2: its callbacks, writing (datagrams with
 * the tail and stall probes, /0 streams, bursts), the send queue, close,
 * keep-alive, key update, migration and the accessors. The endpoint
 * (quic_endpoint.c) routes datagrams to it and runs its timer. */
#define LOG_MODULE "quic"
#include "quic_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto.h>
#include <sodium.h>

#include "iron/addr.h"
#include "iron/bytes.h"
#include "iron/ipv6.h"
#include "iron/log.h"
#include "iron/pagealloc.h"
#include "iron/tls.h"

/* Flow control: the connection window must carry a fast link's
 * bandwidth-delay product. A peer's stream only ever carries one IP packet
 * or control message: its window is that plus one byte (so a longer one
 * shows) and is never extended, which also bounds what ngtcp2 buffers for
 * it out of order. */
#define INITIAL_MAX_DATA	(8 * 1024 * 1024)
#define MAX_WINDOW		(24 * 1024 * 1024)
#define INITIAL_MAX_STREAM_DATA (64 * 1024)
/* Packet streams the peer may have open at once (one per packet in
 * flight, until its receiver's FIN is acknowledged): the dialling side of
 * an iron/packet/0 connection, either side of iron/packet/1 (packets too
 * large for a datagram); extended as they close. 100 is what iroh allows
 * (quinn's default), so an original node sends to us as fast as to its own
 * kind: about 100 packets a round trip. It was 1000: 1.5 GB for 1000
 * connections holding their streams open (issue 15). */
#define INITIAL_MAX_STREAMS_BIDI 100
#define MAX_DATAGRAM_FRAME_SIZE	 65535
/* ngtcp2 0.12.1 never closes a peer's unidirectional stream (fixed in
 * 0.14), so its credit never comes back: this is how many control messages
 * a peer may send over a connection's whole life. Candidates go on
 * connecting and when they change (a network change, a new mapping): 32 is
 * plenty, and each costs only ngtcp2's small stream record. */
#define CONTROL_STREAMS	 32
#define ACTIVE_CID_LIMIT 4

/* The marker after the IPv6 header of our path MTU probes and hello
 * (quic.h): "IRON", a version and flags. */
#define MARK_LEN	    8
#define MARK_VERSION	    1
#define MARK_STREAM_PACKETS 0x01
#define HELLO_LEN	    (IPV6_HEADER_LEN + MARK_LEN)

/* Worst-case bytes around a DATAGRAM frame's payload in a short-header
 * packet besides the DCID: first byte, 4-byte packet number, AEAD tag,
 * frame type and a 2-byte length. */
#define DATAGRAM_OVERHEAD (1 + 4 + 16 + 1 + 2)
/* Room for the ACK frame ngtcp2 may put in the same packet. */
#define ACK_ROOM 256

/* Application error code of RESET_STREAM/STOP_SENDING for streams we do not
 * take (any stream on /1, oversized packets on /0). */
#define APP_ERROR_STREAM_REFUSED 1

/* Acknowledgements under loss (issue 15). A sender whose congestion window
 * is full waits for an ACK; when the only ACK for a flight is lost, it
 * waits for the probe timeout (PTO), which RFC 9002 makes smoothed RTT +
 * 4 RTT variance + the peer's max_ack_delay, and doubles at each PTO
 * without an answer. Measured with 20 % random loss each way between two
 * namespaces (bench/run --loss), an iron/packet/1 sender spent most of its
 * time there: the receiver wrote one ACK per read batch (up to 256 packets),
 * so one lost packet in five cost a whole flight, and the default
 * max_ack_delay of 25 ms made each such wait ~100 round trips of the
 * path; the inner TCP, starved, fell into its own retransmission timeouts.
 *
 * So the receiver acknowledges at least every ACK_EVERY packets it reads,
 * in the middle of a batch (RFC 9000 section 13.2.2 recommends every 2
 * ack-eliciting packets; 8 keeps several ACKs per flight at a fraction of
 * the cost: without loss, daemon CPU per GB rose by ~45 % at 2 and by
 * ~15 % at 8, in noisy runs). And it promises a max_ack_delay of 1 ms, not
 * 25: it never holds an ACK longer than one pass of the event loop anyway
 * (ngtcp2 only delays the ACK of a lone packet, by at most this), so a
 * lost ACK costs the sender a PTO of a few milliseconds. With the window
 * probe below, at 20 % loss iron went from 44 to 312 Mbit/s (medians of 3,
 * wireguard-go 316 and 357 in the same runs; bench/README.md). */
#define ACK_EVERY     8
#define MAX_ACK_DELAY (1 * NGTCP2_MILLISECONDS)
/* ... but only while this connection loses packets of its own (a
 * datagram declared lost in the last ACK_LOSSY_NS, loss recovery, or a
 * probe timeout running); on a clean path every ACK_EVERY_CLEAN. Each ACK
 * is a packet both ends pay for (written, encrypted, sent; read,
 * decrypted, taken by ngtcp2): at 8, a bulk transfer's receiver sent one
 * for every 8 packets it got. The loss a receiver sees on its own packets
 * (the inner TCP's ACKs, at least) stands for the path's in the direction
 * its ACKs travel. */
#define ACK_EVERY_CLEAN 32
#define ACK_LOSSY_NS	(1000 * NGTCP2_MILLISECONDS)

/* Bound on packets written for one connection per flush, so one connection
 * cannot starve the others; the rest goes out at the next expiry. */
#define WRITE_BURST 1024

/* ---------------------------------------------------------------------- */
/* Randomness */

static void on_rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
	quic_endpoint_random(rand_ctx->native_handle, dest, destlen);
}

/* ---------------------------------------------------------------------- */
/* Packet buffers */

static struct quic_buf *buf_get(struct quic_endpoint *ep)
{
	struct quic_buf *buf = ep->pool;

	if (buf) {
		ep->pool = buf->next;
		ep->npool--;
	} else {
		buf = malloc(sizeof(*buf));
		if (!buf)
			return NULL;
	}
	buf->next = buf->prev = NULL;
	buf->stream_id = -1;
	buf->len = buf->offset = 0;
	return buf;
}

static void buf_put(struct quic_endpoint *ep, struct quic_buf *buf)
{
	if (ep->npool >= QUIC_POOL_MAX) {
		free(buf);
		return;
	}
	buf->next = ep->pool;
	ep->pool = buf;
	ep->npool++;
}

static void queue_push(struct quic_buf_queue *q, struct quic_buf *buf)
{
	buf->next = NULL;
	if (q->tail)
		q->tail->next = buf;
	else
		q->head = buf;
	q->tail = buf;
	q->count++;
}

static struct quic_buf *queue_pop(struct quic_buf_queue *q)
{
	struct quic_buf *buf = q->head;

	if (!buf)
		return NULL;
	q->head = buf->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	buf->next = NULL;
	return buf;
}

static void held_add(struct quic_conn *qc, struct quic_buf *buf)
{
	buf->prev = NULL;
	buf->next = qc->held;
	if (qc->held)
		qc->held->prev = buf;
	qc->held = buf;
}

/* Returns a buffer ngtcp2 no longer needs to the pool. */
static void held_release(struct quic_conn *qc, struct quic_buf *buf)
{
	if (buf->prev)
		buf->prev->next = buf->next;
	else
		qc->held = buf->next;
	if (buf->next)
		buf->next->prev = buf->prev;
	if (qc->tx_current == buf)
		qc->tx_current = NULL;
	if (qc->ctl_current == buf)
		qc->ctl_current = NULL;
	buf_put(qc->ep, buf);
}

/* ---------------------------------------------------------------------- */
/* The peer's streams (struct quic_stream): records and lists */

static void stream_list_append(struct quic_stream_list *list, struct quic_stream *st)
{
	st->next = NULL;
	st->prev = list->tail;
	if (list->tail)
		list->tail->next = st;
	else
		list->head = st;
	list->tail = st;
}

static void stream_list_remove(struct quic_stream_list *list, struct quic_stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		list->head = st->next;
	if (st->next)
		st->next->prev = st->prev;
	else
		list->tail = st->prev;
	st->prev = st->next = NULL;
}

static struct quic_stream_list *stream_list_of(struct quic_endpoint *ep, struct quic_stream *st)
{
	return st->state == QUIC_STREAM_STOPPED ? &ep->streams_stopped : &ep->streams_active;
}

/* Takes a stream out of the endpoint's lists and count (it stays with its
 * connection). */
static void stream_unlist(struct quic_stream *st)
{
	struct quic_endpoint *ep = st->qc->ep;

	if (!st->listed)
		return;
	stream_list_remove(stream_list_of(ep, st), st);
	st->listed = false;
	ep->nstreams--;
}

/* A record for a stream the peer just opened, listed unless the
 * connection is closing. NULL when out of memory. */
static struct quic_stream *stream_new(struct quic_conn *qc, int64_t id)
{
	struct quic_endpoint *ep = qc->ep;
	struct quic_stream *st = ep->stream_pool;

	if (st) {
		ep->stream_pool = st->next;
		ep->nstream_pool--;
	} else {
		st = malloc(sizeof(*st));
		if (!st)
			return NULL;
	}
	memset(st, 0, sizeof(*st));
	st->qc = qc;
	st->id = id;
	st->opened = st->since = ep->now;
	st->state = QUIC_STREAM_RECEIVING;
	st->conn_next = qc->streams;
	if (qc->streams)
		qc->streams->conn_prev = st;
	qc->streams = st;
	if (qc->close_kind == QUIC_CLOSE_NONE && !qc->finishing) {
		stream_list_append(&ep->streams_active, st);
		st->listed = true;
		ep->nstreams++;
	}
	return st;
}

static void stream_drop_buf(struct quic_stream *st)
{
	if (st->buf)
		buf_put(st->qc->ep, st->buf);
	st->buf = NULL;
}

static void stream_free(struct quic_stream *st)
{
	struct quic_conn *qc = st->qc;
	struct quic_endpoint *ep = qc->ep;

	stream_unlist(st);
	stream_drop_buf(st);
	if (st->conn_prev)
		st->conn_prev->conn_next = st->conn_next;
	else
		qc->streams = st->conn_next;
	if (st->conn_next)
		st->conn_next->conn_prev = st->conn_prev;
	if (ep->nstream_pool >= QUIC_POOL_MAX) {
		free(st);
		return;
	}
	st->next = ep->stream_pool;
	ep->stream_pool = st;
	ep->nstream_pool++;
}

void quic_streams_free_pool(struct quic_endpoint *ep)
{
	while (ep->stream_pool) {
		struct quic_stream *st = ep->stream_pool;
		ep->stream_pool = st->next;
		free(st);
	}
	ep->nstream_pool = 0;
}

/* ---------------------------------------------------------------------- */
/* Timer */

static void conn_set_expiry(struct quic_conn *qc, uint64_t expiry)
{
	if (expiry != qc->timer.expiry)
		timerheap_update(&qc->ep->timers, &qc->timer, expiry);
}

/* ngtcp2's next timer, or the path MTU search's (a probe's deadline, the
 * raise) when that comes first. */
static uint64_t conn_next_expiry(struct quic_conn *qc)
{
	uint64_t expiry = ngtcp2_conn_get_expiry(qc->conn);
	uint64_t pmtu = pmtu_next_timeout(&qc->pmtu);

	if (qc->stall_probe_at && qc->stall_probe_at < expiry)
		expiry = qc->stall_probe_at;
	return pmtu < expiry ? pmtu : expiry;
}

static void conn_update_expiry(struct quic_conn *qc)
{
	conn_set_expiry(qc, conn_next_expiry(qc));
}

/* ---------------------------------------------------------------------- */
/* Connection lifetime */

static struct quic_conn *conn_alloc(struct quic_endpoint *ep, bool is_client)
{
	struct quic_conn *qc = calloc(1, sizeof(*qc));

	if (!qc)
		return NULL;
	qc->ep = ep;
	qc->is_client = is_client;
	pmtu_reset(&qc->pmtu, PMTU_BASE);
	if (quic_endpoint_attach(ep, qc) < 0) {
		free(qc);
		return NULL;
	}
	return qc;
}

void quic_conn_free(struct quic_conn *qc)
{
	struct quic_endpoint *ep = qc->ep;
	struct quic_buf *buf;

	if (qc->conn)
		ngtcp2_conn_del(qc->conn);
	tls_session_del(qc->tls);
	while ((buf = queue_pop(&qc->send_queue)))
		buf_put(ep, buf);
	while ((buf = queue_pop(&qc->stream_queue)))
		buf_put(ep, buf);
	while (qc->held)
		held_release(qc, qc->held);
	if (qc->ctl_pending)
		buf_put(ep, qc->ctl_pending);
	while (qc->streams)
		stream_free(qc->streams);
	free(qc->fin_ids);
	quic_endpoint_detach(ep, qc);
	free(qc);
}

/* The end of a connection: tells the user (when the user knows it) and
 * frees it. */
static void conn_finish(struct quic_conn *qc, int error, const char *reason)
{
	struct quic_endpoint *ep = qc->ep;
	char peer[IRON_ID_BASE32_LEN + 1];

	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		id_to_base32(&qc->peer, peer);
		log_debug("connection %s %s %s: %s", qc->is_client ? "to" : "from",
			  qc->established || qc->is_client ? peer : "(unauthenticated)",
			  error ? "failed" : "closed", reason);
	}
	/* A client we refused (no common protocol, no or a bad key) is worth
	 * a line at the default level, so an operator sees why a peer cannot
	 * connect; a flood of them is not. */
	if (!qc->is_client && !qc->announced && error != 0 && error != -ETIMEDOUT &&
	    ratelimit_allow(&ep->refused_log, ep->now)) {
		char text[NETADDR_STR_SIZE];
		log_info("refused a connection from %s: %s",
			 netaddr_format(quic_conn_remote(qc), text, sizeof(text)), reason);
	}
	qc->finishing = true;
	quic_conn_unmark_dirty(qc);
	if (qc->announced && ep->cb.closed)
		ep->cb.closed(ep->cb.user, qc, error, reason);
	quic_conn_free(qc);
}

/* Decides to close; carried out by the next flush (never inside ngtcp2). */
static void conn_request_close(struct quic_conn *qc, enum quic_close_kind kind, uint64_t code,
			       int error, const char *reason)
{
	if (qc->close_kind != QUIC_CLOSE_NONE || qc->finishing)
		return;
	qc->close_kind = kind;
	qc->close_code = code;
	qc->close_error = error;
	qc->close_reason = reason;
	/* Its streams go with it at the flush: they no longer count. */
	for (struct quic_stream *st = qc->streams; st; st = st->conn_next)
		stream_unlist(st);
	quic_conn_mark_dirty(qc);
}

/* ---------------------------------------------------------------------- */
/* The peer's streams: deadline and budget */

static const char *conn_peer_text(const struct quic_conn *qc, char *text, size_t size)
{
	return netaddr_format(quic_conn_remote(qc), text, size);
}

/* Stops a stream of the peer's: STOP_SENDING and RESET_STREAM (what is
 * left of either half), and its packet so far is dropped. The peer's
 * RESET_STREAM and the ack of ours then let ngtcp2 forget it; until then
 * it waits in the stopped list. */
static void stream_stop(struct quic_stream *st)
{
	struct quic_conn *qc = st->qc;
	struct quic_endpoint *ep = qc->ep;

	stream_drop_buf(st);
	if (st->state == QUIC_STREAM_STOPPED)
		return;
	ngtcp2_conn_shutdown_stream(qc->conn, st->id, APP_ERROR_STREAM_REFUSED);
	if (st->listed) {
		stream_list_remove(&ep->streams_active, st);
		st->state = QUIC_STREAM_STOPPED;
		st->since = ep->now;
		stream_list_append(&ep->streams_stopped, st);
	} else {
		st->state = QUIC_STREAM_STOPPED;
	}
	quic_conn_mark_dirty(qc);
}

/* Closes a connection because of its streams; they leave the lists at
 * once, whatever state the connection is in. */
static void conn_close_for_streams(struct quic_conn *qc, const char *why)
{
	struct quic_endpoint *ep = qc->ep;

	if (ratelimit_allow(&ep->stream_log, ep->now)) {
		char text[NETADDR_STR_SIZE];
		log_info("closing the connection %s %s: %s", qc->is_client ? "to" : "from",
			 conn_peer_text(qc, text, sizeof(text)), why);
	}
	conn_request_close(qc, QUIC_CLOSE_APPLICATION, 0, 0, why);
	for (struct quic_stream *st = qc->streams; st; st = st->conn_next)
		stream_unlist(st);
}

/* At max_peer_streams, the connection holding the oldest stream (a
 * holder's, since a packet's stream lives a round trip or so) is closed to
 * make room. */
static void streams_make_room(struct quic_endpoint *ep)
{
	while (ep->nstreams >= ep->config.max_peer_streams) {
		struct quic_stream *a = ep->streams_active.head, *b = ep->streams_stopped.head;
		struct quic_stream *oldest = !a || (b && b->opened < a->opened) ? b : a;
		if (!oldest)
			return;
		ep->stats.stream_budget_closes++;
		conn_close_for_streams(oldest->qc, "holds the oldest of too many open streams");
	}
}

uint64_t quic_streams_next_deadline(const struct quic_endpoint *ep)
{
	uint64_t next = UINT64_MAX;
	const struct quic_stream *st;

	if ((st = ep->streams_active.head))
		next = st->since + ep->config.stream_deadline_ns;
	if ((st = ep->streams_stopped.head) && st->since + ep->config.stream_grace_ns < next)
		next = st->since + ep->config.stream_grace_ns;
	return next;
}

void quic_streams_expire(struct quic_endpoint *ep, uint64_t now)
{
	struct quic_stream *st;

	ep->now = now;
	while ((st = ep->streams_active.head) && st->since + ep->config.stream_deadline_ns <= now) {
		ep->stats.streams_expired++;
		if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
			char text[NETADDR_STR_SIZE];
			log_debug("stream %lld from %s not done after %llu ms: stopped",
				  (long long)st->id, conn_peer_text(st->qc, text, sizeof(text)),
				  (unsigned long long)((now - st->opened) / 1000000));
		}
		stream_stop(st);
	}
	while ((st = ep->streams_stopped.head) && st->since + ep->config.stream_grace_ns <= now) {
		ep->stats.stream_stuck_closes++;
		conn_close_for_streams(st->qc, "a stream it was asked to stop is still open");
	}
}

/* The largest UDP payload worth probing: ours, the peer's receive limit,
 * and what a DATAGRAM frame the peer accepts holds (a peer that takes no
 * DATAGRAM frames cannot be probed: the search settles on PMTU_BASE). */
static size_t pmtu_max(const struct quic_conn *qc)
{
	const ngtcp2_transport_params *remote = ngtcp2_conn_get_remote_transport_params(qc->conn);
	size_t max = QUIC_MAX_UDP_PAYLOAD;
	size_t around = DATAGRAM_OVERHEAD - 3 + ngtcp2_conn_get_dcid(qc->conn)->datalen;

	if (!remote || remote->max_datagram_frame_size < 3 + IPV6_HEADER_LEN)
		return PMTU_BASE;
	if (remote->max_udp_payload_size < max)
		max = (size_t)remote->max_udp_payload_size;
	if (remote->max_datagram_frame_size + around < max)
		max = (size_t)remote->max_datagram_frame_size + around;
	return max;
}

/* Starts the path MTU search again when the connection is on another path
 * than the one measured (the first time, a migration, a NAT rebinding):
 * what one path carries says nothing of another. */
static void pmtu_follow_path(struct quic_conn *qc)
{
	const ngtcp2_path *path = ngtcp2_conn_get_path(qc->conn);

	if (netaddr_equal(path->remote.addr, &qc->pmtu_remote.sa) &&
	    netaddr_equal(path->local.addr, &qc->pmtu_local.sa))
		return;
	netaddr_set(&qc->pmtu_local, path->local.addr);
	netaddr_set(&qc->pmtu_remote, path->remote.addr);
	pmtu_reset(&qc->pmtu, pmtu_max(qc));
}

static void conn_establish(struct quic_conn *qc)
{
	struct quic_endpoint *ep = qc->ep;
	const struct iron_id *peer;
	char name[IRON_ID_BASE32_LEN + 1];

	if (qc->established || qc->close_kind != QUIC_CLOSE_NONE || !qc->tls)
		return;
	peer = tls_session_peer(qc->tls);
	qc->alpn = (enum quic_alpn)tls_session_alpn(qc->tls);
	if (!peer || qc->alpn == QUIC_ALPN_NONE) {
		/* The TLS checks make this unreachable; never trust it anyway. */
		conn_request_close(qc, QUIC_CLOSE_TRANSPORT, NGTCP2_CONNECTION_REFUSED,
				   -EKEYREJECTED, "handshake failed: peer not authenticated");
		return;
	}
	qc->peer = *peer;
	qc->established = true;
	qc->established_ns = ep->now;
	qc->announced = true;
	if (qc->half_open) {
		qc->half_open = false;
		ep->nhalf_open--;
	}
	id_to_base32(&qc->peer, name);
	log_debug("connection %s %s established (%s)", qc->is_client ? "to" : "from", name,
		  tls_alpn_name((enum tls_alpn)qc->alpn));
	pmtu_follow_path(qc);
	if (qc->alpn == QUIC_ALPN_PACKET1)
		qc->hello_pending = true;
	/* A server's handshake is confirmed when it completes. */
	if (!qc->is_client)
		qc->tls_done = true;
	if (ep->cb.established && ep->cb.established(ep->cb.user, qc) < 0)
		conn_request_close(qc, QUIC_CLOSE_APPLICATION, 0, 0, "closed by us");
}

/* A confirmed connection needs no TLS state: keys are derived, the peer
 * is checked, and key updates only use the negotiated hash. Freeing the
 * session keeps an idle connection small. Only outside ngtcp2 calls. */
static void conn_release_tls(struct quic_conn *qc)
{
	if (!qc->tls_done || !qc->tls)
		return;
	ngtcp2_conn_set_tls_native_handle(qc->conn, NULL);
	tls_session_del(qc->tls);
	qc->tls = NULL;
}

/* Data may flow once the user has the connection. On a client, 1-RTT data
 * can arrive before HANDSHAKE_DONE (it was lost or reordered); the server
 * has accepted us when it sends data, so that counts as confirmation. */
static bool conn_accepts_data(struct quic_conn *qc)
{
	if (!qc->established && qc->is_client && ngtcp2_conn_get_handshake_completed(qc->conn))
		conn_establish(qc);
	return qc->established && qc->close_kind == QUIC_CLOSE_NONE;
}

static void conn_deliver(struct quic_conn *qc, const uint8_t *data, size_t len)
{
	struct quic_endpoint *ep = qc->ep;

	qc->stats.packets_received++;
	qc->stats.last_activity_ns = ep->now;
	if (ep->trace)
		log_trace("packet of %zu bytes received", len);
	if (ep->cb.packet)
		ep->cb.packet(ep->cb.user, qc, data, len);
}

/* ---------------------------------------------------------------------- */
/* ngtcp2 callbacks: they only record work; writes happen in flush */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	struct quic_conn *qc = ref->user_data;
	return qc->conn;
}

static int on_handshake_completed(ngtcp2_conn *conn, void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	log_debug("%s handshake completed", qc->is_client ? "client" : "server");
	/* Queued packets may go from now on, also on a client waiting for
	 * confirmation: if the server refuses our key they are lost anyway. */
	qc->alpn = (enum quic_alpn)tls_session_alpn(qc->tls);
	/* A client is only accepted once the server has checked its key:
	 * it waits for confirmation. */
	if (!qc->is_client)
		conn_establish(qc);
	return 0;
}

static int on_handshake_confirmed(ngtcp2_conn *conn, void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	if (qc->is_client) {
		conn_establish(qc);
		qc->tls_done = true;
		qc->confirmed = true;
	}
	return 0;
}

static int on_recv_crypto_data(ngtcp2_conn *conn, ngtcp2_crypto_level level, uint64_t offset,
			       const uint8_t *data, size_t datalen, void *user_data)
{
	struct quic_conn *qc = user_data;

	/* Once the TLS session is released, the only TLS messages left are
	 * session tickets (some servers send them); we do not resume. */
	if (!qc->tls)
		return 0;
	return ngtcp2_crypto_recv_crypto_data_cb(conn, level, offset, data, datalen, user_data);
}

static int on_recv_datagram(ngtcp2_conn *conn, uint32_t flags, const uint8_t *data, size_t datalen,
			    void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	(void)flags;
	/* A path MTU probe or hello (quic.h): an IPv6 packet with nothing
	 * in it but, from iron, a marker that says what the sender takes. */
	if (datalen >= IPV6_HEADER_LEN && (data[0] >> 4) == 6 && data[6] == IPV6_PROTO_NONE) {
		const uint8_t *mark = data + IPV6_HEADER_LEN;
		if (datalen >= HELLO_LEN && memcmp(mark, "IRON", 4) == 0 &&
		    mark[4] == MARK_VERSION && qc->alpn == QUIC_ALPN_PACKET1 &&
		    !qc->peer_stream_packets && (mark[5] & MARK_STREAM_PACKETS)) {
			qc->peer_stream_packets = true;
			quic_conn_mark_dirty(qc);
		}
		return 0;
	}
	if (conn_accepts_data(qc) && qc->alpn == QUIC_ALPN_PACKET1)
		conn_deliver(qc, data, datalen);
	return 0;
}

/* What became of a DATAGRAM frame we sent with an id (a path MTU probe):
 * the search goes on at the next write. */
static void conn_probe_judged(struct quic_conn *qc, uint64_t dgram_id, bool acked)
{
	bool settled = qc->pmtu.settled;

	if (acked)
		pmtu_probe_acked(&qc->pmtu, dgram_id, qc->ep->now);
	else
		pmtu_probe_lost(&qc->pmtu, dgram_id, qc->ep->now);
	if (!settled && qc->pmtu.settled && log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char name[IRON_ID_BASE32_LEN + 1];
		id_to_base32(&qc->peer, name);
		log_debug("path MTU to %.10s: %zu bytes of UDP payload (%llu probes, %llu lost)",
			  name, pmtu_confirmed(&qc->pmtu), (unsigned long long)qc->pmtu.probes_sent,
			  (unsigned long long)qc->pmtu.probes_lost);
	}
	quic_conn_mark_dirty(qc);
}

static int on_ack_datagram(ngtcp2_conn *conn, uint64_t dgram_id, void *user_data)
{
	(void)conn;
	if (dgram_id)
		conn_probe_judged(user_data, dgram_id, true);
	return 0;
}

static int on_lost_datagram(ngtcp2_conn *conn, uint64_t dgram_id, void *user_data)
{
	struct quic_conn *qc = user_data;
	(void)conn;
	/* A path MTU probe (an id of its own) is lost by design when too
	 * big: only the packets' loss counts. */
	if (dgram_id)
		conn_probe_judged(qc, dgram_id, false);
	else
		qc->last_loss_ns = qc->ep->now ? qc->ep->now : 1;
	return 0;
}

static bool is_local_stream(const struct quic_conn *qc, int64_t stream_id)
{
	/* The lowest bit of a stream ID is 0 for client-initiated streams. */
	return ((stream_id & 1) == 0) == qc->is_client;
}

static void refuse_stream(struct quic_conn *qc, int64_t stream_id)
{
	ngtcp2_conn_shutdown_stream(qc->conn, stream_id, APP_ERROR_STREAM_REFUSED);
}

static enum quic_alpn conn_alpn(const struct quic_conn *qc)
{
	if (qc->alpn == QUIC_ALPN_NONE && qc->tls)
		return (enum quic_alpn)tls_session_alpn(qc->tls);
	return qc->alpn;
}

/* The peer's unidirectional streams on iron/packet/1: control messages. */
static bool is_control_stream(const struct quic_conn *qc, int64_t stream_id)
{
	return conn_alpn(qc) == QUIC_ALPN_PACKET1 && !ngtcp2_is_bidi_stream(stream_id) &&
	       !is_local_stream(qc, stream_id);
}

/* The peer's bidirectional streams carry one packet each: the client's on
 * an accepted iron/packet/0 connection, either side's on iron/packet/1
 * (packets too large for a datagram). iron/packet/1 also takes the
 * peer's unidirectional streams (control messages). */
static bool stream_wanted(struct quic_conn *qc, int64_t stream_id)
{
	enum quic_alpn alpn = conn_alpn(qc);

	if (is_control_stream(qc, stream_id))
		return true;
	if (is_local_stream(qc, stream_id) || !ngtcp2_is_bidi_stream(stream_id))
		return false;
	return alpn == QUIC_ALPN_PACKET1 || (alpn == QUIC_ALPN_PACKET0 && !qc->is_client);
}

static int on_stream_open(ngtcp2_conn *conn, int64_t stream_id, void *user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_endpoint *ep = qc->ep;
	struct quic_stream *st;

	/* ngtcp2 tells only of the peer's streams. Each is tracked, wanted or
	 * not: a refused one lives on until the peer resets it. */
	if (ep->nstreams >= ep->config.max_peer_streams)
		streams_make_room(ep);
	st = stream_new(qc, stream_id);
	if (!st)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	ngtcp2_conn_set_stream_user_data(conn, stream_id, st);
	if (!stream_wanted(qc, stream_id)) {
		log_debug("refusing stream %lld", (long long)stream_id);
		stream_stop(st);
	}
	return 0;
}

static int push_fin(struct quic_conn *qc, int64_t stream_id)
{
	if (qc->nfin == qc->fin_cap) {
		size_t cap = qc->fin_cap ? qc->fin_cap * 2 : 16;
		int64_t *ids = realloc(qc->fin_ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		qc->fin_ids = ids;
		qc->fin_cap = cap;
	}
	qc->fin_ids[qc->nfin++] = stream_id;
	quic_conn_mark_dirty(qc);
	return 0;
}

/* A packet (or control message) is complete: hands it over. data may be
 * the stream's buffer, released afterwards. */
static int stream_complete(struct quic_conn *qc, struct quic_stream *st, const uint8_t *data,
			   size_t len)
{
	struct quic_endpoint *ep = qc->ep;

	st->state = QUIC_STREAM_DONE;
	if (is_control_stream(qc, st->id)) {
		if (len > 0 && ep->cb.control && qc->user)
			ep->cb.control(ep->cb.user, qc, data, len);
		stream_drop_buf(st);
		/* ngtcp2 0.12.1 never forgets a peer's unidirectional stream
		 * (fixed in 0.14): it would wait here for a close that does not
		 * come. It costs little, and since its credit is never given
		 * back either, a peer has at most CONTROL_STREAMS of them. */
		stream_unlist(st);
		return 0;
	}
	if (len > 0)
		conn_deliver(qc, data, len);
	stream_drop_buf(st);
	/* The original's receiver finishes its own half, empty. */
	return push_fin(qc, st->id) < 0 ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id,
			       uint64_t offset, const uint8_t *data, size_t datalen,
			       void *user_data, void *stream_user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_stream *st = stream_user_data;
	struct quic_buf *buf;
	size_t max, have;

	(void)offset;
	/* Received bytes are consumed at once (kept or dropped): give the
	 * connection-level credit back. The stream's own window is never
	 * extended: one packet fits it. */
	ngtcp2_conn_extend_max_offset(conn, datalen);
	if (is_local_stream(qc, stream_id)) {
		/* The receiver of our packet finishing its half, empty, as
		 * iron/packet/0 asks: the stream is done, no reset is due.
		 * Anything else on it is not ours to take. */
		if (datalen > 0)
			refuse_stream(qc, stream_id);
		return 0;
	}
	if (!st || st->state != QUIC_STREAM_RECEIVING)
		return 0;
	if (!stream_wanted(qc, stream_id) || !conn_accepts_data(qc)) {
		stream_stop(st);
		return 0;
	}
	max =
	    is_control_stream(qc, stream_id) ? QUIC_CONTROL_MAX : qc->ep->config.max_stream_packet;
	have = st->buf ? st->buf->len : 0;
	if (datalen > max - have) {
		log_debug("stream %lld carries more than %zu bytes: reset", (long long)stream_id,
			  max);
		qc->stats.packets_dropped++;
		stream_stop(st);
		return 0;
	}
	/* The whole packet in one frame, the usual case: no copy. A FIN may
	 * also come alone, in an empty frame after the data (iroh sends it
	 * so); data is NULL then. */
	if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) && !st->buf)
		return stream_complete(qc, st, data, datalen);
	if (datalen > 0) {
		if (!st->buf) {
			st->buf = buf_get(qc->ep);
			if (!st->buf)
				return NGTCP2_ERR_CALLBACK_FAILURE;
			st->buf->stream_id = stream_id;
		}
		buf = st->buf;
		memcpy(buf->data + buf->len, data, datalen);
		buf->len = (uint16_t)(buf->len + datalen);
	}
	if (flags & NGTCP2_STREAM_DATA_FLAG_FIN)
		return stream_complete(qc, st, st->buf->data, st->buf->len);
	return 0;
}

static int on_acked_stream_data_offset(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset,
				       uint64_t datalen, void *user_data, void *stream_user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_buf *buf = stream_user_data;

	/* Only our own streams carry our data (the peer's only our FIN). */
	if (!is_local_stream(qc, stream_id))
		return 0;
	/* Once every byte of a sent packet is acknowledged ngtcp2 will not
	 * read it again: recycle the buffer before the stream closes. */
	if (buf && buf->offset == buf->len && offset + datalen >= buf->len) {
		ngtcp2_conn_set_stream_user_data(conn, stream_id, NULL);
		held_release(qc, buf);
	}
	return 0;
}

static int on_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct quic_conn *qc = user_data;

	(void)flags;
	(void)app_error_code;
	if (is_local_stream(qc, stream_id)) {
		if (stream_user_data)
			held_release(qc, stream_user_data);
		quic_conn_mark_dirty(qc);
		return 0;
	}
	if (stream_user_data)
		stream_free(stream_user_data);
	/* Every packet is a stream: give the peer a new one for each closed. */
	if (ngtcp2_is_bidi_stream(stream_id))
		ngtcp2_conn_extend_max_streams_bidi(conn, 1);
	else
		ngtcp2_conn_extend_max_streams_uni(conn, 1);
	return 0;
}

static int on_stream_reset(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_stream *st = stream_user_data;

	(void)final_size;
	(void)app_error_code;
	/* A sent packet is not retried. */
	if (is_local_stream(qc, stream_id) || !st)
		return 0;
	/* A half-received packet is worthless. Our half of a bidirectional
	 * stream is reset too, so that ngtcp2 can forget the stream once the
	 * peer acknowledges that (we would write nothing on it). */
	stream_drop_buf(st);
	if (!ngtcp2_is_bidi_stream(stream_id)) {
		/* As in stream_complete(): ngtcp2 0.12.1 would never report
		 * its close. */
		stream_unlist(st);
	} else if (st->state == QUIC_STREAM_RECEIVING) {
		ngtcp2_conn_shutdown_stream_write(conn, stream_id, APP_ERROR_STREAM_REFUSED);
		st->state = QUIC_STREAM_DONE;
		quic_conn_mark_dirty(qc);
	}
	return 0;
}

static int on_extend_max_streams(ngtcp2_conn *conn, uint64_t max_streams, void *user_data)
{
	(void)conn;
	(void)max_streams;
	quic_conn_mark_dirty(user_data);
	return 0;
}

static int on_extend_max_stream_data(ngtcp2_conn *conn, int64_t stream_id, uint64_t max_data,
				     void *user_data, void *stream_user_data)
{
	(void)conn;
	(void)stream_id;
	(void)max_data;
	(void)stream_user_data;
	quic_conn_mark_dirty(user_data);
	return 0;
}

static int on_recv_stateless_reset(ngtcp2_conn *conn, const ngtcp2_pkt_stateless_reset *sr,
				   void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	(void)sr;
	qc->stateless_reset = true;
	return 0;
}

static int on_get_new_connection_id(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token,
				    size_t cidlen, void *user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_endpoint *ep = qc->ep;

	(void)conn;
	if (quic_endpoint_new_cid(ep, cid, cidlen) < 0 ||
	    ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
							 sizeof(ep->reset_secret), cid) != 0 ||
	    cidmap_add(&ep->cids, &qc->cids, qc, cid->data, cid->datalen) < 0)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* Remember the reset tokens of the peer's connection IDs we use, so that
 * a stateless reset (which carries no ID of ours) finds its connection. */
static int on_dcid_status(ngtcp2_conn *conn, int type, uint64_t seq, const ngtcp2_cid *cid,
			  const uint8_t *token, void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	(void)seq;
	(void)cid;
	if (!token)
		return 0;
	if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE)
		cidmap_add(&qc->ep->tokens, &qc->tokens, qc, token,
			   NGTCP2_STATELESS_RESET_TOKENLEN);
	else
		cidmap_remove(&qc->ep->tokens, &qc->tokens, token, NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static int on_remove_connection_id(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	cidmap_remove(&qc->ep->cids, &qc->cids, cid->data, cid->datalen);
	return 0;
}

/* A path validation ended: ours after quic_conn_migrate(), or the server's
 * of a path the client moved to. ngtcp2 has already switched to the new
 * path on success and stayed on (or gone back to) the old one otherwise.
 * The user hears at the next flush, outside ngtcp2. */
static int on_path_validation(ngtcp2_conn *conn, uint32_t flags, const ngtcp2_path *path,
			      ngtcp2_path_validation_result res, void *user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_path_event *ev;

	(void)conn;
	(void)flags;
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char local[NETADDR_STR_SIZE], remote[NETADDR_STR_SIZE];
		log_debug("path %s -> %s: validation %s",
			  netaddr_format(path->local.addr, local, sizeof(local)),
			  netaddr_format(path->remote.addr, remote, sizeof(remote)),
			  res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS	 ? "succeeded"
			  : res == NGTCP2_PATH_VALIDATION_RESULT_FAILURE ? "failed"
									 : "aborted");
	}
	if (!qc->ep->cb.path_validated)
		return 0;
	/* When full, the latest outcome replaces the one before it. */
	if (qc->npath_events < QUIC_PATH_EVENTS)
		qc->npath_events++;
	ev = &qc->path_events[qc->npath_events - 1];
	netaddr_set(&ev->local, path->local.addr);
	netaddr_set(&ev->remote, path->remote.addr);
	ev->ok = res == NGTCP2_PATH_VALIDATION_RESULT_SUCCESS;
	quic_conn_mark_dirty(qc);
	return 0;
}

/* Tells the user the path validations of the last reads and expiries. */
static void conn_report_paths(struct quic_conn *qc)
{
	struct quic_endpoint *ep = qc->ep;

	for (uint8_t i = 0; i < qc->npath_events && qc->close_kind == QUIC_CLOSE_NONE; i++) {
		const struct quic_path_event *ev = &qc->path_events[i];
		if (qc->announced)
			ep->cb.path_validated(ep->cb.user, qc, &ev->local.sa, &ev->remote.sa,
					      ev->ok);
	}
	qc->npath_events = 0;
}

__attribute__((format(printf, 2, 3))) static void ngtcp2_log(void *user_data, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	(void)user_data;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_write(LOG_TRACE, "ngtcp2", "%s", line);
}

/* One table for both roles; make_callbacks() adds what differs. */
static const ngtcp2_callbacks shared_callbacks = {
    .recv_crypto_data = on_recv_crypto_data,
    .handshake_completed = on_handshake_completed,
    .encrypt = ngtcp2_crypto_encrypt_cb,
    .decrypt = ngtcp2_crypto_decrypt_cb,
    .hp_mask = ngtcp2_crypto_hp_mask_cb,
    .recv_stream_data = on_recv_stream_data,
    .acked_stream_data_offset = on_acked_stream_data_offset,
    .stream_open = on_stream_open,
    .stream_close = on_stream_close,
    .recv_stateless_reset = on_recv_stateless_reset,
    .extend_max_local_streams_bidi = on_extend_max_streams,
    .extend_max_local_streams_uni = on_extend_max_streams,
    .rand = on_rand,
    .get_new_connection_id = on_get_new_connection_id,
    .remove_connection_id = on_remove_connection_id,
    .update_key = ngtcp2_crypto_update_key_cb,
    .path_validation = on_path_validation,
    .stream_reset = on_stream_reset,
    .extend_max_stream_data = on_extend_max_stream_data,
    .dcid_status = on_dcid_status,
    /* 0.12.1 calls it on clients only. */
    .handshake_confirmed = on_handshake_confirmed,
    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
    .recv_datagram = on_recv_datagram,
    .ack_datagram = on_ack_datagram,
    .lost_datagram = on_lost_datagram,
    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
};

/* ngtcp2 copies the table into the connection. */
static void make_callbacks(ngtcp2_callbacks *cb, bool is_client)
{
	*cb = shared_callbacks;
	if (is_client) {
		cb->client_initial = ngtcp2_crypto_client_initial_cb;
		cb->recv_retry = ngtcp2_crypto_recv_retry_cb;
	} else {
		cb->recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
	}
}

/* ---------------------------------------------------------------------- */
/* Settings */

/* ngtcp2's per-connection memory comes from pagealloc (see pagealloc.h:
 * an idle connection then keeps only the pages it wrote). */
static void *mem_malloc(size_t size, void *user)
{
	(void)user;
	return pagealloc_malloc(size);
}

static void mem_free(void *ptr, void *user)
{
	(void)user;
	pagealloc_free(ptr);
}

static void *mem_calloc(size_t nmemb, size_t size, void *user)
{
	(void)user;
	return pagealloc_calloc(nmemb, size);
}

static void *mem_realloc(void *ptr, size_t size, void *user)
{
	(void)user;
	return pagealloc_realloc(ptr, size);
}

static const ngtcp2_mem conn_mem = {
    .malloc = mem_malloc, .free = mem_free, .calloc = mem_calloc, .realloc = mem_realloc};

static void make_settings(struct quic_endpoint *ep, ngtcp2_settings *s, uint64_t now)
{
	static const ngtcp2_cc_algo algos[] = {
	    [QUIC_CC_CUBIC] = NGTCP2_CC_ALGO_CUBIC,
	    [QUIC_CC_BBR] = NGTCP2_CC_ALGO_BBR,
	    [QUIC_CC_RENO] = NGTCP2_CC_ALGO_RENO,
	};

	ngtcp2_settings_default(s);
	s->initial_ts = now;
	s->initial_rtt = ep->config.initial_rtt_ns;
	s->cc_algo = algos[ep->config.congestion_control];
	/* 0.12.1's path MTU discovery stops at 1444, too small for a 1420-byte
	 * packet in one datagram, and its result cannot be read: iron runs
	 * its own (pmtu.h) and hands every write a buffer of the size the
	 * path takes (conn_tx_cap()), which ngtcp2 never exceeds. */
	s->max_tx_udp_payload_size = QUIC_MAX_UDP_PAYLOAD;
	s->no_tx_udp_payload_size_shaping = 1;
	s->no_pmtud = 1;
	s->max_window = MAX_WINDOW;
	s->handshake_timeout = ep->config.handshake_timeout_ns;
	s->rand_ctx.native_handle = ep;
	if (log_enabled("ngtcp2", LOG_TRACE))
		s->log_printf = ngtcp2_log;
}

static void make_params(struct quic_endpoint *ep, ngtcp2_transport_params *p)
{
	ngtcp2_transport_params_default(p);
	p->initial_max_stream_data_bidi_local = INITIAL_MAX_STREAM_DATA;
	p->initial_max_stream_data_bidi_remote = ep->config.max_stream_packet + 1;
	p->initial_max_data = INITIAL_MAX_DATA;
	/* Packets on streams: the dialling side's on iron/packet/0, either
	 * side's on iron/packet/1 when a datagram cannot hold them (the ALPN
	 * is not known yet; on /0 a server's streams are refused). */
	p->initial_max_streams_bidi = INITIAL_MAX_STREAMS_BIDI;
	/* Control messages between iron/packet/1 peers (refused on /0). */
	p->initial_max_streams_uni = CONTROL_STREAMS;
	p->initial_max_stream_data_uni = QUIC_CONTROL_MAX + 1;
	p->max_idle_timeout = ep->config.idle_timeout_ns;
	p->active_connection_id_limit = ACTIVE_CID_LIMIT;
	p->max_datagram_frame_size = MAX_DATAGRAM_FRAME_SIZE;
	p->max_ack_delay = MAX_ACK_DELAY;
}

static void make_path(ngtcp2_path *path, const struct sockaddr *local,
		      const struct sockaddr *remote)
{
	path->local.addr = (ngtcp2_sockaddr *)(uintptr_t)local;
	path->local.addrlen = netaddr_len(local);
	path->remote.addr = (ngtcp2_sockaddr *)(uintptr_t)remote;
	path->remote.addrlen = netaddr_len(remote);
	path->user_data = NULL;
}

/* ---------------------------------------------------------------------- */
/* Writing */

static void conn_send(struct quic_conn *qc, const ngtcp2_path *path, const uint8_t *data,
		      size_t len)
{
	struct quic_endpoint *ep = qc->ep;

	qc->stats.bytes_sent += len;
	if (ep->trace)
		log_trace("sending %zu bytes", len);
	ep->cb.send(ep->cb.user, path->local.addr, path->remote.addr, data, len);
}

/* The CONNECTION_CLOSE that tells the peer at once. Returns nothing: the
 * connection ends either way. */
static void conn_write_close(struct quic_conn *qc, uint64_t now)
{
	ngtcp2_connection_close_error ccerr;
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;

	ngtcp2_connection_close_error_default(&ccerr);
	if (qc->close_kind == QUIC_CLOSE_APPLICATION)
		ngtcp2_connection_close_error_set_application_error(&ccerr, qc->close_code, NULL,
								    0);
	else
		ngtcp2_connection_close_error_set_transport_error(&ccerr, qc->close_code, NULL, 0);
	ngtcp2_path_storage_zero(&ps);
	n = ngtcp2_conn_write_connection_close(qc->conn, &ps.path, &pi, qc->ep->tx,
					       sizeof(qc->ep->tx), &ccerr, now);
	if (n > 0)
		conn_send(qc, &ps.path, qc->ep->tx, (size_t)n);
}

/* Ends a connection after an ngtcp2 error from read_pkt, handle_expiry or
 * a write, telling the peer when the error calls for it. */
static void conn_fail(struct quic_conn *qc, int liberr, uint64_t now)
{
	char reason[160];
	int error = -EPROTO;
	bool send_close = true;
	ngtcp2_connection_close_error ccerr;
	const char *why;

	switch (liberr) {
	case NGTCP2_ERR_DRAINING: {
		/* The peer closed (or reset) the connection. */
		send_close = false;
		error = -ECONNRESET;
		ngtcp2_conn_get_connection_close_error(qc->conn, &ccerr);
		if (qc->stateless_reset)
			snprintf(reason, sizeof(reason), "reset by peer (stateless reset)");
		else if (ccerr.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION)
			snprintf(reason, sizeof(reason), "closed by peer (application code %llu)",
				 (unsigned long long)ccerr.error_code);
		else if ((ccerr.error_code & ~(uint64_t)0xff) == NGTCP2_CRYPTO_ERROR)
			snprintf(reason, sizeof(reason), "%sclosed by peer (TLS alert: %s)",
				 qc->established ? "" : "handshake failed: ",
				 tls_alert_name((uint8_t)ccerr.error_code));
		else
			snprintf(reason, sizeof(reason),
				 "closed by peer (transport error 0x%llx%s%.*s)",
				 (unsigned long long)ccerr.error_code, ccerr.reasonlen ? ": " : "",
				 (int)(ccerr.reasonlen > 64 ? 64 : ccerr.reasonlen),
				 ccerr.reason ? (const char *)ccerr.reason : "");
		/* A failed handshake, unless the peer closed deliberately. */
		if (!qc->established && !qc->stateless_reset &&
		    ccerr.type != NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION)
			error = ccerr.error_code == (NGTCP2_CRYPTO_ERROR | TLS_ALERT_ACCESS_DENIED)
				    ? -EACCES
				    : -EPROTO;
		break;
	}
	case NGTCP2_ERR_CRYPTO:
		/* Our TLS stack aborted the handshake: send its alert. */
		why = qc->tls ? tls_session_failure(qc->tls, &error) : NULL;
		if (!why) {
			error = -EPROTO;
			why = tls_alert_name(ngtcp2_conn_get_tls_alert(qc->conn));
		}
		snprintf(reason, sizeof(reason), "handshake failed: %s", why);
		qc->close_kind = QUIC_CLOSE_TRANSPORT;
		qc->close_code =
		    NGTCP2_CRYPTO_ERROR | (error == -EACCES ? TLS_ALERT_ACCESS_DENIED
							    : ngtcp2_conn_get_tls_alert(qc->conn));
		break;
	case NGTCP2_ERR_IDLE_CLOSE:
		send_close = false;
		error = -ETIMEDOUT;
		snprintf(reason, sizeof(reason), "idle timeout");
		break;
	case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
		send_close = false;
		error = -ETIMEDOUT;
		snprintf(reason, sizeof(reason), "handshake timeout");
		break;
	case NGTCP2_ERR_DROP_CONN:
	case NGTCP2_ERR_RETRY:
		send_close = false;
		snprintf(reason, sizeof(reason), "dropped: %s", ngtcp2_strerror(liberr));
		break;
	case NGTCP2_ERR_RECV_VERSION_NEGOTIATION:
		send_close = false;
		snprintf(reason, sizeof(reason), "peer does not speak QUIC version 1");
		break;
	case NGTCP2_ERR_NOMEM:
		error = -ENOMEM;
		/* fall through */
	default:
		snprintf(reason, sizeof(reason), "%s: %s",
			 qc->established ? "protocol error" : "handshake failed",
			 ngtcp2_strerror(liberr));
		qc->close_kind = QUIC_CLOSE_TRANSPORT;
		qc->close_code = ngtcp2_err_infer_quic_transport_error_code(liberr);
		break;
	}
	if (send_close)
		conn_write_close(qc, now);
	conn_finish(qc, error, reason);
}

/* Drops the head of the send queue (counted). */
static void drop_head(struct quic_conn *qc)
{
	buf_put(qc->ep, queue_pop(&qc->send_queue));
	qc->stats.packets_dropped++;
	qc->dgram_refused = 0;
}

/* Datagrams and the probe timeout (PTO) in ngtcp2 0.12.1.
 *
 * DATAGRAM frames are ack-eliciting and count in bytes_in_flight, but
 * 0.12.1 arms the PTO only while a packet with a frame it would retransmit
 * is in flight: with only datagram packets outstanding its trace says "loss
 * detection timer canceled". Those packets are declared lost only when a
 * later packet is acknowledged. Traced under 5 % loss (test_quic and
 * tests/e2e/loss.sh): the packet that armed the PTO is acknowledged, the
 * datagram packets after it, or the one ACK for them, are lost, and a loss
 * found earlier has shrunk cwnd below bytes_in_flight. From then on nothing
 * can be sent (all but PTO probes wait for the window), the peer has
 * nothing to acknowledge and no timer is armed: the connection is dead,
 * keep-alive PINGs included, until the idle timeout. A frame that arms the
 * PTO at the start of a flight, as we used to send, does not help: it is
 * the one acknowledged.
 *
 * So every burst of datagrams ends with a "tail probe", a small packet with
 * a frame that arms the PTO. While it is in flight the PTO runs (its probes
 * bypass the window); once it is acknowledged, every packet sent before it
 * is acknowledged or declared lost by the packet or time threshold. Two
 * rules make that hold:
 *  - a datagram is only written while the window keeps room after it, so
 *    the tail probe can always follow (this costs at most a packet of
 *    window);
 *  - when a write ends with datagrams sent since the last probe, a probe
 *    is queued and written.
 * The frame is MAX_STREAMS: granting the peer one more bidirectional stream
 * is harmless (we refuse streams on iron/packet/1), ngtcp2 sends it for any
 * increase, and its limit (2^60) is out of reach. MAX_DATA goes out only
 * for an increase of about half the flow-control window, so it would reach
 * its varint limit after some 10^11 probes.
 *
 * The first rule needs a window of more than one packet. Under loss,
 * ngtcp2's BBR enters recovery on an ACK with nothing in flight and sets
 * cwnd to bytes_in_flight + the bytes that ACK delivered: one packet, no
 * room for a datagram and a probe. Nothing was sent, so no ACK came to end
 * the recovery, until the keep-alive PING 5 s later (issue 15: at 20 %
 * loss the inner TCP sat in its retransmission backoff). So a write that
 * leaves datagrams waiting for the window, with nothing in flight, sends
 * the probe alone: its ACK ends the recovery and restores the window. */
static void queue_tail_probe(struct quic_conn *qc)
{
	ngtcp2_conn_extend_max_streams_bidi(qc->conn, 1);
	qc->tail_exposed = false;
}

/* Stall probes. Under heavy loss (issue 15: 30 % each way) the window
 * fills with packets whose loss only an ACK can reveal. Each PTO sends one
 * probe and doubles the next timeout; at 30 % loss each way a probe and
 * its ACK both arrive only half the time, so five failures in a row (3 %)
 * already held the datagrams for 100-600 ms, and the inner TCP, seeing no
 * ACK for 200 ms, fell into its own retransmission backoff and rarely got
 * out (iperf3 collapsed to under 1 Mbit/s in about half the runs). So while
 * datagrams wait for the window with packets in flight, a tail probe goes
 * out every base PTO, without the doubling, as long as the window has room
 * for it (window_has_room keeps that room): the first of them to be
 * acknowledged settles what is in flight. On a dead path the probes stop
 * when the window is full, and ngtcp2's PTO with its backoff takes over. */
static void stall_probe_update(struct quic_conn *qc, bool dgrams_blocked, uint64_t now)
{
	ngtcp2_conn_stat cs;

	if (!dgrams_blocked || !qc->send_queue.head || qc->alpn != QUIC_ALPN_PACKET1) {
		qc->stall_probe_at = 0;
		return;
	}
	ngtcp2_conn_get_conn_stat(qc->conn, &cs);
	if (cs.bytes_in_flight == 0) {
		/* tail_needs_probe sends one at once. */
		qc->stall_probe_at = 0;
	} else if (!qc->stall_probe_at) {
		qc->stall_probe_at = now + ngtcp2_conn_get_pto(qc->conn);
	}
}

/* Whether a write should end with a tail probe: datagrams went out since
 * the last one, or packets are in flight that no timer covers (ngtcp2
 * itself adds a PING to a run of ACK-only packets, and arms no PTO for it
 * either: once lost, it would stay in flight until the next flight), or
 * datagrams wait for a window that only an ACK can open and nothing in
 * flight would bring one, or a stall probe is due. */
static bool tail_needs_probe(struct quic_conn *qc, bool dgrams_blocked, uint64_t now)
{
	ngtcp2_conn_stat cs;

	if (qc->tail_exposed)
		return true;
	if (qc->alpn != QUIC_ALPN_PACKET1 || !ngtcp2_conn_get_handshake_completed(qc->conn))
		return false;
	ngtcp2_conn_get_conn_stat(qc->conn, &cs);
	if (cs.bytes_in_flight > 0 && cs.loss_detection_timer == UINT64_MAX)
		return true;
	if (dgrams_blocked && qc->stall_probe_at && now >= qc->stall_probe_at) {
		qc->stall_probe_at = now + ngtcp2_conn_get_pto(qc->conn);
		if (cs.bytes_in_flight < cs.cwnd) {
			qc->stats.stall_probes++;
			return true;
		}
	}
	return dgrams_blocked && qc->send_queue.head && cs.bytes_in_flight == 0;
}

/* The size of a short-header packet carrying a datagram of len bytes and
 * an ACK frame (ACK_ROOM also covers a small control frame such as the
 * tail probe). */
static size_t datagram_packet_len(struct quic_conn *qc, size_t len)
{
	return len + DATAGRAM_OVERHEAD + ngtcp2_conn_get_dcid(qc->conn)->datalen + ACK_ROOM;
}

/* Whether the congestion window keeps room for the tail probe after a
 * datagram of len bytes in a packet of at most full bytes (ngtcp2 writes a
 * packet while bytes_in_flight < cwnd, whatever its size). The packet also
 * carries any pending ACK frame, and one being coalesced may grow to the
 * full size. */
static bool window_has_room(struct quic_conn *qc, size_t len, size_t full, bool coalescing)
{
	size_t packet = datagram_packet_len(qc, len);

	if (coalescing || packet > full)
		packet = full;
	return ngtcp2_conn_get_cwnd_left(qc->conn) > packet;
}

/* Whether a datagram of len bytes, a tail probe and an ACK frame fit in
 * one packet of at most full bytes. */
static bool probe_fits(struct quic_conn *qc, size_t len, size_t full)
{
	return datagram_packet_len(qc, len) <= full;
}

/* Whether the handshake is over as far as sizes go: the server's once it
 * completes, the client's once it is confirmed (until then the client may
 * have to send its Finished again, in a UDP datagram shared with whatever
 * 1-RTT data follows). */
static bool conn_handshake_over(const struct quic_conn *qc)
{
	return qc->is_client ? qc->confirmed : ngtcp2_conn_get_handshake_completed(qc->conn);
}

/* The UDP payload one write may fill. During the handshake QUIC's 1200
 * bytes (ngtcp2 pads some handshake datagrams to the whole buffer, and
 * only 1200 is known to pass). Then what the path MTU search has proven,
 * except toward a peer that takes no packets on streams while the search
 * runs: it keeps the full size, as before path MTU discovery, so that its
 * datagrams of up to 1420 bytes are not lost to a guess on an ordinary
 * path. */
static size_t conn_tx_cap(const struct quic_conn *qc)
{
	if (!conn_handshake_over(qc))
		return PMTU_BASE;
	if (qc->pmtu.known || qc->peer_stream_packets || qc->alpn == QUIC_ALPN_PACKET0)
		return pmtu_confirmed(&qc->pmtu);
	return QUIC_MAX_UDP_PAYLOAD;
}

/* The largest IP packet one DATAGRAM frame carries in a UDP payload of cap
 * bytes, within the peer's limits (0: none). Before the handshake, assume
 * the peer's connection IDs are as long as ours. */
static size_t datagram_room(const struct quic_conn *qc, size_t cap)
{
	const ngtcp2_transport_params *remote;
	size_t dcid_len = ngtcp2_conn_get_dcid(qc->conn)->datalen, size, overhead;

	if (!ngtcp2_conn_get_handshake_completed(qc->conn) && dcid_len < QUIC_CID_LEN)
		dcid_len = QUIC_CID_LEN;
	overhead = DATAGRAM_OVERHEAD + dcid_len;
	if (cap <= overhead)
		return 0;
	size = cap - overhead;
	remote = ngtcp2_conn_get_remote_transport_params(qc->conn);
	if (remote && ngtcp2_conn_get_handshake_completed(qc->conn)) {
		/* The frame (type and length) must fit the peer's limit, and
		 * the packet its receive limit. */
		if (remote->max_datagram_frame_size <= 3 ||
		    remote->max_udp_payload_size <= overhead)
			return 0;
		if (remote->max_datagram_frame_size - 3 < size)
			size = (size_t)remote->max_datagram_frame_size - 3;
		if (remote->max_udp_payload_size - overhead < size)
			size = (size_t)remote->max_udp_payload_size - overhead;
	}
	return size;
}

/* The IPv6 packet of our path MTU probes and hello (quic.h), len bytes:
 * no payload (next header 59), from our overlay address to the peer's,
 * then the marker and zeros. */
static void marked_packet(const struct quic_conn *qc, uint8_t *p, size_t len)
{
	const struct iron_identity *identity = qc->ep->config.identity;
	struct in6_addr src, dst;

	memset(p, 0, len);
	p[0] = 0x60;
	bytes_put16(p + 4, (uint16_t)(len - IPV6_HEADER_LEN));
	p[6] = IPV6_PROTO_NONE;
	p[7] = 64;
	memset(&src, 0, sizeof(src));
	if (identity)
		addr_from_id(&identity->id, &src);
	addr_from_id(&qc->peer, &dst);
	memcpy(p + 8, &src, sizeof(src));
	memcpy(p + 24, &dst, sizeof(dst));
	memcpy(p + IPV6_HEADER_LEN, "IRON", 4);
	p[IPV6_HEADER_LEN + 4] = MARK_VERSION;
	p[IPV6_HEADER_LEN + 5] = MARK_STREAM_PACKETS;
}

/* Tells an iron/packet/1 peer, once, that we take packets on streams: a
 * small marked datagram (the probes carry the marker too, but on a small
 * path the first ones are lost). Adds the packets sent to *packets;
 * returns 0 or an ngtcp2 error. */
static int conn_write_hello(struct quic_conn *qc, ngtcp2_path_storage *ps, uint64_t now,
			    size_t *packets)
{
	struct quic_endpoint *ep = qc->ep;
	uint8_t hello[HELLO_LEN];
	ngtcp2_pkt_info pi = {0};
	ngtcp2_vec vec = {.base = hello, .len = sizeof(hello)};
	int accepted = 0;
	ngtcp2_ssize n;

	if (ngtcp2_conn_get_cwnd_left(qc->conn) <= PMTU_BASE)
		return 0;
	marked_packet(qc, hello, sizeof(hello));
	n = ngtcp2_conn_writev_datagram(qc->conn, &ps->path, &pi, ep->tx, PMTU_BASE, &accepted,
					NGTCP2_WRITE_DATAGRAM_FLAG_NONE, 0, &vec, 1, now);
	if (n < 0)
		return (int)n;
	if (n > 0) {
		conn_send(qc, &ps->path, ep->tx, (size_t)n);
		(*packets)++;
	}
	if (accepted) {
		qc->hello_pending = false;
		qc->tail_exposed = true;
	}
	return 0;
}

/* Sends a path MTU probe when the search wants one: a packet of exactly
 * the size tried, holding one DATAGRAM frame with a marked packet. The
 * frame is sized for a 4-byte packet number; ngtcp2 pads the few bytes a
 * shorter one leaves (it fills a packet with less than 10 bytes left), so
 * the packet is exact. Its acknowledgement or loss comes back through the
 * DATAGRAM id. Adds the packets sent to *packets; returns 0 or an ngtcp2
 * error. */
static int conn_write_pmtu_probe(struct quic_conn *qc, ngtcp2_path_storage *ps, uint64_t now,
				 size_t *packets)
{
	struct quic_endpoint *ep = qc->ep;
	uint8_t payload[QUIC_MAX_UDP_PAYLOAD];
	ngtcp2_pkt_info pi = {0};
	ngtcp2_vec vec;
	size_t size = pmtu_next_probe(&qc->pmtu, now);
	size_t overhead = DATAGRAM_OVERHEAD + ngtcp2_conn_get_dcid(qc->conn)->datalen;

	if (!size || size > sizeof(ep->tx) || size < overhead + HELLO_LEN ||
	    ngtcp2_conn_get_cwnd_left(qc->conn) <= size)
		return 0;
	vec.base = payload;
	vec.len = size - overhead;
	marked_packet(qc, payload, vec.len);
	/* A pending ACK frame may take the room first: it leaves in a
	 * packet of its own and the probe follows. */
	for (int attempt = 0; attempt < 3; attempt++) {
		int accepted = 0;
		ngtcp2_ssize n = ngtcp2_conn_writev_datagram(
		    qc->conn, &ps->path, &pi, ep->tx, size, &accepted,
		    NGTCP2_WRITE_DATAGRAM_FLAG_NONE, qc->probe_seq + 1, &vec, 1, now);
		if (n < 0)
			return (int)n;
		if (n > 0) {
			conn_send(qc, &ps->path, ep->tx, (size_t)n);
			(*packets)++;
		}
		if (accepted) {
			qc->probe_seq++;
			pmtu_probe_sent(&qc->pmtu, (size_t)n, qc->probe_seq, now);
			/* A datagram-only packet arms no PTO: the tail probe
			 * that follows lets its loss be detected. */
			qc->tail_exposed = true;
			if (ep->trace)
				log_trace("path MTU probe of %zd bytes", n);
			return 0;
		}
		if (n == 0)
			break; /* limited by pacing: at the next write */
	}
	return 0;
}

/* Where packets that go on streams wait: on /0 (dialled side) every
 * packet; on /1 those too large for a datagram. NULL: none are sent. */
static struct quic_buf_queue *stream_source(struct quic_conn *qc)
{
	if (qc->alpn == QUIC_ALPN_PACKET0)
		return qc->is_client ? &qc->send_queue : NULL;
	if (qc->alpn == QUIC_ALPN_PACKET1)
		return &qc->stream_queue;
	return NULL;
}

/* What the next write call puts into the packet. */
enum write_item { WRITE_FIN, WRITE_CONTROL, WRITE_DATAGRAM, WRITE_STREAM, WRITE_NONE };

/* Hands ngtcp2 what is left of buf on its stream, with FIN, and moves
 * buf->offset past what it took. Returns ngtcp2's result. */
static ngtcp2_ssize write_buf_stream(struct quic_conn *qc, ngtcp2_path *path, ngtcp2_pkt_info *pi,
				     size_t cap, struct quic_buf *buf, uint64_t now)
{
	ngtcp2_ssize datalen = -1;
	ngtcp2_vec vec = {.base = buf->data + buf->offset, .len = (size_t)(buf->len - buf->offset)};
	ngtcp2_ssize n =
	    ngtcp2_conn_writev_stream(qc->conn, path, pi, qc->ep->tx, cap, &datalen,
				      NGTCP2_WRITE_STREAM_FLAG_MORE | NGTCP2_WRITE_STREAM_FLAG_FIN,
				      buf->stream_id, &vec, 1, now);
	if (datalen > 0)
		buf->offset = (uint16_t)(buf->offset + datalen);
	return n;
}

/* Writes everything the connection has to send, until ngtcp2 says it is
 * limited (congestion, pacing, flow control) or has nothing more. */
bool quic_conn_write(struct quic_conn *qc, uint64_t now)
{
	struct quic_endpoint *ep = qc->ep;
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi = {0};
	bool coalescing = false, streams_blocked = false, dgrams_blocked = false;
	bool control_blocked = false;
	bool probed = false, folded = false;
	size_t packets = 0, cap, room;
	struct quic_buf_queue *streamq;
	uint64_t expiry;
	int rv;

	if (qc->npath_events)
		conn_report_paths(qc);
	if (qc->close_kind != QUIC_CLOSE_NONE) {
		conn_write_close(qc, now);
		conn_finish(qc, qc->close_error, qc->close_reason);
		return false;
	}
	ngtcp2_path_storage_zero(&ps);
	qc->rx_unacked = 0;
	if (qc->established && conn_handshake_over(qc)) {
		pmtu_follow_path(qc);
		rv = qc->hello_pending ? conn_write_hello(qc, &ps, now, &packets) : 0;
		if (rv == 0)
			rv = conn_write_pmtu_probe(qc, &ps, now, &packets);
		if (rv < 0) {
			conn_fail(qc, rv, now);
			return false;
		}
	}
	/* One size for the whole write: a packet being coalesced keeps the
	 * buffer of the call that started it. */
	cap = conn_tx_cap(qc);
	room = datagram_room(qc, cap);
	streamq = stream_source(qc);
	while (packets < WRITE_BURST) {
		bool ready = ngtcp2_conn_get_handshake_completed(qc->conn);
		enum write_item item = WRITE_NONE;
		struct quic_buf *pkt = NULL;
		ngtcp2_ssize n, datalen = -1;
		int accepted = 0;
		ngtcp2_vec vec;

		if (ready && qc->nfin > 0 && !streams_blocked) {
			item = WRITE_FIN;
		} else if (ready && (qc->ctl_current || qc->ctl_pending) && !control_blocked &&
			   !(coalescing && !qc->ctl_current)) {
			item = WRITE_CONTROL;
			if (!qc->ctl_current) {
				int64_t id;
				rv = ngtcp2_conn_open_uni_stream(qc->conn, &id, qc->ctl_pending);
				if (rv != 0) {
					/* The peer allows none (yet): it waits. */
					control_blocked = true;
					continue;
				}
				qc->ctl_current = qc->ctl_pending;
				qc->ctl_pending = NULL;
				qc->ctl_current->stream_id = id;
				held_add(qc, qc->ctl_current);
			}
			pkt = qc->ctl_current;
		} else if (ready && qc->alpn == QUIC_ALPN_PACKET1 && qc->send_queue.head &&
			   !dgrams_blocked) {
			item = WRITE_DATAGRAM;
			pkt = qc->send_queue.head;
			if (pkt->len > room) {
				if (!conn_handshake_over(qc)) {
					/* Only 1200 bytes go until then. */
					dgrams_blocked = true;
				} else if (qc->peer_stream_packets) {
					queue_push(&qc->stream_queue, queue_pop(&qc->send_queue));
					qc->dgram_refused = 0;
				} else {
					/* The path cannot carry it, and the peer
					 * takes no streams. */
					drop_head(qc);
				}
				continue;
			}
			if (!window_has_room(qc, pkt->len, cap, coalescing)) {
				dgrams_blocked = true;
				continue;
			}
		} else if (ready && streamq && !streams_blocked &&
			   (qc->tx_current || streamq->head)) {
			item = WRITE_STREAM;
			pkt = qc->tx_current;
			/* No other ngtcp2 call is allowed while a packet is
			 * being coalesced: finish it before opening a stream. */
			if (!pkt && coalescing) {
				item = WRITE_NONE;
			} else if (!pkt) {
				int64_t id;
				/* Bidirectional on /1 too: 0.12.1 never closes a
				 * peer's unidirectional stream (fixed in 0.14), so
				 * those would run out. */
				rv = ngtcp2_conn_open_bidi_stream(qc->conn, &id, streamq->head);
				if (rv == NGTCP2_ERR_STREAM_ID_BLOCKED) {
					streams_blocked = true;
					continue;
				}
				if (rv != 0) {
					conn_fail(qc, rv, now);
					return false;
				}
				/* The stream owns the buffer until its data is
				 * acknowledged (ngtcp2 does not copy it). */
				pkt = queue_pop(streamq);
				pkt->stream_id = id;
				held_add(qc, pkt);
				qc->tx_current = pkt;
			}
		}

		switch (item) {
		case WRITE_FIN:
			n = ngtcp2_conn_writev_stream(
			    qc->conn, &ps.path, &pi, ep->tx, cap, &datalen,
			    NGTCP2_WRITE_STREAM_FLAG_MORE | NGTCP2_WRITE_STREAM_FLAG_FIN,
			    qc->fin_ids[qc->nfin - 1], NULL, 0, now);
			if (datalen >= 0 || n == NGTCP2_ERR_STREAM_NOT_FOUND ||
			    n == NGTCP2_ERR_STREAM_SHUT_WR)
				qc->nfin--;
			break;
		case WRITE_CONTROL:
			n = write_buf_stream(qc, &ps.path, &pi, cap, pkt, now);
			if (pkt->offset == pkt->len)
				qc->ctl_current = NULL; /* held until acknowledged */
			if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				control_blocked = true;
			} else if (n == NGTCP2_ERR_STREAM_NOT_FOUND ||
				   n == NGTCP2_ERR_STREAM_SHUT_WR) {
				qc->ctl_current = NULL; /* the peer stopped it */
			}
			break;
		case WRITE_DATAGRAM:
			vec.base = pkt->data;
			vec.len = pkt->len;
			/* The last datagram of the burst carries the tail
			 * probe itself when there is room: one packet instead
			 * of two for each small packet of interactive traffic
			 * (a ping costs one QUIC packet each way). */
			if (!pkt->next && !probed && probe_fits(qc, pkt->len, cap)) {
				queue_tail_probe(qc);
				probed = true;
				folded = true;
			}
			/* One IP packet per QUIC packet, as WireGuard does:
			 * packed together, the inner ACKs of a burst were
			 * lost together (one lost QUIC packet took six of
			 * them), which at 30 % loss left the inner TCP without
			 * any ACK for the tail of a flight and sent it into
			 * its retransmission backoff (issue 15). Measured
			 * without loss: no change in throughput or CPU. */
			n = ngtcp2_conn_writev_datagram(qc->conn, &ps.path, &pi, ep->tx, cap,
							&accepted, NGTCP2_WRITE_DATAGRAM_FLAG_NONE,
							0, &vec, 1, now);
			if (accepted) {
				buf_put(ep, queue_pop(&qc->send_queue));
				qc->stats.packets_sent++;
				qc->dgram_refused = 0;
				/* In the probe's packet, the datagram is covered. */
				qc->tail_exposed = !folded;
			} else {
				/* The probe went out without it (or not at
				 * all): a later one covers the datagram. */
				if (folded)
					probed = folded = false;
			}
			if (!accepted && n > 0 && ++qc->dgram_refused > 8) {
				/* Fresh packets with room in the window keep
				 * leaving it out (a packet with only an ACK, or
				 * a tail probe, counts once and is followed by
				 * the datagram); our size check should make
				 * this unreachable. */
				log_debug("datagram of %u bytes never fits: dropped", pkt->len);
				drop_head(qc);
			} else if (n == 0) {
				dgrams_blocked = true;
			}
			break;
		case WRITE_STREAM:
			n = write_buf_stream(qc, &ps.path, &pi, cap, pkt, now);
			if (pkt->offset == pkt->len) {
				qc->tx_current = NULL;
				qc->stats.packets_sent++;
				if (qc->alpn == QUIC_ALPN_PACKET1)
					qc->stats.stream_packets_sent++;
			}
			if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
				streams_blocked = true;
			} else if (n == NGTCP2_ERR_STREAM_NOT_FOUND ||
				   n == NGTCP2_ERR_STREAM_SHUT_WR) {
				/* The peer stopped the stream; the packet is lost. */
				qc->tx_current = NULL;
				qc->stats.packets_dropped++;
			}
			break;
		case WRITE_NONE:
		default:
			n = ngtcp2_conn_write_pkt(qc->conn, &ps.path, &pi, ep->tx, cap, now);
			break;
		}

		if (n == NGTCP2_ERR_WRITE_MORE) {
			coalescing = true;
			continue;
		}
		if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_NOT_FOUND ||
		    n == NGTCP2_ERR_STREAM_SHUT_WR)
			continue;
		if (n < 0) {
			conn_fail(qc, (int)n, now);
			return false;
		}
		coalescing = false;
		if (n == 0) {
			/* Limited, or nothing left. The last item's blocked
			 * flag lets a plain write close off the loop, after
			 * the tail probe if datagrams went out. */
			if (item == WRITE_NONE && !probed &&
			    tail_needs_probe(qc, dgrams_blocked, now)) {
				queue_tail_probe(qc);
				probed = true;
				continue;
			}
			if (item == WRITE_NONE)
				break;
			if (item == WRITE_STREAM || item == WRITE_FIN)
				streams_blocked = true;
			dgrams_blocked = true;
			continue;
		}
		conn_send(qc, &ps.path, ep->tx, (size_t)n);
		packets++;
	}
	/* Pace only once the handshake is done: before the first RTT sample
	 * 0.12.1's pacer assumes a long RTT and would hold back the client's
	 * Finished for tens of milliseconds (DESIGN section 4). */
	if (ngtcp2_conn_get_handshake_completed(qc->conn))
		ngtcp2_conn_update_pkt_tx_time(qc->conn, now);
	stall_probe_update(qc, dgrams_blocked, now);
	/* 0.12.1 reports a retired connection ID's expiry as retired + PTO
	 * but drops it only after that instant: handle_expiry at exactly
	 * that time does nothing, and the same expiry comes back. Once a
	 * write is done nothing is due before the next nanosecond. */
	expiry = conn_next_expiry(qc);
	conn_set_expiry(qc, expiry > now ? expiry : now + 1);
	if (packets >= WRITE_BURST) {
		/* The rest goes out at once; the probe leads it. */
		if (qc->tail_exposed)
			queue_tail_probe(qc);
		conn_set_expiry(qc, now);
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* Reading */

/* Whether a packet that came on a path other than the one in use ends in
 * the stateless reset token of a connection ID we no longer use. ngtcp2
 * 0.12.1 honours such a reset, against RFC 9000 section 10.3.1: after a
 * move from the relay to a direct path, a packet of ours that was still on
 * its way through the relay reaches the peer after the ID was retired, the
 * peer answers it with a stateless reset, and that reset closed the live
 * connection. */
static bool stale_stateless_reset(struct quic_conn *qc, const struct sockaddr *remote,
				  const uint8_t *data, size_t len)
{
	enum { MAX_TOKENS = 16, MIN_RESET_LEN = 21 /* RFC 9000 section 10.3 */ };
	ngtcp2_cid_token tokens[MAX_TOKENS];

	if (len < MIN_RESET_LEN || (data[0] & 0x80) != 0 ||
	    netaddr_equal(remote, ngtcp2_conn_get_path(qc->conn)->remote.addr) ||
	    ngtcp2_conn_get_num_active_dcid(qc->conn) > MAX_TOKENS)
		return false;
	/* The first is the ID in use; its reset is honoured. */
	size_t n = ngtcp2_conn_get_active_dcid(qc->conn, tokens);
	const uint8_t *tail = data + len - NGTCP2_STATELESS_RESET_TOKENLEN;
	for (size_t i = 1; i < n; i++)
		if (tokens[i].token_present &&
		    sodium_memcmp(tokens[i].token, tail, NGTCP2_STATELESS_RESET_TOKENLEN) == 0 &&
		    (!tokens[0].token_present ||
		     sodium_memcmp(tokens[0].token, tail, NGTCP2_STATELESS_RESET_TOKENLEN) != 0))
			return true;
	return false;
}

/* Whether the connection lost packets of its own lately (see
 * ACK_EVERY_CLEAN). */
static bool losing(struct quic_conn *qc, uint64_t now)
{
	ngtcp2_conn_stat cs;

	if (qc->last_loss_ns && now - qc->last_loss_ns < ACK_LOSSY_NS)
		return true;
	ngtcp2_conn_get_conn_stat(qc->conn, &cs);
	return cs.pto_count > 0 || cs.congestion_recovery_start_ts != UINT64_MAX;
}

/* Writes what ngtcp2 has to send besides datagrams and stream data: the
 * ACK it owes, if any (see ACK_EVERY). An error is left to the next flush,
 * which meets it again and ends the connection there. */
static void conn_write_ack(struct quic_conn *qc, bool urgent, uint64_t now)
{
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi = {0};
	ngtcp2_ssize n;

	qc->rx_unacked = 0;
	ngtcp2_path_storage_zero(&ps);
	n = ngtcp2_conn_write_pkt(qc->conn, &ps.path, &pi, qc->ep->tx, conn_tx_cap(qc), now);
	if (n <= 0)
		return;
	conn_send(qc, &ps.path, qc->ep->tx, (size_t)n);
	if (urgent && qc->ep->cb.flush) {
		qc->ep->stats.ack_flushes++;
		qc->ep->cb.flush(qc->ep->cb.user);
	}
}

void quic_conn_read(struct quic_conn *qc, const struct sockaddr *local,
		    const struct sockaddr *remote, const uint8_t *data, size_t len, uint64_t now)
{
	ngtcp2_path path;
	ngtcp2_pkt_info pi = {0};
	int rv;

	make_path(&path, local, remote);
	qc->stats.bytes_received += len;
	if (stale_stateless_reset(qc, remote, data, len)) {
		qc->ep->stats.stale_resets_ignored++;
		log_debug("ignored a stateless reset for a retired connection ID");
		return;
	}
	/* ngtcp2 drops a client's packet from elsewhere than its path (or the
	 * one it validates): a server may not move. Where it came from is
	 * kept: the peer's NAT may have given it a new port. */
	if (qc->is_client && !netaddr_equal(remote, ngtcp2_conn_get_path(qc->conn)->remote.addr)) {
		netaddr_set(&qc->stray, remote);
		qc->stray_ns = now;
	}
	rv = ngtcp2_conn_read_pkt(qc->conn, &path, &pi, data, len, now);
	if (rv != 0) {
		if (qc->ep->trace)
			log_trace("read_pkt: %s", ngtcp2_strerror(rv));
		conn_fail(qc, rv, now);
		return;
	}
	/* Heard from the peer on the path in use (a probe of another path
	 * does not count): the daemon tells a dead path by its silence. */
	if (netaddr_equal(remote, ngtcp2_conn_get_path(qc->conn)->remote.addr))
		qc->stats.last_received_ns = now;
	conn_release_tls(qc);
	quic_conn_mark_dirty(qc);
	if (++qc->rx_unacked >= ACK_EVERY && ngtcp2_conn_get_handshake_completed(qc->conn) &&
	    qc->close_kind == QUIC_CLOSE_NONE) {
		if (qc->rx_unacked == ACK_EVERY && losing(qc, now))
			conn_write_ack(qc, true, now);
		else if (qc->rx_unacked >= ACK_EVERY_CLEAN)
			conn_write_ack(qc, false, now);
	}
	conn_update_expiry(qc);
}

struct quic_conn *quic_conn_accept(struct quic_endpoint *ep, const struct sockaddr *local,
				   const struct sockaddr *remote, const ngtcp2_pkt_hd *hd,
				   const ngtcp2_cid *odcid, uint64_t now)
{
	struct tls_session_params tp = {.is_client = false, .get_conn = get_conn};
	ngtcp2_transport_params params;
	ngtcp2_callbacks callbacks;
	ngtcp2_settings settings;
	ngtcp2_path path;
	ngtcp2_cid scid;
	struct quic_conn *qc = conn_alloc(ep, false);
	int rv;

	if (!qc)
		return NULL;
	qc->half_open = true;
	ep->nhalf_open++;
	make_path(&path, local, remote);
	make_callbacks(&callbacks, false);
	make_settings(ep, &settings, now);
	make_params(ep, &params);
	if (odcid) {
		/* RFC 9000 §7.3: the client checks both against the Retry it
		 * followed; the token also lifts the anti-amplification limit. */
		params.original_dcid = *odcid;
		params.retry_scid = hd->dcid;
		params.retry_scid_present = 1;
		settings.token = hd->token;
	} else {
		params.original_dcid = hd->dcid;
	}
	if (quic_endpoint_new_cid(ep, &scid, QUIC_CID_LEN) < 0 ||
	    ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token,
							 ep->reset_secret, sizeof(ep->reset_secret),
							 &scid) != 0)
		goto fail;
	params.stateless_reset_token_present = 1;
	rv = ngtcp2_conn_server_new(&qc->conn, &hd->scid, &scid, &path, hd->version, &callbacks,
				    &settings, &params, &conn_mem, qc);
	if (rv != 0) {
		qc->conn = NULL;
		goto fail;
	}
	tp.user_data = qc;
	tp.admit = ep->cb.admit;
	tp.admit_user = ep->cb.user;
	if (tls_session_new(ep->tls, &tp, &qc->tls) < 0)
		goto fail;
	ngtcp2_conn_set_tls_native_handle(qc->conn, tls_session_native_handle(qc->tls));
	/* The client keeps its original DCID until it hears from us. */
	if (cidmap_add(&ep->cids, &qc->cids, qc, scid.data, scid.datalen) < 0 ||
	    cidmap_add(&ep->cids, &qc->cids, qc, hd->dcid.data, hd->dcid.datalen) < 0)
		goto fail;
	return qc;
fail:
	quic_conn_free(qc);
	return NULL;
}

int quic_connect(struct quic_endpoint *ep, const struct iron_id *peer, const struct sockaddr *local,
		 const struct sockaddr *remote, uint64_t now_ns, struct quic_conn **out)
{
	struct tls_session_params tp = {
	    .is_client = true,
	    .expected_peer = peer,
	    .alpns = (ep->config.client_alpns & QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1)
			  ? TLS_ALPN_FLAG(TLS_ALPN_PACKET1)
			  : 0) |
		     (ep->config.client_alpns & QUIC_ALPN_FLAG(QUIC_ALPN_PACKET0)
			  ? TLS_ALPN_FLAG(TLS_ALPN_PACKET0)
			  : 0),
	    .extra_alpn = ep->config.client_extra_alpn,
	    .get_conn = get_conn,
	};
	ngtcp2_transport_params params;
	ngtcp2_callbacks callbacks;
	ngtcp2_settings settings;
	ngtcp2_path path;
	ngtcp2_cid dcid, scid;
	struct quic_conn *qc;
	int rv;

	*out = NULL;
	if (!netaddr_len(local) || !netaddr_len(remote))
		return -EINVAL;
	if (ep->nconns >= ep->config.max_connections)
		return -EMFILE;
	qc = conn_alloc(ep, true);
	if (!qc)
		return -ENOMEM;
	qc->peer = *peer;
	qc->announced = true;
	ep->now = now_ns;
	make_path(&path, local, remote);
	make_callbacks(&callbacks, true);
	make_settings(ep, &settings, now_ns);
	make_params(ep, &params);
	/* The DCID of a client's Initial only seeds the Initial keys. */
	quic_endpoint_random(ep, dcid.data, QUIC_CID_LEN);
	dcid.datalen = QUIC_CID_LEN;
	rv = quic_endpoint_new_cid(ep, &scid, QUIC_CID_LEN);
	if (rv < 0)
		goto fail;
	rv = ngtcp2_conn_client_new(&qc->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &callbacks,
				    &settings, &params, &conn_mem, qc);
	if (rv != 0) {
		qc->conn = NULL;
		rv = rv == NGTCP2_ERR_NOMEM ? -ENOMEM : -EINVAL;
		goto fail;
	}
	tp.user_data = qc;
	rv = tls_session_new(ep->tls, &tp, &qc->tls);
	if (rv < 0)
		goto fail;
	ngtcp2_conn_set_tls_native_handle(qc->conn, tls_session_native_handle(qc->tls));
	rv = cidmap_add(&ep->cids, &qc->cids, qc, scid.data, scid.datalen);
	if (rv < 0)
		goto fail;
	conn_update_expiry(qc);
	quic_conn_mark_dirty(qc);
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char name[IRON_ID_BASE32_LEN + 1], text[64];
		id_to_base32(peer, name);
		log_debug("dialling %s at %s", name, netaddr_format(remote, text, sizeof(text)));
	}
	*out = qc;
	return 0;
fail:
	quic_conn_free(qc);
	return rv;
}

size_t quic_conn_max_packet_size(const struct quic_conn *qc)
{
	enum quic_alpn alpn = qc->alpn;
	size_t size;

	if (alpn == QUIC_ALPN_NONE)
		alpn = qc->ep->config.client_alpns & QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1)
			   ? QUIC_ALPN_PACKET1
			   : QUIC_ALPN_PACKET0;
	if (alpn == QUIC_ALPN_PACKET0)
		return QUIC_MAX_STREAM_PACKET;
	if (!qc->established || !conn_handshake_over(qc))
		return datagram_room(qc, QUIC_MAX_UDP_PAYLOAD);
	if (qc->peer_stream_packets && !qc->pmtu.known)
		return QUIC_MAX_STREAM_PACKET;
	size = datagram_room(qc, conn_tx_cap(qc));
	if (qc->pmtu.known && size < IPV6_MIN_MTU)
		size = IPV6_MIN_MTU;
	return size;
}

int quic_conn_send_packet(struct quic_conn *qc, const uint8_t *data, size_t len, uint64_t now_ns)
{
	struct quic_buf *buf;

	if (qc->finishing || qc->close_kind != QUIC_CLOSE_NONE)
		return -ENOTCONN;
	if (qc->established && qc->alpn == QUIC_ALPN_PACKET0 && !qc->is_client)
		return -EPERM;
	if (len == 0 || len > QUIC_MAX_STREAM_PACKET || len > quic_conn_max_packet_size(qc))
		return -EMSGSIZE;
	buf = buf_get(qc->ep);
	if (!buf)
		return -ENOMEM;
	if (qc->stream_queue.count &&
	    qc->send_queue.count + qc->stream_queue.count >= qc->ep->config.send_queue_len) {
		buf_put(qc->ep, queue_pop(&qc->stream_queue));
		qc->stats.packets_dropped++;
	} else if (qc->send_queue.count >= qc->ep->config.send_queue_len) {
		drop_head(qc);
	}
	memcpy(buf->data, data, len);
	buf->len = (uint16_t)len;
	queue_push(&qc->send_queue, buf);
	qc->stats.last_activity_ns = now_ns;
	quic_conn_mark_dirty(qc);
	return 0;
}

void quic_conn_expire(struct quic_conn *qc, uint64_t now)
{
	int rv = ngtcp2_conn_handle_expiry(qc->conn, now);

	if (rv != 0) {
		conn_fail(qc, rv, now);
		return;
	}
	/* The write recomputes its expiry. */
	conn_set_expiry(qc, UINT64_MAX);
	quic_conn_mark_dirty(qc);
}

static int conn_migrate(struct quic_conn *qc, const struct sockaddr *local,
			const struct sockaddr *remote, bool immediate, uint64_t now_ns)
{
	ngtcp2_path path;
	int rv;

	if (!qc->is_client)
		return -EPERM;
	if (!qc->confirmed || qc->finishing || qc->close_kind != QUIC_CLOSE_NONE)
		return -ENOTCONN;
	if (!netaddr_len(local) || !netaddr_len(remote) ||
	    netaddr_equal(local, quic_conn_local(qc)))
		return -EINVAL;
	make_path(&path, local, remote);
	rv = immediate ? ngtcp2_conn_initiate_immediate_migration(qc->conn, &path, now_ns)
		       : ngtcp2_conn_initiate_migration(qc->conn, &path, now_ns);
	switch (rv) {
	case 0:
		break;
	case NGTCP2_ERR_CONN_ID_BLOCKED:
		return -EAGAIN;
	case NGTCP2_ERR_INVALID_ARGUMENT:
		/* ngtcp2 compares without the IPv6 scope. */
		return -EINVAL;
	case NGTCP2_ERR_INVALID_STATE:
		/* Confirmed, so: the peer's disable_active_migration. */
		return -EOPNOTSUPP;
	case NGTCP2_ERR_NOMEM:
		return -ENOMEM;
	default:
		log_debug("initiate_migration: %s", ngtcp2_strerror(rv));
		return -EPROTO;
	}
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char from[NETADDR_STR_SIZE], to[NETADDR_STR_SIZE];
		log_debug("%s to %s -> %s", immediate ? "moving" : "migrating",
			  netaddr_format(local, from, sizeof(from)),
			  netaddr_format(remote, to, sizeof(to)));
	}
	/* The PATH_CHALLENGE goes out at the next flush. */
	conn_update_expiry(qc);
	quic_conn_mark_dirty(qc);
	return 0;
}

int quic_conn_migrate(struct quic_conn *qc, const struct sockaddr *local,
		      const struct sockaddr *remote, uint64_t now_ns)
{
	return conn_migrate(qc, local, remote, false, now_ns);
}

int quic_conn_migrate_now(struct quic_conn *qc, const struct sockaddr *local,
			  const struct sockaddr *remote, uint64_t now_ns)
{
	return conn_migrate(qc, local, remote, true, now_ns);
}

void quic_conn_close(struct quic_conn *qc, uint64_t app_error_code, uint64_t now_ns)
{
	(void)now_ns;
	conn_request_close(qc, QUIC_CLOSE_APPLICATION, app_error_code, 0, "closed by us");
}

size_t quic_endpoint_close_idle(struct quic_endpoint *ep, uint64_t idle_ns, uint64_t now_ns,
				size_t budget, bool *finished)
{
	size_t closed = 0;
	struct quic_conn *qc;

	if (!ep->idle_walk) {
		ep->idle_cursor = ep->conns;
		ep->idle_walk = true;
	}
	for (; budget > 0 && (qc = ep->idle_cursor); budget--) {
		/* Past it first: closing may free it (detach moves the
		 * cursor past a connection it frees). */
		ep->idle_cursor = qc->next;
		uint64_t last = qc->stats.last_activity_ns > qc->established_ns
				    ? qc->stats.last_activity_ns
				    : qc->established_ns;
		if (!qc->established || qc->close_kind != QUIC_CLOSE_NONE || qc->finishing ||
		    now_ns < last || now_ns - last <= idle_ns)
			continue;
		conn_request_close(qc, QUIC_CLOSE_APPLICATION, 0, 0, "idle");
		closed++;
	}
	ep->idle_walk = ep->idle_cursor != NULL;
	*finished = !ep->idle_walk;
	return closed;
}

void quic_conn_set_keepalive(struct quic_conn *qc, uint64_t interval_ns)
{
	ngtcp2_conn_set_keep_alive_timeout(qc->conn, interval_ns);
	if (!qc->finishing)
		conn_update_expiry(qc);
}

int quic_conn_update_keys(struct quic_conn *qc, uint64_t now_ns)
{
	int rv;

	if (!qc->established || qc->close_kind != QUIC_CLOSE_NONE || qc->finishing)
		return -ENOTCONN;
	rv = ngtcp2_conn_initiate_key_update(qc->conn, now_ns);
	if (rv != 0)
		return -EAGAIN;
	quic_conn_mark_dirty(qc);
	return 0;
}

const struct iron_id *quic_conn_peer(const struct quic_conn *qc)
{
	return &qc->peer;
}

enum quic_alpn quic_conn_alpn(const struct quic_conn *qc)
{
	return qc->alpn;
}

bool quic_conn_is_client(const struct quic_conn *qc)
{
	return qc->is_client;
}

bool quic_conn_is_established(const struct quic_conn *qc)
{
	return qc->established;
}

void quic_conn_set_user(struct quic_conn *qc, void *user)
{
	qc->user = user;
}

void *quic_conn_user(const struct quic_conn *qc)
{
	return qc->user;
}

const struct sockaddr *quic_conn_remote(const struct quic_conn *qc)
{
	return ngtcp2_conn_get_path(qc->conn)->remote.addr;
}

uint64_t quic_conn_rtt(const struct quic_conn *qc)
{
	ngtcp2_conn_stat cs;
	ngtcp2_conn_get_conn_stat(qc->conn, &cs);
	return cs.smoothed_rtt;
}

const struct sockaddr *quic_conn_local(const struct quic_conn *qc)
{
	return ngtcp2_conn_get_path(qc->conn)->local.addr;
}

const struct sockaddr *quic_conn_stray_remote(const struct quic_conn *qc, uint64_t *at_ns)
{
	if (!qc->stray_ns)
		return NULL;
	*at_ns = qc->stray_ns;
	return &qc->stray.sa;
}

void quic_conn_get_stats(const struct quic_conn *qc, struct quic_conn_stats *stats)
{
	ngtcp2_conn_stat cs;

	ngtcp2_conn_get_conn_stat(qc->conn, &cs);
	*stats = qc->stats;
	stats->rtt_ns = cs.smoothed_rtt;
	stats->min_rtt_ns = cs.min_rtt == UINT64_MAX ? 0 : cs.min_rtt;
	stats->bytes_in_flight = cs.bytes_in_flight;
	stats->last_sent_ns = cs.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION] == UINT64_MAX
				  ? 0
				  : cs.last_tx_pkt_ts[NGTCP2_PKTNS_ID_APPLICATION];
	stats->cwnd = cs.cwnd;
	stats->path_mtu = pmtu_confirmed(&qc->pmtu);
	stats->path_mtu_settled = qc->established && qc->pmtu.known;
	stats->peer_stream_packets = qc->peer_stream_packets;
	stats->pmtu_probes_sent = qc->pmtu.probes_sent;
	stats->pmtu_probes_lost = qc->pmtu.probes_lost;
	stats->max_datagram =
	    qc->alpn == QUIC_ALPN_PACKET0 ? 0 : datagram_room(qc, conn_tx_cap(qc));
	stats->max_packet = quic_conn_max_packet_size(qc);
}

int quic_conn_send_control(struct quic_conn *qc, const uint8_t *data, size_t len)
{
	if (conn_alpn(qc) != QUIC_ALPN_PACKET1 || len == 0 || len > QUIC_CONTROL_MAX)
		return -EINVAL;
	if (!qc->ctl_pending) {
		qc->ctl_pending = buf_get(qc->ep);
		if (!qc->ctl_pending)
			return -ENOMEM;
	}
	memcpy(qc->ctl_pending->data, data, len);
	qc->ctl_pending->len = (uint16_t)len;
	qc->ctl_pending->offset = 0;
	quic_conn_mark_dirty(qc);
	return 0;
}
