/* The mDNS codec of LAN discovery (lan.h): iroh's swarm-discovery records
 * written and read. Pure: no I/O, no allocation. Every name is walked with
 * its lengths checked against the message, compression pointers must point
 * strictly backwards (so every walk ends), names stay within 255 bytes. */
#include "iron/lan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iron/bytes.h"
#include "iron/encoding.h"

#define HEADER_LEN  12
#define FLAG_QR	    0x8000
#define FLAG_AA	    0x0400
#define OPCODE_MASK 0x7800
#define RCODE_MASK  0x000f
#define CLASS_MASK  0x7fff /* the top bit: cache-flush / unicast-response */
#define CLASS_IN    1
#define CLASS_ANY   255
#define TYPE_A	    1
#define TYPE_PTR    12
#define TYPE_TXT    16
#define TYPE_AAAA   28
#define TYPE_SRV    33
#define TYPE_ANY    255
#define NAME_MAX    255 /* wire bytes of a name, the final 0 included */
#define LABEL_MAX   63
/* SRV records of the service looked at in one message; more are ignored. */
#define MAX_SRV 16
/* iroh writes "relay=" and at most 249 bytes of URL. */
#define TXT_RELAY "relay="

/* The service's labels, in order. */
static const char *const service_labels[] = {"_irohv1", "_udp", "local"};
#define SERVICE_LABELS 3

/* ---- reading ---- */

/* A name read out of a message: uncompressed wire form (length-prefixed
 * labels and the final 0). */
struct name {
	uint8_t wire[NAME_MAX];
	size_t len;
	size_t labels;
};

/* Reads the name at *pos; the bytes in place must end before limit (the
 * end of the record data or of the message). Sets *pos past them and, when
 * out is not NULL, stores the name. As hickory (iroh's DNS library) does,
 * a pointer must point before the start of the piece of name that holds
 * it, and the piece it points to must end before that start: the pieces
 * move strictly backwards, so every walk ends. Returns 0 or -EBADMSG. */
