/* The UDP socket on loopback: a GSO batch of datagrams arrives as the same
 * datagrams, each whole and in order, whether the receiver reads it as one
 * UDP_GRO buffer (the default) or one datagram per buffer (IRON_UDP_GRO=0);
 * datagrams to two receivers do not mix; a flush of datagrams of mixed
 * sizes to two receivers is one system call, and each arrives whole. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "check.h"
#include "iron/udp.h"

#define COUNT	    40
#define SIZE	    1200
#define LAST	    333 /* the short last datagram of the batch */
#define MIXED_COUNT 40

/* Datagram i of a GSO batch: SIZE bytes (the last LAST) of the value i. */
static size_t batch_size(size_t i)
{
	return i == COUNT - 1 ? LAST : SIZE;
}

/* Datagram i of the mixed run: 60 + 29 i bytes of the value i, each
 * longer than the one before; to a when i is even, to b when odd. */
static size_t mixed_size(size_t i)
{
	return 60 + i * 29;
}

/* Receives datagrams stride * k + first (k = 0, 1, ...) of a run and
 * checks each one's size and bytes. */
struct receiver {
	size_t (*size)(size_t i);
	size_t first, stride, count;
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
	size_t i = r->stride * r->got + r->first;
	if (len != r->size(i) || data[0] != (uint8_t)i || data[len - 1] != (uint8_t)i)
		r->bad++;
	r->got++;
	r->bytes += len;
	if (r->got == r->count && ++*r->done == 2)
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

/* A loop with two receivers, a and b, and a sender. */
struct bench {
	uv_loop_t loop;
	int done;
	struct receiver ra, rb, rs;
	struct udp_socket *a, *b, *sender;
	uv_timer_t timer;
};

static bool bench_open(struct bench *t, bool gro, size_t (*size)(size_t), size_t stride,
		       size_t count)
{
	if (!gro)
		setenv("IRON_UDP_GRO", "0", 1);
	else
		unsetenv("IRON_UDP_GRO");
	memset(t, 0, sizeof(*t));
	CHECK_INT(uv_loop_init(&t->loop), 0);
	t->ra = (struct receiver){
	    .size = size, .stride = stride, .count = count, .loop = &t->loop, .done = &t->done};
	t->rb = t->ra;
	t->rb.first = stride > 1 ? 1 : 0;
	t->a = open_loopback(&t->loop, &t->ra);
	t->b = open_loopback(&t->loop, &t->rb);
	t->sender = open_loopback(&t->loop, &t->rs);
	return t->a && t->b && t->sender;
}

/* Runs the loop until both receivers have their datagrams (or 5 s). */
static void bench_receive(struct bench *t)
{
	uv_timer_init(&t->loop, &t->timer);
	uv_timer_start(&t->timer, on_timeout, 5000, 0);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t->timer, NULL);
	CHECK_INT(t->ra.got, t->ra.count);
	CHECK_INT(t->rb.got, t->rb.count);
	CHECK_INT(t->ra.bad + t->rb.bad, 0);
}

static void bench_close(struct bench *t)
{
	udp_close(t->a);
	udp_close(t->b);
	udp_close(t->sender);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	CHECK_INT(uv_loop_close(&t->loop), 0);
}

static void run(bool gro)
{
	struct bench t;
	if (!bench_open(&t, gro, batch_size, 1, COUNT))
		return;

	/* Two batches, to a and to b, each flushed: one call each. */
	uint8_t buf[SIZE];
	for (size_t i = 0; i < COUNT; i++) {
		memset(buf, (int)i, batch_size(i));
		CHECK_INT(udp_send(t.sender, udp_local(t.a), buf, batch_size(i)), 0);
	}
	udp_flush(t.sender);
	for (size_t i = 0; i < COUNT; i++) {
		memset(buf, (int)i, batch_size(i));
		CHECK_INT(udp_send(t.sender, udp_local(t.b), buf, batch_size(i)), 0);
	}
	udp_flush(t.sender);

	struct udp_stats ss;
	udp_get_stats(t.sender, &ss);
	CHECK_INT(ss.datagrams_sent, 2 * COUNT);
	CHECK_INT(ss.batches_sent, 2);
	CHECK_INT(ss.send_calls, 2);
	bench_receive(&t);
	struct udp_stats sa, sb;
	udp_get_stats(t.a, &sa);
	udp_get_stats(t.b, &sb);
	CHECK_INT(sa.datagrams_received, COUNT);
	CHECK_INT(sa.bytes_received, (COUNT - 1) * SIZE + LAST);
	if (gro)
		/* Loopback carries a GSO batch whole: read as one buffer. */
		CHECK(sa.gro_batches_received >= 1 && sb.gro_batches_received >= 1);
	else
		CHECK_INT(sa.gro_batches_received + sb.gro_batches_received, 0);
	bench_close(&t);
}

/* Datagrams of rising sizes to a and b alternately, then one flush. */
static void run_mixed(void)
{
	struct bench t;
	if (!bench_open(&t, true, mixed_size, 2, MIXED_COUNT / 2))
		return;

	/* Every datagram begins a batch of its own (another receiver, and
	 * longer than the one before): one message each, all in one call. */
	uint8_t buf[1400];
	for (size_t i = 0; i < MIXED_COUNT; i++) {
		memset(buf, (int)i, mixed_size(i));
		CHECK_INT(udp_send(t.sender, udp_local(i % 2 ? t.b : t.a), buf, mixed_size(i)), 0);
	}
	struct udp_stats ss;
	udp_get_stats(t.sender, &ss);
	CHECK_INT(ss.send_calls, 0);
	udp_flush(t.sender);
	udp_get_stats(t.sender, &ss);
	CHECK_INT(ss.send_calls, 1);
	CHECK_INT(ss.datagrams_sent, MIXED_COUNT);
	CHECK_INT(ss.batches_sent, 0);
	bench_receive(&t);
	bench_close(&t);
}

int main(void)
{
	run(true);
	run(false);
	run_mixed();
	return check_done();
}
