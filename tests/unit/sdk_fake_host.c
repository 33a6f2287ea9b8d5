/* sdk_fake_host.c: the module imports for native builds of the SDK
 * (sdk_fake_host.h). */
#include "sdk_fake_host.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <netserv.h>

static const char *const *props;

void fake_host_props(const char *const *kv)
{
	props = kv;
}

void ns_import_log(uint32_t level, const char *msg, uint32_t len)
{
	fprintf(stderr, "module log %u: %.*s\n", level, (int)len, msg);
}

uint64_t ns_import_clock_ns(void)
{
	return 1;
}

uint64_t ns_import_time_ms(void)
{
	return 1;
}

int32_t ns_import_timer_set(uint32_t id, uint32_t delay_ms, uint32_t periodic)
{
	(void)id, (void)delay_ms, (void)periodic;
	return 0;
}

int32_t ns_import_timer_cancel(uint32_t id)
{
	(void)id;
	return -NS_ENOENT;
}

/* As the node: copies the value (no NUL) if it fits in cap bytes. */
int32_t ns_import_prop_get(const char *key, uint32_t key_len, char *buf, uint32_t cap)
{
	for (size_t i = 0; props && props[i]; i += 2) {
		if (strlen(props[i]) != key_len || memcmp(props[i], key, key_len) != 0)
			continue;
		size_t n = strlen(props[i + 1]);
		if (n > cap)
			return -NS_ENOSPC;
		memcpy(buf, props[i + 1], n);
		return (int32_t)n;
	}
	return -NS_ENOENT;
}

int32_t ns_import_counter_id(const char *name, uint32_t len)
{
	(void)name;
	return len ? 0 : -NS_EINVAL;
}

void ns_import_counter_add(uint32_t id, uint64_t delta)
{
	(void)id, (void)delta;
}

int32_t ns_import_pkt_set_len(uint32_t len)
{
	(void)len;
	return -NS_EINVAL;
}

int32_t ns_import_pkt_meta(struct ns_pkt_meta *meta)
{
	(void)meta;
	return -NS_EINVAL;
}

int32_t ns_import_send_udp(uint32_t family, const void *addr, uint32_t dport, uint32_t sport,
                           const void *data, uint32_t len)
{
	(void)family, (void)addr, (void)dport, (void)sport, (void)data, (void)len;
	return -NS_EPERM;
}

int32_t ns_import_send_packet(const void *data, uint32_t len)
{
	(void)data, (void)len;
	return -NS_EPERM;
}

/* crypto/1 as the node computes it (src/container/host_crypto.c), with
 * OpenSSL's libcrypto: the STUN codec's tests (test_stun.c) check
 * MESSAGE-INTEGRITY against RFC 5769 with it. */
static const EVP_MD *fake_md(uint32_t alg)
{
	switch (alg) {
	case NS_MD5:
		return EVP_md5();
	case NS_SHA1:
		return EVP_sha1();
	case NS_SHA256:
		return EVP_sha256();
	case NS_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

int32_t ns_import_hash(uint32_t alg, const void *data, uint32_t len, void *out)
{
	const EVP_MD *md = fake_md(alg);
	uint8_t tmp[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!md || !EVP_Digest(data, len, tmp, &n, md, NULL))
		return -NS_EINVAL;
	memcpy(out, tmp, n);
	return (int32_t)n;
}

int32_t ns_import_hmac(uint32_t alg, const void *key, uint32_t key_len, const void *data,
                       uint32_t len, void *out)
{
	const EVP_MD *md = fake_md(alg);
	uint8_t tmp[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!md || !HMAC(md, key, (int)key_len, data, len, tmp, &n))
		return -NS_EINVAL;
	memcpy(out, tmp, n);
	return (int32_t)n;
}

int32_t ns_import_ct_equal(const void *a, const void *b, uint32_t len)
{
	const uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (uint32_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}
