/* iroh-relay frames: iroh's own byte snapshots (iroh-relay/src/protos/
 * relay.rs, tests test_relay_client_frames_snapshot and
 * test_client_relay_frames_snapshot) decoded and re-encoded, the handshake
 * frames as postcard writes them, every malformed form refused, batches
 * split, and the challenge signature against an independent computation. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>

#include "check.h"
#include "iron/encoding.h"
#include "iron/relay_proto.h"

/* The public key of SecretKey::from_bytes(&[42u8; 32]) in iroh's tests. */
#define KEY42_HEX "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61"

static size_t unhex(const char *text, uint8_t *out, size_t cap)
{
	char digits[8192];
	size_t n = 0;
	for (const char *p = text; *p; p++)
		if (*p != ' ' && *p != '\n' && n + 1 < sizeof(digits))
			digits[n++] = *p;
	digits[n] = '\0';
	if (n / 2 > cap || encoding_hex_decode(digits, out, n / 2) != 0) {
		fprintf(stderr, "bad test hex: %s\n", text);
		abort();
	}
	return n / 2;
}

/* Decodes the snapshot, checks it with the caller's expectations, and
 * re-encodes it to the same bytes. */
static void snapshot(const char *hex, struct relay_frame *f)
{
	uint8_t msg[256], again[256];
	size_t len = unhex(hex, msg, sizeof(msg));
	CHECK_INT(relay_frame_decode(msg, len, f), 0);
	ssize_t n = relay_frame_encode(f, again, sizeof(again));
	CHECK_INT(n, len);
	CHECK(n == (ssize_t)len && memcmp(msg, again, len) == 0);
	/* One byte short of room is refused, not overrun. */
	CHECK_INT(relay_frame_encode(f, again, len - 1), -ENOBUFS);
}

static void test_iroh_snapshots(void)
{
	struct relay_frame f;
	uint8_t key42[32];
	unhex(KEY42_HEX, key42, sizeof(key42));

	/* relay.rs:614-619 */
	snapshot("0b 48 65 6c 6c 6f 3f 20 59 65 73 20 74 68 69 73 20 69 73 20 64 6f 67 2e", &f);
	CHECK_INT(f.type, RELAY_HEALTH);
	CHECK(f.data_len == 23 && memcmp(f.data, "Hello? Yes this is dog.", 23) == 0);

	/* relay.rs:622-625 */
	snapshot("08" KEY42_HEX, &f);
	CHECK_INT(f.type, RELAY_ENDPOINT_GONE);
	CHECK_MEM(f.key, key42, 32);

	/* relay.rs:628-633 and 706-711 */
	snapshot("09 2a 2a 2a 2a 2a 2a 2a 2a", &f);
	CHECK_INT(f.type, RELAY_PING);
	CHECK_MEM(f.ping, "\x2a\x2a\x2a\x2a\x2a\x2a\x2a\x2a", 8);
	snapshot("0a 2a 2a 2a 2a 2a 2a 2a 2a", &f);
	CHECK_INT(f.type, RELAY_PONG);

	/* relay.rs:636-656: RelayToClientDatagramBatch, ECN CE, segment 6 */
	snapshot("07" KEY42_HEX "03 00 06 48 65 6c 6c 6f 20 57 6f 72 6c 64 21", &f);
	CHECK_INT(f.type, RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH);
	CHECK_MEM(f.key, key42, 32);
	CHECK_INT(f.ecn, 3);
	CHECK_INT(f.segment_size, 6);
	CHECK(f.data_len == 12 && memcmp(f.data, "Hello World!", 12) == 0);
	const uint8_t *pkt;
	size_t pkt_len;
	CHECK(relay_frame_packet(&f, 0, &pkt, &pkt_len) && pkt_len == 6 &&
	      memcmp(pkt, "Hello ", 6) == 0);
	CHECK(relay_frame_packet(&f, 1, &pkt, &pkt_len) && pkt_len == 6 &&
	      memcmp(pkt, "World!", 6) == 0);
	CHECK(!relay_frame_packet(&f, 2, &pkt, &pkt_len));

	/* relay.rs:659-677: RelayToClientDatagram */
	snapshot("06" KEY42_HEX "03 48 65 6c 6c 6f 20 57 6f 72 6c 64 21", &f);
	CHECK_INT(f.type, RELAY_RELAY_TO_CLIENT_DATAGRAM);
	CHECK_INT(f.segment_size, 0);
	CHECK(relay_frame_packet(&f, 0, &pkt, &pkt_len) && pkt_len == 12);
	CHECK(!relay_frame_packet(&f, 1, &pkt, &pkt_len));

	/* relay.rs:680-685: Restarting 10 ms, 20 ms, big-endian */
	snapshot("0c 00 00 00 0a 00 00 00 14", &f);
	CHECK_INT(f.type, RELAY_RESTARTING);
	CHECK_INT(f.reconnect_in_ms, 10);
	CHECK_INT(f.try_for_ms, 20);

	/* relay.rs:688-693 */
	snapshot("0d 01", &f);
	CHECK_INT(f.type, RELAY_STATUS);
	CHECK_INT(f.status, RELAY_STATUS_SAME_ENDPOINT_CONNECTED);
	snapshot("0d 02", &f);
	CHECK_INT(f.status, 2); /* RateLimited */

	/* relay.rs:714-734 and 737-755: client to relay */
	snapshot("05" KEY42_HEX "03 00 06 48 65 6c 6c 6f 20 57 6f 72 6c 64 21", &f);
	CHECK_INT(f.type, RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH);
	snapshot("04" KEY42_HEX "03 48 65 6c 6c 6f 20 57 6f 72 6c 64 21", &f);
	CHECK_INT(f.type, RELAY_CLIENT_TO_RELAY_DATAGRAM);
	CHECK_INT(f.ecn, 3);
}

