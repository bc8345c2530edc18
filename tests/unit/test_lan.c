/* LAN discovery's mDNS codec: our messages parsed back, the exact layout
 * we write, a response built byte for byte as swarm-discovery (iroh's
 * local discovery) writes it through hickory-proto, legacy unicast
 * replies, and malformed input refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>

#include "check.h"
#include "iron/lan.h"
#include "testutil.h"

/* A valid node ID from a one-byte seed. */
static struct iron_id make_id(uint8_t seed_byte)
{
	uint8_t seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];
	struct iron_id id;
	memset(seed, seed_byte, sizeof(seed));
	crypto_sign_seed_keypair(id.bytes, sk, seed);
	return id;
}

static void add(struct lan_node *node, const char *text)
{
	if (netaddr_parse(text, &node->addrs[node->naddrs]) != 0)
		abort();
	node->naddrs++;
}

static bool has_addr(const struct lan_node *node, const char *text)
{
	struct netaddr want;
	if (netaddr_parse(text, &want) != 0)
		abort();
	for (size_t i = 0; i < node->naddrs; i++)
		if (netaddr_equal(&node->addrs[i].sa, &want.sa))
			return true;
	return false;
}

/* A little writer for hand-built messages. */
struct msg {
	uint8_t b[2048];
	size_t len;
};

