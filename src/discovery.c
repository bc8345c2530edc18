/* Address publishing and lookup by node ID (discovery.h), as iroh 1.x's
 * PkarrPublisher, PkarrResolver and DnsAddressLookup do it:
 *
 * - publishing: the record is signed (pkarr.h) with a timestamp that never
 *   goes backwards and PUT to "<pkarr url>/<z32 ID>" with no Content-Type,
 *   as iroh sends it; 2xx is success (iroh-dns-server answers 204). When
 *   the record is too large for one packet the last addresses are left
 *   out.
 * - lookup by DNS: the TXT query "_iroh.<z32>.<origin>" (recursion desired,
 *   through the system resolver) at 0, 1 s and 3 s until one is answered
 *   (iroh staggers at 0, 200, 300, 600, 1000, 2000 and 3000 ms); the raw
 *   answer is read with pkarr_parse_dns(), so the records' names are
 *   checked and their TTLs kept. NXDOMAIN or no record: not found.
 * - lookup by pkarr: GET "<pkarr url>/<z32>" (iroh-dns-server answers 200
 *   with the signed packet without the public key, or 404), verified with
 *   the ID and parsed.
 *
 * Every object is freed in libuv close callbacks only, so a callback may
 * call discovery_del() and its caller still finds its memory. */
#define LOG_MODULE "discovery"
#include "iron/discovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iron/encoding.h"
#include "iron/http_client.h"
#include "iron/log.h"

#define REPUBLISH_DEFAULT_MS	  (5 * 60 * 1000)
#define LOOKUP_TIMEOUT_DEFAULT_MS 5000
#define BACKOFF_MIN_MS		  1000
#define BACKOFF_MAX_MS		  (5 * 60 * 1000)
#define PUT_TIMEOUT_MS		  10000
#define CHANGE_RETRY_MS		  1000
#define PUT_MAX_RESPONSE	  4096
#define DNS_ATTEMPTS		  3
#define Z32_LEN			  52
#define DNS_TYPE_TXT		  16
#define DNS_RCODE_NXDOMAIN	  3

static const uint64_t dns_retry_at_ms[DNS_ATTEMPTS] = {0, 1000, 3000};

struct lookup;

struct dns_attempt {
	struct lookup *lookup;
	struct resolver_query *query; /* NULL: not running */
};

struct lookup {
	struct discovery *d;
	struct lookup *prev, *next;
	struct iron_id id;
	char z32[Z32_LEN + 1];
	uv_timer_t retry_timer, deadline_timer;
	int open_handles;
	bool finished; /* done() ran or the lookup was cancelled */
	bool found;

	bool dns_running;
	int dns_started;
	struct dns_attempt attempts[DNS_ATTEMPTS];
	int dns_status; /* of the DNS side once it ended */

	bool pkarr_running;
	struct http_client_call *get;
	int pkarr_status;
};

struct discovery {
	uv_loop_t *loop;
	struct resolver *resolver;
	const struct iron_identity *identity;
	char *pkarr_url; /* without trailing slashes; NULL: none */
	char *origin;	 /* without a trailing dot; NULL: none */
	uint64_t republish_ms, lookup_timeout_ms;
	struct discovery_callbacks cb;
	bool closing;
	int open_handles; /* the publish timer and every lookup's timers */
	char z32[Z32_LEN + 1];

	/* Publishing. */
	bool have_record, dirty;
	struct pkarr_record record;
	struct http_client_call *put;
	uv_timer_t publish_timer;
	unsigned failures; /* in a row */
	uint64_t last_ts;

	/* Lookups in flight. */
	struct lookup *lookups;
	size_t nlookups;

	struct discovery_info info;
};

static void maybe_free(struct discovery *d)
{
	if (d->closing && d->open_handles == 0) {
		free(d->pkarr_url);
		free(d->origin);
		free(d);
	}
}

/* ------------------------------------------------------------ publishing */

static void on_publish_timer(uv_timer_t *timer);

/* Microseconds since the epoch, strictly increasing from one packet to
 * the next (as iroh's Timestamp::now()), so a relay never takes a newer
 * record for an older one. */
static uint64_t next_timestamp(struct discovery *d)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	d->last_ts = now > d->last_ts ? now : d->last_ts + 1;
	return d->last_ts;
}

