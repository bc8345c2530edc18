/* Logging: one line per event on stderr, "LEVEL module: message", with a
 * timestamp unless stderr is the systemd journal.
 *
 * Each source file defines LOG_MODULE (its module name, e.g. "dns") before
 * including this header and then logs with log_info(...) and friends. The
 * level of each module comes from log_configure(). */
#ifndef IRON_LOG_H
#define IRON_LOG_H

#include <stdbool.h>

enum log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Parses a level name ("trace" .. "error", "off"; any case). Returns the
 * level, or -EINVAL. */
int log_level_parse(const char *name);

/* Sets the default level and an optional per-module filter in the
 * IRON_LOG/RUST_LOG form: comma-separated "module=level" items and at most
 * one bare "level" that replaces the default; an "iron::" prefix on module
 * names is ignored. filter may be NULL. Returns 0, or -EINVAL (nothing
 * changed) when the filter does not parse. */
int log_configure(enum log_level default_level, const char *filter);

/* True when a message of this level from this module would be written. */
bool log_enabled(const char *module, enum log_level level);

/* Writes one line; use the log_* macros instead. */
void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_at(level, ...)                                                                         \
	do {                                                                                       \
		if (log_enabled(LOG_MODULE, level))                                                \
			log_write(level, LOG_MODULE, __VA_ARGS__);                                 \
	} while (0)
#define log_trace(...) log_at(LOG_TRACE, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
