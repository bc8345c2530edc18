/* The .iron responder: query bytes to answer bytes, nothing else.
 *
 * Every byte of the query is untrusted: each read goes through the bounds
 * checks of struct reader or read_name(), names are decompressed into a
 * 255-byte buffer, and compression pointers must point strictly before
 * every position already visited (so they can neither loop nor point
 * forward), with a cap on the number of hops as a second fence. */
#include "iron/dns.h"

#include <errno.h>
#include <string.h>

#include "iron/addr.h"
#include "iron/bytes.h"

/* A wire-format name: at most 255 bytes including the root label. */
#define NAME_MAX_WIRE 255
#define LABEL_MAX     63
/* A 255-byte name has at most 127 labels; more hops than that is abuse. */
#define POINTER_HOPS_MAX 127

#define FLAG_QR	     0x80 /* byte 2 */
#define FLAG_AA	     0x04
#define FLAG_TC	     0x02
#define FLAG_RD	     0x01
#define OPCODE_MASK  0x78
#define OPCODE_QUERY 0

#define OPT_RR_LEN  11
#define OPT_FLAG_DO 0x8000
#define AAAA_RR_LEN 28
/* The SOA record of the zone, in wire form (no compression, so it can be
 * placed anywhere): iron. 300 IN SOA ns.iron. hostmaster.iron. 1 3600 600
 * 86400 300. */
/* clang-format off */
static const uint8_t soa_record[] = {
	4, 'i', 'r', 'o', 'n', 0,                        /* owner iron. */
	0, DNS_TYPE_SOA, 0, DNS_CLASS_IN,                /* type, class */
	0, 0, 0x01, 0x2c,                                /* TTL 300 */
	0, 46,                                           /* rdlength */
	2, 'n', 's', 4, 'i', 'r', 'o', 'n', 0,           /* mname ns.iron. */
	10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r',
	4, 'i', 'r', 'o', 'n', 0,                        /* rname hostmaster.iron. */
	0, 0, 0, 1,                                      /* serial 1 */
	0, 0, 0x0e, 0x10,                                /* refresh 3600 */
	0, 0, 0x02, 0x58,                                /* retry 600 */
	0, 0x01, 0x51, 0x80,                             /* expire 86400 */
	0, 0, 0x01, 0x2c,                                /* minimum 300 */
};
/* clang-format on */

/* A bounds-checked cursor over untrusted bytes. */
struct reader {
	const uint8_t *msg;
	size_t len;
	size_t pos;
};

static int reader_u16(struct reader *r, uint16_t *value)
{
	if (r->len - r->pos < 2)
		return -EBADMSG;
	*value = (uint16_t)(r->msg[r->pos] << 8 | r->msg[r->pos + 1]);
	r->pos += 2;
	return 0;
}

static int reader_u32(struct reader *r, uint32_t *value)
{
	uint16_t hi, lo;
	if (reader_u16(r, &hi) != 0 || reader_u16(r, &lo) != 0)
		return -EBADMSG;
	*value = (uint32_t)hi << 16 | lo;
	return 0;
}

static int reader_skip(struct reader *r, size_t n)
{
	if (r->len - r->pos < n)
		return -EBADMSG;
	r->pos += n;
	return 0;
}

/* Reads the (possibly compressed) name at r->pos into name as uncompressed
 * wire format, case preserved, and moves r->pos past it. *name_len gets the
 * wire length including the root label. Returns 0 or -EBADMSG. */
