/* LAN discovery on the loop (lan.h): one socket per address family bound
 * to port 5353 and shared with other responders (avahi, iroh), the groups
 * joined on each multicast interface, packets read with their arrival
 * interface (IP_PKTINFO), and one timer for announcements, queries,
 * delayed answers, interface rescans and forgetting nodes. */
#define LOG_MODULE "lan"
#include "iron/lan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iron/log.h"
#include "iron/ratelimit.h"

#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29 /* Linux 4.20 */
#endif

#define LAN_MAX_IFACES	   16
#define LAN_RECV_SIZE	   9000 /* the largest mDNS message (RFC 6762 section 17) */
#define LAN_SEND_SIZE	   1500
#define LAN_READS_PER_WAKE 32
#define LAN_RESCAN_MS	   5000
#define LAN_QUERY_MS	   60000
/* TTLs above this are taken as this: a node that leaves is forgotten
 * within the hour whatever it claimed. */
#define LAN_MAX_TTL 3600
/* As swarm-discovery: an answer waits 20-120 ms and is dropped when two
 * other nodes answered first (ceil(tau * phi) with iroh's settings). */
#define LAN_ANSWER_DELAY_MS 20
#define LAN_ANSWER_SPREAD   100
#define LAN_CUTOFF	    2
#define LAN_PARSE_MAX	    8
/* Replies to legacy unicast queries (dig): 10 a second, bursts of 5. */
#define LAN_LEGACY_RATE	 10
#define LAN_LEGACY_BURST 5

enum { FAM_V4, FAM_V6, FAMS };

static const char *const family_name[FAMS] = {"IPv4", "IPv6"};

struct lan_iface {
	unsigned index;
	char name[IF_NAMESIZE];
	bool joined[FAMS];
	/* This interface's own addresses (announced when self has none). */
	struct netaddr addrs[LAN_MAX_ADDRS];
	size_t naddrs;
	uint64_t announce_at, query_at;
	unsigned announces, queries;
	struct {
		uint64_t answer_at; /* 0: no answer pending */
		unsigned others;    /* answers heard since the query */
		uint64_t last_sent; /* our last response on this family */
	} fam[FAMS];
};

struct lan_peer {
	struct lan_node node; /* ttl: the effective one */
	uint64_t seen_ms, reported_ms;
	bool used;
};

struct lan {
	uv_loop_t *loop;
	struct lan_node self;
	char exclude[256];
	struct lan_callbacks cb;
	int fd[FAMS];
	uv_poll_t poll[FAMS];
	bool poll_open[FAMS];
	uv_timer_t timer;
	int handles; /* open libuv handles; freed when the last one closes */
	bool closing;
	struct lan_iface ifaces[LAN_MAX_IFACES];
	size_t nifaces;
	uint64_t rescan_at;
	struct lan_peer peers[LAN_MAX_NODES];
	struct ratelimit legacy;
	struct lan_stats stats;
	uint8_t buf[LAN_RECV_SIZE];
};

static void schedule(struct lan *lan);

static uint64_t jitter(uint64_t base, uint64_t spread)
{
	return base + (spread ? randombytes_uniform((uint32_t)spread) : 0);
}

/* ---- sockets and groups ---- */

static int open_socket(int fam)
{
	int one = 1, zero = 0, hops = 255;
	int domain = fam == FAM_V4 ? AF_INET : AF_INET6;
	struct netaddr bind_addr;
	int rc;

	int fd = socket(domain, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Shared with avahi, iroh and the like: the port is everyone's. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	memset(&bind_addr, 0, sizeof(bind_addr));
	if (fam == FAM_V4) {
		bind_addr.in.sin_family = AF_INET;
		bind_addr.in.sin_port = htons(MDNS_PORT);
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &hops, sizeof(hops));
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one));
		/* Only the groups this socket joined, not every socket's. */
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) != 0)
			goto fail;
	} else {
		bind_addr.in6.sin6_family = AF_INET6;
		bind_addr.in6.sin6_port = htons(MDNS_PORT);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
			goto fail;
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero, sizeof(zero));
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) != 0)
			goto fail;
	}
	if (bind(fd, &bind_addr.sa, netaddr_len(&bind_addr.sa)) != 0)
		goto fail;
	return fd;
