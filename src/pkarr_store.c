/* The packet store of `iron dns-server` (pkarr_store.h): SQLite in WAL
 * mode, written in batches on libuv's thread pool, read on the loop's
 * thread through a bounded LRU cache.
 *
 * Threads: the writer connection is used by the pool's thread while a
 * batch is in flight, and by the loop's thread only when none is (open,
 * close); one batch is in flight at a time. The reader connection and the
 * cache belong to the loop's thread. Puts are settled in commit order on
 * the loop's thread, so the cache always ends as the database is. */
#define LOG_MODULE "store"

#include "iron/pkarr_store.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iron/log.h"
#include "iron/pkarr.h"

#define SCHEMA_VERSION	1
#define APPLICATION_ID	0x69726f6e /* "iron" */
#define BUSY_TIMEOUT_MS 5000
#define EVICT_CHUNK	4096 /* rows deleted per reason in one transaction */
#define MIN_BUCKETS	64
#define US_PER_S	1000000ull

struct pkarr_store_put {
	struct pkarr_store_put *next;
	pkarr_store_done_fn *done; /* NULL once forgotten */
	void *user;
	int result;
	uint8_t key[32];
	uint64_t ts_us;
	size_t len;
	uint8_t data[];
};

struct entry {
	struct entry *hash_next;
	struct entry *lru_prev, *lru_next; /* lru_prev: more recently used */
	uint8_t key[32];
	size_t len;
	uint8_t data[];
};

/* One transaction: its puts, and what the pool's thread reports back. */
struct batch {
	uv_work_t work;
	struct pkarr_store *store;
	struct pkarr_store_put *puts;
	size_t nputs;
	uint64_t now_us;
	bool evict;
	/* Results, written by the pool's thread. */
	int rc;
	char error[160];
	uint64_t records;
	uint64_t evicted_age, evicted_count;
	size_t nevicted;
	bool more_to_evict;
	uint64_t duration_us;
};

struct pkarr_store {
	uv_loop_t *loop;
	struct pkarr_store_config cfg;
	sqlite3 *wdb, *rdb;
	sqlite3_stmt *w_select, *w_upsert, *w_evict_age, *w_evict_count;
	sqlite3_stmt *r_select;
	uint64_t records; /* the writer's count; the loop reads it between batches */

	struct pkarr_store_put *queue, **queue_tail;
	size_t queued;
	struct batch batch;
	bool busy;		/* a batch is in flight */
	bool evict_due;		/* an eviction pass is wanted */
	uint8_t (*evicted)[32]; /* keys deleted by the batch in flight */
	uv_timer_t timer;
	bool timer_open, closing;

	/* The cache. */
	struct entry **buckets;
	size_t nbuckets;
	struct entry *lru_head, *lru_tail;
	size_t cache_bytes, cache_entries;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	uint8_t scratch[PKARR_MAX_SIGNED]; /* a packet too big for the cache */

	struct pkarr_store_stats stats;
};

static uint64_t system_clock_us(void *user)
{
	struct timespec ts;
	(void)user;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * US_PER_S + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * US_PER_S + (uint64_t)ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------ the cache */

static size_t bucket_of(const struct pkarr_store *s, const uint8_t key[32])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;
	crypto_shorthash(h, key, 32, s->hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (s->nbuckets - 1));
}

static struct entry **cache_slot(struct pkarr_store *s, const uint8_t key[32])
{
	struct entry **e = &s->buckets[bucket_of(s, key)];
	while (*e && memcmp((*e)->key, key, 32) != 0)
		e = &(*e)->hash_next;
	return e;
}

static void lru_unlink(struct pkarr_store *s, struct entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		s->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		s->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct pkarr_store *s, struct entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = s->lru_head;
	if (s->lru_head)
		s->lru_head->lru_prev = e;
	s->lru_head = e;
	if (!s->lru_tail)
		s->lru_tail = e;
}

static size_t entry_cost(const struct entry *e)
{
	return sizeof(*e) + e->len;
}

static void cache_remove(struct pkarr_store *s, const uint8_t key[32])
{
	struct entry **slot = cache_slot(s, key);
	struct entry *e = *slot;
	if (!e)
		return;
	*slot = e->hash_next;
	lru_unlink(s, e);
	s->cache_bytes -= entry_cost(e);
	s->cache_entries--;
	free(e);
}

/* Puts a copy of the packet in the cache (replacing the key's entry),
 * making room by dropping the least recently used. Returns the entry or
 * NULL (too big, no memory). */
