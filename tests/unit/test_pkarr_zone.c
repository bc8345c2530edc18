/* The DNS answers of iron dns-server (pkarr_zone.h) from hand-built
 * packets: records served under the origin with their TTLs, NODATA and
 * NXDOMAIN with the SOA, the apex, REFUSED outside the zone, the error
 * codes, EDNS and truncation. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"
#include "iron/bytes.h"
#include "iron/dns.h"
#include "iron/encoding.h"
#include "iron/pkarr_zone.h"

static uint8_t key1[32], key2[32];
static char z1[53], z2[53];

/* The packet the fake store holds for key1 (key2 has none). */
static uint8_t packet[2048];
static size_t packet_len;
static unsigned lookups;
static int lookup_error;

static int lookup(void *ctx, const uint8_t key[32], const uint8_t **dns, size_t *len)
{
	(void)ctx;
	lookups++;
	if (lookup_error)
		return lookup_error;
	if (memcmp(key, key1, 32) != 0)
		return -ENOENT;
	*dns = packet;
	*len = packet_len;
	return 0;
}

static size_t put_name(uint8_t *p, const char *dotted)
{
	size_t o = 0;
	while (*dotted) {
		const char *dot = strchr(dotted, '.');
		size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);
		p[o++] = (uint8_t)n;
		memcpy(p + o, dotted, n);
		o += n;
		dotted += n;
		if (*dotted)
			dotted++;
	}
	p[o++] = 0;
	return o;
}

struct builder {
	uint8_t *buf;
	size_t len;
	unsigned count;
};

static void add_rr(struct builder *b, const char *name, uint16_t type, uint32_t ttl,
		   const void *rdata, size_t rdlen)
{
	b->len += put_name(b->buf + b->len, name);
	bytes_put16(b->buf + b->len, type);
	bytes_put16(b->buf + b->len + 2, DNS_CLASS_IN);
	bytes_put32(b->buf + b->len + 4, ttl);
	bytes_put16(b->buf + b->len + 8, (uint16_t)rdlen);
	memcpy(b->buf + b->len + 10, rdata, rdlen);
	b->len += 10 + rdlen;
	b->count++;
	bytes_put16(b->buf + 6, (uint16_t)b->count);
}

static void add_txt(struct builder *b, const char *name, uint32_t ttl, const char *text)
{
	uint8_t rd[256];
	rd[0] = (uint8_t)strlen(text);
	memcpy(rd + 1, text, rd[0]);
	add_rr(b, name, DNS_TYPE_TXT, ttl, rd, 1 + (size_t)rd[0]);
}

static struct builder start_packet(void)
{
	struct builder b = {.buf = packet, .len = 12};
	memset(packet, 0, 12);
	packet[2] = 0x84;
	return b;
}

/* The standard packet: two TXT under _iroh.<z1>, an A under it, an NS and
 * a SOA (ignored), a TXT of another key (ignored), a TXT at <z1> itself
 * under a deeper name. */
static void standard_packet(void)
{
	char name[128];
	struct builder b = start_packet();
	snprintf(name, sizeof(name), "_iroh.%s", z1);
	add_txt(&b, name, 30, "relay=http://127.0.0.1:3340/");
	add_txt(&b, name, 45, "addr=192.0.2.1:4433");
	add_rr(&b, name, DNS_TYPE_A, 60, "\xc0\x00\x02\x01", 4);
	add_rr(&b, name, DNS_TYPE_NS, 60, "\x02ns\x00", 4);
	snprintf(name, sizeof(name), "_iroh.%s", z2);
	add_txt(&b, name, 30, "relay=http://evil/");
	snprintf(name, sizeof(name), "a.b.%s", z1);
	add_txt(&b, name, 10, "deep");
	packet_len = b.len;
}

