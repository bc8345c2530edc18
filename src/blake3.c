/* BLAKE3, written from the specification (the BLAKE3 paper, section 2,
 * and its portable reference algorithm): one compression at a time, the
 * chunk tree merged lazily on a stack of chaining values. */
#include "iron/blake3.h"

#include <string.h>

#define BLAKE3_BLOCK_LEN 64
#define BLAKE3_CHUNK_LEN 1024

enum {
	FLAG_CHUNK_START = 1 << 0,
	FLAG_CHUNK_END = 1 << 1,
	FLAG_PARENT = 1 << 2,
	FLAG_ROOT = 1 << 3,
	FLAG_KEYED_HASH = 1 << 4,
	FLAG_DERIVE_KEY_CONTEXT = 1 << 5,
	FLAG_DERIVE_KEY_MATERIAL = 1 << 6,
};

static const uint32_t blake3_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

/* Word i of the next round's message is word schedule[i] of this round's. */
static const uint8_t blake3_permutation[16] = {2, 6,  3,  10, 7, 0,  4,	 13,
					       1, 11, 12, 5,  9, 14, 15, 8};

static uint32_t rotr32(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store32(uint8_t *p, uint32_t x)
{
	p[0] = (uint8_t)x;
	p[1] = (uint8_t)(x >> 8);
	p[2] = (uint8_t)(x >> 16);
	p[3] = (uint8_t)(x >> 24);
}

static void mix(uint32_t s[16], int a, int b, int c, int d, uint32_t x, uint32_t y)
{
	s[a] = s[a] + s[b] + x;
	s[d] = rotr32(s[d] ^ s[a], 16);
	s[c] = s[c] + s[d];
	s[b] = rotr32(s[b] ^ s[c], 12);
	s[a] = s[a] + s[b] + y;
	s[d] = rotr32(s[d] ^ s[a], 8);
	s[c] = s[c] + s[d];
	s[b] = rotr32(s[b] ^ s[c], 7);
}

/* The compression function: all 16 output words (the first 8 are the
 * chaining value; all 16 are root output). */
static void compress(const uint32_t cv[8], const uint8_t block[BLAKE3_BLOCK_LEN], uint64_t counter,
		     uint32_t block_len, uint32_t flags, uint32_t out[16])
{
	uint32_t m[16], s[16];
	for (int i = 0; i < 16; i++)
		m[i] = load32(block + 4 * i);
	for (int i = 0; i < 8; i++)
		s[i] = cv[i];
	for (int i = 0; i < 4; i++)
		s[8 + i] = blake3_iv[i];
	s[12] = (uint32_t)counter;
	s[13] = (uint32_t)(counter >> 32);
	s[14] = block_len;
	s[15] = flags;
	for (int round = 0; round < 7; round++) {
		mix(s, 0, 4, 8, 12, m[0], m[1]);
		mix(s, 1, 5, 9, 13, m[2], m[3]);
		mix(s, 2, 6, 10, 14, m[4], m[5]);
		mix(s, 3, 7, 11, 15, m[6], m[7]);
		mix(s, 0, 5, 10, 15, m[8], m[9]);
		mix(s, 1, 6, 11, 12, m[10], m[11]);
		mix(s, 2, 7, 8, 13, m[12], m[13]);
		mix(s, 3, 4, 9, 14, m[14], m[15]);
		if (round < 6) {
			uint32_t next[16];
			for (int i = 0; i < 16; i++)
				next[i] = m[blake3_permutation[i]];
			memcpy(m, next, sizeof(m));
		}
	}
	for (int i = 0; i < 8; i++) {
		out[i] = s[i] ^ s[i + 8];
		out[i + 8] = s[i + 8] ^ cv[i];
	}
}

/* What a node (a chunk's last block or a parent) compresses to: kept
 * unevaluated so the root can be compressed with ROOT and any counter. */
struct blake3_node {
	uint32_t cv[8];
	uint8_t block[BLAKE3_BLOCK_LEN];
	uint64_t counter;
	uint32_t block_len;
	uint32_t flags;
};

static void node_chaining_value(const struct blake3_node *n, uint32_t cv[8])
{
	uint32_t out[16];
	compress(n->cv, n->block, n->counter, n->block_len, n->flags, out);
	memcpy(cv, out, 8 * sizeof(uint32_t));
}

static void parent_node(const uint32_t left[8], const uint32_t right[8], const uint32_t key[8],
			uint32_t flags, struct blake3_node *n)
{
	memcpy(n->cv, key, sizeof(n->cv));
	for (int i = 0; i < 8; i++) {
		store32(n->block + 4 * i, left[i]);
		store32(n->block + 32 + 4 * i, right[i]);
	}
	n->counter = 0;
	n->block_len = BLAKE3_BLOCK_LEN;
	n->flags = flags | FLAG_PARENT;
}

static size_t chunk_len(const struct blake3 *h)
{
	return (size_t)h->blocks_compressed * BLAKE3_BLOCK_LEN + h->block_len;
}

static uint32_t chunk_start_flag(const struct blake3 *h)
{
	return h->blocks_compressed == 0 ? FLAG_CHUNK_START : 0;
}

/* The current chunk's final block, zero-padded. */
static void chunk_node(const struct blake3 *h, struct blake3_node *n)
{
	memcpy(n->cv, h->cv, sizeof(n->cv));
	memset(n->block, 0, sizeof(n->block));
	memcpy(n->block, h->block, h->block_len);
	n->counter = h->chunk_counter;
	n->block_len = h->block_len;
	n->flags = h->flags | chunk_start_flag(h) | FLAG_CHUNK_END;
}

static void init_with(struct blake3 *h, const uint32_t key[8], uint8_t flags)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->key, key, sizeof(h->key));
	memcpy(h->cv, key, sizeof(h->cv));
	h->flags = flags;
}

