#define LOG_MODULE "locator"

#include "iron/locator.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iron/log.h"
#include "iron/netwatch.h"
#include "iron/punch.h"
#include "iron/relay_client.h"
#include "iron/stun.h"

#include <sodium.h>

/* Paths from a record without a usable TTL live this long (s). */
#define LOCATOR_MIN_TTL 30
#define STUN_PORT	3478
/* STUN: how often to ask (ms): until an answer, then to keep the NAT's
 * mapping and our knowledge of it fresh; an answer is good for this long. */
#define STUN_EARLY_MS	 3000
#define STUN_INTERVAL_MS 25000
#define STUN_VALID_MS	 120000
/* A peer tells where it sees us when a connection starts or moves; one
 * told is kept this long (or until a newer one takes its place). */
#define OBSERVED_VALID_MS 600000
#define STUN_MAX_TARGETS                                                                           \
	(DAEMON_MAX_STUN > TRANSPORT_MAX_RELAYS ? DAEMON_MAX_STUN : TRANSPORT_MAX_RELAYS)

struct locator;

/* A STUN server being asked. */
struct stun_target {
	struct locator *l;
	char host[DAEMON_HOST_MAX];
	uint16_t port;
	struct resolver_query *lookup;
	uint8_t txid[STUN_TXID_LEN];
	bool sent;
};

struct reflexive {
	struct netaddr addr;
	uint64_t seen_ms;
};

struct locator {
	struct locator_config config;
	char pkarr_url[PKARR_URL_MAX];
	char dns_origin[256];
	struct discovery *discovery; /* NULL: no pkarr, no DNS origin */
	struct lan *lan;	     /* NULL: off */
	uv_timer_t check;
	bool check_started;
	struct pkarr_record published;
	bool published_once;
	uint64_t lan_nodes;
	struct stun_target stun[STUN_MAX_TARGETS];
	size_t nstun;
	uint64_t stun_next_ms;
	struct reflexive reflexive[LOCATOR_MAX_REFLEXIVE];
	struct reflexive observed[LOCATOR_MAX_OBSERVED]; /* told by peers */
	uint64_t stun_sent, stun_answers;
	struct portmap *portmap;   /* NULL: off, or no gateway */
	struct netwatch *netwatch; /* NULL: no events, only the periodic check */
	uint64_t network_changes;
};

/* ---- STUN ---- */

static void on_check(uv_timer_t *timer);

static void on_stun_resolved(void *user, int status, const struct netaddr *addrs, size_t n)
{
	struct stun_target *st = user;
	struct locator *l = st->l;
	uint8_t req[STUN_HEADER_LEN];
	struct netaddr local, remote;
	st->lookup = NULL;
	if (status < 0 || n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (transport_pick_local(l->config.transport, &addrs[i].sa, &local, &remote) < 0)
			continue;
		randombytes_buf(st->txid, sizeof(st->txid));
		size_t len = stun_write_binding_request(req, st->txid);
		if (transport_send(l->config.transport, &local.sa, &remote.sa, req, len) == 0) {
			st->sent = true;
			l->stun_sent++;
			transport_flush(l->config.transport);
		}
		return; /* one address per server */
	}
}

/* The servers to ask: the configured ones, else each relay of the map. */
static void stun_targets(struct locator *l)
{
	size_t n = 0;
	if (l->config.stun_set) {
		for (size_t i = 0; i < l->config.nstun && n < STUN_MAX_TARGETS; i++) {
			const char *text = l->config.stun[i], *colon = strrchr(text, ':');
			size_t hl = (size_t)(colon - text);
			struct stun_target *st = &l->stun[n];
			if (text[0] == '[' && hl >= 2 && text[hl - 1] == ']')
				snprintf(st->host, sizeof(st->host), "%.*s", (int)(hl - 2),
					 text + 1);
			else
				snprintf(st->host, sizeof(st->host), "%.*s", (int)hl, text);
			st->port = (uint16_t)atoi(colon + 1);
			n++;
		}
	} else {
		size_t nr = transport_relay_count(l->config.transport);
		for (size_t i = 0; i < nr && n < STUN_MAX_TARGETS; i++) {
			struct relay_client_info ri;
			if (!transport_relay_in_map(l->config.transport, (uint32_t)i + 1) ||
			    !transport_relay_info(l->config.transport, i, &ri))
				continue;
			snprintf(l->stun[n].host, sizeof(l->stun[n].host), "%s", ri.url->host);
			l->stun[n].port = STUN_PORT;
			n++;
		}
	}
	for (size_t i = n; i < l->nstun; i++)
		if (l->stun[i].lookup) {
			resolver_cancel(l->stun[i].lookup);
			l->stun[i].lookup = NULL;
		}
	l->nstun = n;
}

