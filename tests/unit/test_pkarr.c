/* pkarr: the fixed test vector of issue 13 byte for byte (cross-checked
 * with npm pkarr by tests/interop/pkarr_vector.sh), a record as iroh 1.0.2
 * writes it (simple-dns, compressed names, relay < addr < user-data), DNS
 * answers as a resolver returns them, round trips, and every malformed
 * form refused. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "iron/bytes.h"
#include "iron/encoding.h"
#include "iron/pkarr.h"

#define VECTOR_TS 1700000000000000ULL

/* Seed 01 x 32 (iroh's SecretKey::from_bytes(&[1; 32])), public key
 * 8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c,
 * z-base-32 tkrq8zmwb8a3m9k15csu3q17qmfgqnp9dskbrg9uq1rydpyxp7qy. */
static const char vector_z32[] = "tkrq8zmwb8a3m9k15csu3q17qmfgqnp9dskbrg9uq1rydpyxp7qy";

/* The signed packet (the body of a pkarr PUT) for relay=
 * http://127.0.0.1:3340/, no addresses, timestamp 1700000000000000. npm
 * pkarr 1.3.0 builds exactly these bytes from the same seed and record. */
static const uint8_t vector[] = {
    /* Ed25519 signature of "3:seqi1700000000000000e1:v90:" || DNS packet */
    0x24, 0x4e, 0x08, 0x07, 0x79, 0xa2, 0x5c, 0x0e, 0xd4, 0xd0, 0x99, 0x4a, 0x6f, 0xb5, 0xd8, 0x85,
    0xfd, 0x2a, 0xa2, 0x74, 0x47, 0x9f, 0xbf, 0xf0, 0x53, 0xe8, 0xb2, 0x3f, 0x79, 0x79, 0xdf, 0x02,
    0x25, 0x82, 0x03, 0xe9, 0x68, 0x2a, 0x58, 0xe5, 0x3c, 0xea, 0x79, 0x1d, 0xa7, 0x2d, 0x96, 0x2d,
    0x56, 0x9a, 0x35, 0xe7, 0xa9, 0x14, 0x24, 0x95, 0x94, 0xc7, 0xf9, 0x50, 0x1f, 0x6e, 0xa7, 0x04,
    /* timestamp, microseconds, big-endian */
    0x00, 0x06, 0x0a, 0x24, 0x18, 0x1e, 0x40, 0x00,
    /* DNS header: ID 0, flags 0x8000 (QR), 0 questions, 1 answer */
    0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    /* _iroh.tkrq8zmwb8a3m9k15csu3q17qmfgqnp9dskbrg9uq1rydpyxp7qy */
    0x05, 0x5f, 0x69, 0x72, 0x6f, 0x68, 0x34, 0x74, 0x6b, 0x72, 0x71, 0x38, 0x7a, 0x6d, 0x77, 0x62,
    0x38, 0x61, 0x33, 0x6d, 0x39, 0x6b, 0x31, 0x35, 0x63, 0x73, 0x75, 0x33, 0x71, 0x31, 0x37, 0x71,
    0x6d, 0x66, 0x67, 0x71, 0x6e, 0x70, 0x39, 0x64, 0x73, 0x6b, 0x62, 0x72, 0x67, 0x39, 0x75, 0x71,
    0x31, 0x72, 0x79, 0x64, 0x70, 0x79, 0x78, 0x70, 0x37, 0x71, 0x79, 0x00,
    /* TXT IN, TTL 30, RDLENGTH 29, one string of 28 */
    0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x1d, 0x1c,
    /* relay=http://127.0.0.1:3340/ */
    0x72, 0x65, 0x6c, 0x61, 0x79, 0x3d, 0x68, 0x74, 0x74, 0x70, 0x3a, 0x2f, 0x2f, 0x31, 0x32, 0x37,
    0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x33, 0x33, 0x34, 0x30, 0x2f};

/* What iroh 1.0.2 builds for the same key and iroh's own test record
 * (endpoint_info.rs signed_packet_roundtrip: relay https://example.com,
 * 127.0.0.1:1234, user-data "foobar"): simple-dns' Packet::new_reply(0),
 * TXT strings in BTreeMap order of the keys (relay, addr, user-data), the
 * url crate's "https://example.com/", names after the first compressed to
 * a pointer at offset 12. */