void blake3_init(struct blake3 *h)
{
	init_with(h, blake3_iv, 0);
}

void blake3_init_keyed(struct blake3 *h, const uint8_t key[BLAKE3_KEY_LEN])
{
	uint32_t words[8];
	for (int i = 0; i < 8; i++)
		words[i] = load32(key + 4 * i);
	init_with(h, words, FLAG_KEYED_HASH);
}

void blake3_init_derive_key(struct blake3 *h, const char *context)
{
	struct blake3 ctx;
	uint8_t context_key[BLAKE3_KEY_LEN];
	init_with(&ctx, blake3_iv, FLAG_DERIVE_KEY_CONTEXT);
	blake3_update(&ctx, context, strlen(context));
	blake3_final(&ctx, context_key, sizeof(context_key));
	uint32_t words[8];
	for (int i = 0; i < 8; i++)
		words[i] = load32(context_key + 4 * i);
	init_with(h, words, FLAG_DERIVE_KEY_MATERIAL);
}

/* A finished chunk's chaining value joins the tree: while the number of
 * chunks so far is even, the top of the stack is its left sibling. */
static void push_chunk(struct blake3 *h, uint32_t cv[8], uint64_t total_chunks)
{
	while ((total_chunks & 1) == 0) {
		struct blake3_node parent;
		h->cv_stack_len--;
		parent_node(h->cv_stack + 8 * h->cv_stack_len, cv, h->key, h->flags, &parent);
		node_chaining_value(&parent, cv);
		total_chunks >>= 1;
	}
	memcpy(h->cv_stack + 8 * h->cv_stack_len, cv, 8 * sizeof(uint32_t));
	h->cv_stack_len++;
}

void blake3_update(struct blake3 *h, const void *data, size_t len)
{
	const uint8_t *in = data;
	while (len > 0) {
		/* A full chunk is closed only once more input shows it is
		 * not the last (the last one may be the root). */
		if (chunk_len(h) == BLAKE3_CHUNK_LEN) {
			struct blake3_node n;
			uint32_t cv[8];
			chunk_node(h, &n);
			node_chaining_value(&n, cv);
			uint64_t total = h->chunk_counter + 1;
			push_chunk(h, cv, total);
			memcpy(h->cv, h->key, sizeof(h->cv));
			h->chunk_counter = total;
			h->block_len = 0;
			h->blocks_compressed = 0;
		}
		/* Likewise a full block is compressed only when more input
		 * follows within the chunk. */
		if (h->block_len == BLAKE3_BLOCK_LEN) {
			uint32_t out[16];
			compress(h->cv, h->block, h->chunk_counter, BLAKE3_BLOCK_LEN,
				 h->flags | chunk_start_flag(h), out);
			memcpy(h->cv, out, sizeof(h->cv));
			h->blocks_compressed++;
			h->block_len = 0;
		}
		size_t take = BLAKE3_BLOCK_LEN - h->block_len;
		if (take > len)
			take = len;
		memcpy(h->block + h->block_len, in, take);
		h->block_len = (uint8_t)(h->block_len + take);
		in += take;
		len -= take;
	}
}

void blake3_final(const struct blake3 *h, uint8_t *out, size_t out_len)
{
	struct blake3_node root;
	chunk_node(h, &root);
	for (size_t i = h->cv_stack_len; i > 0; i--) {
		uint32_t right[8];
		node_chaining_value(&root, right);
		parent_node(h->cv_stack + 8 * (i - 1), right, h->key, h->flags, &root);
	}
	for (uint64_t counter = 0; out_len > 0; counter++) {
		uint32_t words[16];
		uint8_t block[BLAKE3_BLOCK_LEN];
		compress(root.cv, root.block, counter, root.block_len, root.flags | FLAG_ROOT,
			 words);
		for (int i = 0; i < 16; i++)
			store32(block + 4 * i, words[i]);
		size_t take = out_len < sizeof(block) ? out_len : sizeof(block);
		memcpy(out, block, take);
		out += take;
		out_len -= take;
	}
}

void blake3_hash(const void *data, size_t len, uint8_t out[BLAKE3_OUT_LEN])
{
	struct blake3 h;
	blake3_init(&h);
	blake3_update(&h, data, len);
	blake3_final(&h, out, BLAKE3_OUT_LEN);
}

void blake3_derive_key(const char *context, const void *material, size_t len, uint8_t *out,
		       size_t out_len)
{
	struct blake3 h;
	blake3_init_derive_key(&h, context);
	blake3_update(&h, material, len);
	blake3_final(&h, out, out_len);
}
