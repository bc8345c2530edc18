/* A bounded JSON tree parser. Two passes over the text with the same code:
 * the first validates and counts nodes and string bytes, the second fills
 * one allocation of exactly that size. So the tree is built without
 * per-node allocations and without ever growing (and moving) an array. */
#include "iron/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "iron/utf8.h"

/* Longest number text accepted; a longer one carries no more precision
 * than a double holds, and a bound keeps the conversion on the stack. */
#define JSON_MAX_NUMBER_LEN 256

struct json_doc {
	size_t nnodes;
	size_t nstrings;
	struct json_value nodes[]; /* then nstrings bytes of decoded strings */
};

struct parser {
	const unsigned char *text;
	size_t len;
	size_t pos;
	const char *why;
	size_t where;
	unsigned max_depth;
	size_t max_members;
	/* Counting pass: nodes and strings are NULL and only the counts move. */
	struct json_value *nodes;
	size_t nnodes;
	char *strings;
	size_t nstrings;
};

static int fail(struct parser *ps, const char *why)
{
	ps->why = why;
	ps->where = ps->pos;
	return -EINVAL;
}

static void skip_space(struct parser *ps)
{
	while (ps->pos < ps->len) {
		unsigned char c = ps->text[ps->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		ps->pos++;
	}
}

static bool at(const struct parser *ps, unsigned char c)
{
	return ps->pos < ps->len && ps->text[ps->pos] == c;
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads the 4 hex digits of a \u escape at ps->pos. */
static int read_hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;
	if (ps->len - ps->pos < 4)
		return fail(ps, "bad \\u escape");
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(ps->text[ps->pos + (size_t)i]);
		if (d < 0)
			return fail(ps, "bad \\u escape");
		v = v << 4 | (unsigned)d;
	}
	ps->pos += 4;
	*out = v;
	return 0;
}

static void put(struct parser *ps, const void *bytes, size_t n)
{
	if (ps->strings)
		memcpy(ps->strings + ps->nstrings, bytes, n);
	ps->nstrings += n;
}

/* A string at ps->pos (which is at its opening quote), decoded into the
 * string storage and NUL-terminated; *out and *out_len describe it (in the
 * counting pass *out is NULL). */
static int parse_string(struct parser *ps, const char **out, size_t *out_len)
{
	size_t start = ps->nstrings;

	ps->pos++; /* the opening quote */
	for (;;) {
		if (ps->pos >= ps->len)
			return fail(ps, "unterminated string");
		unsigned char c = ps->text[ps->pos];
		if (c == '"') {
			ps->pos++;
			break;
		}
		if (c < 0x20)
			return fail(ps, "control character in string");
		if (c >= 0x80) {
			size_t n = utf8_sequence(ps->text + ps->pos, ps->len - ps->pos);
			if (n == 0)
				return fail(ps, "invalid UTF-8");
			put(ps, ps->text + ps->pos, n);
			ps->pos += n;
			continue;
		}
		if (c != '\\') {
			put(ps, &c, 1);
			ps->pos++;
			continue;
		}
		if (++ps->pos >= ps->len)
			return fail(ps, "unterminated string");
		c = ps->text[ps->pos++];
		unsigned char plain;
		switch (c) {
		case '"':
			plain = '"';
			break;
		case '\\':
			plain = '\\';
			break;
		case '/':
			plain = '/';
			break;
		case 'b':
			plain = '\b';
			break;
		case 'f':
			plain = '\f';
			break;
		case 'n':
			plain = '\n';
			break;
		case 'r':
			plain = '\r';
			break;
		case 't':
			plain = '\t';
			break;
		case 'u': {
			unsigned cp, low;
			if (read_hex4(ps, &cp) != 0)
				return -EINVAL;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(ps, "lone low surrogate");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->len - ps->pos < 2 || ps->text[ps->pos] != '\\' ||
				    ps->text[ps->pos + 1] != 'u')
					return fail(ps, "lone high surrogate");
				ps->pos += 2;
				if (read_hex4(ps, &low) != 0)
					return -EINVAL;
				if (low < 0xdc00 || low > 0xdfff)
					return fail(ps, "bad surrogate pair");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			}
			unsigned char bytes[UTF8_MAX_SEQUENCE];
			put(ps, bytes, utf8_encode(cp, bytes));
			continue;
		}
		default:
			ps->pos--;
			return fail(ps, "bad escape");
		}
		put(ps, &plain, 1);
	}
	*out_len = ps->nstrings - start;
	*out = ps->strings ? ps->strings + start : NULL;
	put(ps, "", 1);
	return 0;
}

static bool is_digit(const struct parser *ps)
{
	return ps->pos < ps->len && ps->text[ps->pos] >= '0' && ps->text[ps->pos] <= '9';
}

