/* The control socket: the request parser and reply writer as pure code,
 * the socket path rule, then a real server on a libuv loop (in a second
 * thread) in a temporary directory, driven by ctl_call() and raw sockets:
 * request/reply, errors, limits, timeouts, many clients, slow readers,
 * stale and live sockets, the socket's mode. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "check.h"
#include "iron/ctl.h"

static char tmpdir[] = "/tmp/iron-test-ctl.XXXXXX";

/* ------------------------------------------------------------ parser */

static void test_parse(void)
{
	static struct ctl_request req;
	const char *why = NULL;
	double n;
	bool b;

	const char *text =
	    " {\"cmd\" : \"ping\", \"peer\":\"abc\",\"count\":3, \"x\":-1.5e2,"
	    "\"v\":true,\"f\":false,\"z\":null,\"e\":\"\\u00e9\\n\\\"\\\\\\/\"} \r\n";
	CHECK_INT(ctl_request_parse(text, strlen(text), &req, &why), 0);
	CHECK(why == NULL);
	CHECK_STR(req.command, "ping");
	CHECK_INT(req.nmembers, 8);
	CHECK_STR(ctl_request_string(&req, "peer"), "abc");
	CHECK_INT(ctl_request_number(&req, "count", &n), 0);
	CHECK(n == 3);
	CHECK_INT(ctl_request_number(&req, "x", &n), 0);
	CHECK(n == -150);
	CHECK_INT(ctl_request_bool(&req, "v", &b), 0);
	CHECK(b);
	CHECK_INT(ctl_request_bool(&req, "f", &b), 0);
	CHECK(!b);
	CHECK_INT(req.members[6].type, CTL_NULL);
	CHECK_STR(ctl_request_string(&req, "e"), "\xc3\xa9\n\"\\/");
	CHECK(ctl_request_string(&req, "count") == NULL);
	CHECK(ctl_request_string(&req, "missing") == NULL);
	CHECK_INT(ctl_request_number(&req, "peer", &n), -EINVAL);
	CHECK_INT(ctl_request_number(&req, "missing", &n), -ENOENT);
	CHECK_INT(ctl_request_bool(&req, "count", &b), -EINVAL);
	CHECK_INT(ctl_request_bool(&req, "missing", &b), -ENOENT);

	/* Surrogate pairs and raw UTF-8. */
	text = "{\"s\":\"\\ud83d\\ude00 \xf0\x9f\x98\x80\"}";
	CHECK_INT(ctl_request_parse(text, strlen(text), &req, &why), 0);
	CHECK_STR(ctl_request_string(&req, "s"), "\xf0\x9f\x98\x80 \xf0\x9f\x98\x80");
	CHECK(req.command == NULL);
	CHECK_INT(ctl_request_parse("{}", 2, &req, &why), 0);
	CHECK_INT(req.nmembers, 0);
	/* A cmd that is not a string is no command. */
	CHECK_INT(ctl_request_parse("{\"cmd\":1}", 9, &req, &why), 0);
	CHECK(req.command == NULL);

	struct {
		const char *text;
		const char *why;
	} bad[] = {
	    {"", "not a JSON object"},
	    {"[1]", "not a JSON object"},
	    {"{", "expected a key"},
	    {"{\"a\"}", "expected ':'"},
	    {"{\"a\":}", "bad number"},
	    {"{\"a\":1,}", "expected a key"},
	    {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
	    {"{\"a\":1}x", "text after the object"},
	    {"{\"a\":1}{}", "text after the object"},
	    {"{\"a\":{}}", "nested values are not supported"},
	    {"{\"a\":[1]}", "nested values are not supported"},
	    {"{\"a\":tru}", "bad literal"},
	    {"{\"a\":01}", "expected ',' or '}'"},
	    {"{\"a\":1.}", "bad number"},
	    {"{\"a\":1e}", "bad number"},
	    {"{\"a\":-}", "bad number"},
	    {"{\"a\":+1}", "bad number"},
	    {"{\"a\":1e999}", "number out of range"},
	    {"{\"a\":\"x}", "unterminated string"},
	    {"{\"a\":\"\\x\"}", "bad escape"},
	    {"{\"a\":\"\\u12\"}", "bad \\u escape"},
	    {"{\"a\":\"\\u0000\"}", "NUL in string"},
	    {"{\"a\":\"\\udc00\"}", "lone low surrogate"},
	    {"{\"a\":\"\\ud800x\"}", "lone high surrogate"},
	    {"{\"a\":\"\\ud800\\u0041\"}", "bad surrogate pair"},
	    {"{\"a\":\"\x01\"}", "control character in string"},
	    {"{\"a\":\"\xc0\xaf\"}", "invalid UTF-8"},
	    {"{\"a\":\"\xed\xa0\x80\"}", "invalid UTF-8"},
	    {"{\"a\":\"\xff\"}", "invalid UTF-8"},
	    {"{\"a\":1,\"a\":2}", "duplicate key"},
	    {"{\"a\":", "missing value"},
	    {"{\"a\": \t", "missing value"},
	    {"{\"a\":x}", "bad number"},
	    {"{\"a\":\"\\u12", "truncated \\u escape"},
	    {"{\"a\":\"\\ud800\\udc0", "truncated \\u escape"},
	    {"{\"\\u0000\":1}", "NUL in string"},
	    {"{\"a\":1,\"b\\u0000\":1}", "NUL in string"},
	    {"{\"a\":[}", "nested values are not supported"},
	    {"{\"a\":1e-9999999999999999999999999999999999999999999999999999999999999}",
	     "number too long"},
	    /* Several faults: JSON's grammar is checked first. */
	    {"{\"a\":1,\"a\":2,}", "expected a key"},
	    {"{\"a\":\"\\u0000\",\"b\"}", "expected ':'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		CHECK_INT(ctl_request_parse(bad[i].text, strlen(bad[i].text), &req, &why), -EINVAL);
		CHECK_STR(why, bad[i].why);
		CHECK_INT(req.nmembers, 0);
	}
	/* 63 characters of a number are fine. */
	text = "{\"a\":1e-999999999999999999999999999999999999999999999999999999999999}";
	CHECK_INT(ctl_request_parse(text, strlen(text), &req, &why), 0);
	CHECK(req.members[0].number == 0);
	/* "\0" inside the bytes. */
	CHECK_INT(ctl_request_parse("{\"a\":\"\0\"}", 8, &req, &why), -EINVAL);

	/* 32 members fit, 33 do not; 4096 bytes fit, 4097 do not. */
	char buf[CTL_REQUEST_MAX + 2];
	size_t len = 0;
	len += (size_t)sprintf(buf + len, "{");
	for (int i = 0; i < CTL_MAX_MEMBERS; i++)
		len += (size_t)sprintf(buf + len, "%s\"k%d\":%d", i ? "," : "", i, i);
	len += (size_t)sprintf(buf + len, "}");
	CHECK_INT(ctl_request_parse(buf, len, &req, &why), 0);
	CHECK_INT(req.nmembers, CTL_MAX_MEMBERS);
	len--;
	len += (size_t)sprintf(buf + len, ",\"more\":1}");
	CHECK_INT(ctl_request_parse(buf, len, &req, &why), -EINVAL);
	CHECK_STR(why, "too many members");
	memset(buf, ' ', sizeof(buf));
	memcpy(buf, "{\"cmd\":\"x\"}", 11);
	CHECK_INT(ctl_request_parse(buf, CTL_REQUEST_MAX, &req, &why), 0);
	CHECK_INT(ctl_request_parse(buf, CTL_REQUEST_MAX + 1, &req, &why), -EMSGSIZE);
	CHECK_STR(why, "request too long");
	/* A string as long as the whole limit still fits the storage. */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "{\"a\":\"", 6);
	memcpy(buf + CTL_REQUEST_MAX - 2, "\"}", 2);
	CHECK_INT(ctl_request_parse(buf, CTL_REQUEST_MAX, &req, &why), 0);
	CHECK_INT(strlen(ctl_request_string(&req, "a")), CTL_REQUEST_MAX - 8);
}

/* ctl_request_int(): exact integers within a range; everything a double
 * cannot be cast from safely is refused before any conversion. */
static void test_request_int(void)
{
	static struct ctl_request req;
	const char *why = NULL;
	int64_t v = 0;
	const char *text = "{\"huge\":1e300,\"tiny\":-1e300,\"half\":1.5,\"small\":1e-300,"
			   "\"two63\":9223372036854775808,\"max\":9223372036854775807,"
			   "\"min\":-9223372036854775808,\"below\":-9223372036854775809,"
			   "\"two63e\":9.223372036854775808e18,\"exp\":4.2e1,\"point\":42.0,"
			   "\"i\":42,\"neg0\":-0,\"odd53\":9007199254740993,\"str\":\"7\","
			   "\"t\":true,\"z\":null}";
	CHECK_INT(ctl_request_parse(text, strlen(text), &req, &why), 0);

	v = 5;
	CHECK_INT(ctl_request_int(&req, "huge", INT64_MIN, INT64_MAX, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "tiny", INT64_MIN, INT64_MAX, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "huge", 0, 10, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "half", INT64_MIN, INT64_MAX, &v), -EINVAL);
	CHECK_INT(ctl_request_int(&req, "small", INT64_MIN, INT64_MAX, &v), -EINVAL);
	CHECK_INT(ctl_request_int(&req, "two63", INT64_MIN, INT64_MAX, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "two63e", INT64_MIN, INT64_MAX, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "below", INT64_MIN, INT64_MAX, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "str", INT64_MIN, INT64_MAX, &v), -EINVAL);
	CHECK_INT(ctl_request_int(&req, "t", INT64_MIN, INT64_MAX, &v), -EINVAL);
	CHECK_INT(ctl_request_int(&req, "z", INT64_MIN, INT64_MAX, &v), -EINVAL);
	CHECK_INT(ctl_request_int(&req, "missing", INT64_MIN, INT64_MAX, &v), -ENOENT);
	CHECK_INT(v, 5); /* untouched by every refusal */

	/* The edges of int64_t, and of a caller's range. */
	CHECK_INT(ctl_request_int(&req, "max", INT64_MIN, INT64_MAX, &v), 0);
	CHECK(v == INT64_MAX);
	CHECK_INT(ctl_request_int(&req, "min", INT64_MIN, INT64_MAX, &v), 0);
	CHECK(v == INT64_MIN);
	CHECK_INT(ctl_request_int(&req, "max", INT64_MIN, INT64_MAX - 1, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "min", INT64_MIN + 1, INT64_MAX, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "i", 42, 42, &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(ctl_request_int(&req, "i", 1, 41, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "i", 43, 60000, &v), -ERANGE);
	CHECK_INT(ctl_request_int(&req, "exp", 0, 100, &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(ctl_request_int(&req, "point", 0, 100, &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(ctl_request_int(&req, "neg0", 0, 0, &v), 0);
	CHECK_INT(v, 0);
	/* Exact beyond 2^53, where a double would round. */
	CHECK_INT(ctl_request_int(&req, "odd53", INT64_MIN, INT64_MAX, &v), 0);
	CHECK(v == 9007199254740993LL);
}

/* ------------------------------------------------------------ writer */

static void test_reply_writer(void)
{
	struct ctl_reply *r = ctl_reply_new();
	size_t len;

	CHECK_INT(ctl_reply_string(r, "id", "df7w\"\\\n\x01"), 0);
	CHECK_INT(ctl_reply_uint(r, "big", UINT64_MAX), 0);
	CHECK_INT(ctl_reply_int(r, "neg", INT64_MIN), 0);
	CHECK_INT(ctl_reply_double(r, "rtt", 1.5), 0);
	CHECK_INT(ctl_reply_double(r, "inf", INFINITY), 0);
	CHECK_INT(ctl_reply_bool(r, "up", true), 0);
	CHECK_INT(ctl_reply_null(r, "relay"), 0);
	CHECK_INT(ctl_reply_begin_array(r, "peers"), 0);
	CHECK_INT(ctl_reply_begin_object(r, NULL), 0);
	CHECK_INT(ctl_reply_string(r, "addr", "fd69:726f::1"), 0);
	CHECK_INT(ctl_reply_begin_array(r, "paths"), 0);
	CHECK_INT(ctl_reply_string(r, NULL, "direct"), 0);
	CHECK_INT(ctl_reply_uint(r, NULL, 7), 0);
	CHECK_INT(ctl_reply_end_array(r), 0);
	CHECK_INT(ctl_reply_end_object(r), 0);
	CHECK_INT(ctl_reply_begin_object(r, NULL), 0);
	CHECK_INT(ctl_reply_end_object(r), 0);
	CHECK_INT(ctl_reply_end_array(r), 0);
	CHECK_INT(ctl_reply_begin_object(r, "empty"), 0);
	CHECK_INT(ctl_reply_end_object(r), 0);
	CHECK_INT(ctl_reply_string(r, "bad", "a\xffz\xc3\xa9"), 0);
	CHECK_STR(
	    ctl_reply_text(r, &len),
	    "{\"ok\":true,\"id\":\"df7w\\\"\\\\\\n\\u0001\",\"big\":18446744073709551615,"
	    "\"neg\":-9223372036854775808,\"rtt\":1.5,\"inf\":null,\"up\":true,\"relay\":null,"
	    "\"peers\":[{\"addr\":\"fd69:726f::1\",\"paths\":[\"direct\",7]},{}],"
	    "\"empty\":{},\"bad\":\"a\xef\xbf\xbdz\xc3\xa9\"}");
	CHECK_INT(len, strlen(ctl_reply_text(r, NULL)));
	/* Finished: writers refuse. */
	CHECK_INT(ctl_reply_string(r, "late", "x"), -EINVAL);
	ctl_reply_free(r);

	/* Misuse makes an error reply. */
	r = ctl_reply_new();
	CHECK_INT(ctl_reply_string(r, NULL, "no key in an object"), -EINVAL);
	CHECK_STR(ctl_reply_text(r, NULL),
		  "{\"ok\":false,\"error\":\"internal error: malformed reply\"}");
	ctl_reply_free(r);
	r = ctl_reply_new();
	CHECK_INT(ctl_reply_begin_array(r, "a"), 0);
	CHECK_INT(ctl_reply_string(r, "key", "in an array"), -EINVAL);
	ctl_reply_free(r);
	r = ctl_reply_new();
	CHECK_INT(ctl_reply_end_object(r), -EINVAL); /* the root is not the caller's to close */
	ctl_reply_free(r);
	r = ctl_reply_new();
	CHECK_INT(ctl_reply_begin_array(r, "a"), 0);
	CHECK_INT(ctl_reply_end_object(r), -EINVAL);
	ctl_reply_free(r);
	r = ctl_reply_new();
	CHECK_INT(ctl_reply_begin_object(r, "unclosed"), 0);
	CHECK_STR(ctl_reply_text(r, NULL),
		  "{\"ok\":false,\"error\":\"internal error: malformed reply\"}");
	ctl_reply_free(r);
	r = ctl_reply_new();
	int depth_rc = 0;
	for (int i = 0; i < CTL_MAX_DEPTH && depth_rc == 0; i++)
		depth_rc = ctl_reply_begin_array(r, i == 0 ? "deep" : NULL);
	CHECK_INT(depth_rc, -EINVAL);
	ctl_reply_free(r);

	/* An explicit error replaces everything. */
	r = ctl_reply_new();
	ctl_reply_string(r, "partial", "x");
	ctl_reply_begin_array(r, "open");
	ctl_reply_error(r, "unknown peer '%s'", "q\"");
	CHECK_STR(ctl_reply_text(r, NULL), "{\"ok\":false,\"error\":\"unknown peer 'q\\\"'\"}");
	ctl_reply_free(r);

	/* Too large: the reply becomes an error reply, within the limit. */
	r = ctl_reply_new();
	char *chunk = malloc(65536);
	memset(chunk, 'x', 65535);
	chunk[65535] = '\0';
	int rc = 0;
	for (int i = 0; i < 32 && rc == 0; i++)
		rc = ctl_reply_string(r, "k", chunk);
	CHECK_INT(rc, -ENOSPC);
	CHECK_STR(ctl_reply_text(r, &len), "{\"ok\":false,\"error\":\"reply too large\"}");
	ctl_reply_free(r);
	/* Just under the limit passes. */
	r = ctl_reply_new();
	size_t room = CTL_REPLY_MAX - 1 - strlen("{\"ok\":true,\"k\":\"\"}");
	char *exact = malloc(room + 1);
	memset(exact, 'y', room);
	exact[room] = '\0';
	CHECK_INT(ctl_reply_string(r, "k", exact), 0);
	ctl_reply_text(r, &len);
	CHECK_INT(len, CTL_REPLY_MAX - 1);
	ctl_reply_free(r);
	r = ctl_reply_new();
	exact[room - 1] = '\0';
	memset(exact, 'y', room - 1);
	CHECK_INT(ctl_reply_string(r, "k", exact), 0);
	CHECK_INT(ctl_reply_bool(r, "one", true), -ENOSPC);
	ctl_reply_free(r);
	free(exact);
	free(chunk);
}

/* -------------------------------------------------------------- path */

static void test_path(void)
{
	char out[200];
	unsetenv("IRON_STATE_DIR");
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	CHECK_INT(ctl_socket_path("/tmp/x.sock", "/state", 0, out, sizeof(out)), 0);
	CHECK_STR(out, "/tmp/x.sock");
	CHECK_INT(ctl_socket_path(NULL, "/state", 0, out, sizeof(out)), 0);
	CHECK_STR(out, "/state/iron.sock");
	CHECK_INT(ctl_socket_path(NULL, "/state", 1000, out, sizeof(out)), 0);
	CHECK_STR(out, "/state/iron.sock");
	CHECK_INT(ctl_socket_path(NULL, NULL, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "/run/iron/iron.sock");
	CHECK_INT(ctl_socket_path(NULL, NULL, 1000, out, sizeof(out)), 0);
	CHECK_STR(out, "/run/user/1000/iron.sock");
	setenv("IRON_STATE_DIR", "/envstate", 1);
	CHECK_INT(ctl_socket_path(NULL, NULL, 1000, out, sizeof(out)), 0);
	CHECK_STR(out, "/envstate/iron.sock");
	CHECK_INT(ctl_socket_path(NULL, NULL, 0, out, sizeof(out)), 0);
	CHECK_STR(out, "/envstate/iron.sock");
	CHECK_INT(ctl_socket_path(NULL, "/flag", 0, out, sizeof(out)), 0);
	CHECK_STR(out, "/flag/iron.sock");
	unsetenv("IRON_STATE_DIR");
	unsetenv("XDG_RUNTIME_DIR");
	CHECK_INT(ctl_socket_path(NULL, NULL, 1000, out, sizeof(out)), -ENOENT);
	char longdir[150];
	memset(longdir, 'd', sizeof(longdir));
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	CHECK_INT(ctl_socket_path(NULL, longdir, 0, out, sizeof(out)), -ENAMETOOLONG);
	CHECK_INT(ctl_socket_path(NULL, "/state", 0, out, 10), -ENAMETOOLONG);

	CHECK_STR(ctl_describe_error(-ENOENT, "/run/iron/iron.sock", out, sizeof(out)),
		  "no daemon on /run/iron/iron.sock \xe2\x80\x94 is `iron serve` running?");
	CHECK_STR(ctl_describe_error(-ECONNREFUSED, "/s", out, sizeof(out)),
		  "no daemon on /s \xe2\x80\x94 is `iron serve` running?");
	CHECK_STR(ctl_describe_error(-EADDRINUSE, "/s", out, sizeof(out)),
		  "another daemon is running on /s \xe2\x80\x94 stop it, or give this one its own "
		  "--socket or --state-dir");
}

/* ------------------------------------------------------------ server */

struct later {
	uv_timer_t timer;
	struct ctl_reply *reply;
};

static atomic_int cancelled_seen = -1;

static void later_closed(uv_handle_t *h)
{
	free(h->data);
}

static void later_fire(uv_timer_t *t)
{
	struct later *l = t->data;
	if (ctl_reply_cancelled(l->reply))
		atomic_store(&cancelled_seen, 1);
	else
		atomic_store(&cancelled_seen, 0);
	ctl_reply_bool(l->reply, "late", true);
	ctl_reply_finish(l->reply);
	uv_close((uv_handle_t *)t, later_closed);
}

static uv_loop_t *handler_loop;

static void handler(void *user, const struct ctl_request *req, struct ctl_reply *reply)
{
	double n = 0;
	(void)user;
	if (strcmp(req->command, "echo") == 0) {
		const char *text = ctl_request_string(req, "text");
		ctl_reply_string(reply, "text", text ? text : "");
		if (ctl_request_number(req, "n", &n) == 0)
			ctl_reply_double(reply, "n", n);
	} else if (strcmp(req->command, "status") == 0) {
		ctl_request_number(req, "peers", &n);
		ctl_reply_string(reply, "node",
				 "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq");
		ctl_reply_begin_array(reply, "peers");
		for (int i = 0; i < (int)n; i++) {
			ctl_reply_begin_object(reply, NULL);
			ctl_reply_int(reply, "i", i);
			ctl_reply_string(reply, "path", i % 2 ? "relay" : "direct");
			ctl_reply_end_object(reply);
		}
		ctl_reply_end_array(reply);
	} else if (strcmp(req->command, "big") == 0) {
		ctl_request_number(req, "size", &n);
		char *s = malloc((size_t)n + 1);
		memset(s, 'b', (size_t)n);
		s[(size_t)n] = '\0';
		ctl_reply_string(reply, "data", s);
		free(s);
	} else if (strcmp(req->command, "later") == 0) {
		struct later *l = calloc(1, sizeof(*l));
		ctl_request_number(req, "ms", &n);
		l->reply = reply;
		l->timer.data = l;
		uv_timer_init(handler_loop, &l->timer);
		uv_timer_start(&l->timer, later_fire, n > 0 ? (uint64_t)n : 50, 0);
		ctl_reply_defer(reply);
	} else if (strcmp(req->command, "now") == 0) {
		/* Deferred and finished before returning: allowed. */
		ctl_reply_defer(reply);
		ctl_reply_string(reply, "when", "now");
		ctl_reply_finish(reply);
	} else if (strcmp(req->command, "now2") == 0) {
		/* Finished in the handler without ctl_reply_defer(): also fine. */
		ctl_reply_string(reply, "when", "now2");
		ctl_reply_finish(reply);
	} else {
		ctl_reply_error(reply, "unknown command '%s'", req->command);
	}
}

struct fixture {
	uv_loop_t loop;
	uv_async_t stop;
	struct ctl_server *server;
	pthread_t thread;
	struct ctl_server_stats stats;
	char path[108];
	int loop_close_rc;
};

static void on_stop(uv_async_t *async)
{
	struct fixture *f = async->data;
	ctl_server_get_stats(f->server, &f->stats);
	ctl_server_close(f->server);
	uv_close((uv_handle_t *)async, NULL);
}

static void *loop_thread(void *arg)
{
	struct fixture *f = arg;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	/* Every handle closed: the loop must be empty. */
	f->loop_close_rc = uv_loop_close(&f->loop);
	return NULL;
}

static int start(struct fixture *f, const char *name, const char *group, unsigned idle_ms,
		 unsigned max_clients)
{
	struct ctl_server_options opts = {
	    .group = group,
	    .idle_timeout_ms = idle_ms,
	    .max_clients = max_clients,
	    .handler = handler,
	};
	int rc;
	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/%s", tmpdir, name);
	opts.path = f->path;
	uv_loop_init(&f->loop);
	handler_loop = &f->loop;
	rc = ctl_server_start(&f->loop, &opts, &f->server);
	if (rc != 0) {
		uv_run(&f->loop, UV_RUN_DEFAULT);
		uv_loop_close(&f->loop);
		return rc;
	}
	uv_async_init(&f->loop, &f->stop, on_stop);
	f->stop.data = f;
	pthread_create(&f->thread, NULL, loop_thread, f);
	return 0;
}

static void stop(struct fixture *f)
{
	uv_async_send(&f->stop);
	pthread_join(f->thread, NULL);
	CHECK_INT(f->loop_close_rc, 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int raw_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* Reads one line (without "\n") within timeout_ms; returns its length, -1
 * on EOF, -2 on timeout. */
static ssize_t read_line(int fd, char *out, size_t cap, int timeout_ms)
{
	size_t len = 0;
	int64_t deadline = now_ms() + timeout_ms;
	while (len + 1 < cap) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -2;
		ssize_t n = recv(fd, out + len, 1, 0);
		if (n <= 0)
			return -1;
		if (out[len] == '\n') {
			out[len] = '\0';
			return (ssize_t)len;
		}
		len++;
	}
	return -3;
}

/* Waits for EOF (or a reset), discarding data; returns ms waited or -1. */
static int64_t wait_eof(int fd, int timeout_ms)
{
	char buf[65536];
	int64_t t0 = now_ms(), deadline = t0 + timeout_ms;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return now_ms() - t0;
	}
}

static void test_request_reply(void)
{
	struct fixture f;
	char *reply = NULL;
	char line[8192];
	int fd;

	CHECK_INT(start(&f, "basic.sock", NULL, 300, 0), 0);

	/* Mode 0600 from the start. */
	struct stat st;
	CHECK_INT(stat(f.path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0600);

	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"echo\",\"text\":\"h\\u00e9\\\"llo\",\"n\":42}",
			   &reply, 2000),
		  0);
	CHECK_STR(reply, "{\"ok\":true,\"text\":\"h\xc3\xa9\\\"llo\",\"n\":42}");
	free(reply);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"nope\"}\n", &reply, 2000), 0);
	CHECK_STR(reply, "{\"ok\":false,\"error\":\"unknown command 'nope'\"}");
	free(reply);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"status\",\"peers\":3}", &reply, 2000), 0);
	CHECK_STR(reply,
		  "{\"ok\":true,\"node\":\"df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\","
		  "\"peers\":[{\"i\":0,\"path\":\"direct\"},{\"i\":1,\"path\":\"relay\"},"
		  "{\"i\":2,\"path\":\"direct\"}]}");
	free(reply);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"later\",\"ms\":30}", &reply, 2000), 0);
	CHECK_STR(reply, "{\"ok\":true,\"late\":true}");
	free(reply);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"now\"}", &reply, 2000), 0);
	CHECK_STR(reply, "{\"ok\":true,\"when\":\"now\"}");
	free(reply);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"now2\"}", &reply, 2000), 0);
	CHECK_STR(reply, "{\"ok\":true,\"when\":\"now2\"}");
	free(reply);
	/* A reply over the limit becomes an error reply. */
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"big\",\"size\":2000000}", &reply, 5000), 0);
	CHECK_STR(reply, "{\"ok\":false,\"error\":\"reply too large\"}");
	free(reply);
	/* A large reply within it arrives whole. */
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"big\",\"size\":900000}", &reply, 5000), 0);
	CHECK(reply && strlen(reply) == 900000 + strlen("{\"ok\":true,\"data\":\"\"}"));
	free(reply);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"echo\"}\n{\"cmd\":\"echo\"}", &reply, 2000),
		  -EINVAL);

	/* Invalid JSON and a missing cmd get error replies; the connection
	 * stays usable, and pipelined requests are answered in order, a
	 * deferred one included. Blank lines and CRLF are fine. */
	fd = raw_connect(f.path);
	CHECK(fd >= 0);
	const char *batch = "{\"cmd\":\"echo\",\"text\":\"1\"}\r\n"
			    "not json\n"
			    "\n"
			    "{\"text\":\"no cmd\"}\n"
			    "{\"cmd\":\"later\",\"ms\":40}\n"
			    "{\"cmd\":\"echo\",\"text\":\"3\"}\n";
	send_all(fd, batch, strlen(batch));
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"text\":\"1\"}");
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":false,\"error\":\"invalid request: not a JSON object\"}");
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":false,\"error\":\"invalid request: missing \\\"cmd\\\"\"}");
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"late\":true}");
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"text\":\"3\"}");
	/* A last request without newline, then end of input: answered, then
	 * the server closes. */
	send_all(fd, "{\"cmd\":\"echo\",\"text\":\"eof\"}", 27);
	shutdown(fd, SHUT_WR);
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"text\":\"eof\"}");
	CHECK(wait_eof(fd, 2000) >= 0);
	close(fd);

	/* A request of exactly 4096 bytes is taken, 4097 are refused with an
	 * error reply and the connection is closed. */
	char *big = malloc(CTL_REQUEST_MAX + 64);
	size_t head = strlen("{\"cmd\":\"echo\",\"text\":\"");
	memcpy(big, "{\"cmd\":\"echo\",\"text\":\"", head);
	memset(big + head, 'q', CTL_REQUEST_MAX - head - 2);
	memcpy(big + CTL_REQUEST_MAX - 2, "\"}\n", 3);
	fd = raw_connect(f.path);
	send_all(fd, big, CTL_REQUEST_MAX + 1);
	CHECK_INT(read_line(fd, line, sizeof(line), 2000),
		  strlen("{\"ok\":true,\"text\":\"\"}") + CTL_REQUEST_MAX - head - 2);
	memset(big, ' ', CTL_REQUEST_MAX + 1);
	send_all(fd, big, CTL_REQUEST_MAX + 1); /* 4097 spaces, no newline */
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":false,\"error\":\"request longer than 4096 bytes\"}");
	CHECK(wait_eof(fd, 2000) >= 0);
	close(fd);
	/* More after the first 4097 bytes of a too-long line, at once or a
	 * little later: the rest of the line is not taken for a request, nor
	 * is the next line (a second reply used to be written over the first
	 * while it was in flight, and the daemon crashed). */
	for (int pause = 0; pause < 2; pause++) {
		const char *rest = "zzzz\"}\n{\"cmd\":\"echo\",\"text\":\"more\"}\n";
		char *both = malloc(CTL_REQUEST_MAX + 1 + strlen(rest));
		memset(both, 'z', CTL_REQUEST_MAX + 1);
		memcpy(both + CTL_REQUEST_MAX + 1, rest, strlen(rest));
		fd = raw_connect(f.path);
		if (pause) {
			send_all(fd, both, CTL_REQUEST_MAX + 1);
			usleep(50000);
			send_all(fd, rest, strlen(rest));
		} else {
			send_all(fd, both, CTL_REQUEST_MAX + 1 + strlen(rest));
		}
		CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
		CHECK_STR(line, "{\"ok\":false,\"error\":\"request longer than 4096 bytes\"}");
		CHECK_INT(read_line(fd, line, sizeof(line), 2000), -1); /* EOF, nothing else */
		close(fd);
		free(both);
	}
	/* The same when the too-long line is cut by end of input. */
	fd = raw_connect(f.path);
	memset(big, 'x', CTL_REQUEST_MAX + 1);
	send_all(fd, big, CTL_REQUEST_MAX + 1);
	shutdown(fd, SHUT_WR);
	CHECK(read_line(fd, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":false,\"error\":\"request longer than 4096 bytes\"}");
	close(fd);
	free(big);

	/* A deferred reply whose client has gone: the handler learns it is
	 * cancelled and finishing it is harmless. */
	atomic_store(&cancelled_seen, -1);
	fd = raw_connect(f.path);
	send_all(fd, "{\"cmd\":\"later\",\"ms\":100}\n", 25);
	usleep(20000);
	close(fd);
	for (int i = 0; i < 100 && atomic_load(&cancelled_seen) < 0; i++)
		usleep(10000);
	/* The server notices the close only when it writes, so the handler may
	 * or may not have seen it as cancelled; it must have finished. */
	CHECK(atomic_load(&cancelled_seen) >= 0);

	/* Still serving. */
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"echo\",\"text\":\"ok\"}", &reply, 2000), 0);
	CHECK_STR(reply, "{\"ok\":true,\"text\":\"ok\"}");
	free(reply);

	stop(&f);
	CHECK_INT(f.stats.bad_requests, 6);
	CHECK(f.stats.requests >= 10);
	/* The socket file is removed on close. */
	CHECK(access(f.path, F_OK) != 0);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"echo\"}", &reply, 500), -ENOENT);
}

