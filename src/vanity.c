/* Vanity key search on worker threads. Each worker counts up from its own
 * random seed (the seed is hashed by Ed25519 key generation, so
 * neighbouring seeds give unrelated keys) and compares only the leading
 * bits of each public key with the prefix: no base32 per attempt. */
#define LOG_MODULE "vanity"

#include "iron/vanity.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iron/log.h"

/* Attempts between a worker's looks at the shared budget and counters:
 * about a millisecond of work, so --max-attempts is exact and the
 * shared cache lines are touched rarely. */
#define BATCH		     64
#define PROGRESS_INTERVAL_NS 250000000L

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

int vanity_prefix_parse(const char *text, struct vanity_prefix *out, unsigned *bad_index)
{
	size_t len = strlen(text);
	uint64_t bits = 0;
	unsigned shift;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return -EINVAL;
	if (len > VANITY_PREFIX_MAX)
		return -E2BIG;
	for (size_t i = 0; i < len; i++) {
		char c = (char)tolower((unsigned char)text[i]);
		const char *p = strchr(base32_alphabet, c);
		if (!p || c == '\0') {
			if (bad_index)
				*bad_index = (unsigned)i;
			return -EILSEQ;
		}
		out->text[i] = c;
		bits = (bits << 5) | (uint64_t)(p - base32_alphabet);
	}
	out->len = (unsigned)len;
	shift = 64 - 5 * out->len;
	out->bits = bits << shift;
	out->mask = ~(uint64_t)0 << shift;
	return 0;
}

bool vanity_prefix_match(const struct vanity_prefix *prefix, const uint8_t pk[32])
{
	uint64_t head = 0;
	for (int i = 0; i < 8; i++)
		head = (head << 8) | pk[i];
	return (head & prefix->mask) == prefix->bits;
}

uint64_t vanity_expected_attempts(const struct vanity_prefix *prefix)
{
	return (uint64_t)1 << (5 * prefix->len);
}

struct search {
	const struct vanity_prefix *prefix;
	uint64_t max_attempts;
	_Atomic uint64_t claimed; /* attempts handed out, with a budget */
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a worker ended or found a match */
	unsigned running;
	bool found;
	uint8_t seed[IDENTITY_SEED_LEN];
};

struct worker {
	struct search *search;
	pthread_t thread;
	_Atomic uint64_t done; /* attempts made, for progress */
};

static void next_seed(uint8_t seed[IDENTITY_SEED_LEN])
{
	/* A 64-bit counter in the first bytes; starts at a random value. */
	for (int i = 0; i < 8 && ++seed[i] == 0; i++)
		;
}

static void report_match(struct search *s, const uint8_t seed[IDENTITY_SEED_LEN])
{
	pthread_mutex_lock(&s->lock);
	if (!s->found) {
		s->found = true;
		memcpy(s->seed, seed, IDENTITY_SEED_LEN);
	}
	atomic_store(&s->stop, true);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct search *s = w->search;
	uint8_t seed[IDENTITY_SEED_LEN], pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	bool found = false;

	randombytes_buf(seed, sizeof(seed));
	while (!found && !atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		uint64_t batch = BATCH, i;
		if (s->max_attempts) {
			uint64_t start =
			    atomic_fetch_add_explicit(&s->claimed, BATCH, memory_order_relaxed);
			if (start >= s->max_attempts)
				break;
			if (s->max_attempts - start < BATCH)
				batch = s->max_attempts - start;
		}
		for (i = 0; i < batch && !found; i++) {
			next_seed(seed);
			crypto_sign_seed_keypair(pk, sk, seed);
			if (vanity_prefix_match(s->prefix, pk)) {
				report_match(s, seed);
				found = true;
			}
		}
		atomic_fetch_add_explicit(&w->done, i, memory_order_relaxed);
	}
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	pthread_mutex_lock(&s->lock);
	s->running--;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static uint64_t total_done(struct worker *workers, unsigned n)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += atomic_load_explicit(&workers[i].done, memory_order_relaxed);
	return total;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

int vanity_search(const struct vanity_prefix *prefix, unsigned threads, uint64_t max_attempts,
		  vanity_progress_fn *progress, void *ctx, struct iron_identity *out,
		  uint64_t *attempts)
{
	struct search s = {.prefix = prefix, .max_attempts = max_attempts};
	struct worker *workers;
	pthread_condattr_t attr;
	struct timespec start, deadline;
	unsigned started;
	int err = 0;

	*attempts = 0;
	if (threads < 1 || threads > VANITY_THREADS_MAX || prefix->len == 0)
		return -EINVAL;
	workers = calloc(threads, sizeof(*workers));
	if (!workers)
		return -ENOMEM;
	atomic_init(&s.claimed, 0);
	atomic_init(&s.stop, false);
	pthread_mutex_init(&s.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s.wake, &attr);
	pthread_condattr_destroy(&attr);

	clock_gettime(CLOCK_MONOTONIC, &start);
	pthread_mutex_lock(&s.lock);
	for (started = 0; started < threads; started++) {
		workers[started].search = &s;
		atomic_init(&workers[started].done, 0);
		int r =
		    pthread_create(&workers[started].thread, NULL, worker_main, &workers[started]);
		if (r != 0) {
			err = -r;
			atomic_store(&s.stop, true);
			break;
		}
		s.running++;
	}
	log_debug("searching for prefix '%s' with %u threads", prefix->text, started);
	while (!err && s.running > 0 && !s.found) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += PROGRESS_INTERVAL_NS;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&s.wake, &s.lock, &deadline) == ETIMEDOUT && progress) {
			uint64_t done = total_done(workers, started);
			pthread_mutex_unlock(&s.lock);
			progress(ctx, done, seconds_since(&start));
			pthread_mutex_lock(&s.lock);
		}
	}
	atomic_store(&s.stop, true);
	pthread_mutex_unlock(&s.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);

	*attempts = total_done(workers, started);
	if (!err && s.found)
		identity_from_seed(s.seed, out);
	else if (!err)
		err = -ENOENT;
	sodium_memzero(s.seed, sizeof(s.seed));
	pthread_cond_destroy(&s.wake);
	pthread_mutex_destroy(&s.lock);
	free(workers);
	return err;
}
