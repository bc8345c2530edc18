#include "iron/offload.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "iron/bytes.h"
#include "iron/ipv6.h"

#define TCP_HEADER_MIN 20
#define TCP_HEADER_MAX 60
#define TCP_CSUM_AT    16
#define UDP_CSUM_AT    6
#define TCP_FIN	       0x01
#define TCP_SYN	       0x02
#define TCP_RST	       0x04
#define TCP_PSH	       0x08
#define TCP_ACK	       0x10
#define TCP_CWR	       0x80
/* The largest header run a GSO packet can have here: IPv6 and TCP. */
#define HEADERS_MAX (IPV6_HEADER_LEN + TCP_HEADER_MAX)

/* virtio 1.0 fields are little-endian (TUN uses the host's order only for
 * legacy big-endian guests, which TUNSETVNETBE would select). */
static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

int offload_vnet_hdr_decode(const uint8_t *buf, size_t len, struct offload_vnet_hdr *hdr)
{
	if (len < OFFLOAD_VNET_HDR_LEN)
		return -EINVAL;
	hdr->flags = buf[0];
	hdr->gso_type = buf[1];
	hdr->hdr_len = get_le16(buf + 2);
	hdr->gso_size = get_le16(buf + 4);
	hdr->csum_start = get_le16(buf + 6);
	hdr->csum_offset = get_le16(buf + 8);
	return 0;
}

void offload_vnet_hdr_encode(const struct offload_vnet_hdr *hdr, uint8_t *out)
{
	out[0] = hdr->flags;
	out[1] = hdr->gso_type;
	put_le16(out + 2, hdr->hdr_len);
	put_le16(out + 4, hdr->gso_size);
	put_le16(out + 6, hdr->csum_start);
	put_le16(out + 8, hdr->csum_offset);
}

/* ---- split ---- */

/* Completes a partial checksum as a NIC would: the field at csum_at holds
 * the pseudo-header sum, the sum from start to the end is complemented
 * into it. 0 goes out as 0xffff, which means the same to TCP and is the
 * only right form for UDP (0 there means "no checksum"). */
static void complete_checksum(uint8_t *pkt, size_t len, size_t start, size_t csum_at)
{
	uint16_t sum = (uint16_t)~ipv6_sum(pkt + start, len - start, 0);
	bytes_put16(pkt + csum_at, sum == 0 ? 0xffff : sum);
}

static int split_unsegmented(uint8_t *pkt, size_t len, const struct offload_vnet_hdr *hdr,
			     const struct offload_sink *sink)
{
	if (hdr->flags & OFFLOAD_F_NEEDS_CSUM) {
		size_t at = (size_t)hdr->csum_start + hdr->csum_offset;
		if (len < 2 || hdr->csum_start >= len || at > len - 2)
			return -EINVAL;
		complete_checksum(pkt, len, hdr->csum_start, at);
	}
	sink->packet(sink->user, pkt, len);
	return 1;
}

/* Cuts a TCP or UDP super-packet (checked by the caller: headers of
 * headers_len bytes, then payload_len > 0 bytes) into gso_size pieces.
 * Each piece's headers are copied in front of its payload, over the end of
 * the previous piece, which the sink is done with: no payload is copied. */
