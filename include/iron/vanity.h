/* Vanity key search: Ed25519 seeds whose node ID, in base32, starts with a
 * chosen prefix. CPU-bound, so it runs on worker threads (the only threads
 * iron has) and never inside the daemon's loop. */
#ifndef IRON_VANITY_H
#define IRON_VANITY_H

#include <stdbool.h>
#include <stdint.h>

#include "iron/identity.h"

/* Longest prefix searched for: 8 characters already need 2^40 attempts. */
#define VANITY_PREFIX_MAX 8
/* Most worker threads accepted. */
#define VANITY_THREADS_MAX 1024

/* A parsed prefix: its lowercase text and the leading bits it fixes. */
struct vanity_prefix {
	char text[VANITY_PREFIX_MAX + 1];
	unsigned len;
	uint64_t bits; /* the prefix's 5*len bits, at the top */
	uint64_t mask; /* ones over those bits */
};

/* Parses a prefix: 1..8 characters of a-z and 2-7, any case (lowercased).
 * Returns 0; -EINVAL when it is empty; -E2BIG when longer than 8; -EILSEQ
 * for a character outside the alphabet, with its index in *bad_index. */
int vanity_prefix_parse(const char *text, struct vanity_prefix *out, unsigned *bad_index);

/* True when the base32 form of public key pk starts with the prefix; looks
 * at the first 8 bytes only. */
bool vanity_prefix_match(const struct vanity_prefix *prefix, const uint8_t pk[32]);

/* Average number of attempts a match takes: 32^len. */
uint64_t vanity_expected_attempts(const struct vanity_prefix *prefix);

/* Called by vanity_search() on the calling thread about 4 times a second
 * with the attempts made so far and the seconds elapsed. */
typedef void vanity_progress_fn(void *ctx, uint64_t attempts, double seconds);

/* Searches with threads workers (1..VANITY_THREADS_MAX) until a match, or
 * until max_attempts keys were tried (0: no limit). On a match fills *out
 * (the caller wipes it). *attempts gets the number of keys tried. progress
 * may be NULL. Returns 0 on a match; -ENOENT when max_attempts ran out;
 * -EINVAL for a bad thread count; -errno when threads cannot start. */
int vanity_search(const struct vanity_prefix *prefix, unsigned threads, uint64_t max_attempts,
		  vanity_progress_fn *progress, void *ctx, struct iron_identity *out,
		  uint64_t *attempts);

#endif
