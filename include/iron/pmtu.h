/* Path MTU discovery for one QUIC connection, after RFC 8899 (DPLPMTUD):
 * the largest UDP payload the path carries, found with probe packets whose
 * acknowledgement proves a size and whose loss (three in a row) refutes it.
 * Nothing here depends on ICMP, so a path that drops large packets
 * silently (a black hole) is measured as well as one that reports them.
 *
 * This is the search only, a plain value embedded in its owner with the
 * clock passed in: the owner (quic_conn.c) builds and sends the probes and
 * reports what became of them. The search starts at PMTU_BASE, which every
 * QUIC path carries (the handshake proved it), tries the largest size
 * first (one probe settles an ordinary path) and then halves the interval
 * between the largest size acknowledged and the smallest refuted, to the
 * byte. A settled search tries larger sizes again after PMTU_RAISE_NS. */
#ifndef IRON_PMTU_H
#define IRON_PMTU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* QUIC's minimum UDP payload (RFC 9000 §14): known to work on any path. */
#define PMTU_BASE 1200
/* Probes of one size lost in a row before the size counts as too large
 * (RFC 8899 MAX_PROBES): one random loss does not shrink the path. */
#define PMTU_MAX_PROBES 3
/* A probe neither acknowledged nor declared lost by then counts as lost. */
#define PMTU_PROBE_TIMEOUT_NS (2ull * 1000000000ull)
/* After a search has settled below its maximum, larger sizes are tried
 * again this much later (RFC 8899 PMTU_RAISE_TIMER). */
#define PMTU_RAISE_NS (600ull * 1000000000ull)

struct pmtu_search {
	uint16_t max;	    /* the largest size worth trying */
	uint16_t confirmed; /* the largest size acknowledged (PMTU_BASE at first) */
	uint16_t too_big;   /* the smallest size refuted; max + 1: none */
	uint16_t trying;    /* the size being tried; 0: none */
	uint16_t in_flight; /* the size of the probe sent and not yet judged; 0: none */
	uint8_t losses;	    /* of size `trying`, in a row */
	bool settled;	    /* searching is over (until the raise) */
	bool known;	    /* some search has settled: confirmed is the answer */
	uint64_t probe_id;  /* the probe in flight's identifier (not 0) */
	uint64_t deadline_ns;
	uint64_t raise_at_ns;
	uint64_t probes_sent, probes_lost; /* over the whole life, resets included */
};

/* Starts a search up to max bytes (raised to PMTU_BASE when smaller). The
 * counters are kept (a search restarts when the connection moves). */
void pmtu_reset(struct pmtu_search *s, size_t max);

/* The size to probe at time now, or 0 when no probe is due (one is in
 * flight, or the search has settled). Counts a probe in flight past its
 * deadline as lost, and restarts a settled search when the raise is due. */
size_t pmtu_next_probe(struct pmtu_search *s, uint64_t now_ns);

/* A probe went out: size bytes of UDP payload (the size written, which may
 * differ from the one asked for), identified by id (not 0). */
void pmtu_probe_sent(struct pmtu_search *s, size_t size, uint64_t id, uint64_t now_ns);

/* The probe identified by id was acknowledged, or declared lost. Other ids
 * (a probe already judged by its deadline) are ignored. */
void pmtu_probe_acked(struct pmtu_search *s, uint64_t id, uint64_t now_ns);
void pmtu_probe_lost(struct pmtu_search *s, uint64_t id, uint64_t now_ns);

/* When pmtu_next_probe() has something new to say without any event (a
 * probe's deadline, the raise); UINT64_MAX: never. */
uint64_t pmtu_next_timeout(const struct pmtu_search *s);

/* The largest UDP payload known to pass. */
static inline size_t pmtu_confirmed(const struct pmtu_search *s)
{
	return s->confirmed;
}

#endif
