/* `iron dns-server` (pkarr_server.h): the pkarr relay's HTTP side, the
 * DNS listeners, per-client rate limits and connection limits around the
 * pure parts (pkarr_http_parse() here, pkarr_zone.c) and the store
 * (pkarr_store.c). Behaviour follows iroh-dns-server 1.x
 * (http/pkarr.rs, http.rs, dns.rs). */
#define LOG_MODULE "dns-server"

#include "iron/pkarr_server.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iron/bytes.h"
#include "iron/dns.h"
#include "iron/encoding.h"
#include "iron/http1.h"
#include "iron/id.h"
#include "iron/log.h"
#include "iron/pkarr.h"
#include "iron/ratelimit.h"
#include "iron/stream.h"
#include "iron/udp.h"
#include "iron/version.h"

#define NS_PER_MS	 1000000ull
#define NS_PER_S	 1000000000ull
#define LISTEN_BACKLOG	 1024
#define MAX_REQUESTS	 100 /* on one kept-alive connection */
#define HTTP_BUF	 (HTTP1_MAX_HEAD + PKARR_MAX_SIGNED)
#define DNS_BUF		 (2 + PKARR_SERVER_DNS_TCP_MAX)
#define HTTP_QUEUE_LIMIT (64 * 1024)
#define DNS_QUEUE_LIMIT	 (256 * 1024)
#define CLIENT_WAYS	 4 /* the client table is set-associative */
#define PORT_TRIES	 16
#define Z32_KEY_LEN	 52
#define PKARR_PREFIX	 "/pkarr/"

static const char INDEX_BODY[] =
    "iron dns-server: a pkarr relay and DNS server for iroh and iron nodes.\n";

/* ------------------------------------------------------------ pure: HTTP */

static enum pkarr_http_method method_of(const struct http1_request *r)
{
	if (http1_equals(r->method, r->method_len, "GET"))
		return PKARR_HTTP_GET;
	if (http1_equals(r->method, r->method_len, "HEAD"))
		return PKARR_HTTP_HEAD;
	if (http1_equals(r->method, r->method_len, "PUT"))
		return PKARR_HTTP_PUT;
	if (http1_equals(r->method, r->method_len, "OPTIONS"))
		return PKARR_HTTP_OPTIONS;
	return PKARR_HTTP_OTHER;
}

static bool path_is(const char *path, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(path, lit, len) == 0;
}

/* Content-Length: digits only, one value (a repeated header must agree
 * exactly, RFC 9112 6.3). Returns 0 or -EBADMSG. */
static int content_length(const struct http1_request *r, bool *has, size_t *out)
{
	*has = false;
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct http1_header *h = &r->headers[i];
		size_t v = 0;
		if (!http1_equals(h->name, h->name_len, "content-length"))
			continue;
		if (h->value_len == 0 || h->value_len > 9)
			return -EBADMSG; /* 9 digits: far past any body we take */
		for (size_t k = 0; k < h->value_len; k++) {
			if (h->value[k] < '0' || h->value[k] > '9')
				return -EBADMSG;
			v = v * 10 + (size_t)(h->value[k] - '0');
		}
		if (*has && v != *out)
			return -EBADMSG;
		*has = true;
		*out = v;
	}
	return 0;
}

ssize_t pkarr_http_parse(const char *buf, size_t len, struct pkarr_http_request *out)
{
	struct http1_request r;
	ssize_t n = http1_parse_request(buf, len, &r);
	memset(out, 0, sizeof(*out));
	if (n <= 0)
		return n;

	out->method = method_of(&r);
	const char *path = r.target;
	size_t path_len = r.target_len;
	const char *q = memchr(path, '?', path_len);
	if (q)
		path_len = (size_t)(q - path);
	size_t plen = strlen(PKARR_PREFIX);
	if (path_len > plen && memcmp(path, PKARR_PREFIX, plen) == 0) {
		out->route = PKARR_ROUTE_PKARR;
		char z32[Z32_KEY_LEN + 1];
		struct iron_id id;
		if (path_len - plen == Z32_KEY_LEN) {
			memcpy(z32, path + plen, Z32_KEY_LEN);
			z32[Z32_KEY_LEN] = '\0';
			if (encoding_zbase32_decode(z32, id.bytes, sizeof(id.bytes)) == 0 &&
			    id_is_valid(&id)) {
				out->key_ok = true;
				memcpy(out->key, id.bytes, 32);
			}
		}
	} else if (path_is(path, path_len, "/healthz")) {
		out->route = PKARR_ROUTE_HEALTHZ;
	} else if (path_is(path, path_len, "/healthcheck")) {
		out->route = PKARR_ROUTE_HEALTHCHECK;
	} else if (path_is(path, path_len, "/") || path_is(path, path_len, "/index.html")) {
		out->route = PKARR_ROUTE_INDEX;
	} else {
		out->route = PKARR_ROUTE_NOT_FOUND;
	}

	const struct http1_header *h = http1_find(r.headers, r.nheaders, "connection");
	out->keep_alive = r.minor_version == 1 ? !(h && http1_has_token(h, "close"))
					       : (h && http1_has_token(h, "keep-alive"));
	h = http1_find(r.headers, r.nheaders, "expect");
	out->expect_continue = h && http1_equals(h->value, h->value_len, "100-continue");
	out->chunked = http1_find(r.headers, r.nheaders, "transfer-encoding") != NULL;
	if (content_length(&r, &out->has_length, &out->content_length) < 0) {
		out->error_status = 400;
		out->error_detail = "invalid Content-Length";
	} else if (out->chunked && out->has_length) {
		out->error_status = 400; /* request smuggling's favourite */
		out->error_detail = "both Content-Length and Transfer-Encoding";
	}
	return n;
}

