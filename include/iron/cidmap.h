/* A hash map from short byte strings (QUIC connection IDs, stateless reset
 * tokens: 1 to CIDMAP_MAX_LEN bytes) to borrowed pointers. The QUIC endpoint
 * routes datagrams with one and recognises stateless resets with another.
 *
 * Every entry also sits on an owner list (a `struct cidmap_entry *` kept by
 * whoever added it, e.g. a connection), so an owner drops all of its keys
 * at once when it goes. The map owns its entries; the values are borrowed.
 *
 * Peers choose the keys, so the hash is keyed: SipHash-2-4
 * (crypto_shorthash) with a key given at init, whose low bits pick one of
 * nbuckets buckets (a power of two; CIDMAP_MIN_BUCKETS at first, doubled
 * when count reaches nbuckets). The struct is public only so that it can be
 * embedded; use the functions. */
#ifndef IRON_CIDMAP_H
#define IRON_CIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIDMAP_MAX_LEN	   20 /* NGTCP2_MAX_CIDLEN */
#define CIDMAP_KEY_LEN	   16 /* crypto_shorthash_KEYBYTES */
#define CIDMAP_MIN_BUCKETS 64

struct cidmap_entry {
	struct cidmap_entry *next;	 /* hash chain */
	struct cidmap_entry *owner_next; /* the owner's entries */
	void *value;
	uint8_t len;
	uint8_t data[CIDMAP_MAX_LEN];
};

struct cidmap {
	struct cidmap_entry **buckets;
	size_t nbuckets;
	size_t count;
	uint8_t key[CIDMAP_KEY_LEN];
};

/* Sets up an empty map hashing with key. Returns 0 or -ENOMEM. */
int cidmap_init(struct cidmap *map, const uint8_t key[CIDMAP_KEY_LEN]);

/* Frees every entry and the buckets (owner lists that still point at
 * entries must not be used afterwards). The map can be initialised again. */
void cidmap_free(struct cidmap *map);

/* The value stored under data, or NULL (also for a length of 0 or more than
 * CIDMAP_MAX_LEN). */
void *cidmap_find(const struct cidmap *map, const uint8_t *data, size_t len);

/* Adds data → value, the entry also put at the head of the list *owner.
 * Returns 0, -EEXIST (the key is taken, by any value), -EINVAL (length 0 or
 * more than CIDMAP_MAX_LEN) or -ENOMEM. May grow the map: not during an
 * iteration. */
int cidmap_add(struct cidmap *map, struct cidmap_entry **owner, void *value, const uint8_t *data,
	       size_t len);

/* Removes the entry for data if it is on the list *owner (it is unlinked
 * from both). Returns 0 or -ENOENT (no such key, or another owner's). */
int cidmap_remove(struct cidmap *map, struct cidmap_entry **owner, const uint8_t *data, size_t len);

/* Removes every entry on the list *owner, which ends empty. */
void cidmap_remove_all(struct cidmap *map, struct cidmap_entry **owner);

/* Iteration over all entries in no particular order. The entry just
 * returned may be removed (by cidmap_remove or with its owner's
 * cidmap_remove_all, as long as no entry still to come goes with it);
 * nothing may be added. */
struct cidmap_iter {
	const struct cidmap *map;
	size_t bucket;
	struct cidmap_entry *next;
};
void cidmap_iter_init(struct cidmap_iter *it, const struct cidmap *map);
/* The next entry, or NULL at the end. */
struct cidmap_entry *cidmap_iter_next(struct cidmap_iter *it);

#endif
