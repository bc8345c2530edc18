/* A small assertion header for iron's unit tests.
 *
 * CHECK(cond) and the typed CHECK_* macros record a failure with file, line
 * and the values involved, and carry on; check_done() prints the closing
 * line "N passed, N failed" and returns the exit status for main(). */
#ifndef IRON_TEST_CHECK_H
#define IRON_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static unsigned check_passed_count;
static unsigned check_failed_count;

static inline void check_result(int ok, const char *file, int line, const char *what)
{
	if (ok) {
		check_passed_count++;
		return;
	}
	check_failed_count++;
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
}

#define CHECK(cond) check_result(!!(cond), __FILE__, __LINE__, #cond)

#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                    \
		check_result(check_a_ == check_b_, __FILE__, __LINE__, #a " == " #b);              \
		if (check_a_ != check_b_)                                                          \
			fprintf(stderr, "    left: %lld\n    right: %lld\n", check_a_, check_b_);  \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		int check_ok_ = check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0;           \
		check_result(check_ok_, __FILE__, __LINE__, #a " == " #b);                         \
		if (!check_ok_)                                                                    \
			fprintf(stderr, "    left: \"%s\"\n    right: \"%s\"\n",                   \
				check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");   \
	} while (0)

#define CHECK_MEM(a, b, n)                                                                         \
	check_result(memcmp((a), (b), (n)) == 0, __FILE__, __LINE__, "memcmp(" #a ", " #b ") == 0")

static inline int check_done(void)
{
	printf("%u passed, %u failed\n", check_passed_count, check_failed_count);
	return check_failed_count == 0 && check_passed_count > 0 ? 0 : 1;
}

#endif
