/* DNS listeners and upstream forwarding on a libuv loop.
 *
 * Sockets are created and bound with plain system calls first and only
 * then handed to libuv, so a failed start (port in use) returns at once
 * with nothing to close asynchronously. After that every handle is counted
 * in open_handles; the server is freed in the close callback of the last
 * one. */
#define LOG_MODULE "dns"
#include "iron/dns_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iron/dns.h"
#include "iron/log.h"

#define TCP_BACKLOG 128
/* A TCP client that does not read its answers is cut off past this much
 * queued output. */
#define TCP_WRITE_QUEUE_MAX (256 * 1024)
/* UDP replies waiting for a writable socket, over all listeners. */
#define UDP_SEND_QUEUE_MAX 1024
#define UDP_RCVBUF	   (1 << 20)
/* Attempts at finding a free port shared by every listener. */
#define PORT_PICK_TRIES 32
/* Debug lines about bad input, per second. */
#define LOG_BURST 10

enum origin_kind { ORIGIN_UDP, ORIGIN_TCP, ORIGIN_CALLER };

struct tcp_conn;

/* Where a query came from, so its answer can go back (also later). */
struct origin {
	enum origin_kind kind;
	uv_udp_t *udp; /* ORIGIN_UDP: the listener and the client */
	struct sockaddr_storage peer;
	struct tcp_conn *conn;	    /* ORIGIN_TCP; NULL once the connection closed */
	dns_server_reply_fn *reply; /* ORIGIN_CALLER */
	void *user;
	uint8_t tag[DNS_SERVER_TAG_MAX];
	size_t tag_len;
};

struct pending;

/* The socket of one attempt at one upstream: a new one per attempt, so
 * its port is fresh and random (the kernel picks it), and connected, so
 * only that upstream's address can reach it. A spoofer must then guess
 * the port and the ID of a query it does not see, and echo its question.
 * Freed in its close callback; p is NULL once the attempt is over. */
struct upstream_sock {
	uv_udp_t handle;
	struct dns_server *server;
	struct pending *p;
};

/* A forwarded query waiting for an upstream. */
struct pending {
	struct dns_server *server;
	struct pending *prev, *next;
	uv_timer_t timer;
	struct upstream_sock *sock; /* the attempt in progress, or NULL */
	struct origin origin;
	uint16_t client_id;
	uint16_t upstream_id;
	size_t upstream; /* index of the upstream being tried */
	size_t len;
	uint8_t query[]; /* carries upstream_id while in flight */
};

struct tcp_conn {
	struct dns_server *server;
	struct tcp_conn *prev, *next;
	uv_tcp_t handle;
	uv_timer_t idle;
	unsigned handles_open;
	bool closing;
	unsigned pending;	/* forwarded queries of this connection */
	uint64_t last_activity; /* server->activity_seq at accept or the last query */
	bool eof;		/* the client has finished sending */
	bool shutting;		/* tcp_finish() ran */
	uv_shutdown_t shutdown;
	size_t have;
	uint8_t buf[2 + DNS_SERVER_TCP_QUERY_MAX];
};

struct udp_send {
	uv_udp_send_t req;
	struct dns_server *server;
	uint8_t data[];
};

struct tcp_write {
	uv_write_t req;
	uint8_t data[];
};

struct dns_server {
	uv_loop_t *loop;
	uint16_t port;
	struct netaddr upstreams[DNS_SERVER_UPSTREAM_MAX];
	size_t n_upstreams;
	unsigned upstream_timeout_ms, tcp_idle_timeout_ms, max_in_flight, max_tcp_conns;
	void (*on_node)(void *user, const struct iron_id *id);
	void *user;

	uv_udp_t udp[DNS_SERVER_LISTEN_MAX];
	size_t n_udp;
	uv_tcp_t tcp[DNS_SERVER_LISTEN_MAX];
	size_t n_tcp;

	struct pending *pending;
	struct tcp_conn *conns;
	uint64_t activity_seq; /* stamps TCP clients' activity: the lowest is the oldest */
	unsigned udp_sends;
	unsigned open_handles;
	bool closing;
	void (*closed)(void *user);
	void *closed_user;

	uint64_t log_window;
	unsigned log_count;
	struct dns_server_stats stats;

