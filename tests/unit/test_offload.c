/* TUN offloads: offload_split() on hand-built TSO, USO and NEEDS_CSUM
 * buffers (every segment's headers and checksum checked with a checksum
 * routine of this file's own), every malformed case, and the coalescer:
 * the split segments joined back into the original stream, runs kept per
 * flow when flows interleave, and each thing that must not join. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testutil.h"
#include "iron/offload.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80

/* 1420-byte packets with a 32-byte TCP header (timestamps). */
#define MSS	 1348
#define TCP_HDRS 72

static const uint8_t addr_a[16] = {0xfd, 0x69, 0x72, 0x6f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static const uint8_t addr_b[16] = {0xfd, 0x69, 0x72, 0x6f, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};

/* RFC 1071 byte by byte over the pseudo-header and the upper-layer bytes
 * of an IPv6 packet without extension headers, not complemented. */
static uint32_t slow_sum(const uint8_t *pkt, size_t len, bool with_pseudo)
{
	uint32_t sum = 0;
	size_t l4_len = len - 40;
	if (with_pseudo) {
		for (int i = 8; i < 40; i += 2)
			sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
		sum += (uint32_t)(l4_len >> 16) + (uint32_t)(l4_len & 0xffff) + pkt[6];
	}
	for (size_t i = 40; i < len; i++)
		sum += i % 2 == 0 ? (uint32_t)pkt[i] << 8 : pkt[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* A packet with a correct checksum sums to 0xffff. */
static bool checksum_ok(const uint8_t *pkt, size_t len)
{
	return slow_sum(pkt, len, true) == 0xffff;
}

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 8) * 7 + 3);
}

struct tcp_spec {
	const uint8_t *src, *dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t window;
	uint32_t tsval;
	uint8_t hop_limit;
};

static struct tcp_spec flow_ab(void)
{
	struct tcp_spec s = {
	    .src = addr_a,
	    .dst = addr_b,
	    .sport = 40000,
	    .dport = 5201,
	    .seq = 0xfffff000u, /* wraps inside the 64 KB */
	    .ack = 0x12345678,
	    .flags = TCP_ACK,
	    .window = 512,
	    .tsval = 1000,
	    .hop_limit = 64,
	};
	return s;
}

/* IPv6 + TCP with a timestamp option (32-byte TCP header) and the payload
 * from the pattern starting at stream offset; checksum correct. */
static size_t build_tcp(uint8_t *out, const struct tcp_spec *s, size_t stream_offset, size_t plen)
{
	size_t len = TCP_HDRS + plen;
	memset(out, 0, TCP_HDRS);
	out[0] = 0x60;
	wr16(out + 4, (uint32_t)(len - 40));
	out[6] = 6;
	out[7] = s->hop_limit;
	memcpy(out + 8, s->src, 16);
	memcpy(out + 24, s->dst, 16);
	uint8_t *t = out + 40;
	wr16(t, s->sport);
	wr16(t + 2, s->dport);
	wr32(t + 4, s->seq);
	wr32(t + 8, s->ack);
	t[12] = 8 << 4;
	t[13] = s->flags;
	wr16(t + 14, s->window);
	t[20] = 1;
	t[21] = 1;
	t[22] = 8;
	t[23] = 10;
	wr32(t + 24, s->tsval);
	wr32(t + 28, 77);
	for (size_t i = 0; i < plen; i++)
		out[TCP_HDRS + i] = pattern_byte(stream_offset + i);
	wr16(t + 16, ~slow_sum(out, len, true) & 0xffff);
	return len;
}

/* What a sink or writer was given, copied. */
#define MAX_OUT 128
struct capture {
	size_t n;
	size_t len[MAX_OUT];
	unsigned segments[MAX_OUT];
	uint8_t vnet[MAX_OUT][OFFLOAD_VNET_HDR_LEN];
	uint8_t *pkt[MAX_OUT];
};

static void capture_reset(struct capture *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->pkt[i]);
	c->n = 0;
}

static void on_packet(void *user, const uint8_t *pkt, size_t len)
{
	struct capture *c = user;
	if (c->n == MAX_OUT)
		abort();
	c->pkt[c->n] = malloc(len);
	memcpy(c->pkt[c->n], pkt, len);
	c->len[c->n] = len;
	c->segments[c->n] = 1;
	memset(c->vnet[c->n], 0, OFFLOAD_VNET_HDR_LEN);
	c->n++;
}

