/* IPv6 packets on the router's hot path (SPEC section 7): validating what
 * the TUN and the peers hand us, recognising in-tunnel DNS queries, and
 * building the packets iron writes back into the TUN (DNS replies, ICMPv6
 * errors, echo requests).
 *
 * Everything here is pure: bytes in, result out, no I/O, no allocation, no
 * clock. Every reader checks lengths before it reads; the packet bytes are
 * never trusted. Functions that take a packet together with its struct
 * ipv6_info expect the info that ipv6_parse() filled in for that packet. */
#ifndef IRON_IPV6_H
#define IRON_IPV6_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPV6_HEADER_LEN	     40
#define IPV6_UDP_HEADER_LEN  8
#define IPV6_ICMP_HEADER_LEN 8
/* The IPv6 minimum link MTU; an ICMPv6 error never exceeds it. */
#define IPV6_MIN_MTU 1280
/* Longest packet the TUN or a peer can hand us: the payload length field is
 * 16 bits and jumbograms are not supported. */
#define IPV6_MAX_PACKET (IPV6_HEADER_LEN + 65535)
/* Extension headers walked before a packet is refused; RFC 8200 allows each
 * kind once (Destination Options twice), so eight is plenty. */
#define IPV6_MAX_EXTENSION_HEADERS 8

/* Next Header values iron cares about. */
#define IPV6_PROTO_HOPOPTS  0
#define IPV6_PROTO_TCP	    6
#define IPV6_PROTO_UDP	    17
#define IPV6_PROTO_ROUTING  43
#define IPV6_PROTO_FRAGMENT 44
#define IPV6_PROTO_ESP	    50
#define IPV6_PROTO_AH	    51
#define IPV6_PROTO_ICMPV6   58
#define IPV6_PROTO_NONE	    59
#define IPV6_PROTO_DSTOPTS  60

/* ICMPv6 types and codes (RFC 4443). */
#define IPV6_ICMP_DEST_UNREACHABLE	1
#define IPV6_ICMP_PACKET_TOO_BIG	2
#define IPV6_ICMP_TIME_EXCEEDED		3
#define IPV6_ICMP_PARAMETER_PROBLEM	4
#define IPV6_ICMP_ECHO_REQUEST		128
#define IPV6_ICMP_ECHO_REPLY		129
#define IPV6_ICMP_REDIRECT		137
#define IPV6_ICMP_CODE_NO_ROUTE		0
#define IPV6_ICMP_CODE_ADMIN		1
#define IPV6_ICMP_CODE_ADDR_UNREACHABLE 3
#define IPV6_ICMP_CODE_PORT_UNREACHABLE 4

#define IPV6_DNS_PORT 53

/* What ipv6_parse() learnt about a packet. */
struct ipv6_info {
	struct in6_addr src;
	struct in6_addr dst;
	/* The upper-layer protocol: the Next Header value after the last
	 * extension header (IPV6_PROTO_ESP and IPV6_PROTO_NONE end the walk). */
	uint8_t protocol;
	uint8_t hop_limit;
	/* The packet carries a Fragment header. */
	bool fragment;
	/* ... with a non-zero offset: the bytes at payload_offset are the middle
	 * of the upper-layer data, not its header. */
	bool later_fragment;
	/* Where the upper-layer header starts and how many bytes follow it (to
	 * the end of the packet). */
	size_t payload_offset;
	size_t payload_len;
};

/* Validates an IPv6 packet and fills info: version 6, the fixed header
 * present, the payload length equal to len - 40 (the TUN and peers hand
 * over exact packets, so a mismatch is an error, not padding), and an
 * extension header chain that fits in the packet, with Hop-by-Hop Options
 * only first, at most IPV6_MAX_EXTENSION_HEADERS long, and complete in the
 * first fragment. Returns 0, or -EINVAL (info is then unspecified).
 * TCP, UDP and ICMPv6 directly after the fixed header take the short path. */
int ipv6_parse(const uint8_t *pkt, size_t len, struct ipv6_info *info);

/* ff00::/8. */
bool ipv6_is_multicast(const struct in6_addr *addr);

/* ::. */
bool ipv6_is_unspecified(const struct in6_addr *addr);

/* The RFC 1071 Internet checksum of data, with the IPv6 pseudo-header
 * (RFC 8200 section 8.1) of src, dst, len and protocol, in host byte order.
 * Over a segment whose checksum field is zero it is the value to store; over
 * a segment that carries a correct checksum it is 0. */
uint16_t ipv6_checksum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t protocol,
		       const uint8_t *data, size_t len);

