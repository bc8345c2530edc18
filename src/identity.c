/* The node's key pair and its key file (SPEC section 1). */
#define LOG_MODULE "identity"

#include "iron/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iron/encoding.h"
#include "iron/log.h"

#define KEY_FILE_NAME "secret.key"
/* Longer text than this is no key; bounds the copy in seed_from_text. */
#define SEED_TEXT_MAX 128

void identity_from_seed(const uint8_t seed[IDENTITY_SEED_LEN], struct iron_identity *out)
{
	memcpy(out->seed, seed, IDENTITY_SEED_LEN);
	crypto_sign_seed_keypair(out->id.bytes, out->secret, seed);
}

void identity_generate(struct iron_identity *out)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	randombytes_buf(seed, sizeof(seed));
	identity_from_seed(seed, out);
	sodium_memzero(seed, sizeof(seed));
}

void identity_wipe(struct iron_identity *identity)
{
	sodium_memzero(identity, sizeof(*identity));
}

int identity_state_dir(const char *flag, char *out, size_t out_cap, int *explicit_dir)
{
	const char *env;
	int n, is_explicit = 1;

	if (flag && *flag) {
		n = snprintf(out, out_cap, "%s", flag);
	} else if ((env = getenv("IRON_STATE_DIR")) && *env) {
		n = snprintf(out, out_cap, "%s", env);
	} else {
		is_explicit = 0;
		if ((env = getenv("XDG_CONFIG_HOME")) && env[0] == '/')
			n = snprintf(out, out_cap, "%s/iron", env);
		else if ((env = getenv("HOME")) && *env)
			n = snprintf(out, out_cap, "%s/.config/iron", env);
		else
			return -ENOENT;
	}
	if (n < 0 || (size_t)n >= out_cap)
		return -ENAMETOOLONG;
	/* "dir/" would give "dir//secret.key" in every message. */
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	if (explicit_dir)
		*explicit_dir = is_explicit;
	return 0;
}

int identity_key_path(const char *state_dir, char *out, size_t out_cap)
{
	int n = snprintf(out, out_cap, "%s/%s", state_dir, KEY_FILE_NAME);
	if (n < 0 || (size_t)n >= out_cap)
		return -ENAMETOOLONG;
	return 0;
}

/* Reads until len bytes or end of file. Returns the count or -errno. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

int identity_load(const char *path, struct iron_identity *out)
{
	/* One byte more than a seed, to notice a file that grew after fstat. */
	uint8_t seed[IDENTITY_SEED_LEN + 1];
	struct stat st;
	ssize_t got;
	int fd, err = 0;

	/* O_NOFOLLOW: a link could point the daemon at any file; O_NONBLOCK:
	 * a FIFO planted at the path must not hang us. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		err = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	/* A key planted by another user would make us whoever they chose
	 * (ssh refuses such a key too). */
	if (st.st_uid != geteuid()) {
		err = -EOWNERDEAD;
		goto out;
	}
	/* Checked before reading: a key others could read is already lost. */
	if ((st.st_mode & 077) != 0) {
		err = -EPERM;
		goto out;
	}
	if (st.st_size != IDENTITY_SEED_LEN) {
		err = -EINVAL;
		goto out;
	}
	got = read_full(fd, seed, sizeof(seed));
	if (got < 0) {
		err = (int)got;
		goto out;
	}
	if (got != IDENTITY_SEED_LEN) {
		err = -EINVAL;
		goto out;
	}
	identity_from_seed(seed, out);
out:
	sodium_memzero(seed, sizeof(seed));
	close(fd);
	return err;
}

/* Creates dir and its missing parents with mode 0700 (mkdir -p). Returns 0,
 * -ENOTDIR when a component exists but is no directory, or -errno. */
