#define LOG_MODULE "upnp"

#include "iron/upnp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/log.h"

#define BACKOFF_MIN_MS 5000
#define BACKOFF_MAX_MS (5 * 60 * 1000)
#define URL_SIZE       256
#define DESCRIPTION    "iron"
#define LEASE_TEXT_(s) #s
#define LEASE_TEXT(s)  LEASE_TEXT_(s)

/* UPnP error codes (WANIPConnection) the client acts on. */
#define UPNP_NOT_AUTHORIZED	   606
#define UPNP_NO_SUCH_ENTRY	   714
#define UPNP_ONLY_PERMANENT_LEASES 725

/* Failures of our own: positive, below UPnP's codes (4xx to 8xx);
 * miniupnpc's own are negative. */
enum {
	ERR_NO_IGD = 1,	       /* no IGD answered the search */
	ERR_NOT_CONNECTED = 2, /* the IGD says its WAN side is down (or private) */
	ERR_BAD_ADDRESS = 3,   /* an address that is not one of IPv4 */
	ERR_TOO_LONG = 4,      /* a URL longer than the object keeps */
	ERR_QUEUE = 5,	       /* the thread pool refused the call */
};

enum job_kind { JOB_SEARCH, JOB_MAP, JOB_DELETE };

/* One call on the thread pool. The loop fills the inputs before it is
 * queued and reads the outputs in the after-work callback; while it is in
 * flight only the worker touches it. */
struct job {
	uv_work_t work;
	enum job_kind kind;
	/* The IGD: in for MAP and DELETE, out of SEARCH. */
	char control_url[URL_SIZE];
	char service_type[URL_SIZE];
	char desc_url[URL_SIZE];
	char lan_addr[INET_ADDRSTRLEN];
	uint16_t private_port;
	uint16_t external_port; /* MAP: the one wanted; DELETE: the one held */
	uint16_t spare_port;	/* MAP: a random one, the last resort */
	bool permanent;		/* MAP: the IGD grants only lease 0 */
	/* out */
	int rc; /* 0, a UPnP error code, miniupnpc's (negative), or ERR_* */
	struct in_addr external_addr;
	uint16_t mapped_port;
	bool granted_permanent;
};

struct upnp {
	uv_loop_t *loop;
	uv_timer_t timer; /* the next search, or the renewal */
	struct job job;
	bool busy, closing, timer_closed;
	uint16_t port;
	void (*changed)(void *user);
	void *user;
	bool want;
	bool found; /* the IGD below answered and works */
	char control_url[URL_SIZE], service_type[URL_SIZE], desc_url[URL_SIZE];
	char lan_addr[INET_ADDRSTRLEN];
	bool mapped, permanent;
	struct in_addr external_addr;
	uint16_t external_port;
	uint64_t backoff_ms;
	uint64_t requests, failures;
	int last_error;
};

static const char *describe(int rc)
{
	switch (rc) {
	case ERR_NO_IGD:
		return "no UPnP gateway answered";
	case ERR_NOT_CONNECTED:
		return "the UPnP gateway is not connected, or has no public address";
	case ERR_BAD_ADDRESS:
		return "not an IPv4 address";
	case ERR_TOO_LONG:
		return "a URL too long to keep";
	case ERR_QUEUE:
		return "the thread pool refused the call";
	default: {
		const char *text = strupnperror(rc);
		return text ? text : "failed";
	}
	}
}

/* ---- on the thread pool: miniupnpc's blocking calls ---- */

static bool copy_text(char *dst, size_t cap, const char *src)
{
	size_t len = src ? strlen(src) : 0;
	if (!src || len >= cap)
		return false;
	memcpy(dst, src, len + 1);
	return true;
}

