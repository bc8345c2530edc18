/* The QUIC endpoint: routes received datagrams to their connections by
 * connection ID, accepts new clients (with a Retry under load), answers
 * version negotiation and stateless resets, keeps the connection ID map and
 * the timer heap, and flushes the connections that have work. One
 * connection's own machinery is in quic_conn.c. */
#define LOG_MODULE "quic"
#include "quic_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include "iron/log.h"
#include "iron/tls.h"

#define DEFAULT_IDLE_TIMEOUT	  (30 * NGTCP2_SECONDS)
#define DEFAULT_HANDSHAKE_TIMEOUT (10 * NGTCP2_SECONDS)
#define DEFAULT_INITIAL_RTT	  (50 * NGTCP2_MILLISECONDS)
#define DEFAULT_MAX_CONNECTIONS	  4096
#define DEFAULT_MAX_HALF_OPEN	  256
#define DEFAULT_SEND_QUEUE_LEN	  256
/* A packet on a stream arrives within a few round trips, even with
 * losses; one that has not after seconds is held on purpose. A peer
 * answers STOP_SENDING with RESET_STREAM within a round trip or two. */
#define DEFAULT_STREAM_DEADLINE (5 * NGTCP2_SECONDS)
#define DEFAULT_STREAM_GRACE	(3 * NGTCP2_SECONDS)
/* Each costs at most ~1.5 KB of packet and a few KB of ngtcp2 state:
 * some 25 MB for all, against 100 per connection times 4096
 * connections. */
#define DEFAULT_MAX_PEER_STREAMS 4096

/* Stateless resets: a token bucket so that a flood of unknown packets cannot
 * turn us into a reflector, and at most this many bytes each. */
#define RESET_BURST   16
#define RESET_PER_SEC 16
#define RESET_MAX_LEN 43

/* How long a Retry token is good for: a client answers a Retry at once, so
 * this only has to cover its retransmissions of the Initial that carries it
 * (with ngtcp2's backoff the fourth goes out ~2 s later). */
#define RETRY_TOKEN_TIMEOUT (10 * NGTCP2_SECONDS)

/* Handshakes a turn of the loop (a receive batch and its flush, or a
 * timer run): each costs the server ~0.3 ms of key exchange and
 * signatures, and a batch of 32 new clients held an established peer's
 * packets ~10 ms (issue 16). Handshake packets beyond that wait, at most
 * QUIC_DEFERRED_MAX of them and QUIC_DEFERRED_AGE long (then they are
 * dropped, and the client sends again). Waiting datagrams count as
 * half-open connections for the Retry threshold, so a flood is still
 * answered with Retries, not queued. */
#define QUIC_ACCEPT_BURST  4
#define QUIC_DEFERRED_MAX  256
#define QUIC_DEFERRED_AGE  (1 * NGTCP2_SECONDS)
#define QUIC_DEFERRED_SIZE 1500

struct quic_deferred {
	struct netaddr local, remote;
	uint64_t at;
	uint16_t len;
	uint8_t data[QUIC_DEFERRED_SIZE];
};

/* Log lines about refused clients: one a second on average, bursts of 10. */
#define REFUSED_LOG_PER_SEC 1
#define REFUSED_LOG_BURST   10

/* ---------------------------------------------------------------------- */
/* Randomness */

void quic_endpoint_random(struct quic_endpoint *ep, uint8_t *out, size_t len)
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

int quic_endpoint_new_cid(struct quic_endpoint *ep, ngtcp2_cid *cid, size_t len)
{
	for (int tries = 0; tries < 8; tries++) {
		quic_endpoint_random(ep, cid->data, len);
		cid->datalen = len;
		if (!cidmap_find(&ep->cids, cid->data, len))
			return 0;
	}
	return -EEXIST;
}

/* ---------------------------------------------------------------------- */
/* The indexes over connections */

int quic_endpoint_attach(struct quic_endpoint *ep, struct quic_conn *qc)
{
	timerheap_node_init(&qc->timer);
	if (timerheap_insert(&ep->timers, &qc->timer, UINT64_MAX) < 0)
		return -ENOMEM;
	qc->prev = NULL;
	qc->next = ep->conns;
	if (ep->conns)
		ep->conns->prev = qc;
	ep->conns = qc;
	ep->nconns++;
	return 0;
}

void quic_endpoint_detach(struct quic_endpoint *ep, struct quic_conn *qc)
{
	cidmap_remove_all(&ep->cids, &qc->cids);
	cidmap_remove_all(&ep->tokens, &qc->tokens);
	timerheap_remove(&ep->timers, &qc->timer);
	quic_conn_unmark_dirty(qc);
	if (qc->half_open)
		ep->nhalf_open--;
	if (ep->idle_cursor == qc)
		ep->idle_cursor = qc->next;
	if (qc->prev)
		qc->prev->next = qc->next;
	else
		ep->conns = qc->next;
	if (qc->next)
		qc->next->prev = qc->prev;
	ep->nconns--;
}

