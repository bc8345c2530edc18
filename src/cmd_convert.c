/* iron convert: a node ID from one text form to the others (SPEC section
 * 2). The IPv6 address is derived from the ID, never the other way round. */
#include <arpa/inet.h>
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iron/addr.h"
#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/id.h"

#define WHY_SIZE 160

enum convert_target { TO_ALL, TO_HEX, TO_BASE32, TO_DOMAIN, TO_IPV6 };

static const char *const target_names[] = {"all", "hex", "base32", "domain", "ipv6"};
static const char *const form_names[] = {
    [ID_FORM_HEX] = "hex", [ID_FORM_BASE32] = "base32", [ID_FORM_DOMAIN] = "domain"};

static void convert_usage(FILE *f)
{
	fprintf(f, "Usage: iron convert VALUE [--to hex|base32|domain|iron|ipv6] [-f json]\n\n"
		   "Converts a node ID given as a domain (<base32>.iron), base32 (52 characters)\n"
		   "or hex (64 digits), detected in that order and in any case, to its other\n"
		   "forms. Without --to, prints all four forms (hex, base32, domain, IPv6).\n"
		   "An IPv6 address cannot be converted: the address is derived from the ID.\n\n"
		   "Options:\n"
		   "  -t, --to FORM       print only this form (iron is the same as domain)\n"
		   "  -f, --format FMT    text (default) or json\n"
		   "  -h, --help          show this help\n");
}

/* Quotes one character of user input for a message. */
static void describe_char(char c, char *out, size_t cap)
{
	if (isprint((unsigned char)c))
		snprintf(out, cap, "'%c'", c);
	else
		snprintf(out, cap, "byte 0x%02x", (unsigned char)c);
}

static int base32_value(char c)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	const char *p = c ? strchr(alphabet, tolower((unsigned char)c)) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* Why len characters of s are not a base32 node ID. The checks come in
 * the order a user can act on them. */
static void explain_base32(const char *s, size_t len, char *why, size_t cap)
{
	char what[16];
	if (memchr(s, '=', len)) {
		snprintf(why, cap,
			 "'=' padding is not allowed (a node ID is 52 characters, unpadded)");
		return;
	}
	if (len != IRON_ID_BASE32_LEN) {
		snprintf(why, cap, "it has %zu characters, a node ID has %d", len,
			 IRON_ID_BASE32_LEN);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (base32_value(s[i]) >= 0)
			continue;
		describe_char(s[i], what, sizeof(what));
		snprintf(why, cap, "%s at position %zu is not a base32 character (a-z, 2-7)", what,
			 i + 1);
		return;
	}
	/* 52 characters carry 260 bits; the last one holds 1 bit of the key
	 * and 4 bits that must be zero. */
	if ((base32_value(s[len - 1]) & 15) != 0) {
		snprintf(why, cap,
			 "non-zero trailing bits: the last character must be 'a' or 'q', not '%c'",
			 s[len - 1]);
		return;
	}
	snprintf(why, cap, "it decodes to 32 bytes that are not a valid Ed25519 public key");
}

static void explain_hex(const char *s, size_t len, char *why, size_t cap)
{
	char what[16];
	if (len != IRON_ID_HEX_LEN) {
		snprintf(why, cap, "it has %zu digits, a node ID has %d", len, IRON_ID_HEX_LEN);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (isxdigit((unsigned char)s[i]))
			continue;
		describe_char(s[i], what, sizeof(what));
		snprintf(why, cap, "%s at position %zu is not a hex digit", what, i + 1);
		return;
	}
	snprintf(why, cap, "it decodes to 32 bytes that are not a valid Ed25519 public key");
}

/* Guesses which form text that id_parse() rejected was meant to be, and
 * writes what is wrong with it. Returns the name of the guessed form. */
