/* The HTTP/1.1 client (http_client.h): resolve, connect (trying each
 * address in turn until one accepts), send the request with Connection:
 * close, read the response head with http1.c, then the body framed as RFC
 * 9112 section 6.3 says: none for HEAD, 1xx, 204 and 304; chunked when
 * Transfer-Encoding ends in chunked; Content-Length; else to the end of
 * the connection. One timer bounds the whole call. */
#define LOG_MODULE "http"
#include "iron/http_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/http1.h"
#include "iron/log.h"
#include "iron/netaddr.h"
#include "iron/relay_client.h"
#include "iron/stream.h"
#include "iron/version.h"

#define DEFAULT_TIMEOUT_MS    10000
#define DEFAULT_MAX_RESPONSE  65536
#define MAX_ADDRS	      4
#define METHOD_MAX	      16
#define CONTENT_TYPE_MAX      128
#define HTTP_CLIENT_QUEUE_MAX (4u << 20)

/* ---------------------------------------------------------- chunked body */

enum chunked_state {
	CH_SIZE,      /* hex digits of a chunk size */
	CH_SIZE_TAIL, /* spaces, then ';' or the line end */
	CH_EXT,	      /* an extension: skipped up to the line end */
	CH_SIZE_LF,   /* CR seen after the size line */
	CH_DATA,
	CH_DATA_CR, /* the line end after a chunk's data */
	CH_DATA_LF,
	CH_TRAILER_START, /* the start of a trailer line (or the final line end) */
	CH_TRAILER,	  /* inside a trailer field: skipped */
	CH_TRAILER_LF,	  /* CR seen at the end of a trailer field */
	CH_FINAL_LF,	  /* CR seen on the empty line that ends the body */
	CH_DONE,
	CH_FAILED,
};

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

static int hex_value(uint8_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* The end of a size line: a chunk follows, or the trailer section. */
static void size_line_done(struct http_chunked *c)
{
	c->line_len = 0;
	c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
}

ssize_t http_chunked_decode(struct http_chunked *c, const uint8_t *in, size_t len, uint8_t *out,
			    size_t *consumed)
{
	size_t i = 0, n = 0;

	while (i < len && c->state != CH_DONE && c->state != CH_FAILED) {
		uint8_t ch = in[i];
		if (c->state == CH_DATA) {
			size_t take = len - i;
			if (take > c->remaining)
				take = (size_t)c->remaining;
			memmove(out + n, in + i, take);
			n += take;
			i += take;
			c->remaining -= take;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			continue;
		}
		i++;
		if (c->state != CH_DATA_CR && c->state != CH_DATA_LF &&
		    ++c->line_len > HTTP_CHUNKED_LINE_MAX) {
			c->state = CH_FAILED;
			break;
		}
		switch (c->state) {
		case CH_SIZE: {
			int v = hex_value(ch);
			if (v >= 0 && c->digits < 15) {
				c->remaining = c->remaining << 4 | (uint64_t)v;
				c->digits++;
			} else if (v < 0 && c->digits > 0 && (ch == ' ' || ch == '\t')) {
				c->state = CH_SIZE_TAIL;
			} else if (v < 0 && c->digits > 0 && ch == ';') {
				c->state = CH_EXT;
			} else if (v < 0 && c->digits > 0 && ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (v < 0 && c->digits > 0 && ch == '\n') {
				size_line_done(c);
			} else {
				c->state = CH_FAILED;
			}
			break;
		}
		case CH_SIZE_TAIL:
			if (ch == ';')
				c->state = CH_EXT;
			else if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				size_line_done(c);
			else if (ch != ' ' && ch != '\t')
				c->state = CH_FAILED;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				size_line_done(c);
			else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				c->state = CH_FAILED;
			break;
		case CH_SIZE_LF:
			if (ch == '\n')
				size_line_done(c);
			else
				c->state = CH_FAILED;
			break;
		case CH_DATA_CR:
			if (ch == '\r')
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE;
			else
				c->state = CH_FAILED;
			c->digits = 0;
			c->line_len = 0;
			break;
		case CH_DATA_LF:
			c->state = ch == '\n' ? CH_SIZE : CH_FAILED;
			break;
		case CH_TRAILER_START:
			if (ch == '\r') {
				c->state = CH_FINAL_LF;
			} else if (ch == '\n') {
				c->state = CH_DONE;
			} else if (ch < 0x21 || ch == 0x7f || ch == ':') {
				c->state = CH_FAILED; /* no obs-fold, no empty field name */
			} else {
				c->state = CH_TRAILER;
			}
			break;
		case CH_TRAILER:
			if (ch == '\r') {
				c->state = CH_TRAILER_LF;
			} else if (ch == '\n') {
				c->state = CH_TRAILER_START;
				c->line_len = 0;
			} else if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
				c->state = CH_FAILED;
			}
			break;
		case CH_TRAILER_LF:
			if (ch != '\n') {
				c->state = CH_FAILED;
				break;
			}
			c->state = CH_TRAILER_START;
			c->line_len = 0;
			break;
		case CH_FINAL_LF:
			c->state = ch == '\n' ? CH_DONE : CH_FAILED;
			break;
		default:
			c->state = CH_FAILED;
			break;
		}
	}
	if (c->state == CH_FAILED)
		return -EBADMSG;
	c->done = c->state == CH_DONE;
	*consumed = i;
	return (ssize_t)n;
}

/* ---------------------------------------------------------------- calls */

enum call_state {
	CALL_RESOLVING,
	CALL_CONNECTING,
	CALL_HEAD, /* request sent, reading the response head */
	CALL_BODY,
	CALL_DONE, /* fn has run or the call was cancelled: waiting for libuv */
};

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF };

