/* dns_server on a real loop, on 127.0.0.1 and a free port: UDP answers and
 * the registration callback, forwarding to fake upstreams in the same
 * process (ID replaced and restored, wrong replies ignored, next upstream
 * on timeout, SERVFAIL when all fail), TCP (two queries on one connection,
 * idle timeout of a silent client, garbage, connection cap), the in-flight
 * cap and the caller (in-tunnel) entry point. Every handle is closed and
 * the loop must be empty at the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <uv.h>

#include "check.h"
#include "iron/dns.h"
#include "iron/dns_server.h"
#include "iron/id.h"

static const char kat_domain[] = "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq.iron";

static uv_loop_t loop;

static size_t build_query(uint8_t *buf, uint16_t id, const char *name, uint16_t qtype)
{
	size_t n = 12;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01;
	buf[5] = 1;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t label = dot ? (size_t)(dot - name) : strlen(name);
		buf[n++] = (uint8_t)label;
		memcpy(buf + n, name, label);
		n += label;
		name += label + (dot ? 1 : 0);
	}
	buf[n++] = 0;
	buf[n++] = (uint8_t)(qtype >> 8);
	buf[n++] = (uint8_t)qtype;
	buf[n++] = 0;
	buf[n++] = 1;
	return n;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Runs the loop until *done or ms milliseconds have passed. */
static void timer_fired(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static void closed_free_nothing(uv_handle_t *h)
{
	(void)h;
}

static bool run_until(const bool *done, unsigned ms)
{
	uv_timer_t timer;
	bool expired = false;
	uv_timer_init(&loop, &timer);
	timer.data = &expired;
	uv_timer_start(&timer, timer_fired, ms, 0);
	while (!*done && !expired)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, closed_free_nothing);
	uv_run(&loop, UV_RUN_NOWAIT);
	return *done;
}

static void get_addr(uv_udp_t *h, struct netaddr *out)
{
	int len = sizeof(*out);
	uv_udp_getsockname(h, &out->sa, &len);
}

/* --- a UDP endpoint: client or fake upstream ------------------------------ */

enum peer_mode { PEER_SILENT, PEER_ANSWER, PEER_WRONG_THEN_ANSWER };

struct peer {
	uv_udp_t udp;
	enum peer_mode mode;
	uint8_t last[2048];
	size_t last_len;
	unsigned received;
	bool got;
	uint8_t buf[2048];
};

static void peer_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct peer *p = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)p->buf, sizeof(p->buf));
}

/* The fake upstream's answer: the query turned into a response with one A
 * record 192.0.2.1 (what any recursive server would say). */
static size_t upstream_answer(const uint8_t *q, size_t len, uint8_t *out)
{
	const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1};
	memcpy(out, q, len);
	out[2] |= 0x80;
	out[3] = 0x80;
	out[7] = 1;
	memcpy(out + len, rr, sizeof(rr));
	return len + sizeof(rr);
}

static void peer_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
		      unsigned flags)
{
	struct peer *p = h->data;
	(void)buf;
	(void)flags;
	if (nread <= 0 || !from)
		return;
	memcpy(p->last, p->buf, (size_t)nread);
	p->last_len = (size_t)nread;
	p->received++;
	p->got = true;
	if (p->mode == PEER_SILENT)
		return;
	uint8_t out[2048];
	size_t n = upstream_answer(p->buf, (size_t)nread, out);
	uv_buf_t b = uv_buf_init((char *)out, (unsigned)n);
	if (p->mode == PEER_WRONG_THEN_ANSWER) {
		/* A spoofed answer with another ID first: must be ignored. */
		out[1] ^= 0x55;
		uv_udp_try_send(h, &b, 1, from);
		out[1] ^= 0x55;
		/* And one with the right ID but another question. */
		out[13] ^= 0x01;
		uv_udp_try_send(h, &b, 1, from);
		out[13] ^= 0x01;
	}
	uv_udp_try_send(h, &b, 1, from);
}

static void peer_open(struct peer *p, enum peer_mode mode)
{
	struct sockaddr_in a;
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	uv_udp_init(&loop, &p->udp);
	p->udp.data = p;
	uv_ip4_addr("127.0.0.1", 0, &a);
	CHECK_INT(uv_udp_bind(&p->udp, (const struct sockaddr *)&a, 0), 0);
	uv_udp_recv_start(&p->udp, peer_alloc, peer_recv);
}

static void peer_send(struct peer *p, uint16_t port, const uint8_t *data, size_t len)
{
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", port, &a);
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	p->got = false;
	CHECK_INT(uv_udp_try_send(&p->udp, &b, 1, (const struct sockaddr *)&a), (int)len);
}

