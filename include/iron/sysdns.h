/* System DNS configuration (SPEC section 6): makes the machine's resolver
 * send .iron names to iron, so every program can use them.
 *
 * Linux with systemd-resolved (the directory /run/systemd/resolve exists):
 *   per-link configuration of the TUN, `resolvectl dns <tun>
 *   fd69:726f:0:1::53` and `resolvectl domain <tun> ~iron`, undone with
 *   `resolvectl revert <tun>` (and gone with the link anyway). When that
 *   fails, the drop-in /etc/systemd/resolved.conf.d/iron.conf
 *   (DNS=127.0.0.1:<port>, Domains=~iron) and `systemctl try-restart
 *   systemd-resolved`.
 * macOS: /etc/resolver/iron (nameserver 127.0.0.1, port <port>).
 * Otherwise: one log line saying how to configure it by hand.
 *
 * Files: written only when their content differs from what is there (no
 * write, no restart otherwise); never over a file iron did not write (its
 * first line is iron's marker comment); removed at restore only when this
 * run wrote them and they are unchanged since. Commands are run without a
 * shell (posix_spawn with an argv), with a bounded wait.
 *
 * Every path is under opts->root ("" or "/" in production, a temporary
 * directory in tests). Failures are for the caller to log as warnings:
 * DNS configuration is never fatal to the daemon. */
#ifndef IRON_SYSDNS_H
#define IRON_SYSDNS_H

#include <stdbool.h>
#include <stddef.h>

/* The first line of every file iron writes; also how cleanup recognises
 * them. */
#define SYSDNS_MARKER "# Written by iron"

#define SYSDNS_DROPIN_PATH  "/etc/systemd/resolved.conf.d/iron.conf"
#define SYSDNS_MACOS_PATH   "/etc/resolver/iron"
#define SYSDNS_RESOLVED_DIR "/run/systemd/resolve"
#define SYSDNS_TUNNEL_DNS   "fd69:726f:0:1::53"
#define SYSDNS_TIMEOUT_MS   5000
#define SYSDNS_PATH_MAX	    1024
#define SYSDNS_COMMAND_MAX  256

enum sysdns_platform {
	SYSDNS_PLATFORM_AUTO, /* the one this was compiled for */
	SYSDNS_PLATFORM_LINUX,
	SYSDNS_PLATFORM_MACOS,
};

enum sysdns_method {
	SYSDNS_METHOD_NONE,	     /* nothing configured */
	SYSDNS_METHOD_RESOLVED_LINK, /* resolvectl on the TUN */
	SYSDNS_METHOD_RESOLVED_DROPIN,
	SYSDNS_METHOD_MACOS,
	SYSDNS_METHOD_MANUAL, /* nothing to use; the hint was logged */
};

struct sysdns_options {
	const char *root;   /* prefix of every path: "" or "/" in production */
	const char *ifname; /* the TUN; NULL or "" skips per-link configuration */
	unsigned dns_port;  /* the responder on 127.0.0.1, for the file methods */
	enum sysdns_platform platform;
	const char *resolvectl;	     /* NULL: "resolvectl" from PATH */
	const char *systemctl;	     /* NULL: "systemctl" from PATH; "": never restart resolved */
	unsigned command_timeout_ms; /* 0: SYSDNS_TIMEOUT_MS, per command */
};

/* What a configure did, so restore can undo exactly that. Plain value;
 * zero-initialised it means "nothing configured". */
struct sysdns_state {
	enum sysdns_method method;
	bool wrote_file;	    /* this run wrote path */
	char path[SYSDNS_PATH_MAX]; /* the file of the file methods */
	char content[256];	    /* what was written there */
	char ifname[16];
	char resolvectl[SYSDNS_COMMAND_MAX];
	char systemctl[SYSDNS_COMMAND_MAX];
	unsigned command_timeout_ms;
};

/* Configures the system resolver for .iron names as described at the top
 * and records what it did in *state. Returns 0 (state->method says how; for
 * SYSDNS_METHOD_MANUAL the hint has been logged), or -errno: -EEXIST when a
 * file iron did not write is in the way (it is left alone), -ETIMEDOUT or
 * -EIO when restarting resolved failed (the file stays recorded in *state),
 * or the -errno of a file operation. Whatever it returns, *state is valid
 * for sysdns_restore(). */
int sysdns_configure(const struct sysdns_options *opts, struct sysdns_state *state);

/* Undoes what sysdns_configure() recorded: `resolvectl revert`, or removes
 * the file this run wrote if it is unchanged (then restarts resolved for
 * the drop-in). Idempotent; failures are logged at debug level. */
void sysdns_restore(struct sysdns_state *state);

/* `iron --cleanup-dns`: removes the drop-in and the macOS file under
 * opts->root when they carry iron's marker (after a crash, say), restarting
 * resolved when the drop-in went (Linux, unless opts->systemctl is "").
 * *removed (may be NULL) gets the number of files removed. Returns 0, or
 * -EPERM when a file at one of those paths was not written by iron (it is
 * left alone), or another -errno. */
int sysdns_cleanup(const struct sysdns_options *opts, unsigned *removed);

/* "resolved-link", "resolved-dropin", "macos", "manual" or "none". */
const char *sysdns_method_name(enum sysdns_method method);

#endif
