/* streamhold: holds iron/packet/0 streams open against a daemon, the way
 * an attacker would pin its memory (issue 15, item 1). Dials the daemon
 * from N fresh keys, one QUIC connection each (at most W handshakes at a
 * time) offering only iron/packet/0; on each connection it opens as many
 * bidirectional streams as the daemon allows and writes B bytes on each,
 * a packet that never ends (no FIN). Streams the daemon stops are
 * answered as RFC 9000 asks (ngtcp2 sends RESET_STREAM); with --refill a
 * new stream takes the place of each one that closes, and with --redial a
 * new connection (a new key) the place of each one the daemon closes.
 *
 *   streamhold --peer ID --connect ADDR:PORT -n N [-w W] [-b B] [-s S]
 *              [--hold SECONDS] [--refill] [--redial]
 *
 * -s caps the streams opened per connection (default: no cap). --hold
 * keeps everything open that many seconds after the last handshake ended
 * (default: until SIGINT or SIGTERM); then every connection is closed.
 *
 * Prints "holding: ..." once every dial has ended (connected or failed),
 * and "done: ..." at the end, with the counts:
 *   connected, failed       handshakes (redials included)
 *   streams                 streams opened
 *   reset                   streams the daemon stopped or reset
 *   closed_by_peer          connections the daemon closed
 * Exit status 0, 1 when no connection came up, 2 on bad usage. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "iron/identity.h"
#include "iron/log.h"
#include "iron/netaddr.h"
#include "iron/tls.h"

#define CONNS_MAX    4096
#define WINDOW_MAX   256
#define RECV_BATCH   32
#define WRITE_BURST  256
#define UDP_PAYLOAD  1452
#define CID_LEN	     8
#define KEEPALIVE_NS (2ull * NGTCP2_SECONDS)

struct slot {
	bool started, established, closed, failed;
	bool redialled; /* not the slot's first connection */
	int fd;
	struct netaddr local, remote;
	struct iron_identity identity;
	ngtcp2_conn *conn;
	struct tls_context *ctx; /* holds this connection's key */
	struct tls_session *tls;
	int64_t cur_id; /* a stream whose bytes are not all written, or -1 */
	size_t cur_off;
	unsigned opened;
};

static struct {
	size_t bytes;
	unsigned max_streams; /* per connection; 0: no cap */
	bool refill, redial;
	unsigned long streams, reset, closed_by_peer;
} opt;

/* The bytes of every stream: ngtcp2 keeps pointers into them until they
 * are acknowledged, so they live as long as the program. */
static uint8_t pattern[1500];

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_rand(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
	(void)ctx;
	randombytes_buf(dest, len);
}

static int on_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t len, void *user)
{
	(void)conn;
	(void)user;
	randombytes_buf(cid->data, len);
	cid->datalen = len;
	randombytes_buf(token, NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static int on_handshake_completed(ngtcp2_conn *conn, void *user)
{
	struct slot *s = user;
	(void)conn;
	s->established = true;
	return 0;
}

static int on_stream_reset(ngtcp2_conn *conn, int64_t id, uint64_t size, uint64_t code, void *user,
			   void *stream_user)
{
	(void)conn;
	(void)id;
	(void)size;
	(void)code;
	(void)user;
	(void)stream_user;
	opt.reset++;
	return 0;
}

static int on_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t id, uint64_t code, void *user,
			   void *stream_user)
{
	struct slot *s = user;
	(void)conn;
	(void)flags;
	(void)code;
	(void)stream_user;
	if (s->cur_id == id)
		s->cur_id = -1;
	return 0;
}

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	struct slot *s = ref->user_data;
	return s->conn;
}

static void slot_end(struct slot *s, bool tell)
{
	if (s->conn && tell && !s->closed) {
		ngtcp2_connection_close_error ccerr;
		ngtcp2_path_storage ps;
		ngtcp2_pkt_info pi;
		uint8_t out[UDP_PAYLOAD];
		ngtcp2_connection_close_error_set_application_error(&ccerr, 0, NULL, 0);
		ngtcp2_path_storage_zero(&ps);
		ngtcp2_ssize n = ngtcp2_conn_write_connection_close(s->conn, &ps.path, &pi, out,
								    sizeof(out), &ccerr, now_ns());
		if (n > 0)
			sendto(s->fd, out, (size_t)n, 0, &s->remote.sa, netaddr_len(&s->remote.sa));
	}
	if (s->conn)
		ngtcp2_conn_del(s->conn);
	s->conn = NULL;
	tls_session_del(s->tls);
	s->tls = NULL;
	tls_context_del(s->ctx);
	s->ctx = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	identity_wipe(&s->identity);
	s->closed = true;
}

