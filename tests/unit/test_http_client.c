/* http_client.c against a scripted HTTP server in this process, on
 * 127.0.0.1 (plain TCP, and TLS with a certificate made by openssl for
 * "localhost"): the request as sent, bodies framed by Content-Length,
 * chunked and the end of the connection (also one byte at a time), an
 * interim 100, 204; malformed and oversized responses, a response cut
 * short, a silent server (timeout), a refused connection, a name that does
 * not resolve, an untrusted certificate, cancellation. The chunked decoder
 * is also tested alone. Every handle is closed and the loop must be empty
 * at the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "check.h"
#include "iron/http_client.h"
#include "iron/stream.h"

static uv_loop_t loop;

enum server_mode {
	SERVE_CLOSE,  /* the response, then close */
	SERVE_KEEP,   /* the response, the connection left open */
	SERVE_DRIP,   /* one byte per millisecond, then close */
	SERVE_SILENT, /* read the request, answer nothing */
	SERVE_HANGUP, /* close as soon as the request is in */
};

struct server {
	uv_tcp_t listener;
	uint16_t port;
	struct stream_tls_server *tls;
	enum server_mode mode;
	const char *response;
	size_t response_len;
	char request[65536];
	size_t request_len;
	bool answered;
	struct stream *conn;
	uv_timer_t drip;
	size_t drip_pos;
	unsigned accepted;
};

static struct server srv;

/* The request is complete: its head and Content-Length bytes of body. */
static bool request_complete(const struct server *s)
{
	const char *end = memmem(s->request, s->request_len, "\r\n\r\n", 4);
	if (!end)
		return false;
	size_t head = (size_t)(end - s->request) + 4, body = 0;
	const char *cl = strcasestr(s->request, "\r\nContent-Length:");
	if (cl && cl < end)
		body = strtoul(cl + 17, NULL, 10);
	return s->request_len >= head + body;
}

static void on_drip(uv_timer_t *timer)
{
	struct server *s = timer->data;
	if (!s->conn || s->drip_pos == s->response_len) {
		uv_timer_stop(timer);
		if (s->conn) {
			stream_close(s->conn);
			s->conn = NULL;
		}
		return;
	}
	CHECK_INT(stream_write(s->conn, (const uint8_t *)s->response + s->drip_pos++, 1), 0);
}

static void server_data(void *user, struct stream *st, const uint8_t *data, size_t len)
{
	struct server *s = user;
	if (s->request_len + len > sizeof(s->request) - 1)
		len = sizeof(s->request) - 1 - s->request_len;
	memcpy(s->request + s->request_len, data, len);
	s->request_len += len;
	s->request[s->request_len] = '\0';
	if (s->answered || !request_complete(s))
		return;
	s->answered = true;
	switch (s->mode) {
	case SERVE_CLOSE:
	case SERVE_KEEP:
		CHECK_INT(stream_write(st, (const uint8_t *)s->response, s->response_len), 0);
		if (s->mode == SERVE_CLOSE) {
			stream_close(st);
			s->conn = NULL;
		}
		break;
	case SERVE_DRIP:
		uv_timer_start(&s->drip, on_drip, 1, 1);
		break;
	case SERVE_SILENT:
		break;
	case SERVE_HANGUP:
		stream_close(st);
		s->conn = NULL;
		break;
	}
}

static void server_closed(void *user, struct stream *st, int err, const char *reason)
{
	struct server *s = user;
	(void)st;
	(void)err;
	(void)reason;
	s->conn = NULL;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	const struct stream_callbacks cb = {
	    .user = s, .data = server_data, .closed = server_closed};
	CHECK_INT(status, 0);
	struct stream *st;
	CHECK_INT(stream_accept(listener, s->tls, &cb, &st), 0);
	stream_set_queue_limit(st, 8u << 20);
	if (s->conn) /* one at a time: an earlier one is dropped */
		stream_close(s->conn);
	s->conn = st;
	s->accepted++;
}

