/* iron status, iron peers: ask the running daemon over the control socket
 * (docs/control.md) and show its reply, as a readable block and table or
 * as the reply's JSON itself. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/ctl.h"
#include "iron/json.h"

#define STATUS_TIMEOUT_MS 5000
#define CELL_SIZE	  96
#define PEER_SHORT_LEN	  10 /* characters of base32 shown in the table */

/* ANSI styles, used only on a terminal. */
#define STYLE_BOLD  "\033[1m"
#define STYLE_DIM   "\033[2m"
#define STYLE_GREEN "\033[32m"
#define STYLE_RESET "\033[0m"

enum peer_column {
	COL_PEER,
	COL_ADDRESS,
	COL_PATH,
	COL_RTT,
	COL_IN,
	COL_OUT,
	COL_LAST,
	COL_ALPN,
	COLS
};

static const char *const column_names[COLS] = {"PEER", "ADDRESS", "PATH", "RTT",
					       "IN",   "OUT",	  "LAST", "ALPN"};

struct peer_row {
	char cell[COLS][CELL_SIZE];
	bool connected;
};

static void status_usage(FILE *f)
{
	fprintf(f, "Usage: iron status [-f json]\n\n"
		   "Asks the running daemon (its control socket) for its state: the node's\n"
		   "identity, uptime, TUN, listen and DNS addresses, relay, and a table of\n"
		   "peers with their path, round-trip time, traffic and last activity.\n\n"
		   "Options:\n"
		   "  -f, --format FMT    text (default) or json: the daemon's reply, one line\n"
		   "  -h, --help          show this help\n\n"
		   "The socket is --socket PATH, else <state>/iron.sock with --state-dir or\n"
		   "IRON_STATE_DIR, else /run/iron/iron.sock (root) or\n"
		   "$XDG_RUNTIME_DIR/iron.sock.\n");
}

static void peers_usage(FILE *f)
{
	fprintf(f, "Usage: iron peers [-f json]\n\n"
		   "Lists the peers the running daemon knows: ID, overlay address, path\n"
		   "(direct, relay or none, with the remote address), round-trip time,\n"
		   "bytes and packets in and out, last activity and protocol (ALPN).\n\n"
		   "Options:\n"
		   "  -f, --format FMT    text (default) or json: the daemon's reply\n"
		   "                      {\"ok\":true,\"peers\":[...]}, one line\n"
		   "  -h, --help          show this help\n");
}

/* --- formatting ------------------------------------------------------------ */

/* Columns on the screen: UTF-8 continuation bytes take none. */
static size_t display_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void format_bytes(uint64_t n, char *out, size_t cap)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	int unit = -1;
	if (n < 1024) {
		snprintf(out, cap, "%" PRIu64 " B", n);
		return;
	}
	while (v >= 1024 && unit < 5) {
		v /= 1024;
		unit++;
	}
	snprintf(out, cap, "%.1f %s", v, units[unit]);
}

/* 42s, 2m 3s, 1h 2m 3s, 3d 4h 5m. */
static void format_duration(double seconds, char *out, size_t cap)
{
	uint64_t s = seconds >= 0 && seconds < 1e15 ? (uint64_t)seconds : 0;
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	s %= 60;
	if (d)
		snprintf(out, cap, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h, m);
	else if (h)
		snprintf(out, cap, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s);
	else if (m)
		snprintf(out, cap, "%" PRIu64 "m %" PRIu64 "s", m, s);
	else
		snprintf(out, cap, "%" PRIu64 "s", s);
}

static void format_ago(const struct json_value *v, char *out, size_t cap)
{
	double s = json_number(v, NAN);
	char d[48];
	if (!(s >= 0)) {
		snprintf(out, cap, "-");
	} else if (s < 10) {
		snprintf(out, cap, "%.1fs ago", s);
	} else {
		format_duration(s, d, sizeof(d));
		snprintf(out, cap, "%s ago", d);
	}
}

