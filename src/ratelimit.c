#include "iron/ratelimit.h"

#define NS_PER_SECOND 1000000000ull

void ratelimit_init(struct ratelimit *rl, uint32_t rate_per_second, uint32_t burst)
{
	if (rate_per_second == 0)
		rate_per_second = 1;
	if (burst == 0)
		burst = 1;
	rl->cost_ns = NS_PER_SECOND / rate_per_second;
	if (rl->cost_ns == 0)
		rl->cost_ns = 1;
	rl->max_credit_ns = rl->cost_ns * burst;
	rl->credit_ns = rl->max_credit_ns;
	rl->last_ns = 0;
	rl->started = false;
}

bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ns)
{
	/* The first call only sets the clock: the bucket starts full whatever
	 * the clock's origin. */
	if (!rl->started) {
		rl->started = true;
		rl->last_ns = now_ns;
	}
	if (now_ns > rl->last_ns) {
		uint64_t elapsed = now_ns - rl->last_ns;
		/* Compared before adding, so a long pause cannot overflow. */
		if (elapsed >= rl->max_credit_ns - rl->credit_ns)
			rl->credit_ns = rl->max_credit_ns;
		else
			rl->credit_ns += elapsed;
		rl->last_ns = now_ns;
	}
	if (rl->credit_ns < rl->cost_ns)
		return false;
	rl->credit_ns -= rl->cost_ns;
	return true;
}