static int parse_number(struct parser *ps, struct json_value *v)
{
	size_t start = ps->pos, n;
	char buf[JSON_MAX_NUMBER_LEN + 1];
	double d;

	if (at(ps, '-'))
		ps->pos++;
	if (!is_digit(ps))
		return fail(ps, "bad number");
	if (at(ps, '0'))
		ps->pos++;
	else
		while (is_digit(ps))
			ps->pos++;
	if (at(ps, '.')) {
		ps->pos++;
		if (!is_digit(ps))
			return fail(ps, "bad number");
		while (is_digit(ps))
			ps->pos++;
	}
	if (at(ps, 'e') || at(ps, 'E')) {
		ps->pos++;
		if (at(ps, '+') || at(ps, '-'))
			ps->pos++;
		if (!is_digit(ps))
			return fail(ps, "bad number");
		while (is_digit(ps))
			ps->pos++;
	}
	n = ps->pos - start;
	if (n > JSON_MAX_NUMBER_LEN) {
		ps->pos = start;
		return fail(ps, "number too long");
	}
	memcpy(buf, ps->text + start, n);
	buf[n] = '\0';
	/* The grammar was checked above, so strtod takes every byte; only the
	 * range is left to check (underflow to 0 is fine). */
	d = strtod(buf, NULL);
	if (isinf(d)) {
		ps->pos = start;
		return fail(ps, "number out of range");
	}
	if (v) {
		v->number = d;
		v->string = ps->strings + ps->nstrings;
		v->len = n;
	}
	put(ps, buf, n + 1);
	return 0;
}

static int parse_literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);
	if (ps->len - ps->pos < n || memcmp(ps->text + ps->pos, word, n) != 0)
		return fail(ps, "bad literal");
	ps->pos += n;
	return 0;
}

static int parse_value(struct parser *ps, int depth, struct json_value **out);

/* An array or object at ps->pos (at its opening bracket) into v. */
static int parse_container(struct parser *ps, int depth, struct json_value *v, bool object)
{
	unsigned char close = object ? '}' : ']';
	struct json_value *prev = NULL;
	size_t count = 0;

	if (depth > (int)ps->max_depth)
		return fail(ps, "too deeply nested");
	ps->pos++;
	skip_space(ps);
	if (at(ps, close)) {
		ps->pos++;
		goto done;
	}
	for (;;) {
		const char *key = NULL;
		size_t key_len = 0;
		struct json_value *child = NULL;

		skip_space(ps);
		if (count == ps->max_members)
			return fail(ps, object ? "too many members" : "too many elements");
		if (object) {
			if (!at(ps, '"'))
				return fail(ps, "expected a key");
			if (parse_string(ps, &key, &key_len) != 0)
				return -EINVAL;
			skip_space(ps);
			if (!at(ps, ':'))
				return fail(ps, "expected ':'");
			ps->pos++;
		}
		if (parse_value(ps, depth + 1, &child) != 0)
			return -EINVAL;
		count++;
		if (child) {
			child->key = key;
			child->key_len = key_len;
			if (prev)
				prev->next = child;
			else
				v->child = child;
			prev = child;
		}
		skip_space(ps);
		if (at(ps, ',')) {
			ps->pos++;
			continue;
		}
		if (at(ps, close)) {
			ps->pos++;
			break;
		}
		return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
done:
	if (v)
		v->len = count;
	return 0;
}

/* One value after optional whitespace. Takes the next node in document
 * order (so a container precedes its children); *out is that node in the
 * building pass, NULL in the counting pass. */
static int parse_value(struct parser *ps, int depth, struct json_value **out)
{
	struct json_value *v = NULL;

	skip_space(ps);
	if (ps->nodes) {
		v = &ps->nodes[ps->nnodes];
		memset(v, 0, sizeof(*v));
	}
	ps->nnodes++;
	*out = v;
	if (ps->pos >= ps->len)
		return fail(ps, "expected a value");
	switch (ps->text[ps->pos]) {
	case '{':
		if (v)
			v->type = JSON_OBJECT;
		return parse_container(ps, depth, v, true);
	case '[':
		if (v)
			v->type = JSON_ARRAY;
		return parse_container(ps, depth, v, false);
	case '"': {
		const char *s;
		size_t n;
		if (parse_string(ps, &s, &n) != 0)
			return -EINVAL;
		if (v) {
			v->type = JSON_STRING;
			v->string = s;
			v->len = n;
		}
		return 0;
	}
	case 't':
	case 'f':
		if (v) {
			v->type = JSON_BOOL;
			v->boolean = ps->text[ps->pos] == 't';
		}
		return parse_literal(ps, ps->text[ps->pos] == 't' ? "true" : "false");
	case 'n':
		if (v)
			v->type = JSON_NULL;
		return parse_literal(ps, "null");
	default:
		if (v)
			v->type = JSON_NUMBER;
		if (ps->text[ps->pos] == '-' ||
		    (ps->text[ps->pos] >= '0' && ps->text[ps->pos] <= '9'))
			return parse_number(ps, v);
		return fail(ps, "expected a value");
	}
}

static int parse_document(struct parser *ps)
{
	struct json_value *root;
	if (parse_value(ps, 1, &root) != 0)
		return -EINVAL;
	skip_space(ps);
	if (ps->pos != ps->len)
		return fail(ps, "text after the value");
	return 0;
}

int json_parse(const char *text, size_t len, struct json_doc **out, const char **why, size_t *where)
{
	return json_parse_limited(text, len, NULL, out, why, where);
}

int json_parse_limited(const char *text, size_t len, const struct json_limits *limits,
		       struct json_doc **out, const char **why, size_t *where)
{
	struct parser count = {.text = (const unsigned char *)text,
			       .len = len,
			       .max_depth = JSON_MAX_DEPTH,
			       .max_members = SIZE_MAX};
	struct parser build;
	struct json_doc *doc = NULL;
	size_t max_size = JSON_MAX_SIZE;
	int rc;

	*out = NULL;
	if (why)
		*why = NULL;
	if (where)
		*where = 0;
	if (limits) {
		if (limits->max_size)
			max_size = limits->max_size;
		if (limits->max_depth)
			count.max_depth = limits->max_depth;
		if (limits->max_members)
			count.max_members = limits->max_members;
	}
	if (len > max_size) {
		if (why)
			*why = "document too large";
		return -EMSGSIZE;
	}
	build = count;
	if (parse_document(&count) != 0) {
		if (why)
			*why = count.why;
		if (where)
			*where = count.where;
		return -EINVAL;
	}
	doc = malloc(sizeof(*doc) + count.nnodes * sizeof(struct json_value) + count.nstrings);
	if (!doc)
		return -ENOMEM;
	doc->nnodes = count.nnodes;
	doc->nstrings = count.nstrings;
	build.nodes = doc->nodes;
	build.strings = (char *)(doc->nodes + count.nnodes);
	rc = parse_document(&build);
	if (rc != 0 || build.nnodes != count.nnodes || build.nstrings != count.nstrings) {
		/* The same code over the same bytes: cannot differ. */
		if (why)
			*why = "internal error";
		free(doc);
		return -EINVAL;
	}
	*out = doc;
	return 0;
}

void json_free(struct json_doc *doc)
{
	free(doc);
}

const struct json_value *json_root(const struct json_doc *doc)
{
	return doc ? &doc->nodes[0] : NULL;
}

size_t json_node_count(const struct json_doc *doc)
{
	return doc ? doc->nnodes : 0;
}

const struct json_value *json_get(const struct json_value *obj, const char *key)
{
	size_t n = strlen(key);
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json_value *m = obj->child; m; m = m->next)
		if (m->key_len == n && memcmp(m->key, key, n) == 0)
			return m;
	return NULL;
}

