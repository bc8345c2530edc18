/* pagealloc: malloc semantics on both sides of the threshold, contents
 * kept across every realloc transition, overflow refused, and the reason
 * it exists: an untouched big block costs one resident page; a freed
 * block is reused without a system call, and chunks of free blocks are
 * unmapped. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
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

/* Resident pages of the block at p (size bytes), by mincore(): only the
 * block's own pages count, whatever else the process or the kernel does
 * meanwhile (a sanitizer's shadow memory, reclaim of other pages). */
static long resident_pages(const void *p, size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)p & ~(uintptr_t)(page - 1);
	size_t len = (uintptr_t)p + size - start;
	size_t n = (len + page - 1) / page;
	unsigned char vec[64];
	long resident = 0;
	if (n > sizeof(vec) || mincore((void *)start, len, vec) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		resident += vec[i] & 1;
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

/* Blocks of 64 KiB, never written, cost only the page with the header;
 * writing the last byte adds one page. From the heap every page of a
 * reused block would be resident. */
static void test_lazy(void)
{
	enum { N = 16, SIZE = 64 * 1024 };
	unsigned char *blocks[N];
	long untouched = 0, touched = 0;
	for (int i = 0; i < N; i++) {
		blocks[i] = pagealloc_malloc(SIZE);
		CHECK(blocks[i] != NULL);
		if (!blocks[i])
			return;
	}
	for (int i = 0; i < N; i++)
		untouched += resident_pages(blocks[i], SIZE);
	for (int i = 0; i < N; i++)
		blocks[i][SIZE - 1] = 1;
	for (int i = 0; i < N; i++)
		touched += resident_pages(blocks[i], SIZE);
	printf("# resident pages of %d blocks of %d B: %ld after malloc, %ld after writing the "
	       "last byte of each\n",
	       N, SIZE, untouched, touched);
	CHECK_INT(untouched, N);
	CHECK_INT(touched, 2 * N);
	for (int i = 0; i < N; i++)
		pagealloc_free(blocks[i]);
}

/* Blocks of the slab's lengths (up to 16 KB with the header) are carved
 * from chunks: page-aligned, one resident page when fresh; a freed block
 * comes back as it was, with no system call (what it had resident stays);
 * a chunk whose blocks are all free is unmapped, but for one kept per
 * length. */
static void test_reuse(void)
{
	enum { SIZE = 3 * 4096, MANY = 100, PER_CHUNK = (512 - 4) / 16 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *many[MANY];
	long fresh = 0, gone = 0;

	for (int i = 0; i < MANY; i++) {
		many[i] = pagealloc_malloc(SIZE);
		CHECK(many[i] != NULL);
		if (!many[i])
			return;
		CHECK_INT((uintptr_t)many[i] & (page - 1), 16);
		fresh += resident_pages(many[i], SIZE) == 1;
	}
	/* All but the few test_sizes freed in this length (written whole). */
	CHECK(fresh >= MANY - 4);

	memset(many[0], 0xa5, SIZE);
	pagealloc_free(many[0]);
	unsigned char *again = pagealloc_malloc(SIZE);
	CHECK(again == many[0]);
	CHECK_INT(resident_pages(again, SIZE), 4);
	fill(again, SIZE, 3);
	CHECK(same(again, SIZE, 3));
	many[0] = again;
	/* Another length comes from a chunk of its own. */
	unsigned char *other = pagealloc_malloc(SIZE - 4096);
	CHECK(other != NULL);
	for (int i = 0; i < MANY; i++)
		CHECK(other != many[i]);
	pagealloc_free(other);

	for (int i = 0; i < MANY; i++)
		pagealloc_free(many[i]);
	for (int i = 0; i < MANY; i++)
		gone += resident_pages(many[i], SIZE) < 0;
	printf("# %d blocks of %d B freed: %ld of them in chunks unmapped\n", MANY, SIZE, gone);
	CHECK(gone >= MANY - PER_CHUNK);
	CHECK(gone < MANY);

	/* And all of them can be allocated again. */
	for (int i = 0; i < MANY; i++) {
		many[i] = pagealloc_malloc(SIZE);
		CHECK(many[i] != NULL);
		if (many[i])
			fill(many[i], SIZE, (unsigned)i);
	}
	for (int i = 0; i < MANY; i++) {
		CHECK(many[i] && same(many[i], SIZE, (unsigned)i));
		pagealloc_free(many[i]);
	}
}

int main(void)
{
	test_sizes();
	test_realloc();
	test_lazy();
	test_reuse();
	return check_done();
}
