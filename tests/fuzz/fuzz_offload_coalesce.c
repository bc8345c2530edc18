/* Fuzz target for the coalescer: the input is a script of packets for the
 * TUN. Each step takes one byte:
 *   0x00-0x7f: a packet of the next (byte << 8 | next byte) % 2048 bytes
 *              of input (fewer if the input ends);
 *   0x80-0xbf: the last TCP packet again as the next segment of its flow
 *              (sequence number advanced by its payload, payload length
 *              (byte & 0x3f) * 37 bytes, checksum right), so runs form;
 *   0xc0-0xff: a flush.
 * Every packet must come out exactly once, in order within its flow:
 * counted segments and bytes add up; a coalesced write's virtio_net_hdr
 * and IPv6 length agree with it, and offload_split() cuts it back into as
 * many packets as it carries, each of them well-formed. */
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

struct totals {
	size_t packets, bytes;
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void count_piece(void *user, const uint8_t *pkt, size_t len)
{
	size_t *n = user;
	(void)pkt;
	(void)len;
	(*n)++;
}

static void on_write(void *user, const uint8_t *vnet, const uint8_t *pkt, size_t len,
		     unsigned segments)
{
	static uint8_t again[OFFLOAD_READ_MAX];
	struct totals *t = user;
	struct offload_vnet_hdr hdr;
	REQUIRE(segments >= 1 && offload_vnet_hdr_decode(vnet, OFFLOAD_VNET_HDR_LEN, &hdr) == 0);
	t->packets += segments;
	if (segments == 1) {
		REQUIRE(hdr.flags == 0 && hdr.gso_type == 0);
		t->bytes += len;
		return;
	}
	REQUIRE(hdr.flags == OFFLOAD_F_NEEDS_CSUM && hdr.gso_type == OFFLOAD_GSO_TCPV6);
	REQUIRE(hdr.csum_start == IPV6_HEADER_LEN && hdr.csum_offset == 16);
	REQUIRE(len <= OFFLOAD_COALESCE_MAX && rd16(pkt + 4) == len - IPV6_HEADER_LEN);
	REQUIRE(hdr.hdr_len == IPV6_HEADER_LEN + (size_t)(pkt[52] >> 4) * 4);
	size_t payload = len - hdr.hdr_len;
	REQUIRE(hdr.gso_size > 0 && payload > (segments - 1) * (size_t)hdr.gso_size &&
		payload <= segments * (size_t)hdr.gso_size);
	t->bytes += len + (segments - 1) * (size_t)hdr.hdr_len;
	memcpy(again, vnet, OFFLOAD_VNET_HDR_LEN);
	memcpy(again + OFFLOAD_VNET_HDR_LEN, pkt, len);
	size_t pieces = 0;
	struct offload_sink sink = {.packet = count_piece, .user = &pieces};
	REQUIRE(offload_split(again, OFFLOAD_VNET_HDR_LEN + len, &sink) == (int)segments);
	REQUIRE(pieces == segments);
}

/* Builds the segment after prev (a TCP packet of prev_len bytes) with
 * payload_len bytes. Returns its length, or 0 when prev is no TCP packet
 * or the result would not fit. */
static size_t next_segment(const uint8_t *prev, size_t prev_len, size_t payload_len, uint8_t *out,
			   size_t cap)
{
	if (prev_len < 60 || prev[0] >> 4 != 6 || prev[6] != IPV6_PROTO_TCP)
		return 0;
	size_t headers = IPV6_HEADER_LEN + (size_t)(prev[52] >> 4) * 4;
	if (headers < 60 || headers > prev_len || headers + payload_len > cap)
		return 0;
	uint32_t seq = (uint32_t)prev[44] << 24 | (uint32_t)prev[45] << 16 |
		       (uint32_t)prev[46] << 8 | prev[47];
	seq += (uint32_t)(prev_len - headers);
	memmove(out, prev, headers);
	out[44] = (uint8_t)(seq >> 24);
	out[45] = (uint8_t)(seq >> 16);
	out[46] = (uint8_t)(seq >> 8);
	out[47] = (uint8_t)seq;
	size_t len = headers + payload_len;
	out[4] = (uint8_t)((len - IPV6_HEADER_LEN) >> 8);
	out[5] = (uint8_t)(len - IPV6_HEADER_LEN);
	for (size_t i = 0; i < payload_len; i++)
		out[headers + i] = (uint8_t)(seq + i);
	struct in6_addr src, dst;
	memcpy(&src, out + 8, 16);
	memcpy(&dst, out + 24, 16);
	out[56] = out[57] = 0;
	uint16_t sum =
	    ipv6_checksum(&src, &dst, IPV6_PROTO_TCP, out + IPV6_HEADER_LEN, len - IPV6_HEADER_LEN);
	out[56] = (uint8_t)(sum >> 8);
	out[57] = (uint8_t)sum;
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t last[4096], pkt[4096];
	size_t last_len = 0;
	struct totals in = {0}, out = {0};
	struct offload_writer writer = {.write = on_write, .user = &out};
	struct offload_coalescer *c;
	if (offload_coalescer_new(&writer, &c) != 0)
		return 0;
	size_t at = 0;
	while (at < size) {
		uint8_t op = data[at++];
		size_t len;
		if (op >= 0xc0) {
			offload_coalescer_flush(c);
			REQUIRE(out.packets == in.packets && out.bytes == in.bytes);
			continue;
		}
		if (op >= 0x80) {
			len = next_segment(last, last_len, (size_t)(op & 0x3f) * 37, pkt,
					   sizeof(pkt));
			if (len == 0)
				continue;
		} else {
			if (at + 1 >= size)
				break;
			len = ((size_t)data[at] << 8 | data[at + 1]) % 2048;
			at += 2;
			if (len > size - at)
				len = size - at;
			memcpy(pkt, data + at, len);
			at += len;
		}
		/* Exactly len bytes, so the sanitizer sees a read past them. */
		uint8_t *exact = malloc(len ? len : 1);
		REQUIRE(exact);
		memcpy(exact, pkt, len);
		offload_coalescer_add(c, exact, len);
		free(exact);
		in.packets++;
		in.bytes += len;
		if (len >= 60 && pkt[6] == IPV6_PROTO_TCP) {
			memcpy(last, pkt, len);
			last_len = len;
		}
	}
	offload_coalescer_flush(c);
	REQUIRE(out.packets == in.packets && out.bytes == in.bytes);
	offload_coalescer_del(c);
	return 0;
}
