/* Answers DNS queries for the origins of `iron dns-server` from stored
 * pkarr packets (pkarr_zone.h). Pure: the packets come from a callback.
 *
 * The query is untrusted: every read goes through struct reader or
 * read_name(), which decompresses into a 255-byte buffer and accepts only
 * compression pointers that point strictly before every position already
 * visited (no loops, no forward jumps). The packet from the store was
 * verified when it was stored and is walked by pkarr_foreach_rr(), which
 * checks it again. */
#include "iron/pkarr_zone.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iron/bytes.h"
#include "iron/dns.h"
#include "iron/encoding.h"
#include "iron/pkarr.h"

#define LABEL_MAX	 63
#define POINTER_HOPS_MAX 127
#define Z32_KEY_LEN	 52

#define FLAG_QR	     0x80 /* byte 2 */
#define FLAG_AA	     0x04
#define FLAG_TC	     0x02
#define FLAG_RD	     0x01
#define OPCODE_MASK  0x78
#define OPCODE_QUERY 0

#define OPT_RR_LEN  11
#define OPT_FLAG_DO 0x8000
#define TYPE_IXFR   251
#define TYPE_AXFR   252

#define SOA_REFRESH 10800
#define SOA_RETRY   3600
#define SOA_EXPIRE  604800

/* Answers from one packet: at most PKARR_MAX_DNS bytes of records, each
 * of which costs at most one byte more here (a 2-byte pointer for a name
 * of at least 1 byte). */
#define ANSWERS_MAX   (2 * PKARR_MAX_DNS)
#define AUTHORITY_MAX 512

/* ------------------------------------------------------------ names */

static uint8_t ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* A dotted name ("dns.iroh.link", a trailing dot allowed, "." or "" for
 * the root) in wire form, lowercase. Returns the wire length or -EINVAL. */
static int name_to_wire(const char *text, uint8_t out[PKARR_ZONE_NAME_WIRE], unsigned *labels)
{
	size_t len = strlen(text), p = 0, o = 0;
	*labels = 0;
	if (len > 0 && text[len - 1] == '.')
		len--;
	while (p < len) {
		size_t start = p;
		while (p < len && text[p] != '.') {
			if (!host_char(text[p]))
				return -EINVAL;
			p++;
		}
		size_t n = p - start;
		if (n == 0 || n > LABEL_MAX || o + 1 + n + 1 > PKARR_ZONE_NAME_WIRE)
			return -EINVAL;
		out[o++] = (uint8_t)n;
		for (size_t i = 0; i < n; i++)
			out[o++] = ascii_lower((uint8_t)text[start + i]);
		(*labels)++;
		if (p < len)
			p++; /* the dot; a trailing one was cut above */
		if (p == len && text[p - 1] == '.')
			return -EINVAL; /* "a..b" ends here too */
	}
	out[o++] = 0;
	return (int)o;
}

struct reader {
	const uint8_t *msg;
	size_t len, pos;
};

static int reader_u16(struct reader *r, uint16_t *v)
{
	if (r->len - r->pos < 2)
		return -EBADMSG;
	*v = bytes_get16(r->msg + r->pos);
	r->pos += 2;
	return 0;
}

static int reader_u32(struct reader *r, uint32_t *v)
{
	if (r->len - r->pos < 4)
		return -EBADMSG;
	*v = bytes_get32(r->msg + r->pos);
	r->pos += 4;
	return 0;
}

static int reader_skip(struct reader *r, size_t n)
{
	if (r->len - r->pos < n)
		return -EBADMSG;
	r->pos += n;
	return 0;
}

/* The (possibly compressed) name at r->pos, uncompressed into name with
 * its case kept; r->pos moves past it. Returns 0 or -EBADMSG. */
static int read_name(struct reader *r, uint8_t name[PKARR_ZONE_NAME_WIRE], size_t *name_len)
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
		if (c & 0xc0)
			return -EBADMSG;
		if (c == 0) {
			name[out++] = 0;
			if (!jumped)
				end = p + 1;
			break;
		}
		if (r->len - p - 1 < c || out + 1 + c + 1 > PKARR_ZONE_NAME_WIRE)
			return -EBADMSG;
		memcpy(name + out, r->msg + p, 1 + (size_t)c);
		out += 1 + (size_t)c;
		p += 1 + (size_t)c;
	}
	r->pos = end;
	*name_len = out;
	return 0;
}

