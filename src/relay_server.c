/* `iron relay`: iroh's relay protocol over HTTP/1.1 + WebSocket, and a
 * STUN responder (relay_server.h). Behaviour follows iroh-relay 1.x's
 * server (server.rs, server/http_server.rs, server/client.rs,
 * server/clients.rs); the routing rules live in relay_table.c. */
#define LOG_MODULE "relay"

#include "iron/relay_server.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/http1.h"
#include "iron/log.h"
#include "iron/ratelimit.h"
#include "iron/relay_proto.h"
#include "iron/relay_table.h"
#include "iron/stream.h"
#include "iron/stun.h"
#include "iron/timerheap.h"
#include "iron/udp.h"
#include "iron/version.h"
#include "iron/websocket.h"

#define NS_PER_MS	    1000000ull
#define LISTEN_BACKLOG	    4096
#define MAX_REQUESTS	    100 /* HTTP requests on one kept-alive connection */
#define PRE_AUTH_MESSAGE    256 /* the longest message before authentication */
#define RELAY_MESSAGE	    (RELAY_MAX_PACKET + RELAY_DATAGRAM_HEAD_MAX)
#define MIN_BURST	    (128 * 1024)
#define CONTROL_FRAME_MAX   256	  /* our own frames other than datagrams */
#define PING_JITTER_MS	    4000  /* 1-5 s on top of the interval */
#define STUN_RATE	    10000 /* responses a second, all clients together */
#define STUN_BURST	    1000
#define CHALLENGE_CHARS_MAX 63
#define FEED_SLICE	    16384

enum conn_state {
	CONN_HTTP,  /* reading a request head */
	CONN_AUTH,  /* challenge sent, waiting for ClientAuth */
	CONN_RELAY, /* authenticated */
};

struct relay_server;

struct conn {
	struct relay_server *server;
	struct conn *prev, *next;
	struct stream *stream; /* NULL once the stream has ended */
	struct stream_callbacks cb;
	enum conn_state state;
	bool tls, v2;
	bool registered;    /* in the table */
	bool paused;	    /* reading stopped: receive budget in debt */
	bool rate_notified; /* Status(RateLimited) sent */
	bool ping_outstanding;
	bool dead; /* closed: freed once no callback is on the stack */
	struct conn *reap_next;
	const char *why; /* reason for closing, for the log */
	/* Before the upgrade: the request head being read. */
	char *head;
	size_t head_len;
	unsigned requests;
	struct ws_reader reader;
	bool reader_ready;
	uint8_t challenge[RELAY_CHALLENGE_LEN];
	uint8_t id[RELAY_KEY_LEN];
	uint8_t ping[RELAY_PING_LEN];
	struct relay_bucket bucket;
	struct timerheap_node timer;
	uint64_t handshake_deadline, last_rx, ping_due, pong_deadline, resume_at, stall_since;
};

struct listener {
	uv_tcp_t tcp;
	struct relay_server *server;
	bool tls;
	struct netaddr addr;
};

struct relay_server {
	uv_loop_t *loop;
	struct relay_server_config cfg;
	struct listener *listeners;
	size_t nlisteners, nhttp, nhttps;
	struct udp_socket *stun[RELAY_SERVER_MAX_LISTEN];
	struct netaddr stun_addr[RELAY_SERVER_MAX_LISTEN];
	size_t nstun;
	struct stream_tls_server *tls;
	struct relay_table *table;
	struct timerheap timers;
	uv_timer_t timer;
	uint64_t timer_at; /* when the uv timer fires, UINT64_MAX when stopped */
	struct conn *conns;
	/* Connections closed while a callback was running: a write can end a
	 * stream at once (its closed callback runs inside stream_write), so
	 * nothing is freed or taken out of the table until the outermost
	 * callback returns (depth 0). */
	struct conn *reap;
	unsigned depth;
	struct relay_server_stats stats;
	struct ratelimit stun_limit, warn_limit;
	size_t handles_open;
	bool closing;
};

static const char INDEX_BODY[] = "iron relay: an iroh-compatible relay server.\n";
static const char ROBOTS_BODY[] = "User-agent: *\nDisallow: /\n";
static const char TLS_HEADERS[] =
    "Strict-Transport-Security: max-age=63072000; includeSubDomains\r\n"
    "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; form-action 'none'; "
    "base-uri 'self'; block-all-mixed-content; plugin-types 'none'\r\n";
/* What iroh tells a client in a v1 Health frame (its Status's Display). */
static const char HEALTH_SAME_ID[] =
    "Another endpoint connected with the same endpoint id. No more messages will be received.";
static const char HEALTH_HEALTHY[] =
    "The connection is healthy and has recovered from previous problems";
#define RELAY_STATUS_RATE_LIMITED 2 /* iroh's Status::RateLimited */

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

static void conn_close(struct conn *c);
static void enter(struct relay_server *s);
static void leave(struct relay_server *s);
static void rearm(struct conn *c);

/* ------------------------------------------------------------ timers */

static void on_timer(uv_timer_t *t);

static void arm_server_timer(struct relay_server *s, uint64_t now)
{
	uint64_t next = timerheap_next_expiry(&s->timers);
	if (s->closing)
		return;
	if (next == UINT64_MAX) {
		uv_timer_stop(&s->timer);
		s->timer_at = UINT64_MAX;
		return;
	}
	if (next >= s->timer_at && s->timer_at > now)
		return; /* fires early enough already */
	uint64_t delay = next > now ? (next - now + NS_PER_MS - 1) / NS_PER_MS : 0;
	uv_timer_start(&s->timer, on_timer, delay, 0);
	s->timer_at = now + delay * NS_PER_MS;
}

/* The quiet time before a ping: the interval plus 1/15 to 5/15 of it
 * (15 s + 1-5 s by default, as iroh), so that pings do not bunch up. */
static uint64_t ping_interval_ns(const struct relay_server *s)
{
	uint64_t ms = s->cfg.ping_ms;
	return (ms + ms * (1000 + randombytes_uniform(PING_JITTER_MS + 1)) / 15000) * NS_PER_MS;
}