static void search(struct job *job)
{
	int err = 0, igd;
	struct UPNPUrls urls;
	struct IGDdatas data;
	char lan[64] = "";
	struct in_addr parsed;
	/* IPv4 SSDP (239.255.255.250:1900), any source port, TTL 2. All the
	 * types at once, then one wait: upnpDiscover() waits for each type in
	 * turn while none answers, and asks for every UPnP root device. */
	static const char *const types[] = {
	    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
	    "urn:schemas-upnp-org:service:WANIPConnection:1",
	    "urn:schemas-upnp-org:service:WANPPPConnection:1",
	    NULL,
	};
	struct UPNPDev *devices = upnpDiscoverDevices(types, UPNP_SEARCH_MS, NULL, NULL,
						      UPNP_LOCAL_PORT_ANY, 0, 2, &err, 1);
	if (!devices) {
		job->rc = err < 0 ? err : ERR_NO_IGD;
		return;
	}
	memset(&urls, 0, sizeof(urls));
	memset(&data, 0, sizeof(data));
#if MINIUPNPC_API_VERSION >= 18
	igd = UPNP_GetValidIGD(devices, &urls, &data, lan, sizeof(lan), NULL, 0);
#else
	igd = UPNP_GetValidIGD(devices, &urls, &data, lan, sizeof(lan));
#endif
	freeUPNPDevlist(devices);
	if (igd != 1)
		job->rc = igd == 0 ? ERR_NO_IGD : ERR_NOT_CONNECTED;
	else if (!copy_text(job->control_url, sizeof(job->control_url), urls.controlURL) ||
		 !copy_text(job->service_type, sizeof(job->service_type), data.first.servicetype) ||
		 !copy_text(job->desc_url, sizeof(job->desc_url), urls.rootdescURL))
		job->rc = ERR_TOO_LONG;
	else if (inet_pton(AF_INET, lan, &parsed) != 1)
		job->rc = ERR_BAD_ADDRESS; /* an IGD reached over IPv6 maps nothing for us */
	else {
		inet_ntop(AF_INET, &parsed, job->lan_addr, sizeof(job->lan_addr));
		job->rc = 0;
	}
	if (igd != 0)
		FreeUPNPUrls(&urls);
}

static int add_mapping(struct job *job, uint16_t external, const char *lease)
{
	char ext[6], in[6];
	snprintf(ext, sizeof(ext), "%u", external);
	snprintf(in, sizeof(in), "%u", job->private_port);
	return UPNP_AddPortMapping(job->control_url, job->service_type, ext, in, job->lan_addr,
				   DESCRIPTION, "UDP", NULL, lease);
}

/* The external address, then the mapping: the node's port (or the one held)
 * when the IGD has it free; else any port it gives (IGD:2's
 * AddAnyPortMapping); else a random one. */
static void map(struct job *job)
{
	char ip[16] = ""; /* miniupnpc writes at most 16 bytes */
	char ext[6], in[6], reserved[6] = "";
	const char *lease = job->permanent ? "0" : LEASE_TEXT(UPNP_LEASE_S);
	int rc = UPNP_GetExternalIPAddress(job->control_url, job->service_type, ip);
	job->granted_permanent = job->permanent;
	if (rc != 0)
		goto out;
	if (inet_pton(AF_INET, ip, &job->external_addr) != 1 || job->external_addr.s_addr == 0) {
		rc = ERR_BAD_ADDRESS;
		goto out;
	}
	job->mapped_port = job->external_port;
	rc = add_mapping(job, job->external_port, lease);
	if (rc == UPNP_ONLY_PERMANENT_LEASES && !job->permanent) {
		job->granted_permanent = true;
		lease = "0";
		rc = add_mapping(job, job->external_port, lease);
	}
	/* The port is taken (718) or not to be had: another, unless the IGD
	 * refuses us altogether or did not answer. */
	if (rc <= 0 || rc == UPNP_NOT_AUTHORIZED)
		goto out;
	snprintf(ext, sizeof(ext), "%u", job->external_port);
	snprintf(in, sizeof(in), "%u", job->private_port);
	if (UPNP_AddAnyPortMapping(job->control_url, job->service_type, ext, in, job->lan_addr,
				   DESCRIPTION, "UDP", NULL, lease, reserved) == 0) {
		char *end;
		unsigned long port = strtoul(reserved, &end, 10);
		if (end != reserved && *end == '\0' && port > 0 && port <= 65535) {
			job->mapped_port = (uint16_t)port;
			rc = 0;
			goto out;
		}
	}
	if (add_mapping(job, job->spare_port, lease) == 0) {
		job->mapped_port = job->spare_port;
		rc = 0;
	}
out:
	job->rc = rc;
}

