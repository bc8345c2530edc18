#include "iron/punch.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "iron/bytes.h"
#include "iron/transport.h"

int punch_encode(const struct punch_candidate *c, size_t n, uint8_t *out, size_t cap)
{
	size_t at = 3;
	if (n > PUNCH_MAX_CANDIDATES || cap < at)
		return -EMSGSIZE;
	out[0] = PUNCH_VERSION;
	out[1] = PUNCH_TYPE_CANDIDATES;
	out[2] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		const struct sockaddr *sa = &c[i].addr.sa;
		size_t alen = sa->sa_family == AF_INET ? 4 : sa->sa_family == AF_INET6 ? 16 : 0;
		if (alen == 0)
			return -EAFNOSUPPORT;
		if (cap - at < 2 + alen + 2)
			return -EMSGSIZE;
		out[at++] = (uint8_t)c[i].kind;
		out[at++] = alen == 4 ? 4 : 6;
		if (alen == 4)
			memcpy(out + at, &c[i].addr.in.sin_addr, 4);
		else
			memcpy(out + at, &c[i].addr.in6.sin6_addr, 16);
		at += alen;
		bytes_put16(out + at, netaddr_port(sa));
		at += 2;
	}
	return (int)at;
}

int punch_parse(const uint8_t *msg, size_t len, struct punch_candidate *out, size_t max)
{
	if (len < 3)
		return -EBADMSG;
	if (msg[0] != PUNCH_VERSION || msg[1] != PUNCH_TYPE_CANDIDATES)
		return 0;
	size_t n = msg[2], at = 3, got = 0;
	if (n > PUNCH_MAX_CANDIDATES)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (len - at < 2)
			return -EBADMSG;
		uint8_t kind = msg[at], family = msg[at + 1];
		size_t alen = family == 4 ? 4 : family == 6 ? 16 : 0;
		if (kind < PUNCH_LOCAL || kind > PUNCH_MAPPED || alen == 0 ||
		    len - at - 2 < alen + 2)
			return -EBADMSG;
		at += 2;
		uint16_t port = bytes_get16(msg + at + alen);
		if (port == 0)
			return -EBADMSG;
		if (got < max) {
			struct punch_candidate *c = &out[got++];
			memset(c, 0, sizeof(*c));
			c->kind = (enum punch_kind)kind;
			if (alen == 4) {
				c->addr.in.sin_family = AF_INET;
				memcpy(&c->addr.in.sin_addr, msg + at, 4);
			} else {
				c->addr.in6.sin6_family = AF_INET6;
				memcpy(&c->addr.in6.sin6_addr, msg + at, 16);
			}
			netaddr_set_port(&c->addr, port);
		}
		at += alen + 2;
	}
	return (int)got;
}

void punch_write_probe(uint8_t out[PUNCH_PROBE_LEN])
{
	memcpy(out, TRANSPORT_IRON_MAGIC, TRANSPORT_IRON_MAGIC_LEN);
	out[TRANSPORT_IRON_MAGIC_LEN] = 1;
}

const char *punch_kind_name(enum punch_kind kind)
{
	switch (kind) {
	case PUNCH_LOCAL:
		return "local";
	case PUNCH_REFLEXIVE:
		return "reflexive";
	case PUNCH_MAPPED:
		return "mapped";
	}
	return "?";
}
