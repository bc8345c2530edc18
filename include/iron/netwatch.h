/* Tells when this host's network changes: an rtnetlink socket subscribed
 * to address, route and link events. The events themselves are not read
 * (the owner looks at the interfaces again), so nothing from the kernel is
 * parsed; a burst of them is one call, 200 ms after the first. */
#ifndef IRON_NETWATCH_H
#define IRON_NETWATCH_H

#include <uv.h>

struct netwatch;

/* Starts watching; changed(user) runs on the loop after each burst of
 * events. Returns 0, or a negative errno when the socket cannot be opened
 * (then there are no events; callers poll as well). */
int netwatch_new(uv_loop_t *loop, void (*changed)(void *user), void *user, struct netwatch **out);

/* Stops; no call after this. The memory goes when the loop has closed the
 * handles. NULL is fine. */
void netwatch_del(struct netwatch *w);

/* Events seen since the start (for status). */
unsigned long netwatch_events(const struct netwatch *w);

#endif
