/* NCM generic message: framing, parsing, building and serializing.
 *
 * One scanner (scan_head) reads the start line and the header lines of a byte
 * stream; ncm_frame_length() and ncm_parse() both use it, so a frame that
 * ncm_frame_length() accepts is one that ncm_parse() accepts (save for an
 * unsupported version, which framing lets through so that the caller can
 * answer 505). The scanner never reads past `len` and never allocates.
 */
#include "ncm/ncm.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/util.h"

#define CONTENT_LENGTH "content-length"

/* ---- Small helpers --------------------------------------------------------- */

/* ASCII only: the wire format does not depend on the locale. */
static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static char to_lower(unsigned char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

static bool is_name_char(unsigned char c)
{
	return is_alnum(c) || c == '-';
}

static bool is_target_char(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '+' || c == ':' || c == '*' || c == '-';
}

/* A byte range inside the input. */
struct span {
	const char *p;
	size_t n;
};

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool span_eq_nocase(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	if (s.n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (to_lower((unsigned char)s.p[i]) != to_lower((unsigned char)lit[i]))
			return false;
	return true;
}

static struct span span_trim(struct span s)
{
	while (s.n > 0 && is_blank((unsigned char)s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_blank((unsigned char)s.p[s.n - 1]))
		s.n--;
	return s;
}

/* `NAME/digits.digits`: something that is meant as a protocol version. */
static bool is_version_token(struct span s)
{
	size_t i = 0, d;

	while (i < s.n && s.p[i] >= 'A' && s.p[i] <= 'Z')
		i++;
	if (i == 0 || i >= s.n || s.p[i] != '/')
		return false;
	i++;
	for (d = i; i < s.n && is_digit((unsigned char)s.p[i]); i++)
		;
	if (i == d || i >= s.n || s.p[i] != '.')
		return false;
	i++;
	for (d = i; i < s.n && is_digit((unsigned char)s.p[i]); i++)
		;
	return i > d && i == s.n;
}

static const char *const method_names[] = {
        [NCM_METHOD_SETUP] = "SETUP",   [NCM_METHOD_REMOVE] = "REMOVE",
        [NCM_METHOD_PROBE] = "PROBE",   [NCM_METHOD_TRIGGER] = "TRIGGER",
        [NCM_METHOD_STATUS] = "STATUS",
};

const char *ncm_method_name(enum ncm_method m)
{
	if ((unsigned)m >= ARRAY_SIZE(method_names))
		return NULL;
	return method_names[m];
}

const char *ncm_status_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "Version Not Supported";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}

/* ---- Scanning the head (start line, headers, blank line) --------------------- */

struct head {
	size_t len; /* bytes up to and including the blank line */
	enum ncm_method method;
	struct span target;
	int code;
	struct span reason;
	bool bad_version;
	struct span lines[NCM_MAX_HEADERS]; /* header lines, without terminator */
	size_t n_lines;
	bool has_cl;
	size_t cl;
};

/* Finds the end of the line that starts at *pos. Returns 1, with the length of
 * the line without its LF or CRLF in *ret_n and *pos moved past the terminator;
 * 0 if the line is not complete yet; or a negative errno. */
static int next_line(const char *buf, size_t len, size_t *pos, size_t *ret_n, unsigned lineno,
                     char *err, size_t errlen)
{
	for (size_t i = *pos; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		size_t n = i - *pos, end = i + 1;

		if (c == '\n' || c == '\r') {
			if (c == '\r') {
				if (end >= len)
					return 0;
				if (buf[end] != '\n')
					return err_set(err, errlen, -EBADMSG,
					               "line %u: CR not followed by LF", lineno);
				end++;
			}
			if (end > NCM_MAX_MESSAGE)
				return err_set(err, errlen, -EMSGSIZE,
				               "message head longer than %d bytes",
				               NCM_MAX_MESSAGE);
			*ret_n = n;
			*pos = end;
			return 1;
		}
		if (n >= NCM_MAX_LINE)
			return err_set(err, errlen, -EMSGSIZE, "line %u longer than %d bytes",
			               lineno, NCM_MAX_LINE);
		if (end >= NCM_MAX_MESSAGE)
			return err_set(err, errlen, -EMSGSIZE, "message head longer than %d bytes",
			               NCM_MAX_MESSAGE);
		if (is_ctl(c) && c != '\t')
			return err_set(err, errlen, -EBADMSG, "line %u: control character 0x%02x",
			               lineno, c);
	}
	return 0;
}

/* Splits a line at its first space; returns false if there is none. */
static bool split_sp(struct span s, struct span *first, struct span *rest)
{
	const char *sp = memchr(s.p, ' ', s.n);

	if (!sp)
		return false;
	*first = (struct span){s.p, (size_t)(sp - s.p)};
	*rest = (struct span){sp + 1, s.n - first->n - 1};
	return true;
}

static int parse_response_line(struct span ver, struct span rest, struct head *h,
                               bool stop_on_version, char *err, size_t errlen)
{
	struct span code = rest, reason = {rest.p + rest.n, 0};

	if (!span_eq(ver, NCM_VERSION)) {
		if (stop_on_version)
			return err_set(err, errlen, -EPROTO, "unsupported version '%.*s'",
			               (int)ver.n, ver.p);
		h->bad_version = true;
	}
	if (!split_sp(rest, &code, &reason))
		code = rest;
	if (code.n != 3 || code.p[0] < '1' || code.p[0] > '5' ||
	    !is_digit((unsigned char)code.p[1]) || !is_digit((unsigned char)code.p[2]))
		return err_set(err, errlen, -EBADMSG, "line 1: bad status code");
	h->method = NCM_METHOD_NONE;
	h->code = (code.p[0] - '0') * 100 + (code.p[1] - '0') * 10 + (code.p[2] - '0');
	h->reason = span_trim(reason);
	return 0;
}

static int parse_start_line(struct span line, struct head *h, bool stop_on_version, char *err,
                            size_t errlen)
{
	struct span method, target, ver, rest;

	if (!split_sp(line, &method, &rest))
		return err_set(err, errlen, -EBADMSG, "line 1: bad start line");
	if (is_version_token(method))
		return parse_response_line(method, rest, h, stop_on_version, err, errlen);

	if (!split_sp(rest, &target, &ver) || memchr(ver.p, ' ', ver.n))
		return err_set(err, errlen, -EBADMSG,
		               "line 1: bad start line (want METHOD TARGET VERSION)");
	h->method = NCM_METHOD_NONE;
	for (size_t i = 1; i < ARRAY_SIZE(method_names); i++)
		if (span_eq(method, method_names[i]))
			h->method = (enum ncm_method)i;
	if (h->method == NCM_METHOD_NONE) {
		size_t i;

		for (i = 0; i < method.n && method.p[i] >= 'A' && method.p[i] <= 'Z'; i++)
			;
		if (method.n == 0 || i < method.n)
			return err_set(err, errlen, -EBADMSG, "line 1: bad start line");
		return err_set(err, errlen, -EBADMSG, "line 1: unknown method '%.*s'",
		               (int)method.n, method.p);
	}
	if (target.n == 0)
		return err_set(err, errlen, -EBADMSG, "line 1: empty target");
	if (target.n > NCM_MAX_TARGET)
		return err_set(err, errlen, -EMSGSIZE, "line 1: target longer than %d bytes",
		               NCM_MAX_TARGET);
	for (size_t i = 0; i < target.n; i++)
		if (!is_target_char((unsigned char)target.p[i]))
			return err_set(err, errlen, -EBADMSG, "line 1: bad character in target");
	if (!span_eq(ver, NCM_VERSION)) {
		if (!is_version_token(ver))
			return err_set(err, errlen, -EBADMSG, "line 1: bad version");
		if (stop_on_version)
			return err_set(err, errlen, -EPROTO, "unsupported version '%.*s'",
			               (int)ver.n, ver.p);
		h->bad_version = true;
	}
	h->target = target;
	return 0;
}

/* Splits `name:value` (value trimmed). Returns false without a colon. */
static bool split_header(struct span line, struct span *name, struct span *value)
{
	const char *colon = memchr(line.p, ':', line.n);

	if (!colon)
		return false;
	*name = (struct span){line.p, (size_t)(colon - line.p)};
	*value = span_trim((struct span){colon + 1, line.n - name->n - 1});
	return true;
}

/* Parses a content-length value: decimal, at most NCM_MAX_BODY. */
static int parse_content_length(struct span v, size_t *ret, unsigned lineno, char *err,
                                size_t errlen)
{
	size_t n = 0;

	if (v.n == 0)
		return err_set(err, errlen, -EBADMSG, "line %u: empty content-length", lineno);
	for (size_t i = 0; i < v.n; i++) {
		if (!is_digit((unsigned char)v.p[i]))
			return err_set(err, errlen, -EBADMSG, "line %u: bad content-length",
			               lineno);
		n = n * 10 + (size_t)(v.p[i] - '0');
		if (n > NCM_MAX_BODY)
			return err_set(err, errlen, -EMSGSIZE,
			               "line %u: content-length larger than %d", lineno,
			               NCM_MAX_BODY);
	}
	*ret = n;
	return 0;
}

static int check_header_line(struct span line, unsigned lineno, struct head *h, char *err,
                             size_t errlen)
{
	struct span name, value;

	if (!split_header(line, &name, &value))
		return err_set(err, errlen, -EBADMSG, "line %u: header without ':'", lineno);
	if (name.n == 0)
		return err_set(err, errlen, -EBADMSG, "line %u: empty header name", lineno);
	if (name.n > NCM_MAX_NAME)
		return err_set(err, errlen, -EMSGSIZE, "line %u: header name longer than %d",
		               lineno, NCM_MAX_NAME);
	for (size_t i = 0; i < name.n; i++)
		if (!is_name_char((unsigned char)name.p[i]))
			return err_set(err, errlen, -EBADMSG,
			               "line %u: bad character in header name", lineno);
	if (span_eq_nocase(name, CONTENT_LENGTH)) {
		if (h->has_cl)
			return err_set(err, errlen, -EBADMSG, "line %u: repeated content-length",
			               lineno);
		h->has_cl = true;
		return parse_content_length(value, &h->cl, lineno, err, errlen);
	}
	return 0;
}

/* Rejects early an incomplete line that can never become valid: a start line
 * whose first word cannot begin a method or a version, or a header line whose
 * name has a bad character or is too long. Returns 0 (need more) or a negative
 * errno. A CR at the very end may be the start of a CRLF. */
static int check_partial_line(const char *p, size_t n, unsigned lineno, char *err, size_t errlen)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (lineno == 1) {
			if (c == ' ')
				return 0;
			if (!(c >= 'A' && c <= 'Z') && !is_digit(c) && c != '/' && c != '.')
				return err_set(err, errlen, -EBADMSG, "line 1: bad start line");
			continue;
		}
		if (c == ':')
			return 0;
		if (!is_name_char(c))
			return err_set(err, errlen, -EBADMSG,
			               "line %u: bad character in header name", lineno);
		if (i >= NCM_MAX_NAME)
			return err_set(err, errlen, -EMSGSIZE,
			               "line %u: header name longer than %d", lineno, NCM_MAX_NAME);
	}
	return 0;
}

