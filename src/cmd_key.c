/* iron key: info, validate, export, import, generate and reset of the
 * node's key file. Whatever would replace or delete a key asks first
 * (SPEC section 4). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iron/cli.h"
#include "iron/commands.h"
#include "iron/encoding.h"
#include "iron/identity.h"

/* More than any text form of a seed, with room for whitespace. */
#define IMPORT_MAX 4096

static void key_usage(FILE *f)
{
	fprintf(f,
		"Usage: iron key <info|validate|export|import|generate|reset> [OPTIONS]\n\n"
		"Manages this node's key file (<state>/secret.key).\n\n"
		"  info [FILE] [-f json]         path, node ID forms and file mode\n"
		"  validate [FILE]               check the key file; exit 0 if valid, else 1\n"
		"  export [--format hex|base64]  print the secret key (keep it secret)\n"
		"  import FILE [--save] [--force]\n"
		"                                read a secret key (hex or base64 text, or the\n"
		"                                raw 32-byte file; FILE '-' is stdin); show its\n"
		"                                identity, or with --save make it this node's key\n"
		"  generate [--save] [--force]   make a new key; --save makes it this node's key\n"
		"  reset [--confirm]             delete this node's key\n\n"
		"Replacing or deleting a key asks for confirmation on a terminal; elsewhere\n"
		"--force (import, generate) or --confirm (reset) is required.\n"
		"FILE defaults to this node's key file. Run 'iron key <command> --help' for\n"
		"the options of one command.\n");
}

/* Common option parsing of the key subcommands. */
struct key_options {
	int json, save, force, confirm;
	const char *export_format;
	const char *file; /* the one positional argument, when allowed */
};

enum key_allow {
	ALLOW_JSON = 1 << 0,
	ALLOW_SAVE = 1 << 1, /* --save, --force */
	ALLOW_CONFIRM = 1 << 2,
	ALLOW_EXPORT = 1 << 3,
	ALLOW_FILE = 1 << 4, /* an optional FILE */
	NEED_FILE = 1 << 5,
};

/* Returns -1 to go on, or the exit code (help shown, usage error). */
static int parse_key_options(const char *command, unsigned allow, int argc, char **argv,
			     struct key_options *o)
{
	static const struct option options[] = {
	    {"format", required_argument, NULL, 'f'}, {"save", no_argument, NULL, 's'},
	    {"force", no_argument, NULL, 'F'},	      {"confirm", no_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":f:h", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			if ((allow & ALLOW_EXPORT) &&
			    (strcmp(optarg, "hex") == 0 || strcmp(optarg, "base64") == 0))
				o->export_format = optarg;
			else if ((allow & ALLOW_JSON) && strcmp(optarg, "json") == 0)
				o->json = 1;
			else if ((allow & ALLOW_JSON) && strcmp(optarg, "text") == 0)
				o->json = 0;
			else if (allow & (ALLOW_JSON | ALLOW_EXPORT))
				return cli_usage_error(command, "unknown format '%s' (%s)", optarg,
						       allow & ALLOW_EXPORT ? "hex or base64"
									    : "text or json");
			else
				return cli_usage_error(command, "unknown option '--format'");
			break;
		case 's':
		case 'F':
			if (!(allow & ALLOW_SAVE))
				return cli_usage_error(command, "unknown option '--%s'",
						       c == 's' ? "save" : "force");
			*(c == 's' ? &o->save : &o->force) = 1;
			break;
		case 'c':
			if (!(allow & ALLOW_CONFIRM))
				return cli_usage_error(command, "unknown option '--confirm'");
			o->confirm = 1;
			break;
		case 'h':
			key_usage(stdout);
			return CLI_OK;
		default:
			return cli_option_error(command, c, argv);
		}
	}
	if (optind < argc && (allow & (ALLOW_FILE | NEED_FILE)))
		o->file = argv[optind++];
	if (optind < argc)
		return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
	if ((allow & NEED_FILE) && !o->file)
		return cli_usage_error(command, "missing the FILE to read (use - for stdin)");
	if (o->force && !o->save)
		return cli_usage_error(command, "--force only applies with --save");
	return -1;
}

/* The key file to work on: FILE when given, else this node's. */
static int key_file(const struct cli_globals *globals, const struct key_options *o, char *out,
		    size_t cap)
{
	if (o->file) {
		if ((size_t)snprintf(out, cap, "%s", o->file) >= cap) {
			cli_error("%s: path too long", o->file);
			return -ENAMETOOLONG;
		}
		return 0;
	}
	return cli_key_path(globals, out, cap);
}

