/* iron resolve --addr ID: looks a node up by its ID as `iron serve` does
 * (discovery.h: TXT _iroh.<z32>.<origin> through the system resolver and
 * pkarr GET, at once) and prints what each source found. Needs no daemon
 * and no key. */
#define LOG_MODULE "resolve"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/config.h"
#include "iron/discovery.h"
#include "iron/encoding.h"
#include "iron/id.h"
#include "iron/identity.h"
#include "iron/netaddr.h"
#include "iron/resolver.h"

#define FOUND_MAX 2 /* dns, pkarr */

struct addr_lookup {
	bool done;
	int status;
	struct pkarr_record found[FOUND_MAX];
	const char *source[FOUND_MAX];
	size_t nfound;
	uint64_t started, finished;
};

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: iron resolve --addr ID [--pkarr-url URL|none] [--dns-origin NAME|none]\n"
	       "                    [--timeout S] [-f json]\n\n"
	       "Looks a node up by its ID alone, as 'iron serve' does before dialling it: TXT\n"
	       "_iroh.<z32 ID>.<origin> through the system resolver and a GET from the pkarr\n"
	       "relay, at once, and prints the relay and direct addresses each one found.\n"
	       "Needs no daemon.\n\n"
	       "Options:\n"
	       "      --addr ID          the node (base32, hex or <base32>.iron)\n"
	       "      --pkarr-url URL    pkarr relay (default " DAEMON_DEFAULT_PKARR_URL "; none)\n"
	       "      --dns-origin NAME  DNS zone (default " DAEMON_DEFAULT_DNS_ORIGIN "; none)\n"
	       "      --timeout S        seconds to wait (default 5)\n"
	       "  -f, --format FORMAT    text (default) or json\n"
	       "  -h, --help             show this help\n");
}

static void on_found(void *user, const struct iron_id *id, const struct pkarr_record *rec,
		     const char *source)
{
	struct addr_lookup *l = user;
	(void)id;
	if (l->nfound < FOUND_MAX) {
		l->found[l->nfound] = *rec;
		l->source[l->nfound++] = source;
	}
}

static void on_done(void *user, const struct iron_id *id, int status)
{
	struct addr_lookup *l = user;
	(void)id;
	l->done = true;
	l->status = status;
	l->finished = uv_hrtime();
}

static void print_json(const struct iron_id *id, const char *z32, const struct addr_lookup *l,
		       const char *error)
{
	char b32[IRON_ID_BASE32_LEN + 1], where[NETADDR_STR_SIZE];
	id_to_base32(id, b32);
	printf("{\"node_id\":\"%s\",\"z32\":\"%s\",\"found\":%s,\"records\":[", b32, z32,
	       l->nfound ? "true" : "false");
	for (size_t i = 0; i < l->nfound; i++) {
		const struct pkarr_record *r = &l->found[i];
		printf("%s{\"source\":\"%s\",\"relay\":", i ? "," : "", l->source[i]);
		if (r->relay[0])
			cli_json_string(stdout, r->relay);
		else
			printf("null");
		printf(",\"addrs\":[");
		for (size_t j = 0; j < r->naddrs; j++)
			printf("%s\"%s\"", j ? "," : "",
			       netaddr_format(&r->addrs[j].sa, where, sizeof(where)));
		printf("],\"ttl\":%u}", r->ttl);
	}
	printf("],\"time_ms\":%.3f", (double)(l->finished - l->started) / 1e6);
	if (error) {
		printf(",\"error\":");
		cli_json_string(stdout, error);
	}
	printf("}\n");
}

static void print_text(const struct iron_id *id, const char *z32, const struct addr_lookup *l)
{
	char b32[IRON_ID_BASE32_LEN + 1], where[NETADDR_STR_SIZE];
	id_to_base32(id, b32);
	printf("node:   %s\nz32:    %s\n", b32, z32);
	for (size_t i = 0; i < l->nfound; i++) {
		const struct pkarr_record *r = &l->found[i];
		printf("%-7s relay %s, ttl %u s\n", l->source[i], r->relay[0] ? r->relay : "(none)",
		       r->ttl);
		for (size_t j = 0; j < r->naddrs; j++)
			printf("%-7s addr  %s\n", l->source[i],
			       netaddr_format(&r->addrs[j].sa, where, sizeof(where)));
	}
	printf("time:   %.1f ms\n", (double)(l->finished - l->started) / 1e6);
}

/* Whether argv[*i] is option name: 1 (its value in *value), 0 (another
 * argument), -1 (no value given: reported). */
static int take_value(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);
	if (strcmp(argv[*i], name) == 0) {
		if (*i + 1 >= argc) {
			cli_error("resolve: %s needs a value", name);
			return -1;
		}
		*value = argv[++*i];
		return 1;
	}
	if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return 1;
	}
	return 0;
}

