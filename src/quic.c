#define LOG_MODULE "quic"
#include "iron/quic.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <sodium.h>

#include "iron/log.h"
#include "iron/pagealloc.h"
#include "iron/ratelimit.h"
#include "iron/tls.h"

/* Length of the connection IDs we issue; short-header packets to us carry
 * exactly this many DCID bytes. */
#define CID_LEN 8

#define DEFAULT_IDLE_TIMEOUT	  (30 * NGTCP2_SECONDS)
#define DEFAULT_HANDSHAKE_TIMEOUT (10 * NGTCP2_SECONDS)
#define DEFAULT_INITIAL_RTT	  (50 * NGTCP2_MILLISECONDS)
#define DEFAULT_MAX_CONNECTIONS	  4096
#define DEFAULT_MAX_HALF_OPEN	  256
#define DEFAULT_SEND_QUEUE_LEN	  256

/* Flow control: the connection window must carry a fast link's
 * bandwidth-delay product; a stream only ever carries one IP packet. */
#define INITIAL_MAX_DATA	(8 * 1024 * 1024)
#define MAX_WINDOW		(24 * 1024 * 1024)
#define INITIAL_MAX_STREAM_DATA (64 * 1024)
/* Streams the dialling side of an iron/packet/0 connection may have open at
 * once (one per packet in flight); extended as they close. */
#define INITIAL_MAX_STREAMS_BIDI 1000
#define MAX_DATAGRAM_FRAME_SIZE	 65535
#define ACTIVE_CID_LIMIT	 4

/* Worst-case bytes around a DATAGRAM frame's payload in a short-header
 * packet besides the DCID: first byte, 4-byte packet number, AEAD tag,
 * frame type and a 2-byte length. */
#define DATAGRAM_OVERHEAD (1 + 4 + 16 + 1 + 2)
/* Room for the ACK frame ngtcp2 may put in the same packet. */
#define ACK_ROOM 256

/* Application error code of RESET_STREAM/STOP_SENDING for streams we do not
 * take (any stream on /1, oversized packets on /0). */
#define APP_ERROR_STREAM_REFUSED 1

/* Free packet buffers kept for reuse, so the hot path does not allocate. */
#define POOL_MAX 1024

/* Stateless resets: a token bucket so that a flood of unknown packets cannot
 * turn us into a reflector, and at most this many bytes each. */
#define RESET_BURST   16
#define RESET_PER_SEC 16
#define RESET_MAX_LEN 43

/* How long a Retry token is good for: a client answers a Retry at once, so
 * this only has to cover its retransmissions of the Initial that carries it
 * (with ngtcp2's backoff the fourth goes out ~2 s later). */
#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)

/* Log lines about refused clients: one a second on average, bursts of 10. */
#define REFUSED_LOG_PER_SEC 1
#define REFUSED_LOG_BURST   10

/* Bound on packets written for one connection per flush, so one connection
 * cannot starve the others; the rest goes out at the next expiry. */
#define WRITE_BURST 1024

/* One IP packet, queued for sending or held while ngtcp2 may still need it
 * (stream data on /0 until acknowledged), or a /0 stream being received. */
struct quic_buf {
	struct quic_buf *next, *prev;
	int64_t stream_id; /* -1 when not on a stream */
	uint16_t len;
	uint16_t offset; /* /0 sending: bytes handed to ngtcp2 */
	uint8_t data[QUIC_MAX_STREAM_PACKET];
};

struct buf_queue {
	struct quic_buf *head, *tail;
	size_t count;
};

/* A connection ID or reset token mapped to its connection. */
struct map_entry {
	struct map_entry *next;	      /* hash chain */
	struct map_entry *owner_next; /* the connection's entries */
	struct quic_conn *conn;
	uint8_t len;
	uint8_t data[NGTCP2_MAX_CIDLEN];
};

struct conn_map {
	struct map_entry **buckets;
	size_t nbuckets; /* power of two */
	size_t count;
	uint8_t key[crypto_shorthash_KEYBYTES]; /* keyed hash: peers choose the keys */
};

enum close_kind { CLOSE_NONE, CLOSE_APPLICATION, CLOSE_TRANSPORT };

struct quic_conn {
	struct quic_endpoint *ep;
	struct quic_conn *prev, *next;		   /* ep->conns */
	struct quic_conn *dirty_prev, *dirty_next; /* ep->dirty */
	bool dirty;
	size_t heap_index;
	uint64_t expiry; /* cached ngtcp2_conn_get_expiry() */

	ngtcp2_conn *conn;
	struct tls_session *tls;
	struct map_entry *cids;	  /* ours, in ep->cids */
	struct map_entry *tokens; /* the peer's reset tokens, in ep->tokens */

	struct iron_id peer;
	enum quic_alpn alpn;
	bool is_client;
	bool half_open;	  /* accepted, not yet established */
	bool established; /* announced to the user */
	bool announced;	  /* the user knows this connection */
	bool finishing;	  /* the closed callback is running */
	bool stateless_reset;
	bool tls_done; /* the TLS session is no longer needed */

	/* A close we decided on, carried out at the next flush. */
	enum close_kind close_kind;
	uint64_t close_code;
	int close_error;
	const char *close_reason;

	struct buf_queue send_queue; /* IP packets waiting for ngtcp2 */
	struct quic_buf *held;	     /* bufs attached to streams */
	struct quic_buf *tx_current; /* /0: the stream being written */
	int64_t *fin_ids;	     /* /0 server: streams to finish */
	size_t nfin, fin_cap;
	unsigned dgram_refused; /* fresh packets the head datagram missed */
	bool tail_exposed;	/* datagrams sent since the last tail probe */

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
	struct quic_conn *dirty_head, *dirty_tail;
	struct quic_conn **heap;
	size_t heap_len, heap_cap;
	struct conn_map cids;
	struct conn_map tokens;

	struct quic_buf *pool;
	size_t npool;

	bool rng_seeded;
	uint8_t rng_key[crypto_stream_chacha20_KEYBYTES];
	uint64_t rng_counter;
	uint8_t reset_secret[32];
	uint8_t retry_secret[32];
	size_t retry_threshold; /* half-open connections from which we send Retry */
	double reset_tokens;
	uint64_t reset_last_ns;
	struct ratelimit refused_log; /* info lines about refused clients */

	uint64_t now; /* time of the current receive/expiry/flush, for callbacks */
	struct quic_endpoint_stats stats;
	uint8_t tx[QUIC_MAX_UDP_PAYLOAD];
};

/* ---------------------------------------------------------------------- */
/* Randomness */

static void rng_fill(struct quic_endpoint *ep, uint8_t *out, size_t len)
{
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];

	if (!ep->rng_seeded) {
		randombytes_buf(out, len);
		return;
	}
	memcpy(nonce, &ep->rng_counter, sizeof(nonce));
	ep->rng_counter++;
	crypto_stream_chacha20(out, len, nonce, ep->rng_key);
}

static void on_rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
	rng_fill(rand_ctx->native_handle, dest, destlen);
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
	if (ep->npool >= POOL_MAX) {
		free(buf);
		return;
	}
	buf->next = ep->pool;
	ep->pool = buf;
	ep->npool++;
}