static const uint8_t iroh_dns[] = {
    0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x05, 0x5f, 0x69, 0x72,
    0x6f, 0x68, 0x34, 0x74, 0x6b, 0x72, 0x71, 0x38, 0x7a, 0x6d, 0x77, 0x62, 0x38, 0x61, 0x33, 0x6d,
    0x39, 0x6b, 0x31, 0x35, 0x63, 0x73, 0x75, 0x33, 0x71, 0x31, 0x37, 0x71, 0x6d, 0x66, 0x67, 0x71,
    0x6e, 0x70, 0x39, 0x64, 0x73, 0x6b, 0x62, 0x72, 0x67, 0x39, 0x75, 0x71, 0x31, 0x72, 0x79, 0x64,
    0x70, 0x79, 0x78, 0x70, 0x37, 0x71, 0x79, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e,
    0x00, 0x1b, 0x1a, 0x72, 0x65, 0x6c, 0x61, 0x79, 0x3d, 0x68, 0x74, 0x74, 0x70, 0x73, 0x3a, 0x2f,
    0x2f, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x2f, 0xc0, 0x0c, 0x00,
    0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x14, 0x13, 0x61, 0x64, 0x64, 0x72, 0x3d, 0x31,
    0x32, 0x37, 0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x31, 0x32, 0x33, 0x34, 0xc0, 0x0c, 0x00,
    0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x11, 0x10, 0x75, 0x73, 0x65, 0x72, 0x2d, 0x64,
    0x61, 0x74, 0x61, 0x3d, 0x66, 0x6f, 0x6f, 0x62, 0x61, 0x72};

static struct iron_identity vector_identity;

static void addr_text(const struct netaddr *a, char *out)
{
	netaddr_format(&a->sa, out, NETADDR_STR_SIZE);
}

static void test_vector(void)
{
	uint8_t seed[IDENTITY_SEED_LEN], dns[PKARR_MAX_DNS], out[PKARR_MAX_SIGNED];
	char z32[IRON_ID_BASE32_LEN + 1];
	struct pkarr_record rec;

	memset(seed, 1, sizeof(seed));
	identity_from_seed(seed, &vector_identity);
	encoding_zbase32_encode(vector_identity.id.bytes, IRON_ID_LEN, z32, sizeof(z32));
	CHECK_STR(z32, vector_z32);

	memset(&rec, 0, sizeof(rec));
	strcpy(rec.relay, "http://127.0.0.1:3340/");
	int n = pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns));
	CHECK_INT(n, sizeof(vector) - PKARR_HEAD);
	int len = pkarr_sign(&vector_identity, VECTOR_TS, dns, (size_t)n, out, sizeof(out));
	CHECK_INT(len, sizeof(vector));
	CHECK_MEM(out, vector, sizeof(vector));

	/* Without the root path, the URL is published as iroh prints it. */
	strcpy(rec.relay, "http://127.0.0.1:3340");
	CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns)), n);
	CHECK_MEM(dns, vector + PKARR_HEAD, (size_t)n);

	/* Signing in place (the DNS packet already at out + PKARR_HEAD). */
	memcpy(out + PKARR_HEAD, vector + PKARR_HEAD, (size_t)n);
	CHECK_INT(
	    pkarr_sign(&vector_identity, VECTOR_TS, out + PKARR_HEAD, (size_t)n, out, sizeof(out)),
	    sizeof(vector));
	CHECK_MEM(out, vector, sizeof(vector));

	uint64_t ts = 0;
	const uint8_t *body = NULL;
	size_t body_len = 0;
	CHECK_INT(pkarr_verify(&vector_identity.id, vector, sizeof(vector), &ts, &body, &body_len),
		  0);
	CHECK(ts == VECTOR_TS);
	CHECK(body == vector + PKARR_HEAD);
	CHECK_INT(body_len, sizeof(vector) - PKARR_HEAD);
	CHECK_INT(pkarr_parse_dns(&vector_identity.id, body, body_len, &rec), 0);
	CHECK_STR(rec.relay, "http://127.0.0.1:3340/");
	CHECK_INT(rec.naddrs, 0);
	CHECK_INT(rec.ttl, 30);
}

