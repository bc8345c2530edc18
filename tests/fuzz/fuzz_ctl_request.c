/* Fuzz target: the control socket's request parser. Whatever it accepts is
 * echoed through the reply writer, and the reply must parse back to the
 * same members: the writer's escaping and the parser's decoding agree.
 * Every number also goes through the integer accessor. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/ctl_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ctl_request_int() agrees with the number's double value: an integer it
 * takes converts back to that double, a fraction is refused as one, and an
 * integer beyond int64_t is one the double says is out of range too. */
static void check_integer(const struct ctl_request *req, const struct ctl_member *m)
{
	int64_t v = 0;
	int rc = ctl_request_int(req, m->key, INT64_MIN, INT64_MAX, &v);
	if (m->type != CTL_NUMBER) {
		if (rc != -EINVAL)
			abort();
		return;
	}
	if (rc == 0) {
		if ((double)v != m->number)
			abort();
		/* The range is inclusive at both ends, exclusive beyond them. */
		if (ctl_request_int(req, m->key, v, v, &v) != 0)
			abort();
		if (v < INT64_MAX && ctl_request_int(req, m->key, v + 1, INT64_MAX, &v) != -ERANGE)
			abort();
		if (v > INT64_MIN && ctl_request_int(req, m->key, INT64_MIN, v - 1, &v) != -ERANGE)
			abort();
	} else if (rc == -EINVAL) {
		if (m->number == floor(m->number))
			abort();
	} else if (rc == -ERANGE) {
		if (m->number > -9223372036854775808.0 && m->number < 9223372036854775808.0)
			abort();
	} else {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ctl_request req, back;
	const char *why = NULL;
	int rc = ctl_request_parse((const char *)data, size, &req, &why);
	if (rc != 0) {
		if (!why || req.nmembers != 0)
			abort();
		return 0;
	}
	if (req.nmembers > CTL_MAX_MEMBERS)
		abort();
	for (size_t i = 0; i < req.nmembers; i++)
		check_integer(&req, &req.members[i]);
	if (ctl_request_string(&req, "ok"))
		return 0; /* the reply has its own "ok" */
	struct ctl_reply *reply = ctl_reply_new();
	if (!reply)
		return 0;
	for (size_t i = 0; i < req.nmembers; i++) {
		const struct ctl_member *m = &req.members[i];
		if (strcmp(m->key, "ok") == 0)
			goto out;
		switch (m->type) {
		case CTL_STRING:
			ctl_reply_string(reply, m->key, m->string);
			break;
		case CTL_NUMBER:
			ctl_reply_double(reply, m->key, m->number);
			break;
		case CTL_BOOL:
			ctl_reply_bool(reply, m->key, m->boolean);
			break;
		case CTL_NULL:
			ctl_reply_null(reply, m->key);
			break;
		}
	}
	size_t len;
	const char *text = ctl_reply_text(reply, &len);
	if (len > CTL_REQUEST_MAX || req.nmembers == CTL_MAX_MEMBERS)
		goto out;
	if (ctl_request_parse(text, len, &back, &why) != 0 || back.nmembers != req.nmembers + 1)
		abort();
	for (size_t i = 0; i < req.nmembers; i++) {
		const struct ctl_member *a = &req.members[i], *b = &back.members[i + 1];
		if (strcmp(a->key, b->key) != 0 || a->type != b->type)
			abort();
		if (a->type == CTL_STRING && strcmp(a->string, b->string) != 0)
			abort();
		if (a->type == CTL_NUMBER && a->number != b->number)
			abort();
		if (a->type == CTL_BOOL && a->boolean != b->boolean)
			abort();
	}
out:
	ctl_reply_free(reply);
	return 0;
}
