/* A small HTTP/1.1 client on the loop, over stream.h (TCP, or TLS checked
 * against the system CAs and SSL_CERT_FILE): one request per connection
 * (Connection: close), a body by Content-Length, a response body read by
 * Content-Length or to the end of the connection (chunked too), bounded in
 * size and time. For pkarr PUT/GET; no proxies, no redirects, no cookies. */
#ifndef IRON_HTTP_CLIENT_H
#define IRON_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "iron/resolver.h"

struct http_client_call;

struct http_client_request {
	const char *method;	  /* "GET", "PUT" */
	const char *url;	  /* http://host[:port]/path or https://...; IPv6 in brackets */
	const char *content_type; /* NULL: no Content-Type header */
	const uint8_t *body;	  /* may be NULL when body_len is 0 */
	size_t body_len;
	uint64_t timeout_ms; /* whole call; 0: 10 s */
	size_t max_response; /* response body limit; 0: 64 KiB */
};

/* status: the HTTP status (100-999), or a negative errno (-ETIMEDOUT,
 * -ECONNREFUSED, -EPROTO for a malformed or oversized response, -EHOSTUNREACH
 * when the name does not resolve, -EKEYREJECTED for a TLS certificate that
 * is not trusted), with err a one-line reason for humans. body is valid
 * only during the call. */
typedef void http_client_fn(void *user, int status, const uint8_t *body, size_t len,
			    const char *err);

/* Starts a call; fn runs exactly once, never from inside this function,
 * unless the call is cancelled first. The request's strings and body are
 * copied. The URL is read by relay_url_parse() (at most 255 bytes; a path
 * and query are kept, a fragment dropped); resolver may be NULL when the
 * host is numeric. A PUT (any method but GET) always sends Content-Length.
 * out may be NULL. Returns 0, -EINVAL (bad URL, method or content type;
 * a host name and no resolver), -ENOMEM, or the error of
 * resolver_lookup_host() or stream_connect() when they fail at once
 * (-EAGAIN: too many lookups). */
int http_client_request(uv_loop_t *loop, struct resolver *resolver,
			const struct http_client_request *req, http_client_fn *fn, void *user,
			struct http_client_call **out);

/* Stops a call; fn will not run. The call may not be used after this,
 * nor once fn has begun. NULL is fine. */
void http_client_cancel(struct http_client_call *call);

/* The decoder of the chunked transfer coding (RFC 9112 section 7.1), pure,
 * exposed for its fuzz target: chunk sizes in hex (at most 15 digits),
 * extensions and trailer fields skipped (each line at most
 * HTTP_CHUNKED_LINE_MAX bytes), CRLF or a bare LF as line ends. */
#define HTTP_CHUNKED_LINE_MAX 4096

struct http_chunked {
	int state;
	uint64_t remaining; /* of the current chunk */
	size_t line_len;    /* of the size, extension or trailer line so far */
	int digits;
	bool done; /* the last chunk and the trailer section are complete */
};

void http_chunked_init(struct http_chunked *c);

/* Decodes the next len bytes of a chunked body into out (which has room
 * for len bytes: the data is never longer than its coding; out may be in).
 * *consumed is set to the input bytes used: len, or fewer when the body
 * ended inside in (c->done). Returns the data bytes written, or -EBADMSG
 * for a malformed coding (the decoder then stays failed). */
ssize_t http_chunked_decode(struct http_chunked *c, const uint8_t *in, size_t len, uint8_t *out,
			    size_t *consumed);

#endif