/* The same sum in parts, for checksums that someone else completes or
 * began (the TUN's partial checksums): ipv6_sum() is the folded, not
 * complemented RFC 1071 sum of data added to initial (a previous result, or
 * 0); ipv6_pseudo_sum() that of the pseudo-header alone, for an
 * upper-layer length of len. Both in host byte order. The checksum of a
 * segment is then ~ipv6_sum(segment, len, ipv6_pseudo_sum(...)). */
uint16_t ipv6_sum(const uint8_t *data, size_t len, uint16_t initial);
uint16_t ipv6_pseudo_sum(const struct in6_addr *src, const struct in6_addr *dst, uint8_t protocol,
			 size_t len);

/* A UDP datagram: both ends and the payload. The payload points into the
 * packet it was parsed from (or is the caller's, for building). */
struct ipv6_udp {
	struct in6_addr src;
	struct in6_addr dst;
	uint16_t src_port;
	uint16_t dst_port;
	const uint8_t *payload;
	size_t payload_len;
};

/* Extracts the UDP datagram of a parsed, unfragmented UDP packet, checking
 * that the UDP length equals the payload length and that the checksum is
 * present (it is mandatory over IPv6) and correct. Returns 0 or -EINVAL. */
int ipv6_udp_parse(const uint8_t *pkt, const struct ipv6_info *info, struct ipv6_udp *udp);

/* True when a parsed packet is addressed to the in-tunnel DNS server,
 * UDP to [fd69:726f:0:1::53]:53 (SPEC section 5); the router answers such
 * packets itself. Says nothing about the UDP length or checksum:
 * ipv6_udp_parse() checks those. */
bool ipv6_is_dns_query(const uint8_t *pkt, const struct ipv6_info *info);

/* Builds an IPv6/UDP packet from udp (hop limit 64, checksum computed) into
 * out, which holds cap bytes; the payload may overlap out (it is moved, so a
 * reply can be built over its query). Returns the packet's length, or
 * -EMSGSIZE when the payload does not fit a UDP datagram, -ENOSPC when it
 * does not fit cap. */
ssize_t ipv6_build_udp(const struct ipv6_udp *udp, uint8_t *out, size_t cap);

/* Builds an ICMPv6 error about the packet offending (offending_len bytes,
 * as read from the TUN) into out (cap bytes): type and code as given, param
 * in the 32-bit field after the checksum (the MTU for Packet Too Big, the
 * pointer for Parameter Problem, 0 otherwise), then as much of the
 * offending packet as fits in IPV6_MIN_MTU bytes in total (RFC 4443
 * section 2.4(c)), addressed to the offending packet's source, with a
 * correct checksum and hop limit 64.
 *
 * src is the error's source: pass this node's own overlay address. RFC 4443
 * says the source is an address of the node that generates the error, and
 * iron is the router between the host and the overlay; writing it as if it
 * came from the unreachable peer would forge that peer's address, and an
 * address no interface owns (say the DNS address) would mislead tools that
 * print where an error came from (ping, traceroute).
 *
 * Returns the packet's length; -EINVAL when offending is not a valid IPv6
 * packet or a Packet Too Big MTU is below IPV6_MIN_MTU; -EPERM when RFC 4443
 * section 2.4(e) forbids an error for that packet: it is an ICMPv6 error or
 * a Redirect (or an ICMPv6 fragment whose type cannot be seen), its source
 * is multicast, unspecified or loopback, or its destination is multicast
 * (except for Packet Too Big); -ENOSPC when cap is too small for the header
 * and 8 quoted bytes. */
ssize_t ipv6_build_icmp_error(uint8_t *out, size_t cap, const struct in6_addr *src, uint8_t type,
			      uint8_t code, uint32_t param, const uint8_t *offending,
			      size_t offending_len);

/* An ICMPv6 Echo Request or Reply (RFC 4443 section 4). data points into
 * the packet it was parsed from (or is the caller's, for building). */
struct ipv6_echo {
	uint8_t type; /* IPV6_ICMP_ECHO_REQUEST or IPV6_ICMP_ECHO_REPLY */
	uint16_t identifier;
	uint16_t sequence;
	const uint8_t *data;
	size_t data_len;
};

/* Builds an ICMPv6 echo message from src to dst (hop limit 64, checksum
 * computed) into out (cap bytes). Returns the packet's length; -EINVAL when
 * echo->type is not an echo type; -EMSGSIZE when the data does not fit one
 * packet; -ENOSPC when it does not fit cap. */
ssize_t ipv6_build_echo(const struct in6_addr *src, const struct in6_addr *dst,
			const struct ipv6_echo *echo, uint8_t *out, size_t cap);

/* Extracts the echo message of a parsed, unfragmented ICMPv6 packet of type
 * Echo Request or Echo Reply, code 0, with a correct checksum. Returns 0 or
 * -EINVAL. */
int ipv6_echo_parse(const uint8_t *pkt, const struct ipv6_info *info, struct ipv6_echo *echo);

#endif
