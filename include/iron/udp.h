/* UDP sockets for QUIC: batched receive (recvmmsg, with UDP_GRO where the
 * kernel has it) and batched send (GSO, UDP_SEGMENT, with a fallback to
 * one datagram per sendmsg), on a libuv loop. A socket bound to an IPv6 address is
 * dual-stack; IPv4 peers then appear as v4-mapped addresses
 * (udp_normalize() gives the same form for addresses from elsewhere). */
#ifndef IRON_UDP_H
#define IRON_UDP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "iron/netaddr.h"

struct udp_socket;

struct udp_callbacks {
	void *user;
	/* One datagram arrived. data is valid only during the call. */
	void (*recv)(void *user, struct udp_socket *sock, const struct sockaddr *remote,
		     const uint8_t *data, size_t len);
	/* A batch of reads ended: the time to flush pending writes. May be NULL. */
	void (*batch_done)(void *user, struct udp_socket *sock);
};

/* Opens a socket bound to addr (AF_INET or AF_INET6; an IPv6 wildcard is
 * dual-stack) and starts reading. Returns 0, or -errno (-EADDRINUSE when the
 * port is taken). */
int udp_open(uv_loop_t *loop, const struct sockaddr *addr, const struct udp_callbacks *callbacks,
	     struct udp_socket **out);

/* Closes the socket; the object is freed once libuv has closed the handle. */
void udp_close(struct udp_socket *sock);

/* The bound address (with the real port when 0 was asked for). */
const struct sockaddr *udp_local(const struct udp_socket *sock);

/* Queues one datagram to remote. Consecutive datagrams to one remote are
 * sent as one GSO batch at the next udp_flush() (or when the batch is full).
 * Returns 0, or -errno when the address family cannot be used on this
 * socket, or -EMSGSIZE; both are counted in send_errors. A full socket
 * buffer drops the datagram (counted in send_dropped): QUIC recovers. */
int udp_send(struct udp_socket *sock, const struct sockaddr *remote, const uint8_t *data,
	     size_t len);

/* Sends what udp_send() queued. */
void udp_flush(struct udp_socket *sock);

/* Writes addr to out in the form this socket reports remote addresses in
 * (IPv4 as v4-mapped IPv6 on a dual-stack socket). Returns 0 or -EAFNOSUPPORT. */
int udp_normalize(const struct udp_socket *sock, const struct sockaddr *addr, struct netaddr *out);

struct udp_stats {
	uint64_t datagrams_received, datagrams_sent, bytes_received, bytes_sent;
	uint64_t send_errors, send_dropped, batches_sent;
	uint64_t send_calls;	       /* sendmsg and sendmmsg system calls */
	uint64_t gro_batches_received; /* buffers that held several datagrams */
};
void udp_get_stats(const struct udp_socket *sock, struct udp_stats *out);

#endif