/* A query for name/type; edns_size 0: no OPT. */
static size_t make_query(uint8_t *q, const char *name, uint16_t type, uint16_t class_,
			 uint16_t edns_size, uint8_t edns_version)
{
	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01; /* RD */
	q[5] = 1;
	size_t p = 12 + put_name(q + 12, name);
	bytes_put16(q + p, type);
	bytes_put16(q + p + 2, class_);
	p += 4;
	if (edns_size) {
		q[11] = 1;
		q[p] = 0;
		bytes_put16(q + p + 1, DNS_TYPE_OPT);
		bytes_put16(q + p + 3, edns_size);
		bytes_put32(q + p + 5, (uint32_t)edns_version << 16 | 0x8000);
		bytes_put16(q + p + 9, 0);
		p += 11;
	}
	return p;
}

static struct pkarr_zone zone;
static uint8_t reply[65536];
static struct pkarr_zone_info info;

static ssize_t ask(const char *name, uint16_t type, uint16_t edns, bool tcp)
{
	uint8_t q[512];
	size_t n = make_query(q, name, type, DNS_CLASS_IN, edns, 0);
	return pkarr_zone_answer(&zone, q, n, tcp, lookup, NULL, reply, sizeof(reply), &info);
}

static int rcode(void)
{
	return reply[3] & 0x0f;
}
static unsigned count(int section)
{
	return bytes_get16(reply + 4 + 2 * section);
}

/* The offset of the first record (after the question). */
static size_t first_record(void)
{
	size_t p = 12;
	while (reply[p])
		p += 1 + reply[p];
	return p + 5;
}

