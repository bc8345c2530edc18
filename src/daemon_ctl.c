/* The daemon's control socket commands: status, peers, ping
 * (docs/control.md). */
#define LOG_MODULE "ctl"

#include "iron/daemon_ctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "iron/addr.h"
#include "iron/allow.h"
#include "iron/log.h"
#include "iron/version.h"

#define PING_DEFAULT_TIMEOUT_MS 2000
#define PING_MAX_TIMEOUT_MS	60000

static const char *alpn_name(enum quic_alpn alpn)
{
	switch (alpn) {
	case QUIC_ALPN_PACKET1:
		return "iron/packet/1";
	case QUIC_ALPN_PACKET0:
		return "iron/packet/0";
	default:
		return NULL;
	}
}

static void reply_id_forms(struct ctl_reply *reply, const struct iron_id *id,
			   const char *base32_key)
{
	char b32[IRON_ID_BASE32_LEN + 1], dom[IRON_ID_DOMAIN_SIZE], ip[ADDR_STR_SIZE];
	struct in6_addr addr;
	id_to_base32(id, b32);
	id_to_domain(id, dom);
	addr_from_id(id, &addr);
	ctl_reply_string(reply, base32_key, b32);
	ctl_reply_string(reply, "domain", dom);
	ctl_reply_string(reply, "ipv6", addr_format(&addr, ip));
}

/* A path's remote end as users know it: the address, or for a relayed
 * path the relay's URL (the placeholder address means nothing outside). */
static const char *path_text(const struct transport *t, const struct sockaddr *addr, char *buf,
			     size_t cap)
{
	uint32_t relay, slot;
	if (netaddr_relay_parts(addr, &relay, &slot) == 0 && relay >= 1 &&
	    relay <= transport_relay_count(t)) {
		struct relay_client_info ri;
		transport_relay_info(t, relay - 1, &ri);
		snprintf(buf, cap, "%s", ri.url->text);
		return buf;
	}
	return netaddr_format(addr, buf, cap);
}

struct peers_ctx {
	struct ctl_reply *reply;
	const struct transport *transport;
	uint64_t now;
};

static void reply_path_candidates(struct ctl_reply *reply, const struct transport *t,
				  const struct peer_info *info, uint64_t now)
{
	char where[RELAY_URL_MAX];
	ctl_reply_begin_array(reply, "paths");
	for (size_t i = 0; i < info->npaths; i++) {
		const struct peer_path_info *path = &info->paths[i];
		ctl_reply_begin_object(reply, NULL);
		ctl_reply_string(reply, "addr", path_text(t, &path->addr.sa, where, sizeof(where)));
		ctl_reply_string(reply, "kind", peer_path_kind_name(path->kind));
		ctl_reply_string(reply, "source", peer_path_source_name(path->source));
		ctl_reply_bool(reply, "active", path->active);
		if (path->rtt_ns)
			ctl_reply_double(reply, "rtt_ms", (double)path->rtt_ns / 1e6);
		else
			ctl_reply_null(reply, "rtt_ms");
		if (path->expires_ns)
			ctl_reply_double(
			    reply, "expires_in_s",
			    path->expires_ns > now ? (double)(path->expires_ns - now) / 1e9 : 0.0);
		else
			ctl_reply_null(reply, "expires_in_s");
		ctl_reply_uint(reply, "failures", path->failures);
		ctl_reply_end_object(reply);
	}
	ctl_reply_end_array(reply);
}

