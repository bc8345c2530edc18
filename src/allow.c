/* The allow-list: a sorted array, so a handshake costs one binary search
 * however long the list is. Node IDs are public keys, so ordering them
 * with memcmp() leaks nothing. */
#include "iron/allow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct allow_list {
	size_t count, capacity;
	struct iron_id ids[]; /* ascending by bytes */
};

int allow_list_new(size_t capacity, struct allow_list **out)
{
	struct allow_list *list;

	*out = NULL;
	if (capacity == 0)
		capacity = 1;
	if (capacity > (SIZE_MAX - sizeof(*list)) / sizeof(list->ids[0]))
		return -ENOMEM;
	list = calloc(1, sizeof(*list) + capacity * sizeof(list->ids[0]));
	if (!list)
		return -ENOMEM;
	list->capacity = capacity;
	*out = list;
	return 0;
}

void allow_list_del(struct allow_list *list)
{
	free(list);
}

/* The index of the first ID not below id. */
static size_t lower_bound(const struct allow_list *list, const struct iron_id *id)
{
	size_t lo = 0, hi = list->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(list->ids[mid].bytes, id->bytes, IRON_ID_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int allow_list_add(struct allow_list *list, const struct iron_id *id)
{
	size_t i = lower_bound(list, id);
	if (i < list->count && memcmp(list->ids[i].bytes, id->bytes, IRON_ID_LEN) == 0)
		return 0;
	if (list->count == list->capacity)
		return -ENOSPC;
	memmove(&list->ids[i + 1], &list->ids[i], (list->count - i) * sizeof(list->ids[0]));
	list->ids[i] = *id;
	list->count++;
	return 0;
}

bool allow_list_contains(const struct allow_list *list, const struct iron_id *id)
{
	size_t i = lower_bound(list, id);
	return i < list->count && memcmp(list->ids[i].bytes, id->bytes, IRON_ID_LEN) == 0;
}

size_t allow_list_count(const struct allow_list *list)
{
	return list->count;
}
