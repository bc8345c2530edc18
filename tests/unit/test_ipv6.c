/* IPv6 packet code: parsing (valid, truncated, malformed, extension header
 * chains), checksums against an independent byte-wise implementation and
 * packets whose checksums were computed outside iron, UDP and echo round
 * trips, ICMPv6 errors (size, quote, checksum, RFC 4443 section 2.4(e)
 * refusals), and the rate limiter on a fake clock. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "testutil.h"
#include "iron/addr.h"
#include "iron/ipv6.h"
#include "iron/ratelimit.h"

/* UDP [fd69:726f::39b:fa8b:3d36:8d61]:40000 -> [fd69:726f:0:1::53]:53,
 * payload "hello, iron" (odd length); checksum 0x75b6 computed with a
 * separate Python implementation of RFC 1071. */
static const uint8_t kat_udp[] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x13, 0x11, 0x40, 0xfd, 0x69, 0x72, 0x6f, 0x00, 0x00, 0x00,
    0x00, 0x03, 0x9b, 0xfa, 0x8b, 0x3d, 0x36, 0x8d, 0x61, 0xfd, 0x69, 0x72, 0x6f, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53, 0x9c, 0x40, 0x00, 0x35, 0x00,
    0x13, 0x75, 0xb6, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x69, 0x72, 0x6f, 0x6e};

/* ICMPv6 echo request fd69:726f::1 -> fd69:726f::39b:fa8b:3d36:8d61, id
 * 0x1234, seq 7, data "ping!"; checksum 0xc539, computed the same way. */
static const uint8_t kat_echo[] = {0x60, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x3a, 0x40, 0xfd, 0x69, 0x72,
				   0x6f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				   0x00, 0x01, 0xfd, 0x69, 0x72, 0x6f, 0x00, 0x00, 0x00, 0x00, 0x03,
				   0x9b, 0xfa, 0x8b, 0x3d, 0x36, 0x8d, 0x61, 0x80, 0x00, 0xc5, 0x39,
				   0x12, 0x34, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67, 0x21};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* RFC 1071 the slow, obvious way: big-endian 16-bit words, one at a time. */
