/* The signed packets of `iron dns-server`: the latest pkarr packet of each
 * public key, in an SQLite database, with a cache in memory. On a libuv
 * loop.
 *
 * Durability: a put is reported done only after the transaction holding
 * it has committed, in WAL mode with synchronous=FULL, so a record that
 * was acknowledged survives the process being killed (the WAL is written
 * before COMMIT returns) and also a power cut or kernel crash (the WAL is
 * fsynced at every commit). Puts are committed in batches (group commit)
 * on a thread of libuv's pool, one batch at a time, so the fsync costs the
 * loop nothing and is shared by every put that arrived meanwhile.
 *
 * Which packet wins, as iroh-dns-server: a new packet replaces the stored
 * one unless the stored one is more recent (a larger timestamp, or the same
 * timestamp and a DNS packet that compares greater byte by byte); a packet
 * that loses is not stored, and that is not an error.
 *
 * Bounds: at most max_records rows (past it the rows stored longest ago
 * are deleted), rows older than max_age (by the time they were stored) are
 * deleted, at most max_pending puts wait for a commit, and the cache holds
 * at most cache_bytes of packets (least recently used ones go first).
 *
 * Reads (pkarr_store_get) run on the loop's thread: from the cache, else
 * with a point query on a read-only connection (WAL lets it read while the
 * writer commits). */
#ifndef IRON_PKARR_STORE_H
#define IRON_PKARR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define PKARR_STORE_DEFAULT_MAX_RECORDS 1000000
#define PKARR_STORE_DEFAULT_MAX_AGE_S	(7 * 24 * 3600) /* as iroh-dns-server */
#define PKARR_STORE_DEFAULT_CACHE	(32 * 1024 * 1024)
#define PKARR_STORE_DEFAULT_PENDING	4096
#define PKARR_STORE_BATCH_MAX		1024 /* puts in one transaction */
#define PKARR_STORE_EVICT_INTERVAL_MS	10000

struct pkarr_store_config {
	const char *path;     /* the database file; its directory must exist */
	uint64_t max_records; /* 0: PKARR_STORE_DEFAULT_MAX_RECORDS */
	uint64_t max_age_s;   /* 0: PKARR_STORE_DEFAULT_MAX_AGE_S */
	size_t cache_bytes;   /* 0: PKARR_STORE_DEFAULT_CACHE */
	size_t max_pending;   /* 0: PKARR_STORE_DEFAULT_PENDING */
	/* Wall clock in microseconds since 1970 (when rows were stored, for
	 * eviction); NULL: the system's. Tests pass their own. Called on the
	 * loop's thread only. */
	uint64_t (*clock_us)(void *clock_user);
	void *clock_user;
};

struct pkarr_store_stats {
	uint64_t records;	   /* rows in the database */
	uint64_t puts;		   /* accepted by pkarr_store_put() */
	uint64_t stored;	   /* written (new key or newer packet) */
	uint64_t not_newer;	   /* not stored: the stored packet is as recent */
	uint64_t refused_busy;	   /* -EBUSY: max_pending were waiting */
	uint64_t failed;	   /* puts whose transaction failed */
	uint64_t commits;	   /* transactions */
	uint64_t evicted_age;	   /* rows deleted for max_age */
	uint64_t evicted_count;	   /* rows deleted for max_records */
	uint64_t gets, cache_hits; /* pkarr_store_get() calls; answered from memory */
	uint64_t read_errors;
	size_t pending; /* puts waiting for a commit now */
	size_t cache_entries, cache_bytes;
	uint64_t last_commit_us; /* how long the last transaction took */
};

struct pkarr_store;
struct pkarr_store_put;

/* Opens (creating when missing) the database and its table, in WAL mode.
 * Returns 0, or a negative errno with a one-line reason in err (cannot
 * open, not an iron database, made by a newer iron, ...). */
int pkarr_store_open(uv_loop_t *loop, const struct pkarr_store_config *config,
		     struct pkarr_store **out, char *err, size_t err_cap);

/* Called on the loop's thread once the put is settled: result 1 when the
 * packet was stored (committed), 0 when the stored one is at least as
 * recent, or a negative errno when the transaction failed (-EIO), or
 * -ECANCELED when the store closed first. */
typedef void pkarr_store_done_fn(void *user, int result);

/* Queues a packet for key: signed is a pkarr relay payload (signature,
 * timestamp, DNS packet; already verified, at most PKARR_MAX_SIGNED bytes),
 * copied; ts_us is its timestamp. done runs later, never inside this call.
 * *handle (may be NULL) lets the caller forget the put. Returns 0, -EBUSY
 * when max_pending puts are waiting, -EMSGSIZE, -ENOMEM, or -ESHUTDOWN
 * once closing. */
int pkarr_store_put(struct pkarr_store *store, const uint8_t key[32], const uint8_t *signed_packet,
		    size_t len, uint64_t ts_us, pkarr_store_done_fn *done, void *user,
		    struct pkarr_store_put **handle);

/* The caller is gone: done will not be called for this put (it is still
 * stored). */
void pkarr_store_forget(struct pkarr_store_put *put);

/* The latest packet of key: on 0 points *signed_packet and *len at it (the
 * relay payload: signature, timestamp, DNS packet), valid until the next
 * call into the store. Returns 0, -ENOENT, or -EIO (read failed). */
int pkarr_store_get(struct pkarr_store *store, const uint8_t key[32], const uint8_t **signed_packet,
		    size_t *len);

/* Closes: puts not yet in a transaction are settled with -ECANCELED; a
 * transaction under way finishes (its puts are reported); then the
 * database is closed and the store freed, once the loop runs. NULL ok. */
void pkarr_store_close(struct pkarr_store *store);

void pkarr_store_get_stats(const struct pkarr_store *store, struct pkarr_store_stats *out);

/* Runs an eviction pass now, as the timer does every
 * PKARR_STORE_EVICT_INTERVAL_MS (tests). */
void pkarr_store_evict_now(struct pkarr_store *store);

#endif
