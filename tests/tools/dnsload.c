/* A load generator for the DNS responder: sends N AAAA queries for
 * distinct random valid node IDs over UDP, keeping a window of W queries
 * outstanding, and reports answered queries per second.
 *
 *   dnsload --server ADDR:PORT [-n N] [-w W]
 *   dnsload --print-names N      (N lines "<id>.iron AAAA", dnsperf's input)
 *
 * Queries are built before the clock starts. A query unanswered after one
 * second counts as lost and frees its place in the window. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iron/id.h"

#define QUERY_LEN     (12 + 1 + IRON_ID_BASE32_LEN + 6 + 4)
#define LOST_AFTER_NS 1000000000ull
/* Queries in sent order, answered or not, until the oldest is settled. */
#define RING 65536

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void build(uint8_t *q, const struct iron_id *id)
{
	char b32[IRON_ID_BASE32_LEN + 1];
	id_to_base32(id, b32);
	memset(q, 0, 12);
	q[2] = 0x01;
	q[5] = 1;
	q[12] = IRON_ID_BASE32_LEN;
	memcpy(q + 13, b32, IRON_ID_BASE32_LEN);
	memcpy(q + 13 + IRON_ID_BASE32_LEN, "\x04iron\x00\x00\x1c\x00\x01", 10);
}

int main(int argc, char **argv)
{
	const char *server = NULL;
	size_t n = 100000, window = 64;
	struct sockaddr_storage to = {0};
	socklen_t to_len;

	if (argc == 3 && strcmp(argv[1], "--print-names") == 0 && sodium_init() >= 0) {
		char b32[IRON_ID_BASE32_LEN + 1];
		for (unsigned long i = strtoul(argv[2], NULL, 10); i > 0; i--) {
			struct iron_id id;
			crypto_core_ed25519_random(id.bytes);
			id_to_base32(&id, b32);
			printf("%s.iron AAAA\n", b32);
		}
		return 0;
	}
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--server") == 0)
			server = argv[i + 1];
		else if (strcmp(argv[i], "-n") == 0)
			n = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "-w") == 0)
			window = strtoul(argv[i + 1], NULL, 10);
	}
	if (!server || n == 0 || window == 0 || window > 32768 || sodium_init() < 0) {
		fprintf(stderr, "usage: dnsload --server ADDR:PORT [-n N] [-w W (1..32768)]\n");
		return 2;
	}
	char host[64];
	const char *colon = strrchr(server, ':');
	if (!colon || (size_t)(colon - server) >= sizeof(host))
		return 2;
	memcpy(host, server, (size_t)(colon - server));
	host[colon - server] = '\0';
	int port = atoi(colon + 1);
	struct sockaddr_in *in = (struct sockaddr_in *)&to;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&to;
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	if (inet_pton(AF_INET, h, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		to_len = sizeof(*in);
	} else if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		to_len = sizeof(*in6);
	} else {
		fprintf(stderr, "dnsload: bad server address %s\n", server);
		return 2;
	}

	uint8_t *queries = malloc(n * QUERY_LEN);
	uint64_t *sent_at = calloc(65536, sizeof(uint64_t));
	size_t *ring = malloc(RING * sizeof(size_t));
	if (!queries || !sent_at || !ring)
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct iron_id id;
		crypto_core_ed25519_random(id.bytes);
		build(queries + i * QUERY_LEN, &id);
	}
	int fd = socket(to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));

	size_t next = 0, answered = 0, lost = 0, errors = 0, outstanding = 0;
	size_t ring_head = 0, ring_tail = 0; /* sent order, for loss detection */
	uint64_t latency_sum = 0;
	uint64_t start = now_ns();
	while (answered + lost + errors < n) {
		while (outstanding < window && next < n) {
			uint16_t qid = (uint16_t)next;
			if (sent_at[qid] || ring_tail - ring_head >= RING)
				break; /* the oldest query is not settled yet */
			uint8_t *q = queries + next * QUERY_LEN;
			q[0] = (uint8_t)(qid >> 8);
			q[1] = (uint8_t)qid;
			ssize_t r = sendto(fd, q, QUERY_LEN, 0, (struct sockaddr *)&to, to_len);
			if (r < 0 && (errno == EAGAIN || errno == ENOBUFS))
				break;
			sent_at[qid] = now_ns();
			ring[ring_tail++ % RING] = next;
			outstanding++;
			next++;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		poll(&pfd, 1, 10);
		uint8_t buf[1500];
		ssize_t len;
		while ((len = recv(fd, buf, sizeof(buf), 0)) >= 12) {
			uint16_t qid = (uint16_t)(buf[0] << 8 | buf[1]);
			if (!sent_at[qid])
				continue; /* late, already counted lost */
			latency_sum += now_ns() - sent_at[qid];
			sent_at[qid] = 0;
			outstanding--;
			if ((buf[3] & 0x0f) == 0 && buf[7] == 1)
				answered++;
			else
				errors++;
		}
		/* Expire the oldest ones, in the order they were sent. */
		uint64_t t = now_ns();
		while (ring_head != ring_tail) {
			uint16_t qid = (uint16_t)ring[ring_head % RING];
			if (sent_at[qid] && t - sent_at[qid] < LOST_AFTER_NS)
				break;
			if (sent_at[qid]) {
				sent_at[qid] = 0;
				outstanding--;
				lost++;
			}
			ring_head++;
		}
	}
	double secs = (double)(now_ns() - start) / 1e9;
	printf("%zu queries, window %zu: %zu answered, %zu errors, %zu lost in %.3f s: "
	       "%.0f answered queries/s, mean latency %.1f us\n",
	       n, window, answered, errors, lost, secs, (double)answered / secs,
	       answered + errors ? (double)latency_sum / (double)(answered + errors) / 1000 : 0.0);
	close(fd);
	free(queries);
	free(sent_at);
	free(ring);
	return lost + errors == 0 ? 0 : 1;
}
