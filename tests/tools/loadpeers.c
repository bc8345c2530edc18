/* loadpeers: many peers on one daemon (issue 16). From one process, opens
 * N iron/packet/1 connections to a real `iron serve`, each with its own
 * fresh key and UDP socket (so its own source port), at most W handshakes
 * at a time; holds them open; and sends an ICMPv6 echo request through
 * each, from the overlay address of its key to the daemon's: the daemon
 * hands it to its TUN, its kernel answers, and the answer comes back as a
 * datagram on the same connection.
 *
 *   loadpeers --peer ID --connect ADDR:PORT -n N [-w W] [--hold S]
 *             [--ping-interval S] [--ping-timeout S] [--ping-rate R]
 *
 * Phases, each reported on one line of stdout (flushed) as "key=value"
 * words:
 *   setup    keys, sockets and endpoints made, before any dial (not timed
 *            in the ramp);
 *   ramp     every dial ended: connected, failed, handshakes per second
 *            (connected over the time from the first dial to the last
 *            handshake), handshake time p50/p99;
 *   ping     one line per round: round 0 is the echo each connection sends
 *            as its handshake completes; later rounds go to every live
 *            connection every --ping-interval seconds (default 30: the
 *            daemon closes a connection idle for 2 minutes), and one more
 *            at the end of the hold (announced by a line "final"); the
 *            echoes of a round leave at --ping-rate a second (default
 *            2000), and it ends when all are answered or --ping-timeout
 *            seconds (default 5) after the last left;
 *   holding  printed once, after round 0: the connections are up and idle
 *            (read the daemon's memory now);
 *   done     after the hold (--hold S, default 0: until SIGINT or
 *            SIGTERM) and the last round: connected, closed since, and
 *            answered in the last round.
 * Then every connection is closed (CONNECTION_CLOSE, so the daemon learns
 * at once).
 *
 * Exit status 0 when every dial connected and every connection answered
 * the last round, 1 when not, 2 on bad usage or setup failure. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "iron/addr.h"
#include "iron/bytes.h"
#include "iron/identity.h"
#include "iron/ipv6.h"
#include "iron/log.h"
#include "iron/netaddr.h"
#include "iron/quic.h"
#include "iron/timerheap.h"

#define RECV_BATCH   16
#define EVENTS_MAX   256
#define ECHO_DATA    16
#define REASONS_SHOW 5

enum slot_state { SLOT_IDLE, SLOT_DIALLING, SLOT_UP, SLOT_FAILED, SLOT_LOST };

struct slot {
	enum slot_state state;
	int fd;
	uint32_t index;
	struct netaddr local;
	struct iron_identity identity;
	struct in6_addr overlay;
	struct quic_endpoint *ep;
	struct quic_conn *conn;
	struct timerheap_node timer;
	uint64_t dialled_ns, established_ns;
	bool ping_due;	     /* established inside a callback: ping after it */
	uint32_t ping_round; /* the last round sent */
	uint64_t ping_sent_ns;
	bool answered; /* ping_round answered */
};

struct load {
	struct slot *slots;
	size_t n;
	const struct iron_id *peer;
	struct in6_addr peer_overlay;
	struct timerheap timers;
	size_t dialling, connected, failed, lost;
	uint64_t first_dial_ns, last_established_ns;
	/* The round in progress: sent, answered, RTTs of the answers; its
	 * echoes leave at rate a second (a burst of thousands would overflow
	 * the daemon's TUN queue), the next from the slot at cursor. */
	uint32_t round;
	size_t round_sent, round_answered, cursor;
	uint64_t round_start_ns;
	double rate;
	uint64_t *rtts;
	unsigned reasons_shown;
	bool closing; /* our own closes at the end: not news */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct load *the_load; /* for the callbacks, which get the slot */

static void on_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	struct slot *s = user;
	(void)local;
	/* A full socket buffer loses the datagram; QUIC sends it again. */
	(void)sendto(s->fd, data, len, 0, remote, netaddr_len(remote));
}