/* ---------------------------------------------------------------------- */
/* Answers for datagrams that belong to no connection */

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
	ngtcp2_cid_init(&cid, dcid, QUIC_CID_LEN);
	if (ngtcp2_crypto_generate_stateless_reset_token(token, ep->reset_secret,
							 sizeof(ep->reset_secret), &cid) != 0)
		return;
	quic_endpoint_random(ep, rand, sizeof(rand));
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

	quic_endpoint_random(ep, &unused, 1);
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

	if (quic_endpoint_new_cid(ep, &scid, QUIC_CID_LEN) < 0)
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

/* Keeps a handshake datagram for a later turn; the oldest goes when all
 * places are taken. */
static void defer(struct quic_endpoint *ep, const struct sockaddr *local,
		  const struct sockaddr *remote, const uint8_t *data, size_t len, uint64_t now_ns)
{
	struct quic_deferred *d;

	if (!ep->deferred) {
		ep->deferred = malloc(QUIC_DEFERRED_MAX * sizeof(*ep->deferred));
		if (!ep->deferred) {
			ep->stats.datagrams_dropped++;
			return;
		}
	}
	if (ep->ndeferred == QUIC_DEFERRED_MAX) {
		ep->deferred_head = (ep->deferred_head + 1) % QUIC_DEFERRED_MAX;
		ep->ndeferred--;
		ep->stats.datagrams_dropped++;
	}
	d = &ep->deferred[(ep->deferred_head + ep->ndeferred) % QUIC_DEFERRED_MAX];
	ep->ndeferred++;
	netaddr_set(&d->local, local);
	netaddr_set(&d->remote, remote);
	d->at = now_ns;
	d->len = (uint16_t)len;
	memcpy(d->data, data, len);
}

static void endpoint_receive(struct quic_endpoint *ep, const struct sockaddr *local,
			     const struct sockaddr *remote, const uint8_t *data, size_t len,
			     uint64_t now_ns);

/* A new client without a token gets a Retry: from retry_threshold
 * half-open connections on, the deferred handshake datagrams counted
 * among them (unless Retry is off: a threshold of max_half_open). */
static bool retry_due(const struct quic_endpoint *ep)
{
	size_t pending = ep->nhalf_open;
	if (ep->retry_threshold < ep->config.max_half_open)
		pending += ep->ndeferred;
	return pending >= ep->retry_threshold;
}

/* A new turn: the deferred datagrams, oldest first, up to
 * QUIC_ACCEPT_BURST handshake datagrams. */
