/* iron resolve NAME: one AAAA query to the daemon's DNS responder (or any
 * server), made with the resolver module on a loop of its own. */
#define LOG_MODULE "resolve"
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "iron/addr.h"
#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/dns.h"
#include "iron/id.h"
#include "iron/log.h"
#include "iron/netaddr.h"
#include "iron/resolver.h"

#define RESOLVE_DEFAULT_TIMEOUT 3.0
#define RESOLVE_ADDRS_MAX	16

struct resolve_server {
	struct netaddr addr;
	char text[INET6_ADDRSTRLEN + 8]; /* "1.2.3.4:53" or "[::1]:53" */
};

/* The outcome of the query. */
struct resolve {
	bool done;
	int status;
	uint8_t *answer;
	size_t answer_len;
	uint64_t started, finished; /* uv_hrtime() */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: iron resolve NAME [--server ADDR:PORT] [--timeout S] [-f json]\n"
		"       iron resolve --addr ID [--pkarr-url URL] [--dns-origin NAME] [-f json]\n\n"
		"Sends one AAAA query for NAME (e.g. <node-id>.iron) and prints the address,\n"
		"its TTL, the query time and, for .iron names, the node ID.\n\n"
		"Options:\n"
		"      --server ADDR:PORT  DNS server (default 127.0.0.1:<dns-port>; IPv6 as\n"
		"                          [::1]:5333)\n"
		"      --timeout S         seconds to wait for the answer (default 3)\n"
		"      --addr ID           look node ID up by discovery instead (iron resolve\n"
		"                          --addr --help tells more)\n"
		"  -f, --format FORMAT     text (default) or json\n"
		"  -h, --help              show this help\n");
}

/* "ADDR", "ADDR:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address. */
static int parse_server(const char *text, unsigned default_port, struct resolve_server *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text = NULL;
	size_t len;
	unsigned port = default_port;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || (close[1] != '\0' && close[1] != ':'))
			return -EINVAL;
		len = (size_t)(close - text - 1);
		if (close[1] == ':')
			port_text = close + 2;
		text++;
	} else {
		const char *colon = strchr(text, ':');
		len = strlen(text);
		if (colon && strchr(colon + 1, ':') == NULL) {
			len = (size_t)(colon - text);
			port_text = colon + 1;
		}
	}
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, len);
	host[len] = '\0';
	if (port_text) {
		char *end = NULL;
		long value = strtol(port_text, &end, 10);
		if (!*port_text || *end || value < 1 || value > 65535)
			return -EINVAL;
		port = (unsigned)value;
	}
	if (netaddr_parse_host(host, (uint16_t)port, &out->addr) != 0)
		return -EINVAL;
	snprintf(out->text, sizeof(out->text),
		 out->addr.sa.sa_family == AF_INET ? "%s:%u" : "[%s]:%u", host, port);
	return 0;
}

/* --- the query ----------------------------------------------------------- */

static void answered(void *user, int status, const uint8_t *answer, size_t len)
{
	struct resolve *r = user;
	r->finished = uv_hrtime();
	r->done = true;
	r->status = status;
	if (status == 0) {
		r->answer = malloc(len);
		if (r->answer) {
			memcpy(r->answer, answer, len);
			r->answer_len = len;
		} else {
			r->status = -ENOMEM;
		}
	}
}

/* Runs the query. Returns 0 (outcome in r), -EINVAL when name is not a
 * DNS name, or another error (reported) when the resolver cannot start. */
static int run_query(struct resolve *r, const char *name, const struct resolve_server *server,
		     double timeout)
{
	struct resolver_options options = {
	    .servers = &server->addr,
	    .nservers = 1,
	    .timeout_ms = (unsigned)ceil(timeout * 1000),
	    .tries = 1,
	    /* Every rcode is an answer to report, not a reason to retry. */
	    .every_rcode = true,
	};
	struct resolver *resolver = NULL;
	uv_loop_t loop;
	int rc;

	if ((rc = uv_loop_init(&loop)) < 0) {
		cli_error("resolve: %s", uv_strerror(rc));
		return rc;
	}
	if ((rc = resolver_new(&loop, &options, &resolver)) < 0) {
		cli_error("resolve: cannot start the resolver: %s", resolver_strerror(rc));
		goto out;
	}
	r->started = uv_hrtime();
	rc = resolver_query(resolver, name, DNS_TYPE_AAAA, answered, r, NULL);
	if (rc == 0) {
		uv_run(&loop, UV_RUN_DEFAULT);
	} else if (rc != -EINVAL) {
		/* Failed before sending: an outcome like any other. */
		r->done = true;
		r->status = rc;
		rc = 0;
	}
out:
	resolver_del(resolver);
	uv_run(&loop, UV_RUN_DEFAULT); /* closes its handles */
	uv_loop_close(&loop);
	return rc;
}

