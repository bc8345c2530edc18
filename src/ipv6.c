#include "iron/ipv6.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "iron/addr.h"
#include "iron/bytes.h"

/* Extension headers with the common layout (Next Header, length in 8-byte
 * units beyond the first 8): RFC 8200 and the IANA registry. */
#define PROTO_MOBILITY 135
#define PROTO_HIP      139
#define PROTO_SHIM6    140
#define PROTO_EXP1     253
#define PROTO_EXP2     254

#define GENERATED_HOP_LIMIT 64

bool ipv6_is_multicast(const struct in6_addr *addr)
{
	return addr->s6_addr[0] == 0xff;
}

bool ipv6_is_unspecified(const struct in6_addr *addr)
{
	static const struct in6_addr any = {.s6_addr = {0}};
	return memcmp(addr, &any, sizeof(any)) == 0;
}

static bool is_loopback(const struct in6_addr *addr)
{
	static const struct in6_addr loopback = {.s6_addr = {[15] = 1}};
	return memcmp(addr, &loopback, sizeof(loopback)) == 0;
}

/* Adds the bytes to a one's complement sum kept as native-order 32-bit words
 * in a 64-bit accumulator (RFC 1071: the sum is independent of byte order
 * and may be taken over wider words, then folded). Inside, 64-bit words go
 * into a 128-bit accumulator (an add and an add-with-carry each); its high
 * half counts the carries out of 64 bits, each worth 1 since 2^64 is 1
 * modulo 2^16 - 1. The result is folded back under 2^33, so callers may
 * add a few more words. */
__extension__ typedef unsigned __int128 sum128;

static uint64_t sum_bytes(const uint8_t *p, size_t len, uint64_t sum)
{
	sum128 acc = sum;
	while (len >= 32) {
		uint64_t a, b, c, d;
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		memcpy(&c, p + 16, 8);
		memcpy(&d, p + 24, 8);
		acc += a;
		acc += b;
		acc += c;
		acc += d;
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		uint64_t a;
		memcpy(&a, p, 8);
		acc += a;
		p += 8;
		len -= 8;
	}
	if (len > 0) {
		/* The tail keeps its place in its 16-bit words (it starts at a
		 * multiple of 8 from the start); an odd byte is padded with a
		 * zero byte after it. */
		uint64_t tail = 0;
		memcpy(&tail, p, len);
		acc += tail;
	}
	uint64_t lo = (uint64_t)acc, hi = (uint64_t)(acc >> 64);
	uint64_t s = lo + hi;
	s += s < lo;
	return (s & 0xffffffffu) + (s >> 32);
}

static uint16_t fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t ipv6_checksum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t protocol,
		       const uint8_t *data, size_t len)
{
	/* Pseudo-header: both addresses, the 32-bit upper-layer length and the
	 * protocol in the low byte of a 32-bit word, all big-endian in memory;
	 * htonl gives the native word whose memory bytes are those. */
	uint64_t sum = sum_bytes(src->s6_addr, 16, 0);
	sum = sum_bytes(dst->s6_addr, 16, sum);
	sum += htonl((uint32_t)len);
	sum += htonl(protocol);
	sum = sum_bytes(data, len, sum);
	return ntohs((uint16_t)~fold(sum));
}

uint16_t ipv6_sum(const uint8_t *data, size_t len, uint16_t initial)
{
	return ntohs(fold(sum_bytes(data, len, htons(initial))));
}

uint16_t ipv6_pseudo_sum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t protocol,
			 size_t len)
{
	uint64_t sum = sum_bytes(src->s6_addr, 16, 0);
	sum = sum_bytes(dst->s6_addr, 16, sum);
	sum += htonl((uint32_t)len);
	sum += htonl(protocol);
	return ntohs(fold(sum));
}

/* Walks the extension headers that start at off with Next Header nh. The
 * loop is bounded by IPV6_MAX_EXTENSION_HEADERS, and each header's length is
 * checked against the bytes left before it is skipped. */
