/* bench_keypair: how many crypto_sign_seed_keypair() calls per second
 * this machine makes, on N threads for S seconds. This is the ceiling of
 * `iron vanity`, which bench/vanity compares against it.
 *
 * Usage: bench_keypair [THREADS [SECONDS]]
 * Prints one JSON object: threads, keys, seconds, keys_per_second and
 * keys_per_cpu_second (keys over the CPU time used: the rate of one core,
 * which other load on the machine does not distort). */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct bench_worker {
	pthread_t thread;
	atomic_bool *stop;
	uint64_t keys;
};

static void *bench_run(void *arg)
{
	struct bench_worker *w = arg;
	uint8_t seed[32], pk[32], sk[64];

	randombytes_buf(seed, sizeof(seed));
	while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
		/* The same counter-seed scheme as iron vanity, without the
		 * prefix test: the difference is what vanity costs. */
		for (int i = 0; i < 8 && ++seed[i] == 0; i++)
			;
		crypto_sign_seed_keypair(pk, sk, seed);
		w->keys++;
	}
	return NULL;
}

static double clock_seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long threads = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
	double seconds = argc > 2 ? strtod(argv[2], NULL) : 3.0;
	struct bench_worker *workers;
	atomic_bool stop;
	struct timespec pause;
	uint64_t keys = 0;
	double start, cpu_start, elapsed, cpu;

	if (threads < 1 || threads > 1024 || seconds <= 0 || sodium_init() < 0) {
		fprintf(stderr, "usage: bench_keypair [THREADS [SECONDS]]\n");
		return 2;
	}
	workers = calloc((size_t)threads, sizeof(*workers));
	if (!workers)
		return 1;
	atomic_init(&stop, false);
	start = clock_seconds(CLOCK_MONOTONIC);
	cpu_start = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
	for (long i = 0; i < threads; i++) {
		workers[i].stop = &stop;
		if (pthread_create(&workers[i].thread, NULL, bench_run, &workers[i]) != 0) {
			fprintf(stderr, "bench_keypair: cannot start thread %ld\n", i);
			return 1;
		}
	}
	pause.tv_sec = (time_t)seconds;
	pause.tv_nsec = (long)((seconds - (double)pause.tv_sec) * 1e9);
	nanosleep(&pause, NULL);
	atomic_store(&stop, true);
	for (long i = 0; i < threads; i++) {
		pthread_join(workers[i].thread, NULL);
		keys += workers[i].keys;
	}
	elapsed = clock_seconds(CLOCK_MONOTONIC) - start;
	cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
	printf("{\"threads\": %ld, \"keys\": %llu, \"seconds\": %.3f, \"keys_per_second\": %.0f, "
	       "\"keys_per_cpu_second\": %.0f}\n",
	       threads, (unsigned long long)keys, elapsed, (double)keys / elapsed,
	       (double)keys / cpu);
	free(workers);
	return 0;
}
