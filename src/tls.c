#define LOG_MODULE "tls"
#include "iron/tls.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

#include "iron/encoding.h"
#include "iron/log.h"

/* TLS 1.3 only; AES-128-GCM is required for QUIC Initial packets; Ed25519
 * is the only signature a node key can make; raw public keys only, both
 * ways (RFC 7250); no middlebox compatibility mode (RFC 9001 §8.4). */
static const char tls_priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:-SIGN-ALL:+SIGN-EDDSA-ED25519:"
    "-CTYPE-ALL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK:%DISABLE_TLS13_COMPAT_MODE";

/* DER prefixes of an Ed25519 SubjectPublicKeyInfo (RFC 8410) and of the
 * unencrypted PKCS#8 private key holding the 32-byte seed. */
static const uint8_t spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
					0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
static const uint8_t pkcs8_prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
					 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
#define SPKI_LEN  (sizeof(spki_prefix) + IRON_ID_LEN)
#define PKCS8_LEN (sizeof(pkcs8_prefix) + IDENTITY_SEED_LEN)

/* iroh ≤ 1.0.3 sends this; the name never resolves (".invalid"). */
#define SNI_SUFFIX ".iroh.invalid"

struct tls_context {
	gnutls_certificate_credentials_t credentials;
	gnutls_priority_t priority;
	bool has_key;
};

struct tls_session {
	/* First member: gnutls_session_get_ptr() returns it (ngtcp2's rule),
	 * and the verify function gets from it back to this struct. */
	ngtcp2_crypto_conn_ref conn_ref;
	gnutls_session_t session;
	bool is_client;
	bool peer_verified;
	struct iron_id expected_peer;
	struct iron_id peer;
	bool (*admit)(void *admit_user, const struct iron_id *peer);
	void *admit_user;
	const char *failure;
	int failure_error;
	char failure_text[IRON_ID_BASE32_LEN + 32];
};

static const char *const alpn_names[] = {
    [TLS_ALPN_NONE] = "",
    [TLS_ALPN_PACKET1] = "iron/packet/1",
    [TLS_ALPN_PACKET0] = "iron/packet/0",
};

const char *tls_alpn_name(enum tls_alpn alpn)
{
	if ((unsigned)alpn >= sizeof(alpn_names) / sizeof(alpn_names[0]))
		return "";
	return alpn_names[alpn];
}

const char *tls_alert_name(uint8_t alert)
{
	const char *name = gnutls_alert_get_name((gnutls_alert_description_t)alert);
	return name ? name : "unknown alert";
}

static struct tls_session *session_of(gnutls_session_t session)
{
	ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(session);
	if (!ref)
		return NULL;
	return (struct tls_session *)(void *)((char *)ref - offsetof(struct tls_session, conn_ref));
}

static int fail(struct tls_session *ts, const char *why, int error)
{
	ts->failure = why;
	ts->failure_error = error;
	log_debug("%s handshake aborted: %s", ts->is_client ? "client" : "server", why);
	return GNUTLS_E_CERTIFICATE_ERROR;
}

/* Runs after the peer's Certificate and CertificateVerify were accepted by
 * GnuTLS (so the peer holds the key); GnuTLS cannot check raw keys itself.
 * Non-zero aborts the handshake. */
static int verify_peer(gnutls_session_t session)
{
	struct tls_session *ts = session_of(session);
	const gnutls_datum_t *certs;
	unsigned int ncerts = 0;
	struct iron_id id;

	if (!ts)
		return GNUTLS_E_CERTIFICATE_ERROR;
	/* An "RPK only" client still accepted an X.509 server otherwise. */
	if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_RAWPK)
		return fail(ts, "peer certificate is not a raw public key", -EKEYREJECTED);
	certs = gnutls_certificate_get_peers(session, &ncerts);
	if (!certs || ncerts != 1)
		return fail(ts, "peer sent no raw public key", -EKEYREJECTED);
	if (certs[0].size != SPKI_LEN || memcmp(certs[0].data, spki_prefix, sizeof(spki_prefix)))
		return fail(ts, "peer key is not an Ed25519 key", -EKEYREJECTED);
	memcpy(id.bytes, certs[0].data + sizeof(spki_prefix), IRON_ID_LEN);
	if (ts->is_client) {
		gnutls_datum_t proto;
		if (!id_equal(&id, &ts->expected_peer)) {
			char want[IRON_ID_BASE32_LEN + 1], got[IRON_ID_BASE32_LEN + 1];
			id_to_base32(&ts->expected_peer, want);
			id_to_base32(&id, got);
			log_warn("peer key mismatch: dialled %s, got %s", want, got);
			return fail(ts, "peer key mismatch", -EKEYREJECTED);
		}
		/* EncryptedExtensions came before the Certificate. */
		if (gnutls_alpn_get_selected_protocol(session, &proto) < 0)
			return fail(ts, "server selected no application protocol", -EPROTO);
	} else if (ts->admit && !ts->admit(ts->admit_user, &id)) {
		/* The reason names the key, so the operator can add it. */
		char name[IRON_ID_BASE32_LEN + 1];
		id_to_base32(&id, name);
		snprintf(ts->failure_text, sizeof(ts->failure_text), "%s is not on the allow-list",
			 name);
		return fail(ts, ts->failure_text, -EACCES);
	}
	ts->peer = id;
	ts->peer_verified = true;
	return 0;
}

