/* HTTP/1.1 heads: the relay's upgrade request and response, partial input,
 * every malformed form, the limits, and the header helpers. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "iron/http1.h"

#define UPGRADE_REQUEST                                                                            \
	"GET /relay HTTP/1.1\r\n"                                                                  \
	"Host: relay.example\r\n"                                                                  \
	"Connection: keep-alive, Upgrade\r\n"                                                      \
	"Upgrade: websocket\r\n"                                                                   \
	"Sec-WebSocket-Version: 13\r\n"                                                            \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                          \
	"Sec-WebSocket-Protocol:iroh-relay-v2, iroh-relay-v1 \t\r\n"                               \
	"\r\n"

static bool value_is(const struct http1_header *h, const char *want)
{
	return h && h->value_len == strlen(want) && memcmp(h->value, want, h->value_len) == 0;
}

static void test_request(void)
{
	const char *text = UPGRADE_REQUEST "leftover";
	size_t head = strlen(UPGRADE_REQUEST);
	struct http1_request req;
	CHECK_INT(http1_parse_request(text, strlen(text), &req), head);
	CHECK(http1_equals(req.method, req.method_len, "GET"));
	CHECK(req.target_len == 6 && memcmp(req.target, "/relay", 6) == 0);
	CHECK_INT(req.minor_version, 1);
	CHECK_INT(req.nheaders, 6);
	CHECK(value_is(http1_find(req.headers, req.nheaders, "host"), "relay.example"));
	CHECK(value_is(http1_find(req.headers, req.nheaders, "SEC-WEBSOCKET-KEY"),
		       "dGhlIHNhbXBsZSBub25jZQ=="));
	const struct http1_header *proto =
	    http1_find(req.headers, req.nheaders, "Sec-WebSocket-Protocol");
	CHECK(value_is(proto, "iroh-relay-v2, iroh-relay-v1"));
	CHECK(proto && http1_has_token(proto, "iroh-relay-v1"));
	CHECK(proto && http1_has_token(proto, "IROH-RELAY-V2"));
	CHECK(proto && !http1_has_token(proto, "iroh-relay"));
	const struct http1_header *conn = http1_find(req.headers, req.nheaders, "connection");
	CHECK(conn && http1_has_token(conn, "upgrade"));
	CHECK(conn && http1_has_token(conn, "Keep-Alive"));
	CHECK(conn && !http1_has_token(conn, "close"));
	CHECK(http1_find(req.headers, req.nheaders, "Content-Length") == NULL);

	/* Every prefix is incomplete, not an error. */
	for (size_t n = 0; n < head; n++) {
		ssize_t rc = http1_parse_request(text, n, &req);
		if (rc != 0)
			fprintf(stderr, "    prefix of %zu bytes: %zd\n", n, rc);
		CHECK_INT(rc, 0);
	}

	/* Bare LF line ends, HTTP/1.0, an empty value, no headers. */
	const char *lf = "POST /x?a=1 HTTP/1.0\nX-Empty:\nX-Spaces:   \n\nbody";
	CHECK_INT(http1_parse_request(lf, strlen(lf), &req), strlen(lf) - 4);
	CHECK_INT(req.minor_version, 0);
	CHECK_INT(req.nheaders, 2);
	CHECK(req.headers[0].value_len == 0 && req.headers[1].value_len == 0);
	CHECK(req.target_len == 6 && memcmp(req.target, "/x?a=1", 6) == 0);
	const char *bare = "GET / HTTP/1.1\r\n\r\n";
	CHECK_INT(http1_parse_request(bare, strlen(bare), &req), strlen(bare));
	CHECK_INT(req.nheaders, 0);
	/* obs-text in a value is allowed. */
	const char *obs = "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n";
	CHECK_INT(http1_parse_request(obs, strlen(obs), &req), strlen(obs));
}