/* ------------------------------------------------------------ the server */

enum conn_kind { CONN_HTTP, CONN_DNS };
enum conn_state { READ_HEAD, READ_BODY, WAIT_STORE };

struct pkarr_server;

struct conn {
	struct pkarr_server *server;
	struct conn *prev, *next;
	struct stream *stream; /* NULL once ended or closed */
	struct stream_callbacks cb;
	uv_timer_t timer; /* the deadline; its close callback frees the conn */
	enum conn_kind kind;
	enum conn_state state;
	bool dead;
	bool paused;
	bool continue_sent;
	unsigned requests;
	struct netaddr peer;
	struct pkarr_http_request req;
	size_t head_len;
	struct pkarr_store_put *put;
	size_t have, cap;
	uint8_t *buf;
};

struct listener {
	uv_tcp_t tcp;
	struct pkarr_server *server;
	enum pkarr_server_kind kind;
	struct netaddr addr;
};

struct client {
	uint8_t prefix[16];
	bool used;
	uint64_t last_ns;
	struct ratelimit put, query;
};

struct pkarr_server {
	uv_loop_t *loop;
	struct pkarr_server_config cfg;
	struct pkarr_store *store;
	struct stream_tls_server *tls;
	struct listener listeners[3 * PKARR_SERVER_MAX_LISTEN];
	size_t nlisteners;
	struct udp_socket *udp[PKARR_SERVER_MAX_LISTEN];
	struct netaddr dns_addr[PKARR_SERVER_MAX_LISTEN];
	size_t nudp;
	struct conn *conns;
	struct client *clients; /* PKARR_SERVER_CLIENTS entries */
	uint8_t client_key[crypto_shorthash_KEYBYTES];
	size_t handles_open;
	bool closing;
	struct ratelimit warn_limit;
	struct pkarr_server_stats stats;
	uint8_t out[2 + DNS_TCP_MAX]; /* one reply at a time */
};

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* ------------------------------------------------------------ rate limits */

/* The part of an address that is one client: IPv6 by /64 (one host gets
 * a /64 as easily as one address), IPv4 by address. */
static void client_prefix(const struct sockaddr *sa, uint8_t out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(out, in6->sin6_addr.s6_addr, 16);
		else
			memcpy(out, in6->sin6_addr.s6_addr, 8);
	}
}

/* A bucket allowing events per period_ns on average, burst at once. */
static void bucket_init(struct ratelimit *rl, uint32_t events, uint64_t period_ns, uint32_t burst)
{
	ratelimit_init(rl, 1, burst ? burst : 1);
	rl->cost_ns = events ? period_ns / events : period_ns;
	if (rl->cost_ns == 0)
		rl->cost_ns = 1;
	rl->max_credit_ns = rl->cost_ns * (burst ? burst : 1);
	rl->credit_ns = rl->max_credit_ns;
}

/* The table entry of a client: found, or a free or least recently seen
 * one of its set taken over (with full buckets). */
static struct client *client_of(struct pkarr_server *s, const struct sockaddr *sa, uint64_t now)
{
	uint8_t prefix[16], h[crypto_shorthash_BYTES];
	uint64_t v;
	client_prefix(sa, prefix);
	crypto_shorthash(h, prefix, sizeof(prefix), s->client_key);
	memcpy(&v, h, sizeof(v));
	struct client *set = &s->clients[(v % (PKARR_SERVER_CLIENTS / CLIENT_WAYS)) * CLIENT_WAYS];
	struct client *victim = &set[0];
	for (size_t i = 0; i < CLIENT_WAYS; i++) {
		if (set[i].used && memcmp(set[i].prefix, prefix, 16) == 0) {
			set[i].last_ns = now;
			return &set[i];
		}
		if (!set[i].used || (victim->used && set[i].last_ns < victim->last_ns))
			victim = &set[i];
	}
	if (!victim->used)
		s->stats.clients_tracked++;
	victim->used = true;
	memcpy(victim->prefix, prefix, 16);
	victim->last_ns = now;
	bucket_init(&victim->put, s->cfg.put_rate, 60 * NS_PER_S, s->cfg.put_burst);
	bucket_init(&victim->query, s->cfg.query_rate, NS_PER_S, s->cfg.query_burst);
	return victim;
}

