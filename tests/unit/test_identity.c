/* The key file (SPEC section 1): state directory resolution, atomic 0600
 * creation in a 0700 directory, and every refused case leaving the disk
 * exactly as it was. Works in a fresh temporary directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "iron/encoding.h"
#include "iron/identity.h"

static char root[256];

/* dir/name into buf (PATH_MAX bytes). */
static const char *join(char *buf, const char *dir, const char *name)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, name);
	CHECK(n > 0 && n < PATH_MAX);
	return buf;
}

/* root/name into buf (PATH_MAX bytes). */
static const char *at(char *buf, const char *name)
{
	return join(buf, root, name);
}

static int mode_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_INT(write(fd, data, len), (long long)len);
	CHECK_INT(fchmod(fd, mode), 0);
	close(fd);
}

/* Number of entries in dir other than . and .., and whether one of them
 * has a name starting with a dot (a leftover temporary file). */
static int count_entries(const char *dir, int *hidden)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	if (hidden)
		*hidden = 0;
	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (hidden && e->d_name[0] == '.')
			*hidden = 1;
	}
	closedir(d);
	return n;
}

/* Snapshot of a file to prove it did not change. */
struct snapshot {
	int exists;
	mode_t mode;
	off_t size;
	struct timespec mtime;
	ino_t ino;
	uint8_t data[64];
};

static void take(const char *path, struct snapshot *s)
{
	struct stat st;
	memset(s, 0, sizeof(*s));
	if (lstat(path, &st) != 0)
		return;
	s->exists = 1;
	s->mode = st.st_mode;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
	s->ino = st.st_ino;
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd >= 0) {
		if (read(fd, s->data, sizeof(s->data)) < 0)
			s->data[0] = 0;
		close(fd);
	}
}

static int same(const struct snapshot *a, const struct snapshot *b)
{
	return a->exists == b->exists && a->mode == b->mode && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ino == b->ino && memcmp(a->data, b->data, sizeof(a->data)) == 0;
}

