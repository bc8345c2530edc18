/* `iron dns-server`: what iroh-dns-server does, for self-hosting. A pkarr
 * relay over HTTP/1.1 (plain, or TLS from PEM files) and an authoritative
 * DNS server (UDP and TCP) answering from the packets it stores
 * (pkarr_zone.h, pkarr_store.h). One libuv loop.
 *
 * HTTP, as iroh-dns-server (http/pkarr.rs, http.rs):
 *   PUT /pkarr/<z32 key>  body: a pkarr relay payload (signature, timestamp,
 *                         DNS packet; at most PKARR_MAX_SIGNED bytes), with
 *                         Content-Length. Checked with pkarr_verify(); 204
 *                         once stored (committed), also when the stored
 *                         packet is as recent (then not stored); 400 with a
 *                         JSON reason {"status":"400","detail":"..."} for a
 *                         bad key, signature, size or DNS packet; 411
 *                         without Content-Length; 429 over the client's
 *                         PUT rate; 503 when too many puts wait for disk.
 *   GET /pkarr/<z32 key>  200 application/x-pkarr-signed-packet with the
 *                         relay payload as stored (no public key in front:
 *                         iroh's SignedPacket::to_relay_payload()), or 404.
 *   GET /healthz          200 {"status":"ok","version":...}
 *   GET /healthcheck      200 "OK";  GET /: 200, a line of text
 *   OPTIONS               204 with CORS headers (any origin, as iroh)
 * Connections are kept alive (at most 100 requests each).
 *
 * Limits: at most max_connections HTTP and DNS-over-TCP connections (more
 * are closed at once); a request (head and body) must arrive within
 * timeout_ms of the previous answer or the connection is closed (also an
 * idle one); heads up to HTTP1_MAX_HEAD bytes; per client address (IPv6
 * by /64, IPv4 by address) a token bucket for PUTs and one for queries
 * (DNS queries and GETs); over it, PUTs get 429, UDP queries no answer,
 * TCP queries REFUSED. Memory: per connection one buffer (a head and a
 * body, or a DNS message), the client table (fixed size), the store's
 * cache and pending puts. */
#ifndef IRON_PKARR_SERVER_H
#define IRON_PKARR_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "iron/netaddr.h"
#include "iron/pkarr_store.h"
#include "iron/pkarr_zone.h"

#define PKARR_SERVER_MAX_LISTEN		 8
#define PKARR_SERVER_DEFAULT_HTTP_PORT	 8080
#define PKARR_SERVER_DEFAULT_HTTPS_PORT	 443
#define PKARR_SERVER_DEFAULT_DNS_PORT	 53
#define PKARR_SERVER_DEFAULT_CONNECTIONS 1000
#define PKARR_SERVER_DEFAULT_TIMEOUT_MS	 10000
#define PKARR_SERVER_DEFAULT_PUT_RATE	 60 /* per minute and client */
#define PKARR_SERVER_DEFAULT_PUT_BURST	 10
#define PKARR_SERVER_DEFAULT_QUERY_RATE	 500 /* per second and client */
#define PKARR_SERVER_DEFAULT_QUERY_BURST 1000
#define PKARR_SERVER_CLIENTS		 65536 /* client addresses rate-limited at once */
#define PKARR_SERVER_DNS_TCP_MAX	 4096  /* a query over TCP */
#define PKARR_SIGNED_CONTENT_TYPE	 "application/x-pkarr-signed-packet"

struct pkarr_server_config {
	struct netaddr http_listen[PKARR_SERVER_MAX_LISTEN];
	size_t nhttp;
	struct netaddr https_listen[PKARR_SERVER_MAX_LISTEN];
	size_t nhttps;
	const char *tls_cert, *tls_key; /* PEM files; needed with https_listen */
	struct netaddr dns_listen[PKARR_SERVER_MAX_LISTEN]; /* UDP and TCP each */
	size_t ndns;
	struct pkarr_zone zone;
	struct pkarr_store_config store;
	uint32_t put_rate, put_burst;	  /* per minute; 0: no limit */
	uint32_t query_rate, query_burst; /* per second; 0: no limit */
	size_t max_connections;		  /* 0: PKARR_SERVER_DEFAULT_CONNECTIONS */
	unsigned timeout_ms;		  /* 0: PKARR_SERVER_DEFAULT_TIMEOUT_MS */
};

