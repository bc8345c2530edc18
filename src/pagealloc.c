#include "iron/pagealloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Every block starts with this header, so free() knows where the block
 * came from without guessing from its address. 16 bytes keep malloc's
 * alignment for the caller. */
struct header {
	size_t size;   /* the caller's size */
	size_t mapped; /* bytes mapped, 0 for a malloc block */
};

_Static_assert(sizeof(struct header) == 16, "the header keeps 16-byte alignment");

static struct header *header_of(void *ptr)
{
	return (struct header *)((unsigned char *)ptr - sizeof(struct header));
}

static size_t page_size(void)
{
	static size_t cached;
	if (!cached) {
		long n = sysconf(_SC_PAGESIZE);
		cached = n > 0 ? (size_t)n : 4096;
	}
	return cached;
}

/* Mappings freed recently, kept for the next allocation of the same
 * length: a handshake in ngtcp2 0.12.1 maps eight blocks (4-8 KB) that
 * live only until the handshake keys are discarded, and mapping and
 * unmapping them took ~15 % of a busy server's CPU (perf, 2000
 * handshakes). A kept mapping has only its first page resident (its tail
 * is given back with MADV_DONTNEED, one system call instead of munmap and
 * mmap), so a block taken from here costs the same resident memory as a
 * fresh one: the first page, which ngtcp2 writes at once, plus what is
 * written. At most CACHE_SLOTS mappings of at most CACHE_MAX_LEN bytes
 * wait here. Per thread (iron has one), so no lock. */
enum { CACHE_SLOTS = 32, CACHE_MAX_LEN = 64 * 1024 };

static _Thread_local struct {
	struct header *map[CACHE_SLOTS];
	unsigned count;
} cache;

static struct header *cache_take(size_t len)
{
	for (unsigned i = cache.count; i-- > 0;) {
		struct header *h = cache.map[i];
		if (h->mapped == len) {
			cache.map[i] = cache.map[--cache.count];
			return h;
		}
	}
	return NULL;
}

static bool cache_put(struct header *h)
{
	size_t page = page_size();
	if (cache.count == CACHE_SLOTS || h->mapped > CACHE_MAX_LEN)
		return false;
	if (h->mapped > page &&
	    madvise((unsigned char *)h + page, h->mapped - page, MADV_DONTNEED) != 0)
		return false;
	cache.map[cache.count++] = h;
	return true;
}

/* zero: whether the caller needs zeroed memory (a fresh mapping is). */
static void *allocate(size_t size, bool zero)
{
	struct header *h = NULL;
	if (size == 0 || size > SIZE_MAX - sizeof(*h) - page_size())
		return NULL;
	size_t total = size + sizeof(*h);
	/* Zeroed blocks stay on the heap: in ngtcp2 0.12.1 the only one of
	 * this size is the connection itself (8.2 KB), written across all
	 * its pages, which mapped would cost three whole pages. */
	if (size >= PAGEALLOC_THRESHOLD && !zero) {
		size_t len = (total + page_size() - 1) & ~(page_size() - 1);
		h = cache_take(len);
		if (!h) {
			void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p != MAP_FAILED) {
				h = p;
				h->mapped = len;
			}
		}
	}
	if (!h) {
		h = zero ? calloc(1, total) : malloc(total);
		if (!h)
			return NULL;
		h->mapped = 0;
	}
	h->size = size;
	return h + 1;
}

void *pagealloc_malloc(size_t size)
{
	return allocate(size, false);
}

void *pagealloc_calloc(size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	return allocate(nmemb * size, true);
}

void pagealloc_free(void *ptr)
{
	if (!ptr)
		return;
	struct header *h = header_of(ptr);
	if (h->mapped) {
		if (!cache_put(h))
			munmap(h, h->mapped);
	} else
		free(h);
}

void *pagealloc_realloc(void *ptr, size_t size)
{
	if (!ptr)
		return allocate(size, false);
	if (size == 0) {
		pagealloc_free(ptr);
		return NULL;
	}
	struct header *h = header_of(ptr);
	/* Within the same kind of block, the block may grow in place. */
	if (!h->mapped && size < PAGEALLOC_THRESHOLD) {
		struct header *n = realloc(h, size + sizeof(*h));
		if (!n)
			return NULL;
		n->size = size;
		return n + 1;
	}
	if (h->mapped && size + sizeof(*h) <= h->mapped && size >= PAGEALLOC_THRESHOLD) {
		h->size = size;
		return ptr;
	}
	void *p = allocate(size, false);
	if (!p)
		return NULL;
	memcpy(p, ptr, h->size < size ? h->size : size);
	pagealloc_free(ptr);
	return p;
}