/* The handshake frames: type, then postcard (handshake.rs:59-107). */
static void test_handshake_frames(void)
{
	struct relay_frame f;
	snapshot("00 000102030405060708090a0b0c0d0e0f", &f);
	CHECK_INT(f.type, RELAY_SERVER_CHALLENGE);
	CHECK_MEM(f.challenge, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
		  16);

	/* ClientAuth: the key's 32 bytes, then serde_bytes: length 64 (0x40). */
	char auth[512];
	snprintf(auth, sizeof(auth), "01 %s 40 %s", KEY42_HEX,
		 "a28b5ebc6a930b5d80ad5aca2a8e48ad4a064e699c0866674c8b8e61a5f4ea94"
		 "0ee8b9f06732930250ac0735555abe77e8df740165edc3163be432f0e4f3cf0f");
	snapshot(auth, &f);
	CHECK_INT(f.type, RELAY_CLIENT_AUTH);
	CHECK_INT(f.signature[0], 0xa2);
	CHECK_INT(f.signature[63], 0x0f);

	snapshot("02", &f);
	CHECK_INT(f.type, RELAY_SERVER_CONFIRMS_AUTH);

	/* ServerDeniesAuth { reason: String }: varint length, bytes. */
	snapshot("03 11 73 69 67 6e 61 74 75 72 65 20 69 6e 76 61 6c 69 64", &f);
	CHECK_INT(f.type, RELAY_SERVER_DENIES_AUTH);
	CHECK(f.data_len == 17 && memcmp(f.data, "signature invalid", 17) == 0);
	snapshot("03 00", &f);
	CHECK_INT(f.data_len, 0);

	/* A reason of 200 bytes: a two-byte length, c8 01. */
	static uint8_t reason[200], buf[300];
	memset(reason, 'x', sizeof(reason));
	struct relay_frame d = {.type = RELAY_SERVER_DENIES_AUTH, .data = reason, .data_len = 200};
	CHECK_INT(relay_frame_encode(&d, buf, sizeof(buf)), 203);
	CHECK(buf[0] == 3 && buf[1] == 0xc8 && buf[2] == 0x01);
	CHECK_INT(relay_frame_decode(buf, 203, &f), 0);
	CHECK_INT(f.data_len, 200);
}

static void expect_decode(const char *hex, int want)
{
	uint8_t msg[256];
	struct relay_frame f;
	size_t len = unhex(hex, msg, sizeof(msg));
	int rc = relay_frame_decode(msg, len, &f);
	if (rc != want)
		fprintf(stderr, "    input: %s\n", hex);
	CHECK_INT(rc, want);
}

