/* Fuzz target: the configuration file parser, and the merge of whatever it
 * accepts onto a daemon configuration. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config_file file;
	static struct daemon_config config;
	struct config_error err;
	enum log_level level;
	const char *filter;

	if (config_parse((const char *)data, size, &file, &err) != 0) {
		/* An error always says where and why. */
		if (err.message[0] == '\0' || strlen(err.message) >= sizeof(err.message))
			abort();
		return 0;
	}
	if (file.npeers > DAEMON_MAX_PEERS || file.nlisten > DAEMON_MAX_LISTEN ||
	    file.nupstream > DAEMON_MAX_UPSTREAMS || file.nallow > DAEMON_MAX_ALLOW)
		abort();
	memset(&config, 0, sizeof(config));
	config.tun_name = "iron0";
	if (config_merge(&config, (unsigned)size & 0x3ff, &file) == 0 &&
	    (config.npeers > DAEMON_MAX_PEERS || config.nallow != file.nallow ||
	     config.allow_on != ((file.set & CONFIG_ALLOW) != 0)))
		abort();
	config_log_settings(&file, -1, NULL, &level, &filter);
	if (filter && log_configure(level, filter) != 0)
		abort(); /* the file accepted a filter the logger refuses */
	return 0;
}
