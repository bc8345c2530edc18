/* iron ping PEER: overlay round trips measured by the daemon, one control
 * request per echo (docs/control.md, "ping"), each printed as it comes
 * back, then a summary, like ping(8). Ctrl-C ends the run early and still
 * prints the summary. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iron/addr.h"
#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/ctl.h"
#include "iron/id.h"
#include "iron/json.h"

#define PING_DEFAULT_COUNT    4
#define PING_DEFAULT_INTERVAL 1.0
#define PING_DEFAULT_WAIT     2.0
#define PING_MAX_COUNT	      1000000
#define PING_MAX_INTERVAL     3600.0
#define PING_MAX_WAIT	      60.0 /* the daemon's limit of timeout_ms */
/* The daemon answers within the ping's own timeout (dialling included);
 * beyond this much more it is stuck. */
#define PING_CALL_MARGIN_MS 5000
#define PING_SHORT_LEN	    10

/* Set by the SIGINT handler; the one piece of global state, since a signal
 * handler has no other way to reach the run. */
static volatile sig_atomic_t ping_interrupted;

struct ping_result {
	unsigned seq;
	bool replied;
	double rtt_ms;
	char path[16];
	char remote[64];
};

struct ping_run {
	struct iron_id id;
	char base32[IRON_ID_BASE32_LEN + 1];
	char domain[IRON_ID_DOMAIN_SIZE];
	char short_name[PING_SHORT_LEN + 16]; /* "df7wwi7bns….iron" */
	char ipv6[ADDR_STR_SIZE];
	char socket[PATH_MAX];
	long count; /* 0: until interrupted */
	double interval, wait;
	bool json;
	struct ping_result *results;
	size_t nresults, cap;
	unsigned received;
	double min, max, sum;
	bool interrupted;
	bool header_printed;
	char error[512]; /* the error that ended the run, or "" */
};

static void ping_usage(FILE *f)
{
	fprintf(f, "Usage: iron ping PEER [-c N] [-i SECONDS] [-W SECONDS] [-f json]\n\n"
		   "Measures the round trip through the overlay to PEER: the daemon sends an\n"
		   "ICMPv6 echo to the peer's address over the peer's connection (dialling\n"
		   "it if needed) and reports the time and the path (direct or relay).\n"
		   "PEER is <base32>.iron, base32 or hex.\n\n"
		   "Options:\n"
		   "  -c, --count N        round trips (default 4; 0: until Ctrl-C)\n"
		   "  -i, --interval S     seconds between round trips (default 1)\n"
		   "  -W, --timeout S      seconds to wait for each reply (default 2, at most 60)\n"
		   "  -f, --format FMT     text (default) or json: one document at the end\n"
		   "  -h, --help           show this help\n\n"
		   "Exit status 0 when at least one reply came back, 1 otherwise.\n");
}

