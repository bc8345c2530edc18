/* What every long-running command of iron does the same way (`iron serve`
 * now; `iron relay` and `iron dns-server` next): a control socket that
 * refuses a second instance, SIGINT/SIGTERM to stop, SIGHUP to reload, and
 * systemd readiness notification. The service is embedded in its owner. */
#ifndef IRON_SERVICE_H
#define IRON_SERVICE_H

#include <stdbool.h>
#include <uv.h>

#include "iron/ctl.h"

struct service_callbacks {
	void *user;
	/* SIGINT or SIGTERM; why is "SIGINT" or "SIGTERM". */
	void (*stop)(void *user, const char *why);
	/* SIGHUP. May be NULL (then SIGHUP is ignored, and logged). */
	void (*reload)(void *user);
};

struct service {
	uv_loop_t *loop;
	struct service_callbacks cb;
	struct ctl_server *ctl;
	uv_signal_t sig_int, sig_term, sig_hup;
	bool signals_started;
	bool stopping;
};

/* Starts the control socket at path (mode 0600, or 0660 with group),
 * answering with handler(user, ...). Call it before taking ports or
 * interfaces, so that a second instance stops here. Returns 0 or the
 * -errno of ctl_server_start() (-EADDRINUSE: another instance answers
 * there). */
int service_open_control(struct service *s, uv_loop_t *loop, const char *path, const char *group,
			 ctl_handler_fn *handler, void *user);

/* Why service_open_control() failed with rc (not -EADDRINUSE), in words
 * for "cannot create the control socket PATH: <why>". */
const char *service_control_error(int rc, const char *group);

/* Watches SIGINT, SIGTERM and SIGHUP. Returns 0 or the -errno of libuv. */
int service_watch_signals(struct service *s, const struct service_callbacks *callbacks);

/* Tells systemd (Type=notify) that the service is up. */
void service_ready(struct service *s);

/* Tells systemd the service is stopping, closes the control socket and
 * stops watching signals; the loop can then run dry. Idempotent. */
void service_stop(struct service *s);

#endif