static int slot_start(struct slot *s, const struct iron_id *peer, const struct netaddr *remote)
{
	ngtcp2_callbacks cb = {
	    .client_initial = ngtcp2_crypto_client_initial_cb,
	    .recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	    .encrypt = ngtcp2_crypto_encrypt_cb,
	    .decrypt = ngtcp2_crypto_decrypt_cb,
	    .hp_mask = ngtcp2_crypto_hp_mask_cb,
	    .recv_retry = ngtcp2_crypto_recv_retry_cb,
	    .rand = on_rand,
	    .get_new_connection_id = on_new_cid,
	    .update_key = ngtcp2_crypto_update_key_cb,
	    .delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb,
	    .delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	    .get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	    .version_negotiation = ngtcp2_crypto_version_negotiation_cb,
	    .handshake_completed = on_handshake_completed,
	    .stream_reset = on_stream_reset,
	    .stream_close = on_stream_close,
	};
	ngtcp2_settings settings;
	ngtcp2_transport_params params;
	ngtcp2_cid dcid, scid;
	ngtcp2_path path;
	socklen_t len;
	int rc;

	bool again = s->started;

	memset(s, 0, sizeof(*s));
	s->redialled = again;
	s->fd = -1;
	s->cur_id = -1;
	s->started = true;
	s->remote = *remote;
	identity_generate(&s->identity);
	rc = tls_context_new(&s->identity, &s->ctx);
	if (rc < 0)
		return rc;
	s->fd = socket(remote->sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	s->local.sa.sa_family = remote->sa.sa_family;
	len = netaddr_len(&s->local.sa);
	if (s->fd < 0 || bind(s->fd, &s->local.sa, len) != 0 ||
	    getsockname(s->fd, &s->local.sa, &len) != 0)
		return -errno;
	ngtcp2_settings_default(&settings);
	settings.initial_ts = now_ns();
	settings.max_tx_udp_payload_size = UDP_PAYLOAD;
	settings.no_tx_udp_payload_size_shaping = 1;
	settings.no_pmtud = 1;
	ngtcp2_transport_params_default(&params);
	params.initial_max_data = 1 << 20;
	params.initial_max_stream_data_bidi_local = 1 << 16;
	params.max_idle_timeout = 60 * NGTCP2_SECONDS;
	randombytes_buf(dcid.data, CID_LEN);
	dcid.datalen = CID_LEN;
	randombytes_buf(scid.data, CID_LEN);
	scid.datalen = CID_LEN;
	path = (ngtcp2_path){
	    .local = {.addr = &s->local.sa, .addrlen = netaddr_len(&s->local.sa)},
	    .remote = {.addr = &s->remote.sa, .addrlen = netaddr_len(&s->remote.sa)},
	};
	rc = ngtcp2_conn_client_new(&s->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb,
				    &settings, &params, NULL, s);
	if (rc != 0) {
		s->conn = NULL;
		return -EINVAL;
	}
	struct tls_session_params tp = {
	    .is_client = true,
	    .expected_peer = peer,
	    .alpns = TLS_ALPN_FLAG(TLS_ALPN_PACKET0),
	    .get_conn = get_conn,
	    .user_data = s,
	};
	rc = tls_session_new(s->ctx, &tp, &s->tls);
	if (rc < 0)
		return rc;
	ngtcp2_conn_set_tls_native_handle(s->conn, tls_session_native_handle(s->tls));
	return 0;
}

static bool wants_stream(const struct slot *s)
{
	if (!s->established || s->cur_id >= 0)
		return false;
	if (opt.max_streams && s->opened >= opt.max_streams)
		return false;
	/* Without --refill, only the daemon's first grant. */
	if (!opt.refill &&
	    s->opened >= ngtcp2_conn_get_remote_transport_params(s->conn)->initial_max_streams_bidi)
		return false;
	return ngtcp2_conn_get_streams_bidi_left(s->conn) > 0;
}

/* Writes what the connection has to send: new streams with their bytes
 * (no FIN), acknowledgements, keep-alives. Returns false when the
 * connection is over. */
static bool slot_write(struct slot *s, uint64_t now)
{
	uint8_t out[UDP_PAYLOAD];
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;

	ngtcp2_path_storage_zero(&ps);
	for (int i = 0; i < WRITE_BURST; i++) {
		ngtcp2_ssize datalen = -1, n;
		ngtcp2_vec vec;
		int64_t id = -1;

		if (wants_stream(s) && ngtcp2_conn_open_bidi_stream(s->conn, &id, NULL) == 0) {
			s->cur_id = id;
			s->cur_off = 0;
			s->opened++;
			opt.streams++;
		}
		id = s->cur_id;
		vec.base = pattern + s->cur_off;
		vec.len = opt.bytes - s->cur_off;
		/* The last round closes the packet being filled: no other
		 * ngtcp2 call may come while one is open. */
		uint32_t flags = i + 1 < WRITE_BURST ? NGTCP2_WRITE_STREAM_FLAG_MORE : 0;
		n = ngtcp2_conn_writev_stream(s->conn, &ps.path, &pi, out, sizeof(out), &datalen,
					      flags, id, id >= 0 ? &vec : NULL, id >= 0 ? 1 : 0,
					      now);
		if (datalen > 0) {
			s->cur_off += (size_t)datalen;
			if (s->cur_off == opt.bytes)
				s->cur_id = -1;
		}
		if (n == NGTCP2_ERR_WRITE_MORE)
			continue;
		if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR ||
		    n == NGTCP2_ERR_STREAM_NOT_FOUND) {
			s->cur_id = -1;
			continue;
		}
		if (n < 0)
			return false;
		if (n == 0)
			break;
		sendto(s->fd, out, (size_t)n, 0, &s->remote.sa, netaddr_len(&s->remote.sa));
	}
	ngtcp2_conn_update_pkt_tx_time(s->conn, now);
	return true;
}