static void accept_deferred(struct quic_endpoint *ep, uint64_t now_ns)
{
	ep->accepts = 0;
	while (ep->ndeferred > 0 && ep->accepts < QUIC_ACCEPT_BURST) {
		struct quic_deferred *d = &ep->deferred[ep->deferred_head];
		ep->deferred_head = (ep->deferred_head + 1) % QUIC_DEFERRED_MAX;
		ep->ndeferred--;
		if (now_ns - d->at > QUIC_DEFERRED_AGE) {
			ep->stats.datagrams_dropped++;
			continue;
		}
		/* Decided again from the start: a retransmission of the same
		 * Initial may have been accepted meanwhile. */
		endpoint_receive(ep, &d->local.sa, &d->remote.sa, d->data, d->len, now_ns);
	}
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
	if (len == 0 || !netaddr_len(local) || !netaddr_len(remote))
		goto drop;
	long_header = data[0] & 0x80;
	rv = ngtcp2_pkt_decode_version_cid(&vc, data, len, QUIC_CID_LEN);
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
	qc = cidmap_find(&ep->cids, vc.dcid, vc.dcidlen);
	if (qc) {
		/* Handshake packets (the client's Finished costs a signature
		 * check) share the budget of new clients. */
		if (qc->half_open) {
			if (ep->accepts >= QUIC_ACCEPT_BURST && len <= QUIC_DEFERRED_SIZE) {
				defer(ep, local, remote, data, len, now_ns);
				return;
			}
			ep->accepts++;
		}
		quic_conn_read(qc, local, remote, data, len, now_ns);
		return;
	}
	if (!long_header) {
		/* A stateless reset looks like a short-header packet for an
		 * unknown connection; its last 16 bytes are the token. */
		if (len >= NGTCP2_MIN_STATELESS_RESET_RANDLEN + NGTCP2_STATELESS_RESET_TOKENLEN &&
		    (qc = cidmap_find(&ep->tokens, data + len - NGTCP2_STATELESS_RESET_TOKENLEN,
				      NGTCP2_STATELESS_RESET_TOKENLEN))) {
			quic_conn_read(qc, local, remote, data, len, now_ns);
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
					 netaddr_format(remote, text, sizeof(text)),
					 (unsigned long long)ep->stats.retry_tokens_invalid);
			}
			return;
		}
		validated = true;
	} else if (retry_due(ep)) {
		/* Tokens of other kinds (NEW_TOKEN, other servers) count as
		 * none (RFC 9000 §8.1.3); we issue no NEW_TOKEN. */
		send_retry(ep, local, remote, &hd, now_ns);
		return;
	}
	if (ep->accepts >= QUIC_ACCEPT_BURST && len <= QUIC_DEFERRED_SIZE) {
		defer(ep, local, remote, data, len, now_ns);
		return;
	}
	ep->accepts++;
	qc = quic_conn_accept(ep, local, remote, &hd, validated ? &odcid : NULL, now_ns);
	if (!qc)
		goto drop;
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char text[64];
		log_debug("connection attempt from %s", netaddr_format(remote, text, sizeof(text)));
	}
	quic_conn_read(qc, local, remote, data, len, now_ns);
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
	uint8_t map_key[CIDMAP_KEY_LEN];
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
	if (!c->stream_deadline_ns)
		c->stream_deadline_ns = DEFAULT_STREAM_DEADLINE;
	if (!c->stream_grace_ns)
		c->stream_grace_ns = DEFAULT_STREAM_GRACE;
	if (!c->max_peer_streams)
		c->max_peer_streams = DEFAULT_MAX_PEER_STREAMS;
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
		quic_endpoint_random(ep, ep->reset_secret, sizeof(ep->reset_secret));
	}
	/* Random per process, from the system even in seeded tests: a token
	 * lives 10 s, so nothing is gained by surviving a restart, and a
	 * secret of its own keeps the node key out of one more use. */
	randombytes_buf(ep->retry_secret, sizeof(ep->retry_secret));
	ep->reset_tokens = RESET_BURST;
	ratelimit_init(&ep->refused_log, REFUSED_LOG_PER_SEC, REFUSED_LOG_BURST);
	ratelimit_init(&ep->stream_log, REFUSED_LOG_PER_SEC, REFUSED_LOG_BURST);
	timerheap_init(&ep->timers);
	quic_endpoint_random(ep, map_key, sizeof(map_key));
	rv = cidmap_init(&ep->cids, map_key);
	if (rv < 0)
		goto out;
	quic_endpoint_random(ep, map_key, sizeof(map_key));
	rv = cidmap_init(&ep->tokens, map_key);
	if (rv < 0)
		goto out;
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
		quic_conn_free(ep->conns);
	while (ep->pool) {
		struct quic_buf *buf = ep->pool;
		ep->pool = buf->next;
		free(buf);
	}
	quic_streams_free_pool(ep);
	free(ep->deferred);
	timerheap_free(&ep->timers);
	cidmap_free(&ep->cids);
	cidmap_free(&ep->tokens);
	tls_context_del(ep->tls);
	sodium_memzero(ep->reset_secret, sizeof(ep->reset_secret));
	sodium_memzero(ep->retry_secret, sizeof(ep->retry_secret));
	free(ep);
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
		quic_conn_unmark_dirty(qc);
		quic_conn_write(qc, now_ns);
	}
	/* The end of a turn: its receives may accept again. */
	if (!ep->ndeferred)
		ep->accepts = 0;
	ep->busy = false;
}

uint64_t quic_endpoint_next_expiry(const struct quic_endpoint *ep)
{
	uint64_t timers, streams;

	/* Unflushed work and deferred clients are due now. */
	if (ep->dirty_head || ep->ndeferred)
		return 0;
	timers = timerheap_next_expiry(&ep->timers);
	streams = quic_streams_next_deadline(ep);
	return streams < timers ? streams : timers;
}

void quic_endpoint_handle_expiry(struct quic_endpoint *ep, uint64_t now_ns)
{
	struct timerheap_node *first;

	if (ep->busy)
		return;
	ep->busy = true;
	ep->now = now_ns;
	/* Each connection leaves the front: its expiry becomes UINT64_MAX
	 * until the flush recomputes it, or it is freed. */
	while ((first = timerheap_first(&ep->timers)) && first->expiry <= now_ns)
		quic_conn_expire(quic_conn_of_timer(first), now_ns);
	quic_streams_expire(ep, now_ns);
	accept_deferred(ep, now_ns);
	ep->busy = false;
	quic_endpoint_flush(ep, now_ns);
}

void quic_endpoint_foreach(struct quic_endpoint *ep, void (*fn)(void *ctx, struct quic_conn *conn),
			   void *ctx)
{
	struct quic_conn *next;
	for (struct quic_conn *qc = ep->conns; qc; qc = next) {
		next = qc->next;
		if (qc->announced && !qc->finishing)
			fn(ctx, qc);
	}
}

void quic_endpoint_close_all(struct quic_endpoint *ep, uint64_t now_ns)
{
	for (struct quic_conn *qc = ep->conns; qc; qc = qc->next)
		quic_conn_close(qc, 0, now_ns);
	quic_endpoint_flush(ep, now_ns);
}

void quic_endpoint_get_stats(const struct quic_endpoint *ep, struct quic_endpoint_stats *stats)
{
	*stats = ep->stats;
	stats->connections = ep->nconns;
	stats->half_open = ep->nhalf_open;
	stats->peer_streams = ep->nstreams;
}