struct http_client_call {
	uv_loop_t *loop;
	struct resolver *resolver;
	http_client_fn *fn;
	void *user;
	enum call_state state;

	struct relay_url url;
	char *target; /* path and query, from the URL */
	char method[METHOD_MAX];
	char content_type[CONTENT_TYPE_MAX];
	bool has_content_type;
	uint8_t *request_body;
	size_t request_body_len;
	uint64_t timeout_ms;
	size_t max_response;

	struct resolver_query *query;
	struct netaddr addrs[MAX_ADDRS];
	size_t naddrs, next_addr;
	struct stream *stream;
	uv_timer_t timer;
	char connect_error[160];

	char head[HTTP1_MAX_HEAD];
	size_t head_len;
	int status;
	char reason[64];
	enum body_mode mode;
	uint64_t content_length;
	struct http_chunked chunked;
	uint8_t *body;
	size_t body_len, body_cap;
};

static void on_timer_closed(uv_handle_t *handle)
{
	struct http_client_call *call = handle->data;
	free(call->target);
	free(call->request_body);
	free(call->body);
	free(call);
}

/* Stops everything; the memory goes when libuv has closed the timer. */
static void release(struct http_client_call *call)
{
	call->state = CALL_DONE;
	if (call->query) {
		struct resolver_query *q = call->query;
		call->query = NULL;
		resolver_cancel(q);
	}
	if (call->stream) {
		struct stream *s = call->stream;
		call->stream = NULL;
		stream_close(s);
	}
	uv_timer_stop(&call->timer);
	uv_close((uv_handle_t *)&call->timer, on_timer_closed);
}

/* Ends the call: fn once, then release. */
static void finish(struct http_client_call *call, int status, const char *err)
{
	if (call->state == CALL_DONE)
		return;
	call->state = CALL_DONE;
	if (call->query) {
		struct resolver_query *q = call->query;
		call->query = NULL;
		resolver_cancel(q);
	}
	if (call->stream) {
		struct stream *s = call->stream;
		call->stream = NULL;
		stream_close(s);
	}
	if (status < 0)
		log_debug("%s %s: %s", call->method, call->url.text, err);
	call->fn(call->user, status, status > 0 ? call->body : NULL,
		 status > 0 ? call->body_len : 0, err);
	release(call);
}

