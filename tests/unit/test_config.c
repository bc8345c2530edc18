/* The configuration file: every key, every error with its exact line and
 * message, comments, blank lines, CRLF, whitespace, size limits, loading
 * from disk and the precedence of the command line in config_merge(). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "iron/config.h"
#include "iron/id.h"
#include "iron/netaddr.h"

static const char kat_hex[] = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";
static const char kat_b32[] = "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq";

/* Large values live in static storage (struct config_file is ~110 KiB). */
static struct config_file file;
static struct config_error err;
static char other_b32[IRON_ID_BASE32_LEN + 1];
static struct iron_id kat_id, other_id;

static int parse(const char *text)
{
	return config_parse(text, strlen(text), &file, &err);
}

static char *format(const struct netaddr *addr)
{
	static char buf[NETADDR_STR_SIZE];
	return netaddr_format(&addr->sa, buf, sizeof(buf));
}

static void test_every_key(void)
{
	static const char text[] = "# iron configuration\n"
				   "\n"
				   "[Interface]\n"
				   "Listen = [::]:4766\n"
				   "Listen = 0.0.0.0:4767\n"
				   "TunName = iron7\n"
				   "MTU = 1280\n"
				   "DnsPort = 5353\n"
				   "DnsUpstream = 9.9.9.9:53\n"
				   "DnsUpstream = [2620:fe::fe]:53\n"
				   "NoDnsConfig = true\n"
				   "LogLevel = debug\n"
				   "LogFilter = quic=trace,iron::dns=debug,warn\n"
				   "StateDir = /var/lib/iron\n"
				   "\n"
				   "[Peer]\n"
				   "ID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n"
				   "Endpoint = 192.0.2.1:4766\n"
				   "[Peer]\n"
				   "Endpoint = [2001:db8::1]:4000\n"
				   "ID = %s.iron\n";
	char buf[2048];
	snprintf(buf, sizeof(buf), text, other_b32);
	CHECK_INT(parse(buf), 0);
	CHECK_INT(file.set, CONFIG_LISTEN | CONFIG_TUN_NAME | CONFIG_MTU | CONFIG_DNS_PORT |
				CONFIG_DNS_UPSTREAM | CONFIG_NO_DNS_CONFIG | CONFIG_LOG_LEVEL |
				CONFIG_LOG_FILTER | CONFIG_STATE_DIR | CONFIG_PEERS);
	CHECK_INT(file.nlisten, 2);
	CHECK_STR(format(&file.listen[0]), "[::]:4766");
	CHECK_STR(format(&file.listen[1]), "0.0.0.0:4767");
	CHECK_STR(file.tun_name, "iron7");
	CHECK_INT(file.mtu, 1280);
	CHECK_INT(file.dns_port, 5353);
	CHECK_INT(file.nupstream, 2);
	CHECK_STR(format(&file.dns_upstream[0]), "9.9.9.9:53");
	CHECK_STR(format(&file.dns_upstream[1]), "[2620:fe::fe]:53");
	CHECK_INT(file.no_dns_config, 1);
	CHECK_INT(file.log_level, LOG_DEBUG);
	CHECK_STR(file.log_filter, "quic=trace,iron::dns=debug,warn");
	CHECK_STR(file.state_dir, "/var/lib/iron");
	CHECK_INT(file.npeers, 2);
	CHECK(id_equal(&file.peers[0].id, &kat_id));
	CHECK_STR(file.peers[0].host, "192.0.2.1");
	CHECK_INT(file.peers[0].port, 4766);
	CHECK(id_equal(&file.peers[1].id, &other_id));
	CHECK_STR(file.peers[1].host, "2001:db8::1");
	CHECK_INT(file.peers[1].port, 4000);
}

/* The same file without sections for the interface, with CRLF, tabs,
 * inline comments, odd case in names, and a byte order mark. */
static void test_layout(void)
{
	char buf[1024];
	snprintf(buf, sizeof(buf),
		 "\xef\xbb\xbf# top-level keys are interface keys\r\n"
		 "  \tlisten\t=\t[::1]:1   # trailing comment\r\n"
		 "\r\n"
		 "   # indented comment\r\n"
		 "mtu=1420\r\n"
		 "NODNSCONFIG = Off\r\n"
		 "[ peer ]\r\n"
		 "id=%s\r\n"
		 "ENDPOINT =   10.0.0.1:4766 \t\r\n",
		 kat_b32);
	CHECK_INT(parse(buf), 0);
	CHECK_INT(file.nlisten, 1);
	CHECK_STR(format(&file.listen[0]), "[::1]:1");
	CHECK_INT(file.mtu, 1420);
	CHECK_INT(file.no_dns_config, 0);
	CHECK(file.set & CONFIG_NO_DNS_CONFIG);
	CHECK_INT(file.npeers, 1);
	CHECK_STR(file.peers[0].host, "10.0.0.1");
	CHECK(!(file.set & CONFIG_TUN_NAME));

	/* No newline at the end, and an empty file. */
	CHECK_INT(parse("MTU = 1300"), 0);
	CHECK_INT(file.mtu, 1300);
	CHECK_INT(parse(""), 0);
	CHECK_INT(file.set, 0);
	CHECK_INT(parse("\n\n# only comments\n\n"), 0);
	CHECK_INT(file.set, 0);
	/* [Interface] after top-level keys is the same section. */
	CHECK_INT(parse("MTU = 1300\n[Interface]\nDnsPort = 1\n"), 0);
	CHECK_INT(file.dns_port, 1);
	/* Booleans. */
	const char *yes[] = {"true", "YES", "on", "1"}, *no[] = {"false", "No", "OFF", "0"};
	for (int i = 0; i < 4; i++) {
		char line[64];
		snprintf(line, sizeof(line), "NoDnsConfig = %s\n", yes[i]);
		CHECK_INT(parse(line), 0);
		CHECK_INT(file.no_dns_config, 1);
		snprintf(line, sizeof(line), "NoDnsConfig = %s\n", no[i]);
		CHECK_INT(parse(line), 0);
		CHECK_INT(file.no_dns_config, 0);
	}
}

