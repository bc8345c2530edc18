/* The control socket's protocol (SPEC section 9, docs/control.md), as
 * pure code: where the socket is, the request reader and the reply
 * writer. No I/O and no libuv: the server (ctl_server.h) and the client
 * (ctl_client.h) move the lines, this module gives them their meaning.
 *
 * Protocol: one request per line, one reply per line, both JSON objects.
 * A request is a flat object of string, number, boolean and null members
 * with a "cmd" string, e.g. {"cmd":"ping","peer":"<id>","count":3}. A reply
 * is {"ok":true,...} or {"ok":false,"error":"<why>"}. */
#ifndef IRON_CTL_PROTO_H
#define IRON_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_REQUEST_MAX 4096	      /* bytes of one request line, without "\n" */
#define CTL_REPLY_MAX	(1024 * 1024) /* bytes of one reply line, with "\n" */
#define CTL_MAX_MEMBERS 32	      /* members of one request object */
#define CTL_MAX_DEPTH	16	      /* nesting of a reply document */

/* ---- Where the socket is ---- */

/* The socket path, by the rule shared by daemon and CLI: socket_flag
 * (--socket) when not NULL; "<state>/iron.sock" when the state directory was
 * explicit (state_dir_flag, i.e. --state-dir, else $IRON_STATE_DIR);
 * "/run/iron/iron.sock" when euid is 0; "$XDG_RUNTIME_DIR/iron.sock"
 * otherwise. Returns 0; -ENOENT when none applies (not root and no
 * XDG_RUNTIME_DIR); -ENAMETOOLONG when the path does not fit out or a Unix
 * socket address (ctl_socket_path_max() bytes). */
int ctl_socket_path(const char *socket_flag, const char *state_dir_flag, uid_t euid, char *out,
		    size_t out_cap);

/* The longest path a Unix socket address holds (107 bytes on Linux). */
size_t ctl_socket_path_max(void);

/* ---- Requests ---- */

enum ctl_type { CTL_STRING, CTL_NUMBER, CTL_BOOL, CTL_NULL };

struct ctl_member {
	const char *key;
	enum ctl_type type;
	const char *string; /* CTL_STRING: decoded, NUL-terminated UTF-8 */
	double number;	    /* CTL_NUMBER */
	int64_t integer;    /* CTL_NUMBER: the exact value when integer_status is 0 */
	int integer_status; /* CTL_NUMBER: 0, -EINVAL (not an integer) or -ERANGE (an
			     * integer beyond int64_t), as json_int64() */
	bool boolean;	    /* CTL_BOOL */
};

/* A parsed request: a fixed size, whatever the line held. Strings point
 * into storage, so the object must not be copied by value while they are
 * in use. */
struct ctl_request {
	const char *command; /* the "cmd" member, or NULL when absent / not a string */
	size_t nmembers;
	struct ctl_member members[CTL_MAX_MEMBERS];
	char storage[CTL_REQUEST_MAX + 2 * CTL_MAX_MEMBERS];
};

/* Parses one request, len bytes of text (not NUL-terminated), read with
 * the program's JSON reader (json.h). The rules, each refused with the
 * *why given:
 *  - at most CTL_REQUEST_MAX bytes (-EMSGSIZE, "request too long");
 *  - a JSON object, surrounded by optional whitespace ("not a JSON object"
 *    when the first other byte is not '{', "text after the object");
 *  - at most CTL_MAX_MEMBERS members ("too many members");
 *  - values are strings, numbers, true, false or null, no nesting ("nested
 *    values are not supported");
 *  - no duplicate keys ("duplicate key");
 *  - strings, keys included, are valid UTF-8 ("invalid UTF-8") without NUL,
 *    also not as \u0000 ("NUL in string");
 *  - numbers have at most 63 characters ("number too long") and fit a
 *    double ("number out of range");
 *  - and JSON's grammar: "missing value", "bad number", "bad literal",
 *    "expected a key", "expected ':'", "expected ',' or '}'", "unterminated
 *    string", "control character in string", "bad escape", "bad \u escape",
 *    "truncated \u escape", "lone high surrogate", "lone low surrogate",
 *    "bad surrogate pair".
 * When a request breaks several rules, the first fault of JSON's grammar
 * is named before any of the other rules'. Returns 0, -EMSGSIZE, -ENOMEM
 * or -EINVAL, with *why (may be NULL) set to a static description on
 * error; out->nmembers is 0 after an error. */