static uint16_t reference_checksum(const struct in6_addr *src, const struct in6_addr *dst,
				   uint8_t proto, const uint8_t *data, size_t len)
{
	uint32_t sum = 0;
	for (int i = 0; i < 16; i += 2)
		sum += (uint32_t)(src->s6_addr[i] << 8 | src->s6_addr[i + 1]);
	for (int i = 0; i < 16; i += 2)
		sum += (uint32_t)(dst->s6_addr[i] << 8 | dst->s6_addr[i + 1]);
	sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + proto;
	for (size_t i = 0; i < len; i++) {
		sum += i % 2 == 0 ? (uint32_t)data[i] << 8 : data[i];
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Builds a packet: fixed header with next header nh, then body. */
static size_t make_packet(uint8_t *out, uint8_t nh, const uint8_t *body, size_t body_len)
{
	struct in6_addr src = addr("fd69:726f::1"), dst = addr("fd69:726f::2");
	out[0] = 0x60;
	out[1] = out[2] = out[3] = 0;
	out[4] = (uint8_t)(body_len >> 8);
	out[5] = (uint8_t)body_len;
	out[6] = nh;
	out[7] = 64;
	memcpy(out + 8, &src, 16);
	memcpy(out + 24, &dst, 16);
	if (body_len > 0)
		memcpy(out + 40, body, body_len);
	return 40 + body_len;
}

static void test_known_packets(void)
{
	struct ipv6_info info;
	struct ipv6_udp udp;
	struct ipv6_echo echo;
	uint8_t out[256];
	struct in6_addr node = addr("fd69:726f::39b:fa8b:3d36:8d61");

	CHECK_INT(ipv6_parse(kat_udp, sizeof(kat_udp), &info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_UDP);
	CHECK_INT(info.payload_offset, 40);
	CHECK_INT(info.payload_len, 19);
	CHECK_INT(info.hop_limit, 64);
	CHECK(!info.fragment && !info.later_fragment);
	CHECK_MEM(&info.src, &node, 16);
	CHECK_MEM(&info.dst, &addr_dns, 16);
	CHECK(ipv6_is_dns_query(kat_udp, &info));
	CHECK_INT(ipv6_checksum(&info.src, &info.dst, IPV6_PROTO_UDP, kat_udp + 40, 19), 0);
	CHECK_INT(ipv6_udp_parse(kat_udp, &info, &udp), 0);
	CHECK_INT(udp.src_port, 40000);
	CHECK_INT(udp.dst_port, 53);
	CHECK_INT(udp.payload_len, 11);
	CHECK_MEM(udp.payload, "hello, iron", 11);
	CHECK(udp.payload == kat_udp + 48);
	/* Building it again gives the same bytes, checksum included. */
	CHECK_INT(ipv6_build_udp(&udp, out, sizeof(out)), sizeof(kat_udp));
	CHECK_MEM(out, kat_udp, sizeof(kat_udp));

	CHECK_INT(ipv6_parse(kat_echo, sizeof(kat_echo), &info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_ICMPV6);
	CHECK(!ipv6_is_dns_query(kat_echo, &info));
	CHECK_INT(ipv6_udp_parse(kat_echo, &info, &udp), -EINVAL);
	CHECK_INT(ipv6_echo_parse(kat_echo, &info, &echo), 0);
	CHECK_INT(echo.type, IPV6_ICMP_ECHO_REQUEST);
	CHECK_INT(echo.identifier, 0x1234);
	CHECK_INT(echo.sequence, 7);
	CHECK_INT(echo.data_len, 5);
	CHECK_MEM(echo.data, "ping!", 5);
	struct in6_addr one = addr("fd69:726f::1");
	CHECK_INT(ipv6_build_echo(&one, &node, &echo, out, sizeof(out)), sizeof(kat_echo));
	CHECK_MEM(out, kat_echo, sizeof(kat_echo));
	echo.type = 3;
	CHECK_INT(ipv6_build_echo(&one, &node, &echo, out, sizeof(out)), -EINVAL);
	echo.type = IPV6_ICMP_ECHO_REPLY;
	CHECK_INT(ipv6_build_echo(&one, &node, &echo, out, 40), -ENOSPC);
	echo.data_len = 65535;
	CHECK_INT(ipv6_build_echo(&one, &node, &echo, out, sizeof(out)), -EMSGSIZE);

	/* A flipped bit anywhere in the checksummed part is caught. */
	for (size_t i = 8; i < sizeof(kat_udp); i++) {
		if (i == 44 || i == 45) /* the UDP length: caught differently */
			continue;
		uint8_t copy[sizeof(kat_udp)];
		memcpy(copy, kat_udp, sizeof(copy));
		copy[i] ^= 0x10;
		CHECK_INT(ipv6_parse(copy, sizeof(copy), &info), 0);
		CHECK_INT(ipv6_udp_parse(copy, &info, &udp), -EINVAL);
	}
	for (size_t i = 8; i < sizeof(kat_echo); i++) {
		uint8_t copy[sizeof(kat_echo)];
		memcpy(copy, kat_echo, sizeof(copy));
		copy[i] ^= 0x01;
		CHECK_INT(ipv6_parse(copy, sizeof(copy), &info), 0);
		CHECK_INT(ipv6_echo_parse(copy, &info, &echo), -EINVAL);
	}
}

static void test_checksum_matches_reference(void)
{
	static uint8_t buf[2048 + 8];
	struct in6_addr src = addr("fd69:726f::1234:5678:9abc:def0");
	struct in6_addr dst = addr("2001:db8::ffff");
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	int mismatches = 0;
	/* Every length up to 300 and some large ones, at every alignment. */
	for (size_t len = 0; len <= 2048; len = len < 300 ? len + 1 : len + 97) {
		for (size_t align = 0; align < 8; align++) {
			uint16_t ours = ipv6_checksum(&src, &dst, 17, buf + align, len);
			uint16_t ref = reference_checksum(&src, &dst, 17, buf + align, len);
			if (ours != ref)
				mismatches++;
		}
	}
	CHECK_INT(mismatches, 0);
	/* All ones data: sums that carry many times. */
	memset(buf, 0xff, sizeof(buf));
	CHECK_INT(ipv6_checksum(&src, &dst, 58, buf, 2048),
		  reference_checksum(&src, &dst, 58, buf, 2048));
	CHECK_INT(ipv6_checksum(&src, &dst, 58, buf, 1),
		  reference_checksum(&src, &dst, 58, buf, 1));
}

static void test_parse_rejects(void)
{
	struct ipv6_info info;
	uint8_t pkt[sizeof(kat_udp)];
	CHECK_INT(ipv6_parse(kat_udp, 0, &info), -EINVAL);
	CHECK_INT(ipv6_parse(kat_udp, 39, &info), -EINVAL);
	/* Truncated anywhere: the payload length no longer matches. */
	int accepted = 0;
	for (size_t len = 0; len < sizeof(kat_udp); len++)
		accepted += ipv6_parse(kat_udp, len, &info) == 0;
	CHECK_INT(accepted, 0);
	/* Trailing bytes are refused too. */
	uint8_t longer[sizeof(kat_udp) + 1];
	memcpy(longer, kat_udp, sizeof(kat_udp));
	longer[sizeof(kat_udp)] = 0;
	CHECK_INT(ipv6_parse(longer, sizeof(longer), &info), -EINVAL);
	/* Version 4 and others. */
	memcpy(pkt, kat_udp, sizeof(pkt));
	pkt[0] = 0x45;
	CHECK_INT(ipv6_parse(pkt, sizeof(pkt), &info), -EINVAL);
	pkt[0] = 0x70;
	CHECK_INT(ipv6_parse(pkt, sizeof(pkt), &info), -EINVAL);
	/* Traffic class and flow label bits do not matter. */
	pkt[0] = 0x6f;
	pkt[1] = 0xff;
	pkt[3] = 0x42;
	CHECK_INT(ipv6_parse(pkt, sizeof(pkt), &info), 0);
	/* Payload length off by one either way, and the jumbogram zero. */
	memcpy(pkt, kat_udp, sizeof(pkt));
	pkt[5] = 0x14;
	CHECK_INT(ipv6_parse(pkt, sizeof(pkt), &info), -EINVAL);
	pkt[5] = 0x12;
	CHECK_INT(ipv6_parse(pkt, sizeof(pkt), &info), -EINVAL);
	pkt[5] = 0;
	CHECK_INT(ipv6_parse(pkt, sizeof(pkt), &info), -EINVAL);
	/* A header alone with no next header is valid. */
	uint8_t bare[40];
	size_t n = make_packet(bare, IPV6_PROTO_NONE, NULL, 0);
	CHECK_INT(ipv6_parse(bare, n, &info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_NONE);
	CHECK_INT(info.payload_len, 0);
	/* A UDP packet with no UDP header parses (the upper layer is not
	 * ipv6_parse's business), but UDP helpers refuse it. */
	n = make_packet(bare, IPV6_PROTO_UDP, NULL, 0);
	CHECK_INT(ipv6_parse(bare, n, &info), 0);
	CHECK(!ipv6_is_dns_query(bare, &info));
	struct ipv6_udp udp;
	CHECK_INT(ipv6_udp_parse(bare, &info, &udp), -EINVAL);
}

static void test_extension_headers(void)
{
	uint8_t body[512], pkt[600];
	struct ipv6_info info;
	size_t n;

	/* Hop-by-Hop (8) -> Destination Options (16) -> UDP (8). */
	memset(body, 0, sizeof(body));
	body[0] = IPV6_PROTO_DSTOPTS;
	body[1] = 0;
	body[8] = IPV6_PROTO_UDP;
	body[9] = 1;
	n = make_packet(pkt, IPV6_PROTO_HOPOPTS, body, 8 + 16 + 8);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_UDP);
	CHECK_INT(info.payload_offset, 40 + 8 + 16);
	CHECK_INT(info.payload_len, 8);

	/* Hop-by-Hop anywhere but first is refused. */
	body[0] = IPV6_PROTO_HOPOPTS;
	body[8] = IPV6_PROTO_UDP;
	body[9] = 0;
	n = make_packet(pkt, IPV6_PROTO_DSTOPTS, body, 24);
	CHECK_INT(ipv6_parse(pkt, n, &info), -EINVAL);

	/* A header longer than the packet. */
	body[0] = IPV6_PROTO_UDP;
	body[1] = 2; /* 24 bytes */
	n = make_packet(pkt, IPV6_PROTO_ROUTING, body, 16);
	CHECK_INT(ipv6_parse(pkt, n, &info), -EINVAL);
	/* Fewer than 8 bytes left for a header. */
	n = make_packet(pkt, IPV6_PROTO_ROUTING, body, 7);
	CHECK_INT(ipv6_parse(pkt, n, &info), -EINVAL);
	/* Exactly fitting, with nothing after: valid, empty upper layer. */
	n = make_packet(pkt, IPV6_PROTO_ROUTING, body, 24);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK_INT(info.payload_offset, 64);
	CHECK_INT(info.payload_len, 0);

	/* The longest chain allowed, and one more. */
	memset(body, 0, sizeof(body));
	for (int k = 0; k < IPV6_MAX_EXTENSION_HEADERS; k++)
		body[k * 8] =
		    k + 1 < IPV6_MAX_EXTENSION_HEADERS ? IPV6_PROTO_DSTOPTS : IPV6_PROTO_TCP;
	n = make_packet(pkt, IPV6_PROTO_DSTOPTS, body, IPV6_MAX_EXTENSION_HEADERS * 8 + 20);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_TCP);
	CHECK_INT(info.payload_offset, 40 + IPV6_MAX_EXTENSION_HEADERS * 8);
	for (int k = 0; k <= IPV6_MAX_EXTENSION_HEADERS; k++)
		body[k * 8] = k < IPV6_MAX_EXTENSION_HEADERS ? IPV6_PROTO_DSTOPTS : IPV6_PROTO_TCP;
	n = make_packet(pkt, IPV6_PROTO_DSTOPTS, body, (IPV6_MAX_EXTENSION_HEADERS + 1) * 8 + 20);
	CHECK_INT(ipv6_parse(pkt, n, &info), -EINVAL);
	/* An endless chain (every header says another follows) ends. */
	memset(body, IPV6_PROTO_ROUTING, sizeof(body));
	for (size_t k = 0; k < sizeof(body); k += 8)
		body[k + 1] = 0;
	n = make_packet(pkt, IPV6_PROTO_ROUTING, body, sizeof(body));
	CHECK_INT(ipv6_parse(pkt, n, &info), -EINVAL);

	/* AH counts its length in 4-byte units, minus 2: 16 bytes here. */
	memset(body, 0, sizeof(body));
	body[0] = IPV6_PROTO_ICMPV6;
	body[1] = 2;
	n = make_packet(pkt, IPV6_PROTO_AH, body, 16 + 8);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_ICMPV6);
	CHECK_INT(info.payload_offset, 56);

	/* ESP ends the walk: the rest is encrypted. */
	n = make_packet(pkt, IPV6_PROTO_ESP, body, 32);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_ESP);
	CHECK_INT(info.payload_offset, 40);

	/* First fragment (offset 0, more fragments). */
	memset(body, 0, sizeof(body));
	body[0] = IPV6_PROTO_UDP;
	body[3] = 1;
	n = make_packet(pkt, IPV6_PROTO_FRAGMENT, body, 8 + 16);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK(info.fragment && !info.later_fragment);
	CHECK_INT(info.protocol, IPV6_PROTO_UDP);
	CHECK_INT(info.payload_offset, 48);
	struct ipv6_udp udp;
	CHECK_INT(ipv6_udp_parse(pkt, &info, &udp), -EINVAL);
	/* A later fragment (offset 8 bytes): nothing to walk after it. */
	body[0] = IPV6_PROTO_DSTOPTS;
	body[3] = 8;
	n = make_packet(pkt, IPV6_PROTO_FRAGMENT, body, 8 + 3);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK(info.fragment && info.later_fragment);
	CHECK_INT(info.protocol, IPV6_PROTO_DSTOPTS);
	CHECK_INT(info.payload_len, 3);
	/* An atomic fragment is a whole packet. */
	body[0] = IPV6_PROTO_UDP;
	body[2] = body[3] = 0;
	n = make_packet(pkt, IPV6_PROTO_FRAGMENT, body, 8 + 8);
	CHECK_INT(ipv6_parse(pkt, n, &info), 0);
	CHECK(!info.fragment && !info.later_fragment);
	CHECK_INT(info.payload_offset, 48);
	/* Two Fragment headers. */
	body[0] = IPV6_PROTO_FRAGMENT;
	body[8] = IPV6_PROTO_UDP;
	n = make_packet(pkt, IPV6_PROTO_FRAGMENT, body, 8 + 8 + 8);
	CHECK_INT(ipv6_parse(pkt, n, &info), -EINVAL);
}

static void test_udp_round_trip(void)
{
	static uint8_t payload[1500], out[1600];
	struct ipv6_udp udp = {.src = addr("fd69:726f:0:1::53"),
			       .dst = addr("fd69:726f::39b:fa8b:3d36:8d61"),
			       .src_port = 53,
			       .dst_port = 51234,
			       .payload = payload};
	struct ipv6_udp back;
	struct ipv6_info info;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	int bad = 0;
	for (size_t len = 0; len <= 1452; len += len < 40 ? 1 : 37) {
		udp.payload_len = len;
		ssize_t n = ipv6_build_udp(&udp, out, sizeof(out));
		if (n != (ssize_t)(48 + len) || ipv6_parse(out, (size_t)n, &info) != 0 ||
		    ipv6_udp_parse(out, &info, &back) != 0 || back.payload_len != len ||
		    memcmp(back.payload, payload, len) != 0 || back.src_port != 53 ||
		    back.dst_port != 51234 || memcmp(&back.src, &udp.src, 16) != 0 ||
		    memcmp(&back.dst, &udp.dst, 16) != 0 || ipv6_is_dns_query(out, &info))
			bad++;
	}
	CHECK_INT(bad, 0);

	/* A checksum that computes to zero goes out as 0xffff (zero means
	 * "none", which IPv6 forbids) and is accepted. */
	uint8_t p[10] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0};
	udp.payload = p;
	udp.payload_len = sizeof(p);
	CHECK_INT(ipv6_build_udp(&udp, out, sizeof(out)), 58);
	uint16_t c = get16(out + 46);
	p[8] = (uint8_t)(c >> 8);
	p[9] = (uint8_t)c;
	CHECK_INT(ipv6_build_udp(&udp, out, sizeof(out)), 58);
	CHECK_INT(get16(out + 46), 0xffff);
	CHECK_INT(ipv6_parse(out, 58, &info), 0);
	CHECK_INT(ipv6_udp_parse(out, &info, &back), 0);
	/* A zero checksum is refused. */
	out[46] = out[47] = 0;
	CHECK_INT(ipv6_udp_parse(out, &info, &back), -EINVAL);

	/* UDP length disagreeing with the IPv6 payload length. */
	CHECK_INT(ipv6_build_udp(&udp, out, sizeof(out)), 58);
	out[45]--;
	CHECK_INT(ipv6_udp_parse(out, &info, &back), -EINVAL);

	/* Limits. */
	CHECK_INT(ipv6_build_udp(&udp, out, 57), -ENOSPC);
	udp.payload_len = 65528;
	CHECK_INT(ipv6_build_udp(&udp, out, sizeof(out)), -EMSGSIZE);

	/* A reply built over its own query (payload inside the buffer). */
	memcpy(out, kat_udp, sizeof(kat_udp));
	CHECK_INT(ipv6_parse(out, sizeof(kat_udp), &info), 0);
	CHECK_INT(ipv6_udp_parse(out, &info, &back), 0);
	struct ipv6_udp reply = {.src = back.dst,
				 .dst = back.src,
				 .src_port = back.dst_port,
				 .dst_port = back.src_port,
				 .payload = back.payload,
				 .payload_len = back.payload_len};
	CHECK_INT(ipv6_build_udp(&reply, out, sizeof(out)), sizeof(kat_udp));
	CHECK_INT(ipv6_parse(out, sizeof(kat_udp), &info), 0);
	CHECK_INT(ipv6_udp_parse(out, &info, &back), 0);
	CHECK_INT(back.src_port, 53);
	CHECK_INT(back.dst_port, 40000);
	CHECK_MEM(back.payload, "hello, iron", 11);
	CHECK_MEM(&back.src, &addr_dns, 16);

	/* DNS recognition: the port and the address both matter. */
	memcpy(out, kat_udp, sizeof(kat_udp));
	out[43] = 54;
	CHECK_INT(ipv6_parse(out, sizeof(kat_udp), &info), 0);
	CHECK(!ipv6_is_dns_query(out, &info));
	memcpy(out, kat_udp, sizeof(kat_udp));
	out[39] = 0x54;
	CHECK_INT(ipv6_parse(out, sizeof(kat_udp), &info), 0);
	CHECK(!ipv6_is_dns_query(out, &info));
}

