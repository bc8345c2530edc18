/* A relay client for the tests of `iron relay`: speaks iroh's relay
 * protocol (HTTP upgrade, WebSocket, challenge authentication) with the
 * project's own codecs, many connections at once on one poll loop.
 *
 *   relayc ADDR:PORT [--v1] [--no-pong] [--token T] [--timeout S] COMMAND
 *
 *   --no-pong        never answer the relay's pings
 *
 *   id SEED          prints the node ID (hex) of key SEED
 *   auth SEED        one client with key SEED (a number); prints
 *                    "confirmed" or "denied: <reason>"
 *   badsig SEED      answers the challenge with a wrong signature; prints
 *                    "denied: <reason>"
 *   pair COUNT SIZE  clients A (seed 1) and B (seed 2); A sends COUNT
 *                    datagrams of SIZE bytes to B, then B to A; prints
 *                    "a->b N" and "b->a N" (datagrams that arrived); then B
 *                    leaves and A must hear EndpointGone(B): "gone ok"
 *   takeover         A (seed 1) twice: the first connection must get
 *                    Status(SameEndpointIdConnected) (v2) or a Health frame
 *                    (v1), the second must receive what B sends: prints
 *                    "status N" and "takeover ok"
 *   hold N           N clients (seeds 1000..) connect at once and
 *                    authenticate; prints "ready N" once all are up, then
 *                    answers pings until stdin ends (or the relay drops
 *                    them); prints "dropped N" for those the relay closed
 *   spray HEXID N    N clients (seeds 200000..) connect at once; once all
 *                    are up each sends one 40-byte datagram (that no
 *                    QUIC endpoint answers) to HEXID, then all leave;
 *                    prints "sent N" (clients that were up and sent)
 *   flood SIZE SECS  A (seed 1) never reads; B (seed 2) sends datagrams of
 *                    SIZE to A for SECS seconds as fast as the socket takes
 *                    them; prints "sent N" and whether B is still up ("b up")
 *
 * Exit status: 0 when the command's expectation held, 1 when not, 2 on bad
 * usage, 3 when the relay could not be reached. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iron/http1.h"
#include "iron/netaddr.h"
#include "iron/relay_proto.h"
#include "iron/websocket.h"

enum cstate { C_HEAD, C_AUTH, C_UP, C_DENIED, C_CLOSED };

struct client {
	int fd;
	enum cstate state;
	uint8_t pk[32], sk[64];
	bool bad_signature, no_read;
	char head[HTTP1_MAX_HEAD];
	size_t head_len;
	struct ws_reader reader;
	char deny[128];
	/* What arrived. */
	unsigned datagrams, statuses, healths, gone, pongs;
	uint8_t gone_id[32];
	uint8_t last_status;
};

static struct netaddr relay_addr;
static bool use_v1;
static bool no_pong;
static const char *token;
static double timeout_s = 10;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void key_from_seed(unsigned n, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t seed[32] = {0};
	seed[0] = (uint8_t)n;
	seed[1] = (uint8_t)(n >> 8);
	seed[2] = (uint8_t)(n >> 16);
	seed[31] = 0x5e;
	crypto_sign_seed_keypair(pk, sk, seed);
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	double end = now_s() + timeout_s;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		if (now_s() > end)
			return -ETIMEDOUT;
		poll(&pfd, 1, 100);
	}
	return 0;
}

/* One masked WebSocket message with a relay frame. */
static int send_frame(struct client *c, const struct relay_frame *f)
{
	static uint8_t msg[RELAY_MAX_PACKET + 64], buf[RELAY_MAX_PACKET + 64 + WS_MAX_HEAD];
	ssize_t n = relay_frame_encode(f, msg, sizeof(msg));
	uint8_t mask[4];
	if (n < 0)
		return (int)n;
	randombytes_buf(mask, sizeof(mask));
	size_t h = ws_write_head(buf, WS_BINARY, true, (uint64_t)n, mask);
	memcpy(buf + h, msg, (size_t)n);
	ws_mask(buf + h, (size_t)n, mask, 0);
	return send_all(c->fd, buf, h + (size_t)n);
}

