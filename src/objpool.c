#include "iron/objpool.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/poison.h"

/* Each slot starts with this, then the object. 16 bytes keep malloc's
 * alignment. */
struct slot {
	struct objpool_block *block;
	struct slot *next_free;
};

_Static_assert(sizeof(struct slot) == 16, "the slot header keeps 16-byte alignment");

struct objpool_block {
	LIST_ENTRY(objpool_block) link; /* in the pool's room list */
	struct slot *free;
	unsigned live, carved;
	bool listed;
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

static void room_add(struct objpool *pool, struct objpool_block *b)
{
	LIST_INSERT_HEAD(&pool->room, b, link);
	b->listed = true;
}

static void room_remove(struct objpool_block *b)
{
	LIST_REMOVE(b, link);
	b->listed = false;
}

void *objpool_alloc(struct objpool *pool)
{
	struct objpool_block *b = LIST_FIRST(&pool->room);
	struct slot *s;

	if (!b) {
		b = malloc(sizeof(*b) + (size_t)pool->per_block * pool->size);
		if (!b)
			return NULL;
		b->free = NULL;
		b->live = b->carved = 0;
		pool->blocks++;
		room_add(pool, b);
	}
	if (b->free) {
		s = b->free;
		b->free = s->next_free;
	} else {
		s = (struct slot *)(void *)(b->slots + (size_t)b->carved * pool->size);
		b->carved++;
	}
	b->live++;
	if (!b->free && b->carved == pool->per_block)
		room_remove(b);
	s->block = b;
	s->next_free = NULL;
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
	s->next_free = b->free;
	b->free = s;
	POISON(s + 1, pool->object);
	b->live--;
	if (!b->listed)
		room_add(pool, b);
	/* Empty: freed, unless it is the only one with room. */
	if (b->live == 0 && (LIST_FIRST(&pool->room) != b || LIST_NEXT(b, link))) {
		room_remove(b);
		pool->blocks--;
		free(b);
	}
}

void objpool_release(struct objpool *pool)
{
	struct objpool_block *b;
	while ((b = LIST_FIRST(&pool->room))) {
		room_remove(b);
		pool->blocks--;
		free(b);
	}
}
