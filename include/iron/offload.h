/* TUN offloads (IFF_VNET_HDR): the packet work a NIC would do, done in iron
 * so the kernel can hand over and take 64 KB TCP segments in one system
 * call. Pure code: no I/O, no loop.
 *
 * With IFF_VNET_HDR every read and write on the TUN starts with a 10-byte
 * struct virtio_net_hdr (little-endian fields). Reading, the kernel may
 * give one TCP (TSO) or UDP (USO) "super-packet" that offload_split() cuts
 * into MTU-sized packets with complete checksums. Writing,
 * struct offload_coalescer joins consecutive segments of a TCP flow into
 * one such super-packet, which the kernel takes as one (as if GRO had
 * joined it), and writes everything else as it is. */
#ifndef IRON_OFFLOAD_H
#define IRON_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

/* The virtio_net_hdr that precedes every packet on the TUN. */
#define OFFLOAD_VNET_HDR_LEN 10

/* Its flags and GSO types (linux/virtio_net.h; UDP_L4 is missing from
 * older headers). */
#define OFFLOAD_F_NEEDS_CSUM 1
#define OFFLOAD_F_DATA_VALID 2
#define OFFLOAD_GSO_NONE     0
#define OFFLOAD_GSO_TCPV4    1
#define OFFLOAD_GSO_UDP	     3
#define OFFLOAD_GSO_TCPV6    4
#define OFFLOAD_GSO_UDP_L4   5
#define OFFLOAD_GSO_ECN	     0x80

/* The biggest buffer one TUN read can fill: the header and an IPv6 packet
 * of the largest payload length. */
#define OFFLOAD_READ_MAX (OFFLOAD_VNET_HDR_LEN + 40 + 65535)

/* The biggest IP packet the coalescer builds (the IPv6 payload length of a
 * non-jumbo packet is 16 bits; kept to 64 KB in all, like GRO). */
#define OFFLOAD_COALESCE_MAX 65535

/* Flows the coalescer keeps open at once; a new flow beyond them writes out
 * the oldest. */
#define OFFLOAD_COALESCE_FLOWS 8

/* A virtio_net_hdr, fields in host byte order. */
struct offload_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/* Reads the header at the start of buf; len must be at least
 * OFFLOAD_VNET_HDR_LEN. Returns 0 or -EINVAL (too short). */
int offload_vnet_hdr_decode(const uint8_t *buf, size_t len, struct offload_vnet_hdr *hdr);

/* Writes hdr as OFFLOAD_VNET_HDR_LEN bytes to out. */
void offload_vnet_hdr_encode(const struct offload_vnet_hdr *hdr, uint8_t *out);

/* Receives each packet offload_split() produces. pkt is valid only during
 * the call (the next packet is built over it): copy what you keep. */
struct offload_sink {
	void (*packet)(void *user, const uint8_t *pkt, size_t len);
	void *user;
};

/* Cuts what one TUN read returned (buf, len: the virtio_net_hdr, then the
 * packet) into the packets it stands for and hands each to sink, in order:
 * - GSO_TCPV6: the payload in gso_size pieces, each with its own IPv6
 *   header (payload length), TCP header (sequence number advanced, CWR on
 *   the first piece only, FIN and PSH on the last only) and checksum;
 * - GSO_UDP_L4 over IPv6: likewise, each piece with its UDP length and
 *   checksum;
 * - no GSO: the packet, its checksum completed first when the header says
 *   NEEDS_CSUM (the kernel leaves the pseudo-header sum in the field).
 * A packet that is not IPv6 is handed over as it is (the router counts and
 * drops it). Works in place: buf is modified. Everything is checked before
 * the first packet goes out, so an error hands over nothing.
 * Returns the number of packets (>= 1); -EINVAL for a malformed header or
 * packet (too short, checksum position or IPv6 payload length beyond the
 * packet, gso_size 0, a GSO type that does not match the packet);
 * -EPROTONOSUPPORT for GSO over IPv6 extension headers or an unknown GSO
 * type. */
int offload_split(uint8_t *buf, size_t len, const struct offload_sink *sink);

/* Where the coalescer writes: vnet_hdr (OFFLOAD_VNET_HDR_LEN bytes) and
 * then pkt, len, together as one TUN write (writev). segments is how many
 * packets the write carries (1 unless coalesced). Both buffers are valid
 * only during the call. */
struct offload_writer {
	void (*write)(void *user, const uint8_t *vnet_hdr, const uint8_t *pkt, size_t len,
		      unsigned segments);
	void *user;
};

struct offload_coalescer_stats {
	uint64_t coalesced_writes;   /* writes that carried more than one segment */
	uint64_t coalesced_segments; /* the segments in them */
};

struct offload_coalescer;

/* Creates a coalescer that writes through writer (copied). Returns 0 or
 * -ENOMEM. The caller owns *out and frees it with offload_coalescer_del(). */
int offload_coalescer_new(const struct offload_writer *writer, struct offload_coalescer **out);

/* Frees c without writing what it holds (NULL is ignored). */
void offload_coalescer_del(struct offload_coalescer *c);

/* Takes one IPv6 packet bound for the TUN (copied when held). A TCP
 * segment carrying data with only ACK (and PSH) set is held to be joined
 * with the next segments of its flow: consecutive sequence numbers, the
 * same IPv6 traffic class, flow label and hop limit, the same ACK number,
 * window and TCP options, the same payload size (the last one may be
 * smaller; PSH ends the run), up to OFFLOAD_COALESCE_MAX bytes, which is
 * written at once when reached. Anything else is written at once, after
 * what is held of its flow, so each flow keeps its order. */
void offload_coalescer_add(struct offload_coalescer *c, const uint8_t *pkt, size_t len);

/* From now on c holds nothing: every packet is written at once, as it
 * came (for a kernel that refuses coalesced writes). Safe to call from
 * the writer. */
void offload_coalescer_disable(struct offload_coalescer *c);

/* Writes everything held: a run of one segment as it came, a longer one as
 * a GSO_TCPV6 super-packet with NEEDS_CSUM (the TCP checksum field holds
 * the pseudo-header sum, which the kernel completes). Call it before the
 * loop waits again, so nothing held waits for more traffic. */
void offload_coalescer_flush(struct offload_coalescer *c);

/* The counters since creation. */
void offload_coalescer_stats(const struct offload_coalescer *c,
			     struct offload_coalescer_stats *stats);

#endif
