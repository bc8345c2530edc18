/* Slots of peers seen through relays (relay_slots.h). */
#include "iron/relay_slots.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint8_t id[RELAY_SLOTS_ID_LEN];
	uint64_t last_ms;
	uint16_t generation;
	bool known; /* we asked for it, or it completed a handshake */
	bool pinned;
};

struct relay_slots {
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct slot *slots;	  /* slot i at [i - 1]; NULL until first use */
	uint16_t *index;	  /* hash of an ID -> its slot's index, 0 empty */
	uint32_t nslots;	  /* indices handed out so far, each holding a peer */
	uint32_t max;		  /* RELAY_SLOTS_MAX, or fewer (tests) */
	size_t index_size;	  /* twice max: open addressing, linear probing */
	uint32_t hand;		  /* where the search for a slot to free goes on */
	uint64_t retry_ms;	  /* no slot can be freed before (free_one) */
	uint64_t reused, refused; /* relay_slots_stats */
};

int relay_slots_new(struct relay_slots **out)
{
	if (sodium_init() < 0)
		return -ENOMEM;
	struct relay_slots *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	/* IDs are public keys chosen by others (keys cost nothing): with a
	 * hash they could compute, they would grind theirs into one run of
	 * the index and make every lookup walk it. */
	crypto_shorthash_keygen(s->key);
	s->max = RELAY_SLOTS_MAX;
	s->index_size = 2 * RELAY_SLOTS_MAX;
	*out = s;
	return 0;
}

int relay_slots_set_max(struct relay_slots *s, uint32_t max)
{
	if (s->slots || max == 0 || max > RELAY_SLOTS_MAX)
		return -EINVAL;
	s->max = max;
	s->index_size = 2 * (size_t)max;
	return 0;
}

void relay_slots_del(struct relay_slots *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s->index);
	free(s);
}

static size_t home_of(const struct relay_slots *s, const uint8_t *id)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, id, RELAY_SLOTS_ID_LEN, s->key);
	return (size_t)(h % s->index_size);
}

static uint32_t value_of(const struct relay_slots *s, uint32_t i)
{
	return (uint32_t)s->slots[i - 1].generation << 16 | i;
}

static struct slot *slot_at(const struct relay_slots *s, uint32_t value)
{
	uint32_t i = value & 0xffff;
	if (!s->slots || i == 0 || i > s->nslots)
		return NULL;
	struct slot *sl = &s->slots[i - 1];
	return sl->generation == value >> 16 ? sl : NULL;
}

/* Takes slot i's entry out of the index (backward-shift deletion: the
 * entries after it in its run move up, so no lookup stops short). */
static void index_remove(struct relay_slots *s, uint32_t i)
{
	size_t at = home_of(s, s->slots[i - 1].id);
	while (s->index[at] != i)
		at = (at + 1) % s->index_size;
	size_t hole = at;
	for (size_t next = (hole + 1) % s->index_size; s->index[next];
	     next = (next + 1) % s->index_size) {
		size_t home = home_of(s, s->slots[s->index[next] - 1].id);
		/* Stays unless its home is at or before the hole, cyclically
		 * seen from next. */
		size_t from_home = (next + s->index_size - home) % s->index_size;
		size_t from_hole = (next + s->index_size - hole) % s->index_size;
		if (from_home >= from_hole) {
			s->index[hole] = s->index[next];
			hole = next;
		}
	}
	s->index[hole] = 0;
}

static bool may_free(const struct slot *sl, uint64_t now_ms)
{
	if (sl->pinned)
		return false;
	uint64_t idle = now_ms > sl->last_ms ? now_ms - sl->last_ms : 0;
	return !sl->known || idle >= RELAY_SLOTS_IDLE_MS;
}

/* A slot to give to a new peer with the table full: the first that may be
 * freed from the hand on, a stranger's preferred. Returns its index, out
 * of the index, or 0. With none, no slot can be freed before the time
 * noted in retry_ms (only known and pinned slots are left, and using a
 * slot only puts that off), so until then the answer is 0 at once. */