static void test_verify_refuses(void)
{
	uint8_t copy[PKARR_MAX_SIGNED + 1], out[PKARR_MAX_SIGNED];
	uint64_t ts;
	const uint8_t *body;
	size_t body_len;
	const struct iron_id *key = &vector_identity.id;

	CHECK_INT(pkarr_verify(key, vector, PKARR_HEAD - 1, &ts, &body, &body_len), -EMSGSIZE);
	memset(copy, 0, sizeof(copy));
	CHECK_INT(pkarr_verify(key, copy, PKARR_MAX_SIGNED + 1, &ts, &body, &body_len), -EMSGSIZE);
	/* Any changed byte: signature, timestamp or packet. */
	for (size_t i = 0; i < sizeof(vector); i++) {
		memcpy(copy, vector, sizeof(vector));
		copy[i] ^= (uint8_t)(1u << (i % 8));
		CHECK_INT(pkarr_verify(key, copy, sizeof(vector), &ts, &body, &body_len),
			  -EKEYREJECTED);
	}
	CHECK_INT(pkarr_verify(key, vector, sizeof(vector) - 1, &ts, &body, &body_len),
		  -EKEYREJECTED);
	/* Another key. */
	struct iron_identity other;
	uint8_t seed[IDENTITY_SEED_LEN];
	memset(seed, 2, sizeof(seed));
	identity_from_seed(seed, &other);
	CHECK_INT(pkarr_verify(&other.id, vector, sizeof(vector), &ts, &body, &body_len),
		  -EKEYREJECTED);
	/* Well signed, but not a DNS packet. */
	static const uint8_t junk[] = {0, 0, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 'a', 'b'};
	int len = pkarr_sign(&other, 5, junk, sizeof(junk), out, sizeof(out));
	CHECK_INT(len, PKARR_HEAD + sizeof(junk));
	CHECK_INT(pkarr_verify(&other.id, out, (size_t)len, &ts, &body, &body_len), -EBADMSG);
	/* An empty body is no DNS packet either (shorter than a header). */
	len = pkarr_sign(&other, 5, junk, 0, out, sizeof(out));
	CHECK_INT(pkarr_verify(&other.id, out, (size_t)len, &ts, &body, &body_len), -EBADMSG);
	/* Sizes pkarr_sign refuses. */
	uint8_t big[PKARR_MAX_DNS + 1];
	memset(big, 0, sizeof(big));
	CHECK_INT(pkarr_sign(&other, 5, big, sizeof(big), out, sizeof(out)), -EMSGSIZE);
	CHECK_INT(pkarr_sign(&other, 5, junk, sizeof(junk), out, PKARR_HEAD + sizeof(junk) - 1),
		  -EMSGSIZE);
	identity_wipe(&other);
}

static void test_iroh_record(void)
{
	struct pkarr_record rec;
	char text[NETADDR_STR_SIZE];

	CHECK_INT(pkarr_parse_dns(&vector_identity.id, iroh_dns, sizeof(iroh_dns), &rec), 0);
	CHECK_STR(rec.relay, "https://example.com/");
	CHECK_INT(rec.naddrs, 1);
	addr_text(&rec.addrs[0], text);
	CHECK_STR(text, "127.0.0.1:1234");
	CHECK_INT(rec.ttl, 30);

	/* iron writes the same record (without user-data) the same way. */
	uint8_t dns[PKARR_MAX_DNS];
	int n = pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns));
	size_t without_user_data = sizeof(iroh_dns) - 29;
	CHECK_INT(n, without_user_data);
	CHECK_MEM(dns + 12, iroh_dns + 12, without_user_data - 12);
	CHECK_INT(bytes_get16(dns + 6), 2);

	/* Another key's reading of the same packet finds nothing. */
	struct iron_identity other;
	uint8_t seed[IDENTITY_SEED_LEN];
	memset(seed, 3, sizeof(seed));
	identity_from_seed(seed, &other);
	CHECK_INT(pkarr_parse_dns(&other.id, iroh_dns, sizeof(iroh_dns), &rec), 0);
	CHECK_INT(rec.naddrs, 0);
	CHECK_STR(rec.relay, "");
}

