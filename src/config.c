/* The configuration file: a pure line parser over bytes the user wrote,
 * every value checked, every error located by line. */
#include "iron/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iron/id.h"
#include "iron/relay_client.h"

enum section { SECTION_INTERFACE, SECTION_PEER, SECTION_ALLOW };

static const char *section_name(enum section section)
{
	switch (section) {
	case SECTION_PEER:
		return "Peer";
	case SECTION_ALLOW:
		return "Allow";
	case SECTION_INTERFACE:
		break;
	}
	return "Interface";
}

/* Parser state that the caller does not see. */
struct parse {
	struct config_file *out;
	struct config_error *err;
	unsigned line;
	enum section section;
	unsigned interface_line; /* line of the [Interface] header, 0 if none yet */
	unsigned peer_line;	 /* line of the open [Peer] header, 0 if none */
	bool peer_has_id, peer_has_endpoint, peer_has_relay;
	bool relays_none;      /* Relay = none was given */
	bool stun_none;	       /* Stun = none was given */
	unsigned key_line[16]; /* first line of each singular setting, by bit index */
	unsigned peer_id_line[DAEMON_MAX_PEERS];
	unsigned allow_id_line[DAEMON_MAX_ALLOW];
};

struct key {
	const char *name;
	enum section section;
	int (*parse)(struct parse *p, const char *name, const char *value);
};

static int fail(struct parse *p, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parse *p, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;
	if (!p->err)
		return -EINVAL;
	p->err->line = line;
	if (line)
		n = snprintf(p->err->message, sizeof(p->err->message), "line %u: ", line);
	va_start(ap, fmt);
	vsnprintf(p->err->message + n, sizeof(p->err->message) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static unsigned bit_index(unsigned bit)
{
	unsigned i = 0;
	while (bit > 1) {
		bit >>= 1;
		i++;
	}
	return i;
}

/* Marks a singular setting as given; a second time is an error. */
static int set_once(struct parse *p, unsigned bit, const char *name)
{
	unsigned i = bit_index(bit);
	if (p->out->set & bit)
		return fail(p, p->line, "%s: given twice (first on line %u)", name, p->key_line[i]);
	p->out->set |= bit;
	p->key_line[i] = p->line;
	return 0;
}

/* A decimal number without sign, within [min, max]. */
static bool parse_uint(const char *text, unsigned min, unsigned max, unsigned *out)
{
	unsigned long value = 0;
	if (!*text)
		return false;
	for (const char *c = text; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		value = value * 10 + (unsigned long)(*c - '0');
		if (value > max)
			return false;
	}
	if (value < min)
		return false;
	*out = (unsigned)value;
	return true;
}

static int parse_listen(struct parse *p, const char *name, const char *value)
{
	struct config_file *f = p->out;
	if (f->nlisten == DAEMON_MAX_LISTEN)
		return fail(p, p->line, "%s: at most %d addresses", name, DAEMON_MAX_LISTEN);
	if (netaddr_parse(value, &f->listen[f->nlisten]) != 0)
		return fail(p, p->line,
			    "%s: expected ADDR:PORT with a numeric address, e.g. [::]:4766", name);
	f->nlisten++;
	f->set |= CONFIG_LISTEN;
	return 0;
}

static int parse_dns_upstream(struct parse *p, const char *name, const char *value)
{
	struct config_file *f = p->out;
	struct netaddr *upstream = &f->dns_upstream[f->nupstream];
	if (f->nupstream == DAEMON_MAX_UPSTREAMS)
		return fail(p, p->line, "%s: at most %d servers", name, DAEMON_MAX_UPSTREAMS);
	/* Port 0 parses as an address but cannot be sent to. */
	if (netaddr_parse(value, upstream) != 0 || netaddr_port(&upstream->sa) == 0)
		return fail(p, p->line,
			    "%s: expected ADDR:PORT with a numeric address, e.g. 9.9.9.9:53", name);
	f->nupstream++;
	f->set |= CONFIG_DNS_UPSTREAM;
	return 0;
}

static bool tun_name_valid(const char *name)
{
	size_t len = strlen(name);
	/* The kernel's rule (dev_valid_name). */
	if (len == 0 || len > CONFIG_TUN_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (const char *c = name; *c; c++)
		if (*c == '/' || *c == ':' || *c == ' ' || *c == '\t' || (unsigned char)*c < 0x21 ||
		    (unsigned char)*c == 0x7f)
			return false;
	return true;
}

static int parse_tun_name(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_TUN_NAME, name);
	if (rc)
		return rc;
	if (!tun_name_valid(value))
		return fail(p, p->line,
			    "%s: expected an interface name of 1 to %d characters without '/', ':' "
			    "or spaces",
			    name, CONFIG_TUN_NAME_MAX);
	strcpy(p->out->tun_name, value);
	return 0;
}

static int parse_mtu(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_MTU, name);
	if (rc)
		return rc;
	if (!parse_uint(value, CONFIG_MTU_MIN, CONFIG_MTU_MAX, &p->out->mtu))
		return fail(p, p->line, "%s: expected a number from %d to %d", name, CONFIG_MTU_MIN,
			    CONFIG_MTU_MAX);
	return 0;
}

static int parse_dns_port(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_DNS_PORT, name);
	if (rc)
		return rc;
	if (!parse_uint(value, 1, 65535, &p->out->dns_port))
		return fail(p, p->line, "%s: expected a port number from 1 to 65535", name);
	return 0;
}

