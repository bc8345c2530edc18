#define LOG_MODULE "relay"
#include "iron/relay_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "iron/encoding.h"
#include "iron/http1.h"
#include "iron/log.h"
#include "iron/netaddr.h"
#include "iron/relay_proto.h"
#include "iron/stream.h"
#include "iron/version.h"
#include "iron/websocket.h"

#define CONNECT_TIMEOUT_MS 10000
#define PING_INTERVAL_MS   15000
#define PONG_TIMEOUT_MS	   5000
#define BACKOFF_MIN_MS	   10
#define BACKOFF_MAX_MS	   16000
#define QUEUE_LIMIT	   (2u << 20)
/* A whole frame: WebSocket head, datagram head, packets. */
#define FRAME_MAX (WS_MAX_HEAD + RELAY_DATAGRAM_HEAD_MAX + RELAY_MAX_PACKET)

enum relay_client_state {
	RC_WAITING,    /* for the backoff timer */
	RC_RESOLVING,  /* the relay's host name */
	RC_CONNECTING, /* TCP, and TLS */
	RC_UPGRADING,  /* the HTTP request sent, waiting for 101 */
	RC_AUTHENTICATING,
	RC_CONNECTED,
	RC_CLOSED, /* deleted: waiting for libuv */
};

struct relay_client {
	uv_loop_t *loop;
	struct resolver *resolver;
	const struct iron_identity *identity;
	struct relay_url url;
	struct relay_client_callbacks cb;
	enum relay_client_state state;

	struct resolver_query *query;
	struct netaddr addrs[4];
	size_t naddrs, next_addr;
	struct stream *stream;
	uv_timer_t retry_timer; /* backoff, and the connect deadline */
	uv_timer_t ping_timer;
	int open_handles;
	unsigned backoff_ms;
	unsigned failed_attempts; /* since the last connection */

	char ws_key[32];
	char head[HTTP1_MAX_HEAD];
	size_t head_len;
	struct ws_reader reader;
	const char *protocol;

	uint8_t ping_data[RELAY_PING_LEN];
	uint64_t ping_sent_ns; /* 0: none outstanding */

	/* The batch being built: datagrams for one peer, one size. */
	uint8_t *frame;			    /* FRAME_MAX bytes while connected: datagram frames */
	uint8_t control[WS_MAX_HEAD + 256]; /* every other frame */
	uint8_t batch_dst[RELAY_KEY_LEN];
	size_t batch_len;   /* packet bytes in the batch */
	size_t batch_count; /* packets */
	size_t batch_segment;

	struct relay_client_info info;
	char last_error[400];
};

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* --- URLs ---------------------------------------------------------------- */

