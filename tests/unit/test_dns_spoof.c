/* Forwarded DNS against a blind spoofer (issue 15, item 8). Before the
 * fix every forwarded query left from one socket, so a spoofer who learnt
 * its port once (from a query of its own) only had to try the 65536 IDs:
 * it poisoned 5 of 5 queries. Now each attempt has its own connected
 * socket on a fresh random port, and a reply must echo the question (an
 * empty-question error reply is not taken). The fake upstream here also
 * plays the spoofer: it has the upstream's address, but sends its forged
 * answers where a blind attacker would. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "iron/dns.h"
#include "iron/dns_server.h"

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

/* The query q turned into a response with one A record, addr. */
static size_t make_answer(const uint8_t *q, size_t len, const uint8_t addr[4], uint8_t *out)
{
	const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
	memcpy(out, q, len);
	out[2] |= 0x80;
	out[3] = 0x80;
	out[7] = 1;
	memcpy(out + len, rr, sizeof(rr));
	memcpy(out + len + sizeof(rr), addr, 4);
	return len + sizeof(rr) + 4;
}

static const uint8_t real_addr[4] = {192, 0, 2, 1};
static const uint8_t evil_addr[4] = {6, 6, 6, 6};

static void timer_fired(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static void closed_nothing(uv_handle_t *h)
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
	uv_close((uv_handle_t *)&timer, closed_nothing);
	uv_run(&loop, UV_RUN_NOWAIT);
	return *done;
}

/* --- UDP endpoints: the client, the upstream (and spoofer) ----------------- */

#define MAX_SEEN 16

struct endpoint {
	uv_udp_t udp;
	bool answer; /* the upstream answers at once (else it holds) */
	bool got;
	unsigned received;
	uint16_t ports[MAX_SEEN]; /* source ports of the queries seen */
	struct sockaddr_in from;  /* of the last one */
	uint8_t last[1024];
	size_t last_len;
	uint8_t buf[2048];
};

static void endpoint_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct endpoint *e = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)e->buf, sizeof(e->buf));
}

static void send_to(struct endpoint *e, const struct sockaddr_in *to, const uint8_t *data,
		    size_t len)
{
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	CHECK_INT(uv_udp_try_send(&e->udp, &b, 1, (const struct sockaddr *)to), (int)len);
}

static void endpoint_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
			  const struct sockaddr *from, unsigned flags)
{
	struct endpoint *e = h->data;
	(void)buf;
	(void)flags;
	if (nread <= 0 || !from || from->sa_family != AF_INET || (size_t)nread > sizeof(e->last))
		return;
	memcpy(e->last, e->buf, (size_t)nread);
	e->last_len = (size_t)nread;
	memcpy(&e->from, from, sizeof(e->from));
	if (e->received < MAX_SEEN)
		e->ports[e->received] = ntohs(e->from.sin_port);
	e->received++;
	e->got = true;
	if (e->answer) {
		uint8_t out[1100];
		send_to(e, &e->from, out, make_answer(e->last, e->last_len, real_addr, out));
	}
}

static void endpoint_open(struct endpoint *e, bool answer)
{
	struct sockaddr_in a;
	memset(e, 0, sizeof(*e));
	e->answer = answer;
	uv_udp_init(&loop, &e->udp);
	e->udp.data = e;
	uv_ip4_addr("127.0.0.1", 0, &a);
	CHECK_INT(uv_udp_bind(&e->udp, (const struct sockaddr *)&a, 0), 0);
	uv_udp_recv_start(&e->udp, endpoint_alloc, endpoint_recv);
}

