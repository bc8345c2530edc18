/* Socket addresses as values: IPv4 or IPv6 address and port, with no
 * socket behind them. Parse, format, compare, hash, and tell the reserved
 * placeholder addresses of relayed paths (DESIGN section 5) from real ones.
 *
 * Functions take `const struct sockaddr *` so that addresses from libuv,
 * ngtcp2 or the kernel can be used as they are; struct netaddr is the type
 * to store one in (28 bytes, where sockaddr_storage is 128).
 *
 * Placeholders: a relayed path is a pair of addresses in 100::/64 (the
 * IPv6 discard-only prefix, RFC 6666), which never appears on the wire: the
 * transport hands datagrams for them to a relay link instead of a socket.
 * The low 64 bits carry a relay number and a slot chosen by the owner of the
 * link. */
#ifndef IRON_NETADDR_H
#define IRON_NETADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct netaddr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	};
};

/* "[ffff:...:ffff%scope]:65535" and its NUL fit. */
#define NETADDR_STR_SIZE 72

/* The length of an AF_INET or AF_INET6 address; 0 for any other family. */
socklen_t netaddr_len(const struct sockaddr *addr);

/* Copies an AF_INET or AF_INET6 address (reading only its own length) into
 * out. Returns 0, or -EAFNOSUPPORT (out is then zeroed). */
int netaddr_set(struct netaddr *out, const struct sockaddr *addr);

/* Parses "1.2.3.4:5" or "[v6]:5" with a numeric host and a decimal port
 * 0-65535. Returns 0 or -EINVAL. */
int netaddr_parse(const char *text, struct netaddr *out);

/* Parses a numeric IPv4 or IPv6 host (no brackets, no port) and sets port.
 * Returns 0 or -EINVAL. */
int netaddr_parse_host(const char *host, uint16_t port, struct netaddr *out);

/* "1.2.3.4:5" or "[v6]:5"; a v4-mapped IPv6 address is shown as IPv4. out
 * holds NETADDR_STR_SIZE bytes or out_cap, whichever is less is used.
 * Returns out. */
char *netaddr_format(const struct sockaddr *addr, char *out, size_t out_cap);

/* The host alone ("1.2.3.4", "fd00::1"), as netaddr_format() shows it. */
char *netaddr_format_host(const struct sockaddr *addr, char *out, size_t out_cap);

/* The port in host order (0 for another family). */
uint16_t netaddr_port(const struct sockaddr *addr);

/* Sets the port (host order); nothing for another family. */
void netaddr_set_port(struct netaddr *addr, uint16_t port);

/* Same family, address, port (and IPv6 scope). */
bool netaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

/* A hash of what netaddr_equal() compares, mixed with seed. */
uint64_t netaddr_hash(const struct sockaddr *addr, uint64_t seed);

/* IPv4 as v4-mapped IPv6 (the form a dual-stack socket reports); IPv6 as it
 * is. Returns 0 or -EAFNOSUPPORT. */
int netaddr_to_v6(const struct sockaddr *addr, struct netaddr *out);

/* The canonical form: a v4-mapped IPv6 address as IPv4, anything else as
 * it is. Two forms of one peer address then compare equal. Returns 0 or
 * -EAFNOSUPPORT. */
int netaddr_canonical(const struct sockaddr *addr, struct netaddr *out);

/* True for a relayed path's placeholder (100::/64). */
bool netaddr_is_relay(const struct sockaddr *addr);

/* The placeholder for (relay, slot); port 0. */
void netaddr_relay(uint32_t relay, uint32_t slot, struct netaddr *out);

/* The relay and slot of a placeholder. Returns 0 or -EINVAL (not one). */
int netaddr_relay_parts(const struct sockaddr *addr, uint32_t *relay, uint32_t *slot);

#endif