/* Scans the head of a message. Returns its length (> 0), 0 if incomplete, or
 * a negative errno. With stop_on_version, a well-formed start line with
 * another version fails with -EPROTO; otherwise it sets h->bad_version. */
static long scan_head(const char *buf, size_t len, struct head *h, bool stop_on_version, char *err,
                      size_t errlen)
{
	size_t pos = 0;

	*h = (struct head){0};
	for (unsigned lineno = 1;; lineno++) {
		size_t start = pos, n = 0;
		struct span line;
		int r;

		r = next_line(buf, len, &pos, &n, lineno, err, errlen);
		if (r == 0)
			return start < len ? check_partial_line(buf + start, len - start, lineno,
			                                        err, errlen)
			                   : 0;
		if (r <= 0)
			return r;
		line = (struct span){buf + start, n};
		if (n == 0) {
			if (lineno == 1)
				return err_set(err, errlen, -EBADMSG, "line 1: empty start line");
			h->len = pos;
			return (long)pos;
		}
		if (lineno == 1) {
			r = parse_start_line(line, h, stop_on_version, err, errlen);
		} else {
			if (h->n_lines >= NCM_MAX_HEADERS)
				return err_set(err, errlen, -EMSGSIZE, "more than %d headers",
				               NCM_MAX_HEADERS);
			r = check_header_line(line, lineno, h, err, errlen);
			h->lines[h->n_lines++] = line;
		}
		if (r < 0)
			return r;
	}
}

