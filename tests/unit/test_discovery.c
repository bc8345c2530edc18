/* discovery.c on a real loop against a pkarr relay and a DNS server in this
 * process, both on 127.0.0.1: the relay stores PUT bodies by path and
 * serves them to GET (404 for the rest), and can fail or hold requests;
 * the DNS server answers TXT queries from a table (NXDOMAIN for the rest)
 * or stays silent. Publishing (the packet as stored, no repeat for the same
 * record, a new one on change, republishing, a change while a PUT is in
 * flight, backoff after failures, a new record during the backoff),
 * lookups found by each source and both, not found, bad signature,
 * timeout with the DNS tries staggered, deduplication, limits, deletion
 * with everything in flight. Every handle is closed and the loop must be
 * empty at the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "testutil.h"
#include "iron/discovery.h"
#include "iron/encoding.h"
#include "iron/stream.h"

static uv_loop_t loop;

/* ------------------------------------------------------ the pkarr relay */

#define MAX_STORED 8

struct relay {
	uv_tcp_t listener;
	uint16_t port;
	char paths[MAX_STORED][128];
	uint8_t bodies[MAX_STORED][PKARR_MAX_SIGNED];
	size_t lens[MAX_STORED];
	size_t nstored;
	unsigned puts, gets;
	unsigned fail_puts;  /* the next PUTs answered 500 */
	bool hold_puts;	     /* PUTs get no answer until released */
	bool hold_gets;	     /* GETs get no answer */
	struct stream *held; /* a held PUT's connection */
	uint64_t put_times[16];
	char last_content_type[64];
};

static struct relay relay;

struct conn {
	char buf[4096];
	size_t len;
	bool answered;
};

static int stored_index(const char *path)
{
	for (size_t i = 0; i < relay.nstored; i++)
		if (strcmp(relay.paths[i], path) == 0)
			return (int)i;
	return -1;
}

static void store(const char *path, const uint8_t *body, size_t len)
{
	int i = stored_index(path);
	if (i < 0) {
		if (relay.nstored == MAX_STORED)
			return;
		i = (int)relay.nstored++;
		snprintf(relay.paths[i], sizeof(relay.paths[0]), "%s", path);
	}
	if (len > PKARR_MAX_SIGNED)
		len = PKARR_MAX_SIGNED;
	memcpy(relay.bodies[i], body, len);
	relay.lens[i] = len;
}

static void respond(struct stream *s, const char *status, const uint8_t *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: application/x-pkarr-signed-packet\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 status, len);
	stream_write2(s, (const uint8_t *)head, (size_t)n, body, len);
}

static void relay_data(void *user, struct stream *s, const uint8_t *data, size_t len)
{
	struct conn *c = user;
	if (c->answered)
		return;
	if (len > sizeof(c->buf) - 1 - c->len)
		len = sizeof(c->buf) - 1 - c->len;
	memcpy(c->buf + c->len, data, len);
	c->len += len;
	c->buf[c->len] = '\0';
	char *end = strstr(c->buf, "\r\n\r\n");
	if (!end)
		return;
	size_t head = (size_t)(end - c->buf) + 4, body = 0;
	char *cl = strcasestr(c->buf, "\r\nContent-Length:");
	if (cl && cl < end)
		body = strtoul(cl + 17, NULL, 10);
	if (c->len < head + body)
		return;
	c->answered = true;
	char method[8], path[128];
	if (sscanf(c->buf, "%7s %127s", method, path) != 2) {
		respond(s, "400 Bad Request", NULL, 0);
		return;
	}
	char *ct = strcasestr(c->buf, "\r\nContent-Type:");
	relay.last_content_type[0] = '\0';
	if (ct && ct < end)
		sscanf(ct + 15, " %63[^\r]", relay.last_content_type);
	if (strcmp(method, "PUT") == 0) {
		if (relay.puts < 16)
			relay.put_times[relay.puts] = uv_now(&loop);
		relay.puts++;
		if (relay.fail_puts > 0) {
			relay.fail_puts--;
			respond(s, "500 Internal Server Error", NULL, 0);
			return;
		}
		store(path, (const uint8_t *)c->buf + head, body);
		if (relay.hold_puts) {
			relay.held = s;
			return;
		}
		respond(s, "204 No Content", NULL, 0);
		return;
	}
	relay.gets++;
	if (relay.hold_gets)
		return;
	int i = stored_index(path);
	if (i < 0)
		respond(s, "404 Not Found", NULL, 0);
	else
		respond(s, "200 OK", relay.bodies[i], relay.lens[i]);
}

