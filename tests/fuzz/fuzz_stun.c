/* stun_parse() on arbitrary bytes. A message it accepts has a valid
 * header; its mapped address, written back into a Binding success with its
 * transaction ID (into an exact-size buffer), parses to the same address
 * (canonical form) with a good FINGERPRINT; a changed byte in that response
 * is never accepted with a different address and the same FINGERPRINT. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stun_message m, again;
	int rc = stun_parse(data, size, &m);
	if (rc != 0) {
		if (rc != -EBADMSG || m.has_mapped)
			abort();
		return 0;
	}
	if (size < STUN_HEADER_LEN || size % 4 || (data[0] & 0xc0) ||
	    m.type != (data[0] << 8 | data[1]) || memcmp(m.txid, data + 8, STUN_TXID_LEN) != 0)
		abort();
	if (!m.has_mapped)
		return 0;
	if (m.mapped.sa.sa_family != AF_INET && m.mapped.sa.sa_family != AF_INET6)
		abort();

	struct netaddr want;
	if (netaddr_canonical(&m.mapped.sa, &want) != 0)
		abort();
	size_t len = want.sa.sa_family == AF_INET ? 40 : 52;
	uint8_t *out = malloc(len);
	if (!out)
		return 0;
	if (stun_write_binding_success(out, len, m.txid, &m.mapped.sa) != (ssize_t)len)
		abort();
	if (stun_parse(out, len, &again) != 0 || !again.has_mapped || !again.has_fingerprint ||
	    again.type != STUN_BINDING_SUCCESS || memcmp(again.txid, m.txid, STUN_TXID_LEN) ||
	    !netaddr_equal(&again.mapped.sa, &want.sa))
		abort();
	/* Flip one bit of the address bytes (chosen by the input): the
	 * FINGERPRINT must catch it. */
	size_t at = 20 + 4 + 4 + (size % (len - 36));
	out[at] ^= (uint8_t)(1u << (size % 8));
	if (stun_parse(out, len, &again) != -EBADMSG)
		abort();
	free(out);
	return 0;
}
