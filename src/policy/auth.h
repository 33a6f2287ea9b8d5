/* Publisher keys and NCM signatures (Ed25519, libsodium).
 *
 * A publisher signs the canonical form of a request (ncm_canonical(): the
 * start line and every non-empty header but `signature`, sorted) after adding
 * a `timestamp` (unix seconds) and a fresh `nonce`; the base64 signature goes
 * in the `signature` header. A node holds each publisher's public key in
 * <keys_dir>/<user>.pub and verifies the signature before it acts.
 *
 * Key files are one line of text (docs/security.md):
 *   <user>.pub   "netserv-ed25519-public <base64, 32 bytes>[ comment]"
 *   <name>.key   "netserv-ed25519-secret <base64, 64 bytes>"   (mode 0600)
 * Lines that start with '#' and blank lines are ignored.
 *
 * Pure functions: no logging; errors are a negative errno with a one-line
 * reason in the caller's err buffer (may be NULL). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

#define AUTH_PUBLIC_LEN 32
#define AUTH_SECRET_LEN 64
#define AUTH_SIG_LEN    64
#define AUTH_PUBLIC_TAG "netserv-ed25519-public"
#define AUTH_SECRET_TAG "netserv-ed25519-secret"
#define AUTH_KEY_TEXT   256 /* room for either key file's text */
#define AUTH_NONCE_LEN  22  /* 16 random bytes, base64url without padding */
/* The signed header naming where a request may act: the address or prefix
 * of the users it signals toward (the flow destination of its GIST MRI). */
#define AUTH_BINDING_HEADER "signal-to"

/* Initializes libsodium (idempotent). Returns 0 or -EIO. */
int auth_init(void);

/* Makes a new key pair. Returns 0 or -EIO. */
int auth_keygen(uint8_t pk[AUTH_PUBLIC_LEN], uint8_t sk[AUTH_SECRET_LEN]);

/* Formats a key as its file's text (one line, ending in LF) into buf, which
 * needs AUTH_KEY_TEXT bytes. comment may be NULL; it must not contain control
 * characters. Returns the length or -ENOSPC/-EINVAL. */
int auth_format_public(const uint8_t pk[AUTH_PUBLIC_LEN], const char *comment, char *buf,
                       size_t len);
int auth_format_secret(const uint8_t sk[AUTH_SECRET_LEN], char *buf, size_t len);

/* Parses a key file's text. Returns 0, or -EINVAL with the reason in err. */
int auth_parse_public(const char *text, uint8_t pk[AUTH_PUBLIC_LEN], char *err, size_t errlen);
int auth_parse_secret(const char *text, uint8_t sk[AUTH_SECRET_LEN], char *err, size_t errlen);

/* Reads and parses a key file. A secret key file must not be readable by
 * group or others (-EPERM otherwise). Returns 0 or a negative errno
 * (-ENOENT when the file does not exist) with the reason in err. */
int auth_load_public(const char *path, uint8_t pk[AUTH_PUBLIC_LEN], char *err, size_t errlen);
int auth_load_secret(const char *path, uint8_t sk[AUTH_SECRET_LEN], char *err, size_t errlen);

/* Writes a new file with `mode` holding text; fails with -EEXIST if the file
 * exists. Returns 0 or a negative errno with the reason in err. */
int auth_write_file(const char *path, const char *text, unsigned mode, char *err, size_t errlen);

/* Writes a fresh random nonce (AUTH_NONCE_LEN characters of [A-Za-z0-9_-]
 * and a NUL) into buf (at least AUTH_NONCE_LEN + 1 bytes). */
void auth_nonce(char *buf);

/* Signs a request in place: binds it to `to` (when not NULL: the address or
 * prefix it signals toward becomes its signal-to header, unless it names one
 * already), sets `timestamp` (now when timestamp < 0) and `nonce` (a fresh one
 * when nonce is NULL), drops any `signature`, and adds the signature over the
 * canonical form. Returns 0, -EINVAL if `to` is not an address or prefix, or
 * another negative errno; the reason is in err. */
int auth_sign(struct ncm_msg *m, const uint8_t sk[AUTH_SECRET_LEN], const char *to,
              int64_t timestamp, const char *nonce, char *err, size_t errlen);

/* Verifies a request's `signature` header against pk. Returns 0; -ENOKEY if
 * there is no signature; -EBADMSG if it is not base64 of 64 bytes; -EACCES if
 * it does not verify. The reason is in err. */
int auth_verify(const struct ncm_msg *m, const uint8_t pk[AUTH_PUBLIC_LEN], char *err,
                size_t errlen);

/* Checks that a (verified) request may act where it arrived: dst is the flow
 * destination of the GIST MRI that carried it (NULL: it came by no path, e.g.
 * the admin socket: 0). Its signal-to header must hold dst (an address or a
 * prefix at least as long). Returns 0; -ENOENT if there is no signal-to (an
 * unbound signature); -EINVAL if it is not a prefix; -EPERM if dst lies
 * outside it. The reason is in err. */
int auth_check_binding(const struct ncm_msg *m, const struct ncm_prefix *dst, char *err,
                       size_t errlen);
