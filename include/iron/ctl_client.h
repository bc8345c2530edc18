/* The control socket's client (the CLI side): one request, one reply, over
 * a blocking Unix socket. The lines are those of ctl_proto.h. */
#ifndef IRON_CTL_CLIENT_H
#define IRON_CTL_CLIENT_H

#include <signal.h>
#include <stddef.h>

#include "iron/ctl_proto.h"

/* Connects to path, sends request_line (a "\n" is added when missing; an
 * embedded newline is -EINVAL), waits for one reply line and returns it in
 * *reply (malloc'ed, NUL-terminated, without the newline; the caller frees
 * it). The whole call takes at most timeout_ms. Returns 0; -ENOENT or
 * -ECONNREFUSED when no daemon listens there; -EACCES when the socket is
 * not ours to use; -ETIMEDOUT; -EPROTO when the daemon closed the
 * connection without a full reply; -EMSGSIZE when the reply exceeds
 * CTL_REPLY_MAX; -ENAMETOOLONG; other -errno. Blocking. */
int ctl_call(const char *path, const char *request_line, char **reply, int timeout_ms);

/* ctl_call() that a signal can cut short: when *stop (may be NULL) is
 * non-zero before a wait, or becomes so in a signal handler that
 * interrupts one, it returns -EINTR at once (`iron ping` on Ctrl-C). A
 * signal landing just before a wait starts is seen only when that wait
 * ends, at the latest at the timeout. */
int ctl_call_interruptible(const char *path, const char *request_line, char **reply, int timeout_ms,
			   const volatile sig_atomic_t *stop);

/* A one-line explanation of a ctl_call() or ctl_server_start() error for
 * the user, naming the socket, e.g. "no daemon on /run/iron/iron.sock — is
 * `iron serve` running?". Returns out. */
char *ctl_describe_error(int err, const char *path, char *out, size_t out_cap);

#endif
