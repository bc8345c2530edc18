#define LOG_MODULE "daemon"

#include "iron/daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <ares.h>
#include <sys/select.h>
#include <uv.h>

#include <sodium.h>

#include "iron/addr.h"
#include "iron/cli.h"
#include "iron/dns_server.h"
#include "iron/identity.h"
#include "iron/ipv6.h"
#include "iron/ratelimit.h"
#include "iron/log.h"
#include "iron/offload.h"
#include "iron/peer.h"
#include "iron/registry.h"
#include "iron/router.h"
#include "iron/sdnotify.h"
#include "iron/tun.h"
#include "iron/udp.h"

#include "daemon_priv.h"

uint64_t daemon_now(const struct daemon *d)
{
	(void)d;
	return uv_hrtime();
}

/* ---- TUN output ---- */

static int tun_writev(struct daemon *d, const uint8_t *vnet_hdr, const uint8_t *pkt, size_t len)
{
	struct iovec iov[2] = {
	    {.iov_base = (void *)vnet_hdr, .iov_len = OFFLOAD_VNET_HDR_LEN},
	    {.iov_base = (void *)pkt, .iov_len = len},
	};
	return writev(d->tun_fd, iov, 2) < 0 ? -errno : 0;
}

static void on_fallback_segment(void *user, const uint8_t *pkt, size_t len)
{
	static const uint8_t plain[OFFLOAD_VNET_HDR_LEN];
	struct daemon *d = user;
	if (tun_writev(d, plain, pkt, len) < 0)
		d->stats.tun_tx_dropped++;
	else
		d->stats.tun_tx++;
}

/* The coalescer's output: the virtio_net_hdr and the packet in one write. */
static void tun_write_vnet(void *user, const uint8_t *vnet_hdr, const uint8_t *pkt, size_t len,
			   unsigned segments)
{
	struct daemon *d = user;
	int rc = tun_writev(d, vnet_hdr, pkt, len);
	if (rc == 0) {
		d->stats.tun_tx += segments;
		return;
	}
	if (segments == 1 || rc != -EINVAL) {
		d->stats.tun_tx_dropped += segments;
		return;
	}
	/* A kernel that refuses what GRO would have made: stop coalescing,
	 * and write these segments one by one (from a copy: the split works
	 * in place, and tun_buf may hold the packet being routed). */
	d->stats.tun_offload_errors++;
	log_warn("%s refused a coalesced write (%s); writing packets one by one from now on",
		 d->tun_name, strerror(-rc));
	offload_coalescer_disable(d->coalescer);
	memcpy(d->fallback_buf, vnet_hdr, OFFLOAD_VNET_HDR_LEN);
	memcpy(d->fallback_buf + OFFLOAD_VNET_HDR_LEN, pkt, len);
	const struct offload_sink sink = {.packet = on_fallback_segment, .user = d};
	if (offload_split(d->fallback_buf, OFFLOAD_VNET_HDR_LEN + len, &sink) < 0)
		d->stats.tun_tx_dropped += segments;
}

/* Everything bound for the TUN: with offloads through the coalescer, which
 * writes it at once or, for TCP data, by the end of the loop iteration. */
static void tun_write(struct daemon *d, const uint8_t *pkt, size_t len)
{
	d->tun_written = true;
	if (d->coalescer) {
		offload_coalescer_add(d->coalescer, pkt, len);
		return;
	}
	if (write(d->tun_fd, pkt, len) < 0) {
		d->stats.tun_tx_dropped++;
		return;
	}
	d->stats.tun_tx++;
}

static void send_unreachable(struct daemon *d, const uint8_t *pkt, size_t len, uint8_t code)
{
	if (!ratelimit_allow(&d->icmp_limit, daemon_now(d)))
		return;
	ssize_t n = ipv6_build_icmp_error(d->out_buf, sizeof(d->out_buf), &d->own_addr,
					  IPV6_ICMP_DEST_UNREACHABLE, code, 0, pkt, len);
	if (n > 0)
		tun_write(d, d->out_buf, (size_t)n);
}

static void send_too_big(struct daemon *d, const uint8_t *pkt, size_t len, uint32_t mtu)
{
	if (!ratelimit_allow(&d->icmp_limit, daemon_now(d)))
		return;
	ssize_t n = ipv6_build_icmp_error(d->out_buf, sizeof(d->out_buf), &d->own_addr,
					  IPV6_ICMP_PACKET_TOO_BIG, 0, mtu, pkt, len);
	if (n > 0)
		tun_write(d, d->out_buf, (size_t)n);
}

