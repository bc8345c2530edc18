#define LOG_MODULE "daemon"

#include "iron/daemon.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "iron/addr.h"
#include "iron/allow.h"
#include "iron/cli.h"
#include "iron/daemon_ctl.h"
#include "iron/dataplane.h"
#include "iron/dns_server.h"
#include "iron/heaptrim.h"
#include "iron/identity.h"
#include "iron/locator.h"
#include "iron/log.h"
#include "iron/peer.h"
#include "iron/pinger.h"
#include "iron/registry.h"
#include "iron/resolver.h"
#include "iron/service.h"
#include "iron/stream.h"
#include "iron/sysdns.h"
#include "iron/transport.h"
#include "iron/tun.h"

#define REGISTRY_SAVE_MS (60 * 1000)
/* How often the heap is looked at for freed memory to give back: each
 * second after connections closed (that is when much comes free at
 * once), else every HEAPTRIM_QUIET_TICKS seconds. The look (mallinfo2())
 * walks the heap's free lists: with 10 000 peers, a 200 MB heap, it held
 * the loop ~7 ms (issue 16). */
#define HEAPTRIM_MS	     1000
#define HEAPTRIM_QUIET_TICKS 30
#define IDLE_CLOSE_NS	     (120ull * 1000000000)
#define KEEPALIVE_NS	     (5ull * 1000000000)
/* A static peer's host name is looked up again after a failed dial, at
 * most this often. */
#define RERESOLVE_NS (5ull * 1000000000)
/* Addresses of one host name kept as candidates. */
#define STATIC_ADDRS_MAX 4

struct daemon;

/* A configured peer (--peer, the config file) and the lookup of its host
 * name, if it has one. */
struct static_peer {
	struct daemon *d;
	struct iron_id id;
	char host[DAEMON_HOST_MAX];
	uint16_t port;
	bool is_name;
	struct resolver_query *lookup; /* in flight, or NULL */
	uint64_t resolved_at;
	char relay[DAEMON_URL_MAX]; /* its relay URL, or "" */
	bool has_relay_path;
	struct netaddr relay_path; /* the placeholder of the path through it */
};

/* iroh 1.0.2's production relay map (its N0 preset), as the original. */
static const char *const default_relays[] = {
    "https://use1-1.relay.n0.iroh.link.",
    "https://usw1-1.relay.n0.iroh.link.",
    "https://euc1-1.relay.n0.iroh.link.",
    "https://aps1-1.relay.n0.iroh.link.",
};

/* `iron serve`: its parts, and the loop handles that tie them together. */
struct daemon {
	uv_loop_t loop;
	const struct daemon_config *config;
	struct iron_identity identity;
	struct in6_addr own_addr;
	char state_dir[PATH_MAX];
	char peers_path[PATH_MAX];
	char ctl_path[108];

	struct service service;
	struct registry *registry;
	struct resolver *resolver;
	struct static_peer *statics; /* 2 * DAEMON_MAX_PEERS: command line and file */
	size_t nstatics;
	struct transport *transport;
	struct peer_table *peers;
	struct locator *locator; /* NULL until started */
	struct dns_server *dns;
	struct tun_device *tun;
	struct pinger *pinger;
	struct dataplane *dataplane;
	struct daemon_ctl ctl; /* what the control commands see */

	uv_timer_t peer_timer;
	uv_idle_t peer_idle; /* instead of the timer while work is due now */
	uv_timer_t save_timer;
	uint8_t saved_digest[REGISTRY_DIGEST_LEN]; /* of known_peers.json as last read or written */
	uv_timer_t trim_timer;
	uv_check_t flush_check;
	bool handles_started;
	struct heaptrim heaptrim;
	size_t trim_connections; /* QUIC connections at the last tick */
	unsigned trim_quiet_ticks;
	bool stopping;

	struct sysdns_state sysdns;
	bool sysdns_configured;
	struct config_file *reload_file; /* the config as last (re)loaded */
	/* While a received datagram is handled: its arrival time, for the
	 * packets it carries (one clock read per datagram, not two). */
	uint64_t rx_now;
};

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* ---- wiring: transport → peers → data plane → TUN, and back ---- */

static void on_transport_quic(void *user, const struct sockaddr *local,
			      const struct sockaddr *remote, const uint8_t *data, size_t len)
{
	struct daemon *d = user;
	d->rx_now = now_ns();
	peer_table_receive(d->peers, local, remote, data, len, d->rx_now);
	d->rx_now = 0;
}

/* STUN answers go to the locator; hole-punching probes have done their
 * work by arriving (our NAT let them in) and are dropped. */
