#include "iron/pagealloc.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iron/poison.h"
#include "iron/slotblock.h"

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

/* Blocks of up to SLAB_MAX_LEN bytes (ngtcp2's: 8-16 KB with the header)
 * are carved, page-aligned, from chunks of SLAB_CHUNK bytes, one chunk
 * per block length, and a freed block goes back to its chunk's free list
 * as it is. Each block of its own mapping cost an mmap at the start and
 * a munmap (or madvise) at the end, and every munmap flushes the TLB of
 * each CPU the process ran on: when 10 000 peers left at once, munmap and
 * madvise were two thirds of the daemon's CPU (perf, a paravirtualized
 * machine where those flushes are interrupts between CPUs) and an
 * established peer's RTT reached 1.1 s for 4 s. A chunk is unmapped when
 * its last block is freed, but for one empty chunk kept per length; the
 * memory of free blocks in chunks still in use stays resident until a
 * block of that length is allocated again (the peak, not more). A
 * handshake's short-lived blocks are found again in their chunk, their
 * first page already resident.
 *
 * The chunk's first page holds its struct chunk; its blocks follow. The
 * lists are per thread (iron's QUIC runs on one): a block must be freed
 * by the thread that allocated it. */
enum { SLAB_CHUNK = 512 * 1024, SLAB_MAX_LEN = 16 * 1024, SLAB_CLASSES = SLAB_MAX_LEN / 4096 + 1 };

/* header.mapped of a slab block: its length with this bit set (lengths
 * are whole pages). */
#define SLAB_FLAG ((size_t)1)

/* A freed block is linked through its header's first word, size
 * (slotblock.h). */
struct chunk {
	struct slotblock sb; /* first: the lists of chunks with room hold these */
	size_t len;	     /* of each block */
};

/* Per block length (in pages), the chunks with a free block. */
static _Thread_local struct slotblock_list room[SLAB_CLASSES];

static size_t block_len(const struct header *h)
{
	return h->mapped & ~SLAB_FLAG;
}

/* A chunk aligned to SLAB_CHUNK, so that a block finds its chunk by its
 * address, on the list of its length. */
static struct chunk *chunk_new(size_t len, unsigned cls)
{
	size_t page = page_size();
	unsigned char *p =
	    mmap(NULL, 2 * SLAB_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t start = ((uintptr_t)p + SLAB_CHUNK - 1) & ~(uintptr_t)(SLAB_CHUNK - 1);
	size_t head = start - (uintptr_t)p;
	if (head)
		munmap(p, head);
	munmap((unsigned char *)start + SLAB_CHUNK, SLAB_CHUNK - head);
	struct chunk *c = (struct chunk *)start;
	c->len = len;
	slotblock_init(&c->sb, (SLAB_CHUNK - page) / len, &room[cls]);
	return c;
}

static struct header *slab_take(size_t len)
{
	unsigned cls = (unsigned)(len / page_size());
	struct chunk *c = (struct chunk *)LIST_FIRST(&room[cls]);
	if (!c) {
		c = chunk_new(len, cls);
		if (!c)
			return NULL;
	}
	struct header *h = slotblock_take(&c->sb, (unsigned char *)c + page_size(), len);
	h->mapped = len | SLAB_FLAG;
	return h;
}

static void slab_put(struct header *h)
{
	struct chunk *c = (struct chunk *)((uintptr_t)h & ~(uintptr_t)(SLAB_CHUNK - 1));
	POISON(h + 1, c->len - sizeof(*h));
	if (slotblock_put(&c->sb, h, &room[c->len / page_size()])) {
		/* The next mapping here must not find this one's poison. */
		UNPOISON(c, SLAB_CHUNK);
		munmap(c, SLAB_CHUNK);
	}
}

/* Mappings of blocks too long for the slab, freed recently, kept for the
 * next allocation of the same length. A kept mapping has only its first
 * page resident (its tail is given back with MADV_DONTNEED, one system
 * call instead of munmap and mmap). At most CACHE_SLOTS mappings of at
 * most CACHE_MAX_LEN bytes wait here. Per thread, so no lock. */
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
		if (len <= SLAB_MAX_LEN)
			h = slab_take(len);
		else
			h = cache_take(len);
		if (!h && len > SLAB_MAX_LEN) {
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
	if (h->mapped & SLAB_FLAG)
		UNPOISON(h + 1, size);
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
	if (h->mapped & SLAB_FLAG)
		slab_put(h);
	else if (h->mapped) {
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
	if (h->mapped && size + sizeof(*h) <= block_len(h) && size >= PAGEALLOC_THRESHOLD) {
		h->size = size;
		if (h->mapped & SLAB_FLAG)
			UNPOISON(ptr, size);
		return ptr;
	}
	void *p = allocate(size, false);
	if (!p)
		return NULL;
	memcpy(p, ptr, h->size < size ? h->size : size);
	pagealloc_free(ptr);
	return p;
}
