#include "iron/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iron/addr.h"
#include "iron/ctl.h"
#include "iron/identity.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("iron: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;
	fputs("  hint: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_is_terminal(FILE *stream)
{
	const char *no_color = getenv("NO_COLOR");
	return isatty(fileno(stream)) && !(no_color && *no_color);
}

char *cli_printable(const char *in, char *out, size_t out_cap)
{
	size_t n = 0;
	for (; in && *in && n + 1 < out_cap; in++)
		out[n++] = (unsigned char)*in < 0x20 || *in == 0x7f ? '?' : *in;
	out[n] = '\0';
	return out;
}

void cli_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

int cli_option_error(const char *command, int c, char **argv)
{
	/* getopt leaves the unknown short option in optopt; for a long one,
	 * argv[optind - 1] is the argument it stopped at. */
	char name[64];
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	if (strncmp(arg, "--", 2) == 0 || !optopt)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg, "="), arg);
	else
		snprintf(name, sizeof(name), "-%c", optopt);
	if (c == ':')
		return cli_usage_error(command, "option '%s' needs a value", name);
	return cli_usage_error(command, "unknown option '%s'", name);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "iron: %s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_hint("run 'iron %s --help' for its usage", command);
	return CLI_USAGE;
}

int cli_key_path(const struct cli_globals *globals, char *out, size_t out_cap)
{
	char dir[PATH_MAX];
	int err = identity_state_dir(globals->state_dir, dir, sizeof(dir), NULL);
	if (err == -ENOENT) {
		cli_error("cannot find the state directory: HOME is not set");
		cli_hint("set HOME or IRON_STATE_DIR, or pass --state-dir DIR");
		return err;
	}
	if (err == 0)
		err = identity_key_path(dir, out, out_cap);
	if (err) {
		cli_error("state directory: %s", identity_strerror(err));
		return err;
	}
	return 0;
}

int cli_ctl_socket(const struct cli_globals *globals, const char *command, char *out,
		   size_t out_cap)
{
	int err =
	    ctl_socket_path(globals->socket_path, globals->state_dir, geteuid(), out, out_cap);
	if (err == -ENOENT) {
		cli_error("%s: cannot tell where the daemon's socket is: not root and "
			  "XDG_RUNTIME_DIR is not set",
			  command);
		cli_hint("pass --socket PATH (or --state-dir DIR) as given to 'iron serve'");
	} else if (err == -ENAMETOOLONG) {
		cli_error("%s: the control socket path is too long for a Unix socket", command);
		cli_hint("use a shorter --socket PATH or --state-dir DIR");
	} else if (err < 0) {
		cli_error("%s: control socket: %s", command, strerror(-err));
	}
	return err;
}

void cli_identity_error(const char *path, int err)
{
	cli_error("%s: %s", path, identity_strerror(err));
	switch (err) {
	case -ENOENT:
		cli_hint("create a key with 'iron key generate --save', or start 'iron serve'");
		break;
	case -EPERM:
		cli_hint("chmod 600 %s", path);
		break;
	case -EINVAL:
		cli_hint("a key in hex or base64 text can be imported with 'iron key import FILE "
			 "--save'; 'iron key reset' deletes a damaged key");
		break;
	case -ELOOP:
		cli_hint("replace the link by the key file itself, or use --state-dir DIR");
		break;
	case -ENOTDIR:
		cli_hint("move that file away, or choose another place with --state-dir DIR");
		break;
	default:
		break;
	}
}

static void print_field(FILE *f, bool colour, const char *label, const char *value)
{
	/* Labels are shorter than the column; the padding keeps values aligned. */
	if (colour)
		fprintf(f, "\033[1;36m%s\033[0m%*s%s\n", label, (int)(10 - strlen(label)), "",
			value);
	else
		fprintf(f, "%-10s%s\n", label, value);
}

void cli_print_field(FILE *f, const char *label, const char *value)
{
	print_field(f, cli_is_terminal(f), label, value);
}

void cli_print_identity(FILE *f, const char *key_file, const struct iron_id *id)
{
	char hex[IRON_ID_HEX_LEN + 1], b32[IRON_ID_BASE32_LEN + 1], dom[IRON_ID_DOMAIN_SIZE];
	char ip[ADDR_STR_SIZE];
	struct in6_addr addr;
	bool colour = cli_is_terminal(f);

	id_to_hex(id, hex);
	id_to_base32(id, b32);
	id_to_domain(id, dom);
	addr_from_id(id, &addr);
	addr_format(&addr, ip);
	if (key_file)
		print_field(f, colour, "key file", key_file);
	print_field(f, colour, "hex", hex);
	print_field(f, colour, "base32", b32);
	print_field(f, colour, "domain", dom);
	print_field(f, colour, "ipv6", ip);
}

void cli_json_identity(FILE *f, const struct iron_id *id)
{
	char hex[IRON_ID_HEX_LEN + 1], b32[IRON_ID_BASE32_LEN + 1], dom[IRON_ID_DOMAIN_SIZE];
	char ip[ADDR_STR_SIZE];
	struct in6_addr addr;

	id_to_hex(id, hex);
	id_to_base32(id, b32);
	id_to_domain(id, dom);
	addr_from_id(id, &addr);
	addr_format(&addr, ip);
	/* Every value is hex, base32 or an address: no escaping needed. */
	fprintf(f, "\"node_id\": {\"hex\": \"%s\", \"base32\": \"%s\"}, ", hex, b32);
	fprintf(f, "\"network\": {\"domain\": \"%s\", \"ipv6\": \"%s\"}", dom, ip);
}

int cli_confirm(const char *question)
{
	char line[64];
	size_t n;

	if (!isatty(STDIN_FILENO))
		return -ENOTTY;
	fprintf(stderr, "%s (y/N) ", question);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin)) {
		fputc('\n', stderr);
		return 0;
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

int cli_may_replace(const char *command, const char *path, int force, const char *force_flag)
{
	struct stat st;
	char question[PATH_MAX + 64];
	int answer;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		cli_identity_error(path, -errno);
		return -1;
	}
	if (S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)) {
		cli_identity_error(path, S_ISLNK(st.st_mode) ? -ELOOP : -EISDIR);
		return -1;
	}
	if (force)
		return 1;
	snprintf(question, sizeof(question), "%s already exists. Replace it? The old key is lost.",
		 path);
	answer = cli_confirm(question);
	if (answer == 1)
		return 1;
	if (answer == -ENOTTY) {
		cli_error("%s: refusing to replace the existing key %s without confirmation",
			  command, path);
		cli_hint("stdin is not a terminal; pass %s to replace it", force_flag);
	} else {
		cli_error("%s: not replacing %s", command, path);
	}
	return -1;
}

int cli_parse_format(const char *command, const char *value, bool *json)
{
	if (strcmp(value, "json") == 0)
		*json = true;
	else if (strcmp(value, "text") == 0)
		*json = false;
	else
		return cli_usage_error(command, "unknown format '%s' (text or json)", value);
	return 0;
}