static struct entry *cache_put(struct pkarr_store *s, const uint8_t key[32], const uint8_t *data,
			       size_t len)
{
	cache_remove(s, key);
	if (sizeof(struct entry) + len > s->cfg.cache_bytes)
		return NULL;
	while (s->lru_tail && s->cache_bytes + sizeof(struct entry) + len > s->cfg.cache_bytes)
		cache_remove(s, s->lru_tail->key);
	struct entry *e = malloc(sizeof(*e) + len);
	if (!e)
		return NULL;
	memcpy(e->key, key, 32);
	e->len = len;
	memcpy(e->data, data, len);
	struct entry **slot = cache_slot(s, key);
	e->hash_next = NULL;
	*slot = e;
	lru_push_front(s, e);
	s->cache_bytes += entry_cost(e);
	s->cache_entries++;
	return e;
}

static void cache_free(struct pkarr_store *s)
{
	while (s->lru_tail)
		cache_remove(s, s->lru_tail->key);
	free(s->buckets);
	s->buckets = NULL;
}

/* ------------------------------------------------------------ SQL */

static const char SCHEMA[] =
    "CREATE TABLE packets ("
    " key BLOB PRIMARY KEY NOT NULL," /* the 32-byte public key */
    " timestamp INTEGER NOT NULL,"    /* the packet's, in microseconds */
    " stored INTEGER NOT NULL,"	      /* when it was stored, wall clock in microseconds */
    " packet BLOB NOT NULL"	      /* signature || timestamp || DNS packet */
    ") WITHOUT ROWID;"
    "CREATE INDEX packets_stored ON packets(stored);";

static int sql_error(sqlite3 *db, const char *what, char *err, size_t err_cap)
{
	snprintf(err, err_cap, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
	return -EIO;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t err_cap)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_error(db, sql, err, err_cap);
	return 0;
}

