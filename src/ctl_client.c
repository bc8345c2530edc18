/* The control socket's blocking client, for the CLI: connect, send one
 * request line, read one reply line, all within a deadline. */
#include "iron/ctl_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline. 0, -ETIMEDOUT, or -EINTR when
 * *stop is set. */
static int wait_fd(int fd, short events, int64_t deadline, const volatile sig_atomic_t *stop)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		int64_t left = deadline - now_ms();
		if (stop && *stop)
			return -EINTR;
		if (left <= 0)
			return -ETIMEDOUT;
		int n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int ctl_call(const char *path, const char *request_line, char **reply, int timeout_ms)
{
	return ctl_call_interruptible(path, request_line, reply, timeout_ms, NULL);
}

int ctl_call_interruptible(const char *path, const char *request_line, char **reply, int timeout_ms,
			   const volatile sig_atomic_t *stop)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int64_t deadline;
	size_t req_len = strlen(request_line), sent = 0, len = 0, cap = 0;
	char *buf = NULL, *msg = NULL;
	int fd = -1, rc;

	*reply = NULL;
	if (timeout_ms < 1)
		timeout_ms = 1;
	deadline = now_ms() + timeout_ms;
	if (strlen(path) > ctl_socket_path_max())
		return -ENAMETOOLONG;
	if (req_len > 0 && request_line[req_len - 1] == '\n')
		req_len--;
	if (memchr(request_line, '\n', req_len) || req_len > CTL_REQUEST_MAX)
		return -EINVAL;
	msg = malloc(req_len + 1);
	if (!msg)
		return -ENOMEM;
	memcpy(msg, request_line, req_len);
	msg[req_len++] = '\n';
	strcpy(sun.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* connect() on a Unix socket waits while the daemon's backlog is full,
	 * up to the send timeout; then it fails with EAGAIN. */
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		rc = errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT : -errno;
		goto out;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		rc = -errno;
		goto out;
	}
	while (sent < req_len) {
		ssize_t n = send(fd, msg + sent, req_len - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			rc = errno == EPIPE || errno == ECONNRESET ? -EPROTO : -errno;
			goto out;
		}
		if ((rc = wait_fd(fd, POLLOUT, deadline, stop)) != 0)
			goto out;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			if (ncap > CTL_REPLY_MAX)
				ncap = CTL_REPLY_MAX;
			if (ncap == cap) {
				rc = -EMSGSIZE;
				goto out;
			}
			char *grown = realloc(buf, ncap + 1);
			if (!grown) {
				rc = -ENOMEM;
				goto out;
			}
			buf = grown;
			cap = ncap;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			char *nl = memchr(buf + len, '\n', (size_t)n);
			len += (size_t)n;
			if (nl) {
				*nl = '\0';
				*reply = buf;
				buf = NULL;
				rc = 0;
				goto out;
			}
			continue;
		}
		if (n == 0) {
			rc = -EPROTO;
			goto out;
		}
		if (errno == ECONNRESET) {
			rc = -EPROTO;
			goto out;
		}
		if (errno != EAGAIN && errno != EINTR) {
			rc = -errno;
			goto out;
		}
		if ((rc = wait_fd(fd, POLLIN, deadline, stop)) != 0)
			goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(msg);
	return rc;
}

char *ctl_describe_error(int err, const char *path, char *out, size_t out_cap)
{
	switch (err) {
	case -ENOENT:
	case -ECONNREFUSED:
		snprintf(out, out_cap, "no daemon on %s \u2014 is `iron serve` running?", path);
		break;
	case -EACCES:
	case -EPERM:
		snprintf(out, out_cap,
			 "%s: permission denied \u2014 run as root or as a member of the socket's "
			 "group (--ctl-group)",
			 path);
		break;
	case -ETIMEDOUT:
		snprintf(out, out_cap, "%s: the daemon did not answer in time", path);
		break;
	case -EPROTO:
		snprintf(out, out_cap, "%s: the daemon closed the connection without a reply",
			 path);
		break;
	case -EMSGSIZE:
		snprintf(out, out_cap, "%s: the reply is larger than %d bytes", path,
			 CTL_REPLY_MAX);
		break;
	case -ENAMETOOLONG:
		snprintf(out, out_cap, "%s: too long for a Unix socket path (at most %zu bytes)",
			 path, ctl_socket_path_max());
		break;
	case -EADDRINUSE:
		snprintf(out, out_cap,
			 "another daemon is running on %s \u2014 stop it, or give this one its own "
			 "--socket or --state-dir",
			 path);
		break;
	case -EEXIST:
		snprintf(out, out_cap,
			 "%s exists and is not a socket \u2014 remove it or use --socket", path);
		break;
	default:
		snprintf(out, out_cap, "%s: %s", path, strerror(-err));
		break;
	}
	return out;
}