/* A DNS answer builder, for what resolvers return. */
struct msg {
	uint8_t b[2048];
	size_t len;
};

static void msg_put(struct msg *m, const void *data, size_t len)
{
	memcpy(m->b + m->len, data, len);
	m->len += len;
}

static void msg_u16(struct msg *m, uint16_t v)
{
	bytes_put16(m->b + m->len, v);
	m->len += 2;
}

static void msg_name(struct msg *m, const char *dotted)
{
	while (*dotted) {
		const char *dot = strchr(dotted, '.');
		size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);
		m->b[m->len++] = (uint8_t)n;
		msg_put(m, dotted, n);
		dotted += n + (dot ? 1 : 0);
	}
	m->b[m->len++] = 0;
}

/* A record with owner bytes already written; strings joined in rdata. */
static void msg_txt_rdata(struct msg *m, uint32_t ttl, const char *const *strings, size_t n)
{
	msg_u16(m, 16);
	msg_u16(m, 1);
	bytes_put32(m->b + m->len, ttl);
	m->len += 4;
	size_t rdlen_at = m->len;
	m->len += 2;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(strings[i]);
		m->b[m->len++] = (uint8_t)l;
		msg_put(m, strings[i], l);
	}
	bytes_put16(m->b + rdlen_at, (uint16_t)(m->len - rdlen_at - 2));
}

static void test_dns_answer(void)
{
	/* The answer of a recursive resolver to TXT _iroh.<z32>.dns.iroh.link,
	 * with iroh's own lookup test records (endpoint_info.rs
	 * test_from_hickory_lookup): two addr= records, an A record, another
	 * ID's record, a record of the origin, and the relay; names
	 * compressed to the question, the case changed as 0x20 randomising
	 * resolvers do; plus one record split into two strings. */
	struct msg m = {.len = 0};
	char qname[128], upper[128], other[128];
	snprintf(qname, sizeof(qname), "_iroh.%s.dns.iroh.link", vector_z32);
	snprintf(upper, sizeof(upper), "_IROH.%s.dns.IROH.link", vector_z32);
	snprintf(other, sizeof(other), "_iroh.%s.dns.iroh.link",
		 "ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u");
	static const uint8_t header[] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 7, 0, 0, 0, 0};
	msg_put(&m, header, sizeof(header));
	msg_name(&m, qname);
	msg_u16(&m, 16);
	msg_u16(&m, 1);
	const char *a1[] = {"addr=192.168.96.145:60165"};
	const char *a2[] = {"addr=213.208.157.87:60165"};
	const char *rel[] = {"relay=https://euw1-1.relay.iroh.network./"};
	const char *split[] = {"addr=[2001:db8::", "7]:60165"};
	msg_u16(&m, 0xc00c);
	msg_txt_rdata(&m, 30, a1, 1);
	msg_name(&m, upper);
	msg_txt_rdata(&m, 20, a2, 1);
	msg_u16(&m, 0xc00c);
	msg_u16(&m, 1);
	msg_u16(&m, 1);
	msg_put(&m, "\0\0\0\x1e\0\x04\x7f\0\0\x01", 10);
	msg_name(&m, other);
	msg_txt_rdata(&m, 30, rel, 1);
	msg_name(&m, "dns.iroh.link");
	msg_txt_rdata(&m, 30, rel, 1);
	msg_u16(&m, 0xc00c);
	msg_txt_rdata(&m, 30, rel, 1);
	msg_u16(&m, 0xc00c);
	msg_txt_rdata(&m, 30, split, 2);

	struct pkarr_record rec;
	char text[NETADDR_STR_SIZE];
	CHECK_INT(pkarr_parse_dns(&vector_identity.id, m.b, m.len, &rec), 0);
	CHECK_STR(rec.relay, "https://euw1-1.relay.iroh.network./");
	CHECK_INT(rec.naddrs, 3);
	addr_text(&rec.addrs[0], text);
	CHECK_STR(text, "192.168.96.145:60165");
	addr_text(&rec.addrs[1], text);
	CHECK_STR(text, "213.208.157.87:60165");
	addr_text(&rec.addrs[2], text);
	CHECK_STR(text, "[2001:db8::7]:60165");
	CHECK_INT(rec.ttl, 20);

	/* Cut anywhere: refused, never read past the end. */
	for (size_t cut = 0; cut < m.len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, m.b, cut);
		int rc = pkarr_parse_dns(&vector_identity.id, copy, cut, &rec);
		CHECK(rc == -EBADMSG);
		free(copy);
	}
}

