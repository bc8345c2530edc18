/* The connection ID map: add, find, remove, owner lists, chains of
 * colliding keys, growth, iteration with removal, against a reference
 * model under random operations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check.h"
#include "iron/cidmap.h"

static const uint8_t test_key[CIDMAP_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* The bucket a key falls into, computed as the header documents it. */
static size_t bucket_of(const struct cidmap *map, const uint8_t *data, size_t len)
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, data, len, map->key);
	return (size_t)h & (map->nbuckets - 1);
}

static void make_key(uint32_t n, uint8_t out[8])
{
	memset(out, 0xa5, 8);
	memcpy(out, &n, sizeof(n));
}

static void test_basic(void)
{
	struct cidmap map;
	struct cidmap_entry *owner_a = NULL, *owner_b = NULL;
	int a, b;
	const uint8_t k1[] = {1, 2, 3, 4, 5, 6, 7, 8};
	const uint8_t k2[] = {1, 2, 3, 4, 5, 6, 7};
	uint8_t long_key[CIDMAP_MAX_LEN + 1] = {0};

	CHECK_INT(cidmap_init(&map, test_key), 0);
	CHECK_INT(map.nbuckets, CIDMAP_MIN_BUCKETS);
	CHECK(cidmap_find(&map, k1, sizeof(k1)) == NULL);
	CHECK_INT(cidmap_add(&map, &owner_a, &a, k1, sizeof(k1)), 0);
	/* A prefix is another key. */
	CHECK_INT(cidmap_add(&map, &owner_b, &b, k2, sizeof(k2)), 0);
	CHECK(cidmap_find(&map, k1, sizeof(k1)) == &a);
	CHECK(cidmap_find(&map, k2, sizeof(k2)) == &b);
	CHECK_INT(map.count, 2);
	/* Taken, whoever asks. */
	CHECK_INT(cidmap_add(&map, &owner_b, &b, k1, sizeof(k1)), -EEXIST);
	CHECK_INT(cidmap_add(&map, &owner_a, &a, k1, sizeof(k1)), -EEXIST);
	/* Lengths. */
	CHECK_INT(cidmap_add(&map, &owner_a, &a, k1, 0), -EINVAL);
	CHECK_INT(cidmap_add(&map, &owner_a, &a, long_key, sizeof(long_key)), -EINVAL);
	CHECK(cidmap_find(&map, k1, 0) == NULL);
	CHECK(cidmap_find(&map, long_key, sizeof(long_key)) == NULL);
	CHECK_INT(cidmap_add(&map, &owner_a, &a, long_key, CIDMAP_MAX_LEN), 0);
	CHECK(cidmap_find(&map, long_key, CIDMAP_MAX_LEN) == &a);
	/* Only the owner removes. */
	CHECK_INT(cidmap_remove(&map, &owner_b, k1, sizeof(k1)), -ENOENT);
	CHECK(cidmap_find(&map, k1, sizeof(k1)) == &a);
	CHECK_INT(cidmap_remove(&map, &owner_a, k1, sizeof(k1)), 0);
	CHECK_INT(cidmap_remove(&map, &owner_a, k1, sizeof(k1)), -ENOENT);
	CHECK(cidmap_find(&map, k1, sizeof(k1)) == NULL);
	CHECK(cidmap_find(&map, k2, sizeof(k2)) == &b);
	CHECK(owner_a != NULL && owner_a->owner_next == NULL); /* long_key left */
	cidmap_remove_all(&map, &owner_a);
	CHECK(owner_a == NULL);
	CHECK_INT(map.count, 1);
	cidmap_remove_all(&map, &owner_b);
	CHECK(owner_b == NULL);
	CHECK_INT(map.count, 0);
	cidmap_free(&map);
	CHECK(map.buckets == NULL);
}

/* Keys that share a bucket: each is found, and removing one from the
 * middle, the head or the tail of the chain leaves the others. */
