/* A binary min-heap of timers by expiry time, for an owner of many timed
 * objects that has one timer of its own (the QUIC endpoint: one node per
 * connection, keyed by ngtcp2's expiry).
 *
 * Nodes are embedded in the timed objects (container_of-style) and
 * borrowed: the heap only keeps pointers to them. Equal expiries come out
 * in no particular order. The structs are public only so that they can be
 * embedded; use the functions. */
#ifndef IRON_TIMERHEAP_H
#define IRON_TIMERHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMERHEAP_NONE SIZE_MAX /* timerheap_node.index when not in a heap */

struct timerheap_node {
	uint64_t expiry;
	size_t index; /* position in the heap, TIMERHEAP_NONE when outside */
};

/* A slot of the heap's array: the expiry is kept beside the pointer, so
 * that restoring the order compares within the array and does not load a
 * node (one cache miss each, in a different connection, with many). */
struct timerheap_slot {
	uint64_t expiry;
	struct timerheap_node *node;
};

struct timerheap {
	struct timerheap_slot *slots;
	size_t len, cap;
};

/* An empty heap (no allocation until the first insert). */
void timerheap_init(struct timerheap *heap);

/* Frees the heap's array; the nodes are the caller's. */
void timerheap_free(struct timerheap *heap);

/* A node outside any heap. */
void timerheap_node_init(struct timerheap_node *node);

/* Adds a node that is outside any heap, with this expiry. Returns 0 or
 * -ENOMEM (the node stays outside). */
int timerheap_insert(struct timerheap *heap, struct timerheap_node *node, uint64_t expiry);

/* Takes a node out; nothing happens when it is not in this heap. */
void timerheap_remove(struct timerheap *heap, struct timerheap_node *node);

/* Changes a node's expiry and restores the order. The node must be in the
 * heap. */
void timerheap_update(struct timerheap *heap, struct timerheap_node *node, uint64_t expiry);

/* The node that expires first, or NULL when the heap is empty. */
static inline struct timerheap_node *timerheap_first(const struct timerheap *heap)
{
	return heap->len ? heap->slots[0].node : NULL;
}

/* The earliest expiry, or UINT64_MAX when the heap is empty. */
static inline uint64_t timerheap_next_expiry(const struct timerheap *heap)
{
	return heap->len ? heap->slots[0].expiry : UINT64_MAX;
}

static inline size_t timerheap_len(const struct timerheap *heap)
{
	return heap->len;
}

#endif
