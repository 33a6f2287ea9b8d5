/* libFuzzer target for netserv-origin's request parsing
 * (src/origin/http_parse.c): the Range header, the path it serves, and the
 * path encoded for a Location header.
 *
 * The input is "RANGE\nPATH": the Range value is parsed against several
 * object sizes (a range accepted must lie inside the object); the path, if
 * accepted, must be absolute with no ".", ".." or empty component and no
 * control byte; its encoding must use only unreserved characters, "/" and
 * %XX, and decode back to the path. Any disagreement aborts.
 *
 * Seed corpus: tests/fuzz/corpus/origin_http/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_origin_http: %s\n", what);
		abort();
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void check_path(const char *p)
{
	if (!origin_path_ok(p))
		return;
	check(p[0] == '/', "accepted a relative path");
	for (const char *s = p; *s; s++)
		check((unsigned char)*s >= 0x20 && *s != 0x7f, "accepted a control byte");
	const char *c = p + 1;
	for (;;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		check(!(n == 1 && c[0] == '.'), "accepted a . component");
		check(!(n == 2 && c[0] == '.' && c[1] == '.'), "accepted a .. component");
		check(n > 0 || !e, "accepted an empty component");
		if (!e)
			break;
		c = e + 1;
	}
	size_t cap = 3 * strlen(p) + 8;
	char *enc = malloc(cap), *dec = malloc(strlen(p) + 1);
	check(enc && dec, "out of memory");
	check(origin_encode_path(p, enc, cap), "encoding did not fit in 3x + 8");
	size_t n = 0;
	for (const char *s = enc; *s; s++) {
		if (*s == '%') {
			int h = hexval(s[1]), l = h >= 0 ? hexval(s[2]) : -1;
			check(h >= 0 && l >= 0, "a bad %XX in the encoding");
			dec[n++] = (char)(h * 16 + l);
			s += 2;
		} else {
			check(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678"
			             "9/-._~",
			             *s) != NULL,
			      "a reserved character left unencoded");
			dec[n++] = *s;
		}
	}
	dec[n] = '\0';
	check(strcmp(dec, p) == 0, "the encoding does not decode to the path");
	/* a buffer too small is refused, never overrun */
	char small[4];
	if (strlen(enc) >= sizeof(small))
		check(!origin_encode_path(p, small, sizeof(small)), "a too small buffer taken");
	free(enc);
	free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	char *nl = strchr(in, '\n');
	const char *path = nl ? nl + 1 : "";
	if (nl)
		*nl = '\0';
	static const uint64_t sizes[] = {0, 1, 100, 20971520, 1ull << 32, UINT64_MAX};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t first = 7, last = 7;
		int r = origin_parse_range(in, sizes[i], &first, &last);
		check(r >= -1 && r <= 1, "parse_range result out of range");
		if (r == 1)
			check(first <= last && last < sizes[i], "a range outside the object");
	}
	check_path(path);
	free(in);
	return 0;
}