static void peer_close(struct peer *p)
{
	uv_close((uv_handle_t *)&p->udp, closed_free_nothing);
	/* The handle lives on the caller's stack: finish closing it now. */
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* --- server helpers --------------------------------------------------------- */

static unsigned nodes_seen;
static struct iron_id last_node;

static void on_node(void *user, const struct iron_id *id)
{
	(void)user;
	nodes_seen++;
	last_node = *id;
}

static bool server_gone;

static void server_closed(void *user)
{
	*(bool *)user = true;
}

static void server_close(struct dns_server *s)
{
	server_gone = false;
	dns_server_close(s, server_closed, &server_gone);
	CHECK(run_until(&server_gone, 2000));
}

static struct dns_server *server_open(struct dns_server_config *config)
{
	static const char *const localhost[] = {"127.0.0.1"};
	struct dns_server *s = NULL;
	config->loop = &loop;
	config->listen = localhost;
	config->n_listen = 1;
	config->on_node = on_node;
	CHECK_INT(dns_server_new(config, &s), 0);
	CHECK(s && dns_server_port(s) != 0);
	return s;
}

/* --- tests ------------------------------------------------------------------ */

static void test_udp_local(void)
{
	struct dns_server_config config = {.port = 0};
	struct dns_server *s = server_open(&config);
	struct dns_server_stats st;
	struct peer client;
	struct iron_id kat;
	uint8_t q[512];
	size_t n;

	peer_open(&client, PEER_SILENT);
	n = build_query(q, 0xa1a1, kat_domain, 28);
	peer_send(&client, dns_server_port(s), q, n);
	CHECK(run_until(&client.got, 2000));
	CHECK_INT(client.last_len, n + 28);
	CHECK_INT(get16(client.last), 0xa1a1);
	CHECK_INT(client.last[2], 0x85);
	CHECK_INT(get16(client.last + 6), 1);
	CHECK_INT(nodes_seen, 1);
	CHECK_INT(id_parse(kat_domain, &kat, NULL), 0);
	CHECK(id_equal(&last_node, &kat));

	/* Outside .iron without upstreams: REFUSED. */
	n = build_query(q, 0xa2a2, "example.com", 28);
	peer_send(&client, dns_server_port(s), q, n);
	CHECK(run_until(&client.got, 2000));
	CHECK_INT(client.last[3] & 0x0f, DNS_RCODE_REFUSED);

	/* A 1-byte datagram gets nothing, the next query still an answer. */
	peer_send(&client, dns_server_port(s), q, 1);
	n = build_query(q, 0xa3a3, "nope.iron", 28);
	peer_send(&client, dns_server_port(s), q, n);
	CHECK(run_until(&client.got, 2000));
	CHECK_INT(get16(client.last), 0xa3a3);
	CHECK_INT(client.last[3] & 0x0f, DNS_RCODE_NXDOMAIN);

	dns_server_stats(s, &st);
	CHECK_INT(st.queries, 4);
	CHECK_INT(st.answers[0], 1);
	CHECK_INT(st.answers[DNS_RCODE_REFUSED], 1);
	CHECK_INT(st.answers[DNS_RCODE_NXDOMAIN], 1);
	CHECK_INT(st.dropped, 1);

	/* The same port again: a clear error, nothing left open. */
	struct dns_server_config again = {.port = dns_server_port(s)};
	struct dns_server *s2 = NULL;
	static const char *const localhost[] = {"127.0.0.1"};
	again.loop = &loop;
	again.listen = localhost;
	again.n_listen = 1;
	CHECK_INT(dns_server_new(&again, &s2), -EADDRINUSE);
	CHECK(s2 == NULL);
	static const char *const bad[] = {"localhost"};
	again.listen = bad;
	CHECK_INT(dns_server_new(&again, &s2), -EINVAL);

	peer_close(&client);
	server_close(s);
}

static void test_forwarding(void)
{
	struct peer client, silent, upstream;
	struct netaddr ups[2];
	struct dns_server_stats st;
	uint8_t q[512];
	size_t n;

	peer_open(&client, PEER_SILENT);
	peer_open(&silent, PEER_SILENT);
	peer_open(&upstream, PEER_WRONG_THEN_ANSWER);
	get_addr(&silent.udp, &ups[0]);
	get_addr(&upstream.udp, &ups[1]);

	/* The first upstream never answers, the second does: the answer
	 * comes after one timeout, with the client's ID restored. */
	struct dns_server_config config = {
	    .upstreams = ups, .n_upstreams = 2, .upstream_timeout_ms = 150};
	struct dns_server *s = server_open(&config);
	n = build_query(q, 0x1111, "example.com", 28);
	uint64_t start = uv_now(&loop);
	peer_send(&client, dns_server_port(s), q, n);
	CHECK(run_until(&client.got, 3000));
	CHECK(uv_now(&loop) - start >= 140);
	CHECK_INT(silent.received, 1);
	CHECK_INT(upstream.received, 1);
	/* Upstreams saw the query with another ID, otherwise unchanged. */
	CHECK_INT(upstream.last_len, n);
	CHECK_MEM(upstream.last + 2, q + 2, n - 2);
	CHECK(get16(upstream.last) != get16(silent.last) || get16(upstream.last) != 0x1111);
	CHECK_INT(client.last_len, n + 16);
	CHECK_INT(get16(client.last), 0x1111);
	CHECK_INT(client.last[2] & 0x80, 0x80);
	CHECK_INT(get16(client.last + 6), 1);
	CHECK_INT(client.last[client.last_len - 1], 1); /* 192.0.2.1 */
	dns_server_stats(s, &st);
	CHECK_INT(st.forwarded, 1);
	CHECK_INT(st.upstream_timeouts, 1);
	CHECK_INT(st.upstream_mismatched, 2); /* wrong ID, wrong question */
	CHECK_INT(st.in_flight, 0);
	CHECK_INT(st.answers[0], 1);
	CHECK_INT(nodes_seen, 1); /* forwarded answers register nothing */

	/* .iron names are still answered locally. */
	n = build_query(q, 0x2222, kat_domain, 28);
	peer_send(&client, dns_server_port(s), q, n);
	CHECK(run_until(&client.got, 2000));
	CHECK_INT(get16(client.last + 6), 1);
	CHECK_INT(upstream.received, 1);
	server_close(s);

	/* Every upstream silent: SERVFAIL after both timeouts. */
	get_addr(&silent.udp, &ups[1]);
	struct dns_server_config config2 = {
	    .upstreams = ups, .n_upstreams = 2, .upstream_timeout_ms = 100};
	s = server_open(&config2);
	n = build_query(q, 0x3333, "example.org", 1);
	start = uv_now(&loop);
	peer_send(&client, dns_server_port(s), q, n);
	CHECK(run_until(&client.got, 3000));
	CHECK(uv_now(&loop) - start >= 190);
	CHECK_INT(get16(client.last), 0x3333);
	CHECK_INT(client.last[3] & 0x0f, DNS_RCODE_SERVFAIL);
	CHECK_INT(client.last_len, n); /* question echoed, no records */
	CHECK_INT(silent.received, 3);
	dns_server_stats(s, &st);
	CHECK_INT(st.upstream_timeouts, 2);
	CHECK_INT(st.answers[DNS_RCODE_SERVFAIL], 1);
	server_close(s);

	peer_close(&client);
	peer_close(&silent);
	peer_close(&upstream);
}

/* --- the caller entry point and the in-flight cap --------------------------- */

struct tagged {
	unsigned calls;
	char tag[DNS_SERVER_TAG_MAX];
	uint8_t answer[1024];
	size_t len;
	bool got;
};

static void tagged_reply(void *user, const void *tag, const uint8_t *answer, size_t len)
{
	struct tagged *t = user;
	t->calls++;
	memcpy(t->tag, tag, sizeof(t->tag));
	memcpy(t->answer, answer, len);
	t->len = len;
	t->got = true;
}

static void test_caller_and_cap(void)
{
	struct peer silent, upstream;
	struct netaddr ups[1];
	struct dns_server_stats st;
	struct tagged t = {0};
	uint8_t q[512];
	char tag[DNS_SERVER_TAG_MAX];
	size_t n;

	peer_open(&silent, PEER_SILENT);
	peer_open(&upstream, PEER_ANSWER);
	get_addr(&upstream.udp, &ups[0]);
	struct dns_server_config config = {.upstreams = ups, .n_upstreams = 1};
	struct dns_server *s = server_open(&config);

	/* A .iron name: answered before dns_server_query returns. */
	memset(tag, 'T', sizeof(tag));
	n = build_query(q, 0x4444, kat_domain, 28);
	CHECK_INT(dns_server_query(s, q, n, tag, sizeof(tag), tagged_reply, &t), 0);
	CHECK_INT(t.calls, 1);
	CHECK_MEM(t.tag, tag, sizeof(tag));
	CHECK_INT(t.len, n + 28);
	CHECK_INT(get16(t.answer), 0x4444);

	/* Forwarded: answered later, with the tag (copied, so the caller's
	 * buffer may change meanwhile). */
	t = (struct tagged){0};
	memset(tag, 'U', 10);
	n = build_query(q, 0x5555, "example.net", 28);
	CHECK_INT(dns_server_query(s, q, n, tag, 10, tagged_reply, &t), 0);
	memset(tag, 'X', 10);
	CHECK_INT(t.calls, 0);
	CHECK(run_until(&t.got, 2000));
	CHECK_INT(t.calls, 1);
	CHECK_MEM(t.tag, "UUUUUUUUUU", 10);
	CHECK_INT(get16(t.answer), 0x5555);
	CHECK_INT(t.len, n + 16);

	/* No reply at all, a tag too long. */
	CHECK_INT(dns_server_query(s, q, 1, tag, 1, tagged_reply, &t), -EBADMSG);
	CHECK_INT(dns_server_query(s, q, n, tag, DNS_SERVER_TAG_MAX + 1, tagged_reply, &t),
		  -EINVAL);
	server_close(s);

	/* The in-flight cap: 4 waiting on a silent upstream, the rest
	 * dropped; closing the server drops the waiting ones silently. */
	get_addr(&silent.udp, &ups[0]);
	struct dns_server_config capped = {
	    .upstreams = ups, .n_upstreams = 1, .max_in_flight = 4, .upstream_timeout_ms = 5000};
	s = server_open(&capped);
	t = (struct tagged){0};
	for (int i = 0; i < 6; i++) {
		n = build_query(q, (uint16_t)(0x6000 + i), "example.com", 28);
		CHECK_INT(dns_server_query(s, q, n, NULL, 0, tagged_reply, &t),
			  i < 4 ? 0 : -ENOBUFS);
	}
	silent.got = false;
	CHECK(run_until(&silent.got, 1000));
	dns_server_stats(s, &st);
	CHECK_INT(st.in_flight, 4);
	CHECK_INT(st.dropped_in_flight, 2);
	CHECK_INT(st.forwarded, 4);
	server_close(s);
	CHECK_INT(t.calls, 0);

	peer_close(&silent);
	peer_close(&upstream);
}

/* --- TCP ------------------------------------------------------------------- */

struct tcp_client {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	bool connected, eof;
	uint8_t in[8192];
	size_t have;
	uint8_t out[1024];
};

static void tcp_client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_client *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->in + c->have, (unsigned)(sizeof(c->in) - c->have));
}

