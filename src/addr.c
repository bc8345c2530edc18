#include "iron/addr.h"

#include <arpa/inet.h>
#include <string.h>

const struct in6_addr addr_dns = {
    .s6_addr = {0xfd, 0x69, 0x72, 0x6f, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x53}};

void addr_from_id(const struct iron_id *id, struct in6_addr *out)
{
	static const uint8_t prefix[8] = {0xfd, 0x69, 0x72, 0x6f, 0, 0, 0, 0};
	memcpy(out->s6_addr, prefix, 8);
	memcpy(out->s6_addr + 8, id->bytes + 24, 8);
}

bool addr_in_overlay(const struct in6_addr *addr)
{
	static const uint8_t prefix[4] = {0xfd, 0x69, 0x72, 0x6f};
	return memcmp(addr->s6_addr, prefix, 4) == 0;
}

bool addr_is_node(const struct in6_addr *addr)
{
	static const uint8_t prefix[8] = {0xfd, 0x69, 0x72, 0x6f, 0, 0, 0, 0};
	return memcmp(addr->s6_addr, prefix, 8) == 0;
}

char *addr_format(const struct in6_addr *addr, char *out)
{
	/* glibc's inet_ntop follows RFC 5952 (lowercase, longest zero run
	 * compressed, a single zero group not compressed). */
	inet_ntop(AF_INET6, addr, out, ADDR_STR_SIZE);
	return out;
}
