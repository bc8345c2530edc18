#define LOG_MODULE "tun"
#include "iron/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "iron/log.h"
#include "iron/offload.h"

#define TUN_DEVICE	"/dev/net/tun"
#define NL_REQUEST_SIZE 256
#define NL_REPLY_SIZE	8192
/* How long tun_configure() waits for the address to become local: 5 s. */
#define LOCAL_ROUTE_ATTEMPTS	5000
#define LOCAL_ROUTE_INTERVAL_US 1000

/* USO arrived in Linux 6.2; older headers lack it. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

static int open_device(const char *name, short flags, int *fd, char *actual_name)
{
	struct ifreq ifr;
	int tun = -1, err = 0;
	memset(&ifr, 0, sizeof(ifr));
	if (name && strlen(name) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	if (name)
		strcpy(ifr.ifr_name, name);
	/* IFF_TUN_EXCL: fail with EBUSY rather than attach to an existing
	 * device of that name, which may be another daemon's. */
	ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_TUN_EXCL | flags);
	tun = open(TUN_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tun < 0) {
		err = -errno;
		goto out;
	}
	if (ioctl(tun, TUNSETIFF, &ifr) != 0) {
		err = -errno;
		goto out;
	}
	if (actual_name) {
		memcpy(actual_name, ifr.ifr_name, TUN_NAME_SIZE);
		actual_name[TUN_NAME_SIZE - 1] = '\0';
	}
	log_debug("opened %s", ifr.ifr_name);
	*fd = tun;
	tun = -1;
out:
	if (tun >= 0)
		close(tun);
	return err;
}

int tun_open(const char *name, int *fd, char *actual_name)
{
	return open_device(name, 0, fd, actual_name);
}

int tun_open_offload(const char *name, int *fd, char *actual_name, unsigned *offloads)
{
	/* Most first; TSO needs CSUM, and the kernel takes USO only for
	 * both families at once. IPv4 TSO costs nothing: the router drops
	 * IPv4 whole. */
	static const struct {
		unsigned flags, offloads;
	} tries[] = {
	    {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
	     TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO},
	    {TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
	     TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO},
	    {TUN_F_CSUM, TUN_OFFLOAD_CSUM},
	};
	int hdr_size = OFFLOAD_VNET_HDR_LEN, tun = -1;
	int err = open_device(name, IFF_VNET_HDR, &tun, actual_name);
	if (err != 0)
		return err;
	if (ioctl(tun, TUNSETVNETHDRSZ, &hdr_size) != 0) {
		err = -errno;
		close(tun);
		return err;
	}
	*offloads = 0;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		if (ioctl(tun, TUNSETOFFLOAD, (unsigned long)tries[i].flags) == 0) {
			*offloads = tries[i].offloads;
			break;
		}
		log_debug("TUNSETOFFLOAD %#x: %s", tries[i].flags, strerror(errno));
	}
	*fd = tun;
	return 0;
}

void tun_close(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* A netlink request being built in a fixed buffer. */
struct nl_request {
	union {
		struct nlmsghdr hdr;
		char bytes[NL_REQUEST_SIZE];
	} u;
};

static void *nl_init(struct nl_request *req, uint16_t type, uint16_t flags, size_t body_len)
{
	memset(req, 0, sizeof(*req));
	req->u.hdr.nlmsg_len = (uint32_t)NLMSG_LENGTH(body_len);
	req->u.hdr.nlmsg_type = type;
	req->u.hdr.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	return NLMSG_DATA(&req->u.hdr);
}

static struct nlattr *nl_put(struct nl_request *req, uint16_t type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(req->u.hdr.nlmsg_len);
	size_t total = NLA_HDRLEN + len;
	/* The requests are fixed and small: running out is a bug here. */
	if (at + NLA_ALIGN(total) > sizeof(req->u.bytes)) {
		log_error("netlink request too large");
		return NULL;
	}
	struct nlattr *attr = (struct nlattr *)(req->u.bytes + at);
	attr->nla_type = type;
	attr->nla_len = (uint16_t)total;
	if (len > 0)
		memcpy(req->u.bytes + at + NLA_HDRLEN, data, len);
	req->u.hdr.nlmsg_len = (uint32_t)(at + NLA_ALIGN(total));
	return attr;
}

/* Closes a nested attribute opened with nl_put(req, type, NULL, 0). */
static void nl_end_nest(struct nl_request *req, struct nlattr *nest)
{
	nest->nla_len = (uint16_t)(req->u.bytes + req->u.hdr.nlmsg_len - (char *)nest);
}

/* Logs the kernel's extended ACK message of an error reply, if any. With
 * NETLINK_CAP_ACK the TLVs follow the nlmsgerr directly. */
static void nl_log_ext_ack(const struct nlmsghdr *h, const char *what)
{
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nlmsgerr));
	const char *base = (const char *)h;
	while (off + NLA_HDRLEN <= h->nlmsg_len) {
		const struct nlattr *attr = (const struct nlattr *)(base + off);
		if (attr->nla_len < NLA_HDRLEN || attr->nla_len > h->nlmsg_len - off)
			return;
		if ((attr->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG &&
		    attr->nla_len > NLA_HDRLEN) {
			int n = (int)strnlen(base + off + NLA_HDRLEN, attr->nla_len - NLA_HDRLEN);
			log_warn("%s: kernel says: %.*s", what, n, base + off + NLA_HDRLEN);
			return;
		}
		off += NLA_ALIGN(attr->nla_len);
	}
}

