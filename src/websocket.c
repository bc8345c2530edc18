/* WebSocket framing (RFC 6455 section 5) and the accept key (section 4.2.2).
 *
 * The reader keeps fed bytes in one buffer, compacted on the next feed. A
 * whole unfragmented message is unmasked in place and returned from that
 * buffer without a copy; only the fragments of a fragmented message are
 * copied, into a second buffer that never grows past max_message. A frame
 * too long for the message is refused from its head, before its payload
 * is waited for. */
#include "iron/websocket.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "iron/encoding.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* msg_opcode of a reader that has failed: every later call fails too. */
#define WS_READER_FAILED 0xff

static bool known_opcode(uint8_t op)
{
	return op <= WS_BINARY || (op >= WS_CLOSE && op <= WS_PONG);
}

int ws_parse_head(const uint8_t *buf, size_t len, struct ws_head *out)
{
	if (len < 2)
		return 0;
	uint8_t b0 = buf[0], b1 = buf[1];
	if (b0 & 0x70)
		return -EBADMSG; /* RSV1-3: no extension was negotiated */
	uint8_t op = b0 & 0x0f;
	if (!known_opcode(op))
		return -EBADMSG;
	bool fin = b0 & 0x80, masked = b1 & 0x80;
	uint64_t plen = b1 & 0x7f;
	if ((op & 0x08) && (!fin || plen > WS_MAX_CONTROL))
		return -EBADMSG;

	size_t head = 2;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (uint64_t)buf[2] << 8 | buf[3];
		if (plen < 126)
			return -EBADMSG;
		head = 4;
	} else if (plen == 127) {
		if (len < 10)
			return 0;
		plen = 0;
		for (int i = 0; i < 8; i++)
			plen = plen << 8 | buf[2 + i];
		if (plen >> 63 || plen <= 0xffff)
			return -EBADMSG;
		head = 10;
	}
	if (masked) {
		if (len < head + 4)
			return 0;
		memcpy(out->mask, buf + head, 4);
		head += 4;
	} else {
		memset(out->mask, 0, 4);
	}
	out->fin = fin;
	out->opcode = op;
	out->masked = masked;
	out->payload_len = plen;
	out->head_len = head;
	return 1;
}

