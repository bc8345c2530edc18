#include "iron/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 100::/64, RFC 6666. */
static const uint8_t relay_prefix[8] = {0x01, 0x00, 0, 0, 0, 0, 0, 0};

socklen_t netaddr_len(const struct sockaddr *addr)
{
	switch (addr->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

int netaddr_set(struct netaddr *out, const struct sockaddr *addr)
{
	socklen_t len = netaddr_len(addr);
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return -EAFNOSUPPORT;
	memcpy(out, addr, len);
	return 0;
}

int netaddr_parse_host(const char *host, uint16_t port, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &out->in.sin_addr) == 1) {
		out->in.sin_family = AF_INET;
		out->in.sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) == 1) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

int netaddr_parse(const char *text, struct netaddr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	size_t host_len;
	bool bracketed = text[0] == '[';

	memset(out, 0, sizeof(*out));
	if (bracketed) {
		const char *close_bracket = strchr(text, ']');
		if (!close_bracket || close_bracket[1] != ':')
			return -EINVAL;
		host_len = (size_t)(close_bracket - text - 1);
		text++;
		port_text = close_bracket + 2;
	} else {
		const char *colon = strchr(text, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL; /* a bare IPv6 address needs brackets */
		host_len = (size_t)(colon - text);
		port_text = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, host_len);
	host[host_len] = '\0';

	unsigned long port = 0;
	size_t digits = 0;
	for (const char *p = port_text; *p; p++, digits++) {
		if (*p < '0' || *p > '9' || digits >= 5)
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (digits == 0 || port > 65535)
		return -EINVAL;
	if (netaddr_parse_host(host, (uint16_t)port, out) != 0)
		return -EINVAL;
	/* IPv6 only in brackets, IPv4 only without. */
	if ((out->sa.sa_family == AF_INET6) != bracketed) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

char *netaddr_format_host(const struct sockaddr *addr, char *out, size_t out_cap)
{
	char host[INET6_ADDRSTRLEN];
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
		if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
			inet_ntop(AF_INET, v6->sin6_addr.s6_addr + 12, host, sizeof(host));
		else
			inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
	} else {
		snprintf(out, out_cap, "(address family %d)", addr->sa_family);
		return out;
	}
	snprintf(out, out_cap, "%s", host);
	return out;
}

char *netaddr_format(const struct sockaddr *addr, char *out, size_t out_cap)
{
	char host[INET6_ADDRSTRLEN + 32];
	netaddr_format_host(addr, host, sizeof(host));
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
		if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
			if (v6->sin6_scope_id)
				snprintf(out, out_cap, "[%s%%%u]:%u", host,
					 (unsigned)v6->sin6_scope_id, ntohs(v6->sin6_port));
			else
				snprintf(out, out_cap, "[%s]:%u", host, ntohs(v6->sin6_port));
			return out;
		}
	} else if (addr->sa_family != AF_INET) {
		snprintf(out, out_cap, "%s", host);
		return out;
	}
	snprintf(out, out_cap, "%s:%u", host, netaddr_port(addr));
	return out;
}

uint16_t netaddr_port(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)addr)->sin_port);
	if (addr->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return 0;
}

void netaddr_set_port(struct netaddr *addr, uint16_t port)
{
	if (addr->sa.sa_family == AF_INET)
		addr->in.sin_port = htons(port);
	else if (addr->sa.sa_family == AF_INET6)
		addr->in6.sin6_port = htons(port);
}

bool netaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
		return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* FNV-1a over the compared fields, then a final mix (the low bits pick
 * buckets). */
static uint64_t mix_bytes(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t netaddr_hash(const struct sockaddr *addr, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	h = mix_bytes(h, &addr->sa_family, sizeof(addr->sa_family));
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
		h = mix_bytes(h, &v4->sin_port, sizeof(v4->sin_port));
		h = mix_bytes(h, &v4->sin_addr, sizeof(v4->sin_addr));
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
		h = mix_bytes(h, &v6->sin6_port, sizeof(v6->sin6_port));
		h = mix_bytes(h, &v6->sin6_addr, sizeof(v6->sin6_addr));
		h = mix_bytes(h, &v6->sin6_scope_id, sizeof(v6->sin6_scope_id));
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

int netaddr_to_v6(const struct sockaddr *addr, struct netaddr *out)
{
	if (addr->sa_family == AF_INET6)
		return netaddr_set(out, addr);
	memset(out, 0, sizeof(*out));
	if (addr->sa_family != AF_INET)
		return -EAFNOSUPPORT;
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
	out->in6.sin6_family = AF_INET6;
	out->in6.sin6_port = v4->sin_port;
	out->in6.sin6_addr.s6_addr[10] = 0xff;
	out->in6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(out->in6.sin6_addr.s6_addr + 12, &v4->sin_addr, 4);
	return 0;
}

int netaddr_canonical(const struct sockaddr *addr, struct netaddr *out)
{
	int rc = netaddr_set(out, addr);
	if (rc < 0 || addr->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&out->in6.sin6_addr))
		return rc;
	struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = out->in6.sin6_port};
	memcpy(&v4.sin_addr, out->in6.sin6_addr.s6_addr + 12, 4);
	memset(out, 0, sizeof(*out));
	out->in = v4;
	return 0;
}

bool netaddr_is_relay(const struct sockaddr *addr)
{
	if (addr->sa_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
	return memcmp(v6->sin6_addr.s6_addr, relay_prefix, sizeof(relay_prefix)) == 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void netaddr_relay(uint32_t relay, uint32_t slot, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	out->in6.sin6_family = AF_INET6;
	memcpy(out->in6.sin6_addr.s6_addr, relay_prefix, sizeof(relay_prefix));
	put_be32(out->in6.sin6_addr.s6_addr + 8, relay);
	put_be32(out->in6.sin6_addr.s6_addr + 12, slot);
}

int netaddr_relay_parts(const struct sockaddr *addr, uint32_t *relay, uint32_t *slot)
{
	if (!netaddr_is_relay(addr))
		return -EINVAL;
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
	*relay = get_be32(v6->sin6_addr.s6_addr + 8);
	*slot = get_be32(v6->sin6_addr.s6_addr + 12);
	return 0;
}