static int on_established(void *user, struct quic_conn *conn)
{
	struct slot *s = user;
	struct load *l = the_load;
	(void)conn;
	if (s->state != SLOT_DIALLING)
		return 0;
	s->state = SLOT_UP;
	s->established_ns = now_ns();
	s->ping_due = true;
	l->dialling--;
	l->connected++;
	l->last_established_ns = s->established_ns;
	return 0;
}

static void on_packet(void *user, struct quic_conn *conn, const uint8_t *data, size_t len)
{
	struct slot *s = user;
	struct load *l = the_load;
	struct ipv6_info info;
	struct ipv6_echo echo;
	(void)conn;
	if (ipv6_parse(data, len, &info) != 0 || ipv6_echo_parse(data, &info, &echo) != 0 ||
	    echo.type != IPV6_ICMP_ECHO_REPLY || memcmp(&info.dst, &s->overlay, 16) != 0 ||
	    memcmp(&info.src, &l->peer_overlay, 16) != 0 || echo.data_len != ECHO_DATA)
		return;
	uint32_t index = bytes_get32(echo.data), round = bytes_get32(echo.data + 4);
	if (index != s->index || round != s->ping_round || s->answered)
		return;
	s->answered = true;
	if (round == l->round) {
		l->rtts[l->round_answered++] = now_ns() - s->ping_sent_ns;
	}
}

static void on_closed(void *user, struct quic_conn *conn, int error, const char *reason)
{
	struct slot *s = user;
	struct load *l = the_load;
	(void)conn;
	s->conn = NULL;
	if (s->state == SLOT_DIALLING) {
		s->state = SLOT_FAILED;
		l->dialling--;
		l->failed++;
	} else if (s->state == SLOT_UP) {
		s->state = SLOT_LOST;
		l->lost++;
	} else {
		return;
	}
	if (!l->closing && l->reasons_shown < REASONS_SHOW) {
		l->reasons_shown++;
		fprintf(stderr, "loadpeers: connection %u %s: %s (%s)\n", s->index,
			s->state == SLOT_FAILED ? "failed" : "closed", reason, strerror(-error));
	}
}

/* Keeps the slot's place in the timer heap at its endpoint's expiry. */
static void slot_timer(struct load *l, struct slot *s)
{
	uint64_t expiry = quic_endpoint_next_expiry(s->ep);
	if (expiry == UINT64_MAX)
		timerheap_remove(&l->timers, &s->timer);
	else if (s->timer.index != TIMERHEAP_NONE)
		timerheap_update(&l->timers, &s->timer, expiry);
	else if (timerheap_insert(&l->timers, &s->timer, expiry) < 0)
		fprintf(stderr, "loadpeers: out of memory for a timer\n");
}

static void slot_ping(struct load *l, struct slot *s, uint32_t round, uint64_t now)
{
	uint8_t data[ECHO_DATA] = {0}, pkt[IPV6_HEADER_LEN + IPV6_ICMP_HEADER_LEN + ECHO_DATA];
	struct ipv6_echo echo = {
	    .type = IPV6_ICMP_ECHO_REQUEST,
	    .identifier = (uint16_t)s->index,
	    .sequence = (uint16_t)round,
	    .data = data,
	    .data_len = sizeof(data),
	};
	bytes_put32(data, s->index);
	bytes_put32(data + 4, round);
	ssize_t len = ipv6_build_echo(&s->overlay, &l->peer_overlay, &echo, pkt, sizeof(pkt));
	s->ping_round = round;
	s->ping_sent_ns = now;
	s->answered = false;
	if (round == l->round)
		l->round_sent++;
	if (len > 0 && s->conn)
		quic_conn_send_packet(s->conn, pkt, (size_t)len, now);
}

/* Flushes the slot's endpoint, sends the echo its handshake asked for,
 * and files its next expiry. */
static void slot_settle(struct load *l, struct slot *s, uint64_t now)
{
	quic_endpoint_flush(s->ep, now);
	if (s->ping_due) {
		s->ping_due = false;
		if (s->state == SLOT_UP && s->conn) {
			slot_ping(l, s, 0, now);
			quic_endpoint_flush(s->ep, now);
		}
	}
	slot_timer(l, s);
}