static int walk_extension_headers(const uint8_t *pkt, size_t len, uint8_t nh, size_t off,
				  struct ipv6_info *info)
{
	bool seen_fragment = false;
	for (unsigned count = 0;; count++) {
		size_t header_len;
		switch (nh) {
		case IPV6_PROTO_HOPOPTS:
			/* RFC 8200 section 4.1: only right after the fixed header. */
			if (count != 0)
				return -EINVAL;
			/* fall through */
		case IPV6_PROTO_ROUTING:
		case IPV6_PROTO_DSTOPTS:
		case PROTO_MOBILITY:
		case PROTO_HIP:
		case PROTO_SHIM6:
		case PROTO_EXP1:
		case PROTO_EXP2:
			if (len - off < 8)
				return -EINVAL;
			header_len = ((size_t)pkt[off + 1] + 1) * 8;
			break;
		case IPV6_PROTO_AH:
			/* RFC 4302: length in 4-byte units, minus 2. */
			if (len - off < 8)
				return -EINVAL;
			header_len = ((size_t)pkt[off + 1] + 2) * 4;
			break;
		case IPV6_PROTO_FRAGMENT: {
			if (len - off < 8 || seen_fragment)
				return -EINVAL;
			seen_fragment = true;
			uint16_t offset_flags = bytes_get16(pkt + off + 2);
			bool more = offset_flags & 1;
			uint16_t offset = offset_flags & 0xfff8;
			/* An atomic fragment (offset 0, no more) is a whole packet
			 * (RFC 6946). */
			if (offset != 0 || more)
				info->fragment = true;
			if (offset != 0) {
				/* The rest is the middle of the data: nothing more
				 * to walk. */
				info->later_fragment = true;
				info->protocol = pkt[off];
				info->payload_offset = off + 8;
				info->payload_len = len - off - 8;
				return 0;
			}
			header_len = 8;
			break;
		}
		default:
			/* Upper-layer protocol, ESP or No Next Header. */
			info->protocol = nh;
			info->payload_offset = off;
			info->payload_len = len - off;
			return 0;
		}
		if (count >= IPV6_MAX_EXTENSION_HEADERS || header_len > len - off)
			return -EINVAL;
		nh = pkt[off];
		off += header_len;
	}
}

int ipv6_parse(const uint8_t *pkt, size_t len, struct ipv6_info *info)
{
	if (len < IPV6_HEADER_LEN || (pkt[0] >> 4) != 6)
		return -EINVAL;
	/* A zero payload length with a Jumbo Payload option would mean a
	 * jumbogram, which no TUN or datagram here can carry; the length
	 * check rejects it. */
	if (bytes_get16(pkt + 4) != len - IPV6_HEADER_LEN)
		return -EINVAL;
	memcpy(&info->src, pkt + 8, 16);
	memcpy(&info->dst, pkt + 24, 16);
	info->hop_limit = pkt[7];
	info->fragment = false;
	info->later_fragment = false;
	uint8_t nh = pkt[6];
	if (nh == IPV6_PROTO_TCP || nh == IPV6_PROTO_UDP || nh == IPV6_PROTO_ICMPV6) {
		info->protocol = nh;
		info->payload_offset = IPV6_HEADER_LEN;
		info->payload_len = len - IPV6_HEADER_LEN;
		return 0;
	}
	return walk_extension_headers(pkt, len, nh, IPV6_HEADER_LEN, info);
}

int ipv6_udp_parse(const uint8_t *pkt, const struct ipv6_info *info, struct ipv6_udp *udp)
{
	if (info->protocol != IPV6_PROTO_UDP || info->fragment ||
	    info->payload_len < IPV6_UDP_HEADER_LEN)
		return -EINVAL;
	const uint8_t *seg = pkt + info->payload_offset;
	/* A zero checksum means "none", which IPv6 does not allow (RFC 8200
	 * section 8.1). */
	if (bytes_get16(seg + 4) != info->payload_len || bytes_get16(seg + 6) == 0)
		return -EINVAL;
	if (ipv6_checksum(&info->src, &info->dst, IPV6_PROTO_UDP, seg, info->payload_len) != 0)
		return -EINVAL;
	udp->src = info->src;
	udp->dst = info->dst;
	udp->src_port = bytes_get16(seg);
	udp->dst_port = bytes_get16(seg + 2);
	udp->payload = seg + IPV6_UDP_HEADER_LEN;
	udp->payload_len = info->payload_len - IPV6_UDP_HEADER_LEN;
	return 0;
}