static void queue_push(struct buf_queue *q, struct quic_buf *buf)
{
	buf->next = NULL;
	if (q->tail)
		q->tail->next = buf;
	else
		q->head = buf;
	q->tail = buf;
	q->count++;
}

static struct quic_buf *queue_pop(struct buf_queue *q)
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
	buf_put(qc->ep, buf);
}

/* ---------------------------------------------------------------------- */
/* Maps from bytes to connections: our connection IDs (and clients' original
 * DCIDs) to route datagrams, and the peers' stateless reset tokens to
 * recognise a reset. Each entry is also on its connection's list, so a
 * connection drops all of its entries when it goes. */

static size_t map_hash(const struct conn_map *map, const uint8_t *data, size_t len)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, data, len, map->key);
	return (size_t)h & (map->nbuckets - 1);
}

static struct map_entry **map_slot(struct conn_map *map, const uint8_t *data, size_t len)
{
	struct map_entry **slot = &map->buckets[map_hash(map, data, len)];

	for (; *slot; slot = &(*slot)->next)
		if ((*slot)->len == len && memcmp((*slot)->data, data, len) == 0)
			break;
	return slot;
}

static struct quic_conn *map_find(struct conn_map *map, const uint8_t *data, size_t len)
{
	struct map_entry *e;

	if (len == 0 || len > NGTCP2_MAX_CIDLEN)
		return NULL;
	e = *map_slot(map, data, len);
	return e ? e->conn : NULL;
}

static int map_grow(struct conn_map *map)
{
	size_t n = map->nbuckets * 2;
	struct map_entry **buckets = calloc(n, sizeof(*buckets));
	struct map_entry **old = map->buckets;
	size_t old_n = map->nbuckets;

	if (!buckets)
		return -ENOMEM;
	map->buckets = buckets;
	map->nbuckets = n;
	for (size_t i = 0; i < old_n; i++) {
		struct map_entry *e = old[i], *next;
		for (; e; e = next) {
			size_t b = map_hash(map, e->data, e->len);
			next = e->next;
			e->next = buckets[b];
			buckets[b] = e;
		}
	}
	free(old);
	return 0;
}

static int map_init(struct quic_endpoint *ep, struct conn_map *map)
{
	rng_fill(ep, map->key, sizeof(map->key));
	map->nbuckets = 64;
	map->buckets = calloc(map->nbuckets, sizeof(*map->buckets));
	return map->buckets ? 0 : -ENOMEM;
}

/* Adds data → qc, the entry owned by the list *owner. Returns 0, -EEXIST
 * when the key is taken, -EINVAL or -ENOMEM. */
static int map_add(struct conn_map *map, struct map_entry **owner, struct quic_conn *qc,
		   const uint8_t *data, size_t len)
{
	struct map_entry **slot, *e;

	if (len == 0 || len > NGTCP2_MAX_CIDLEN)
		return -EINVAL;
	if (map->count >= map->nbuckets && map_grow(map) < 0)
		return -ENOMEM;
	slot = map_slot(map, data, len);
	if (*slot)
		return -EEXIST;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->conn = qc;
	e->len = (uint8_t)len;
	memcpy(e->data, data, len);
	*slot = e;
	e->owner_next = *owner;
	*owner = e;
	map->count++;
	return 0;
}

static void map_remove(struct conn_map *map, struct map_entry **owner, struct quic_conn *qc,
		       const uint8_t *data, size_t len)
{
	struct map_entry **slot, *e;

	if (len == 0 || len > NGTCP2_MAX_CIDLEN)
		return;
	slot = map_slot(map, data, len);
	e = *slot;
	if (!e || e->conn != qc)
		return;
	*slot = e->next;
	while (*owner != e)
		owner = &(*owner)->owner_next;
	*owner = e->owner_next;
	map->count--;
	free(e);
}

static void map_remove_all(struct conn_map *map, struct map_entry **owner, struct quic_conn *qc)
{
	while (*owner)
		map_remove(map, owner, qc, (*owner)->data, (*owner)->len);
}

static int cid_add(struct quic_conn *qc, const uint8_t *data, size_t len)
{
	return map_add(&qc->ep->cids, &qc->cids, qc, data, len);
}

/* A fresh random connection ID not in use on this endpoint. */
static int cid_new(struct quic_endpoint *ep, ngtcp2_cid *cid, size_t len)
{
	for (int tries = 0; tries < 8; tries++) {
		rng_fill(ep, cid->data, len);
		cid->datalen = len;
		if (!map_find(&ep->cids, cid->data, len))
			return 0;
	}
	return -EEXIST;
}

/* ---------------------------------------------------------------------- */
/* Timers: a binary min-heap of connections by their ngtcp2 expiry */

static void heap_set(struct quic_endpoint *ep, size_t i, struct quic_conn *qc)
{
	ep->heap[i] = qc;
	qc->heap_index = i;
}

static void heap_up(struct quic_endpoint *ep, size_t i)
{
	struct quic_conn *qc = ep->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (ep->heap[parent]->expiry <= qc->expiry)
			break;
		heap_set(ep, i, ep->heap[parent]);
		i = parent;
	}
	heap_set(ep, i, qc);
}

static void heap_down(struct quic_endpoint *ep, size_t i)
{
	struct quic_conn *qc = ep->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= ep->heap_len)
			break;
		if (child + 1 < ep->heap_len &&
		    ep->heap[child + 1]->expiry < ep->heap[child]->expiry)
			child++;
		if (qc->expiry <= ep->heap[child]->expiry)
			break;
		heap_set(ep, i, ep->heap[child]);
		i = child;
	}
	heap_set(ep, i, qc);
}

static int heap_insert(struct quic_endpoint *ep, struct quic_conn *qc)
{
	if (ep->heap_len == ep->heap_cap) {
		size_t cap = ep->heap_cap ? ep->heap_cap * 2 : 16;
		struct quic_conn **heap = realloc(ep->heap, cap * sizeof(*heap));
		if (!heap)
			return -ENOMEM;
		ep->heap = heap;
		ep->heap_cap = cap;
	}
	heap_set(ep, ep->heap_len++, qc);
	heap_up(ep, qc->heap_index);
	return 0;
}

static void heap_remove(struct quic_endpoint *ep, struct quic_conn *qc)
{
	size_t i = qc->heap_index;
	struct quic_conn *last;

	if (i >= ep->heap_len || ep->heap[i] != qc)
		return;
	last = ep->heap[--ep->heap_len];
	qc->heap_index = SIZE_MAX;
	if (last == qc)
		return;
	heap_set(ep, i, last);
	heap_up(ep, i);
	heap_down(ep, last->heap_index);
}

static void conn_set_expiry(struct quic_conn *qc, uint64_t expiry)
{
	uint64_t old = qc->expiry;

	qc->expiry = expiry;
	if (expiry < old)
		heap_up(qc->ep, qc->heap_index);
	else if (expiry > old)
		heap_down(qc->ep, qc->heap_index);
}

static void conn_update_expiry(struct quic_conn *qc)
{
	conn_set_expiry(qc, ngtcp2_conn_get_expiry(qc->conn));
}

/* "[2001:db8::1]:4766" or "192.0.2.1:4766", for log lines. */
static const char *addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
	} else {
		snprintf(buf, cap, "?");
	}
	return buf;
}

