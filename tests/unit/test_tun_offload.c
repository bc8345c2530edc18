/* TUN offloads against the real kernel, in a network namespace of its own:
 * tun_open_offload() gets IFF_VNET_HDR and TSO; a UDP datagram comes out
 * with a partial checksum that offload_split() completes; a UDP_SEGMENT
 * send comes out as one USO read that splits into the datagrams sent; a
 * TCP connection (this test plays the far end through the TUN) sends its
 * first flight as one TSO read that splits into segments with correct
 * checksums and the bytes sent; and segments joined by the coalescer,
 * written as one GSO write, arrive at the socket in order.
 *
 * Needs root and /dev/net/tun; otherwise skipped (exit 77). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "iron/ipv6.h"
#include "iron/offload.h"
#include "iron/tun.h"

#define SKIP	 77
#define TUN_NAME "ironoff0"
#define MSS	 1360 /* what the far end announces */
#define FAR_PORT 7777

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static struct in6_addr own, far;

/* ---- reading: every read split, the packets queued ---- */

#define QUEUE_MAX 256
static uint8_t queue[QUEUE_MAX][1600];
static size_t queue_len[QUEUE_MAX], queued, taken;

/* What the last read that produced packets looked like. */
static struct offload_vnet_hdr last_hdr;
static int last_count;

static void on_split(void *user, const uint8_t *pkt, size_t len)
{
	(void)user;
	if (queued == QUEUE_MAX || len > sizeof(queue[0]))
		abort();
	memcpy(queue[queued], pkt, len);
	queue_len[queued++] = len;
}

/* The next packet of protocol from the TUN (multicast skipped), reading
 * and splitting as needed, within 2 s. Returns its length, or 0. */
static size_t next_packet(int fd, uint8_t protocol, const uint8_t **pkt)
{
	static uint8_t buf[OFFLOAD_READ_MAX];
	static const struct offload_sink sink = {.packet = on_split};
	uint64_t deadline = now_ms() + 2000;
	for (;;) {
		while (taken < queued) {
			size_t i = taken++;
			if (queue_len[i] >= 40 && queue[i][6] == protocol && queue[i][24] != 0xff) {
				*pkt = queue[i];
				return queue_len[i];
			}
		}
		uint64_t now = now_ms();
		if (now >= deadline)
			return 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			continue;
		queued = taken = 0;
		offload_vnet_hdr_decode(buf, (size_t)n, &last_hdr);
		last_count = offload_split(buf, (size_t)n, &sink);
		CHECK(last_count >= 1);
	}
}

/* ---- writing ---- */

static void write_vnet(int fd, const uint8_t *vnet, const uint8_t *pkt, size_t len)
{
	struct iovec iov[2] = {{.iov_base = (void *)vnet, .iov_len = OFFLOAD_VNET_HDR_LEN},
			       {.iov_base = (void *)pkt, .iov_len = len}};
	ssize_t n = writev(fd, iov, 2);
	if (n != (ssize_t)(OFFLOAD_VNET_HDR_LEN + len))
		fprintf(stderr, "writev: %zd (%s)\n", n, n < 0 ? strerror(errno) : "short");
	CHECK(n == (ssize_t)(OFFLOAD_VNET_HDR_LEN + len));
}

static void write_plain(int fd, const uint8_t *pkt, size_t len)
{
	static const uint8_t zero[OFFLOAD_VNET_HDR_LEN];
	write_vnet(fd, zero, pkt, len);
}

struct tun_writer {
	int fd;
	unsigned writes, segments;
};

static void on_coalesced(void *user, const uint8_t *vnet, const uint8_t *pkt, size_t len,
			 unsigned segments)
{
	struct tun_writer *w = user;
	w->writes++;
	w->segments += segments;
	write_vnet(w->fd, vnet, pkt, len);
}

/* A TCP segment from the far end: IPv6 + TCP (+ options), checksum
 * correct. Returns its length. */