static int slot_setup(struct slot *s, uint32_t index, const struct netaddr *remote, int epfd)
{
	struct quic_config config = {
	    .identity = &s->identity,
	    .client_alpns = QUIC_ALPN_FLAG(QUIC_ALPN_PACKET1),
	};
	struct quic_callbacks callbacks = {
	    .user = s,
	    .send = on_send,
	    .established = on_established,
	    .packet = on_packet,
	    .closed = on_closed,
	};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
	socklen_t len;

	s->index = index;
	s->fd = -1;
	timerheap_node_init(&s->timer);
	identity_generate(&s->identity);
	addr_from_id(&s->identity.id, &s->overlay);
	s->fd = socket(remote->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	s->local.sa.sa_family = remote->sa.sa_family;
	len = netaddr_len(&s->local.sa);
	if (s->fd < 0 || bind(s->fd, &s->local.sa, len) != 0 ||
	    getsockname(s->fd, &s->local.sa, &len) != 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) != 0)
		return -errno;
	return quic_endpoint_new(&config, &callbacks, &s->ep);
}

static void slot_dial(struct load *l, struct slot *s, const struct netaddr *remote, uint64_t now)
{
	s->state = SLOT_DIALLING;
	s->dialled_ns = now;
	l->dialling++;
	int rc = quic_connect(s->ep, l->peer, &s->local.sa, &remote->sa, now, &s->conn);
	if (rc < 0) {
		s->state = SLOT_FAILED;
		l->dialling--;
		l->failed++;
		fprintf(stderr, "loadpeers: dial %u: %s\n", s->index, strerror(-rc));
		return;
	}
	slot_settle(l, s, now);
}

static void slot_read(struct load *l, struct slot *s, uint64_t now)
{
	uint8_t buf[2048];
	for (int k = 0; k < RECV_BATCH; k++) {
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		ssize_t len =
		    recvfrom(s->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len);
		if (len < 0)
			break;
		quic_endpoint_receive(s->ep, &s->local.sa, (struct sockaddr *)&from, buf,
				      (size_t)len, now);
	}
	slot_settle(l, s, now);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted values, in milliseconds. */
static double pct_ms(const uint64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(p / 100 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)sorted[rank - 1] / 1e6;
}

static void round_begin(struct load *l, uint32_t round, uint64_t now)
{
	l->round = round;
	l->round_sent = l->round_answered = 0;
	l->cursor = 0;
	l->round_start_ns = now;
}

/* Sends the echoes of the round that are due by now. Returns true once
 * all are sent. */
static bool round_pump(struct load *l, uint64_t now)
{
	double due = (double)(now - l->round_start_ns) / 1e9 * l->rate + 1;
	for (; l->cursor < l->n && (double)l->round_sent < due; l->cursor++) {
		struct slot *s = &l->slots[l->cursor];
		if (s->state != SLOT_UP || !s->conn)
			continue;
		slot_ping(l, s, l->round, now);
		quic_endpoint_flush(s->ep, now);
		slot_timer(l, s);
	}
	return l->cursor == l->n;
}

static void round_report(struct load *l)
{
	qsort(l->rtts, l->round_answered, sizeof(*l->rtts), cmp_u64);
	printf("ping round=%u sent=%zu answered=%zu rtt_p50_ms=%.3f rtt_p99_ms=%.3f "
	       "rtt_max_ms=%.3f\n",
	       l->round, l->round_sent, l->round_answered, pct_ms(l->rtts, l->round_answered, 50),
	       pct_ms(l->rtts, l->round_answered, 99), pct_ms(l->rtts, l->round_answered, 100));
	fflush(stdout);
}

static void ramp_report(struct load *l, uint64_t setup_ns)
{
	uint64_t *times = l->rtts; /* free until round 0 is reported */
	size_t n = 0;
	uint64_t span = l->last_established_ns > l->first_dial_ns
			    ? l->last_established_ns - l->first_dial_ns
			    : 1;
	for (size_t i = 0; i < l->n; i++)
		if (l->slots[i].established_ns)
			times[n++] = l->slots[i].established_ns - l->slots[i].dialled_ns;
	qsort(times, n, sizeof(*times), cmp_u64);
	printf("setup n=%zu seconds=%.2f\n", l->n, (double)setup_ns / 1e9);
	printf("ramp connected=%zu failed=%zu seconds=%.3f handshakes_per_s=%.0f "
	       "handshake_p50_ms=%.2f handshake_p99_ms=%.2f\n",
	       l->connected, l->failed, (double)span / 1e9,
	       (double)l->connected * 1e9 / (double)span, pct_ms(times, n, 50),
	       pct_ms(times, n, 99));
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr,
		"usage: loadpeers --peer ID --connect ADDR:PORT -n N [-w W] [--hold S]\n"
		"                 [--ping-interval S] [--ping-timeout S] [--ping-rate R]\n");
	return 2;
}

