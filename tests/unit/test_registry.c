/* The registry: lookups, address clashes, LRU eviction with pinned and
 * connected entries, the memory bound, persistence (round trip, atomic
 * save, tolerant load) and the JSON array parser. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "iron/addr.h"
#include "iron/identity.h"
#include "iron/registry.h"

static struct iron_id new_id(void)
{
	struct iron_identity ident;
	identity_generate(&ident);
	struct iron_id id = ident.id;
	identity_wipe(&ident);
	return id;
}

/* Cheap distinct IDs for volume tests (the registry does not check that
 * an ID is a curve point; its callers do). */
static struct iron_id counter_id(uint32_t n)
{
	struct iron_id id;
	memset(&id, 0xab, sizeof(id));
	memcpy(id.bytes + 24, &n, sizeof(n));
	return id;
}

static bool has(struct registry *reg, const struct iron_id *id)
{
	struct in6_addr a;
	struct iron_id found;
	addr_from_id(id, &a);
	return registry_lookup(reg, &a, &found) == 0 && id_equal(&found, id);
}

struct collected {
	struct iron_id ids[64];
	unsigned flags[64];
	size_t n;
};

static int collect(const struct registry_entry *entry, void *ctx)
{
	struct collected *c = ctx;
	struct in6_addr a;
	addr_from_id(&entry->id, &a);
	if (memcmp(&a, &entry->addr, sizeof(a)) != 0)
		return -1;
	if (c->n < 64) {
		c->ids[c->n] = entry->id;
		c->flags[c->n] = entry->flags;
	}
	c->n++;
	return 0;
}

static void test_insert_lookup(void)
{
	struct registry *reg;
	struct iron_id a = new_id(), b = new_id(), found;
	struct in6_addr addr;
	CHECK_INT(registry_new(0, &reg), -EINVAL);
	CHECK_INT(registry_new(16, &reg), 0);
	CHECK_INT(registry_count(reg), 0);
	addr_from_id(&a, &addr);
	CHECK_INT(registry_lookup(reg, &addr, &found), -ENOENT);
	CHECK_INT(registry_insert(reg, &a, 0, 100), 0);
	CHECK_INT(registry_insert(reg, &b, 0, 101), 0);
	CHECK_INT(registry_count(reg), 2);
	CHECK_INT(registry_lookup(reg, &addr, &found), 0);
	CHECK(id_equal(&found, &a));
	CHECK_INT(registry_lookup(reg, &addr, NULL), 0);
	CHECK(has(reg, &b));
	/* Same ID again: still one entry. */
	CHECK_INT(registry_insert(reg, &a, 0, 102), 0);
	CHECK_INT(registry_count(reg), 2);
	/* The same 8 bytes outside the node subnet are no node's address. */
	struct in6_addr other = addr;
	other.s6_addr[7] = 1;
	CHECK_INT(registry_lookup(reg, &other, &found), -ENOENT);
	CHECK_INT(registry_lookup(reg, &addr_dns, &found), -ENOENT);

	/* A clash: another ID with the same last 8 bytes (test_ranks has
	 * the rules). An authenticated owner keeps the address, however
	 * often the other tries. */
	struct iron_id a2 = a;
	a2.bytes[0] ^= 1;
	CHECK_INT(registry_insert(reg, &a, REGISTRY_AUTHENTICATED, 102), 0);
	CHECK_INT(registry_insert(reg, &a2, REGISTRY_AUTHENTICATED, 103), -EEXIST);
	CHECK_INT(registry_insert(reg, &a2, REGISTRY_KNOWN, 103), -EEXIST);
	CHECK_INT(registry_insert(reg, &a2, 0, 104), -EEXIST);
	CHECK_INT(registry_lookup(reg, &addr, &found), 0);
	CHECK(id_equal(&found, &a));
	CHECK_INT(registry_count(reg), 2);
	CHECK_INT(registry_pin(reg, &a2, true), -ENOENT);
	CHECK_INT(registry_set_connected(reg, &a2, true), -ENOENT);

	/* Flags and last_seen show in foreach. */
	CHECK_INT(registry_insert(reg, &b, REGISTRY_CONNECTED, 200), 0);
	struct collected c = {.n = 0};
	CHECK_INT(registry_foreach(reg, collect, &c), 0);
	CHECK_INT(c.n, 2);
	CHECK(id_equal(&c.ids[0], &b));
	CHECK_INT(c.flags[0], REGISTRY_CONNECTED);
	CHECK(id_equal(&c.ids[1], &a));
	CHECK_INT(c.flags[1], REGISTRY_AUTHENTICATED);
	registry_del(reg);
	registry_del(NULL);
}

