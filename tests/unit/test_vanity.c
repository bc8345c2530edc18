/* Vanity search: prefix parsing, the bit-level matcher against the real
 * base32 text of random keys, and the threaded search (a match really
 * starts with the prefix and derives from its seed; the attempt budget is
 * exact). */
#include <errno.h>
#include <sodium.h>
#include <strings.h>

#include "check.h"
#include "iron/id.h"
#include "iron/vanity.h"

static void test_parse(void)
{
	struct vanity_prefix p;
	unsigned bad = 99;

	CHECK_INT(vanity_prefix_parse("Ab2", &p, &bad), 0);
	CHECK_STR(p.text, "ab2");
	CHECK_INT(p.len, 3);
	/* a=0, b=1, 2=26: 00000 00001 11010 at the top of 64 bits. */
	CHECK(p.bits == (uint64_t)0x3a << 49);
	CHECK(p.mask == ~(uint64_t)0 << 49);
	CHECK_INT(vanity_expected_attempts(&p), 32768);
	CHECK_INT(vanity_prefix_parse("abcdefgh", &p, &bad), 0);
	CHECK_INT(p.len, 8);
	CHECK_INT(vanity_prefix_parse("7", &p, &bad), 0);
	CHECK(p.bits == (uint64_t)31 << 59);

	CHECK_INT(vanity_prefix_parse("", &p, &bad), -EINVAL);
	CHECK_INT(vanity_prefix_parse("abcdefghi", &p, &bad), -E2BIG);
	const char *wrong[] = {"0", "a1", "ab8", "abc9", "a-b", "a=", "ab c", "é"};
	const unsigned where[] = {0, 1, 2, 3, 1, 1, 2, 0};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		bad = 99;
		CHECK_INT(vanity_prefix_parse(wrong[i], &p, &bad), -EILSEQ);
		CHECK_INT(bad, where[i]);
	}
}

/* The matcher looks at bits; the truth is the text. */
static void test_match_agrees_with_base32(void)
{
	uint8_t pk[32], sk[64];
	char b32[IRON_ID_BASE32_LEN + 1], prefix_text[VANITY_PREFIX_MAX + 1];
	struct vanity_prefix p;
	unsigned matches = 0;

	for (int i = 0; i < 20000; i++) {
		struct iron_id id;
		crypto_sign_keypair(pk, sk);
		memcpy(id.bytes, pk, 32);
		id_to_base32(&id, b32);
		unsigned len = 1 + (unsigned)(randombytes_uniform(VANITY_PREFIX_MAX));
		/* Half the time the key's own prefix with its last character
		 * changed or kept, so both answers are exercised. */
		memcpy(prefix_text, b32, len);
		prefix_text[len] = '\0';
		if (i % 2)
			prefix_text[len - 1] =
			    "abcdefghijklmnopqrstuvwxyz234567"[randombytes_uniform(32)];
		CHECK_INT(vanity_prefix_parse(prefix_text, &p, NULL), 0);
		bool expect = strncmp(b32, prefix_text, len) == 0;
		CHECK(vanity_prefix_match(&p, pk) == expect);
		matches += expect;
	}
	CHECK(matches > 10000 && matches < 20000);
}

static void progress(void *ctx, uint64_t attempts, double seconds)
{
	(void)attempts;
	(void)seconds;
	(*(int *)ctx)++;
}

static void test_search(void)
{
	struct vanity_prefix p;
	struct iron_identity found, again;
	char b32[IRON_ID_BASE32_LEN + 1];
	uint64_t attempts = 0;
	int calls = 0;

	/* Two characters: ~1024 attempts, a fraction of a second. */
	CHECK_INT(vanity_prefix_parse("QZ", &p, NULL), 0);
	CHECK_INT(vanity_search(&p, 2, 0, progress, &calls, &found, &attempts), 0);
	id_to_base32(&found.id, b32);
	CHECK(strncmp(b32, "qz", 2) == 0);
	CHECK(attempts >= 1);
	/* The identity is consistent: the seed gives this very ID. */
	identity_from_seed(found.seed, &again);
	CHECK(id_equal(&again.id, &found.id));
	CHECK(id_is_valid(&found.id));

	/* Budgets are exact, with one thread and with several. */
	CHECK_INT(vanity_prefix_parse("zzzzzzzz", &p, NULL), 0);
	CHECK_INT(vanity_search(&p, 1, 10, NULL, NULL, &found, &attempts), -ENOENT);
	CHECK_INT(attempts, 10);
	CHECK_INT(vanity_search(&p, 3, 1000, NULL, NULL, &found, &attempts), -ENOENT);
	CHECK_INT(attempts, 1000);
	CHECK_INT(vanity_search(&p, 4, 1, NULL, NULL, &found, &attempts), -ENOENT);
	CHECK_INT(attempts, 1);

	/* Long enough for progress reports (~4 per second). */
	calls = 0;
	CHECK_INT(vanity_search(&p, 1, 50000, progress, &calls, &found, &attempts), -ENOENT);
	CHECK_INT(attempts, 50000);
	CHECK(calls >= 1);

	CHECK_INT(vanity_search(&p, 0, 10, NULL, NULL, &found, &attempts), -EINVAL);
	CHECK_INT(vanity_search(&p, VANITY_THREADS_MAX + 1, 10, NULL, NULL, &found, &attempts),
		  -EINVAL);
	identity_wipe(&found);
	identity_wipe(&again);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_parse();
	test_match_agrees_with_base32();
	test_search();
	return check_done();
}