/* ---- DNS inside the tunnel ---- */

static void on_tunnel_dns_reply(void *user, const void *tag_bytes, const uint8_t *answer,
				size_t len)
{
	struct daemon *d = user;
	struct dns_tag tag;
	memcpy(&tag, tag_bytes, sizeof(tag));
	if (d->stopping)
		return;
	struct ipv6_udp udp = {
	    .src = addr_dns,
	    .dst = tag.client,
	    .src_port = IPV6_DNS_PORT,
	    .dst_port = tag.client_port,
	    .payload = answer,
	    .payload_len = len,
	};
	ssize_t n = ipv6_build_udp(&udp, d->out_buf, sizeof(d->out_buf));
	if (n > 0)
		tun_write(d, d->out_buf, (size_t)n);
}

static void tunnel_dns(struct daemon *d, const uint8_t *pkt, size_t len)
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
	dns_server_query(d->dns, udp.payload, udp.payload_len, &tag, sizeof(tag),
			 on_tunnel_dns_reply, d);
}

/* ---- the packet paths ---- */

static void outbound(struct daemon *d, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct in6_addr dst;
	struct iron_id id;
	switch (router_outbound(pkt, len, &d->own_addr, &dst)) {
	case ROUTER_OUT_PEER:
		break;
	case ROUTER_OUT_DNS:
		tunnel_dns(d, pkt, len);
		return;
	case ROUTER_OUT_MULTICAST:
		return;
	case ROUTER_OUT_NOT_IPV6:
		d->stats.out_not_ipv6++;
		return;
	case ROUTER_OUT_MALFORMED:
		d->stats.out_malformed++;
		return;
	case ROUTER_OUT_BAD_SOURCE:
		d->stats.out_bad_source++;
		return;
	case ROUTER_OUT_NOT_OVERLAY:
		d->stats.out_unreachable++;
		send_unreachable(d, pkt, len, IPV6_ICMP_CODE_ADDR_UNREACHABLE);
		return;
	}
	if (registry_lookup(d->registry, &dst, &id) != 0) {
		d->stats.out_unreachable++;
		send_unreachable(d, pkt, len, IPV6_ICMP_CODE_ADDR_UNREACHABLE);
		return;
	}
	int rc = peer_table_send(d->peers, &id, pkt, len, now);
	if (rc == -EMSGSIZE) {
		send_too_big(d, pkt, len, (uint32_t)peer_table_max_packet(d->peers));
	} else if (rc < 0) {
		d->stats.out_unreachable++;
		send_unreachable(d, pkt, len, IPV6_ICMP_CODE_ADDR_UNREACHABLE);
	} else {
		d->stats.to_peers++;
	}
}

static void on_peer_packet(void *user, const struct iron_id *from, const uint8_t *pkt, size_t len)
{
	struct daemon *d = user;
	switch (router_inbound(pkt, len, from, &d->own_addr)) {
	case ROUTER_IN_ACCEPT:
		break;
	case ROUTER_IN_NOT_IPV6:
		d->stats.in_not_ipv6++;
		return;
	case ROUTER_IN_MALFORMED:
		d->stats.in_malformed++;
		return;
	case ROUTER_IN_SPOOFED:
		d->stats.in_spoofed++;
		log_debug("dropped a packet with a spoofed source address");
		return;
	case ROUTER_IN_NOT_FOR_US:
		d->stats.in_not_for_us++;
		return;
	}
	registry_insert(d->registry, from, 0, daemon_now(d));
	if (pkt[6] == IPV6_PROTO_ICMPV6 && len > IPV6_HEADER_LEN &&
	    pkt[IPV6_HEADER_LEN] == IPV6_ICMP_ECHO_REPLY && daemon_ping_reply(d, from, pkt, len))
		return;
	tun_write(d, pkt, len);
}

/* One packet cut from an offloaded read. */
struct tun_read {
	struct daemon *d;
	uint64_t now;
};

static void on_tun_segment(void *user, const uint8_t *pkt, size_t len)
{
	struct tun_read *r = user;
	r->d->stats.tun_rx++;
	outbound(r->d, pkt, len, r->now);
}

