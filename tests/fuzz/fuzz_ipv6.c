/* Fuzz target for the IPv6 packet code: arbitrary bytes through
 * ipv6_parse() and the UDP/DNS/echo extractors, and as the offending packet
 * of an ICMPv6 error. Every packet that iron builds from them must parse
 * again, carry a valid checksum, respect the 1280-byte limit and never draw
 * an error about itself; extracted UDP and echo messages must rebuild to
 * the same bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/ipv6.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct in6_addr us = {
    .s6_addr = {0xfd, 0x69, 0x72, 0x6f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* RFC 1071 the slow way, to cross-check the fast checksum. */
static uint16_t reference_checksum(const uint8_t *data, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < len; i++) {
		sum += i % 2 == 0 ? (uint32_t)data[i] << 8 : data[i];
		sum = (sum & 0xffff) + (sum >> 16);
	}
	/* The pseudo-header below: us twice, len, protocol 17. */
	for (int i = 0; i < 16; i += 2)
		sum += 2 * (uint32_t)(us.s6_addr[i] << 8 | us.s6_addr[i + 1]);
	sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + 17;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void check_error_packet(const uint8_t *err, ssize_t n, const uint8_t *offending,
			       size_t offending_len)
{
	struct ipv6_info info;
	static uint8_t again[IPV6_MIN_MTU];
	REQUIRE(n >= IPV6_HEADER_LEN + IPV6_ICMP_HEADER_LEN && n <= IPV6_MIN_MTU);
	REQUIRE(ipv6_parse(err, (size_t)n, &info) == 0);
	REQUIRE(info.protocol == IPV6_PROTO_ICMPV6 && info.payload_offset == IPV6_HEADER_LEN);
	REQUIRE(ipv6_checksum(&info.src, &info.dst, IPV6_PROTO_ICMPV6, err + IPV6_HEADER_LEN,
			      info.payload_len) == 0);
	REQUIRE(memcmp(err + 8, &us, 16) == 0 && memcmp(err + 24, offending + 8, 16) == 0);
	size_t quoted = (size_t)n - IPV6_HEADER_LEN - IPV6_ICMP_HEADER_LEN;
	REQUIRE(quoted == offending_len || n == IPV6_MIN_MTU);
	REQUIRE(memcmp(err + IPV6_HEADER_LEN + IPV6_ICMP_HEADER_LEN, offending, quoted) == 0);
	/* Never an error about an error. */
	REQUIRE(ipv6_build_icmp_error(again, sizeof(again), &us, IPV6_ICMP_DEST_UNREACHABLE, 0, 0,
				      err, (size_t)n) == -EPERM);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[IPV6_MAX_PACKET];
	struct ipv6_info info;

	REQUIRE(ipv6_checksum(&us, &us, IPV6_PROTO_UDP, data, size) ==
		reference_checksum(data, size));

	if (ipv6_parse(data, size, &info) == 0) {
		struct ipv6_udp udp;
		struct ipv6_echo echo;
		REQUIRE(size >= IPV6_HEADER_LEN && info.payload_offset >= IPV6_HEADER_LEN);
		REQUIRE(info.payload_offset + info.payload_len == size);
		REQUIRE(!info.later_fragment || info.fragment);
		bool dns = ipv6_is_dns_query(data, &info);
		if (ipv6_udp_parse(data, &info, &udp) == 0) {
			REQUIRE(udp.payload >= data &&
				udp.payload + udp.payload_len == data + size);
			REQUIRE(!dns || udp.dst_port == IPV6_DNS_PORT);
			/* Without extension headers, rebuilding gives the same
			 * bytes except the version/class/flow word and hop
			 * limit. */
			ssize_t n = ipv6_build_udp(&udp, out, sizeof(out));
			REQUIRE(n ==
				(ssize_t)(IPV6_HEADER_LEN + IPV6_UDP_HEADER_LEN + udp.payload_len));
			if (info.payload_offset == IPV6_HEADER_LEN)
				REQUIRE(memcmp(out + 4, data + 4, 3) == 0 &&
					memcmp(out + 8, data + 8, (size_t)n - 8) == 0);
			struct ipv6_info back;
			struct ipv6_udp udp2;
			REQUIRE(ipv6_parse(out, (size_t)n, &back) == 0);
			REQUIRE(ipv6_udp_parse(out, &back, &udp2) == 0);
		}
		if (ipv6_echo_parse(data, &info, &echo) == 0) {
			ssize_t n = ipv6_build_echo(&info.src, &info.dst, &echo, out, sizeof(out));
			REQUIRE(n ==
				(ssize_t)(IPV6_HEADER_LEN + IPV6_ICMP_HEADER_LEN + echo.data_len));
			if (info.payload_offset == IPV6_HEADER_LEN)
				REQUIRE(memcmp(out + 8, data + 8, (size_t)n - 8) == 0);
		}
	}

	static uint8_t err[IPV6_MIN_MTU];
	ssize_t n = ipv6_build_icmp_error(err, sizeof(err), &us, IPV6_ICMP_DEST_UNREACHABLE,
					  IPV6_ICMP_CODE_ADDR_UNREACHABLE, 0, data, size);
	REQUIRE(n > 0 || n == -EINVAL || n == -EPERM);
	REQUIRE((n == -EINVAL) == (ipv6_parse(data, size, &info) != 0));
	if (n > 0)
		check_error_packet(err, n, data, size);
	n = ipv6_build_icmp_error(err, sizeof(err), &us, IPV6_ICMP_PACKET_TOO_BIG, 0, 1280, data,
				  size);
	if (n > 0)
		check_error_packet(err, n, data, size);
	return 0;
}
