/* The Linux TUN device that carries the overlay (SPEC section 7): opened
 * through /dev/net/tun, configured over rtnetlink (no `ip` subprocess: no
 * PATH dependency, exact errors). Needs CAP_NET_ADMIN.
 *
 * The device is not persistent: closing its descriptor removes it, with its
 * address and route, so there is nothing else to undo at shutdown. */
#ifndef IRON_TUN_H
#define IRON_TUN_H

/* Packets the kernel queues for us to read before it drops. */
#define TUN_TXQUEUELEN 2000

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Bytes for an interface name, NUL included. */
#define TUN_NAME_SIZE IFNAMSIZ

/* Creates a TUN device carrying bare IPv6 packets (IFF_TUN | IFF_NO_PI:
 * one read or write is one packet, no header), its descriptor non-blocking
 * and close-on-exec. name may contain a "%d" template, or be NULL or "" to
 * let the kernel choose; the name it got is copied to actual_name
 * (TUN_NAME_SIZE bytes; may be NULL). The caller owns *fd and closes it with
 * tun_close(). Returns 0, or -ENAMETOOLONG when name does not fit; -ENOENT
 * when /dev/net/tun is missing; -EPERM without CAP_NET_ADMIN; -EBUSY when an
 * interface of that name exists (IFF_TUN_EXCL: never attaches to someone
 * else's device); other -errno from the kernel. */
int tun_open(const char *name, int *fd, char *actual_name);

/* What tun_open_offload() got the kernel to hand over (TUNSETOFFLOAD). */
#define TUN_OFFLOAD_CSUM 1 /* packets with partial checksums (NEEDS_CSUM) */
#define TUN_OFFLOAD_TSO	 2 /* TCP super-packets of up to 64 KB */
#define TUN_OFFLOAD_USO	 4 /* UDP super-packets (UDP_SEGMENT senders; Linux 6.2) */

/* Like tun_open(), with IFF_VNET_HDR: every read and every write on the
 * descriptor starts with a 10-byte virtio_net_hdr (iron/offload.h). Then
 * asks for checksum, TSO and USO offloads, and for fewer when the kernel
 * refuses (it answers EINVAL for flags it does not know); *offloads gets
 * the TUN_OFFLOAD_* bits in force (0 is possible: the header is still
 * there, and writes may still carry GSO). Returns as tun_open(). */
int tun_open_offload(const char *name, int *fd, char *actual_name, unsigned *offloads);

/* Configures the interface over rtnetlink: sets the MTU, turns off
 * link-local address generation (the overlay needs no neighbour discovery,
 * and it would only send multicast noise into the TUN), brings the link up
 * and adds addr/prefix_len with IFA_F_NODAD; the prefix route
 * (fd69:726f::/32 for SPEC's /32) comes with the address. Returns once the
 * kernel treats the address as local (it installs that route a moment
 * later, from a work queue), so packets to it written into the TUN right
 * after are delivered. Adding an address that is already there is not an
 * error.
 * Returns 0; -EINVAL for an MTU outside 1280..65535 (below 1280 the kernel
 * turns IPv6 off on the link) or a prefix length above 128; -ENODEV when
 * there is no such interface; -ETIMEDOUT when the address is not local
 * after 5 s; otherwise the -errno of the netlink request that failed (the
 * kernel's extended error message, when it gives one, is logged). */
int tun_configure(const char *ifname, const struct in6_addr *addr, unsigned prefix_len,
		  unsigned mtu);

/* Closes the descriptor from tun_open(), which removes the device; a
 * negative fd is ignored. */
void tun_close(int fd);

/* A one-line explanation of a tun_open()/tun_configure() error for the
 * user, with the fix where there is one. */
const char *tun_strerror(int err);

/* ---- The device on the loop ----
 *
 * struct tun_device reads and writes the TUN from a libuv loop, the way
 * udp.h does for sockets: reads in bounded batches, each packet (an
 * offloaded super-packet already cut into packets) handed to a callback;
 * writes through the offload coalescer when the device has IFF_VNET_HDR,
 * with a fallback to one packet per write when the kernel refuses a
 * coalesced one. */

struct tun_device;

struct tun_callbacks {
	void *user;
	/* One IP packet read from the TUN. now is the time of the read batch
	 * (uv_hrtime() nanoseconds). pkt is valid only during the call. */
	void (*packet)(void *user, const uint8_t *pkt, size_t len, uint64_t now);
};

/* Creates the TUN (tun_open_offload() when offload is true, else
 * tun_open()) on loop; it is read once tun_device_start() is called, after
 * tun_configure(). Returns 0, -ENOMEM, or the -errno of the open. The
 * device exists until tun_device_close(). */
int tun_device_open(uv_loop_t *loop, const char *name, bool offload,
		    const struct tun_callbacks *callbacks, struct tun_device **out);

/* Starts reading. Returns 0 or the -errno of libuv. */
int tun_device_start(struct tun_device *dev);

/* Stops reading and closes the device (which removes the interface) once
 * libuv has closed its handle; run the loop afterwards. NULL is fine. */
void tun_device_close(struct tun_device *dev);

/* The interface name, and TUN_OFFLOAD_* bits in force (0 without
 * IFF_VNET_HDR: see tun_device_vnet_hdr()). */
const char *tun_device_name(const struct tun_device *dev);
unsigned tun_device_offloads(const struct tun_device *dev);
bool tun_device_vnet_hdr(const struct tun_device *dev);

/* Writes one IP packet into the TUN: at once, or held by the coalescer
 * until tun_device_flush() (TCP data of one flow, joined). Failures are
 * counted (tx_dropped). */
void tun_device_write(struct tun_device *dev, const uint8_t *pkt, size_t len);

/* Writes what the coalescer holds. Returns true when packets went into the
 * TUN since the last call: the kernel may have answered them already (an
 * echo reply, a TCP ACK), so the caller can read at once. */
bool tun_device_flush(struct tun_device *dev);

/* Reads one batch now (at most TUN_DEVICE_BATCH reads and
 * TUN_DEVICE_SEGMENT_BUDGET packets), as the loop does when the TUN is
 * readable. */
void tun_device_read(struct tun_device *dev);

#define TUN_DEVICE_BATCH 64
/* Packets (TSO segments included) read per wake-up: one offloaded read can
 * bring 45 of them, and all wait in the QUIC send queues (256 per
 * connection) until the flush at the end of the loop iteration. */
#define TUN_DEVICE_SEGMENT_BUDGET 128

struct tun_device_stats {
	uint64_t rx, tx, tx_dropped;
	/* Offloads: reads that brought more than one packet, the packets they
	 * brought, and reads or writes the offload code or the kernel
	 * refused. */
	uint64_t gso_reads, segments_split, offload_errors;
	uint64_t coalesced_writes, coalesced_segments;
};
void tun_device_get_stats(const struct tun_device *dev, struct tun_device_stats *out);

#endif
