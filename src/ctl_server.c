/* The control socket's server on the daemon's libuv loop: the listening
 * socket, one client per connection with its line buffer, idle timer and
 * at most one reply in flight, and deferred replies. */
#define LOG_MODULE "ctl"

#include "iron/ctl_server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "iron/log.h"

#define CTL_BACKLOG 128
/* A client is closed to make room only once it has been idle this long:
 * one that has just connected is about to send its request (unbound, when
 * short of TCP buffers, also keeps 200 ms). */
#define CTL_EVICT_IDLE_MS 200

struct ctl_server {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	ctl_handler_fn *handler;
	void *user;
	unsigned idle_timeout_ms;
	unsigned max_clients;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *name; /* the socket's name in its directory (in path) */
	int dir_fd;	  /* that directory, checked once and used from then on */
	dev_t dev;
	ino_t ino;
	uint64_t activity_seq;	/* stamps clients' activity: the lowest is the oldest */
	uv_timer_t evict_timer; /* retries a waiting accept once a client may give way */
	bool evict_timer_closed;
	LIST_HEAD(, ctl_client) clients;
	bool accept_waiting; /* a connection waits in the backlog because we are full */
	bool closing;
	bool pipe_closed;
	struct ctl_server_stats stats;
};

struct ctl_client {
	struct ctl_server *server;
	LIST_ENTRY(ctl_client) entry; /* in server->clients until freed */
	uv_pipe_t pipe;
	uv_timer_t timer;
	int open_handles;
	bool reading, eof, closing, close_after_write;
	bool busy;		   /* a request is with the handler or its reply being written */
	bool deferred;		   /* the handler called ctl_reply_defer() or finished the reply */
	bool in_handler;	   /* the handler is running */
	uint64_t last_activity;	   /* server->activity_seq at accept, a request or a reply */
	uint64_t active_ms;	   /* uv_now() then */
	struct ctl_reply *pending; /* the reply the handler holds */
	uv_write_t write_req;
	char *out; /* the reply being written */
	size_t out_len;
	size_t in_len;
	char in[CTL_REQUEST_MAX + 1];
	struct ctl_request request;
};

static void client_process(struct ctl_client *c);
static void resume_accept(struct ctl_server *s);

static void server_maybe_free(struct ctl_server *s)
{
	if (s->closing && s->pipe_closed && s->evict_timer_closed && LIST_EMPTY(&s->clients)) {
		if (s->dir_fd >= 0)
			close(s->dir_fd);
		free(s);
	}
}

static void client_closed(uv_handle_t *handle)
{
	struct ctl_client *c = handle->data;
	struct ctl_server *s = c->server;
	if (--c->open_handles > 0)
		return;
	LIST_REMOVE(c, entry);
	free(c->out);
	free(c);
	if (s->closing) {
		server_maybe_free(s);
		return;
	}
	resume_accept(s);
}

static void client_close(struct ctl_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->server->stats.clients--;
	if (c->pending) {
		/* The handler still holds the reply; it becomes cancelled. */
		ctl_reply_disown(c->pending);
		c->pending = NULL;
	}
	uv_close((uv_handle_t *)&c->pipe, client_closed);
	uv_close((uv_handle_t *)&c->timer, client_closed);
}

static void on_timeout(uv_timer_t *timer)
{
	struct ctl_client *c = timer->data;
	c->server->stats.timeouts++;
	log_debug("closing a control connection: %s",
		  c->out ? "the client does not read its reply" : "idle");
	client_close(c);
}

static void arm_timer(struct ctl_client *c)
{
	uv_timer_start(&c->timer, on_timeout, c->server->idle_timeout_ms, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *c = handle->data;
	(void)suggested;
	buf->base = c->in + c->in_len;
	buf->len = sizeof(c->in) - c->in_len;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *c = stream->data;
	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF) {
			client_close(c);
			return;
		}
		c->eof = true;
		uv_read_stop(stream);
		c->reading = false;
	} else {
		c->in_len += (size_t)nread;
		arm_timer(c);
	}
	client_process(c);
}

static void on_write(uv_write_t *req, int status)
{
	struct ctl_client *c = req->data;
	struct ctl_server *s = c->server;
	s->stats.pending_output -= c->out_len;
	free(c->out);
	c->out = NULL;
	c->out_len = 0;
	c->busy = false;
	if (c->closing)
		return;
	if (status < 0 || c->close_after_write) {
		client_close(c);
		return;
	}
	c->last_activity = ++s->activity_seq;
	c->active_ms = uv_now(s->loop);
	arm_timer(c);
	client_process(c);
	resume_accept(s);
}