	/* One datagram at a time is received and answered, so one buffer
	 * each serves every socket. */
	uint8_t recv_buf[65536];
	uint8_t reply_buf[2 + DNS_TCP_MAX];
};

/* Rate limit for debug lines caused by outside input. */
static bool log_allowed(struct dns_server *s)
{
	uint64_t now = uv_now(s->loop);
	if (now - s->log_window >= 1000) {
		s->log_window = now;
		s->log_count = 0;
	}
	return s->log_count++ < LOG_BURST;
}

static void maybe_free(struct dns_server *s)
{
	if (!s->closing || s->open_handles > 0)
		return;
	void (*closed)(void *) = s->closed;
	void *user = s->closed_user;
	free(s);
	if (closed)
		closed(user);
}

static void handle_closed(uv_handle_t *handle)
{
	struct dns_server *s = handle->data;
	s->open_handles--;
	maybe_free(s);
}

static void count_reply(struct dns_server *s, int rcode)
{
	if (rcode >= 0 && rcode < DNS_SERVER_RCODE_SLOTS)
		s->stats.answers[rcode]++;
}

/* --- sending answers ---------------------------------------------------- */

static void tcp_close(struct tcp_conn *conn);
static void tcp_finish(struct tcp_conn *conn);

static void udp_sent(uv_udp_send_t *req, int status)
{
	struct udp_send *send = (struct udp_send *)req;
	send->server->udp_sends--;
	if (status < 0 && status != UV_ECANCELED && log_allowed(send->server))
		log_debug("sending a reply: %s", uv_strerror(status));
	free(send);
}

static void tcp_written(uv_write_t *req, int status)
{
	(void)status; /* a failed write shows up as a read error too */
	free(req);
}

/* Sends an answer to where the query came from. Returns false when it was
 * dropped. */
static bool send_answer(struct dns_server *s, const struct origin *o, const uint8_t *data,
			size_t len)
{
	switch (o->kind) {
	case ORIGIN_UDP: {
		uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
		int r = uv_udp_try_send(o->udp, &buf, 1, (const struct sockaddr *)&o->peer);
		if (r >= 0)
			return true;
		if (r != UV_EAGAIN || s->udp_sends >= UDP_SEND_QUEUE_MAX) {
			if (log_allowed(s))
				log_debug("dropping a UDP reply: %s", uv_strerror(r));
			return false;
		}
		/* The socket buffer is full: queue a copy. */
		struct udp_send *send = malloc(sizeof(*send) + len);
		if (!send)
			return false;
		send->server = s;
		memcpy(send->data, data, len);
		buf = uv_buf_init((char *)send->data, (unsigned)len);
		if (uv_udp_send(&send->req, o->udp, &buf, 1, (const struct sockaddr *)&o->peer,
				udp_sent) != 0) {
			free(send);
			return false;
		}
		s->udp_sends++;
		return true;
	}
	case ORIGIN_TCP: {
		struct tcp_conn *conn = o->conn;
		if (!conn || conn->closing || len > DNS_TCP_MAX)
			return false;
		struct tcp_write *w = malloc(sizeof(*w) + 2 + len);
		if (!w)
			return false;
		w->data[0] = (uint8_t)(len >> 8);
		w->data[1] = (uint8_t)len;
		memcpy(w->data + 2, data, len);
		uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)(2 + len));
		if (uv_write(&w->req, (uv_stream_t *)&conn->handle, &buf, 1, tcp_written) != 0) {
			free(w);
			tcp_close(conn);
			return false;
		}
		if (uv_stream_get_write_queue_size((uv_stream_t *)&conn->handle) >
		    TCP_WRITE_QUEUE_MAX) {
			if (log_allowed(s))
				log_debug("closing a TCP client that does not read its answers");
			tcp_close(conn);
		}
		return true;
	}
	case ORIGIN_CALLER:
		o->reply(o->user, o->tag, data, len);
		return true;
	}
	return false;
}

/* --- forwarding ---------------------------------------------------------- */

static void pending_closed(uv_handle_t *handle)
{
	struct pending *p = handle->data;
	struct dns_server *s = p->server;
	free(p);
	s->open_handles--;
	maybe_free(s);
}