static void read_tun(struct daemon *d)
{
	struct tun_read r = {.d = d, .now = daemon_now(d)};
	const struct offload_sink sink = {.packet = on_tun_segment, .user = &r};
	for (unsigned packets = 0, reads = 0; reads < TUN_BATCH && packets < TUN_SEGMENT_BUDGET;
	     reads++) {
		ssize_t n = read(d->tun_fd, d->tun_buf, sizeof(d->tun_buf));
		if (n <= 0)
			break;
		if (!d->tun_vnet_hdr) {
			d->stats.tun_rx++;
			outbound(d, d->tun_buf, (size_t)n, r.now);
			packets++;
			continue;
		}
		int count = offload_split(d->tun_buf, (size_t)n, &sink);
		if (count < 0) {
			/* Logged at powers of two: a kernel that keeps sending
			 * what we cannot take apart must not flood the log. */
			uint64_t errors = ++d->stats.tun_offload_errors;
			if ((errors & (errors - 1)) == 0)
				log_debug("dropped a TUN read of %zd bytes: %s (%llu so far)", n,
					  strerror(-count), (unsigned long long)errors);
			continue;
		}
		if (count > 1) {
			d->stats.tun_gso_reads++;
			d->stats.tun_segments_split += (unsigned)count;
		}
		packets += (unsigned)count;
	}
}

static void on_tun_readable(uv_poll_t *handle, int status, int events)
{
	(void)events;
	if (status >= 0)
		read_tun(handle->data);
}

/* ---- peers and QUIC ---- */

static void on_peer_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
			 const uint8_t *data, size_t len)
{
	struct daemon *d = user;
	for (size_t i = 0; i < d->nudp; i++) {
		const struct sockaddr *l = udp_local(d->udp[i]);
		if (l->sa_family == local->sa_family &&
		    memcmp(l, local, udp_sockaddr_len(l)) == 0) {
			udp_send(d->udp[i], remote, data, len);
			return;
		}
	}
	/* The local address is always one of ours; fall back to the first. */
	udp_send(d->udp[0], remote, data, len);
}

static int on_peer_route(void *user, const struct sockaddr *remote, struct sockaddr_storage *local,
			 struct sockaddr_storage *remote_out)
{
	struct daemon *d = user;
	for (size_t i = 0; i < d->nudp; i++) {
		if (udp_normalize(d->udp[i], remote, remote_out) == 0) {
			const struct sockaddr *l = udp_local(d->udp[i]);
			memset(local, 0, sizeof(*local));
			memcpy(local, l, udp_sockaddr_len(l));
			return 0;
		}
	}
	return -EAFNOSUPPORT;
}

static void on_peer_unreachable(void *user, const struct iron_id *to, const uint8_t *pkt,
				size_t len)
{
	struct daemon *d = user;
	(void)to;
	send_unreachable(d, pkt, len, IPV6_ICMP_CODE_ADDR_UNREACHABLE);
}

static void on_peer_connection(void *user, const struct iron_id *peer, bool connected)
{
	struct daemon *d = user;
	if (connected)
		registry_insert(d->registry, peer, 0, daemon_now(d));
	registry_set_connected(d->registry, peer, connected);
}

static void on_udp_recv(void *user, struct udp_socket *sock, const struct sockaddr *remote,
			const uint8_t *data, size_t len)
{
	struct daemon *d = user;
	peer_table_receive(d->peers, udp_local(sock), remote, data, len, daemon_now(d));
}

static void on_peer_timer(uv_timer_t *timer);

/* The QUIC timers (loss detection and probes, ACK delay, pacing,
 * keep-alive, idle and handshake timeouts) and peer housekeeping all run
 * from this one timer. uv_timer_start() needs the callback every time:
 * with NULL it fails with UV_EINVAL and leaves the timer stopped. */
static void arm_peer_timer(struct daemon *d)
{
	uint64_t next = peer_table_next_expiry(d->peers);
	uint64_t now = daemon_now(d);
	uint64_t ms = next == UINT64_MAX ? 1000 : next <= now ? 0 : (next - now + 999999) / 1000000;
	uv_timer_start(&d->peer_timer, on_peer_timer, ms, 0);
}