static int key_info(const struct cli_globals *globals, int argc, char **argv)
{
	struct key_options o;
	struct iron_identity identity;
	char path[PATH_MAX], mode[8];
	struct stat st;
	int rc = parse_key_options("key info", ALLOW_JSON | ALLOW_FILE, argc, argv, &o), err;

	if (rc >= 0)
		return rc;
	if (key_file(globals, &o, path, sizeof(path)) != 0)
		return CLI_FAIL;
	err = identity_load(path, &identity);
	if (err == 0 && lstat(path, &st) != 0)
		err = -errno;
	if (err) {
		cli_identity_error(path, err);
		identity_wipe(&identity);
		return CLI_FAIL;
	}
	snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
	if (o.json) {
		fputs("{\"key_file\": ", stdout);
		cli_json_string(stdout, path);
		printf(", \"mode\": \"%s\", ", mode);
		cli_json_identity(stdout, &identity.id);
		fputs("}\n", stdout);
	} else {
		cli_print_identity(stdout, path, &identity.id);
		cli_print_field(stdout, "mode", mode);
	}
	identity_wipe(&identity);
	return CLI_OK;
}

static int key_validate(const struct cli_globals *globals, int argc, char **argv)
{
	struct key_options o;
	struct iron_identity identity;
	char path[PATH_MAX], b32[IRON_ID_BASE32_LEN + 1];
	int rc = parse_key_options("key validate", ALLOW_FILE, argc, argv, &o), err;

	if (rc >= 0)
		return rc;
	if (key_file(globals, &o, path, sizeof(path)) != 0)
		return CLI_FAIL;
	err = identity_load(path, &identity);
	if (err) {
		cli_identity_error(path, err);
		return CLI_FAIL;
	}
	id_to_base32(&identity.id, b32);
	printf("%s: valid key, node ID %s\n", path, b32);
	identity_wipe(&identity);
	return CLI_OK;
}

static int key_export(const struct cli_globals *globals, int argc, char **argv)
{
	struct key_options o;
	struct iron_identity identity;
	char path[PATH_MAX], text[ENCODING_HEX_LEN(IDENTITY_SEED_LEN) + 1];
	int rc = parse_key_options("key export", ALLOW_EXPORT, argc, argv, &o), err;

	if (rc >= 0)
		return rc;
	if (cli_key_path(globals, path, sizeof(path)) != 0)
		return CLI_FAIL;
	err = identity_load(path, &identity);
	if (err) {
		cli_identity_error(path, err);
		return CLI_FAIL;
	}
	if (o.export_format && strcmp(o.export_format, "base64") == 0)
		encoding_base64_encode(identity.seed, IDENTITY_SEED_LEN, text, sizeof(text));
	else
		encoding_hex_encode(identity.seed, IDENTITY_SEED_LEN, text, sizeof(text));
	if (isatty(STDOUT_FILENO))
		fprintf(stderr,
			"iron: warning: this is the secret key of %s; whoever has it can "
			"act as this node\n",
			path);
	puts(text);
	sodium_memzero(text, sizeof(text));
	identity_wipe(&identity);
	return CLI_OK;
}

/* Reads at most cap bytes of a file ("-": stdin; on a terminal one line).
 * Returns the length, or -EFBIG when there is more, or -errno. */