static void test_peers(void)
{
	char buf[1024];
	snprintf(buf, sizeof(buf),
		 "[Peer]\nID = %s\nEndpoint = [2001:db8::1]:4000\n"
		 "[Peer]\nEndpoint = node.example.org:1\nID = %s.IRON.\n",
		 kat_hex, other_b32);
	CHECK_INT(parse(buf), 0);
	CHECK_INT(file.npeers, 2);
	CHECK(id_equal(&file.peers[0].id, &kat_id));
	CHECK_STR(file.peers[0].host, "2001:db8::1");
	CHECK_INT(file.peers[0].port, 4000);
	CHECK(id_equal(&file.peers[1].id, &other_id));
	CHECK_STR(file.peers[1].host, "node.example.org");
	CHECK_INT(file.peers[1].port, 1);
	CHECK_INT(file.set, CONFIG_PEERS);
}

struct error_case {
	const char *text;
	unsigned line;
	const char *message;
};

static void test_errors(void)
{
	static const struct error_case cases[] = {
	    {"MTU = 1000\n", 1, "line 1: MTU: expected a number from 1280 to 1420"},
	    {"\n\n# c\n\n\n\nMTU = 1421\n", 7, "line 7: MTU: expected a number from 1280 to 1420"},
	    {"MTU = 14x0\n", 1, "line 1: MTU: expected a number from 1280 to 1420"},
	    {"MTU = -1300\n", 1, "line 1: MTU: expected a number from 1280 to 1420"},
	    {"MTU = 99999999999999999999\n", 1, "line 1: MTU: expected a number from 1280 to 1420"},
	    {"MTU =\n", 1, "line 1: MTU: expected a value"},
	    {"MTU = # nothing\n", 1, "line 1: MTU: expected a value"},
	    {"MTU = 1300\nmtu = 1300\n", 2, "line 2: MTU: given twice (first on line 1)"},
	    {"Listen = 4766\n", 1,
	     "line 1: Listen: expected ADDR:PORT with a numeric address, e.g. [::]:4766"},
	    {"Listen = localhost:4766\n", 1,
	     "line 1: Listen: expected ADDR:PORT with a numeric address, e.g. [::]:4766"},
	    {"Listen=[::]:1\nListen=[::]:2\nListen=[::]:3\nListen=[::]:4\nListen=[::]:5\n"
	     "Listen=[::]:6\nListen=[::]:7\nListen=[::]:8\nListen=[::]:9\n",
	     9, "line 9: Listen: at most 8 addresses"},
	    {"TunName = a/b\n", 1,
	     "line 1: TunName: expected an interface name of 1 to 15 characters without '/', "
	     "':' or spaces"},
	    {"TunName = abcdefghijklmnop\n", 1,
	     "line 1: TunName: expected an interface name of 1 to 15 characters without '/', "
	     "':' or spaces"},
	    {"TunName = a b\n", 1,
	     "line 1: TunName: expected an interface name of 1 to 15 characters without '/', "
	     "':' or spaces"},
	    {"TunName = ..\n", 1,
	     "line 1: TunName: expected an interface name of 1 to 15 characters without '/', "
	     "':' or spaces"},
	    {"TunName = a\nTunName = b\n", 2, "line 2: TunName: given twice (first on line 1)"},
	    {"DnsPort = 0\n", 1, "line 1: DnsPort: expected a port number from 1 to 65535"},
	    {"DnsPort = 65536\n", 1, "line 1: DnsPort: expected a port number from 1 to 65535"},
	    {"DnsPort = 53\n\nDnsPort = 53\n", 3, "line 3: DnsPort: given twice (first on line 1)"},
	    {"DnsUpstream = 9.9.9.9\n", 1,
	     "line 1: DnsUpstream: expected ADDR:PORT with a numeric address, e.g. 9.9.9.9:53"},
	    {"DnsUpstream = 9.9.9.9:0\n", 1,
	     "line 1: DnsUpstream: expected ADDR:PORT with a numeric address, e.g. 9.9.9.9:53"},
	    {"DnsUpstream = [::1]:0\n", 1,
	     "line 1: DnsUpstream: expected ADDR:PORT with a numeric address, e.g. 9.9.9.9:53"},
	    {"DnsUpstream=1.1.1.1:53\nDnsUpstream=1.1.1.1:53\nDnsUpstream=1.1.1.1:53\n"
	     "DnsUpstream=1.1.1.1:53\nDnsUpstream=1.1.1.1:53\nDnsUpstream=1.1.1.1:53\n"
	     "DnsUpstream=1.1.1.1:53\nDnsUpstream=1.1.1.1:53\nDnsUpstream=1.1.1.1:53\n",
	     9, "line 9: DnsUpstream: at most 8 servers"},
	    {"NoDnsConfig = maybe\n", 1, "line 1: NoDnsConfig: expected true or false"},
	    {"NoDnsConfig = 1\nNoDnsConfig = 0\n", 2,
	     "line 2: NoDnsConfig: given twice (first on line 1)"},
	    {"LogLevel = loud\n", 1,
	     "line 1: LogLevel: expected trace, debug, info, warn or error"},
	    {"LogLevel = off\n", 1, "line 1: LogLevel: expected trace, debug, info, warn or error"},
	    {"LogLevel = info\nLogLevel = info\n", 2,
	     "line 2: LogLevel: given twice (first on line 1)"},
	    {"LogFilter = quic=loud\n", 1,
	     "line 1: LogFilter: expected module=level items separated by commas, e.g. "
	     "quic=debug,dns=trace,info"},
	    {"LogFilter = =debug\n", 1,
	     "line 1: LogFilter: expected module=level items separated by commas, e.g. "
	     "quic=debug,dns=trace,info"},
	    {"LogFilter = chatty\n", 1,
	     "line 1: LogFilter: expected module=level items separated by commas, e.g. "
	     "quic=debug,dns=trace,info"},
	    {"LogFilter = a=info\nLogFilter = b=info\n", 2,
	     "line 2: LogFilter: given twice (first on line 1)"},
	    {"StateDir = relative/dir\n", 1,
	     "line 1: StateDir: expected an absolute path shorter than 1024 characters"},
	    {"StateDir = /a\nStateDir = /b\n", 2,
	     "line 2: StateDir: given twice (first on line 1)"},
	    {"Colour = blue\n", 1, "line 1: unknown key 'Colour'"},
	    {"[Interface]\nMTU = 1300\n[Interface]\n", 3,
	     "line 3: [Interface]: given twice (first on line 1)"},
	    {"[Interfaces]\n", 1,
	     "line 1: unknown section [Interfaces] (expected [Interface], [Peer] or [Allow])"},
	    {"[Peer\n", 1, "line 1: expected ']' at the end of the section header"},
	    {"MTU 1300\n", 1, "line 1: expected 'Key = Value' or a [Section] header"},
	    {"= 1300\n", 1, "line 1: expected 'Key = Value' or a [Section] header"},
	    {"[Peer]\nMTU = 1300\n", 2, "line 2: MTU: belongs in [Interface], not [Peer]"},
	    {"ID = abc\n", 1, "line 1: ID: belongs in [Peer], not [Interface]"},
	    {"[Peer]\nEndpoint = 10.0.0.1:1\n", 1, "line 1: [Peer]: missing ID"},
	    {"MTU = 1300\n\n[Peer]\nID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n"
	     "[Interface]\n",
	     3, "line 3: [Peer]: missing Endpoint or Relay"},
	    {"[Peer]\nID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqa\n", 2,
	     "line 2: ID: not a node ID (expected 52 base32 characters, 64 hex digits or "
	     "<base32>.iron)"},
	    {"[Peer]\nID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n"
	     "ID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n",
	     3, "line 3: ID: given twice in this [Peer] (section on line 1)"},
	    {"[Peer]\nID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n"
	     "Endpoint = 1.2.3.4:5\nEndpoint = 1.2.3.4:5\n",
	     4, "line 4: Endpoint: given twice in this [Peer] (section on line 1)"},
	    {"[Peer]\nID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n"
	     "Endpoint = 1.2.3.4:5\n[Peer]\n"
	     "ID = 197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61\n",
	     5, "line 5: ID: this peer is already listed on line 2"},
	    {"[Peer]\nEndpoint = 2001:db8::1:4766\n", 2,
	     "line 2: Endpoint: expected HOST:PORT, e.g. 192.0.2.1:4766, [2001:db8::1]:4766 "
	     "or host.example:4766"},
	    {"[Peer]\nEndpoint = 1.2.3.4:0\n", 2,
	     "line 2: Endpoint: expected HOST:PORT, e.g. 192.0.2.1:4766, [2001:db8::1]:4766 "
	     "or host.example:4766"},
	    {"[Peer]\nEndpoint = 999.1.2.3:1\n", 2,
	     "line 2: Endpoint: expected HOST:PORT, e.g. 192.0.2.1:4766, [2001:db8::1]:4766 "
	     "or host.example:4766"},
	    {"[Peer]\nEndpoint = bad..name:1\n", 2,
	     "line 2: Endpoint: expected HOST:PORT, e.g. 192.0.2.1:4766, [2001:db8::1]:4766 "
	     "or host.example:4766"},
	    {"[Peer]\nEndpoint = [zz::1]:1\n", 2,
	     "line 2: Endpoint: expected HOST:PORT, e.g. 192.0.2.1:4766, [2001:db8::1]:4766 "
	     "or host.example:4766"},
	    {"[Peer]\nEndpoint = a b:1\n", 2,
	     "line 2: Endpoint: expected HOST:PORT, e.g. 192.0.2.1:4766, [2001:db8::1]:4766 "
	     "or host.example:4766"},
	    {"# ok\r\nMTU = 1300\r\nMTU = 1300\r\n", 3,
	     "line 3: MTU: given twice (first on line 2)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse(cases[i].text);
		CHECK_INT(rc, -EINVAL);
		CHECK_INT(err.line, cases[i].line);
		CHECK_STR(err.message, cases[i].message);
		if (rc != -EINVAL || strcmp(err.message, cases[i].message) != 0)
			fprintf(stderr, "    in case %zu\n", i);
	}
	/* A NULL error pointer is allowed. */
	CHECK_INT(config_parse("MTU = 1\n", 8, &file, NULL), -EINVAL);
}

static void test_limits(void)
{
	static char big[CONFIG_MAX_SIZE + 2];
	char line[CONFIG_LINE_MAX + 16];

	/* A line of exactly CONFIG_LINE_MAX characters is fine (a comment),
	 * one more is not; the CR of CRLF does not count. */
	memset(line, ' ', sizeof(line));
	line[0] = '#';
	line[CONFIG_LINE_MAX] = '\r';
	line[CONFIG_LINE_MAX + 1] = '\n';
	CHECK_INT(config_parse(line, CONFIG_LINE_MAX + 2, &file, &err), 0);
	line[CONFIG_LINE_MAX] = ' ';
	line[CONFIG_LINE_MAX + 1] = '\n';
	memcpy(big, "MTU = 1300\n", 11);
	memcpy(big + 11, line, CONFIG_LINE_MAX + 2);
	CHECK_INT(config_parse(big, 11 + CONFIG_LINE_MAX + 2, &file, &err), -EINVAL);
	CHECK_INT(err.line, 2);
	CHECK_STR(err.message, "line 2: line longer than 1024 characters");

	/* A NUL byte. */
	CHECK_INT(config_parse("MTU = 1300\nMTU\0 = 1\n", 20, &file, &err), -EINVAL);
	CHECK_STR(err.message, "line 2: NUL byte: not a text file");

	/* Exactly CONFIG_MAX_SIZE bytes of blank lines pass, one more fails. */
	memset(big, '\n', sizeof(big));
	CHECK_INT(config_parse(big, CONFIG_MAX_SIZE, &file, &err), 0);
	CHECK_INT(config_parse(big, CONFIG_MAX_SIZE + 1, &file, &err), -EFBIG);
	CHECK_INT(err.line, 0);
	CHECK_STR(err.message, "larger than 65536 bytes: not a configuration file");

	/* 256 peers fit, the 257th does not. */
	size_t n = 0;
	char *text = malloc(DAEMON_MAX_PEERS * 200 + 200);
	for (int i = 0; i <= DAEMON_MAX_PEERS; i++) {
		unsigned char pk[32], sk[64];
		struct iron_id id;
		char b32[IRON_ID_BASE32_LEN + 1];
		crypto_sign_keypair(pk, sk);
		memcpy(id.bytes, pk, 32);
		id_to_base32(&id, b32);
		n += (size_t)sprintf(text + n, "[Peer]\nID = %s\nEndpoint = 10.0.%d.%d:4766\n", b32,
				     i / 256, i % 256);
		if (i == DAEMON_MAX_PEERS - 1) {
			CHECK_INT(config_parse(text, n, &file, &err), 0);
			CHECK_INT(file.npeers, DAEMON_MAX_PEERS);
		}
	}
	CHECK_INT(config_parse(text, n, &file, &err), -EINVAL);
	CHECK_INT(err.line, 3 * DAEMON_MAX_PEERS + 1);
	CHECK_STR(err.message, "line 769: [Peer]: too many peers (at most 256)");
	free(text);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	fwrite(text, 1, len, f);
	fclose(f);
}

static void test_load(void)
{
	char dir[] = "/tmp/iron-test-config.XXXXXX";
	char path[256];
	static char big[CONFIG_MAX_SIZE + 1];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/iron.conf", dir);

	CHECK_INT(config_load(path, &file, &err), -ENOENT);
	CHECK_STR(err.message, "No such file or directory");

	write_file(path, "[Interface]\nTunName = tun9\n\nMTU = 5\n", 36);
	CHECK_INT(config_load(path, &file, &err), -EINVAL);
	CHECK_STR(err.message, "line 4: MTU: expected a number from 1280 to 1420");

	write_file(path, "[Interface]\nTunName = tun9\n", 27);
	CHECK_INT(config_load(path, &file, &err), 0);
	CHECK_STR(file.tun_name, "tun9");

	memset(big, '\n', sizeof(big));
	write_file(path, big, sizeof(big));
	CHECK_INT(config_load(path, &file, &err), -EFBIG);
	CHECK_STR(err.message, "larger than 65536 bytes: not a configuration file");
	write_file(path, big, sizeof(big) - 1);
	CHECK_INT(config_load(path, &file, &err), 0);

	CHECK_INT(config_load(dir, &file, &err), -EISDIR);
	CHECK_STR(err.message, "not a regular file");

	/* Whoever may write the file decides where traffic goes. */
	write_file(path, "[Interface]\nTunName = tun9\n", 27);
	CHECK_INT(chmod(path, 0664), 0);
	CHECK_INT(config_load(path, &file, &err), -EPERM);
	CHECK_STR(err.message, "writable by other users (mode 0664): chmod go-w it");
	CHECK_INT(chmod(path, 0646), 0);
	CHECK_INT(config_load(path, &file, &err), -EPERM);
	CHECK_INT(chmod(path, 0644), 0);
	CHECK_INT(config_load(path, &file, &err), 0);
	if (geteuid() == 0) {
		CHECK_INT(chown(path, 12345, 0), 0);
		CHECK_INT(config_load(path, &file, &err), -EPERM);
		CHECK_STR(err.message,
			  "owned by another user (uid 12345): chown it to root or to the user iron "
			  "runs as");
	}
	unlink(path);

	/* A FIFO does not hang the load. */
	CHECK_INT(mkfifo(path, 0600), 0);
	CHECK_INT(config_load(path, &file, &err), -EINVAL);
	CHECK_STR(err.message, "not a regular file");

	unlink(path);
	rmdir(dir);
}

static void set_listen(struct daemon_config *c, const char *addr)
{
	CHECK_INT(netaddr_parse(addr, &c->listen[c->nlisten++]), 0);
}

static void test_merge(void)
{
	static struct daemon_config config;
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "Listen = [::]:1000\nListen = [::]:1001\nTunName = filetun\nMTU = 1300\n"
		 "DnsPort = 6000\nDnsUpstream = 1.1.1.1:53\nNoDnsConfig = yes\nStateDir = /file\n"
		 "[Peer]\nID = %s\nEndpoint = file.example:1\n"
		 "[Peer]\nID = %s\nEndpoint = other.example:2\n",
		 kat_b32, other_b32);
	CHECK_INT(parse(buf), 0);

	/* Nothing on the command line: the file fills every setting. */
	memset(&config, 0, sizeof(config));
	config.tun_name = "iron0";
	config.mtu = 1420;
	config.dns_port = 5333;
	CHECK_INT(config_merge(&config, 0, &file), 0);
	CHECK_STR(config.tun_name, "filetun");
	CHECK_INT(config.mtu, 1300);
	CHECK_INT(config.dns_port, 6000);
	CHECK_INT(config.no_dns_config, 1);
	CHECK_STR(config.state_dir, "/file");
	CHECK_INT(config.nlisten, 2);
	CHECK_STR(format(&config.listen[1]), "[::]:1001");
	CHECK_INT(config.nupstream, 1);
	CHECK_INT(config.npeers, 2);
	CHECK_STR(config.peers[0].host, "file.example");

	/* Everything on the command line: the command line wins; --listen
	 * replaces the file's list; --peer adds to the file's peers, and one
	 * with the same ID replaces that entry's endpoint. */
	memset(&config, 0, sizeof(config));
	config.tun_name = "clitun";
	config.mtu = 1400;
	config.dns_port = 7000;
	config.no_dns_config = 0;
	config.state_dir = "/cli";
	set_listen(&config, "127.0.0.1:9");
	CHECK_INT(netaddr_parse("8.8.8.8:53", &config.dns_upstream[0]), 0);
	config.nupstream = 1;
	CHECK_INT(
	    config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@cli.example:7",
			      &config.peers[0]),
	    0);
	unsigned char pk[32], sk[64];
	crypto_sign_keypair(pk, sk);
	memcpy(config.peers[1].id.bytes, pk, 32);
	snprintf(config.peers[1].host, sizeof(config.peers[1].host), "third.example");
	config.peers[1].port = 3;
	config.npeers = 2;
	unsigned all = CONFIG_LISTEN | CONFIG_TUN_NAME | CONFIG_MTU | CONFIG_DNS_PORT |
		       CONFIG_DNS_UPSTREAM | CONFIG_NO_DNS_CONFIG | CONFIG_STATE_DIR | CONFIG_PEERS;
	CHECK_INT(config_merge(&config, all, &file), 0);
	CHECK_STR(config.tun_name, "clitun");
	CHECK_INT(config.mtu, 1400);
	CHECK_INT(config.dns_port, 7000);
	CHECK_INT(config.no_dns_config, 0);
	CHECK_STR(config.state_dir, "/cli");
	CHECK_INT(config.nlisten, 1);
	CHECK_STR(format(&config.listen[0]), "127.0.0.1:9");
	CHECK_INT(config.nupstream, 1);
	CHECK_STR(format(&config.dns_upstream[0]), "8.8.8.8:53");
	CHECK_INT(config.npeers, 3);
	CHECK(id_equal(&config.peers[0].id, &kat_id));
	CHECK_STR(config.peers[0].host, "cli.example");
	CHECK_INT(config.peers[0].port, 7);
	CHECK(id_equal(&config.peers[1].id, &other_id));
	CHECK_STR(config.peers[1].host, "other.example");
	CHECK_STR(config.peers[2].host, "third.example");

	/* Some from each: only what the command line left unset is taken. */
	memset(&config, 0, sizeof(config));
	config.tun_name = "iron0";
	config.mtu = 1380;
	CHECK_INT(config_merge(&config, CONFIG_MTU, &file), 0);
	CHECK_INT(config.mtu, 1380);
	CHECK_STR(config.tun_name, "filetun");

	/* A setting the file did not give keeps the default. */
	CHECK_INT(parse("MTU = 1300\n"), 0);
	memset(&config, 0, sizeof(config));
	config.tun_name = "iron0";
	config.dns_port = 5333;
	set_listen(&config, "[::]:4766");
	CHECK_INT(config_merge(&config, 0, &file), 0);
	CHECK_STR(config.tun_name, "iron0");
	CHECK_INT(config.dns_port, 5333);
	CHECK_INT(config.nlisten, 1);
	CHECK_INT(config.mtu, 1300);

	/* Too many peers in total: -ENOSPC and nothing changed. */
	static struct config_file full;
	full.set = CONFIG_PEERS | CONFIG_MTU;
	full.mtu = 1300;
	full.npeers = DAEMON_MAX_PEERS;
	for (size_t i = 0; i < DAEMON_MAX_PEERS; i++)
		full.peers[i].id.bytes[0] = (uint8_t)(i + 1),
		full.peers[i].id.bytes[1] = (uint8_t)(i >> 8);
	memset(&config, 0, sizeof(config));
	config.mtu = 1420;
	config.npeers = 1;
	config.peers[0].id = other_id;
	CHECK_INT(config_merge(&config, 0, &full), -ENOSPC);
	CHECK_INT(config.npeers, 1);
	CHECK_INT(config.mtu, 1420);
	/* ... but a --peer that only replaces one of the file's fits. */
	config.peers[0].id = full.peers[5].id;
	snprintf(config.peers[0].host, sizeof(config.peers[0].host), "x");
	CHECK_INT(config_merge(&config, 0, &full), 0);
	CHECK_INT(config.npeers, DAEMON_MAX_PEERS);
	CHECK_STR(config.peers[5].host, "x");
}

