/* Publisher keys and NCM signatures (see auth.h). */
#include "policy/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/util.h"
#include "policy/policy.h"

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

int auth_keygen(uint8_t pk[AUTH_PUBLIC_LEN], uint8_t sk[AUTH_SECRET_LEN])
{
	if (auth_init() < 0)
		return -EIO;
	return crypto_sign_keypair(pk, sk) == 0 ? 0 : -EIO;
}

static int format_key(const char *tag, const uint8_t *key, size_t keylen, const char *comment,
                      char *buf, size_t len)
{
	char b64[sodium_base64_ENCODED_LEN(AUTH_SECRET_LEN, sodium_base64_VARIANT_ORIGINAL)];
	if (comment)
		for (const char *p = comment; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return -EINVAL;
	sodium_bin2base64(b64, sizeof(b64), key, keylen, sodium_base64_VARIANT_ORIGINAL);
	int n = snprintf(buf, len, "%s %s%s%s\n", tag, b64, comment && *comment ? " " : "",
	                 comment ? comment : "");
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int auth_format_public(const uint8_t pk[AUTH_PUBLIC_LEN], const char *comment, char *buf,
                       size_t len)
{
	return format_key(AUTH_PUBLIC_TAG, pk, AUTH_PUBLIC_LEN, comment, buf, len);
}

int auth_format_secret(const uint8_t sk[AUTH_SECRET_LEN], char *buf, size_t len)
{
	return format_key(AUTH_SECRET_TAG, sk, AUTH_SECRET_LEN, NULL, buf, len);
}

/* Finds the first line that is not blank or a comment and decodes
 * "<tag> <base64>[ comment]" into key (exactly keylen bytes). */
static int parse_key(const char *text, const char *tag, uint8_t *key, size_t keylen, char *err,
                     size_t errlen)
{
	const char *line = text;
	while (*line) {
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '#' && *p != '\n' && *p != '\r' && *p)
			break;
		const char *nl = strchr(line, '\n');
		line = nl ? nl + 1 : line + strlen(line);
	}
	while (*line == ' ' || *line == '\t')
		line++;
	size_t taglen = strlen(tag);
	if (strncmp(line, tag, taglen) != 0 || (line[taglen] != ' ' && line[taglen] != '\t'))
		return err_set(err, errlen, -EINVAL, "not a %s key (want a line '%s <base64>')",
		               strstr(tag, "public") ? "public" : "secret", tag);
	const char *b = line + taglen;
	while (*b == ' ' || *b == '\t')
		b++;
	size_t blen = strcspn(b, " \t\r\n");
	uint8_t buf[AUTH_SECRET_LEN + 8];
	size_t got = 0;
	if (blen == 0 ||
	    sodium_base642bin(buf, sizeof(buf), b, blen, NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != keylen) {
		sodium_memzero(buf, sizeof(buf));
		return err_set(err, errlen, -EINVAL, "key is not base64 of %zu bytes", keylen);
	}
	memcpy(key, buf, keylen);
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

int auth_parse_public(const char *text, uint8_t pk[AUTH_PUBLIC_LEN], char *err, size_t errlen)
{
	return parse_key(text, AUTH_PUBLIC_TAG, pk, AUTH_PUBLIC_LEN, err, errlen);
}

int auth_parse_secret(const char *text, uint8_t sk[AUTH_SECRET_LEN], char *err, size_t errlen)
{
	return parse_key(text, AUTH_SECRET_TAG, sk, AUTH_SECRET_LEN, err, errlen);
}

/* Reads a small text file (at most 4 KiB) into buf. */
static int read_small(const char *path, bool secret, char *buf, size_t len, char *err,
                      size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, errlen, -EINVAL, "%s: not a regular file", path);
	if (secret && (st.st_mode & 077))
		return err_set(err, errlen, -EPERM,
		               "%s: a secret key must not be readable by others (mode %04o; chmod "
		               "600)",
		               path, (unsigned)(st.st_mode & 07777));
	size_t off = 0;
	while (off < len - 1) {
		ssize_t n = read(fd, buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
		if (n == 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	return 0;
}

int auth_load_public(const char *path, uint8_t pk[AUTH_PUBLIC_LEN], char *err, size_t errlen)
{
	char text[4096];
	int r = read_small(path, false, text, sizeof(text), err, errlen);
	if (r < 0)
		return r;
	char why[160];
	r = auth_parse_public(text, pk, why, sizeof(why));
	return r < 0 ? err_set(err, errlen, r, "%s: %s", path, why) : 0;
}

int auth_load_secret(const char *path, uint8_t sk[AUTH_SECRET_LEN], char *err, size_t errlen)
{
	char text[4096];
	int r = read_small(path, true, text, sizeof(text), err, errlen);
	if (r < 0)
		return r;
	char why[160];
	r = auth_parse_secret(text, sk, why, sizeof(why));
	sodium_memzero(text, sizeof(text));
	return r < 0 ? err_set(err, errlen, r, "%s: %s", path, why) : 0;
}

int auth_write_file(const char *path, const char *text, unsigned mode, char *err, size_t errlen)
{
	_cleanup_close_ int fd =
	        open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);
	if (fd < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	/* The umask must not widen nor narrow what was asked. */
	if (fchmod(fd, (mode_t)mode) < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	size_t len = strlen(text);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			unlink(path);
			return err_set(err, errlen, r, "%s: %s", path, strerror(-r));
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0)
		return err_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	return 0;
}

void auth_nonce(char *buf)
{
	uint8_t raw[16];
	char b64[sodium_base64_ENCODED_LEN(16, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	memcpy(buf, b64, AUTH_NONCE_LEN);
	buf[AUTH_NONCE_LEN] = '\0';
}

int auth_sign(struct ncm_msg *m, const uint8_t sk[AUTH_SECRET_LEN], const char *to,
              int64_t timestamp, const char *nonce, char *err, size_t errlen)
{
	if (auth_init() < 0)
		return err_set(err, errlen, -EIO, "libsodium failed to initialize");
	if (m->method == NCM_METHOD_NONE)
		return err_set(err, errlen, -EINVAL, "a response cannot be signed");
	struct ncm_prefix where;
	if (to && (ncm_prefix_parse(to, &where) < 0 || where.family == 0))
		return err_set(err, errlen, -EINVAL, "%s: '%.64s' is not an address or a prefix",
		               AUTH_BINDING_HEADER, to);
	char fresh[AUTH_NONCE_LEN + 1], ts[24];
	if (!nonce) {
		auth_nonce(fresh);
		nonce = fresh;
	}
	if (timestamp < 0)
		timestamp = (int64_t)time(NULL);
	snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
	ncm_del(m, "signature");
	int r = to && !ncm_get(m, AUTH_BINDING_HEADER) ? ncm_add(m, AUTH_BINDING_HEADER, to) : 0;
	if (r < 0)
		return err_set(err, errlen, r, "cannot add %s: %s", AUTH_BINDING_HEADER,
		               strerror(-r));
	r = ncm_set(m, "timestamp", ts);
	if (r >= 0)
		r = ncm_set(m, "nonce", nonce);
	if (r < 0)
		return err_set(err, errlen, r, "cannot set timestamp and nonce: %s", strerror(-r));
	char *canon = NULL;
	size_t len = 0;
	r = ncm_canonical(m, &canon, &len);
	if (r < 0)
		return err_set(err, errlen, r, "cannot build the canonical form: %s", strerror(-r));
	uint8_t sig[AUTH_SIG_LEN];
	crypto_sign_detached(sig, NULL, (const unsigned char *)canon, len, sk);
	free(canon);
	char b64[sodium_base64_ENCODED_LEN(AUTH_SIG_LEN, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	r = ncm_add(m, "signature", b64);
	return r < 0 ? err_set(err, errlen, r, "cannot add the signature") : 0;
}

int auth_verify(const struct ncm_msg *m, const uint8_t pk[AUTH_PUBLIC_LEN], char *err,
                size_t errlen)
{
	if (auth_init() < 0)
		return err_set(err, errlen, -EIO, "libsodium failed to initialize");
	const char *s = ncm_get(m, "signature");
	if (!s || !*s)
		return err_set(err, errlen, -ENOKEY, "the request is not signed");
	uint8_t sig[AUTH_SIG_LEN + 8];
	size_t got = 0;
	if (sodium_base642bin(sig, sizeof(sig), s, strlen(s), NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != AUTH_SIG_LEN)
		return err_set(err, errlen, -EBADMSG,
		               "header 'signature': want base64 of a 64-byte Ed25519 signature");
	char *canon = NULL;
	size_t len = 0;
	int r = ncm_canonical(m, &canon, &len);
	if (r < 0)
		return err_set(err, errlen, r, "cannot build the canonical form: %s", strerror(-r));
	r = crypto_sign_verify_detached(sig, (const unsigned char *)canon, len, pk);
	free(canon);
	if (r != 0)
		return err_set(err, errlen, -EACCES, "signature does not verify");
	return 0;
}

int auth_check_binding(const struct ncm_msg *m, const struct ncm_prefix *dst, char *err,
                       size_t errlen)
{
	const char *to = ncm_get(m, AUTH_BINDING_HEADER);
	char want[64], got[64];
	struct ncm_prefix bound;

	if (!dst)
		return 0;
	if (!to || !*to)
		return err_set(
		        err, errlen, -ENOENT,
		        "the signature is not bound to a destination (no " AUTH_BINDING_HEADER
		        " header)");
	if (ncm_prefix_parse(to, &bound) < 0 || bound.family == 0)
		return err_set(err, errlen, -EINVAL,
		               "header '" AUTH_BINDING_HEADER
		               "': want an address or prefix, not '%.64s'",
		               to);
	ncm_prefix_format(&bound, want, sizeof(want));
	ncm_prefix_format(dst, got, sizeof(got));
	if (!policy_prefix_within(dst, &bound))
		return err_set(
		        err, errlen, -EPERM,
		        "signed for %s toward %s, but it arrived on a path toward %s (a request "
		        "re-aimed at other users?)",
		        AUTH_BINDING_HEADER, want, got);
	return 0;
}
