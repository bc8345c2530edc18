/* iron relay: runs the relay server (relay_server.h) with its control
 * socket, signals and systemd readiness; iron relay status asks a running
 * one. */
#define LOG_MODULE "relay"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/ctl.h"
#include "iron/id.h"
#include "iron/json.h"
#include "iron/netaddr.h"
#include "iron/relay_server.h"
#include "iron/service.h"
#include "iron/version.h"

#define MAX_ALLOW	  1024
#define MAX_TOKENS	  64
#define STATUS_TIMEOUT_MS 5000

struct relay_run {
	uv_loop_t loop;
	struct service service;
	struct relay_server *server;
	struct relay_server_config config;
	uint64_t started_ns;
	bool stopped;
};

static void relay_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: iron relay [OPTIONS]\n"
	    "       iron relay status [-f json]\n\n"
	    "Runs a relay server that iroh 1.x and iron nodes can use (iroh's relay\n"
	    "protocol over HTTP/1.1 and WebSocket, with challenge authentication),\n"
	    "answering /ping, /generate_204 and /healthz, and a STUN responder. Needs no\n"
	    "root unless a port below 1024 is asked for. 'iron relay status' shows the\n"
	    "running relay's clients, traffic and drops.\n\n"
	    "Options:\n"
	    "      --listen ADDR:PORT      plain HTTP (repeatable; default [::]:%d; none: off)\n"
	    "      --tls-listen ADDR:PORT  HTTPS (repeatable; default [::]:%d with a certificate)\n"
	    "      --tls-cert FILE         certificate chain (PEM); SIGHUP reloads it\n"
	    "      --tls-key FILE          its private key (PEM)\n"
	    "      --stun-listen ADDR:PORT STUN over UDP (repeatable; default [::]:%d; none: off)\n"
	    "      --allow ID              only this node may relay (repeatable; any ID form)\n"
	    "      --token TOKEN           require 'Authorization: Bearer TOKEN' (repeatable)\n"
	    "      --max-clients N         connections at once (default %d)\n"
	    "      --rate BYTES            bytes/s received per client (K, M, G: x1024; default\n"
	    "                              no limit)\n"
	    "      --burst BYTES           bytes a client may send at once (default max(rate, "
	    "128K))\n"
	    "      --queue-limit BYTES     bytes queued to one client before its datagrams are\n"
	    "                              dropped (default 256K)\n"
	    "      --handshake-timeout S   seconds to finish the request and authentication\n"
	    "                              (default %d)\n"
	    "  -f, --format FMT            status: text (default) or json\n"
	    "  -h, --help                  show this help\n\n"
	    "The control socket is --socket PATH, else <state>/relay.sock with --state-dir or\n"
	    "IRON_STATE_DIR, else /run/iron-relay/relay.sock (root) or\n"
	    "$XDG_RUNTIME_DIR/iron-relay.sock.\n",
	    RELAY_SERVER_DEFAULT_PORT, RELAY_SERVER_DEFAULT_TLS_PORT, RELAY_SERVER_DEFAULT_STUN,
	    RELAY_SERVER_DEFAULT_CLIENTS, RELAY_SERVER_DEFAULT_HANDSHAKE_MS / 1000);
}

/* The relay's control socket: --socket, else a relay.sock beside where
 * iron serve's would be (its own name, so both run on one host). */
static int relay_socket_path(const struct cli_globals *g, char *out, size_t cap)
{
	const char *state = g->state_dir;
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	int n;
	if (!state || !*state)
		state = getenv("IRON_STATE_DIR");
	if (g->socket_path && *g->socket_path)
		n = snprintf(out, cap, "%s", g->socket_path);
	else if (state && *state)
		n = snprintf(out, cap, "%s/relay.sock", state);
	else if (geteuid() == 0)
		n = snprintf(out, cap, "/run/iron-relay/relay.sock");
	else if (runtime && *runtime)
		n = snprintf(out, cap, "%s/iron-relay.sock", runtime);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= cap || (size_t)n > ctl_socket_path_max())
		return -ENAMETOOLONG;
	return 0;
}