/* true/yes/on/1 -> 1, false/no/off/0 -> 0, else -1. */
static int parse_bool(const char *value)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0)
			return 1;
		if (strcasecmp(value, no[i]) == 0)
			return 0;
	}
	return -1;
}

static int parse_no_dns_config(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_NO_DNS_CONFIG, name);
	if (rc)
		return rc;
	int on = parse_bool(value);
	if (on < 0)
		return fail(p, p->line, "%s: expected true or false", name);
	p->out->no_dns_config = on;
	return 0;
}

static int parse_log_level(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_LOG_LEVEL, name);
	if (rc)
		return rc;
	int level = log_level_parse(value);
	if (level < 0 || level == LOG_OFF)
		return fail(p, p->line, "%s: expected trace, debug, info, warn or error", name);
	p->out->log_level = (enum log_level)level;
	return 0;
}

/* The grammar log_configure() accepts, checked without changing the
 * process's log settings: comma-separated "module=level" items (an
 * "iron::" prefix allowed) and bare levels. */
static bool log_filter_valid(const char *filter)
{
	char buf[CONFIG_FILTER_MAX + 1];
	char *save = NULL;
	int rules = 0;
	if (strlen(filter) > CONFIG_FILTER_MAX)
		return false;
	strcpy(buf, filter);
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		char *eq = strchr(item, '=');
		if (!eq) {
			if (log_level_parse(item) < 0)
				return false;
			continue;
		}
		*eq = '\0';
		const char *module = item;
		if (strncmp(module, "iron::", 6) == 0)
			module += 6;
		/* 32 rules of modules shorter than 32 characters: log.c's limits. */
		if (log_level_parse(eq + 1) < 0 || !*module || strlen(module) >= 32 || ++rules > 32)
			return false;
	}
	return true;
}

static int parse_log_filter(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_LOG_FILTER, name);
	if (rc)
		return rc;
	if (!log_filter_valid(value))
		return fail(p, p->line,
			    "%s: expected module=level items separated by commas, e.g. "
			    "quic=debug,dns=trace,info",
			    name);
	strcpy(p->out->log_filter, value);
	return 0;
}

static int parse_state_dir(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_STATE_DIR, name);
	if (rc)
		return rc;
	/* Relative to what? The daemon's working directory is not a useful
	 * answer, so only absolute paths are taken. */
	if (value[0] != '/' || strlen(value) >= CONFIG_PATH_MAX)
		return fail(p, p->line, "%s: expected an absolute path shorter than %d characters",
			    name, CONFIG_PATH_MAX);
	strcpy(p->out->state_dir, value);
	return 0;
}

