/* stream.c over loopback: plain TCP and TLS (a certificate made with
 * openssl for "localhost"), echoing 1 MiB (16 MiB through a 64 KiB queue); a TLS client refusing an
 * untrusted certificate and a wrong name; the write queue's limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "iron/stream.h"

struct test {
	uv_loop_t loop;
	uv_tcp_t listener;
	struct stream_tls_server *tls;
	struct stream *server, *client;
	uint8_t *sent, *received;
	size_t nsent, nreceived;
	int server_closed, client_closed;
	int server_err, client_err;
	char client_reason[256];
	bool client_ready;
	int enobufs;
	size_t payload;
	bool pause_server; /* until the client is told to wait */
};

static void server_data(void *user, struct stream *s, const uint8_t *data, size_t len)
{
	struct test *t = user;
	(void)t;
	CHECK_INT(stream_write(s, data, len), 0);
}

static void server_closed(void *user, struct stream *s, int err, const char *reason)
{
	struct test *t = user;
	(void)s;
	(void)reason;
	t->server_closed++;
	t->server_err = err;
	t->server = NULL;
	if (!uv_is_closing((uv_handle_t *)&t->listener))
		uv_close((uv_handle_t *)&t->listener, NULL);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct test *t = listener->data;
	CHECK_INT(status, 0);
	const struct stream_callbacks cb = {
	    .user = t, .data = server_data, .closed = server_closed};
	CHECK_INT(stream_accept(listener, t->tls, &cb, &t->server), 0);
	stream_set_queue_limit(t->server, 64u << 20); /* echoes whatever comes */
	if (t->pause_server)
		stream_pause(t->server);
}

static void send_more(struct test *t)
{
	while (t->nsent < t->payload) {
		size_t n = t->payload - t->nsent < 100000 ? t->payload - t->nsent : 100000;
		int rc =
		    stream_write2(t->client, t->sent + t->nsent, 7, t->sent + t->nsent + 7, n - 7);
		if (rc == -ENOBUFS) {
			t->enobufs++;
			if (t->server)
				stream_resume(t->server);
			return;
		}
		CHECK_INT(rc, 0);
		t->nsent += n;
	}
}

static void client_ready(void *user, struct stream *s)
{
	struct test *t = user;
	(void)s;
	t->client_ready = true;
	send_more(t);
}

static void client_writable(void *user, struct stream *s)
{
	(void)s;
	send_more(user);
}

static void client_data(void *user, struct stream *s, const uint8_t *data, size_t len)
{
	struct test *t = user;
	CHECK(t->nreceived + len <= t->payload);
	if (t->nreceived + len > t->payload) {
		stream_close(s);
		return;
	}
	memcpy(t->received + t->nreceived, data, len);
	t->nreceived += len;
	if (t->nreceived == t->payload) {
		stream_close(s);
		t->client = NULL;
		t->client_closed++;
	}
}

static void client_closed(void *user, struct stream *s, int err, const char *reason)
{
	struct test *t = user;
	(void)s;
	t->client_closed++;
	t->client_err = err;
	snprintf(t->client_reason, sizeof(t->client_reason), "%s", reason);
	t->client = NULL;
	if (t->server)
		stream_close(t->server);
	t->server = NULL;
	if (!uv_is_closing((uv_handle_t *)&t->listener))
		uv_close((uv_handle_t *)&t->listener, NULL);
}