/* Ends the call with an error; fmt's first %s is the host. */
static void fail(struct http_client_call *call, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct http_client_call *call, int status, const char *fmt, ...)
{
	char err[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, sizeof(err), fmt, ap);
	va_end(ap);
	finish(call, status, err);
}

static void succeed(struct http_client_call *call)
{
	char err[96];
	snprintf(err, sizeof(err), "HTTP %d %s", call->status, call->reason);
	finish(call, call->status, err);
}

static int body_append(struct http_client_call *call, const uint8_t *data, size_t len)
{
	if (len > call->max_response - call->body_len)
		return -EMSGSIZE;
	if (len == 0)
		return 0;
	if (call->body_len + len > call->body_cap) {
		size_t cap = call->body_cap ? call->body_cap : 1024;
		while (cap < call->body_len + len)
			cap *= 2;
		if (cap > call->max_response)
			cap = call->max_response;
		uint8_t *p = realloc(call->body, cap);
		if (!p)
			return -ENOMEM;
		call->body = p;
		call->body_cap = cap;
	}
	memcpy(call->body + call->body_len, data, len);
	call->body_len += len;
	return 0;
}

static void too_big(struct http_client_call *call)
{
	char detail[64];
	snprintf(detail, sizeof(detail), "%zu", call->max_response);
	fail(call, -EPROTO, "%s: response body larger than %s bytes", call->url.host, detail);
}

/* Body bytes from the stream (len may be 0). */
static void take_body(struct http_client_call *call, const uint8_t *data, size_t len)
{
	int rc;
	switch (call->mode) {
	case BODY_NONE:
		succeed(call);
		return;
	case BODY_LENGTH: {
		uint64_t left = call->content_length - call->body_len;
		size_t take = len < left ? len : (size_t)left;
		rc = body_append(call, data, take);
		if (rc == -ENOMEM) {
			fail(call, -ENOMEM, "%s: out of memory", call->url.host);
			return;
		}
		if (call->body_len == call->content_length)
			succeed(call);
		return;
	}
	case BODY_EOF:
		rc = body_append(call, data, len);
		if (rc == -EMSGSIZE)
			too_big(call);
		else if (rc == -ENOMEM)
			fail(call, -ENOMEM, "%s: out of memory", call->url.host);
		return;
	case BODY_CHUNKED: {
		uint8_t buf[16384];
		while (len > 0) {
			size_t piece = len < sizeof(buf) ? len : sizeof(buf), used = 0;
			ssize_t n = http_chunked_decode(&call->chunked, data, piece, buf, &used);
			if (n < 0) {
				fail(call, -EPROTO, "%s: malformed chunked response body",
				     call->url.host);
				return;
			}
			rc = body_append(call, buf, (size_t)n);
			if (rc == -EMSGSIZE) {
				too_big(call);
				return;
			}
			if (rc == -ENOMEM) {
				fail(call, -ENOMEM, "%s: out of memory", call->url.host);
				return;
			}
			if (call->chunked.done) {
				succeed(call);
				return;
			}
			/* A chunk announced larger than what is left: refused
			 * at once (a size only grows as its digits arrive). */
			if (call->chunked.remaining > call->max_response - call->body_len) {
				too_big(call);
				return;
			}
			data += used;
			len -= used;
		}
		return;
	}
	}
}

