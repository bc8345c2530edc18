#include "iron/timerheap.h"

#include <errno.h>
#include <stdlib.h>

/* The node's own copy of its expiry is written by the caller's update and
 * read by the caller; the sifts compare the slots' copies only, and write
 * a node just to tell it where it went. */
static void place(struct timerheap *heap, size_t i, struct timerheap_slot slot)
{
	heap->slots[i] = slot;
	slot.node->index = i;
}

static void sift_up(struct timerheap *heap, size_t i)
{
	struct timerheap_slot slot = heap->slots[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (heap->slots[parent].expiry <= slot.expiry)
			break;
		place(heap, i, heap->slots[parent]);
		i = parent;
	}
	place(heap, i, slot);
}

static void sift_down(struct timerheap *heap, size_t i)
{
	struct timerheap_slot slot = heap->slots[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= heap->len)
			break;
		if (child + 1 < heap->len &&
		    heap->slots[child + 1].expiry < heap->slots[child].expiry)
			child++;
		if (slot.expiry <= heap->slots[child].expiry)
			break;
		place(heap, i, heap->slots[child]);
		i = child;
	}
	place(heap, i, slot);
}

void timerheap_init(struct timerheap *heap)
{
	heap->slots = NULL;
	heap->len = heap->cap = 0;
}

void timerheap_free(struct timerheap *heap)
{
	for (size_t i = 0; i < heap->len; i++)
		heap->slots[i].node->index = TIMERHEAP_NONE;
	free(heap->slots);
	timerheap_init(heap);
}

void timerheap_node_init(struct timerheap_node *node)
{
	node->expiry = UINT64_MAX;
	node->index = TIMERHEAP_NONE;
}

int timerheap_insert(struct timerheap *heap, struct timerheap_node *node, uint64_t expiry)
{
	if (heap->len == heap->cap) {
		size_t cap = heap->cap ? heap->cap * 2 : 16;
		struct timerheap_slot *slots = realloc(heap->slots, cap * sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		heap->slots = slots;
		heap->cap = cap;
	}
	node->expiry = expiry;
	place(heap, heap->len++, (struct timerheap_slot){expiry, node});
	sift_up(heap, node->index);
	return 0;
}

void timerheap_remove(struct timerheap *heap, struct timerheap_node *node)
{
	size_t i = node->index;
	struct timerheap_slot last;

	if (i >= heap->len || heap->slots[i].node != node)
		return;
	last = heap->slots[--heap->len];
	node->index = TIMERHEAP_NONE;
	if (last.node == node)
		return;
	place(heap, i, last);
	sift_up(heap, i);
	sift_down(heap, last.node->index);
}

void timerheap_update(struct timerheap *heap, struct timerheap_node *node, uint64_t expiry)
{
	size_t i = node->index;
	uint64_t old = heap->slots[i].expiry;

	node->expiry = expiry;
	heap->slots[i].expiry = expiry;
	if (expiry < old)
		sift_up(heap, i);
	else if (expiry > old)
		sift_down(heap, i);
}