fail:
	rc = -errno;
	close(fd);
	return rc;
}

static int membership(struct lan *lan, int fam, unsigned index, bool join)
{
	int rc;
	if (fam == FAM_V4) {
		struct ip_mreqn m;
		memset(&m, 0, sizeof(m));
		m.imr_multiaddr.s_addr = htonl(0xe00000fbu); /* 224.0.0.251 */
		m.imr_ifindex = (int)index;
		rc = setsockopt(lan->fd[fam], IPPROTO_IP,
				join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m, sizeof(m));
	} else {
		struct ipv6_mreq m;
		memset(&m, 0, sizeof(m));
		inet_pton(AF_INET6, "ff02::fb", &m.ipv6mr_multiaddr);
		m.ipv6mr_interface = index;
		rc = setsockopt(lan->fd[fam], IPPROTO_IPV6,
				join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &m, sizeof(m));
	}
	if (rc != 0 && !(join && errno == EADDRINUSE))
		return -errno;
	return 0;
}

static void send_to(struct lan *lan, int fam, const struct sockaddr *to, const uint8_t *msg,
		    size_t len)
{
	if (sendto(lan->fd[fam], msg, len, 0, to, netaddr_len(to)) < 0) {
		log_debug("send on %s: %s", family_name[fam], strerror(errno));
		return;
	}
	lan->stats.sent++;
}

static void send_multicast(struct lan *lan, struct lan_iface *ifc, int fam, const uint8_t *msg,
			   size_t len)
{
	struct netaddr to;
	if (lan->fd[fam] < 0 || !ifc->joined[fam])
		return;
	memset(&to, 0, sizeof(to));
	if (fam == FAM_V4) {
		struct ip_mreqn m;
		memset(&m, 0, sizeof(m));
		m.imr_ifindex = (int)ifc->index;
		if (setsockopt(lan->fd[fam], IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof(m)) != 0) {
			log_debug("%s: IP_MULTICAST_IF: %s", ifc->name, strerror(errno));
			return;
		}
		to.in.sin_family = AF_INET;
		to.in.sin_port = htons(MDNS_PORT);
		to.in.sin_addr.s_addr = htonl(0xe00000fbu);
	} else {
		to.in6.sin6_family = AF_INET6;
		to.in6.sin6_port = htons(MDNS_PORT);
		inet_pton(AF_INET6, "ff02::fb", &to.in6.sin6_addr);
		to.in6.sin6_scope_id = ifc->index; /* picks the interface */
	}
	send_to(lan, fam, &to.sa, msg, len);
}

/* ---- what we announce ---- */

/* Self as announced on ifc. Returns 0, or -EINVAL when there is nothing to
 * announce there. */
static int self_on(const struct lan *lan, const struct lan_iface *ifc, struct lan_node *node)
{
	*node = lan->self;
	if (lan->self.naddrs == 0) {
		memcpy(node->addrs, ifc->addrs, sizeof(node->addrs));
		node->naddrs = ifc->naddrs;
	}
	return node->naddrs > 0 ? 0 : -EINVAL;
}

/* Multicasts our records on ifc, on one family or (fam == FAMS) both. */
static void announce(struct lan *lan, struct lan_iface *ifc, int fam, uint64_t now)
{
	struct lan_node self;
	uint8_t msg[LAN_SEND_SIZE];
	int len;
	if (self_on(lan, ifc, &self) != 0)
		return;
	len = mdns_encode_announce(&self, msg, sizeof(msg));
	if (len == -EINVAL)
		return; /* no address with a port: nothing to say */
	if (len < 0) {
		log_warn("cannot build the announcement: %s", strerror(-len));
		return;
	}
	for (int f = 0; f < FAMS; f++) {
		if (fam != FAMS && f != fam)
			continue;
		send_multicast(lan, ifc, f, msg, (size_t)len);
		ifc->fam[f].last_sent = now;
		ifc->fam[f].answer_at = 0; /* this was the answer */
	}
}

