/* A DNS resolver driven by a libuv loop: c-ares for the protocol, the loop
 * for its sockets (uv_poll_t) and its timeouts (uv_timer_t), so a lookup
 * never blocks the loop. One resolver serves `iron resolve` and the daemon
 * (peer host names, discovery TXT records).
 *
 * Callbacks: every lookup started successfully ends with exactly one call
 * of its callback: from the loop, or with -ECANCELED from inside
 * resolver_cancel() or resolver_del(); never from inside the call that
 * started it (numeric hosts and answers c-ares has at once, e.g. from
 * /etc/hosts, are delivered on the next loop iteration). Results passed to
 * a callback are borrowed: valid only during the call. A start function
 * that returns an error never calls the callback. Callbacks may start and
 * cancel lookups and call resolver_del().
 *
 * Query handles: a start function may hand out a struct resolver_query to
 * cancel the lookup with. The handle is valid until its callback begins;
 * using it afterwards is a use-after-free.
 *
 * Errors are 0 or -errno; resolver_strerror() gives a message for each. The
 * c-ares codes become: -ENOENT no such name (NXDOMAIN), -ENODATA no record
 * of that type, -ETIMEDOUT no answer in time, -ECONNREFUSED server
 * unreachable, -EREMOTEIO server failure (SERVFAIL), -EACCES query refused
 * (REFUSED), -EOPNOTSUPP not implemented (NOTIMP), -EPROTO format error
 * (FORMERR), -EBADMSG malformed answer, -ECONNRESET connection closed,
 * -EINVAL not a valid name, -ENOMEM, -ECANCELED cancelled, -EIO anything
 * else (logged with c-ares' own message). */
#ifndef IRON_RESOLVER_H
#define IRON_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/netaddr.h"

struct resolver;
struct resolver_query;

/* Queries in flight by default (resolver_options.max_queries = 0). */
#define RESOLVER_MAX_QUERIES_DEFAULT 64

/* Addresses a host lookup reports at most; the rest are dropped. */
#define RESOLVER_ADDRS_MAX 32

/* A zeroed struct means: the system's servers and settings. */
struct resolver_options {
	/* Servers to ask instead of /etc/resolv.conf's (port 0 means 53), in
	 * order; copied by resolver_new(). NULL or nservers 0: the system's. */
	const struct netaddr *servers;
	size_t nservers;
	/* Time for the first try of a query; c-ares doubles it on each round
	 * of retries. 0: /etc/resolv.conf's "timeout", else c-ares' default. */
	unsigned timeout_ms;
	/* Tries per server. 0: /etc/resolv.conf's "attempts", else c-ares' default. */
	unsigned tries;
	/* Lookups alive at once; more fail with -EAGAIN. 0: the default. */
	unsigned max_queries;
	/* Every rcode is an answer: a SERVFAIL, REFUSED or NOTIMP reply ends
	 * resolver_query() with status 0 and its bytes instead of sending the
	 * query to the next server (what a diagnostic tool wants, not a
	 * daemon). */
	bool every_rcode;
};

/* The outcome of resolver_lookup_host(): status 0 with n >= 1 addresses
 * (IPv4 and IPv6, c-ares' RFC 6724 order, each with the port asked for),
 * or an error with addrs NULL and n 0. */
typedef void resolver_host_fn(void *user, int status, const struct netaddr *addrs, size_t n);

/* The outcome of resolver_query(): status 0 and the whole DNS response
 * (header included; any rcode that c-ares passes on: NOERROR, NXDOMAIN,
 * and with every_rcode the rest), or an error with answer NULL, len 0. */
typedef void resolver_answer_fn(void *user, int status, const uint8_t *answer, size_t len);

/* One TXT record: its character-strings joined, without length bytes. */
struct resolver_txt {
	const uint8_t *data;
	size_t len;
};

/* The outcome of resolver_query_txt(): status 0 with n >= 1 records in
 * answer order, or an error (-ENOENT, -ENODATA, ...) with records NULL. */
typedef void resolver_txt_fn(void *user, int status, const struct resolver_txt *records, size_t n);

/* Creates a resolver on loop (which must outlive it). options may be NULL
 * (all defaults). Returns 0 and *out, or -EINVAL (a server that is not
 * IPv4 or IPv6), -ENOMEM, -EIO (c-ares cannot start; logged), or a libuv
 * error from setting up its handles. */
int resolver_new(uv_loop_t *loop, const struct resolver_options *options, struct resolver **out);

/* Cancels every lookup and deletes the resolver. Each lookup whose
 * callback has not run yet gets it now, once, with -ECANCELED, before this
 * returns; no callback runs after. Lookups started from those callbacks
 * fail with -ECANCELED. The memory is freed once libuv has closed the
 * handles (a later loop iteration): run the loop for that before
 * uv_loop_close(). May be called from a resolver callback. NULL is
 * ignored. */
void resolver_del(struct resolver *r);

/* Looks up the IPv4 and IPv6 addresses of host (A and AAAA, through
 * /etc/hosts and the search list as the system does) and gives them with
 * port. A numeric host (IPv4 or IPv6 literal) is answered without a query,
 * on the next loop iteration. query may be NULL; else *query is the handle
 * to cancel with. Returns 0 (cb will run once), -EAGAIN (max_queries
 * alive), -ECANCELED (the resolver is being deleted), -EINVAL (not a name),
 * -ENOMEM, or another code from the list above when c-ares fails at once. */
int resolver_lookup_host(struct resolver *r, const char *host, uint16_t port, resolver_host_fn *cb,
			 void *user, struct resolver_query **query);

/* Sends one query (class IN, recursion desired, no search list) for name
 * and type (e.g. 28 for AAAA, 16 for TXT). c-ares sets a random ID and
 * checks that the reply's ID and question match. Returns as
 * resolver_lookup_host() does. */
int resolver_query(struct resolver *r, const char *name, uint16_t type, resolver_answer_fn *cb,
		   void *user, struct resolver_query **query);

/* resolver_query() for TXT, with the records parsed out: NXDOMAIN becomes
 * -ENOENT, an answer without TXT records -ENODATA, other rcodes their
 * error. Returns as resolver_lookup_host() does. */
int resolver_query_txt(struct resolver *r, const char *name, resolver_txt_fn *cb, void *user,
		       struct resolver_query **query);

/* Cancels one lookup: its callback runs now, once, with -ECANCELED, and the
 * handle is gone when this returns. The query c-ares may still have on the
 * wire stays counted in max_queries until it ends (answer or timeout). */
void resolver_cancel(struct resolver_query *query);

/* Lookups alive: started, and either not yet reported or still held by
 * c-ares. 0 when the resolver is idle. */
size_t resolver_pending(const struct resolver *r);

/* A message for a status or return value of this module (0 included). */
const char *resolver_strerror(int err);

#endif