static int read_name(struct reader *r, uint8_t name[NAME_MAX_WIRE], size_t *name_len)
{
	size_t p = r->pos, lowest = r->pos, out = 0, end = 0;
	unsigned hops = 0;
	bool jumped = false;

	for (;;) {
		if (p >= r->len)
			return -EBADMSG;
		uint8_t c = r->msg[p];
		if ((c & 0xc0) == 0xc0) {
			if (p + 1 >= r->len)
				return -EBADMSG;
			size_t target = (size_t)(c & 0x3f) << 8 | r->msg[p + 1];
			/* Strictly before all we have seen (guarantees progress)
			 * and past the header (which holds no names). */
			if (target >= lowest || target < DNS_HEADER_LEN ||
			    ++hops > POINTER_HOPS_MAX)
				return -EBADMSG;
			if (!jumped)
				end = p + 2;
			jumped = true;
			lowest = target;
			p = target;
			continue;
		}
		if (c & 0xc0) /* 0x40 and 0x80: extended label types, obsolete */
			return -EBADMSG;
		if (c == 0) {
			if (out + 1 > NAME_MAX_WIRE)
				return -EBADMSG;
			name[out++] = 0;
			if (!jumped)
				end = p + 1;
			break;
		}
		/* The label, and room for at least the root label after it. */
		if (r->len - p - 1 < c || out + 1 + c + 1 > NAME_MAX_WIRE)
			return -EBADMSG;
		memcpy(name + out, r->msg + p, 1 + (size_t)c);
		out += 1 + (size_t)c;
		p += 1 + (size_t)c;
	}
	r->pos = end;
	*name_len = out;
	return 0;
}