static void query(struct lan *lan, struct lan_iface *ifc)
{
	uint8_t msg[64];
	int len = mdns_encode_query(msg, sizeof(msg));
	if (len < 0)
		return;
	for (int f = 0; f < FAMS; f++)
		send_multicast(lan, ifc, f, msg, (size_t)len);
}

/* Announcements and queries from the start again on ifc: now-ish, 1 s and
 * 3 s later, then the steady period. */
static void restart(struct lan_iface *ifc, uint64_t now)
{
	ifc->announces = 0;
	ifc->announce_at = jitter(now, LAN_ANSWER_SPREAD);
	ifc->queries = 0;
	ifc->query_at = jitter(now, LAN_ANSWER_SPREAD);
}

static uint64_t next_gap(unsigned done, uint64_t period)
{
	if (done == 1)
		return 1000;
	if (done == 2)
		return 2000;
	return period - period / 10 + randombytes_uniform((uint32_t)(period / 5));
}

/* ---- interfaces ---- */

static bool excluded(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ", ");
		if (len == n && strncmp(p, name, n) == 0)
			return true;
		p += len;
		p += strspn(p, ", ");
	}
	return false;
}

struct scan {
	unsigned index;
	char name[IF_NAMESIZE];
	bool fam[FAMS];
	struct netaddr addrs[LAN_MAX_ADDRS];
	size_t naddrs;
};

static bool same_addrs(const struct netaddr *a, size_t na, const struct netaddr *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		bool found = false;
		for (size_t j = 0; j < nb && !found; j++)
			found = netaddr_equal(&a[i].sa, &b[j].sa);
		if (!found)
			return false;
	}
	return true;
}

/* Reads the interfaces; fills scans (at most LAN_MAX_IFACES). */
static size_t read_interfaces(const struct lan *lan, struct scan *scans)
{
	struct ifaddrs *list, *ifa;
	size_t n = 0;

	if (getifaddrs(&list) != 0) {
		log_warn("getifaddrs: %s", strerror(errno));
		return 0;
	}
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP) ||
		    !(ifa->ifa_flags & IFF_MULTICAST) || (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		int family = ifa->ifa_addr->sa_family;
		if ((family != AF_INET && family != AF_INET6) ||
		    excluded(lan->exclude, ifa->ifa_name))
			continue;
		unsigned index = if_nametoindex(ifa->ifa_name);
		if (index == 0)
			continue;
		size_t i;
		for (i = 0; i < n; i++)
			if (scans[i].index == index)
				break;
		if (i == n) {
			if (n == LAN_MAX_IFACES)
				continue;
			memset(&scans[n], 0, sizeof(scans[n]));
			scans[n].index = index;
			snprintf(scans[n].name, sizeof(scans[n].name), "%s", ifa->ifa_name);
			n++;
		}
		struct scan *s = &scans[i];
		struct netaddr addr;
		if (netaddr_set(&addr, ifa->ifa_addr) != 0)
			continue;
		s->fam[family == AF_INET ? FAM_V4 : FAM_V6] = true;
		netaddr_set_port(&addr, 0);
		/* A link-local IPv6 address means nothing without its scope,
		 * which a receiver would have to guess: not announced. */
		if (family == AF_INET6) {
			if (IN6_IS_ADDR_LINKLOCAL(&addr.in6.sin6_addr))
				continue;
			addr.in6.sin6_scope_id = 0;
		}
		if (s->naddrs < LAN_MAX_ADDRS)
			s->addrs[s->naddrs++] = addr;
	}
	freeifaddrs(list);
	return n;
}