static void test_cancel_on_close(void)
{
	struct fixture f;
	char line[256];

	/* A deferred reply outstanding when the server closes: cancelled. */
	CHECK_INT(start(&f, "cancel.sock", NULL, 300, 0), 0);
	atomic_store(&cancelled_seen, -1);
	int fd = raw_connect(f.path);
	send_all(fd, "{\"cmd\":\"later\",\"ms\":200}\n", 25);
	/* Wait until the handler has it (the request counter is not shared,
	 * so poll for the reply's absence for a moment). */
	CHECK_INT(read_line(fd, line, sizeof(line), 50), -2);
	stop(&f);
	CHECK_INT(atomic_load(&cancelled_seen), 1);
	CHECK_INT(read_line(fd, line, sizeof(line), 1000), -1);
	close(fd);
}

static void test_idle_timeout(void)
{
	struct fixture f;
	CHECK_INT(start(&f, "idle.sock", NULL, 200, 0), 0);
	int fd = raw_connect(f.path);
	CHECK(fd >= 0);
	int64_t waited = wait_eof(fd, 3000);
	CHECK(waited >= 150);
	CHECK(waited < 2000);
	close(fd);
	/* A partial line does not keep a connection alive past the timeout
	 * either once the client stops sending. */
	fd = raw_connect(f.path);
	send_all(fd, "{\"cmd\":", 7);
	waited = wait_eof(fd, 3000);
	CHECK(waited >= 150);
	CHECK(waited < 2000);
	close(fd);
	stop(&f);
	CHECK_INT(f.stats.timeouts, 2);
	CHECK_INT(f.stats.clients, 0);
}