/* --- output ---------------------------------------------------------------- */

struct outcome {
	const char *name;
	const struct resolve_server *server;
	double ms;
	int rcode; /* -1: no answer */
	struct ares_addr6ttl addrs[RESOLVE_ADDRS_MAX];
	int naddrs;
	bool has_id;
	struct iron_id id;
};

static void print_json(const struct outcome *o, const char *error)
{
	char text[ADDR_STR_SIZE];
	printf("{\"name\":");
	cli_json_string(stdout, o->name);
	printf(",\"server\":");
	cli_json_string(stdout, o->server->text);
	if (o->rcode >= 0)
		printf(",\"rcode\":\"%s\"", dns_rcode_name(o->rcode));
	else
		printf(",\"rcode\":null");
	printf(",\"addresses\":[");
	for (int i = 0; i < o->naddrs; i++) {
		printf("%s{\"address\":\"%s\",\"ttl\":%d}", i ? "," : "",
		       addr_format((const struct in6_addr *)&o->addrs[i].ip6addr, text),
		       o->addrs[i].ttl);
	}
	printf("]");
	if (o->naddrs > 0)
		printf(",\"address\":\"%s\",\"ttl\":%d",
		       addr_format((const struct in6_addr *)&o->addrs[0].ip6addr, text),
		       o->addrs[0].ttl);
	if (o->rcode >= 0)
		printf(",\"query_time_ms\":%.3f", o->ms);
	if (o->has_id) {
		char hex[IRON_ID_HEX_LEN + 1], b32[IRON_ID_BASE32_LEN + 1];
		id_to_hex(&o->id, hex);
		id_to_base32(&o->id, b32);
		printf(",\"node_id\":{\"hex\":\"%s\",\"base32\":\"%s\"}", hex, b32);
	} else {
		printf(",\"node_id\":null");
	}
	if (error) {
		printf(",\"error\":");
		cli_json_string(stdout, error);
	}
	printf("}\n");
}

static void print_text(const struct outcome *o)
{
	char text[ADDR_STR_SIZE];
	printf("name:        %s\n", o->name);
	for (int i = 0; i < o->naddrs; i++)
		printf("address:     %s\n",
		       addr_format((const struct in6_addr *)&o->addrs[i].ip6addr, text));
	printf("ttl:         %d s\n", o->addrs[0].ttl);
	printf("query time:  %.2f ms (%s)\n", o->ms, o->server->text);
	if (o->has_id) {
		char hex[IRON_ID_HEX_LEN + 1], b32[IRON_ID_BASE32_LEN + 1];
		id_to_hex(&o->id, hex);
		id_to_base32(&o->id, b32);
		printf("node id:     %s\n", hex);
		printf("             %s\n", b32);
	}
}

