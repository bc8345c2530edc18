/* relay_slots: a peer's slot is stable, the table never runs out for good
 * (idle slots go to new peers, strangers' first), placeholders kept
 * from before a slot was given away stop matching, and pinned slots stay. */
#include <string.h>

#include "check.h"
#include "iron/relay_slots.h"

static void make_id(uint8_t id[RELAY_SLOTS_ID_LEN], unsigned n, uint8_t tag)
{
	memset(id, 0, RELAY_SLOTS_ID_LEN);
	id[0] = (uint8_t)n;
	id[1] = (uint8_t)(n >> 8);
	id[2] = (uint8_t)(n >> 16);
	id[31] = tag;
}

static void test_basic(void)
{
	struct relay_slots *s;
	uint8_t a[32], b[32];
	CHECK_INT(relay_slots_new(&s), 0);
	make_id(a, 1, 0xaa);
	make_id(b, 2, 0xaa);
	CHECK_INT(relay_slots_get(s, a, false, false, 0), 0); /* nothing made yet */
	CHECK(relay_slots_id(s, 1) == NULL);
	uint32_t sa = relay_slots_get(s, a, true, false, 0);
	uint32_t sb = relay_slots_get(s, b, true, true, 0);
	CHECK(sa != 0 && sb != 0 && sa != sb);
	CHECK_INT(relay_slots_get(s, a, true, false, 5), sa);
	CHECK_INT(relay_slots_get(s, b, false, false, 5), sb);
	CHECK(relay_slots_id(s, sa) && memcmp(relay_slots_id(s, sa), a, 32) == 0);
	CHECK(relay_slots_id(s, sb) && memcmp(relay_slots_id(s, sb), b, 32) == 0);
	CHECK(relay_slots_id(s, 0) == NULL);
	CHECK(relay_slots_id(s, sa + (1u << 16)) == NULL); /* another generation */
	CHECK(relay_slots_id(s, 3) == NULL);		   /* never made */
	struct relay_slots_stats st;
	relay_slots_get_stats(s, &st);
	CHECK_INT(st.used, 2);
	CHECK_INT(st.reused, 0);
	relay_slots_del(s);
}

/* Fills the table with peers 0..MAX-1 at time now, asked for or not. */
static void fill(struct relay_slots *s, uint8_t tag, bool ours, uint64_t now, uint32_t *values)
{
	uint8_t id[32];
	for (unsigned i = 0; i < RELAY_SLOTS_MAX; i++) {
		make_id(id, i, tag);
		values[i] = relay_slots_get(s, id, true, ours, now);
	}
}

static uint32_t values[RELAY_SLOTS_MAX];

static void test_full(void)
{
	struct relay_slots *s;
	uint8_t id[32], fresh[32];
	struct relay_slots_stats st;
	CHECK_INT(relay_slots_new(&s), 0);
	/* A flood of relayed datagrams from new keys. */
	fill(s, 0x01, false, 1000, values);
	bool all = true;
	for (unsigned i = 0; i < RELAY_SLOTS_MAX; i++)
		all = all && values[i] != 0;
	CHECK(all);
	/* One of them completes a handshake (a real peer among them), we
	 * answer another (as any Initial is: that makes nobody known), and
	 * pin a third. */
	make_id(id, 7, 0x01);
	relay_slots_known(s, id);
	relay_slots_sent(s, values[8], 1000);
	relay_slots_pin(s, values[9]);
	make_id(fresh, 1u << 20, 0x02);
	/* Full of strangers: a new peer gets one's slot at once. */
	uint64_t later = 1000;
	uint32_t v = relay_slots_get(s, fresh, true, true, later);
	CHECK(v != 0);
	CHECK(relay_slots_id(s, v) && memcmp(relay_slots_id(s, v), fresh, 32) == 0);
	CHECK_INT(relay_slots_get(s, fresh, false, false, later), v);
	/* Its old placeholder no longer names anybody. */
	unsigned old = 0;
	for (unsigned i = 0; i < RELAY_SLOTS_MAX; i++)
		if ((values[i] & 0xffff) == (v & 0xffff))
			old = i;
	CHECK(values[old] != v);
	CHECK(relay_slots_id(s, values[old]) == NULL);
	make_id(id, old, 0x01);
	CHECK_INT(relay_slots_get(s, id, false, false, later), 0);
	/* Everyone else is still found (the index survived the removal). */
	bool found = true;
	for (unsigned i = 0; i < RELAY_SLOTS_MAX; i++) {
		if (i == old)
			continue;
		make_id(id, i, 0x01);
		found = found && relay_slots_get(s, id, false, false, later) == values[i];
	}
	CHECK(found);
	/* Many more new strangers: strangers' slots go (the one answered
	 * too), the known ones stay while not idle for 2 minutes, and the
	 * pinned one. */
	unsigned got = 0;
	for (unsigned i = 0; i < RELAY_SLOTS_MAX; i++) {
		make_id(id, i, 0x03);
		if (relay_slots_get(s, id, true, false, later) != 0)
			got++;
	}
	CHECK_INT(got, RELAY_SLOTS_MAX);
	CHECK(relay_slots_id(s, values[7]) != NULL);
	CHECK(relay_slots_id(s, values[8]) == NULL);
	CHECK(relay_slots_id(s, values[9]) != NULL);
	CHECK_INT(relay_slots_get(s, fresh, false, false, later), v);
	relay_slots_get_stats(s, &st);
	CHECK_INT(st.used, RELAY_SLOTS_MAX);
	CHECK_INT(st.reused, RELAY_SLOTS_MAX + 1);
	CHECK_INT(st.refused, 0);
	/* Two minutes on, the known one may go too; the pinned one never. */
	uint64_t much_later = later + RELAY_SLOTS_IDLE_MS;
	got = 0;
	for (unsigned i = 0; i < RELAY_SLOTS_MAX + 10; i++) {
		make_id(id, i, 0x04);
		if (relay_slots_get(s, id, true, true, much_later) != 0)
			got++;
	}
	CHECK_INT(got, RELAY_SLOTS_MAX - 1);
	CHECK(relay_slots_id(s, values[7]) == NULL);
	CHECK(relay_slots_id(s, values[9]) != NULL);
	make_id(id, 9, 0x01);
	CHECK_INT(relay_slots_get(s, id, false, false, much_later), values[9]);
	relay_slots_del(s);
}

/* Full of known peers, all busy: a new one is refused until one has been
 * idle for RELAY_SLOTS_IDLE_MS. */
static void test_full_known(void)
{
	struct relay_slots *s;
	uint8_t id[32];
	struct relay_slots_stats st;
	CHECK_INT(relay_slots_new(&s), 0);
	fill(s, 0x05, true, 0, values);
	for (unsigned i = 1; i < RELAY_SLOTS_MAX; i++)
		relay_slots_sent(s, values[i], 60000); /* all but peer 0 busy */
	make_id(id, 1u << 20, 0x06);
	CHECK_INT(relay_slots_get(s, id, true, false, RELAY_SLOTS_IDLE_MS - 1), 0);
	relay_slots_get_stats(s, &st);
	CHECK_INT(st.refused, 1);
	uint32_t v = relay_slots_get(s, id, true, false, RELAY_SLOTS_IDLE_MS);
	CHECK(v != 0 && (v & 0xffff) == (values[0] & 0xffff));
	CHECK(relay_slots_id(s, values[0]) == NULL);
	CHECK(relay_slots_id(s, values[1]) != NULL);
	relay_slots_del(s);
}

int main(void)
{
	test_basic();
	test_full();
	test_full_known();
	return check_done();
}