static void on_write(void *user, const uint8_t *vnet, const uint8_t *pkt, size_t len,
		     unsigned segments)
{
	struct capture *c = user;
	on_packet(user, pkt, len);
	memcpy(c->vnet[c->n - 1], vnet, OFFLOAD_VNET_HDR_LEN);
	c->segments[c->n - 1] = segments;
}

static struct capture got;
static const struct offload_sink sink = {.packet = on_packet, .user = &got};
static const struct offload_writer writer = {.write = on_write, .user = &got};

static uint8_t buf[OFFLOAD_READ_MAX];

/* A TSO read: the vnet header, then one TCP packet of plen payload bytes
 * whose checksum field holds the pseudo-header sum, as the kernel leaves
 * it. Returns the buffer length. */
static size_t build_tso(const struct tcp_spec *s, size_t plen, uint16_t gso_size)
{
	struct offload_vnet_hdr hdr = {
	    .flags = OFFLOAD_F_NEEDS_CSUM,
	    .gso_type = OFFLOAD_GSO_TCPV6,
	    .hdr_len = 200, /* the kernel's linear length, not the headers' */
	    .gso_size = gso_size,
	    .csum_start = 40,
	    .csum_offset = 16,
	};
	size_t len = build_tcp(buf + OFFLOAD_VNET_HDR_LEN, s, 0, plen);
	uint8_t *pkt = buf + OFFLOAD_VNET_HDR_LEN;
	uint32_t sum = 0;
	for (int i = 8; i < 40; i += 2)
		sum += (uint32_t)(pkt[i] << 8 | pkt[i + 1]);
	sum += (uint32_t)((len - 40) >> 16) + (uint32_t)((len - 40) & 0xffff) + 6;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	wr16(pkt + 56, sum);
	offload_vnet_hdr_encode(&hdr, buf);
	return OFFLOAD_VNET_HDR_LEN + len;
}

static void test_vnet_hdr(void)
{
	uint8_t raw[OFFLOAD_VNET_HDR_LEN] = {1, 4, 0x48, 0, 0x44, 5, 40, 0, 16, 0};
	struct offload_vnet_hdr h, back;
	uint8_t again[OFFLOAD_VNET_HDR_LEN];
	CHECK_INT(offload_vnet_hdr_decode(raw, sizeof(raw), &h), 0);
	CHECK_INT(h.flags, 1);
	CHECK_INT(h.gso_type, 4);
	CHECK_INT(h.hdr_len, 72);
	CHECK_INT(h.gso_size, 1348);
	CHECK_INT(h.csum_start, 40);
	CHECK_INT(h.csum_offset, 16);
	offload_vnet_hdr_encode(&h, again);
	CHECK_MEM(again, raw, sizeof(raw));
	CHECK_INT(offload_vnet_hdr_decode(raw, 9, &back), -EINVAL);
}

/* 48 full segments and a short one, with CWR, PSH and FIN on the
 * super-packet. */
static void test_split_tso(void)
{
	struct tcp_spec s = flow_ab();
	size_t plen = 48 * MSS + 500;
	s.flags = TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR;
	size_t len = build_tso(&s, plen, MSS);
	CHECK_INT(len, OFFLOAD_VNET_HDR_LEN + 40 + 32 + plen);
	capture_reset(&got);
	CHECK_INT(offload_split(buf, len, &sink), 49);
	CHECK_INT(got.n, 49);
	bool all_ok = true;
	for (size_t i = 0; i < got.n; i++) {
		const uint8_t *p = got.pkt[i];
		size_t piece = i < 48 ? MSS : 500;
		uint8_t flags = TCP_ACK;
		if (i == 0)
			flags |= TCP_CWR;
		if (i == 48)
			flags |= TCP_PSH | TCP_FIN;
		bool ok = got.len[i] == TCP_HDRS + piece && p[0] == 0x60 &&
			  rd16(p + 4) == 32 + piece && p[6] == 6 && p[7] == 64 &&
			  memcmp(p + 8, addr_a, 16) == 0 && memcmp(p + 24, addr_b, 16) == 0 &&
			  rd16(p + 40) == 40000 && rd16(p + 42) == 5201 &&
			  rd32(p + 44) == s.seq + (uint32_t)(i * MSS) && rd32(p + 48) == s.ack &&
			  p[52] == 0x80 && p[53] == flags && rd16(p + 54) == 512 &&
			  rd32(p + 64) == 1000 && checksum_ok(p, got.len[i]);
		for (size_t k = 0; ok && k < piece; k++)
			ok = p[TCP_HDRS + k] == pattern_byte(i * MSS + k);
		if (!ok) {
			fprintf(stderr, "segment %zu is wrong\n", i);
			all_ok = false;
		}
	}
	CHECK(all_ok);
	/* The sequence number wrapped in the middle. */
	CHECK(rd32(got.pkt[48] + 44) < rd32(got.pkt[0] + 44));
}