static void stun_round(struct locator *l)
{
	uint64_t now = uv_now(l->config.loop);
	if (now < l->stun_next_ms)
		return;
	bool answered = false;
	for (size_t i = 0; i < LOCATOR_MAX_REFLEXIVE; i++)
		answered |= l->reflexive[i].seen_ms != 0;
	l->stun_next_ms = now + (answered ? STUN_INTERVAL_MS : STUN_EARLY_MS);
	stun_targets(l);
	for (size_t i = 0; i < l->nstun; i++) {
		struct stun_target *st = &l->stun[i];
		st->l = l;
		if (st->lookup)
			continue;
		if (resolver_lookup_host(l->config.resolver, st->host, st->port, on_stun_resolved,
					 st, &st->lookup) < 0)
			st->lookup = NULL;
	}
}

void locator_stun_input(struct locator *l, const struct sockaddr *remote, const uint8_t *data,
			size_t len)
{
	struct stun_message m;
	(void)remote;
	if (stun_parse(data, len, &m) != 0 || m.type != STUN_BINDING_SUCCESS || !m.has_mapped)
		return;
	size_t i = 0;
	while (i < l->nstun &&
	       !(l->stun[i].sent && memcmp(l->stun[i].txid, m.txid, STUN_TXID_LEN) == 0))
		i++;
	if (i == l->nstun)
		return; /* not an answer to us */
	l->stun[i].sent = false;
	l->stun_answers++;
	struct netaddr mapped;
	if (netaddr_canonical(&m.mapped.sa, &mapped) < 0)
		return;
	uint64_t now = uv_now(l->config.loop);
	/* One per family: the newest. */
	size_t slot = LOCATOR_MAX_REFLEXIVE;
	for (size_t k = 0; k < LOCATOR_MAX_REFLEXIVE && slot == LOCATOR_MAX_REFLEXIVE; k++)
		if (l->reflexive[k].seen_ms &&
		    l->reflexive[k].addr.sa.sa_family == mapped.sa.sa_family)
			slot = k;
	for (size_t k = 0; k < LOCATOR_MAX_REFLEXIVE && slot == LOCATOR_MAX_REFLEXIVE; k++)
		if (!l->reflexive[k].seen_ms)
			slot = k;
	if (slot == LOCATOR_MAX_REFLEXIVE)
		slot = 0;
	bool changed =
	    !l->reflexive[slot].seen_ms || !netaddr_equal(&l->reflexive[slot].addr.sa, &mapped.sa);
	l->reflexive[slot].addr = mapped;
	l->reflexive[slot].seen_ms = now;
	if (changed) {
		char where[NETADDR_STR_SIZE];
		log_info("a STUN server sees this node at %s",
			 netaddr_format(&mapped.sa, where, sizeof(where)));
		l->stun_next_ms = now + STUN_INTERVAL_MS;
		uv_timer_start(&l->check, on_check, 0, LOCATOR_CHECK_MS);
	}
}

