/* http1_parse_response() on arbitrary bytes. A head it accepts lies within
 * the input and HTTP1_MAX_HEAD, ends with a blank line, parses the same
 * alone and with the input cut anywhere before its end (incomplete, never
 * an error); every field points into it and is well formed; "incomplete"
 * only below the size limit. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const char *buf, size_t len, const char *p, size_t n)
{
	if (n > 0 && (p < buf || p + n > buf + len))
		abort();
}

static void check_headers(const char *buf, size_t head, const struct http1_header *h, size_t n)
{
	if (n > HTTP1_MAX_HEADERS)
		abort();
	for (size_t i = 0; i < n; i++) {
		check_inside(buf, head, h[i].name, h[i].name_len);
		check_inside(buf, head, h[i].value, h[i].value_len);
		if (h[i].name_len == 0 || memchr(h[i].name, ':', h[i].name_len))
			abort();
		if (h[i].value_len > 0 &&
		    (strchr(" \t", h[i].value[0]) || strchr(" \t", h[i].value[h[i].value_len - 1])))
			abort();
		if (memchr(h[i].value, '\r', h[i].value_len) ||
		    memchr(h[i].value, '\n', h[i].value_len))
			abort();
		/* http1_find() finds the first of a name. */
		char name[HTTP1_MAX_HEAD + 1];
		memcpy(name, h[i].name, h[i].name_len);
		name[h[i].name_len] = '\0';
		const struct http1_header *found = http1_find(h, n, name);
		if (!found || found > &h[i] || !http1_equals(found->name, found->name_len, name))
			abort();
		/* A value without commas is its own only token. */
		if (h[i].value_len > 0 && !memchr(h[i].value, ',', h[i].value_len)) {
			char value[HTTP1_MAX_HEAD + 1];
			memcpy(value, h[i].value, h[i].value_len);
			value[h[i].value_len] = '\0';
			if (!http1_has_token(&h[i], value))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy, so reading past the end is caught. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct http1_response res, again;
	ssize_t rc = http1_parse_response(buf, size, &res);
	if (rc == 0 && size >= HTTP1_MAX_HEAD)
		abort();
	if (rc < 0 && rc != -EBADMSG && rc != -E2BIG)
		abort();
	if (rc > 0) {
		size_t head = (size_t)rc;
		if (head > size || head > HTTP1_MAX_HEAD || buf[head - 1] != '\n')
			abort();
		if (head < 2 ||
		    (buf[head - 2] != '\n' && (head < 3 || memcmp(buf + head - 3, "\n\r\n", 3))))
			abort();
		if (res.minor_version != 0 && res.minor_version != 1)
			abort();
		check_inside(buf, head, res.reason, res.reason_len);
		if (res.status < 100 || res.status > 999)
			abort();
		check_headers(buf, head, res.headers, res.nheaders);
		if (http1_parse_response(buf, head, &again) != rc || again.nheaders != res.nheaders)
			abort();
		static const size_t cuts[] = {0, 1, 2, 17};
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			size_t cut = cuts[i] < head ? head - 1 - cuts[i] : 0;
			if (http1_parse_response(buf, cut, &again) != 0)
				abort();
		}
	}
	free(buf);
	return 0;
}