static bool allow_put(struct pkarr_server *s, const struct sockaddr *sa)
{
	uint64_t now = now_ns();
	return s->cfg.put_rate == 0 || ratelimit_allow(&client_of(s, sa, now)->put, now);
}

static bool allow_query(struct pkarr_server *s, const struct sockaddr *sa)
{
	uint64_t now = now_ns();
	return s->cfg.query_rate == 0 || ratelimit_allow(&client_of(s, sa, now)->query, now);
}

/* ------------------------------------------------------------ DNS */

static int zone_lookup(void *ctx, const uint8_t key[32], const uint8_t **dns, size_t *len)
{
	struct pkarr_server *s = ctx;
	const uint8_t *packet;
	size_t plen;
	int rc = pkarr_store_get(s->store, key, &packet, &plen);
	if (rc < 0)
		return rc;
	if (plen < PKARR_HEAD)
		return -EIO;
	*dns = packet + PKARR_HEAD;
	*len = plen - PKARR_HEAD;
	return 0;
}

static void count_answer(struct pkarr_server *s, const struct pkarr_zone_info *info)
{
	if (info->rcode >= 0 && info->rcode < 6)
		s->stats.dns_answers[info->rcode]++;
	if (info->rcode == DNS_RCODE_BADVERS)
		s->stats.dns_badvers++;
	if (info->rcode == DNS_RCODE_NOERROR && info->answers == 0 && !info->truncated)
		s->stats.dns_nodata++;
	if (info->truncated)
		s->stats.dns_truncated++;
}

static void on_udp(void *user, struct udp_socket *sock, const struct sockaddr *remote,
		   const uint8_t *data, size_t len)
{
	struct pkarr_server *s = user;
	struct pkarr_zone_info info;

	s->stats.dns_udp++;
	if (!allow_query(s, remote)) {
		/* No answer: a flood (or a spoofed one aimed at someone else)
		 * gets nothing to reflect. */
		s->stats.dns_rate_limited++;
		return;
	}
	ssize_t n = pkarr_zone_answer(&s->cfg.zone, data, len, false, zone_lookup, s, s->out,
				      DNS_EDNS_UDP_SIZE, &info);
	if (n <= 0) {
		s->stats.dns_dropped++;
		return;
	}
	count_answer(s, &info);
	if (udp_send(sock, remote, s->out, (size_t)n) < 0)
		s->stats.dns_dropped++;
}

static void on_udp_batch(void *user, struct udp_socket *sock)
{
	(void)user;
	udp_flush(sock);
}

/* ------------------------------------------------------------ connections */

static void conn_close(struct conn *c, const char *why);

static void on_conn_freed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct pkarr_server *s = c->server;
	free(c->buf);
	free(c);
	if (--s->handles_open == 0 && s->closing)
		free(s);
}

static void conn_close(struct conn *c, const char *why)
{
	struct pkarr_server *s = c->server;
	if (c->dead)
		return;
	c->dead = true;
	log_debug("connection closed: %s", why);
	pkarr_store_forget(c->put);
	c->put = NULL;
	if (c->stream) {
		struct stream *st = c->stream;
		c->stream = NULL;
		stream_close(st);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->stats.connections--;
	uv_close((uv_handle_t *)&c->timer, on_conn_freed);
}

static void on_deadline(uv_timer_t *t)
{
	struct conn *c = t->data;
	c->server->stats.closed_timeout++;
	conn_close(c, c->have ? "request too slow" : "idle");
}

static void arm_deadline(struct conn *c)
{
	if (!c->dead)
		uv_timer_start(&c->timer, on_deadline, c->server->cfg.timeout_ms, 0);
}

static int conn_write(struct conn *c, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (!c->stream || c->dead)
		return -EPIPE;
	int rc = b && blen ? stream_write2(c->stream, a, alen, b, blen)
			   : stream_write(c->stream, a, alen);
	if (rc == -ENOBUFS)
		conn_close(c, "the client does not read its answers");
	return rc;
}

/* Takes n bytes off the front of the buffer. */
static void consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->have - n);
	c->have -= n;
}

/* ------------------------------------------------------------ HTTP */

struct response {
	int status;
	const char *reason;
	const char *headers; /* extra lines, each ending in \r\n */
	const char *content_type;
	const uint8_t *body;
	size_t body_len;
};

/* Writes a response; keep false adds Connection: close. Returns 0 or the
 * stream's error (the connection may then be closed). */
static int http_respond(struct conn *c, const struct response *r, bool head_only, bool keep)
{
	char head[1024];
	char ctype[128] = "";
	if (r->content_type)
		snprintf(ctype, sizeof(ctype), "Content-Type: %s\r\n", r->content_type);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\n"
			 "Server: iron/%s\r\n"
			 "Access-Control-Allow-Origin: *\r\n"
			 "%s%s"
			 "Content-Length: %zu\r\n"
			 "%s"
			 "\r\n",
			 r->status, r->reason, IRON_VERSION, r->headers ? r->headers : "", ctype,
			 r->body_len, keep ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENOBUFS;
	return conn_write(c, (const uint8_t *)head, (size_t)n, head_only ? NULL : r->body,
			  head_only ? 0 : r->body_len);
}

