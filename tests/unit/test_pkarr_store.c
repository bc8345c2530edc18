/* The packet store of iron dns-server (pkarr_store.h) in a temporary
 * directory: puts settled after commit, which packet wins (iroh's rule),
 * reopening, eviction by count and by age with the cache following, the
 * cache bound, back-pressure, forgotten and cancelled puts, puts made
 * from a done callback, and a file that is not ours. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "iron/pkarr.h"
#include "iron/pkarr_store.h"

static uv_loop_t loop;
static char dir[] = "/tmp/iron-store-test.XXXXXX";
static char path[256];
static uint64_t fake_now = 1700000000000000ull;

static uint64_t fake_clock(void *user)
{
	(void)user;
	return fake_now;
}

struct done {
	int calls;
	int result;
};

static void on_done(void *user, int result)
{
	struct done *d = user;
	d->calls++;
	d->result = result;
}

static void key_of(int i, uint8_t key[32])
{
	memset(key, 0, 32);
	key[0] = (uint8_t)i;
	key[1] = (uint8_t)(i >> 8);
	key[31] = 0x5a;
}

/* A fake relay payload: 64 bytes "signature", the timestamp, a DNS body
 * that starts with tag (the store checks none of it). */
static size_t payload(uint8_t *out, uint64_t ts, uint8_t tag, size_t dns_len)
{
	memset(out, 0xee, 64);
	for (int k = 0; k < 8; k++)
		out[64 + k] = (uint8_t)(ts >> (56 - 8 * k));
	memset(out + PKARR_HEAD, tag, dns_len);
	return PKARR_HEAD + dns_len;
}

static struct pkarr_store *open_store(uint64_t max_records, uint64_t max_age, size_t cache,
				      size_t pending)
{
	struct pkarr_store *s = NULL;
	char err[256] = "";
	struct pkarr_store_config cfg = {.path = path,
					 .max_records = max_records,
					 .max_age_s = max_age,
					 .cache_bytes = cache,
					 .max_pending = pending,
					 .clock_us = fake_clock};
	int rc = pkarr_store_open(&loop, &cfg, &s, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "open: %s\n", err);
	return s;
}

/* Runs the loop until d has been called. */
static void wait_done(struct done *d)
{
	for (int i = 0; i < 100000 && d->calls == 0; i++)
		uv_run(&loop, UV_RUN_ONCE);
}

static int put_wait(struct pkarr_store *s, int k, uint64_t ts, uint8_t tag, size_t dns_len)
{
	uint8_t key[32], buf[PKARR_MAX_SIGNED];
	struct done d = {0};
	key_of(k, key);
	size_t n = payload(buf, ts, tag, dns_len);
	CHECK_INT(pkarr_store_put(s, key, buf, n, ts, on_done, &d, NULL), 0);
	CHECK_INT(d.calls, 0); /* never inside the call */
	wait_done(&d);
	CHECK_INT(d.calls, 1);
	return d.result;
}

/* The stored payload's tag byte, or -1 when none. */
static int get_tag(struct pkarr_store *s, int k)
{
	uint8_t key[32];
	const uint8_t *p;
	size_t len;
	key_of(k, key);
	int rc = pkarr_store_get(s, key, &p, &len);
	if (rc == -ENOENT)
		return -1;
	CHECK_INT(rc, 0);
	return rc == 0 && len > PKARR_HEAD ? p[PKARR_HEAD] : -2;
}

/* Runs the loop until no transaction is under way (an unreferenced timer
 * is all that is left). */
static void settle(void)
{
	for (int i = 0; i < 10; i++)
		uv_run(&loop, UV_RUN_ONCE);
}

