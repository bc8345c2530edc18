/* STUN: the sample responses of RFC 5769 (sections 2.2 and 2.3, with
 * SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT), our own messages parsed
 * back, and every malformed form refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/un.h>

#include "check.h"
#include "iron/stun.h"

static const uint8_t rfc5769_txid[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
					 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

/* RFC 5769 section 2.2: 192.0.2.1 port 32853. */
static const uint8_t rfc5769_v4[] = {
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
    0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
    0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

/* RFC 5769 section 2.3: 2001:db8:1234:5678:11:2233:4455:6677 port 32853. */
static const uint8_t rfc5769_v6[] = {
    0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
    0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
    0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
    0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14,
    0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6, 0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75,
    0xbf, 0xe3, 0xed, 0x41, 0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c};

static void check_mapped(const struct stun_message *m, const char *want)
{
	char text[NETADDR_STR_SIZE];
	CHECK(m->has_mapped);
	CHECK_STR(netaddr_format(&m->mapped.sa, text, sizeof(text)), want);
}

static void test_rfc5769(void)
{
	struct stun_message m;
	CHECK_INT(stun_parse(rfc5769_v4, sizeof(rfc5769_v4), &m), 0);
	CHECK_INT(m.type, STUN_BINDING_SUCCESS);
	CHECK_MEM(m.txid, rfc5769_txid, 12);
	CHECK(m.has_fingerprint);
	check_mapped(&m, "192.0.2.1:32853");

	CHECK_INT(stun_parse(rfc5769_v6, sizeof(rfc5769_v6), &m), 0);
	CHECK(m.has_fingerprint);
	check_mapped(&m, "[2001:db8:1234:5678:11:2233:4455:6677]:32853");

	/* Any changed byte before the FINGERPRINT value breaks it (the
	 * MESSAGE-INTEGRITY bytes are not checked, so they test the CRC). */
	uint8_t copy[sizeof(rfc5769_v4)];
	for (size_t i = 52; i < sizeof(copy); i++) {
		if (i == 72 || i == 73)
			continue; /* the FINGERPRINT type: then an unknown attribute */
		memcpy(copy, rfc5769_v4, sizeof(copy));
		copy[i] ^= 0x01;
		CHECK_INT(stun_parse(copy, sizeof(copy), &m), -EBADMSG);
	}
	/* Without the FINGERPRINT, the message is still fine. */
	memcpy(copy, rfc5769_v4, sizeof(copy));
	copy[3] = 0x34;
	CHECK_INT(stun_parse(copy, sizeof(copy) - 8, &m), 0);
	CHECK(!m.has_fingerprint);
	check_mapped(&m, "192.0.2.1:32853");
}

static void round_trip(const char *addr, const char *want)
{
	struct netaddr a;
	uint8_t out[STUN_MAX_RESPONSE];
	struct stun_message m;
	CHECK_INT(netaddr_parse(addr, &a), 0);
	ssize_t n = stun_write_binding_success(out, sizeof(out), rfc5769_txid, &a.sa);
	CHECK(n > 0 && n <= STUN_MAX_RESPONSE);
	if (n <= 0)
		return;
	CHECK_INT(stun_parse(out, (size_t)n, &m), 0);
	CHECK_INT(m.type, STUN_BINDING_SUCCESS);
	CHECK_MEM(m.txid, rfc5769_txid, 12);
	CHECK(m.has_fingerprint);
	check_mapped(&m, want);
	CHECK_INT(stun_write_binding_success(out, (size_t)n - 1, rfc5769_txid, &a.sa), -ENOBUFS);
}

static void test_write(void)
{
	round_trip("192.0.2.1:32853", "192.0.2.1:32853");
	round_trip("[2001:db8:1234:5678:11:2233:4455:6677]:32853",
		   "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
	round_trip("[::ffff:198.51.100.7]:1", "198.51.100.7:1");
	round_trip("0.0.0.0:0", "0.0.0.0:0");

	/* The RFC 5769 address gives the RFC's XOR-MAPPED-ADDRESS bytes. */
	struct netaddr a;
	uint8_t out[STUN_MAX_RESPONSE];
	CHECK_INT(netaddr_parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853", &a), 0);
	CHECK_INT(stun_write_binding_success(out, sizeof(out), rfc5769_txid, &a.sa), 52);
	CHECK_MEM(out + 20, rfc5769_v6 + 36, 24);
	CHECK_INT(netaddr_parse("192.0.2.1:32853", &a), 0);
	CHECK_INT(stun_write_binding_success(out, sizeof(out), rfc5769_txid, &a.sa), 40);
	CHECK_MEM(out + 20, rfc5769_v4 + 36, 12);

	struct sockaddr_un un = {.sun_family = AF_UNIX};
	CHECK_INT(stun_write_binding_success(out, sizeof(out), rfc5769_txid,
					     (const struct sockaddr *)&un),
		  -EAFNOSUPPORT);

	uint8_t req[STUN_HEADER_LEN];
	struct stun_message m;
	CHECK_INT(stun_write_binding_request(req, rfc5769_txid), 20);
	CHECK_MEM(req, "\x00\x01\x00\x00\x21\x12\xa4\x42", 8);
	CHECK_INT(stun_parse(req, sizeof(req), &m), 0);
	CHECK_INT(m.type, STUN_BINDING_REQUEST);
	CHECK(!m.has_mapped && !m.has_fingerprint);
	CHECK_MEM(m.txid, rfc5769_txid, 12);
}

/* A message of header + the given attribute bytes, length set to match. */
static size_t build(uint8_t *out, const uint8_t *attrs, size_t len)
{
	stun_write_binding_request(out, rfc5769_txid);
	out[0] = 0x01;
	out[1] = 0x01;
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	memcpy(out + 20, attrs, len);
	return 20 + len;
}

static void test_mapped_fallback(void)
{
	uint8_t msg[128];
	struct stun_message m;
	/* MAPPED-ADDRESS alone: 10.1.2.3:4660, not XORed. */
	static const uint8_t plain[] = {0x00, 0x01, 0x00, 0x08, 0x00, 0x01,
					0x12, 0x34, 10,	  1,	2,    3};
	CHECK_INT(stun_parse(msg, build(msg, plain, sizeof(plain)), &m), 0);
	check_mapped(&m, "10.1.2.3:4660");
	/* Both: XOR-MAPPED-ADDRESS wins whatever the order. */
	uint8_t both[24];
	memcpy(both, plain, 12);
	memcpy(both + 12, rfc5769_v4 + 36, 12);
	CHECK_INT(stun_parse(msg, build(msg, both, 24), &m), 0);
	check_mapped(&m, "192.0.2.1:32853");
	memcpy(both, rfc5769_v4 + 36, 12);
	memcpy(both + 12, plain, 12);
	CHECK_INT(stun_parse(msg, build(msg, both, 24), &m), 0);
	check_mapped(&m, "192.0.2.1:32853");
	/* The old XOR-MAPPED-ADDRESS number. */
	both[0] = 0x80;
	CHECK_INT(stun_parse(msg, build(msg, both, 12), &m), 0);
	check_mapped(&m, "192.0.2.1:32853");
	/* Unknown attributes, padded, are skipped. */
	static const uint8_t unknown[] = {0x80, 0x22, 0x00, 0x01, 'x',	0,
					  0,	0,    0x00, 0x24, 0x00, 0x00};
	CHECK_INT(stun_parse(msg, build(msg, unknown, sizeof(unknown)), &m), 0);
	CHECK(!m.has_mapped);
}

static void bad(const uint8_t *msg, size_t len)
{
	struct stun_message m;
	CHECK_INT(stun_parse(msg, len, &m), -EBADMSG);
	CHECK(!m.has_mapped);
}

static void test_malformed(void)
{
	uint8_t msg[128];
	size_t n;
	memcpy(msg, rfc5769_v4, sizeof(rfc5769_v4));
	for (size_t len = 0; len < sizeof(rfc5769_v4); len++)
		bad(msg, len); /* every truncation */
	msg[0] |= 0x40;
	bad(msg, sizeof(rfc5769_v4));
	memcpy(msg, rfc5769_v4, sizeof(rfc5769_v4));
	msg[7] ^= 1; /* cookie */
	bad(msg, sizeof(rfc5769_v4));

	static const uint8_t one_byte[] = {0x80, 0x22, 0x00, 0x01, 'x', 0, 0};
	bad(msg, build(msg, one_byte, sizeof(one_byte))); /* length not a multiple of 4 */
	static const uint8_t overrun[] = {0x80, 0x22, 0x00, 0x05, 'x', 0, 0, 0};
	bad(msg, build(msg, overrun, sizeof(overrun)));
	static const uint8_t short_attr[] = {0x80, 0x22, 0x00, 0x00, 0x00, 0x20};
	n = build(msg, short_attr, sizeof(short_attr));
	bad(msg, n);
	static const uint8_t family3[] = {0x00, 0x20, 0x00, 0x08, 0x00, 0x03, 0, 0, 0, 0, 0, 0};
	bad(msg, build(msg, family3, sizeof(family3)));
	static const uint8_t v4_long[] = {0x00, 0x20, 0x00, 0x0c, 0x00, 0x01, 0, 0,
					  0,	0,    0,    0,	  0,	0,    0, 0};
	bad(msg, build(msg, v4_long, sizeof(v4_long)));
	static const uint8_t v6_short[] = {0x00, 0x01, 0x00, 0x08, 0x00, 0x02, 0, 0, 0, 0, 0, 0};
	bad(msg, build(msg, v6_short, sizeof(v6_short)));
	/* An attribute after FINGERPRINT. */
	uint8_t copy[sizeof(rfc5769_v4) + 4];
	memcpy(copy, rfc5769_v4, sizeof(rfc5769_v4));
	memcpy(copy + sizeof(rfc5769_v4), "\x80\x22\x00\x00", 4);
	copy[3] += 4;
	bad(copy, sizeof(copy));
	/* FINGERPRINT of the wrong length. */
	static const uint8_t fp5[] = {0x80, 0x28, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0, 0};
	bad(msg, build(msg, fp5, sizeof(fp5)));
}

int main(void)
{
	test_rfc5769();
	test_write();
	test_mapped_fallback();
	test_malformed();
	return check_done();
}
