/* pkarr signed packets and iroh's address records (pkarr.h), checked
 * against iroh 1.0.2 (iroh-dns/src/pkarr.rs, endpoint_info.rs, attrs.rs):
 *
 * - the DNS packet is what simple-dns builds for Packet::new_reply(0):
 *   ID 0, flags 0x8000 (QR only), no question, the answers; names are
 *   compressed (build_bytes_vec_compressed), so every record after the
 *   first names its owner with a pointer to offset 12;
 * - records come in iroh's order (a BTreeMap keyed relay < addr <
 *   user-data), relay first, then one "addr=" record per address;
 * - the relay URL is written as the url crate prints it: "http://h:p"
 *   gets its root path, "http://h:p/".
 *
 * Every byte of a packet is untrusted: reads are bounds-checked, names are
 * decompressed into 255 bytes, and compression pointers must point
 * strictly before every position already visited, so they can neither
 * loop nor point forward. */
#include "iron/pkarr.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "iron/bytes.h"
#include "iron/encoding.h"

#define DNS_HEADER	  12
#define DNS_FLAG_RESPONSE 0x8000
#define DNS_TYPE_TXT	  16
#define DNS_CLASS_IN	  1
#define NAME_MAX_WIRE	  255
#define POINTER_HOPS_MAX  127
#define TXT_STRING_MAX	  255
#define IROH_LABEL	  "_iroh"
#define Z32_LEN		  52
#define SIG_LEN		  64
/* "3:seqi" <20 digits> "e1:v" <4 digits> ":" */
#define SIGNABLE_PREFIX_MAX 40
/* A relay URL must fit one TXT string after "relay=". */
#define RELAY_VALUE_MAX (TXT_STRING_MAX - 6)

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
	*value = bytes_get16(r->msg + r->pos);
	r->pos += 2;
	return 0;
}

static int reader_u32(struct reader *r, uint32_t *value)
{
	if (r->len - r->pos < 4)
		return -EBADMSG;
	*value = bytes_get32(r->msg + r->pos);
	r->pos += 4;
	return 0;
}

/* Reads the (possibly compressed) name at r->pos into name as uncompressed
 * wire format and moves r->pos past it. *name_len gets the wire length
 * including the root label. Returns 0 or -EBADMSG. */
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
			if (target >= lowest || target < DNS_HEADER || ++hops > POINTER_HOPS_MAX)
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

/* The label at name[*at] equals text (ASCII, case-insensitive); moves *at
 * past it. */
