#include "iron/identity.h"

#include <sodium.h>
#include <string.h>

void identity_from_seed(const uint8_t seed[IDENTITY_SEED_LEN], struct iron_identity *out)
{
	memcpy(out->seed, seed, IDENTITY_SEED_LEN);
	crypto_sign_seed_keypair(out->id.bytes, out->secret, seed);
}

void identity_generate(struct iron_identity *out)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	randombytes_buf(seed, sizeof(seed));
	identity_from_seed(seed, out);
	sodium_memzero(seed, sizeof(seed));
}

void identity_wipe(struct iron_identity *identity)
{
	sodium_memzero(identity, sizeof(*identity));
}

/* TODO(foundation): state directory and key file functions. */
