/* iron dns-server: runs the pkarr relay and DNS server (pkarr_server.h)
 * with its control socket, signals and systemd readiness; iron dns-server
 * status asks a running one. */
#define LOG_MODULE "dns-server"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/ctl.h"
#include "iron/identity.h"
#include "iron/json.h"
#include "iron/netaddr.h"
#include "iron/pkarr_server.h"
#include "iron/service.h"
#include "iron/version.h"

#define STATUS_TIMEOUT_MS 5000
#define DEFAULT_ORIGIN	  "dns.iroh.link" /* iroh's N0 preset, and iron's --dns-origin */
#define ROOT_DB		  "/var/lib/iron/dns-server.db"
#define DB_NAME		  "dns-server.db"

struct dns_run {
	uv_loop_t loop;
	struct service service;
	struct pkarr_server *server;
	struct pkarr_server_config config;
	char db[PATH_MAX];
	const char *origins[PKARR_ZONE_MAX_ORIGINS];
	size_t norigins;
	uint64_t started_ns;
	bool stopped;
};

static void dns_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: iron dns-server [OPTIONS]\n"
	    "       iron dns-server status [-f json]\n\n"
	    "Runs what iroh-dns-server runs, for self-hosting: a pkarr relay (nodes PUT\n"
	    "their signed address records to /pkarr/<z32 ID>, and GET them) and an\n"
	    "authoritative DNS server answering TXT _iroh.<z32 ID>.<origin> from those\n"
	    "records, so that iroh and iron nodes find each other by ID alone. Records are\n"
	    "kept in an SQLite database. 'iron dns-server status' shows the running one.\n\n"
	    "Options:\n"
	    "      --listen ADDR:PORT      pkarr relay over HTTP (repeatable; default [::]:%d;\n"
	    "                              none: off)\n"
	    "      --tls-listen ADDR:PORT  over HTTPS (repeatable; default [::]:%d with a\n"
	    "                              certificate)\n"
	    "      --tls-cert FILE         certificate chain (PEM); SIGHUP reloads it\n"
	    "      --tls-key FILE          its private key (PEM)\n"
	    "      --dns-listen ADDR:PORT  DNS over UDP and TCP (repeatable; default [::]:%d;\n"
	    "                              none: off)\n"
	    "      --origin NAME           the zone served (repeatable; default %s)\n"
	    "      --ns NAME               a name server of the zone, for its NS and SOA records\n"
	    "                              (repeatable; default ns1.<origin>)\n"
	    "      --soa-rname NAME        the SOA's mailbox (default hostmaster.<origin>)\n"
	    "      --db PATH               the database (default <state>/%s with --state-dir\n"
	    "                              or IRON_STATE_DIR, else %s as root,\n"
	    "                              else ~/.config/iron/%s)\n"
	    "      --max-records N         records kept at most; the oldest go (default %d)\n"
	    "      --max-age TIME          records not republished within it go (s, m, h, d;\n"
	    "                              default 7d)\n"
	    "      --cache BYTES           records cached in memory (K, M, G; default 32M)\n"
	    "      --put-rate N            PUTs a minute per client address, IPv6 by /64\n"
	    "                              (default %d; 0: no limit)\n"
	    "      --put-burst N           PUTs at once (default %d)\n"
	    "      --query-rate N          DNS queries and GETs a second per client address\n"
	    "                              (default %d; 0: no limit)\n"
	    "      --query-burst N         queries at once (default %d)\n"
	    "      --max-connections N     HTTP and DNS-over-TCP connections (default %d)\n"
	    "      --timeout S             seconds for a request, and for an idle connection\n"
	    "                              (default %d)\n"
	    "  -f, --format FMT            status: text (default) or json\n"
	    "  -h, --help                  show this help\n\n"
	    "The control socket is --socket PATH, else <state>/dns-server.sock with --state-dir\n"
	    "or IRON_STATE_DIR, else /run/iron-dns-server/dns-server.sock (root) or\n"
	    "$XDG_RUNTIME_DIR/iron-dns-server.sock.\n",
	    PKARR_SERVER_DEFAULT_HTTP_PORT, PKARR_SERVER_DEFAULT_HTTPS_PORT,
	    PKARR_SERVER_DEFAULT_DNS_PORT, DEFAULT_ORIGIN, DB_NAME, ROOT_DB, DB_NAME,
	    PKARR_STORE_DEFAULT_MAX_RECORDS, PKARR_SERVER_DEFAULT_PUT_RATE,
	    PKARR_SERVER_DEFAULT_PUT_BURST, PKARR_SERVER_DEFAULT_QUERY_RATE,
	    PKARR_SERVER_DEFAULT_QUERY_BURST, PKARR_SERVER_DEFAULT_CONNECTIONS,
	    PKARR_SERVER_DEFAULT_TIMEOUT_MS / 1000);
}

