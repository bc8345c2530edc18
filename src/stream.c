#define LOG_MODULE "stream"
#include "iron/stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "iron/log.h"
#include "iron/netaddr.h"

#define DEFAULT_QUEUE_LIMIT (4u << 20)
#define READ_BUFFER_SIZE    (64u << 10)

struct stream_tls_server {
	unsigned refs;
	gnutls_certificate_credentials_t credentials;
};

enum stream_state {
	STREAM_CONNECTING,
	STREAM_HANDSHAKING,
	STREAM_OPEN,
	STREAM_CLOSING,
};

struct stream {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	struct stream_callbacks cb;
	enum stream_state state;
	gnutls_session_t session; /* NULL: plain TCP */
	struct stream_tls_server *server_tls;
	char *host;
	/* Ciphertext of the current read, handed to GnuTLS by pull(). */
	const uint8_t *pull_data;
	size_t pull_len;
	size_t queued, limit;
	bool blocked; /* a write was refused since the queue last drained */
	bool paused;
	struct netaddr peer;
};

/* One write: the request and its bytes in one allocation. */
struct stream_write {
	uv_write_t req;
	struct stream *stream;
	size_t len;
	uint8_t data[];
};

/* Reads land here and are handed on before the next read: one buffer for
 * every stream (one thread), so an idle stream holds no read buffer. The
 * memory of a stream outlives a stream_close() inside a callback: libuv
 * frees it only in the close callback, on a later turn of the loop. */
static uint8_t read_buffer[READ_BUFFER_SIZE];
static uint8_t plain_buffer[READ_BUFFER_SIZE];

static gnutls_certificate_credentials_t client_credentials;
static int client_credentials_error;

static void on_close(uv_handle_t *handle)
{
	struct stream *s = handle->data;
	if (s->session)
		gnutls_deinit(s->session);
	stream_tls_server_unref(s->server_tls);
	free(s->host);
	free(s);
}

/* Ends the stream from inside: tells the user once, then closes. */
static void fail(struct stream *s, int err, const char *reason)
{
	if (s->state == STREAM_CLOSING)
		return;
	s->state = STREAM_CLOSING;
	uv_read_stop((uv_stream_t *)&s->tcp);
	if (s->cb.closed)
		s->cb.closed(s->cb.user, s, err, reason);
	uv_close((uv_handle_t *)&s->tcp, on_close);
}

static void on_write(uv_write_t *req, int status)
{
	struct stream_write *w = (struct stream_write *)req;
	struct stream *s = w->stream;
	s->queued -= w->len;
	free(w);
	if (s->state == STREAM_CLOSING)
		return;
	if (status < 0) {
		fail(s, status == UV_ECANCELED ? -ECANCELED : status, uv_strerror(status));
		return;
	}
	if (s->blocked && s->queued <= s->limit / 2) {
		s->blocked = false;
		if (s->cb.writable)
			s->cb.writable(s->cb.user, s);
	}
}

/* Sends bytes on the socket: at once when nothing waits and the kernel
 * takes them, the rest queued. Never refuses (limits are checked above). */
static int send_raw(struct stream *s, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t total = alen + blen;
	size_t done = 0;
	if (s->queued == 0) {
		uv_buf_t bufs[2] = {uv_buf_init((char *)a, (unsigned)alen),
				    uv_buf_init((char *)b, (unsigned)blen)};
		int n = uv_try_write((uv_stream_t *)&s->tcp, bufs, blen ? 2 : 1);
		if (n > 0)
			done = (size_t)n;
		else if (n < 0 && n != UV_EAGAIN)
			return n;
		if (done == total)
			return 0;
	}
	if (s->state == STREAM_CLOSING)
		return -EPIPE;
	struct stream_write *w = malloc(sizeof(*w) + total - done);
	if (!w)
		return -ENOMEM;
	w->stream = s;
	w->len = total - done;
	size_t off = 0;
	if (done < alen) {
		memcpy(w->data, a + done, alen - done);
		off = alen - done;
		if (blen)
			memcpy(w->data + off, b, blen);
	} else {
		memcpy(w->data, b + (done - alen), total - done);
	}
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
	int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &buf, 1, on_write);
	if (rc < 0) {
		free(w);
		return rc;
	}
	s->queued += w->len;
	return 0;
}