/* Checks an ICMPv6 error built from offending: valid packet, addressed
 * back to the offender from us, checksum, type/code/param, quote. */
static void check_error(const uint8_t *err, ssize_t len, const uint8_t *offending,
			size_t offending_len, uint8_t type, uint8_t code, uint32_t param)
{
	struct ipv6_info info, off_info;
	struct in6_addr us = addr("fd69:726f::1");
	size_t quoted = offending_len < 1232 ? offending_len : 1232;
	CHECK_INT(len, 48 + quoted);
	CHECK(len <= IPV6_MIN_MTU);
	if (len < 48)
		return;
	CHECK_INT(ipv6_parse(err, (size_t)len, &info), 0);
	CHECK_INT(ipv6_parse(offending, offending_len, &off_info), 0);
	CHECK_INT(info.protocol, IPV6_PROTO_ICMPV6);
	CHECK_MEM(&info.src, &us, 16);
	CHECK_MEM(&info.dst, &off_info.src, 16);
	CHECK_INT(
	    ipv6_checksum(&info.src, &info.dst, IPV6_PROTO_ICMPV6, err + 40, (size_t)len - 40), 0);
	CHECK_INT(err[40], type);
	CHECK_INT(err[41], code);
	CHECK_INT((uint32_t)err[44] << 24 | (uint32_t)err[45] << 16 | (uint32_t)err[46] << 8 |
		      err[47],
		  param);
	CHECK_MEM(err + 48, offending, quoted);
}

