/* The control socket: path rule, request parser, reply writer, the server
 * on the daemon's loop and the blocking client of the CLI. */
#define LOG_MODULE "ctl"

#include "iron/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "iron/log.h"

#define CTL_BACKLOG 128

/* ================================================================ path */

static size_t sun_path_max(void)
{
	struct sockaddr_un sun;
	return sizeof(sun.sun_path) - 1;
}

int ctl_socket_path(const char *socket_flag, const char *state_dir_flag, uid_t euid, char *out,
		    size_t out_cap)
{
	const char *state = state_dir_flag;
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	int n;

	if (!state || !*state)
		state = getenv("IRON_STATE_DIR");
	if (socket_flag && *socket_flag)
		n = snprintf(out, out_cap, "%s", socket_flag);
	else if (state && *state)
		n = snprintf(out, out_cap, "%s/iron.sock", state);
	else if (euid == 0)
		n = snprintf(out, out_cap, "/run/iron/iron.sock");
	else if (runtime && *runtime)
		n = snprintf(out, out_cap, "%s/iron.sock", runtime);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= out_cap || (size_t)n > sun_path_max())
		return -ENAMETOOLONG;
	return 0;
}

/* ============================================================= request */

/* A bounds-checked cursor over the request bytes. */
struct reader {
	const char *p, *end;
	char *store, *store_end; /* where decoded strings go */
	const char *why;
};

