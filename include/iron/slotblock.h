/* A block of fixed-size slots: the bookkeeping pagealloc's slab (chunks
 * of page-aligned blocks) and objpool (blocks of objects) share. The
 * owner finds the memory (a mapping, a malloc) and keeps a list of its
 * blocks with a free slot; this hands out and takes back slots. A freed
 * slot is linked through its first word, so the owner must not need that
 * word while the slot is free. Slots come back last freed first, and a
 * block whose slots are all free is given back to the owner, unless it
 * is the only one with room (so that one slot coming and going does not
 * cost a block each time). Not thread-safe. */
#ifndef IRON_SLOTBLOCK_H
#define IRON_SLOTBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

struct slotblock {
	LIST_ENTRY(slotblock) link; /* in the owner's list while it has room */
	void *free;		    /* freed slots */
	size_t live, carved, capacity;
};
LIST_HEAD(slotblock_list, slotblock);

/* An empty block of capacity (> 0) slots, put on room. */
void slotblock_init(struct slotblock *b, size_t capacity, struct slotblock_list *room);

/* A slot of b, the last freed or the next of size bytes from base, where
 * the block's slots start. b leaves room when it has none left. */
void *slotblock_take(struct slotblock *b, unsigned char *base, size_t size);

/* Takes back a slot of b (b joins room again if it was full). True when
 * b is now empty and another block has room: b is off room, and the owner
 * frees it. */
bool slotblock_put(struct slotblock *b, void *slot, struct slotblock_list *room);

#endif
