/* iron vanity: search for a key whose base32 node ID starts with a chosen
 * prefix. Never shows the secret unless asked, never replaces a key
 * without confirmation (SPEC section 4). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/encoding.h"
#include "iron/identity.h"
#include "iron/vanity.h"

/* Larger budgets are years of work; the cap keeps the counters far from
 * overflow. */
#define MAX_ATTEMPTS_LIMIT 1000000000000000000ULL
/* From this length on, the expected work is announced. */
#define WARN_PREFIX_LEN 6

struct vanity_progress {
	uint64_t expected;
	int drawn; /* a progress line is on the terminal */
};

static void vanity_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: iron vanity PREFIX [--threads N] [--max-attempts N] [--save]\n"
	    "                   [--output FILE] [--force] [--quiet] [--show-secret] [-f json]\n\n"
	    "Searches for a key whose node ID in base32 starts with PREFIX: 1 to 8\n"
	    "characters of a-z and 2-7, any case. Each character multiplies the work by\n"
	    "32: a match takes 32^length attempts on average.\n\n"
	    "Options:\n"
	    "  -t, --threads N        worker threads (default: all %ld online CPUs)\n"
	    "  -n, --max-attempts N   give up (exit 1) after N attempts\n"
	    "      --save             make the match this node's key (<state>/secret.key)\n"
	    "  -o, --output FILE      write the match's secret key to FILE (mode 0600)\n"
	    "      --force            replace an existing key without asking\n"
	    "  -q, --quiet            no progress line\n"
	    "      --show-secret      also print the secret key (hex)\n"
	    "  -f, --format FMT       text (default) or json\n"
	    "  -h, --help             show this help\n\n"
	    "The progress line (attempts, keys/s, elapsed and expected time) is shown only\n"
	    "when stderr is a terminal. An existing key is replaced only after a yes on the\n"
	    "terminal, or with --force.\n",
	    sysconf(_SC_NPROCESSORS_ONLN));
}

static void format_count(double v, char *out, size_t cap)
{
	static const char units[] = " kMGTPE";
	int u = 0;
	while (v >= 1000 && units[u + 1]) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%.0f", v);
	else
		snprintf(out, cap, "%.1f%c", v, units[u]);
}

static void format_duration(double s, char *out, size_t cap)
{
	if (s < 60)
		snprintf(out, cap, "%.0fs", s);
	else if (s < 3600)
		snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
	else if (s < 86400)
		snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
	else if (s < 365.0 * 86400)
		snprintf(out, cap, "%.1f days", s / 86400);
	else
		snprintf(out, cap, "%.1f years", s / (365.0 * 86400));
}

static void show_progress(void *ctx, uint64_t attempts, double seconds)
{
	struct vanity_progress *p = ctx;
	char done[16], rate[16], elapsed[32], expected[32] = "?";
	double per_second = seconds > 0 ? (double)attempts / seconds : 0;

	format_count((double)attempts, done, sizeof(done));
	format_count(per_second, rate, sizeof(rate));
	format_duration(seconds, elapsed, sizeof(elapsed));
	if (per_second > 0)
		format_duration((double)p->expected / per_second, expected, sizeof(expected));
	fprintf(stderr, "\r\033[K%s attempts, %s keys/s, elapsed %s, expected ~%s", done, rate,
		elapsed, expected);
	fflush(stderr);
	p->drawn = 1;
}