/* Sends one request and waits for its answer: for a request with
 * NLM_F_ACK the ACK, for a GET the reply, which goes to on_reply (may be
 * NULL). Returns 0, on_reply's value, or the -errno the kernel answered
 * with. */
static int nl_transact(int sock, struct nl_request *req, uint32_t seq, const char *what,
		       int (*on_reply)(const struct nlmsghdr *h, void *ctx), void *ctx)
{
	static const struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	union {
		struct nlmsghdr hdr;
		char bytes[NL_REPLY_SIZE];
	} reply;
	req->u.hdr.nlmsg_seq = seq;
	if (sendto(sock, req->u.bytes, req->u.hdr.nlmsg_len, 0, (const struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	/* Bounded: rtnetlink answers synchronously, and the socket has a
	 * receive timeout in case it does not. */
	for (int attempt = 0; attempt < 16; attempt++) {
		ssize_t n = recv(sock, reply.bytes, sizeof(reply.bytes), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		size_t left = (size_t)n;
		for (const struct nlmsghdr *h = &reply.hdr; NLMSG_OK(h, left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type != NLMSG_ERROR)
				return on_reply ? on_reply(h, ctx) : 0;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
				return -EIO;
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error != 0)
				nl_log_ext_ack(h, what);
			return e->error;
		}
	}
	return -EIO;
}

static int nl_open(void)
{
	static const int on = 1;
	struct timeval timeout = {.tv_sec = 2};
	int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock < 0)
		return -errno;
	/* Extended ACKs carry the kernel's reason; older kernels without
	 * them still work. */
	setsockopt(sock, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof(on));
	setsockopt(sock, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof(on));
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	return sock;
}

static int set_addr_gen_mode_none(int sock, int ifindex, uint32_t seq)
{
	struct nl_request req;
	struct ifinfomsg *ifi = nl_init(&req, RTM_NEWLINK, NLM_F_ACK, sizeof(*ifi));
	uint8_t mode = IN6_ADDR_GEN_MODE_NONE;
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	struct nlattr *spec = nl_put(&req, IFLA_AF_SPEC | NLA_F_NESTED, NULL, 0);
	struct nlattr *inet6 = nl_put(&req, AF_INET6 | NLA_F_NESTED, NULL, 0);
	if (!spec || !inet6 || !nl_put(&req, IFLA_INET6_ADDR_GEN_MODE, &mode, sizeof(mode)))
		return -ENOSPC;
	nl_end_nest(&req, inet6);
	nl_end_nest(&req, spec);
	return nl_transact(sock, &req, seq, "turning off link-local addresses", NULL, NULL);
}

static int set_mtu_and_up(int sock, int ifindex, unsigned mtu, uint32_t seq)
{
	struct nl_request req;
	struct ifinfomsg *ifi = nl_init(&req, RTM_NEWLINK, NLM_F_ACK, sizeof(*ifi));
	uint32_t mtu32 = mtu;
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	/* The kernel applies the MTU before the flags, so IPv6 comes up on a
	 * link that is already large enough for it. */
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	/* A longer queue than the TUN default of 500 absorbs the bursts a
	 * TCP sender puts out between two of our read batches; past it the
	 * kernel drops (counted as the TUN's TX drops). */
	uint32_t txqlen = TUN_TXQUEUELEN;
	if (!nl_put(&req, IFLA_MTU, &mtu32, sizeof(mtu32)) ||
	    !nl_put(&req, IFLA_TXQLEN, &txqlen, sizeof(txqlen)))
		return -ENOSPC;
	return nl_transact(sock, &req, seq, "setting MTU and bringing the link up", NULL, NULL);
}

static int add_address(int sock, int ifindex, const struct in6_addr *addr, unsigned prefix_len,
		       uint32_t seq)
{
	struct nl_request req;
	/* REPLACE: a restart on a device that kept the address succeeds. */
	struct ifaddrmsg *ifa =
	    nl_init(&req, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, sizeof(*ifa));
	uint32_t flags = IFA_F_NODAD;
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = (uint8_t)prefix_len;
	ifa->ifa_flags = IFA_F_NODAD;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	if (!nl_put(&req, IFA_LOCAL, addr, sizeof(*addr)) ||
	    !nl_put(&req, IFA_ADDRESS, addr, sizeof(*addr)) ||
	    !nl_put(&req, IFA_FLAGS, &flags, sizeof(flags)))
		return -ENOSPC;
	return nl_transact(sock, &req, seq, "adding the address", NULL, NULL);
}

static int take_route_type(const struct nlmsghdr *h, void *ctx)
{
	unsigned char *type = ctx;
	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
		return -EIO;
	*type = ((const struct rtmsg *)NLMSG_DATA(h))->rtm_type;
	return 0;
}

/* With IFA_F_NODAD the kernel uses the address as a source at once, but
 * installs its local route from a work queue: until then, packets to the
 * address that come in through the TUN are "forwarded" and dropped. So wait
 * (bounded) until a route lookup says the address is local. */
static int wait_until_local(int sock, const struct in6_addr *addr, uint32_t seq)
{
	for (int attempt = 0; attempt < LOCAL_ROUTE_ATTEMPTS; attempt++) {
		struct nl_request req;
		unsigned char type = RTN_UNSPEC;
		struct rtmsg *rtm = nl_init(&req, RTM_GETROUTE, 0, sizeof(*rtm));
		rtm->rtm_family = AF_INET6;
		rtm->rtm_dst_len = 128;
		if (!nl_put(&req, RTA_DST, addr, sizeof(*addr)))
			return -ENOSPC;
		/* A fresh sequence number each time, so a late answer to an
		 * earlier attempt is never taken for this one. */
		int err = nl_transact(sock, &req, seq + (uint32_t)attempt, "looking up the address",
				      take_route_type, &type);
		if (err != 0 && err != -ENETUNREACH && err != -EHOSTUNREACH)
			return err;
		if (err == 0 && type == RTN_LOCAL)
			return 0;
		usleep(LOCAL_ROUTE_INTERVAL_US);
	}
	return -ETIMEDOUT;
}

int tun_configure(const char *ifname, const struct in6_addr *addr, unsigned prefix_len,
		  unsigned mtu)
{
	int sock = -1, err;
	if (mtu < 1280 || mtu > 65535 || prefix_len > 128)
		return -EINVAL;
	unsigned index = if_nametoindex(ifname);
	if (index == 0)
		return -ENODEV;
	sock = nl_open();
	if (sock < 0) {
		err = sock;
		goto out;
	}
	/* Before the link goes up, or the kernel would already have made a
	 * link-local address. Not essential, so a failure is only noted. */
	err = set_addr_gen_mode_none(sock, (int)index, 1);
	if (err != 0)
		log_debug("%s: cannot turn off link-local addresses: %s", ifname, strerror(-err));
	err = set_mtu_and_up(sock, (int)index, mtu, 2);
	if (err != 0)
		goto out;
	err = add_address(sock, (int)index, addr, prefix_len, 3);
	if (err != 0)
		goto out;
	err = wait_until_local(sock, addr, 4);
	if (err != 0) {
		log_warn("%s: the address did not become local: %s", ifname, strerror(-err));
		goto out;
	}
	log_debug("%s: up, MTU %u, address added", ifname, mtu);
out:
	if (sock >= 0)
		close(sock);
	return err;
}

const char *tun_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "/dev/net/tun does not exist; load the tun module (modprobe tun)";
	case -EPERM:
	case -EACCES:
		return "permission denied; run as root or with CAP_NET_ADMIN";
	case -EBUSY:
	case -EEXIST:
		return "an interface with that name already exists; pick another with --tun-name "
		       "or stop the daemon that owns it";
	case -ENAMETOOLONG:
		return "interface name too long (at most 15 characters)";
	case -ENODEV:
		return "no such interface";
	case -EINVAL:
		return "invalid setting (the MTU must be 1280..65535)";
	default:
		return strerror(-err);
	}
}