void locator_observed(struct locator *l, const struct sockaddr *addr)
{
	struct netaddr a;
	uint64_t now = uv_now(l->config.loop);
	if (netaddr_canonical(addr, &a) < 0 || netaddr_is_relay(&a.sa) || netaddr_port(&a.sa) == 0)
		return;
	/* The same refreshed, else the oldest replaced. */
	size_t slot = 0;
	for (size_t k = 0; k < LOCATOR_MAX_OBSERVED; k++) {
		if (l->observed[k].seen_ms && netaddr_equal(&l->observed[k].addr.sa, &a.sa)) {
			l->observed[k].seen_ms = now;
			return;
		}
		if (l->observed[k].seen_ms < l->observed[slot].seen_ms)
			slot = k;
	}
	l->observed[slot].addr = a;
	l->observed[slot].seen_ms = now;
	char where[NETADDR_STR_SIZE];
	log_info("a peer sees this node at %s", netaddr_format(&a.sa, where, sizeof(where)));
	uv_timer_start(&l->check, on_check, 0, LOCATOR_CHECK_MS);
}

/* ---- this node's record ---- */

static bool usable_own(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		/* loopback, link-local, unspecified, multicast */
		return b[0] != 127 && !(b[0] == 169 && b[1] == 254) && b[0] != 0 && b[0] < 224;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	static const uint8_t overlay[4] = {0xfd, 0x69, 0x72, 0x6f};
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return !IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a) &&
	       !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_MULTICAST(a) &&
	       !IN6_IS_ADDR_V4MAPPED(a) && memcmp(b, overlay, sizeof(overlay)) != 0;
}

