/* pkarr signed packets and iroh's address records (iroh 1.x, iroh-dns
 * crate): what a node publishes so others can reach it by its ID alone.
 *
 * A record is a small DNS packet (ID 0, QR set, answers only) holding TXT
 * records named "_iroh.<z-base-32 ID>", TTL 30, one string each:
 *   relay=<url>      the node's home relay (iroh writes a trailing '/')
 *   addr=<ip:port>   one record per direct address ([v6]:port for IPv6)
 *   user-data=<text> optional; iron neither sets nor needs it
 * The signed packet (the body of a pkarr PUT) is
 *   signature (64) || timestamp in microseconds (u64 BE) || DNS packet
 * where the Ed25519 signature covers the bencoded
 *   "3:seqi<timestamp>e1:v<dns length>:" || DNS packet.
 *
 * Pure: no I/O, no allocation. Everything that reads outside bytes is
 * bounds-checked and fuzzed. */
#ifndef IRON_PKARR_H
#define IRON_PKARR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iron/id.h"
#include "iron/identity.h"
#include "iron/netaddr.h"

#define PKARR_MAX_DNS	   1000		    /* DNS packet, as pkarr allows */
#define PKARR_HEAD	   (64 + 8)	    /* signature, timestamp */
#define PKARR_MAX_SIGNED   (PKARR_HEAD + PKARR_MAX_DNS)
#define PKARR_MAX_ADDRS	   8		    /* direct addresses kept from a record */
#define PKARR_URL_MAX	   256		    /* relay URL, as text */
#define PKARR_TTL	   30		    /* seconds, as iroh publishes */
#define PKARR_CONTENT_TYPE "application/pkarr.org/relays#payload"

/* What a node publishes, and what a lookup finds. */
struct pkarr_record {
	char relay[PKARR_URL_MAX]; /* "" when none */
	struct netaddr addrs[PKARR_MAX_ADDRS];
	size_t naddrs;
	uint32_t ttl; /* the smallest TTL seen when parsing; PKARR_TTL to encode */
};

/* Builds the DNS packet for id's record: one TXT "relay=" (when set) and
 * one TXT "addr=" per address, each named "_iroh.<z32 id>", TTL rec->ttl
 * (0: PKARR_TTL). Returns the length, or -EMSGSIZE when it would exceed
 * cap or PKARR_MAX_DNS (fewer addresses must be published). */
int pkarr_encode_dns(const struct iron_id *id, const struct pkarr_record *rec, uint8_t *out,
		     size_t cap);

/* Signs dns (len <= PKARR_MAX_DNS) with timestamp ts_us into out (cap >=
 * PKARR_HEAD + len). Returns the signed packet's length or -EMSGSIZE. */
int pkarr_sign(const struct iron_identity *identity, uint64_t ts_us, const uint8_t *dns,
	       size_t len, uint8_t *out, size_t cap);

/* Checks a signed packet against key: length, signature, and that the DNS
 * packet parses. On success sets *ts_us and points *dns and *dns_len into
 * signed_packet. Returns 0, -EMSGSIZE (too short, too long), -EBADMSG
 * (DNS packet malformed) or -EKEYREJECTED (bad signature). */
int pkarr_verify(const struct iron_id *key, const uint8_t *signed_packet, size_t len,
		 uint64_t *ts_us, const uint8_t **dns, size_t *dns_len);

/* Reads iroh's record for id out of a DNS packet (a verified pkarr packet,
 * or a DNS answer to the TXT query "_iroh.<z32>.<origin>"): every TXT
 * record whose name starts with the label "_iroh" followed by id's z32
 * label (whatever follows: the origin) is read; "relay=" and "addr="
 * strings are taken (an unparsable value is skipped), unknown keys are
 * ignored. Returns 0 (out filled; possibly with nothing in it), or
 * -EBADMSG when the packet is malformed. */
int pkarr_parse_dns(const struct iron_id *id, const uint8_t *dns, size_t len,
		    struct pkarr_record *out);

/* The same for TXT strings already extracted (a resolver's answer): one
 * "key=value" string at a time, added to out. Returns 0, or -EINVAL for a
 * string iron ignores (unknown key, bad value). */
int pkarr_parse_txt(const char *txt, size_t len, uint32_t ttl, struct pkarr_record *out);

/* Calls fn for each resource record in the answer section of a DNS
 * packet, with its owner name as dotted text (no trailing dot, at most
 * 255 bytes), type, class, TTL and RDATA. For the DNS server, which serves
 * a stored packet's records under its own origin. Returns 0, or -EBADMSG
 * (fn may have been called for the records before the bad one). */
int pkarr_foreach_rr(const uint8_t *dns, size_t len,
		     void (*fn)(void *ctx, const char *name, uint16_t type, uint16_t class_,
				uint32_t ttl, const uint8_t *rdata, size_t rdlen),
		     void *ctx);

#endif