static void upstream_sock_closed(uv_handle_t *handle)
{
	struct upstream_sock *sock = handle->data;
	struct dns_server *s = sock->server;
	free(sock);
	s->open_handles--;
	maybe_free(s);
}

/* Ends the attempt in progress: its socket closes, and whatever still
 * arrives on it is never read. */
static void pending_drop_sock(struct pending *p)
{
	if (!p->sock)
		return;
	p->sock->p = NULL;
	uv_close((uv_handle_t *)&p->sock->handle, upstream_sock_closed);
	p->sock = NULL;
}

/* Removes a query from the waiting list and frees it (after its timer has
 * closed). */
static void pending_finish(struct pending *p)
{
	struct dns_server *s = p->server;
	pending_drop_sock(p);
	if (p->prev)
		p->prev->next = p->next;
	else
		s->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	s->stats.in_flight--;
	if (p->origin.kind == ORIGIN_TCP && p->origin.conn && --p->origin.conn->pending == 0 &&
	    p->origin.conn->eof)
		tcp_finish(p->origin.conn);
	uv_close((uv_handle_t *)&p->timer, pending_closed);
}

static void upstream_timeout(uv_timer_t *timer);
static void upstream_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void upstream_sock_received(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
				   const struct sockaddr *from, unsigned flags);

/* A socket connected to the upstream, on a port the kernel picks at
 * random (Linux randomises UDP ephemeral ports). Returns 0 or -errno. */
static int upstream_sock_open(struct dns_server *s, const struct netaddr *to,
			      struct upstream_sock **out)
{
	int fd = socket(to->sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, &to->sa, netaddr_len(&to->sa)) != 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	struct upstream_sock *sock = calloc(1, sizeof(*sock));
	if (!sock) {
		close(fd);
		return -ENOMEM;
	}
	sock->server = s;
	uv_udp_init(s->loop, &sock->handle);
	sock->handle.data = sock;
	s->open_handles++;
	int r = uv_udp_open(&sock->handle, fd);
	if (r != 0)
		close(fd); /* not taken by the handle */
	else
		r = uv_udp_recv_start(&sock->handle, upstream_alloc, upstream_sock_received);
	if (r != 0) {
		uv_close((uv_handle_t *)&sock->handle, upstream_sock_closed);
		return r;
	}
	*out = sock;
	return 0;
}
static void upstream_timeout(uv_timer_t *timer);

/* Sends the query to upstream p->upstream or, when that fails, the next
 * ones, each attempt from a new socket with a new random ID. Returns false
 * when none is left. */
static bool pending_send(struct pending *p)
{
	struct dns_server *s = p->server;
	pending_drop_sock(p);
	for (; p->upstream < s->n_upstreams; p->upstream++) {
		const struct netaddr *to = &s->upstreams[p->upstream];
		struct upstream_sock *sock = NULL;
		int r = upstream_sock_open(s, to, &sock);
		if (r == 0) {
			p->upstream_id = (uint16_t)randombytes_uniform(65536);
			dns_set_id(p->query, p->upstream_id);
			uv_buf_t buf = uv_buf_init((char *)p->query, (unsigned)p->len);
			r = uv_udp_try_send(&sock->handle, &buf, 1, NULL);
			if (r >= 0) {
				sock->p = p;
				p->sock = sock;
				uv_timer_start(&p->timer, upstream_timeout, s->upstream_timeout_ms,
					       0);
				return true;
			}
			uv_close((uv_handle_t *)&sock->handle, upstream_sock_closed);
		}
		if (log_allowed(s))
			log_debug("upstream %zu: %s", p->upstream + 1, uv_strerror(r));
	}
	return false;
}

static void pending_fail(struct pending *p)
{
	struct dns_server *s = p->server;
	uint8_t *out = s->reply_buf;
	struct dns_answer_opts opts = {.tcp = p->origin.kind == ORIGIN_TCP};
	dns_set_id(p->query, p->client_id);
	ssize_t n = dns_error_reply(p->query, p->len, DNS_RCODE_SERVFAIL, out, DNS_TCP_MAX, &opts);
	if (n > 0 && send_answer(s, &p->origin, out, (size_t)n))
		count_reply(s, DNS_RCODE_SERVFAIL);
	else
		s->stats.dropped++;
	pending_finish(p);
}