static ssize_t tls_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	struct stream *s = ptr;
	int rc = send_raw(s, data, len, NULL, 0);
	if (rc < 0) {
		gnutls_transport_set_errno(s->session, EPIPE);
		return -1;
	}
	return (ssize_t)len;
}

static ssize_t tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct stream *s = ptr;
	if (s->pull_len == 0) {
		gnutls_transport_set_errno(s->session, EAGAIN);
		return -1;
	}
	size_t n = len < s->pull_len ? len : s->pull_len;
	memcpy(data, s->pull_data, n);
	s->pull_data += n;
	s->pull_len -= n;
	return (ssize_t)n;
}

/* Hands plaintext to the user. Returns false when the stream closed. */
static bool deliver(struct stream *s, const uint8_t *data, size_t len)
{
	s->cb.data(s->cb.user, s, data, len);
	return s->state != STREAM_CLOSING;
}

static bool become_ready(struct stream *s)
{
	s->state = STREAM_OPEN;
	if (s->cb.ready)
		s->cb.ready(s->cb.user, s);
	return s->state != STREAM_CLOSING;
}

static void tls_progress(struct stream *s)
{
	if (s->state == STREAM_HANDSHAKING) {
		int rc = gnutls_handshake(s->session);
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
			return;
		if (rc < 0) {
			static char reason[160];
			if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
				gnutls_datum_t text = {0};
				unsigned status = gnutls_session_get_verify_cert_status(s->session);
				gnutls_certificate_verification_status_print(
				    status, gnutls_certificate_type_get(s->session), &text, 0);
				snprintf(reason, sizeof(reason), "TLS certificate of %s: %s",
					 s->host ? s->host : "peer",
					 text.data ? (char *)text.data : "not trusted");
				gnutls_free(text.data);
				/* GnuTLS ends each sentence with a space. */
				size_t n = strlen(reason);
				while (n > 0 && reason[n - 1] == ' ')
					reason[--n] = '\0';
			} else {
				snprintf(reason, sizeof(reason), "TLS handshake: %s",
					 gnutls_strerror(rc));
			}
			fail(s, -EPROTO, reason);
			return;
		}
		if (!become_ready(s))
			return;
	}
	while (s->state == STREAM_OPEN) {
		ssize_t n = gnutls_record_recv(s->session, plain_buffer, sizeof(plain_buffer));
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			return;
		if (n == 0) {
			fail(s, 0, "closed by the other side");
			return;
		}
		if (n == GNUTLS_E_REHANDSHAKE || n == GNUTLS_E_WARNING_ALERT_RECEIVED ||
		    n == GNUTLS_E_GOT_APPLICATION_DATA)
			continue;
		if (n == GNUTLS_E_PREMATURE_TERMINATION) {
			fail(s, -ECONNRESET, "connection closed without TLS close_notify");
			return;
		}
		if (n < 0) {
			fail(s, -EPROTO, gnutls_strerror((int)n));
			return;
		}
		if (!deliver(s, plain_buffer, (size_t)n))
			return;
	}
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	(void)suggested;
	*buf = uv_buf_init((char *)read_buffer, sizeof(read_buffer));
}

static void on_read(uv_stream_t *handle, ssize_t nread, const uv_buf_t *buf)
{
	struct stream *s = handle->data;
	(void)buf;
	if (nread == 0 || s->state == STREAM_CLOSING)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			fail(s, s->session && s->state == STREAM_OPEN ? -ECONNRESET : 0,
			     s->session ? "connection closed without TLS close_notify"
					: "closed by the other side");
		else
			fail(s, (int)nread, uv_strerror((int)nread));
		return;
	}
	if (!s->session) {
		deliver(s, read_buffer, (size_t)nread);
		return;
	}
	s->pull_data = read_buffer;
	s->pull_len = (size_t)nread;
	tls_progress(s);
	s->pull_len = 0;
}