static void relay_closed(void *user, struct stream *s, int err, const char *reason)
{
	(void)err;
	(void)reason;
	if (relay.held == s)
		relay.held = NULL;
	free(user);
}

static void relay_connection(uv_stream_t *listener, int status)
{
	struct conn *c = calloc(1, sizeof(*c));
	const struct stream_callbacks cb = {.user = c, .data = relay_data, .closed = relay_closed};
	struct stream *s;
	CHECK_INT(status, 0);
	CHECK_INT(stream_accept(listener, NULL, &cb, &s), 0);
}

static void release_held_put(void)
{
	if (relay.held)
		respond(relay.held, "204 No Content", NULL, 0);
	relay.held = NULL;
}

/* --------------------------------------------------------- the DNS server */

#define MAX_TXT 4

struct dns_entry {
	char name[200];
	const char *txt[MAX_TXT];
	uint32_t ttl;
};

struct dns_server {
	uv_udp_t udp;
	uint16_t port;
	struct dns_entry entries[4];
	size_t nentries;
	bool silent;
	unsigned queries;
	uint64_t query_times[8];
};

static struct dns_server dns;

static void dns_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	static char storage[2048];
	(void)handle;
	(void)suggested;
	*buf = uv_buf_init(storage, sizeof(storage));
}

static void dns_sent(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req);
}

static void dns_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
		     unsigned flags)
{
	(void)flags;
	if (nread < 12 || !from)
		return;
	const uint8_t *q = (const uint8_t *)buf->base;
	size_t len = (size_t)nread;
	if (dns.queries < 8)
		dns.query_times[dns.queries] = uv_now(&loop);
	dns.queries++;
	if (dns.silent)
		return;
	/* The question's name, dotted and lowercased. */
	char name[256];
	size_t at = 12, out = 0;
	while (at < len && q[at] != 0 && out < 200) {
		size_t l = q[at++];
		if (at + l > len)
			return;
		if (out)
			name[out++] = '.';
		for (size_t i = 0; i < l && out < 250; i++)
			name[out++] = (char)(q[at + i] >= 'A' && q[at + i] <= 'Z' ? q[at + i] + 32
										  : q[at + i]);
		at += l;
	}
	name[out] = '\0';
	at += 1 + 4; /* root, type, class */
	if (at > len)
		return;
	struct {
		uv_udp_send_t req;
		uint8_t msg[1500];
	} *r = malloc(sizeof(*r));
	memcpy(r->msg, q, at);
	size_t n = at;
	r->msg[2] = 0x81; /* QR, RD */
	r->msg[3] = 0x80; /* RA */
	wr16(r->msg + 6, 0);
	wr16(r->msg + 8, 0);
	wr16(r->msg + 10, 0);
	const struct dns_entry *e = NULL;
	for (size_t i = 0; i < dns.nentries; i++)
		if (strcmp(dns.entries[i].name, name) == 0)
			e = &dns.entries[i];
	if (!e) {
		r->msg[3] |= 3; /* NXDOMAIN */
	} else {
		unsigned count = 0;
		for (int i = 0; i < MAX_TXT && e->txt[i]; i++) {
			size_t l = strlen(e->txt[i]);
			wr16(r->msg + n, 0xc00c);
			wr16(r->msg + n + 2, 16);
			wr16(r->msg + n + 4, 1);
			wr32(r->msg + n + 6, e->ttl);
			wr16(r->msg + n + 10, (uint32_t)(l + 1));
			r->msg[n + 12] = (uint8_t)l;
			memcpy(r->msg + n + 13, e->txt[i], l);
			n += 13 + l;
			count++;
		}
		wr16(r->msg + 6, count);
	}
	uv_buf_t b = uv_buf_init((char *)r->msg, (unsigned)n);
	if (uv_udp_send(&r->req, udp, &b, 1, from, dns_sent) != 0)
		free(r);
}

