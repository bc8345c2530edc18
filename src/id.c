#include "iron/id.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

#include "iron/encoding.h"

bool id_is_valid(const struct iron_id *id)
{
	/* libsodium's check rejects non-canonical encodings, points off the
	 * curve and small-order points: none of them is a usable identity. */
	return crypto_core_ed25519_is_valid_point(id->bytes) == 1;
}

int id_parse_domain(const char *name, size_t len, struct iron_id *id)
{
	char label[IRON_ID_BASE32_LEN + 1];
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len != IRON_ID_BASE32_LEN + 5 || name[IRON_ID_BASE32_LEN] != '.' ||
	    strncasecmp(name + IRON_ID_BASE32_LEN + 1, "iron", 4) != 0)
		return -EINVAL;
	memcpy(label, name, IRON_ID_BASE32_LEN);
	label[IRON_ID_BASE32_LEN] = '\0';
	if (encoding_base32_decode(label, id->bytes, IRON_ID_LEN) != 0 || !id_is_valid(id))
		return -EINVAL;
	return 0;
}

int id_parse(const char *text, struct iron_id *id, enum id_form *form)
{
	size_t len = strlen(text);
	enum id_form f;
	if (len >= IRON_ID_BASE32_LEN + 5 && len <= IRON_ID_BASE32_LEN + 6) {
		if (id_parse_domain(text, len, id) != 0)
			return -EINVAL;
		f = ID_FORM_DOMAIN;
	} else if (len == IRON_ID_BASE32_LEN) {
		if (encoding_base32_decode(text, id->bytes, IRON_ID_LEN) != 0)
			return -EINVAL;
		f = ID_FORM_BASE32;
	} else if (len == IRON_ID_HEX_LEN) {
		if (encoding_hex_decode(text, id->bytes, IRON_ID_LEN) != 0)
			return -EINVAL;
		f = ID_FORM_HEX;
	} else {
		return -EINVAL;
	}
	if (!id_is_valid(id))
		return -EINVAL;
	if (form)
		*form = f;
	return 0;
}

void id_to_hex(const struct iron_id *id, char *out)
{
	encoding_hex_encode(id->bytes, IRON_ID_LEN, out, IRON_ID_HEX_LEN + 1);
}

void id_to_base32(const struct iron_id *id, char *out)
{
	encoding_base32_encode(id->bytes, IRON_ID_LEN, out, IRON_ID_BASE32_LEN + 1);
}

void id_to_domain(const struct iron_id *id, char *out)
{
	id_to_base32(id, out);
	memcpy(out + IRON_ID_BASE32_LEN, ".iron", 6);
}

/* IDs are public keys: no need for a constant-time comparison (this one is
 * on the path of every packet, in the registry's lookups). */
bool id_equal(const struct iron_id *a, const struct iron_id *b)
{
	return memcmp(a->bytes, b->bytes, IRON_ID_LEN) == 0;
}