long ncm_frame_length(const char *buf, size_t len, char *err, size_t errlen)
{
	struct head h;
	long r;

	if (!buf && len > 0)
		return err_set(err, errlen, -EINVAL, "no buffer");
	r = scan_head(buf, len, &h, false, err, errlen);
	if (r <= 0)
		return r;
	if (h.has_cl && len - h.len < h.cl)
		return 0;
	return (long)(h.len + (h.has_cl ? h.cl : 0));
}

/* ---- The message ------------------------------------------------------------ */

static char *span_dup(struct span s)
{
	return strndup(s.p, s.n);
}

static int strdup_or_null(const char *s, char **ret)
{
	*ret = NULL;
	return s && !(*ret = strdup(s)) ? -ENOMEM : 0;
}

int ncm_dup(const struct ncm_msg *m, struct ncm_msg **ret)
{
	struct ncm_msg *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->method = m->method;
	c->code = m->code;
	if (strdup_or_null(m->target, &c->target) < 0 || strdup_or_null(m->reason, &c->reason) < 0)
		goto nomem;
	if (m->n_headers) {
		c->headers = calloc(m->n_headers, sizeof(*c->headers));
		if (!c->headers)
			goto nomem;
		for (size_t i = 0; i < m->n_headers; i++, c->n_headers++)
			if (strdup_or_null(m->headers[i].name, &c->headers[i].name) < 0 ||
			    strdup_or_null(m->headers[i].value, &c->headers[i].value) < 0) {
				c->n_headers++; /* free what was copied of this one */
				goto nomem;
			}
	}
	if (m->body) {
		c->body = malloc(m->body_len + 1);
		if (!c->body)
			goto nomem;
		memcpy(c->body, m->body, m->body_len);
		c->body[m->body_len] = '\0';
		c->body_len = m->body_len;
	}
	*ret = c;
	return 0;
nomem:
	ncm_free(c);
	return -ENOMEM;
}