static int client_start(struct client *c, unsigned seed)
{
	char req[512];
	char host[NETADDR_STR_SIZE];
	memset(c, 0, sizeof(*c));
	key_from_seed(seed, c->pk, c->sk);
	c->fd = socket(relay_addr.sa.sa_family, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, &relay_addr.sa, netaddr_len(&relay_addr.sa)) != 0) {
		int e = -errno;
		close(c->fd);
		c->fd = -1;
		return e;
	}
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ws_reader_init(&c->reader, false, RELAY_MAX_MESSAGE);
	int n = snprintf(req, sizeof(req),
			 "GET /relay HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
			 "Sec-WebSocket-Protocol: %s\r\n%s%s%s\r\n",
			 netaddr_format(&relay_addr.sa, host, sizeof(host)),
			 use_v1 ? "iroh-relay-v1" : "iroh-relay-v2, iroh-relay-v1",
			 token ? "Authorization: Bearer " : "", token ? token : "",
			 token ? "\r\n" : "");
	return send_all(c->fd, (uint8_t *)req, (size_t)n);
}

static void client_close(struct client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		ws_reader_free(&c->reader);
	}
	c->fd = -1;
	if (c->state != C_DENIED)
		c->state = C_CLOSED;
}

static void handle_frame(struct client *c, const uint8_t *msg, size_t len)
{
	struct relay_frame f;
	if (relay_frame_decode(msg, len, &f) != 0)
		return;
	switch (f.type) {
	case RELAY_SERVER_CHALLENGE: {
		struct relay_frame a = {.type = RELAY_CLIENT_AUTH};
		memcpy(a.key, c->pk, 32);
		relay_sign_challenge(c->sk, f.challenge, a.signature);
		if (c->bad_signature)
			a.signature[5] ^= 1;
		send_frame(c, &a);
		break;
	}
	case RELAY_SERVER_CONFIRMS_AUTH:
		c->state = C_UP;
		break;
	case RELAY_SERVER_DENIES_AUTH:
		snprintf(c->deny, sizeof(c->deny), "%.*s", (int)f.data_len, (const char *)f.data);
		c->state = C_DENIED;
		break;
	case RELAY_RELAY_TO_CLIENT_DATAGRAM:
	case RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH:
		c->datagrams++;
		break;
	case RELAY_ENDPOINT_GONE:
		c->gone++;
		memcpy(c->gone_id, f.key, 32);
		break;
	case RELAY_PING: {
		if (no_pong)
			break;
		struct relay_frame p = {.type = RELAY_PONG};
		memcpy(p.ping, f.ping, sizeof(p.ping));
		send_frame(c, &p);
		break;
	}
	case RELAY_PONG:
		c->pongs++;
		break;
	case RELAY_STATUS:
		c->statuses++;
		c->last_status = f.status;
		break;
	case RELAY_HEALTH:
		c->healths++;
		break;
	default:
		break;
	}
}

static void feed_ws(struct client *c, const uint8_t *data, size_t len)
{
	uint8_t op;
	const uint8_t *msg;
	size_t mlen;
	if (len == 0)
		return;
	if (ws_reader_feed(&c->reader, data, len) < 0) {
		client_close(c);
		return;
	}
	int rc;
	while ((rc = ws_reader_next(&c->reader, &op, &msg, &mlen)) == 1)
		if (op == WS_BINARY)
			handle_frame(c, msg, mlen);
	if (rc < 0)
		client_close(c);
}

static void client_readable(struct client *c)
{
	uint8_t buf[65536];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	if (c->state != C_HEAD) {
		feed_ws(c, buf, (size_t)n);
		return;
	}
	size_t take = (size_t)n;
	if (take > sizeof(c->head) - c->head_len)
		take = sizeof(c->head) - c->head_len;
	memcpy(c->head + c->head_len, buf, take);
	c->head_len += take;
	struct http1_response resp;
	ssize_t h = http1_parse_response(c->head, c->head_len, &resp);
	if (h == 0)
		return;
	if (h < 0 || resp.status != 101) {
		snprintf(c->deny, sizeof(c->deny), "HTTP %d", h < 0 ? 0 : resp.status);
		c->state = C_DENIED;
		client_close(c);
		return;
	}
	c->state = C_AUTH;
	feed_ws(c, (uint8_t *)c->head + h, c->head_len - (size_t)h);
	if (take < (size_t)n && c->fd >= 0)
		feed_ws(c, buf + take, (size_t)n - take);
}