static const char *explain_bad_id(const char *text, char *why, size_t cap)
{
	size_t len = strlen(text), digits = strspn(text, "0123456789abcdefABCDEF");

	if (strchr(text, '.')) {
		size_t n = len;
		if (n > 0 && text[n - 1] == '.')
			n--;
		if (n < 5 || strncasecmp(text + n - 5, ".iron", 5) != 0)
			snprintf(why, cap, "the name does not end in .iron");
		else if (memchr(text, '.', n - 5))
			snprintf(why, cap, "expected exactly one label before .iron");
		else
			explain_base32(text, n - 5, why, cap);
		return "domain";
	}
	if (len == IRON_ID_HEX_LEN ||
	    (digits == len && len != IRON_ID_BASE32_LEN && !strchr(text, '='))) {
		explain_hex(text, len, why, cap);
		return "hex";
	}
	explain_base32(text, len, why, cap);
	return "base32";
}

static int print_json(const char *input, enum id_form form, enum convert_target to,
		      const struct iron_id *id)
{
	char text[IRON_ID_DOMAIN_SIZE + ADDR_STR_SIZE];
	struct in6_addr addr;

	if (to == TO_ALL) {
		fputs("{\"input\": ", stdout);
		cli_json_string(stdout, input);
		printf(", \"detected\": \"%s\", ", form_names[form]);
		cli_json_identity(stdout, id);
		fputs("}\n", stdout);
		return CLI_OK;
	}
	switch (to) {
	case TO_HEX:
		id_to_hex(id, text);
		break;
	case TO_BASE32:
		id_to_base32(id, text);
		break;
	case TO_DOMAIN:
		id_to_domain(id, text);
		break;
	default:
		addr_from_id(id, &addr), addr_format(&addr, text);
		break;
	}
	printf("{\"%s\": \"%s\"}\n", target_names[to], text);
	return CLI_OK;
}

int cmd_convert(const struct cli_globals *globals, int argc, char **argv)
{
	static const struct option options[] = {
	    {"to", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum convert_target to = TO_ALL;
	enum id_form form;
	bool json = false;
	int c;
	const char *value;
	char text[IRON_ID_DOMAIN_SIZE + ADDR_STR_SIZE], why[WHY_SIZE];
	struct iron_id id;
	struct in6_addr addr;

	(void)globals;
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":t:f:h", options, NULL)) != -1) {
		switch (c) {
		case 't': {
			const char *name = strcasecmp(optarg, "iron") == 0 ? "domain" : optarg;
			int t = TO_HEX;
			while (t <= TO_IPV6 && strcasecmp(name, target_names[t]) != 0)
				t++;
			if (t > TO_IPV6)
				return cli_usage_error("convert",
						       "unknown form '%s' for --to (hex, base32, "
						       "domain, iron or ipv6)",
						       optarg);
			to = (enum convert_target)t;
			break;
		}
		case 'f':
			if (cli_parse_format("convert", optarg, &json) != 0)
				return CLI_USAGE;
			break;
		case 'h':
			convert_usage(stdout);
			return CLI_OK;
		default:
			return cli_option_error("convert", c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage_error("convert", "missing the VALUE to convert");
	if (argc - optind > 1)
		return cli_usage_error("convert", "unexpected argument '%s'", argv[optind + 1]);
	value = argv[optind];
	if (!*value)
		return cli_usage_error("convert", "the VALUE is empty");

	if (id_parse(value, &id, &form) != 0) {
		if (strchr(value, ':') && inet_pton(AF_INET6, value, &addr) == 1) {
			cli_error("convert: '%s' is an IPv6 address; the mapping is one-way: an "
				  "address is derived from a node ID, not the other way round",
				  value);
			cli_hint(
			    "an overlay address holds only the last 8 bytes of the ID; give the "
			    "ID as hex, base32 or <base32>.iron");
			return CLI_USAGE;
		}
		const char *guess = explain_bad_id(value, why, sizeof(why));
		cli_error("convert: '%s' is not a node ID: read as %s, %s", value, guess, why);
		return CLI_USAGE;
	}

	if (json)
		return print_json(value, form, to, &id);
	switch (to) {
	case TO_ALL:
		cli_print_identity(stdout, NULL, &id);
		break;
	case TO_HEX:
		id_to_hex(&id, text), puts(text);
		break;
	case TO_BASE32:
		id_to_base32(&id, text), puts(text);
		break;
	case TO_DOMAIN:
		id_to_domain(&id, text), puts(text);
		break;
	case TO_IPV6:
		addr_from_id(&id, &addr), puts(addr_format(&addr, text));
		break;
	}
	return CLI_OK;
}