struct ncm_msg *ncm_free(struct ncm_msg *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_headers; i++) {
		free(m->headers[i].name);
		free(m->headers[i].value);
	}
	free(m->headers);
	free(m->target);
	free(m->reason);
	free(m->body);
	free(m);
	return NULL;
}

static inline void ncm_freep(struct ncm_msg **m)
{
	ncm_free(*m);
}
#define _cleanup_ncm_ _cleanup_(ncm_freep)

int ncm_parse(const char *buf, size_t len, struct ncm_msg **ret, char *err, size_t errlen)
{
	_cleanup_ncm_ struct ncm_msg *m = NULL;
	struct head h;
	size_t rest;
	long r;

	if (!ret || (!buf && len > 0))
		return err_set(err, errlen, -EINVAL, "no buffer");
	r = scan_head(buf, len, &h, true, err, errlen);
	if (r < 0)
		return (int)r;
	if (r == 0)
		return err_set(err, errlen, -EBADMSG, "truncated message: no blank line after %s",
		               len > 0 ? "the headers" : "nothing");
	rest = len - h.len;
	if (!h.has_cl && rest > 0)
		return err_set(err, errlen, -EBADMSG,
		               "%zu bytes after the blank line without content-length", rest);
	if (h.has_cl && rest < h.cl)
		return err_set(err, errlen, -EBADMSG, "truncated body: %zu of %zu bytes", rest,
		               h.cl);
	if (h.has_cl && rest > h.cl)
		return err_set(err, errlen, -EBADMSG, "%zu bytes after the body", rest - h.cl);

	m = calloc(1, sizeof(*m));
	if (!m)
		goto oom;
	m->method = h.method;
	if (h.method != NCM_METHOD_NONE) {
		m->target = span_dup(h.target);
		if (!m->target)
			goto oom;
	} else {
		m->code = h.code;
		m->reason = span_dup(h.reason);
		if (!m->reason)
			goto oom;
	}
	if (h.n_lines > 0) {
		m->headers = calloc(h.n_lines, sizeof(*m->headers));
		if (!m->headers)
			goto oom;
	}
	for (size_t i = 0; i < h.n_lines; i++) {
		struct ncm_header *hd = &m->headers[i];
		struct span name = {0}, value = {0};

		split_header(h.lines[i], &name, &value); /* checked by scan_head() */
		hd->name = span_dup(name);
		/* content-length is stored normalized ("007" -> "7"), as serialized. */
		if (span_eq_nocase(name, CONTENT_LENGTH)) {
			if (asprintf(&hd->value, "%zu", h.cl) < 0)
				hd->value = NULL;
		} else {
			hd->value = span_dup(value);
		}
		m->n_headers++;
		if (!hd->name || !hd->value)
			goto oom;
		for (char *p = hd->name; *p; p++)
			*p = to_lower((unsigned char)*p);
	}
	if (h.has_cl) {
		m->body = malloc(h.cl + 1);
		if (!m->body)
			goto oom;
		memcpy(m->body, buf + h.len, h.cl);
		m->body[h.cl] = '\0';
		m->body_len = h.cl;
	}
	*ret = TAKE_PTR(m);
	return 0;
oom:
	return err_set(err, errlen, -ENOMEM, "out of memory");
}

