/* WebSocket: frame heads (RFC 6455 section 5.2 and the examples of 5.7),
 * masking, the accept key of section 1.3, and the reader: whole and
 * fragmented messages with control frames between, every protocol error,
 * and the memory bound. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "iron/websocket.h"

static const uint8_t mask_bytes[4] = {0x37, 0xfa, 0x21, 0x3d};

static void test_rfc_examples(void)
{
	struct ws_head h;
	/* 5.7: a single-frame unmasked text message "Hello". */
	const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	CHECK_INT(ws_parse_head(hello, sizeof(hello), &h), 1);
	CHECK(h.fin && h.opcode == WS_TEXT && !h.masked && h.payload_len == 5 && h.head_len == 2);
	/* A masked "Hello". */
	uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	CHECK_INT(ws_parse_head(masked, sizeof(masked), &h), 1);
	CHECK(h.masked && h.head_len == 6 && memcmp(h.mask, mask_bytes, 4) == 0);
	ws_mask(masked + 6, 5, h.mask, 0);
	CHECK_MEM(masked + 6, "Hello", 5);
	/* A fragmented unmasked text message: "Hel" then "lo". */
	const uint8_t first[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
	const uint8_t last[] = {0x80, 0x02, 0x6c, 0x6f};
	CHECK_INT(ws_parse_head(first, sizeof(first), &h), 1);
	CHECK(!h.fin && h.opcode == WS_TEXT);
	CHECK_INT(ws_parse_head(last, sizeof(last), &h), 1);
	CHECK(h.fin && h.opcode == WS_CONTINUATION);
	/* 256 bytes and 64 KiB binary messages in one unmasked frame. */
	const uint8_t h256[] = {0x82, 0x7e, 0x01, 0x00};
	CHECK_INT(ws_parse_head(h256, sizeof(h256), &h), 1);
	CHECK(h.payload_len == 256 && h.head_len == 4);
	const uint8_t h64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
	CHECK_INT(ws_parse_head(h64k, sizeof(h64k), &h), 1);
	CHECK(h.payload_len == 65536 && h.head_len == 10);

	/* Every prefix of a head is incomplete. */
	for (size_t n = 0; n < 10; n++)
		CHECK_INT(ws_parse_head(h64k, n, &h), 0);
	for (size_t n = 0; n < 6; n++)
		CHECK_INT(ws_parse_head(masked, n, &h), 0);

	/* Section 1.3's accept key. */
	char accept[WS_ACCEPT_SIZE];
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
	CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void bad_head(const uint8_t *b, size_t n)
{
	struct ws_head h;
	CHECK_INT(ws_parse_head(b, n, &h), -EBADMSG);
}

static void test_bad_heads(void)
{
	bad_head((const uint8_t[]){0xc2, 0x00}, 2);		/* RSV1 */
	bad_head((const uint8_t[]){0xa2, 0x00}, 2);		/* RSV2 */
	bad_head((const uint8_t[]){0x92, 0x00}, 2);		/* RSV3 */
	bad_head((const uint8_t[]){0x83, 0x00}, 2);		/* opcode 3 */
	bad_head((const uint8_t[]){0x8b, 0x00}, 2);		/* opcode 0xb */
	bad_head((const uint8_t[]){0x09, 0x00}, 2);		/* a fragmented ping */
	bad_head((const uint8_t[]){0x88, 0x7e, 0x00, 0x7e}, 2); /* close > 125 */
	bad_head((const uint8_t[]){0x82, 0x7e, 0x00, 0x7d}, 4); /* 125 in 16 bits */
	bad_head((const uint8_t[]){0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 10); /* in 64 */
	bad_head((const uint8_t[]){0x82, 0x7f, 0x80, 0, 0, 0, 0, 1, 0, 0}, 10);	   /* top bit */
}

static void test_write_head(void)
{
	static const uint64_t lens[] = {
	    0, 1, 125, 126, 127, 65535, 65536, 1u << 20, (uint64_t)1 << 40};
	static const size_t want_len[] = {2, 2, 2, 4, 4, 4, 10, 10, 10};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int m = 0; m < 2; m++) {
			uint8_t head[WS_MAX_HEAD];
			struct ws_head h;
			size_t n =
			    ws_write_head(head, WS_BINARY, i % 2, lens[i], m ? mask_bytes : NULL);
			CHECK_INT(n, want_len[i] + (m ? 4 : 0));
			CHECK_INT(ws_parse_head(head, n, &h), 1);
			CHECK(h.payload_len == lens[i] && h.head_len == n && h.masked == m &&
			      h.fin == (i % 2) && h.opcode == WS_BINARY);
			CHECK(!m || memcmp(h.mask, mask_bytes, 4) == 0);
		}
	}
}

