/* The origin's own parsing of requests (the rest is libmicrohttpd's): the
 * path it serves, a Range header, and a path encoded for a Location header.
 * Pure functions, fuzzed by tests/fuzz/fuzz_origin_http.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin/http_parse.h"

/* A path is served when it is absolute, without "." or ".." components or
 * empty ones, and without control bytes. */
bool origin_path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	for (const char *s = p + 1;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if ((n == 0 && e) || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!e)
			return true;
		s = e + 1;
	}
}

/* Percent-encodes path for a Location header (keeps / and unreserved). */
bool origin_encode_path(const char *p, char *out, size_t cap)
{
	size_t n = 0;
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		            (ch >= '0' && ch <= '9') || strchr("/-._~", ch);
		if (n + 4 >= cap)
			return false;
		if (keep)
			out[n++] = (char)ch;
		else
			n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
	}
	out[n] = '\0';
	return true;
}

/* Parses one range "bytes=a-b", "bytes=a-", "bytes=-n" against size into
 * [*first, *last]. Returns 1 for a range, 0 to send the whole (no header, a
 * multi-range or malformed one: RFC 9110 lets a server ignore it), -1 if
 * unsatisfiable. */
int origin_parse_range(const char *v, uint64_t size, uint64_t *first, uint64_t *last)
{
	const char *p = v;
	char *end;
	if (!v || strncmp(p, "bytes=", 6) != 0 || strchr(p, ','))
		return 0;
	p += 6;
	if (*p == '-') {
		if (p[1] < '0' || p[1] > '9')
			return 0;
		errno = 0;
		unsigned long long n = strtoull(p + 1, &end, 10);
		if (*end || errno)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		*first = n >= size ? 0 : size - n;
		*last = size - 1;
		return 1;
	}
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	unsigned long long a = strtoull(p, &end, 10), b = UINT64_MAX;
	if (errno || *end != '-')
		return 0;
	p = end + 1;
	if (*p) {
		if (*p < '0' || *p > '9')
			return 0;
		b = strtoull(p, &end, 10);
		if (*end || errno || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	*first = a;
	*last = b >= size ? size - 1 : b;
	return 1;
}