static void skip_space(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int bad(struct reader *r, const char *why)
{
	if (!r->why)
		r->why = why;
	return -EINVAL;
}

static int hex4(struct reader *r, unsigned *out)
{
	unsigned v = 0;
	if (r->end - r->p < 4)
		return bad(r, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = *r->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return bad(r, "bad \\u escape");
	}
	*out = v;
	return 0;
}

static int store_byte(struct reader *r, unsigned c)
{
	if (r->store >= r->store_end)
		return bad(r, "request too large");
	*r->store++ = (char)c;
	return 0;
}

static int store_utf8(struct reader *r, unsigned cp)
{
	int rc = 0;
	if (cp < 0x80)
		return store_byte(r, cp);
	if (cp < 0x800) {
		rc |= store_byte(r, 0xc0 | (cp >> 6));
	} else if (cp < 0x10000) {
		rc |= store_byte(r, 0xe0 | (cp >> 12));
		rc |= store_byte(r, 0x80 | ((cp >> 6) & 0x3f));
	} else {
		rc |= store_byte(r, 0xf0 | (cp >> 18));
		rc |= store_byte(r, 0x80 | ((cp >> 12) & 0x3f));
		rc |= store_byte(r, 0x80 | ((cp >> 6) & 0x3f));
	}
	rc |= store_byte(r, 0x80 | (cp & 0x3f));
	return rc ? -EINVAL : 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if
 * invalid: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end)
{
	size_t n;
	unsigned cp, min;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1fu, min = 0x80;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0fu, min = 0x800;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07u, min = 0x10000;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Reads a JSON string (the cursor is on the opening quote) into the store;
 * *out points to the decoded, NUL-terminated text. */
static int read_string(struct reader *r, const char **out)
{
	char *start = r->store;
	r->p++;
	for (;;) {
		if (r->p >= r->end)
			return bad(r, "unterminated string");
		unsigned char c = (unsigned char)*r->p;
		if (c == '"') {
			r->p++;
			break;
		}
		if (c < 0x20)
			return bad(r, "control character in string");
		if (c >= 0x80) {
			size_t n = utf8_sequence((const unsigned char *)r->p,
						 (const unsigned char *)r->end);
			if (n == 0)
				return bad(r, "invalid UTF-8");
			for (size_t i = 0; i < n; i++)
				if (store_byte(r, (unsigned char)r->p[i]))
					return -EINVAL;
			r->p += n;
			continue;
		}
		r->p++;
		if (c != '\\') {
			if (store_byte(r, c))
				return -EINVAL;
			continue;
		}
		if (r->p >= r->end)
			return bad(r, "unterminated string");
		c = (unsigned char)*r->p++;
		unsigned cp;
		switch (c) {
		case '"':
			cp = '"';
			break;
		case '\\':
			cp = '\\';
			break;
		case '/':
			cp = '/';
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (hex4(r, &cp))
				return -EINVAL;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return bad(r, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				unsigned low;
				if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
					return bad(r, "lone high surrogate");
				r->p += 2;
				if (hex4(r, &low))
					return -EINVAL;
				if (low < 0xdc00 || low > 0xdfff)
					return bad(r, "bad surrogate pair");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			}
			if (cp == 0)
				return bad(r, "NUL in string");
			break;
		default:
			return bad(r, "bad escape");
		}
		if (store_utf8(r, cp))
			return -EINVAL;
	}
	if (store_byte(r, 0))
		return -EINVAL;
	*out = start;
	return 0;
}

/* A JSON number, checked against the grammar before strtod sees it. */
static int read_number(struct reader *r, double *out)
{
	const char *start = r->p;
	char buf[64];
	size_t n;
	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p >= r->end || *r->p < '0' || *r->p > '9')
		return bad(r, "bad number");
	if (*r->p == '0')
		r->p++;
	else
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	if (r->p < r->end && *r->p == '.') {
		r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return bad(r, "bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (r->p >= r->end || *r->p < '0' || *r->p > '9')
			return bad(r, "bad number");
		while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
			r->p++;
	}
	n = (size_t)(r->p - start);
	if (n >= sizeof(buf))
		return bad(r, "number too long");
	memcpy(buf, start, n);
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	if (!isfinite(*out))
		return bad(r, "number out of range");
	return 0;
}

static bool read_literal(struct reader *r, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return false;
	r->p += n;
	return true;
}

static int read_value(struct reader *r, struct ctl_member *m)
{
	if (r->p >= r->end)
		return bad(r, "missing value");
	switch (*r->p) {
	case '"':
		m->type = CTL_STRING;
		return read_string(r, &m->string);
	case '{':
	case '[':
		return bad(r, "nested values are not supported");
	case 't':
	case 'f':
	case 'n':
		if (read_literal(r, "true")) {
			m->type = CTL_BOOL;
			m->boolean = true;
		} else if (read_literal(r, "false")) {
			m->type = CTL_BOOL;
			m->boolean = false;
		} else if (read_literal(r, "null")) {
			m->type = CTL_NULL;
		} else {
			return bad(r, "bad literal");
		}
		return 0;
	default:
		m->type = CTL_NUMBER;
		return read_number(r, &m->number);
	}
}

int ctl_request_parse(const char *text, size_t len, struct ctl_request *out, const char **why)
{
	struct reader r = {.p = text, .end = text + len};
	int rc = -EINVAL;

	out->command = NULL;
	out->nmembers = 0;
	r.store = out->storage;
	r.store_end = out->storage + sizeof(out->storage);
	if (len > CTL_REQUEST_MAX) {
		r.why = "request too long";
		rc = -EMSGSIZE;
		goto out;
	}
	skip_space(&r);
	if (r.p >= r.end || *r.p != '{') {
		bad(&r, "not a JSON object");
		goto out;
	}
	r.p++;
	skip_space(&r);
	if (r.p < r.end && *r.p == '}') {
		r.p++;
	} else {
		for (;;) {
			struct ctl_member *m = &out->members[out->nmembers];
			skip_space(&r);
			if (out->nmembers == CTL_MAX_MEMBERS) {
				bad(&r, "too many members");
				goto out;
			}
			if (r.p >= r.end || *r.p != '"') {
				bad(&r, "expected a key");
				goto out;
			}
			memset(m, 0, sizeof(*m));
			if (read_string(&r, &m->key))
				goto out;
			for (size_t i = 0; i < out->nmembers; i++)
				if (strcmp(out->members[i].key, m->key) == 0) {
					bad(&r, "duplicate key");
					goto out;
				}
			skip_space(&r);
			if (r.p >= r.end || *r.p != ':') {
				bad(&r, "expected ':'");
				goto out;
			}
			r.p++;
			skip_space(&r);
			if (read_value(&r, m))
				goto out;
			out->nmembers++;
			skip_space(&r);
			if (r.p < r.end && *r.p == ',') {
				r.p++;
				continue;
			}
			if (r.p < r.end && *r.p == '}') {
				r.p++;
				break;
			}
			bad(&r, "expected ',' or '}'");
			goto out;
		}
	}
	skip_space(&r);
	if (r.p != r.end) {
		bad(&r, "text after the object");
		goto out;
	}
	out->command = ctl_request_string(out, "cmd");
	rc = 0;
out:
	if (rc)
		out->nmembers = 0;
	if (why)
		*why = rc ? r.why : NULL;
	return rc;
}

static const struct ctl_member *find_member(const struct ctl_request *req, const char *key)
{
	for (size_t i = 0; i < req->nmembers; i++)
		if (strcmp(req->members[i].key, key) == 0)
			return &req->members[i];
	return NULL;
}

const char *ctl_request_string(const struct ctl_request *req, const char *key)
{
	const struct ctl_member *m = find_member(req, key);
	return m && m->type == CTL_STRING ? m->string : NULL;
}

int ctl_request_number(const struct ctl_request *req, const char *key, double *out)
{
	const struct ctl_member *m = find_member(req, key);
	if (!m)
		return -ENOENT;
	if (m->type != CTL_NUMBER)
		return -EINVAL;
	*out = m->number;
	return 0;
}

int ctl_request_bool(const struct ctl_request *req, const char *key, bool *out)
{
	const struct ctl_member *m = find_member(req, key);
	if (!m)
		return -ENOENT;
	if (m->type != CTL_BOOL)
		return -EINVAL;
	*out = m->boolean;
	return 0;
}

/* =============================================================== reply */

struct ctl_client;

struct ctl_reply {
	struct ctl_client *client; /* NULL when standalone or the client has gone */
	bool bound;		   /* made by the server for a client */
	char *buf;
	size_t len, cap;
	unsigned depth;			 /* 1 = inside the root object */
	bool has_members[CTL_MAX_DEPTH]; /* a comma is due before the next member */
	bool is_array[CTL_MAX_DEPTH];
	bool overflow, misuse, has_error, done;
	char error[256];
};

/* Keeps one byte for the newline the server adds. */
#define REPLY_TEXT_MAX (CTL_REPLY_MAX - 1)

static int put(struct ctl_reply *r, const char *s, size_t n)
{
	if (r->overflow)
		return -ENOSPC;
	if (r->len + n + 1 > REPLY_TEXT_MAX + 1) {
		r->overflow = true;
		return -ENOSPC;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 256;
		while (cap < r->len + n + 1)
			cap *= 2;
		if (cap > REPLY_TEXT_MAX + 1)
			cap = REPLY_TEXT_MAX + 1;
		char *grown = realloc(r->buf, cap);
		if (!grown) {
			r->overflow = true;
			return -ENOSPC;
		}
		r->buf = grown;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return 0;
}

static int put_str(struct ctl_reply *r, const char *s)
{
	return put(r, s, strlen(s));
}

/* Writes s as a JSON string; bytes that are not valid UTF-8 become U+FFFD
 * so the document stays valid whatever a peer or a file put in s. */
static int put_json_string(struct ctl_reply *r, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	int rc = put(r, "\"", 1);
	while (!rc && p < end) {
		char esc[8];
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			rc = put(r, esc, 2);
			p++;
		} else if (*p == '\n' || *p == '\r' || *p == '\t') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
			rc = put(r, esc, 2);
			p++;
		} else if (*p < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			rc = put(r, esc, 6);
			p++;
		} else if (*p < 0x80) {
			const unsigned char *run = p;
			while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
				p++;
			rc = put(r, (const char *)run, (size_t)(p - run));
		} else {
			size_t n = utf8_sequence(p, end);
			if (n) {
				rc = put(r, (const char *)p, n);
				p += n;
			} else {
				rc = put(r, "\xef\xbf\xbd", 3);
				p++;
			}
		}
	}
	return rc ? rc : put(r, "\"", 1);
}

static void reply_init(struct ctl_reply *r)
{
	r->depth = 1;
	r->has_members[0] = true;
	r->is_array[0] = false;
	put_str(r, "{\"ok\":true");
}

/* The separator and key of the next member, checking the key's use. */
static int member(struct ctl_reply *r, const char *key)
{
	int rc;
	if (r->done || r->depth == 0) {
		r->misuse = true;
		return -EINVAL;
	}
	bool array = r->is_array[r->depth - 1];
	if ((array && key) || (!array && !key)) {
		r->misuse = true;
		return -EINVAL;
	}
	if (r->has_members[r->depth - 1] && (rc = put(r, ",", 1)) != 0)
		return rc;
	r->has_members[r->depth - 1] = true;
	if (key) {
		if ((rc = put_json_string(r, key)) != 0 || (rc = put(r, ":", 1)) != 0)
			return rc;
	}
	return 0;
}

int ctl_reply_string(struct ctl_reply *reply, const char *key, const char *value)
{
	int rc = member(reply, key);
	return rc ? rc : put_json_string(reply, value ? value : "");
}

int ctl_reply_int(struct ctl_reply *reply, const char *key, int64_t value)
{
	char buf[32];
	int rc = member(reply, key);
	if (rc)
		return rc;
	snprintf(buf, sizeof(buf), "%lld", (long long)value);
	return put_str(reply, buf);
}

int ctl_reply_uint(struct ctl_reply *reply, const char *key, uint64_t value)
{
	char buf[32];
	int rc = member(reply, key);
	if (rc)
		return rc;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
	return put_str(reply, buf);
}

int ctl_reply_double(struct ctl_reply *reply, const char *key, double value)
{
	char buf[40];
	int rc = member(reply, key);
	if (rc)
		return rc;
	if (!isfinite(value))
		return put_str(reply, "null");
	snprintf(buf, sizeof(buf), "%.17g", value);
	return put_str(reply, buf);
}

int ctl_reply_bool(struct ctl_reply *reply, const char *key, bool value)
{
	int rc = member(reply, key);
	return rc ? rc : put_str(reply, value ? "true" : "false");
}

int ctl_reply_null(struct ctl_reply *reply, const char *key)
{
	int rc = member(reply, key);
	return rc ? rc : put_str(reply, "null");
}

static int begin(struct ctl_reply *r, const char *key, bool array)
{
	int rc = member(r, key);
	if (rc)
		return rc;
	if (r->depth == CTL_MAX_DEPTH) {
		r->misuse = true;
		return -EINVAL;
	}
	r->is_array[r->depth] = array;
	r->has_members[r->depth] = false;
	r->depth++;
	return put(r, array ? "[" : "{", 1);
}

static int end(struct ctl_reply *r, bool array)
{
	/* The root object is closed only by completing the reply. */
	if (r->done || r->depth < 2 || r->is_array[r->depth - 1] != array) {
		r->misuse = true;
		return -EINVAL;
	}
	r->depth--;
	return put(r, array ? "]" : "}", 1);
}

int ctl_reply_begin_object(struct ctl_reply *reply, const char *key)
{
	return begin(reply, key, false);
}

int ctl_reply_end_object(struct ctl_reply *reply)
{
	return end(reply, false);
}

int ctl_reply_begin_array(struct ctl_reply *reply, const char *key)
{
	return begin(reply, key, true);
}

int ctl_reply_end_array(struct ctl_reply *reply)
{
	return end(reply, true);
}

void ctl_reply_error(struct ctl_reply *reply, const char *fmt, ...)
{
	va_list ap;
	if (reply->done)
		return;
	va_start(ap, fmt);
	vsnprintf(reply->error, sizeof(reply->error), fmt, ap);
	va_end(ap);
	reply->has_error = true;
}

/* Closes the document, or replaces it with the error reply it has become. */
static void reply_complete(struct ctl_reply *r)
{
	if (r->done)
		return;
	if (!r->has_error && !r->overflow && (r->misuse || r->depth != 1)) {
		snprintf(r->error, sizeof(r->error), "internal error: malformed reply");
		r->has_error = true;
	} else if (!r->has_error && r->overflow) {
		snprintf(r->error, sizeof(r->error), "reply too large");
		r->has_error = true;
	}
	if (r->has_error) {
		r->len = 0;
		r->overflow = false;
		put_str(r, "{\"ok\":false,\"error\":");
		put_json_string(r, r->error);
	}
	put_str(r, "}");
	r->done = true;
}

struct ctl_reply *ctl_reply_new(void)
{
	struct ctl_reply *r = calloc(1, sizeof(*r));
	if (r)
		reply_init(r);
	return r;
}

const char *ctl_reply_text(struct ctl_reply *reply, size_t *len)
{
	reply_complete(reply);
	if (len)
		*len = reply->len;
	return reply->buf ? reply->buf : "";
}

void ctl_reply_free(struct ctl_reply *reply)
{
	if (!reply)
		return;
	free(reply->buf);
	free(reply);
}

/* ============================================================== server */

struct ctl_server {
	uv_loop_t *loop;
	uv_pipe_t pipe;
	ctl_handler_fn *handler;
	void *user;
	unsigned idle_timeout_ms;
	unsigned max_clients;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	struct ctl_client *clients;
	unsigned nallocated; /* clients not yet freed: the cap counts these */
	bool accept_waiting; /* a connection waits in the backlog because we are full */
	bool closing;
	bool pipe_closed;
	struct ctl_server_stats stats;
};

struct ctl_client {
	struct ctl_server *server;
	struct ctl_client *prev, *next;
	uv_pipe_t pipe;
	uv_timer_t timer;
	int open_handles;
	bool reading, eof, closing, close_after_write;
	bool busy;		   /* a request is with the handler or its reply being written */
	bool deferred;		   /* the handler called ctl_reply_defer() or finished the reply */
	bool in_handler;	   /* the handler is running */
	struct ctl_reply *pending; /* the reply the handler holds */
	uv_write_t write_req;
	char *out; /* the reply being written */
	size_t out_len;
	size_t in_len;
	char in[CTL_REQUEST_MAX + 1];
	struct ctl_request request;
};

static void client_process(struct ctl_client *c);
static void accept_one(struct ctl_server *s);

static void server_maybe_free(struct ctl_server *s)
{
	if (s->closing && s->pipe_closed && !s->clients)
		free(s);
}

static void client_closed(uv_handle_t *handle)
{
	struct ctl_client *c = handle->data;
	struct ctl_server *s = c->server;
	if (--c->open_handles > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nallocated--;
	free(c->out);
	free(c);
	if (s->closing) {
		server_maybe_free(s);
		return;
	}
	/* A slot is free: take the connection that waits in the backlog. */
	if (s->accept_waiting) {
		s->accept_waiting = false;
		accept_one(s);
	}
}

static void client_close(struct ctl_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->server->stats.clients--;
	if (c->pending) {
		/* The handler still holds the reply; it becomes cancelled. */
		c->pending->client = NULL;
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
	arm_timer(c);
	client_process(c);
}

/* Takes the completed reply's buffer and writes it with its newline. */
static void client_send(struct ctl_client *c, struct ctl_reply *r)
{
	struct ctl_server *s = c->server;
	uv_buf_t buf;
	reply_complete(r);
	if (!r->buf) {
		/* Out of memory even for the error reply. */
		client_close(c);
		return;
	}
	r->buf[r->len] = '\n'; /* put() always keeps room for this byte */
	c->out = r->buf;
	c->out_len = r->len + 1;
	r->buf = NULL;
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
	if (reply->client)
		reply->client->deferred = true;
}

bool ctl_reply_cancelled(const struct ctl_reply *reply)
{
	return reply->bound && !reply->client;
}

void ctl_reply_finish(struct ctl_reply *reply)
{
	struct ctl_client *c = reply->client;
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
	r->client = c;
	r->bound = true;
	ctl_reply_finish(r);
}

static void handle_line(struct ctl_client *c, const char *line, size_t len)
{
	struct ctl_server *s = c->server;
	const char *why = NULL;
	char msg[96];
	struct ctl_reply *r;

	c->busy = true;
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
	r->client = c;
	r->bound = true;
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
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->stats.clients++;
	s->nallocated++;
	if (uv_accept((uv_stream_t *)&s->pipe, (uv_stream_t *)&c->pipe) != 0) {
		client_close(c);
		return;
	}
	s->stats.accepted++;
	if (s->stats.clients > s->stats.peak_clients)
		s->stats.peak_clients = s->stats.clients;
	arm_timer(c);
	client_process(c);
}

static void on_connection(uv_stream_t *stream, int status)
{
	struct ctl_server *s = stream->data;
	if (status < 0) {
		log_warn("control socket: accept: %s", uv_strerror(status));
		return;
	}
	/* Not accepting makes libuv stop watching the socket until we do: the
	 * kernel's backlog holds the rest, bounded, at no cost to us. */
	if (s->nallocated >= s->max_clients) {
		s->accept_waiting = true;
		return;
	}
	accept_one(s);
}

/* Is a daemon answering on path? 1 yes, 0 stale (nobody listens), or
 * -errno. A full backlog (EAGAIN) also means someone is there. */
static int probe_socket(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, rc;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 || errno == EAGAIN)
		rc = 1;
	else if (errno == ECONNREFUSED)
		rc = 0;
	else
		rc = -errno;
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

int ctl_server_start(uv_loop_t *loop, const struct ctl_server_options *opts,
		     struct ctl_server **out)
{
	struct ctl_server *s = NULL;
	struct stat st;
	gid_t gid = 0;
	mode_t mode = opts->group ? 0660 : 0600;
	bool pipe_open = false, bound = false;
	int rc;

	*out = NULL;
	if (!opts->handler || !opts->path || !*opts->path)
		return -EINVAL;
	/* libuv writes to the socket with write(), so a client that hangs up
	 * before its reply would kill the daemon with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (strlen(opts->path) > sun_path_max())
		return -ENAMETOOLONG;
	if (opts->group && (rc = lookup_group(opts->group, &gid)) != 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->handler = opts->handler;
	s->user = opts->user;
	s->idle_timeout_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : CTL_IDLE_TIMEOUT_MS;
	s->max_clients = opts->max_clients ? opts->max_clients : CTL_MAX_CLIENTS;
	strcpy(s->path, opts->path);

	/* The parent: /run/iron when not run by systemd (RuntimeDirectory). */
	char *slash = strrchr(s->path, '/');
	if (slash && slash != s->path) {
		*slash = '\0';
		if (mkdir(s->path, 0755) != 0 && errno != EEXIST) {
			rc = -errno;
			*slash = '/';
			goto out;
		}
		*slash = '/';
	}

	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			rc = -EEXIST;
			goto out;
		}
		rc = probe_socket(s->path);
		if (rc < 0)
			goto out;
		if (rc == 1) {
			rc = -EADDRINUSE;
			goto out;
		}
		log_info("removing stale control socket %s", s->path);
		if (unlink(s->path) != 0 && errno != ENOENT) {
			rc = -errno;
			goto out;
		}
	} else if (errno != ENOENT) {
		rc = -errno;
		goto out;
	}

	if ((rc = uv_pipe_init(loop, &s->pipe, 0)) != 0)
		goto out;
	pipe_open = true;
	s->pipe.data = s;
	/* The socket file gets its final mode from the start (umask applies
	 * to bind), so there is no moment where others may connect. The
	 * daemon is single-threaded, so the umask change is not racy. */
	mode_t old_umask = umask(0777 & ~mode);
	rc = uv_pipe_bind(&s->pipe, s->path);
	umask(old_umask);
	if (rc != 0)
		goto out;
	bound = true;
	if (opts->group && chown(s->path, (uid_t)-1, gid) != 0) {
		rc = -errno;
		goto out;
	}
	if (chmod(s->path, mode) != 0 || stat(s->path, &st) != 0) {
		rc = -errno;
		goto out;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if ((rc = uv_listen((uv_stream_t *)&s->pipe, CTL_BACKLOG, on_connection)) != 0)
		goto out;
	*out = s;
	s = NULL;
out:
	if (s) {
		if (bound)
			unlink(s->path);
		if (pipe_open) {
			/* Freed with the handle, once libuv has closed it. */
			s->closing = true;
			uv_close((uv_handle_t *)&s->pipe, server_pipe_closed);
		} else {
			free(s);
		}
	}
	return rc;
}

void ctl_server_close(struct ctl_server *server)
{
	struct stat st;
	if (!server || server->closing)
		return;
	server->closing = true;
	/* Remove the file only if it is still ours: a newer daemon may have
	 * replaced it after deciding this one was gone. */
	if (stat(server->path, &st) == 0 && st.st_dev == server->dev && st.st_ino == server->ino)
		unlink(server->path);
	for (struct ctl_client *c = server->clients; c; c = c->next)
		client_close(c);
	uv_close((uv_handle_t *)&server->pipe, server_pipe_closed);
}

void ctl_server_get_stats(const struct ctl_server *server, struct ctl_server_stats *out)
{
	*out = server->stats;
}

/* ============================================================== client */

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
	if (strlen(path) > sun_path_max())
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
			 path, sun_path_max());
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