static void reply_peer(void *arg, const struct peer_info *info)
{
	struct peers_ctx *ctx = arg;
	struct ctl_reply *reply = ctx->reply;
	char where[RELAY_URL_MAX];

	ctl_reply_begin_object(reply, NULL);
	reply_id_forms(reply, &info->id, "id");
	ctl_reply_bool(reply, "static", info->is_static);
	ctl_reply_bool(reply, "connected", info->connected);
	ctl_reply_uint(reply, "connections", info->connections);
	ctl_reply_string(reply, "path",
			 info->connected ? peer_path_kind_name(info->path_kind) : "none");
	if (info->has_path) {
		ctl_reply_string(reply, "remote",
				 path_text(ctx->transport, &info->remote.sa, where, sizeof(where)));
		ctl_reply_string(reply, "source", peer_path_source_name(info->path_source));
	} else {
		ctl_reply_null(reply, "remote");
		ctl_reply_null(reply, "source");
	}
	const char *alpn = info->connected ? alpn_name(info->alpn) : NULL;
	if (alpn)
		ctl_reply_string(reply, "alpn", alpn);
	else
		ctl_reply_null(reply, "alpn");
	if (info->connected && info->stats.rtt_ns > 0)
		ctl_reply_double(reply, "rtt_ms", (double)info->stats.rtt_ns / 1e6);
	else
		ctl_reply_null(reply, "rtt_ms");
	ctl_reply_uint(reply, "bytes_in", info->stats.bytes_received);
	ctl_reply_uint(reply, "bytes_out", info->stats.bytes_sent);
	ctl_reply_uint(reply, "packets_in", info->stats.packets_received);
	ctl_reply_uint(reply, "packets_out", info->stats.packets_sent);
	ctl_reply_uint(reply, "packets_dropped", info->stats.packets_dropped);
	ctl_reply_uint(reply, "stall_probes", info->stats.stall_probes);
	if (info->connected) {
		ctl_reply_uint(reply, "path_mtu", info->stats.path_mtu);
		ctl_reply_bool(reply, "path_mtu_settled", info->stats.path_mtu_settled);
		ctl_reply_uint(reply, "max_packet", info->stats.max_packet);
		ctl_reply_uint(reply, "max_datagram", info->stats.max_datagram);
		ctl_reply_uint(reply, "stream_packets_out", info->stats.stream_packets_sent);
		ctl_reply_uint(reply, "pmtu_probes", info->stats.pmtu_probes_sent);
		ctl_reply_uint(reply, "pmtu_probes_lost", info->stats.pmtu_probes_lost);
		ctl_reply_uint(reply, "cwnd", info->stats.cwnd);
		ctl_reply_uint(reply, "bytes_in_flight", info->stats.bytes_in_flight);
	} else {
		ctl_reply_null(reply, "path_mtu");
		ctl_reply_null(reply, "path_mtu_settled");
		ctl_reply_null(reply, "max_packet");
		ctl_reply_null(reply, "max_datagram");
		ctl_reply_null(reply, "stream_packets_out");
		ctl_reply_null(reply, "pmtu_probes");
		ctl_reply_null(reply, "pmtu_probes_lost");
		ctl_reply_null(reply, "cwnd");
		ctl_reply_null(reply, "bytes_in_flight");
	}
	if (info->connected && info->stats.last_activity_ns > 0 &&
	    info->stats.last_activity_ns <= ctx->now)
		ctl_reply_double(reply, "last_activity_s",
				 (double)(ctx->now - info->stats.last_activity_ns) / 1e9);
	else
		ctl_reply_null(reply, "last_activity_s");
	reply_path_candidates(reply, ctx->transport, info, ctx->now);
	ctl_reply_end_object(reply);
}

/* Reads an integer member within [min, max] into *value, which keeps its
 * default when the member is missing. Anything else there (not a number, a
 * fraction, out of range, 1e300) is answered with an error reply naming the
 * member and its range, and false is returned. */
static bool request_int(const struct ctl_request *req, struct ctl_reply *reply, const char *key,
			int64_t min, int64_t max, int64_t *value)
{
	int rc = ctl_request_int(req, key, min, max, value);
	if (rc == 0 || rc == -ENOENT)
		return true;
	ctl_reply_error(reply, "%s: \"%s\" must be an integer from %" PRId64 " to %" PRId64,
			req->command, key, min, max);
	return false;
}

/* Where this node publishes itself and looks peers up, and what it
 * announces. */