bool ipv6_is_dns_query(const uint8_t *pkt, const struct ipv6_info *info)
{
	return info->protocol == IPV6_PROTO_UDP && !info->fragment &&
	       info->payload_len >= IPV6_UDP_HEADER_LEN &&
	       memcmp(&info->dst, &addr_dns, sizeof(addr_dns)) == 0 &&
	       bytes_get16(pkt + info->payload_offset + 2) == IPV6_DNS_PORT;
}

static void put_header(uint8_t *out, size_t payload_len, uint8_t protocol,
		       const struct in6_addr *src, const struct in6_addr *dst)
{
	/* Version 6, traffic class 0, flow label 0. */
	out[0] = 0x60;
	out[1] = 0;
	out[2] = 0;
	out[3] = 0;
	bytes_put16(out + 4, (uint16_t)payload_len);
	out[6] = protocol;
	out[7] = GENERATED_HOP_LIMIT;
	memcpy(out + 8, src, 16);
	memcpy(out + 24, dst, 16);
}

ssize_t ipv6_build_udp(const struct ipv6_udp *udp, uint8_t *out, size_t cap)
{
	if (udp->payload_len > 65535 - IPV6_UDP_HEADER_LEN)
		return -EMSGSIZE;
	size_t seg_len = IPV6_UDP_HEADER_LEN + udp->payload_len;
	if (cap < IPV6_HEADER_LEN + seg_len)
		return -ENOSPC;
	uint8_t *seg = out + IPV6_HEADER_LEN;
	if (udp->payload_len > 0)
		memmove(seg + IPV6_UDP_HEADER_LEN, udp->payload, udp->payload_len);
	put_header(out, seg_len, IPV6_PROTO_UDP, &udp->src, &udp->dst);
	bytes_put16(seg, udp->src_port);
	bytes_put16(seg + 2, udp->dst_port);
	bytes_put16(seg + 4, (uint16_t)seg_len);
	bytes_put16(seg + 6, 0);
	uint16_t sum = ipv6_checksum(&udp->src, &udp->dst, IPV6_PROTO_UDP, seg, seg_len);
	/* A computed zero is sent as all ones; zero means "no checksum". */
	bytes_put16(seg + 6, sum == 0 ? 0xffff : sum);
	return (ssize_t)(IPV6_HEADER_LEN + seg_len);
}

/* RFC 4443 section 2.4(e): the packets that must not draw an error. */
static bool error_allowed(const uint8_t *pkt, const struct ipv6_info *info, uint8_t type)
{
	if (ipv6_is_multicast(&info->src) || ipv6_is_unspecified(&info->src) ||
	    is_loopback(&info->src))
		return false;
	/* Packet Too Big is the exception, so path MTU discovery works for
	 * multicast. */
	if (ipv6_is_multicast(&info->dst) && type != IPV6_ICMP_PACKET_TOO_BIG)
		return false;
	if (info->protocol == IPV6_PROTO_ICMPV6) {
		/* A later fragment hides the type: assume the worst rather than
		 * risk an error storm. */
		if (info->later_fragment || info->payload_len < 1)
			return false;
		uint8_t offending_type = pkt[info->payload_offset];
		if (offending_type < 128 || offending_type == IPV6_ICMP_REDIRECT)
			return false;
	}
	return true;
}

