#define LOG_MODULE "udp"

#include "iron/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iron/log.h"
#include "iron/netaddr.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* The largest datagram sent or taken alone (QUIC's are at most 1452). */
#define UDP_MAX_DATAGRAM 2048
/* Receive: without GRO, recvmmsg into 64 buffers of one datagram each.
 * With UDP_GRO the kernel hands over runs of datagrams from one sender
 * (a GSO batch that crossed a veth whole, or what the NIC's GRO merged)
 * as one buffer of up to 64 KiB: 8 such buffers. */
#define UDP_RECV_BATCH	   64
#define UDP_GRO_BATCH	   8
#define UDP_GRO_SIZE	   65536
#define UDP_RECV_BUF_BYTES (UDP_GRO_BATCH * UDP_GRO_SIZE)
/* recvmmsg calls per wake-up, and datagrams, so that one socket cannot
 * starve the loop (or hold back the writes that batch_done sends). The
 * datagrams are the limit: with GRO a call returns 8 buffers, and when
 * nothing coalesces (a thousand clients' handshakes) 4 calls read 32
 * datagrams a turn. An established peer's packet then waited behind the
 * socket's backlog for several turns (10-14 ms RTT p99 in bench/peers,
 * issue 16); read whole, the backlog's handshake datagrams wait in the
 * endpoint's own queue instead (QUIC_ACCEPT_BURST a turn) and the rest
 * goes on at once. */
#define UDP_READS_PER_WAKE     32
#define UDP_DATAGRAMS_PER_WAKE 256
/* ... and no further read once a wake-up has taken this long: datagrams
 * that cost more than they look (10 000 peers closing at once: ~40 us
 * each) would otherwise hold the loop ~10 ms. */
#define UDP_WAKE_BUDGET_NS (1000 * 1000)
#define UDP_GSO_MAX_SEGS   64
#define UDP_GSO_MAX_BYTES  65000
#define UDP_SOCKBUF	   (8 * 1024 * 1024)

struct udp_socket {
	uv_poll_t poll;
	int fd;
	struct udp_callbacks cb;
	struct netaddr local;
	int gso_ok;
	int gro_ok; /* UDP_GRO is on: buffers of UDP_GRO_SIZE */
	struct udp_stats stats;

	/* The pending GSO batch: segments of seg_len bytes (the last may be
	 * shorter, which ends the batch) to one remote. */
	struct netaddr batch_to;
	socklen_t batch_to_len;
	size_t batch_len, batch_seg, batch_count;
	uint8_t batch[UDP_GSO_MAX_BYTES];

	/* UDP_RECV_BATCH buffers of UDP_MAX_DATAGRAM, or UDP_GRO_BATCH of
	 * UDP_GRO_SIZE, in one region. */
	int recv_count;
	size_t recv_size;
	uint8_t recv_buf[UDP_RECV_BUF_BYTES];
	struct sockaddr_storage recv_addr[UDP_RECV_BATCH];
	struct iovec recv_iov[UDP_RECV_BATCH];
	struct mmsghdr recv_msg[UDP_RECV_BATCH];
	char recv_control[UDP_RECV_BATCH][CMSG_SPACE(sizeof(int))];
};

int udp_normalize(const struct udp_socket *sock, const struct sockaddr *addr, struct netaddr *out)
{
	if (addr->sa_family == sock->local.sa.sa_family)
		return netaddr_set(out, addr);
	if (addr->sa_family == AF_INET && sock->local.sa.sa_family == AF_INET6)
		return netaddr_to_v6(addr, out);
	memset(out, 0, sizeof(*out));
	return -EAFNOSUPPORT;
}