/* Writes what was produced, in batches, and re-arms the QUIC timer. */
static void flush_and_arm(struct daemon *d)
{
	if (d->stopping)
		return;
	/* Packets only reach the TUN from this iteration's callbacks, so
	 * nothing held waits past it (a ping reply included). */
	if (d->coalescer)
		offload_coalescer_flush(d->coalescer);
	peer_table_flush(d->peers, daemon_now(d));
	for (size_t i = 0; i < d->nudp; i++)
		udp_flush(d->udp[i]);
	arm_peer_timer(d);
}

/* Flushes and re-arms by itself: libuv computes the poll timeout before
 * the check phase, so what a timer left to on_flush (the probes it wrote,
 * the next expiry) would wait for the next I/O event. */
static void on_peer_timer(uv_timer_t *timer)
{
	struct daemon *d = timer->data;
	peer_table_timer(d->peers, daemon_now(d));
	flush_and_arm(d);
}

/* After every loop iteration: write what the iteration produced.
 *
 * A packet written into the TUN is often answered by the kernel within the
 * write() itself (an ICMPv6 echo reply, a TCP ACK), so when packets went
 * in, the TUN is read first: the answer then leaves in this flush, and the
 * QUIC ACK for the packets just received rides in the same packet. Waiting
 * for the next iteration's poll would send an ACK-only packet first (on a
 * fast link ngtcp2's ACK delay is an eighth of the RTT, already over) and
 * cost the peer a second wake-up per round trip. Segments the coalescer
 * holds are written first, for the same reason. */
static void on_flush(uv_check_t *check)
{
	struct daemon *d = check->data;
	if (d->tun_written && !d->stopping) {
		if (d->coalescer)
			offload_coalescer_flush(d->coalescer);
		d->tun_written = false;
		read_tun(d);
	}
	flush_and_arm(d);
}

/* ---- registry persistence ---- */

static void save_registry(struct daemon *d)
{
	int rc = registry_save(d->registry, d->peers_path);
	if (rc < 0)
		log_warn("cannot save %s: %s", d->peers_path, strerror(-rc));
}

static void on_save_timer(uv_timer_t *timer)
{
	save_registry(timer->data);
}

static void on_dns_id(void *user, const struct iron_id *id)
{
	struct daemon *d = user;
	registry_insert(d->registry, id, 0, daemon_now(d));
}

/* ---- shutdown ---- */

static void on_handle_closed(uv_handle_t *handle)
{
	(void)handle;
}

static void close_if_active(uv_handle_t *handle)
{
	if (!uv_is_closing(handle))
		uv_close(handle, on_handle_closed);
}

static void stop(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	log_info("%s: shutting down", why);
	sdnotify("STOPPING=1");
	uint64_t now = daemon_now(d);
	daemon_ping_cancel_all(d);
	if (d->ctl) {
		ctl_server_close(d->ctl);
		d->ctl = NULL;
	}
	/* Tell every peer at once, rather than letting them time out. */
	peer_table_shutdown(d->peers, now);
	for (size_t i = 0; i < d->nudp; i++) {
		udp_flush(d->udp[i]);
		udp_close(d->udp[i]);
	}
	d->nudp = 0;
	save_registry(d);
	if (d->tun_poll_started) {
		uv_poll_stop(&d->tun_poll);
		close_if_active((uv_handle_t *)&d->tun_poll);
	}
	dns_server_close(d->dns, NULL, NULL);
	d->dns = NULL;
	if (d->sysdns_configured) {
		sysdns_restore(&d->sysdns);
		d->sysdns_configured = false;
	}
	close_if_active((uv_handle_t *)&d->ping_timer);
	close_if_active((uv_handle_t *)&d->peer_timer);
	close_if_active((uv_handle_t *)&d->save_timer);
	close_if_active((uv_handle_t *)&d->flush_check);
	close_if_active((uv_handle_t *)&d->sig_int);
	close_if_active((uv_handle_t *)&d->sig_term);
	close_if_active((uv_handle_t *)&d->sig_hup);
}

void daemon_apply_log_settings(const struct daemon_config *config, const struct config_file *file)
{
	const char *env = getenv("IRON_LOG");
	const char *filter = NULL;
	enum log_level level;
	if (!env || !*env)
		env = getenv("RUST_LOG");
	config_log_settings(file, config->cli_log_level, env, &level, &filter);
	if (log_configure(level, filter) != 0)
		log_warn("cannot parse the log filter '%s'; keeping the old one", filter);
}

/* Resolves a peer's host (numeric, or a name through c-ares). */
static int resolve_peer(const struct daemon_peer_config *pc, struct sockaddr_storage *out);