/* ------------------------------------------------------------ the query */

struct query {
	uint16_t id;
	uint8_t flags; /* opcode and RD, echoed */
	uint8_t name[PKARR_ZONE_NAME_WIRE];
	size_t name_len;
	uint16_t qtype, qclass;
	bool edns, edns_do;
	uint16_t edns_size;
	uint8_t edns_version;
};

enum parse_result { PARSE_OK, PARSE_DROP, PARSE_NOTIMP, PARSE_FORMERR, PARSE_FORMERR_QUESTION };

static int read_records(struct reader *r, unsigned count, struct query *q, bool additional)
{
	uint8_t name[PKARR_ZONE_NAME_WIRE];
	size_t name_len;
	for (unsigned i = 0; i < count; i++) {
		uint16_t type, class_, rdlength;
		uint32_t ttl;
		if (read_name(r, name, &name_len) != 0 || reader_u16(r, &type) != 0 ||
		    reader_u16(r, &class_) != 0 || reader_u32(r, &ttl) != 0 ||
		    reader_u16(r, &rdlength) != 0 || reader_skip(r, rdlength) != 0)
			return -EBADMSG;
		if (!additional || type != DNS_TYPE_OPT)
			continue;
		if (q->edns || name_len != 1) /* RFC 6891 6.1.1 */
			return -EBADMSG;
		q->edns = true;
		q->edns_size = class_ < DNS_UDP_PLAIN_MAX ? DNS_UDP_PLAIN_MAX : class_;
		q->edns_version = (uint8_t)(ttl >> 16);
		q->edns_do = (ttl & OPT_FLAG_DO) != 0;
	}
	return 0;
}

static enum parse_result parse_query(const uint8_t *msg, size_t len, struct query *q)
{
	struct reader r = {.msg = msg, .len = len, .pos = 4};
	uint16_t qd, an, ns, ar;

	memset(q, 0, sizeof(*q));
	if (len < 2)
		return PARSE_DROP;
	q->id = bytes_get16(msg);
	if (len >= 3) {
		if (msg[2] & FLAG_QR)
			return PARSE_DROP; /* never answer an answer */
		q->flags = msg[2] & (OPCODE_MASK | FLAG_RD);
	}
	if (len < DNS_HEADER_LEN)
		return PARSE_FORMERR;
	if ((msg[2] & OPCODE_MASK) != OPCODE_QUERY)
		return PARSE_NOTIMP;
	reader_u16(&r, &qd);
	reader_u16(&r, &an);
	reader_u16(&r, &ns);
	reader_u16(&r, &ar);
	if (qd != 1 || read_name(&r, q->name, &q->name_len) != 0 ||
	    reader_u16(&r, &q->qtype) != 0 || reader_u16(&r, &q->qclass) != 0)
		return PARSE_FORMERR;
	if (read_records(&r, an, q, false) != 0 || read_records(&r, ns, q, false) != 0 ||
	    read_records(&r, ar, q, true) != 0) {
		q->edns = false;
		return PARSE_FORMERR_QUESTION;
	}
	return PARSE_OK;
}

/* ------------------------------------------------------------ the reply */

struct reply {
	const struct query *q;
	bool question, aa;
	int rcode;
	uint8_t answers[ANSWERS_MAX];
	size_t answers_len;
	unsigned ancount;
	uint8_t authority[AUTHORITY_MAX];
	size_t authority_len;
	unsigned nscount;
};

/* Appends a prebuilt record with its TTL replaced. */
static void append_record(uint8_t *buf, size_t cap, size_t *len, unsigned *count, const uint8_t *rr,
			  size_t rr_len, size_t ttl_at, uint32_t ttl)
{
	if (cap - *len < rr_len)
		return;
	memcpy(buf + *len, rr, rr_len);
	bytes_put32(buf + *len + ttl_at, ttl);
	*len += rr_len;
	(*count)++;
}

static void add_soa(struct reply *rep, const struct pkarr_zone_origin *o, bool answer)
{
	if (answer)
		append_record(rep->answers, sizeof(rep->answers), &rep->answers_len, &rep->ancount,
			      o->soa, o->soa_len, o->len + 4, PKARR_ZONE_SOA_TTL);
	else
		append_record(rep->authority, sizeof(rep->authority), &rep->authority_len,
			      &rep->nscount, o->soa, o->soa_len, o->len + 4,
			      PKARR_ZONE_NEGATIVE_TTL);
}