/* An error as iroh-dns-server writes it: {"status":"400","detail":"..."}. */
static int http_error(struct conn *c, int status, const char *reason, const char *detail,
		      const char *headers, bool keep)
{
	char body[256];
	int n = detail
		    ? snprintf(body, sizeof(body), "{\"status\":\"%d\",\"detail\":\"%s\"}", status,
			       detail)
		    : snprintf(body, sizeof(body), "{\"status\":\"%d\",\"detail\":null}", status);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	struct response r = {.status = status,
			     .reason = reason,
			     .headers = headers,
			     .content_type = "application/json",
			     .body = (const uint8_t *)body,
			     .body_len = (size_t)n};
	if (status >= 400 && status < 500)
		c->server->stats.http_bad++;
	return http_respond(c, &r, c->req.method == PKARR_HTTP_HEAD, keep);
}

/* The request in hand is answered: next one, or close. Returns 0 to go
 * on, or -1 when the connection was closed. */
static int request_done(struct conn *c, size_t consumed, bool keep)
{
	if (c->dead)
		return -1;
	if (!keep) {
		conn_close(c, "request served");
		return -1;
	}
	consume(c, consumed);
	c->state = READ_HEAD;
	c->continue_sent = false;
	arm_deadline(c);
	return 0;
}

static bool keep_alive(struct conn *c)
{
	return c->req.keep_alive && c->requests < MAX_REQUESTS && !c->server->closing;
}

static int http_process(struct conn *c);

static void on_put_done(void *user, int result)
{
	struct conn *c = user;
	struct pkarr_server *s = c->server;
	bool keep = keep_alive(c);
	c->put = NULL;
	if (result >= 0) {
		if (result == 1)
			s->stats.puts_stored++;
		else
			s->stats.puts_not_newer++;
		struct response r = {.status = 204, .reason = "No Content"};
		http_respond(c, &r, false, keep);
	} else {
		s->stats.puts_failed++;
		http_error(c, 500, "Internal Server Error", "the record could not be stored", NULL,
			   false);
		keep = false;
	}
	if (request_done(c, c->head_len + c->req.content_length, keep) < 0)
		return;
	if (c->paused && c->stream) {
		c->paused = false;
		stream_resume(c->stream);
	}
	if (http_process(c) < 0 && !c->dead)
		conn_close(c, "bad request");
}

/* The whole body of a PUT is here. */
static int handle_put_body(struct conn *c)
{
	struct pkarr_server *s = c->server;
	const uint8_t *body = c->buf + c->head_len;
	size_t len = c->req.content_length;
	struct iron_id id;
	const uint8_t *dns;
	size_t dns_len;
	uint64_t ts;
	const char *detail = NULL;
	bool keep = keep_alive(c);

	memcpy(id.bytes, c->req.key, 32);
	int rc = pkarr_verify(&id, body, len, &ts, &dns, &dns_len);
	switch (rc) {
	case 0:
		break;
	case -EMSGSIZE:
		s->stats.puts_bad_size++;
		detail = "invalid body payload: wrong size";
		break;
	case -EKEYREJECTED:
		s->stats.puts_bad_signature++;
		detail = "invalid body payload: invalid signature";
		break;
	default:
		s->stats.puts_bad_packet++;
		detail = "invalid body payload: malformed DNS packet";
		break;
	}
	if (detail) {
		http_error(c, 400, "Bad Request", detail, NULL, keep);
		return request_done(c, c->head_len + len, keep);
	}
	rc = pkarr_store_put(s->store, c->req.key, body, len, ts, on_put_done, c, &c->put);
	if (rc == -EBUSY) {
		s->stats.puts_busy++;
		http_error(c, 503, "Service Unavailable", "too many records waiting to be stored",
			   "Retry-After: 1\r\n", keep);
		return request_done(c, c->head_len + len, keep);
	}
	if (rc < 0) {
		s->stats.puts_failed++;
		http_error(c, 500, "Internal Server Error", "the record could not be stored", NULL,
			   false);
		return request_done(c, 0, false);
	}
	/* Nothing more is read until the record is committed. */
	c->state = WAIT_STORE;
	uv_timer_stop(&c->timer);
	if (c->stream) {
		stream_pause(c->stream);
		c->paused = true;
	}
	return 0;
}

