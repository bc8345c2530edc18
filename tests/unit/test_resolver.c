/* The resolver on a real loop against two DNS servers in this process, on
 * 127.0.0.1 and free ports: one that answers A, AAAA and TXT from a fixed
 * table (NXDOMAIN for the rest, REFUSED for one name), one that never
 * answers. Host lookups (both families, numeric hosts, NXDOMAIN, timeout),
 * raw queries (rcodes, every_rcode), TXT records, cancellation, the cap on
 * lookups in flight, 100 lookups at once, resolver_del() with lookups
 * pending and from inside a callback. Every handle is closed and the loop
 * must be empty at the end. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <uv.h>

#include "check.h"
#include "testutil.h"
#include "iron/dns.h"
#include "iron/netaddr.h"
#include "iron/resolver.h"

static uv_loop_t loop;

/* --- the responder ----------------------------------------------------- */

struct responder {
	uv_udp_t udp;
	uint16_t port;
	unsigned queries;
};

static struct responder live, silent;

/* The question's name, lowercased and dotted, and its type; the length of
 * the question section from offset 12, or 0 when it does not parse. */
static size_t read_question(const uint8_t *msg, size_t len, char *name, size_t cap, uint16_t *qtype)
{
	size_t at = DNS_HEADER_LEN, out = 0;

	if (len < DNS_HEADER_LEN || rd16(msg + 4) != 1)
		return 0;
	for (;;) {
		if (at >= len)
			return 0;
		size_t label = msg[at++];
		if (label == 0)
			break;
		if (label > 63 || at + label > len || out + label + 2 > cap)
			return 0;
		if (out)
			name[out++] = '.';
		for (size_t i = 0; i < label; i++) {
			char c = (char)msg[at + i];
			name[out++] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		}
		at += label;
	}
	name[out] = '\0';
	if (at + 4 > len)
		return 0;
	*qtype = rd16(msg + at);
	return at + 4 - DNS_HEADER_LEN;
}

struct reply {
	uint8_t buf[1024];
	size_t len;
	uint16_t ancount;
};

static void add_record(struct reply *r, uint16_t type, const void *data, size_t len)
{
	uint8_t *p = r->buf + r->len;
	wr16(p, 0xc00c); /* the question's name */
	wr16(p + 2, type);
	wr16(p + 4, DNS_CLASS_IN);
	wr32(p + 6, 60);
	wr16(p + 10, (uint32_t)len);
	memcpy(p + 12, data, len);
	r->len += 12 + len;
	r->ancount++;
}

static void add_a(struct reply *r, const char *text)
{
	struct in_addr a;
	inet_pton(AF_INET, text, &a);
	add_record(r, DNS_TYPE_A, &a, sizeof(a));
}

static void add_aaaa(struct reply *r, const char *text)
{
	struct in6_addr a = addr(text);
	add_record(r, DNS_TYPE_AAAA, &a, sizeof(a));
}

/* Fills the answer section for name and type; returns the rcode. */
static int lookup_table(const char *name, uint16_t qtype, struct reply *r)
{
	unsigned n;
	char tail[16];

	if (strcmp(name, "dual.test") == 0) {
		if (qtype == DNS_TYPE_A) {
			add_a(r, "192.0.2.1");
			add_a(r, "192.0.2.2");
		} else if (qtype == DNS_TYPE_AAAA) {
			add_aaaa(r, "2001:db8::1");
		}
		return DNS_RCODE_NOERROR;
	}
	if (strcmp(name, "txt.test") == 0) {
		static const uint8_t one[] = "\x1c"
					     "relay=https://relay.example/";
		static const uint8_t two[] = "\x0e"
					     "addr=1.2.3.4:5"
					     "\x06 extra";
		if (qtype == DNS_TYPE_TXT) {
			add_record(r, DNS_TYPE_TXT, one, sizeof(one) - 1);
			add_record(r, DNS_TYPE_TXT, two, sizeof(two) - 1);
		}
		return DNS_RCODE_NOERROR;
	}
	if (strcmp(name, "refused.test") == 0)
		return DNS_RCODE_REFUSED;
	/* h0.test .. h99.test: 10.1.0.N and 2001:db8::1:N */
	if (sscanf(name, "h%u.%15s", &n, tail) == 2 && n < 100 && strcmp(tail, "test") == 0) {
		char text[64];
		if (qtype == DNS_TYPE_A) {
			snprintf(text, sizeof(text), "10.1.0.%u", n);
			add_a(r, text);
		} else if (qtype == DNS_TYPE_AAAA) {
			snprintf(text, sizeof(text), "2001:db8::1:%u", n);
			add_aaaa(r, text);
		}
		return DNS_RCODE_NOERROR;
	}
	return DNS_RCODE_NXDOMAIN;
}

