/* The daemon's control socket commands: status, peers, ping
 * (docs/control.md). */
#define LOG_MODULE "ctl"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "iron/addr.h"
#include "iron/ipv6.h"
#include "iron/log.h"
#include "iron/tun.h"
#include "iron/version.h"

#include "daemon_priv.h"

#define PING_DEFAULT_TIMEOUT_MS 2000
#define PING_MAX_TIMEOUT_MS	60000
#define PING_PAYLOAD		32

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

struct peers_ctx {
	struct ctl_reply *reply;
	uint64_t now;
};

static void reply_peer(void *arg, const struct peer_info *info)
{
	struct peers_ctx *ctx = arg;
	struct ctl_reply *reply = ctx->reply;
	char where[64];

	ctl_reply_begin_object(reply, NULL);
	reply_id_forms(reply, &info->id, "id");
	ctl_reply_bool(reply, "static", info->is_static);
	ctl_reply_bool(reply, "connected", info->connected);
	ctl_reply_uint(reply, "connections", info->connections);
	ctl_reply_string(reply, "path",
			 info->connected ? (info->direct ? "direct" : "relay") : "none");
	if (info->has_remote)
		ctl_reply_string(
		    reply, "remote",
		    udp_format_addr((const struct sockaddr *)&info->remote, where, sizeof(where)));
	else
		ctl_reply_null(reply, "remote");
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
	if (info->connected && info->stats.last_activity_ns > 0 &&
	    info->stats.last_activity_ns <= ctx->now)
		ctl_reply_double(reply, "last_activity_s",
				 (double)(ctx->now - info->stats.last_activity_ns) / 1e9);
	else
		ctl_reply_null(reply, "last_activity_s");
	ctl_reply_end_object(reply);
}

static void reply_peers(struct daemon *d, struct ctl_reply *reply)
{
	struct peers_ctx ctx = {.reply = reply, .now = daemon_now(d)};
	ctl_reply_begin_array(reply, "peers");
	peer_table_foreach(d->peers, reply_peer, &ctx);
	ctl_reply_end_array(reply);
}