static int parse_pkarr_url(struct parse *p, const char *name, const char *value)
{
	char err[300];
	int rc = set_once(p, CONFIG_PKARR_URL, name);
	if (rc)
		return rc;
	if (config_parse_pkarr_url(value, p->out->pkarr_url, err, sizeof(err)) != 0)
		return fail(p, p->line, "%s: %s", name, err);
	return 0;
}

static int parse_dns_origin(struct parse *p, const char *name, const char *value)
{
	char err[300];
	int rc = set_once(p, CONFIG_DNS_ORIGIN, name);
	if (rc)
		return rc;
	if (config_parse_dns_origin(value, p->out->dns_origin, err, sizeof(err)) != 0)
		return fail(p, p->line, "%s: %s", name, err);
	return 0;
}

static int parse_lan_discovery(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_LAN_DISCOVERY, name);
	if (rc)
		return rc;
	int on = parse_bool(value);
	if (on < 0)
		return fail(p, p->line, "%s: expected true or false", name);
	p->out->no_lan_discovery = !on;
	return 0;
}

static int parse_port_mapping(struct parse *p, const char *name, const char *value)
{
	int rc = set_once(p, CONFIG_PORT_MAPPING, name);
	if (rc)
		return rc;
	int on = parse_bool(value);
	if (on < 0)
		return fail(p, p->line, "%s: expected true or false", name);
	p->out->no_port_mapping = !on;
	return 0;
}

static int parse_stun(struct parse *p, const char *name, const char *value)
{
	char err[300];
	p->out->set |= CONFIG_STUN;
	if (strcmp(value, "none") == 0) {
		if (p->out->nstun > 0)
			return fail(p, p->line, "%s: none and a server cannot go together", name);
		p->stun_none = true;
		return 0;
	}
	if (p->stun_none)
		return fail(p, p->line, "%s: none and a server cannot go together", name);
	if (p->out->nstun == DAEMON_MAX_STUN)
		return fail(p, p->line, "%s: at most %d servers", name, DAEMON_MAX_STUN);
	if (config_parse_stun(value, p->out->stun[p->out->nstun], err, sizeof(err)) != 0)
		return fail(p, p->line, "%s: %s", name, err);
	p->out->nstun++;
	return 0;
}

static struct daemon_peer_config *open_peer(struct parse *p)
{
	return &p->out->peers[p->out->npeers];
}

static int parse_peer_id(struct parse *p, const char *name, const char *value)
{
	struct daemon_peer_config *peer = open_peer(p);
	if (p->peer_has_id)
		return fail(p, p->line, "%s: given twice in this [Peer] (section on line %u)", name,
			    p->peer_line);
	if (id_parse(value, &peer->id, NULL) != 0)
		return fail(p, p->line,
			    "%s: not a node ID (expected 52 base32 characters, 64 hex digits or "
			    "<base32>.iron)",
			    name);
	for (size_t i = 0; i < p->out->npeers; i++)
		if (id_equal(&p->out->peers[i].id, &peer->id))
			return fail(p, p->line, "%s: this peer is already listed on line %u", name,
				    p->peer_id_line[i]);
	p->peer_id_line[p->out->npeers] = p->line;
	p->peer_has_id = true;
	return 0;
}

static int parse_allow_id(struct parse *p, const char *name, const char *value)
{
	struct config_file *f = p->out;
	struct iron_id id;
	if (id_parse(value, &id, NULL) != 0)
		return fail(p, p->line,
			    "%s: not a node ID (expected 52 base32 characters, 64 hex digits or "
			    "<base32>.iron)",
			    name);
	for (size_t i = 0; i < f->nallow; i++)
		if (id_equal(&f->allow[i], &id))
			return fail(p, p->line, "%s: this node is already allowed on line %u", name,
				    p->allow_id_line[i]);
	if (f->nallow == DAEMON_MAX_ALLOW)
		return fail(p, p->line, "%s: at most %d allowed nodes", name, DAEMON_MAX_ALLOW);
	p->allow_id_line[f->nallow] = p->line;
	f->allow[f->nallow++] = id;
	return 0;
}

