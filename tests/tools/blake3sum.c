/* BLAKE3 of standard input with iron's blake3.c, printed in hex, for
 * tests/cli/blake3_b3sum.sh to compare with b3sum:
 *
 *   blake3sum [-l LEN] [--keyed KEY_HEX | --derive-key CONTEXT] < input */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/blake3.h"
#include "iron/encoding.h"

int main(int argc, char **argv)
{
	struct blake3 h;
	size_t out_len = BLAKE3_OUT_LEN;
	const char *key_hex = NULL, *context = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-l") == 0)
			out_len = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--keyed") == 0)
			key_hex = argv[i + 1];
		else if (strcmp(argv[i], "--derive-key") == 0)
			context = argv[i + 1];
		else
			return 2;
	}
	if (key_hex) {
		uint8_t key[BLAKE3_KEY_LEN];
		if (encoding_hex_decode(key_hex, key, sizeof(key)) != 0)
			return 2;
		blake3_init_keyed(&h, key);
	} else if (context) {
		blake3_init_derive_key(&h, context);
	} else {
		blake3_init(&h);
	}
	uint8_t buf[7919]; /* a prime, so reads straddle chunk boundaries */
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		blake3_update(&h, buf, n);
	uint8_t *out = malloc(out_len + 1);
	char *hex = malloc(2 * out_len + 1);
	if (!out || !hex)
		return 1;
	blake3_final(&h, out, out_len);
	encoding_hex_encode(out, out_len, hex, 2 * out_len + 1);
	puts(hex);
	free(hex);
	free(out);
	return 0;
}