static void upstream_timeout(uv_timer_t *timer)
{
	struct pending *p = timer->data;
	p->server->stats.upstream_timeouts++;
	p->upstream++;
	if (!pending_send(p))
		pending_fail(p);
}

/* Returns 0, or -ENOBUFS over the in-flight cap, -ENOMEM. */
static int forward(struct dns_server *s, const uint8_t *query, size_t len, const struct origin *o)
{
	if (s->stats.in_flight >= s->max_in_flight) {
		s->stats.dropped_in_flight++;
		s->stats.dropped++;
		if (log_allowed(s))
			log_debug("%u queries in flight: dropping one", s->stats.in_flight);
		return -ENOBUFS;
	}
	struct pending *p = calloc(1, sizeof(*p) + len);
	if (!p) {
		s->stats.dropped++;
		return -ENOMEM;
	}
	p->server = s;
	p->origin = *o;
	p->len = len;
	memcpy(p->query, query, len);
	p->client_id = dns_get_id(query);
	uv_timer_init(s->loop, &p->timer);
	p->timer.data = p;
	s->open_handles++;
	p->next = s->pending;
	if (s->pending)
		s->pending->prev = p;
	s->pending = p;
	s->stats.in_flight++;
	s->stats.forwarded++;
	if (o->kind == ORIGIN_TCP)
		o->conn->pending++;
	if (!pending_send(p))
		pending_fail(p);
	return 0;
}

static void upstream_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct upstream_sock *sock = handle->data;
	(void)suggested;
	*buf = uv_buf_init((char *)sock->server->recv_buf, sizeof(sock->server->recv_buf));
}

/* True when reply answers p's query exactly: the ID, and the one question
 * (name in any case, type, class). A reply with no question proves nothing
 * (anyone can send FORMERR or SERVFAIL with a guessed ID), so it is not
 * taken, unlike dns_reply_matches() alone. */
static bool answers(const struct pending *p, const uint8_t *data, size_t len)
{
	return len >= DNS_HEADER_LEN && data[4] == 0 && data[5] == 1 &&
	       dns_get_id(data) == p->upstream_id && dns_reply_matches(p->query, p->len, data, len);
}

static void upstream_sock_received(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
				   const struct sockaddr *from, unsigned flags)
{
	struct upstream_sock *sock = handle->data;
	struct dns_server *s = sock->server;
	struct pending *p = sock->p;
	uint8_t *data = s->recv_buf;
	(void)buf;
	if (!p || s->closing)
		return;
	if (nread < 0) {
		/* Connected: an ICMP port unreachable shows here. Try the
		 * next upstream now rather than after the timeout. */
		if (log_allowed(s))
			log_debug("upstream %zu: %s", p->upstream + 1, uv_strerror((int)nread));
		uv_timer_stop(&p->timer);
		p->upstream++;
		if (!pending_send(p))
			pending_fail(p);
		return;
	}
	if (!from)
		return; /* nothing more to read */
	if ((flags & UV_UDP_PARTIAL) || !netaddr_equal(&s->upstreams[p->upstream].sa, from) ||
	    !answers(p, data, (size_t)nread)) {
		s->stats.upstream_mismatched++;
		if (log_allowed(s))
			log_debug("ignoring an upstream datagram that answers no waiting query");
		return;
	}
	size_t len = (size_t)nread;
	dns_set_id(data, p->client_id);
	if (send_answer(s, &p->origin, data, len))
		count_reply(s, data[3] & 0x0f);
	else
		s->stats.dropped++;
	uv_timer_stop(&p->timer);
	pending_finish(p);
}

/* --- answering ------------------------------------------------------------ */

/* Answers (or forwards) one query. Returns 0, -EBADMSG when it gets no
 * reply, -ENOBUFS/-ENOMEM when forwarding failed. */