static void reply_discovery(const struct daemon_ctl *c, struct ctl_reply *reply)
{
	struct locator_info li;
	char where[NETADDR_STR_SIZE];
	if (!c->locator) {
		ctl_reply_null(reply, "discovery");
		return;
	}
	locator_get_info(c->locator, &li);
	ctl_reply_begin_object(reply, "discovery");
	if (li.pkarr_url)
		ctl_reply_string(reply, "pkarr_url", li.pkarr_url);
	else
		ctl_reply_null(reply, "pkarr_url");
	if (li.dns_origin)
		ctl_reply_string(reply, "dns_origin", li.dns_origin);
	else
		ctl_reply_null(reply, "dns_origin");
	ctl_reply_bool(reply, "lan", li.lan);
	ctl_reply_begin_object(reply, "published");
	if (li.published.relay[0])
		ctl_reply_string(reply, "relay", li.published.relay);
	else
		ctl_reply_null(reply, "relay");
	ctl_reply_begin_array(reply, "addrs");
	for (size_t i = 0; i < li.published.naddrs; i++)
		ctl_reply_string(reply, NULL,
				 netaddr_format(&li.published.addrs[i].sa, where, sizeof(where)));
	ctl_reply_end_array(reply);
	ctl_reply_end_object(reply);
	ctl_reply_begin_array(reply, "reflexive");
	for (size_t i = 0; i < li.nreflexive; i++)
		ctl_reply_string(reply, NULL,
				 netaddr_format(&li.reflexive[i].sa, where, sizeof(where)));
	ctl_reply_end_array(reply);
	ctl_reply_begin_array(reply, "observed");
	for (size_t i = 0; i < li.nobserved; i++)
		ctl_reply_string(reply, NULL,
				 netaddr_format(&li.observed[i].sa, where, sizeof(where)));
	ctl_reply_end_array(reply);
	ctl_reply_begin_object(reply, "port_mapping");
	ctl_reply_bool(reply, "on", li.port_mapping);
	ctl_reply_bool(reply, "mapped", li.portmap.mapped);
	const char *protocol = portmap_protocol_name(li.portmap.protocol);
	if (protocol)
		ctl_reply_string(reply, "protocol", protocol);
	else
		ctl_reply_null(reply, "protocol");
	if (li.portmap.mapped)
		ctl_reply_string(reply, "external",
				 netaddr_format(&li.portmap.external.sa, where, sizeof(where)));
	else
		ctl_reply_null(reply, "external");
	ctl_reply_uint(reply, "lifetime_s", li.portmap.lifetime_s);
	ctl_reply_uint(reply, "requests", li.portmap.requests);
	ctl_reply_uint(reply, "failures", li.portmap.failures);
	if (li.portmap.upnp.found)
		ctl_reply_string(reply, "upnp_gateway", li.portmap.upnp.gateway);
	else
		ctl_reply_null(reply, "upnp_gateway");
	ctl_reply_end_object(reply);
	ctl_reply_uint(reply, "stun_sent", li.stun_sent);
	ctl_reply_uint(reply, "stun_answers", li.stun_answers);
	ctl_reply_uint(reply, "network_changes", li.network_changes);
	ctl_reply_uint(reply, "publishes", li.discovery.publishes);
	ctl_reply_uint(reply, "publish_failures", li.discovery.publish_failures);
	if (li.discovery.last_publish_status)
		ctl_reply_int(reply, "last_publish_status", li.discovery.last_publish_status);
	else
		ctl_reply_null(reply, "last_publish_status");
	if (li.discovery.last_error[0])
		ctl_reply_string(reply, "last_error", li.discovery.last_error);
	else
		ctl_reply_null(reply, "last_error");
	ctl_reply_uint(reply, "lookups", li.discovery.lookups);
	ctl_reply_uint(reply, "lookups_found", li.discovery.lookups_found);
	ctl_reply_uint(reply, "lookups_failed", li.discovery.lookups_failed);
	ctl_reply_uint(reply, "lookups_in_flight", li.discovery.lookups_in_flight);
	ctl_reply_uint(reply, "lan_nodes_heard", li.lan_nodes);
	ctl_reply_uint(reply, "lan_interfaces", li.lan_stats.interfaces);
	ctl_reply_end_object(reply);
}

/* Peers in pages, so that the list works at any size: in the order of
 * their IDs, after the "after" cursor, at most "limit" of them and as many
 * as fit in half a reply; "peers_next" is the cursor of the next page (null
 * on the last), and the totals count every peer. */
