/* A client for `iron dns-server` tests and measurements:
 *
 *   pkarrput id I
 *       the z-base-32 key of test key number I
 *   pkarrput packet I TS_US OUT [--ttl N] [--txt STRING]... [--name NAME]
 *       writes the signed packet (a pkarr relay payload) of test key I to
 *       OUT: one TXT record per --txt (default "relay=http://127.0.0.1:3340/"),
 *       named NAME.<z32> (default _iroh); prints the z32 key
 *   pkarrput flood ADDR:PORT N [-w W] [--from I] [--ts TS_US]
 *       PUTs N packets for keys I.. I+N-1 over W keep-alive connections;
 *       prints "ok <z32>" when a PUT got 204 (flushed at once), and on
 *       stderr a summary with PUTs/s; exit 0 when all got 204
 *   pkarrput check ADDR:PORT FILE
 *       GETs every key of the "ok <z32>" lines of FILE; prints how many were
 *       found; exit 0 when all were
 *   pkarrput query ADDR:PORT NAME N [-w W]
 *       N TXT queries for NAME over UDP, W outstanding; prints answered/s;
 *       exit 0 when all were answered NOERROR with an answer
 *
 * Test key I has the seed BLAKE2b-256("pkarrput" || I as text). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iron/bytes.h"
#include "iron/encoding.h"
#include "iron/identity.h"
#include "iron/netaddr.h"
#include "iron/pkarr.h"

#define MAX_TXT	   64
#define MAX_WINDOW 512

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_identity(unsigned long i, struct iron_identity *out)
{
	char text[64];
	uint8_t seed[32];
	int n = snprintf(text, sizeof(text), "pkarrput%lu", i);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)text, (size_t)n, NULL, 0);
	identity_from_seed(seed, out);
}

static void z32_of(const struct iron_identity *id, char out[53])
{
	encoding_zbase32_encode(id->id.bytes, 32, out, 53);
}

static size_t put_name(uint8_t *p, const char *dotted)
{
	size_t o = 0;
	while (*dotted) {
		const char *dot = strchr(dotted, '.');
		size_t n = dot ? (size_t)(dot - dotted) : strlen(dotted);
		p[o++] = (uint8_t)n;
		memcpy(p + o, dotted, n);
		o += n;
		dotted += n;
		if (*dotted)
			dotted++;
	}
	p[o++] = 0;
	return o;
}

/* A DNS packet of TXT records, each named name.<z32> (the first in full,
 * the others by a compression pointer, as iroh writes them); -1 when too
 * big. */
static int build_dns(const char *owner, const char *const *txt, size_t ntxt, uint32_t ttl,
		     uint8_t *out, size_t cap)
{
	size_t p = 12;
	memset(out, 0, 12);
	out[2] = 0x84; /* QR, AA: a reply, as pkarr packets are */
	bytes_put16(out + 6, (uint16_t)ntxt);
	for (size_t i = 0; i < ntxt; i++) {
		size_t len = strlen(txt[i]);
		if (p + 300 + len + 11 > cap || len > 255)
			return -1;
		if (i == 0) {
			p += put_name(out + p, owner);
		} else {
			bytes_put16(out + p, 0xc00c);
			p += 2;
		}
		bytes_put16(out + p, 16);
		bytes_put16(out + p + 2, 1);
		bytes_put32(out + p + 4, ttl);
		bytes_put16(out + p + 8, (uint16_t)(len + 1));
		out[p + 10] = (uint8_t)len;
		memcpy(out + p + 11, txt[i], len);
		p += 11 + len;
	}
	return (int)p;
}

static int parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	struct netaddr a;
	if (netaddr_parse(text, &a) != 0) {
		fprintf(stderr, "pkarrput: bad address %s\n", text);
		return -1;
	}
	*len = netaddr_len(&a.sa);
	memcpy(ss, &a.sa, *len);
	return 0;
}

