#include "iron/encoding.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char base32hex_alphabet[] = "0123456789abcdefghijklmnopqrstuv";
static const char zbase32_alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";

int encoding_hex_encode(const uint8_t *in, size_t len, char *out, size_t out_cap)
{
	if (out_cap < ENCODING_HEX_LEN(len) + 1)
		return -ENOSPC;
	sodium_bin2hex(out, out_cap, in, len);
	return 0;
}

int encoding_hex_decode(const char *in, uint8_t *out, size_t out_len)
{
	size_t got = 0;
	const char *end = NULL;
	if (strlen(in) != ENCODING_HEX_LEN(out_len))
		return -EINVAL;
	if (sodium_hex2bin(out, out_len, in, strlen(in), NULL, &got, &end) != 0 || got != out_len ||
	    *end != '\0')
		return -EINVAL;
	return 0;
}

static int base32_encode_with(const char *alphabet, const uint8_t *in, size_t len, char *out,
			      size_t out_cap)
{
	size_t n = 0;
	unsigned bits = 0, acc = 0;
	if (out_cap < ENCODING_BASE32_LEN(len) + 1)
		return -ENOSPC;
	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[n++] = alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[n++] = alphabet[(acc << (5 - bits)) & 31];
	out[n] = '\0';
	return 0;
}

static int base32_value(const char *alphabet, char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (char)(c - 'A' + 'a');
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

static int base32_decode_with(const char *alphabet, const char *in, uint8_t *out, size_t out_len)
{
	size_t n = 0;
	unsigned bits = 0, acc = 0;
	if (strlen(in) != ENCODING_BASE32_LEN(out_len))
		return -EINVAL;
	for (const char *p = in; *p; p++) {
		int v = base32_value(alphabet, *p);
		if (v < 0)
			return -EINVAL;
		acc = ((acc << 5) | (unsigned)v) & 0xfff;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (n != out_len || (acc & ((1u << bits) - 1)) != 0)
		return -EINVAL;
	return 0;
}

int encoding_base32_encode(const uint8_t *in, size_t len, char *out, size_t out_cap)
{
	return base32_encode_with(base32_alphabet, in, len, out, out_cap);
}

int encoding_base32_decode(const char *in, uint8_t *out, size_t out_len)
{
	return base32_decode_with(base32_alphabet, in, out, out_len);
}

int encoding_base32hex_encode(const uint8_t *in, size_t len, char *out, size_t out_cap)
{
	return base32_encode_with(base32hex_alphabet, in, len, out, out_cap);
}

int encoding_zbase32_encode(const uint8_t *in, size_t len, char *out, size_t out_cap)
{
	return base32_encode_with(zbase32_alphabet, in, len, out, out_cap);
}

int encoding_zbase32_decode(const char *in, uint8_t *out, size_t out_len)
{
	return base32_decode_with(zbase32_alphabet, in, out, out_len);
}

int encoding_base64_encode(const uint8_t *in, size_t len, char *out, size_t out_cap)
{
	if (out_cap < ENCODING_BASE64_LEN(len) + 1)
		return -ENOSPC;
	sodium_bin2base64(out, out_cap, in, len, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

int encoding_base64_decode(const char *in, uint8_t *out, size_t out_len)
{
	size_t got = 0, in_len = strlen(in);
	const char *end = NULL;
	int variant = sodium_base64_VARIANT_ORIGINAL;
	unsigned high = 0;
	/* libsodium 1.0.18 decodes a (signed) char >= 0x80 as '/' instead of
	 * stopping at it; refuse such bytes first, without branching on the
	 * data. */
	for (size_t i = 0; i < in_len; i++)
		high |= (unsigned char)in[i];
	if (high & 0x80)
		return -EINVAL;
	if (in_len % 4 != 0)
		variant = sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	if (sodium_base642bin(out, out_len, in, in_len, NULL, &got, &end, variant) != 0 ||
	    got != out_len || *end != '\0')
		return -EINVAL;
	return 0;
}