#define PEERS_PAGE_BYTES (CTL_REPLY_MAX / 2)
#define PEERS_LIMIT_MAX	 1000000

struct peer_page {
	struct iron_id *ids;
	size_t n, cap;
	bool has_after, active_only;
	struct iron_id after;
	uint64_t total, connected;
	bool out_of_memory;
};

static void collect_peer(void *arg, const struct peer_info *info)
{
	struct peer_page *page = arg;
	page->total++;
	page->connected += info->connected;
	if (page->has_after && memcmp(info->id.bytes, page->after.bytes, IRON_ID_LEN) <= 0)
		return;
	if (page->active_only && !info->connected && !info->is_static)
		return;
	if (page->n == page->cap) {
		size_t cap = page->cap ? page->cap * 2 : 256;
		struct iron_id *grown = realloc(page->ids, cap * sizeof(*grown));
		if (!grown) {
			page->out_of_memory = true;
			return;
		}
		page->ids = grown;
		page->cap = cap;
	}
	page->ids[page->n++] = info->id;
}

static int compare_ids(const void *a, const void *b)
{
	return memcmp(((const struct iron_id *)a)->bytes, ((const struct iron_id *)b)->bytes,
		      IRON_ID_LEN);
}

/* Reads the page request: "after" (a node ID in any form), "limit" and
 * "filter" ("all", or "active": connected or static peers). False after an
 * error reply. */
static bool read_page_request(const struct ctl_request *req, struct ctl_reply *reply,
			      struct peer_page *page, int64_t *limit)
{
	const char *after = ctl_request_string(req, "after");
	const char *filter = ctl_request_string(req, "filter");
	if (after && id_parse(after, &page->after, NULL) != 0) {
		ctl_reply_error(reply, "%s: \"after\" must be a node ID", req->command);
		return false;
	}
	page->has_after = after != NULL;
	if (filter && strcmp(filter, "all") != 0 && strcmp(filter, "active") != 0) {
		ctl_reply_error(reply, "%s: \"filter\" must be \"all\" or \"active\"",
				req->command);
		return false;
	}
	page->active_only = filter && strcmp(filter, "active") == 0;
	return request_int(req, reply, "limit", 1, PEERS_LIMIT_MAX, limit);
}

static void reply_peers(struct daemon_ctl *c, const struct ctl_request *req,
			struct ctl_reply *reply)
{
	struct peers_ctx ctx = {.reply = reply, .transport = c->transport, .now = uv_hrtime()};
	struct peer_page page = {0};
	int64_t limit = PEERS_LIMIT_MAX;
	size_t i = 0;

	if (!read_page_request(req, reply, &page, &limit))
		return;
	peer_table_foreach(c->peers, collect_peer, &page);
	if (page.out_of_memory) {
		ctl_reply_error(reply, "%s: out of memory", req->command);
		goto out;
	}
	if (page.n) /* qsort() wants a non-null array even for none */
		qsort(page.ids, page.n, sizeof(*page.ids), compare_ids);
	ctl_reply_begin_array(reply, "peers");
	for (; i < page.n && i < (uint64_t)limit && ctl_reply_size(reply) < PEERS_PAGE_BYTES; i++) {
		struct peer_info info;
		if (peer_table_get(c->peers, &page.ids[i], &info) == 0)
			reply_peer(&ctx, &info);
	}
	ctl_reply_end_array(reply);
	ctl_reply_uint(reply, "peers_total", page.total);
	ctl_reply_uint(reply, "peers_connected", page.connected);
	if (i < page.n && i > 0) {
		char b32[IRON_ID_BASE32_LEN + 1];
		id_to_base32(&page.ids[i - 1], b32);
		ctl_reply_string(reply, "peers_next", b32);
	} else {
		ctl_reply_null(reply, "peers_next");
	}
out:
	free(page.ids);
}

