/* The UDP socket on loopback: a GSO batch of datagrams arrives as the same
 * datagrams, each whole and in order, whether the receiver reads it as one
 * UDP_GRO buffer (the default) or one datagram per buffer (IRON_UDP_GRO=0);
 * datagrams to two receivers do not mix. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "iron/udp.h"

#define COUNT 40
#define SIZE  1200
#define LAST  333 /* the short last datagram of the batch */

struct receiver {
	size_t got, bad, bytes;
	uv_loop_t *loop;
	int *done;
};

static void on_recv(void *user, struct udp_socket *sock, const struct sockaddr *remote,
		    const uint8_t *data, size_t len)
{
	struct receiver *r = user;
	(void)sock;
	(void)remote;
	/* Datagram i is SIZE bytes of the value i (the last LAST bytes). */
	size_t want = r->got == COUNT - 1 ? LAST : SIZE;
	if (len != want || data[0] != (uint8_t)r->got || data[len - 1] != (uint8_t)r->got)
		r->bad++;
	r->got++;
	r->bytes += len;
	if (r->got == COUNT && ++*r->done == 2)
		uv_stop(r->loop);
}

static void on_timeout(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static struct udp_socket *open_loopback(uv_loop_t *loop, struct receiver *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct udp_callbacks cb = {.user = r, .recv = on_recv};
	struct udp_socket *s = NULL;
	CHECK_INT(udp_open(loop, (struct sockaddr *)&a, &cb, &s), 0);
	return s;
}

static void run(bool gro)
{
	uv_loop_t loop;
	uv_timer_t timer;
	struct receiver ra = {0}, rb = {0}, rs = {0};
	int done = 0;

	if (!gro)
		setenv("IRON_UDP_GRO", "0", 1);
	else
		unsetenv("IRON_UDP_GRO");
	CHECK_INT(uv_loop_init(&loop), 0);
	ra.loop = rb.loop = &loop;
	ra.done = rb.done = &done;
	struct udp_socket *a = open_loopback(&loop, &ra), *b = open_loopback(&loop, &rb);
	struct udp_socket *sender = open_loopback(&loop, &rs);
	if (!a || !b || !sender)
		return;

	/* Two batches, to a and to b, written alternately: the sender flushes
	 * a batch when the destination changes. */
	uint8_t buf[SIZE];
	for (int i = 0; i < COUNT; i++) {
		size_t len = i == COUNT - 1 ? LAST : SIZE;
		memset(buf, i, len);
		CHECK_INT(udp_send(sender, udp_local(a), buf, len), 0);
	}
	udp_flush(sender);
	for (int i = 0; i < COUNT; i++) {
		size_t len = i == COUNT - 1 ? LAST : SIZE;
		memset(buf, i, len);
		CHECK_INT(udp_send(sender, udp_local(b), buf, len), 0);
	}
	udp_flush(sender);

	uv_timer_init(&loop, &timer);
	uv_timer_start(&timer, on_timeout, 5000, 0);
	uv_run(&loop, UV_RUN_DEFAULT);

	struct udp_stats sa, sb, ss;
	udp_get_stats(a, &sa);
	udp_get_stats(b, &sb);
	udp_get_stats(sender, &ss);
	CHECK_INT(ra.got, COUNT);
	CHECK_INT(rb.got, COUNT);
	CHECK_INT(ra.bad + rb.bad, 0);
	CHECK_INT(sa.datagrams_received, COUNT);
	CHECK_INT(sa.bytes_received, (COUNT - 1) * SIZE + LAST);
	CHECK_INT(ss.datagrams_sent, 2 * COUNT);
	CHECK(ss.batches_sent >= 1);
	if (gro)
		/* Loopback carries a GSO batch whole: read as one buffer. */
		CHECK(sa.gro_batches_received >= 1 && sb.gro_batches_received >= 1);
	else
		CHECK_INT(sa.gro_batches_received + sb.gro_batches_received, 0);

	udp_close(a);
	udp_close(b);
	udp_close(sender);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
	run(true);
	run(false);
	return check_done();
}