/* [Allow]: IDs in every form, the section alone turning the policy on,
 * the errors, the limit, and the union with --allow in config_merge(). */
static void test_allow(void)
{
	static struct daemon_config config;
	char buf[1024];

	CHECK_INT(parse("MTU = 1300\n"), 0);
	CHECK((file.set & CONFIG_ALLOW) == 0);
	CHECK_INT(parse("[Allow]\n"), 0);
	CHECK((file.set & CONFIG_ALLOW) != 0);
	CHECK_INT(file.nallow, 0);
	snprintf(buf, sizeof(buf),
		 "[allow]\nid = %s\n[Peer]\nID = %s\nEndpoint = 1.2.3.4:5\n[ Allow ]\n"
		 "ID = %s.iron\n",
		 kat_hex, kat_b32, other_b32);
	CHECK_INT(parse(buf), 0);
	CHECK_INT(file.nallow, 2);
	CHECK(id_equal(&file.allow[0], &kat_id));
	CHECK(id_equal(&file.allow[1], &other_id));
	CHECK_INT(file.npeers, 1);

	static const struct {
		const char *text;
		unsigned line;
		const char *message;
	} cases[] = {
	    {"[Allow]\nID = nope\n", 2,
	     "line 2: ID: not a node ID (expected 52 base32 characters, 64 hex digits or "
	     "<base32>.iron)"},
	    {"[Allow]\nID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n\n[Allow]\n"
	     "ID = 197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61\n",
	     5, "line 5: ID: this node is already allowed on line 2"},
	    {"[Allow]\nEndpoint = 1.2.3.4:5\n", 2,
	     "line 2: Endpoint: belongs in [Peer], not [Allow]"},
	    {"[Allow]\nMTU = 1300\n", 2, "line 2: MTU: belongs in [Interface], not [Allow]"},
	    {"[Allow]\nRelay = https://relay.example\n", 2,
	     "line 2: Relay: belongs in [Interface], not [Allow]"},
	    {"[Allow]\nID =\n", 2, "line 2: ID: expected a value"},
	    {"[Allow]\nColour = blue\n", 2, "line 2: unknown key 'Colour'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = parse(cases[i].text);
		CHECK_INT(rc, -EINVAL);
		CHECK_INT(err.line, cases[i].line);
		CHECK_STR(err.message, cases[i].message);
	}

	/* At most DAEMON_MAX_ALLOW IDs in a file. */
	size_t cap = (size_t)(DAEMON_MAX_ALLOW + 2) * (IRON_ID_BASE32_LEN + 6) + 16, len = 0;
	char *big = malloc(cap);
	CHECK(big != NULL);
	if (big) {
		len += (size_t)snprintf(big + len, cap - len, "[Allow]\n");
		for (size_t i = 0; i <= DAEMON_MAX_ALLOW; i++) {
			unsigned char pk[32], sk[64];
			struct iron_id id;
			char b32[IRON_ID_BASE32_LEN + 1];
			crypto_sign_keypair(pk, sk);
			memcpy(id.bytes, pk, 32);
			id_to_base32(&id, b32);
			len += (size_t)snprintf(big + len, cap - len, "ID=%s\n", b32);
		}
		CHECK(len <= CONFIG_MAX_SIZE);
		CHECK_INT(config_parse(big, len, &file, &err), -EINVAL);
		CHECK_INT(err.line, DAEMON_MAX_ALLOW + 2);
		CHECK_STR(err.message, "line 1026: ID: at most 1024 allowed nodes");
		free(big);
	}

	/* Merge: the union of --allow and [Allow], the command line's first;
	 * --peer entries keep their mark, the file's do not get it. */
	snprintf(buf, sizeof(buf), "[Allow]\nID = %s\nID = %s\n[Peer]\nID = %s\nRelay = %s\n",
		 other_b32, kat_b32, other_b32, "https://relay.example");
	CHECK_INT(parse(buf), 0);
	memset(&config, 0, sizeof(config));
	config.allow[0] = kat_id;
	config.nallow = config.nallow_cli = 1;
	config.allow_on = true;
	CHECK_INT(
	    config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@cli.example:7",
			      &config.peers[0]),
	    0);
	config.peers[0].from_cli = true;
	config.npeers = 1;
	CHECK_INT(config_merge(&config, CONFIG_ALLOW | CONFIG_PEERS, &file), 0);
	CHECK(config.allow_on);
	CHECK_INT(config.nallow_cli, 1);
	CHECK_INT(config.nallow, 2);
	CHECK(id_equal(&config.allow[0], &kat_id));
	CHECK(id_equal(&config.allow[1], &other_id));
	CHECK_INT(config.npeers, 2);
	CHECK(!config.peers[0].from_cli && id_equal(&config.peers[0].id, &other_id));
	CHECK(config.peers[1].from_cli && id_equal(&config.peers[1].id, &kat_id));
	CHECK_INT(config_allow_add(config.allow, &config.nallow, 2, &kat_id), 0);
	CHECK_INT(config_allow_add(config.allow, &config.nallow, 2, &config.peers[0].id), 0);
	struct iron_id third = kat_id;
	third.bytes[0] ^= 1;
	CHECK_INT(config_allow_add(config.allow, &config.nallow, 2, &third), -ENOSPC);
	CHECK_INT(config_allow_add(config.allow, &config.nallow, 3, &third), 1);
	CHECK_INT(config.nallow, 3);

	/* A file with an empty [Allow] turns the policy on; none leaves it off. */
	memset(&config, 0, sizeof(config));
	CHECK_INT(parse("[Allow]\n"), 0);
	CHECK_INT(config_merge(&config, 0, &file), 0);
	CHECK(config.allow_on);
	CHECK_INT(config.nallow, 0);
	memset(&config, 0, sizeof(config));
	CHECK_INT(parse("MTU = 1300\n"), 0);
	CHECK_INT(config_merge(&config, 0, &file), 0);
	CHECK(!config.allow_on);
}