static void on_send(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req);
}

static void alloc_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	static char storage[2048];
	(void)handle;
	(void)suggested;
	*buf = uv_buf_init(storage, sizeof(storage));
}

static void on_query(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
		     unsigned flags)
{
	struct responder *s = udp->data;
	const uint8_t *msg = (const uint8_t *)buf->base;
	struct {
		uv_udp_send_t req;
		struct reply reply;
	} * out;
	char name[256];
	uint16_t qtype = 0;
	size_t qlen;
	int rcode;
	(void)flags;

	if (nread <= 0 || !from)
		return;
	s->queries++;
	qlen = read_question(msg, (size_t)nread, name, sizeof(name), &qtype);
	if (qlen == 0 || !(out = calloc(1, sizeof(*out))))
		return;
	memcpy(out->reply.buf, msg, DNS_HEADER_LEN + qlen);
	out->reply.len = DNS_HEADER_LEN + qlen;
	rcode = lookup_table(name, qtype, &out->reply);
	out->reply.buf[2] = (uint8_t)(0x80 | (msg[2] & 0x01)); /* QR, RD as asked */
	out->reply.buf[3] = (uint8_t)(0x80 | rcode);	       /* RA */
	wr16(out->reply.buf + 6, out->reply.ancount);
	wr16(out->reply.buf + 8, 0);
	wr16(out->reply.buf + 10, 0);
	uv_buf_t reply = uv_buf_init((char *)out->reply.buf, (unsigned)out->reply.len);
	if (uv_udp_send(&out->req, udp, &reply, 1, from, on_send) != 0)
		free(out);
}

/* Binds s to 127.0.0.1 on a free port; answers only when answering. The
 * handle is unreferenced: the loop runs while the resolver has work. */
static int responder_start(struct responder *s, bool answering)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_storage bound;
	int len = sizeof(bound), rc;

	if ((rc = uv_udp_init(&loop, &s->udp)) < 0)
		return rc;
	s->udp.data = s;
	if ((rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&sin, 0)) < 0 ||
	    (rc = uv_udp_getsockname(&s->udp, (struct sockaddr *)&bound, &len)) < 0)
		return rc;
	s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	if (answering && (rc = uv_udp_recv_start(&s->udp, alloc_buffer, on_query)) < 0)
		return rc;
	uv_unref((uv_handle_t *)&s->udp);
	return 0;
}

/* --- callbacks that record what they got ------------------------------- */

struct outcome {
	unsigned calls;
	int status;
	struct netaddr addrs[RESOLVER_ADDRS_MAX];
	size_t naddrs;
	uint8_t answer[1024];
	size_t answer_len;
	char txt[4][64];
	size_t ntxt;
	uint64_t at_ms;
};

static void on_host(void *user, int status, const struct netaddr *addrs, size_t n)
{
	struct outcome *o = user;
	o->calls++;
	o->status = status;
	o->at_ms = now_ms();
	o->naddrs = n < RESOLVER_ADDRS_MAX ? n : RESOLVER_ADDRS_MAX;
	if (n)
		memcpy(o->addrs, addrs, o->naddrs * sizeof(*addrs));
	CHECK(status == 0 ? addrs != NULL && n > 0 : addrs == NULL && n == 0);
}

static void on_answer(void *user, int status, const uint8_t *answer, size_t len)
{
	struct outcome *o = user;
	o->calls++;
	o->status = status;
	o->at_ms = now_ms();
	o->answer_len = len < sizeof(o->answer) ? len : sizeof(o->answer);
	if (len)
		memcpy(o->answer, answer, o->answer_len);
	CHECK(status == 0 ? answer != NULL && len >= DNS_HEADER_LEN : answer == NULL && len == 0);
}