/* Server: the client offered no protocol we speak. GNUTLS_ALPN_MANDATORY
 * covers a client whose list has no match; this also covers a client that
 * sent no ALPN extension at all. */
static int check_client_hello(gnutls_session_t session)
{
	struct tls_session *ts = session_of(session);
	gnutls_datum_t proto;

	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		/* The server ignores SNI; shown for interoperability work. */
		char name[256];
		size_t len = sizeof(name);
		unsigned int type;
		if (gnutls_server_name_get(session, name, &len, &type, 0) < 0)
			snprintf(name, sizeof(name), "(none)");
		log_debug("client hello, server name %s", name);
	}
	if (ts && gnutls_alpn_get_selected_protocol(session, &proto) < 0) {
		ts->failure = "no common application protocol";
		ts->failure_error = -EPROTO;
		log_info("refusing a client: no common application protocol");
		return GNUTLS_E_NO_APPLICATION_PROTOCOL;
	}
	return 0;
}

int tls_context_new(const struct iron_identity *identity, struct tls_context **out)
{
	struct tls_context *ctx = calloc(1, sizeof(*ctx));
	uint8_t spki[SPKI_LEN], pkcs8[PKCS8_LEN];
	const char *err_pos = NULL;
	int rv;

	*out = NULL;
	if (!ctx)
		return -ENOMEM;
	rv = gnutls_certificate_allocate_credentials(&ctx->credentials);
	if (rv < 0) {
		ctx->credentials = NULL;
		rv = -ENOMEM;
		goto out;
	}
	gnutls_certificate_set_verify_function(ctx->credentials, verify_peer);
	if (identity) {
		gnutls_datum_t spki_datum = {spki, (unsigned)sizeof(spki)};
		gnutls_datum_t key_datum = {pkcs8, (unsigned)sizeof(pkcs8)};
		memcpy(spki, spki_prefix, sizeof(spki_prefix));
		memcpy(spki + sizeof(spki_prefix), identity->id.bytes, IRON_ID_LEN);
		memcpy(pkcs8, pkcs8_prefix, sizeof(pkcs8_prefix));
		memcpy(pkcs8 + sizeof(pkcs8_prefix), identity->seed, IDENTITY_SEED_LEN);
		rv = gnutls_certificate_set_rawpk_key_mem(ctx->credentials, &spki_datum, &key_datum,
							  GNUTLS_X509_FMT_DER, NULL, 0, NULL, 0, 0);
		sodium_memzero(pkcs8, sizeof(pkcs8));
		if (rv < 0) {
			log_error("cannot load the node key as a raw public key: %s",
				  gnutls_strerror(rv));
			rv = -EINVAL;
			goto out;
		}
		ctx->has_key = true;
	}
	rv = gnutls_priority_init(&ctx->priority, tls_priority, &err_pos);
	if (rv < 0) {
		log_error("TLS priority string refused at \"%s\": %s", err_pos ? err_pos : "",
			  gnutls_strerror(rv));
		ctx->priority = NULL;
		rv = -EINVAL;
		goto out;
	}
	*out = ctx;
	ctx = NULL;
	rv = 0;
out:
	tls_context_del(ctx);
	return rv;
}

void tls_context_del(struct tls_context *ctx)
{
	if (!ctx)
		return;
	if (ctx->priority)
		gnutls_priority_deinit(ctx->priority);
	if (ctx->credentials)
		gnutls_certificate_free_credentials(ctx->credentials);
	free(ctx);
}

static int set_client_options(struct tls_session *ts, const struct tls_session_params *params)
{
	gnutls_datum_t protos[3];
	unsigned nprotos = 0;
	char sni[ENCODING_BASE32_LEN(IRON_ID_LEN) + sizeof(SNI_SUFFIX)];
	int rv;

	for (enum tls_alpn a = TLS_ALPN_PACKET1; a <= TLS_ALPN_PACKET0; a++) {
		if (params->alpns & TLS_ALPN_FLAG(a)) {
			protos[nprotos].data = (unsigned char *)(uintptr_t)alpn_names[a];
			protos[nprotos++].size = (unsigned)strlen(alpn_names[a]);
		}
	}
	if (params->extra_alpn && *params->extra_alpn) {
		protos[nprotos].data = (unsigned char *)(uintptr_t)params->extra_alpn;
		protos[nprotos++].size = (unsigned)strlen(params->extra_alpn);
	}
	if (nprotos == 0 || !params->expected_peer)
		return -EINVAL;
	rv = gnutls_alpn_set_protocols(ts->session, protos, nprotos, 0);
	if (rv < 0)
		goto gnutls_error;
	ts->expected_peer = *params->expected_peer;
	encoding_base32hex_encode(params->expected_peer->bytes, IRON_ID_LEN, sni, sizeof(sni));
	strcat(sni, SNI_SUFFIX);
	rv = gnutls_server_name_set(ts->session, GNUTLS_NAME_DNS, sni, strlen(sni));
	if (rv < 0)
		goto gnutls_error;
	return 0;
gnutls_error:
	log_error("TLS client setup: %s", gnutls_strerror(rv));
	return -EINVAL;
}

