/* Node ID text decoders: id_parse (domain, base32, hex), id_parse_domain
 * on bytes that are not NUL-terminated, and the raw base32, base32hex,
 * z-base-32 and hex decoders. Whatever decodes must re-encode to the same
 * text modulo case (and the domain's optional trailing dot), and every
 * accepted ID must be a valid Ed25519 key. */
#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/encoding.h"
#include "iron/id.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TEXT 256

static void require(int ok)
{
	if (!ok)
		abort();
}

/* strcasecmp without locale, for ASCII encodings. */
static int same_text(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
			return 0;
	return 1;
}

static void check_id_parse(const char *text, size_t len)
{
	struct iron_id id, again;
	enum id_form form;
	char out[IRON_ID_HEX_LEN + 1]; /* the longest form */

	if (id_parse(text, &id, &form) != 0)
		return;
	require(id_is_valid(&id));
	switch (form) {
	case ID_FORM_HEX:
		id_to_hex(&id, out);
		require(len == IRON_ID_HEX_LEN && same_text(out, text, len));
		break;
	case ID_FORM_BASE32:
		id_to_base32(&id, out);
		require(len == IRON_ID_BASE32_LEN && same_text(out, text, len));
		break;
	case ID_FORM_DOMAIN:
		id_to_domain(&id, out);
		require(len == strlen(out) || (len == strlen(out) + 1 && text[len - 1] == '.'));
		require(same_text(out, text, strlen(out)));
		break;
	}
	/* Every canonical form parses back to the same key. */
	id_to_hex(&id, out);
	require(id_parse(out, &again, &form) == 0 && form == ID_FORM_HEX && id_equal(&id, &again));
	id_to_base32(&id, out);
	require(id_parse(out, &again, &form) == 0 && form == ID_FORM_BASE32 &&
		id_equal(&id, &again));
	id_to_domain(&id, out);
	require(id_parse(out, &again, &form) == 0 && form == ID_FORM_DOMAIN &&
		id_equal(&id, &again));
}

static void check_domain_bytes(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy: reading one byte past it is caught by
	 * AddressSanitizer. */
	char *copy = malloc(size ? size : 1);
	struct iron_id id;
	char out[IRON_ID_DOMAIN_SIZE];

	if (!copy)
		return;
	memcpy(copy, data, size);
	if (id_parse_domain(copy, size, &id) == 0) {
		require(id_is_valid(&id));
		id_to_domain(&id, out);
		require(size == strlen(out) || (size == strlen(out) + 1 && copy[size - 1] == '.'));
		require(same_text(out, copy, strlen(out)));
	}
	free(copy);
}

typedef int decode_fn(const char *in, uint8_t *out, size_t out_len);
typedef int encode_fn(const uint8_t *in, size_t len, char *out, size_t out_cap);

static void check_codec(const char *text, size_t len, decode_fn *decode, encode_fn *encode)
{
	uint8_t bytes[MAX_TEXT];
	char out[2 * MAX_TEXT + 1];

	/* Each output length whose text length could match. */
	for (size_t n = 0; n <= len && n < sizeof(bytes); n++) {
		if (decode(text, bytes, n) != 0)
			continue;
		require(encode(bytes, n, out, sizeof(out)) == 0);
		require(strlen(out) == len && same_text(out, text, len));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char text[MAX_TEXT + 1];
	size_t len;

	if (!ready) {
		require(sodium_init() >= 0);
		ready = 1;
	}
	check_domain_bytes(data, size);
	if (size > MAX_TEXT)
		size = MAX_TEXT;
	memcpy(text, data, size);
	text[size] = '\0';
	len = strlen(text);
	check_id_parse(text, len);
	check_codec(text, len, encoding_base32_decode, encoding_base32_encode);
	check_codec(text, len, encoding_zbase32_decode, encoding_zbase32_encode);
	check_codec(text, len, encoding_hex_decode, encoding_hex_encode);
	return 0;
}