/* The standard test packet of key i: one TXT "relay=...". */
static int make_packet(unsigned long i, uint64_t ts, uint8_t *out, size_t cap)
{
	struct iron_identity id;
	char z32[53], owner[80];
	uint8_t dns[PKARR_MAX_DNS];
	const char *txt[] = {"relay=http://127.0.0.1:3340/"};
	test_identity(i, &id);
	z32_of(&id, z32);
	snprintf(owner, sizeof(owner), "_iroh.%s", z32);
	int n = build_dns(owner, txt, 1, 30, dns, sizeof(dns));
	if (n < 0)
		return -1;
	return pkarr_sign(&id, ts, dns, (size_t)n, out, cap);
}

static uint64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

static int cmd_packet(int argc, char **argv)
{
	const char *txt[MAX_TXT];
	size_t ntxt = 0;
	const char *name = "_iroh";
	uint32_t ttl = 30;
	struct iron_identity id;
	char z32[53], owner[300];
	uint8_t dns[4096], out[PKARR_HEAD + 4096];

	if (argc < 5)
		return 2;
	for (int i = 5; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--txt") == 0 && ntxt < MAX_TXT)
			txt[ntxt++] = argv[i + 1];
		else if (strcmp(argv[i], "--name") == 0)
			name = argv[i + 1];
		else if (strcmp(argv[i], "--ttl") == 0)
			ttl = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else
			return 2;
	}
	if (ntxt == 0)
		txt[ntxt++] = "relay=http://127.0.0.1:3340/";
	test_identity(strtoul(argv[2], NULL, 10), &id);
	z32_of(&id, z32);
	if (*name)
		snprintf(owner, sizeof(owner), "%s.%s", name, z32);
	else
		snprintf(owner, sizeof(owner), "%s", z32);
	int n = build_dns(owner, txt, ntxt, ttl, dns, sizeof(dns));
	if (n < 0) {
		fprintf(stderr, "pkarrput: records too long\n");
		return 1;
	}
	/* Signed by hand so that an oversized packet can be made too. */
	uint64_t ts = strtoull(argv[3], NULL, 10);
	char prefix[64];
	int plen = snprintf(prefix, sizeof(prefix), "3:seqi%" PRIu64 "e1:v%d:", ts, n);
	uint8_t *msg = malloc((size_t)plen + (size_t)n);
	memcpy(msg, prefix, (size_t)plen);
	memcpy(msg + plen, dns, (size_t)n);
	crypto_sign_detached(out, NULL, msg, (size_t)plen + (size_t)n, id.secret);
	free(msg);
	for (int k = 0; k < 8; k++)
		out[64 + k] = (uint8_t)(ts >> (56 - 8 * k));
	memcpy(out + PKARR_HEAD, dns, (size_t)n);
	FILE *f = fopen(argv[4], "wb");
	if (!f || fwrite(out, 1, PKARR_HEAD + (size_t)n, f) != PKARR_HEAD + (size_t)n) {
		fprintf(stderr, "pkarrput: cannot write %s\n", argv[4]);
		return 1;
	}
	fclose(f);
	printf("%s\n", z32);
	return 0;
}

/* ------------------------------------------------------------ HTTP */

struct client {
	int fd;
	bool busy;
	unsigned long key;
	char z32[53];
	char out[2048];
	size_t out_len, out_off;
	char in[4096];
	size_t in_len;
};

static int connect_to(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)ss, len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* A complete response at the start of in: its status and total length. */
static bool response_complete(const char *in, size_t len, int *status, size_t *total)
{
	const char *end = memmem(in, len, "\r\n\r\n", 4);
	if (!end || len < 12)
		return false;
	size_t head = (size_t)(end - in) + 4, body = 0;
	*status = atoi(in + 9);
	const char *cl = memmem(in, head, "Content-Length: ", 16);
	if (cl)
		body = strtoul(cl + 16, NULL, 10);
	if (len < head + body)
		return false;
	*total = head + body;
	return true;
}

