/* TLS 1.3 for QUIC with RFC 7250 raw public keys (SPEC section 10).
 *
 * Every GnuTLS call of the project lives behind this interface, so another
 * TLS library could be added without touching the QUIC code. A context
 * holds what an endpoint shares between its connections (our key as a raw
 * public key credential, the priority string); a session is the TLS state
 * of one QUIC connection, handed to ngtcp2 as its native TLS handle.
 *
 * The peer check runs inside the handshake: the peer must present exactly
 * one Ed25519 raw public key; a client also requires it to be the node ID it
 * dialled and an application protocol to have been selected; a server
 * requires a client key, selects iron/packet/1 over iron/packet/0 and,
 * when given an admission check, refuses a client key that the check
 * rejects (the inbound allow-list). A failed check aborts the handshake
 * with a TLS alert, and tls_session_failure() says why. */
#ifndef IRON_TLS_H
#define IRON_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2_crypto.h>

#include "iron/id.h"
#include "iron/identity.h"

/* Application protocols (ALPN) iron speaks. */
enum tls_alpn {
	TLS_ALPN_NONE = 0,
	TLS_ALPN_PACKET1 = 1, /* "iron/packet/1": IP packets in DATAGRAM frames */
	TLS_ALPN_PACKET0 = 2, /* "iron/packet/0": one stream per IP packet */
};
#define TLS_ALPN_FLAG(alpn) (1u << (alpn))

/* The ALPN identifier of a protocol ("iron/packet/1"), "" for none. */
const char *tls_alpn_name(enum tls_alpn alpn);

struct tls_context;
struct tls_session;

/* Creates a context. With an identity, its key is loaded as our raw public
 * key (client and server). Without one (NULL), the context can only make
 * client sessions that present no certificate (useful to test that servers
 * refuse such clients). Returns 0, -ENOMEM, or -EINVAL when GnuTLS refuses
 * the key or the priority string (logged). */
int tls_context_new(const struct iron_identity *identity, struct tls_context **out);

/* Frees a context; every session made from it must be gone. NULL is fine. */
void tls_context_del(struct tls_context *ctx);

struct tls_session_params {
	bool is_client;
	/* Client: the node ID dialled; the server's key must equal it. */
	const struct iron_id *expected_peer;
	/* Client: TLS_ALPN_FLAG() bits of the protocols offered, in the order
	 * packet/1, packet/0. */
	unsigned alpns;
	/* Client: one more protocol name offered after those, or NULL (tests
	 * use it to offer a protocol the server does not know). */
	const char *extra_alpn;
	/* Server: asked about the client's key once the client has proved
	 * that it holds it (after CertificateVerify); false refuses the
	 * client, whose handshake then never completes. NULL: every key
	 * is admitted. */
	bool (*admit)(void *admit_user, const struct iron_id *peer);
	void *admit_user;
	/* ngtcp2's way back from the TLS session to the connection:
	 * get_conn(conn_ref) must return the ngtcp2_conn, and
	 * conn_ref->user_data is user_data. */
	ngtcp2_crypto_get_conn get_conn;
	void *user_data;
};

/* Creates the TLS session of one QUIC connection, configured for ngtcp2
 * (ngtcp2_crypto_gnutls_configure_*_session). A server session needs a
 * context with a key. Returns 0, -ENOMEM, -EINVAL (no key for a server,
 * no protocol offered, GnuTLS failure, logged). */
int tls_session_new(struct tls_context *ctx, const struct tls_session_params *params,
		    struct tls_session **out);

/* Frees a session (after the ngtcp2_conn that uses it). NULL is fine. */
void tls_session_del(struct tls_session *session);

/* The native handle for ngtcp2_conn_set_tls_native_handle(). */
void *tls_session_native_handle(struct tls_session *session);

/* The peer's node ID once its key has passed the check, else NULL. */
const struct iron_id *tls_session_peer(const struct tls_session *session);

/* The protocol agreed on, TLS_ALPN_NONE before the handshake got that far. */
enum tls_alpn tls_session_alpn(const struct tls_session *session);

/* Why our side aborted the handshake ("peer key mismatch", "no common
 * application protocol", "<base32 ID> is not on the allow-list", ...), or
 * NULL when it did not; valid as long as the session. *error (may be NULL)
 * gets -EACCES for a key the admission check refused (send
 * TLS_ALERT_ACCESS_DENIED then), -EKEYREJECTED for an unacceptable peer
 * key, -EPROTO otherwise. */
const char *tls_session_failure(const struct tls_session *session, int *error);

/* TLS alert access_denied (RFC 8446 §6.2): a valid key, refused by access
 * control. GnuTLS maps no error code to it, so QUIC sends it by hand. */
#define TLS_ALERT_ACCESS_DENIED 49

/* The name of a TLS alert ("bad certificate"), for log lines and reasons. */
const char *tls_alert_name(uint8_t alert);

#endif
