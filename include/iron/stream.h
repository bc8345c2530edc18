/* A byte stream over TCP, optionally inside TLS, on the libuv loop: what
 * relay connections run on, client side (`iron serve`) and server side
 * (`iron relay`). Reads arrive as plaintext chunks; writes are copied and
 * queued, with a bound on what may wait.
 *
 * TLS clients check the server's X.509 certificate chain against the
 * system's CA store and its name against the host name asked for. TLS
 * servers take a certificate chain and key from PEM files, which can be
 * loaded again (an ACME client renewing them) without touching open
 * streams. */
#ifndef IRON_STREAM_H
#define IRON_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct stream;

/* Server credentials: a certificate chain and its key. */
struct stream_tls_server;

/* Loads PEM cert and key files. Returns 0, or a negative errno with a
 * one-line reason in err. */
int stream_tls_server_load(const char *cert_file, const char *key_file,
			   struct stream_tls_server **out, char *err, size_t err_cap);
/* Streams keep a reference: freeing with streams open is fine. NULL ok. */
void stream_tls_server_unref(struct stream_tls_server *tls);

struct stream_callbacks {
	void *user;
	/* The stream is ready for application data: TCP connected (client)
	 * and the TLS handshake done when there is TLS. */
	void (*ready)(void *user, struct stream *s);
	/* Plaintext bytes arrived; valid only during the call. The callee
	 * may call stream_close() from here (no more calls follow). */
	void (*data)(void *user, struct stream *s, const uint8_t *data, size_t len);
	/* The write queue fell to at most half its limit after being over
	 * it. May be NULL. */
	void (*writable)(void *user, struct stream *s);
	/* The stream ended: err 0 for an orderly end from the other side,
	 * else a negative errno (-ETIMEDOUT, -ECONNRESET, -EPROTO for TLS,
	 * ...), with a one-line reason. Not called after stream_close(). The
	 * stream is freed after this returns. */
	void (*closed)(void *user, struct stream *s, int err, const char *reason);
};

/* Connects to addr. tls_host NULL: plain TCP; else TLS with tls_host as the
 * SNI name and the name the certificate must hold. Returns 0 (callbacks
 * follow) or a negative errno. */
int stream_connect(uv_loop_t *loop, const struct sockaddr *addr, const char *tls_host,
		   const struct stream_callbacks *cb, struct stream **out);

/* Trusts the CA certificates of a PEM file as well as the system's, for
 * every TLS client stream opened after the call (a private relay's CA;
 * `iron serve` takes it from SSL_CERT_FILE). The file is checked now and
 * parsed, with the system store, at the first TLS connection; the system
 * bundle itself is not added twice. Returns 0, or a negative errno with a
 * one-line reason in err. */
int stream_client_add_ca_file(const char *pem_file, char *err, size_t err_cap);

/* Accepts a pending connection on a listening TCP handle. tls NULL: plain
 * TCP. Returns 0 or a negative errno (nothing to accept, out of memory). */
int stream_accept(uv_stream_t *listener, struct stream_tls_server *tls,
		  const struct stream_callbacks *cb, struct stream **out);

/* Queues bytes (copied). A write the socket refuses ends the stream: the
 * closed callback then runs before this returns (-EPIPE or the error),
 * so a caller must not touch its own per-stream state afterwards without
 * checking. Returns 0, or -ENOBUFS when the queue would pass
 * its limit (nothing queued; an empty queue takes any write), or -EPIPE
 * once the stream is closing. */
int stream_write(struct stream *s, const uint8_t *data, size_t len);
/* Two pieces as one write (a head and a payload). */
int stream_write2(struct stream *s, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* The bytes queued and not yet taken by the kernel; the queue limit. */
size_t stream_queued(const struct stream *s);
void stream_set_queue_limit(struct stream *s, size_t limit); /* default 4 MiB */

/* Stops and restarts reading (backpressure). */
void stream_pause(struct stream *s);
void stream_resume(struct stream *s);

/* Closes now: queued bytes are sent if the socket takes them at once (TLS
 * close_notify included), else dropped. No callback follows; the memory is
 * freed once libuv has closed the socket. NULL ok. */
void stream_close(struct stream *s);

/* The other side's address. */
const struct sockaddr *stream_peer(const struct stream *s);
bool stream_is_tls(const struct stream *s);

void stream_set_user(struct stream *s, void *user);

#endif