/* ---- The device on the loop ---- */

struct tun_device {
	uv_poll_t poll;
	bool polling; /* poll initialised: the handle's close callback frees */
	int fd;
	char name[TUN_NAME_SIZE];
	bool vnet_hdr;
	unsigned offloads;
	struct offload_coalescer *coalescer;
	struct tun_callbacks cb;
	struct tun_device_stats stats;
	/* Packets went into the TUN since the last tun_device_flush(). */
	bool written;
	uint64_t read_now; /* the time of the read batch being cut */
	uint8_t read_buf[OFFLOAD_READ_MAX];
	/* A coalesced write the kernel refused, split again (write_vnet). */
	uint8_t fallback_buf[OFFLOAD_VNET_HDR_LEN + OFFLOAD_COALESCE_MAX];
};

static int write_with_header(struct tun_device *dev, const uint8_t *vnet_hdr, const uint8_t *pkt,
			     size_t len)
{
	struct iovec iov[2] = {
	    {.iov_base = (void *)vnet_hdr, .iov_len = OFFLOAD_VNET_HDR_LEN},
	    {.iov_base = (void *)pkt, .iov_len = len},
	};
	return writev(dev->fd, iov, 2) < 0 ? -errno : 0;
}

static void on_fallback_segment(void *user, const uint8_t *pkt, size_t len)
{
	static const uint8_t plain[OFFLOAD_VNET_HDR_LEN];
	struct tun_device *dev = user;
	if (write_with_header(dev, plain, pkt, len) < 0)
		dev->stats.tx_dropped++;
	else
		dev->stats.tx++;
}

