#include "iron/objpool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/poison.h"

/* Each slot starts with this, then the object. While the slot is free,
 * its first word links it in the block's free list (slotblock.h). 16
 * bytes keep malloc's alignment. */
struct slot {
	struct objpool_block *block;
	unsigned char pad[8];
};

_Static_assert(sizeof(struct slot) == 16, "the slot header keeps 16-byte alignment");

struct objpool_block {
	struct slotblock sb; /* first: the pool's list holds these */
	_Alignas(16) unsigned char slots[];
};

void objpool_init(struct objpool *pool, size_t size, unsigned per_block)
{
	memset(pool, 0, sizeof(*pool));
	LIST_INIT(&pool->room);
	pool->object = size;
	pool->size = sizeof(struct slot) + ((size + 15) & ~(size_t)15);
	pool->per_block = per_block;
}

void *objpool_alloc(struct objpool *pool)
{
	struct objpool_block *b = (struct objpool_block *)LIST_FIRST(&pool->room);
	if (!b) {
		b = malloc(sizeof(*b) + (size_t)pool->per_block * pool->size);
		if (!b)
			return NULL;
		slotblock_init(&b->sb, pool->per_block, &pool->room);
		pool->blocks++;
	}
	struct slot *s = slotblock_take(&b->sb, b->slots, pool->size);
	s->block = b;
	UNPOISON(s + 1, pool->object);
	memset(s + 1, 0, pool->object);
	return s + 1;
}

void objpool_free(struct objpool *pool, void *obj)
{
	if (!obj)
		return;
	struct slot *s = (struct slot *)obj - 1;
	struct objpool_block *b = s->block;
	POISON(s + 1, pool->object);
	if (slotblock_put(&b->sb, s, &pool->room)) {
		pool->blocks--;
		free(b);
	}
}

void objpool_release(struct objpool *pool)
{
	struct slotblock *b;
	while ((b = LIST_FIRST(&pool->room))) {
		LIST_REMOVE(b, link);
		pool->blocks--;
		free(b);
	}
}