/* How the body is framed (RFC 9112 section 6.3). Returns 0 or -EPROTO. */
static int body_framing(struct http_client_call *call, const struct http1_response *resp)
{
	if (strcmp(call->method, "HEAD") == 0 || resp->status == 204 || resp->status == 304) {
		call->mode = BODY_NONE;
		return 0;
	}
	const struct http1_header *te =
	    http1_find(resp->headers, resp->nheaders, "Transfer-Encoding");
	if (te) {
		/* Only "chunked" alone: iron asks for no other coding. */
		if (!http1_equals(te->value, te->value_len, "chunked"))
			return -EPROTO;
		call->mode = BODY_CHUNKED;
		http_chunked_init(&call->chunked);
		return 0;
	}
	bool have_length = false;
	for (size_t i = 0; i < resp->nheaders; i++) {
		const struct http1_header *h = &resp->headers[i];
		if (!http1_equals(h->name, h->name_len, "Content-Length"))
			continue;
		uint64_t v = 0;
		if (h->value_len == 0 || h->value_len > 18)
			return -EPROTO;
		for (size_t k = 0; k < h->value_len; k++) {
			if (h->value[k] < '0' || h->value[k] > '9')
				return -EPROTO;
			v = v * 10 + (uint64_t)(h->value[k] - '0');
		}
		if (have_length && v != call->content_length)
			return -EPROTO;
		have_length = true;
		call->content_length = v;
	}
	call->mode = have_length ? BODY_LENGTH : BODY_EOF;
	if (have_length && call->content_length > call->max_response)
		return -EMSGSIZE;
	return 0;
}

static void on_data(void *user, struct stream *s, const uint8_t *data, size_t len)
{
	struct http_client_call *call = user;
	(void)s;
	while (call->state == CALL_HEAD && len > 0) {
		size_t room = sizeof(call->head) - call->head_len;
		size_t take = len < room ? len : room;
		memcpy(call->head + call->head_len, data, take);
		call->head_len += take;
		struct http1_response resp;
		ssize_t n = http1_parse_response(call->head, call->head_len, &resp);
		if (n == 0) {
			if (take < len) /* the buffer is full, no head in it */
				fail(call, -EPROTO, "%s: response head too large", call->url.host);
			return;
		}
		if (n < 0) {
			fail(call, -EPROTO, "%s: %s response head", call->url.host,
			     n == -E2BIG ? "too large a" : "malformed");
			return;
		}
		/* What followed the head in this piece. */
		size_t used = (size_t)n - (call->head_len - take);
		data += used;
		len -= used;
		call->head_len = 0;
		if (resp.status < 200) {
			/* An interim response (100 Continue): the real one follows. */
			if (resp.status == 101) {
				fail(call, -EPROTO, "%s: unexpected 101 Switching Protocols",
				     call->url.host);
				return;
			}
			continue;
		}
		call->status = resp.status;
		size_t rlen = resp.reason_len < sizeof(call->reason) - 1 ? resp.reason_len
									 : sizeof(call->reason) - 1;
		memcpy(call->reason, resp.reason, rlen);
		call->reason[rlen] = '\0';
		for (size_t i = 0; i < rlen; i++)
			if ((unsigned char)call->reason[i] < 0x20 || call->reason[i] == 0x7f)
				call->reason[i] = '?';
		int rc = body_framing(call, &resp);
		if (rc == -EMSGSIZE) {
			too_big(call);
			return;
		}
		if (rc < 0) {
			fail(call, -EPROTO, "%s: bad body framing in the response", call->url.host);
			return;
		}
		call->state = CALL_BODY;
		take_body(call, data, len);
		return;
	}
	if (call->state == CALL_BODY)
		take_body(call, data, len);
}

