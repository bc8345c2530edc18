/* Fuzz target: the JSON tree parser. Whatever it accepts is walked in full
 * and checked for consistency (counts, links, keys, NUL-terminated strings,
 * typed getters), then written back out as JSON and parsed again: the
 * second tree must equal the first, so decoding and the tree agree. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

struct out {
	char *buf;
	size_t len, cap;
};

static void emit(struct out *o, const void *bytes, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = (o->len + n) * 2;
		char *grown = realloc(o->buf, cap);
		REQUIRE(grown);
		o->buf = grown;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, bytes, n);
	o->len += n;
}

static void emit_string(struct out *o, const char *s, size_t n)
{
	emit(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\', esc[1] = (char)c;
			emit(o, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			emit(o, esc, 6);
		} else {
			emit(o, &s[i], 1);
		}
	}
	emit(o, "\"", 1);
}

/* Checks one value and writes it; returns the number of nodes under it. */
static size_t walk(const struct json_value *v, struct out *o, int depth)
{
	size_t nodes = 1, n = 0;
	/* depth counts containers only: a scalar may sit one level deeper. */
	REQUIRE(depth <= JSON_MAX_DEPTH || (v->type != JSON_ARRAY && v->type != JSON_OBJECT));
	switch (v->type) {
	case JSON_NULL:
		REQUIRE(json_is_null(v));
		emit(o, "null", 4);
		break;
	case JSON_BOOL:
		REQUIRE(json_bool(v, !v->boolean) == v->boolean);
		emit(o, v->boolean ? "true" : "false", v->boolean ? 4 : 5);
		break;
	case JSON_NUMBER:
		REQUIRE(v->string && strlen(v->string) == v->len);
		REQUIRE(json_number(v, 0) == v->number);
		(void)json_int(v, 0);
		(void)json_uint(v, 0);
		emit(o, v->string, v->len);
		break;
	case JSON_STRING:
		REQUIRE(v->string && v->string[v->len] == '\0' && strlen(v->string) <= v->len);
		REQUIRE(json_string(v, NULL) == v->string);
		emit_string(o, v->string, v->len);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT: {
		bool object = v->type == JSON_OBJECT;
		emit(o, object ? "{" : "[", 1);
		for (const struct json_value *c = json_first(v); c; c = json_next(c), n++) {
			if (n)
				emit(o, ",", 1);
			REQUIRE(json_at(v, n) == c || n > 64); /* json_at is linear: spot-check */
			if (object) {
				REQUIRE(c->key && c->key[c->key_len] == '\0');
				emit_string(o, c->key, c->key_len);
				emit(o, ":", 1);
				/* json_get finds this key (or an earlier duplicate). */
				if (strlen(c->key) == c->key_len)
					REQUIRE(json_get(v, c->key) != NULL);
			} else {
				REQUIRE(c->key == NULL);
			}
			nodes += walk(c, o, depth + 1);
		}
		REQUIRE(n == v->len);
		emit(o, object ? "}" : "]", 1);
		break;
	}
	default:
		abort();
	}
	return nodes;
}

static bool same(const struct json_value *a, const struct json_value *b)
{
	if (a->type != b->type || a->len != b->len || a->key_len != b->key_len)
		return false;
	if (a->key && memcmp(a->key, b->key, a->key_len) != 0)
		return false;
	switch (a->type) {
	case JSON_BOOL:
		return a->boolean == b->boolean;
	case JSON_NUMBER:
		return a->number == b->number && strcmp(a->string, b->string) == 0;
	case JSON_STRING:
		return memcmp(a->string, b->string, a->len) == 0;
	case JSON_ARRAY:
	case JSON_OBJECT:
		for (a = a->child, b = b->child; a && b; a = a->next, b = b->next)
			if (!same(a, b))
				return false;
		return !a && !b;
	default:
		return true;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc *doc = NULL, *again = NULL;
	struct out o = {0};
	const char *why = NULL;
	size_t where = 0;

	int rc = json_parse((const char *)data, size, &doc, &why, &where);
	if (rc != 0) {
		REQUIRE(doc == NULL && why != NULL);
		REQUIRE(rc == -EINVAL || rc == -EMSGSIZE || rc == -ENOMEM);
		REQUIRE(rc != -EINVAL || where <= size);
		return 0;
	}
	REQUIRE(doc && json_root(doc));
	REQUIRE(walk(json_root(doc), &o, 1) == json_node_count(doc));
	/* The rewrite is never longer than 6 bytes per input byte (\u00XX). */
	if (o.len <= JSON_MAX_SIZE) {
		REQUIRE(json_parse(o.buf, o.len, &again, &why, NULL) == 0);
		REQUIRE(json_node_count(again) == json_node_count(doc));
		REQUIRE(same(json_root(doc), json_root(again)));
		json_free(again);
	}
	free(o.buf);
	json_free(doc);
	return 0;
}