/* --------------------------------------------------------------- helpers */

struct events {
	unsigned found, done;
	unsigned from_dns, from_pkarr;
	int status;
	struct pkarr_record last;
	struct iron_id done_id;
	bool del_in_found;
	struct discovery *d;
};

static void on_found(void *user, const struct iron_id *id, const struct pkarr_record *rec,
		     const char *source)
{
	struct events *e = user;
	(void)id;
	e->found++;
	e->last = *rec;
	if (strcmp(source, "dns") == 0)
		e->from_dns++;
	else if (strcmp(source, "pkarr") == 0)
		e->from_pkarr++;
	if (e->del_in_found) {
		discovery_del(e->d);
		e->d = NULL;
	}
}

static void on_done(void *user, const struct iron_id *id, int status)
{
	struct events *e = user;
	e->done++;
	e->status = status;
	e->done_id = *id;
}

static bool stop_flag;

static void on_stop(uv_timer_t *timer)
{
	(void)timer;
	stop_flag = true;
}

/* Runs the loop until cond() holds, at most limit_ms. */
static bool run_until(bool (*cond)(void *), void *arg, uint64_t limit_ms)
{
	uv_timer_t timer;
	stop_flag = false;
	uv_timer_init(&loop, &timer);
	uv_timer_start(&timer, on_stop, limit_ms, 0);
	while (!cond(arg) && !stop_flag)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return cond(arg);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static bool puts_at_least(void *arg)
{
	return relay.puts >= *(unsigned *)arg;
}

static bool is_done(void *arg)
{
	return ((struct events *)arg)->done > 0;
}

static bool publishes_at_least(void *arg)
{
	struct discovery_info info;
	discovery_get_info(((struct events *)arg)->d, &info);
	return info.publishes >= 1;
}

struct failures_arg {
	struct events *e;
	unsigned n;
};

static bool failures_at_least(void *arg)
{
	struct failures_arg *a = arg;
	struct discovery_info info;
	discovery_get_info(a->e->d, &info);
	return info.publish_failures >= a->n;
}

static void make_identity(uint8_t fill, struct iron_identity *out)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	memset(seed, fill, sizeof(seed));
	identity_from_seed(seed, out);
}

static void z32_of(const struct iron_id *id, char out[IRON_ID_BASE32_LEN + 1])
{
	encoding_zbase32_encode(id->bytes, IRON_ID_LEN, out, IRON_ID_BASE32_LEN + 1);
}

/* The stored packet for id: verified, parsed. Returns its timestamp, 0
 * when there is none or it does not verify. */
static uint64_t stored_record(const struct iron_id *id, struct pkarr_record *rec)
{
	char path[128], z32[IRON_ID_BASE32_LEN + 1];
	z32_of(id, z32);
	snprintf(path, sizeof(path), "/pkarr/%s", z32);
	int i = stored_index(path);
	uint64_t ts;
	const uint8_t *p;
	size_t n;
	if (i < 0 || pkarr_verify(id, relay.bodies[i], relay.lens[i], &ts, &p, &n) != 0 ||
	    pkarr_parse_dns(id, p, n, rec) != 0)
		return 0;
	return ts;
}