static void format_traffic(const struct json_value *peer, const char *bytes_key,
			   const char *packets_key, char *out, size_t cap)
{
	char bytes[32];
	uint64_t packets = json_uint(json_get(peer, packets_key), 0);
	format_bytes(json_uint(json_get(peer, bytes_key), 0), bytes, sizeof(bytes));
	snprintf(out, cap, "%s (%" PRIu64 " pkt%s)", bytes, packets, packets == 1 ? "" : "s");
}

static void fill_row(const struct json_value *peer, struct peer_row *row)
{
	char id[CELL_SIZE], path[CELL_SIZE], remote[CELL_SIZE];
	double rtt = json_number(json_get(peer, "rtt_ms"), NAN);
	const char *remote_text = json_string(json_get(peer, "remote"), NULL);

	cli_printable(json_string(json_get(peer, "id"), "?"), id, sizeof(id));
	if (display_width(id) > PEER_SHORT_LEN)
		snprintf(row->cell[COL_PEER], CELL_SIZE, "%.*s\u2026", PEER_SHORT_LEN, id);
	else
		snprintf(row->cell[COL_PEER], CELL_SIZE, "%s", id);
	cli_printable(json_string(json_get(peer, "ipv6"), "-"), row->cell[COL_ADDRESS], CELL_SIZE);
	cli_printable(json_string(json_get(peer, "path"), "none"), path, sizeof(path));
	cli_printable(remote_text, remote, sizeof(remote));
	const char *source_text = json_string(json_get(peer, "source"), NULL);
	char source[16] = "";
	if (source_text)
		cli_printable(source_text, source, sizeof(source));
	if (remote_text && source[0])
		snprintf(row->cell[COL_PATH], CELL_SIZE, "%.12s %.56s (%.12s)", path, remote,
			 source);
	else if (remote_text)
		snprintf(row->cell[COL_PATH], CELL_SIZE, "%.20s %.64s", path, remote);
	else
		snprintf(row->cell[COL_PATH], CELL_SIZE, "%s", path);
	if (rtt >= 0)
		snprintf(row->cell[COL_RTT], CELL_SIZE, "%.2f ms", rtt);
	else
		snprintf(row->cell[COL_RTT], CELL_SIZE, "-");
	format_traffic(peer, "bytes_in", "packets_in", row->cell[COL_IN], CELL_SIZE);
	format_traffic(peer, "bytes_out", "packets_out", row->cell[COL_OUT], CELL_SIZE);
	format_ago(json_get(peer, "last_activity_s"), row->cell[COL_LAST], CELL_SIZE);
	cli_printable(json_string(json_get(peer, "alpn"), "-"), row->cell[COL_ALPN], CELL_SIZE);
	row->connected = json_bool(json_get(peer, "connected"), false);
}

static void print_cell(FILE *f, const char *text, size_t width, bool last)
{
	fputs(text, f);
	if (!last)
		fprintf(f, "%*s", (int)(width - display_width(text) + 2), "");
}