/* Reports a failure on stderr (and as JSON on stdout). Returns CLI_FAIL. */
static int fail(const struct outcome *o, bool json, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(const struct outcome *o, bool json, const char *hint, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	cli_error("%s", message);
	if (hint)
		cli_hint("%s", hint);
	if (json)
		print_json(o, message);
	return CLI_FAIL;
}

static bool is_iron_name(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	return (len == 4 || (len > 4 && name[len - 5] == '.')) &&
	       strncasecmp(name + len - 4, "iron", 4) == 0;
}

int cmd_resolve(const struct cli_globals *globals, int argc, char **argv)
{
	struct resolve_server server;
	struct resolve r;
	struct outcome o = {.rcode = -1};
	const char *name = NULL, *server_text = NULL;
	double timeout = RESOLVE_DEFAULT_TIMEOUT;
	bool json = false;
	int rc;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--addr") == 0 || strncmp(argv[i], "--addr=", 7) == 0)
			return cmd_resolve_addr(globals, argc, argv);
	memset(&r, 0, sizeof(r));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = NULL;
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			usage(stdout);
			return CLI_OK;
		}
		if (strcmp(arg, "--server") == 0 || strcmp(arg, "--timeout") == 0 ||
		    strcmp(arg, "-f") == 0 || strcmp(arg, "--format") == 0) {
			if (i + 1 >= argc) {
				cli_error("resolve: %s needs a value", arg);
				return CLI_USAGE;
			}
			value = argv[++i];
		} else if (strncmp(arg, "--server=", 9) == 0 ||
			   strncmp(arg, "--timeout=", 10) == 0 ||
			   strncmp(arg, "--format=", 9) == 0) {
			value = strchr(arg, '=') + 1;
		} else if (arg[0] == '-' && arg[1] != '\0') {
			cli_error("resolve: unknown option '%s'", arg);
			cli_hint("run 'iron resolve --help'");
			return CLI_USAGE;
		} else if (!name) {
			name = arg;
			continue;
		} else {
			cli_error("resolve: one name at a time ('%s' is extra)", arg);
			return CLI_USAGE;
		}
		if (strncmp(arg, "--server", 8) == 0) {
			server_text = value;
		} else if (strncmp(arg, "--timeout", 9) == 0) {
			char *end = NULL;
			timeout = strtod(value, &end);
			if (!*value || *end || !(timeout > 0 && timeout <= 3600)) {
				cli_error("resolve: --timeout: expected seconds, more than 0 and "
					  "at most 3600");
				return CLI_USAGE;
			}
		} else if (strcmp(value, "json") == 0) {
			json = true;
		} else if (strcmp(value, "text") == 0) {
			json = false;
		} else {
			cli_error("resolve: --format: expected text or json");
			return CLI_USAGE;
		}
	}
	if (!name || !*name) {
		cli_error("resolve: expected a name, e.g. <node-id>.iron");
		cli_hint("run 'iron resolve --help'");
		return CLI_USAGE;
	}
	if (server_text) {
		if (parse_server(server_text, globals->dns_port, &server) != 0) {
			cli_error("resolve: --server: expected ADDR:PORT, e.g. 127.0.0.1:5333 or "
				  "[::1]:5333, not '%s'",
				  server_text);
			return CLI_USAGE;
		}
	} else {
		parse_server("127.0.0.1", globals->dns_port, &server);
	}
	o.name = name;
	o.server = &server;
	o.has_id = id_parse_domain(name, strlen(name), &o.id) == 0;

	rc = run_query(&r, name, &server, timeout);
	if (rc == -EINVAL) {
		cli_error("resolve: '%s' is not a valid DNS name", name);
		return CLI_USAGE;
	}
	if (rc < 0) {
		rc = CLI_FAIL;
		goto out;
	}
	if (!r.done || r.status == -ETIMEDOUT) {
		rc =
		    fail(&o, json, NULL, "no answer from %s within %g s — is `iron serve` running?",
			 server.text, timeout);
		goto out;
	}
	if (r.status == -ECONNREFUSED) {
		rc = fail(&o, json, NULL,
			  "no answer from %s (cannot reach it) — is `iron serve` running?",
			  server.text);
		goto out;
	}
	if (r.status < 0 || r.answer_len < DNS_HEADER_LEN) {
		rc = fail(&o, json, NULL, "%s: query to %s failed: %s", name, server.text,
			  resolver_strerror(r.status < 0 ? r.status : -EBADMSG));
		goto out;
	}
	o.ms = (double)(r.finished - r.started) / 1e6;
	o.rcode = r.answer[3] & 0x0f;
	switch (o.rcode) {
	case DNS_RCODE_NOERROR:
		break;
	case DNS_RCODE_NXDOMAIN:
		rc = fail(&o, json,
			  is_iron_name(name) && !o.has_id
			      ? "a name of .iron is <52-character base32 node ID>.iron"
			      : NULL,
			  "%s: no such name (NXDOMAIN from %s)", name, server.text);
		goto out;
	case DNS_RCODE_REFUSED:
		rc = fail(&o, json,
			  is_iron_name(name) ? NULL
					     : "iron answers only .iron names unless the daemon "
					       "has --dns-upstream servers",
			  "%s: the server refused the query (REFUSED from %s)", name, server.text);
		goto out;
	case DNS_RCODE_SERVFAIL:
		rc = fail(&o, json, NULL, "%s: server failure (SERVFAIL from %s)", name,
			  server.text);
		goto out;
	default:
		rc = fail(&o, json, NULL, "%s: the server answered %s", name,
			  dns_rcode_name(o.rcode));
		goto out;
	}
	o.naddrs = RESOLVE_ADDRS_MAX;
	int pr = ares_parse_aaaa_reply(r.answer, (int)r.answer_len, NULL, o.addrs, &o.naddrs);
	if (pr == ARES_ENODATA || (pr == ARES_SUCCESS && o.naddrs == 0)) {
		o.naddrs = 0;
		rc = fail(&o, json, NULL, "%s: no AAAA record (NOERROR, no data, from %s)", name,
			  server.text);
		goto out;
	}
	if (pr != ARES_SUCCESS) {
		o.naddrs = 0;
		rc = fail(&o, json, NULL, "%s: cannot read the answer from %s: %s", name,
			  server.text, ares_strerror(pr));
		goto out;
	}
	if (o.has_id) {
		/* The derivation is public: an answer that differs is wrong. */
		struct in6_addr expected;
		addr_from_id(&o.id, &expected);
		if (memcmp(&expected, &o.addrs[0].ip6addr, sizeof(expected)) != 0) {
			rc = fail(&o, json, NULL,
				  "%s: %s answered an address that is not this node ID's", name,
				  server.text);
			goto out;
		}
	}
	if (json)
		print_json(&o, NULL);
	else
		print_text(&o);
	rc = CLI_OK;
out:
	free(r.answer);
	return rc;
}