static void test_state_dir(void)
{
	char out[PATH_MAX];
	int explicit_dir = -1;

	setenv("IRON_STATE_DIR", "/from/env", 1);
	setenv("XDG_CONFIG_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);
	CHECK_INT(identity_state_dir("/from/flag/", out, sizeof(out), &explicit_dir), 0);
	CHECK_STR(out, "/from/flag");
	CHECK_INT(explicit_dir, 1);
	CHECK_INT(identity_state_dir(NULL, out, sizeof(out), &explicit_dir), 0);
	CHECK_STR(out, "/from/env");
	CHECK_INT(explicit_dir, 1);
	setenv("IRON_STATE_DIR", "", 1);
	CHECK_INT(identity_state_dir("", out, sizeof(out), &explicit_dir), 0);
	CHECK_STR(out, "/xdg/iron");
	CHECK_INT(explicit_dir, 0);
	/* A relative XDG_CONFIG_HOME is invalid by the XDG rules: ignored. */
	setenv("XDG_CONFIG_HOME", "relative", 1);
	CHECK_INT(identity_state_dir(NULL, out, sizeof(out), NULL), 0);
	CHECK_STR(out, "/home/u/.config/iron");
	unsetenv("XDG_CONFIG_HOME");
	CHECK_INT(identity_state_dir(NULL, out, sizeof(out), NULL), 0);
	CHECK_STR(out, "/home/u/.config/iron");
	unsetenv("HOME");
	CHECK_INT(identity_state_dir(NULL, out, sizeof(out), NULL), -ENOENT);
	setenv("HOME", "", 1);
	CHECK_INT(identity_state_dir(NULL, out, sizeof(out), NULL), -ENOENT);
	/* The flag still works without HOME. */
	CHECK_INT(identity_state_dir("/x", out, sizeof(out), NULL), 0);
	CHECK_INT(identity_state_dir("/a/long/path", out, 8, NULL), -ENAMETOOLONG);
	unsetenv("IRON_STATE_DIR");

	CHECK_INT(identity_key_path("/s", out, sizeof(out)), 0);
	CHECK_STR(out, "/s/secret.key");
	CHECK_INT(identity_key_path("/s", out, 10), -ENAMETOOLONG);
}

static void test_save_and_load(void)
{
	char dir[PATH_MAX], key[PATH_MAX];
	struct iron_identity a, b, c;
	struct snapshot before, after;
	int hidden, created;
	mode_t old_umask;

	at(dir, "state/nested");
	join(key, dir, "secret.key");
	identity_generate(&a);
	/* A permissive umask must not make the key or directory readable. */
	old_umask = umask(0);
	CHECK_INT(identity_save(key, &a, 0), 0);
	umask(old_umask);
	CHECK_INT(mode_of(key), 0600);
	CHECK_INT(mode_of(dir), 0700);
	CHECK_INT(mode_of(at(dir, "state")), 0700);
	at(dir, "state/nested");
	CHECK_INT(count_entries(dir, &hidden), 1);
	CHECK_INT(hidden, 0);

	/* The file is exactly the 32-byte seed, nothing else. */
	uint8_t raw[64];
	int fd = open(key, O_RDONLY);
	CHECK_INT(read(fd, raw, sizeof(raw)), 32);
	close(fd);
	CHECK_MEM(raw, a.seed, 32);

	CHECK_INT(identity_load(key, &b), 0);
	CHECK(id_equal(&a.id, &b.id));
	CHECK_MEM(a.secret, b.secret, 64);

	/* No overwrite without asking for it; the old key stays. */
	identity_generate(&c);
	take(key, &before);
	CHECK_INT(identity_save(key, &c, 0), -EEXIST);
	take(key, &after);
	CHECK(same(&before, &after));
	CHECK_INT(count_entries(dir, &hidden), 1);
	CHECK_INT(hidden, 0);

	/* Overwrite replaces the file atomically: a new inode, no leftovers. */
	CHECK_INT(identity_save(key, &c, 1), 0);
	take(key, &after);
	CHECK(after.ino != before.ino);
	CHECK_INT(mode_of(key), 0600);
	CHECK_INT(identity_load(key, &b), 0);
	CHECK(id_equal(&b.id, &c.id));
	CHECK_INT(count_entries(dir, &hidden), 1);
	CHECK_INT(hidden, 0);

	/* load_or_create: loads the existing key... */
	CHECK_INT(identity_load_or_create(key, &b, &created), 0);
	CHECK_INT(created, 0);
	CHECK(id_equal(&b.id, &c.id));
	/* ...or creates one, and then loads that same one. */
	CHECK_INT(identity_remove(key), 0);
	CHECK_INT(count_entries(dir, NULL), 0);
	CHECK_INT(identity_remove(key), -ENOENT);
	CHECK_INT(identity_load_or_create(key, &b, &created), 0);
	CHECK_INT(created, 1);
	CHECK_INT(mode_of(key), 0600);
	CHECK_INT(identity_load_or_create(key, &c, &created), 0);
	CHECK_INT(created, 0);
	CHECK(id_equal(&b.id, &c.id));

	identity_wipe(&a);
	for (size_t i = 0; i < sizeof(a); i++)
		CHECK(((uint8_t *)&a)[i] == 0);
	identity_wipe(&b);
	identity_wipe(&c);
}

/* Every refused key file: the error code, and nothing changed on disk. */
static void test_refusals(void)
{
	char path[PATH_MAX], other[PATH_MAX], dir[PATH_MAX];
	struct iron_identity id, good;
	struct snapshot before, after;
	uint8_t bytes[33];
	int created;

	randombytes_buf(bytes, sizeof(bytes));
	identity_generate(&good);

	mkdir(at(dir, "bad"), 0700);
	/* 31 and 33 bytes. */
	write_file(at(path, "bad/short.key"), bytes, 31, 0600);
	take(path, &before);
	CHECK_INT(identity_load(path, &id), -EINVAL);
	CHECK_INT(identity_load_or_create(path, &id, &created), -EINVAL);
	take(path, &after);
	CHECK(same(&before, &after));
	write_file(at(path, "bad/long.key"), bytes, 33, 0600);
	take(path, &before);
	CHECK_INT(identity_load(path, &id), -EINVAL);
	CHECK_INT(identity_load_or_create(path, &id, &created), -EINVAL);
	take(path, &after);
	CHECK(same(&before, &after));
	write_file(at(path, "bad/empty.key"), bytes, 0, 0600);
	CHECK_INT(identity_load(path, &id), -EINVAL);

	/* Readable (or accessible at all) by group or others, as ssh. */
	const mode_t loose[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601};
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		write_file(at(path, "bad/open.key"), bytes, 32, loose[i]);
		take(path, &before);
		CHECK_INT(identity_load(path, &id), -EPERM);
		CHECK_INT(identity_load_or_create(path, &id, &created), -EPERM);
		take(path, &after);
		CHECK(same(&before, &after));
	}
	/* 0400 is fine: only the owner can read it. */
	write_file(at(path, "bad/readonly.key"), bytes, 32, 0400);
	CHECK_INT(identity_load(path, &id), 0);
	/* Another user's key, planted with a perfect mode (issue 15, item 7;
	 * only root can make one). */
	if (geteuid() == 0) {
		write_file(at(path, "bad/planted.key"), bytes, 32, 0600);
		CHECK_INT(chown(path, 65534, 65534), 0);
		take(path, &before);
		CHECK_INT(identity_load(path, &id), -EOWNERDEAD);
		CHECK_INT(identity_load_or_create(path, &id, &created), -EOWNERDEAD);
		take(path, &after);
		CHECK(same(&before, &after));
		CHECK(strstr(identity_strerror(-EOWNERDEAD), "another user") != NULL);
	}

	/* A symbolic link is not followed, even to a perfect key. */
	write_file(at(other, "bad/target.key"), good.seed, 32, 0600);
	CHECK_INT(symlink(other, at(path, "bad/link.key")), 0);
	take(other, &before);
	CHECK_INT(identity_load(path, &id), -ELOOP);
	CHECK_INT(identity_load_or_create(path, &id, &created), -ELOOP);
	CHECK_INT(identity_save(path, &good, 0), -ELOOP);
	CHECK_INT(identity_save(path, &good, 1), -ELOOP);
	take(other, &after);
	CHECK(same(&before, &after));
	struct stat st;
	CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
	/* A dangling link too: load_or_create must not create its target. */
	CHECK_INT(symlink(at(other, "bad/nowhere.key"), at(path, "bad/dangling.key")), 0);
	CHECK_INT(identity_load_or_create(path, &id, &created), -ELOOP);
	CHECK(access(other, F_OK) != 0);

	/* A state directory that is a file. */
	write_file(at(dir, "bad/statefile"), "x", 1, 0600);
	take(dir, &before);
	join(path, dir, "secret.key");
	CHECK_INT(identity_load(path, &id), -ENOTDIR);
	CHECK_INT(identity_save(path, &good, 0), -ENOTDIR);
	CHECK_INT(identity_load_or_create(path, &id, &created), -ENOTDIR);
	join(path, dir, "sub/secret.key");
	CHECK_INT(identity_save(path, &good, 1), -ENOTDIR);
	take(dir, &after);
	CHECK(same(&before, &after));

	/* A directory where the key should be. */
	mkdir(at(path, "bad/dir.key"), 0700);
	CHECK_INT(identity_load(path, &id), -EISDIR);
	CHECK_INT(identity_save(path, &good, 1), -EISDIR);
	CHECK_INT(identity_remove(path), -EISDIR);
	CHECK_INT(count_entries(path, NULL), 0);

	/* None of this left a temporary file behind. */
	int hidden;
	at(dir, "bad");
	count_entries(dir, &hidden);
	CHECK_INT(hidden, 0);

	/* A read-only directory (only meaningful when not root): the save
	 * fails cleanly. */
	if (geteuid() != 0) {
		mkdir(at(dir, "ro"), 0500);
		join(path, dir, "secret.key");
		CHECK_INT(identity_save(path, &good, 0), -EACCES);
		CHECK_INT(count_entries(dir, NULL), 0);
		chmod(dir, 0700);
	}

	for (int err = 1; err < 140; err++)
		CHECK(identity_strerror(-err) != NULL && *identity_strerror(-err));
	CHECK(strstr(identity_strerror(-EPERM), "chmod 600") != NULL);
	identity_wipe(&good);
	identity_wipe(&id);
}