/* The payload an exact multiple of gso_size, one segment only, and a
 * gso_size larger than the payload. */
static void test_split_edges(void)
{
	struct tcp_spec s = flow_ab();
	size_t len = build_tso(&s, 3 * 1000, 1000);
	capture_reset(&got);
	CHECK_INT(offload_split(buf, len, &sink), 3);
	CHECK(got.n == 3 && got.len[2] == TCP_HDRS + 1000 && checksum_ok(got.pkt[2], got.len[2]));
	len = build_tso(&s, 700, 1000);
	capture_reset(&got);
	CHECK_INT(offload_split(buf, len, &sink), 1);
	CHECK(got.n == 1 && got.len[0] == TCP_HDRS + 700 && checksum_ok(got.pkt[0], got.len[0]));
	/* gso_size 1: one byte a segment, still correct. */
	len = build_tso(&s, 5, 1);
	capture_reset(&got);
	CHECK_INT(offload_split(buf, len, &sink), 5);
	CHECK(got.n == 5 && rd32(got.pkt[4] + 44) == s.seq + 4 && checksum_ok(got.pkt[4], 73));
	/* The ECN bit of gso_type is accepted. */
	len = build_tso(&s, 2000, 1000);
	buf[1] |= OFFLOAD_GSO_ECN;
	capture_reset(&got);
	CHECK_INT(offload_split(buf, len, &sink), 2);
}

static void test_split_uso(void)
{
	uint8_t *pkt = buf + OFFLOAD_VNET_HDR_LEN;
	size_t plen = 3000, len = 48 + plen;
	struct offload_vnet_hdr hdr = {
	    .flags = OFFLOAD_F_NEEDS_CSUM,
	    .gso_type = OFFLOAD_GSO_UDP_L4,
	    .hdr_len = 48,
	    .gso_size = 1200,
	    .csum_start = 40,
	    .csum_offset = 6,
	};
	memset(pkt, 0, 48);
	pkt[0] = 0x60;
	wr16(pkt + 4, (uint32_t)(len - 40));
	pkt[6] = 17;
	pkt[7] = 9;
	memcpy(pkt + 8, addr_b, 16);
	memcpy(pkt + 24, addr_a, 16);
	wr16(pkt + 40, 443);
	wr16(pkt + 42, 55555);
	wr16(pkt + 44, (uint32_t)(len - 40));
	for (size_t i = 0; i < plen; i++)
		pkt[48 + i] = pattern_byte(i);
	offload_vnet_hdr_encode(&hdr, buf);
	capture_reset(&got);
	CHECK_INT(offload_split(buf, OFFLOAD_VNET_HDR_LEN + len, &sink), 3);
	CHECK_INT(got.n, 3);
	for (size_t i = 0; i < got.n; i++) {
		const uint8_t *p = got.pkt[i];
		size_t piece = i < 2 ? 1200 : 600;
		CHECK_INT(got.len[i], 48 + piece);
		CHECK_INT(rd16(p + 4), 8 + piece);
		CHECK_INT(rd16(p + 44), 8 + piece);
		CHECK(rd16(p + 40) == 443 && rd16(p + 42) == 55555 && p[7] == 9);
		CHECK(rd16(p + 46) != 0);
		CHECK(checksum_ok(p, got.len[i]));
		CHECK(p[48] == pattern_byte(i * 1200) &&
		      p[47 + piece] == pattern_byte(i * 1200 + piece - 1));
	}
}

