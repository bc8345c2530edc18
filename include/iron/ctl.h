/* The control socket (SPEC section 9): a Unix stream socket on which the
 * CLI (`iron status`, `peers`, `ping`) talks to the daemon.
 *
 * Protocol: one request per line, one reply per line, both JSON objects.
 * A request is a flat object of string, number, boolean and null members
 * with a "cmd" string, e.g. {"cmd":"ping","peer":"<id>","count":3}. A reply
 * is {"ok":true,...} or {"ok":false,"error":"<why>"}. Requests of one
 * client are answered in order, one at a time.
 *
 * Limits: a request line is at most CTL_REQUEST_MAX bytes (a longer one
 * gets an error reply and the connection is closed); at most max_clients
 * connections are served at once (more wait in the listen backlog until
 * one closes); a connection with no request in progress is closed after
 * idle_timeout_ms, and so is one whose reply the client does not read
 * within that time; at most one reply (at most CTL_REPLY_MAX bytes) is
 * buffered per client, since the next request is read only when the
 * previous reply has been written. */
#ifndef IRON_CTL_H
#define IRON_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define CTL_REQUEST_MAX	    4096	  /* bytes of one request line, without "\n" */
#define CTL_REPLY_MAX	    (1024 * 1024) /* bytes of one reply line, with "\n" */
#define CTL_MAX_MEMBERS	    32		  /* members of one request object */
#define CTL_MAX_DEPTH	    16		  /* nesting of a reply document */
#define CTL_MAX_CLIENTS	    64
#define CTL_IDLE_TIMEOUT_MS 10000

/* ---- Where the socket is ---- */

/* The socket path, by the rule shared by daemon and CLI: socket_flag
 * (--socket) when not NULL; "<state>/iron.sock" when the state directory was
 * explicit (state_dir_flag, i.e. --state-dir, else $IRON_STATE_DIR);
 * "/run/iron/iron.sock" when euid is 0; "$XDG_RUNTIME_DIR/iron.sock"
 * otherwise. Returns 0; -ENOENT when none applies (not root and no
 * XDG_RUNTIME_DIR); -ENAMETOOLONG when the path does not fit out or a Unix
 * socket address (107 bytes). */
int ctl_socket_path(const char *socket_flag, const char *state_dir_flag, uid_t euid, char *out,
		    size_t out_cap);

/* ---- Requests ---- */

enum ctl_type { CTL_STRING, CTL_NUMBER, CTL_BOOL, CTL_NULL };

struct ctl_member {
	const char *key;
	enum ctl_type type;
	const char *string; /* CTL_STRING: decoded, NUL-terminated UTF-8 */
	double number;	    /* CTL_NUMBER */
	bool boolean;	    /* CTL_BOOL */
};

/* A parsed request. Strings point into storage, so the object must not be
 * copied by value while they are in use. */
struct ctl_request {
	const char *command; /* the "cmd" member, or NULL when absent / not a string */
	size_t nmembers;
	struct ctl_member members[CTL_MAX_MEMBERS];
	char storage[CTL_REQUEST_MAX + 2 * CTL_MAX_MEMBERS];
};

/* Parses one request: a JSON object with at most CTL_MAX_MEMBERS members
 * whose values are strings, numbers, true, false or null (no nesting), no
 * duplicate keys, surrounded by optional whitespace. len bytes of text
 * (not NUL-terminated). Strings must be valid UTF-8 without NUL (also not
 * as \u0000). Returns 0, -EMSGSIZE when len > CTL_REQUEST_MAX, or -EINVAL
 * with *why (may be NULL) set to a static description. */
int ctl_request_parse(const char *text, size_t len, struct ctl_request *out, const char **why);

/* Member lookup. ctl_request_string() returns NULL when the member is
 * missing or not a string. The others return 0, -ENOENT (missing) or
 * -EINVAL (another type). */
const char *ctl_request_string(const struct ctl_request *req, const char *key);
int ctl_request_number(const struct ctl_request *req, const char *key, double *out);
int ctl_request_bool(const struct ctl_request *req, const char *key, bool *out);

/* ---- Replies ---- */