/* The first column of the first row of sql, as an integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out, char *err, size_t err_cap)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return sql_error(db, sql, err, err_cap);
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t err_cap)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return sql_error(db, "preparing a statement", err, err_cap);
	return 0;
}

/* Checks or creates the schema. */
static int open_schema(struct pkarr_store *s, char *err, size_t err_cap)
{
	int64_t version = 0, app = 0, objects = 0;
	char journal[16] = "";
	sqlite3_stmt *st = NULL;
	int rc;

	/* WAL, and a commit is on disk (fsynced) before it returns. */
	if (sqlite3_prepare_v2(s->wdb, "PRAGMA journal_mode=WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		snprintf(journal, sizeof(journal), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (strcmp(journal, "wal") != 0) {
		snprintf(err, err_cap, "cannot switch to WAL mode: %s", sqlite3_errmsg(s->wdb));
		return -EIO;
	}
	if ((rc = exec(s->wdb, "PRAGMA synchronous=FULL", err, err_cap)) < 0 ||
	    (rc = query_int(s->wdb, "PRAGMA user_version", &version, err, err_cap)) < 0 ||
	    (rc = query_int(s->wdb, "PRAGMA application_id", &app, err, err_cap)) < 0 ||
	    (rc = query_int(s->wdb, "SELECT count(*) FROM sqlite_master", &objects, err, err_cap)) <
		0)
		return rc;
	if (version == 0 && objects == 0 && app == 0) {
		char sql[256];
		snprintf(sql, sizeof(sql), "PRAGMA application_id=%d; PRAGMA user_version=%d",
			 APPLICATION_ID, SCHEMA_VERSION);
		if ((rc = exec(s->wdb, "BEGIN IMMEDIATE", err, err_cap)) < 0)
			return rc;
		if ((rc = exec(s->wdb, SCHEMA, err, err_cap)) < 0 ||
		    (rc = exec(s->wdb, sql, err, err_cap)) < 0 ||
		    (rc = exec(s->wdb, "COMMIT", err, err_cap)) < 0) {
			sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
		return 0;
	}
	if (app != APPLICATION_ID) {
		snprintf(err, err_cap,
			 "not an iron dns-server database (application_id %" PRId64 ")", app);
		return -EINVAL;
	}
	if (version > SCHEMA_VERSION) {
		snprintf(err, err_cap,
			 "made by a newer iron (schema %" PRId64 ", this one knows %d)", version,
			 SCHEMA_VERSION);
		return -EINVAL;
	}
	return 0;
}

static int open_databases(struct pkarr_store *s, char *err, size_t err_cap)
{
	int64_t count = 0;
	int rc;

	rc =
	    sqlite3_open_v2(s->cfg.path, &s->wdb,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_cap, "cannot open %s: %s", s->cfg.path,
			 s->wdb ? sqlite3_errmsg(s->wdb) : "out of memory");
		return rc == SQLITE_CANTOPEN ? -ENOENT : -EIO;
	}
	sqlite3_busy_timeout(s->wdb, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(s->wdb, 1);
	if ((rc = open_schema(s, err, err_cap)) < 0)
		return rc;
	if ((rc = query_int(s->wdb, "SELECT count(*) FROM packets", &count, err, err_cap)) < 0)
		return rc;
	s->records = (uint64_t)count;
	if ((rc = prepare(s->wdb, "SELECT timestamp, packet FROM packets WHERE key = ?1",
			  &s->w_select, err, err_cap)) < 0 ||
	    (rc = prepare(s->wdb,
			  "INSERT OR REPLACE INTO packets (key, timestamp, stored, packet) "
			  "VALUES (?1, ?2, ?3, ?4)",
			  &s->w_upsert, err, err_cap)) < 0 ||
	    (rc = prepare(s->wdb,
			  "DELETE FROM packets WHERE key IN (SELECT key FROM packets "
			  "WHERE stored < ?1 ORDER BY stored LIMIT ?2) RETURNING key",
			  &s->w_evict_age, err, err_cap)) < 0 ||
	    (rc = prepare(s->wdb,
			  "DELETE FROM packets WHERE key IN (SELECT key FROM packets "
			  "ORDER BY stored LIMIT ?1) RETURNING key",
			  &s->w_evict_count, err, err_cap)) < 0)
		return rc;

	rc =
	    sqlite3_open_v2(s->cfg.path, &s->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_cap, "cannot open %s for reading: %s", s->cfg.path,
			 s->rdb ? sqlite3_errmsg(s->rdb) : "out of memory");
		return -EIO;
	}
	sqlite3_busy_timeout(s->rdb, BUSY_TIMEOUT_MS);
	return prepare(s->rdb, "SELECT packet FROM packets WHERE key = ?1", &s->r_select, err,
		       err_cap);
}

static void close_databases(struct pkarr_store *s)
{
	sqlite3_finalize(s->w_select);
	sqlite3_finalize(s->w_upsert);
	sqlite3_finalize(s->w_evict_age);
	sqlite3_finalize(s->w_evict_count);
	sqlite3_finalize(s->r_select);
	/* The last connection to close checkpoints the WAL into the file. */
	sqlite3_close(s->rdb);
	sqlite3_close(s->wdb);
	s->rdb = s->wdb = NULL;
}

/* ------------------------------------------------------------ the writer */

/* Whether the stored packet (its timestamp and relay payload) is more
 * recent than the new one: iroh's SignedPacket::more_recent_than(). */
static bool stored_is_more_recent(uint64_t stored_ts, const uint8_t *stored, size_t stored_len,
				  uint64_t ts, const uint8_t *packet, size_t len)
{
	if (stored_ts != ts)
		return stored_ts > ts;
	/* The same timestamp: compare the DNS packets as byte strings (a
	 * prefix sorts first). */
	const uint8_t *a = stored_len > PKARR_HEAD ? stored + PKARR_HEAD : stored;
	const uint8_t *b = len > PKARR_HEAD ? packet + PKARR_HEAD : packet;
	size_t alen = stored_len > PKARR_HEAD ? stored_len - PKARR_HEAD : 0;
	size_t blen = len > PKARR_HEAD ? len - PKARR_HEAD : 0;
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;
	return c > 0 || (c == 0 && alen > blen);
}

/* One put inside the open transaction: sets put->result, counts a new
 * row in *added. Returns 0 or an SQLite error code. */
static int write_put(struct pkarr_store *s, struct pkarr_store_put *p, uint64_t now_us,
		     uint64_t *added)
{
	bool exists = false, older = false;
	int rc;

	sqlite3_bind_blob(s->w_select, 1, p->key, 32, SQLITE_STATIC);
	rc = sqlite3_step(s->w_select);
	if (rc == SQLITE_ROW) {
		exists = true;
		uint64_t ts = (uint64_t)sqlite3_column_int64(s->w_select, 0);
		const uint8_t *blob = sqlite3_column_blob(s->w_select, 1);
		size_t blen = (size_t)sqlite3_column_bytes(s->w_select, 1);
		older = stored_is_more_recent(ts, blob, blen, p->ts_us, p->data, p->len);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(s->w_select);
	if (rc != SQLITE_DONE)
		return rc;
	if (older) {
		p->result = 0;
		return SQLITE_OK;
	}
	sqlite3_bind_blob(s->w_upsert, 1, p->key, 32, SQLITE_STATIC);
	/* Stored as a signed integer: a timestamp past 2^63 keeps its order
	 * among its kind only, which no honest clock reaches. */
	sqlite3_bind_int64(s->w_upsert, 2, (sqlite3_int64)p->ts_us);
	sqlite3_bind_int64(s->w_upsert, 3, (sqlite3_int64)now_us);
	sqlite3_bind_blob(s->w_upsert, 4, p->data, (int)p->len, SQLITE_STATIC);
	rc = sqlite3_step(s->w_upsert);
	sqlite3_reset(s->w_upsert);
	if (rc != SQLITE_DONE)
		return rc;
	p->result = 1;
	if (!exists)
		(*added)++;
	return SQLITE_OK;
}

/* Runs a DELETE ... RETURNING key, collecting the keys. */
static int run_evict(struct pkarr_store *s, sqlite3_stmt *st, struct batch *b, uint64_t *count)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 0) == 32 && b->nevicted < 2 * EVICT_CHUNK)
			memcpy(s->evicted[b->nevicted++], sqlite3_column_blob(st, 0), 32);
		(*count)++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void batch_work(uv_work_t *work)
{
	struct batch *b = work->data;
	struct pkarr_store *s = b->store;
	uint64_t start = monotonic_us(), added = 0, records;
	int rc = SQLITE_OK;

	b->evicted_age = b->evicted_count = 0;
	b->nevicted = 0;
	b->more_to_evict = false;
	rc = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (struct pkarr_store_put *p = b->puts; p && rc == SQLITE_OK; p = p->next)
		rc = write_put(s, p, b->now_us, &added);
	records = s->records + added;
	if (rc == SQLITE_OK && b->evict) {
		uint64_t age_us = s->cfg.max_age_s * US_PER_S;
		uint64_t cutoff = b->now_us > age_us ? b->now_us - age_us : 0;
		sqlite3_bind_int64(s->w_evict_age, 1, (sqlite3_int64)cutoff);
		sqlite3_bind_int64(s->w_evict_age, 2, EVICT_CHUNK);
		rc = run_evict(s, s->w_evict_age, b, &b->evicted_age);
		if (b->evicted_age == EVICT_CHUNK)
			b->more_to_evict = true;
	}
	records = records >= b->evicted_age ? records - b->evicted_age : 0;
	if (rc == SQLITE_OK && records > s->cfg.max_records) {
		uint64_t over = records - s->cfg.max_records;
		sqlite3_bind_int64(s->w_evict_count, 1,
				   (sqlite3_int64)(over < EVICT_CHUNK ? over : EVICT_CHUNK));
		rc = run_evict(s, s->w_evict_count, b, &b->evicted_count);
		records = records >= b->evicted_count ? records - b->evicted_count : 0;
		if (records > s->cfg.max_records)
			b->more_to_evict = true;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(b->error, sizeof(b->error), "%s", sqlite3_errmsg(s->wdb));
		sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
		b->rc = -EIO;
		b->nevicted = 0;
		b->evicted_age = b->evicted_count = 0;
		b->more_to_evict = false;
	} else {
		b->rc = 0;
		s->records = records;
	}
	b->records = s->records;
	b->duration_us = monotonic_us() - start;
}