static void test_response(void)
{
	const char *text = "HTTP/1.1 101 Switching Protocols\r\n"
			   "Upgrade: websocket\r\n"
			   "Connection: Upgrade\r\n"
			   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
			   "\r\n\x82\x05hello";
	size_t head = strlen(text) - 7;
	struct http1_response res;
	CHECK_INT(http1_parse_response(text, strlen(text), &res), head);
	CHECK_INT(res.status, 101);
	CHECK_INT(res.minor_version, 1);
	CHECK(http1_equals(res.reason, res.reason_len, "switching protocols"));
	CHECK(value_is(http1_find(res.headers, res.nheaders, "sec-websocket-accept"),
		       "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	for (size_t n = 0; n < head; n++)
		CHECK_INT(http1_parse_response(text, n, &res), 0);

	const char *no_reason = "HTTP/1.0 404 \r\n\r\n";
	CHECK_INT(http1_parse_response(no_reason, strlen(no_reason), &res), strlen(no_reason));
	CHECK_INT(res.status, 404);
	CHECK_INT(res.reason_len, 0);
	const char *no_sp = "HTTP/1.1 200\r\nA: b\r\n\r\n";
	CHECK_INT(http1_parse_response(no_sp, strlen(no_sp), &res), strlen(no_sp));
	CHECK_INT(res.status, 200);
	CHECK_INT(res.nheaders, 1);
}

static void bad_request(const char *text, ssize_t want)
{
	struct http1_request req;
	ssize_t rc = http1_parse_request(text, strlen(text), &req);
	if (rc != want)
		fprintf(stderr, "    request: '%s'\n", text);
	CHECK_INT(rc, want);
	CHECK(req.method == NULL && req.nheaders == 0);
}

static void bad_response(const char *text, ssize_t want)
{
	struct http1_response res;
	ssize_t rc = http1_parse_response(text, strlen(text), &res);
	if (rc != want)
		fprintf(stderr, "    response: '%s'\n", text);
	CHECK_INT(rc, want);
}

static void test_malformed(void)
{
	bad_request("\r\nGET / HTTP/1.1\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.2\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/2.0\r\n\r\n", -EBADMSG);
	bad_request("GET / http/1.1\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1 \r\n\r\n", -EBADMSG);
	bad_request("GET  / HTTP/1.1\r\n\r\n", -EBADMSG);
	bad_request("GET /\x01 HTTP/1.1\r\n\r\n", -EBADMSG);
	bad_request("G(T / HTTP/1.1\r\n\r\n", -EBADMSG);
	bad_request(" GET / HTTP/1.1\r\n\r\n", -EBADMSG);
	bad_request("GET /\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nHost : x\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\n: x\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nHost\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nA: b\r\n continued\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nA: b\r\n\tcontinued\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nA: b\r\r\n\r\n", -EBADMSG);
	bad_request("GET / HTTP/1.1\r\nA\x01: b\r\n\r\n", -EBADMSG);
	/* A NUL byte inside the head. */
	struct http1_request req;
	const char nul[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
	CHECK_INT(http1_parse_request(nul, sizeof(nul) - 1, &req), -EBADMSG);

	bad_response("HTTP/1.1 099 Low\r\n\r\n", -EBADMSG);
	bad_response("HTTP/1.1 20 OK\r\n\r\n", -EBADMSG);
	bad_response("HTTP/1.1 2000 OK\r\n\r\n", -EBADMSG);
	bad_response("HTTP/1.1  200 OK\r\n\r\n", -EBADMSG);
	bad_response("HTTP/1.1 2x0 OK\r\n\r\n", -EBADMSG);
	bad_response("HTTP/1.3 200 OK\r\n\r\n", -EBADMSG);
	bad_response("HTTP/1.1 200 O\x01K\r\n\r\n", -EBADMSG);
	bad_response("HTTP/1.1 200 OK\r\nA : b\r\n\r\n", -EBADMSG);
	bad_response("ICY 200 OK\r\n\r\n", -EBADMSG);
}

static void test_limits(void)
{
	char *big = malloc(HTTP1_MAX_HEAD + 100);
	CHECK(big != NULL);
	if (!big)
		return;
	struct http1_request req;
	/* A head of exactly HTTP1_MAX_HEAD bytes is accepted; one more is not. */
	const char *start = "GET / HTTP/1.1\r\nX: ";
	size_t fill = HTTP1_MAX_HEAD - strlen(start) - 4;
	memcpy(big, start, strlen(start));
	memset(big + strlen(start), 'a', fill);
	memcpy(big + strlen(start) + fill, "\r\n\r\n", 4);
	CHECK_INT(http1_parse_request(big, HTTP1_MAX_HEAD, &req), HTTP1_MAX_HEAD);
	CHECK_INT(req.headers[0].value_len, fill);
	memset(big + strlen(start), 'a', fill + 1);
	memcpy(big + strlen(start) + fill + 1, "\r\n\r\n", 4);
	CHECK_INT(http1_parse_request(big, HTTP1_MAX_HEAD + 1, &req), -E2BIG);
	CHECK_INT(http1_parse_request(big, HTTP1_MAX_HEAD - 1, &req), 0);
	CHECK_INT(http1_parse_request(big, HTTP1_MAX_HEAD, &req), -E2BIG);

	/* HTTP1_MAX_HEADERS headers are fine, one more is too many. */
	size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP1_MAX_HEADERS; i++)
		n += (size_t)sprintf(big + n, "H%d: %d\r\n", i, i);
	memcpy(big + n, "\r\n", 2);
	CHECK_INT(http1_parse_request(big, n + 2, &req), n + 2);
	CHECK_INT(req.nheaders, HTTP1_MAX_HEADERS);
	n += (size_t)sprintf(big + n, "One-More: x\r\n\r\n");
	CHECK_INT(http1_parse_request(big, n, &req), -E2BIG);
	free(big);
}

static void test_helpers(void)
{
	CHECK(http1_equals("Upgrade", 7, "upgrade"));
	CHECK(!http1_equals("Upgrade", 6, "upgrade"));
	CHECK(!http1_equals("Upgrade", 7, "upgrades"));
	CHECK(http1_equals("", 0, ""));
	CHECK(!http1_equals("\xc3\xa9", 2, "\xc3\x89")); /* ASCII only */
	struct http1_header h = {.name = "X", .name_len = 1, .value = ",, a ,b,", .value_len = 8};
	CHECK(http1_has_token(&h, "a"));
	CHECK(http1_has_token(&h, "B"));
	CHECK(!http1_has_token(&h, ""));
	h.value = "";
	h.value_len = 0;
	CHECK(!http1_has_token(&h, "a"));
}

int main(void)
{
	test_request();
	test_response();
	test_malformed();
	test_limits();
	test_helpers();
	return check_done();
}