/* "1000", "64K", "10M", "1G" (x1024). Returns 0 or -EINVAL. */
static int parse_bytes(const char *text, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	uint64_t mul = 1;
	if (errno || end == text || text[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	}
	if (*end || v > UINT32_MAX || v * mul > UINT32_MAX)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int parse_addr_option(const char *option, const char *value, struct netaddr *list, size_t *n,
			     bool *none)
{
	if (strcmp(value, "none") == 0) {
		*none = true;
		return 0;
	}
	if (*n == RELAY_SERVER_MAX_LISTEN)
		return cli_usage_error("relay", "%s: at most %d addresses", option,
				       RELAY_SERVER_MAX_LISTEN);
	if (netaddr_parse(value, &list[*n]) != 0)
		return cli_usage_error("relay", "%s '%s': expected IP:PORT or [IPv6]:PORT", option,
				       value);
	(*n)++;
	return 0;
}

/* ------------------------------------------------------------ status reply */

static void reply_addresses(struct ctl_reply *r, const char *key, const struct relay_server *s,
			    enum relay_server_kind kind)
{
	char text[NETADDR_STR_SIZE];
	const struct sockaddr *a;
	ctl_reply_begin_array(r, key);
	for (size_t i = 0; (a = relay_server_address(s, kind, i)); i++)
		ctl_reply_string(r, NULL, netaddr_format(a, text, sizeof(text)));
	ctl_reply_end_array(r);
}

static void on_control(void *user, const struct ctl_request *req, struct ctl_reply *r)
{
	struct relay_run *run = user;
	struct relay_server_stats st;

	if (!req->command || strcmp(req->command, "status") != 0) {
		ctl_reply_error(r, "unknown command (this is an iron relay: try \"status\")");
		return;
	}
	if (!run->server) {
		ctl_reply_error(r, "the relay is stopping");
		return;
	}
	relay_server_get_stats(run->server, &st);
	ctl_reply_string(r, "service", "relay");
	ctl_reply_string(r, "version", IRON_VERSION);
	ctl_reply_int(r, "pid", (int64_t)getpid());
	ctl_reply_double(r, "uptime_s", (double)(uv_hrtime() - run->started_ns) / 1e9);
	ctl_reply_begin_object(r, "listen");
	reply_addresses(r, "http", run->server, RELAY_SERVER_HTTP);
	reply_addresses(r, "https", run->server, RELAY_SERVER_HTTPS);
	reply_addresses(r, "stun", run->server, RELAY_SERVER_STUN);
	ctl_reply_end_object(r);
	ctl_reply_uint(r, "clients", st.clients);
	ctl_reply_uint(r, "nodes", st.nodes);
	ctl_reply_uint(r, "connections", st.connections);
	ctl_reply_uint(r, "peak_clients", st.peak_clients);
	ctl_reply_uint(r, "memory_bytes", st.memory);
	ctl_reply_begin_object(r, "limits");
	ctl_reply_uint(r, "max_clients",
		       run->config.max_clients ? run->config.max_clients
					       : RELAY_SERVER_DEFAULT_CLIENTS);
	ctl_reply_uint(r, "rate", run->config.rate);
	ctl_reply_uint(r, "queue_limit",
		       run->config.queue_limit ? run->config.queue_limit
					       : RELAY_SERVER_DEFAULT_QUEUE);
	ctl_reply_bool(r, "allow_list", run->config.nallow > 0);
	ctl_reply_bool(r, "tokens", run->config.ntokens > 0);
	ctl_reply_end_object(r);
	ctl_reply_uint(r, "bytes_in", st.bytes_in);
	ctl_reply_uint(r, "bytes_out", st.bytes_out);
	ctl_reply_begin_object(r, "datagrams");
	ctl_reply_uint(r, "received", st.datagrams_in);
	ctl_reply_uint(r, "relayed", st.datagrams_relayed);
	ctl_reply_begin_object(r, "dropped");
	ctl_reply_uint(r, "no_destination", st.dropped_no_destination);
	ctl_reply_uint(r, "queue_full", st.dropped_queue_full);
	ctl_reply_end_object(r);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "auth");
	ctl_reply_uint(r, "ok", st.auth_ok);
	ctl_reply_uint(r, "bad_signature", st.auth_bad_signature);
	ctl_reply_uint(r, "denied", st.auth_denied);
	ctl_reply_uint(r, "bad_token", st.auth_bad_token);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "http");
	ctl_reply_uint(r, "accepted", st.accepted);
	ctl_reply_uint(r, "requests", st.http_requests);
	ctl_reply_uint(r, "bad_requests", st.http_bad);
	ctl_reply_uint(r, "upgrades", st.upgrades);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "closed");
	ctl_reply_uint(r, "max_clients", st.refused_full);
	ctl_reply_uint(r, "handshake_timeout", st.closed_handshake_timeout);
	ctl_reply_uint(r, "pong_timeout", st.closed_pong_timeout);
	ctl_reply_uint(r, "write_stall", st.closed_write_stall);
	ctl_reply_uint(r, "protocol_error", st.closed_protocol_error);
	ctl_reply_end_object(r);
	ctl_reply_uint(r, "replaced", st.replaced);
	ctl_reply_uint(r, "endpoint_gone_sent", st.endpoint_gone_sent);
	ctl_reply_uint(r, "pings_sent", st.pings_sent);
	ctl_reply_uint(r, "pongs_received", st.pongs_received);
	ctl_reply_uint(r, "rate_limited", st.rate_limited);
	ctl_reply_begin_object(r, "stun");
	ctl_reply_uint(r, "requests", st.stun_requests);
	ctl_reply_uint(r, "responses", st.stun_responses);
	ctl_reply_uint(r, "bad", st.stun_bad);
	ctl_reply_uint(r, "dropped", st.stun_dropped);
	ctl_reply_end_object(r);
	ctl_reply_uint(r, "tls_reloads", st.tls_reloads);
}

