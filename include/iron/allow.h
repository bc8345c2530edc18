/* The inbound allow-list: the node IDs that may open a connection to this
 * node when the operator closed it (`--allow ID`, the [Allow] section of
 * the config file, plus the static peers; README "Who can reach your
 * node"). A set of IDs with a fixed capacity, looked up on every accepted
 * handshake; a NULL list means the node is open to every key, as the
 * original is. */
#ifndef IRON_ALLOW_H
#define IRON_ALLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "iron/id.h"

struct allow_list;

/* Creates an empty list holding at most capacity IDs (at least 1).
 * Returns 0 or -ENOMEM. */
int allow_list_new(size_t capacity, struct allow_list **out);

/* Frees a list. NULL is fine. */
void allow_list_del(struct allow_list *list);

/* Adds an ID; one already in the list is not added twice. Returns 0, or
 * -ENOSPC when the list is full (it is unchanged then). */
int allow_list_add(struct allow_list *list, const struct iron_id *id);

/* True when the ID is in the list. O(log n). */
bool allow_list_contains(const struct allow_list *list, const struct iron_id *id);

/* How many distinct IDs the list holds. */
size_t allow_list_count(const struct allow_list *list);

#endif
