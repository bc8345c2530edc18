/* The .iron DNS responder as a pure function (SPEC section 5): query bytes
 * in, answer bytes out, no I/O and no state. dns_server.c puts sockets
 * around it; the router uses it through dns_server for in-tunnel queries.
 *
 * Choices where the SPEC leaves room (each is also commented in dns.c):
 * - A message with QR set (a response) gets no reply: answering replies lets
 *   two responders bounce FORMERRs at each other forever.
 * - QTYPE ANY for a valid ID is answered with the AAAA record.
 * - QCLASS other than IN or ANY is REFUSED.
 * - The apex "iron." answers SOA queries with its SOA record; every other
 *   type at the apex is NXDOMAIN, as the SPEC table says for AAAA.
 * - A query whose OPT record says EDNS version > 0 gets BADVERS (RFC 6891).
 * - The owner name of the AAAA record is a compression pointer to the
 *   question, which is echoed byte for byte (case preserved). */
#ifndef IRON_DNS_H
#define IRON_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "iron/id.h"

#define DNS_HEADER_LEN 12
/* Largest UDP reply without EDNS (RFC 1035). */
#define DNS_UDP_PLAIN_MAX 512
/* The UDP payload size we advertise and accept at most (DNS flag day 2020). */
#define DNS_EDNS_UDP_SIZE 1232
/* Largest message on TCP (the 2-byte length prefix). */
#define DNS_TCP_MAX 65535
/* TTL of AAAA answers and of the SOA (also its negative-caching TTL). */
#define DNS_TTL 300

#define DNS_TYPE_A    1
#define DNS_TYPE_NS   2
#define DNS_TYPE_SOA  6
#define DNS_TYPE_TXT  16
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_OPT  41
#define DNS_TYPE_ANY  255

#define DNS_CLASS_IN  1
#define DNS_CLASS_CH  3
#define DNS_CLASS_ANY 255

/* Response codes; BADVERS is an extended code (12 bits, RFC 6891). */
enum dns_rcode {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
	DNS_RCODE_BADVERS = 16,
};

/* What the caller should do with a query. */
enum dns_action {
	DNS_ACTION_DROP,    /* send nothing */
	DNS_ACTION_REPLY,   /* send the bytes written to out */
	DNS_ACTION_FORWARD, /* a name outside .iron: send the query upstream */
};

struct dns_answer_opts {
	/* The query came over TCP: replies may be up to DNS_TCP_MAX bytes. */
	bool tcp;
	/* Upstream servers are configured: names outside .iron are to be
	 * forwarded (DNS_ACTION_FORWARD) instead of REFUSED. */
	bool has_upstream;
	/* For UDP, a lower limit than the protocol's (512 without EDNS, the
	 * client's size capped at DNS_EDNS_UDP_SIZE with it); 0 for none. */
	size_t max_udp;
};

struct dns_answer_info {
	enum dns_action action;
	/* The rcode of the reply, extended (so BADVERS is 16); meaningful for
	 * DNS_ACTION_REPLY. */
	int rcode;
	/* The query's ID (when the query had at least 2 bytes). */
	uint16_t query_id;
	/* QTYPE of the question, 0 when there was no readable question. */
	uint16_t qtype;
	/* The reply did not fit and was truncated (TC set, records dropped). */
	bool truncated;
	/* The query had an OPT record. */
	bool edns;
	/* The question named a valid node ID under .iron; id holds it. Set for
	 * every type, so check rcode and qtype before registering it. */
	bool has_id;
	struct iron_id id;
	/* An AAAA (or ANY) answer carrying the address of id was written:
	 * the caller should register id. */
	bool answered_id;
};

/* Answers one DNS query. query/len: the message as received (without the
 * TCP length prefix). out/out_cap: where the reply goes; the reply is also
 * limited by the transport (opts) and truncated with TC set when it does not
 * fit. opts may be NULL (UDP, no upstream). info is always filled.
 *
 * Returns the reply length (> 0) with info->action == DNS_ACTION_REPLY;
 * 0 with DNS_ACTION_DROP (nothing to send: shorter than 2 bytes, or a
 * response) or DNS_ACTION_FORWARD; -ENOSPC when out_cap < DNS_HEADER_LEN. */
ssize_t dns_answer(const uint8_t *query, size_t len, uint8_t *out, size_t out_cap,
		   const struct dns_answer_opts *opts, struct dns_answer_info *info);

/* Builds an error reply (e.g. SERVFAIL when every upstream failed) to a
 * query: the header and question of the query, the rcode, an OPT record when
 * the query had one. Returns the reply length, or -EINVAL when the query has
 * no decodable header and question, -ENOSPC when out_cap is too small. */
ssize_t dns_error_reply(const uint8_t *query, size_t len, int rcode, uint8_t *out, size_t out_cap,
			const struct dns_answer_opts *opts);

/* True when reply is a response to query: at least a header, QR set, same
 * ID and opcode, and, when the reply has a question, the same question (name
 * compared case-insensitively, type and class). A reply without a question
 * is accepted only with a non-zero rcode (servers answer FORMERR that way).
 * Both messages are untrusted bytes. */
bool dns_reply_matches(const uint8_t *query, size_t query_len, const uint8_t *reply,
		       size_t reply_len);

/* The message's ID (the first two bytes); len must be >= 2. */
uint16_t dns_get_id(const uint8_t *msg);
/* Overwrites the message's ID; len must be >= 2. */
void dns_set_id(uint8_t *msg, uint16_t id);

/* The mnemonic of an rcode ("NOERROR", "NXDOMAIN", ...), or "UNKNOWN". */
const char *dns_rcode_name(int rcode);

#endif