/* Adds (or updates) the static peers of the configuration. On reload a
 * peer removed from the file stays known until the daemon restarts; its
 * connection lives on. */
static void add_static_peers(struct daemon *d, const struct daemon_peer_config *peers,
			     size_t npeers)
{
	for (size_t i = 0; i < npeers; i++) {
		struct sockaddr_storage addr;
		char name[IRON_ID_BASE32_LEN + 1];
		id_to_base32(&peers[i].id, name);
		if (resolve_peer(&peers[i], &addr) != 0) {
			log_warn(
			    "peer %s: cannot resolve %s; it is reachable only when it connects",
			    name, peers[i].host);
			continue;
		}
		peer_table_add_static(d->peers, &peers[i].id, (struct sockaddr *)&addr);
		registry_insert(d->registry, &peers[i].id, REGISTRY_PINNED, daemon_now(d));
	}
}

/* SIGHUP: reloads the config file's peers and log levels. Connections are
 * kept; a file that does not parse changes nothing. */
static void reload(struct daemon *d)
{
	struct config_error err = {0};
	struct config_file *file;
	const struct daemon_config *cfg = d->config;

	if (!cfg->config_path) {
		log_info("SIGHUP: no --config file to reload");
		return;
	}
	file = calloc(1, sizeof(*file));
	if (!file) {
		log_warn("SIGHUP: out of memory; keeping the old configuration");
		return;
	}
	int rc = config_load(cfg->config_path, file, &err);
	if (rc < 0) {
		log_warn("SIGHUP: %s: %s; keeping the old configuration", cfg->config_path,
			 err.message[0] ? err.message : strerror(-rc));
		free(file);
		return;
	}
	daemon_apply_log_settings(cfg, file);
	add_static_peers(d, cfg->peers, cfg->npeers); /* the command line's */
	add_static_peers(d, file->peers, file->npeers);
	free(d->reload_file);
	d->reload_file = file;
	log_info("SIGHUP: reloaded %s (%zu peers)", cfg->config_path, file->npeers);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct daemon *d = handle->data;
	if (signum == SIGHUP) {
		reload(d);
		return;
	}
	stop(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ---- start-up ---- */

static bool have_net_admin(void)
{
	FILE *f;
	char line[256];
	unsigned long long caps = 0;
	if (geteuid() == 0)
		return true;
	f = fopen("/proc/self/status", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps >> 12) & 1; /* CAP_NET_ADMIN */
}

static void print_identity(const struct daemon *d)
{
	char hex[IRON_ID_HEX_LEN + 1], b32[IRON_ID_BASE32_LEN + 1], dom[IRON_ID_DOMAIN_SIZE];
	char ip[ADDR_STR_SIZE], where[64];
	id_to_hex(&d->identity.id, hex);
	id_to_base32(&d->identity.id, b32);
	id_to_domain(&d->identity.id, dom);
	addr_format(&d->own_addr, ip);
	printf("iron %s is up\n", "serve");
	printf("  node id (hex)    %s\n", hex);
	printf("  node id (base32) %s\n", b32);
	printf("  domain           %s\n", dom);
	printf("  ipv6             %s\n", ip);
	printf("  tun              %s (mtu %u)\n", d->tun_name, d->config->mtu);
	for (size_t i = 0; i < d->nudp; i++)
		printf("  listen           %s (udp)\n",
		       udp_format_addr(udp_local(d->udp[i]), where, sizeof(where)));
	printf("  dns              127.0.0.1:%u, [::1]:%u, [fd69:726f:0:1::53]:53\n",
	       d->config->dns_port, d->config->dns_port);
	printf("  control          %s\n", d->ctl_path);
	fflush(stdout);
}

struct host_lookup {
	bool done;
	int status;
	struct sockaddr_storage addr;
};

static void on_host_lookup(void *arg, int status, int timeouts, struct ares_addrinfo *result)
{
	struct host_lookup *lookup = arg;
	(void)timeouts;
	lookup->done = true;
	lookup->status = status;
	if (status == ARES_SUCCESS && result) {
		for (struct ares_addrinfo_node *n = result->nodes; n; n = n->ai_next) {
			if (n->ai_family == AF_INET || n->ai_family == AF_INET6) {
				memcpy(&lookup->addr, n->ai_addr, (size_t)n->ai_addrlen);
				break;
			}
		}
		if (lookup->addr.ss_family == 0)
			lookup->status = ARES_ENODATA;
	}
	if (result)
		ares_freeaddrinfo(result);
}

/* Resolves a host name with c-ares against the system resolver, waiting at
 * most 5 s. It runs before the loop (start-up) or on SIGHUP, where a short
 * wait is acceptable and a second event source is not worth it. */
static int resolve_name(const char *host, uint16_t port, struct sockaddr_storage *out)
{
	ares_channel channel;
	struct ares_options options = {.timeout = 2000, .tries = 2};
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC};
	struct host_lookup lookup = {0};
	char service[8];
	uint64_t deadline = uv_hrtime() + 5000000000ull;

	if (ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES) !=
	    ARES_SUCCESS)
		return -ENOMEM;
	snprintf(service, sizeof(service), "%u", port);
	ares_getaddrinfo(channel, host, service, &hints, on_host_lookup, &lookup);
	while (!lookup.done && uv_hrtime() < deadline) {
		fd_set readers, writers;
		struct timeval tv, *tvp;
		FD_ZERO(&readers);
		FD_ZERO(&writers);
		int nfds = ares_fds(channel, &readers, &writers);
		if (nfds == 0)
			break;
		tvp = ares_timeout(channel, NULL, &tv);
		select(nfds, &readers, &writers, NULL, tvp);
		ares_process(channel, &readers, &writers);
	}
	ares_destroy(channel); /* calls on_host_lookup with ARES_EDESTRUCTION if pending */
	if (!lookup.done || lookup.status != ARES_SUCCESS) {
		log_debug("%s: %s", host, lookup.done ? ares_strerror(lookup.status) : "timed out");
		return -EHOSTUNREACH;
	}
	*out = lookup.addr;
	return 0;
}

