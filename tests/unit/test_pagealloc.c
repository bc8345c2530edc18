/* pagealloc: malloc semantics on both sides of the threshold, contents
 * kept across every realloc transition, overflow refused, and the reason
 * it exists: an untouched big zeroed block costs no resident memory. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "iron/pagealloc.h"

#include "../check.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + seed);
}

static int same(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31u + seed))
			return 0;
	return 1;
}

/* Resident pages of this process, from /proc/self/statm. */
static long resident_pages(void)
{
	long size = 0, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident;
}

static void test_sizes(void)
{
	static const size_t sizes[] = {1,    15,   16,	 17,	100,   4095,
				       4096, 4097, 8192, 12345, 65536, 1 << 20};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *p = pagealloc_malloc(sizes[i]);
		CHECK(p != NULL);
		CHECK((uintptr_t)p % 16 == 0);
		fill(p, sizes[i], (unsigned)i);
		CHECK(same(p, sizes[i], (unsigned)i));
		pagealloc_free(p);

		unsigned char *z = pagealloc_calloc(sizes[i], 1);
		CHECK(z != NULL);
		size_t nonzero = 0;
		for (size_t k = 0; k < sizes[i]; k++)
			nonzero += z[k] != 0;
		CHECK_INT(nonzero, 0);
		pagealloc_free(z);
	}
	CHECK(pagealloc_malloc(0) == NULL);
	CHECK(pagealloc_malloc(SIZE_MAX) == NULL);
	CHECK(pagealloc_malloc(SIZE_MAX - 8) == NULL);
	CHECK(pagealloc_calloc(SIZE_MAX / 2, 3) == NULL);
	CHECK(pagealloc_calloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
	pagealloc_free(NULL);
}

/* Grow and shrink across the threshold both ways: small -> big -> bigger ->
 * big (in place) -> small; the common prefix must survive every step. */
static void test_realloc(void)
{
	static const size_t steps[] = {100, 3000, 5000, 20000, 9000, 4096, 4095, 64, 7000, 10};
	unsigned char *p = pagealloc_realloc(NULL, 50);
	CHECK(p != NULL);
	fill(p, 50, 7);
	size_t have = 50;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		unsigned char *q = pagealloc_realloc(p, steps[i]);
		CHECK(q != NULL);
		if (!q)
			break;
		size_t kept = have < steps[i] ? have : steps[i];
		CHECK(same(q, kept, 7));
		fill(q, steps[i], 7);
		p = q;
		have = steps[i];
	}
	/* Failure leaves the old block as it was. */
	CHECK(pagealloc_realloc(p, SIZE_MAX - 4) == NULL);
	CHECK(same(p, have, 7));
	CHECK(pagealloc_realloc(p, 0) == NULL); /* frees */
}

/* 100 blocks of 64 KiB, zeroed and never written: the mappings cost
 * (nearly) nothing resident; writing one byte per block costs one page. */
static void test_lazy(void)
{
	enum { N = 100, SIZE = 64 * 1024 };
	void *blocks[N];
	long page = sysconf(_SC_PAGESIZE);
	long before = resident_pages();
	for (int i = 0; i < N; i++)
		blocks[i] = pagealloc_calloc(1, SIZE);
	long untouched = resident_pages();
	for (int i = 0; i < N; i++)
		((unsigned char *)blocks[i])[0] = 1;
	long touched = resident_pages();
	printf(
	    "# resident pages: %ld before, %ld after %d x %d B calloc, %ld after one write each\n",
	    before, untouched, N, SIZE, touched);
	CHECK(before > 0);
	/* From the heap this would be N * SIZE / page = 1600 pages. The first
	 * page of each block holds the header, so it is written. */
	CHECK(untouched - before <= N + 16);
	CHECK(touched - before <= N + 16);
	CHECK(touched - before >= N - 16);
	(void)page;
	for (int i = 0; i < N; i++)
		pagealloc_free(blocks[i]);
}

int main(void)
{
	test_sizes();
	test_realloc();
	test_lazy();
	return check_done();
}
