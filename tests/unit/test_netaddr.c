/* Socket addresses as values: parse, format, compare, hash, placeholders. */
#include <arpa/inet.h>
#include <errno.h>

#include "check.h"
#include "iron/netaddr.h"

static void round_trip(const char *text, int family, uint16_t port)
{
	struct netaddr a;
	char out[NETADDR_STR_SIZE];
	CHECK_INT(netaddr_parse(text, &a), 0);
	CHECK_INT(a.sa.sa_family, family);
	CHECK_INT(netaddr_port(&a.sa), port);
	CHECK_STR(netaddr_format(&a.sa, out, sizeof(out)), text);
	CHECK_INT(netaddr_len(&a.sa),
		  family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
}

static void test_parse_format(void)
{
	round_trip("10.0.0.2:4766", AF_INET, 4766);
	round_trip("0.0.0.0:0", AF_INET, 0);
	round_trip("[::]:65535", AF_INET6, 65535);
	round_trip("[fd00:1::2]:4766", AF_INET6, 4766);

	static const char *const bad[] = {
	    "",
	    "10.0.0.2",
	    "10.0.0.2:",
	    "10.0.0.2:65536",
	    "10.0.0.2:-1",
	    "10.0.0.2:+5",
	    "10.0.0.2: 5",
	    ":4766",
	    "fd00::1:4766",
	    "[fd00::1]",
	    "[fd00::1]:",
	    "[10.0.0.2]:5",
	    "[fd00::1]4766",
	    "host.example:1",
	    "1.2.3:4",
	    "[]:1",
	    "10.0.0.2:0004766",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct netaddr a;
		if (netaddr_parse(bad[i], &a) != -EINVAL)
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		CHECK_INT(netaddr_parse(bad[i], &a), -EINVAL);
		CHECK_INT(a.sa.sa_family, 0);
	}

	struct netaddr h;
	CHECK_INT(netaddr_parse_host("192.0.2.7", 53, &h), 0);
	CHECK_INT(h.sa.sa_family, AF_INET);
	CHECK_INT(netaddr_port(&h.sa), 53);
	CHECK_INT(netaddr_parse_host("2001:db8::7", 53, &h), 0);
	CHECK_INT(h.sa.sa_family, AF_INET6);
	char out[NETADDR_STR_SIZE];
	CHECK_STR(netaddr_format_host(&h.sa, out, sizeof(out)), "2001:db8::7");
	CHECK_INT(netaddr_parse_host("[2001:db8::7]", 53, &h), -EINVAL);
	CHECK_INT(netaddr_parse_host("example.org", 53, &h), -EINVAL);
	/* A v4-mapped address reads as IPv4, as a dual-stack socket's peers do. */
	struct netaddr v4, mapped;
	CHECK_INT(netaddr_parse("192.0.2.1:9", &v4), 0);
	CHECK_INT(netaddr_to_v6(&v4.sa, &mapped), 0);
	CHECK_INT(mapped.sa.sa_family, AF_INET6);
	CHECK_STR(netaddr_format(&mapped.sa, out, sizeof(out)), "192.0.2.1:9");
	CHECK(!netaddr_equal(&v4.sa, &mapped.sa));
	struct netaddr canon;
	CHECK_INT(netaddr_canonical(&mapped.sa, &canon), 0);
	CHECK(netaddr_equal(&canon.sa, &v4.sa));
	CHECK_INT(netaddr_canonical(&v4.sa, &canon), 0);
	CHECK(netaddr_equal(&canon.sa, &v4.sa));
	/* Cut to the buffer, always terminated. */
	char small[6];
	CHECK_STR(netaddr_format(&mapped.sa, small, sizeof(small)), "192.0");
	struct sockaddr unknown = {.sa_family = AF_UNIX};
	CHECK_INT(netaddr_len(&unknown), 0);
	CHECK_INT(netaddr_set(&h, &unknown), -EAFNOSUPPORT);
	CHECK_INT(netaddr_to_v6(&unknown, &h), -EAFNOSUPPORT);
}

static void test_equal_hash(void)
{
	struct netaddr a, b, c;
	CHECK_INT(netaddr_parse("[fd00::1]:1", &a), 0);
	CHECK_INT(netaddr_parse("[fd00::1]:1", &b), 0);
	CHECK_INT(netaddr_parse("[fd00::1]:2", &c), 0);
	CHECK(netaddr_equal(&a.sa, &b.sa));
	CHECK(!netaddr_equal(&a.sa, &c.sa));
	CHECK(netaddr_hash(&a.sa, 7) == netaddr_hash(&b.sa, 7));
	CHECK(netaddr_hash(&a.sa, 7) != netaddr_hash(&c.sa, 7));
	CHECK(netaddr_hash(&a.sa, 7) != netaddr_hash(&a.sa, 8));
	b.in6.sin6_scope_id = 3;
	CHECK(!netaddr_equal(&a.sa, &b.sa));
	/* Only the address's own length is read: a sockaddr_in6 at the end of
	 * an allocation (as ngtcp2 keeps them) copies safely. */
	struct sockaddr_in6 tight = a.in6;
	struct netaddr copy;
	CHECK_INT(netaddr_set(&copy, (struct sockaddr *)&tight), 0);
	CHECK(netaddr_equal(&copy.sa, &a.sa));
}

static void test_relay_placeholders(void)
{
	struct netaddr p, q, real;
	uint32_t relay = 0, slot = 0;
	char out[NETADDR_STR_SIZE];
	netaddr_relay(2, 0xdeadbeef, &p);
	CHECK(netaddr_is_relay(&p.sa));
	CHECK_INT(netaddr_relay_parts(&p.sa, &relay, &slot), 0);
	CHECK_INT(relay, 2);
	CHECK(slot == 0xdeadbeef);
	CHECK_STR(netaddr_format(&p.sa, out, sizeof(out)), "[100::2:dead:beef]:0");
	netaddr_relay(2, 1, &q);
	CHECK(!netaddr_equal(&p.sa, &q.sa));
	CHECK_INT(netaddr_parse("[2001:db8::1]:5", &real), 0);
	CHECK(!netaddr_is_relay(&real.sa));
	CHECK_INT(netaddr_relay_parts(&real.sa, &relay, &slot), -EINVAL);
	CHECK_INT(netaddr_parse("[100::1:1]:5", &real), 0);
	CHECK(netaddr_is_relay(&real.sa));
	CHECK_INT(netaddr_parse("[100:0:0:1::1]:5", &real), 0);
	CHECK(!netaddr_is_relay(&real.sa));
	CHECK_INT(netaddr_parse("1.0.0.0:5", &real), 0);
	CHECK(!netaddr_is_relay(&real.sa));
}

int main(void)
{
	test_parse_format();
	test_equal_hash();
	test_relay_placeholders();
	return check_done();
}