static size_t far_segment(uint8_t *out, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
			  const uint8_t *options, size_t options_len, const uint8_t *data,
			  size_t data_len)
{
	size_t tcp_len = 20 + options_len, len = 40 + tcp_len + data_len;
	memset(out, 0, 40 + tcp_len);
	out[0] = 0x60;
	wr16(out + 4, (uint32_t)(len - 40));
	out[6] = IPV6_PROTO_TCP;
	out[7] = 64;
	memcpy(out + 8, &far, 16);
	memcpy(out + 24, &own, 16);
	uint8_t *t = out + 40;
	wr16(t, FAR_PORT);
	wr16(t + 2, dport);
	wr32(t + 4, seq);
	wr32(t + 8, ack);
	t[12] = (uint8_t)((tcp_len / 4) << 4);
	t[13] = flags;
	wr16(t + 14, 65535);
	if (options_len > 0)
		memcpy(t + 20, options, options_len);
	if (data_len > 0)
		memcpy(t + tcp_len, data, data_len);
	wr16(t + 16, ipv6_checksum(&far, &own, IPV6_PROTO_TCP, t, len - 40));
	return len;
}

static bool checksum_ok(const uint8_t *pkt, size_t len)
{
	struct in6_addr src, dst;
	memcpy(&src, pkt + 8, 16);
	memcpy(&dst, pkt + 24, 16);
	return ipv6_checksum(&src, &dst, pkt[6], pkt + 40, len - 40) == 0;
}

/* ---- the tests ---- */

static void test_open(int fd, unsigned offloads)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	CHECK(ioctl(fd, TUNGETIFF, &ifr) == 0);
	CHECK(ifr.ifr_flags & IFF_VNET_HDR);
	CHECK(ifr.ifr_flags & IFF_NO_PI);
	int size = 0;
	CHECK(ioctl(fd, TUNGETVNETHDRSZ, &size) == 0);
	CHECK_INT(size, OFFLOAD_VNET_HDR_LEN);
	CHECK(offloads & TUN_OFFLOAD_CSUM);
	CHECK(offloads & TUN_OFFLOAD_TSO);
	printf("offloads: csum %d tso %d uso %d\n", !!(offloads & TUN_OFFLOAD_CSUM),
	       !!(offloads & TUN_OFFLOAD_TSO), !!(offloads & TUN_OFFLOAD_USO));
}

static int udp_socket(void)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(9999)};
	sa.sin6_addr = far;
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("udp socket");
		exit(1);
	}
	return s;
}

static void test_udp(int fd, unsigned offloads)
{
	const uint8_t *pkt;
	struct ipv6_info info;
	struct ipv6_udp udp;
	int s = udp_socket();
	CHECK_INT(send(s, "partial checksum", 16, 0), 16);
	size_t len = next_packet(fd, IPV6_PROTO_UDP, &pkt);
	CHECK(len == 40 + 8 + 16);
	/* The kernel left the checksum to us, and the split completed it. */
	CHECK(last_hdr.flags & OFFLOAD_F_NEEDS_CSUM);
	CHECK(len > 0 && ipv6_parse(pkt, len, &info) == 0 && ipv6_udp_parse(pkt, &info, &udp) == 0);

	if (!(offloads & TUN_OFFLOAD_USO)) {
		printf("no USO on this kernel: its test skipped\n");
		close(s);
		return;
	}
	int gso_size = 500;
	static uint8_t big[1400];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 3);
	CHECK(setsockopt(s, IPPROTO_UDP, UDP_SEGMENT, &gso_size, sizeof(gso_size)) == 0);
	CHECK_INT(send(s, big, sizeof(big), 0), (ssize_t)sizeof(big));
	for (size_t k = 0; k < 3; k++) {
		len = next_packet(fd, IPV6_PROTO_UDP, &pkt);
		if (k == 0) {
			CHECK_INT(last_hdr.gso_type, OFFLOAD_GSO_UDP_L4);
			CHECK_INT(last_hdr.gso_size, 500);
			CHECK_INT(last_count, 3);
		}
		size_t piece = k < 2 ? 500 : 400;
		CHECK_INT(len, 48 + piece);
		CHECK(len > 0 && ipv6_parse(pkt, len, &info) == 0 &&
		      ipv6_udp_parse(pkt, &info, &udp) == 0 && udp.payload_len == piece &&
		      memcmp(udp.payload, big + k * 500, piece) == 0);
	}
	close(s);
}