size_t ws_write_head(uint8_t out[WS_MAX_HEAD], uint8_t opcode, bool fin, uint64_t payload_len,
		     const uint8_t *mask)
{
	size_t n = 0;
	out[n++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	uint8_t mask_bit = mask ? 0x80 : 0;
	if (payload_len < 126) {
		out[n++] = (uint8_t)(mask_bit | payload_len);
	} else if (payload_len <= 0xffff) {
		out[n++] = mask_bit | 126;
		out[n++] = (uint8_t)(payload_len >> 8);
		out[n++] = (uint8_t)payload_len;
	} else {
		out[n++] = mask_bit | 127;
		for (int i = 7; i >= 0; i--)
			out[n++] = (uint8_t)(payload_len >> (8 * i));
	}
	if (mask) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

void ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		data[i] ^= mask[(offset + i) & 3];
}

void ws_accept_key(const char *key, size_t key_len, char out[WS_ACCEPT_SIZE])
{
	gnutls_hash_hd_t hash;
	uint8_t digest[20];

	out[0] = '\0';
	/* Hashed in two pieces: the key is the peer's and of any length. */
	if (gnutls_hash_init(&hash, GNUTLS_DIG_SHA1) < 0)
		return;
	if (gnutls_hash(hash, key, key_len) < 0 ||
	    gnutls_hash(hash, WS_GUID, sizeof(WS_GUID) - 1) < 0) {
		gnutls_hash_deinit(hash, NULL);
		return;
	}
	gnutls_hash_deinit(hash, digest);
	encoding_base64_encode(digest, sizeof(digest), out, WS_ACCEPT_SIZE);
}

/* What a reader that is drained (ws_reader_next() returned 0) can hold at
 * most: a message short of its last frame, and an incomplete frame, which
 * is a head and either the rest of the message or a control payload. */
static size_t reader_limit(const struct ws_reader *r)
{
	return r->max_message + WS_MAX_HEAD + WS_MAX_CONTROL;
}

void ws_reader_init(struct ws_reader *r, bool from_client, size_t max_message)
{
	memset(r, 0, sizeof(*r));
	r->from_client = from_client;
	r->max_message = max_message;
}

void ws_reader_free(struct ws_reader *r)
{
	free(r->buf);
	free(r->msg);
	r->buf = r->msg = NULL;
	r->len = r->cap = r->start = 0;
	r->msg_len = r->msg_cap = 0;
	r->in_message = false;
}

size_t ws_reader_held(const struct ws_reader *r)
{
	return (r->len - r->start) + (r->in_message ? r->msg_len : 0);
}

int ws_reader_feed(struct ws_reader *r, const uint8_t *data, size_t len)
{
	if (r->msg_opcode == WS_READER_FAILED)
		return -EBADMSG;
	if (ws_reader_held(r) > reader_limit(r))
		return -EMSGSIZE; /* not drained: more than any message needs */
	if (len == 0)
		return 0;
	/* Messages returned earlier are invalid from here on: compact. */
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->len - r->start);
		r->len -= r->start;
		r->start = 0;
	}
	if (len > r->cap - r->len) {
		size_t want = r->len + len, cap = r->cap ? r->cap : 4096;
		while (cap < want)
			cap *= 2;
		uint8_t *buf = realloc(r->buf, cap);
		if (!buf)
			return -ENOMEM;
		r->buf = buf;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

static int reader_fail(struct ws_reader *r, int err)
{
	r->msg_opcode = WS_READER_FAILED;
	return err;
}

static int append_fragment(struct ws_reader *r, const uint8_t *p, size_t n)
{
	if (n > r->msg_cap - r->msg_len) {
		size_t want = r->msg_len + n, cap = r->msg_cap ? r->msg_cap : 4096;
		while (cap < want)
			cap *= 2;
		if (cap > r->max_message)
			cap = r->max_message;
		uint8_t *msg = realloc(r->msg, cap);
		if (!msg)
			return -ENOMEM;
		r->msg = msg;
		r->msg_cap = cap;
	}
	if (n)
		memcpy(r->msg + r->msg_len, p, n);
	r->msg_len += n;
	return 0;
}

int ws_reader_next(struct ws_reader *r, uint8_t *opcode, const uint8_t **data, size_t *len)
{
	if (r->msg_opcode == WS_READER_FAILED)
		return -EBADMSG;
	if (!r->in_message)
		r->msg_len = 0; /* a message returned last time */
	for (;;) {
		struct ws_head h;
		size_t avail = r->len - r->start;
		if (avail == 0)
			return 0; /* also a reader never fed: buf is NULL */
		int rc = ws_parse_head(r->buf + r->start, avail, &h);
		if (rc < 0)
			return reader_fail(r, -EBADMSG);
		if (rc == 0)
			return 0;
		if (h.masked != r->from_client)
			return reader_fail(r, -EBADMSG);
		bool control = h.opcode & 0x08;
		if (!control) {
			if (h.opcode == WS_CONTINUATION && !r->in_message)
				return reader_fail(r, -EBADMSG);
			if (h.opcode != WS_CONTINUATION && r->in_message)
				return reader_fail(r, -EBADMSG);
			size_t so_far = r->in_message ? r->msg_len : 0;
			if (h.payload_len > r->max_message - so_far)
				return reader_fail(r, -EMSGSIZE);
		}
		if (avail - h.head_len < h.payload_len)
			return 0;

		size_t plen = (size_t)h.payload_len;
		uint8_t *payload = r->buf + r->start + h.head_len;
		if (h.masked)
			ws_mask(payload, plen, h.mask, 0);
		r->start += h.head_len + plen;
		if (r->start == r->len)
			r->start = r->len = 0; /* the bytes stay where they are */

		if (control || (h.opcode != WS_CONTINUATION && h.fin)) {
			*opcode = h.opcode;
			*data = payload;
			*len = plen;
			return 1;
		}
		if (h.opcode != WS_CONTINUATION) {
			r->in_message = true;
			r->msg_opcode = h.opcode;
			r->msg_len = 0;
		}
		if (append_fragment(r, payload, plen) != 0)
			return reader_fail(r, -ENOMEM);
		if (h.fin) {
			r->in_message = false;
			*opcode = r->msg_opcode;
			*data = r->msg;
			*len = r->msg_len;
			return 1;
		}
	}
}