static int parse_peer_endpoint(struct parse *p, const char *name, const char *value)
{
	struct daemon_peer_config *peer = open_peer(p);
	if (p->peer_has_endpoint)
		return fail(p, p->line, "%s: given twice in this [Peer] (section on line %u)", name,
			    p->peer_line);
	if (config_parse_endpoint(value, peer->host, sizeof(peer->host), &peer->port) != 0)
		return fail(p, p->line,
			    "%s: expected HOST:PORT, e.g. 192.0.2.1:4766, [2001:db8::1]:4766 or "
			    "host.example:4766",
			    name);
	p->peer_has_endpoint = true;
	return 0;
}

static int parse_peer_relay(struct parse *p, const char *name, const char *value)
{
	struct daemon_peer_config *peer = open_peer(p);
	char err[300];
	if (p->peer_has_relay)
		return fail(p, p->line, "%s: given twice in this [Peer] (section on line %u)", name,
			    p->peer_line);
	if (config_parse_relay_url(value, peer->relay, err, sizeof(err)) != 0)
		return fail(p, p->line, "%s: %s", name, err);
	p->peer_has_relay = true;
	return 0;
}

static int parse_relay(struct parse *p, const char *name, const char *value)
{
	char err[300];
	if (strcmp(value, "none") == 0) {
		if (p->out->nrelays > 0)
			return fail(p, p->line, "%s: none and a relay URL cannot go together",
				    name);
		p->out->set |= CONFIG_RELAYS;
		p->relays_none = true;
		return 0;
	}
	if (p->relays_none)
		return fail(p, p->line, "%s: none and a relay URL cannot go together", name);
	if (p->out->nrelays == DAEMON_MAX_RELAYS)
		return fail(p, p->line, "%s: at most %d relays", name, DAEMON_MAX_RELAYS);
	if (config_parse_relay_url(value, p->out->relays[p->out->nrelays], err, sizeof(err)) != 0)
		return fail(p, p->line, "%s: %s", name, err);
	p->out->nrelays++;
	p->out->set |= CONFIG_RELAYS;
	return 0;
}

static const struct key keys[] = {
    {"Listen", SECTION_INTERFACE, parse_listen},
    {"TunName", SECTION_INTERFACE, parse_tun_name},
    {"MTU", SECTION_INTERFACE, parse_mtu},
    {"DnsPort", SECTION_INTERFACE, parse_dns_port},
    {"DnsUpstream", SECTION_INTERFACE, parse_dns_upstream},
    {"NoDnsConfig", SECTION_INTERFACE, parse_no_dns_config},
    {"LogLevel", SECTION_INTERFACE, parse_log_level},
    {"LogFilter", SECTION_INTERFACE, parse_log_filter},
    {"StateDir", SECTION_INTERFACE, parse_state_dir},
    {"ID", SECTION_PEER, parse_peer_id},
    {"ID", SECTION_ALLOW, parse_allow_id},
    {"Endpoint", SECTION_PEER, parse_peer_endpoint},
    {"Relay", SECTION_INTERFACE, parse_relay},
    {"Relay", SECTION_PEER, parse_peer_relay},
    {"PkarrUrl", SECTION_INTERFACE, parse_pkarr_url},
    {"DnsOrigin", SECTION_INTERFACE, parse_dns_origin},
    {"LanDiscovery", SECTION_INTERFACE, parse_lan_discovery},
    {"Stun", SECTION_INTERFACE, parse_stun},
    {"PortMapping", SECTION_INTERFACE, parse_port_mapping},
};

/* Closes the open [Peer] section, if any: it must have had both keys. */
static int end_peer(struct parse *p)
{
	if (!p->peer_line)
		return 0;
	if (!p->peer_has_id)
		return fail(p, p->peer_line, "[Peer]: missing ID");
	if (!p->peer_has_endpoint && !p->peer_has_relay)
		return fail(p, p->peer_line, "[Peer]: missing Endpoint or Relay");
	p->out->npeers++;
	p->out->set |= CONFIG_PEERS;
	p->peer_line = 0;
	return 0;
}