/* ------------------------------------------------------------ running */

static void on_stop(void *user, const char *why)
{
	struct relay_run *run = user;
	if (run->stopped)
		return;
	run->stopped = true;
	log_info("%s: stopping", why);
	relay_server_close(run->server);
	run->server = NULL;
	service_stop(&run->service);
}

static void on_reload(void *user)
{
	struct relay_run *run = user;
	char err[256] = "";
	if (!run->server)
		return;
	int rc = relay_server_reload_tls(run->server, err, sizeof(err));
	if (rc == -ENOENT)
		log_info("SIGHUP: no TLS certificate to reload");
	else if (rc < 0)
		log_warn("SIGHUP: %s; keeping the old certificate", err);
	else
		log_info("SIGHUP: reloaded %s", run->config.tls_cert);
}

/* Enough descriptors for max_clients connections: the soft limit is
 * raised toward the hard one (1024 is a common soft default). */
static void raise_fd_limit(size_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warn("only %llu file descriptors: fewer than --max-clients connections fit",
			 (unsigned long long)rl.rlim_cur);
}

static void join_addresses(const struct relay_server *s, enum relay_server_kind kind, char *out,
			   size_t cap)
{
	const struct sockaddr *a;
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; (a = relay_server_address(s, kind, i)); i++) {
		char text[NETADDR_STR_SIZE];
		int w = snprintf(out + n, cap - n, "%s%s", i ? "," : "",
				 netaddr_format(a, text, sizeof(text)));
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
	if (n == 0)
		snprintf(out, cap, "none");
}