/* Who may connect in: open, or an allow-list, and what it refused. */
static void reply_inbound(struct daemon_ctl *c, struct ctl_reply *reply)
{
	const struct allow_list *allow = peer_table_allow(c->peers);
	struct peer_table_stats table;
	peer_table_get_stats(c->peers, &table);
	ctl_reply_begin_object(reply, "inbound");
	ctl_reply_string(reply, "policy", allow ? "allow-list" : "open");
	ctl_reply_uint(reply, "allowed", allow ? allow_list_count(allow) : 0);
	ctl_reply_uint(reply, "refused", table.refused);
	ctl_reply_uint(reply, "revoked", table.revoked);
	ctl_reply_end_object(reply);
}

static void reply_status(struct daemon_ctl *c, const struct ctl_request *req,
			 struct ctl_reply *reply)
{
	char hex[IRON_ID_HEX_LEN + 1], where[NETADDR_STR_SIZE], text[80];
	const struct daemon_config *cfg = c->config;
	unsigned offloads = tun_device_offloads(c->tun);

	ctl_reply_string(reply, "version", IRON_VERSION);
	ctl_reply_int(reply, "pid", (int64_t)getpid());
	ctl_reply_double(reply, "uptime_s", (double)(uv_hrtime() - c->started_ns) / 1e9);
	ctl_reply_begin_object(reply, "node");
	id_to_hex(&c->identity->id, hex);
	ctl_reply_string(reply, "hex", hex);
	reply_id_forms(reply, &c->identity->id, "base32");
	ctl_reply_end_object(reply);
	ctl_reply_begin_object(reply, "tun");
	ctl_reply_string(reply, "name", tun_device_name(c->tun));
	ctl_reply_uint(reply, "mtu", cfg->mtu);
	ctl_reply_begin_object(reply, "offload");
	ctl_reply_bool(reply, "vnet_hdr", tun_device_vnet_hdr(c->tun));
	ctl_reply_bool(reply, "checksum", (offloads & TUN_OFFLOAD_CSUM) != 0);
	ctl_reply_bool(reply, "tso", (offloads & TUN_OFFLOAD_TSO) != 0);
	ctl_reply_bool(reply, "uso", (offloads & TUN_OFFLOAD_USO) != 0);
	ctl_reply_end_object(reply);
	ctl_reply_end_object(reply);
	ctl_reply_begin_array(reply, "listen");
	for (size_t i = 0; i < transport_local_count(c->transport); i++)
		ctl_reply_string(
		    reply, NULL,
		    netaddr_format(transport_local(c->transport, i), where, sizeof(where)));
	ctl_reply_end_array(reply);
	ctl_reply_begin_array(reply, "dns");
	snprintf(text, sizeof(text), "127.0.0.1:%u", cfg->dns_port);
	ctl_reply_string(reply, NULL, text);
	snprintf(text, sizeof(text), "[::1]:%u", cfg->dns_port);
	ctl_reply_string(reply, NULL, text);
	ctl_reply_string(reply, NULL, "[fd69:726f:0:1::53]:53");
	ctl_reply_end_array(reply);
	uint32_t home = transport_home_relay(c->transport);
	struct relay_client_info ri;
	if (home) {
		transport_relay_info(c->transport, home - 1, &ri);
		ctl_reply_string(reply, "relay", ri.url->text);
	} else {
		ctl_reply_null(reply, "relay");
	}
	ctl_reply_begin_array(reply, "relays");
	for (size_t i = 0; i < transport_relay_count(c->transport); i++) {
		if (!transport_relay_info(c->transport, i, &ri))
			continue; /* removed from the map */
		ctl_reply_begin_object(reply, NULL);
		ctl_reply_string(reply, "url", ri.url->text);
		ctl_reply_bool(reply, "home", home == i + 1);
		ctl_reply_bool(reply, "connected", ri.connected);
		if (ri.protocol)
			ctl_reply_string(reply, "protocol", ri.protocol);
		else
			ctl_reply_null(reply, "protocol");
		if (ri.rtt_ns)
			ctl_reply_double(reply, "rtt_ms", (double)ri.rtt_ns / 1e6);
		else
			ctl_reply_null(reply, "rtt_ms");
		ctl_reply_uint(reply, "connects", ri.connects);
		ctl_reply_uint(reply, "failures", ri.failures);
		ctl_reply_uint(reply, "datagrams_sent", ri.datagrams_sent);
		ctl_reply_uint(reply, "datagrams_received", ri.datagrams_received);
		ctl_reply_uint(reply, "bytes_sent", ri.bytes_sent);
		ctl_reply_uint(reply, "bytes_received", ri.bytes_received);
		ctl_reply_uint(reply, "send_dropped", ri.send_dropped);
		if (ri.last_error)
			ctl_reply_string(reply, "last_error", ri.last_error);
		else
			ctl_reply_null(reply, "last_error");
		ctl_reply_end_object(reply);
	}
	ctl_reply_end_array(reply);
	reply_discovery(c, reply);
	ctl_reply_begin_object(reply, "registry");
	ctl_reply_uint(reply, "entries", registry_count(c->registry));
	ctl_reply_uint(reply, "capacity", REGISTRY_DEFAULT_CAPACITY);
	ctl_reply_end_object(reply);
	reply_inbound(c, reply);