static void test_icmp_errors(void)
{
	static uint8_t big[1420], out[1500], pkt[200];
	struct in6_addr us = addr("fd69:726f::1");
	struct ipv6_udp udp = {.src = addr("fd69:726f::1"),
			       .dst = addr("fd69:726f::77"),
			       .src_port = 1000,
			       .dst_port = 2000,
			       .payload = big};
	ssize_t n;

	/* Small offending packet: quoted whole. */
	n = ipv6_build_icmp_error(out, sizeof(out), &us, IPV6_ICMP_DEST_UNREACHABLE,
				  IPV6_ICMP_CODE_ADDR_UNREACHABLE, 0, kat_udp, sizeof(kat_udp));
	check_error(out, n, kat_udp, sizeof(kat_udp), 1, 3, 0);

	/* Large one: cut so the error is exactly 1280 bytes. */
	udp.payload_len = 1420 - 48;
	for (size_t i = 0; i < udp.payload_len; i++)
		big[i] = (uint8_t)i;
	static uint8_t offending[1420];
	CHECK_INT(ipv6_build_udp(&udp, offending, sizeof(offending)), 1420);
	n = ipv6_build_icmp_error(out, sizeof(out), &us, IPV6_ICMP_PACKET_TOO_BIG, 0, 1280,
				  offending, 1420);
	CHECK_INT(n, IPV6_MIN_MTU);
	check_error(out, n, offending, 1420, 2, 0, 1280);
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, IPV6_ICMP_PACKET_TOO_BIG, 0, 1400,
					offending, 1420),
		  IPV6_MIN_MTU);
	CHECK_INT(get16(out + 46), 1400);
	/* An MTU below the IPv6 minimum is a caller bug. */
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, IPV6_ICMP_PACKET_TOO_BIG, 0, 1279,
					offending, 1420),
		  -EINVAL);
	/* Not an error type. */
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, IPV6_ICMP_ECHO_REPLY, 0, 0,
					offending, 1420),
		  -EINVAL);
	/* The buffer must hold the whole error. */
	CHECK_INT(ipv6_build_icmp_error(out, 1279, &us, IPV6_ICMP_DEST_UNREACHABLE, 0, 0, offending,
					1420),
		  -ENOSPC);
	CHECK_INT(ipv6_build_icmp_error(out, 48 + sizeof(kat_udp), &us, IPV6_ICMP_DEST_UNREACHABLE,
					0, 0, kat_udp, sizeof(kat_udp)),
		  (ssize_t)(48 + sizeof(kat_udp)));
	/* Garbage is not answered. */
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, IPV6_ICMP_DEST_UNREACHABLE, 0, 0,
					kat_udp, sizeof(kat_udp) - 1),
		  -EINVAL);

	/* Built over the offending packet itself: same result. */
	static uint8_t in_place[1500], copy[1500];
	memcpy(in_place, offending, 1420);
	n = ipv6_build_icmp_error(copy, sizeof(copy), &us, 1, 0, 0, offending, 1420);
	CHECK_INT(ipv6_build_icmp_error(in_place, sizeof(in_place), &us, 1, 0, 0, in_place, 1420),
		  n);
	CHECK_MEM(in_place, copy, (size_t)n);

	/* No error about an ICMPv6 error. */
	uint8_t err1[1500], err2[1500];
	n = ipv6_build_icmp_error(err1, sizeof(err1), &us, 1, 3, 0, kat_udp, sizeof(kat_udp));
	CHECK(n > 0);
	struct in6_addr them = addr("fd69:726f::99");
	CHECK_INT(ipv6_build_icmp_error(err2, sizeof(err2), &them, 1, 3, 0, err1, (size_t)n),
		  -EPERM);
	CHECK_INT(ipv6_build_icmp_error(err2, sizeof(err2), &them, 2, 0, 1280, err1, (size_t)n),
		  -EPERM);
	/* ... nor about a Redirect, nor an ICMPv6 fragment whose type cannot
	 * be seen, but yes about an echo request. */
	uint8_t body[64] = {IPV6_ICMP_REDIRECT, 0};
	size_t len = make_packet(pkt, IPV6_PROTO_ICMPV6, body, 40);
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, 1, 0, 0, pkt, len), -EPERM);
	body[0] = IPV6_ICMP_ECHO_REQUEST;
	len = make_packet(pkt, IPV6_PROTO_ICMPV6, body, 40);
	CHECK(ipv6_build_icmp_error(out, sizeof(out), &us, 1, 0, 0, pkt, len) > 0);
	CHECK(ipv6_build_icmp_error(out, sizeof(out), &us, 1, 0, 0, kat_echo, sizeof(kat_echo)) >
	      0);
	len = make_packet(pkt, IPV6_PROTO_ICMPV6, body, 0);
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, 1, 0, 0, pkt, len), -EPERM);
	memset(body, 0, sizeof(body));
	body[0] = IPV6_PROTO_ICMPV6;
	body[3] = 0x10; /* offset 16 */
	len = make_packet(pkt, IPV6_PROTO_FRAGMENT, body, 8 + 16);
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, 1, 0, 0, pkt, len), -EPERM);
	body[0] = IPV6_PROTO_UDP;
	len = make_packet(pkt, IPV6_PROTO_FRAGMENT, body, 8 + 16);
	CHECK(ipv6_build_icmp_error(out, sizeof(out), &us, 1, 0, 0, pkt, len) > 0);

	/* Sources that do not identify one node. */
	static const char *bad_src[] = {"::", "ff02::1", "ff05::2", "::1"};
	for (size_t i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
		memcpy(pkt, kat_udp, sizeof(kat_udp));
		struct in6_addr a = addr(bad_src[i]);
		memcpy(pkt + 8, &a, 16);
		CHECK_INT(
		    ipv6_build_icmp_error(out, sizeof(out), &us, 1, 3, 0, pkt, sizeof(kat_udp)),
		    -EPERM);
		CHECK_INT(
		    ipv6_build_icmp_error(out, sizeof(out), &us, 2, 0, 1280, pkt, sizeof(kat_udp)),
		    -EPERM);
	}
	/* To a multicast group: only Packet Too Big. */
	memcpy(pkt, kat_udp, sizeof(kat_udp));
	struct in6_addr group = addr("ff0e::1234");
	memcpy(pkt + 24, &group, 16);
	CHECK_INT(ipv6_build_icmp_error(out, sizeof(out), &us, 1, 0, 0, pkt, sizeof(kat_udp)),
		  -EPERM);
	n = ipv6_build_icmp_error(out, sizeof(out), &us, 2, 0, 1280, pkt, sizeof(kat_udp));
	check_error(out, n, pkt, sizeof(kat_udp), 2, 0, 1280);

	CHECK(ipv6_is_multicast(&group));
	CHECK(!ipv6_is_multicast(&us));
	struct in6_addr any = addr("::");
	CHECK(ipv6_is_unspecified(&any));
	CHECK(!ipv6_is_unspecified(&us));
}