static void endpoint_close(struct endpoint *e)
{
	uv_close((uv_handle_t *)&e->udp, closed_nothing);
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void endpoint_addr(struct endpoint *e, struct netaddr *out)
{
	int len = sizeof(*out);
	memset(out, 0, sizeof(*out));
	uv_udp_getsockname(&e->udp, &out->sa, &len);
}

static bool server_gone;

static void server_closed(void *user)
{
	*(bool *)user = true;
}

/* A server on 127.0.0.1 forwarding to the upstream endpoint. */
static struct dns_server *server_open(struct endpoint *upstream, struct netaddr *ups)
{
	static const char *const localhost[] = {"127.0.0.1"};
	struct dns_server *s = NULL;
	endpoint_addr(upstream, ups);
	struct dns_server_config config = {.loop = &loop,
					   .listen = localhost,
					   .n_listen = 1,
					   .upstreams = ups,
					   .n_upstreams = 1,
					   .upstream_timeout_ms = 2000};
	CHECK_INT(dns_server_new(&config, &s), 0);
	return s;
}

static void server_close(struct dns_server *s)
{
	server_gone = false;
	dns_server_close(s, server_closed, &server_gone);
	CHECK(run_until(&server_gone, 2000));
}

/* Asks the server for name (A) from the client; returns once the
 * upstream has the query. */
static void ask(struct dns_server *s, struct endpoint *client, struct endpoint *upstream,
		const char *name, uint16_t id)
{
	uint8_t q[512];
	struct sockaddr_in to;
	uv_ip4_addr("127.0.0.1", dns_server_port(s), &to);
	client->got = upstream->got = false;
	send_to(client, &to, q, build_query(q, id, name, 1));
	CHECK(run_until(&upstream->got, 2000));
}

/* The A record of the client's last reply, compared with addr. */
static bool client_has(const struct endpoint *client, const uint8_t addr[4])
{
	return client->got && client->last_len >= 16 && (client->last[3] & 0x0f) == 0 &&
	       memcmp(client->last + client->last_len - 4, addr, 4) == 0;
}

/* Every forwarded query leaves from a port of its own. */
static void test_fresh_ports(void)
{
	struct endpoint client, upstream;
	struct netaddr ups;
	endpoint_open(&client, false);
	endpoint_open(&upstream, true);
	struct dns_server *s = server_open(&upstream, &ups);
	char name[32];
	for (unsigned i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "q%u.example", i);
		ask(s, &client, &upstream, name, (uint16_t)(0x100 + i));
		CHECK(run_until(&client.got, 2000));
		CHECK(client_has(&client, real_addr));
	}
	unsigned distinct = 0;
	for (unsigned i = 0; i < 8; i++) {
		bool seen = false;
		for (unsigned j = 0; j < i; j++)
			seen |= upstream.ports[j] == upstream.ports[i];
		distinct += !seen;
	}
	printf("8 queries left from %u distinct ports\n", distinct);
	CHECK(distinct >= 7); /* two alike: odds about 1 in 1000 */
	server_close(s);
	endpoint_close(&client);
	endpoint_close(&upstream);
}

/* The attack: the spoofer learns the port from a query of its own,
 * then, while the victim's query waits, sends a forged answer for each of
 * the 65536 IDs to that port from the upstream's address. */
static void test_blind_brute_force(void)
{
	struct endpoint client, upstream;
	struct netaddr ups;
	unsigned poisoned = 0, total_poisoned = 0, rounds = 0;
	endpoint_open(&client, false);
	endpoint_open(&upstream, false);
	struct dns_server *s = server_open(&upstream, &ups);
	for (unsigned round = 0; round < 5; round++) {
		uint8_t out[1100], forged[1100], q[512];
		char name[32];
		/* The spoofer's own query: it sees where it came from. */
		snprintf(name, sizeof(name), "spoofer%u.example", round);
		ask(s, &client, &upstream, name, 1);
		struct sockaddr_in learnt = upstream.from;
		send_to(&upstream, &upstream.from, out,
			make_answer(upstream.last, upstream.last_len, real_addr, out));
		CHECK(run_until(&client.got, 2000));
		/* The victim's query, which the spoofer does not see. */
		snprintf(name, sizeof(name), "victim%u.example", round);
		ask(s, &client, &upstream, name, 2);
		struct sockaddr_in real = upstream.from;
		uint8_t held[1024];
		size_t held_len = upstream.last_len;
		memcpy(held, upstream.last, held_len);
		bool fresh = real.sin_port != learnt.sin_port;
		/* The kernel may give the same random port again (odds about
		 * 1 in 28000): then the attack may win, and the round proves
		 * nothing. */
		rounds += fresh;
		size_t n = build_query(q, 0, name, 1);
		size_t flen = make_answer(q, n, evil_addr, forged);
		for (uint32_t id = 0; id < 65536; id++) {
			forged[0] = (uint8_t)(id >> 8);
			forged[1] = (uint8_t)id;
			uv_buf_t b = uv_buf_init((char *)forged, (unsigned)flen);
			while (uv_udp_try_send(&upstream.udp, &b, 1,
					       (const struct sockaddr *)&learnt) == UV_EAGAIN)
				uv_run(&loop, UV_RUN_NOWAIT);
			/* Let the server read them, as it would. */
			if (id % 16 == 15)
				uv_run(&loop, UV_RUN_NOWAIT);
		}
		/* Then the real answer. */
		if (!client.got)
			send_to(&upstream, &real, out, make_answer(held, held_len, real_addr, out));
		CHECK(run_until(&client.got, 2000));
		if (client_has(&client, evil_addr)) {
			total_poisoned++;
			poisoned += fresh;
		} else {
			CHECK(client_has(&client, real_addr));
		}
	}
	printf("blind brute force: %u of 5 queries poisoned; %u of 5 from a fresh port\n",
	       total_poisoned, rounds);
	CHECK_INT(poisoned, 0);
	CHECK(rounds >= 4);
	server_close(s);
	endpoint_close(&client);
	endpoint_close(&upstream);
}

