/* The router's anti-spoofing decisions (SPEC section 7): every outcome of
 * router_outbound() and router_inbound() on hand-built IPv6 packets. */
#include <arpa/inet.h>
#include <sodium.h>
#include <string.h>

#include "check.h"
#include "iron/addr.h"
#include "iron/id.h"
#include "iron/router.h"

#define HDR 40

static struct iron_id own_id, peer_id, other_id;
static struct in6_addr own, peer, other;

static void random_id(struct iron_id *id)
{
	unsigned char sk[64];
	crypto_sign_keypair(id->bytes, sk);
}

/* An IPv6 packet of HDR + payload_len bytes, next header proto. */
static size_t build(uint8_t *pkt, const struct in6_addr *src, const struct in6_addr *dst,
		    uint8_t proto, size_t payload_len)
{
	memset(pkt, 0, HDR + payload_len);
	pkt[0] = 0x60;
	pkt[4] = (uint8_t)(payload_len >> 8);
	pkt[5] = (uint8_t)payload_len;
	pkt[6] = proto;
	pkt[7] = 64;
	memcpy(pkt + 8, src->s6_addr, 16);
	memcpy(pkt + 24, dst->s6_addr, 16);
	return HDR + payload_len;
}

static void test_outbound(void)
{
	uint8_t pkt[256];
	struct in6_addr dst, mcast, outside;
	size_t len;

	len = build(pkt, &own, &peer, 58, 8);
	CHECK_INT(router_outbound(pkt, len, &own, &dst), ROUTER_OUT_PEER);
	CHECK_MEM(dst.s6_addr, peer.s6_addr, 16);

	/* A UDP query to the in-tunnel DNS server, port 53; another port is not. */
	len = build(pkt, &own, &addr_dns, 17, 8);
	pkt[HDR + 3] = 53;
	CHECK_INT(router_outbound(pkt, len, &own, &dst), ROUTER_OUT_DNS);
	pkt[HDR + 3] = 54;
	CHECK(router_outbound(pkt, len, &own, &dst) != ROUTER_OUT_DNS);

	pkt[0] = 0x45; /* IPv4 */
	CHECK_INT(router_outbound(pkt, len, &own, &dst), ROUTER_OUT_NOT_IPV6);
	CHECK_INT(router_outbound(pkt, 0, &own, &dst), ROUTER_OUT_NOT_IPV6);

	len = build(pkt, &own, &peer, 58, 8);
	CHECK_INT(router_outbound(pkt, HDR - 1, &own, &dst), ROUTER_OUT_MALFORMED);
	CHECK_INT(router_outbound(pkt, len - 1, &own, &dst), ROUTER_OUT_MALFORMED);
	CHECK_INT(router_outbound(pkt, len + 1, &own, &dst), ROUTER_OUT_MALFORMED);

	inet_pton(AF_INET6, "ff02::1", &mcast);
	len = build(pkt, &own, &mcast, 58, 8);
	CHECK_INT(router_outbound(pkt, len, &own, &dst), ROUTER_OUT_MULTICAST);

	/* A source that is not ours (another node's, or anything else). */
	len = build(pkt, &other, &peer, 58, 8);
	CHECK_INT(router_outbound(pkt, len, &own, &dst), ROUTER_OUT_BAD_SOURCE);

	inet_pton(AF_INET6, "2001:db8::1", &outside);
	len = build(pkt, &own, &outside, 58, 8);
	CHECK_INT(router_outbound(pkt, len, &own, &dst), ROUTER_OUT_NOT_OVERLAY);
}

static void test_inbound(void)
{
	uint8_t pkt[256];
	size_t len;

	len = build(pkt, &peer, &own, 58, 8);
	CHECK_INT(router_inbound(pkt, len, &peer_id, &own), ROUTER_IN_ACCEPT);

	/* Spoofed: an authenticated peer sending with another node's source. */
	len = build(pkt, &other, &own, 58, 8);
	CHECK_INT(router_inbound(pkt, len, &peer_id, &own), ROUTER_IN_SPOOFED);
	/* ... or with our own address as source. */
	len = build(pkt, &own, &own, 58, 8);
	CHECK_INT(router_inbound(pkt, len, &peer_id, &own), ROUTER_IN_SPOOFED);

	len = build(pkt, &peer, &other, 58, 8);
	CHECK_INT(router_inbound(pkt, len, &peer_id, &own), ROUTER_IN_NOT_FOR_US);

	len = build(pkt, &peer, &own, 58, 8);
	CHECK_INT(router_inbound(pkt, HDR - 1, &peer_id, &own), ROUTER_IN_MALFORMED);
	CHECK_INT(router_inbound(pkt, len + 1, &peer_id, &own), ROUTER_IN_MALFORMED);
	pkt[0] = 0x45;
	CHECK_INT(router_inbound(pkt, len, &peer_id, &own), ROUTER_IN_NOT_IPV6);
	CHECK_INT(router_inbound(pkt, 0, &peer_id, &own), ROUTER_IN_NOT_IPV6);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	random_id(&own_id);
	random_id(&peer_id);
	random_id(&other_id);
	addr_from_id(&own_id, &own);
	addr_from_id(&peer_id, &peer);
	addr_from_id(&other_id, &other);
	test_outbound();
	test_inbound();
	return check_done();
}
