/* The JSON tree parser: every kind of value, escapes and UTF-8, lookups
 * and typed getters, the limits (size, depth, number length) and tighter
 * ones, the errors with their positions, exact integers, and a round trip
 * of a document written by the control socket's reply writer. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "iron/ctl.h"
#include "iron/json.h"

static struct json_doc *parse(const char *text)
{
	struct json_doc *doc = NULL;
	const char *why = NULL;
	int rc = json_parse(text, strlen(text), &doc, &why, NULL);
	CHECK_INT(rc, 0);
	if (rc != 0)
		fprintf(stderr, "    parsing [%s]: %s\n", text, why ? why : "?");
	return doc;
}

static void test_values(void)
{
	struct json_doc *doc = parse(
	    " {\"ok\": true, \"no\": false, \"none\": null, \"n\": -12.5e1, \"zero\": 0,"
	    " \"s\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"arr\": [1, \"two\", [], {}, [[3]]],"
	    " \"obj\": {\"inner\": {\"x\": 7}}, \"empty\": \"\"}\r\n");
	const struct json_value *root = json_root(doc);

	CHECK(json_is_object(root));
	CHECK_INT(root->len, 9);
	CHECK(root->key == NULL);
	CHECK(json_bool(json_get(root, "ok"), false) == true);
	CHECK(json_bool(json_get(root, "no"), true) == false);
	CHECK(json_is_null(json_get(root, "none")));
	CHECK(!json_is_null(json_get(root, "missing")));
	CHECK(json_get(root, "missing") == NULL);
	CHECK(json_number(json_get(root, "n"), 0) == -125.0);
	CHECK_STR(json_get(root, "n")->string, "-12.5e1");
	CHECK(json_number(json_get(root, "zero"), 1) == 0.0);
	CHECK_STR(json_string(json_get(root, "s"), NULL), "a\"b\\c/d\b\f\n\r\t");
	CHECK_INT(json_get(root, "s")->len, 12);
	CHECK_STR(json_string(json_get(root, "empty"), NULL), "");
	CHECK_INT(json_get(root, "empty")->len, 0);

	const struct json_value *arr = json_get(root, "arr");
	CHECK(json_is_array(arr));
	CHECK_INT(arr->len, 5);
	CHECK_INT(json_int(json_at(arr, 0), -1), 1);
	CHECK_STR(json_string(json_at(arr, 1), NULL), "two");
	CHECK(json_is_array(json_at(arr, 2)) && json_at(arr, 2)->len == 0);
	CHECK(json_first(json_at(arr, 2)) == NULL);
	CHECK(json_is_object(json_at(arr, 3)) && json_at(arr, 3)->len == 0);
	CHECK_INT(json_int(json_at(json_at(json_at(arr, 4), 0), 0), -1), 3);
	CHECK(json_at(arr, 5) == NULL);
	CHECK(json_at(arr, 0)->key == NULL);

	/* Iteration visits every element in order. */
	size_t n = 0;
	for (const struct json_value *v = json_first(arr); v; v = json_next(v))
		n++;
	CHECK_INT(n, 5);
	/* Members in order, with their keys. */
	const char *keys[] = {"ok", "no", "none", "n", "zero", "s", "arr", "obj", "empty"};
	n = 0;
	for (const struct json_value *m = json_first(root); m; m = json_next(m), n++)
		if (n < 9)
			CHECK_STR(m->key, keys[n]);
	CHECK_INT(n, 9);

	/* Chained lookups through missing members are safe. */
	CHECK_INT(json_int(json_get(json_get(json_get(root, "obj"), "inner"), "x"), 0), 7);
	CHECK_INT(json_int(json_get(json_get(json_get(root, "nope"), "inner"), "x"), -9), -9);
	CHECK(json_get(arr, "x") == NULL);
	CHECK(json_get(NULL, "x") == NULL);
	CHECK(json_first(json_get(root, "s")) == NULL);
	CHECK(json_next(NULL) == NULL);
	CHECK(json_at(NULL, 0) == NULL);

	/* Typed getters return the default for another type. */
	CHECK_STR(json_string(json_get(root, "n"), "def"), "def");
	CHECK(json_number(json_get(root, "s"), 4.5) == 4.5);
	CHECK(json_bool(json_get(root, "none"), true) == true);
	CHECK(json_bool(NULL, true) == true);
	CHECK_INT(json_int(json_get(root, "ok"), 11), 11);
	CHECK(json_uint(json_get(root, "s"), 12) == 12);
	CHECK(!json_is_object(NULL) && !json_is_array(NULL) && !json_is_array(root));

	/* the root, 9 members, 5 elements of arr, [3] and 3, inner and x */
	CHECK_INT(json_node_count(doc), 1 + 9 + 5 + 2 + 2);
	json_free(doc);

	/* Any value may be the root. */
	const char *roots[] = {"1", "\"x\"", "true", "null", "[]", "{}", " -0 "};
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		doc = parse(roots[i]);
		CHECK(doc != NULL);
		json_free(doc);
	}
	json_free(NULL);
}