int cmd_resolve_addr(const struct cli_globals *globals, int argc, char **argv)
{
	const char *id_text = NULL, *pkarr_text = NULL, *origin_text = NULL, *timeout_text = NULL,
		   *format = NULL;
	char pkarr[DAEMON_URL_MAX] = DAEMON_DEFAULT_PKARR_URL,
	     origin[DAEMON_HOST_MAX] = DAEMON_DEFAULT_DNS_ORIGIN, err[300];
	(void)globals;
	static const char *const names[] = {"--addr",	 "--pkarr-url", "--dns-origin",
					    "--timeout", "--format",	"-f"};
	const char **values[] = {&id_text,	&pkarr_text, &origin_text,
				 &timeout_text, &format,     &format};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return CLI_OK;
		}
	}
	for (int i = 1; i < argc; i++) {
		int taken = 0;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && !taken; k++)
			taken = take_value(argc, argv, &i, names[k], values[k]);
		if (taken < 0)
			return CLI_USAGE;
		if (taken)
			continue;
		if (argv[i][0] == '-')
			cli_error("resolve: unknown option '%s'", argv[i]);
		else
			cli_error("resolve --addr: unexpected argument '%s'", argv[i]);
		cli_hint("run 'iron resolve --help'");
		return CLI_USAGE;
	}
	struct iron_id id;
	if (!id_text || id_parse(id_text, &id, NULL) != 0) {
		cli_error("resolve: --addr: expected a node ID (base32, hex or <base32>.iron)");
		return CLI_USAGE;
	}
	if (pkarr_text && config_parse_pkarr_url(pkarr_text, pkarr, err, sizeof(err)) != 0) {
		cli_error("resolve: --pkarr-url: %s", err);
		return CLI_USAGE;
	}
	if (origin_text && config_parse_dns_origin(origin_text, origin, err, sizeof(err)) != 0) {
		cli_error("resolve: --dns-origin: %s", err);
		return CLI_USAGE;
	}
	double timeout = 5;
	if (timeout_text) {
		char *end = NULL;
		timeout = strtod(timeout_text, &end);
		if (!end || *end || !(timeout >= 0.1 && timeout <= 60)) {
			cli_error("resolve: --timeout '%s': expected seconds from 0.1 to 60",
				  timeout_text);
			return CLI_USAGE;
		}
	}
	bool json = false;
	if (format && strcmp(format, "json") == 0)
		json = true;
	else if (format && strcmp(format, "text") != 0) {
		cli_error("resolve: --format '%s': expected text or json", format);
		return CLI_USAGE;
	}
	if (!pkarr[0] && !origin[0]) {
		cli_error("resolve: --pkarr-url none and --dns-origin none leave nothing to ask");
		return CLI_USAGE;
	}

	char z32[64];
	encoding_zbase32_encode(id.bytes, IRON_ID_LEN, z32, sizeof(z32));
	uv_loop_t loop;
	struct resolver *resolver = NULL;
	struct discovery *d = NULL;
	struct iron_identity anyone; /* discovery signs with it only to publish */
	struct addr_lookup l = {.started = uv_hrtime()};
	int rc = uv_loop_init(&loop);
	if (rc < 0) {
		cli_error("resolve: cannot create the event loop: %s", uv_strerror(rc));
		return CLI_FAIL;
	}
	identity_generate(&anyone);
	rc = resolver_new(&loop, NULL, &resolver);
	if (rc == 0) {
		const struct discovery_config dc = {
		    .pkarr_url = pkarr[0] ? pkarr : NULL,
		    .dns_origin = origin[0] ? origin : NULL,
		    .lookup_timeout_ms = (uint64_t)(timeout * 1000),
		};
		const struct discovery_callbacks cb = {
		    .user = &l, .found = on_found, .done = on_done};
		rc = discovery_new(&loop, resolver, &anyone, &dc, &cb, &d);
	}
	if (rc == 0)
		rc = discovery_lookup(d, &id);
	if (rc < 0) {
		cli_error("resolve: cannot look up: %s", strerror(-rc));
	} else {
		while (!l.done && uv_run(&loop, UV_RUN_ONCE))
			;
	}
	discovery_del(d);
	resolver_del(resolver);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	identity_wipe(&anyone);
	if (rc < 0)
		return CLI_FAIL;
	if (!l.finished)
		l.finished = uv_hrtime();

	const char *error = NULL;
	char why[160];
	if (l.nfound == 0) {
		snprintf(why, sizeof(why), "%s: %s", z32,
			 l.status == -ENOENT	  ? "no record published"
			 : l.status == -ETIMEDOUT ? "no answer in time"
						  : strerror(-l.status));
		error = why;
	}
	if (json)
		print_json(&id, z32, &l, error);
	else if (!error)
		print_text(&id, z32, &l);
	if (error) {
		if (!json)
			cli_error("resolve: %s", error);
		return CLI_FAIL;
	}
	return CLI_OK;
}