const struct json_value *json_first(const struct json_value *container)
{
	if (!container || (container->type != JSON_ARRAY && container->type != JSON_OBJECT))
		return NULL;
	return container->child;
}

const struct json_value *json_next(const struct json_value *value)
{
	return value ? value->next : NULL;
}

const struct json_value *json_at(const struct json_value *container, size_t i)
{
	const struct json_value *v = json_first(container);
	while (v && i-- > 0)
		v = v->next;
	return v;
}

const char *json_string(const struct json_value *value, const char *def)
{
	return value && value->type == JSON_STRING ? value->string : def;
}

double json_number(const struct json_value *value, double def)
{
	return value && value->type == JSON_NUMBER ? value->number : def;
}

/* True when a number was written without fraction or exponent, so its text
 * converts exactly with strtoll/strtoull. */
static bool plain_integer(const struct json_value *value)
{
	return strpbrk(value->string, ".eE") == NULL;
}

int json_int64(const struct json_value *value, int64_t *out)
{
	if (!value || value->type != JSON_NUMBER)
		return -EINVAL;
	if (plain_integer(value)) {
		errno = 0;
		long long v = strtoll(value->string, NULL, 10);
		if (errno == ERANGE)
			return -ERANGE;
		*out = (int64_t)v;
		return 0;
	}
	double d = value->number;
	if (d != floor(d))
		return -EINVAL;
	/* -2^63 is exact as a double; 2^63 is the first value out of range.
	 * Checked before the conversion, which is undefined beyond them. */
	if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
		return -ERANGE;
	*out = (int64_t)d;
	return 0;
}

int64_t json_int(const struct json_value *value, int64_t def)
{
	int64_t v;
	return json_int64(value, &v) == 0 ? v : def;
}

uint64_t json_uint(const struct json_value *value, uint64_t def)
{
	if (!value || value->type != JSON_NUMBER)
		return def;
	if (value->number == 0)
		return 0; /* also "-0" */
	if (value->string[0] == '-')
		return def;
	if (plain_integer(value)) {
		errno = 0;
		unsigned long long v = strtoull(value->string, NULL, 10);
		return errno == ERANGE ? def : (uint64_t)v;
	}
	double d = value->number;
	if (d != floor(d) || d >= 18446744073709551616.0)
		return def;
	return (uint64_t)d;
}

bool json_bool(const struct json_value *value, bool def)
{
	return value && value->type == JSON_BOOL ? value->boolean : def;
}

bool json_is_null(const struct json_value *value)
{
	return value && value->type == JSON_NULL;
}

bool json_is_object(const struct json_value *value)
{
	return value && value->type == JSON_OBJECT;
}

bool json_is_array(const struct json_value *value)
{
	return value && value->type == JSON_ARRAY;
}