static void remove_mapping(struct job *job)
{
	char ext[6];
	snprintf(ext, sizeof(ext), "%u", job->external_port);
	job->rc = UPNP_DeletePortMapping(job->control_url, job->service_type, ext, "UDP", NULL);
	if (job->rc == UPNP_NO_SUCH_ENTRY)
		job->rc = 0; /* gone already (lease over, IGD restarted) */
}

static void on_work(uv_work_t *work)
{
	struct upnp *u = work->data;
	struct job *job = &u->job;
	switch (job->kind) {
	case JOB_SEARCH:
		search(job);
		break;
	case JOB_MAP:
		map(job);
		break;
	case JOB_DELETE:
		remove_mapping(job);
		break;
	}
}

/* ---- on the loop ---- */

static void on_work_done(uv_work_t *work, int status);
static void on_timer(uv_timer_t *timer);

static void start_job(struct upnp *u, enum job_kind kind)
{
	struct job *job = &u->job;
	job->kind = kind;
	job->rc = 0;
	memcpy(job->control_url, u->control_url, sizeof(job->control_url));
	memcpy(job->service_type, u->service_type, sizeof(job->service_type));
	memcpy(job->lan_addr, u->lan_addr, sizeof(job->lan_addr));
	job->private_port = u->port;
	job->external_port = u->mapped ? u->external_port : u->port;
	job->spare_port = (uint16_t)(1024 + randombytes_uniform(65536 - 1024));
	job->permanent = u->permanent;
	job->work.data = u;
	u->requests++;
	u->busy = true;
	int rc = uv_queue_work(u->loop, &job->work, on_work, on_work_done);
	if (rc < 0)
		on_work_done(&job->work, rc);
}

static void schedule(struct upnp *u, uint64_t ms)
{
	if (!u->closing)
		uv_timer_start(&u->timer, on_timer, ms, 0);
}

static void backoff(struct upnp *u)
{
	u->backoff_ms = u->backoff_ms ? u->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (u->backoff_ms > BACKOFF_MAX_MS)
		u->backoff_ms = BACKOFF_MAX_MS;
	schedule(u, u->backoff_ms);
}

static void notify(struct upnp *u)
{
	if (!u->closing)
		u->changed(u->user);
}

/* What to do next, when no call is in flight. */
static void step(struct upnp *u)
{
	if (u->busy)
		return;
	if (u->closing) {
		if (u->mapped)
			start_job(u, JOB_DELETE);
		else if (u->timer_closed)
			free(u);
		return;
	}
	if (u->want && !u->found && !uv_is_active((uv_handle_t *)&u->timer))
		start_job(u, JOB_SEARCH);
	else if (u->want && u->found && !u->mapped)
		start_job(u, JOB_MAP);
	else if (!u->want && u->mapped) {
		uv_timer_stop(&u->timer); /* no renewal */
		start_job(u, JOB_DELETE);
	}
}

static void searched(struct upnp *u, const struct job *job)
{
	if (job->rc != 0) {
		u->failures++;
		u->last_error = job->rc;
		backoff(u);
		log_debug("UPnP: %s (%d); again in %llu s", describe(job->rc), job->rc,
			  (unsigned long long)(u->backoff_ms / 1000));
		return;
	}
	memcpy(u->control_url, job->control_url, sizeof(u->control_url));
	memcpy(u->service_type, job->service_type, sizeof(u->service_type));
	memcpy(u->desc_url, job->desc_url, sizeof(u->desc_url));
	memcpy(u->lan_addr, job->lan_addr, sizeof(u->lan_addr));
	u->found = true;
	log_debug("UPnP gateway at %s (this node is %s to it)", u->desc_url, u->lan_addr);
	notify(u);
}