/* GSO_NONE: NEEDS_CSUM completed; without it the packet is untouched. */
static void test_split_needs_csum(void)
{
	struct tcp_spec s = flow_ab();
	size_t len = build_tso(&s, 999, 0);
	buf[1] = OFFLOAD_GSO_NONE;
	uint8_t *pkt = buf + OFFLOAD_VNET_HDR_LEN;
	CHECK(!checksum_ok(pkt, len - OFFLOAD_VNET_HDR_LEN));
	capture_reset(&got);
	CHECK_INT(offload_split(buf, len, &sink), 1);
	CHECK(got.n == 1 && got.len[0] == len - OFFLOAD_VNET_HDR_LEN);
	CHECK(checksum_ok(got.pkt[0], got.len[0]));

	/* An ICMPv6-like packet with no flags goes out byte for byte. */
	memset(buf, 0, OFFLOAD_VNET_HDR_LEN);
	for (size_t i = 0; i < 100; i++)
		pkt[i] = (uint8_t)i;
	pkt[0] = 0x60;
	capture_reset(&got);
	CHECK_INT(offload_split(buf, OFFLOAD_VNET_HDR_LEN + 100, &sink), 1);
	CHECK(got.n == 1 && got.len[0] == 100 && memcmp(got.pkt[0], pkt, 100) == 0);

	/* A UDP datagram whose checksum comes out 0 is sent as 0xffff. */
	struct offload_vnet_hdr hdr = {
	    .flags = OFFLOAD_F_NEEDS_CSUM, .csum_start = 40, .csum_offset = 6};
	memset(pkt, 0, 50);
	pkt[0] = 0x60;
	wr16(pkt + 4, 10);
	pkt[6] = 17;
	wr16(pkt + 44, 10);
	/* Addresses all zero; pick the payload so the whole sums to 0xffff:
	 * pseudo (10 + 17) + length 10 + payload word. */
	wr16(pkt + 48, 0xffff - 10 - 17 - 10);
	wr16(pkt + 46, 10 + 17); /* the pseudo-header sum, as the kernel leaves it */
	offload_vnet_hdr_encode(&hdr, buf);
	capture_reset(&got);
	CHECK_INT(offload_split(buf, OFFLOAD_VNET_HDR_LEN + 50, &sink), 1);
	CHECK(got.n == 1 && rd16(got.pkt[0] + 46) == 0xffff && checksum_ok(got.pkt[0], 50));
}

/* IPv4 with GSO is not ours to cut: handed over whole for the router to
 * drop. */
static void test_split_not_ipv6(void)
{
	uint8_t *pkt = buf + OFFLOAD_VNET_HDR_LEN;
	struct offload_vnet_hdr hdr = {
	    .gso_type = OFFLOAD_GSO_TCPV4, .gso_size = 1000, .csum_start = 20, .csum_offset = 16};
	memset(pkt, 0, 3000);
	pkt[0] = 0x45;
	offload_vnet_hdr_encode(&hdr, buf);
	capture_reset(&got);
	CHECK_INT(offload_split(buf, OFFLOAD_VNET_HDR_LEN + 3000, &sink), 1);
	CHECK(got.n == 1 && got.len[0] == 3000);
}

/* Each malformed buffer: the error, and nothing handed over. */
static void expect_error(size_t len, int err, const char *what)
{
	capture_reset(&got);
	int rc = offload_split(buf, len, &sink);
	if (rc != err || got.n != 0)
		fprintf(stderr, "%s: got %d and %zu packets\n", what, rc, got.n);
	CHECK_INT(rc, err);
	CHECK_INT(got.n, 0);
}

