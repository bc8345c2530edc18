#define LOG_MODULE "udp"

#include "iron/udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/udp.h>
#include <stdbool.h>
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
/* Send: the batches one udp_flush() sends with one sendmmsg call, and
 * their bytes. A write turn's datagrams of mixed sizes or to several
 * peers (a receiver's ACKs and the inner TCP's, keep-alives) each began a
 * batch and cost a sendmsg of their own: ~30 000 a second on the
 * receiving side of a bulk transfer. */
#define UDP_SEND_BATCHES 64
#define UDP_SEND_BYTES	 (4 * UDP_GSO_MAX_BYTES)
#define UDP_SOCKBUF	 (8 * 1024 * 1024)

/* Segments of seg bytes (the last may be shorter, which ends the batch)
 * to one remote: one message, with UDP_SEGMENT when there are several. */
struct udp_batch {
	struct netaddr to;
	socklen_t to_len;
	size_t start, len, seg, count;
};

struct udp_socket {
	uv_poll_t poll;
	int fd;
	struct udp_callbacks cb;
	struct netaddr local;
	int gso_ok;
	int gro_ok; /* UDP_GRO is on: buffers of UDP_GRO_SIZE */
	struct udp_stats stats;

	/* What udp_send() queued until the next udp_flush(): batches, each
	 * going out as one message of the same sendmmsg call, their bytes
	 * one after the other in out. */
	struct udp_batch batches[UDP_SEND_BATCHES];
	size_t nbatches, out_len;
	uint8_t out[UDP_SEND_BYTES];

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

/* A GSO segment size cmsg; the rest of the message is the batch's. */
static void put_segment_size(struct msghdr *msg, char *control, size_t space, uint16_t seg)
{
	memset(control, 0, space);
	msg->msg_control = control;
	msg->msg_controllen = space;
	struct cmsghdr *cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(sizeof(seg));
	memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
}

/* Sends batch b's datagrams one system call each, after the kernel refused
 * the batch as one message with err. */
static void send_one_by_one(struct udp_socket *sock, const struct udp_batch *b, int err)
{
	struct iovec iov;
	struct msghdr msg = {
	    .msg_name = (void *)&b->to,
	    .msg_namelen = b->to_len,
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	};
	size_t too_big = 0;

	for (size_t off = 0; off < b->len; off += b->seg) {
		iov.iov_base = sock->out + b->start + off;
		iov.iov_len = b->len - off < b->seg ? b->len - off : b->seg;
		sock->stats.send_calls++;
		if (sendmsg(sock->fd, &msg, 0) < 0) {
			if (errno == EAGAIN || errno == ENOBUFS)
				sock->stats.send_dropped++;
			else
				sock->stats.send_errors++;
			if (errno == EMSGSIZE)
				too_big++;
		} else {
			sock->stats.datagrams_sent++;
			sock->stats.bytes_sent += iov.iov_len;
		}
	}
	if (err && !too_big) {
		/* The path cannot do GSO (e.g. no checksum offload): stop trying.
		 * (A batch of datagrams larger than the device's MTU, a path
		 * MTU probe, fails with EINVAL too; the datagrams alone then
		 * fail with EMSGSIZE, and GSO stays on.) */
		log_info("GSO not available on this socket (%s); sending one datagram per call",
			 strerror(err));
		sock->gso_ok = 0;
	}
}

static bool gso_refused(int err)
{
	return err == EIO || err == EINVAL || err == EMSGSIZE || err == ENOPROTOOPT ||
	       err == EOPNOTSUPP;
}

/* Sends every queued batch, as many as the kernel takes in one sendmmsg
 * call; a batch it refuses ends that call, and the next starts after it. */
static void send_batches(struct udp_socket *sock)
{
	enum { CONTROL_SPACE = CMSG_SPACE(sizeof(uint16_t)) };
	struct mmsghdr msgs[UDP_SEND_BATCHES];
	struct iovec iovs[UDP_SEND_BATCHES];
	char control[UDP_SEND_BATCHES][CONTROL_SPACE];
	size_t n = sock->nbatches;

	if (n == 0)
		return;
	memset(msgs, 0, n * sizeof(msgs[0]));
	for (size_t i = 0; i < n; i++) {
		struct udp_batch *b = &sock->batches[i];
		iovs[i].iov_base = sock->out + b->start;
		iovs[i].iov_len = b->len;
		msgs[i].msg_hdr.msg_name = &b->to;
		msgs[i].msg_hdr.msg_namelen = b->to_len;
		msgs[i].msg_hdr.msg_iov = &iovs[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		if (b->count > 1)
			put_segment_size(&msgs[i].msg_hdr, control[i], CONTROL_SPACE,
					 (uint16_t)b->seg);
	}
	for (size_t i = 0; i < n;) {
		sock->stats.send_calls++;
		int sent = sendmmsg(sock->fd, msgs + i, (unsigned)(n - i), 0);
		for (int k = 0; k < sent; k++) {
			const struct udp_batch *b = &sock->batches[i + (size_t)k];
			if (b->count > 1)
				sock->stats.batches_sent++;
			sock->stats.datagrams_sent += b->count;
			sock->stats.bytes_sent += b->len;
		}
		if (sent > 0) {
			i += (size_t)sent;
			continue;
		}
		/* Batch i was refused. Nothing taken without an error (which
		 * the kernel does not do) counts as a full buffer. */
		int err = sent == 0 ? EAGAIN : errno;
		const struct udp_batch *b = &sock->batches[i];
		if (err == EAGAIN || err == EWOULDBLOCK) {
			/* The socket's buffer is full: so it is for the rest. */
			for (; i < n; i++)
				sock->stats.send_dropped += sock->batches[i].count;
			break;
		}
		if (b->count > 1 && gso_refused(err))
			/* Sent one by one; the outcome tells whether GSO or
			 * the size was the trouble. */
			send_one_by_one(sock, b, err);
		else if (err == ENOBUFS)
			sock->stats.send_dropped += b->count;
		else
			sock->stats.send_errors += b->count;
		i++;
	}
	sock->nbatches = 0;
	sock->out_len = 0;
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
	struct udp_batch *b = sock->nbatches ? &sock->batches[sock->nbatches - 1] : NULL;
	/* A batch continues while the destination is the same, the new
	 * segment is no longer than the first and the previous one was
	 * full-sized (only the last segment may be short). */
	if (b && (to_len != b->to_len || memcmp(&to, &b->to, to_len) != 0 || len > b->seg ||
		  b->len % b->seg != 0 || b->count == UDP_GSO_MAX_SEGS ||
		  b->len + len > UDP_GSO_MAX_BYTES || !sock->gso_ok))
		b = NULL;
	if (sock->out_len + len > UDP_SEND_BYTES || (!b && sock->nbatches == UDP_SEND_BATCHES)) {
		send_batches(sock);
		b = NULL;
	}
	if (!b) {
		b = &sock->batches[sock->nbatches++];
		b->to = to;
		b->to_len = to_len;
		b->start = sock->out_len;
		b->len = 0;
		b->seg = len;
		b->count = 0;
	}
	memcpy(sock->out + sock->out_len, data, len);
	sock->out_len += len;
	b->len += len;
	b->count++;
	return 0;
}

void udp_flush(struct udp_socket *sock)
{
	send_batches(sock);
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