static int set_server_options(struct tls_session *ts)
{
	/* Our preference order: the native protocol first. */
	const gnutls_datum_t protos[2] = {
	    {(unsigned char *)(uintptr_t)alpn_names[TLS_ALPN_PACKET1],
	     (unsigned)strlen(alpn_names[TLS_ALPN_PACKET1])},
	    {(unsigned char *)(uintptr_t)alpn_names[TLS_ALPN_PACKET0],
	     (unsigned)strlen(alpn_names[TLS_ALPN_PACKET0])},
	};
	int rv = gnutls_alpn_set_protocols(ts->session, protos, 2,
					   GNUTLS_ALPN_SERVER_PRECEDENCE | GNUTLS_ALPN_MANDATORY);
	if (rv < 0) {
		log_error("TLS server setup: %s", gnutls_strerror(rv));
		return -EINVAL;
	}
	gnutls_handshake_set_post_client_hello_function(ts->session, check_client_hello);
	gnutls_certificate_server_set_request(ts->session, GNUTLS_CERT_REQUIRE);
	return 0;
}

int tls_session_new(struct tls_context *ctx, const struct tls_session_params *params,
		    struct tls_session **out)
{
	struct tls_session *ts;
	unsigned flags = GNUTLS_ENABLE_RAWPK | GNUTLS_NO_END_OF_EARLY_DATA;
	int rv;

	*out = NULL;
	if (!params->is_client && !ctx->has_key)
		return -EINVAL;
	ts = calloc(1, sizeof(*ts));
	if (!ts)
		return -ENOMEM;
	ts->is_client = params->is_client;
	if (!params->is_client) {
		ts->admit = params->admit;
		ts->admit_user = params->admit_user;
	}
	ts->conn_ref.get_conn = params->get_conn;
	ts->conn_ref.user_data = params->user_data;
	flags |= params->is_client ? GNUTLS_CLIENT : GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET;
	rv = gnutls_init(&ts->session, flags);
	if (rv < 0) {
		ts->session = NULL;
		rv = rv == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		goto out;
	}
	gnutls_session_set_ptr(ts->session, &ts->conn_ref);
	rv = params->is_client ? ngtcp2_crypto_gnutls_configure_client_session(ts->session)
			       : ngtcp2_crypto_gnutls_configure_server_session(ts->session);
	if (rv != 0) {
		log_error("ngtcp2 could not configure the TLS session");
		rv = -EINVAL;
		goto out;
	}
	rv = gnutls_priority_set(ts->session, ctx->priority);
	if (rv == 0)
		rv = gnutls_credentials_set(ts->session, GNUTLS_CRD_CERTIFICATE, ctx->credentials);
	if (rv < 0) {
		log_error("TLS session setup: %s", gnutls_strerror(rv));
		rv = -EINVAL;
		goto out;
	}
	rv = params->is_client ? set_client_options(ts, params) : set_server_options(ts);
	if (rv < 0)
		goto out;
	*out = ts;
	ts = NULL;
out:
	tls_session_del(ts);
	return rv;
}

void tls_session_del(struct tls_session *ts)
{
	if (!ts)
		return;
	if (ts->session)
		gnutls_deinit(ts->session);
	free(ts);
}

void *tls_session_native_handle(struct tls_session *ts)
{
	return ts->session;
}

const struct iron_id *tls_session_peer(const struct tls_session *ts)
{
	return ts->peer_verified ? &ts->peer : NULL;
}

enum tls_alpn tls_session_alpn(const struct tls_session *ts)
{
	gnutls_datum_t proto;

	if (gnutls_alpn_get_selected_protocol(ts->session, &proto) < 0)
		return TLS_ALPN_NONE;
	for (enum tls_alpn a = TLS_ALPN_PACKET1; a <= TLS_ALPN_PACKET0; a++)
		if (proto.size == strlen(alpn_names[a]) &&
		    !memcmp(proto.data, alpn_names[a], proto.size))
			return a;
	return TLS_ALPN_NONE;
}

const char *tls_session_failure(const struct tls_session *ts, int *error)
{
	if (error)
		*error = ts->failure ? ts->failure_error : 0;
	return ts->failure;
}