static void test_many_clients(void)
{
	enum { N = 100 };
	struct fixture f;
	int fds[N];
	char line[256], want[256];
	int answered = 0;

	CHECK_INT(start(&f, "many.sock", NULL, 5000, 0), 0);
	for (int i = 0; i < N; i++) {
		char req[64];
		fds[i] = raw_connect(f.path);
		CHECK(fds[i] >= 0);
		int n = snprintf(req, sizeof(req), "{\"cmd\":\"echo\",\"text\":\"c%d\"}\n", i);
		send_all(fds[i], req, (size_t)n);
	}
	/* All 100 connected and sent; at most 64 are served at once, the rest
	 * wait in the backlog until earlier ones close. */
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof(want), "{\"ok\":true,\"text\":\"c%d\"}", i);
		if (read_line(fds[i], line, sizeof(line), 5000) > 0 && strcmp(line, want) == 0)
			answered++;
		close(fds[i]);
	}
	CHECK_INT(answered, N);
	/* Let the server see the last closes before stopping. */
	char *reply = NULL;
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"echo\"}", &reply, 2000), 0);
	free(reply);
	stop(&f);
	CHECK_INT(f.stats.accepted, N + 1);
	CHECK(f.stats.peak_clients <= CTL_MAX_CLIENTS);
	CHECK(f.stats.peak_clients >= 2);

	/* With a cap of 2, a third client closes the one idle the longest:
	 * a, whose last request is older than b's. */
	CHECK_INT(start(&f, "cap.sock", NULL, 5000, 2), 0);
	int a = raw_connect(f.path), b = raw_connect(f.path);
	send_str(a, "{\"cmd\":\"echo\",\"text\":\"a\"}\n");
	CHECK(read_line(a, line, sizeof(line), 2000) > 0);
	send_str(b, "{\"cmd\":\"echo\",\"text\":\"b\"}\n");
	CHECK(read_line(b, line, sizeof(line), 2000) > 0);
	int c = raw_connect(f.path);
	send_str(c, "{\"cmd\":\"echo\",\"text\":\"c\"}\n");
	CHECK(read_line(c, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"text\":\"c\"}");
	CHECK(wait_eof(a, 2000) >= 0);
	send_str(b, "{\"cmd\":\"echo\",\"text\":\"b\"}\n");
	CHECK(read_line(b, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"text\":\"b\"}");
	close(a);
	close(b);
	close(c);
	stop(&f);
	CHECK_INT(f.stats.peak_clients, 2);
	CHECK_INT(f.stats.evicted, 1);

	/* A client with a request in progress is never the one closed: with
	 * both busy, a third waits in the backlog until one is done. */
	CHECK_INT(start(&f, "busy.sock", NULL, 5000, 2), 0);
	a = raw_connect(f.path);
	b = raw_connect(f.path);
	send_str(a, "{\"cmd\":\"later\",\"ms\":400}\n");
	send_str(b, "{\"cmd\":\"later\",\"ms\":400}\n");
	c = raw_connect(f.path);
	send_str(c, "{\"cmd\":\"echo\",\"text\":\"c\"}\n");
	CHECK_INT(read_line(c, line, sizeof(line), 200), -2);
	CHECK(read_line(a, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"late\":true}");
	CHECK(read_line(b, line, sizeof(line), 2000) > 0);
	CHECK(read_line(c, line, sizeof(line), 2000) > 0);
	CHECK_STR(line, "{\"ok\":true,\"text\":\"c\"}");
	close(a);
	close(b);
	close(c);
	stop(&f);

	/* 1000 clients that connect and say nothing do not lock others out:
	 * each new one closes the one idle the longest. */
	enum { SILENT = 1000 };
	static int silent[SILENT];
	CHECK_INT(start(&f, "silent.sock", NULL, 10000, 0), 0);
	for (int i = 0; i < SILENT; i++) {
		silent[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f.path);
		connect(silent[i], (struct sockaddr *)&sun, sizeof(sun)); /* EAGAIN when full */
	}
	int64_t t0 = now_ms();
	reply = NULL;
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"echo\",\"text\":\"me\"}", &reply, 3000), 0);
	CHECK(now_ms() - t0 < 2000);
	CHECK(reply && strcmp(reply, "{\"ok\":true,\"text\":\"me\"}") == 0);
	free(reply);
	for (int i = 0; i < SILENT; i++)
		close(silent[i]);
	stop(&f);
	CHECK(f.stats.peak_clients <= CTL_MAX_CLIENTS);
	CHECK(f.stats.evicted >= 1);
}

