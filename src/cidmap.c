#include "iron/cidmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

_Static_assert(CIDMAP_KEY_LEN == crypto_shorthash_KEYBYTES, "SipHash key size");

static size_t bucket_of(const struct cidmap *map, const uint8_t *data, size_t len)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, data, len, map->key);
	return (size_t)h & (map->nbuckets - 1);
}

/* The link that points at data's entry, or the NULL at its chain's end. */
static struct cidmap_entry **chain_slot(const struct cidmap *map, const uint8_t *data, size_t len)
{
	struct cidmap_entry **slot = &map->buckets[bucket_of(map, data, len)];

	for (; *slot; slot = &(*slot)->next)
		if ((*slot)->len == len && memcmp((*slot)->data, data, len) == 0)
			break;
	return slot;
}

static bool valid_len(size_t len)
{
	return len > 0 && len <= CIDMAP_MAX_LEN;
}

int cidmap_init(struct cidmap *map, const uint8_t key[CIDMAP_KEY_LEN])
{
	memset(map, 0, sizeof(*map));
	memcpy(map->key, key, CIDMAP_KEY_LEN);
	map->buckets = calloc(CIDMAP_MIN_BUCKETS, sizeof(*map->buckets));
	if (!map->buckets)
		return -ENOMEM;
	map->nbuckets = CIDMAP_MIN_BUCKETS;
	return 0;
}

void cidmap_free(struct cidmap *map)
{
	for (size_t i = 0; i < map->nbuckets; i++) {
		struct cidmap_entry *e = map->buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(map->buckets);
	map->buckets = NULL;
	map->nbuckets = map->count = 0;
}

void *cidmap_find(const struct cidmap *map, const uint8_t *data, size_t len)
{
	struct cidmap_entry *e;

	if (!valid_len(len))
		return NULL;
	e = *chain_slot(map, data, len);
	return e ? e->value : NULL;
}

static int grow(struct cidmap *map)
{
	size_t n = map->nbuckets * 2, old_n = map->nbuckets;
	struct cidmap_entry **buckets = calloc(n, sizeof(*buckets));
	struct cidmap_entry **old = map->buckets;

	if (!buckets)
		return -ENOMEM;
	map->buckets = buckets;
	map->nbuckets = n;
	for (size_t i = 0; i < old_n; i++) {
		struct cidmap_entry *e = old[i], *next;
		for (; e; e = next) {
			size_t b = bucket_of(map, e->data, e->len);
			next = e->next;
			e->next = buckets[b];
			buckets[b] = e;
		}
	}
	free(old);
	return 0;
}

int cidmap_add(struct cidmap *map, struct cidmap_entry **owner, void *value, const uint8_t *data,
	       size_t len)
{
	struct cidmap_entry **slot, *e;

	if (!valid_len(len))
		return -EINVAL;
	if (map->count >= map->nbuckets && grow(map) < 0)
		return -ENOMEM;
	slot = chain_slot(map, data, len);
	if (*slot)
		return -EEXIST;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->value = value;
	e->len = (uint8_t)len;
	memcpy(e->data, data, len);
	*slot = e;
	e->owner_next = *owner;
	*owner = e;
	map->count++;
	return 0;
}

int cidmap_remove(struct cidmap *map, struct cidmap_entry **owner, const uint8_t *data, size_t len)
{
	struct cidmap_entry **slot, *e;

	if (!valid_len(len))
		return -ENOENT;
	slot = chain_slot(map, data, len);
	e = *slot;
	if (!e)
		return -ENOENT;
	while (*owner && *owner != e)
		owner = &(*owner)->owner_next;
	if (!*owner)
		return -ENOENT;
	*owner = e->owner_next;
	*slot = e->next;
	map->count--;
	free(e);
	return 0;
}

void cidmap_remove_all(struct cidmap *map, struct cidmap_entry **owner)
{
	while (*owner)
		cidmap_remove(map, owner, (*owner)->data, (*owner)->len);
}

void cidmap_iter_init(struct cidmap_iter *it, const struct cidmap *map)
{
	it->map = map;
	it->bucket = 0;
	it->next = map->nbuckets ? map->buckets[0] : NULL;
}

struct cidmap_entry *cidmap_iter_next(struct cidmap_iter *it)
{
	struct cidmap_entry *e;

	while (!it->next) {
		if (++it->bucket >= it->map->nbuckets)
			return NULL;
		it->next = it->map->buckets[it->bucket];
	}
	e = it->next;
	it->next = e->next;
	return e;
}
