/* The TUN device, in a network namespace of its own: creation (flags, name
 * clash), configuration over rtnetlink (address, MTU, up), and the kernel's
 * view of the packets iron reads and writes: a UDP datagram and an echo
 * request sent in the namespace come out of the TUN and parse with their
 * kernel-made checksums; ICMPv6 errors iron writes reach the sending socket
 * (Destination Unreachable as EHOSTUNREACH, Packet Too Big as a lower path
 * MTU); UDP and echo packets iron builds are accepted and answered.
 *
 * Needs root and /dev/net/tun; otherwise skipped (exit 77). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <linux/errqueue.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "testutil.h"
#include "iron/ipv6.h"
#include "iron/tun.h"

#define SKIP	 77
#define TUN_NAME "iront0"

/* Reads packets from the TUN until one of the protocol arrives that is not
 * multicast (the kernel may send MLD reports), for at most 2 s. Returns its
 * length, or -1. */
static ssize_t read_packet(int fd, uint8_t protocol, uint8_t *buf, size_t cap,
			   struct ipv6_info *info)
{
	uint64_t deadline = now_ms() + 2000;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t n = read(fd, buf, cap);
		if (n <= 0)
			continue;
		if (ipv6_parse(buf, (size_t)n, info) == 0 && info->protocol == protocol &&
		    !ipv6_is_multicast(&info->dst))
			return n;
	}
}

static bool wait_readable(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, 2000) == 1;
}

/* The /proc/net/if_inet6 line of (address, interface): prefix length and
 * whether the interface has a link-local address. */
static void inet6_addresses(const char *ifname, const char *hex_addr, int *prefix_len,
			    bool *link_local)
{
	char line[256];
	FILE *f = fopen("/proc/net/if_inet6", "r");
	*prefix_len = -1;
	*link_local = false;
	while (f && fgets(line, sizeof(line), f)) {
		char a[33], name[32];
		unsigned idx, plen, scope, flags;
		if (sscanf(line, "%32s %x %x %x %x %31s", a, &idx, &plen, &scope, &flags, name) !=
			6 ||
		    strcmp(name, ifname) != 0)
			continue;
		if (strcmp(a, hex_addr) == 0)
			*prefix_len = (int)plen;
		if (strncmp(a, "fe80", 4) == 0)
			*link_local = true;
	}
	if (f)
		fclose(f);
}

static int udp_socket_to(const char *dst, uint16_t port)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	sa.sin6_addr = addr(dst);
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	static const int on = 1;
	if (s < 0 || setsockopt(s, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on)) != 0 ||
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("udp socket");
		exit(1);
	}
	return s;
}

/* The ICMPv6 error the kernel queued on s: type, code and who sent it. */
static void check_error_queue(int s, const struct in6_addr *from)
{
	char data[64], control[512];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control,
			     .msg_controllen = sizeof(control)};
	bool found = false;
	CHECK(recvmsg(s, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != IPPROTO_IPV6 || c->cmsg_type != IPV6_RECVERR)
			continue;
		struct sock_extended_err ee;
		memcpy(&ee, CMSG_DATA(c), sizeof(ee));
		struct sockaddr_in6 offender;
		memcpy(&offender, (const char *)CMSG_DATA(c) + sizeof(ee), sizeof(offender));
		CHECK_INT(ee.ee_origin, SO_EE_ORIGIN_ICMP6);
		CHECK_INT(ee.ee_type, IPV6_ICMP_DEST_UNREACHABLE);
		CHECK_INT(ee.ee_code, IPV6_ICMP_CODE_ADDR_UNREACHABLE);
		CHECK_INT(ee.ee_errno, EHOSTUNREACH);
		CHECK_MEM(&offender.sin6_addr, from, 16);
		found = true;
	}
	CHECK(found);
}

