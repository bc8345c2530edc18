#define LOG_MODULE "dataplane"

#include "iron/dataplane.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iron/addr.h"
#include "iron/ipv6.h"
#include "iron/log.h"
#include "iron/ratelimit.h"
#include "iron/router.h"

struct dns_tag {
	struct in6_addr client;
	uint16_t client_port;
};

struct dataplane {
	struct dataplane_config config;
	struct ratelimit icmp_limit;
	struct dataplane_stats stats;
	/* The last sender entered in the registry, and when: a burst from
	 * one peer (connected, so never evicted meanwhile) refreshes its
	 * entry once per REGISTRY_REFRESH_NS, not at every packet. */
	struct iron_id last_from;
	uint64_t last_from_ns;
	bool have_last_from;
	uint8_t out_buf[4200];
};

#define REGISTRY_REFRESH_NS (250ull * 1000000)

int dataplane_new(const struct dataplane_config *config, struct dataplane **out)
{
	struct dataplane *dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->config = *config;
	ratelimit_init(&dp->icmp_limit, RATELIMIT_ICMP_RATE, RATELIMIT_ICMP_BURST);
	*out = dp;
	return 0;
}

void dataplane_del(struct dataplane *dp)
{
	free(dp);
}

static void send_icmp_error(struct dataplane *dp, const uint8_t *pkt, size_t len, uint8_t type,
			    uint8_t code, uint32_t mtu, uint64_t now)
{
	if (!ratelimit_allow(&dp->icmp_limit, now)) {
		dp->stats.icmp_errors_limited++;
		return;
	}
	ssize_t n = ipv6_build_icmp_error(dp->out_buf, sizeof(dp->out_buf), &dp->config.own, type,
					  code, mtu, pkt, len);
	if (n > 0) {
		dp->stats.icmp_errors_sent++;
		tun_device_write(dp->config.tun, dp->out_buf, (size_t)n);
	}
}

void dataplane_unreachable(struct dataplane *dp, const uint8_t *pkt, size_t len, uint64_t now)
{
	dp->stats.out_unreachable++;
	send_icmp_error(dp, pkt, len, IPV6_ICMP_DEST_UNREACHABLE, IPV6_ICMP_CODE_ADDR_UNREACHABLE,
			0, now);
}

/* ---- DNS inside the tunnel ---- */

static void on_tunnel_dns_reply(void *user, const void *tag_bytes, const uint8_t *answer,
				size_t len)
{
	struct dataplane *dp = user;
	struct dns_tag tag;
	memcpy(&tag, tag_bytes, sizeof(tag));
	struct ipv6_udp udp = {
	    .src = addr_dns,
	    .dst = tag.client,
	    .src_port = IPV6_DNS_PORT,
	    .dst_port = tag.client_port,
	    .payload = answer,
	    .payload_len = len,
	};
	ssize_t n = ipv6_build_udp(&udp, dp->out_buf, sizeof(dp->out_buf));
	if (n > 0)
		tun_device_write(dp->config.tun, dp->out_buf, (size_t)n);
}

static void tunnel_dns(struct dataplane *dp, const uint8_t *pkt, size_t len)
{
	struct ipv6_info info;
	struct ipv6_udp udp;
	struct dns_tag tag;
	if (ipv6_parse(pkt, len, &info) != 0 || !ipv6_is_dns_query(pkt, &info) ||
	    ipv6_udp_parse(pkt, &info, &udp) != 0)
		return;
	memset(&tag, 0, sizeof(tag));
	tag.client = udp.src;
	tag.client_port = udp.src_port;
	dns_server_query(dp->config.dns, udp.payload, udp.payload_len, &tag, sizeof(tag),
			 on_tunnel_dns_reply, dp);
}

/* ---- the packet paths ---- */

void dataplane_from_tun(struct dataplane *dp, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct in6_addr dst;
	struct iron_id id;
	switch (router_outbound(pkt, len, &dp->config.own, &dst)) {
	case ROUTER_OUT_PEER:
		break;
	case ROUTER_OUT_DNS:
		tunnel_dns(dp, pkt, len);
		return;
	case ROUTER_OUT_MULTICAST:
		return;
	case ROUTER_OUT_NOT_IPV6:
		dp->stats.out_not_ipv6++;
		return;
	case ROUTER_OUT_MALFORMED:
		dp->stats.out_malformed++;
		return;
	case ROUTER_OUT_BAD_SOURCE:
		dp->stats.out_bad_source++;
		return;
	case ROUTER_OUT_NOT_OVERLAY:
		dataplane_unreachable(dp, pkt, len, now);
		return;
	}
	if (registry_lookup(dp->config.registry, &dst, &id) != 0) {
		dataplane_unreachable(dp, pkt, len, now);
		return;
	}
	int rc = peer_table_send(dp->config.peers, &id, pkt, len, now);
	if (rc == -EMSGSIZE)
		send_icmp_error(dp, pkt, len, IPV6_ICMP_PACKET_TOO_BIG, 0,
				(uint32_t)peer_table_max_packet(dp->config.peers, &id), now);
	else if (rc < 0)
		dataplane_unreachable(dp, pkt, len, now);
	else
		dp->stats.to_peers++;
}

void dataplane_from_peer(struct dataplane *dp, const struct iron_id *from, const uint8_t *pkt,
			 size_t len, uint64_t now)
{
	switch (router_inbound(pkt, len, from, &dp->config.own)) {
	case ROUTER_IN_ACCEPT:
		break;
	case ROUTER_IN_NOT_IPV6:
		dp->stats.in_not_ipv6++;
		return;
	case ROUTER_IN_MALFORMED:
		dp->stats.in_malformed++;
		return;
	case ROUTER_IN_SPOOFED:
		dp->stats.in_spoofed++;
		log_debug("dropped a packet with a spoofed source address");
		return;
	case ROUTER_IN_NOT_FOR_US:
		dp->stats.in_not_for_us++;
		return;
	}
	/* The sender is authenticated: its address now routes back to it.
	 * This fails only when another ID owns that address (-EEXIST, logged
	 * by the registry) or every entry is pinned (-ENOSPC); the packet is
	 * delivered anyway, and replies to it find no route (unreachable). */
	if (!dp->have_last_from || now - dp->last_from_ns >= REGISTRY_REFRESH_NS ||
	    memcmp(&dp->last_from, from, sizeof(*from)) != 0) {
		if (registry_insert(dp->config.registry, from, 0, now) < 0) {
			dp->stats.registry_refused++;
			dp->have_last_from = false;
		} else {
			dp->last_from = *from;
			dp->last_from_ns = now;
			dp->have_last_from = true;
		}
	}
	if (dp->config.pinger && pkt[6] == IPV6_PROTO_ICMPV6 && len > IPV6_HEADER_LEN &&
	    pkt[IPV6_HEADER_LEN] == IPV6_ICMP_ECHO_REPLY &&
	    pinger_reply(dp->config.pinger, from, pkt, len, now))
		return;
	tun_device_write(dp->config.tun, pkt, len);
}

void dataplane_get_stats(const struct dataplane *dp, struct dataplane_stats *out)
{
	*out = dp->stats;
}