static int split_segments(uint8_t *pkt, size_t headers_len, size_t payload_len, size_t gso_size,
			  bool tcp, const struct offload_sink *sink)
{
	uint8_t template[HEADERS_MAX];
	struct in6_addr src, dst;
	size_t count = (payload_len + gso_size - 1) / gso_size;
	memcpy(template, pkt, headers_len);
	memcpy(&src, pkt + 8, 16);
	memcpy(&dst, pkt + 24, 16);
	uint32_t seq = tcp ? bytes_get32(pkt + IPV6_HEADER_LEN + 4) : 0;
	uint8_t flags = tcp ? pkt[IPV6_HEADER_LEN + 13] : 0;
	for (size_t i = 0; i < count; i++) {
		size_t offset = i * gso_size;
		size_t piece = payload_len - offset < gso_size ? payload_len - offset : gso_size;
		uint8_t *seg = pkt + offset;
		uint8_t *l4 = seg + IPV6_HEADER_LEN;
		size_t l4_len = headers_len - IPV6_HEADER_LEN + piece;
		if (i > 0)
			memcpy(seg, template, headers_len);
		bytes_put16(seg + 4, (uint16_t)l4_len);
		if (tcp) {
			uint8_t f = flags;
			if (i > 0)
				f &= (uint8_t)~TCP_CWR;
			if (i + 1 < count)
				f &= (uint8_t) ~(TCP_FIN | TCP_PSH);
			bytes_put32(l4 + 4, seq + (uint32_t)offset);
			l4[13] = f;
			bytes_put16(l4 + TCP_CSUM_AT, 0);
			bytes_put16(l4 + TCP_CSUM_AT,
				    ipv6_checksum(&src, &dst, IPV6_PROTO_TCP, l4, l4_len));
		} else {
			bytes_put16(l4 + 4, (uint16_t)l4_len);
			bytes_put16(l4 + UDP_CSUM_AT, 0);
			uint16_t sum = ipv6_checksum(&src, &dst, IPV6_PROTO_UDP, l4, l4_len);
			bytes_put16(l4 + UDP_CSUM_AT, sum == 0 ? 0xffff : sum);
		}
		sink->packet(sink->user, seg, headers_len + piece);
	}
	return (int)count;
}

int offload_split(uint8_t *buf, size_t len, const struct offload_sink *sink)
{
	struct offload_vnet_hdr hdr;
	if (offload_vnet_hdr_decode(buf, len, &hdr) != 0 || len == OFFLOAD_VNET_HDR_LEN)
		return -EINVAL;
	uint8_t *pkt = buf + OFFLOAD_VNET_HDR_LEN;
	len -= OFFLOAD_VNET_HDR_LEN;
	uint8_t gso = hdr.gso_type & (uint8_t)~OFFLOAD_GSO_ECN;
	if (gso == OFFLOAD_GSO_NONE)
		return split_unsegmented(pkt, len, &hdr, sink);
	if (pkt[0] >> 4 != 6) {
		sink->packet(sink->user, pkt, len);
		return 1;
	}
	if (gso != OFFLOAD_GSO_TCPV6 && gso != OFFLOAD_GSO_UDP_L4)
		return gso == OFFLOAD_GSO_TCPV4 || gso == OFFLOAD_GSO_UDP ? -EINVAL
									  : -EPROTONOSUPPORT;
	/* hdr_len is only a hint (the kernel puts the length of its linear
	 * part there): the headers' length comes from the packet itself. */
	bool tcp = gso == OFFLOAD_GSO_TCPV6;
	uint8_t protocol = tcp ? IPV6_PROTO_TCP : IPV6_PROTO_UDP;
	if (len < IPV6_HEADER_LEN || bytes_get16(pkt + 4) != len - IPV6_HEADER_LEN)
		return -EINVAL;
	if (pkt[6] != protocol)
		return pkt[6] == IPV6_PROTO_TCP || pkt[6] == IPV6_PROTO_UDP ? -EINVAL
									    : -EPROTONOSUPPORT;
	if (hdr.csum_start != IPV6_HEADER_LEN ||
	    hdr.csum_offset != (tcp ? TCP_CSUM_AT : UDP_CSUM_AT) || hdr.gso_size == 0)
		return -EINVAL;
	size_t headers_len = IPV6_HEADER_LEN + 8;
	if (tcp) {
		if (len < IPV6_HEADER_LEN + TCP_HEADER_MIN)
			return -EINVAL;
		size_t tcp_len = (size_t)(pkt[IPV6_HEADER_LEN + 12] >> 4) * 4;
		if (tcp_len < TCP_HEADER_MIN)
			return -EINVAL;
		headers_len = IPV6_HEADER_LEN + tcp_len;
	}
	if (len <= headers_len)
		return -EINVAL;
	return split_segments(pkt, headers_len, len - headers_len, hdr.gso_size, tcp, sink);
}

/* ---- coalesce ---- */

/* A run of segments of one flow being joined: the first segment's headers,
 * then the payloads one after another. */
