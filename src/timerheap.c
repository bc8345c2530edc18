#include "iron/timerheap.h"

#include <errno.h>
#include <stdlib.h>

static void place(struct timerheap *heap, size_t i, struct timerheap_node *node)
{
	heap->nodes[i] = node;
	node->index = i;
}

static void sift_up(struct timerheap *heap, size_t i)
{
	struct timerheap_node *node = heap->nodes[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (heap->nodes[parent]->expiry <= node->expiry)
			break;
		place(heap, i, heap->nodes[parent]);
		i = parent;
	}
	place(heap, i, node);
}

static void sift_down(struct timerheap *heap, size_t i)
{
	struct timerheap_node *node = heap->nodes[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= heap->len)
			break;
		if (child + 1 < heap->len &&
		    heap->nodes[child + 1]->expiry < heap->nodes[child]->expiry)
			child++;
		if (node->expiry <= heap->nodes[child]->expiry)
			break;
		place(heap, i, heap->nodes[child]);
		i = child;
	}
	place(heap, i, node);
}

void timerheap_init(struct timerheap *heap)
{
	heap->nodes = NULL;
	heap->len = heap->cap = 0;
}

void timerheap_free(struct timerheap *heap)
{
	for (size_t i = 0; i < heap->len; i++)
		heap->nodes[i]->index = TIMERHEAP_NONE;
	free(heap->nodes);
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
		struct timerheap_node **nodes = realloc(heap->nodes, cap * sizeof(*nodes));
		if (!nodes)
			return -ENOMEM;
		heap->nodes = nodes;
		heap->cap = cap;
	}
	node->expiry = expiry;
	place(heap, heap->len++, node);
	sift_up(heap, node->index);
	return 0;
}

void timerheap_remove(struct timerheap *heap, struct timerheap_node *node)
{
	size_t i = node->index;
	struct timerheap_node *last;

	if (i >= heap->len || heap->nodes[i] != node)
		return;
	last = heap->nodes[--heap->len];
	node->index = TIMERHEAP_NONE;
	if (last == node)
		return;
	place(heap, i, last);
	sift_up(heap, i);
	sift_down(heap, last->index);
}

void timerheap_update(struct timerheap *heap, struct timerheap_node *node, uint64_t expiry)
{
	uint64_t old = node->expiry;

	node->expiry = expiry;
	if (expiry < old)
		sift_up(heap, node->index);
	else if (expiry > old)
		sift_down(heap, node->index);
}