static struct stream *stream_alloc(const struct stream_callbacks *cb)
{
	struct stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cb = *cb;
	s->limit = DEFAULT_QUEUE_LIMIT;
	s->tcp.data = s;
	return s;
}

static int start_tls(struct stream *s, unsigned flags)
{
	int rc = gnutls_init(&s->session, flags | GNUTLS_NONBLOCK);
	if (rc < 0) {
		s->session = NULL;
		return -ENOMEM;
	}
	rc = gnutls_set_default_priority(s->session);
	if (rc == 0) {
		if (flags & GNUTLS_CLIENT) {
			rc = gnutls_credentials_set(s->session, GNUTLS_CRD_CERTIFICATE,
						    client_credentials);
			if (rc == 0)
				rc = gnutls_server_name_set(s->session, GNUTLS_NAME_DNS, s->host,
							    strlen(s->host));
			if (rc == 0)
				gnutls_session_set_verify_cert(s->session, s->host, 0);
		} else {
			rc = gnutls_credentials_set(s->session, GNUTLS_CRD_CERTIFICATE,
						    s->server_tls->credentials);
		}
	}
	if (rc < 0)
		return -EINVAL;
	gnutls_transport_set_ptr(s->session, s);
	gnutls_transport_set_push_function(s->session, tls_push);
	gnutls_transport_set_pull_function(s->session, tls_pull);
	s->state = STREAM_HANDSHAKING;
	return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct stream *s = req->data;
	if (s->state == STREAM_CLOSING)
		return;
	if (status < 0) {
		fail(s, status, uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&s->tcp, 1);
	int rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
	if (rc < 0) {
		fail(s, rc, uv_strerror(rc));
		return;
	}
	if (!s->host) {
		become_ready(s);
		return;
	}
	rc = start_tls(s, GNUTLS_CLIENT);
	if (rc < 0) {
		fail(s, rc, "TLS session could not be set up");
		return;
	}
	tls_progress(s); /* sends the ClientHello */
}

/* The system's CA store, and the PEM files added to it, are parsed at the
 * first TLS connection, not at start: parsed, Debian's bundle takes some
 * 3.5 MB, which a node with plain-HTTP relays (or none) never needs. */
#define SYSTEM_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_CA_FILES	 4
#define CA_FILE_MAX	 (16u << 20)
static char *ca_files[MAX_CA_FILES];
static size_t n_ca_files;

static int add_ca_file(const char *pem_file)
{
	int n = gnutls_certificate_set_x509_trust_file(client_credentials, pem_file,
						       GNUTLS_X509_FMT_PEM);
	if (n <= 0)
		log_warn("no CA certificate could be read from %s: %s", pem_file,
			 n < 0 ? gnutls_strerror(n) : "none in the file");
	return n;
}

static int load_client_credentials(void)
{
	if (client_credentials || client_credentials_error)
		return client_credentials_error;
	if (gnutls_certificate_allocate_credentials(&client_credentials) < 0) {
		client_credentials = NULL;
		return -ENOMEM;
	}
	int n = gnutls_certificate_set_x509_system_trust(client_credentials);
	if (n <= 0)
		log_warn("no CA certificates in the system store: TLS relays cannot be verified "
			 "(install ca-certificates)");
	for (size_t i = 0; i < n_ca_files; i++)
		add_ca_file(ca_files[i]);
	return 0;
}

/* Whether two paths name one file (SSL_CERT_FILE is often the system
 * bundle itself: parsing it twice would double the memory it takes). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int stream_client_add_ca_file(const char *pem_file, char *err, size_t err_cap)
{
	/* Checked now, so that a wrong name fails at start; parsed later. */
	FILE *f = fopen(pem_file, "re");
	if (!f) {
		snprintf(err, err_cap, "cannot read CA certificates from %s: %s", pem_file,
			 strerror(errno));
		return -ENOENT;
	}
	static const char marker[] = "-----BEGIN CERTIFICATE-----";
	char chunk[4096 + sizeof(marker)];
	size_t keep = 0, total = 0, got;
	bool found = false;
	while (!found && total < CA_FILE_MAX &&
	       (got = fread(chunk + keep, 1, sizeof(chunk) - 1 - keep, f)) > 0) {
		total += got;
		chunk[keep + got] = '\0';
		found = strstr(chunk, marker) != NULL;
		/* The marker may straddle two reads. */
		size_t len = keep + got;
		keep = len < sizeof(marker) - 1 ? len : sizeof(marker) - 1;
		memmove(chunk, chunk + len - keep, keep);
	}
	fclose(f);
	if (!found) {
		snprintf(err, err_cap, "no CA certificate in %s", pem_file);
		return -EINVAL;
	}
	if (same_file(pem_file, SYSTEM_CA_BUNDLE))
		return 0;
	if (n_ca_files == MAX_CA_FILES) {
		snprintf(err, err_cap, "too many CA files (at most %d)", MAX_CA_FILES);
		return -E2BIG;
	}
	char *copy = strdup(pem_file);
	if (!copy) {
		snprintf(err, err_cap, "out of memory");
		return -ENOMEM;
	}
	ca_files[n_ca_files++] = copy;
	/* Connections already made have loaded the rest: this one now. */
	if (client_credentials && add_ca_file(pem_file) <= 0) {
		snprintf(err, err_cap, "cannot read CA certificates from %s", pem_file);
		return -EINVAL;
	}
	return 0;
}

