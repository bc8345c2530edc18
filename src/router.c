#include "iron/router.h"

#include <string.h>

#include "iron/addr.h"

#define IPV6_HEADER 40
#define PROTO_UDP   17

static int header_ok(const uint8_t *pkt, size_t len)
{
	if (len < 1 || (pkt[0] >> 4) != 6)
		return 0;
	if (len < IPV6_HEADER)
		return -1;
	size_t payload = (size_t)pkt[4] << 8 | pkt[5];
	return payload + IPV6_HEADER == len ? 1 : -1;
}

enum router_out router_outbound(const uint8_t *pkt, size_t len, const struct in6_addr *own,
				struct in6_addr *dst)
{
	int ok = header_ok(pkt, len);
	if (ok == 0)
		return ROUTER_OUT_NOT_IPV6;
	if (ok < 0)
		return ROUTER_OUT_MALFORMED;
	memcpy(dst->s6_addr, pkt + 24, 16);
	if (dst->s6_addr[0] == 0xff)
		return ROUTER_OUT_MULTICAST;
	if (memcmp(dst, &addr_dns, 16) == 0 && pkt[6] == PROTO_UDP && len >= IPV6_HEADER + 8 &&
	    pkt[IPV6_HEADER + 2] == 0 && pkt[IPV6_HEADER + 3] == 53)
		return ROUTER_OUT_DNS;
	if (memcmp(pkt + 8, own->s6_addr, 16) != 0)
		return ROUTER_OUT_BAD_SOURCE;
	if (!addr_is_node(dst))
		return ROUTER_OUT_NOT_OVERLAY;
	return ROUTER_OUT_PEER;
}

enum router_in router_inbound(const uint8_t *pkt, size_t len, const struct iron_id *sender,
			      const struct in6_addr *own)
{
	struct in6_addr src;
	int ok = header_ok(pkt, len);
	if (ok == 0)
		return ROUTER_IN_NOT_IPV6;
	if (ok < 0)
		return ROUTER_IN_MALFORMED;
	addr_from_id(sender, &src);
	if (memcmp(pkt + 8, src.s6_addr, 16) != 0)
		return ROUTER_IN_SPOOFED;
	if (memcmp(pkt + 24, own->s6_addr, 16) != 0)
		return ROUTER_IN_NOT_FOR_US;
	return ROUTER_IN_ACCEPT;
}