static void slot_read(struct slot *s, uint64_t now)
{
	uint8_t buf[2048];
	ngtcp2_pkt_info pi = {0};

	for (int k = 0; k < RECV_BATCH && !s->closed; k++) {
		struct netaddr from;
		socklen_t from_len = sizeof(from);
		ssize_t len = recvfrom(s->fd, buf, sizeof(buf), 0, &from.sa, &from_len);
		if (len < 0)
			return;
		ngtcp2_path path = {
		    .local = {.addr = &s->local.sa, .addrlen = netaddr_len(&s->local.sa)},
		    .remote = {.addr = &from.sa, .addrlen = from_len},
		};
		bool was = s->established;
		int rv = ngtcp2_conn_read_pkt(s->conn, &path, &pi, buf, (size_t)len, now);
		if (rv != 0) {
			if (rv == NGTCP2_ERR_DRAINING && s->established)
				opt.closed_by_peer++;
			s->failed = !s->established;
			slot_end(s, false);
			return;
		}
		if (!was && s->established)
			ngtcp2_conn_set_keep_alive_timeout(s->conn, KEEPALIVE_NS);
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: streamhold --peer ID --connect ADDR:PORT -n N [-w W] [-b BYTES] "
			"[-s STREAMS] [--hold SECONDS] [--refill] [--redial]\n");
	return 2;
}