static void publish_failed(struct discovery *d, int status, const char *err)
{
	d->info.publish_failures++;
	d->info.last_publish_status = status;
	snprintf(d->info.last_error, sizeof(d->info.last_error), "%s", err);
	d->failures++;
	uint64_t backoff = BACKOFF_MIN_MS;
	for (unsigned i = 1; i < d->failures && backoff < BACKOFF_MAX_MS; i++)
		backoff *= 2;
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	log_warn("publishing to %s failed: %s (again in %llu s)", d->pkarr_url, err,
		 (unsigned long long)(backoff / 1000));
	uv_timer_start(&d->publish_timer, on_publish_timer, backoff, 0);
}

static void publish_now(struct discovery *d);

static void on_put(void *user, int status, const uint8_t *body, size_t len, const char *err)
{
	struct discovery *d = user;
	(void)body;
	(void)len;
	d->put = NULL;
	if (status < 200 || status > 299) {
		publish_failed(d, status, err);
		return;
	}
	if (d->failures > 0 || d->info.publishes == 0)
		log_info("published to %s", d->pkarr_url);
	else
		log_debug("published to %s", d->pkarr_url);
	d->info.publishes++;
	d->info.last_publish_status = status;
	d->info.last_publish_ms = uv_now(d->loop);
	d->info.last_error[0] = '\0';
	d->failures = 0;
	if (d->dirty)
		publish_now(d);
	else
		uv_timer_start(&d->publish_timer, on_publish_timer, d->republish_ms, 0);
}

/* Signs the current record and PUTs it (unless a PUT is in flight). */
static void publish_now(struct discovery *d)
{
	uint8_t dns[PKARR_MAX_DNS], packet[PKARR_MAX_SIGNED];
	char url[512], err[160];
	struct pkarr_record rec;

	if (d->closing || d->put || !d->have_record)
		return;
	uv_timer_stop(&d->publish_timer);
	d->dirty = false;
	rec = d->record;
	int n;
	while ((n = pkarr_encode_dns(&d->identity->id, &rec, dns, sizeof(dns))) == -EMSGSIZE &&
	       rec.naddrs > 0)
		rec.naddrs--;
	if (n < 0) {
		/* Not publishable as it is: wait for another record. */
		d->info.publish_failures++;
		d->info.last_publish_status = n;
		snprintf(d->info.last_error, sizeof(d->info.last_error),
			 "cannot encode the record: %s", strerror(-n));
		log_warn("%s", d->info.last_error);
		return;
	}
	if (rec.naddrs < d->record.naddrs)
		log_debug("publishing %zu of %zu addresses (packet size)", rec.naddrs,
			  d->record.naddrs);
	int len =
	    pkarr_sign(d->identity, next_timestamp(d), dns, (size_t)n, packet, sizeof(packet));
	snprintf(url, sizeof(url), "%s/%s", d->pkarr_url, d->z32);
	const struct http_client_request req = {.method = "PUT",
						.url = url,
						.body = packet,
						.body_len = (size_t)len,
						.timeout_ms = PUT_TIMEOUT_MS,
						.max_response = PUT_MAX_RESPONSE};
	int rc = http_client_request(d->loop, d->resolver, &req, on_put, d, &d->put);
	if (rc < 0) {
		d->put = NULL;
		snprintf(err, sizeof(err), "cannot start the request: %s", strerror(-rc));
		publish_failed(d, rc, err);
	}
}

static void on_publish_timer(uv_timer_t *timer)
{
	publish_now(timer->data);
}

static bool same_record(const struct pkarr_record *a, const struct pkarr_record *b)
{
	if (strcmp(a->relay, b->relay) != 0 || a->naddrs != b->naddrs || a->ttl != b->ttl)
		return false;
	for (size_t i = 0; i < a->naddrs; i++)
		if (!netaddr_equal(&a->addrs[i].sa, &b->addrs[i].sa))
			return false;
	return true;
}

void discovery_publish(struct discovery *d, const struct pkarr_record *rec)
{
	if (!d->pkarr_url || d->closing)
		return;
	struct pkarr_record copy = *rec;
	copy.relay[PKARR_URL_MAX - 1] = '\0';
	if (copy.naddrs > PKARR_MAX_ADDRS)
		copy.naddrs = PKARR_MAX_ADDRS;
	if (d->have_record && same_record(&copy, &d->record))
		return;
	d->record = copy;
	d->have_record = true;
	d->dirty = true;
	/* A PUT in flight finishes first. After a failure the backoff timer
	 * publishes whatever is current then, but a new record (a relay
	 * reached, an address gained: often what the failure was waiting
	 * for) goes out within CHANGE_RETRY_MS: backoff is for a server that
	 * keeps failing, not for a node whose network just came up. */
	if (d->put)
		return;
	if (d->failures == 0)
		publish_now(d);
	else if (uv_timer_get_due_in(&d->publish_timer) > CHANGE_RETRY_MS)
		uv_timer_start(&d->publish_timer, on_publish_timer, CHANGE_RETRY_MS, 0);
}

