/* A token bucket, for things that must not flood: ICMPv6 errors written
 * into the TUN (SPEC section 7), log lines about bad input. A plain value
 * embedded in its owner; the clock is passed in (nanoseconds, e.g.
 * uv_hrtime()), so tests drive it with a fake one. */
#ifndef IRON_RATELIMIT_H
#define IRON_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* ICMPv6 errors: 100 a second, bursts of 20. */
#define RATELIMIT_ICMP_RATE  100
#define RATELIMIT_ICMP_BURST 20

struct ratelimit {
	uint64_t cost_ns;   /* time that earns one token */
	uint64_t credit_ns; /* earned time, at most burst * cost_ns */
	uint64_t max_credit_ns;
	uint64_t last_ns; /* clock at the last refill */
	bool started;
};

/* Sets up a bucket that allows rate_per_second events on average and up to
 * burst at once; it starts full. rate_per_second and burst must be at
 * least 1 (they are raised to 1 otherwise). */
void ratelimit_init(struct ratelimit *rl, uint32_t rate_per_second, uint32_t burst);

/* True when an event may happen at time now_ns, and takes its token. A
 * clock that goes backwards earns nothing. */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns);

#endif
