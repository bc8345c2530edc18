/* The pure responder: a replay table covering every row of SPEC section 5
 * (query bytes built by a helper → header flags, rcode and counts), exact
 * bytes of the records, EDNS, truncation, and a list of malformed inputs
 * (lengths, labels, compression loops, oversize names, bad counts). */
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>

#include "check.h"
#include "iron/addr.h"
#include "iron/dns.h"
#include "iron/id.h"

static const char kat_b32[] = "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq";
static const uint8_t kat_addr[16] = {0xfd, 0x69, 0x72, 0x6f, 0,	   0,	 0,    0,
				     0x03, 0x9b, 0xfa, 0x8b, 0x3d, 0x36, 0x8d, 0x61};

#define NO_EDNS -1

/* Appends the wire form of a dotted name ("a.b", "a.b." and "." alike). */
static size_t put_name(uint8_t *p, const char *name)
{
	size_t n = 0;
	while (*name && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t label = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (uint8_t)label;
		memcpy(p + n, name, label);
		n += label;
		name += label + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

/* A query: header with the given ID and byte 2, one question, and an OPT
 * record when edns_size is not NO_EDNS. */
static size_t build_query(uint8_t *buf, uint16_t id, uint8_t flags, const char *name,
			  uint16_t qtype, uint16_t qclass, int edns_size, uint8_t edns_version,
			  bool edns_do)
{
	size_t n = 12;
	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = flags;
	buf[5] = 1;
	n += put_name(buf + n, name);
	buf[n++] = (uint8_t)(qtype >> 8);
	buf[n++] = (uint8_t)qtype;
	buf[n++] = (uint8_t)(qclass >> 8);
	buf[n++] = (uint8_t)qclass;
	if (edns_size != NO_EDNS) {
		const uint8_t opt[] = {0,
				       0,
				       41,
				       (uint8_t)(edns_size >> 8),
				       (uint8_t)edns_size,
				       0,
				       edns_version,
				       edns_do ? 0x80 : 0,
				       0,
				       0,
				       0};
		memcpy(buf + n, opt, sizeof(opt));
		n += sizeof(opt);
		buf[11] = 1;
	}
	return n;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static char kat_domain[64], kat_domain_upper[64], kat_domain_dot[64];
static char bad_bits_domain[64], off_curve_domain[64], deep_domain[80];

static void make_names(void)
{
	snprintf(kat_domain, sizeof(kat_domain), "%s.iron", kat_b32);
	snprintf(kat_domain_dot, sizeof(kat_domain_dot), "%s.iron.", kat_b32);
	for (size_t i = 0; kat_domain[i]; i++)
		kat_domain_upper[i] =
		    (char)(kat_domain[i] >= 'a' && kat_domain[i] <= 'z' ? kat_domain[i] - 32
									: kat_domain[i]);
	/* Last character 'r': non-zero unused bits. */
	snprintf(bad_bits_domain, sizeof(bad_bits_domain), "%.*sr.iron", IRON_ID_BASE32_LEN - 1,
		 kat_b32);
	/* 32 bytes that decode but are no curve point (y = 2). */
	uint8_t bytes[32] = {2};
	char b32[IRON_ID_BASE32_LEN + 1];
	id_to_base32((const struct iron_id *)bytes, b32);
	snprintf(off_curve_domain, sizeof(off_curve_domain), "%s.iron", b32);
	snprintf(deep_domain, sizeof(deep_domain), "x.%s.iron", kat_b32);
}

/* One row of the replay table. */
struct row {
	const char *what;
	const char *name;
	uint16_t qtype, qclass;
	int edns_size;
	bool has_upstream;
	enum dns_action action;
	int rcode; /* header rcode */
	bool aa;
	uint16_t an, ns, ar;
};

static void test_table(void)
{
	const struct row rows[] = {
	    /* SPEC §5 row 1: AAAA for a valid ID, any case, trailing dot. */
	    {"AAAA id", kat_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false, DNS_ACTION_REPLY,
	     0, true, 1, 0, 0},
	    {"AAAA ID upper", kat_domain_upper, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false,
	     DNS_ACTION_REPLY, 0, true, 1, 0, 0},
	    {"AAAA id.", kat_domain_dot, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false,
	     DNS_ACTION_REPLY, 0, true, 1, 0, 0},
	    {"AAAA id, class ANY", kat_domain, DNS_TYPE_AAAA, DNS_CLASS_ANY, NO_EDNS, false,
	     DNS_ACTION_REPLY, 0, true, 1, 0, 0},
	    {"ANY id", kat_domain, DNS_TYPE_ANY, DNS_CLASS_IN, NO_EDNS, false, DNS_ACTION_REPLY, 0,
	     true, 1, 0, 0},
	    {"AAAA id EDNS", kat_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, 4096, true, DNS_ACTION_REPLY,
	     0, true, 1, 0, 1},
	    /* Row 2: other types → NODATA. */
	    {"A id", kat_domain, DNS_TYPE_A, DNS_CLASS_IN, NO_EDNS, false, DNS_ACTION_REPLY, 0,
	     true, 0, 1, 0},
	    {"TXT id", kat_domain, DNS_TYPE_TXT, DNS_CLASS_IN, NO_EDNS, true, DNS_ACTION_REPLY, 0,
	     true, 0, 1, 0},
	    {"MX id EDNS", kat_domain_upper, 15, DNS_CLASS_IN, 1232, false, DNS_ACTION_REPLY, 0,
	     true, 0, 1, 1},
	    /* Row 3: not an ID under .iron, or the apex → NXDOMAIN. */
	    {"foo.iron", "foo.iron", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, true, DNS_ACTION_REPLY,
	     3, true, 0, 1, 0},
	    {"FOO.IRON.", "FOO.IRON.", DNS_TYPE_A, DNS_CLASS_IN, NO_EDNS, false, DNS_ACTION_REPLY,
	     3, true, 0, 1, 0},
	    {"trailing bits", bad_bits_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false,
	     DNS_ACTION_REPLY, 3, true, 0, 1, 0},
	    {"off curve", off_curve_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false,
	     DNS_ACTION_REPLY, 3, true, 0, 1, 0},
	    {"sub of id", deep_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false,
	     DNS_ACTION_REPLY, 3, true, 0, 1, 0},
	    {"apex AAAA", "iron.", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false, DNS_ACTION_REPLY, 3,
	     true, 0, 1, 0},
	    {"apex SOA", "Iron", DNS_TYPE_SOA, DNS_CLASS_IN, NO_EDNS, false, DNS_ACTION_REPLY, 0,
	     true, 1, 0, 0},
	    {"apex NS", "iron", DNS_TYPE_NS, DNS_CLASS_IN, 512, false, DNS_ACTION_REPLY, 3, true, 0,
	     1, 1},
	    /* Row 4: outside .iron → forward or REFUSED. */
	    {"example.com fwd", "example.com", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, true,
	     DNS_ACTION_FORWARD, 0, false, 0, 0, 0},
	    {"example.com refused", "example.com", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, false,
	     DNS_ACTION_REPLY, 5, false, 0, 0, 0},
	    {"iron.com", "iron.com", DNS_TYPE_AAAA, DNS_CLASS_IN, 1232, false, DNS_ACTION_REPLY, 5,
	     false, 0, 0, 1},
	    {"ironx", "ironx", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, true, DNS_ACTION_FORWARD, 0,
	     false, 0, 0, 0},
	    {"root", ".", DNS_TYPE_NS, DNS_CLASS_IN, NO_EDNS, false, DNS_ACTION_REPLY, 5, false, 0,
	     0, 0},
	    {"iron.arpa-like", "iron.example", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, true,
	     DNS_ACTION_FORWARD, 0, false, 0, 0, 0},
	    /* QCLASS other than IN/ANY: REFUSED, in or out of the zone. */
	    {"CH id", kat_domain, DNS_TYPE_AAAA, DNS_CLASS_CH, NO_EDNS, false, DNS_ACTION_REPLY, 5,
	     false, 0, 0, 0},
	    {"CH version.bind", "version.bind", DNS_TYPE_TXT, DNS_CLASS_CH, NO_EDNS, true,
	     DNS_ACTION_REPLY, 5, false, 0, 0, 0},
	};
	uint8_t q[512], out[2048];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct dns_answer_opts opts = {.has_upstream = r->has_upstream};
		struct dns_answer_info info;
		uint16_t id = (uint16_t)(0x1000 + i);
		size_t n =
		    build_query(q, id, 0x01, r->name, r->qtype, r->qclass, r->edns_size, 0, false);
		ssize_t len = dns_answer(q, n, out, sizeof(out), &opts, &info);
		fprintf(stderr, "row: %s\n", r->what);
		CHECK_INT(info.action, r->action);
		CHECK_INT(info.query_id, id);
		CHECK_INT(info.qtype, r->qtype);
		if (r->action != DNS_ACTION_REPLY) {
			CHECK_INT(len, 0);
			continue;
		}
		CHECK(len >= 12);
		if (len < 12)
			continue;
		CHECK_INT(get16(out), id);
		CHECK_INT(out[2] & 0x80, 0x80);	     /* QR */
		CHECK_INT(out[2] & 0x78, 0);	     /* opcode QUERY */
		CHECK_INT(!!(out[2] & 0x04), r->aa); /* AA */
		CHECK_INT(out[2] & 0x02, 0);	     /* TC */
		CHECK_INT(out[2] & 0x01, 1);	     /* RD echoed */
		CHECK_INT(out[3] & 0x0f, r->rcode);
		CHECK_INT(info.rcode, r->rcode);
		CHECK_INT(get16(out + 4), 1);
		CHECK_INT(get16(out + 6), r->an);
		CHECK_INT(get16(out + 8), r->ns);
		CHECK_INT(get16(out + 10), r->ar);
		/* The question is echoed byte for byte (case preserved). */
		CHECK_MEM(out + 12, q + 12, n - 12 - (r->edns_size != NO_EDNS ? 11 : 0));
		CHECK_INT(info.answered_id, r->an == 1 && r->qtype != DNS_TYPE_SOA);
		CHECK_INT(info.edns, r->edns_size != NO_EDNS);
	}
}

static const uint8_t soa_bytes[] = {4,	 'i', 'r', 'o', 'n', 0,	  0,   6,   0,	 1,   0,   0,	1,
				    44,	 0,   46,  2,	'n', 's', 4,   'i', 'r', 'o', 'n', 0,	10,
				    'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r', 4,   'i', 'r',
				    'o', 'n', 0,   0,	0,   0,	  1,   0,   0,	 14,  16,  0,	0,
				    2,	 88,  0,   1,	81,  128, 0,   0,   1,	 44};

/* Exact bytes of the AAAA, SOA and OPT records. */
static void test_exact_records(void)
{
	uint8_t q[512], out[512];
	struct dns_answer_info info;
	struct iron_id kat;
	size_t n = build_query(q, 0xbeef, 0x01, kat_domain_upper, DNS_TYPE_AAAA, DNS_CLASS_IN,
			       NO_EDNS, 0, false);
	ssize_t len = dns_answer(q, n, out, sizeof(out), NULL, &info);
	const uint8_t aaaa[] = {0xc0, 12, 0, 28, 0, 1, 0, 0, 1, 44, 0, 16};
	CHECK_INT(len, (ssize_t)n + 28);
	CHECK_INT(out[2], 0x85); /* QR AA RD */
	CHECK_INT(out[3], 0);	 /* RA clear: we are not a recursive resolver */
	CHECK_MEM(out + n, aaaa, sizeof(aaaa));
	CHECK_MEM(out + n + 12, kat_addr, 16);
	CHECK(info.has_id && info.answered_id);
	CHECK_INT(id_parse(kat_b32, &kat, NULL), 0);
	CHECK(id_equal(&info.id, &kat));
	/* Owner name as asked: the pointer leads to the uppercase question. */
	CHECK_MEM(out + 13, "DF7WWI7B", 8);

	/* NODATA: the SOA in authority. */
	n = build_query(q, 7, 0, kat_domain, DNS_TYPE_TXT, DNS_CLASS_IN, NO_EDNS, 0, false);
	len = dns_answer(q, n, out, sizeof(out), NULL, &info);
	CHECK_INT(len, (ssize_t)(n + sizeof(soa_bytes)));
	CHECK_MEM(out + n, soa_bytes, sizeof(soa_bytes));
	CHECK_INT(out[2], 0x84); /* RD was not set, so not echoed */
	CHECK(info.has_id && !info.answered_id);

	/* NXDOMAIN with EDNS: SOA then OPT(1232, version 0, DO copied). */
	n = build_query(q, 8, 1, "nope.iron", DNS_TYPE_AAAA, DNS_CLASS_IN, 4096, 0, true);
	len = dns_answer(q, n, out, sizeof(out), NULL, &info);
	size_t qlen = n - 11;
	const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0};
	CHECK_INT(len, (ssize_t)(qlen + sizeof(soa_bytes) + 11));
	CHECK_MEM(out + qlen, soa_bytes, sizeof(soa_bytes));
	CHECK_MEM(out + qlen + sizeof(soa_bytes), opt, sizeof(opt));
	CHECK(!info.has_id);

	/* Apex SOA in the answer section. */
	n = build_query(q, 9, 0, "iron.", DNS_TYPE_SOA, DNS_CLASS_IN, NO_EDNS, 0, false);
	len = dns_answer(q, n, out, sizeof(out), NULL, &info);
	CHECK_INT(len, (ssize_t)(n + sizeof(soa_bytes)));
	CHECK_MEM(out + n, soa_bytes, sizeof(soa_bytes));
}

static void test_edns(void)
{
	uint8_t q[512], out[512];
	struct dns_answer_info info;
	ssize_t len;
	size_t n;

	/* EDNS version 1 → BADVERS: header rcode 0, OPT extended rcode 1. */
	n = build_query(q, 0x4242, 1, kat_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, 1232, 1, false);
	len = dns_answer(q, n, out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, DNS_RCODE_BADVERS);
	CHECK_INT(len, (ssize_t)n); /* question + OPT, no answer */
	CHECK_INT(out[3] & 0x0f, 0);
	CHECK_INT(get16(out + 6), 0);
	CHECK_INT(get16(out + 10), 1);
	CHECK_INT(out[n - 11 + 5], 1); /* extended rcode: 16 >> 4 */
	CHECK_INT(out[n - 11 + 6], 0); /* our version */
	CHECK(!info.answered_id);

	/* Two OPT records → FORMERR, question echoed, no OPT back. */
	n = build_query(q, 5, 0, kat_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, 1232, 0, false);
	memcpy(q + n, q + n - 11, 11);
	q[11] = 2;
	len = dns_answer(q, n + 11, out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, DNS_RCODE_FORMERR);
	CHECK_INT(len, (ssize_t)(n - 11));
	CHECK_INT(get16(out + 4), 1);
	CHECK_INT(get16(out + 10), 0);

	/* An OPT owned by a non-root name → FORMERR. */
	n = build_query(q, 5, 0, "a.iron", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, 0, false);
	const uint8_t bad_opt[] = {1, 'x', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0};
	memcpy(q + n, bad_opt, sizeof(bad_opt));
	q[11] = 1;
	len = dns_answer(q, n + sizeof(bad_opt), out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, DNS_RCODE_FORMERR);

	/* Another additional record before the OPT is skipped. */
	n = build_query(q, 6, 0, kat_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, 0, false);
	const uint8_t extra[] = {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1,
				 'a',  0,  0, 41, 2, 0, 0, 0, 0, 0, 0, 0};
	memcpy(q + n, extra, sizeof(extra));
	q[11] = 2;
	len = dns_answer(q, n + sizeof(extra), out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, 0);
	CHECK(info.edns);
	CHECK_INT(get16(out + 10), 1);
	CHECK_INT(len, (ssize_t)(n + 28 + 11));

	/* An answer record in the query (compressed name) is tolerated. */
	q[7] = 1;
	q[11] = 0;
	len = dns_answer(q, n + 14, out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, 0);
	CHECK_INT(len, (ssize_t)(n + 28));
}

static void test_truncation(void)
{
	uint8_t q[512], out[2048];
	struct dns_answer_info info;
	struct dns_answer_opts opts = {.max_udp = 100};
	ssize_t len;
	size_t n = build_query(q, 1, 1, kat_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, 0, false);

	/* 12 + 63 question fits 100, the 28-byte answer does not. */
	len = dns_answer(q, n, out, sizeof(out), &opts, &info);
	CHECK_INT(len, (ssize_t)n);
	CHECK_INT(out[2] & 0x02, 0x02);
	CHECK_INT(get16(out + 4), 1);
	CHECK_INT(get16(out + 6), 0);
	CHECK(info.truncated);
	CHECK(!info.answered_id);

	/* With EDNS the OPT stays (86 bytes fit). */
	n = build_query(q, 1, 1, kat_domain, DNS_TYPE_AAAA, DNS_CLASS_IN, 1232, 0, false);
	len = dns_answer(q, n, out, sizeof(out), &opts, &info);
	CHECK_INT(len, (ssize_t)n);
	CHECK_INT(get16(out + 10), 1);
	CHECK(info.truncated);

	/* Over TCP the limit does not apply. */
	opts.tcp = true;
	len = dns_answer(q, n, out, sizeof(out), &opts, &info);
	CHECK_INT(len, (ssize_t)n + 28);
	CHECK(!info.truncated);

	/* A small output buffer: header only, TC set; below 12: -ENOSPC. */
	len = dns_answer(q, n, out, 20, NULL, &info);
	CHECK_INT(len, 12);
	CHECK_INT(out[2] & 0x02, 0x02);
	CHECK_INT(get16(out + 4), 0);
	CHECK_INT(dns_answer(q, n, out, 11, NULL, &info), -ENOSPC);

	/* A long name under the 512 limit without EDNS: NXDOMAIN + SOA is
	 * 12 + 259 + 62 = 333 bytes, fits; with max_udp 300 it is cut. */
	char longname[300];
	size_t p = 0;
	for (int i = 0; i < 4; i++) {
		memset(longname + p, 'a', 61);
		p += 61;
		longname[p++] = '.';
	}
	strcpy(longname + p, "iron"); /* 4*62 + 4 chars → 254 wire bytes */
	n = build_query(q, 2, 0, longname, DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, 0, false);
	len = dns_answer(q, n, out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, DNS_RCODE_NXDOMAIN);
	CHECK_INT(len, (ssize_t)(n + sizeof(soa_bytes)));
	CHECK(!info.truncated);
	opts = (struct dns_answer_opts){.max_udp = 300};
	len = dns_answer(q, n, out, sizeof(out), &opts, &info);
	CHECK_INT(len, (ssize_t)n);
	CHECK(info.truncated);
	CHECK_INT(get16(out + 8), 0);
}

/* Malformed input: each is (bytes, expected action, expected rcode). */
struct bad {
	const char *what;
	uint8_t bytes[400];
	size_t len;
	enum dns_action action;
	int rcode;
	uint16_t qdcount; /* in the reply */
};

static void test_bad_input(void)
{
	static struct bad cases[] = {
	    {"empty", {0}, 0, DNS_ACTION_DROP, 0, 0},
	    {"1 byte", {0xab}, 1, DNS_ACTION_DROP, 0, 0},
	    {"2 bytes", {0xab, 0xcd}, 2, DNS_ACTION_REPLY, 1, 0},
	    {"11 bytes", {0xab, 0xcd, 0x01, 0, 0, 1, 0, 0, 0, 0, 0}, 11, DNS_ACTION_REPLY, 1, 0},
	    {"header only",
	     {0xab, 0xcd, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0},
	     12,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"response",
	     {0xab, 0xcd, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1},
	     17,
	     DNS_ACTION_DROP,
	     0,
	     0},
	    {"response 3 bytes", {0xab, 0xcd, 0x80}, 3, DNS_ACTION_DROP, 0, 0},
	    {"qdcount 0",
	     {0xab, 0xcd, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	     12,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"qdcount 2",
	     {0xab, 0xcd, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1},
	     22,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"opcode STATUS",
	     {0xab, 0xcd, 0x10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1},
	     17,
	     DNS_ACTION_REPLY,
	     4,
	     0},
	    {"opcode NOTIFY",
	     {0xab, 0xcd, 0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1},
	     17,
	     DNS_ACTION_REPLY,
	     4,
	     0},
	    {"opcode UPDATE",
	     {0xab, 0xcd, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1},
	     17,
	     DNS_ACTION_REPLY,
	     4,
	     0},
	    {"label past end",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 'a', 'b'},
	     15,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"no root label",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 'a', 'b'},
	     15,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"no qtype",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0},
	     16,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"no qclass",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 28, 0},
	     18,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"pointer to itself",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 28, 0, 1},
	     18,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"forward pointer",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 18, 0, 28, 0, 1, 0},
	     19,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"pointer loop via label",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 28, 0, 1},
	     20,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"pointer past end",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 28, 0, 1},
	     18,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"half pointer",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0},
	     13,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"label type 0x40",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x41, 0, 0, 28, 0, 1},
	     18,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"label type 0x80",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 28, 0, 1},
	     18,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    {"pointer into header",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 4, 0, 28, 0, 1},
	     18,
	     DNS_ACTION_REPLY,
	     1,
	     0},
	    /* Question fine, an additional record cut short: question echoed. */
	    {"truncated additional",
	     {0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 'a', 0, 0, 28, 0, 1, 0, 0, 41},
	     22,
	     DNS_ACTION_REPLY,
	     1,
	     1},
	    {"rdlength past end",
	     {0xab, 0xcd, 0, 0, 0, 1,  0, 0, 0, 0, 0, 1, 1, 'a', 0, 0,
	      28,   0,	  1, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 9,	 1},
	     31,
	     DNS_ACTION_REPLY,
	     1,
	     1},
	    {"ancount lies",
	     {0xab, 0xcd, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 1, 'a', 0, 0, 28, 0, 1},
	     19,
	     DNS_ACTION_REPLY,
	     1,
	     1},
	};
	uint8_t out[1024];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *c = &cases[i];
		struct dns_answer_info info;
		ssize_t len = dns_answer(c->bytes, c->len, out, sizeof(out), NULL, &info);
		fprintf(stderr, "bad: %s\n", c->what);
		CHECK_INT(info.action, c->action);
		if (c->action == DNS_ACTION_DROP) {
			CHECK_INT(len, 0);
			continue;
		}
		CHECK(len >= 12);
		CHECK_INT(info.rcode, c->rcode);
		CHECK_INT(out[0], 0xab); /* the query's ID */
		CHECK_INT(out[1], 0xcd);
		CHECK_INT(out[2] & 0x80, 0x80);
		CHECK_INT(out[3] & 0x0f, c->rcode);
		CHECK_INT(get16(out + 4), c->qdcount);
		CHECK_INT(get16(out + 6) + get16(out + 8) + get16(out + 10), 0);
		if (c->len >= 3) /* opcode and RD echoed */
			CHECK_INT(out[2] & 0x79, c->bytes[2] & 0x79);
	}
}