/* --------------------------------------------------------------- lookups */

static void on_lookup_handle_closed(uv_handle_t *handle)
{
	struct lookup *l = handle->data;
	struct discovery *d = l->d;
	if (--l->open_handles == 0)
		free(l);
	d->open_handles--;
	maybe_free(d);
}

/* Stops everything the lookup runs, without a callback; it is freed once
 * its timers have closed. */
static void lookup_stop(struct lookup *l)
{
	struct discovery *d = l->d;
	l->finished = true;
	if (l->prev)
		l->prev->next = l->next;
	else
		d->lookups = l->next;
	if (l->next)
		l->next->prev = l->prev;
	d->nlookups--;
	d->info.lookups_in_flight = d->nlookups;
	for (int i = 0; i < DNS_ATTEMPTS; i++) {
		struct resolver_query *q = l->attempts[i].query;
		l->attempts[i].query = NULL;
		if (q)
			resolver_cancel(q);
	}
	if (l->get) {
		struct http_client_call *c = l->get;
		l->get = NULL;
		http_client_cancel(c);
	}
	uv_close((uv_handle_t *)&l->retry_timer, on_lookup_handle_closed);
	uv_close((uv_handle_t *)&l->deadline_timer, on_lookup_handle_closed);
}

static void lookup_finish(struct lookup *l, int status)
{
	struct discovery *d = l->d;
	if (l->finished)
		return;
	lookup_stop(l);
	if (status == 0)
		d->info.lookups_found++;
	else
		d->info.lookups_failed++;
	log_debug("lookup of %.10s: %s", l->z32, status == 0 ? "found" : strerror(-status));
	if (d->cb.done)
		d->cb.done(d->cb.user, &l->id, status);
}

/* Both sides have ended (or were never started): done(). */
static void lookup_check_done(struct lookup *l)
{
	if (l->finished || l->dns_running || l->pkarr_running)
		return;
	int status = 0;
	if (!l->found) {
		/* Not found by one side beats an error of the other. */
		status = l->dns_status ? l->dns_status : l->pkarr_status;
		if (l->dns_status == -ENOENT || l->pkarr_status == -ENOENT)
			status = -ENOENT;
		if (status == 0)
			status = -ENOENT;
	}
	lookup_finish(l, status);
}

/* Hands a record to found() when it holds something. Returns false when
 * the lookup ended meanwhile (the callback deleted it all). */
static bool report(struct lookup *l, const struct pkarr_record *rec, const char *source)
{
	if (rec->relay[0] == '\0' && rec->naddrs == 0)
		return true;
	l->found = true;
	if (l->d->cb.found)
		l->d->cb.found(l->d->cb.user, &l->id, rec, source);
	return !l->finished;
}

static void dns_end(struct lookup *l, int status)
{
	l->dns_running = false;
	l->dns_status = status;
	uv_timer_stop(&l->retry_timer);
	for (int i = 0; i < DNS_ATTEMPTS; i++) {
		struct resolver_query *q = l->attempts[i].query;
		l->attempts[i].query = NULL;
		if (q)
			resolver_cancel(q);
	}
	lookup_check_done(l);
}