static int handle_pkarr_get(struct conn *c, bool keep)
{
	struct pkarr_server *s = c->server;
	const uint8_t *packet;
	size_t len;

	if (!allow_query(s, &c->peer.sa)) {
		s->stats.gets_rate_limited++;
		http_error(c, 429, "Too Many Requests", "too many requests", "Retry-After: 1\r\n",
			   keep);
		return request_done(c, c->head_len, keep);
	}
	int rc = pkarr_store_get(s->store, c->req.key, &packet, &len);
	if (rc == -ENOENT) {
		s->stats.gets_missing++;
		http_error(c, 404, "Not Found", NULL, NULL, keep);
	} else if (rc < 0) {
		http_error(c, 500, "Internal Server Error", "the store cannot be read", NULL, keep);
	} else {
		s->stats.gets_found++;
		struct response r = {.status = 200,
				     .reason = "OK",
				     .content_type = PKARR_SIGNED_CONTENT_TYPE,
				     .body = packet,
				     .body_len = len};
		http_respond(c, &r, c->req.method == PKARR_HTTP_HEAD, keep);
	}
	return request_done(c, c->head_len, keep);
}

/* A complete head. Returns 0 to go on, -1 when the connection closed. */
static int handle_head(struct conn *c)
{
	struct pkarr_server *s = c->server;
	struct pkarr_http_request *req = &c->req;
	bool keep;
	bool get = req->method == PKARR_HTTP_GET || req->method == PKARR_HTTP_HEAD;

	s->stats.http_requests++;
	c->requests++;
	keep = keep_alive(c);
	if (req->error_status) {
		http_error(c, req->error_status, "Bad Request", req->error_detail, NULL, false);
		return request_done(c, 0, false);
	}
	if (req->method == PKARR_HTTP_PUT && req->route == PKARR_ROUTE_PKARR) {
		if (!req->key_ok) {
			s->stats.puts_bad_key++;
			http_error(c, 400, "Bad Request", "invalid key", NULL, false);
			return request_done(c, 0, false);
		}
		if (req->chunked || !req->has_length) {
			s->stats.puts_bad_size++;
			http_error(c, 411, "Length Required", "a Content-Length is required", NULL,
				   false);
			return request_done(c, 0, false);
		}
		if (req->content_length > PKARR_MAX_SIGNED) {
			s->stats.puts_bad_size++;
			http_error(c, 400, "Bad Request", "invalid body payload: too large", NULL,
				   false);
			return request_done(c, 0, false);
		}
		if (!allow_put(s, &c->peer.sa)) {
			s->stats.puts_rate_limited++;
			http_error(c, 429, "Too Many Requests", "too many requests",
				   "Retry-After: 10\r\n", false);
			return request_done(c, 0, false);
		}
		c->state = READ_BODY;
		if (req->expect_continue && c->have < c->head_len + req->content_length) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			conn_write(c, (const uint8_t *)cont, sizeof(cont) - 1, NULL, 0);
			c->continue_sent = true;
			if (c->dead)
				return -1;
		}
		return 0;
	}
	/* Nothing else takes a body. */
	if (req->chunked || (req->has_length && req->content_length > 0)) {
		http_error(c, 400, "Bad Request", "request bodies are not accepted here", NULL,
			   false);
		return request_done(c, 0, false);
	}
	if (req->method == PKARR_HTTP_OPTIONS) {
		struct response r = {.status = 204,
				     .reason = "No Content",
				     .headers =
					 "Access-Control-Allow-Methods: GET, HEAD, PUT, OPTIONS\r\n"
					 "Access-Control-Allow-Headers: *\r\n"
					 "Access-Control-Max-Age: 86400\r\n"};
		http_respond(c, &r, false, keep);
		return request_done(c, c->head_len, keep);
	}
	switch (req->route) {
	case PKARR_ROUTE_PKARR:
		if (!get) {
			http_error(c, 405, "Method Not Allowed", "method not allowed",
				   "Allow: GET, HEAD, PUT, OPTIONS\r\n", keep);
			break;
		}
		if (!req->key_ok) {
			http_error(c, 400, "Bad Request", "invalid key", NULL, keep);
			break;
		}
		return handle_pkarr_get(c, keep);
	case PKARR_ROUTE_HEALTHZ:
	case PKARR_ROUTE_HEALTHCHECK:
	case PKARR_ROUTE_INDEX: {
		char body[160];
		struct response r = {.status = 200, .reason = "OK"};
		if (!get) {
			http_error(c, 405, "Method Not Allowed", "method not allowed",
				   "Allow: GET, HEAD\r\n", keep);
			break;
		}
		if (req->route == PKARR_ROUTE_HEALTHZ) {
			int n = snprintf(body, sizeof(body),
					 "{\"status\":\"ok\",\"version\":\"%s\"}", IRON_VERSION);
			r.content_type = "application/json";
			r.body = (const uint8_t *)body;
			r.body_len = n > 0 && (size_t)n < sizeof(body) ? (size_t)n : 0;
		} else if (req->route == PKARR_ROUTE_HEALTHCHECK) {
			r.content_type = "text/plain; charset=utf-8";
			r.body = (const uint8_t *)"OK";
			r.body_len = 2;
		} else {
			r.content_type = "text/plain; charset=utf-8";
			r.body = (const uint8_t *)INDEX_BODY;
			r.body_len = sizeof(INDEX_BODY) - 1;
		}
		http_respond(c, &r, req->method == PKARR_HTTP_HEAD, keep);
		break;
	}
	case PKARR_ROUTE_NOT_FOUND: {
		struct response r = {.status = 404,
				     .reason = "Not Found",
				     .content_type = "text/plain; charset=utf-8",
				     .body = (const uint8_t *)"Not Found\n",
				     .body_len = 10};
		http_respond(c, &r, req->method == PKARR_HTTP_HEAD, keep);
		break;
	}
	}
	return request_done(c, c->head_len, keep);
}