static void send_batch(struct udp_socket *sock)
{
	char control[CMSG_SPACE(sizeof(uint16_t))];
	struct iovec iov = {.iov_base = sock->batch, .iov_len = sock->batch_len};
	struct msghdr msg = {
	    .msg_name = &sock->batch_to,
	    .msg_namelen = sock->batch_to_len,
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	};
	int gso_errno = 0;
	size_t too_big = 0;

	if (sock->batch_count == 0)
		return;
	if (sock->batch_count > 1 && sock->gso_ok) {
		uint16_t seg = (uint16_t)sock->batch_seg;
		memset(control, 0, sizeof(control));
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_UDP;
		cm->cmsg_type = UDP_SEGMENT;
		cm->cmsg_len = CMSG_LEN(sizeof(seg));
		memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
		if (sendmsg(sock->fd, &msg, 0) >= 0) {
			sock->stats.batches_sent++;
			goto sent;
		}
		gso_errno = errno;
		if (gso_errno != EIO && gso_errno != EINVAL && gso_errno != EMSGSIZE &&
		    gso_errno != ENOPROTOOPT && gso_errno != EOPNOTSUPP) {
			sock->stats.send_dropped += sock->batch_count;
			goto done;
		}
		/* Sent one by one below; the outcome tells whether GSO or the
		 * size was the trouble. */
	}
	/* One sendmsg per datagram. */
	msg.msg_control = NULL;
	msg.msg_controllen = 0;
	for (size_t off = 0; off < sock->batch_len; off += sock->batch_seg) {
		size_t n = sock->batch_len - off < sock->batch_seg ? sock->batch_len - off
								   : sock->batch_seg;
		iov.iov_base = sock->batch + off;
		iov.iov_len = n;
		if (sendmsg(sock->fd, &msg, 0) < 0) {
			if (errno == EAGAIN || errno == ENOBUFS)
				sock->stats.send_dropped++;
			else
				sock->stats.send_errors++;
			if (errno == EMSGSIZE)
				too_big++;
		}
	}
	if (gso_errno && !too_big) {
		/* The path cannot do GSO (e.g. no checksum offload): stop trying.
		 * (A batch of datagrams larger than the device's MTU, a path
		 * MTU probe, fails with EINVAL too; the datagrams alone then
		 * fail with EMSGSIZE, and GSO stays on.) */
		log_info("GSO not available on this socket (%s); sending one datagram per call",
			 strerror(gso_errno));
		sock->gso_ok = 0;
	}
sent:
	sock->stats.datagrams_sent += sock->batch_count;
	sock->stats.bytes_sent += sock->batch_len;
done:
	sock->batch_count = 0;
	sock->batch_len = 0;
}

int udp_send(struct udp_socket *sock, const struct sockaddr *remote, const uint8_t *data,
	     size_t len)
{
	struct netaddr to;
	int rc = udp_normalize(sock, remote, &to);
	if (rc < 0) {
		sock->stats.send_errors++;
		return rc;
	}
	if (len > UDP_MAX_DATAGRAM || len == 0) {
		sock->stats.send_errors++;
		return -EMSGSIZE;
	}
	socklen_t to_len = netaddr_len(&to.sa);
	if (sock->batch_count > 0) {
		int same =
		    to_len == sock->batch_to_len && memcmp(&to, &sock->batch_to, to_len) == 0;
		/* A batch continues while the destination is the same, the new
		 * segment is no longer than the first and the previous one was
		 * full-sized (only the last segment may be short). */
		if (!same || len > sock->batch_seg || sock->batch_len % sock->batch_seg != 0 ||
		    sock->batch_count == UDP_GSO_MAX_SEGS ||
		    sock->batch_len + len > UDP_GSO_MAX_BYTES || !sock->gso_ok)
			send_batch(sock);
	}
	if (sock->batch_count == 0) {
		sock->batch_to = to;
		sock->batch_to_len = to_len;
		sock->batch_seg = len;
	}
	memcpy(sock->batch + sock->batch_len, data, len);
	sock->batch_len += len;
	sock->batch_count++;
	return 0;
}

void udp_flush(struct udp_socket *sock)
{
	send_batch(sock);
}

/* The size of the datagrams in a received buffer: the UDP_GRO message
 * says when the kernel merged several (all of that size but the last);
 * without one the buffer is one datagram. */
static size_t gro_segment_size(struct msghdr *h, size_t len)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level != SOL_UDP || cm->cmsg_type != UDP_GRO ||
		    cm->cmsg_len < CMSG_LEN(sizeof(int)))
			continue;
		int seg;
		memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
		if (seg > 0 && (size_t)seg < len)
			return (size_t)seg;
	}
	return len > 0 ? len : 1;
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	struct udp_socket *sock = handle->data;
	(void)events;
	if (status < 0) {
		log_warn("socket error: %s", uv_strerror(status));
		return;
	}
	uint64_t delivered = 0;
	uint64_t start = uv_hrtime();
	for (int round = 0; round < UDP_READS_PER_WAKE && delivered < UDP_DATAGRAMS_PER_WAKE;
	     round++) {
		for (int i = 0; i < sock->recv_count; i++) {
			sock->recv_msg[i].msg_hdr.msg_namelen = sizeof(sock->recv_addr[i]);
			sock->recv_msg[i].msg_hdr.msg_controllen =
			    sock->gro_ok ? sizeof(sock->recv_control[i]) : 0;
			sock->recv_msg[i].msg_len = 0;
		}
		int n = recvmmsg(sock->fd, sock->recv_msg, (unsigned)sock->recv_count, MSG_DONTWAIT,
				 NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				log_debug("recvmmsg: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct msghdr *h = &sock->recv_msg[i].msg_hdr;
			if (h->msg_flags & MSG_TRUNC)
				continue;
			const uint8_t *data = h->msg_iov->iov_base;
			size_t len = sock->recv_msg[i].msg_len;
			size_t seg = gro_segment_size(h, len);
			if (seg < len)
				sock->stats.gro_batches_received++;
			sock->stats.bytes_received += len;
			for (size_t off = 0; off < len; off += seg) {
				size_t k = len - off < seg ? len - off : seg;
				sock->stats.datagrams_received++;
				delivered++;
				sock->cb.recv(sock->cb.user, sock,
					      (struct sockaddr *)&sock->recv_addr[i], data + off,
					      k);
			}
		}
		if (n < sock->recv_count || uv_hrtime() - start >= UDP_WAKE_BUDGET_NS)
			break;
	}
	if (sock->cb.batch_done)
		sock->cb.batch_done(sock->cb.user, sock);
}