static bool take_label(const uint8_t *name, size_t *at, const char *text, size_t len)
{
	if (name[*at] != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (ascii_lower(name[*at + 1 + i]) != (uint8_t)text[i])
			return false;
	*at += 1 + len;
	return true;
}

/* One resource record, its owner name decompressed. */
struct rr {
	uint8_t name[NAME_MAX_WIRE];
	size_t name_len;
	uint16_t type, class_;
	uint32_t ttl;
	const uint8_t *rdata;
	size_t rdlen;
};

static int read_rr(struct reader *r, struct rr *rr)
{
	uint16_t rdlen;
	if (read_name(r, rr->name, &rr->name_len) != 0 || reader_u16(r, &rr->type) != 0 ||
	    reader_u16(r, &rr->class_) != 0 || reader_u32(r, &rr->ttl) != 0 ||
	    reader_u16(r, &rdlen) != 0 || r->len - r->pos < rdlen)
		return -EBADMSG;
	rr->rdata = r->msg + r->pos;
	rr->rdlen = rdlen;
	r->pos += rdlen;
	return 0;
}

typedef int rr_fn(void *ctx, const struct rr *rr);

/* Walks a whole DNS message: the header, the questions, then every record
 * of the three record sections, calling fn (when not NULL) for each answer.
 * Bytes after the last record are allowed, as simple-dns and dns-packet
 * allow them. Returns 0, -EBADMSG, or what fn returned when not 0. */
static int walk_message(const uint8_t *msg, size_t len, rr_fn *fn, void *ctx)
{
	struct reader r = {msg, len, DNS_HEADER};
	uint8_t name[NAME_MAX_WIRE];
	size_t name_len;
	struct rr rr;

	if (len < DNS_HEADER)
		return -EBADMSG;
	unsigned qd = bytes_get16(msg + 4), an = bytes_get16(msg + 6);
	unsigned rest = (unsigned)bytes_get16(msg + 8) + bytes_get16(msg + 10);
	for (unsigned i = 0; i < qd; i++)
		if (read_name(&r, name, &name_len) != 0 || len - r.pos < 4)
			return -EBADMSG;
		else
			r.pos += 4;
	for (unsigned i = 0; i < an + rest; i++) {
		if (read_rr(&r, &rr) != 0)
			return -EBADMSG;
		if (fn && i < an) {
			int rc = fn(ctx, &rr);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- encoding */

/* url with the root path added when it has none, as the url crate prints
 * an http(s) URL: "http://h:p" -> "http://h:p/", "http://h?q" ->
 * "http://h/?q". Returns the length written (out holds PKARR_URL_MAX), or
 * -EINVAL when it does not fit or is not a URL made of printable ASCII. */
static int relay_normalize(const char *url, size_t len, char out[PKARR_URL_MAX])
{
	if (len == 0 || len >= PKARR_URL_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (url[i] <= 0x20 || url[i] >= 0x7f)
			return -EINVAL;
	const char *sep = memchr(url, ':', len);
	if (!sep || sep == url || (size_t)(url + len - sep) < 4 || memcmp(sep, "://", 3) != 0)
		return -EINVAL;
	size_t authority = (size_t)(sep - url) + 3, end = authority;
	while (end < len && url[end] != '/' && url[end] != '?' && url[end] != '#')
		end++;
	if (end == authority)
		return -EINVAL; /* no host */
	bool add_slash = end == len || url[end] != '/';
	if (len + add_slash >= PKARR_URL_MAX)
		return -EINVAL;
	memcpy(out, url, end);
	size_t n = end;
	if (add_slash)
		out[n++] = '/';
	memcpy(out + n, url + end, len - end);
	n += len - end;
	out[n] = '\0';
	return (int)n;
}

/* Appends one TXT record named by the packet's first owner name. */
static int put_txt(uint8_t *out, size_t limit, size_t *pos, bool first, const char *z32,
		   uint32_t ttl, const char *key, const char *value, size_t value_len)
{
	size_t klen = strlen(key), slen = klen + value_len;
	size_t name_len = first ? 1 + 5 + 1 + Z32_LEN + 1 : 2;
	if (slen > TXT_STRING_MAX)
		return -EMSGSIZE;
	if (limit - *pos < name_len + 10 + 1 + slen)
		return -EMSGSIZE;
	uint8_t *p = out + *pos;
	if (first) {
		*p++ = 5;
		memcpy(p, IROH_LABEL, 5);
		p += 5;
		*p++ = Z32_LEN;
		memcpy(p, z32, Z32_LEN);
		p += Z32_LEN;
		*p++ = 0;
	} else {
		bytes_put16(p, 0xc000 | DNS_HEADER);
		p += 2;
	}
	bytes_put16(p, DNS_TYPE_TXT);
	bytes_put16(p + 2, DNS_CLASS_IN);
	bytes_put32(p + 4, ttl);
	bytes_put16(p + 8, (uint16_t)(1 + slen));
	p[10] = (uint8_t)slen;
	p += 11;
	memcpy(p, key, klen);
	memcpy(p + klen, value, value_len);
	*pos += name_len + 10 + 1 + slen;
	return 0;
}

int pkarr_encode_dns(const struct iron_id *id, const struct pkarr_record *rec, uint8_t *out,
		     size_t cap)
{
	char z32[Z32_LEN + 1];
	size_t limit = cap < PKARR_MAX_DNS ? cap : PKARR_MAX_DNS, pos = DNS_HEADER;
	uint32_t ttl = rec->ttl ? rec->ttl : PKARR_TTL;
	unsigned count = 0;
	int rc;

	if (rec->naddrs > PKARR_MAX_ADDRS)
		return -EINVAL;
	if (limit < DNS_HEADER)
		return -EMSGSIZE;
	encoding_zbase32_encode(id->bytes, IRON_ID_LEN, z32, sizeof(z32));
	memset(out, 0, DNS_HEADER);
	bytes_put16(out + 2, DNS_FLAG_RESPONSE);

	size_t relay_len = strnlen(rec->relay, PKARR_URL_MAX);
	if (relay_len > 0) {
		char relay[PKARR_URL_MAX];
		int n = relay_normalize(rec->relay, relay_len, relay);
		if (n < 0)
			return n;
		rc = put_txt(out, limit, &pos, count == 0, z32, ttl, "relay=", relay, (size_t)n);
		if (rc != 0)
			return rc;
		count++;
	}
	for (size_t i = 0; i < rec->naddrs; i++) {
		char text[NETADDR_STR_SIZE];
		const struct sockaddr *sa = &rec->addrs[i].sa;
		if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
			return -EINVAL;
		netaddr_format(sa, text, sizeof(text));
		rc = put_txt(out, limit, &pos, count == 0, z32, ttl, "addr=", text, strlen(text));
		if (rc != 0)
			return rc;
		count++;
	}
	bytes_put16(out + 6, (uint16_t)count);
	return (int)pos;
}

/* "3:seqi<ts>e1:v<len>:", BEP 44's signed bytes before the value. */
static size_t signable_prefix(uint64_t ts_us, size_t len, char out[SIGNABLE_PREFIX_MAX])
{
	int n = snprintf(out, SIGNABLE_PREFIX_MAX, "3:seqi%" PRIu64 "e1:v%zu:", ts_us, len);
	return (size_t)n;
}

int pkarr_sign(const struct iron_identity *identity, uint64_t ts_us, const uint8_t *dns, size_t len,
	       uint8_t *out, size_t cap)
{
	uint8_t message[SIGNABLE_PREFIX_MAX + PKARR_MAX_DNS];
	uint8_t signature[SIG_LEN];

	if (len > PKARR_MAX_DNS || cap < PKARR_HEAD + len)
		return -EMSGSIZE;
	size_t prefix = signable_prefix(ts_us, len, (char *)message);
	memcpy(message + prefix, dns, len);
	crypto_sign_detached(signature, NULL, message, prefix + len, identity->secret);
	memmove(out + PKARR_HEAD, dns, len); /* dns may lie in out */
	memcpy(out, signature, SIG_LEN);
	for (int i = 0; i < 8; i++)
		out[SIG_LEN + i] = (uint8_t)(ts_us >> (56 - 8 * i));
	return (int)(PKARR_HEAD + len);
}

int pkarr_verify(const struct iron_id *key, const uint8_t *signed_packet, size_t len,
		 uint64_t *ts_us, const uint8_t **dns, size_t *dns_len)
{
	uint8_t message[SIGNABLE_PREFIX_MAX + PKARR_MAX_DNS];

	if (len < PKARR_HEAD || len > PKARR_MAX_SIGNED)
		return -EMSGSIZE;
	uint64_t ts = 0;
	for (int i = 0; i < 8; i++)
		ts = ts << 8 | signed_packet[SIG_LEN + i];
	const uint8_t *body = signed_packet + PKARR_HEAD;
	size_t body_len = len - PKARR_HEAD;
	size_t prefix = signable_prefix(ts, body_len, (char *)message);
	memcpy(message + prefix, body, body_len);
	if (crypto_sign_verify_detached(signed_packet, message, prefix + body_len, key->bytes) != 0)
		return -EKEYREJECTED;
	if (walk_message(body, body_len, NULL, NULL) != 0)
		return -EBADMSG;
	*ts_us = ts;
	*dns = body;
	*dns_len = body_len;
	return 0;
}

/* -------------------------------------------------------------- parsing */

static void take_ttl(struct pkarr_record *out, uint32_t ttl)
{
	if (out->ttl == 0 || ttl < out->ttl)
		out->ttl = ttl;
}

/* "1.2.3.4:5", "[v6]:5" or "[v6%scope]:5" (a numeric scope, as Rust's
 * SocketAddr prints and parses it), in canonical form (a v4-mapped
 * address as IPv4, as netaddr_format() prints it). Returns 0 or -EINVAL. */
static int parse_addr(const char *text, size_t len, struct netaddr *out)
{
	char plain[NETADDR_STR_SIZE];
	unsigned long scope = 0;

	if (len >= sizeof(plain))
		return -EINVAL;
	const char *pct = memchr(text, '%', len);
	if (pct) {
		const char *close = memchr(text, ']', len);
		const char *p = pct + 1;
		if (text[0] != '[' || !close || close < pct || p == close)
			return -EINVAL;
		for (; p < close; p++) {
			if (*p < '0' || *p > '9' || scope > 0xffffffffUL / 10)
				return -EINVAL;
			scope = scope * 10 + (unsigned long)(*p - '0');
		}
		if (scope > 0xffffffffUL)
			return -EINVAL;
		size_t head = (size_t)(pct - text);
		memcpy(plain, text, head);
		memcpy(plain + head, close, (size_t)(text + len - close));
		plain[head + (size_t)(text + len - close)] = '\0';
	} else {
		memcpy(plain, text, len);
		plain[len] = '\0';
	}
	if (netaddr_parse(plain, out) != 0 || netaddr_port(&out->sa) == 0)
		return -EINVAL;
	if (pct) {
		if (out->sa.sa_family != AF_INET6)
			return -EINVAL;
		out->in6.sin6_scope_id = (uint32_t)scope;
	}
	struct netaddr canonical;
	if (netaddr_canonical(&out->sa, &canonical) != 0)
		return -EINVAL;
	*out = canonical;
	return 0;
}

int pkarr_parse_txt(const char *txt, size_t len, uint32_t ttl, struct pkarr_record *out)
{
	if (memchr(txt, '\0', len))
		return -EINVAL;
	const char *eq = memchr(txt, '=', len);
	if (!eq)
		return -EINVAL;
	size_t klen = (size_t)(eq - txt), vlen = len - klen - 1;
	const char *value = eq + 1;

	if (klen == 5 && memcmp(txt, "relay", 5) == 0) {
		char relay[PKARR_URL_MAX];
		if (vlen > RELAY_VALUE_MAX || out->relay[0] != '\0')
			return -EINVAL;
		int n = relay_normalize(value, vlen, relay);
		if (n < 0 || (size_t)n > RELAY_VALUE_MAX)
			return -EINVAL;
		memcpy(out->relay, relay, (size_t)n + 1);
		take_ttl(out, ttl);
		return 0;
	}
	if (klen == 4 && memcmp(txt, "addr", 4) == 0) {
		struct netaddr addr;
		if (parse_addr(value, vlen, &addr) != 0)
			return -EINVAL;
		for (size_t i = 0; i < out->naddrs; i++)
			if (netaddr_equal(&out->addrs[i].sa, &addr.sa)) {
				take_ttl(out, ttl);
				return 0;
			}
		if (out->naddrs == PKARR_MAX_ADDRS)
			return -EINVAL;
		out->addrs[out->naddrs++] = addr;
		take_ttl(out, ttl);
		return 0;
	}
	return -EINVAL; /* user-data= and keys iroh does not know */
}

struct parse_ctx {
	const char *z32;
	struct pkarr_record *out;
};

static int parse_rr(void *ctx, const struct rr *rr)
{
	struct parse_ctx *c = ctx;
	char text[1024];
	size_t at = 0, n = 0;

	if (rr->type != DNS_TYPE_TXT || !take_label(rr->name, &at, IROH_LABEL, 5) ||
	    !take_label(rr->name, &at, c->z32, Z32_LEN))
		return 0;
	/* The character-strings joined, as iroh reads a TXT record. */
	for (size_t p = 0; p < rr->rdlen;) {
		size_t slen = rr->rdata[p];
		if (rr->rdlen - p - 1 < slen)
			return -EBADMSG;
		if (n + slen <= sizeof(text))
			memcpy(text + n, rr->rdata + p + 1, slen);
		n += slen;
		p += 1 + slen;
	}
	if (n <= sizeof(text))
		pkarr_parse_txt(text, n, rr->ttl, c->out);
	return 0;
}

int pkarr_parse_dns(const struct iron_id *id, const uint8_t *dns, size_t len,
		    struct pkarr_record *out)
{
	char z32[Z32_LEN + 1];
	struct parse_ctx ctx = {z32, out};

	memset(out, 0, sizeof(*out));
	encoding_zbase32_encode(id->bytes, IRON_ID_LEN, z32, sizeof(z32));
	int rc = walk_message(dns, len, parse_rr, &ctx);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return -EBADMSG;
	}
	return 0;
}

struct foreach_ctx {
	void (*fn)(void *ctx, const char *name, uint16_t type, uint16_t class_, uint32_t ttl,
		   const uint8_t *rdata, size_t rdlen);
	void *ctx;
};

static int foreach_rr(void *ctx, const struct rr *rr)
{
	struct foreach_ctx *c = ctx;
	char text[NAME_MAX_WIRE];
	size_t n = 0;

	for (size_t p = 0; rr->name[p] != 0; p += 1 + (size_t)rr->name[p]) {
		if (n > 0)
			text[n++] = '.';
		for (size_t i = 0; i < rr->name[p]; i++) {
			uint8_t ch = rr->name[p + 1 + i];
			if (ch <= 0x20 || ch >= 0x7f || ch == '.')
				return 0; /* not writable as dotted text: skipped */
			text[n++] = (char)ch;
		}
	}
	text[n] = '\0';
	c->fn(c->ctx, text, rr->type, rr->class_, rr->ttl, rr->rdata, rr->rdlen);
	return 0;
}

int pkarr_foreach_rr(const uint8_t *dns, size_t len,
		     void (*fn)(void *ctx, const char *name, uint16_t type, uint16_t class_,
				uint32_t ttl, const uint8_t *rdata, size_t rdlen),
		     void *ctx)
{
	struct foreach_ctx c = {fn, ctx};
	return walk_message(dns, len, foreach_rr, &c) == 0 ? 0 : -EBADMSG;
}