static int serve(struct dns_server *s, const uint8_t *query, size_t len, const struct origin *o)
{
	struct dns_answer_opts opts = {.tcp = o->kind == ORIGIN_TCP,
				       .has_upstream = s->n_upstreams > 0};
	struct dns_answer_info info;
	uint8_t *out = s->reply_buf;

	s->stats.queries++;
	ssize_t n = dns_answer(query, len, out, DNS_TCP_MAX, &opts, &info);
	if (info.action == DNS_ACTION_FORWARD)
		return forward(s, query, len, o);
	if (n <= 0) {
		s->stats.dropped++;
		if (log_allowed(s))
			log_debug("no reply to a %zu-byte message", len);
		return -EBADMSG;
	}
	if (info.rcode == DNS_RCODE_FORMERR && log_allowed(s))
		log_debug("malformed %zu-byte query: FORMERR", len);
	if (!send_answer(s, o, out, (size_t)n)) {
		s->stats.dropped++;
		return 0;
	}
	count_reply(s, info.rcode);
	if (info.truncated)
		s->stats.truncated++;
	if (info.answered_id && s->on_node)
		s->on_node(s->user, &info.id);
	return 0;
}

int dns_server_query(struct dns_server *s, const uint8_t *query, size_t len, const void *tag,
		     size_t tag_len, dns_server_reply_fn *reply, void *user)
{
	struct origin o = {.kind = ORIGIN_CALLER, .reply = reply, .user = user};
	if (s->closing)
		return -ESHUTDOWN;
	if (tag_len > sizeof(o.tag) || !reply)
		return -EINVAL;
	if (tag_len)
		memcpy(o.tag, tag, tag_len);
	o.tag_len = tag_len;
	return serve(s, query, len, &o);
}

/* --- UDP ------------------------------------------------------------------- */

static void udp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct dns_server *s = handle->data;
	(void)suggested;
	*buf = uv_buf_init((char *)s->recv_buf, sizeof(s->recv_buf));
}

static void udp_received(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
			 const struct sockaddr *from, unsigned flags)
{
	struct dns_server *s = handle->data;
	(void)buf;
	if (nread < 0) {
		if (log_allowed(s))
			log_debug("UDP receive: %s", uv_strerror((int)nread));
		return;
	}
	if (!from || s->closing)
		return; /* nothing more to read */
	if (flags & UV_UDP_PARTIAL) {
		s->stats.queries++;
		s->stats.dropped++;
		return;
	}
	struct origin o = {.kind = ORIGIN_UDP, .udp = handle};
	memcpy(&o.peer, from,
	       from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					   : sizeof(struct sockaddr_in));
	serve(s, s->recv_buf, (size_t)nread, &o);
}

/* --- TCP ------------------------------------------------------------------- */

static void tcp_conn_closed(uv_handle_t *handle)
{
	struct tcp_conn *conn = handle->data;
	struct dns_server *s = conn->server;
	if (--conn->handles_open == 0)
		free(conn);
	s->open_handles--;
	maybe_free(s);
}

static void tcp_close(struct tcp_conn *conn)
{
	struct dns_server *s = conn->server;
	if (conn->closing)
		return;
	conn->closing = true;
	if (conn->prev)
		conn->prev->next = conn->next;
	else
		s->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	s->stats.tcp_conns--;
	/* Answers still coming from upstreams have nowhere to go. */
	for (struct pending *p = s->pending; p; p = p->next)
		if (p->origin.kind == ORIGIN_TCP && p->origin.conn == conn)
			p->origin.conn = NULL;
	uv_close((uv_handle_t *)&conn->handle, tcp_conn_closed);
	uv_close((uv_handle_t *)&conn->idle, tcp_conn_closed);
}

static void tcp_shut(uv_shutdown_t *req, int status)
{
	(void)status;
	tcp_close(req->data);
}

/* Closes after the answers already queued have gone out. */
static void tcp_finish(struct tcp_conn *conn)
{
	if (conn->shutting)
		return;
	conn->shutting = true;
	conn->shutdown.data = conn;
	if (conn->closing ||
	    uv_shutdown(&conn->shutdown, (uv_stream_t *)&conn->handle, tcp_shut) != 0)
		tcp_close(conn);
}

static void tcp_idle(uv_timer_t *timer)
{
	struct tcp_conn *conn = timer->data;
	struct dns_server *s = conn->server;
	if (conn->pending > 0) {
		/* Waiting on an upstream is not idleness. */
		uv_timer_again(timer);
		return;
	}
	s->stats.tcp_timeouts++;
	tcp_close(conn);
}

static void tcp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *conn = handle->data;
	(void)suggested;
	*buf =
	    uv_buf_init((char *)conn->buf + conn->have, (unsigned)(sizeof(conn->buf) - conn->have));
}