struct run {
	bool used;
	bool closed; /* a short or PSH segment ended it */
	unsigned segments;
	size_t headers_len;
	size_t gso_size;
	size_t len;
	uint32_t next_seq;
	uint64_t started; /* for choosing which run to write when all are used */
	uint8_t pkt[OFFLOAD_COALESCE_MAX];
};

struct offload_coalescer {
	struct offload_writer writer;
	struct offload_coalescer_stats stats;
	bool disabled;
	uint64_t tick;
	struct run runs[OFFLOAD_COALESCE_FLOWS];
};

static const uint8_t zero_vnet_hdr[OFFLOAD_VNET_HDR_LEN];

int offload_coalescer_new(const struct offload_writer *writer, struct offload_coalescer **out)
{
	struct offload_coalescer *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->writer = *writer;
	*out = c;
	return 0;
}

void offload_coalescer_del(struct offload_coalescer *c)
{
	free(c);
}

void offload_coalescer_stats(const struct offload_coalescer *c,
			     struct offload_coalescer_stats *stats)
{
	*stats = c->stats;
}

/* IPv6 without extension headers carrying a whole TCP header: what can
 * belong to a run. Returns the length of the headers, or 0. */
static size_t tcp_headers_len(const uint8_t *pkt, size_t len)
{
	if (len < IPV6_HEADER_LEN + TCP_HEADER_MIN || pkt[0] >> 4 != 6 ||
	    pkt[6] != IPV6_PROTO_TCP || bytes_get16(pkt + 4) != len - IPV6_HEADER_LEN)
		return 0;
	size_t tcp_len = (size_t)(pkt[IPV6_HEADER_LEN + 12] >> 4) * 4;
	if (tcp_len < TCP_HEADER_MIN || IPV6_HEADER_LEN + tcp_len > len)
		return 0;
	return IPV6_HEADER_LEN + tcp_len;
}

/* Addresses and ports. */
static bool same_flow(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a + 8, b + 8, 32 + 4) == 0;
}

static struct run *find_run(struct offload_coalescer *c, const uint8_t *pkt)
{
	for (size_t i = 0; i < OFFLOAD_COALESCE_FLOWS; i++)
		if (c->runs[i].used && same_flow(c->runs[i].pkt, pkt))
			return &c->runs[i];
	return NULL;
}

static void write_run(struct offload_coalescer *c, struct run *r)
{
	uint8_t vnet[OFFLOAD_VNET_HDR_LEN];
	r->used = false;
	if (r->segments == 1) {
		/* As it came: the checksum it carries is still right. */
		c->writer.write(c->writer.user, zero_vnet_hdr, r->pkt, r->len, 1);
		return;
	}
	struct offload_vnet_hdr hdr = {
	    .flags = OFFLOAD_F_NEEDS_CSUM,
	    .gso_type = OFFLOAD_GSO_TCPV6,
	    .hdr_len = (uint16_t)r->headers_len,
	    .gso_size = (uint16_t)r->gso_size,
	    .csum_start = IPV6_HEADER_LEN,
	    .csum_offset = TCP_CSUM_AT,
	};
	struct in6_addr src, dst;
	size_t l4_len = r->len - IPV6_HEADER_LEN;
	memcpy(&src, r->pkt + 8, 16);
	memcpy(&dst, r->pkt + 24, 16);
	bytes_put16(r->pkt + 4, (uint16_t)l4_len);
	bytes_put16(r->pkt + IPV6_HEADER_LEN + TCP_CSUM_AT,
		    ipv6_pseudo_sum(&src, &dst, IPV6_PROTO_TCP, l4_len));
	offload_vnet_hdr_encode(&hdr, vnet);
	c->stats.coalesced_writes++;
	c->stats.coalesced_segments += r->segments;
	c->writer.write(c->writer.user, vnet, r->pkt, r->len, r->segments);
}

/* A segment with data and only ACK, or ACK and PSH: the kind GRO joins. */
static bool joinable(const uint8_t *pkt, size_t len, size_t headers_len)
{
	uint8_t flags = pkt[IPV6_HEADER_LEN + 13];
	return len > headers_len && len <= OFFLOAD_COALESCE_MAX &&
	       (flags & (uint8_t)~TCP_PSH) == TCP_ACK;
}