static bool is_unspecified(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static void add_own(struct pkarr_record *rec, const struct sockaddr *sa, uint16_t port)
{
	struct netaddr a;
	if (rec->naddrs == PKARR_MAX_ADDRS || !usable_own(sa) || netaddr_set(&a, sa) < 0)
		return;
	netaddr_set_port(&a, port);
	for (size_t i = 0; i < rec->naddrs; i++)
		if (netaddr_equal(&rec->addrs[i].sa, &a.sa))
			return;
	rec->addrs[rec->naddrs++] = a;
}

/* The addresses this node's UDP sockets can be reached at directly. */
static void own_addrs(const struct locator *l, struct pkarr_record *rec)
{
	uv_interface_address_t *ifs = NULL;
	int nifs = 0;
	bool have_ifs = uv_interface_addresses(&ifs, &nifs) == 0;
	for (size_t j = 0; j < transport_local_count(l->config.transport); j++) {
		const struct sockaddr *local = transport_local(l->config.transport, j);
		uint16_t port = netaddr_port(local);
		if (!is_unspecified(local)) {
			add_own(rec, local, port);
			continue;
		}
		for (int i = 0; have_ifs && i < nifs; i++) {
			const struct sockaddr *sa = (const struct sockaddr *)&ifs[i].address;
			if (ifs[i].is_internal ||
			    (l->config.tun_name && strcmp(ifs[i].name, l->config.tun_name) == 0))
				continue;
			/* [::] takes IPv4 too (dual stack); 0.0.0.0 only IPv4. */
			if (local->sa_family == AF_INET && sa->sa_family != AF_INET)
				continue;
			add_own(rec, sa, port);
		}
	}
	if (have_ifs)
		uv_free_interface_addresses(ifs, nifs);
}

static bool record_equal(const struct pkarr_record *a, const struct pkarr_record *b)
{
	if (strcmp(a->relay, b->relay) != 0 || a->naddrs != b->naddrs)
		return false;
	for (size_t i = 0; i < a->naddrs; i++)
		if (!netaddr_equal(&a->addrs[i].sa, &b->addrs[i].sa))
			return false;
	return true;
}

/* What we announce on the LAN: our ID, our port (each interface's own
 * addresses go with it) and our home relay. */
static void lan_self(const struct locator_config *config, const char *relay, struct lan_node *out)
{
	*out = (struct lan_node){.id = config->identity->id, .ttl = LAN_TTL};
	if (transport_local_count(config->transport))
		out->port = netaddr_port(transport_local(config->transport, 0));
	snprintf(out->relay, sizeof(out->relay), "%s", relay);
}

static void on_check(uv_timer_t *timer)
{
	struct locator *l = timer->data;
	struct pkarr_record rec = {.ttl = PKARR_TTL};
	struct punch_candidate cand[PUNCH_MAX_CANDIDATES];
	size_t ncand = 0, nrefl = 0;
	uint32_t home = transport_home_relay(l->config.transport);
	struct relay_client_info ri;
	uint64_t now = uv_now(l->config.loop);
	stun_round(l);
	if (home && transport_relay_info(l->config.transport, home - 1, &ri))
		snprintf(rec.relay, sizeof(rec.relay), "%s", ri.url->text);
	/* A port mapping first, then reflexive addresses: across NATs they
	 * are the ones that work. */
	struct netaddr mapped;
	size_t nmapped = 0;
	if (portmap_get(l->portmap, &mapped)) {
		rec.addrs[rec.naddrs++] = mapped;
		nmapped = 1;
	}
	for (size_t k = 0; k < LOCATOR_MAX_REFLEXIVE; k++) {
		if (l->reflexive[k].seen_ms && now - l->reflexive[k].seen_ms > STUN_VALID_MS)
			l->reflexive[k].seen_ms = 0;
		if (l->reflexive[k].seen_ms &&
		    !(nmapped && netaddr_equal(&mapped.sa, &l->reflexive[k].addr.sa)))
			rec.addrs[rec.naddrs++] = l->reflexive[k].addr;
	}
	for (size_t k = 0; k < LOCATOR_MAX_OBSERVED; k++) {
		struct reflexive *o = &l->observed[k];
		if (o->seen_ms && now - o->seen_ms > OBSERVED_VALID_MS)
			o->seen_ms = 0;
		bool known = false;
		for (size_t i = 0; i < rec.naddrs && !known; i++)
			known = netaddr_equal(&rec.addrs[i].sa, &o->addr.sa);
		if (o->seen_ms && !known && rec.naddrs < PKARR_MAX_ADDRS)
			rec.addrs[rec.naddrs++] = o->addr;
	}
	nrefl = rec.naddrs;
	own_addrs(l, &rec);
	for (size_t i = 0; i < rec.naddrs && ncand < PUNCH_MAX_CANDIDATES; i++) {
		cand[ncand].kind = i < nmapped ? PUNCH_MAPPED
				   : i < nrefl ? PUNCH_REFLEXIVE
					       : PUNCH_LOCAL;
		cand[ncand++].addr = rec.addrs[i];
	}
	peer_table_set_candidates(l->config.peers, cand, ncand);
	if (l->published_once && record_equal(&rec, &l->published))
		return;
	l->published = rec;
	l->published_once = true;
	char where[NETADDR_STR_SIZE];
	log_info("this node is at relay %s and %zu direct address%s%s%s",
		 rec.relay[0] ? rec.relay : "(none)", rec.naddrs, rec.naddrs == 1 ? "" : "es",
		 rec.naddrs ? ", first " : "",
		 rec.naddrs ? netaddr_format(&rec.addrs[0].sa, where, sizeof(where)) : "");
	if (l->discovery && (rec.relay[0] || rec.naddrs))
		discovery_publish(l->discovery, &rec);
	if (l->lan) {
		struct lan_node self;
		lan_self(&l->config, rec.relay, &self);
		lan_update(l->lan, &self);
	}
}

/* ---- peers' records ---- */

/* Adds a peer's relay and direct addresses to its paths. */
static void add_paths(struct locator *l, const struct iron_id *id, const char *relay,
		      const struct netaddr *addrs, size_t n, uint32_t ttl_s,
		      enum peer_path_source source)
{
	uint64_t now = uv_hrtime();
	uint64_t ttl_ns =
	    (uint64_t)(ttl_s < LOCATOR_MIN_TTL ? LOCATOR_MIN_TTL : ttl_s) * 1000000000;
	char name[IRON_ID_BASE32_LEN + 1], where[NETADDR_STR_SIZE];
	id_to_base32(id, name);
	name[10] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (netaddr_port(&addrs[i].sa) == 0 || is_unspecified(&addrs[i].sa))
			continue;
		int rc =
		    peer_table_add_path(l->config.peers, id, &addrs[i].sa, source, ttl_ns, now);
		log_debug("%s: %s path %s%s%s", name, peer_path_source_name(source),
			  netaddr_format(&addrs[i].sa, where, sizeof(where)), rc < 0 ? ": " : "",
			  rc < 0 ? strerror(-rc) : "");
	}
	if (relay[0]) {
		struct relay_url url;
		struct netaddr path;
		char err[300];
		uint32_t number;
		int rc = relay_url_parse(relay, &url, err, sizeof(err));
		if (rc == 0)
			rc = transport_add_peer_relay(l->config.transport, l->config.loop,
						      l->config.resolver, l->config.identity, &url,
						      &number);
		if (rc == 0)
			rc = transport_relay_path(l->config.transport, number, id, false, &path);
		if (rc == 0)
			rc =
			    peer_table_add_path(l->config.peers, id, &path.sa, source, ttl_ns, now);
		if (rc < 0)
			log_debug("%s: cannot use its relay %s: %s", name, relay, strerror(-rc));
	}
}