int ctl_request_parse(const char *text, size_t len, struct ctl_request *out, const char **why);

/* Member lookup. ctl_request_string() returns NULL when the member is
 * missing or not a string. The others return 0, -ENOENT (missing) or
 * -EINVAL (another type), and leave *out untouched on error. */
const char *ctl_request_string(const struct ctl_request *req, const char *key);
int ctl_request_number(const struct ctl_request *req, const char *key, double *out);
int ctl_request_bool(const struct ctl_request *req, const char *key, bool *out);

/* An integer member within [min, max], exactly (also beyond 2^53 when
 * written as a plain integer; 4.2e1 and 42.0 are 42). Returns 0 with *out
 * set; -ENOENT when missing; -EINVAL when not a number or not an integer
 * (1.5, 1e-3, "7"); -ERANGE when an integer outside [min, max] (1e300, 2^63
 * and beyond included). *out is untouched on error. Handlers take every
 * number through here: converting a double beyond int64_t is undefined. */
int ctl_request_int(const struct ctl_request *req, const char *key, int64_t min, int64_t max,
		    int64_t *out);

/* ---- Replies ---- */

/* A reply being built: the document starts as {"ok":true and members are
 * appended in order. In an object a member needs a key; in an array key
 * must be NULL. The writers return 0, -EINVAL on misuse (wrong key use,
 * unbalanced end, after the reply was finished) or -ENOSPC when the reply
 * would exceed CTL_REPLY_MAX; either makes the final reply an error reply,
 * so handlers may ignore the return values. Strings that are not valid
 * UTF-8 are written with U+FFFD in place of the bad bytes. */
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

/* Bytes of the document written so far: a handler that lists many items
 * stops well before CTL_REPLY_MAX and says where to go on. */
size_t ctl_reply_size(const struct ctl_reply *reply);

/* Makes this an error reply: {"ok":false,"error":"<message>"}; whatever
 * was written is dropped. The message is printf-formatted, cut at 255
 * bytes. */
void ctl_reply_error(struct ctl_reply *reply, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A new reply, {"ok":true so far. Returns NULL when out of memory. Used
 * standalone (tests, the CLI's JSON output) or bound to a client by the
 * server. */
struct ctl_reply *ctl_reply_new(void);

/* Completes the document (closing the root object, or turning it into the
 * error reply) and returns it, NUL-terminated, without a newline; *len (may
 * be NULL) gets its length. Valid until ctl_reply_free(). No writer may be
 * called afterwards. */
const char *ctl_reply_text(struct ctl_reply *reply, size_t *len);

/* Frees a reply; NULL is fine. */
void ctl_reply_free(struct ctl_reply *reply);

/* ---- Replies and their owner (for ctl_server.c) ---- */

/* A reply the server made for a client records that client as its owner
 * (an opaque pointer). ctl_reply_disown() is for when the client goes
 * while a handler still holds the reply: the owner becomes NULL and the
 * reply cancelled. */
void ctl_reply_set_owner(struct ctl_reply *reply, void *owner);
void *ctl_reply_owner(const struct ctl_reply *reply);
void ctl_reply_disown(struct ctl_reply *reply);

/* True when the reply was made for a client that has gone (or whose server
 * was closed): a handler holding it may stop working on it, but must still
 * finish it. False for a standalone reply. */
bool ctl_reply_cancelled(const struct ctl_reply *reply);

/* Completes the document as ctl_reply_text() and hands its buffer to the
 * caller, who frees it: *len bytes of text, with room for one more byte
 * (the server's newline) behind them. Returns NULL when out of memory even
 * for the error reply. The reply is then empty; it must still be freed. */
char *ctl_reply_take(struct ctl_reply *reply, size_t *len);

#endif