static void on_sigint(int sig)
{
	(void)sig;
	ping_interrupted = 1;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until the monotonic time `until`, or less when interrupted. */
static void sleep_until(double until)
{
	for (;;) {
		double left = until - now_seconds();
		if (left <= 0 || ping_interrupted)
			return;
		struct timespec ts = {.tv_sec = (time_t)left,
				      .tv_nsec = (long)((left - floor(left)) * 1e9)};
		nanosleep(&ts, NULL); /* EINTR: the loop looks at the flag */
	}
}

static int parse_seconds(const char *text, double min_exclusive, double max, double *out)
{
	char *end = NULL;
	double v = strtod(text, &end);
	if (!*text || *end || !(v > min_exclusive && v <= max))
		return -EINVAL;
	*out = v;
	return 0;
}

static int add_result(struct ping_run *run, const struct ping_result *r)
{
	if (run->nresults == run->cap) {
		size_t cap = run->cap ? run->cap * 2 : 16;
		struct ping_result *grown = realloc(run->results, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		run->results = grown;
		run->cap = cap;
	}
	run->results[run->nresults++] = *r;
	if (r->replied) {
		if (run->received == 0 || r->rtt_ms < run->min)
			run->min = r->rtt_ms;
		if (run->received == 0 || r->rtt_ms > run->max)
			run->max = r->rtt_ms;
		run->sum += r->rtt_ms;
		run->received++;
	}
	return 0;
}

/* One round trip. Returns 0 with *r filled (a reply, or a timeout), or -1
 * with run->error set when the run cannot go on. */
static int ping_once(struct ping_run *run, unsigned seq, struct ping_result *r)
{
	char request[256], *text = NULL;
	struct json_doc *doc = NULL;
	const char *why = NULL;
	int timeout_ms = (int)ceil(run->wait * 1000);
	int rc = -1, err;

	memset(r, 0, sizeof(*r));
	r->seq = seq;
	snprintf(request, sizeof(request),
		 "{\"cmd\":\"ping\",\"peer\":\"%s\",\"seq\":%u,\"timeout_ms\":%d}", run->base32,
		 seq, timeout_ms);
	err = ctl_call_interruptible(run->socket, request, &text, timeout_ms + PING_CALL_MARGIN_MS,
				     &ping_interrupted);
	if (err == -EINTR) {
		run->interrupted = true;
		goto out;
	}
	if (err < 0) {
		ctl_describe_error(err, run->socket, run->error, sizeof(run->error));
		goto out;
	}
	if (json_parse(text, strlen(text), &doc, &why, NULL) != 0 ||
	    !json_is_object(json_root(doc))) {
		snprintf(run->error, sizeof(run->error),
			 "the daemon's reply is not a JSON object%s%s", why ? ": " : "",
			 why ? why : "");
		goto out;
	}
	const struct json_value *root = json_root(doc);
	if (!json_bool(json_get(root, "ok"), false)) {
		const char *message = json_string(json_get(root, "error"), "no reason given");
		/* A lost echo is a result; any other error is the same for every
		 * round trip (no address, an unknown command), so it ends the run. */
		if (strncmp(message, "no reply from ", 14) == 0) {
			rc = 0;
			goto out;
		}
		/* Our own "iron: ping: " prefix says it already. */
		if (strncmp(message, "ping: ", 6) == 0)
			message += 6;
		cli_printable(message, run->error, sizeof(run->error));
		goto out;
	}
	int64_t got_seq = json_int(json_get(root, "seq"), -1);
	if (got_seq != (int64_t)seq) {
		snprintf(run->error, sizeof(run->error),
			 "the daemon answered seq=%" PRId64 " to seq=%u", got_seq, seq);
		goto out;
	}
	r->replied = true;
	r->rtt_ms = json_number(json_get(root, "rtt_ms"), NAN);
	if (!(r->rtt_ms >= 0)) {
		snprintf(run->error, sizeof(run->error), "the daemon's reply has no rtt_ms");
		goto out;
	}
	cli_printable(json_string(json_get(root, "path"), "?"), r->path, sizeof(r->path));
	cli_printable(json_string(json_get(root, "remote"), ""), r->remote, sizeof(r->remote));
	rc = 0;
out:
	json_free(doc);
	free(text);
	return rc;
}

/* "PING <domain> (<address>)", before the first line of output: so that a
 * run that fails at once (no daemon) prints only its error. */
static void print_header(struct ping_run *run)
{
	if (!run->header_printed)
		printf("PING %s (%s)\n", run->domain, run->ipv6);
	run->header_printed = true;
}

static void print_line(struct ping_run *run, const struct ping_result *r)
{
	print_header(run);
	if (!r->replied) {
		printf("no reply: seq=%u (timeout)\n", r->seq);
	} else if (r->remote[0]) {
		printf("reply from %s (%s): seq=%u rtt=%.2f ms path=%s (%s)\n", run->short_name,
		       run->ipv6, r->seq, r->rtt_ms, r->path, r->remote);
	} else {
		printf("reply from %s (%s): seq=%u rtt=%.2f ms path=%s\n", run->short_name,
		       run->ipv6, r->seq, r->rtt_ms, r->path);
	}
	fflush(stdout);
}

static double loss_percent(const struct ping_run *run)
{
	if (run->nresults == 0)
		return 0;
	return 100.0 * (double)(run->nresults - run->received) / (double)run->nresults;
}

static void print_summary(struct ping_run *run)
{
	print_header(run);
	printf("\n--- %s ping statistics ---\n", run->short_name);
	printf("%zu sent, %u received, %.0f%% loss", run->nresults, run->received,
	       loss_percent(run));
	if (run->received > 0)
		printf(", rtt min/avg/max = %.2f/%.2f/%.2f ms", run->min, run->sum / run->received,
		       run->max);
	printf("\n");
}

static void print_json(const struct ping_run *run, bool ok)
{
	printf("{\"ok\":%s,\"peer\":\"%s\",\"domain\":\"%s\",\"ipv6\":\"%s\",",
	       ok ? "true" : "false", run->base32, run->domain, run->ipv6);
	printf("\"sent\":%zu,\"received\":%u,\"loss_percent\":%.2f,", run->nresults, run->received,
	       loss_percent(run));
	if (run->received > 0)
		printf("\"rtt_ms\":{\"min\":%.3f,\"avg\":%.3f,\"max\":%.3f},", run->min,
		       run->sum / run->received, run->max);
	else
		printf("\"rtt_ms\":null,");
	printf("\"interrupted\":%s,\"results\":[", run->interrupted ? "true" : "false");
	for (size_t i = 0; i < run->nresults; i++) {
		const struct ping_result *r = &run->results[i];
		printf("%s{\"seq\":%u,\"reply\":%s", i ? "," : "", r->seq,
		       r->replied ? "true" : "false");
		if (r->replied) {
			printf(",\"rtt_ms\":%.3f,\"path\":", r->rtt_ms);
			cli_json_string(stdout, r->path);
			printf(",\"remote\":");
			if (r->remote[0])
				cli_json_string(stdout, r->remote);
			else
				printf("null");
		}
		printf("}");
	}
	printf("]");
	if (run->error[0]) {
		printf(",\"error\":");
		cli_json_string(stdout, run->error);
	}
	printf("}\n");
}

/* Options into run; returns -1 to go on, else the exit code. */
static int parse_options(struct ping_run *run, int argc, char **argv)
{
	static const struct option options[] = {
	    {"count", required_argument, NULL, 'c'},   {"interval", required_argument, NULL, 'i'},
	    {"timeout", required_argument, NULL, 'W'}, {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	const char *peer = NULL;
	struct in6_addr addr;
	char *end;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:i:W:f:h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			run->count = strtol(optarg, &end, 10);
			if (!*optarg || *end || run->count < 0 || run->count > PING_MAX_COUNT)
				return cli_usage_error("ping",
						       "-c: expected a count from 0 (until Ctrl-C) "
						       "to %d, not '%s'",
						       PING_MAX_COUNT, optarg);
			break;
		case 'i':
			/* 0 is allowed: back to back, one at a time. */
			if (strcmp(optarg, "0") == 0)
				run->interval = 0;
			else if (parse_seconds(optarg, 0, PING_MAX_INTERVAL, &run->interval) != 0)
				return cli_usage_error(
				    "ping", "-i: expected seconds from 0 to 3600, not '%s'",
				    optarg);
			break;
		case 'W':
			if (parse_seconds(optarg, 0.0005, PING_MAX_WAIT, &run->wait) != 0)
				return cli_usage_error(
				    "ping",
				    "-W: expected seconds, more than 0 and at most 60, not '%s'",
				    optarg);
			break;
		case 'f':
			if (cli_parse_format("ping", optarg, &run->json) != 0)
				return CLI_USAGE;
			break;
		case 'h':
			ping_usage(stdout);
			return CLI_OK;
		default:
			return cli_option_error("ping", c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("ping", "expected a PEER: <base32>.iron, base32 or hex");
	peer = argv[optind++];
	if (optind < argc)
		return cli_usage_error("ping", "unexpected argument '%s'", argv[optind]);
	if (id_parse(peer, &run->id, NULL) != 0)
		return cli_usage_error("ping",
				       "'%s' is not a node ID (expected <base32>.iron, 52 base32 "
				       "or 64 hex characters)",
				       peer);
	id_to_base32(&run->id, run->base32);
	id_to_domain(&run->id, run->domain);
	snprintf(run->short_name, sizeof(run->short_name), "%.*s\u2026.iron", PING_SHORT_LEN,
		 run->base32);
	addr_from_id(&run->id, &addr);
	addr_format(&addr, run->ipv6);
	return -1;
}

int cmd_ping(const struct cli_globals *globals, int argc, char **argv)
{
	struct ping_run run = {
	    .count = PING_DEFAULT_COUNT,
	    .interval = PING_DEFAULT_INTERVAL,
	    .wait = PING_DEFAULT_WAIT,
	};
	struct sigaction sa = {.sa_handler = on_sigint}, old_sa;
	int rc = parse_options(&run, argc, argv);

	if (rc >= 0)
		return rc;
	if (cli_ctl_socket(globals, "ping", run.socket, sizeof(run.socket)) != 0)
		return CLI_FAIL;

	/* No SA_RESTART: a blocked wait must return to look at the flag. */
	sigemptyset(&sa.sa_mask);
	ping_interrupted = 0;
	sigaction(SIGINT, &sa, &old_sa);
	double next = now_seconds();
	for (unsigned seq = 1; run.count == 0 || seq <= (unsigned long)run.count; seq++) {
		struct ping_result r;
		if (seq > 1)
			sleep_until(next);
		if (ping_interrupted) {
			run.interrupted = true;
			break;
		}
		next = now_seconds() + run.interval;
		if (ping_once(&run, seq, &r) != 0)
			break;
		if (add_result(&run, &r) != 0) {
			snprintf(run.error, sizeof(run.error), "out of memory");
			break;
		}
		if (!run.json)
			print_line(&run, &r);
	}
	sigaction(SIGINT, &old_sa, NULL);

	rc = run.error[0] || run.received == 0 ? CLI_FAIL : CLI_OK;
	if (run.error[0]) {
		cli_error("ping: %s", run.error);
		if (strstr(run.error, "no address known"))
			cli_hint(
			    "give the daemon the peer's address: iron serve --peer %s@HOST:PORT",
			    run.base32);
	}
	if (run.json)
		print_json(&run, rc == CLI_OK);
	else if (run.nresults > 0 || run.interrupted)
		print_summary(&run);
	free(run.results);
	return rc;
}
