/* HTTP/1.1 message heads (RFC 9112 sections 2-5), strictly: the whole head
 * is found first, within HTTP1_MAX_HEAD bytes, then each line is checked
 * character by character. No allocation; results point into the input. */
#include "iron/http1.h"

#include <errno.h>
#include <string.h>

/* The part of the input that is the head, split into lines. */
struct lines {
	const char *buf;
	size_t end; /* the head's length, blank line included */
	size_t pos; /* the start of the next line */
};

/* Finds the blank line that ends the head. Returns the head's length, 0
 * (not yet seen), -E2BIG (not within HTTP1_MAX_HEAD) or -EBADMSG (the
 * first line is blank). */
static ssize_t find_end(const char *buf, size_t len)
{
	size_t limit = len < HTTP1_MAX_HEAD ? len : HTTP1_MAX_HEAD;
	size_t start = 0;
	for (size_t i = 0; i < limit; i++) {
		if (buf[i] != '\n')
			continue;
		size_t line_len = i - start;
		if (line_len > 0 && buf[i - 1] == '\r')
			line_len--;
		if (line_len == 0) {
			if (start == 0)
				return -EBADMSG;
			return (ssize_t)(i + 1);
		}
		start = i + 1;
	}
	return len >= HTTP1_MAX_HEAD ? -E2BIG : 0;
}

/* The next line without its line end; false after the blank line. */
static bool next_line(struct lines *l, const char **line, size_t *len)
{
	const char *nl = memchr(l->buf + l->pos, '\n', l->end - l->pos);
	if (!nl)
		return false;
	size_t n = (size_t)(nl - (l->buf + l->pos));
	if (n > 0 && nl[-1] == '\r')
		n--;
	*line = l->buf + l->pos;
	*len = n;
	l->pos = (size_t)(nl - l->buf) + 1;
	return n > 0;
}

/* tchar of RFC 9110 section 5.6.2. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar, SP and HTAB (obs-text included). */
static bool is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static size_t token_len(const char *s, size_t len)
{
	size_t n = 0;
	while (n < len && is_tchar((unsigned char)s[n]))
		n++;
	return n;
}

/* "HTTP/1.0" or "HTTP/1.1". Returns the minor version or -EBADMSG. */
static int parse_version(const char *s, size_t len)
{
	if (len != 8 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1'))
		return -EBADMSG;
	return s[7] - '0';
}

static int parse_headers(struct lines *l, struct http1_header *headers, size_t *nheaders)
{
	const char *line;
	size_t len;

	*nheaders = 0;
	while (next_line(l, &line, &len)) {
		if (line[0] == ' ' || line[0] == '\t')
			return -EBADMSG; /* obs-fold */
		size_t name_len = token_len(line, len);
		if (name_len == 0 || name_len == len || line[name_len] != ':')
			return -EBADMSG;
		size_t v = name_len + 1, end = len;
		for (size_t i = v; i < len; i++)
			if (!is_field_char((unsigned char)line[i]))
				return -EBADMSG;
		while (v < end && (line[v] == ' ' || line[v] == '\t'))
			v++;
		while (end > v && (line[end - 1] == ' ' || line[end - 1] == '\t'))
			end--;
		if (*nheaders == HTTP1_MAX_HEADERS)
			return -E2BIG;
		headers[*nheaders] = (struct http1_header){
		    .name = line, .name_len = name_len, .value = line + v, .value_len = end - v};
		(*nheaders)++;
	}
	return 0;
}

ssize_t http1_parse_request(const char *buf, size_t len, struct http1_request *out)
{
	memset(out, 0, sizeof(*out));
	ssize_t end = find_end(buf, len);
	if (end <= 0)
		return end;

	struct lines l = {.buf = buf, .end = (size_t)end, .pos = 0};
	const char *line;
	size_t n;
	if (!next_line(&l, &line, &n))
		return -EBADMSG;
	/* method SP request-target SP HTTP-version */
	size_t m = token_len(line, n);
	if (m == 0 || m == n || line[m] != ' ')
		return -EBADMSG;
	size_t t = m + 1, t_end = t;
	while (t_end < n && (unsigned char)line[t_end] > 0x20 && line[t_end] != 0x7f)
		t_end++;
	if (t_end == t || t_end == n || line[t_end] != ' ')
		return -EBADMSG;
	int minor = parse_version(line + t_end + 1, n - t_end - 1);
	if (minor < 0)
		return -EBADMSG;

	int rc = parse_headers(&l, out->headers, &out->nheaders);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->method = line;
	out->method_len = m;
	out->target = line + t;
	out->target_len = t_end - t;
	out->minor_version = minor;
	return end;
}

ssize_t http1_parse_response(const char *buf, size_t len, struct http1_response *out)
{
	memset(out, 0, sizeof(*out));
	ssize_t end = find_end(buf, len);
	if (end <= 0)
		return end;

	struct lines l = {.buf = buf, .end = (size_t)end, .pos = 0};
	const char *line;
	size_t n;
	if (!next_line(&l, &line, &n))
		return -EBADMSG;
	/* HTTP-version SP 3DIGIT SP [reason]; a missing SP after the code is
	 * tolerated, as most clients do. */
	if (n < 12 || line[8] != ' ')
		return -EBADMSG;
	int minor = parse_version(line, 8);
	if (minor < 0)
		return -EBADMSG;
	const char *code = line + 9;
	if (code[0] < '1' || code[0] > '9' || code[1] < '0' || code[1] > '9' || code[2] < '0' ||
	    code[2] > '9')
		return -EBADMSG;
	size_t reason = 12;
	if (n > 12) {
		if (line[12] != ' ')
			return -EBADMSG;
		reason = 13;
	}
	for (size_t i = reason; i < n; i++)
		if (!is_field_char((unsigned char)line[i]))
			return -EBADMSG;

	int rc = parse_headers(&l, out->headers, &out->nheaders);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	out->minor_version = minor;
	out->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
	out->reason = line + reason;
	out->reason_len = n - reason;
	return end;
}

bool http1_equals(const char *s, size_t len, const char *lit)
{
	size_t i = 0;
	for (; i < len; i++) {
		if (lit[i] == '\0' || ascii_lower(s[i]) != ascii_lower(lit[i]))
			return false;
	}
	return lit[i] == '\0';
}

const struct http1_header *http1_find(const struct http1_header *headers, size_t n,
				      const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (http1_equals(headers[i].name, headers[i].name_len, name))
			return &headers[i];
	return NULL;
}

bool http1_has_token(const struct http1_header *header, const char *token)
{
	const char *s = header->value;
	size_t len = header->value_len, start = 0;
	while (start <= len) {
		size_t end = start;
		while (end < len && s[end] != ',')
			end++;
		size_t a = start, b = end;
		while (a < b && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
			b--;
		if (b > a && http1_equals(s + a, b - a, token))
			return true;
		start = end + 1;
	}
	return false;
}