ssize_t ipv6_build_icmp_error(uint8_t *out, size_t cap, const struct in6_addr *src, uint8_t type,
			      uint8_t code, uint32_t param, const uint8_t *offending,
			      size_t offending_len)
{
	struct ipv6_info info;
	if (type >= 128 || (type == IPV6_ICMP_PACKET_TOO_BIG && param < IPV6_MIN_MTU))
		return -EINVAL;
	if (ipv6_parse(offending, offending_len, &info) != 0)
		return -EINVAL;
	if (!error_allowed(offending, &info, type))
		return -EPERM;
	size_t quoted = offending_len;
	if (quoted > IPV6_MIN_MTU - IPV6_HEADER_LEN - IPV6_ICMP_HEADER_LEN)
		quoted = IPV6_MIN_MTU - IPV6_HEADER_LEN - IPV6_ICMP_HEADER_LEN;
	size_t seg_len = IPV6_ICMP_HEADER_LEN + quoted;
	if (cap < IPV6_HEADER_LEN + seg_len)
		return -ENOSPC;
	uint8_t *seg = out + IPV6_HEADER_LEN;
	/* Moved first, so the error may be built over the offending packet. */
	memmove(seg + IPV6_ICMP_HEADER_LEN, offending, quoted);
	put_header(out, seg_len, IPV6_PROTO_ICMPV6, src, &info.src);
	seg[0] = type;
	seg[1] = code;
	bytes_put16(seg + 2, 0);
	bytes_put32(seg + 4, param);
	bytes_put16(seg + 2, ipv6_checksum(src, &info.src, IPV6_PROTO_ICMPV6, seg, seg_len));
	return (ssize_t)(IPV6_HEADER_LEN + seg_len);
}

ssize_t ipv6_build_echo(const struct in6_addr *src, const struct in6_addr *dst,
			const struct ipv6_echo *echo, uint8_t *out, size_t cap)
{
	if (echo->type != IPV6_ICMP_ECHO_REQUEST && echo->type != IPV6_ICMP_ECHO_REPLY)
		return -EINVAL;
	if (echo->data_len > 65535 - IPV6_ICMP_HEADER_LEN)
		return -EMSGSIZE;
	size_t seg_len = IPV6_ICMP_HEADER_LEN + echo->data_len;
	if (cap < IPV6_HEADER_LEN + seg_len)
		return -ENOSPC;
	uint8_t *seg = out + IPV6_HEADER_LEN;
	if (echo->data_len > 0)
		memmove(seg + IPV6_ICMP_HEADER_LEN, echo->data, echo->data_len);
	put_header(out, seg_len, IPV6_PROTO_ICMPV6, src, dst);
	seg[0] = echo->type;
	seg[1] = 0;
	bytes_put16(seg + 2, 0);
	bytes_put16(seg + 4, echo->identifier);
	bytes_put16(seg + 6, echo->sequence);
	bytes_put16(seg + 2, ipv6_checksum(src, dst, IPV6_PROTO_ICMPV6, seg, seg_len));
	return (ssize_t)(IPV6_HEADER_LEN + seg_len);
}

int ipv6_echo_parse(const uint8_t *pkt, const struct ipv6_info *info, struct ipv6_echo *echo)
{
	if (info->protocol != IPV6_PROTO_ICMPV6 || info->fragment ||
	    info->payload_len < IPV6_ICMP_HEADER_LEN)
		return -EINVAL;
	const uint8_t *seg = pkt + info->payload_offset;
	if ((seg[0] != IPV6_ICMP_ECHO_REQUEST && seg[0] != IPV6_ICMP_ECHO_REPLY) || seg[1] != 0)
		return -EINVAL;
	if (ipv6_checksum(&info->src, &info->dst, IPV6_PROTO_ICMPV6, seg, info->payload_len) != 0)
		return -EINVAL;
	echo->type = seg[0];
	echo->identifier = bytes_get16(seg + 4);
	echo->sequence = bytes_get16(seg + 6);
	echo->data = seg + IPV6_ICMP_HEADER_LEN;
	echo->data_len = info->payload_len - IPV6_ICMP_HEADER_LEN;
	return 0;
}
