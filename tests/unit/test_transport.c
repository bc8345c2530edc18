/* The transport: datagrams told apart by their first bytes, real UDP
 * sockets on loopback, the choice of local address, and relay placeholders
 * refused (and counted) while there is no relay link. */
#include <errno.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "iron/transport.h"

static void test_classify(void)
{
	uint8_t b[64] = {0};
	CHECK_INT(transport_classify(b, 0), TRANSPORT_UNKNOWN);
	/* QUIC: long header, short header with the fixed bit, and a short
	 * header whose fixed bit was greased away. */
	b[0] = 0xc3;
	CHECK_INT(transport_classify(b, 1200), TRANSPORT_QUIC);
	b[0] = 0x41;
	CHECK_INT(transport_classify(b, 30), TRANSPORT_QUIC);
	b[0] = 0x01;
	CHECK_INT(transport_classify(b, 30), TRANSPORT_QUIC);
	/* STUN Binding request: type 0x0001, length 0, the magic cookie. */
	static const uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
	CHECK_INT(transport_classify(stun, sizeof(stun)), TRANSPORT_STUN);
	/* A length that disagrees with what arrived is not STUN. */
	uint8_t stun_bad[24];
	memcpy(stun_bad, stun, sizeof(stun));
	CHECK_INT(transport_classify(stun_bad, sizeof(stun_bad)), TRANSPORT_QUIC);
	stun_bad[3] = 4;
	CHECK_INT(transport_classify(stun_bad, sizeof(stun_bad)), TRANSPORT_STUN);
	stun_bad[3] = 3;
	CHECK_INT(transport_classify(stun_bad, sizeof(stun_bad)), TRANSPORT_QUIC);
	CHECK_INT(transport_classify(stun, 19), TRANSPORT_QUIC);
	/* iron's own control datagrams. */
	memcpy(b, TRANSPORT_IRON_MAGIC, TRANSPORT_IRON_MAGIC_LEN);
	CHECK_INT(transport_classify(b, TRANSPORT_IRON_MAGIC_LEN), TRANSPORT_IRON);
	CHECK_INT(transport_classify(b, TRANSPORT_IRON_MAGIC_LEN + 10), TRANSPORT_IRON);
	CHECK_INT(transport_classify(b, TRANSPORT_IRON_MAGIC_LEN - 1), TRANSPORT_QUIC);
}

struct received {
	unsigned quic, stun, iron;
	struct netaddr last_remote, last_local;
	uint8_t last[64];
	size_t last_len;
};

static void on_quic(void *user, const struct sockaddr *local, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	struct received *r = user;
	r->quic++;
	netaddr_set(&r->last_local, local);
	netaddr_set(&r->last_remote, remote);
	r->last_len = len < sizeof(r->last) ? len : sizeof(r->last);
	memcpy(r->last, data, r->last_len);
}

static void on_other(void *user, enum transport_datagram kind, const struct sockaddr *local,
		     const struct sockaddr *remote, const uint8_t *data, size_t len)
{
	struct received *r = user;
	(void)local;
	(void)remote;
	(void)data;
	(void)len;
	if (kind == TRANSPORT_STUN)
		r->stun++;
	else if (kind == TRANSPORT_IRON)
		r->iron++;
}

/* Runs the loop until want datagrams arrived in total, at most ~2 s. */
static void run_until(uv_loop_t *loop, const struct received *r, unsigned want)
{
	for (int i = 0; i < 200 && r->quic + r->stun + r->iron < want; i++)
		uv_run(loop, UV_RUN_NOWAIT), uv_sleep(10);
}

