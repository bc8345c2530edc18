/* The relay server's routing table and byte budget (relay_table.h). */
#include "iron/relay_table.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S	 1000000000ull
#define INITIAL_CAPACITY 16 /* slots of the index, a power of two */
#define INITIAL_PEERS	 4
#define BUCKET_MAX	 (1ull << 32)

struct entry {
	uint8_t id[RELAY_TABLE_ID_LEN];
	/* Oldest first; the last one is active. */
	void *conns[RELAY_TABLE_MAX_CONNS];
	size_t nconns;
	/* Nodes this one exchanged datagrams with: a set, and a ring once
	 * it holds max_peers. */
	uint8_t (*peers)[RELAY_TABLE_ID_LEN];
	size_t npeers, peers_cap, peer_next;
	uint8_t last_dst[RELAY_TABLE_ID_LEN];
	bool has_last_dst;
};

struct relay_table {
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct entry **slots; /* open addressing, linear probing */
	size_t capacity, count;
	size_t max_peers;
	size_t peer_bytes;
};

static size_t slot_of(const struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;
	crypto_shorthash(h, id, RELAY_TABLE_ID_LEN, t->key);
	for (size_t i = 0; i < sizeof(v); i++)
		v = v << 8 | h[i];
	return (size_t)(v & (t->capacity - 1));
}

/* The slot holding id, or the empty slot where it would go. */
static size_t find_slot(const struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN])
{
	size_t i = slot_of(t, id);
	while (t->slots[i] && memcmp(t->slots[i]->id, id, RELAY_TABLE_ID_LEN) != 0)
		i = (i + 1) & (t->capacity - 1);
	return i;
}

static struct entry *find(const struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN])
{
	return t->slots[find_slot(t, id)];
}

int relay_table_new(const uint8_t hash_key[RELAY_TABLE_HASH_KEY], size_t max_peers,
		    struct relay_table **out)
{
	struct relay_table *t = calloc(1, sizeof(*t));
	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->slots = calloc(INITIAL_CAPACITY, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return -ENOMEM;
	}
	memcpy(t->key, hash_key, sizeof(t->key));
	t->capacity = INITIAL_CAPACITY;
	t->max_peers = max_peers ? max_peers : 1;
	*out = t;
	return 0;
}

static void entry_free(struct relay_table *t, struct entry *e)
{
	t->peer_bytes -= e->peers_cap * RELAY_TABLE_ID_LEN;
	free(e->peers);
	free(e);
}

void relay_table_del(struct relay_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->capacity; i++)
		if (t->slots[i])
			entry_free(t, t->slots[i]);
	free(t->slots);
	free(t);
}

static int grow(struct relay_table *t)
{
	size_t cap = t->capacity * 2;
	struct entry **old = t->slots;
	size_t old_cap = t->capacity;
	struct entry **slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	t->capacity = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			t->slots[find_slot(t, old[i]->id)] = old[i];
	free(old);
	return 0;
}

/* Backward-shift deletion keeps every probe chain unbroken. */
static void delete_slot(struct relay_table *t, size_t hole)
{
	size_t mask = t->capacity - 1, i = hole;
	t->slots[hole] = NULL;
	for (;;) {
		i = (i + 1) & mask;
		if (!t->slots[i])
			break;
		size_t home = slot_of(t, t->slots[i]->id);
		/* Move the entry back when its home is not within (hole, i]. */
		bool between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
		if (!between) {
			t->slots[hole] = t->slots[i];
			t->slots[i] = NULL;
			hole = i;
		}
	}
	t->count--;
}

int relay_table_add(struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN], void *conn,
		    void **displaced, void **evicted)
{
	struct entry *e;
	*displaced = NULL;
	*evicted = NULL;
	if ((t->count + 1) * 2 > t->capacity && grow(t) < 0)
		return -ENOMEM;
	size_t i = find_slot(t, id);
	e = t->slots[i];
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		memcpy(e->id, id, RELAY_TABLE_ID_LEN);
		t->slots[i] = e;
		t->count++;
	}
	if (e->nconns == RELAY_TABLE_MAX_CONNS) {
		*evicted = e->conns[0];
		memmove(&e->conns[0], &e->conns[1], (e->nconns - 1) * sizeof(e->conns[0]));
		e->nconns--;
	}
	if (e->nconns > 0)
		*displaced = e->conns[e->nconns - 1];
	e->conns[e->nconns++] = conn;
	return 0;
}