/* Takes the completed reply's buffer and writes it with its newline. */
static void client_send(struct ctl_client *c, struct ctl_reply *r)
{
	struct ctl_server *s = c->server;
	uv_buf_t buf;
	size_t len;
	char *text = ctl_reply_take(r, &len);
	if (!text) {
		/* Out of memory even for the error reply. */
		client_close(c);
		return;
	}
	text[len] = '\n'; /* ctl_reply_take() leaves room for this byte */
	c->out = text;
	c->out_len = len + 1;
	buf = uv_buf_init(c->out, (unsigned)c->out_len);
	s->stats.pending_output += c->out_len;
	if (s->stats.pending_output > s->stats.peak_pending_output)
		s->stats.peak_pending_output = s->stats.pending_output;
	c->write_req.data = c;
	/* The timer now bounds how long the client may take to read it. */
	arm_timer(c);
	if (uv_write(&c->write_req, (uv_stream_t *)&c->pipe, &buf, 1, on_write) != 0) {
		s->stats.pending_output -= c->out_len;
		free(c->out);
		c->out = NULL;
		c->busy = false;
		client_close(c);
	}
}

void ctl_reply_defer(struct ctl_reply *reply)
{
	struct ctl_client *c = ctl_reply_owner(reply);
	if (c)
		c->deferred = true;
}

void ctl_reply_finish(struct ctl_reply *reply)
{
	struct ctl_client *c = ctl_reply_owner(reply);
	/* Finished inside the handler without ctl_reply_defer(): the server
	 * must not finish it a second time when the handler returns. */
	if (c && c->in_handler)
		c->deferred = true;
	if (c && !c->closing) {
		c->pending = NULL;
		client_send(c, reply);
	}
	ctl_reply_free(reply);
}

/* Answers with an error without involving the handler. */
static void reply_error_now(struct ctl_client *c, const char *why)
{
	struct ctl_reply *r = ctl_reply_new();
	c->server->stats.bad_requests++;
	if (!r) {
		client_close(c);
		return;
	}
	ctl_reply_error(r, "%s", why);
	ctl_reply_set_owner(r, c);
	ctl_reply_finish(r);
}

static void handle_line(struct ctl_client *c, const char *line, size_t len)
{
	struct ctl_server *s = c->server;
	const char *why = NULL;
	char msg[96];
	struct ctl_reply *r;

	c->busy = true;
	c->last_activity = ++s->activity_seq;
	c->active_ms = uv_now(s->loop);
	if (ctl_request_parse(line, len, &c->request, &why) != 0) {
		snprintf(msg, sizeof(msg), "invalid request: %s", why ? why : "bad JSON");
		reply_error_now(c, msg);
		return;
	}
	if (!c->request.command) {
		reply_error_now(c, "invalid request: missing \"cmd\"");
		return;
	}
	r = ctl_reply_new();
	if (!r) {
		client_close(c);
		return;
	}
	ctl_reply_set_owner(r, c);
	c->pending = r;
	c->deferred = false;
	s->stats.requests++;
	uv_timer_stop(&c->timer);
	c->in_handler = true;
	s->handler(s->user, &c->request, r);
	c->in_handler = false;
	/* Without ctl_reply_defer() the reply is complete now; with it, the
	 * handler may already have finished it (then c->pending is NULL). */
	if (!c->deferred)
		ctl_reply_finish(r);
}

/* The last reply of a connection whose request line is too long. Busy
 * until it is written (then the connection closes), so that the rest of
 * that line, arriving later, is neither read nor taken for a request: a
 * second reply while the first is being written would reuse its write
 * request and buffer. */
static void reply_too_long(struct ctl_client *c)
{
	c->close_after_write = true;
	c->in_len = 0;
	c->busy = true;
	reply_error_now(c, "request longer than 4096 bytes");
}

/* Handles buffered lines while no request is in progress, and reads more
 * only then, so one client never has more than one reply outstanding. */