/* The earliest moment something must happen to c. */
static uint64_t conn_deadline(const struct conn *c)
{
	uint64_t t = UINT64_MAX;
	if (c->state != CONN_RELAY)
		t = c->handshake_deadline;
	else if (c->ping_outstanding)
		t = c->pong_deadline;
	else
		t = c->ping_due;
	if (c->paused && c->resume_at < t)
		t = c->resume_at;
	if (c->stall_since) {
		uint64_t stall = c->stall_since + c->server->cfg.write_stall_ms * NS_PER_MS;
		if (stall < t)
			t = stall;
	}
	return t;
}

static void rearm(struct conn *c)
{
	struct relay_server *s = c->server;
	if (c->dead)
		return;
	uint64_t t = conn_deadline(c);
	if (t == UINT64_MAX) {
		timerheap_remove(&s->timers, &c->timer);
		return;
	}
	if (c->timer.index == TIMERHEAP_NONE) {
		if (timerheap_insert(&s->timers, &c->timer, t) < 0) {
			log_warn("out of memory: a connection has no timer");
			return;
		}
	} else if (c->timer.expiry != t) {
		timerheap_update(&s->timers, &c->timer, t);
	}
	arm_server_timer(s, now_ns());
}

/* ------------------------------------------------------------ writing */

static int conn_write(struct conn *c, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (!c->stream || c->dead)
		return -EPIPE;
	int rc = b ? stream_write2(c->stream, a, alen, b, blen) : stream_write(c->stream, a, alen);
	if (rc == 0) {
		c->server->stats.bytes_out += alen + blen;
	} else if (rc == -ENOBUFS && !c->stall_since) {
		c->stall_since = now_ns();
		rearm(c);
	}
	return rc;
}

/* One WebSocket message (unmasked: server to client). */
static int ws_send(struct conn *c, uint8_t opcode, const uint8_t *payload, size_t len)
{
	uint8_t buf[WS_MAX_HEAD + CONTROL_FRAME_MAX];
	size_t h = ws_write_head(buf, opcode, true, len, NULL);
	if (len <= CONTROL_FRAME_MAX) {
		memcpy(buf + h, payload, len);
		return conn_write(c, buf, h + len, NULL, 0);
	}
	return conn_write(c, buf, h, payload, len);
}

static int send_frame(struct conn *c, const struct relay_frame *f)
{
	uint8_t msg[CONTROL_FRAME_MAX];
	ssize_t n = relay_frame_encode(f, msg, sizeof(msg));
	if (n < 0) {
		log_debug("cannot encode frame type %d: %s", (int)f->type, strerror((int)-n));
		return (int)n;
	}
	return ws_send(c, WS_BINARY, msg, (size_t)n);
}

/* Status (v2) or Health (v1), as iroh's try_send_health(). */
static void send_status(struct conn *c, uint8_t status, const char *v1_text)
{
	struct relay_frame f = {0};
	if (c->v2) {
		f.type = RELAY_STATUS;
		f.status = status;
	} else {
		f.type = RELAY_HEALTH;
		f.data = (const uint8_t *)v1_text;
		f.data_len = strlen(v1_text);
	}
	send_frame(c, &f);
}

static void send_denial(struct conn *c, const char *reason)
{
	struct relay_frame f = {.type = RELAY_SERVER_DENIES_AUTH,
				.data = (const uint8_t *)reason,
				.data_len = strlen(reason)};
	send_frame(c, &f);
}

/* ------------------------------------------------------------ HTTP */

/* Writes a whole response. Returns 0 or the stream's error. */
static int http_respond(struct conn *c, int status, const char *reason, const char *headers,
			const char *body, bool head_only, bool keep_alive)
{
	char buf[1024];
	size_t body_len = body ? strlen(body) : 0;
	int n =
	    snprintf(buf, sizeof(buf),
		     "HTTP/1.1 %d %s\r\n"
		     "Server: iron/%s\r\n"
		     "%s%s"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "\r\n",
		     status, reason, IRON_VERSION, c->tls ? TLS_HEADERS : "",
		     headers ? headers : "", body_len, keep_alive ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENOBUFS;
	if (head_only || body_len == 0)
		return conn_write(c, (const uint8_t *)buf, (size_t)n, NULL, 0);
	return conn_write(c, (const uint8_t *)buf, (size_t)n, (const uint8_t *)body, body_len);
}

/* A 400 for a bad /relay request, with iroh's wording; keeps nothing open. */
static int upgrade_refused(struct conn *c, const char *headers, const char *what,
			   const char *detail)
{
	char body[256];
	snprintf(body, sizeof(body), "%s%s\n", what, detail);
	c->server->stats.http_bad++;
	http_respond(c, 400, "Bad Request", headers, body, false, false);
	c->why = "bad upgrade request";
	return -EBADMSG;
}

static bool is_challenge_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '-' || ch == '_';
}

/* The value of a query parameter in target's query string, or NULL. */
static const char *query_param(const char *query, size_t len, const char *name, size_t *value_len)
{
	size_t nlen = strlen(name);
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && query[end] != '&')
			end++;
		if (end - i > nlen && memcmp(query + i, name, nlen) == 0 &&
		    query[i + nlen] == '=') {
			*value_len = end - i - nlen - 1;
			return query + i + nlen + 1;
		}
		i = end + 1;
	}
	return NULL;
}

static bool token_matches(const struct relay_server *s, const char *token, size_t len)
{
	bool ok = false;
	for (size_t i = 0; i < s->cfg.ntokens; i++) {
		const char *t = s->cfg.tokens[i];
		if (strlen(t) == len && sodium_memcmp(t, token, len) == 0)
			ok = true;
	}
	return ok;
}

/* A /relay request carries a valid token (Authorization: Bearer T, any
 * such header, or ?token=T as iroh also accepts). */