int relay_url_parse(const char *text, struct relay_url *out, char *err, size_t err_cap)
{
	memset(out, 0, sizeof(*out));
	size_t n = strlen(text);
	if (n == 0 || n >= RELAY_URL_MAX) {
		snprintf(err, err_cap, "relay URL must be 1 to %d characters", RELAY_URL_MAX - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c <= 0x20 || c >= 0x7f) {
			snprintf(err, err_cap, "relay URL has a space or control character");
			return -EINVAL;
		}
	}
	const char *p;
	if (strncasecmp(text, "https://", 8) == 0) {
		out->tls = true;
		out->port = 443;
		p = text + 8;
	} else if (strncasecmp(text, "http://", 7) == 0) {
		out->port = 80;
		p = text + 7;
	} else {
		snprintf(err, err_cap, "relay URL must start with https:// or http://: %s", text);
		return -EINVAL;
	}
	size_t auth_len = strcspn(p, "/?#");
	if (memchr(p, '@', auth_len)) {
		snprintf(err, err_cap, "relay URL must not hold a user name: %s", text);
		return -EINVAL;
	}
	const char *host = p, *host_end;
	const char *port = NULL;
	if (*p == '[') {
		host = p + 1;
		host_end = memchr(host, ']', auth_len - 1);
		if (!host_end) {
			snprintf(err, err_cap, "relay URL: unclosed [ in the host: %s", text);
			return -EINVAL;
		}
		if (host_end + 1 < p + auth_len) {
			if (host_end[1] != ':') {
				snprintf(err, err_cap, "relay URL: junk after ]: %s", text);
				return -EINVAL;
			}
			port = host_end + 2;
		}
	} else {
		host_end = memchr(p, ':', auth_len);
		if (host_end)
			port = host_end + 1;
		else
			host_end = p + auth_len;
	}
	size_t host_len = (size_t)(host_end - host);
	if (host_len > 0 && host[host_len - 1] == '.' && *p != '[')
		host_len--; /* a fully qualified name: same host */
	if (host_len == 0 || host_len >= RELAY_HOST_MAX) {
		snprintf(err, err_cap, "relay URL has no host: %s", text);
		return -EINVAL;
	}
	memcpy(out->host, host, host_len);
	for (size_t i = 0; i < host_len; i++) {
		char c = out->host[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
			  (*p == '[' && (c == ':' || c == '%'));
		if (!ok) {
			snprintf(err, err_cap, "relay URL: bad character in the host: %s", text);
			return -EINVAL;
		}
	}
	if (*p == '[') {
		struct netaddr check;
		if (netaddr_parse_host(out->host, 0, &check) < 0 ||
		    check.sa.sa_family != AF_INET6) {
			snprintf(err, err_cap, "relay URL: not an IPv6 address in [ ]: %s", text);
			return -EINVAL;
		}
	}
	if (port) {
		const char *end = p + auth_len;
		unsigned long v = 0;
		if (port == end) {
			snprintf(err, err_cap, "relay URL: empty port: %s", text);
			return -EINVAL;
		}
		for (const char *q = port; q < end; q++) {
			if (*q < '0' || *q > '9' || v > 65535) {
				snprintf(err, err_cap, "relay URL: bad port: %s", text);
				return -EINVAL;
			}
			v = v * 10 + (unsigned long)(*q - '0');
		}
		if (v == 0 || v > 65535) {
			snprintf(err, err_cap, "relay URL: port must be 1 to 65535: %s", text);
			return -EINVAL;
		}
		out->port = (uint16_t)v;
	}
	memcpy(out->text, text, n + 1);
	return 0;
}

bool relay_url_same(const struct relay_url *a, const struct relay_url *b)
{
	return a->tls == b->tls && a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

/* --- the connection ------------------------------------------------------ */

static void schedule_retry(struct relay_client *rc);

static void set_error(struct relay_client *rc, const char *why)
{
	snprintf(rc->last_error, sizeof(rc->last_error), "%s", why);
	rc->info.last_error = rc->last_error;
}

/* Lets go of the lookup, the stream and their buffers. */
static void drop_connection(struct relay_client *rc)
{
	if (rc->query)
		resolver_cancel(rc->query);
	rc->query = NULL;
	stream_close(rc->stream);
	rc->stream = NULL;
	ws_reader_free(&rc->reader);
	free(rc->frame);
	rc->frame = NULL;
	rc->batch_count = 0;
	rc->batch_len = 0;
}

/* Ends the current attempt or connection and schedules the next one. */
static void fail(struct relay_client *rc, const char *why)
{
	bool was_connected = rc->state == RC_CONNECTED;
	set_error(rc, why);
	rc->info.failures++;
	if (was_connected)
		log_info("lost relay %s: %s", rc->url.text, why);
	else if (rc->failed_attempts++ == 0)
		log_warn("cannot reach relay %s: %s (trying again)", rc->url.text, why);
	else
		log_debug("relay %s: %s", rc->url.text, why);
	drop_connection(rc);
	rc->ping_sent_ns = 0;
	rc->protocol = NULL;
	rc->info.connected = false;
	rc->info.protocol = NULL;
	uv_timer_stop(&rc->ping_timer);
	rc->state = RC_WAITING;
	schedule_retry(rc);
	if (was_connected && rc->cb.state)
		rc->cb.state(rc->cb.user, rc, false);
}

/* Writes a masked WebSocket message of the given opcode. Its payload
 * starts at buf + WS_MAX_HEAD (and is masked in place); the head goes right
 * before it. */
static int send_message(struct relay_client *rc, uint8_t opcode, uint8_t *buf, size_t len)
{
	if (!rc->stream)
		return -ENOTCONN;
	uint8_t mask[4];
	randombytes_buf(mask, sizeof(mask));
	uint8_t head[WS_MAX_HEAD];
	size_t hl = ws_write_head(head, opcode, true, len, mask);
	uint8_t *payload = buf + WS_MAX_HEAD;
	ws_mask(payload, len, mask, 0);
	memcpy(payload - hl, head, hl);
	return stream_write(rc->stream, payload - hl, hl + len);
}

static int send_control(struct relay_client *rc, const struct relay_frame *frame)
{
	ssize_t n =
	    relay_frame_encode(frame, rc->control + WS_MAX_HEAD, sizeof(rc->control) - WS_MAX_HEAD);
	if (n < 0)
		return (int)n;
	return send_message(rc, WS_BINARY, rc->control, (size_t)n);
}

static void send_ping(struct relay_client *rc)
{
	struct relay_frame f = {.type = RELAY_PING};
	randombytes_buf(rc->ping_data, sizeof(rc->ping_data));
	memcpy(f.ping, rc->ping_data, sizeof(f.ping));
	if (send_control(rc, &f) == 0)
		rc->ping_sent_ns = now_ns();
}

static void on_ping_timer(uv_timer_t *timer)
{
	struct relay_client *rc = timer->data;
	if (rc->state != RC_CONNECTED)
		return;
	if (rc->ping_sent_ns) {
		fail(rc, "no Pong within 5 s");
		return;
	}
	send_ping(rc);
	uv_timer_start(&rc->ping_timer, on_ping_timer, PONG_TIMEOUT_MS, 0);
}

static void connected(struct relay_client *rc)
{
	rc->state = RC_CONNECTED;
	rc->backoff_ms = 0;
	rc->info.connected = true;
	rc->info.connects++;
	rc->info.connected_since_ns = now_ns();
	rc->info.protocol = rc->protocol;
	rc->info.last_error = NULL;
	uv_timer_stop(&rc->retry_timer);
	if (rc->failed_attempts > 0)
		log_info("connected to relay %s (%s) after %u failed attempts", rc->url.text,
			 rc->protocol, rc->failed_attempts);
	else
		log_info("connected to relay %s (%s)", rc->url.text, rc->protocol);
	rc->failed_attempts = 0;
	/* A first Ping at once measures the round trip (the home relay is
	 * the nearest). */
	send_ping(rc);
	uv_timer_start(&rc->ping_timer, on_ping_timer, PONG_TIMEOUT_MS, 0);
	if (rc->cb.state)
		rc->cb.state(rc->cb.user, rc, true);
}

/* One relay frame from the server. Returns false when the client failed. */
static bool handle_frame(struct relay_client *rc, const uint8_t *msg, size_t len)
{
	struct relay_frame f;
	int err = relay_frame_decode(msg, len, &f);
	if (err == -ENOTSUP)
		return true; /* newer than us */
	if (err < 0) {
		fail(rc, "malformed frame from the relay");
		return false;
	}
	if (rc->state == RC_AUTHENTICATING) {
		switch (f.type) {
		case RELAY_SERVER_CHALLENGE: {
			struct relay_frame auth = {.type = RELAY_CLIENT_AUTH};
			memcpy(auth.key, rc->identity->id.bytes, RELAY_KEY_LEN);
			relay_sign_challenge(rc->identity->secret, f.challenge, auth.signature);
			if (send_control(rc, &auth) < 0) {
				fail(rc, "cannot send the authentication");
				return false;
			}
			return true;
		}
		case RELAY_SERVER_CONFIRMS_AUTH:
			connected(rc);
			return true;
		case RELAY_SERVER_DENIES_AUTH: {
			char reason[128];
			size_t n =
			    f.data_len < sizeof(reason) - 1 ? f.data_len : sizeof(reason) - 1;
			for (size_t i = 0; i < n; i++)
				reason[i] =
				    f.data[i] >= 0x20 && f.data[i] < 0x7f ? (char)f.data[i] : '?';
			reason[n] = 0;
			char why[180];
			snprintf(why, sizeof(why), "the relay refused us: %s", reason);
			log_warn("relay %s refused this node: %s", rc->url.text, reason);
			fail(rc, why);
			return false;
		}
		default:
			fail(rc, "relay sent a frame before authentication");
			return false;
		}
	}
	switch (f.type) {
	case RELAY_RELAY_TO_CLIENT_DATAGRAM:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH: {
		const uint8_t *pkt;
		size_t plen;
		for (size_t i = 0; relay_frame_packet(&f, i, &pkt, &plen); i++) {
			rc->info.datagrams_received++;
			rc->info.bytes_received += plen;
			rc->cb.receive(rc->cb.user, rc, f.key, pkt, plen);
			if (rc->state != RC_CONNECTED)
				return false;
		}
		return true;
	}
	case RELAY_PING: {
		struct relay_frame pong = {.type = RELAY_PONG};
		memcpy(pong.ping, f.ping, sizeof(pong.ping));
		send_control(rc, &pong);
		return true;
	}
	case RELAY_PONG:
		if (rc->ping_sent_ns && memcmp(f.ping, rc->ping_data, RELAY_PING_LEN) == 0) {
			rc->info.rtt_ns = now_ns() - rc->ping_sent_ns;
			rc->ping_sent_ns = 0;
			uv_timer_start(&rc->ping_timer, on_ping_timer, PING_INTERVAL_MS, 0);
		}
		return true;
	case RELAY_ENDPOINT_GONE:
		if (rc->cb.peer_gone)
			rc->cb.peer_gone(rc->cb.user, rc, f.key);
		return true;
	case RELAY_RESTARTING:
		log_info("relay %s is restarting (back in %u ms)", rc->url.text, f.reconnect_in_ms);
		return true;
	case RELAY_STATUS:
		if (f.status == RELAY_STATUS_SAME_ENDPOINT_CONNECTED)
			log_warn("relay %s: another connection with this node's ID took over",
				 rc->url.text);
		return true;
	default:
		return true; /* HEALTH and anything else: nothing to do */
	}
}

static void handle_messages(struct relay_client *rc)
{
	while (rc->state == RC_AUTHENTICATING || rc->state == RC_CONNECTED) {
		uint8_t opcode;
		const uint8_t *data;
		size_t len;
		int n = ws_reader_next(&rc->reader, &opcode, &data, &len);
		if (n == 0)
			return;
		if (n < 0) {
			fail(rc, n == -EMSGSIZE ? "relay sent a message over 1 MiB"
						: "WebSocket protocol error from the relay");
			return;
		}
		switch (opcode) {
		case WS_BINARY:
			if (!handle_frame(rc, data, len))
				return;
			break;
		case WS_PING:
			memcpy(rc->control + WS_MAX_HEAD, data, len); /* at most 125 */
			send_message(rc, WS_PONG, rc->control, len);
			break;
		case WS_CLOSE:
			fail(rc, "the relay closed the WebSocket");
			return;
		default:
			break; /* text, pong: ignored */
		}
	}
}

static bool check_upgrade(struct relay_client *rc, const struct http1_response *resp)
{
	char why[160];
	if (resp->status != 101) {
		snprintf(why, sizeof(why),
			 "the relay answered HTTP %d, not 101 Switching Protocols", resp->status);
		fail(rc, why);
		return false;
	}
	const struct http1_header *accept =
	    http1_find(resp->headers, resp->nheaders, "Sec-WebSocket-Accept");
	char expected[WS_ACCEPT_SIZE];
	ws_accept_key(rc->ws_key, strlen(rc->ws_key), expected);
	if (!accept || !http1_equals(accept->value, accept->value_len, expected)) {
		fail(rc, "the relay's 101 has a wrong Sec-WebSocket-Accept");
		return false;
	}
	const struct http1_header *proto =
	    http1_find(resp->headers, resp->nheaders, "Sec-WebSocket-Protocol");
	if (proto && http1_equals(proto->value, proto->value_len, RELAY_PROTOCOL_V2))
		rc->protocol = RELAY_PROTOCOL_V2;
	else if (proto && http1_equals(proto->value, proto->value_len, RELAY_PROTOCOL_V1))
		rc->protocol = RELAY_PROTOCOL_V1;
	else {
		fail(rc, "the relay chose no iroh-relay subprotocol");
		return false;
	}
	return true;
}

static void on_stream_data(void *user, struct stream *s, const uint8_t *data, size_t len)
{
	struct relay_client *rc = user;
	(void)s;
	if (rc->state == RC_UPGRADING) {
		size_t room = sizeof(rc->head) - rc->head_len;
		size_t take = len < room ? len : room;
		memcpy(rc->head + rc->head_len, data, take);
		rc->head_len += take;
		struct http1_response resp;
		ssize_t n = http1_parse_response(rc->head, rc->head_len, &resp);
		if (n == 0)
			return;
		if (n < 0) {
			fail(rc, "the relay's HTTP response is malformed");
			return;
		}
		if (!check_upgrade(rc, &resp))
			return;
		rc->state = RC_AUTHENTICATING;
		/* What came after the head is WebSocket already. */
		size_t used_of_data = (size_t)n - (rc->head_len - take);
		data += used_of_data;
		len -= used_of_data;
	}
	if (len == 0)
		return;
	int err = ws_reader_feed(&rc->reader, data, len);
	if (err < 0) {
		fail(rc, "WebSocket buffer limit");
		return;
	}
	handle_messages(rc);
}

static void on_stream_ready(void *user, struct stream *s)
{
	struct relay_client *rc = user;
	uint8_t key[16];
	randombytes_buf(key, sizeof(key));
	encoding_base64_encode(key, sizeof(key), rc->ws_key, sizeof(rc->ws_key));
	bool v6 = strchr(rc->url.host, ':') != NULL;
	bool default_port = rc->url.port == (rc->url.tls ? 443 : 80);
	char port[8] = "";
	if (!default_port)
		snprintf(port, sizeof(port), ":%u", rc->url.port);
	char req[1024];
	int n = snprintf(req, sizeof(req),
			 "GET " RELAY_PATH " HTTP/1.1\r\n"
			 "Host: %s%s%s%s\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Protocol: " RELAY_PROTOCOL_V2 ", " RELAY_PROTOCOL_V1 "\r\n"
			 "User-Agent: iron/" IRON_VERSION "\r\n"
			 "\r\n",
			 v6 ? "[" : "", rc->url.host, v6 ? "]" : "", port, rc->ws_key);
	rc->state = RC_UPGRADING;
	rc->head_len = 0;
	if (stream_write(s, (const uint8_t *)req, (size_t)n) < 0)
		fail(rc, "cannot send the HTTP request");
}

static void on_stream_closed(void *user, struct stream *s, int err, const char *reason)
{
	struct relay_client *rc = user;
	(void)s;
	(void)err;
	rc->stream = NULL;
	fail(rc, reason);
}

static void start_connect(struct relay_client *rc)
{
	const struct stream_callbacks cb = {.user = rc,
					    .ready = on_stream_ready,
					    .data = on_stream_data,
					    .closed = on_stream_closed};
	struct netaddr *addr = &rc->addrs[rc->next_addr++ % rc->naddrs];
	rc->frame = malloc(FRAME_MAX);
	if (!rc->frame) {
		fail(rc, "out of memory");
		return;
	}
	ws_reader_init(&rc->reader, false, RELAY_MAX_MESSAGE);
	rc->state = RC_CONNECTING;
	int err = stream_connect(rc->loop, &addr->sa, rc->url.tls ? rc->url.host : NULL, &cb,
				 &rc->stream);
	if (err < 0) {
		rc->stream = NULL;
		fail(rc, uv_strerror(err));
		return;
	}
	stream_set_queue_limit(rc->stream, QUEUE_LIMIT);
}

static void on_resolved(void *user, int status, const struct netaddr *addrs, size_t n)
{
	struct relay_client *rc = user;
	rc->query = NULL;
	if (status == -ECANCELED || rc->state != RC_RESOLVING)
		return;
	if (status < 0 || n == 0) {
		char why[400];
		snprintf(why, sizeof(why), "cannot resolve %s: %s", rc->url.host,
			 resolver_strerror(status));
		fail(rc, why);
		return;
	}
	rc->naddrs = n < 4 ? n : 4;
	memcpy(rc->addrs, addrs, rc->naddrs * sizeof(addrs[0]));
	start_connect(rc);
}

static void on_retry_timer(uv_timer_t *timer)
{
	struct relay_client *rc = timer->data;
	if (rc->state == RC_WAITING) {
		rc->state = RC_RESOLVING;
		uv_timer_start(&rc->retry_timer, on_retry_timer, CONNECT_TIMEOUT_MS, 0);
		int err = resolver_lookup_host(rc->resolver, rc->url.host, rc->url.port,
					       on_resolved, rc, &rc->query);
		if (err < 0) {
			rc->query = NULL;
			fail(rc, resolver_strerror(err));
		}
		return;
	}
	static const char *const stage[] = {
	    [RC_RESOLVING] = "its name did not resolve",
	    [RC_CONNECTING] = "no TCP/TLS connection",
	    [RC_UPGRADING] = "no answer to the upgrade request",
	    [RC_AUTHENTICATING] = "no answer to authentication",
	};
	if (rc->state >= RC_RESOLVING && rc->state <= RC_AUTHENTICATING) {
		char why[96];
		snprintf(why, sizeof(why), "%s within %d s", stage[rc->state],
			 CONNECT_TIMEOUT_MS / 1000);
		fail(rc, why);
	}
}

static void schedule_retry(struct relay_client *rc)
{
	rc->backoff_ms = rc->backoff_ms ? rc->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (rc->backoff_ms > BACKOFF_MAX_MS)
		rc->backoff_ms = BACKOFF_MAX_MS;
	uv_timer_start(&rc->retry_timer, on_retry_timer, rc->backoff_ms, 0);
}

int relay_client_new(uv_loop_t *loop, struct resolver *resolver,
		     const struct iron_identity *identity, const struct relay_url *url,
		     const struct relay_client_callbacks *cb, struct relay_client **out)
{
	struct relay_client *rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->loop = loop;
	rc->resolver = resolver;
	rc->identity = identity;
	rc->url = *url;
	rc->cb = *cb;
	rc->info.url = &rc->url;
	uv_timer_init(loop, &rc->retry_timer);
	uv_timer_init(loop, &rc->ping_timer);
	rc->retry_timer.data = rc;
	rc->ping_timer.data = rc;
	rc->open_handles = 2;
	rc->state = RC_WAITING;
	uv_timer_start(&rc->retry_timer, on_retry_timer, 0, 0);
	*out = rc;
	return 0;
}

static void on_handle_closed(uv_handle_t *handle)
{
	struct relay_client *rc = handle->data;
	if (--rc->open_handles == 0)
		free(rc);
}

void relay_client_del(struct relay_client *rc)
{
	if (!rc)
		return;
	drop_connection(rc);
	rc->state = RC_CLOSED;
	uv_close((uv_handle_t *)&rc->retry_timer, on_handle_closed);
	uv_close((uv_handle_t *)&rc->ping_timer, on_handle_closed);
}

/* --- datagrams ----------------------------------------------------------- */

static uint8_t *batch_start(struct relay_client *rc)
{
	return rc->frame + WS_MAX_HEAD + RELAY_DATAGRAM_HEAD_MAX;
}

void relay_client_flush(struct relay_client *rc)
{
	if (rc->batch_count == 0 || rc->state != RC_CONNECTED)
		return;
	enum relay_frame_type type = rc->batch_count == 1 ? RELAY_CLIENT_TO_RELAY_DATAGRAM
							  : RELAY_CLIENT_TO_RELAY_DATAGRAM_BATCH;
	uint8_t head[RELAY_DATAGRAM_HEAD_MAX];
	size_t hl = relay_datagram_head(head, type, rc->batch_dst, 0, (uint16_t)rc->batch_segment);
	uint8_t *start = batch_start(rc) - hl;
	memcpy(start, head, hl);
	/* send_frame() wants the frame at rc->frame + WS_MAX_HEAD. */
	size_t len = hl + rc->batch_len;
	if (start != rc->frame + WS_MAX_HEAD)
		memmove(rc->frame + WS_MAX_HEAD, start, len);
	int err = send_message(rc, WS_BINARY, rc->frame, len);
	if (err == 0) {
		rc->info.datagrams_sent += rc->batch_count;
		rc->info.bytes_sent += rc->batch_len;
	} else {
		rc->info.send_dropped += rc->batch_count;
	}
	rc->batch_count = 0;
	rc->batch_len = 0;
}

int relay_client_send(struct relay_client *rc, const uint8_t dst[32], const uint8_t *data,
		      size_t len)
{
	if (rc->state != RC_CONNECTED) {
		rc->info.send_dropped++;
		return -ENOTCONN;
	}
	if (len == 0 || len > RELAY_MAX_PACKET - RELAY_DATAGRAM_HEAD_MAX)
		return -EMSGSIZE;
	/* Join the batch when it is for the same peer, every packet so far
	 * had this size, and it fits; else send it and start anew. */
	if (rc->batch_count > 0) {
		bool joins = memcmp(rc->batch_dst, dst, RELAY_KEY_LEN) == 0 &&
			     rc->batch_len == rc->batch_count * rc->batch_segment &&
			     len <= rc->batch_segment &&
			     rc->batch_len + len <= RELAY_MAX_PACKET - RELAY_DATAGRAM_HEAD_MAX;
		if (!joins)
			relay_client_flush(rc);
	}
	if (rc->state != RC_CONNECTED)
		return -ENOTCONN;
	if (stream_queued(rc->stream) > QUEUE_LIMIT / 2) {
		rc->info.send_dropped++;
		return -ENOBUFS;
	}
	if (rc->batch_count == 0) {
		memcpy(rc->batch_dst, dst, RELAY_KEY_LEN);
		rc->batch_segment = len;
	}
	memcpy(batch_start(rc) + rc->batch_len, data, len);
	rc->batch_len += len;
	rc->batch_count++;
	return 0;
}

void relay_client_get_info(const struct relay_client *rc, struct relay_client_info *out)
{
	*out = rc->info;
}