static void add_ns(struct reply *rep, const struct pkarr_zone *zone,
		   const struct pkarr_zone_origin *o)
{
	for (size_t i = 0; i < zone->nns; i++)
		append_record(rep->answers, sizeof(rep->answers), &rep->answers_len, &rep->ancount,
			      o->ns[i], o->ns_len[i], o->len + 4, PKARR_ZONE_NS_TTL);
}

/* Writes the reply within limit bytes: when it does not fit, TC is set and
 * the records go, then the OPT record, then the question. */
static size_t write_reply(const struct reply *rep, uint8_t *out, size_t limit, bool *truncated)
{
	const struct query *q = rep->q;
	size_t question_len = rep->question ? q->name_len + 4 : 0;
	size_t opt_len = q->edns ? OPT_RR_LEN : 0;
	bool records = true, opt = q->edns, question = rep->question, tc = false;

	if (DNS_HEADER_LEN + question_len + rep->answers_len + rep->authority_len + opt_len >
	    limit) {
		tc = true;
		records = false;
		if (DNS_HEADER_LEN + question_len + opt_len > limit)
			opt = false;
		if (DNS_HEADER_LEN + question_len > limit)
			question = false;
	}
	size_t p = DNS_HEADER_LEN;
	bytes_put16(out, q->id);
	out[2] = (uint8_t)(FLAG_QR | q->flags | (rep->aa ? FLAG_AA : 0) | (tc ? FLAG_TC : 0));
	out[3] = (uint8_t)(rep->rcode & 0x0f);
	bytes_put16(out + 4, question ? 1 : 0);
	bytes_put16(out + 6, records ? (uint16_t)rep->ancount : 0);
	bytes_put16(out + 8, records ? (uint16_t)rep->nscount : 0);
	bytes_put16(out + 10, opt ? 1 : 0);
	if (question) {
		memcpy(out + p, q->name, q->name_len);
		p += q->name_len;
		bytes_put16(out + p, q->qtype);
		bytes_put16(out + p + 2, q->qclass);
		p += 4;
	}
	if (records) {
		memcpy(out + p, rep->answers, rep->answers_len);
		p += rep->answers_len;
		memcpy(out + p, rep->authority, rep->authority_len);
		p += rep->authority_len;
	}
	if (opt) {
		out[p] = 0;
		bytes_put16(out + p + 1, DNS_TYPE_OPT);
		bytes_put16(out + p + 3, DNS_EDNS_UDP_SIZE);
		bytes_put32(out + p + 5,
			    (uint32_t)(rep->rcode >> 4) << 24 | (q->edns_do ? OPT_FLAG_DO : 0));
		bytes_put16(out + p + 9, 0);
		p += OPT_RR_LEN;
	}
	*truncated = tc;
	return p;
}

static size_t reply_limit(const struct query *q, bool tcp, size_t out_cap)
{
	size_t limit = DNS_TCP_MAX;
	if (!tcp) {
		limit = q->edns ? q->edns_size : DNS_UDP_PLAIN_MAX;
		if (limit > DNS_EDNS_UDP_SIZE)
			limit = DNS_EDNS_UDP_SIZE;
	}
	if (limit > out_cap)
		limit = out_cap;
	return limit < DNS_HEADER_LEN ? DNS_HEADER_LEN : limit;
}

/* ------------------------------------------------------------ the zone */

/* The origin the name is under (the longest), with the offset in name
 * where it starts; NULL when none. */
static const struct pkarr_zone_origin *find_origin(const struct pkarr_zone *zone,
						   const uint8_t *name, size_t name_len, size_t *at)
{
	const struct pkarr_zone_origin *best = NULL;
	for (size_t i = 0; i < zone->norigins; i++) {
		const struct pkarr_zone_origin *o = &zone->origins[i];
		if (o->len > name_len)
			continue;
		/* Only at a label boundary of name. */
		size_t p = 0;
		while (name_len - p > o->len)
			p += 1 + (size_t)name[p];
		if (name_len - p != o->len)
			continue;
		bool equal = true;
		for (size_t k = 0; k < o->len && equal; k++)
			equal = ascii_lower(name[p + k]) == o->name[k];
		if (equal && (!best || o->len > best->len)) {
			best = o;
			*at = p;
		}
	}
	return best;
}

