/* Address publishing and lookup by node ID, as iroh 1.x does it (its N0
 * preset): this node's record (pkarr.h) is PUT to a pkarr relay, and
 * peers' records are looked up both by TXT query "_iroh.<z32>.<origin>"
 * through the system resolver and by pkarr GET, whichever are configured.
 *
 * Publishing: discovery_publish() gives the record to publish; it is
 * signed and PUT at once when it changed, again every republish interval
 * (5 min), and after a failure with backoff (1 s doubling to 5 min). A PUT
 * in flight when the record changes is let finish, then the new one goes.
 *
 * Lookup: discovery_lookup() starts a lookup of a peer unless one is in
 * flight for it; the DNS query (retried once after 1 s and again after 3 s
 * when unanswered; read with pkarr_parse_dns(), so rec->ttl is the
 * records' TTL) and the pkarr GET run at once; found() is called for each
 * answer that holds something, done() once when all have ended. A lookup
 * that outlives timeout ends with done(-ETIMEDOUT), or done(0) when a
 * source found something already. At most DISCOVERY_MAX_LOOKUPS run at
 * once (-EBUSY beyond). Callbacks never run from inside discovery_lookup()
 * or discovery_publish(); they may call any function here, discovery_del()
 * included.
 *
 * The PUT carries no Content-Type (iroh sends none); GET responses are
 * taken whatever their Content-Type (iroh-dns-server sends
 * "application/x-pkarr-signed-packet", the pkarr relay spec
 * PKARR_CONTENT_TYPE). A record too large for one packet is published with
 * its last addresses left out. */
#ifndef IRON_DISCOVERY_H
#define IRON_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/id.h"
#include "iron/identity.h"
#include "iron/pkarr.h"
#include "iron/resolver.h"

#define DISCOVERY_MAX_LOOKUPS 256

struct discovery;

struct discovery_config {
	const char *pkarr_url;	    /* e.g. "https://dns.iroh.link/pkarr"; NULL: none */
	const char *dns_origin;	    /* e.g. "dns.iroh.link"; NULL: no DNS lookups */
	uint64_t republish_ms;	    /* 0: 5 min */
	uint64_t lookup_timeout_ms; /* 0: 5 s */
};

struct discovery_callbacks {
	void *user;
	/* A lookup found id's record (source: "dns" or "pkarr"). */
	void (*found)(void *user, const struct iron_id *id, const struct pkarr_record *rec,
		      const char *source);
	/* A lookup ended: 0 when something was found, else -ENOENT (no
	 * record), -ETIMEDOUT or another negative errno. */
	void (*done)(void *user, const struct iron_id *id, int status);
};

/* identity and resolver must outlive the object; resolver may be NULL
 * only without an origin (and with a numeric pkarr URL host). The strings
 * of config are copied (trailing '/' of the URL and '.' of the origin
 * dropped). cb may be NULL. Returns 0, -EINVAL (empty URL or origin, an
 * origin too long for a name, an origin and no resolver) or -ENOMEM. */
int discovery_new(uv_loop_t *loop, struct resolver *resolver, const struct iron_identity *identity,
		  const struct discovery_config *config, const struct discovery_callbacks *cb,
		  struct discovery **out);
/* Cancels everything in flight; no callback runs after this. NULL is fine. */
void discovery_del(struct discovery *d);

/* Sets the record to publish (copied). Without a pkarr URL it does
 * nothing. */
void discovery_publish(struct discovery *d, const struct pkarr_record *rec);

/* Starts a lookup. Returns 0 (started, or one already in flight for id),
 * -ENOTSUP (neither pkarr URL nor origin configured), -EBUSY, -ENOMEM, or
 * -ECANCELED when called from a callback after discovery_del(). */
int discovery_lookup(struct discovery *d, const struct iron_id *id);

struct discovery_info {
	bool publishing;	  /* a pkarr URL is set */
	uint64_t last_publish_ms; /* uv_now() of the last acknowledged PUT; 0: none */
	int last_publish_status;  /* HTTP status or negative errno of the last PUT; 0: none yet */
	char last_error[128];	  /* "" or the last failure's reason */
	uint64_t publishes, publish_failures, lookups, lookups_found, lookups_failed;
	size_t lookups_in_flight;
};
void discovery_get_info(const struct discovery *d, struct discovery_info *out);

#endif
