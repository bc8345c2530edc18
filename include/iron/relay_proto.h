/* iroh's relay protocol (iroh-relay 1.x, subprotocols iroh-relay-v2 and
 * iroh-relay-v1), pure: the frames carried one per WebSocket binary
 * message, and the challenge authentication. No I/O.
 *
 * A frame is a QUIC variable-length integer (the type) and a payload whose
 * layout depends on the type; the handshake frames' payloads are postcard
 * serializations (see iroh-relay/src/protos/{relay,handshake}.rs). */
#ifndef IRON_RELAY_PROTO_H
#define IRON_RELAY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RELAY_KEY_LEN	    32
#define RELAY_SIG_LEN	    64
#define RELAY_CHALLENGE_LEN 16
#define RELAY_PING_LEN	    8
#define RELAY_MAX_MESSAGE   (1024 * 1024) /* one WebSocket message */
#define RELAY_MAX_PACKET    (64 * 1024)	  /* one relayed datagram */
/* The longest head of a datagram frame: type, key, ECN, segment size. */
#define RELAY_DATAGRAM_HEAD_MAX (1 + RELAY_KEY_LEN + 1 + 2)

#define RELAY_PROTOCOL_V2 "iroh-relay-v2"
#define RELAY_PROTOCOL_V1 "iroh-relay-v1"
#define RELAY_PATH	  "/relay"
/* The domain separation string of the challenge signature. */
#define RELAY_CHALLENGE_CONTEXT "iroh-relay handshake v1 challenge signature"

enum relay_frame_type {
	RELAY_SERVER_CHALLENGE = 0,
	RELAY_CLIENT_AUTH = 1,
	RELAY_SERVER_CONFIRMS_AUTH = 2,
	RELAY_SERVER_DENIES_AUTH = 3,
	RELAY_CLIENT_TO_RELAY_DATAGRAM = 4,
	RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH = 5,
	RELAY_RELAY_TO_CLIENT_DATAGRAM = 6,
	RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH = 7,
	RELAY_ENDPOINT_GONE = 8,
	RELAY_PING = 9,
	RELAY_PONG = 10,
	RELAY_HEALTH = 11, /* v1 only */
	RELAY_RESTARTING = 12,
	RELAY_STATUS = 13, /* v2 only */
};

/* A decoded frame. Which fields are set depends on type; data points into
 * the decoded message. */
struct relay_frame {
	enum relay_frame_type type;
	uint8_t challenge[RELAY_CHALLENGE_LEN]; /* SERVER_CHALLENGE */
	/* CLIENT_AUTH: the client's public key; datagrams: the destination
	 * (client to relay) or the source (relay to client); ENDPOINT_GONE:
	 * the endpoint. */
	uint8_t key[RELAY_KEY_LEN];
	uint8_t signature[RELAY_SIG_LEN]; /* CLIENT_AUTH */
	/* datagrams: the IP ECN bits, 0-3 (1 ECT(1), 2 ECT(0), 3 CE) */
	uint8_t ecn;
	/* Batches: every packet is segment_size bytes except the last, which
	 * may be shorter; 0 for a single datagram. */
	uint16_t segment_size;
	/* Datagrams: the packet bytes (a batch: all of them); DENIES_AUTH:
	 * the reason; HEALTH: the problem text. */
	const uint8_t *data;
	size_t data_len;
	uint8_t ping[RELAY_PING_LEN];	      /* PING, PONG */
	uint32_t reconnect_in_ms, try_for_ms; /* RESTARTING */
	uint8_t status;			      /* STATUS */
};

/* Decodes one message. Returns 0; -EBADMSG for a truncated or malformed
 * frame (wrong payload length, ECN > 3, a frame of type 4-13 whose payload
 * after the type exceeds RELAY_MAX_PACKET as iroh checks, a batch with
 * segment size 0, a postcard length prefix that does not match, text that
 * is not UTF-8, a type not in its shortest varint form); -ENOTSUP for an
 * unknown type (a peer may send types newer than ours: the caller ignores
 * the frame). As iroh does, STATUS takes the first byte of a longer
 * payload. Which types are allowed in which direction and protocol version
 * is the caller's to check. */
int relay_frame_decode(const uint8_t *msg, size_t len, struct relay_frame *out);

/* Encodes a frame of any type into out (cap bytes). For datagram types,
 * data/data_len are copied after the head. Returns the length, or -ENOBUFS
 * when cap is too small, or -EINVAL for an unknown type or a field out of
 * range (ECN > 3, a batch with segment size 0, text that is not UTF-8, a
 * frame that relay_frame_decode() would refuse as too long). */
ssize_t relay_frame_encode(const struct relay_frame *frame, uint8_t *out, size_t cap);

/* The head of a datagram frame (the hot path: the packet follows it, so the
 * caller can write both into one buffer without a copy). type is one of the
 * four datagram types; segment_size is used by the batch types only; ecn
 * is taken modulo 4. Returns the head's length (at most
 * RELAY_DATAGRAM_HEAD_MAX). */
size_t relay_datagram_head(uint8_t *out, enum relay_frame_type type,
			   const uint8_t key[RELAY_KEY_LEN], uint8_t ecn, uint16_t segment_size);

/* Splits a batch: the i-th packet of a datagram frame (i from 0). Returns
 * true and sets (packet, len), or false past the last. A single datagram
 * is a batch of one. */
bool relay_frame_packet(const struct relay_frame *frame, size_t i, const uint8_t **packet,
			size_t *len);

/* The challenge signature: Ed25519 over BLAKE3 derive_key(
 * RELAY_CHALLENGE_CONTEXT, challenge), 32 bytes. secret_key is libsodium's
 * 64-byte Ed25519 secret key. */
void relay_sign_challenge(const uint8_t secret_key[64],
			  const uint8_t challenge[RELAY_CHALLENGE_LEN],
			  uint8_t signature[RELAY_SIG_LEN]);
/* Whether signature is public_key's signature of challenge as above. */
bool relay_verify_challenge(const uint8_t public_key[RELAY_KEY_LEN],
			    const uint8_t challenge[RELAY_CHALLENGE_LEN],
			    const uint8_t signature[RELAY_SIG_LEN]);

/* Status codes of RELAY_STATUS (v2). */
#define RELAY_STATUS_HEALTHY		     0
#define RELAY_STATUS_SAME_ENDPOINT_CONNECTED 1

#endif