static void test_slow_reader(void)
{
	struct fixture f;
	CHECK_INT(start(&f, "slow.sock", NULL, 300, 0), 0);
	int fd = raw_connect(f.path);
	int bufsize = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	/* Ask for many 500 KB replies and read none of them. */
	const char *req = "{\"cmd\":\"big\",\"size\":500000}\n";
	size_t sent_requests = 0;
	for (int i = 0; i < 2000; i++) {
		ssize_t n = send(fd, req, strlen(req), MSG_NOSIGNAL);
		if (n != (ssize_t)strlen(req))
			break;
		sent_requests++;
	}
	CHECK(sent_requests > 2);
	fcntl(fd, F_SETFL, 0);
	/* Do not read for a while: the server must drop us after its timeout. */
	usleep(800000);
	/* Then the socket holds at most what was written before the drop and
	 * ends in EOF. */
	CHECK(wait_eof(fd, 3000) >= 0);
	close(fd);
	stop(&f);
	CHECK(f.stats.timeouts >= 1);
	/* At most one reply was ever pending for the client. */
	CHECK(f.stats.peak_pending_output <= 500000 + 64);
	CHECK_INT(f.stats.pending_output, 0);
	CHECK(f.stats.requests <= 2);
}

static void test_live_and_stale(void)
{
	struct fixture f, g;
	char *reply = NULL;
	char path[100];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	/* A second server on a live socket is refused; the first keeps it. */
	CHECK_INT(start(&f, "live.sock", NULL, 300, 0), 0);
	CHECK_INT(start(&g, "live.sock", NULL, 300, 0), -EADDRINUSE);
	CHECK_INT(ctl_call(f.path, "{\"cmd\":\"echo\",\"text\":\"first\"}", &reply, 2000), 0);
	CHECK_STR(reply, "{\"ok\":true,\"text\":\"first\"}");
	free(reply);
	stop(&f);

	/* A stale socket file (nobody listening) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", tmpdir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_INT(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	CHECK_INT(ctl_call(path, "{\"cmd\":\"echo\"}", &reply, 500), -ECONNREFUSED);
	CHECK_INT(start(&f, "stale.sock", NULL, 300, 0), 0);
	CHECK_INT(ctl_call(path, "{\"cmd\":\"echo\",\"text\":\"new\"}", &reply, 2000), 0);
	CHECK_STR(reply, "{\"ok\":true,\"text\":\"new\"}");
	free(reply);
	stop(&f);

	/* Something that is not a socket is never removed. */
	snprintf(path, sizeof(path), "%s/file.sock", tmpdir);
	FILE *file = fopen(path, "w");
	fputs("precious", file);
	fclose(file);
	CHECK_INT(start(&f, "file.sock", NULL, 300, 0), -EEXIST);
	CHECK_INT(access(path, F_OK), 0);
	unlink(path);

	/* The parent directory is created when missing. */
	CHECK_INT(start(&f, "sub/iron.sock", NULL, 300, 0), 0);
	stop(&f);
	snprintf(path, sizeof(path), "%s/sub", tmpdir);
	CHECK_INT(rmdir(path), 0);

	/* Too long for sun_path. */
	char name[120];
	struct ctl_server *server = NULL;
	struct ctl_server_options opts = {.path = name, .handler = handler};
	memset(name, 'n', sizeof(name));
	name[0] = '/';
	name[sizeof(name) - 1] = '\0';
	CHECK_INT(ctl_server_start(uv_default_loop(), &opts, &server), -ENAMETOOLONG);
	CHECK(server == NULL);
	opts.handler = NULL;
	opts.path = "/tmp/x.sock";
	CHECK_INT(ctl_server_start(uv_default_loop(), &opts, &server), -EINVAL);
}

