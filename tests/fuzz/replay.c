/* Runs a fuzz target without libFuzzer: every file of the corpus directory
 * given as argv[1], then deterministic mutations of those files (bit flips,
 * truncations, splices) and random inputs, so each parser of outside bytes
 * is exercised by every ctest run. A crash or sanitizer report fails the
 * test; returning normally passes it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT 65536
#define MAX_FILES	 1024

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

int main(int argc, char **argv)
{
	static uint8_t files[MAX_FILES][1024];
	static size_t file_len[MAX_FILES];
	static uint8_t buf[REPLAY_MAX_INPUT];
	size_t nfiles = 0, runs = 0;

	if (argc > 1) {
		DIR *dir = opendir(argv[1]);
		struct dirent *entry;
		while (dir && (entry = readdir(dir)) != NULL) {
			char path[4096];
			if (entry->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[1], entry->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			size_t n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, n);
			runs++;
			if (nfiles < MAX_FILES) {
				size_t keep = n < sizeof(files[0]) ? n : sizeof(files[0]);
				memcpy(files[nfiles], buf, keep);
				file_len[nfiles++] = keep;
			}
		}
		if (dir)
			closedir(dir);
	}
	for (int i = 0; i < 50000; i++) {
		size_t n;
		if (nfiles > 0 && (i % 4) != 3) {
			size_t which = rng_next() % nfiles;
			n = file_len[which];
			memcpy(buf, files[which], n);
			unsigned flips = 1 + (unsigned)(rng_next() % 4);
			for (unsigned k = 0; k < flips && n > 0; k++) {
				size_t at = rng_next() % n;
				switch (rng_next() % 4) {
				case 0:
					buf[at] ^= (uint8_t)(1u << (rng_next() % 8));
					break;
				case 1:
					buf[at] = (uint8_t)rng_next();
					break;
				case 2:
					n = at;
					break;
				default:
					buf[at] = (uint8_t)(rng_next() % 2 ? 0xff : 0x00);
					break;
				}
			}
		} else {
			n = rng_next() % 600;
			for (size_t k = 0; k < n; k++)
				buf[k] = (uint8_t)rng_next();
		}
		LLVMFuzzerTestOneInput(buf, n);
		runs++;
	}
	printf("replayed %zu inputs (%zu corpus files)\n", runs, nfiles);
	return 0;
}
