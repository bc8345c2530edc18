/* The control socket's server, on the daemon's libuv loop: accepts
 * clients, reads request lines, hands each parsed request (ctl_proto.h) to
 * one handler and writes its reply.
 *
 * Requests of one client are answered in order, one at a time. Limits: a
 * request line is at most CTL_REQUEST_MAX bytes (a longer one gets an error
 * reply and the connection is closed); at most max_clients connections are
 * served at once: a new one beyond that closes the client idle the longest
 * (no request in progress, oldest last request, idle for 200 ms at least:
 * one that just connected is about to send), and waits in the listen
 * backlog until there is one; a
 * connection with no request in progress is closed after idle_timeout_ms,
 * and so is one whose reply the client does not read within that time; at
 * most one reply (at most CTL_REPLY_MAX bytes) is buffered per client,
 * since the next request is read only when the previous reply has been
 * written. */
#ifndef IRON_CTL_SERVER_H
#define IRON_CTL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "iron/ctl_proto.h"

#define CTL_MAX_CLIENTS	    64
#define CTL_IDLE_TIMEOUT_MS 10000

/* Called once per request, on the loop's thread. req is valid only during
 * the call. */
typedef void ctl_handler_fn(void *user, const struct ctl_request *req, struct ctl_reply *reply);

struct ctl_server_options {
	const char *path;	  /* from ctl_socket_path() */
	const char *group;	  /* --ctl-group: NULL for mode 0600, else 0660 and this group
				   * (a name or a number) */
	unsigned idle_timeout_ms; /* 0: CTL_IDLE_TIMEOUT_MS */
	unsigned max_clients;	  /* 0: CTL_MAX_CLIENTS */
	ctl_handler_fn *handler;
	void *user;
};

struct ctl_server_stats {
	uint64_t accepted;     /* connections */
	uint64_t requests;     /* lines handed to the handler */
	uint64_t bad_requests; /* invalid JSON, no "cmd", too long */
	uint64_t timeouts;     /* connections closed for idleness or not reading */
	uint64_t evicted;      /* idle connections closed to make room for a new one */
	size_t clients;	       /* connected now (not counting ones being closed) */
	size_t peak_clients;   /* most connected at once */
	size_t pending_output; /* reply bytes written but not yet taken by clients */
	size_t peak_pending_output;
};

struct ctl_server;

/* Creates the socket and starts serving on loop. The parent directory is
 * created (mode 0755) when missing; one that belongs to another user than
 * root or ours, or that group or others may write, is refused with -EPERM
 * (and a log line saying what to fix): there someone could swap the
 * socket for a symlink. When the path exists: a socket whose
 * daemon accepts connections gives -EADDRINUSE (another daemon runs; nothing
 * is touched); a socket nobody listens on (ECONNREFUSED) is a stale file
 * and is replaced; anything that is not a socket gives -EEXIST. Also
 * -ENAMETOOLONG, -ENOENT (unknown group), -EINVAL (no handler), or -errno
 * from the system. The socket is created with mode 0600 (0660 with a
 * group) and its group from the start, never wider, and nothing is
 * changed through the path afterwards. Sets SIGPIPE to be ignored (a
 * client that hangs up must not kill the daemon). */
int ctl_server_start(uv_loop_t *loop, const struct ctl_server_options *opts,
		     struct ctl_server **out);

/* Stops serving: closes every connection (deferred replies become
 * cancelled, their handlers still finish them), removes the socket file if
 * it is still the one this server created, and frees the server once libuv
 * has closed its handles. */
void ctl_server_close(struct ctl_server *server);

void ctl_server_get_stats(const struct ctl_server *server, struct ctl_server_stats *out);

/* Asynchronous replies. A handler that cannot answer at once (ping waits for
 * round trips) calls ctl_reply_defer() and returns; it then owns the reply
 * and must call ctl_reply_finish() exactly once, later, from the loop's
 * thread (ctl_reply_cancelled() says whether its client is still there).
 * Without ctl_reply_defer() the server finishes the reply when the handler
 * returns. */
void ctl_reply_defer(struct ctl_reply *reply);

/* Completes a reply: sends it (when its client is still there) and frees
 * it. Also allowed inside the handler, deferred or not, and for a
 * standalone reply (then it only frees it); the reply must not be used
 * afterwards. */
void ctl_reply_finish(struct ctl_reply *reply);

#endif