static void client_process(struct ctl_client *c)
{
	while (!c->busy && !c->closing) {
		char *nl = memchr(c->in, '\n', c->in_len);
		if (nl || (c->eof && c->in_len > 0)) {
			size_t line_len = nl ? (size_t)(nl - c->in) : c->in_len;
			size_t used = nl ? line_len + 1 : line_len;
			size_t n = line_len;
			if (n > 0 && c->in[n - 1] == '\r')
				n--;
			if (n > CTL_REQUEST_MAX) {
				/* Only the final unterminated line can get here. */
				reply_too_long(c);
				break;
			}
			/* Blank lines (a human at socat) are skipped. The parsed
			 * request owns copies, so the buffer may move after. */
			bool blank = true;
			for (size_t i = 0; i < n; i++)
				if (c->in[i] != ' ' && c->in[i] != '\t')
					blank = false;
			if (!blank)
				handle_line(c, c->in, n);
			memmove(c->in, c->in + used, c->in_len - used);
			c->in_len -= used;
			continue;
		}
		if (c->in_len == sizeof(c->in)) {
			reply_too_long(c);
			break;
		}
		if (c->eof) {
			client_close(c);
			return;
		}
		break;
	}
	if (c->closing)
		return;
	if (c->busy && c->reading) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
	} else if (!c->busy && !c->reading && !c->eof) {
		if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) == 0)
			c->reading = true;
		else
			client_close(c);
	}
}

static void accept_one(struct ctl_server *s)
{
	struct ctl_client *c = calloc(1, sizeof(*c));
	if (!c) {
		/* Leave it in the backlog; a closing client retries. */
		s->accept_waiting = true;
		return;
	}
	c->server = s;
	uv_pipe_init(s->loop, &c->pipe, 0);
	uv_timer_init(s->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->last_activity = ++s->activity_seq;
	c->active_ms = uv_now(s->loop);
	LIST_INSERT_HEAD(&s->clients, c, entry);
	s->stats.clients++;
	if (uv_accept((uv_stream_t *)&s->pipe, (uv_stream_t *)&c->pipe) != 0) {
		client_close(c);
		return;
	}
	s->stats.accepted++;
	if (s->stats.clients > s->stats.peak_clients)
		s->stats.peak_clients = s->stats.clients;
	/* What the client sent before we accepted it is read now: a request
	 * already there is served at once, so that a burst of connections
	 * behind it cannot make it the oldest idle client before the loop
	 * gets round to reading it. */
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0) {
		ssize_t n = recv(fd, c->in, sizeof(c->in), MSG_DONTWAIT);
		if (n > 0)
			c->in_len = (size_t)n;
	}
	arm_timer(c);
	client_process(c);
}

/* The client to close when a new one needs its place: of those with no
 * request in progress, the one whose last request (or connection) is the
 * oldest, if it has been idle CTL_EVICT_IDLE_MS. NULL when there is none;
 * then *wait_ms is how long until one may be (UINT64_MAX: every client is
 * busy, with a deferred ping or a reply being written, both bounded in
 * time, and a slot frees when one is done). */
static struct ctl_client *oldest_idle(struct ctl_server *s, uint64_t *wait_ms)
{
	struct ctl_client *c, *best = NULL;
	uint64_t now = uv_now(s->loop);
	LIST_FOREACH(c, &s->clients, entry)
	{
		if (!c->closing && !c->busy && (!best || c->last_activity < best->last_activity))
			best = c;
	}
	*wait_ms = UINT64_MAX;
	if (best && now - best->active_ms < CTL_EVICT_IDLE_MS) {
		*wait_ms = CTL_EVICT_IDLE_MS - (now - best->active_ms);
		best = NULL;
	}
	return best;
}

static void on_evict_timer(uv_timer_t *timer)
{
	resume_accept(timer->data);
}

static void on_connection(uv_stream_t *stream, int status)
{
	struct ctl_server *s = stream->data;
	if (status < 0) {
		log_warn("control socket: accept: %s", uv_strerror(status));
		return;
	}
	/* Full: the client idle the longest makes room, so that clients that
	 * connect and say nothing cannot lock `iron status` out. When every
	 * client has a request in progress, not accepting makes libuv stop
	 * watching the socket until we do: the kernel's backlog holds the
	 * rest, bounded, at no cost to us. Clients being closed are freed
	 * within a loop iteration, so at most a backlog's worth of them is
	 * ever held beyond the cap. */
	s->accept_waiting = true;
	resume_accept(s);
}

/* Takes the connection waiting in the backlog when there is room, or can
 * be made. Called on a new connection, when a client closes and when one
 * finishes a request (it may now give way). */
static void resume_accept(struct ctl_server *s)
{
	if (!s->accept_waiting || s->closing)
		return;
	if (s->stats.clients >= s->max_clients) {
		uint64_t wait_ms;
		struct ctl_client *victim = oldest_idle(s, &wait_ms);
		if (!victim) {
			if (wait_ms != UINT64_MAX)
				uv_timer_start(&s->evict_timer, on_evict_timer, wait_ms, 0);
			return;
		}
		s->stats.evicted++;
		log_debug("%zu control connections: closing the one idle the longest",
			  s->stats.clients);
		client_close(victim);
	}
	s->accept_waiting = false;
	accept_one(s);
}

