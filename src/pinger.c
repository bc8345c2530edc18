#include "iron/pinger.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "iron/addr.h"
#include "iron/ipv6.h"

struct ping {
	pinger_done_fn *done; /* NULL: slot free */
	void *user;
	struct iron_id peer;
	uint16_t sequence;
	unsigned timeout_ms;
	uint64_t sent_ns, deadline_ns;
};

struct pinger {
	uv_timer_t timer;
	struct in6_addr own;
	pinger_send_fn *send;
	void *send_user;
	uint16_t ident, next_seq;
	struct ping pings[PINGER_MAX];
};

static void finish(struct ping *ping, int error, uint64_t rtt_ns)
{
	struct pinger_result result = {
	    .peer = ping->peer, .error = error, .rtt_ns = rtt_ns, .timeout_ms = ping->timeout_ms};
	pinger_done_fn *done = ping->done;
	ping->done = NULL;
	done(ping->user, &result);
}

static void on_timer(uv_timer_t *timer);

static void arm(struct pinger *p)
{
	uint64_t next = UINT64_MAX, now = uv_hrtime();
	for (size_t i = 0; i < PINGER_MAX; i++)
		if (p->pings[i].done && p->pings[i].deadline_ns < next)
			next = p->pings[i].deadline_ns;
	if (next == UINT64_MAX) {
		uv_timer_stop(&p->timer);
		return;
	}
	uint64_t ms = next <= now ? 0 : (next - now + 999999) / 1000000;
	uv_timer_start(&p->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *timer)
{
	struct pinger *p = timer->data;
	uint64_t now = uv_hrtime();
	for (size_t i = 0; i < PINGER_MAX; i++)
		if (p->pings[i].done && p->pings[i].deadline_ns <= now)
			finish(&p->pings[i], -ETIMEDOUT, 0);
	arm(p);
}

int pinger_new(uv_loop_t *loop, const struct in6_addr *own, pinger_send_fn *send, void *send_user,
	       struct pinger **out)
{
	struct pinger *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int rc = uv_timer_init(loop, &p->timer);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->timer.data = p;
	p->own = *own;
	p->send = send;
	p->send_user = send_user;
	randombytes_buf(&p->ident, sizeof(p->ident));
	*out = p;
	return 0;
}

static void timer_closed(uv_handle_t *handle)
{
	free(handle->data);
}

void pinger_cancel_all(struct pinger *p)
{
	for (size_t i = 0; i < PINGER_MAX; i++)
		if (p->pings[i].done)
			finish(&p->pings[i], -ECANCELED, 0);
	uv_timer_stop(&p->timer);
}

void pinger_del(struct pinger *p)
{
	if (!p)
		return;
	pinger_cancel_all(p);
	uv_close((uv_handle_t *)&p->timer, timer_closed);
}

int pinger_start(struct pinger *p, const struct iron_id *peer, unsigned timeout_ms,
		 pinger_done_fn *done, void *user, uint64_t now)
{
	uint8_t pkt[IPV6_HEADER_LEN + IPV6_ICMP_HEADER_LEN + PINGER_PAYLOAD];
	uint8_t payload[PINGER_PAYLOAD];
	struct ping *ping = NULL;
	struct in6_addr dst;

	if (timeout_ms == 0)
		return -EINVAL;
	for (size_t i = 0; i < PINGER_MAX && !ping; i++)
		if (!p->pings[i].done)
			ping = &p->pings[i];
	if (!ping)
		return -EBUSY;
	addr_from_id(peer, &dst);
	memset(payload, 0x69, sizeof(payload));
	struct ipv6_echo echo = {
	    .type = IPV6_ICMP_ECHO_REQUEST,
	    .identifier = p->ident,
	    .sequence = p->next_seq++,
	    .data = payload,
	    .data_len = sizeof(payload),
	};
	ssize_t n = ipv6_build_echo(&p->own, &dst, &echo, pkt, sizeof(pkt));
	if (n < 0)
		return (int)n;
	int rc = p->send(p->send_user, peer, pkt, (size_t)n, now);
	if (rc < 0)
		return rc;
	*ping = (struct ping){
	    .done = done,
	    .user = user,
	    .peer = *peer,
	    .sequence = echo.sequence,
	    .timeout_ms = timeout_ms,
	    .sent_ns = now,
	    .deadline_ns = now + (uint64_t)timeout_ms * 1000000,
	};
	arm(p);
	return 0;
}

/* Ends the ping that pkt (an echo of the given type with our identifier)
 * is about, if it is one of ours: with error, or its round trip. Returns
 * whether pkt carries our identifier. */
static bool finish_echo(struct pinger *p, const struct iron_id *peer, const uint8_t *pkt,
			size_t len, uint8_t type, int error, uint64_t now)
{
	struct ipv6_info info;
	struct ipv6_echo echo;
	if (ipv6_parse(pkt, len, &info) != 0 || ipv6_echo_parse(pkt, &info, &echo) != 0 ||
	    echo.type != type || echo.identifier != p->ident)
		return false;
	for (size_t i = 0; i < PINGER_MAX; i++) {
		struct ping *ping = &p->pings[i];
		if (!ping->done || ping->sequence != echo.sequence || !id_equal(&ping->peer, peer))
			continue;
		finish(ping, error, error ? 0 : now - ping->sent_ns);
		arm(p);
		break;
	}
	return true;
}

bool pinger_reply(struct pinger *p, const struct iron_id *from, const uint8_t *pkt, size_t len,
		  uint64_t now)
{
	return finish_echo(p, from, pkt, len, IPV6_ICMP_ECHO_REPLY, 0, now);
}

bool pinger_unreachable(struct pinger *p, const struct iron_id *to, const uint8_t *pkt, size_t len)
{
	return finish_echo(p, to, pkt, len, IPV6_ICMP_ECHO_REQUEST, -EHOSTUNREACH, 0);
}