void relay_table_remove(struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN], void *conn,
			void **promoted, relay_table_gone_fn *gone, void *user)
{
	size_t slot = find_slot(t, id);
	struct entry *e = t->slots[slot];
	size_t k;
	*promoted = NULL;
	if (!e)
		return;
	for (k = 0; k < e->nconns && e->conns[k] != conn; k++)
		;
	if (k == e->nconns)
		return;
	bool was_active = k == e->nconns - 1;
	memmove(&e->conns[k], &e->conns[k + 1], (e->nconns - k - 1) * sizeof(e->conns[0]));
	e->nconns--;
	if (e->nconns > 0) {
		if (was_active)
			*promoted = e->conns[e->nconns - 1];
		return;
	}
	delete_slot(t, slot);
	for (size_t p = 0; p < e->npeers; p++) {
		const struct entry *pe = find(t, e->peers[p]);
		if (pe && pe->nconns > 0 && gone)
			gone(user, pe->conns[pe->nconns - 1], e->id);
	}
	entry_free(t, e);
}

void *relay_table_active(const struct relay_table *t, const uint8_t id[RELAY_TABLE_ID_LEN])
{
	const struct entry *e = find(t, id);
	return e && e->nconns ? e->conns[e->nconns - 1] : NULL;
}

static void add_peer(struct relay_table *t, struct entry *e, const uint8_t id[RELAY_TABLE_ID_LEN])
{
	for (size_t i = 0; i < e->npeers; i++)
		if (memcmp(e->peers[i], id, RELAY_TABLE_ID_LEN) == 0)
			return;
	if (e->npeers == e->peers_cap && e->peers_cap < t->max_peers) {
		size_t cap = e->peers_cap ? e->peers_cap * 2 : INITIAL_PEERS;
		if (cap > t->max_peers)
			cap = t->max_peers;
		void *p = realloc(e->peers, cap * RELAY_TABLE_ID_LEN);
		if (p) {
			e->peers = p;
			t->peer_bytes += (cap - e->peers_cap) * RELAY_TABLE_ID_LEN;
			e->peers_cap = cap;
		}
	}
	if (e->npeers < e->peers_cap) {
		memcpy(e->peers[e->npeers++], id, RELAY_TABLE_ID_LEN);
	} else if (e->peers_cap > 0) {
		/* Full: the oldest is forgotten. */
		memcpy(e->peers[e->peer_next], id, RELAY_TABLE_ID_LEN);
		e->peer_next = (e->peer_next + 1) % e->peers_cap;
	}
}

void relay_table_note_sent(struct relay_table *t, const uint8_t src[RELAY_TABLE_ID_LEN],
			   const uint8_t dst[RELAY_TABLE_ID_LEN])
{
	struct entry *s = find(t, src), *d;
	if (!s || (s->has_last_dst && memcmp(s->last_dst, dst, RELAY_TABLE_ID_LEN) == 0))
		return;
	if (memcmp(src, dst, RELAY_TABLE_ID_LEN) == 0 || !(d = find(t, dst)))
		return;
	add_peer(t, s, dst);
	add_peer(t, d, src);
	memcpy(s->last_dst, dst, RELAY_TABLE_ID_LEN);
	s->has_last_dst = true;
}

size_t relay_table_nodes(const struct relay_table *t)
{
	return t->count;
}

size_t relay_table_memory(const struct relay_table *t)
{
	return sizeof(*t) + t->capacity * sizeof(*t->slots) + t->count * sizeof(struct entry) +
	       t->peer_bytes;
}

/* ------------------------------------------------------------ bucket */

void relay_bucket_init(struct relay_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	if (rate > BUCKET_MAX)
		rate = BUCKET_MAX;
	if (burst < 1)
		burst = 1;
	if (burst > BUCKET_MAX)
		burst = BUCKET_MAX;
	b->rate = rate;
	b->max_scaled = (int64_t)(burst * NS_PER_S);
	b->scaled = b->max_scaled;
	b->last_ns = now_ns;
}

uint64_t relay_bucket_take(struct relay_bucket *b, uint64_t n, uint64_t now_ns)
{
	if (b->rate == 0)
		return 0;
	if (now_ns > b->last_ns) {
		/* Earned: elapsed * rate, capped before it can overflow. */
		uint64_t room = (uint64_t)(b->max_scaled - b->scaled);
		uint64_t elapsed = now_ns - b->last_ns;
		uint64_t earn = elapsed > room / b->rate + 1 ? room : elapsed * b->rate;
		b->scaled += (int64_t)(earn < room ? earn : room);
		b->last_ns = now_ns;
	}
	if (n > BUCKET_MAX)
		n = BUCKET_MAX;
	/* A caller that stops reading while in debt owes at most one take;
	 * the floor keeps the sum within int64_t for any other. */
	if (b->scaled < -b->max_scaled)
		b->scaled = -b->max_scaled;
	b->scaled -= (int64_t)(n * NS_PER_S);
	if (b->scaled >= 0)
		return 0;
	uint64_t wait = ((uint64_t)-b->scaled + b->rate - 1) / b->rate;
	return wait ? wait : 1;
}
