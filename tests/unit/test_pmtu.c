/* The path MTU search on its own: a simulated path that carries up to
 * `mtu` bytes and loses a share of everything, probes answered after one
 * round trip. The search must land on the path's size to the byte, with
 * few probes, whatever the loss does within reason; stale answers, the
 * probe deadline and the raise timer behave. */
#include "check.h"
#include "iron/pmtu.h"

#define MS  1000000ull
#define SEC 1000000000ull
#define RTT (10 * MS)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static unsigned rng_percent(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % 100);
}

/* Runs a search from the start on a path of mtu bytes (random loss in
 * percent) until it settles; returns the probes it took, *time the time. */
static unsigned run(struct pmtu_search *s, size_t max, size_t mtu, unsigned loss, uint64_t *time)
{
	uint64_t now = 1 * SEC, start = now, id = 0;
	unsigned probes = 0;

	pmtu_reset(s, max);
	for (int guard = 0; guard < 1000 && !s->settled; guard++) {
		size_t size = pmtu_next_probe(s, now);
		if (!size)
			break;
		pmtu_probe_sent(s, size, ++id, now);
		probes++;
		now += RTT;
		if (size <= mtu && rng_percent() >= loss)
			pmtu_probe_acked(s, id, now);
		else
			pmtu_probe_lost(s, id, now);
	}
	*time = now - start;
	return probes;
}

static void test_exact(void)
{
	struct pmtu_search s = {0};
	uint64_t time;
	static const size_t paths[] = {1452, 1500, 1444, 1372, 1352, 1300, 1252, 1232, 1201, 1200};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		size_t mtu = paths[i];
		unsigned probes = run(&s, 1452, mtu, 0, &time);
		size_t want = mtu > 1452 ? 1452 : mtu;
		printf("path of %4zu: settled at %u after %2u probes (%3llu ms at 10 ms RTT)\n",
		       mtu, s.confirmed, probes, (unsigned long long)(time / MS));
		CHECK(s.settled);
		CHECK(s.known);
		CHECK_INT(pmtu_confirmed(&s), want);
		/* The full size first: an ordinary path costs one probe. */
		if (mtu >= 1452)
			CHECK_INT(probes, 1);
		/* 8 halvings of 252 bytes, each refuted size three times. */
		CHECK(probes <= 1 + 3 + 8 * 3);
		CHECK_INT(pmtu_next_probe(&s, 2 * SEC), 0);
	}
	/* A maximum below QUIC's minimum is raised to it: nothing to search. */
	pmtu_reset(&s, 1000);
	CHECK_INT(pmtu_next_probe(&s, 1 * SEC), 0);
	CHECK(s.settled);
	CHECK_INT(pmtu_confirmed(&s), PMTU_BASE);
}

/* Random loss refutes a size only three times in a row: with 5 % loss the
 * search still finds the exact size (checked over many runs). */
static void test_loss(void)
{
	struct pmtu_search s = {0};
	uint64_t time;
	unsigned exact = 0, runs = 200, probes = 0;

	for (unsigned i = 0; i < runs; i++) {
		probes += run(&s, 1452, 1300, 5, &time);
		CHECK(s.settled);
		CHECK(pmtu_confirmed(&s) <= 1300);
		exact += pmtu_confirmed(&s) == 1300;
	}
	printf("5 %% loss: exact in %u of %u searches, %.1f probes each\n", exact, runs,
	       (double)probes / runs);
	CHECK(exact >= runs - 2);
}

static void test_stale_and_deadline(void)
{
	struct pmtu_search s = {0};
	uint64_t now = 1 * SEC;

	pmtu_reset(&s, 1452);
	CHECK_INT(pmtu_next_timeout(&s), UINT64_MAX);
	CHECK_INT(pmtu_next_probe(&s, now), 1452);
	pmtu_probe_sent(&s, 1452, 7, now);
	CHECK_INT(s.probes_sent, 1);
	/* One in flight: nothing more, until its deadline. */
	CHECK_INT(pmtu_next_probe(&s, now + 1 * MS), 0);
	CHECK_INT(pmtu_next_timeout(&s), now + PMTU_PROBE_TIMEOUT_NS);
	/* Answers for other ids change nothing. */
	pmtu_probe_acked(&s, 6, now + RTT);
	pmtu_probe_lost(&s, 8, now + RTT);
	CHECK_INT(pmtu_confirmed(&s), PMTU_BASE);
	CHECK_INT(s.in_flight, 1452);
	/* Past the deadline it counts as lost and the same size is tried
	 * again; its late answer is then ignored. */
	now += PMTU_PROBE_TIMEOUT_NS;
	CHECK_INT(pmtu_next_probe(&s, now), 1452);
	CHECK_INT(s.probes_lost, 1);
	pmtu_probe_acked(&s, 7, now);
	CHECK_INT(pmtu_confirmed(&s), PMTU_BASE);
	/* A probe written smaller than asked still counts for its size. */
	pmtu_probe_sent(&s, 1450, 9, now);
	pmtu_probe_acked(&s, 9, now + RTT);
	CHECK_INT(pmtu_confirmed(&s), 1450);
	/* And one no larger than what is proven teaches nothing. */
	pmtu_probe_sent(&s, 1300, 10, now);
	CHECK_INT(s.in_flight, 0);
}

/* A settled search below its maximum tries again after PMTU_RAISE_NS,
 * keeping what it has proven meanwhile; one at the maximum never does. */
static void test_raise(void)
{
	struct pmtu_search s = {0};
	uint64_t time, now;

	run(&s, 1452, 1300, 0, &time);
	CHECK_INT(pmtu_confirmed(&s), 1300);
	now = s.raise_at_ns;
	CHECK(now != UINT64_MAX);
	CHECK_INT(pmtu_next_timeout(&s), now);
	CHECK_INT(pmtu_next_probe(&s, now - 1), 0);
	CHECK_INT(pmtu_next_probe(&s, now), 1452);
	CHECK(!s.settled);
	CHECK(s.known);
	CHECK_INT(pmtu_confirmed(&s), 1300);
	pmtu_probe_sent(&s, 1452, 100, now);
	pmtu_probe_acked(&s, 100, now + RTT);
	CHECK(s.settled);
	CHECK_INT(pmtu_confirmed(&s), 1452);
	CHECK_INT(pmtu_next_timeout(&s), UINT64_MAX);
	/* A restart (another path) keeps the counters only. */
	uint64_t sent = s.probes_sent;
	pmtu_reset(&s, 1452);
	CHECK_INT(s.probes_sent, sent);
	CHECK(!s.known);
	CHECK_INT(pmtu_confirmed(&s), PMTU_BASE);
}

int main(void)
{
	test_exact();
	test_loss();
	test_stale_and_deadline();
	test_raise();
	return check_done();
}