static const char *explicit_state_dir(const struct cli_globals *g)
{
	if (g->state_dir && *g->state_dir)
		return g->state_dir;
	const char *env = getenv("IRON_STATE_DIR");
	return env && *env ? env : NULL;
}

/* The control socket: --socket, else a dns-server.sock beside where iron
 * serve's would be (its own name, so that both run on one host). */
static int dns_socket_path(const struct cli_globals *g, char *out, size_t cap)
{
	const char *state = explicit_state_dir(g);
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	int n;
	if (g->socket_path && *g->socket_path)
		n = snprintf(out, cap, "%s", g->socket_path);
	else if (state)
		n = snprintf(out, cap, "%s/dns-server.sock", state);
	else if (geteuid() == 0)
		n = snprintf(out, cap, "/run/iron-dns-server/dns-server.sock");
	else if (runtime && *runtime)
		n = snprintf(out, cap, "%s/iron-dns-server.sock", runtime);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= cap || (size_t)n > ctl_socket_path_max())
		return -ENAMETOOLONG;
	return 0;
}

/* The database: --db, else in the state directory given, else root's
 * /var/lib/iron, else the user's state directory. */
static int dns_db_path(const struct cli_globals *g, const char *flag, char *out, size_t cap)
{
	const char *state = explicit_state_dir(g);
	char dir[PATH_MAX];
	int n;
	if (flag)
		n = snprintf(out, cap, "%s", flag);
	else if (state)
		n = snprintf(out, cap, "%s/%s", state, DB_NAME);
	else if (geteuid() == 0)
		n = snprintf(out, cap, "%s", ROOT_DB);
	else if (identity_state_dir(NULL, dir, sizeof(dir), NULL) == 0)
		n = snprintf(out, cap, "%s/%s", dir, DB_NAME);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* mkdir -p of the database's directory (mode 0700 for what is created). */
static int make_parent(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	char *slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -errno;
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
	if (*end || v > UINT32_MAX || v * mul > ((uint64_t)1 << 40))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* "90", "90s", "15m", "12h", "7d". Returns 0 or -EINVAL. */
static int parse_duration(const char *text, uint64_t *seconds)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	uint64_t mul = 1;
	if (errno || end == text || text[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 's':
		end++;
		break;
	case 'm':
		mul = 60;
		end++;
		break;
	case 'h':
		mul = 3600;
		end++;
		break;
	case 'd':
		mul = 86400;
		end++;
		break;
	}
	if (*end || v == 0 || v > 100000000ull || v * mul > 10ull * 365 * 86400)
		return -EINVAL;
	*seconds = v * mul;
	return 0;
}

/* A number from min to max. Returns 0 or -EINVAL. */
static int parse_number(const char *text, unsigned long long min, unsigned long long max,
			unsigned long long *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_addr_option(const char *option, const char *value, struct netaddr *list, size_t *n,
			     bool *none)
{
	if (strcmp(value, "none") == 0) {
		*none = true;
		return 0;
	}
	if (*n == PKARR_SERVER_MAX_LISTEN)
		return cli_usage_error("dns-server", "%s: at most %d addresses", option,
				       PKARR_SERVER_MAX_LISTEN);
	if (netaddr_parse(value, &list[*n]) != 0)
		return cli_usage_error("dns-server", "%s '%s': expected IP:PORT or [IPv6]:PORT",
				       option, value);
	(*n)++;
	return 0;
}

/* ------------------------------------------------------------ status reply */

static void reply_addresses(struct ctl_reply *r, const char *key, const struct pkarr_server *s,
			    enum pkarr_server_kind kind)
{
	char text[NETADDR_STR_SIZE];
	const struct sockaddr *a;
	ctl_reply_begin_array(r, key);
	for (size_t i = 0; (a = pkarr_server_address(s, kind, i)); i++)
		ctl_reply_string(r, NULL, netaddr_format(a, text, sizeof(text)));
	ctl_reply_end_array(r);
}

static void on_control(void *user, const struct ctl_request *req, struct ctl_reply *r)
{
	struct dns_run *run = user;
	struct pkarr_server_stats st;
	const struct pkarr_server_config *cfg = &run->config;

	if (!req->command || strcmp(req->command, "status") != 0) {
		ctl_reply_error(r, "unknown command (this is an iron dns-server: try \"status\")");
		return;
	}
	if (!run->server) {
		ctl_reply_error(r, "the dns-server is stopping");
		return;
	}
	pkarr_server_get_stats(run->server, &st);
	ctl_reply_string(r, "service", "dns-server");
	ctl_reply_string(r, "version", IRON_VERSION);
	ctl_reply_int(r, "pid", (int64_t)getpid());
	ctl_reply_double(r, "uptime_s", (double)(uv_hrtime() - run->started_ns) / 1e9);
	ctl_reply_begin_object(r, "listen");
	reply_addresses(r, "http", run->server, PKARR_SERVER_HTTP);
	reply_addresses(r, "https", run->server, PKARR_SERVER_HTTPS);
	reply_addresses(r, "dns", run->server, PKARR_SERVER_DNS);
	ctl_reply_end_object(r);
	ctl_reply_begin_array(r, "origins");
	for (size_t i = 0; i < run->norigins; i++)
		ctl_reply_string(r, NULL, run->origins[i]);
	ctl_reply_end_array(r);
	ctl_reply_string(r, "db", run->db);
	ctl_reply_uint(r, "records", st.store.records);
	ctl_reply_uint(r, "connections", st.connections);
	ctl_reply_uint(r, "peak_connections", st.peak_connections);
	ctl_reply_uint(r, "memory_bytes", st.memory);
	ctl_reply_begin_object(r, "limits");
	ctl_reply_uint(r, "max_records", cfg->store.max_records);
	ctl_reply_uint(r, "max_age_s", cfg->store.max_age_s);
	ctl_reply_uint(r, "cache_bytes", cfg->store.cache_bytes);
	ctl_reply_uint(r, "put_rate_per_min", cfg->put_rate);
	ctl_reply_uint(r, "put_burst", cfg->put_burst);
	ctl_reply_uint(r, "query_rate_per_s", cfg->query_rate);
	ctl_reply_uint(r, "query_burst", cfg->query_burst);
	ctl_reply_uint(r, "max_connections", cfg->max_connections);
	ctl_reply_uint(r, "timeout_ms", cfg->timeout_ms);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "http");
	ctl_reply_uint(r, "accepted", st.accepted);
	ctl_reply_uint(r, "refused_full", st.refused_full);
	ctl_reply_uint(r, "closed_timeout", st.closed_timeout);
	ctl_reply_uint(r, "requests", st.http_requests);
	ctl_reply_uint(r, "bad_requests", st.http_bad);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "puts");
	ctl_reply_uint(r, "stored", st.puts_stored);
	ctl_reply_uint(r, "not_newer", st.puts_not_newer);
	ctl_reply_uint(r, "bad_key", st.puts_bad_key);
	ctl_reply_uint(r, "bad_signature", st.puts_bad_signature);
	ctl_reply_uint(r, "bad_size", st.puts_bad_size);
	ctl_reply_uint(r, "bad_packet", st.puts_bad_packet);
	ctl_reply_uint(r, "rate_limited", st.puts_rate_limited);
	ctl_reply_uint(r, "busy", st.puts_busy);
	ctl_reply_uint(r, "failed", st.puts_failed);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "gets");
	ctl_reply_uint(r, "found", st.gets_found);
	ctl_reply_uint(r, "missing", st.gets_missing);
	ctl_reply_uint(r, "rate_limited", st.gets_rate_limited);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "dns");
	ctl_reply_uint(r, "udp", st.dns_udp);
	ctl_reply_uint(r, "tcp", st.dns_tcp);
	ctl_reply_uint(r, "noerror", st.dns_answers[0]);
	ctl_reply_uint(r, "nodata", st.dns_nodata);
	ctl_reply_uint(r, "formerr", st.dns_answers[1]);
	ctl_reply_uint(r, "servfail", st.dns_answers[2]);
	ctl_reply_uint(r, "nxdomain", st.dns_answers[3]);
	ctl_reply_uint(r, "notimp", st.dns_answers[4]);
	ctl_reply_uint(r, "refused", st.dns_answers[5]);
	ctl_reply_uint(r, "badvers", st.dns_badvers);
	ctl_reply_uint(r, "truncated", st.dns_truncated);
	ctl_reply_uint(r, "dropped", st.dns_dropped);
	ctl_reply_uint(r, "rate_limited", st.dns_rate_limited);
	ctl_reply_end_object(r);
	ctl_reply_begin_object(r, "store");
	ctl_reply_uint(r, "puts", st.store.puts);
	ctl_reply_uint(r, "pending", st.store.pending);
	ctl_reply_uint(r, "commits", st.store.commits);
	ctl_reply_uint(r, "last_commit_us", st.store.last_commit_us);
	ctl_reply_uint(r, "evicted_age", st.store.evicted_age);
	ctl_reply_uint(r, "evicted_count", st.store.evicted_count);
	ctl_reply_uint(r, "cache_entries", st.store.cache_entries);
	ctl_reply_uint(r, "cache_bytes", st.store.cache_bytes);
	ctl_reply_uint(r, "gets", st.store.gets);
	ctl_reply_uint(r, "cache_hits", st.store.cache_hits);
	ctl_reply_uint(r, "read_errors", st.store.read_errors);
	ctl_reply_uint(r, "failed", st.store.failed);
	ctl_reply_end_object(r);
	ctl_reply_uint(r, "clients_tracked", st.clients_tracked);
	ctl_reply_uint(r, "tls_reloads", st.tls_reloads);
}