static void test_round_trip(void)
{
	struct pkarr_record rec, back;
	uint8_t dns[PKARR_MAX_DNS];
	const char *addrs[] = {
	    "192.0.2.1:1",	   "[2001:db8::1]:65535", "[fe80::1%7]:4433",	  "10.0.0.1:4433",
	    "[::ffff:1.2.3.4]:80", "[2001:db8:0:1::]:2",  "255.255.255.255:9999", "[::1]:3"};
	const char *want[] = {
	    "192.0.2.1:1", "[2001:db8::1]:65535", "[fe80::1%7]:4433",	  "10.0.0.1:4433",
	    "1.2.3.4:80",  "[2001:db8:0:1::]:2",  "255.255.255.255:9999", "[::1]:3"};

	memset(&rec, 0, sizeof(rec));
	strcpy(rec.relay, "https://relay.example.org:8443/some/path?x=1");
	for (size_t i = 0; i < PKARR_MAX_ADDRS; i++) {
		if (i == 2) { /* netaddr_parse() takes no scope */
			CHECK_INT(netaddr_parse_host("fe80::1", 4433, &rec.addrs[i]), 0);
			rec.addrs[i].in6.sin6_scope_id = 7;
			continue;
		}
		CHECK_INT(netaddr_parse(addrs[i], &rec.addrs[i]), 0);
	}
	rec.naddrs = PKARR_MAX_ADDRS;
	rec.ttl = 77;
	int n = pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns));
	CHECK(n > 0);
	CHECK_INT(bytes_get16(dns + 6), 1 + PKARR_MAX_ADDRS);
	CHECK_INT(pkarr_parse_dns(&vector_identity.id, dns, (size_t)n, &back), 0);
	CHECK_STR(back.relay, rec.relay);
	CHECK_INT(back.naddrs, PKARR_MAX_ADDRS);
	CHECK_INT(back.ttl, 77);
	for (size_t i = 0; i < back.naddrs; i++) {
		char text[NETADDR_STR_SIZE];
		addr_text(&back.addrs[i], text);
		CHECK_STR(text, want[i]);
	}

	/* Too small a buffer: -EMSGSIZE at every size below the need. */
	for (size_t cap = 0; cap < (size_t)n; cap += 7)
		CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, cap), -EMSGSIZE);
	CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, (size_t)n), n);

	/* No relay, no address: an empty answer section. */
	memset(&rec, 0, sizeof(rec));
	CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns)), 12);
	CHECK_INT(pkarr_parse_dns(&vector_identity.id, dns, 12, &back), 0);
	CHECK_INT(back.naddrs, 0);
	CHECK_STR(back.relay, "");

	/* Longest relay URL that fits one TXT string: 249 bytes. */
	memset(rec.relay, 'a', 249);
	memcpy(rec.relay, "http://", 7);
	rec.relay[20] = '/';
	rec.relay[249] = '\0';
	n = pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns));
	CHECK(n > 0);
	CHECK_INT(pkarr_parse_dns(&vector_identity.id, dns, (size_t)n, &back), 0);
	CHECK_STR(back.relay, rec.relay);
	rec.relay[249] = 'a';
	rec.relay[250] = '\0';
	CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns)), -EMSGSIZE);

	/* Refused records. */
	const char *bad_relays[] = {"relay.example.org", "http://",	"http:///x", "://x",
				    "http://a b/",	 "http://\x7f/"};
	for (size_t i = 0; i < sizeof(bad_relays) / sizeof(bad_relays[0]); i++) {
		memset(&rec, 0, sizeof(rec));
		strcpy(rec.relay, bad_relays[i]);
		CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns)), -EINVAL);
	}
	memset(&rec, 0, sizeof(rec));
	memset(rec.relay, 'a', sizeof(rec.relay)); /* no NUL */
	CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns)), -EINVAL);
	memset(&rec, 0, sizeof(rec));
	rec.naddrs = 1;
	rec.addrs[0].sa.sa_family = AF_UNIX;
	CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns)), -EINVAL);
	rec.naddrs = PKARR_MAX_ADDRS + 1;
	CHECK_INT(pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns)), -EINVAL);
}