static int cmd_flood(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	unsigned long n, from = 0, window = 16, next, done = 0, acked = 0, failed = 0;
	uint64_t ts = wall_us();
	if (argc < 4 || parse_addr(argv[2], &ss, &slen) < 0)
		return 2;
	n = strtoul(argv[3], NULL, 10);
	for (int i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-w") == 0)
			window = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--from") == 0)
			from = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--ts") == 0)
			ts = strtoull(argv[i + 1], NULL, 10);
		else
			return 2;
	}
	if (window == 0 || window > MAX_WINDOW)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct client *cl = calloc(window, sizeof(*cl));
	struct pollfd *pfd = calloc(window, sizeof(*pfd));
	for (size_t i = 0; i < window; i++)
		cl[i].fd = -1;
	next = from;
	uint64_t start = now_ns();
	bool broken = false;
	while (done < n && !broken) {
		for (size_t i = 0; i < window; i++) {
			struct client *c = &cl[i];
			if (c->busy || next >= from + n)
				continue;
			if (c->fd < 0 && (c->fd = connect_to(&ss, slen)) < 0) {
				broken = true;
				break;
			}
			uint8_t packet[PKARR_MAX_SIGNED];
			struct iron_identity id;
			int plen = make_packet(next, ts, packet, sizeof(packet));
			test_identity(next, &id);
			z32_of(&id, c->z32);
			int h = snprintf(
			    c->out, sizeof(c->out),
			    "PUT /pkarr/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
			    c->z32, plen);
			memcpy(c->out + h, packet, (size_t)plen);
			c->out_len = (size_t)h + (size_t)plen;
			c->out_off = 0;
			c->in_len = 0;
			c->key = next++;
			c->busy = true;
		}
		size_t np = 0;
		for (size_t i = 0; i < window; i++) {
			pfd[i].fd = cl[i].busy ? cl[i].fd : -1;
			pfd[i].events =
			    cl[i].out_off < cl[i].out_len ? (short)(POLLOUT | POLLIN) : POLLIN;
			pfd[i].revents = 0;
			np++;
		}
		if (poll(pfd, np, 5000) <= 0) {
			broken = true;
			break;
		}
		for (size_t i = 0; i < window; i++) {
			struct client *c = &cl[i];
			if (!c->busy || !pfd[i].revents)
				continue;
			if (c->out_off < c->out_len) {
				ssize_t w = send(c->fd, c->out + c->out_off,
						 c->out_len - c->out_off, MSG_NOSIGNAL);
				if (w > 0)
					c->out_off += (size_t)w;
				else if (w < 0 && errno != EAGAIN) {
					broken = true;
					break;
				}
			}
			ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				broken = true;
				break;
			}
			if (r > 0)
				c->in_len += (size_t)r;
			int status;
			size_t total;
			if (!response_complete(c->in, c->in_len, &status, &total))
				continue;
			if (status == 204) {
				printf("ok %s\n", c->z32);
				acked++;
			} else {
				failed++;
				fprintf(stderr, "pkarrput: key %lu: status %d\n", c->key, status);
			}
			done++;
			c->busy = false;
			if (memmem(c->in, total, "Connection: close", 17)) {
				close(c->fd);
				c->fd = -1;
			}
		}
	}
	double secs = (double)(now_ns() - start) / 1e9;
	fprintf(stderr,
		"%lu PUTs, window %lu: %lu acknowledged, %lu refused in %.3f s: %.0f PUTs/s%s\n", n,
		window, acked, failed, secs, (double)acked / secs,
		broken ? " (connection lost)" : "");
	for (size_t i = 0; i < window; i++)
		if (cl[i].fd >= 0)
			close(cl[i].fd);
	free(cl);
	free(pfd);
	return acked == n ? 0 : 1;
}

static int cmd_check(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	char line[256];
	unsigned long found = 0, missing = 0;
	if (argc != 4 || parse_addr(argv[2], &ss, &slen) < 0)
		return 2;
	FILE *f = fopen(argv[3], "r");
	if (!f)
		return 2;
	int fd = -1;
	while (fgets(line, sizeof(line), f)) {
		char z32[64], req[256], in[4096];
		size_t in_len = 0, total;
		int status = 0;
		if (sscanf(line, "ok %63s", z32) != 1)
			continue;
		if (fd < 0 && (fd = connect_to(&ss, slen)) < 0)
			return 1;
		fcntl(fd, F_SETFL, 0);
		int n =
		    snprintf(req, sizeof(req), "GET /pkarr/%s HTTP/1.1\r\nHost: x\r\n\r\n", z32);
		if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
			return 1;
		while (!response_complete(in, in_len, &status, &total)) {
			ssize_t r = recv(fd, in + in_len, sizeof(in) - in_len, 0);
			if (r <= 0)
				return 1;
			in_len += (size_t)r;
		}
		if (status == 200) {
			found++;
		} else {
			missing++;
			fprintf(stderr, "pkarrput: %s: status %d\n", z32, status);
		}
		if (memmem(in, total, "Connection: close", 17)) {
			close(fd);
			fd = -1;
		}
	}
	fclose(f);
	printf("%lu found, %lu missing\n", found, missing);
	return missing == 0 && found > 0 ? 0 : 1;
}