/* ---------------------------------------------------------------------- */
/* Connection lifetime */

static void conn_mark_dirty(struct quic_conn *qc)
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

static void conn_unmark_dirty(struct quic_conn *qc)
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

static struct quic_conn *conn_alloc(struct quic_endpoint *ep, bool is_client)
{
	struct quic_conn *qc = calloc(1, sizeof(*qc));

	if (!qc)
		return NULL;
	qc->ep = ep;
	qc->is_client = is_client;
	qc->heap_index = SIZE_MAX;
	qc->expiry = UINT64_MAX;
	if (heap_insert(ep, qc) < 0) {
		free(qc);
		return NULL;
	}
	qc->next = ep->conns;
	if (ep->conns)
		ep->conns->prev = qc;
	ep->conns = qc;
	ep->nconns++;
	return qc;
}

/* Frees a connection and everything it holds, without callbacks. */
static void conn_free(struct quic_conn *qc)
{
	struct quic_endpoint *ep = qc->ep;
	struct quic_buf *buf;

	if (qc->conn)
		ngtcp2_conn_del(qc->conn);
	tls_session_del(qc->tls);
	while ((buf = queue_pop(&qc->send_queue)))
		buf_put(ep, buf);
	while (qc->held)
		held_release(qc, qc->held);
	free(qc->fin_ids);
	map_remove_all(&ep->cids, &qc->cids, qc);
	map_remove_all(&ep->tokens, &qc->tokens, qc);
	heap_remove(ep, qc);
	conn_unmark_dirty(qc);
	if (qc->half_open)
		ep->nhalf_open--;
	if (qc->prev)
		qc->prev->next = qc->next;
	else
		ep->conns = qc->next;
	if (qc->next)
		qc->next->prev = qc->prev;
	ep->nconns--;
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
		char text[64];
		log_info("refused a connection from %s: %s",
			 addr_text(quic_conn_remote(qc), text, sizeof(text)), reason);
	}
	qc->finishing = true;
	conn_unmark_dirty(qc);
	if (qc->announced && ep->cb.closed)
		ep->cb.closed(ep->cb.user, qc, error, reason);
	conn_free(qc);
}

/* Decides to close; carried out by the next flush (never inside ngtcp2). */
static void conn_request_close(struct quic_conn *qc, enum close_kind kind, uint64_t code, int error,
			       const char *reason)
{
	if (qc->close_kind != CLOSE_NONE || qc->finishing)
		return;
	qc->close_kind = kind;
	qc->close_code = code;
	qc->close_error = error;
	qc->close_reason = reason;
	conn_mark_dirty(qc);
}

