#define LOG_MODULE "registry"
#include "iron/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iron/addr.h"
#include "iron/json.h"
#include "iron/log.h"

#define NO_SLOT	     UINT32_MAX
#define MAX_CAPACITY (1u << 24)
/* The address holds bytes 24..31 of the ID: that is the key. */
#define KEY_OFFSET 24

/* An entry. Slots live in one array allocated by registry_new(); prev/next
 * link each used slot into one of the two recency lists (head = most
 * recently used) and chain free slots through next. */
struct slot {
	struct iron_id id;
	uint64_t key;  /* ID bytes 24..31, as stored in memory */
	uint64_t hash; /* keyed hash of key, to move entries without rehashing */
	uint64_t last_seen;
	uint32_t prev;
	uint32_t next;
	unsigned flags;
	bool clash_logged;
};

struct slot_list {
	uint32_t head;
	uint32_t tail;
	size_t n;
};

struct registry {
	struct slot *slots;
	size_t capacity;
	size_t count;
	/* Slots given back by eviction, chained through next; then those
	 * never used, from fresh on. Fresh slots are left untouched so that
	 * a large capacity costs memory only as it fills (calloc'd pages
	 * are not resident until written). */
	uint32_t free_head;
	uint32_t fresh;
	/* Open addressing with linear probing: slot index + 1, 0 = empty. At
	 * least twice the capacity, so probes stay short and an empty cell is
	 * always found. */
	uint32_t *table;
	size_t table_mask;
	/* Three recency lists. A name asked of the DNS only ever evicts a
	 * tentative entry; an entry that was authenticated (or loaded from
	 * the file) evicts tentative ones first, and trusted ones take at
	 * most capacity - reserve slots, so DNS names always find room. */
	struct slot_list tentative; /* learnt from a DNS query or a ping alone */
	struct slot_list trusted;   /* authenticated or known, evictable */
	struct slot_list protected; /* pinned or connected: never evicted */
	size_t reserve;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

#define ALL_FLAGS (REGISTRY_PINNED | REGISTRY_CONNECTED | REGISTRY_AUTHENTICATED | REGISTRY_KNOWN)

static bool is_protected(unsigned flags)
{
	return (flags & (REGISTRY_PINNED | REGISTRY_CONNECTED)) != 0;
}

/* How much an entry is to be believed: a configured ID over one that
 * proved its key, over one proved in an earlier run, over a name someone
 * asked for. Only a higher rank takes an address from another ID. */
static int rank_of(unsigned flags)
{
	if (flags & REGISTRY_PINNED)
		return 3;
	if (flags & (REGISTRY_CONNECTED | REGISTRY_AUTHENTICATED))
		return 2;
	if (flags & REGISTRY_KNOWN)
		return 1;
	return 0;
}

static struct slot_list *list_of(struct registry *reg, const struct slot *s)
{
	if (is_protected(s->flags))
		return &reg->protected;
	return rank_of(s->flags) > 0 ? &reg->trusted : &reg->tentative;
}

static void list_unlink(struct registry *reg, struct slot_list *list, uint32_t i)
{
	struct slot *s = &reg->slots[i];
	if (s->prev != NO_SLOT)
		reg->slots[s->prev].next = s->next;
	else
		list->head = s->next;
	if (s->next != NO_SLOT)
		reg->slots[s->next].prev = s->prev;
	else
		list->tail = s->prev;
	s->prev = s->next = NO_SLOT;
	list->n--;
}

static void list_push_head(struct registry *reg, struct slot_list *list, uint32_t i)
{
	struct slot *s = &reg->slots[i];
	s->prev = NO_SLOT;
	s->next = list->head;
	if (list->head != NO_SLOT)
		reg->slots[list->head].prev = i;
	else
		list->tail = i;
	list->head = i;
	list->n++;
}

static uint64_t key_of_bytes(const uint8_t *bytes)
{
	uint64_t key;
	memcpy(&key, bytes, sizeof(key));
	return key;
}

static uint64_t hash_key(const struct registry *reg, uint64_t key)
{
	/* SipHash with a random key: IDs are public and can be chosen (any
	 * curve point is an ID), so an unkeyed hash could be flooded with
	 * colliding entries through DNS queries. */
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t hash;
	crypto_shorthash(out, (const uint8_t *)&key, sizeof(key), reg->hash_key);
	memcpy(&hash, out, sizeof(hash));
	return hash;
}

/* The table cell holding key, or the empty cell where it would go. */
static size_t find_cell(const struct registry *reg, uint64_t key, uint64_t hash)
{
	size_t cell = hash & reg->table_mask;
	while (reg->table[cell] != 0 && reg->slots[reg->table[cell] - 1].key != key)
		cell = (cell + 1) & reg->table_mask;
	return cell;
}

/* Empties a cell, moving later entries of the same probe run back so that
 * no tombstones are needed (Knuth's algorithm R). */
static void table_remove(struct registry *reg, size_t hole)
{
	size_t cell = hole;
	for (;;) {
		cell = (cell + 1) & reg->table_mask;
		if (reg->table[cell] == 0)
			break;
		size_t home = reg->slots[reg->table[cell] - 1].hash & reg->table_mask;
		/* The entry may move back to the hole unless its home lies
		 * cyclically in (hole, cell]. */
		bool stays =
		    hole <= cell ? (hole < home && home <= cell) : (hole < home || home <= cell);
		if (!stays) {
			reg->table[hole] = reg->table[cell];
			hole = cell;
		}
	}
	reg->table[hole] = 0;
}

static void evict(struct registry *reg, uint32_t i)
{
	struct slot *s = &reg->slots[i];
	char b32[IRON_ID_BASE32_LEN + 1];
	if (log_enabled(LOG_MODULE, LOG_DEBUG)) {
		id_to_base32(&s->id, b32);
		log_debug("evicting %s (least recently used)", b32);
	}
	table_remove(reg, find_cell(reg, s->key, s->hash));
	list_unlink(reg, list_of(reg, s), i);
	memset(s, 0, sizeof(*s));
	s->prev = NO_SLOT;
	s->next = reg->free_head;
	reg->free_head = i;
	reg->count--;
}

int registry_new(size_t capacity, struct registry **out)
{
	struct registry *reg = NULL;
	int err = 0;
	if (capacity == 0 || capacity > MAX_CAPACITY)
		return -EINVAL;
	if (sodium_init() < 0)
		return -ENOMEM;
	size_t table_size = 1;
	while (table_size < capacity * 2)
		table_size <<= 1;
	reg = calloc(1, sizeof(*reg));
	if (!reg) {
		err = -ENOMEM;
		goto out;
	}
	reg->slots = calloc(capacity, sizeof(*reg->slots));
	reg->table = calloc(table_size, sizeof(*reg->table));
	if (!reg->slots || !reg->table) {
		err = -ENOMEM;
		goto out;
	}
	reg->capacity = capacity;
	reg->table_mask = table_size - 1;
	reg->free_head = NO_SLOT;
	reg->fresh = 0;
	reg->tentative = (struct slot_list){NO_SLOT, NO_SLOT, 0};
	reg->trusted = (struct slot_list){NO_SLOT, NO_SLOT, 0};
	reg->protected = (struct slot_list){NO_SLOT, NO_SLOT, 0};
	reg->reserve = capacity / 4;
	crypto_shorthash_keygen(reg->hash_key);
	*out = reg;
	reg = NULL;
out:
	registry_del(reg);
	return err;
}

void registry_del(struct registry *reg)
{
	if (!reg)
		return;
	free(reg->table);
	free(reg->slots);
	free(reg);
}

static void log_clash(struct slot *owner, const struct iron_id *id)
{
	char addr_text[ADDR_STR_SIZE], kept[IRON_ID_BASE32_LEN + 1],
	    refused[IRON_ID_BASE32_LEN + 1];
	struct in6_addr addr;
	/* Once per address: anyone can ask the DNS for colliding names, and
	 * the log must not be theirs to fill. */
	if (owner->clash_logged)
		return;
	owner->clash_logged = true;
	addr_from_id(id, &addr);
	id_to_base32(&owner->id, kept);
	id_to_base32(id, refused);
	log_warn("address %s belongs to %s; %s has the same last 8 bytes and is ignored",
		 addr_format(&addr, addr_text), kept, refused);
}

/* Keeps trusted and protected entries to capacity - reserve, evicting the
 * least recently used trusted entry other than keep. */
static void trim_trusted(struct registry *reg, uint32_t keep)
{
	while (reg->trusted.n + reg->protected.n > reg->capacity - reg->reserve &&
	       reg->trusted.tail != NO_SLOT && reg->trusted.tail != keep)
		evict(reg, reg->trusted.tail);
}

/* Gives slot i, whose address id shares, to id. */
static void replace(struct registry *reg, uint32_t i, const struct iron_id *id, unsigned flags,
		    uint64_t now)
{
	struct slot *s = &reg->slots[i];
	char addr_text[ADDR_STR_SIZE], old[IRON_ID_BASE32_LEN + 1], new[IRON_ID_BASE32_LEN + 1];
	struct in6_addr addr;
	bool tentative = rank_of(flags) == 0;
	if (!tentative || log_enabled(LOG_MODULE, LOG_DEBUG)) {
		addr_from_id(id, &addr);
		id_to_base32(&s->id, old);
		id_to_base32(id, new);
		/* Only configuration or a completed handshake gets here
		 * above debug level: nobody can repeat it at will. */
		if (tentative)
			log_debug("address %s: %s replaces %s (both learnt from names alone)",
				  addr_format(&addr, addr_text), new, old);
		else
			log_info("address %s now belongs to %s (%s), no longer to %s",
				 addr_format(&addr, addr_text), new,
				 flags & REGISTRY_PINNED ? "configured" : "authenticated", old);
	}
	list_unlink(reg, list_of(reg, s), i);
	s->id = *id;
	s->flags = flags;
	s->last_seen = now;
	s->clash_logged = false;
	list_push_head(reg, list_of(reg, s), i);
}

/* Frees a slot for a new entry of the given rank. */
static int make_room(struct registry *reg, int rank)
{
	if (rank > 0 && reg->trusted.n + reg->protected.n >= reg->capacity - reg->reserve &&
	    reg->trusted.tail != NO_SLOT) {
		evict(reg, reg->trusted.tail);
		return 0;
	}
	if (reg->count < reg->capacity)
		return 0;
	if (reg->tentative.tail != NO_SLOT)
		evict(reg, reg->tentative.tail);
	else if (rank > 0 && reg->trusted.tail != NO_SLOT)
		evict(reg, reg->trusted.tail);
	else
		return -ENOSPC;
	return 0;
}

int registry_insert(struct registry *reg, const struct iron_id *id, unsigned flags, uint64_t now)
{
	uint64_t key = key_of_bytes(id->bytes + KEY_OFFSET);
	uint64_t hash = hash_key(reg, key);
	size_t cell = find_cell(reg, key, hash);
	flags &= ALL_FLAGS;
	int rank = rank_of(flags);
	if (reg->table[cell] != 0) {
		uint32_t i = reg->table[cell] - 1;
		struct slot *s = &reg->slots[i];
		if (!id_equal(&s->id, id)) {
			int owner_rank = rank_of(s->flags);
			/* Among names learnt from queries alone the latest
			 * wins: a squatter cannot keep an address by asking
			 * first. Otherwise only a higher rank displaces. */
			if (rank < owner_rank || (rank == owner_rank && rank > 0)) {
				log_clash(s, id);
				return -EEXIST;
			}
			replace(reg, i, id, flags, now);
			trim_trusted(reg, i);
			return 0;
		}
		list_unlink(reg, list_of(reg, s), i);
		s->flags |= flags;
		if (now > s->last_seen)
			s->last_seen = now;
		list_push_head(reg, list_of(reg, s), i);
		trim_trusted(reg, i);
		return 0;
	}
	int rc = make_room(reg, rank);
	if (rc < 0)
		return rc;
	/* Eviction may have moved entries in the table. */
	cell = find_cell(reg, key, hash);
	uint32_t i = reg->free_head;
	if (i == NO_SLOT)
		i = reg->fresh++; /* count < capacity: one is left */
	struct slot *s = &reg->slots[i];
	if (i == reg->free_head)
		reg->free_head = s->next;
	s->id = *id;
	s->key = key;
	s->hash = hash;
	s->last_seen = now;
	s->flags = flags;
	s->clash_logged = false;
	reg->table[cell] = i + 1;
	list_push_head(reg, list_of(reg, s), i);
	reg->count++;
	return 0;
}

static struct slot *find_id(struct registry *reg, const struct iron_id *id, uint32_t *index)
{
	uint64_t key = key_of_bytes(id->bytes + KEY_OFFSET);
	size_t cell = find_cell(reg, key, hash_key(reg, key));
	if (reg->table[cell] == 0)
		return NULL;
	*index = reg->table[cell] - 1;
	struct slot *s = &reg->slots[*index];
	return id_equal(&s->id, id) ? s : NULL;
}

static int set_flag(struct registry *reg, const struct iron_id *id, unsigned flag, bool on)
{
	uint32_t i;
	struct slot *s = find_id(reg, id, &i);
	if (!s)
		return -ENOENT;
	list_unlink(reg, list_of(reg, s), i);
	if (on)
		s->flags |= flag;
	else
		s->flags &= ~flag;
	list_push_head(reg, list_of(reg, s), i);
	trim_trusted(reg, i);
	return 0;
}

int registry_pin(struct registry *reg, const struct iron_id *id, bool pinned)
{
	return set_flag(reg, id, REGISTRY_PINNED, pinned);
}

int registry_set_connected(struct registry *reg, const struct iron_id *id, bool connected)
{
	return set_flag(reg, id, REGISTRY_CONNECTED, connected);
}

int registry_lookup(struct registry *reg, const struct in6_addr *addr, struct iron_id *out)
{
	if (!addr_is_node(addr))
		return -ENOENT;
	uint64_t key = key_of_bytes(addr->s6_addr + 8);
	size_t cell = find_cell(reg, key, hash_key(reg, key));
	if (reg->table[cell] == 0)
		return -ENOENT;
	uint32_t i = reg->table[cell] - 1;
	struct slot *s = &reg->slots[i];
	struct slot_list *list = list_of(reg, s);
	/* The common case, packets to the same peer in a row, writes nothing. */
	if (list->head != i) {
		list_unlink(reg, list, i);
		list_push_head(reg, list, i);
	}
	if (out)
		*out = s->id;
	return 0;
}

size_t registry_count(const struct registry *reg)
{
	return reg->count;
}

static int foreach_list(const struct registry *reg, const struct slot_list *list,
			int (*fn)(const struct registry_entry *entry, void *ctx), void *ctx)
{
	for (uint32_t i = list->tail; i != NO_SLOT; i = reg->slots[i].prev) {
		const struct slot *s = &reg->slots[i];
		struct registry_entry entry = {
		    .id = s->id, .flags = s->flags, .last_seen = s->last_seen};
		addr_from_id(&s->id, &entry.addr);
		int rc = fn(&entry, ctx);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int registry_foreach(const struct registry *reg,
		     int (*fn)(const struct registry_entry *entry, void *ctx), void *ctx)
{
	int rc = foreach_list(reg, &reg->protected, fn, ctx);
	if (rc == 0)
		rc = foreach_list(reg, &reg->trusted, fn, ctx);
	if (rc == 0)
		rc = foreach_list(reg, &reg->tentative, fn, ctx);
	return rc;
}

static int save_one(const struct registry_entry *entry, void *ctx)
{
	FILE *f = ctx;
	char b32[IRON_ID_BASE32_LEN + 1];
	/* A name someone asked the DNS for proves nothing: saved, it would
	 * take the address from the real node after a restart. */
	if (rank_of(entry->flags) == 0)
		return 0;
	id_to_base32(&entry->id, b32);
	/* serde_json's pretty layout, which the original writes. */
	fprintf(f, "%s\n  \"%s\"", ftell(f) > 1 ? "," : "", b32);
	return 0;
}

/* The file's text, in memory (malloc'd into *out). Returns 0 or -ENOMEM. */
static int serialize(const struct registry *reg, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	fputc('[', f);
	registry_foreach(reg, save_one, f);
	fputs(ftell(f) > 1 ? "\n]\n" : "]\n", f);
	bool failed = ferror(f) != 0;
	if (fclose(f) != 0 || failed) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int err = 0;
	if (!slash) {
		strcpy(dir, ".");
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		err = -errno;
	close(fd);
	return err;
}

/* Writes text to path atomically (registry_save()). */
static int write_atomically(const char *path, const char *text, size_t len)
{
	char tmp[4096];
	int fd = -1, err = 0;
	bool created = false;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	created = true;
	/* Not secret, but only this node's business. */
	if (fchmod(fd, 0600) != 0) {
		err = -errno;
		goto out;
	}
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		err = -errno;
		goto out;
	}
	int rc = close(fd);
	fd = -1;
	if (rc != 0) {
		err = -errno;
		goto out;
	}
	if (rename(tmp, path) != 0) {
		err = -errno;
		goto out;
	}
	created = false;
	err = fsync_parent(path);
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlink(tmp);
	return err;
}

int registry_save(const struct registry *reg, const char *path)
{
	return registry_save_changed(reg, path, NULL);
}

/* The file's text and its digest. */
static int serialize_digest(const struct registry *reg, char **text, size_t *len,
			    uint8_t digest[REGISTRY_DIGEST_LEN])
{
	int rc = serialize(reg, text, len);
	if (rc == 0)
		crypto_generichash(digest, REGISTRY_DIGEST_LEN, (const unsigned char *)*text, *len,
				   NULL, 0);
	return rc;
}

int registry_save_changed(const struct registry *reg, const char *path,
			  uint8_t digest[REGISTRY_DIGEST_LEN])
{
	char *text;
	size_t len;
	uint8_t now[REGISTRY_DIGEST_LEN];
	int rc = serialize_digest(reg, &text, &len, now);
	if (rc < 0)
		return rc;
	if (digest && memcmp(now, digest, sizeof(now)) == 0) {
		free(text);
		return 1;
	}
	rc = write_atomically(path, text, len);
	free(text);
	if (rc == 0 && digest)
		memcpy(digest, now, sizeof(now));
	return rc;
}

void registry_digest(const struct registry *reg, uint8_t digest[REGISTRY_DIGEST_LEN])
{
	char *text;
	size_t len;
	if (serialize_digest(reg, &text, &len, digest) < 0)
		memset(digest, 0, REGISTRY_DIGEST_LEN);
	else
		free(text);
}

static int load_one(const char *str, size_t len, void *ctx)
{
	struct registry *reg = ctx;
	struct iron_id id;
	enum id_form form;
	/* Anything but a valid base32 ID is skipped: the file is a cache. */
	if (strlen(str) != len || id_parse(str, &id, &form) != 0 || form != ID_FORM_BASE32)
		return 0;
	registry_insert(reg, &id, REGISTRY_KNOWN, 0);
	return 0;
}

int registry_load(struct registry *reg, const char *path)
{
	char *buf = NULL;
	int fd = -1, err = 0;
	struct stat st;
	size_t limit = REGISTRY_MAX_FILE, used = 0;
	if (reg->capacity * 64 > limit)
		limit = reg->capacity * 64;
	/* As ssh reads its files: no link followed, no FIFO waited on (it
	 * could hang start-up), nothing another user owns or can write. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		err = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -ESPIPE;
		goto out;
	}
	if (st.st_uid != geteuid()) {
		err = -EOWNERDEAD;
		goto out;
	}
	if ((st.st_mode & 022) != 0) {
		err = -EPERM;
		goto out;
	}
	if ((uint64_t)st.st_size > limit) {
		err = -EFBIG;
		goto out;
	}
	/* One byte more than allowed, to notice a file that grew. */
	buf = malloc(limit + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + used, limit + 1 - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > limit) {
			err = -EFBIG;
			goto out;
		}
	}
	/* Nothing is inserted unless the whole file is valid. */
	err = registry_parse_json(buf, used, load_one, reg);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return err;
}

const char *registry_strerror(int err)
{
	switch (err) {
	case -EINVAL:
		return "not a JSON array of node IDs";
	case -EFBIG:
		return "too large";
	case -ELOOP:
		return "is a symbolic link, which iron does not follow (remove it)";
	case -EISDIR:
		return "is a directory (remove it)";
	case -ESPIPE:
		return "not a regular file (remove it)";
	case -EOWNERDEAD:
		return "owned by another user (remove it, or chown it to the user iron runs as)";
	case -EPERM:
		return "group or others can write it (fix: chmod 600 on the file)";
	default:
		return strerror(-err);
	}
}

int registry_parse_json(const char *data, size_t len,
			int (*each)(const char *str, size_t len, void *ctx), void *ctx)
{
	/* An array of strings: nothing deeper is read. The caller bounds the
	 * size (registry_load() by the file's limit). */
	const struct json_limits limits = {.max_size = len, .max_depth = 2};
	const struct json_value *root, *v;
	struct json_doc *doc = NULL;
	int rc = json_parse_limited(data, len, &limits, &doc, NULL, NULL);

	if (rc != 0)
		return rc == -ENOMEM ? rc : -EINVAL;
	root = json_root(doc);
	if (!json_is_array(root))
		rc = -EINVAL;
	for (v = json_first(root); rc == 0 && v; v = json_next(v))
		if (v->type != JSON_STRING)
			rc = -EINVAL;
	/* The whole document is valid before the first string is handed out. */
	for (v = json_first(root); rc == 0 && each && v; v = json_next(v))
		if (v->len <= REGISTRY_JSON_MAX_STRING)
			rc = each(v->string, v->len, ctx);
	json_free(doc);
	return rc;
}
