#define LOG_MODULE "service"

#include "iron/service.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "iron/log.h"
#include "iron/sdnotify.h"

int service_open_control(struct service *s, uv_loop_t *loop, const char *path, const char *group,
			 ctl_handler_fn *handler, void *user)
{
	s->loop = loop;
	const struct ctl_server_options options = {
	    .path = path,
	    .group = group,
	    .handler = handler,
	    .user = user,
	};
	return ctl_server_start(loop, &options, &s->ctl);
}

const char *service_control_error(int rc, const char *group)
{
	if (rc == -EPERM) /* ctl_server_start() logged which directory, and why */
		return "its directory is not safe: another user could swap the socket (see above)";
	if (rc == -ENOENT && group)
		return "no such group";
	return strerror(-rc);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct service *s = handle->data;
	if (signum == SIGHUP) {
		if (s->cb.reload)
			s->cb.reload(s->cb.user);
		else
			log_info("SIGHUP: nothing to reload");
		return;
	}
	s->cb.stop(s->cb.user, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

int service_watch_signals(struct service *s, const struct service_callbacks *callbacks)
{
	uv_signal_t *handles[] = {&s->sig_int, &s->sig_term, &s->sig_hup};
	const int signums[] = {SIGINT, SIGTERM, SIGHUP};
	size_t started = 0;
	int rc = 0;

	s->cb = *callbacks;
	for (; started < 3; started++) {
		rc = uv_signal_init(s->loop, handles[started]);
		if (rc < 0)
			break;
		handles[started]->data = s;
		rc = uv_signal_start(handles[started], on_signal, signums[started]);
		if (rc < 0) {
			uv_close((uv_handle_t *)handles[started], NULL);
			break;
		}
	}
	if (rc < 0) {
		while (started-- > 0)
			uv_close((uv_handle_t *)handles[started], NULL);
		return rc;
	}
	s->signals_started = true;
	return 0;
}

void service_ready(struct service *s)
{
	(void)s;
	sdnotify("READY=1");
}

void service_stop(struct service *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	sdnotify("STOPPING=1");
	if (s->ctl) {
		ctl_server_close(s->ctl);
		s->ctl = NULL;
	}
	if (s->signals_started) {
		uv_close((uv_handle_t *)&s->sig_int, NULL);
		uv_close((uv_handle_t *)&s->sig_term, NULL);
		uv_close((uv_handle_t *)&s->sig_hup, NULL);
		s->signals_started = false;
	}
}