static void test_lru_eviction(void)
{
	struct registry *reg;
	struct iron_id id[8];
	struct in6_addr addr;
	for (int i = 0; i < 8; i++)
		id[i] = new_id();
	CHECK_INT(registry_new(3, &reg), 0);
	CHECK_INT(registry_insert(reg, &id[0], 0, 1), 0);
	CHECK_INT(registry_insert(reg, &id[1], 0, 2), 0);
	CHECK_INT(registry_insert(reg, &id[2], 0, 3), 0);
	/* A lookup makes 0 the most recently used: 1 goes first. */
	addr_from_id(&id[0], &addr);
	CHECK_INT(registry_lookup(reg, &addr, NULL), 0);
	CHECK_INT(registry_insert(reg, &id[3], 0, 4), 0);
	CHECK_INT(registry_count(reg), 3);
	CHECK(!has(reg, &id[1]));
	CHECK(has(reg, &id[0]) && has(reg, &id[2]) && has(reg, &id[3]));
	/* The has() calls used 0, 2, 3 in that order; re-inserting 2
	 * refreshes it, so 0 goes next, then 3. */
	CHECK_INT(registry_insert(reg, &id[2], 0, 5), 0);
	CHECK_INT(registry_insert(reg, &id[4], 0, 6), 0);
	CHECK(!has(reg, &id[0]));
	CHECK_INT(registry_insert(reg, &id[5], 0, 7), 0);
	CHECK(!has(reg, &id[3]));
	CHECK(has(reg, &id[2]) && has(reg, &id[4]) && has(reg, &id[5]));
	/* foreach: least recently used first (the has() order: 2, 4, 5). */
	struct collected c = {.n = 0};
	registry_foreach(reg, collect, &c);
	CHECK_INT(c.n, 3);
	CHECK(id_equal(&c.ids[0], &id[2]) && id_equal(&c.ids[1], &id[4]) &&
	      id_equal(&c.ids[2], &id[5]));
	registry_del(reg);
}

static void test_protected_entries(void)
{
	struct registry *reg;
	struct iron_id id[8];
	for (int i = 0; i < 8; i++)
		id[i] = new_id();
	CHECK_INT(registry_new(3, &reg), 0);
	/* The oldest is pinned: the next oldest goes instead. */
	CHECK_INT(registry_insert(reg, &id[0], REGISTRY_PINNED, 1), 0);
	CHECK_INT(registry_insert(reg, &id[1], 0, 2), 0);
	CHECK_INT(registry_insert(reg, &id[2], 0, 3), 0);
	CHECK_INT(registry_insert(reg, &id[3], 0, 4), 0);
	CHECK(has(reg, &id[0]) && !has(reg, &id[1]));
	/* A connected peer is never evicted either. */
	CHECK_INT(registry_set_connected(reg, &id[2], true), 0);
	CHECK_INT(registry_insert(reg, &id[4], 0, 5), 0);
	CHECK(!has(reg, &id[3]));
	CHECK(has(reg, &id[0]) && has(reg, &id[2]) && has(reg, &id[4]));
	/* All protected: no room. */
	CHECK_INT(registry_pin(reg, &id[4], true), 0);
	CHECK_INT(registry_insert(reg, &id[5], 0, 6), -ENOSPC);
	CHECK_INT(registry_insert(reg, &id[5], REGISTRY_PINNED, 6), -ENOSPC);
	CHECK_INT(registry_count(reg), 3);
	CHECK(!has(reg, &id[5]));
	/* Refreshing a protected entry still works when full. */
	CHECK_INT(registry_insert(reg, &id[0], 0, 7), 0);
	/* Disconnected: evictable again, and the only candidate. */
	CHECK_INT(registry_set_connected(reg, &id[2], false), 0);
	CHECK_INT(registry_insert(reg, &id[5], 0, 8), 0);
	CHECK(!has(reg, &id[2]));
	CHECK(has(reg, &id[0]) && has(reg, &id[4]) && has(reg, &id[5]));
	/* Pinned and connected: both flags must go before it is evictable. */
	CHECK_INT(registry_set_connected(reg, &id[4], true), 0);
	CHECK_INT(registry_pin(reg, &id[4], false), 0);
	CHECK_INT(registry_insert(reg, &id[6], 0, 9), 0);
	CHECK(!has(reg, &id[5]));
	CHECK(has(reg, &id[4]));
	CHECK_INT(registry_set_connected(reg, &id[4], false), 0);
	CHECK_INT(registry_insert(reg, &id[7], 0, 10), 0);
	/* 4 came back as the most recently used, so 6 went. */
	CHECK(!has(reg, &id[6]));
	CHECK(has(reg, &id[0]) && has(reg, &id[4]) && has(reg, &id[7]));
	CHECK_INT(registry_pin(reg, &id[5], true), -ENOENT);
	registry_del(reg);
}