static void reply_status(struct daemon *d, struct ctl_reply *reply)
{
	char hex[IRON_ID_HEX_LEN + 1], where[64], text[80];
	const struct daemon_config *cfg = d->config;

	ctl_reply_string(reply, "version", IRON_VERSION);
	ctl_reply_int(reply, "pid", (int64_t)getpid());
	ctl_reply_double(reply, "uptime_s", (double)(daemon_now(d) - d->started_ns) / 1e9);
	ctl_reply_begin_object(reply, "node");
	id_to_hex(&d->identity.id, hex);
	ctl_reply_string(reply, "hex", hex);
	reply_id_forms(reply, &d->identity.id, "base32");
	ctl_reply_end_object(reply);
	ctl_reply_begin_object(reply, "tun");
	ctl_reply_string(reply, "name", d->tun_name);
	ctl_reply_uint(reply, "mtu", cfg->mtu);
	ctl_reply_begin_object(reply, "offload");
	ctl_reply_bool(reply, "vnet_hdr", d->tun_vnet_hdr);
	ctl_reply_bool(reply, "checksum", (d->tun_offloads & TUN_OFFLOAD_CSUM) != 0);
	ctl_reply_bool(reply, "tso", (d->tun_offloads & TUN_OFFLOAD_TSO) != 0);
	ctl_reply_bool(reply, "uso", (d->tun_offloads & TUN_OFFLOAD_USO) != 0);
	ctl_reply_end_object(reply);
	ctl_reply_end_object(reply);
	ctl_reply_begin_array(reply, "listen");
	for (size_t i = 0; i < d->nudp; i++)
		ctl_reply_string(reply, NULL,
				 udp_format_addr(udp_local(d->udp[i]), where, sizeof(where)));
	ctl_reply_end_array(reply);
	ctl_reply_begin_array(reply, "dns");
	snprintf(text, sizeof(text), "127.0.0.1:%u", cfg->dns_port);
	ctl_reply_string(reply, NULL, text);
	snprintf(text, sizeof(text), "[::1]:%u", cfg->dns_port);
	ctl_reply_string(reply, NULL, text);
	ctl_reply_string(reply, NULL, "[fd69:726f:0:1::53]:53");
	ctl_reply_end_array(reply);
	ctl_reply_null(reply, "relay");
	ctl_reply_begin_object(reply, "registry");
	ctl_reply_uint(reply, "entries", registry_count(d->registry));
	ctl_reply_uint(reply, "capacity", REGISTRY_DEFAULT_CAPACITY);
	ctl_reply_end_object(reply);
	struct dns_server_stats dns;
	dns_server_stats(d->dns, &dns);
	ctl_reply_begin_object(reply, "counters");
	ctl_reply_uint(reply, "tun_rx", d->stats.tun_rx);
	ctl_reply_uint(reply, "tun_tx", d->stats.tun_tx);
	ctl_reply_uint(reply, "tun_tx_dropped", d->stats.tun_tx_dropped);
	struct offload_coalescer_stats gro = {0};
	if (d->coalescer)
		offload_coalescer_stats(d->coalescer, &gro);
	ctl_reply_uint(reply, "tun_gso_reads", d->stats.tun_gso_reads);
	ctl_reply_uint(reply, "tun_segments_split", d->stats.tun_segments_split);
	ctl_reply_uint(reply, "tun_coalesced_writes", gro.coalesced_writes);
	ctl_reply_uint(reply, "tun_coalesced_segments", gro.coalesced_segments);
	ctl_reply_uint(reply, "tun_offload_errors", d->stats.tun_offload_errors);
	ctl_reply_uint(reply, "to_peers", d->stats.to_peers);
	ctl_reply_uint(reply, "out_not_ipv6", d->stats.out_not_ipv6);
	ctl_reply_uint(reply, "out_malformed", d->stats.out_malformed);
	ctl_reply_uint(reply, "out_bad_source", d->stats.out_bad_source);
	ctl_reply_uint(reply, "out_unreachable", d->stats.out_unreachable);
	ctl_reply_uint(reply, "in_not_ipv6", d->stats.in_not_ipv6);
	ctl_reply_uint(reply, "in_malformed", d->stats.in_malformed);
	ctl_reply_uint(reply, "in_spoofed", d->stats.in_spoofed);
	ctl_reply_uint(reply, "in_not_for_us", d->stats.in_not_for_us);
	ctl_reply_uint(reply, "dns_queries", dns.queries);
	ctl_reply_end_object(reply);
	/* The transport's bounds at work: half-open handshakes are capped and
	 * what is refused or undecodable is counted. */
	struct quic_endpoint_stats quic;
	peer_table_get_quic_stats(d->peers, &quic);
	ctl_reply_begin_object(reply, "quic");
	ctl_reply_uint(reply, "connections", quic.connections);
	ctl_reply_uint(reply, "half_open", quic.half_open);
	ctl_reply_uint(reply, "initials_dropped", quic.initials_dropped);
	ctl_reply_uint(reply, "datagrams_dropped", quic.datagrams_dropped);
	ctl_reply_uint(reply, "version_negotiations_sent", quic.version_negotiations_sent);
	ctl_reply_uint(reply, "stateless_resets_sent", quic.stateless_resets_sent);
	ctl_reply_uint(reply, "retries_sent", quic.retries_sent);
	ctl_reply_uint(reply, "retry_tokens_invalid", quic.retry_tokens_invalid);
	ctl_reply_end_object(reply);
	struct peer_table_stats table;
	peer_table_get_stats(d->peers, &table);
	ctl_reply_begin_object(reply, "peer_table");
	ctl_reply_uint(reply, "dials", table.dials);
	ctl_reply_uint(reply, "dial_failures", table.dial_failures);
	ctl_reply_uint(reply, "tie_breaks", table.tie_breaks);
	ctl_reply_uint(reply, "idle_closes", table.idle_closes);
	ctl_reply_uint(reply, "queue_dropped", table.queue_dropped);
	ctl_reply_end_object(reply);
	reply_peers(d, reply);
}

