/* The registry: overlay address -> node ID (SPEC section 8). An address
 * holds only the last 8 bytes of an ID, so the router needs this map to
 * know which peer a packet from the TUN is for.
 *
 * Anyone can make an ID whose address is another node's (any curve point
 * is an ID, and 8 bytes are quickly matched), and one DNS query for its
 * name inserts it. So every entry has a rank, by where it came from:
 * configured (REGISTRY_PINNED: this node, static peers), authenticated
 * (REGISTRY_AUTHENTICATED or REGISTRY_CONNECTED: the ID completed a
 * handshake, or signed a discovery record), known (REGISTRY_KNOWN: loaded
 * from known_peers.json), tentative (none of these: a name was asked for
 * or pinged). An ID takes an address from another only with a higher
 * rank; between two tentative IDs the later one wins, so a squatter cannot
 * keep an address by asking first. Only non-tentative IDs are saved.
 *
 * Bounded: a fixed number of entries, allocated up front. Pinned and
 * connected entries are never evicted. A tentative entry evicts only the
 * least recently used tentative entry, so a flood of names never pushes
 * out a known or authenticated peer; the others evict tentative entries
 * first, and may hold at most three quarters of the capacity (beyond that
 * they evict the least recently used of their own), so names always find
 * room. Lookups are O(1) and allocate nothing. Keys are hashed with a
 * random per-registry key, so IDs chosen to collide cannot slow the table
 * down.
 *
 * Persisted as a JSON array of base32 IDs, the original's known_peers.json. */
#ifndef IRON_REGISTRY_H
#define IRON_REGISTRY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iron/id.h"

#define REGISTRY_DEFAULT_CAPACITY 32768

/* Entry flags. */
#define REGISTRY_PINNED	       1u /* this node or a static peer */
#define REGISTRY_CONNECTED     2u /* a peer with an open connection */
#define REGISTRY_AUTHENTICATED 4u /* completed a handshake, or signed a record */
#define REGISTRY_KNOWN	       8u /* loaded from the file */

/* Largest file registry_load() reads; 4096 IDs take about 230 KB. Larger
 * registries read up to 64 bytes per entry of capacity. */
#define REGISTRY_MAX_FILE (1024 * 1024)

struct registry;

/* What registry_foreach() shows of an entry. */
struct registry_entry {
	struct iron_id id;
	struct in6_addr addr;
	unsigned flags;
	uint64_t last_seen; /* the now of the last insert; 0 for loaded entries */
};

/* Makes an empty registry for at most capacity entries (1 .. 2^24), all
 * memory reserved now (its pages become resident as entries fill them).
 * Returns 0, -EINVAL for a bad capacity, -ENOMEM. */
int registry_new(size_t capacity, struct registry **out);

/* Frees the registry; NULL is fine. */
void registry_del(struct registry *reg);

/* Registers id under its overlay address, or refreshes it (most recently
 * used, flags added, last_seen = now) when it is already there. flags are
 * any of the REGISTRY_* flags; 0 makes a tentative entry (a name asked
 * for). When another ID owns the address, id takes it over if its rank is
 * higher (see above), or both are tentative; the entry then holds only
 * flags. The daemon passes REGISTRY_AUTHENTICATED when a peer's handshake
 * completes, so the real owner of an address always takes it back. When
 * the registry is full an entry is evicted as described above. Returns 0;
 * -EEXIST when another ID keeps the address (the clash is logged once per
 * address); -ENOSPC when nothing can be evicted for it. The ID is not
 * checked for being a valid key: callers register IDs they have parsed or
 * authenticated. */
int registry_insert(struct registry *reg, const struct iron_id *id, unsigned flags, uint64_t now);

/* Sets or clears REGISTRY_PINNED / REGISTRY_CONNECTED on id's entry; an
 * entry with neither flag becomes evictable again, as the most recently
 * used. Returns 0, or -ENOENT when id is not registered. */
