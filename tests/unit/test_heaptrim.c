/* heaptrim: memory freed below live heap blocks goes back to the system
 * (what a burst of closed connections leaves, issue 15), and a heap that
 * does not change is not trimmed again. Skipped (exit 77) where there is
 * no glibc heap to look at: another libc, or AddressSanitizer's allocator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iron/heaptrim.h"
#include "iron/poison.h" /* IRON_ASAN */

#include "../check.h"

#if defined(IRON_ASAN) || !defined(__GLIBC__)
#define NO_GLIBC_HEAP 1
#endif

#define BLOCKS	   20000
#define BLOCK_SIZE 1500 /* a packet buffer's size */

#ifndef NO_GLIBC_HEAP
/* Resident kB of this process. */
static long rss_kb(void)
{
	long pages = -1, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}
#endif

int main(void)
{
#ifdef NO_GLIBC_HEAP
	printf("SKIP: no glibc heap here\n");
	return 77;
#else
	static void *blocks[BLOCKS];
	struct heaptrim ht;
	void *pin;

	heaptrim_init(&ht);
	/* A heap with little free: nothing to do. */
	CHECK(!heaptrim_check(&ht));
	/* 30 MB in packet-sized blocks, written (resident), with a live block
	 * above them so that free() cannot shrink the heap from its top. */
	for (size_t i = 0; i < BLOCKS; i++) {
		blocks[i] = malloc(BLOCK_SIZE);
		CHECK(blocks[i] != NULL);
		if (blocks[i])
			memset(blocks[i], 0x5a, BLOCK_SIZE);
	}
	pin = malloc(64);
	long full = rss_kb();
	for (size_t i = 0; i < BLOCKS; i++)
		free(blocks[i]);
	long freed = rss_kb();
	CHECK(heaptrim_check(&ht));
	long trimmed = rss_kb();
	printf("RSS: %ld kB with 30 MB in blocks, %ld kB once freed, %ld kB trimmed\n", full, freed,
	       trimmed);
	CHECK(full > 0 && freed > 0 && trimmed > 0);
	/* free() alone gave (almost) nothing back; the trim gave most. */
	CHECK(full - freed < 4096);
	CHECK(freed - trimmed > 20 * 1024);
	/* Nothing changed since: no second walk of the heap. */
	CHECK(!heaptrim_check(&ht));
	free(pin);
	return check_done();
#endif
}
