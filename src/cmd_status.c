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
#define SUMMARY_ROWS	  20 /* peers in the table without --all */
#define CURSOR_MAX	  128

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
	fprintf(f,
		"Usage: iron status [-a] [-f json]\n\n"
		"Asks the running daemon (its control socket) for its state: the node's\n"
		"identity, uptime, TUN, listen and DNS addresses, relay, and a table of\n"
		"peers with their path, round-trip time, traffic and last activity.\n"
		"With more than %d peers the table holds only the connected and static\n"
		"ones (at most %d) and says how many more there are.\n\n"
		"Options:\n"
		"  -a, --all           list every peer in the table\n"
		"  -f, --format FMT    text (default) or json: the daemon's reply, one line,\n"
		"                      always with every peer\n"
		"  -h, --help          show this help\n\n"
		"The socket is --socket PATH, else <state>/iron.sock with --state-dir or\n"
		"IRON_STATE_DIR, else /run/iron/iron.sock (root) or\n"
		"$XDG_RUNTIME_DIR/iron.sock.\n",
		SUMMARY_ROWS, SUMMARY_ROWS);
}

static void peers_usage(FILE *f)
{
	fprintf(f,
		"Usage: iron peers [-a] [-f json]\n\n"
		"Lists the peers the running daemon knows: ID, overlay address, path\n"
		"(direct, relay or none, with the remote address), round-trip time,\n"
		"bytes and packets in and out, last activity and protocol (ALPN).\n"
		"With more than %d peers only the connected and static ones are listed\n"
		"(at most %d), with a count of the rest.\n\n"
		"Options:\n"
		"  -a, --all           list every peer\n"
		"  -f, --format FMT    text (default) or json: the daemon's reply\n"
		"                      {\"ok\":true,\"peers\":[...],...}, one line, always\n"
		"                      with every peer\n"
		"  -h, --help          show this help\n",
		SUMMARY_ROWS, SUMMARY_ROWS);
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
static int print_peers(FILE *f, const struct json_value *const *peers, size_t count, bool colour)
{
	size_t n = 0, width[COLS];
	struct peer_row *rows;

	if (count == 0) {
		fprintf(f, "no peers\n");
		return 0;
	}
	rows = calloc(count, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++)
		if (json_is_object(peers[i]))
			fill_row(peers[i], &rows[n++]);
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

/* --- peers from one or more replies ------------------------------------------ */

/* The peers of one or more replies (pages, see docs/control.md), with the
 * daemon's totals. */
struct peer_list {
	struct json_doc **docs;
	char **texts;
	size_t ndocs;
	const struct json_value **items;
	size_t n, cap;
	uint64_t total, connected;
	bool filtered; /* items are the connected and static peers only */
};

static void peer_list_free(struct peer_list *list)
{
	for (size_t i = 0; i < list->ndocs; i++) {
		json_free(list->docs[i]);
		free(list->texts[i]);
	}
	free(list->docs);
	free(list->texts);
	free(list->items);
	memset(list, 0, sizeof(*list));
}

/* Adds a reply's peers; the list takes ownership of text and doc. With
 * only_active, of those only the connected and static ones, at most
 * SUMMARY_ROWS. Returns 0 or -ENOMEM (text and doc are freed). */
static int peer_list_add(struct peer_list *list, char *text, struct json_doc *doc, bool only_active)
{
	const struct json_value *peers = json_get(json_root(doc), "peers");
	struct json_doc **docs = realloc(list->docs, (list->ndocs + 1) * sizeof(*docs));
	if (docs)
		list->docs = docs;
	char **texts = docs ? realloc(list->texts, (list->ndocs + 1) * sizeof(*texts)) : NULL;
	if (!texts) {
		json_free(doc);
		free(text);
		return -ENOMEM;
	}
	list->texts = texts;
	list->docs[list->ndocs] = doc;
	list->texts[list->ndocs++] = text;
	for (const struct json_value *p = json_first(peers); p; p = json_next(p)) {
		if (only_active &&
		    (list->n == SUMMARY_ROWS || (!json_bool(json_get(p, "connected"), false) &&
						 !json_bool(json_get(p, "static"), false))))
			continue;
		if (list->n == list->cap) {
			size_t cap = list->cap ? list->cap * 2 : 64;
			const struct json_value **grown =
			    realloc(list->items, cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			list->items = grown;
			list->cap = cap;
		}
		list->items[list->n++] = p;
	}
	return 0;
}

/* The daemon's totals, or for one that gives none (older versions, which
 * sent every peer at once) what its list holds. */
static void peer_list_totals(struct peer_list *list, const struct json_value *root)
{
	const struct json_value *peers = json_get(root, "peers");
	uint64_t connected = 0;
	for (const struct json_value *p = json_first(peers); p; p = json_next(p))
		connected += json_bool(json_get(p, "connected"), false);
	list->total =
	    json_uint(json_get(root, "peers_total"), json_is_array(peers) ? peers->len : 0);
	list->connected = json_uint(json_get(root, "peers_connected"), connected);
}

/* The cursor of the next page, when the reply has one: true with it in
 * out (checked to be plain base32, as the daemon writes it, so it may go
 * into a request as it is). */
static bool next_cursor(const struct json_value *root, char *out, size_t cap)
{
	const char *next = json_string(json_get(root, "peers_next"), NULL);
	size_t len = next ? strlen(next) : 0;
	if (len == 0 || len >= cap)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((next[i] >= 'a' && next[i] <= 'z') || (next[i] >= '0' && next[i] <= '9')))
			return false;
	memcpy(out, next, len + 1);
	return true;
}

/* "N more peers not shown" when the table left some out. */
static void print_not_shown(const struct peer_list *list, const char *command)
{
	if (list->total <= list->n)
		return;
	printf("\n%" PRIu64 " more peer%s not shown%s: `iron %s --all` lists every one\n",
	       list->total - list->n, list->total - list->n == 1 ? "" : "s",
	       list->filtered ? " (only connected and static peers are)" : "", command);
}

/* A parsed value written back as JSON (numbers as the daemon wrote them). */
static void print_json(FILE *f, const struct json_value *v)
{
	bool first = true;
	switch (v->type) {
	case JSON_NULL:
		fputs("null", f);
		break;
	case JSON_BOOL:
		fputs(v->boolean ? "true" : "false", f);
		break;
	case JSON_NUMBER:
		fwrite(v->string, 1, v->len, f);
		break;
	case JSON_STRING:
		cli_json_string(f, v->string);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		fputc(v->type == JSON_ARRAY ? '[' : '{', f);
		for (const struct json_value *m = json_first(v); m; m = json_next(m)) {
			if (!first)
				fputc(',', f);
			first = false;
			if (v->type == JSON_OBJECT) {
				cli_json_string(f, m->key);
				fputc(':', f);
			}
			print_json(f, m);
		}
		fputc(v->type == JSON_ARRAY ? ']' : '}', f);
		break;
	}
}

/* The first reply with the peers of every page in its "peers", one line:
 * what an older daemon sent in one reply, whatever the number of peers. */
static void print_json_all(const struct peer_list *list)
{
	const struct json_value *root = json_root(list->docs[0]);
	bool first = true;
	putchar('{');
	for (const struct json_value *m = json_first(root); m; m = json_next(m)) {
		if (strcmp(m->key, "peers") == 0 || strcmp(m->key, "peers_next") == 0)
			continue;
		if (!first)
			putchar(',');
		first = false;
		cli_json_string(stdout, m->key);
		putchar(':');
		print_json(stdout, m);
	}
	fputs(first ? "\"peers\":[" : ",\"peers\":[", stdout);
	for (size_t i = 0; i < list->n; i++) {
		if (i)
			putchar(',');
		print_json(stdout, list->items[i]);
	}
	fputs("],\"peers_next\":null}\n", stdout);
}

/* "11.22.33.1:4766 by upnp (for 3600 s)", "none yet (3 requests, 1 failed)"
 * or "off". */
static void format_port_mapping(const struct json_value *pm, char *out, size_t cap)
{
	char external[CELL_SIZE], protocol[CELL_SIZE], lifetime[CELL_SIZE];
	uint64_t requests = json_uint(json_get(pm, "requests"), 0);
	if (!json_bool(json_get(pm, "on"), false)) {
		snprintf(out, cap, "off");
		return;
	}
	if (!json_bool(json_get(pm, "mapped"), false)) {
		snprintf(out, cap, "none yet (%" PRIu64 " request%s, %" PRIu64 " failed)", requests,
			 requests == 1 ? "" : "s", json_uint(json_get(pm, "failures"), 0));
		return;
	}
	cli_printable(json_string(json_get(pm, "external"), "?"), external, sizeof(external));
	cli_printable(json_string(json_get(pm, "protocol"), "?"), protocol, sizeof(protocol));
	uint64_t lifetime_s = json_uint(json_get(pm, "lifetime_s"), 0);
	if (lifetime_s)
		snprintf(lifetime, sizeof(lifetime), "for %" PRIu64 " s", lifetime_s);
	else
		snprintf(lifetime, sizeof(lifetime), "permanent");
	snprintf(out, cap, "%s by %s (%s)", external, protocol, lifetime);
}

static void print_status(const struct json_value *root, const struct peer_list *list)
{
	const struct json_value *node = json_get(root, "node");
	const struct json_value *tun = json_get(root, "tun");
	const struct json_value *relay = json_get(root, "relay");
	const struct json_value *registry = json_get(root, "registry");
	const struct json_value *port_mapping =
	    json_get(json_get(root, "discovery"), "port_mapping");
	bool colour = cli_is_terminal(stdout);
	char text[1024], a[CELL_SIZE], b[CELL_SIZE];

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
	if (port_mapping) {
		format_port_mapping(port_mapping, text, sizeof(text));
		cli_print_field(stdout, "port map", text);
	}
	if (registry) {
		snprintf(text, sizeof(text), "%" PRIu64 " of %" PRIu64 " entries",
			 json_uint(json_get(registry, "entries"), 0),
			 json_uint(json_get(registry, "capacity"), 0));
		cli_print_field(stdout, "registry", text);
	}
	const struct json_value *inbound = json_get(root, "inbound");
	if (inbound) {
		const char *policy = json_string(json_get(inbound, "policy"), "?");
		uint64_t refused = json_uint(json_get(inbound, "refused"), 0);
		uint64_t allowed = json_uint(json_get(inbound, "allowed"), 0);
		if (strcmp(policy, "open") == 0)
			snprintf(text, sizeof(text), "open: any node may connect");
		else
			snprintf(text, sizeof(text),
				 "allow-list of %" PRIu64 " node%s, %" PRIu64 " refused", allowed,
				 allowed == 1 ? "" : "s", refused);
		cli_print_field(stdout, "inbound", text);
	}
	cli_printable(json_string(json_get(root, "version"), "?"), b, sizeof(b));
	snprintf(text, sizeof(text), "iron %s, pid %" PRId64, b,
		 json_int(json_get(root, "pid"), 0));
	cli_print_field(stdout, "daemon", text);
	snprintf(text, sizeof(text), "%" PRIu64 " known, %" PRIu64 " connected", list->total,
		 list->connected);
	cli_print_field(stdout, "peers", text);
	if (list->n > 0) {
		putchar('\n');
		print_peers(stdout, list->items, list->n, colour);
	}
	print_not_shown(list, "status");
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

/* Sends request (a request line) and checks the reply is a JSON object
 * with "ok":true. Returns CLI_OK with *text (the reply, caller frees) and
 * *doc (caller frees), or the exit code after reporting the failure as
 * command's. */
static int ask_daemon(const struct cli_globals *globals, const char *command, const char *request,
		      bool json, char **text, struct json_doc **doc)
{
	char path[PATH_MAX], message[PATH_MAX + 256] = "";
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

/* Options shared by status and peers: -a, -f text|json, --help. Returns -1
 * to go on, else the exit code. */
static int parse_options(const char *command, void (*usage)(FILE *), int argc, char **argv,
			 bool *json, bool *all)
{
	static const struct option options[] = {
	    {"all", no_argument, NULL, 'a'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*json = false;
	*all = false;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":af:h", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			*all = true;
			break;
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

/* Asks command's first page and, for every peer (all), the pages after
 * it, or for a summary (!all) with more peers than a table shows, the
 * connected and static ones. Returns CLI_OK with list filled (its first
 * document is the first reply), or the exit code after reporting. */
static int gather(const struct cli_globals *globals, const char *command, bool json, bool all,
		  struct peer_list *list)
{
	char request[64 + CURSOR_MAX], cursor[CURSOR_MAX], previous[CURSOR_MAX] = "";
	struct json_doc *doc;
	char *text;
	int rc;

	memset(list, 0, sizeof(*list));
	if (all)
		snprintf(request, sizeof(request), "{\"cmd\":\"%s\"}", command);
	else
		snprintf(request, sizeof(request), "{\"cmd\":\"%s\",\"limit\":%d}", command,
			 SUMMARY_ROWS);
	if ((rc = ask_daemon(globals, command, request, json, &text, &doc)) != CLI_OK)
		return rc;
	const struct json_value *root = json_root(doc);
	const struct json_value *peers = json_get(root, "peers");
	bool more = next_cursor(root, cursor, sizeof(cursor));
	peer_list_totals(list, root);
	if (!all && (more || (json_is_array(peers) && peers->len > SUMMARY_ROWS))) {
		/* A summary: the peers worth a row. An older daemon sent them
		 * all at once; a newer one is asked for them. */
		list->filtered = true;
		if (!more) {
			rc = peer_list_add(list, text, doc, true);
			goto out;
		}
		if ((rc = peer_list_add(list, text, doc, false)) != 0)
			goto out;
		list->n = 0;
		snprintf(request, sizeof(request),
			 "{\"cmd\":\"peers\",\"filter\":\"active\",\"limit\":%d}", SUMMARY_ROWS);
		if ((rc = ask_daemon(globals, command, request, json, &text, &doc)) != CLI_OK)
			goto out;
		rc = peer_list_add(list, text, doc, true);
		goto out;
	}
	if ((rc = peer_list_add(list, text, doc, false)) != 0)
		goto out;
	/* Every page; a cursor that does not move on would loop forever. */
	while (all && more && strcmp(cursor, previous) != 0) {
		snprintf(request, sizeof(request), "{\"cmd\":\"peers\",\"after\":\"%s\"}", cursor);
		if ((rc = ask_daemon(globals, command, request, json, &text, &doc)) != CLI_OK)
			goto out;
		memcpy(previous, cursor, sizeof(previous));
		more = next_cursor(json_root(doc), cursor, sizeof(cursor));
		if ((rc = peer_list_add(list, text, doc, false)) != 0)
			goto out;
	}
out:
	if (rc == -ENOMEM)
		rc = report(command, json, "out of memory");
	if (rc != CLI_OK)
		peer_list_free(list);
	return rc;
}

int cmd_status(const struct cli_globals *globals, int argc, char **argv)
{
	struct peer_list list;
	bool json, all;
	int rc = parse_options("status", status_usage, argc, argv, &json, &all);

	if (rc >= 0)
		return rc;
	/* JSON always holds every peer: scripts read it. */
	if ((rc = gather(globals, "status", json, all || json, &list)) != CLI_OK)
		return rc;
	if (json && list.ndocs == 1)
		printf("%s\n", list.texts[0]); /* the reply as it came */
	else if (json)
		print_json_all(&list);
	else
		print_status(json_root(list.docs[0]), &list);
	peer_list_free(&list);
	return CLI_OK;
}

int cmd_peers(const struct cli_globals *globals, int argc, char **argv)
{
	struct peer_list list;
	bool json, all;
	int rc = parse_options("peers", peers_usage, argc, argv, &json, &all);

	if (rc >= 0)
		return rc;
	if ((rc = gather(globals, "peers", json, all || json, &list)) != CLI_OK)
		return rc;
	if (json && list.ndocs == 1) {
		printf("%s\n", list.texts[0]);
	} else if (json) {
		print_json_all(&list);
	} else if ((list.n > 0 || list.total == 0) &&
		   print_peers(stdout, list.items, list.n, cli_is_terminal(stdout)) != 0) {
		cli_error("peers: out of memory");
		rc = CLI_FAIL;
	} else {
		print_not_shown(&list, "peers");
	}
	peer_list_free(&list);
	return rc;
}
