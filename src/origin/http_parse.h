/* netserv-origin's request parsing (src/origin/http_parse.c). */
#ifndef NETSERV_ORIGIN_HTTP_PARSE_H
#define NETSERV_ORIGIN_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when path may be served: absolute, without ".", ".." or empty
 * components, without control bytes. */
bool origin_path_ok(const char *p);

/* Percent-encodes path p into out (cap bytes) for a Location header, keeping
 * "/" and RFC 3986's unreserved characters. False if it does not fit. */
bool origin_encode_path(const char *p, char *out, size_t cap);

/* Parses a Range header value v (NULL: none) against an object of size
 * bytes. Returns 1 with [*first, *last] for one satisfiable range, 0 to send
 * the whole object (none, several, or malformed: RFC 9110 lets a server
 * ignore it), -1 if unsatisfiable (416). */
int origin_parse_range(const char *v, uint64_t size, uint64_t *first, uint64_t *last);

#endif /* NETSERV_ORIGIN_HTTP_PARSE_H */
