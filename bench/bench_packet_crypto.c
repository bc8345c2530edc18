/* bench_packet_crypto: what QUIC packet protection costs on this machine,
 * through the same calls ngtcp2 makes for every 1-RTT packet iron sends
 * and receives: ngtcp2_crypto_encrypt and ngtcp2_crypto_decrypt
 * (AES-128-GCM in GnuTLS, the cipher suite iron's QUIC connections use)
 * and ngtcp2_crypto_hp_mask (AES-128 header protection).
 *
 * Usage: bench_packet_crypto [SECONDS]
 * Prints one JSON object: for each payload size, nanoseconds of CPU per
 * packet to seal, to open and to compute a header-protection mask, and
 * the CPU seconds per GB of payload that a tunnel spends on it (each byte
 * is sealed once by the sender and opened once by the receiver, each
 * packet masked once on each side). CPU time, not wall time, so other
 * load on a shared machine does not count.
 *
 * GnuTLS picks its AES code when it loads: GNUTLS_CPUID_OVERRIDE=0x1 in
 * the environment turns off its own AES-NI/PCLMUL/AVX code (GnuTLS
 * manual, "Environment variables"), which shows what that code is
 * worth here. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KEY_LEN = 16, NONCE_LEN = 12, TAG_LEN = 16, SAMPLE_LEN = 16, AAD_LEN = 13, MAX_LEN = 1500 };

static double cpu_seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_packet_crypto: %s failed\n", what);
	exit(1);
}

struct keys {
	ngtcp2_crypto_aead aead;
	ngtcp2_crypto_aead_ctx seal, open;
	ngtcp2_crypto_cipher hp;
	ngtcp2_crypto_cipher_ctx hp_ctx;
};

static void keys_init(struct keys *k)
{
	static const uint8_t key[KEY_LEN] = {0x1b, 0x2c, 0x3d, 0x4e, 0x5f};
	gnutls_datum_t datum = {(unsigned char *)key, KEY_LEN};
	gnutls_cipher_hd_t hd;

	memset(k, 0, sizeof(*k));
	k->aead.native_handle = (void *)(intptr_t)GNUTLS_CIPHER_AES_128_GCM;
	k->aead.max_overhead = TAG_LEN;
	if (ngtcp2_crypto_aead_ctx_encrypt_init(&k->seal, &k->aead, key, NONCE_LEN) != 0)
		die("encrypt init");
	if (ngtcp2_crypto_aead_ctx_decrypt_init(&k->open, &k->aead, key, NONCE_LEN) != 0)
		die("decrypt init");
	/* ngtcp2's GnuTLS backend masks with one AES-128-CBC block and a zero
	 * IV (ECB by another name); its context is a plain cipher handle. */
	k->hp.native_handle = (void *)(intptr_t)GNUTLS_CIPHER_AES_128_CBC;
	if (gnutls_cipher_init(&hd, GNUTLS_CIPHER_AES_128_CBC, &datum, NULL) != 0)
		die("header protection init");
	k->hp_ctx.native_handle = hd;
}

static void keys_free(struct keys *k)
{
	ngtcp2_crypto_aead_ctx_free(&k->seal);
	ngtcp2_crypto_aead_ctx_free(&k->open);
	gnutls_cipher_deinit(k->hp_ctx.native_handle);
}

struct result {
	double seal_ns, open_ns, mask_ns;
};

/* Runs each operation for about `seconds` of CPU time on packets of
 * `len` payload bytes. */
static struct result measure(struct keys *k, size_t len, double seconds)
{
	static uint8_t plain[MAX_LEN], sealed[MAX_LEN + TAG_LEN], opened[MAX_LEN];
	uint8_t nonce[NONCE_LEN] = {0}, aad[AAD_LEN] = {0x40}, mask[SAMPLE_LEN];
	struct result r;
	unsigned long n;
	double start;

	for (size_t i = 0; i < len; i++)
		plain[i] = (uint8_t)(i * 7);
	/* Seal: a fresh nonce each packet, as the packet number makes it. */
	start = cpu_seconds();
	n = 0;
	do {
		for (int i = 0; i < 1024; i++, n++) {
			memcpy(nonce + NONCE_LEN - sizeof(n), &n, sizeof(n));
			if (ngtcp2_crypto_encrypt(sealed, &k->aead, &k->seal, plain, len, nonce,
						  NONCE_LEN, aad, AAD_LEN) != 0)
				die("encrypt");
		}
	} while (cpu_seconds() - start < seconds);
	r.seal_ns = (cpu_seconds() - start) / (double)n * 1e9;

	/* Open the last packet sealed, over and over: the tag is checked
	 * each time, so every call does the whole work. */
	start = cpu_seconds();
	n = 0;
	do {
		for (int i = 0; i < 1024; i++, n++)
			if (ngtcp2_crypto_decrypt(opened, &k->aead, &k->open, sealed, len + TAG_LEN,
						  nonce, NONCE_LEN, aad, AAD_LEN) != 0)
				die("decrypt");
	} while (cpu_seconds() - start < seconds);
	r.open_ns = (cpu_seconds() - start) / (double)n * 1e9;
	if (memcmp(opened, plain, len) != 0)
		die("round trip");

	start = cpu_seconds();
	n = 0;
	do {
		for (int i = 0; i < 1024; i++, n++) {
			sealed[0] = (uint8_t)n;
			if (ngtcp2_crypto_hp_mask(mask, &k->hp, &k->hp_ctx, sealed) != 0)
				die("header protection");
		}
	} while (cpu_seconds() - start < seconds);
	r.mask_ns = (cpu_seconds() - start) / (double)n * 1e9;
	return r;
}

int main(int argc, char **argv)
{
	/* 1200: QUIC's smallest; 1350 and 1420: iron's datagrams on a 1500
	 * byte path, over IPv6 and IPv4. */
	static const size_t sizes[] = {1200, 1350, 1420};
	double seconds = argc > 1 ? atof(argv[1]) : 0.5;
	const char *override = getenv("GNUTLS_CPUID_OVERRIDE");
	struct keys k;

	if (argc > 2 || !(seconds > 0 && seconds <= 60)) {
		fprintf(stderr, "usage: bench_packet_crypto [SECONDS (0-60, default 0.5)]\n");
		return 2;
	}
	keys_init(&k);
	printf("{\"gnutls\": \"%s\", \"cpuid_override\": %s%s%s, \"sizes\": [",
	       gnutls_check_version(NULL), override ? "\"" : "", override ? override : "null",
	       override ? "\"" : "");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct result r = measure(&k, sizes[i], seconds);
		double per_byte = (r.seal_ns + r.open_ns + 2 * r.mask_ns) / (double)sizes[i];
		printf("%s\n {\"payload\": %zu, \"seal_ns\": %.0f, \"open_ns\": %.0f, "
		       "\"mask_ns\": %.1f, \"seal_gb_per_s\": %.2f, \"tunnel_cpu_s_per_gb\": %.3f}",
		       i ? "," : "", sizes[i], r.seal_ns, r.open_ns, r.mask_ns,
		       (double)sizes[i] / r.seal_ns, per_byte);
	}
	printf("]}\n");
	keys_free(&k);
	return 0;
}