	struct dns_server_stats dns;
	struct tun_device_stats tun;
	struct dataplane_stats dp;
	dns_server_stats(c->dns, &dns);
	tun_device_get_stats(c->tun, &tun);
	dataplane_get_stats(c->dataplane, &dp);
	ctl_reply_begin_object(reply, "counters");
	ctl_reply_uint(reply, "tun_rx", tun.rx);
	ctl_reply_uint(reply, "tun_tx", tun.tx);
	ctl_reply_uint(reply, "tun_tx_dropped", tun.tx_dropped);
	ctl_reply_uint(reply, "tun_gso_reads", tun.gso_reads);
	ctl_reply_uint(reply, "tun_segments_split", tun.segments_split);
	ctl_reply_uint(reply, "tun_coalesced_writes", tun.coalesced_writes);
	ctl_reply_uint(reply, "tun_coalesced_segments", tun.coalesced_segments);
	ctl_reply_uint(reply, "tun_offload_errors", tun.offload_errors);
	ctl_reply_uint(reply, "to_peers", dp.to_peers);
	ctl_reply_uint(reply, "out_not_ipv6", dp.out_not_ipv6);
	ctl_reply_uint(reply, "out_malformed", dp.out_malformed);
	ctl_reply_uint(reply, "out_bad_source", dp.out_bad_source);
	ctl_reply_uint(reply, "out_unreachable", dp.out_unreachable);
	ctl_reply_uint(reply, "in_not_ipv6", dp.in_not_ipv6);
	ctl_reply_uint(reply, "in_malformed", dp.in_malformed);
	ctl_reply_uint(reply, "in_spoofed", dp.in_spoofed);
	ctl_reply_uint(reply, "in_not_for_us", dp.in_not_for_us);
	ctl_reply_uint(reply, "icmp_errors_sent", dp.icmp_errors_sent);
	ctl_reply_uint(reply, "icmp_errors_limited", dp.icmp_errors_limited);
	ctl_reply_uint(reply, "registry_refused", dp.registry_refused);
	ctl_reply_uint(reply, "dns_queries", dns.queries);
	ctl_reply_end_object(reply);

	/* Every datagram path together: what the sockets did, and what could
	 * not be sent or was not QUIC. */
	struct transport_stats ts;
	transport_get_stats(c->transport, &ts);
	ctl_reply_begin_object(reply, "transport");
	ctl_reply_uint(reply, "datagrams_received", ts.datagrams_received);
	ctl_reply_uint(reply, "datagrams_sent", ts.datagrams_sent);
	ctl_reply_uint(reply, "bytes_received", ts.bytes_received);
	ctl_reply_uint(reply, "bytes_sent", ts.bytes_sent);
	ctl_reply_uint(reply, "gso_batches_sent", ts.batches_sent);
	ctl_reply_uint(reply, "send_calls", ts.send_calls);
	ctl_reply_uint(reply, "gro_batches_received", ts.gro_batches_received);
	ctl_reply_uint(reply, "send_dropped", ts.send_dropped);
	ctl_reply_uint(reply, "send_errors", ts.send_errors);
	ctl_reply_uint(reply, "send_failed", ts.send_failed);
	ctl_reply_uint(reply, "no_relay_link", ts.no_relay_link);
	ctl_reply_uint(reply, "relay_slots_used", ts.relay_slots_used);
	ctl_reply_uint(reply, "relay_slots_reused", ts.relay_slots_reused);
	ctl_reply_uint(reply, "relay_slot_stale", ts.relay_slot_stale);
	ctl_reply_uint(reply, "relay_received_dropped", ts.relay_received_dropped);
	ctl_reply_uint(reply, "received_stun", ts.received_stun);
	ctl_reply_uint(reply, "received_iron", ts.received_iron);
	ctl_reply_uint(reply, "received_unknown", ts.received_unknown);
	ctl_reply_end_object(reply);