static void test_tcp(int fd)
{
	const uint8_t *pkt;
	static uint8_t out[70000];
	static uint8_t sent[100000], got[100000];
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(FAR_PORT)};
	sa.sin6_addr = far;
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK(connect(s, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno == EINPROGRESS);

	/* The SYN; answer it with MSS and window scaling, no timestamps. */
	size_t len = next_packet(fd, IPV6_PROTO_TCP, &pkt);
	CHECK(len >= 60 && (pkt[53] & 0x02));
	if (len < 60)
		goto out;
	uint16_t port = rd16(pkt + 40);
	uint32_t their_seq = rd32(pkt + 44) + 1, our_seq = 5000;
	static const uint8_t syn_options[] = {2, 4, MSS >> 8, MSS & 0xff, 1, 3, 3, 7};
	len = far_segment(out, port, our_seq, their_seq, 0x12, syn_options, sizeof(syn_options),
			  NULL, 0);
	write_plain(fd, out, len);
	our_seq++;
	struct pollfd p = {.fd = s, .events = POLLOUT};
	CHECK(poll(&p, 1, 2000) == 1);

	/* The first flight: 10 segments at once, which TSO hands over in one
	 * read. */
	for (size_t i = 0; i < sizeof(sent); i++)
		sent[i] = (uint8_t)(i * 7 + (i >> 9));
	CHECK(send(s, sent, sizeof(sent), 0) > 10 * MSS);
	size_t received = 0;
	int biggest_read = 0;
	while (received < 10 * MSS) {
		len = next_packet(fd, IPV6_PROTO_TCP, &pkt);
		if (len == 0)
			break;
		if (len == 60)
			continue; /* the handshake's ACK */
		if (last_hdr.gso_type == OFFLOAD_GSO_TCPV6 && last_count > biggest_read)
			biggest_read = last_count;
		bool ok = len <= 60 + MSS && checksum_ok(pkt, len) && rd32(pkt + 44) == their_seq &&
			  memcmp(pkt + 60, sent + received, len - 60) == 0;
		if (!ok)
			fprintf(stderr, "segment at %zu is wrong\n", received);
		CHECK(ok);
		if (!ok)
			break;
		received += len - 60;
		their_seq += (uint32_t)(len - 60);
	}
	printf("first flight: %zu bytes, at most %d segments a read (gso_size %u)\n", received,
	       biggest_read, last_hdr.gso_size);
	CHECK(received >= 10 * MSS);
	CHECK(biggest_read >= 2);

	/* The other way: eight segments through the coalescer, one write,
	 * the bytes in order at the socket. */
	struct tun_writer w = {.fd = fd};
	struct offload_writer writer = {.write = on_coalesced, .user = &w};
	struct offload_coalescer *c;
	CHECK_INT(offload_coalescer_new(&writer, &c), 0);
	static uint8_t data[8 * 1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	for (size_t k = 0; k < 8; k++) {
		uint8_t flags = k == 7 ? 0x18 : 0x10;
		len = far_segment(out, port, our_seq + (uint32_t)(k * 1000), their_seq, flags, NULL,
				  0, data + k * 1000, 1000);
		offload_coalescer_add(c, out, len);
	}
	offload_coalescer_flush(c);
	CHECK_INT(w.writes, 1);
	CHECK_INT(w.segments, 8);
	size_t have = 0;
	uint64_t deadline = now_ms() + 2000;
	while (have < sizeof(data) && now_ms() < deadline) {
		struct pollfd r = {.fd = s, .events = POLLIN};
		if (poll(&r, 1, 100) != 1)
			continue;
		ssize_t n = recv(s, got + have, sizeof(got) - have, 0);
		if (n > 0)
			have += (size_t)n;
	}
	CHECK_INT(have, sizeof(data));
	CHECK(have == sizeof(data) && memcmp(got, data, sizeof(data)) == 0);
	offload_coalescer_del(c);
out:
	close(s);
}

int main(void)
{
	int fd = -1;
	unsigned offloads = 0;
	char name[TUN_NAME_SIZE];
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("skipped: needs root and /dev/net/tun\n");
		return SKIP;
	}
	if (unshare(CLONE_NEWNET) != 0) {
		printf("skipped: cannot make a network namespace: %s\n", strerror(errno));
		return SKIP;
	}
	int err = tun_open_offload(TUN_NAME, &fd, name, &offloads);
	if (err != 0) {
		printf("skipped: cannot create a TUN device: %s\n", tun_strerror(err));
		return SKIP;
	}
	own = addr("fd69:726f::1");
	far = addr("fd69:726f::2");
	CHECK_INT(tun_configure(name, &own, 32, 1420), 0);
	test_open(fd, offloads);
	test_udp(fd, offloads);
	test_tcp(fd);
	tun_close(fd);
	return check_done();
}
