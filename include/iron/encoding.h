/* Text encodings of binary values: hex, RFC 4648 base32 (lowercase,
 * unpadded), base32hex (alphabet 0-9a-v, for iroh's SNI), z-base-32 (DNS
 * discovery names) and base64 (key export).
 *
 * Encoders write a NUL-terminated string and return 0, or -ENOSPC when the
 * output buffer is too small. Decoders take a NUL-terminated string that
 * must decode to exactly out_len bytes and return 0, or -EINVAL (the output
 * is then unspecified). Hex and base64, used for secret keys, run in
 * constant time with respect to the data (libsodium). */
#ifndef IRON_ENCODING_H
#define IRON_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed (without the NUL) to encode len bytes. */
#define ENCODING_HEX_LEN(len)	 ((len)*2)
#define ENCODING_BASE32_LEN(len) (((len)*8 + 4) / 5)
#define ENCODING_BASE64_LEN(len) ((((len) + 2) / 3) * 4)

int encoding_hex_encode(const uint8_t *in, size_t len, char *out, size_t out_cap);
/* Accepts either case. */
int encoding_hex_decode(const char *in, uint8_t *out, size_t out_len);

int encoding_base32_encode(const uint8_t *in, size_t len, char *out, size_t out_cap);
/* Accepts either case; rejects '=' padding, other characters, a wrong
 * length and non-zero unused trailing bits. */
int encoding_base32_decode(const char *in, uint8_t *out, size_t out_len);

int encoding_base32hex_encode(const uint8_t *in, size_t len, char *out, size_t out_cap);
int encoding_zbase32_encode(const uint8_t *in, size_t len, char *out, size_t out_cap);
int encoding_zbase32_decode(const char *in, uint8_t *out, size_t out_len);

/* Standard alphabet, with '=' padding. */
int encoding_base64_encode(const uint8_t *in, size_t len, char *out, size_t out_cap);
/* Standard alphabet; padding optional. */
int encoding_base64_decode(const char *in, uint8_t *out, size_t out_len);

#endif