/* Handles what the buffer holds, request by request. Returns 0 (waiting
 * for bytes or the store) or -1 when the connection closed. */
static int http_process(struct conn *c)
{
	for (;;) {
		if (c->dead)
			return -1;
		if (c->state == WAIT_STORE)
			return 0;
		if (c->state == READ_HEAD) {
			if (c->have == 0)
				return 0;
			ssize_t n = pkarr_http_parse((const char *)c->buf, c->have, &c->req);
			if (n == 0 && c->have >= HTTP1_MAX_HEAD)
				n = -E2BIG;
			if (n == 0)
				return 0;
			if (n < 0) {
				c->req.method = PKARR_HTTP_OTHER;
				if (n == -E2BIG)
					http_error(c, 431, "Request Header Fields Too Large",
						   "request head too large", NULL, false);
				else
					http_error(c, 400, "Bad Request", "malformed request", NULL,
						   false);
				return request_done(c, 0, false);
			}
			c->head_len = (size_t)n;
			if (handle_head(c) < 0)
				return -1;
			continue;
		}
		/* READ_BODY */
		if (c->have < c->head_len + c->req.content_length)
			return 0;
		if (handle_put_body(c) < 0)
			return -1;
	}
}

static void http_input(struct conn *c, const uint8_t *data, size_t len)
{
	while (len > 0) {
		size_t take = c->cap - c->have;
		if (take == 0) {
			/* Only a client pipelining behind a PUT that waits for
			 * the disk gets here. */
			conn_close(c, "too much pipelined input");
			return;
		}
		if (take > len)
			take = len;
		memcpy(c->buf + c->have, data, take);
		c->have += take;
		data += take;
		len -= take;
		if (http_process(c) < 0)
			return;
	}
}

/* ------------------------------------------------------------ DNS over TCP */

static void dns_tcp_input(struct conn *c, const uint8_t *data, size_t len)
{
	struct pkarr_server *s = c->server;
	while (len > 0) {
		size_t take = c->cap - c->have;
		if (take > len)
			take = len;
		memcpy(c->buf + c->have, data, take);
		c->have += take;
		data += take;
		len -= take;
		while (c->have >= 2) {
			size_t qlen = bytes_get16(c->buf);
			struct pkarr_zone_info info;
			ssize_t n;
			if (qlen < DNS_HEADER_LEN || qlen > PKARR_SERVER_DNS_TCP_MAX) {
				conn_close(c, "a DNS message of a wrong size");
				return;
			}
			if (c->have < 2 + qlen)
				break;
			s->stats.dns_tcp++;
			if (!allow_query(s, &c->peer.sa)) {
				struct dns_answer_opts opts = {.tcp = true};
				s->stats.dns_rate_limited++;
				n = dns_error_reply(c->buf + 2, qlen, DNS_RCODE_REFUSED, s->out + 2,
						    DNS_TCP_MAX, &opts);
				if (n < 0) {
					conn_close(c, "a malformed query");
					return;
				}
			} else {
				n = pkarr_zone_answer(&s->cfg.zone, c->buf + 2, qlen, true,
						      zone_lookup, s, s->out + 2, DNS_TCP_MAX,
						      &info);
				if (n > 0)
					count_answer(s, &info);
			}
			if (n > 0) {
				bytes_put16(s->out, (uint16_t)n);
				if (conn_write(c, s->out, 2 + (size_t)n, NULL, 0) < 0 || c->dead)
					return;
			} else {
				s->stats.dns_dropped++;
			}
			consume(c, 2 + qlen);
			arm_deadline(c);
		}
	}
}

/* ------------------------------------------------------------ streams */

static void on_stream_ready(void *user, struct stream *st)
{
	(void)user;
	(void)st;
}

static void on_stream_data(void *user, struct stream *st, const uint8_t *data, size_t len)
{
	struct conn *c = user;
	(void)st;
	if (c->dead)
		return;
	if (c->kind == CONN_HTTP)
		http_input(c, data, len);
	else
		dns_tcp_input(c, data, len);
}

static void on_stream_closed(void *user, struct stream *st, int err, const char *reason)
{
	struct conn *c = user;
	(void)st;
	c->stream = NULL; /* freed by the stream module */
	conn_close(c, err == 0 ? "closed by the client" : reason);
}

static void warn_limited(struct pkarr_server *s, const char *what, int err)
{
	if (ratelimit_allow(&s->warn_limit, now_ns()))
		log_warn("%s: %s", what, uv_strerror(err));
}

