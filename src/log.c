#include "iron/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_MAX_RULES  32
#define LOG_MODULE_MAX 32

struct log_rule {
	char module[LOG_MODULE_MAX];
	enum log_level level;
};

/* Logging configuration is process-wide by nature (like syslog's). */
static struct {
	enum log_level default_level;
	struct log_rule rules[LOG_MAX_RULES];
	int nrules;
	int journal; /* -1 unknown, 0 no, 1 stderr is the journal */
} log_state = {LOG_INFO, {{"", LOG_INFO}}, 0, -1};

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};

int log_level_parse(const char *name)
{
	for (int i = 0; i <= LOG_OFF; i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return i;
	if (strcasecmp(name, "warning") == 0)
		return LOG_WARN;
	return -EINVAL;
}

int log_configure(enum log_level default_level, const char *filter)
{
	struct log_rule rules[LOG_MAX_RULES];
	int nrules = 0;
	enum log_level level = default_level;

	if (filter && *filter) {
		char buf[512];
		char *save = NULL;
		if (strlen(filter) >= sizeof(buf))
			return -EINVAL;
		strcpy(buf, filter);
		for (char *item = strtok_r(buf, ",", &save); item;
		     item = strtok_r(NULL, ",", &save)) {
			while (*item == ' ')
				item++;
			char *eq = strchr(item, '=');
			if (!eq) {
				int l = log_level_parse(item);
				if (l < 0)
					return -EINVAL;
				level = (enum log_level)l;
				continue;
			}
			*eq = '\0';
			const char *module = item;
			if (strncmp(module, "iron::", 6) == 0)
				module += 6;
			int l = log_level_parse(eq + 1);
			if (l < 0 || !*module || strlen(module) >= LOG_MODULE_MAX ||
			    nrules == LOG_MAX_RULES)
				return -EINVAL;
			snprintf(rules[nrules].module, LOG_MODULE_MAX, "%s", module);
			rules[nrules++].level = (enum log_level)l;
		}
	}
	log_state.default_level = level;
	memcpy(log_state.rules, rules, sizeof(rules[0]) * (size_t)nrules);
	log_state.nrules = nrules;
	return 0;
}

bool log_enabled(const char *module, enum log_level level)
{
	for (int i = 0; i < log_state.nrules; i++)
		if (strcmp(log_state.rules[i].module, module) == 0)
			return level >= log_state.rules[i].level && level != LOG_OFF;
	return level >= log_state.default_level && level != LOG_OFF;
}

/* systemd sets JOURNAL_STREAM to "dev:inode" of the stream it connected. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	char line[1024];
	size_t n = 0;
	va_list ap;

	if (log_state.journal < 0)
		log_state.journal = stderr_is_journal();
	if (!log_state.journal) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	}
	static const char *const upper[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%-5s %s: ", upper[level], module);
	va_start(ap, fmt);
	if (n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from concurrent writers never interleave. */
	size_t len = strnlen(line, sizeof(line) - 2);
	line[len++] = '\n';
	ssize_t rc = write(STDERR_FILENO, line, len);
	(void)rc;
}