static uint32_t free_one(struct relay_slots *s, uint64_t now_ms)
{
	if (now_ms < s->retry_ms)
		return 0;
	uint32_t found = 0;
	uint64_t first_idle = UINT64_MAX;
	for (uint32_t n = 0; n < s->nslots; n++) {
		uint32_t i = s->hand % s->nslots + 1;
		s->hand = i % s->nslots;
		const struct slot *sl = &s->slots[i - 1];
		if (!may_free(sl, now_ms)) {
			if (!sl->pinned && sl->last_ms + RELAY_SLOTS_IDLE_MS < first_idle)
				first_idle = sl->last_ms + RELAY_SLOTS_IDLE_MS;
			continue;
		}
		if (!sl->known) {
			found = i;
			break;
		}
		if (!found)
			found = i;
	}
	if (!found) {
		s->retry_ms = first_idle;
		return 0;
	}
	index_remove(s, found);
	return found;
}

static int ensure_table(struct relay_slots *s)
{
	if (s->slots)
		return 0;
	/* calloc: the pages of slots never used are never touched. */
	s->slots = calloc(s->max, sizeof(*s->slots));
	s->index = calloc(s->index_size, sizeof(*s->index));
	if (!s->slots || !s->index) {
		free(s->slots);
		free(s->index);
		s->slots = NULL;
		s->index = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* The index of id's slot, 0 when it has none. */
static uint32_t find(const struct relay_slots *s, const uint8_t *id)
{
	if (!s->slots)
		return 0;
	size_t at = home_of(s, id);
	for (size_t n = 0; n < s->index_size && s->index[at]; n++, at = (at + 1) % s->index_size)
		if (memcmp(s->slots[s->index[at] - 1].id, id, RELAY_SLOTS_ID_LEN) == 0)
			return s->index[at];
	return 0;
}

uint32_t relay_slots_get(struct relay_slots *s, const uint8_t id[RELAY_SLOTS_ID_LEN], bool create,
			 bool ours, uint64_t now_ms)
{
	uint32_t i = find(s, id);
	if (i) {
		if (create) {
			s->slots[i - 1].last_ms = now_ms;
			s->slots[i - 1].known |= ours;
		}
		return value_of(s, i);
	}
	if (!create || ensure_table(s) < 0)
		return 0;
	uint16_t generation = 0;
	if (s->nslots < s->max) {
		i = ++s->nslots;
	} else {
		i = free_one(s, now_ms);
		if (i == 0) {
			s->refused++;
			return 0;
		}
		s->reused++;
		generation = (uint16_t)(s->slots[i - 1].generation + 1);
	}
	struct slot *sl = &s->slots[i - 1];
	*sl = (struct slot){.last_ms = now_ms, .generation = generation, .known = ours};
	memcpy(sl->id, id, RELAY_SLOTS_ID_LEN);
	/* The index has a free entry: it holds at most half as many as it
	 * has, and the one freed above left. */
	size_t at = home_of(s, id);
	while (s->index[at])
		at = (at + 1) % s->index_size;
	s->index[at] = (uint16_t)i;
	return value_of(s, i);
}

const uint8_t *relay_slots_id(const struct relay_slots *s, uint32_t slot)
{
	const struct slot *sl = slot_at(s, slot);
	return sl ? sl->id : NULL;
}

const uint8_t *relay_slots_sent(struct relay_slots *s, uint32_t slot, uint64_t now_ms)
{
	struct slot *sl = slot_at(s, slot);
	if (!sl)
		return NULL;
	sl->last_ms = now_ms;
	return sl->id;
}

void relay_slots_known(struct relay_slots *s, const uint8_t id[RELAY_SLOTS_ID_LEN])
{
	uint32_t i = find(s, id);
	if (i)
		s->slots[i - 1].known = true;
}

void relay_slots_pin(struct relay_slots *s, uint32_t slot)
{
	struct slot *sl = slot_at(s, slot);
	if (sl)
		sl->pinned = true;
}

void relay_slots_get_stats(const struct relay_slots *s, struct relay_slots_stats *out)
{
	*out = (struct relay_slots_stats){
	    .used = s->nslots, .reused = s->reused, .refused = s->refused};
}