int stream_connect(uv_loop_t *loop, const struct sockaddr *addr, const char *tls_host,
		   const struct stream_callbacks *cb, struct stream **out)
{
	if (tls_host) {
		int rc = load_client_credentials();
		if (rc < 0)
			return rc;
	}
	struct stream *s = stream_alloc(cb);
	if (!s)
		return -ENOMEM;
	if (netaddr_set(&s->peer, addr) < 0) {
		free(s);
		return -EAFNOSUPPORT;
	}
	if (tls_host && !(s->host = strdup(tls_host))) {
		free(s);
		return -ENOMEM;
	}
	int rc = uv_tcp_init(loop, &s->tcp);
	if (rc < 0) {
		free(s->host);
		free(s);
		return rc;
	}
	s->state = STREAM_CONNECTING;
	s->connect_req.data = s;
	rc = uv_tcp_connect(&s->connect_req, &s->tcp, addr, on_connect);
	if (rc < 0) {
		s->state = STREAM_CLOSING;
		uv_close((uv_handle_t *)&s->tcp, on_close);
		return rc;
	}
	*out = s;
	return 0;
}

int stream_accept(uv_stream_t *listener, struct stream_tls_server *tls,
		  const struct stream_callbacks *cb, struct stream **out)
{
	struct stream *s = stream_alloc(cb);
	if (!s)
		return -ENOMEM;
	int rc = uv_tcp_init(listener->loop, &s->tcp);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->state = STREAM_CLOSING; /* until it is set up */
	rc = uv_accept(listener, (uv_stream_t *)&s->tcp);
	if (rc < 0)
		goto fail;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &sslen) == 0)
		netaddr_set(&s->peer, (struct sockaddr *)&ss);
	uv_tcp_nodelay(&s->tcp, 1);
	if (tls) {
		tls->refs++;
		s->server_tls = tls;
		rc = start_tls(s, GNUTLS_SERVER);
		if (rc < 0)
			goto fail;
	}
	rc = uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
	if (rc < 0)
		goto fail;
	*out = s;
	if (!tls)
		become_ready(s);
	return 0;