static void on_txt(void *user, int status, const struct resolver_txt *records, size_t n)
{
	struct outcome *o = user;
	o->calls++;
	o->status = status;
	for (size_t i = 0; i < n && i < 4; i++)
		snprintf(o->txt[i], sizeof(o->txt[i]), "%.*s", (int)records[i].len,
			 (const char *)records[i].data);
	o->ntxt = n;
}

static bool has_addr(const struct outcome *o, const char *text)
{
	struct netaddr want;
	if (netaddr_parse(text, &want) != 0)
		return false;
	for (size_t i = 0; i < o->naddrs; i++)
		if (netaddr_equal(&o->addrs[i].sa, &want.sa))
			return true;
	return false;
}

static struct resolver *resolver_on(const struct responder *s, unsigned timeout_ms,
				    unsigned max_queries, bool every_rcode)
{
	struct netaddr server;
	struct resolver_options options = {
	    .servers = &server,
	    .nservers = 1,
	    .timeout_ms = timeout_ms,
	    .tries = 1,
	    .max_queries = max_queries,
	    .every_rcode = every_rcode,
	};
	struct resolver *r = NULL;

	netaddr_parse_host("127.0.0.1", s->port, &server);
	CHECK_INT(resolver_new(&loop, &options, &r), 0);
	return r;
}

/* Deletes r and runs the loop until its handles are closed. */
static void finish(struct resolver *r)
{
	resolver_del(r);
	uv_run(&loop, UV_RUN_DEFAULT);
}

/* --- the tests ---------------------------------------------------------- */