static int run_relay(const struct cli_globals *globals, struct relay_run *run)
{
	char path[PATH_MAX], err[512] = "", http[512], https[512], stun[512];
	int rc, exit_code = CLI_FAIL;
	bool have_socket;

	rc = uv_loop_init(&run->loop);
	if (rc < 0) {
		cli_error("relay: cannot create the event loop: %s", uv_strerror(rc));
		return CLI_FAIL;
	}
	raise_fd_limit(
	    (run->config.max_clients ? run->config.max_clients : RELAY_SERVER_DEFAULT_CLIENTS) +
	    64);
	rc = relay_socket_path(globals, path, sizeof(path));
	have_socket = rc == 0;
	if (rc == -ENOENT) {
		log_warn("no control socket ('iron relay status' will not work): not root and "
			 "XDG_RUNTIME_DIR is not set; pass --socket PATH");
	} else if (rc < 0) {
		cli_error("relay: the control socket path is too long for a Unix socket");
		cli_hint("use a shorter --socket PATH");
		goto out;
	} else {
		rc = service_open_control(&run->service, &run->loop, path, NULL, on_control, run);
		if (rc < 0) {
			if (rc == -EADDRINUSE)
				cli_error("relay: another iron relay answers on %s", path);
			else
				cli_error("relay: cannot create the control socket %s: %s", path,
					  service_control_error(rc, NULL));
			if (rc == -EADDRINUSE)
				cli_hint("stop it, or give this one its own --socket PATH");
			goto out;
		}
	}
	run->service.loop = &run->loop;
	rc = relay_server_start(&run->loop, &run->config, &run->server, err, sizeof(err));
	if (rc < 0) {
		cli_error("relay: %s", err);
		if (rc == -EACCES || rc == UV_EACCES)
			cli_hint("ports below 1024 need root or CAP_NET_BIND_SERVICE");
		else if (rc == UV_EADDRINUSE || rc == -EADDRINUSE)
			cli_hint("another program uses that port; choose another with --listen");
		goto out;
	}
	const struct service_callbacks scb = {.user = run, .stop = on_stop, .reload = on_reload};
	rc = service_watch_signals(&run->service, &scb);
	if (rc < 0) {
		cli_error("relay: cannot watch signals: %s", uv_strerror(rc));
		goto out;
	}
	run->started_ns = uv_hrtime();
	join_addresses(run->server, RELAY_SERVER_HTTP, http, sizeof(http));
	join_addresses(run->server, RELAY_SERVER_HTTPS, https, sizeof(https));
	join_addresses(run->server, RELAY_SERVER_STUN, stun, sizeof(stun));
	/* One line a script can wait for (also when logging is off). */
	fprintf(stderr, "iron relay ready: http %s https %s stun %s control %s\n", http, https,
		stun, have_socket ? path : "none");
	fflush(stderr);
	service_ready(&run->service);
	uv_run(&run->loop, UV_RUN_DEFAULT);
	log_info("stopped");
	exit_code = CLI_OK;
out:
	if (exit_code != CLI_OK) {
		relay_server_close(run->server);
		run->server = NULL;
		service_stop(&run->service);
		uv_run(&run->loop, UV_RUN_DEFAULT);
	}
	if (uv_loop_close(&run->loop) != 0)
		log_debug("loop closed with handles left");
	return exit_code;
}

/* ------------------------------------------------------------ status */

static uint64_t field(const struct json_value *v, const char *a, const char *b, const char *c)
{
	v = json_get(v, a);
	if (b)
		v = json_get(v, b);
	if (c)
		v = json_get(v, c);
	return json_uint(v, 0);
}

static void print_list(const char *label, const struct json_value *array)
{
	char text[512], item[NETADDR_STR_SIZE + 8];
	size_t n = 0;
	text[0] = '\0';
	for (const struct json_value *v = json_first(array); v; v = json_next(v)) {
		cli_printable(json_string(v, "?"), item, sizeof(item));
		int w = snprintf(text + n, sizeof(text) - n, "%s%s", n ? ", " : "", item);
		if (w < 0 || (size_t)w >= sizeof(text) - n)
			break;
		n += (size_t)w;
	}
	cli_print_field(stdout, label, n ? text : "none");
}