static int txt(const char *s, uint32_t ttl, struct pkarr_record *rec)
{
	return pkarr_parse_txt(s, strlen(s), ttl, rec);
}

static void test_parse_txt(void)
{
	struct pkarr_record rec;
	char text[NETADDR_STR_SIZE];

	memset(&rec, 0, sizeof(rec));
	CHECK_INT(txt("relay=http://r.example", 50, &rec), 0);
	CHECK_STR(rec.relay, "http://r.example/");
	CHECK_INT(rec.ttl, 50);
	CHECK_INT(txt("relay=http://second.example/", 10, &rec), -EINVAL);
	CHECK_STR(rec.relay, "http://r.example/");
	CHECK_INT(rec.ttl, 50);
	CHECK_INT(txt("addr=1.2.3.4:5", 40, &rec), 0);
	CHECK_INT(rec.ttl, 40);
	CHECK_INT(txt("addr=1.2.3.4:5", 60, &rec), 0); /* a duplicate, merged */
	CHECK_INT(rec.naddrs, 1);
	CHECK_INT(txt("addr=[fe80::2%4294967295]:6", 60, &rec), 0);
	CHECK_INT(rec.addrs[1].in6.sin6_scope_id, 4294967295u);
	CHECK_INT(rec.naddrs, 2);

	/* What iroh's parser ignores or refuses, and what iron cannot use. */
	const char *ignored[] = {
	    "user-data=foobar",
	    "foo=bar",
	    "Relay=http://x/",
	    "ADDR=1.2.3.4:5",
	    "addr",
	    "",
	    "=",
	    "addr=",
	    "addr=1.2.3.4:5 6.7.8.9:10",
	    "addr=1.2.3.4",
	    "addr=1.2.3.4:0",
	    "addr=1.2.3.4:65536",
	    "addr=01.2.3.4:5",
	    "addr=2001:db8::1:5",
	    "addr=[2001:db8::1]",
	    "addr=[fe80::1%]:5",
	    "addr=[fe80::1%eth0]:5",
	    "addr=[fe80::1%4294967296]:5",
	    "addr=1.2.3.4%1:5",
	    "addr=[1.2.3.4%1]:5",
	    "addr=host.example:5",
	    "addr= 1.2.3.4:5",
	    "relay=",
	    "relay=not a url",
	};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		struct pkarr_record fresh;
		memset(&fresh, 0, sizeof(fresh));
		int rc = txt(ignored[i], 5, &fresh);
		CHECK_INT(rc, -EINVAL);
		if (rc != -EINVAL)
			fprintf(stderr, "    taken: \"%s\"\n", ignored[i]);
		CHECK_INT(fresh.naddrs + fresh.ttl + (fresh.relay[0] != 0), 0);
	}
	/* A NUL inside the string. */
	CHECK_INT(pkarr_parse_txt("addr=1.2.3.4:5\0x", 16, 5, &rec), -EINVAL);
	CHECK_INT(pkarr_parse_txt("addr=1.2.3.4:7\0", 15, 5, &rec), -EINVAL);
	/* Not NUL-terminated: only len bytes are read. */
	CHECK_INT(pkarr_parse_txt("addr=1.2.3.4:77777", 15, 5, &rec), 0);
	addr_text(&rec.addrs[2], text);
	CHECK_STR(text, "1.2.3.4:77");

	/* At most PKARR_MAX_ADDRS. */
	memset(&rec, 0, sizeof(rec));
	for (int i = 0; i < PKARR_MAX_ADDRS; i++) {
		char s[64];
		snprintf(s, sizeof(s), "addr=10.0.0.%d:1", i + 1);
		CHECK_INT(txt(s, 5, &rec), 0);
	}
	CHECK_INT(txt("addr=10.0.1.1:1", 5, &rec), -EINVAL);
	CHECK_INT(rec.naddrs, PKARR_MAX_ADDRS);
	/* A relay URL too long to publish again is not taken. */
	char longurl[300] = "relay=http://";
	memset(longurl + 13, 'b', 250 - 13 + 6);
	longurl[256] = '\0';
	memset(&rec, 0, sizeof(rec));
	CHECK_INT(txt(longurl, 5, &rec), -EINVAL);
	longurl[255] = '\0'; /* 249 bytes of URL, a root path to add: 250 */
	CHECK_INT(txt(longurl, 5, &rec), -EINVAL);
	longurl[254] = '/';
	CHECK_INT(txt(longurl, 5, &rec), 0);
}