static int parse_section(struct parse *p, char *line, size_t len)
{
	int rc;
	if (line[len - 1] != ']')
		return fail(p, p->line, "expected ']' at the end of the section header");
	line[len - 1] = '\0';
	char *name = line + 1;
	while (*name == ' ' || *name == '\t')
		name++;
	for (size_t n = strlen(name); n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'); n--)
		name[n - 1] = '\0';
	if ((rc = end_peer(p)) != 0)
		return rc;
	if (strcasecmp(name, "Interface") == 0) {
		if (p->interface_line)
			return fail(p, p->line, "[Interface]: given twice (first on line %u)",
				    p->interface_line);
		p->interface_line = p->line;
		p->section = SECTION_INTERFACE;
		return 0;
	}
	if (strcasecmp(name, "Peer") == 0) {
		if (p->out->npeers == DAEMON_MAX_PEERS)
			return fail(p, p->line, "[Peer]: too many peers (at most %d)",
				    DAEMON_MAX_PEERS);
		memset(open_peer(p), 0, sizeof(struct daemon_peer_config));
		p->peer_line = p->line;
		p->peer_has_id = p->peer_has_endpoint = p->peer_has_relay = false;
		p->section = SECTION_PEER;
		return 0;
	}
	if (strcasecmp(name, "Allow") == 0) {
		/* The section alone turns the policy on: empty, it admits
		 * only the static peers. */
		p->out->set |= CONFIG_ALLOW;
		p->section = SECTION_ALLOW;
		return 0;
	}
	return fail(p, p->line, "unknown section [%.64s] (expected [Interface], [Peer] or [Allow])",
		    name);
}

static int parse_key_value(struct parse *p, char *line)
{
	char *eq = strchr(line, '=');
	if (!eq || eq == line)
		return fail(p, p->line, "expected 'Key = Value' or a [Section] header");
	char *name = line, *value = eq + 1;
	*eq = '\0';
	for (size_t n = strlen(name); n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'); n--)
		name[n - 1] = '\0';
	while (*value == ' ' || *value == '\t')
		value++;
	const struct key *elsewhere = NULL;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcasecmp(name, keys[i].name) != 0)
			continue;
		/* A key of several sections (Relay, ID) is looked up in this one. */
		if (keys[i].section != p->section) {
			if (!elsewhere)
				elsewhere = &keys[i];
			continue;
		}
		if (!*value)
			return fail(p, p->line, "%s: expected a value", keys[i].name);
		return keys[i].parse(p, keys[i].name, value);
	}
	if (elsewhere)
		return fail(p, p->line, "%s: belongs in [%s], not [%s]", elsewhere->name,
			    section_name(elsewhere->section), section_name(p->section));
	return fail(p, p->line, "unknown key '%.64s'", name);
}