static void server_start(enum server_mode mode, const char *response, size_t len)
{
	struct sockaddr_in sin;
	int namelen = sizeof(sin);
	memset(&srv, 0, sizeof(srv));
	srv.mode = mode;
	srv.response = response;
	srv.response_len = len ? len : strlen(response);
	uv_tcp_init(&loop, &srv.listener);
	uv_timer_init(&loop, &srv.drip);
	srv.listener.data = &srv;
	srv.drip.data = &srv;
	uv_ip4_addr("127.0.0.1", 0, &sin);
	CHECK_INT(uv_tcp_bind(&srv.listener, (const struct sockaddr *)&sin, 0), 0);
	CHECK_INT(uv_listen((uv_stream_t *)&srv.listener, 8, on_connection), 0);
	uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&sin, &namelen);
	srv.port = ntohs(sin.sin_port);
}

static void server_stop(void)
{
	if (srv.conn)
		stream_close(srv.conn);
	srv.conn = NULL;
	uv_close((uv_handle_t *)&srv.listener, NULL);
	uv_close((uv_handle_t *)&srv.drip, NULL);
}

struct result {
	int calls;
	int status;
	char body[300000];
	size_t len;
	char err[600];
};

static void on_result(void *user, int status, const uint8_t *body, size_t len, const char *err)
{
	struct result *r = user;
	r->calls++;
	r->status = status;
	r->len = len;
	if (len > 0 && len < sizeof(r->body))
		memcpy(r->body, body, len);
	if (len < sizeof(r->body))
		r->body[len] = '\0';
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "(null)");
}

/* Runs the loop until the call has ended (or 10 s). */
static void wait_result(struct result *r)
{
	uint64_t deadline = uv_now(&loop) + 10000;
	while (r->calls == 0 && uv_now(&loop) < deadline)
		uv_run(&loop, UV_RUN_ONCE);
}

/* One call against the server started for it; returns the result. */
static struct result *call(const char *method, const char *path, const char *body,
			   size_t max_response, uint64_t timeout_ms)
{
	static struct result r;
	char url[256];
	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", srv.port, path);
	const struct http_client_request req = {.method = method,
						.url = url,
						.content_type =
						    body ? "application/octet-stream" : NULL,
						.body = (const uint8_t *)body,
						.body_len = body ? strlen(body) : 0,
						.timeout_ms = timeout_ms,
						.max_response = max_response};
	CHECK_INT(http_client_request(&loop, NULL, &req, on_result, &r, NULL), 0);
	wait_result(&r);
	CHECK_INT(r.calls, 1);
	return &r;
}

static void drain(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_get(void)
{
	server_start(SERVE_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0);
	struct result *r = call("GET", "/pkarr/abc?x=1#frag", NULL, 0, 0);
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "hello");
	CHECK_STR(r->err, "HTTP 200 OK");
	char want[128];
	snprintf(want, sizeof(want), "GET /pkarr/abc?x=1 HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n",
		 srv.port);
	CHECK(strncmp(srv.request, want, strlen(want)) == 0);
	CHECK(strstr(srv.request, "\r\nConnection: close\r\n") != NULL);
	CHECK(strstr(srv.request, "Content-Length") == NULL);
	CHECK(strstr(srv.request, "Content-Type") == NULL);
	server_stop();
	drain();

	/* The root path when the URL has none; a 404 is a status like any. */
	server_start(SERVE_KEEP, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0);
	r = call("GET", "", NULL, 0, 0);
	CHECK_INT(r->status, 404);
	CHECK_INT(r->len, 0);
	CHECK_STR(r->err, "HTTP 404 Not Found");
	CHECK(strncmp(srv.request, "GET / HTTP/1.1\r\n", 16) == 0);
	server_stop();
	drain();
}

static void test_put(void)
{
	/* iroh-dns-server's answer to a PUT: 204, no body, connection kept. */
	server_start(SERVE_KEEP, "HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n", 0);
	struct result *r = call("PUT", "/pkarr/key", "signed packet bytes", 0, 0);
	CHECK_INT(r->status, 204);
	CHECK_INT(r->len, 0);
	CHECK(strncmp(srv.request, "PUT /pkarr/key HTTP/1.1\r\n", 25) == 0);
	CHECK(strstr(srv.request, "\r\nContent-Type: application/octet-stream\r\n") != NULL);
	CHECK(strstr(srv.request, "\r\nContent-Length: 19\r\n") != NULL);
	const char *end = strstr(srv.request, "\r\n\r\n");
	CHECK(end && strcmp(end + 4, "signed packet bytes") == 0);
	server_stop();
	drain();

	/* An empty PUT still says Content-Length: 0. */
	server_start(SERVE_KEEP, "HTTP/1.1 204 No Content\r\n\r\n", 0);
	r = call("PUT", "/x", "", 0, 0);
	CHECK_INT(r->status, 204);
	CHECK(strstr(srv.request, "\r\nContent-Length: 0\r\n") != NULL);
	server_stop();
	drain();
}