/* Puts a packet signed by signer, holding rec, on the relay under id. */
static void put_packet(const struct iron_identity *signer, const struct iron_id *id,
		       const struct pkarr_record *rec)
{
	uint8_t dns_packet[PKARR_MAX_DNS], packet[PKARR_MAX_SIGNED];
	char path[128], z32[IRON_ID_BASE32_LEN + 1];
	int n = pkarr_encode_dns(&signer->id, rec, dns_packet, sizeof(dns_packet));
	CHECK(n > 0);
	int len =
	    pkarr_sign(signer, 1700000000000000ULL, dns_packet, (size_t)n, packet, sizeof(packet));
	CHECK(len > 0);
	z32_of(id, z32);
	snprintf(path, sizeof(path), "/pkarr/%s", z32);
	store(path, packet, (size_t)len);
}

static struct resolver *resolver;
static char pkarr_url[64];

static void new_discovery(struct events *e, const struct iron_identity *me, bool with_pkarr,
			  bool with_dns, uint64_t republish_ms, uint64_t timeout_ms)
{
	const struct discovery_config config = {.pkarr_url = with_pkarr ? pkarr_url : NULL,
						.dns_origin = with_dns ? "Test.Origin." : NULL,
						.republish_ms = republish_ms,
						.lookup_timeout_ms = timeout_ms};
	const struct discovery_callbacks cb = {.user = e, .found = on_found, .done = on_done};
	memset(e, 0, sizeof(*e));
	CHECK_INT(discovery_new(&loop, resolver, me, &config, &cb, &e->d), 0);
}

static void end_discovery(struct events *e)
{
	discovery_del(e->d);
	e->d = NULL;
	uv_run(&loop, UV_RUN_NOWAIT);
}

static void reset_servers(void)
{
	relay.nstored = 0;
	relay.puts = relay.gets = 0;
	relay.fail_puts = 0;
	relay.hold_puts = relay.hold_gets = false;
	dns.nentries = 0;
	dns.queries = 0;
	dns.silent = false;
}

/* ------------------------------------------------------------------ tests */

static void test_publish(void)
{
	struct iron_identity me;
	struct events e;
	struct pkarr_record rec, got;
	struct discovery_info info;
	unsigned want;

	make_identity(5, &me);
	reset_servers();
	new_discovery(&e, &me, true, false, 400, 0);
	discovery_get_info(e.d, &info);
	CHECK(info.publishing);
	CHECK_INT(info.publishes + info.last_publish_ms + (uint64_t)info.last_publish_status, 0);

	memset(&rec, 0, sizeof(rec));
	strcpy(rec.relay, "http://relay.example:3340");
	CHECK_INT(netaddr_parse("192.0.2.1:4433", &rec.addrs[0]), 0);
	CHECK_INT(netaddr_parse("[2001:db8::1]:4433", &rec.addrs[1]), 0);
	rec.naddrs = 2;
	discovery_publish(e.d, &rec);
	CHECK_INT(relay.puts, 0); /* nothing from inside the call */
	CHECK(run_until(publishes_at_least, &e, 3000));
	CHECK_INT(relay.puts, 1);
	CHECK_STR(relay.last_content_type, ""); /* none, as iroh */
	uint64_t ts1 = stored_record(&me.id, &got);
	CHECK(ts1 > 1700000000000000ULL);
	CHECK_STR(got.relay, "http://relay.example:3340/");
	CHECK_INT(got.naddrs, 2);
	CHECK(netaddr_equal(&got.addrs[1].sa, &rec.addrs[1].sa));
	CHECK_INT(got.ttl, PKARR_TTL);
	discovery_get_info(e.d, &info);
	CHECK_INT(info.publishes, 1);
	CHECK_INT(info.last_publish_status, 204);
	CHECK(info.last_publish_ms > 0);
	CHECK_STR(info.last_error, "");

	/* The same record: no PUT before the republish interval. */
	discovery_publish(e.d, &rec);
	run_until(never, NULL, 150);
	CHECK_INT(relay.puts, 1);

	/* A change: published at once. */
	rec.naddrs = 1;
	discovery_publish(e.d, &rec);
	want = 2;
	CHECK(run_until(puts_at_least, &want, 300));
	run_until(never, NULL, 20);
	uint64_t ts2 = stored_record(&me.id, &got);
	CHECK(ts2 > ts1);
	CHECK_INT(got.naddrs, 1);

	/* Unchanged: published again after the interval (400 ms). */
	uint64_t t0 = uv_now(&loop);
	want = 3;
	CHECK(run_until(puts_at_least, &want, 2000));
	CHECK(uv_now(&loop) - t0 >= 300);
	run_until(never, NULL, 20);
	CHECK(stored_record(&me.id, &got) > ts2);
	CHECK_INT(got.naddrs, 1);

	/* A change while a PUT is in flight: the PUT ends, the new one goes. */
	relay.hold_puts = true;
	rec.naddrs = 2;
	discovery_publish(e.d, &rec);
	want = 4;
	CHECK(run_until(puts_at_least, &want, 2000));
	rec.naddrs = 0;
	discovery_publish(e.d, &rec);
	run_until(never, NULL, 100);
	CHECK_INT(relay.puts, 4);
	relay.hold_puts = false;
	release_held_put();
	want = 5;
	CHECK(run_until(puts_at_least, &want, 2000));
	run_until(never, NULL, 20);
	stored_record(&me.id, &got);
	CHECK_INT(got.naddrs, 0);
	CHECK_STR(got.relay, "http://relay.example:3340/");
	end_discovery(&e);
	identity_wipe(&me);
}

