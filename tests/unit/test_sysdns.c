/* System DNS configuration against a temporary root, with stand-in
 * resolvectl and systemctl scripts that record their arguments: the exact
 * drop-in and macOS contents, write-only-when-different (same inode and
 * mtime), remove-only-what-we-wrote, refusal of foreign files, per-link
 * configuration and its fallbacks, bounded waits, cleanup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "iron/log.h"
#include "iron/sysdns.h"

static char root[] = "/tmp/iron-test-sysdns.XXXXXX";
static char bin[128], calls[256], dropin[512], macos[512], resolved_dir[512];
static char fake_resolvectl[300], fake_systemctl[300];

static const char dropin_5333[] = "# Written by iron (iron serve) so that .iron names resolve; "
				  "remove with: iron --cleanup-dns\n"
				  "[Resolve]\n"
				  "DNS=127.0.0.1:5333\n"
				  "Domains=~iron\n";
static const char macos_5333[] = "# Written by iron (iron serve) so that .iron names resolve; "
				 "remove with: iron --cleanup-dns\n"
				 "nameserver 127.0.0.1\n"
				 "port 5333\n";

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *read_text(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* The recorded command lines, one per line, then forgotten. */
static char *take_calls(void)
{
	static char copy[8192];
	char *text = read_text(calls);
	snprintf(copy, sizeof(copy), "%s", text ? text : "");
	unlink(calls);
	return copy;
}

/* A stand-in command: records "name args" and fails for the verbs listed
 * in the file fail-<name>-<verb>, sleeps for those in sleep-<name>-<verb>. */
static void make_fake(const char *name, char *path, size_t cap)
{
	char script[1024];
	snprintf(path, cap, "%s/%s", bin, name);
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "echo \"%s $*\" >> %s\n"
		 "[ -e %s/sleep-%s-$1 ] && exec sleep 5\n"
		 "[ -e %s/fail-%s-$1 ] && { echo \"Failed to $1: no such link\" >&2; exit 1; }\n"
		 "exit 0\n",
		 name, calls, bin, name, bin, name);
	write_text(path, script, 0755);
}

static void flag(const char *what, int on)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", bin, what);
	if (on)
		write_text(path, "", 0644);
	else
		unlink(path);
}

static struct sysdns_options linux_opts(const char *ifname)
{
	struct sysdns_options o = {
	    .root = root,
	    .ifname = ifname,
	    .dns_port = 5333,
	    .platform = SYSDNS_PLATFORM_LINUX,
	    .resolvectl = fake_resolvectl,
	    .systemctl = fake_systemctl,
	    .command_timeout_ms = 2000,
	};
	return o;
}

static void test_manual(void)
{
	struct sysdns_options o = linux_opts("iron0");
	struct sysdns_state s;
	/* No resolved: a hint, nothing written, nothing run. */
	CHECK_INT(sysdns_configure(&o, &s), 0);
	CHECK_INT(s.method, SYSDNS_METHOD_MANUAL);
	CHECK(!exists(dropin));
	CHECK_STR(take_calls(), "");
	sysdns_restore(&s);
	CHECK_INT(s.method, SYSDNS_METHOD_NONE);
	CHECK_STR(take_calls(), "");
}