static void print_status(const struct json_value *root)
{
	char text[256], v[64];
	const struct json_value *listen = json_get(root, "listen");

	cli_printable(json_string(json_get(root, "version"), "?"), v, sizeof(v));
	snprintf(text, sizeof(text), "iron %s, pid %" PRId64 ", up %.0f s", v,
		 json_int(json_get(root, "pid"), 0), json_number(json_get(root, "uptime_s"), 0));
	cli_print_field(stdout, "relay", text);
	print_list("http", json_get(listen, "http"));
	print_list("https", json_get(listen, "https"));
	print_list("stun", json_get(listen, "stun"));
	snprintf(text, sizeof(text),
		 "%" PRIu64 " authenticated (%" PRIu64 " nodes), %" PRIu64
		 " connections, peak %" PRIu64 ", max %" PRIu64,
		 field(root, "clients", NULL, NULL), field(root, "nodes", NULL, NULL),
		 field(root, "connections", NULL, NULL), field(root, "peak_clients", NULL, NULL),
		 field(root, "limits", "max_clients", NULL));
	cli_print_field(stdout, "clients", text);
	snprintf(text, sizeof(text), "%" PRIu64 " in, %" PRIu64 " out",
		 field(root, "bytes_in", NULL, NULL), field(root, "bytes_out", NULL, NULL));
	cli_print_field(stdout, "bytes", text);
	snprintf(text, sizeof(text),
		 "%" PRIu64 " received, %" PRIu64 " relayed, dropped %" PRIu64
		 " (no destination) %" PRIu64 " (queue full)",
		 field(root, "datagrams", "received", NULL),
		 field(root, "datagrams", "relayed", NULL),
		 field(root, "datagrams", "dropped", "no_destination"),
		 field(root, "datagrams", "dropped", "queue_full"));
	cli_print_field(stdout, "datagrams", text);
	snprintf(text, sizeof(text),
		 "%" PRIu64 " ok, %" PRIu64 " bad signature, %" PRIu64 " denied, %" PRIu64
		 " bad token",
		 field(root, "auth", "ok", NULL), field(root, "auth", "bad_signature", NULL),
		 field(root, "auth", "denied", NULL), field(root, "auth", "bad_token", NULL));
	cli_print_field(stdout, "auth", text);
	snprintf(text, sizeof(text),
		 "%" PRIu64 " full, %" PRIu64 " handshake timeout, %" PRIu64 " no pong, %" PRIu64
		 " not reading, %" PRIu64 " protocol error",
		 field(root, "closed", "max_clients", NULL),
		 field(root, "closed", "handshake_timeout", NULL),
		 field(root, "closed", "pong_timeout", NULL),
		 field(root, "closed", "write_stall", NULL),
		 field(root, "closed", "protocol_error", NULL));
	cli_print_field(stdout, "closed", text);
	snprintf(text, sizeof(text), "%" PRIu64 " requests, %" PRIu64 " responses",
		 field(root, "stun", "requests", NULL), field(root, "stun", "responses", NULL));
	cli_print_field(stdout, "stun", text);
	snprintf(text, sizeof(text), "%.1f MiB",
		 (double)field(root, "memory_bytes", NULL, NULL) / (1024.0 * 1024.0));
	cli_print_field(stdout, "memory", text);
}

static int relay_status(const struct cli_globals *globals, bool json)
{
	char path[PATH_MAX], message[PATH_MAX + 256] = "", *text = NULL;
	struct json_doc *doc = NULL;
	const char *why = NULL;
	size_t where = 0;
	int rc = CLI_FAIL;

	int err = relay_socket_path(globals, path, sizeof(path));
	if (err == -ENOENT) {
		snprintf(message, sizeof(message),
			 "cannot tell where the relay's socket is: not root and XDG_RUNTIME_DIR "
			 "is not set");
		goto out;
	} else if (err < 0) {
		snprintf(message, sizeof(message), "the control socket path is too long");
		goto out;
	}
	err = ctl_call(path, "{\"cmd\":\"status\"}", &text, STATUS_TIMEOUT_MS);
	if (err < 0) {
		ctl_describe_error(err, path, message, sizeof(message));
		goto out;
	}
	err = json_parse(text, strlen(text), &doc, &why, &where);
	if (err < 0) {
		snprintf(message, sizeof(message), "the relay's reply is not valid JSON (%s)",
			 why ? why : strerror(-err));
		goto out;
	}
	const struct json_value *root = json_root(doc);
	if (!json_bool(json_get(root, "ok"), false)) {
		char reason[256];
		cli_printable(json_string(json_get(root, "error"), "no reason given"), reason,
			      sizeof(reason));
		snprintf(message, sizeof(message), "the daemon answered: %s", reason);
		goto out;
	}
	const char *service = json_string(json_get(root, "service"), "");
	if (strcmp(service, "relay") != 0) {
		snprintf(message, sizeof(message), "%s is not an iron relay's socket", path);
		goto out;
	}
	if (json)
		printf("%s\n", text);
	else
		print_status(root);
	rc = CLI_OK;
out:
	if (rc != CLI_OK) {
		cli_error("relay status: %s", message);
		if (json) {
			printf("{\"ok\":false,\"error\":");
			cli_json_string(stdout, message);
			printf("}\n");
		}
	}
	json_free(doc);
	free(text);
	return rc;
}