static void test_publish_backoff(void)
{
	struct iron_identity me;
	struct events e;
	struct pkarr_record rec;
	struct discovery_info info;
	unsigned want;

	make_identity(6, &me);
	reset_servers();
	relay.fail_puts = 3;
	new_discovery(&e, &me, true, false, 60000, 0);
	memset(&rec, 0, sizeof(rec));
	strcpy(rec.relay, "https://r.example/");
	discovery_publish(e.d, &rec);
	want = 1;
	CHECK(run_until(puts_at_least, &want, 2000));
	run_until(never, NULL, 20);
	discovery_get_info(e.d, &info);
	CHECK_INT(info.publish_failures, 1);
	CHECK_INT(info.last_publish_status, 500);
	CHECK(strstr(info.last_error, "500") != NULL);
	/* The same record again does not hurry the backoff: 1 s. */
	discovery_publish(e.d, &rec);
	want = 2;
	CHECK(run_until(puts_at_least, &want, 3000));
	CHECK(relay.put_times[1] - relay.put_times[0] >= 950);
	CHECK(relay.put_times[1] - relay.put_times[0] < 1800);
	CHECK(run_until(failures_at_least, &(struct failures_arg){&e, 2}, 1000));
	/* The second failure set 2 s; a new record goes out within 1 s. */
	strcpy(rec.relay, "https://r2.example/");
	discovery_publish(e.d, &rec);
	want = 3;
	CHECK(run_until(puts_at_least, &want, 3000));
	CHECK(relay.put_times[2] - relay.put_times[1] < 1500);
	CHECK(run_until(failures_at_least, &(struct failures_arg){&e, 3}, 1000));
	/* The third set 4 s; again a change is sent within 1 s. */
	strcpy(rec.relay, "https://r3.example/");
	discovery_publish(e.d, &rec);
	want = 4;
	CHECK(run_until(puts_at_least, &want, 3000));
	CHECK(relay.put_times[3] - relay.put_times[2] >= 950);
	CHECK(relay.put_times[3] - relay.put_times[2] < 1500);
	CHECK(run_until(publishes_at_least, &e, 1000));
	discovery_get_info(e.d, &info);
	CHECK_INT(info.publish_failures, 3);
	CHECK_INT(info.publishes, 1);
	CHECK_INT(info.last_publish_status, 204);
	CHECK_STR(info.last_error, "");
	struct pkarr_record got;
	stored_record(&me.id, &got);
	CHECK_STR(got.relay, "https://r3.example/");
	end_discovery(&e);

	/* A relay that refuses connections: a failure with the reason. */
	const struct discovery_config config = {.pkarr_url = "http://127.0.0.1:9/pkarr/"};
	struct discovery *d;
	CHECK_INT(discovery_new(&loop, resolver, &me, &config, NULL, &d), 0);
	discovery_publish(d, &rec);
	for (int i = 0; i < 200; i++) {
		discovery_get_info(d, &info);
		if (info.publish_failures)
			break;
		run_until(never, NULL, 10);
	}
	CHECK_INT(info.publish_failures, 1);
	CHECK_INT(info.last_publish_status, -ECONNREFUSED);
	CHECK(strstr(info.last_error, "cannot connect") != NULL);
	discovery_del(d);

	/* Without a pkarr URL nothing is published. */
	const struct discovery_config dns_only = {.dns_origin = "test.origin"};
	CHECK_INT(discovery_new(&loop, resolver, &me, &dns_only, NULL, &d), 0);
	discovery_publish(d, &rec);
	discovery_get_info(d, &info);
	CHECK(!info.publishing);
	discovery_del(d);
	identity_wipe(&me);
}