static void on_connection(uv_stream_t *handle, int status)
{
	struct listener *l = handle->data;
	struct pkarr_server *s = l->server;
	struct stream *st = NULL;

	if (status < 0) {
		warn_limited(s, "cannot accept a connection", status);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		warn_limited(s, "cannot accept a connection", UV_ENOMEM);
		return;
	}
	c->server = s;
	c->kind = l->kind == PKARR_SERVER_DNS ? CONN_DNS : CONN_HTTP;
	c->cb = (struct stream_callbacks){.user = c,
					  .ready = on_stream_ready,
					  .data = on_stream_data,
					  .closed = on_stream_closed};
	int rc = stream_accept(handle, l->kind == PKARR_SERVER_HTTPS ? s->tls : NULL, &c->cb, &st);
	if (rc < 0) {
		free(c);
		warn_limited(s, "cannot accept a connection", rc);
		return;
	}
	s->stats.accepted++;
	c->cap = c->kind == CONN_HTTP ? HTTP_BUF : DNS_BUF;
	if (s->stats.connections >= s->cfg.max_connections || s->closing ||
	    netaddr_set(&c->peer, stream_peer(st)) < 0 || !(c->buf = malloc(c->cap)) ||
	    uv_timer_init(s->loop, &c->timer) < 0) {
		/* Closed at once: a full server queues no work. */
		s->stats.refused_full++;
		stream_close(st);
		free(c->buf);
		free(c);
		return;
	}
	c->stream = st;
	c->timer.data = c;
	s->handles_open++;
	stream_set_queue_limit(st, c->kind == CONN_HTTP ? HTTP_QUEUE_LIMIT : DNS_QUEUE_LIMIT);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	if (++s->stats.connections > s->stats.peak_connections)
		s->stats.peak_connections = s->stats.connections;
	arm_deadline(c);
}

/* ------------------------------------------------------------ life cycle */

static void on_handle_closed(uv_handle_t *h)
{
	struct pkarr_server *s = h->data;
	if (--s->handles_open == 0 && s->closing)
		free(s);
}

/* A listening TCP socket on addr, made before any handle: a failed try
 * (port 0 for DNS: the port UDP got may be taken for TCP) leaves nothing
 * to close. A libuv handle closed and set up again in the same memory
 * before the loop has finished closing it breaks the loop. Returns the
 * descriptor or a negative errno. */