/* The coalescer's output: the virtio_net_hdr and the packet in one write. */
static void write_vnet(void *user, const uint8_t *vnet_hdr, const uint8_t *pkt, size_t len,
		       unsigned segments)
{
	struct tun_device *dev = user;
	int rc = write_with_header(dev, vnet_hdr, pkt, len);
	if (rc == 0) {
		dev->stats.tx += segments;
		return;
	}
	if (segments == 1 || rc != -EINVAL) {
		dev->stats.tx_dropped += segments;
		return;
	}
	/* A kernel that refuses what GRO would have made: stop coalescing,
	 * and write these segments one by one (from a copy: the split works
	 * in place, and pkt may be the packet being routed). */
	dev->stats.offload_errors++;
	log_warn("%s refused a coalesced write (%s); writing packets one by one from now on",
		 dev->name, strerror(-rc));
	offload_coalescer_disable(dev->coalescer);
	memcpy(dev->fallback_buf, vnet_hdr, OFFLOAD_VNET_HDR_LEN);
	memcpy(dev->fallback_buf + OFFLOAD_VNET_HDR_LEN, pkt, len);
	const struct offload_sink sink = {.packet = on_fallback_segment, .user = dev};
	if (offload_split(dev->fallback_buf, OFFLOAD_VNET_HDR_LEN + len, &sink) < 0)
		dev->stats.tx_dropped += segments;
}

void tun_device_write(struct tun_device *dev, const uint8_t *pkt, size_t len)
{
	dev->written = true;
	if (dev->coalescer) {
		offload_coalescer_add(dev->coalescer, pkt, len);
		return;
	}
	if (write(dev->fd, pkt, len) < 0) {
		dev->stats.tx_dropped++;
		return;
	}
	dev->stats.tx++;
}

bool tun_device_flush(struct tun_device *dev)
{
	if (dev->coalescer)
		offload_coalescer_flush(dev->coalescer);
	bool written = dev->written;
	dev->written = false;
	return written;
}

static void on_segment(void *user, const uint8_t *pkt, size_t len)
{
	struct tun_device *dev = user;
	dev->stats.rx++;
	dev->cb.packet(dev->cb.user, pkt, len, dev->read_now);
}

