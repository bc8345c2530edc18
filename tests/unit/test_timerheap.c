/* The timer heap: order, updates and removals against a reference model
 * under random operations, and the edge cases. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iron/timerheap.h"

#define NODES 300

struct timed {
	struct timerheap_node node;
	int id;
};

static struct timed items[NODES];
static bool in_model[NODES];
static uint64_t model_expiry[NODES];

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t model_min(void)
{
	uint64_t min = UINT64_MAX;
	for (int i = 0; i < NODES; i++)
		if (in_model[i] && model_expiry[i] < min)
			min = model_expiry[i];
	return min;
}

/* Every node's index points back at it, its slot holds its expiry, and
 * every parent expires no later than its children. */
static bool heap_valid(const struct timerheap *heap)
{
	for (size_t i = 0; i < heap->len; i++) {
		const struct timerheap_slot *slot = &heap->slots[i];
		if (slot->node->index != i || slot->expiry != slot->node->expiry)
			return false;
		if (i > 0 && heap->slots[(i - 1) / 2].expiry > slot->expiry)
			return false;
	}
	return true;
}

static void test_edges(void)
{
	struct timerheap heap;
	struct timed a, b;

	timerheap_init(&heap);
	CHECK(timerheap_first(&heap) == NULL);
	CHECK(timerheap_next_expiry(&heap) == UINT64_MAX);
	timerheap_node_init(&a.node);
	timerheap_node_init(&b.node);
	CHECK(a.node.index == TIMERHEAP_NONE);
	/* Removing a node that is not in it does nothing. */
	timerheap_remove(&heap, &a.node);
	CHECK_INT(timerheap_insert(&heap, &a.node, 10), 0);
	CHECK_INT(timerheap_len(&heap), 1);
	CHECK(timerheap_first(&heap) == &a.node);
	timerheap_remove(&heap, &b.node);
	CHECK_INT(timerheap_len(&heap), 1);
	CHECK_INT(timerheap_insert(&heap, &b.node, 5), 0);
	CHECK(timerheap_first(&heap) == &b.node);
	CHECK(timerheap_next_expiry(&heap) == 5);
	/* Ties, UINT64_MAX ("never"). */
	timerheap_update(&heap, &a.node, 5);
	CHECK(timerheap_next_expiry(&heap) == 5);
	timerheap_update(&heap, &b.node, UINT64_MAX);
	CHECK(timerheap_first(&heap) == &a.node);
	timerheap_update(&heap, &a.node, UINT64_MAX);
	CHECK(timerheap_next_expiry(&heap) == UINT64_MAX);
	CHECK_INT(timerheap_len(&heap), 2);
	timerheap_remove(&heap, &a.node);
	CHECK(a.node.index == TIMERHEAP_NONE);
	timerheap_remove(&heap, &a.node);
	CHECK_INT(timerheap_len(&heap), 1);
	timerheap_remove(&heap, &b.node);
	CHECK(timerheap_first(&heap) == NULL);
	/* Free marks what was left as outside. */
	CHECK_INT(timerheap_insert(&heap, &a.node, 1), 0);
	timerheap_free(&heap);
	CHECK(a.node.index == TIMERHEAP_NONE);
	CHECK(heap.slots == NULL && heap.len == 0);
}

static void test_model(void)
{
	struct timerheap heap;
	size_t mismatches = 0, invalid = 0, popped = 0;

	timerheap_init(&heap);
	for (int i = 0; i < NODES; i++) {
		timerheap_node_init(&items[i].node);
		items[i].id = i;
	}
	for (int step = 0; step < 300000; step++) {
		int i = (int)(rng() % NODES);
		uint64_t r = rng();
		/* A small range, so ties are common. */
		uint64_t expiry = r % 8 == 0 ? UINT64_MAX : (r >> 8) % 1000;
		switch ((r >> 4) % 4) {
		case 0:
			if (!in_model[i]) {
				CHECK_INT(timerheap_insert(&heap, &items[i].node, expiry), 0);
				in_model[i] = true;
				model_expiry[i] = expiry;
			}
			break;
		case 1:
			timerheap_remove(&heap, &items[i].node);
			in_model[i] = false;
			mismatches += items[i].node.index != TIMERHEAP_NONE;
			break;
		case 2:
			if (in_model[i]) {
				timerheap_update(&heap, &items[i].node, expiry);
				model_expiry[i] = expiry;
			}
			break;
		default: {
			/* Pop the first: the model agrees on its expiry. */
			struct timerheap_node *first = timerheap_first(&heap);
			if (first) {
				struct timed *t = (struct timed *)first;
				mismatches += first->expiry != model_min();
				mismatches +=
				    !in_model[t->id] || model_expiry[t->id] != first->expiry;
				timerheap_remove(&heap, first);
				in_model[t->id] = false;
				popped++;
			}
			break;
		}
		}
		mismatches += timerheap_next_expiry(&heap) != model_min();
		if (step % 97 == 0)
			invalid += !heap_valid(&heap);
	}
	size_t n = 0;
	for (int i = 0; i < NODES; i++)
		n += in_model[i];
	CHECK_INT(timerheap_len(&heap), n);
	/* Drain in order. */
	uint64_t last = 0;
	while (timerheap_first(&heap)) {
		struct timerheap_node *first = timerheap_first(&heap);
		mismatches += first->expiry < last;
		last = first->expiry;
		timerheap_remove(&heap, first);
	}
	CHECK_INT(mismatches, 0);
	CHECK_INT(invalid, 0);
	CHECK(popped > 1000);
	timerheap_free(&heap);
}

int main(void)
{
	test_edges();
	test_model();
	return check_done();
}