static void test_answers(void)
{
	char name[160];
	standard_packet();
	snprintf(name, sizeof(name), "_iroh.%s.dns.iroh.link", z1);
	ssize_t n = ask(name, DNS_TYPE_TXT, 0, false);
	CHECK(n > 0);
	CHECK_INT(rcode(), DNS_RCODE_NOERROR);
	CHECK(reply[2] & 0x80); /* QR */
	CHECK(reply[2] & 0x04); /* AA */
	CHECK(reply[2] & 0x01); /* RD echoed */
	CHECK_INT(bytes_get16(reply), 0x1234);
	CHECK_INT(count(0), 1);
	CHECK_INT(count(1), 2);
	CHECK_INT(count(2), 0);
	CHECK(info.found && info.in_zone);
	CHECK_INT(info.answers, 2);
	size_t p = first_record();
	CHECK_INT(bytes_get16(reply + p), 0xc00c); /* the owner: the question's name */
	CHECK_INT(bytes_get16(reply + p + 2), DNS_TYPE_TXT);
	CHECK_INT(bytes_get32(reply + p + 6), 30);
	CHECK_INT(bytes_get16(reply + p + 10), 29);
	CHECK_MEM(reply + p + 13, "relay=http://127.0.0.1:3340/", 28);
	p += 12 + 29;
	CHECK_INT(bytes_get32(reply + p + 6), 45); /* each record keeps its TTL */
	CHECK_MEM(reply + p + 13, "addr=192.0.2.1:4433", 19);
	CHECK_INT((size_t)n, p + 12 + 20);

	/* Case does not matter, and the question is echoed as asked. */
	snprintf(name, sizeof(name), "_IROH.%s.DNS.Iroh.LINK", z1);
	for (char *c = name + 6; *c && *c != '.'; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 32);
	n = ask(name, DNS_TYPE_TXT, 0, false);
	CHECK_INT(count(1), 2);
	CHECK_MEM(reply + 13, "_IROH", 5);

	/* ANY: every served record of the name (TXT and A; not NS). */
	snprintf(name, sizeof(name), "_iroh.%s.dns.iroh.link", z1);
	ask(name, DNS_TYPE_ANY, 0, false);
	CHECK_INT(count(1), 3);
	ask(name, DNS_TYPE_A, 0, false);
	CHECK_INT(count(1), 1);
	CHECK_INT(bytes_get32(reply + first_record() + 6), 60);

	/* The NS in the packet is not served: NODATA. */
	ask(name, DNS_TYPE_NS, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NOERROR);
	CHECK_INT(count(1), 0);
	CHECK_INT(count(2), 1);

	/* Another type: NODATA with the SOA, its TTL the negative one. */
	ask(name, DNS_TYPE_AAAA, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NOERROR);
	CHECK_INT(count(1), 0);
	CHECK_INT(count(2), 1);
	p = first_record();
	CHECK_INT(bytes_get16(reply + p + 15), DNS_TYPE_SOA); /* after dns.iroh.link. */
	CHECK_INT(bytes_get32(reply + p + 15 + 4), PKARR_ZONE_NEGATIVE_TTL);

	/* Names above records exist (NODATA); names that are not, NXDOMAIN. */
	snprintf(name, sizeof(name), "%s.dns.iroh.link", z1);
	ask(name, DNS_TYPE_TXT, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NOERROR);
	CHECK_INT(count(1), 0);
	snprintf(name, sizeof(name), "b.%s.dns.iroh.link", z1);
	ask(name, DNS_TYPE_TXT, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NOERROR);
	CHECK_INT(count(1), 0);
	snprintf(name, sizeof(name), "a.b.%s.dns.iroh.link", z1);
	ask(name, DNS_TYPE_TXT, 0, false);
	CHECK_INT(count(1), 1);
	CHECK_INT(bytes_get32(reply + first_record() + 6), 10);
	snprintf(name, sizeof(name), "_other.%s.dns.iroh.link", z1);
	ask(name, DNS_TYPE_TXT, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
	CHECK_INT(count(2), 1);
	CHECK(reply[2] & 0x04);

	/* Another key's records in the packet are not served for it. */
	snprintf(name, sizeof(name), "_iroh.%s.dns.iroh.link", z2);
	unsigned before = lookups;
	ask(name, DNS_TYPE_TXT, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
	CHECK_INT(lookups, before + 1);
	CHECK(info.looked_up && !info.found);

	/* A label that is no key: NXDOMAIN without a lookup. */
	before = lookups;
	ask("_iroh.notakey.dns.iroh.link", DNS_TYPE_TXT, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN);
	CHECK_INT(lookups, before);
	ask("_iroh.0000000000000000000000000000000000000000000000000000.dns.iroh.link",
	    DNS_TYPE_TXT, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NXDOMAIN); /* '0' is not z-base-32 */
	CHECK_INT(lookups, before);

	/* A store that cannot be read: SERVFAIL, not authoritative. */
	lookup_error = -EIO;
	snprintf(name, sizeof(name), "_iroh.%s.dns.iroh.link", z1);
	ask(name, DNS_TYPE_TXT, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_SERVFAIL);
	CHECK(!(reply[2] & 0x04));
	lookup_error = 0;
}

static void test_apex_and_outside(void)
{
	ask("dns.iroh.link", DNS_TYPE_SOA, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NOERROR);
	CHECK_INT(count(1), 1);
	size_t p = first_record();
	CHECK_INT(bytes_get16(reply + p + 15), DNS_TYPE_SOA);
	CHECK_INT(bytes_get32(reply + p + 19), PKARR_ZONE_SOA_TTL);
	/* mname ns1.dns.iroh.link, rname hostmaster.dns.iroh.link, serial 7. */
	CHECK_MEM(reply + p + 25,
		  "\x03ns1\x03"
		  "dns\x04iroh\x04link\x00",
		  19);
	CHECK_MEM(reply + p + 44,
		  "\x0ahostmaster\x03"
		  "dns",
		  15);
	CHECK_INT(bytes_get32(reply + p + 44 + 26), 7);
	CHECK_INT(bytes_get32(reply + p + 44 + 26 + 16), PKARR_ZONE_NEGATIVE_TTL);

	ask("dns.iroh.link.", DNS_TYPE_NS, 0, false);
	CHECK_INT(count(1), 1);
	CHECK_MEM(reply + first_record() + 25,
		  "\x03ns1\x03"
		  "dns",
		  8);
	ask("dns.iroh.link", DNS_TYPE_ANY, 0, false);
	CHECK_INT(count(1), 2);
	ask("dns.iroh.link", DNS_TYPE_A, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_NOERROR);
	CHECK_INT(count(1), 0);
	CHECK_INT(count(2), 1);

	/* Not an open resolver. */
	ask("example.com", DNS_TYPE_A, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_REFUSED);
	CHECK(!(reply[2] & 0x04));
	CHECK(!info.in_zone);
	ask("iroh.link", DNS_TYPE_SOA, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_REFUSED);
	ask("xdns.iroh.link", DNS_TYPE_SOA, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_REFUSED);
	ask("", DNS_TYPE_NS, 0, false);
	CHECK_INT(rcode(), DNS_RCODE_REFUSED);
	ask("dns.iroh.link", 252, 0, true); /* AXFR */
	CHECK_INT(rcode(), DNS_RCODE_REFUSED);

	uint8_t q[512];
	size_t n = make_query(q, "dns.iroh.link", DNS_TYPE_SOA, DNS_CLASS_CH, 0, 0);
	pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(rcode(), DNS_RCODE_REFUSED);
}

static void test_errors(void)
{
	uint8_t q[512];
	size_t n = make_query(q, "dns.iroh.link", DNS_TYPE_SOA, DNS_CLASS_IN, 0, 0);
	ssize_t r;

	q[2] = 0x10; /* opcode 2, STATUS */
	r = pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK(r >= 12);
	CHECK_INT(rcode(), DNS_RCODE_NOTIMP);
	CHECK_INT(reply[2] & 0x78, 0x10);

	q[2] = 0x80; /* a response: nothing */
	r = pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(r, 0);
	CHECK(!info.reply);
	r = pkarr_zone_answer(&zone, q, 1, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(r, 0);

	q[2] = 0;
	r = pkarr_zone_answer(&zone, q, 7, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(r, 12);
	CHECK_INT(rcode(), DNS_RCODE_FORMERR);
	q[5] = 2; /* two questions */
	r = pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(r, 12);
	CHECK_INT(rcode(), DNS_RCODE_FORMERR);
	q[5] = 1;
	/* A question cut short. */
	r = pkarr_zone_answer(&zone, q, n - 3, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(rcode(), DNS_RCODE_FORMERR);
	/* A compression pointer to itself. */
	uint8_t loop[] = {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 16, 0, 1};
	pkarr_zone_answer(&zone, loop, sizeof(loop), false, lookup, NULL, reply, sizeof(reply),
			  &info);
	CHECK_INT(rcode(), DNS_RCODE_FORMERR);
	/* An additional record cut short: FORMERR with the question. */
	q[11] = 1;
	r = pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(rcode(), DNS_RCODE_FORMERR);
	CHECK_INT(count(0), 1);
	q[11] = 0;

	/* EDNS: version 1 gets BADVERS (16: 1 in the OPT, 0 in the header). */
	n = make_query(q, "dns.iroh.link", DNS_TYPE_SOA, DNS_CLASS_IN, 4096, 1);
	r = pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(info.rcode, DNS_RCODE_BADVERS);
	CHECK_INT(rcode(), 0);
	CHECK_INT(count(3), 1);
	CHECK_INT(reply[r - 6], 1);
	/* Version 0: an OPT back, DO echoed, our size. */
	n = make_query(q, "dns.iroh.link", DNS_TYPE_SOA, DNS_CLASS_IN, 4096, 0);
	r = pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(rcode(), 0);
	CHECK_INT(count(3), 1);
	CHECK_INT(bytes_get16(reply + r - 8), DNS_EDNS_UDP_SIZE);
	CHECK_INT(bytes_get16(reply + r - 4), 0x8000);
	/* Two OPT records. */
	memcpy(q + n, q + n - 11, 11);
	q[11] = 2;
	pkarr_zone_answer(&zone, q, n + 11, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(rcode(), DNS_RCODE_FORMERR);

	CHECK_INT(pkarr_zone_answer(&zone, q, n, false, lookup, NULL, reply, 11, &info), -ENOSPC);
}

static void test_truncation(void)
{
	char name[128], text[200];
	struct builder b = start_packet();
	snprintf(name, sizeof(name), "_iroh.%s", z1);
	for (int i = 0; i < 8; i++) {
		snprintf(text, sizeof(text), "addr=[2001:db8::%d]:%d%080d", i, 1000 + i, 0);
		add_txt(&b, name, 30, text);
	}
	packet_len = b.len;
	snprintf(name, sizeof(name), "_iroh.%s.dns.iroh.link", z1);
	ssize_t n = ask(name, DNS_TYPE_TXT, 0, false);
	CHECK(n <= DNS_UDP_PLAIN_MAX);
	CHECK(reply[2] & 0x02); /* TC */
	CHECK_INT(count(0), 1);
	CHECK_INT(count(1), 0);
	CHECK(info.truncated);
	n = ask(name, DNS_TYPE_TXT, 1232, false);
	CHECK(!(reply[2] & 0x02));
	CHECK_INT(count(1), 8);
	CHECK(n > DNS_UDP_PLAIN_MAX);
	n = ask(name, DNS_TYPE_TXT, 0, true);
	CHECK(!(reply[2] & 0x02));
	CHECK_INT(count(1), 8);
	/* A client asking for 600 bytes gets at most 600. */
	n = ask(name, DNS_TYPE_TXT, 600, false);
	CHECK(n <= 600);
	CHECK(reply[2] & 0x02);
	standard_packet();
}

static void test_origins(void)
{
	struct pkarr_zone z;
	char err[128];
	const char *two[] = {"iroh.link", "dns.iroh.link"};
	const char *ns[] = {"a.example.", "b.example"};
	CHECK_INT(pkarr_zone_init(&z, two, 2, ns, 2, "admin.example.org", 1, err, sizeof(err)), 0);
	CHECK_INT(z.nns, 2);
	uint8_t q[512];
	char name[160];
	snprintf(name, sizeof(name), "_iroh.%s.iroh.link", z1);
	size_t n = make_query(q, name, DNS_TYPE_TXT, DNS_CLASS_IN, 0, 0);
	pkarr_zone_answer(&z, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(count(1), 2);
	/* Under both: the longer origin, so the key label is found. */
	snprintf(name, sizeof(name), "_iroh.%s.dns.iroh.link", z1);
	n = make_query(q, name, DNS_TYPE_TXT, DNS_CLASS_IN, 0, 0);
	pkarr_zone_answer(&z, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(count(1), 2);
	n = make_query(q, "iroh.link", DNS_TYPE_NS, DNS_CLASS_IN, 0, 0);
	pkarr_zone_answer(&z, q, n, false, lookup, NULL, reply, sizeof(reply), &info);
	CHECK_INT(count(1), 2);

	const char *bad[] = {"a..b", "a b", "", ".", "a/b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECK_INT(pkarr_zone_init(&z, &bad[i], 1, NULL, 0, NULL, 1, err, sizeof(err)),
			  -EINVAL);
		CHECK(strstr(err, "origin") != NULL);
	}
	const char *dup[] = {"x.org", "X.org."};
	CHECK_INT(pkarr_zone_init(&z, dup, 2, NULL, 0, NULL, 1, err, sizeof(err)), -EINVAL);
	CHECK_INT(pkarr_zone_init(&z, two, 0, NULL, 0, NULL, 1, err, sizeof(err)), -EINVAL);
	const char *badns[] = {"ns..x"};
	CHECK_INT(pkarr_zone_init(&z, two, 1, badns, 1, NULL, 1, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "name server") != NULL);
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	longname[299] = 0;
	const char *lo[] = {longname};
	CHECK_INT(pkarr_zone_init(&z, lo, 1, NULL, 0, NULL, 1, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	char err[128];
	const char *origin[] = {"dns.iroh.link"};
	for (int i = 0; i < 32; i++) {
		key1[i] = (uint8_t)(i + 1);
		key2[i] = (uint8_t)(0xf0 - i);
	}
	encoding_zbase32_encode(key1, 32, z1, sizeof(z1));
	encoding_zbase32_encode(key2, 32, z2, sizeof(z2));
	CHECK_INT(pkarr_zone_init(&zone, origin, 1, NULL, 0, NULL, 7, err, sizeof(err)), 0);
	test_answers();
	test_apex_and_outside();
	test_errors();
	test_truncation();
	test_origins();
	return check_done();
}