static void test_malformed(void)
{
	expect_decode("", -EBADMSG);
	expect_decode("40", -EBADMSG);			   /* a two-byte varint cut short */
	expect_decode("40 09 2a2a2a2a2a2a2a2a", -EBADMSG); /* not the shortest form */
	expect_decode("0e", -ENOTSUP);			   /* a newer type */
	expect_decode("3f 00 01", -ENOTSUP);
	expect_decode("40 40", -ENOTSUP);
	expect_decode("c0 00 00 00 40 00 00 00", -ENOTSUP);
	expect_decode("c0 00 00 00 00 00 00 09 2a2a2a2a2a2a2a2a", -EBADMSG);
	expect_decode("00 000102030405060708090a0b0c0d0e", -EBADMSG);
	expect_decode("00 000102030405060708090a0b0c0d0e0f10", -EBADMSG);
	expect_decode("02 00", -EBADMSG);
	expect_decode("03", -EBADMSG);
	expect_decode("03 02 61", -EBADMSG);	/* length past the end */
	expect_decode("03 01 61 62", -EBADMSG); /* bytes after the string */
	expect_decode("03 81 00 61", -EBADMSG); /* length not in shortest form */
	expect_decode("03 02 c3 28", -EBADMSG); /* not UTF-8 */
	expect_decode("0b c3 28", -EBADMSG);	/* not UTF-8 */
	expect_decode("08" KEY42_HEX "00", -EBADMSG);
	expect_decode("08 197f", -EBADMSG);
	expect_decode("09 2a2a2a2a2a2a2a", -EBADMSG);
	expect_decode("0a 2a2a2a2a2a2a2a2a2a", -EBADMSG);
	expect_decode("0c 00 00 00 0a 00 00 00", -EBADMSG);
	expect_decode("0c 00 00 00 0a 00 00 00 14 00", -EBADMSG);
	expect_decode("0d", -EBADMSG);
	expect_decode("0d 05 ff", 0); /* iroh ignores what follows the first byte */
	expect_decode("04 197f6b23", -EBADMSG);
	expect_decode("04" KEY42_HEX, -EBADMSG);	       /* no ECN byte */
	expect_decode("04" KEY42_HEX "00", 0);		       /* an empty datagram */
	expect_decode("04" KEY42_HEX "04 00", -EBADMSG);       /* ECN 4 */
	expect_decode("05" KEY42_HEX "00 00", -EBADMSG);       /* no segment size */
	expect_decode("05" KEY42_HEX "00 00 00 41", -EBADMSG); /* segment size 0 */
	expect_decode("07" KEY42_HEX "00 00 01", 0);
	/* ClientAuth with a wrong signature length prefix. */
	char auth[512];
	snprintf(auth, sizeof(auth), "01 %s 3f %0128d", KEY42_HEX, 0);
	expect_decode(auth, -EBADMSG);
	snprintf(auth, sizeof(auth), "01 %s 40 %0126d", KEY42_HEX, 0);
	expect_decode(auth, -EBADMSG);
}

/* The size limit: iroh refuses a relay frame whose payload after the type
 * is over 64 KiB. */
static void test_limits(void)
{
	uint8_t *msg = calloc(1, RELAY_MAX_PACKET + 64);
	uint8_t *pkt = calloc(1, RELAY_MAX_PACKET);
	CHECK(msg && pkt);
	if (!msg || !pkt)
		goto out;
	struct relay_frame f = {.type = RELAY_CLIENT_TO_RELAY_DATAGRAM, .data = pkt};
	f.data_len = RELAY_MAX_PACKET - 33;
	CHECK_INT(relay_frame_encode(&f, msg, RELAY_MAX_PACKET + 64), RELAY_MAX_PACKET + 1);
	struct relay_frame g;
	CHECK_INT(relay_frame_decode(msg, RELAY_MAX_PACKET + 1, &g), 0);
	CHECK_INT(g.data_len, RELAY_MAX_PACKET - 33);
	f.data_len++;
	CHECK_INT(relay_frame_encode(&f, msg, RELAY_MAX_PACKET + 64), -EINVAL);
	msg[0] = RELAY_CLIENT_TO_RELAY_DATAGRAM;
	CHECK_INT(relay_frame_decode(msg, RELAY_MAX_PACKET + 2, &g), -EBADMSG);

	f.type = RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH;
	f.segment_size = 1200;
	f.data_len = RELAY_MAX_PACKET - 35;
	CHECK_INT(relay_frame_encode(&f, msg, RELAY_MAX_PACKET + 64), RELAY_MAX_PACKET + 1);
	CHECK_INT(relay_frame_decode(msg, RELAY_MAX_PACKET + 1, &g), 0);
	size_t total = 0, count = 0;
	const uint8_t *p;
	size_t plen;
	while (relay_frame_packet(&g, count, &p, &plen)) {
		CHECK(p == g.data + total);
		CHECK(plen == 1200 || !relay_frame_packet(&g, count + 1, &p, &plen));
		total += plen;
		count++;
	}
	CHECK_INT(total, RELAY_MAX_PACKET - 35);
	CHECK_INT(count, (RELAY_MAX_PACKET - 35 + 1199) / 1200);

	/* Bad fields are refused by the encoder. */
	f.segment_size = 0;
	f.data_len = 10;
	CHECK_INT(relay_frame_encode(&f, msg, 100), -EINVAL);
	f.segment_size = 5;
	f.ecn = 4;
	CHECK_INT(relay_frame_encode(&f, msg, 100), -EINVAL);
	struct relay_frame bad = {.type = (enum relay_frame_type)14};
	CHECK_INT(relay_frame_encode(&bad, msg, 100), -EINVAL);
	struct relay_frame text = {
	    .type = RELAY_HEALTH, .data = (const uint8_t *)"\xc3\x28", .data_len = 2};
	CHECK_INT(relay_frame_encode(&text, msg, 100), -EINVAL);
out:
	free(msg);
	free(pkt);
}