static void tcp_client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_client *c = stream->data;
	(void)buf;
	if (nread < 0)
		c->eof = true;
	else
		c->have += (size_t)nread;
}

static void tcp_client_connected(uv_connect_t *req, int status)
{
	struct tcp_client *c = req->data;
	CHECK_INT(status, 0);
	c->connected = status == 0;
	if (status == 0)
		uv_read_start((uv_stream_t *)&c->tcp, tcp_client_alloc, tcp_client_read);
}

static void tcp_client_open(struct tcp_client *c, uint16_t port)
{
	struct sockaddr_in a;
	memset(c, 0, sizeof(*c));
	uv_tcp_init(&loop, &c->tcp);
	c->tcp.data = c->connect.data = c;
	uv_ip4_addr("127.0.0.1", port, &a);
	uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&a, tcp_client_connected);
	CHECK(run_until(&c->connected, 2000));
}

static void tcp_client_written(uv_write_t *req, int status)
{
	(void)req;
	(void)status;
}

static void tcp_client_send(struct tcp_client *c, const uint8_t *data, size_t len)
{
	memcpy(c->out, data, len);
	uv_buf_t b = uv_buf_init((char *)c->out, (unsigned)len);
	CHECK_INT(uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, tcp_client_written), 0);
}

static bool tcp_has(const struct tcp_client *c, size_t want)
{
	return c->have >= want;
}