static void on_dns(void *user, int status, const uint8_t *answer, size_t len)
{
	struct dns_attempt *a = user;
	struct lookup *l = a->lookup;
	if (!a->query) /* cancelled by us */
		return;
	a->query = NULL;
	if (l->finished || !l->dns_running)
		return;
	if (status == 0 && len >= 4 && (answer[3] & 0x0f) == DNS_RCODE_NXDOMAIN)
		status = -ENOENT;
	else if (status == 0 && len >= 4 && (answer[3] & 0x0f) != 0)
		status = -EREMOTEIO;
	if (status == 0) {
		struct pkarr_record rec;
		if (pkarr_parse_dns(&l->id, answer, len, &rec) != 0) {
			status = -EBADMSG;
		} else {
			if (!report(l, &rec, "dns"))
				return;
			dns_end(l, rec.relay[0] || rec.naddrs ? 0 : -ENOENT);
			return;
		}
	}
	if (status == -ENOENT || status == -ENODATA) {
		dns_end(l, -ENOENT);
		return;
	}
	/* This try failed: the next one is due at its time; the last one
	 * failing ends the DNS side. */
	log_debug("DNS lookup of %.10s: %s", l->z32, resolver_strerror(status));
	bool running = false;
	for (int i = 0; i < DNS_ATTEMPTS; i++)
		running |= l->attempts[i].query != NULL;
	if (!running && l->dns_started == DNS_ATTEMPTS)
		dns_end(l, status);
	else
		l->dns_status = status;
}

static void dns_try(struct lookup *l)
{
	struct discovery *d = l->d;
	char name[256];
	struct dns_attempt *a = &l->attempts[l->dns_started++];
	snprintf(name, sizeof(name), "_iroh.%s.%s", l->z32, d->origin);
	a->lookup = l;
	int rc = resolver_query(d->resolver, name, DNS_TYPE_TXT, on_dns, a, &a->query);
	if (rc < 0) {
		a->query = NULL;
		l->dns_status = rc;
		bool running = false;
		for (int i = 0; i < DNS_ATTEMPTS; i++)
			running |= l->attempts[i].query != NULL;
		if (!running && l->dns_started == DNS_ATTEMPTS)
			dns_end(l, rc);
	}
}

static void on_retry_timer(uv_timer_t *timer)
{
	struct lookup *l = timer->data;
	if (l->finished || !l->dns_running || l->dns_started >= DNS_ATTEMPTS)
		return;
	dns_try(l);
	if (!l->finished && l->dns_running && l->dns_started < DNS_ATTEMPTS)
		uv_timer_start(
		    &l->retry_timer, on_retry_timer,
		    dns_retry_at_ms[l->dns_started] - dns_retry_at_ms[l->dns_started - 1], 0);
}

static void on_get(void *user, int status, const uint8_t *body, size_t len, const char *err)
{
	struct lookup *l = user;
	l->get = NULL;
	if (l->finished)
		return;
	int result;
	if (status == 200) {
		uint64_t ts;
		const uint8_t *dns;
		size_t dns_len;
		struct pkarr_record rec;
		result = pkarr_verify(&l->id, body, len, &ts, &dns, &dns_len);
		if (result == 0)
			result = pkarr_parse_dns(&l->id, dns, dns_len, &rec);
		if (result == 0) {
			l->pkarr_running = false;
			if (!report(l, &rec, "pkarr"))
				return;
			l->pkarr_status = rec.relay[0] || rec.naddrs ? 0 : -ENOENT;
			lookup_check_done(l);
			return;
		}
		log_debug("pkarr lookup of %.10s: bad packet: %s", l->z32, strerror(-result));
	} else if (status == 404) {
		result = -ENOENT;
	} else {
		result = status < 0 ? status : -EREMOTEIO;
		log_debug("pkarr lookup of %.10s: %s", l->z32, err);
	}
	l->pkarr_running = false;
	l->pkarr_status = result;
	lookup_check_done(l);
}

static void on_deadline(uv_timer_t *timer)
{
	struct lookup *l = timer->data;
	if (!l->dns_running && !l->pkarr_running)
		lookup_check_done(l); /* neither side could start */
	else
		lookup_finish(l, l->found ? 0 : -ETIMEDOUT);
}