static void test_open_and_configure(int fd, const char *name)
{
	int flags = fcntl(fd, F_GETFL);
	CHECK(flags >= 0 && (flags & O_NONBLOCK));
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK_STR(name, TUN_NAME);

	/* The name is taken: a clear error, never a shared device. */
	int fd2 = -1;
	char name2[TUN_NAME_SIZE];
	CHECK_INT(tun_open(TUN_NAME, &fd2, name2), -EBUSY);
	CHECK(fd2 == -1);
	CHECK(strstr(tun_strerror(-EBUSY), "already exists") != NULL);
	CHECK_INT(tun_open("a-name-that-is-too-long", &fd2, name2), -ENAMETOOLONG);
	/* Kernel-chosen names work, and the name comes back. */
	CHECK_INT(tun_open("ironx%d", &fd2, name2), 0);
	CHECK_STR(name2, "ironx0");
	tun_close(fd2);
	CHECK_INT(if_nametoindex("ironx0"), 0);

	struct in6_addr own = addr("fd69:726f::1");
	CHECK_INT(tun_configure(name, &own, 32, 1420), 0);
	/* Again (a restart that finds the address still there). */
	CHECK_INT(tun_configure(name, &own, 32, 1420), 0);
	CHECK_INT(tun_configure(name, &own, 32, 1279), -EINVAL);
	CHECK_INT(tun_configure(name, &own, 129, 1420), -EINVAL);
	CHECK_INT(tun_configure("nosuchif0", &own, 32, 1420), -ENODEV);

	/* Asked with ioctls in this namespace (/sys shows the namespace it
	 * was mounted in). */
	struct ifreq ifr;
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	CHECK_INT(ioctl(s, SIOCGIFMTU, &ifr), 0);
	CHECK_INT(ifr.ifr_mtu, 1420);
	CHECK_INT(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	CHECK(ifr.ifr_flags & IFF_UP);
	CHECK_INT(ioctl(s, SIOCGIFTXQLEN, &ifr), 0);
	CHECK_INT(ifr.ifr_qlen, TUN_TXQUEUELEN);
	close(s);
	int prefix_len;
	bool link_local;
	inet6_addresses(name, "fd69726f000000000000000000000001", &prefix_len, &link_local);
	CHECK_INT(prefix_len, 32);
	CHECK(!link_local);
}

static void test_outbound_udp_and_errors(int fd)
{
	uint8_t pkt[2048], err[1500];
	struct ipv6_info info;
	struct ipv6_udp udp;
	struct in6_addr own = addr("fd69:726f::1"), peer = addr("fd69:726f::2");

	/* A datagram to another overlay address leaves through the TUN. */
	int s = udp_socket_to("fd69:726f::2", 9999);
	CHECK_INT(send(s, "hello", 5, 0), 5);
	ssize_t n = read_packet(fd, IPV6_PROTO_UDP, pkt, sizeof(pkt), &info);
	CHECK(n > 0);
	if (n <= 0)
		goto out;
	CHECK_MEM(&info.src, &own, 16);
	CHECK_MEM(&info.dst, &peer, 16);
	CHECK_INT(ipv6_udp_parse(pkt, &info, &udp), 0); /* the kernel's checksum */
	CHECK_INT(udp.dst_port, 9999);
	CHECK_INT(udp.payload_len, 5);
	CHECK_MEM(udp.payload, "hello", 5);

	/* Our Destination Unreachable, from our own address, reaches the
	 * socket at once. Linux counts "address unreachable" as a soft error:
	 * a UDP socket sees it with IPV6_RECVERR (as ping does), a TCP
	 * connect fails at once (below). */
	n = ipv6_build_icmp_error(err, sizeof(err), &own, IPV6_ICMP_DEST_UNREACHABLE,
				  IPV6_ICMP_CODE_ADDR_UNREACHABLE, 0, pkt, (size_t)n);
	CHECK(n > 0);
	CHECK_INT(write(fd, err, (size_t)n), n);
	CHECK(wait_readable(s, POLLERR));
	char buf[16];
	CHECK_INT(recv(s, buf, sizeof(buf), MSG_DONTWAIT), -1);
	CHECK_INT(errno, EHOSTUNREACH);
	check_error_queue(s, &own);

	/* Packet Too Big lowers the path MTU the kernel uses to that peer. */
	int s2 = udp_socket_to("fd69:726f::3", 9999);
	int mtu = 0;
	socklen_t mtu_len = sizeof(mtu);
	static uint8_t big[1300];
	memset(big, 'x', sizeof(big));
	CHECK_INT(send(s2, big, sizeof(big), 0), sizeof(big));
	n = read_packet(fd, IPV6_PROTO_UDP, pkt, sizeof(pkt), &info);
	CHECK_INT(n, 1348);
	if (n > 0) {
		n = ipv6_build_icmp_error(err, sizeof(err), &own, IPV6_ICMP_PACKET_TOO_BIG, 0, 1280,
					  pkt, (size_t)n);
		CHECK_INT(n, IPV6_MIN_MTU);
		CHECK_INT(write(fd, err, (size_t)n), n);
	}
	uint64_t deadline = now_ms() + 2000;
	do {
		CHECK_INT(getsockopt(s2, IPPROTO_IPV6, IPV6_MTU, &mtu, &mtu_len), 0);
		if (mtu == 1280)
			break;
		usleep(10000);
	} while (now_ms() < deadline);
	CHECK_INT(mtu, 1280);
	close(s2);
out:
	close(s);
}

/* What the SPEC promises applications: a TCP connect to an unknown peer
 * fails at once with "No route to host" instead of timing out. */
static void test_tcp_connect_fails_fast(int fd)
{
	uint8_t pkt[2048], err[1500];
	struct ipv6_info info;
	struct in6_addr own = addr("fd69:726f::1");
	struct sockaddr_in6 sa = {
	    .sin6_family = AF_INET6, .sin6_port = htons(80), .sin6_addr = addr("fd69:726f::6")};
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK_INT(connect(s, (struct sockaddr *)&sa, sizeof(sa)), -1);
	CHECK_INT(errno, EINPROGRESS);
	ssize_t n = read_packet(fd, IPV6_PROTO_TCP, pkt, sizeof(pkt), &info);
	CHECK(n > 0);
	if (n > 0) {
		n = ipv6_build_icmp_error(err, sizeof(err), &own, IPV6_ICMP_DEST_UNREACHABLE,
					  IPV6_ICMP_CODE_ADDR_UNREACHABLE, 0, pkt, (size_t)n);
		CHECK_INT(write(fd, err, (size_t)n), n);
	}
	uint64_t start = now_ms();
	CHECK(wait_readable(s, POLLOUT));
	int so_error = 0;
	socklen_t len = sizeof(so_error);
	CHECK_INT(getsockopt(s, SOL_SOCKET, SO_ERROR, &so_error, &len), 0);
	CHECK_INT(so_error, EHOSTUNREACH);
	CHECK(now_ms() - start < 1000);
	close(s);
}

static void test_echo(int fd)
{
	uint8_t pkt[2048];
	struct ipv6_info info;
	struct ipv6_echo echo;
	struct in6_addr own = addr("fd69:726f::1"), peer = addr("fd69:726f::4");

	/* An echo request from a raw socket: the kernel fills the checksum. */
	int raw = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	CHECK(raw >= 0);
	uint8_t req[12] = {IPV6_ICMP_ECHO_REQUEST, 0, 0, 0, 0xbe, 0xef, 0, 9, 'd', 'a', 't', 'a'};
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = peer};
	CHECK_INT(sendto(raw, req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)),
		  sizeof(req));
	close(raw);
	ssize_t n = read_packet(fd, IPV6_PROTO_ICMPV6, pkt, sizeof(pkt), &info);
	CHECK_INT(n, 52);
	if (n > 0) {
		CHECK_INT(ipv6_echo_parse(pkt, &info, &echo), 0);
		CHECK_INT(echo.type, IPV6_ICMP_ECHO_REQUEST);
		CHECK_INT(echo.identifier, 0xbeef);
		CHECK_INT(echo.sequence, 9);
		CHECK_MEM(echo.data, "data", 4);
	}

	/* The other way: our echo request from a "peer" is answered by the
	 * kernel through the TUN. */
	struct ipv6_echo ours = {.type = IPV6_ICMP_ECHO_REQUEST,
				 .identifier = 77,
				 .sequence = 3,
				 .data = (const uint8_t *)"iron",
				 .data_len = 4};
	n = ipv6_build_echo(&peer, &own, &ours, pkt, sizeof(pkt));
	CHECK_INT(write(fd, pkt, (size_t)n), n);
	n = read_packet(fd, IPV6_PROTO_ICMPV6, pkt, sizeof(pkt), &info);
	CHECK(n > 0);
	if (n > 0) {
		CHECK_INT(ipv6_echo_parse(pkt, &info, &echo), 0);
		CHECK_INT(echo.type, IPV6_ICMP_ECHO_REPLY);
		CHECK_INT(echo.identifier, 77);
		CHECK_INT(echo.sequence, 3);
		CHECK_MEM(echo.data, "iron", 4);
		CHECK_MEM(&info.dst, &peer, 16);
	}
}

