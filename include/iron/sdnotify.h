/* systemd readiness notification, written to $NOTIFY_SOCKET directly (no
 * libsystemd). */
#ifndef IRON_SDNOTIFY_H
#define IRON_SDNOTIFY_H

/* Sends state (e.g. "READY=1") when run under systemd with Type=notify.
 * Returns 0 (also when there is no NOTIFY_SOCKET), or -errno. */
int sdnotify(const char *state);

#endif