static void test_lookup(void)
{
	struct iron_identity me, peer, other;
	struct events e;
	struct pkarr_record rec;
	char z32[IRON_ID_BASE32_LEN + 1], name[200];

	make_identity(7, &me);
	make_identity(8, &peer);
	make_identity(9, &other);
	z32_of(&peer.id, z32);
	snprintf(name, sizeof(name), "_iroh.%s.test.origin", z32);

	/* By pkarr only. */
	reset_servers();
	memset(&rec, 0, sizeof(rec));
	strcpy(rec.relay, "https://relay.peer/");
	CHECK_INT(netaddr_parse("198.51.100.7:1234", &rec.addrs[0]), 0);
	rec.naddrs = 1;
	put_packet(&peer, &peer.id, &rec);
	new_discovery(&e, &me, true, false, 0, 2000);
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0);
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0); /* in flight: the same */
	CHECK_INT(e.found + e.done, 0);
	CHECK(run_until(is_done, &e, 3000));
	CHECK_INT(e.done, 1);
	CHECK_INT(e.status, 0);
	CHECK(id_equal(&e.done_id, &peer.id));
	CHECK_INT(e.from_pkarr, 1);
	CHECK_INT(e.from_dns, 0);
	CHECK_STR(e.last.relay, "https://relay.peer/");
	CHECK_INT(e.last.naddrs, 1);
	CHECK(netaddr_equal(&e.last.addrs[0].sa, &rec.addrs[0].sa));
	CHECK_INT(relay.gets, 1);
	struct discovery_info info;
	discovery_get_info(e.d, &info);
	CHECK_INT(info.lookups, 1);
	CHECK_INT(info.lookups_found, 1);
	CHECK_INT(info.lookups_in_flight, 0);
	end_discovery(&e);

	/* By DNS only, the origin as configured ("Test.Origin."). */
	reset_servers();
	snprintf(dns.entries[0].name, sizeof(dns.entries[0].name), "%s", name);
	dns.entries[0].txt[0] = "addr=203.0.113.5:7";
	dns.entries[0].txt[1] = "relay=https://relay.dns/";
	dns.entries[0].txt[2] = "user-data=ignored";
	dns.entries[0].ttl = 77;
	dns.nentries = 1;
	new_discovery(&e, &me, false, true, 0, 2000);
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0);
	CHECK(run_until(is_done, &e, 3000));
	CHECK_INT(e.status, 0);
	CHECK_INT(e.from_dns, 1);
	CHECK_INT(e.from_pkarr, 0);
	CHECK_STR(e.last.relay, "https://relay.dns/");
	CHECK_INT(e.last.naddrs, 1);
	CHECK_INT(e.last.ttl, 77);
	CHECK_INT(dns.queries, 1);
	end_discovery(&e);

	/* Both: found twice, done once. */
	put_packet(&peer, &peer.id, &rec);
	new_discovery(&e, &me, true, true, 0, 2000);
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0);
	CHECK(run_until(is_done, &e, 3000));
	CHECK_INT(e.status, 0);
	CHECK_INT(e.from_dns, 1);
	CHECK_INT(e.from_pkarr, 1);
	CHECK_INT(e.done, 1);
	end_discovery(&e);

	/* Not found anywhere (NXDOMAIN, 404). */
	new_discovery(&e, &me, true, true, 0, 2000);
	CHECK_INT(discovery_lookup(e.d, &other.id), 0);
	CHECK(run_until(is_done, &e, 3000));
	CHECK_INT(e.status, -ENOENT);
	CHECK_INT(e.found, 0);
	discovery_get_info(e.d, &info);
	CHECK_INT(info.lookups_failed, 1);
	end_discovery(&e);

	/* A packet signed by another key: refused. */
	reset_servers();
	put_packet(&other, &peer.id, &rec);
	new_discovery(&e, &me, true, false, 0, 2000);
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0);
	CHECK(run_until(is_done, &e, 3000));
	CHECK_INT(e.status, -EKEYREJECTED);
	CHECK_INT(e.found, 0);
	end_discovery(&e);

	/* A record with nothing iron can use is not found. */
	reset_servers();
	snprintf(dns.entries[0].name, sizeof(dns.entries[0].name), "%s", name);
	dns.entries[0].txt[0] = "user-data=x";
	dns.entries[0].txt[1] = NULL;
	dns.nentries = 1;
	new_discovery(&e, &me, false, true, 0, 2000);
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0);
	CHECK(run_until(is_done, &e, 3000));
	CHECK_INT(e.status, -ENOENT);
	CHECK_INT(e.found, 0);
	end_discovery(&e);

	/* found() may delete everything: no done() after. */
	reset_servers();
	put_packet(&peer, &peer.id, &rec);
	new_discovery(&e, &me, true, false, 0, 2000);
	e.del_in_found = true;
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0);
	CHECK(run_until(never, NULL, 300) == false);
	CHECK_INT(e.found, 1);
	CHECK_INT(e.done, 0);
	CHECK(e.d == NULL);
	identity_wipe(&me);
	identity_wipe(&peer);
	identity_wipe(&other);
}

