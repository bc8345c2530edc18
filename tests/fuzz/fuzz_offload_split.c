/* Fuzz target for offload_split(): arbitrary bytes as a TUN read (the
 * virtio_net_hdr, then the packet). Every packet handed over must lie
 * inside the buffer; an error hands over nothing; a TSO or USO split must
 * give IPv6 packets whose length fields match, whose checksums verify and
 * whose payloads add up to the original's, in gso_size pieces. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/ipv6.h"
#include "iron/offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

struct seen {
	const uint8_t *start, *end;
	bool segmented;
	size_t headers_len, gso_size, packets, payload;
	bool short_seen; /* a piece shorter than gso_size: must be the last */
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void on_packet(void *user, const uint8_t *pkt, size_t len)
{
	struct seen *s = user;
	REQUIRE(len > 0 && pkt >= s->start && pkt + len <= s->end);
	s->packets++;
	if (!s->segmented)
		return;
	struct in6_addr src, dst;
	REQUIRE(len > s->headers_len && len - s->headers_len <= s->gso_size);
	REQUIRE(!s->short_seen);
	if (len - s->headers_len < s->gso_size)
		s->short_seen = true;
	s->payload += len - s->headers_len;
	REQUIRE(rd16(pkt + 4) == len - IPV6_HEADER_LEN);
	memcpy(&src, pkt + 8, 16);
	memcpy(&dst, pkt + 24, 16);
	REQUIRE(ipv6_checksum(&src, &dst, pkt[6], pkt + IPV6_HEADER_LEN, len - IPV6_HEADER_LEN) ==
		0);
	if (pkt[6] == IPV6_PROTO_UDP)
		REQUIRE(rd16(pkt + 44) == len - IPV6_HEADER_LEN && rd16(pkt + 46) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct offload_vnet_hdr hdr;
	/* A copy of exactly size bytes (the split works in place), so the
	 * sanitizer sees any access past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	struct seen s = {.start = buf, .end = buf + size};
	struct offload_sink sink = {.packet = on_packet, .user = &s};
	if (!buf || size > OFFLOAD_READ_MAX) {
		free(buf);
		return 0;
	}
	memcpy(buf, data, size);
	uint8_t gso = 0;
	if (offload_vnet_hdr_decode(data, size, &hdr) == 0) {
		gso = hdr.gso_type & (uint8_t)~OFFLOAD_GSO_ECN;
		const uint8_t *pkt = data + OFFLOAD_VNET_HDR_LEN;
		size_t len = size - OFFLOAD_VNET_HDR_LEN;
		bool tcp = gso == OFFLOAD_GSO_TCPV6 && len >= 60 && pkt[6] == IPV6_PROTO_TCP;
		bool udp = gso == OFFLOAD_GSO_UDP_L4 && len >= 48 && pkt[6] == IPV6_PROTO_UDP;
		if ((tcp || udp) && pkt[0] >> 4 == 6) {
			s.segmented = true;
			s.gso_size = hdr.gso_size;
			s.headers_len = tcp ? IPV6_HEADER_LEN + (size_t)(pkt[52] >> 4) * 4
					    : IPV6_HEADER_LEN + 8;
		}
	}
	int rc = offload_split(buf, size, &sink);
	REQUIRE(rc == -EINVAL || rc == -EPROTONOSUPPORT || rc >= 1);
	free(buf);
	if (rc < 0) {
		REQUIRE(s.packets == 0);
		return 0;
	}
	REQUIRE((size_t)rc == s.packets);
	if (s.segmented)
		REQUIRE(s.payload == size - OFFLOAD_VNET_HDR_LEN - s.headers_len);
	else
		REQUIRE(rc == 1);
	return 0;
}