/* Is a daemon answering on sun? 1 yes, 0 stale (nobody listens), or
 * -errno. A full backlog (EAGAIN) also means someone is there. */
static int probe_socket(const struct sockaddr_un *sun)
{
	int fd, rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 || errno == EAGAIN)
		rc = 1;
	else if (errno == ECONNREFUSED)
		rc = 0;
	else
		rc = -errno;
	close(fd);
	return rc;
}

/* Opens the socket's directory (created, mode 0755, when missing) into
 * s->dir_fd and refuses one that someone else could write: whoever can
 * rename entries there can swap our socket for a symlink or a link to
 * another file (as OpenSSH refuses such directories for its files). */
static int open_directory(struct ctl_server *s)
{
	char dir[sizeof(s->path)];
	struct stat st;
	char *slash = strrchr(s->path, '/');

	if (!slash) {
		strcpy(dir, ".");
		s->name = s->path;
	} else {
		size_t n = slash == s->path ? 1 : (size_t)(slash - s->path);
		memcpy(dir, s->path, n);
		dir[n] = '\0';
		s->name = slash + 1;
	}
	if (!*s->name)
		return -EINVAL;
	/* The parent: /run/iron when not run by systemd (RuntimeDirectory). */
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0 || fstat(s->dir_fd, &st) != 0)
		return -errno;
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		log_error("control socket: the directory %s belongs to uid %u, not to root or "
			  "this daemon's user: chown it, or choose another --socket or --state-dir",
			  dir, (unsigned)st.st_uid);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_error("control socket: other users can write the directory %s (mode %04o): "
			  "chmod go-w it, or choose another --socket or --state-dir",
			  dir, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* The address that names the socket inside the directory we checked,
 * whatever happens to the path's other components meanwhile:
 * /proc/self/fd/<dir_fd>/<name> when /proc is there, else the path. */
static void socket_address(const struct ctl_server *s, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	int n = snprintf(sun->sun_path, sizeof(sun->sun_path), "/proc/self/fd/%d/%s", s->dir_fd,
			 s->name);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path) || access("/proc/self/fd", X_OK) != 0)
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", s->path);
}

/* Creates the socket file with its final mode and group from the start:
 * the umask makes the mode and the file system group ID the group, so
 * nothing is changed by path afterwards (a chmod or chown of a path that
 * someone swapped for a symlink would change another file). Only where
 * the kernel did not give the group (a set-group-ID directory, a group a
 * non-root daemon may use but not take as its fsgid) is it set on the
 * entry itself, never through a symlink, in the directory we checked.
 * Returns the bound descriptor or -errno. */