static bool token_ok(const struct relay_server *s, const struct http1_request *req,
		     const char *query, size_t query_len)
{
	if (s->cfg.ntokens == 0)
		return true;
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct http1_header *h = &req->headers[i];
		if (!http1_equals(h->name, h->name_len, "authorization") || h->value_len < 7 ||
		    !http1_equals(h->value, 6, "bearer") || h->value[6] != ' ')
			continue;
		const char *t = h->value + 7;
		size_t tlen = h->value_len - 7;
		while (tlen > 0 && *t == ' ') {
			t++;
			tlen--;
		}
		if (token_matches(s, t, tlen))
			return true;
	}
	size_t vlen = 0;
	const char *v = query ? query_param(query, query_len, "token", &vlen) : NULL;
	return v && token_matches(s, v, vlen);
}

static void start_relaying_reader(struct conn *c)
{
	ws_reader_init(&c->reader, true, PRE_AUTH_MESSAGE);
	c->reader_ready = true;
}

/* GET /relay: the WebSocket upgrade (iroh's handle_relay_ws_upgrade). */
static int handle_upgrade(struct conn *c, const struct http1_request *req, const char *query,
			  size_t query_len)
{
	struct relay_server *s = c->server;
	const struct http1_header *h;
	char accept[WS_ACCEPT_SIZE], buf[512];
	bool v1 = false, v2 = false;

	h = http1_find(req->headers, req->nheaders, "upgrade");
	if (!h)
		return upgrade_refused(c, NULL, "missing header: ", "upgrade");
	if (!http1_equals(h->value, h->value_len, "websocket"))
		return upgrade_refused(
		    c, NULL, "invalid header value for upgrade: ", "value must be websocket");
	const struct http1_header *key =
	    http1_find(req->headers, req->nheaders, "sec-websocket-key");
	if (!key || key->value_len == 0 || key->value_len > 128)
		return upgrade_refused(c, NULL, "missing header: ", "sec-websocket-key");
	h = http1_find(req->headers, req->nheaders, "sec-websocket-version");
	if (!h)
		return upgrade_refused(c, NULL, "missing header: ", "sec-websocket-version");
	if (!http1_equals(h->value, h->value_len, "13"))
		return upgrade_refused(c, "Sec-WebSocket-Version: 13\r\n",
				       "invalid header value for sec-websocket-version: ",
				       "unsupported websocket version, only supporting 13");
	h = http1_find(req->headers, req->nheaders, "sec-websocket-protocol");
	if (!h)
		return upgrade_refused(c, NULL, "missing header: ", "sec-websocket-protocol");
	for (size_t i = 0; i < h->value_len;) {
		size_t end = i;
		while (end < h->value_len && h->value[end] != ',')
			end++;
		size_t a = i, b = end;
		while (a < b && (h->value[a] == ' ' || h->value[a] == '\t'))
			a++;
		while (b > a && (h->value[b - 1] == ' ' || h->value[b - 1] == '\t'))
			b--;
		if (b - a == strlen(RELAY_PROTOCOL_V2) &&
		    memcmp(h->value + a, RELAY_PROTOCOL_V2, b - a) == 0)
			v2 = true;
		if (b - a == strlen(RELAY_PROTOCOL_V1) &&
		    memcmp(h->value + a, RELAY_PROTOCOL_V1, b - a) == 0)
			v1 = true;
		i = end + 1;
	}
	if (!v1 && !v2)
		return upgrade_refused(c, NULL,
				       "invalid header value for sec-websocket-protocol: "
				       "unsupported relay version: we support ",
				       RELAY_PROTOCOL_V2 ", " RELAY_PROTOCOL_V1);
	if (!token_ok(s, req, query, query_len)) {
		s->stats.auth_bad_token++;
		http_respond(c, 401, "Unauthorized", "WWW-Authenticate: Bearer\r\n",
			     "a valid bearer token is needed\n", false, false);
		c->why = "no valid token";
		return -EACCES;
	}

	ws_accept_key(key->value, key->value_len, accept);
	c->v2 = v2;
	int n =
	    snprintf(buf, sizeof(buf),
		     "HTTP/1.1 101 Switching Protocols\r\n"
		     "Upgrade: websocket\r\n"
		     "Connection: Upgrade\r\n"
		     "Sec-WebSocket-Accept: %s\r\n"
		     "Sec-WebSocket-Protocol: %s\r\n"
		     "%s"
		     "\r\n",
		     accept, v2 ? RELAY_PROTOCOL_V2 : RELAY_PROTOCOL_V1, c->tls ? TLS_HEADERS : "");
	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    conn_write(c, (uint8_t *)buf, (size_t)n, NULL, 0) < 0) {
		c->why = "cannot write the upgrade";
		return -EPIPE;
	}
	s->stats.upgrades++;
	c->state = CONN_AUTH;
	start_relaying_reader(c);
	/* An x-iroh-relay-client-auth-v1 header (TLS exporter) is ignored:
	 * iroh's client then answers the challenge, as with any proxy. */
	randombytes_buf(c->challenge, sizeof(c->challenge));
	struct relay_frame f = {.type = RELAY_SERVER_CHALLENGE};
	memcpy(f.challenge, c->challenge, sizeof(f.challenge));
	if (send_frame(c, &f) < 0) {
		c->why = "cannot write the challenge";
		return -EPIPE;
	}
	return 0;
}

/* One complete request. Returns 1 to go on reading requests, 0 after the
 * upgrade, or a negative errno to close (after the response). */
