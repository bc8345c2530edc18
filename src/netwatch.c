#include "iron/netwatch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iron/log.h"

#define LOG_MODULE	   "netwatch"
#define NETWATCH_SETTLE_MS 200
#define NETWATCH_READ_MAX  64 /* reads per wake-up */

struct netwatch {
	uv_poll_t poll;
	uv_timer_t settle;
	int fd;
	int open_handles;
	unsigned long events;
	void (*changed)(void *user);
	void *user;
};

static void on_settled(uv_timer_t *t)
{
	struct netwatch *w = t->data;
	w->changed(w->user);
}

static void on_readable(uv_poll_t *poll, int status, int events)
{
	struct netwatch *w = poll->data;
	uint8_t buf[8192];
	(void)events;
	if (status < 0)
		return;
	/* Only that something changed matters: drain and count. */
	for (int i = 0; i < NETWATCH_READ_MAX; i++) {
		ssize_t n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == ENOBUFS)
			continue; /* the kernel dropped some: still a change */
		if (n <= 0)
			break;
		w->events++;
	}
	if (!uv_is_active((uv_handle_t *)&w->settle))
		uv_timer_start(&w->settle, on_settled, NETWATCH_SETTLE_MS, 0);
}

int netwatch_new(uv_loop_t *loop, void (*changed)(void *user), void *user, struct netwatch **out)
{
	struct sockaddr_nl sa = {
	    .nl_family = AF_NETLINK,
	    .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE |
			 RTMGRP_IPV6_ROUTE,
	};
	struct netwatch *w = calloc(1, sizeof(*w));
	int rc;
	if (!w)
		return -ENOMEM;
	w->changed = changed;
	w->user = user;
	w->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (w->fd < 0) {
		rc = -errno;
		free(w);
		return rc;
	}
	if (bind(w->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(w->fd);
		free(w);
		return rc;
	}
	rc = uv_poll_init(loop, &w->poll, w->fd);
	if (rc < 0) {
		close(w->fd);
		free(w);
		return rc;
	}
	uv_timer_init(loop, &w->settle);
	w->poll.data = w->settle.data = w;
	w->open_handles = 2;
	uv_poll_start(&w->poll, UV_READABLE, on_readable);
	*out = w;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct netwatch *w = h->data;
	if (--w->open_handles == 0) {
		close(w->fd);
		free(w);
	}
}

void netwatch_del(struct netwatch *w)
{
	if (!w)
		return;
	uv_close((uv_handle_t *)&w->poll, on_closed);
	uv_close((uv_handle_t *)&w->settle, on_closed);
}

unsigned long netwatch_events(const struct netwatch *w)
{
	return w ? w->events : 0;
}