static int bind_socket(struct ctl_server *s, mode_t mode, const gid_t *gid, struct stat *st)
{
	struct sockaddr_un sun;
	int fd, rc = 0;

	socket_address(s, &sun);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The daemon is single-threaded, so neither change is racy. */
	mode_t old_umask = umask(0777 & ~mode);
	int old_fsgid = gid ? setfsgid(*gid) : -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
		rc = -errno;
	if (gid)
		setfsgid((gid_t)old_fsgid);
	umask(old_umask);
	if (rc != 0)
		goto fail;
	if (fstatat(s->dir_fd, s->name, st, AT_SYMLINK_NOFOLLOW) != 0) {
		rc = -errno;
		goto fail_bound;
	}
	if (!S_ISSOCK(st->st_mode)) {
		rc = -EEXIST;
		goto fail;
	}
	if (gid && st->st_gid != *gid) {
		if (fchownat(s->dir_fd, s->name, (uid_t)-1, *gid, AT_SYMLINK_NOFOLLOW) != 0 ||
		    fstatat(s->dir_fd, s->name, st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = -errno;
			goto fail_bound;
		}
	}
	/* A default ACL on the directory overrides the umask. */
	if ((st->st_mode & 0777) != mode) {
		if (fchmodat(s->dir_fd, s->name, mode, 0) != 0 ||
		    fstatat(s->dir_fd, s->name, st, AT_SYMLINK_NOFOLLOW) != 0) {
			rc = -errno;
			goto fail_bound;
		}
	}
	if (!S_ISSOCK(st->st_mode)) {
		rc = -EEXIST;
		goto fail;
	}
	return fd;
fail_bound:
	unlinkat(s->dir_fd, s->name, 0);
fail:
	close(fd);
	return rc;
}

static int lookup_group(const char *name, gid_t *gid)
{
	struct group grp, *found = NULL;
	char buf[4096];
	char *end = NULL;
	int rc = getgrnam_r(name, &grp, buf, sizeof(buf), &found);
	if (rc == 0 && found) {
		*gid = found->gr_gid;
		return 0;
	}
	unsigned long n = strtoul(name, &end, 10);
	if (*name && end && !*end && n < (unsigned long)(gid_t)-1) {
		*gid = (gid_t)n;
		return 0;
	}
	return -ENOENT;
}

static void server_pipe_closed(uv_handle_t *handle)
{
	struct ctl_server *s = handle->data;
	s->pipe_closed = true;
	server_maybe_free(s);
}

static void server_timer_closed(uv_handle_t *handle)
{
	struct ctl_server *s = handle->data;
	s->evict_timer_closed = true;
	server_maybe_free(s);
}

int ctl_server_start(uv_loop_t *loop, const struct ctl_server_options *opts,
		     struct ctl_server **out)
{
	struct ctl_server *s = NULL;
	struct sockaddr_un sun;
	struct stat st;
	gid_t gid = 0;
	mode_t mode = opts->group ? 0660 : 0600;
	bool pipe_open = false, bound = false;
	int fd = -1, rc;

	*out = NULL;
	if (!opts->handler || !opts->path || !*opts->path)
		return -EINVAL;
	/* libuv writes to the socket with write(), so a client that hangs up
	 * before its reply would kill the daemon with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (strlen(opts->path) > ctl_socket_path_max())
		return -ENAMETOOLONG;
	if (opts->group && (rc = lookup_group(opts->group, &gid)) != 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->dir_fd = -1;
	LIST_INIT(&s->clients);
	s->handler = opts->handler;
	s->user = opts->user;
	s->idle_timeout_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : CTL_IDLE_TIMEOUT_MS;
	s->max_clients = opts->max_clients ? opts->max_clients : CTL_MAX_CLIENTS;
	strcpy(s->path, opts->path);

	if ((rc = open_directory(s)) != 0)
		goto out;
	if (fstatat(s->dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			rc = -EEXIST;
			goto out;
		}
		socket_address(s, &sun);
		rc = probe_socket(&sun);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			rc = -EADDRINUSE;
			goto out;
		}
		log_info("removing stale control socket %s", s->path);
		if (unlinkat(s->dir_fd, s->name, 0) != 0 && errno != ENOENT) {
			rc = -errno;
			goto out;
		}
	} else if (errno != ENOENT) {
		rc = -errno;
		goto out;
	}

	fd = bind_socket(s, mode, opts->group ? &gid : NULL, &st);
	if (fd < 0) {
		rc = fd;
		goto out;
	}
	bound = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if ((rc = uv_pipe_init(loop, &s->pipe, 0)) != 0)
		goto out;
	pipe_open = true;
	s->pipe.data = s;
	uv_timer_init(loop, &s->evict_timer);
	s->evict_timer.data = s;
	if ((rc = uv_pipe_open(&s->pipe, fd)) != 0)
		goto out;
	fd = -1; /* the pipe's now */
	if ((rc = uv_listen((uv_stream_t *)&s->pipe, CTL_BACKLOG, on_connection)) != 0)
		goto out;
	*out = s;
	s = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (s) {
		if (bound)
			unlinkat(s->dir_fd, s->name, 0);
		if (pipe_open) {
			/* Freed with the handles, once libuv has closed them. */
			s->closing = true;
			uv_close((uv_handle_t *)&s->evict_timer, server_timer_closed);
			uv_close((uv_handle_t *)&s->pipe, server_pipe_closed);
		} else {
			if (s->dir_fd >= 0)
				close(s->dir_fd);
			free(s);
		}
	}
	return rc;
}

void ctl_server_close(struct ctl_server *server)
{
	struct ctl_client *c;
	struct stat st;
	if (!server || server->closing)
		return;
	server->closing = true;
	/* Remove the file only if it is still ours: a newer daemon may have
	 * replaced it after deciding this one was gone. */
	if (fstatat(server->dir_fd, server->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == server->dev && st.st_ino == server->ino)
		unlinkat(server->dir_fd, server->name, 0);
	/* client_close() leaves the list to the close callbacks, so walking
	 * it here is safe. */
	LIST_FOREACH(c, &server->clients, entry)
	client_close(c);
	uv_close((uv_handle_t *)&server->evict_timer, server_timer_closed);
	uv_close((uv_handle_t *)&server->pipe, server_pipe_closed);
}

void ctl_server_get_stats(const struct ctl_server *server, struct ctl_server_stats *out)
{
	*out = server->stats;
}
