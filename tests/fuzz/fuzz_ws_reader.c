/* The WebSocket reader on arbitrary bytes, on both sides, fed at once and
 * in pieces whose sizes come from the input: the messages (opcode and
 * bytes), the final error and what is left held must not depend on the
 * pieces; messages respect max_message and control frames 125 bytes; a
 * drained reader stays within its memory bound. Also checks ws_parse_head()
 * against ws_write_head() on the first bytes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct log {
	uint8_t *buf;
	size_t len, cap;
};

static void log_message(struct log *log, uint8_t op, const uint8_t *msg, size_t len)
{
	if (log->cap - log->len < 5 + len)
		abort(); /* sized for the input: cannot happen */
	log->buf[log->len++] = op;
	memcpy(log->buf + log->len, &len, 4);
	log->len += 4;
	if (len)
		memcpy(log->buf + log->len, msg, len);
	log->len += len;
}

/* Feeds stream in pieces (sizes from seed, 0 = at once); returns the final
 * status (0 or the error) and logs the messages. */
static int run(bool from_client, size_t max_message, const uint8_t *stream, size_t len,
	       uint32_t seed, struct log *log, size_t *held)
{
	struct ws_reader r;
	int rc = 0;
	ws_reader_init(&r, from_client, max_message);
	for (size_t off = 0; off < len && rc == 0;) {
		size_t piece = len - off;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % 37;
			if (want < piece)
				piece = want;
		}
		rc = ws_reader_feed(&r, stream + off, piece);
		if (rc != 0)
			abort(); /* drained every time: never over the bound */
		off += piece;
		uint8_t op;
		const uint8_t *msg;
		size_t mlen;
		while ((rc = ws_reader_next(&r, &op, &msg, &mlen)) == 1) {
			if (op & 0x08) {
				if (mlen > WS_MAX_CONTROL)
					abort();
			} else if (mlen > max_message || (op != WS_TEXT && op != WS_BINARY)) {
				abort();
			}
			log_message(log, op, msg, mlen);
		}
		if (rc == 0 && ws_reader_held(&r) > max_message + WS_MAX_HEAD + WS_MAX_CONTROL)
			abort();
	}
	*held = rc == 0 ? ws_reader_held(&r) : 0;
	ws_reader_free(&r);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	size_t max_message = 1 + (size_t)(data[0] | data[1] << 8) % 300;
	uint32_t seed = data[2] | 1u;
	const uint8_t *stream = data + 3;
	size_t len = size - 3;

	struct ws_head h;
	if (ws_parse_head(stream, len, &h) == 1) {
		uint8_t head[WS_MAX_HEAD];
		size_t n =
		    ws_write_head(head, h.opcode, h.fin, h.payload_len, h.masked ? h.mask : NULL);
		if (n != h.head_len || memcmp(head, stream, n) != 0)
			abort(); /* only shortest forms are accepted */
	}

	size_t cap = len + 5 * (len / 2 + 1) + 16;
	struct log a = {.buf = malloc(cap), .cap = cap}, b = {.buf = malloc(cap), .cap = cap};
	if (!a.buf || !b.buf)
		goto out;
	for (int side = 0; side < 2; side++) {
		size_t held_a, held_b;
		a.len = b.len = 0;
		int rc_a = run(side, max_message, stream, len, 0, &a, &held_a);
		int rc_b = run(side, max_message, stream, len, seed, &b, &held_b);
		if (rc_a != rc_b || held_a != held_b || a.len != b.len ||
		    memcmp(a.buf, b.buf, a.len) != 0)
			abort();
		if (rc_a != 0 && rc_a != -EBADMSG && rc_a != -EMSGSIZE)
			abort();
	}
out:
	free(a.buf);
	free(b.buf);
	return 0;
}