static void test_lookup_timeout(void)
{
	struct iron_identity me, peer;
	struct events e;

	make_identity(10, &me);
	make_identity(11, &peer);
	reset_servers();
	dns.silent = true;
	relay.hold_gets = true;
	new_discovery(&e, &me, true, true, 0, 3500);
	uint64_t t0 = uv_now(&loop);
	CHECK_INT(discovery_lookup(e.d, &peer.id), 0);
	CHECK(run_until(is_done, &e, 6000));
	uint64_t took = uv_now(&loop) - t0;
	CHECK_INT(e.status, -ETIMEDOUT);
	CHECK(took >= 3450 && took < 4500);
	/* The DNS tries at 0, 1 and 3 s (the resolver itself does not retry:
	 * tries 1). */
	CHECK_INT(dns.queries, 3);
	CHECK(dns.query_times[1] - dns.query_times[0] >= 950);
	CHECK(dns.query_times[1] - dns.query_times[0] < 1600);
	CHECK(dns.query_times[2] - dns.query_times[0] >= 2950);
	CHECK(dns.query_times[2] - dns.query_times[0] < 3600);
	CHECK_INT(relay.gets, 1);
	end_discovery(&e);
	identity_wipe(&me);
	identity_wipe(&peer);
}

static void test_limits(void)
{
	struct iron_identity me;
	struct events e;
	struct discovery *d;

	make_identity(12, &me);
	reset_servers();
	dns.silent = true;
	relay.hold_gets = true;

	const struct discovery_config none = {0};
	CHECK_INT(discovery_new(&loop, resolver, &me, &none, NULL, &d), 0);
	struct iron_id id = me.id;
	CHECK_INT(discovery_lookup(d, &id), -ENOTSUP);
	discovery_del(d);
	discovery_del(NULL);

	const struct discovery_config bad[] = {
	    {.pkarr_url = ""},
	    {.pkarr_url = "///"},
	    {.dns_origin = ""},
	    {.dns_origin = "."},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(discovery_new(&loop, resolver, &me, &bad[i], NULL, &d), -EINVAL);
	const struct discovery_config needs_resolver = {.dns_origin = "x.example"};
	CHECK_INT(discovery_new(&loop, NULL, &me, &needs_resolver, NULL, &d), -EINVAL);

	/* DISCOVERY_MAX_LOOKUPS at once, then -EBUSY; deleting with all of
	 * them (and a PUT) in flight calls nothing. */
	new_discovery(&e, &me, true, true, 0, 10000);
	for (int i = 0; i < DISCOVERY_MAX_LOOKUPS; i++) {
		id.bytes[0] = (uint8_t)i;
		id.bytes[1] = (uint8_t)(i >> 8);
		CHECK_INT(discovery_lookup(e.d, &id), 0);
	}
	id.bytes[2] ^= 1;
	CHECK_INT(discovery_lookup(e.d, &id), -EBUSY);
	relay.hold_puts = true;
	struct pkarr_record rec;
	memset(&rec, 0, sizeof(rec));
	strcpy(rec.relay, "https://x.example/");
	discovery_publish(e.d, &rec);
	run_until(never, NULL, 200);
	struct discovery_info info;
	discovery_get_info(e.d, &info);
	CHECK_INT(info.lookups_in_flight, DISCOVERY_MAX_LOOKUPS);
	end_discovery(&e);
	run_until(never, NULL, 50);
	CHECK_INT(e.found + e.done, 0);
	release_held_put();
	identity_wipe(&me);
}

int main(void)
{
	uv_loop_init(&loop);

	struct sockaddr_in sin;
	int namelen = sizeof(sin);
	uv_tcp_init(&loop, &relay.listener);
	uv_ip4_addr("127.0.0.1", 0, &sin);
	CHECK_INT(uv_tcp_bind(&relay.listener, (const struct sockaddr *)&sin, 0), 0);
	CHECK_INT(uv_listen((uv_stream_t *)&relay.listener, 128, relay_connection), 0);
	uv_tcp_getsockname(&relay.listener, (struct sockaddr *)&sin, &namelen);
	relay.port = ntohs(sin.sin_port);
	snprintf(pkarr_url, sizeof(pkarr_url), "http://127.0.0.1:%u/pkarr/", relay.port);

	uv_udp_init(&loop, &dns.udp);
	uv_ip4_addr("127.0.0.1", 0, &sin);
	CHECK_INT(uv_udp_bind(&dns.udp, (const struct sockaddr *)&sin, 0), 0);
	namelen = sizeof(sin);
	uv_udp_getsockname(&dns.udp, (struct sockaddr *)&sin, &namelen);
	dns.port = ntohs(sin.sin_port);
	CHECK_INT(uv_udp_recv_start(&dns.udp, dns_alloc, dns_recv), 0);

	struct netaddr server;
	CHECK_INT(netaddr_parse_host("127.0.0.1", dns.port, &server), 0);
	const struct resolver_options options = {
	    .servers = &server, .nservers = 1, .timeout_ms = 5000, .tries = 1};
	CHECK_INT(resolver_new(&loop, &options, &resolver), 0);

	test_publish();
	test_publish_backoff();
	test_lookup();
	test_lookup_timeout();
	test_limits();

	resolver_del(resolver);
	uv_close((uv_handle_t *)&relay.listener, NULL);
	uv_close((uv_handle_t *)&dns.udp, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_alive(&loop), 0);
	CHECK_INT(uv_loop_close(&loop), 0);
	return check_done();
}