/* Replies to the right port with the right ID but not the question, and
 * the right answer from another port: all ignored; the real answer (the
 * name in another case, as 0x20 servers send) is taken. */
static void test_question_and_source(void)
{
	struct endpoint client, upstream, other;
	struct netaddr ups;
	struct dns_server_stats st;
	uint8_t q[512], out[1100];
	endpoint_open(&client, false);
	endpoint_open(&upstream, false);
	endpoint_open(&other, false);
	struct dns_server *s = server_open(&upstream, &ups);
	ask(s, &client, &upstream, "www.example", 7);
	uint16_t id = (uint16_t)(upstream.last[0] << 8 | upstream.last[1]);
	struct sockaddr_in real = upstream.from;
	size_t n, len;

	/* Another name. */
	n = build_query(q, id, "www.example.org", 1);
	send_to(&upstream, &real, out, make_answer(q, n, evil_addr, out));
	/* Another type (AAAA) and another class (CH). */
	n = build_query(q, id, "www.example", 28);
	send_to(&upstream, &real, out, make_answer(q, n, evil_addr, out));
	n = build_query(q, id, "www.example", 1);
	q[n - 1] = 3;
	send_to(&upstream, &real, out, make_answer(q, n, evil_addr, out));
	/* No question at all, an error: what anyone can forge. */
	len = build_query(out, id, "x", 1);
	(void)len;
	out[2] = 0x81;
	out[3] = 0x82; /* SERVFAIL */
	out[5] = 0;
	send_to(&upstream, &real, out, 12);
	/* The right answer, from another port on the same host. */
	n = build_query(q, id, "www.example", 1);
	send_to(&other, &real, out, make_answer(q, n, evil_addr, out));
	/* Give the server time to read them all. */
	bool never = false;
	run_until(&never, 200);
	CHECK(!client.got);
	dns_server_stats(s, &st);
	printf("mismatched replies ignored: %llu\n", (unsigned long long)st.upstream_mismatched);
	CHECK(st.upstream_mismatched >= 4);

	/* The real one, its name in another case. */
	n = build_query(q, id, "WwW.eXample", 1);
	send_to(&upstream, &real, out, make_answer(q, n, real_addr, out));
	CHECK(run_until(&client.got, 2000));
	CHECK(client_has(&client, real_addr));
	CHECK_INT(client.last[0] << 8 | client.last[1], 7);
	server_close(s);
	endpoint_close(&client);
	endpoint_close(&upstream);
	endpoint_close(&other);
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
	test_fresh_ports();
	test_question_and_source();
	test_blind_brute_force();
	uv_run(&loop, UV_RUN_DEFAULT);
	unsigned handles = 0;
	uv_walk(&loop, count_handle, &handles);
	CHECK_INT(handles, 0);
	CHECK_INT(uv_loop_close(&loop), 0);
	return check_done();
}
