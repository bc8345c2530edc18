#include "iron/heaptrim.h"

#include <stdlib.h> /* defines __GLIBC__ with glibc */

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

void heaptrim_init(struct heaptrim *ht)
{
	ht->free_at_trim = 0;
	ht->trimmed = false;
}

bool heaptrim_check(struct heaptrim *ht)
{
#ifdef HAVE_MALLINFO2
	size_t free_bytes = mallinfo2().fordblks;
	size_t change;

	if (free_bytes < HEAPTRIM_THRESHOLD)
		return false;
	/* Trimmed pages still count as free to malloc, and a check once a
	 * second misses what was used and freed in between: trim again
	 * whenever the free bytes moved by a quarter of the threshold. A
	 * heap that does not change is left alone. */
	change = free_bytes > ht->free_at_trim ? free_bytes - ht->free_at_trim
					       : ht->free_at_trim - free_bytes;
	if (ht->trimmed && change < HEAPTRIM_THRESHOLD / 4)
		return false;
	malloc_trim(0);
	ht->free_at_trim = mallinfo2().fordblks;
	ht->trimmed = true;
	return true;
#else
	(void)ht;
	return false;
#endif
}