static int read_name(const uint8_t *msg, size_t len, size_t *pos, size_t limit, struct name *out)
{
	size_t at = *pos, piece = *pos, end = 0, total = 0, labels = 0;
	bool jumped = false;

	if (limit > len)
		return -EBADMSG;
	for (;;) {
		if (at >= limit)
			return -EBADMSG;
		uint8_t b = msg[at];
		if ((b & 0xc0) == 0xc0) {
			if (at + 1 >= limit)
				return -EBADMSG;
			size_t target = (size_t)(b & 0x3f) << 8 | msg[at + 1];
			if (!jumped)
				end = at + 2;
			if (target >= piece)
				return -EBADMSG;
			jumped = true;
			limit = piece;
			piece = target;
			at = target;
			continue;
		}
		if (b & 0xc0)
			return -EBADMSG; /* 0x40 and 0x80: reserved label types */
		if (b == 0) {
			if (++total > NAME_MAX)
				return -EBADMSG;
			if (out) {
				out->wire[total - 1] = 0;
				out->len = total;
				out->labels = labels;
			}
			*pos = jumped ? end : at + 1;
			return 0;
		}
		if ((size_t)b + 1 > limit - at || total + 1 + b + 1 > NAME_MAX)
			return -EBADMSG;
		if (out)
			memcpy(out->wire + total, msg + at, 1 + (size_t)b);
		total += 1 + (size_t)b;
		labels++;
		at += 1 + (size_t)b;
	}
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* Case-insensitive equality of two names in wire form. */
static bool name_equal(const struct name *a, const struct name *b)
{
	if (a->len != b->len)
		return false;
	for (size_t i = 0; i < a->len; i++)
		if (lower(a->wire[i]) != lower(b->wire[i]))
			return false;
	return true;
}

/* Whether the labels of name from the index-th byte on are the service's. */
static bool is_service_at(const struct name *name, size_t at)
{
	for (int i = 0; i < SERVICE_LABELS; i++) {
		size_t n = strlen(service_labels[i]);
		if (at >= name->len || name->wire[at] != n)
			return false;
		for (size_t j = 0; j < n; j++)
			if (lower(name->wire[at + 1 + j]) != (uint8_t)service_labels[i][j])
				return false;
		at += 1 + n;
	}
	return at < name->len && name->wire[at] == 0;
}

static bool is_service(const struct name *name)
{
	return is_service_at(name, 0);
}

/* The ID in an instance name "<base32 ID>._irohv1._udp.local." (any case,
 * as iroh's PublicKey::from_str reads it); false for another name. Whether
 * the key is a valid point is left to the caller (it costs more). */
static bool instance_id(const struct name *name, struct iron_id *id)
{
	char text[IRON_ID_BASE32_LEN + 1];
	if (name->len < 1 || name->wire[0] != IRON_ID_BASE32_LEN ||
	    !is_service_at(name, 1 + IRON_ID_BASE32_LEN))
		return false;
	memcpy(text, name->wire + 1, IRON_ID_BASE32_LEN);
	text[IRON_ID_BASE32_LEN] = '\0';
	return encoding_base32_decode(text, id->bytes, IRON_ID_LEN) == 0;
}

struct header {
	uint16_t id, flags, qd, an, ns, ar;
};

static int read_header(const uint8_t *msg, size_t len, struct header *h)
{
	if (len < HEADER_LEN)
		return -EBADMSG;
	h->id = bytes_get16(msg);
	h->flags = bytes_get16(msg + 2);
	h->qd = bytes_get16(msg + 4);
	h->an = bytes_get16(msg + 6);
	h->ns = bytes_get16(msg + 8);
	h->ar = bytes_get16(msg + 10);
	return 0;
}

/* One resource record: its owner, fixed fields and where its data is. */
struct record {
	struct name owner;
	uint16_t type, class;
	uint32_t ttl;
	size_t rdata, rdlen;
};

/* Checks the data of the types this codec reads (hickory, which iroh uses,
 * refuses the whole message for any of these). */
static int check_rdata(const uint8_t *msg, size_t len, const struct record *rr)
{
	size_t end = rr->rdata + rr->rdlen, pos;
	switch (rr->type) {
	case TYPE_A:
		return rr->rdlen == 4 ? 0 : -EBADMSG;
	case TYPE_AAAA:
		return rr->rdlen == 16 ? 0 : -EBADMSG;
	case TYPE_SRV:
		if (rr->rdlen < 7)
			return -EBADMSG;
		pos = rr->rdata + 6;
		if (read_name(msg, len, &pos, end, NULL) != 0 || pos != end)
			return -EBADMSG;
		return 0;
	case TYPE_PTR:
		pos = rr->rdata;
		if (read_name(msg, len, &pos, end, NULL) != 0 || pos != end)
			return -EBADMSG;
		return 0;
	case TYPE_TXT:
		for (pos = rr->rdata; pos < end; pos += 1 + (size_t)msg[pos])
			if (1 + (size_t)msg[pos] > end - pos)
				return -EBADMSG;
		return 0;
	default:
		return 0;
	}
}

/* Reads the record at *pos (owner, type, class, TTL, data) and checks it.
 * Returns 0 or -EBADMSG. */
static int read_record(const uint8_t *msg, size_t len, size_t *pos, struct record *rr)
{
	if (read_name(msg, len, pos, len, &rr->owner) != 0 || len - *pos < 10)
		return -EBADMSG;
	rr->type = bytes_get16(msg + *pos);
	rr->class = bytes_get16(msg + *pos + 2);
	rr->ttl = bytes_get32(msg + *pos + 4);
	rr->rdlen = bytes_get16(msg + *pos + 8);
	rr->rdata = *pos + 10;
	if (rr->rdlen > len - rr->rdata)
		return -EBADMSG;
	*pos = rr->rdata + rr->rdlen;
	return check_rdata(msg, len, rr);
}

/* Skips the question section. Returns 0 or -EBADMSG. */
static int skip_questions(const uint8_t *msg, size_t len, unsigned count, size_t *pos)
{
	for (unsigned i = 0; i < count; i++) {
		if (read_name(msg, len, pos, len, NULL) != 0 || len - *pos < 4)
			return -EBADMSG;
		*pos += 4;
	}
	return 0;
}

/* The SRV records of one message that name an instance of the service. */
struct srv_target {
	size_t node; /* index into the caller's out */
	uint16_t port;
	struct name target;
};

static void min_ttl(struct lan_node *node, uint32_t ttl)
{
	if (ttl < node->ttl)
		node->ttl = ttl;
}

static void add_addr(struct lan_node *node, const struct netaddr *addr)
{
	for (size_t i = 0; i < node->naddrs; i++)
		if (netaddr_equal(&node->addrs[i].sa, &addr->sa))
			return;
	if (node->naddrs < LAN_MAX_ADDRS)
		node->addrs[node->naddrs++] = *addr;
}

/* The relay URL of a TXT record, when it has one iron can use: the first
 * "relay=" string, printable ASCII, fitting PKARR_URL_MAX. */
static void read_relay(const uint8_t *msg, const struct record *rr, struct lan_node *node)
{
	size_t key = strlen(TXT_RELAY);
	for (size_t pos = rr->rdata; pos < rr->rdata + rr->rdlen; pos += 1 + (size_t)msg[pos]) {
		size_t n = msg[pos];
		const uint8_t *s = msg + pos + 1;
		if (n < key || memcmp(s, TXT_RELAY, key) != 0)
			continue;
		/* The first of a key wins, as swarm-discovery reads them. */
		if (n - key >= PKARR_URL_MAX)
			return;
		for (size_t i = key; i < n; i++)
			if (s[i] <= 0x20 || s[i] >= 0x7f)
				return;
		memcpy(node->relay, s + key, n - key);
		node->relay[n - key] = '\0';
		return;
	}
}

/* The records after the questions, read one by one. */
struct walk {
	const uint8_t *msg;
	size_t len, start;
	unsigned count;
};

/* Reads the next record into rr. Returns 0, 1 after the last, or
 * -EBADMSG. */
static int walk_next(struct walk *w, size_t *pos, unsigned *index, struct record *rr)
{
	if (*index >= w->count)
		return 1;
	(*index)++;
	return read_record(w->msg, w->len, pos, rr);
}

int mdns_parse(const uint8_t *msg, size_t len, struct lan_node *out, size_t max)
{
	struct header h;
	struct record rr;
	struct srv_target srv[MAX_SRV];
	/* Candidates: nodes without an address must not take the room. */
	struct lan_node cand[MAX_SRV];
	size_t nsrv = 0, seen = 0, nodes = 0, pos;
	unsigned index;
	int rc;

	if (read_header(msg, len, &h) != 0)
		return -EBADMSG;
	/* RFC 6762 section 18.3 and 18.11: other opcodes and rcodes are
	 * ignored; a query's answers are known answers, not announcements. */
	if (!(h.flags & FLAG_QR) || (h.flags & OPCODE_MASK) || (h.flags & RCODE_MASK))
		return 0;
	pos = HEADER_LEN;
	if (skip_questions(msg, len, h.qd, &pos) != 0)
		return -EBADMSG;
	struct walk w = {msg, len, pos, (unsigned)h.an + h.ns + h.ar};

	/* First pass: the whole message must be well formed; collect the
	 * SRV records of service instances. */
	index = 0;
	while ((rc = walk_next(&w, &pos, &index, &rr)) == 0) {
		struct iron_id id;
		if (rr.type != TYPE_SRV || (rr.class & CLASS_MASK) != CLASS_IN || seen == MAX_SRV ||
		    !instance_id(&rr.owner, &id))
			continue;
		seen++; /* bounds the key checks below too */
		uint16_t port = bytes_get16(msg + rr.rdata + 4);
		if (port == 0)
			continue;
		size_t n;
		for (n = 0; n < nodes; n++)
			if (memcmp(cand[n].id.bytes, id.bytes, IRON_ID_LEN) == 0)
				break;
		if (n == nodes) {
			/* iroh drops a name that is not a valid key. */
			if (nodes == MAX_SRV || !id_is_valid(&id))
				continue;
			memset(&cand[n], 0, sizeof(cand[n]));
			cand[n].id = id;
			cand[n].port = port;
			cand[n].ttl = UINT32_MAX;
			nodes++;
		}
		size_t tpos = rr.rdata + 6;
		if (read_name(msg, len, &tpos, rr.rdata + rr.rdlen, &srv[nsrv].target) != 0)
			return -EBADMSG;
		srv[nsrv].node = n;
		srv[nsrv].port = port;
		min_ttl(&cand[n], rr.ttl);
		nsrv++;
	}
	if (rc < 0)
		return -EBADMSG;

	/* Second pass: TXT of those instances, A/AAAA of their targets. */
	pos = w.start;
	index = 0;
	while (walk_next(&w, &pos, &index, &rr) == 0) {
		if ((rr.class & CLASS_MASK) != CLASS_IN)
			continue;
		if (rr.type == TYPE_TXT) {
			struct iron_id id;
			if (!instance_id(&rr.owner, &id))
				continue;
			for (size_t n = 0; n < nodes; n++) {
				if (memcmp(cand[n].id.bytes, id.bytes, IRON_ID_LEN) != 0)
					continue;
				if (cand[n].relay[0] == '\0')
					read_relay(msg, &rr, &cand[n]);
				min_ttl(&cand[n], rr.ttl);
			}
			continue;
		}
		if (rr.type != TYPE_A && rr.type != TYPE_AAAA)
			continue;
		for (size_t i = 0; i < nsrv; i++) {
			if (!name_equal(&rr.owner, &srv[i].target))
				continue;
			struct netaddr addr;
			memset(&addr, 0, sizeof(addr));
			if (rr.type == TYPE_A) {
				addr.in.sin_family = AF_INET;
				memcpy(&addr.in.sin_addr, msg + rr.rdata, 4);
			} else {
				addr.in6.sin6_family = AF_INET6;
				memcpy(&addr.in6.sin6_addr, msg + rr.rdata, 16);
			}
			netaddr_set_port(&addr, srv[i].port);
			/* ::ffff:a.b.c.d is the IPv4 address (as A would say). */
			struct netaddr canonical;
			if (netaddr_canonical(&addr.sa, &canonical) != 0)
				continue;
			add_addr(&cand[srv[i].node], &canonical);
			min_ttl(&cand[srv[i].node], rr.ttl);
		}
	}

	/* A node without an address is of no use (iroh drops it too). */
	size_t kept = 0;
	for (size_t n = 0; n < nodes && kept < max; n++)
		if (cand[n].naddrs > 0)
			out[kept++] = cand[n];
	return (int)kept;
}

/* The first question of a service query: its name (as written, for the
 * echo of a legacy reply). Returns 0, or -EINVAL when msg is no service
 * query. */
static int service_question(const uint8_t *msg, size_t len, struct name *question)
{
	struct header h;
	size_t pos = HEADER_LEN;

	if (read_header(msg, len, &h) != 0 || (h.flags & FLAG_QR) || (h.flags & OPCODE_MASK))
		return -EINVAL;
	for (unsigned i = 0; i < h.qd; i++) {
		if (read_name(msg, len, &pos, len, question) != 0 || len - pos < 4)
			return -EINVAL;
		uint16_t type = bytes_get16(msg + pos),
			 class = bytes_get16(msg + pos + 2) & CLASS_MASK;
		pos += 4;
		if ((type == TYPE_PTR || type == TYPE_ANY) &&
		    (class == CLASS_IN || class == CLASS_ANY) && is_service(question))
			return 0;
	}
	return -EINVAL;
}

bool mdns_is_service_query(const uint8_t *msg, size_t len)
{
	struct name question;
	return service_question(msg, len, &question) == 0;
}

/* ---- writing ---- */

struct builder {
	uint8_t *out;
	size_t cap, pos;
	bool full;
};

static void put(struct builder *b, const void *data, size_t n)
{
	if (b->full || n > b->cap - b->pos) {
		b->full = true;
		return;
	}
	memcpy(b->out + b->pos, data, n);
	b->pos += n;
}

static void put8(struct builder *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put16(struct builder *b, uint16_t v)
{
	uint8_t raw[2];
	bytes_put16(raw, v);
	put(b, raw, 2);
}

static void put32(struct builder *b, uint32_t v)
{
	uint8_t raw[4];
	bytes_put32(raw, v);
	put(b, raw, 4);
}

static void put_label(struct builder *b, const char *text, size_t n)
{
	put8(b, (uint8_t)n);
	put(b, text, n);
}

/* A compression pointer to an earlier offset. */
static void put_pointer(struct builder *b, size_t offset)
{
	put16(b, (uint16_t)(0xc000 | offset));
}

/* The fixed part of a record; returns where its RDLENGTH goes. */
static size_t put_record_head(struct builder *b, uint16_t type, uint32_t ttl)
{
	put16(b, type);
	put16(b, CLASS_IN); /* no cache-flush bit: iroh would ignore the record */
	put32(b, ttl);
	size_t at = b->pos;
	put16(b, 0);
	return at;
}

static void end_record(struct builder *b, size_t rdlength_at)
{
	if (!b->full)
		bytes_put16(b->out + rdlength_at, (uint16_t)(b->pos - rdlength_at - 2));
}

/* The port an address is announced with (0: not announced). */
static uint16_t addr_port(const struct lan_node *node, const struct netaddr *addr)
{
	if (addr->sa.sa_family != AF_INET && addr->sa.sa_family != AF_INET6)
		return 0;
	uint16_t port = netaddr_port(&addr->sa);
	return port ? port : node->port;
}

/* The distinct ports of node's addresses, in order of first use. */
static size_t node_ports(const struct lan_node *node, uint16_t ports[LAN_MAX_ADDRS])
{
	size_t n = 0;
	for (size_t i = 0; i < node->naddrs && i < LAN_MAX_ADDRS; i++) {
		uint16_t port = addr_port(node, &node->addrs[i]);
		bool seen = port == 0;
		for (size_t j = 0; j < n && !seen; j++)
			seen = ports[j] == port;
		if (!seen)
			ports[n++] = port;
	}
	return n;
}

/* Writes the records of node after a header (and question, when question
 * is not NULL; its name must be the service's) at b->pos == HEADER_LEN,
 * then the header. */
static int encode_records(const struct lan_node *node, const struct name *question, uint16_t msg_id,
			  uint32_t ttl, struct builder *b)
{
	char id[IRON_ID_BASE32_LEN + 1];
	uint16_t ports[LAN_MAX_ADDRS];
	size_t targets[LAN_MAX_ADDRS];
	size_t nports = node_ports(node, ports), naddrs = 0, rd;
	size_t service_at = HEADER_LEN;

	if (nports == 0)
		return -EINVAL;
	id_to_base32(&node->id, id);
	b->pos = HEADER_LEN;

	if (question) {
		put(b, question->wire, question->len);
		put16(b, TYPE_PTR);
		put16(b, CLASS_IN);
	}

	/* PTR service -> instance. */
	if (question) {
		put_pointer(b, service_at);
	} else {
		for (int i = 0; i < SERVICE_LABELS; i++)
			put_label(b, service_labels[i], strlen(service_labels[i]));
		put8(b, 0);
	}
	rd = put_record_head(b, TYPE_PTR, ttl);
	size_t instance_at = b->pos;
	put_label(b, id, IRON_ID_BASE32_LEN);
	put_pointer(b, service_at);
	end_record(b, rd);

	/* One SRV per port, target "<id>-<port>.local." uncompressed as
	 * hickory writes it. */
	for (size_t p = 0; p < nports; p++) {
		char target[IRON_ID_BASE32_LEN + 7];
		int n = snprintf(target, sizeof(target), "%s-%u", id, (unsigned)ports[p]);
		put_pointer(b, instance_at);
		rd = put_record_head(b, TYPE_SRV, ttl);
		put16(b, 0); /* priority */
		put16(b, 0); /* weight */
		put16(b, ports[p]);
		targets[p] = b->pos;
		put_label(b, target, (size_t)n);
		put_label(b, "local", 5);
		put8(b, 0);
		end_record(b, rd);
	}

	/* TXT: relay= when there is one, else one empty string (DNS-SD wants
	 * a TXT record; iroh skips empty strings). */
	put_pointer(b, instance_at);
	rd = put_record_head(b, TYPE_TXT, ttl);
	size_t relay_len = strlen(node->relay);
	if (relay_len > 0 && relay_len + strlen(TXT_RELAY) <= 255) {
		put8(b, (uint8_t)(relay_len + strlen(TXT_RELAY)));
		put(b, TXT_RELAY, strlen(TXT_RELAY));
		put(b, node->relay, relay_len);
	} else {
		put8(b, 0);
	}
	end_record(b, rd);

	/* Additional: the addresses of each target. */
	for (size_t p = 0; p < nports; p++) {
		for (size_t i = 0; i < node->naddrs && i < LAN_MAX_ADDRS; i++) {
			struct netaddr addr;
			if (addr_port(node, &node->addrs[i]) != ports[p] ||
			    netaddr_canonical(&node->addrs[i].sa, &addr) != 0)
				continue;
			put_pointer(b, targets[p]);
			if (addr.sa.sa_family == AF_INET) {
				rd = put_record_head(b, TYPE_A, ttl);
				put(b, &addr.in.sin_addr, 4);
			} else {
				rd = put_record_head(b, TYPE_AAAA, ttl);
				put(b, &addr.in6.sin6_addr, 16);
			}
			end_record(b, rd);
			naddrs++;
		}
	}

	if (b->full || b->cap < HEADER_LEN)
		return -EMSGSIZE;
	bytes_put16(b->out, msg_id);
	bytes_put16(b->out + 2, FLAG_QR | FLAG_AA);
	bytes_put16(b->out + 4, question ? 1 : 0);
	bytes_put16(b->out + 6, (uint16_t)(1 + nports + 1));
	bytes_put16(b->out + 8, 0);
	bytes_put16(b->out + 10, (uint16_t)naddrs);
	return (int)b->pos;
}

int mdns_encode_announce(const struct lan_node *node, uint8_t *out, size_t cap)
{
	struct builder b = {out, cap, 0, cap < HEADER_LEN};
	return encode_records(node, NULL, 0, node->ttl, &b);
}

int mdns_encode_unicast_reply(const struct lan_node *node, const uint8_t *query, size_t qlen,
			      uint8_t *out, size_t cap)
{
	struct name question;
	struct builder b = {out, cap, 0, cap < HEADER_LEN};
	if (service_question(query, qlen, &question) != 0)
		return -EINVAL;
	uint32_t ttl = node->ttl < MDNS_LEGACY_TTL ? node->ttl : MDNS_LEGACY_TTL;
	return encode_records(node, &question, bytes_get16(query), ttl, &b);
}

int mdns_encode_query(uint8_t *out, size_t cap)
{
	struct builder b = {out, cap, 0, false};
	put16(&b, 0); /* ID */
	put16(&b, 0); /* flags */
	put16(&b, 1); /* one question */
	put16(&b, 0);
	put16(&b, 0);
	put16(&b, 0);
	for (int i = 0; i < SERVICE_LABELS; i++)
		put_label(&b, service_labels[i], strlen(service_labels[i]));
	put8(&b, 0);
	put16(&b, TYPE_PTR);
	put16(&b, CLASS_IN); /* no unicast-response bit: iroh would ignore it */
	return b.full ? -EMSGSIZE : (int)b.pos;
}