static void m_bytes(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void m16(struct msg *m, uint32_t v)
{
	wr16(m->b + m->len, v);
	m->len += 2;
}

static void m32(struct msg *m, uint32_t v)
{
	wr32(m->b + m->len, v);
	m->len += 4;
}

static void m_label(struct msg *m, const char *s)
{
	m->b[m->len++] = (uint8_t)strlen(s);
	m_bytes(m, s, strlen(s));
}

static void m_header(struct msg *m, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
		     uint16_t ar)
{
	m->len = 0;
	m16(m, 0);
	m16(m, flags);
	m16(m, qd);
	m16(m, an);
	m16(m, ns);
	m16(m, ar);
}

/* Type, class, TTL, and the RDLENGTH to patch: returns where it is. */
static size_t m_rr(struct msg *m, uint16_t type, uint16_t class, uint32_t ttl)
{
	m16(m, type);
	m16(m, class);
	m32(m, ttl);
	size_t at = m->len;
	m16(m, 0);
	return at;
}

static void m_end(struct msg *m, size_t at)
{
	wr16(m->b + at, (uint32_t)(m->len - at - 2));
}

static void m_instance(struct msg *m, const char *id)
{
	m_label(m, id);
	m_label(m, "_irohv1");
	m_label(m, "_udp");
	m_label(m, "local");
	m->b[m->len++] = 0;
}

/* What swarm-discovery's make_response() builds for a peer with addresses
 * on ports (192.168.1.5, fd00::5 on 4766; 10.0.0.7 on 5000 when two_ports)
 * and TXT relay=..., serialised by hickory-proto 0.26's BinEncoder: ID 0,
 * QR and AA, no question; answers SRV per port (owner written out, target
 * uncompressed since SRV data is "canonical" RDATA), then TXT (owner a
 * pointer to the SRV owner); additional A/AAAA whose owner points at the
 * target inside the SRV data. Class IN, TTL 0 everywhere. */
static void swarm_response(struct msg *m, const char *id, bool two_ports, const char *relay)
{
	char target[80];
	size_t rd, targets[2];
	uint16_t ports[2] = {4766, 5000};
	int nports = two_ports ? 2 : 1;
	uint8_t v4[4] = {192, 168, 1, 5}, v4b[4] = {10, 0, 0, 7};
	struct in6_addr v6 = addr("fd00::5");

	m_header(m, 0x8400, 0, (uint16_t)(nports + 1), 0, two_ports ? 3 : 2);
	for (int p = 0; p < nports; p++) {
		if (p == 0)
			m_instance(m, id);
		else
			m16(m, 0xc000 | 12);
		rd = m_rr(m, 33, 1, 0);
		m16(m, 0);
		m16(m, 0);
		m16(m, ports[p]);
		targets[p] = m->len;
		snprintf(target, sizeof(target), "%s-%u", id, ports[p]);
		m_label(m, target);
		m_label(m, "local");
		m->b[m->len++] = 0;
		m_end(m, rd);
	}
	m16(m, 0xc000 | 12);
	rd = m_rr(m, 16, 1, 0);
	char kv[300];
	snprintf(kv, sizeof(kv), "relay=%s", relay);
	m_label(m, kv);
	m_label(m, "user-data=hello");
	m_end(m, rd);
	/* Port 4766's addresses, then port 5000's. */
	m16(m, 0xc000 | (uint32_t)targets[0]);
	rd = m_rr(m, 1, 1, 0);
	m_bytes(m, v4, 4);
	m_end(m, rd);
	m16(m, 0xc000 | (uint32_t)targets[0]);
	rd = m_rr(m, 28, 1, 0);
	m_bytes(m, &v6, 16);
	m_end(m, rd);
	if (two_ports) {
		m16(m, 0xc000 | (uint32_t)targets[1]);
		rd = m_rr(m, 1, 1, 0);
		m_bytes(m, v4b, 4);
		m_end(m, rd);
	}
}

static void test_swarm_discovery_response(void)
{
	struct iron_id id = make_id(7);
	char b32[IRON_ID_BASE32_LEN + 1];
	struct lan_node out[4];
	struct msg m;

	id_to_base32(&id, b32);
	swarm_response(&m, b32, false, "https://relay.example.org/");
	CHECK_INT(mdns_parse(m.b, m.len, out, 4), 1);
	CHECK_MEM(out[0].id.bytes, id.bytes, IRON_ID_LEN);
	CHECK_INT(out[0].port, 4766);
	CHECK_INT(out[0].naddrs, 2);
	CHECK(has_addr(&out[0], "192.168.1.5:4766"));
	CHECK(has_addr(&out[0], "[fd00::5]:4766"));
	CHECK_STR(out[0].relay, "https://relay.example.org/");
	CHECK_INT(out[0].ttl, 0);
	CHECK(!mdns_is_service_query(m.b, m.len));

	/* Two ports: each address with the port of its own target. */
	swarm_response(&m, b32, true, "http://10.0.0.1:3340/");
	CHECK_INT(mdns_parse(m.b, m.len, out, 4), 1);
	CHECK_INT(out[0].naddrs, 3);
	CHECK(has_addr(&out[0], "192.168.1.5:4766"));
	CHECK(has_addr(&out[0], "[fd00::5]:4766"));
	CHECK(has_addr(&out[0], "10.0.0.7:5000"));
	CHECK(!has_addr(&out[0], "10.0.0.7:4766"));
	CHECK_STR(out[0].relay, "http://10.0.0.1:3340/");

	/* iroh reads the ID in any case; so do we. */
	char upper[IRON_ID_BASE32_LEN + 1];
	for (size_t i = 0; i <= IRON_ID_BASE32_LEN; i++)
		upper[i] = (char)(b32[i] >= 'a' && b32[i] <= 'z' ? b32[i] - 32 : b32[i]);
	swarm_response(&m, upper, false, "https://r.example/");
	CHECK_INT(mdns_parse(m.b, m.len, out, 4), 1);
	CHECK_MEM(out[0].id.bytes, id.bytes, IRON_ID_LEN);

	/* A label that is no key (iroh drops it): nothing found. */
	char bad[IRON_ID_BASE32_LEN + 1];
	memcpy(bad, b32, sizeof(bad));
	bad[0] = '1'; /* not in the base32 alphabet */
	swarm_response(&m, bad, false, "https://r.example/");
	CHECK_INT(mdns_parse(m.b, m.len, out, 4), 0);
	/* z-base-32 is not what iroh writes here. */
	uint8_t zero[IRON_ID_LEN] = {0};
	char zb[IRON_ID_BASE32_LEN + 1];
	struct iron_id zid;
	memcpy(zid.bytes, zero, sizeof(zero));
	id_to_base32(&zid, zb); /* all 'a': the zero key, not a valid point */
	swarm_response(&m, zb, false, "https://r.example/");
	CHECK_INT(mdns_parse(m.b, m.len, out, 4), 0);
}

/* Walks our own message: header, every record's class and TTL. */
static void check_layout(const uint8_t *b, size_t len, const struct lan_node *node, unsigned ports,
			 unsigned addrs)
{
	char b32[IRON_ID_BASE32_LEN + 1], target[80];
	id_to_base32(&node->id, b32);
	CHECK_INT(rd16(b), 0);
	CHECK_INT(rd16(b + 2), 0x8400);
	CHECK_INT(rd16(b + 4), 0);
	CHECK_INT(rd16(b + 6), 1 + ports + 1);
	CHECK_INT(rd16(b + 8), 0);
	CHECK_INT(rd16(b + 10), addrs);
	/* The PTR record: "_irohv1._udp.local." written out at 12. */
	static const uint8_t service[] = "\x07_irohv1\x04_udp\x05local";
	CHECK_MEM(b + 12, service, sizeof(service));
	size_t pos = 12 + sizeof(service);
	CHECK_INT(rd16(b + pos), 12);	 /* PTR */
	CHECK_INT(rd16(b + pos + 2), 1); /* IN, no cache-flush */
	CHECK_INT(rd32(b + pos + 4), node->ttl);
	CHECK_INT(rd16(b + pos + 8), 1 + 52 + 2);
	CHECK_INT(b[pos + 10], 52);
	CHECK_MEM(b + pos + 11, b32, 52);
	CHECK_INT(rd16(b + pos + 63), 0xc000 | 12);
	size_t instance = pos + 10;
	pos += 10 + 55;
	/* First SRV: owner points at the instance; target uncompressed. */
	CHECK_INT(rd16(b + pos), 0xc000 | instance);
	CHECK_INT(rd16(b + pos + 2), 33);
	CHECK_INT(rd16(b + pos + 4), 1);
	CHECK_INT(rd16(b + pos + 12), 0); /* priority */
	CHECK_INT(rd16(b + pos + 14), 0); /* weight */
	uint16_t port = rd16(b + pos + 16);
	int n = snprintf(target, sizeof(target), "%s-%u", b32, port);
	CHECK_INT(b[pos + 18], n);
	CHECK_MEM(b + pos + 19, target, (size_t)n);
	CHECK_MEM(b + pos + 19 + n, "\x05local\x00", 7);
	(void)len;
}

static void test_round_trip(void)
{
	struct lan_node node, out[2];
	uint8_t buf[1500];
	memset(&node, 0, sizeof(node));
	node.id = make_id(1);
	node.port = 4766;
	node.ttl = LAN_TTL;
	add(&node, "192.168.1.5:4766");
	add(&node, "[fd00::5]:4766");
	add(&node, "10.0.0.1:5000");
	add(&node, "[::ffff:10.0.0.2]:0"); /* v4-mapped, port 0: node->port */
	snprintf(node.relay, sizeof(node.relay), "https://euw1-1.relay.iroh.network./");

	int len = mdns_encode_announce(&node, buf, sizeof(buf));
	CHECK(len > 0);
	check_layout(buf, (size_t)len, &node, 2, 4);
	CHECK_INT(mdns_parse(buf, (size_t)len, out, 2), 1);
	CHECK_MEM(out[0].id.bytes, node.id.bytes, IRON_ID_LEN);
	CHECK_INT(out[0].port, 4766);
	CHECK_INT(out[0].naddrs, 4);
	CHECK(has_addr(&out[0], "192.168.1.5:4766"));
	CHECK(has_addr(&out[0], "[fd00::5]:4766"));
	CHECK(has_addr(&out[0], "10.0.0.1:5000"));
	CHECK(has_addr(&out[0], "10.0.0.2:4766"));
	CHECK_STR(out[0].relay, node.relay);
	CHECK_INT(out[0].ttl, LAN_TTL);

	/* Every smaller buffer is refused, never overrun. */
	for (size_t cap = 0; cap < (size_t)len; cap++) {
		uint8_t *small = malloc(cap ? cap : 1);
		CHECK_INT(mdns_encode_announce(&node, small, cap), -EMSGSIZE);
		free(small);
	}

	/* Every prefix of the message is malformed (the counts promise more). */
	for (size_t cut = 0; cut < (size_t)len; cut++)
		if (mdns_parse(buf, cut, out, 2) != -EBADMSG) {
			CHECK_INT(mdns_parse(buf, cut, out, 2), -EBADMSG);
			break;
		}

	/* No relay: one empty TXT string; the longest relay iroh writes. */
	node.relay[0] = '\0';
	len = mdns_encode_announce(&node, buf, sizeof(buf));
	CHECK_INT(mdns_parse(buf, (size_t)len, out, 2), 1);
	CHECK_STR(out[0].relay, "");
	memset(node.relay, 'a', 249);
	memcpy(node.relay, "http://", 7);
	node.relay[249] = '\0';
	len = mdns_encode_announce(&node, buf, sizeof(buf));
	CHECK_INT(mdns_parse(buf, (size_t)len, out, 2), 1);
	CHECK_STR(out[0].relay, node.relay);

	/* Nothing to announce without an address with a port. */
	node.naddrs = 0;
	CHECK_INT(mdns_encode_announce(&node, buf, sizeof(buf)), -EINVAL);
	node.port = 0;
	add(&node, "10.0.0.1:0");
	CHECK_INT(mdns_encode_announce(&node, buf, sizeof(buf)), -EINVAL);
}

static void test_query(void)
{
	uint8_t buf[64];
	static const uint8_t want[] = {0,   0,	 0,   0,   0,	1,   0,	  0,   0, 0,   0,   0,
				       7,   '_', 'i', 'r', 'o', 'h', 'v', '1', 4, '_', 'u', 'd',
				       'p', 5,	 'l', 'o', 'c', 'a', 'l', 0,   0, 12,  0,   1};
	int len = mdns_encode_query(buf, sizeof(buf));
	CHECK_INT(len, sizeof(want));
	CHECK_MEM(buf, want, sizeof(want));
	CHECK_INT(mdns_encode_query(buf, 10), -EMSGSIZE);
	CHECK(mdns_is_service_query(buf, (size_t)len));
	struct lan_node out[1];
	CHECK_INT(mdns_parse(buf, (size_t)len, out, 1), 0);

	uint8_t q[sizeof(want)];
	memcpy(q, want, sizeof(q));
	q[sizeof(q) - 2] = 0x80; /* unicast-response bit: still ours */
	CHECK(mdns_is_service_query(q, sizeof(q)));
	q[sizeof(q) - 4] = 0;
	q[sizeof(q) - 3] = 255; /* ANY */
	CHECK(mdns_is_service_query(q, sizeof(q)));
	q[sizeof(q) - 3] = 1; /* A */
	CHECK(!mdns_is_service_query(q, sizeof(q)));
	memcpy(q, want, sizeof(q));
	q[2] = 0x80; /* a response */
	CHECK(!mdns_is_service_query(q, sizeof(q)));
	memcpy(q, want, sizeof(q));
	q[14] = 'X'; /* "_iXohv1" */
	CHECK(!mdns_is_service_query(q, sizeof(q)));
	memcpy(q, want, sizeof(q));
	q[14] = 'I'; /* names compare in any case */
	CHECK(mdns_is_service_query(q, sizeof(q)));
	for (size_t cut = 0; cut < sizeof(want); cut++)
		CHECK(!mdns_is_service_query(want, cut));
}

static void test_unicast_reply(void)
{
	struct lan_node node, out[1];
	struct msg q;
	uint8_t buf[1500];
	memset(&node, 0, sizeof(node));
	node.id = make_id(2);
	node.port = 4000;
	node.ttl = LAN_TTL;
	add(&node, "10.98.0.2:4000");

	/* As dig sends it: an ID, RD, the name in its own case, an OPT. */
	m_header(&q, 0x0100, 1, 0, 0, 1);
	wr16(q.b, 0xbeef);
	m_label(&q, "_IROHv1");
	m_label(&q, "_udp");
	m_label(&q, "local");
	q.b[q.len++] = 0;
	m16(&q, 12);
	m16(&q, 1);
	q.b[q.len++] = 0; /* OPT owner: root */
	m_rr(&q, 41, 1232, 0);
	CHECK(mdns_is_service_query(q.b, q.len));

	int len = mdns_encode_unicast_reply(&node, q.b, q.len, buf, sizeof(buf));
	CHECK(len > 0);
	CHECK_INT(rd16(buf), 0xbeef);
	CHECK_INT(rd16(buf + 2), 0x8400);
	CHECK_INT(rd16(buf + 4), 1);
	CHECK_MEM(buf + 12, q.b + 12, 20 + 4);			 /* the question, as asked */
	CHECK_INT(rd32(buf + 12 + 24 + 2 + 4), MDNS_LEGACY_TTL); /* PTR's TTL */
	CHECK_INT(mdns_parse(buf, (size_t)len, out, 1), 1);
	CHECK(has_addr(&out[0], "10.98.0.2:4000"));
	CHECK_INT(out[0].ttl, MDNS_LEGACY_TTL);

	/* Not a service query: no reply. */
	uint8_t query[64];
	int qlen = mdns_encode_query(query, sizeof(query));
	query[2] = 0x80;
	CHECK_INT(mdns_encode_unicast_reply(&node, query, (size_t)qlen, buf, sizeof(buf)), -EINVAL);
	for (size_t cap = 0; cap < (size_t)len; cap++)
		CHECK_INT(mdns_encode_unicast_reply(&node, q.b, q.len, buf, cap), -EMSGSIZE);
}

/* Responses in RFC style, with things iroh does not write. */
static void test_lenient(void)
{
	struct iron_id id = make_id(3), id2 = make_id(4);
	char b32[IRON_ID_BASE32_LEN + 1], b32b[IRON_ID_BASE32_LEN + 1], target[80];
	struct lan_node out[2];
	struct msg m;
	size_t rd;
	id_to_base32(&id, b32);
	id_to_base32(&id2, b32b);

	/* Cache-flush bits, TXT before SRV, the A record in the answers, SRV
	 * target compressed, two relay strings (the first wins), a key with
	 * no value, and a second node in the same message. */
	m_header(&m, 0x8400, 0, 4, 0, 2);
	m_instance(&m, b32);
	rd = m_rr(&m, 16, 0x8001, 120);
	m_label(&m, "flag");
	m_label(&m, "relay=http://first/");
	m_label(&m, "relay=http://second/");
	m_end(&m, rd);
	m16(&m, 0xc000 | 12);
	rd = m_rr(&m, 33, 0x8001, 100);
	m16(&m, 0);
	m16(&m, 0);
	m16(&m, 7000);
	size_t t = m.len;
	m_label(&m, "host");
	m16(&m, 0xc000 | (12 + 1 + 52 + 8 + 5)); /* "local." of the owner */
	m_end(&m, rd);
	m16(&m, 0xc000 | (uint32_t)t);
	rd = m_rr(&m, 1, 0x8001, 90);
	m_bytes(&m, "\x0a\x00\x00\x09", 4);
	m_end(&m, rd);
	/* Node 2: SRV and AAAA (link-local). */
	m_instance(&m, b32b);
	rd = m_rr(&m, 33, 1, 0);
	m16(&m, 0);
	m16(&m, 0);
	m16(&m, 7001);
	size_t t2 = m.len;
	snprintf(target, sizeof(target), "%s-7001", b32b);
	m_label(&m, target);
	m_label(&m, "local");
	m.b[m.len++] = 0;
	m_end(&m, rd);
	m16(&m, 0xc000 | (uint32_t)t2);
	struct in6_addr ll = addr("fe80::1");
	rd = m_rr(&m, 28, 1, 0);
	m_bytes(&m, &ll, 16);
	m_end(&m, rd);
	/* An unrelated A record of another host. */
	m_label(&m, "printer");
	m16(&m, 0xc000 | (12 + 1 + 52 + 8 + 5));
	rd = m_rr(&m, 1, 1, 120);
	m_bytes(&m, "\x0a\x00\x00\x63", 4);
	m_end(&m, rd);

	CHECK_INT(mdns_parse(m.b, m.len, out, 2), 2);
	CHECK_MEM(out[0].id.bytes, id.bytes, IRON_ID_LEN);
	CHECK_INT(out[0].naddrs, 1);
	CHECK(has_addr(&out[0], "10.0.0.9:7000"));
	CHECK_STR(out[0].relay, "http://first/");
	CHECK_INT(out[0].ttl, 90);
	CHECK_MEM(out[1].id.bytes, id2.bytes, IRON_ID_LEN);
	CHECK(has_addr(&out[1], "[fe80::1]:7001"));
	CHECK_STR(out[1].relay, "");
	/* Room for one: the first. */
	CHECK_INT(mdns_parse(m.b, m.len, out, 1), 1);
	CHECK_MEM(out[0].id.bytes, id.bytes, IRON_ID_LEN);
	CHECK_INT(mdns_parse(m.b, m.len, out, 0), 0);

	/* Non-zero rcode or opcode: ignored. */
	wr16(m.b + 2, 0x8403);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), 0);
	wr16(m.b + 2, 0x8c00);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), 0);
	wr16(m.b + 2, 0x8400);

	/* A relay with a space or a control byte is not taken. */
	struct lan_node node;
	uint8_t buf[1500];
	memset(&node, 0, sizeof(node));
	node.id = id;
	node.port = 1;
	add(&node, "10.0.0.1:1");
	snprintf(node.relay, sizeof(node.relay), "http://a b/");
	int len = mdns_encode_announce(&node, buf, sizeof(buf));
	CHECK_INT(mdns_parse(buf, (size_t)len, out, 1), 1);
	CHECK_STR(out[0].relay, "");

	/* A node without addresses takes no room: with room for one, the
	 * second node (the first with an address) is given. */
	m_header(&m, 0x8400, 0, 2, 0, 1);
	m_instance(&m, b32);
	rd = m_rr(&m, 33, 1, 0);
	m16(&m, 0);
	m16(&m, 0);
	m16(&m, 7000);
	m_label(&m, "nohost");
	m_label(&m, "local");
	m.b[m.len++] = 0;
	m_end(&m, rd);
	m_instance(&m, b32b);
	rd = m_rr(&m, 33, 1, 0);
	m16(&m, 0);
	m16(&m, 0);
	m16(&m, 7001);
	size_t t3 = m.len;
	m_label(&m, "host2");
	m_label(&m, "local");
	m.b[m.len++] = 0;
	m_end(&m, rd);
	m16(&m, 0xc000 | (uint32_t)t3);
	rd = m_rr(&m, 1, 1, 0);
	m_bytes(&m, "\x0a\x00\x00\x02", 4);
	m_end(&m, rd);
	CHECK_INT(mdns_parse(m.b, m.len, out, 1), 1);
	CHECK_MEM(out[0].id.bytes, id2.bytes, IRON_ID_LEN);
	CHECK(has_addr(&out[0], "10.0.0.2:7001"));

	/* SRV without addresses: no node. */
	m_header(&m, 0x8400, 0, 1, 0, 0);
	m_instance(&m, b32);
	rd = m_rr(&m, 33, 1, 0);
	m16(&m, 0);
	m16(&m, 0);
	m16(&m, 7000);
	m_label(&m, "host");
	m_label(&m, "local");
	m.b[m.len++] = 0;
	m_end(&m, rd);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), 0);
}

