/* An allocator for long-lived, sparsely used memory: each allocation of
 * PAGEALLOC_THRESHOLD bytes or more starts on a page of its own in
 * anonymous memory, so only the pages that are written count as
 * resident; smaller ones come from malloc.
 *
 * Why: a connection in ngtcp2 0.12.1 keeps seven blocks of 4-12 KB
 * (object pools, skip-list blocks; more during the handshake) and, while
 * the peer is idle, writes only the first page of each. From the heap
 * they are resident in full (reused heap memory is already dirty); mapped
 * lazily, an idle peer costs ~15 KB less (68.5 -> 53.2 KB; mincore():
 * one resident page per block). Zeroed allocations (calloc) are the
 * exception and stay on the heap: the one ngtcp2 makes of that size, the
 * connection struct (8.2 KB), is written across all three of its pages.
 * ngtcp2 makes these allocations when a connection is created and during
 * its handshake, not per packet.
 *
 * Blocks of up to 16 KB (with a 16-byte header) are carved from chunks of
 * 512 KB, one chunk per length, and a freed block goes back to its chunk
 * without a system call; a chunk is unmapped when all its blocks are
 * free (one empty chunk per length is kept). Longer blocks get a mapping
 * each, and up to 32 freed ones are kept for reuse with only their first
 * page resident. When a mapping fails (e.g. vm.max_map_count reached) the
 * allocation falls back to malloc.
 *
 * Memory from these functions must be given back to pagealloc_free() or
 * pagealloc_realloc(), never to free(), and by the thread that allocated
 * it (iron's QUIC runs on one thread). */
#ifndef IRON_PAGEALLOC_H
#define IRON_PAGEALLOC_H

#include <stddef.h>

#define PAGEALLOC_THRESHOLD 4096

/* Like malloc(): NULL on failure (or for size 0, which is not an error to
 * free). */
void *pagealloc_malloc(size_t size);

/* Like calloc(): zeroed, from the heap whatever the size; NULL when
 * nmemb * size overflows. */
void *pagealloc_calloc(size_t nmemb, size_t size);

/* Like realloc(): keeps the contents up to the smaller size; moves between
 * malloc and a mapping as the size crosses the threshold. size 0 frees
 * and returns NULL. On failure the old block is left untouched. */
void *pagealloc_realloc(void *ptr, size_t size);

/* Like free(); NULL is ignored. */
void pagealloc_free(void *ptr);

#endif