static int resolve_peer(const struct daemon_peer_config *pc, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, pc->host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(pc->port);
		return 0;
	}
	if (inet_pton(AF_INET6, pc->host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(pc->port);
		return 0;
	}
	return resolve_name(pc->host, pc->port, out);
}

/* Opens the TUN with offloads unless IRON_TUN_OFFLOAD=0 (which keeps the
 * plain device, to compare or to get around a kernel that misbehaves). */
static int open_tun(struct daemon *d)
{
	const char *env = getenv("IRON_TUN_OFFLOAD");
	if (env && strcmp(env, "0") == 0) {
		log_debug("TUN offloads off (IRON_TUN_OFFLOAD=0)");
		return tun_open(d->config->tun_name, &d->tun_fd, d->tun_name);
	}
	struct offload_writer writer = {.write = tun_write_vnet, .user = d};
	int rc = offload_coalescer_new(&writer, &d->coalescer);
	if (rc < 0)
		return rc;
	rc = tun_open_offload(d->config->tun_name, &d->tun_fd, d->tun_name, &d->tun_offloads);
	if (rc < 0)
		return rc;
	d->tun_vnet_hdr = true;
	log_debug("TUN offloads: checksum %s, TSO %s, USO %s, coalescing on",
		  d->tun_offloads & TUN_OFFLOAD_CSUM ? "on" : "off",
		  d->tun_offloads & TUN_OFFLOAD_TSO ? "on" : "off",
		  d->tun_offloads & TUN_OFFLOAD_USO ? "on" : "off");
	return 0;
}