struct pkarr_server_stats {
	size_t connections; /* open now: HTTP and DNS over TCP */
	size_t peak_connections;
	uint64_t accepted, refused_full, closed_timeout;
	uint64_t http_requests, http_bad;
	uint64_t puts_stored, puts_not_newer, puts_bad_key, puts_bad_signature, puts_bad_size,
	    puts_bad_packet, puts_rate_limited, puts_busy, puts_failed;
	uint64_t gets_found, gets_missing, gets_rate_limited;
	uint64_t dns_udp, dns_tcp; /* queries received */
	uint64_t dns_answers[6];   /* by rcode: NOERROR .. REFUSED */
	uint64_t dns_nodata, dns_truncated, dns_dropped, dns_rate_limited, dns_badvers;
	uint64_t tls_reloads;
	size_t clients_tracked;
	size_t memory; /* bytes held for connections, the client table and the cache */
	struct pkarr_store_stats store;
};

struct pkarr_server;

/* Opens the store and binds every listener. Returns 0, or a negative
 * errno with a one-line reason in err; nothing is left open then. */
int pkarr_server_start(uv_loop_t *loop, const struct pkarr_server_config *config,
		       struct pkarr_server **out, char *err, size_t err_cap);

/* Loads the certificate and key again (SIGHUP): new connections use them.
 * Returns 0, -ENOENT without TLS, or a negative errno with the reason in
 * err (the old ones stay). */
int pkarr_server_reload_tls(struct pkarr_server *server, char *err, size_t err_cap);

/* Closes listeners, connections and the store (a transaction under way
 * finishes first); freed once the loop has run. NULL ok. */
void pkarr_server_close(struct pkarr_server *server);

void pkarr_server_get_stats(const struct pkarr_server *server, struct pkarr_server_stats *out);

enum pkarr_server_kind { PKARR_SERVER_HTTP, PKARR_SERVER_HTTPS, PKARR_SERVER_DNS };

/* The bound address of the i-th listener of a kind (the real port when 0
 * was asked for; for DNS the UDP and TCP ports are the same), or NULL. */
const struct sockaddr *pkarr_server_address(const struct pkarr_server *server,
					    enum pkarr_server_kind kind, size_t i);

/* ------------------------------------------------------------ pure parts */

enum pkarr_http_method {
	PKARR_HTTP_GET,
	PKARR_HTTP_HEAD,
	PKARR_HTTP_PUT,
	PKARR_HTTP_OPTIONS,
	PKARR_HTTP_OTHER,
};

enum pkarr_http_route {
	PKARR_ROUTE_PKARR, /* /pkarr/<key> */
	PKARR_ROUTE_HEALTHZ,
	PKARR_ROUTE_HEALTHCHECK,
	PKARR_ROUTE_INDEX,
	PKARR_ROUTE_NOT_FOUND,
};

/* A request head, classified. */
struct pkarr_http_request {
	enum pkarr_http_method method;
	enum pkarr_http_route route;
	bool key_ok; /* route PKARR: the key is z-base-32 and a valid Ed25519 point */
	uint8_t key[32];
	bool has_length; /* a valid Content-Length */
	size_t content_length;
	bool chunked; /* Transfer-Encoding present */
	bool keep_alive;
	bool expect_continue;
	/* Not 0: the request is answered with this status and the connection
	 * closed (400 for a malformed or duplicate Content-Length). */
	int error_status;
	const char *error_detail;
};

/* Parses and classifies the request head at the start of buf. Returns the
 * head's length when complete, 0 when more bytes are needed, -EBADMSG for
 * malformed syntax, -E2BIG past HTTP1_MAX_HEAD (http1.h). Pure. */
ssize_t pkarr_http_parse(const char *buf, size_t len, struct pkarr_http_request *out);

#endif