static void test_host_both_families(void)
{
	struct resolver *r = resolver_on(&live, 2000, 0, false);
	struct outcome o = {0};
	struct resolver_query *q = NULL;

	CHECK_INT(resolver_lookup_host(r, "dual.test", 4433, on_host, &o, &q), 0);
	CHECK(q != NULL);
	CHECK_INT(o.calls, 0);
	CHECK_INT(resolver_pending(r), 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(o.calls, 1);
	CHECK_INT(o.status, 0);
	CHECK_INT(o.naddrs, 3);
	CHECK(has_addr(&o, "192.0.2.1:4433"));
	CHECK(has_addr(&o, "192.0.2.2:4433"));
	CHECK(has_addr(&o, "[2001:db8::1]:4433"));
	CHECK_INT(resolver_pending(r), 0);
	finish(r);
}

static void test_numeric_host(void)
{
	struct resolver *r = resolver_on(&live, 2000, 0, false);
	struct outcome v4 = {0}, v6 = {0};
	unsigned before = live.queries;

	CHECK_INT(resolver_lookup_host(r, "192.0.2.7", 53, on_host, &v4, NULL), 0);
	CHECK_INT(resolver_lookup_host(r, "2001:db8::7", 853, on_host, &v6, NULL), 0);
	/* Not from inside the call: on the next loop iteration. */
	CHECK_INT(v4.calls, 0);
	CHECK_INT(v6.calls, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(v4.calls, 1);
	CHECK_INT(v4.status, 0);
	CHECK_INT(v4.naddrs, 1);
	CHECK(has_addr(&v4, "192.0.2.7:53"));
	CHECK_INT(v6.calls, 1);
	CHECK_INT(v6.naddrs, 1);
	CHECK(has_addr(&v6, "[2001:db8::7]:853"));
	CHECK_INT(live.queries, before); /* no query sent */
	finish(r);
}

/* An answer c-ares has at once (/etc/hosts) also comes on the next loop
 * iteration, not from inside the call. */
static void test_hosts_file(void)
{
	struct resolver *r = resolver_on(&silent, 200, 0, false);
	struct outcome o = {0};

	CHECK_INT(resolver_lookup_host(r, "localhost", 9, on_host, &o, NULL), 0);
	CHECK_INT(o.calls, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(o.calls, 1);
	/* Where /etc/hosts has no localhost the silent server times out. */
	if (o.status == 0) {
		CHECK(o.naddrs >= 1);
		for (size_t i = 0; i < o.naddrs; i++)
			CHECK_INT(netaddr_port(&o.addrs[i].sa), 9);
		CHECK(has_addr(&o, "127.0.0.1:9") || has_addr(&o, "[::1]:9"));
	} else {
		CHECK_INT(o.status, -ETIMEDOUT);
	}
	finish(r);
}

static void test_nxdomain(void)
{
	struct resolver *r = resolver_on(&live, 2000, 0, false);
	struct outcome host = {0}, raw = {0}, txt = {0}, nodata = {0};

	CHECK_INT(resolver_lookup_host(r, "missing.test", 1, on_host, &host, NULL), 0);
	CHECK_INT(resolver_query(r, "missing.test", DNS_TYPE_AAAA, on_answer, &raw, NULL), 0);
	CHECK_INT(resolver_query_txt(r, "missing.test", on_txt, &txt, NULL), 0);
	CHECK_INT(resolver_query_txt(r, "dual.test", on_txt, &nodata, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(host.calls, 1);
	CHECK_INT(host.status, -ENOENT);
	CHECK_STR(resolver_strerror(host.status), "no such name (NXDOMAIN)");
	/* A raw query reports the response, whatever its rcode. */
	CHECK_INT(raw.calls, 1);
	CHECK_INT(raw.status, 0);
	CHECK_INT(raw.answer[3] & 0x0f, DNS_RCODE_NXDOMAIN);
	CHECK_INT(txt.calls, 1);
	CHECK_INT(txt.status, -ENOENT);
	CHECK_INT(nodata.calls, 1);
	CHECK_INT(nodata.status, -ENODATA);
	finish(r);
}

static void test_raw_query(void)
{
	struct resolver *r = resolver_on(&live, 2000, 0, false);
	struct outcome o = {0}, bad = {0};
	char label[80];

	CHECK_INT(resolver_query(r, "DUAL.test", DNS_TYPE_AAAA, on_answer, &o, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(o.calls, 1);
	CHECK_INT(o.status, 0);
	CHECK_INT(o.answer[3] & 0x0f, DNS_RCODE_NOERROR);
	CHECK_INT(rd16(o.answer + 6), 1);
	/* The last 16 bytes are the AAAA record's data. */
	struct in6_addr want = addr("2001:db8::1");
	CHECK(o.answer_len > 16 && memcmp(o.answer + o.answer_len - 16, &want, 16) == 0);

	/* Not a name: an error at once, and no callback. */
	memset(label, 'a', 70);
	strcpy(label + 70, ".test");
	CHECK_INT(resolver_query(r, label, DNS_TYPE_AAAA, on_answer, &bad, NULL), -EINVAL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(bad.calls, 0);
	CHECK_INT(resolver_pending(r), 0);
	finish(r);
}

static void test_every_rcode(void)
{
	struct resolver *strict = resolver_on(&live, 2000, 0, false);
	struct resolver *lenient = resolver_on(&live, 2000, 0, true);
	struct outcome refused = {0}, answered = {0};

	CHECK_INT(resolver_query(strict, "refused.test", DNS_TYPE_A, on_answer, &refused, NULL), 0);
	CHECK_INT(resolver_query(lenient, "refused.test", DNS_TYPE_A, on_answer, &answered, NULL),
		  0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(refused.calls, 1);
	/* c-ares 1.18 reports a REFUSED reply as ECONNREFUSED, later ones as
	 * EREFUSED. */
	CHECK(refused.status == -EACCES || refused.status == -ECONNREFUSED);
	CHECK_INT(answered.calls, 1);
	CHECK_INT(answered.status, 0);
	CHECK_INT(answered.answer[3] & 0x0f, DNS_RCODE_REFUSED);
	finish(strict);
	finish(lenient);
}

static void test_txt(void)
{
	struct resolver *r = resolver_on(&live, 2000, 0, false);
	struct outcome o = {0};

	CHECK_INT(resolver_query_txt(r, "txt.test", on_txt, &o, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(o.calls, 1);
	CHECK_INT(o.status, 0);
	CHECK_INT(o.ntxt, 2);
	CHECK_STR(o.txt[0], "relay=https://relay.example/");
	CHECK_STR(o.txt[1], "addr=1.2.3.4:5 extra"); /* two strings, joined */
	finish(r);
}

static void test_timeout(void)
{
	struct resolver *r = resolver_on(&silent, 200, 0, false);
	struct outcome host = {0}, raw = {0};
	uint64_t start = now_ms();

	CHECK_INT(resolver_query(r, "dual.test", DNS_TYPE_AAAA, on_answer, &raw, NULL), 0);
	CHECK_INT(resolver_lookup_host(r, "dual.test", 1, on_host, &host, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(raw.calls, 1);
	CHECK_INT(raw.status, -ETIMEDOUT);
	CHECK(raw.at_ms - start >= 190 && raw.at_ms - start < 1500);
	CHECK_INT(host.calls, 1);
	CHECK_INT(host.status, -ETIMEDOUT);
	CHECK(host.at_ms - start >= 190 && host.at_ms - start < 1500);
	CHECK_INT(resolver_pending(r), 0);
	finish(r);
}

static void test_cancel(void)
{
	struct resolver *r = resolver_on(&silent, 200, 0, false);
	struct outcome host = {0}, raw = {0}, numeric = {0}, kept = {0};
	struct resolver_query *qh, *qr, *qn;

	CHECK_INT(resolver_lookup_host(r, "dual.test", 1, on_host, &host, &qh), 0);
	CHECK_INT(resolver_query(r, "dual.test", DNS_TYPE_TXT, on_answer, &raw, &qr), 0);
	CHECK_INT(resolver_lookup_host(r, "192.0.2.9", 1, on_host, &numeric, &qn), 0);
	CHECK_INT(resolver_query(r, "dual.test", DNS_TYPE_A, on_answer, &kept, NULL), 0);
	CHECK_INT(resolver_pending(r), 4);

	resolver_cancel(qh);
	resolver_cancel(qr);
	resolver_cancel(qn);
	/* At once, once, with -ECANCELED. */
	CHECK_INT(host.calls, 1);
	CHECK_INT(host.status, -ECANCELED);
	CHECK_INT(raw.calls, 1);
	CHECK_INT(raw.status, -ECANCELED);
	CHECK_INT(numeric.calls, 1);
	CHECK_INT(numeric.status, -ECANCELED);
	/* The numeric one is gone; c-ares still holds the other two. */
	CHECK_INT(resolver_pending(r), 3);

	uv_run(&loop, UV_RUN_DEFAULT); /* until c-ares gives up on them */
	CHECK_INT(host.calls, 1);
	CHECK_INT(raw.calls, 1);
	CHECK_INT(numeric.calls, 1);
	CHECK_INT(kept.calls, 1);
	CHECK_INT(kept.status, -ETIMEDOUT);
	CHECK_INT(resolver_pending(r), 0);
	finish(r);
}

static void test_limit(void)
{
	struct resolver *r = resolver_on(&silent, 5000, 0, false);
	struct outcome o[RESOLVER_MAX_QUERIES_DEFAULT + 1];
	struct resolver_query *q = NULL;
	unsigned cancelled = 0;

	memset(o, 0, sizeof(o));
	for (unsigned i = 0; i < RESOLVER_MAX_QUERIES_DEFAULT; i++)
		CHECK_INT(resolver_lookup_host(r, "dual.test", 1, on_host, &o[i], NULL), 0);
	CHECK_INT(resolver_lookup_host(r, "dual.test", 1, on_host, &o[64], &q), -EAGAIN);
	CHECK(q == NULL);
	CHECK_INT(resolver_query_txt(r, "txt.test", on_txt, &o[64], NULL), -EAGAIN);
	CHECK_STR(resolver_strerror(-EAGAIN), "too many lookups in flight");
	/* del with everything pending: every callback once, before it returns. */
	resolver_del(r);
	for (unsigned i = 0; i < RESOLVER_MAX_QUERIES_DEFAULT; i++)
		cancelled += o[i].calls == 1 && o[i].status == -ECANCELED;
	CHECK_INT(cancelled, RESOLVER_MAX_QUERIES_DEFAULT);
	CHECK_INT(o[64].calls, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (unsigned i = 0; i < RESOLVER_MAX_QUERIES_DEFAULT; i++)
		CHECK_INT(o[i].calls, 1);
}

static void test_hundred(void)
{
	struct resolver *r = resolver_on(&live, 3000, 100, false);
	static struct outcome o[101];
	unsigned good = 0;
	char name[32];

	memset(o, 0, sizeof(o));
	for (unsigned i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "h%u.test", i);
		CHECK_INT(resolver_lookup_host(r, name, 7, on_host, &o[i], NULL), 0);
	}
	CHECK_INT(resolver_lookup_host(r, "h1.test", 7, on_host, &o[100], NULL), -EAGAIN);
	CHECK_INT(resolver_pending(r), 100);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (unsigned i = 0; i < 100; i++) {
		char v4[32], v6[48];
		snprintf(v4, sizeof(v4), "10.1.0.%u:7", i);
		snprintf(v6, sizeof(v6), "[2001:db8::1:%u]:7", i);
		good += o[i].calls == 1 && o[i].status == 0 && o[i].naddrs == 2 &&
			has_addr(&o[i], v4) && has_addr(&o[i], v6);
	}
	CHECK_INT(good, 100);
	CHECK_INT(o[100].calls, 0);
	CHECK_INT(resolver_pending(r), 0);
	finish(r);
}

/* resolver_del() from a callback, while c-ares is on the stack. */
struct del_in_callback {
	struct resolver *r;
	struct outcome first, second, late;
	int late_rc;
};

static void del_from_callback(void *user, int status, const uint8_t *answer, size_t len)
{
	struct del_in_callback *t = user;
	on_answer(&t->first, status, answer, len);
	resolver_del(t->r);
	/* Lookups started from here fail: the resolver is going away. */
	t->late_rc = resolver_query(t->r, "dual.test", DNS_TYPE_A, on_answer, &t->late, NULL);
}

static void test_del_in_callback(void)
{
	struct del_in_callback t = {0};

	t.r = resolver_on(&live, 2000, 0, false);
	CHECK_INT(resolver_query(t.r, "dual.test", DNS_TYPE_A, del_from_callback, &t, NULL), 0);
	CHECK_INT(resolver_lookup_host(t.r, "h5.test", 1, on_host, &t.second, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(t.first.calls, 1);
	CHECK_INT(t.first.status, 0);
	CHECK_INT(t.second.calls, 1);
	CHECK_INT(t.second.status, -ECANCELED);
	CHECK_INT(t.late_rc, -ECANCELED);
	CHECK_INT(t.late.calls, 0);
}

/* resolver_del() from the callback of a numeric host (the idle handle). */
static void del_from_host_callback(void *user, int status, const struct netaddr *addrs, size_t n)
{
	struct del_in_callback *t = user;
	on_host(&t->first, status, addrs, n);
	resolver_del(t->r);
}

static void test_del_in_ready_callback(void)
{
	struct del_in_callback t = {0};

	t.r = resolver_on(&silent, 2000, 0, false);
	CHECK_INT(resolver_lookup_host(t.r, "::1", 1, del_from_host_callback, &t, NULL), 0);
	CHECK_INT(resolver_lookup_host(t.r, "127.0.0.1", 1, on_host, &t.second, NULL), 0);
	CHECK_INT(resolver_query(t.r, "dual.test", DNS_TYPE_A, on_answer, &t.late, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(t.first.calls, 1);
	CHECK_INT(t.first.status, 0);
	CHECK_INT(t.second.calls, 1);
	CHECK_INT(t.second.status, -ECANCELED);
	CHECK_INT(t.late.calls, 1);
	CHECK_INT(t.late.status, -ECANCELED);
}

static void test_options(void)
{
	struct netaddr bad = {0};
	struct resolver_options options = {.servers = &bad, .nservers = 1};
	struct resolver *r = (struct resolver *)&options;

	CHECK_INT(resolver_new(&loop, &options, &r), -EINVAL);
	CHECK(r == NULL);
	/* The system's configuration; nothing asked, nothing left behind. */
	CHECK_INT(resolver_new(&loop, NULL, &r), 0);
	CHECK_INT(resolver_pending(r), 0);
	finish(r);
	resolver_del(NULL);
}

static void on_closed(uv_handle_t *handle)
{
	(void)handle;
}

int main(void)
{
	CHECK_INT(uv_loop_init(&loop), 0);
	CHECK_INT(responder_start(&live, true), 0);
	CHECK_INT(responder_start(&silent, false), 0);

	test_options();
	test_host_both_families();
	test_numeric_host();
	test_hosts_file();
	test_nxdomain();
	test_raw_query();
	test_every_rcode();
	test_txt();
	test_timeout();
	test_cancel();
	test_limit();
	test_hundred();
	test_del_in_callback();
	test_del_in_ready_callback();

	uv_close((uv_handle_t *)&live.udp, on_closed);
	uv_close((uv_handle_t *)&silent.udp, on_closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
	return check_done();
}