static void test_split_malformed(void)
{
	struct tcp_spec s = flow_ab();
	uint8_t *pkt = buf + OFFLOAD_VNET_HDR_LEN;
	size_t len;

	expect_error(0, -EINVAL, "empty");
	expect_error(9, -EINVAL, "short header");
	memset(buf, 0, OFFLOAD_VNET_HDR_LEN);
	expect_error(OFFLOAD_VNET_HDR_LEN, -EINVAL, "header only");

	len = build_tso(&s, 100, 0);
	buf[1] = 0;
	buf[6] = (uint8_t)(len - OFFLOAD_VNET_HDR_LEN);
	buf[7] = 0;
	buf[8] = 0;
	expect_error(len, -EINVAL, "csum_start at the end");
	buf[6] = 40;
	buf[8] = (uint8_t)(len - OFFLOAD_VNET_HDR_LEN - 40 - 1);
	expect_error(len, -EINVAL, "checksum field past the end");
	buf[6] = 0xff;
	buf[7] = 0xff;
	buf[8] = 0xff;
	buf[9] = 0xff;
	expect_error(len, -EINVAL, "both offsets huge");

	/* One byte of packet: no room for a checksum anywhere. */
	memset(buf, 0, OFFLOAD_VNET_HDR_LEN);
	buf[0] = OFFLOAD_F_NEEDS_CSUM;
	expect_error(OFFLOAD_VNET_HDR_LEN + 1, -EINVAL, "one-byte packet with NEEDS_CSUM");

	len = build_tso(&s, 3000, 1000);
	buf[4] = buf[5] = 0;
	expect_error(len, -EINVAL, "gso_size 0");

	len = build_tso(&s, 3000, 1000);
	expect_error(len - 1, -EINVAL, "IPv6 payload length beyond the buffer");
	wr16(pkt + 4, 100);
	expect_error(len, -EINVAL, "IPv6 payload length short of the buffer");

	len = build_tso(&s, 3000, 1000);
	pkt[6] = 0; /* Hop-by-Hop Options */
	expect_error(len, -EPROTONOSUPPORT, "extension header");
	pkt[6] = 17;
	expect_error(len, -EINVAL, "TCPV6 over UDP");

	len = build_tso(&s, 3000, 1000);
	buf[6] = 48;
	expect_error(len, -EINVAL, "csum_start not at the TCP header");
	buf[6] = 40;
	buf[8] = 6;
	expect_error(len, -EINVAL, "csum_offset not TCP's");

	len = build_tso(&s, 3000, 1000);
	pkt[52] = 4 << 4;
	expect_error(len, -EINVAL, "data offset below 5");
	len = build_tso(&s, 10, 1000);
	pkt[52] = 15 << 4;
	expect_error(len, -EINVAL, "TCP header beyond the packet");
	len = build_tso(&s, 0, 1000);
	expect_error(len, -EINVAL, "no payload");
	len = build_tso(&s, 3000, 1000);
	expect_error(OFFLOAD_VNET_HDR_LEN + 50, -EINVAL, "cut inside the TCP header");

	len = build_tso(&s, 3000, 1000);
	buf[1] = 0x22;
	expect_error(len, -EPROTONOSUPPORT, "unknown GSO type");
	buf[1] = OFFLOAD_GSO_TCPV4;
	expect_error(len, -EINVAL, "TCPV4 over IPv6");
	buf[1] = OFFLOAD_GSO_UDP_L4;
	expect_error(len, -EINVAL, "UDP_L4 over TCP");

	/* Too short for an IPv6 header with GSO. */
	len = build_tso(&s, 3000, 1000);
	expect_error(OFFLOAD_VNET_HDR_LEN + 20, -EINVAL, "20 bytes of IPv6");
}

/* ---- coalescing ---- */

static struct offload_coalescer *coalescer;

/* Checks one coalesced write against the stream it should carry: segments
 * of MSS (the last shorter), starting at stream offset from, with the
 * first segment's headers. */
static bool check_coalesced(size_t i, const struct tcp_spec *s, size_t from, size_t plen,
			    unsigned segments, uint8_t flags)
{
	struct offload_vnet_hdr h;
	const uint8_t *p = got.pkt[i];
	bool ok = got.segments[i] == segments && got.len[i] == TCP_HDRS + plen;
	offload_vnet_hdr_decode(got.vnet[i], OFFLOAD_VNET_HDR_LEN, &h);
	ok = ok && h.flags == OFFLOAD_F_NEEDS_CSUM && h.gso_type == OFFLOAD_GSO_TCPV6 &&
	     h.hdr_len == TCP_HDRS && h.gso_size == MSS && h.csum_start == 40 &&
	     h.csum_offset == 16;
	ok = ok && rd16(p + 4) == 32 + plen && rd32(p + 44) == s->seq + (uint32_t)from &&
	     p[53] == flags && rd32(p + 48) == s->ack && rd32(p + 64) == s->tsval;
	for (size_t k = 0; ok && k < plen; k++)
		ok = p[TCP_HDRS + k] == pattern_byte(from + k);
	/* The field holds the pseudo-header sum: completing it the way the
	 * kernel does gives a correct checksum. */
	if (ok) {
		uint8_t *copy = malloc(got.len[i]);
		memcpy(copy, p, got.len[i]);
		uint32_t sum = slow_sum(copy, got.len[i], false);
		wr16(copy + 56, ~sum & 0xffff);
		ok = checksum_ok(copy, got.len[i]);
		free(copy);
	}
	return ok;
}

static bool is_plain(size_t i, const uint8_t *pkt, size_t len)
{
	static const uint8_t zero[OFFLOAD_VNET_HDR_LEN];
	return got.segments[i] == 1 && memcmp(got.vnet[i], zero, sizeof(zero)) == 0 &&
	       got.len[i] == len && memcmp(got.pkt[i], pkt, len) == 0;
}

/* Split a TSO packet, coalesce the segments: the same stream comes back,
 * and splitting that again gives the same segments. */