static void on_found(void *user, const struct iron_id *id, const struct pkarr_record *rec,
		     const char *source)
{
	struct locator *l = user;
	char name[IRON_ID_BASE32_LEN + 1];
	id_to_base32(id, name);
	log_debug("found %s by %s: relay %s, %zu direct address%s", name, source,
		  rec->relay[0] ? rec->relay : "(none)", rec->naddrs, rec->naddrs == 1 ? "" : "es");
	add_paths(l, id, rec->relay, rec->addrs, rec->naddrs, rec->ttl, PEER_SOURCE_DISCOVERED);
	peer_table_lookup_result(l->config.peers, id, false, uv_hrtime());
}

static void on_done(void *user, const struct iron_id *id, int status)
{
	struct locator *l = user;
	if (status < 0) {
		char name[IRON_ID_BASE32_LEN + 1];
		id_to_base32(id, name);
		log_info("no address found for %s: %s", name,
			 status == -ENOENT ? "no record published" : strerror(-status));
	}
	peer_table_lookup_result(l->config.peers, id, true, uv_hrtime());
}

static void on_lan_found(void *user, const struct lan_node *node)
{
	struct locator *l = user;
	l->lan_nodes++;
	add_paths(l, &node->id, node->relay, node->addrs, node->naddrs, node->ttl, PEER_SOURCE_LAN);
	peer_table_lookup_result(l->config.peers, &node->id, false, uv_hrtime());
}

int locator_lookup(struct locator *l, const struct iron_id *id)
{
	if (!l->discovery)
		return -ENOTSUP;
	return discovery_lookup(l->discovery, id);
}

static void on_portmap_changed(void *user)
{
	struct locator *l = user;
	uv_timer_start(&l->check, on_check, 0, LOCATOR_CHECK_MS);
}

/* An address, route or link changed: what STUN servers and peers saw
 * may be stale. Ask STUN again now and look at the interfaces now. */
static void on_network_changed(void *user)
{
	struct locator *l = user;
	log_debug("the network changed: checking this node's addresses");
	l->network_changes++;
	memset(l->observed, 0, sizeof(l->observed));
	l->stun_next_ms = 0;
	uv_timer_start(&l->check, on_check, 0, LOCATOR_CHECK_MS);
}

/* ---- set-up ---- */