static void mapped(struct upnp *u, const struct job *job)
{
	if (job->rc != 0) {
		bool had = u->mapped;
		u->failures++;
		u->last_error = job->rc;
		u->mapped = false;
		u->found = false; /* search again: the IGD may have gone or changed */
		backoff(u);
		log_debug("UPnP: no mapping: %s (%d); search again in %llu s", describe(job->rc),
			  job->rc, (unsigned long long)(u->backoff_ms / 1000));
		if (had)
			notify(u);
		return;
	}
	bool changed = !u->mapped || u->external_port != job->mapped_port ||
		       u->external_addr.s_addr != job->external_addr.s_addr;
	u->mapped = true;
	u->external_addr = job->external_addr;
	u->external_port = job->mapped_port;
	u->permanent = job->granted_permanent;
	u->backoff_ms = 0;
	u->last_error = 0;
	schedule(u, (uint64_t)(u->permanent ? UPNP_PERMANENT_RENEW_S : UPNP_LEASE_S / 2) * 1000);
	if (changed) {
		char ip[INET_ADDRSTRLEN];
		log_info("the UPnP gateway maps %s:%u to this node's UDP port %u (%s)",
			 inet_ntop(AF_INET, &u->external_addr, ip, sizeof(ip)), u->external_port,
			 u->port,
			 u->permanent ? "a permanent mapping"
				      : "for " LEASE_TEXT(UPNP_LEASE_S) " s");
		notify(u);
	}
}

static void deleted(struct upnp *u, const struct job *job)
{
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &u->external_addr, ip, sizeof(ip));
	if (job->rc == 0)
		log_info("removed the UPnP port mapping %s:%u", ip, u->external_port);
	else
		log_debug("UPnP: could not remove the port mapping %s:%u: %s (%d)", ip,
			  u->external_port, describe(job->rc), job->rc);
	/* Tried either way: a lease runs out by itself. */
	u->mapped = false;
	notify(u);
}

static void on_work_done(uv_work_t *work, int status)
{
	struct upnp *u = work->data;
	struct job *job = &u->job;
	u->busy = false;
	if (status < 0)
		job->rc = ERR_QUEUE;
	switch (job->kind) {
	case JOB_SEARCH:
		searched(u, job);
		break;
	case JOB_MAP:
		mapped(u, job);
		break;
	case JOB_DELETE:
		deleted(u, job);
		break;
	}
	step(u);
}

static void on_timer(uv_timer_t *timer)
{
	struct upnp *u = timer->data;
	if (u->busy)
		return; /* its completion steps on */
	if (u->want && u->mapped)
		start_job(u, JOB_MAP); /* renewal */
	else
		step(u);
}

int upnp_new(uv_loop_t *loop, uint16_t private_port, void (*changed)(void *user), void *user,
	     struct upnp **out)
{
	struct upnp *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	/* miniupnpc writes to its HTTP sockets with send(..., 0): a gateway
	 * that hangs up early must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	u->loop = loop;
	u->port = private_port;
	u->changed = changed;
	u->user = user;
	uv_timer_init(loop, &u->timer);
	u->timer.data = u;
	*out = u;
	return 0;
}

void upnp_want(struct upnp *u, bool want)
{
	if (!u || u->closing || u->want == want)
		return;
	u->want = want;
	step(u);
}

static void on_timer_closed(uv_handle_t *handle)
{
	struct upnp *u = handle->data;
	u->timer_closed = true;
	step(u);
}

void upnp_del(struct upnp *u)
{
	if (!u)
		return;
	u->closing = true;
	uv_timer_stop(&u->timer);
	uv_close((uv_handle_t *)&u->timer, on_timer_closed);
	/* The delete, if there is a mapping, goes now; the object is freed
	 * once it and the timer are done. */
	step(u);
}

bool upnp_get(const struct upnp *u, struct netaddr *out)
{
	if (!u || !u->mapped)
		return false;
	memset(out, 0, sizeof(*out));
	out->in.sin_family = AF_INET;
	out->in.sin_addr = u->external_addr;
	out->in.sin_port = htons(u->external_port);
	return true;
}

void upnp_get_info(const struct upnp *u, struct upnp_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!u)
		return;
	out->found = u->found;
	if (u->found)
		memcpy(out->gateway, u->desc_url, sizeof(out->gateway));
	out->lease_s = u->mapped && !u->permanent ? UPNP_LEASE_S : 0;
	out->requests = u->requests;
	out->failures = u->failures;
	out->last_error = u->last_error;
}
