/* lanprobe: runs LAN discovery (lan.h) alone, for tests. Announces ID with
 * PORT and the addresses given (none: each interface's own), and prints
 * one JSON line per node reported:
 *   {"event":"found","id":"<base32>","port":N,"addrs":["a:p",...],
 *    "relay":"...","ttl":N}
 * after {"event":"up","id":"<base32>"} at start. SIGUSR1 prints
 * {"event":"stats",...}; SIGINT/SIGTERM print it too and exit once every
 * handle is closed (exit status 1 if the loop is not empty then).
 *
 * usage: lanprobe [--relay URL] [--exclude IF[,IF...]] [--ttl N]
 *                 ID PORT [ADDR:PORT...] */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "iron/lan.h"
#include "iron/log.h"

struct probe {
	struct lan *lan;
	uv_signal_t sig_int, sig_term, sig_usr1;
};

static void print_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void on_found(void *user, const struct lan_node *node)
{
	char id[IRON_ID_BASE32_LEN + 1], text[NETADDR_STR_SIZE];
	(void)user;
	id_to_base32(&node->id, id);
	printf("{\"event\":\"found\",\"id\":\"%s\",\"port\":%u,\"addrs\":[", id,
	       (unsigned)node->port);
	for (size_t i = 0; i < node->naddrs; i++) {
		printf(i ? "," : "");
		print_string(netaddr_format(&node->addrs[i].sa, text, sizeof(text)));
	}
	printf("],\"relay\":");
	print_string(node->relay);
	printf(",\"ttl\":%u}\n", (unsigned)node->ttl);
	fflush(stdout);
}

static void print_stats(const struct probe *p)
{
	struct lan_stats s;
	lan_get_stats(p->lan, &s);
	printf("{\"event\":\"stats\",\"sent\":%llu,\"received\":%llu,\"malformed\":%llu,"
	       "\"nodes_found\":%llu,\"answered\":%llu,\"interfaces\":%llu}\n",
	       (unsigned long long)s.sent, (unsigned long long)s.received,
	       (unsigned long long)s.malformed, (unsigned long long)s.nodes_found,
	       (unsigned long long)s.answered, (unsigned long long)s.interfaces);
	fflush(stdout);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct probe *p = handle->data;
	print_stats(p);
	if (signum == SIGUSR1)
		return;
	lan_del(p->lan);
	uv_close((uv_handle_t *)&p->sig_int, NULL);
	uv_close((uv_handle_t *)&p->sig_term, NULL);
	uv_close((uv_handle_t *)&p->sig_usr1, NULL);
}

static int usage(void)
{
	fprintf(stderr, "usage: lanprobe [--relay URL] [--exclude IF[,IF...]] [--ttl N] ID PORT "
			"[ADDR:PORT...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct lan_node self;
	struct probe p;
	const char *exclude = NULL;
	char id[IRON_ID_BASE32_LEN + 1];
	int i = 1, rc;

	memset(&self, 0, sizeof(self));
	memset(&p, 0, sizeof(p));
	if (sodium_init() < 0)
		return 1;
	log_configure(LOG_INFO, getenv("IRON_LOG"));
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--relay") == 0)
			snprintf(self.relay, sizeof(self.relay), "%s", argv[i + 1]);
		else if (strcmp(argv[i], "--exclude") == 0)
			exclude = argv[i + 1];
		else if (strcmp(argv[i], "--ttl") == 0)
			self.ttl = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else
			return usage();
	}
	if (argc - i < 2)
		return usage();
	if (id_parse(argv[i], &self.id, NULL) != 0) {
		fprintf(stderr, "lanprobe: not a node ID: %s\n", argv[i]);
		return 2;
	}
	self.port = (uint16_t)atoi(argv[i + 1]);
	for (i += 2; i < argc; i++) {
		if (self.naddrs == LAN_MAX_ADDRS ||
		    netaddr_parse(argv[i], &self.addrs[self.naddrs]) != 0) {
			fprintf(stderr, "lanprobe: bad address (or too many): %s\n", argv[i]);
			return 2;
		}
		self.naddrs++;
	}

	uv_loop_t *loop = uv_default_loop();
	struct lan_callbacks cb = {.user = &p, .found = on_found};
	rc = lan_new(loop, &self, exclude, &cb, &p.lan);
	if (rc < 0) {
		fprintf(stderr, "lanprobe: %s\n", strerror(-rc));
		return 1;
	}
	uv_signal_init(loop, &p.sig_int);
	uv_signal_init(loop, &p.sig_term);
	uv_signal_init(loop, &p.sig_usr1);
	p.sig_int.data = p.sig_term.data = p.sig_usr1.data = &p;
	uv_signal_start(&p.sig_int, on_signal, SIGINT);
	uv_signal_start(&p.sig_term, on_signal, SIGTERM);
	uv_signal_start(&p.sig_usr1, on_signal, SIGUSR1);
	id_to_base32(&self.id, id);
	printf("{\"event\":\"up\",\"id\":\"%s\"}\n", id);
	fflush(stdout);
	uv_run(loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(loop);
	if (rc != 0)
		fprintf(stderr, "lanprobe: loop not empty at exit: %s\n", uv_strerror(rc));
	return rc != 0;
}
