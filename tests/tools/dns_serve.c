/* A stand-alone DNS responder for tests and measurements (the daemon's
 * responder without the daemon): runs dns_server until SIGINT or SIGTERM.
 *
 *   dns_serve [--port N] [--listen ADDR]... [--upstream ADDR:PORT]...
 *             [--upstream-timeout-ms N]
 *
 * Prints "port N" on stdout once it listens (N is the port picked when
 * --port is 0 or absent), and the counters on stderr at exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "iron/dns_server.h"
#include "iron/log.h"

struct app {
	struct dns_server *server;
	uv_signal_t sigint, sigterm;
};

static void on_signal(uv_signal_t *handle, int signum)
{
	struct app *app = handle->data;
	struct dns_server_stats st;
	(void)signum;
	dns_server_stats(app->server, &st);
	fprintf(stderr,
		"dns_serve: %llu queries, %llu NOERROR, %llu NXDOMAIN, %llu REFUSED, "
		"%llu SERVFAIL, %llu FORMERR, %llu dropped, %llu forwarded\n",
		(unsigned long long)st.queries, (unsigned long long)st.answers[0],
		(unsigned long long)st.answers[3], (unsigned long long)st.answers[5],
		(unsigned long long)st.answers[2], (unsigned long long)st.answers[1],
		(unsigned long long)st.dropped, (unsigned long long)st.forwarded);
	dns_server_close(app->server, NULL, NULL);
	uv_close((uv_handle_t *)&app->sigint, NULL);
	uv_close((uv_handle_t *)&app->sigterm, NULL);
}

static int parse_upstream(const char *text, struct netaddr *out)
{
	return netaddr_parse(text, out) == 0 && netaddr_port(&out->sa) != 0 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	const char *listen[DNS_SERVER_LISTEN_MAX];
	struct netaddr upstreams[DNS_SERVER_UPSTREAM_MAX];
	struct dns_server_config config = {.listen = listen, .upstreams = upstreams};
	struct app app;
	uv_loop_t *loop = uv_default_loop();
	int err;

	if (sodium_init() < 0)
		return 1;
	log_configure(LOG_WARN, getenv("IRON_LOG"));
	for (int i = 1; i < argc; i += 2) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		if (!value)
			goto usage;
		if (strcmp(argv[i], "--port") == 0) {
			config.port = (uint16_t)atoi(value);
		} else if (strcmp(argv[i], "--listen") == 0 &&
			   config.n_listen < DNS_SERVER_LISTEN_MAX) {
			listen[config.n_listen++] = value;
		} else if (strcmp(argv[i], "--upstream") == 0 &&
			   config.n_upstreams < DNS_SERVER_UPSTREAM_MAX) {
			memset(&upstreams[config.n_upstreams], 0, sizeof(upstreams[0]));
			if (parse_upstream(value, &upstreams[config.n_upstreams++]) != 0)
				goto usage;
		} else if (strcmp(argv[i], "--upstream-timeout-ms") == 0) {
			config.upstream_timeout_ms = (unsigned)atoi(value);
		} else {
			goto usage;
		}
	}
	config.loop = loop;
	err = dns_server_new(&config, &app.server);
	if (err < 0) {
		fprintf(stderr, "dns_serve: %s\n", strerror(-err));
		return 1;
	}
	printf("port %u\n", dns_server_port(app.server));
	fflush(stdout);
	uv_signal_init(loop, &app.sigint);
	uv_signal_init(loop, &app.sigterm);
	app.sigint.data = app.sigterm.data = &app;
	uv_signal_start_oneshot(&app.sigint, on_signal, SIGINT);
	uv_signal_start_oneshot(&app.sigterm, on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	return 0;
usage:
	fprintf(stderr, "usage: dns_serve [--port N] [--listen ADDR]... [--upstream ADDR:PORT]... "
			"[--upstream-timeout-ms N]\n");
	return 2;
}