static void test_log_settings(void)
{
	enum log_level level;
	const char *filter;

	CHECK_INT(parse("LogLevel = warn\nLogFilter = quic=trace\n"), 0);
	config_log_settings(&file, -1, NULL, &level, &filter);
	CHECK_INT(level, LOG_WARN);
	CHECK_STR(filter, "quic=trace");
	config_log_settings(&file, LOG_ERROR, "", &level, &filter);
	CHECK_INT(level, LOG_ERROR);
	CHECK_STR(filter, "quic=trace");
	config_log_settings(&file, -1, "dns=debug", &level, &filter);
	CHECK_INT(level, LOG_WARN);
	CHECK_STR(filter, "dns=debug");
	config_log_settings(NULL, -1, NULL, &level, &filter);
	CHECK_INT(level, LOG_INFO);
	CHECK(filter == NULL);
	CHECK_INT(parse("MTU = 1300\n"), 0);
	config_log_settings(&file, -1, NULL, &level, &filter);
	CHECK_INT(level, LOG_INFO);
	CHECK(filter == NULL);
	/* What the file accepts, log_configure() accepts too. */
	CHECK_INT(parse("LogFilter = iron::quic=trace, dns=debug,info\n"), 0);
	CHECK_INT(log_configure(LOG_INFO, file.log_filter), 0);
	CHECK_INT(log_configure(LOG_INFO, NULL), 0);
}