/* Several processes start at once on an empty state directory: exactly
 * one creates the key, and all end up with that same key. */
static void test_concurrent_create(void)
{
	enum { PROCS = 8 };
	char dir[PATH_MAX], key[PATH_MAX];
	int gate[2], results[2], created_count = 0, hidden;
	struct iron_identity mine;

	at(dir, "race");
	join(key, dir, "secret.key");
	CHECK_INT(pipe(gate), 0);
	CHECK_INT(pipe(results), 0);
	for (int i = 0; i < PROCS; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct iron_identity id;
			char c, line[IRON_ID_HEX_LEN + 3];
			int created = 0;
			close(gate[1]);
			/* Wait until the parent opens the gate for all at once. */
			if (read(gate[0], &c, 1) < 0)
				_exit(2);
			int err = identity_load_or_create(key, &id, &created);
			id_to_hex(&id.id, line + 1);
			line[0] = (char)(err ? 'E' : created ? 'C' : 'L');
			line[IRON_ID_HEX_LEN + 1] = '\n';
			if (write(results[1], line, IRON_ID_HEX_LEN + 2) < 0)
				_exit(2);
			_exit(0);
		}
		CHECK(pid > 0);
	}
	close(gate[0]);
	close(results[1]);
	close(gate[1]); /* EOF on the gate: everyone goes */
	for (int i = 0; i < PROCS; i++)
		wait(NULL);
	char all[PROCS * (IRON_ID_HEX_LEN + 2) + 1];
	ssize_t n = 0, got;
	while ((got = read(results[0], all + n, sizeof(all) - 1 - (size_t)n)) > 0)
		n += got;
	close(results[0]);
	CHECK_INT(n, PROCS * (IRON_ID_HEX_LEN + 2));
	CHECK_INT(identity_load(key, &mine), 0);
	char hex[IRON_ID_HEX_LEN + 1];
	id_to_hex(&mine.id, hex);
	for (int i = 0; i < PROCS && (i + 1) * (IRON_ID_HEX_LEN + 2) <= n; i++) {
		const char *line = all + i * (IRON_ID_HEX_LEN + 2);
		CHECK(line[0] == 'C' || line[0] == 'L');
		created_count += line[0] == 'C';
		CHECK(memcmp(line + 1, hex, IRON_ID_HEX_LEN) == 0);
	}
	CHECK_INT(created_count, 1);
	CHECK_INT(count_entries(dir, &hidden), 1);
	CHECK_INT(hidden, 0);
	CHECK_INT(mode_of(key), 0600);
	identity_wipe(&mine);
}

