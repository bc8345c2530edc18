/* Arbitrary datagrams into a QUIC server endpoint (fixed seed, fake clock):
 * whatever arrives must neither crash nor leak, and the endpoint's state
 * stays bounded. One endpoint serves many inputs (creating one per input
 * would spend the time on key setup); every 64 inputs the clock jumps past
 * the handshake timeout so half-open connections are reaped, and every
 * 4096 the endpoint is rebuilt. The corpus holds real client Initials
 * written by test_quic (IRON_QUIC_CORPUS=dir). */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "iron/identity.h"
#include "iron/log.h"
#include "iron/quic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct quic_endpoint *ep;
static struct iron_identity identity;
static uint64_t now = 1000000000ull;
static unsigned runs;
static size_t sent_bytes;

static void on_send(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		    const uint8_t *d, size_t len)
{
	(void)user;
	(void)local;
	(void)remote;
	(void)d;
	sent_bytes += len;
}

static void setup(void)
{
	/* The key of test_quic's server (every byte 0x22), so the corpus's
	 * Initials reach a full handshake. */
	uint8_t seed[IDENTITY_SEED_LEN];
	struct quic_config config = {
	    .identity = &identity,
	    .seed = 2,
	    .max_half_open = 16,
	    .max_connections = 32,
	};
	struct quic_callbacks cb = {.send = on_send};

	log_configure(LOG_OFF, NULL);
	memset(seed, 0x22, sizeof(seed));
	identity_from_seed(seed, &identity);
	if (quic_endpoint_new(&config, &cb, &ep) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in6 local = {.sin6_family = AF_INET6, .sin6_port = htons(4766)};
	struct sockaddr_in6 remote = {.sin6_family = AF_INET6};
	struct quic_endpoint_stats st;

	if (!ep)
		setup();
	local.sin6_addr.s6_addr[15] = 1;
	remote.sin6_addr.s6_addr[15] = 2;
	remote.sin6_port = htons((uint16_t)(1024 + runs % 4096));
	quic_endpoint_receive(ep, (const struct sockaddr *)&local, (const struct sockaddr *)&remote,
			      data, size, now);
	quic_endpoint_flush(ep, now);
	now += 1000000; /* 1 ms */
	if (quic_endpoint_next_expiry(ep) <= now)
		quic_endpoint_handle_expiry(ep, now);
	quic_endpoint_get_stats(ep, &st);
	if (st.connections > 32 || st.half_open > 16)
		__builtin_trap();
	if (++runs % 64 == 0) {
		now += 11000000000ull; /* past the handshake timeout */
		quic_endpoint_handle_expiry(ep, now);
		quic_endpoint_get_stats(ep, &st);
		if (st.half_open != 0)
			__builtin_trap();
	}
	if (runs % 4096 == 0) {
		quic_endpoint_del(ep);
		ep = NULL;
	}
	return 0;
}