static void maybe_finish_close(struct pkarr_store *s);
static void start_batch(struct pkarr_store *s);

static void batch_done(uv_work_t *work, int status)
{
	struct batch *b = work->data;
	struct pkarr_store *s = b->store;
	struct pkarr_store_put *p, *next, *puts = b->puts;

	/* Still busy while the callbacks run: a put they make (the next
	 * request of a connection) waits in the queue for the next batch,
	 * which must not start in b while b is read here. */
	b->puts = NULL;
	(void)status; /* cancelled (never, here): the results say "not run" */
	if (b->rc < 0)
		log_warn("a transaction of %s failed: %s", s->cfg.path, b->error);
	s->stats.commits++;
	s->stats.last_commit_us = b->duration_us;
	s->stats.records = b->records;
	s->stats.evicted_age += b->evicted_age;
	s->stats.evicted_count += b->evicted_count;
	for (size_t i = 0; i < b->nevicted; i++)
		cache_remove(s, s->evicted[i]);
	if (b->evicted_age || b->evicted_count)
		log_debug("evicted %" PRIu64 " old and %" PRIu64 " surplus records", b->evicted_age,
			  b->evicted_count);
	for (p = puts; p; p = next) {
		next = p->next;
		if (b->rc < 0) {
			p->result = b->rc;
			s->stats.failed++;
		} else if (p->result == 1) {
			s->stats.stored++;
			cache_put(s, p->key, p->data, p->len);
		} else {
			s->stats.not_newer++;
		}
		if (p->done)
			p->done(p->user, p->result);
		free(p);
	}
	if (b->more_to_evict)
		s->evict_due = true;
	s->busy = false;
	if (s->closing)
		maybe_finish_close(s);
	else
		start_batch(s);
}

