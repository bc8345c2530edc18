/* Slots of peers seen through relays: the number that stands for a peer
 * in a relayed path's placeholder address (transport.h), the same on every
 * relay.
 *
 * A slot value is a slot's index (1..RELAY_SLOTS_MAX) in its low 16 bits
 * and the slot's generation in its high 16 bits. When the table is full a
 * slot idle long enough is given to a new peer and its generation moves
 * on, so a placeholder kept from before (a path remembered by the peer
 * table) no longer matches: datagrams to it are refused instead of going
 * to the slot's new peer.
 *
 * Which slots may be given away, in this order of preference:
 *  - a stranger's (a key that sent relayed datagrams, that we never asked
 *    for and that never completed a handshake with us), at once: keys
 *    cost nothing, and a stream of datagrams from new keys must not fill
 *    the table for good. Answering does not make a key known (an Initial
 *    from anybody is answered). The search goes round the table like a
 *    clock hand, so the slot given last is the last to go again: a
 *    stranger in the middle of its handshake loses its slot only after
 *    RELAY_SLOTS_MAX others came;
 *  - any slot idle RELAY_SLOTS_IDLE_MS, longer than a QUIC connection
 *    lives without a packet (its idle timeout is 30 s, and keep-alives
 *    go every few seconds), so no live connection uses it.
 * Pinned slots (static peers' relay paths, kept for the daemon's life)
 * are never given away. */
#ifndef IRON_RELAY_SLOTS_H
#define IRON_RELAY_SLOTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_SLOTS_MAX	    8192
#define RELAY_SLOTS_ID_LEN  32
#define RELAY_SLOTS_IDLE_MS 120000

struct relay_slots;

struct relay_slots_stats {
	size_t used;	  /* slots holding a peer */
	uint64_t reused;  /* slots given to a new peer */
	uint64_t refused; /* new peers refused: no slot could be freed */
};

/* Returns 0 or -ENOMEM. The table itself is allocated at first use. */
int relay_slots_new(struct relay_slots **out);
void relay_slots_del(struct relay_slots *s);

/* Fewer slots than RELAY_SLOTS_MAX (tests: IRON_RELAY_SLOTS), before the
 * first is made. Returns 0 or -EINVAL. */
int relay_slots_set_max(struct relay_slots *s, uint32_t max);

/* The slot value of peer id: found, or when create made (freeing an idle
 * slot if the table is full). With create the slot counts as used at
 * now_ms, and ours says we asked for it (to dial, or as a path to
 * remember), which makes the peer known, as opposed to a datagram
 * received from it; without, it is a lookup that changes nothing.
 * Returns 0 when there is none. */
uint32_t relay_slots_get(struct relay_slots *s, const uint8_t id[RELAY_SLOTS_ID_LEN], bool create,
			 bool ours, uint64_t now_ms);

/* The peer behind a slot value, NULL when there is none: never made, or
 * given to another peer since. */
const uint8_t *relay_slots_id(const struct relay_slots *s, uint32_t slot);

/* A datagram goes to the slot: it counts as used at now_ms. Returns the
 * peer to send to, NULL when there is none (as relay_slots_id()). */
const uint8_t *relay_slots_sent(struct relay_slots *s, uint32_t slot, uint64_t now_ms);

/* Peer id completed a handshake with us: its slot, if it has one, is
 * known. */
void relay_slots_known(struct relay_slots *s, const uint8_t id[RELAY_SLOTS_ID_LEN]);

/* The slot is never given away. */
void relay_slots_pin(struct relay_slots *s, uint32_t slot);

void relay_slots_get_stats(const struct relay_slots *s, struct relay_slots_stats *out);

#endif
