/* idcollide: makes node IDs that take another node's overlay address, for
 * the registry-poisoning tests (issue 15, item 5). An address holds only
 * the last 8 bytes of an ID, and any curve point is an ID, so changing the
 * first bytes until the result is a point gives, in microseconds, an ID
 * that the DNS answers with the victim's address. Prints COUNT such IDs
 * (default 1) in base32, one per line.
 *
 * usage: idcollide ID [COUNT] */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/addr.h"
#include "iron/id.h"

int main(int argc, char **argv)
{
	struct iron_id victim, forged;
	struct in6_addr a, b;
	char b32[IRON_ID_BASE32_LEN + 1];
	unsigned long count = 1, made = 0;

	if (argc < 2 || argc > 3 || sodium_init() < 0 || id_parse(argv[1], &victim, NULL) != 0) {
		fprintf(stderr, "usage: idcollide ID [COUNT]\n");
		return 2;
	}
	if (argc == 3)
		count = strtoul(argv[2], NULL, 10);
	addr_from_id(&victim, &a);
	while (made < count) {
		forged = victim;
		randombytes_buf(forged.bytes, 24);
		if (!id_is_valid(&forged) || id_equal(&forged, &victim))
			continue;
		addr_from_id(&forged, &b);
		if (memcmp(&a, &b, sizeof(a)) != 0)
			return 1; /* the address is not the last 8 bytes any more */
		id_to_base32(&forged, b32);
		printf("%s\n", b32);
		made++;
	}
	return 0;
}