fail:
	uv_close((uv_handle_t *)&s->tcp, on_close);
	return rc;
}

int stream_write2(struct stream *s, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (s->state == STREAM_CLOSING)
		return -EPIPE;
	if (s->state != STREAM_OPEN)
		return -ENOTCONN;
	if (s->queued > 0 && s->queued + alen + blen > s->limit) {
		s->blocked = true;
		return -ENOBUFS;
	}
	int rc;
	if (!s->session) {
		rc = send_raw(s, a, alen, b, blen);
	} else {
		/* Corked: the two pieces go out in as few records as fit.
		 * push() never refuses, so nothing is left waiting. */
		gnutls_record_cork(s->session);
		ssize_t n = 0;
		if (alen)
			n = gnutls_record_send(s->session, a, alen);
		if (n >= 0 && blen)
			n = gnutls_record_send(s->session, b, blen);
		int u = gnutls_record_uncork(s->session, GNUTLS_RECORD_WAIT);
		rc = n < 0 || u < 0 ? -EPIPE : 0;
	}
	if (rc < 0 && rc != -ENOMEM) {
		char reason[96];
		snprintf(reason, sizeof(reason), "write: %s", strerror(-rc));
		fail(s, rc, reason);
	}
	return rc;
}

int stream_write(struct stream *s, const uint8_t *data, size_t len)
{
	return stream_write2(s, data, len, NULL, 0);
}

size_t stream_queued(const struct stream *s)
{
	return s->queued;
}

void stream_set_queue_limit(struct stream *s, size_t limit)
{
	s->limit = limit;
}

void stream_pause(struct stream *s)
{
	if (s->paused || s->state == STREAM_CLOSING)
		return;
	s->paused = true;
	uv_read_stop((uv_stream_t *)&s->tcp);
}

void stream_resume(struct stream *s)
{
	if (!s->paused || s->state == STREAM_CLOSING)
		return;
	s->paused = false;
	uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
}

void stream_close(struct stream *s)
{
	if (!s || s->state == STREAM_CLOSING)
		return;
	if (s->session && s->state == STREAM_OPEN)
		gnutls_bye(s->session, GNUTLS_SHUT_WR); /* close_notify, sent if it fits */
	s->state = STREAM_CLOSING;
	uv_read_stop((uv_stream_t *)&s->tcp);
	uv_close((uv_handle_t *)&s->tcp, on_close);
}

const struct sockaddr *stream_peer(const struct stream *s)
{
	return &s->peer.sa;
}

bool stream_is_tls(const struct stream *s)
{
	return s->session != NULL;
}

void stream_set_user(struct stream *s, void *user)
{
	s->cb.user = user;
}

int stream_tls_server_load(const char *cert_file, const char *key_file,
			   struct stream_tls_server **out, char *err, size_t err_cap)
{
	struct stream_tls_server *tls = calloc(1, sizeof(*tls));
	if (!tls) {
		snprintf(err, err_cap, "out of memory");
		return -ENOMEM;
	}
	if (gnutls_certificate_allocate_credentials(&tls->credentials) < 0) {
		free(tls);
		snprintf(err, err_cap, "out of memory");
		return -ENOMEM;
	}
	int rc = gnutls_certificate_set_x509_key_file(tls->credentials, cert_file, key_file,
						      GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		snprintf(err, err_cap, "cannot load TLS certificate %s and key %s: %s", cert_file,
			 key_file, gnutls_strerror(rc));
		gnutls_certificate_free_credentials(tls->credentials);
		free(tls);
		return rc == GNUTLS_E_FILE_ERROR ? -ENOENT : -EINVAL;
	}
	tls->refs = 1;
	*out = tls;
	return 0;
}

void stream_tls_server_unref(struct stream_tls_server *tls)
{
	if (!tls || --tls->refs > 0)
		return;
	gnutls_certificate_free_credentials(tls->credentials);
	free(tls);
}