static void test_bounded(void)
{
	struct registry *reg;
	int missing = 0, present = 0;
	CHECK_INT(registry_new(REGISTRY_DEFAULT_CAPACITY, &reg), 0);
	struct iron_id self = counter_id(0xffffffff);
	CHECK_INT(registry_insert(reg, &self, REGISTRY_PINNED, 0), 0);
	for (uint32_t i = 0; i < 100000; i++) {
		struct iron_id id = counter_id(i);
		if (registry_insert(reg, &id, 0, i) != 0 ||
		    registry_count(reg) > REGISTRY_DEFAULT_CAPACITY)
			missing++;
	}
	CHECK_INT(missing, 0);
	CHECK_INT(registry_count(reg), REGISTRY_DEFAULT_CAPACITY);
	CHECK(has(reg, &self));
	/* Exactly the most recent capacity - 1 survive. */
	for (uint32_t i = 0; i < 100000; i++) {
		struct iron_id id = counter_id(i);
		bool expect = i >= 100000 - (REGISTRY_DEFAULT_CAPACITY - 1);
		if (has(reg, &id) != expect)
			missing++;
		else if (expect)
			present++;
	}
	CHECK_INT(missing, 0);
	CHECK_INT(present, REGISTRY_DEFAULT_CAPACITY - 1);
	registry_del(reg);
}

static char tmpdir[] = "/tmp/iron-registry-XXXXXX";

static char *path_in_tmp(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", tmpdir, name);
	return buf;
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(data, 1, len, f);
	fclose(f);
	return n == len ? 0 : -1;
}

