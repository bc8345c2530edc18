/* pkarr_parse_txt() on arbitrary strings (a TXT record's joined
 * character-strings). A refused string leaves the record untouched; a
 * taken one adds exactly a relay or one address with the TTL given, which
 * written back as iron publishes it ("relay=" with the URL as kept, "addr="
 * with the address formatted) is taken again to the same value, and the
 * record encodes to a DNS packet that parses back to it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/pkarr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iron_identity identity;
	static int ready;
	struct pkarr_record rec, again, back;
	char text[PKARR_URL_MAX + 16];
	uint8_t dns[PKARR_MAX_DNS];

	if (!ready) {
		uint8_t seed[IDENTITY_SEED_LEN];
		memset(seed, 1, sizeof(seed));
		identity_from_seed(seed, &identity);
		ready = 1;
	}
	uint32_t ttl = size ? data[0] : 0;
	memset(&rec, 0, sizeof(rec));
	int rc = pkarr_parse_txt((const char *)data, size, ttl, &rec);
	if (rc != 0) {
		if (rc != -EINVAL || rec.naddrs || rec.relay[0] || rec.ttl)
			abort();
		return 0;
	}
	if ((rec.naddrs == 1) == (rec.relay[0] != '\0') || rec.ttl != ttl)
		abort();
	if (rec.relay[0]) {
		snprintf(text, sizeof(text), "relay=%s", rec.relay);
	} else {
		char addr[NETADDR_STR_SIZE];
		snprintf(text, sizeof(text), "addr=%s",
			 netaddr_format(&rec.addrs[0].sa, addr, sizeof(addr)));
	}
	memset(&again, 0, sizeof(again));
	if (pkarr_parse_txt(text, strlen(text), ttl, &again) != 0 ||
	    strcmp(again.relay, rec.relay) != 0 || again.naddrs != rec.naddrs ||
	    (rec.naddrs && !netaddr_equal(&again.addrs[0].sa, &rec.addrs[0].sa)))
		abort();
	int n = pkarr_encode_dns(&identity.id, &rec, dns, sizeof(dns));
	if (n < 12 || pkarr_parse_dns(&identity.id, dns, (size_t)n, &back) != 0 ||
	    strcmp(back.relay, rec.relay) != 0 || back.naddrs != rec.naddrs ||
	    (rec.naddrs && !netaddr_equal(&back.addrs[0].sa, &rec.addrs[0].sa)) ||
	    back.ttl != (ttl ? ttl : PKARR_TTL))
		abort();
	return 0;
}