/* Starts a transaction with the queued puts (and an eviction pass when one
 * is due), unless one is in flight. */
static void start_batch(struct pkarr_store *s)
{
	struct batch *b = &s->batch;
	struct pkarr_store_put **tail = &b->puts;
	size_t n = 0;

	if (s->busy || s->closing || (!s->queue && !s->evict_due))
		return;
	b->puts = NULL;
	while (s->queue && n < PKARR_STORE_BATCH_MAX) {
		struct pkarr_store_put *p = s->queue;
		s->queue = p->next;
		p->next = NULL;
		*tail = p;
		tail = &p->next;
		n++;
	}
	if (!s->queue)
		s->queue_tail = &s->queue;
	s->queued -= n;
	b->nputs = n;
	b->rc = -ECANCELED;
	snprintf(b->error, sizeof(b->error), "not run");
	b->records = s->records;
	b->evicted_age = b->evicted_count = 0;
	b->nevicted = 0;
	b->more_to_evict = false;
	b->duration_us = 0;
	b->evict = s->evict_due;
	s->evict_due = false;
	b->now_us = s->cfg.clock_us(s->cfg.clock_user);
	b->store = s;
	b->work.data = b;
	int rc = uv_queue_work(s->loop, &b->work, batch_work, batch_done);
	s->busy = true;
	if (rc < 0) {
		/* Only a NULL callback makes libuv refuse: settle the puts as
		 * failed rather than lose them. */
		snprintf(b->error, sizeof(b->error), "%s", uv_strerror(rc));
		batch_done(&b->work, rc);
	}
}

static void on_timer(uv_timer_t *t)
{
	struct pkarr_store *s = t->data;
	s->evict_due = true;
	start_batch(s);
}

/* ------------------------------------------------------------ the API */

int pkarr_store_open(uv_loop_t *loop, const struct pkarr_store_config *config,
		     struct pkarr_store **out, char *err, size_t err_cap)
{
	struct pkarr_store *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s) {
		snprintf(err, err_cap, "out of memory");
		return -ENOMEM;
	}
	s->loop = loop;
	s->cfg = *config;
	if (!s->cfg.max_records)
		s->cfg.max_records = PKARR_STORE_DEFAULT_MAX_RECORDS;
	if (!s->cfg.max_age_s)
		s->cfg.max_age_s = PKARR_STORE_DEFAULT_MAX_AGE_S;
	if (!s->cfg.cache_bytes)
		s->cfg.cache_bytes = PKARR_STORE_DEFAULT_CACHE;
	if (!s->cfg.max_pending)
		s->cfg.max_pending = PKARR_STORE_DEFAULT_PENDING;
	if (!s->cfg.clock_us)
		s->cfg.clock_us = system_clock_us;
	s->queue_tail = &s->queue;
	randombytes_buf(s->hash_key, sizeof(s->hash_key));
	s->nbuckets = MIN_BUCKETS;
	while (s->nbuckets < s->cfg.cache_bytes / 512 && s->nbuckets < ((size_t)1 << 24))
		s->nbuckets <<= 1;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	s->evicted = malloc(2 * EVICT_CHUNK * sizeof(*s->evicted));
	if (!s->buckets || !s->evicted) {
		snprintf(err, err_cap, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = open_databases(s, err, err_cap)) < 0)
		goto fail;
	rc = uv_timer_init(loop, &s->timer);
	if (rc < 0) {
		snprintf(err, err_cap, "cannot create a timer: %s", uv_strerror(rc));
		goto fail;
	}
	s->timer.data = s;
	s->timer_open = true;
	uv_timer_start(&s->timer, on_timer, PKARR_STORE_EVICT_INTERVAL_MS,
		       PKARR_STORE_EVICT_INTERVAL_MS);
	uv_unref((uv_handle_t *)&s->timer); /* the store alone keeps no loop alive */
	s->stats.records = s->records;
	/* Over the limits from the start (a smaller --max-records): the first
	 * pass runs at once. */
	s->evict_due = true;
	start_batch(s);
	log_info("%s: %" PRIu64 " records", s->cfg.path, s->records);
	*out = s;
	return 0;