static uint8_t ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Case-insensitive comparison of two uncompressed wire names. */
static bool name_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	if (a_len != b_len)
		return false;
	for (size_t i = 0; i < a_len; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

/* The labels of an uncompressed wire name (trusted: read_name made it). */
struct name_labels {
	unsigned count;
	size_t last; /* offset of the last (non-root) label's length byte */
};

static void name_labels(const uint8_t *name, struct name_labels *labels)
{
	size_t p = 0;
	labels->count = 0;
	labels->last = 0;
	while (name[p] != 0) {
		labels->last = p;
		labels->count++;
		p += 1 + (size_t)name[p];
	}
}

static bool label_is(const uint8_t *label, const char *text)
{
	size_t n = strlen(text);
	if (label[0] != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(label[1 + i]) != (uint8_t)text[i])
			return false;
	return true;
}

/* Everything the answer depends on, taken from the query. */
struct query {
	uint16_t id;
	uint8_t flags; /* byte 2: opcode and RD are echoed */
	uint8_t name[NAME_MAX_WIRE];
	size_t name_len;
	uint16_t qtype, qclass;
	bool edns;
	uint16_t edns_size;
	uint8_t edns_version;
	bool edns_do;
};

enum parse_result {
	PARSE_OK,
	PARSE_DROP,		/* nothing to answer */
	PARSE_NOTIMP,		/* opcode other than QUERY */
	PARSE_FORMERR_BARE,	/* answer FORMERR with the header only */
	PARSE_FORMERR_QUESTION, /* the question is good, the rest is not */
};

/* Skips count resource records; with opt, records the OPT record. */
static int read_records(struct reader *r, unsigned count, struct query *q, bool opt)
{
	uint8_t name[NAME_MAX_WIRE];
	size_t name_len;
	for (unsigned i = 0; i < count; i++) {
		uint16_t type, class, rdlength;
		uint32_t ttl;
		if (read_name(r, name, &name_len) != 0 || reader_u16(r, &type) != 0 ||
		    reader_u16(r, &class) != 0 || reader_u32(r, &ttl) != 0 ||
		    reader_u16(r, &rdlength) != 0 || reader_skip(r, rdlength) != 0)
			return -EBADMSG;
		if (!opt || type != DNS_TYPE_OPT)
			continue;
		/* RFC 6891 6.1.1: one OPT, owned by the root. */
		if (q->edns || name_len != 1)
			return -EBADMSG;
		q->edns = true;
		q->edns_size = class < DNS_UDP_PLAIN_MAX ? DNS_UDP_PLAIN_MAX : class;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->edns_do = (ttl & OPT_FLAG_DO) != 0;
	}
	return 0;
}

static enum parse_result parse_query(const uint8_t *msg, size_t len, struct query *q)
{
	struct reader r = {.msg = msg, .len = len, .pos = 0};
	uint16_t qdcount, ancount, nscount, arcount;

	memset(q, 0, sizeof(*q));
	if (len < 2)
		return PARSE_DROP;
	q->id = dns_get_id(msg);
	if (len >= 3) {
		/* A response is never answered, or two responders could bounce
		 * error replies at each other forever. */
		if (msg[2] & FLAG_QR)
			return PARSE_DROP;
		q->flags = msg[2] & (OPCODE_MASK | FLAG_RD);
	}
	if (len < DNS_HEADER_LEN)
		return PARSE_FORMERR_BARE;
	if ((msg[2] & OPCODE_MASK) != OPCODE_QUERY)
		return PARSE_NOTIMP;
	r.pos = 4;
	reader_u16(&r, &qdcount);
	reader_u16(&r, &ancount);
	reader_u16(&r, &nscount);
	reader_u16(&r, &arcount);
	if (qdcount != 1)
		return PARSE_FORMERR_BARE;
	if (read_name(&r, q->name, &q->name_len) != 0 || reader_u16(&r, &q->qtype) != 0 ||
	    reader_u16(&r, &q->qclass) != 0)
		return PARSE_FORMERR_BARE;
	/* Queries carry no answers, but tolerate them to reach the OPT. */
	if (read_records(&r, ancount, q, false) != 0 || read_records(&r, nscount, q, false) != 0 ||
	    read_records(&r, arcount, q, true) != 0) {
		q->edns = false;
		return PARSE_FORMERR_QUESTION;
	}
	return PARSE_OK;
}

/* The parts of a reply, assembled by write_reply() within a size limit. */
struct reply {
	const struct query *query;
	bool question; /* echo the question */
	bool aa;
	int rcode;
	uint8_t answer[AAAA_RR_LEN + sizeof(soa_record)];
	size_t answer_len;
	uint16_t ancount;
	const uint8_t *authority;
	size_t authority_len;
	uint16_t nscount;
};

/* Writes the reply; when it does not fit in limit bytes, sets TC and drops
 * the answer and authority sections, then the OPT record, then the
 * question, in that order, until it fits. Returns the length. */
static size_t write_reply(const struct reply *rep, uint8_t *out, size_t limit, bool *truncated)
{
	const struct query *q = rep->query;
	size_t question_len = rep->question ? q->name_len + 4 : 0;
	size_t opt_len = q->edns ? OPT_RR_LEN : 0;
	bool with_records = true, with_opt = q->edns, with_question = rep->question;
	bool tc = false;

	if (DNS_HEADER_LEN + question_len + rep->answer_len + rep->authority_len + opt_len >
	    limit) {
		tc = true;
		with_records = false;
		if (DNS_HEADER_LEN + question_len + opt_len > limit)
			with_opt = false;
		if (DNS_HEADER_LEN + question_len > limit)
			with_question = false;
	}

	size_t p = DNS_HEADER_LEN;
	bytes_put16(out, q->id);
	out[2] = (uint8_t)(FLAG_QR | q->flags | (rep->aa ? FLAG_AA : 0) | (tc ? FLAG_TC : 0));
	out[3] = (uint8_t)(rep->rcode & 0x0f);
	bytes_put16(out + 4, with_question ? 1 : 0);
	bytes_put16(out + 6, with_records ? rep->ancount : 0);
	bytes_put16(out + 8, with_records ? rep->nscount : 0);
	bytes_put16(out + 10, with_opt ? 1 : 0);
	if (with_question) {
		memcpy(out + p, q->name, q->name_len);
		p += q->name_len;
		bytes_put16(out + p, q->qtype);
		bytes_put16(out + p + 2, q->qclass);
		p += 4;
	}
	if (with_records) {
		memcpy(out + p, rep->answer, rep->answer_len);
		p += rep->answer_len;
		if (rep->authority_len)
			memcpy(out + p, rep->authority, rep->authority_len);
		p += rep->authority_len;
	}
	if (with_opt) {
		out[p] = 0; /* root */
		bytes_put16(out + p + 1, DNS_TYPE_OPT);
		bytes_put16(out + p + 3, DNS_EDNS_UDP_SIZE);
		/* Extended rcode, version 0, DO copied (RFC 3225). */
		bytes_put32(out + p + 5,
			    (uint32_t)(rep->rcode >> 4) << 24 | (q->edns_do ? OPT_FLAG_DO : 0));
		bytes_put16(out + p + 9, 0);
		p += OPT_RR_LEN;
	}
	*truncated = tc;
	return p;
}

/* The largest reply the transport allows for this query. */
static size_t reply_limit(const struct query *q, const struct dns_answer_opts *opts, size_t out_cap)
{
	size_t limit;
	if (opts->tcp) {
		limit = DNS_TCP_MAX;
	} else {
		limit = q->edns ? q->edns_size : DNS_UDP_PLAIN_MAX;
		if (limit > DNS_EDNS_UDP_SIZE)
			limit = DNS_EDNS_UDP_SIZE;
		if (opts->max_udp && opts->max_udp < limit)
			limit = opts->max_udp;
	}
	if (limit > out_cap)
		limit = out_cap;
	/* The header always goes out; the caller guaranteed out_cap for it. */
	return limit < DNS_HEADER_LEN ? DNS_HEADER_LEN : limit;
}

static void add_aaaa(struct reply *rep, const struct iron_id *id)
{
	struct in6_addr addr;
	uint8_t *rr = rep->answer + rep->answer_len;
	addr_from_id(id, &addr);
	/* Owner: a pointer to the question name at offset 12, so the owner is
	 * the name exactly as asked, case included. */
	bytes_put16(rr, 0xc000 | DNS_HEADER_LEN);
	bytes_put16(rr + 2, DNS_TYPE_AAAA);
	bytes_put16(rr + 4, DNS_CLASS_IN);
	bytes_put32(rr + 6, DNS_TTL);
	bytes_put16(rr + 10, 16);
	memcpy(rr + 12, addr.s6_addr, 16);
	rep->answer_len += AAAA_RR_LEN;
	rep->ancount++;
}

static void add_soa_authority(struct reply *rep)
{
	rep->authority = soa_record;
	rep->authority_len = sizeof(soa_record);
	rep->nscount = 1;
}

/* The zone logic of SPEC section 5 for a well-formed query. */
static void answer_query(const struct query *q, const struct dns_answer_opts *opts,
			 struct reply *rep, struct dns_answer_info *info)
{
	struct name_labels labels;
	name_labels(q->name, &labels);
	rep->question = true;

	if (q->edns && q->edns_version > 0) {
		rep->rcode = DNS_RCODE_BADVERS; /* RFC 6891 6.1.3 */
		return;
	}
	/* Only the Internet class exists here; CH (version.bind) and the
	 * others are refused rather than pretended to be unimplemented. */
	if (q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY) {
		rep->rcode = DNS_RCODE_REFUSED;
		return;
	}
	if (labels.count == 0 || !label_is(q->name + labels.last, "iron")) {
		if (opts->has_upstream) {
			info->action = DNS_ACTION_FORWARD;
			return;
		}
		rep->rcode = DNS_RCODE_REFUSED;
		return;
	}

	rep->aa = true;
	if (labels.count == 1) {
		/* The apex: an SOA query gets the SOA; everything else is
		 * NXDOMAIN as the SPEC says for AAAA. */
		if (q->qtype == DNS_TYPE_SOA) {
			memcpy(rep->answer, soa_record, sizeof(soa_record));
			rep->answer_len = sizeof(soa_record);
			rep->ancount = 1;
		} else {
			rep->rcode = DNS_RCODE_NXDOMAIN;
			add_soa_authority(rep);
		}
		return;
	}

	/* "<label>.iron": the label must be exactly a base32 ID. */
	char text[IRON_ID_DOMAIN_SIZE];
	if (labels.count == 2 && q->name[0] == IRON_ID_BASE32_LEN) {
		memcpy(text, q->name + 1, IRON_ID_BASE32_LEN);
		memcpy(text + IRON_ID_BASE32_LEN, ".iron", 5);
		if (id_parse_domain(text, IRON_ID_BASE32_LEN + 5, &info->id) == 0)
			info->has_id = true;
	}
	if (!info->has_id) {
		rep->rcode = DNS_RCODE_NXDOMAIN;
		add_soa_authority(rep);
		return;
	}
	/* ANY is answered with what the name has: its AAAA. */
	if (q->qtype == DNS_TYPE_AAAA || q->qtype == DNS_TYPE_ANY) {
		add_aaaa(rep, &info->id);
		return;
	}
	add_soa_authority(rep); /* NODATA */
}

ssize_t dns_answer(const uint8_t *query, size_t len, uint8_t *out, size_t out_cap,
		   const struct dns_answer_opts *opts, struct dns_answer_info *info)
{
	static const struct dns_answer_opts default_opts = {0};
	struct query q;
	struct reply rep = {.query = &q};
	size_t n;

	memset(info, 0, sizeof(*info));
	if (!opts)
		opts = &default_opts;
	switch (parse_query(query, len, &q)) {
	case PARSE_DROP:
		info->action = DNS_ACTION_DROP;
		info->query_id = q.id;
		return 0;
	case PARSE_NOTIMP:
		rep.rcode = DNS_RCODE_NOTIMP;
		break;
	case PARSE_FORMERR_BARE:
		rep.rcode = DNS_RCODE_FORMERR;
		break;
	case PARSE_FORMERR_QUESTION:
		rep.rcode = DNS_RCODE_FORMERR;
		rep.question = true;
		break;
	case PARSE_OK:
		answer_query(&q, opts, &rep, info);
		break;
	}
	info->query_id = q.id;
	info->qtype = q.qtype;
	info->edns = q.edns;
	if (info->action == DNS_ACTION_FORWARD)
		return 0;
	if (out_cap < DNS_HEADER_LEN)
		return -ENOSPC;
	info->action = DNS_ACTION_REPLY;
	info->rcode = rep.rcode;
	n = write_reply(&rep, out, reply_limit(&q, opts, out_cap), &info->truncated);
	info->answered_id = rep.ancount > 0 && info->has_id && !info->truncated;
	return (ssize_t)n;
}

ssize_t dns_error_reply(const uint8_t *query, size_t len, int rcode, uint8_t *out, size_t out_cap,
			const struct dns_answer_opts *opts)
{
	static const struct dns_answer_opts default_opts = {0};
	struct query q;
	struct reply rep = {.query = &q, .question = true, .rcode = rcode};
	bool truncated;

	if (parse_query(query, len, &q) != PARSE_OK)
		return -EINVAL;
	if (out_cap < DNS_HEADER_LEN)
		return -ENOSPC;
	return (ssize_t)write_reply(
	    &rep, out, reply_limit(&q, opts ? opts : &default_opts, out_cap), &truncated);
}

bool dns_reply_matches(const uint8_t *query, size_t query_len, const uint8_t *reply,
		       size_t reply_len)
{
	struct reader qr = {.msg = query, .len = query_len, .pos = DNS_HEADER_LEN};
	struct reader rr = {.msg = reply, .len = reply_len, .pos = DNS_HEADER_LEN};
	uint8_t qname[NAME_MAX_WIRE], rname[NAME_MAX_WIRE];
	size_t qname_len, rname_len;
	uint16_t qtype, qclass, rtype, rclass;

	if (query_len < DNS_HEADER_LEN || reply_len < DNS_HEADER_LEN)
		return false;
	if (!(reply[2] & FLAG_QR) || dns_get_id(query) != dns_get_id(reply) ||
	    (query[2] & OPCODE_MASK) != (reply[2] & OPCODE_MASK))
		return false;
	uint16_t qdcount = (uint16_t)(reply[4] << 8 | reply[5]);
	if (qdcount == 0)
		return (reply[3] & 0x0f) != DNS_RCODE_NOERROR;
	if (qdcount != 1)
		return false;
	if (read_name(&qr, qname, &qname_len) != 0 || reader_u16(&qr, &qtype) != 0 ||
	    reader_u16(&qr, &qclass) != 0)
		return false;
	if (read_name(&rr, rname, &rname_len) != 0 || reader_u16(&rr, &rtype) != 0 ||
	    reader_u16(&rr, &rclass) != 0)
		return false;
	return name_equal(qname, qname_len, rname, rname_len) && qtype == rtype && qclass == rclass;
}

uint16_t dns_get_id(const uint8_t *msg)
{
	return (uint16_t)(msg[0] << 8 | msg[1]);
}

void dns_set_id(uint8_t *msg, uint16_t id)
{
	bytes_put16(msg, id);
}

const char *dns_rcode_name(int rcode)
{
	switch (rcode) {
	case DNS_RCODE_NOERROR:
		return "NOERROR";
	case DNS_RCODE_FORMERR:
		return "FORMERR";
	case DNS_RCODE_SERVFAIL:
		return "SERVFAIL";
	case DNS_RCODE_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_RCODE_NOTIMP:
		return "NOTIMP";
	case DNS_RCODE_REFUSED:
		return "REFUSED";
	case DNS_RCODE_BADVERS:
		return "BADVERS";
	default:
		return "UNKNOWN";
	}
}
