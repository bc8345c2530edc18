/* STUN messages (RFC 8489 sections 5, 14.1, 14.2, 14.7): header checks,
 * attribute walk with every length checked against what is left, the
 * (XOR-)MAPPED-ADDRESS decoding and the FINGERPRINT CRC. */
#include "iron/stun.h"

#include <errno.h>
#include <string.h>

#include "iron/bytes.h"

#define STUN_MAGIC_COOKIE    0x2112a442u
#define STUN_FINGERPRINT_XOR 0x5354554eu
#define ATTR_MAPPED_ADDRESS  0x0001
#define ATTR_XOR_MAPPED	     0x0020
#define ATTR_XOR_MAPPED_OLD  0x8020 /* pre-RFC 5389 servers still send it */
#define ATTR_FINGERPRINT     0x8028
#define FAMILY_IPV4	     0x01
#define FAMILY_IPV6	     0x02
#define FINGERPRINT_ATTR_LEN 8

/* CRC-32 of ISO 3309 / ITU-T V.42 (zlib's), bit by bit: STUN messages
 * are short. */
static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* An address attribute's value (family, port, address), XORed with the
 * cookie and transaction ID when xor is set (header is the message's
 * first 20 bytes). Returns 0 or -EBADMSG. */
static int parse_address(const uint8_t *v, size_t len, const uint8_t *header, bool xor,
			 struct netaddr *out)
{
	if (len < 4)
		return -EBADMSG;
	uint8_t family = v[1];
	uint16_t port = bytes_get16(v + 2);
	if (xor)
		port ^= (uint16_t)(STUN_MAGIC_COOKIE >> 16);
	memset(out, 0, sizeof(*out));
	if (family == FAMILY_IPV4 && len == 8) {
		out->in.sin_family = AF_INET;
		out->in.sin_port = htons(port);
		uint8_t *a = (uint8_t *)&out->in.sin_addr;
		for (int i = 0; i < 4; i++)
			a[i] = (uint8_t)(v[4 + i] ^ (xor? header[4 + i] : 0));
		return 0;
	}
	if (family == FAMILY_IPV6 && len == 20) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		/* Cookie then transaction ID: header bytes 4-19. */
		for (int i = 0; i < 16; i++)
			out->in6.sin6_addr.s6_addr[i] =
			    (uint8_t)(v[4 + i] ^ (xor? header[4 + i] : 0));
		return 0;
	}
	return -EBADMSG;
}

int stun_parse(const uint8_t *buf, size_t len, struct stun_message *out)
{
	memset(out, 0, sizeof(*out));
	if (len < STUN_HEADER_LEN || (buf[0] & 0xc0) || bytes_get32(buf + 4) != STUN_MAGIC_COOKIE)
		return -EBADMSG;
	size_t body = bytes_get16(buf + 2);
	if (body % 4 || body != len - STUN_HEADER_LEN)
		return -EBADMSG;

	bool have_xor = false, have_plain = false;
	struct netaddr xor_addr, plain_addr;
	size_t pos = STUN_HEADER_LEN;
	while (pos < len) {
		if (len - pos < 4)
			return -EBADMSG;
		uint16_t type = bytes_get16(buf + pos), alen = bytes_get16(buf + pos + 2);
		size_t padded = ((size_t)alen + 3) & ~(size_t)3;
		if (padded > len - pos - 4)
			return -EBADMSG;
		const uint8_t *value = buf + pos + 4;
		if (out->has_fingerprint)
			return -EBADMSG; /* FINGERPRINT must be last */
		switch (type) {
		case ATTR_XOR_MAPPED:
		case ATTR_XOR_MAPPED_OLD:
			if (!have_xor) {
				if (parse_address(value, alen, buf, true, &xor_addr) != 0)
					return -EBADMSG;
				have_xor = true;
			}
			break;
		case ATTR_MAPPED_ADDRESS:
			if (!have_plain) {
				if (parse_address(value, alen, buf, false, &plain_addr) != 0)
					return -EBADMSG;
				have_plain = true;
			}
			break;
		case ATTR_FINGERPRINT:
			if (alen != 4 ||
			    bytes_get32(value) != (crc32_ieee(buf, pos) ^ STUN_FINGERPRINT_XOR))
				return -EBADMSG;
			out->has_fingerprint = 1;
			break;
		default:
			break; /* comprehension-optional or not ours: skipped */
		}
		pos += 4 + padded;
	}

	out->type = bytes_get16(buf);
	memcpy(out->txid, buf + 8, STUN_TXID_LEN);
	if (have_xor || have_plain) {
		out->has_mapped = 1;
		out->mapped = have_xor ? xor_addr : plain_addr;
	}
	return 0;
}

static void write_header(uint8_t *out, uint16_t type, uint16_t body_len,
			 const uint8_t txid[STUN_TXID_LEN])
{
	bytes_put16(out, type);
	bytes_put16(out + 2, body_len);
	bytes_put32(out + 4, STUN_MAGIC_COOKIE);
	memcpy(out + 8, txid, STUN_TXID_LEN);
}

size_t stun_write_binding_request(uint8_t out[STUN_HEADER_LEN], const uint8_t txid[STUN_TXID_LEN])
{
	write_header(out, STUN_BINDING_REQUEST, 0, txid);
	return STUN_HEADER_LEN;
}

ssize_t stun_write_binding_success(uint8_t *out, size_t cap, const uint8_t txid[STUN_TXID_LEN],
				   const struct sockaddr *mapped)
{
	struct netaddr addr;
	if (netaddr_canonical(mapped, &addr) != 0)
		return -EAFNOSUPPORT;
	bool v4 = addr.sa.sa_family == AF_INET;
	size_t alen = v4 ? 8 : 20;
	size_t total = STUN_HEADER_LEN + 4 + alen + FINGERPRINT_ATTR_LEN;
	if (cap < total)
		return -ENOBUFS;

	write_header(out, STUN_BINDING_SUCCESS, (uint16_t)(total - STUN_HEADER_LEN), txid);
	uint8_t *a = out + STUN_HEADER_LEN;
	bytes_put16(a, ATTR_XOR_MAPPED);
	bytes_put16(a + 2, (uint16_t)alen);
	a[4] = 0;
	a[5] = v4 ? FAMILY_IPV4 : FAMILY_IPV6;
	bytes_put16(a + 6, (uint16_t)(netaddr_port(&addr.sa) ^ (STUN_MAGIC_COOKIE >> 16)));
	const uint8_t *ip = v4 ? (const uint8_t *)&addr.in.sin_addr : addr.in6.sin6_addr.s6_addr;
	for (size_t i = 0; i < alen - 4; i++)
		a[8 + i] = (uint8_t)(ip[i] ^ out[4 + i]);

	uint8_t *f = a + 4 + alen;
	bytes_put16(f, ATTR_FINGERPRINT);
	bytes_put16(f + 2, 4);
	bytes_put32(f + 4, crc32_ieee(out, (size_t)(f - out)) ^ STUN_FINGERPRINT_XOR);
	return (ssize_t)total;
}