static void test_endpoint_and_peer(void)
{
	struct daemon_peer_config peer;
	char host[DAEMON_HOST_MAX];
	uint16_t port;

	CHECK_INT(config_parse_endpoint("192.0.2.1:4766", host, sizeof(host), &port), 0);
	CHECK_STR(host, "192.0.2.1");
	CHECK_INT(port, 4766);
	CHECK_INT(config_parse_endpoint("[::1]:65535", host, sizeof(host), &port), 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 65535);
	CHECK_INT(config_parse_endpoint("relay_1.example.:80", host, sizeof(host), &port), 0);
	CHECK_STR(host, "relay_1.example.");
	CHECK_INT(config_parse_endpoint("host:65536", host, sizeof(host), &port), -EINVAL);
	CHECK_INT(config_parse_endpoint("host:", host, sizeof(host), &port), -EINVAL);
	CHECK_INT(config_parse_endpoint(":1", host, sizeof(host), &port), -EINVAL);
	CHECK_INT(config_parse_endpoint("[::1]1", host, sizeof(host), &port), -EINVAL);
	CHECK_INT(config_parse_endpoint("[::1:1", host, sizeof(host), &port), -EINVAL);
	CHECK_INT(config_parse_endpoint("-host:1", host, sizeof(host), &port), -EINVAL);
	CHECK_INT(config_parse_endpoint("host.example:1", host, 5, &port), -EINVAL);

	CHECK_INT(
	    config_parse_peer(
		"df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq.iron.@[fd00::2]:4766", &peer),
	    0);
	CHECK(id_equal(&peer.id, &kat_id));
	CHECK_STR(peer.host, "fd00::2");
	CHECK_INT(peer.port, 4766);
	CHECK_INT(config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq", &peer),
		  -EINVAL);
	CHECK_INT(config_parse_peer("nope@1.2.3.4:1", &peer), -EINVAL);
	/* ID@RELAY-URL: the relay, no address. */
	CHECK_INT(config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@"
				    "http://10.98.0.254:3340",
				    &peer),
		  0);
	CHECK_STR(peer.relay, "http://10.98.0.254:3340");
	CHECK_STR(peer.host, "");
	CHECK_INT(config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@"
				    "https://relay.example./x",
				    &peer),
		  0);
	CHECK_STR(peer.relay, "https://relay.example./x");
	CHECK_INT(config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@"
				    "https://u@relay.example",
				    &peer),
		  -EINVAL);
	CHECK_INT(config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@"
				    "http://relay.example:0",
				    &peer),
		  -EINVAL);
	CHECK_INT(config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@"
				    "http://[fd00::1",
				    &peer),
		  -EINVAL);
	{
		struct config_file *f = calloc(1, sizeof(*f));
		struct config_error e = {0};
		const char *text =
		    "Relay = http://[fd00::1]:3340\nRelay = https://r.example\n"
		    "[Peer]\nID = df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq\n"
		    "Relay = http://r2.example:80\n";
		CHECK_INT(config_parse(text, strlen(text), f, &e), 0);
		CHECK_INT(f->nrelays, 2);
		CHECK_STR(f->relays[1], "https://r.example");
		CHECK_STR(f->peers[0].relay, "http://r2.example:80");
		CHECK(f->set & CONFIG_RELAYS);
		const char *none = "Relay = none\nRelay = http://x.example\n";
		CHECK(config_parse(none, strlen(none), f, &e) != 0);
		CHECK_STR(e.message, "line 2: Relay: none and a relay URL cannot go together");
		const char *bad = "Relay = ftp://x.example\n";
		CHECK(config_parse(bad, strlen(bad), f, &e) != 0);
		free(f);
	}
	CHECK_INT(config_parse_peer("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq@1.2.3.4",
				    &peer),
		  -EINVAL);
}