static void test_round_trip(void)
{
	struct tcp_spec s = flow_ab();
	size_t plen = 48 * MSS + 500;
	s.flags = TCP_ACK | TCP_PSH;
	size_t len = build_tso(&s, plen, MSS);
	struct capture segs = {0};
	struct offload_sink to_segs = {.packet = on_packet, .user = &segs};
	CHECK_INT(offload_split(buf, len, &to_segs), 49);
	capture_reset(&got);
	for (size_t i = 0; i < segs.n; i++) {
		offload_coalescer_add(coalescer, segs.pkt[i], segs.len[i]);
		/* The short, PSH-carrying last segment ends the run at once. */
		CHECK_INT(got.n, i + 1 < segs.n ? 0 : 1);
	}
	CHECK_INT(got.n, 1);
	CHECK(check_coalesced(0, &s, 0, plen, 49, TCP_ACK | TCP_PSH));

	/* And back: the kernel would cut it exactly so. */
	memcpy(buf, got.vnet[0], OFFLOAD_VNET_HDR_LEN);
	memcpy(buf + OFFLOAD_VNET_HDR_LEN, got.pkt[0], got.len[0]);
	struct capture again = {0};
	struct offload_sink to_again = {.packet = on_packet, .user = &again};
	CHECK_INT(offload_split(buf, OFFLOAD_VNET_HDR_LEN + got.len[0], &to_again), 49);
	bool same = again.n == segs.n;
	for (size_t i = 0; same && i < segs.n; i++)
		same = again.len[i] == segs.len[i] &&
		       memcmp(again.pkt[i], segs.pkt[i], segs.len[i]) == 0;
	CHECK(same);
	capture_reset(&segs);
	capture_reset(&again);
}

/* Adds n MSS segments of s from stream offset from (s->seq advanced by the
 * caller's offset), returning nothing. */
static void add_segments(const struct tcp_spec *s, size_t from, size_t n, size_t plen)
{
	static uint8_t pkt[TCP_HDRS + 30000];
	for (size_t i = 0; i < n; i++) {
		struct tcp_spec t = *s;
		t.seq = s->seq + (uint32_t)(from + i * plen);
		size_t len = build_tcp(pkt, &t, from + i * plen, plen);
		offload_coalescer_add(coalescer, pkt, len);
	}
}

static void test_run_limits(void)
{
	struct tcp_spec s = flow_ab();
	/* 64 KB at most: 48 full segments make 64776 bytes; a 49th full one
	 * does not fit, and starts the next run. */
	capture_reset(&got);
	add_segments(&s, 0, 48, MSS);
	CHECK_INT(got.n, 0);
	add_segments(&s, 48 * MSS, 2, MSS);
	CHECK_INT(got.n, 1);
	CHECK(check_coalesced(0, &s, 0, 48 * MSS, 48, TCP_ACK));
	offload_coalescer_flush(coalescer);
	CHECK_INT(got.n, 2);
	CHECK(check_coalesced(1, &s, 48 * MSS, 2 * MSS, 2, TCP_ACK));
	/* Exactly 64 KB is written at once. */
	capture_reset(&got);
	add_segments(&s, 0, 3, 21821);
	CHECK_INT(got.n, 1);
	CHECK_INT(got.len[0], 65535);
	CHECK_INT(got.segments[0], 3);
	/* Nothing left: a flush writes nothing. */
	offload_coalescer_flush(coalescer);
	CHECK_INT(got.n, 1);

	/* One segment alone goes out as it came, without GSO. */
	static uint8_t one[2000];
	size_t len = build_tcp(one, &s, 0, MSS);
	capture_reset(&got);
	offload_coalescer_add(coalescer, one, len);
	CHECK_INT(got.n, 0);
	offload_coalescer_flush(coalescer);
	CHECK(got.n == 1 && is_plain(0, one, len));
}

/* Two segments, the second changed by change(); they must not join: two
 * plain writes, in order. */
static void expect_apart(const char *what,
			 void (*change)(struct tcp_spec *t, size_t *plen2, size_t *gap))
{
	static uint8_t p1[2000], p2[2000];
	struct tcp_spec s = flow_ab(), t;
	size_t plen2 = MSS, gap = 0;
	size_t len1 = build_tcp(p1, &s, 0, MSS);
	t = s;
	change(&t, &plen2, &gap);
	t.seq = s.seq + MSS + (uint32_t)gap;
	size_t len2 = build_tcp(p2, &t, MSS + gap, plen2);
	capture_reset(&got);
	offload_coalescer_add(coalescer, p1, len1);
	offload_coalescer_add(coalescer, p2, len2);
	offload_coalescer_flush(coalescer);
	bool ok = got.n == 2 && is_plain(0, p1, len1) && is_plain(1, p2, len2);
	if (!ok)
		fprintf(stderr, "%s: %zu writes\n", what, got.n);
	CHECK(ok);
}