static void tcp_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_conn *conn = stream->data;
	struct dns_server *s = conn->server;
	size_t used = 0;
	(void)buf;

	if (nread == UV_EOF) {
		/* The client may half-close after its last query: answer
		 * what is asked, then close. */
		uv_read_stop(stream);
		conn->eof = true;
		if (conn->pending == 0)
			tcp_finish(conn);
		return;
	}
	if (nread < 0) {
		tcp_close(conn);
		return;
	}
	conn->have += (size_t)nread;
	/* Every complete message in the buffer; the buffer holds one message
	 * of the largest allowed size, so a partial one always fits. */
	while (!conn->closing && conn->have - used >= 2) {
		const uint8_t *msg = conn->buf + used;
		size_t len = (size_t)(msg[0] << 8 | msg[1]);
		if (len < DNS_HEADER_LEN || len > DNS_SERVER_TCP_QUERY_MAX) {
			s->stats.tcp_garbage++;
			if (log_allowed(s))
				log_debug("TCP message of %zu bytes: closing", len);
			tcp_close(conn);
			return;
		}
		if (conn->have - used < 2 + len)
			break;
		struct origin o = {.kind = ORIGIN_TCP, .conn = conn};
		if (serve(s, msg + 2, len, &o) == -EBADMSG) {
			s->stats.tcp_garbage++;
			tcp_close(conn);
			return;
		}
		used += 2 + len;
		conn->last_activity = ++s->activity_seq;
		uv_timer_again(&conn->idle);
	}
	if (conn->closing)
		return;
	memmove(conn->buf, conn->buf + used, conn->have - used);
	conn->have -= used;
}

/* The connection to close when a new one needs its place: of those not
 * waiting on an upstream, the one whose last query (or connection) is the
 * oldest; a client that trickles half a message counts as idle. NULL when
 * every connection waits on an upstream (bounded by its timeout). */
static struct tcp_conn *tcp_oldest_idle(struct dns_server *s, const struct tcp_conn *except)
{
	struct tcp_conn *best = NULL;
	for (struct tcp_conn *c = s->conns; c; c = c->next)
		if (c != except && !c->closing && c->pending == 0 &&
		    (!best || c->last_activity < best->last_activity))
			best = c;
	return best;
}

static void tcp_accepted(uv_stream_t *listener, int status)
{
	struct dns_server *s = listener->data;
	struct tcp_conn *conn;
	if (status < 0 || s->closing)
		return;
	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return;
	conn->server = s;
	uv_tcp_init(s->loop, &conn->handle);
	uv_timer_init(s->loop, &conn->idle);
	conn->handle.data = conn->idle.data = conn;
	conn->handles_open = 2;
	s->open_handles += 2;
	/* Linked first so that tcp_close() has one path for every case. */
	conn->next = s->conns;
	if (s->conns)
		s->conns->prev = conn;
	s->conns = conn;
	s->stats.tcp_conns++;
	if (uv_accept(listener, (uv_stream_t *)&conn->handle) != 0) {
		tcp_close(conn);
		return;
	}
	conn->last_activity = ++s->activity_seq;
	if (s->stats.tcp_conns > s->max_tcp_conns) {
		/* Full: the client idle the longest makes room (as unbound
		 * does), so slow or silent clients cannot shut TCP DNS. Only
		 * when every one waits on an upstream is the new one refused. */
		struct tcp_conn *victim = tcp_oldest_idle(s, conn);
		if (victim) {
			s->stats.tcp_evicted++;
			if (log_allowed(s))
				log_debug(
				    "%u TCP connections open: closing the one idle the longest",
				    s->max_tcp_conns);
			tcp_close(victim);
		} else {
			s->stats.tcp_rejected++;
			if (log_allowed(s))
				log_debug("%u TCP connections open, all busy: closing a new one",
					  s->max_tcp_conns);
			tcp_close(conn);
			return;
		}
	}
	s->stats.tcp_accepted++;
	uv_timer_start(&conn->idle, tcp_idle, s->tcp_idle_timeout_ms, s->tcp_idle_timeout_ms);
	/* A query that arrived with the connection is answered now, so that
	 * a burst of connections behind it cannot make it the oldest idle
	 * one before the loop gets round to reading it. */
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&conn->handle, &fd) == 0) {
		ssize_t n = recv(fd, conn->buf, sizeof(conn->buf), MSG_DONTWAIT);
		if (n > 0) {
			tcp_read((uv_stream_t *)&conn->handle, n, NULL);
			if (conn->closing)
				return;
		}
	}
	if (uv_read_start((uv_stream_t *)&conn->handle, tcp_alloc, tcp_read) != 0)
		tcp_close(conn);
}