static void test_collisions(void)
{
	struct cidmap map;
	struct cidmap_entry *owner = NULL;
	uint8_t keys[6][8];
	int values[6];
	size_t n = 0, target;
	uint8_t k[8];

	CHECK_INT(cidmap_init(&map, test_key), 0);
	make_key(0, k);
	target = bucket_of(&map, k, sizeof(k));
	for (uint32_t i = 0; n < 6 && i < 100000; i++) {
		make_key(i, k);
		if (bucket_of(&map, k, sizeof(k)) != target)
			continue;
		memcpy(keys[n], k, sizeof(k));
		n++;
	}
	CHECK_INT(n, 6);
	for (size_t i = 0; i < n; i++)
		CHECK_INT(cidmap_add(&map, &owner, &values[i], keys[i], 8), 0);
	CHECK(map.nbuckets == CIDMAP_MIN_BUCKETS); /* no growth moved them apart */
	size_t chain = 0;
	for (struct cidmap_entry *e = map.buckets[target]; e; e = e->next)
		chain++;
	CHECK_INT(chain, 6);
	for (size_t i = 0; i < n; i++)
		CHECK(cidmap_find(&map, keys[i], 8) == &values[i]);
	/* The chain's order is the reverse of adding: 5 4 3 2 1 0. */
	CHECK_INT(cidmap_remove(&map, &owner, keys[3], 8), 0); /* middle */
	CHECK_INT(cidmap_remove(&map, &owner, keys[5], 8), 0); /* head */
	CHECK_INT(cidmap_remove(&map, &owner, keys[0], 8), 0); /* tail */
	for (size_t i = 0; i < n; i++)
		CHECK(cidmap_find(&map, keys[i], 8) ==
		      (i == 3 || i == 5 || i == 0 ? NULL : &values[i]));
	/* A key of the same bucket that is not there. */
	CHECK_INT(cidmap_remove(&map, &owner, keys[3], 8), -ENOENT);
	cidmap_remove_all(&map, &owner);
	CHECK(map.buckets[target] == NULL);
	cidmap_free(&map);
}

/* Growth keeps every key findable and the load at most one per bucket. */
static void test_growth(void)
{
	struct cidmap map;
	struct cidmap_entry *owners[4] = {NULL};
	static int values[4];
	uint8_t k[8];
	const uint32_t total = 5000;

	CHECK_INT(cidmap_init(&map, test_key), 0);
	for (uint32_t i = 0; i < total; i++) {
		make_key(i, k);
		CHECK_INT(cidmap_add(&map, &owners[i % 4], &values[i % 4], k, sizeof(k)), 0);
		CHECK(map.count <= map.nbuckets);
	}
	CHECK_INT(map.count, total);
	CHECK(map.nbuckets >= total && map.nbuckets < 4 * total);
	CHECK_INT(map.nbuckets & (map.nbuckets - 1), 0);
	size_t found = 0;
	for (uint32_t i = 0; i < total; i++) {
		make_key(i, k);
		found += cidmap_find(&map, k, sizeof(k)) == &values[i % 4];
	}
	CHECK_INT(found, total);
	/* One owner goes: exactly its keys go. */
	cidmap_remove_all(&map, &owners[1]);
	CHECK_INT(map.count, total - total / 4);
	found = 0;
	for (uint32_t i = 0; i < total; i++) {
		make_key(i, k);
		void *v = cidmap_find(&map, k, sizeof(k));
		found += (i % 4 == 1) ? v == NULL : v == &values[i % 4];
	}
	CHECK_INT(found, total);
	cidmap_free(&map);
}

/* Iteration visits every entry once; removing the entry just returned
 * (here: every other one) does not disturb it. */
