#include "iron/pmtu.h"

void pmtu_reset(struct pmtu_search *s, size_t max)
{
	uint64_t sent = s->probes_sent, lost = s->probes_lost;

	if (max < PMTU_BASE)
		max = PMTU_BASE;
	if (max > UINT16_MAX - 1)
		max = UINT16_MAX - 1;
	*s = (struct pmtu_search){
	    .max = (uint16_t)max,
	    .confirmed = PMTU_BASE,
	    .too_big = (uint16_t)(max + 1),
	    .probes_sent = sent,
	    .probes_lost = lost,
	};
}

/* Ends the search when no size is left between the largest that passed
 * and the smallest that did not. */
static void settle_if_done(struct pmtu_search *s, uint64_t now_ns)
{
	if (s->settled || s->too_big - s->confirmed > 1)
		return;
	s->settled = true;
	s->known = true;
	s->trying = 0;
	s->losses = 0;
	s->raise_at_ns = s->confirmed < s->max ? now_ns + PMTU_RAISE_NS : UINT64_MAX;
}

static void judge_lost(struct pmtu_search *s, uint64_t now_ns)
{
	s->in_flight = 0;
	s->probes_lost++;
	if (++s->losses < PMTU_MAX_PROBES)
		return;
	if (s->trying < s->too_big)
		s->too_big = s->trying;
	s->trying = 0;
	s->losses = 0;
	settle_if_done(s, now_ns);
}

size_t pmtu_next_probe(struct pmtu_search *s, uint64_t now_ns)
{
	if (s->in_flight) {
		if (now_ns < s->deadline_ns)
			return 0;
		judge_lost(s, now_ns);
	}
	if (s->settled) {
		if (now_ns < s->raise_at_ns)
			return 0;
		/* Try larger sizes again: the path may have changed. What is
		 * confirmed stays in use meanwhile. */
		s->settled = false;
		s->too_big = (uint16_t)(s->max + 1);
	}
	settle_if_done(s, now_ns);
	if (s->settled)
		return 0;
	if (!s->trying) {
		/* The largest first: one probe settles an ordinary path. */
		if (s->too_big > s->max)
			s->trying = s->max;
		else
			s->trying = (uint16_t)(s->confirmed + (s->too_big - s->confirmed) / 2);
	}
	return s->trying;
}

void pmtu_probe_sent(struct pmtu_search *s, size_t size, uint64_t id, uint64_t now_ns)
{
	if (size <= s->confirmed || size >= s->too_big) {
		/* Smaller than asked (the packet number took fewer bytes)
		 * and so already proven, or a stale size: nothing to learn. */
		return;
	}
	s->trying = (uint16_t)size;
	s->in_flight = (uint16_t)size;
	s->probe_id = id;
	s->deadline_ns = now_ns + PMTU_PROBE_TIMEOUT_NS;
	s->probes_sent++;
}

void pmtu_probe_acked(struct pmtu_search *s, uint64_t id, uint64_t now_ns)
{
	if (!s->in_flight || id != s->probe_id)
		return;
	if (s->in_flight > s->confirmed)
		s->confirmed = s->in_flight;
	s->in_flight = 0;
	s->trying = 0;
	s->losses = 0;
	settle_if_done(s, now_ns);
}

void pmtu_probe_lost(struct pmtu_search *s, uint64_t id, uint64_t now_ns)
{
	if (!s->in_flight || id != s->probe_id)
		return;
	judge_lost(s, now_ns);
}

uint64_t pmtu_next_timeout(const struct pmtu_search *s)
{
	if (s->in_flight)
		return s->deadline_ns;
	if (s->settled)
		return s->raise_at_ns;
	return UINT64_MAX;
}
