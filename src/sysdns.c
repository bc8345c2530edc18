/* System DNS configuration: systemd-resolved per link or by drop-in, the
 * macOS resolver directory, or a hint. Files are compared before they are
 * written and checked for iron's marker before they are replaced or
 * removed; commands run without a shell and with a deadline. */
#define LOG_MODULE "sysdns"

#include "iron/sysdns.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iron/log.h"

#define FILE_MAX   4096 /* larger files at our paths are not ours */
#define OUTPUT_MAX 512

static const char *const marker_line =
    SYSDNS_MARKER " (iron serve) so that .iron names resolve; remove with: iron --cleanup-dns\n";

const char *sysdns_method_name(enum sysdns_method method)
{
	switch (method) {
	case SYSDNS_METHOD_RESOLVED_LINK:
		return "resolved-link";
	case SYSDNS_METHOD_RESOLVED_DROPIN:
		return "resolved-dropin";
	case SYSDNS_METHOD_MACOS:
		return "macos";
	case SYSDNS_METHOD_MANUAL:
		return "manual";
	case SYSDNS_METHOD_NONE:
		break;
	}
	return "none";
}

/* root + path, with "" and "/" meaning the real root. */
static int join(const char *root, const char *path, char *out, size_t cap)
{
	size_t n = root ? strlen(root) : 0;
	while (n > 0 && root[n - 1] == '/')
		n--;
	int len = snprintf(out, cap, "%.*s%s", (int)n, root ? root : "", path);
	return len < 0 || (size_t)len >= cap ? -ENAMETOOLONG : 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs argv (argv[0] looked up in PATH unless it has a '/') with stdin
 * from /dev/null, collecting at most OUTPUT_MAX-1 bytes of its output in
 * out. Returns 0 when it exits with status 0 within timeout_ms; -ENOENT
 * (or another -errno) when it cannot be started; -ETIMEDOUT (it is killed);
 * -EIO when it fails. */
static int run_command(char *const argv[], unsigned timeout_ms, char *out, size_t out_cap)
{
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	int pipefd[2] = {-1, -1};
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0;
	pid_t pid = -1;
	int status = 0, rc;

	out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return -errno;
	posix_spawn_file_actions_init(&actions);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
	/* Nothing of the daemon (TUN, sockets) leaks into the command. */
	posix_spawn_file_actions_addclosefrom_np(&actions, 3);
	/* The daemon ignores SIGPIPE and may block signals; the command
	 * should start with the defaults. */
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		snprintf(out, out_cap, "%s", strerror(rc));
		return -rc;
	}

	/* Output until EOF (the command and its children closed it). */
	for (;;) {
		struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
		int64_t left = deadline - now_ms();
		char buf[256];
		if (left <= 0)
			break;
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		ssize_t got = read(pipefd[0], buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		size_t keep = (size_t)got;
		if (len + keep >= out_cap)
			keep = out_cap - 1 - len;
		memcpy(out + len, buf, keep);
		len += keep;
		out[len] = '\0';
	}
	close(pipefd[0]);
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			snprintf(out, out_cap, "no answer within %u ms", timeout_ms);
			return -ETIMEDOUT;
		}
		usleep(5000);
	}
	/* One line for the log: the first line of the output. */
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (!out[0])
		snprintf(out, out_cap, "exit status %d",
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return -EIO;
}

static int resolvectl(const struct sysdns_state *state, const char *verb, const char *arg)
{
	char out[OUTPUT_MAX];
	char *argv[] = {(char *)state->resolvectl, (char *)verb, (char *)state->ifname, (char *)arg,
			NULL};
	int rc = run_command(argv, state->command_timeout_ms, out, sizeof(out));
	if (rc != 0)
		log_debug("%s %s %s: %s", state->resolvectl, verb, state->ifname, out);
	return rc;
}

static int restart_resolved(const struct sysdns_state *state)
{
	char out[OUTPUT_MAX];
	char *argv[] = {(char *)state->systemctl, "try-restart", "systemd-resolved", NULL};
	int rc;
	if (!state->systemctl[0])
		return 0;
	rc = run_command(argv, state->command_timeout_ms, out, sizeof(out));
	if (rc != 0)
		log_warn("cannot restart systemd-resolved (%s try-restart systemd-resolved): %s",
			 state->systemctl, out);
	return rc;
}

