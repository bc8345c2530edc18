/* Overlay addresses (SPEC section 3): fd69:726f::/32, a node's address is
 * fd69:726f:0:0 followed by the last 8 bytes of its node ID. */
#ifndef IRON_ADDR_H
#define IRON_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>

#include "iron/id.h"

#define ADDR_PREFIX_LEN 32
/* Longest RFC 5952 text form plus NUL. */
#define ADDR_STR_SIZE 46

/* fd69:726f:0:1::53, the in-tunnel DNS server. */
extern const struct in6_addr addr_dns;

/* The overlay address of a node. */
void addr_from_id(const struct iron_id *id, struct in6_addr *out);

/* True for addresses inside fd69:726f::/32. */
bool addr_in_overlay(const struct in6_addr *addr);

/* True for addresses that are some node's derived address
 * (fd69:726f:0:0::/64). */
bool addr_is_node(const struct in6_addr *addr);

/* RFC 5952 canonical text; out holds ADDR_STR_SIZE bytes. Returns out. */
char *addr_format(const struct in6_addr *addr, char *out);

#endif
