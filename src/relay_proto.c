/* iroh-relay 1.x frames, byte for byte as iroh-relay/src/protos/ writes
 * and reads them (common.rs for the type, relay.rs for the relay frames,
 * handshake.rs for the postcard-serialized handshake frames), and the
 * challenge signature. */
#include "iron/relay_proto.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "iron/blake3.h"
#include "iron/utf8.h"

/* postcard's length prefix of the 64-byte signature (serde_bytes): a
 * one-byte LEB128 varint. */
#define POSTCARD_SIG_PREFIX 0x40

/* A bounds-checked cursor over one message. */
struct reader {
	const uint8_t *msg;
	size_t len;
	size_t pos;
};

static size_t reader_left(const struct reader *r)
{
	return r->len - r->pos;
}

static int reader_bytes(struct reader *r, void *out, size_t n)
{
	if (reader_left(r) < n)
		return -EBADMSG;
	memcpy(out, r->msg + r->pos, n);
	r->pos += n;
	return 0;
}

static int reader_u8(struct reader *r, uint8_t *value)
{
	return reader_bytes(r, value, 1);
}

static int reader_u16(struct reader *r, uint16_t *value)
{
	uint8_t b[2];
	if (reader_bytes(r, b, 2) != 0)
		return -EBADMSG;
	*value = (uint16_t)(b[0] << 8 | b[1]);
	return 0;
}

static int reader_u32(struct reader *r, uint32_t *value)
{
	uint8_t b[4];
	if (reader_bytes(r, b, 4) != 0)
		return -EBADMSG;
	*value = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

/* A QUIC variable-length integer (RFC 9000 section 16), which for a frame
 * type must be in its shortest form (section 12.4). */
static int reader_quic_varint(struct reader *r, uint64_t *value)
{
	if (reader_left(r) < 1)
		return -EBADMSG;
	size_t n = (size_t)1 << (r->msg[r->pos] >> 6);
	if (reader_left(r) < n)
		return -EBADMSG;
	uint64_t v = r->msg[r->pos] & 0x3f;
	for (size_t i = 1; i < n; i++)
		v = v << 8 | r->msg[r->pos + i];
	static const uint64_t min_for_len[9] = {0, 0, 1u << 6, 0, 1u << 14, 0, 0, 0, 1u << 30};
	if (v < min_for_len[n])
		return -EBADMSG;
	r->pos += n;
	*value = v;
	return 0;
}

/* postcard's unsigned varint (LEB128, at most 10 bytes for a u64 usize),
 * in the canonical form postcard writes. */
static int reader_postcard_varint(struct reader *r, uint64_t *value)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 10; i++) {
		uint8_t b;
		if (reader_u8(r, &b) != 0)
			return -EBADMSG;
		if (i == 9 && b > 1)
			return -EBADMSG; /* beyond 64 bits */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (b == 0 && i > 0)
				return -EBADMSG; /* not the shortest form */
			*value = v;
			return 0;
		}
	}
	return -EBADMSG;
}

