/* HTTP/1.1 message heads, as the relay needs them (the WebSocket upgrade
 * and a few plain GET endpoints): a bounds-checked parser for request and
 * response heads, and header lookups. Pure: no I/O, no allocation; parsed
 * strings point into the caller's buffer and are not NUL-terminated.
 *
 * Only heads are parsed; the relay's requests and responses carry no body
 * it needs to read (a request with Content-Length or Transfer-Encoding is
 * refused by the server). */
#ifndef IRON_HTTP1_H
#define IRON_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define HTTP1_MAX_HEAD	  8192 /* bytes, request line or status line included */
#define HTTP1_MAX_HEADERS 32

struct http1_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading and trailing spaces and tabs removed */
	size_t value_len;
};

struct http1_request {
	const char *method;
	size_t method_len;
	const char *target; /* as sent: "/relay", "/ping?x=1" */
	size_t target_len;
	int minor_version; /* HTTP/1.<minor>: 0 or 1 */
	struct http1_header headers[HTTP1_MAX_HEADERS];
	size_t nheaders;
};

struct http1_response {
	int minor_version;
	int status; /* 100-999 */
	const char *reason;
	size_t reason_len;
	struct http1_header headers[HTTP1_MAX_HEADERS];
	size_t nheaders;
};

/* Parses the head at the start of buf (up to and including the blank line
 * "\r\n\r\n"; a bare "\n" line end is accepted too). Returns the head's
 * length in bytes when complete; 0 when more bytes are needed (and fewer
 * than HTTP1_MAX_HEAD have arrived); -EBADMSG for malformed syntax (bad
 * method or header name characters, control characters, obs-fold, a
 * version other than HTTP/1.0 or HTTP/1.1); -E2BIG when the head exceeds
 * HTTP1_MAX_HEAD bytes or HTTP1_MAX_HEADERS headers. */
ssize_t http1_parse_request(const char *buf, size_t len, struct http1_request *out);
ssize_t http1_parse_response(const char *buf, size_t len, struct http1_response *out);

/* The first header called name (case-insensitive), or NULL. */
const struct http1_header *http1_find(const struct http1_header *headers, size_t n,
				      const char *name);

/* Whether a comma-separated header value (e.g. Connection: keep-alive,
 * Upgrade) lists token, case-insensitively. */
bool http1_has_token(const struct http1_header *header, const char *token);

/* Whether the string (s, len) equals the NUL-terminated lit, ASCII
 * case-insensitively. */
bool http1_equals(const char *s, size_t len, const char *lit);

#endif