static void test_iteration(void)
{
	struct cidmap map;
	struct cidmap_entry *owner = NULL;
	struct cidmap_iter it;
	struct cidmap_entry *e;
	static int value;
	unsigned char seen[300] = {0};
	uint8_t k[8];
	size_t visited = 0, removed = 0;

	CHECK_INT(cidmap_init(&map, test_key), 0);
	cidmap_iter_init(&it, &map);
	CHECK(cidmap_iter_next(&it) == NULL);
	for (uint32_t i = 0; i < 300; i++) {
		make_key(i, k);
		CHECK_INT(cidmap_add(&map, &owner, &value, k, sizeof(k)), 0);
	}
	cidmap_iter_init(&it, &map);
	while ((e = cidmap_iter_next(&it))) {
		uint32_t i;
		memcpy(&i, e->data, sizeof(i));
		CHECK(i < 300 && !seen[i]);
		if (i < 300)
			seen[i]++;
		visited++;
		if (i % 2 == 0) {
			CHECK_INT(cidmap_remove(&map, &owner, e->data, e->len), 0);
			removed++;
		}
	}
	CHECK(cidmap_iter_next(&it) == NULL);
	CHECK_INT(visited, 300);
	CHECK_INT(removed, 150);
	CHECK_INT(map.count, 150);
	visited = 0;
	cidmap_iter_init(&it, &map);
	while ((e = cidmap_iter_next(&it))) {
		uint32_t i;
		memcpy(&i, e->data, sizeof(i));
		CHECK(i % 2 == 1);
		visited++;
	}
	CHECK_INT(visited, 150);
	/* The owner list holds exactly the entries left. */
	size_t on_list = 0;
	for (e = owner; e; e = e->owner_next)
		on_list++;
	CHECK_INT(on_list, 150);
	cidmap_remove_all(&map, &owner);
	cidmap_iter_init(&it, &map);
	CHECK(cidmap_iter_next(&it) == NULL);
	cidmap_free(&map);
}

/* Random adds and removes by several owners against a plain array. */
#define MODEL_KEYS   512
#define MODEL_OWNERS 8
static void test_model(void)
{
	struct cidmap map;
	struct cidmap_entry *owners[MODEL_OWNERS] = {NULL};
	static int values[MODEL_OWNERS];
	int model[MODEL_KEYS]; /* owner + 1, 0 when absent */
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	uint8_t k[8];
	size_t mismatches = 0, count = 0;

	memset(model, 0, sizeof(model));
	CHECK_INT(cidmap_init(&map, test_key), 0);
	for (int step = 0; step < 200000; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		uint32_t key = (uint32_t)(rng % MODEL_KEYS);
		int owner = (int)((rng >> 20) % MODEL_OWNERS);
		int op = (int)((rng >> 40) % 16);
		make_key(key, k);
		if (op < 8) {
			int rv = cidmap_add(&map, &owners[owner], &values[owner], k, sizeof(k));
			mismatches += rv != (model[key] ? -EEXIST : 0);
			if (!model[key]) {
				model[key] = owner + 1;
				count++;
			}
		} else if (op < 15) {
			int rv = cidmap_remove(&map, &owners[owner], k, sizeof(k));
			mismatches += rv != (model[key] == owner + 1 ? 0 : -ENOENT);
			if (model[key] == owner + 1) {
				model[key] = 0;
				count--;
			}
		} else if (step % 64 == 0) {
			cidmap_remove_all(&map, &owners[owner]);
			for (int i = 0; i < MODEL_KEYS; i++) {
				if (model[i] == owner + 1) {
					model[i] = 0;
					count--;
				}
			}
		}
		void *v = cidmap_find(&map, k, sizeof(k));
		mismatches += v != (model[key] ? &values[model[key] - 1] : NULL);
		mismatches += map.count != count;
	}
	for (uint32_t i = 0; i < MODEL_KEYS; i++) {
		make_key(i, k);
		void *v = cidmap_find(&map, k, sizeof(k));
		mismatches += v != (model[i] ? &values[model[i] - 1] : NULL);
	}
	CHECK_INT(mismatches, 0);
	for (int o = 0; o < MODEL_OWNERS; o++)
		cidmap_remove_all(&map, &owners[o]);
	CHECK_INT(map.count, 0);
	cidmap_free(&map);
}

int main(void)
{
	test_basic();
	test_collisions();
	test_growth();
	test_iteration();
	test_model();
	return check_done();
}
