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

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define UDP_RECV_BATCH 64
#define UDP_RECV_SIZE  2048
#define UDP_READS_PER_WAKE                                                                         \
	4 /* recvmmsg calls per wake-up, so one socket cannot starve the loop                      \
	   */
#define UDP_GSO_MAX_SEGS  64
#define UDP_GSO_MAX_BYTES 65000
#define UDP_SOCKBUF	  (8 * 1024 * 1024)

struct udp_socket {
	uv_poll_t poll;
	int fd;
	struct udp_callbacks cb;
	struct sockaddr_storage local;
	int gso_ok;
	struct udp_stats stats;

	/* The pending GSO batch: segments of seg_len bytes (the last may be
	 * shorter, which ends the batch) to one remote. */
	struct sockaddr_storage batch_to;
	socklen_t batch_to_len;
	size_t batch_len, batch_seg, batch_count;
	uint8_t batch[UDP_GSO_MAX_BYTES];

	uint8_t recv_buf[UDP_RECV_BATCH][UDP_RECV_SIZE];
	struct sockaddr_storage recv_addr[UDP_RECV_BATCH];
	struct iovec recv_iov[UDP_RECV_BATCH];
	struct mmsghdr recv_msg[UDP_RECV_BATCH];
};

socklen_t udp_sockaddr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int udp_normalize(const struct udp_socket *sock, const struct sockaddr *addr,
		  struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (addr->sa_family == sock->local.ss_family) {
		memcpy(out, addr, udp_sockaddr_len(addr));
		return 0;
	}
	if (addr->sa_family == AF_INET && sock->local.ss_family == AF_INET6) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
		v6->sin6_family = AF_INET6;
		v6->sin6_port = v4->sin_port;
		v6->sin6_addr.s6_addr[10] = 0xff;
		v6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(v6->sin6_addr.s6_addr + 12, &v4->sin_addr, 4);
		return 0;
	}
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
		if (errno != EIO && errno != EINVAL && errno != ENOPROTOOPT &&
		    errno != EOPNOTSUPP) {
			sock->stats.send_dropped += sock->batch_count;
			goto done;
		}
		/* The path cannot do GSO (e.g. no checksum offload): stop trying. */
		log_info("GSO not available on this socket (%s); sending one datagram per call",
			 strerror(errno));
		sock->gso_ok = 0;
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
		}
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
	struct sockaddr_storage to;
	int rc = udp_normalize(sock, remote, &to);
	if (rc < 0)
		return rc;
	if (len > UDP_RECV_SIZE || len == 0)
		return -EMSGSIZE;
	socklen_t to_len = udp_sockaddr_len((struct sockaddr *)&to);
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
		memcpy(&sock->batch_to, &to, to_len);
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

static void on_readable(uv_poll_t *handle, int status, int events)
{
	struct udp_socket *sock = handle->data;
	(void)events;
	if (status < 0) {
		log_warn("socket error: %s", uv_strerror(status));
		return;
	}
	for (int round = 0; round < UDP_READS_PER_WAKE; round++) {
		for (int i = 0; i < UDP_RECV_BATCH; i++) {
			sock->recv_msg[i].msg_hdr.msg_namelen = sizeof(sock->recv_addr[i]);
			sock->recv_msg[i].msg_len = 0;
		}
		int n = recvmmsg(sock->fd, sock->recv_msg, UDP_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				log_debug("recvmmsg: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (sock->recv_msg[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			sock->stats.datagrams_received++;
			sock->stats.bytes_received += sock->recv_msg[i].msg_len;
			sock->cb.recv(sock->cb.user, sock, (struct sockaddr *)&sock->recv_addr[i],
				      sock->recv_buf[i], sock->recv_msg[i].msg_len);
		}
		if (n < UDP_RECV_BATCH)
			break;
	}
	if (sock->cb.batch_done)
		sock->cb.batch_done(sock->cb.user, sock);
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
	int fd = -1, rc, one = 1, zero = 0;
	socklen_t len;

	if (!sock)
		return -ENOMEM;
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, UDP_SOCKBUF);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, UDP_SOCKBUF);
	(void)one;
	if (bind(fd, addr, udp_sockaddr_len(addr)) != 0) {
		rc = -errno;
		goto fail;
	}
	len = sizeof(sock->local);
	getsockname(fd, (struct sockaddr *)&sock->local, &len);
	sock->fd = fd;
	sock->cb = *callbacks;
	sock->gso_ok = 1;
	for (int i = 0; i < UDP_RECV_BATCH; i++) {
		sock->recv_iov[i].iov_base = sock->recv_buf[i];
		sock->recv_iov[i].iov_len = UDP_RECV_SIZE;
		sock->recv_msg[i].msg_hdr.msg_name = &sock->recv_addr[i];
		sock->recv_msg[i].msg_hdr.msg_iov = &sock->recv_iov[i];
		sock->recv_msg[i].msg_hdr.msg_iovlen = 1;
	}
	rc = uv_poll_init(loop, &sock->poll, fd);
	if (rc < 0)
		goto fail;
	sock->poll.data = sock;
	uv_poll_start(&sock->poll, UV_READABLE, on_readable);
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

int udp_parse_addr(const char *text, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	size_t host_len;
	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *close_bracket = strchr(text, ']');
		if (!close_bracket || close_bracket[1] != ':')
			return -EINVAL;
		host_len = (size_t)(close_bracket - text - 1);
		if (host_len >= sizeof(host))
			return -EINVAL;
		memcpy(host, text + 1, host_len);
		port_text = close_bracket + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon || strchr(text, ':') != colon)
			return -EINVAL;
		host_len = (size_t)(colon - text);
		if (host_len >= sizeof(host))
			return -EINVAL;
		memcpy(host, text, host_len);
		port_text = colon + 1;
	}
	host[host_len] = '\0';
	char *end = NULL;
	long port = strtol(port_text, &end, 10);
	if (!*port_text || *end || port < 0 || port > 65535)
		return -EINVAL;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1 && text[0] == '[') {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1 && text[0] != '[') {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

char *udp_format_addr(const struct sockaddr *addr, char *out, size_t out_cap)
{
	char host[INET6_ADDRSTRLEN];
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
		snprintf(out, out_cap, "%s:%u", host, ntohs(v4->sin_port));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
		if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
			inet_ntop(AF_INET, v6->sin6_addr.s6_addr + 12, host, sizeof(host));
			snprintf(out, out_cap, "%s:%u", host, ntohs(v6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
			snprintf(out, out_cap, "[%s]:%u", host, ntohs(v6->sin6_port));
		}
	} else {
		snprintf(out, out_cap, "(unknown address family %d)", addr->sa_family);
	}
	return out;
}