static void test_mask_offset(void)
{
	uint8_t a[37], b[37];
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 7);
	ws_mask(a, sizeof(a), mask_bytes, 0);
	ws_mask(b, 5, mask_bytes, 0);
	ws_mask(b + 5, 13, mask_bytes, 5);
	ws_mask(b + 18, 19, mask_bytes, 18);
	CHECK_MEM(a, b, sizeof(a));
	ws_mask(a, sizeof(a), mask_bytes, 0);
	CHECK_INT(a[36], (uint8_t)(36 * 7));
}

/* Appends one frame to out; a client's frames are masked. */
static size_t frame(uint8_t *out, uint8_t opcode, bool fin, const char *payload, bool masked)
{
	size_t len = strlen(payload);
	size_t n = ws_write_head(out, opcode, fin, len, masked ? mask_bytes : NULL);
	memcpy(out + n, payload, len);
	if (masked)
		ws_mask(out + n, len, mask_bytes, 0);
	return n + len;
}

/* Feeds stream in pieces of step bytes and expects the messages, in order,
 * as "<opcode>:<payload>" strings. */
static void expect_messages(bool from_client, const uint8_t *stream, size_t len, size_t step,
			    const char *const *want, size_t nwant)
{
	struct ws_reader r;
	ws_reader_init(&r, from_client, 1000);
	size_t got = 0;
	for (size_t off = 0; off < len; off += step) {
		size_t n = len - off < step ? len - off : step;
		CHECK_INT(ws_reader_feed(&r, stream + off, n), 0);
		uint8_t op;
		const uint8_t *data;
		size_t dlen;
		int rc;
		while ((rc = ws_reader_next(&r, &op, &data, &dlen)) == 1) {
			char text[1100];
			snprintf(text, sizeof(text), "%x:%.*s", op, (int)dlen, (const char *)data);
			CHECK(got < nwant);
			if (got < nwant) {
				if (strcmp(text, want[got]) != 0)
					fprintf(stderr, "    step %zu: got '%s', want '%s'\n", step,
						text, want[got]);
				CHECK_STR(text, want[got]);
			}
			got++;
		}
		CHECK_INT(rc, 0);
	}
	CHECK_INT(got, nwant);
	CHECK_INT(ws_reader_held(&r), 0);
	ws_reader_free(&r);
}

static void test_reader_messages(void)
{
	for (int side = 0; side < 2; side++) {
		bool from_client = side;
		uint8_t s[512];
		size_t n = 0;
		n += frame(s + n, WS_BINARY, true, "one", from_client);
		n += frame(s + n, WS_TEXT, false, "fr", from_client);
		n += frame(s + n, WS_PING, true, "p1", from_client);
		n += frame(s + n, WS_CONTINUATION, false, "ag", from_client);
		n += frame(s + n, WS_CONTINUATION, false, "", from_client);
		n += frame(s + n, WS_PONG, true, "", from_client);
		n += frame(s + n, WS_CONTINUATION, true, "mented", from_client);
		n += frame(s + n, WS_BINARY, false, "", from_client);
		n += frame(s + n, WS_CONTINUATION, true, "", from_client);
		n += frame(s + n, WS_CLOSE, true, "\x03\xe8", from_client);
		static const char *const want[] = {
		    "2:one", "9:p1", "a:", "1:fragmented", "2:", "8:\x03\xe8"};
		for (size_t step = 1; step <= n; step++)
			expect_messages(from_client, s, n, step, want, 6);
	}
}

/* The first message or error of a stream fed at once. */
static int first_result(bool from_client, size_t max_message, const uint8_t *s, size_t n)
{
	struct ws_reader r;
	uint8_t op;
	const uint8_t *data;
	size_t len;
	ws_reader_init(&r, from_client, max_message);
	int rc = ws_reader_feed(&r, s, n);
	while (rc == 0 && (rc = ws_reader_next(&r, &op, &data, &len)) == 1)
		rc = 0;
	/* After an error, the reader stays failed. */
	if (rc < 0) {
		CHECK_INT(ws_reader_next(&r, &op, &data, &len), -EBADMSG);
		CHECK_INT(ws_reader_feed(&r, s, 1), -EBADMSG);
	}
	ws_reader_free(&r);
	return rc;
}