static ssize_t read_input(const char *file, char *buf, size_t cap)
{
	int fd = strcmp(file, "-") == 0 ? STDIN_FILENO : open(file, O_RDONLY | O_CLOEXEC);
	int tty, err = 0;
	size_t len = 0;

	if (fd < 0)
		return -errno;
	tty = isatty(fd);
	if (tty)
		fprintf(stderr, "Paste the secret key (hex or base64) and press Enter: ");
	for (;;) {
		char extra;
		/* One byte past cap tells a too large file from a full one. */
		ssize_t n = len < cap ? read(fd, buf + len, cap - len) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		if (len == cap) {
			err = -EFBIG;
			break;
		}
		len += (size_t)n;
		if (tty && memchr(buf, '\n', len))
			break;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return err ? err : (ssize_t)len;
}

/* Saves identity as this node's key, asking before it replaces another.
 * Returns the exit code. */
static int save_node_key(const char *command, const char *path,
			 const struct iron_identity *identity, int force)
{
	struct iron_identity old;
	int replace, err;

	if (identity_load(path, &old) == 0 && id_equal(&old.id, &identity->id)) {
		identity_wipe(&old);
		cli_print_identity(stdout, path, &identity->id);
		fprintf(stderr, "iron: %s: this is already the key in %s; nothing changed\n",
			command, path);
		return CLI_OK;
	}
	identity_wipe(&old);
	replace = cli_may_replace(command, path, force, "--force");
	if (replace < 0)
		return CLI_FAIL;
	err = identity_save(path, identity, replace);
	if (err) {
		cli_identity_error(path, err);
		return CLI_FAIL;
	}
	cli_print_identity(stdout, path, &identity->id);
	fprintf(stderr, "iron: %s: saved the key to %s%s\n", command, path,
		replace ? ", replacing the old one" : "");
	return CLI_OK;
}

static int key_import(const struct cli_globals *globals, int argc, char **argv)
{
	struct key_options o;
	struct iron_identity identity;
	char path[PATH_MAX], buf[IMPORT_MAX];
	uint8_t seed[IDENTITY_SEED_LEN];
	ssize_t len;
	int rc = parse_key_options("key import", ALLOW_SAVE | NEED_FILE, argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (o.save && cli_key_path(globals, path, sizeof(path)) != 0)
		return CLI_FAIL;
	len = read_input(o.file, buf, sizeof(buf));
	if (len < 0) {
		cli_error("key import: %s: %s", strcmp(o.file, "-") ? o.file : "stdin",
			  len == -EFBIG ? "too large for a key" : strerror((int)-len));
		rc = CLI_FAIL;
		goto out;
	}
	if (identity_seed_from_text(buf, (size_t)len, seed) != 0) {
		cli_error("key import: %s: not a secret key: expected 64 hex digits, base64 of 32 "
			  "bytes (44 characters) or a raw 32-byte key file",
			  strcmp(o.file, "-") ? o.file : "stdin");
		rc = CLI_FAIL;
		goto out;
	}
	identity_from_seed(seed, &identity);
	if (o.save) {
		rc = save_node_key("key import", path, &identity, o.force);
	} else {
		cli_print_identity(stdout, NULL, &identity.id);
		fprintf(stderr, "iron: key import: not saved; add --save to make it this node's "
				"key\n");
		rc = CLI_OK;
	}
	identity_wipe(&identity);
out:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

static int key_generate(const struct cli_globals *globals, int argc, char **argv)
{
	struct key_options o;
	struct iron_identity identity;
	char path[PATH_MAX];
	int rc = parse_key_options("key generate", ALLOW_SAVE, argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (o.save && cli_key_path(globals, path, sizeof(path)) != 0)
		return CLI_FAIL;
	identity_generate(&identity);
	if (o.save) {
		rc = save_node_key("key generate", path, &identity, o.force);
	} else {
		/* The secret is not shown: keys are made to be kept, see --save. */
		cli_print_identity(stdout, NULL, &identity.id);
		fprintf(stderr, "iron: key generate: not saved; add --save to make a new key for "
				"this node\n");
		rc = CLI_OK;
	}
	identity_wipe(&identity);
	return rc;
}

static int key_reset(const struct cli_globals *globals, int argc, char **argv)
{
	struct key_options o;
	struct iron_identity identity;
	char path[PATH_MAX], question[PATH_MAX + 128], b32[IRON_ID_BASE32_LEN + 1] = "";
	struct stat st;
	int rc = parse_key_options("key reset", ALLOW_CONFIRM, argc, argv, &o), answer, err;

	if (rc >= 0)
		return rc;
	if (cli_key_path(globals, path, sizeof(path)) != 0)
		return CLI_FAIL;
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT) {
			cli_identity_error(path, -errno);
			return CLI_FAIL;
		}
		fprintf(stderr, "iron: key reset: no key file at %s; nothing to delete\n", path);
		return CLI_OK;
	}
	if (S_ISDIR(st.st_mode)) {
		cli_identity_error(path, -EISDIR);
		return CLI_FAIL;
	}
	/* A broken key may be deleted too: that is the way out of it. */
	if (identity_load(path, &identity) == 0)
		id_to_base32(&identity.id, b32);
	identity_wipe(&identity);
	if (!o.confirm) {
		snprintf(question, sizeof(question),
			 "Delete the key %s%s%s? This node loses its "
			 "identity for good.",
			 path, *b32 ? " of node " : "", b32);
		answer = cli_confirm(question);
		if (answer == -ENOTTY) {
			cli_error("key reset: refusing to delete %s without confirmation", path);
			cli_hint("stdin is not a terminal; pass --confirm to delete it");
			return CLI_FAIL;
		}
		if (answer != 1) {
			cli_error("key reset: not deleting %s", path);
			return CLI_FAIL;
		}
	}
	err = identity_remove(path);
	if (err) {
		cli_identity_error(path, err);
		return CLI_FAIL;
	}
	printf("deleted %s\n", path);
	fprintf(stderr, "iron: key reset: 'iron key generate --save' or 'iron serve' makes a new "
			"key\n");
	return CLI_OK;
}

int cmd_key(const struct cli_globals *globals, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(const struct cli_globals *, int, char **);
	} subcommands[] = {
	    {"info", key_info},	    {"validate", key_validate}, {"export", key_export},
	    {"import", key_import}, {"generate", key_generate}, {"reset", key_reset},
	};

	if (argc < 2) {
		key_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		key_usage(stdout);
		return CLI_OK;
	}
	if (argv[1][0] == '-')
		return cli_usage_error("key", "unknown option '%s'", argv[1]);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(globals, argc - 1, argv + 1);
	return cli_usage_error("key",
			       "unknown command '%s' (info, validate, export, import, "
			       "generate or reset)",
			       argv[1]);
}
