/* dns_answer() on arbitrary bytes, with UDP and TCP limits and output
 * buffers from too small to roomy; the reply must stay within the buffer
 * and, when sent, be a response to the same ID. */
#include <stdint.h>
#include <stdlib.h>

#include "iron/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = {11, 12, 40, 100, 512, 1232, 4096};
	uint8_t *out = malloc(4096);
	if (!out)
		return 0;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		struct dns_answer_opts opts = {.tcp = i == 6, .has_upstream = i % 2, .max_udp = 0};
		struct dns_answer_info info;
		/* Exact-size heap buffers let AddressSanitizer see overruns. */
		uint8_t *exact = malloc(caps[i]);
		if (!exact)
			break;
		ssize_t n = dns_answer(data, size, exact, caps[i], &opts, &info);
		if (n > (ssize_t)caps[i] ||
		    (n > 0 && (size < 2 || dns_get_id(exact) != dns_get_id(data))))
			abort();
		if (n > 0 && !(exact[2] & 0x80))
			abort();
		free(exact);
		n = dns_error_reply(data, size, DNS_RCODE_SERVFAIL, out, caps[i], &opts);
		if (n > (ssize_t)caps[i])
			abort();
		if (size >= 2)
			(void)dns_reply_matches(out, n > 0 ? (size_t)n : 0, data, size);
	}
	free(out);
	return 0;
}