static int make_dirs(const char *dir)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);
	struct stat st;

	if (len == 0 || len >= sizeof(buf))
		return len ? -ENAMETOOLONG : -EINVAL;
	memcpy(buf, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) == 0) {
			/* The umask may have taken bits away; 0700 is what we mean. */
			if (chmod(buf, 0700) != 0)
				return -errno;
			log_debug("created directory %s", buf);
		} else if (errno == EEXIST) {
			if (stat(buf, &st) != 0)
				return -errno;
			if (!S_ISDIR(st.st_mode))
				return -ENOTDIR;
		} else {
			return -errno;
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

/* Splits path into its directory and last component. */
static int split_path(const char *path, char *dir, size_t dir_cap, const char **base)
{
	const char *slash = strrchr(path, '/');
	int n;
	if (!slash) {
		n = snprintf(dir, dir_cap, ".");
		*base = path;
	} else if (slash == path) {
		n = snprintf(dir, dir_cap, "/");
		*base = slash + 1;
	} else {
		n = snprintf(dir, dir_cap, "%.*s", (int)(slash - path), path);
		*base = slash + 1;
	}
	if (n < 0 || (size_t)n >= dir_cap)
		return -ENAMETOOLONG;
	if (**base == '\0')
		return -EISDIR;
	return 0;
}

/* Moves the finished temporary file into place; without overwrite, fails
 * with -EEXIST rather than replace a file that appeared meanwhile. */
static int install_file(int dir_fd, const char *tmp, const char *base, int overwrite)
{
	if (overwrite)
		return renameat(dir_fd, tmp, dir_fd, base) == 0 ? 0 : -errno;
#ifdef RENAME_NOREPLACE
	if (renameat2(dir_fd, tmp, dir_fd, base, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
#endif
	/* A file system without RENAME_NOREPLACE: link() never replaces. */
	if (linkat(dir_fd, tmp, dir_fd, base, 0) != 0)
		return -errno;
	unlinkat(dir_fd, tmp, 0);
	return 0;
}

int identity_save(const char *path, const struct iron_identity *identity, int overwrite)
{
	char dir[PATH_MAX], tmp[NAME_MAX + 1];
	const char *base;
	struct stat st;
	int fd = -1, dir_fd = -1, tmp_exists = 0, err;

	err = split_path(path, dir, sizeof(dir), &base);
	if (err)
		return err;
	if (strlen(base) + 16 > NAME_MAX)
		return -ENAMETOOLONG;
	err = make_dirs(dir);
	if (err)
		return err;
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return -ELOOP;
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		if (!overwrite)
			return -EEXIST;
	} else if (errno != ENOENT) {
		return -errno;
	}

	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return -errno;
	for (int tries = 0;; tries++) {
		uint8_t rnd[6];
		char suffix[ENCODING_HEX_LEN(sizeof(rnd)) + 1];
		randombytes_buf(rnd, sizeof(rnd));
		encoding_hex_encode(rnd, sizeof(rnd), suffix, sizeof(suffix));
		snprintf(tmp, sizeof(tmp), ".%s.%s", base, suffix);
		fd =
		    openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST || tries == 8)
			break;
	}
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	tmp_exists = 1;
	if (fchmod(fd, 0600) != 0 ||
	    (err = write_full(fd, identity->seed, IDENTITY_SEED_LEN)) != 0 || fsync(fd) != 0) {
		err = err ? err : -errno;
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		err = -errno;
		goto out;
	}
	fd = -1;
	err = install_file(dir_fd, tmp, base, overwrite);
	if (err)
		goto out;
	tmp_exists = 0;
	/* The rename is durable only once the directory is on disk too. Some
	 * file systems cannot fsync a directory; the file is in place anyway. */
	if (fsync(dir_fd) != 0 && errno != EINVAL && errno != EROFS) {
		err = -errno;
		goto out;
	}
	log_debug("wrote key file %s", path);
out:
	if (fd >= 0)
		close(fd);
	if (tmp_exists)
		unlinkat(dir_fd, tmp, 0);
	if (dir_fd >= 0)
		close(dir_fd);
	return err;
}

int identity_remove(const char *path)
{
	char dir[PATH_MAX];
	const char *base;
	struct stat st;
	int dir_fd, err;

	err = split_path(path, dir, sizeof(dir), &base);
	if (err)
		return err;
	if (lstat(path, &st) != 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (unlink(path) != 0)
		return -errno;
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd >= 0) {
		/* The file is gone either way; this only makes it durable. */
		fsync(dir_fd);
		close(dir_fd);
	}
	log_debug("removed key file %s", path);
	return 0;
}

int identity_load_or_create(const char *path, struct iron_identity *out, int *created)
{
	int err;

	if (created)
		*created = 0;
	err = identity_load(path, out);
	if (err != -ENOENT)
		return err;
	identity_generate(out);
	err = identity_save(path, out, 0);
	if (err == -EEXIST) {
		/* Another process created it first: theirs is the key. */
		identity_wipe(out);
		return identity_load(path, out);
	}
	if (err) {
		identity_wipe(out);
		return err;
	}
	if (created)
		*created = 1;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int identity_seed_from_text(const char *text, size_t len, uint8_t seed[IDENTITY_SEED_LEN])
{
	char buf[SEED_TEXT_MAX + 1];
	size_t start = 0, end = len;
	int err = -EINVAL;

	if (len == IDENTITY_SEED_LEN) {
		/* Random bytes are all printable with odds of (95/256)^32. */
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)text[i];
			if ((c < 0x20 || c > 0x7e) && !is_space(text[i])) {
				memcpy(seed, text, IDENTITY_SEED_LEN);
				return 0;
			}
		}
	}
	while (start < end && is_space(text[start]))
		start++;
	while (end > start && is_space(text[end - 1]))
		end--;
	if (end - start > SEED_TEXT_MAX || memchr(text + start, '\0', end - start))
		return -EINVAL;
	memcpy(buf, text + start, end - start);
	buf[end - start] = '\0';
	if (end - start == ENCODING_HEX_LEN(IDENTITY_SEED_LEN))
		err = encoding_hex_decode(buf, seed, IDENTITY_SEED_LEN);
	else if (end - start == ENCODING_BASE64_LEN(IDENTITY_SEED_LEN) ||
		 end - start == ENCODING_BASE64_LEN(IDENTITY_SEED_LEN) - 1)
		err = encoding_base64_decode(buf, seed, IDENTITY_SEED_LEN);
	sodium_memzero(buf, sizeof(buf));
	return err ? -EINVAL : 0;
}

const char *identity_strerror(int err)
{
	switch (err) {
	case 0:
		return "no error";
	case -ENOENT:
		return "no such file";
	case -EINVAL:
		return "not a key file: it must hold exactly 32 bytes (the raw Ed25519 seed)";
	case -EPERM:
		return "permissions are too open: group or others can access the secret key "
		       "(fix: chmod 600 on the file)";
	case -ELOOP:
		return "is a symbolic link, which iron does not follow for a secret key "
		       "(put the key file itself there)";
	case -EOWNERDEAD:
		return "is owned by another user, so iron does not trust it (remove it, or "
		       "chown it to the user iron runs as)";
	case -EISDIR:
		return "is a directory, not a key file";
	case -ENOTDIR:
		return "the state directory (or a parent) is not a directory";
	case -EEXIST:
		return "a key file already exists";
	case -EACCES:
		return "permission denied (run as the user who owns the key)";
	case -ENAMETOOLONG:
		return "path too long";
	default:
		return strerror(-err);
	}
}