/* --- set-up ------------------------------------------------------------------ */

/* A bound socket (listening for TCP). Returns the descriptor or -errno. */
static int bound_socket(const struct netaddr *addr, int type)
{
	int one = 1, udp_rcvbuf = UDP_RCVBUF, err;
	int fd = socket(addr->sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (addr->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* Room for a burst of queries while the loop is busy (best effort:
	 * the kernel caps it at net.core.rmem_max). */
	if (type == SOCK_DGRAM)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &udp_rcvbuf, sizeof(udp_rcvbuf));
	/* Lets a restarted daemon bind while old connections linger. */
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, &addr->sa, netaddr_len(&addr->sa)) != 0 ||
	    (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) != 0)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static uint16_t bound_port(int fd)
{
	struct netaddr a;
	socklen_t len = sizeof(a);
	if (getsockname(fd, &a.sa, &len) != 0)
		return 0;
	return netaddr_port(&a.sa);
}

/* True for the errors of an IPv6 address on a host without IPv6. */
static bool ipv6_unavailable(const struct netaddr *a, int err)
{
	return a->sa.sa_family == AF_INET6 && (err == -EADDRNOTAVAIL || err == -EAFNOSUPPORT);
}

struct bound_fds {
	int udp[DNS_SERVER_LISTEN_MAX], tcp[DNS_SERVER_LISTEN_MAX];
	size_t n;
};

static void close_fds(struct bound_fds *fds)
{
	for (size_t i = 0; i < fds->n; i++) {
		close(fds->udp[i]);
		close(fds->tcp[i]);
	}
	fds->n = 0;
}

/* Binds UDP and TCP on every address with one port; port 0 takes the
 * first free port of the first address for all. */
static int bind_all(const struct netaddr *addrs, size_t n, uint16_t port, struct bound_fds *fds,
		    uint16_t *bound)
{
	int err = 0;
	fds->n = 0;
	for (size_t i = 0; i < n; i++) {
		struct netaddr a = addrs[i];
		char text[NETADDR_STR_SIZE];
		netaddr_format_host(&a.sa, text, sizeof(text));
		netaddr_set_port(&a, port);
		int udp = bound_socket(&a, SOCK_DGRAM);
		if (udp >= 0 && port == 0)
			port = bound_port(udp);
		if (udp >= 0)
			netaddr_set_port(&a, port);
		int tcp = udp >= 0 ? bound_socket(&a, SOCK_STREAM) : udp;
		if (udp >= 0 && tcp < 0)
			close(udp);
		if (tcp < 0) {
			if (ipv6_unavailable(&a, tcp)) {
				log_warn("not listening on [%s]:%u: %s (IPv6 disabled?)", text,
					 port, strerror(-tcp));
				continue;
			}
			err = tcp;
			if (err != -EADDRINUSE)
				log_error("cannot listen on %s port %u: %s", text, port,
					  strerror(-err));
			close_fds(fds);
			return err;
		}
		fds->udp[fds->n] = udp;
		fds->tcp[fds->n] = tcp;
		fds->n++;
	}
	if (fds->n == 0)
		return -EADDRNOTAVAIL;
	*bound = port;
	return 0;
}

/* Hands a bound socket to a fresh libuv handle: that cannot fail unless
 * libuv itself is broken. */
static void adopt(int r)
{
	if (r != 0) {
		log_error("libuv refused a new socket: %s", uv_strerror(r));
		abort();
	}
}