int locator_new(const struct locator_config *config, struct locator **out)
{
	struct locator *l = calloc(1, sizeof(*l));
	int rc;
	if (!l)
		return -ENOMEM;
	l->config = *config;
	if (config->pkarr_url && config->pkarr_url[0])
		snprintf(l->pkarr_url, sizeof(l->pkarr_url), "%s", config->pkarr_url);
	if (config->dns_origin && config->dns_origin[0])
		snprintf(l->dns_origin, sizeof(l->dns_origin), "%s", config->dns_origin);
	if (l->pkarr_url[0] || l->dns_origin[0]) {
		const struct discovery_config dc = {
		    .pkarr_url = l->pkarr_url[0] ? l->pkarr_url : NULL,
		    .dns_origin = l->dns_origin[0] ? l->dns_origin : NULL,
		};
		const struct discovery_callbacks cb = {
		    .user = l, .found = on_found, .done = on_done};
		rc = discovery_new(config->loop, config->resolver, config->identity, &dc, &cb,
				   &l->discovery);
		if (rc < 0) {
			free(l);
			return rc;
		}
	}
	if (config->lan) {
		struct lan_node self;
		lan_self(config, "", &self);
		const struct lan_callbacks cb = {.user = l, .found = on_lan_found};
		rc = lan_new(config->loop, &self, config->tun_name, &cb, &l->lan);
		if (rc < 0) {
			log_warn("LAN discovery is off: %s", strerror(-rc));
			l->lan = NULL;
		}
	}
	if (config->port_mapping && transport_local_count(config->transport)) {
		uint16_t port = netaddr_port(transport_local(config->transport, 0));
		rc = portmap_new(config->loop, port, on_portmap_changed, l, &l->portmap);
		if (rc < 0) {
			log_debug("no port mapping: %s", strerror(-rc));
			l->portmap = NULL;
		}
	}
	rc = netwatch_new(config->loop, on_network_changed, l, &l->netwatch);
	if (rc < 0) {
		log_debug("no network change events (checks every %d ms): %s", LOCATOR_CHECK_MS,
			  strerror(-rc));
		l->netwatch = NULL;
	}
	rc = uv_timer_init(config->loop, &l->check);
	if (rc == 0) {
		l->check.data = l;
		l->check_started = true;
		rc = uv_timer_start(&l->check, on_check, 0, LOCATOR_CHECK_MS);
	}
	if (rc < 0) {
		locator_del(l);
		return rc == UV_ENOMEM ? -ENOMEM : -EIO;
	}
	*out = l;
	return 0;
}

static void on_check_closed(uv_handle_t *handle)
{
	free(handle->data);
}

void locator_del(struct locator *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nstun; i++)
		if (l->stun[i].lookup)
			resolver_cancel(l->stun[i].lookup);
	portmap_del(l->portmap);
	l->portmap = NULL;
	netwatch_del(l->netwatch);
	l->netwatch = NULL;
	discovery_del(l->discovery);
	l->discovery = NULL;
	lan_del(l->lan);
	l->lan = NULL;
	if (l->check_started)
		uv_close((uv_handle_t *)&l->check, on_check_closed);
	else
		free(l);
}

void locator_get_info(const struct locator *l, struct locator_info *out)
{
	*out = (struct locator_info){
	    .pkarr_url = l->pkarr_url[0] ? l->pkarr_url : NULL,
	    .dns_origin = l->dns_origin[0] ? l->dns_origin : NULL,
	    .lan = l->lan != NULL,
	    .published = l->published,
	    .lan_nodes = l->lan_nodes,
	    .stun_sent = l->stun_sent,
	    .stun_answers = l->stun_answers,
	    .network_changes = l->network_changes,
	};
	for (size_t k = 0; k < LOCATOR_MAX_REFLEXIVE; k++)
		if (l->reflexive[k].seen_ms)
			out->reflexive[out->nreflexive++] = l->reflexive[k].addr;
	for (size_t k = 0; k < LOCATOR_MAX_OBSERVED; k++)
		if (l->observed[k].seen_ms)
			out->observed[out->nobserved++] = l->observed[k].addr;
	out->port_mapping = l->portmap != NULL;
	portmap_get_info(l->portmap, &out->portmap);
	if (l->discovery)
		discovery_get_info(l->discovery, &out->discovery);
	if (l->lan)
		lan_get_stats(l->lan, &out->lan_stats);
}