static void test_bodies(void)
{
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "5\r\nhello\r\n"
				      "1;name=value\r\n,\r\n"
				      "6 \r\n world\r\n"
				      "0\r\nx-trailer: 1\r\n\r\n";
	server_start(SERVE_KEEP, chunked, 0);
	struct result *r = call("GET", "/", NULL, 0, 0);
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "hello, world");
	server_stop();
	drain();

	/* The same one byte at a time. */
	server_start(SERVE_DRIP, chunked, 0);
	r = call("GET", "/", NULL, 0, 0);
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "hello, world");
	server_stop();
	drain();

	/* To the end of the connection, one byte at a time, after a 100. */
	server_start(SERVE_DRIP,
		     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nServer: x\r\n\r\nto the end",
		     0);
	r = call("GET", "/", NULL, 0, 0);
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "to the end");
	server_stop();
	drain();

	/* Exactly max_response bytes are fine, in each framing. */
	static char big[200000];
	size_t n =
	    (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
	memset(big + n, 'a', 1000);
	server_start(SERVE_CLOSE, big, n + 1000);
	r = call("GET", "/", NULL, 1000, 0);
	CHECK_INT(r->status, 200);
	CHECK_INT(r->len, 1000);
	server_stop();
	drain();
	n = (size_t)snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\n\r\n");
	memset(big + n, 'b', 150000);
	server_start(SERVE_CLOSE, big, n + 150000);
	r = call("GET", "/", NULL, 150000, 0);
	CHECK_INT(r->status, 200);
	CHECK_INT(r->len, 150000);
	CHECK(r->body[149999] == 'b');
	server_stop();
	drain();

	/* HEAD: no body whatever the head says. */
	server_start(SERVE_KEEP, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 0);
	r = call("HEAD", "/", NULL, 0, 0);
	CHECK_INT(r->status, 200);
	CHECK_INT(r->len, 0);
	server_stop();
	drain();
}

static void test_bad_responses(void)
{
	static char huge_head[12000];
	size_t n = (size_t)snprintf(huge_head, sizeof(huge_head), "HTTP/1.1 200 OK\r\nX: ");
	memset(huge_head + n, 'x', 10000);
	memcpy(huge_head + n + 10000, "\r\n\r\n", 5);
	static char big_eof[70000];
	n = (size_t)snprintf(big_eof, sizeof(big_eof), "HTTP/1.1 200 OK\r\n\r\n");
	memset(big_eof + n, 'e', 65537);
	big_eof[n + 65537] = '\0';
	const struct {
		const char *response;
		enum server_mode mode;
		size_t max;
		int status;
		const char *why;
	} cases[] = {
	    {"garbage\r\n\r\n", SERVE_CLOSE, 0, -EPROTO, "malformed response head"},
	    {"HTTP/2 200 OK\r\n\r\n", SERVE_CLOSE, 0, -EPROTO, "malformed response head"},
	    {huge_head, SERVE_CLOSE, 0, -EPROTO, "too large a response head"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n", SERVE_KEEP, 1000, -EPROTO,
	     "larger than 1000 bytes"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", SERVE_CLOSE,
	     0, -EPROTO, "bad body framing"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", SERVE_CLOSE, 0, -EPROTO,
	     "bad body framing"},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", SERVE_CLOSE, 0, -EPROTO,
	     "bad body framing"},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", SERVE_CLOSE, 0, -EPROTO,
	     "cut short"},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", SERVE_CLOSE, 0,
	     -EPROTO, "cut short"},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", SERVE_CLOSE, 0, -EPROTO,
	     "malformed chunked"},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n", SERVE_KEEP, 1024,
	     -EPROTO, "larger than 1024 bytes"},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n", SERVE_KEEP, 1000,
	     -EPROTO, "larger than 1000 bytes"},
	    {big_eof, SERVE_CLOSE, 0, -EPROTO, "larger than 65536 bytes"},
	    {"HTTP/1.1 101 Switching Protocols\r\n\r\n", SERVE_KEEP, 0, -EPROTO, "unexpected 101"},
	    {"HTTP/1.1 200", SERVE_CLOSE, 0, -EPROTO, "closed before the response"},
	    {"", SERVE_HANGUP, 0, -EPROTO, "closed before the response"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		server_start(cases[i].mode, cases[i].response, strlen(cases[i].response));
		struct result *r = call("GET", "/", NULL, cases[i].max, 0);
		CHECK_INT(r->status, cases[i].status);
		CHECK(strstr(r->err, cases[i].why) != NULL);
		if (!strstr(r->err, cases[i].why))
			fprintf(stderr, "    case %zu: %s\n", i, r->err);
		CHECK_INT(r->len, 0);
		server_stop();
		drain();
	}
}

