/* objpool: zeroed, aligned, distinct objects; freed ones come back; a
 * block whose objects are all free is freed but for one; release frees
 * the rest. */
#include <stdint.h>
#include <string.h>

#include "iron/objpool.h"

#include "../check.h"

struct thing {
	uint64_t a;
	char text[100];
};

static void test_pool(void)
{
	enum { PER = 8, MANY = 100 };
	struct objpool pool;
	struct thing *t[MANY];

	objpool_init(&pool, sizeof(struct thing), PER);
	for (int i = 0; i < MANY; i++) {
		t[i] = objpool_alloc(&pool);
		CHECK(t[i] != NULL);
		if (!t[i])
			return;
		CHECK_INT((uintptr_t)t[i] % 16, 0);
		CHECK_INT(t[i]->a, 0);
		CHECK_INT(t[i]->text[99], 0);
		t[i]->a = (uint64_t)i;
		memset(t[i]->text, 'x', sizeof(t[i]->text));
	}
	CHECK_INT(pool.blocks, (MANY + PER - 1) / PER);
	for (int i = 0; i < MANY; i++)
		CHECK_INT(t[i]->a, i);

	/* A freed object is the next one given, zeroed again. */
	objpool_free(&pool, t[41]);
	struct thing *again = objpool_alloc(&pool);
	CHECK(again == t[41]);
	CHECK_INT(again->a, 0);
	CHECK_INT(again->text[0], 0);
	CHECK_INT(t[40]->a, 40);
	CHECK_INT(t[42]->a, 42);
	objpool_free(&pool, NULL);

	/* Every other object freed: no block is empty. */
	for (int i = 0; i < MANY; i += 2)
		objpool_free(&pool, t[i]);
	CHECK_INT(pool.blocks, (MANY + PER - 1) / PER);
	for (int i = 1; i < MANY; i += 2)
		objpool_free(&pool, t[i]);
	/* All free: one block kept. */
	CHECK_INT(pool.blocks, 1);

	/* And the pool works on. */
	for (int i = 0; i < MANY; i++) {
		t[i] = objpool_alloc(&pool);
		CHECK(t[i] != NULL);
		if (t[i])
			t[i]->a = (uint64_t)i + 1000;
	}
	for (int i = 0; i < MANY; i++) {
		CHECK(t[i] && t[i]->a == (uint64_t)i + 1000);
		objpool_free(&pool, t[i]);
	}
	objpool_release(&pool);
	CHECK_INT(pool.blocks, 0);
	CHECK(LIST_EMPTY(&pool.room));
}

int main(void)
{
	test_pool();
	return check_done();
}