/* ---- ping ---- */

/* The path to a peer now: "direct" with the remote address, or "none". */
static void reply_path(struct daemon *d, struct ctl_reply *reply, const struct iron_id *id)
{
	struct peer_info info;
	char where[64];
	if (peer_table_get(d->peers, id, &info) == 0 && info.connected) {
		ctl_reply_string(reply, "path", info.direct ? "direct" : "relay");
		ctl_reply_string(
		    reply, "remote",
		    udp_format_addr((const struct sockaddr *)&info.remote, where, sizeof(where)));
	} else {
		ctl_reply_string(reply, "path", "none");
		ctl_reply_null(reply, "remote");
	}
}

static void on_ping_timer(uv_timer_t *timer)
{
	daemon_ping_expire(timer->data);
}

static void arm_ping_timer(struct daemon *d)
{
	uint64_t next = UINT64_MAX, now = daemon_now(d);
	for (size_t i = 0; i < DAEMON_MAX_PINGS; i++)
		if (d->pings[i].reply && d->pings[i].deadline_ns < next)
			next = d->pings[i].deadline_ns;
	if (next == UINT64_MAX) {
		uv_timer_stop(&d->ping_timer);
		return;
	}
	uint64_t ms = next <= now ? 0 : (next - now + 999999) / 1000000;
	uv_timer_start(&d->ping_timer, on_ping_timer, ms, 0);
}

void daemon_ping_expire(struct daemon *d)
{
	uint64_t now = daemon_now(d);
	for (size_t i = 0; i < DAEMON_MAX_PINGS; i++) {
		struct daemon_ping *ping = &d->pings[i];
		if (!ping->reply || ping->deadline_ns > now)
			continue;
		char b32[IRON_ID_BASE32_LEN + 1];
		id_to_base32(&ping->peer, b32);
		ctl_reply_error(ping->reply, "no reply from %s within %u ms", b32,
				(unsigned)((ping->deadline_ns - ping->sent_ns) / 1000000));
		ctl_reply_finish(ping->reply);
		ping->reply = NULL;
	}
	arm_ping_timer(d);
}

void daemon_ping_cancel_all(struct daemon *d)
{
	for (size_t i = 0; i < DAEMON_MAX_PINGS; i++)
		if (d->pings[i].reply) {
			ctl_reply_error(d->pings[i].reply, "the daemon is shutting down");
			ctl_reply_finish(d->pings[i].reply);
			d->pings[i].reply = NULL;
		}
	uv_timer_stop(&d->ping_timer);
}

bool daemon_ping_reply(struct daemon *d, const struct iron_id *from, const uint8_t *pkt, size_t len)
{
	struct ipv6_info info;
	struct ipv6_echo echo;
	if (ipv6_parse(pkt, len, &info) != 0 || ipv6_echo_parse(pkt, &info, &echo) != 0 ||
	    echo.type != IPV6_ICMP_ECHO_REPLY || echo.identifier != d->ping_ident)
		return false;
	for (size_t i = 0; i < DAEMON_MAX_PINGS; i++) {
		struct daemon_ping *ping = &d->pings[i];
		if (!ping->reply || ping->sequence != echo.sequence ||
		    memcmp(ping->peer.bytes, from->bytes, IRON_ID_LEN) != 0)
			continue;
		uint64_t rtt = daemon_now(d) - ping->sent_ns;
		char b32[IRON_ID_BASE32_LEN + 1];
		id_to_base32(from, b32);
		ctl_reply_string(ping->reply, "peer", b32);
		ctl_reply_int(ping->reply, "seq", ping->seq_echo);
		ctl_reply_double(ping->reply, "rtt_ms", (double)rtt / 1e6);
		reply_path(d, ping->reply, from);
		ctl_reply_finish(ping->reply);
		ping->reply = NULL;
		arm_ping_timer(d);
		return true;
	}
	return true; /* ours, but late or a duplicate: not for the TUN either */
}