static void raise_fd_limit(size_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

enum phase { PHASE_RAMP, PHASE_FIRST_ROUND, PHASE_HOLD, PHASE_LAST_ROUND };

int main(int argc, char **argv)
{
	const char *peer_text = NULL, *connect_text = NULL;
	unsigned long total = 0, window = 64;
	double hold_s = 0, interval_s = 30, timeout_s = 5;
	struct iron_id peer;
	struct netaddr remote;
	struct load l = {0};
	struct epoll_event events[EVENTS_MAX];
	int epfd = -1, status = 2;

	if (sodium_init() < 0)
		return 2;
	log_configure(LOG_ERROR, NULL);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--peer") == 0)
			peer_text = argv[i + 1];
		else if (strcmp(argv[i], "--connect") == 0)
			connect_text = argv[i + 1];
		else if (strcmp(argv[i], "-n") == 0)
			total = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "-w") == 0)
			window = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--hold") == 0)
			hold_s = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--ping-interval") == 0)
			interval_s = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--ping-timeout") == 0)
			timeout_s = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--ping-rate") == 0)
			l.rate = atof(argv[i + 1]);
		else
			return usage();
	}
	if (l.rate == 0)
		l.rate = 2000;
	if (argc % 2 == 0 || l.rate < 0 || !peer_text || !connect_text || total == 0 ||
	    total > 1000000 || window == 0 || hold_s < 0 || interval_s <= 0 || timeout_s <= 0 ||
	    id_parse(peer_text, &peer, NULL) != 0 || netaddr_parse(connect_text, &remote) != 0)
		return usage();

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(total + 64);
	the_load = &l;
	l.n = total;
	l.peer = &peer;
	addr_from_id(&peer, &l.peer_overlay);
	timerheap_init(&l.timers);
	l.slots = calloc(total, sizeof(*l.slots));
	l.rtts = calloc(total, sizeof(*l.rtts));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!l.slots || !l.rtts || epfd < 0) {
		fprintf(stderr, "loadpeers: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < total; i++)
		l.slots[i].fd = -1;

	/* Keys, sockets and endpoints first, so the ramp times handshakes. */
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < total; i++) {
		int rc = slot_setup(&l.slots[i], (uint32_t)i, &remote, epfd);
		if (rc < 0) {
			fprintf(stderr, "loadpeers: setting up connection %zu: %s\n", i,
				strerror(-rc));
			goto out;
		}
	}
	uint64_t setup_ns = now_ns() - t0;

	enum phase phase = PHASE_RAMP;
	size_t started = 0;
	uint64_t deadline = UINT64_MAX, next_round = UINT64_MAX, hold_end = UINT64_MAX;
	uint32_t round = 0;
	bool pumping = false;
	l.first_dial_ns = now_ns();
	for (;;) {
		uint64_t now = now_ns();
		while (phase == PHASE_RAMP && started < total && l.dialling < window)
			slot_dial(&l, &l.slots[started++], &remote, now);

		if (phase == PHASE_RAMP && l.connected + l.failed == total) {
			ramp_report(&l, setup_ns);
			phase = PHASE_FIRST_ROUND;
			deadline = now + (uint64_t)(timeout_s * 1e9);
		}
		if (phase == PHASE_FIRST_ROUND &&
		    (l.round_answered >= l.round_sent || now >= deadline)) {
			round_report(&l);
			printf("holding connected=%zu\n", l.connected - l.lost);
			fflush(stdout);
			phase = PHASE_HOLD;
			hold_end = hold_s > 0 ? now + (uint64_t)(hold_s * 1e9) : UINT64_MAX;
			next_round = now + (uint64_t)(interval_s * 1e9);
			deadline = UINT64_MAX;
		}
		/* A round in progress: deadline is UINT64_MAX while it sends. */
		if ((phase == PHASE_HOLD || phase == PHASE_LAST_ROUND) && pumping &&
		    round_pump(&l, now)) {
			pumping = false;
			deadline = now + (uint64_t)(timeout_s * 1e9);
		}
		bool round_over = !pumping && deadline != UINT64_MAX &&
				  (l.round_answered >= l.round_sent || now >= deadline);
		if (phase == PHASE_HOLD && round_over) {
			round_report(&l);
			deadline = UINT64_MAX;
		}
		if (phase == PHASE_HOLD && (stop_requested || now >= hold_end)) {
			if (pumping || deadline != UINT64_MAX)
				round_report(&l);
			printf("final round=%u\n", round + 1);
			fflush(stdout);
			phase = PHASE_LAST_ROUND;
			round_begin(&l, ++round, now);
			pumping = true;
			deadline = UINT64_MAX;
			continue;
		} else if (phase == PHASE_HOLD && now >= next_round) {
			if (pumping || deadline != UINT64_MAX)
				round_report(&l);
			round_begin(&l, ++round, now);
			pumping = true;
			deadline = UINT64_MAX;
			next_round = now + (uint64_t)(interval_s * 1e9);
			continue;
		}
		if (phase == PHASE_LAST_ROUND && round_over) {
			round_report(&l);
			break;
		}

		uint64_t wake = timerheap_next_expiry(&l.timers);
		if (deadline < wake)
			wake = deadline;
		if (phase == PHASE_HOLD && next_round < wake)
			wake = next_round;
		if (pumping && now + 1000000 < wake)
			wake = now + 1000000;
		if (phase == PHASE_HOLD && hold_end < wake)
			wake = hold_end;
		int timeout_ms = wake == UINT64_MAX ? 1000
				 : wake <= now	    ? 0
						    : (int)((wake - now + 999999) / 1000000);
		if (timeout_ms > 1000)
			timeout_ms = 1000;
		int nev = epoll_wait(epfd, events, EVENTS_MAX, timeout_ms);
		now = now_ns();
		for (int i = 0; i < nev; i++)
			slot_read(&l, events[i].data.ptr, now);
		struct timerheap_node *node;
		while ((node = timerheap_first(&l.timers)) && node->expiry <= now) {
			struct slot *s =
			    (struct slot *)(void *)((char *)node - offsetof(struct slot, timer));
			timerheap_remove(&l.timers, node);
			quic_endpoint_handle_expiry(s->ep, now);
			slot_settle(&l, s, now);
		}
	}
	printf("done connected=%zu failed=%zu closed=%zu answered_last_round=%zu\n", l.connected,
	       l.failed, l.lost, l.round_answered);
	fflush(stdout);
	status = l.failed == 0 && l.lost == 0 && l.round_answered == l.connected ? 0 : 1;
	l.closing = true;

out:
	for (size_t i = 0; l.slots && i < total; i++) {
		struct slot *s = &l.slots[i];
		if (s->conn) {
			quic_conn_close(s->conn, 0, now_ns());
			quic_endpoint_flush(s->ep, now_ns());
		}
		quic_endpoint_del(s->ep);
		if (s->fd >= 0)
			close(s->fd);
		identity_wipe(&s->identity);
	}
	if (epfd >= 0)
		close(epfd);
	timerheap_free(&l.timers);
	free(l.slots);
	free(l.rtts);
	return status;
}