static void test_failures(void)
{
	/* A silent server: the whole call is bounded. */
	server_start(SERVE_SILENT, "", 0);
	uint64_t t0 = uv_now(&loop);
	struct result *r = call("GET", "/", NULL, 0, 200);
	CHECK_INT(r->status, -ETIMEDOUT);
	CHECK(uv_now(&loop) - t0 >= 190);
	CHECK(strstr(r->err, "no response within 200 ms") != NULL);
	server_stop();
	drain();

	/* Refused: a port just freed. */
	server_start(SERVE_SILENT, "", 0);
	uint16_t port = srv.port;
	server_stop();
	drain();
	srv.port = port;
	r = call("GET", "/", NULL, 0, 0);
	CHECK_INT(r->status, -ECONNREFUSED);
	CHECK(strstr(r->err, "cannot connect") != NULL);
	drain();

	/* A name that does not resolve: the resolver asks a server that
	 * refuses (the freed port again, on UDP). */
	struct netaddr dns_server;
	CHECK_INT(netaddr_parse_host("127.0.0.1", port, &dns_server), 0);
	const struct resolver_options options = {
	    .servers = &dns_server, .nservers = 1, .timeout_ms = 100, .tries = 1};
	struct resolver *resolver;
	CHECK_INT(resolver_new(&loop, &options, &resolver), 0);
	memset(r, 0, sizeof(*r));
	const struct http_client_request req = {.method = "GET", .url = "https://nx.invalid/"};
	CHECK_INT(http_client_request(&loop, resolver, &req, on_result, r, NULL), 0);
	wait_result(r);
	CHECK_INT(r->calls, 1);
	CHECK_INT(r->status, -EHOSTUNREACH);
	CHECK(strstr(r->err, "cannot resolve nx.invalid") != NULL);
	resolver_del(resolver);
	drain();

	/* Requests refused at once: no callback. */
	const struct http_client_request bad[] = {
	    {.method = "GET", .url = "ftp://x/"},
	    {.method = "GET", .url = "http://"},
	    {.method = "GET", .url = "http://a b/"},
	    {.method = "get", .url = "http://127.0.0.1/"},
	    {.method = "", .url = "http://127.0.0.1/"},
	    {.method = NULL, .url = "http://127.0.0.1/"},
	    {.method = "GET", .url = NULL},
	    {.method = "PUT", .url = "http://127.0.0.1/", .content_type = "a\r\nX-Evil: 1"},
	    {.method = "PUT", .url = "http://127.0.0.1/", .body = NULL, .body_len = 3},
	    {.method = "GET", .url = "http://needs.a.resolver/"},
	};
	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(http_client_request(&loop, NULL, &bad[i], on_result, r, NULL), -EINVAL);
	drain();
	CHECK_INT(r->calls, 0);
}

static void on_cancel_timer(uv_timer_t *timer)
{
	http_client_cancel(timer->data);
	uv_close((uv_handle_t *)timer, NULL);
}