static void leave(struct lan *lan, struct lan_iface *ifc, int fam)
{
	if (!ifc->joined[fam])
		return;
	membership(lan, fam, ifc->index, false);
	ifc->joined[fam] = false;
	log_info("left the mDNS group on %s (%s)", ifc->name, family_name[fam]);
}

/* Joins new interfaces, leaves gone ones, notes address changes. */
static void rescan(struct lan *lan, uint64_t now)
{
	struct scan scans[LAN_MAX_IFACES];
	size_t n = read_interfaces(lan, scans);

	/* Gone (or renamed) interfaces first, to make room. */
	for (size_t i = 0; i < lan->nifaces;) {
		struct lan_iface *ifc = &lan->ifaces[i];
		size_t j;
		for (j = 0; j < n; j++)
			if (scans[j].index == ifc->index && strcmp(scans[j].name, ifc->name) == 0)
				break;
		if (j < n) {
			for (int f = 0; f < FAMS; f++)
				if (!scans[j].fam[f])
					leave(lan, ifc, f);
			i++;
			continue;
		}
		for (int f = 0; f < FAMS; f++)
			leave(lan, ifc, f);
		lan->ifaces[i] = lan->ifaces[--lan->nifaces];
	}

	for (size_t j = 0; j < n; j++) {
		struct scan *s = &scans[j];
		struct lan_iface *ifc = NULL;
		for (size_t i = 0; i < lan->nifaces && !ifc; i++)
			if (lan->ifaces[i].index == s->index)
				ifc = &lan->ifaces[i];
		if (!ifc) {
			if (lan->nifaces == LAN_MAX_IFACES)
				continue;
			ifc = &lan->ifaces[lan->nifaces++];
			memset(ifc, 0, sizeof(*ifc));
			ifc->index = s->index;
			memcpy(ifc->name, s->name, sizeof(ifc->name));
		}
		bool joined_now = false;
		for (int f = 0; f < FAMS; f++) {
			if (!s->fam[f] || ifc->joined[f] || lan->fd[f] < 0)
				continue;
			int rc = membership(lan, f, ifc->index, true);
			if (rc < 0) {
				log_warn("cannot join the mDNS group on %s (%s): %s", ifc->name,
					 family_name[f], strerror(-rc));
				continue;
			}
			ifc->joined[f] = true;
			joined_now = true;
			log_info("joined the mDNS group on %s (%s)", ifc->name, family_name[f]);
		}
		bool moved = !same_addrs(ifc->addrs, ifc->naddrs, s->addrs, s->naddrs);
		memcpy(ifc->addrs, s->addrs, sizeof(ifc->addrs));
		ifc->naddrs = s->naddrs;
		if (joined_now) {
			restart(ifc, now);
		} else if (moved && lan->self.naddrs == 0) {
			ifc->announces = 0; /* tell the news */
			ifc->announce_at = now;
		}
	}
}

/* ---- nodes heard ---- */

static uint32_t effective_ttl(uint32_t ttl)
{
	if (ttl == 0)
		return LAN_ZERO_TTL;
	return ttl > LAN_MAX_TTL ? LAN_MAX_TTL : ttl;
}

static bool same_node(const struct lan_node *a, const struct lan_node *b)
{
	return a->port == b->port && strcmp(a->relay, b->relay) == 0 &&
	       same_addrs(a->addrs, a->naddrs, b->addrs, b->naddrs);
}