static size_t count_dir_entries(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	size_t n = 0;
	while (d && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_persistence(void)
{
	struct registry *reg, *back;
	struct iron_id id[5];
	char path[256], text[4096];
	for (int i = 0; i < 5; i++)
		id[i] = new_id();
	path_in_tmp("known_peers.json", path, sizeof(path));

	CHECK_INT(registry_new(8, &reg), 0);
	/* Missing file: fine, nothing loaded. */
	CHECK_INT(registry_load(reg, path), 0);
	CHECK_INT(registry_count(reg), 0);
	/* Empty registry: "[]". */
	CHECK_INT(registry_save(reg, path), 0);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	CHECK_STR(text, "[]\n");

	CHECK_INT(registry_insert(reg, &id[0], REGISTRY_PINNED, 1), 0);
	CHECK_INT(registry_insert(reg, &id[1], REGISTRY_AUTHENTICATED, 2), 0);
	CHECK_INT(registry_insert(reg, &id[2], REGISTRY_AUTHENTICATED, 3), 0);
	CHECK_INT(registry_save(reg, path), 0);
	CHECK_INT(count_dir_entries(), 1);
	struct stat st;
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	/* The original's layout. */
	char b32[3][IRON_ID_BASE32_LEN + 1], expect[512];
	for (int i = 0; i < 3; i++)
		id_to_base32(&id[i], b32[i]);
	snprintf(expect, sizeof(expect), "[\n  \"%s\",\n  \"%s\",\n  \"%s\"\n]\n", b32[0], b32[1],
		 b32[2]);
	f = fopen(path, "r");
	n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	CHECK_STR(text, expect);

	/* Round trip: the same IDs, the same recency order. */
	CHECK_INT(registry_new(8, &back), 0);
	CHECK_INT(registry_load(back, path), 0);
	CHECK_INT(registry_count(back), 3);
	struct collected c = {.n = 0};
	registry_foreach(back, collect, &c);
	CHECK_INT(c.n, 3);
	for (int i = 0; i < 3 && i < (int)c.n; i++)
		CHECK(id_equal(&c.ids[i], &id[i]));
	/* Loading into a smaller registry keeps the most recent ones. */
	struct registry *small;
	CHECK_INT(registry_new(2, &small), 0);
	CHECK_INT(registry_load(small, path), 0);
	CHECK_INT(registry_count(small), 2);
	CHECK(!has(small, &id[0]) && has(small, &id[1]) && has(small, &id[2]));
	registry_del(small);

	/* Corrupt files: -EINVAL, registry unchanged. */
	static const char *corrupt[] = {
	    "",	   "[",		"[\"abc\"", "[\"abc\",]", "{}",
	    "[1]", "[\"a\"] x", "null",	    "[[]]",	  "[\"a\" \"b\"]",
	};
	char bad_path[256];
	path_in_tmp("corrupt.json", bad_path, sizeof(bad_path));
	for (size_t i = 0; i < sizeof(corrupt) / sizeof(corrupt[0]); i++) {
		CHECK_INT(write_file(bad_path, corrupt[i], strlen(corrupt[i])), 0);
		CHECK_INT(registry_load(back, bad_path), -EINVAL);
		CHECK_INT(registry_count(back), 3);
	}
	/* A valid file cut anywhere is corrupt, never half loaded. */
	int wrong = 0;
	for (size_t cut = 0; cut + 2 < strlen(expect); cut++) {
		struct registry *r;
		CHECK_INT(registry_new(8, &r), 0);
		CHECK_INT(write_file(bad_path, expect, cut), 0);
		if (registry_load(r, bad_path) != -EINVAL || registry_count(r) != 0)
			wrong++;
		registry_del(r);
	}
	CHECK_INT(wrong, 0);
	/* A directory is not a registry file. */
	CHECK_INT(registry_load(back, tmpdir), -EISDIR);

	/* Huge file: refused without reading it into the registry. */
	char big_path[256];
	path_in_tmp("big.json", big_path, sizeof(big_path));
	int fd = open(big_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(write(fd, "[", 1), 1);
	CHECK_INT(ftruncate(fd, REGISTRY_MAX_FILE + 1), 0);
	close(fd);
	CHECK_INT(registry_load(back, big_path), -EFBIG);
	CHECK_INT(registry_count(back), 3);
	unlink(big_path);

	/* Entries that are not valid IDs are skipped; the rest load. */
	char mixed[1024];
	char b32_4[IRON_ID_BASE32_LEN + 1], upper[IRON_ID_BASE32_LEN + 1];
	id_to_base32(&id[3], b32_4);
	id_to_base32(&id[4], upper);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	snprintf(mixed, sizeof(mixed),
		 " [ \"not an id\", \"%s\",\n\"%.51sr\", \"%s.iron\",\n"
		 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"\", \"%s\","
		 " \"197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61\","
		 " \"%s\" ]\n",
		 b32_4, b32[0], b32[1], upper, b32_4);
	CHECK_INT(write_file(bad_path, mixed, strlen(mixed)), 0);
	struct registry *r;
	CHECK_INT(registry_new(8, &r), 0);
	CHECK_INT(registry_load(r, bad_path), 0);
	CHECK_INT(registry_count(r), 2);
	CHECK(has(r, &id[3]) && has(r, &id[4]));
	CHECK(!has(r, &id[0]) && !has(r, &id[1]));
	registry_del(r);

	/* A failed save leaves the old file and no temporary file: saving
	 * over a directory cannot rename. */
	char dir_path[256];
	path_in_tmp("adir", dir_path, sizeof(dir_path));
	CHECK_INT(mkdir(dir_path, 0700), 0);
	size_t before = count_dir_entries();
	CHECK(registry_save(reg, dir_path) < 0);
	CHECK_INT(count_dir_entries(), before);
	rmdir(dir_path);
	char nowhere[256];
	path_in_tmp("no/such/dir/known_peers.json", nowhere, sizeof(nowhere));
	CHECK_INT(registry_save(reg, nowhere), -ENOENT);
	/* Saving again replaces the file atomically. */
	CHECK_INT(registry_insert(reg, &id[3], REGISTRY_AUTHENTICATED, 4), 0);
	CHECK_INT(registry_save(reg, path), 0);
	struct registry *again;
	CHECK_INT(registry_new(8, &again), 0);
	CHECK_INT(registry_load(again, path), 0);
	CHECK_INT(registry_count(again), 4);
	registry_del(again);

	unlink(bad_path);
	unlink(path);
	CHECK_INT(count_dir_entries(), 0);
	registry_del(back);
	registry_del(reg);
}

/* An ID with the same overlay address as id: what anyone can make in
 * microseconds (the registry takes any 32 bytes; the DNS needs a curve
 * point, which half of all byte strings are). */
static struct iron_id colliding(const struct iron_id *id, uint8_t n)
{
	struct iron_id forged = *id;
	unsigned found = 0;
	/* Half of all byte strings are points; 255 tries are plenty. */
	for (unsigned k = 1;; k++) {
		forged = *id;
		forged.bytes[0] ^= (uint8_t)k;
		forged.bytes[1] ^= (uint8_t)(k >> 8);
		if (id_is_valid(&forged) && found++ == n)
			return forged;
	}
}

static bool owner_is(struct registry *reg, const struct iron_id *id)
{
	return has(reg, id);
}

/* Issue 15, item 5: a name asked for never takes an address from a node
 * that authenticated, was configured or was loaded from the file; the
 * authenticated node takes it back from a name; only proven IDs are
 * saved, so a restart does not bring the forged one back. */
static void test_ranks(void)
{
	struct registry *reg, *back;
	struct iron_id victim = new_id(), self = new_id();
	struct iron_id forged = colliding(&victim, 0), forged2 = colliding(&victim, 1);
	char path[256];
	path_in_tmp("ranks.json", path, sizeof(path));

	CHECK_INT(registry_new(16, &reg), 0);
	CHECK_INT(registry_insert(reg, &self, REGISTRY_PINNED, 1), 0);
	/* The attack: a DNS query for the forged name. */
	CHECK_INT(registry_insert(reg, &forged, 0, 2), 0);
	CHECK(owner_is(reg, &forged));
	/* A later name takes it from an earlier one: asking first keeps
	 * nothing. */
	CHECK_INT(registry_insert(reg, &victim, 0, 3), 0);
	CHECK(owner_is(reg, &victim));
	CHECK_INT(registry_insert(reg, &forged, 0, 4), 0);
	CHECK(owner_is(reg, &forged));
	/* The real node connects: its handshake proves the key. */
	CHECK_INT(registry_insert(reg, &victim, REGISTRY_AUTHENTICATED, 5), 0);
	CHECK(owner_is(reg, &victim));
	CHECK_INT(registry_count(reg), 2);
	/* Now no name, and no cached ID, takes it. */
	CHECK_INT(registry_insert(reg, &forged, 0, 6), -EEXIST);
	CHECK_INT(registry_insert(reg, &forged2, 0, 6), -EEXIST);
	CHECK_INT(registry_insert(reg, &forged, REGISTRY_KNOWN, 6), -EEXIST);
	CHECK(owner_is(reg, &victim));
	/* Disconnected, it stays authenticated. */
	CHECK_INT(registry_set_connected(reg, &victim, true), 0);
	CHECK_INT(registry_set_connected(reg, &victim, false), 0);
	CHECK_INT(registry_insert(reg, &forged, 0, 7), -EEXIST);
	CHECK(owner_is(reg, &victim));
	/* Saved and loaded again (a restart): the victim, not the name. */
	struct iron_id name_only = new_id();
	CHECK_INT(registry_insert(reg, &name_only, 0, 8), 0);
	CHECK_INT(registry_save(reg, path), 0);
	CHECK_INT(registry_new(16, &back), 0);
	CHECK_INT(registry_load(back, path), 0);
	CHECK_INT(registry_count(back), 2);
	CHECK(has(back, &self) && has(back, &victim) && !has(back, &name_only));
	CHECK_INT(registry_insert(back, &forged, 0, 9), -EEXIST);
	CHECK(owner_is(back, &victim));
	registry_del(back);
	registry_del(reg);

	/* Before the fix a forged ID could be in the file: the configured
	 * peer takes the address from it, whatever the load order, and so
	 * does the authenticated one. */
	char b32[IRON_ID_BASE32_LEN + 1], text[128];
	id_to_base32(&forged, b32);
	snprintf(text, sizeof(text), "[\"%s\"]\n", b32);
	CHECK_INT(write_file(path, text, strlen(text)), 0);
	CHECK_INT(registry_new(16, &reg), 0);
	CHECK_INT(registry_load(reg, path), 0);
	CHECK(owner_is(reg, &forged));
	CHECK_INT(registry_insert(reg, &victim, 0, 1), -EEXIST); /* a name: no */
	CHECK_INT(registry_insert(reg, &victim, REGISTRY_PINNED, 1), 0);
	CHECK(owner_is(reg, &victim));
	CHECK_INT(registry_insert(reg, &forged, REGISTRY_AUTHENTICATED, 2), -EEXIST);
	CHECK(owner_is(reg, &victim));
	registry_del(reg);
	CHECK_INT(registry_new(16, &reg), 0);
	CHECK_INT(registry_load(reg, path), 0);
	CHECK_INT(registry_insert(reg, &victim, REGISTRY_AUTHENTICATED, 1), 0);
	CHECK(owner_is(reg, &victim));
	/* And its entry shows what it is. */
	struct collected c = {.n = 0};
	registry_foreach(reg, collect, &c);
	CHECK_INT(c.n, 1);
	CHECK_INT(c.flags[0], REGISTRY_AUTHENTICATED);
	registry_del(reg);
	unlink(path);
}

/* Issue 15, item 5: a flood of 50 000 names evicts no configured, known
 * or authenticated entry, and names still find room when trusted entries
 * fill the registry. */
static void test_name_flood(void)
{
	struct registry *reg;
	int lost = 0, refused = 0;
	CHECK_INT(registry_new(REGISTRY_DEFAULT_CAPACITY, &reg), 0);
	struct iron_id self = counter_id(0xffffffff);
	CHECK_INT(registry_insert(reg, &self, REGISTRY_PINNED, 0), 0);
	for (uint32_t i = 0; i < 1000; i++) {
		struct iron_id id = counter_id(0x10000000 + i);
		CHECK_INT(
		    registry_insert(reg, &id, i % 2 ? REGISTRY_KNOWN : REGISTRY_AUTHENTICATED, 0),
		    0);
	}
	for (uint32_t i = 0; i < 50000; i++) {
		struct iron_id id = counter_id(i);
		if (registry_insert(reg, &id, 0, i + 1) != 0)
			refused++;
	}
	CHECK_INT(refused, 0);
	CHECK_INT(registry_count(reg), REGISTRY_DEFAULT_CAPACITY);
	CHECK(has(reg, &self));
	for (uint32_t i = 0; i < 1000; i++) {
		struct iron_id id = counter_id(0x10000000 + i);
		if (!has(reg, &id))
			lost++;
	}
	CHECK_INT(lost, 0);
	/* The newest names are there. */
	struct iron_id last = counter_id(49999);
	CHECK(has(reg, &last));

	/* 10 000 authenticated peers: they take at most three quarters,
	 * evicting the oldest of their own, and a name still gets in. */
	for (uint32_t i = 0; i < 10000; i++) {
		struct iron_id id = counter_id(0x20000000 + i);
		if (registry_insert(reg, &id, REGISTRY_AUTHENTICATED, 60000 + i) != 0)
			refused++;
	}
	CHECK_INT(refused, 0);
	struct iron_id newest = counter_id(0x20000000 + 9999), name = counter_id(0x30000000);
	CHECK(has(reg, &newest) && has(reg, &self));
	CHECK_INT(registry_insert(reg, &name, 0, 80000), 0);
	CHECK(has(reg, &name));
	struct collected c = {.n = 0};
	registry_foreach(reg, collect, &c);
	CHECK_INT(c.n, REGISTRY_DEFAULT_CAPACITY);
	registry_del(reg);
}

/* Issue 15, item 7: known_peers.json is read as ssh reads its files. */
static void test_file_checks(void)
{
	struct registry *reg;
	struct iron_id id = new_id();
	char path[256], link_path[256], text[128], b32[IRON_ID_BASE32_LEN + 1];
	path_in_tmp("checked.json", path, sizeof(path));
	path_in_tmp("link.json", link_path, sizeof(link_path));
	id_to_base32(&id, b32);
	snprintf(text, sizeof(text), "[\"%s\"]\n", b32);
	CHECK_INT(registry_new(8, &reg), 0);
	CHECK_INT(write_file(path, text, strlen(text)), 0);
	CHECK_INT(chmod(path, 0644), 0);
	/* A symbolic link, even to a good file, is not followed. */
	CHECK_INT(symlink(path, link_path), 0);
	CHECK_INT(registry_load(reg, link_path), -ELOOP);
	unlink(link_path);
	/* A FIFO: refused at once, not waited on. */
	CHECK_INT(mkfifo(link_path, 0600), 0);
	CHECK_INT(registry_load(reg, link_path), -ESPIPE);
	unlink(link_path);
	/* Writable by the group or others: anyone could plant IDs. */
	CHECK_INT(chmod(path, 0664), 0);
	CHECK_INT(registry_load(reg, path), -EPERM);
	CHECK_INT(chmod(path, 0646), 0);
	CHECK_INT(registry_load(reg, path), -EPERM);
	CHECK_INT(registry_count(reg), 0);
	/* Another user's file (only root can make one). */
	CHECK_INT(chmod(path, 0600), 0);
	if (geteuid() == 0) {
		CHECK_INT(chown(path, 65534, 65534), 0);
		CHECK_INT(registry_load(reg, path), -EOWNERDEAD);
		CHECK_INT(chown(path, 0, 0), 0);
	}
	CHECK_INT(registry_load(reg, path), 0);
	CHECK(has(reg, &id));
	CHECK(strstr(registry_strerror(-EOWNERDEAD), "another user") != NULL);
	CHECK(strstr(registry_strerror(-EPERM), "chmod") != NULL);
	unlink(path);
	registry_del(reg);
}

struct strings {
	char s[8][REGISTRY_JSON_MAX_STRING + 1];
	size_t len[8];
	size_t n;
	size_t stop_after;
};

static int take(const char *str, size_t len, void *ctx)
{
	struct strings *st = ctx;
	if (st->n < 8) {
		memcpy(st->s[st->n], str, len + 1);
		st->len[st->n] = len;
	}
	st->n++;
	return st->stop_after && st->n >= st->stop_after ? 42 : 0;
}

static int parse(const char *text, struct strings *st)
{
	memset(st, 0, sizeof(*st));
	return registry_parse_json(text, strlen(text), take, st);
}

static void test_json(void)
{
	struct strings st;
	CHECK_INT(parse("[]", &st), 0);
	CHECK_INT(st.n, 0);
	CHECK_INT(parse(" \t\r\n[ \n ] \n", &st), 0);
	CHECK_INT(parse("[\"a\",\"bc\" , \"\"]", &st), 0);
	CHECK_INT(st.n, 3);
	CHECK_STR(st.s[0], "a");
	CHECK_STR(st.s[1], "bc");
	CHECK_STR(st.s[2], "");
	/* Escapes, including \u with a surrogate pair. */
	CHECK_INT(
	    parse("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"]", &st),
	    0);
	CHECK_INT(st.n, 2);
	CHECK_STR(st.s[0], "\"\\/\b\f\n\r\t");
	CHECK_STR(st.s[1], "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	/* An embedded NUL keeps its length. */
	CHECK_INT(parse("[\"a\\u0000b\"]", &st), 0);
	CHECK_INT(st.len[0], 3);
	/* Over-long strings are skipped, but still parsed. */
	char longer[256];
	snprintf(longer, sizeof(longer), "[\"x\", \"%0*d\", \"y\"]", REGISTRY_JSON_MAX_STRING + 1,
		 0);
	CHECK_INT(parse(longer, &st), 0);
	CHECK_INT(st.n, 2);
	CHECK_STR(st.s[1], "y");
	snprintf(longer, sizeof(longer), "[\"%0*d\"]", REGISTRY_JSON_MAX_STRING, 0);
	CHECK_INT(parse(longer, &st), 0);
	CHECK_INT(st.n, 1);
	CHECK_INT(st.len[0], REGISTRY_JSON_MAX_STRING);
	/* Stopping early returns the callback's value. */
	memset(&st, 0, sizeof(st));
	st.stop_after = 2;
	CHECK_INT(registry_parse_json("[\"a\",\"b\",\"c\"]", 13, take, &st), 42);
	CHECK_INT(st.n, 2);
	/* A document larger than the JSON reader's default limit: the caller
	 * bounds the size (a large registry's file may exceed 1 MiB). */
	size_t big_len = 2 * 1024 * 1024;
	char *big = malloc(big_len);
	memset(big, ' ', big_len);
	memcpy(big, "[\"a\"", 4);
	big[big_len - 1] = ']';
	memset(&st, 0, sizeof(st));
	CHECK_INT(registry_parse_json(big, big_len, take, &st), 0);
	CHECK_INT(st.n, 1);
	free(big);
	/* A bad document hands out nothing, even before its fault. */
	memset(&st, 0, sizeof(st));
	CHECK_INT(registry_parse_json("[\"a\",\"b\",1]", 11, take, &st), -EINVAL);
	CHECK_INT(st.n, 0);
	/* Validation only. */
	CHECK_INT(registry_parse_json("[\"a\"]", 5, NULL, NULL), 0);
	/* Only len bytes are read: the closing bracket is outside. */
	CHECK_INT(registry_parse_json("[\"a\"]", 4, NULL, NULL), -EINVAL);

	static const char *bad[] = {
	    "",
	    " ",
	    "[",
	    "]",
	    "[,]",
	    "[\"a\",]",
	    "[\"a\" \"b\"]",
	    "[\"a\",,\"b\"]",
	    "[\"a\"]]",
	    "[\"a\"] [",
	    "[1]",
	    "[null]",
	    "[true]",
	    "[{}]",
	    "[[\"a\"]]",
	    "\"a\"",
	    "[\"a]",
	    "[\"a\\\"]",
	    "[\"\\x\"]",
	    "[\"\\u12\"]",
	    "[\"\\u12g4\"]",
	    "[\"\\ud83d\"]",
	    "[\"\\ud83d\\u0041\"]",
	    "[\"\\ude00\"]",
	    "[\"a\tb\"]",
	    "[\"a\nb\"]",
	    "['a']",
	    "\xef\xbb\xbf[]",
	    "[\"\xff\"]",	  /* not UTF-8 */
	    "[\"\xed\xa0\x80\"]", /* a surrogate */
	};
	int accepted = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], &st) != -EINVAL) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			accepted++;
		}
	}
	CHECK_INT(accepted, 0);
}

