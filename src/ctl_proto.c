/* The control socket's protocol: the socket path rule, the request reader
 * (a layer over the JSON reader that checks a request's shape) and the
 * reply writer. Pure: no I/O, no libuv. */
#include "iron/ctl_proto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "iron/json.h"
#include "iron/utf8.h"

/* Longest number text a request may hold: more digits than a double
 * carries are noise, and clients have always been held to this. */
#define CTL_MAX_NUMBER_LEN 63

/* ================================================================ path */

size_t ctl_socket_path_max(void)
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
	if (n < 0 || (size_t)n >= out_cap || (size_t)n > ctl_socket_path_max())
		return -ENAMETOOLONG;
	return 0;
}

/* ============================================================= request */

/* The protocol's name for a fault the JSON reader found: the same faults,
 * worded as clients have always been told (ctl_proto.h lists them). */
static const char *request_fault(const char *why, size_t len, size_t where)
{
	if (!why)
		return "bad JSON";
	if (strcmp(why, "too deeply nested") == 0)
		return "nested values are not supported";
	if (strcmp(why, "text after the value") == 0)
		return "text after the object";
	/* Only a member's value can be expected here: the root is known to
	 * be an object. */
	if (strcmp(why, "expected a value") == 0)
		return where >= len ? "missing value" : "bad number";
	if (strcmp(why, "bad \\u escape") == 0 && len - where < 4)
		return "truncated \\u escape";
	return why;
}

/* The rules JSON itself does not have, checked member by member in text
 * order: returns NULL or the fault. */
static const char *member_fault(const struct json_value *root, const struct json_value *v)
{
	if (strlen(v->key) != v->key_len)
		return "NUL in string";
	for (const struct json_value *m = json_first(root); m != v; m = json_next(m))
		if (m->key_len == v->key_len && memcmp(m->key, v->key, v->key_len) == 0)
			return "duplicate key";
	if (v->type == JSON_STRING && strlen(v->string) != v->len)
		return "NUL in string";
	if (v->type == JSON_NUMBER && v->len > CTL_MAX_NUMBER_LEN)
		return "number too long";
	if (v->type == JSON_ARRAY || v->type == JSON_OBJECT)
		return "nested values are not supported"; /* json_limits rule these out */
	return NULL;
}

/* Copies n bytes and a NUL into the request's storage. */
static const char *store(struct ctl_request *req, size_t *used, const char *s, size_t n)
{
	char *at = req->storage + *used;
	if (n >= sizeof(req->storage) - *used)
		return NULL;
	memcpy(at, s, n);
	at[n] = '\0';
	*used += n + 1;
	return at;
}

int ctl_request_parse(const char *text, size_t len, struct ctl_request *out, const char **why)
{
	/* A flat object of at most CTL_MAX_MEMBERS members: the reader refuses
	 * anything bigger before allocating, so a request never takes more
	 * than a few kilobytes, however it is made. */
	static const struct json_limits limits = {
	    .max_size = CTL_REQUEST_MAX, .max_depth = 1, .max_members = CTL_MAX_MEMBERS};
	struct json_doc *doc = NULL;
	const struct json_value *root;
	const char *fault = NULL;
	size_t where = 0, used = 0, i = 0;
	int rc;

	out->command = NULL;
	out->nmembers = 0;
	if (len > CTL_REQUEST_MAX) {
		fault = "request too long";
		rc = -EMSGSIZE;
		goto out;
	}
	rc = -EINVAL;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i == len || text[i] != '{') {
		fault = "not a JSON object";
		goto out;
	}
	rc = json_parse_limited(text, len, &limits, &doc, &fault, &where);
	if (rc == -ENOMEM) {
		fault = "out of memory";
		goto out;
	}
	if (rc != 0) {
		fault = request_fault(fault, len, where);
		rc = -EINVAL;
		goto out;
	}
	root = json_root(doc);
	for (const struct json_value *v = json_first(root); v; v = json_next(v)) {
		struct ctl_member *m = &out->members[out->nmembers];
		if ((fault = member_fault(root, v)) != NULL)
			goto out;
		memset(m, 0, sizeof(*m));
		m->key = store(out, &used, v->key, v->key_len);
		switch (v->type) {
		case JSON_STRING:
			m->type = CTL_STRING;
			m->string = store(out, &used, v->string, v->len);
			break;
		case JSON_NUMBER:
			m->type = CTL_NUMBER;
			m->number = v->number;
			m->integer_status = json_int64(v, &m->integer);
			break;
		case JSON_BOOL:
			m->type = CTL_BOOL;
			m->boolean = v->boolean;
			break;
		default:
			m->type = CTL_NULL;
			break;
		}
		/* Decoded text is never longer than the request it came from. */
		if (!m->key || (m->type == CTL_STRING && !m->string)) {
			fault = "request too long";
			goto out;
		}
		out->nmembers++;
	}
	out->command = ctl_request_string(out, "cmd");
	fault = NULL;
	rc = 0;
out:
	json_free(doc);
	if (fault) {
		out->nmembers = 0;
		if (rc == 0)
			rc = -EINVAL;
	}
	if (why)
		*why = fault;
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

int ctl_request_int(const struct ctl_request *req, const char *key, int64_t min, int64_t max,
		    int64_t *out)
{
	const struct ctl_member *m = find_member(req, key);
	if (!m)
		return -ENOENT;
	if (m->type != CTL_NUMBER)
		return -EINVAL;
	if (m->integer_status != 0)
		return m->integer_status;
	if (m->integer < min || m->integer > max)
		return -ERANGE;
	*out = m->integer;
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

struct ctl_reply {
	void *owner; /* the server's client; NULL when standalone or the client has gone */
	bool owned;  /* made by the server for a client */
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
			size_t n = utf8_sequence(p, (size_t)(end - p));
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

size_t ctl_reply_size(const struct ctl_reply *reply)
{
	return reply->len;
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

void ctl_reply_set_owner(struct ctl_reply *reply, void *owner)
{
	reply->owner = owner;
	reply->owned = true;
}

void *ctl_reply_owner(const struct ctl_reply *reply)
{
	return reply->owner;
}

void ctl_reply_disown(struct ctl_reply *reply)
{
	reply->owner = NULL;
}

bool ctl_reply_cancelled(const struct ctl_reply *reply)
{
	return reply->owned && !reply->owner;
}

char *ctl_reply_take(struct ctl_reply *reply, size_t *len)
{
	char *buf;
	reply_complete(reply);
	buf = reply->buf;
	*len = reply->len;
	reply->buf = NULL;
	reply->len = reply->cap = 0;
	return buf;
}