static int parse_count(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;
	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int prefix_error(const char *text, int err, unsigned bad)
{
	if (err == -EINVAL)
		return cli_usage_error("vanity", "the prefix is empty");
	if (err == -E2BIG)
		return cli_usage_error("vanity",
				       "prefix '%s' has %zu characters; at most %d are possible "
				       "(each one multiplies the work by 32)",
				       text, strlen(text), VANITY_PREFIX_MAX);
	if (strchr("0189", text[bad]))
		return cli_usage_error("vanity",
				       "prefix '%s': '%c' never appears in a node ID: base32 uses "
				       "only a-z and 2-7 (no 0, 1, 8 or 9)",
				       text, text[bad]);
	return cli_usage_error("vanity",
			       "prefix '%s': character %u is not in the base32 alphabet (a-z, 2-7)",
			       text, bad + 1);
}

static void print_json_result(const struct vanity_prefix *prefix, const struct iron_identity *id,
			      uint64_t attempts, double seconds, unsigned threads,
			      const char *key_file, const char *output, const char *secret)
{
	printf("{\"prefix\": \"%s\", \"found\": %s, ", prefix->text, id ? "true" : "false");
	if (id) {
		cli_json_identity(stdout, &id->id);
		fputs(", ", stdout);
	}
	printf("\"attempts\": %" PRIu64 ", \"seconds\": %.3f, \"keys_per_second\": %.0f, "
	       "\"threads\": %u",
	       attempts, seconds, seconds > 0 ? (double)attempts / seconds : 0.0, threads);
	if (key_file) {
		fputs(", \"key_file\": ", stdout);
		cli_json_string(stdout, key_file);
	}
	if (output) {
		fputs(", \"output\": ", stdout);
		cli_json_string(stdout, output);
	}
	if (secret)
		printf(", \"secret\": \"%s\"", secret);
	fputs("}\n", stdout);
}

int cmd_vanity(const struct cli_globals *globals, int argc, char **argv)
{
	static const struct option options[] = {
	    {"threads", required_argument, NULL, 't'},
	    {"max-attempts", required_argument, NULL, 'n'},
	    {"save", no_argument, NULL, 's'},
	    {"output", required_argument, NULL, 'o'},
	    {"force", no_argument, NULL, 'F'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"show-secret", no_argument, NULL, 'S'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct vanity_prefix prefix;
	struct vanity_progress progress = {0};
	struct iron_identity identity = {0};
	struct timespec start, end;
	char key_path[PATH_MAX], secret[ENCODING_HEX_LEN(IDENTITY_SEED_LEN) + 1] = "";
	const char *output = NULL;
	uint64_t threads = 0, max_attempts = 0, attempts = 0;
	int save = 0, force = 0, quiet = 0, show_secret = 0;
	bool json = false;
	int replace_key = 0, replace_output = 0, c, err, rc = CLI_FAIL;
	unsigned bad = 0;
	long cpus;
	double seconds;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:n:o:qf:h", options, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_count(optarg, 1, VANITY_THREADS_MAX, &threads) != 0)
				return cli_usage_error("vanity", "--threads: expected 1 to %d",
						       VANITY_THREADS_MAX);
			break;
		case 'n':
			if (parse_count(optarg, 1, MAX_ATTEMPTS_LIMIT, &max_attempts) != 0)
				return cli_usage_error("vanity",
						       "--max-attempts: expected a number from 1 "
						       "to 10^18");
			break;
		case 's':
			save = 1;
			break;
		case 'o':
			if (!*optarg)
				return cli_usage_error("vanity", "--output: expected a file name");
			output = optarg;
			break;
		case 'F':
			force = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'S':
			show_secret = 1;
			break;
		case 'f':
			if (cli_parse_format("vanity", optarg, &json) != 0)
				return CLI_USAGE;
			break;
		case 'h':
			vanity_usage(stdout);
			return CLI_OK;
		default:
			return cli_option_error("vanity", c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("vanity", "missing the PREFIX to search for");
	if (argc - optind > 1)
		return cli_usage_error("vanity", "unexpected argument '%s'", argv[optind + 1]);
	err = vanity_prefix_parse(argv[optind], &prefix, &bad);
	if (err)
		return prefix_error(argv[optind], err, bad);
	if (force && !save && !output)
		return cli_usage_error("vanity", "--force only applies with --save or --output");
	if (threads == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		threads = cpus < 1 ? 1 : (uint64_t)cpus;
		if (threads > VANITY_THREADS_MAX)
			threads = VANITY_THREADS_MAX;
	}

	/* Settle every overwrite question before hours of work, not after. */
	if (save) {
		if (cli_key_path(globals, key_path, sizeof(key_path)) != 0)
			return CLI_FAIL;
		replace_key = cli_may_replace("vanity", key_path, force, "--force");
		if (replace_key < 0)
			return CLI_FAIL;
	}
	if (output) {
		replace_output = cli_may_replace("vanity", output, force, "--force");
		if (replace_output < 0)
			return CLI_FAIL;
	}

	if (!save && !output && !show_secret)
		fprintf(stderr, "iron: vanity: note: the key found is not kept; add --save, "
				"--output FILE or --show-secret to keep it\n");
	progress.expected = vanity_expected_attempts(&prefix);
	if (prefix.len >= WARN_PREFIX_LEN)
		fprintf(stderr,
			"iron: vanity: warning: a prefix of %u characters takes about %" PRIu64
			" attempts on average (32^%u); this can take very long\n",
			prefix.len, progress.expected, prefix.len);
	clock_gettime(CLOCK_MONOTONIC, &start);
	err = vanity_search(&prefix, (unsigned)threads, max_attempts,
			    !quiet && isatty(STDERR_FILENO) ? show_progress : NULL, &progress,
			    &identity, &attempts);
	clock_gettime(CLOCK_MONOTONIC, &end);
	seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
	if (progress.drawn)
		fputs("\r\033[K", stderr);

	if (err == -ENOENT) {
		if (json)
			print_json_result(&prefix, NULL, attempts, seconds, (unsigned)threads, NULL,
					  NULL, NULL);
		cli_error("vanity: no match for '%s' in %" PRIu64 " attempts", prefix.text,
			  attempts);
		cli_hint("a prefix of %u characters takes %" PRIu64 " attempts on average; raise "
			 "--max-attempts",
			 prefix.len, progress.expected);
		goto out;
	}
	if (err) {
		cli_error("vanity: cannot search: %s", strerror(-err));
		goto out;
	}
	if (save && (err = identity_save(key_path, &identity, replace_key)) != 0) {
		cli_identity_error(key_path, err);
		goto out;
	}
	if (output && (err = identity_save(output, &identity, replace_output)) != 0) {
		cli_identity_error(output, err);
		goto out;
	}
	if (show_secret)
		encoding_hex_encode(identity.seed, IDENTITY_SEED_LEN, secret, sizeof(secret));

	if (json) {
		print_json_result(&prefix, &identity, attempts, seconds, (unsigned)threads,
				  save ? key_path : NULL, output, show_secret ? secret : NULL);
	} else {
		cli_print_identity(stdout, save ? key_path : NULL, &identity.id);
		if (output)
			cli_print_field(stdout, "output", output);
		if (show_secret)
			cli_print_field(stdout, "secret", secret);
	}
	char rate[16];
	format_count(seconds > 0 ? (double)attempts / seconds : 0, rate, sizeof(rate));
	fprintf(stderr,
		"iron: vanity: found after %" PRIu64
		" attempts in %.1fs (%s keys/s, %u thread%s)\n",
		attempts, seconds, rate, (unsigned)threads, threads == 1 ? "" : "s");
	rc = CLI_OK;
out:
	sodium_memzero(secret, sizeof(secret));
	identity_wipe(&identity);
	return rc;
}