static void test_datagram_head(void)
{
	uint8_t key[32], head[RELAY_DATAGRAM_HEAD_MAX], whole[64];
	unhex(KEY42_HEX, key, sizeof(key));
	size_t n = relay_datagram_head(head, RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH, key, 2, 0x1234);
	CHECK_INT(n, RELAY_DATAGRAM_HEAD_MAX);
	struct relay_frame f = {.type = RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH,
				.ecn = 2,
				.segment_size = 0x1234,
				.data = (const uint8_t *)"abc",
				.data_len = 3};
	memcpy(f.key, key, 32);
	CHECK_INT(relay_frame_encode(&f, whole, sizeof(whole)), n + 3);
	CHECK_MEM(whole, head, n);
	CHECK(head[33] == 2 && head[34] == 0x12 && head[35] == 0x34);
	CHECK_INT(relay_datagram_head(head, RELAY_RELAY_TO_CLIENT_DATAGRAM, key, 1, 99), 34);
	CHECK(head[0] == 6 && head[33] == 1);

	/* An empty batch has no packets; a single empty datagram is one. */
	struct relay_frame e = {.type = RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH, .segment_size = 10};
	const uint8_t *p;
	size_t plen;
	CHECK(!relay_frame_packet(&e, 0, &p, &plen));
	e.type = RELAY_CLIENT_TO_RELAY_DATAGRAM;
	e.segment_size = 0;
	CHECK(relay_frame_packet(&e, 0, &p, &plen) && plen == 0);
	e.type = RELAY_PING;
	CHECK(!relay_frame_packet(&e, 0, &p, &plen));
}

/* The signature of challenge 00..0f by seed [42; 32], computed without
 * iron: b3sum 1.2.0 --derive-key "iroh-relay handshake v1 challenge
 * signature" gave the message b7b16e50...76c0, Python cryptography 48's
 * Ed25519 signed it. */
static void test_challenge_signature(void)
{
	uint8_t seed[32], pk[32], sk[64], challenge[16], sig[64], want[64], key42[32];
	memset(seed, 42, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	unhex(KEY42_HEX, key42, sizeof(key42));
	CHECK_MEM(pk, key42, 32);
	for (int i = 0; i < 16; i++)
		challenge[i] = (uint8_t)i;
	unhex("a28b5ebc6a930b5d80ad5aca2a8e48ad4a064e699c0866674c8b8e61a5f4ea94"
	      "0ee8b9f06732930250ac0735555abe77e8df740165edc3163be432f0e4f3cf0f",
	      want, sizeof(want));
	relay_sign_challenge(sk, challenge, sig);
	CHECK_MEM(sig, want, 64);
	CHECK(relay_verify_challenge(pk, challenge, sig));
	sig[10] ^= 1;
	CHECK(!relay_verify_challenge(pk, challenge, sig));
	sig[10] ^= 1;
	challenge[15] ^= 1;
	CHECK(!relay_verify_challenge(pk, challenge, sig));
	challenge[15] ^= 1;
	pk[0] ^= 1;
	CHECK(!relay_verify_challenge(pk, challenge, sig));
	sodium_memzero(sk, sizeof(sk));
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_iroh_snapshots();
	test_handshake_frames();
	test_malformed();
	test_limits();
	test_datagram_head();
	test_challenge_signature();
	return check_done();
}