/* ---- Building ---------------------------------------------------------------- */

static bool valid_target(const char *t)
{
	size_t n = t ? strlen(t) : 0;

	if (n == 0 || n > NCM_MAX_TARGET)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_target_char((unsigned char)t[i]))
			return false;
	return true;
}

static bool valid_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NCM_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char((unsigned char)name[i]))
			return false;
	return true;
}

/* Text that fits on a line: no control characters but tab, no leading or
 * trailing blanks (the parser trims them), at most `max` bytes. */
static bool valid_text(const char *v, size_t max)
{
	size_t n = v ? strlen(v) : 0;

	if (!v || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (is_ctl((unsigned char)v[i]) && v[i] != '\t')
			return false;
	return n == 0 || (!is_blank((unsigned char)v[0]) && !is_blank((unsigned char)v[n - 1]));
}

/* The longest reason that keeps `NETSERV/0.1 NNN reason` within a line. */
#define MAX_REASON (NCM_MAX_LINE - (int)sizeof(NCM_VERSION " 200 ") + 1)

struct ncm_msg *ncm_request_new(enum ncm_method method, const char *target)
{
	struct ncm_msg *m;

	if (!ncm_method_name(method) || !valid_target(target)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->method = method;
	m->target = strdup(target);
	if (!m->target)
		return ncm_free(m);
	return m;
}

struct ncm_msg *ncm_response_new(int code, const char *reason)
{
	_cleanup_free_ char *r = NULL;
	struct ncm_msg *m;
	size_t n;

	if (code < 100 || code > 599) {
		errno = EINVAL;
		return NULL;
	}
	if (!reason)
		reason = ncm_status_reason(code);
	/* Trim as the parser would. */
	while (is_blank((unsigned char)*reason))
		reason++;
	n = strlen(reason);
	while (n > 0 && is_blank((unsigned char)reason[n - 1]))
		n--;
	r = strndup(reason, n);
	if (!r)
		return NULL;
	if (!valid_text(r, MAX_REASON)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->code = code;
	m->reason = TAKE_PTR(r);
	return m;
}

static bool name_is(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

const char *ncm_get(const struct ncm_msg *m, const char *name)
{
	if (!m || !name)
		return NULL;
	for (size_t i = 0; i < m->n_headers; i++)
		if (name_is(m->headers[i].name, name))
			return m->headers[i].value;
	return NULL;
}

/* Length of the start line without its LF. */
static size_t start_line_len(const struct ncm_msg *m)
{
	if (m->method != NCM_METHOD_NONE)
		return strlen(ncm_method_name(m->method)) + 1 + strlen(m->target) + 1 +
		       strlen(NCM_VERSION);
	return strlen(NCM_VERSION) + 4 + (m->reason && *m->reason ? 1 + strlen(m->reason) : 0);
}

/* Number of decimal digits of n. */
static size_t digits(size_t n)
{
	size_t d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/* Size of the serialized head (start line, header lines, blank line) if a
 * header line of `extra` bytes (with its LF) was added, and the number of
 * header lines in *ret_lines. Mirrors ncm_serialize(). */
static size_t head_size(const struct ncm_msg *m, size_t extra, size_t *ret_lines)
{
	size_t n = start_line_len(m) + 1 + extra + 1, lines = extra > 0;
	bool cl = false;

	for (size_t i = 0; i < m->n_headers; i++) {
		const struct ncm_header *h = &m->headers[i];

		if (name_is(h->name, CONTENT_LENGTH)) {
			if (cl)
				continue;
			cl = true;
			n += strlen(CONTENT_LENGTH) + 1 + digits(m->body_len) + 1;
		} else {
			n += strlen(h->name) + 1 + strlen(h->value) + 1;
		}
		lines++;
	}
	if (!cl && (m->body || m->body_len > 0)) {
		n += strlen(CONTENT_LENGTH) + 1 + digits(m->body_len) + 1;
		lines++;
	}
	*ret_lines = lines;
	return n;
}

/* Checks a header and makes its trimmed, lower-case copies. */
static int make_header(const char *name, const char *value, struct ncm_header *ret)
{
	_cleanup_free_ char *n = NULL, *v = NULL;
	size_t vl;

	if (!valid_name(name) || !value)
		return -EINVAL;
	while (is_blank((unsigned char)*value))
		value++;
	vl = strlen(value);
	while (vl > 0 && is_blank((unsigned char)value[vl - 1]))
		vl--;
	if (strlen(name) + 1 + vl > NCM_MAX_LINE)
		return -EINVAL;
	n = strdup(name);
	v = strndup(value, vl);
	if (!n || !v)
		return -ENOMEM;
	if (!valid_text(v, NCM_MAX_LINE))
		return -EINVAL;
	for (char *p = n; *p; p++)
		*p = to_lower((unsigned char)*p);
	ret->name = TAKE_PTR(n);
	ret->value = TAKE_PTR(v);
	return 0;
}

static void header_done(struct ncm_header *h)
{
	free(h->name);
	free(h->value);
	*h = (struct ncm_header){0};
}

/* Appends or replaces (`replace`) a header; content-length allowed only from
 * ncm_set_body(). */
static int put_header(struct ncm_msg *m, const char *name, const char *value, bool replace,
                      bool internal)
{
	struct ncm_header h = {0}, *a;
	size_t first = SIZE_MAX, lines, extra;
	int r;

	if (!m)
		return -EINVAL;
	r = make_header(name, value, &h);
	if (r < 0)
		return r;
	if (!internal && name_is(h.name, CONTENT_LENGTH)) {
		header_done(&h);
		return -EINVAL;
	}
	if (replace)
		for (size_t i = 0; i < m->n_headers && first == SIZE_MAX; i++)
			if (name_is(m->headers[i].name, h.name))
				first = i;
	if (first != SIZE_MAX) {
		/* Replacing: the size check counts the new value instead of the old. */
		char *old = m->headers[first].value;
		size_t sz;

		m->headers[first].value = h.value;
		sz = head_size(m, 0, &lines);
		m->headers[first].value = old;
		if (sz > NCM_MAX_MESSAGE) {
			header_done(&h);
			return -EMSGSIZE;
		}
		free(m->headers[first].value);
		m->headers[first].value = h.value;
		free(h.name);
		for (size_t i = m->n_headers; i-- > first + 1;)
			if (name_is(m->headers[i].name, m->headers[first].name)) {
				header_done(&m->headers[i]);
				memmove(&m->headers[i], &m->headers[i + 1],
				        (m->n_headers - i - 1) * sizeof(*m->headers));
				m->n_headers--;
			}
		return 0;
	}
	/* A body without content-length is already counted with one (see
	 * head_size), so ncm_set_body() adds no line of its own. */
	extra = internal && name_is(h.name, CONTENT_LENGTH)
	                ? 0
	                : strlen(h.name) + 1 + strlen(h.value) + 1;
	if (head_size(m, extra, &lines) > NCM_MAX_MESSAGE || lines > NCM_MAX_HEADERS) {
		header_done(&h);
		return -EMSGSIZE;
	}
	a = realloc(m->headers, (m->n_headers + 1) * sizeof(*a));
	if (!a) {
		header_done(&h);
		return -ENOMEM;
	}
	m->headers = a;
	m->headers[m->n_headers++] = h;
	return 0;
}

int ncm_add(struct ncm_msg *m, const char *name, const char *value)
{
	return put_header(m, name, value, false, false);
}

int ncm_addf(struct ncm_msg *m, const char *name, const char *fmt, ...)
{
	_cleanup_free_ char *v = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (r < 0) {
		v = NULL;
		return -ENOMEM;
	}
	return ncm_add(m, name, v);
}

int ncm_set(struct ncm_msg *m, const char *name, const char *value)
{
	return put_header(m, name, value, true, false);
}

size_t ncm_del(struct ncm_msg *m, const char *name)
{
	size_t j = 0, removed = 0;

	if (!m || !name)
		return 0;
	for (size_t i = 0; i < m->n_headers; i++) {
		if (name_is(m->headers[i].name, name)) {
			header_done(&m->headers[i]);
			removed++;
		} else {
			m->headers[j++] = m->headers[i];
		}
	}
	m->n_headers = j;
	return removed;
}

/* Sets the body; body NULL with len 0 removes the body and its content-length. */
int ncm_set_body(struct ncm_msg *m, const char *body, size_t len)
{
	_cleanup_free_ char *b = NULL, *old = NULL;
	size_t old_len;
	char cl[32];
	int r;

	if (!m || (!body && len > 0))
		return -EINVAL;
	if (!body) {
		free(m->body);
		m->body = NULL;
		m->body_len = 0;
		ncm_del(m, CONTENT_LENGTH);
		return 0;
	}
	if (len > NCM_MAX_BODY)
		return -EMSGSIZE;
	b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b, body, len);
	b[len] = '\0';
	/* Swap first so that the size check sees the new length; undo on failure. */
	old = m->body;
	old_len = m->body_len;
	m->body = TAKE_PTR(b);
	m->body_len = len;
	snprintf(cl, sizeof(cl), "%zu", len);
	r = put_header(m, CONTENT_LENGTH, cl, true, true);
	if (r < 0) {
		b = m->body;
		m->body = TAKE_PTR(old);
		m->body_len = old_len;
	}
	return r;
}

/* ---- Serializing ------------------------------------------------------------- */

/* An output buffer; with p == NULL it only counts. */
struct out {
	char *p;
	size_t n;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->p && n > 0)
		memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_header_line(struct out *o, const char *name, const char *value)
{
	puts_(o, name);
	put(o, ":", 1);
	puts_(o, value);
	put(o, "\n", 1);
}

static void put_start_line(struct out *o, const struct ncm_msg *m)
{
	char code[8];

	if (m->method != NCM_METHOD_NONE) {
		puts_(o, ncm_method_name(m->method));
		put(o, " ", 1);
		puts_(o, m->target);
		put(o, " " NCM_VERSION "\n", strlen(NCM_VERSION) + 2);
		return;
	}
	snprintf(code, sizeof(code), " %03d", m->code);
	puts_(o, NCM_VERSION);
	puts_(o, code);
	if (m->reason && *m->reason) {
		put(o, " ", 1);
		puts_(o, m->reason);
	}
	put(o, "\n", 1);
}

/* Checks what a caller may have changed directly in the struct. */
static int check_msg(const struct ncm_msg *m)
{
	if (!m)
		return -EINVAL;
	if (m->method != NCM_METHOD_NONE) {
		if (!ncm_method_name(m->method) || !valid_target(m->target))
			return -EINVAL;
	} else if (m->code < 100 || m->code > 599 ||
	           (m->reason && !valid_text(m->reason, MAX_REASON))) {
		return -EINVAL;
	}
	if (m->n_headers > 0 && !m->headers)
		return -EINVAL;
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct ncm_header *h = &m->headers[i];

		if (!valid_name(h->name) || !valid_text(h->value, NCM_MAX_LINE) ||
		    strlen(h->name) + 1 + strlen(h->value) > NCM_MAX_LINE)
			return -EINVAL;
	}
	if (m->body_len > NCM_MAX_BODY || (m->body_len > 0 && !m->body))
		return -EMSGSIZE;
	return 0;
}

static void put_message(struct out *o, const struct ncm_msg *m)
{
	bool cl = false;
	char num[32];

	snprintf(num, sizeof(num), "%zu", m->body_len);
	put_start_line(o, m);
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct ncm_header *h = &m->headers[i];

		if (!name_is(h->name, CONTENT_LENGTH)) {
			put_header_line(o, h->name, h->value);
		} else if (!cl) {
			put_header_line(o, CONTENT_LENGTH, num);
			cl = true;
		}
	}
	if (!cl && (m->body || m->body_len > 0)) {
		put_header_line(o, CONTENT_LENGTH, num);
		cl = true;
	}
	put(o, "\n", 1);
	if (cl)
		put(o, m->body, m->body_len);
}

int ncm_serialize(const struct ncm_msg *m, char **ret, size_t *ret_len)
{
	struct out o = {0};
	size_t lines;
	int r;

	if (!ret || !ret_len)
		return -EINVAL;
	r = check_msg(m);
	if (r < 0)
		return r;
	if (head_size(m, 0, &lines) > NCM_MAX_MESSAGE || lines > NCM_MAX_HEADERS)
		return -EMSGSIZE;
	put_message(&o, m);
	o.p = malloc(o.n + 1);
	if (!o.p)
		return -ENOMEM;
	o.n = 0;
	put_message(&o, m);
	o.p[o.n] = '\0';
	*ret = o.p;
	*ret_len = o.n;
	return 0;
}

static bool canonical_skip(const struct ncm_header *h)
{
	return h->value[0] == '\0' || name_is(h->name, "signature");
}

static void put_canonical(struct out *o, const struct ncm_msg *m, const size_t *order, size_t n)
{
	put_start_line(o, m);
	for (size_t i = 0; i < n; i++)
		put_header_line(o, m->headers[order[i]].name, m->headers[order[i]].value);
	put(o, "\n", 1);
}

int ncm_canonical(const struct ncm_msg *m, char **ret, size_t *ret_len)
{
	_cleanup_free_ size_t *order = NULL;
	struct out o = {0};
	size_t n = 0;
	int r;

	if (!ret || !ret_len)
		return -EINVAL;
	r = check_msg(m);
	if (r < 0)
		return r;
	if (m->n_headers > 0) {
		order = calloc(m->n_headers, sizeof(*order));
		if (!order)
			return -ENOMEM;
	}
	/* Stable insertion sort by name: equal names keep message order. */
	for (size_t i = 0; i < m->n_headers; i++) {
		size_t j;

		if (canonical_skip(&m->headers[i]))
			continue;
		for (j = n; j > 0 && strcmp(m->headers[order[j - 1]].name, m->headers[i].name) > 0;
		     j--)
			order[j] = order[j - 1];
		order[j] = i;
		n++;
	}
	put_canonical(&o, m, order, n);
	o.p = malloc(o.n + 1);
	if (!o.p)
		return -ENOMEM;
	o.n = 0;
	put_canonical(&o, m, order, n);
	o.p[o.n] = '\0';
	*ret = o.p;
	*ret_len = o.n;
	return 0;
}