static void gap(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)t;
	(void)plen2;
	*g = 1;
}
static void overlap(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)t;
	(void)plen2;
	*g = (size_t)-1;
}
static void syn(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->flags |= TCP_SYN;
}
static void fin(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->flags |= TCP_FIN;
}
static void rst(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->flags |= TCP_RST;
}
static void urg(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->flags |= TCP_URG;
}
static void cwr(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->flags |= TCP_CWR;
}
static void other_ack(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->ack += 1;
}
static void other_window(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->window = 513;
}
static void other_timestamp(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->tsval += 1;
}
static void other_hop_limit(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->hop_limit = 63;
}
static void other_port(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->sport = 40001;
}
static void other_dst(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)plen2;
	(void)g;
	t->dst = addr_a;
}
static void bigger(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)t;
	(void)g;
	*plen2 = MSS + 1;
}
static void empty(struct tcp_spec *t, size_t *plen2, size_t *g)
{
	(void)t;
	(void)g;
	*plen2 = 0;
}

static void test_apart(void)
{
	expect_apart("gap in sequence", gap);
	expect_apart("overlapping sequence", overlap);
	expect_apart("SYN", syn);
	expect_apart("FIN", fin);
	expect_apart("RST", rst);
	expect_apart("URG", urg);
	expect_apart("CWR", cwr);
	expect_apart("other ACK number", other_ack);
	expect_apart("other window", other_window);
	expect_apart("other timestamp", other_timestamp);
	expect_apart("other hop limit", other_hop_limit);
	expect_apart("other port (another flow)", other_port);
	expect_apart("other destination (another flow)", other_dst);
	expect_apart("second bigger than the first", bigger);
	expect_apart("pure ACK", empty);
}

/* A bigger segment after a smaller middle one: the smaller one ends the
 * run, so full, small, full gives a run of two and a plain write. */
static void test_small_middle(void)
{
	static uint8_t p[3][2000];
	size_t len[3], sizes[3] = {MSS, 100, MSS}, off = 0;
	struct tcp_spec s = flow_ab();
	for (int i = 0; i < 3; i++) {
		struct tcp_spec t = s;
		t.seq = s.seq + (uint32_t)off;
		len[i] = build_tcp(p[i], &t, off, sizes[i]);
		off += sizes[i];
	}
	capture_reset(&got);
	for (int i = 0; i < 3; i++)
		offload_coalescer_add(coalescer, p[i], len[i]);
	/* The short second one closed the run and wrote it. */
	CHECK_INT(got.n, 1);
	offload_coalescer_flush(coalescer);
	CHECK_INT(got.n, 2);
	CHECK(got.n == 2 && got.segments[0] == 2 && got.len[0] == TCP_HDRS + MSS + 100);
	CHECK(got.n == 2 && is_plain(1, p[2], len[2]));

	/* PSH in the middle: the run ends with it; the next starts anew. */
	s.flags = TCP_ACK;
	capture_reset(&got);
	add_segments(&s, 0, 2, MSS);
	struct tcp_spec t = s;
	t.flags = TCP_ACK | TCP_PSH;
	add_segments(&t, 2 * MSS, 1, MSS);
	CHECK_INT(got.n, 1);
	CHECK(check_coalesced(0, &s, 0, 3 * MSS, 3, TCP_ACK | TCP_PSH));
	add_segments(&s, 3 * MSS, 2, MSS);
	offload_coalescer_flush(coalescer);
	CHECK(got.n == 2 && check_coalesced(1, &s, 3 * MSS, 2 * MSS, 2, TCP_ACK));
}

/* Three flows interleaved, with a UDP packet and a FIN between: each flow
 * coalesces on its own, the FIN comes after its flow's data, the UDP
 * packet goes out at once. */