static int start(struct daemon *d)
{
	const struct daemon_config *cfg = d->config;
	char key_path[PATH_MAX], where[64];
	int rc, created = 0, explicit_dir = 0;

	/* 1. privileges */
	if (!have_net_admin()) {
		cli_error("serve: needs root or CAP_NET_ADMIN to create the TUN interface");
		cli_hint("run it with sudo, or grant the capability: setcap cap_net_admin+ep "
			 "$(command -v iron)");
		return -EPERM;
	}
	/* 2. key */
	rc = identity_state_dir(cfg->state_dir, d->state_dir, sizeof(d->state_dir), &explicit_dir);
	if (rc < 0) {
		cli_error("serve: cannot find the state directory: %s", identity_strerror(rc));
		cli_hint("give one with --state-dir DIR or IRON_STATE_DIR");
		return rc;
	}
	identity_key_path(d->state_dir, key_path, sizeof(key_path));
	rc = identity_load_or_create(key_path, &d->identity, &created);
	if (rc < 0) {
		cli_error("serve: %s: %s", key_path, identity_strerror(rc));
		return rc;
	}
	if (created)
		log_info("created a new node key in %s", key_path);
	addr_from_id(&d->identity.id, &d->own_addr);
	if ((size_t)snprintf(d->peers_path, sizeof(d->peers_path), "%s/known_peers.json",
			     d->state_dir) >= sizeof(d->peers_path)) {
		cli_error("serve: %s: path too long", d->state_dir);
		return -ENAMETOOLONG;
	}

	/* The control socket first: a second daemon on the same socket
	 * refuses here, before it touches ports or interfaces. */
	rc = ctl_socket_path(cfg->socket_path, explicit_dir ? d->state_dir : NULL, geteuid(),
			     d->ctl_path, sizeof(d->ctl_path));
	if (rc < 0) {
		cli_error("serve: cannot place the control socket: %s", strerror(-rc));
		cli_hint("give one with --socket PATH");
		return rc;
	}
	struct ctl_server_options co = {
	    .path = d->ctl_path,
	    .group = cfg->ctl_group,
	    .handler = daemon_ctl_handle,
	    .user = d,
	};
	rc = ctl_server_start(&d->loop, &co, &d->ctl);
	if (rc == -EADDRINUSE) {
		cli_error("serve: another iron daemon is running on %s", d->ctl_path);
		cli_hint("stop it first, or give this one its own --state-dir or --socket");
		return rc;
	}
	if (rc < 0) {
		cli_error("serve: cannot create the control socket %s: %s", d->ctl_path,
			  rc == -ENOENT && cfg->ctl_group ? "no such group" : strerror(-rc));
		return rc;
	}

	rc = registry_new(REGISTRY_DEFAULT_CAPACITY, &d->registry);
	if (rc < 0)
		return rc;
	registry_insert(d->registry, &d->identity.id, REGISTRY_PINNED, daemon_now(d));
	rc = registry_load(d->registry, d->peers_path);
	if (rc < 0 && rc != -ENOENT)
		log_warn("ignoring %s: %s", d->peers_path,
			 rc == -EINVAL ? "not a JSON array of node IDs" : strerror(-rc));

	/* 3. sockets: QUIC over UDP, then DNS */
	struct peer_table_config pc = {
	    .identity = &d->identity,
	    .idle_close_ns = IDLE_CLOSE_NS,
	    .keepalive_ns = KEEPALIVE_NS,
	};
	struct peer_callbacks pcb = {
	    .user = d,
	    .send = on_peer_send,
	    .route = on_peer_route,
	    .deliver = on_peer_packet,
	    .unreachable = on_peer_unreachable,
	    .connection = on_peer_connection,
	};
	rc = peer_table_new(&pc, &pcb, &d->peers);
	if (rc < 0) {
		cli_error("serve: cannot set up QUIC: %s", strerror(-rc));
		return rc;
	}
	struct udp_callbacks ucb = {.user = d, .recv = on_udp_recv};
	for (size_t i = 0; i < cfg->nlisten; i++) {
		rc = udp_open(&d->loop, (const struct sockaddr *)&cfg->listen[i], &ucb, &d->udp[i]);
		if (rc < 0) {
			cli_error("serve: cannot listen on UDP %s: %s",
				  udp_format_addr((const struct sockaddr *)&cfg->listen[i], where,
						  sizeof(where)),
				  strerror(-rc));
			if (rc == -EADDRINUSE)
				cli_hint("another program (another iron serve?) uses that port; "
					 "choose one with --listen");
			return rc;
		}
		d->nudp++;
	}
	add_static_peers(d, cfg->peers, cfg->npeers);
	struct dns_server_config dc = {
	    .loop = &d->loop,
	    .port = (uint16_t)cfg->dns_port,
	    .upstreams = cfg->dns_upstream,
	    .n_upstreams = cfg->nupstream,
	    .on_node = on_dns_id,
	    .user = d,
	};
	rc = dns_server_new(&dc, &d->dns);
	if (rc < 0) {
		cli_error("serve: cannot listen for DNS on 127.0.0.1:%u: %s", cfg->dns_port,
			  strerror(-rc));
		if (rc == -EADDRINUSE)
			cli_hint("choose another port with --dns-port");
		return rc;
	}

	/* 4. TUN */
	rc = open_tun(d);
	if (rc < 0) {
		cli_error("serve: cannot create the TUN interface %s: %s", cfg->tun_name,
			  strerror(-rc));
		if (rc == -EBUSY || rc == -EEXIST)
			cli_hint(
			    "an interface of that name exists; choose another with --tun-name");
		else if (rc == -ENOENT || rc == -ENODEV)
			cli_hint("load the tun module: modprobe tun");
		return rc;
	}
	rc = tun_configure(d->tun_name, &d->own_addr, ADDR_PREFIX_LEN, cfg->mtu);
	if (rc < 0) {
		cli_error("serve: cannot configure %s: %s", d->tun_name, strerror(-rc));
		return rc;
	}
	uv_poll_init(&d->loop, &d->tun_poll, d->tun_fd);
	d->tun_poll.data = d;
	uv_poll_start(&d->tun_poll, UV_READABLE, on_tun_readable);
	d->tun_poll_started = true;

	/* 5. system DNS, so every program resolves .iron names */
	if (!cfg->no_dns_config) {
		struct sysdns_options so = {
		    .root = "", .ifname = d->tun_name, .dns_port = cfg->dns_port};
		rc = sysdns_configure(&so, &d->sysdns);
		d->sysdns_configured = true;
		if (rc < 0)
			log_warn("cannot configure the system DNS for .iron: %s (resolving through "
				 "127.0.0.1:%u still works)",
				 strerror(-rc), cfg->dns_port);
		else
			log_info("system DNS for .iron: %s", sysdns_method_name(d->sysdns.method));
	}

	/* 6. loop handles */
	uv_timer_init(&d->loop, &d->peer_timer);
	d->peer_timer.data = d;
	uv_timer_init(&d->loop, &d->ping_timer);
	d->ping_timer.data = d;
	randombytes_buf(&d->ping_ident, sizeof(d->ping_ident));
	d->started_ns = daemon_now(d);
	uv_timer_init(&d->loop, &d->save_timer);
	d->save_timer.data = d;
	uv_timer_start(&d->save_timer, on_save_timer, REGISTRY_SAVE_MS, REGISTRY_SAVE_MS);
	uv_check_init(&d->loop, &d->flush_check);
	d->flush_check.data = d;
	uv_check_start(&d->flush_check, on_flush);
	uv_signal_init(&d->loop, &d->sig_int);
	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_hup);
	d->sig_int.data = d->sig_term.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
	d->handles_started = true;
	arm_peer_timer(d);

	print_identity(d);
	sdnotify("READY=1");
	return 0;
}