static void test_inbound_udp(int fd)
{
	uint8_t pkt[256];
	struct sockaddr_in6 sa = {
	    .sin6_family = AF_INET6, .sin6_port = htons(7777), .sin6_addr = IN6ADDR_ANY_INIT};
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK_INT(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* A datagram from a peer, written into the TUN, is delivered with the
	 * peer's address. */
	struct ipv6_udp udp = {.src = addr("fd69:726f::5"),
			       .dst = addr("fd69:726f::1"),
			       .src_port = 4242,
			       .dst_port = 7777,
			       .payload = (const uint8_t *)"from a peer",
			       .payload_len = 11};
	ssize_t n = ipv6_build_udp(&udp, pkt, sizeof(pkt));
	CHECK_INT(write(fd, pkt, (size_t)n), n);
	char buf[64];
	struct sockaddr_in6 from;
	socklen_t from_len = sizeof(from);
	CHECK(wait_readable(s, POLLIN));
	n = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
	CHECK_INT(n, 11);
	CHECK_MEM(buf, "from a peer", 11);
	CHECK_MEM(&from.sin6_addr, &udp.src, 16);
	CHECK_INT(ntohs(from.sin6_port), 4242);
	/* With a broken checksum it is dropped. */
	n = ipv6_build_udp(&udp, pkt, sizeof(pkt));
	pkt[n - 1] ^= 1;
	CHECK_INT(write(fd, pkt, (size_t)n), n);
	struct pollfd p = {.fd = s, .events = POLLIN};
	CHECK_INT(poll(&p, 1, 200), 0);
	close(s);
}

int main(void)
{
	int fd = -1;
	char name[TUN_NAME_SIZE];
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("skipped: needs root and /dev/net/tun\n");
		return SKIP;
	}
	if (unshare(CLONE_NEWNET) != 0) {
		printf("skipped: cannot make a network namespace: %s\n", strerror(errno));
		return SKIP;
	}
	int err = tun_open(TUN_NAME, &fd, name);
	if (err != 0) {
		printf("skipped: cannot create a TUN device: %s\n", tun_strerror(err));
		return SKIP;
	}
	test_open_and_configure(fd, name);
	test_outbound_udp_and_errors(fd);
	test_tcp_connect_fails_fast(fd);
	test_echo(fd);
	test_inbound_udp(fd);
	tun_close(fd);
	/* Closing removed the device. */
	CHECK_INT(if_nametoindex(TUN_NAME), 0);
	return check_done();
}