static int listen_socket(const struct sockaddr *addr)
{
	int one = 1, rc;
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, addr, netaddr_len(addr)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int open_tcp(struct pkarr_server *s, const struct netaddr *addr, enum pkarr_server_kind kind,
		    char *err, size_t err_cap)
{
	struct listener *l = &s->listeners[s->nlisteners];
	char text[NETADDR_STR_SIZE];
	int fd = listen_socket(&addr->sa);
	if (fd < 0) {
		snprintf(err, err_cap, "cannot listen on %s (TCP): %s",
			 netaddr_format(&addr->sa, text, sizeof(text)), strerror(-fd));
		return fd;
	}
	int rc = uv_tcp_init(s->loop, &l->tcp);
	if (rc < 0) {
		close(fd);
		snprintf(err, err_cap, "cannot create a TCP socket: %s", uv_strerror(rc));
		return rc;
	}
	l->server = s;
	l->kind = kind;
	l->tcp.data = l;
	s->nlisteners++;
	s->handles_open++;
	rc = uv_tcp_open(&l->tcp, fd);
	if (rc < 0)
		close(fd); /* not the handle's yet */
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
	if (rc == 0) {
		int len = sizeof(l->addr);
		rc = uv_tcp_getsockname(&l->tcp, &l->addr.sa, &len);
	}
	if (rc < 0)
		snprintf(err, err_cap, "cannot listen on %s (TCP): %s",
			 netaddr_format(&addr->sa, text, sizeof(text)), uv_strerror(rc));
	return rc;
}

/* One DNS address: UDP and TCP on the same port (with port 0, the port
 * UDP got, tried again a few times when TCP finds it taken). */
static int open_dns(struct pkarr_server *s, const struct netaddr *addr, char *err, size_t err_cap)
{
	const struct udp_callbacks cb = {.user = s, .recv = on_udp, .batch_done = on_udp_batch};
	char text[NETADDR_STR_SIZE];
	bool any_port = netaddr_port(&addr->sa) == 0;
	int rc = 0;

	for (int attempt = 0; attempt < (any_port ? PORT_TRIES : 1); attempt++) {
		struct udp_socket *u = NULL;
		struct netaddr tcp_addr = *addr;
		rc = udp_open(s->loop, &addr->sa, &cb, &u);
		if (rc < 0) {
			snprintf(err, err_cap, "cannot open %s (UDP): %s",
				 netaddr_format(&addr->sa, text, sizeof(text)), strerror(-rc));
			return rc;
		}
		netaddr_set_port(&tcp_addr, netaddr_port(udp_local(u)));
		rc = open_tcp(s, &tcp_addr, PKARR_SERVER_DNS, err, err_cap);
		if (rc == 0) {
			s->udp[s->nudp] = u;
			netaddr_set(&s->dns_addr[s->nudp], udp_local(u));
			s->nudp++;
			return 0;
		}
		udp_close(u);
		if (rc != -EADDRINUSE || !any_port)
			return rc;
	}
	return rc;
}

int pkarr_server_start(uv_loop_t *loop, const struct pkarr_server_config *config,
		       struct pkarr_server **out, char *err, size_t err_cap)
{
	struct pkarr_server *s = calloc(1, sizeof(*s));
	int rc = 0;

	*out = NULL;
	if (!s || !(s->clients = calloc(PKARR_SERVER_CLIENTS, sizeof(*s->clients)))) {
		snprintf(err, err_cap, "out of memory");
		free(s);
		return -ENOMEM;
	}
	s->loop = loop;
	s->cfg = *config;
	if (!s->cfg.max_connections)
		s->cfg.max_connections = PKARR_SERVER_DEFAULT_CONNECTIONS;
	if (!s->cfg.timeout_ms)
		s->cfg.timeout_ms = PKARR_SERVER_DEFAULT_TIMEOUT_MS;
	randombytes_buf(s->client_key, sizeof(s->client_key));
	ratelimit_init(&s->warn_limit, 1, 5);
	if (s->cfg.nhttps > 0) {
		if (!s->cfg.tls_cert || !s->cfg.tls_key) {
			snprintf(err, err_cap, "HTTPS needs a certificate and a key");
			rc = -EINVAL;
		} else {
			rc = stream_tls_server_load(s->cfg.tls_cert, s->cfg.tls_key, &s->tls, err,
						    err_cap);
		}
		if (rc < 0) {
			free(s->clients);
			free(s);
			return rc;
		}
	}
	rc = pkarr_store_open(loop, &s->cfg.store, &s->store, err, err_cap);
	if (rc < 0) {
		stream_tls_server_unref(s->tls);
		free(s->clients);
		free(s);
		return rc;
	}
	for (size_t i = 0; rc == 0 && i < s->cfg.nhttp; i++)
		rc = open_tcp(s, &s->cfg.http_listen[i], PKARR_SERVER_HTTP, err, err_cap);
	for (size_t i = 0; rc == 0 && i < s->cfg.nhttps; i++)
		rc = open_tcp(s, &s->cfg.https_listen[i], PKARR_SERVER_HTTPS, err, err_cap);
	for (size_t i = 0; rc == 0 && i < s->cfg.ndns; i++)
		rc = open_dns(s, &s->cfg.dns_listen[i], err, err_cap);
	if (rc < 0) {
		pkarr_server_close(s);
		return rc;
	}
	for (size_t i = 0; i < s->nlisteners; i++) {
		char text[NETADDR_STR_SIZE];
		static const char *const kinds[] = {"HTTP", "HTTPS", "DNS over UDP and TCP"};
		log_info("listening on %s (%s)",
			 netaddr_format(&s->listeners[i].addr.sa, text, sizeof(text)),
			 kinds[s->listeners[i].kind]);
	}
	*out = s;
	return 0;
}

int pkarr_server_reload_tls(struct pkarr_server *s, char *err, size_t err_cap)
{
	struct stream_tls_server *tls = NULL;
	if (!s->tls) {
		snprintf(err, err_cap, "no HTTPS listener");
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

void pkarr_server_close(struct pkarr_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	while (s->conns)
		conn_close(s->conns, "server stopping");
	for (size_t i = 0; i < s->nudp; i++)
		udp_close(s->udp[i]);
	s->nudp = 0;
	for (size_t i = 0; i < s->nlisteners; i++) {
		s->listeners[i].tcp.data = s;
		uv_close((uv_handle_t *)&s->listeners[i].tcp, on_handle_closed);
	}
	pkarr_store_close(s->store);
	s->store = NULL;
	stream_tls_server_unref(s->tls);
	s->tls = NULL;
	free(s->clients);
	s->clients = NULL;
	if (s->handles_open == 0)
		free(s);
}

void pkarr_server_get_stats(const struct pkarr_server *s, struct pkarr_server_stats *out)
{
	*out = s->stats;
	if (s->store)
		pkarr_store_get_stats(s->store, &out->store);
	size_t mem = sizeof(*s) + PKARR_SERVER_CLIENTS * sizeof(struct client);
	for (const struct conn *c = s->conns; c; c = c->next) {
		mem += sizeof(*c) + c->cap;
		if (c->stream)
			mem += stream_queued(c->stream);
	}
	mem += out->store.cache_bytes + out->store.pending * (PKARR_MAX_SIGNED + 64);
	out->memory = mem;
}

const struct sockaddr *pkarr_server_address(const struct pkarr_server *s,
					    enum pkarr_server_kind kind, size_t i)
{
	if (kind == PKARR_SERVER_DNS)
		return i < s->nudp ? &s->dns_addr[i].sa : NULL;
	for (size_t k = 0; k < s->nlisteners; k++) {
		if (s->listeners[k].kind != kind)
			continue;
		if (i-- == 0)
			return &s->listeners[k].addr.sa;
	}
	return NULL;
}