/* Undoes a failed start: closes what was opened, in reverse order. */
static void undo_start(struct daemon *d)
{
	if (d->sysdns_configured)
		sysdns_restore(&d->sysdns);
	d->sysdns_configured = false;
	if (d->ctl)
		ctl_server_close(d->ctl);
	d->ctl = NULL;
	for (size_t i = 0; i < d->nudp; i++)
		udp_close(d->udp[i]);
	d->nudp = 0;
	if (d->dns)
		dns_server_close(d->dns, NULL, NULL);
	d->dns = NULL;
	if (d->tun_poll_started) {
		uv_poll_stop(&d->tun_poll);
		uv_close((uv_handle_t *)&d->tun_poll, on_handle_closed);
	}
}

int daemon_run(const struct daemon_config *config)
{
	struct daemon *d = calloc(1, sizeof(*d));
	int rc, exit_code = CLI_FAIL;
	if (!d) {
		cli_error("serve: out of memory");
		return CLI_FAIL;
	}
	d->config = config;
	d->tun_fd = -1;
	ratelimit_init(&d->icmp_limit, RATELIMIT_ICMP_RATE, RATELIMIT_ICMP_BURST);
	ares_library_init(ARES_LIB_INIT_ALL);
	uv_loop_init(&d->loop);

	rc = start(d);
	if (rc < 0) {
		undo_start(d);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		goto out;
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	exit_code = CLI_OK;
	log_info("stopped");
out:
	if (d->tun_fd >= 0)
		tun_close(d->tun_fd); /* removes the interface */
	peer_table_del(d->peers);
	offload_coalescer_del(d->coalescer);
	registry_del(d->registry);
	if (uv_loop_close(&d->loop) != 0)
		log_debug("loop closed with handles left");
	identity_wipe(&d->identity);
	free(d->reload_file);
	ares_library_cleanup();
	free(d);
	return exit_code;
}