int registry_pin(struct registry *reg, const struct iron_id *id, bool pinned);
int registry_set_connected(struct registry *reg, const struct iron_id *id, bool connected);

/* Finds the ID that owns addr and copies it to *out (out may be NULL to
 * test only), marking the entry most recently used. Returns 0 or -ENOENT.
 * O(1), no allocation. */
int registry_lookup(struct registry *reg, const struct in6_addr *addr, struct iron_id *out);

/* Number of entries. */
size_t registry_count(const struct registry *reg);

/* Calls fn for every entry: pinned and connected ones first, then the
 * authenticated and known ones, then the tentative ones, each group from
 * least to most recently used. Stops at and returns the first
 * non-zero value fn returns; 0 otherwise. fn must not change the registry. */
int registry_foreach(const struct registry *reg,
		     int (*fn)(const struct registry_entry *entry, void *ctx), void *ctx);

/* Writes every ID but the tentative ones, in registry_foreach() order, as a JSON array of base32
 * strings to path, atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. On failure the old file is intact
 * and no temporary file is left. Returns 0 or -errno. */
int registry_save(const struct registry *reg, const char *path);

/* The same, unless the file's text would be what digest (in and out)
 * says was written last: then nothing is written and it returns 1. An
 * idle daemon does not write and fsync its file every minute. */
#define REGISTRY_DIGEST_LEN 32
int registry_save_changed(const struct registry *reg, const char *path,
			  uint8_t digest[REGISTRY_DIGEST_LEN]);

/* The digest of what registry_save() would write now (for a registry
 * just loaded from its file: nothing to write until it changes). */
void registry_digest(const struct registry *reg, uint8_t digest[REGISTRY_DIGEST_LEN]);

/* Inserts the IDs of a file written by registry_save() (or the original)
 * as REGISTRY_KNOWN, in file order, so the last one ends most recently
 * used. Strings that are not valid node IDs, and IDs whose address is
 * taken, are skipped. The file is opened without following a symbolic
 * link or waiting on a FIFO. Returns 0 (also when the file does not
 * exist); -EINVAL when it is not a JSON array of strings; -EFBIG when it
 * is larger than max(REGISTRY_MAX_FILE, 64 * capacity); -ELOOP for a
 * symbolic link; -EISDIR for a directory; -ESPIPE for anything else that
 * is not a regular file; -EOWNERDEAD when another user owns it; -EPERM
 * when group or others may write it; other -errno from reading it. On any
 * error the registry is unchanged. */
int registry_load(struct registry *reg, const char *path);

/* A one-line explanation of a registry_load() or registry_save() error
 * for the user, with the fix where there is one. Never NULL. */
const char *registry_strerror(int err);

/* Longest string registry_parse_json() hands out; longer ones are skipped
 * (a base32 ID has 52 characters). */
#define REGISTRY_JSON_MAX_STRING 64

/* Parses a JSON array of strings with the program's JSON reader (json.h:
 * RFC 8259, escapes including \uXXXX and surrogate pairs, valid UTF-8),
 * then calls each(str, len, ctx) for every element, in order, with the
 * decoded, NUL-terminated string (len is exact, also when it holds a
 * \u0000), skipping elements that decode to more than
 * REGISTRY_JSON_MAX_STRING bytes. each is called only once the whole
 * document is known to be valid; it may be NULL (to validate only); a
 * non-zero return from it stops the walk and is returned. Returns 0;
 * -EINVAL when data is anything else (another value, an element that is
 * not a string, trailing bytes other than whitespace, invalid UTF-8,
 * control characters or a bad escape in a string); -ENOMEM. Reads only
 * data[0 .. len), whose size the caller bounds: the document's tree takes
 * about 80 bytes per element beside the decoded strings. */
int registry_parse_json(const char *data, size_t len,
			int (*each)(const char *str, size_t len, void *ctx), void *ctx);

#endif