static void report(const char *what, unsigned long connected, unsigned long failed)
{
	printf("%s: %lu connected, %lu failed, %lu streams, %lu reset, %lu closed_by_peer\n", what,
	       connected, failed, opt.streams, opt.reset, opt.closed_by_peer);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static struct slot slots[CONNS_MAX];
	static struct pollfd pfds[CONNS_MAX];
	const char *peer_text = NULL, *connect_text = NULL;
	unsigned long total = 0, window = 32, hold_s = 0;
	struct iron_id peer;
	struct netaddr remote;
	uint64_t hold_until = 0;
	bool holding = false;

	if (sodium_init() < 0)
		return 1;
	log_configure(LOG_ERROR, NULL);
	opt.bytes = 1000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--refill") == 0 || strcmp(a, "--redial") == 0) {
			*(a[2] == 'r' && a[4] == 'f' ? &opt.refill : &opt.redial) = true;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (strcmp(a, "--peer") == 0)
			peer_text = v;
		else if (strcmp(a, "--connect") == 0)
			connect_text = v;
		else if (strcmp(a, "-n") == 0)
			total = strtoul(v, NULL, 10);
		else if (strcmp(a, "-w") == 0)
			window = strtoul(v, NULL, 10);
		else if (strcmp(a, "-b") == 0)
			opt.bytes = strtoul(v, NULL, 10);
		else if (strcmp(a, "-s") == 0)
			opt.max_streams = (unsigned)strtoul(v, NULL, 10);
		else if (strcmp(a, "--hold") == 0)
			hold_s = strtoul(v, NULL, 10);
		else
			return usage();
	}
	if (!peer_text || !connect_text || total == 0 || total > CONNS_MAX || window == 0 ||
	    window > WINDOW_MAX || opt.bytes == 0 || opt.bytes > sizeof(pattern) ||
	    id_parse(peer_text, &peer, NULL) != 0 || netaddr_parse(connect_text, &remote) != 0)
		return usage();
	memset(pattern, 0x60, sizeof(pattern));
	/* One socket per connection. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < total + 64) {
		rl.rlim_cur = rl.rlim_max < total + 64 ? rl.rlim_max : total + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	unsigned long started = 0, connected = 0, failed = 0, handshaking = 0, first_dials = 0;
	while (!stop) {
		uint64_t now = now_ns(), next = now + 100 * NGTCP2_MILLISECONDS;

		/* Start dials while the window has room; with --redial, again
		 * in the slots of connections the daemon closed. */
		while (started < total && handshaking < window) {
			struct slot *s = &slots[started++];
			if (slot_start(s, &peer, &remote) < 0 || !slot_write(s, now)) {
				failed++;
				first_dials++;
				slot_end(s, false);
				continue;
			}
			handshaking++;
		}
		for (unsigned long i = 0; opt.redial && i < started && handshaking < window; i++) {
			struct slot *s = &slots[i];
			/* A dial that failed is not tried again. */
			if (!s->closed || !s->established)
				continue;
			if (slot_start(s, &peer, &remote) < 0 || !slot_write(s, now)) {
				failed++;
				slot_end(s, false);
				continue;
			}
			handshaking++;
		}
		for (unsigned long i = 0; i < started; i++) {
			struct slot *s = &slots[i];
			if (s->closed)
				continue;
			uint64_t expiry = ngtcp2_conn_get_expiry(s->conn);
			if (expiry < next)
				next = expiry;
		}
		for (unsigned long i = 0; i < started; i++)
			pfds[i] = (struct pollfd){.fd = slots[i].closed ? -1 : slots[i].fd,
						  .events = POLLIN};
		poll(pfds, (nfds_t)started,
		     next <= now ? 0 : (int)((next - now + 999999) / 1000000));
		now = now_ns();
		for (unsigned long i = 0; i < started; i++) {
			struct slot *s = &slots[i];
			bool was = s->established;
			if (s->closed)
				continue;
			if (pfds[i].revents & POLLIN)
				slot_read(s, now);
			if (!s->closed && ngtcp2_conn_get_expiry(s->conn) <= now &&
			    ngtcp2_conn_handle_expiry(s->conn, now) != 0) {
				s->failed = !s->established;
				slot_end(s, false);
			}
			if (!s->closed && !slot_write(s, now)) {
				s->failed = !s->established;
				slot_end(s, false);
			}
			if (!was && s->established) {
				connected++;
				handshaking--;
				first_dials += !s->redialled;
			} else if (!was && s->closed) {
				failed++;
				handshaking--;
				first_dials += !s->redialled;
			}
		}
		if (!holding && first_dials == total) {
			holding = true;
			report("holding", connected, failed);
			if (hold_s)
				hold_until = now + hold_s * 1000000000ull;
		}
		if (hold_until && now >= hold_until)
			break;
	}
	for (unsigned long i = 0; i < started; i++)
		if (!slots[i].closed)
			slot_end(&slots[i], true);
	report("done", connected, failed);
	return connected > 0 ? 0 : 1;
}