static void close_store(struct pkarr_store *s)
{
	pkarr_store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_put_get(void)
{
	struct pkarr_store *s = open_store(0, 0, 0, 0);
	struct pkarr_store_stats st;
	CHECK_INT(get_tag(s, 1), -1);
	CHECK_INT(put_wait(s, 1, 1000, 0x10, 20), 1);
	CHECK_INT(get_tag(s, 1), 0x10);
	/* Older: not stored, not an error. */
	CHECK_INT(put_wait(s, 1, 999, 0x20, 20), 0);
	CHECK_INT(get_tag(s, 1), 0x10);
	/* Same timestamp: the DNS packet that sorts higher wins; equal replaces. */
	CHECK_INT(put_wait(s, 1, 1000, 0x05, 20), 0);
	CHECK_INT(put_wait(s, 1, 1000, 0x10, 19), 0); /* a prefix sorts first */
	CHECK_INT(put_wait(s, 1, 1000, 0x10, 20), 1);
	CHECK_INT(put_wait(s, 1, 1000, 0x30, 20), 1);
	CHECK_INT(get_tag(s, 1), 0x30);
	CHECK_INT(put_wait(s, 1, 2000, 0x01, 20), 1);
	CHECK_INT(get_tag(s, 1), 0x01);
	CHECK_INT(put_wait(s, 2, 5, 0x02, 900), 1);
	pkarr_store_get_stats(s, &st);
	CHECK_INT(st.records, 2);
	CHECK_INT(st.stored, 5);
	CHECK_INT(st.not_newer, 3);
	CHECK(st.commits >= 8);
	CHECK_INT(pkarr_store_put(s, (uint8_t[32]){0}, (uint8_t[1]){0}, PKARR_MAX_SIGNED + 1, 1,
				  on_done, NULL, NULL),
		  -EMSGSIZE);
	close_store(s);

	/* Everything acknowledged is there after reopening (no cache). */
	s = open_store(0, 0, 0, 0);
	CHECK_INT(get_tag(s, 1), 0x01);
	CHECK_INT(get_tag(s, 2), 0x02);
	pkarr_store_get_stats(s, &st);
	CHECK_INT(st.records, 2);
	CHECK_INT(st.cache_hits, 0);
	CHECK_INT(get_tag(s, 2), 0x02);
	pkarr_store_get_stats(s, &st);
	CHECK_INT(st.cache_hits, 1);
	close_store(s);
}

static void test_eviction(void)
{
	struct pkarr_store_stats st;
	unlink(path);
	struct pkarr_store *s = open_store(3, 3600, 0, 0);
	for (int k = 10; k < 15; k++) {
		fake_now += 1000000;
		CHECK_INT(put_wait(s, k, 1, (uint8_t)k, 10), 1);
		CHECK_INT(get_tag(s, k), k); /* cached */
	}
	pkarr_store_get_stats(s, &st);
	CHECK_INT(st.records, 3);
	CHECK_INT(st.evicted_count, 2);
	/* The two stored first are gone, from the cache too. */
	CHECK_INT(get_tag(s, 10), -1);
	CHECK_INT(get_tag(s, 11), -1);
	CHECK_INT(get_tag(s, 12), 12);
	/* A republished record is young again. */
	fake_now += 1000000;
	CHECK_INT(put_wait(s, 12, 2, 12, 10), 1);
	fake_now += 1000000;
	CHECK_INT(put_wait(s, 15, 1, 15, 10), 1);
	CHECK_INT(get_tag(s, 12), 12);
	CHECK_INT(get_tag(s, 13), -1);

	/* Age: everything stored over an hour ago goes. */
	fake_now += 3600ull * 1000000 - 1500000;
	struct done d = {0};
	uint8_t key[32], buf[PKARR_MAX_SIGNED];
	key_of(16, key);
	size_t n = payload(buf, 1, 16, 10);
	pkarr_store_evict_now(s);
	CHECK_INT(pkarr_store_put(s, key, buf, n, 1, on_done, &d, NULL), 0);
	wait_done(&d);
	settle();
	pkarr_store_get_stats(s, &st);
	CHECK_INT(get_tag(s, 14), -1); /* stored 1.5 s + 1 h ago */
	CHECK_INT(get_tag(s, 12), 12); /* 1 s less: kept */
	CHECK_INT(get_tag(s, 16), 16);
	CHECK(st.evicted_age >= 1);
	close_store(s);

	/* A smaller limit on reopening applies at once. */
	s = open_store(1, 3600, 0, 0);
	settle();
	pkarr_store_get_stats(s, &st);
	CHECK_INT(st.records, 1);
	CHECK_INT(get_tag(s, 16), 16);
	close_store(s);
}

static void test_cache_and_pending(void)
{
	struct pkarr_store_stats st;
	unlink(path);
	struct pkarr_store *s = open_store(0, 0, 4096, 2);
	for (int k = 0; k < 20; k++)
		CHECK_INT(put_wait(s, k, 1, (uint8_t)k, 500), 1);
	for (int k = 0; k < 20; k++)
		CHECK_INT(get_tag(s, k), k);
	pkarr_store_get_stats(s, &st);
	CHECK(st.cache_bytes <= 4096);
	CHECK(st.cache_entries >= 1 && st.cache_entries <= 7);

	/* Back-pressure: max_pending waiting, the next is refused. The
	 * first goes into a transaction at once, so three fit. */
	uint8_t key[32], buf[PKARR_MAX_SIGNED];
	struct done d[4] = {{0}};
	struct pkarr_store_put *h = NULL;
	size_t n = payload(buf, 9, 9, 10);
	int accepted = 0, busy = 0;
	for (int i = 0; i < 4; i++) {
		key_of(100 + i, key);
		int rc = pkarr_store_put(s, key, buf, n, 9, on_done, &d[i], i == 1 ? &h : NULL);
		accepted += rc == 0;
		busy += rc == -EBUSY;
	}
	CHECK_INT(accepted, 3);
	CHECK_INT(busy, 1);
	pkarr_store_forget(h); /* d[1] is never told, the record still stored */
	wait_done(&d[2]);
	CHECK_INT(d[0].calls, 1);
	CHECK_INT(d[1].calls, 0);
	CHECK_INT(d[2].calls, 1);
	CHECK_INT(get_tag(s, 101), 9);
	pkarr_store_get_stats(s, &st);
	CHECK_INT(st.refused_busy, 1);

	/* Closing settles the queued ones with -ECANCELED. */
	struct done c[3] = {{0}};
	for (int i = 0; i < 3; i++) {
		key_of(200 + i, key);
		CHECK_INT(pkarr_store_put(s, key, buf, n, 9, on_done, &c[i], NULL), 0);
	}
	pkarr_store_close(s);
	CHECK_INT(c[1].calls, 1);
	CHECK_INT(c[1].result, -ECANCELED);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT(c[0].calls, 1);
	CHECK_INT(c[0].result, 1); /* it was in a transaction already */
}

/* A done callback that puts the next record, as a keep-alive connection
 * does with its next request: each put is settled once, in order, and
 * stored (the next batch must not start while one is being settled). */
struct chain {
	struct pkarr_store *s;
	int next, last, settled, stored;
};

static void on_chain_done(void *user, int result)
{
	struct chain *ch = user;
	uint8_t key[32], buf[PKARR_MAX_SIGNED];
	ch->settled++;
	ch->stored += result == 1;
	for (int i = 0; i < 2 && ch->next <= ch->last; i++) {
		key_of(ch->next, key);
		size_t n = payload(buf, 5, 5, 10);
		CHECK_INT(pkarr_store_put(ch->s, key, buf, n, 5, on_chain_done, ch, NULL), 0);
		ch->next++;
	}
}

static void test_put_from_done(void)
{
	struct chain ch = {.s = open_store(100000, 0, 1 << 20, 1000), .next = 300, .last = 499};
	uint8_t key[32], buf[PKARR_MAX_SIGNED];
	size_t n = payload(buf, 5, 5, 10);
	for (int i = 0; i < 3; i++) {
		key_of(ch.next++, key);
		CHECK_INT(pkarr_store_put(ch.s, key, buf, n, 5, on_chain_done, &ch, NULL), 0);
	}
	for (int i = 0; i < 100000 && ch.settled < 200; i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_INT(ch.settled, 200);
	CHECK_INT(ch.stored, 200);
	for (int k = 300; k < 500; k += 37)
		CHECK_INT(get_tag(ch.s, k), 5);
	pkarr_store_close(ch.s);
	uv_run(&loop, UV_RUN_DEFAULT);
}

static void test_foreign_file(void)
{
	sqlite3 *db;
	char other[300], err[256] = "";
	struct pkarr_store *s = NULL;
	snprintf(other, sizeof(other), "%s/other.db", dir);
	CHECK_INT(sqlite3_open(other, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct pkarr_store_config cfg = {.path = other};
	CHECK_INT(pkarr_store_open(&loop, &cfg, &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "not an iron dns-server database") != NULL);
	CHECK(s == NULL);
	snprintf(other, sizeof(other), "%s/no/such/dir/x.db", dir);
	CHECK(pkarr_store_open(&loop, &cfg, &s, err, sizeof(err)) < 0);
	CHECK(strstr(err, "cannot open") != NULL);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/store.db", dir);
	uv_loop_init(&loop);
	test_put_get();
	test_eviction();
	test_cache_and_pending();
	test_put_from_done();
	test_foreign_file();
	CHECK_INT(uv_loop_close(&loop), 0);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return check_done();
}
