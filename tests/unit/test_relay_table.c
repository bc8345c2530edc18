/* relay_table: the relay server's routing rules (iroh-relay's
 * server/clients.rs) and the per-client byte budget. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iron/relay_table.h"

static const uint8_t hash_key[RELAY_TABLE_HASH_KEY] = {1, 2, 3};

static void make_id(uint8_t id[RELAY_TABLE_ID_LEN], unsigned n)
{
	memset(id, 0, RELAY_TABLE_ID_LEN);
	id[0] = (uint8_t)n;
	id[1] = (uint8_t)(n >> 8);
	id[31] = 0xaa;
}

/* What the gone callback saw. */
struct gone_log {
	void *conns[64];
	uint8_t ids[64][RELAY_TABLE_ID_LEN];
	size_t n;
};

static void on_gone(void *user, void *peer_conn, const uint8_t gone_id[RELAY_TABLE_ID_LEN])
{
	struct gone_log *log = user;
	if (log->n < 64) {
		log->conns[log->n] = peer_conn;
		memcpy(log->ids[log->n], gone_id, RELAY_TABLE_ID_LEN);
	}
	log->n++;
}

static bool gone_to(const struct gone_log *log, void *conn)
{
	for (size_t i = 0; i < log->n && i < 64; i++)
		if (log->conns[i] == conn)
			return true;
	return false;
}

static void test_lookup_and_replace(void)
{
	struct relay_table *t;
	uint8_t a[32], b[32];
	int c1, c2, c3, cb;
	void *displaced, *evicted, *promoted;
	struct gone_log log = {0};

	make_id(a, 1);
	make_id(b, 2);
	CHECK_INT(relay_table_new(hash_key, 4, &t), 0);
	CHECK(relay_table_active(t, a) == NULL);
	CHECK_INT(relay_table_add(t, a, &c1, &displaced, &evicted), 0);
	CHECK(displaced == NULL && evicted == NULL);
	CHECK(relay_table_active(t, a) == &c1);
	CHECK(relay_table_active(t, b) == NULL);
	CHECK_INT(relay_table_nodes(t), 1);

	/* A second connection with the same ID takes over; the first stays,
	 * inactive. */
	CHECK_INT(relay_table_add(t, a, &c2, &displaced, &evicted), 0);
	CHECK(displaced == &c1);
	CHECK(relay_table_active(t, a) == &c2);
	CHECK_INT(relay_table_add(t, a, &c3, &displaced, &evicted), 0);
	CHECK(displaced == &c2);
	CHECK_INT(relay_table_nodes(t), 1);

	/* An inactive one leaving changes nothing. */
	relay_table_remove(t, a, &c1, &promoted, on_gone, &log);
	CHECK(promoted == NULL);
	CHECK(relay_table_active(t, a) == &c3);
	/* The active one leaving: the newest inactive is active again. */
	relay_table_remove(t, a, &c3, &promoted, on_gone, &log);
	CHECK(promoted == &c2);
	CHECK(relay_table_active(t, a) == &c2);
	CHECK_INT(log.n, 0);
	/* Removing a connection that is not there: nothing. */
	relay_table_remove(t, a, &c3, &promoted, on_gone, &log);
	relay_table_remove(t, b, &cb, &promoted, on_gone, &log);
	CHECK(promoted == NULL);
	CHECK(relay_table_active(t, a) == &c2);
	relay_table_remove(t, a, &c2, &promoted, on_gone, &log);
	CHECK(relay_table_active(t, a) == NULL);
	CHECK_INT(relay_table_nodes(t), 0);
	relay_table_del(t);
}

static void test_max_conns(void)
{
	struct relay_table *t;
	uint8_t a[32];
	int c[RELAY_TABLE_MAX_CONNS + 2];
	void *displaced, *evicted;

	make_id(a, 7);
	CHECK_INT(relay_table_new(hash_key, 4, &t), 0);
	for (int i = 0; i < RELAY_TABLE_MAX_CONNS; i++) {
		CHECK_INT(relay_table_add(t, a, &c[i], &displaced, &evicted), 0);
		CHECK(evicted == NULL);
	}
	/* One more: the oldest is dropped for the caller to close. */
	CHECK_INT(relay_table_add(t, a, &c[RELAY_TABLE_MAX_CONNS], &displaced, &evicted), 0);
	CHECK(evicted == &c[0]);
	CHECK(displaced == &c[RELAY_TABLE_MAX_CONNS - 1]);
	CHECK(relay_table_active(t, a) == &c[RELAY_TABLE_MAX_CONNS]);
	relay_table_del(t);
}

static void test_endpoint_gone(void)
{
	struct relay_table *t;
	uint8_t a[32], b[32], c[32], d[32];
	int ca, cb, cc, cd, ca2;
	void *displaced, *evicted, *promoted;
	struct gone_log log = {0};

	make_id(a, 1);
	make_id(b, 2);
	make_id(c, 3);
	make_id(d, 4);
	CHECK_INT(relay_table_new(hash_key, 8, &t), 0);
	relay_table_add(t, a, &ca, &displaced, &evicted);
	relay_table_add(t, b, &cb, &displaced, &evicted);
	relay_table_add(t, c, &cc, &displaced, &evicted);
	relay_table_add(t, d, &cd, &displaced, &evicted);
	/* a sent to b; c sent to a; d talked to nobody; an unknown
	 * destination is not remembered. */
	relay_table_note_sent(t, a, b);
	relay_table_note_sent(t, a, b);
	relay_table_note_sent(t, c, a);
	uint8_t unknown[32];
	make_id(unknown, 99);
	relay_table_note_sent(t, a, unknown);

	/* a's second connection leaving is no departure of a. */
	relay_table_add(t, a, &ca2, &displaced, &evicted);
	relay_table_remove(t, a, &ca2, &promoted, on_gone, &log);
	CHECK(promoted == &ca);
	CHECK_INT(log.n, 0);

	/* a leaves: b (a sent to it) and c (it sent to a) hear, d does not. */
	relay_table_remove(t, a, &ca, &promoted, on_gone, &log);
	CHECK_INT(log.n, 2);
	CHECK(gone_to(&log, &cb));
	CHECK(gone_to(&log, &cc));
	CHECK(!gone_to(&log, &cd));
	CHECK_MEM(log.ids[0], a, 32);
	CHECK_MEM(log.ids[1], a, 32);

	/* b leaves: a is gone already, nobody to tell. */
	log.n = 0;
	relay_table_remove(t, b, &cb, &promoted, on_gone, &log);
	CHECK_INT(log.n, 0);
	relay_table_del(t);
}

