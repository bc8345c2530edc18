/* Gives the heap's freed memory back to the system.
 *
 * Why: glibc returns freed heap memory to the system only from the top of
 * the heap. After a burst of connections (1000 peers holding streams
 * open, issue 15) the freed memory lies below a few live blocks, and the
 * daemon kept its peak size for ever: 24 MB resident instead of 16 MB
 * after 200 such connections had closed. malloc_trim() releases the free
 * pages wherever they are. It walks the heap, so it runs only when much
 * is free and that changed since it last ran. Elsewhere than glibc (and under
 * AddressSanitizer, whose allocator is not glibc's) it does nothing. */
#ifndef IRON_HEAPTRIM_H
#define IRON_HEAPTRIM_H

#include <stdbool.h>
#include <stddef.h>

/* Free heap bytes from which heaptrim_check() trims. */
#define HEAPTRIM_THRESHOLD (4u << 20)

struct heaptrim {
	size_t free_at_trim; /* free heap bytes after the last trim */
	bool trimmed;
};

/* A state that has not trimmed yet. */
void heaptrim_init(struct heaptrim *ht);

/* Looks at the heap's free bytes (glibc's mallinfo2(): a walk of the free
 * lists) and trims when at least HEAPTRIM_THRESHOLD are free and they
 * changed by a quarter of that since the last trim. Call it now and then
 * (the daemon: once a second). Returns true when it trimmed. */
bool heaptrim_check(struct heaptrim *ht);

#endif