static void test_malformed(void)
{
	struct iron_id id = make_id(5);
	char b32[IRON_ID_BASE32_LEN + 1];
	struct lan_node out[2];
	struct msg m, good;
	id_to_base32(&id, b32);
	swarm_response(&good, b32, true, "http://r/");
	CHECK_INT(mdns_parse(good.b, good.len, out, 2), 1);

	CHECK_INT(mdns_parse(good.b, 0, out, 2), -EBADMSG);
	CHECK_INT(mdns_parse(good.b, 11, out, 2), -EBADMSG);
	for (size_t cut = 12; cut < good.len; cut++)
		if (mdns_parse(good.b, cut, out, 2) != -EBADMSG) {
			CHECK_INT(mdns_parse(good.b, cut, out, 2), -EBADMSG);
			break;
		}

	/* A pointer to itself, forwards, into the header's middle loop. */
	m_header(&m, 0x8400, 0, 1, 0, 0);
	m16(&m, 0xc000 | 12);
	m_rr(&m, 1, 1, 0);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);
	m_header(&m, 0x8400, 0, 1, 0, 0);
	m16(&m, 0xc000 | 20);
	m_rr(&m, 1, 1, 0);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);
	/* Two pieces pointing at each other: "a" at 12 then a pointer to
	 * 17, where a pointer back to 12 sits. */
	m_header(&m, 0x8400, 0, 2, 0, 0);
	m_label(&m, "a");
	m16(&m, 0xc000 | 17);
	m16(&m, 0xc000 | 12);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);

	/* Reserved label types 0x40 and 0x80. */
	memcpy(&m, &good, sizeof(m));
	m.b[12] = 0x41;
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);
	m.b[12] = 0x81;
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);

	/* A name over 255 bytes (five 63-byte labels). */
	m_header(&m, 0x8400, 0, 1, 0, 0);
	char label[64];
	memset(label, 'x', 63);
	label[63] = '\0';
	for (int i = 0; i < 5; i++)
		m_label(&m, label);
	m.b[m.len++] = 0;
	size_t rd = m_rr(&m, 1, 1, 0);
	m_bytes(&m, "\1\2\3\4", 4);
	m_end(&m, rd);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);

	/* Record data of the wrong size for A and AAAA; TXT strings past the
	 * data; an SRV target past it; RDLENGTH past the message. */
	static const uint16_t bad_len[][2] = {{1, 5}, {1, 3}, {28, 4}, {28, 17}};
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		m_header(&m, 0x8400, 0, 1, 0, 0);
		m_label(&m, "h");
		m.b[m.len++] = 0;
		m_rr(&m, bad_len[i][0], 1, 0);
		wr16(m.b + m.len - 2, bad_len[i][1]);
		memset(m.b + m.len, 0, bad_len[i][1]);
		m.len += bad_len[i][1];
		CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);
	}
	m_header(&m, 0x8400, 0, 1, 0, 0);
	m_label(&m, "h");
	m.b[m.len++] = 0;
	rd = m_rr(&m, 16, 1, 0);
	m_bytes(&m,
		"\x05"
		"abc",
		4);
	m_end(&m, rd);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);
	m_header(&m, 0x8400, 0, 1, 0, 0);
	m_label(&m, "h");
	m.b[m.len++] = 0;
	rd = m_rr(&m, 33, 1, 0);
	m_bytes(&m,
		"\0\0\0\0\0\1\x04"
		"ab",
		9);
	m_end(&m, rd);
	m_bytes(&m, "cd\0", 3); /* the name runs on past the data */
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);
	m_header(&m, 0x8400, 0, 1, 0, 0);
	m.b[m.len++] = 0;
	m_rr(&m, 99, 1, 0);
	wr16(m.b + m.len - 2, 10);
	m_bytes(&m, "abc", 3);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), -EBADMSG);
	/* Trailing bytes after the records are not an error. */
	memcpy(&m, &good, sizeof(m));
	m_bytes(&m, "junk", 4);
	CHECK_INT(mdns_parse(m.b, m.len, out, 2), 1);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_swarm_discovery_response();
	test_round_trip();
	test_query();
	test_unicast_reply();
	test_lenient();
	test_malformed();
	return check_done();
}