static void on_transport_other(void *user, enum transport_datagram kind,
			       const struct sockaddr *local, const struct sockaddr *remote,
			       const uint8_t *data, size_t len)
{
	struct daemon *d = user;
	(void)local;
	if (kind == TRANSPORT_STUN && d->locator)
		locator_stun_input(d->locator, remote, data, len);
}

static void on_peer_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
			 const uint8_t *data, size_t len)
{
	struct daemon *d = user;
	transport_send(d->transport, local, remote, data, len);
}

static void on_peer_flush(void *user)
{
	struct daemon *d = user;
	transport_flush(d->transport);
}

static int on_peer_route(void *user, const struct sockaddr *remote, struct netaddr *local,
			 struct netaddr *remote_out)
{
	struct daemon *d = user;
	return transport_pick_local(d->transport, remote, local, remote_out);
}

static void on_peer_packet(void *user, const struct iron_id *from, const uint8_t *pkt, size_t len)
{
	struct daemon *d = user;
	dataplane_from_peer(d->dataplane, from, pkt, len, d->rx_now ? d->rx_now : now_ns());
}

static void on_peer_unreachable(void *user, const struct iron_id *to, const uint8_t *pkt,
				size_t len)
{
	struct daemon *d = user;
	if (d->pinger && pinger_unreachable(d->pinger, to, pkt, len))
		return;
	dataplane_unreachable(d->dataplane, pkt, len, now_ns());
}

static int on_peer_lookup(void *user, const struct iron_id *peer)
{
	struct daemon *d = user;
	return d->locator ? locator_lookup(d->locator, peer) : -ENOTSUP;
}

static void on_peer_observed(void *user, const struct sockaddr *addr)
{
	struct daemon *d = user;
	if (d->locator)
		locator_observed(d->locator, addr);
}

static void on_peer_connection(void *user, const struct iron_id *peer, bool connected)
{
	struct daemon *d = user;
	/* Authenticated: it takes its address back from a name that was
	 * only asked for, or loaded from the file. */
	if (connected && registry_insert(d->registry, peer, REGISTRY_AUTHENTICATED, now_ns()) < 0)
		log_debug("a connected peer's address is taken by another node");
	if (connected)
		transport_relay_peer_known(d->transport, peer);
	registry_set_connected(d->registry, peer, connected);
}

static void on_tun_packet(void *user, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct daemon *d = user;
	dataplane_from_tun(d->dataplane, pkt, len, now);
}

static int on_pinger_send(void *user, const struct iron_id *peer, const uint8_t *pkt, size_t len,
			  uint64_t now)
{
	struct daemon *d = user;
	return peer_table_send(d->peers, peer, pkt, len, now);
}

static void on_dns_id(void *user, const struct iron_id *id)
{
	struct daemon *d = user;
	if (registry_insert(d->registry, id, 0, now_ns()) < 0)
		log_debug("a resolved name's address is taken by another node");
}

/* ---- timers and the flush ---- */

static void on_peer_timer(uv_timer_t *timer);
static void on_peer_idle(uv_idle_t *idle);

/* The QUIC timers (loss detection and probes, ACK delay, pacing,
 * keep-alive, idle and handshake timeouts) and peer housekeeping all run
 * from this one timer. uv_timer_start() needs the callback every time:
 * with NULL it fails with UV_EINVAL and leaves the timer stopped.
 *
 * Work due now (connections left to write, handshakes waiting for their
 * turn) runs from an idle handle instead: once per loop iteration, with
 * a poll for I/O in between. A timer of 0 ms started from its own
 * callback runs again at once in libuv 1.44 (libuv issue 4245, fixed in
 * 1.48), so the loop did not poll until all the work was done: with a
 * queue of handshakes, an established peer's packets waited 5-10 ms. */
static void arm_peer_timer(struct daemon *d)
{
	uint64_t next = peer_table_next_expiry(d->peers);
	uint64_t now = now_ns();
	if (next <= now) {
		uv_timer_stop(&d->peer_timer);
		uv_idle_start(&d->peer_idle, on_peer_idle);
		return;
	}
	uv_idle_stop(&d->peer_idle);
	uint64_t ms = next == UINT64_MAX ? 1000 : (next - now + 999999) / 1000000;
	uv_timer_start(&d->peer_timer, on_peer_timer, ms, 0);
}

/* Writes what was produced, in batches, and re-arms the QUIC timer. */
static void flush_and_arm(struct daemon *d)
{
	if (d->stopping)
		return;
	/* Packets only reach the TUN from this iteration's callbacks, so
	 * nothing held waits past it (a ping reply included). */
	tun_device_flush(d->tun);
	peer_table_flush(d->peers, now_ns());
	transport_flush(d->transport);
	arm_peer_timer(d);
}

