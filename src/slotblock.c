#include "iron/slotblock.h"

static bool has_room(const struct slotblock *b)
{
	return b->free || b->carved < b->capacity;
}

void slotblock_init(struct slotblock *b, size_t capacity, struct slotblock_list *room)
{
	b->free = NULL;
	b->live = b->carved = 0;
	b->capacity = capacity;
	LIST_INSERT_HEAD(room, b, link);
}

void *slotblock_take(struct slotblock *b, unsigned char *base, size_t size)
{
	void *slot;
	if (b->free) {
		slot = b->free;
		b->free = *(void **)slot;
	} else {
		slot = base + b->carved * size;
		b->carved++;
	}
	b->live++;
	if (!has_room(b))
		LIST_REMOVE(b, link);
	return slot;
}

bool slotblock_put(struct slotblock *b, void *slot, struct slotblock_list *room)
{
	bool was_full = !has_room(b);
	*(void **)slot = b->free;
	b->free = slot;
	b->live--;
	if (was_full)
		LIST_INSERT_HEAD(room, b, link);
	if (b->live > 0 || (LIST_FIRST(room) == b && !LIST_NEXT(b, link)))
		return false;
	LIST_REMOVE(b, link);
	return true;
}
