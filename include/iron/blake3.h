/* BLAKE3 (the BLAKE3 paper and its reference implementation's portable
 * algorithm), written from the specification: plain hashing, keyed
 * hashing and key derivation, any output length. Relay authentication
 * needs derive_key (iroh-relay signs a BLAKE3 derived key of its
 * challenge); Debian 12 has no C BLAKE3 library. Checked against the
 * official test vectors and against Debian's `b3sum`.
 *
 * Portable C, one block at a time: fast enough for handshakes, not meant
 * for bulk data. */
#ifndef IRON_BLAKE3_H
#define IRON_BLAKE3_H

#include <stddef.h>
#include <stdint.h>

#define BLAKE3_OUT_LEN 32
#define BLAKE3_KEY_LEN 32

/* A hasher on the stack; its fields are private to blake3.c. */
struct blake3 {
	uint32_t key[8];
	uint32_t cv[8];		   /* the current chunk's chaining value */
	uint32_t cv_stack[54 * 8]; /* one per level of the chunk tree */
	uint64_t chunk_counter;
	uint8_t block[64];
	uint8_t block_len;
	uint8_t blocks_compressed;
	uint8_t cv_stack_len;
	uint8_t flags;
};

void blake3_init(struct blake3 *h);
void blake3_init_keyed(struct blake3 *h, const uint8_t key[BLAKE3_KEY_LEN]);
/* context is a NUL-terminated, hard-coded, globally unique string. */
void blake3_init_derive_key(struct blake3 *h, const char *context);
void blake3_update(struct blake3 *h, const void *data, size_t len);
/* Writes out_len bytes of output (any length); h stays usable. */
void blake3_final(const struct blake3 *h, uint8_t *out, size_t out_len);

/* One call each: hash(data), derive_key(context, material). */
void blake3_hash(const void *data, size_t len, uint8_t out[BLAKE3_OUT_LEN]);
void blake3_derive_key(const char *context, const void *material, size_t len, uint8_t *out,
		       size_t out_len);

#endif
