/* pkarr_parse_dns() and pkarr_foreach_rr() on arbitrary bytes, for the key
 * of seed 01 x 32 (the corpus holds its records). A packet parse_dns
 * accepts is walked by foreach_rr too; every name foreach_rr gives is
 * dotted text of printable ASCII, at most 253 bytes; the record read
 * re-encodes, and parses back to the same relay, addresses and TTL. A
 * refused packet leaves the record empty. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/pkarr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_rr(void *ctx, const char *name, uint16_t type, uint16_t class_, uint32_t ttl,
		  const uint8_t *rdata, size_t rdlen)
{
	size_t *count = ctx;
	size_t len = strlen(name);
	(void)type;
	(void)class_;
	(void)ttl;
	if (len > 253 || (rdlen > 0 && !rdata))
		abort();
	for (size_t i = 0; i < len; i++)
		if (name[i] <= 0x20 || name[i] >= 0x7f ||
		    (name[i] == '.' && (i == 0 || i + 1 == len || name[i + 1] == '.')))
			abort();
	(*count)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iron_identity identity;
	static int ready;
	struct pkarr_record rec, back;
	uint8_t dns[PKARR_MAX_DNS];
	size_t count = 0;

	if (!ready) {
		uint8_t seed[IDENTITY_SEED_LEN];
		memset(seed, 1, sizeof(seed));
		identity_from_seed(seed, &identity);
		ready = 1;
	}
	int walked = pkarr_foreach_rr(data, size, on_rr, &count);
	if (walked != 0 && walked != -EBADMSG)
		abort();
	int rc = pkarr_parse_dns(&identity.id, data, size, &rec);
	if (rc != 0) {
		if (rc != -EBADMSG || rec.naddrs || rec.relay[0] || rec.ttl)
			abort();
		return 0;
	}
	if (walked != 0 || rec.naddrs > PKARR_MAX_ADDRS)
		abort();
	bool empty = rec.naddrs == 0 && rec.relay[0] == '\0';
	if (empty && rec.ttl != 0)
		abort();
	int n = pkarr_encode_dns(&identity.id, &rec, dns, sizeof(dns));
	if (n < 12)
		abort();
	if (pkarr_parse_dns(&identity.id, dns, (size_t)n, &back) != 0 ||
	    strcmp(back.relay, rec.relay) != 0 || back.naddrs != rec.naddrs)
		abort();
	for (size_t i = 0; i < rec.naddrs; i++)
		if (!netaddr_equal(&back.addrs[i].sa, &rec.addrs[i].sa))
			abort();
	uint32_t want_ttl = empty ? 0 : rec.ttl ? rec.ttl : PKARR_TTL;
	if (back.ttl != want_ttl)
		abort();
	return 0;
}