/* Whether pkt continues run r: everything but the sequence number, the
 * checksum and PSH must equal the run's first headers (which pins the
 * addresses, ports, ACK number, window and options). */
static bool continues(const struct run *r, const uint8_t *pkt, size_t len, size_t headers_len)
{
	const uint8_t *a = r->pkt + IPV6_HEADER_LEN, *b = pkt + IPV6_HEADER_LEN;
	size_t payload = len - headers_len;
	return !r->closed && headers_len == r->headers_len && payload <= r->gso_size &&
	       r->len + payload <= OFFLOAD_COALESCE_MAX && bytes_get32(b + 4) == r->next_seq &&
	       memcmp(r->pkt, pkt, 4) == 0 && r->pkt[7] == pkt[7] && same_flow(r->pkt, pkt) &&
	       memcmp(a + 8, b + 8, 5) == 0 &&
	       (a[13] & (uint8_t)~TCP_PSH) == (b[13] & (uint8_t)~TCP_PSH) &&
	       memcmp(a + 14, b + 14, 2) == 0 && memcmp(a + 18, b + 18, headers_len - 58) == 0;
}

static void start_run(struct offload_coalescer *c, struct run *r, const uint8_t *pkt, size_t len,
		      size_t headers_len)
{
	r->used = true;
	r->segments = 1;
	r->headers_len = headers_len;
	r->gso_size = len - headers_len;
	r->len = len;
	r->next_seq = bytes_get32(pkt + IPV6_HEADER_LEN + 4) + (uint32_t)r->gso_size;
	r->closed = (pkt[IPV6_HEADER_LEN + 13] & TCP_PSH) != 0;
	r->started = c->tick++;
	memcpy(r->pkt, pkt, len);
}

/* A free run, or the oldest one written out to make room. */
static struct run *free_run(struct offload_coalescer *c)
{
	struct run *oldest = &c->runs[0];
	for (size_t i = 0; i < OFFLOAD_COALESCE_FLOWS; i++) {
		if (!c->runs[i].used)
			return &c->runs[i];
		if (c->runs[i].started < oldest->started)
			oldest = &c->runs[i];
	}
	write_run(c, oldest);
	return oldest;
}

void offload_coalescer_add(struct offload_coalescer *c, const uint8_t *pkt, size_t len)
{
	size_t headers_len = tcp_headers_len(pkt, len);
	struct run *r = headers_len ? find_run(c, pkt) : NULL;
	if (headers_len == 0 || c->disabled || !joinable(pkt, len, headers_len)) {
		/* After what is held of its flow, if anything. */
		if (r)
			write_run(c, r);
		c->writer.write(c->writer.user, zero_vnet_hdr, pkt, len, 1);
		return;
	}
	if (r && continues(r, pkt, len, headers_len)) {
		size_t payload = len - headers_len;
		memcpy(r->pkt + r->len, pkt + headers_len, payload);
		r->len += payload;
		r->next_seq += (uint32_t)payload;
		r->segments++;
		if (pkt[IPV6_HEADER_LEN + 13] & TCP_PSH) {
			r->pkt[IPV6_HEADER_LEN + 13] |= TCP_PSH;
			r->closed = true;
		}
		if (payload < r->gso_size)
			r->closed = true;
	} else {
		if (r)
			write_run(c, r);
		if (pkt[IPV6_HEADER_LEN + 13] & TCP_PSH) {
			/* A run of one: no need to hold it. */
			c->writer.write(c->writer.user, zero_vnet_hdr, pkt, len, 1);
			return;
		}
		if (!r)
			r = free_run(c);
		start_run(c, r, pkt, len, headers_len);
	}
	/* Nothing more can join: out now rather than at the flush. */
	if (r->closed || r->len >= OFFLOAD_COALESCE_MAX)
		write_run(c, r);
}

void offload_coalescer_disable(struct offload_coalescer *c)
{
	c->disabled = true;
}

void offload_coalescer_flush(struct offload_coalescer *c)
{
	for (size_t i = 0; i < OFFLOAD_COALESCE_FLOWS; i++)
		if (c->runs[i].used)
			write_run(c, &c->runs[i]);
}
