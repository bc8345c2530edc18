/* WebSocket framing (RFC 6455), pure: frame heads, masking, the handshake's
 * accept key, and an incremental reader that turns a byte stream into
 * whole messages. The relay protocol runs one relay frame per binary
 * message. No I/O; the reader owns a buffer bounded by max_message.
 *
 * Written here rather than with libwslay: the relay needs only these few
 * pure functions, they must run on bytes we already hold (after TLS), and
 * wslay's event API wants to own the I/O and copy every message. */
#ifndef IRON_WEBSOCKET_H
#define IRON_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_CONTINUATION = 0x0,
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,
	WS_PING = 0x9,
	WS_PONG = 0xa,
};

#define WS_MAX_HEAD    14  /* 2 + 8 (length) + 4 (mask) */
#define WS_MAX_CONTROL 125 /* payload of a control frame */
#define WS_ACCEPT_SIZE 29  /* base64 of a SHA-1, and a NUL */

struct ws_head {
	bool fin;
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t payload_len;
	size_t head_len; /* bytes the head took, 2-14 */
};

/* Parses a frame head at buf. Returns 1 (out filled), 0 (more bytes
 * needed) or -EBADMSG: a reserved bit set, an unknown opcode, a control
 * frame fragmented or longer than 125 bytes, a 64-bit length with its top
 * bit set, or a length not in its shortest form. */
int ws_parse_head(const uint8_t *buf, size_t len, struct ws_head *out);

/* Writes a frame head into out (WS_MAX_HEAD bytes); mask NULL for an
 * unmasked frame (server to client), else the 4 mask bytes (client to
 * server, which must then mask the payload with ws_mask()). Returns the
 * head's length. */
size_t ws_write_head(uint8_t out[WS_MAX_HEAD], uint8_t opcode, bool fin, uint64_t payload_len,
		     const uint8_t *mask);

/* XORs len bytes of data with the mask, as if data started offset bytes
 * into the payload. Its own inverse. */
void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key ||
 * 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)), NUL-terminated in out. */
void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_SIZE]);

/* An incremental reader: feed bytes as they arrive, take whole messages. */
struct ws_reader {
	bool from_client;   /* frames must be masked (a server's reader) or must not */
	size_t max_message; /* a longer message is an error (-EMSGSIZE) */
	/* private */
	uint8_t *buf; /* bytes fed and not yet consumed */
	size_t len, cap, start;
	uint8_t *msg; /* a fragmented message being assembled */
	size_t msg_len, msg_cap;
	uint8_t msg_opcode;
	bool in_message;
};

void ws_reader_init(struct ws_reader *r, bool from_client, size_t max_message);
void ws_reader_free(struct ws_reader *r);

/* Appends bytes. Call ws_reader_next() until it returns 0 between feeds:
 * a reader so drained holds at most max_message + WS_MAX_HEAD +
 * WS_MAX_CONTROL bytes (frames too long for max_message are refused from
 * their heads), so memory stays within that plus one feed. Returns 0,
 * -ENOMEM, or -EMSGSIZE when the reader already holds more than that (it
 * was not drained); -EBADMSG after an error of ws_reader_next(). */
int ws_reader_feed(struct ws_reader *r, const uint8_t *data, size_t len);

/* Takes the next whole message: returns 1 and sets opcode (WS_TEXT,
 * WS_BINARY, or a control opcode, which may come between the fragments of
 * a message), data (unmasked, valid until the next call on r) and len; 0
 * when no whole message is held; -EBADMSG for a protocol error (masking
 * wrong for the side, a continuation without a start, a new data frame in
 * the middle of a fragmented one, a bad head); -EMSGSIZE for a message
 * over max_message (known from the head of the frame that passes it);
 * -ENOMEM. Control frames are not counted against max_message. After an
 * error the reader must not be used again (except ws_reader_free()); calls
 * return -EBADMSG. */
int ws_reader_next(struct ws_reader *r, uint8_t *opcode, const uint8_t **data, size_t *len);

/* Bytes currently held (buffered input plus a partial message). */
size_t ws_reader_held(const struct ws_reader *r);

#endif