static void test_interleaved(void)
{
	static uint8_t pkt[2000], udp[60], finpkt[200];
	struct tcp_spec f[3];
	for (int i = 0; i < 3; i++) {
		f[i] = flow_ab();
		f[i].sport = (uint16_t)(1000 + i);
	}
	capture_reset(&got);
	for (size_t k = 0; k < 4; k++)
		for (int i = 0; i < 3; i++) {
			struct tcp_spec t = f[i];
			t.seq = f[i].seq + (uint32_t)(k * MSS);
			size_t len = build_tcp(pkt, &t, k * MSS, MSS);
			offload_coalescer_add(coalescer, pkt, len);
		}
	CHECK_INT(got.n, 0);
	memset(udp, 0, sizeof(udp));
	udp[0] = 0x60;
	wr16(udp + 4, 20);
	udp[6] = 17;
	offload_coalescer_add(coalescer, udp, sizeof(udp));
	CHECK(got.n == 1 && is_plain(0, udp, sizeof(udp)));
	struct tcp_spec t = f[1];
	t.seq = f[1].seq + 4 * MSS;
	t.flags = TCP_ACK | TCP_FIN;
	size_t finlen = build_tcp(finpkt, &t, 4 * MSS, 0);
	offload_coalescer_add(coalescer, finpkt, finlen);
	CHECK_INT(got.n, 3);
	CHECK(got.n == 3 && check_coalesced(1, &f[1], 0, 4 * MSS, 4, TCP_ACK));
	CHECK(got.n == 3 && is_plain(2, finpkt, finlen));
	offload_coalescer_flush(coalescer);
	CHECK_INT(got.n, 5);
	CHECK(got.n == 5 && check_coalesced(3, &f[0], 0, 4 * MSS, 4, TCP_ACK));
	CHECK(got.n == 5 && check_coalesced(4, &f[2], 0, 4 * MSS, 4, TCP_ACK));

	/* More flows than runs: the oldest goes out to make room. */
	capture_reset(&got);
	for (int i = 0; i <= OFFLOAD_COALESCE_FLOWS; i++) {
		struct tcp_spec u = flow_ab();
		u.sport = (uint16_t)(2000 + i);
		size_t len = build_tcp(pkt, &u, 0, MSS);
		offload_coalescer_add(coalescer, pkt, len);
	}
	CHECK_INT(got.n, 1);
	CHECK(got.n == 1 && rd16(got.pkt[0] + 40) == 2000);
	offload_coalescer_flush(coalescer);
	CHECK_INT(got.n, OFFLOAD_COALESCE_FLOWS + 1);

	struct offload_coalescer_stats st;
	offload_coalescer_stats(coalescer, &st);
	CHECK(st.coalesced_writes > 0 && st.coalesced_segments >= 2 * st.coalesced_writes);
}

/* Packets that are not well-formed TCP go out untouched. */
static void test_coalesce_odd(void)
{
	static uint8_t pkt[2000];
	struct tcp_spec s = flow_ab();
	size_t len = build_tcp(pkt, &s, 0, MSS);
	capture_reset(&got);
	offload_coalescer_add(coalescer, pkt, 10);
	offload_coalescer_add(coalescer, pkt, len - 1); /* payload length disagrees */
	offload_coalescer_add(coalescer, pkt, 0);
	pkt[52] = 0xf0; /* data offset 60 bytes: fine */
	offload_coalescer_add(coalescer, pkt, 80);
	CHECK_INT(got.n, 4);
	offload_coalescer_flush(coalescer);
	CHECK_INT(got.n, 4);
}

/* Disabled: every packet goes out at once, after what was held. */
static void test_disabled(void)
{
	static uint8_t pkt[2000];
	struct tcp_spec s = flow_ab();
	capture_reset(&got);
	add_segments(&s, 0, 2, MSS);
	CHECK_INT(got.n, 0);
	offload_coalescer_disable(coalescer);
	struct tcp_spec t = s;
	t.seq = s.seq + 2 * MSS;
	size_t len = build_tcp(pkt, &t, 2 * MSS, MSS);
	offload_coalescer_add(coalescer, pkt, len);
	CHECK_INT(got.n, 2);
	CHECK(got.n == 2 && check_coalesced(0, &s, 0, 2 * MSS, 2, TCP_ACK));
	CHECK(got.n == 2 && is_plain(1, pkt, len));
	add_segments(&s, 3 * MSS, 3, MSS);
	CHECK_INT(got.n, 5);
	offload_coalescer_flush(coalescer);
	CHECK_INT(got.n, 5);
}

int main(void)
{
	test_vnet_hdr();
	test_split_tso();
	test_split_edges();
	test_split_uso();
	test_split_needs_csum();
	test_split_not_ipv6();
	test_split_malformed();
	CHECK_INT(offload_coalescer_new(&writer, &coalescer), 0);
	test_round_trip();
	test_run_limits();
	test_apart();
	test_small_middle();
	test_interleaved();
	test_coalesce_odd();
	test_disabled();
	offload_coalescer_del(coalescer);
	capture_reset(&got);
	return check_done();
}