static void test_reader_errors(void)
{
	uint8_t s[4096];
	size_t n;

	/* Masking wrong for the side. */
	n = frame(s, WS_BINARY, true, "x", false);
	CHECK_INT(first_result(true, 100, s, n), -EBADMSG);
	n = frame(s, WS_BINARY, true, "x", true);
	CHECK_INT(first_result(false, 100, s, n), -EBADMSG);
	/* A continuation without a start. */
	n = frame(s, WS_CONTINUATION, true, "x", false);
	CHECK_INT(first_result(false, 100, s, n), -EBADMSG);
	/* A new data frame inside a fragmented message. */
	n = frame(s, WS_TEXT, false, "a", false);
	n += frame(s + n, WS_BINARY, true, "b", false);
	CHECK_INT(first_result(false, 100, s, n), -EBADMSG);
	/* A bad head after a good message. */
	n = frame(s, WS_TEXT, true, "a", false);
	s[n++] = 0xc2;
	s[n++] = 0;
	CHECK_INT(first_result(false, 100, s, n), -EBADMSG);

	/* max_message exactly is fine; one more byte is refused from the head
	 * alone, before the payload arrives. */
	char payload[101];
	memset(payload, 'z', 100);
	payload[100] = '\0';
	n = frame(s, WS_BINARY, true, payload, false);
	CHECK_INT(first_result(false, 100, s, n), 0);
	CHECK_INT(first_result(false, 99, s, 2), -EMSGSIZE);
	/* Fragments that add up to more than max_message. */
	n = frame(s, WS_BINARY, false, payload + 40, false);
	n += frame(s + n, WS_CONTINUATION, false, payload + 40, false);
	CHECK_INT(first_result(false, 119, s, n), -EMSGSIZE);
	CHECK_INT(first_result(false, 120, s, n), 0);
	CHECK_INT(first_result(false, 120, s, n - 60), 0);
	/* A head announcing 2^62 bytes. */
	const uint8_t huge[] = {0x82, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0};
	CHECK_INT(first_result(false, 1 << 20, huge, sizeof(huge)), -EMSGSIZE);
	/* A control frame may come when the message is at its maximum. */
	n = frame(s, WS_BINARY, false, payload, false);
	n += frame(s + n, WS_PING, true, "ping", false);
	n += frame(s + n, WS_CONTINUATION, true, "", false);
	CHECK_INT(first_result(false, 100, s, n), 0);
}

/* A 1 MiB message fed in 1000-byte pieces, drained between feeds: the
 * reader never holds more than the bound; feeding without draining is
 * refused once past it. */
static void test_reader_bound(void)
{
	enum { MAX = 1 << 20 };
	size_t total = WS_MAX_HEAD + MAX;
	uint8_t *s = malloc(total + 1000);
	CHECK(s != NULL);
	if (!s)
		return;
	size_t head = ws_write_head(s, WS_BINARY, true, MAX, mask_bytes);
	for (size_t i = 0; i < MAX; i++)
		s[head + i] = (uint8_t)(i ^ mask_bytes[i & 3]);
	size_t n = head + MAX;
	n += frame(s + n, WS_PING, true, "after", true);

	struct ws_reader r;
	ws_reader_init(&r, true, MAX);
	size_t max_held = 0, messages = 0;
	for (size_t off = 0; off < n; off += 1000) {
		size_t piece = n - off < 1000 ? n - off : 1000;
		CHECK_INT(ws_reader_feed(&r, s + off, piece), 0);
		uint8_t op;
		const uint8_t *data;
		size_t len;
		int rc;
		while ((rc = ws_reader_next(&r, &op, &data, &len)) == 1) {
			if (messages == 0) {
				CHECK(op == WS_BINARY && len == MAX);
				CHECK(len == MAX && data[12345] == (uint8_t)12345 &&
				      data[MAX - 1] == (uint8_t)(MAX - 1));
			} else {
				CHECK(op == WS_PING && len == 5 && memcmp(data, "after", 5) == 0);
			}
			messages++;
		}
		CHECK_INT(rc, 0);
		if (ws_reader_held(&r) > max_held)
			max_held = ws_reader_held(&r);
	}
	CHECK_INT(messages, 2);
	CHECK(max_held <= MAX + WS_MAX_HEAD + WS_MAX_CONTROL);
	CHECK(r.cap <= 2 * MAX);
	ws_reader_free(&r);

	/* Not drained: fine up to the bound, refused past it. */
	ws_reader_init(&r, true, 1000);
	memset(s, 0, 2000);
	CHECK_INT(ws_reader_feed(&r, s, 1000), 0);
	CHECK_INT(ws_reader_feed(&r, s, 1000), 0);
	CHECK_INT(ws_reader_feed(&r, s, 1), -EMSGSIZE);
	ws_reader_free(&r);
	free(s);
}

int main(void)
{
	test_rfc_examples();
	test_bad_heads();
	test_write_head();
	test_mask_offset();
	test_reader_messages();
	test_reader_errors();
	test_reader_bound();
	return check_done();
}
