/* Fuzz target for the registry file parser: arbitrary bytes through
 * registry_parse_json(), and every string it yields through the same path
 * registry_load() takes (ID parsing, insertion into a small registry). A
 * validating parse and a full one must agree. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/id.h"
#include "iron/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static int each(const char *str, size_t len, void *ctx)
{
	struct registry *reg = ctx;
	struct iron_id id;
	enum id_form form;
	REQUIRE(len <= REGISTRY_JSON_MAX_STRING && str[len] == '\0' && strlen(str) <= len);
	if (strlen(str) == len && id_parse(str, &id, &form) == 0 && form == ID_FORM_BASE32)
		registry_insert(reg, &id, 0, 0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct registry *reg;
	if (!reg && registry_new(4, &reg) != 0)
		abort();
	int validated = registry_parse_json((const char *)data, size, NULL, NULL);
	int parsed = registry_parse_json((const char *)data, size, each, reg);
	REQUIRE(validated == parsed);
	REQUIRE(parsed == 0 || parsed == -EINVAL);
	REQUIRE(registry_count(reg) <= 4);
	return 0;
}