int config_parse(const char *text, size_t len, struct config_file *out, struct config_error *err)
{
	/* Large: the peer-ID line table alone is 1 KiB. */
	struct parse *p = NULL;
	const char *end = text + len;
	char line[CONFIG_LINE_MAX + 1];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->log_level = LOG_INFO;
	if (err) {
		err->line = 0;
		err->message[0] = '\0';
	}
	if (len > CONFIG_MAX_SIZE) {
		if (err)
			snprintf(err->message, sizeof(err->message),
				 "larger than %d bytes: not a configuration file", CONFIG_MAX_SIZE);
		return -EFBIG;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		if (err)
			snprintf(err->message, sizeof(err->message), "out of memory");
		return -ENOMEM;
	}
	p->out = out;
	p->err = err;
	p->section = SECTION_INTERFACE;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		text += 3;
	while (text < end) {
		const char *nl = memchr(text, '\n', (size_t)(end - text));
		size_t n = nl ? (size_t)(nl - text) : (size_t)(end - text);
		p->line++;
		if (n > 0 && text[n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX) {
			rc = fail(p, p->line, "line longer than %d characters", CONFIG_LINE_MAX);
			goto out;
		}
		if (memchr(text, '\0', n)) {
			rc = fail(p, p->line, "NUL byte: not a text file");
			goto out;
		}
		memcpy(line, text, n);
		line[n] = '\0';
		text = nl ? nl + 1 : end;

		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *start = line;
		while (*start == ' ' || *start == '\t' || *start == '\r')
			start++;
		size_t trimmed = strlen(start);
		while (trimmed > 0 && (start[trimmed - 1] == ' ' || start[trimmed - 1] == '\t' ||
				       start[trimmed - 1] == '\r'))
			start[--trimmed] = '\0';
		if (trimmed == 0)
			continue;
		rc = start[0] == '[' ? parse_section(p, start, trimmed) : parse_key_value(p, start);
		if (rc)
			goto out;
	}
	rc = end_peer(p);
out:
	free(p);
	return rc;
}

int config_load(const char *path, struct config_file *out, struct config_error *err)
{
	char *text = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc;
	bool parsed = false;

	if (err) {
		err->line = 0;
		err->message[0] = '\0';
	}
	/* O_NONBLOCK: a FIFO at the path must not hang the start. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	/* As OpenSSH with its own files: whoever may change the file decides
	 * where traffic goes, so only root and the user running us may. */
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		rc = -EPERM;
		if (err && st.st_uid != 0 && st.st_uid != geteuid())
			snprintf(err->message, sizeof(err->message),
				 "owned by another user (uid %u): chown it to root or to the "
				 "user iron runs as",
				 (unsigned)st.st_uid);
		else if (err)
			snprintf(err->message, sizeof(err->message),
				 "writable by other users (mode %04o): chmod go-w it",
				 (unsigned)(st.st_mode & 07777));
		parsed = true; /* the message is set */
		goto out;
	}
	if (st.st_size > CONFIG_MAX_SIZE) {
		rc = -EFBIG;
		goto out;
	}
	/* One byte more than allowed, so a file that grew since fstat is caught. */
	text = malloc(CONFIG_MAX_SIZE + 1);
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	while (len <= CONFIG_MAX_SIZE &&
	       (n = read(fd, text + len, CONFIG_MAX_SIZE + 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		len += (size_t)n;
	}
	rc = config_parse(text, len, out, err);
	parsed = true;
out:
	if (rc && !parsed && err) {
		if (rc == -EFBIG)
			snprintf(err->message, sizeof(err->message),
				 "larger than %d bytes: not a configuration file", CONFIG_MAX_SIZE);
		else if (rc == -EISDIR || (rc == -EINVAL && fd >= 0))
			snprintf(err->message, sizeof(err->message), "not a regular file");
		else
			snprintf(err->message, sizeof(err->message), "%s", strerror(-rc));
	}
	free(text);
	if (fd >= 0)
		close(fd);
	return rc;
}

int config_merge(struct daemon_config *config, unsigned cli_set, const struct config_file *file)
{
	unsigned from_file = file->set & ~cli_set;
	struct daemon_peer_config *merged = NULL;
	size_t nmerged = 0;
	int rc = 0;

	/* Peers first: the only step that can fail, so nothing changes then. */
	if (file->npeers > 0) {
		merged = malloc(sizeof(*merged) * DAEMON_MAX_PEERS);
		if (!merged)
			return -ENOMEM;
		memcpy(merged, file->peers, sizeof(*merged) * file->npeers);
		nmerged = file->npeers;
		for (size_t i = 0; i < config->npeers; i++) {
			size_t j = 0;
			while (j < nmerged && !id_equal(&merged[j].id, &config->peers[i].id))
				j++;
			if (j == nmerged && nmerged == DAEMON_MAX_PEERS) {
				rc = -ENOSPC;
				goto out;
			}
			merged[j] = config->peers[i];
			if (j == nmerged)
				nmerged++;
		}
		memcpy(config->peers, merged, sizeof(*merged) * nmerged);
		config->npeers = nmerged;
	}
	/* The allow-list: the union; a file on reload starts again from the
	 * command line's part. */
	config->nallow = config->nallow_cli;
	for (size_t i = 0; i < file->nallow; i++)
		config_allow_add(config->allow, &config->nallow,
				 sizeof(config->allow) / sizeof(config->allow[0]), &file->allow[i]);
	if (file->set & CONFIG_ALLOW)
		config->allow_on = true;
	if (from_file & CONFIG_LISTEN) {
		memcpy(config->listen, file->listen, sizeof(file->listen[0]) * file->nlisten);
		config->nlisten = file->nlisten;
	}
	if (from_file & CONFIG_DNS_UPSTREAM) {
		memcpy(config->dns_upstream, file->dns_upstream,
		       sizeof(file->dns_upstream[0]) * file->nupstream);
		config->nupstream = file->nupstream;
	}
	if (from_file & CONFIG_RELAYS) {
		memcpy(config->relays, file->relays, sizeof(file->relays[0]) * file->nrelays);
		config->nrelays = file->nrelays;
		config->relays_set = true;
	}
	if (from_file & CONFIG_PKARR_URL) {
		memcpy(config->pkarr_url, file->pkarr_url, sizeof(config->pkarr_url));
		config->pkarr_url_set = true;
	}
	if (from_file & CONFIG_DNS_ORIGIN) {
		memcpy(config->dns_origin, file->dns_origin, sizeof(config->dns_origin));
		config->dns_origin_set = true;
	}
	if (from_file & CONFIG_STUN) {
		memcpy(config->stun, file->stun, sizeof(file->stun[0]) * file->nstun);
		config->nstun = file->nstun;
		config->stun_set = true;
	}
	if (from_file & CONFIG_PORT_MAPPING)
		config->no_port_mapping = file->no_port_mapping;
	if (from_file & CONFIG_LAN_DISCOVERY)
		config->no_lan_discovery = file->no_lan_discovery;
	if (from_file & CONFIG_TUN_NAME)
		config->tun_name = file->tun_name;
	if (from_file & CONFIG_MTU)
		config->mtu = file->mtu;
	if (from_file & CONFIG_DNS_PORT)
		config->dns_port = file->dns_port;
	if (from_file & CONFIG_NO_DNS_CONFIG)
		config->no_dns_config = file->no_dns_config;
	if (from_file & CONFIG_STATE_DIR)
		config->state_dir = file->state_dir;
out:
	free(merged);
	return rc;
}

void config_log_settings(const struct config_file *file, int cli_level, const char *env_filter,
			 enum log_level *level, const char **filter)
{
	*level = LOG_INFO;
	*filter = NULL;
	if (cli_level >= 0)
		*level = (enum log_level)cli_level;
	else if (file && (file->set & CONFIG_LOG_LEVEL))
		*level = file->log_level;
	if (env_filter && *env_filter)
		*filter = env_filter;
	else if (file && (file->set & CONFIG_LOG_FILTER))
		*filter = file->log_filter;
}

static bool host_name_valid(const char *host, size_t len)
{
	bool numeric = true;
	if (len == 0 || len > 253 || host[0] == '.' || host[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = host[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		if (!ok || (c == '.' && i > 0 && host[i - 1] == '.'))
			return false;
		if (c != '.' && (c < '0' || c > '9'))
			numeric = false;
	}
	/* "999.1.2.3" is neither a name nor an address. */
	if (numeric) {
		struct in_addr v4;
		char tmp[16];
		if (len >= sizeof(tmp))
			return false;
		memcpy(tmp, host, len);
		tmp[len] = '\0';
		return inet_pton(AF_INET, tmp, &v4) == 1;
	}
	return true;
}

int config_parse_endpoint(const char *text, char *host, size_t host_cap, uint16_t *port)
{
	const char *host_start = text, *port_text;
	size_t host_len;
	unsigned value;

	if (text[0] == '[') {
		const char *close_bracket = strchr(text, ']');
		struct in6_addr v6;
		char tmp[INET6_ADDRSTRLEN];
		if (!close_bracket || close_bracket[1] != ':')
			return -EINVAL;
		host_start = text + 1;
		host_len = (size_t)(close_bracket - host_start);
		if (host_len >= sizeof(tmp))
			return -EINVAL;
		memcpy(tmp, host_start, host_len);
		tmp[host_len] = '\0';
		if (inet_pton(AF_INET6, tmp, &v6) != 1)
			return -EINVAL;
		port_text = close_bracket + 2;
	} else {
		const char *colon = strchr(text, ':');
		/* An unbracketed IPv6 address cannot be told from its port. */
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		host_len = (size_t)(colon - text);
		if (!host_name_valid(text, host_len))
			return -EINVAL;
		port_text = colon + 1;
	}
	if (host_len + 1 > host_cap || !parse_uint(port_text, 1, 65535, &value))
		return -EINVAL;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	*port = (uint16_t)value;
	return 0;
}

int config_allow_add(struct iron_id *list, size_t *n, size_t cap, const struct iron_id *id)
{
	for (size_t i = 0; i < *n; i++)
		if (id_equal(&list[i], id))
			return 0;
	if (*n == cap)
		return -ENOSPC;
	list[(*n)++] = *id;
	return 1;
}

int config_parse_peer(const char *text, struct daemon_peer_config *out)
{
	const char *at = strchr(text, '@');
	char id_text[IRON_ID_TEXT_MAX + 1];
	size_t id_len;

	memset(out, 0, sizeof(*out));
	if (!at)
		return -EINVAL;
	id_len = (size_t)(at - text);
	if (id_len >= sizeof(id_text))
		return -EINVAL;
	memcpy(id_text, text, id_len);
	id_text[id_len] = '\0';
	if (id_parse(id_text, &out->id, NULL) != 0)
		return -EINVAL;
	if (strncasecmp(at + 1, "http://", 7) == 0 || strncasecmp(at + 1, "https://", 8) == 0) {
		char err[300];
		return config_parse_relay_url(at + 1, out->relay, err, sizeof(err));
	}
	return config_parse_endpoint(at + 1, out->host, sizeof(out->host), &out->port);
}

int config_parse_relay_url(const char *text, char *out, char *err, size_t err_cap)
{
	struct relay_url url;
	int rc = relay_url_parse(text, &url, err, err_cap);
	if (rc < 0)
		return rc;
	snprintf(out, DAEMON_URL_MAX, "%s", url.text);
	return 0;
}

int config_parse_pkarr_url(const char *text, char *out, char *err, size_t err_cap)
{
	if (strcmp(text, "none") == 0) {
		out[0] = '\0';
		return 0;
	}
	return config_parse_relay_url(text, out, err, err_cap);
}

int config_parse_dns_origin(const char *text, char *out, char *err, size_t err_cap)
{
	size_t len = strlen(text), label = 0;
	if (strcmp(text, "none") == 0) {
		out[0] = '\0';
		return 0;
	}
	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0 || len > 200) {
		snprintf(err, err_cap, "expected a domain name of at most 200 bytes, or none");
		return -EINVAL;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? text[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63) {
				snprintf(err, err_cap, "'%s': empty or over-long label", text);
				return -EINVAL;
			}
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			label++;
		} else {
			snprintf(err, err_cap, "'%s': not a domain name", text);
			return -EINVAL;
		}
	}
	memcpy(out, text, len);
	out[len] = '\0';
	return 0;
}

int config_parse_stun(const char *text, char *out, char *err, size_t err_cap)
{
	const char *colon = strrchr(text, ':');
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	size_t hostlen = colon ? (size_t)(colon - text) : 0;
	if (!colon || !end || *end || colon[1] == '\0' || port < 1 || port > 65535 ||
	    hostlen == 0 || strlen(text) >= DAEMON_HOST_MAX) {
		snprintf(err, err_cap, "'%s': expected HOST:PORT", text);
		return -EINVAL;
	}
	for (size_t i = 0; i < hostlen; i++) {
		unsigned char c = (unsigned char)text[i];
		if (!isalnum(c) && !strchr(".-_:[]", c)) {
			snprintf(err, err_cap, "'%s': expected HOST:PORT", text);
			return -EINVAL;
		}
	}
	memcpy(out, text, strlen(text) + 1);
	return 0;
}
