/* crypto/1: the hash, HMAC and comparison imports (abi/host_api.h), with
 * OpenSSL's libcrypto. Every pointer and length is checked against the
 * module's memory (a bad one traps). */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "container/host_crypto.h"
#include "container/modhost_internal.h"

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_IMPORTS_CRYPTO(DECLARE_IMPORT)

/* The digest of an enum ns_hash_alg, or NULL. */
static const EVP_MD *hash_md(uint32_t alg)
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

int host_crypto_init(void)
{
	/* OpenSSL loads its configuration and algorithm tables on first use:
	 * done here, before the sandbox closes the node's files. */
	uint8_t out[EVP_MAX_MD_SIZE];
	unsigned int n;
	for (uint32_t alg = NS_MD5; alg <= NS_SHA512; alg++) {
		if (!EVP_Digest("", 0, out, &n, hash_md(alg), NULL) ||
		    !HMAC(hash_md(alg), "k", 1, (const uint8_t *)"", 0, out, &n))
			return -EIO;
	}
	return 0;
}

int host_hash(uint32_t alg, const void *data, size_t len, uint8_t out[NS_HASH_MAX])
{
	const EVP_MD *md = hash_md(alg);
	unsigned int n = 0;
	if (!md)
		return -EINVAL;
	if (!EVP_Digest(data, len, out, &n, md, NULL))
		return -EIO;
	return (int)n;
}

int host_hmac(uint32_t alg, const void *key, size_t key_len, const void *data, size_t len,
              uint8_t out[NS_HASH_MAX])
{
	const EVP_MD *md = hash_md(alg);
	unsigned int n = 0;
	if (!md || key_len > INT32_MAX)
		return -EINVAL;
	/* HMAC() takes NULL data as "no data": give it a valid pointer. */
	if (!HMAC(md, key_len ? key : "", (int)key_len, len ? data : (const void *)"", len, out,
	          &n))
		return -EIO;
	return (int)n;
}

u32 Z_netservZ_ns_hash(struct Z_netserv_instance_t *ctx, u32 alg, u32 data, u32 len, u32 out)
{
	IMPORT_BEGIN(ctx);
	const EVP_MD *md = hash_md(alg);
	if (!md)
		IMPORT_RETURN(-EINVAL);
	const uint8_t *p = mem_at(m, data, len);
	uint8_t *o = mem_at(m, out, (uint32_t)EVP_MD_get_size(md));
	uint8_t d[NS_HASH_MAX];
	int n = host_hash(alg, p, len, d);
	if (n > 0)
		memcpy(o, d, (size_t)n);
	IMPORT_RETURN(n);
}

u32 Z_netservZ_ns_hmac(struct Z_netserv_instance_t *ctx, u32 alg, u32 key, u32 key_len, u32 data,
                       u32 len, u32 out)
{
	IMPORT_BEGIN(ctx);
	const EVP_MD *md = hash_md(alg);
	if (!md)
		IMPORT_RETURN(-EINVAL);
	const uint8_t *k = mem_at(m, key, key_len);
	const uint8_t *p = mem_at(m, data, len);
	uint8_t *o = mem_at(m, out, (uint32_t)EVP_MD_get_size(md));
	uint8_t d[NS_HASH_MAX];
	int n = host_hmac(alg, k, key_len, p, len, d);
	if (n > 0)
		memcpy(o, d, (size_t)n);
	IMPORT_RETURN(n);
}

u32 Z_netservZ_ns_ct_equal(struct Z_netserv_instance_t *ctx, u32 a, u32 b, u32 len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *pa = mem_at(m, a, len);
	const uint8_t *pb = mem_at(m, b, len);
	IMPORT_RETURN(CRYPTO_memcmp(pa, pb, len) == 0 ? 1 : 0);
}