static void learn(struct lan *lan, struct lan_node *node, uint64_t now)
{
	struct lan_peer *peer = NULL, *slot = NULL;
	const char *why = NULL;

	node->ttl = effective_ttl(node->ttl);
	for (size_t i = 0; i < LAN_MAX_NODES; i++) {
		struct lan_peer *p = &lan->peers[i];
		if (!p->used) {
			if (!slot || slot->used)
				slot = p;
			continue;
		}
		if (memcmp(p->node.id.bytes, node->id.bytes, IRON_ID_LEN) == 0) {
			peer = p;
			break;
		}
		/* Full: the one heard from longest ago makes room. */
		if (!slot || (slot->used && p->seen_ms < slot->seen_ms))
			slot = p;
	}
	if (!peer) {
		peer = slot;
		memset(peer, 0, sizeof(*peer));
		peer->used = true;
		why = "new";
	} else if (!same_node(&peer->node, node)) {
		why = "changed";
	} else if (now - peer->reported_ms >= (uint64_t)node->ttl * 1000 / 2) {
		why = "still there";
	}
	peer->node = *node;
	peer->seen_ms = now;
	if (!why)
		return;
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		char id[IRON_ID_BASE32_LEN + 1];
		id_to_base32(&node->id, id);
		log_debug("node %s: %s", id, why);
	}
	peer->reported_ms = now;
	lan->stats.nodes_found++;
	if (lan->cb.found)
		lan->cb.found(lan->cb.user, node);
}

static void forget_expired(struct lan *lan, uint64_t now)
{
	for (size_t i = 0; i < LAN_MAX_NODES; i++) {
		struct lan_peer *p = &lan->peers[i];
		if (p->used && now >= p->seen_ms + (uint64_t)p->node.ttl * 1000)
			p->used = false;
	}
}

/* ---- receiving ---- */

static void answer_legacy(struct lan *lan, struct lan_iface *ifc, int fam,
			  const struct netaddr *from, const uint8_t *msg, size_t len)
{
	struct lan_node self;
	uint8_t out[LAN_SEND_SIZE];
	if (!ratelimit_allow(&lan->legacy, uv_hrtime()) || self_on(lan, ifc, &self) != 0)
		return;
	int n = mdns_encode_unicast_reply(&self, msg, len, out, sizeof(out));
	if (n < 0)
		return;
	send_to(lan, fam, &from->sa, out, (size_t)n);
	lan->stats.answered++;
}

static void handle_message(struct lan *lan, struct lan_iface *ifc, int fam,
			   const struct netaddr *from, const uint8_t *msg, size_t len, uint64_t now)
{
	if (mdns_is_service_query(msg, len)) {
		if (netaddr_port(&from->sa) != MDNS_PORT) {
			answer_legacy(lan, ifc, fam, from, msg, len);
		} else if (ifc->fam[fam].answer_at == 0) {
			ifc->fam[fam].answer_at =
			    jitter(now + LAN_ANSWER_DELAY_MS, LAN_ANSWER_SPREAD);
			ifc->fam[fam].others = 0;
		}
		return;
	}

	struct lan_node nodes[LAN_PARSE_MAX];
	int n = mdns_parse(msg, len, nodes, LAN_PARSE_MAX);
	if (n < 0) {
		char text[NETADDR_STR_SIZE];
		lan->stats.malformed++;
		log_debug("malformed mDNS message from %s on %s",
			  netaddr_format(&from->sa, text, sizeof(text)), ifc->name);
		return;
	}
	for (int i = 0; i < n; i++) {
		struct lan_node *node = &nodes[i];
		if (id_equal(&node->id, &lan->self.id))
			continue;
		ifc->fam[fam].others++;
		for (size_t a = 0; a < node->naddrs; a++) {
			struct sockaddr_in6 *in6 = &node->addrs[a].in6;
			if (in6->sin6_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr))
				in6->sin6_scope_id = ifc->index;
		}
		learn(lan, node, now);
	}
	if (ifc->fam[fam].answer_at && ifc->fam[fam].others >= LAN_CUTOFF)
		ifc->fam[fam].answer_at = 0; /* enough answers for this query */
}

static struct lan_iface *find_iface(struct lan *lan, unsigned index)
{
	for (size_t i = 0; i < lan->nifaces; i++)
		if (lan->ifaces[i].index == index)
			return &lan->ifaces[i];
	return NULL;
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	struct lan *lan = handle->data;
	int fam = handle == &lan->poll[FAM_V4] ? FAM_V4 : FAM_V6;
	(void)events;

