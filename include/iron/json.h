/* A small, bounded JSON parser that builds a read-only tree, for the
 * control socket's replies on the CLI side (docs/control.md).
 *
 * RFC 8259 JSON: objects, arrays, strings (escapes including \uXXXX and
 * surrogate pairs, decoded to UTF-8), numbers, true, false, null. The text
 * must be valid UTF-8; any value may be the root. Limits: at most
 * JSON_MAX_SIZE bytes of text and JSON_MAX_DEPTH nested arrays/objects.
 *
 * The whole document lives in one allocation (the nodes and the decoded
 * strings), sized exactly by a validating first pass: no per-node malloc,
 * and nothing in the document points into the caller's text. */
#ifndef IRON_JSON_H
#define IRON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_SIZE  (1024 * 1024) /* bytes of text */
#define JSON_MAX_DEPTH 16	     /* nested arrays and objects, the root counting as 1 */

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

/* One value of a parsed document. Read the fields directly or through the
 * getters below; the getters also accept NULL, so lookups chain:
 * json_string(json_get(json_get(root, "node"), "base32"), "?"). */
struct json_value {
	enum json_type type;
	bool boolean;	    /* JSON_BOOL */
	double number;	    /* JSON_NUMBER */
	const char *string; /* JSON_STRING: decoded UTF-8, NUL-terminated (a \u0000
			     * inside ends it early for C; len is exact);
			     * JSON_NUMBER: the number's text as written */
	size_t len;	    /* JSON_STRING: bytes of string; JSON_ARRAY / JSON_OBJECT:
			     * number of elements / members */
	const char *key;    /* a member of an object: its key, decoded; else NULL */
	size_t key_len;
	const struct json_value *child; /* JSON_ARRAY / JSON_OBJECT: first element or member */
	const struct json_value *next;	/* the next element or member of the parent */
};

/* A parsed document; opaque, freed with json_free(). */
struct json_doc;

/* Parses len bytes of text (not necessarily NUL-terminated): one value,
 * optionally surrounded by whitespace. On success *out is the document
 * (the caller frees it with json_free()) and 0 is returned. Otherwise
 * *out is NULL and the result is -EMSGSIZE (len > JSON_MAX_SIZE), -ENOMEM,
 * or -EINVAL with *why (may be NULL) set to a static description and
 * *where (may be NULL) to the byte offset of the error. */
int json_parse(const char *text, size_t len, struct json_doc **out, const char **why,
	       size_t *where);

/* Tighter limits for a parse, for readers of documents of a known shape
 * (a control request, the registry file): what they cannot use is refused
 * while reading, before anything is allocated. A zero field keeps the
 * default. */
struct json_limits {
	size_t max_size;    /* bytes of text; default JSON_MAX_SIZE, may be larger */
	unsigned max_depth; /* nesting, the root counting as 1; default JSON_MAX_DEPTH, may be
			     * larger */
	size_t max_members; /* members of one object or elements of one array; default no
			     * limit */
};

/* json_parse() within limits (NULL: the defaults). Beyond max_size the
 * result is -EMSGSIZE; beyond max_depth -EINVAL with "too deeply nested";
 * beyond max_members -EINVAL with "too many members" (an object) or "too
 * many elements" (an array), *where at the first member or element too
 * many. */
int json_parse_limited(const char *text, size_t len, const struct json_limits *limits,
		       struct json_doc **out, const char **why, size_t *where);

/* Frees a document; NULL is fine. Every value of it becomes invalid. */
void json_free(struct json_doc *doc);

/* The root value of a document (never NULL for a parsed document). */
const struct json_value *json_root(const struct json_doc *doc);

/* The number of values (nodes) in a document. */
size_t json_node_count(const struct json_doc *doc);

/* The member key of object obj (the first one when a key repeats); NULL
 * when obj is NULL, not an object, or has no such member. */
const struct json_value *json_get(const struct json_value *obj, const char *key);

/* Iteration: the first element or member of an array or object (NULL when
 * empty, NULL or not a container), then the next one (NULL after the last).
 *   for (v = json_first(arr); v; v = json_next(v)) ... */
const struct json_value *json_first(const struct json_value *container);
const struct json_value *json_next(const struct json_value *value);

/* Element i of an array (or member i of an object); NULL when out of range. */
const struct json_value *json_at(const struct json_value *container, size_t i);

/* Typed getters: the value when it has that type, else def (also for
 * NULL). json_int/json_uint take numbers that are integers in range (e.g.
 * 42, 4.2e1; not 4.5, -1 for json_uint), exactly, also beyond 2^53. */
const char *json_string(const struct json_value *value, const char *def);
double json_number(const struct json_value *value, double def);
int64_t json_int(const struct json_value *value, int64_t def);
uint64_t json_uint(const struct json_value *value, uint64_t def);
bool json_bool(const struct json_value *value, bool def);

/* The exact value of a number that is an integer, as json_int() takes it:
 * 0 with *out set; -EINVAL when value is NULL, not a number, or not an
 * integer (4.5, 1e-3); -ERANGE when an integer outside int64_t (2^63,
 * 1e300, -1e300). *out is untouched on error. */
int json_int64(const struct json_value *value, int64_t *out);

/* True when value is a JSON null (false for NULL, i.e. a missing member). */
bool json_is_null(const struct json_value *value);

/* Type predicates that accept NULL (and then return false). */
bool json_is_object(const struct json_value *value);
bool json_is_array(const struct json_value *value);

#endif