	/* The transport's bounds at work: half-open handshakes are capped and
	 * what is refused or undecodable is counted. */
	struct quic_endpoint_stats quic;
	peer_table_get_quic_stats(c->peers, &quic);
	ctl_reply_begin_object(reply, "quic");
	ctl_reply_uint(reply, "connections", quic.connections);
	ctl_reply_uint(reply, "half_open", quic.half_open);
	ctl_reply_uint(reply, "initials_dropped", quic.initials_dropped);
	ctl_reply_uint(reply, "datagrams_dropped", quic.datagrams_dropped);
	ctl_reply_uint(reply, "version_negotiations_sent", quic.version_negotiations_sent);
	ctl_reply_uint(reply, "stateless_resets_sent", quic.stateless_resets_sent);
	ctl_reply_uint(reply, "stale_resets_ignored", quic.stale_resets_ignored);
	ctl_reply_uint(reply, "retries_sent", quic.retries_sent);
	ctl_reply_uint(reply, "retry_tokens_invalid", quic.retry_tokens_invalid);
	ctl_reply_uint(reply, "peer_streams", quic.peer_streams);
	ctl_reply_uint(reply, "streams_expired", quic.streams_expired);
	ctl_reply_uint(reply, "stream_stuck_closes", quic.stream_stuck_closes);
	ctl_reply_uint(reply, "stream_budget_closes", quic.stream_budget_closes);
	ctl_reply_uint(reply, "ack_flushes", quic.ack_flushes);
	ctl_reply_end_object(reply);
	struct peer_table_stats table;
	peer_table_get_stats(c->peers, &table);
	ctl_reply_begin_object(reply, "peer_table");
	ctl_reply_uint(reply, "dials", table.dials);
	ctl_reply_uint(reply, "dial_failures", table.dial_failures);
	ctl_reply_uint(reply, "tie_breaks", table.tie_breaks);
	ctl_reply_uint(reply, "idle_closes", table.idle_closes);
	ctl_reply_uint(reply, "queue_dropped", table.queue_dropped);
	ctl_reply_uint(reply, "races", table.races);
	ctl_reply_uint(reply, "migrations", table.migrations);
	ctl_reply_uint(reply, "migrations_failed", table.migrations_failed);
	ctl_reply_uint(reply, "fallbacks", table.fallbacks);
	ctl_reply_uint(reply, "redials", table.redials);
	ctl_reply_uint(reply, "lookups", table.lookups);
	ctl_reply_uint(reply, "candidates_sent", table.candidates_sent);
	ctl_reply_uint(reply, "candidates_received", table.candidates_received);
	ctl_reply_uint(reply, "probes_sent", table.probes_sent);
	ctl_reply_end_object(reply);
	/* The peers last: their page is sized by what the reply holds. */
	reply_peers(c, req, reply);
}

/* ---- ping ---- */

/* A ping in flight: the deferred reply waits for the pinger's verdict. */
struct ctl_ping {
	struct daemon_ctl *c;
	struct ctl_reply *reply;
	int64_t seq_echo; /* the client's "seq" */
};

/* The path to a peer now: its kind and the remote address, or "none". */
static void reply_path(struct daemon_ctl *c, struct ctl_reply *reply, const struct iron_id *id)
{
	struct peer_info info;
	char where[RELAY_URL_MAX];
	if (peer_table_get(c->peers, id, &info) == 0 && info.connected) {
		ctl_reply_string(reply, "path", peer_path_kind_name(info.path_kind));
		ctl_reply_string(reply, "remote",
				 path_text(c->transport, &info.remote.sa, where, sizeof(where)));
	} else {
		ctl_reply_string(reply, "path", "none");
		ctl_reply_null(reply, "remote");
	}
}

