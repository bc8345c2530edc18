/* `iron ping`: ICMPv6 echo requests of the daemon's own to peers, matched
 * with their replies, each with a deadline. One table, one timer. */
#ifndef IRON_PINGER_H
#define IRON_PINGER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/id.h"

#define PINGER_MAX     64 /* pings in flight */
#define PINGER_PAYLOAD 32

struct pinger;

/* How a ping ended: error 0 with rtt_ns, -ETIMEDOUT after timeout_ms,
 * -EHOSTUNREACH (pinger_unreachable()) or -ECANCELED (pinger_cancel_all(),
 * pinger_del()). */
struct pinger_result {
	struct iron_id peer;
	int error;
	uint64_t rtt_ns;
	unsigned timeout_ms;
};

typedef void pinger_done_fn(void *user, const struct pinger_result *result);

/* Sends an IP packet to a peer: 0, or a negative errno that
 * pinger_start() returns (-EHOSTUNREACH when no address is known). */
typedef int pinger_send_fn(void *user, const struct iron_id *peer, const uint8_t *pkt, size_t len,
			   uint64_t now);

/* own is this node's overlay address (the echo's source). Returns 0,
 * -ENOMEM or the -errno of libuv. */
int pinger_new(uv_loop_t *loop, const struct in6_addr *own, pinger_send_fn *send, void *send_user,
	       struct pinger **out);

/* Cancels every ping (their done callbacks run with -ECANCELED) and frees
 * the pinger once libuv has closed its timer. NULL is fine. */
void pinger_del(struct pinger *p);

/* Sends one echo request to peer; done(user, ...) is called exactly once,
 * later (never from inside this call). Returns 0; -EBUSY when PINGER_MAX
 * pings are in flight; -EINVAL for a timeout of 0; or what send returned
 * (done is then not called). */
int pinger_start(struct pinger *p, const struct iron_id *peer, unsigned timeout_ms,
		 pinger_done_fn *done, void *user, uint64_t now);

/* An ICMPv6 echo reply from an authenticated peer. Returns true when it
 * carries our identifier (then it is consumed, also when late or a
 * duplicate: it is not for the TUN). */
bool pinger_reply(struct pinger *p, const struct iron_id *from, const uint8_t *pkt, size_t len,
		  uint64_t now);

/* One of our echo requests could not be sent (the peer's lookup found
 * no address, or the dial failed): its ping ends with -EHOSTUNREACH.
 * Returns true when pkt is one of ours (not for an ICMPv6 error then). */
bool pinger_unreachable(struct pinger *p, const struct iron_id *to, const uint8_t *pkt, size_t len);

/* Ends every ping in flight with -ECANCELED (at shutdown). */
void pinger_cancel_all(struct pinger *p);

#endif