static void test_group_mode(void)
{
	struct fixture f;
	struct stat st;
	CHECK_INT(start(&f, "group.sock", "0", 300, 0), 0);
	CHECK_INT(stat(f.path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0660);
	CHECK_INT(st.st_gid, 0);
	stop(&f);
	CHECK_INT(start(&f, "group.sock", "root", 300, 0), 0);
	CHECK_INT(stat(f.path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0660);
	stop(&f);
	CHECK_INT(start(&f, "group.sock", "no-such-group-iron", 300, 0), -ENOENT);
}

/* The socket's directory and the file at its path: nothing someone else
 * could swap is trusted, and nothing is changed through a path. */
static void test_unsafe_places(void)
{
	struct fixture f;
	struct stat st;
	char dir[100], path[120], target[120];

	/* A directory others may write is refused, the socket not made. */
	snprintf(dir, sizeof(dir), "%s/open", tmpdir);
	CHECK_INT(mkdir(dir, 0700), 0);
	CHECK_INT(chmod(dir, 0777), 0);
	CHECK_INT(start(&f, "open/iron.sock", NULL, 300, 0), -EPERM);
	snprintf(path, sizeof(path), "%s/iron.sock", dir);
	CHECK_INT(access(path, F_OK), -1);
	CHECK_INT(chmod(dir, 0775), 0);
	CHECK_INT(start(&f, "open/iron.sock", NULL, 300, 0), -EPERM);
	CHECK_INT(chmod(dir, 0755), 0);
	CHECK_INT(start(&f, "open/iron.sock", NULL, 300, 0), 0);
	stop(&f);
	/* Also when it belongs to someone else (when we may test that). */
	if (geteuid() == 0) {
		CHECK_INT(chown(dir, 65534, 65534), 0);
		CHECK_INT(start(&f, "open/iron.sock", NULL, 300, 0), -EPERM);
		CHECK_INT(chown(dir, 0, 0), 0);
	}
	CHECK_INT(rmdir(dir), 0);

	/* A symlink planted at the socket's path: refused, and its target
	 * keeps its mode and group. */
	snprintf(target, sizeof(target), "%s/precious", tmpdir);
	FILE *file = fopen(target, "w");
	fputs("precious", file);
	fclose(file);
	CHECK_INT(chmod(target, 0644), 0);
	snprintf(path, sizeof(path), "%s/link.sock", tmpdir);
	CHECK_INT(symlink(target, path), 0);
	CHECK_INT(start(&f, "link.sock", "0", 300, 0), -EEXIST);
	CHECK_INT(start(&f, "link.sock", NULL, 300, 0), -EEXIST);
	CHECK_INT(stat(target, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0644);
	CHECK_INT(lstat(path, &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	unlink(path);
	unlink(target);

	/* The socket gets its mode and group when bound: the right ones are
	 * there as soon as it exists, with no chmod or chown by path. */
	CHECK_INT(start(&f, "made.sock", NULL, 300, 0), 0);
	CHECK_INT(lstat(f.path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0600);
	stop(&f);
	if (geteuid() == 0) {
		CHECK_INT(start(&f, "made.sock", "65534", 300, 0), 0);
		CHECK_INT(lstat(f.path, &st), 0);
		CHECK_INT(st.st_mode & 0777, 0660);
		CHECK_INT(st.st_gid, 65534);
		stop(&f);
	}
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	test_parse();
	test_request_int();
	test_reply_writer();
	test_path();
	test_request_reply();
	test_cancel_on_close();
	test_idle_timeout();
	test_many_clients();
	test_slow_reader();
	test_live_and_stale();
	test_group_mode();
	test_unsafe_places();
	rmdir(tmpdir);
	return check_done();
}