static void test_loopback(void)
{
	uv_loop_t loop;
	struct received ra = {0}, rb = {0};
	struct transport *a, *b;
	struct netaddr any4, any6, local, remote;
	char text[NETADDR_STR_SIZE];

	CHECK_INT(uv_loop_init(&loop), 0);
	const struct transport_callbacks ca = {.user = &ra, .quic = on_quic, .other = on_other};
	const struct transport_callbacks cb = {.user = &rb, .quic = on_quic, .other = NULL};
	CHECK_INT(transport_new(&loop, &ca, &a), 0);
	CHECK_INT(transport_new(&loop, &cb, &b), 0);
	CHECK_INT(netaddr_parse("127.0.0.1:0", &any4), 0);
	CHECK_INT(netaddr_parse("[::1]:0", &any6), 0);
	CHECK_INT(transport_listen(a, &any4.sa), 0);
	CHECK_INT(transport_listen(b, &any4.sa), 0);
	CHECK_INT(transport_local_count(a), 1);
	CHECK(netaddr_port(transport_local(a, 0)) != 0);
	CHECK(transport_local(a, 1) == NULL);

	/* A local address that can reach an IPv4 remote: the IPv4 socket. An
	 * IPv6 remote: none. */
	CHECK_INT(transport_pick_local(a, transport_local(b, 0), &local, &remote), 0);
	CHECK(netaddr_equal(&local.sa, transport_local(a, 0)));
	CHECK(netaddr_equal(&remote.sa, transport_local(b, 0)));
	struct netaddr v6remote;
	CHECK_INT(netaddr_parse("[::1]:9", &v6remote), 0);
	CHECK_INT(transport_pick_local(a, &v6remote.sa, &local, &remote), -EAFNOSUPPORT);

	/* QUIC, STUN and iron datagrams from a to b and back. */
	uint8_t quic[40] = {0x40, 1, 2, 3};
	static const uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
	uint8_t iron[16];
	memcpy(iron, TRANSPORT_IRON_MAGIC, TRANSPORT_IRON_MAGIC_LEN);
	memset(iron + TRANSPORT_IRON_MAGIC_LEN, 7, sizeof(iron) - TRANSPORT_IRON_MAGIC_LEN);
	CHECK_INT(
	    transport_send(a, transport_local(a, 0), transport_local(b, 0), quic, sizeof(quic)), 0);
	CHECK_INT(
	    transport_send(a, transport_local(a, 0), transport_local(b, 0), stun, sizeof(stun)), 0);
	transport_flush(a);
	run_until(&loop, &rb, 1);
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT), uv_sleep(5);
	CHECK_INT(rb.quic, 1);
	CHECK_INT(rb.last_len, sizeof(quic));
	CHECK_MEM(rb.last, quic, sizeof(quic));
	CHECK(netaddr_equal(&rb.last_remote.sa, transport_local(a, 0)));
	CHECK(netaddr_equal(&rb.last_local.sa, transport_local(b, 0)));
	struct transport_stats st;
	transport_get_stats(b, &st);
	CHECK_INT(st.datagrams_received, 2);
	CHECK_INT(st.received_stun, 1);
	CHECK_INT(st.received_unwanted, 1); /* b has no handler for STUN */

	CHECK_INT(
	    transport_send(b, transport_local(b, 0), transport_local(a, 0), stun, sizeof(stun)), 0);
	CHECK_INT(
	    transport_send(b, transport_local(b, 0), transport_local(a, 0), iron, sizeof(iron)), 0);
	CHECK_INT(
	    transport_send(b, transport_local(b, 0), transport_local(a, 0), quic, sizeof(quic)), 0);
	transport_flush(b);
	run_until(&loop, &ra, 3);
	CHECK_INT(ra.stun, 1);
	CHECK_INT(ra.iron, 1);
	CHECK_INT(ra.quic, 1);
	transport_get_stats(a, &st);
	CHECK_INT(st.received_iron, 1);
	CHECK_INT(st.datagrams_sent, 2);

	/* A relay placeholder without a link: refused and counted. A local
	 * address no socket has: the first that can reach the remote. */
	struct netaddr relay_local, relay_remote;
	netaddr_relay(1, 0, &relay_local);
	netaddr_relay(1, 5, &relay_remote);
	CHECK_INT(transport_pick_local(a, &relay_remote.sa, &local, &remote), 0);
	CHECK(netaddr_is_relay(&local.sa));
	CHECK(!netaddr_equal(&local.sa, &remote.sa));
	CHECK_STR(netaddr_format(&local.sa, text, sizeof(text)), "[100::1:0:0]:0");
	CHECK_INT(transport_send(a, &relay_local.sa, &relay_remote.sa, quic, sizeof(quic)),
		  -ENETUNREACH);
	CHECK_INT(transport_send(a, &any6.sa, transport_local(b, 0), quic, sizeof(quic)), 0);
	CHECK_INT(transport_send(a, &any6.sa, &v6remote.sa, quic, sizeof(quic)), -EAFNOSUPPORT);
	uint8_t big[4000] = {0x40};
	CHECK_INT(transport_send(a, transport_local(a, 0), transport_local(b, 0), big, sizeof(big)),
		  -EMSGSIZE);
	transport_flush(a);
	transport_get_stats(a, &st);
	CHECK_INT(st.no_relay_link, 1);
	CHECK_INT(st.send_failed, 3);

	transport_del(a);
	transport_del(b);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
	test_classify();
	test_loopback();
	return check_done();
}
