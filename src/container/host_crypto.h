/* crypto/1 in the container (the imports are in host_crypto.c): the
 * functions behind them, callable natively (tests). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "abi/host_api.h"

/* Makes libcrypto load what it needs (configuration, algorithms) now: call
 * before the sandbox closes the node's files. Returns 0 or -EIO. */
int host_crypto_init(void);

/* Digest of data with alg (enum ns_hash_alg) into out. Returns its length or
 * -EINVAL (unknown algorithm) or -EIO. */
int host_hash(uint32_t alg, const void *data, size_t len, uint8_t out[NS_HASH_MAX]);

/* HMAC of data with key and alg's digest into out. Returns its length or
 * -EINVAL or -EIO. */
int host_hmac(uint32_t alg, const void *key, size_t key_len, const void *data, size_t len,
              uint8_t out[NS_HASH_MAX]);