static void test_ratelimit(void)
{
	struct ratelimit rl;
	const uint64_t ms = 1000000;
	uint64_t t = 5000 * ms; /* any origin */
	ratelimit_init(&rl, RATELIMIT_ICMP_RATE, RATELIMIT_ICMP_BURST);
	int allowed = 0;
	for (int i = 0; i < 50; i++)
		allowed += ratelimit_allow(&rl, t);
	CHECK_INT(allowed, 20);
	/* One token every 10 ms. */
	CHECK(!ratelimit_allow(&rl, t + 9 * ms));
	CHECK(ratelimit_allow(&rl, t + 10 * ms));
	CHECK(!ratelimit_allow(&rl, t + 10 * ms));
	CHECK(ratelimit_allow(&rl, t + 25 * ms));
	/* A clock that goes back earns nothing and breaks nothing. */
	CHECK(!ratelimit_allow(&rl, t));
	CHECK(!ratelimit_allow(&rl, t + 25 * ms));
	CHECK(ratelimit_allow(&rl, t + 35 * ms));
	/* A long pause refills only up to the burst. */
	t += 3600000 * ms;
	allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += ratelimit_allow(&rl, t);
	CHECK_INT(allowed, 20);
	/* Sustained flood, one attempt per 100 us for 10 s: the rate. */
	allowed = 0;
	for (int i = 1; i <= 100000; i++)
		allowed += ratelimit_allow(&rl, t + (uint64_t)i * 100000);
	CHECK(allowed >= 999 && allowed <= 1001);
	/* Pathological settings are raised to 1. */
	ratelimit_init(&rl, 0, 0);
	CHECK(ratelimit_allow(&rl, 0));
	CHECK(!ratelimit_allow(&rl, 999 * ms));
	CHECK(ratelimit_allow(&rl, 1000 * ms));
	/* Huge clock values do not overflow. */
	ratelimit_init(&rl, 100, 20);
	CHECK(ratelimit_allow(&rl, UINT64_MAX - 1));
	CHECK(ratelimit_allow(&rl, UINT64_MAX));
}

int main(void)
{
	test_known_packets();
	test_checksum_matches_reference();
	test_parse_rejects();
	test_extension_headers();
	test_udp_round_trip();
	test_icmp_errors();
	test_ratelimit();
	return check_done();
}