static void on_closed(uv_handle_t *handle);

/* QUIC datagrams must not be fragmented (RFC 9000 §14): set DF, never
 * fragment locally, and ignore the kernel's path MTU cache, which ICMP
 * from anyone on the path can lower. The QUIC layer measures the path
 * itself (pmtu.h); a datagram larger than the device's MTU fails with
 * EMSGSIZE, which counts as a lost probe. A dual-stack socket needs the
 * IPv4 option too, for its IPv4-mapped peers. */
static void set_dont_fragment(int fd, int family)
{
	int v4 = IP_PMTUDISC_PROBE, v6 = IPV6_PMTUDISC_PROBE;

	if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &v4, sizeof(v4)) != 0 && family == AF_INET)
		log_debug("IP_MTU_DISCOVER: %s", strerror(errno));
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &v6, sizeof(v6)) != 0)
		log_debug("IPV6_MTU_DISCOVER: %s", strerror(errno));
}

static void set_buffer(int fd, int force_opt, int opt, int size)
{
	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) != 0)
		setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
}

int udp_open(uv_loop_t *loop, const struct sockaddr *addr, const struct udp_callbacks *callbacks,
	     struct udp_socket **out)
{
	struct udp_socket *sock = calloc(1, sizeof(*sock));
	int fd = -1, rc, zero = 0;
	socklen_t len;

	if (!sock)
		return -ENOMEM;
	if (netaddr_len(addr) == 0) {
		free(sock);
		return -EAFNOSUPPORT;
	}
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	set_dont_fragment(fd, addr->sa_family);
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, UDP_SOCKBUF);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, UDP_SOCKBUF);
	if (bind(fd, addr, netaddr_len(addr)) != 0) {
		rc = -errno;
		goto fail;
	}
	len = sizeof(sock->local);
	if (getsockname(fd, &sock->local.sa, &len) != 0) {
		rc = -errno;
		goto fail;
	}
	sock->fd = fd;
	sock->cb = *callbacks;
	sock->gso_ok = 1;
	/* UDP_GRO since Linux 5.0; IRON_UDP_GRO=0 turns it off (to compare). */
	int one = 1;
	const char *gro = getenv("IRON_UDP_GRO");
	sock->gro_ok = !(gro && strcmp(gro, "0") == 0) &&
		       setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	sock->recv_count = sock->gro_ok ? UDP_GRO_BATCH : UDP_RECV_BATCH;
	sock->recv_size = sock->gro_ok ? UDP_GRO_SIZE : UDP_MAX_DATAGRAM;
	for (int i = 0; i < sock->recv_count; i++) {
		sock->recv_iov[i].iov_base = sock->recv_buf + (size_t)i * sock->recv_size;
		sock->recv_iov[i].iov_len = sock->recv_size;
		sock->recv_msg[i].msg_hdr.msg_name = &sock->recv_addr[i];
		sock->recv_msg[i].msg_hdr.msg_iov = &sock->recv_iov[i];
		sock->recv_msg[i].msg_hdr.msg_iovlen = 1;
		sock->recv_msg[i].msg_hdr.msg_control = sock->recv_control[i];
	}
	rc = uv_poll_init(loop, &sock->poll, fd);
	if (rc < 0)
		goto fail;
	sock->poll.data = sock;
	rc = uv_poll_start(&sock->poll, UV_READABLE, on_readable);
	if (rc < 0) {
		/* The handle is initialised: only its close callback may free. */
		uv_close((uv_handle_t *)&sock->poll, on_closed);
		return rc;
	}
	*out = sock;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(sock);
	return rc;
}

static void on_closed(uv_handle_t *handle)
{
	struct udp_socket *sock = handle->data;
	close(sock->fd);
	free(sock);
}

void udp_close(struct udp_socket *sock)
{
	uv_poll_stop(&sock->poll);
	uv_close((uv_handle_t *)&sock->poll, on_closed);
}

const struct sockaddr *udp_local(const struct udp_socket *sock)
{
	return (const struct sockaddr *)&sock->local;
}

void udp_get_stats(const struct udp_socket *sock, struct udp_stats *out)
{
	*out = sock->stats;
}
