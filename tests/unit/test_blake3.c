/* BLAKE3: the official test vectors in all three modes with extended
 * output, fed at once and in awkward pieces; final() leaves the hasher
 * usable; the one-call helpers. */
#include <stdlib.h>

#include "check.h"
#include "iron/blake3.h"
#include "iron/encoding.h"

#include "blake3_vectors.h"

#define VECTOR_OUT_LEN	     131
#define VECTOR_KEY	     "whats the Elvish word for friend"
#define VECTOR_CONTEXT	     "BLAKE3 2019-12-27 16:29:52 test vectors context"
#define RELAY_CONTEXT_VECTOR "b7b16e505d2cb5dbaf494800092c3b05a6c45d8d3fd4f1b888c6a77240b876c0"

enum mode { MODE_HASH, MODE_KEYED, MODE_DERIVE };

static void init_mode(struct blake3 *h, enum mode mode)
{
	if (mode == MODE_HASH)
		blake3_init(h);
	else if (mode == MODE_KEYED)
		blake3_init_keyed(h, (const uint8_t *)VECTOR_KEY);
	else
		blake3_init_derive_key(h, VECTOR_CONTEXT);
}

/* Feeds input in pieces of step bytes (0: all at once). */
static void digest(enum mode mode, const uint8_t *input, size_t len, size_t step, uint8_t *out,
		   size_t out_len)
{
	struct blake3 h;
	init_mode(&h, mode);
	if (step == 0) {
		blake3_update(&h, input, len);
	} else {
		for (size_t off = 0; off < len; off += step)
			blake3_update(&h, input + off, len - off < step ? len - off : step);
	}
	blake3_final(&h, out, out_len);
}

static void check_hex(const uint8_t *got, size_t len, const char *want_hex, size_t input_len,
		      const char *what)
{
	char hex[2 * VECTOR_OUT_LEN + 1];
	encoding_hex_encode(got, len, hex, sizeof(hex));
	int ok = strncmp(hex, want_hex, 2 * len) == 0;
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "    %s, input %zu bytes, %zu out:\n    got  %s\n    want %.*s\n",
			what, input_len, len, hex, (int)(2 * len), want_hex);
}

static void test_vectors(void)
{
	static uint8_t input[102400];
	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (uint8_t)(i % 251);
	static const size_t steps[] = {0, 1, 63, 64, 65, 1000, 1024, 4097};
	for (size_t v = 0; v < sizeof(blake3_vectors) / sizeof(blake3_vectors[0]); v++) {
		const struct blake3_vector *vec = &blake3_vectors[v];
		const char *want[3] = {vec->hash, vec->keyed_hash, vec->derive_key};
		static const char *const names[3] = {"hash", "keyed_hash", "derive_key"};
		CHECK(vec->input_len <= sizeof(input));
		for (int mode = MODE_HASH; mode <= MODE_DERIVE; mode++) {
			for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
				/* Byte-at-a-time on the big inputs adds time, not coverage. */
				if (steps[s] == 1 && vec->input_len > 9000)
					continue;
				uint8_t out[VECTOR_OUT_LEN];
				digest((enum mode)mode, input, vec->input_len, steps[s], out,
				       sizeof(out));
				check_hex(out, sizeof(out), want[mode], vec->input_len,
					  names[mode]);
			}
			/* Shorter outputs are prefixes; default length too. */
			static const size_t lens[] = {1, 31, 32, 33, 64, 65};
			for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
				uint8_t out[VECTOR_OUT_LEN];
				digest((enum mode)mode, input, vec->input_len, 0, out, lens[l]);
				check_hex(out, lens[l], want[mode], vec->input_len, names[mode]);
			}
		}
		uint8_t out[BLAKE3_OUT_LEN];
		blake3_hash(input, vec->input_len, out);
		check_hex(out, sizeof(out), vec->hash, vec->input_len, "blake3_hash");
		blake3_derive_key(VECTOR_CONTEXT, input, vec->input_len, out, sizeof(out));
		check_hex(out, sizeof(out), vec->derive_key, vec->input_len, "blake3_derive_key");
	}
}

/* final() does not disturb the hasher: more input continues the stream. */
static void test_final_is_const(void)
{
	static uint8_t input[3073];
	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (uint8_t)(i % 251);
	const struct blake3_vector *v1024 = NULL, *v3073 = NULL;
	for (size_t v = 0; v < sizeof(blake3_vectors) / sizeof(blake3_vectors[0]); v++) {
		if (blake3_vectors[v].input_len == 1024)
			v1024 = &blake3_vectors[v];
		if (blake3_vectors[v].input_len == 3073)
			v3073 = &blake3_vectors[v];
	}
	CHECK(v1024 && v3073);
	if (!v1024 || !v3073)
		return;
	struct blake3 h;
	uint8_t out[VECTOR_OUT_LEN];
	blake3_init(&h);
	blake3_update(&h, input, 1024);
	blake3_final(&h, out, sizeof(out));
	check_hex(out, sizeof(out), v1024->hash, 1024, "final at 1024");
	blake3_final(&h, out, sizeof(out));
	check_hex(out, sizeof(out), v1024->hash, 1024, "final again at 1024");
	blake3_update(&h, input + 1024, sizeof(input) - 1024);
	blake3_final(&h, out, sizeof(out));
	check_hex(out, sizeof(out), v3073->hash, 3073, "final at 3073 after a final");
}

/* A long output: every 64-byte block of output has its own counter; the
 * output of length n is a prefix of the output of length m > n. */
static void test_long_output(void)
{
	enum { LONG = 64 * 20 + 7 };
	uint8_t *a = malloc(LONG), *b = malloc(LONG);
	CHECK(a && b);
	if (!a || !b)
		goto out;
	struct blake3 h;
	blake3_init_derive_key(&h, "iron test context");
	blake3_update(&h, "material", 8);
	blake3_final(&h, a, LONG);
	for (size_t n = 0; n <= LONG; n += 61) {
		memset(b, 0xa5, LONG);
		blake3_final(&h, b, n);
		CHECK(memcmp(a, b, n) == 0);
		CHECK(n == LONG || b[n] == 0xa5);
	}
	/* Blocks differ from each other (the counter is in each). */
	CHECK(memcmp(a, a + 64, 64) != 0);
out:
	free(a);
	free(b);
}

/* iroh-relay's challenge message: derive_key of a 16-byte challenge, as
 * b3sum 1.2.0 computes it: printf '\x00..\x0f' | b3sum --derive-key CTX. */
static void test_relay_context(void)
{
	uint8_t challenge[16], out[32];
	for (int i = 0; i < 16; i++)
		challenge[i] = (uint8_t)i;
	blake3_derive_key("iroh-relay handshake v1 challenge signature", challenge,
			  sizeof(challenge), out, sizeof(out));
	check_hex(out, sizeof(out), RELAY_CONTEXT_VECTOR, 16, "relay challenge");
}

int main(void)
{
	test_vectors();
	test_final_is_const();
	test_long_output();
	test_relay_context();
	return check_done();
}