/* Flushes and re-arms by itself: libuv computes the poll timeout before
 * the check phase, so what a timer left to on_flush (the probes it wrote,
 * the next expiry) would wait for the next I/O event. */
static void peer_work(struct daemon *d)
{
	peer_table_timer(d->peers, now_ns());
	flush_and_arm(d);
}

static void on_peer_timer(uv_timer_t *timer)
{
	peer_work(timer->data);
}

static void on_peer_idle(uv_idle_t *idle)
{
	peer_work(idle->data);
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
 * holds are written first (tun_device_flush), for the same reason. */
static void on_flush(uv_check_t *check)
{
	struct daemon *d = check->data;
	if (!d->stopping && tun_device_flush(d->tun))
		tun_device_read(d->tun);
	flush_and_arm(d);
}

/* ---- registry persistence ---- */

static void save_registry(struct daemon *d)
{
	/* Every minute, but only when it changed: an idle node leaves the
	 * disk alone. */
	int rc = registry_save_changed(d->registry, d->peers_path, d->saved_digest);
	if (rc < 0)
		log_warn("cannot save %s: %s", d->peers_path, strerror(-rc));
}

static void on_save_timer(uv_timer_t *timer)
{
	save_registry(timer->data);
}

/* Memory freed in a burst (many peers' connections closing) goes back to
 * the system (heaptrim.h). */
static void on_trim_timer(uv_timer_t *timer)
{
	struct daemon *d = timer->data;
	struct quic_endpoint_stats qs;
	peer_table_get_quic_stats(d->peers, &qs);
	bool closed = qs.connections < d->trim_connections;
	d->trim_connections = qs.connections;
	if (!closed && ++d->trim_quiet_ticks < HEAPTRIM_QUIET_TICKS)
		return;
	d->trim_quiet_ticks = 0;
	if (heaptrim_check(&d->heaptrim))
		log_debug("gave freed heap memory back to the system");
}

/* ---- static peers ---- */

/* Gives the peer table a static peer's candidates: its direct addresses
 * and its relay path. */
static int set_static_paths(struct static_peer *sp, const struct netaddr *addrs, size_t n)
{
	struct netaddr all[STATIC_ADDRS_MAX + 1];
	if (n > STATIC_ADDRS_MAX)
		n = STATIC_ADDRS_MAX;
	if (n)
		memcpy(all, addrs, n * sizeof(all[0]));
	if (sp->has_relay_path)
		all[n++] = sp->relay_path;
	return peer_table_set_static(sp->d->peers, &sp->id, all, n);
}

static void on_static_resolved(void *user, int status, const struct netaddr *addrs, size_t n)
{
	struct static_peer *sp = user;
	char name[IRON_ID_BASE32_LEN + 1];
	sp->lookup = NULL;
	if (status == -ECANCELED)
		return;
	id_to_base32(&sp->id, name);
	if (status < 0) {
		log_warn("peer %s: cannot resolve %s: %s; it is reachable only when it connects",
			 name, sp->host, resolver_strerror(status));
		return;
	}
	int rc = set_static_paths(sp, addrs, n);
	if (rc < 0)
		log_warn("peer %s: cannot add the addresses of %s: %s", name, sp->host,
			 strerror(-rc));
	else
		log_debug("peer %s: %s has %zu address%s", name, sp->host, n, n == 1 ? "" : "es");
}

/* Gives the peer table a static peer's address: at once for a numeric
 * host, through the resolver for a name (without blocking the loop). */
static void resolve_static(struct static_peer *sp)
{
	char name[IRON_ID_BASE32_LEN + 1];
	struct netaddr addr;
	id_to_base32(&sp->id, name);
	if (sp->lookup)
		resolver_cancel(sp->lookup);
	sp->resolved_at = now_ns();
	if (!sp->host[0]) {
		sp->is_name = false;
		if (set_static_paths(sp, NULL, 0) < 0)
			log_warn("peer %s: cannot add its relay path", name);
		return;
	}
	if (netaddr_parse_host(sp->host, sp->port, &addr) == 0) {
		sp->is_name = false;
		if (set_static_paths(sp, &addr, 1) < 0)
			log_warn("peer %s: cannot add %s", name, sp->host);
		return;
	}
	sp->is_name = true;
	int rc = resolver_lookup_host(sp->d->resolver, sp->host, sp->port, on_static_resolved, sp,
				      &sp->lookup);
	if (rc < 0)
		log_warn("peer %s: cannot look up %s: %s", name, sp->host, resolver_strerror(rc));
}

/* A dial failed: a static peer known by a name may have moved. */
static void on_peer_dial_failed(void *user, const struct iron_id *peer)
{
	struct daemon *d = user;
	for (size_t i = 0; i < d->nstatics; i++) {
		struct static_peer *sp = &d->statics[i];
		if (!id_equal(&sp->id, peer) || !sp->is_name || sp->lookup)
			continue;
		if (now_ns() - sp->resolved_at >= RERESOLVE_NS)
			resolve_static(sp);
	}
}

/* Starts (or finds) the relay client for a URL already checked: one of
 * the relay map (in_map), or one a peer is reached through. */
static int add_relay(struct daemon *d, const char *text, bool in_map, uint32_t *number)
{
	struct relay_url url;
	char err[300];
	int rc = relay_url_parse(text, &url, err, sizeof(err));
	if (rc < 0)
		return rc;
	if (in_map)
		return transport_add_relay(d->transport, &d->loop, d->resolver, &d->identity, &url,
					   number);
	return transport_add_peer_relay(d->transport, &d->loop, d->resolver, &d->identity, &url,
					number);
}

/* Adds (or updates) the static peers of the configuration. On reload a
 * peer removed from the file stays known until the daemon restarts; its
 * connection lives on. */
static void add_static_peers(struct daemon *d, const struct daemon_peer_config *peers,
			     size_t npeers)
{
	for (size_t i = 0; i < npeers; i++) {
		char name[IRON_ID_BASE32_LEN + 1];
		struct static_peer *sp = NULL;
		id_to_base32(&peers[i].id, name);
		if (registry_insert(d->registry, &peers[i].id, REGISTRY_PINNED, now_ns()) < 0)
			log_warn("peer %s: its address is taken by another node", name);
		for (size_t j = 0; j < d->nstatics && !sp; j++)
			if (id_equal(&d->statics[j].id, &peers[i].id))
				sp = &d->statics[j];
		if (!sp) {
			if (d->nstatics == 2 * DAEMON_MAX_PEERS) {
				log_warn("peer %s: too many static peers", name);
				continue;
			}
			sp = &d->statics[d->nstatics++];
			*sp = (struct static_peer){.d = d, .id = peers[i].id};
		} else if (strcmp(sp->host, peers[i].host) == 0 && sp->port == peers[i].port &&
			   strcmp(sp->relay, peers[i].relay) == 0 && sp->resolved_at != 0) {
			continue; /* unchanged */
		}
		snprintf(sp->host, sizeof(sp->host), "%s", peers[i].host);
		sp->port = peers[i].port;
		snprintf(sp->relay, sizeof(sp->relay), "%s", peers[i].relay);
		sp->has_relay_path = false;
		if (sp->relay[0]) {
			uint32_t number;
			int rc = add_relay(d, sp->relay, false, &number);
			if (rc == 0)
				rc = transport_relay_path(d->transport, number, &sp->id, true,
							  &sp->relay_path);
			if (rc == 0)
				sp->has_relay_path = true;
			else
				log_warn("peer %s: cannot use relay %s: %s", name, sp->relay,
					 strerror(-rc));
		}
		resolve_static(sp);
	}
}

/* The inbound policy (README "Who can reach your node"): *out NULL when
 * open, else the allow-list of the --allow and [Allow] IDs and the static
 * peers. file: a file just reloaded, whose [Allow] and [Peer] replace the
 * start-up file's (merged into cfg), or NULL at start. Returns 0 or
 * -ENOMEM. */
static int build_allow(const struct daemon_config *cfg, const struct config_file *file,
		       struct allow_list **out)
{
	size_t nids = file ? cfg->nallow_cli : cfg->nallow;
	bool on = file ? cfg->nallow_cli > 0 || (file->set & CONFIG_ALLOW) : cfg->allow_on;
	size_t capacity = nids + cfg->npeers + (file ? file->nallow + file->npeers : 0);
	struct allow_list *list;
	int rc;

	*out = NULL;
	if (!on)
		return 0;
	rc = allow_list_new(capacity, &list);
	if (rc < 0)
		return rc;
	/* Sized for every ID below, so no add can fail. */
	for (size_t i = 0; i < nids; i++)
		allow_list_add(list, &cfg->allow[i]);
	for (size_t i = 0; i < cfg->npeers; i++)
		if (!file || cfg->peers[i].from_cli)
			allow_list_add(list, &cfg->peers[i].id);
	for (size_t i = 0; file && i < file->nallow; i++)
		allow_list_add(list, &file->allow[i]);
	for (size_t i = 0; file && i < file->npeers; i++)
		allow_list_add(list, &file->peers[i].id);
	*out = list;
	return 0;
}

static void describe_allow(const struct allow_list *list, char *out, size_t cap)
{
	if (!list)
		snprintf(out, cap, "open (any node may connect)");
	else
		snprintf(out, cap, "allow-list (%zu node%s)", allow_list_count(list),
			 allow_list_count(list) == 1 ? "" : "s");
}

/* The relay map: the command line's, else the config file's (file may be
 * NULL: the merged configuration holds it), else n0's. Returns how many
 * URLs went into urls. */
static size_t relay_map(const struct daemon_config *cfg, const struct config_file *file,
			const char *urls[DAEMON_MAX_RELAYS])
{
	size_t n = 0;
	if ((cfg->cli_set & CONFIG_RELAYS) || (!file && cfg->relays_set)) {
		for (; n < cfg->nrelays; n++)
			urls[n] = cfg->relays[n];
	} else if (file && (file->set & CONFIG_RELAYS)) {
		for (; n < file->nrelays; n++)
			urls[n] = file->relays[n];
	} else {
		for (; n < sizeof(default_relays) / sizeof(default_relays[0]); n++)
			urls[n] = default_relays[n];
	}
	return n;
}

/* SIGHUP: makes the relay map the file's (unless the command line set
 * it): new relays start, relays no longer in it (and used by no static
 * peer) stop. */
static void reload_relays(struct daemon *d, const struct config_file *file)
{
	const char *urls[DAEMON_MAX_RELAYS];
	bool keep[TRANSPORT_MAX_RELAYS] = {false};
	uint32_t number, slot;
	size_t n = relay_map(d->config, file, urls);
	for (size_t i = 0; i < n; i++) {
		int rc = add_relay(d, urls[i], true, &number);
		if (rc < 0)
			log_warn("SIGHUP: cannot use relay %s: %s", urls[i], strerror(-rc));
		else
			keep[number - 1] = true;
	}
	for (size_t i = 0; i < d->nstatics; i++)
		if (d->statics[i].has_relay_path &&
		    netaddr_relay_parts(&d->statics[i].relay_path.sa, &number, &slot) == 0 &&
		    number >= 1 && number <= TRANSPORT_MAX_RELAYS)
			keep[number - 1] = true;
	for (size_t i = 0; i < transport_relay_count(d->transport); i++) {
		struct relay_client_info ri;
		if (keep[i] || !transport_relay_in_map(d->transport, (uint32_t)i + 1) ||
		    !transport_relay_info(d->transport, i, &ri))
			continue;
		log_info("SIGHUP: relay %s is no longer in the map", ri.url->text);
		transport_remove_relay(d->transport, (uint32_t)i + 1);
	}
}

/* SIGHUP: reloads the config file's peers, relay map and log levels.
 * Connections are kept; a file that does not parse changes nothing. */
static void on_reload(void *user)
{
	struct daemon *d = user;
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
	struct allow_list *allow;
	char inbound[64];
	if (build_allow(cfg, file, &allow) < 0) {
		log_warn("SIGHUP: out of memory; keeping the old configuration");
		free(file);
		return;
	}
	daemon_apply_log_settings(cfg, file);
	add_static_peers(d, cfg->peers, cfg->npeers); /* the command line's */
	add_static_peers(d, file->peers, file->npeers);
	reload_relays(d, file);
	/* Last: peers removed from the allow-list lose their connections. */
	describe_allow(allow, inbound, sizeof(inbound));
	peer_table_set_allow(d->peers, allow, now_ns());
	free(d->reload_file);
	d->reload_file = file;
	log_info("SIGHUP: reloaded %s (%zu peers; inbound: %s)", cfg->config_path, file->npeers,
		 inbound);
}

/* ---- shutdown ---- */

static void close_if_active(uv_handle_t *handle)
{
	if (!uv_is_closing(handle))
		uv_close(handle, NULL);
}

/* Closes every part that is open, in the order that lets each still reach
 * what it needs: pings are answered before the control socket closes,
 * the system DNS is restored while the TUN still exists. Used by a normal
 * stop and by a failed start alike; the loop then runs dry. */
static void close_parts(struct daemon *d)
{
	d->stopping = true;
	d->ctl.stopping = true;
	pinger_del(d->pinger); /* fails pings in flight on the control socket */
	d->pinger = NULL;
	locator_del(d->locator);
	d->locator = NULL;
	service_stop(&d->service);
	resolver_del(d->resolver);
	d->resolver = NULL;
	if (d->sysdns_configured) {
		sysdns_restore(&d->sysdns);
		d->sysdns_configured = false;
	}
	tun_device_close(d->tun);
	d->tun = NULL;
	transport_del(d->transport);
	d->transport = NULL;
	if (d->dns)
		dns_server_close(d->dns, NULL, NULL);
	d->dns = NULL;
	if (d->handles_started) {
		close_if_active((uv_handle_t *)&d->peer_timer);
		close_if_active((uv_handle_t *)&d->peer_idle);
		close_if_active((uv_handle_t *)&d->save_timer);
		close_if_active((uv_handle_t *)&d->trim_timer);
		close_if_active((uv_handle_t *)&d->flush_check);
	}
}

static void on_stop(void *user, const char *why)
{
	struct daemon *d = user;
	if (d->stopping)
		return;
	d->stopping = true;
	d->ctl.stopping = true;
	log_info("%s: shutting down", why);
	/* Tell every peer at once, rather than letting them time out. */
	peer_table_shutdown(d->peers, now_ns());
	transport_flush(d->transport);
	save_registry(d);
	close_parts(d);
}

void daemon_apply_log_settings(const struct daemon_config *config, const struct config_file *file)
{
	const char *filter = NULL;
	enum log_level level;
	config_log_settings(file, config->cli_log_level, config->log_env, &level, &filter);
	if (log_configure(level, filter) != 0)
		log_warn("cannot parse the log filter '%s'; keeping the old one", filter);
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
	char ip[ADDR_STR_SIZE], where[NETADDR_STR_SIZE];
	id_to_hex(&d->identity.id, hex);
	id_to_base32(&d->identity.id, b32);
	id_to_domain(&d->identity.id, dom);
	addr_format(&d->own_addr, ip);
	printf("iron %s is up\n", "serve");
	printf("  node id (hex)    %s\n", hex);
	printf("  node id (base32) %s\n", b32);
	printf("  domain           %s\n", dom);
	printf("  ipv6             %s\n", ip);
	printf("  tun              %s (mtu %u)\n", tun_device_name(d->tun), d->config->mtu);
	for (size_t i = 0; i < transport_local_count(d->transport); i++)
		printf("  listen           %s (udp)\n",
		       netaddr_format(transport_local(d->transport, i), where, sizeof(where)));
	printf("  dns              127.0.0.1:%u, [::1]:%u, [fd69:726f:0:1::53]:53\n",
	       d->config->dns_port, d->config->dns_port);
	printf("  control          %s\n", d->ctl_path);
	describe_allow(peer_table_allow(d->peers), where, sizeof(where));
	printf("  inbound          %s\n", where);
	fflush(stdout);
}

/* The key, the state directory and the control socket. */
static int start_identity_and_control(struct daemon *d)
{
	const struct daemon_config *cfg = d->config;
	char key_path[PATH_MAX];
	int rc, created = 0, explicit_dir = 0;

	if (!have_net_admin()) {
		cli_error("serve: needs root or CAP_NET_ADMIN to create the TUN interface");
		cli_hint("run it with sudo, or grant the capability: setcap cap_net_admin+ep "
			 "$(command -v iron)");
		return -EPERM;
	}
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
	rc = service_open_control(&d->service, &d->loop, d->ctl_path, cfg->ctl_group,
				  daemon_ctl_handle, &d->ctl);
	if (rc == -EADDRINUSE) {
		cli_error("serve: another iron daemon is running on %s", d->ctl_path);
		cli_hint("stop it first, or give this one its own --state-dir or --socket");
		return rc;
	}
	if (rc < 0) {
		cli_error("serve: cannot create the control socket %s: %s", d->ctl_path,
			  service_control_error(rc, cfg->ctl_group));
		return rc;
	}
	return 0;
}

/* QUIC over UDP, then DNS. */
static int start_network(struct daemon *d)
{
	const struct daemon_config *cfg = d->config;
	char where[NETADDR_STR_SIZE];
	int rc;

	d->statics = calloc(2 * DAEMON_MAX_PEERS, sizeof(*d->statics));
	if (!d->statics) {
		cli_error("serve: out of memory");
		return -ENOMEM;
	}
	rc = resolver_new(&d->loop, NULL, &d->resolver);
	if (rc < 0) {
		cli_error("serve: cannot set up the DNS resolver: %s", resolver_strerror(rc));
		return rc;
	}
	const struct transport_callbacks tcb = {
	    .user = d, .quic = on_transport_quic, .other = on_transport_other};
	rc = transport_new(&d->loop, &tcb, &d->transport);
	if (rc < 0) {
		cli_error("serve: cannot set up the transport: %s", strerror(-rc));
		return rc;
	}
	if (cfg->relay_slots && transport_set_relay_slots(d->transport, cfg->relay_slots) < 0)
		log_warn("IRON_RELAY_SLOTS=%u ignored: 1 to 8192", cfg->relay_slots);
	const struct peer_table_config pc = {
	    .identity = &d->identity,
	    .idle_close_ns = IDLE_CLOSE_NS,
	    .keepalive_ns = KEEPALIVE_NS,
	    .quic_retry_always = cfg->quic_retry_always,
	};
	const struct peer_callbacks pcb = {
	    .user = d,
	    .send = on_peer_send,
	    .flush = on_peer_flush,
	    .route = on_peer_route,
	    .deliver = on_peer_packet,
	    .unreachable = on_peer_unreachable,
	    .connection = on_peer_connection,
	    .dial_failed = on_peer_dial_failed,
	    .lookup = on_peer_lookup,
	    .observed = on_peer_observed,
	};
	rc = peer_table_new(&pc, &pcb, &d->peers);
	if (rc < 0) {
		cli_error("serve: cannot set up QUIC: %s", strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		rc = transport_listen(d->transport, &cfg->listen[i].sa);
		if (rc < 0) {
			cli_error("serve: cannot listen on UDP %s: %s",
				  netaddr_format(&cfg->listen[i].sa, where, sizeof(where)),
				  strerror(-rc));
			if (rc == -EADDRINUSE)
				cli_hint("another program (another iron serve?) uses that port; "
					 "choose one with --listen");
			return rc;
		}
	}
	if (cfg->ca_file && *cfg->ca_file) {
		char err[300];
		rc = stream_client_add_ca_file(cfg->ca_file, err, sizeof(err));
		if (rc < 0) {
			cli_error("serve: SSL_CERT_FILE: %s", err);
			return rc;
		}
	}
	const char *urls[DAEMON_MAX_RELAYS];
	size_t nrelays = relay_map(cfg, NULL, urls);
	for (size_t i = 0; i < nrelays; i++) {
		uint32_t number;
		rc = add_relay(d, urls[i], true, &number);
		if (rc < 0) {
			cli_error("serve: cannot use relay %s: %s", urls[i], strerror(-rc));
			return rc;
		}
	}
	add_static_peers(d, cfg->peers, cfg->npeers);
	struct allow_list *allow;
	rc = build_allow(cfg, NULL, &allow);
	if (rc < 0) {
		cli_error("serve: out of memory");
		return rc;
	}
	peer_table_set_allow(d->peers, allow, now_ns());
	const struct dns_server_config dc = {
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
	return 0;
}

/* The TUN, and the data plane that feeds it. */
static int start_tunnel(struct daemon *d)
{
	const struct daemon_config *cfg = d->config;
	const struct tun_callbacks tcb = {.user = d, .packet = on_tun_packet};
	int rc = tun_device_open(&d->loop, cfg->tun_name, cfg->tun_offload, &tcb, &d->tun);
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
	rc = tun_configure(tun_device_name(d->tun), &d->own_addr, ADDR_PREFIX_LEN, cfg->mtu);
	if (rc < 0) {
		cli_error("serve: cannot configure %s: %s", tun_device_name(d->tun), strerror(-rc));
		return rc;
	}
	rc = pinger_new(&d->loop, &d->own_addr, on_pinger_send, d, &d->pinger);
	if (rc == 0) {
		const struct dataplane_config dpc = {
		    .own = d->own_addr,
		    .tun = d->tun,
		    .peers = d->peers,
		    .registry = d->registry,
		    .dns = d->dns,
		    .pinger = d->pinger,
		};
		rc = dataplane_new(&dpc, &d->dataplane);
	}
	if (rc == 0)
		rc = tun_device_start(d->tun);
	if (rc < 0) {
		cli_error("serve: cannot start the data plane: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* Publishing this node's addresses, looking peers up by ID, the LAN. */
static int start_discovery(struct daemon *d)
{
	const struct daemon_config *cfg = d->config;
	const struct locator_config lc = {
	    .loop = &d->loop,
	    .resolver = d->resolver,
	    .identity = &d->identity,
	    .transport = d->transport,
	    .peers = d->peers,
	    .pkarr_url = cfg->pkarr_url_set ? cfg->pkarr_url : DAEMON_DEFAULT_PKARR_URL,
	    .dns_origin = cfg->dns_origin_set ? cfg->dns_origin : DAEMON_DEFAULT_DNS_ORIGIN,
	    .lan = !cfg->no_lan_discovery,
	    .tun_name = tun_device_name(d->tun),
	    .stun = cfg->stun,
	    .nstun = cfg->nstun,
	    .stun_set = cfg->stun_set,
	    .port_mapping = !cfg->no_port_mapping,
	};
	int rc = locator_new(&lc, &d->locator);
	if (rc < 0) {
		cli_error("serve: cannot set up discovery: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* So that every program resolves .iron names. */
static void configure_system_dns(struct daemon *d)
{
	const struct daemon_config *cfg = d->config;
	if (cfg->no_dns_config)
		return;
	struct sysdns_options so = {
	    .root = "", .ifname = tun_device_name(d->tun), .dns_port = cfg->dns_port};
	int rc = sysdns_configure(&so, &d->sysdns);
	d->sysdns_configured = true;
	if (rc < 0)
		log_warn("cannot configure the system DNS for .iron: %s (resolving through "
			 "127.0.0.1:%u still works)",
			 strerror(-rc), cfg->dns_port);
	else
		log_info("system DNS for .iron: %s", sysdns_method_name(d->sysdns.method));
}

static int start_loop_handles(struct daemon *d)
{
	int rc = uv_timer_init(&d->loop, &d->peer_timer);
	if (rc == 0)
		rc = uv_idle_init(&d->loop, &d->peer_idle);
	if (rc == 0)
		rc = uv_timer_init(&d->loop, &d->save_timer);
	if (rc == 0)
		rc = uv_timer_init(&d->loop, &d->trim_timer);
	if (rc == 0)
		rc = uv_check_init(&d->loop, &d->flush_check);
	if (rc < 0) {
		cli_error("serve: cannot set up the event loop: %s", uv_strerror(rc));
		return rc;
	}
	d->handles_started = true;
	d->peer_timer.data = d->peer_idle.data = d->save_timer.data = d->trim_timer.data =
	    d->flush_check.data = d;
	heaptrim_init(&d->heaptrim);
	rc = uv_timer_start(&d->save_timer, on_save_timer, REGISTRY_SAVE_MS, REGISTRY_SAVE_MS);
	if (rc == 0)
		rc = uv_timer_start(&d->trim_timer, on_trim_timer, HEAPTRIM_MS, HEAPTRIM_MS);
	if (rc == 0)
		rc = uv_check_start(&d->flush_check, on_flush);
	if (rc == 0) {
		const struct service_callbacks scb = {
		    .user = d, .stop = on_stop, .reload = on_reload};
		rc = service_watch_signals(&d->service, &scb);
	}
	if (rc < 0) {
		cli_error("serve: cannot set up the event loop: %s", uv_strerror(rc));
		return rc;
	}
	arm_peer_timer(d);
	return 0;
}

static int start(struct daemon *d)
{
	int rc = start_identity_and_control(d);
	if (rc < 0)
		return rc;
	rc = registry_new(REGISTRY_DEFAULT_CAPACITY, &d->registry);
	if (rc < 0) {
		cli_error("serve: out of memory");
		return rc;
	}
	if (registry_insert(d->registry, &d->identity.id, REGISTRY_PINNED, now_ns()) < 0)
		return -ENOMEM;
	rc = registry_load(d->registry, d->peers_path);
	if (rc < 0 && rc != -ENOENT)
		log_warn("ignoring %s: %s", d->peers_path, registry_strerror(rc));
	else if (rc == 0 && access(d->peers_path, F_OK) == 0)
		registry_digest(d->registry, d->saved_digest); /* what is on disk already */
	if ((rc = start_network(d)) < 0 || (rc = start_tunnel(d)) < 0 ||
	    (rc = start_discovery(d)) < 0)
		return rc;
	configure_system_dns(d);
	d->ctl = (struct daemon_ctl){
	    .identity = &d->identity,
	    .config = d->config,
	    .tun = d->tun,
	    .transport = d->transport,
	    .peers = d->peers,
	    .locator = d->locator,
	    .registry = d->registry,
	    .dns = d->dns,
	    .pinger = d->pinger,
	    .dataplane = d->dataplane,
	    .started_ns = now_ns(),
	};
	if ((rc = start_loop_handles(d)) < 0)
		return rc;
	print_identity(d);
	service_ready(&d->service);
	return 0;
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
	rc = uv_loop_init(&d->loop);
	if (rc < 0) {
		cli_error("serve: cannot create the event loop: %s", uv_strerror(rc));
		free(d);
		return CLI_FAIL;
	}

	rc = start(d);
	if (rc < 0) {
		close_parts(d); /* what a failed start opened */
		uv_run(&d->loop, UV_RUN_DEFAULT);
	} else {
		uv_run(&d->loop, UV_RUN_DEFAULT);
		exit_code = CLI_OK;
		log_info("stopped");
	}
	peer_table_del(d->peers);
	dataplane_del(d->dataplane);
	registry_del(d->registry);
	if (uv_loop_close(&d->loop) != 0)
		log_debug("loop closed with handles left");
	identity_wipe(&d->identity);
	free(d->reload_file);
	free(d->statics);
	free(d);
	return exit_code;
}
