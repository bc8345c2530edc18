/* The secret key text decoder of `iron key import`
 * (identity_seed_from_text: hex, base64 with or without padding, raw 32
 * bytes) on bytes that are not NUL-terminated, and the base64 and hex
 * decoders beneath it. An accepted text must be what the encoders write
 * for the decoded bytes (no second spelling of one key). */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/encoding.h"
#include "iron/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TEXT 256

static void require(int ok)
{
	if (!ok)
		abort();
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int lower_equal(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

static void check_seed_text(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	uint8_t seed[IDENTITY_SEED_LEN];
	char hex[ENCODING_HEX_LEN(IDENTITY_SEED_LEN) + 1], b64[ENCODING_BASE64_LEN(32) + 1];
	size_t start = 0, end = size;

	if (!copy)
		return;
	memcpy(copy, data, size);
	if (identity_seed_from_text(copy, size, seed) == 0) {
		while (start < end && is_space(copy[start]))
			start++;
		while (end > start && is_space(copy[end - 1]))
			end--;
		encoding_hex_encode(seed, sizeof(seed), hex, sizeof(hex));
		encoding_base64_encode(seed, sizeof(seed), b64, sizeof(b64));
		if (size == IDENTITY_SEED_LEN && memcmp(copy, seed, IDENTITY_SEED_LEN) == 0)
			; /* a raw key file */
		else if (end - start == 64)
			require(lower_equal(copy + start, hex, 64));
		else if (end - start == 44)
			require(memcmp(copy + start, b64, 44) == 0);
		else
			require(end - start == 43 && memcmp(copy + start, b64, 43) == 0);
	}
	sodium_memzero(seed, sizeof(seed));
	free(copy);
}

static void check_base64(const char *text, size_t len)
{
	uint8_t bytes[MAX_TEXT];
	char out[2 * MAX_TEXT + 4];

	for (size_t n = 0; n <= len && n < sizeof(bytes); n++) {
		if (encoding_base64_decode(text, bytes, n) != 0)
			continue;
		require(encoding_base64_encode(bytes, n, out, sizeof(out)) == 0);
		/* The input may leave out the padding. */
		require(strncmp(out, text, len) == 0);
		for (size_t i = len; out[i]; i++)
			require(out[i] == '=');
		require(strlen(out) - len <= 2);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char text[MAX_TEXT + 1];

	if (!ready) {
		require(sodium_init() >= 0);
		ready = 1;
	}
	check_seed_text(data, size);
	if (size > MAX_TEXT)
		size = MAX_TEXT;
	memcpy(text, data, size);
	text[size] = '\0';
	check_base64(text, strlen(text));
	return 0;
}