/* The labels of the queried name below the key label, for comparing with
 * the packet's record names. */
struct match {
	const struct query *q;
	struct reply *rep;
	const uint8_t *labels[PKARR_ZONE_NAME_WIRE / 2]; /* label starts (length bytes) */
	unsigned nlabels;				 /* below the key */
	const uint8_t *key_label;			 /* length byte, then 52 chars */
	bool name_exists;
	bool overflow;
};

static bool label_equals_text(const uint8_t *label, const char *text, size_t len)
{
	if (label[0] != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (ascii_lower(label[1 + i]) != ascii_lower((uint8_t)text[i]))
			return false;
	return true;
}

static bool served_type(uint16_t type)
{
	return type == DNS_TYPE_A || type == DNS_TYPE_AAAA || type == DNS_TYPE_TXT;
}

static void on_record(void *ctx, const char *name, uint16_t type, uint16_t class_, uint32_t ttl,
		      const uint8_t *rdata, size_t rdlen)
{
	struct match *m = ctx;
	const char *label[PKARR_ZONE_NAME_WIRE / 2];
	size_t label_len[PKARR_ZONE_NAME_WIRE / 2];
	unsigned n = 0;

	if (type == DNS_TYPE_SOA || type == DNS_TYPE_NS || class_ != DNS_CLASS_IN)
		return;
	/* Split the dotted name; the last label must be the key's. */
	for (const char *p = name; *p;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (n == sizeof(label) / sizeof(label[0]))
			return;
		label[n] = p;
		label_len[n++] = len;
		p += len;
		if (*p)
			p++;
	}
	if (n == 0 || !label_equals_text(m->key_label, label[n - 1], label_len[n - 1]))
		return;
	n--; /* the labels below the key */
	if (n < m->nlabels)
		return;
	/* The last nlabels of the record's name must be the query's. */
	for (unsigned i = 0; i < m->nlabels; i++)
		if (!label_equals_text(m->labels[i], label[n - m->nlabels + i],
				       label_len[n - m->nlabels + i]))
			return;
	m->name_exists = true;
	if (n != m->nlabels || !served_type(type) ||
	    (m->q->qtype != type && m->q->qtype != DNS_TYPE_ANY))
		return;
	struct reply *rep = m->rep;
	if (sizeof(rep->answers) - rep->answers_len < 12 + rdlen) {
		m->overflow = true;
		return;
	}
	uint8_t *rr = rep->answers + rep->answers_len;
	/* The owner: the question's name, as asked. */
	bytes_put16(rr, 0xc000 | DNS_HEADER_LEN);
	bytes_put16(rr + 2, type);
	bytes_put16(rr + 4, DNS_CLASS_IN);
	bytes_put32(rr + 6, ttl);
	bytes_put16(rr + 10, (uint16_t)rdlen);
	memcpy(rr + 12, rdata, rdlen);
	rep->answers_len += 12 + rdlen;
	rep->ancount++;
}

static void answer_query(const struct pkarr_zone *zone, const struct query *q,
			 pkarr_zone_lookup_fn *lookup, void *ctx, struct reply *rep,
			 struct pkarr_zone_info *info)
{
	size_t at = 0;
	rep->question = true;
	if (q->edns && q->edns_version > 0) {
		rep->rcode = DNS_RCODE_BADVERS;
		return;
	}
	if (q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY) {
		rep->rcode = DNS_RCODE_REFUSED;
		return;
	}
	const struct pkarr_zone_origin *o = find_origin(zone, q->name, q->name_len, &at);
	if (!o || q->qtype == TYPE_AXFR || q->qtype == TYPE_IXFR) {
		rep->rcode = DNS_RCODE_REFUSED;
		return;
	}
	info->in_zone = true;
	rep->aa = true;
	if (at == 0) {
		/* The apex. */
		if (q->qtype == DNS_TYPE_SOA || q->qtype == DNS_TYPE_ANY)
			add_soa(rep, o, true);
		if (q->qtype == DNS_TYPE_NS || q->qtype == DNS_TYPE_ANY)
			add_ns(rep, zone, o);
		if (rep->ancount == 0)
			add_soa(rep, o, false);
		return;
	}

	struct match m = {.q = q, .rep = rep};
	for (size_t p = 0; p < at; p += 1 + (size_t)q->name[p])
		m.labels[m.nlabels++] = q->name + p;
	m.key_label = m.labels[--m.nlabels];

	char z32[Z32_KEY_LEN + 1];
	uint8_t key[32];
	const uint8_t *dns = NULL;
	size_t dns_len = 0;
	if (m.key_label[0] != Z32_KEY_LEN) {
		rep->rcode = DNS_RCODE_NXDOMAIN;
		add_soa(rep, o, false);
		return;
	}
	memcpy(z32, m.key_label + 1, Z32_KEY_LEN);
	z32[Z32_KEY_LEN] = '\0';
	if (encoding_zbase32_decode(z32, key, sizeof(key)) != 0) {
		rep->rcode = DNS_RCODE_NXDOMAIN;
		add_soa(rep, o, false);
		return;
	}
	info->looked_up = true;
	int rc = lookup(ctx, key, &dns, &dns_len);
	if (rc == -ENOENT) {
		rep->rcode = DNS_RCODE_NXDOMAIN;
		add_soa(rep, o, false);
		return;
	}
	if (rc < 0) {
		rep->rcode = DNS_RCODE_SERVFAIL;
		rep->aa = false;
		return;
	}
	info->found = true;
	/* "<z32>.<origin>" exists once the key has a packet. */
	m.name_exists = m.nlabels == 0;
	if (pkarr_foreach_rr(dns, dns_len, on_record, &m) < 0 || m.overflow) {
		/* Stored packets were checked: this is a broken invariant, not
		 * bad input. Answer what could be read rather than nothing. */
		if (rep->ancount == 0 && !m.name_exists) {
			rep->rcode = DNS_RCODE_SERVFAIL;
			rep->aa = false;
			return;
		}
	}
	if (!m.name_exists) {
		rep->rcode = DNS_RCODE_NXDOMAIN;
		add_soa(rep, o, false);
	} else if (rep->ancount == 0) {
		add_soa(rep, o, false); /* NODATA */
	}
}

ssize_t pkarr_zone_answer(const struct pkarr_zone *zone, const uint8_t *query, size_t len, bool tcp,
			  pkarr_zone_lookup_fn *lookup, void *ctx, uint8_t *out, size_t out_cap,
			  struct pkarr_zone_info *info)
{
	struct query q;
	struct reply rep;

	memset(info, 0, sizeof(*info));
	memset(&rep, 0, sizeof(rep));
	rep.q = &q;
	switch (parse_query(query, len, &q)) {
	case PARSE_DROP:
		return 0;
	case PARSE_NOTIMP:
		rep.rcode = DNS_RCODE_NOTIMP;
		break;
	case PARSE_FORMERR:
		rep.rcode = DNS_RCODE_FORMERR;
		break;
	case PARSE_FORMERR_QUESTION:
		rep.rcode = DNS_RCODE_FORMERR;
		rep.question = true;
		break;
	case PARSE_OK:
		answer_query(zone, &q, lookup, ctx, &rep, info);
		break;
	}
	if (out_cap < DNS_HEADER_LEN)
		return -ENOSPC;
	info->reply = true;
	info->rcode = rep.rcode;
	info->qtype = q.qtype;
	info->edns = q.edns;
	size_t n = write_reply(&rep, out, reply_limit(&q, tcp, out_cap), &info->truncated);
	info->answers = info->truncated ? 0 : rep.ancount;
	return (ssize_t)n;
}

/* ------------------------------------------------------------ set-up */

/* "<first>.<origin>" as a dotted name. */
static int join_name(char *out, size_t cap, const char *first, const char *origin)
{
	size_t olen = strlen(origin);
	if (olen > 0 && origin[olen - 1] == '.')
		olen--;
	int n = snprintf(out, cap, "%s.%.*s", first, (int)olen, origin);
	return n < 0 || (size_t)n >= cap ? -EINVAL : 0;
}

static size_t put_name(uint8_t *p, const uint8_t *wire, size_t len)
{
	memcpy(p, wire, len);
	return len;
}

static int build_origin(struct pkarr_zone_origin *o, const char *origin, const char *const *ns,
			size_t nns, const char *soa_rname, uint32_t serial, char *err,
			size_t err_cap)
{
	uint8_t ns_wire[PKARR_ZONE_MAX_NS][PKARR_ZONE_NAME_WIRE], rname[PKARR_ZONE_NAME_WIRE];
	size_t ns_len[PKARR_ZONE_MAX_NS];
	char text[PKARR_ZONE_NAME_WIRE + 16];
	unsigned labels;
	int n = name_to_wire(origin, o->name, &o->labels);
	if (n < 0 || o->labels == 0) {
		snprintf(err, err_cap, "origin '%s' is not a valid domain name", origin);
		return -EINVAL;
	}
	o->len = (size_t)n;
	for (size_t i = 0; i < (nns ? nns : 1); i++) {
		const char *name = nns ? ns[i] : text;
		if (!nns && join_name(text, sizeof(text), "ns1", origin) != 0)
			name = "";
		n = name_to_wire(name, ns_wire[i], &labels);
		if (n < 0 || labels == 0) {
			snprintf(err, err_cap, "name server '%s' is not a valid host name", name);
			return -EINVAL;
		}
		ns_len[i] = (size_t)n;
	}
	const char *rtext = soa_rname;
	if (!rtext) {
		rtext = join_name(text, sizeof(text), "hostmaster", origin) == 0 ? text : "";
	}
	n = name_to_wire(rtext, rname, &labels);
	if (n < 0 || labels == 0) {
		snprintf(err, err_cap, "SOA mailbox '%s' is not a valid domain name", rtext);
		return -EINVAL;
	}

	/* SOA: owner, type, class, TTL, rdlength, mname, rname, 5 numbers. */
	size_t rdlen = ns_len[0] + (size_t)n + 20;
	if (o->len + 10 + rdlen > sizeof(o->soa)) {
		snprintf(err, err_cap, "SOA record too long");
		return -EINVAL;
	}
	uint8_t *p = o->soa;
	p += put_name(p, o->name, o->len);
	bytes_put16(p, DNS_TYPE_SOA);
	bytes_put16(p + 2, DNS_CLASS_IN);
	bytes_put32(p + 4, PKARR_ZONE_SOA_TTL);
	bytes_put16(p + 8, (uint16_t)rdlen);
	p += 10;
	p += put_name(p, ns_wire[0], ns_len[0]);
	p += put_name(p, rname, (size_t)n);
	bytes_put32(p, serial);
	bytes_put32(p + 4, SOA_REFRESH);
	bytes_put32(p + 8, SOA_RETRY);
	bytes_put32(p + 12, SOA_EXPIRE);
	bytes_put32(p + 16, PKARR_ZONE_NEGATIVE_TTL);
	p += 20;
	o->soa_len = (size_t)(p - o->soa);

	for (size_t i = 0; i < (nns ? nns : 1); i++) {
		p = o->ns[i];
		p += put_name(p, o->name, o->len);
		bytes_put16(p, DNS_TYPE_NS);
		bytes_put16(p + 2, DNS_CLASS_IN);
		bytes_put32(p + 4, PKARR_ZONE_NS_TTL);
		bytes_put16(p + 8, (uint16_t)ns_len[i]);
		p += 10;
		p += put_name(p, ns_wire[i], ns_len[i]);
		o->ns_len[i] = (size_t)(p - o->ns[i]);
	}
	return 0;
}

int pkarr_zone_init(struct pkarr_zone *zone, const char *const *origins, size_t norigins,
		    const char *const *ns, size_t nns, const char *soa_rname, uint32_t serial,
		    char *err, size_t err_cap)
{
	memset(zone, 0, sizeof(*zone));
	if (norigins == 0 || norigins > PKARR_ZONE_MAX_ORIGINS) {
		snprintf(err, err_cap, "1 to %d origins are needed", PKARR_ZONE_MAX_ORIGINS);
		return -EINVAL;
	}
	if (nns > PKARR_ZONE_MAX_NS) {
		snprintf(err, err_cap, "at most %d name servers", PKARR_ZONE_MAX_NS);
		return -EINVAL;
	}
	for (size_t i = 0; i < norigins; i++) {
		int rc = build_origin(&zone->origins[i], origins[i], ns, nns, soa_rname, serial,
				      err, err_cap);
		if (rc < 0)
			return rc;
		for (size_t k = 0; k < i; k++)
			if (zone->origins[k].len == zone->origins[i].len &&
			    memcmp(zone->origins[k].name, zone->origins[i].name,
				   zone->origins[i].len) == 0) {
				snprintf(err, err_cap, "origin '%s' given twice", origins[i]);
				return -EINVAL;
			}
	}
	zone->norigins = norigins;
	zone->nns = nns ? nns : 1;
	return 0;
}
