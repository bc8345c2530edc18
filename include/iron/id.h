/* Node IDs: the 32-byte Ed25519 public key of a node, and its text forms
 * (SPEC section 2). */
#ifndef IRON_ID_H
#define IRON_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IRON_ID_LEN	   32
#define IRON_ID_HEX_LEN	   64
#define IRON_ID_BASE32_LEN 52
/* "<52 chars>.iron" plus NUL. */
#define IRON_ID_DOMAIN_SIZE (IRON_ID_BASE32_LEN + 6)
/* The longest text id_parse() accepts (hex), without the NUL: the size a
 * buffer needs to hold any form of a node ID cut out of a longer text. */
#define IRON_ID_TEXT_MAX IRON_ID_HEX_LEN

struct iron_id {
	uint8_t bytes[IRON_ID_LEN];
};

/* The form a text ID was given in. */
enum id_form { ID_FORM_HEX, ID_FORM_BASE32, ID_FORM_DOMAIN };

/* True when the bytes are a valid Ed25519 public key. */
bool id_is_valid(const struct iron_id *id);

/* Parses a node ID given as a domain ("<base32>.iron", optional trailing
 * dot, "iron" in any case), as base32 (52 chars, any case) or as hex (64
 * digits, any case), tried in that order. Stores the form in *form when form
 * is not NULL. Returns 0, or -EINVAL when the text is none of these forms or
 * not a valid Ed25519 key. */
int id_parse(const char *text, struct iron_id *id, enum id_form *form);

/* Parses only the domain form; len bytes of name (need not be
 * NUL-terminated). Returns 0 or -EINVAL. */
int id_parse_domain(const char *name, size_t len, struct iron_id *id);

/* Formatting; out must hold IRON_ID_HEX_LEN+1, IRON_ID_BASE32_LEN+1 and
 * IRON_ID_DOMAIN_SIZE bytes respectively. */
void id_to_hex(const struct iron_id *id, char *out);
void id_to_base32(const struct iron_id *id, char *out);
void id_to_domain(const struct iron_id *id, char *out);

/* Constant-time equality. */
bool id_equal(const struct iron_id *a, const struct iron_id *b);

#endif