/* While one process keeps replacing the key, a reader never sees a
 * missing, partial or mixed file: the rename is atomic. */
static void test_atomic_replace(void)
{
	char key[PATH_MAX];
	struct iron_identity a, b, got;
	int bad = 0, loads = 0, status = 0;
	pid_t pid;

	at(key, "race/secret.key");
	identity_generate(&a);
	identity_generate(&b);
	CHECK_INT(identity_save(key, &a, 1), 0);
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 300; i++)
			if (identity_save(key, i % 2 ? &a : &b, 1) != 0)
				_exit(1);
		_exit(0);
	}
	CHECK(pid > 0);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		int err = identity_load(key, &got);
		loads++;
		if (err != 0 || (!id_equal(&got.id, &a.id) && !id_equal(&got.id, &b.id)))
			bad++;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT(bad, 0);
	CHECK(loads > 0);
	int hidden;
	char dir[PATH_MAX];
	CHECK_INT(count_entries(at(dir, "race"), &hidden), 1);
	CHECK_INT(hidden, 0);
	identity_wipe(&a);
	identity_wipe(&b);
	identity_wipe(&got);
}

static void test_seed_from_text(void)
{
	static const char hex[] =
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
	static const char b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	uint8_t expect[32], seed[32], raw[32];
	char buf[128];

	for (int i = 0; i < 32; i++)
		expect[i] = (uint8_t)i;
	CHECK_INT(identity_seed_from_text(hex, strlen(hex), seed), 0);
	CHECK_MEM(seed, expect, 32);
	snprintf(buf, sizeof(buf), "  %s\n",
		 "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
	CHECK_INT(identity_seed_from_text(buf, strlen(buf), seed), 0);
	CHECK_MEM(seed, expect, 32);
	CHECK_INT(identity_seed_from_text(b64, strlen(b64), seed), 0);
	CHECK_MEM(seed, expect, 32);
	snprintf(buf, sizeof(buf), "%.43s\r\n", b64); /* unpadded */
	CHECK_INT(identity_seed_from_text(buf, strlen(buf), seed), 0);
	CHECK_MEM(seed, expect, 32);
	/* The raw key file itself. */
	CHECK_INT(identity_seed_from_text((const char *)expect, 32, seed), 0);
	CHECK_MEM(seed, expect, 32);
	randombytes_buf(raw, sizeof(raw));
	raw[0] = 0xff;
	CHECK_INT(identity_seed_from_text((const char *)raw, 32, seed), 0);
	CHECK_MEM(seed, raw, 32);

	/* A byte >= 0x80 in base64 text (libsodium 1.0.18 alone reads it as
	 * '/'). */
	snprintf(buf, sizeof(buf), "%s", b64);
	buf[5] = (char)0xc8;
	CHECK_INT(identity_seed_from_text(buf, 44, seed), -EINVAL);
	CHECK_INT(encoding_base64_decode(buf, seed, 32), -EINVAL);

	/* Rejected: 32 printable characters (a cut-off text key), wrong
	 * lengths, bad digits, a NUL inside, text too long. */
	CHECK_INT(identity_seed_from_text(hex, 32, seed), -EINVAL);
	CHECK_INT(identity_seed_from_text(hex, 63, seed), -EINVAL);
	CHECK_INT(identity_seed_from_text(hex, 0, seed), -EINVAL);
	snprintf(buf, sizeof(buf), "%.63sg", hex);
	CHECK_INT(identity_seed_from_text(buf, 64, seed), -EINVAL);
	snprintf(buf, sizeof(buf), "%s", hex);
	buf[10] = '\0';
	CHECK_INT(identity_seed_from_text(buf, 64, seed), -EINVAL);
	snprintf(buf, sizeof(buf), "%.42s!=", b64);
	CHECK_INT(identity_seed_from_text(buf, 44, seed), -EINVAL);
	snprintf(buf, sizeof(buf), "%.60s %.60s", hex, hex);
	CHECK_INT(identity_seed_from_text(buf, strlen(buf), seed), -EINVAL);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[PATH_MAX + 16];
	int rc;

	if (sodium_init() < 0)
		return 1;
	snprintf(root, sizeof(root), "%s/iron-test-identity-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_state_dir();
	test_save_and_load();
	test_refusals();
	test_concurrent_create();
	test_atomic_replace();
	test_seed_from_text();
	rc = check_done();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return rc;
}