void tun_device_read(struct tun_device *dev)
{
	const struct offload_sink sink = {.packet = on_segment, .user = dev};
	dev->read_now = uv_hrtime();
	for (unsigned packets = 0, reads = 0;
	     reads < TUN_DEVICE_BATCH && packets < TUN_DEVICE_SEGMENT_BUDGET; reads++) {
		ssize_t n = read(dev->fd, dev->read_buf, sizeof(dev->read_buf));
		if (n <= 0)
			break;
		if (!dev->vnet_hdr) {
			on_segment(dev, dev->read_buf, (size_t)n);
			packets++;
			continue;
		}
		int count = offload_split(dev->read_buf, (size_t)n, &sink);
		if (count < 0) {
			/* Logged at powers of two: a kernel that keeps sending
			 * what we cannot take apart must not flood the log. */
			uint64_t errors = ++dev->stats.offload_errors;
			if ((errors & (errors - 1)) == 0)
				log_debug("dropped a TUN read of %zd bytes: %s (%llu so far)", n,
					  strerror(-count), (unsigned long long)errors);
			continue;
		}
		if (count > 1) {
			dev->stats.gso_reads++;
			dev->stats.segments_split += (unsigned)count;
		}
		packets += (unsigned)count;
	}
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
	(void)events;
	if (status >= 0)
		tun_device_read(handle->data);
}

int tun_device_open(uv_loop_t *loop, const char *name, bool offload,
		    const struct tun_callbacks *callbacks, struct tun_device **out)
{
	struct tun_device *dev = calloc(1, sizeof(*dev));
	int rc;
	if (!dev)
		return -ENOMEM;
	dev->fd = -1;
	dev->cb = *callbacks;
	if (!offload) {
		log_debug("TUN offloads off");
		rc = tun_open(name, &dev->fd, dev->name);
	} else {
		const struct offload_writer writer = {.write = write_vnet, .user = dev};
		rc = offload_coalescer_new(&writer, &dev->coalescer);
		if (rc == 0)
			rc = tun_open_offload(name, &dev->fd, dev->name, &dev->offloads);
		if (rc == 0) {
			dev->vnet_hdr = true;
			log_debug("TUN offloads: checksum %s, TSO %s, USO %s, coalescing on",
				  dev->offloads & TUN_OFFLOAD_CSUM ? "on" : "off",
				  dev->offloads & TUN_OFFLOAD_TSO ? "on" : "off",
				  dev->offloads & TUN_OFFLOAD_USO ? "on" : "off");
		}
	}
	if (rc < 0) {
		offload_coalescer_del(dev->coalescer);
		free(dev);
		return rc;
	}
	rc = uv_poll_init(loop, &dev->poll, dev->fd);
	if (rc < 0) {
		tun_close(dev->fd);
		offload_coalescer_del(dev->coalescer);
		free(dev);
		return rc;
	}
	dev->poll.data = dev;
	dev->polling = true;
	*out = dev;
	return 0;
}

int tun_device_start(struct tun_device *dev)
{
	return uv_poll_start(&dev->poll, UV_READABLE, on_readable);
}

static void device_closed(uv_handle_t *handle)
{
	struct tun_device *dev = handle->data;
	tun_close(dev->fd); /* removes the interface */
	offload_coalescer_del(dev->coalescer);
	free(dev);
}

void tun_device_close(struct tun_device *dev)
{
	if (!dev)
		return;
	uv_poll_stop(&dev->poll);
	uv_close((uv_handle_t *)&dev->poll, device_closed);
}

const char *tun_device_name(const struct tun_device *dev)
{
	return dev->name;
}

unsigned tun_device_offloads(const struct tun_device *dev)
{
	return dev->offloads;
}

bool tun_device_vnet_hdr(const struct tun_device *dev)
{
	return dev->vnet_hdr;
}

void tun_device_get_stats(const struct tun_device *dev, struct tun_device_stats *out)
{
	*out = dev->stats;
	if (dev->coalescer) {
		struct offload_coalescer_stats c;
		offload_coalescer_stats(dev->coalescer, &c);
		out->coalesced_writes = c.coalesced_writes;
		out->coalesced_segments = c.coalesced_segments;
	}
}