static bool valid_utf8(const uint8_t *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_sequence(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

static bool is_datagram(enum relay_frame_type type)
{
	return type >= RELAY_CLIENT_TO_RELAY_DATAGRAM &&
	       type <= RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH;
}

static bool is_batch(enum relay_frame_type type)
{
	return type == RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH ||
	       type == RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH;
}

static int decode_payload(struct reader *r, struct relay_frame *out)
{
	size_t left = reader_left(r);
	uint64_t n;

	/* relay.rs checks this for every frame after the handshake. */
	if (out->type >= RELAY_CLIENT_TO_RELAY_DATAGRAM && left > RELAY_MAX_PACKET)
		return -EBADMSG;
	switch (out->type) {
	case RELAY_SERVER_CHALLENGE: /* postcard [u8; 16]: the bytes */
		if (left != RELAY_CHALLENGE_LEN)
			return -EBADMSG;
		return reader_bytes(r, out->challenge, RELAY_CHALLENGE_LEN);
	case RELAY_CLIENT_AUTH: /* [u8; 32] as is, then serde_bytes [u8; 64]: length, bytes */
		if (left != RELAY_KEY_LEN + 1 + RELAY_SIG_LEN)
			return -EBADMSG;
		reader_bytes(r, out->key, RELAY_KEY_LEN);
		if (reader_postcard_varint(r, &n) != 0 || n != RELAY_SIG_LEN)
			return -EBADMSG;
		return reader_bytes(r, out->signature, RELAY_SIG_LEN);
	case RELAY_SERVER_CONFIRMS_AUTH: /* a unit struct: nothing */
		return left == 0 ? 0 : -EBADMSG;
	case RELAY_SERVER_DENIES_AUTH: /* a String: length, UTF-8 */
	case RELAY_HEALTH:	       /* the UTF-8 bytes, no length */
		if (out->type == RELAY_SERVER_DENIES_AUTH) {
			if (reader_postcard_varint(r, &n) != 0 || n != reader_left(r))
				return -EBADMSG;
		}
		out->data = r->msg + r->pos;
		out->data_len = reader_left(r);
		r->pos = r->len;
		return valid_utf8(out->data, out->data_len) ? 0 : -EBADMSG;
	case RELAY_CLIENT_TO_RELAY_DATAGRAM:
	case RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH:
		if (reader_bytes(r, out->key, RELAY_KEY_LEN) != 0 || reader_u8(r, &out->ecn) != 0)
			return -EBADMSG;
		if (out->ecn > 3)
			return -EBADMSG;
		if (is_batch(out->type)) {
			if (reader_u16(r, &out->segment_size) != 0 || out->segment_size == 0)
				return -EBADMSG;
		}
		out->data = r->msg + r->pos;
		out->data_len = reader_left(r);
		r->pos = r->len;
		return 0;
	case RELAY_ENDPOINT_GONE:
		if (left != RELAY_KEY_LEN)
			return -EBADMSG;
		return reader_bytes(r, out->key, RELAY_KEY_LEN);
	case RELAY_PING:
	case RELAY_PONG:
		if (left != RELAY_PING_LEN)
			return -EBADMSG;
		return reader_bytes(r, out->ping, RELAY_PING_LEN);
	case RELAY_RESTARTING: /* two big-endian u32 milliseconds */
		if (left != 8)
			return -EBADMSG;
		reader_u32(r, &out->reconnect_in_ms);
		return reader_u32(r, &out->try_for_ms);
	case RELAY_STATUS:
		/* iroh reads the first byte and ignores the rest. */
		if (reader_u8(r, &out->status) != 0)
			return -EBADMSG;
		r->pos = r->len;
		return 0;
	}
	return -ENOTSUP;
}

int relay_frame_decode(const uint8_t *msg, size_t len, struct relay_frame *out)
{
	struct reader r = {.msg = msg, .len = len, .pos = 0};
	uint64_t type;

	memset(out, 0, sizeof(*out));
	if (reader_quic_varint(&r, &type) != 0)
		return -EBADMSG;
	if (type > RELAY_STATUS)
		return -ENOTSUP;
	out->type = (enum relay_frame_type)type;
	int rc = decode_payload(&r, out);
	if (rc != 0) {
		enum relay_frame_type t = out->type;
		memset(out, 0, sizeof(*out));
		out->type = t;
	}
	return rc;
}

size_t relay_datagram_head(uint8_t *out, enum relay_frame_type type,
			   const uint8_t key[RELAY_KEY_LEN], uint8_t ecn, uint16_t segment_size)
{
	size_t n = 0;
	out[n++] = (uint8_t)type; /* every type < 64: a one-byte varint */
	memcpy(out + n, key, RELAY_KEY_LEN);
	n += RELAY_KEY_LEN;
	out[n++] = ecn & 3;
	if (is_batch(type)) {
		out[n++] = (uint8_t)(segment_size >> 8);
		out[n++] = (uint8_t)segment_size;
	}
	return n;
}

static size_t postcard_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* The payload's length (after the type byte), or -EINVAL. */
static ssize_t payload_len(const struct relay_frame *f)
{
	size_t n;
	switch (f->type) {
	case RELAY_SERVER_CHALLENGE:
		return RELAY_CHALLENGE_LEN;
	case RELAY_CLIENT_AUTH:
		return RELAY_KEY_LEN + 1 + RELAY_SIG_LEN;
	case RELAY_SERVER_CONFIRMS_AUTH:
		return 0;
	case RELAY_SERVER_DENIES_AUTH:
		if (f->data_len >= RELAY_MAX_MESSAGE || !valid_utf8(f->data, f->data_len))
			return -EINVAL;
		return (ssize_t)(postcard_varint_len(f->data_len) + f->data_len);
	case RELAY_CLIENT_TO_RELAY_DATAGRAM:
	case RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH:
		if (f->ecn > 3 || (is_batch(f->type) && f->segment_size == 0))
			return -EINVAL;
		n = RELAY_KEY_LEN + 1 + (is_batch(f->type) ? 2 : 0);
		if (f->data_len > RELAY_MAX_PACKET - n)
			return -EINVAL; /* iroh would refuse the frame */
		return (ssize_t)(n + f->data_len);
	case RELAY_ENDPOINT_GONE:
		return RELAY_KEY_LEN;
	case RELAY_PING:
	case RELAY_PONG:
		return RELAY_PING_LEN;
	case RELAY_HEALTH:
		if (f->data_len > RELAY_MAX_PACKET || !valid_utf8(f->data, f->data_len))
			return -EINVAL;
		return (ssize_t)f->data_len;
	case RELAY_RESTARTING:
		return 8;
	case RELAY_STATUS:
		return 1;
	}
	return -EINVAL;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

ssize_t relay_frame_encode(const struct relay_frame *f, uint8_t *out, size_t cap)
{
	ssize_t plen = payload_len(f);
	if (plen < 0)
		return plen;
	size_t total = 1 + (size_t)plen;
	if (total > RELAY_MAX_MESSAGE)
		return -EINVAL;
	if (cap < total)
		return -ENOBUFS;

	uint8_t *p = out;
	*p++ = (uint8_t)f->type;
	switch (f->type) {
	case RELAY_SERVER_CHALLENGE:
		memcpy(p, f->challenge, RELAY_CHALLENGE_LEN);
		break;
	case RELAY_CLIENT_AUTH:
		memcpy(p, f->key, RELAY_KEY_LEN);
		p[RELAY_KEY_LEN] = POSTCARD_SIG_PREFIX;
		memcpy(p + RELAY_KEY_LEN + 1, f->signature, RELAY_SIG_LEN);
		break;
	case RELAY_SERVER_CONFIRMS_AUTH:
		break;
	case RELAY_SERVER_DENIES_AUTH: {
		size_t v = f->data_len;
		while (v >= 0x80) {
			*p++ = (uint8_t)(v | 0x80);
			v >>= 7;
		}
		*p++ = (uint8_t)v;
		if (f->data_len)
			memcpy(p, f->data, f->data_len);
		break;
	}
	case RELAY_CLIENT_TO_RELAY_DATAGRAM:
	case RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH: {
		size_t head = relay_datagram_head(out, f->type, f->key, f->ecn, f->segment_size);
		if (f->data_len)
			memcpy(out + head, f->data, f->data_len);
		break;
	}
	case RELAY_ENDPOINT_GONE:
		memcpy(p, f->key, RELAY_KEY_LEN);
		break;
	case RELAY_PING:
	case RELAY_PONG:
		memcpy(p, f->ping, RELAY_PING_LEN);
		break;
	case RELAY_HEALTH:
		if (f->data_len)
			memcpy(p, f->data, f->data_len);
		break;
	case RELAY_RESTARTING:
		put_u32(put_u32(p, f->reconnect_in_ms), f->try_for_ms);
		break;
	case RELAY_STATUS:
		*p = f->status;
		break;
	}
	return (ssize_t)total;
}

bool relay_frame_packet(const struct relay_frame *frame, size_t i, const uint8_t **packet,
			size_t *len)
{
	if (!is_datagram(frame->type))
		return false;
	if (!is_batch(frame->type) || frame->segment_size == 0) {
		if (i != 0)
			return false;
		*packet = frame->data;
		*len = frame->data_len;
		return true;
	}
	size_t seg = frame->segment_size;
	if (i >= (frame->data_len + seg - 1) / seg)
		return false;
	size_t off = i * seg;
	*packet = frame->data + off;
	*len = frame->data_len - off < seg ? frame->data_len - off : seg;
	return true;
}

/* handshake.rs ServerChallenge::message_to_sign: a key derived from the
 * challenge, so a malicious relay cannot obtain a signature of chosen
 * bytes. */
static void challenge_message(const uint8_t challenge[RELAY_CHALLENGE_LEN], uint8_t message[32])
{
	blake3_derive_key(RELAY_CHALLENGE_CONTEXT, challenge, RELAY_CHALLENGE_LEN, message, 32);
}

void relay_sign_challenge(const uint8_t secret_key[64],
			  const uint8_t challenge[RELAY_CHALLENGE_LEN],
			  uint8_t signature[RELAY_SIG_LEN])
{
	uint8_t message[32];
	challenge_message(challenge, message);
	crypto_sign_detached(signature, NULL, message, sizeof(message), secret_key);
}

bool relay_verify_challenge(const uint8_t public_key[RELAY_KEY_LEN],
			    const uint8_t challenge[RELAY_CHALLENGE_LEN],
			    const uint8_t signature[RELAY_SIG_LEN])
{
	uint8_t message[32];
	challenge_message(challenge, message);
	return crypto_sign_verify_detached(signature, message, sizeof(message), public_key) == 0;
}