/* A reply being built: the document starts as {"ok":true and members are
 * appended in order. In an object a member needs a key; in an array key
 * must be NULL. The writers return 0, -EINVAL on misuse (wrong key use,
 * unbalanced end, after the reply was finished) or -ENOSPC when the reply
 * would exceed CTL_REPLY_MAX; either makes the final reply an error reply,
 * so handlers may ignore the return values. */
struct ctl_reply;

int ctl_reply_string(struct ctl_reply *reply, const char *key, const char *value);
int ctl_reply_int(struct ctl_reply *reply, const char *key, int64_t value);
int ctl_reply_uint(struct ctl_reply *reply, const char *key, uint64_t value);
/* A non-finite value is written as null. */
int ctl_reply_double(struct ctl_reply *reply, const char *key, double value);
int ctl_reply_bool(struct ctl_reply *reply, const char *key, bool value);
int ctl_reply_null(struct ctl_reply *reply, const char *key);
int ctl_reply_begin_object(struct ctl_reply *reply, const char *key);
int ctl_reply_end_object(struct ctl_reply *reply);
int ctl_reply_begin_array(struct ctl_reply *reply, const char *key);
int ctl_reply_end_array(struct ctl_reply *reply);

/* Makes this an error reply: {"ok":false,"error":"<message>"}; whatever
 * was written is dropped. The message is printf-formatted, cut at 255
 * bytes. */
void ctl_reply_error(struct ctl_reply *reply, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Asynchronous replies. A handler that cannot answer at once (ping waits for
 * round trips) calls ctl_reply_defer() and returns; it then owns the reply
 * and must call ctl_reply_finish() exactly once, later, from the loop's
 * thread. Without ctl_reply_defer() the server finishes the reply when the
 * handler returns. */
void ctl_reply_defer(struct ctl_reply *reply);

/* Completes a reply: sends it (when its client is still there) and frees
 * it. Also allowed inside the handler, deferred or not; the reply must not
 * be used afterwards. */
void ctl_reply_finish(struct ctl_reply *reply);

/* True when the client of a deferred reply has gone (or the server was
 * closed): the handler may stop working on it, but must still finish it. */
bool ctl_reply_cancelled(const struct ctl_reply *reply);

/* A reply not bound to a client, to build a document outside the server
 * (tests, the CLI's JSON output). Returns NULL when out of memory. */
struct ctl_reply *ctl_reply_new(void);

/* Completes the document (closing the root object, or turning it into the
 * error reply) and returns it, NUL-terminated, without a newline; *len (may
 * be NULL) gets its length. Valid until ctl_reply_free(). No writer may be
 * called afterwards. */
const char *ctl_reply_text(struct ctl_reply *reply, size_t *len);

/* Frees a reply from ctl_reply_new(). */
void ctl_reply_free(struct ctl_reply *reply);

/* ---- Server (daemon side) ---- */

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
	size_t clients;	       /* connected now (not counting ones being closed) */
	size_t peak_clients;   /* most connected at once */
	size_t pending_output; /* reply bytes written but not yet taken by clients */
	size_t peak_pending_output;
};

struct ctl_server;

/* Creates the socket and starts serving on loop. The parent directory is
 * created (mode 0755) when missing. When the path exists: a socket whose
 * daemon accepts connections gives -EADDRINUSE (another daemon runs; nothing
 * is touched); a socket nobody listens on (ECONNREFUSED) is a stale file
 * and is replaced; anything that is not a socket gives -EEXIST. Also
 * -ENAMETOOLONG, -ENOENT (unknown group), -EINVAL (no handler), or -errno
 * from the system. The socket is created with mode 0600 (0660 with a
 * group) from the start, never wider. Sets SIGPIPE to be ignored (a
 * client that hangs up must not kill the daemon). */
int ctl_server_start(uv_loop_t *loop, const struct ctl_server_options *opts,
		     struct ctl_server **out);

/* Stops serving: closes every connection (deferred replies become
 * cancelled, their handlers still finish them), removes the socket file if
 * it is still the one this server created, and frees the server once libuv
 * has closed its handles. */
void ctl_server_close(struct ctl_server *server);

void ctl_server_get_stats(const struct ctl_server *server, struct ctl_server_stats *out);

/* ---- Client (CLI side) ---- */

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