/* Every text form of a node ID that `iron convert` accepts (id_parse())
 * is taken by --peer and by a [Peer]'s ID: hex in either case, base32 in
 * any case, the domain with or without the trailing dot. */
static void test_peer_id_forms(void)
{
	char upper_hex[IRON_ID_HEX_LEN + 1], mixed_b32[IRON_ID_BASE32_LEN + 1];
	char forms[8][IRON_ID_HEX_LEN + 8];
	struct daemon_peer_config peer;
	char buf[1024];
	size_t n = 0;

	for (size_t i = 0; i <= IRON_ID_HEX_LEN; i++)
		upper_hex[i] = (char)(kat_hex[i] >= 'a' ? kat_hex[i] - 'a' + 'A' : kat_hex[i]);
	for (size_t i = 0; i <= IRON_ID_BASE32_LEN; i++)
		mixed_b32[i] =
		    (char)(i % 2 && kat_b32[i] >= 'a' ? kat_b32[i] - 'a' + 'A' : kat_b32[i]);
	snprintf(forms[n++], sizeof(forms[0]), "%s", kat_hex);
	snprintf(forms[n++], sizeof(forms[0]), "%s", upper_hex);
	snprintf(forms[n++], sizeof(forms[0]), "%s", kat_b32);
	snprintf(forms[n++], sizeof(forms[0]), "%s", mixed_b32);
	snprintf(forms[n++], sizeof(forms[0]), "%s.iron", kat_b32);
	snprintf(forms[n++], sizeof(forms[0]), "%s.IRON.", mixed_b32);
	for (size_t i = 0; i < n; i++) {
		struct iron_id id;
		CHECK_INT(id_parse(forms[i], &id, NULL), 0); /* what `iron convert` takes */
		snprintf(buf, sizeof(buf), "%s@192.0.2.1:4766", forms[i]);
		CHECK_INT(config_parse_peer(buf, &peer), 0);
		CHECK(id_equal(&peer.id, &kat_id));
		CHECK_STR(peer.host, "192.0.2.1");
		CHECK_INT(peer.port, 4766);
		snprintf(buf, sizeof(buf), "[Peer]\nID = %s\nEndpoint = 192.0.2.1:4766\n",
			 forms[i]);
		CHECK_INT(parse(buf), 0);
		CHECK_INT(file.npeers, 1);
		CHECK(id_equal(&file.peers[0].id, &kat_id));
	}
	/* One character more than hex, or a valid form with junk, is not an ID. */
	snprintf(buf, sizeof(buf), "%s0@192.0.2.1:4766", kat_hex);
	CHECK_INT(config_parse_peer(buf, &peer), -EINVAL);
	snprintf(buf, sizeof(buf), "%s.iron.x@192.0.2.1:4766", kat_b32);
	CHECK_INT(config_parse_peer(buf, &peer), -EINVAL);
}

