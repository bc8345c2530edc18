/* The allow-list: membership, no duplicates, the capacity bound, and
 * lookups that stay right however the IDs arrive (a sorted array). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iron/allow.h"

static struct iron_id id_of(uint32_t n)
{
	struct iron_id id;
	/* Spread over the whole key, so order depends on every byte. */
	for (size_t i = 0; i < IRON_ID_LEN; i++)
		id.bytes[i] = (uint8_t)((n * 2654435761u) >> (i % 4 * 8)) ^ (uint8_t)i;
	return id;
}

static void test_basics(void)
{
	struct allow_list *list = NULL;
	struct iron_id a = id_of(1), b = id_of(2), c = id_of(3);

	CHECK_INT(allow_list_new(2, &list), 0);
	CHECK(list != NULL);
	if (!list)
		return;
	CHECK_INT(allow_list_count(list), 0);
	CHECK(!allow_list_contains(list, &a));
	CHECK_INT(allow_list_add(list, &a), 0);
	CHECK_INT(allow_list_add(list, &a), 0); /* already there: not twice */
	CHECK_INT(allow_list_count(list), 1);
	CHECK(allow_list_contains(list, &a));
	CHECK(!allow_list_contains(list, &b));
	CHECK_INT(allow_list_add(list, &b), 0);
	CHECK_INT(allow_list_add(list, &c), -ENOSPC); /* full, unchanged */
	CHECK_INT(allow_list_add(list, &b), 0);	      /* full, but already there */
	CHECK_INT(allow_list_count(list), 2);
	CHECK(allow_list_contains(list, &a) && allow_list_contains(list, &b));
	CHECK(!allow_list_contains(list, &c));
	/* One bit away from a member is not a member. */
	struct iron_id near = a;
	near.bytes[IRON_ID_LEN - 1] ^= 1;
	CHECK(!allow_list_contains(list, &near));
	near = a;
	near.bytes[0] ^= 0x80;
	CHECK(!allow_list_contains(list, &near));
	allow_list_del(list);
	allow_list_del(NULL);

	/* Capacity 0 means 1. */
	CHECK_INT(allow_list_new(0, &list), 0);
	if (list) {
		CHECK_INT(allow_list_add(list, &c), 0);
		CHECK_INT(allow_list_add(list, &a), -ENOSPC);
		allow_list_del(list);
	}
	CHECK_INT(allow_list_new(SIZE_MAX, &list), -ENOMEM);
	CHECK(list == NULL);
}

/* Many IDs in scrambled order: every member found, no non-member. */
static void test_many(void)
{
	enum { N = 3000 };
	struct allow_list *list = NULL;
	unsigned found = 0, strays = 0;

	CHECK_INT(allow_list_new(N, &list), 0);
	if (!list)
		return;
	for (uint32_t i = 0; i < N; i++) {
		struct iron_id id = id_of((i * 7919u) % N);
		CHECK_INT(allow_list_add(list, &id), 0);
	}
	CHECK_INT(allow_list_count(list), N);
	for (uint32_t i = 0; i < N; i++) {
		struct iron_id in = id_of(i), out = id_of(N + i);
		found += allow_list_contains(list, &in);
		strays += allow_list_contains(list, &out);
	}
	CHECK_INT(found, N);
	CHECK_INT(strays, 0);
	allow_list_del(list);
}

int main(void)
{
	test_basics();
	test_many();
	return check_done();
}
