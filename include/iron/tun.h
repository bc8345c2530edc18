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

#endif