static void test_strings(void)
{
	struct json_doc *doc;

	/* \u escapes of 1, 2 and 3 UTF-8 bytes, a surrogate pair, raw UTF-8. */
	doc = parse("[\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\", \"\xc3\xa9\xe2\x82\xac"
		    "\xf0\x9f\x98\x80\", \"\\u0000x\", \"\xef\xbb\xbf\", \"\xf4\x8f\xbf\xbf\"]");
	const struct json_value *root = json_root(doc);
	CHECK_STR(json_string(json_at(root, 0), NULL), "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	CHECK_INT(json_at(root, 0)->len, 10);
	CHECK_STR(json_string(json_at(root, 1), NULL), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	/* \u0000 is kept: the length says so, C sees the string end early. */
	CHECK_INT(json_at(root, 2)->len, 2);
	CHECK_MEM(json_at(root, 2)->string, "\0x", 3);
	CHECK_STR(json_string(json_at(root, 3), NULL), "\xef\xbb\xbf");
	CHECK_STR(json_string(json_at(root, 4), NULL), "\xf4\x8f\xbf\xbf");
	json_free(doc);

	/* Escaped keys are decoded and found by their decoded form. */
	doc = parse("{\"k\\u00e9y\":1, \"a\\nb\":2, \"dup\":3, \"dup\":4}");
	root = json_root(doc);
	CHECK_INT(json_int(json_get(root, "k\xc3\xa9y"), 0), 1);
	CHECK_INT(json_int(json_get(root, "a\nb"), 0), 2);
	CHECK_INT(json_int(json_get(root, "dup"), 0), 3); /* the first one */
	CHECK_INT(root->len, 4);
	json_free(doc);
}

static void test_numbers(void)
{
	struct json_doc *doc =
	    parse("[0, -0, 42, -42, 4.2e1, 1E2, 2e+0, 1.5, 9007199254740993, 18446744073709551615,"
		  " 18446744073709551616, -9223372036854775808, 9223372036854775808, 1e-400, 1e300,"
		  " 0.000001, -1, 1.7976931348623157e308]");
	const struct json_value *r = json_root(doc);
	CHECK_INT(json_int(json_at(r, 0), -1), 0);
	CHECK(json_uint(json_at(r, 1), 9) == 0);
	CHECK_INT(json_int(json_at(r, 2), -1), 42);
	CHECK_INT(json_int(json_at(r, 3), 0), -42);
	CHECK(json_uint(json_at(r, 3), 7) == 7); /* negative: not a uint */
	CHECK_INT(json_int(json_at(r, 4), -1), 42);
	CHECK(json_uint(json_at(r, 4), 0) == 42);
	CHECK_INT(json_int(json_at(r, 5), -1), 100);
	CHECK_INT(json_int(json_at(r, 6), -1), 2);
	CHECK_INT(json_int(json_at(r, 7), -1), -1); /* not an integer */
	CHECK(json_number(json_at(r, 7), 0) == 1.5);
	/* Beyond 2^53: exact from the text, not through the double. */
	CHECK(json_uint(json_at(r, 8), 0) == 9007199254740993ULL);
	CHECK_INT(json_int(json_at(r, 8), 0), 9007199254740993LL);
	CHECK(json_uint(json_at(r, 9), 0) == UINT64_MAX);
	CHECK_INT(json_int(json_at(r, 9), -5), -5); /* out of int64 range */
	CHECK(json_uint(json_at(r, 10), 3) == 3);   /* out of uint64 range */
	CHECK(json_int(json_at(r, 11), 0) == INT64_MIN);
	CHECK_INT(json_int(json_at(r, 12), 6), 6);
	CHECK(json_number(json_at(r, 13), 1) == 0.0); /* underflow is fine */
	CHECK(json_number(json_at(r, 14), 0) == 1e300);
	CHECK_INT(json_int(json_at(r, 14), 8), 8);
	CHECK(json_number(json_at(r, 15), 0) == 0.000001);
	CHECK(json_uint(json_at(r, 16), 5) == 5);
	CHECK(json_number(json_at(r, 17), 0) == 1.7976931348623157e308);
	json_free(doc);
}

static void expect_error(const char *text, size_t len, const char *why_expected,
			 size_t where_expected)
{
	struct json_doc *doc = (struct json_doc *)1;
	const char *why = NULL;
	size_t where = 999;
	CHECK_INT(json_parse(text, len, &doc, &why, &where), -EINVAL);
	CHECK(doc == NULL);
	CHECK_STR(why, why_expected);
	CHECK_INT(where, where_expected);
	if (!why || strcmp(why, why_expected) != 0 || where != where_expected)
		fprintf(stderr, "    for input [%.*s]\n", (int)len, text);
}

#define ERR(text, why, where) expect_error(text, sizeof(text) - 1, why, where)

static void test_errors(void)
{
	ERR("", "expected a value", 0);
	ERR("   ", "expected a value", 3);
	ERR("[", "expected a value", 1);
	ERR("[1,]", "expected a value", 3);
	ERR("[1 2]", "expected ',' or ']'", 3);
	ERR("{", "expected a key", 1);
	ERR("{1:2}", "expected a key", 1);
	ERR("{\"a\"}", "expected ':'", 4);
	ERR("{\"a\":}", "expected a value", 5);
	ERR("{\"a\":1,}", "expected a key", 7);
	ERR("{\"a\":1 \"b\":2}", "expected ',' or '}'", 7);
	ERR("{\"a\":1]", "expected ',' or '}'", 6);
	ERR("[1}", "expected ',' or ']'", 2);
	ERR("{} x", "text after the value", 3);
	ERR("1 2", "text after the value", 2);
	ERR("tru", "bad literal", 0);
	ERR("nul", "bad literal", 0);
	ERR("True", "expected a value", 0);
	ERR("falsey", "text after the value", 5);
	ERR("01", "text after the value", 1);
	ERR("1.", "bad number", 2);
	ERR(".5", "expected a value", 0);
	ERR("1e", "bad number", 2);
	ERR("1e+", "bad number", 3);
	ERR("-", "bad number", 1);
	ERR("+1", "expected a value", 0);
	ERR("1e999", "number out of range", 0);
	ERR("-1e999", "number out of range", 0);
	ERR("NaN", "expected a value", 0);
	ERR("\"abc", "unterminated string", 4);
	ERR("\"abc\\", "unterminated string", 5);
	ERR("\"\\x\"", "bad escape", 2);
	ERR("\"\\u12\"", "bad \\u escape", 3);
	ERR("\"\\u12g4\"", "bad \\u escape", 3);
	ERR("\"\\udc00\"", "lone low surrogate", 7);
	ERR("\"\\ud800x\"", "lone high surrogate", 7);
	ERR("\"\\ud800\\u0041\"", "bad surrogate pair", 13);
	ERR("\"\\ud800\\n\"", "lone high surrogate", 7);
	ERR("\"a\x01\"", "control character in string", 2);
	ERR("\"a\nb\"", "control character in string", 2);
	ERR("\"\xc0\xaf\"", "invalid UTF-8", 1);	 /* overlong */
	ERR("\"\xe0\x80\xaf\"", "invalid UTF-8", 1);	 /* overlong */
	ERR("\"\xed\xa0\x80\"", "invalid UTF-8", 1);	 /* a surrogate */
	ERR("\"\xf4\x90\x80\x80\"", "invalid UTF-8", 1); /* above U+10FFFF */
	ERR("\"\xff\"", "invalid UTF-8", 1);
	ERR("\"\x80\"", "invalid UTF-8", 1);
	ERR("\"\xc3\"", "invalid UTF-8", 1); /* cut short */
	ERR("\"\xe2\x82\"", "invalid UTF-8", 1);
	ERR("[\x00]", "expected a value", 1);
	expect_error("\"a\0b\"", 5, "control character in string", 2);
	ERR("\xef\xbb\xbf{}", "expected a value", 0); /* no byte order mark */

	/* why and where may be NULL. */
	struct json_doc *doc;
	CHECK_INT(json_parse("[", 1, &doc, NULL, NULL), -EINVAL);
}

static void test_limits(void)
{
	char buf[64];
	struct json_doc *doc;
	const char *why;

	/* JSON_MAX_DEPTH nested arrays pass, one more does not. */
	char deep[2 * JSON_MAX_DEPTH + 3];
	memset(deep, '[', JSON_MAX_DEPTH);
	memset(deep + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	CHECK_INT(json_parse(deep, 2 * JSON_MAX_DEPTH, &doc, &why, NULL), 0);
	CHECK_INT(json_node_count(doc), JSON_MAX_DEPTH);
	json_free(doc);
	memset(deep, '[', JSON_MAX_DEPTH + 1);
	memset(deep + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
	size_t where;
	CHECK_INT(json_parse(deep, 2 * JSON_MAX_DEPTH + 2, &doc, &why, &where), -EINVAL);
	CHECK_STR(why, "too deeply nested");
	CHECK_INT(where, JSON_MAX_DEPTH);
	/* Objects count too: {"a":[{"a":[ ... ]}]} of depth 16 and 17. */
	for (int depth = JSON_MAX_DEPTH; depth <= JSON_MAX_DEPTH + 1; depth++) {
		char mixed[256];
		size_t len = 0;
		for (int i = 0; i < depth - 1; i++)
			len += (size_t)snprintf(mixed + len, sizeof(mixed) - len, "%s",
						i % 2 ? "[" : "{\"a\":");
		len += (size_t)snprintf(mixed + len, sizeof(mixed) - len, "%s",
					(depth - 1) % 2 ? "[]" : "{}");
		for (int i = depth - 2; i >= 0; i--)
			len += (size_t)snprintf(mixed + len, sizeof(mixed) - len, "%s",
						i % 2 ? "]" : "}");
		int rc = json_parse(mixed, len, &doc, &why, NULL);
		CHECK_INT(rc, depth <= JSON_MAX_DEPTH ? 0 : -EINVAL);
		if (rc == 0)
			json_free(doc);
		else
			CHECK_STR(why, "too deeply nested");
	}

	/* Numbers: 256 characters pass, 257 do not. */
	char num[300];
	memset(num, '1', sizeof(num));
	CHECK_INT(json_parse(num, 256, &doc, &why, NULL), 0);
	CHECK(json_number(json_root(doc), 0) > 1e255);
	json_free(doc);
	CHECK_INT(json_parse(num, 257, &doc, &why, &where), -EINVAL);
	CHECK_STR(why, "number too long");
	CHECK_INT(where, 0);

	/* Size: a string filling exactly JSON_MAX_SIZE passes, one more byte
	 * does not, whatever it is. */
	char *big = malloc(JSON_MAX_SIZE + 1);
	memset(big, 'x', JSON_MAX_SIZE + 1);
	big[0] = '"';
	big[JSON_MAX_SIZE - 1] = '"';
	CHECK_INT(json_parse(big, JSON_MAX_SIZE, &doc, &why, NULL), 0);
	CHECK_INT(json_root(doc)->len, JSON_MAX_SIZE - 2);
	json_free(doc);
	big[JSON_MAX_SIZE] = ' ';
	CHECK_INT(json_parse(big, JSON_MAX_SIZE + 1, &doc, &why, NULL), -EMSGSIZE);
	CHECK_STR(why, "document too large");
	CHECK(doc == NULL);

	/* The most nodes a document of the limit can have: "[0,0,...]". */
	size_t n = 0;
	big[n++] = '[';
	while (n + 2 < JSON_MAX_SIZE) {
		big[n++] = '0';
		big[n++] = ',';
	}
	big[n - 1] = ']';
	CHECK_INT(json_parse(big, n, &doc, &why, NULL), 0);
	CHECK_INT(json_root(doc)->len, (n - 1) / 2);
	CHECK_INT(json_node_count(doc), (n - 1) / 2 + 1);
	json_free(doc);
	free(big);

	snprintf(buf, sizeof(buf), "[%d]", 5);
	CHECK_INT(json_parse(buf, strlen(buf), &doc, &why, NULL), 0);
	CHECK_INT(json_int(json_at(json_root(doc), 0), 0), 5);
	json_free(doc);
}

/* A status-like reply from the daemon's writer parses back member by member. */
static void test_ctl_round_trip(void)
{
	struct ctl_reply *r = ctl_reply_new();
	struct json_doc *doc = NULL;
	size_t len;

	ctl_reply_string(r, "version", "0.1.0+g\"x\"\\");
	ctl_reply_double(r, "uptime_s", 3723.25);
	ctl_reply_begin_object(r, "node");
	ctl_reply_string(r, "base32", "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq");
	ctl_reply_end_object(r);
	ctl_reply_null(r, "relay");
	ctl_reply_begin_array(r, "peers");
	for (int i = 0; i < 3; i++) {
		ctl_reply_begin_object(r, NULL);
		ctl_reply_bool(r, "connected", i != 1);
		ctl_reply_uint(r, "bytes_in", UINT64_MAX - (uint64_t)i);
		ctl_reply_double(r, "rtt_ms", i == 1 ? NAN : 0.25 * i);
		ctl_reply_string(r, "ctl", "\x01\x1f\xe2\x80\x94");
		ctl_reply_end_object(r);
	}
	ctl_reply_end_array(r);
	const char *text = ctl_reply_text(r, &len);
	CHECK_INT(json_parse(text, len, &doc, NULL, NULL), 0);
	const struct json_value *root = json_root(doc);
	CHECK(json_bool(json_get(root, "ok"), false));
	CHECK_STR(json_string(json_get(root, "version"), NULL), "0.1.0+g\"x\"\\");
	CHECK(json_number(json_get(root, "uptime_s"), 0) == 3723.25);
	CHECK_STR(json_string(json_get(json_get(root, "node"), "base32"), NULL),
		  "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq");
	CHECK(json_is_null(json_get(root, "relay")));
	const struct json_value *peers = json_get(root, "peers");
	CHECK_INT(peers ? peers->len : 0, 3);
	int i = 0;
	for (const struct json_value *p = json_first(peers); p; p = json_next(p), i++) {
		CHECK(json_bool(json_get(p, "connected"), i == 1) == (i != 1));
		CHECK(json_uint(json_get(p, "bytes_in"), 0) == UINT64_MAX - (uint64_t)i);
		if (i == 1)
			CHECK(json_is_null(json_get(p, "rtt_ms")));
		else
			CHECK(json_number(json_get(p, "rtt_ms"), -1) == 0.25 * i);
		CHECK_STR(json_string(json_get(p, "ctl"), NULL), "\x01\x1f\xe2\x80\x94");
	}
	json_free(doc);
	ctl_reply_free(r);
}

/* Tighter limits refuse while reading; zero fields keep the defaults. */
static void test_parse_limited(void)
{
	struct json_limits flat = {.max_size = 32, .max_depth = 1, .max_members = 2};
	struct json_doc *doc = NULL;
	const char *why = NULL;
	size_t where = 0;

#define LIMITED(text) json_parse_limited(text, sizeof(text) - 1, &flat, &doc, &why, &where)
	CHECK_INT(LIMITED("{\"a\":1,\"b\":\"x\"}"), 0);
	CHECK_INT(json_node_count(doc), 3);
	json_free(doc);
	CHECK_INT(LIMITED("{\"a\":1,\"b\":2,\"c\":3}"), -EINVAL);
	CHECK_STR(why, "too many members");
	CHECK_INT(where, 13);
	CHECK_INT(LIMITED("[1,2,3]"), -EINVAL);
	CHECK_STR(why, "too many elements");
	CHECK_INT(where, 5);
	CHECK_INT(LIMITED("{\"a\":[]}"), -EINVAL);
	CHECK_STR(why, "too deeply nested");
	CHECK_INT(where, 5);
	CHECK_INT(LIMITED("\"0123456789012345678901234567890\""), -EMSGSIZE);
	CHECK(doc == NULL);
#undef LIMITED
	/* Larger than the defaults, too. */
	struct json_limits big = {.max_size = JSON_MAX_SIZE + 2};
	char *text = malloc(JSON_MAX_SIZE + 2);
	memset(text, ' ', JSON_MAX_SIZE + 2);
	text[0] = '1';
	CHECK_INT(json_parse_limited(text, JSON_MAX_SIZE + 2, &big, &doc, &why, NULL), 0);
	json_free(doc);
	CHECK_INT(json_parse(text, JSON_MAX_SIZE + 2, &doc, &why, NULL), -EMSGSIZE);
	free(text);
	struct json_limits none = {0};
	CHECK_INT(json_parse_limited("[[1]]", 5, &none, &doc, &why, NULL), 0);
	json_free(doc);
}

/* json_int64: exact integers, and why the others are refused. */
static void test_int64(void)
{
	struct json_doc *doc =
	    parse("[42, 4.2e1, -0, 1.0, 9223372036854775807, -9223372036854775808,"
		  " 9223372036854775808, -9223372036854775809, 1e300, -1e300,"
		  " 1.5, 1e-300, 9.3e18, \"7\", 9007199254740993]");
	const struct json_value *r = json_root(doc);
	int64_t v = 0;
	CHECK_INT(json_int64(json_at(r, 0), &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(json_int64(json_at(r, 1), &v), 0);
	CHECK_INT(v, 42);
	CHECK_INT(json_int64(json_at(r, 2), &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(json_int64(json_at(r, 3), &v), 0);
	CHECK_INT(v, 1);
	CHECK_INT(json_int64(json_at(r, 4), &v), 0);
	CHECK(v == INT64_MAX);
	CHECK_INT(json_int64(json_at(r, 5), &v), 0);
	CHECK(v == INT64_MIN);
	v = 5;
	CHECK_INT(json_int64(json_at(r, 6), &v), -ERANGE);
	CHECK_INT(json_int64(json_at(r, 7), &v), -ERANGE);
	CHECK_INT(json_int64(json_at(r, 8), &v), -ERANGE);
	CHECK_INT(json_int64(json_at(r, 9), &v), -ERANGE);
	CHECK_INT(json_int64(json_at(r, 10), &v), -EINVAL);
	CHECK_INT(json_int64(json_at(r, 11), &v), -EINVAL);
	CHECK_INT(json_int64(json_at(r, 12), &v), -ERANGE);
	CHECK_INT(json_int64(json_at(r, 13), &v), -EINVAL);
	CHECK_INT(v, 5); /* untouched on error */
	CHECK_INT(json_int64(json_at(r, 14), &v), 0);
	CHECK(v == 9007199254740993LL); /* exact beyond 2^53 */
	CHECK_INT(json_int64(NULL, &v), -EINVAL);
	json_free(doc);
}

int main(void)
{
	test_values();
	test_strings();
	test_numbers();
	test_errors();
	test_limits();
	test_parse_limited();
	test_int64();
	test_ctl_round_trip();
	return check_done();
}