static int handle_request(struct conn *c, const struct http1_request *req)
{
	struct relay_server *s = c->server;
	const char *target = req->target, *query = NULL;
	size_t path_len = req->target_len, query_len = 0;
	const char *q = memchr(target, '?', req->target_len);
	const struct http1_header *h;
	bool head_only = http1_equals(req->method, req->method_len, "HEAD");
	bool get = http1_equals(req->method, req->method_len, "GET");
	bool keep;

	s->stats.http_requests++;
	if (q) {
		path_len = (size_t)(q - target);
		query = q + 1;
		query_len = req->target_len - path_len - 1;
	}
#define PATH_IS(p) (path_len == strlen(p) && memcmp(target, p, path_len) == 0)
	h = http1_find(req->headers, req->nheaders, "connection");
	keep = req->minor_version == 1 ? !(h && http1_has_token(h, "close"))
				       : (h && http1_has_token(h, "keep-alive"));
	if (++c->requests >= MAX_REQUESTS)
		keep = false;
	/* No request of ours has a body; one that says it has is refused
	 * rather than guessed past. */
	h = http1_find(req->headers, req->nheaders, "content-length");
	if (http1_find(req->headers, req->nheaders, "transfer-encoding") ||
	    (h && !http1_equals(h->value, h->value_len, "0"))) {
		s->stats.http_bad++;
		http_respond(c, 400, "Bad Request", NULL, "request bodies are not accepted\n",
			     false, false);
		c->why = "request with a body";
		return -EBADMSG;
	}

	int rc;
	if (get && PATH_IS(RELAY_PATH))
		return handle_upgrade(c, req, query, query_len);
	if ((get || head_only) && (PATH_IS("/") || PATH_IS("/index.html"))) {
		rc = http_respond(c, 200, "OK", "Content-Type: text/plain; charset=utf-8\r\n",
				  INDEX_BODY, head_only, keep);
	} else if ((get || head_only) && PATH_IS("/ping")) {
		rc = http_respond(c, 200, "OK", "Access-Control-Allow-Origin: *\r\n", NULL,
				  head_only, keep);
	} else if ((get || head_only) && PATH_IS("/generate_204")) {
		char extra[128] = "";
		h = http1_find(req->headers, req->nheaders, "x-iroh-challenge");
		bool valid = h && h->value_len > 0 && h->value_len <= CHALLENGE_CHARS_MAX;
		for (size_t i = 0; valid && i < h->value_len; i++)
			valid = is_challenge_char(h->value[i]);
		if (valid)
			snprintf(extra, sizeof(extra), "X-Iroh-Response: response %.*s\r\n",
				 (int)h->value_len, h->value);
		rc = http_respond(c, 204, "No Content", extra, NULL, head_only, keep);
	} else if ((get || head_only) && PATH_IS("/healthz")) {
		char body[128];
		snprintf(body, sizeof(body), "{\"status\":\"ok\",\"version\":\"%s\"}",
			 IRON_VERSION);
		rc = http_respond(c, 200, "OK", "Content-Type: application/json\r\n", body,
				  head_only, keep);
	} else if ((get || head_only) && PATH_IS("/robots.txt")) {
		rc = http_respond(c, 200, "OK", "Content-Type: text/plain\r\n", ROBOTS_BODY,
				  head_only, keep);
	} else {
		rc = http_respond(c, 404, "Not Found", "Content-Type: text/plain\r\n", "Not Found",
				  head_only, keep);
	}
#undef PATH_IS
	if (rc < 0) {
		c->why = "cannot write a response";
		return rc;
	}
	if (!keep) {
		c->why = "request served";
		return -ECONNRESET;
	}
	/* The next request gets a fresh deadline: a slow one is closed, a
	 * busy prober is not. */
	c->handshake_deadline = now_ns() + s->cfg.handshake_timeout_ms * NS_PER_MS;
	rearm(c);
	return 1;
}

static int ws_input(struct conn *c, const uint8_t *data, size_t len, uint64_t now);

