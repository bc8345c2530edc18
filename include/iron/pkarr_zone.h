/* The authoritative DNS side of `iron dns-server` as a pure function:
 * query bytes in, answer bytes out, with the stored pkarr packets reached
 * through a lookup callback. What iroh-dns-server answers
 * (dns/node_zone_handler.rs), with these choices:
 *
 * - The zone is one or more origins (e.g. "dns.iroh.link"). A name outside
 *   every origin is REFUSED: the server is authoritative only, never a
 *   resolver. With several matching origins the longest wins.
 * - "<name>.<z32 key>.<origin>" is answered from the latest packet signed
 *   by <z32 key>: each of its records named "<name>.<z32 key>" (the names
 *   a pkarr packet holds, relative, e.g. "_iroh.<z32>") whose type is
 *   asked (or ANY) is an answer, with the owner name as asked, its class
 *   IN and its TTL. Only A, AAAA and TXT records are served (their RDATA
 *   holds no names that the packet's compression could have touched); SOA
 *   and NS records in a packet are ignored, as iroh does.
 * - A name the packet has but not with the type asked, and names above
 *   its records ("<z32>.<origin>"), get NOERROR with no answers (NODATA);
 *   an unknown key, a label that is not a z32 key and a name the packet
 *   lacks get NXDOMAIN. Both carry the SOA in the authority section, with
 *   the SOA minimum as its TTL (negative caching, RFC 2308). iroh answers
 *   NXDOMAIN for a known name with another type; NODATA is the correct
 *   answer and makes no difference to iroh's lookup.
 * - The apex answers SOA, NS and ANY (both); other types get NODATA.
 * - AXFR and IXFR are REFUSED; a class other than IN (or ANY) is REFUSED;
 *   an opcode other than QUERY gets NOTIMP; a question count other than 1
 *   or a malformed message gets FORMERR; EDNS versions above 0 get
 *   BADVERS; a message with QR set gets nothing.
 * - UDP replies are at most 512 bytes, or the client's EDNS size capped at
 *   DNS_EDNS_UDP_SIZE; a reply that does not fit is sent with TC set and no
 *   records, so the client asks again over TCP.
 *
 * Every byte of the query is untrusted: reads are bounds-checked, names are
 * decompressed into 255 bytes with compression pointers that must point
 * strictly backwards. */
#ifndef IRON_PKARR_ZONE_H
#define IRON_PKARR_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PKARR_ZONE_MAX_ORIGINS 8
#define PKARR_ZONE_MAX_NS      4
#define PKARR_ZONE_NAME_WIRE   255 /* a name in wire form, root label included */
#define PKARR_ZONE_SOA_TTL     3600
#define PKARR_ZONE_NS_TTL      3600
#define PKARR_ZONE_NEGATIVE_TTL                                                                    \
	30 /* SOA minimum: a node that publishes later is                                          \
	    * found within this */

struct pkarr_zone_origin {
	uint8_t name[PKARR_ZONE_NAME_WIRE]; /* wire form, lowercase */
	size_t len;
	unsigned labels;
	uint8_t soa[512]; /* the SOA record (owner, type, class, TTL, RDATA) */
	size_t soa_len;
	uint8_t ns[PKARR_ZONE_MAX_NS][PKARR_ZONE_NAME_WIRE + 16]; /* NS records */
	size_t ns_len[PKARR_ZONE_MAX_NS];
};

/* The zone: a plain value, filled by pkarr_zone_init(). */
struct pkarr_zone {
	struct pkarr_zone_origin origins[PKARR_ZONE_MAX_ORIGINS];
	size_t norigins;
	size_t nns;
};

/* Builds a zone. origins: dotted names ("dns.iroh.link", a trailing dot
 * allowed), 1 to PKARR_ZONE_MAX_ORIGINS. ns: the name servers of every
 * origin (0 to PKARR_ZONE_MAX_NS names; none: "ns1.<origin>" for each).
 * soa_rname: the SOA's mailbox as a name (NULL: "hostmaster.<origin>");
 * the SOA's primary server is the first NS. serial: the SOA serial.
 * Returns 0, or -EINVAL with a one-line reason in err (a name that is not
 * a valid host name, too many). */
int pkarr_zone_init(struct pkarr_zone *zone, const char *const *origins, size_t norigins,
		    const char *const *ns, size_t nns, const char *soa_rname, uint32_t serial,
		    char *err, size_t err_cap);

/* Finds the latest packet of a key: on 0 points *dns and *len at its DNS
 * packet (valid until the answer is written). Returns 0, -ENOENT when
 * there is none, or another negative errno (the answer is then SERVFAIL). */
typedef int pkarr_zone_lookup_fn(void *ctx, const uint8_t key[32], const uint8_t **dns,
				 size_t *len);

struct pkarr_zone_info {
	bool reply;	  /* false: send nothing (a response, or under 2 bytes) */
	int rcode;	  /* extended (BADVERS is 16) */
	uint16_t qtype;	  /* 0 without a readable question */
	bool in_zone;	  /* the name is under an origin */
	bool looked_up;	  /* the lookup callback ran */
	bool found;	  /* ... and found a packet */
	unsigned answers; /* records in the answer section */
	bool truncated;	  /* TC set: records dropped to fit */
	bool edns;
};

/* Answers one query. tcp: the query came over TCP (replies up to 65535
 * bytes). out_cap must be at least DNS_HEADER_LEN; the reply is cut to
 * fit it as to fit UDP. info is always filled. Returns the reply's length,
 * 0 when nothing is to be sent (info->reply false), or -ENOSPC when
 * out_cap is under DNS_HEADER_LEN. */
ssize_t pkarr_zone_answer(const struct pkarr_zone *zone, const uint8_t *query, size_t len, bool tcp,
			  pkarr_zone_lookup_fn *lookup, void *ctx, uint8_t *out, size_t out_cap,
			  struct pkarr_zone_info *info);

#endif