/* ------------------------------------------------------------ running */

static void on_stop(void *user, const char *why)
{
	struct dns_run *run = user;
	if (run->stopped)
		return;
	run->stopped = true;
	log_info("%s: stopping", why);
	pkarr_server_close(run->server);
	run->server = NULL;
	service_stop(&run->service);
}

static void on_reload(void *user)
{
	struct dns_run *run = user;
	char err[256] = "";
	if (!run->server)
		return;
	int rc = pkarr_server_reload_tls(run->server, err, sizeof(err));
	if (rc == -ENOENT)
		log_info("SIGHUP: no TLS certificate to reload");
	else if (rc < 0)
		log_warn("SIGHUP: %s; keeping the old certificate", err);
	else
		log_info("SIGHUP: reloaded %s", run->config.tls_cert);
}

static void raise_fd_limit(size_t want)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warn("only %llu file descriptors: fewer than --max-connections fit",
			 (unsigned long long)rl.rlim_cur);
}

static void join_addresses(const struct pkarr_server *s, enum pkarr_server_kind kind, char *out,
			   size_t cap)
{
	const struct sockaddr *a;
	size_t n = 0;
	out[0] = '\0';
	for (size_t i = 0; (a = pkarr_server_address(s, kind, i)); i++) {
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

static int run_dns_server(const struct cli_globals *globals, struct dns_run *run)
{
	char path[PATH_MAX], err[512] = "", http[512], https[512], dns[512];
	int rc, exit_code = CLI_FAIL;
	bool have_socket;

	rc = uv_loop_init(&run->loop);
	if (rc < 0) {
		cli_error("dns-server: cannot create the event loop: %s", uv_strerror(rc));
		return CLI_FAIL;
	}
	raise_fd_limit(run->config.max_connections + 64);
	rc = dns_socket_path(globals, path, sizeof(path));
	have_socket = rc == 0;
	if (rc == -ENOENT) {
		log_warn("no control socket ('iron dns-server status' will not work): not root and "
			 "XDG_RUNTIME_DIR is not set; pass --socket PATH");
	} else if (rc < 0) {
		cli_error("dns-server: the control socket path is too long for a Unix socket");
		cli_hint("use a shorter --socket PATH");
		goto out;
	} else {
		rc = service_open_control(&run->service, &run->loop, path, NULL, on_control, run);
		if (rc < 0) {
			if (rc == -EADDRINUSE)
				cli_error("dns-server: another iron dns-server answers on %s",
					  path);
			else
				cli_error("dns-server: cannot create the control socket %s: %s",
					  path, service_control_error(rc, NULL));
			if (rc == -EADDRINUSE)
				cli_hint("stop it, or give this one its own --socket PATH");
			goto out;
		}
	}
	run->service.loop = &run->loop;
	rc = make_parent(run->db);
	if (rc < 0) {
		cli_error("dns-server: cannot create the directory of %s: %s", run->db,
			  strerror(-rc));
		goto out;
	}
	rc = pkarr_server_start(&run->loop, &run->config, &run->server, err, sizeof(err));
	if (rc < 0) {
		cli_error("dns-server: %s", err);
		if (rc == -EACCES || rc == UV_EACCES)
			cli_hint("ports below 1024 need root or CAP_NET_BIND_SERVICE");
		else if (rc == UV_EADDRINUSE || rc == -EADDRINUSE)
			cli_hint("another program uses that port; choose another address");
		goto out;
	}
	const struct service_callbacks scb = {.user = run, .stop = on_stop, .reload = on_reload};
	rc = service_watch_signals(&run->service, &scb);
	if (rc < 0) {
		cli_error("dns-server: cannot watch signals: %s", uv_strerror(rc));
		goto out;
	}
	run->started_ns = uv_hrtime();
	join_addresses(run->server, PKARR_SERVER_HTTP, http, sizeof(http));
	join_addresses(run->server, PKARR_SERVER_HTTPS, https, sizeof(https));
	join_addresses(run->server, PKARR_SERVER_DNS, dns, sizeof(dns));
	/* One line a script can wait for (also when logging is off). */
	fprintf(stderr, "iron dns-server ready: http %s https %s dns %s control %s\n", http, https,
		dns, have_socket ? path : "none");
	fflush(stderr);
	service_ready(&run->service);
	uv_run(&run->loop, UV_RUN_DEFAULT);
	log_info("stopped");
	exit_code = CLI_OK;
out:
	if (exit_code != CLI_OK) {
		pkarr_server_close(run->server);
		run->server = NULL;
		service_stop(&run->service);
		uv_run(&run->loop, UV_RUN_DEFAULT);
	}
	if (uv_loop_close(&run->loop) != 0)
		log_debug("loop closed with handles left");
	return exit_code;
}

/* ------------------------------------------------------------ status */

static uint64_t field(const struct json_value *v, const char *a, const char *b)
{
	v = json_get(v, a);
	if (b)
		v = json_get(v, b);
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
	char text[512 + PATH_MAX], v[64], db[PATH_MAX];
	const struct json_value *listen = json_get(root, "listen");

	cli_printable(json_string(json_get(root, "version"), "?"), v, sizeof(v));
	snprintf(text, sizeof(text), "iron %s, pid %" PRId64 ", up %.0f s", v,
		 json_int(json_get(root, "pid"), 0), json_number(json_get(root, "uptime_s"), 0));
	cli_print_field(stdout, "server", text);
	print_list("http", json_get(listen, "http"));
	print_list("https", json_get(listen, "https"));
	print_list("dns", json_get(listen, "dns"));
	print_list("origins", json_get(root, "origins"));
	cli_printable(json_string(json_get(root, "db"), "?"), db, sizeof(db));
	snprintf(text, sizeof(text), "%" PRIu64 " records (at most %" PRIu64 "), %s",
		 field(root, "records", NULL), field(root, "limits", "max_records"), db);
	cli_print_field(stdout, "store", text);
	snprintf(text, sizeof(text),
		 "%" PRIu64 " stored, %" PRIu64 " not newer, %" PRIu64 " bad signature, %" PRIu64
		 " bad size, %" PRIu64 " bad packet, %" PRIu64 " bad key, %" PRIu64
		 " rate-limited, %" PRIu64 " busy, %" PRIu64 " failed",
		 field(root, "puts", "stored"), field(root, "puts", "not_newer"),
		 field(root, "puts", "bad_signature"), field(root, "puts", "bad_size"),
		 field(root, "puts", "bad_packet"), field(root, "puts", "bad_key"),
		 field(root, "puts", "rate_limited"), field(root, "puts", "busy"),
		 field(root, "puts", "failed"));
	cli_print_field(stdout, "puts", text);
	snprintf(text, sizeof(text),
		 "%" PRIu64 " found, %" PRIu64 " missing, %" PRIu64 " rate-limited",
		 field(root, "gets", "found"), field(root, "gets", "missing"),
		 field(root, "gets", "rate_limited"));
	cli_print_field(stdout, "gets", text);
	snprintf(text, sizeof(text),
		 "%" PRIu64 " UDP, %" PRIu64 " TCP; %" PRIu64 " NOERROR (%" PRIu64
		 " no data), %" PRIu64 " NXDOMAIN, %" PRIu64 " REFUSED, %" PRIu64
		 " FORMERR, %" PRIu64 " truncated, %" PRIu64 " rate-limited",
		 field(root, "dns", "udp"), field(root, "dns", "tcp"),
		 field(root, "dns", "noerror"), field(root, "dns", "nodata"),
		 field(root, "dns", "nxdomain"), field(root, "dns", "refused"),
		 field(root, "dns", "formerr"), field(root, "dns", "truncated"),
		 field(root, "dns", "rate_limited"));
	cli_print_field(stdout, "queries", text);
	snprintf(text, sizeof(text),
		 "%" PRIu64 " open, peak %" PRIu64 ", max %" PRIu64 "; %" PRIu64
		 " refused (full), %" PRIu64 " timed out",
		 field(root, "connections", NULL), field(root, "peak_connections", NULL),
		 field(root, "limits", "max_connections"), field(root, "http", "refused_full"),
		 field(root, "http", "closed_timeout"));
	cli_print_field(stdout, "conns", text);
	snprintf(text, sizeof(text), "%.1f MiB",
		 (double)field(root, "memory_bytes", NULL) / (1024.0 * 1024.0));
	cli_print_field(stdout, "memory", text);
}

static int dns_status(const struct cli_globals *globals, bool json)
{
	char path[PATH_MAX], message[PATH_MAX + 256] = "", *text = NULL;
	struct json_doc *doc = NULL;
	const char *why = NULL;
	size_t where = 0;
	int rc = CLI_FAIL;

	int err = dns_socket_path(globals, path, sizeof(path));
	if (err == -ENOENT) {
		snprintf(message, sizeof(message),
			 "cannot tell where the dns-server's socket is: not root and "
			 "XDG_RUNTIME_DIR is not set");
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
		snprintf(message, sizeof(message), "the server's reply is not valid JSON (%s)",
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
	if (strcmp(json_string(json_get(root, "service"), ""), "dns-server") != 0) {
		snprintf(message, sizeof(message), "%s is not an iron dns-server's socket", path);
		goto out;
	}
	if (json)
		printf("%s\n", text);
	else
		print_status(root);
	rc = CLI_OK;
out:
	if (rc != CLI_OK) {
		cli_error("dns-server status: %s", message);
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

int cmd_dns_server(const struct cli_globals *globals, int argc, char **argv)
{
	static const struct option options[] = {
	    {"listen", required_argument, NULL, 'L'},
	    {"tls-listen", required_argument, NULL, 'T'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'k'},
	    {"dns-listen", required_argument, NULL, 'D'},
	    {"origin", required_argument, NULL, 'o'},
	    {"ns", required_argument, NULL, 'n'},
	    {"soa-rname", required_argument, NULL, 'r'},
	    {"db", required_argument, NULL, 'd'},
	    {"max-records", required_argument, NULL, 'm'},
	    {"max-age", required_argument, NULL, 'a'},
	    {"cache", required_argument, NULL, 'C'},
	    {"put-rate", required_argument, NULL, 'p'},
	    {"put-burst", required_argument, NULL, 'P'},
	    {"query-rate", required_argument, NULL, 'q'},
	    {"query-burst", required_argument, NULL, 'Q'},
	    {"max-connections", required_argument, NULL, 'M'},
	    {"timeout", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct dns_run *run = calloc(1, sizeof(*run));
	const char *ns[PKARR_ZONE_MAX_NS];
	size_t nns = 0;
	const char *soa_rname = NULL, *db_flag = NULL;
	bool status = false, json = false, format_given = false;
	bool no_http = false, no_dns = false, no_tls = false;
	int c, rc = CLI_USAGE;
	char err[256];

	if (!run) {
		cli_error("dns-server: out of memory");
		return CLI_FAIL;
	}
	struct pkarr_server_config *cfg = &run->config;
	cfg->put_rate = PKARR_SERVER_DEFAULT_PUT_RATE;
	cfg->put_burst = PKARR_SERVER_DEFAULT_PUT_BURST;
	cfg->query_rate = PKARR_SERVER_DEFAULT_QUERY_RATE;
	cfg->query_burst = PKARR_SERVER_DEFAULT_QUERY_BURST;
	cfg->max_connections = PKARR_SERVER_DEFAULT_CONNECTIONS;
	cfg->timeout_ms = PKARR_SERVER_DEFAULT_TIMEOUT_MS;
	cfg->store.max_records = PKARR_STORE_DEFAULT_MAX_RECORDS;
	cfg->store.max_age_s = PKARR_STORE_DEFAULT_MAX_AGE_S;
	cfg->store.cache_bytes = PKARR_STORE_DEFAULT_CACHE;
	if (argc > 1 && strcmp(argv[1], "status") == 0) {
		status = true;
		argv++;
		argc--;
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", options, NULL)) != -1) {
		unsigned long long n;
		uint64_t v;
		if (status && c != 'f' && c != 'h' && c != '?' && c != ':') {
			rc = cli_usage_error("dns-server", "status takes only -f/--format");
			goto out;
		}
		switch (c) {
		case 'L':
			if ((rc = parse_addr_option("--listen", optarg, cfg->http_listen,
						    &cfg->nhttp, &no_http)) != 0)
				goto out;
			break;
		case 'T':
			if ((rc = parse_addr_option("--tls-listen", optarg, cfg->https_listen,
						    &cfg->nhttps, &no_tls)) != 0)
				goto out;
			break;
		case 'D':
			if ((rc = parse_addr_option("--dns-listen", optarg, cfg->dns_listen,
						    &cfg->ndns, &no_dns)) != 0)
				goto out;
			break;
		case 'c':
			cfg->tls_cert = optarg;
			break;
		case 'k':
			cfg->tls_key = optarg;
			break;
		case 'o':
			if (run->norigins == PKARR_ZONE_MAX_ORIGINS) {
				rc = cli_usage_error("dns-server", "--origin: at most %d origins",
						     PKARR_ZONE_MAX_ORIGINS);
				goto out;
			}
			run->origins[run->norigins++] = optarg;
			break;
		case 'n':
			if (nns == PKARR_ZONE_MAX_NS) {
				rc = cli_usage_error("dns-server", "--ns: at most %d name servers",
						     PKARR_ZONE_MAX_NS);
				goto out;
			}
			ns[nns++] = optarg;
			break;
		case 'r':
			soa_rname = optarg;
			break;
		case 'd':
			if (!*optarg) {
				rc = cli_usage_error("dns-server", "--db: expected a file path");
				goto out;
			}
			db_flag = optarg;
			break;
		case 'm':
			if (parse_number(optarg, 1, 1000000000, &n) != 0) {
				rc = cli_usage_error("dns-server",
						     "--max-records '%s': expected a number from "
						     "1 to 1000000000",
						     optarg);
				goto out;
			}
			cfg->store.max_records = n;
			break;
		case 'a':
			if (parse_duration(optarg, &v) != 0) {
				rc =
				    cli_usage_error("dns-server",
						    "--max-age '%s': expected a time such as 3600, "
						    "90m, 12h or 7d (at most 10 years)",
						    optarg);
				goto out;
			}
			cfg->store.max_age_s = v;
			break;
		case 'C':
			if (parse_bytes(optarg, &v) != 0 || v < 4096) {
				rc = cli_usage_error("dns-server",
						     "--cache '%s': expected a size from 4K to 1T "
						     "(K, M, G suffixes)",
						     optarg);
				goto out;
			}
			cfg->store.cache_bytes = v;
			break;
		case 'p':
		case 'P':
		case 'q':
		case 'Q': {
			static const char *const names[] = {"put-rate", "put-burst", "query-rate",
							    "query-burst"};
			int which = c == 'p' ? 0 : c == 'P' ? 1 : c == 'q' ? 2 : 3;
			bool burst = which == 1 || which == 3;
			if (parse_number(optarg, burst ? 1 : 0, 1000000, &n) != 0) {
				rc = cli_usage_error("dns-server",
						     "--%s '%s': expected a number from %d to "
						     "1000000",
						     names[which], optarg, burst ? 1 : 0);
				goto out;
			}
			uint32_t *dst[] = {&cfg->put_rate, &cfg->put_burst, &cfg->query_rate,
					   &cfg->query_burst};
			*dst[which] = (uint32_t)n;
			break;
		}
		case 'M':
			if (parse_number(optarg, 1, 1000000, &n) != 0) {
				rc = cli_usage_error("dns-server",
						     "--max-connections '%s': expected a number "
						     "from 1 to 1000000",
						     optarg);
				goto out;
			}
			cfg->max_connections = n;
			break;
		case 't': {
			char *end;
			errno = 0;
			double s = strtod(optarg, &end);
			if (errno || *end || !(s >= 0.1 && s <= 3600)) {
				rc = cli_usage_error("dns-server",
						     "--timeout '%s': expected seconds from 0.1 to "
						     "3600",
						     optarg);
				goto out;
			}
			cfg->timeout_ms = (unsigned)lround(s * 1000);
			break;
		}
		case 'f':
			if (cli_parse_format("dns-server", optarg, &json) != 0)
				goto out;
			format_given = true;
			break;
		case 'h':
			dns_usage(stdout);
			rc = CLI_OK;
			goto out;
		default:
			rc = cli_option_error("dns-server", c, argv);
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error("dns-server", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (status) {
		rc = dns_status(globals, json);
		goto out;
	}
	if (format_given) {
		rc = cli_usage_error("dns-server", "-f/--format is for 'iron dns-server status'");
		goto out;
	}
	if ((no_http && cfg->nhttp) || (no_dns && cfg->ndns) || (no_tls && cfg->nhttps)) {
		rc = cli_usage_error("dns-server",
				     "'none' and an address given for the same option");
		goto out;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		rc = cli_usage_error("dns-server", "--tls-cert and --tls-key go together");
		goto out;
	}
	if (cfg->nhttps && !cfg->tls_cert) {
		rc = cli_usage_error("dns-server", "--tls-listen needs --tls-cert and --tls-key");
		goto out;
	}
	if (cfg->tls_cert && !no_tls && cfg->nhttps == 0) {
		netaddr_parse("[::]:443", &cfg->https_listen[0]);
		cfg->nhttps = 1;
	}
	if (!no_http && cfg->nhttp == 0) {
		netaddr_parse("[::]:8080", &cfg->http_listen[0]);
		cfg->nhttp = 1;
	}
	if (!no_dns && cfg->ndns == 0) {
		netaddr_parse("[::]:53", &cfg->dns_listen[0]);
		cfg->ndns = 1;
	}
	if (cfg->nhttp == 0 && cfg->nhttps == 0) {
		rc = cli_usage_error("dns-server",
				     "nothing to publish to (--listen none without TLS)");
		goto out;
	}
	if (run->norigins == 0)
		run->origins[run->norigins++] = DEFAULT_ORIGIN;
	if (pkarr_zone_init(&cfg->zone, run->origins, run->norigins, ns, nns, soa_rname,
			    (uint32_t)time(NULL), err, sizeof(err)) != 0) {
		rc = cli_usage_error("dns-server", "%s", err);
		goto out;
	}
	int perr = dns_db_path(globals, db_flag, run->db, sizeof(run->db));
	if (perr < 0) {
		cli_error("dns-server: cannot tell where the database goes: %s",
			  perr == -ENOENT ? "HOME is not set" : "the path is too long");
		cli_hint("pass --db PATH");
		rc = CLI_FAIL;
		goto out;
	}
	cfg->store.path = run->db;
	rc = run_dns_server(globals, run);
out:
	free(run);
	return rc;
}
