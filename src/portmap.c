#define LOG_MODULE "portmap"

#include "iron/portmap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <natpmp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "iron/log.h"

#define BACKOFF_MIN_MS 5000
#define BACKOFF_MAX_MS (5 * 60 * 1000)

enum pm_state { PM_ADDR, PM_MAP, PM_IDLE };

struct portmap {
	uv_loop_t *loop;
	natpmp_t np;
	uv_poll_t poll;
	uv_timer_t timer;
	int handles; /* open, to close */
	uint16_t port;
	void (*changed)(void *user);
	void *user;
	enum pm_state state;
	struct in_addr public_addr;
	bool mapped;
	uint16_t public_port;
	uint32_t lifetime_s;
	uint64_t backoff_ms;
	uint64_t requests, failures;
	int last_error;
	bool answered;	   /* NAT-PMP answered, and has not failed since */
	struct upnp *upnp; /* NULL: no memory for it */
};

static void start_request(struct portmap *pm);

/* UPnP while NAT-PMP does not answer (portmap.h). */
static void choose(struct portmap *pm)
{
	upnp_want(pm->upnp, !pm->answered);
}

static void failed(struct portmap *pm, int code)
{
	bool had = pm->mapped;
	pm->failures++;
	pm->last_error = code;
	pm->mapped = false;
	pm->answered = false;
	pm->state = PM_ADDR;
	pm->backoff_ms = pm->backoff_ms ? pm->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (pm->backoff_ms > BACKOFF_MAX_MS)
		pm->backoff_ms = BACKOFF_MAX_MS;
	log_debug("NAT-PMP: %s (code %d); again in %llu s",
		  code == NATPMP_ERR_NOGATEWAYSUPPORT ? "the gateway does not answer" : "failed",
		  code, (unsigned long long)(pm->backoff_ms / 1000));
	choose(pm);
	if (had)
		pm->changed(pm->user);
}

static void on_timer(uv_timer_t *timer);

static void schedule(struct portmap *pm, uint64_t ms)
{
	uv_timer_start(&pm->timer, on_timer, ms, 0);
}