/* Runs the clients until done(user) or the timeout. */
static bool run_until(struct client *cs, size_t n, bool (*done)(void *), void *user, double secs)
{
	static struct pollfd pfds[100000];
	double end = now_s() + secs;
	while (!done(user)) {
		size_t np = 0;
		double left = end - now_s();
		if (left <= 0)
			return false;
		for (size_t i = 0; i < n; i++) {
			pfds[i].fd = cs[i].no_read && cs[i].state == C_UP ? -1 : cs[i].fd;
			pfds[i].events = POLLIN;
			pfds[i].revents = 0;
			np = i + 1;
		}
		int r = poll(pfds, np, left > 0.1 ? 100 : (int)(left * 1000) + 1);
		if (r <= 0)
			continue;
		for (size_t i = 0; i < np; i++)
			if (pfds[i].fd >= 0 && (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				client_readable(&cs[i]);
	}
	return true;
}

struct all_state {
	struct client *cs;
	size_t n;
};

/* Every client is up, denied or closed. */
static bool all_settled(void *user)
{
	struct all_state *a = user;
	for (size_t i = 0; i < a->n; i++)
		if (a->cs[i].state == C_HEAD || a->cs[i].state == C_AUTH)
			return false;
	return true;
}

static bool never(void *user)
{
	(void)user;
	return false;
}

static bool one_up_or_denied(struct client *c)
{
	struct all_state a = {c, 1};
	run_until(c, 1, all_settled, &a, timeout_s);
	return c->state == C_UP;
}

static int send_datagrams(struct client *from, const uint8_t to[32], unsigned count, size_t size)
{
	static uint8_t payload[RELAY_MAX_PACKET];
	struct relay_frame f = {.type = RELAY_CLIENT_TO_RELAY_DATAGRAM};
	memcpy(f.key, to, 32);
	memset(payload, 0xab, size);
	f.data = payload;
	f.data_len = size;
	for (unsigned i = 0; i < count; i++)
		if (send_frame(from, &f) < 0)
			return -1;
	return 0;
}

struct count_wait {
	struct client *c;
	unsigned want;
	unsigned *field;
};

static bool reached(void *user)
{
	struct count_wait *w = user;
	return *w->field >= w->want || w->c->state == C_CLOSED;
}

static int cmd_auth(unsigned seed, bool bad)
{
	struct client c;
	if (client_start(&c, seed) < 0)
		return 3;
	c.bad_signature = bad;
	one_up_or_denied(&c);
	enum cstate state = c.state;
	if (state == C_UP)
		printf("confirmed\n");
	else if (state == C_DENIED)
		printf("denied: %s\n", c.deny);
	else
		printf("closed\n");
	client_close(&c);
	return bad ? state == C_DENIED ? 0 : 1 : state == C_UP ? 0 : 1;
}

static int cmd_pair(unsigned count, size_t size)
{
	struct client cs[2];
	int rc = 0;
	if (client_start(&cs[0], 1) < 0 || client_start(&cs[1], 2) < 0)
		return 3;
	if (!one_up_or_denied(&cs[0]) || !one_up_or_denied(&cs[1])) {
		printf("not authenticated: %s %s\n", cs[0].deny, cs[1].deny);
		return 1;
	}
	send_datagrams(&cs[0], cs[1].pk, count, size);
	struct count_wait w = {&cs[1], count, &cs[1].datagrams};
	run_until(cs, 2, reached, &w, timeout_s);
	printf("a->b %u\n", cs[1].datagrams);
	send_datagrams(&cs[1], cs[0].pk, count, size);
	w = (struct count_wait){&cs[0], count, &cs[0].datagrams};
	run_until(cs, 2, reached, &w, timeout_s);
	printf("b->a %u\n", cs[0].datagrams);
	if (cs[0].datagrams != count || cs[1].datagrams != count)
		rc = 1;
	client_close(&cs[1]);
	w = (struct count_wait){&cs[0], 1, &cs[0].gone};
	run_until(cs, 1, reached, &w, timeout_s);
	if (cs[0].gone == 1 && memcmp(cs[0].gone_id, cs[1].pk, 32) == 0) {
		printf("gone ok\n");
	} else {
		printf("gone missing\n");
		rc = 1;
	}
	client_close(&cs[0]);
	return rc;
}

static int cmd_takeover(void)
{
	struct client cs[3]; /* A, A again, B */
	if (client_start(&cs[0], 1) < 0 || client_start(&cs[2], 2) < 0)
		return 3;
	if (!one_up_or_denied(&cs[0]) || !one_up_or_denied(&cs[2]))
		return 1;
	if (client_start(&cs[1], 1) < 0 || !one_up_or_denied(&cs[1]))
		return 1;
	unsigned *field = use_v1 ? &cs[0].healths : &cs[0].statuses;
	struct count_wait w = {&cs[0], 1, field};
	run_until(cs, 3, reached, &w, timeout_s);
	printf("status %u\n", use_v1 ? cs[0].healths : (unsigned)cs[0].last_status);
	send_datagrams(&cs[2], cs[0].pk, 3, 100);
	w = (struct count_wait){&cs[1], 3, &cs[1].datagrams};
	run_until(cs, 3, reached, &w, timeout_s);
	bool ok = *field == 1 &&
		  (use_v1 || cs[0].last_status == RELAY_STATUS_SAME_ENDPOINT_CONNECTED) &&
		  cs[1].datagrams == 3 && cs[0].datagrams == 0 && cs[0].state == C_UP;
	/* The newer one leaving makes the older one active again. */
	client_close(&cs[1]);
	w = (struct count_wait){&cs[0], 2, field};
	run_until(cs, 3, reached, &w, timeout_s);
	send_datagrams(&cs[2], cs[0].pk, 2, 100);
	w = (struct count_wait){&cs[0], 2, &cs[0].datagrams};
	run_until(cs, 3, reached, &w, timeout_s);
	ok = ok && cs[0].datagrams == 2;
	printf("takeover %s\n", ok ? "ok" : "failed");
	client_close(&cs[0]);
	client_close(&cs[2]);
	return ok ? 0 : 1;
}

static bool stdin_closed(void *user)
{
	(void)user;
	struct pollfd p = {.fd = 0, .events = POLLIN};
	if (poll(&p, 1, 0) <= 0)
		return false;
	char buf[64];
	return read(0, buf, sizeof(buf)) <= 0;
}

static int cmd_hold(size_t n)
{
	struct client *cs = calloc(n, sizeof(*cs));
	struct rlimit rl;
	size_t started = 0, up = 0, dropped = 0;
	if (!cs)
		return 3;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (size_t i = 0; i < n; i++) {
		if (client_start(&cs[i], 1000 + (unsigned)i) < 0) {
			cs[i].state = C_CLOSED;
			continue;
		}
		started++;
	}
	struct all_state a = {cs, n};
	run_until(cs, n, all_settled, &a, timeout_s + (double)n / 100);
	for (size_t i = 0; i < n; i++)
		up += cs[i].state == C_UP;
	printf("ready %zu\n", up);
	fflush(stdout);
	run_until(cs, n, stdin_closed, NULL, 1e9);
	for (size_t i = 0; i < n; i++)
		dropped += cs[i].state == C_CLOSED;
	printf("dropped %zu\n", dropped);
	(void)started;
	for (size_t i = 0; i < n; i++)
		client_close(&cs[i]);
	free(cs);
	return up == n ? 0 : 1;
}

static int usage(void);

static int parse_hex_id(const char *hex, uint8_t id[32])
{
	if (strlen(hex) != 64)
		return -1;
	for (size_t k = 0; k < 32; k++) {
		unsigned v;
		if (sscanf(hex + 2 * k, "%2x", &v) != 1)
			return -1;
		id[k] = (uint8_t)v;
	}
	return 0;
}

static int cmd_spray(const char *hex, size_t n)
{
	uint8_t dst[32];
	struct rlimit rl;
	size_t sent = 0;
	if (parse_hex_id(hex, dst) < 0)
		return usage();
	struct client *cs = calloc(n, sizeof(*cs));
	if (!cs)
		return 3;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
		rl.rlim_cur = rl.rlim_max < n + 64 ? rl.rlim_max : n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (size_t i = 0; i < n; i++)
		if (client_start(&cs[i], 200000 + (unsigned)i) < 0)
			cs[i].state = C_CLOSED;
	struct all_state a = {cs, n};
	run_until(cs, n, all_settled, &a, timeout_s + (double)n / 100);
	/* 0xab...: a long header of an unknown version, too short for a
	 * version negotiation (under 1200 bytes): dropped, unanswered. */
	for (size_t i = 0; i < n; i++)
		if (cs[i].state == C_UP && send_datagrams(&cs[i], dst, 1, 40) == 0)
			sent++;
	printf("sent %zu\n", sent);
	fflush(stdout);
	for (size_t i = 0; i < n; i++)
		client_close(&cs[i]);
	free(cs);
	return sent == n ? 0 : 1;
}

static int cmd_flood(size_t size, double secs)
{
	struct client cs[2];
	static uint8_t payload[RELAY_MAX_PACKET];
	unsigned sent = 0;
	if (client_start(&cs[0], 1) < 0 || client_start(&cs[1], 2) < 0)
		return 3;
	if (!one_up_or_denied(&cs[0]) || !one_up_or_denied(&cs[1]))
		return 1;
	cs[0].no_read = true;
	struct relay_frame f = {.type = RELAY_CLIENT_TO_RELAY_DATAGRAM};
	memcpy(f.key, cs[0].pk, 32);
	memset(payload, 0xcd, size);
	f.data = payload;
	f.data_len = size;
	double end = now_s() + secs;
	while (now_s() < end && cs[1].state == C_UP) {
		if (send_frame(&cs[1], &f) < 0)
			break;
		sent++;
		/* Answer pings now and then. */
		if (sent % 64 == 0)
			run_until(cs, 2, never, NULL, 0.001);
	}
	run_until(cs, 2, never, NULL, 0.2);
	printf("sent %u\n", sent);
	bool up = cs[1].state == C_UP;
	printf("b %s\n", up ? "up" : "closed");
	client_close(&cs[0]);
	client_close(&cs[1]);
	return up ? 0 : 1;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: relayc ADDR:PORT [--v1] [--no-pong] [--token T] [--timeout S] "
		"id SEED|auth SEED|badsig SEED|pair COUNT SIZE|takeover|hold N|spray HEXID N|"
		"flood SIZE SECS\n");
	return 2;
}

int main(int argc, char **argv)
{
	int i = 1;
	if (sodium_init() < 0 || argc < 3)
		return usage();
	if (netaddr_parse(argv[i++], &relay_addr) != 0)
		return usage();
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--v1") == 0) {
			use_v1 = true;
			i++;
		} else if (strcmp(argv[i], "--no-pong") == 0) {
			no_pong = true;
			i++;
		} else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) {
			token = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
			timeout_s = atof(argv[i + 1]);
			i += 2;
		} else {
			return usage();
		}
	}
	if (i >= argc)
		return usage();
	const char *cmd = argv[i++];
	int left = argc - i;
	if (strcmp(cmd, "id") == 0 && left == 1) {
		uint8_t pk[32], sk[64];
		key_from_seed((unsigned)atoi(argv[i]), pk, sk);
		for (int k = 0; k < 32; k++)
			printf("%02x", pk[k]);
		printf("\n");
		return 0;
	}
	if (strcmp(cmd, "auth") == 0 && left == 1)
		return cmd_auth((unsigned)atoi(argv[i]), false);
	if (strcmp(cmd, "badsig") == 0 && left == 1)
		return cmd_auth((unsigned)atoi(argv[i]), true);
	if (strcmp(cmd, "pair") == 0 && left == 2)
		return cmd_pair((unsigned)atoi(argv[i]), (size_t)atoi(argv[i + 1]));
	if (strcmp(cmd, "takeover") == 0 && left == 0)
		return cmd_takeover();
	if (strcmp(cmd, "hold") == 0 && left == 1)
		return cmd_hold((size_t)atoi(argv[i]));
	if (strcmp(cmd, "spray") == 0 && left == 2)
		return cmd_spray(argv[i], (size_t)atoi(argv[i + 1]));
	if (strcmp(cmd, "flood") == 0 && left == 2)
		return cmd_flood((size_t)atoi(argv[i]), atof(argv[i + 1]));
	return usage();
}