static void run_until_bytes(struct tcp_client *c, size_t want, unsigned ms)
{
	uint64_t end = uv_now(&loop) + ms;
	while (!tcp_has(c, want) && !c->eof && uv_now(&loop) < end) {
		bool never = false;
		run_until(&never, 20);
	}
}

static void tcp_client_close(struct tcp_client *c)
{
	uv_close((uv_handle_t *)&c->tcp, closed_free_nothing);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void test_tcp(void)
{
	struct dns_server_config config = {.tcp_idle_timeout_ms = 300, .max_tcp_conns = 2};
	struct dns_server *s = server_open(&config);
	struct tcp_client a, b, c;
	struct dns_server_stats st;
	uint8_t msg[1024], q[512];
	size_t n1, n2;

	/* Two queries in one write, two answers on one connection. */
	tcp_client_open(&a, dns_server_port(s));
	n1 = build_query(q, 0x7001, kat_domain, 28);
	msg[0] = 0, msg[1] = (uint8_t)n1;
	memcpy(msg + 2, q, n1);
	n2 = build_query(q, 0x7002, "nope.iron", 28);
	msg[2 + n1] = 0, msg[3 + n1] = (uint8_t)n2;
	memcpy(msg + 4 + n1, q, n2);
	tcp_client_send(&a, msg, 4 + n1 + n2);
	size_t want = 2 + n1 + 28 + 2 + n2 + 62;
	run_until_bytes(&a, want, 2000);
	CHECK_INT(a.have, want);
	CHECK_INT(get16(a.in), n1 + 28);
	CHECK_INT(get16(a.in + 2), 0x7001);
	CHECK_INT(get16(a.in + 2 + n1 + 28), n2 + 62);
	CHECK_INT(get16(a.in + 4 + n1 + 28), 0x7002);
	CHECK_INT(a.in[4 + n1 + 28 + 3] & 0x0f, DNS_RCODE_NXDOMAIN);

	/* A third connection is over the cap of 2: the one idle the longest
	 * makes room (a, whose last query is older than b's connection); b
	 * and the new one work. */
	tcp_client_open(&b, dns_server_port(s));
	tcp_client_open(&c, dns_server_port(s));
	CHECK(run_until(&a.eof, 1000));
	CHECK(!b.eof);
	CHECK(!c.eof);
	tcp_client_send(&c, msg, 2 + n1);
	run_until_bytes(&c, 2 + n1 + 28, 2000);
	CHECK_INT(c.have, 2 + n1 + 28);
	tcp_client_send(&b, msg, 2 + n1);
	run_until_bytes(&b, 2 + n1 + 28, 2000);
	CHECK_INT(b.have, 2 + n1 + 28);
	tcp_client_close(&a);
	tcp_client_close(&c);

	/* Garbage (an HTTP request) closes the connection. */
	tcp_client_send(&b, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18);
	CHECK(run_until(&b.eof, 1000));
	tcp_client_close(&b);

	/* A length and then nothing: cut off by the idle timeout. */
	tcp_client_open(&a, dns_server_port(s));
	uint64_t start = uv_now(&loop);
	tcp_client_send(&a, (const uint8_t *)"\x00\x20", 2);
	CHECK(run_until(&a.eof, 3000));
	CHECK(uv_now(&loop) - start >= 250);
	CHECK_INT(a.have, 0);
	tcp_client_close(&a);

	dns_server_stats(s, &st);
	CHECK_INT(st.tcp_accepted, 4);
	CHECK_INT(st.tcp_evicted, 1);
	CHECK_INT(st.tcp_rejected, 0);
	CHECK_INT(st.tcp_garbage, 1);
	CHECK_INT(st.tcp_timeouts, 1);
	CHECK_INT(st.tcp_conns, 0);
	CHECK_INT(st.answers[0], 3);
	CHECK_INT(st.tcp_conns, 0);

	/* A client that half-closes after its query still gets the answer,
	 * then the server closes too. */
	uv_shutdown_t shut;
	tcp_client_open(&a, dns_server_port(s));
	tcp_client_send(&a, msg, 2 + n1);
	CHECK_INT(uv_shutdown(&shut, (uv_stream_t *)&a.tcp, NULL), 0);
	CHECK(run_until(&a.eof, 2000));
	CHECK_INT(a.have, 2 + n1 + 28);
	CHECK_INT(get16(a.in + 2), 0x7001);
	tcp_client_close(&a);

	/* A client still connected when the server closes is cut off too. */
	tcp_client_open(&a, dns_server_port(s));
	bool never = false;
	run_until(&never, 50);
	server_close(s);
	CHECK(run_until(&a.eof, 1000));
	tcp_client_close(&a);
}

static void count_handle(uv_handle_t *h, void *arg)
{
	(void)h;
	(*(unsigned *)arg)++;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_INT(uv_loop_init(&loop), 0);
	test_udp_local();
	test_forwarding();
	test_caller_and_cap();
	test_tcp();
	uv_run(&loop, UV_RUN_DEFAULT);
	unsigned handles = 0;
	uv_walk(&loop, count_handle, &handles);
	CHECK_INT(handles, 0);
	CHECK_INT(uv_loop_close(&loop), 0);
	return check_done();
}