static void test_cancel(void)
{
	struct result r;
	struct http_client_call *c = NULL;
	char url[64];

	/* At once. */
	server_start(SERVE_SILENT, "", 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", srv.port);
	const struct http_client_request req = {.method = "GET", .url = url};
	memset(&r, 0, sizeof(r));
	CHECK_INT(http_client_request(&loop, NULL, &req, on_result, &r, &c), 0);
	http_client_cancel(c);
	http_client_cancel(NULL);
	/* While waiting for the response. */
	uv_timer_t timer;
	CHECK_INT(http_client_request(&loop, NULL, &req, on_result, &r, &c), 0);
	uv_timer_init(&loop, &timer);
	timer.data = c;
	uv_timer_start(&timer, on_cancel_timer, 50, 0);
	while (uv_is_active((uv_handle_t *)&timer))
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(srv.answered); /* the request had arrived */
	server_stop();
	drain();
	CHECK_INT(r.calls, 0);

	/* While resolving. */
	struct netaddr dns_server;
	CHECK_INT(netaddr_parse_host("127.0.0.1", 9, &dns_server), 0);
	const struct resolver_options options = {.servers = &dns_server, .nservers = 1};
	struct resolver *resolver;
	CHECK_INT(resolver_new(&loop, &options, &resolver), 0);
	const struct http_client_request named = {.method = "GET", .url = "http://a.test/"};
	CHECK_INT(http_client_request(&loop, resolver, &named, on_result, &r, &c), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	http_client_cancel(c);
	resolver_del(resolver);
	drain();
	CHECK_INT(r.calls, 0);
}

static void test_tls(const char *dir)
{
	char cert[512], key[512], err[256], url[128];
	struct stream_tls_server *tls;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	CHECK_INT(stream_tls_server_load(cert, key, &tls, err, sizeof(err)), 0);
	struct resolver *resolver;
	CHECK_INT(resolver_new(&loop, NULL, &resolver), 0);
	struct result *r = calloc(1, sizeof(*r));

	/* Not trusted yet. */
	server_start(SERVE_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nTLS", 0);
	srv.tls = tls;
	snprintf(url, sizeof(url), "https://localhost:%u/pkarr", srv.port);
	const struct http_client_request req = {.method = "GET", .url = url};
	CHECK_INT(http_client_request(&loop, resolver, &req, on_result, r, NULL), 0);
	wait_result(r);
	CHECK_INT(r->status, -EKEYREJECTED);
	CHECK(strstr(r->err, "certificate") != NULL);
	fprintf(stderr, "untrusted: %s\n", r->err);
	server_stop();
	drain();

	/* Trusted ("localhost" may resolve to ::1 first, where nothing
	 * listens: the next address is tried). */
	CHECK_INT(stream_client_add_ca_file(cert, err, sizeof(err)), 0);
	server_start(SERVE_CLOSE, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nTLS", 0);
	srv.tls = tls;
	snprintf(url, sizeof(url), "https://localhost:%u/pkarr", srv.port);
	memset(r, 0, sizeof(*r));
	CHECK_INT(http_client_request(&loop, resolver, &req, on_result, r, NULL), 0);
	wait_result(r);
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "TLS");
	CHECK(strstr(srv.request, "GET /pkarr HTTP/1.1\r\n") == srv.request);
	char host[64];
	snprintf(host, sizeof(host), "\r\nHost: localhost:%u\r\n", srv.port);
	CHECK(strstr(srv.request, host) != NULL);
	server_stop();
	drain();

	/* A TLS server that sends its body to the end of the connection. */
	server_start(SERVE_CLOSE, "HTTP/1.1 200 OK\r\n\r\nuntil close_notify", 0);
	srv.tls = tls;
	snprintf(url, sizeof(url), "https://localhost:%u/", srv.port);
	memset(r, 0, sizeof(*r));
	CHECK_INT(http_client_request(&loop, resolver, &req, on_result, r, NULL), 0);
	wait_result(r);
	CHECK_INT(r->status, 200);
	CHECK_STR(r->body, "until close_notify");
	server_stop();
	drain();

	free(r);
	resolver_del(resolver);
	stream_tls_server_unref(tls);
	drain();
}

/* The chunked decoder alone. */
static ssize_t decode_all(const char *in, size_t len, char *out, bool *done, size_t step)
{
	struct http_chunked c;
	size_t total = 0;
	http_chunked_init(&c);
	for (size_t at = 0; at < len && !c.done;) {
		size_t piece = len - at < step ? len - at : step, used;
		ssize_t n = http_chunked_decode(&c, (const uint8_t *)in + at, piece,
						(uint8_t *)out + total, &used);
		if (n < 0)
			return n;
		total += (size_t)n;
		at += used;
	}
	*done = c.done;
	out[total] = '\0';
	return (ssize_t)total;
}

static void test_chunked(void)
{
	char out[8192];
	bool done;
	static const char good[] =
	    "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
	for (size_t step = 1; step <= sizeof(good); step++) {
		CHECK_INT(decode_all(good, sizeof(good) - 1, out, &done, step), 23);
		CHECK_STR(out, "Wikipedia in\r\n\r\nchunks.");
		CHECK(done);
	}
	/* Bare LF line ends, upper-case hex, extensions, trailers, bytes
	 * after the end (not consumed). */
	static const char lenient[] = "A;x=\"y\"\n0123456789\n0\nA: b\r\nC: d\n\nafter";
	struct http_chunked c;
	size_t used;
	uint8_t buf[64];
	http_chunked_init(&c);
	CHECK_INT(
	    http_chunked_decode(&c, (const uint8_t *)lenient, sizeof(lenient) - 1, buf, &used), 10);
	CHECK(c.done);
	CHECK_INT(used, sizeof(lenient) - 1 - 5);
	/* Incomplete: not done, no error. */
	CHECK_INT(decode_all("5\r\nhel", 6, out, &done, 100), 3);
	CHECK(!done);
	CHECK_INT(decode_all("0\r\n", 3, out, &done, 100), 0);
	CHECK(!done);
	/* Decoding in place. */
	char inplace[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	http_chunked_init(&c);
	CHECK_INT(
	    http_chunked_decode(&c, (uint8_t *)inplace, strlen(inplace), (uint8_t *)inplace, &used),
	    5);
	CHECK(memcmp(inplace, "abcde", 5) == 0);

	const char *bad[] = {
	    "\r\n",
	    "g\r\n",
	    "-1\r\n",
	    " 5\r\nhello\r\n",
	    "5\rhello",
	    "5\r\nhelloX\r\n",
	    "5\r\nhello\r\r",
	    "1000000000000000\r\n", /* 16 hex digits */
	    "5;\x01\r\n",
	    "0\r\n\x01x\r\n\r\n",
	    "0\r\n x\r\n\r\n", /* obs-fold */
	    "0\r\n:x\r\n\r\n",
	    "0\r\nx\r\r\n",
	    "0\r\n\rx",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(decode_all(bad[i], strlen(bad[i]), out, &done, 100), -EBADMSG);
		CHECK_INT(decode_all(bad[i], strlen(bad[i]), out, &done, 1), -EBADMSG);
	}
	/* A failed decoder stays failed. */
	http_chunked_init(&c);
	CHECK_INT(http_chunked_decode(&c, (const uint8_t *)"x", 1, buf, &used), -EBADMSG);
	CHECK_INT(http_chunked_decode(&c, (const uint8_t *)"0\r\n\r\n", 5, buf, &used), -EBADMSG);
	/* Lines are bounded: a long extension, a long trailer. */
	static char long_line[HTTP_CHUNKED_LINE_MAX + 16];
	memset(long_line, 'x', sizeof(long_line));
	memcpy(long_line, "1;", 2);
	CHECK_INT(decode_all(long_line, sizeof(long_line), out, &done, 4096), -EBADMSG);
	memcpy(long_line, "0\r\n", 3);
	CHECK_INT(decode_all(long_line, sizeof(long_line), out, &done, 4096), -EBADMSG);
	/* 15 hex digits are accepted as a size. */
	http_chunked_init(&c);
	CHECK_INT(http_chunked_decode(&c, (const uint8_t *)"fffffffffffffff\r\nab", 19, buf, &used),
		  2);
	CHECK(c.remaining == 0xfffffffffffffffULL - 2);
}

int main(void)
{
	uv_loop_init(&loop);
	test_chunked();
	test_get();
	test_put();
	test_bodies();
	test_bad_responses();
	test_failures();
	test_cancel();

	char dir[] = "/tmp/iron-test-http.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
		 "-subj /CN=localhost -addext subjectAltName=DNS:localhost "
		 "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
		 dir, dir);
	if (system(cmd) == 0)
		test_tls(dir);
	else
		CHECK(0 && "openssl could not make a certificate (scripts/install-deps --test "
			   "installs it)");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;

	drain();
	CHECK_INT(uv_loop_alive(&loop), 0);
	CHECK_INT(uv_loop_close(&loop), 0);
	return check_done();
}
