/* A small HTTP/1.1 client on the loop, over stream.h (TCP, or TLS checked
 * against the system CAs and SSL_CERT_FILE): one request per connection
 * (Connection: close), a body by Content-Length, a response body read by
 * Content-Length or to the end of the connection (chunked too), bounded in
 * size and time. For pkarr PUT/GET; no proxies, no redirects, no cookies. */
#ifndef IRON_HTTP_CLIENT_H
#define IRON_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
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
 * copied. Returns 0, -EINVAL (bad URL or method) or -ENOMEM. */
int http_client_request(uv_loop_t *loop, struct resolver *resolver,
			const struct http_client_request *req, http_client_fn *fn, void *user,
			struct http_client_call **out);

/* Stops a call; fn will not run. The call may not be used after this. */
void http_client_cancel(struct http_client_call *call);

#endif