static void on_ready(void *user, struct stream *s)
{
	struct http_client_call *call = user;
	char head[1024], port[8] = "";
	bool v6 = strchr(call->url.host, ':') != NULL;
	if (call->url.port != (call->url.tls ? 443 : 80))
		snprintf(port, sizeof(port), ":%u", call->url.port);
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\n"
			 "Host: %s%s%s%s\r\n"
			 "User-Agent: iron/" IRON_VERSION "\r\n"
			 "Accept: */*\r\n"
			 "Connection: close\r\n",
			 call->method, call->target, v6 ? "[" : "", call->url.host, v6 ? "]" : "",
			 port);
	if (call->has_content_type)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\n",
			      call->content_type);
	if (call->request_body_len > 0 || strcmp(call->method, "GET") != 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n",
			      call->request_body_len);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	if ((size_t)n >= sizeof(head)) {
		fail(call, -EINVAL, "%s: request head too long", call->url.host);
		return;
	}
	call->state = CALL_HEAD;
	call->head_len = 0;
	int rc = stream_write2(s, (const uint8_t *)head, (size_t)n, call->request_body,
			       call->request_body_len);
	if (rc < 0 && call->state == CALL_HEAD)
		fail(call, rc, "%s: cannot send the request: %s", call->url.host, strerror(-rc));
}

static void start_connect(struct http_client_call *call);

static void on_closed(void *user, struct stream *s, int err, const char *reason)
{
	struct http_client_call *call = user;
	(void)s;
	call->stream = NULL;
	switch (call->state) {
	case CALL_CONNECTING:
		if (reason && strncmp(reason, "TLS certificate", 15) == 0) {
			fail(call, -EKEYREJECTED, "%s: %s", call->url.host, reason);
			return;
		}
		if (err < 0 && strncmp(reason ? reason : "", "TLS", 3) != 0 &&
		    call->next_addr < call->naddrs) {
			snprintf(call->connect_error, sizeof(call->connect_error), "%s",
				 reason ? reason : "");
			start_connect(call); /* the next address */
			return;
		}
		fail(call, err < 0 ? err : -ECONNRESET, "%s: cannot connect: %s", call->url.host,
		     reason);
		return;
	case CALL_HEAD:
		fail(call, err < 0 ? err : -EPROTO, "%s: connection closed before the response: %s",
		     call->url.host, err < 0 ? reason : "no full response head");
		return;
	case CALL_BODY:
		if (call->mode == BODY_EOF && err == 0) {
			succeed(call);
			return;
		}
		fail(call, err < 0 ? err : -EPROTO, "%s: response body cut short: %s",
		     call->url.host, err < 0 ? reason : "connection closed");
		return;
	default:
		return;
	}
}

static void start_connect(struct http_client_call *call)
{
	const struct stream_callbacks cb = {
	    .user = call, .ready = on_ready, .data = on_data, .closed = on_closed};
	while (call->next_addr < call->naddrs) {
		struct netaddr *addr = &call->addrs[call->next_addr++];
		call->state = CALL_CONNECTING;
		int rc = stream_connect(call->loop, &addr->sa,
					call->url.tls ? call->url.host : NULL, &cb, &call->stream);
		if (rc == 0) {
			stream_set_queue_limit(call->stream, HTTP_CLIENT_QUEUE_MAX);
			return;
		}
		call->stream = NULL;
		snprintf(call->connect_error, sizeof(call->connect_error), "%s", uv_strerror(rc));
	}
	fail(call, -ECONNREFUSED, "%s: cannot connect: %s", call->url.host, call->connect_error);
}

static void on_resolved(void *user, int status, const struct netaddr *addrs, size_t n)
{
	struct http_client_call *call = user;
	call->query = NULL;
	if (status == -ECANCELED || call->state != CALL_RESOLVING)
		return;
	if (status < 0 || n == 0) {
		fail(call, -EHOSTUNREACH, "cannot resolve %s: %s", call->url.host,
		     resolver_strerror(status));
		return;
	}
	call->naddrs = n < MAX_ADDRS ? n : MAX_ADDRS;
	memcpy(call->addrs, addrs, call->naddrs * sizeof(addrs[0]));
	start_connect(call);
}

static void on_timeout(uv_timer_t *timer)
{
	struct http_client_call *call = timer->data;
	const char *what = call->state == CALL_RESOLVING    ? "name not resolved"
			   : call->state == CALL_CONNECTING ? "no connection"
							    : "no response";
	fail(call, -ETIMEDOUT, "%s: %s within %llu ms", call->url.host, what,
	     (unsigned long long)call->timeout_ms);
}