/* A request is out: the next retry of libnatpmp's own schedule. */
static void schedule_retry(struct portmap *pm)
{
	struct timeval tv;
	if (getnatpmprequesttimeout(&pm->np, &tv) == 0)
		schedule(pm, (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000 + 1);
	else
		schedule(pm, 250);
}

static void read_response(struct portmap *pm)
{
	natpmpresp_t resp;
	int rc = readnatpmpresponseorretry(&pm->np, &resp);
	if (rc == NATPMP_TRYAGAIN) {
		schedule_retry(pm);
		return;
	}
	if (rc < 0) {
		failed(pm, rc);
		schedule(pm, pm->backoff_ms);
		return;
	}
	if (!pm->answered) {
		pm->answered = true;
		choose(pm);
	}
	if (pm->state == PM_ADDR && resp.type == NATPMP_RESPTYPE_PUBLICADDRESS) {
		pm->public_addr = resp.pnu.publicaddress.addr;
		pm->state = PM_MAP;
		start_request(pm);
		return;
	}
	if (pm->state == PM_MAP && resp.type == NATPMP_RESPTYPE_UDPPORTMAPPING) {
		bool changed =
		    !pm->mapped || pm->public_port != resp.pnu.newportmapping.mappedpublicport;
		pm->mapped = true;
		pm->public_port = resp.pnu.newportmapping.mappedpublicport;
		pm->lifetime_s = resp.pnu.newportmapping.lifetime;
		pm->backoff_ms = 0;
		pm->last_error = 0;
		pm->state = PM_IDLE;
		if (changed) {
			char ip[INET_ADDRSTRLEN];
			log_info(
			    "the NAT-PMP gateway maps %s:%u to this node's UDP port %u (for %u s)",
			    inet_ntop(AF_INET, &pm->public_addr, ip, sizeof(ip)), pm->public_port,
			    pm->port, pm->lifetime_s);
			pm->changed(pm->user);
		}
		uint64_t renew = (uint64_t)(pm->lifetime_s ? pm->lifetime_s : 60) * 500;
		schedule(pm, renew);
	}
}

static void on_upnp_changed(void *user)
{
	struct portmap *pm = user;
	pm->changed(pm->user);
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
	struct portmap *pm = poll->data;
	(void)events;
	if (status < 0 || pm->state == PM_IDLE) {
		/* A late answer: read it away. */
		natpmpresp_t resp;
		if (pm->state == PM_IDLE)
			(void)readnatpmpresponseorretry(&pm->np, &resp);
		return;
	}
	read_response(pm);
}

static void start_request(struct portmap *pm)
{
	int rc = pm->state == PM_ADDR
		     ? sendpublicaddressrequest(&pm->np)
		     : sendnewportmappingrequest(&pm->np, NATPMP_PROTOCOL_UDP, pm->port, pm->port,
						 PORTMAP_LIFETIME_S);
	pm->requests++;
	if (rc < 0) {
		failed(pm, rc);
		schedule(pm, pm->backoff_ms);
		return;
	}
	schedule_retry(pm);
}

static void on_timer(uv_timer_t *timer)
{
	struct portmap *pm = timer->data;
	if (pm->np.has_pending_request) {
		read_response(pm); /* retries when the answer is late */
		return;
	}
	if (pm->state == PM_IDLE)
		pm->state = PM_MAP; /* renewal */
	start_request(pm);
}

int portmap_new(uv_loop_t *loop, uint16_t private_port, void (*changed)(void *user), void *user,
		struct portmap **out)
{
	struct portmap *pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	if (initnatpmp(&pm->np, 0, 0) < 0) {
		free(pm);
		return -ENETUNREACH;
	}
	pm->loop = loop;
	pm->port = private_port;
	pm->changed = changed;
	pm->user = user;
	pm->state = PM_ADDR;
	if (uv_poll_init(loop, &pm->poll, pm->np.s) < 0) {
		closenatpmp(&pm->np);
		free(pm);
		return -ENOMEM;
	}
	pm->handles = 1;
	uv_timer_init(loop, &pm->timer);
	pm->handles = 2;
	pm->poll.data = pm->timer.data = pm;
	uv_poll_start(&pm->poll, UV_READABLE, on_readable);
	if (upnp_new(loop, private_port, on_upnp_changed, pm, &pm->upnp) < 0)
		pm->upnp = NULL; /* NAT-PMP alone */
	start_request(pm);
	choose(pm); /* the UPnP search goes alongside NAT-PMP's first request */
	*out = pm;
	return 0;
}

static void on_closed(uv_handle_t *handle)
{
	struct portmap *pm = handle->data;
	if (--pm->handles == 0)
		free(pm);
}

void portmap_del(struct portmap *pm)
{
	if (!pm)
		return;
	if (pm->mapped &&
	    sendnewportmappingrequest(&pm->np, NATPMP_PROTOCOL_UDP, pm->port, 0, 0) >= 0) {
		/* Shutting down: a short wait for the gateway to confirm. */
		struct pollfd pfd = {.fd = pm->np.s, .events = POLLIN};
		natpmpresp_t resp;
		if (poll(&pfd, 1, 300) > 0 && readnatpmpresponseorretry(&pm->np, &resp) >= 0)
			log_info("removed the NAT-PMP port mapping of UDP port %u", pm->port);
	}
	upnp_del(pm->upnp);
	pm->upnp = NULL;
	uv_poll_stop(&pm->poll);
	uv_timer_stop(&pm->timer);
	closenatpmp(&pm->np);
	uv_close((uv_handle_t *)&pm->poll, on_closed);
	uv_close((uv_handle_t *)&pm->timer, on_closed);
}

bool portmap_get(const struct portmap *pm, struct netaddr *out)
{
	if (!pm)
		return false;
	if (!pm->mapped)
		return upnp_get(pm->upnp, out);
	memset(out, 0, sizeof(*out));
	out->in.sin_family = AF_INET;
	out->in.sin_addr = pm->public_addr;
	out->in.sin_port = htons(pm->public_port);
	return true;
}

void portmap_get_info(const struct portmap *pm, struct portmap_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!pm)
		return;
	out->mapped = portmap_get(pm, &out->external);
	out->gateway.s_addr = pm->np.gateway;
	upnp_get_info(pm->upnp, &out->upnp);
	if (pm->mapped) {
		out->protocol = PORTMAP_NATPMP;
		out->lifetime_s = pm->lifetime_s;
	} else if (out->mapped) {
		out->protocol = PORTMAP_UPNP;
		out->lifetime_s = out->upnp.lease_s;
	}
	out->requests = pm->requests + out->upnp.requests;
	out->failures = pm->failures + out->upnp.failures;
	out->last_error = pm->last_error;
}

const char *portmap_protocol_name(enum portmap_protocol protocol)
{
	switch (protocol) {
	case PORTMAP_NATPMP:
		return "nat-pmp";
	case PORTMAP_UPNP:
		return "upnp";
	case PORTMAP_NONE:
		break;
	}
	return NULL;
}