/* ------------------------------------------------------------ options */

int cmd_relay(const struct cli_globals *globals, int argc, char **argv)
{
	static const struct option options[] = {
	    {"listen", required_argument, NULL, 'L'},
	    {"tls-listen", required_argument, NULL, 'T'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'k'},
	    {"stun-listen", required_argument, NULL, 'S'},
	    {"allow", required_argument, NULL, 'A'},
	    {"token", required_argument, NULL, 't'},
	    {"max-clients", required_argument, NULL, 'M'},
	    {"rate", required_argument, NULL, 'R'},
	    {"burst", required_argument, NULL, 'B'},
	    {"queue-limit", required_argument, NULL, 'Q'},
	    {"handshake-timeout", required_argument, NULL, 'H'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct relay_run *run = calloc(1, sizeof(*run));
	uint8_t(*allow)[32] = calloc(MAX_ALLOW, 32);
	const char *tokens[MAX_TOKENS];
	bool status = false, json = false, format_given = false;
	bool no_http = false, no_stun = false, no_tls = false;
	int c, rc = CLI_USAGE;

	if (!run || !allow) {
		cli_error("relay: out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	struct relay_server_config *cfg = &run->config;
	if (argc > 1 && strcmp(argv[1], "status") == 0) {
		status = true;
		argv++;
		argc--;
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", options, NULL)) != -1) {
		uint64_t v;
		char *end;
		if (status && c != 'f' && c != 'h' && c != '?' && c != ':') {
			rc = cli_usage_error("relay", "status takes only -f/--format");
			goto out;
		}
		switch (c) {
		case 'L':
			if ((rc = parse_addr_option("--listen", optarg, cfg->listen, &cfg->nlisten,
						    &no_http)) != 0)
				goto out;
			break;
		case 'T':
			if ((rc = parse_addr_option("--tls-listen", optarg, cfg->tls_listen,
						    &cfg->ntls_listen, &no_tls)) != 0)
				goto out;
			break;
		case 'S':
			if ((rc = parse_addr_option("--stun-listen", optarg, cfg->stun_listen,
						    &cfg->nstun_listen, &no_stun)) != 0)
				goto out;
			break;
		case 'c':
			cfg->tls_cert = optarg;
			break;
		case 'k':
			cfg->tls_key = optarg;
			break;
		case 'A': {
			struct iron_id id;
			if (cfg->nallow == MAX_ALLOW) {
				rc = cli_usage_error("relay", "--allow: at most %d IDs", MAX_ALLOW);
				goto out;
			}
			if (id_parse(optarg, &id, NULL) != 0) {
				rc =
				    cli_usage_error("relay", "--allow '%s': not a node ID", optarg);
				goto out;
			}
			memcpy(allow[cfg->nallow++], id.bytes, 32);
			break;
		}
		case 't':
			if (cfg->ntokens == MAX_TOKENS) {
				rc = cli_usage_error("relay", "--token: at most %d tokens",
						     MAX_TOKENS);
				goto out;
			}
			if (!*optarg || strpbrk(optarg, " \t\r\n")) {
				rc = cli_usage_error("relay", "--token: expected a token without "
							      "spaces");
				goto out;
			}
			tokens[cfg->ntokens++] = optarg;
			break;
		case 'M': {
			errno = 0;
			unsigned long n = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || n < 1 || n > 1000000) {
				rc = cli_usage_error("relay",
						     "--max-clients '%s': expected a number "
						     "from 1 to 1000000",
						     optarg);
				goto out;
			}
			cfg->max_clients = n;
			break;
		}
		case 'R':
		case 'B':
		case 'Q':
			if (parse_bytes(optarg, &v) != 0 || v == 0) {
				rc = cli_usage_error("relay",
						     "--%s '%s': expected a number of bytes "
						     "(1 to 4G, K/M/G suffixes)",
						     c == 'R'	? "rate"
						     : c == 'B' ? "burst"
								: "queue-limit",
						     optarg);
				goto out;
			}
			if (c == 'R')
				cfg->rate = v;
			else if (c == 'B')
				cfg->burst = v;
			else
				cfg->queue_limit = v;
			break;
		case 'H': {
			errno = 0;
			double s = strtod(optarg, &end);
			if (errno || *end || !(s >= 0.1 && s <= 3600)) {
				rc = cli_usage_error("relay",
						     "--handshake-timeout '%s': expected "
						     "seconds from 0.1 to 3600",
						     optarg);
				goto out;
			}
			cfg->handshake_timeout_ms = (unsigned)lround(s * 1000);
			break;
		}
		case 'f':
			if (cli_parse_format("relay", optarg, &json) != 0)
				goto out;
			format_given = true;
			break;
		case 'h':
			relay_usage(stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_option_error("relay", c, argv);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error("relay", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (status) {
		rc = relay_status(globals, json);
		goto out;
	}
	if (format_given) {
		rc = cli_usage_error("relay", "-f/--format is for 'iron relay status'");
		goto out;
	}
	if ((no_http && cfg->nlisten) || (no_stun && cfg->nstun_listen) ||
	    (no_tls && cfg->ntls_listen)) {
		rc = cli_usage_error("relay", "'none' and an address given for the same option");
		goto out;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		rc = cli_usage_error("relay", "--tls-cert and --tls-key go together");
		goto out;
	}
	if (cfg->ntls_listen && !cfg->tls_cert) {
		rc = cli_usage_error("relay", "--tls-listen needs --tls-cert and --tls-key");
		goto out;
	}
	if (cfg->tls_cert && !no_tls && cfg->ntls_listen == 0) {
		netaddr_parse("[::]:443", &cfg->tls_listen[0]);
		cfg->ntls_listen = 1;
	}
	if (!no_http && cfg->nlisten == 0) {
		netaddr_parse("[::]:3340", &cfg->listen[0]);
		cfg->nlisten = 1;
	}
	if (!no_stun && cfg->nstun_listen == 0) {
		netaddr_parse("[::]:3478", &cfg->stun_listen[0]);
		cfg->nstun_listen = 1;
	}
	if (cfg->nlisten == 0 && cfg->ntls_listen == 0) {
		rc = cli_usage_error("relay", "nothing to listen on (--listen none without TLS)");
		goto out;
	}
	cfg->allow = (const uint8_t(*)[32])allow;
	cfg->tokens = tokens;
	/* Tests shorten the keep-alive and the patience with a client that
	 * does not read (IRON_RELAY_PING_MS, _PONG_MS, _STALL_MS); read here,
	 * as the environment is nowhere below the command layer. */
	const char *env = getenv("IRON_RELAY_PING_MS");
	if (env && atoi(env) > 0)
		cfg->ping_ms = (unsigned)atoi(env);
	env = getenv("IRON_RELAY_PONG_MS");
	if (env && atoi(env) > 0)
		cfg->pong_ms = (unsigned)atoi(env);
	env = getenv("IRON_RELAY_STALL_MS");
	if (env && atoi(env) > 0)
		cfg->write_stall_ms = (unsigned)atoi(env);
	rc = run_relay(globals, run);
out:
	free(allow);
	free(run);
	return rc;
}