static void start_ping(struct daemon *d, const struct ctl_request *req, struct ctl_reply *reply)
{
	const char *text = ctl_request_string(req, "peer");
	struct daemon_ping *ping = NULL;
	struct iron_id id;
	double number;
	int64_t seq = 0;
	unsigned timeout_ms = PING_DEFAULT_TIMEOUT_MS;
	uint8_t pkt[IPV6_HEADER_LEN + IPV6_ICMP_HEADER_LEN + PING_PAYLOAD];
	uint8_t payload[PING_PAYLOAD];
	char b32[IRON_ID_BASE32_LEN + 1];

	if (!text || id_parse(text, &id, NULL) != 0) {
		ctl_reply_error(reply, "ping: \"peer\" must be a node ID or <id>.iron name");
		return;
	}
	if (ctl_request_number(req, "seq", &number) == 0)
		seq = (int64_t)number;
	if (ctl_request_number(req, "timeout_ms", &number) == 0) {
		if (!(number >= 1 && number <= PING_MAX_TIMEOUT_MS)) {
			ctl_reply_error(reply, "ping: timeout_ms must be 1 to %d",
					PING_MAX_TIMEOUT_MS);
			return;
		}
		timeout_ms = (unsigned)number;
	}
	id_to_base32(&id, b32);
	if (id_equal(&id, &d->identity.id)) {
		ctl_reply_error(reply, "ping: %s is this node", b32);
		return;
	}
	for (size_t i = 0; i < DAEMON_MAX_PINGS && !ping; i++)
		if (!d->pings[i].reply)
			ping = &d->pings[i];
	if (!ping) {
		ctl_reply_error(reply, "ping: too many pings in flight (%d)", DAEMON_MAX_PINGS);
		return;
	}
	struct in6_addr dst;
	addr_from_id(&id, &dst);
	memset(payload, 0x69, sizeof(payload));
	struct ipv6_echo echo = {
	    .type = IPV6_ICMP_ECHO_REQUEST,
	    .identifier = d->ping_ident,
	    .sequence = d->ping_next_seq++,
	    .data = payload,
	    .data_len = sizeof(payload),
	};
	ssize_t n = ipv6_build_echo(&d->own_addr, &dst, &echo, pkt, sizeof(pkt));
	if (n < 0) {
		ctl_reply_error(reply, "ping: cannot build the echo request: %s",
				strerror((int)-n));
		return;
	}
	/* Registered like a name that was resolved, so replies route back. */
	registry_insert(d->registry, &id, 0, daemon_now(d));
	uint64_t now = daemon_now(d);
	int rc = peer_table_send(d->peers, &id, pkt, (size_t)n, now);
	if (rc == -EHOSTUNREACH) {
		ctl_reply_error(reply, "%s is unreachable: no address known (give it with --peer)",
				b32);
		return;
	}
	if (rc < 0) {
		ctl_reply_error(reply, "ping: cannot send to %s: %s", b32, strerror(-rc));
		return;
	}
	ping->reply = reply;
	ping->peer = id;
	ping->sequence = echo.sequence;
	ping->sent_ns = now;
	ping->deadline_ns = now + (uint64_t)timeout_ms * 1000000;
	ping->seq_echo = seq;
	ctl_reply_defer(reply);
	arm_ping_timer(d);
}

void daemon_ctl_handle(void *user, const struct ctl_request *req, struct ctl_reply *reply)
{
	struct daemon *d = user;
	const char *cmd = req->command;

	if (d->stopping) {
		ctl_reply_error(reply, "the daemon is shutting down");
	} else if (strcmp(cmd, "status") == 0) {
		reply_status(d, reply);
	} else if (strcmp(cmd, "peers") == 0) {
		reply_peers(d, reply);
	} else if (strcmp(cmd, "ping") == 0) {
		start_ping(d, req, reply);
	} else {
		ctl_reply_error(reply, "unknown command \"%s\" (known: status, peers, ping)", cmd);
	}
}