/* One connection; returns after the loop has nothing left. */
static void run(struct test *t, const char *tls_host, size_t queue_limit)
{
	if (!t->payload)
		t->payload = 1u << 20;
	CHECK_INT(uv_loop_init(&t->loop), 0);
	CHECK_INT(uv_tcp_init(&t->loop, &t->listener), 0);
	t->listener.data = t;
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", 0, &addr);
	CHECK_INT(uv_tcp_bind(&t->listener, (struct sockaddr *)&addr, 0), 0);
	CHECK_INT(uv_listen((uv_stream_t *)&t->listener, 8, on_connection), 0);
	int len = sizeof(addr);
	uv_tcp_getsockname(&t->listener, (struct sockaddr *)&addr, &len);

	t->sent = malloc(t->payload);
	t->received = malloc(t->payload);
	for (size_t i = 0; i < t->payload; i++)
		t->sent[i] = (uint8_t)(i * 7 + i / 251);
	const struct stream_callbacks cb = {.user = t,
					    .ready = client_ready,
					    .data = client_data,
					    .writable = client_writable,
					    .closed = client_closed};
	CHECK_INT(stream_connect(&t->loop, (struct sockaddr *)&addr, tls_host, &cb, &t->client), 0);
	if (queue_limit)
		stream_set_queue_limit(t->client, queue_limit);
	CHECK_INT(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
	CHECK_INT(uv_loop_close(&t->loop), 0);
}

static void free_test(struct test *t)
{
	free(t->sent);
	free(t->received);
}

static void test_plain(void)
{
	struct test t = {0};
	run(&t, NULL, 0);
	CHECK(t.client_ready);
	CHECK_INT(t.nreceived, t.payload);
	CHECK(memcmp(t.sent, t.received, t.payload) == 0);
	CHECK_INT(t.server_closed, 1);
	CHECK_INT(t.server_err, 0);
	free_test(&t);
}

static void test_queue_limit(void)
{
	/* 64 KiB of queue: the writer is told to wait and told when to go on. */
	struct test t = {.payload = 16u << 20, .pause_server = true};
	run(&t, NULL, 65536);
	CHECK_INT(t.nreceived, t.payload);
	CHECK(memcmp(t.sent, t.received, t.payload) == 0);
	CHECK(t.enobufs > 0);
	free_test(&t);
}

static void test_tls(const char *dir)
{
	char cert[512], key[512], err[256];
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);

	struct stream_tls_server *tls = NULL;
	CHECK_INT(stream_tls_server_load(cert, "/nonexistent/key.pem", &tls, err, sizeof(err)),
		  -ENOENT);
	CHECK(strstr(err, "/nonexistent/key.pem") != NULL);
	CHECK_INT(stream_tls_server_load(cert, key, &tls, err, sizeof(err)), 0);

	/* Not in the system store: refused, and the reason says why. */
	struct test t = {.tls = tls};
	run(&t, "localhost", 0);
	CHECK(!t.client_ready);
	CHECK_INT(t.client_err, -EPROTO);
	CHECK(strstr(t.client_reason, "certificate") != NULL);
	fprintf(stderr, "untrusted: %s\n", t.client_reason);
	free_test(&t);

	CHECK_INT(stream_client_add_ca_file(cert, err, sizeof(err)), 0);
	CHECK(stream_client_add_ca_file("/nonexistent.pem", err, sizeof(err)) < 0);

	/* Trusted now, but not for another name. */
	struct test w = {.tls = tls};
	run(&w, "relay.example", 0);
	CHECK(!w.client_ready);
	CHECK_INT(w.client_err, -EPROTO);
	fprintf(stderr, "wrong name: %s\n", w.client_reason);
	free_test(&w);

	struct test ok = {.tls = tls};
	run(&ok, "localhost", 0);
	CHECK(ok.client_ready);
	CHECK_INT(ok.nreceived, ok.payload);
	CHECK(memcmp(ok.sent, ok.received, ok.payload) == 0);
	CHECK_INT(ok.server_closed, 1);
	CHECK_INT(ok.server_err, 0); /* close_notify arrived */
	free_test(&ok);

	stream_tls_server_unref(tls);
}

int main(void)
{
	test_plain();
	test_queue_limit();

	char dir[] = "/tmp/iron-test-stream.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
		 "-subj /CN=localhost -addext subjectAltName=DNS:localhost "
		 "-keyout %s/key.pem -out %s/cert.pem >/dev/null 2>&1",
		 dir, dir);
	if (system(cmd) == 0)
		test_tls(dir);
	else
		CHECK(0 && "openssl could not make a certificate (scripts/install-deps --test "
			   "installs it)");
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return check_done();
}