/* The peer set of a node is bounded: the oldest are forgotten. */
static void test_peers_bounded(void)
{
	enum { N = 100, MAX = 8 };
	struct relay_table *t;
	uint8_t hub[32], ids[N][32];
	int conns[N], hub_conn;
	void *displaced, *evicted, *promoted;
	struct gone_log log = {0};

	CHECK_INT(relay_table_new(hash_key, MAX, &t), 0);
	make_id(hub, 1000);
	relay_table_add(t, hub, &hub_conn, &displaced, &evicted);
	for (int i = 0; i < N; i++) {
		make_id(ids[i], (unsigned)i);
		CHECK_INT(relay_table_add(t, ids[i], &conns[i], &displaced, &evicted), 0);
		relay_table_note_sent(t, hub, ids[i]);
	}
	CHECK_INT(relay_table_nodes(t), N + 1);
	size_t mem = relay_table_memory(t);
	CHECK(mem < 64 * 1024);
	relay_table_remove(t, hub, &hub_conn, &promoted, on_gone, &log);
	CHECK_INT(log.n, MAX);
	/* The last MAX it sent to are the ones told. */
	for (int i = N - MAX; i < N; i++)
		CHECK(gone_to(&log, &conns[i]));
	CHECK(!gone_to(&log, &conns[0]));
	for (int i = 0; i < N; i++)
		relay_table_remove(t, ids[i], &conns[i], &promoted, on_gone, &log);
	CHECK_INT(relay_table_nodes(t), 0);
	relay_table_del(t);
}

/* Many nodes in and out: the index grows and deletes keep every node
 * findable (backward-shift deletion). */
static void test_many(void)
{
	enum { N = 5000 };
	struct relay_table *t;
	uint8_t id[32];
	static int conns[N];
	void *displaced, *evicted, *promoted;
	int bad = 0;

	CHECK_INT(relay_table_new(hash_key, 4, &t), 0);
	for (unsigned i = 0; i < N; i++) {
		make_id(id, i);
		if (relay_table_add(t, id, &conns[i], &displaced, &evicted) != 0)
			bad++;
	}
	for (unsigned i = 0; i < N; i += 2) {
		make_id(id, i);
		relay_table_remove(t, id, &conns[i], &promoted, NULL, NULL);
	}
	for (unsigned i = 0; i < N; i++) {
		make_id(id, i);
		void *want = i % 2 ? &conns[i] : NULL;
		if (relay_table_active(t, id) != want)
			bad++;
	}
	CHECK_INT(bad, 0);
	CHECK_INT(relay_table_nodes(t), N / 2);
	relay_table_del(t);
}

static void test_bucket(void)
{
	struct relay_bucket b;
	const uint64_t s = 1000000000ull;

	/* 1000 bytes/s, bursts of 500. */
	relay_bucket_init(&b, 1000, 500, 10 * s);
	CHECK_INT(relay_bucket_take(&b, 500, 10 * s), 0);
	/* 100 bytes of debt: 100 ms to pay. */
	CHECK_INT(relay_bucket_take(&b, 100, 10 * s), 100000000);
	/* 50 ms later half of it is paid. */
	CHECK_INT(relay_bucket_take(&b, 0, 10 * s + 50000000), 50000000);
	/* Long idle: refilled to the burst, not beyond. */
	CHECK_INT(relay_bucket_take(&b, 500, 100 * s), 0);
	CHECK(relay_bucket_take(&b, 1, 100 * s) > 0);
	/* A clock going backwards earns nothing. */
	relay_bucket_init(&b, 1000, 10, 50 * s);
	CHECK_INT(relay_bucket_take(&b, 10, 50 * s), 0);
	CHECK(relay_bucket_take(&b, 1, 40 * s) > 0);
	/* Rate 0: no limit. */
	relay_bucket_init(&b, 0, 1, 0);
	CHECK_INT(relay_bucket_take(&b, 1u << 30, 0), 0);
	/* Extremes do not overflow. */
	relay_bucket_init(&b, UINT64_MAX, UINT64_MAX, 0);
	CHECK_INT(relay_bucket_take(&b, UINT64_MAX, UINT64_MAX), 0);
	relay_bucket_init(&b, 1, 1, 0);
	for (int i = 0; i < 10; i++)
		relay_bucket_take(&b, UINT64_MAX, 0);
	CHECK(relay_bucket_take(&b, 0, UINT64_MAX) == 0);
}

int main(void)
{
	test_lookup_and_replace();
	test_max_conns();
	test_endpoint_gone();
	test_peers_bounded();
	test_many();
	test_bucket();
	return check_done();
}
