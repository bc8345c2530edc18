/* The pure request handling of iron dns-server on arbitrary bytes. The
 * first byte chooses:
 *   even: an HTTP request head for pkarr_http_parse(), which must stay
 *         within the input, and classify consistently;
 *   odd:  a DNS query for pkarr_zone_answer() over UDP (bit 1 clear) or
 *         TCP, answered from a fixed packet or, with bit 2, from bytes of
 *         the input taken as the stored DNS packet (the store checks its
 *         packets, but the answer must survive any). The reply must be a
 *         response to the query's ID within the transport's size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iron/bytes.h"
#include "iron/dns.h"
#include "iron/http1.h"
#include "iron/pkarr_server.h"
#include "iron/pkarr_zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The packet of key 01 x 32: TXT "addr=" and an A record under
 * _iroh.<z32>, built once. */
#define KEY_Z32 "yryonyebyryonyebyryonyebyryonyebyryonyebyryonyebyryo"
static uint8_t fixed[128];
static size_t fixed_len;

static void build_fixed(void)
{
	static const uint8_t head[] = {0, 0, 0x84, 0,	0,   0,	  0,   2,   0, 0,
				       0, 0, 5,	   '_', 'i', 'r', 'o', 'h', 52};
	static const uint8_t txt[] = {0, 0, 16, 0,   1,	  0,   0,   0,	30,
				      0, 6, 5,	'a', 'd', 'd', 'r', '='};
	static const uint8_t a[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4};
	size_t p = 0;
	memcpy(fixed, head, sizeof(head));
	p += sizeof(head);
	memcpy(fixed + p, KEY_Z32, 52);
	p += 52;
	memcpy(fixed + p, txt, sizeof(txt));
	p += sizeof(txt);
	memcpy(fixed + p, a, sizeof(a));
	fixed_len = p + sizeof(a);
}

struct source {
	const uint8_t *dns;
	size_t len;
};

static int lookup(void *ctx, const uint8_t key[32], const uint8_t **dns, size_t *len)
{
	struct source *src = ctx;
	(void)key;
	if (key[0] == 0xff)
		return -EIO;
	*dns = src->dns;
	*len = src->len;
	return 0;
}

static void fuzz_http(const uint8_t *data, size_t size)
{
	struct pkarr_http_request req;
	ssize_t n = pkarr_http_parse((const char *)data, size, &req);
	if (n > (ssize_t)size || (n < 0 && n != -EBADMSG && n != -E2BIG))
		abort();
	if (n <= 0)
		return;
	if (req.key_ok && req.route != PKARR_ROUTE_PKARR)
		abort();
	if (req.has_length && req.content_length > 999999999)
		abort();
	if (req.error_status && (req.error_status != 400 || !req.error_detail))
		abort();
}

static void fuzz_dns(const uint8_t *data, size_t size, uint8_t mode)
{
	static struct pkarr_zone zone;
	static int ready;
	static uint8_t out[65536];
	struct pkarr_zone_info info;
	struct source src;
	bool tcp = mode & 2;

	if (!ready) {
		const char *origins[] = {"dns.iroh.link", "link"};
		char err[128];
		if (pkarr_zone_init(&zone, origins, 2, NULL, 0, NULL, 1, err, sizeof(err)) != 0)
			abort();
		build_fixed();
		ready = 1;
	}
	src.dns = fixed;
	src.len = fixed_len;
	if ((mode & 4) && size >= 2) {
		/* The first two bytes say where the query ends. */
		size_t split = bytes_get16(data) % size;
		src.dns = data + split;
		src.len = size - split;
		data += 2;
		size = split >= 2 ? split - 2 : 0;
	}
	ssize_t n =
	    pkarr_zone_answer(&zone, data, size, tcp, lookup, &src, out, sizeof(out), &info);
	if (n < 0)
		abort();
	if (n == 0) {
		if (info.reply || (size >= 3 && !(data[2] & 0x80)))
			abort();
		return;
	}
	if (!info.reply || n < DNS_HEADER_LEN || (!tcp && n > DNS_EDNS_UDP_SIZE) ||
	    (!tcp && !info.edns && n > DNS_UDP_PLAIN_MAX) || !(out[2] & 0x80) ||
	    memcmp(out, data, 2) != 0)
		abort();
	if (info.answers && (info.rcode != DNS_RCODE_NOERROR || !info.in_zone))
		abort();
	/* A reply with a question has ours: it parses as a response to it. */
	if (bytes_get16(out + 4) == 1 && !dns_reply_matches(data, size, out, (size_t)n) &&
	    info.rcode != DNS_RCODE_FORMERR)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		fuzz_dns(data + 1, size - 1, data[0]);
	else
		fuzz_http(data + 1, size - 1);
	return 0;
}