fail:
	close_databases(s);
	free(s->evicted);
	free(s->buckets);
	free(s);
	return rc;
}

int pkarr_store_put(struct pkarr_store *s, const uint8_t key[32], const uint8_t *signed_packet,
		    size_t len, uint64_t ts_us, pkarr_store_done_fn *done, void *user,
		    struct pkarr_store_put **handle)
{
	if (handle)
		*handle = NULL;
	if (s->closing)
		return -ESHUTDOWN;
	if (len > PKARR_MAX_SIGNED)
		return -EMSGSIZE;
	if (s->queued >= s->cfg.max_pending) {
		s->stats.refused_busy++;
		return -EBUSY;
	}
	struct pkarr_store_put *p = malloc(sizeof(*p) + len);
	if (!p)
		return -ENOMEM;
	p->next = NULL;
	p->done = done;
	p->user = user;
	p->result = 0;
	memcpy(p->key, key, 32);
	p->ts_us = ts_us;
	p->len = len;
	memcpy(p->data, signed_packet, len);
	*s->queue_tail = p;
	s->queue_tail = &p->next;
	s->queued++;
	s->stats.puts++;
	if (handle)
		*handle = p;
	start_batch(s);
	return 0;
}

void pkarr_store_forget(struct pkarr_store_put *put)
{
	if (put)
		put->done = NULL;
}

int pkarr_store_get(struct pkarr_store *s, const uint8_t key[32], const uint8_t **signed_packet,
		    size_t *len)
{
	struct entry *e = *cache_slot(s, key);
	s->stats.gets++;
	if (e) {
		lru_unlink(s, e);
		lru_push_front(s, e);
		s->stats.cache_hits++;
		*signed_packet = e->data;
		*len = e->len;
		return 0;
	}
	sqlite3_bind_blob(s->r_select, 1, key, 32, SQLITE_STATIC);
	int rc = sqlite3_step(s->r_select);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s->r_select);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW) {
		s->stats.read_errors++;
		log_debug("reading a record: %s", sqlite3_errmsg(s->rdb));
		sqlite3_reset(s->r_select);
		return -EIO;
	}
	const uint8_t *blob = sqlite3_column_blob(s->r_select, 0);
	size_t blen = (size_t)sqlite3_column_bytes(s->r_select, 0);
	if (blen > PKARR_MAX_SIGNED || !blob) {
		s->stats.read_errors++;
		sqlite3_reset(s->r_select);
		return -EIO;
	}
	e = cache_put(s, key, blob, blen);
	if (e) {
		*signed_packet = e->data;
	} else {
		memcpy(s->scratch, blob, blen);
		*signed_packet = s->scratch;
	}
	*len = blen;
	/* Reset at once: an open read would pin the WAL's snapshot. */
	sqlite3_reset(s->r_select);
	return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
	struct pkarr_store *s = h->data;
	s->timer_open = false;
	maybe_finish_close(s);
}

static void maybe_finish_close(struct pkarr_store *s)
{
	if (s->busy || s->timer_open)
		return;
	close_databases(s);
	cache_free(s);
	free(s->evicted);
	free(s);
}

void pkarr_store_close(struct pkarr_store *s)
{
	struct pkarr_store_put *p, *next;
	if (!s || s->closing)
		return;
	s->closing = true;
	for (p = s->queue; p; p = next) {
		next = p->next;
		if (p->done)
			p->done(p->user, -ECANCELED);
		free(p);
	}
	s->queue = NULL;
	s->queue_tail = &s->queue;
	s->queued = 0;
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void pkarr_store_get_stats(const struct pkarr_store *s, struct pkarr_store_stats *out)
{
	*out = s->stats;
	out->pending = s->queued + (s->busy ? s->batch.nputs : 0);
	out->cache_entries = s->cache_entries;
	out->cache_bytes = s->cache_bytes;
}

void pkarr_store_evict_now(struct pkarr_store *s)
{
	s->evict_due = true;
	start_batch(s);
}