int dns_server_new(const struct dns_server_config *config, struct dns_server **out)
{
	static const char *const default_listen[] = {"127.0.0.1", "::1"};
	const char *const *listen_text = config->listen;
	size_t n_listen = config->n_listen;
	struct netaddr addrs[DNS_SERVER_LISTEN_MAX];
	struct bound_fds fds = {.n = 0};
	int err;
	struct dns_server *s = NULL;
	uint16_t port = 0;

	*out = NULL;
	if (!listen_text || n_listen == 0) {
		listen_text = default_listen;
		n_listen = 2;
	}
	if (!config->loop || n_listen > DNS_SERVER_LISTEN_MAX ||
	    config->n_upstreams > DNS_SERVER_UPSTREAM_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n_listen; i++) {
		if (netaddr_parse_host(listen_text[i], 0, &addrs[i]) != 0) {
			log_error("not an IP address to listen on: %s", listen_text[i]);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < config->n_upstreams; i++) {
		sa_family_t family = config->upstreams[i].sa.sa_family;
		if (family != AF_INET && family != AF_INET6)
			return -EINVAL;
	}

	err = bind_all(addrs, n_listen, config->port, &fds, &port);
	/* A port picked for the first address may be taken on another. */
	for (int tries = 1; err == -EADDRINUSE && config->port == 0 && tries < PORT_PICK_TRIES;
	     tries++)
		err = bind_all(addrs, n_listen, 0, &fds, &port);
	if (err == -EADDRINUSE)
		log_error("cannot listen on port %u: address already in use", config->port);
	if (err < 0)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto out;
	}

	s->loop = config->loop;
	s->port = port;
	if (config->n_upstreams)
		memcpy(s->upstreams, config->upstreams,
		       config->n_upstreams * sizeof(s->upstreams[0]));
	s->n_upstreams = config->n_upstreams;
	s->upstream_timeout_ms = config->upstream_timeout_ms ? config->upstream_timeout_ms
							     : DNS_SERVER_UPSTREAM_TIMEOUT_MS;
	s->tcp_idle_timeout_ms =
	    config->tcp_idle_timeout_ms ? config->tcp_idle_timeout_ms : DNS_SERVER_TCP_IDLE_MS;
	s->max_in_flight = config->max_in_flight ? config->max_in_flight : DNS_SERVER_IN_FLIGHT_MAX;
	s->max_tcp_conns = config->max_tcp_conns ? config->max_tcp_conns : DNS_SERVER_TCP_CONNS_MAX;
	s->on_node = config->on_node;
	s->user = config->user;

	/* From here on the descriptors belong to libuv handles. uv_*_open
	 * cannot fail on fresh handles and sockets of the right kind, which
	 * keeps the error path above synchronous. */
	for (size_t i = 0; i < fds.n; i++) {
		uv_udp_t *u = &s->udp[s->n_udp++];
		uv_tcp_t *t = &s->tcp[s->n_tcp++];
		uv_udp_init(s->loop, u);
		uv_tcp_init(s->loop, t);
		u->data = t->data = s;
		s->open_handles += 2;
		adopt(uv_udp_open(u, fds.udp[i]));
		adopt(uv_tcp_open(t, fds.tcp[i]));
		uv_udp_recv_start(u, udp_alloc, udp_received);
		uv_listen((uv_stream_t *)t, TCP_BACKLOG, tcp_accepted);
	}
	fds.n = 0;
	log_debug("listening on port %u (%zu addresses, %zu upstreams)", port, s->n_udp,
		  s->n_upstreams);
	*out = s;
	s = NULL;
	err = 0;
out:
	free(s);
	close_fds(&fds);
	return err;
}

uint16_t dns_server_port(const struct dns_server *s)
{
	return s->port;
}

void dns_server_stats(const struct dns_server *s, struct dns_server_stats *out)
{
	*out = s->stats;
}

void dns_server_close(struct dns_server *s, void (*closed)(void *user), void *user)
{
	if (s->closing)
		return;
	s->closing = true;
	s->closed = closed;
	s->closed_user = user;
	/* Counted while closing so that no close callback frees too early. */
	s->open_handles++;
	for (size_t i = 0; i < s->n_udp; i++)
		uv_close((uv_handle_t *)&s->udp[i], handle_closed);
	for (size_t i = 0; i < s->n_tcp; i++)
		uv_close((uv_handle_t *)&s->tcp[i], handle_closed);
	while (s->conns)
		tcp_close(s->conns);
	while (s->pending)
		pending_finish(s->pending);
	s->open_handles--;
	maybe_free(s);
}