/* Reads a small file. Returns its length, -ENOENT, -EFBIG (larger than
 * FILE_MAX-1, so not ours), or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap - 1) {
			close(fd);
			return -EFBIG;
		}
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

static bool has_marker(const char *text)
{
	return strncmp(text, SYSDNS_MARKER, strlen(SYSDNS_MARKER)) == 0;
}

/* mkdir -p for the directories of path below root. */
static int make_parents(const char *root, const char *path)
{
	char buf[SYSDNS_PATH_MAX];
	size_t skip = root ? strlen(root) : 0;
	while (skip > 0 && root[skip - 1] == '/')
		skip--;
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + skip + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Puts content at path unless it is there already. *wrote says whether it
 * was written. -EEXIST when a file iron did not write is in the way. */
static int write_if_different(const char *root, const char *path, const char *content, bool *wrote)
{
	char existing[FILE_MAX];
	char tmp[SYSDNS_PATH_MAX + 16];
	size_t len = strlen(content);
	ssize_t n;
	int fd = -1, rc;

	*wrote = false;
	n = read_small(path, existing, sizeof(existing));
	if (n >= 0 && (size_t)n == len && memcmp(existing, content, len) == 0)
		return 0;
	if (n >= 0 && !has_marker(existing))
		return -EEXIST;
	if (n == -EFBIG || n == -EPERM)
		return -EEXIST;
	if (n < 0 && n != -ENOENT)
		return (int)n;
	if ((rc = make_parents(root, path)) != 0)
		return rc;

	/* A new file beside the old, then rename: resolved never reads half
	 * a file, and a crash leaves the old one or the new one. */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	for (const char *p = content; len > 0;) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = -errno;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || rename(tmp, path) != 0) {
		rc = -errno;
		goto out;
	}
	*wrote = true;
	rc = 0;
out:
	close(fd);
	if (rc)
		unlink(tmp);
	return rc;
}

static void copy_command(char *dst, const char *value, const char *fallback)
{
	snprintf(dst, SYSDNS_COMMAND_MAX, "%s", value ? value : fallback);
}

static int configure_file(const struct sysdns_options *opts, struct sysdns_state *state,
			  enum sysdns_method method, const char *where, const char *body)
{
	int rc;
	if ((rc = join(opts->root, where, state->path, sizeof(state->path))) != 0)
		return rc;
	snprintf(state->content, sizeof(state->content), "%s%s", marker_line, body);
	rc = write_if_different(opts->root, state->path, state->content, &state->wrote_file);
	if (rc == -EEXIST) {
		log_warn("%s exists and was not written by iron: left alone, .iron names will not "
			 "resolve system-wide",
			 state->path);
		return rc;
	}
	if (rc != 0) {
		log_warn("cannot write %s: %s", state->path, strerror(-rc));
		return rc;
	}
	state->method = method;
	if (state->wrote_file)
		log_info("wrote %s", state->path);
	else
		log_debug("%s is up to date", state->path);
	return 0;
}

static void log_hint(unsigned port)
{
	log_info("no systemd-resolved here: to resolve .iron names system-wide, add "
		 "'server=/iron/127.0.0.1#%u' to dnsmasq, or point a resolver at %s (or "
		 "127.0.0.1:%u) for the iron domain",
		 port, SYSDNS_TUNNEL_DNS, port);
}

static enum sysdns_platform platform_of(const struct sysdns_options *opts)
{
	if (opts->platform != SYSDNS_PLATFORM_AUTO)
		return opts->platform;
#ifdef __APPLE__
	return SYSDNS_PLATFORM_MACOS;
#else
	return SYSDNS_PLATFORM_LINUX;
#endif
}