	if (status < 0) {
		log_warn("%s socket: %s", family_name[fam], uv_strerror(status));
		return;
	}
	/* closing: a found callback may have called lan_del(). */
	for (int round = 0; round < LAN_READS_PER_WAKE && !lan->closing; round++) {
		struct netaddr from;
		union {
			struct cmsghdr align;
			uint8_t raw[CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
		} control;
		struct iovec iov = {lan->buf, sizeof(lan->buf)};
		struct msghdr mh;
		memset(&mh, 0, sizeof(mh));
		memset(&from, 0, sizeof(from));
		mh.msg_name = &from;
		mh.msg_namelen = sizeof(from);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = control.raw;
		mh.msg_controllen = sizeof(control.raw);
		ssize_t n = recvmsg(lan->fd[fam], &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("recvmsg: %s", strerror(errno));
			break;
		}
		lan->stats.received++;
		if (mh.msg_flags & MSG_TRUNC) {
			lan->stats.malformed++;
			continue;
		}
		unsigned index = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo info;
				memcpy(&info, CMSG_DATA(c), sizeof(info));
				index = (unsigned)info.ipi_ifindex;
			} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo info;
				memcpy(&info, CMSG_DATA(c), sizeof(info));
				index = info.ipi6_ifindex;
			}
		}
		/* Only from the interfaces we serve (not iron's own TUN). */
		struct lan_iface *ifc = find_iface(lan, index);
		if (!ifc || !ifc->joined[fam])
			continue;
		handle_message(lan, ifc, fam, &from, lan->buf, (size_t)n, uv_now(lan->loop));
	}
	schedule(lan);
}

/* ---- the timer ---- */

static void on_timer(uv_timer_t *timer)
{
	struct lan *lan = timer->data;
	uint64_t now = uv_now(lan->loop);

	if (now >= lan->rescan_at) {
		rescan(lan, now);
		lan->rescan_at = now + LAN_RESCAN_MS;
	}
	for (size_t i = 0; i < lan->nifaces; i++) {
		struct lan_iface *ifc = &lan->ifaces[i];
		for (int f = 0; f < FAMS; f++) {
			if (ifc->fam[f].answer_at == 0 || now < ifc->fam[f].answer_at)
				continue;
			ifc->fam[f].answer_at = 0;
			/* Fresh enough already: at most one answer per gap. */
			if (ifc->fam[f].last_sent &&
			    now - ifc->fam[f].last_sent < LAN_ANSWER_GAP_MS)
				continue;
			announce(lan, ifc, f, now);
			lan->stats.answered++;
		}
		if (now >= ifc->announce_at) {
			announce(lan, ifc, FAMS, now);
			ifc->announces++;
			ifc->announce_at = now + next_gap(ifc->announces, LAN_ANNOUNCE_MS);
		}
		if (now >= ifc->query_at) {
			query(lan, ifc);
			ifc->queries++;
			ifc->query_at = now + next_gap(ifc->queries, LAN_QUERY_MS);
		}
	}
	forget_expired(lan, now);
	schedule(lan);
}

static void schedule(struct lan *lan)
{
	uint64_t next = lan->rescan_at, now = uv_now(lan->loop);
	if (lan->closing)
		return;
	for (size_t i = 0; i < lan->nifaces; i++) {
		const struct lan_iface *ifc = &lan->ifaces[i];
		if (ifc->announce_at < next)
			next = ifc->announce_at;
		if (ifc->query_at < next)
			next = ifc->query_at;
		for (int f = 0; f < FAMS; f++)
			if (ifc->fam[f].answer_at && ifc->fam[f].answer_at < next)
				next = ifc->fam[f].answer_at;
	}
	for (size_t i = 0; i < LAN_MAX_NODES; i++) {
		const struct lan_peer *p = &lan->peers[i];
		uint64_t expiry = p->seen_ms + (uint64_t)p->node.ttl * 1000;
		if (p->used && expiry < next)
			next = expiry;
	}
	uv_timer_start(&lan->timer, on_timer, next > now ? next - now : 0, 0);
}