/* Name lengths at the 255-byte limit, and a legitimate backward pointer. */
static void test_name_limits(void)
{
	uint8_t q[600], out[1024];
	struct dns_answer_info info;
	size_t n = 12;
	memset(q, 0, 12);
	q[5] = 1;
	/* 3 labels of 63 + 1 of 61 + root = 255 bytes: allowed. */
	for (int i = 0; i < 3; i++) {
		q[n++] = 63;
		memset(q + n, 'b', 63);
		n += 63;
	}
	q[n++] = 61;
	memset(q + n, 'c', 61);
	n += 61;
	q[n++] = 0;
	CHECK_INT(n - 12, 255);
	q[n++] = 0, q[n++] = 28, q[n++] = 0, q[n++] = 1;
	CHECK_INT(dns_answer(q, n, out, sizeof(out), NULL, &info), (ssize_t)n);
	CHECK_INT(info.rcode, DNS_RCODE_REFUSED);

	/* One more byte in the last label: 256, refused as FORMERR. */
	n = 12 + 3 * 64;
	q[n++] = 62;
	memset(q + n, 'c', 62);
	n += 62;
	q[n++] = 0;
	q[n++] = 0, q[n++] = 28, q[n++] = 0, q[n++] = 1;
	dns_answer(q, n, out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, DNS_RCODE_FORMERR);

	/* Over 255 by compression: each part is small, the whole is not. The
	 * first name (in an answer record) is 200 bytes; the additional
	 * record's name adds 100 bytes then points back to it. */
	uint8_t m[600];
	size_t k = build_query(m, 3, 0, "a.iron", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS, 0, false);
	m[7] = 1;  /* ancount */
	m[11] = 1; /* arcount */
	size_t first = k;
	for (int i = 0; i < 4; i++) {
		m[k++] = 49;
		memset(m + k, 'd', 49);
		k += 49;
	}
	m[k++] = 0;
	const uint8_t rr_tail[] = {0, 16, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(m + k, rr_tail, sizeof(rr_tail));
	k += sizeof(rr_tail);
	for (int i = 0; i < 2; i++) {
		m[k++] = 49;
		memset(m + k, 'e', 49);
		k += 49;
	}
	m[k++] = (uint8_t)(0xc0 | first >> 8);
	m[k++] = (uint8_t)first;
	memcpy(m + k, rr_tail, sizeof(rr_tail));
	k += sizeof(rr_tail);
	dns_answer(m, k, out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, DNS_RCODE_FORMERR);
	/* Point to the second label instead: 100 + 150 = 250 bytes, fine. */
	m[k - 11] = (uint8_t)(first + 50);
	dns_answer(m, k, out, sizeof(out), NULL, &info);
	CHECK_INT(info.rcode, DNS_RCODE_NXDOMAIN);

	/* A chain of pointers, each one step back: they sit in the RDATA of a
	 * first answer record (which is skipped), and the second record's
	 * name enters the chain at its end. Fine up to the hop cap (127),
	 * FORMERR past it. */
	for (int hops = 100; hops <= 140; hops += 40) {
		uint8_t chain[1000];
		size_t c = build_query(chain, 4, 0, "a.iron", DNS_TYPE_AAAA, DNS_CLASS_IN, NO_EDNS,
				       0, false);
		const uint8_t head[] = {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0};
		size_t prev = 12;
		chain[7] = 2;
		memcpy(chain + c, head, sizeof(head));
		c += sizeof(head);
		chain[c++] = (uint8_t)((2 * hops) >> 8);
		chain[c++] = (uint8_t)(2 * hops);
		for (int i = 0; i < hops; i++) {
			size_t here = c;
			chain[c++] = (uint8_t)(0xc0 | prev >> 8);
			chain[c++] = (uint8_t)prev;
			prev = here;
		}
		chain[c++] = (uint8_t)(0xc0 | prev >> 8);
		chain[c++] = (uint8_t)prev;
		const uint8_t tail[] = {0, 16, 0, 1, 0, 0, 0, 0, 0, 0};
		memcpy(chain + c, tail, sizeof(tail));
		c += sizeof(tail);
		dns_answer(chain, c, out, sizeof(out), NULL, &info);
		CHECK_INT(info.rcode, hops == 100 ? DNS_RCODE_NXDOMAIN : DNS_RCODE_FORMERR);
	}
}

static void test_error_reply_and_match(void)
{
	uint8_t q[512], out[512], r[512];
	ssize_t len;
	size_t n =
	    build_query(q, 0x7777, 1, "example.com", DNS_TYPE_AAAA, DNS_CLASS_IN, 1232, 0, false);

	/* SERVFAIL for a forwarded query: question and OPT kept. */
	len = dns_error_reply(q, n, DNS_RCODE_SERVFAIL, out, sizeof(out), NULL);
	CHECK_INT(len, (ssize_t)n);
	CHECK_INT(get16(out), 0x7777);
	CHECK_INT(out[2], 0x81);
	CHECK_INT(out[3], 2);
	CHECK_MEM(out + 12, q + 12, n - 12);
	CHECK_INT(dns_error_reply(q, 5, 2, out, sizeof(out), NULL), -EINVAL);
	CHECK_INT(dns_error_reply(q, n, 2, out, 4, NULL), -ENOSPC);

	/* Reply matching. */
	memcpy(r, out, (size_t)len);
	CHECK(dns_reply_matches(q, n, r, (size_t)len));
	CHECK(!dns_reply_matches(q, n, r, 11));
	r[1] ^= 1;
	CHECK(!dns_reply_matches(q, n, r, (size_t)len));
	r[1] ^= 1;
	r[2] &= 0x7f; /* not a response */
	CHECK(!dns_reply_matches(q, n, r, (size_t)len));
	r[2] |= 0x80;
	r[13] = 'E'; /* case differs: still the same question */
	CHECK(dns_reply_matches(q, n, r, (size_t)len));
	r[14] = 'y'; /* another name */
	CHECK(!dns_reply_matches(q, n, r, (size_t)len));
	r[14] = 'x';
	r[12 + 13 + 1] = 1; /* qtype A instead of AAAA */
	CHECK(!dns_reply_matches(q, n, r, (size_t)len));
	r[12 + 13 + 1] = 28;
	CHECK(dns_reply_matches(q, n, r, (size_t)len));
	/* No question: only with an error rcode. */
	r[5] = 0;
	CHECK(dns_reply_matches(q, n, r, 12));
	r[3] = 0;
	CHECK(!dns_reply_matches(q, n, r, 12));
	r[5] = 2;
	r[3] = 2;
	CHECK(!dns_reply_matches(q, n, r, (size_t)len));

	CHECK_STR(dns_rcode_name(3), "NXDOMAIN");
	CHECK_STR(dns_rcode_name(16), "BADVERS");
	CHECK_STR(dns_rcode_name(99), "UNKNOWN");
	dns_set_id(r, 0x1234);
	CHECK_INT(dns_get_id(r), 0x1234);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	make_names();
	test_table();
	test_exact_records();
	test_edns();
	test_truncation();
	test_bad_input();
	test_name_limits();
	test_error_reply_and_match();
	return check_done();
}