/* Discovery settings: PkarrUrl, DnsOrigin, LanDiscovery, their "none"
 * forms, bad values, and the merge (the command line wins). */
static void test_discovery(void)
{
	struct config_file *f = calloc(1, sizeof(*f));
	struct daemon_config *c = calloc(1, sizeof(*c));
	struct config_error e;
	char out[DAEMON_URL_MAX], why[300];
	CHECK(f && c);
	const char *text = "PkarrUrl = http://10.0.0.1:8080/pkarr\nDnsOrigin = example.org.\n"
			   "LanDiscovery = off\n";
	CHECK_INT(config_parse(text, strlen(text), f, &e), 0);
	CHECK_STR(f->pkarr_url, "http://10.0.0.1:8080/pkarr");
	CHECK_STR(f->dns_origin, "example.org");
	CHECK(f->no_lan_discovery);
	CHECK(f->set & CONFIG_PKARR_URL && f->set & CONFIG_DNS_ORIGIN &&
	      f->set & CONFIG_LAN_DISCOVERY);
	CHECK_INT(config_merge(c, 0, f), 0);
	CHECK(c->pkarr_url_set && c->dns_origin_set && c->no_lan_discovery);
	CHECK_STR(c->dns_origin, "example.org");
	/* The command line's value stays. */
	memset(c, 0, sizeof(*c));
	snprintf(c->dns_origin, sizeof(c->dns_origin), "cli.example");
	c->dns_origin_set = true;
	CHECK_INT(config_merge(c, CONFIG_DNS_ORIGIN, f), 0);
	CHECK_STR(c->dns_origin, "cli.example");
	CHECK_STR(c->pkarr_url, "http://10.0.0.1:8080/pkarr");

	const char *none = "PkarrUrl = none\nDnsOrigin = none\nLanDiscovery = true\n";
	CHECK_INT(config_parse(none, strlen(none), f, &e), 0);
	CHECK_STR(f->pkarr_url, "");
	CHECK_STR(f->dns_origin, "");
	CHECK(!f->no_lan_discovery);

	static const char *const bad[][2] = {
	    {"PkarrUrl = ftp://x\n", "line 1: PkarrUrl: "},
	    {"DnsOrigin = a..b\n", "line 1: DnsOrigin: 'a..b': empty or over-long label"},
	    {"DnsOrigin = a b\n", "line 1: DnsOrigin: 'a b': not a domain name"},
	    {"LanDiscovery = maybe\n", "line 1: LanDiscovery: expected true or false"},
	    {"DnsOrigin = x\nDnsOrigin = y\n", "line 2: DnsOrigin"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(config_parse(bad[i][0], strlen(bad[i][0]), f, &e) != 0);
		CHECK(strncmp(e.message, bad[i][1], strlen(bad[i][1])) == 0);
	}
	CHECK_INT(config_parse_dns_origin("none", out, why, sizeof(why)), 0);
	CHECK_STR(out, "");
	CHECK_INT(config_parse_dns_origin(".", out, why, sizeof(why)), -EINVAL);
	char long_label[80];
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	CHECK_INT(config_parse_dns_origin(long_label, out, why, sizeof(why)), -EINVAL);
	CHECK_INT(config_parse_pkarr_url("https://dns.iroh.link/pkarr", out, why, sizeof(why)), 0);
	CHECK_STR(out, "https://dns.iroh.link/pkarr");
	free(f);
	free(c);
}

int main(void)
{
	unsigned char pk[32], sk[64];
	if (sodium_init() < 0)
		return 1;
	CHECK_INT(id_parse(kat_b32, &kat_id, NULL), 0);
	crypto_sign_keypair(pk, sk);
	memcpy(other_id.bytes, pk, 32);
	id_to_base32(&other_id, other_b32);

	test_every_key();
	test_layout();
	test_peers();
	test_errors();
	test_limits();
	test_load();
	test_merge();
	test_allow();
	test_log_settings();
	test_endpoint_and_peer();
	test_peer_id_forms();
	test_discovery();
	return check_done();
}