int discovery_lookup(struct discovery *d, const struct iron_id *id)
{
	if (d->closing)
		return -ECANCELED;
	if (!d->pkarr_url && !d->origin)
		return -ENOTSUP;
	for (struct lookup *l = d->lookups; l; l = l->next)
		if (id_equal(&l->id, id))
			return 0;
	if (d->nlookups >= DISCOVERY_MAX_LOOKUPS)
		return -EBUSY;
	struct lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->d = d;
	l->id = *id;
	encoding_zbase32_encode(id->bytes, IRON_ID_LEN, l->z32, sizeof(l->z32));
	uv_timer_init(d->loop, &l->retry_timer);
	uv_timer_init(d->loop, &l->deadline_timer);
	l->retry_timer.data = l;
	l->deadline_timer.data = l;
	l->open_handles = 2;
	d->open_handles += 2;
	l->next = d->lookups;
	if (d->lookups)
		d->lookups->prev = l;
	d->lookups = l;
	d->nlookups++;
	d->info.lookups++;
	d->info.lookups_in_flight = d->nlookups;
	log_debug("looking up %.10s", l->z32);

	uv_timer_start(&l->deadline_timer, on_deadline, d->lookup_timeout_ms, 0);
	if (d->origin) {
		l->dns_running = true;
		dns_try(l);
		if (l->dns_running)
			uv_timer_start(&l->retry_timer, on_retry_timer, dns_retry_at_ms[1], 0);
	}
	if (d->pkarr_url) {
		char url[512];
		snprintf(url, sizeof(url), "%s/%s", d->pkarr_url, l->z32);
		const struct http_client_request req = {.method = "GET",
							.url = url,
							.timeout_ms = d->lookup_timeout_ms,
							.max_response = PKARR_MAX_SIGNED};
		l->pkarr_running = true;
		int rc = http_client_request(d->loop, d->resolver, &req, on_get, l, &l->get);
		if (rc < 0) {
			l->get = NULL;
			l->pkarr_running = false;
			l->pkarr_status = rc;
		}
	}
	if (!l->dns_running && !l->pkarr_running) {
		/* Neither could start: report on the next iteration, through
		 * the deadline timer, never from inside this call. */
		uv_timer_start(&l->deadline_timer, on_deadline, 0, 0);
	}
	return 0;
}

/* ------------------------------------------------------------- the object */

static void on_publish_timer_closed(uv_handle_t *handle)
{
	struct discovery *d = handle->data;
	d->open_handles--;
	maybe_free(d);
}

static char *copy_trimmed(const char *text, char strip)
{
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == strip)
		n--;
	char *out = malloc(n + 1);
	if (out) {
		memcpy(out, text, n);
		out[n] = '\0';
	}
	return out;
}

int discovery_new(uv_loop_t *loop, struct resolver *resolver, const struct iron_identity *identity,
		  const struct discovery_config *config, const struct discovery_callbacks *cb,
		  struct discovery **out)
{
	if ((config->dns_origin && !resolver) ||
	    (config->dns_origin &&
	     (config->dns_origin[0] == '\0' || strlen(config->dns_origin) > 253 - Z32_LEN - 7)) ||
	    (config->pkarr_url && config->pkarr_url[0] == '\0'))
		return -EINVAL;
	struct discovery *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->resolver = resolver;
	d->identity = identity;
	if (config->pkarr_url && !(d->pkarr_url = copy_trimmed(config->pkarr_url, '/')))
		goto nomem;
	if (config->dns_origin && !(d->origin = copy_trimmed(config->dns_origin, '.')))
		goto nomem;
	if ((d->origin && d->origin[0] == '\0') || (d->pkarr_url && d->pkarr_url[0] == '\0')) {
		free(d->pkarr_url);
		free(d->origin);
		free(d);
		return -EINVAL;
	}
	d->republish_ms = config->republish_ms ? config->republish_ms : REPUBLISH_DEFAULT_MS;
	d->lookup_timeout_ms =
	    config->lookup_timeout_ms ? config->lookup_timeout_ms : LOOKUP_TIMEOUT_DEFAULT_MS;
	if (cb)
		d->cb = *cb;
	encoding_zbase32_encode(identity->id.bytes, IRON_ID_LEN, d->z32, sizeof(d->z32));
	d->info.publishing = d->pkarr_url != NULL;
	uv_timer_init(loop, &d->publish_timer);
	d->publish_timer.data = d;
	d->open_handles = 1;
	*out = d;
	return 0;
nomem:
	free(d->pkarr_url);
	free(d->origin);
	free(d);
	return -ENOMEM;
}

void discovery_del(struct discovery *d)
{
	if (!d || d->closing)
		return;
	d->closing = true;
	memset(&d->cb, 0, sizeof(d->cb));
	if (d->put) {
		struct http_client_call *c = d->put;
		d->put = NULL;
		http_client_cancel(c);
	}
	while (d->lookups)
		lookup_stop(d->lookups);
	uv_close((uv_handle_t *)&d->publish_timer, on_publish_timer_closed);
}

void discovery_get_info(const struct discovery *d, struct discovery_info *out)
{
	*out = d->info;
	out->lookups_in_flight = d->nlookups;
}