/* registry_save_changed(): written only when the text changes, so an idle
 * daemon leaves its file (and the disk) alone. */
static void test_save_changed(void)
{
	struct registry *reg, *back;
	struct iron_id a = new_id(), b = new_id();
	char path[256];
	uint8_t digest[REGISTRY_DIGEST_LEN] = {0}, loaded[REGISTRY_DIGEST_LEN];
	struct stat st1, st2;
	path_in_tmp("changed.json", path, sizeof(path));
	CHECK_INT(registry_new(8, &reg), 0);
	CHECK_INT(registry_insert(reg, &a, REGISTRY_AUTHENTICATED, 1), 0);
	CHECK_INT(registry_save_changed(reg, path, digest), 0);
	CHECK_INT(stat(path, &st1), 0);
	/* Nothing changed: not written (a write renames a new file in). */
	CHECK_INT(registry_save_changed(reg, path, digest), 1);
	CHECK_INT(stat(path, &st2), 0);
	CHECK(st1.st_ino == st2.st_ino);
	/* A tentative entry (a DNS name only) is not saved: no change. */
	struct iron_id t = new_id();
	CHECK_INT(registry_insert(reg, &t, 0, 2), 0);
	CHECK_INT(registry_save_changed(reg, path, digest), 1);
	/* A new authenticated peer: written. */
	CHECK_INT(registry_insert(reg, &b, REGISTRY_AUTHENTICATED, 3), 0);
	CHECK_INT(registry_save_changed(reg, path, digest), 0);
	CHECK_INT(stat(path, &st1), 0);
	CHECK(st1.st_ino != st2.st_ino);
	/* Loaded back, its digest says there is nothing to write. */
	CHECK_INT(registry_new(8, &back), 0);
	CHECK_INT(registry_load(back, path), 0);
	registry_digest(back, loaded);
	CHECK_INT(registry_save_changed(back, path, loaded), 1);
	/* Without a digest, registry_save() always writes. */
	CHECK_INT(registry_save(back, path), 0);
	CHECK_INT(stat(path, &st2), 0);
	CHECK(st1.st_ino != st2.st_ino);
	registry_del(back);
	registry_del(reg);
	unlink(path);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_insert_lookup();
	test_lru_eviction();
	test_protected_entries();
	test_bounded();
	test_persistence();
	test_save_changed();
	test_ranks();
	test_name_flood();
	test_file_checks();
	test_json();
	rmdir(tmpdir);
	return check_done();
}
