/* pkarr_verify() on arbitrary bytes, two ways chosen by the first byte:
 * as a signed packet under a fixed key (refused for its length or
 * signature, unless it is the corpus's genuine packet), or as a DNS packet that is signed
 * first: then verify accepts it exactly when pkarr_foreach_rr() finds it
 * well formed, points into it, returns the timestamp, and refuses it once
 * any bit is changed (the bit chosen by the input). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/pkarr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_rr(void *ctx, const char *name, uint16_t type, uint16_t class_, uint32_t ttl,
		  const uint8_t *rdata, size_t rdlen)
{
	(void)ctx, (void)name, (void)type, (void)class_, (void)ttl, (void)rdata, (void)rdlen;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iron_identity identity;
	static int ready;
	uint8_t packet[PKARR_MAX_SIGNED];
	uint64_t ts = 0;
	const uint8_t *dns = NULL;
	size_t dns_len = 0;

	if (!ready) {
		uint8_t seed[IDENTITY_SEED_LEN];
		memset(seed, 1, sizeof(seed));
		identity_from_seed(seed, &identity);
		ready = 1;
	}
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		int rc = pkarr_verify(&identity.id, data + 1, size - 1, &ts, &dns, &dns_len);
		if (size - 1 < PKARR_HEAD || size - 1 > PKARR_MAX_SIGNED) {
			if (rc != -EMSGSIZE)
				abort();
		} else if (rc == 0) {
			/* Only the corpus's genuine packet gets here. */
			if (dns != data + 1 + PKARR_HEAD || dns_len != size - 1 - PKARR_HEAD ||
			    pkarr_foreach_rr(dns, dns_len, on_rr, NULL) != 0)
				abort();
		} else if (rc != -EKEYREJECTED && rc != -EBADMSG) {
			abort();
		}
		return 0;
	}
	size_t len = size - 1;
	if (len > PKARR_MAX_DNS)
		return 0;
	uint64_t want_ts = 0;
	for (size_t i = 1; i < 9 && i < size; i++)
		want_ts = want_ts << 8 | data[i];
	int n = pkarr_sign(&identity, want_ts, data + 1, len, packet, sizeof(packet));
	if (n != (int)(PKARR_HEAD + len))
		abort();
	int rc = pkarr_verify(&identity.id, packet, (size_t)n, &ts, &dns, &dns_len);
	int walked = pkarr_foreach_rr(data + 1, len, on_rr, NULL);
	if (walked == 0) {
		if (rc != 0 || ts != want_ts || dns != packet + PKARR_HEAD || dns_len != len ||
		    memcmp(dns, data + 1, len) != 0)
			abort();
	} else if (rc != -EBADMSG) {
		abort();
	}
	size_t bit = (size_t)data[0] * 131 % ((size_t)n * 8);
	packet[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	if (pkarr_verify(&identity.id, packet, (size_t)n, &ts, &dns, &dns_len) != -EKEYREJECTED)
		abort();
	return 0;
}