int sysdns_configure(const struct sysdns_options *opts, struct sysdns_state *state)
{
	char body[128], dir[SYSDNS_PATH_MAX];
	struct stat st;
	int rc;

	memset(state, 0, sizeof(*state));
	state->command_timeout_ms =
	    opts->command_timeout_ms ? opts->command_timeout_ms : SYSDNS_TIMEOUT_MS;
	copy_command(state->resolvectl, opts->resolvectl, "resolvectl");
	copy_command(state->systemctl, opts->systemctl, "systemctl");
	if (opts->ifname)
		snprintf(state->ifname, sizeof(state->ifname), "%s", opts->ifname);

	if (platform_of(opts) == SYSDNS_PLATFORM_MACOS) {
		snprintf(body, sizeof(body), "nameserver 127.0.0.1\nport %u\n", opts->dns_port);
		return configure_file(opts, state, SYSDNS_METHOD_MACOS, SYSDNS_MACOS_PATH, body);
	}

	if ((rc = join(opts->root, SYSDNS_RESOLVED_DIR, dir, sizeof(dir))) != 0)
		return rc;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_hint(opts->dns_port);
		state->method = SYSDNS_METHOD_MANUAL;
		return 0;
	}

	/* Per link: nothing global changes, resolved needs no restart, and it
	 * all goes away with the TUN. */
	if (state->ifname[0]) {
		rc = resolvectl(state, "dns", SYSDNS_TUNNEL_DNS);
		if (rc == 0) {
			rc = resolvectl(state, "domain", "~iron");
			if (rc == 0) {
				state->method = SYSDNS_METHOD_RESOLVED_LINK;
				log_info("resolved: .iron names go to %s on %s", SYSDNS_TUNNEL_DNS,
					 state->ifname);
				return 0;
			}
			resolvectl(state, "revert", NULL);
		}
		log_info("per-link DNS on %s failed; using the resolved drop-in instead",
			 state->ifname);
	}

	snprintf(body, sizeof(body), "[Resolve]\nDNS=127.0.0.1:%u\nDomains=~iron\n",
		 opts->dns_port);
	rc = configure_file(opts, state, SYSDNS_METHOD_RESOLVED_DROPIN, SYSDNS_DROPIN_PATH, body);
	if (rc == 0 && state->wrote_file)
		rc = restart_resolved(state);
	return rc;
}

void sysdns_restore(struct sysdns_state *state)
{
	char existing[FILE_MAX];
	ssize_t n;

	switch (state->method) {
	case SYSDNS_METHOD_RESOLVED_LINK:
		resolvectl(state, "revert", NULL);
		break;
	case SYSDNS_METHOD_RESOLVED_DROPIN:
	case SYSDNS_METHOD_MACOS:
		if (!state->wrote_file)
			break;
		n = read_small(state->path, existing, sizeof(existing));
		if (n < 0 || strcmp(existing, state->content) != 0) {
			/* Changed (or gone) since we wrote it: not ours to remove. */
			log_info("%s changed since iron wrote it: left in place", state->path);
			break;
		}
		if (unlink(state->path) != 0) {
			log_debug("cannot remove %s: %s", state->path, strerror(errno));
			break;
		}
		log_info("removed %s", state->path);
		if (state->method == SYSDNS_METHOD_RESOLVED_DROPIN)
			restart_resolved(state);
		break;
	case SYSDNS_METHOD_MANUAL:
	case SYSDNS_METHOD_NONE:
		break;
	}
	state->method = SYSDNS_METHOD_NONE;
	state->wrote_file = false;
}

/* Removes path if it carries iron's marker. 1 removed, 0 absent, -EPERM
 * foreign, other -errno. */
static int remove_ours(const char *path)
{
	char existing[FILE_MAX];
	ssize_t n = read_small(path, existing, sizeof(existing));
	if (n == -ENOENT)
		return 0;
	if (n == -EFBIG || (n >= 0 && !has_marker(existing)) || n == -EPERM) {
		log_warn("%s was not written by iron: left alone", path);
		return -EPERM;
	}
	if (n < 0)
		return (int)n;
	if (unlink(path) != 0)
		return -errno;
	log_info("removed %s", path);
	return 1;
}

int sysdns_cleanup(const struct sysdns_options *opts, unsigned *removed)
{
	struct sysdns_state state = {0};
	char dropin[SYSDNS_PATH_MAX], macos[SYSDNS_PATH_MAX];
	int rc = 0, r;
	unsigned count = 0;

	if ((r = join(opts->root, SYSDNS_DROPIN_PATH, dropin, sizeof(dropin))) != 0 ||
	    (r = join(opts->root, SYSDNS_MACOS_PATH, macos, sizeof(macos))) != 0)
		return r;
	state.command_timeout_ms =
	    opts->command_timeout_ms ? opts->command_timeout_ms : SYSDNS_TIMEOUT_MS;
	copy_command(state.systemctl, opts->systemctl, "systemctl");

	r = remove_ours(dropin);
	if (r < 0)
		rc = r;
	if (r == 1) {
		count++;
		if (platform_of(opts) == SYSDNS_PLATFORM_LINUX)
			restart_resolved(&state);
	}
	r = remove_ours(macos);
	if (r < 0 && rc == 0)
		rc = r;
	if (r == 1)
		count++;
	if (removed)
		*removed = count;
	return rc;
}
