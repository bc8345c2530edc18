/* punch_parse() on arbitrary bytes. What it accepts encodes again
 * (punch_encode(), punch_append_observed()) into a message that parses to
 * the same candidates and observed address. */
#include <errno.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/punch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct punch_candidate c[PUNCH_MAX_CANDIDATES], again[PUNCH_MAX_CANDIDATES];
	uint8_t buf[3 + PUNCH_MAX_CANDIDATES * 20 + 20];
	struct netaddr seen, seen_again;
	int n = punch_parse(data, size, c, PUNCH_MAX_CANDIDATES, &seen);
	if (n < 0) {
		if (n != -EBADMSG)
			abort();
		return 0;
	}
	if (n > PUNCH_MAX_CANDIDATES)
		abort();
	int len = punch_encode(c, (size_t)n, buf, sizeof(buf));
	if (len >= 0 && seen.sa.sa_family != AF_UNSPEC)
		len = punch_append_observed(buf, (size_t)len, sizeof(buf), &seen.sa);
	if (len < 0 || (size_t)len > sizeof(buf))
		abort();
	if (punch_parse(buf, (size_t)len, again, PUNCH_MAX_CANDIDATES, &seen_again) != n)
		abort();
	if (seen.sa.sa_family != seen_again.sa.sa_family ||
	    (seen.sa.sa_family != AF_UNSPEC && !netaddr_equal(&seen.sa, &seen_again.sa)))
		abort();
	for (int i = 0; i < n; i++)
		if (again[i].kind != c[i].kind || !netaddr_equal(&again[i].addr.sa, &c[i].addr.sa))
			abort();
	return 0;
}