/* Bytes before the upgrade: request heads, answered one by one. */
static int http_input(struct conn *c, const uint8_t *data, size_t len, uint64_t now)
{
	struct http1_request req;

	if (!c->head) {
		c->head = malloc(HTTP1_MAX_HEAD);
		if (!c->head) {
			c->why = "out of memory";
			return -ENOMEM;
		}
	}
	while (len > 0) {
		size_t take = HTTP1_MAX_HEAD - c->head_len;
		if (take > len)
			take = len;
		memcpy(c->head + c->head_len, data, take);
		c->head_len += take;
		data += take;
		len -= take;
		for (;;) {
			ssize_t n = http1_parse_request(c->head, c->head_len, &req);
			if (n == 0 && c->head_len == HTTP1_MAX_HEAD)
				n = -E2BIG;
			if (n == 0)
				break;
			if (n < 0) {
				c->server->stats.http_bad++;
				if (n == -E2BIG)
					http_respond(c, 431, "Request Header Fields Too Large",
						     NULL, NULL, false, false);
				else
					http_respond(c, 400, "Bad Request", NULL,
						     "malformed request\n", false, false);
				c->why = "malformed HTTP request";
				return (int)n;
			}
			int rc = handle_request(c, &req);
			if (rc < 0)
				return rc;
			if (c->dead)
				return -EPIPE;
			/* Take the request out of the buffer. */
			size_t rest = c->head_len - (size_t)n;
			memmove(c->head, c->head + n, rest);
			c->head_len = rest;
			if (rc == 0) {
				/* Upgraded: what followed the head is WebSocket. */
				char *head = c->head;
				size_t hlen = c->head_len;
				c->head = NULL;
				c->head_len = 0;
				rc = hlen ? ws_input(c, (uint8_t *)head, hlen, now) : 0;
				free(head);
				if (rc == 0 && len > 0)
					rc = ws_input(c, data, len, now);
				return rc;
			}
			if (c->head_len == 0)
				break;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ relaying */

static bool allowed(const struct relay_server *s, const uint8_t id[RELAY_KEY_LEN])
{
	if (s->cfg.nallow == 0)
		return true;
	for (size_t i = 0; i < s->cfg.nallow; i++)
		if (memcmp(s->cfg.allow[i], id, RELAY_KEY_LEN) == 0)
			return true;
	return false;
}

static void log_id(char out[17], const uint8_t id[RELAY_KEY_LEN])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 8; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[16] = '\0';
}

static int handle_auth(struct conn *c, const struct relay_frame *f, uint64_t now)
{
	struct relay_server *s = c->server;
	char idtext[17];
	void *displaced = NULL, *evicted = NULL;

	if (f->type != RELAY_CLIENT_AUTH) {
		s->stats.closed_protocol_error++;
		c->why = "a frame other than ClientAuth before authentication";
		return -EPROTO;
	}
	log_id(idtext, f->key);
	if (!relay_verify_challenge(f->key, c->challenge, f->signature)) {
		s->stats.auth_bad_signature++;
		send_denial(c, "signature invalid");
		c->why = "signature invalid";
		return -EACCES;
	}
	if (!allowed(s, f->key)) {
		s->stats.auth_denied++;
		send_denial(c, "not authorized");
		log_info("refused %s...: not in the --allow list", idtext);
		c->why = "not authorized";
		return -EACCES;
	}
	memcpy(c->id, f->key, RELAY_KEY_LEN);
	if (relay_table_add(s->table, c->id, c, &displaced, &evicted) < 0) {
		send_denial(c, "relay out of memory");
		c->why = "out of memory";
		return -ENOMEM;
	}
	struct relay_frame ok = {.type = RELAY_SERVER_CONFIRMS_AUTH};
	send_frame(c, &ok);
	c->registered = true;
	c->state = CONN_RELAY;
	c->reader.max_message = RELAY_MESSAGE;
	c->last_rx = now;
	c->ping_due = now + ping_interval_ns(s);
	s->stats.auth_ok++;
	s->stats.clients++;
	if (s->stats.clients > s->stats.peak_clients)
		s->stats.peak_clients = s->stats.clients;
	log_debug("client %s... authenticated (%s)", idtext, c->v2 ? "v2" : "v1");
	if (displaced) {
		/* iroh keeps the older connection open, inactive. */
		s->stats.replaced++;
		send_status(displaced, RELAY_STATUS_SAME_ENDPOINT_CONNECTED, HEALTH_SAME_ID);
		log_debug("client %s... connected again: the older connection is inactive", idtext);
	}
	if (evicted) {
		struct conn *old = evicted;
		old->registered = false;
		old->why = "too many connections with one node ID";
		conn_close(old);
	}
	rearm(c);
	return 0;
}

/* How many packets a datagram frame holds. */
static uint64_t packet_count(const struct relay_frame *f)
{
	if (f->segment_size == 0 || f->data_len == 0)
		return 1;
	return (f->data_len + f->segment_size - 1) / f->segment_size;
}

static void route(struct conn *c, const struct relay_frame *f, uint64_t now)
{
	struct relay_server *s = c->server;
	uint64_t n = packet_count(f);
	struct conn *dst = relay_table_active(s->table, f->key);
	uint8_t head[WS_MAX_HEAD + RELAY_DATAGRAM_HEAD_MAX], rh[RELAY_DATAGRAM_HEAD_MAX];

	s->stats.datagrams_in += n;
	if (!dst || dst->dead) {
		s->stats.dropped_no_destination += n;
		return;
	}
	bool batch = f->type == RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH && f->segment_size != 0;
	size_t rlen = relay_datagram_head(
	    rh, batch ? RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH : RELAY_RELAY_TO_CLIENT_DATAGRAM,
	    c->id, f->ecn, f->segment_size);
	size_t hlen = ws_write_head(head, WS_BINARY, true, rlen + f->data_len, NULL);
	memcpy(head + hlen, rh, rlen);
	int rc = conn_write(dst, head, hlen + rlen, f->data, f->data_len);
	if (rc < 0) {
		s->stats.dropped_queue_full += n;
		return;
	}
	s->stats.datagrams_relayed += n;
	relay_table_note_sent(s->table, c->id, f->key);
	(void)now;
}

static int handle_relay_frame(struct conn *c, const struct relay_frame *f, uint64_t now)
{
	struct relay_server *s = c->server;
	switch (f->type) {
	case RELAY_CLIENT_TO_RELAY_DATAGRAM:
	case RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH:
		route(c, f, now);
		return 0;
	case RELAY_PING: {
		struct relay_frame pong = {.type = RELAY_PONG};
		memcpy(pong.ping, f->ping, RELAY_PING_LEN);
		send_frame(c, &pong);
		return 0;
	}
	case RELAY_PONG:
		if (c->ping_outstanding && memcmp(f->ping, c->ping, RELAY_PING_LEN) == 0) {
			c->ping_outstanding = false;
			s->stats.pongs_received++;
			c->ping_due = now + ping_interval_ns(s);
			rearm(c);
		}
		return 0;
	default:
		s->stats.closed_protocol_error++;
		c->why = "a frame a client may not send";
		return -EPROTO;
	}
}

static int handle_message(struct conn *c, uint8_t opcode, const uint8_t *msg, size_t len,
			  uint64_t now)
{
	struct relay_server *s = c->server;
	struct relay_frame f;

	c->last_rx = now;
	switch (opcode) {
	case WS_BINARY:
		break;
	case WS_PING:
		ws_send(c, WS_PONG, msg, len);
		return 0;
	case WS_PONG:
		return 0;
	case WS_CLOSE: {
		uint8_t code[2] = {0x03, 0xe8}; /* 1000, normal */
		ws_send(c, WS_CLOSE, len >= 2 ? msg : code, 2);
		c->why = "closed by the client";
		return -ECONNRESET;
	}
	default:
		s->stats.closed_protocol_error++;
		c->why = "a WebSocket text message";
		return -EPROTO;
	}
	int rc = relay_frame_decode(msg, len, &f);
	if (rc == -ENOTSUP)
		return 0; /* a newer frame type: ignored, as the header says */
	if (rc < 0) {
		s->stats.closed_protocol_error++;
		c->why = "a malformed relay frame";
		return rc;
	}
	if (c->state == CONN_AUTH)
		return handle_auth(c, &f, now);
	return handle_relay_frame(c, &f, now);
}

/* Bytes after the upgrade: WebSocket messages. The reader is fed in
 * slices and drained in between, so it holds at most one message, a
 * control frame and a slice. */
static int ws_input(struct conn *c, const uint8_t *data, size_t len, uint64_t now)
{
	while (len > 0) {
		size_t take = len < FEED_SLICE ? len : FEED_SLICE;
		int rc = ws_reader_feed(&c->reader, data, take);
		if (rc < 0) {
			c->server->stats.closed_protocol_error++;
			c->why = rc == -EMSGSIZE ? "message too long" : "out of memory";
			return rc;
		}
		data += take;
		len -= take;
		for (;;) {
			uint8_t opcode;
			const uint8_t *msg;
			size_t mlen;
			rc = ws_reader_next(&c->reader, &opcode, &msg, &mlen);
			if (rc == 0)
				break;
			if (rc < 0) {
				c->server->stats.closed_protocol_error++;
				c->why =
				    rc == -EMSGSIZE ? "message too long" : "bad WebSocket frame";
				return rc;
			}
			rc = handle_message(c, opcode, msg, mlen, now);
			if (rc < 0)
				return rc;
			if (c->dead)
				return -EPIPE;
		}
	}
	return 0;
}

/* ------------------------------------------------------------ connections */

static void on_gone(void *user, void *peer_conn, const uint8_t gone_id[RELAY_TABLE_ID_LEN])
{
	struct relay_server *s = user;
	struct conn *peer = peer_conn;
	struct relay_frame f = {.type = RELAY_ENDPOINT_GONE};
	if (peer->dead)
		return;
	memcpy(f.key, gone_id, RELAY_KEY_LEN);
	if (send_frame(peer, &f) == 0)
		s->stats.endpoint_gone_sent++;
}

/* Closes c: the stream now, the rest once no callback runs (reap()). */
static void conn_close(struct conn *c)
{
	struct relay_server *s = c->server;
	if (c->dead)
		return;
	c->dead = true;
	if (c->stream) {
		struct stream *st = c->stream;
		c->stream = NULL;
		stream_close(st);
	}
	timerheap_remove(&s->timers, &c->timer);
	c->reap_next = s->reap;
	s->reap = c;
}

/* Takes c out of the table (telling its peers) and frees it. */
static void conn_free(struct conn *c)
{
	struct relay_server *s = c->server;
	char idtext[17] = "-";

	if (c->registered) {
		void *promoted = NULL;
		log_id(idtext, c->id);
		relay_table_remove(s->table, c->id, c, &promoted, s->closing ? NULL : on_gone, s);
		if (promoted && !s->closing && !((struct conn *)promoted)->dead)
			send_status(promoted, RELAY_STATUS_HEALTHY, HEALTH_HEALTHY);
	}
	if (c->state == CONN_RELAY)
		s->stats.clients--;
	log_debug("connection %s closed: %s", idtext, c->why ? c->why : "ended");
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->stats.connections--;
	if (c->reader_ready)
		ws_reader_free(&c->reader);
	free(c->head);
	free(c);
}

static void enter(struct relay_server *s)
{
	s->depth++;
}

/* Leaves a callback; the outermost one frees the connections closed
 * meanwhile (and those their departure closes). */
static void leave(struct relay_server *s)
{
	if (s->depth > 1) {
		s->depth--;
		return;
	}
	while (s->reap) {
		struct conn *c = s->reap;
		s->reap = c->reap_next;
		conn_free(c);
	}
	s->depth--;
}

static void on_stream_ready(void *user, struct stream *st)
{
	(void)user;
	(void)st;
}

static void on_stream_data(void *user, struct stream *st, const uint8_t *data, size_t len)
{
	struct conn *c = user;
	struct relay_server *s = c->server;
	uint64_t now = now_ns();
	int rc;
	(void)st;

	if (c->dead)
		return;
	enter(s);
	s->stats.bytes_in += len;
	rc = c->state == CONN_HTTP ? http_input(c, data, len, now) : ws_input(c, data, len, now);
	if (rc < 0 || c->dead) {
		conn_close(c);
		leave(s);
		return;
	}
	uint64_t wait = relay_bucket_take(&c->bucket, len, now);
	if (wait && c->stream) {
		stream_pause(c->stream);
		c->paused = true;
		c->resume_at = now + wait;
		s->stats.rate_limited++;
		if (c->state == CONN_RELAY && c->v2 && !c->rate_notified) {
			c->rate_notified = true;
			send_status(c, RELAY_STATUS_RATE_LIMITED, "");
		}
		rearm(c);
	}
	leave(s);
}

static void on_stream_writable(void *user, struct stream *st)
{
	struct conn *c = user;
	(void)st;
	c->stall_since = 0; /* the deadline in the heap finds nothing to do */
}

static void on_stream_closed(void *user, struct stream *st, int err, const char *reason)
{
	struct conn *c = user;
	(void)st;
	c->stream = NULL; /* ended: freed by the stream module */
	if (!c->why)
		c->why = err == 0 ? "closed by the client" : reason;
	enter(c->server);
	conn_close(c);
	leave(c->server);
}

static void conn_timer(struct conn *c, uint64_t now)
{
	struct relay_server *s = c->server;

	if (c->state != CONN_RELAY && now >= c->handshake_deadline) {
		s->stats.closed_handshake_timeout++;
		c->why = "handshake timeout";
		conn_close(c);
		return;
	}
	if (c->stall_since && now >= c->stall_since + s->cfg.write_stall_ms * NS_PER_MS) {
		s->stats.closed_write_stall++;
		c->why = "not reading (send queue full)";
		conn_close(c);
		return;
	}
	if (c->paused && now >= c->resume_at) {
		c->paused = false;
		if (c->stream)
			stream_resume(c->stream);
	}
	if (c->state == CONN_RELAY) {
		if (c->ping_outstanding && now >= c->pong_deadline) {
			s->stats.closed_pong_timeout++;
			c->why = "no pong";
			conn_close(c);
			return;
		}
		if (!c->ping_outstanding && now >= c->ping_due) {
			uint64_t quiet_until = c->last_rx + ping_interval_ns(s);
			if (quiet_until > now) {
				/* Heard from recently: ping later (iroh resets its
				 * interval on every frame). */
				c->ping_due = quiet_until;
			} else {
				struct relay_frame f = {.type = RELAY_PING};
				randombytes_buf(c->ping, sizeof(c->ping));
				memcpy(f.ping, c->ping, sizeof(f.ping));
				send_frame(c, &f);
				s->stats.pings_sent++;
				c->ping_outstanding = true;
				c->pong_deadline = now + s->cfg.pong_ms * NS_PER_MS;
			}
		}
	}
	rearm(c);
}

static void on_timer(uv_timer_t *t)
{
	struct relay_server *s = t->data;
	uint64_t now = now_ns();
	struct timerheap_node *node;

	s->timer_at = UINT64_MAX;
	enter(s);
	/* Bounded: each node is taken out before its handler runs, and a
	 * handler re-inserts it in the future. */
	while ((node = timerheap_first(&s->timers)) && node->expiry <= now) {
		struct conn *c = (struct conn *)((char *)node - offsetof(struct conn, timer));
		timerheap_remove(&s->timers, node);
		conn_timer(c, now);
	}
	leave(s);
	arm_server_timer(s, now);
}

static void warn_limited(struct relay_server *s, const char *what, int err)
{
	if (ratelimit_allow(&s->warn_limit, now_ns()))
		log_warn("%s: %s", what, uv_strerror(err));
}

static void on_connection(uv_stream_t *listener_handle, int status)
{
	struct listener *l = listener_handle->data;
	struct relay_server *s = l->server;
	struct conn *c;

	if (status < 0) {
		warn_limited(s, "cannot accept a connection", status);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		warn_limited(s, "cannot accept a connection", UV_ENOMEM);
		return;
	}
	c->server = s;
	c->cb = (struct stream_callbacks){
	    .user = c,
	    .ready = on_stream_ready,
	    .data = on_stream_data,
	    .writable = on_stream_writable,
	    .closed = on_stream_closed,
	};
	int rc = stream_accept(listener_handle, l->tls ? s->tls : NULL, &c->cb, &c->stream);
	if (rc < 0) {
		free(c);
		warn_limited(s, "cannot accept a connection", rc);
		return;
	}
	s->stats.accepted++;
	if (s->stats.connections >= s->cfg.max_clients) {
		/* Closed at once: a full server must not queue work. */
		s->stats.refused_full++;
		stream_close(c->stream);
		free(c);
		return;
	}
	uint64_t now = now_ns();
	c->tls = l->tls;
	c->state = CONN_HTTP;
	timerheap_node_init(&c->timer);
	stream_set_queue_limit(c->stream, s->cfg.queue_limit);
	relay_bucket_init(&c->bucket, s->cfg.rate, s->cfg.burst, now);
	c->handshake_deadline = now + s->cfg.handshake_timeout_ms * NS_PER_MS;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->stats.connections++;
	rearm(c);
}

/* ------------------------------------------------------------ STUN */

static void on_stun(void *user, struct udp_socket *sock, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	struct relay_server *s = user;
	struct stun_message msg;
	struct netaddr mapped;
	uint8_t out[STUN_MAX_RESPONSE];

	if (stun_parse(data, len, &msg) < 0 || msg.type != STUN_BINDING_REQUEST) {
		s->stats.stun_bad++;
		return;
	}
	s->stats.stun_requests++;
	/* The answer is bigger than the question: a cap keeps the responder
	 * from being a useful reflector. */
	if (!ratelimit_allow(&s->stun_limit, now_ns()) || netaddr_canonical(remote, &mapped) < 0) {
		s->stats.stun_dropped++;
		return;
	}
	ssize_t n = stun_write_binding_success(out, sizeof(out), msg.txid, &mapped.sa);
	if (n < 0 || udp_send(sock, remote, out, (size_t)n) < 0) {
		s->stats.stun_dropped++;
		return;
	}
	s->stats.stun_responses++;
}

static void on_stun_batch(void *user, struct udp_socket *sock)
{
	(void)user;
	udp_flush(sock);
}

/* ------------------------------------------------------------ life cycle */

static void server_free(struct relay_server *s)
{
	relay_table_del(s->table);
	timerheap_free(&s->timers);
	stream_tls_server_unref(s->tls);
	free(s->listeners);
	free(s);
}

static void handle_closed(struct relay_server *s)
{
	if (--s->handles_open == 0)
		server_free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
	handle_closed(h->data);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct listener *l = h->data;
	handle_closed(l->server);
}

static int open_listener(struct relay_server *s, const struct netaddr *addr, bool tls, char *err,
			 size_t err_cap)
{
	struct listener *l = &s->listeners[s->nlisteners];
	char text[NETADDR_STR_SIZE];
	int rc = uv_tcp_init(s->loop, &l->tcp);
	if (rc < 0) {
		snprintf(err, err_cap, "cannot create a TCP socket: %s", uv_strerror(rc));
		return rc;
	}
	l->server = s;
	l->tls = tls;
	l->tcp.data = l;
	s->nlisteners++;
	s->handles_open++;
	rc = uv_tcp_bind(&l->tcp, &addr->sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
	if (rc == 0) {
		int len = sizeof(l->addr);
		rc = uv_tcp_getsockname(&l->tcp, &l->addr.sa, &len);
	}
	if (rc < 0) {
		snprintf(err, err_cap, "cannot listen on %s: %s",
			 netaddr_format(&addr->sa, text, sizeof(text)), uv_strerror(rc));
		return rc;
	}
	log_info("listening on %s (%s)", netaddr_format(&l->addr.sa, text, sizeof(text)),
		 tls ? "HTTPS" : "HTTP");
	return 0;
}

int relay_server_start(uv_loop_t *loop, const struct relay_server_config *config,
		       struct relay_server **out, char *err, size_t err_cap)
{
	struct relay_server *s = calloc(1, sizeof(*s));
	uint8_t key[RELAY_TABLE_HASH_KEY];
	int rc;

	*out = NULL;
	if (!s) {
		snprintf(err, err_cap, "out of memory");
		return -ENOMEM;
	}
	s->loop = loop;
	s->cfg = *config;
	if (!s->cfg.max_clients)
		s->cfg.max_clients = RELAY_SERVER_DEFAULT_CLIENTS;
	if (!s->cfg.queue_limit)
		s->cfg.queue_limit = RELAY_SERVER_DEFAULT_QUEUE;
	if (!s->cfg.handshake_timeout_ms)
		s->cfg.handshake_timeout_ms = RELAY_SERVER_DEFAULT_HANDSHAKE_MS;
	if (!s->cfg.write_stall_ms)
		s->cfg.write_stall_ms = RELAY_SERVER_DEFAULT_STALL_MS;
	if (!s->cfg.ping_ms)
		s->cfg.ping_ms = RELAY_SERVER_PING_MS;
	if (!s->cfg.pong_ms)
		s->cfg.pong_ms = RELAY_SERVER_PONG_MS;
	if (!s->cfg.burst)
		s->cfg.burst = s->cfg.rate > MIN_BURST ? s->cfg.rate : MIN_BURST;
	if (s->cfg.burst < RELAY_MESSAGE)
		s->cfg.burst = RELAY_MESSAGE; /* one whole message must fit */
	s->timer_at = UINT64_MAX;
	timerheap_init(&s->timers);
	ratelimit_init(&s->stun_limit, STUN_RATE, STUN_BURST);
	ratelimit_init(&s->warn_limit, 1, 5);
	randombytes_buf(key, sizeof(key));
	s->listeners = calloc(s->cfg.nlisten + s->cfg.ntls_listen + 1, sizeof(*s->listeners));
	if (!s->listeners || relay_table_new(key, RELAY_TABLE_DEFAULT_PEERS, &s->table) < 0) {
		snprintf(err, err_cap, "out of memory");
		server_free(s);
		return -ENOMEM;
	}
	if (s->cfg.ntls_listen > 0) {
		if (!s->cfg.tls_cert || !s->cfg.tls_key) {
			snprintf(err, err_cap, "HTTPS needs a certificate and a key");
			server_free(s);
			return -EINVAL;
		}
		rc = stream_tls_server_load(s->cfg.tls_cert, s->cfg.tls_key, &s->tls, err, err_cap);
		if (rc < 0) {
			server_free(s);
			return rc;
		}
	}
	rc = uv_timer_init(loop, &s->timer);
	if (rc < 0) {
		snprintf(err, err_cap, "cannot create a timer: %s", uv_strerror(rc));
		server_free(s);
		return rc;
	}
	s->timer.data = s;
	s->handles_open = 1;
	for (size_t i = 0; rc == 0 && i < s->cfg.nlisten; i++, s->nhttp++)
		rc = open_listener(s, &s->cfg.listen[i], false, err, err_cap);
	for (size_t i = 0; rc == 0 && i < s->cfg.ntls_listen; i++, s->nhttps++)
		rc = open_listener(s, &s->cfg.tls_listen[i], true, err, err_cap);
	for (size_t i = 0; rc == 0 && i < s->cfg.nstun_listen; i++) {
		const struct udp_callbacks cb = {
		    .user = s, .recv = on_stun, .batch_done = on_stun_batch};
		char text[NETADDR_STR_SIZE];
		rc = udp_open(loop, &s->cfg.stun_listen[i].sa, &cb, &s->stun[i]);
		if (rc < 0) {
			snprintf(err, err_cap, "cannot open the STUN socket %s: %s",
				 netaddr_format(&s->cfg.stun_listen[i].sa, text, sizeof(text)),
				 strerror(-rc));
			break;
		}
		netaddr_set(&s->stun_addr[i], udp_local(s->stun[i]));
		s->nstun++;
		log_info("STUN on %s", netaddr_format(&s->stun_addr[i].sa, text, sizeof(text)));
	}
	if (rc < 0) {
		relay_server_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

int relay_server_reload_tls(struct relay_server *s, char *err, size_t err_cap)
{
	struct stream_tls_server *tls = NULL;
	if (!s->tls) {
		snprintf(err, err_cap, "no TLS listener");
		return -ENOENT;
	}
	int rc = stream_tls_server_load(s->cfg.tls_cert, s->cfg.tls_key, &tls, err, err_cap);
	if (rc < 0)
		return rc;
	stream_tls_server_unref(s->tls);
	s->tls = tls;
	s->stats.tls_reloads++;
	return 0;
}

void relay_server_close(struct relay_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	enter(s);
	for (struct conn *c = s->conns; c; c = c->next) {
		if (!c->why)
			c->why = "relay stopping";
		conn_close(c);
	}
	leave(s);
	for (size_t i = 0; i < s->nstun; i++)
		udp_close(s->stun[i]);
	s->nstun = 0;
	for (size_t i = 0; i < s->nlisteners; i++)
		uv_close((uv_handle_t *)&s->listeners[i].tcp, on_listener_closed);
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void relay_server_get_stats(const struct relay_server *s, struct relay_server_stats *out)
{
	*out = s->stats;
	out->nodes = relay_table_nodes(s->table);
	size_t mem =
	    sizeof(*s) + relay_table_memory(s->table) + s->timers.cap * sizeof(*s->timers.slots);
	for (const struct conn *c = s->conns; c; c = c->next) {
		mem += sizeof(*c);
		if (c->head)
			mem += HTTP1_MAX_HEAD;
		if (c->reader_ready)
			mem += ws_reader_held(&c->reader);
		if (c->stream)
			mem += stream_queued(c->stream);
	}
	out->memory = mem;
}

const struct sockaddr *relay_server_address(const struct relay_server *s,
					    enum relay_server_kind kind, size_t i)
{
	switch (kind) {
	case RELAY_SERVER_HTTP:
		return i < s->nhttp ? &s->listeners[i].addr.sa : NULL;
	case RELAY_SERVER_HTTPS:
		return i < s->nhttps ? &s->listeners[s->nhttp + i].addr.sa : NULL;
	case RELAY_SERVER_STUN:
		return i < s->nstun ? &s->stun_addr[i].sa : NULL;
	}
	return NULL;
}
