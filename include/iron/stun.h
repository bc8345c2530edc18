/* STUN (RFC 8489), the part iron uses: Binding requests and success
 * responses with XOR-MAPPED-ADDRESS, so a node learns the address a relay
 * sees it from. Pure and bounds-checked. */
#ifndef IRON_STUN_H
#define IRON_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "iron/netaddr.h"

#define STUN_HEADER_LEN	     20
#define STUN_TXID_LEN	     12
#define STUN_BINDING_REQUEST 0x0001
#define STUN_BINDING_SUCCESS 0x0101
#define STUN_BINDING_ERROR   0x0111
#define STUN_MAX_RESPONSE    64 /* what stun_write_binding_success() needs at most */

struct stun_message {
	uint16_t type; /* STUN_BINDING_REQUEST, ... any method/class */
	uint8_t txid[STUN_TXID_LEN];
	/* The mapped address: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS. */
	int has_mapped;
	struct netaddr mapped;
	int has_fingerprint; /* a FINGERPRINT attribute was present and right */
};

/* Parses a STUN message: the header (top two bits 0, the magic cookie,
 * a length that is a multiple of 4 and equals what follows), then every
 * attribute, each bounds-checked; unknown attributes are skipped. A wrong
 * FINGERPRINT, an attribute after FINGERPRINT, or a malformed address
 * attribute is an error. XOR-MAPPED-ADDRESS is also read under its
 * pre-RFC 5389 number 0x8020. Returns 0 or -EBADMSG. */
int stun_parse(const uint8_t *buf, size_t len, struct stun_message *out);

/* A Binding request with the given transaction ID (20 bytes, no
 * attributes). Returns its length. */
size_t stun_write_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t txid[STUN_TXID_LEN]);

/* A Binding success response with XOR-MAPPED-ADDRESS = mapped (a
 * v4-mapped IPv6 address, as a dual-stack socket reports it, is written
 * as IPv4) and a FINGERPRINT. Returns its length, or -EAFNOSUPPORT for
 * another family, or -ENOBUFS when cap is too small (STUN_MAX_RESPONSE
 * always suffices). */
ssize_t stun_write_binding_success(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				   const struct sockaddr *mapped);

#endif