/* ---- life cycle ---- */

static void set_self(struct lan *lan, const struct lan_node *self)
{
	lan->self = *self;
	if (lan->self.naddrs > LAN_MAX_ADDRS)
		lan->self.naddrs = LAN_MAX_ADDRS;
	if (lan->self.ttl == 0)
		lan->self.ttl = LAN_TTL;
	lan->self.relay[sizeof(lan->self.relay) - 1] = '\0';
}

static void on_closed(uv_handle_t *handle)
{
	struct lan *lan = handle->data;
	if (--lan->handles > 0)
		return;
	for (int f = 0; f < FAMS; f++)
		if (lan->fd[f] >= 0)
			close(lan->fd[f]);
	free(lan);
}

int lan_new(uv_loop_t *loop, const struct lan_node *self, const char *exclude,
	    const struct lan_callbacks *cb, struct lan **out)
{
	struct lan *lan = calloc(1, sizeof(*lan));
	int first_error = 0;

	if (!lan)
		return -ENOMEM;
	lan->loop = loop;
	set_self(lan, self);
	snprintf(lan->exclude, sizeof(lan->exclude), "%s", exclude ? exclude : "");
	if (cb)
		lan->cb = *cb;
	ratelimit_init(&lan->legacy, LAN_LEGACY_RATE, LAN_LEGACY_BURST);
	for (int f = 0; f < FAMS; f++) {
		lan->fd[f] = open_socket(f);
		if (lan->fd[f] < 0) {
			log_warn("no %s mDNS socket: %s", family_name[f], strerror(-lan->fd[f]));
			if (!first_error)
				first_error = lan->fd[f];
			lan->fd[f] = -1;
		}
	}
	if (lan->fd[FAM_V4] < 0 && lan->fd[FAM_V6] < 0) {
		free(lan);
		return first_error;
	}

	uv_timer_init(loop, &lan->timer);
	lan->timer.data = lan;
	lan->handles = 1;
	for (int f = 0; f < FAMS; f++) {
		if (lan->fd[f] < 0)
			continue;
		int rc = uv_poll_init(loop, &lan->poll[f], lan->fd[f]);
		if (rc == 0) {
			lan->poll[f].data = lan;
			lan->poll_open[f] = true;
			lan->handles++;
			rc = uv_poll_start(&lan->poll[f], UV_READABLE, on_readable);
		}
		if (rc < 0) {
			log_warn("%s socket: %s", family_name[f], uv_strerror(rc));
			lan_del(lan);
			return rc;
		}
	}
	uint64_t now = uv_now(loop);
	rescan(lan, now);
	lan->rescan_at = now + LAN_RESCAN_MS;
	schedule(lan);
	*out = lan;
	return 0;
}

void lan_update(struct lan *lan, const struct lan_node *self)
{
	uint64_t now = uv_now(lan->loop);
	set_self(lan, self);
	for (size_t i = 0; i < lan->nifaces; i++) {
		lan->ifaces[i].announces = 0;
		lan->ifaces[i].announce_at = now;
	}
	schedule(lan);
}

void lan_del(struct lan *lan)
{
	if (!lan)
		return;
	lan->closing = true;
	for (int f = 0; f < FAMS; f++)
		if (lan->poll_open[f])
			uv_close((uv_handle_t *)&lan->poll[f], on_closed);
	uv_close((uv_handle_t *)&lan->timer, on_closed);
}

void lan_get_stats(const struct lan *lan, struct lan_stats *out)
{
	*out = lan->stats;
	out->interfaces = 0;
	for (size_t i = 0; i < lan->nifaces; i++)
		if (lan->ifaces[i].joined[FAM_V4] || lan->ifaces[i].joined[FAM_V6])
			out->interfaces++;
}