struct seen {
	char names[8][256];
	uint16_t types[8];
	uint32_t ttls[8];
	size_t rdlens[8];
	size_t n;
};

static void on_rr(void *ctx, const char *name, uint16_t type, uint16_t class_, uint32_t ttl,
		  const uint8_t *rdata, size_t rdlen)
{
	struct seen *s = ctx;
	(void)class_;
	(void)rdata;
	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->types[s->n] = type;
		s->ttls[s->n] = ttl;
		s->rdlens[s->n] = rdlen;
	}
	s->n++;
}

static void test_foreach_rr(void)
{
	struct seen s = {.n = 0};
	char want[64];
	CHECK_INT(pkarr_foreach_rr(iroh_dns, sizeof(iroh_dns), on_rr, &s), 0);
	CHECK_INT(s.n, 3);
	snprintf(want, sizeof(want), "_iroh.%s", vector_z32);
	for (size_t i = 0; i < 3; i++) {
		CHECK_STR(s.names[i], want);
		CHECK_INT(s.types[i], 16);
		CHECK_INT(s.ttls[i], 30);
	}
	CHECK_INT(s.rdlens[0], 27);
	CHECK_INT(s.rdlens[2], 17);

	/* Names: the root, a label with a dot or a space (skipped), an A
	 * record, records in the authority section (not answers). */
	struct msg m = {.len = 0};
	static const uint8_t header[] = {0, 0, 0x80, 0, 0, 0, 0, 4, 0, 1, 0, 0};
	msg_put(&m, header, sizeof(header));
	msg_name(&m, "");
	msg_put(&m, "\0\x01\0\x01\0\0\0\x05\0\x04\x01\x02\x03\x04", 14);
	m.b[m.len++] = 3;
	msg_put(&m, "a.b", 3);
	m.b[m.len++] = 0;
	msg_put(&m, "\0\x01\0\x01\0\0\0\x05\0\x04\x01\x02\x03\x04", 14);
	m.b[m.len++] = 3;
	msg_put(&m, "a b", 3);
	m.b[m.len++] = 0;
	msg_put(&m, "\0\x01\0\x01\0\0\0\x05\0\x04\x01\x02\x03\x04", 14);
	msg_name(&m, "_x.Mixed-Case.example");
	msg_put(&m, "\0\x1c\0\x01\0\0\0\x06\0\x00", 10);
	msg_name(&m, "ns.example");
	msg_put(&m, "\0\x01\0\x01\0\0\0\x05\0\x04\x01\x02\x03\x04", 14);
	s.n = 0;
	CHECK_INT(pkarr_foreach_rr(m.b, m.len, on_rr, &s), 0);
	CHECK_INT(s.n, 2);
	CHECK_STR(s.names[0], "");
	CHECK_STR(s.names[1], "_x.Mixed-Case.example");
	CHECK_INT(s.types[1], 28);
	CHECK_INT(s.ttls[1], 6);
	CHECK_INT(s.rdlens[1], 0);

	/* A malformed authority record after good answers: -EBADMSG, the
	 * answers seen. */
	m.len -= 1;
	s.n = 0;
	CHECK_INT(pkarr_foreach_rr(m.b, m.len, on_rr, &s), -EBADMSG);
	CHECK_INT(s.n, 2);
}

/* A message with one TXT record named by four labels of these sizes. */
static size_t long_name_record(uint8_t *b, const uint8_t sizes[4])
{
	memset(b, 0, 600);
	b[2] = 0x80;
	b[7] = 1;
	size_t p = 12;
	for (int i = 0; i < 4; i++) {
		b[p] = sizes[i];
		memset(b + p + 1, 'x', sizes[i]);
		p += 1 + (size_t)sizes[i];
	}
	b[p++] = 0;
	b[p + 1] = 16;
	b[p + 3] = 1;
	return p + 10;
}

