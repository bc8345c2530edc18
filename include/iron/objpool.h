/* A pool of fixed-size objects that outlive what is around them.
 *
 * Objects come from blocks of per_block objects, one malloc each, instead
 * of one malloc per object. Why: a peer outlives its connection (it is
 * forgotten ten minutes after), and 10 000 peers allocated one by one sat
 * between their connections' memory in the heap. When the connections
 * went, the heap was free in 10 000 pieces between them, and malloc_trim
 * gave it back with one madvise each (7248 calls, each a TLB flush on
 * every CPU the daemon ran on): the loop stood still 140-280 ms. From
 * blocks, the freed memory is a few large pieces.
 *
 * A freed object goes to its block's free list; a block whose objects are
 * all free is freed, but for one kept (slotblock.h). Objects are zeroed
 * and aligned to 16 bytes. Not thread-safe. */
#ifndef IRON_OBJPOOL_H
#define IRON_OBJPOOL_H

#include <stddef.h>

#include "iron/slotblock.h"

struct objpool {
	size_t size;   /* of a slot: the object rounded up, with its header */
	size_t object; /* the caller's size */
	unsigned per_block;
	struct slotblock_list room; /* blocks with a free slot */
	size_t blocks;		    /* allocated */
};

/* size: of each object (> 0); per_block: objects a block (> 0). */
void objpool_init(struct objpool *pool, size_t size, unsigned per_block);

/* A zeroed object, or NULL when malloc fails. */
void *objpool_alloc(struct objpool *pool);

/* Gives back an object of this pool; NULL is ignored. */
void objpool_free(struct objpool *pool, void *obj);

/* Frees the blocks left; every object must have been freed. */
void objpool_release(struct objpool *pool);

#endif
