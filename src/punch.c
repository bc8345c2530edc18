#include "iron/punch.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "iron/bytes.h"
#include "iron/transport.h"

/* One address: family (4 or 6), address, port. Returns its length or a
 * negative errno. */
static int put_addr(uint8_t *out, size_t cap, const struct sockaddr *sa)
{
	size_t alen = sa->sa_family == AF_INET ? 4 : sa->sa_family == AF_INET6 ? 16 : 0;
	if (alen == 0)
		return -EAFNOSUPPORT;
	if (cap < 1 + alen + 2)
		return -EMSGSIZE;
	out[0] = alen == 4 ? 4 : 6;
	if (alen == 4)
		memcpy(out + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else
		memcpy(out + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	bytes_put16(out + 1 + alen, netaddr_port(sa));
	return (int)(1 + alen + 2);
}

/* Reads one address at *at. Returns 0 or -EBADMSG. */
static int get_addr(const uint8_t *msg, size_t len, size_t *at, struct netaddr *out)
{
	if (len - *at < 1)
		return -EBADMSG;
	uint8_t family = msg[*at];
	size_t alen = family == 4 ? 4 : family == 6 ? 16 : 0;
	if (alen == 0 || len - *at - 1 < alen + 2)
		return -EBADMSG;
	const uint8_t *a = msg + *at + 1;
	uint16_t port = bytes_get16(a + alen);
	if (port == 0)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	if (alen == 4) {
		out->in.sin_family = AF_INET;
		memcpy(&out->in.sin_addr, a, 4);
	} else {
		out->in6.sin6_family = AF_INET6;
		memcpy(&out->in6.sin6_addr, a, 16);
	}
	netaddr_set_port(out, port);
	*at += 1 + alen + 2;
	return 0;
}

int punch_encode(const struct punch_candidate *c, size_t n, uint8_t *out, size_t cap)
{
	size_t at = 3;
	if (n > PUNCH_MAX_CANDIDATES || cap < at)
		return -EMSGSIZE;
	out[0] = PUNCH_VERSION;
	out[1] = PUNCH_TYPE_CANDIDATES;
	out[2] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		if (cap - at < 1)
			return -EMSGSIZE;
		out[at++] = (uint8_t)c[i].kind;
		int len = put_addr(out + at, cap - at, &c[i].addr.sa);
		if (len < 0)
			return len;
		at += (size_t)len;
	}
	return (int)at;
}

int punch_append_observed(uint8_t *msg, size_t len, size_t cap, const struct sockaddr *observed)
{
	if (cap <= len)
		return -EMSGSIZE;
	msg[len] = PUNCH_TAG_OBSERVED;
	int n = put_addr(msg + len + 1, cap - len - 1, observed);
	return n < 0 ? n : (int)(len + 1 + (size_t)n);
}

int punch_parse(const uint8_t *msg, size_t len, struct punch_candidate *out, size_t max,
		struct netaddr *observed)
{
	if (observed)
		memset(observed, 0, sizeof(*observed));
	if (len < 3)
		return -EBADMSG;
	if (msg[0] != PUNCH_VERSION || msg[1] != PUNCH_TYPE_CANDIDATES)
		return 0;
	size_t n = msg[2], at = 3, got = 0;
	if (n > PUNCH_MAX_CANDIDATES)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		struct netaddr addr;
		if (len - at < 1)
			return -EBADMSG;
		uint8_t kind = msg[at++];
		if (get_addr(msg, len, &at, &addr) < 0)
			return -EBADMSG;
		if (kind < PUNCH_LOCAL || kind > PUNCH_MAPPED || got == max)
			continue; /* a kind of a newer node */
		out[got].kind = (enum punch_kind)kind;
		out[got++].addr = addr;
	}
	if (len - at >= 1 && msg[at] == PUNCH_TAG_OBSERVED) {
		struct netaddr addr;
		at++;
		if (get_addr(msg, len, &at, &addr) < 0)
			return -EBADMSG;
		if (observed)
			*observed = addr;
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