/* The peers table; a connected peer gets a green dot on a terminal. */
static int print_peers(FILE *f, const struct json_value *peers, bool colour)
{
	size_t n = 0, width[COLS];
	struct peer_row *rows;

	if (!json_is_array(peers) || peers->len == 0) {
		fprintf(f, "no peers\n");
		return 0;
	}
	rows = calloc(peers->len, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (const struct json_value *p = json_first(peers); p; p = json_next(p))
		if (json_is_object(p))
			fill_row(p, &rows[n++]);
	for (int c = 0; c < COLS; c++) {
		width[c] = strlen(column_names[c]);
		for (size_t i = 0; i < n; i++)
			if (display_width(rows[i].cell[c]) > width[c])
				width[c] = display_width(rows[i].cell[c]);
	}
	if (colour)
		fputs("  " STYLE_BOLD, f);
	for (int c = 0; c < COLS; c++)
		print_cell(f, column_names[c], width[c], c == COLS - 1);
	fputs(colour ? STYLE_RESET "\n" : "\n", f);
	for (size_t i = 0; i < n; i++) {
		if (colour)
			fputs(rows[i].connected ? STYLE_GREEN "\u25cf" STYLE_RESET " "
						: STYLE_DIM "\u25cb" STYLE_RESET " ",
			      f);
		for (int c = 0; c < COLS; c++)
			print_cell(f, rows[i].cell[c], width[c], c == COLS - 1);
		fputc('\n', f);
	}
	free(rows);
	return 0;
}

/* "a, b, c" from an array of strings; "none" when empty. */
static void join_strings(const struct json_value *array, char *out, size_t cap)
{
	size_t n = 0;
	char item[CELL_SIZE];
	out[0] = '\0';
	for (const struct json_value *v = json_first(array); v; v = json_next(v)) {
		cli_printable(json_string(v, "?"), item, sizeof(item));
		int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", item);
		if (w < 0 || (size_t)w >= cap - n)
			break;
		n += (size_t)w;
	}
	if (n == 0)
		snprintf(out, cap, "none");
}

static void print_status(const struct json_value *root)
{
	const struct json_value *node = json_get(root, "node");
	const struct json_value *tun = json_get(root, "tun");
	const struct json_value *relay = json_get(root, "relay");
	const struct json_value *registry = json_get(root, "registry");
	const struct json_value *peers = json_get(root, "peers");
	bool colour = cli_is_terminal(stdout);
	char text[1024], a[CELL_SIZE], b[CELL_SIZE];
	size_t connected = 0;

	cli_printable(json_string(json_get(node, "base32"), "?"), text, sizeof(text));
	cli_print_field(stdout, "node", text);
	cli_printable(json_string(json_get(node, "domain"), "?"), text, sizeof(text));
	cli_print_field(stdout, "domain", text);
	cli_printable(json_string(json_get(node, "ipv6"), "?"), text, sizeof(text));
	cli_print_field(stdout, "ipv6", text);
	format_duration(json_number(json_get(root, "uptime_s"), 0), text, sizeof(text));
	cli_print_field(stdout, "uptime", text);
	cli_printable(json_string(json_get(tun, "name"), "?"), a, sizeof(a));
	snprintf(text, sizeof(text), "%s (mtu %" PRId64 ")", a, json_int(json_get(tun, "mtu"), 0));
	cli_print_field(stdout, "tun", text);
	join_strings(json_get(root, "listen"), text, sizeof(text));
	cli_print_field(stdout, "listen", text);
	join_strings(json_get(root, "dns"), text, sizeof(text));
	cli_print_field(stdout, "dns", text);
	if (json_string(relay, NULL))
		cli_printable(json_string(relay, NULL), text, sizeof(text));
	else if (json_is_array(relay))
		join_strings(relay, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "none");
	cli_print_field(stdout, "relay", text);
	if (registry) {
		snprintf(text, sizeof(text), "%" PRIu64 " of %" PRIu64 " entries",
			 json_uint(json_get(registry, "entries"), 0),
			 json_uint(json_get(registry, "capacity"), 0));
		cli_print_field(stdout, "registry", text);
	}
	cli_printable(json_string(json_get(root, "version"), "?"), b, sizeof(b));
	snprintf(text, sizeof(text), "iron %s, pid %" PRId64, b,
		 json_int(json_get(root, "pid"), 0));
	cli_print_field(stdout, "daemon", text);
	for (const struct json_value *p = json_first(peers); p; p = json_next(p))
		connected += json_bool(json_get(p, "connected"), false);
	snprintf(text, sizeof(text), "%zu known, %zu connected",
		 json_is_array(peers) ? peers->len : 0, connected);
	cli_print_field(stdout, "peers", text);
	if (json_is_array(peers) && peers->len > 0) {
		putchar('\n');
		print_peers(stdout, peers, colour);
	}
}

/* --- the request ----------------------------------------------------------- */

/* Reports a failure (stderr, and as a JSON document on stdout with -f json).
 * Returns CLI_FAIL. */
static int report(const char *command, bool json, const char *message)
{
	cli_error("%s: %s", command, message);
	if (json) {
		printf("{\"ok\":false,\"error\":");
		cli_json_string(stdout, message);
		printf("}\n");
	}
	return CLI_FAIL;
}

/* Sends {"cmd":"<command>"} and checks the reply is a JSON object with
 * "ok":true. Returns CLI_OK with *text (the reply, caller frees) and *doc
 * (caller frees), or the exit code after reporting the failure. */
static int ask_daemon(const struct cli_globals *globals, const char *command, bool json,
		      char **text, struct json_doc **doc)
{
	char path[PATH_MAX], request[64], message[PATH_MAX + 256] = "";
	const char *why = NULL;
	size_t where = 0;
	int err, rc = CLI_FAIL;

	*text = NULL;
	*doc = NULL;
	if (cli_ctl_socket(globals, command, path, sizeof(path)) != 0) {
		if (json)
			printf("{\"ok\":false,\"error\":\"cannot find the control socket\"}\n");
		return CLI_FAIL;
	}
	snprintf(request, sizeof(request), "{\"cmd\":\"%s\"}", command);
	err = ctl_call(path, request, text, STATUS_TIMEOUT_MS);
	if (err < 0) {
		ctl_describe_error(err, path, message, sizeof(message));
		goto out;
	}
	err = json_parse(*text, strlen(*text), doc, &why, &where);
	if (err < 0) {
		snprintf(message, sizeof(message),
			 "the daemon's reply is not valid JSON (%s at byte %zu)",
			 why ? why : strerror(-err), where);
		goto out;
	}
	const struct json_value *root = json_root(*doc);
	if (!json_is_object(root)) {
		snprintf(message, sizeof(message), "the daemon's reply is not a JSON object");
		goto out;
	}
	if (!json_bool(json_get(root, "ok"), false)) {
		char reason[512];
		cli_printable(json_string(json_get(root, "error"), "the daemon gave no reason"),
			      reason, sizeof(reason));
		cli_error("%s: the daemon answered: %s", command, reason);
		if (json)
			printf("%s\n", *text); /* already one JSON document */
		goto out;
	}
	rc = CLI_OK;
out:
	if (rc != CLI_OK) {
		if (message[0])
			report(command, json, message);
		json_free(*doc);
		free(*text);
		*doc = NULL;
		*text = NULL;
	}
	return rc;
}

/* Options shared by status and peers: -f text|json, --help. Returns -1 to
 * go on, else the exit code. */
static int parse_options(const char *command, void (*usage)(FILE *), int argc, char **argv,
			 bool *json)
{
	static const struct option options[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*json = false;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (cli_parse_format(command, optarg, json) != 0)
				return CLI_USAGE;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		default:
			return cli_option_error(command, c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
	return -1;
}

int cmd_status(const struct cli_globals *globals, int argc, char **argv)
{
	struct json_doc *doc;
	char *text;
	bool json;
	int rc = parse_options("status", status_usage, argc, argv, &json);

	if (rc >= 0)
		return rc;
	if ((rc = ask_daemon(globals, "status", json, &text, &doc)) != CLI_OK)
		return rc;
	if (json)
		printf("%s\n", text);
	else
		print_status(json_root(doc));
	json_free(doc);
	free(text);
	return CLI_OK;
}

int cmd_peers(const struct cli_globals *globals, int argc, char **argv)
{
	struct json_doc *doc;
	char *text;
	bool json;
	int rc = parse_options("peers", peers_usage, argc, argv, &json);

	if (rc >= 0)
		return rc;
	if ((rc = ask_daemon(globals, "peers", json, &text, &doc)) != CLI_OK)
		return rc;
	if (json) {
		printf("%s\n", text);
		rc = CLI_OK;
	} else if (print_peers(stdout, json_get(json_root(doc), "peers"),
			       cli_is_terminal(stdout)) != 0) {
		cli_error("peers: out of memory");
		rc = CLI_FAIL;
	}
	json_free(doc);
	free(text);
	return rc;
}