/* The request target: the URL's path and query ("/" when it has none),
 * without a fragment. */
static char *url_target(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	p += strcspn(p, "/?#");
	size_t len = strcspn(p, "#");
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	size_t k = 0;
	if (*p != '/')
		out[k++] = '/';
	memcpy(out + k, p, len);
	out[k + len] = '\0';
	return out;
}

static bool valid_method(const char *m)
{
	size_t n = strlen(m);
	if (n == 0 || n >= METHOD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (m[i] < 'A' || m[i] > 'Z')
			return false;
	return true;
}

static bool valid_content_type(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n >= CONTENT_TYPE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
			return false;
	return true;
}

int http_client_request(uv_loop_t *loop, struct resolver *resolver,
			const struct http_client_request *req, http_client_fn *fn, void *user,
			struct http_client_call **out)
{
	char err[256];
	if (!req->method || !valid_method(req->method) || !req->url ||
	    (req->content_type && !valid_content_type(req->content_type)) ||
	    (req->body_len > 0 && !req->body) || !fn)
		return -EINVAL;
	struct http_client_call *call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	if (relay_url_parse(req->url, &call->url, err, sizeof(err)) != 0) {
		free(call);
		return -EINVAL;
	}
	call->target = url_target(req->url);
	call->request_body = malloc(req->body_len ? req->body_len : 1);
	if (!call->target || !call->request_body) {
		free(call->target);
		free(call->request_body);
		free(call);
		return -ENOMEM;
	}
	if (req->body_len)
		memcpy(call->request_body, req->body, req->body_len);
	call->request_body_len = req->body_len;
	snprintf(call->method, sizeof(call->method), "%s", req->method);
	if (req->content_type) {
		call->has_content_type = true;
		snprintf(call->content_type, sizeof(call->content_type), "%s", req->content_type);
	}
	call->loop = loop;
	call->resolver = resolver;
	call->fn = fn;
	call->user = user;
	call->timeout_ms = req->timeout_ms ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
	call->max_response = req->max_response ? req->max_response : DEFAULT_MAX_RESPONSE;
	call->state = CALL_RESOLVING;

	struct netaddr numeric;
	bool is_numeric = netaddr_parse_host(call->url.host, call->url.port, &numeric) == 0;
	int rc = 0;
	if (!is_numeric && !resolver)
		rc = -EINVAL;
	else if (!is_numeric)
		rc = resolver_lookup_host(resolver, call->url.host, call->url.port, on_resolved,
					  call, &call->query);
	if (rc < 0) {
		free(call->target);
		free(call->request_body);
		free(call);
		return rc;
	}
	uv_timer_init(loop, &call->timer);
	call->timer.data = call;
	uv_timer_start(&call->timer, on_timeout, call->timeout_ms, 0);
	if (is_numeric) {
		const struct stream_callbacks cb = {
		    .user = call, .ready = on_ready, .data = on_data, .closed = on_closed};
		call->addrs[0] = numeric;
		call->naddrs = 1;
		call->next_addr = 1;
		call->state = CALL_CONNECTING;
		rc = stream_connect(loop, &numeric.sa, call->url.tls ? call->url.host : NULL, &cb,
				    &call->stream);
		if (rc < 0) {
			call->stream = NULL;
			call->state = CALL_DONE;
			uv_timer_stop(&call->timer);
			uv_close((uv_handle_t *)&call->timer, on_timer_closed);
			return rc;
		}
		stream_set_queue_limit(call->stream, HTTP_CLIENT_QUEUE_MAX);
	}
	if (out)
		*out = call;
	return 0;
}

void http_client_cancel(struct http_client_call *call)
{
	if (!call || call->state == CALL_DONE)
		return;
	release(call);
}