/* ------------------------------------------------------------ DNS load */

static int cmd_query(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	unsigned long n, window = 64, sent = 0, answered = 0, bad = 0, lost = 0;
	uint8_t q[512];
	if (argc < 5 || parse_addr(argv[2], &ss, &slen) < 0)
		return 2;
	n = strtoul(argv[4], NULL, 10);
	for (int i = 5; i + 1 < argc; i += 2)
		if (strcmp(argv[i], "-w") == 0)
			window = strtoul(argv[i + 1], NULL, 10);
	if (window == 0 || window > 60000 || strlen(argv[3]) > 250)
		return 2;
	memset(q, 0, 12);
	q[2] = 0x01;
	q[5] = 1;
	size_t qlen = 12 + put_name(q + 12, argv[3]);
	bytes_put16(q + qlen, 16);
	bytes_put16(q + qlen + 2, 1);
	qlen += 4;
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	uint64_t *sent_at = calloc(65536, sizeof(uint64_t));
	unsigned long outstanding = 0;
	uint64_t start = now_ns(), last_rx = start;
	while (answered + bad + lost < n) {
		while (outstanding < window && sent < n) {
			uint16_t id = (uint16_t)sent;
			if (sent_at[id])
				break;
			bytes_put16(q, id);
			if (sendto(fd, q, qlen, 0, (struct sockaddr *)&ss, slen) < 0)
				break;
			sent_at[id] = now_ns();
			sent++;
			outstanding++;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, 10);
		uint8_t buf[2048];
		ssize_t r;
		while ((r = recv(fd, buf, sizeof(buf), 0)) >= 12) {
			uint16_t id = bytes_get16(buf);
			if (!sent_at[id])
				continue;
			sent_at[id] = 0;
			outstanding--;
			last_rx = now_ns();
			if ((buf[3] & 0x0f) == 0 && bytes_get16(buf + 6) > 0)
				answered++;
			else
				bad++;
		}
		/* Nothing for a second: what is out is lost. */
		if (now_ns() - last_rx > 1000000000ull) {
			for (size_t i = 0; i < 65536; i++)
				if (sent_at[i]) {
					sent_at[i] = 0;
					lost++;
				}
			outstanding = 0;
			last_rx = now_ns();
		}
	}
	double secs = (double)(now_ns() - start) / 1e9;
	printf("%lu TXT queries, window %lu: %lu answered, %lu other, %lu lost in %.3f s: %.0f "
	       "answered queries/s\n",
	       n, window, answered, bad, lost, secs, (double)answered / secs);
	close(fd);
	free(sent_at);
	return answered == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	int rc = 2;
	if (sodium_init() < 0)
		return 1;
	if (argc >= 3 && strcmp(argv[1], "id") == 0) {
		struct iron_identity id;
		char z32[53];
		test_identity(strtoul(argv[2], NULL, 10), &id);
		z32_of(&id, z32);
		printf("%s\n", z32);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "packet") == 0)
		rc = cmd_packet(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "flood") == 0)
		rc = cmd_flood(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "check") == 0)
		rc = cmd_check(argc, argv);
	else if (argc >= 2 && strcmp(argv[1], "query") == 0)
		rc = cmd_query(argc, argv);
	if (rc == 2)
		fprintf(stderr, "usage: pkarrput id I | packet I TS_US OUT [--txt S]... [--name N] "
				"[--ttl N] | flood ADDR:PORT N [-w W] [--from I] [--ts TS] | check "
				"ADDR:PORT FILE | query ADDR:PORT NAME N [-w W]\n");
	return rc;
}