static void test_malformed(void)
{
	struct pkarr_record rec;
	struct seen s = {.n = 0};
	uint8_t b[600];

	/* Pointer loops, forward pointers, pointers into the header, a
	 * pointer to itself. */
	static const uint8_t loop[] = {0, 0, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c};
	static const uint8_t forward[] = {0, 0,	  0x80, 0, 0,  0, 0, 1, 0, 0, 0, 0, 0xc0, 0x0e,
					  1, 'a', 0,	0, 16, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t header_ptr[] = {0,	   0,	 0x80, 0,  0, 0, 0, 1, 0, 0, 0, 0,
					     0xc0, 0x02, 0,    16, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t two_hop[] = {0, 0,	 0x80, 0,   0,	  0,	0, 2, 0, 0,
					  0, 0,	 1,    'a', 0xc0, 0x0e, /* a pointer to itself */
					  0, 16, 0,    1,   0,	  0,	0, 0, 0, 0};
	static const uint8_t ext_label[] = {0,	 0, 0x80, 0,  0, 0, 0, 1, 0, 0, 0, 0, 0x41,
					    'a', 0, 0,	  16, 0, 1, 0, 0, 0, 0, 0, 0};
	static const uint8_t rdata_over[] = {0, 0, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0,
					     0, 0, 16,	 0, 1, 0, 0, 0, 0, 0, 2, 1};
	static const uint8_t question_short[] = {0, 0, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 16};
	const struct {
		const uint8_t *p;
		size_t len;
	} cases[] = {
	    {loop, sizeof(loop)},
	    {forward, sizeof(forward)},
	    {header_ptr, sizeof(header_ptr)},
	    {two_hop, sizeof(two_hop)},
	    {ext_label, sizeof(ext_label)},
	    {rdata_over, sizeof(rdata_over)},
	    {question_short, sizeof(question_short)},
	    {loop, 11},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(pkarr_parse_dns(&vector_identity.id, cases[i].p, cases[i].len, &rec),
			  -EBADMSG);
		CHECK_INT(pkarr_foreach_rr(cases[i].p, cases[i].len, on_rr, &s), -EBADMSG);
	}
	CHECK_INT(s.n, 0);

	/* Names of 255 bytes (with the root label) pass, 257 do not. */
	static const uint8_t longest[] = {63, 63, 63, 61}, too_long[] = {63, 63, 63, 63};
	size_t len = long_name_record(b, longest);
	CHECK_INT(pkarr_foreach_rr(b, len, on_rr, &s), 0);
	CHECK_INT(s.n, 1);
	CHECK_INT(strlen(s.names[0]), 253);
	len = long_name_record(b, too_long);
	CHECK_INT(pkarr_foreach_rr(b, len, on_rr, &s), -EBADMSG);
	CHECK_INT(s.n, 1);

	/* A TXT record of ours with a string running past its RDATA. */
	uint8_t dns[PKARR_MAX_DNS];
	memset(&rec, 0, sizeof(rec));
	strcpy(rec.relay, "http://x/");
	int n = pkarr_encode_dns(&vector_identity.id, &rec, dns, sizeof(dns));
	dns[n - 16] = 200; /* the length byte of "relay=http://x/" */
	CHECK_INT(pkarr_parse_dns(&vector_identity.id, dns, (size_t)n, &rec), -EBADMSG);
	CHECK_STR(rec.relay, "");
	/* Trailing bytes after the records are allowed, as iroh allows them. */
	memcpy(b, iroh_dns, sizeof(iroh_dns));
	b[sizeof(iroh_dns)] = 0xff;
	CHECK_INT(pkarr_parse_dns(&vector_identity.id, b, sizeof(iroh_dns) + 1, &rec), 0);
	CHECK_STR(rec.relay, "https://example.com/");
}

int main(void)
{
	test_vector();
	test_verify_refuses();
	test_iroh_record();
	test_dns_answer();
	test_round_trip();
	test_parse_txt();
	test_foreach_rr();
	test_malformed();
	identity_wipe(&vector_identity);
	return check_done();
}
