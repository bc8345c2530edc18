/* http_chunked_decode() on arbitrary bytes: decoding all at once and in two
 * pieces (split where the input says) gives the same data, end and error;
 * the bytes used never exceed the input, and fewer only at the end; a
 * body decoded to its end, coded again as one chunk, decodes to the same
 * data. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/http_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
	ssize_t rc;
	size_t len, used;
	bool done;
};

static struct outcome decode(const uint8_t *in, size_t len, size_t split, uint8_t *out)
{
	struct http_chunked c;
	struct outcome o = {0, 0, 0, false};
	size_t at = 0;
	http_chunked_init(&c);
	while (at < len && !c.done) {
		size_t piece = at < split ? split - at : len - at, used = 0;
		ssize_t n = http_chunked_decode(&c, in + at, piece, out + o.len, &used);
		if (n < 0) {
			o.rc = n;
			if (n != -EBADMSG)
				abort();
			return o;
		}
		if (used > piece || (used < piece && !c.done) || (size_t)n > used)
			abort();
		o.len += (size_t)n;
		at += used;
	}
	o.used = at;
	o.done = c.done;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *a = malloc(size + 1), *b = malloc(size + 1);
	if (!a || !b)
		abort();
	size_t split = size ? (size_t)data[0] * 7 % (size + 1) : 0;
	struct outcome whole = decode(data, size, size, a);
	struct outcome parts = decode(data, size, split, b);
	if (whole.rc != parts.rc ||
	    (whole.rc == 0 && (whole.len != parts.len || whole.done != parts.done ||
			       whole.used != parts.used || memcmp(a, b, whole.len) != 0)))
		abort();
	if (whole.rc == 0 && whole.done) {
		size_t cap = whole.len + 32;
		uint8_t *coded = malloc(cap), *again = malloc(cap);
		if (!coded || !again)
			abort();
		int head = snprintf((char *)coded, cap, "%zx\r\n", whole.len);
		memcpy(coded + head, a, whole.len);
		size_t n = (size_t)head + whole.len;
		memcpy(coded + n, "\r\n0\r\n\r\n", 7);
		n += 7;
		if (whole.len == 0)
			n = (size_t)snprintf((char *)coded, cap, "0\r\n\r\n");
		struct outcome back = decode(coded, n, n / 2, again);
		if (back.rc != 0 || !back.done || back.len != whole.len || back.used != n ||
		    memcmp(again, a, whole.len) != 0)
			abort();
		free(coded);
		free(again);
	}
	free(a);
	free(b);
	return 0;
}