static void conn_establish(struct quic_conn *qc)
{
	struct quic_endpoint *ep = qc->ep;
	const struct iron_id *peer;
	char name[IRON_ID_BASE32_LEN + 1];

	if (qc->established || qc->close_kind != CLOSE_NONE || !qc->tls)
		return;
	peer = tls_session_peer(qc->tls);
	qc->alpn = (enum quic_alpn)tls_session_alpn(qc->tls);
	if (!peer || qc->alpn == QUIC_ALPN_NONE) {
		/* The TLS checks make this unreachable; never trust it anyway. */
		conn_request_close(qc, CLOSE_TRANSPORT, NGTCP2_CONNECTION_REFUSED, -EKEYREJECTED,
				   "handshake failed: peer not authenticated");
		return;
	}
	qc->peer = *peer;
	qc->established = true;
	qc->announced = true;
	if (qc->half_open) {
		qc->half_open = false;
		ep->nhalf_open--;
	}
	id_to_base32(&qc->peer, name);
	log_debug("connection %s %s established (%s)", qc->is_client ? "to" : "from", name,
		  tls_alpn_name((enum tls_alpn)qc->alpn));
	/* A server's handshake is confirmed when it completes. */
	if (!qc->is_client)
		qc->tls_done = true;
	if (ep->cb.established && ep->cb.established(ep->cb.user, qc) < 0)
		conn_request_close(qc, CLOSE_APPLICATION, 0, 0, "closed by us");
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
	return qc->established && qc->close_kind == CLOSE_NONE;
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
	if (conn_accepts_data(qc) && qc->alpn == QUIC_ALPN_PACKET1)
		conn_deliver(qc, data, datalen);
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

/* Only an accepted iron/packet/0 connection takes streams, and only the
 * client's bidirectional ones. */
static bool stream_wanted(struct quic_conn *qc, int64_t stream_id)
{
	enum quic_alpn alpn = qc->alpn;

	if (alpn == QUIC_ALPN_NONE && qc->tls)
		alpn = (enum quic_alpn)tls_session_alpn(qc->tls);
	return !qc->is_client && alpn == QUIC_ALPN_PACKET0 && ngtcp2_is_bidi_stream(stream_id);
}

static int on_stream_open(ngtcp2_conn *conn, int64_t stream_id, void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	if (!stream_wanted(qc, stream_id)) {
		log_debug("refusing stream %lld", (long long)stream_id);
		refuse_stream(qc, stream_id);
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
	conn_mark_dirty(qc);
	return 0;
}

static int on_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id,
			       uint64_t offset, const uint8_t *data, size_t datalen,
			       void *user_data, void *stream_user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_buf *buf = stream_user_data;

	(void)offset;
	/* Received bytes are consumed at once (kept or dropped): give the
	 * connection-level credit back. */
	ngtcp2_conn_extend_max_offset(conn, datalen);
	if (is_local_stream(qc, stream_id) && datalen == 0) {
		/* The receiver of our packet finishing its half, empty, as
		 * iron/packet/0 asks: the stream is done, no reset is due. */
		return 0;
	}
	if (!stream_wanted(qc, stream_id) || !conn_accepts_data(qc)) {
		refuse_stream(qc, stream_id);
		return 0;
	}
	ngtcp2_conn_extend_max_stream_offset(conn, stream_id, datalen);
	if (!buf && datalen > 0) {
		buf = buf_get(qc->ep);
		if (!buf)
			return NGTCP2_ERR_CALLBACK_FAILURE;
		buf->stream_id = stream_id;
		held_add(qc, buf);
		ngtcp2_conn_set_stream_user_data(conn, stream_id, buf);
	}
	if (buf && datalen > qc->ep->config.max_stream_packet - buf->len) {
		log_debug("stream %lld carries more than %zu bytes: reset", (long long)stream_id,
			  qc->ep->config.max_stream_packet);
		qc->stats.packets_dropped++;
		ngtcp2_conn_set_stream_user_data(conn, stream_id, NULL);
		held_release(qc, buf);
		refuse_stream(qc, stream_id);
		return 0;
	}
	/* A FIN may come alone, in an empty frame after the data (iroh sends
	 * it so); data is NULL then. */
	if (buf && datalen > 0) {
		memcpy(buf->data + buf->len, data, datalen);
		buf->len = (uint16_t)(buf->len + datalen);
	}
	if (flags & NGTCP2_STREAM_DATA_FLAG_FIN) {
		if (buf) {
			ngtcp2_conn_set_stream_user_data(conn, stream_id, NULL);
			conn_deliver(qc, buf->data, buf->len);
			held_release(qc, buf);
		}
		/* The original's receiver finishes its own half, empty. */
		if (push_fin(qc, stream_id) < 0)
			return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	return 0;
}

static int on_acked_stream_data_offset(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset,
				       uint64_t datalen, void *user_data, void *stream_user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_buf *buf = stream_user_data;

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
	struct quic_buf *buf = stream_user_data;

	(void)flags;
	(void)app_error_code;
	if (buf)
		held_release(qc, buf);
	/* Every packet is a stream: give the peer a new one for each closed. */
	if (!is_local_stream(qc, stream_id) && ngtcp2_is_bidi_stream(stream_id))
		ngtcp2_conn_extend_max_streams_bidi(conn, 1);
	if (is_local_stream(qc, stream_id))
		conn_mark_dirty(qc);
	return 0;
}

static int on_stream_reset(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	struct quic_conn *qc = user_data;
	struct quic_buf *buf = stream_user_data;

	(void)final_size;
	(void)app_error_code;
	/* A half-received packet is worthless; a sent one is not retried. */
	if (buf && !is_local_stream(qc, stream_id)) {
		ngtcp2_conn_set_stream_user_data(conn, stream_id, NULL);
		held_release(qc, buf);
	}
	return 0;
}

static int on_extend_max_streams(ngtcp2_conn *conn, uint64_t max_streams, void *user_data)
{
	(void)conn;
	(void)max_streams;
	conn_mark_dirty(user_data);
	return 0;
}

static int on_extend_max_stream_data(ngtcp2_conn *conn, int64_t stream_id, uint64_t max_data,
				     void *user_data, void *stream_user_data)
{
	(void)conn;
	(void)stream_id;
	(void)max_data;
	(void)stream_user_data;
	conn_mark_dirty(user_data);
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
	if (cid_new(ep, cid, cidlen) < 0 ||
	    ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
							 sizeof(ep->reset_secret), cid) != 0 ||
	    cid_add(qc, cid->data, cid->datalen) < 0)
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
		map_add(&qc->ep->tokens, &qc->tokens, qc, token, NGTCP2_STATELESS_RESET_TOKENLEN);
	else
		map_remove(&qc->ep->tokens, &qc->tokens, qc, token,
			   NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static int on_remove_connection_id(ngtcp2_conn *conn, const ngtcp2_cid *cid, void *user_data)
{
	struct quic_conn *qc = user_data;

	(void)conn;
	map_remove(&qc->ep->cids, &qc->cids, qc, cid->data, cid->datalen);
	return 0;
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

static const ngtcp2_callbacks client_callbacks = {
    .client_initial = ngtcp2_crypto_client_initial_cb,
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
    .recv_retry = ngtcp2_crypto_recv_retry_cb,
    .extend_max_local_streams_bidi = on_extend_max_streams,
    .rand = on_rand,
    .get_new_connection_id = on_get_new_connection_id,
    .remove_connection_id = on_remove_connection_id,
    .dcid_status = on_dcid_status,
    .update_key = ngtcp2_crypto_update_key_cb,
    .stream_reset = on_stream_reset,
    .extend_max_stream_data = on_extend_max_stream_data,
    .handshake_confirmed = on_handshake_confirmed,
    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
    .recv_datagram = on_recv_datagram,
    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
};

static const ngtcp2_callbacks server_callbacks = {
    .recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
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
    .rand = on_rand,
    .get_new_connection_id = on_get_new_connection_id,
    .remove_connection_id = on_remove_connection_id,
    .dcid_status = on_dcid_status,
    .update_key = ngtcp2_crypto_update_key_cb,
    .stream_reset = on_stream_reset,
    .extend_max_stream_data = on_extend_max_stream_data,
    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
    .recv_datagram = on_recv_datagram,
    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
};

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
	 * packet in one datagram: fix the size instead. */
	s->max_tx_udp_payload_size = QUIC_MAX_UDP_PAYLOAD;
	s->no_tx_udp_payload_size_shaping = 1;
	s->no_pmtud = 1;
	s->max_window = MAX_WINDOW;
	s->handshake_timeout = ep->config.handshake_timeout_ns;
	s->rand_ctx.native_handle = ep;
	if (log_enabled("ngtcp2", LOG_TRACE))
		s->log_printf = ngtcp2_log;
}

static void make_params(struct quic_endpoint *ep, bool server, ngtcp2_transport_params *p)
{
	ngtcp2_transport_params_default(p);
	p->initial_max_stream_data_bidi_local = INITIAL_MAX_STREAM_DATA;
	p->initial_max_stream_data_bidi_remote = INITIAL_MAX_STREAM_DATA;
	p->initial_max_data = INITIAL_MAX_DATA;
	/* Only the dialling side opens streams (iron/packet/0). */
	p->initial_max_streams_bidi = server ? INITIAL_MAX_STREAMS_BIDI : 0;
	p->initial_max_streams_uni = 0;
	p->max_idle_timeout = ep->config.idle_timeout_ns;
	p->active_connection_id_limit = ACTIVE_CID_LIMIT;
	p->max_datagram_frame_size = MAX_DATAGRAM_FRAME_SIZE;
}

static socklen_t sockaddr_len(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return sizeof(struct sockaddr_in);
	if (sa->sa_family == AF_INET6)
		return sizeof(struct sockaddr_in6);
	return 0;
}

static void make_path(ngtcp2_path *path, const struct sockaddr *local,
		      const struct sockaddr *remote)
{
	path->local.addr = (ngtcp2_sockaddr *)(uintptr_t)local;
	path->local.addrlen = sockaddr_len(local);
	path->remote.addr = (ngtcp2_sockaddr *)(uintptr_t)remote;
	path->remote.addrlen = sockaddr_len(remote);
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
	if (qc->close_kind == CLOSE_APPLICATION)
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
			error = -EPROTO;
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
		qc->close_kind = CLOSE_TRANSPORT;
		qc->close_code = NGTCP2_CRYPTO_ERROR | ngtcp2_conn_get_tls_alert(qc->conn);
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
		qc->close_kind = CLOSE_TRANSPORT;
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
 * its varint limit after some 10^11 probes. */
static void queue_tail_probe(struct quic_conn *qc)
{
	ngtcp2_conn_extend_max_streams_bidi(qc->conn, 1);
	qc->tail_exposed = false;
}

/* Whether a write should end with a tail probe: datagrams went out since
 * the last one, or packets are in flight that no timer covers (ngtcp2
 * itself adds a PING to a run of ACK-only packets, and arms no PTO for it
 * either: once lost, it would stay in flight until the next flight). */
static bool tail_needs_probe(struct quic_conn *qc)
{
	ngtcp2_conn_stat cs;

	if (qc->tail_exposed)
		return true;
	if (qc->alpn != QUIC_ALPN_PACKET1 || !ngtcp2_conn_get_handshake_completed(qc->conn))
		return false;
	ngtcp2_conn_get_conn_stat(qc->conn, &cs);
	return cs.bytes_in_flight > 0 && cs.loss_detection_timer == UINT64_MAX;
}

/* The size of a short-header packet carrying a datagram of len bytes and
 * an ACK frame (ACK_ROOM also covers a small control frame such as the
 * tail probe). */
static size_t datagram_packet_len(struct quic_conn *qc, size_t len)
{
	return len + DATAGRAM_OVERHEAD + ngtcp2_conn_get_dcid(qc->conn)->datalen + ACK_ROOM;
}

/* Whether the congestion window keeps room for the tail probe after a
 * datagram of len bytes (ngtcp2 writes a packet while bytes_in_flight <
 * cwnd, whatever its size). The packet also carries any pending ACK frame,
 * and one being coalesced may grow to the full size. */
static bool window_has_room(struct quic_conn *qc, size_t len, bool coalescing)
{
	size_t full = ngtcp2_conn_get_max_tx_udp_payload_size(qc->conn);
	size_t packet = datagram_packet_len(qc, len);

	if (coalescing || packet > full)
		packet = full;
	return ngtcp2_conn_get_cwnd_left(qc->conn) > packet;
}

/* Whether a datagram of len bytes, a tail probe and an ACK frame fit in
 * one packet. */
static bool probe_fits(struct quic_conn *qc, size_t len)
{
	return datagram_packet_len(qc, len) <= ngtcp2_conn_get_max_tx_udp_payload_size(qc->conn);
}

/* What the next write call puts into the packet. */
enum write_item { WRITE_FIN, WRITE_DATAGRAM, WRITE_STREAM, WRITE_NONE };

/* Writes everything the connection has to send, until ngtcp2 says it is
 * limited (congestion, pacing, flow control) or has nothing more. Returns
 * false when the connection ended (and is freed). */
static bool conn_write(struct quic_conn *qc, uint64_t now)
{
	struct quic_endpoint *ep = qc->ep;
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi = {0};
	const size_t cap = sizeof(ep->tx);
	bool coalescing = false, streams_blocked = false, dgrams_blocked = false;
	bool probed = false, folded = false;
	size_t packets = 0;

	if (qc->close_kind != CLOSE_NONE) {
		conn_write_close(qc, now);
		conn_finish(qc, qc->close_error, qc->close_reason);
		return false;
	}
	ngtcp2_path_storage_zero(&ps);
	while (packets < WRITE_BURST) {
		bool ready = ngtcp2_conn_get_handshake_completed(qc->conn);
		enum write_item item = WRITE_NONE;
		struct quic_buf *pkt = NULL;
		ngtcp2_ssize n, datalen = -1;
		int accepted = 0;
		ngtcp2_vec vec;

		if (ready && qc->nfin > 0 && !streams_blocked) {
			item = WRITE_FIN;
		} else if (ready && qc->alpn == QUIC_ALPN_PACKET1 && qc->send_queue.head &&
			   !dgrams_blocked) {
			item = WRITE_DATAGRAM;
			pkt = qc->send_queue.head;
			if (pkt->len > quic_conn_max_packet_size(qc)) {
				drop_head(qc);
				continue;
			}
			if (!window_has_room(qc, pkt->len, coalescing)) {
				dgrams_blocked = true;
				continue;
			}
		} else if (ready && qc->alpn == QUIC_ALPN_PACKET0 && qc->is_client &&
			   !streams_blocked && (qc->tx_current || qc->send_queue.head)) {
			item = WRITE_STREAM;
			pkt = qc->tx_current;
			/* No other ngtcp2 call is allowed while a packet is
			 * being coalesced: finish it before opening a stream. */
			if (!pkt && coalescing) {
				item = WRITE_NONE;
			} else if (!pkt) {
				int64_t id;
				int rv = ngtcp2_conn_open_bidi_stream(qc->conn, &id,
								      qc->send_queue.head);
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
				pkt = queue_pop(&qc->send_queue);
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
		case WRITE_DATAGRAM:
			vec.base = pkt->data;
			vec.len = pkt->len;
			/* The last datagram of the burst carries the tail
			 * probe itself when there is room: one packet instead
			 * of two for each small packet of interactive traffic
			 * (a ping costs one QUIC packet each way). */
			if (!pkt->next && !probed && probe_fits(qc, pkt->len)) {
				queue_tail_probe(qc);
				probed = true;
				folded = true;
			}
			n = ngtcp2_conn_writev_datagram(qc->conn, &ps.path, &pi, ep->tx, cap,
							&accepted, NGTCP2_WRITE_DATAGRAM_FLAG_MORE,
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
			vec.base = pkt->data + pkt->offset;
			vec.len = (size_t)(pkt->len - pkt->offset);
			n = ngtcp2_conn_writev_stream(
			    qc->conn, &ps.path, &pi, ep->tx, cap, &datalen,
			    NGTCP2_WRITE_STREAM_FLAG_MORE | NGTCP2_WRITE_STREAM_FLAG_FIN,
			    pkt->stream_id, &vec, 1, now);
			if (datalen > 0) {
				pkt->offset = (uint16_t)(pkt->offset + datalen);
				if (pkt->offset == pkt->len) {
					qc->tx_current = NULL;
					qc->stats.packets_sent++;
				}
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
			if (item == WRITE_NONE && !probed && tail_needs_probe(qc)) {
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
	conn_update_expiry(qc);
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

static void conn_read(struct quic_conn *qc, const struct sockaddr *local,
		      const struct sockaddr *remote, const uint8_t *data, size_t len, uint64_t now)
{
	ngtcp2_path path;
	ngtcp2_pkt_info pi = {0};
	int rv;

	make_path(&path, local, remote);
	qc->stats.bytes_received += len;
	rv = ngtcp2_conn_read_pkt(qc->conn, &path, &pi, data, len, now);
	if (rv != 0) {
		if (qc->ep->trace)
			log_trace("read_pkt: %s", ngtcp2_strerror(rv));
		conn_fail(qc, rv, now);
		return;
	}
	conn_release_tls(qc);
	conn_mark_dirty(qc);
	conn_update_expiry(qc);
}

static bool reset_allowed(struct quic_endpoint *ep, uint64_t now)
{
	if (now > ep->reset_last_ns) {
		ep->reset_tokens += (double)(now - ep->reset_last_ns) * RESET_PER_SEC / 1e9;
		if (ep->reset_tokens > RESET_BURST)
			ep->reset_tokens = RESET_BURST;
		ep->reset_last_ns = now;
	}
	if (ep->reset_tokens < 1)
		return false;
	ep->reset_tokens -= 1;
	return true;
}

/* A short-header packet for a connection we do not know: we probably lost
 * its state (restart); a stateless reset tells the peer at once. */
static void send_stateless_reset(struct quic_endpoint *ep, const struct sockaddr *local,
				 const struct sockaddr *remote, const uint8_t *dcid, size_t len,
				 uint64_t now)
{
	uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN], rand[RESET_MAX_LEN];
	size_t reset_len = len - 1 < RESET_MAX_LEN ? len - 1 : RESET_MAX_LEN;
	ngtcp2_cid cid;
	ngtcp2_ssize n;

	/* Always smaller than what triggered it, so two endpoints that both
	 * lost state cannot loop (RFC 9000 §10.3.3). */
	if (reset_len < NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN ||
	    !reset_allowed(ep, now))
		return;
	ngtcp2_cid_init(&cid, dcid, CID_LEN);
	if (ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
							 sizeof(ep->reset_secret), &cid) != 0)
		return;
	rng_fill(ep, rand, sizeof(rand));
	n = ngtcp2_pkt_write_stateless_reset(ep->tx, sizeof(ep->tx), token, rand,
					     reset_len - NGTCP2_STATELESS_RESET_TOKENLEN);
	if (n <= 0)
		return;
	ep->stats.stateless_resets_sent++;
	ep->cb.send(ep->cb.user, local, remote, ep->tx, (size_t)n);
}

static void send_version_negotiation(struct quic_endpoint *ep, const struct sockaddr *local,
				     const struct sockaddr *remote, const ngtcp2_version_cid *vc)
{
	/* Version 1 and a reserved version, so clients keep handling
	 * unknown versions (RFC 9000 §6.3). */
	const uint32_t versions[] = {NGTCP2_PROTO_VER_V1, 0x1a2a3a4au};
	uint8_t unused;
	ngtcp2_ssize n;

	rng_fill(ep, &unused, 1);
	n = ngtcp2_pkt_write_version_negotiation(ep->tx, sizeof(ep->tx), unused, vc->scid,
						 vc->scidlen, vc->dcid, vc->dcidlen, versions, 2);
	if (n <= 0)
		return;
	ep->stats.version_negotiations_sent++;
	ep->cb.send(ep->cb.user, local, remote, ep->tx, (size_t)n);
}

/* The client's address as a Retry token binds it: family, address, port
 * and scope only. ngtcp2 authenticates the sockaddr's bytes, and nothing
 * promises that padding and flow label are the same in every datagram. */
static socklen_t token_address(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		struct sockaddr_in *o = (struct sockaddr_in *)out;
		o->sin_family = AF_INET;
		o->sin_port = in->sin_port;
		o->sin_addr = in->sin_addr;
		return sizeof(*o);
	}
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	struct sockaddr_in6 *o6 = (struct sockaddr_in6 *)out;
	o6->sin6_family = AF_INET6;
	o6->sin6_port = in6->sin6_port;
	o6->sin6_addr = in6->sin6_addr;
	o6->sin6_scope_id = in6->sin6_scope_id;
	return sizeof(*o6);
}

/* Answers a client's token-less Initial with a Retry (RFC 9000 §8.1.2):
 * the client must come back with the token, from the same address, before
 * we keep any state for it. A spoofed source never sees the token. The
 * Retry (~120 bytes) is far smaller than the Initial (1200 bytes or more),
 * so it amplifies nothing and needs no rate limit of its own. */
static void send_retry(struct quic_endpoint *ep, const struct sockaddr *local,
		       const struct sockaddr *remote, const ngtcp2_pkt_hd *hd, uint64_t now)
{
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN];
	struct sockaddr_storage addr;
	socklen_t addrlen = token_address(remote, &addr);
	ngtcp2_ssize token_len, n;
	ngtcp2_cid scid;

	if (cid_new(ep, &scid, CID_LEN) < 0)
		return;
	token_len = ngtcp2_crypto_generate_retry_token(
	    token, ep->retry_secret, sizeof(ep->retry_secret), hd->version,
	    (const ngtcp2_sockaddr *)&addr, addrlen, &scid, &hd->dcid, now);
	if (token_len < 0)
		return;
	n = ngtcp2_crypto_write_retry(ep->tx, sizeof(ep->tx), hd->version, &hd->scid, &scid,
				      &hd->dcid, token, (size_t)token_len);
	if (n <= 0)
		return;
	if (ep->stats.retries_sent++ % 1024 == 0)
		log_info("validating new clients' addresses with Retry: %zu handshaking "
			 "(%llu Retries so far)",
			 ep->nhalf_open, (unsigned long long)ep->stats.retries_sent);
	ep->cb.send(ep->cb.user, local, remote, ep->tx, (size_t)n);
}

/* Checks the Retry token of an Initial: made by us for this address and
 * this DCID (the SCID of our Retry) less than RETRY_TOKEN_TIMEOUT ago.
 * Recovers the client's first DCID into *odcid. Returns 0 or -EACCES. */
static int verify_retry_token(struct quic_endpoint *ep, const struct sockaddr *remote,
			      const ngtcp2_pkt_hd *hd, ngtcp2_cid *odcid, uint64_t now)
{
	struct sockaddr_storage addr;
	socklen_t addrlen = token_address(remote, &addr);

	if (ngtcp2_crypto_verify_retry_token(odcid, hd->token.base, hd->token.len, ep->retry_secret,
					     sizeof(ep->retry_secret), hd->version,
					     (const ngtcp2_sockaddr *)&addr, addrlen, &hd->dcid,
					     RETRY_TOKEN_TIMEOUT, now) != 0)
		return -EACCES;
	return 0;
}

/* Accepts a client's Initial. odcid is the client's first DCID recovered
 * from a verified Retry token, or NULL when the Initial carried none. */
static struct quic_conn *accept_conn(struct quic_endpoint *ep, const struct sockaddr *local,
				     const struct sockaddr *remote, const ngtcp2_pkt_hd *hd,
				     const ngtcp2_cid *odcid, uint64_t now)
{
	struct tls_session_params tp = {.is_client = false, .get_conn = get_conn};
	ngtcp2_transport_params params;
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
	make_settings(ep, &settings, now);
	make_params(ep, true, &params);
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
	if (cid_new(ep, &scid, CID_LEN) < 0 || ngtcp2_crypto_generate_stateless_reset_token(
						   params.stateless_reset_token, ep->reset_secret,
						   sizeof(ep->reset_secret), &scid) != 0)
		goto fail;
	params.stateless_reset_token_present = 1;
	rv = ngtcp2_conn_server_new(&qc->conn, &hd->scid, &scid, &path, hd->version,
				    &server_callbacks, &settings, &params, &conn_mem, qc);
	if (rv != 0) {
		qc->conn = NULL;
		goto fail;
	}
	tp.user_data = qc;
	if (tls_session_new(ep->tls, &tp, &qc->tls) < 0)
		goto fail;
	ngtcp2_conn_set_tls_native_handle(qc->conn, tls_session_native_handle(qc->tls));
	/* The client keeps its original DCID until it hears from us. */
	if (cid_add(qc, scid.data, scid.datalen) < 0 ||
	    cid_add(qc, hd->dcid.data, hd->dcid.datalen) < 0)
		goto fail;
	return qc;
fail:
	conn_free(qc);
	return NULL;
}

static void endpoint_receive(struct quic_endpoint *ep, const struct sockaddr *local,
			     const struct sockaddr *remote, const uint8_t *data, size_t len,
			     uint64_t now_ns)
{
	ngtcp2_version_cid vc;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid odcid;
	struct quic_conn *qc;
	bool validated = false;
	bool long_header;
	int rv;

	ep->now = now_ns;
	if (len == 0 || !sockaddr_len(local) || !sockaddr_len(remote))
		goto drop;
	long_header = data[0] & 0x80;
	rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, CID_LEN);
	if (rv == NGTCP2_ERR_VERSION_NEGOTIATION ||
	    (rv == 0 && long_header && vc.version != NGTCP2_PROTO_VER_V1 && vc.version != 0)) {
		/* Only in answer to what could be a client's first datagram,
		 * so we never amplify (RFC 9000 §5.2.2). */
		if (len < NGTCP2_MAX_UDP_PAYLOAD_SIZE)
			goto drop;
		send_version_negotiation(ep, local, remote, &vc);
		return;
	}
	if (rv != 0)
		goto drop;
	qc = map_find(&ep->cids, vc.dcid, vc.dcidlen);
	if (qc) {
		conn_read(qc, local, remote, data, len, now_ns);
		return;
	}
	if (!long_header) {
		/* A stateless reset looks like a short-header packet for an
		 * unknown connection; its last 16 bytes are the token. */
		if (len >= NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN &&
		    (qc = map_find(&ep->tokens, data + len - NGTCP2_STATELESS_RESET_TOKENLEN,
				   NGTCP2_STATELESS_RESET_TOKENLEN))) {
			conn_read(qc, local, remote, data, len, now_ns);
			return;
		}
		send_stateless_reset(ep, local, remote, vc.dcid, len, now_ns);
		goto drop;
	}
	if (!ep->has_key || ngtcp2_accept(&hd, data, len) != 0 || hd.type != NGTCP2_PKT_INITIAL)
		goto drop;
	if (ep->nhalf_open >= ep->config.max_half_open ||
	    ep->nconns >= ep->config.max_connections) {
		/* Bounded work and memory under a flood of Initials. */
		if (ep->stats.initials_dropped++ % 1024 == 0)
			log_info("dropping new connections: %zu handshaking, %zu open",
				 ep->nhalf_open, ep->nconns);
		return;
	}
	if (hd.token.len && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
		/* Dropped at any load: the client followed a Retry and will
		 * refuse a connection whose transport parameters do not name
		 * it, and only an attacker or a 10 s old Initial gets here. */
		if (verify_retry_token(ep, remote, &hd, &odcid, now_ns) < 0) {
			ep->stats.retry_tokens_invalid++;
			if (ratelimit_allow(&ep->refused_log, now_ns)) {
				char text[64];
				log_info("dropped an Initial from %s: invalid or expired Retry "
					 "token (%llu so far)",
					 addr_text(remote, text, sizeof(text)),
					 (unsigned long long)ep->stats.retry_tokens_invalid);
			}
			return;
		}
		validated = true;
	} else if (ep->nhalf_open >= ep->retry_threshold) {
		/* Tokens of other kinds (NEW_TOKEN, other servers) count as
		 * none (RFC 9000 §8.1.3); we issue no NEW_TOKEN. */
		send_retry(ep, local, remote, &hd, now_ns);
		return;
	}
	qc = accept_conn(ep, local, remote, &hd, validated ? &odcid : NULL, now_ns);
	if (!qc)
		goto drop;
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char text[64];
		log_debug("connection attempt from %s", addr_text(remote, text, sizeof(text)));
	}
	conn_read(qc, local, remote, data, len, now_ns);
	return;
drop:
	/* Logged at 1, 2, 4, 8... drops: visible, but never a flood. */
	ep->stats.datagrams_dropped++;
	if ((ep->stats.datagrams_dropped & (ep->stats.datagrams_dropped - 1)) == 0)
		log_debug("dropped a datagram of %zu bytes (undecodable or for no connection; "
			  "%llu so far)",
			  len, (unsigned long long)ep->stats.datagrams_dropped);
}

void quic_endpoint_receive(struct quic_endpoint *ep, const struct sockaddr *local,
			   const struct sockaddr *remote, const uint8_t *data, size_t len,
			   uint64_t now_ns)
{
	if (ep->busy)
		return;
	ep->busy = true;
	endpoint_receive(ep, local, remote, data, len, now_ns);
	ep->busy = false;
}

/* ---------------------------------------------------------------------- */
/* Public interface */

int quic_endpoint_new(const struct quic_config *config, const struct quic_callbacks *callbacks,
		      struct quic_endpoint **out)
{
	struct quic_endpoint *ep;
	struct quic_config *c;
	int rv;

	*out = NULL;
	if (!callbacks->send || config->congestion_control > QUIC_CC_RENO ||
	    (config->client_alpns & ~QUIC_ALPN_DEFAULT))
		return -EINVAL;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->config = *config;
	ep->cb = *callbacks;
	c = &ep->config;
	if (!c->idle_timeout_ns)
		c->idle_timeout_ns = DEFAULT_IDLE_TIMEOUT;
	if (!c->handshake_timeout_ns)
		c->handshake_timeout_ns = DEFAULT_HANDSHAKE_TIMEOUT;
	if (!c->initial_rtt_ns)
		c->initial_rtt_ns = DEFAULT_INITIAL_RTT;
	if (!c->max_connections)
		c->max_connections = DEFAULT_MAX_CONNECTIONS;
	if (!c->max_half_open)
		c->max_half_open = DEFAULT_MAX_HALF_OPEN;
	if (c->retry_half_open == QUIC_RETRY_ALWAYS)
		ep->retry_threshold = 0;
	else if (c->retry_half_open)
		ep->retry_threshold = c->retry_half_open;
	else
		ep->retry_threshold = c->max_half_open / 4;
	if (!c->send_queue_len)
		c->send_queue_len = DEFAULT_SEND_QUEUE_LEN;
	if (!c->max_stream_packet || c->max_stream_packet > QUIC_MAX_STREAM_PACKET)
		c->max_stream_packet = QUIC_MAX_STREAM_PACKET;
	if (!c->client_alpns && !c->client_extra_alpn)
		c->client_alpns = QUIC_ALPN_DEFAULT;
	ep->trace = log_enabled(LOG_MODULE, LOG_TRACE);
	if (c->seed) {
		ep->rng_seeded = true;
		crypto_generichash(ep->rng_key, sizeof(ep->rng_key), (const uint8_t *)&c->seed,
				   sizeof(c->seed), NULL, 0);
	}
	if (config->identity) {
		/* Derived from the node key, so a node restarted after a crash
		 * sends stateless resets its peers accept for the connection IDs
		 * its previous run issued: they learn at once that the old
		 * connection is gone instead of waiting for the idle timeout. */
		static const char context[] = "iron stateless reset v1";
		crypto_generichash(ep->reset_secret, sizeof(ep->reset_secret),
				   (const uint8_t *)context, sizeof(context) - 1,
				   config->identity->seed, sizeof(config->identity->seed));
	} else {
		rng_fill(ep, ep->reset_secret, sizeof(ep->reset_secret));
	}
	/* Random per process, from the system even in seeded tests: a token
	 * lives 10 s, so nothing is gained by surviving a restart, and a
	 * secret of its own keeps the node key out of one more use. */
	randombytes_buf(ep->retry_secret, sizeof(ep->retry_secret));
	ep->reset_tokens = RESET_BURST;
	ratelimit_init(&ep->refused_log, REFUSED_LOG_PER_SEC, REFUSED_LOG_BURST);
	if (map_init(ep, &ep->cids) < 0 || map_init(ep, &ep->tokens) < 0) {
		rv = -ENOMEM;
		goto out;
	}
	rv = tls_context_new(config->identity, &ep->tls);
	if (rv < 0)
		goto out;
	ep->has_key = config->identity != NULL;
	*out = ep;
	ep = NULL;
out:
	quic_endpoint_del(ep);
	return rv;
}

void quic_endpoint_del(struct quic_endpoint *ep)
{
	if (!ep)
		return;
	while (ep->conns)
		conn_free(ep->conns);
	while (ep->pool) {
		struct quic_buf *buf = ep->pool;
		ep->pool = buf->next;
		free(buf);
	}
	free(ep->heap);
	free(ep->cids.buckets);
	free(ep->tokens.buckets);
	tls_context_del(ep->tls);
	sodium_memzero(ep->reset_secret, sizeof(ep->reset_secret));
	sodium_memzero(ep->retry_secret, sizeof(ep->retry_secret));
	free(ep);
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
	ngtcp2_settings settings;
	ngtcp2_path path;
	ngtcp2_cid dcid, scid;
	struct quic_conn *qc;
	int rv;

	*out = NULL;
	if (!sockaddr_len(local) || !sockaddr_len(remote))
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
	make_settings(ep, &settings, now_ns);
	make_params(ep, false, &params);
	/* The DCID of a client's Initial only seeds the Initial keys. */
	rng_fill(ep, dcid.data, CID_LEN);
	dcid.datalen = CID_LEN;
	rv = cid_new(ep, &scid, CID_LEN);
	if (rv < 0)
		goto fail;
	rv = ngtcp2_conn_client_new(&qc->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
				    &client_callbacks, &settings, &params, &conn_mem, qc);
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
	rv = cid_add(qc, scid.data, scid.datalen);
	if (rv < 0)
		goto fail;
	conn_update_expiry(qc);
	conn_mark_dirty(qc);
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char name[IRON_ID_BASE32_LEN + 1], text[64];
		id_to_base32(peer, name);
		log_debug("dialling %s at %s", name, addr_text(remote, text, sizeof(text)));
	}
	*out = qc;
	return 0;
fail:
	conn_free(qc);
	return rv;
}

size_t quic_conn_max_packet_size(const struct quic_conn *qc)
{
	const ngtcp2_transport_params *remote;
	enum quic_alpn alpn = qc->alpn;
	size_t size, dcid_len;

	if (alpn == QUIC_ALPN_NONE)
		alpn = qc->ep->config.client_alpns & QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1)
			   ? QUIC_ALPN_PACKET1
			   : QUIC_ALPN_PACKET0;
	if (alpn == QUIC_ALPN_PACKET0)
		return QUIC_MAX_STREAM_PACKET;
	/* Our DCID is chosen by the peer; before the handshake, assume it
	 * uses the same length as we do. */
	dcid_len = ngtcp2_conn_get_dcid(qc->conn)->datalen;
	if (!ngtcp2_conn_get_handshake_completed(qc->conn) && dcid_len < CID_LEN)
		dcid_len = CID_LEN;
	size = QUIC_MAX_UDP_PAYLOAD - DATAGRAM_OVERHEAD - dcid_len;
	remote = ngtcp2_conn_get_remote_transport_params(qc->conn);
	if (remote && ngtcp2_conn_get_handshake_completed(qc->conn)) {
		size_t overhead = DATAGRAM_OVERHEAD + dcid_len;
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

int quic_conn_send_packet(struct quic_conn *qc, const uint8_t *data, size_t len, uint64_t now_ns)
{
	struct quic_buf *buf;

	if (qc->finishing || qc->close_kind != CLOSE_NONE)
		return -ENOTCONN;
	if (qc->established && qc->alpn == QUIC_ALPN_PACKET0 && !qc->is_client)
		return -EPERM;
	if (len == 0 || len > QUIC_MAX_STREAM_PACKET || len > quic_conn_max_packet_size(qc))
		return -EMSGSIZE;
	buf = buf_get(qc->ep);
	if (!buf)
		return -ENOMEM;
	if (qc->send_queue.count >= qc->ep->config.send_queue_len)
		drop_head(qc);
	memcpy(buf->data, data, len);
	buf->len = (uint16_t)len;
	queue_push(&qc->send_queue, buf);
	qc->stats.last_activity_ns = now_ns;
	conn_mark_dirty(qc);
	return 0;
}

void quic_endpoint_flush(struct quic_endpoint *ep, uint64_t now_ns)
{
	struct quic_conn *qc;
	size_t budget = 2 * ep->nconns + 16;

	/* Not from inside a callback of ours: the connection in that call may
	 * be inside ngtcp2. Its work stays queued for the outer flush. */
	if (ep->busy)
		return;
	ep->busy = true;
	ep->now = now_ns;
	/* A connection made dirty again while being written waits for the
	 * next flush (next_expiry() says 0) rather than looping here. */
	while ((qc = ep->dirty_head) && budget-- > 0) {
		conn_unmark_dirty(qc);
		conn_write(qc, now_ns);
	}
	ep->busy = false;
}

uint64_t quic_endpoint_next_expiry(const struct quic_endpoint *ep)
{
	/* Unflushed work is due now. */
	if (ep->dirty_head)
		return 0;
	return ep->heap_len ? ep->heap[0]->expiry : UINT64_MAX;
}

void quic_endpoint_handle_expiry(struct quic_endpoint *ep, uint64_t now_ns)
{
	struct quic_conn *qc;

	if (ep->busy)
		return;
	ep->busy = true;
	ep->now = now_ns;
	while (ep->heap_len && (qc = ep->heap[0])->expiry <= now_ns) {
		int rv = ngtcp2_conn_handle_expiry(qc->conn, now_ns);
		if (rv != 0) {
			conn_fail(qc, rv, now_ns);
			continue;
		}
		/* The write recomputes its expiry. */
		conn_set_expiry(qc, UINT64_MAX);
		conn_mark_dirty(qc);
	}
	ep->busy = false;
	quic_endpoint_flush(ep, now_ns);
}

void quic_conn_close(struct quic_conn *qc, uint64_t app_error_code, uint64_t now_ns)
{
	(void)now_ns;
	conn_request_close(qc, CLOSE_APPLICATION, app_error_code, 0, "closed by us");
}

void quic_endpoint_close_all(struct quic_endpoint *ep, uint64_t now_ns)
{
	for (struct quic_conn *qc = ep->conns; qc; qc = qc->next)
		quic_conn_close(qc, 0, now_ns);
	quic_endpoint_flush(ep, now_ns);
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

	if (!qc->established || qc->close_kind != CLOSE_NONE || qc->finishing)
		return -ENOTCONN;
	rv = ngtcp2_conn_initiate_key_update(qc->conn, now_ns);
	if (rv != 0)
		return -EAGAIN;
	conn_mark_dirty(qc);
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

const struct sockaddr *quic_conn_local(const struct quic_conn *qc)
{
	return ngtcp2_conn_get_path(qc->conn)->local.addr;
}

void quic_conn_get_stats(const struct quic_conn *qc, struct quic_conn_stats *stats)
{
	ngtcp2_conn_stat cs;

	ngtcp2_conn_get_conn_stat(qc->conn, &cs);
	*stats = qc->stats;
	stats->rtt_ns = cs.smoothed_rtt;
	stats->min_rtt_ns = cs.min_rtt == UINT64_MAX ? 0 : cs.min_rtt;
	stats->bytes_in_flight = cs.bytes_in_flight;
	stats->cwnd = cs.cwnd;
}

void quic_endpoint_get_stats(const struct quic_endpoint *ep, struct quic_endpoint_stats *stats)
{
	*stats = ep->stats;
	stats->connections = ep->nconns;
	stats->half_open = ep->nhalf_open;
}
