/* punch_parse() on arbitrary bytes. What it accepts encodes again
 * (punch_encode()) into a message that parses to the same candidates. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/punch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct punch_candidate c[PUNCH_MAX_CANDIDATES], again[PUNCH_MAX_CANDIDATES];
	uint8_t buf[3 + PUNCH_MAX_CANDIDATES * 20];
	int n = punch_parse(data, size, c, PUNCH_MAX_CANDIDATES);
	if (n < 0) {
		if (n != -EBADMSG)
			abort();
		return 0;
	}
	if (n > PUNCH_MAX_CANDIDATES)
		abort();
	int len = punch_encode(c, (size_t)n, buf, sizeof(buf));
	if (len < 0 || (size_t)len > sizeof(buf))
		abort();
	if (punch_parse(buf, (size_t)len, again, PUNCH_MAX_CANDIDATES) != n)
		abort();
	for (int i = 0; i < n; i++)
		if (again[i].kind != c[i].kind || !netaddr_equal(&again[i].addr.sa, &c[i].addr.sa))
			abort();
	return 0;
}
