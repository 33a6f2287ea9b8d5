/* The escape of property values in an NCM `properties:` header
 * (docs/protocol.md): a value may carry any byte but NUL once `\,` stands
 * for a comma, `\\` for a backslash and `\xHH` (two hex digits) for any
 * other byte (a CR, an LF, a blank at either end). */
#include "ncm/ncm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ncm_prop_unescape(const char *s, size_t n, char **ret)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[o++] = s[i];
			continue;
		}
		if (i + 1 < n && (s[i + 1] == ',' || s[i + 1] == '\\')) {
			out[o++] = s[++i];
			continue;
		}
		if (i + 3 < n && s[i + 1] == 'x') {
			int hi = hex_digit(s[i + 2]), lo = hex_digit(s[i + 3]);
			if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
				out[o++] = (char)(hi << 4 | lo);
				i += 3;
				continue;
			}
		}
		free(out);
		return -EBADMSG; /* a lone backslash, an unknown escape, \x00 */
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

int ncm_prop_escape(const char *value, char *buf, size_t cap)
{
	size_t n = strlen(value), o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];
		char tmp[5];
		size_t k;
		bool edge_blank = (c == ' ' || c == '\t') && (i == 0 || i == n - 1);

		if (c == ',' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			k = 2;
		} else if (c < 0x20 || c == 0x7f || edge_blank) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			k = 4;
		} else {
			tmp[0] = (char)c;
			k = 1;
		}
		if (o + k >= cap)
			return -ENOSPC;
		memcpy(buf + o, tmp, k);
		o += k;
	}
	if (o >= cap)
		return -ENOSPC;
	buf[o] = '\0';
	return (int)o;
}