static void test_dropin(void)
{
	struct sysdns_options o = linux_opts(NULL);
	struct sysdns_state s1, s2, s3;
	struct stat a, b;

	mkdir(resolved_dir, 0755); /* resolved "runs" from now on */

	/* Written with exactly this content, mode 0644; resolved restarted. */
	CHECK_INT(sysdns_configure(&o, &s1), 0);
	CHECK_INT(s1.method, SYSDNS_METHOD_RESOLVED_DROPIN);
	CHECK(s1.wrote_file);
	CHECK_STR(read_text(dropin), dropin_5333);
	CHECK_INT(stat(dropin, &a), 0);
	CHECK_INT(a.st_mode & 0777, 0644);
	CHECK_STR(take_calls(), "systemctl try-restart systemd-resolved\n");

	/* The same again: not written (same inode, same mtime), no restart. */
	sleep(1); /* so a rewrite would show in the mtime even at 1 s resolution */
	CHECK_INT(sysdns_configure(&o, &s2), 0);
	CHECK_INT(s2.method, SYSDNS_METHOD_RESOLVED_DROPIN);
	CHECK(!s2.wrote_file);
	CHECK_INT(stat(dropin, &b), 0);
	CHECK_INT(a.st_ino, b.st_ino);
	CHECK(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
	CHECK_STR(take_calls(), "");

	/* A run that did not write it does not remove it... */
	sysdns_restore(&s2);
	CHECK_STR(read_text(dropin), dropin_5333);
	CHECK_STR(take_calls(), "");
	/* ...the run that wrote it does, and restarts resolved. */
	sysdns_restore(&s1);
	CHECK(!exists(dropin));
	CHECK_STR(take_calls(), "systemctl try-restart systemd-resolved\n");
	sysdns_restore(&s1); /* idempotent */
	CHECK_STR(take_calls(), "");

	/* Another port: a different file, rewritten over iron's own. */
	CHECK_INT(sysdns_configure(&o, &s1), 0);
	o.dns_port = 6000;
	CHECK_INT(sysdns_configure(&o, &s2), 0);
	CHECK(s2.wrote_file);
	CHECK(strstr(read_text(dropin), "DNS=127.0.0.1:6000\n") != NULL);
	CHECK_STR(take_calls(), "systemctl try-restart systemd-resolved\n"
				"systemctl try-restart systemd-resolved\n");
	/* The first run's content is gone: it removes nothing. */
	sysdns_restore(&s1);
	CHECK(exists(dropin));
	sysdns_restore(&s2);
	CHECK(!exists(dropin));
	take_calls();
	o.dns_port = 5333;

	/* Changed by hand since we wrote it: left in place. */
	CHECK_INT(sysdns_configure(&o, &s3), 0);
	FILE *f = fopen(dropin, "a");
	fputs("DNSSEC=no\n", f);
	fclose(f);
	sysdns_restore(&s3);
	CHECK(exists(dropin));
	unlink(dropin);
	take_calls();

	/* A file iron did not write is never replaced. */
	write_text(dropin, "[Resolve]\nDNS=192.0.2.53\n", 0644);
	CHECK_INT(sysdns_configure(&o, &s1), -EEXIST);
	CHECK_INT(s1.method, SYSDNS_METHOD_NONE);
	CHECK_STR(read_text(dropin), "[Resolve]\nDNS=192.0.2.53\n");
	sysdns_restore(&s1);
	CHECK_STR(read_text(dropin), "[Resolve]\nDNS=192.0.2.53\n");
	CHECK_STR(take_calls(), "");
	unlink(dropin);
	/* Nor is a symbolic link followed. */
	char target[600];
	snprintf(target, sizeof(target), "%s/elsewhere", root);
	write_text(target, dropin_5333, 0644);
	CHECK_INT(symlink(target, dropin), 0);
	CHECK_INT(sysdns_configure(&o, &s1), -EEXIST);
	CHECK_STR(read_text(target), dropin_5333);
	unlink(dropin);
	unlink(target);

	/* A failed restart is reported; the file is still recorded as ours. */
	flag("fail-systemctl-try-restart", 1);
	CHECK_INT(sysdns_configure(&o, &s1), -EIO);
	CHECK_INT(s1.method, SYSDNS_METHOD_RESOLVED_DROPIN);
	CHECK(exists(dropin));
	flag("fail-systemctl-try-restart", 0);
	sysdns_restore(&s1);
	CHECK(!exists(dropin));
	take_calls();

	/* systemctl "" never restarts anything. */
	o.systemctl = "";
	CHECK_INT(sysdns_configure(&o, &s1), 0);
	CHECK(s1.wrote_file);
	sysdns_restore(&s1);
	CHECK_STR(take_calls(), "");
}

static void test_per_link(void)
{
	struct sysdns_options o = linux_opts("iron0");
	struct sysdns_state s;

	/* resolvectl works: per-link, no file, no restart. */
	CHECK_INT(sysdns_configure(&o, &s), 0);
	CHECK_INT(s.method, SYSDNS_METHOD_RESOLVED_LINK);
	CHECK_STR(take_calls(), "resolvectl dns iron0 fd69:726f:0:1::53\n"
				"resolvectl domain iron0 ~iron\n");
	CHECK(!exists(dropin));
	sysdns_restore(&s);
	CHECK_STR(take_calls(), "resolvectl revert iron0\n");
	CHECK_INT(s.method, SYSDNS_METHOD_NONE);

	/* The second command fails: the first is reverted, the drop-in used. */
	flag("fail-resolvectl-domain", 1);
	CHECK_INT(sysdns_configure(&o, &s), 0);
	CHECK_INT(s.method, SYSDNS_METHOD_RESOLVED_DROPIN);
	CHECK_STR(take_calls(), "resolvectl dns iron0 fd69:726f:0:1::53\n"
				"resolvectl domain iron0 ~iron\n"
				"resolvectl revert iron0\n"
				"systemctl try-restart systemd-resolved\n");
	CHECK_STR(read_text(dropin), dropin_5333);
	sysdns_restore(&s);
	CHECK(!exists(dropin));
	CHECK_STR(take_calls(), "systemctl try-restart systemd-resolved\n");
	flag("fail-resolvectl-domain", 0);

	/* The first fails: straight to the drop-in. */
	flag("fail-resolvectl-dns", 1);
	CHECK_INT(sysdns_configure(&o, &s), 0);
	CHECK_INT(s.method, SYSDNS_METHOD_RESOLVED_DROPIN);
	CHECK_STR(take_calls(), "resolvectl dns iron0 fd69:726f:0:1::53\n"
				"systemctl try-restart systemd-resolved\n");
	sysdns_restore(&s);
	take_calls();
	flag("fail-resolvectl-dns", 0);

	/* No resolvectl at all. */
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/no-such-resolvectl", bin);
	o.resolvectl = missing;
	CHECK_INT(sysdns_configure(&o, &s), 0);
	CHECK_INT(s.method, SYSDNS_METHOD_RESOLVED_DROPIN);
	sysdns_restore(&s);
	take_calls();
	o.resolvectl = fake_resolvectl;

	/* A resolvectl that hangs is killed at the deadline. */
	struct timespec t0, t1;
	flag("sleep-resolvectl-dns", 1);
	o.command_timeout_ms = 300;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(sysdns_configure(&o, &s), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= 300);
	CHECK(ms < 2000);
	CHECK_INT(s.method, SYSDNS_METHOD_RESOLVED_DROPIN);
	sysdns_restore(&s);
	take_calls();
	flag("sleep-resolvectl-dns", 0);
}

static void test_macos(void)
{
	struct sysdns_options o = linux_opts("iron0");
	struct sysdns_state s1, s2;
	struct stat a, b;
	o.platform = SYSDNS_PLATFORM_MACOS;

	CHECK_INT(sysdns_configure(&o, &s1), 0);
	CHECK_INT(s1.method, SYSDNS_METHOD_MACOS);
	CHECK(s1.wrote_file);
	CHECK_STR(read_text(macos), macos_5333);
	CHECK_INT(stat(macos, &a), 0);
	CHECK_INT(a.st_mode & 0777, 0644);
	CHECK_INT(sysdns_configure(&o, &s2), 0);
	CHECK(!s2.wrote_file);
	CHECK_INT(stat(macos, &b), 0);
	CHECK_INT(a.st_ino, b.st_ino);
	sysdns_restore(&s2);
	CHECK(exists(macos));
	sysdns_restore(&s1);
	CHECK(!exists(macos));
	/* No commands on macOS. */
	CHECK_STR(take_calls(), "");

	write_text(macos, "nameserver 10.0.0.1\n", 0644);
	CHECK_INT(sysdns_configure(&o, &s1), -EEXIST);
	CHECK_STR(read_text(macos), "nameserver 10.0.0.1\n");
	unlink(macos);
}

static void test_cleanup(void)
{
	struct sysdns_options o = linux_opts(NULL);
	unsigned removed = 99;

	CHECK_INT(sysdns_cleanup(&o, &removed), 0);
	CHECK_INT(removed, 0);
	CHECK_STR(take_calls(), "");

	/* After a crash: both files carry the marker and go. */
	write_text(dropin, dropin_5333, 0644);
	write_text(macos, macos_5333, 0644);
	CHECK_INT(sysdns_cleanup(&o, &removed), 0);
	CHECK_INT(removed, 2);
	CHECK(!exists(dropin));
	CHECK(!exists(macos));
	CHECK_STR(take_calls(), "systemctl try-restart systemd-resolved\n");

	/* Foreign files stay, and say so. */
	write_text(dropin, "[Resolve]\nDNS=192.0.2.53\n", 0644);
	write_text(macos, macos_5333, 0644);
	CHECK_INT(sysdns_cleanup(&o, &removed), -EPERM);
	CHECK_INT(removed, 1);
	CHECK_STR(read_text(dropin), "[Resolve]\nDNS=192.0.2.53\n");
	CHECK(!exists(macos));
	CHECK_STR(take_calls(), "");
	unlink(dropin);
	/* A large file is not ours either. */
	char big[6000];
	memset(big, '#', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_text(dropin, big, 0644);
	CHECK_INT(sysdns_cleanup(&o, &removed), -EPERM);
	CHECK(exists(dropin));
	unlink(dropin);
}

static void test_names(void)
{
	CHECK_STR(sysdns_method_name(SYSDNS_METHOD_RESOLVED_LINK), "resolved-link");
	CHECK_STR(sysdns_method_name(SYSDNS_METHOD_RESOLVED_DROPIN), "resolved-dropin");
	CHECK_STR(sysdns_method_name(SYSDNS_METHOD_MACOS), "macos");
	CHECK_STR(sysdns_method_name(SYSDNS_METHOD_MANUAL), "manual");
	CHECK_STR(sysdns_method_name(SYSDNS_METHOD_NONE), "none");
}

/* Driver for tests/e2e/sysdns_resolved.sh, which runs a real
 * systemd-resolved in a namespace:
 *   test_sysdns configure STATEFILE ROOT IFNAME PORT RESOLVECTL SYSTEMCTL
 *   test_sysdns restore STATEFILE
 *   test_sysdns cleanup ROOT SYSTEMCTL
 * The state is kept in STATEFILE between the calls (a plain struct). */
static int drive(int argc, char **argv)
{
	struct sysdns_state state;
	FILE *f;
	int rc;

	log_configure(LOG_DEBUG, NULL);
	if (argc == 8 && strcmp(argv[1], "configure") == 0) {
		struct sysdns_options o = {
		    .root = argv[3],
		    .ifname = argv[4],
		    .dns_port = (unsigned)atoi(argv[5]),
		    .platform = SYSDNS_PLATFORM_LINUX,
		    .resolvectl = argv[6],
		    .systemctl = argv[7],
		};
		rc = sysdns_configure(&o, &state);
		printf("method=%s rc=%d wrote=%d\n", sysdns_method_name(state.method), rc,
		       state.wrote_file);
		if (!(f = fopen(argv[2], "wb")) || fwrite(&state, sizeof(state), 1, f) != 1)
			return 1;
		fclose(f);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "restore") == 0) {
		if (!(f = fopen(argv[2], "rb")) || fread(&state, sizeof(state), 1, f) != 1)
			return 1;
		fclose(f);
		sysdns_restore(&state);
		printf("restored\n");
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "cleanup") == 0) {
		struct sysdns_options o = {
		    .root = argv[2], .systemctl = argv[3], .platform = SYSDNS_PLATFORM_LINUX};
		unsigned removed = 0;
		rc = sysdns_cleanup(&o, &removed);
		printf("removed=%u rc=%d\n", removed, rc);
		return 0;
	}
	fprintf(stderr, "usage: see the comment above drive() in test_sysdns.c\n");
	return 2;
}

int main(int argc, char **argv)
{
	char cmd[600];
	if (argc > 1)
		return drive(argc, argv);
	if (!mkdtemp(root))
		return 1;
	snprintf(bin, sizeof(bin), "%s/bin", root);
	mkdir(bin, 0755);
	snprintf(calls, sizeof(calls), "%s/calls", bin);
	snprintf(dropin, sizeof(dropin), "%s/etc/systemd/resolved.conf.d/iron.conf", root);
	snprintf(macos, sizeof(macos), "%s/etc/resolver/iron", root);
	snprintf(resolved_dir, sizeof(resolved_dir), "%s/run/systemd/resolve", root);
	make_fake("resolvectl", fake_resolvectl, sizeof(fake_resolvectl));
	make_fake("systemctl", fake_systemctl, sizeof(fake_systemctl));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/run/systemd %s/etc/resolver", root, root);
	CHECK_INT(system(cmd), 0);

	test_names();
	test_manual();
	test_dropin();
	test_per_link();
	test_macos();
	test_cleanup();

	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