static void on_ping_done(void *user, const struct pinger_result *result)
{
	struct ctl_ping *ping = user;
	char b32[IRON_ID_BASE32_LEN + 1];
	id_to_base32(&result->peer, b32);
	if (result->error == 0) {
		ctl_reply_string(ping->reply, "peer", b32);
		ctl_reply_int(ping->reply, "seq", ping->seq_echo);
		ctl_reply_double(ping->reply, "rtt_ms", (double)result->rtt_ns / 1e6);
		reply_path(ping->c, ping->reply, &result->peer);
	} else if (result->error == -ETIMEDOUT) {
		ctl_reply_error(ping->reply, "no reply from %s within %u ms", b32,
				result->timeout_ms);
	} else if (result->error == -EHOSTUNREACH) {
		ctl_reply_error(ping->reply,
				"%s is unreachable: no address known (none found by lookup, "
				"or every dial failed)",
				b32);
	} else {
		ctl_reply_error(ping->reply, "the daemon is shutting down");
	}
	ctl_reply_finish(ping->reply);
	free(ping);
}

static void start_ping(struct daemon_ctl *c, const struct ctl_request *req, struct ctl_reply *reply)
{
	const char *text = ctl_request_string(req, "peer");
	struct iron_id id;
	int64_t seq = 0, timeout_ms = PING_DEFAULT_TIMEOUT_MS;
	char b32[IRON_ID_BASE32_LEN + 1];

	if (!text || id_parse(text, &id, NULL) != 0) {
		ctl_reply_error(reply, "ping: \"peer\" must be a node ID or <id>.iron name");
		return;
	}
	if (!request_int(req, reply, "seq", INT64_MIN, INT64_MAX, &seq) ||
	    !request_int(req, reply, "timeout_ms", 1, PING_MAX_TIMEOUT_MS, &timeout_ms))
		return;
	id_to_base32(&id, b32);
	if (id_equal(&id, &c->identity->id)) {
		ctl_reply_error(reply, "ping: %s is this node", b32);
		return;
	}
	struct ctl_ping *ping = calloc(1, sizeof(*ping));
	if (!ping) {
		ctl_reply_error(reply, "ping: out of memory");
		return;
	}
	*ping = (struct ctl_ping){.c = c, .reply = reply, .seq_echo = seq};
	uint64_t now = uv_hrtime();
	/* Registered like a name that was resolved, so replies route back. */
	if (registry_insert(c->registry, &id, 0, now) < 0) {
		free(ping);
		ctl_reply_error(reply, "ping: %s: its address is taken by another node", b32);
		return;
	}
	int rc = pinger_start(c->pinger, &id, (unsigned)timeout_ms, on_ping_done, ping, now);
	if (rc < 0) {
		free(ping);
		if (rc == -EHOSTUNREACH)
			ctl_reply_error(reply,
					"%s is unreachable: no address known (give it with --peer)",
					b32);
		else if (rc == -EBUSY)
			ctl_reply_error(reply, "ping: too many pings in flight (%d)", PINGER_MAX);
		else
			ctl_reply_error(reply, "ping: cannot send to %s: %s", b32, strerror(-rc));
		return;
	}
	ctl_reply_defer(reply);
}

void daemon_ctl_handle(void *user, const struct ctl_request *req, struct ctl_reply *reply)
{
	struct daemon_ctl *c = user;
	const char *cmd = req->command;

	if (c->stopping) {
		ctl_reply_error(reply, "the daemon is shutting down");
	} else if (strcmp(cmd, "status") == 0) {
		reply_status(c, req, reply);
	} else if (strcmp(cmd, "peers") == 0) {
		reply_peers(c, req, reply);
	} else if (strcmp(cmd, "ping") == 0) {
		start_ping(c, req, reply);
	} else {
		ctl_reply_error(reply, "unknown command \"%s\" (known: status, peers, ping)", cmd);
	}
}
